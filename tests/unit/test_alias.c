/*
 * test_alias.c - unit tests for the outbound topic alias table (alias.c):
 * automatic mode against a reference LRU model (the broker's view must
 * always match), explicit mode, bounds.
 *
 * Threading: Criterion runs each test in its own process.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alias.h"

static uint16_t
aut(mqi_alias_out *t, const char *topic, bool may_add, bool *omit)
{
    return mqi_alias_auto(t, topic, strlen(topic), may_add, omit);
}

Test(alias, auto_first_come_then_least_recently_used)
{
    mqi_alias_out *t = mqi_alias_out_new(2);
    bool omit;

    cr_assert_eq(mqi_alias_out_max(t), 2);
    cr_assert_eq(aut(t, "a", true, &omit), 1);
    cr_assert(!omit);
    cr_assert_eq(aut(t, "b", true, &omit), 2);
    cr_assert(!omit);
    cr_assert_eq(aut(t, "a", true, &omit), 1);
    cr_assert(omit);
    /* full: "b" is the least recently used, "c" takes its alias */
    cr_assert_eq(aut(t, "c", true, &omit), 2);
    cr_assert(!omit);
    cr_assert_eq(aut(t, "b", false, &omit), 0, "b was re-mapped");
    cr_assert(!omit);
    cr_assert_eq(aut(t, "c", false, &omit), 2);
    cr_assert(omit);
    /* may_add false never maps */
    cr_assert_eq(aut(t, "d", false, &omit), 0);
    cr_assert_eq(aut(t, "a", true, &omit), 1);
    cr_assert(omit);
    mqi_alias_out_free(t);
}

Test(alias, explicit_map_and_remap)
{
    mqi_alias_out *t = mqi_alias_out_new(3);

    cr_assert(!mqi_alias_stands_for(t, 1, "x", 1));
    mqi_alias_map(t, 1, "x", 1);
    cr_assert(mqi_alias_stands_for(t, 1, "x", 1));
    cr_assert(!mqi_alias_stands_for(t, 1, "y", 1));
    cr_assert(!mqi_alias_stands_for(t, 2, "x", 1));
    mqi_alias_map(t, 1, "y", 1);
    cr_assert(mqi_alias_stands_for(t, 1, "y", 1));
    cr_assert(!mqi_alias_stands_for(t, 1, "x", 1));
    /* out of range: nothing */
    mqi_alias_map(t, 0, "z", 1);
    mqi_alias_map(t, 4, "z", 1);
    cr_assert(!mqi_alias_stands_for(t, 0, "z", 1));
    cr_assert(!mqi_alias_stands_for(t, 4, "z", 1));
    /* a prefix is another topic */
    mqi_alias_map(t, 3, "ab", 2);
    cr_assert(!mqi_alias_stands_for(t, 3, "a", 1));
    mqi_alias_out_free(t);
    cr_assert_null(mqi_alias_out_new(0));
}

/* Random traffic over many topics: what the broker would hold (alias ->
 * topic, updated by every PUBLISH that carries a topic) must resolve
 * every PUBLISH to the topic that was published; aliases stay in range;
 * the recency order matches a reference LRU. */
Test(alias, auto_matches_a_reference_lru)
{
    enum { MAX = 64, TOPICS = 300, OPS = 200000 };
    static char broker[MAX + 1][32];
    static char topics[TOPICS][32];
    static int ref_lru[MAX];  /* topic index per position, 0 = newest */
    int ref_n = 0;
    mqi_alias_out *t = mqi_alias_out_new(MAX);
    unsigned seed = 7;

    for (int i = 0; i < TOPICS; i++)
        snprintf(topics[i], sizeof topics[i], "dev/%d/temp", i * 7919);
    for (int op = 0; op < OPS; op++) {
        /* skewed choice: a few hot topics and a long tail */
        seed = seed * 1103515245u + 12345u;
        int k = (seed >> 8) % 4 ? (int)((seed >> 12) % 40)
                                : (int)((seed >> 12) % TOPICS);
        bool may_add = ((seed >> 20) % 16) != 0, omit;
        uint16_t a = aut(t, topics[k], may_add, &omit);
        int pos = -1;

        for (int i = 0; i < ref_n; i++)
            if (ref_lru[i] == k)
                pos = i;
        cr_assert_leq(a, MAX);
        if (a == 0) {
            cr_assert_eq(pos, -1, "a known topic without its alias");
            cr_assert(!may_add);
            continue;
        }
        if (omit) {
            cr_assert_neq(pos, -1, "topic left out for an unknown mapping");
            cr_assert_str_eq(broker[a], topics[k], "op %d", op);
        } else {
            cr_assert_eq(pos, -1, "topic sent again although known");
            snprintf(broker[a], sizeof broker[a], "%s", topics[k]);
        }
        /* reference LRU: move to front, evict the last when full */
        if (pos == -1) {
            pos = ref_n < MAX ? ref_n++ : MAX - 1;
        }
        memmove(ref_lru + 1, ref_lru, (size_t)pos * sizeof ref_lru[0]);
        ref_lru[0] = k;
    }
    mqi_alias_out_free(t);
}
