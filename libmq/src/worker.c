/*
 * worker.c - the worker threads and their loop: one epoll loop serves many
 * clients (one worker by default, up to 64 with mq_set_worker_threads).
 * A round of the loop reads as phases (see "the loop" below): wait,
 * wakeups and commands, I/O readiness, timers, posting events, release.
 * What a phase does for one client is conn.c's (commands, socket, timers)
 * and connect.c's (connecting); the protocol is session.c's.
 *
 * Threading: the loop runs on the worker thread; mqi_worker_attach/detach,
 * mqi_wake and mq_set_worker_threads on any thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "worker.h"


#define MAX_WORKERS 64

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static mqi_worker *g_workers[MAX_WORKERS]; /* started on demand */
static int g_nworkers = 1;                 /* mq_set_worker_threads() */
static int g_live;                         /* workers running now */

MQ_API int
mq_set_worker_threads(int n)
{
    if (n < 1 || n > MAX_WORKERS)
        return MQ_ERR_INVAL;
    pthread_mutex_lock(&g_lock);
    g_nworkers = n;
    pthread_mutex_unlock(&g_lock);
    return MQ_OK;
}



static void
run_timers(mqi_worker *w, int64_t now)
{
    mq_client *c;

    w->next_timer_ms = 0;
    pthread_mutex_lock(&w->lock);
    for (c = w->clients; c != NULL; c = c->wnext) {
        if (c->cs == MQI_CS_IDLE && c->store == NULL)
            continue;
        if (c->deadline_ms == 0 || now >= c->deadline_ms ||
            c->cs == MQI_CS_UP) {
            mqi_conn_timer(c, now);
            mqi_conn_post_flush(c);
        } else
            mqi_conn_deadline(c, c->deadline_ms);
    }
    pthread_mutex_unlock(&w->lock);
}


/* ---- the thread -------------------------------------------------------- */

/* ---- the loop ------------------------------------------------------------ *
 *
 * One round of worker_main, in phases (libuv's uv_run is the model):
 *   1. wait: epoll_wait until a socket or the wake descriptor is ready or
 *      the earliest timer is due (loop_timeout);
 *   2. wakeups and commands: clients on the ready list drain their command
 *      queues (run_wakeups -> mqi_conn_commands);
 *   3. I/O readiness: each ready socket reads, parses, writes (mqi_conn_io);
 *   4. timers: connect/keepalive/backoff/drain deadlines (run_timers);
 *   5. posting events: each client touched hands its batch of events to its
 *      queue and wakes blocked publishers (end_round, after 2, 3 and 4);
 *   6. release: clients destroyed in this round are handed back to
 *      mqi_worker_detach (release_destroyed).
 */

/* Phase 5 for one client: this round's events go to its queue with one
 * lock and one wakeup, and publishers waiting for queue space are woken. */
static void
end_round(mq_client *c)
{
    mqi_conn_post_flush(c);
    if (c->space_freed) {
        c->space_freed = false;
        mqi_space_released(c);
    }
}

/* Phase 1: how long epoll_wait may sleep (ms, -1 forever). */
static int
loop_timeout(const mqi_worker *w, int64_t now)
{
    int64_t d;

    if (w->next_timer_ms == 0)
        return -1;
    d = w->next_timer_ms - now;
    return d < 0 ? 0 : (d > 60000 ? 60000 : (int)d);
}

/* A client destroyed by its commands (mqi_conn_commands set c->dead)
 * leaves the worker's list; mqi_worker_detach is told at the end of this
 * round (release_destroyed). */
static void
unlink_destroyed(mq_client *c)
{
    mqi_worker *w = c->w;

    pthread_mutex_lock(&w->lock);
    if (c->wprev != NULL)
        c->wprev->wnext = c->wnext;
    else
        w->clients = c->wnext;
    if (c->wnext != NULL)
        c->wnext->wprev = c->wprev;
    c->wnext = w->release;
    c->wprev = NULL;
    w->release = c;
    pthread_mutex_unlock(&w->lock);
}

/* Phase 2: the wake descriptor fired: every client on the ready list
 * drains its commands. */
static void
run_wakeups(mqi_worker *w)
{
    uint64_t v;
    mqi_qnode *rn;

    if (read(w->wake_fd, &v, sizeof v) < 0) {
        /* EAGAIN: a spurious wakeup */
    }
    atomic_store(&w->wake_pending, 0);
    while ((rn = mqi_mpsc_pop(&w->ready)) != NULL) {
        mq_client *rc = MQI_CONTAINER_OF(rn, mq_client, ready_node);
        atomic_store(&rc->wake_pending, 0);
        if (!rc->dead) {
            mqi_conn_commands(rc);
            end_round(rc);
            if (rc->dead)
                unlink_destroyed(rc); /* it took MQI_CMD_DESTROY */
        }
        mqi_client_unref(rc); /* the ready list's reference */
    }
}

/* Phase 6: tell mqi_worker_detach that destroyed clients are let go. */
static void
release_destroyed(mqi_worker *w)
{
    if (w->release == NULL)
        return;
    pthread_mutex_lock(&w->lock);
    while (w->release != NULL) {
        mq_client *c = w->release;
        w->release = c->wnext;
        c->wnext = NULL;
        c->released = true; /* tells mqi_worker_detach we are done */
    }
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

static void *
worker_main(void *arg)
{
    mqi_worker *w = arg;
    struct epoll_event evs[128];
    mqi_qnode *rn;

    pthread_setname_np(pthread_self(), "mq-worker");

    while (!atomic_load(&w->stop)) {
        int n, i;
        int64_t now;

        n = epoll_wait(w->epfd, evs, 128, loop_timeout(w, mqi_now_ms()));
        if (n < 0 && errno != EINTR)
            break;
        for (i = 0; i < n; i++) {
            mqi_src *src = evs[i].data.ptr;
            if (src->kind == MQI_SRC_WORKER) {
                run_wakeups(w);
            } else if (!src->c->dead) { /* not destroyed in this batch */
                mqi_conn_io(src->c, evs[i].events);
                end_round(src->c);
            }
        }
        now = mqi_now_ms();
        if (w->next_timer_ms != 0 && now >= w->next_timer_ms) {
            run_timers(w, now);
            mqi_big_trim(now, false);
        }
        release_destroyed(w);
    }
    /* Clients still on the ready list (woken after their destroy was
     * processed): drop the list's references. */
    while ((rn = mqi_mpsc_pop(&w->ready)) != NULL)
        mqi_client_unref(MQI_CONTAINER_OF(rn, mq_client, ready_node));
    return NULL;
}

int
mqi_worker_attach(mq_client *c)
{
    mqi_worker *w;
    struct epoll_event ee;
    int i, slot = 0;

    pthread_mutex_lock(&g_lock);
    /* the least loaded of the first g_nworkers workers (an empty slot
     * counts as zero clients) */
    for (i = 0; i < g_nworkers; i++) {
        if (g_workers[i] == NULL) {
            slot = i;
            break;
        }
        if (g_workers[i]->refs < g_workers[slot]->refs)
            slot = i;
    }
    if (g_workers[slot] == NULL) {
        w = calloc(1, sizeof *w);
        if (w == NULL)
            goto fail;
        w->epfd = epoll_create1(EPOLL_CLOEXEC);
        w->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (w->epfd < 0 || w->wake_fd < 0)
            goto fail_w;
        mqi_mpsc_init(&w->ready);
        w->wake_src.kind = MQI_SRC_WORKER;
        memset(&ee, 0, sizeof ee);
        ee.events = EPOLLIN;
        ee.data.ptr = &w->wake_src;
        if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->wake_fd, &ee) != 0)
            goto fail_w;
        pthread_mutex_init(&w->lock, NULL);
        pthread_cond_init(&w->cond, NULL);
        if (pthread_create(&w->th, NULL, worker_main, w) != 0) {
            pthread_mutex_destroy(&w->lock);
            pthread_cond_destroy(&w->cond);
            goto fail_w;
        }
        w->slot = slot;
        g_workers[slot] = w;
        g_live++;
    }
    w = g_workers[slot];
    w->refs++;
    c->w = w;
    mqi_conn_init(c);
    c->sock_src.kind = MQI_SRC_SOCK;
    c->sock_src.c = c;
    pthread_mutex_lock(&w->lock);
    c->wprev = NULL;
    c->wnext = w->clients;
    if (w->clients != NULL)
        w->clients->wprev = c;
    w->clients = c;
    pthread_mutex_unlock(&w->lock);
    pthread_mutex_unlock(&g_lock);
    return MQ_OK;
fail_w:
    if (w->epfd >= 0)
        close(w->epfd);
    if (w->wake_fd >= 0)
        close(w->wake_fd);
    free(w);
fail:
    pthread_mutex_unlock(&g_lock);
    return MQ_ERR_SYSTEM;
}

void
mqi_worker_detach(mq_client *c)
{
    mqi_worker *w = c->w;
    mqi_msg *m = c->destroy_cmd;

    if (w == NULL || m == NULL)
        return;
    c->destroy_cmd = NULL; /* preallocated: destroy cannot fail on memory */
    m->kind = MQI_CMD_DESTROY;
    mqi_mpsc_push(&c->cmdq, &m->qn);
    mqi_wake(c);
    pthread_mutex_lock(&w->lock);
    while (!c->released)
        pthread_cond_wait(&w->cond, &w->lock);
    pthread_mutex_unlock(&w->lock);

    pthread_mutex_lock(&g_lock);
    if (--w->refs == 0) {
        uint64_t one = 1;
        (void)one;
        atomic_store(&w->stop, true);
        mqi_worker_kick(w);
        pthread_join(w->th, NULL);
        close(w->epfd);
        close(w->wake_fd);
        pthread_mutex_destroy(&w->lock);
        pthread_cond_destroy(&w->cond);
        g_workers[w->slot] = NULL;
        free(w);
        if (--g_live == 0)
            mqi_big_trim(0, true); /* the last client is gone */
    }
    pthread_mutex_unlock(&g_lock);
    c->w = NULL;
}
