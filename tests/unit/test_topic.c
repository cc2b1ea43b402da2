/*
 * test_topic.c - unit tests for MQTT UTF-8 rules, topic name / filter
 * validation and filter matching (topic.c).
 *
 * Threading: Criterion runs each test in its own process.
 */
#include <criterion/criterion.h>
#include <locale.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "mq.h"
#include "topic.h"

/* ---- UTF-8 --------------------------------------------------------- */

struct u8case {
    const char *bytes;
    size_t len;
    bool ok;
    const char *what;
};

#define U8(s, ok, what) {s, sizeof(s) - 1, ok, what}

static const struct u8case u8cases[] = {
    U8("", true, "empty"),
    U8("hello/world", true, "ascii"),
    U8("0123456789abcdefghijklmnopqrstuvwxyz", true, "long ascii"),
    U8("\x7f", true, "DEL (discouraged, allowed)"),
    U8("\x01", true, "U+0001 (discouraged, allowed)"),
    U8("\xc2\x80", true, "U+0080"),
    U8("\xc3\xa9t\xc3\xa9", true, "ete"),
    U8("\xdf\xbf", true, "U+07FF"),
    U8("\xe0\xa0\x80", true, "U+0800"),
    U8("\xed\x9f\xbf", true, "U+D7FF"),
    U8("\xee\x80\x80", true, "U+E000"),
    U8("\xef\xbb\xbf", true, "BOM U+FEFF"),
    U8("\xef\xbf\xbf", true, "U+FFFF (noncharacter, allowed)"),
    U8("\xf0\x90\x80\x80", true, "U+10000"),
    U8("\xf0\x9f\x98\x80", true, "emoji"),
    U8("\xf4\x8f\xbf\xbf", true, "U+10FFFF"),
    U8("abcdefgh\xe2\x82\xac" "abcdefgh", true, "euro amid ascii"),
    U8("a\0b", false, "embedded U+0000"),
    U8("abcdefghijk\0mnop", false, "U+0000 in fast path block"),
    U8("\0", false, "lone U+0000"),
    U8("\xc0\x80", false, "overlong U+0000"),
    U8("\xc0\xaf", false, "overlong '/'"),
    U8("\xc1\xbf", false, "overlong 2-byte"),
    U8("\xe0\x80\xaf", false, "overlong 3-byte"),
    U8("\xe0\x9f\xbf", false, "overlong U+07FF in 3 bytes"),
    U8("\xf0\x80\x80\xaf", false, "overlong 4-byte"),
    U8("\xf0\x8f\xbf\xbf", false, "overlong U+FFFF in 4 bytes"),
    U8("\xed\xa0\x80", false, "surrogate U+D800"),
    U8("\xed\xbf\xbf", false, "surrogate U+DFFF"),
    U8("\xed\xa0\xbd\xed\xb8\x80", false, "CESU-8 surrogate pair"),
    U8("\xf4\x90\x80\x80", false, "U+110000"),
    U8("\xf5\x80\x80\x80", false, "lead F5"),
    U8("\xf8\x88\x80\x80\x80", false, "5-byte form"),
    U8("\xfe", false, "FE"),
    U8("\xff", false, "FF"),
    U8("\x80", false, "stray continuation"),
    U8("abc\xbf", false, "stray continuation after ascii"),
    U8("\xc3", false, "truncated 2-byte"),
    U8("\xe2\x82", false, "truncated 3-byte"),
    U8("\xf0\x9f\x98", false, "truncated 4-byte"),
    U8("\xc3(", false, "bad continuation"),
    U8("\xe2(\xa1", false, "bad continuation 3-byte"),
    U8("\xf0\x9f(\x80", false, "bad continuation 4-byte"),
};

Test(utf8, table)
{
    for (size_t i = 0; i < sizeof u8cases / sizeof u8cases[0]; i++) {
        const struct u8case *c = &u8cases[i];
        cr_expect_eq(mqi_utf8_valid((const uint8_t *)c->bytes, c->len), c->ok,
                     "utf8 case %zu (%s): expected %s", i, c->what,
                     c->ok ? "valid" : "invalid");
    }
}

Test(utf8, every_offset_of_fast_path)
{
    /* A bad byte at each position of a 40-byte buffer is caught whether
     * it falls in an 8-byte block or in the tail. */
    uint8_t buf[40];
    for (size_t pos = 0; pos < sizeof buf; pos++) {
        memset(buf, 'a', sizeof buf);
        cr_assert(mqi_utf8_valid(buf, sizeof buf));
        buf[pos] = 0;
        cr_expect(!mqi_utf8_valid(buf, sizeof buf), "NUL at %zu", pos);
        buf[pos] = 0x80;
        cr_expect(!mqi_utf8_valid(buf, sizeof buf), "0x80 at %zu", pos);
        buf[pos] = 0xff;
        cr_expect(!mqi_utf8_valid(buf, sizeof buf), "0xff at %zu", pos);
    }
}

/* Encode one code point the straightforward way (no checks). */
static size_t encode_cp(uint32_t cp, uint8_t *out)
{
    if (cp < 0x80) {
        out[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (uint8_t)(0xC0 | (cp >> 6));
        out[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (uint8_t)(0xE0 | (cp >> 12));
        out[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (uint8_t)(0xF0 | (cp >> 18));
    out[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

Test(utf8, every_code_point)
{
    uint8_t b[4];
    for (uint32_t cp = 0; cp <= 0x10FFFF; cp++) {
        size_t n = encode_cp(cp, b);
        bool want = cp != 0 && !(cp >= 0xD800 && cp <= 0xDFFF);
        if (mqi_utf8_valid(b, n) != want)
            cr_assert_fail("U+%04X: expected %s", (unsigned)cp,
                           want ? "valid" : "invalid");
    }
}

/* Reference: glibc's UTF-8 decoder, plus the MQTT bans on U+0000,
 * surrogates and (which glibc accepts) code points above U+10FFFF. */
static bool ref_valid(const uint8_t *s, size_t len)
{
    mbstate_t st;
    memset(&st, 0, sizeof st);
    size_t i = 0;
    while (i < len) {
        wchar_t wc;
        size_t r = mbrtowc(&wc, (const char *)s + i, len - i, &st);
        if (r == (size_t)-1 || r == (size_t)-2 || r == 0)
            return false;
        if (wc >= 0xD800 && wc <= 0xDFFF)
            return false;
        if ((uint32_t)wc > 0x10FFFF)
            return false;
        i += r;
    }
    return true;
}

Test(utf8, exhaustive_short_sequences_vs_glibc)
{
    if (setlocale(LC_CTYPE, "C.UTF-8") == NULL)
        cr_skip_test("C.UTF-8 locale not available");
    uint8_t b[3];
    for (unsigned x = 0; x < 0x100; x++) {
        b[0] = (uint8_t)x;
        cr_assert_eq(mqi_utf8_valid(b, 1), ref_valid(b, 1), "%02X", x);
        for (unsigned y = 0; y < 0x100; y++) {
            b[1] = (uint8_t)y;
            cr_assert_eq(mqi_utf8_valid(b, 2), ref_valid(b, 2), "%02X %02X",
                         x, y);
            /* Third byte: all values after a 3-byte lead, a sample
             * otherwise (the other cases are settled by 2 bytes). */
            for (unsigned z = 0; z < 0x100; z += (x >= 0xE0 ? 1 : 0x3F)) {
                b[2] = (uint8_t)z;
                if (mqi_utf8_valid(b, 3) != ref_valid(b, 3))
                    cr_assert_fail("%02X %02X %02X", x, y, z);
            }
        }
    }
    /* Four-byte sequences: every lead F0..F7 with continuation patterns. */
    static const uint8_t conts[] = {0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90,
                                    0x9F, 0xA0, 0xBF, 0xC0, 0xFF};
    const size_t nc = sizeof conts;
    uint8_t q[4];
    for (unsigned x = 0xF0; x < 0x100; x++)
        for (size_t i = 0; i < nc; i++)
            for (size_t j = 0; j < nc; j++)
                for (size_t k = 0; k < nc; k++) {
                    q[0] = (uint8_t)x;
                    q[1] = conts[i];
                    q[2] = conts[j];
                    q[3] = conts[k];
                    if (mqi_utf8_valid(q, 4) != ref_valid(q, 4))
                        cr_assert_fail("%02X %02X %02X %02X", q[0], q[1],
                                       q[2], q[3]);
                }
}

Test(utf8, length_limit)
{
    uint8_t *buf = malloc(65536);
    cr_assert_not_null(buf);
    memset(buf, 'x', 65536);
    cr_expect(mqi_utf8_valid(buf, 65535));
    cr_expect(!mqi_utf8_valid(buf, 65536));
    free(buf);
}

/* ---- topic names and filters --------------------------------------- */

struct tcase {
    const char *s;
    int topic_rc;  /* mq_topic_check */
    int filter_rc; /* mq_filter_check */
};

static const struct tcase tcases[] = {
    {"a", MQ_OK, MQ_OK},
    {"sport/tennis/player1", MQ_OK, MQ_OK},
    {"/", MQ_OK, MQ_OK},
    {"//", MQ_OK, MQ_OK},
    {"/finance", MQ_OK, MQ_OK},
    {"a/", MQ_OK, MQ_OK},
    {" ", MQ_OK, MQ_OK},
    {"$SYS/broker/load", MQ_OK, MQ_OK},
    {"caf\xc3\xa9/\xe2\x82\xac", MQ_OK, MQ_OK},
    {"", MQ_ERR_TOPIC, MQ_ERR_TOPIC},
    {"#", MQ_ERR_TOPIC, MQ_OK},
    {"+", MQ_ERR_TOPIC, MQ_OK},
    {"+/+", MQ_ERR_TOPIC, MQ_OK},
    {"/+", MQ_ERR_TOPIC, MQ_OK},
    {"+/", MQ_ERR_TOPIC, MQ_OK},
    {"sport/#", MQ_ERR_TOPIC, MQ_OK},
    {"sport/tennis/#", MQ_ERR_TOPIC, MQ_OK},
    {"sport/+/player1", MQ_ERR_TOPIC, MQ_OK},
    {"+/tennis/#", MQ_ERR_TOPIC, MQ_OK},
    {"/#", MQ_ERR_TOPIC, MQ_OK},
    {"sport/tennis#", MQ_ERR_TOPIC, MQ_ERR_TOPIC},
    {"sport/tennis/#/ranking", MQ_ERR_TOPIC, MQ_ERR_TOPIC},
    {"sport+", MQ_ERR_TOPIC, MQ_ERR_TOPIC},
    {"sport/+x", MQ_ERR_TOPIC, MQ_ERR_TOPIC},
    {"sport/x+/y", MQ_ERR_TOPIC, MQ_ERR_TOPIC},
    {"##", MQ_ERR_TOPIC, MQ_ERR_TOPIC},
    {"#/", MQ_ERR_TOPIC, MQ_ERR_TOPIC},
    {"++", MQ_ERR_TOPIC, MQ_ERR_TOPIC},
    {"a/b#", MQ_ERR_TOPIC, MQ_ERR_TOPIC},
    {"\xc3", MQ_ERR_UTF8, MQ_ERR_UTF8},
    {"a/\xed\xa0\x80", MQ_ERR_UTF8, MQ_ERR_UTF8},
    {"a/\xc0\xaf", MQ_ERR_UTF8, MQ_ERR_UTF8},
    {"a/\xff/+", MQ_ERR_TOPIC, MQ_ERR_UTF8},
    /* shared subscriptions */
    {"$share/g/a/b", MQ_OK, MQ_OK},
    {"$share/g/#", MQ_ERR_TOPIC, MQ_OK},
    {"$share/g/+/x", MQ_ERR_TOPIC, MQ_OK},
    {"$share/group/", MQ_OK, MQ_ERR_TOPIC},
    {"$share/group", MQ_OK, MQ_ERR_TOPIC},
    {"$share/", MQ_OK, MQ_ERR_TOPIC},
    {"$share//a", MQ_OK, MQ_ERR_TOPIC},
    {"$share/+/a", MQ_ERR_TOPIC, MQ_ERR_TOPIC},
    {"$share/#/a", MQ_ERR_TOPIC, MQ_ERR_TOPIC},
    {"$share/g+/a", MQ_ERR_TOPIC, MQ_ERR_TOPIC},
    {"$share/g/a#", MQ_ERR_TOPIC, MQ_ERR_TOPIC},
    {"$share/g/a/", MQ_OK, MQ_OK},
    {"$share", MQ_OK, MQ_OK},
    {"$shared/g/a", MQ_OK, MQ_OK},
};

Test(topic, validation_table)
{
    for (size_t i = 0; i < sizeof tcases / sizeof tcases[0]; i++) {
        const struct tcase *c = &tcases[i];
        cr_expect_eq(mq_topic_check(c->s), c->topic_rc,
                     "mq_topic_check(\"%s\") = %d, want %d", c->s,
                     mq_topic_check(c->s), c->topic_rc);
        cr_expect_eq(mq_filter_check(c->s), c->filter_rc,
                     "mq_filter_check(\"%s\") = %d, want %d", c->s,
                     mq_filter_check(c->s), c->filter_rc);
        /* The internal functions agree with the public ones. */
        size_t n = strlen(c->s);
        cr_expect_eq(mqi_topic_check((const uint8_t *)c->s, n), c->topic_rc);
        cr_expect_eq(mqi_filter_check((const uint8_t *)c->s, n),
                     c->filter_rc);
    }
}

Test(topic, null_arguments)
{
    cr_expect_eq(mq_topic_check(NULL), MQ_ERR_INVAL);
    cr_expect_eq(mq_filter_check(NULL), MQ_ERR_INVAL);
    cr_expect_eq(mq_topic_matches(NULL, "a"), 0);
    cr_expect_eq(mq_topic_matches("a", NULL), 0);
    cr_expect_eq(mq_topic_matches(NULL, NULL), 0);
    cr_expect_eq(mqi_topic_check(NULL, 3), MQ_ERR_TOPIC);
    cr_expect_eq(mqi_filter_check(NULL, 3), MQ_ERR_TOPIC);
}

Test(topic, embedded_nul_internal)
{
    /* Through the length-based interface a NUL is bad UTF-8. */
    cr_expect_eq(mqi_topic_check((const uint8_t *)"a\0b", 3), MQ_ERR_UTF8);
    cr_expect_eq(mqi_filter_check((const uint8_t *)"a\0b", 3), MQ_ERR_UTF8);
}

Test(topic, length_65535_vs_65536)
{
    char *s = malloc(65537 + 2);
    cr_assert_not_null(s);

    memset(s, 'a', 65535);
    s[65535] = '\0';
    cr_expect_eq(mq_topic_check(s), MQ_OK);
    cr_expect_eq(mq_filter_check(s), MQ_OK);
    cr_expect_eq(mq_topic_matches(s, s), 1);
    cr_expect_eq(mqi_topic_check((uint8_t *)s, 65535), MQ_OK);

    /* 65533 bytes + "/#" = 65535: a valid filter. */
    s[65533] = '/';
    s[65534] = '#';
    cr_expect_eq(mq_filter_check(s), MQ_OK);
    cr_expect_eq(mq_topic_check(s), MQ_ERR_TOPIC);

    memset(s, 'a', 65536);
    s[65536] = '\0';
    cr_expect_eq(mq_topic_check(s), MQ_ERR_TOPIC);
    cr_expect_eq(mq_filter_check(s), MQ_ERR_TOPIC);
    cr_expect_eq(mq_topic_matches("#", s), 0);
    cr_expect_eq(mqi_topic_check((uint8_t *)s, 65536), MQ_ERR_TOPIC);
    cr_expect_eq(mqi_filter_check((uint8_t *)s, 65536), MQ_ERR_TOPIC);

    /* Multi-byte characters: 65535 bytes of valid UTF-8 pass. */
    for (size_t i = 0; i + 3 <= 65535; i += 3)
        memcpy(s + i, "\xe2\x82\xac", 3);
    s[65535] = '\0';
    cr_expect_eq(mq_topic_check(s), MQ_OK);
    free(s);
}

/* ---- matching ------------------------------------------------------- */

struct mcase {
    const char *filter;
    const char *topic;
    int match;
};

static const struct mcase mcases[] = {
    /* MQTT 5 §4.7.1.2 multi-level wildcard examples */
    {"sport/tennis/player1/#", "sport/tennis/player1", 1},
    {"sport/tennis/player1/#", "sport/tennis/player1/ranking", 1},
    {"sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", 1},
    {"sport/tennis/player1/#", "sport/tennis/player2", 0},
    {"sport/tennis/player1/#", "sport/tennis", 0},
    {"sport/#", "sport", 1},
    {"sport/#", "sport/", 1},
    {"sport/tennis/#", "sport/tennisplayer1", 0},
    {"#", "sport", 1},
    {"#", "/", 1},
    {"#", "a/b/c", 1},
    /* §4.7.1.3 single-level wildcard examples */
    {"sport/tennis/+", "sport/tennis/player1", 1},
    {"sport/tennis/+", "sport/tennis/player2", 1},
    {"sport/tennis/+", "sport/tennis/player1/ranking", 0},
    {"sport/+", "sport", 0},
    {"sport/+", "sport/", 1},
    {"+", "sport", 1},
    {"+", "sport/", 0},
    {"+", "/", 0},
    {"+/+", "/finance", 1},
    {"/+", "/finance", 1},
    {"+", "/finance", 0},
    {"+/tennis/#", "sport/tennis", 1},
    {"+/tennis/#", "sport/tennis/x/y", 1},
    {"+/tennis/#", "sport/golf", 0},
    {"sport/+/player1", "sport/tennis/player1", 1},
    {"sport/+/player1", "sport//player1", 1},
    {"+/+/+", "a/b", 0},
    {"a/+/#", "a/", 1},
    {"a/+/#", "a", 0},
    {"a/b/+/#", "a/b", 0},
    /* literal levels */
    {"a/b", "a/b", 1},
    {"a/b", "a/b/", 0},
    {"a/b/", "a/b/", 1},
    {"a/b", "a/bc", 0},
    {"a/bc", "a/b", 0},
    {"a/b", "a", 0},
    {"/", "/", 1},
    {"/", "", 0},
    {"a//b", "a//b", 1},
    {"A/b", "a/b", 0},
    {"caf\xc3\xa9/+", "caf\xc3\xa9/x", 1},
    /* §4.7.2 topics beginning with $ */
    {"#", "$SYS/monitor/Clients", 0},
    {"+/monitor/Clients", "$SYS/monitor/Clients", 0},
    {"$SYS/#", "$SYS/monitor/Clients", 1},
    {"$SYS/monitor/+", "$SYS/monitor/Clients", 1},
    {"$SYS/#", "$SYS", 1},
    {"+", "$SYS", 0},
    {"a/+", "a/$b", 1},
    {"a/#", "a/$b", 1},
    /* shared subscriptions match on their filter part */
    {"$share/g/sport/#", "sport/tennis", 1},
    {"$share/g/sport/+", "sport/tennis", 1},
    {"$share/g/sport/+", "golf/tennis", 0},
    {"$share/g/#", "$SYS/x", 0},
    {"$share/g/$SYS/#", "$SYS/x", 1},
    {"$share/g/a", "$share/g/a", 0},
    {"$share/g/a", "a", 1},
    /* invalid inputs never match through the public API */
    {"sport/tennis#", "sport/tennis#", 0},
    {"a", "a/+", 0},
    {"", "", 0},
    {"#", "", 0},
    {"$share/g", "g", 0},
};

Test(topic, match_table)
{
    for (size_t i = 0; i < sizeof mcases / sizeof mcases[0]; i++) {
        const struct mcase *c = &mcases[i];
        cr_expect_eq(mq_topic_matches(c->filter, c->topic), c->match,
                     "filter \"%s\" topic \"%s\": want %d", c->filter,
                     c->topic, c->match);
    }
}

Test(topic, match_internal_lengths)
{
    /* The internal matcher honours lengths, not NUL terminators. */
    const char *f = "a/+/c/#XXXX";
    const char *t = "a/b/c/dYYYY";
    cr_expect(mqi_topic_match((const uint8_t *)f, 7, (const uint8_t *)t, 7));
    cr_expect(mqi_topic_match((const uint8_t *)f, 7, (const uint8_t *)t, 5));
    cr_expect(!mqi_topic_match((const uint8_t *)f, 3, (const uint8_t *)t, 5));
    cr_expect(mqi_topic_match((const uint8_t *)f, 3, (const uint8_t *)t, 3));
    cr_expect(!mqi_topic_match((const uint8_t *)f, 0, (const uint8_t *)t, 1));
}

/* Naive reference matcher on level arrays (no $ rule; applied by caller). */
static bool ref_match_levels(const char **f, size_t nf, const char **t,
                             size_t nt)
{
    if (nf == 0)
        return nt == 0;
    if (strcmp(f[0], "#") == 0)
        return true; /* valid filters have '#' last only */
    if (nt == 0)
        return false;
    if (strcmp(f[0], "+") != 0 && strcmp(f[0], t[0]) != 0)
        return false;
    return ref_match_levels(f + 1, nf - 1, t + 1, nt - 1);
}

/* Join levels with '/'. */
static void join_levels(const char **lv, size_t n, char *out)
{
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            strcat(out, "/");
        strcat(out, lv[i]);
    }
}

Test(topic, match_exhaustive_vs_reference)
{
    static const char *tlv[] = {"a", "b", "", "$x"};
    static const char *flv[] = {"a", "b", "", "$x", "+", "#"};
    enum { NT = 4, NF = 6, MAXL = 4 };
    const char *f[MAXL], *t[MAXL];
    char fs[64], ts[64];
    unsigned long checked = 0;

    for (size_t nf = 1; nf <= MAXL; nf++) {
        size_t fcomb = 1;
        for (size_t i = 0; i < nf; i++)
            fcomb *= NF;
        for (size_t fc = 0; fc < fcomb; fc++) {
            size_t v = fc;
            bool ok = true;
            for (size_t i = 0; i < nf; i++, v /= NF) {
                f[i] = flv[v % NF];
                if (strcmp(f[i], "#") == 0 && i + 1 != nf)
                    ok = false;
            }
            if (!ok)
                continue;
            join_levels(f, nf, fs);
            if (fs[0] == '\0')
                continue; /* empty filter is invalid */
            cr_assert_eq(mq_filter_check(fs), MQ_OK, "filter \"%s\"", fs);
            for (size_t nt = 1; nt <= MAXL; nt++) {
                size_t tcomb = 1;
                for (size_t i = 0; i < nt; i++)
                    tcomb *= NT;
                for (size_t tc = 0; tc < tcomb; tc++) {
                    size_t w = tc;
                    for (size_t i = 0; i < nt; i++, w /= NT)
                        t[i] = tlv[w % NT];
                    join_levels(t, nt, ts);
                    if (ts[0] == '\0')
                        continue; /* empty topic name is invalid */
                    bool want = ref_match_levels(f, nf, t, nt);
                    if (ts[0] == '$' && (fs[0] == '+' || fs[0] == '#'))
                        want = false;
                    if (mq_topic_matches(fs, ts) != (want ? 1 : 0))
                        cr_assert_fail("filter \"%s\" topic \"%s\": want %d",
                                       fs, ts, want);
                    checked++;
                }
            }
        }
    }
    cr_expect_gt(checked, 100000);
}
