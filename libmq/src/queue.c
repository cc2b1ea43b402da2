/*
 * queue.c - lock-free intrusive multi-producer single-consumer queue
 * (Dmitry Vyukov's algorithm with a stub node, C11 atomics).
 *
 * Threading: mqi_mpsc_push() from any thread; mqi_mpsc_pop() and
 * mqi_mpsc_empty() only from the single consumer thread (both read the
 * consumer-owned tail); mqi_mpsc_init() before the queue is shared.
 *
 * Shape: nodes form a singly linked list from tail (oldest) to head
 * (newest). A producer swaps itself in as the new head, then links the
 * previous head to itself. Between those two steps the list is broken at
 * that point, and pop reports "empty" (NULL) until the link is stored.
 * The stub node keeps the list non-empty so that head is never NULL.
 */
#include "queue.h"

#include <stddef.h>

void
mqi_mpsc_init(mqi_mpsc *q)
{
    atomic_init(&q->stub.next, NULL);
    atomic_init(&q->head, &q->stub);
    q->tail = &q->stub;
}

void
mqi_mpsc_push(mqi_mpsc *q, mqi_qnode *n)
{
    atomic_store_explicit(&n->next, NULL, memory_order_relaxed);
    /* acq_rel: release publishes n's contents (and its next = NULL) to
     * whoever later links or pops it; acquire orders us after the previous
     * producer so prev->next below is written after prev's own init. */
    mqi_qnode *prev =
        atomic_exchange_explicit(&q->head, n, memory_order_acq_rel);
    /* The queue is broken between prev and n until this store. */
    atomic_store_explicit(&prev->next, n, memory_order_release);
}

mqi_qnode *
mqi_mpsc_pop(mqi_mpsc *q)
{
    mqi_qnode *tail = q->tail;
    mqi_qnode *next = atomic_load_explicit(&tail->next, memory_order_acquire);

    if (tail == &q->stub) {
        if (next == NULL)
            return NULL; /* empty, or the first push is half done */
        /* Skip the stub. */
        q->tail = next;
        tail = next;
        next = atomic_load_explicit(&next->next, memory_order_acquire);
    }
    if (next != NULL) {
        q->tail = next;
        return tail;
    }

    /* tail is the last linked node. If it is not also the head, a producer
     * has swapped head but not yet linked: come back later. */
    mqi_qnode *head = atomic_load_explicit(&q->head, memory_order_acquire);
    if (tail != head)
        return NULL;

    /* tail is the only node: put the stub behind it so it can be taken
     * without leaving the list empty. */
    mqi_mpsc_push(q, &q->stub);
    next = atomic_load_explicit(&tail->next, memory_order_acquire);
    if (next != NULL) {
        q->tail = next;
        return tail;
    }
    /* A producer got in between our head check and the stub push and has
     * not linked yet; tail is returned on a later call. */
    return NULL;
}

bool
mqi_mpsc_empty(mqi_mpsc *q)
{
    mqi_qnode *tail = q->tail;
    if (tail != &q->stub)
        return false; /* tail is a queued, not yet popped node */
    if (atomic_load_explicit(&tail->next, memory_order_acquire) != NULL)
        return false;
    /* Nothing linked after the stub; a half-done push still counts as
     * queued (head moved away from the stub). */
    return atomic_load_explicit(&q->head, memory_order_acquire) == &q->stub;
}
