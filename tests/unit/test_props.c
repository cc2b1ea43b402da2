/*
 * test_props.c - unit tests of MQTT 5 properties: the public mq_props_*
 * list API, the per-packet table, wire encoding, validation of received
 * property bytes and parsing.
 *
 * Threading: Criterion runs each test in its own process.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "codec.h"
#include "props.h"

/* Every property id with one valid value, added to @p p. */
static void add_one_of_each(mq_props *p)
{
    static const int bytes[] = {0x01, 0x17, 0x19, 0x24, 0x25, 0x28, 0x29, 0x2A};
    static const int u16s[] = {0x13, 0x21, 0x22, 0x23};
    static const int u32s[] = {0x02, 0x11, 0x18, 0x27};
    static const int strs[] = {0x03, 0x08, 0x12, 0x15, 0x1A, 0x1C, 0x1F};
    size_t i;

    for (i = 0; i < sizeof(bytes) / sizeof(bytes[0]); i++)
        cr_assert_eq(mq_props_add_int(p, bytes[i], 1), MQ_OK);
    for (i = 0; i < sizeof(u16s) / sizeof(u16s[0]); i++)
        cr_assert_eq(mq_props_add_int(p, u16s[i], 0xABCD), MQ_OK);
    for (i = 0; i < sizeof(u32s) / sizeof(u32s[0]); i++)
        cr_assert_eq(mq_props_add_int(p, u32s[i], 0xDEADBEEF), MQ_OK);
    cr_assert_eq(mq_props_add_int(p, 0x0B, 268435455), MQ_OK);
    for (i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
        cr_assert_eq(mq_props_add_string(p, strs[i], "s\xC3\xA9"), MQ_OK);
    cr_assert_eq(mq_props_add_binary(p, 0x09, "\0\1\2", 3), MQ_OK);
    cr_assert_eq(mq_props_add_binary(p, 0x16, NULL, 0), MQ_OK);
    cr_assert_eq(mq_props_add_user(p, "key", "value"), MQ_OK);
    cr_assert_eq(mq_props_add_user(p, "", ""), MQ_OK);
}

/* ---- list API ------------------------------------------------------------ */

Test(props_api, null_list_is_empty_and_free_is_a_noop)
{
    uint32_t v;
    size_t n = 99;

    mq_props_free(NULL);
    cr_assert_eq(mq_props_count(NULL), 0);
    cr_assert_eq(mq_props_has(NULL, MQ_PROP_TOPIC_ALIAS), 0);
    cr_assert_eq(mq_props_get_int(NULL, MQ_PROP_TOPIC_ALIAS, 0, &v),
                 MQ_ERR_NOT_FOUND);
    cr_assert_null(mq_props_get_string(NULL, MQ_PROP_CONTENT_TYPE));
    cr_assert_null(mq_props_get_binary(NULL, MQ_PROP_CORRELATION_DATA, &n));
    cr_assert_eq(n, 0);
    cr_assert_eq(mq_props_user_count(NULL), 0);
    cr_assert_null(mq_props_user_key(NULL, 0));
    cr_assert_eq(mq_props_add_int(NULL, 1, 1), MQ_ERR_INVAL);
    cr_assert_eq(mq_props_add_string(NULL, 3, "x"), MQ_ERR_INVAL);
    cr_assert_eq(mq_props_add_user(NULL, "a", "b"), MQ_ERR_INVAL);
}

Test(props_api, add_int_enforces_the_range_of_each_type)
{
    mq_props *p = mq_props_new();

    cr_assert_eq(mq_props_add_int(p, MQ_PROP_MAXIMUM_QOS, 255), MQ_OK);
    cr_assert_eq(mq_props_add_int(p, MQ_PROP_MAXIMUM_QOS, 256),
                 MQ_ERR_PROPERTY);
    cr_assert_eq(mq_props_add_int(p, MQ_PROP_RECEIVE_MAXIMUM, 65535), MQ_OK);
    cr_assert_eq(mq_props_add_int(p, MQ_PROP_RECEIVE_MAXIMUM, 65536),
                 MQ_ERR_PROPERTY);
    cr_assert_eq(mq_props_add_int(p, MQ_PROP_SESSION_EXPIRY_INTERVAL,
                                  0xFFFFFFFFu), MQ_OK);
    cr_assert_eq(mq_props_add_int(p, MQ_PROP_SUBSCRIPTION_IDENTIFIER,
                                  268435455), MQ_OK);
    cr_assert_eq(mq_props_add_int(p, MQ_PROP_SUBSCRIPTION_IDENTIFIER,
                                  268435456), MQ_ERR_PROPERTY);
    cr_assert_eq(mq_props_count(p), 4);
    mq_props_free(p);
}

Test(props_api, add_with_the_wrong_type_or_unknown_id_is_a_property_error)
{
    mq_props *p = mq_props_new();

    cr_assert_eq(mq_props_add_int(p, MQ_PROP_CONTENT_TYPE, 1), MQ_ERR_PROPERTY);
    cr_assert_eq(mq_props_add_int(p, MQ_PROP_USER_PROPERTY, 1),
                 MQ_ERR_PROPERTY);
    cr_assert_eq(mq_props_add_int(p, 0x04, 1), MQ_ERR_PROPERTY);
    cr_assert_eq(mq_props_add_int(p, -1, 1), MQ_ERR_PROPERTY);
    cr_assert_eq(mq_props_add_int(p, 1000, 1), MQ_ERR_PROPERTY);
    cr_assert_eq(mq_props_add_string(p, MQ_PROP_TOPIC_ALIAS, "x"),
                 MQ_ERR_PROPERTY);
    cr_assert_eq(mq_props_add_string(p, MQ_PROP_CORRELATION_DATA, "x"),
                 MQ_ERR_PROPERTY);
    cr_assert_eq(mq_props_add_binary(p, MQ_PROP_CONTENT_TYPE, "x", 1),
                 MQ_ERR_PROPERTY);
    cr_assert_eq(mq_props_count(p), 0);
    mq_props_free(p);
}

Test(props_api, strings_must_be_mqtt_utf8)
{
    mq_props *p = mq_props_new();

    cr_assert_eq(mq_props_add_string(p, MQ_PROP_CONTENT_TYPE, "\xC0\x80"),
                 MQ_ERR_UTF8);
    cr_assert_eq(mq_props_add_string(p, MQ_PROP_CONTENT_TYPE, "\xED\xA0\x80"),
                 MQ_ERR_UTF8);
    cr_assert_eq(mq_props_add_user(p, "\xFF", "v"), MQ_ERR_UTF8);
    cr_assert_eq(mq_props_add_user(p, "k", "\xED\xBF\xBF"), MQ_ERR_UTF8);
    cr_assert_eq(mq_props_add_user(p, NULL, "v"), MQ_ERR_INVAL);
    cr_assert_eq(mq_props_add_user(p, "k", NULL), MQ_ERR_INVAL);
    cr_assert_eq(mq_props_add_string(p, MQ_PROP_CONTENT_TYPE, NULL),
                 MQ_ERR_INVAL);
    cr_assert_eq(mq_props_count(p), 0);
    mq_props_free(p);
}

Test(props_api, binary_length_is_limited_to_65535)
{
    mq_props *p = mq_props_new();
    static uint8_t big[65536];

    cr_assert_eq(mq_props_add_binary(p, MQ_PROP_CORRELATION_DATA, big, 65535),
                 MQ_OK);
    cr_assert_eq(mq_props_add_binary(p, MQ_PROP_CORRELATION_DATA, big, 65536),
                 MQ_ERR_PROPERTY);
    cr_assert_eq(mq_props_add_binary(p, MQ_PROP_CORRELATION_DATA, NULL, 1),
                 MQ_ERR_INVAL);
    mq_props_free(p);
}

Test(props_api, getters_return_values_in_order)
{
    mq_props *p = mq_props_new();
    uint32_t v = 0;
    size_t len = 0;
    const uint8_t *d;

    cr_assert_eq(mq_props_add_int(p, MQ_PROP_SUBSCRIPTION_IDENTIFIER, 7), MQ_OK);
    cr_assert_eq(mq_props_add_user(p, "a", "1"), MQ_OK);
    cr_assert_eq(mq_props_add_int(p, MQ_PROP_SUBSCRIPTION_IDENTIFIER, 9), MQ_OK);
    cr_assert_eq(mq_props_add_string(p, MQ_PROP_RESPONSE_TOPIC, "r/t"), MQ_OK);
    cr_assert_eq(mq_props_add_user(p, "b", "2"), MQ_OK);
    cr_assert_eq(mq_props_add_binary(p, MQ_PROP_CORRELATION_DATA, "x\0y", 3),
                 MQ_OK);

    cr_assert_eq(mq_props_count(p), 6);
    cr_assert(mq_props_has(p, MQ_PROP_RESPONSE_TOPIC));
    cr_assert(!mq_props_has(p, MQ_PROP_CONTENT_TYPE));
    cr_assert_eq(mq_props_get_int(p, MQ_PROP_SUBSCRIPTION_IDENTIFIER, 0, &v),
                 MQ_OK);
    cr_assert_eq(v, 7);
    cr_assert_eq(mq_props_get_int(p, MQ_PROP_SUBSCRIPTION_IDENTIFIER, 1, &v),
                 MQ_OK);
    cr_assert_eq(v, 9);
    cr_assert_eq(mq_props_get_int(p, MQ_PROP_SUBSCRIPTION_IDENTIFIER, 2, &v),
                 MQ_ERR_NOT_FOUND);
    cr_assert_eq(mq_props_get_int(p, MQ_PROP_TOPIC_ALIAS, 0, &v),
                 MQ_ERR_NOT_FOUND);
    cr_assert_eq(mq_props_get_int(p, MQ_PROP_RESPONSE_TOPIC, 0, &v),
                 MQ_ERR_PROPERTY);
    cr_assert_str_eq(mq_props_get_string(p, MQ_PROP_RESPONSE_TOPIC), "r/t");
    cr_assert_null(mq_props_get_string(p, MQ_PROP_CORRELATION_DATA));
    d = mq_props_get_binary(p, MQ_PROP_CORRELATION_DATA, &len);
    cr_assert_eq(len, 3);
    cr_assert_arr_eq(d, "x\0y", 3);
    cr_assert_null(mq_props_get_binary(p, MQ_PROP_RESPONSE_TOPIC, &len));
    cr_assert_eq(len, 0);
    cr_assert_eq(mq_props_user_count(p), 2);
    cr_assert_str_eq(mq_props_user_key(p, 0), "a");
    cr_assert_str_eq(mq_props_user_value(p, 0), "1");
    cr_assert_str_eq(mq_props_user_key(p, 1), "b");
    cr_assert_str_eq(mq_props_user_value(p, 1), "2");
    cr_assert_null(mq_props_user_key(p, 2));
    cr_assert_null(mq_props_user_value(p, 2));
    mq_props_free(p);
}

Test(props_api, dup_is_a_deep_copy)
{
    mq_props *p = mq_props_new(), *q = NULL;

    add_one_of_each(p);
    cr_assert_eq(mqi_props_dup(p, &q), MQ_OK);
    cr_assert_not_null(q);
    cr_assert_eq(mq_props_count(q), mq_props_count(p));
    cr_assert_neq((void *)mq_props_get_string(q, MQ_PROP_CONTENT_TYPE),
                  (void *)mq_props_get_string(p, MQ_PROP_CONTENT_TYPE));
    mq_props_free(p);
    cr_assert_str_eq(mq_props_user_value(q, 0), "value");
    cr_assert_str_eq(mq_props_get_string(q, MQ_PROP_REASON_STRING), "s\xC3\xA9");
    mq_props_free(q);
    cr_assert_eq(mqi_props_dup(NULL, &q), MQ_OK);
    cr_assert_null(q);
}

/* ---- table --------------------------------------------------------------- */

Test(props_table, types_follow_the_spec)
{
    cr_assert_eq(mqi_prop_type(0x01), MQI_PT_BYTE);
    cr_assert_eq(mqi_prop_type(0x02), MQI_PT_U32);
    cr_assert_eq(mqi_prop_type(0x0B), MQI_PT_VARINT);
    cr_assert_eq(mqi_prop_type(0x13), MQI_PT_U16);
    cr_assert_eq(mqi_prop_type(0x16), MQI_PT_BINARY);
    cr_assert_eq(mqi_prop_type(0x1F), MQI_PT_STRING);
    cr_assert_eq(mqi_prop_type(0x26), MQI_PT_PAIR);
    cr_assert_eq(mqi_prop_type(0x00), MQI_PT_NONE);
    cr_assert_eq(mqi_prop_type(0x04), MQI_PT_NONE);
    cr_assert_eq(mqi_prop_type(0x2B), MQI_PT_NONE);
    cr_assert_eq(mqi_prop_type(-5), MQI_PT_NONE);
}

Test(props_table, allowed_packets_follow_table_2_4)
{
    cr_assert(mqi_prop_allowed(MQ_PROP_WILL_DELAY_INTERVAL, MQI_WILL_PROPS));
    cr_assert(!mqi_prop_allowed(MQ_PROP_WILL_DELAY_INTERVAL, MQI_CONNECT));
    cr_assert(mqi_prop_allowed(MQ_PROP_TOPIC_ALIAS, MQI_PUBLISH));
    cr_assert(!mqi_prop_allowed(MQ_PROP_TOPIC_ALIAS, MQI_WILL_PROPS));
    cr_assert(mqi_prop_allowed(MQ_PROP_REASON_STRING, MQI_PUBREL));
    cr_assert(!mqi_prop_allowed(MQ_PROP_REASON_STRING, MQI_CONNECT));
    cr_assert(!mqi_prop_allowed(MQ_PROP_REASON_STRING, MQI_PUBLISH));
    cr_assert(mqi_prop_allowed(MQ_PROP_SERVER_REFERENCE, MQI_DISCONNECT));
    cr_assert(mqi_prop_allowed(MQ_PROP_SESSION_EXPIRY_INTERVAL, MQI_DISCONNECT));
    cr_assert(mqi_prop_allowed(MQ_PROP_AUTHENTICATION_METHOD, MQI_AUTH));
    cr_assert(mqi_prop_allowed(MQ_PROP_SUBSCRIPTION_IDENTIFIER, MQI_SUBSCRIBE));
    cr_assert(!mqi_prop_allowed(MQ_PROP_SUBSCRIPTION_IDENTIFIER,
                                MQI_UNSUBSCRIBE));
    cr_assert(mqi_prop_allowed(MQ_PROP_MAXIMUM_QOS, MQI_CONNACK));
    cr_assert(!mqi_prop_allowed(MQ_PROP_MAXIMUM_QOS, MQI_CONNECT));
    cr_assert(!mqi_prop_allowed(MQ_PROP_USER_PROPERTY, MQI_PINGREQ));
    cr_assert(mqi_prop_allowed(MQ_PROP_USER_PROPERTY, MQI_WILL_PROPS));
    cr_assert(!mqi_prop_allowed(MQ_PROP_USER_PROPERTY, 0));
    cr_assert(!mqi_prop_allowed(MQ_PROP_USER_PROPERTY, 17));
}

/* ---- wire encoding ------------------------------------------------------- */

Test(props_wire, null_list_encodes_as_one_zero_byte)
{
    mqi_buf b = {0};

    cr_assert_eq(mqi_props_len(NULL), 0);
    cr_assert_eq(mqi_props_encode(&b, NULL), MQ_OK);
    cr_assert_eq(b.len, 1);
    cr_assert_eq(b.data[0], 0);
    mqi_buf_free(&b);
}

Test(props_wire, known_byte_layout)
{
    const uint8_t want[] = {
        0x0D,                         /* length 13 */
        0x01, 0x01,                   /* Payload Format Indicator 1 */
        0x23, 0x00, 0x0A,             /* Topic Alias 10 */
        0x26, 0x00, 0x01, 'k', 0x00, 0x02, 'v', 'w', /* User Property */
    };
    mq_props *p = mq_props_new();
    mqi_buf b = {0};

    cr_assert_eq(mq_props_add_int(p, MQ_PROP_PAYLOAD_FORMAT_INDICATOR, 1),
                 MQ_OK);
    cr_assert_eq(mq_props_add_int(p, MQ_PROP_TOPIC_ALIAS, 10), MQ_OK);
    cr_assert_eq(mq_props_add_user(p, "k", "vw"), MQ_OK);
    cr_assert_eq(mqi_props_len(p), 13);
    cr_assert_eq(mqi_props_encode(&b, p), MQ_OK);
    cr_assert_eq(b.len, sizeof(want));
    cr_assert_arr_eq(b.data, want, sizeof(want));
    mqi_buf_free(&b);
    mq_props_free(p);
}

Test(props_wire, every_property_round_trips_through_encode_validate_parse)
{
    mq_props *p = mq_props_new(), *q = NULL;
    mqi_buf b = {0};
    uint32_t n, v;
    size_t used, len, i;

    add_one_of_each(p);
    cr_assert_eq(mqi_props_encode(&b, p), MQ_OK);
    cr_assert_eq(mqi_varint_decode(b.data, b.len, &n, &used), MQ_OK);
    cr_assert_eq(used + n, b.len);
    cr_assert_eq(n, mqi_props_len(p));
    cr_assert_eq(mqi_props_parse(b.data + used, n, &q), MQ_OK);
    cr_assert_eq(mq_props_count(q), mq_props_count(p));
    for (i = 0; i < p->n; i++) {
        cr_assert_eq(q->v[i].id, p->v[i].id);
        cr_assert_eq(q->v[i].value, p->v[i].value);
        cr_assert_eq(q->v[i].len, p->v[i].len);
        cr_assert_eq(q->v[i].len2, p->v[i].len2);
        if (p->v[i].len)
            cr_assert_arr_eq(q->v[i].data, p->v[i].data, p->v[i].len);
    }
    cr_assert_eq(mq_props_get_int(q, MQ_PROP_SESSION_EXPIRY_INTERVAL, 0, &v),
                 MQ_OK);
    cr_assert_eq(v, 0xDEADBEEF);
    cr_assert_eq(mq_props_get_int(q, MQ_PROP_SUBSCRIPTION_IDENTIFIER, 0, &v),
                 MQ_OK);
    cr_assert_eq(v, 268435455);
    cr_assert_not_null(mq_props_get_binary(q, MQ_PROP_AUTHENTICATION_DATA, &len));
    cr_assert_eq(len, 0);
    cr_assert_str_eq(mq_props_user_key(q, 1), "");
    mqi_buf_free(&b);
    mq_props_free(p);
    mq_props_free(q);
}

Test(props_wire, parse_of_empty_bytes_gives_null)
{
    mq_props *q = (mq_props *)1;
    cr_assert_eq(mqi_props_parse(NULL, 0, &q), MQ_OK);
    cr_assert_null(q);
}

/* ---- application-side check ---------------------------------------------- */

Test(props_check, property_not_allowed_in_the_packet_is_rejected)
{
    mq_props *p = mq_props_new();

    cr_assert_eq(mq_props_add_int(p, MQ_PROP_RECEIVE_MAXIMUM, 10), MQ_OK);
    cr_assert_eq(mqi_props_check(p, MQI_CONNECT), MQ_OK);
    cr_assert_eq(mqi_props_check(p, MQI_PUBLISH), MQ_ERR_PROPERTY);
    cr_assert_eq(mqi_props_check(p, MQI_WILL_PROPS), MQ_ERR_PROPERTY);
    cr_assert_eq(mqi_props_check(NULL, MQI_PUBLISH), MQ_OK);
    mq_props_free(p);
}

Test(props_check, duplicate_single_valued_property_is_rejected)
{
    mq_props *p = mq_props_new();

    cr_assert_eq(mq_props_add_string(p, MQ_PROP_CONTENT_TYPE, "a"), MQ_OK);
    cr_assert_eq(mq_props_add_user(p, "k", "1"), MQ_OK);
    cr_assert_eq(mq_props_add_user(p, "k", "2"), MQ_OK);
    cr_assert_eq(mqi_props_check(p, MQI_PUBLISH), MQ_OK);
    cr_assert_eq(mq_props_add_string(p, MQ_PROP_CONTENT_TYPE, "b"), MQ_OK);
    cr_assert_eq(mqi_props_check(p, MQI_PUBLISH), MQ_ERR_PROPERTY);
    mq_props_free(p);
}

Test(props_check, client_may_not_send_subscription_identifier_in_publish)
{
    mq_props *p = mq_props_new();

    cr_assert_eq(mq_props_add_int(p, MQ_PROP_SUBSCRIPTION_IDENTIFIER, 5), MQ_OK);
    cr_assert_eq(mqi_props_check(p, MQI_SUBSCRIBE), MQ_OK);
    cr_assert_eq(mqi_props_check(p, MQI_PUBLISH), MQ_ERR_PROPERTY);
    cr_assert_eq(mq_props_add_int(p, MQ_PROP_SUBSCRIPTION_IDENTIFIER, 6), MQ_OK);
    cr_assert_eq(mqi_props_check(p, MQI_SUBSCRIBE), MQ_ERR_PROPERTY);
    mq_props_free(p);
}

Test(props_check, values_the_spec_forbids_are_rejected)
{
    static const struct {
        int id;
        uint32_t v;
        int type;
    } bad[] = {
        {MQ_PROP_RECEIVE_MAXIMUM, 0, MQI_CONNECT},
        {MQ_PROP_MAXIMUM_PACKET_SIZE, 0, MQI_CONNECT},
        {MQ_PROP_TOPIC_ALIAS, 0, MQI_PUBLISH},
        {MQ_PROP_PAYLOAD_FORMAT_INDICATOR, 2, MQI_PUBLISH},
        {MQ_PROP_REQUEST_PROBLEM_INFORMATION, 2, MQI_CONNECT},
        {MQ_PROP_MAXIMUM_QOS, 2, MQI_CONNACK},
        {MQ_PROP_SUBSCRIPTION_IDENTIFIER, 0, MQI_SUBSCRIBE},
    };
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        mq_props *p = mq_props_new();
        cr_assert_eq(mq_props_add_int(p, bad[i].id, bad[i].v), MQ_OK,
                     "add_int only checks the type range");
        cr_assert_eq(mqi_props_check(p, bad[i].type), MQ_ERR_PROPERTY,
                     "id 0x%02x value %u", bad[i].id, bad[i].v);
        mq_props_free(p);
    }
}

/* ---- wire validation ----------------------------------------------------- */

#define VALIDATE(type, exp, ...)                                            \
    do {                                                                    \
        const uint8_t v_[] = {__VA_ARGS__};                                 \
        int rc_ = mqi_props_validate(v_, sizeof(v_), (type));               \
        cr_assert_eq(rc_, (exp), "rc %d expected %d", rc_, (exp));          \
    } while (0)

Test(props_validate, empty_is_valid)
{
    cr_assert_eq(mqi_props_validate(NULL, 0, MQI_PUBLISH), MQ_OK);
}

Test(props_validate, unknown_id_is_malformed)
{
    VALIDATE(MQI_PUBLISH, MQ_ERR_MALFORMED, 0x05, 0x00);
    VALIDATE(MQI_PUBLISH, MQ_ERR_MALFORMED, 0x2B, 0x00);
}

Test(props_validate, id_not_allowed_for_the_packet_is_malformed)
{
    VALIDATE(MQI_CONNECT, MQ_ERR_MALFORMED, 0x24, 0x01);     /* Maximum QoS */
    VALIDATE(MQI_WILL_PROPS, MQ_ERR_MALFORMED, 0x11, 0, 0, 0, 1);
    VALIDATE(MQI_SUBACK, MQ_ERR_MALFORMED, 0x0B, 0x01);
}

Test(props_validate, truncated_values_are_malformed)
{
    VALIDATE(MQI_CONNACK, MQ_ERR_MALFORMED, 0x13, 0x00);          /* u16 */
    VALIDATE(MQI_CONNACK, MQ_ERR_MALFORMED, 0x11, 0x00, 0x00);    /* u32 */
    VALIDATE(MQI_CONNACK, MQ_ERR_MALFORMED, 0x24);                /* byte */
    VALIDATE(MQI_CONNACK, MQ_ERR_MALFORMED, 0x1F, 0x00, 0x03, 'a');
    VALIDATE(MQI_CONNACK, MQ_ERR_MALFORMED, 0x26, 0x00, 0x01, 'a', 0x00);
    VALIDATE(MQI_SUBSCRIBE, MQ_ERR_MALFORMED, 0x0B, 0xFF, 0xFF);
    VALIDATE(MQI_SUBSCRIBE, MQ_ERR_MALFORMED, 0x0B, 0xFF, 0xFF, 0xFF, 0xFF,
             0x01);                                               /* 5 bytes */
    VALIDATE(MQI_SUBSCRIBE, MQ_ERR_MALFORMED, 0x0B, 0x81, 0x00); /* non-minimal */
}

Test(props_validate, strings_with_u0000_or_surrogates_are_malformed)
{
    VALIDATE(MQI_CONNACK, MQ_ERR_MALFORMED, 0x1F, 0x00, 0x01, 0x00);
    VALIDATE(MQI_CONNACK, MQ_ERR_MALFORMED, 0x1F, 0x00, 0x03, 0xED, 0xB0, 0x80);
    VALIDATE(MQI_CONNACK, MQ_ERR_MALFORMED, 0x26, 0x00, 0x00, 0x00, 0x01, 0x00);
    /* binary data may hold anything */
    VALIDATE(MQI_PUBLISH, MQ_OK, 0x09, 0x00, 0x02, 0x00, 0xFF);
}

Test(props_validate, duplicates_and_bad_values_are_protocol_errors)
{
    VALIDATE(MQI_CONNACK, MQ_ERR_PROTOCOL, 0x24, 0x00, 0x24, 0x01);
    VALIDATE(MQI_CONNACK, MQ_ERR_PROTOCOL, 0x2A, 0x02);
    VALIDATE(MQI_CONNACK, MQ_ERR_PROTOCOL, 0x29, 0x05);
    VALIDATE(MQI_CONNECT, MQ_ERR_PROTOCOL, 0x19, 0x02);
    VALIDATE(MQI_CONNECT, MQ_ERR_PROTOCOL, 0x27, 0, 0, 0, 0);
    VALIDATE(MQI_CONNECT, MQ_ERR_PROTOCOL, 0x21, 0, 0);
    VALIDATE(MQI_PUBLISH, MQ_ERR_PROTOCOL, 0x23, 0, 0);
    VALIDATE(MQI_PUBLISH, MQ_OK, 0x0B, 0x80, 0x01, 0x0B, 0x02);
    VALIDATE(MQI_PUBLISH, MQ_OK, 0x26, 0, 0, 0, 0, 0x26, 0, 0, 0, 0);
}

Test(props_validate, auth_data_needs_auth_method)
{
    VALIDATE(MQI_CONNECT, MQ_ERR_PROTOCOL, 0x16, 0x00, 0x00);
    VALIDATE(MQI_CONNECT, MQ_OK, 0x15, 0x00, 0x01, 'm', 0x16, 0x00, 0x00);
}
