/*
 * test_events.c - unit tests for the per-client event queue (events.c):
 * the condition variable blocking takers sleep on is made by the first
 * waiting take, a blocked taker is woken by a post from another thread,
 * and without memory for that condition variable takers still wait (by
 * polling), still time out and still get every event; the client's
 * state_cond (mq_wait) is made the same way.
 *
 * Threading: Criterion runs each test in its own process; the wake tests
 * start one poster thread. malloc is interposed (glibc's __libc_malloc
 * underneath) so a test can make the cond's allocation fail; not under
 * ASan/TSan, which have their own malloc (that test is left out there).
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "internal.h"

#include "malloc_hook.h"

#ifndef MQT_NO_MALLOC_HOOK
extern void *__libc_malloc(size_t n);

/* While set, allocations of a condition variable's size fail. */
static atomic_bool g_fail_cond;

void *
malloc(size_t n)
{
    if (n == sizeof(pthread_cond_t) && atomic_load(&g_fail_cond))
        return NULL;
    return __libc_malloc(n);
}
#endif

static long
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct poster {
    mqi_events *q;
    int delay_ms;
};

static void *
post_later(void *arg)
{
    struct poster *p = arg;
    struct timespec d = {0, (long)p->delay_ms * 1000000L};
    nanosleep(&d, NULL);
    mqi_events_post(p->q, mqi_event_new(MQ_EVENT_LOG, 0));
    return NULL;
}

/* A blocking take (no timeout) in this thread, a post from another. */
static void
take_woken_by_post(mqi_events *q)
{
    struct poster p = {q, 50};
    pthread_t th;
    mq_event *ev;
    size_t left = 99;

    cr_assert_eq(pthread_create(&th, NULL, post_later, &p), 0);
    ev = mqi_events_take(q, -1, &left, NULL);
    cr_assert_not_null(ev);
    cr_assert_eq(ev->type, MQ_EVENT_LOG);
    cr_assert_eq(left, 0);
    mqi_event_forget(ev);
    pthread_join(th, NULL);
}

Test(events, no_cond_until_a_take_waits)
{
    mqi_events q;
    mq_event *ev;

    cr_assert_eq(mqi_events_init(&q), MQ_OK);
    cr_assert_null(q.cond);
    /* posting, taking without waiting and waking make none */
    mqi_events_post(&q, mqi_event_new(MQ_EVENT_LOG, 0));
    ev = mqi_events_take(&q, 0, NULL, NULL);
    cr_assert_not_null(ev);
    mqi_event_forget(ev);
    cr_assert_null(mqi_events_take(&q, 0, NULL, NULL));
    mqi_events_wake_all(&q);
    cr_assert_null(q.cond);
    /* a timed wait makes it and times out */
    long t0 = now_ms();
    cr_assert_null(mqi_events_take(&q, 30, NULL, NULL));
    cr_assert_geq(now_ms() - t0, 29);
    cr_assert_not_null(q.cond);
    take_woken_by_post(&q);
    mqi_events_destroy(&q);
}

Test(events, blocking_take_woken_by_post)
{
    mqi_events q;

    cr_assert_eq(mqi_events_init(&q), MQ_OK);
    take_woken_by_post(&q);
    mqi_events_destroy(&q);
}

#ifndef MQT_NO_MALLOC_HOOK
Test(events, no_memory_for_cond_takers_poll)
{
    mqi_events q;
    mq_event *ev;
    atomic_bool stop = false;

    cr_assert_eq(mqi_events_init(&q), MQ_OK);
    ev = mqi_event_new(MQ_EVENT_LOG, 0); /* before the failure starts */
    cr_assert_not_null(ev);
    atomic_store(&g_fail_cond, true);
    /* a timed wait still times out, roughly on time */
    long t0 = now_ms();
    cr_assert_null(mqi_events_take(&q, 40, NULL, NULL));
    long took = now_ms() - t0;
    cr_assert_geq(took, 39);
    cr_assert_lt(took, 2000);
    cr_assert_null(q.cond);
    /* a stop flag still ends a wait without a timeout */
    atomic_store(&stop, true);
    cr_assert_null(mqi_events_take(&q, -1, NULL, &stop));
    /* a blocked taker still gets the event another thread posts */
    mqi_event_forget(ev);
    take_woken_by_post(&q);
    cr_assert_null(q.cond);
    /* once memory is back the next wait makes the cond */
    atomic_store(&g_fail_cond, false);
    cr_assert_null(mqi_events_take(&q, 5, NULL, NULL));
    cr_assert_not_null(q.cond);
    mqi_events_destroy(&q);
}

/* The client's state_cond (mq_wait, mq_publish waiting for space) is made
 * the same way (clock.h's mqi_cond_lazy_wait): without memory for it a
 * wait still times out on time, and the next wait with memory makes it. */
Test(events, no_memory_for_state_cond_waits_poll)
{
    mq_client *c = mq_client_new("ev-state", MQ_PROTO_V311);
    int tok;
    long t0, took;

    cr_assert_not_null(c);
    cr_assert_null(c->state_cond);
    tok = mq_publish(c, "t", "x", 1, 1, 0); /* queued: not connected */
    cr_assert_gt(tok, 0);
    atomic_store(&g_fail_cond, true);
    t0 = now_ms();
    cr_assert_eq(mq_wait(c, tok, 40), MQ_ERR_TIMEOUT);
    took = now_ms() - t0;
    cr_assert_geq(took, 39);
    cr_assert_lt(took, 2000);
    cr_assert_null(c->state_cond);
    atomic_store(&g_fail_cond, false);
    cr_assert_eq(mq_wait(c, tok, 5), MQ_ERR_TIMEOUT);
    cr_assert_not_null(c->state_cond);
    mq_client_destroy(c);
}
#endif /* MQT_NO_MALLOC_HOOK */
