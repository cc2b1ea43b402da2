/*
 * test_codec.c - unit tests of the MQTT packet codec: byte vectors written
 * by hand from the MQTT 3.1.1 and 5.0 specifications, encode/decode round
 * trips of every packet type in both versions, and one test per validation
 * rule of the decoder.
 *
 * Threading: Criterion runs each test in its own process.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "codec.h"
#include "props.h"

#define SP(s) ((mqi_span){(const uint8_t *)(s), sizeof(s) - 1})

static bool span_eq(mqi_span a, const char *s)
{
    size_t n = strlen(s);
    return a.len == n && (n == 0 || memcmp(a.ptr, s, n) == 0);
}

/* Decode a complete packet (fixed header included). The header must say
 * exactly @p n bytes. */
static int dec(int ver, const uint8_t *d, size_t n, mqi_packet *pk,
               uint8_t *reason)
{
    uint8_t b0;
    uint32_t rem;
    size_t hl;
    int rc = mqi_decode_header(d, n, &b0, &rem, &hl);

    if (rc != MQ_OK)
        return rc;
    cr_assert_eq(hl + rem, n, "header says %zu bytes, have %zu",
                 hl + (size_t)rem, n);
    return mqi_decode(ver, b0, d + hl, rem, pk, reason);
}

/* Decode a body given without the fixed header; check rc and reason. */
#define CHECK_BODY(ver, byte0, exp_rc, exp_reason, ...)                     \
    do {                                                                    \
        const uint8_t v_[] = {__VA_ARGS__};                                 \
        mqi_packet pk_;                                                     \
        uint8_t r_ = 0xEE;                                                  \
        int rc_ = mqi_decode((ver), (byte0), v_, sizeof(v_), &pk_, &r_);    \
        cr_assert_eq(rc_, (exp_rc), "rc %d, expected %d", rc_, (exp_rc));   \
        cr_assert_eq(r_, (exp_reason), "reason 0x%02x, expected 0x%02x",    \
                     r_, (exp_reason));                                     \
    } while (0)

/* A packet with an empty body. */
#define CHECK_EMPTY(ver, byte0, exp_rc, exp_reason)                         \
    do {                                                                    \
        mqi_packet pk_;                                                     \
        uint8_t r_ = 0xEE;                                                  \
        int rc_ = mqi_decode((ver), (byte0), NULL, 0, &pk_, &r_);           \
        cr_assert_eq(rc_, (exp_rc), "rc %d, expected %d", rc_, (exp_rc));   \
        cr_assert_eq(r_, (exp_reason), "reason 0x%02x", r_);                \
    } while (0)

#define EXPECT_OK(ver, byte0, ...) CHECK_BODY(ver, byte0, MQ_OK, 0, __VA_ARGS__)
#define EXPECT_MALFORMED(ver, byte0, ...)                                   \
    CHECK_BODY(ver, byte0, MQ_ERR_MALFORMED, 0x81, __VA_ARGS__)
#define EXPECT_PROTOCOL(ver, byte0, ...)                                    \
    CHECK_BODY(ver, byte0, MQ_ERR_PROTOCOL, 0x82, __VA_ARGS__)

/* Encode with @p fn, then decode the result into *pk. The buffer is kept
 * in *b (spans point into it). */
static void decode_all(int ver, mqi_buf *b, mqi_packet *pk)
{
    uint8_t reason = 0xEE;
    int rc = dec(ver, b->data, b->len, pk, &reason);
    cr_assert_eq(rc, MQ_OK, "decode of our own encoding failed: %d reason "
                 "0x%02x", rc, reason);
}

/* ---- variable byte integer ---------------------------------------------- */

Test(varint, encodes_the_spec_boundary_values)
{
    static const struct {
        uint32_t v;
        size_t n;
        uint8_t b[4];
    } t[] = {
        {0, 1, {0x00}},
        {127, 1, {0x7F}},
        {128, 2, {0x80, 0x01}},
        {16383, 2, {0xFF, 0x7F}},
        {16384, 3, {0x80, 0x80, 0x01}},
        {2097151, 3, {0xFF, 0xFF, 0x7F}},
        {2097152, 4, {0x80, 0x80, 0x80, 0x01}},
        {268435455, 4, {0xFF, 0xFF, 0xFF, 0x7F}},
    };
    size_t i;

    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        uint8_t out[4];
        uint32_t v;
        size_t used;
        cr_assert_eq(mqi_varint_encode(out, t[i].v), t[i].n);
        cr_assert_eq(mqi_varint_size(t[i].v), t[i].n);
        cr_assert_arr_eq(out, t[i].b, t[i].n);
        cr_assert_eq(mqi_varint_decode(t[i].b, t[i].n, &v, &used), MQ_OK);
        cr_assert_eq(v, t[i].v);
        cr_assert_eq(used, t[i].n);
    }
}

Test(varint, refuses_to_encode_values_over_four_bytes)
{
    uint8_t out[4];
    cr_assert_eq(mqi_varint_encode(out, 268435456u), 0);
    cr_assert_eq(mqi_varint_size(268435456u), 0);
}

Test(varint, decode_of_a_fifth_byte_is_malformed)
{
    const uint8_t b[] = {0xFF, 0xFF, 0xFF, 0xFF, 0x01};
    uint32_t v;
    size_t used;
    cr_assert_eq(mqi_varint_decode(b, sizeof(b), &v, &used),
                 MQ_ERR_MALFORMED);
}

Test(varint, decode_of_a_partial_value_asks_for_more)
{
    const uint8_t b[] = {0x80, 0x80};
    uint32_t v;
    size_t used;
    cr_assert_eq(mqi_varint_decode(b, 2, &v, &used), MQ_ERR_AGAIN);
    cr_assert_eq(mqi_varint_decode(b, 0, &v, &used), MQ_ERR_AGAIN);
}

/* ---- fixed header -------------------------------------------------------- */

Test(header, needs_two_bytes_and_a_complete_length)
{
    const uint8_t p[] = {0x30, 0x80, 0x01};
    uint8_t b0;
    uint32_t rem;
    size_t hl;

    cr_assert_eq(mqi_decode_header(p, 1, &b0, &rem, &hl), MQ_ERR_AGAIN);
    cr_assert_eq(mqi_decode_header(p, 2, &b0, &rem, &hl), MQ_ERR_AGAIN);
    cr_assert_eq(mqi_decode_header(p, 3, &b0, &rem, &hl), MQ_OK);
    cr_assert_eq(b0, 0x30);
    cr_assert_eq(rem, 128);
    cr_assert_eq(hl, 3);
}

Test(header, five_byte_remaining_length_is_malformed)
{
    const uint8_t p[] = {0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01};
    uint8_t b0;
    uint32_t rem;
    size_t hl;
    cr_assert_eq(mqi_decode_header(p, sizeof(p), &b0, &rem, &hl),
                 MQ_ERR_MALFORMED);
}

/* ---- known byte vectors -------------------------------------------------- */

/* MQTT 3.1.1 §3.1: CONNECT with clean session, Will (QoS 1, retained),
 * user name and password. */
static const uint8_t connect311[] = {
    0x10, 31,                                 /* CONNECT, remaining 31 */
    0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04,     /* protocol name, level 4 */
    0xEE,                                     /* user|pass|wretain|wqos1|will|clean */
    0x00, 0x3C,                               /* keepalive 60 */
    0x00, 0x03, 'c', 'i', 'd',                /* client id */
    0x00, 0x03, 'w', '/', 't',                /* will topic */
    0x00, 0x03, 'b', 'y', 'e',                /* will payload */
    0x00, 0x01, 'u',                          /* user name */
    0x00, 0x01, 'p',                          /* password */
};

Test(vectors, connect_311_with_will_user_and_password_encodes_exactly)
{
    mqi_buf b = {0};
    mqi_connect c = {0};

    c.version = 4;
    c.clean_start = true;
    c.keepalive = 60;
    c.client_id = SP("cid");
    c.will.present = true;
    c.will.qos = 1;
    c.will.retain = true;
    c.will.topic = SP("w/t");
    c.will.payload = SP("bye");
    c.has_username = true;
    c.username = SP("u");
    c.has_password = true;
    c.password = SP("p");
    cr_assert_eq(mqi_encode_connect(&b, &c), MQ_OK);
    cr_assert_eq(b.len, sizeof(connect311));
    cr_assert_arr_eq(b.data, connect311, sizeof(connect311));
    mqi_buf_free(&b);
}

Test(vectors, connect_311_with_will_user_and_password_decodes)
{
    mqi_packet pk;
    uint8_t reason;
    const mqi_connect *c = &pk.u.connect;

    cr_assert_eq(dec(4, connect311, sizeof(connect311), &pk, &reason), MQ_OK);
    cr_assert_eq(pk.type, MQI_CONNECT);
    cr_assert_eq(c->version, 4);
    cr_assert(c->clean_start);
    cr_assert_eq(c->keepalive, 60);
    cr_assert(span_eq(c->client_id, "cid"));
    cr_assert(c->will.present);
    cr_assert_eq(c->will.qos, 1);
    cr_assert(c->will.retain);
    cr_assert(span_eq(c->will.topic, "w/t"));
    cr_assert(span_eq(c->will.payload, "bye"));
    cr_assert(c->has_username && span_eq(c->username, "u"));
    cr_assert(c->has_password && span_eq(c->password, "p"));
}

Test(vectors, connect_31_mqisdp_level_3_is_accepted_by_the_decoder)
{
    EXPECT_OK(4, 0x10, 0x00, 0x06, 'M', 'Q', 'I', 's', 'd', 'p', 0x03, 0x02,
              0x00, 0x0A, 0x00, 0x01, 'x');
}

Test(vectors, publish_311_qos1_matches_spec_layout)
{
    const uint8_t want[] = {0x32, 9, 0x00, 0x03, 'a', '/', 'b',
                            0x00, 0x0A, 'h', 'i'};
    mqi_buf b = {0};
    mqi_publish p = {0};

    p.qos = 1;
    p.packet_id = 10;
    p.topic = SP("a/b");
    p.payload = SP("hi");
    cr_assert_eq(mqi_encode_publish(&b, 4, &p), MQ_OK);
    cr_assert_eq(b.len, sizeof(want));
    cr_assert_arr_eq(b.data, want, sizeof(want));
    cr_assert_eq(mqi_publish_wire_size(4, 3, 2, 0, 1), sizeof(want));
    mqi_buf_free(&b);
}

Test(vectors, publish_v5_with_payload_format_indicator_decodes)
{
    const uint8_t v[] = {0x31, 7, 0x00, 0x01, 't', 0x02, 0x01, 0x01, 'x'};
    mqi_packet pk;
    uint8_t reason;

    cr_assert_eq(dec(5, v, sizeof(v), &pk, &reason), MQ_OK);
    cr_assert_eq(pk.u.publish.qos, 0);
    cr_assert(pk.u.publish.retain);
    cr_assert(span_eq(pk.u.publish.topic, "t"));
    cr_assert(span_eq(pk.u.publish.payload, "x"));
    cr_assert_eq(pk.u.publish.props_raw.len, 2);
    cr_assert_eq(pk.u.publish.props_raw.ptr[0], 0x01);
}

Test(vectors, connack_v5_minimal_is_five_bytes)
{
    const uint8_t want[] = {0x20, 0x03, 0x00, 0x00, 0x00};
    mqi_buf b = {0};
    mqi_connack c = {0};

    cr_assert_eq(mqi_encode_connack(&b, 5, &c), MQ_OK);
    cr_assert_arr_eq(b.data, want, sizeof(want));
    cr_assert_eq(b.len, sizeof(want));
    mqi_buf_free(&b);
}

Test(vectors, subscribe_311_matches_spec_layout)
{
    const uint8_t want[] = {0x82, 8, 0x00, 0x01, 0x00, 0x03, 'a', '/', '#', 0x01};
    mqi_sub_entry e = {SP("a/#"), 1};
    mqi_subscribe s = {0};
    mqi_buf b = {0};

    s.packet_id = 1;
    s.count = 1;
    s.entries = &e;
    cr_assert_eq(mqi_encode_subscribe(&b, 4, &s), MQ_OK);
    cr_assert_eq(b.len, sizeof(want));
    cr_assert_arr_eq(b.data, want, sizeof(want));
    mqi_buf_free(&b);
}

Test(vectors, v5_ack_omits_reason_and_props_when_success_without_props)
{
    const uint8_t short_ack[] = {0x40, 0x02, 0x00, 0x05};
    const uint8_t reason_only[] = {0x50, 0x03, 0x00, 0x05, 0x10};
    mqi_ack a = {MQI_PUBACK, 5, 0, NULL, {0}};
    mqi_buf b = {0};

    cr_assert_eq(mqi_encode_ack(&b, 5, &a), MQ_OK);
    cr_assert_eq(b.len, sizeof(short_ack));
    cr_assert_arr_eq(b.data, short_ack, sizeof(short_ack));
    b.len = 0;
    a.type = MQI_PUBREC;
    a.reason = 0x10;
    cr_assert_eq(mqi_encode_ack(&b, 5, &a), MQ_OK);
    cr_assert_eq(b.len, sizeof(reason_only));
    cr_assert_arr_eq(b.data, reason_only, sizeof(reason_only));
    mqi_buf_free(&b);
}

Test(vectors, pubrel_has_flags_0x2)
{
    mqi_ack a = {MQI_PUBREL, 7, 0, NULL, {0}};
    mqi_buf b = {0};

    cr_assert_eq(mqi_encode_ack(&b, 4, &a), MQ_OK);
    cr_assert_eq(b.data[0], 0x62);
    mqi_buf_free(&b);
}

Test(vectors, v5_ack_decoder_accepts_lengths_2_3_and_4)
{
    mqi_packet pk;
    uint8_t r;

    cr_assert_eq(mqi_decode(5, 0x40, (const uint8_t[]){0, 5}, 2, &pk, &r),
                 MQ_OK);
    cr_assert_eq(pk.u.ack.reason, 0);
    cr_assert_eq(mqi_decode(5, 0x40, (const uint8_t[]){0, 5, 0x10}, 3, &pk,
                            &r), MQ_OK);
    cr_assert_eq(pk.u.ack.reason, 0x10);
    cr_assert_eq(mqi_decode(5, 0x40, (const uint8_t[]){0, 5, 0x10, 0}, 4,
                            &pk, &r), MQ_OK);
    cr_assert_eq(pk.u.ack.props_raw.len, 0);
}

Test(vectors, disconnect_v5_encodings)
{
    mqi_disconnect d = {0};
    mqi_buf b = {0};

    cr_assert_eq(mqi_encode_disconnect(&b, 5, MQI_DISCONNECT, &d), MQ_OK);
    cr_assert_arr_eq(b.data, ((uint8_t[]){0xE0, 0x00}), 2);
    b.len = 0;
    d.reason = 0x04;
    cr_assert_eq(mqi_encode_disconnect(&b, 5, MQI_DISCONNECT, &d), MQ_OK);
    cr_assert_eq(b.len, 3);
    cr_assert_arr_eq(b.data, ((uint8_t[]){0xE0, 0x01, 0x04}), 3);
    b.len = 0;
    cr_assert_eq(mqi_encode_disconnect(&b, 4, MQI_DISCONNECT, &d), MQ_OK);
    cr_assert_eq(b.len, 2, "v3 DISCONNECT ignores the reason");
    mqi_buf_free(&b);
}

Test(vectors, ping_packets_are_two_bytes)
{
    mqi_buf b = {0};
    mqi_packet pk;
    uint8_t r;

    cr_assert_eq(mqi_encode_simple(&b, MQI_PINGREQ), MQ_OK);
    cr_assert_eq(mqi_encode_simple(&b, MQI_PINGRESP), MQ_OK);
    cr_assert_arr_eq(b.data, ((uint8_t[]){0xC0, 0, 0xD0, 0}), 4);
    cr_assert_eq(dec(4, b.data, 2, &pk, &r), MQ_OK);
    cr_assert_eq(pk.type, MQI_PINGREQ);
    cr_assert_eq(mqi_encode_simple(&b, MQI_PUBLISH), MQ_ERR_INVAL);
    mqi_buf_free(&b);
}

/* ---- round trips --------------------------------------------------------- */

static mq_props *sample_props(int type)
{
    mq_props *p = mq_props_new();
    cr_assert_not_null(p);
    cr_assert_eq(mq_props_add_user(p, "k", "v"), MQ_OK);
    if (type == MQI_CONNECT) {
        cr_assert_eq(mq_props_add_int(p, MQ_PROP_SESSION_EXPIRY_INTERVAL, 300),
                     MQ_OK);
        cr_assert_eq(mq_props_add_int(p, MQ_PROP_RECEIVE_MAXIMUM, 10), MQ_OK);
    } else if (type == MQI_PUBLISH) {
        cr_assert_eq(mq_props_add_int(p, MQ_PROP_PAYLOAD_FORMAT_INDICATOR, 1),
                     MQ_OK);
        cr_assert_eq(mq_props_add_string(p, MQ_PROP_CONTENT_TYPE, "text/x"),
                     MQ_OK);
    } else if (type == MQI_WILL_PROPS) {
        cr_assert_eq(mq_props_add_int(p, MQ_PROP_WILL_DELAY_INTERVAL, 5),
                     MQ_OK);
    } else if (type == MQI_SUBSCRIBE) {
        cr_assert_eq(mq_props_add_int(p, MQ_PROP_SUBSCRIPTION_IDENTIFIER, 200),
                     MQ_OK);
    } else if (type != MQI_UNSUBSCRIBE) {
        cr_assert_eq(mq_props_add_string(p, MQ_PROP_REASON_STRING, "why"),
                     MQ_OK);
    }
    return p;
}

/* The decoded raw properties equal what mqi_props_encode writes. */
static void assert_props_match(mqi_span raw, const mq_props *p)
{
    mqi_buf pb = {0};
    uint32_t n;
    size_t used;

    cr_assert_eq(mqi_props_encode(&pb, p), MQ_OK);
    cr_assert_eq(mqi_varint_decode(pb.data, pb.len, &n, &used), MQ_OK);
    cr_assert_eq(raw.len, n);
    cr_assert_arr_eq(raw.ptr, pb.data + used, n);
    mqi_buf_free(&pb);
}

static void roundtrip_connect(int ver)
{
    mq_props *cp = sample_props(MQI_CONNECT), *wp = sample_props(MQI_WILL_PROPS);
    mqi_connect c = {0};
    mqi_buf b = {0};
    mqi_packet pk;
    const mqi_connect *d = &pk.u.connect;

    c.version = (uint8_t)ver;
    c.keepalive = 65535;
    c.client_id = SP("client-\xC3\xA9");
    c.will.present = true;
    c.will.qos = 2;
    c.will.topic = SP("will/topic");
    c.will.payload = (mqi_span){(const uint8_t *)"\0\1\2", 3};
    c.will.props = wp;
    c.has_password = ver == 5; /* password without user name: v5 only */
    c.password = (mqi_span){(const uint8_t *)"\0pw", 3};
    c.props = cp;
    cr_assert_eq(mqi_encode_connect(&b, &c), MQ_OK);
    decode_all(ver, &b, &pk);
    cr_assert_eq(pk.type, MQI_CONNECT);
    cr_assert_eq(d->version, ver);
    cr_assert(!d->clean_start);
    cr_assert_eq(d->keepalive, 65535);
    cr_assert(span_eq(d->client_id, "client-\xC3\xA9"));
    cr_assert(d->will.present);
    cr_assert_eq(d->will.qos, 2);
    cr_assert(!d->will.retain);
    cr_assert(span_eq(d->will.topic, "will/topic"));
    cr_assert_eq(d->will.payload.len, 3);
    cr_assert(!d->has_username);
    cr_assert_eq(d->has_password, ver == 5);
    if (ver == 5) {
        cr_assert_eq(d->password.len, 3);
        assert_props_match(d->props_raw, cp);
        assert_props_match(d->will.props_raw, wp);
    } else {
        cr_assert_eq(d->props_raw.len, 0);
    }
    mqi_buf_free(&b);
    mq_props_free(cp);
    mq_props_free(wp);
}

Test(roundtrip, connect_v311) { roundtrip_connect(4); }
Test(roundtrip, connect_v5) { roundtrip_connect(5); }

Test(roundtrip, connect_without_will_or_credentials)
{
    int ver;
    for (ver = 4; ver <= 5; ver++) {
        mqi_connect c = {0};
        mqi_buf b = {0};
        mqi_packet pk;

        c.version = (uint8_t)ver;
        c.clean_start = true;
        cr_assert_eq(mqi_encode_connect(&b, &c), MQ_OK);
        decode_all(ver, &b, &pk);
        cr_assert(pk.u.connect.clean_start);
        cr_assert_eq(pk.u.connect.client_id.len, 0);
        cr_assert(!pk.u.connect.will.present);
        mqi_buf_free(&b);
    }
}

static void roundtrip_connack(int ver)
{
    mq_props *p = sample_props(MQI_CONNACK);
    mqi_connack c = {true, 0, p, {0}, false};
    mqi_buf b = {0};
    mqi_packet pk;

    cr_assert_eq(mqi_encode_connack(&b, ver, &c), MQ_OK);
    decode_all(ver, &b, &pk);
    cr_assert(pk.u.connack.session_present);
    cr_assert_eq(pk.u.connack.reason, 0);
    if (ver == 5)
        assert_props_match(pk.u.connack.props_raw, p);
    /* A refusal: v3 return code 5 stays raw. */
    b.len = 0;
    c.session_present = false;
    c.reason = ver == 5 ? 0x87 : 5;
    cr_assert_eq(mqi_encode_connack(&b, ver, &c), MQ_OK);
    decode_all(ver, &b, &pk);
    cr_assert_eq(pk.u.connack.reason, ver == 5 ? 0x87 : 5);
    mqi_buf_free(&b);
    mq_props_free(p);
}

Test(roundtrip, connack_v311) { roundtrip_connack(4); }
Test(roundtrip, connack_v5) { roundtrip_connack(5); }

static void roundtrip_publish(int ver)
{
    mq_props *p = sample_props(MQI_PUBLISH);
    static uint8_t big[70000];
    int qos;

    memset(big, 0xA5, sizeof(big));
    for (qos = 0; qos <= 2; qos++) {
        mqi_publish in = {0};
        mqi_buf b = {0};
        mqi_packet pk;
        const mqi_publish *o = &pk.u.publish;

        in.qos = (uint8_t)qos;
        in.retain = qos == 1;
        in.dup = qos == 2;
        in.packet_id = qos ? (uint16_t)(1000 + qos) : 0;
        in.topic = SP("sensors/\xE2\x82\xAC/temp");
        in.payload = (mqi_span){big, sizeof(big)};
        in.props = p;
        cr_assert_eq(mqi_encode_publish(&b, ver, &in), MQ_OK);
        cr_assert_eq(b.len, mqi_publish_wire_size(ver, in.topic.len,
                                                  sizeof(big),
                                                  ver == 5 ? mqi_props_len(p) : 0,
                                                  qos));
        decode_all(ver, &b, &pk);
        cr_assert_eq(pk.type, MQI_PUBLISH);
        cr_assert_eq(o->qos, qos);
        cr_assert_eq(o->retain, in.retain);
        cr_assert_eq(o->dup, in.dup);
        cr_assert_eq(o->packet_id, in.packet_id);
        cr_assert(span_eq(o->topic, "sensors/\xE2\x82\xAC/temp"));
        cr_assert_eq(o->payload.len, sizeof(big));
        cr_assert_arr_eq(o->payload.ptr, big, sizeof(big));
        if (ver == 5)
            assert_props_match(o->props_raw, p);
        else
            cr_assert_eq(o->props_raw.len, 0);
        mqi_buf_free(&b);
    }
    mq_props_free(p);
}

Test(roundtrip, publish_v311_all_qos) { roundtrip_publish(4); }
Test(roundtrip, publish_v5_all_qos) { roundtrip_publish(5); }

Test(roundtrip, publish_with_empty_payload_and_no_props)
{
    mqi_publish in = {0};
    mqi_buf b = {0};
    mqi_packet pk;

    in.topic = SP("t");
    cr_assert_eq(mqi_encode_publish(&b, 5, &in), MQ_OK);
    cr_assert_eq(b.len, 6); /* 30 04 00 01 74 00 */
    decode_all(5, &b, &pk);
    cr_assert_eq(pk.u.publish.payload.len, 0);
    mqi_buf_free(&b);
}

static void roundtrip_acks(int ver)
{
    mq_props *p = sample_props(MQI_PUBACK);
    uint8_t t;

    for (t = MQI_PUBACK; t <= MQI_PUBCOMP; t++) {
        mqi_ack in = {t, 0xBEEF, 0, NULL, {0}};
        mqi_buf b = {0};
        mqi_packet pk;

        cr_assert_eq(mqi_encode_ack(&b, ver, &in), MQ_OK);
        decode_all(ver, &b, &pk);
        cr_assert_eq(pk.type, t);
        cr_assert_eq(pk.u.ack.type, t);
        cr_assert_eq(pk.u.ack.packet_id, 0xBEEF);
        cr_assert_eq(pk.u.ack.reason, 0);
        if (ver == 5) {
            b.len = 0;
            in.reason = (t == MQI_PUBACK || t == MQI_PUBREC) ? 0x97 : 0x92;
            in.props = p;
            cr_assert_eq(mqi_encode_ack(&b, ver, &in), MQ_OK);
            decode_all(ver, &b, &pk);
            cr_assert_eq(pk.u.ack.reason, in.reason);
            assert_props_match(pk.u.ack.props_raw, p);
        }
        mqi_buf_free(&b);
    }
    mq_props_free(p);
}

Test(roundtrip, acks_v311) { roundtrip_acks(4); }
Test(roundtrip, acks_v5) { roundtrip_acks(5); }

static void roundtrip_subscribe(int ver)
{
    mq_props *p = sample_props(MQI_SUBSCRIBE);
    mqi_sub_entry e[3] = {
        {SP("a/+/c"), 0},
        {SP("#"), 1},
        {SP("$share/g/x/y"), 2},
    };
    mqi_subscribe in = {0};
    mqi_buf b = {0};
    mqi_packet pk;
    mqi_sub_entry got;
    size_t pos = 0, i = 0;

    if (ver == 5) {
        e[0].options = MQ_SUB_NO_LOCAL | MQ_SUB_RETAIN_AS_PUBLISHED |
                       (2 << MQ_SUB_RETAIN_HANDLING_SHIFT) | 1;
        e[1].options = 1 << MQ_SUB_RETAIN_HANDLING_SHIFT;
    }
    in.packet_id = 42;
    in.count = 3;
    in.entries = e;
    in.props = p;
    cr_assert_eq(mqi_encode_subscribe(&b, ver, &in), MQ_OK);
    decode_all(ver, &b, &pk);
    cr_assert_eq(pk.type, MQI_SUBSCRIBE);
    cr_assert_eq(pk.flags, 2);
    cr_assert_eq(pk.u.subscribe.packet_id, 42);
    cr_assert_eq(pk.u.subscribe.count, 3);
    cr_assert_null(pk.u.subscribe.entries);
    while (mqi_subscribe_next(&pk.u.subscribe, &pos, &got)) {
        cr_assert_lt(i, 3);
        cr_assert_eq(got.filter.len, e[i].filter.len);
        cr_assert_arr_eq(got.filter.ptr, e[i].filter.ptr, got.filter.len);
        cr_assert_eq(got.options, e[i].options);
        i++;
    }
    cr_assert_eq(i, 3);
    if (ver == 5)
        assert_props_match(pk.u.subscribe.props_raw, p);
    mqi_buf_free(&b);
    mq_props_free(p);
}

Test(roundtrip, subscribe_v311) { roundtrip_subscribe(4); }
Test(roundtrip, subscribe_v5) { roundtrip_subscribe(5); }

static void roundtrip_unsubscribe(int ver)
{
    mq_props *p = sample_props(MQI_UNSUBSCRIBE);
    mqi_span f[2] = {SP("a/#"), SP("b")};
    mqi_unsubscribe in = {0};
    mqi_buf b = {0};
    mqi_packet pk;
    mqi_span got;
    size_t pos = 0, i = 0;

    in.packet_id = 9;
    in.count = 2;
    in.filters = f;
    in.props = p;
    cr_assert_eq(mqi_encode_unsubscribe(&b, ver, &in), MQ_OK);
    cr_assert_eq(b.data[0], 0xA2);
    decode_all(ver, &b, &pk);
    cr_assert_eq(pk.u.unsubscribe.packet_id, 9);
    cr_assert_eq(pk.u.unsubscribe.count, 2);
    while (mqi_unsubscribe_next(&pk.u.unsubscribe, &pos, &got)) {
        cr_assert_eq(got.len, f[i].len);
        cr_assert_arr_eq(got.ptr, f[i].ptr, got.len);
        i++;
    }
    cr_assert_eq(i, 2);
    if (ver == 5)
        assert_props_match(pk.u.unsubscribe.props_raw, p);
    mqi_buf_free(&b);
    mq_props_free(p);
}

Test(roundtrip, unsubscribe_v311) { roundtrip_unsubscribe(4); }
Test(roundtrip, unsubscribe_v5) { roundtrip_unsubscribe(5); }

static void roundtrip_suback(int ver, uint8_t type)
{
    mq_props *p = sample_props(type);
    const uint8_t codes_sub[] = {0x00, 0x01, 0x02, 0x80};
    const uint8_t codes_unsub[] = {0x00, 0x11};
    const uint8_t *codes = type == MQI_SUBACK ? codes_sub : codes_unsub;
    size_t n = type == MQI_SUBACK ? sizeof(codes_sub) : sizeof(codes_unsub);
    mqi_suback in = {77, {codes, n}, p, {0}};
    mqi_buf b = {0};
    mqi_packet pk;

    cr_assert_eq(mqi_encode_suback(&b, ver, type, &in), MQ_OK);
    decode_all(ver, &b, &pk);
    cr_assert_eq(pk.type, type);
    cr_assert_eq(pk.u.suback.packet_id, 77);
    if (ver != 5 && type == MQI_UNSUBACK) {
        cr_assert_eq(b.len, 4, "3.1.1 UNSUBACK is packet id only");
        cr_assert_eq(pk.u.suback.reasons.len, 0);
    } else {
        cr_assert_eq(pk.u.suback.reasons.len, n);
        cr_assert_arr_eq(pk.u.suback.reasons.ptr, codes, n);
    }
    if (ver == 5)
        assert_props_match(pk.u.suback.props_raw, p);
    mqi_buf_free(&b);
    mq_props_free(p);
}

Test(roundtrip, suback_v311) { roundtrip_suback(4, MQI_SUBACK); }
Test(roundtrip, suback_v5) { roundtrip_suback(5, MQI_SUBACK); }
Test(roundtrip, unsuback_v311) { roundtrip_suback(4, MQI_UNSUBACK); }
Test(roundtrip, unsuback_v5) { roundtrip_suback(5, MQI_UNSUBACK); }

Test(roundtrip, pings_and_disconnect_both_versions)
{
    int ver;
    for (ver = 4; ver <= 5; ver++) {
        mqi_buf b = {0};
        mqi_packet pk;
        mqi_disconnect d = {0};

        cr_assert_eq(mqi_encode_simple(&b, MQI_PINGREQ), MQ_OK);
        decode_all(ver, &b, &pk);
        cr_assert_eq(pk.type, MQI_PINGREQ);
        b.len = 0;
        cr_assert_eq(mqi_encode_simple(&b, MQI_PINGRESP), MQ_OK);
        decode_all(ver, &b, &pk);
        cr_assert_eq(pk.type, MQI_PINGRESP);
        b.len = 0;
        cr_assert_eq(mqi_encode_disconnect(&b, ver, MQI_DISCONNECT, &d), MQ_OK);
        decode_all(ver, &b, &pk);
        cr_assert_eq(pk.type, MQI_DISCONNECT);
        cr_assert_eq(pk.u.disconnect.reason, 0);
        mqi_buf_free(&b);
    }
}

Test(roundtrip, disconnect_v5_with_reason_and_props)
{
    mq_props *p = mq_props_new();
    mqi_disconnect d = {0x8B, NULL, {0}};
    mqi_buf b = {0};
    mqi_packet pk;

    cr_assert_eq(mq_props_add_string(p, MQ_PROP_SERVER_REFERENCE, "other:1883"),
                 MQ_OK);
    cr_assert_eq(mq_props_add_int(p, MQ_PROP_SESSION_EXPIRY_INTERVAL, 0),
                 MQ_OK);
    d.props = p;
    cr_assert_eq(mqi_encode_disconnect(&b, 5, MQI_DISCONNECT, &d), MQ_OK);
    decode_all(5, &b, &pk);
    cr_assert_eq(pk.u.disconnect.reason, 0x8B);
    assert_props_match(pk.u.disconnect.props_raw, p);
    mqi_buf_free(&b);
    mq_props_free(p);
}

Test(roundtrip, auth_v5)
{
    mq_props *p = mq_props_new();
    mqi_disconnect a = {0x18, NULL, {0}};
    mqi_buf b = {0};
    mqi_packet pk;

    cr_assert_eq(mq_props_add_string(p, MQ_PROP_AUTHENTICATION_METHOD,
                                     "SCRAM-SHA-1"), MQ_OK);
    cr_assert_eq(mq_props_add_binary(p, MQ_PROP_AUTHENTICATION_DATA, "\0\1", 2),
                 MQ_OK);
    a.props = p;
    cr_assert_eq(mqi_encode_disconnect(&b, 5, MQI_AUTH, &a), MQ_OK);
    cr_assert_eq(b.data[0], 0xF0);
    decode_all(5, &b, &pk);
    cr_assert_eq(pk.type, MQI_AUTH);
    cr_assert_eq(pk.u.disconnect.reason, 0x18);
    assert_props_match(pk.u.disconnect.props_raw, p);
    /* Success without properties: remaining length 0. */
    b.len = 0;
    a.reason = 0;
    a.props = NULL;
    cr_assert_eq(mqi_encode_disconnect(&b, 5, MQI_AUTH, &a), MQ_OK);
    cr_assert_eq(b.len, 2);
    decode_all(5, &b, &pk);
    cr_assert_eq(pk.type, MQI_AUTH);
    mqi_buf_free(&b);
    mq_props_free(p);
}

Test(roundtrip, several_packets_append_to_one_buffer)
{
    mqi_buf b;
    mqi_publish p = {0};
    size_t off = 0;
    int i, n = 0;

    mqi_buf_init(&b);
    p.topic = SP("x/y");
    p.payload = SP("payload");
    for (i = 0; i < 1000; i++)
        cr_assert_eq(mqi_encode_publish(&b, 5, &p), MQ_OK);
    while (off < b.len) {
        uint8_t b0;
        uint32_t rem;
        size_t hl;
        mqi_packet pk;
        cr_assert_eq(mqi_decode_header(b.data + off, b.len - off, &b0, &rem,
                                       &hl), MQ_OK);
        cr_assert_eq(mqi_decode(5, b0, b.data + off + hl, rem, &pk, NULL),
                     MQ_OK);
        off += hl + rem;
        n++;
    }
    cr_assert_eq(n, 1000);
    mqi_buf_consume(&b, b.len - 15); /* keep the last packet */
    cr_assert_eq(b.len, 15);
    cr_assert_eq(b.data[0], 0x30);
    mqi_buf_consume(&b, 100);
    cr_assert_eq(b.len, 0);
    mqi_buf_free(&b);
    cr_assert_null(b.data);
}

/* ---- encoder argument checks --------------------------------------------- */

Test(encode, rejects_what_the_protocol_forbids)
{
    mqi_buf b = {0};
    mqi_publish p = {0};
    mqi_ack a = {MQI_PUBACK, 0, 0, NULL, {0}};
    mqi_subscribe s = {0};
    mqi_sub_entry e = {SP("a"), 3};
    mqi_unsubscribe u = {0};
    mqi_suback sa = {1, {NULL, 0}, NULL, {0}};
    mqi_disconnect d = {0};
    mqi_connect c = {0};

    p.topic = SP("t");
    p.qos = 3;
    cr_assert_eq(mqi_encode_publish(&b, 4, &p), MQ_ERR_INVAL, "QoS 3");
    p.qos = 1;
    cr_assert_eq(mqi_encode_publish(&b, 4, &p), MQ_ERR_INVAL, "packet id 0");
    p.qos = 0;
    p.dup = true;
    cr_assert_eq(mqi_encode_publish(&b, 4, &p), MQ_ERR_INVAL, "DUP on QoS 0");
    cr_assert_eq(mqi_encode_ack(&b, 5, &a), MQ_ERR_INVAL, "ack id 0");
    a.packet_id = 1;
    a.type = MQI_SUBACK;
    cr_assert_eq(mqi_encode_ack(&b, 5, &a), MQ_ERR_INVAL, "not an ack");
    s.packet_id = 1;
    cr_assert_eq(mqi_encode_subscribe(&b, 4, &s), MQ_ERR_INVAL, "no entries");
    s.count = 1;
    s.entries = &e;
    cr_assert_eq(mqi_encode_subscribe(&b, 4, &s), MQ_ERR_INVAL, "sub QoS 3");
    e.options = 0x04;
    cr_assert_eq(mqi_encode_subscribe(&b, 4, &s), MQ_ERR_INVAL, "v5 bit on v3");
    e.options = 0x30;
    cr_assert_eq(mqi_encode_subscribe(&b, 5, &s), MQ_ERR_INVAL,
                 "retain handling 3");
    e.options = 0x40;
    cr_assert_eq(mqi_encode_subscribe(&b, 5, &s), MQ_ERR_INVAL, "reserved");
    u.packet_id = 1;
    cr_assert_eq(mqi_encode_unsubscribe(&b, 5, &u), MQ_ERR_INVAL, "no filters");
    cr_assert_eq(mqi_encode_suback(&b, 5, MQI_SUBACK, &sa), MQ_ERR_INVAL,
                 "no reason codes");
    cr_assert_eq(mqi_encode_suback(&b, 5, MQI_PUBACK, &sa), MQ_ERR_INVAL);
    cr_assert_eq(mqi_encode_disconnect(&b, 4, MQI_AUTH, &d), MQ_ERR_INVAL,
                 "AUTH on v3");
    c.version = 6;
    cr_assert_eq(mqi_encode_connect(&b, &c), MQ_ERR_INVAL, "version 6");
    c.version = 4;
    c.will.present = true;
    c.will.qos = 3;
    c.will.topic = SP("w");
    cr_assert_eq(mqi_encode_connect(&b, &c), MQ_ERR_INVAL, "will QoS 3");
    cr_assert_eq(b.len, 0, "nothing written on error");
    mqi_buf_free(&b);
}

Test(encode, payload_over_the_mqtt_maximum_is_too_large)
{
    mqi_buf b = {0};
    mqi_publish p = {0};

    p.topic = SP("t");
    p.payload.ptr = (const uint8_t *)"x"; /* never read: size check first */
    p.payload.len = MQI_MAX_REMAINING - 2;
    cr_assert_eq(mqi_encode_publish(&b, 4, &p), MQ_ERR_TOO_LARGE);
    cr_assert_gt(mqi_publish_wire_size(4, 1, p.payload.len, 0, 0),
                 (size_t)MQI_MAX_REMAINING + 5);
    cr_assert_eq(b.len, 0);
    mqi_buf_free(&b);
}

Test(encode, string_over_65535_bytes_is_invalid)
{
    mqi_buf b = {0};
    mqi_publish p = {0};
    static uint8_t t[70000];

    memset(t, 'a', sizeof(t));
    p.topic = (mqi_span){t, sizeof(t)};
    cr_assert_eq(mqi_encode_publish(&b, 4, &p), MQ_ERR_INVAL);
    mqi_buf_free(&b);
}

/* ---- decoder: lengths ---------------------------------------------------- */

Test(decode, every_truncation_of_a_connect_is_malformed)
{
    size_t n;
    const uint8_t *body = connect311 + 2;
    size_t len = sizeof(connect311) - 2;

    for (n = 0; n < len; n++) {
        mqi_packet pk;
        uint8_t r = 0;
        cr_assert_eq(mqi_decode(4, 0x10, body, n, &pk, &r), MQ_ERR_MALFORMED,
                     "truncated to %zu bytes", n);
        cr_assert_eq(r, 0x81);
    }
}

Test(decode, every_truncation_of_a_v5_publish_fails)
{
    mq_props *p = sample_props(MQI_PUBLISH);
    mqi_publish in = {0};
    mqi_buf b = {0};
    size_t n, hl;
    uint8_t b0;
    uint32_t rem;

    in.qos = 1;
    in.packet_id = 1;
    in.topic = SP("a/b");
    in.props = p;
    cr_assert_eq(mqi_encode_publish(&b, 5, &in), MQ_OK);
    cr_assert_eq(mqi_decode_header(b.data, b.len, &b0, &rem, &hl), MQ_OK);
    /* Without payload every byte is structure: any cut must fail. */
    for (n = 0; n < rem; n++) {
        mqi_packet pk;
        cr_assert_neq(mqi_decode(5, b0, b.data + hl, n, &pk, NULL), MQ_OK,
                      "truncated to %zu bytes", n);
    }
    mqi_buf_free(&b);
    mq_props_free(p);
}

Test(decode, trailing_byte_after_connect_is_malformed)
{
    uint8_t v[sizeof(connect311) + 1];

    memcpy(v, connect311, sizeof(connect311));
    v[1]++;
    v[sizeof(connect311)] = 0;
    mqi_packet pk;
    uint8_t r;
    cr_assert_eq(dec(4, v, sizeof(v), &pk, &r), MQ_ERR_MALFORMED);
    cr_assert_eq(r, 0x81);
}

Test(decode, trailing_bytes_in_fixed_size_packets_are_malformed)
{
    EXPECT_MALFORMED(4, 0x40, 0x00, 0x01, 0x00);       /* v3 PUBACK */
    EXPECT_MALFORMED(4, 0x20, 0x00, 0x00, 0x00);       /* v3 CONNACK */
    EXPECT_MALFORMED(4, 0xB0, 0x00, 0x01, 0x00);       /* v3 UNSUBACK */
    EXPECT_MALFORMED(4, 0xC0, 0x00);                   /* PINGREQ */
    EXPECT_MALFORMED(5, 0xD0, 0x00);                   /* PINGRESP */
    EXPECT_MALFORMED(4, 0xE0, 0x00);                   /* v3 DISCONNECT */
    EXPECT_MALFORMED(5, 0x40, 0x00, 0x01, 0x00, 0x00, 0x00); /* after props */
}

Test(decode, property_length_beyond_the_packet_is_malformed)
{
    EXPECT_MALFORMED(5, 0x30, 0x00, 0x01, 't', 0x05, 0x01, 0x01);
    EXPECT_MALFORMED(5, 0x20, 0x00, 0x00, 0x80); /* varint cut short */
}

Test(decode, short_packets_are_malformed)
{
    EXPECT_MALFORMED(4, 0x40, 0x00);               /* PUBACK, 1 byte */
    EXPECT_MALFORMED(5, 0x20, 0x00, 0x00);         /* v5 CONNACK, no props */
    EXPECT_MALFORMED(4, 0x30, 0x00);               /* PUBLISH topic length */
    EXPECT_MALFORMED(4, 0x32, 0x00, 0x01, 't', 0x00); /* packet id cut */
    EXPECT_MALFORMED(4, 0x82, 0x00, 0x01, 0x00, 0x01, 'a'); /* no options */
}

/* ---- decoder: flags ------------------------------------------------------ */

Test(decode, reserved_fixed_header_flags_are_malformed)
{
    EXPECT_MALFORMED(4, 0x60, 0x00, 0x01);       /* PUBREL needs 0x2 */
    EXPECT_MALFORMED(4, 0x80, 0x00, 0x01, 0x00, 0x01, 'a', 0x00);
    EXPECT_MALFORMED(4, 0xA0, 0x00, 0x01, 0x00, 0x01, 'a'); /* UNSUBSCRIBE */
    EXPECT_MALFORMED(4, 0x42, 0x00, 0x01);       /* PUBACK must be 0 */
    CHECK_EMPTY(4, 0xC1, MQ_ERR_MALFORMED, 0x81);                   /* PINGREQ */
    EXPECT_MALFORMED(4, 0x21, 0x00, 0x00);       /* CONNACK */
    CHECK_EMPTY(5, 0xE8, MQ_ERR_MALFORMED, 0x81);                   /* DISCONNECT */
    CHECK_EMPTY(5, 0xF1, MQ_ERR_MALFORMED, 0x81);                   /* AUTH */
    EXPECT_OK(4, 0x62, 0x00, 0x01);
}

Test(decode, packet_type_zero_is_malformed)
{
    CHECK_EMPTY(4, 0x00, MQ_ERR_MALFORMED, 0x81);
    EXPECT_MALFORMED(5, 0x00, 0x00);
}

Test(decode, publish_qos_3_is_malformed)
{
    EXPECT_MALFORMED(4, 0x36, 0x00, 0x01, 't', 0x00, 0x01);
}

Test(decode, publish_qos_0_with_dup_is_malformed)
{
    EXPECT_MALFORMED(4, 0x38, 0x00, 0x01, 't');
    EXPECT_OK(4, 0x3A, 0x00, 0x01, 't', 0x00, 0x01); /* DUP with QoS 1 */
}

Test(decode, auth_on_v311_is_malformed)
{
    CHECK_EMPTY(4, 0xF0, MQ_ERR_MALFORMED, 0x81);
    CHECK_EMPTY(5, 0xF0, MQ_OK, 0);
}

/* ---- decoder: strings and topics ---------------------------------------- */

Test(decode, publish_topic_with_overlong_utf8_is_malformed)
{
    EXPECT_MALFORMED(4, 0x30, 0x00, 0x02, 0xC0, 0x80);
}

Test(decode, publish_topic_with_u0000_is_malformed)
{
    EXPECT_MALFORMED(4, 0x30, 0x00, 0x03, 'a', 0x00, 'b');
}

Test(decode, publish_topic_with_a_surrogate_is_malformed)
{
    EXPECT_MALFORMED(5, 0x30, 0x00, 0x03, 0xED, 0xA0, 0x80, 0x00);
}

Test(decode, publish_topic_with_truncated_utf8_sequence_is_malformed)
{
    EXPECT_MALFORMED(4, 0x30, 0x00, 0x02, 'a', 0xE2);
}

Test(decode, client_id_with_bad_utf8_is_malformed)
{
    EXPECT_MALFORMED(4, 0x10, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02,
                     0x00, 0x0A, 0x00, 0x01, 0xFF);
}

Test(decode, user_property_with_bad_utf8_is_malformed)
{
    EXPECT_MALFORMED(5, 0x30, 0x00, 0x01, 't', 0x07, 0x26, 0x00, 0x01, 'k',
                     0x00, 0x01, 0xC1);
}

Test(decode, wildcard_in_publish_topic_is_topic_name_invalid)
{
    CHECK_BODY(4, 0x30, MQ_ERR_PROTOCOL, 0x90, 0x00, 0x03, 'a', '/', '+');
    CHECK_BODY(5, 0x30, MQ_ERR_PROTOCOL, 0x90, 0x00, 0x01, '#', 0x00);
}

Test(decode, wildcard_in_will_topic_is_topic_name_invalid)
{
    CHECK_BODY(4, 0x10, MQ_ERR_PROTOCOL, 0x90, 0x00, 0x04, 'M', 'Q', 'T', 'T',
               0x04, 0x06, 0x00, 0x0A, 0x00, 0x01, 'c', 0x00, 0x01, '#',
               0x00, 0x00);
}

Test(decode, empty_topic_is_a_protocol_error_on_v311)
{
    EXPECT_PROTOCOL(4, 0x30, 0x00, 0x00, 'x');
}

Test(decode, empty_topic_on_v5_needs_a_topic_alias)
{
    EXPECT_PROTOCOL(5, 0x30, 0x00, 0x00, 0x00, 'x');
    EXPECT_PROTOCOL(5, 0x30, 0x00, 0x00, 0x02, 0x01, 0x01, 'x');
    EXPECT_OK(5, 0x30, 0x00, 0x00, 0x03, 0x23, 0x00, 0x05, 'x');
    /* alias after another property */
    EXPECT_OK(5, 0x30, 0x00, 0x00, 0x08, 0x03, 0x00, 0x02, 'a', 'b', 0x23,
              0x00, 0x05, 'x');
}

Test(decode, invalid_filter_in_subscribe_is_topic_filter_invalid)
{
    CHECK_BODY(4, 0x82, MQ_ERR_PROTOCOL, 0x8F, 0x00, 0x01, 0x00, 0x05, 'a',
               '/', '#', '/', 'b', 0x00);
    CHECK_BODY(5, 0x82, MQ_ERR_PROTOCOL, 0x8F, 0x00, 0x01, 0x00, 0x00, 0x02,
               'a', '+', 0x00);
    CHECK_BODY(4, 0xA2, MQ_ERR_PROTOCOL, 0x8F, 0x00, 0x01, 0x00, 0x00);
}

Test(decode, filter_with_bad_utf8_is_malformed)
{
    EXPECT_MALFORMED(4, 0x82, 0x00, 0x01, 0x00, 0x01, 0x80, 0x00);
    EXPECT_MALFORMED(4, 0xA2, 0x00, 0x01, 0x00, 0x01, 0x00);
}

/* ---- decoder: packet ids ------------------------------------------------- */

Test(decode, packet_id_zero_is_a_protocol_error)
{
    EXPECT_PROTOCOL(4, 0x32, 0x00, 0x01, 't', 0x00, 0x00);
    EXPECT_PROTOCOL(4, 0x40, 0x00, 0x00);
    EXPECT_PROTOCOL(5, 0x50, 0x00, 0x00);
    EXPECT_PROTOCOL(4, 0x62, 0x00, 0x00);
    EXPECT_PROTOCOL(5, 0x70, 0x00, 0x00);
    EXPECT_PROTOCOL(4, 0x82, 0x00, 0x00, 0x00, 0x01, 'a', 0x00);
    EXPECT_PROTOCOL(4, 0x90, 0x00, 0x00, 0x00);
    EXPECT_PROTOCOL(4, 0xA2, 0x00, 0x00, 0x00, 0x01, 'a');
    EXPECT_PROTOCOL(4, 0xB0, 0x00, 0x00);
}

/* ---- decoder: CONNECT / CONNACK ----------------------------------------- */

Test(decode, connect_reserved_flag_is_malformed)
{
    EXPECT_MALFORMED(4, 0x10, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x03,
                     0x00, 0x0A, 0x00, 0x00);
}

Test(decode, connect_will_qos_without_will_flag_is_malformed)
{
    EXPECT_MALFORMED(4, 0x10, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x0A,
                     0x00, 0x0A, 0x00, 0x00);
    EXPECT_MALFORMED(4, 0x10, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x22,
                     0x00, 0x0A, 0x00, 0x00);
}

Test(decode, connect_will_qos_3_is_malformed)
{
    EXPECT_MALFORMED(4, 0x10, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x1E,
                     0x00, 0x0A, 0x00, 0x00, 0x00, 0x01, 'w', 0x00, 0x00);
}

Test(decode, connect_311_password_without_user_name_is_malformed)
{
    EXPECT_MALFORMED(4, 0x10, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x42,
                     0x00, 0x0A, 0x00, 0x00, 0x00, 0x01, 'p');
}

Test(decode, connect_with_unknown_level_is_unsupported_protocol_version)
{
    CHECK_BODY(4, 0x10, MQ_ERR_PROTOCOL, 0x84, 0x00, 0x04, 'M', 'Q', 'T', 'T',
               0x06, 0x02, 0x00, 0x0A, 0x00, 0x00);
    CHECK_BODY(4, 0x10, MQ_ERR_PROTOCOL, 0x84, 0x00, 0x04, 'M', 'Q', 'T', 'T',
               0x03, 0x02, 0x00, 0x0A, 0x00, 0x00);
}

Test(decode, connect_with_wrong_protocol_name_is_malformed)
{
    EXPECT_MALFORMED(4, 0x10, 0x00, 0x04, 'M', 'Q', 'T', 'X', 0x04, 0x02,
                     0x00, 0x0A, 0x00, 0x00);
}

Test(decode, connect_v5_props_are_checked_against_connect)
{
    /* Topic Alias (0x23) is a PUBLISH property. */
    EXPECT_MALFORMED(5, 0x10, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x02,
                     0x00, 0x0A, 0x03, 0x23, 0x00, 0x01, 0x00, 0x00);
    /* Will Delay Interval belongs to the Will properties, not CONNECT. */
    EXPECT_MALFORMED(5, 0x10, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x02,
                     0x00, 0x0A, 0x05, 0x18, 0, 0, 0, 1, 0x00, 0x00);
    /* ... and is fine there. */
    EXPECT_OK(5, 0x10, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x06, 0x00,
              0x0A, 0x00, 0x00, 0x00, 0x05, 0x18, 0, 0, 0, 1, 0x00, 0x01,
              'w', 0x00, 0x00);
}

Test(decode, connack_reserved_bits_are_malformed)
{
    EXPECT_MALFORMED(4, 0x20, 0x02, 0x00);
    EXPECT_MALFORMED(5, 0x20, 0x80, 0x00, 0x00);
}

Test(decode, connack_311_return_codes_stay_raw_and_6_is_malformed)
{
    mqi_packet pk;
    uint8_t v[] = {0x00, 0x04};

    cr_assert_eq(mqi_decode(4, 0x20, v, 2, &pk, NULL), MQ_OK);
    cr_assert_eq(pk.u.connack.reason, 4);
    EXPECT_MALFORMED(4, 0x20, 0x00, 0x06);
}

Test(decode, connack_session_present_on_refusal_is_a_protocol_error)
{
    EXPECT_PROTOCOL(4, 0x20, 0x01, 0x05);
    EXPECT_PROTOCOL(5, 0x20, 0x01, 0x87, 0x00);
}

/* A broker that speaks only 3.1.1 refuses a v5 CONNECT with a 3.1.1
 * CONNACK (return code 1); found against aedes by tests/brokers. */
Test(decode, connack_311_refusal_of_v5_is_unsupported_protocol_version)
{
    mqi_packet pk;
    uint8_t v[] = {0x00, 0x01};

    cr_assert_eq(mqi_decode(5, 0x20, v, 2, &pk, NULL), MQ_OK);
    cr_assert_eq(pk.u.connack.reason, MQ_RC_UNSUPPORTED_PROTOCOL_VERSION);
    cr_assert_not(pk.u.connack.session_present);
    EXPECT_PROTOCOL(5, 0x20, 0x01, 0x01); /* with session present */
    EXPECT_MALFORMED(5, 0x20, 0x00, 0x00); /* a v5 accept needs props */
}

Test(decode, connack_v5_with_reason_not_allowed_is_a_protocol_error)
{
    EXPECT_PROTOCOL(5, 0x20, 0x00, 0x01, 0x00);
    EXPECT_PROTOCOL(5, 0x20, 0x00, 0x8E, 0x00); /* session taken over */
    EXPECT_OK(5, 0x20, 0x00, 0x9C, 0x00);
}

/* ---- decoder: properties ------------------------------------------------- */

Test(decode, duplicate_single_valued_property_is_a_protocol_error)
{
    EXPECT_PROTOCOL(5, 0x30, 0x00, 0x01, 't', 0x04, 0x01, 0x00, 0x01, 0x00);
    EXPECT_PROTOCOL(5, 0x20, 0x00, 0x00, 0x06, 0x21, 0x00, 0x01, 0x21, 0x00,
                    0x02);
}

Test(decode, repeated_user_properties_and_publish_subscription_ids_are_fine)
{
    EXPECT_OK(5, 0x30, 0x00, 0x01, 't', 0x0E, 0x26, 0x00, 0x01, 'k', 0x00,
              0x00, 0x26, 0x00, 0x01, 'k', 0x00, 0x00, 0x0B, 0x01);
    EXPECT_OK(5, 0x30, 0x00, 0x01, 't', 0x04, 0x0B, 0x01, 0x0B, 0x02);
}

Test(decode, two_subscription_ids_in_subscribe_is_a_protocol_error)
{
    EXPECT_PROTOCOL(5, 0x82, 0x00, 0x01, 0x04, 0x0B, 0x01, 0x0B, 0x02, 0x00,
                    0x01, 'a', 0x00);
}

Test(decode, unknown_property_id_is_malformed)
{
    EXPECT_MALFORMED(5, 0x30, 0x00, 0x01, 't', 0x02, 0x7F, 0x00);
    EXPECT_MALFORMED(5, 0x30, 0x00, 0x01, 't', 0x02, 0x00, 0x00);
    /* a two-byte (non-minimal) varint id for 0x01 */
    EXPECT_MALFORMED(5, 0x30, 0x00, 0x01, 't', 0x03, 0x81, 0x00, 0x00);
}

Test(decode, property_not_allowed_in_the_packet_is_malformed)
{
    /* Receive Maximum in PUBLISH */
    EXPECT_MALFORMED(5, 0x30, 0x00, 0x01, 't', 0x03, 0x21, 0x00, 0x01);
    /* Topic Alias in PUBACK */
    EXPECT_MALFORMED(5, 0x40, 0x00, 0x01, 0x00, 0x03, 0x23, 0x00, 0x01);
    /* Payload Format Indicator in SUBSCRIBE */
    EXPECT_MALFORMED(5, 0x82, 0x00, 0x01, 0x02, 0x01, 0x00, 0x00, 0x01, 'a',
                     0x00);
    /* Assigned Client Identifier in DISCONNECT */
    EXPECT_MALFORMED(5, 0xE0, 0x00, 0x04, 0x12, 0x00, 0x01, 'x');
}

Test(decode, property_value_out_of_range_is_a_protocol_error)
{
    /* CONNACK: Receive Maximum 0, Maximum Packet Size 0, Maximum QoS 2,
     * Retain Available 2, Wildcard Subscription Available 2. */
    EXPECT_PROTOCOL(5, 0x20, 0x00, 0x00, 0x03, 0x21, 0x00, 0x00);
    EXPECT_PROTOCOL(5, 0x20, 0x00, 0x00, 0x05, 0x27, 0x00, 0x00, 0x00, 0x00);
    EXPECT_PROTOCOL(5, 0x20, 0x00, 0x00, 0x02, 0x24, 0x02);
    EXPECT_PROTOCOL(5, 0x20, 0x00, 0x00, 0x02, 0x25, 0x02);
    EXPECT_PROTOCOL(5, 0x20, 0x00, 0x00, 0x02, 0x28, 0x02);
    EXPECT_OK(5, 0x20, 0x00, 0x00, 0x02, 0x24, 0x01);
    /* PUBLISH: Payload Format Indicator 2, Topic Alias 0, Sub Id 0. */
    EXPECT_PROTOCOL(5, 0x30, 0x00, 0x01, 't', 0x02, 0x01, 0x02);
    EXPECT_PROTOCOL(5, 0x30, 0x00, 0x01, 't', 0x03, 0x23, 0x00, 0x00);
    EXPECT_PROTOCOL(5, 0x30, 0x00, 0x01, 't', 0x02, 0x0B, 0x00);
    /* SUBSCRIBE: Subscription Identifier 0. */
    EXPECT_PROTOCOL(5, 0x82, 0x00, 0x01, 0x02, 0x0B, 0x00, 0x00, 0x01, 'a',
                    0x00);
    /* CONNECT: Request Problem Information 2. */
    EXPECT_PROTOCOL(5, 0x10, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x02,
                    0x00, 0x0A, 0x02, 0x17, 0x02, 0x00, 0x00);
}

Test(decode, property_value_cut_short_is_malformed)
{
    EXPECT_MALFORMED(5, 0x30, 0x00, 0x01, 't', 0x02, 0x02, 0x00);  /* u32 */
    EXPECT_MALFORMED(5, 0x30, 0x00, 0x01, 't', 0x03, 0x03, 0x00, 0x05);
    EXPECT_MALFORMED(5, 0x30, 0x00, 0x01, 't', 0x02, 0x0B, 0x80);  /* varint */
}

Test(decode, auth_data_without_auth_method_is_a_protocol_error)
{
    EXPECT_PROTOCOL(5, 0xF0, 0x18, 0x04, 0x16, 0x00, 0x01, 'x');
}

/* ---- decoder: reason codes ----------------------------------------------- */

Test(decode, reason_codes_not_allowed_for_the_packet_are_protocol_errors)
{
    EXPECT_PROTOCOL(5, 0x40, 0x00, 0x01, 0x04);      /* PUBACK 0x04 */
    EXPECT_PROTOCOL(5, 0x50, 0x00, 0x01, 0x92);      /* PUBREC 0x92 */
    EXPECT_PROTOCOL(5, 0x62, 0x00, 0x01, 0x80);      /* PUBREL 0x80 */
    EXPECT_PROTOCOL(5, 0x70, 0x00, 0x01, 0x10);      /* PUBCOMP 0x10 */
    EXPECT_PROTOCOL(5, 0x90, 0x00, 0x01, 0x00, 0x03);/* SUBACK 0x03 */
    EXPECT_PROTOCOL(5, 0xB0, 0x00, 0x01, 0x00, 0x01);/* UNSUBACK 0x01 */
    EXPECT_PROTOCOL(5, 0xE0, 0x01);                  /* DISCONNECT 0x01 */
    EXPECT_PROTOCOL(5, 0xF0, 0x80);                  /* AUTH 0x80 */
    EXPECT_PROTOCOL(4, 0x90, 0x00, 0x01, 0x03);      /* v3 SUBACK 0x03 */
    EXPECT_PROTOCOL(4, 0x90, 0x00, 0x01, 0x87);      /* v5-only code */
    EXPECT_OK(5, 0x90, 0x00, 0x01, 0x00, 0x02, 0x87, 0xA2);
    EXPECT_OK(5, 0x40, 0x00, 0x01, 0x10);
    EXPECT_OK(5, 0x70, 0x00, 0x01, 0x92);
    EXPECT_OK(5, 0xE0, 0x8B);
    EXPECT_OK(5, 0xF0, 0x19);
}

Test(decode, suback_without_reason_codes_is_a_protocol_error)
{
    EXPECT_PROTOCOL(4, 0x90, 0x00, 0x01);
    EXPECT_PROTOCOL(5, 0x90, 0x00, 0x01, 0x00);
    EXPECT_PROTOCOL(5, 0xB0, 0x00, 0x01, 0x00);
}

/* ---- decoder: SUBSCRIBE / UNSUBSCRIBE ------------------------------------ */

Test(decode, subscribe_with_zero_entries_is_a_protocol_error)
{
    EXPECT_PROTOCOL(4, 0x82, 0x00, 0x01);
    EXPECT_PROTOCOL(5, 0x82, 0x00, 0x01, 0x00);
}

Test(decode, unsubscribe_with_zero_entries_is_a_protocol_error)
{
    EXPECT_PROTOCOL(4, 0xA2, 0x00, 0x01);
    EXPECT_PROTOCOL(5, 0xA2, 0x00, 0x01, 0x00);
}

Test(decode, subscription_options_reserved_bits_are_malformed)
{
    EXPECT_MALFORMED(4, 0x82, 0x00, 0x01, 0x00, 0x01, 'a', 0x04);
    EXPECT_MALFORMED(5, 0x82, 0x00, 0x01, 0x00, 0x00, 0x01, 'a', 0x40);
    EXPECT_MALFORMED(5, 0x82, 0x00, 0x01, 0x00, 0x00, 0x01, 'a', 0x80);
    EXPECT_OK(5, 0x82, 0x00, 0x01, 0x00, 0x00, 0x01, 'a', 0x2E);
}

Test(decode, subscription_qos_3_is_malformed)
{
    EXPECT_MALFORMED(4, 0x82, 0x00, 0x01, 0x00, 0x01, 'a', 0x03);
    EXPECT_MALFORMED(5, 0x82, 0x00, 0x01, 0x00, 0x00, 0x01, 'a', 0x03);
}

Test(decode, retain_handling_3_is_a_protocol_error)
{
    EXPECT_PROTOCOL(5, 0x82, 0x00, 0x01, 0x00, 0x00, 0x01, 'a', 0x30);
}

Test(decode, no_local_on_a_shared_subscription_is_a_protocol_error)
{
    EXPECT_PROTOCOL(5, 0x82, 0x00, 0x01, 0x00, 0x00, 0x0A, '$', 's', 'h',
                    'a', 'r', 'e', '/', 'g', '/', 'a', 0x04);
    EXPECT_OK(5, 0x82, 0x00, 0x01, 0x00, 0x00, 0x0A, '$', 's', 'h', 'a', 'r',
              'e', '/', 'g', '/', 'a', 0x00);
}

Test(decode, null_reason_pointer_is_allowed)
{
    mqi_packet pk;
    cr_assert_eq(mqi_decode(4, 0x40, (const uint8_t[]){0, 0}, 2, &pk, NULL),
                 MQ_ERR_PROTOCOL);
}

/* ---- issue 13: aliases, 3.1.1 answer to v5, sizes of every packet ------ */

/* A Topic Alias written beside the properties (the topic left out), and
 * the size the worker checks against the broker's limit. */
Test(roundtrip, publish_with_topic_alias_and_no_topic)
{
    mq_props *p = sample_props(MQI_PUBLISH);
    mqi_publish in = {0};
    mqi_buf b = {0};
    mqi_packet pk;
    mq_props *got = NULL;
    uint32_t a = 0;

    in.qos = 1;
    in.packet_id = 9;
    in.topic = SP("");
    in.payload = SP("data");
    in.props = p;
    in.topic_alias = 513;
    cr_assert_eq(mqi_encode_publish(&b, 5, &in), MQ_OK);
    cr_assert_eq(b.len, mqi_publish_wire_size(5, 0, 4, mqi_props_len(p) + 3,
                                              1));
    decode_all(5, &b, &pk);
    cr_assert_eq(pk.u.publish.topic.len, 0);
    cr_assert(span_eq(pk.u.publish.payload, "data"));
    cr_assert_eq(mqi_props_parse(pk.u.publish.props_raw.ptr,
                                 pk.u.publish.props_raw.len, &got), MQ_OK);
    cr_assert_eq(mq_props_get_int(got, MQ_PROP_TOPIC_ALIAS, 0, &a), MQ_OK);
    cr_assert_eq(a, 513);
    cr_assert_eq(mq_props_count(got), mq_props_count(p) + 1);
    mq_props_free(got);
    /* alias alone, no other property */
    b.len = 0;
    in.props = NULL;
    in.topic = SP("a/b");
    cr_assert_eq(mqi_encode_publish(&b, 5, &in), MQ_OK);
    cr_assert_eq(b.len, mqi_publish_wire_size(5, 3, 4, 3, 1));
    decode_all(5, &b, &pk);
    cr_assert(span_eq(pk.u.publish.topic, "a/b"));
    cr_assert_eq(pk.u.publish.props_raw.len, 3);
    /* v3.1.1 has no properties: the alias is not written */
    b.len = 0;
    cr_assert_eq(mqi_encode_publish(&b, 4, &in), MQ_OK);
    cr_assert_eq(b.len, mqi_publish_wire_size(4, 3, 4, 0, 1));
    mqi_buf_free(&b);
    mq_props_free(p);
}

/* A 3.1.1 broker answers a level 5 CONNECT with return code 1 and no
 * properties: recognised, reported as 0x84; other two-byte CONNACKs stay
 * malformed for v5. */
Test(decode, connack_311_refusal_of_a_v5_connect)
{
    mqi_packet pk;
    const uint8_t v[] = {0x00, 0x01};

    cr_assert_eq(mqi_decode(5, 0x20, v, 2, &pk, NULL), MQ_OK);
    cr_assert(pk.u.connack.v311_refusal);
    cr_assert_eq(pk.u.connack.reason, MQ_RC_UNSUPPORTED_PROTOCOL_VERSION);
    cr_assert_eq(mqi_decode(4, 0x20, v, 2, &pk, NULL), MQ_OK);
    cr_assert(!pk.u.connack.v311_refusal);
    cr_assert_eq(pk.u.connack.reason, 1);
    EXPECT_MALFORMED(5, 0x20, 0x00, 0x00);
    EXPECT_PROTOCOL(5, 0x20, 0x00, 0x05); /* not a v5 code */
    EXPECT_PROTOCOL(5, 0x20, 0x01, 0x01);
}

/* A v5 CONNACK larger than 64 KiB decodes (only the Maximum Packet Size
 * bounds it, a worker check). */
Test(decode, connack_v5_over_64k)
{
    mq_props *p = mq_props_new();
    mqi_connack c = {false, 0, p, {0}, false};
    mqi_buf b = {0};
    mqi_packet pk;

    for (int i = 0; i < 8000; i++)
        cr_assert_eq(mq_props_add_user(p, "key", "value"), MQ_OK);
    cr_assert_eq(mqi_encode_connack(&b, 5, &c), MQ_OK);
    cr_assert_gt(b.len, 65536);
    decode_all(5, &b, &pk);
    mqi_buf_free(&b);
    mq_props_free(p);
}

/* The size functions agree with the encoders, for every shape. */
Test(sizes, subscribe_unsubscribe_disconnect_auth_match_the_encoders)
{
    mq_props *p = sample_props(MQI_SUBSCRIBE);
    mq_props *pu = sample_props(MQI_UNSUBSCRIBE);
    mq_props *pd = sample_props(MQI_DISCONNECT);
    mqi_sub_entry e[3] = {{SP("a"), 1}, {SP("bb/cc"), 0}, {SP("#"), 2}};
    mqi_span f[3] = {SP("a"), SP("bb/cc"), SP("#")};
    mqi_buf b = {0};

    for (int ver = 4; ver <= 5; ver++)
        for (size_t n = 1; n <= 3; n++) {
            size_t bytes = 0;
            for (size_t i = 0; i < n; i++)
                bytes += f[i].len;
            mqi_subscribe s = {7, n, e, {0}, ver == 5 ? p : NULL, {0}};
            mqi_unsubscribe u = {7, n, f, {0}, ver == 5 ? pu : NULL, {0}};
            b.len = 0;
            cr_assert_eq(mqi_encode_subscribe(&b, ver, &s), MQ_OK);
            cr_assert_eq(b.len, mqi_sub_wire_size(ver, MQI_SUBSCRIBE, n, bytes,
                                                  mqi_props_len(s.props)));
            b.len = 0;
            cr_assert_eq(mqi_encode_unsubscribe(&b, ver, &u), MQ_OK);
            cr_assert_eq(b.len,
                         mqi_sub_wire_size(ver, MQI_UNSUBSCRIBE, n, bytes,
                                           mqi_props_len(u.props)));
        }
    for (int ver = 4; ver <= 5; ver++)
        for (int reason = 0; reason <= 0x8B; reason += 0x8B)
            for (int withp = 0; withp <= 1; withp++) {
                mqi_disconnect d = {(uint8_t)reason,
                                    withp ? pd : NULL, {0}};
                b.len = 0;
                cr_assert_eq(mqi_encode_disconnect(&b, ver, MQI_DISCONNECT,
                                                   &d), MQ_OK);
                cr_assert_eq(b.len, mqi_disconnect_wire_size(
                                        ver, (uint8_t)reason,
                                        mqi_props_len(d.props)),
                             "v%d reason %d props %d", ver, reason, withp);
            }
    mqi_buf_free(&b);
    mq_props_free(p);
    mq_props_free(pu);
    mq_props_free(pd);
}
