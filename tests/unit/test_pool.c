/*
 * test_pool.c - the process-wide cache of large blocks (libmq/src/pool.c):
 * reuse, size fit, bounds, idle trimming, and concurrent use.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define MiB ((size_t)1 << 20)

/* Each test starts and ends with an empty pool. */
static void setup(void) { mqi_big_trim(0, true); }
static void teardown(void) { mqi_big_trim(0, true); }

TestSuite(pool, .init = setup, .fini = teardown);

Test(pool, small_blocks_bypass)
{
    void *a = mqi_big_alloc(100), *b;
    cr_assert_not_null(a);
    mqi_big_free(a, 100);
    b = mqi_big_alloc(100);
    cr_assert_not_null(b);
    free(b); /* every block is a plain malloc block */
}

Test(pool, large_block_reused)
{
    uint8_t *a = mqi_big_alloc(MiB), *b;
    cr_assert_not_null(a);
    memset(a, 0xab, MiB);
    mqi_big_free(a, MiB);
    b = mqi_big_alloc(MiB - 100); /* fits, wastes little */
    cr_assert_eq(b, a, "a freed 1 MiB block serves the next 1 MiB request");
    mqi_big_free(b, MiB);
}

Test(pool, no_reuse_when_too_small_or_too_wasteful)
{
    void *a = mqi_big_alloc(MiB), *b, *c;
    mqi_big_free(a, MiB);
    b = mqi_big_alloc(2 * MiB); /* too small */
    cr_assert_neq(b, a);
    c = mqi_big_alloc(128 * 1024); /* would waste over half of it */
    cr_assert_neq(c, a);
    free(b);
    free(c);
}

Test(pool, hint_below_threshold_frees)
{
    void *a = mqi_big_alloc(MiB), *b;
    mqi_big_free(a, 10); /* caller says small: plain free */
    b = mqi_big_alloc(MiB);
    cr_assert_not_null(b);
    free(b);
}

Test(pool, bounded_and_trimmed)
{
    enum { N = 64 };
    void *p[N];
    int i;

    for (i = 0; i < N; i++)
        cr_assert_not_null(p[i] = mqi_big_alloc(MiB));
    for (i = 0; i < N; i++)
        mqi_big_free(p[i], MiB); /* most are freed: the pool is bounded */
    /* idle trim with a clock far ahead empties it */
    mqi_big_trim(mqi_now_ms() + 3600 * 1000, false);
    p[0] = mqi_big_alloc(MiB);
    cr_assert_not_null(p[0]);
    free(p[0]);
}

Test(pool, recent_blocks_survive_idle_trim)
{
    void *a = mqi_big_alloc(MiB), *b;
    mqi_big_free(a, MiB);
    mqi_big_trim(mqi_now_ms(), false);
    b = mqi_big_alloc(MiB);
    cr_assert_eq(b, a);
    free(b);
}

static void *
churn(void *arg)
{
    size_t sz = (size_t)(uintptr_t)arg;
    int i;

    for (i = 0; i < 2000; i++) {
        uint8_t *q = mqi_big_alloc(sz + (size_t)(i % 7) * 4096);
        if (q == NULL)
            return (void *)1;
        q[0] = (uint8_t)i;
        q[sz - 1] = (uint8_t)i;
        mqi_big_free(q, sz);
    }
    return NULL;
}

Test(pool, concurrent_alloc_free)
{
    pthread_t th[4];
    void *ret;
    int i;

    for (i = 0; i < 4; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, churn,
                                    (void *)(uintptr_t)((size_t)(i + 1) *
                                                        96 * 1024)),
                     0);
    for (i = 0; i < 4; i++) {
        pthread_join(th[i], &ret);
        cr_assert_null(ret);
    }
}

/* ---- small blocks ---- */

Test(pool, small_class_choice)
{
    int cls;
    void *a = mqi_block_alloc(100, &cls);
    cr_assert_not_null(a);
#if !defined(__SANITIZE_ADDRESS__)
    cr_assert_eq(cls, 1, "100 bytes: the 128-byte class");
#endif
    memset(a, 1, cls == 1 ? 128 : 100); /* the whole class is usable */
    mqi_block_free(a, cls, 100);
    a = mqi_block_alloc(129, &cls);
#if !defined(__SANITIZE_ADDRESS__)
    cr_assert_eq(cls, 2, "129 bytes: the 256-byte class");
#endif
    memset(a, 1, cls == 2 ? 256 : 129);
    mqi_block_free(a, cls, 129);
    a = mqi_block_alloc(1000, &cls);
#if !defined(__SANITIZE_ADDRESS__)
    cr_assert_eq(cls, 3);
#endif
    memset(a, 1, 1000);
    mqi_block_free(a, cls, 1000);
    a = mqi_block_alloc(5000, &cls); /* larger than every class */
    cr_assert_eq(cls, 0);
    memset(a, 1, 5000);
    mqi_block_free(a, cls, 5000);
}

/* an event without inline storage takes a 128-byte block (issue 20 item
 * 3); one with a short topic the 256-byte one */
Test(pool, events_use_the_128_byte_class)
{
    mq_event *ev = mqi_event_new(MQ_EVENT_CONNECT, 0);

    cr_assert_not_null(ev);
    cr_assert_leq(sizeof *ev, 128);
#if !defined(__SANITIZE_ADDRESS__)
    cr_assert_eq(ev->blk, 1);
#endif
    mq_event_free(ev);
    ev = mqi_event_new(MQ_EVENT_MESSAGE, 40);
    cr_assert_not_null(ev);
#if !defined(__SANITIZE_ADDRESS__)
    cr_assert_eq(ev->blk, 2);
#endif
    mq_event_free(ev);
}

/* past the classes and MQI_BIG_MIN, the same pair goes to the large-block
 * cache: a freed 1 MiB block serves the next one */
Test(pool, block_routes_large_sizes_to_the_cache)
{
    int cls;
    void *a = mqi_block_alloc(MiB, &cls), *b;

    cr_assert_not_null(a);
    cr_assert_eq(cls, 0);
    mqi_block_free(a, cls, MiB);
    b = mqi_block_alloc(MiB, &cls);
    cr_assert_eq(b, a);
    mqi_block_free(b, cls, MiB);
}

typedef struct xfer {
    void *blk[1000];
    int cls[1000];
} xfer;

static void *
free_all(void *arg)
{
    xfer *x = arg;
    int i;
    for (i = 0; i < 1000; i++)
        mqi_block_free(x->blk[i], x->cls[i], 200);
    return NULL;
}

/* allocated here, freed on another thread (as the worker does), then
 * reused here: blocks come back without the allocator */
Test(pool, small_blocks_cross_threads)
{
    static xfer x, y;
    pthread_t th;
    int i, reused = 0;

    for (i = 0; i < 1000; i++) {
        x.blk[i] = mqi_block_alloc(200, &x.cls[i]);
        cr_assert_not_null(x.blk[i]);
        memset(x.blk[i], i & 0xff, 200);
    }
    cr_assert_eq(pthread_create(&th, NULL, free_all, &x), 0);
    pthread_join(th, NULL);
    for (i = 0; i < 1000; i++) {
        int j;
        y.blk[i] = mqi_block_alloc(200, &y.cls[i]);
        for (j = 0; j < 1000; j++)
            if (y.blk[i] == x.blk[j]) {
                reused++;
                break;
            }
    }
    x = y;
#if !defined(__SANITIZE_ADDRESS__)
    cr_assert_eq(reused, 1000, "reused %d of 1000", reused);
#endif
    for (i = 0; i < 1000; i++)
        mqi_block_free(x.blk[i], x.cls[i], 200);
}

static void *
small_churn(void *arg)
{
    int i, k;
    void *held[64];
    int cls[64];

    (void)arg;
    for (i = 0; i < 20000; i++) {
        k = i % 64;
        if (i >= 64)
            mqi_block_free(held[k], cls[k], 0);
        held[k] = mqi_block_alloc((size_t)(16 + (i * 7) % 1000), &cls[k]);
        if (held[k] == NULL)
            return (void *)1;
        memset(held[k], 0x5a, 16);
    }
    for (k = 0; k < 64; k++)
        mqi_block_free(held[k], cls[k], 0);
    return NULL;
}

/* several threads allocating and freeing each other's blocks; each thread
 * gives its private list back when it ends */
Test(pool, small_blocks_concurrent)
{
    pthread_t th[4];
    void *ret;
    int i;

    for (i = 0; i < 4; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, small_churn, NULL), 0);
    for (i = 0; i < 4; i++) {
        pthread_join(th[i], &ret);
        cr_assert_null(ret);
    }
}
