/*
 * fuzz_topic.c - differential libFuzzer target for topic.c: UTF-8
 * validation, topic name and filter validation, and filter matching, each
 * checked against a deliberately simple reference written here from the
 * MQTT 5 specification (sections 1.5.4, 4.7 and 4.8.2), not from topic.c.
 *
 * Input: bytes 0-1 (little-endian) give the filter length (clipped to what
 * is left), then the filter bytes, then the topic name bytes. Checks:
 * mqi_utf8_valid, mqi_topic_check, mqi_filter_check and, for a valid pair,
 * mqi_topic_match agree with the references; the public mq_topic_check /
 * mq_filter_check / mq_topic_matches agree on the same strings cut at their
 * first NUL; every filter without wildcards matches itself as a topic.
 *
 * Threading: none.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "mq.h"
#include "topic.h"

/* ---- references ---------------------------------------------------------- */

/* Decode one code point the long way; false when malformed. */
static bool
ref_utf8(const uint8_t *s, size_t len)
{
    size_t i = 0;

    if (len > 65535)
        return false;
    while (i < len) {
        uint32_t cp;
        size_t need, k;

        if (s[i] < 0x80) {
            cp = s[i];
            need = 0;
        } else if ((s[i] & 0xE0) == 0xC0) {
            cp = s[i] & 0x1F;
            need = 1;
        } else if ((s[i] & 0xF0) == 0xE0) {
            cp = s[i] & 0x0F;
            need = 2;
        } else if ((s[i] & 0xF8) == 0xF0) {
            cp = s[i] & 0x07;
            need = 3;
        } else {
            return false;
        }
        if (i + need >= len)
            return false; /* truncated */
        for (k = 1; k <= need; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        if ((need == 1 && cp < 0x80) || (need == 2 && cp < 0x800) ||
            (need == 3 && cp < 0x10000))
            return false; /* overlong */
        i += need + 1;
    }
    return true;
}

/* Levels of a string split at '/': start offsets and lengths. */
typedef struct levels {
    size_t n;
    size_t *off, *len;
} levels;

static void
split(const uint8_t *s, size_t len, levels *L)
{
    size_t i, start = 0, n = 0;

    L->off = malloc((len + 1) * sizeof *L->off);
    L->len = malloc((len + 1) * sizeof *L->len);
    FCHECK(L->off != NULL && L->len != NULL);
    for (i = 0; i <= len; i++)
        if (i == len || s[i] == '/') {
            L->off[n] = start;
            L->len[n] = i - start;
            n++;
            start = i + 1;
        }
    L->n = n;
}

static void
levels_free(levels *L)
{
    free(L->off);
    free(L->len);
}

static bool
level_is(const uint8_t *s, const levels *L, size_t i, char c)
{
    return L->len[i] == 1 && s[L->off[i]] == (uint8_t)c;
}

static bool
has_byte(const uint8_t *s, size_t len, char c)
{
    return len > 0 && memchr(s, c, len) != NULL;
}

static int
ref_topic_check(const uint8_t *t, size_t len)
{
    if (len == 0 || len > 65535 || has_byte(t, len, '+') ||
        has_byte(t, len, '#'))
        return MQ_ERR_TOPIC;
    return ref_utf8(t, len) ? MQ_OK : MQ_ERR_UTF8;
}

/* Where the plain filter of a "$share/<group>/<filter>" starts, or 0 for a
 * plain filter; -1 when the share syntax is broken. */
static long
share_skip(const uint8_t *f, size_t len)
{
    size_t g = 7, e;

    if (len < 7 || memcmp(f, "$share/", 7) != 0)
        return 0;
    for (e = g; e < len && f[e] != '/'; e++)
        if (f[e] == '+' || f[e] == '#')
            return -1;
    if (e == g || e == len || e + 1 == len)
        return -1; /* empty group, no filter, empty filter */
    return (long)(e + 1);
}

static int
ref_filter_check(const uint8_t *f, size_t len)
{
    levels L;
    long skip;
    size_t i, k;
    int rc = MQ_OK;

    if (len == 0 || len > 65535)
        return MQ_ERR_TOPIC;
    skip = share_skip(f, len);
    if (skip < 0)
        return MQ_ERR_TOPIC;
    split(f + skip, len - (size_t)skip, &L);
    for (i = 0; i < L.n && rc == MQ_OK; i++) {
        const uint8_t *lv = f + skip + L.off[i];

        for (k = 0; k < L.len[i]; k++)
            if ((lv[k] == '+' || lv[k] == '#') && L.len[i] != 1)
                rc = MQ_ERR_TOPIC;
        if (level_is(f + skip, &L, i, '#') && i + 1 != L.n)
            rc = MQ_ERR_TOPIC;
    }
    levels_free(&L);
    if (rc != MQ_OK)
        return rc;
    return ref_utf8(f, len) ? MQ_OK : MQ_ERR_UTF8;
}

static bool
ref_match_from(const uint8_t *f, const levels *F, size_t i, const uint8_t *t,
               const levels *T, size_t j)
{
    for (;; i++, j++) {
        if (i == F->n)
            return j == T->n;
        if (level_is(f, F, i, '#'))
            return true; /* this level and all below, or the parent */
        if (j == T->n)
            return false;
        if (!level_is(f, F, i, '+') &&
            (F->len[i] != T->len[j] ||
             memcmp(f + F->off[i], t + T->off[j], F->len[i]) != 0))
            return false;
    }
}

/* Both valid. */
static bool
ref_match(const uint8_t *f, size_t flen, const uint8_t *t, size_t tlen)
{
    levels F, T;
    long skip = share_skip(f, flen);
    bool m;

    FCHECK(skip >= 0);
    f += skip;
    flen -= (size_t)skip;
    if (t[0] == '$' && (f[0] == '+' || f[0] == '#'))
        return false; /* MQTT 5 section 4.7.2 */
    split(f, flen, &F);
    split(t, tlen, &T);
    m = ref_match_from(f, &F, 0, t, &T, 0);
    levels_free(&F);
    levels_free(&T);
    return m;
}

/* ---- the target ------------------------------------------------------------ */

static char *
cstr(const uint8_t *p, size_t n)
{
    char *s = malloc(n + 1);

    FCHECK(s != NULL);
    if (n > 0)
        memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t flen, tlen;
    uint8_t *f, *t;
    int frc, trc;
    char *fs, *ts;
    bool fwild;

    if (size < 2)
        return 0;
    flen = (size_t)data[0] | (size_t)data[1] << 8;
    if (flen > size - 2)
        flen = size - 2;
    tlen = size - 2 - flen;
    /* exact-size copies so ASan sees any overread */
    f = malloc(flen ? flen : 1);
    t = malloc(tlen ? tlen : 1);
    FCHECK(f != NULL && t != NULL);
    memcpy(f, data + 2, flen);
    memcpy(t, data + 2 + flen, tlen);

    FCHECK(mqi_utf8_valid(f, flen) == ref_utf8(f, flen));
    FCHECK(mqi_utf8_valid(t, tlen) == ref_utf8(t, tlen));
    frc = mqi_filter_check(f, flen);
    trc = mqi_topic_check(t, tlen);
    FCHECK(frc == ref_filter_check(f, flen));
    FCHECK(trc == ref_topic_check(t, tlen));
    if (frc == MQ_OK && trc == MQ_OK)
        FCHECK(mqi_topic_match(f, flen, t, tlen) ==
               ref_match(f, flen, t, tlen));

    /* A valid filter without wildcards (and not shared) is a topic name
     * that matches itself. */
    fwild = has_byte(f, flen, '+') || has_byte(f, flen, '#');
    if (frc == MQ_OK && !fwild && share_skip(f, flen) == 0) {
        FCHECK(mqi_topic_check(f, flen) == MQ_OK);
        FCHECK(mqi_topic_match(f, flen, f, flen));
    }

    /* The public functions take C strings: same answers up to a NUL. */
    fs = cstr(f, flen);
    ts = cstr(t, tlen);
    {
        size_t fl = strlen(fs), tl = strlen(ts);
        int pf = ref_filter_check((const uint8_t *)fs, fl);
        int pt = ref_topic_check((const uint8_t *)ts, tl);

        FCHECK(mq_filter_check(fs) == pf);
        FCHECK(mq_topic_check(ts) == pt);
        FCHECK(mq_topic_matches(fs, ts) ==
               (pf == MQ_OK && pt == MQ_OK &&
                ref_match((const uint8_t *)fs, fl, (const uint8_t *)ts, tl)));
    }
    free(fs);
    free(ts);
    free(f);
    free(t);
    return 0;
}
