/*
 * events.c - the per-client event queue: the worker posts, the application
 * takes (mq_next_event), and a pipe makes mq_event_fd() readable while
 * events are pending.
 *
 * Threading: any thread; a mutex guards the list. The pipe holds at most one
 * byte: written when the queue goes from empty to non-empty, read back when
 * the last event is taken, under the mutex, so the fd is level-triggered and
 * no wakeup is lost even when libuv also watches it. The condition
 * variable blocking takers sleep on is made by the first one that waits
 * (an idle client that polls or uses callbacks never needs it).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

int
mqi_events_init(mqi_events *q)
{
    memset(q, 0, sizeof *q);
    /* The pipe is made on the first mq_event_fd(): applications that only
     * use mq_next_event()/loops pay no descriptors and no pipe writes. */
    q->pipe_rd = q->pipe_wr = -1;
    pthread_mutex_init(&q->lock, NULL);
    return MQ_OK;
}

void
mqi_events_destroy(mqi_events *q)
{
    mq_event *ev, *next;

    for (ev = q->head; ev != NULL; ev = next) {
        next = ev->next;
        mqi_event_forget(ev);
    }
    q->head = q->tail = NULL;
    if (q->pipe_rd >= 0)
        close(q->pipe_rd);
    if (q->pipe_wr >= 0)
        close(q->pipe_wr);
    q->pipe_rd = q->pipe_wr = -1;
    pthread_mutex_destroy(&q->lock);
    mqi_cond_lazy_free(&q->cond);
}

/* Make the pipe (if one was asked for) readable (lock held). */
static void
signal_pipe_locked(mqi_events *q)
{
    if (!q->signaled && q->pipe_wr >= 0) {
        ssize_t w;
        do
            w = write(q->pipe_wr, "e", 1);
        while (w < 0 && errno == EINTR);
        q->signaled = true;
    }
}

/* @p count events became available (lock held): make the pipe readable
 * and wake waiting takers. */
static void
notify_locked(mqi_events *q, size_t count)
{
    signal_pipe_locked(q);
    if (q->cond == NULL)
        return; /* no waiter ever slept on it (or they poll) */
    if (q->waiters > 1 && count > 1)
        pthread_cond_broadcast(q->cond);
    else if (q->waiters > 0)
        pthread_cond_signal(q->cond);
}

int
mqi_events_fd(mqi_events *q)
{
    int fd, fds[2];

    pthread_mutex_lock(&q->lock);
    if (q->pipe_rd < 0 && pipe2(fds, O_NONBLOCK | O_CLOEXEC) == 0) {
        q->pipe_rd = fds[0];
        q->pipe_wr = fds[1];
        if (q->head != NULL) /* events already pending: readable now */
            signal_pipe_locked(q);
    }
    fd = q->pipe_rd;
    pthread_mutex_unlock(&q->lock);
    return fd;
}

size_t
mqi_events_post(mqi_events *q, mq_event *ev)
{
    ev->next = NULL;
    return mqi_events_post_list(q, ev, ev, 1);
}

size_t
mqi_events_post_list(mqi_events *q, mq_event *head, mq_event *tail,
                     size_t count)
{
    size_t n, bytes = 0;
    mq_event *e;

    tail->next = NULL;
    for (e = head; e != NULL; e = e->next)
        bytes += e->acct;
    pthread_mutex_lock(&q->lock);
    if (q->tail != NULL)
        q->tail->next = head;
    else
        q->head = head;
    q->tail = tail;
    q->count += count;
    if (bytes > 0)
        atomic_fetch_add_explicit(&q->bytes, bytes, memory_order_relaxed);
    n = q->count;
    notify_locked(q, count);
    pthread_mutex_unlock(&q->lock);
    return n;
}

void
mqi_events_wake_all(mqi_events *q)
{
    pthread_mutex_lock(&q->lock);
    if (q->cond != NULL)
        pthread_cond_broadcast(q->cond);
    pthread_mutex_unlock(&q->lock);
}

size_t
mqi_events_count(mqi_events *q)
{
    size_t n;

    pthread_mutex_lock(&q->lock);
    n = q->count;
    pthread_mutex_unlock(&q->lock);
    return n;
}

mq_event *
mqi_events_take(mqi_events *q, int timeout_ms, size_t *out_left,
                atomic_bool *stop)
{
    return mqi_events_take_some(q, timeout_ms, 1, out_left, stop);
}

mq_event *
mqi_events_take_some(mqi_events *q, int timeout_ms, size_t max,
                     size_t *out_left, atomic_bool *stop)
{
    mq_event *ev = NULL, *last;
    struct timespec until;
    size_t n;

    if (timeout_ms > 0)
        mqi_deadline_after(&until, timeout_ms);
    pthread_mutex_lock(&q->lock);
    while (q->head == NULL && timeout_ms != 0 &&
           !(stop != NULL && atomic_load(stop))) {
        int rc;
        /* the cond is made by the first waiting take; without memory
         * for it the take polls (clock.h) */
        q->waiters++;
        rc = mqi_cond_lazy_wait(&q->cond, &q->lock,
                                timeout_ms < 0 ? NULL : &until);
        q->waiters--;
        if (rc == ETIMEDOUT)
            break;
    }
    ev = q->head;
    if (ev != NULL) {
        size_t bytes = ev->acct;
        /* up to max from the front, as a chain linked by ->next */
        for (last = ev, n = 1; n < max && last->next != NULL; n++) {
            last = last->next;
            bytes += last->acct;
        }
        if (bytes > 0)
            atomic_fetch_sub_explicit(&q->bytes, bytes,
                                      memory_order_relaxed);
        q->head = last->next;
        if (q->head == NULL)
            q->tail = NULL;
        q->count -= n;
        last->next = NULL;
    }
    if (q->head == NULL && q->signaled) {
        char buf[16];
        while (read(q->pipe_rd, buf, sizeof buf) > 0)
            ;
        q->signaled = false;
    }
    if (out_left != NULL)
        *out_left = q->count;
    pthread_mutex_unlock(&q->lock);
    return ev;
}

void
mqi_events_unshift(mqi_events *q, mq_event *head)
{
    mq_event *last;
    size_t n = 1, bytes = head ? head->acct : 0;

    if (head == NULL)
        return;
    for (last = head; last->next != NULL; last = last->next) {
        n++;
        bytes += last->next->acct;
    }
    pthread_mutex_lock(&q->lock);
    if (bytes > 0)
        atomic_fetch_add_explicit(&q->bytes, bytes, memory_order_relaxed);
    last->next = q->head;
    q->head = head;
    if (q->tail == NULL)
        q->tail = last;
    q->count += n;
    notify_locked(q, n);
    pthread_mutex_unlock(&q->lock);
}

mq_event *
mqi_event_new(int type, size_t extra)
{
    int blk;
    mq_event *ev;

    if (extra > SIZE_MAX - sizeof *ev)
        return NULL;
    /* allocated by the worker and freed by the application: small ones
     * are recycled without the allocator's locks (pool.c) */
    ev = mqi_block_alloc(sizeof *ev + extra, &blk);
    if (ev != NULL) {
        memset(ev, 0, sizeof *ev + extra);
        ev->type = type;
        ev->blk = blk;
    }
    return ev;
}

/* ---- public accessors ------------------------------------------------ */

void
mqi_event_forget(mq_event *ev)
{
    if (ev != NULL && ev->store != NULL) {
        mqi_store_unref(ev->store);
        ev->store = NULL;
    }
    if (ev != NULL && ev->inack != NULL) {
        /* never taken: not acknowledged, the broker sends it again */
        mqi_inack_release(ev->inack, false);
        ev->inack = NULL;
    }
    mq_event_free(ev);
}

MQ_API void
mq_event_free(mq_event *ev)
{
    if (ev == NULL)
        return;
    if (ev->store != NULL) {
        /* the application has seen the completion of a tagged message:
         * now its record may go (mq_publish_tagged) */
        if (mqi_store_remove(ev->store, ev->store_seq) != MQ_OK) {
            /* decided: the record stays and the message comes back as
             * RECOVERED after a restart (at least once, never lost);
             * freeing an event has no one to tell */
        }
        mqi_store_unref(ev->store);
    }
    /* the application is done with the message: now it is acknowledged */
    mqi_inack_release(ev->inack, true);
    if (ev->props != NULL)
        mq_props_free(ev->props);
    mqi_big_free(ev->owned, ev->payload_len);
    /* topic, payload, reasons and message live inline or are owned: */
    mqi_block_free(ev, ev->blk, sizeof *ev);
}

MQ_API int mq_event_type(const mq_event *ev) { return ev ? ev->type : 0; }
MQ_API int mq_event_error(const mq_event *ev) { return ev ? ev->error : 0; }
MQ_API int mq_event_reason(const mq_event *ev) { return ev ? ev->reason : 0; }
MQ_API int mq_event_token(const mq_event *ev) { return ev ? ev->token : 0; }
MQ_API uint64_t mq_event_tag(const mq_event *ev) { return ev ? ev->tag : 0; }
MQ_API const char *
mq_event_topic(const mq_event *ev)
{
    return ev ? ev->topic : NULL;
}

MQ_API const void *
mq_event_payload(const mq_event *ev, size_t *out_len)
{
    if (out_len != NULL)
        *out_len = ev ? ev->payload_len : 0;
    return ev ? (const void *)ev->payload : NULL;
}

MQ_API size_t
mq_event_payload_len(const mq_event *ev)
{
    return ev ? ev->payload_len : 0;
}

MQ_API int mq_event_qos(const mq_event *ev) { return ev ? ev->qos : 0; }
MQ_API int mq_event_retain(const mq_event *ev) { return ev ? ev->retain : 0; }
MQ_API int mq_event_dup(const mq_event *ev) { return ev ? ev->dup : 0; }
MQ_API int
mq_event_packet_id(const mq_event *ev)
{
    return ev ? ev->packet_id : 0;
}
MQ_API int
mq_event_session_present(const mq_event *ev)
{
    return ev ? ev->session_present : 0;
}
MQ_API int
mq_event_will_reconnect(const mq_event *ev)
{
    return ev ? ev->will_reconnect : 0;
}
MQ_API size_t
mq_event_reason_count(const mq_event *ev)
{
    return ev ? ev->nreasons : 0;
}
MQ_API int
mq_event_reason_at(const mq_event *ev, size_t i)
{
    if (ev == NULL || i >= ev->nreasons)
        return -1;
    return ev->reasons[i];
}
MQ_API int
mq_event_log_level(const mq_event *ev)
{
    return ev ? ev->log_level : 0;
}
MQ_API const char *
mq_event_message(const mq_event *ev)
{
    return ev ? ev->message : NULL;
}
MQ_API const mq_props *
mq_event_props(const mq_event *ev)
{
    return ev ? ev->props : NULL;
}

/* ---- logging ------------------------------------------------------------- */

/* A log line is an event (MQ_EVENT_LOG) when the client's level allows. */
void
mqi_log(mq_client *c, int level, const char *fmt, ...)
{
    va_list ap;
    char buf[512];
    size_t n;
    mq_event *ev;

    if (level > atomic_load_explicit(&c->log_level, memory_order_relaxed))
        return;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    n = strlen(buf) + 1;
    ev = mqi_event_new(MQ_EVENT_LOG, n);
    if (ev == NULL)
        return;
    ev->log_level = level;
    ev->message = (char *)(ev + 1);
    memcpy(ev->message, buf, n);
    mqi_events_post(&c->ev, ev);
    mqi_worker_posted(c); /* a loop thread doing the I/O dispatches it */
}
