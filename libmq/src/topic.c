/*
 * topic.c - MQTT UTF-8 string rules, topic name / topic filter validation
 * and filter matching, plus the public mq_topic_* utilities.
 *
 * Threading: pure functions on caller-owned memory, any thread.
 */
#include "topic.h"

#include <string.h>

#include "mq.h"

#define MQI_STR_MAX 65535u

/* Bytes with the top bit set, and the "has a zero byte" trick, for the
 * eight-bytes-at-a-time ASCII fast path. */
#define MQI_HI8 UINT64_C(0x8080808080808080)
#define MQI_LO8 UINT64_C(0x0101010101010101)

bool
mqi_utf8_valid(const uint8_t *s, size_t len)
{
    size_t i = 0;

    if (len > MQI_STR_MAX)
        return false;
    if (len > 0 && s == NULL)
        return false;

    while (i < len) {
        /* Fast path: 8 ASCII bytes with no NUL among them. */
        while (len - i >= 8) {
            uint64_t v;
            memcpy(&v, s + i, sizeof v);
            if (((v | ((v - MQI_LO8) & ~v)) & MQI_HI8) != 0)
                break;
            i += 8;
        }
        if (i >= len)
            break;

        uint8_t c = s[i];
        if (c < 0x80) {
            if (c == 0)
                return false; /* U+0000 is not allowed */
            i++;
            continue;
        }

        uint32_t cp;
        size_t n; /* continuation bytes */
        uint32_t min;
        if (c >= 0xC2 && c <= 0xDF) {
            cp = c & 0x1Fu;
            n = 1;
            min = 0x80;
        } else if (c >= 0xE0 && c <= 0xEF) {
            cp = c & 0x0Fu;
            n = 2;
            min = 0x800;
        } else if (c >= 0xF0 && c <= 0xF4) {
            cp = c & 0x07u;
            n = 3;
            min = 0x10000;
        } else {
            /* 0x80..0xC1 (stray continuation or overlong 2-byte lead),
             * 0xF5..0xFF (beyond U+10FFFF or never valid). */
            return false;
        }
        if (len - i <= n)
            return false; /* truncated sequence */
        for (size_t k = 1; k <= n; k++) {
            uint8_t cc = s[i + k];
            if ((cc & 0xC0u) != 0x80u)
                return false;
            cp = (cp << 6) | (cc & 0x3Fu);
        }
        if (cp < min)
            return false; /* overlong */
        if (cp >= 0xD800 && cp <= 0xDFFF)
            return false; /* UTF-16 surrogate */
        if (cp > 0x10FFFF)
            return false;
        i += n + 1;
    }
    return true;
}

int
mqi_topic_check(const uint8_t *t, size_t len)
{
    if (t == NULL || len == 0 || len > MQI_STR_MAX)
        return MQ_ERR_TOPIC;
    /* '+' and '#' are ASCII and never appear inside a multi-byte UTF-8
     * sequence, so a plain byte search is exact. */
    if (memchr(t, '+', len) != NULL || memchr(t, '#', len) != NULL)
        return MQ_ERR_TOPIC;
    if (!mqi_utf8_valid(t, len))
        return MQ_ERR_UTF8;
    return MQ_OK;
}

/* Wildcard placement rules for a plain (non-shared) filter. */
static int
filter_levels_ok(const uint8_t *f, size_t len)
{
    size_t start = 0; /* start of the current level */

    for (size_t i = 0; i < len; i++) {
        uint8_t c = f[i];
        if (c == '/') {
            start = i + 1;
        } else if (c == '+') {
            /* must be the whole level */
            if (i != start || (i + 1 < len && f[i + 1] != '/'))
                return MQ_ERR_TOPIC;
        } else if (c == '#') {
            /* must be the whole level and the last one */
            if (i != start || i + 1 != len)
                return MQ_ERR_TOPIC;
        }
    }
    return MQ_OK;
}

static const char share_prefix[] = "$share/";
#define SHARE_PREFIX_LEN (sizeof share_prefix - 1)

static bool
is_shared(const uint8_t *f, size_t len)
{
    return len >= SHARE_PREFIX_LEN &&
           memcmp(f, share_prefix, SHARE_PREFIX_LEN) == 0;
}

int
mqi_filter_check(const uint8_t *f, size_t len)
{
    if (f == NULL || len == 0 || len > MQI_STR_MAX)
        return MQ_ERR_TOPIC;

    const uint8_t *plain = f;
    size_t plen = len;
    if (is_shared(f, len)) {
        /* $share/<group>/<filter>: group non-empty, no wildcards, then a
         * non-empty filter. */
        const uint8_t *g = f + SHARE_PREFIX_LEN;
        size_t rest = len - SHARE_PREFIX_LEN;
        const uint8_t *slash = memchr(g, '/', rest);
        if (slash == NULL || slash == g)
            return MQ_ERR_TOPIC;
        size_t glen = (size_t)(slash - g);
        if (memchr(g, '+', glen) != NULL || memchr(g, '#', glen) != NULL)
            return MQ_ERR_TOPIC;
        plain = slash + 1;
        plen = rest - glen - 1;
        if (plen == 0)
            return MQ_ERR_TOPIC;
    }
    int rc = filter_levels_ok(plain, plen);
    if (rc != MQ_OK)
        return rc;
    if (!mqi_utf8_valid(f, len))
        return MQ_ERR_UTF8;
    return MQ_OK;
}

bool
mqi_topic_match(const uint8_t *f, size_t flen, const uint8_t *t,
                size_t tlen)
{
    if (f == NULL || t == NULL)
        return false;

    if (is_shared(f, flen)) {
        const uint8_t *g = f + SHARE_PREFIX_LEN;
        size_t rest = flen - SHARE_PREFIX_LEN;
        const uint8_t *slash = memchr(g, '/', rest);
        if (slash == NULL)
            return false;
        flen = rest - (size_t)(slash - g) - 1;
        f = slash + 1;
    }
    if (flen == 0)
        return false;

    /* Topics starting with '$' are not matched by a leading wildcard. */
    if (tlen > 0 && t[0] == '$' && (f[0] == '+' || f[0] == '#'))
        return false;

    size_t fi = 0, ti = 0;
    for (;;) {
        /* Both positions are at the start of a level. */
        if (fi + 1 == flen && f[fi] == '#')
            return true; /* matches this level and everything below */

        size_t fe = fi;
        while (fe < flen && f[fe] != '/')
            fe++;
        size_t te = ti;
        while (te < tlen && t[te] != '/')
            te++;

        bool plus = (fe - fi == 1 && f[fi] == '+');
        if (!plus) {
            if (fe - fi != te - ti || memcmp(f + fi, t + ti, fe - fi) != 0)
                return false;
        }

        if (fe == flen) /* filter exhausted: topic must be too */
            return te == tlen;
        if (te == tlen) {
            /* Topic exhausted, filter has more: only "/#" may follow
             * ("a/#" matches "a"). */
            return flen - fe == 2 && f[fe + 1] == '#';
        }
        fi = fe + 1; /* may equal flen: an empty last level ("a/") */
        ti = te + 1;
    }
}

/* ---- public utilities ------------------------------------------------ */

/* Length of a C string, capped at 65536 so a huge string is not scanned
 * past what makes it invalid. */
static size_t
capped_len(const char *s)
{
    return strnlen(s, (size_t)MQI_STR_MAX + 1);
}

MQ_API int
mq_topic_check(const char *topic)
{
    if (topic == NULL)
        return MQ_ERR_INVAL;
    return mqi_topic_check((const uint8_t *)topic, capped_len(topic));
}

MQ_API int
mq_filter_check(const char *filter)
{
    if (filter == NULL)
        return MQ_ERR_INVAL;
    return mqi_filter_check((const uint8_t *)filter, capped_len(filter));
}

MQ_API int
mq_topic_matches(const char *filter, const char *topic)
{
    if (filter == NULL || topic == NULL)
        return 0;
    size_t flen = capped_len(filter);
    size_t tlen = capped_len(topic);
    if (mqi_filter_check((const uint8_t *)filter, flen) != MQ_OK)
        return 0;
    if (mqi_topic_check((const uint8_t *)topic, tlen) != MQ_OK)
        return 0;
    return mqi_topic_match((const uint8_t *)filter, flen,
                           (const uint8_t *)topic, tlen) ? 1 : 0;
}
