/*
 * wire.c - the bottom layer of the MQTT encoding shared by the codec and
 * the properties: the growable output buffer and the variable byte
 * integer. Nothing here knows a packet.
 *
 * Threading: none; any thread, no shared state.
 */
#include <stdlib.h>
#include <string.h>

#include "wire.h"

/* ---- buffer -------------------------------------------------------------- */

void
mqi_buf_init(mqi_buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void
mqi_buf_free(mqi_buf *b)
{
    free(b->data);
    mqi_buf_init(b);
}

int
mqi_buf_reserve(mqi_buf *b, size_t extra)
{
    size_t need, ncap;
    uint8_t *nd;

    if (extra > SIZE_MAX - b->len)
        return MQ_ERR_NOMEM;
    need = b->len + extra;
    if (need <= b->cap)
        return MQ_OK;
    ncap = b->cap ? b->cap : MQI_BUF_FIRST;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2) {
            ncap = need;
            break;
        }
        ncap *= 2;
    }
    nd = realloc(b->data, ncap);
    if (nd == NULL)
        return MQ_ERR_NOMEM;
    b->data = nd;
    b->cap = ncap;
    return MQ_OK;
}

void
mqi_buf_consume(mqi_buf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

/* ---- variable byte integer ---------------------------------------------- */

size_t
mqi_varint_size(uint32_t v)
{
    if (v < 128u)
        return 1;
    if (v < 16384u)
        return 2;
    if (v < 2097152u)
        return 3;
    if (v <= MQI_MAX_REMAINING)
        return 4;
    return 0;
}

size_t
mqi_varint_encode(uint8_t out[4], uint32_t v)
{
    size_t n = 0;

    if (v > MQI_MAX_REMAINING)
        return 0;
    do {
        uint8_t d = (uint8_t)(v & 0x7F);
        v >>= 7;
        if (v)
            d |= 0x80;
        out[n++] = d;
    } while (v);
    return n;
}

int
mqi_varint_decode(const uint8_t *p, size_t avail, uint32_t *out_v,
                  size_t *out_used)
{
    uint32_t v = 0;
    size_t i;

    for (i = 0; i < 4; i++) {
        if (i >= avail)
            return MQ_ERR_AGAIN;
        v |= (uint32_t)(p[i] & 0x7F) << (7 * i);
        if (!(p[i] & 0x80)) {
            *out_v = v;
            *out_used = i + 1;
            return MQ_OK;
        }
    }
    return MQ_ERR_MALFORMED; /* a 5th byte would be needed */
}
