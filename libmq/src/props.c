/*
 * props.c - MQTT 5 properties: the public mq_props list, the per-packet
 * property table (MQTT 5 §2.2.2.2, table 2-4), wire encoding, validation of
 * received property bytes and parsing them into a list.
 *
 * Threading: pure functions and lists owned by one caller at a time; no
 * shared state, no locks.
 */
#include <stdlib.h>
#include <string.h>

#include "props.h"
#include "topic.h"

/* Bit per packet type (1..15) plus bit 16 for Will properties. */
#define PK(t) (1u << (t))
#define PK_ACKS (PK(MQI_PUBACK) | PK(MQI_PUBREC) | PK(MQI_PUBREL) | PK(MQI_PUBCOMP))
#define PK_ALL                                                              \
    (PK(MQI_CONNECT) | PK(MQI_CONNACK) | PK(MQI_PUBLISH) | PK_ACKS |         \
     PK(MQI_SUBSCRIBE) | PK(MQI_SUBACK) | PK(MQI_UNSUBSCRIBE) |             \
     PK(MQI_UNSUBACK) | PK(MQI_DISCONNECT) | PK(MQI_AUTH) |                 \
     PK(MQI_WILL_PROPS))

/* Value checks beyond the type (MQTT 5 §3.1.2.11, §3.2.2.3, §3.3.2.3). */
enum {
    RANGE_ANY = 0,
    RANGE_BOOL,    /* 0 or 1 */
    RANGE_NONZERO  /* 0 is a protocol error */
};

typedef struct prop_info {
    uint8_t type;
    uint8_t range;
    uint32_t packets; /* PK() mask of packets that may carry it */
} prop_info;

static const prop_info prop_table[0x2B] = {
    [MQ_PROP_PAYLOAD_FORMAT_INDICATOR] =
        {MQI_PT_BYTE, RANGE_BOOL, PK(MQI_PUBLISH) | PK(MQI_WILL_PROPS)},
    [MQ_PROP_MESSAGE_EXPIRY_INTERVAL] =
        {MQI_PT_U32, RANGE_ANY, PK(MQI_PUBLISH) | PK(MQI_WILL_PROPS)},
    [MQ_PROP_CONTENT_TYPE] =
        {MQI_PT_STRING, RANGE_ANY, PK(MQI_PUBLISH) | PK(MQI_WILL_PROPS)},
    [MQ_PROP_RESPONSE_TOPIC] =
        {MQI_PT_STRING, RANGE_ANY, PK(MQI_PUBLISH) | PK(MQI_WILL_PROPS)},
    [MQ_PROP_CORRELATION_DATA] =
        {MQI_PT_BINARY, RANGE_ANY, PK(MQI_PUBLISH) | PK(MQI_WILL_PROPS)},
    [MQ_PROP_SUBSCRIPTION_IDENTIFIER] =
        {MQI_PT_VARINT, RANGE_NONZERO, PK(MQI_PUBLISH) | PK(MQI_SUBSCRIBE)},
    [MQ_PROP_SESSION_EXPIRY_INTERVAL] =
        {MQI_PT_U32, RANGE_ANY,
         PK(MQI_CONNECT) | PK(MQI_CONNACK) | PK(MQI_DISCONNECT)},
    [MQ_PROP_ASSIGNED_CLIENT_IDENTIFIER] =
        {MQI_PT_STRING, RANGE_ANY, PK(MQI_CONNACK)},
    [MQ_PROP_SERVER_KEEP_ALIVE] = {MQI_PT_U16, RANGE_ANY, PK(MQI_CONNACK)},
    [MQ_PROP_AUTHENTICATION_METHOD] =
        {MQI_PT_STRING, RANGE_ANY,
         PK(MQI_CONNECT) | PK(MQI_CONNACK) | PK(MQI_AUTH)},
    [MQ_PROP_AUTHENTICATION_DATA] =
        {MQI_PT_BINARY, RANGE_ANY,
         PK(MQI_CONNECT) | PK(MQI_CONNACK) | PK(MQI_AUTH)},
    [MQ_PROP_REQUEST_PROBLEM_INFORMATION] =
        {MQI_PT_BYTE, RANGE_BOOL, PK(MQI_CONNECT)},
    [MQ_PROP_WILL_DELAY_INTERVAL] =
        {MQI_PT_U32, RANGE_ANY, PK(MQI_WILL_PROPS)},
    [MQ_PROP_REQUEST_RESPONSE_INFORMATION] =
        {MQI_PT_BYTE, RANGE_BOOL, PK(MQI_CONNECT)},
    [MQ_PROP_RESPONSE_INFORMATION] =
        {MQI_PT_STRING, RANGE_ANY, PK(MQI_CONNACK)},
    [MQ_PROP_SERVER_REFERENCE] =
        {MQI_PT_STRING, RANGE_ANY, PK(MQI_CONNACK) | PK(MQI_DISCONNECT)},
    [MQ_PROP_REASON_STRING] =
        {MQI_PT_STRING, RANGE_ANY,
         PK(MQI_CONNACK) | PK_ACKS | PK(MQI_SUBACK) | PK(MQI_UNSUBACK) |
             PK(MQI_DISCONNECT) | PK(MQI_AUTH)},
    [MQ_PROP_RECEIVE_MAXIMUM] =
        {MQI_PT_U16, RANGE_NONZERO, PK(MQI_CONNECT) | PK(MQI_CONNACK)},
    [MQ_PROP_TOPIC_ALIAS_MAXIMUM] =
        {MQI_PT_U16, RANGE_ANY, PK(MQI_CONNECT) | PK(MQI_CONNACK)},
    [MQ_PROP_TOPIC_ALIAS] = {MQI_PT_U16, RANGE_NONZERO, PK(MQI_PUBLISH)},
    [MQ_PROP_MAXIMUM_QOS] = {MQI_PT_BYTE, RANGE_BOOL, PK(MQI_CONNACK)},
    [MQ_PROP_RETAIN_AVAILABLE] = {MQI_PT_BYTE, RANGE_BOOL, PK(MQI_CONNACK)},
    [MQ_PROP_USER_PROPERTY] = {MQI_PT_PAIR, RANGE_ANY, PK_ALL},
    [MQ_PROP_MAXIMUM_PACKET_SIZE] =
        {MQI_PT_U32, RANGE_NONZERO, PK(MQI_CONNECT) | PK(MQI_CONNACK)},
    [MQ_PROP_WILDCARD_SUBSCRIPTION_AVAILABLE] =
        {MQI_PT_BYTE, RANGE_BOOL, PK(MQI_CONNACK)},
    [MQ_PROP_SUBSCRIPTION_IDENTIFIER_AVAILABLE] =
        {MQI_PT_BYTE, RANGE_BOOL, PK(MQI_CONNACK)},
    [MQ_PROP_SHARED_SUBSCRIPTION_AVAILABLE] =
        {MQI_PT_BYTE, RANGE_BOOL, PK(MQI_CONNACK)},
};

#define PROP_TABLE_N (sizeof(prop_table) / sizeof(prop_table[0]))

int
mqi_prop_type(int id)
{
    if (id < 0 || (size_t)id >= PROP_TABLE_N)
        return MQI_PT_NONE;
    return prop_table[id].type;
}

bool
mqi_prop_allowed(int id, int type)
{
    if (mqi_prop_type(id) == MQI_PT_NONE || type < 1 ||
        type > MQI_WILL_PROPS)
        return false;
    return (prop_table[id].packets & PK(type)) != 0;
}

/* User Property may always repeat; Subscription Identifier only in a
 * PUBLISH (one per matching subscription, MQTT 5 §3.3.2.3.8). */
static bool
prop_multi(int id, int type)
{
    return id == MQ_PROP_USER_PROPERTY ||
           (id == MQ_PROP_SUBSCRIPTION_IDENTIFIER && type == MQI_PUBLISH);
}

static bool
value_in_range(int id, uint32_t v)
{
    switch (prop_table[id].range) {
    case RANGE_BOOL:
        return v <= 1;
    case RANGE_NONZERO:
        return v != 0;
    default:
        return true;
    }
}

/* ---- list ---------------------------------------------------------------- */

MQ_API mq_props *
mq_props_new(void)
{
    return calloc(1, sizeof(mq_props));
}

MQ_API void
mq_props_free(mq_props *p)
{
    size_t i;

    if (p == NULL)
        return;
    for (i = 0; i < p->n; i++)
        free(p->v[i].data); /* data2 lives in the same block */
    free(p->v);
    free(p);
}

/* Append an entry; copies key (and value for pairs) into one block, each
 * NUL-terminated. */
static int
props_push(mq_props *p, uint8_t id, uint32_t value,
           const void *d1, size_t l1, const void *d2, size_t l2,
           bool pair)
{
    mqi_prop *e;
    uint8_t *blk = NULL;

    if (p->n == p->cap) {
        size_t ncap = p->cap ? p->cap * 2 : 4;
        mqi_prop *nv = realloc(p->v, ncap * sizeof(*nv));
        if (nv == NULL)
            return MQ_ERR_NOMEM;
        p->v = nv;
        p->cap = ncap;
    }
    if (d1 != NULL || pair) {
        blk = malloc(l1 + 1 + (pair ? l2 + 1 : 0));
        if (blk == NULL)
            return MQ_ERR_NOMEM;
        if (l1)
            memcpy(blk, d1, l1);
        blk[l1] = 0;
        if (pair) {
            if (l2)
                memcpy(blk + l1 + 1, d2, l2);
            blk[l1 + 1 + l2] = 0;
        }
    }
    e = &p->v[p->n++];
    e->id = id;
    e->value = value;
    e->data = blk;
    e->len = l1;
    e->data2 = pair ? blk + l1 + 1 : NULL;
    e->len2 = pair ? l2 : 0;
    return MQ_OK;
}

MQ_API int
mq_props_add_int(mq_props *p, int id, uint32_t value)
{
    if (p == NULL)
        return MQ_ERR_INVAL;
    switch (mqi_prop_type(id)) {
    case MQI_PT_BYTE:
        if (value > 0xFF)
            return MQ_ERR_PROPERTY;
        break;
    case MQI_PT_U16:
        if (value > 0xFFFF)
            return MQ_ERR_PROPERTY;
        break;
    case MQI_PT_U32:
        break;
    case MQI_PT_VARINT:
        if (value > MQI_MAX_REMAINING)
            return MQ_ERR_PROPERTY;
        break;
    default:
        return MQ_ERR_PROPERTY;
    }
    return props_push(p, (uint8_t)id, value, NULL, 0, NULL, 0, false);
}

MQ_API int
mq_props_add_string(mq_props *p, int id, const char *value)
{
    size_t len;

    if (p == NULL || value == NULL)
        return MQ_ERR_INVAL;
    if (mqi_prop_type(id) != MQI_PT_STRING)
        return MQ_ERR_PROPERTY;
    len = strlen(value);
    if (!mqi_utf8_valid((const uint8_t *)value, len))
        return MQ_ERR_UTF8;
    return props_push(p, (uint8_t)id, 0, value, len, NULL, 0, false);
}

MQ_API int
mq_props_add_binary(mq_props *p, int id, const void *data,
                    size_t len)
{
    static const uint8_t empty[1] = {0};

    if (p == NULL || (data == NULL && len > 0))
        return MQ_ERR_INVAL;
    if (mqi_prop_type(id) != MQI_PT_BINARY || len > 0xFFFF)
        return MQ_ERR_PROPERTY;
    return props_push(p, (uint8_t)id, 0, data ? data : empty, len, NULL, 0,
                      false);
}

MQ_API int
mq_props_add_user(mq_props *p, const char *key, const char *value)
{
    size_t kl, vl;

    if (p == NULL || key == NULL || value == NULL)
        return MQ_ERR_INVAL;
    kl = strlen(key);
    vl = strlen(value);
    if (!mqi_utf8_valid((const uint8_t *)key, kl) ||
        !mqi_utf8_valid((const uint8_t *)value, vl))
        return MQ_ERR_UTF8;
    return props_push(p, MQ_PROP_USER_PROPERTY, 0, key, kl, value, vl, true);
}

MQ_API size_t
mq_props_count(const mq_props *p)
{
    return p ? p->n : 0;
}

MQ_API int
mq_props_has(const mq_props *p, int id)
{
    size_t i;

    if (p == NULL)
        return 0;
    for (i = 0; i < p->n; i++)
        if (p->v[i].id == id)
            return 1;
    return 0;
}

MQ_API int
mq_props_get_int(const mq_props *p, int id, size_t n,
                 uint32_t *out_value)
{
    size_t i;
    int t = mqi_prop_type(id);

    if (t != MQI_PT_BYTE && t != MQI_PT_U16 && t != MQI_PT_U32 &&
        t != MQI_PT_VARINT)
        return MQ_ERR_PROPERTY;
    if (p == NULL)
        return MQ_ERR_NOT_FOUND;
    for (i = 0; i < p->n; i++) {
        if (p->v[i].id != id)
            continue;
        if (n-- == 0) {
            if (out_value)
                *out_value = p->v[i].value;
            return MQ_OK;
        }
    }
    return MQ_ERR_NOT_FOUND;
}

static const mqi_prop *
find_first(const mq_props *p, int id)
{
    size_t i;

    if (p == NULL)
        return NULL;
    for (i = 0; i < p->n; i++)
        if (p->v[i].id == id)
            return &p->v[i];
    return NULL;
}

MQ_API const char *
mq_props_get_string(const mq_props *p, int id)
{
    const mqi_prop *e;

    if (mqi_prop_type(id) != MQI_PT_STRING)
        return NULL;
    e = find_first(p, id);
    return e ? (const char *)e->data : NULL;
}

MQ_API const void *
mq_props_get_binary(const mq_props *p, int id,
                    size_t *out_len)
{
    const mqi_prop *e = NULL;

    if (mqi_prop_type(id) == MQI_PT_BINARY)
        e = find_first(p, id);
    if (out_len)
        *out_len = e ? e->len : 0;
    return e ? e->data : NULL;
}

MQ_API size_t
mq_props_user_count(const mq_props *p)
{
    size_t i, n = 0;

    if (p == NULL)
        return 0;
    for (i = 0; i < p->n; i++)
        if (p->v[i].id == MQ_PROP_USER_PROPERTY)
            n++;
    return n;
}

static const mqi_prop *
user_at(const mq_props *p, size_t idx)
{
    size_t i;

    if (p == NULL)
        return NULL;
    for (i = 0; i < p->n; i++)
        if (p->v[i].id == MQ_PROP_USER_PROPERTY && idx-- == 0)
            return &p->v[i];
    return NULL;
}

MQ_API const char *
mq_props_user_key(const mq_props *p, size_t i)
{
    const mqi_prop *e = user_at(p, i);
    return e ? (const char *)e->data : NULL;
}

MQ_API const char *
mq_props_user_value(const mq_props *p, size_t i)
{
    const mqi_prop *e = user_at(p, i);
    return e ? (const char *)e->data2 : NULL;
}

/* ---- encoding ------------------------------------------------------------ */

static size_t
prop_size(const mqi_prop *e)
{
    /* Every known id is below 0x80: a one-byte varint. */
    switch (mqi_prop_type(e->id)) {
    case MQI_PT_BYTE:
        return 2;
    case MQI_PT_U16:
        return 3;
    case MQI_PT_U32:
        return 5;
    case MQI_PT_VARINT:
        return 1 + mqi_varint_size(e->value);
    case MQI_PT_STRING:
    case MQI_PT_BINARY:
        return 3 + e->len;
    case MQI_PT_PAIR:
        return 5 + e->len + e->len2;
    default:
        return 0;
    }
}

size_t
mqi_props_len(const mq_props *p)
{
    size_t i, n = 0;

    if (p == NULL)
        return 0;
    for (i = 0; i < p->n; i++)
        n += prop_size(&p->v[i]);
    return n;
}

static uint8_t *
put16(uint8_t *w, size_t v)
{
    w[0] = (uint8_t)(v >> 8);
    w[1] = (uint8_t)v;
    return w + 2;
}

static uint8_t *
put_lenbytes(uint8_t *w, const uint8_t *d, size_t len)
{
    w = put16(w, len);
    if (len)
        memcpy(w, d, len);
    return w + len;
}

uint8_t *
mqi_props_write(uint8_t *w, const mq_props *p)
{
    size_t i;

    for (i = 0; p != NULL && i < p->n; i++) {
        const mqi_prop *e = &p->v[i];
        switch (mqi_prop_type(e->id)) {
        case MQI_PT_BYTE:
            *w++ = e->id;
            *w++ = (uint8_t)e->value;
            break;
        case MQI_PT_U16:
            *w++ = e->id;
            w = put16(w, e->value);
            break;
        case MQI_PT_U32:
            *w++ = e->id;
            w[0] = (uint8_t)(e->value >> 24);
            w[1] = (uint8_t)(e->value >> 16);
            w[2] = (uint8_t)(e->value >> 8);
            w[3] = (uint8_t)e->value;
            w += 4;
            break;
        case MQI_PT_VARINT:
            *w++ = e->id;
            w += mqi_varint_encode(w, e->value);
            break;
        case MQI_PT_STRING:
        case MQI_PT_BINARY:
            *w++ = e->id;
            w = put_lenbytes(w, e->data, e->len);
            break;
        case MQI_PT_PAIR:
            *w++ = e->id;
            w = put_lenbytes(w, e->data, e->len);
            w = put_lenbytes(w, e->data2, e->len2);
            break;
        default:
            break; /* unknown ids cannot be added */
        }
    }
    return w;
}

int
mqi_props_encode(mqi_buf *b, const mq_props *p)
{
    size_t total = mqi_props_len(p);
    uint8_t *w;
    int rc;

    if (total > MQI_MAX_REMAINING)
        return MQ_ERR_TOO_LARGE;
    rc = mqi_buf_reserve(b, 4 + total);
    if (rc != MQ_OK)
        return rc;
    w = b->data + b->len;
    w += mqi_varint_encode(w, (uint32_t)total);
    w = mqi_props_write(w, p);
    b->len = (size_t)(w - b->data);
    return MQ_OK;
}

/* ---- validation ---------------------------------------------------------- */

/* Seen-set for single-valued ids (all ids are below 64). */
static bool
seen_once(uint64_t *seen, int id)
{
    uint64_t bit = (uint64_t)1 << id;

    if (*seen & bit)
        return false;
    *seen |= bit;
    return true;
}

int
mqi_props_check(const mq_props *p, int type)
{
    uint64_t seen = 0;
    size_t i;

    if (p == NULL)
        return MQ_OK;
    for (i = 0; i < p->n; i++) {
        const mqi_prop *e = &p->v[i];
        int id = e->id;

        if (!mqi_prop_allowed(id, type))
            return MQ_ERR_PROPERTY;
        /* A client never sends a Subscription Identifier in PUBLISH
         * (MQTT 5 §3.3.4); these checks are for what the client sends. */
        if (id == MQ_PROP_SUBSCRIPTION_IDENTIFIER && type == MQI_PUBLISH)
            return MQ_ERR_PROPERTY;
        if (!prop_multi(id, type) && !seen_once(&seen, id))
            return MQ_ERR_PROPERTY;
        if (mqi_prop_type(id) <= MQI_PT_VARINT && !value_in_range(id, e->value))
            return MQ_ERR_PROPERTY;
    }
    return MQ_OK;
}

/* Read one property at p[*pos]. Fills id, value, data/len, data2/len2.
 * Returns MQ_OK or MQ_ERR_MALFORMED (unknown id, truncated, bad UTF-8 when
 * @p check_utf8). */
static int
read_prop(const uint8_t *p, size_t len, size_t *pos, int *out_id,
          uint32_t *value, const uint8_t **d1, size_t *l1,
          const uint8_t **d2, size_t *l2, bool check_utf8)
{
    size_t i = *pos, used, n;
    uint32_t id;
    int t;

    /* The id is a varint, but every defined id is below 0x80: a longer
     * encoding is either non-minimal or an unknown id. */
    if (i >= len || p[i] & 0x80)
        return MQ_ERR_MALFORMED;
    id = p[i++];
    t = mqi_prop_type((int)id);
    *out_id = (int)id;
    *value = 0;
    *d1 = *d2 = NULL;
    *l1 = *l2 = 0;
    switch (t) {
    case MQI_PT_BYTE:
        if (len - i < 1)
            return MQ_ERR_MALFORMED;
        *value = p[i];
        i += 1;
        break;
    case MQI_PT_U16:
        if (len - i < 2)
            return MQ_ERR_MALFORMED;
        *value = (uint32_t)p[i] << 8 | p[i + 1];
        i += 2;
        break;
    case MQI_PT_U32:
        if (len - i < 4)
            return MQ_ERR_MALFORMED;
        *value = (uint32_t)p[i] << 24 | (uint32_t)p[i + 1] << 16 |
                 (uint32_t)p[i + 2] << 8 | p[i + 3];
        i += 4;
        break;
    case MQI_PT_VARINT:
        /* MQTT 5 §1.5.5: the minimum number of bytes MUST be used. */
        if (mqi_varint_decode(p + i, len - i, value, &used) != MQ_OK ||
            used != mqi_varint_size(*value))
            return MQ_ERR_MALFORMED;
        i += used;
        break;
    case MQI_PT_STRING:
    case MQI_PT_BINARY:
    case MQI_PT_PAIR:
        if (len - i < 2)
            return MQ_ERR_MALFORMED;
        n = (size_t)p[i] << 8 | p[i + 1];
        i += 2;
        if (len - i < n)
            return MQ_ERR_MALFORMED;
        *d1 = p + i;
        *l1 = n;
        i += n;
        if (t != MQI_PT_BINARY && check_utf8 && !mqi_utf8_valid(*d1, n))
            return MQ_ERR_MALFORMED;
        if (t != MQI_PT_PAIR)
            break;
        if (len - i < 2)
            return MQ_ERR_MALFORMED;
        n = (size_t)p[i] << 8 | p[i + 1];
        i += 2;
        if (len - i < n)
            return MQ_ERR_MALFORMED;
        *d2 = p + i;
        *l2 = n;
        i += n;
        if (check_utf8 && !mqi_utf8_valid(*d2, n))
            return MQ_ERR_MALFORMED;
        break;
    default:
        /* MQTT 5 §2.2.2.2: an identifier not valid for the packet makes
         * it a Malformed Packet. */
        return MQ_ERR_MALFORMED;
    }
    *pos = i;
    return MQ_OK;
}

int
mqi_props_validate(const uint8_t *p, size_t len, int type)
{
    uint64_t seen = 0;
    size_t pos = 0;
    int id, rc;
    uint32_t value;
    const uint8_t *d1, *d2;
    size_t l1, l2;

    if (len > 0 && p == NULL)
        return MQ_ERR_MALFORMED;
    while (pos < len) {
        rc = read_prop(p, len, &pos, &id, &value, &d1, &l1, &d2, &l2, true);
        if (rc != MQ_OK)
            return rc;
        if (!mqi_prop_allowed(id, type))
            return MQ_ERR_MALFORMED;
        /* "It is a Protocol Error to include X more than once" */
        if (!prop_multi(id, type) && !seen_once(&seen, id))
            return MQ_ERR_PROTOCOL;
        if (!value_in_range(id, value))
            return MQ_ERR_PROTOCOL;
    }
    /* MQTT 5 §3.1.2.11.10 / §3.2.2.3.17: Authentication Data without an
     * Authentication Method is a Protocol Error. */
    if ((seen & ((uint64_t)1 << MQ_PROP_AUTHENTICATION_DATA)) &&
        !(seen & ((uint64_t)1 << MQ_PROP_AUTHENTICATION_METHOD)))
        return MQ_ERR_PROTOCOL;
    return MQ_OK;
}

int
mqi_props_parse(const uint8_t *p, size_t len, mq_props **out)
{
    mq_props *l;
    size_t pos = 0;
    int id, rc;
    uint32_t value;
    const uint8_t *d1, *d2;
    size_t l1, l2;

    *out = NULL;
    if (len == 0)
        return MQ_OK;
    if (p == NULL)
        return MQ_ERR_MALFORMED;
    l = mq_props_new();
    if (l == NULL)
        return MQ_ERR_NOMEM;
    while (pos < len) {
        rc = read_prop(p, len, &pos, &id, &value, &d1, &l1, &d2, &l2, false);
        if (rc != MQ_OK)
            goto fail;
        rc = props_push(l, (uint8_t)id, value, d1, l1, d2, l2,
                        mqi_prop_type(id) == MQI_PT_PAIR);
        if (rc != MQ_OK)
            goto fail;
    }
    *out = l;
    return MQ_OK;

fail:
    mq_props_free(l);
    return rc;
}

int
mqi_props_dup(const mq_props *src, mq_props **out)
{
    return mqi_props_dup_without(src, 0, out);
}

int
mqi_props_dup_without(const mq_props *src, int id, mq_props **out)
{
    mq_props *l;
    size_t i;
    int rc;

    *out = NULL;
    if (src == NULL)
        return MQ_OK;
    l = mq_props_new();
    if (l == NULL)
        return MQ_ERR_NOMEM;
    for (i = 0; i < src->n; i++) {
        const mqi_prop *e = &src->v[i];
        bool pair = e->data2 != NULL;
        if (id != 0 && e->id == id)
            continue;
        rc = props_push(l, e->id, e->value, e->data, e->len, e->data2,
                        e->len2, pair);
        if (rc != MQ_OK)
            goto fail;
    }
    *out = l;
    return MQ_OK;

fail:
    mq_props_free(l);
    return rc;
}
