/*
 * queue.h - lock-free intrusive multi-producer single-consumer queue
 * (Vyukov's algorithm, C11 atomics).
 *
 * Producers (any thread) call mqi_mpsc_push(); only the one consumer (the
 * worker) calls mqi_mpsc_pop(). Push is wait-free (one atomic exchange).
 * Pop may return NULL while a producer is between its two steps; that
 * producer's push is then completed shortly, and the caller must come back
 * (libmq's wake protocol guarantees the worker is woken again).
 *
 * Order: nodes pushed by one thread are popped in push order.
 */
#ifndef MQI_QUEUE_H
#define MQI_QUEUE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct mqi_qnode {
    _Atomic(struct mqi_qnode *) next;
} mqi_qnode;

typedef struct mqi_mpsc {
    _Atomic(mqi_qnode *) head; /* producers push here */
    mqi_qnode *tail;           /* consumer pops here */
    mqi_qnode stub;
} mqi_mpsc;

void mqi_mpsc_init(mqi_mpsc *q);
/* Push a node. Any thread. */
void mqi_mpsc_push(mqi_mpsc *q, mqi_qnode *n);
/* Pop the oldest node, or NULL if empty (or a push is half done).
 * Consumer thread only. */
mqi_qnode *mqi_mpsc_pop(mqi_mpsc *q);
/* True if nothing is queued (approximate while producers run). */
bool mqi_mpsc_empty(mqi_mpsc *q);

/* Recover the containing struct from a member pointer. */
#define MQI_CONTAINER_OF(ptr, type, member)                                \
    ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

#endif
