/* The worker's timer heap (theap.c): order, moving an armed timer earlier
 * and later, removal from any position, against a brute-force model. */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "mq.h"
#include "theap.h"

#define N 500

static mqi_theap_node *
model_min(mqi_theap_node *nodes, int n)
{
    mqi_theap_node *best = NULL;
    int i;

    for (i = 0; i < n; i++)
        if (nodes[i].idx != 0 && (best == NULL || nodes[i].when < best->when))
            best = &nodes[i];
    return best;
}

Test(theap, pops_in_deadline_order)
{
    mqi_theap h = {0};
    mqi_theap_node nodes[N] = {{0}};
    int64_t last = -1;
    int i;

    cr_assert_eq(mqi_theap_reserve(&h, N), MQ_OK);
    srand(1);
    for (i = 0; i < N; i++)
        cr_assert_eq(mqi_theap_set(&h, &nodes[i], rand() % 1000), MQ_OK);
    for (i = 0; i < N; i++) {
        mqi_theap_node *x = mqi_theap_pop_due(&h, 1000);
        cr_assert_not_null(x);
        cr_assert_eq(x->idx, 0);
        cr_assert_geq(x->when, last);
        last = x->when;
    }
    cr_assert_null(mqi_theap_top(&h));
    mqi_theap_free(&h);
}

Test(theap, only_due_timers_pop)
{
    mqi_theap h = {0};
    mqi_theap_node a = {0}, b = {0};

    cr_assert_eq(mqi_theap_reserve(&h, 2), MQ_OK);
    cr_assert_eq(mqi_theap_set(&h, &a, 100), MQ_OK);
    cr_assert_eq(mqi_theap_set(&h, &b, 50), MQ_OK);
    cr_assert_null(mqi_theap_pop_due(&h, 49));
    cr_assert_eq(mqi_theap_pop_due(&h, 50), &b);
    cr_assert_null(mqi_theap_pop_due(&h, 99));
    cr_assert_eq(mqi_theap_pop_due(&h, 1000), &a);
    mqi_theap_remove(&h, &a); /* not armed: nothing */
    cr_assert_null(mqi_theap_top(&h));
    mqi_theap_free(&h);
}

Test(theap, random_set_move_remove_match_a_model)
{
    mqi_theap h = {0};
    mqi_theap_node nodes[N] = {{0}};
    int step;

    cr_assert_eq(mqi_theap_reserve(&h, N), MQ_OK);
    srand(2);
    for (step = 0; step < 20000; step++) {
        mqi_theap_node *x = &nodes[rand() % N];
        int op = rand() % 4;
        if (op < 2)
            cr_assert_eq(mqi_theap_set(&h, x, rand() % 100000), MQ_OK);
        else if (op == 2)
            mqi_theap_remove(&h, x);
        else {
            mqi_theap_node *want = model_min(nodes, N);
            mqi_theap_node *got = mqi_theap_top(&h);
            if (want == NULL)
                cr_assert_null(got);
            else
                cr_assert_eq(got->when, want->when, "step %d", step);
        }
    }
    while (mqi_theap_top(&h) != NULL) {
        mqi_theap_node *want = model_min(nodes, N);
        mqi_theap_node *got = mqi_theap_pop_due(&h, INT64_MAX);
        cr_assert_eq(got->when, want->when);
    }
    mqi_theap_free(&h);
}
