/*
 * theap.h - the worker's timers: a binary min-heap of deadlines, one
 * intrusive node per client, so arming, moving, cancelling and popping a
 * timer cost O(log n) and finding the next one O(1) - no scan of all
 * clients per timer (issue 20: 100,000 idle connections on one worker).
 * Pure: no clock, no locks, no I/O; the worker passes the times.
 *
 * Threading: one heap belongs to one worker thread; not thread-safe.
 */
#ifndef MQI_THEAP_H
#define MQI_THEAP_H

#include <stddef.h>
#include <stdint.h>

#include "check.h"

typedef struct mqi_theap_node {
    int64_t when; /* deadline (ms on the worker's clock) */
    size_t idx;   /* 1-based position in the heap, 0: not armed */
} mqi_theap_node;

typedef struct mqi_theap {
    mqi_theap_node **v;
    size_t n, cap;
} mqi_theap;

/* Room for @p n armed nodes, so that arming never allocates (the worker
 * reserves one slot per client when it attaches). MQ_OK or
 * MQ_ERR_NOMEM. */
MQI_MUST_CHECK int mqi_theap_reserve(mqi_theap *h, size_t n);

/* Arm @p x at @p when, or move it there if armed. MQ_OK, or
 * MQ_ERR_NOMEM when arming needed room that could not be had (the worker
 * reserves a slot per client beforehand, so only if that failed too). */
MQI_MUST_CHECK int mqi_theap_set(mqi_theap *h, mqi_theap_node *x,
                                 int64_t when);

/* Disarm @p x (nothing if it is not armed). */
void mqi_theap_remove(mqi_theap *h, mqi_theap_node *x);

/* The earliest armed node, or NULL. */
static inline mqi_theap_node *
mqi_theap_top(const mqi_theap *h)
{
    return h->n > 0 ? h->v[0] : NULL;
}

/* The earliest node if due at @p now (when <= now), disarmed; else NULL. */
mqi_theap_node *mqi_theap_pop_due(mqi_theap *h, int64_t now);

void mqi_theap_free(mqi_theap *h);

#endif
