/*
 * test_deploy.c - the transports of real deployments, through the public
 * API against real mosquitto listeners (tests/support): TLS-PSK (TLS 1.3
 * and 1.2, wrong key, unknown identity), certificate revocation (CRL file
 * and hashed directory, made by crl.sh), the negotiated TLS details on
 * MQ_EVENT_CONNECT, session resumption across automatic reconnects, an
 * application's SSL_CTX used as given, keys and certificates by
 * OSSL_STORE URI, providers and engines (a PKCS#11 key in a SoftHSM token
 * through Debian's pkcs11 engine, skipped when not installed), and
 * proxies: tinyproxy (HTTP CONNECT, Basic auth) and dante (SOCKS5) from
 * Debian started on loopback, the in-test fakeproxy for SOCKS5
 * user/password and the faults (refusals, bad credentials, a proxy that
 * closes or never answers), proxies from the environment and no_proxy.
 * Every failure must be one MQ_EVENT_DISCONNECTED with a clear error and
 * a message naming the cause, and never a silent direct connection.
 *
 * Threading: single-threaded Criterion tests, one process (and broker)
 * each; fakeproxy runs its own threads.
 */
#include "tp_common.h"
#include "fakeproxy.h"
#include "tls_broker.h"

#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#ifndef MQT_CRL_SH
#define MQT_CRL_SH "tests/transport/crl.sh"
#endif

static fakeproxy *fproxy;
static mqt_proc *realproxy;
static char scratch[256];

static void
dp_fini(void)
{
    if (realproxy != NULL) {
        kill(mqt_proc_pid(realproxy), SIGTERM);
        mqt_proc_finish(realproxy, 3000, NULL, NULL);
        realproxy = NULL;
    }
    fp_stop(fproxy);
    fproxy = NULL;
    tp_fini();
    if (scratch[0] != '\0')
        mqt_tls_rmdir(scratch);
    scratch[0] = '\0';
}

TestSuite(dp, .init = tp_init, .fini = dp_fini, .timeout = 90);

/* A private temp dir for this test (removed by dp_fini). */
static const char *
scratch_dir(void)
{
    if (scratch[0] == '\0') {
        const char *base = getenv("TMPDIR");

        snprintf(scratch, sizeof scratch, "%s/libmq-dp.XXXXXX",
                 base != NULL && base[0] != '\0' ? base : "/tmp");
        CHECK(mkdtemp(scratch) != NULL, "mkdtemp");
        chmod(scratch, 0755);
    }
    return scratch;
}

static mq_event *
connected(mq_client *c)
{
    mq_event *ev;

    CHECK_RC(mq_connect(c), MQ_OK);
    ev = integ_wait(c, MQ_EVENT_CONNECT, INTEG_WAIT_MS);
    CHECK(mq_event_reason(ev) == 0, "CONNACK reason 0x%02x",
          mq_event_reason(ev));
    return ev;
}

static const char *
tls_item(const mq_event *ev, int item)
{
    const char *s = mq_event_tls(ev, item);

    CHECK(s != NULL, "mq_event_tls(%d) is NULL on a TLS CONNECT", item);
    return s;
}

/* ---- TLS-PSK ------------------------------------------------------------ */

static mq_client *
psk_client(const char *tag, int port, const char *id, const char *key)
{
    mq_client *c = client(tag, MQ_PROTO_V5, "mqtts://127.0.0.1:%d", port);

    sopt(c, MQ_SOPT_TLS_PSK, key);
    sopt(c, MQ_SOPT_TLS_PSK_IDENTITY, id);
    return c;
}

Test(dp, psk_tls13_roundtrip)
{
    env_t e = start_env(L_PSK, NULL);
    mq_client *c = psk_client("psk13", e.psk, TP_PSK_IDENTITY, TP_PSK_KEY);
    mq_event *ev = connected(c);

    CHECK(strcmp(tls_item(ev, MQ_TLS_VERSION), "TLSv1.3") == 0, "version %s",
          tls_item(ev, MQ_TLS_VERSION));
    mq_event_free(ev);
    roundtrip(c, "psk13");
}

Test(dp, psk_tls12_roundtrip)
{
    env_t e = start_env(L_PSK12, NULL);
    mq_client *c = psk_client("psk12", e.psk12, TP_PSK_IDENTITY, TP_PSK_KEY);
    mq_event *ev;

    /* mosquitto 2.0.11's tls_version is a minimum: cap it on our side */
    sopt(c, MQ_SOPT_TLS_MAX_VERSION, "tlsv1.2");
    ev = connected(c);

    CHECK(strcmp(tls_item(ev, MQ_TLS_VERSION), "TLSv1.2") == 0, "version %s",
          tls_item(ev, MQ_TLS_VERSION));
    CHECK(strstr(tls_item(ev, MQ_TLS_CIPHER), "PSK") != NULL, "cipher %s",
          tls_item(ev, MQ_TLS_CIPHER));
    mq_event_free(ev);
    roundtrip(c, "psk12");
}

Test(dp, psk_wrong_key)
{
    env_t e = start_env(L_PSK | L_PSK12, NULL);
    mq_client *c13 = psk_client("pskbad13", e.psk, TP_PSK_IDENTITY, "0badc0de");
    mq_client *c12 = psk_client("pskbad12", e.psk12, TP_PSK_IDENTITY,
                                "0badc0de");

    sopt(c12, MQ_SOPT_TLS_MAX_VERSION, "tlsv1.2");

    expect_fail(c13, MQ_ERR_TLS, "PSK");
    expect_fail(c12, MQ_ERR_TLS, "PSK");
}

Test(dp, psk_unknown_identity)
{
    env_t e = start_env(L_PSK12, NULL);
    mq_client *c = psk_client("pskid", e.psk12, "nobody", TP_PSK_KEY);

    sopt(c, MQ_SOPT_TLS_MAX_VERSION, "tlsv1.2");

    expect_fail(c, MQ_ERR_TLS, "psk identity|PSK");
}

Test(dp, psk_bad_input)
{
    env_t e = start_env(L_PSK, NULL);
    mq_client *c = client("pskin", MQ_PROTO_V5, "mqtts://127.0.0.1:%d", e.psk);

    CHECK_RC(mq_set_str(c, MQ_SOPT_TLS_PSK, "xyz"), MQ_ERR_INVAL);
    CHECK_RC(mq_set_str(c, MQ_SOPT_TLS_PSK, "0x"), MQ_ERR_INVAL);
    CHECK_RC(mq_set_str(c, MQ_SOPT_TLS_PSK, "abcd"), MQ_OK);
    /* a key without an identity is refused at connect, with the reason */
    expect_fail(c, MQ_ERR_TLS, "identity");
}

/* ---- revocation ---------------------------------------------------------- */

static void
need_crls(void)
{
    char *argv[] = { "sh", (char *)MQT_CRL_SH, certdir, NULL };

    need_certs();
    CHECK(mqt_run(argv, 30000, NULL, NULL) == 0, "crl.sh failed");
}

Test(dp, crl_revoked_server_refused)
{
    env_t e = start_env(L_TLS, NULL);
    mq_client *c = client("crlrev", MQ_PROTO_V5, "mqtts://localhost:%d",
                          e.tls);

    need_crls();
    sopt(c, MQ_SOPT_TLS_CA_FILE, certfile("ca.crt"));
    sopt(c, MQ_SOPT_TLS_CRL_FILE, certfile("crl-revoked.pem"));
    expect_fail(c, MQ_ERR_TLS, "revoked");
}

Test(dp, crl_dir_revoked_and_leaf_only)
{
    env_t e = start_env(L_TLS, NULL);
    mq_client *c = client("crldir", MQ_PROTO_V311, "mqtts://localhost:%d",
                          e.tls);
    int64_t v = 0;

    need_crls();
    CHECK_RC(mq_get_int(c, MQ_OPT_TLS_CRL_CHECK, &v), MQ_OK);
    CHECK(v == 2, "default CRL check %lld", (long long)v);
    CHECK_RC(mq_set_int(c, MQ_OPT_TLS_CRL_CHECK, 3), MQ_ERR_INVAL);
    CHECK_RC(mq_set_int(c, MQ_OPT_TLS_CRL_CHECK, 1), MQ_OK);
    sopt(c, MQ_SOPT_TLS_CA_FILE, certfile("ca.crt"));
    sopt(c, MQ_SOPT_TLS_CRL_PATH, certfile("crl-dir"));
    expect_fail(c, MQ_ERR_TLS, "revoked");
}

Test(dp, crl_not_revoked_connects)
{
    env_t e = start_env(L_TLS, NULL);
    mq_client *c = client("crlok", MQ_PROTO_V5, "mqtts://localhost:%d", e.tls);

    need_crls();
    sopt(c, MQ_SOPT_TLS_CA_FILE, certfile("ca.crt"));
    sopt(c, MQ_SOPT_TLS_CRL_FILE, certfile("crl-empty.pem"));
    roundtrip(c, "crlok");
}

Test(dp, crl_missing_or_not_a_crl)
{
    env_t e = start_env(L_TLS, NULL);
    mq_client *c1 = client("crlmiss", MQ_PROTO_V5, "mqtts://localhost:%d",
                           e.tls);
    mq_client *c2 = client("crlbad", MQ_PROTO_V5, "mqtts://localhost:%d",
                           e.tls);

    sopt(c1, MQ_SOPT_TLS_CA_FILE, certfile("ca.crt"));
    sopt(c1, MQ_SOPT_TLS_CRL_FILE, "/nonexistent/crl.pem");
    expect_fail(c1, MQ_ERR_TLS, "/nonexistent/crl.pem");
    sopt(c2, MQ_SOPT_TLS_CA_FILE, certfile("ca.crt"));
    sopt(c2, MQ_SOPT_TLS_CRL_FILE, certfile("ca.crt"));
    expect_fail(c2, MQ_ERR_TLS, "no CRL");
}

/* ---- negotiated details and resumption ------------------------------------ */

Test(dp, tls_details_on_connect)
{
    env_t e = start_env(L_TLS, NULL);
    mq_client *c = client("info", MQ_PROTO_V5, "mqtts://localhost:%d", e.tls);
    mq_client *p = client("infoplain", MQ_PROTO_V5, "mqtt://127.0.0.1:%d",
                          e.plain);
    mq_event *ev;

    sopt(c, MQ_SOPT_TLS_CA_FILE, certfile("ca.crt"));
    sopt(c, MQ_SOPT_TLS_MIN_VERSION, "tlsv1.3");
    ev = connected(c);
    CHECK(strcmp(tls_item(ev, MQ_TLS_VERSION), "TLSv1.3") == 0, "version");
    CHECK(strncmp(tls_item(ev, MQ_TLS_CIPHER), "TLS_", 4) == 0, "cipher %s",
          tls_item(ev, MQ_TLS_CIPHER));
    CHECK(strcmp(tls_item(ev, MQ_TLS_ALPN), "") == 0, "ALPN \"%s\" "
          "(mosquitto 2.0 selects none)", tls_item(ev, MQ_TLS_ALPN));
    CHECK(strcmp(tls_item(ev, MQ_TLS_RESUMED), "0") == 0, "resumed");
    CHECK(mq_event_tls(ev, 0) == NULL && mq_event_tls(ev, 99) == NULL,
          "unknown items");
    mq_event_free(ev);
    ev = connected(p);
    CHECK(mq_event_tls(ev, MQ_TLS_VERSION) == NULL, "plain has no TLS");
    mq_event_free(ev);
    CHECK(mq_event_tls(NULL, MQ_TLS_VERSION) == NULL, "NULL event");
}

/* Connect @p c (reconnect on), make the broker drop it by taking over its
 * session with another client, and return the "resumed" item of the
 * automatic reconnect's CONNECT. */
static int
resumed_after_takeover(mq_client *c, int port, const char *tag)
{
    mq_client *thief;
    mq_event *ev;
    int r;

    ev = connected(c);
    CHECK(strcmp(tls_item(ev, MQ_TLS_RESUMED), "0") == 0, "first resumed");
    mq_event_free(ev);
    /* TLS 1.3 tickets come after the handshake: a round trip reads them */
    integ_subscribe(c, integ_topic(tag), 0);
    thief = integ_client_id(NULL, mq_client_id(c), MQ_PROTO_V5);
    {
        char uri[64];

        snprintf(uri, sizeof uri, "mqtt://127.0.0.1:%d", port);
        CHECK_RC(mq_set_server(thief, uri), MQ_OK);
    }
    CHECK_RC(mq_set_int(thief, MQ_OPT_RECONNECT, 0), MQ_OK);
    integ_connect(thief);
    ev = integ_wait(c, MQ_EVENT_DISCONNECTED, INTEG_WAIT_MS);
    CHECK(mq_event_will_reconnect(ev), "will reconnect");
    mq_event_free(ev);
    integ_disconnect(thief);
    ev = integ_wait(c, MQ_EVENT_CONNECT, INTEG_WAIT_MS);
    r = strcmp(tls_item(ev, MQ_TLS_RESUMED), "1") == 0;
    mq_event_free(ev);
    return r;
}

static mq_client *
resume_client(const char *tag, const char *fmt, int port)
{
    mq_client *c = client(tag, MQ_PROTO_V5, fmt, port);

    sopt(c, MQ_SOPT_TLS_CA_FILE, certfile("ca.crt"));
    CHECK_RC(mq_set_int(c, MQ_OPT_RECONNECT, 1), MQ_OK);
    CHECK_RC(mq_set_int(c, MQ_OPT_RECONNECT_MIN_MS, 50), MQ_OK);
    CHECK_RC(mq_set_int(c, MQ_OPT_RECONNECT_MAX_MS, 200), MQ_OK);
    return c;
}

Test(dp, resumption_tls13_and_tls12)
{
    env_t e = start_env(L_TLS | L_TLS12, NULL);
    mq_client *c13 = resume_client("res13", "mqtts://localhost:%d", e.tls);
    mq_client *c12 = resume_client("res12", "mqtts://localhost:%d", e.tls12);

    sopt(c12, MQ_SOPT_TLS_MAX_VERSION, "tlsv1.2");

    CHECK(resumed_after_takeover(c13, e.plain, "res13"),
          "TLS 1.3 reconnect not resumed");
    CHECK(resumed_after_takeover(c12, e.plain, "res12"),
          "TLS 1.2 reconnect not resumed");
}

Test(dp, resumption_off)
{
    env_t e = start_env(L_TLS, NULL);
    mq_client *c = resume_client("resoff", "mqtts://localhost:%d", e.tls);
    int64_t v = 0;

    CHECK_RC(mq_get_int(c, MQ_OPT_TLS_SESSION_RESUME, &v), MQ_OK);
    CHECK(v == 1, "resumption is on by default");
    CHECK_RC(mq_set_int(c, MQ_OPT_TLS_SESSION_RESUME, 0), MQ_OK);
    CHECK(!resumed_after_takeover(c, e.plain, "resoff"),
          "resumed with MQ_OPT_TLS_SESSION_RESUME 0");
}

/* A device that connects, publishes and disconnects again resumes too,
 * as long as its TLS options stay the same. */
Test(dp, resumption_across_mq_connect)
{
    env_t e = start_env(L_TLS, NULL);
    mq_client *c = client("rescyc", MQ_PROTO_V5, "mqtts://localhost:%d",
                          e.tls);
    mq_event *ev;
    int i;

    sopt(c, MQ_SOPT_TLS_CA_FILE, certfile("ca.crt"));
    for (i = 0; i < 3; i++) {
        ev = connected(c);
        CHECK(strcmp(tls_item(ev, MQ_TLS_RESUMED), i == 0 ? "0" : "1") == 0,
              "connect %d: resumed %s", i, tls_item(ev, MQ_TLS_RESUMED));
        mq_event_free(ev);
        integ_subscribe(c, integ_topic("rescyc"), 0); /* reads the tickets */
        integ_disconnect(c);
    }
    /* another option: a new context, a full handshake */
    sopt(c, MQ_SOPT_TLS_CIPHERS, "TLS_AES_128_GCM_SHA256");
    ev = connected(c);
    CHECK(strcmp(tls_item(ev, MQ_TLS_RESUMED), "0") == 0,
          "resumed after the options changed");
    CHECK(strcmp(tls_item(ev, MQ_TLS_CIPHER), "TLS_AES_128_GCM_SHA256") == 0,
          "cipher %s", tls_item(ev, MQ_TLS_CIPHER));
    mq_event_free(ev);
    integ_disconnect(c);
}

/* ---- an application's SSL_CTX --------------------------------------------- */

Test(dp, app_ctx_used_as_given)
{
    env_t e = start_env(L_TLS, NULL);
    mq_client *c = client("appctx", MQ_PROTO_V5, "mqtts://localhost:%d", e.tls);
    mq_client *bad = client("appctxbad", MQ_PROTO_V5, "mqtts://localhost:%d",
                            e.tls);
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX *empty = SSL_CTX_new(TLS_client_method());

    CHECK(ctx != NULL && empty != NULL, "SSL_CTX_new");
    CHECK(SSL_CTX_load_verify_file(ctx, certfile("ca.crt")) == 1, "CA");
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    CHECK_RC(mq_set_tls_ctx(c, ctx), MQ_OK);
    SSL_CTX_free(ctx); /* libmq holds its own reference */
    roundtrip(c, "appctx");

    /* the context decides: one that trusts nothing fails even though the
     * CA option (ignored with a context) names the right CA */
    SSL_CTX_set_verify(empty, SSL_VERIFY_PEER, NULL);
    CHECK_RC(mq_set_tls_ctx(bad, empty), MQ_OK);
    sopt(bad, MQ_SOPT_TLS_CA_FILE, certfile("ca.crt"));
    expect_fail(bad, MQ_ERR_TLS, "certificate verify failed");
    CHECK_RC(mq_set_tls_ctx(bad, NULL), MQ_OK); /* back to the options */
    SSL_CTX_free(empty);
    roundtrip(bad, "appctx2");
    CHECK_RC(mq_set_tls_ctx(NULL, NULL), MQ_ERR_INVAL);
}

Test(dp, app_ctx_verify_none_is_not_changed)
{
    env_t e = start_env(L_TLS, "wronghost");
    mq_client *c = client("appnone", MQ_PROTO_V5, "mqtts://localhost:%d",
                          e.tls);
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    CHECK_RC(mq_set_tls_ctx(c, ctx), MQ_OK);
    CHECK_RC(mq_connect(c), MQ_OK);
    CHECK_RC(mq_set_tls_ctx(c, NULL), MQ_ERR_STATE);
    mq_event_free(integ_wait(c, MQ_EVENT_CONNECT, INTEG_WAIT_MS));
    CHECK(SSL_CTX_get_verify_mode(ctx) == SSL_VERIFY_NONE, "mode changed");
    integ_disconnect(c);
    SSL_CTX_free(ctx);
}

/* ---- keys by URI, providers, engines -------------------------------------- */

static mq_client *
mtls_client(const char *tag, int port)
{
    mq_client *c = client(tag, MQ_PROTO_V5, "mqtts://localhost:%d", port);

    sopt(c, MQ_SOPT_TLS_CA_FILE, certfile("ca.crt"));
    return c;
}

static const char *
file_uri(const char *name)
{
    static char ring[4][400];
    static int i;

    i = (i + 1) % 4;
    snprintf(ring[i], sizeof ring[i], "file:%s", certfile(name));
    return ring[i];
}

Test(dp, key_and_cert_by_file_uri)
{
    env_t e = start_env(L_MTLS, NULL);
    mq_client *c = mtls_client("keyuri", e.mtls);
    mq_client *c2 = mtls_client("certuri", e.mtls);

    sopt(c, MQ_SOPT_TLS_CERT_FILE, certfile("client.crt"));
    sopt(c, MQ_SOPT_TLS_KEY_URI, file_uri("client.key"));
    roundtrip(c, "keyuri");
    sopt(c2, MQ_SOPT_TLS_CERT_URI, file_uri("client.crt"));
    sopt(c2, MQ_SOPT_TLS_KEY_URI, certfile("client.key")); /* a plain path */
    sopt(c2, MQ_SOPT_TLS_PROVIDERS, "default");
    roundtrip(c2, "certuri");
}

Test(dp, key_uri_encrypted_and_errors)
{
    env_t e = start_env(L_MTLS, NULL);
    mq_client *ok = mtls_client("keyenc", e.mtls);
    mq_client *nopw = mtls_client("keynopw", e.mtls);
    mq_client *missing = mtls_client("keymiss", e.mtls);
    mq_client *both = mtls_client("keyboth", e.mtls);

    sopt(ok, MQ_SOPT_TLS_CERT_FILE, certfile("client.crt"));
    sopt(ok, MQ_SOPT_TLS_KEY_URI, file_uri("client-enc.key"));
    sopt(ok, MQ_SOPT_TLS_KEY_PASSWORD, "secret");
    roundtrip(ok, "keyenc");
    sopt(nopw, MQ_SOPT_TLS_CERT_FILE, certfile("client.crt"));
    sopt(nopw, MQ_SOPT_TLS_KEY_URI, file_uri("client-enc.key"));
    expect_fail(nopw, MQ_ERR_TLS, "encrypted|password");
    sopt(missing, MQ_SOPT_TLS_CERT_FILE, certfile("client.crt"));
    sopt(missing, MQ_SOPT_TLS_KEY_URI, "file:/nonexistent/key.pem");
    expect_fail(missing, MQ_ERR_TLS, "/nonexistent/key.pem");
    sopt(both, MQ_SOPT_TLS_CERT_FILE, certfile("client.crt"));
    sopt(both, MQ_SOPT_TLS_KEY_FILE, certfile("client.key"));
    sopt(both, MQ_SOPT_TLS_KEY_URI, file_uri("client.key"));
    expect_fail(both, MQ_ERR_TLS, "once each");
}

Test(dp, provider_and_engine_errors)
{
    env_t e = start_env(L_TLS, NULL);
    mq_client *p = mtls_client("noprov", e.tls);
    mq_client *en = mtls_client("noeng", e.tls);

    sopt(p, MQ_SOPT_TLS_PROVIDERS, "libmq-no-such-provider");
    expect_fail(p, MQ_ERR_TLS, "libmq-no-such-provider");
    sopt(en, MQ_SOPT_TLS_ENGINE, "libmq-no-such-engine");
    sopt(en, MQ_SOPT_TLS_CERT_FILE, certfile("client.crt"));
    sopt(en, MQ_SOPT_TLS_KEY_URI, "pkcs11:object=none");
    expect_fail2(en, MQ_ERR_TLS, MQ_ERR_NOT_SUPPORTED, "libmq-no-such-engine");
}

/* A SoftHSM token holding the client key, or a skip when the packages
 * (softhsm2, libengine-pkcs11-openssl) are missing. */
static int
softhsm_token(void)
{
    static const char *const module = "/usr/lib/softhsm/libsofthsm2.so";
    char conf[512], tokens[400], p8[400];
    char *init[] = { "softhsm2-util", "--init-token", "--free", "--label",
                     "libmq", "--pin", "1234", "--so-pin", "5678", NULL };
    char *topk8[] = { "openssl", "pkcs8", "-topk8", "-nocrypt", "-in",
                      (char *)certfile("client.key"), "-out", p8, NULL };
    char *import[] = { "softhsm2-util", "--import", p8, "--token", "libmq",
                       "--label", "clientkey", "--id", "01", "--pin", "1234",
                       NULL };
    FILE *f;

    if (access(module, R_OK) != 0 || access("/usr/bin/softhsm2-util", X_OK) != 0
        || access("/usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so", R_OK) != 0)
        return 0;
    snprintf(tokens, sizeof tokens, "%s/tokens", scratch_dir());
    CHECK(mkdir(tokens, 0700) == 0, "mkdir %s", tokens);
    snprintf(conf, sizeof conf, "%s/softhsm2.conf", scratch_dir());
    f = fopen(conf, "w");
    CHECK(f != NULL, "write %s", conf);
    fprintf(f, "directories.tokendir = %s\nobjectstore.backend = file\n"
            "log.level = ERROR\n", tokens);
    fclose(f);
    setenv("SOFTHSM2_CONF", conf, 1);
    /* the engine's module: SoftHSM itself rather than p11-kit's proxy */
    setenv("PKCS11_MODULE_PATH", module, 1);
    snprintf(p8, sizeof p8, "%s/client.p8", scratch_dir());
    CHECK(mqt_run(init, 20000, NULL, NULL) == 0, "softhsm2-util --init-token");
    CHECK(mqt_run(topk8, 20000, NULL, NULL) == 0, "openssl pkcs8");
    CHECK(mqt_run(import, 20000, NULL, NULL) == 0, "softhsm2-util --import");
    unlink(p8); /* from here on the key exists only in the token */
    return 1;
}

Test(dp, pkcs11_key_in_softhsm_via_engine)
{
    env_t e = start_env(L_MTLS, NULL);
    mq_client *c = mtls_client("hsm", e.mtls);
    mq_client *bad = mtls_client("hsmpin", e.mtls);

    if (!softhsm_token()) {
        cr_skip_test("softhsm2 or libengine-pkcs11-openssl not installed: "
                     "no PKCS#11 token to test with");
        return;
    }
    /* a wrong PIN first: once logged in, the token stays open for the
     * process */
    sopt(bad, MQ_SOPT_TLS_ENGINE, "pkcs11");
    sopt(bad, MQ_SOPT_TLS_CERT_FILE, certfile("client.crt"));
    sopt(bad, MQ_SOPT_TLS_KEY_URI,
         "pkcs11:token=libmq;object=clientkey;type=private");
    sopt(bad, MQ_SOPT_TLS_KEY_PASSWORD, "0000");
    expect_fail(bad, MQ_ERR_TLS, "engine");
    sopt(c, MQ_SOPT_TLS_ENGINE, "pkcs11");
    sopt(c, MQ_SOPT_TLS_CERT_FILE, certfile("client.crt"));
    sopt(c, MQ_SOPT_TLS_KEY_URI,
         "pkcs11:token=libmq;object=clientkey;type=private");
    sopt(c, MQ_SOPT_TLS_KEY_PASSWORD, "1234"); /* the PIN */
    roundtrip(c, "hsm");
}

/* ---- real proxies ---------------------------------------------------------- */

static int
wait_port(int port)
{
    long long t0 = mqt_now_ms();

    while (mqt_now_ms() - t0 < 10000) {
        struct sockaddr_in a;
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), ok;

        memset(&a, 0, sizeof a);
        a.sin_family = AF_INET;
        a.sin_port = htons((uint16_t)port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
        close(fd);
        if (ok)
            return 1;
        mqt_sleep_ms(50);
    }
    return 0;
}

static const char *
find_prog(const char *a, const char *b)
{
    return access(a, X_OK) == 0 ? a : access(b, X_OK) == 0 ? b : NULL;
}

/* Start tinyproxy (HTTP CONNECT) on a free port; Basic auth if user set. */
static int
start_tinyproxy(const char *user, const char *pass)
{
    const char *prog = find_prog("/usr/bin/tinyproxy", "/usr/sbin/tinyproxy");
    char conf[400];
    int port = free_port();
    FILE *f;

    if (prog == NULL)
        return 0;
    snprintf(conf, sizeof conf, "%s/tinyproxy.conf", scratch_dir());
    f = fopen(conf, "w");
    CHECK(f != NULL, "write %s", conf);
    /* no ConnectPort line: CONNECT to any port (the broker's) */
    fprintf(f, "Port %d\nListen 127.0.0.1\nTimeout 60\nAllow 127.0.0.1\n"
            "MaxClients 20\nLogLevel Connect\n", port);
    if (user != NULL)
        fprintf(f, "BasicAuth %s %s\n", user, pass);
    fclose(f);
    {
        char *argv[] = { (char *)prog, "-d", "-c", conf, NULL };

        realproxy = mqt_spawn(argv);
    }
    CHECK(realproxy != NULL && wait_port(port), "tinyproxy did not start");
    return port;
}

/* Start dante (SOCKS5, no authentication) on a free port. */
static int
start_dante(void)
{
    const char *prog = find_prog("/usr/sbin/danted", "/usr/bin/danted");
    char conf[400];
    int port = free_port();
    FILE *f;

    if (prog == NULL)
        return 0;
    snprintf(conf, sizeof conf, "%s/danted.conf", scratch_dir());
    f = fopen(conf, "w");
    CHECK(f != NULL, "write %s", conf);
    /* user/password in dante needs system accounts: the fakeproxy tests
     * cover SOCKS5 authentication instead */
    fprintf(f, "logoutput: stderr\ninternal: 127.0.0.1 port = %d\n"
            "external: 127.0.0.1\nsocksmethod: none\nclientmethod: none\n"
            "user.privileged: root\nuser.unprivileged: nobody\n"
            "client pass { from: 127.0.0.0/8 to: 0.0.0.0/0 }\n"
            "socks pass { from: 127.0.0.0/8 to: 0.0.0.0/0 }\n", port);
    fclose(f);
    {
        char *argv[] = { (char *)prog, "-f", conf, "-N", "1", NULL };

        realproxy = mqt_spawn(argv);
    }
    CHECK(realproxy != NULL && wait_port(port), "danted did not start");
    return port;
}

/* Round trips over mqtt://, mqtts:// and ws:// (and wss://) through the
 * proxy @p proxy_uri; the broker's plain listener sees only the proxy. */
static void
through_proxy(env_t *e, const char *proxy_uri, const char *tag)
{
    char t[64];
    mq_client *c;

    snprintf(t, sizeof t, "%s-mqtt", tag);
    c = client(t, MQ_PROTO_V5, "mqtt://localhost:%d", e->plain);
    sopt(c, MQ_SOPT_PROXY, proxy_uri);
    roundtrip(c, t);
    snprintf(t, sizeof t, "%s-mqtts", tag);
    c = client(t, MQ_PROTO_V311, "mqtts://localhost:%d", e->tls);
    sopt(c, MQ_SOPT_TLS_CA_FILE, certfile("ca.crt"));
    sopt(c, MQ_SOPT_PROXY, proxy_uri);
    roundtrip(c, t);
    snprintf(t, sizeof t, "%s-ws", tag);
    c = client(t, MQ_PROTO_V5, "ws://localhost:%d/mqtt", e->ws);
    sopt(c, MQ_SOPT_PROXY, proxy_uri);
    roundtrip_ws(c, t);
    snprintf(t, sizeof t, "%s-wss", tag);
    c = client(t, MQ_PROTO_V5, "wss://localhost:%d/mqtt", e->wss);
    sopt(c, MQ_SOPT_TLS_CA_FILE, certfile("ca.crt"));
    sopt(c, MQ_SOPT_PROXY, proxy_uri);
    roundtrip_ws(c, t);
}

Test(dp, tinyproxy_http_connect_all_schemes, .timeout = 120)
{
    env_t e = start_env(L_TLS | L_WS | L_WSS, NULL);
    int port = start_tinyproxy(NULL, NULL);
    char uri[64];
    char *log = NULL;

    if (port == 0) {
        cr_skip_test("tinyproxy not installed");
        return;
    }
    snprintf(uri, sizeof uri, "http://127.0.0.1:%d", port);
    through_proxy(&e, uri, "tiny");
    /* all four went through tinyproxy, which logs each request */
    kill(mqt_proc_pid(realproxy), SIGTERM);
    mqt_proc_finish(realproxy, 3000, &log, NULL); /* -d: logs to stdout */
    realproxy = NULL;
    {
        int n = 0;
        const char *p = log;

        while (p != NULL && (p = strstr(p, "CONNECT localhost:")) != NULL) {
            n++;
            p++;
        }
        CHECK(n == 4, "tinyproxy logged %d CONNECT requests:\n%s", n,
              log ? log : "(no log)");
    }
    free(log);
}

Test(dp, tinyproxy_basic_auth)
{
    env_t e = start_env(0, NULL);
    int port = start_tinyproxy("alice", "s3cret");
    mq_client *ok, *bad, *none;

    if (port == 0) {
        cr_skip_test("tinyproxy not installed");
        return;
    }
    ok = client("tpauth", MQ_PROTO_V5, "mqtt://localhost:%d", e.plain);
    bad = client("tpauthbad", MQ_PROTO_V5, "mqtt://localhost:%d", e.plain);
    none = client("tpauthnone", MQ_PROTO_V5, "mqtt://localhost:%d", e.plain);
    {
        char uri[128];

        snprintf(uri, sizeof uri, "http://alice:s3cret@127.0.0.1:%d", port);
        sopt(ok, MQ_SOPT_PROXY, uri);
        snprintf(uri, sizeof uri, "http://alice:wrong@127.0.0.1:%d", port);
        sopt(bad, MQ_SOPT_PROXY, uri);
        snprintf(uri, sizeof uri, "http://127.0.0.1:%d", port);
        sopt(none, MQ_SOPT_PROXY, uri);
    }
    roundtrip(ok, "tpauth");
    expect_fail(bad, MQ_ERR_PROXY_AUTH, "user name or password");
    expect_fail(none, MQ_ERR_PROXY_AUTH, "requires authentication");
}

Test(dp, dante_socks5_all_schemes, .timeout = 120)
{
    env_t e = start_env(L_TLS | L_WS | L_WSS, NULL);
    int port = start_dante();
    char uri[64];

    if (port == 0) {
        cr_skip_test("dante-server (danted) not installed");
        return;
    }
    snprintf(uri, sizeof uri, "socks5h://127.0.0.1:%d", port);
    through_proxy(&e, uri, "dante");
}

/* ---- the in-test proxy: authentication and faults -------------------------- */

static int
fake(int kind, const char *user, const char *pass)
{
    fp_opts o;

    memset(&o, 0, sizeof o);
    o.kind = kind;
    o.user = user;
    o.pass = pass;
    fproxy = fp_start(&o);
    CHECK(fproxy != NULL, "fakeproxy");
    return fp_port(fproxy);
}

static int
fake_opts(const fp_opts *o)
{
    fproxy = fp_start(o);
    CHECK(fproxy != NULL, "fakeproxy");
    return fp_port(fproxy);
}

static mq_client *
via(const char *tag, env_t *e, const char *fmt, int port)
{
    mq_client *c = client(tag, MQ_PROTO_V5, "mqtt://localhost:%d", e->plain);
    char uri[200];

    snprintf(uri, sizeof uri, fmt, port);
    sopt(c, MQ_SOPT_PROXY, uri);
    return c;
}

Test(dp, socks5_user_password_and_remote_dns)
{
    env_t e = start_env(0, NULL);
    int port = fake(FP_SOCKS5, "bob", "p@ss:w0rd");
    mq_client *ok = via("s5ok", &e, "socks5://bob:p%%40ss%%3Aw0rd@127.0.0.1:%d",
                        port);
    char target[300], want[64];

    roundtrip(ok, "s5ok");
    fp_last_target(fproxy, target, sizeof target);
    snprintf(want, sizeof want, "localhost:%d", e.plain);
    CHECK(strcmp(target, want) == 0, "the proxy resolved \"%s\" (want %s)",
          target, want);
}

Test(dp, socks5_auth_failures)
{
    env_t e = start_env(0, NULL);
    int port = fake(FP_SOCKS5, "bob", "secret");
    mq_client *wrong = via("s5wrong", &e, "socks5h://bob:nope@127.0.0.1:%d",
                           port);
    mq_client *none = via("s5none", &e, "socks5h://127.0.0.1:%d", port);

    expect_fail(wrong, MQ_ERR_PROXY_AUTH, "user name or password");
    expect_fail(none, MQ_ERR_PROXY_AUTH, "requires authentication");
    CHECK(mqt_broker_log_count(e.b, "New client connected") == 0,
          "a connection reached the broker after a proxy failure");
}

Test(dp, socks5_refusal)
{
    env_t e = start_env(0, NULL);
    fp_opts o;
    mq_client *c;

    memset(&o, 0, sizeof o);
    o.kind = FP_SOCKS5;
    o.socks_rep = 2;
    c = via("s5rep", &e, "socks5://127.0.0.1:%d", fake_opts(&o));
    expect_fail(c, MQ_ERR_PROXY, "not allowed by ruleset");
}

Test(dp, http_refusal_and_auth)
{
    env_t e = start_env(0, NULL);
    fp_opts o;
    mq_client *c, *a;

    memset(&o, 0, sizeof o);
    o.kind = FP_HTTP;
    o.http_status = 403;
    c = via("h403", &e, "http://127.0.0.1:%d", fake_opts(&o));
    expect_fail(c, MQ_ERR_PROXY, "403");
    fp_stop(fproxy);
    a = via("h407", &e, "http://u:wrong@127.0.0.1:%d", fake(FP_HTTP, "u", "p"));
    expect_fail(a, MQ_ERR_PROXY_AUTH, "407");
    CHECK(mqt_broker_log_count(e.b, "New client connected") == 0,
          "a connection reached the broker after a proxy failure");
}

Test(dp, proxy_closes)
{
    env_t e = start_env(0, NULL);
    fp_opts o;
    mq_client *c;

    memset(&o, 0, sizeof o);
    o.kind = FP_HTTP;
    o.close_at_once = 1;
    c = via("pxclose", &e, "http://127.0.0.1:%d", fake_opts(&o));
    expect_fail(c, MQ_ERR_PROXY, "closed the connection");
    fp_stop(fproxy);
    o.kind = FP_SOCKS5;
    o.close_at_once = 0;
    o.close_mid_answer = 1;
    c = via("pxmid", &e, "socks5://127.0.0.1:%d", fake_opts(&o));
    expect_fail(c, MQ_ERR_PROXY, "closed the connection");
    fp_stop(fproxy);
    o.kind = FP_HTTP;
    c = via("pxmidh", &e, "http://127.0.0.1:%d", fake_opts(&o));
    expect_fail(c, MQ_ERR_PROXY, "mid-answer");
}

Test(dp, proxy_refused_and_silent)
{
    env_t e = start_env(0, NULL);
    fp_opts o;
    mq_client *r = via("pxdead", &e, "http://127.0.0.1:%d", free_port());
    mq_client *s;
    long long t0;

    expect_fail(r, MQ_ERR_CONNREFUSED, "proxy");
    memset(&o, 0, sizeof o);
    o.kind = FP_SOCKS5;
    o.silent = 1;
    s = via("pxsilent", &e, "socks5://127.0.0.1:%d", fake_opts(&o));
    CHECK_RC(mq_set_int(s, MQ_OPT_CONNECT_TIMEOUT_MS, 1000), MQ_OK);
    t0 = mqt_now_ms();
    /* the connect timeout covers the proxy handshake */
    expect_fail(s, MQ_ERR_TIMEOUT, "timed out");
    CHECK(mqt_now_ms() - t0 < 5000, "took %lld ms", mqt_now_ms() - t0);
}

Test(dp, proxy_option_errors)
{
    mq_client *c = client("pxopt", MQ_PROTO_V5, "mqtt://127.0.0.1:1");

    CHECK_RC(mq_set_str(c, MQ_SOPT_PROXY, "ftp://x"), MQ_ERR_URI);
    CHECK_RC(mq_set_str(c, MQ_SOPT_PROXY, "127.0.0.1:3128"), MQ_ERR_URI);
    CHECK_RC(mq_set_str(c, MQ_SOPT_PROXY, "http://h:0"), MQ_ERR_URI);
    CHECK_RC(mq_set_str(c, MQ_SOPT_PROXY, "http://h:99999"), MQ_ERR_URI);
    CHECK_RC(mq_set_str(c, MQ_SOPT_PROXY, "http://u:%zz@h"), MQ_ERR_URI);
    CHECK_RC(mq_set_str(c, MQ_SOPT_PROXY, "https://h:3128"),
             MQ_ERR_NOT_SUPPORTED);
    CHECK_RC(mq_set_str(c, MQ_SOPT_PROXY, "socks4://h"), MQ_ERR_NOT_SUPPORTED);
    CHECK_RC(mq_set_str(c, MQ_SOPT_PROXY, "http://[::1]:3128/"), MQ_OK);
    CHECK_RC(mq_set_str(c, MQ_SOPT_PROXY, NULL), MQ_OK);
    CHECK_RC(mq_set_int(c, MQ_OPT_PROXY_FROM_ENV, 2), MQ_ERR_INVAL);
}

/* ---- the environment -------------------------------------------------------- */

Test(dp, proxy_from_environment_and_no_proxy)
{
    env_t e = start_env(L_TLS, NULL);
    int port = fake(FP_HTTP, NULL, NULL);
    char v[64];
    mq_client *c;

    snprintf(v, sizeof v, "http://127.0.0.1:%d", port);
    setenv("http_proxy", v, 1);
    setenv("HTTPS_PROXY", v, 1);
    unsetenv("no_proxy");
    unsetenv("NO_PROXY");
    unsetenv("all_proxy");
    unsetenv("ALL_PROXY");
    unsetenv("https_proxy");

    /* not asked: the environment is ignored */
    c = client("envoff", MQ_PROTO_V5, "mqtt://localhost:%d", e.plain);
    roundtrip(c, "envoff");
    CHECK(fp_tunnels(fproxy) == 0, "used the environment unasked");

    c = client("envon", MQ_PROTO_V5, "mqtt://localhost:%d", e.plain);
    CHECK_RC(mq_set_int(c, MQ_OPT_PROXY_FROM_ENV, 1), MQ_OK);
    roundtrip(c, "envon");
    CHECK(fp_tunnels(fproxy) == 1, "http_proxy not used (%d tunnels)",
          fp_tunnels(fproxy));

    c = client("envtls", MQ_PROTO_V5, "mqtts://localhost:%d", e.tls);
    sopt(c, MQ_SOPT_TLS_CA_FILE, certfile("ca.crt"));
    CHECK_RC(mq_set_int(c, MQ_OPT_PROXY_FROM_ENV, 1), MQ_OK);
    roundtrip(c, "envtls");
    CHECK(fp_tunnels(fproxy) == 2, "HTTPS_PROXY not used");

    setenv("no_proxy", "example.com, .localhost,localhost", 1);
    c = client("envno", MQ_PROTO_V5, "mqtt://localhost:%d", e.plain);
    CHECK_RC(mq_set_int(c, MQ_OPT_PROXY_FROM_ENV, 1), MQ_OK);
    roundtrip(c, "envno");
    CHECK(fp_tunnels(fproxy) == 2, "no_proxy not honoured");

    /* the option's list replaces the environment's */
    c = client("envnoopt", MQ_PROTO_V5, "mqtt://localhost:%d", e.plain);
    CHECK_RC(mq_set_int(c, MQ_OPT_PROXY_FROM_ENV, 1), MQ_OK);
    sopt(c, MQ_SOPT_NO_PROXY, "10.0.0.0/8");
    roundtrip(c, "envnoopt");
    CHECK(fp_tunnels(fproxy) == 3, "MQ_SOPT_NO_PROXY did not replace it");

    setenv("HTTPS_PROXY", "https://127.0.0.1:1", 1);
    c = client("envbad", MQ_PROTO_V5, "mqtts://example.org:%d", e.tls);
    CHECK_RC(mq_set_int(c, MQ_OPT_PROXY_FROM_ENV, 1), MQ_OK);
    expect_fail(c, MQ_ERR_PROXY, "HTTPS_PROXY");
}

Test(dp, explicit_proxy_with_no_proxy_option)
{
    env_t e = start_env(0, NULL);
    int port = fake(FP_SOCKS5, NULL, NULL);
    mq_client *c = via("noopt", &e, "socks5://127.0.0.1:%d", port);

    sopt(c, MQ_SOPT_NO_PROXY, "127.0.0.0/8,localhost:1");
    roundtrip(c, "noopt"); /* localhost:<port> is not localhost:1 */
    CHECK(fp_tunnels(fproxy) == 1, "went direct (%d tunnels)",
          fp_tunnels(fproxy));
    c = via("noopt2", &e, "socks5://127.0.0.1:%d", port);
    sopt(c, MQ_SOPT_NO_PROXY, "*");
    roundtrip(c, "noopt2");
    CHECK(fp_tunnels(fproxy) == 1, "\"*\" did not bypass the proxy");
}
