/*
 * codec.h - pure MQTT 3.1.1 / 5.0 packet codec.
 *
 * Bytes in, structs out; structs in, bytes appended to a growable buffer.
 * No I/O, no clock, no locks. Decoded structs point into the input buffer
 * (mqi_span), so the input must outlive them. Everything from the wire is
 * validated strictly: remaining length, UTF-8, property ids and types,
 * packet ids, reserved flags, QoS, topic rules.
 *
 * Threading: none; any thread, no shared state.
 */
#ifndef MQI_CODEC_H
#define MQI_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "check.h"
#include "mq.h"
#include "wire.h"

/* ---- packet structs ----------------------------------------------------
 * For encoding, fill the `props` pointer (may be NULL; ignored for v3.1.1).
 * Decoding fills `props_raw` with the validated property bytes (without the
 * length prefix; len 0 when absent) and leaves `props` NULL. */

typedef struct mqi_will {
    bool present;
    uint8_t qos;
    bool retain;
    mqi_span topic;
    mqi_span payload;
    const mq_props *props;
    mqi_span props_raw;
} mqi_will;

typedef struct mqi_connect {
    uint8_t version; /* 4 (3.1.1) or 5; decode also accepts 3 (3.1) */
    bool clean_start;
    uint16_t keepalive;
    mqi_span client_id;
    mqi_will will;
    bool has_username;
    mqi_span username;
    bool has_password;
    mqi_span password;
    const mq_props *props;
    mqi_span props_raw;
} mqi_connect;

typedef struct mqi_connack {
    bool session_present;
    uint8_t reason; /* raw: v3 return code 0..5, or v5 reason code */
    const mq_props *props;
    mqi_span props_raw;
    /* decode, version 5: the broker answered with a 3.1.1 CONNACK
     * (return code 1, "unacceptable protocol version", 3.1.1 §3.2.2.3):
     * it does not speak MQTT 5. reason is then 0x84. */
    bool v311_refusal;
} mqi_connack;

typedef struct mqi_publish {
    uint8_t qos;
    bool retain;
    bool dup;
    uint16_t packet_id; /* 0 for QoS 0 */
    mqi_span topic;     /* may be empty in v5 when a Topic Alias is used */
    mqi_span payload;
    const mq_props *props;
    mqi_span props_raw;
    /* encode, v5: a Topic Alias property written after props (0: none;
     * props must not hold one then). Decode leaves it 0: the alias stays
     * in props_raw. */
    uint16_t topic_alias;
} mqi_publish;

/* PUBACK, PUBREC, PUBREL, PUBCOMP */
typedef struct mqi_ack {
    uint8_t type; /* MQI_PUBACK .. MQI_PUBCOMP */
    uint16_t packet_id;
    uint8_t reason; /* v5; 0 when absent */
    const mq_props *props;
    mqi_span props_raw;
} mqi_ack;

typedef struct mqi_sub_entry {
    mqi_span filter;
    uint8_t options; /* v3: QoS only; v5: MQ_SUB_* bits */
} mqi_sub_entry;

typedef struct mqi_subscribe {
    uint16_t packet_id;
    /* encode: entries[count]; decode: raw is the payload, count counted */
    size_t count;
    const mqi_sub_entry *entries;
    mqi_span raw;
    const mq_props *props;
    mqi_span props_raw;
} mqi_subscribe;

/* Iterate the entries of a decoded SUBSCRIBE: *pos starts at 0. Returns
 * true and fills *out while entries remain. */
bool mqi_subscribe_next(const mqi_subscribe *s, size_t *pos,
                        mqi_sub_entry *out);

typedef struct mqi_unsubscribe {
    uint16_t packet_id;
    size_t count;
    const mqi_span *filters; /* encode */
    mqi_span raw;            /* decode: payload */
    const mq_props *props;
    mqi_span props_raw;
} mqi_unsubscribe;

bool mqi_unsubscribe_next(const mqi_unsubscribe *u, size_t *pos,
                          mqi_span *out);

/* SUBACK and UNSUBACK (v3.1.1 UNSUBACK has no reason codes). */
typedef struct mqi_suback {
    uint16_t packet_id;
    mqi_span reasons; /* one byte per filter */
    const mq_props *props;
    mqi_span props_raw;
} mqi_suback;

/* DISCONNECT and AUTH */
typedef struct mqi_disconnect {
    uint8_t reason;
    const mq_props *props;
    mqi_span props_raw;
} mqi_disconnect;

typedef struct mqi_packet {
    uint8_t type;  /* MQI_* */
    uint8_t flags; /* fixed header low nibble */
    union {
        mqi_connect connect;
        mqi_connack connack;
        mqi_publish publish;
        mqi_ack ack;
        mqi_subscribe subscribe;
        mqi_suback suback; /* SUBACK and UNSUBACK */
        mqi_unsubscribe unsubscribe;
        mqi_disconnect disconnect; /* DISCONNECT and AUTH */
    } u;
} mqi_packet;

/* ---- encoding ------------------------------------------------------------
 * Each appends one complete packet to @p b. @p version is 4 or 5.
 * Returns MQ_OK, MQ_ERR_NOMEM, MQ_ERR_TOO_LARGE (remaining length over the
 * MQTT maximum), or MQ_ERR_INVAL for arguments the protocol forbids
 * (QoS 3, packet id 0 where one is needed, v5-only packet on v3). Strings
 * are not re-validated here: the API layer validates user input. */
MQI_MUST_CHECK int mqi_encode_connect(mqi_buf *b, const mqi_connect *p);
MQI_MUST_CHECK int mqi_encode_connack(mqi_buf *b, int version, const mqi_connack *p);
MQI_MUST_CHECK int mqi_encode_publish(mqi_buf *b, int version, const mqi_publish *p);
/* The same packet without its payload bytes (the remaining length counts
 * them): the caller sends p->payload right after, without copying it. */
MQI_MUST_CHECK int mqi_encode_publish_head(mqi_buf *b, int version, const mqi_publish *p);
/* v5: reason and properties omitted when reason is 0 and props empty. */
MQI_MUST_CHECK int mqi_encode_ack(mqi_buf *b, int version, const mqi_ack *p);
MQI_MUST_CHECK int mqi_encode_subscribe(mqi_buf *b, int version, const mqi_subscribe *p);
/* type: MQI_SUBACK or MQI_UNSUBACK */
MQI_MUST_CHECK int mqi_encode_suback(mqi_buf *b, int version, uint8_t type,
                      const mqi_suback *p);
MQI_MUST_CHECK int mqi_encode_unsubscribe(mqi_buf *b, int version, const mqi_unsubscribe *p);
/* PINGREQ or PINGRESP (or v3 DISCONNECT): a bare 2-byte packet. */
MQI_MUST_CHECK int mqi_encode_simple(mqi_buf *b, uint8_t type);
/* type: MQI_DISCONNECT or MQI_AUTH. v3 DISCONNECT: reason/props ignored. */
MQI_MUST_CHECK int mqi_encode_disconnect(mqi_buf *b, int version, uint8_t type,
                          const mqi_disconnect *p);

/* Total wire size of a PUBLISH (fixed header included), for maximum packet
 * size checks before queueing. props_len: encoded properties without their
 * length prefix (ignored for v3); a Topic Alias counts 3 bytes. */
size_t mqi_publish_wire_size(int version, size_t topic_len,
                             size_t payload_len, size_t props_len, int qos);
/* The same for a SUBSCRIBE or UNSUBSCRIBE (@p type) of @p count filters
 * holding @p filter_bytes bytes in all. */
size_t mqi_sub_wire_size(int version, uint8_t type, size_t count,
                         size_t filter_bytes, size_t props_len);
/* The same for a DISCONNECT or AUTH with this reason and properties. */
size_t mqi_disconnect_wire_size(int version, uint8_t reason,
                                size_t props_len);

/* ---- decoding ------------------------------------------------------------ */

/* Parse a fixed header at @p p. MQ_OK with *out_byte0 (type<<4|flags),
 * *out_remaining and *out_hdr_len (2..5); MQ_ERR_AGAIN if more bytes are
 * needed; MQ_ERR_MALFORMED for a bad remaining length. */
MQI_MUST_CHECK int mqi_decode_header(const uint8_t *p, size_t avail, uint8_t *out_byte0,
                      uint32_t *out_remaining, size_t *out_hdr_len);

/* Decode one packet body (after the fixed header). @p version is the
 * connection's protocol (ignored for CONNECT, which carries its own).
 * Validates everything: reserved flags, lengths, UTF-8, topic rules,
 * property ids allowed for the packet, duplicate properties, packet id != 0,
 * QoS != 3, v5-only packets on v3. On failure returns MQ_ERR_MALFORMED or
 * MQ_ERR_PROTOCOL and sets *out_reason (if non-NULL) to the v5 reason code
 * to send in a DISCONNECT (0x81 malformed, 0x82 protocol error, ...). */
MQI_MUST_CHECK int mqi_decode(int version, uint8_t byte0, const uint8_t *body, size_t len,
               mqi_packet *out, uint8_t *out_reason);

#endif
