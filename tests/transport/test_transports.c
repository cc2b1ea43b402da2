/*
 * test_transports.c - every transport through the public API against real
 * mosquitto listeners: QoS 1 round trips over mqtt://, mqtts://, mutual
 * TLS, ws://, wss:// and unix://; TLS failures (wrong CA, wrong host name,
 * expired certificate, missing client certificate) reported as
 * MQ_EVENT_DISCONNECTED with MQ_ERR_TLS and a message naming the cause;
 * verify-name override, CA directory, insecure mode; protocol mix-ups
 * (plain client on a TLS port and the reverse, WebSocket client on an MQTT
 * port) that must fail clearly and fast; and server-list failover with a
 * broker restart.
 *
 * Certificates are made per test by tests/support/certs.sh; every test
 * starts its own broker (tests/support/broker.c) with extra listeners on
 * free loopback ports, and stops it by PID.
 *
 * Threading: single-threaded Criterion tests, one process (and broker)
 * each; libmq's worker runs the connections.
 */
#include "integ.h"
#include "tls_broker.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define FAIL_WAIT_MS 15000 /* a failing connect must end well before this */

static char certdir[256];
static char sockdir[256];

static void
tp_init(void)
{
    integ_init();
}

static void
tp_fini(void)
{
    integ_fini();
    if (certdir[0] != '\0')
        mqt_tls_rmdir(certdir);
    if (sockdir[0] != '\0')
        mqt_tls_rmdir(sockdir);
    certdir[0] = sockdir[0] = '\0';
}

TestSuite(tp, .init = tp_init, .fini = tp_fini, .timeout = 90);

/* ---- brokers with extra listeners --------------------------------------- */

enum { L_WS = 1, L_TLS = 2, L_MTLS = 4, L_WSS = 8, L_UNIX = 16 };

typedef struct {
    mqt_broker *b;
    int plain, ws, tls, mtls, wss; /* ports; 0 when not requested */
    char sock[300];
} env_t;

static int
free_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -1;

    if (fd < 0)
        return -1;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0
        && getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

static const char *
certfile(const char *name)
{
    static char ring[8][320];
    static int i;

    i = (i + 1) % 8;
    snprintf(ring[i], sizeof ring[i], "%s/%s", certdir, name);
    return ring[i];
}

static void
need_certs(void)
{
    if (certdir[0] == '\0')
        CHECK(mqt_tls_make_certs(certdir, sizeof certdir) == 0,
              "certs.sh failed");
}

/* A broker with its usual plain listener plus the listeners in @p which;
 * TLS listeners use <certdir>/<server_cert>.crt/.key (NULL: "server"). */
static env_t
start_env(int which, const char *server_cert)
{
    char conf[4096], tls[1024] = "";
    size_t o = 0;
    mqt_broker_opts opts;
    env_t e;

    memset(&e, 0, sizeof e);
    if (server_cert == NULL)
        server_cert = "server";
    if (which & (L_TLS | L_MTLS | L_WSS)) {
        need_certs();
        snprintf(tls, sizeof tls, "cafile %s/ca.crt\ncertfile %s/%s.crt\n"
                 "keyfile %s/%s.key\n", certdir, certdir, server_cert, certdir,
                 server_cert);
    }
    conf[0] = '\0';
#define ADD(...) o += (size_t)snprintf(conf + o, sizeof conf - o, __VA_ARGS__)
    if (which & L_WS) {
        e.ws = free_port();
        ADD("listener %d 127.0.0.1\nprotocol websockets\n", e.ws);
    }
    if (which & L_TLS) {
        e.tls = free_port();
        ADD("listener %d 127.0.0.1\n%s", e.tls, tls);
    }
    if (which & L_MTLS) {
        e.mtls = free_port();
        ADD("listener %d 127.0.0.1\n%srequire_certificate true\n", e.mtls,
            tls);
    }
    if (which & L_WSS) {
        e.wss = free_port();
        ADD("listener %d 127.0.0.1\nprotocol websockets\n%s", e.wss, tls);
    }
    if (which & L_UNIX) {
        const char *base = getenv("TMPDIR");

        snprintf(sockdir, sizeof sockdir, "%s/libmq-sock.XXXXXX",
                 base != NULL && base[0] != '\0' ? base : "/tmp");
        CHECK(mkdtemp(sockdir) != NULL, "mkdtemp");
        /* mosquitto started as root binds as user "mosquitto" */
        chmod(sockdir, 0777);
        snprintf(e.sock, sizeof e.sock, "%s/mq.sock", sockdir);
        ADD("listener 0 %s\n", e.sock);
    }
#undef ADD
    memset(&opts, 0, sizeof opts);
    opts.extra_conf = conf;
    e.b = integ_broker(&opts);
    e.plain = mqt_broker_port(e.b);
    return e;
}

/* ---- clients ------------------------------------------------------------ */

static mq_client *
client(const char *tag, int proto, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static mq_client *
client(const char *tag, int proto, const char *fmt, ...)
{
    char uri[512];
    va_list ap;
    mq_client *c = integ_client(NULL, tag, proto);

    va_start(ap, fmt);
    vsnprintf(uri, sizeof uri, fmt, ap);
    va_end(ap);
    CHECK_RC(mq_set_server(c, uri), MQ_OK);
    CHECK_RC(mq_set_int(c, MQ_OPT_RECONNECT, 0), MQ_OK);
    CHECK_RC(mq_set_int(c, MQ_OPT_CONNECT_TIMEOUT_MS, 8000), MQ_OK);
    return c;
}

static void
sopt(mq_client *c, int opt, const char *v)
{
    CHECK_RC(mq_set_str(c, opt, v), MQ_OK);
}

/* Subscribe to a topic, publish QoS 1 messages of a few sizes (small, and
 * @p big: many TLS records, several of our WebSocket frames) to it, and
 * check each comes back intact and is acknowledged.
 *
 * mosquitto 2.0.11's websockets listener sends to a client at about
 * 40 KB/s (4 KiB per 100 ms main-loop turn), so ws tests use a big size
 * that arrives in about a second. */
#define BIG_STREAM 300000
#define BIG_WS 40000

static void
roundtrip_sized(mq_client *c, const char *tag, size_t big)
{
    const size_t sizes[] = { 5, 1000, big };
    const char *topic = integ_topic(tag);
    size_t i, j;

    if (!mq_is_connected(c))
        integ_connect(c);
    integ_subscribe(c, topic, 1);
    for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i], got_len = 0;
        uint8_t *p = malloc(n);
        const void *got;
        mq_event *ev;
        int tok;

        for (j = 0; j < n; j++)
            p[j] = (uint8_t)(j * 31 + i);
        tok = CHECK_TOKEN(mq_publish(c, topic, p, n, 1, 0));
        ev = integ_wait(c, MQ_EVENT_MESSAGE, INTEG_WAIT_MS);
        CHECK(strcmp(mq_event_topic(ev), topic) == 0, "topic %s",
              mq_event_topic(ev));
        got = mq_event_payload(ev, &got_len);
        CHECK(got_len == n && memcmp(got, p, n) == 0,
              "payload of %zu bytes differs (got %zu)", n, got_len);
        CHECK(mq_event_qos(ev) == 1, "qos %d", mq_event_qos(ev));
        mq_event_free(ev);
        integ_wait_published(c, tok);
        free(p);
    }
    integ_disconnect(c);
}

static void
roundtrip(mq_client *c, const char *tag)
{
    roundtrip_sized(c, tag, BIG_STREAM);
}

static void
roundtrip_ws(mq_client *c, const char *tag)
{
    roundtrip_sized(c, tag, BIG_WS);
}

/* mq_connect must end in MQ_EVENT_DISCONNECTED (and nothing else first)
 * with @p err (MQ_OK: any error) and a message containing one of the
 * '|'-separated @p needles (""; any message). Returns the message. */
static const char *
expect_fail2(mq_client *c, int err, int alt, const char *needles)
{
    static char msg[512];
    long long t0 = mqt_now_ms();
    mq_event *ev;
    char list[256], *save = NULL, *tok;
    int found = 0;

    CHECK_RC(mq_connect(c), MQ_OK);
    for (;;) {
        ev = mq_next_event(c, FAIL_WAIT_MS);
        CHECK(ev != NULL, "no event within %d ms (a hang?)", FAIL_WAIT_MS);
        if (mq_event_type(ev) != MQ_EVENT_LOG)
            break;
        mq_event_free(ev);
    }
    snprintf(msg, sizeof msg, "%s",
             mq_event_message(ev) ? mq_event_message(ev) : "");
    CHECK(mq_event_type(ev) == MQ_EVENT_DISCONNECTED,
          "first event %s, expected DISCONNECTED (error %s: %s)",
          integ_event_name(mq_event_type(ev)),
          mq_err_name(mq_event_error(ev)), msg);
    if (err == MQ_OK)
        CHECK(mq_event_error(ev) != MQ_OK, "no error; message: %s", msg);
    else
        CHECK(mq_event_error(ev) == err || mq_event_error(ev) == alt,
              "error %s, expected %s; message: %s",
              mq_err_name(mq_event_error(ev)), mq_err_name(err), msg);
    err = mq_event_error(ev);
    CHECK(mq_event_will_reconnect(ev) == 0, "will_reconnect with "
          "MQ_OPT_RECONNECT 0");
    mq_event_free(ev);
    snprintf(list, sizeof list, "%s", needles);
    if (list[0] == '\0')
        found = 1;
    for (tok = strtok_r(list, "|", &save); tok != NULL;
         tok = strtok_r(NULL, "|", &save))
        if (strcasestr(msg, tok) != NULL)
            found = 1;
    CHECK(found, "message \"%s\" mentions none of \"%s\"", msg, needles);
    CHECK(mq_is_connected(c) == 0, "connected after a failure");
    CHECK(mqt_now_ms() - t0 < 10000, "failure took %lld ms",
          mqt_now_ms() - t0);
    fprintf(stderr, "[tp] %s: %s: %s\n", mq_client_id(c), mq_err_name(err),
            msg);
    return msg;
}

static const char *
expect_fail(mq_client *c, int err, const char *needles)
{
    return expect_fail2(c, err, err, needles);
}

/* ---- round trips -------------------------------------------------------- */

Test(tp, plain_roundtrip)
{
    env_t e = start_env(0, NULL);
    mq_client *c = client("plain", MQ_PROTO_V5, "mqtt://127.0.0.1:%d",
                          e.plain);

    roundtrip(c, "plain");
}

Test(tp, tls_roundtrip_ca_file)
{
    env_t e = start_env(L_TLS, NULL);
    mq_client *c = client("tls", MQ_PROTO_V5, "mqtts://localhost:%d", e.tls);

    sopt(c, MQ_SOPT_TLS_CA_FILE, certfile("ca.crt"));
    roundtrip(c, "tls");
}

Test(tp, tls_roundtrip_ca_dir_ip_literal_v311)
{
    env_t e = start_env(L_TLS, NULL);
    mq_client *c = client("tlsdir", MQ_PROTO_V311, "mqtts://127.0.0.1:%d",
                          e.tls);

    /* the server certificate carries IP:127.0.0.1 */
    sopt(c, MQ_SOPT_TLS_CA_PATH, certfile("ca-dir"));
    roundtrip(c, "tlsdir");
}

Test(tp, tls_min_version_13_and_alpn_ignored_by_broker)
{
    env_t e = start_env(L_TLS, NULL);
    mq_client *c = client("tls13", MQ_PROTO_V5, "ssl://localhost:%d", e.tls);

    sopt(c, MQ_SOPT_TLS_CA_FILE, certfile("ca.crt"));
    sopt(c, MQ_SOPT_TLS_MIN_VERSION, "tlsv1.3");
    sopt(c, MQ_SOPT_TLS_ALPN, "mqtt,x-other");
    sopt(c, MQ_SOPT_TLS_CIPHERS, "TLS_AES_128_GCM_SHA256");
    roundtrip(c, "tls13");
}

/* A cipher list nothing can use ends the attempt with a TLS error. */
Test(tp, tls_bad_cipher_list)
{
    env_t e = start_env(L_TLS, NULL);
    mq_client *c = client("badcipher", MQ_PROTO_V5, "mqtts://localhost:%d",
                          e.tls);

    sopt(c, MQ_SOPT_TLS_CA_FILE, certfile("ca.crt"));
    sopt(c, MQ_SOPT_TLS_CIPHERS, "NO-SUCH-CIPHER");
    expect_fail(c, MQ_ERR_TLS, "");
}

/* MQ_OPT_TLS_NO_HOSTNAME_CHECK skips the name, not the chain. */
Test(tp, tls_no_hostname_check_accepts_wrong_name)
{
    env_t e = start_env(L_TLS, "wronghost");
    mq_client *c = client("nohost", MQ_PROTO_V5, "mqtts://localhost:%d",
                          e.tls);

    sopt(c, MQ_SOPT_TLS_CA_FILE, certfile("ca.crt"));
    CHECK_RC(mq_set_int(c, MQ_OPT_TLS_NO_HOSTNAME_CHECK, 1), MQ_OK);
    roundtrip(c, "nohost");
}

Test(tp, tls_no_hostname_check_still_verifies_chain)
{
    env_t e = start_env(L_TLS, NULL);
    mq_client *c = client("nohostca", MQ_PROTO_V5, "mqtts://localhost:%d",
                          e.tls);

    sopt(c, MQ_SOPT_TLS_CA_FILE, certfile("other-ca.crt"));
    CHECK_RC(mq_set_int(c, MQ_OPT_TLS_NO_HOSTNAME_CHECK, 1), MQ_OK);
    expect_fail(c, MQ_ERR_TLS, "certificate verify failed");
}

Test(tp, mtls_roundtrip)
{
    env_t e = start_env(L_MTLS, NULL);
    mq_client *c = client("mtls", MQ_PROTO_V5, "mqtts://localhost:%d", e.mtls);

    sopt(c, MQ_SOPT_TLS_CA_FILE, certfile("ca.crt"));
    sopt(c, MQ_SOPT_TLS_CERT_FILE, certfile("client.crt"));
    sopt(c, MQ_SOPT_TLS_KEY_FILE, certfile("client.key"));
    roundtrip(c, "mtls");
}

Test(tp, ws_roundtrip)
{
    env_t e = start_env(L_WS, NULL);
    mq_client *c = client("ws", MQ_PROTO_V5, "ws://127.0.0.1:%d/mqtt", e.ws);

    roundtrip_ws(c, "ws");
}

Test(tp, ws_roundtrip_v311_default_path)
{
    env_t e = start_env(L_WS, NULL);
    mq_client *c = client("ws3", MQ_PROTO_V311, "ws://localhost:%d", e.ws);

    roundtrip_ws(c, "ws3");
}

Test(tp, wss_roundtrip)
{
    env_t e = start_env(L_WSS, NULL);
    mq_client *c = client("wss", MQ_PROTO_V5, "wss://localhost:%d/mqtt",
                          e.wss);

    sopt(c, MQ_SOPT_TLS_CA_FILE, certfile("ca.crt"));
    roundtrip_ws(c, "wss");
}

Test(tp, unix_roundtrip)
{
    env_t e = start_env(L_UNIX, NULL);
    mq_client *c = client("unix", MQ_PROTO_V5, "unix://%s", e.sock);

    roundtrip(c, "unix");
}

/* One message crosses all transports: published over ws, received over
 * unix, wss and mqtts subscribers. */
Test(tp, cross_transport_delivery)
{
    env_t e = start_env(L_WS | L_WSS | L_TLS | L_UNIX, NULL);
    const char *topic = integ_topic("cross");
    mq_client *sub[3], *pub;
    size_t i, n;
    mq_event *ev;

    sub[0] = client("xu", MQ_PROTO_V5, "unix://%s", e.sock);
    sub[1] = client("xwss", MQ_PROTO_V311, "wss://localhost:%d", e.wss);
    sub[2] = client("xtls", MQ_PROTO_V5, "mqtts://localhost:%d", e.tls);
    pub = client("xws", MQ_PROTO_V5, "ws://127.0.0.1:%d", e.ws);
    sopt(sub[1], MQ_SOPT_TLS_CA_FILE, certfile("ca.crt"));
    sopt(sub[2], MQ_SOPT_TLS_CA_FILE, certfile("ca.crt"));
    for (i = 0; i < 3; i++) {
        integ_connect(sub[i]);
        integ_subscribe(sub[i], topic, 1);
    }
    integ_connect(pub);
    integ_wait_published(pub, CHECK_TOKEN(mq_publish(pub, topic, "x!", 2, 1,
                                                     0)));
    for (i = 0; i < 3; i++) {
        ev = integ_wait(sub[i], MQ_EVENT_MESSAGE, INTEG_WAIT_MS);
        CHECK(memcmp(mq_event_payload(ev, &n), "x!", 2) == 0 && n == 2,
              "payload");
        mq_event_free(ev);
    }
}

/* ---- TLS failures ------------------------------------------------------- */

Test(tp, tls_wrong_ca)
{
    env_t e = start_env(L_TLS, NULL);
    mq_client *c = client("wrongca", MQ_PROTO_V5, "mqtts://localhost:%d",
                          e.tls);

    sopt(c, MQ_SOPT_TLS_CA_FILE, certfile("other-ca.crt"));
    expect_fail(c, MQ_ERR_TLS, "certificate verify failed");
    /* the broker sends its chain up to the (untrusted) test CA */
    expect_fail(c, MQ_ERR_TLS, "self-signed|local issuer");
}

Test(tp, tls_system_ca_does_not_trust_test_ca)
{
    env_t e = start_env(L_TLS, NULL);
    mq_client *c = client("sysca", MQ_PROTO_V5, "mqtts://localhost:%d",
                          e.tls);

    expect_fail(c, MQ_ERR_TLS, "certificate verify failed");
}

Test(tp, tls_wrong_host)
{
    env_t e = start_env(L_TLS, "wronghost");
    mq_client *c = client("wronghost", MQ_PROTO_V5, "mqtts://localhost:%d",
                          e.tls);

    sopt(c, MQ_SOPT_TLS_CA_FILE, certfile("ca.crt"));
    expect_fail(c, MQ_ERR_TLS, "hostname mismatch");
    expect_fail(c, MQ_ERR_TLS, "localhost"); /* names what was expected */
}

Test(tp, tls_wrong_ip)
{
    env_t e = start_env(L_TLS, "wronghost");
    mq_client *c = client("wrongip", MQ_PROTO_V5, "mqtts://127.0.0.1:%d",
                          e.tls);

    sopt(c, MQ_SOPT_TLS_CA_FILE, certfile("ca.crt"));
    expect_fail(c, MQ_ERR_TLS, "IP address mismatch|mismatch");
}

Test(tp, tls_verify_name_override)
{
    env_t e = start_env(L_TLS, "wronghost");
    mq_client *c = client("vname", MQ_PROTO_V5, "mqtts://127.0.0.1:%d",
                          e.tls);

    sopt(c, MQ_SOPT_TLS_CA_FILE, certfile("ca.crt"));
    sopt(c, MQ_SOPT_TLS_VERIFY_NAME, "wrong.example.invalid");
    roundtrip(c, "vname");
}

Test(tp, tls_verify_name_override_wrong)
{
    env_t e = start_env(L_TLS, NULL);
    mq_client *c = client("vname2", MQ_PROTO_V5, "mqtts://localhost:%d",
                          e.tls);

    sopt(c, MQ_SOPT_TLS_CA_FILE, certfile("ca.crt"));
    sopt(c, MQ_SOPT_TLS_VERIFY_NAME, "other.example");
    expect_fail(c, MQ_ERR_TLS, "other.example");
}

Test(tp, tls_expired)
{
    env_t e = start_env(L_TLS, "expired");
    mq_client *c = client("expired", MQ_PROTO_V5, "mqtts://localhost:%d",
                          e.tls);

    sopt(c, MQ_SOPT_TLS_CA_FILE, certfile("ca.crt"));
    expect_fail(c, MQ_ERR_TLS, "expired");
}

Test(tp, tls_insecure_accepts_anything)
{
    env_t e = start_env(L_TLS, "expired");
    mq_client *c = client("insecure", MQ_PROTO_V5, "mqtts://127.0.0.1:%d",
                          e.tls);
    mq_event *ev;
    int warned = 0;

    sopt(c, MQ_SOPT_TLS_CA_FILE, certfile("other-ca.crt"));
    CHECK_RC(mq_set_int(c, MQ_OPT_TLS_INSECURE, 1), MQ_OK);
    CHECK_RC(mq_set_int(c, MQ_OPT_LOG_LEVEL, MQ_LOG_WARNING), MQ_OK);
    CHECK_RC(mq_connect(c), MQ_OK);
    while ((ev = mq_next_event(c, INTEG_WAIT_MS)) != NULL) {
        int kind = mq_event_type(ev);

        if (kind == MQ_EVENT_LOG && mq_event_message(ev) != NULL
            && strstr(mq_event_message(ev), "INSECURE") != NULL)
            warned = 1;
        CHECK(kind == MQ_EVENT_LOG || kind == MQ_EVENT_CONNECT,
              "event %s: %s", integ_event_name(kind),
              mq_event_message(ev) ? mq_event_message(ev) : "");
        mq_event_free(ev);
        if (kind == MQ_EVENT_CONNECT)
            break;
    }
    CHECK(mq_is_connected(c), "insecure connect failed");
    CHECK(warned, "no warning logged for MQ_OPT_TLS_INSECURE");
    CHECK_RC(mq_set_int(c, MQ_OPT_LOG_LEVEL, MQ_LOG_NONE), MQ_OK);
    integ_disconnect(c);
}

Test(tp, mtls_without_client_cert)
{
    env_t e = start_env(L_MTLS, NULL);
    mq_client *c = client("nocert", MQ_PROTO_V5, "mqtts://localhost:%d",
                          e.mtls);

    sopt(c, MQ_SOPT_TLS_CA_FILE, certfile("ca.crt"));
    /* TLS 1.3: the server's alert comes after our handshake finished, so
     * the worker sees it on its first write (CONNECT) or read. Its
     * flush_out reports every write failure as MQ_ERR_IO (engine issue,
     * see the report); the message must name the cause either way. */
    expect_fail2(c, MQ_ERR_TLS, MQ_ERR_IO, "certificate required");
}

Test(tp, mtls_client_cert_from_other_ca)
{
    env_t e = start_env(L_MTLS, NULL);
    mq_client *c = client("badcert", MQ_PROTO_V5, "mqtts://localhost:%d",
                          e.mtls);

    /* the server certificate as a client certificate: wrong usage; and the
     * key file of another certificate: a clear local error */
    sopt(c, MQ_SOPT_TLS_CA_FILE, certfile("ca.crt"));
    sopt(c, MQ_SOPT_TLS_CERT_FILE, certfile("client.crt"));
    sopt(c, MQ_SOPT_TLS_KEY_FILE, certfile("server.key"));
    expect_fail(c, MQ_ERR_TLS, "do not match|mismatch");
}

/* A missing CA file is refused when set (MQ_ERR_FILE); one that goes
 * away between mq_set_str() and the connect still fails there, naming
 * the file. */
Test(tp, tls_missing_ca_file)
{
    env_t e = start_env(L_TLS, NULL);
    mq_client *c = client("noca", MQ_PROTO_V5, "mqtts://localhost:%d", e.tls);
    char path[] = "/tmp/mqt-gone-ca-XXXXXX";
    int fd;

    CHECK_RC(mq_set_str(c, MQ_SOPT_TLS_CA_FILE, "/nonexistent/ca.crt"),
             MQ_ERR_FILE);
    fd = mkstemp(path);
    CHECK(fd >= 0, "mkstemp");
    close(fd);
    sopt(c, MQ_SOPT_TLS_CA_FILE, path);
    unlink(path);
    expect_fail(c, MQ_ERR_TLS, "mqt-gone-ca");
}

Test(tp, wss_wrong_host)
{
    env_t e = start_env(L_WSS, "wronghost");
    mq_client *c = client("wsswh", MQ_PROTO_V5, "wss://localhost:%d/mqtt",
                          e.wss);

    sopt(c, MQ_SOPT_TLS_CA_FILE, certfile("ca.crt"));
    expect_fail(c, MQ_ERR_TLS, "hostname mismatch");
}

/* ---- protocol mix-ups --------------------------------------------------- */

Test(tp, plain_client_to_tls_port)
{
    env_t e = start_env(L_TLS, NULL);
    mq_client *c = client("plain2tls", MQ_PROTO_V5, "mqtt://127.0.0.1:%d",
                          e.tls);

    /* the broker drops (or resets) the connection after our CONNECT */
    expect_fail2(c, MQ_ERR_CLOSED, MQ_ERR_IO, "closed|reset");
}

Test(tp, tls_client_to_plain_port)
{
    env_t e = start_env(0, NULL);
    mq_client *c = client("tls2plain", MQ_PROTO_V5, "mqtts://localhost:%d",
                          e.plain);

    need_certs();
    sopt(c, MQ_SOPT_TLS_CA_FILE, certfile("ca.crt"));
    expect_fail(c, MQ_ERR_TLS, "TLS port");
}

Test(tp, ws_client_to_mqtt_port)
{
    env_t e = start_env(0, NULL);
    mq_client *c = client("ws2mqtt", MQ_PROTO_V5, "ws://127.0.0.1:%d",
                          e.plain);

    /* mosquitto closes or resets on "GET ..." */
    expect_fail2(c, MQ_ERR_CLOSED, MQ_ERR_IO, "WebSocket port");
}

Test(tp, mqtt_client_to_ws_port)
{
    env_t e = start_env(L_WS, NULL);
    mq_client *c = client("mqtt2ws", MQ_PROTO_V5, "mqtt://127.0.0.1:%d",
                          e.ws);

    /* libwebsockets answers our CONNECT bytes with an HTTP error or a
     * close; either way the client must fail fast, not hang */
    CHECK_RC(mq_set_int(c, MQ_OPT_CONNECT_TIMEOUT_MS, 3000), MQ_OK);
    expect_fail(c, MQ_OK, "");
}

Test(tp, ws_client_to_tls_port)
{
    env_t e = start_env(L_TLS, NULL);
    mq_client *c = client("ws2tls", MQ_PROTO_V5, "ws://127.0.0.1:%d", e.tls);

    expect_fail2(c, MQ_ERR_CLOSED, MQ_ERR_IO, "WebSocket port");
}

Test(tp, wss_client_to_ws_port)
{
    env_t e = start_env(L_WS, NULL);
    mq_client *c = client("wss2ws", MQ_PROTO_V5, "wss://localhost:%d", e.ws);

    need_certs();
    sopt(c, MQ_SOPT_TLS_CA_FILE, certfile("ca.crt"));
    expect_fail(c, MQ_ERR_TLS, "TLS");
}

Test(tp, ws_wrong_path_still_mqtt)
{
    /* mosquitto serves MQTT on any path; a different path must work */
    env_t e = start_env(L_WS, NULL);
    mq_client *c = client("wspath", MQ_PROTO_V5, "ws://127.0.0.1:%d/x/y",
                          e.ws);

    roundtrip_ws(c, "wspath");
}

Test(tp, unix_missing_socket)
{
    mq_client *c = client("nosock", MQ_PROTO_V5,
                          "unix:///nonexistent/libmq-test.sock");

    expect_fail(c, MQ_ERR_IO, "No such file|connect");
}

/* ---- failover ----------------------------------------------------------- */

Test(tp, failover_dead_then_live)
{
    env_t e = start_env(0, NULL);
    int dead = free_port();
    mq_client *c = client("fo", MQ_PROTO_V5,
                          "mqtt://127.0.0.1:%d mqtt://127.0.0.1:%d", dead,
                          e.plain);
    mq_event *ev;

    CHECK_RC(mq_set_int(c, MQ_OPT_RECONNECT, 1), MQ_OK);
    CHECK_RC(mq_set_int(c, MQ_OPT_RECONNECT_MIN_MS, 100), MQ_OK);
    CHECK_RC(mq_set_int(c, MQ_OPT_RECONNECT_MAX_MS, 400), MQ_OK);
    CHECK_RC(mq_connect(c), MQ_OK);
    ev = integ_wait(c, MQ_EVENT_CONNECT, INTEG_WAIT_MS);
    CHECK(mq_event_reason(ev) == 0, "reason %d", mq_event_reason(ev));
    mq_event_free(ev);
    CHECK(mqt_broker_wait_log(e.b, mq_client_id(c), 2000),
          "live broker did not see the client");

    /* the broker goes away and comes back on the same port */
    CHECK(mqt_broker_stop(e.b, 5000) == 0, "broker stop");
    ev = integ_wait(c, MQ_EVENT_DISCONNECTED, INTEG_WAIT_MS);
    CHECK(mq_event_will_reconnect(ev) == 1, "will_reconnect");
    mq_event_free(ev);
    mqt_sleep_ms(500); /* a few failed rounds over both servers */
    CHECK(mqt_broker_restart(e.b) == 0, "broker restart");
    ev = integ_wait(c, MQ_EVENT_CONNECT, 15000);
    CHECK(mq_event_reason(ev) == 0, "reason %d", mq_event_reason(ev));
    mq_event_free(ev);
    roundtrip(c, "fo");
}

Test(tp, failover_across_transports)
{
    /* a dead TLS server, then a dead unix socket, then a live ws one */
    env_t e = start_env(L_WS, NULL);
    int dead = free_port();
    mq_client *c;
    mq_event *ev;

    need_certs();
    c = client("fox", MQ_PROTO_V311,
               "mqtts://localhost:%d unix:///nonexistent/x.sock,"
               "ws://127.0.0.1:%d/mqtt", dead, e.ws);
    sopt(c, MQ_SOPT_TLS_CA_FILE, certfile("ca.crt"));
    CHECK_RC(mq_set_int(c, MQ_OPT_RECONNECT, 1), MQ_OK);
    CHECK_RC(mq_set_int(c, MQ_OPT_RECONNECT_MIN_MS, 100), MQ_OK);
    CHECK_RC(mq_set_int(c, MQ_OPT_RECONNECT_MAX_MS, 400), MQ_OK);
    CHECK_RC(mq_connect(c), MQ_OK);
    ev = integ_wait(c, MQ_EVENT_CONNECT, INTEG_WAIT_MS);
    CHECK(mq_event_reason(ev) == 0, "reason %d", mq_event_reason(ev));
    mq_event_free(ev);
    roundtrip_ws(c, "fox");
}

Test(tp, failover_all_dead_reports_each)
{
    int d1 = free_port(), d2 = free_port();
    mq_client *c = client("alldead", MQ_PROTO_V5,
                          "mqtt://127.0.0.1:%d ws://127.0.0.1:%d", d1, d2);

    /* without reconnect: one attempt, a clear refusal */
    expect_fail(c, MQ_ERR_CONNREFUSED, "refused");
}

/* ---- silent servers: the connect timeout covers TLS and WebSocket ------- */

/* A loopback port that accepts TCP (kernel backlog) and never answers. */
static int
silent_listener(int *port)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    CHECK(fd >= 0, "socket");
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(bind(fd, (struct sockaddr *)&a, sizeof a) == 0, "bind");
    CHECK(listen(fd, 8) == 0, "listen");
    CHECK(getsockname(fd, (struct sockaddr *)&a, &len) == 0, "getsockname");
    *port = ntohs(a.sin_port);
    return fd;
}

static void
silent(const char *scheme)
{
    int port, fd = silent_listener(&port);
    mq_client *c = client("silent", MQ_PROTO_V5, "%s://127.0.0.1:%d", scheme,
                          port);

    need_certs();
    sopt(c, MQ_SOPT_TLS_CA_FILE, certfile("ca.crt"));
    CHECK_RC(mq_set_int(c, MQ_OPT_CONNECT_TIMEOUT_MS, 1000), MQ_OK);
    expect_fail(c, MQ_ERR_TIMEOUT, "");
    close(fd);
}

Test(tp, silent_server_ws) { silent("ws"); }
Test(tp, silent_server_wss) { silent("wss"); }
Test(tp, silent_server_mqtts) { silent("mqtts"); }

/* ---- long-lived WebSocket and TLS connections ---------------------------- */

/* Keepalive pings flow over the layers: stay connected across several
 * keepalive periods with nothing else to send. */
static void
idle_keepalive(const char *tag, int which, const char *fmt)
{
    env_t e = start_env(which, NULL);
    int port = which == L_WS ? e.ws : e.wss;
    mq_client *c = client(tag, MQ_PROTO_V5, fmt, port);
    mq_event *ev;
    char needle[160];

    if (which != L_WS)
        sopt(c, MQ_SOPT_TLS_CA_FILE, certfile("ca.crt"));
    CHECK_RC(mq_set_int(c, MQ_OPT_KEEPALIVE_S, 1), MQ_OK);
    integ_connect(c);
    ev = integ_try_wait(c, MQ_EVENT_DISCONNECTED, 3500);
    CHECK(ev == NULL, "disconnected while idle: %s: %s",
          mq_err_name(mq_event_error(ev)), mq_event_message(ev));
    snprintf(needle, sizeof needle, "Received PINGREQ from %s",
             mq_client_id(c));
    CHECK(mqt_broker_log_count(e.b, needle) >= 2, "no keepalive pings seen");
    /* small only: a big message delays the PINGRESP past 1 s here */
    roundtrip_sized(c, tag, 2000);
}

Test(tp, ws_idle_keepalive) { idle_keepalive("wska", L_WS, "ws://127.0.0.1:%d"); }
Test(tp, wss_idle_keepalive)
{
    idle_keepalive("wsska", L_WSS, "wss://localhost:%d");
}

/* The broker restarts under a ws client: loss reported, then reconnect. */
Test(tp, ws_broker_restart)
{
    env_t e = start_env(L_WS, NULL);
    mq_client *c = client("wsrs", MQ_PROTO_V311, "ws://127.0.0.1:%d/mqtt",
                          e.ws);
    mq_event *ev;

    CHECK_RC(mq_set_int(c, MQ_OPT_RECONNECT, 1), MQ_OK);
    CHECK_RC(mq_set_int(c, MQ_OPT_RECONNECT_MIN_MS, 100), MQ_OK);
    CHECK_RC(mq_set_int(c, MQ_OPT_RECONNECT_MAX_MS, 400), MQ_OK);
    integ_connect(c);
    CHECK(mqt_broker_stop(e.b, 5000) == 0, "broker stop");
    ev = integ_wait(c, MQ_EVENT_DISCONNECTED, INTEG_WAIT_MS);
    CHECK(mq_event_will_reconnect(ev) == 1, "will_reconnect");
    fprintf(stderr, "[tp] ws loss: %s: %s\n", mq_err_name(mq_event_error(ev)),
            mq_event_message(ev));
    mq_event_free(ev);
    CHECK(mqt_broker_restart(e.b) == 0, "broker restart");
    ev = integ_wait(c, MQ_EVENT_CONNECT, 15000);
    CHECK(mq_event_reason(ev) == 0, "reason %d", mq_event_reason(ev));
    mq_event_free(ev);
    roundtrip_ws(c, "wsrs");
}


/* ---- in-memory PEM and key passwords through the public API ------------- */

static char *
slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;

    CHECK(f != NULL, "open %s", path);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = calloc(1, (size_t)n + 1);
    CHECK(buf != NULL && fread(buf, 1, (size_t)n, f) == (size_t)n, "read");
    fclose(f);
    return buf;
}

static int
pw_cb(char *buf, int size, void *ud)
{
    const char *pw = ud;
    int n = (int)strlen(pw);

    if (n > size)
        return -1;
    memcpy(buf, pw, (size_t)n);
    return n;
}

Test(tp, mtls_pem_in_memory_with_key_password)
{
    env_t e = start_env(L_MTLS, NULL);
    mq_client *c = client("pem", MQ_PROTO_V5, "mqtts://localhost:%d", e.mtls);
    char *ca = slurp(certfile("ca.crt"));
    char *cert = slurp(certfile("client.crt"));
    char *key = slurp(certfile("client-enc.key"));

    sopt(c, MQ_SOPT_TLS_CA_PEM, ca);
    sopt(c, MQ_SOPT_TLS_CERT_PEM, cert);
    sopt(c, MQ_SOPT_TLS_KEY_PEM, key);
    sopt(c, MQ_SOPT_TLS_KEY_PASSWORD, "secret");
    roundtrip(c, "pem");
    free(ca);
    free(cert);
    free(key);
}

Test(tp, mtls_key_password_callback_and_wrong_password)
{
    env_t e = start_env(L_MTLS, NULL);
    mq_client *c = client("pwcb", MQ_PROTO_V5, "mqtts://localhost:%d", e.mtls);
    mq_client *bad = client("pwbad", MQ_PROTO_V5, "mqtts://localhost:%d",
                            e.mtls);

    sopt(c, MQ_SOPT_TLS_CA_FILE, certfile("ca.crt"));
    sopt(c, MQ_SOPT_TLS_CERT_FILE, certfile("client.crt"));
    sopt(c, MQ_SOPT_TLS_KEY_FILE, certfile("client-enc.key"));
    CHECK_RC(mq_set_tls_password_cb(c, pw_cb, (void *)"secret"), MQ_OK);
    roundtrip(c, "pwcb");

    sopt(bad, MQ_SOPT_TLS_CA_FILE, certfile("ca.crt"));
    sopt(bad, MQ_SOPT_TLS_CERT_FILE, certfile("client.crt"));
    sopt(bad, MQ_SOPT_TLS_KEY_FILE, certfile("client-enc.key"));
    sopt(bad, MQ_SOPT_TLS_KEY_PASSWORD, "wrong");
    expect_fail2(bad, MQ_ERR_TLS, MQ_ERR_TLS, "password");
}
