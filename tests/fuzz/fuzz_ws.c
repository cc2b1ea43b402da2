/*
 * fuzz_ws.c - libFuzzer target for the WebSocket client layer
 * (transport_ws.c): the HTTP Upgrade answer and the frame parser, fed
 * through a fake inner transport that hands the input out in small chunks
 * with MQ_ERR_AGAIN in between, while the target also writes data and the
 * layer answers pings.
 *
 * Input: byte 0 flags, byte 1 the seed of the chunk/AGAIN pattern, the
 * rest the server's byte stream.
 *   bit 0  start the stream with a valid 101 answer (with the right
 *          Sec-WebSocket-Accept), so the rest is frames
 *   bit 1  the stream ends with an I/O error instead of an orderly EOF
 *   otherwise "@@" in the stream is replaced by the right accept value
 *   (the key is random, so the fuzzer could never guess it)
 *
 * Checks: handshake, read and write return only the codes transport.h
 * allows, never more bytes than asked, and the same error again once the
 * layer is dead; every call finishes in a bounded number of steps; the
 * bytes read are exactly the data-frame payloads that a reference parser
 * written here (RFC 6455 section 5) finds in the stream, up to the first
 * close or error; the bytes the layer sends after the request are
 * well-formed masked client frames whose binary payloads are exactly the
 * bytes write() reported as written.
 *
 * Threading: none.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include <openssl/evp.h>

#include "fuzz_common.h"
#include "mq.h"
#include "transport.h"

#define GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

typedef struct fake {
    const uint8_t *raw;  /* the input stream, before "@@" replacement */
    size_t raw_len;
    uint8_t *in;         /* the stream as served, built on first read */
    size_t in_len, pos;
    bool built, canned, io_error;
    uint32_t rng;
    uint8_t *sent;       /* everything the layer wrote */
    size_t sent_len, sent_cap;
    int handshakes;
} fake;

static uint32_t
rnd(fake *f)
{
    f->rng = f->rng * 1103515245u + 12345u;
    return f->rng >> 16;
}

static void
sent_add(fake *f, const uint8_t *p, size_t n)
{
    if (f->sent_len + n > f->sent_cap) {
        f->sent_cap = (f->sent_len + n) * 2;
        f->sent = realloc(f->sent, f->sent_cap);
        FCHECK(f->sent != NULL);
    }
    memcpy(f->sent + f->sent_len, p, n);
    f->sent_len += n;
}

/* Sec-WebSocket-Accept for the key in the request we saw. */
static void
accept_for(const fake *f, char out[32])
{
    const char *k = NULL;
    unsigned char dig[20];
    char buf[128];
    size_t i, n = 0;

    for (i = 0; i + 19 <= f->sent_len; i++)
        if (memcmp(f->sent + i, "Sec-WebSocket-Key: ", 19) == 0) {
            k = (const char *)f->sent + i + 19;
            break;
        }
    FCHECK(k != NULL);
    while (n < 64 && k[n] != '\r')
        n++;
    memcpy(buf, k, n);
    memcpy(buf + n, GUID, strlen(GUID));
    FCHECK(EVP_Digest(buf, n + strlen(GUID), dig, NULL, EVP_sha1(), NULL));
    EVP_EncodeBlock((unsigned char *)out, dig, 20);
}

static void
build_stream(fake *f)
{
    char acc[32];
    size_t i, cap;
    char head[256];
    int hl = 0;

    accept_for(f, acc);
    if (f->canned)
        hl = snprintf(head, sizeof head,
                      "HTTP/1.1 101 Switching Protocols\r\n"
                      "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Accept: %s\r\n"
                      "Sec-WebSocket-Protocol: mqtt\r\n\r\n", acc);
    cap = (size_t)hl + f->raw_len * 14 + 1;
    f->in = malloc(cap);
    FCHECK(f->in != NULL);
    memcpy(f->in, head, (size_t)hl);
    f->in_len = (size_t)hl;
    for (i = 0; i < f->raw_len; i++) {
        if (!f->canned && i + 1 < f->raw_len && f->raw[i] == '@' &&
            f->raw[i + 1] == '@') {
            memcpy(f->in + f->in_len, acc, strlen(acc));
            f->in_len += strlen(acc);
            i++;
        } else {
            f->in[f->in_len++] = f->raw[i];
        }
    }
    f->built = true;
}

static int
fake_handshake(mqi_io *io)
{
    fake *f = io->layer;

    if (f->handshakes++ == 0 || rnd(f) % 4 == 0) {
        io->want = EPOLLOUT;
        return MQ_ERR_AGAIN;
    }
    return MQ_OK;
}

static int
fake_read(mqi_io *io, uint8_t *buf, size_t cap, size_t *n)
{
    fake *f = io->layer;
    size_t k;

    *n = 0;
    FCHECK(cap > 0);
    if (!f->built)
        build_stream(f);
    if (rnd(f) % 4 == 0) {
        io->want = EPOLLIN;
        return MQ_ERR_AGAIN;
    }
    if (f->pos == f->in_len) {
        if (f->io_error) {
            snprintf(mqi_io_err, sizeof mqi_io_err, "fake: connection reset");
            return MQ_ERR_IO;
        }
        return MQ_ERR_CLOSED;
    }
    k = 1 + rnd(f) % 40;
    if (k > cap)
        k = cap;
    if (k > f->in_len - f->pos)
        k = f->in_len - f->pos;
    memcpy(buf, f->in + f->pos, k);
    f->pos += k;
    *n = k;
    return MQ_OK;
}

static int
fake_write(mqi_io *io, const uint8_t *buf, size_t len, size_t *n)
{
    fake *f = io->layer;
    size_t k;

    *n = 0;
    FCHECK(len > 0);
    if (rnd(f) % 4 == 0) {
        io->want = EPOLLOUT;
        return MQ_ERR_AGAIN;
    }
    k = 1 + rnd(f) % 50;
    if (k > len)
        k = len;
    sent_add(f, buf, k);
    *n = k;
    return MQ_OK;
}

static void
fake_close(mqi_io *io)
{
    (void)io;
}

static const mqi_io_ops fake_ops = {
    fake_handshake, fake_read, fake_write, fake_close, NULL,
};

/* ---- reference frame parser (RFC 6455 section 5.2) --------------------- */

enum { END_EOF, END_CLOSE, END_PROTO };

/* Data payload bytes a client must deliver from @p s (frames only), and
 * how the stream ends. */
static int
ref_frames(const uint8_t *s, size_t n, uint8_t *out, size_t *out_n)
{
    size_t i = 0, o = 0;
    bool in_msg = false;

    for (;;) {
        uint8_t b0, b1, op;
        uint64_t len;
        size_t hl = 2, k;

        if (n - i < 2)
            break;
        b0 = s[i];
        b1 = s[i + 1];
        len = b1 & 0x7F;
        if (len == 126)
            hl = 4;
        else if (len == 127)
            hl = 10;
        if (n - i < hl)
            break;
        if (len == 126)
            len = (uint64_t)s[i + 2] << 8 | s[i + 3];
        else if (len == 127)
            for (len = 0, k = 2; k < 10; k++)
                len = len << 8 | s[i + k];
        op = b0 & 0x0F;
        if ((b0 & 0x70) || (b1 & 0x80))
            goto proto;
        if (op == 0x2) {
            if (in_msg)
                goto proto;
            in_msg = !(b0 & 0x80);
        } else if (op == 0x0) {
            if (!in_msg)
                goto proto;
            in_msg = !(b0 & 0x80);
        } else if (op >= 0x8 && op <= 0xA) {
            if (!(b0 & 0x80) || len > 125)
                goto proto;
        } else {
            goto proto;
        }
        i += hl;
        k = (uint64_t)(n - i) < len ? n - i : (size_t)len;
        if (op <= 0x2) {
            memcpy(out + o, s + i, k);
            o += k;
        }
        i += k;
        if (k < len)
            break; /* stream ends inside the frame */
        if (op == 0x8) {
            *out_n = o;
            return len == 1 ? END_PROTO : END_CLOSE;
        }
    }
    *out_n = o;
    return END_EOF;
proto:
    *out_n = o;
    return END_PROTO;
}

/* Check what the layer sent after its request: masked frames with FIN,
 * minimal length encoding; returns the unmasked binary payloads. */
static size_t
client_frames(const uint8_t *s, size_t n, uint8_t *out)
{
    size_t i = 0, o = 0, k;

    for (k = 0; k + 4 <= n; k++)
        if (memcmp(s + k, "\r\n\r\n", 4) == 0)
            break;
    FCHECK(k + 4 <= n); /* the request went out first */
    i = k + 4;
    while (n - i >= 2) {
        uint8_t b0 = s[i], b1 = s[i + 1], op = b0 & 0x0F, mask[4];
        uint64_t len = b1 & 0x7F;
        size_t hl = 6;

        FCHECK(b0 & 0x80);
        FCHECK((b0 & 0x70) == 0);
        FCHECK(op == 0x2 || op == 0x8 || op == 0xA);
        FCHECK(b1 & 0x80);
        if (len == 126)
            hl = 8;
        else if (len == 127)
            hl = 14;
        if (n - i < hl)
            break; /* the last frame may be cut off */
        if (len == 126) {
            len = (uint64_t)s[i + 2] << 8 | s[i + 3];
            FCHECK(len >= 126);
        } else if (len == 127) {
            FCHECK(0 && "client frames are at most 32 KiB");
        }
        if (op != 0x2)
            FCHECK(len <= 125);
        memcpy(mask, s + i + hl - 4, 4);
        i += hl;
        if ((uint64_t)(n - i) < len)
            break;
        if (op == 0x2)
            for (k = 0; k < len; k++)
                out[o++] = s[i + k] ^ mask[k & 3];
        i += (size_t)len;
    }
    return o;
}

/* ---- the target ------------------------------------------------------------ */

static bool
ok_error(int rc)
{
    return rc == MQ_ERR_PROTOCOL || rc == MQ_ERR_CLOSED || rc == MQ_ERR_IO ||
           rc == MQ_ERR_NOMEM;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fake f;
    mqi_io io;
    int rc = MQ_ERR_AGAIN, steps;
    uint8_t *got = NULL, *want = NULL, *outp = NULL;
    uint8_t wdata[300];
    size_t got_len = 0, written = 0, head_end = 0, i;
    int end;

    if (size < 2 || size > 65536)
        return 0;
    memset(&f, 0, sizeof f);
    f.canned = data[0] & 1;
    f.io_error = (data[0] & 2) != 0;
    f.rng = data[1] * 2654435761u + 1;
    f.raw = data + 2;
    f.raw_len = size - 2;
    memset(&io, 0, sizeof io);
    io.fd = -1;
    io.ops = &fake_ops;
    io.layer = &f;
    FCHECK(mqi_io_ws_start(&io, "broker.example", 8080, "/mqtt") == MQ_OK);

    /* handshake: each step consumes a chunk, an AGAIN or the end */
    for (steps = 0; steps < 100000; steps++) {
        rc = io.ops->handshake(&io);
        if (rc != MQ_ERR_AGAIN)
            break;
        FCHECK(io.want != 0);
    }
    FCHECK(rc != MQ_ERR_AGAIN);
    if (rc != MQ_OK) {
        FCHECK(ok_error(rc));
        FCHECK(mqi_io_err[0] != '\0');
        FCHECK(io.ops->handshake(&io) == rc);
        goto done;
    }

    /* read everything, writing now and then (pongs interleave) */
    got = malloc(f.in_len + 1);
    FCHECK(got != NULL);
    for (i = 0; i < sizeof wdata; i++)
        wdata[i] = (uint8_t)(i * 7 + 3);
    for (steps = 0; steps < 1000000; steps++) {
        size_t cap = 1 + rnd(&f) % 64, n = 99999;
        uint8_t *buf;

        if (rnd(&f) % 3 == 0) {
            /* retry after AGAIN with the same bytes (transport.h) */
            size_t len = 1 + (written * 13) % 97, w = 0;
            uint8_t *src = malloc(len);

            FCHECK(src != NULL);
            for (i = 0; i < len; i++)
                src[i] = wdata[(written + i) % sizeof wdata];
            rc = io.ops->write(&io, src, len, &w);
            free(src);
            if (rc == MQ_OK) {
                FCHECK(w > 0 && w <= len);
                written += w;
            } else if (rc != MQ_ERR_AGAIN) {
                FCHECK(ok_error(rc));
                break;
            }
        }
        buf = malloc(cap); /* exact size: ASan sees an overflow */
        FCHECK(buf != NULL);
        rc = io.ops->read(&io, buf, cap, &n);
        if (rc == MQ_OK) {
            FCHECK(n > 0 && n <= cap);
            FCHECK(got_len + n <= f.in_len);
            memcpy(got + got_len, buf, n);
            got_len += n;
        } else {
            FCHECK(n == 0);
        }
        free(buf);
        if (rc != MQ_OK && rc != MQ_ERR_AGAIN) {
            FCHECK(ok_error(rc));
            break;
        }
    }
    FCHECK(rc != MQ_OK && rc != MQ_ERR_AGAIN);
    {
        size_t n = 1;
        uint8_t b;

        FCHECK(io.ops->read(&io, &b, 1, &n) == rc && n == 0);
        FCHECK(io.ops->write(&io, &b, 1, &n) == rc && n == 0);
    }

    /* what was read == data payloads of the frames after the head */
    for (i = 0; i + 4 <= f.in_len; i++)
        if (memcmp(f.in + i, "\r\n\r\n", 4) == 0) {
            head_end = i + 4;
            break;
        }
    FCHECK(head_end > 0);
    want = malloc(f.in_len + 1);
    FCHECK(want != NULL);
    {
        size_t wn = 0;

        end = ref_frames(f.in + head_end, f.in_len - head_end, want, &wn);
        if (rc != MQ_ERR_NOMEM) {
            FCHECK(got_len == wn && memcmp(got, want, wn) == 0);
            if (end == END_PROTO)
                FCHECK(rc == MQ_ERR_PROTOCOL);
            else if (end == END_CLOSE)
                FCHECK(rc == MQ_ERR_CLOSED);
            else
                FCHECK(rc == (f.io_error ? MQ_ERR_IO : MQ_ERR_CLOSED));
        }
    }

    /* what was sent after the request: masked frames carrying exactly
     * the bytes write() reported */
    outp = malloc(f.sent_len + 1);
    FCHECK(outp != NULL);
    {
        size_t on = client_frames(f.sent, f.sent_len, outp);

        /* A data frame counts as written once it is fully sent; a close
         * from the server may flush the one pending frame (one best-effort
         * try) after which the layer is dead and cannot report it. */
        FCHECK(on >= written && on - written <= 97);
        for (i = 0; i < on; i++)
            FCHECK(outp[i] == wdata[i % sizeof wdata]);
    }
done:
    if (io.ops != NULL)
        io.ops->close(&io);
    free(outp);
    free(want);
    free(got);
    free(f.in);
    free(f.sent);
    return 0;
}
