/*
 * test_tls.c - the TLS transport (transport_tls.c) against a real
 * mosquitto: certificate and host name verification, verify-name override,
 * expired and wrong-host certificates, insecure mode, mutual TLS, protocol
 * mix-ups (plain client on a TLS port and the reverse), large writes, and
 * SSL_CTX option errors. Certificates are made at test time by
 * tests/support/certs.sh; every test starts its own broker on a free port
 * and stops it by PID.
 *
 * Threading: each test runs in its own process (Criterion); the test
 * thread plays the worker, driving handshake/read/write with poll().
 */
#ifndef MQ_HAVE_TLS
#define MQ_HAVE_TLS 1 /* this test is only built when OpenSSL is found */
#endif

#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mq.h"
#include "transport.h"

/* The helper is compiled into this file so that the unit test build (one
 * test_<name>.c per executable) needs no extra source. */
#include "../support/tls_broker.c"

#define STEP_MS 5000

static char certdir[256];
static mqt_tls_broker broker;
static void *ctx;
static mqi_io io = { NULL, -1, 0, NULL };

/* A minimal MQTT 3.1.1 CONNECT: clean session, keepalive 60, empty id. */
static const uint8_t connect_pkt[] = {
    0x10, 0x0c, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x3c,
    0x00, 0x00,
};
static const uint8_t connack_ok[] = { 0x20, 0x02, 0x00, 0x00 };

static void
setup(void)
{
    if (!mqt_tls_have_mosquitto())
        cr_skip_test("mosquitto not installed");
    cr_assert_eq(mqt_tls_make_certs(certdir, sizeof certdir), 0,
                 "certs.sh failed");
}

static void
teardown(void)
{
    if (io.ops != NULL)
        io.ops->close(&io);
    io.ops = NULL;
    if (io.fd >= 0)
        close(io.fd);
    io.fd = -1;
    mqi_tls_ctx_free(ctx);
    ctx = NULL;
    mqt_tls_broker_stop(&broker);
    mqt_tls_rmdir(certdir);
    certdir[0] = '\0';
}

TestSuite(tls, .init = setup, .fini = teardown, .timeout = 60);

static const char *
cert(const char *name)
{
    static char buf[4][320];
    static int i;

    i = (i + 1) % 4;
    snprintf(buf[i], sizeof buf[i], "%s/%s", certdir, name);
    return buf[i];
}

static void
start_broker(const char *server_cert, mqt_tls_listener kind)
{
    cr_assert_eq(mqt_tls_broker_start(&broker, certdir, server_cert, kind), 0,
                 "broker did not start");
}

/* Non-blocking TCP connect to the broker; io gets the plain ops. */
static void
tcp_connect(void)
{
    struct sockaddr_in a;
    struct pollfd p;
    int fd, err = 0, one = 1;
    socklen_t elen = sizeof err;

    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    cr_assert_geq(fd, 0);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)broker.port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        cr_assert_eq(errno, EINPROGRESS, "connect: %s", strerror(errno));
        p.fd = fd;
        p.events = POLLOUT;
        cr_assert_eq(poll(&p, 1, STEP_MS), 1, "connect timed out");
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen);
        cr_assert_eq(err, 0, "connect: %s", strerror(err));
    }
    io.ops = &mqi_io_plain_ops;
    io.fd = fd;
    io.want = 0;
    io.layer = NULL;
    mqi_io_err[0] = '\0';
}

/* Wait for io.want (as the worker would with epoll). 0 on timeout. */
static int
wait_io(int timeout_ms)
{
    struct pollfd p;
    int r;

    p.fd = io.fd;
    p.events = (short)(((io.want & EPOLLIN) ? POLLIN : 0)
                       | ((io.want & EPOLLOUT) ? POLLOUT : 0));
    if (p.events == 0)
        p.events = POLLIN;
    do {
        r = poll(&p, 1, timeout_ms);
    } while (r < 0 && errno == EINTR);
    return r > 0;
}

/* Drive the handshake to completion or error; MQ_ERR_TIMEOUT if stuck. */
static int
handshake(void)
{
    for (;;) {
        int rc = io.ops->handshake(&io);

        if (rc != MQ_ERR_AGAIN)
            return rc;
        cr_assert(io.want & (EPOLLIN | EPOLLOUT), "AGAIN without want");
        if (!wait_io(STEP_MS))
            return MQ_ERR_TIMEOUT;
    }
}

static int
write_all(const uint8_t *buf, size_t len)
{
    size_t off = 0, n;

    while (off < len) {
        int rc = io.ops->write(&io, buf + off, len - off, &n);

        if (rc == MQ_ERR_AGAIN) {
            if (!wait_io(STEP_MS))
                return MQ_ERR_TIMEOUT;
            continue;
        }
        if (rc != MQ_OK)
            return rc;
        cr_assert_gt(n, 0);
        off += n;
    }
    return MQ_OK;
}

/* Read exactly @p len bytes. */
static int
read_exact(uint8_t *buf, size_t len)
{
    size_t off = 0, n;

    while (off < len) {
        int rc = io.ops->read(&io, buf + off, len - off, &n);

        if (rc == MQ_ERR_AGAIN) {
            if (!wait_io(STEP_MS))
                return MQ_ERR_TIMEOUT;
            continue;
        }
        if (rc != MQ_OK)
            return rc;
        cr_assert_gt(n, 0);
        off += n;
    }
    return MQ_OK;
}

/* Make a context from @p o; connect; start TLS for @p host; handshake. */
static int
tls_connect(const mqi_tls_opts *o, const char *host)
{
    char err[160];
    int rc;

    rc = mqi_tls_ctx_new(o, &ctx, err, sizeof err);
    cr_assert_eq(rc, MQ_OK, "ctx: %s", err);
    tcp_connect();
    rc = mqi_io_tls_start(&io, ctx, host, o);
    cr_assert_eq(rc, MQ_OK, "tls_start: %s", mqi_io_err);
    cr_assert_neq(io.ops, &mqi_io_plain_ops);
    return handshake();
}

/* CONNECT, then expect CONNACK accepted. */
static void
mqtt_connect_ok(void)
{
    uint8_t in[4];
    int rc;

    rc = write_all(connect_pkt, sizeof connect_pkt);
    cr_assert_eq(rc, MQ_OK, "write: %d %s", rc, mqi_io_err);
    rc = read_exact(in, sizeof in);
    cr_assert_eq(rc, MQ_OK, "read: %d %s", rc, mqi_io_err);
    cr_assert_arr_eq(in, connack_ok, sizeof in);
}

static void
expect_handshake_ok(const mqi_tls_opts *o, const char *host)
{
    int rc = tls_connect(o, host);

    cr_assert_eq(rc, MQ_OK, "handshake: %d %s", rc, mqi_io_err);
    mqtt_connect_ok();
}

/* ---- verification ----------------------------------------------------- */

Test(tls, good_ca_by_name)
{
    mqi_tls_opts o = { .ca_file = cert("ca.crt") };

    start_broker("server", MQT_TLS_LISTENER_TLS);
    expect_handshake_ok(&o, "localhost");
}

Test(tls, good_ca_by_ipv4_literal)
{
    mqi_tls_opts o = { .ca_file = cert("ca.crt") };

    start_broker("server", MQT_TLS_LISTENER_TLS);
    expect_handshake_ok(&o, "127.0.0.1");
}

Test(tls, verify_name_ipv6_literal_in_brackets)
{
    /* The server cert has IP:::1; connect to 127.0.0.1 but verify ::1. */
    mqi_tls_opts o = { .ca_file = cert("ca.crt"), .verify_name = "[::1]" };

    start_broker("server", MQT_TLS_LISTENER_TLS);
    expect_handshake_ok(&o, "127.0.0.1");
}

Test(tls, good_ca_directory)
{
    mqi_tls_opts o = { .ca_path = cert("ca-dir") };

    start_broker("server", MQT_TLS_LISTENER_TLS);
    expect_handshake_ok(&o, "localhost");
}

Test(tls, min_version_13_alpn_and_ciphers)
{
    mqi_tls_opts o = { .ca_file = cert("ca.crt"), .min_version = 13,
                       .alpn = "mqtt,x-test",
                       .ciphers = "TLS_AES_128_GCM_SHA256:"
                                  "TLS_CHACHA20_POLY1305_SHA256" };

    start_broker("server", MQT_TLS_LISTENER_TLS);
    expect_handshake_ok(&o, "localhost");
}

Test(tls, tls12_cipher_list)
{
    mqi_tls_opts o = { .ca_file = cert("ca.crt"), .min_version = 12,
                       .ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256" };

    start_broker("server", MQT_TLS_LISTENER_TLS);
    expect_handshake_ok(&o, "localhost");
}

Test(tls, wrong_ca_fails_verify)
{
    mqi_tls_opts o = { .ca_file = cert("other-ca.crt") };
    int rc;

    start_broker("server", MQT_TLS_LISTENER_TLS);
    rc = tls_connect(&o, "localhost");
    cr_assert_eq(rc, MQ_ERR_TLS, "rc %d", rc);
    cr_assert(strstr(mqi_io_err, "verify") != NULL, "err: %s", mqi_io_err);
    cr_log_info("wrong CA: %s", mqi_io_err);
}

Test(tls, wrong_host_name_fails)
{
    mqi_tls_opts o = { .ca_file = cert("ca.crt") };
    int rc;

    start_broker("wronghost", MQT_TLS_LISTENER_TLS);
    rc = tls_connect(&o, "localhost");
    cr_assert_eq(rc, MQ_ERR_TLS, "rc %d", rc);
    cr_assert(strstr(mqi_io_err, "hostname mismatch") != NULL, "err: %s", mqi_io_err);
    cr_log_info("wrong host: %s", mqi_io_err);
}

Test(tls, wrong_ip_address_fails)
{
    mqi_tls_opts o = { .ca_file = cert("ca.crt"), .verify_name = "10.1.2.3" };
    int rc;

    start_broker("server", MQT_TLS_LISTENER_TLS);
    rc = tls_connect(&o, "127.0.0.1");
    cr_assert_eq(rc, MQ_ERR_TLS, "rc %d", rc);
    cr_assert(strstr(mqi_io_err, "IP address mismatch") != NULL, "err: %s",
              mqi_io_err);
}

Test(tls, verify_name_override_ok)
{
    mqi_tls_opts o = { .ca_file = cert("ca.crt"),
                       .verify_name = "wrong.example.invalid" };

    start_broker("wronghost", MQT_TLS_LISTENER_TLS);
    expect_handshake_ok(&o, "127.0.0.1");
}

Test(tls, expired_certificate_fails)
{
    mqi_tls_opts o = { .ca_file = cert("ca.crt") };
    int rc;

    start_broker("expired", MQT_TLS_LISTENER_TLS);
    rc = tls_connect(&o, "localhost");
    cr_assert_eq(rc, MQ_ERR_TLS, "rc %d", rc);
    cr_assert(strstr(mqi_io_err, "expired") != NULL, "err: %s", mqi_io_err);
    cr_log_info("expired: %s", mqi_io_err);
}

Test(tls, no_ca_uses_system_store_and_rejects_test_ca)
{
    mqi_tls_opts o = { 0 };
    int rc;

    start_broker("server", MQT_TLS_LISTENER_TLS);
    rc = tls_connect(&o, "localhost");
    cr_assert_eq(rc, MQ_ERR_TLS, "rc %d", rc);
    cr_assert(strstr(mqi_io_err, "verify") != NULL, "err: %s", mqi_io_err);
}

Test(tls, insecure_skips_verification)
{
    /* Unrelated CA, wrong host name: both ignored. */
    mqi_tls_opts o = { .ca_file = cert("other-ca.crt"), .insecure = true };

    start_broker("wronghost", MQT_TLS_LISTENER_TLS);
    expect_handshake_ok(&o, "localhost");
}

Test(tls, insecure_accepts_expired)
{
    mqi_tls_opts o = { .insecure = true };

    start_broker("expired", MQT_TLS_LISTENER_TLS);
    expect_handshake_ok(&o, "127.0.0.1");
}

/* ---- mutual TLS ----------------------------------------------------------- */

Test(tls, mutual_tls_with_client_cert)
{
    mqi_tls_opts o = { .ca_file = cert("ca.crt"),
                       .cert_file = cert("client.crt"),
                       .key_file = cert("client.key") };

    start_broker("server", MQT_TLS_LISTENER_MTLS);
    expect_handshake_ok(&o, "localhost");
}

Test(tls, mutual_tls_without_client_cert_fails)
{
    mqi_tls_opts o = { .ca_file = cert("ca.crt") };
    uint8_t in[4];
    int rc;

    start_broker("server", MQT_TLS_LISTENER_MTLS);
    rc = tls_connect(&o, "localhost");
    if (rc == MQ_OK) {
        /* TLS 1.3: the client finishes first; the server's
         * "certificate required" alert arrives on the first read. */
        rc = write_all(connect_pkt, sizeof connect_pkt);
        if (rc == MQ_OK)
            rc = read_exact(in, sizeof in);
    }
    cr_assert(rc == MQ_ERR_TLS || rc == MQ_ERR_CLOSED || rc == MQ_ERR_IO,
              "rc %d err %s", rc, mqi_io_err);
    cr_log_info("mTLS without cert: %d %s", rc, mqi_io_err);
}

/* ---- protocol mix-ups: never hang --------------------------------------- */

Test(tls, plain_client_on_tls_port_no_hang)
{
    uint8_t in[256];
    size_t n;
    int rc;
    long long end;

    start_broker("server", MQT_TLS_LISTENER_TLS);
    tcp_connect(); /* plain ops */
    rc = write_all(connect_pkt, sizeof connect_pkt);
    cr_assert(rc == MQ_OK || rc == MQ_ERR_IO, "write rc %d", rc);
    /* The broker answers with a TLS alert and/or closes: never a CONNACK. */
    end = now_ms() + STEP_MS;
    for (;;) {
        rc = io.ops->read(&io, in, sizeof in, &n);
        if (rc == MQ_OK) {
            cr_assert_neq(in[0], 0x20, "got a CONNACK over plain TCP");
            continue;
        }
        if (rc != MQ_ERR_AGAIN)
            break;
        cr_assert_lt(now_ms(), end, "hung: no close from the broker");
        wait_io(STEP_MS);
    }
    cr_assert(rc == MQ_ERR_CLOSED || rc == MQ_ERR_IO, "rc %d", rc);
}

Test(tls, tls_client_on_plain_port_clear_error)
{
    mqi_tls_opts o = { .ca_file = cert("ca.crt") };
    int rc;

    start_broker(NULL, MQT_TLS_LISTENER_PLAIN);
    rc = tls_connect(&o, "localhost");
    cr_assert(rc == MQ_ERR_TLS, "rc %d err %s", rc, mqi_io_err);
    cr_assert(mqi_io_err[0] != '\0');
    cr_log_info("TLS on plain port: %s", mqi_io_err);
}

/* ---- data path ------------------------------------------------------------ */

Test(tls, large_publish_then_ping)
{
    /* A 256 KiB QoS 0 PUBLISH exercises partial writes and WANT_WRITE;
     * PINGREQ/PINGRESP afterwards shows the stream stayed in sync. */
    mqi_tls_opts o = { .ca_file = cert("ca.crt") };
    size_t payload = 256 * 1024, rl = 3 + payload, len, i = 0;
    static const uint8_t ping[] = { 0xc0, 0x00 };
    uint8_t *pkt, in[2];
    int rc;

    start_broker("server", MQT_TLS_LISTENER_TLS);
    expect_handshake_ok(&o, "localhost");
    pkt = malloc(5 + rl);
    cr_assert_not_null(pkt);
    pkt[i++] = 0x30;
    for (len = rl; ; ) {
        uint8_t b = len % 128;

        len /= 128;
        pkt[i++] = (uint8_t)(b | (len > 0 ? 0x80 : 0));
        if (len == 0)
            break;
    }
    pkt[i++] = 0x00;
    pkt[i++] = 0x01;
    pkt[i++] = 't';
    memset(pkt + i, 'x', payload);
    i += payload;
    rc = write_all(pkt, i);
    free(pkt);
    cr_assert_eq(rc, MQ_OK, "write: %d %s", rc, mqi_io_err);
    rc = write_all(ping, sizeof ping);
    cr_assert_eq(rc, MQ_OK, "write: %d %s", rc, mqi_io_err);
    rc = read_exact(in, sizeof in);
    cr_assert_eq(rc, MQ_OK, "read: %d %s", rc, mqi_io_err);
    cr_assert_eq(in[0], 0xd0);
    cr_assert_eq(in[1], 0x00);
}

Test(tls, broker_close_reads_closed)
{
    mqi_tls_opts o = { .ca_file = cert("ca.crt") };
    static const uint8_t disconnect[] = { 0xe0, 0x00 };
    uint8_t in[16];
    size_t n;
    int rc;

    start_broker("server", MQT_TLS_LISTENER_TLS);
    expect_handshake_ok(&o, "localhost");
    /* After our DISCONNECT the broker closes the connection. */
    rc = write_all(disconnect, sizeof disconnect);
    cr_assert_eq(rc, MQ_OK);
    for (;;) {
        rc = io.ops->read(&io, in, sizeof in, &n);
        if (rc != MQ_ERR_AGAIN)
            break;
        cr_assert(wait_io(STEP_MS), "no close");
    }
    cr_assert_eq(rc, MQ_ERR_CLOSED, "rc %d err %s", rc, mqi_io_err);
}

/* ---- context errors (no broker) ----------------------------------------- */

static void
expect_ctx_error(const mqi_tls_opts *o, const char *needle)
{
    char err[160] = "x";
    void *c = (void *)1;
    int rc = mqi_tls_ctx_new(o, &c, err, sizeof err);

    cr_assert_eq(rc, MQ_ERR_TLS, "rc %d", rc);
    cr_assert_null(c);
    cr_assert(strstr(err, needle) != NULL, "err: %s (want %s)", err, needle);
    cr_log_info("ctx error: %s", err);
}

Test(tls, ctx_missing_ca_file)
{
    mqi_tls_opts o = { .ca_file = "/nonexistent/ca.crt" };

    expect_ctx_error(&o, "/nonexistent/ca.crt");
}

Test(tls, ctx_missing_ca_dir)
{
    mqi_tls_opts o = { .ca_path = "/nonexistent-dir" };

    expect_ctx_error(&o, "No such file");
}

Test(tls, ctx_bad_min_version)
{
    mqi_tls_opts o = { .min_version = 11 };

    expect_ctx_error(&o, "version");
}

Test(tls, ctx_bad_ciphers)
{
    mqi_tls_opts o = { .ciphers = "NO-SUCH-CIPHER" };

    expect_ctx_error(&o, "cipher");
}

Test(tls, ctx_bad_alpn)
{
    mqi_tls_opts o = { .alpn = "mqtt,,x" };

    expect_ctx_error(&o, "ALPN");
}

Test(tls, ctx_key_does_not_match_cert)
{
    mqi_tls_opts o = { .cert_file = cert("client.crt"),
                       .key_file = cert("server.key") };

    expect_ctx_error(&o, "match");
}

Test(tls, ctx_key_without_cert)
{
    mqi_tls_opts o = { .key_file = cert("client.key") };

    expect_ctx_error(&o, "key");
}

Test(tls, ctx_encrypted_key_refused_without_prompt)
{
    mqi_tls_opts o = { .cert_file = cert("client.crt"),
                       .key_file = cert("client-enc.key") };

    expect_ctx_error(&o, "client-enc.key");
}

Test(tls, ctx_default_paths_and_free)
{
    mqi_tls_opts o = { 0 };
    char err[160];
    int rc;

    rc = mqi_tls_ctx_new(&o, &ctx, err, sizeof err);
    cr_assert_eq(rc, MQ_OK, "%s", err);
    cr_assert_not_null(ctx);
    mqi_tls_ctx_free(ctx);
    rc = mqi_tls_ctx_new(NULL, &ctx, err, sizeof err); /* NULL = defaults */
    cr_assert_eq(rc, MQ_OK, "%s", err);
    mqi_tls_ctx_free(ctx);
    ctx = NULL;
    mqi_tls_ctx_free(NULL);
}

Test(tls, start_without_host_name_refused)
{
    mqi_tls_opts o = { .ca_file = cert("ca.crt") };
    char err[160];

    cr_assert_eq(mqi_tls_ctx_new(&o, &ctx, err, sizeof err), MQ_OK);
    start_broker("server", MQT_TLS_LISTENER_TLS);
    tcp_connect();
    cr_assert_eq(mqi_io_tls_start(&io, ctx, NULL, &o), MQ_ERR_TLS);
    cr_assert_eq(io.ops, &mqi_io_plain_ops, "io must be left unchanged");
    cr_assert_null(io.layer);
}
