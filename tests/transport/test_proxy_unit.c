/*
 * test_proxy_unit.c - the proxy pieces of transport_proxy.c without a
 * network: proxy URI parsing (schemes, credentials with % escapes, IPv6,
 * default port, errors), no_proxy matching (names and subdomains, "*",
 * ports, IPv4/IPv6 literals and CIDR blocks), and the handshake layer
 * driven over a socketpair by a scripted proxy (HTTP 200 with nothing
 * read past the head, SOCKS5 with and without user/password, and the
 * exact bytes of each request).
 *
 * Threading: single-threaded; the scripted peer is the other end of the
 * socketpair, written and read by the test between handshake calls.
 */
#include <criterion/criterion.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mq.h"
#include "transport.h"

static int
parse(const char *uri, bool bare, mqi_proxy *p)
{
    char err[200];
    int rc = mqi_proxy_parse(uri, bare, p, err, sizeof err);

    if (rc != MQ_OK)
        cr_log_info("%s -> %s", uri ? uri : "(null)", err);
    return rc;
}

Test(proxy_uri, schemes_and_defaults)
{
    mqi_proxy p;

    cr_assert_eq(parse("http://proxy.example:3128", false, &p), MQ_OK);
    cr_expect_eq(p.kind, MQI_PROXY_HTTP);
    cr_expect_str_eq(p.host, "proxy.example");
    cr_expect_eq(p.port, 3128);
    cr_expect_null(p.user);
    mqi_proxy_free(&p);
    cr_assert_eq(parse("SOCKS5H://10.1.2.3/", false, &p), MQ_OK);
    cr_expect_eq(p.kind, MQI_PROXY_SOCKS5);
    cr_expect_eq(p.port, 1080);
    mqi_proxy_free(&p);
    cr_assert_eq(parse("socks5://[::1]:9050", false, &p), MQ_OK);
    cr_expect_str_eq(p.host, "::1");
    cr_expect_eq(p.port, 9050);
    mqi_proxy_free(&p);
    /* environment values may lack the scheme */
    cr_assert_eq(parse("proxy:8080", true, &p), MQ_OK);
    cr_expect_eq(p.kind, MQI_PROXY_HTTP);
    cr_expect_eq(p.port, 8080);
    mqi_proxy_free(&p);
    cr_expect_eq(parse("proxy:8080", false, &p), MQ_ERR_URI);
}

Test(proxy_uri, credentials)
{
    mqi_proxy p;

    cr_assert_eq(parse("http://al%40ice:p%3Aw@h:1", false, &p), MQ_OK);
    cr_expect_str_eq(p.user, "al@ice");
    cr_expect_str_eq(p.pass, "p:w");
    mqi_proxy_free(&p);
    /* '@' in the password without escaping: the last '@' ends it */
    cr_assert_eq(parse("socks5://u:a@b@h", false, &p), MQ_OK);
    cr_expect_str_eq(p.pass, "a@b");
    cr_expect_str_eq(p.host, "h");
    mqi_proxy_free(&p);
    cr_assert_eq(parse("http://onlyuser@h", false, &p), MQ_OK);
    cr_expect_str_eq(p.user, "onlyuser");
    cr_expect_null(p.pass);
    mqi_proxy_free(&p);
}

Test(proxy_uri, errors)
{
    static const char *const bad[] = {
        "", "ftp://h", "http://", "http://:80", "http://h:", "http://h:0",
        "http://h:65536", "http://h:12a", "http://h/path", "http://[::1",
        "http://[::1]x", "http://u:%4@h", "http://u:%00@h", "http://h h",
    };
    size_t i;
    mqi_proxy p;

    for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_expect_eq(parse(bad[i], false, &p), MQ_ERR_URI, "%s", bad[i]);
    cr_expect_eq(parse("https://h", false, &p), MQ_ERR_NOT_SUPPORTED);
    cr_expect_eq(parse("socks4a://h", false, &p), MQ_ERR_NOT_SUPPORTED);
    cr_expect_eq(parse(NULL, false, &p), MQ_ERR_URI);
}

Test(no_proxy, names)
{
    cr_expect(mqi_no_proxy_match("example.com", "example.com", 1883));
    cr_expect(mqi_no_proxy_match("example.com", "broker.EXAMPLE.com", 1));
    cr_expect(mqi_no_proxy_match(".example.com", "a.b.example.com", 1));
    cr_expect(mqi_no_proxy_match("*.example.com", "a.example.com", 1));
    cr_expect(!mqi_no_proxy_match("example.com", "badexample.com", 1));
    cr_expect(!mqi_no_proxy_match("example.com", "example.com.evil", 1));
    cr_expect(mqi_no_proxy_match(" a , b ,example.com", "example.com.", 1));
    cr_expect(mqi_no_proxy_match("*", "anything", 1));
    cr_expect(!mqi_no_proxy_match("", "anything", 1));
    cr_expect(!mqi_no_proxy_match(NULL, "anything", 1));
    cr_expect(mqi_no_proxy_match("host:8883", "host", 8883));
    cr_expect(!mqi_no_proxy_match("host:8883", "host", 1883));
}

Test(no_proxy, addresses)
{
    cr_expect(mqi_no_proxy_match("127.0.0.1", "127.0.0.1", 1));
    cr_expect(mqi_no_proxy_match("10.0.0.0/8", "10.200.3.4", 1));
    cr_expect(!mqi_no_proxy_match("10.0.0.0/8", "11.0.0.1", 1));
    cr_expect(mqi_no_proxy_match("192.168.1.0/25", "192.168.1.127", 1));
    cr_expect(!mqi_no_proxy_match("192.168.1.0/25", "192.168.1.128", 1));
    cr_expect(mqi_no_proxy_match("::1", "::1", 1));
    cr_expect(mqi_no_proxy_match("[::1]:1883", "::1", 1883));
    cr_expect(!mqi_no_proxy_match("[::1]:1883", "::1", 8883));
    cr_expect(mqi_no_proxy_match("fd00::/8", "fd12:3456::1", 1));
    cr_expect(!mqi_no_proxy_match("fd00::/8", "fe80::1", 1));
    /* an address entry never matches a name, nor a name an address */
    cr_expect(!mqi_no_proxy_match("127.0.0.1", "localhost", 1));
    cr_expect(!mqi_no_proxy_match("localhost", "127.0.0.1", 1));
    cr_expect(!mqi_no_proxy_match("10.0.0.0/8", "::ffff:10.0.0.1", 1));
}

/* ---- the layer over a socketpair ------------------------------------------ */

static int sp[2];
static mqi_io io;

static void
layer_start(const char *uri, const char *host, uint16_t port)
{
    mqi_proxy p;

    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sp), 0);
    memset(&io, 0, sizeof io);
    io.ops = &mqi_io_plain_ops;
    io.fd = sp[0];
    cr_assert_eq(parse(uri, false, &p), MQ_OK);
    cr_assert_eq(mqi_io_proxy_start(&io, &p, host, port), MQ_OK);
    mqi_proxy_free(&p); /* the layer keeps its own copies */
    cr_assert(mqi_io_is_proxy(&io));
}

static void
layer_end(void)
{
    if (io.ops != NULL && io.ops->close != NULL)
        io.ops->close(&io);
    close(sp[0]);
    close(sp[1]);
}

/* What the client sent so far, as a string (binary-safe length). */
static size_t
peer_read(uint8_t *buf, size_t cap)
{
    ssize_t n = recv(sp[1], buf, cap, MSG_DONTWAIT);

    return n > 0 ? (size_t)n : 0;
}

static void
peer_write(const void *b, size_t n)
{
    cr_assert_eq(send(sp[1], b, n, 0), (ssize_t)n);
}

Test(proxy_layer, http_connect_leaves_the_tunnel_bytes)
{
    uint8_t buf[600];
    size_t n;
    const char *ans = "HTTP/1.1 200 Connection established\r\nVia: x\r\n\r\n";

    layer_start("http://u:p@127.0.0.1:3128", "broker.example", 8883);
    cr_assert_eq(io.ops->handshake(&io), MQ_ERR_AGAIN);
    n = peer_read(buf, sizeof buf - 1);
    buf[n] = '\0';
    cr_expect_str_eq((char *)buf, "CONNECT broker.example:8883 HTTP/1.1\r\n"
                     "Host: broker.example:8883\r\n"
                     "Proxy-Authorization: Basic dTpw\r\n\r\n");
    /* the answer in two pieces, and the broker's first bytes right after */
    peer_write(ans, 20);
    cr_assert_eq(io.ops->handshake(&io), MQ_ERR_AGAIN);
    peer_write(ans + 20, strlen(ans) - 20);
    peer_write("\x20\x02", 2);
    cr_assert_eq(io.ops->handshake(&io), MQ_OK);
    mqi_io_proxy_done(&io);
    cr_expect(!mqi_io_is_proxy(&io));
    cr_expect_eq(recv(sp[0], buf, sizeof buf, 0), 2, "tunnel bytes taken");
    cr_expect_eq(buf[0], 0x20);
    layer_end();
}

Test(proxy_layer, http_ipv6_target_and_refusal)
{
    uint8_t buf[600];
    size_t n;
    const char *ans = "HTTP/1.0 502 Bad Gateway\r\n\r\n";

    layer_start("http://127.0.0.1:3128", "::1", 1883);
    cr_assert_eq(io.ops->handshake(&io), MQ_ERR_AGAIN);
    n = peer_read(buf, sizeof buf - 1);
    buf[n] = '\0';
    cr_expect(strncmp((char *)buf, "CONNECT [::1]:1883 HTTP/1.1\r\n", 29) == 0,
              "%s", buf);
    cr_expect(strstr((char *)buf, "Proxy-Authorization") == NULL);
    peer_write(ans, strlen(ans));
    cr_assert_eq(io.ops->handshake(&io), MQ_ERR_PROXY);
    cr_expect(strstr(mqi_io_err, "502") != NULL, "%s", mqi_io_err);
    layer_end();
}

Test(proxy_layer, http_not_a_proxy)
{
    layer_start("http://127.0.0.1:3128", "h", 1);
    cr_assert_eq(io.ops->handshake(&io), MQ_ERR_AGAIN);
    peer_write("SSH-2.0-OpenSSH\r\n\r\n", 19);
    cr_assert_eq(io.ops->handshake(&io), MQ_ERR_PROXY);
    cr_expect(strstr(mqi_io_err, "not an HTTP proxy") != NULL, "%s", mqi_io_err);
    layer_end();
}

Test(proxy_layer, socks5_user_password_name)
{
    uint8_t buf[600];
    static const uint8_t rep[] = { 5, 0, 0, 3, 4, 'a', 'b', 'c', 'd', 0, 1 };
    static const uint8_t want_req[] = { 5, 1, 0, 3, 9, 'b', 'r', 'o', 'k',
                                        'e', 'r', '.', 'e', 'x', 0x07, 0x5B };

    layer_start("socks5h://bob:pw@127.0.0.1", "broker.ex", 1883);
    cr_assert_eq(io.ops->handshake(&io), MQ_ERR_AGAIN);
    cr_assert_eq(peer_read(buf, sizeof buf), 4);
    cr_expect(memcmp(buf, "\x05\x02\x00\x02", 4) == 0);
    peer_write("\x05\x02", 2);
    cr_assert_eq(io.ops->handshake(&io), MQ_ERR_AGAIN);
    cr_assert_eq(peer_read(buf, sizeof buf), 1 + 1 + 3 + 1 + 2);
    cr_expect(memcmp(buf, "\x01\x03" "bob" "\x02" "pw", 8) == 0);
    peer_write("\x01\x00", 2);
    cr_assert_eq(io.ops->handshake(&io), MQ_ERR_AGAIN);
    cr_assert_eq(peer_read(buf, sizeof buf), sizeof want_req);
    cr_expect(memcmp(buf, want_req, sizeof want_req) == 0);
    peer_write(rep, 6); /* in two pieces */
    cr_assert_eq(io.ops->handshake(&io), MQ_ERR_AGAIN);
    peer_write(rep + 6, sizeof rep - 6);
    peer_write("M", 1);
    cr_assert_eq(io.ops->handshake(&io), MQ_OK);
    cr_expect_eq(recv(sp[0], buf, sizeof buf, 0), 1, "tunnel byte taken");
    layer_end();
}

Test(proxy_layer, socks5_ipv4_target_and_failures)
{
    uint8_t buf[64];
    static const uint8_t want_req[] = { 5, 1, 0, 1, 127, 0, 0, 1, 0x22, 0xB3 };

    layer_start("socks5://127.0.0.1:1080", "127.0.0.1", 8883);
    cr_assert_eq(io.ops->handshake(&io), MQ_ERR_AGAIN);
    cr_assert_eq(peer_read(buf, sizeof buf), 3);
    cr_expect(memcmp(buf, "\x05\x01\x00", 3) == 0);
    peer_write("\x05\x00", 2);
    cr_assert_eq(io.ops->handshake(&io), MQ_ERR_AGAIN);
    cr_assert_eq(peer_read(buf, sizeof buf), sizeof want_req);
    cr_expect(memcmp(buf, want_req, sizeof want_req) == 0);
    peer_write("\x05\x05\x00\x01\x00", 5);
    cr_assert_eq(io.ops->handshake(&io), MQ_ERR_PROXY);
    cr_expect(strstr(mqi_io_err, "connection refused") != NULL, "%s", mqi_io_err);
    layer_end();

    layer_start("socks5://127.0.0.1:1080", "h", 1);
    cr_assert_eq(io.ops->handshake(&io), MQ_ERR_AGAIN);
    peer_read(buf, sizeof buf);
    peer_write("\x05\xFF", 2);
    cr_assert_eq(io.ops->handshake(&io), MQ_ERR_PROXY_AUTH);
    layer_end();

    layer_start("socks5://127.0.0.1:1080", "h", 1);
    cr_assert_eq(io.ops->handshake(&io), MQ_ERR_AGAIN);
    peer_read(buf, sizeof buf);
    peer_write("HTTP", 4);
    cr_assert_eq(io.ops->handshake(&io), MQ_ERR_PROXY);
    cr_expect(strstr(mqi_io_err, "not a SOCKS5 proxy") != NULL, "%s", mqi_io_err);
    layer_end();
}

Test(proxy_layer, bad_target_and_data_before_open)
{
    mqi_proxy p;
    size_t n;
    uint8_t b[4];

    memset(&io, 0, sizeof io);
    io.fd = 5;
    cr_assert_eq(parse("http://h", false, &p), MQ_OK);
    cr_expect_eq(mqi_io_proxy_start(&io, &p, "a\r\nb", 1), MQ_ERR_INVAL);
    cr_expect_eq(mqi_io_proxy_start(NULL, &p, "a", 1), MQ_ERR_INVAL);
    mqi_proxy_free(&p);
    layer_start("http://127.0.0.1:3128", "h", 1);
    cr_expect_eq(io.ops->read(&io, b, sizeof b, &n), MQ_ERR_IO);
    cr_expect_eq(io.ops->write(&io, b, sizeof b, &n), MQ_ERR_IO);
    layer_end();
}
