/*
 * wake.c - how any thread wakes a client's worker: the client goes on the
 * worker's ready list, and the worker's eventfd is written, each only when
 * needed. Used by the API (new commands) and resolver threads (a result).
 *
 * Threading: any thread; atomics and the lock-free ready list only.
 */
#include <errno.h>
#include <stdint.h>
#include <unistd.h>

#include "internal.h"
#include "worker.h"

void
mqi_worker_kick(mqi_worker *w)
{
    uint64_t one = 1;
    ssize_t n;

    do
        n = write(w->wake_fd, &one, sizeof one);
    while (n < 0 && errno == EINTR);
}

void
mqi_wake(mq_client *c)
{
    mqi_worker *w;

    /* counted while c->w is used: a hand-over to another worker waits
     * until no thread holds the old one (worker.c, private workers) */
    atomic_fetch_add(&c->wakers, 1);
    w = __atomic_load_n(&c->w, __ATOMIC_SEQ_CST);
    if (w == NULL) {
        atomic_fetch_sub(&c->wakers, 1);
        return; /* detached: mq_client_destroy is finishing */
    }
    /* Two levels of "only when needed": a client goes on the worker's
     * ready list once until the worker takes it, and the worker's one
     * eventfd is written once until the worker wakes. So a burst of
     * publishes costs a few atomic exchanges, and one descriptor serves
     * all clients. */
    if (atomic_exchange(&c->wake_pending, 1) == 0) {
        atomic_fetch_add(&c->refs, 1); /* held by the ready list */
        mqi_mpsc_push(&w->ready, &c->ready_node);
        if (atomic_exchange(&w->wake_pending, 1) == 0) {
            if (w == mqi_worker_current())
                mqi_worker_self_wake(w); /* no syscall: it looks itself */
            else
                mqi_worker_kick(w);
        }
    }
    atomic_fetch_sub(&c->wakers, 1);
}
