/*
 * stress_queue.c - multi-threaded stress test of the MPSC queue (queue.c):
 * STRESS_PRODUCERS threads push STRESS_PER_PRODUCER numbered nodes each,
 * one consumer thread pops them all and checks that every producer's
 * sequence arrives complete, in order and without duplicates.
 *
 * Threading: producers push concurrently; only the consumer thread pops.
 *
 * A plain main() (no Criterion) so it can run under ThreadSanitizer, which
 * Criterion does not survive. Exit code 0 on success, 1 on failure.
 * test_queue.c includes this file with MQI_STRESS_NO_MAIN defined to reuse
 * mqi_stress_run() as a Criterion test.
 *
 * Build by hand, e.g. with TSan, from the repository root:
 *   cc -std=c11 -D_GNU_SOURCE -O1 -g -fsanitize=thread -pthread \
 *      -Ilibmq/include -Ilibmq/src tests/unit/stress_queue.c \
 *      libmq/src/queue.c -o /tmp/stress_queue && /tmp/stress_queue
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stddef.h> /* offsetof, used by MQI_CONTAINER_OF; queue.h lacks it */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "queue.h"

#define STRESS_PRODUCERS 4
#define STRESS_PER_PRODUCER 200000u
#define STRESS_DEADLINE_S 60  /* consumer gives up after this long */

struct stress_node {
    mqi_qnode link;
    uint32_t producer;
    uint32_t seq;
};

struct stress_ctx {
    mqi_mpsc q;
    pthread_barrier_t start;
    struct stress_node *nodes[STRESS_PRODUCERS];
    /* consumer results, read by the main thread after join */
    int failed;
    char why[200];
    unsigned long null_pops; /* pops that returned NULL before the end */
};

struct producer_arg {
    struct stress_ctx *ctx;
    uint32_t id;
};

static void *stress_producer(void *p)
{
    struct producer_arg *a = p;
    struct stress_node *nodes = a->ctx->nodes[a->id];

    pthread_barrier_wait(&a->ctx->start);
    for (uint32_t i = 0; i < STRESS_PER_PRODUCER; i++) {
        nodes[i].producer = a->id;
        nodes[i].seq = i;
        mqi_mpsc_push(&a->ctx->q, &nodes[i].link);
        if ((i & 1023u) == 0)
            sched_yield(); /* vary the interleaving a little */
    }
    return NULL;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *stress_consumer(void *p)
{
    struct stress_ctx *ctx = p;
    uint32_t expect[STRESS_PRODUCERS] = {0};
    uint64_t total = (uint64_t)STRESS_PRODUCERS * STRESS_PER_PRODUCER;
    uint64_t got = 0;
    double deadline = now_s() + STRESS_DEADLINE_S;

    pthread_barrier_wait(&ctx->start);
    while (got < total) {
        mqi_qnode *qn = mqi_mpsc_pop(&ctx->q);
        if (qn == NULL) {
            ctx->null_pops++;
            if ((ctx->null_pops & 4095u) == 0 && now_s() > deadline) {
                snprintf(ctx->why, sizeof ctx->why,
                         "timed out after %llu of %llu nodes",
                         (unsigned long long)got, (unsigned long long)total);
                ctx->failed = 1;
                return NULL;
            }
            sched_yield();
            continue;
        }
        struct stress_node *n = MQI_CONTAINER_OF(qn, struct stress_node, link);
        if (n->producer >= STRESS_PRODUCERS) {
            snprintf(ctx->why, sizeof ctx->why, "bad producer id %u",
                     (unsigned)n->producer);
            ctx->failed = 1;
            return NULL;
        }
        if (n->seq != expect[n->producer]) {
            snprintf(ctx->why, sizeof ctx->why,
                     "producer %u: got seq %u, expected %u (lost, "
                     "duplicated or reordered)",
                     (unsigned)n->producer, (unsigned)n->seq,
                     (unsigned)expect[n->producer]);
            ctx->failed = 1;
            return NULL;
        }
        expect[n->producer]++;
        got++;
    }
    /* Everything was taken: the queue must now be empty. */
    if (mqi_mpsc_pop(&ctx->q) != NULL) {
        snprintf(ctx->why, sizeof ctx->why, "extra node after the last one");
        ctx->failed = 1;
    } else if (!mqi_mpsc_empty(&ctx->q)) {
        snprintf(ctx->why, sizeof ctx->why, "queue not empty at the end");
        ctx->failed = 1;
    }
    return NULL;
}

/* Run the stress once. Returns 0 on success, else 1 with a reason in
 * @p why (size @p whylen). */
static int mqi_stress_run(char *why, size_t whylen,
                          unsigned long *out_null_pops)
{
    struct stress_ctx *ctx = calloc(1, sizeof *ctx);
    struct producer_arg args[STRESS_PRODUCERS];
    pthread_t prod[STRESS_PRODUCERS], cons;
    int started = 0, rc = 1;
    int have_barrier = 0;

    if (ctx == NULL) {
        snprintf(why, whylen, "out of memory");
        return 1;
    }
    mqi_mpsc_init(&ctx->q);
    for (int i = 0; i < STRESS_PRODUCERS; i++) {
        ctx->nodes[i] = calloc(STRESS_PER_PRODUCER, sizeof(struct stress_node));
        if (ctx->nodes[i] == NULL) {
            snprintf(why, whylen, "out of memory");
            goto fail;
        }
    }
    if (pthread_barrier_init(&ctx->start, NULL, STRESS_PRODUCERS + 1) != 0) {
        snprintf(why, whylen, "pthread_barrier_init failed");
        goto fail;
    }
    have_barrier = 1;
    if (pthread_create(&cons, NULL, stress_consumer, ctx) != 0) {
        snprintf(why, whylen, "pthread_create failed");
        goto fail;
    }
    for (; started < STRESS_PRODUCERS; started++) {
        args[started].ctx = ctx;
        args[started].id = (uint32_t)started;
        if (pthread_create(&prod[started], NULL, stress_producer,
                           &args[started]) != 0) {
            /* Cannot recover: the barrier would never open. */
            snprintf(why, whylen, "pthread_create failed");
            abort();
        }
    }
    for (int i = 0; i < started; i++)
        pthread_join(prod[i], NULL);
    pthread_join(cons, NULL);
    if (ctx->failed) {
        snprintf(why, whylen, "%s", ctx->why);
        goto fail;
    }
    if (out_null_pops != NULL)
        *out_null_pops = ctx->null_pops;
    rc = 0;
fail:
    if (have_barrier)
        pthread_barrier_destroy(&ctx->start);
    for (int i = 0; i < STRESS_PRODUCERS; i++)
        free(ctx->nodes[i]);
    free(ctx);
    return rc;
}

#ifndef MQI_STRESS_NO_MAIN
int main(void)
{
    char why[256] = "";
    unsigned long nulls = 0;
    double t0 = now_s();
    int rc = mqi_stress_run(why, sizeof why, &nulls);
    double dt = now_s() - t0;

    if (rc != 0) {
        fprintf(stderr, "stress_queue: FAIL: %s\n", why);
        return 1;
    }
    printf("stress_queue: OK: %d producers x %u nodes in %.2f s "
           "(%lu empty/half-done pops)\n",
           STRESS_PRODUCERS, STRESS_PER_PRODUCER, dt, nulls);
    return 0;
}
#endif
