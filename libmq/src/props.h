/*
 * props.h - MQTT 5 properties: the mq_props list behind the public API, and
 * their wire encoding and validation.
 *
 * Threading: an mq_props is not shared; the library copies lists on use.
 */
#ifndef MQI_PROPS_H
#define MQI_PROPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "check.h"
#include "wire.h"
#include "mq.h"

/* Property value types */
enum {
    MQI_PT_NONE = 0, /* unknown id */
    MQI_PT_BYTE,
    MQI_PT_U16,
    MQI_PT_U32,
    MQI_PT_VARINT,
    MQI_PT_STRING,
    MQI_PT_BINARY,
    MQI_PT_PAIR
};

/* Pseudo packet type for Will properties in mqi_props_check(). */
#define MQI_WILL_PROPS 16

typedef struct mqi_prop {
    uint8_t id;
    uint32_t value;  /* integer types */
    uint8_t *data;   /* string/binary/pair key (NUL-terminated copy) */
    size_t len;
    uint8_t *data2;  /* pair value (NUL-terminated copy) */
    size_t len2;
} mqi_prop;

struct mq_props {
    mqi_prop *v;
    size_t n;
    size_t cap;
};

/* Type of a property id, MQI_PT_NONE if unknown. */
int mqi_prop_type(int id);

/* True if property @p id may appear in a packet of @p type (MQI_* or
 * MQI_WILL_PROPS). */
bool mqi_prop_allowed(int id, int type);

/* Encoded size of the properties (without the length prefix). NULL: 0. */
size_t mqi_props_len(const mq_props *p);

/* Append the varint length followed by the properties. NULL: one 0 byte. */
MQI_MUST_CHECK int mqi_props_encode(mqi_buf *b, const mq_props *p);

/* Write the properties without their length at @p w, which has room for
 * mqi_props_len(p) bytes; returns the end. NULL writes nothing. */
uint8_t *mqi_props_write(uint8_t *w, const mq_props *p);

/* Validate properties the application wants to send in @p type:
 * MQ_OK or MQ_ERR_PROPERTY (id not allowed there, duplicate of a
 * single-valued property). NULL is valid. */
MQI_MUST_CHECK int mqi_props_check(const mq_props *p, int type);

/* Validate raw property bytes from the wire (without the length prefix) for
 * a packet of @p type: known ids allowed there, well-formed values, valid
 * UTF-8, no duplicates of single-valued properties, value ranges (e.g.
 * Receive Maximum != 0, Maximum QoS 0/1, Topic Alias != 0).
 * MQ_OK, MQ_ERR_MALFORMED or MQ_ERR_PROTOCOL. */
MQI_MUST_CHECK int mqi_props_validate(const uint8_t *p, size_t len, int type);

/* Parse validated raw bytes into a new list (*out NULL when len is 0).
 * MQ_OK, MQ_ERR_NOMEM, MQ_ERR_MALFORMED. */
MQI_MUST_CHECK int mqi_props_parse(const uint8_t *p, size_t len, mq_props **out);

/* Deep copy (NULL -> *out NULL). MQ_OK or MQ_ERR_NOMEM. */
MQI_MUST_CHECK int mqi_props_dup(const mq_props *src, mq_props **out);
/* The same, leaving out every property with @p id (0: none left out). */
MQI_MUST_CHECK int mqi_props_dup_without(const mq_props *src, int id, mq_props **out);

#endif
