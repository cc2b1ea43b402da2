/*
 * fuzz_props.c - libFuzzer target for the MQTT 5 property parser. Input:
 * byte 0 picks the packet type the properties belong to (1..15 as MQI_*,
 * 16 Will properties; taken modulo 17), the rest is a raw property block
 * (without its length prefix), copied into an exact-size allocation.
 *
 * Checks: validate returns MQ_OK/MALFORMED/PROTOCOL only; a block that
 * validates parses; the parsed list answers every accessor without
 * crashing; it passes mqi_props_check for the same packet type; encoding
 * it gives a block that validates again and re-encodes to the same bytes;
 * mqi_props_dup gives an equal list.
 *
 * Threading: none.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "fuzz_common.h"
#include "props.h"

static void
encode_bare(const mq_props *p, mqi_buf *b)
{
    uint32_t n;
    size_t used;

    mqi_buf_init(b);
    FCHECK(mqi_props_encode(b, p) == MQ_OK);
    FCHECK(mqi_varint_decode(b->data, b->len, &n, &used) == MQ_OK);
    FCHECK(n == b->len - used);
    FCHECK(n == mqi_props_len(p));
    memmove(b->data, b->data + used, n);
    b->len = n;
}

static void
poke_accessors(const mq_props *p)
{
    int id;
    size_t i, n = mq_props_user_count(p);

    for (id = 0; id < 0x30; id++) {
        uint32_t v;
        size_t len;
        const char *s;
        int t = mqi_prop_type(id);
        int rc = mq_props_get_int(p, id, 0, &v);
        if (rc == MQ_OK)
            FCHECK(t == MQI_PT_BYTE || t == MQI_PT_U16 || t == MQI_PT_U32 ||
                   t == MQI_PT_VARINT);
        FCHECK((mq_props_has(p, id) != 0) == (mq_props_has(p, id) == 1));
        s = mq_props_get_string(p, id);
        if (s != NULL)
            FCHECK(mq_props_has(p, id) && strlen(s) <= 65535);
        if (mq_props_get_binary(p, id, &len) == NULL)
            FCHECK(len == 0);
        else
            FCHECK(len <= 65535);
    }
    for (i = 0; i < n; i++) {
        const char *k = mq_props_user_key(p, i);
        const char *v = mq_props_user_value(p, i);
        FCHECK(k != NULL && v != NULL);
        FCHECK(strlen(k) <= 65535 && strlen(v) <= 65535);
    }
    FCHECK(mq_props_user_key(p, n) == NULL);
    FCHECK(mq_props_user_value(p, n) == NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int type, rc;
    uint8_t *raw;
    size_t len;
    mq_props *p = NULL, *d = NULL, *p2 = NULL;
    mqi_buf e1, e2, e3;

    if (size < 1)
        return 0;
    type = data[0] % 17;
    len = size - 1;
    raw = malloc(len ? len : 1);
    if (raw == NULL)
        return 0;
    if (len)
        memcpy(raw, data + 1, len);

    rc = mqi_props_validate(len ? raw : NULL, len, type);
    FCHECK(rc == MQ_OK || rc == MQ_ERR_MALFORMED || rc == MQ_ERR_PROTOCOL);
    if (rc != MQ_OK) {
        /* The parser alone must still be safe on any bytes. */
        rc = mqi_props_parse(len ? raw : NULL, len, &p);
        FCHECK(rc == MQ_OK || rc == MQ_ERR_MALFORMED || rc == MQ_ERR_NOMEM);
        if (rc == MQ_OK)
            poke_accessors(p);
        mq_props_free(p);
        free(raw);
        return 0;
    }
    FCHECK(type >= 1 || len == 0); /* type 0: only an empty block */
    rc = mqi_props_parse(len ? raw : NULL, len, &p);
    FCHECK(rc == MQ_OK || rc == MQ_ERR_NOMEM);
    if (rc != MQ_OK) {
        free(raw);
        return 0;
    }
    FCHECK((len == 0) == (p == NULL));
    poke_accessors(p);
    /* What the broker may send, the client may send too, except a
     * Subscription Identifier in PUBLISH (server to client only). */
    if (!(type == MQI_PUBLISH &&
          mq_props_has(p, MQ_PROP_SUBSCRIPTION_IDENTIFIER)))
        FCHECK(mqi_props_check(p, type) == MQ_OK);

    encode_bare(p, &e1);
    FCHECK(mqi_props_validate(e1.data, e1.len, type) == MQ_OK);
    FCHECK(e1.len <= len); /* canonical form is never longer */
    FCHECK(mqi_props_parse(e1.data, e1.len, &p2) == MQ_OK);
    FCHECK(mq_props_count(p2) == mq_props_count(p));
    encode_bare(p2, &e2);
    FCHECK(e2.len == e1.len &&
           (e1.len == 0 || memcmp(e1.data, e2.data, e1.len) == 0));

    if (mqi_props_dup(p, &d) == MQ_OK) {
        FCHECK(mq_props_count(d) == mq_props_count(p));
        encode_bare(d, &e3);
        FCHECK(e3.len == e1.len &&
               (e1.len == 0 || memcmp(e1.data, e3.data, e1.len) == 0));
        mqi_buf_free(&e3);
    }
    mq_props_free(d);
    mq_props_free(p2);
    mq_props_free(p);
    mqi_buf_free(&e1);
    mqi_buf_free(&e2);
    free(raw);
    return 0;
}
