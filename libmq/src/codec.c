/*
 * codec.c - pure MQTT 3.1.1 / 5.0 packet codec: fixed header, variable byte
 * integers, encoders for every packet type and a strict decoder.
 *
 * Encoders compute the remaining length first, reserve the whole packet once
 * and then write with plain stores and memcpy. The decoder never trusts a
 * length from the wire: every read is bounded by what is left of the body.
 *
 * Threading: none; any thread, no shared state.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "props.h"
#include "topic.h"

/* ---- encoding helpers ---------------------------------------------------- */

static inline uint8_t *
put_u16(uint8_t *w, size_t v)
{
    w[0] = (uint8_t)(v >> 8);
    w[1] = (uint8_t)v;
    return w + 2;
}

static inline uint8_t *
put_span(uint8_t *w, const uint8_t *p, size_t len)
{
    w = put_u16(w, len);
    if (len)
        memcpy(w, p, len);
    return w + len;
}

/* Reserve room for a packet with remaining length @p rem and write its
 * fixed header. *out_w points just after it. */
static int
begin_packet(mqi_buf *b, uint8_t byte0, size_t rem, uint8_t **out_w)
{
    uint8_t *w;
    int rc;

    if (rem > MQI_MAX_REMAINING)
        return MQ_ERR_TOO_LARGE;
    rc = mqi_buf_reserve(b, 5 + rem);
    if (rc != MQ_OK)
        return rc;
    w = b->data + b->len;
    *w++ = byte0;
    w += mqi_varint_encode(w, (uint32_t)rem);
    *out_w = w;
    return MQ_OK;
}

/* Write properties (length prefix included) at *w: the buffer already has
 * room for them. */
static uint8_t *
put_props(mqi_buf *b, uint8_t *w, const mq_props *p,
          size_t plen)
{
    if (plen == 0) {
        *w++ = 0;
        return w;
    }
    /* the room was reserved by begin_packet(): plain stores */
    (void)b;
    w += mqi_varint_encode(w, (uint32_t)plen);
    return mqi_props_write(w, p);
}

static inline size_t
props_field(size_t plen)
{
    return mqi_varint_size((uint32_t)(plen > MQI_MAX_REMAINING ? 0 : plen)) +
           plen;
}

static inline void
end_packet(mqi_buf *b, uint8_t *w)
{
    b->len = (size_t)(w - b->data);
}

#define SPAN_OK(s) ((s).len <= 0xFFFF && ((s).len == 0 || (s).ptr != NULL))

/* ---- encoders ------------------------------------------------------------ */

int
mqi_encode_connect(mqi_buf *b, const mqi_connect *p)
{
    int v = p->version;
    const uint8_t *name = (const uint8_t *)(v == 3 ? "MQIsdp" : "MQTT");
    size_t nlen = v == 3 ? 6 : 4;
    size_t plen = 0, wplen = 0, rem;
    uint8_t flags = 0, *w;
    const mqi_will *wl = &p->will;
    int rc;

    if (v != 3 && v != 4 && v != 5)
        return MQ_ERR_INVAL;
    if (!SPAN_OK(p->client_id) || (p->has_username && !SPAN_OK(p->username)) ||
        (p->has_password && !SPAN_OK(p->password)))
        return MQ_ERR_INVAL;
    if (wl->present &&
        (wl->qos > 2 || !SPAN_OK(wl->topic) || !SPAN_OK(wl->payload)))
        return MQ_ERR_INVAL;

    rem = 2 + nlen + 1 + 1 + 2 + 2 + p->client_id.len;
    if (v == 5) {
        plen = mqi_props_len(p->props);
        if (plen > MQI_MAX_REMAINING)
            return MQ_ERR_TOO_LARGE;
        rem += props_field(plen);
    }
    if (p->clean_start)
        flags |= 0x02;
    if (wl->present) {
        flags |= (uint8_t)(0x04 | wl->qos << 3 | (wl->retain ? 0x20 : 0));
        rem += 4 + wl->topic.len + wl->payload.len;
        if (v == 5) {
            wplen = mqi_props_len(wl->props);
            if (wplen > MQI_MAX_REMAINING)
                return MQ_ERR_TOO_LARGE;
            rem += props_field(wplen);
        }
    }
    if (p->has_username) {
        flags |= 0x80;
        rem += 2 + p->username.len;
    }
    if (p->has_password) {
        flags |= 0x40;
        rem += 2 + p->password.len;
    }

    rc = begin_packet(b, MQI_CONNECT << 4, rem, &w);
    if (rc != MQ_OK)
        return rc;
    w = put_span(w, name, nlen);
    *w++ = (uint8_t)v;
    *w++ = flags;
    w = put_u16(w, p->keepalive);
    if (v == 5)
        w = put_props(b, w, p->props, plen);
    w = put_span(w, p->client_id.ptr, p->client_id.len);
    if (wl->present) {
        if (v == 5)
            w = put_props(b, w, wl->props, wplen);
        w = put_span(w, wl->topic.ptr, wl->topic.len);
        w = put_span(w, wl->payload.ptr, wl->payload.len);
    }
    if (p->has_username)
        w = put_span(w, p->username.ptr, p->username.len);
    if (p->has_password)
        w = put_span(w, p->password.ptr, p->password.len);
    end_packet(b, w);
    return MQ_OK;
}

int
mqi_encode_connack(mqi_buf *b, int version, const mqi_connack *p)
{
    size_t plen = 0, rem = 2;
    uint8_t *w;
    int rc;

    if (version != 3 && version != 4 && version != 5)
        return MQ_ERR_INVAL;
    if (version == 5) {
        plen = mqi_props_len(p->props);
        if (plen > MQI_MAX_REMAINING)
            return MQ_ERR_TOO_LARGE;
        rem += props_field(plen);
    }
    rc = begin_packet(b, MQI_CONNACK << 4, rem, &w);
    if (rc != MQ_OK)
        return rc;
    *w++ = p->session_present ? 1 : 0;
    *w++ = p->reason;
    if (version == 5)
        w = put_props(b, w, p->props, plen);
    end_packet(b, w);
    return MQ_OK;
}

size_t
mqi_publish_wire_size(int version, size_t topic_len,
                      size_t payload_len, size_t props_len, int qos)
{
    size_t rem, vs;

    if (topic_len > MQI_MAX_REMAINING || payload_len > MQI_MAX_REMAINING ||
        props_len > MQI_MAX_REMAINING)
        return (size_t)MQI_MAX_REMAINING + 6;
    rem = 2 + topic_len + (qos > 0 ? 2 : 0) + payload_len;
    if (version == 5)
        rem += mqi_varint_size((uint32_t)props_len) + props_len;
    vs = rem <= MQI_MAX_REMAINING ? mqi_varint_size((uint32_t)rem) : 5;
    return 1 + vs + rem;
}

/* Fixed header + remaining length @p rem; over the maximum for huge ones. */
static size_t
wire_size(size_t rem)
{
    if (rem > MQI_MAX_REMAINING)
        return (size_t)MQI_MAX_REMAINING + 6;
    return 1 + mqi_varint_size((uint32_t)rem) + rem;
}

size_t
mqi_sub_wire_size(int version, uint8_t type, size_t count,
                  size_t filter_bytes, size_t props_len)
{
    size_t per = type == MQI_SUBSCRIBE ? 3 : 2; /* length (+ options) */

    if (count > MQI_MAX_REMAINING || filter_bytes > MQI_MAX_REMAINING ||
        props_len > MQI_MAX_REMAINING)
        return wire_size(SIZE_MAX);
    return wire_size(2 + count * per + filter_bytes +
                     (version == 5 ? props_field(props_len) : 0));
}

size_t
mqi_disconnect_wire_size(int version, uint8_t reason,
                         size_t props_len)
{
    if (version != 5)
        return 2;
    if (props_len > MQI_MAX_REMAINING)
        return wire_size(SIZE_MAX);
    /* same shape as mqi_encode_disconnect */
    return wire_size(props_len > 0 ? 1 + props_field(props_len)
                                   : reason != 0 ? 1 : 0);
}

static int
encode_publish(mqi_buf *b, int version, const mqi_publish *p,
               bool with_payload)
{
    size_t plen = 0, rem;
    uint8_t byte0, *w;
    int rc;

    if (p->qos > 2 || (p->qos > 0 && p->packet_id == 0) ||
        (p->qos == 0 && p->dup) || !SPAN_OK(p->topic) ||
        (with_payload && p->payload.len > 0 && p->payload.ptr == NULL))
        return MQ_ERR_INVAL;
    if (p->payload.len > MQI_MAX_REMAINING)
        return MQ_ERR_TOO_LARGE;
    rem = 2 + p->topic.len + (p->qos ? 2 : 0) + p->payload.len;
    if (version == 5) {
        if (p->props != NULL && p->props->n > 0) {
            plen = mqi_props_len(p->props);
            if (plen > MQI_MAX_REMAINING)
                return MQ_ERR_TOO_LARGE;
        }
        if (p->topic_alias != 0)
            plen += 3; /* MQTT 5 §3.3.2.3.4: id + two-byte integer */
        rem += props_field(plen);
    }
    if (rem > MQI_MAX_REMAINING)
        return MQ_ERR_TOO_LARGE;
    byte0 = (uint8_t)(MQI_PUBLISH << 4 | (p->dup ? 0x08 : 0) | p->qos << 1 |
                      (p->retain ? 0x01 : 0));
    rc = mqi_buf_reserve(b, 5 + rem - (with_payload ? 0 : p->payload.len));
    if (rc != MQ_OK)
        return rc;
    w = b->data + b->len;
    *w++ = byte0;
    w += mqi_varint_encode(w, (uint32_t)rem);
    w = put_span(w, p->topic.ptr, p->topic.len);
    if (p->qos)
        w = put_u16(w, p->packet_id);
    if (version == 5) {
        w += mqi_varint_encode(w, (uint32_t)plen);
        w = mqi_props_write(w, p->props);
        if (p->topic_alias != 0) {
            *w++ = MQ_PROP_TOPIC_ALIAS;
            w = put_u16(w, p->topic_alias);
        }
    }
    if (with_payload && p->payload.len) {
        memcpy(w, p->payload.ptr, p->payload.len);
        w += p->payload.len;
    }
    end_packet(b, w);
    return MQ_OK;
}

int
mqi_encode_publish(mqi_buf *b, int version, const mqi_publish *p)
{
    return encode_publish(b, version, p, true);
}

int
mqi_encode_publish_head(mqi_buf *b, int version, const mqi_publish *p)
{
    return encode_publish(b, version, p, false);
}

int
mqi_encode_ack(mqi_buf *b, int version, const mqi_ack *p)
{
    size_t plen = 0, rem = 2;
    uint8_t *w;
    int rc;

    if (p->type < MQI_PUBACK || p->type > MQI_PUBCOMP || p->packet_id == 0)
        return MQ_ERR_INVAL;
    if (version == 5) {
        plen = mqi_props_len(p->props);
        if (plen > MQI_MAX_REMAINING)
            return MQ_ERR_TOO_LARGE;
        if (plen > 0)
            rem += 1 + props_field(plen);
        else if (p->reason != 0)
            rem += 1; /* MQTT 5 §3.4.2.2.1: no property length below 4 */
    }
    rc = begin_packet(b, (uint8_t)(p->type << 4 | (p->type == MQI_PUBREL ? 2 : 0)),
                      rem, &w);
    if (rc != MQ_OK)
        return rc;
    w = put_u16(w, p->packet_id);
    if (rem > 2)
        *w++ = p->reason;
    if (rem > 3)
        w = put_props(b, w, p->props, plen);
    end_packet(b, w);
    return MQ_OK;
}

int
mqi_encode_subscribe(mqi_buf *b, int version, const mqi_subscribe *p)
{
    size_t plen = 0, rem = 2, i;
    uint8_t *w;
    int rc;

    if (p->packet_id == 0 || p->count == 0 || p->entries == NULL)
        return MQ_ERR_INVAL;
    for (i = 0; i < p->count; i++) {
        const mqi_sub_entry *e = &p->entries[i];
        uint8_t o = e->options;
        if (!SPAN_OK(e->filter) || (o & 3) == 3)
            return MQ_ERR_INVAL;
        if (version == 5 ? ((o & 0xC0) || (o >> 4 & 3) == 3) : (o & 0xFC))
            return MQ_ERR_INVAL;
        rem += 3 + e->filter.len;
    }
    if (version == 5) {
        plen = mqi_props_len(p->props);
        if (plen > MQI_MAX_REMAINING)
            return MQ_ERR_TOO_LARGE;
        rem += props_field(plen);
    }
    rc = begin_packet(b, MQI_SUBSCRIBE << 4 | 2, rem, &w);
    if (rc != MQ_OK)
        return rc;
    w = put_u16(w, p->packet_id);
    if (version == 5)
        w = put_props(b, w, p->props, plen);
    for (i = 0; i < p->count; i++) {
        w = put_span(w, p->entries[i].filter.ptr, p->entries[i].filter.len);
        *w++ = p->entries[i].options;
    }
    end_packet(b, w);
    return MQ_OK;
}

int
mqi_encode_suback(mqi_buf *b, int version, uint8_t type,
                  const mqi_suback *p)
{
    size_t plen = 0, rem = 2, nr;
    uint8_t *w;
    int rc;

    if ((type != MQI_SUBACK && type != MQI_UNSUBACK) || p->packet_id == 0)
        return MQ_ERR_INVAL;
    /* v3.1.1 UNSUBACK carries only the packet id. */
    nr = (version != 5 && type == MQI_UNSUBACK) ? 0 : p->reasons.len;
    if (!(version != 5 && type == MQI_UNSUBACK) &&
        (nr == 0 || p->reasons.ptr == NULL))
        return MQ_ERR_INVAL;
    rem += nr;
    if (version == 5) {
        plen = mqi_props_len(p->props);
        if (plen > MQI_MAX_REMAINING)
            return MQ_ERR_TOO_LARGE;
        rem += props_field(plen);
    }
    rc = begin_packet(b, (uint8_t)(type << 4), rem, &w);
    if (rc != MQ_OK)
        return rc;
    w = put_u16(w, p->packet_id);
    if (version == 5)
        w = put_props(b, w, p->props, plen);
    if (nr) {
        memcpy(w, p->reasons.ptr, nr);
        w += nr;
    }
    end_packet(b, w);
    return MQ_OK;
}

int
mqi_encode_unsubscribe(mqi_buf *b, int version, const mqi_unsubscribe *p)
{
    size_t plen = 0, rem = 2, i;
    uint8_t *w;
    int rc;

    if (p->packet_id == 0 || p->count == 0 || p->filters == NULL)
        return MQ_ERR_INVAL;
    for (i = 0; i < p->count; i++) {
        if (!SPAN_OK(p->filters[i]))
            return MQ_ERR_INVAL;
        rem += 2 + p->filters[i].len;
    }
    if (version == 5) {
        plen = mqi_props_len(p->props);
        if (plen > MQI_MAX_REMAINING)
            return MQ_ERR_TOO_LARGE;
        rem += props_field(plen);
    }
    rc = begin_packet(b, MQI_UNSUBSCRIBE << 4 | 2, rem, &w);
    if (rc != MQ_OK)
        return rc;
    w = put_u16(w, p->packet_id);
    if (version == 5)
        w = put_props(b, w, p->props, plen);
    for (i = 0; i < p->count; i++)
        w = put_span(w, p->filters[i].ptr, p->filters[i].len);
    end_packet(b, w);
    return MQ_OK;
}

int
mqi_encode_simple(mqi_buf *b, uint8_t type)
{
    int rc;

    if (type != MQI_PINGREQ && type != MQI_PINGRESP && type != MQI_DISCONNECT)
        return MQ_ERR_INVAL;
    rc = mqi_buf_reserve(b, 2);
    if (rc != MQ_OK)
        return rc;
    b->data[b->len++] = (uint8_t)(type << 4);
    b->data[b->len++] = 0;
    return MQ_OK;
}

int
mqi_encode_disconnect(mqi_buf *b, int version, uint8_t type,
                      const mqi_disconnect *p)
{
    size_t plen = 0, rem = 0;
    uint8_t *w;
    int rc;

    if (type != MQI_DISCONNECT && type != MQI_AUTH)
        return MQ_ERR_INVAL;
    if (version != 5) {
        if (type == MQI_AUTH)
            return MQ_ERR_INVAL;
        return mqi_encode_simple(b, MQI_DISCONNECT);
    }
    plen = mqi_props_len(p->props);
    if (plen > MQI_MAX_REMAINING)
        return MQ_ERR_TOO_LARGE;
    if (plen > 0)
        rem = 1 + props_field(plen);
    else if (p->reason != 0)
        rem = 1;
    rc = begin_packet(b, (uint8_t)(type << 4), rem, &w);
    if (rc != MQ_OK)
        return rc;
    if (rem > 0)
        *w++ = p->reason;
    if (rem > 1)
        w = put_props(b, w, p->props, plen);
    end_packet(b, w);
    return MQ_OK;
}

/* ---- decoding ------------------------------------------------------------ */

int
mqi_decode_header(const uint8_t *p, size_t avail, uint8_t *out_byte0,
                  uint32_t *out_remaining, size_t *out_hdr_len)
{
    uint32_t rem;
    size_t used;
    int rc;

    if (avail < 2)
        return MQ_ERR_AGAIN;
    rc = mqi_varint_decode(p + 1, avail - 1, &rem, &used);
    if (rc != MQ_OK)
        return rc;
    /* MQTT 5 §1.5.5 / 3.1.1 §2.2.3: the minimum number of bytes; a last
     * byte of 0 after a continuation is a non-minimal encoding. Type 0 is
     * reserved and can never start a valid packet. */
    if ((used > 1 && p[used] == 0) || (p[0] >> 4) == 0)
        return MQ_ERR_MALFORMED;
    *out_byte0 = p[0];
    *out_remaining = rem;
    *out_hdr_len = 1 + used;
    return MQ_OK;
}

/* A bounded reader over the packet body. */
typedef struct rd {
    const uint8_t *p;
    size_t left;
} rd;

/* Decoder failures carry both the error and the v5 reason code. */
#define FAIL(err, rcode)                                                    \
    do {                                                                    \
        rc = (err);                                                         \
        reason = (rcode);                                                   \
        goto fail;                                                          \
    } while (0)
#define MALFORMED() FAIL(MQ_ERR_MALFORMED, MQ_RC_MALFORMED_PACKET)
#define PROTOCOL() FAIL(MQ_ERR_PROTOCOL, MQ_RC_PROTOCOL_ERROR)

static inline bool
rd_u8(rd *r, uint8_t *v)
{
    if (r->left < 1)
        return false;
    *v = r->p[0];
    r->p++;
    r->left--;
    return true;
}

static inline bool
rd_u16(rd *r, uint16_t *v)
{
    if (r->left < 2)
        return false;
    *v = (uint16_t)(r->p[0] << 8 | r->p[1]);
    r->p += 2;
    r->left -= 2;
    return true;
}

/* Two-byte length + bytes. */
static inline bool
rd_bin(rd *r, mqi_span *s)
{
    uint16_t n;

    if (!rd_u16(r, &n) || n > r->left)
        return false;
    s->ptr = r->p;
    s->len = n;
    r->p += n;
    r->left -= n;
    return true;
}

/* Two-byte length + valid MQTT UTF-8. */
static inline bool
rd_str(rd *r, mqi_span *s)
{
    return rd_bin(r, s) && mqi_utf8_valid(s->ptr, s->len);
}

/* Property length + properties, validated for @p type. MQ_OK, or the
 * error from mqi_props_validate / MQ_ERR_MALFORMED for a bad length. */
static int
rd_props(rd *r, int type, mqi_span *s)
{
    uint32_t n;
    size_t used;
    int rc;

    if (mqi_varint_decode(r->p, r->left, &n, &used) != MQ_OK)
        return MQ_ERR_MALFORMED;
    r->p += used;
    r->left -= used;
    if (n > r->left)
        return MQ_ERR_MALFORMED;
    rc = mqi_props_validate(r->p, n, type);
    if (rc != MQ_OK)
        return rc;
    s->ptr = n ? r->p : NULL;
    s->len = n;
    r->p += n;
    r->left -= n;
    return MQ_OK;
}

/* Does the (validated) property block hold a Topic Alias? */
static bool
props_have_alias(mqi_span s)
{
    size_t i = 0, used;
    uint32_t id, v;

    while (i < s.len) {
        if (mqi_varint_decode(s.ptr + i, s.len - i, &id, &used) != MQ_OK)
            return false;
        i += used;
        if (id == MQ_PROP_TOPIC_ALIAS)
            return true;
        switch (mqi_prop_type((int)(id > 0xFF ? 0 : id))) {
        case MQI_PT_BYTE:
            i += 1;
            break;
        case MQI_PT_U16:
            i += 2;
            break;
        case MQI_PT_U32:
            i += 4;
            break;
        case MQI_PT_VARINT:
            if (mqi_varint_decode(s.ptr + i, s.len - i, &v, &used) != MQ_OK)
                return false;
            i += used;
            break;
        case MQI_PT_PAIR:
            if (s.len - i < 2)
                return false;
            i += 2 + ((size_t)s.ptr[i] << 8 | s.ptr[i + 1]);
            if (i > s.len)
                return false;
            /* fall through */
        case MQI_PT_STRING:
        case MQI_PT_BINARY:
            if (s.len - i < 2)
                return false;
            i += 2 + ((size_t)s.ptr[i] << 8 | s.ptr[i + 1]);
            break;
        default:
            return false;
        }
        if (i > s.len)
            return false;
    }
    return false;
}

/* Reason codes a v5 packet may carry (MQTT 5 §2.4, per packet section). */
static const uint8_t rc_connack[] = {
    0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
    0x8A, 0x8C, 0x90, 0x95, 0x97, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F};
static const uint8_t rc_puback[] = {0x00, 0x10, 0x80, 0x83, 0x87,
                                    0x90, 0x91, 0x97, 0x99};
static const uint8_t rc_pubrel[] = {0x00, 0x92};
static const uint8_t rc_suback[] = {0x00, 0x01, 0x02, 0x80, 0x83, 0x87,
                                    0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2};
static const uint8_t rc_unsuback[] = {0x00, 0x11, 0x80, 0x83,
                                      0x87, 0x8F, 0x91};
static const uint8_t rc_disconnect[] = {
    0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D,
    0x8E, 0x8F, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99,
    0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2};
static const uint8_t rc_auth[] = {0x00, 0x18, 0x19};
static const uint8_t rc_suback_v3[] = {0x00, 0x01, 0x02, 0x80};

#define RC_IN(code, tab) rc_in((code), (tab), sizeof(tab))

static bool
rc_in(uint8_t code, const uint8_t *tab, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (tab[i] == code)
            return true;
    return false;
}

/* Map a props validation failure to (error, reason). */
#define PROPS_FAIL(prc)                                                     \
    do {                                                                    \
        if ((prc) == MQ_ERR_PROTOCOL)                                       \
            PROTOCOL();                                                     \
        MALFORMED();                                                        \
    } while (0)

int
mqi_decode(int version, uint8_t byte0, const uint8_t *body, size_t len,
           mqi_packet *out, uint8_t *out_reason)
{
    uint8_t type = byte0 >> 4, flags = byte0 & 0x0F, reason = 0, b;
    rd r = {body, len};
    bool v5 = version == 5;
    int rc, prc;

    memset(out, 0, sizeof(*out));
    out->type = type;
    out->flags = flags;
    if (len > 0 && body == NULL)
        MALFORMED();
    if (len > MQI_MAX_REMAINING)
        MALFORMED();

    /* Reserved fixed-header flags (MQTT 5 §2.1.3, 3.1.1 §2.2.2). */
    switch (type) {
    case MQI_PUBLISH:
        break;
    case MQI_PUBREL:
    case MQI_SUBSCRIBE:
    case MQI_UNSUBSCRIBE:
        if (flags != 0x2)
            MALFORMED();
        break;
    case MQI_AUTH:
        if (!v5)
            MALFORMED(); /* AUTH does not exist before MQTT 5 */
        /* fall through */
    default:
        if (type == 0 || flags != 0)
            MALFORMED();
        break;
    }

    switch (type) {
    case MQI_CONNECT: {
        mqi_connect *c = &out->u.connect;
        mqi_span name;
        uint8_t cf;
        bool will;

        if (!rd_bin(&r, &name) || !rd_u8(&r, &c->version) || !rd_u8(&r, &cf) ||
            !rd_u16(&r, &c->keepalive))
            MALFORMED();
        if (!((name.len == 4 && memcmp(name.ptr, "MQTT", 4) == 0 &&
               (c->version == 4 || c->version == 5)) ||
              (name.len == 6 && memcmp(name.ptr, "MQIsdp", 6) == 0 &&
               c->version == 3))) {
            if ((name.len == 4 && memcmp(name.ptr, "MQTT", 4) == 0) ||
                (name.len == 6 && memcmp(name.ptr, "MQIsdp", 6) == 0))
                FAIL(MQ_ERR_PROTOCOL, MQ_RC_UNSUPPORTED_PROTOCOL_VERSION);
            MALFORMED();
        }
        v5 = c->version == 5;
        /* Connect flags: bit 0 reserved; Will QoS/Retain only with Will. */
        will = cf & 0x04;
        if ((cf & 0x01) || (cf >> 3 & 3) == 3 ||
            (!will && (cf & 0x38)))
            MALFORMED();
        /* 3.1.1 §3.1.2.9: a password needs a user name (v5 lifts it). */
        if (!v5 && (cf & 0x40) && !(cf & 0x80))
            MALFORMED();
        c->clean_start = cf & 0x02;
        c->has_username = cf & 0x80;
        c->has_password = cf & 0x40;
        if (v5 && (prc = rd_props(&r, MQI_CONNECT, &c->props_raw)) != MQ_OK)
            PROPS_FAIL(prc);
        if (!rd_str(&r, &c->client_id))
            MALFORMED();
        if (will) {
            c->will.present = true;
            c->will.qos = cf >> 3 & 3;
            c->will.retain = cf & 0x20;
            if (v5 && (prc = rd_props(&r, MQI_WILL_PROPS,
                                      &c->will.props_raw)) != MQ_OK)
                PROPS_FAIL(prc);
            if (!rd_str(&r, &c->will.topic) || !rd_bin(&r, &c->will.payload))
                MALFORMED();
            if (mqi_topic_check(c->will.topic.ptr, c->will.topic.len) !=
                MQ_OK)
                FAIL(MQ_ERR_PROTOCOL, MQ_RC_TOPIC_NAME_INVALID);
        }
        if (c->has_username && !rd_str(&r, &c->username))
            MALFORMED();
        if (c->has_password && !rd_bin(&r, &c->password))
            MALFORMED();
        break;
    }

    case MQI_CONNACK: {
        mqi_connack *c = &out->u.connack;

        if (!rd_u8(&r, &b) || !rd_u8(&r, &c->reason))
            MALFORMED();
        /* A 3.1.1 broker answers a level 5 CONNECT with return code 1 and
         * no properties (3.1.1 §3.1.2.2, [MQTT-3.1.2-2]). Unambiguous: a
         * v5 CONNACK has a property length and no reason code 0x01. */
        if (v5 && len == 2 && b == 0 && c->reason == 0x01) {
            c->v311_refusal = true;
            c->reason = MQ_RC_UNSUPPORTED_PROTOCOL_VERSION;
            break;
        }
        if (b & 0xFE)
            MALFORMED(); /* Connect Acknowledge Flags bits 7..1 reserved */
        c->session_present = b & 1;
        if (v5 && r.left == 0 && c->reason == 1 && !c->session_present) {
            /* A 3.1.1-only broker (aedes) answers a v5 CONNECT with its
             * own CONNACK, return code 1 "unacceptable protocol version"
             * (MQTT 5 section 3.1.2.2 allows it): report it as 0x84, as
             * paho-mqtt does, not as a malformed packet. */
            c->reason = MQ_RC_UNSUPPORTED_PROTOCOL_VERSION;
        } else if (v5) {
            if (!RC_IN(c->reason, rc_connack))
                PROTOCOL();
            if ((prc = rd_props(&r, MQI_CONNACK, &c->props_raw)) != MQ_OK)
                PROPS_FAIL(prc);
        } else if (c->reason > 5) {
            MALFORMED(); /* 3.1.1 return codes 6..255 are reserved */
        }
        /* Session Present must be 0 on a refusal. */
        if (c->session_present && c->reason != 0)
            PROTOCOL();
        break;
    }

    case MQI_PUBLISH: {
        mqi_publish *p = &out->u.publish;

        p->qos = flags >> 1 & 3;
        p->retain = flags & 1;
        p->dup = flags & 8;
        if (p->qos == 3)
            MALFORMED();
        if (p->qos == 0 && p->dup)
            MALFORMED(); /* MQTT 5 §3.3.1.1: DUP must be 0 for QoS 0 */
        if (!rd_bin(&r, &p->topic))
            MALFORMED();
        if (p->qos) {
            if (!rd_u16(&r, &p->packet_id))
                MALFORMED();
            if (p->packet_id == 0)
                PROTOCOL();
        }
        if (v5 && (prc = rd_props(&r, MQI_PUBLISH, &p->props_raw)) != MQ_OK)
            PROPS_FAIL(prc);
        if (p->topic.len == 0) {
            /* v5 §3.3.2.1: empty only together with a Topic Alias. */
            if (!v5 || !props_have_alias(p->props_raw))
                PROTOCOL();
        } else {
            rc = mqi_topic_check(p->topic.ptr, p->topic.len);
            if (rc == MQ_ERR_TOPIC)
                FAIL(MQ_ERR_PROTOCOL, MQ_RC_TOPIC_NAME_INVALID);
            if (rc != MQ_OK)
                MALFORMED();
        }
        p->payload.ptr = r.left ? r.p : NULL;
        p->payload.len = r.left;
        r.p += r.left;
        r.left = 0;
        break;
    }

    case MQI_PUBACK:
    case MQI_PUBREC:
    case MQI_PUBREL:
    case MQI_PUBCOMP: {
        mqi_ack *a = &out->u.ack;

        a->type = type;
        if (!rd_u16(&r, &a->packet_id))
            MALFORMED();
        if (a->packet_id == 0)
            PROTOCOL();
        if (v5 && r.left > 0) {
            rd_u8(&r, &a->reason);
            if (type == MQI_PUBACK || type == MQI_PUBREC ?
                    !RC_IN(a->reason, rc_puback) :
                    !RC_IN(a->reason, rc_pubrel))
                PROTOCOL();
            if (r.left > 0 &&
                (prc = rd_props(&r, type, &a->props_raw)) != MQ_OK)
                PROPS_FAIL(prc);
        }
        break;
    }

    case MQI_SUBSCRIBE: {
        mqi_subscribe *s = &out->u.subscribe;
        mqi_sub_entry e;

        if (!rd_u16(&r, &s->packet_id))
            MALFORMED();
        if (s->packet_id == 0)
            PROTOCOL();
        if (v5 && (prc = rd_props(&r, MQI_SUBSCRIBE, &s->props_raw)) != MQ_OK)
            PROPS_FAIL(prc);
        s->raw.ptr = r.left ? r.p : NULL;
        s->raw.len = r.left;
        while (r.left > 0) {
            if (!rd_str(&r, &e.filter) || !rd_u8(&r, &e.options))
                MALFORMED();
            if ((e.options & 3) == 3)
                MALFORMED();
            if (v5) {
                if (e.options & 0xC0)
                    MALFORMED();
                if ((e.options >> 4 & 3) == 3)
                    PROTOCOL();
            } else if (e.options & 0xFC) {
                MALFORMED();
            }
            rc = mqi_filter_check(e.filter.ptr, e.filter.len);
            if (rc == MQ_ERR_TOPIC)
                FAIL(MQ_ERR_PROTOCOL, MQ_RC_TOPIC_FILTER_INVALID);
            if (rc != MQ_OK)
                MALFORMED();
            /* v5 §3.8.3.1: No Local on a shared subscription. */
            if (v5 && (e.options & MQ_SUB_NO_LOCAL) && e.filter.len >= 7 &&
                memcmp(e.filter.ptr, "$share/", 7) == 0)
                PROTOCOL();
            s->count++;
        }
        if (s->count == 0)
            PROTOCOL();
        break;
    }

    case MQI_SUBACK:
    case MQI_UNSUBACK: {
        mqi_suback *s = &out->u.suback;
        size_t i;

        if (!rd_u16(&r, &s->packet_id))
            MALFORMED();
        if (s->packet_id == 0)
            PROTOCOL();
        if (v5 && (prc = rd_props(&r, type, &s->props_raw)) != MQ_OK)
            PROPS_FAIL(prc);
        if (!v5 && type == MQI_UNSUBACK)
            break; /* trailing bytes caught below */
        s->reasons.ptr = r.left ? r.p : NULL;
        s->reasons.len = r.left;
        if (r.left == 0)
            PROTOCOL();
        for (i = 0; i < r.left; i++) {
            uint8_t c = r.p[i];
            bool ok = type == MQI_UNSUBACK ? RC_IN(c, rc_unsuback) :
                      v5                   ? RC_IN(c, rc_suback) :
                                             RC_IN(c, rc_suback_v3);
            if (!ok)
                PROTOCOL();
        }
        r.p += r.left;
        r.left = 0;
        break;
    }

    case MQI_UNSUBSCRIBE: {
        mqi_unsubscribe *u = &out->u.unsubscribe;
        mqi_span f;

        if (!rd_u16(&r, &u->packet_id))
            MALFORMED();
        if (u->packet_id == 0)
            PROTOCOL();
        if (v5 &&
            (prc = rd_props(&r, MQI_UNSUBSCRIBE, &u->props_raw)) != MQ_OK)
            PROPS_FAIL(prc);
        u->raw.ptr = r.left ? r.p : NULL;
        u->raw.len = r.left;
        while (r.left > 0) {
            if (!rd_str(&r, &f))
                MALFORMED();
            rc = mqi_filter_check(f.ptr, f.len);
            if (rc == MQ_ERR_TOPIC)
                FAIL(MQ_ERR_PROTOCOL, MQ_RC_TOPIC_FILTER_INVALID);
            if (rc != MQ_OK)
                MALFORMED();
            u->count++;
        }
        if (u->count == 0)
            PROTOCOL();
        break;
    }

    case MQI_PINGREQ:
    case MQI_PINGRESP:
        break;

    case MQI_DISCONNECT:
    case MQI_AUTH: {
        mqi_disconnect *d = &out->u.disconnect;

        if (!v5)
            break;
        if (r.left > 0) {
            rd_u8(&r, &d->reason);
            if (type == MQI_AUTH ? !RC_IN(d->reason, rc_auth) :
                                   !RC_IN(d->reason, rc_disconnect))
                PROTOCOL();
            if (r.left > 0 &&
                (prc = rd_props(&r, type, &d->props_raw)) != MQ_OK)
                PROPS_FAIL(prc);
        }
        break;
    }

    default:
        MALFORMED();
    }

    /* Remaining length must match the content exactly. */
    if (r.left != 0)
        MALFORMED();
    if (out_reason)
        *out_reason = 0;
    return MQ_OK;

fail:
    if (out_reason)
        *out_reason = reason;
    return rc;
}

bool
mqi_subscribe_next(const mqi_subscribe *s, size_t *pos,
                   mqi_sub_entry *out)
{
    rd r;

    if (s->entries != NULL) { /* an encode-side struct: *pos is an index */
        if (*pos >= s->count)
            return false;
        *out = s->entries[(*pos)++];
        return true;
    }
    if (*pos >= s->raw.len)
        return false;
    r.p = s->raw.ptr + *pos;
    r.left = s->raw.len - *pos;
    if (!rd_bin(&r, &out->filter) || !rd_u8(&r, &out->options))
        return false;
    *pos = s->raw.len - r.left;
    return true;
}

bool
mqi_unsubscribe_next(const mqi_unsubscribe *u, size_t *pos,
                     mqi_span *out)
{
    rd r;

    if (u->filters != NULL) {
        if (*pos >= u->count)
            return false;
        *out = u->filters[(*pos)++];
        return true;
    }
    if (*pos >= u->raw.len)
        return false;
    r.p = u->raw.ptr + *pos;
    r.left = u->raw.len - *pos;
    if (!rd_bin(&r, out))
        return false;
    *pos = u->raw.len - r.left;
    return true;
}
