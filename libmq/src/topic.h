/*
 * topic.h - MQTT UTF-8 rules, topic name / filter validation and matching.
 *
 * Threading: pure functions, any thread.
 */
#ifndef MQI_TOPIC_H
#define MQI_TOPIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* MQTT UTF-8 string rules (MQTT 5 §1.5.4): well-formed UTF-8, no U+0000,
 * no surrogates (U+D800..U+DFFF), no overlong forms, max U+10FFFF,
 * length <= 65535. */
bool mqi_utf8_valid(const uint8_t *s, size_t len);

/* Topic name to publish to: 1..65535 bytes, valid UTF-8, no '+' or '#'.
 * MQ_OK, MQ_ERR_TOPIC or MQ_ERR_UTF8. */
int mqi_topic_check(const uint8_t *t, size_t len);

/* Topic filter: 1..65535 bytes, valid UTF-8, '+' occupies a whole level,
 * '#' only as the whole last level; "$share/<group>/<filter>" needs a
 * non-empty group without wildcards and a non-empty filter.
 * MQ_OK, MQ_ERR_TOPIC or MQ_ERR_UTF8. */
int mqi_filter_check(const uint8_t *f, size_t len);

/* Does topic name @p t match filter @p f? Both assumed valid. A shared
 * subscription filter matches on its <filter> part. '+'/'#' at the first
 * level never match a topic starting with '$'. */
bool mqi_topic_match(const uint8_t *f, size_t flen, const uint8_t *t,
                     size_t tlen);

#endif
