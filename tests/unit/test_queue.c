/*
 * test_queue.c - unit tests for the lock-free MPSC queue (queue.c):
 * single-thread FIFO behaviour, the half-done push case, and the
 * multi-producer stress shared with stress_queue.c.
 *
 * Threading: Criterion runs each test in its own process; the stress test
 * starts its own producer and consumer threads.
 */
#include <criterion/criterion.h>
#include <stddef.h>
#include <stdint.h>

#include "queue.h"

/* Reuse the stress program's body without its main(). */
#define MQI_STRESS_NO_MAIN
#include "stress_queue.c"

struct item {
    int value;
    mqi_qnode link;
};

static int pop_value(mqi_mpsc *q)
{
    mqi_qnode *n = mqi_mpsc_pop(q);
    if (n == NULL)
        return -1;
    return MQI_CONTAINER_OF(n, struct item, link)->value;
}

Test(queue, empty_after_init)
{
    mqi_mpsc q;
    mqi_mpsc_init(&q);
    cr_expect(mqi_mpsc_empty(&q));
    cr_expect_null(mqi_mpsc_pop(&q));
    cr_expect_null(mqi_mpsc_pop(&q));
    cr_expect(mqi_mpsc_empty(&q));
}

Test(queue, single_node)
{
    mqi_mpsc q;
    struct item a = {.value = 7};
    mqi_mpsc_init(&q);
    mqi_mpsc_push(&q, &a.link);
    cr_expect(!mqi_mpsc_empty(&q));
    cr_expect_eq(pop_value(&q), 7);
    cr_expect(mqi_mpsc_empty(&q));
    cr_expect_null(mqi_mpsc_pop(&q));
    /* The same node can be pushed again after it was popped. */
    mqi_mpsc_push(&q, &a.link);
    cr_expect_eq(pop_value(&q), 7);
    cr_expect_null(mqi_mpsc_pop(&q));
}

Test(queue, fifo)
{
    enum { N = 1000 };
    static struct item items[N];
    mqi_mpsc q;
    mqi_mpsc_init(&q);
    for (int i = 0; i < N; i++) {
        items[i].value = i;
        mqi_mpsc_push(&q, &items[i].link);
    }
    for (int i = 0; i < N; i++)
        cr_assert_eq(pop_value(&q), i);
    cr_expect_null(mqi_mpsc_pop(&q));
    cr_expect(mqi_mpsc_empty(&q));
}

Test(queue, interleaved_push_pop)
{
    /* Drain to empty and refill many times so the stub goes round and
     * round; order must hold throughout. */
    enum { N = 64 };
    static struct item items[N];
    mqi_mpsc q;
    int next_in = 0, next_out = 0;
    mqi_mpsc_init(&q);
    for (int round = 0; round < 200; round++) {
        int burst = 1 + round % 7;
        for (int k = 0; k < burst; k++) {
            struct item *it = &items[next_in % N];
            it->value = next_in++;
            mqi_mpsc_push(&q, &it->link);
        }
        int take = (round % 3 == 0) ? burst + 100 : burst / 2;
        for (int k = 0; k < take && next_out < next_in; k++)
            cr_assert_eq(pop_value(&q), next_out++);
        if (next_out == next_in) {
            cr_assert_null(mqi_mpsc_pop(&q));
            cr_assert(mqi_mpsc_empty(&q));
        } else {
            cr_assert(!mqi_mpsc_empty(&q));
        }
    }
    while (next_out < next_in)
        cr_assert_eq(pop_value(&q), next_out++);
    cr_expect_null(mqi_mpsc_pop(&q));
}

/* Do only the first half of a push (the head exchange), as a producer
 * preempted between its two steps would; returns the previous head. */
static mqi_qnode *half_push(mqi_mpsc *q, mqi_qnode *n)
{
    atomic_store(&n->next, NULL);
    return atomic_exchange(&q->head, n);
}

Test(queue, half_done_push_on_empty)
{
    mqi_mpsc q;
    struct item a = {.value = 1};
    mqi_mpsc_init(&q);
    mqi_qnode *prev = half_push(&q, &a.link);
    cr_expect_null(mqi_mpsc_pop(&q));
    cr_expect(!mqi_mpsc_empty(&q), "a half-done push counts as queued");
    atomic_store(&prev->next, &a.link); /* second half */
    cr_expect_eq(pop_value(&q), 1);
    cr_expect_null(mqi_mpsc_pop(&q));
    cr_expect(mqi_mpsc_empty(&q));
}

Test(queue, half_done_push_behind_node)
{
    mqi_mpsc q;
    struct item a = {.value = 1}, b = {.value = 2}, c = {.value = 3};
    mqi_mpsc_init(&q);
    mqi_mpsc_push(&q, &a.link);
    mqi_qnode *prev = half_push(&q, &b.link);
    /* a is linked but is not the head: pop must wait for b's link. */
    cr_expect_null(mqi_mpsc_pop(&q));
    cr_expect(!mqi_mpsc_empty(&q));
    atomic_store(&prev->next, &b.link);
    mqi_mpsc_push(&q, &c.link);
    cr_expect_eq(pop_value(&q), 1);
    cr_expect_eq(pop_value(&q), 2);
    cr_expect_eq(pop_value(&q), 3);
    cr_expect_null(mqi_mpsc_pop(&q));
}

Test(queue, stress_4_producers, .timeout = 100)
{
    char why[256] = "";
    unsigned long nulls = 0;
    int rc = mqi_stress_run(why, sizeof why, &nulls);
    cr_assert_eq(rc, 0, "stress failed: %s", why);
}
