/*
 * transport_proxy.c - proxies between libmq and the broker: proxy URIs
 * (http://, socks5://, socks5h://) and no_proxy lists (pure functions),
 * and a non-blocking mqi_io layer that opens a tunnel through an HTTP
 * proxy (CONNECT, RFC 9110 §9.3.6, with Basic auth) or a SOCKS5 proxy
 * (RFC 1928, with user/password of RFC 1929; the broker's host name is
 * resolved by the proxy) before the broker's own transport (TCP, TLS,
 * WebSocket) starts on the same socket.
 *
 * The layer never reads past the proxy's answer (HTTP: peek, then take
 * exactly the header; SOCKS: exact lengths), so whatever the broker sends
 * later is left on the socket for the next layer.
 *
 * Threading: the parsers are pure (any thread); the layer runs on the
 * worker thread only, like every mqi_io.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "mq.h"
#include "transport.h"

#define PX_DEFAULT_PORT 1080 /* as curl: for every proxy scheme */
#define PX_HEAD_MAX 4096     /* limit for the HTTP answer's head */

/* ---- URIs ----------------------------------------------------------------- */

static int
hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decode @p len bytes of @p s into a new string; NULL on a bad
 * escape, an embedded NUL, or no memory (*nomem then set). */
static char *
pct_decode(const char *s, size_t len, bool *nomem)
{
    char *d = malloc(len + 1);
    size_t i, o = 0;

    if (d == NULL) {
        *nomem = true;
        return NULL;
    }
    for (i = 0; i < len; i++) {
        int hi, lo;

        if (s[i] != '%') {
            d[o++] = s[i];
            continue;
        }
        if (i + 2 >= len) { /* two hex digits must follow */
            free(d);
            return NULL;
        }
        hi = hexval((unsigned char)s[i + 1]);
        lo = hexval((unsigned char)s[i + 2]);
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
            free(d);
            return NULL;
        }
        d[o++] = (char)(hi << 4 | lo);
        i += 2;
    }
    d[o] = '\0';
    return d;
}

void
mqi_proxy_free(mqi_proxy *p)
{
    if (p == NULL)
        return;
    free(p->host);
    free(p->user);
    if (p->pass != NULL)
        memset(p->pass, 0, strlen(p->pass));
    free(p->pass);
    memset(p, 0, sizeof *p);
}

int
mqi_proxy_parse(const char *uri, bool bare_http, mqi_proxy *p, char *err,
                size_t errlen)
{
    const char *s, *end, *at, *hs, *he, *port = NULL;
    bool nomem = false;
    size_t n;

    memset(p, 0, sizeof *p);
    if (uri == NULL || uri[0] == '\0') {
        snprintf(err, errlen, "empty proxy URI");
        return MQ_ERR_URI;
    }
    s = strstr(uri, "://");
    if (s == NULL) {
        if (!bare_http) {
            snprintf(err, errlen, "proxy \"%.100s\": give a scheme "
                     "(http://, socks5:// or socks5h://)", uri);
            return MQ_ERR_URI;
        }
        p->kind = MQI_PROXY_HTTP;
        s = uri;
    } else {
        n = (size_t)(s - uri);
        if ((n == 4 && strncasecmp(uri, "http", 4) == 0))
            p->kind = MQI_PROXY_HTTP;
        else if ((n == 6 && strncasecmp(uri, "socks5", 6) == 0)
                 || (n == 7 && strncasecmp(uri, "socks5h", 7) == 0))
            p->kind = MQI_PROXY_SOCKS5;
        else if ((n == 5 && strncasecmp(uri, "https", 5) == 0)
                 || (n == 6 && strncasecmp(uri, "socks4", 6) == 0)
                 || (n == 7 && strncasecmp(uri, "socks4a", 7) == 0)) {
            snprintf(err, errlen, "proxy \"%.100s\": %.*s:// proxies are not "
                     "supported (use http://, socks5:// or socks5h://)", uri,
                     (int)n, uri);
            return MQ_ERR_NOT_SUPPORTED;
        } else {
            snprintf(err, errlen, "proxy \"%.100s\": unknown scheme", uri);
            return MQ_ERR_URI;
        }
        s += 3;
    }
    /* authority ends at '/', '?' or '#'; only an empty path may follow */
    end = s + strcspn(s, "/?#");
    if (*end != '\0' && strcmp(end, "/") != 0) {
        snprintf(err, errlen, "proxy \"%.100s\": a path is not allowed", uri);
        return MQ_ERR_URI;
    }
    at = NULL;
    for (hs = s; hs < end; hs++)
        if (*hs == '@')
            at = hs;
    hs = s;
    if (at != NULL) {
        const char *colon = memchr(s, ':', (size_t)(at - s));
        size_t ulen = colon != NULL ? (size_t)(colon - s) : (size_t)(at - s);

        p->user = pct_decode(s, ulen, &nomem);
        if (p->user != NULL && colon != NULL)
            p->pass = pct_decode(colon + 1, (size_t)(at - colon - 1), &nomem);
        if (p->user == NULL || (colon != NULL && p->pass == NULL)) {
            mqi_proxy_free(p);
            if (nomem)
                return MQ_ERR_NOMEM;
            snprintf(err, errlen, "proxy URI: bad %% escape in the user "
                     "name or password");
            return MQ_ERR_URI;
        }
        if (strlen(p->user) > 255 || (p->pass && strlen(p->pass) > 255)) {
            mqi_proxy_free(p);
            snprintf(err, errlen, "proxy URI: user name or password over "
                     "255 bytes");
            return MQ_ERR_URI;
        }
        hs = at + 1;
    }
    if (hs < end && *hs == '[') {
        he = memchr(hs, ']', (size_t)(end - hs));
        if (he == NULL)
            goto bad;
        hs++;
        if (he + 1 < end) {
            if (he[1] != ':')
                goto bad;
            port = he + 2;
        }
    } else {
        he = memchr(hs, ':', (size_t)(end - hs));
        if (he != NULL)
            port = he + 1;
        else
            he = end;
    }
    n = (size_t)(he - hs);
    if (n == 0 || n > 255)
        goto bad;
    for (at = hs; at < he; at++)
        if ((unsigned char)*at <= 0x20 || *at == '@' || *at == '/'
            || *at == 0x7f)
            goto bad;
    p->port = PX_DEFAULT_PORT;
    if (port != NULL) {
        unsigned long v = 0;

        if (port == end)
            goto bad;
        for (at = port; at < end; at++) {
            if (*at < '0' || *at > '9')
                goto bad;
            v = v * 10 + (unsigned long)(*at - '0');
            if (v > 65535)
                goto bad;
        }
        if (v == 0)
            goto bad;
        p->port = (uint16_t)v;
    }
    p->host = malloc(n + 1);
    if (p->host == NULL) {
        mqi_proxy_free(p);
        return MQ_ERR_NOMEM;
    }
    memcpy(p->host, hs, n);
    p->host[n] = '\0';
    return MQ_OK;
bad:
    mqi_proxy_free(p);
    snprintf(err, errlen, "proxy \"%.100s\": bad host or port", uri);
    return MQ_ERR_URI;
}

/* ---- no_proxy ------------------------------------------------------------- */

/* Parse an IP literal (brackets allowed): family and 16 address bytes. */
static int
parse_ip(const char *s, size_t len, unsigned char addr[16])
{
    char buf[64];

    if (len >= 2 && s[0] == '[' && s[len - 1] == ']') {
        s++;
        len -= 2;
    }
    if (len == 0 || len >= sizeof buf)
        return 0;
    memcpy(buf, s, len);
    buf[len] = '\0';
    memset(addr, 0, 16);
    if (inet_pton(AF_INET, buf, addr) == 1)
        return AF_INET;
    if (inet_pton(AF_INET6, buf, addr) == 1)
        return AF_INET6;
    return 0;
}

static bool
prefix_equal(const unsigned char *a, const unsigned char *b, unsigned bits)
{
    unsigned full = bits / 8, rest = bits % 8;

    if (memcmp(a, b, full) != 0)
        return false;
    if (rest == 0)
        return true;
    return ((a[full] ^ b[full]) & (0xFF << (8 - rest))) == 0;
}

/* One no_proxy entry against the host (name or IP literal) and port. */
static bool
entry_matches(const char *e, size_t len, const char *host, size_t hlen,
              int hfam, const unsigned char *haddr, uint16_t port)
{
    const char *colon, *slash;
    unsigned char eaddr[16];
    int efam;

    /* ":port" after a name, an IPv4 address or a bracketed IPv6 one */
    colon = NULL;
    if (len > 0 && e[0] == '[') {
        const char *rb = memchr(e, ']', len);

        if (rb != NULL && (size_t)(rb - e) + 1 < len && rb[1] == ':')
            colon = rb + 1;
    } else {
        const char *c1 = memchr(e, ':', len);

        if (c1 != NULL && memchr(c1 + 1, ':', len - (size_t)(c1 - e) - 1)
                              == NULL)
            colon = c1; /* exactly one colon: not a bare IPv6 address */
    }
    if (colon != NULL) {
        unsigned long v = strtoul(colon + 1, NULL, 10);

        if (v != port)
            return false;
        len = (size_t)(colon - e);
    }
    if (len == 1 && e[0] == '*')
        return true;
    slash = memchr(e, '/', len);
    efam = parse_ip(e, slash != NULL ? (size_t)(slash - e) : len, eaddr);
    if (efam != 0) {
        unsigned bits = efam == AF_INET ? 32 : 128;

        if (hfam != efam)
            return false;
        if (slash != NULL) {
            unsigned long b = strtoul(slash + 1, NULL, 10);

            if (b > bits)
                return false;
            bits = (unsigned)b;
        }
        return prefix_equal(haddr, eaddr, bits);
    }
    if (hfam != 0)
        return false; /* a name never matches an address */
    if (len >= 2 && e[0] == '*' && e[1] == '.') {
        e += 2;
        len -= 2;
    } else if (len >= 1 && e[0] == '.') {
        e++;
        len--;
    }
    if (len == 0)
        return false;
    if (hlen == len)
        return strncasecmp(host, e, len) == 0;
    return hlen > len && host[hlen - len - 1] == '.'
           && strncasecmp(host + hlen - len, e, len) == 0;
}

bool
mqi_no_proxy_match(const char *list, const char *host, uint16_t port)
{
    unsigned char haddr[16];
    size_t hlen;
    int hfam;

    if (list == NULL || host == NULL)
        return false;
    hlen = strlen(host);
    if (hlen > 0 && host[hlen - 1] == '.')
        hlen--; /* "example.com." is "example.com" */
    hfam = parse_ip(host, hlen, haddr);
    while (*list != '\0') {
        size_t len;

        list += strspn(list, ", \t");
        len = strcspn(list, ", \t");
        if (len > 0 && entry_matches(list, len, host, hlen, hfam, haddr,
                                     port))
            return true;
        list += len;
    }
    return false;
}

/* ---- the layer ------------------------------------------------------------ */

enum { PX_HTTP_HEAD, PX_S5_METHOD, PX_S5_AUTH, PX_S5_REPLY, PX_S5_REPLY_ADDR,
       PX_OPEN };

typedef struct px_layer {
    int kind;                  /* MQI_PROXY_* */
    int state;                 /* PX_* */
    bool have_auth;
    uint8_t out[1100];         /* request bytes to send */
    size_t olen, opos;
    uint8_t in[PX_HEAD_MAX + 1];
    size_t ilen, need;         /* SOCKS: read exactly @p need bytes */
    char user[256], pass[256];
    char host[256];
    uint16_t port;
    char where[300];           /* "proxy host:port" for messages */
} px_layer;

static const mqi_io_ops px_ops;

static int
px_fail(mqi_io *io, px_layer *x, int rc, const char *fmt, const char *detail)
{
    char msg[120];

    (void)io; /* the text goes to mqi_io_err */
    snprintf(msg, sizeof msg, fmt, detail);
    snprintf(mqi_io_err, sizeof mqi_io_err, "%.60s: %.95s", x->where, msg);
    return rc;
}

/* Queue the SOCKS5 CONNECT request for host:port. */
static void
s5_queue_connect(px_layer *x)
{
    unsigned char a[16];
    size_t n = 0, hl = strlen(x->host);
    uint8_t *o = x->out;

    o[n++] = 5;
    o[n++] = 1; /* CONNECT */
    o[n++] = 0;
    if (inet_pton(AF_INET, x->host, a) == 1) {
        o[n++] = 1;
        memcpy(o + n, a, 4);
        n += 4;
    } else if (inet_pton(AF_INET6, x->host, a) == 1) {
        o[n++] = 4;
        memcpy(o + n, a, 16);
        n += 16;
    } else {
        o[n++] = 3; /* a name, resolved by the proxy */
        o[n++] = (uint8_t)hl;
        memcpy(o + n, x->host, hl);
        n += hl;
    }
    o[n++] = (uint8_t)(x->port >> 8);
    o[n++] = (uint8_t)(x->port & 0xFF);
    x->olen = n;
    x->opos = 0;
    x->state = PX_S5_REPLY;
    x->need = 5; /* ver, rep, rsv, atyp and the first address byte */
    x->ilen = 0;
}

static const char *
s5_reply_text(int rep)
{
    static const char *const text[] = {
        "succeeded", "general SOCKS server failure",
        "connection not allowed by ruleset", "network unreachable",
        "host unreachable", "connection refused by the broker's host",
        "TTL expired", "command not supported", "address type not supported",
    };

    return rep >= 0 && rep < 9 ? text[rep] : "unknown reply code";
}

/* A complete SOCKS5 reply part is in x->in: act on it. */
static int
s5_step(mqi_io *io, px_layer *x)
{
    const uint8_t *b = x->in;

    switch (x->state) {
    case PX_S5_METHOD:
        if (b[0] != 5)
            return px_fail(io, x, MQ_ERR_PROXY, "%s",
                           "not a SOCKS5 proxy (bad version in its answer)");
        if (b[1] == 0xFF)
            return px_fail(io, x, x->have_auth ? MQ_ERR_PROXY
                                               : MQ_ERR_PROXY_AUTH,
                           "%s", x->have_auth
                           ? "accepts none of our authentication methods"
                           : "requires authentication (give user:password "
                             "in the proxy URI)");
        if (b[1] == 0) {
            s5_queue_connect(x);
            return MQ_OK;
        }
        if (b[1] == 2 && x->have_auth) {
            size_t ul = strlen(x->user), pl = strlen(x->pass), n = 0;

            x->out[n++] = 1;
            x->out[n++] = (uint8_t)ul;
            memcpy(x->out + n, x->user, ul);
            n += ul;
            x->out[n++] = (uint8_t)pl;
            memcpy(x->out + n, x->pass, pl);
            n += pl;
            x->olen = n;
            x->opos = 0;
            x->state = PX_S5_AUTH;
            x->need = 2;
            x->ilen = 0;
            return MQ_OK;
        }
        return px_fail(io, x, MQ_ERR_PROXY, "%s",
                       "chose an authentication method we did not offer");
    case PX_S5_AUTH:
        memset(x->out, 0, x->olen); /* the password */
        if (b[1] != 0)
            return px_fail(io, x, MQ_ERR_PROXY_AUTH, "%s",
                           "rejected the user name or password");
        s5_queue_connect(x);
        return MQ_OK;
    case PX_S5_REPLY:
        if (b[0] != 5)
            return px_fail(io, x, MQ_ERR_PROXY, "%s",
                           "bad version in the CONNECT reply");
        if (b[1] != 0) {
            char what[100];

            snprintf(what, sizeof what, "cannot reach %.60s:%u: %s", x->host,
                     (unsigned)x->port, s5_reply_text(b[1]));
            return px_fail(io, x, MQ_ERR_PROXY, "%s", what);
        }
        switch (b[3]) {
        case 1: x->need = 4 + 4 + 2; break;
        case 4: x->need = 4 + 16 + 2; break;
        case 3: x->need = 4 + 1 + (size_t)b[4] + 2; break;
        default:
            return px_fail(io, x, MQ_ERR_PROXY, "%s",
                           "bad address type in the CONNECT reply");
        }
        x->state = PX_S5_REPLY_ADDR; /* read the rest of the bound address */
        return MQ_OK;
    case PX_S5_REPLY_ADDR:
        x->state = PX_OPEN;
        return MQ_OK;
    default:
        return MQ_ERR_PROXY;
    }
}

/* The HTTP answer's head is in x->in (NUL-terminated): 2xx opens. */
static int
http_step(mqi_io *io, px_layer *x)
{
    const char *line = (const char *)x->in;
    size_t ll = strcspn(line, "\r\n");
    int code = 0;
    char status[64];

    snprintf(status, sizeof status, "%.*s", (int)(ll < 60 ? ll : 60), line);
    if (strncmp(line, "HTTP/1.", 7) != 0 || line[7] == '\0' || line[8] != ' '
        || sscanf(line + 9, "%3d", &code) != 1)
        return px_fail(io, x, MQ_ERR_PROXY, "not an HTTP proxy (answered "
                       "\"%s\")", status);
    if (code >= 200 && code < 300) {
        x->state = PX_OPEN;
        return MQ_OK;
    }
    if (code == 407 || code == 401) /* tinyproxy answers 401 */
        return px_fail(io, x, MQ_ERR_PROXY_AUTH, x->have_auth
                       ? "rejected the user name or password (%s)"
                       : "requires authentication (%s); give user:password "
                         "in the proxy URI", status);
    return px_fail(io, x, MQ_ERR_PROXY, "refused the tunnel: %s", status);
}

/* One recv() from the proxy: MQ_OK with *got > 0, MQ_ERR_AGAIN, or
 * MQ_ERR_PROXY with mqi_io_err (@p eof says what a closed connection means). */
static int
px_recv(mqi_io *io, px_layer *x, void *buf, size_t len, int flags,
        const char *eof, size_t *got)
{
    ssize_t n;

    do {
        n = recv(io->fd, buf, len, flags);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        io->want = EPOLLIN;
        return MQ_ERR_AGAIN;
    }
    if (n < 0)
        return px_fail(io, x, MQ_ERR_PROXY, "recv: %s", strerror(errno));
    if (n == 0)
        return px_fail(io, x, MQ_ERR_PROXY, "%s", eof);
    *got = (size_t)n;
    return MQ_OK;
}

/* Read the HTTP answer's head without taking a byte past it. */
static int
http_read(mqi_io *io, px_layer *x)
{
    uint8_t peek[PX_HEAD_MAX];
    ssize_t n;
    size_t room = PX_HEAD_MAX - x->ilen, take, i, got = 0;
    int rc = px_recv(io, x, peek, room, MSG_PEEK,
                     x->ilen == 0 ? "closed the connection without an answer"
                                  : "closed the connection mid-answer", &got);

    if (rc != MQ_OK)
        return rc;
    n = (ssize_t)got;
    /* take up to the end of the head ("\r\n\r\n"), looking across what
     * was taken before */
    take = (size_t)n;
    for (i = 0; i < (size_t)n; i++) {
        size_t at = x->ilen + i;

        x->in[at] = peek[i];
        if (at >= 3 && memcmp(x->in + at - 3, "\r\n\r\n", 4) == 0) {
            take = i + 1;
            break;
        }
    }
    do {
        n = recv(io->fd, peek, take, 0);
    } while (n < 0 && errno == EINTR);
    if (n != (ssize_t)take)
        return px_fail(io, x, MQ_ERR_PROXY, "%s", "recv failed");
    x->ilen += take;
    x->in[x->ilen] = '\0';
    if (x->ilen >= 4 && memcmp(x->in + x->ilen - 4, "\r\n\r\n", 4) == 0)
        return http_step(io, x);
    if (x->ilen >= PX_HEAD_MAX)
        return px_fail(io, x, MQ_ERR_PROXY, "%s",
                       "answer head too long (over 4 KiB)");
    io->want = EPOLLIN;
    return MQ_ERR_AGAIN;
}

/* Read exactly up to x->need bytes of a SOCKS5 answer. */
static int
s5_read(mqi_io *io, px_layer *x)
{
    while (x->ilen < x->need) {
        size_t got = 0;
        int rc = px_recv(io, x, x->in + x->ilen, x->need - x->ilen, 0,
                         x->state == PX_S5_METHOD && x->ilen == 0
                         ? "closed the connection (not a SOCKS5 proxy?)"
                         : "closed the connection during the SOCKS5 "
                           "handshake", &got);

        if (rc != MQ_OK)
            return rc;
        x->ilen += got;
    }
    return s5_step(io, x);
}

static int
px_handshake(mqi_io *io)
{
    px_layer *x = io->layer;
    int rc;

    if (x == NULL)
        return MQ_ERR_INVAL;
    while (x->state != PX_OPEN) {
        while (x->opos < x->olen) {
            ssize_t n = send(io->fd, x->out + x->opos, x->olen - x->opos,
                             MSG_NOSIGNAL);

            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                io->want = EPOLLOUT;
                return MQ_ERR_AGAIN;
            }
            if (n < 0)
                return px_fail(io, x, MQ_ERR_PROXY, "send: %s",
                               strerror(errno));
            x->opos += (size_t)n;
        }
        rc = x->kind == MQI_PROXY_HTTP ? http_read(io, x) : s5_read(io, x);
        if (rc != MQ_OK)
            return rc;
    }
    io->want = 0;
    return MQ_OK;
}

static int
px_read(mqi_io *io, uint8_t *buf, size_t cap, size_t *out_n)
{
    (void)io; /* the text goes to mqi_io_err */
    (void)buf;
    (void)cap;
    *out_n = 0;
    snprintf(mqi_io_err, sizeof mqi_io_err, "proxy tunnel not open");
    return MQ_ERR_IO;
}

static int
px_write(mqi_io *io, const uint8_t *buf, size_t len, size_t *out_n)
{
    (void)io; /* the text goes to mqi_io_err */
    (void)buf;
    (void)len;
    *out_n = 0;
    snprintf(mqi_io_err, sizeof mqi_io_err, "proxy tunnel not open");
    return MQ_ERR_IO;
}

static void
px_close(mqi_io *io)
{
    px_layer *x = io->layer;

    if (x != NULL) {
        memset(x, 0, sizeof *x); /* credentials */
        free(x);
    }
    io->layer = NULL;
    io->want = 0;
}

static const mqi_io_ops px_ops = {
    px_handshake, px_read, px_write, px_close, NULL,
};

int
mqi_io_proxy_start(mqi_io *io, const mqi_proxy *px, const char *host,
                   uint16_t port)
{
    px_layer *x;
    bool v6;

    if (io == NULL || px == NULL || host == NULL || io->fd < 0)
        return MQ_ERR_INVAL;
    if (strlen(host) > 255 || strpbrk(host, "\r\n ") != NULL) {
        snprintf(mqi_io_err, sizeof mqi_io_err, "proxy: bad broker host name");
        return MQ_ERR_INVAL;
    }
    x = calloc(1, sizeof *x);
    if (x == NULL) {
        snprintf(mqi_io_err, sizeof mqi_io_err, "proxy: out of memory");
        return MQ_ERR_NOMEM;
    }
    x->kind = px->kind;
    x->port = port;
    snprintf(x->host, sizeof x->host, "%s", host);
    v6 = strchr(px->host, ':') != NULL;
    snprintf(x->where, sizeof x->where, "%s proxy %s%s%s:%u",
             px->kind == MQI_PROXY_HTTP ? "HTTP" : "SOCKS5", v6 ? "[" : "",
             px->host, v6 ? "]" : "", (unsigned)px->port);
    x->have_auth = px->user != NULL;
    if (x->have_auth) {
        snprintf(x->user, sizeof x->user, "%s", px->user);
        snprintf(x->pass, sizeof x->pass, "%s", px->pass ? px->pass : "");
    }
    v6 = strchr(host, ':') != NULL;
    if (px->kind == MQI_PROXY_HTTP) {
        char auth[760] = "";
        int n;

        if (x->have_auth) {
            char cred[520];
            char b64[700];
            size_t cl;

            cl = (size_t)snprintf(cred, sizeof cred, "%s:%s", x->user, x->pass);
            mqi_base64((const uint8_t *)cred, cl, b64);
            snprintf(auth, sizeof auth, "Proxy-Authorization: Basic %s\r\n",
                     b64);
            memset(cred, 0, sizeof cred);
            memset(b64, 0, sizeof b64);
        }
        n = snprintf((char *)x->out, sizeof x->out,
                     "CONNECT %s%s%s:%u HTTP/1.1\r\n"
                     "Host: %s%s%s:%u\r\n"
                     "%s"
                     "\r\n", v6 ? "[" : "", host, v6 ? "]" : "",
                     (unsigned)port, v6 ? "[" : "", host, v6 ? "]" : "",
                     (unsigned)port, auth);
        memset(auth, 0, sizeof auth);
        x->olen = (size_t)n;
        x->state = PX_HTTP_HEAD;
    } else {
        size_t n = 0;

        x->out[n++] = 5;
        if (x->have_auth) {
            x->out[n++] = 2;
            x->out[n++] = 0; /* no authentication */
            x->out[n++] = 2; /* user name / password */
        } else {
            x->out[n++] = 1;
            x->out[n++] = 0;
        }
        x->olen = n;
        x->state = PX_S5_METHOD;
        x->need = 2;
    }
    io->ops = &px_ops;
    io->layer = x;
    io->want = EPOLLOUT;
    return MQ_OK;
}

bool
mqi_io_is_proxy(const mqi_io *io)
{
    return io != NULL && io->ops == &px_ops;
}

void
mqi_io_proxy_done(mqi_io *io)
{
    px_close(io);
    io->ops = &mqi_io_plain_ops;
}
