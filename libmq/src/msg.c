/*
 * msg.c - making and freeing commands, the worker's message lists, and the
 * space messages hold in the client's bounded queue (MQ_OPT_QUEUE_MAX_*):
 * reserved by the publishing thread, released by the worker (see msg.h).
 *
 * Threading: a message belongs to one thread at a time; the space counters
 * are atomics, and waiting publishers sleep on c->state_cond under c->lock
 * (shared with the state waits: every wake of it is a broadcast and every
 * waiter re-checks its own condition; one pair per client, issue 20).
 */
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

mqi_msg *
mqi_msg_new(int kind)
{
    mqi_msg *m = calloc(1, sizeof *m);

    if (m != NULL)
        m->kind = (uint8_t)kind;
    return m;
}

mqi_msg *
mqi_msg_new_publish(const char *topic, size_t tlen, const void *payload,
                    size_t len, int qos, bool retain)
{
    int blk;
    mqi_msg *m = mqi_block_alloc(sizeof *m + tlen + 1 + len, &blk);

    if (m == NULL)
        return NULL;
    memset(m, 0, sizeof *m);
    m->blk = (uint8_t)blk;
    m->kind = MQI_CMD_PUBLISH;
    m->qos = (uint8_t)qos;
    m->retain = retain ? 1 : 0;
    m->topic = (char *)(m + 1);
    memcpy(m->topic, topic, tlen);
    m->topic[tlen] = '\0';
    m->topic_len = tlen;
    m->payload = (uint8_t *)m->topic + tlen + 1;
    if (len > 0)
        memcpy(m->payload, payload, len);
    m->payload_len = len;
    m->acct_bytes = sizeof *m + tlen + len;
    return m;
}

void
mqi_list_push(mqi_list *l, mqi_msg *m)
{
    m->next = NULL;
    m->prev = l->tail;
    if (l->tail != NULL)
        l->tail->next = m;
    else
        l->head = m;
    l->tail = m;
    l->n++;
}

void
mqi_list_push_front(mqi_list *l, mqi_msg *m)
{
    m->prev = NULL;
    m->next = l->head;
    if (l->head != NULL)
        l->head->prev = m;
    else
        l->tail = m;
    l->head = m;
    l->n++;
}

void
mqi_list_remove(mqi_list *l, mqi_msg *m)
{
    if (m->prev != NULL)
        m->prev->next = m->next;
    else
        l->head = m->next;
    if (m->next != NULL)
        m->next->prev = m->prev;
    else
        l->tail = m->prev;
    m->next = m->prev = NULL;
    l->n--;
}

mqi_msg *
mqi_list_pop(mqi_list *l)
{
    mqi_msg *m = l->head;

    if (m != NULL)
        mqi_list_remove(l, m);
    return m;
}

void
mqi_msg_free(mqi_msg *m)
{
    size_t i;

    if (m == NULL)
        return;
    if (m->props != NULL)
        mq_props_free(m->props);
    if (m->kind == MQI_CMD_RESOLVED && m->resolved != NULL)
        freeaddrinfo(m->resolved);
    if (m->kind == MQI_CMD_WAIT || m->kind == MQI_CMD_DISCONNECT)
        free(m->resolved); /* never reached the worker, or not taken */
    if (m->filters != NULL) {
        for (i = 0; i < m->count; i++)
            free(m->filters[i]);
        free(m->filters);
    }
    free(m->options);
    /* plain malloc blocks (blk 0, payload_len 0) end in free() */
    mqi_block_free(m, m->blk, sizeof *m + m->payload_len);
}

/* ---- queue space ---------------------------------------------------------- */

/* Reserve queue space for one message of @p bytes; waits when asked. */
int
mqi_space_reserve(mq_client *c, size_t bytes)
{
    int wait_ms = atomic_load_explicit(&c->publish_timeout_ms,
                                       memory_order_relaxed);
    struct timespec until;
    bool have_deadline = false;

    for (;;) {
        size_t n = atomic_fetch_add(&c->q_msgs, 1);
        size_t b = atomic_fetch_add(&c->q_bytes, bytes);
        if (n < atomic_load_explicit(&c->max_msgs, memory_order_relaxed) &&
            (b + bytes <=
                 atomic_load_explicit(&c->max_bytes, memory_order_relaxed) ||
             n == 0))
            return MQ_OK;
        atomic_fetch_sub(&c->q_msgs, 1);
        atomic_fetch_sub(&c->q_bytes, bytes);
        if (wait_ms <= 0)
            return MQ_ERR_QUEUE_FULL;
        if (!have_deadline) {
            mqi_deadline_after(&until, wait_ms);
            have_deadline = true;
        }
        if (mqi_worker_on_io_thread(c)) {
            /* in a callback on the client's own I/O thread: space comes
             * from this thread's writes and acknowledgements, so do a
             * round of its loop instead of sleeping (worker.c) */
            struct timespec now;
            int64_t left;
            clock_gettime(CLOCK_MONOTONIC, &now);
            left = (int64_t)(until.tv_sec - now.tv_sec) * 1000 +
                   (until.tv_nsec - now.tv_nsec) / 1000000;
            if (left <= 0)
                wait_ms = 0; /* one last try */
            else
                mqi_worker_pump(c, left > 100 ? 100 : (int)left);
            continue;
        }
        pthread_mutex_lock(&c->lock);
        atomic_fetch_add(&c->space_waiters, 1);
        /* re-check under the lock to avoid a lost wakeup */
        if (atomic_load(&c->q_msgs) >= atomic_load(&c->max_msgs) ||
            atomic_load(&c->q_bytes) + bytes > atomic_load(&c->max_bytes)) {
            int rc = mqi_cond_lazy_wait(&c->state_cond, &c->lock, &until);
            atomic_fetch_sub(&c->space_waiters, 1);
            pthread_mutex_unlock(&c->lock);
            if (atomic_load(&c->destroyed))
                return MQ_ERR_DESTROYED;
            if (rc == ETIMEDOUT)
                wait_ms = 0; /* one last try */
        } else {
            atomic_fetch_sub(&c->space_waiters, 1);
            pthread_mutex_unlock(&c->lock);
        }
    }
}

/* Called by the worker when a message leaves the queue. */
void
mqi_space_released(mq_client *c)
{
    size_t max_m = atomic_load_explicit(&c->max_msgs, memory_order_relaxed);
    size_t max_b = atomic_load_explicit(&c->max_bytes, memory_order_relaxed);

    /* Wake waiting publishers only below a low-water mark (3/4 full), so
     * a full queue is refilled in batches instead of one message per
     * wakeup; an empty queue always wakes them. */
    if (atomic_load_explicit(&c->space_waiters, memory_order_relaxed) > 0 &&
        ((atomic_load(&c->q_msgs) <= max_m - max_m / 4 &&
          atomic_load(&c->q_bytes) <= max_b - max_b / 4) ||
         atomic_load(&c->q_msgs) == 0)) {
        pthread_mutex_lock(&c->lock);
        mqi_state_broadcast(c);
        pthread_mutex_unlock(&c->lock);
    }
}
