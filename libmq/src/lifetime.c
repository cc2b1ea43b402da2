/*
 * lifetime.c - the end of a client's life: its reference count drops to
 * zero and everything it holds is freed. The API (client.c), the worker's
 * ready list (worker.c) and resolver threads (connect.c) each hold a
 * reference; keeping the release here, below all three, means the worker
 * never calls up into the API layer.
 *
 * Threading: any thread; the last reference frees the client.
 */
#include <stdlib.h>

#include "internal.h"

void
mqi_client_free_ids(mq_client *c)
{
    while (c->assigned_ids != NULL) {
        struct mqi_idnode *n = c->assigned_ids;
        c->assigned_ids = n->next;
        free(n);
    }
}

/* Final release: the worker and any resolver thread are done with c. */
void
mqi_client_unref(mq_client *c)
{
    mqi_qnode *n;

    if (atomic_fetch_sub(&c->refs, 1) != 1)
        return;
    /* Commands that never reached the worker (e.g. a late RESOLVED). */
    while ((n = mqi_mpsc_pop(&c->cmdq)) != NULL)
        if (n != &c->destroy_node && n != &c->connect_node)
            mqi_msg_free(MQI_CONTAINER_OF(n, mqi_msg, qn));
    mqi_opts_unref(c->connect_snap); /* a CONNECT the worker never took */
    mqi_store_close(c->store);
    mqi_client_free_ids(c);
    mqi_events_destroy(&c->ev);
    mqi_opts_unref(c->opt);
    pthread_mutex_destroy(&c->lock);
    mqi_cond_lazy_free(&c->state_cond);
    free(c->cbs);
    free(c->client_id);
    free(c);
}
