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

Test(alias, auto_least_recently_used_with_admission)
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
    /* full: "c" (published once) is not more frequent than "b", the
     * least recently used: no alias for it, "b" keeps its own */
    cr_assert_eq(aut(t, "c", true, &omit), 0);
    cr_assert(!omit);
    cr_assert_eq(aut(t, "b", true, &omit), 2);
    cr_assert(omit);
    /* "c" published more often than "a" (now the least recently used,
     * published twice): it takes alias 1 */
    cr_assert_eq(aut(t, "c", true, &omit), 0);
    cr_assert_eq(aut(t, "c", true, &omit), 1);
    cr_assert(!omit);
    cr_assert_eq(aut(t, "a", false, &omit), 0, "a was re-mapped");
    cr_assert(!omit);
    cr_assert_eq(aut(t, "c", false, &omit), 1);
    cr_assert(omit);
    /* may_add false never maps */
    cr_assert_eq(aut(t, "d", false, &omit), 0);
    mqi_alias_out_free(t);
}

/* Topics cycling over more than the table: plain LRU would re-map on
 * every publish; admission keeps about max of them aliased. */
Test(alias, cycling_topics_keep_their_aliases)
{
    mqi_alias_out *t = mqi_alias_out_new(10);
    char topic[32];
    int hits = 0;
    bool omit;

    for (int op = 0; op < 20000; op++) {
        snprintf(topic, sizeof topic, "cycle/%d", op % 20);
        aut(t, topic, true, &omit);
        if (op >= 10000)
            hits += omit;
    }
    cr_assert_geq(hits, 4500, "%d of 10000 publishes hit", hits);
    mqi_alias_out_free(t);
}

/* The working set moves: the new topics win the aliases soon. */
Test(alias, a_new_working_set_takes_over)
{
    mqi_alias_out *t = mqi_alias_out_new(8);
    char topic[32];
    int hits = 0;
    bool omit;

    for (int op = 0; op < 4000; op++) {
        snprintf(topic, sizeof topic, "old/%d", op % 8);
        aut(t, topic, true, &omit);
    }
    for (int op = 0; op < 4000; op++) {
        snprintf(topic, sizeof topic, "new/%d", op % 8);
        aut(t, topic, true, &omit);
        if (op >= 2000)
            hits += omit;
    }
    cr_assert_eq(hits, 2000, "%d of 2000 publishes hit", hits);
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
 * topic, updated by every PUBLISH that carries a topic and an alias) must
 * resolve every PUBLISH sent without its topic; a topic is never sent
 * again while the broker knows it, never held by two aliases, and one
 * sent without alias is not known; aliases stay in range. */
Test(alias, auto_keeps_the_brokers_view_right)
{
    enum { MAX = 64, TOPICS = 300, OPS = 200000 };
    static char broker[MAX + 1][32];
    static char topics[TOPICS][32];
    mqi_alias_out *t = mqi_alias_out_new(MAX);
    unsigned seed = 7;
    long hits = 0;

    for (int i = 0; i < TOPICS; i++)
        snprintf(topics[i], sizeof topics[i], "dev/%d/temp", i * 7919);
    for (int op = 0; op < OPS; op++) {
        /* skewed choice: a few hot topics and a long tail */
        seed = seed * 1103515245u + 12345u;
        int k = (seed >> 8) % 4 ? (int)((seed >> 12) % 40)
                                : (int)((seed >> 12) % TOPICS);
        bool may_add = ((seed >> 20) % 16) != 0, omit;
        uint16_t a = aut(t, topics[k], may_add, &omit);
        int known = 0;

        for (int i = 1; i <= MAX; i++)
            if (strcmp(broker[i], topics[k]) == 0)
                known = i;
        cr_assert_leq(a, MAX);
        if (omit) {
            cr_assert_neq(a, 0);
            cr_assert_str_eq(broker[a], topics[k], "op %d", op);
            hits++;
        } else {
            cr_assert_eq(known, 0, "op %d: topic sent again while alias %d "
                         "stands for it", op, known);
            if (a != 0)
                snprintf(broker[a], sizeof broker[a], "%s", topics[k]);
        }
    }
    /* the hot 40 topics fit in 64 aliases: most publishes hit */
    cr_assert_gt(hits, OPS / 2, "%ld hits", hits);
    mqi_alias_out_free(t);
}
