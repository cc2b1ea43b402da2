/*
 * wire.h - the bottom layer of the MQTT encoding, below codec.c and
 * props.c (which both use it, and neither of which the other needs for
 * it): packet type numbers, byte spans, the growable output buffer, the
 * variable byte integer.
 *
 * Threading: none; any thread, no shared state.
 */
#ifndef MQI_WIRE_H
#define MQI_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mq.h"

#include "check.h"

/* Packet types (fixed header bits 7..4). */
enum {
    MQI_CONNECT = 1,
    MQI_CONNACK = 2,
    MQI_PUBLISH = 3,
    MQI_PUBACK = 4,
    MQI_PUBREC = 5,
    MQI_PUBREL = 6,
    MQI_PUBCOMP = 7,
    MQI_SUBSCRIBE = 8,
    MQI_SUBACK = 9,
    MQI_UNSUBSCRIBE = 10,
    MQI_UNSUBACK = 11,
    MQI_PINGREQ = 12,
    MQI_PINGRESP = 13,
    MQI_DISCONNECT = 14,
    MQI_AUTH = 15
};

#define MQI_MAX_REMAINING 268435455u /* 4-byte varint maximum */

/* A read-only view of bytes (not NUL-terminated). */
typedef struct mqi_span {
    const uint8_t *ptr;
    size_t len;
} mqi_span;

/* A growable output buffer. Zero-initialise, or mqi_buf_init(). Its
 * first allocation is MQI_BUF_FIRST bytes, doubled as needed. */
#define MQI_BUF_FIRST 256
typedef struct mqi_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
} mqi_buf;

void mqi_buf_init(mqi_buf *b);
void mqi_buf_free(mqi_buf *b);
/* Make room for @p extra more bytes. MQ_OK or MQ_ERR_NOMEM. */
MQI_MUST_CHECK int mqi_buf_reserve(mqi_buf *b, size_t extra);
/* Drop the first @p n bytes (after a partial write). */
void mqi_buf_consume(mqi_buf *b, size_t n);

/* Variable byte integer (MQTT §1.5.5 / §2.2.3). Encode writes 1..4 bytes to
 * out and returns the count (0 if v > MQI_MAX_REMAINING). Decode returns
 * MQ_OK, MQ_ERR_AGAIN (need more bytes) or MQ_ERR_MALFORMED (5th byte or
 * non-minimal... only the 4-byte limit is enforced; MQTT allows non-minimal
 * encodings to be rejected, we reject values over 4 bytes). */
size_t mqi_varint_encode(uint8_t out[4], uint32_t v);
size_t mqi_varint_size(uint32_t v);
MQI_MUST_CHECK int mqi_varint_decode(const uint8_t *p, size_t avail, uint32_t *out_v,
                      size_t *out_used);

#endif
