/*
 * transport_ws.c - WebSocket client layer (RFC 6455) for MQTT over ws:// and
 * wss://: wraps an already started mqi_io (plain or TLS), runs the HTTP/1.1
 * Upgrade with subprotocol "mqtt", then carries the MQTT byte stream in
 * masked binary frames; server frames are unwrapped in place in the
 * caller's buffer, so no data ever waits hidden inside this layer.
 *
 * Threading: worker thread only (an mqi_io belongs to one connection).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "mq.h"
#include "transport.h"

#define WS_MAX_FRAME 32768     /* payload bytes per data frame we send */
#define WS_RESP_MAX 4096       /* limit for the 101 response head */
#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

enum { WS_OP_CONT = 0x0, WS_OP_TEXT = 0x1, WS_OP_BINARY = 0x2,
       WS_OP_CLOSE = 0x8, WS_OP_PING = 0x9, WS_OP_PONG = 0xA };

enum { WS_INNER, WS_SEND_REQ, WS_RECV_RESP, WS_OPEN, WS_DEAD };

typedef struct ws_layer {
    const mqi_io_ops *inner_ops;
    void *inner_layer;
    int state;
    int dead_rc;               /* what read/write return once WS_DEAD */
    char accept[32];           /* expected Sec-WebSocket-Accept */

    /* Output: a byte queue sent through the inner layer. At most one data
     * frame is queued and it is always last; pend is its payload size,
     * reported to the caller as written only once the frame is sent. */
    uint8_t *obuf;
    size_t olen, opos, ocap;
    size_t pend;
    bool pong_due;             /* a ping arrived while a data frame was queued */
    uint8_t ping[125];
    size_t ping_len;
    bool close_sent;

    /* Handshake response head, then bytes that followed it (first frames). */
    char *resp;
    size_t resp_len;
    size_t early_off;          /* start of the not yet delivered bytes */

    /* Frame parser. */
    uint8_t hdr[14];
    size_t hdr_len;
    bool in_frame;             /* header complete, payload being read */
    uint8_t op;
    bool fin;
    uint64_t remain;           /* payload bytes left in the current frame */
    bool in_msg;               /* inside a fragmented binary message */
    uint8_t ctl[125];
    size_t ctl_len;

    uint8_t rnd[64];           /* random bytes for masks */
    size_t rnd_pos;
    uint64_t rnd_state;        /* fallback generator if getrandom fails */
} ws_layer;

/* ---- SHA-1 (FIPS 180-4) and base64, for Sec-WebSocket-Accept ---------- */

typedef struct {
    uint32_t h[5];
    uint64_t len;
    uint8_t blk[64];
    size_t n;
} sha1_ctx;

static uint32_t
rol32(uint32_t x, int k)
{
    return (x << k) | (x >> (32 - k));
}

static void
sha1_block(sha1_ctx *s, const uint8_t *p)
{
    uint32_t w[80], a, b, c, d, e, t;
    int i;

    for (i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16
               | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (i = 16; i < 80; i++)
        w[i] = rol32(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    a = s->h[0];
    b = s->h[1];
    c = s->h[2];
    d = s->h[3];
    e = s->h[4];
    for (i = 0; i < 80; i++) {
        uint32_t f, k;

        if (i < 20) {
            f = (b & c) | (~b & d);
            k = 0x5A827999;
        } else if (i < 40) {
            f = b ^ c ^ d;
            k = 0x6ED9EBA1;
        } else if (i < 60) {
            f = (b & c) | (b & d) | (c & d);
            k = 0x8F1BBCDC;
        } else {
            f = b ^ c ^ d;
            k = 0xCA62C1D6;
        }
        t = rol32(a, 5) + f + e + k + w[i];
        e = d;
        d = c;
        c = rol32(b, 30);
        b = a;
        a = t;
    }
    s->h[0] += a;
    s->h[1] += b;
    s->h[2] += c;
    s->h[3] += d;
    s->h[4] += e;
}

static void
sha1_init(sha1_ctx *s)
{
    s->h[0] = 0x67452301;
    s->h[1] = 0xEFCDAB89;
    s->h[2] = 0x98BADCFE;
    s->h[3] = 0x10325476;
    s->h[4] = 0xC3D2E1F0;
    s->len = 0;
    s->n = 0;
}

static void
sha1_update(sha1_ctx *s, const void *data, size_t len)
{
    const uint8_t *p = data;

    s->len += len;
    while (len > 0) {
        size_t k = 64 - s->n < len ? 64 - s->n : len;

        memcpy(s->blk + s->n, p, k);
        s->n += k;
        p += k;
        len -= k;
        if (s->n == 64) {
            sha1_block(s, s->blk);
            s->n = 0;
        }
    }
}

static void
sha1_final(sha1_ctx *s, uint8_t out[20])
{
    uint64_t bits = s->len * 8;
    uint8_t pad = 0x80, zero = 0, lenb[8];
    int i;

    sha1_update(s, &pad, 1);
    while (s->n != 56)
        sha1_update(s, &zero, 1);
    for (i = 0; i < 8; i++)
        lenb[i] = (uint8_t)(bits >> (56 - 8 * i));
    sha1_update(s, lenb, 8);
    for (i = 0; i < 20; i++)
        out[i] = (uint8_t)(s->h[i / 4] >> (24 - 8 * (i % 4)));
}

void
mqi_base64(const uint8_t *in, size_t n, char *out)
{
    static const char tab[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t i;

    for (i = 0; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8
                     | in[i + 2];

        *out++ = tab[v >> 18];
        *out++ = tab[(v >> 12) & 63];
        *out++ = tab[(v >> 6) & 63];
        *out++ = tab[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)in[i] << 16;

        if (i + 1 < n)
            v |= (uint32_t)in[i + 1] << 8;
        *out++ = tab[v >> 18];
        *out++ = tab[(v >> 12) & 63];
        *out++ = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        *out++ = '=';
    }
    *out = '\0';
}

/* ---- randomness for the key and the frame masks ----------------------- */

static uint64_t
splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);

    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* Fill @p out from getrandom(); if the kernel cannot give entropy right
 * now, from a generator seeded with the clock and addresses (masks only
 * need to be unpredictable to scripts, RFC 6455 section 10.3). */
static void
ws_random(ws_layer *w, uint8_t *out, size_t n)
{
    while (n > 0) {
        size_t k;

        if (w->rnd_pos >= sizeof w->rnd) {
            ssize_t got;

            do {
                got = getrandom(w->rnd, sizeof w->rnd, GRND_NONBLOCK);
            } while (got < 0 && errno == EINTR);
            if (got != (ssize_t)sizeof w->rnd) {
                size_t i;

                if (w->rnd_state == 0) {
                    struct timespec ts;

                    clock_gettime(CLOCK_REALTIME, &ts);
                    w->rnd_state = (uint64_t)ts.tv_nsec
                                   ^ ((uint64_t)ts.tv_sec << 32)
                                   ^ (uint64_t)(uintptr_t)w
                                   ^ ((uint64_t)getpid() << 16);
                }
                for (i = 0; i < sizeof w->rnd; i += 8) {
                    uint64_t v = splitmix(&w->rnd_state);

                    memcpy(w->rnd + i, &v, 8);
                }
            }
            w->rnd_pos = 0;
        }
        k = sizeof w->rnd - w->rnd_pos;
        if (k > n)
            k = n;
        memcpy(out, w->rnd + w->rnd_pos, k);
        w->rnd_pos += k;
        out += k;
        n -= k;
    }
}

/* ---- calling the inner layer ------------------------------------------ */

static const mqi_io_ops ws_ops;

/* The inner ops work on io->layer: swap it in for the call, then back. */
#define INNER_CALL(io, w, call)                                            \
    do {                                                                   \
        (io)->ops = (w)->inner_ops;                                        \
        (io)->layer = (w)->inner_layer;                                    \
        call;                                                              \
        (w)->inner_layer = (io)->layer;                                    \
        (io)->ops = &ws_ops;                                               \
        (io)->layer = (w);                                                 \
    } while (0)

static int
inner_read(mqi_io *io, ws_layer *w, uint8_t *buf, size_t cap, size_t *n)
{
    int rc;

    INNER_CALL(io, w, rc = w->inner_ops->read(io, buf, cap, n));
    return rc;
}

static int
inner_write(mqi_io *io, ws_layer *w, const uint8_t *buf, size_t len,
            size_t *n)
{
    int rc;

    INNER_CALL(io, w, rc = w->inner_ops->write(io, buf, len, n));
    return rc;
}

/* ---- output queue ------------------------------------------------------ */

static int
out_reserve(ws_layer *w, size_t extra)
{
    size_t need, cap;
    uint8_t *p;

    if (w->opos > 0 && w->opos == w->olen)
        w->opos = w->olen = 0;
    need = w->olen + extra;
    if (need <= w->ocap)
        return MQ_OK;
    cap = w->ocap ? w->ocap : 256;
    while (cap < need)
        cap *= 2;
    p = realloc(w->obuf, cap);
    if (p == NULL)
        return MQ_ERR_NOMEM;
    w->obuf = p;
    w->ocap = cap;
    return MQ_OK;
}

/* Append one masked frame (FIN set). Caller reserved 14 + len bytes. */
static void
put_frame(ws_layer *w, uint8_t op, const uint8_t *data, size_t len)
{
    uint8_t *p = w->obuf + w->olen, mask[4];
    size_t i;

    *p++ = (uint8_t)(0x80 | op);
    if (len < 126) {
        *p++ = (uint8_t)(0x80 | len);
    } else if (len <= 0xFFFF) {
        *p++ = 0x80 | 126;
        *p++ = (uint8_t)(len >> 8);
        *p++ = (uint8_t)len;
    } else {
        *p++ = 0x80 | 127;
        for (i = 0; i < 8; i++)
            *p++ = (uint8_t)((uint64_t)len >> (56 - 8 * i));
    }
    ws_random(w, mask, 4);
    memcpy(p, mask, 4);
    p += 4;
    for (i = 0; i < len; i++)
        p[i] = data[i] ^ mask[i & 3];
    w->olen = (size_t)(p + len - w->obuf);
}

/* Send queued bytes. MQ_OK when the queue is empty, else MQ_ERR_AGAIN or an
 * error from the inner layer (mqi_io_err set). */
static int
out_flush(mqi_io *io, ws_layer *w)
{
    while (w->opos < w->olen) {
        size_t n = 0;
        int rc = inner_write(io, w, w->obuf + w->opos, w->olen - w->opos, &n);

        if (rc != MQ_OK)
            return rc;
        w->opos += n;
    }
    w->opos = w->olen = 0;
    if (w->ocap > 4096) {
        /* do not keep a big buffer for an idle connection */
        free(w->obuf);
        w->obuf = NULL;
        w->ocap = 0;
    }
    return MQ_OK;
}

/* Queue a control frame if no data frame is queued (a control frame must
 * not go into the middle of one); else remember a due pong. */
static void
queue_control(ws_layer *w, uint8_t op, const uint8_t *data, size_t len)
{
    if (w->pend > 0) {
        if (op == WS_OP_PONG) {
            memcpy(w->ping, data, len);
            w->ping_len = len;
            w->pong_due = true;
        }
        return;
    }
    if (out_reserve(w, 14 + len) != MQ_OK)
        return; /* best effort: the peer may ping again */
    put_frame(w, op, data, len);
    if (op == WS_OP_CLOSE)
        w->close_sent = true;
}

/* ---- handshake --------------------------------------------------------- */

/* Case-insensitive search for @p tok as a comma-separated token of @p v. */
static bool
has_token(const char *v, size_t vlen, const char *tok)
{
    size_t tl = strlen(tok), i = 0;

    while (i < vlen) {
        size_t s, e;

        while (i < vlen && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        s = i;
        while (i < vlen && v[i] != ',')
            i++;
        e = i;
        while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
            e--;
        if (e - s == tl && strncasecmp(v + s, tok, tl) == 0)
            return true;
    }
    return false;
}

/* Check the response head resp[0..len) (ends with CRLF CRLF). */
static int
check_response(mqi_io *io, ws_layer *w, char *resp, size_t len)
{
    char *line = resp, *end = resp + len, *eol;
    bool upgrade = false, connection = false, accept = false;
    const char *proto = NULL;
    size_t proto_len = 0;
    int status = 0;

    (void)io; /* the text goes to mqi_io_err */
    eol = memchr(line, '\n', (size_t)(end - line));
    if (eol == NULL || strncmp(line, "HTTP/1.", 7) != 0
        || sscanf(line + 8, " %3d", &status) != 1) {
        snprintf(mqi_io_err, sizeof mqi_io_err, "WebSocket handshake: the server "
                 "did not answer with HTTP (is this a WebSocket port?)");
        return MQ_ERR_PROTOCOL;
    }
    if (status != 101) {
        size_t n = (size_t)(eol - line);
        const char *reason = line + 8;

        while (n > 0 && (line[n - 1] == '\r' || line[n - 1] == '\n'))
            n--;
        n = n > 8 ? n - 8 : 0;
        if (n > 80)
            n = 80;
        snprintf(mqi_io_err, sizeof mqi_io_err, "WebSocket handshake refused: "
                 "HTTP%.*s", (int)n, reason);
        return MQ_ERR_PROTOCOL;
    }
    for (line = eol + 1; line < end; line = eol + 1) {
        char *colon, *v;
        size_t vlen;

        eol = memchr(line, '\n', (size_t)(end - line));
        if (eol == NULL)
            break;
        colon = memchr(line, ':', (size_t)(eol - line));
        if (colon == NULL)
            continue;
        v = colon + 1;
        while (v < eol && (*v == ' ' || *v == '\t'))
            v++;
        vlen = (size_t)(eol - v);
        while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == ' '
                            || v[vlen - 1] == '\t'))
            vlen--;
#define HDR_IS(name) \
    ((size_t)(colon - line) == sizeof name - 1 \
     && strncasecmp(line, name, sizeof name - 1) == 0)
        if (HDR_IS("Upgrade"))
            upgrade = vlen == 9 && strncasecmp(v, "websocket", 9) == 0;
        else if (HDR_IS("Connection"))
            connection = has_token(v, vlen, "upgrade");
        else if (HDR_IS("Sec-WebSocket-Accept"))
            accept = vlen == strlen(w->accept)
                     && memcmp(v, w->accept, vlen) == 0;
        else if (HDR_IS("Sec-WebSocket-Protocol")) {
            proto = v;
            proto_len = vlen;
        }
#undef HDR_IS
    }
    if (!upgrade || !connection) {
        snprintf(mqi_io_err, sizeof mqi_io_err, "WebSocket handshake: 101 answer "
                 "without \"Upgrade: websocket\" and \"Connection: Upgrade\"");
        return MQ_ERR_PROTOCOL;
    }
    if (!accept) {
        snprintf(mqi_io_err, sizeof mqi_io_err, "WebSocket handshake: missing or "
                 "wrong Sec-WebSocket-Accept");
        return MQ_ERR_PROTOCOL;
    }
    /* RFC 6455: a subprotocol we did not offer fails the connection. No
     * header at all is tolerated (some brokers omit it). */
    if (proto != NULL && !(proto_len == 4 && strncmp(proto, "mqtt", 4) == 0)) {
        snprintf(mqi_io_err, sizeof mqi_io_err, "WebSocket handshake: server chose "
                 "subprotocol \"%.*s\", not \"mqtt\"",
                 (int)(proto_len > 40 ? 40 : proto_len), proto);
        return MQ_ERR_PROTOCOL;
    }
    return MQ_OK;
}

static int
ws_fail(mqi_io *io, ws_layer *w, int rc)
{
    w->state = WS_DEAD;
    w->dead_rc = rc;
    (void)io;
    return rc;
}

static int
ws_handshake(mqi_io *io)
{
    ws_layer *w = io->layer;
    int rc;

    if (w == NULL) {
        snprintf(mqi_io_err, sizeof mqi_io_err, "WebSocket layer is closed");
        return MQ_ERR_IO;
    }
    switch (w->state) {
    case WS_INNER:
        INNER_CALL(io, w, rc = w->inner_ops->handshake(io));
        if (rc != MQ_OK)
            return rc == MQ_ERR_AGAIN ? rc : ws_fail(io, w, rc);
        w->state = WS_SEND_REQ;
        /* fall through */
    case WS_SEND_REQ:
        rc = out_flush(io, w);
        if (rc == MQ_ERR_AGAIN)
            return rc;
        if (rc != MQ_OK) {
            if (rc == MQ_ERR_CLOSED || rc == MQ_ERR_IO) {
                char why[sizeof mqi_io_err];

                memcpy(why, mqi_io_err, sizeof why);
                snprintf(mqi_io_err, sizeof mqi_io_err, "WebSocket handshake: "
                         "cannot send the request (%.100s)", why);
            }
            return ws_fail(io, w, rc);
        }
        w->state = WS_RECV_RESP;
        w->resp = malloc(WS_RESP_MAX + 1);
        if (w->resp == NULL)
            return ws_fail(io, w, MQ_ERR_NOMEM);
        w->resp_len = 0;
        /* fall through */
    case WS_RECV_RESP:
        for (;;) {
            size_t n = 0, scan;
            char *hend;

            if (w->resp_len >= WS_RESP_MAX) {
                snprintf(mqi_io_err, sizeof mqi_io_err, "WebSocket handshake: "
                         "response head over %d bytes", WS_RESP_MAX);
                return ws_fail(io, w, MQ_ERR_PROTOCOL);
            }
            rc = inner_read(io, w, (uint8_t *)w->resp + w->resp_len,
                            WS_RESP_MAX - w->resp_len, &n);
            if (rc == MQ_ERR_AGAIN)
                return rc;
            if (rc == MQ_ERR_CLOSED) {
                snprintf(mqi_io_err, sizeof mqi_io_err, "WebSocket handshake: "
                         "connection closed by the server (is this a "
                         "WebSocket port?)");
                return ws_fail(io, w, MQ_ERR_CLOSED);
            }
            if (rc == MQ_ERR_IO) {
                char why[sizeof mqi_io_err];

                memcpy(why, mqi_io_err, sizeof why);
                snprintf(mqi_io_err, sizeof mqi_io_err, "WebSocket handshake: "
                         "%.100s (is this a WebSocket port?)", why);
            }
            if (rc != MQ_OK)
                return ws_fail(io, w, rc);
            scan = w->resp_len > 3 ? w->resp_len - 3 : 0;
            w->resp_len += n;
            w->resp[w->resp_len] = '\0';
            if (w->resp_len >= 5 && strncmp(w->resp, "HTTP/", 5) != 0) {
                snprintf(mqi_io_err, sizeof mqi_io_err, "WebSocket handshake: "
                         "the server did not answer with HTTP (is this a "
                         "WebSocket port?)");
                return ws_fail(io, w, MQ_ERR_PROTOCOL);
            }
            hend = NULL;
            for (; scan + 4 <= w->resp_len; scan++)
                if (memcmp(w->resp + scan, "\r\n\r\n", 4) == 0) {
                    hend = w->resp + scan + 4;
                    break;
                }
            if (hend == NULL)
                continue;
            rc = check_response(io, w, w->resp, (size_t)(hend - w->resp));
            if (rc != MQ_OK)
                return ws_fail(io, w, rc);
            w->early_off = (size_t)(hend - w->resp);
            if (w->early_off == w->resp_len) {
                free(w->resp);
                w->resp = NULL;
                w->resp_len = w->early_off = 0;
            }
            w->state = WS_OPEN;
            io->want = 0;
            return MQ_OK;
        }
    case WS_OPEN:
        return MQ_OK;
    default:
        if (mqi_io_err[0] == '\0')
            snprintf(mqi_io_err, sizeof mqi_io_err, "WebSocket connection failed");
        return w->dead_rc;
    }
}

/* ---- read --------------------------------------------------------------- */

/* Act on a complete control frame. MQ_OK, or MQ_ERR_CLOSED for close. */
static int
on_control(mqi_io *io, ws_layer *w)
{
    if (w->op == WS_OP_PING) {
        queue_control(w, WS_OP_PONG, w->ctl, w->ctl_len);
        return MQ_OK;
    }
    if (w->op == WS_OP_PONG)
        return MQ_OK;
    /* close: answer with the same status code, then end the stream */
    if (w->ctl_len == 1) {
        snprintf(mqi_io_err, sizeof mqi_io_err, "WebSocket close frame with a "
                 "1-byte payload");
        return MQ_ERR_PROTOCOL;
    }
    if (w->ctl_len >= 2) {
        unsigned code = (unsigned)w->ctl[0] << 8 | w->ctl[1];

        snprintf(mqi_io_err, sizeof mqi_io_err, "WebSocket closed by the server "
                 "(code %u%s%.*s)", code, w->ctl_len > 2 ? ": " : "",
                 (int)(w->ctl_len > 82 ? 80 : w->ctl_len - 2), w->ctl + 2);
        if (!w->close_sent)
            queue_control(w, WS_OP_CLOSE, w->ctl, 2);
    } else {
        snprintf(mqi_io_err, sizeof mqi_io_err, "WebSocket closed by the server");
        if (!w->close_sent)
            queue_control(w, WS_OP_CLOSE, NULL, 0);
    }
    (void)out_flush(io, w); /* best effort, one try */
    return MQ_ERR_CLOSED;
}

/* A complete header is in w->hdr: validate it and start the frame. */
static int
start_frame(mqi_io *io, ws_layer *w)
{
    uint8_t b0 = w->hdr[0], b1 = w->hdr[1];
    uint64_t len = b1 & 0x7F;
    int i;

    (void)io; /* the text goes to mqi_io_err */
    if (b0 & 0x70) {
        snprintf(mqi_io_err, sizeof mqi_io_err, "WebSocket frame with reserved "
                 "bits set (0x%02x)", b0);
        return MQ_ERR_PROTOCOL;
    }
    if (b1 & 0x80) {
        snprintf(mqi_io_err, sizeof mqi_io_err, "WebSocket: masked frame from the "
                 "server");
        return MQ_ERR_PROTOCOL;
    }
    if (len == 126)
        len = (uint64_t)w->hdr[2] << 8 | w->hdr[3];
    else if (len == 127)
        for (len = 0, i = 2; i < 10; i++)
            len = len << 8 | w->hdr[i];
    w->op = b0 & 0x0F;
    w->fin = (b0 & 0x80) != 0;
    w->remain = len;
    switch (w->op) {
    case WS_OP_BINARY:
        if (w->in_msg) {
            snprintf(mqi_io_err, sizeof mqi_io_err, "WebSocket: new message inside "
                     "a fragmented one");
            return MQ_ERR_PROTOCOL;
        }
        w->in_msg = !w->fin;
        break;
    case WS_OP_CONT:
        if (!w->in_msg) {
            snprintf(mqi_io_err, sizeof mqi_io_err, "WebSocket: continuation frame "
                     "without a message");
            return MQ_ERR_PROTOCOL;
        }
        w->in_msg = !w->fin;
        break;
    case WS_OP_CLOSE:
    case WS_OP_PING:
    case WS_OP_PONG:
        if (!w->fin || len > 125) {
            snprintf(mqi_io_err, sizeof mqi_io_err, "WebSocket: fragmented or "
                     "oversized control frame");
            return MQ_ERR_PROTOCOL;
        }
        w->ctl_len = 0;
        break;
    case WS_OP_TEXT:
        snprintf(mqi_io_err, sizeof mqi_io_err, "WebSocket: text frame (MQTT uses "
                 "binary frames)");
        return MQ_ERR_PROTOCOL;
    default:
        snprintf(mqi_io_err, sizeof mqi_io_err, "WebSocket: unknown opcode 0x%x",
                 w->op);
        return MQ_ERR_PROTOCOL;
    }
    w->in_frame = true;
    w->hdr_len = 0;
    return MQ_OK;
}

/* Unwrap buf[0..n) in place: payload bytes move to the front, *out_n is
 * their count. Every input byte is consumed (headers and control payloads
 * are kept in w). MQ_OK, MQ_ERR_CLOSED (close frame) or MQ_ERR_PROTOCOL. */
static int
unwrap(mqi_io *io, ws_layer *w, uint8_t *buf, size_t n, size_t *out_n)
{
    size_t i = 0, out = 0;
    int rc;

    while (i < n) {
        if (!w->in_frame) {
            size_t need = 2;

            w->hdr[w->hdr_len++] = buf[i++];
            if (w->hdr_len >= 2) {
                uint8_t l = w->hdr[1] & 0x7F;

                need = l == 126 ? 4 : l == 127 ? 10 : 2;
            }
            if (w->hdr_len < need)
                continue;
            rc = start_frame(io, w);
            if (rc != MQ_OK) {
                *out_n = out;
                return rc;
            }
        } else {
            size_t k = n - i;

            if ((uint64_t)k > w->remain)
                k = (size_t)w->remain;
            if (w->op == WS_OP_BINARY || w->op == WS_OP_CONT) {
                if (out != i)
                    memmove(buf + out, buf + i, k);
                out += k;
            } else {
                memcpy(w->ctl + w->ctl_len, buf + i, k);
                w->ctl_len += k;
            }
            i += k;
            w->remain -= k;
        }
        if (w->in_frame && w->remain == 0) {
            w->in_frame = false;
            if (w->op >= WS_OP_CLOSE) {
                rc = on_control(io, w);
                if (rc != MQ_OK) {
                    *out_n = out;
                    return rc;
                }
            }
        }
    }
    *out_n = out;
    return MQ_OK;
}

static int
ws_read(mqi_io *io, uint8_t *buf, size_t cap, size_t *out_n)
{
    ws_layer *w = io->layer;
    int rc;

    *out_n = 0;
    if (w == NULL || w->state != WS_OPEN) {
        if (w != NULL && w->state == WS_DEAD)
            return w->dead_rc;
        snprintf(mqi_io_err, sizeof mqi_io_err, "WebSocket read: not open");
        return MQ_ERR_IO;
    }
    if (cap == 0)
        return MQ_ERR_INVAL;
    /* An answer to a ping may be waiting for the socket. */
    if (w->pend == 0 && w->opos < w->olen) {
        rc = out_flush(io, w);
        if (rc != MQ_OK && rc != MQ_ERR_AGAIN)
            return ws_fail(io, w, rc);
    }
    for (;;) {
        size_t n = 0, got = 0;

        if (w->resp != NULL) {
            /* bytes that arrived with the handshake answer */
            n = w->resp_len - w->early_off;
            if (n > cap)
                n = cap;
            memcpy(buf, w->resp + w->early_off, n);
            w->early_off += n;
            if (w->early_off == w->resp_len) {
                free(w->resp);
                w->resp = NULL;
            }
        } else {
            rc = inner_read(io, w, buf, cap, &n);
            if (rc == MQ_ERR_CLOSED) {
                if (w->in_frame || w->hdr_len > 0 || w->in_msg)
                    snprintf(mqi_io_err, sizeof mqi_io_err, "connection closed "
                             "inside a WebSocket frame");
                else if (mqi_io_err[0] == '\0')
                    snprintf(mqi_io_err, sizeof mqi_io_err, "connection closed "
                             "without a WebSocket close frame");
                return ws_fail(io, w, MQ_ERR_CLOSED);
            }
            if (rc != MQ_OK)
                return rc == MQ_ERR_AGAIN ? rc : ws_fail(io, w, rc);
        }
        rc = unwrap(io, w, buf, n, &got);
        if (rc == MQ_OK && w->pend == 0 && w->opos < w->olen) {
            /* answer a ping now (best effort; retried on later calls) */
            int frc = out_flush(io, w);

            if (frc != MQ_OK && frc != MQ_ERR_AGAIN)
                return ws_fail(io, w, frc);
        }
        if (rc != MQ_OK) {
            ws_fail(io, w, rc);
            if (got > 0) {
                /* deliver what came before the close; fail next time */
                *out_n = got;
                return MQ_OK;
            }
            return rc;
        }
        if (got > 0) {
            *out_n = got;
            return MQ_OK;
        }
    }
}

/* ---- write -------------------------------------------------------------- */

static int
ws_write(mqi_io *io, const uint8_t *buf, size_t len, size_t *out_n)
{
    ws_layer *w = io->layer;
    int rc;

    *out_n = 0;
    if (w == NULL || w->state != WS_OPEN) {
        if (w != NULL && w->state == WS_DEAD)
            return w->dead_rc;
        snprintf(mqi_io_err, sizeof mqi_io_err, "WebSocket write: not open");
        return MQ_ERR_IO;
    }
    if (len == 0)
        return MQ_ERR_INVAL;
    if (w->pend == 0) {
        size_t k = len < WS_MAX_FRAME ? len : WS_MAX_FRAME;

        /* queued control frames go first (never inside a data frame) */
        if (w->pong_due) {
            w->pong_due = false;
            queue_control(w, WS_OP_PONG, w->ping, w->ping_len);
        }
        if (out_reserve(w, 14 + k) != MQ_OK) {
            snprintf(mqi_io_err, sizeof mqi_io_err, "WebSocket: out of memory");
            return MQ_ERR_NOMEM;
        }
        put_frame(w, WS_OP_BINARY, buf, k);
        w->pend = k;
    } else if (len < w->pend) {
        /* transport.h: after AGAIN the caller offers the same bytes */
        snprintf(mqi_io_err, sizeof mqi_io_err, "WebSocket write: retried with "
                 "fewer bytes than the queued frame");
        return MQ_ERR_INVAL;
    }
    rc = out_flush(io, w);
    if (rc == MQ_OK) {
        *out_n = w->pend;
        w->pend = 0;
        return MQ_OK;
    }
    if (rc != MQ_ERR_AGAIN)
        ws_fail(io, w, rc);
    return rc;
}

/* ---- close and start ---------------------------------------------------- */

static void
ws_close(mqi_io *io)
{
    ws_layer *w = io->layer;

    if (w == NULL)
        return;
    /* Best effort, one non-blocking try: a normal close frame (1000). */
    if (w->state == WS_OPEN && !w->close_sent && w->pend == 0
        && w->opos == w->olen) {
        static const uint8_t normal[2] = { 0x03, 0xE8 };

        queue_control(w, WS_OP_CLOSE, normal, 2);
        (void)out_flush(io, w);
    }
    if (w->inner_ops != NULL && w->inner_ops->close != NULL)
        INNER_CALL(io, w, w->inner_ops->close(io));
    free(w->obuf);
    free(w->resp);
    free(w);
    io->ops = NULL;
    io->layer = NULL;
    io->want = 0;
}

/* What the layer under us negotiated (TLS for wss://). */
static size_t
ws_describe(mqi_io *io, char *buf, size_t len)
{
    ws_layer *w = io->layer;
    size_t n = 0;

    if (w == NULL || w->inner_ops == NULL || w->inner_ops->describe == NULL)
        return 0;
    INNER_CALL(io, w, n = w->inner_ops->describe(io, buf, len));
    return n;
}

static const mqi_io_ops ws_ops = {
    ws_handshake, ws_read, ws_write, ws_close, ws_describe,
};

int
mqi_io_ws_start(mqi_io *io, const char *host, uint16_t port, const char *path)
{
    ws_layer *w;
    uint8_t nonce[16], digest[20];
    char key[32];
    sha1_ctx sh;
    bool v6;
    int len;

    if (io == NULL || io->ops == NULL || host == NULL)
        return MQ_ERR_INVAL;
    if (path == NULL || path[0] != '/')
        path = "/mqtt";
    if (strpbrk(host, "\r\n ") != NULL || strpbrk(path, "\r\n ") != NULL) {
        snprintf(mqi_io_err, sizeof mqi_io_err, "WebSocket: bad host or path");
        return MQ_ERR_INVAL;
    }
    w = calloc(1, sizeof *w);
    if (w == NULL) {
        snprintf(mqi_io_err, sizeof mqi_io_err, "WebSocket: out of memory");
        return MQ_ERR_NOMEM;
    }
    w->rnd_pos = sizeof w->rnd; /* empty pool */
    ws_random(w, nonce, sizeof nonce);
    mqi_base64(nonce, sizeof nonce, key);
    sha1_init(&sh);
    sha1_update(&sh, key, strlen(key));
    sha1_update(&sh, WS_GUID, strlen(WS_GUID));
    sha1_final(&sh, digest);
    mqi_base64(digest, sizeof digest, w->accept);

    v6 = strchr(host, ':') != NULL;
    len = snprintf(NULL, 0,
                   "GET %s HTTP/1.1\r\n"
                   "Host: %s%s%s:%u\r\n"
                   "Upgrade: websocket\r\n"
                   "Connection: Upgrade\r\n"
                   "Sec-WebSocket-Key: %s\r\n"
                   "Sec-WebSocket-Version: 13\r\n"
                   "Sec-WebSocket-Protocol: mqtt\r\n"
                   "\r\n", path, v6 ? "[" : "", host, v6 ? "]" : "",
                   (unsigned)port, key);
    if (len < 0 || out_reserve(w, (size_t)len + 1) != MQ_OK) {
        free(w->obuf);
        free(w);
        snprintf(mqi_io_err, sizeof mqi_io_err, "WebSocket: out of memory");
        return MQ_ERR_NOMEM;
    }
    snprintf((char *)w->obuf, (size_t)len + 1,
             "GET %s HTTP/1.1\r\n"
             "Host: %s%s%s:%u\r\n"
             "Upgrade: websocket\r\n"
             "Connection: Upgrade\r\n"
             "Sec-WebSocket-Key: %s\r\n"
             "Sec-WebSocket-Version: 13\r\n"
             "Sec-WebSocket-Protocol: mqtt\r\n"
             "\r\n", path, v6 ? "[" : "", host, v6 ? "]" : "",
             (unsigned)port, key);
    w->olen = (size_t)len;
    w->inner_ops = io->ops;
    w->inner_layer = io->layer;
    w->state = WS_INNER;
    io->ops = &ws_ops;
    io->layer = w;
    if (io->want == 0)
        io->want = EPOLLOUT;
    return MQ_OK;
}
