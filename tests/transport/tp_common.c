/*
 * tp_common.c - helpers shared by the transport integration tests
 * (test_transports.c, test_deploy.c): throwaway certificates, a broker
 * with extra listeners on free loopback ports, clients with a server URI,
 * QoS 1 round trips of several sizes, and "this connect must fail with
 * this error and a message naming the cause".
 *
 * Threading: the test's main thread only (one Criterion process a test).
 */
#include "tp_common.h"
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

char certdir[256];
static char sockdir[256];

void
tp_init(void)
{
    integ_init();
}

void
tp_fini(void)
{
    integ_fini();
    if (certdir[0] != '\0')
        mqt_tls_rmdir(certdir);
    if (sockdir[0] != '\0')
        mqt_tls_rmdir(sockdir);
    certdir[0] = sockdir[0] = '\0';
}

/* ---- brokers with extra listeners --------------------------------------- */


int
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

const char *
certfile(const char *name)
{
    static char ring[8][320];
    static int i;

    i = (i + 1) % 8;
    snprintf(ring[i], sizeof ring[i], "%s/%s", certdir, name);
    return ring[i];
}

void
need_certs(void)
{
    if (certdir[0] == '\0')
        CHECK(mqt_tls_make_certs(certdir, sizeof certdir) == 0,
              "certs.sh failed");
}

/* A broker with its usual plain listener plus the listeners in @p which;
 * TLS listeners use <certdir>/<server_cert>.crt/.key (NULL: "server"). */
env_t
start_env(int which, const char *server_cert)
{
    char conf[4096], tls[1024] = "";
    size_t o = 0;
    mqt_broker_opts opts;
    env_t e;

    memset(&e, 0, sizeof e);
    if (server_cert == NULL)
        server_cert = "server";
    if (which & (L_TLS | L_MTLS | L_WSS | L_TLS12)) {
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
    if (which & (L_PSK | L_PSK12)) {
        char path[320];
        FILE *f;

        need_certs();
        snprintf(path, sizeof path, "%s/psk.txt", certdir);
        f = fopen(path, "w");
        CHECK(f != NULL, "cannot write %s", path);
        fprintf(f, "%s:%s\n", TP_PSK_IDENTITY, TP_PSK_KEY);
        fclose(f);
        chmod(path, 0644); /* mosquitto reads it as its own user */
        if (which & L_PSK) {
            e.psk = free_port();
            ADD("listener %d 127.0.0.1\npsk_hint libmq-test\npsk_file %s\n",
                e.psk, path);
        }
        if (which & L_PSK12) {
            /* psk_file is global in mosquitto: given once */
            e.psk12 = free_port();
            ADD("listener %d 127.0.0.1\npsk_hint libmq-test\n%s%s\n"
                "tls_version tlsv1.2\n", e.psk12,
                which & L_PSK ? "" : "psk_file ", which & L_PSK ? "" : path);
        }
    }
    if (which & L_TLS12) {
        e.tls12 = free_port();
        ADD("listener %d 127.0.0.1\n%stls_version tlsv1.2\n", e.tls12, tls);
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

mq_client *
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

void
sopt(mq_client *c, int opt, const char *v)
{
    CHECK_RC(mq_set_str(c, opt, v), MQ_OK);
}

/* Subscribe to a topic, publish QoS 1 messages of a few sizes (small, and
 * @p big: many TLS records, several of our WebSocket frames) to it, and
 * check each comes back intact and is acknowledged. */

void
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

void
roundtrip(mq_client *c, const char *tag)
{
    roundtrip_sized(c, tag, BIG_STREAM);
}

void
roundtrip_ws(mq_client *c, const char *tag)
{
    roundtrip_sized(c, tag, BIG_WS);
}

/* mq_connect must end in MQ_EVENT_DISCONNECTED (and nothing else first)
 * with @p err (MQ_OK: any error) and a message containing one of the
 * '|'-separated @p needles (""; any message). Returns the message. */
const char *
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

const char *
expect_fail(mq_client *c, int err, const char *needles)
{
    return expect_fail2(c, err, err, needles);
}
