/*
 * fuzz_decode.c - libFuzzer target for the MQTT packet decoder, both
 * protocol versions. Input: byte 0 picks the version (bit 0: 0 -> 3.1.1,
 * 1 -> 5), the rest is a byte stream cut into packets by the fixed header,
 * as the worker does. Every body is copied into an exact-size allocation so
 * ASan sees any read past it.
 *
 * Checks, beyond "no crash": failures carry MQ_ERR_MALFORMED/PROTOCOL and a
 * reason code >= 0x80; on success every span lies inside the body, the
 * property block validates and parses, and the packet survives a round
 * trip (decode -> encode -> decode gives the same fields and canonical
 * properties).
 *
 * Threading: none.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "fuzz_common.h"
#include "props.h"

static const uint8_t *g_lo, *g_hi;

static void
span_in(mqi_span s)
{
    if (s.len == 0)
        return;
    FCHECK(s.ptr != NULL);
    FCHECK(s.ptr >= g_lo && s.ptr + s.len <= g_hi);
}

static int
span_eq(mqi_span a, mqi_span b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

/* Parse raw properties (must succeed: the decoder validated them) and
 * return the list; *canon gets their canonical encoding without the
 * length prefix. */
static mq_props *
props_of(mqi_span raw, int type, mqi_buf *canon)
{
    mq_props *p = NULL;
    int rc;

    mqi_buf_init(canon);
    if (raw.len == 0)
        return NULL;
    span_in(raw);
    FCHECK(mqi_props_validate(raw.ptr, raw.len, type) == MQ_OK);
    rc = mqi_props_parse(raw.ptr, raw.len, &p);
    FCHECK(rc == MQ_OK || rc == MQ_ERR_NOMEM);
    if (rc != MQ_OK)
        return NULL;
    FCHECK(p != NULL && mq_props_count(p) > 0);
    if (mqi_props_encode(canon, p) == MQ_OK) {
        uint32_t n;
        size_t used;
        FCHECK(mqi_varint_decode(canon->data, canon->len, &n, &used) ==
               MQ_OK);
        FCHECK(n == canon->len - used);
        memmove(canon->data, canon->data + used, n);
        canon->len = n;
    }
    return p;
}

static void
props_same(mqi_span raw2, const mqi_buf *canon)
{
    FCHECK(raw2.len == canon->len);
    if (raw2.len > 0)
        FCHECK(memcmp(raw2.ptr, canon->data, raw2.len) == 0);
}

/* Decode the single packet in b (exactly one) into *out. */
static void
redecode(int version, const mqi_buf *b, mqi_packet *out)
{
    uint8_t b0, reason = 0;
    uint32_t rem;
    size_t hl;

    FCHECK(mqi_decode_header(b->data, b->len, &b0, &rem, &hl) == MQ_OK);
    FCHECK(hl + rem == b->len);
    FCHECK(mqi_decode(version, b0, b->data + hl, rem, out, &reason) ==
           MQ_OK);
}

static void
roundtrip(int version, uint8_t b0, const mqi_packet *p)
{
    mqi_buf out, c1, c2;
    mqi_packet q;
    mq_props *pr = NULL, *pr2 = NULL;
    int rc = MQ_OK, rv = version;
    uint8_t type = b0 >> 4;

    mqi_buf_init(&out);
    mqi_buf_init(&c1);
    mqi_buf_init(&c2);
    switch (type) {
    case MQI_CONNECT: {
        mqi_connect c = p->u.connect;
        rv = c.version;
        span_in(c.client_id);
        span_in(c.will.topic);
        span_in(c.will.payload);
        span_in(c.username);
        span_in(c.password);
        pr = props_of(c.props_raw, MQI_CONNECT, &c1);
        pr2 = props_of(c.will.props_raw, MQI_WILL_PROPS, &c2);
        c.props = pr;
        c.will.props = pr2;
        rc = mqi_encode_connect(&out, &c);
        FCHECK(rc == MQ_OK || rc == MQ_ERR_NOMEM);
        if (rc != MQ_OK)
            break;
        redecode(version, &out, &q);
        FCHECK(q.u.connect.version == c.version);
        FCHECK(q.u.connect.clean_start == c.clean_start);
        FCHECK(q.u.connect.keepalive == c.keepalive);
        FCHECK(span_eq(q.u.connect.client_id, c.client_id));
        FCHECK(q.u.connect.will.present == c.will.present);
        if (c.will.present) {
            FCHECK(q.u.connect.will.qos == c.will.qos);
            FCHECK(q.u.connect.will.retain == c.will.retain);
            FCHECK(span_eq(q.u.connect.will.topic, c.will.topic));
            FCHECK(span_eq(q.u.connect.will.payload, c.will.payload));
            props_same(q.u.connect.will.props_raw, &c2);
        }
        FCHECK(q.u.connect.has_username == c.has_username);
        FCHECK(q.u.connect.has_password == c.has_password);
        FCHECK(span_eq(q.u.connect.username, c.username));
        FCHECK(span_eq(q.u.connect.password, c.password));
        props_same(q.u.connect.props_raw, &c1);
        break;
    }
    case MQI_CONNACK: {
        mqi_connack c = p->u.connack;
        pr = props_of(c.props_raw, MQI_CONNACK, &c1);
        c.props = pr;
        if (mqi_encode_connack(&out, version, &c) != MQ_OK)
            break;
        redecode(version, &out, &q);
        FCHECK(q.u.connack.session_present == c.session_present);
        FCHECK(q.u.connack.reason == c.reason);
        props_same(q.u.connack.props_raw, &c1);
        break;
    }
    case MQI_PUBLISH: {
        mqi_publish c = p->u.publish;
        span_in(c.topic);
        span_in(c.payload);
        FCHECK(c.qos <= 2);
        FCHECK((c.qos == 0) == (c.packet_id == 0));
        pr = props_of(c.props_raw, MQI_PUBLISH, &c1);
        c.props = pr;
        if (mqi_encode_publish(&out, version, &c) != MQ_OK)
            break;
        FCHECK(out.len == mqi_publish_wire_size(version, c.topic.len,
                                                c.payload.len, c1.len,
                                                c.qos));
        redecode(version, &out, &q);
        FCHECK(q.flags == p->flags);
        FCHECK(q.u.publish.packet_id == c.packet_id);
        FCHECK(span_eq(q.u.publish.topic, c.topic));
        FCHECK(span_eq(q.u.publish.payload, c.payload));
        props_same(q.u.publish.props_raw, &c1);
        break;
    }
    case MQI_PUBACK:
    case MQI_PUBREC:
    case MQI_PUBREL:
    case MQI_PUBCOMP: {
        mqi_ack c = p->u.ack;
        FCHECK(c.type == type && c.packet_id != 0);
        pr = props_of(c.props_raw, type, &c1);
        c.props = pr;
        if (mqi_encode_ack(&out, version, &c) != MQ_OK)
            break;
        redecode(version, &out, &q);
        FCHECK(q.type == type);
        FCHECK(q.u.ack.packet_id == c.packet_id);
        FCHECK(q.u.ack.reason == c.reason);
        props_same(q.u.ack.props_raw, &c1);
        break;
    }
    case MQI_SUBSCRIBE: {
        mqi_subscribe c = p->u.subscribe;
        mqi_sub_entry *e, x;
        size_t pos = 0, n = 0;
        span_in(c.raw);
        FCHECK(c.count > 0);
        e = calloc(c.count, sizeof *e);
        if (e == NULL)
            break;
        while (mqi_subscribe_next(&c, &pos, &x)) {
            FCHECK(n < c.count);
            span_in(x.filter);
            e[n++] = x;
        }
        FCHECK(n == c.count);
        pr = props_of(c.props_raw, MQI_SUBSCRIBE, &c1);
        c.props = pr;
        c.entries = e;
        if (mqi_encode_subscribe(&out, version, &c) == MQ_OK) {
            redecode(version, &out, &q);
            FCHECK(q.u.subscribe.packet_id == c.packet_id);
            FCHECK(q.u.subscribe.count == c.count);
            pos = 0;
            n = 0;
            while (mqi_subscribe_next(&q.u.subscribe, &pos, &x)) {
                FCHECK(span_eq(x.filter, e[n].filter));
                FCHECK(x.options == e[n].options);
                n++;
            }
            FCHECK(n == c.count);
            props_same(q.u.subscribe.props_raw, &c1);
        }
        free(e);
        break;
    }
    case MQI_UNSUBSCRIBE: {
        mqi_unsubscribe c = p->u.unsubscribe;
        mqi_span *f, x;
        size_t pos = 0, n = 0;
        span_in(c.raw);
        FCHECK(c.count > 0);
        f = calloc(c.count, sizeof *f);
        if (f == NULL)
            break;
        while (mqi_unsubscribe_next(&c, &pos, &x)) {
            FCHECK(n < c.count);
            span_in(x);
            f[n++] = x;
        }
        FCHECK(n == c.count);
        pr = props_of(c.props_raw, MQI_UNSUBSCRIBE, &c1);
        c.props = pr;
        c.filters = f;
        if (mqi_encode_unsubscribe(&out, version, &c) == MQ_OK) {
            redecode(version, &out, &q);
            FCHECK(q.u.unsubscribe.packet_id == c.packet_id);
            FCHECK(q.u.unsubscribe.count == c.count);
            pos = 0;
            n = 0;
            while (mqi_unsubscribe_next(&q.u.unsubscribe, &pos, &x))
                FCHECK(span_eq(x, f[n++]));
            FCHECK(n == c.count);
            props_same(q.u.unsubscribe.props_raw, &c1);
        }
        free(f);
        break;
    }
    case MQI_SUBACK:
    case MQI_UNSUBACK: {
        mqi_suback c = p->u.suback;
        span_in(c.reasons);
        FCHECK(c.packet_id != 0);
        if (type == MQI_SUBACK || version == 5)
            FCHECK(c.reasons.len > 0);
        pr = props_of(c.props_raw, type, &c1);
        c.props = pr;
        if (mqi_encode_suback(&out, version, type, &c) != MQ_OK)
            break;
        redecode(version, &out, &q);
        FCHECK(q.u.suback.packet_id == c.packet_id);
        FCHECK(span_eq(q.u.suback.reasons, c.reasons));
        props_same(q.u.suback.props_raw, &c1);
        break;
    }
    case MQI_PINGREQ:
    case MQI_PINGRESP:
        FCHECK(mqi_encode_simple(&out, type) == MQ_OK);
        redecode(version, &out, &q);
        FCHECK(q.type == type);
        break;
    case MQI_DISCONNECT:
    case MQI_AUTH: {
        mqi_disconnect c = p->u.disconnect;
        pr = props_of(c.props_raw, type, &c1);
        c.props = pr;
        if (mqi_encode_disconnect(&out, version, type, &c) != MQ_OK)
            break;
        redecode(version, &out, &q);
        FCHECK(q.type == type);
        FCHECK(q.u.disconnect.reason == c.reason);
        props_same(q.u.disconnect.props_raw, &c1);
        break;
    }
    default:
        FCHECK(!"decoder accepted an unknown packet type");
    }
    (void)rv;
    mq_props_free(pr);
    mq_props_free(pr2);
    mqi_buf_free(&out);
    mqi_buf_free(&c1);
    mqi_buf_free(&c2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int version;
    const uint8_t *p;
    size_t left;

    if (size < 1)
        return 0;
    version = (data[0] & 1) ? 5 : 4;
    p = data + 1;
    left = size - 1;
    while (left > 0) {
        uint8_t b0, reason = 0xEE;
        uint32_t rem;
        size_t hl, blen;
        uint8_t *body;
        mqi_packet pkt;
        int rc;

        rc = mqi_decode_header(p, left, &b0, &rem, &hl);
        FCHECK(rc == MQ_OK || rc == MQ_ERR_AGAIN || rc == MQ_ERR_MALFORMED);
        if (rc != MQ_OK)
            break;
        FCHECK(hl >= 2 && hl <= 5 && hl <= left);
        FCHECK(rem <= MQI_MAX_REMAINING);
        /* A truncated last packet is decoded with what is there: the
         * decoder must stay inside the bytes it was given. */
        blen = rem <= left - hl ? rem : left - hl;
        body = malloc(blen ? blen : 1);
        if (body == NULL)
            return 0;
        if (blen)
            memcpy(body, p + hl, blen);
        g_lo = body;
        g_hi = body + blen;
        rc = mqi_decode(version, b0, blen ? body : NULL, blen, &pkt, &reason);
        if (rc == MQ_OK) {
            FCHECK(reason == 0);
            FCHECK(pkt.type == (b0 >> 4));
            roundtrip(version, b0, &pkt);
        } else {
            FCHECK(rc == MQ_ERR_MALFORMED || rc == MQ_ERR_PROTOCOL);
            FCHECK(reason >= 0x80);
        }
        free(body);
        p += hl + blen;
        left -= hl + blen;
    }
    return 0;
}
