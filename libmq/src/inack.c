/*
 * inack.c - the marks and the ack channel of inbound QoS 1/2 messages
 * acknowledged after the application is done with them (see inack.h).
 *
 * The channel holds a pointer to its client, cleared under its mutex when
 * the worker lets go, so a thread freeing an event never wakes a client
 * that is being freed. The mutex is taken only when the "due" flag goes
 * from clear to set: once per worker round, not once per message.
 *
 * Threading: see inack.h.
 */
#include <pthread.h>
#include <stdlib.h>

#include "inack.h"
#include "internal.h"

struct mqi_ackch {
    pthread_mutex_t lock;
    struct mq_client *c;        /* NULL after mqi_ackch_detach (lock) */
    atomic_int refs;            /* the client and every live mark */
    atomic_bool due;            /* a mark was released since the worker
                                   last looked */
};

static void
ch_unref(mqi_ackch *ch)
{
    if (ch == NULL || atomic_fetch_sub(&ch->refs, 1) != 1)
        return;
    pthread_mutex_destroy(&ch->lock);
    free(ch);
}

mqi_ackch *
mqi_ackch_new(struct mq_client *c)
{
    mqi_ackch *ch = calloc(1, sizeof *ch);

    if (ch == NULL)
        return NULL;
    pthread_mutex_init(&ch->lock, NULL);
    ch->c = c;
    atomic_init(&ch->refs, 1);
    atomic_init(&ch->due, false);
    return ch;
}

void
mqi_ackch_detach(mqi_ackch *ch)
{
    if (ch == NULL)
        return;
    pthread_mutex_lock(&ch->lock);
    ch->c = NULL;
    pthread_mutex_unlock(&ch->lock);
    ch_unref(ch);
}

bool
mqi_ackch_due(mqi_ackch *ch)
{
    return ch != NULL && atomic_load_explicit(&ch->due, memory_order_relaxed)
           && atomic_exchange(&ch->due, false);
}

mqi_inack *
mqi_inack_new(mqi_ackch *ch, int qos, uint16_t pid, unsigned epoch)
{
    mqi_inack *a = malloc(sizeof *a);

    if (a == NULL)
        return NULL;
    a->next = NULL;
    a->ch = ch;
    atomic_init(&a->refs, 2);
    atomic_init(&a->done, false);
    a->pid = pid;
    a->qos = (uint8_t)qos;
    a->epoch = epoch;
    a->conn = 0;
    if (ch != NULL)
        atomic_fetch_add(&ch->refs, 1);
    return a;
}

void
mqi_inack_unref(mqi_inack *a)
{
    if (a == NULL || atomic_fetch_sub(&a->refs, 1) != 1)
        return;
    ch_unref(a->ch);
    free(a);
}

void
mqi_inack_release(mqi_inack *a, bool taken)
{
    mqi_ackch *ch;

    if (a == NULL)
        return;
    ch = a->ch;
    if (taken) {
        atomic_store(&a->done, true);
        /* the worker clears "due" before it looks at the marks, so a
         * mark done after its look sets it again and wakes it */
        if (ch != NULL && !atomic_exchange(&ch->due, true)) {
            pthread_mutex_lock(&ch->lock);
            /* written on this thread when the connection is idle
             * (conn.c, "direct writes"), else by the worker */
            if (ch->c != NULL && !mqi_conn_direct_acks(ch->c))
                mqi_wake(ch->c);
            pthread_mutex_unlock(&ch->lock);
        }
    }
    mqi_inack_unref(a);
}
