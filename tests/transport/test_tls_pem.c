/*
 * test_tls_pem.c - in-memory PEM (CA, client certificate, client key) and
 * key passwords (text option and callback) in transport_tls.c, against a
 * real mosquitto with mutual TLS. These need the mqi_tls_opts fields that
 * transport.h declares together with MQI_TLS_OPTS_HAVE_PEM; without them
 * the suite is one skipped test.
 *
 * Threading: each test runs in its own process (Criterion); the test
 * thread plays the worker with poll().
 */
#ifndef MQ_HAVE_TLS
#define MQ_HAVE_TLS 1 /* only built when OpenSSL is found */
#endif

#include <criterion/criterion.h>

#include "mq.h"
#include "transport.h"

#ifndef MQI_TLS_OPTS_HAVE_PEM

Test(tls_pem, not_available)
{
    cr_skip_test("mqi_tls_opts has no PEM/password fields yet");
}

#else

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tls_broker.h"

#define STEP_MS 5000

static char certdir[256];
static mqt_tls_broker broker;
static void *ctx;
static mqi_io io = { NULL, -1, 0, NULL };
static char *pems[8];
static int npems;

static void
setup(void)
{
    if (!mqt_tls_have_mosquitto())
        cr_skip_test("mosquitto not installed");
    cr_assert_eq(mqt_tls_make_certs(certdir, sizeof certdir), 0);
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
    while (npems > 0)
        free(pems[--npems]);
}

TestSuite(tls_pem, .init = setup, .fini = teardown, .timeout = 60);

/* The content of <certdir>/<name> as a string (freed at teardown). */
static const char *
pem(const char *name)
{
    char path[320];
    FILE *f;
    long n;
    char *s;

    snprintf(path, sizeof path, "%s/%s", certdir, name);
    f = fopen(path, "rb");
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    rewind(f);
    s = calloc(1, (size_t)n + 1);
    cr_assert_eq(fread(s, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    cr_assert_lt(npems, 8);
    pems[npems++] = s;
    return s;
}

static const char *
file(const char *name)
{
    static char buf[4][320];
    static int i;

    i = (i + 1) % 4;
    snprintf(buf[i], sizeof buf[i], "%s/%s", certdir, name);
    return buf[i];
}

static int
fcntl_nb(int fd)
{
    int fl = fcntl(fd, F_GETFL);

    return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static int
wait_io(void)
{
    struct pollfd p = { io.fd, 0, 0 };

    p.events = (short)(((io.want & EPOLLIN) ? POLLIN : 0)
                       | ((io.want & EPOLLOUT) ? POLLOUT : 0));
    if (p.events == 0)
        p.events = POLLIN;
    return poll(&p, 1, STEP_MS) > 0;
}

/* TLS to the mutual-TLS broker, then MQTT CONNECT -> CONNACK 0. */
static int
connect_mqtt(const mqi_tls_opts *o)
{
    static const uint8_t conn[] = { 0x10, 0x0c, 0x00, 0x04, 'M', 'Q', 'T',
                                    'T', 0x04, 0x02, 0x00, 0x3c, 0x00, 0x00 };
    struct sockaddr_in a;
    uint8_t ack[4];
    size_t off = 0, n;
    char err[160];
    int fd, rc;

    rc = mqi_tls_ctx_new(o, &ctx, err, sizeof err);
    cr_assert_eq(rc, MQ_OK, "ctx: %s", err);
    cr_assert_eq(mqt_tls_broker_start(&broker, certdir, "server",
                                      MQT_TLS_LISTENER_MTLS), 0);
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)broker.port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    cr_assert_eq(fcntl_nb(fd), 0);
    io.fd = fd;
    io.ops = &mqi_io_plain_ops;
    cr_assert_eq(mqi_io_tls_start(&io, ctx, "localhost", o), MQ_OK, "%s",
                 mqi_io_err);
    while ((rc = io.ops->handshake(&io)) == MQ_ERR_AGAIN)
        cr_assert(wait_io(), "handshake stuck");
    if (rc != MQ_OK)
        return rc;
    while (off < sizeof conn) {
        rc = io.ops->write(&io, conn + off, sizeof conn - off, &n);
        if (rc == MQ_ERR_AGAIN) {
            cr_assert(wait_io());
            continue;
        }
        if (rc != MQ_OK)
            return rc;
        off += n;
    }
    off = 0;
    while (off < sizeof ack) {
        rc = io.ops->read(&io, ack + off, sizeof ack - off, &n);
        if (rc == MQ_ERR_AGAIN) {
            cr_assert(wait_io());
            continue;
        }
        if (rc != MQ_OK)
            return rc;
        off += n;
    }
    cr_assert_eq(ack[0], 0x20);
    cr_assert_eq(ack[3], 0x00, "CONNACK return code %d", ack[3]);
    return MQ_OK;
}

static void
expect_ctx_error(const mqi_tls_opts *o, const char *needle)
{
    char err[160];
    int rc = mqi_tls_ctx_new(o, &ctx, err, sizeof err);

    cr_assert_eq(rc, MQ_ERR_TLS, "rc %d (%s)", rc, err);
    cr_assert_null(ctx);
    cr_assert_not_null(strstr(err, needle), "\"%s\" lacks \"%s\"", err,
                       needle);
}

static int
pw_cb(char *buf, int size, void *userdata)
{
    const char *pw = userdata;
    int n = (int)strlen(pw);

    if (n > size)
        return -1;
    memcpy(buf, pw, (size_t)n);
    return n;
}

Test(tls_pem, all_from_memory)
{
    mqi_tls_opts o = { 0 };

    o.ca_pem = pem("ca.crt");
    o.cert_pem = pem("client.crt");
    o.key_pem = pem("client.key");
    cr_assert_eq(connect_mqtt(&o), MQ_OK, "%s", mqi_io_err);
}

Test(tls_pem, cert_and_key_in_one_pem)
{
    mqi_tls_opts o = { 0 };
    char *both;

    o.ca_pem = pem("ca.crt");
    both = malloc(strlen(pem("client.crt")) + strlen(pem("client.key")) + 1);
    strcpy(both, pems[npems - 2]);
    strcat(both, pems[npems - 1]);
    pems[npems++] = both;
    o.cert_pem = both;
    cr_assert_eq(connect_mqtt(&o), MQ_OK, "%s", mqi_io_err);
}

Test(tls_pem, encrypted_key_pem_with_password)
{
    mqi_tls_opts o = { 0 };

    o.ca_pem = pem("ca.crt");
    o.cert_pem = pem("client.crt");
    o.key_pem = pem("client-enc.key");
    o.key_password = "secret";
    cr_assert_eq(connect_mqtt(&o), MQ_OK, "%s", mqi_io_err);
}

Test(tls_pem, encrypted_key_file_with_callback)
{
    mqi_tls_opts o = { 0 };

    o.ca_file = file("ca.crt");
    o.cert_file = file("client.crt");
    o.key_file = file("client-enc.key");
    o.key_password_cb = pw_cb;
    o.key_password_userdata = "secret";
    cr_assert_eq(connect_mqtt(&o), MQ_OK, "%s", mqi_io_err);
}

Test(tls_pem, encrypted_key_file_with_password)
{
    mqi_tls_opts o = { 0 };

    o.ca_file = file("ca.crt");
    o.cert_file = file("client.crt");
    o.key_file = file("client-enc.key");
    o.key_password = "secret";
    cr_assert_eq(connect_mqtt(&o), MQ_OK, "%s", mqi_io_err);
}

Test(tls_pem, encrypted_key_without_password)
{
    mqi_tls_opts o = { 0 };

    o.cert_pem = pem("client.crt");
    o.key_pem = pem("client-enc.key");
    expect_ctx_error(&o, "encrypted and no password");
}

Test(tls_pem, encrypted_key_wrong_password)
{
    mqi_tls_opts o = { 0 };

    o.cert_file = file("client.crt");
    o.key_file = file("client-enc.key");
    o.key_password = "not-it";
    expect_ctx_error(&o, "wrong password");
}

Test(tls_pem, ca_pem_garbage)
{
    mqi_tls_opts o = { 0 };

    o.ca_pem = "hello, not a certificate\n";
    expect_ctx_error(&o, "CA PEM");
}

Test(tls_pem, cert_pem_garbage)
{
    mqi_tls_opts o = { 0 };

    o.cert_pem = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    o.key_pem = pem("client.key");
    expect_ctx_error(&o, "certificate PEM");
}

Test(tls_pem, cert_file_and_pem_both_refused)
{
    mqi_tls_opts o = { 0 };

    o.cert_file = file("client.crt");
    o.cert_pem = pem("client.crt");
    expect_ctx_error(&o, "once");
}

Test(tls_pem, ca_pem_of_other_ca_fails_verify)
{
    mqi_tls_opts o = { 0 };
    int rc;

    o.ca_pem = pem("other-ca.crt");
    o.cert_pem = pem("client.crt");
    o.key_pem = pem("client.key");
    rc = connect_mqtt(&o);
    cr_assert_eq(rc, MQ_ERR_TLS, "rc %d", rc);
    cr_assert_not_null(strstr(mqi_io_err, "certificate verify failed"), "%s",
                       mqi_io_err);
}

#endif /* MQI_TLS_OPTS_HAVE_PEM */
