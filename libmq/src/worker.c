/*
 * worker.c - the worker threads and their loop: one epoll loop serves many
 * clients (one worker by default, up to 64 with mq_set_worker_threads).
 * A round of the loop reads as phases (see "the loop" below): wait,
 * wakeups and commands, I/O readiness, timers, posting events, release.
 * What a phase does for one client is conn.c's (commands, socket, timers)
 * and connect.c's (connecting); the protocol is session.c's.
 *
 * A client whose callbacks run from mq_loop_start() moves to a private
 * worker whose thread is that loop thread: it does the client's I/O and
 * dispatches its callbacks after each round, as libmosquitto's and
 * paho-mqtt's loop threads do (no thread hop between the socket and the
 * callback). See "private workers" below for the hand-over.
 *
 * Threading: the loop runs on the worker thread; mqi_worker_attach/detach,
 * mqi_wake and mq_set_worker_threads on any thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
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
static _Thread_local mqi_worker *tl_self;  /* the worker this thread runs */

static void adopt(mqi_worker *w, mq_client *c);
static void hand_over(mq_client *c, mqi_worker *from, mqi_worker *to);

mqi_worker *
mqi_worker_current(void)
{
    return tl_self;
}

void
mqi_worker_self_wake(mqi_worker *w)
{
    w->self_woken = true;
}

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



/* Phase 4: the clients whose deadline has come, earliest first, from the
 * worker's timer heap: O(log n) per due timer, nothing for the others (an
 * idle connection costs one timer per keepalive interval). Each one's
 * mqi_conn_timer arms its next deadline (always later than now). */
static void
run_timers(mqi_worker *w, int64_t now)
{
    mqi_theap_node *t;

    while ((t = mqi_theap_pop_due(&w->timers, now)) != NULL) {
        mq_client *c = MQI_CONTAINER_OF(t, mq_client, tnode);
        mqi_own_lock(c);
        c->deadline_ms = 0;
        if (c->cs != MQI_CS_IDLE || c->store != NULL) {
            mqi_conn_timer(c, now);
            mqi_conn_post_flush(c);
        }
        mqi_own_unlock(c);
    }
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
    const mqi_theap_node *t = mqi_theap_top(&w->timers);
    int64_t d;

    if (t == NULL)
        return -1;
    d = t->when - now;
    return d < 0 ? 0 : (d > 60000 ? 60000 : (int)d);
}

/* A client destroyed by its commands (mqi_conn_commands set c->dead)
 * leaves the worker's list; mqi_worker_detach is told at the end of this
 * round (release_destroyed). */
static void
unlink_destroyed(mq_client *c)
{
    mqi_worker *w = c->w;

    mqi_theap_remove(&w->timers, &c->tnode);
    c->deadline_ms = 0;
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
    /* a timer slot for every attached client before any of them arms one
     * (a new client's first command comes through here); a failure is
     * retried next round, and arming grows the heap itself if it must */
    if (mqi_theap_reserve(&w->timers, atomic_load(&w->nattached)) != MQ_OK) {
        /* decided: retried; mqi_theap_set grows on demand */
    }
    while ((rn = mqi_mpsc_pop(&w->ready)) != NULL) {
        mq_client *rc = MQI_CONTAINER_OF(rn, mq_client, ready_node);
        mqi_worker *to;
        mqi_own_lock(rc);
        if (rc->adopt)
            adopt(w, rc); /* handed over to us (hand_over) */
        to = atomic_exchange(&rc->move_to_pw, false) ? rc->pw : NULL;
        if (to != NULL && to != w && !rc->dead) {
            hand_over(rc, w, to); /* the wake and its reference go too */
            mqi_own_unlock(rc);
            continue;
        }
        atomic_store(&rc->wake_pending, 0);
        if (!rc->dead) {
            mqi_conn_commands(rc);
            if (rc->store != NULL && !rc->dead)
                mqi_conn_deadline(rc, mqi_now_ms() + 1); /* store tick:
                    a deferred sync of what was just stored */
            end_round(rc);
            if (rc->dead)
                unlink_destroyed(rc); /* it took MQI_CMD_DESTROY */
        }
        mqi_own_unlock(rc);
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

/* One round of the loop, phases 1-6; epoll_wait sleeps at most
 * @p max_ms (-1: until the next timer). -1 if epoll failed. */
static int
worker_round(mqi_worker *w, int max_ms)
{
    struct epoll_event evs[128];
    int n, i, t;
    int64_t now;

    t = loop_timeout(w, mqi_now_ms());
    if (max_ms >= 0 && (t < 0 || t > max_ms))
        t = max_ms;
    if (w->self_woken) {
        w->self_woken = false;
        run_wakeups(w); /* woken by itself: no eventfd was written */
        t = 0;
    }
    n = epoll_wait(w->epfd, evs, 128, t);
    if (n < 0 && errno != EINTR)
        return -1;
    for (i = 0; i < n; i++) {
        mqi_src *src = evs[i].data.ptr;
        if (src->kind == MQI_SRC_WORKER) {
            run_wakeups(w);
        } else {
            mq_client *c = MQI_CONTAINER_OF(src, mq_client, sock_src);
            mqi_own_lock(c);
            if (!c->dead && __atomic_load_n(&c->w, __ATOMIC_RELAXED) == w) {
                /* not destroyed in this batch, nor handed over */
                mqi_conn_io(c, evs[i].events);
                end_round(c);
            }
            mqi_own_unlock(c);
        }
    }
    now = mqi_now_ms();
    if (mqi_theap_top(&w->timers) != NULL &&
        now >= mqi_theap_top(&w->timers)->when) {
        run_timers(w, now);
        mqi_big_trim(now, false);
    }
    release_destroyed(w);
    return 0;
}

static void *
worker_main(void *arg)
{
    mqi_worker *w = arg;
    mqi_qnode *rn;

    pthread_setname_np(pthread_self(), "mq-worker");
    tl_self = w;
    while (!atomic_load(&w->stop))
        if (worker_round(w, -1) < 0)
            break;
    /* Clients still on the ready list (woken after their destroy was
     * processed): drop the list's references. */
    while ((rn = mqi_mpsc_pop(&w->ready)) != NULL)
        mqi_client_unref(MQI_CONTAINER_OF(rn, mq_client, ready_node));
    return NULL;
}

/* ---- making and freeing a worker ------------------------------------ */

/* A worker's descriptors, wake source and locks, its thread not started
 * (shared workers: mqi_worker_attach; private ones: private_new). NULL
 * when the system refuses a descriptor or memory. */
static mqi_worker *
worker_new(void)
{
    mqi_worker *w = calloc(1, sizeof *w);
    struct epoll_event ee;

    if (w == NULL)
        return NULL;
    w->epfd = epoll_create1(EPOLL_CLOEXEC);
    w->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    memset(&ee, 0, sizeof ee);
    ee.events = EPOLLIN;
    ee.data.ptr = &w->wake_src;
    if (w->epfd < 0 || w->wake_fd < 0 ||
        epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->wake_fd, &ee) != 0) {
        if (w->epfd >= 0)
            close(w->epfd);
        if (w->wake_fd >= 0)
            close(w->wake_fd);
        free(w);
        return NULL;
    }
    mqi_mpsc_init(&w->ready);
    w->wake_src.kind = MQI_SRC_WORKER;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
    return w;
}

/* Frees what worker_new made; its thread has ended or never started. */
static void
worker_free(mqi_worker *w)
{
    close(w->epfd);
    close(w->wake_fd);
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->cond);
    mqi_theap_free(&w->timers);
    free(w);
}

int
mqi_worker_attach(mq_client *c)
{
    mqi_worker *w;
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
        w = worker_new();
        if (w == NULL)
            goto fail;
        if (pthread_create(&w->th, NULL, worker_main, w) != 0) {
            worker_free(w);
            goto fail;
        }
        w->slot = slot;
        g_workers[slot] = w;
        g_live++;
    }
    w = g_workers[slot];
    w->refs++;
    atomic_fetch_add(&w->nattached, 1);
    c->w = w;
    c->home = w;
    mqi_conn_init(c);
    c->sock_src.kind = MQI_SRC_SOCK;
    pthread_mutex_lock(&w->lock);
    c->wprev = NULL;
    c->wnext = w->clients;
    if (w->clients != NULL)
        w->clients->wprev = c;
    w->clients = c;
    pthread_mutex_unlock(&w->lock);
    pthread_mutex_unlock(&g_lock);
    return MQ_OK;
fail:
    pthread_mutex_unlock(&g_lock);
    return MQ_ERR_SYSTEM;
}

void
mqi_worker_detach(mq_client *c)
{
    mqi_worker *w = c->w;

    if (w == NULL || c->destroy_sent)
        return;
    c->destroy_sent = true; /* a node in the client: destroy needs no memory */
    mqi_mpsc_push(&c->cmdq, &c->destroy_node);
    mqi_wake(c);
    pthread_mutex_lock(&w->lock);
    while (!c->released)
        pthread_cond_wait(&w->cond, &w->lock);
    pthread_mutex_unlock(&w->lock);

    pthread_mutex_lock(&g_lock);
    atomic_fetch_sub(&w->nattached, 1);
    if (--w->refs == 0) {
        atomic_store(&w->stop, true);
        mqi_worker_kick(w);
        pthread_join(w->th, NULL);
        g_workers[w->slot] = NULL;
        worker_free(w);
        if (--g_live == 0)
            mqi_big_trim(0, true); /* the last client is gone */
    }
    pthread_mutex_unlock(&g_lock);
    __atomic_store_n(&c->w, NULL, __ATOMIC_SEQ_CST);
}

/* ---- private workers ----------------------------------------------------
 *
 * mq_loop_start() with MQ_OPT_LOOP_IO_THREAD (the default) gives the client
 * a worker of its own whose thread is the loop thread: after each round it
 * dispatches the client's events to the callbacks (mqi_loop_dispatch), so
 * a message goes socket -> parse -> callback on one thread. The shared
 * worker never runs application code; a private one runs only its own
 * client's, so a callback that blocks delays only that client.
 *
 * Hand-over (shared -> private at mq_loop_start, private -> shared at
 * mq_loop_stop or destroy). The owner is the worker c->w; only the owner's
 * thread changes c->w, and it hands c over while it holds c's wake token
 * (wake_pending == 1 with the node off every ready list), so no other
 * thread can put c on any list meanwhile:
 *   1. the owner takes the socket out of its epoll set and the timer out
 *      of its heap (kept in adopt_deadline) and sets c->adopt;
 *   2. it stores c->w = to, then waits until no thread is inside
 *      mqi_wake (c->wakers): one that read the old worker has finished;
 *   3. it puts c on to's ready list (with the token and its reference);
 *   4. to's run_wakeups adopts c (socket, timer) before its commands.
 * Commands pushed meanwhile wait in c->cmdq for the new owner; events
 * already queued are dispatched by whoever dispatches next. The shared
 * worker keeps its reference (c->home) for the client's whole life, and
 * destroy always happens there. The private worker's memory lives until
 * the client is destroyed (a thread that read c->w late may still write
 * its eventfd). The client keeps its private worker only while the loop
 * thread runs: mq_loop_stop hands it back to the shared worker.
 *
 * Waiting on the I/O thread: mq_wait*, a blocking publish and
 * mq_next_event called from a callback there pump rounds of the loop
 * (mqi_worker_pump: I/O, commands, timers, no callbacks) instead of
 * sleeping on something only this thread would do; destroy and
 * mq_loop_stop from such a callback are finished by the thread after the
 * callback returns.
 */

/* Phase 2, for a client handed over to w (step 4 above). */
static void
adopt(mqi_worker *w, mq_client *c)
{
    c->adopt = false;
    if (c->io.fd >= 0)
        mqi_conn_update_mask(c); /* epoll_mask is 0: registers it */
    if (c->adopt_deadline != 0) {
        mqi_conn_deadline(c, c->adopt_deadline);
        c->adopt_deadline = 0;
    }
    if (w->solo == c)
        w->adopted = true;
    /* a TLS/WebSocket layer may hold decrypted input that no readiness
     * will announce on the new epoll set: read once */
    if (c->io.fd >= 0 && c->io.layer != NULL && c->cs >= MQI_CS_CONNACK &&
        (c->epoll_mask & EPOLLIN))
        mqi_conn_io(c, EPOLLIN);
}

/* Steps 1-3 of the hand-over, on from's thread, holding c's wake token
 * and the reference that goes with it. */
static void
hand_over(mq_client *c, mqi_worker *from, mqi_worker *to)
{
    mqi_theap_remove(&from->timers, &c->tnode);
    c->adopt_deadline = c->deadline_ms;
    c->deadline_ms = 0;
    if (c->io.fd >= 0 && c->epoll_mask != 0)
        epoll_ctl(from->epfd, EPOLL_CTL_DEL, c->io.fd, NULL);
    c->epoll_mask = 0;
    c->adopt = true;
    __atomic_store_n(&c->w, to, __ATOMIC_SEQ_CST);
    while (atomic_load(&c->wakers) != 0)
        sched_yield(); /* a thread in mqi_wake that saw the old worker */
    mqi_mpsc_push(&to->ready, &c->ready_node);
    if (atomic_exchange(&to->wake_pending, 1) == 0)
        mqi_worker_kick(to);
}

static void *
private_main(void *arg)
{
    mqi_worker *pw = arg;
    mq_client *c = pw->solo;
    mqi_qnode *rn;

    pthread_setname_np(pthread_self(), "mq-loop");
    tl_self = pw;
    for (;;) {
        bool stop = atomic_load(&pw->pstop);
        if (stop && pw->adopted)
            break;
        /* stopping before the shared worker handed c over: wait for it
         * (soon: it hands over when it takes c from its ready list) */
        if (worker_round(pw, stop ? 10 : -1) < 0)
            sched_yield(); /* decided: epoll_wait on a valid set fails
                              only with EINTR (not counted); retried */
        if (!stop && pw->adopted)
            mqi_loop_dispatch(c);
    }
    /* take c's wake token: free, or c is on our list (pw's one client) */
    for (;;) {
        if (atomic_exchange(&c->wake_pending, 1) == 0) {
            atomic_fetch_add(&c->refs, 1); /* what the list would hold */
            break;
        }
        if ((rn = mqi_mpsc_pop(&pw->ready)) != NULL)
            break; /* it is c: its token and reference are ours */
        sched_yield(); /* a waker between its two steps */
    }
    pw->adopted = false;
    mqi_own_lock(c);
    hand_over(c, pw, c->home);
    mqi_own_unlock(c);
    tl_self = NULL;
    atomic_store(&pw->running, false); /* pw is not touched after this */
    mqi_loop_thread_end(c); /* may destroy c (and free pw) */
    return NULL;
}

static mqi_worker *
private_new(mq_client *c)
{
    mqi_worker *w = worker_new();

    if (w == NULL)
        return NULL;
    w->solo = c;
    w->slot = -1;
    return w;
}

int
mqi_worker_private_start(mq_client *c, pthread_t *th)
{
    mqi_worker *pw = c->pw;

    if (c->home == NULL)
        return MQ_ERR_STATE;
    if (pw == NULL) {
        pw = private_new(c);
        if (pw == NULL)
            return MQ_ERR_SYSTEM;
        c->pw = pw;
    }
    if (atomic_load(&pw->running))
        return MQ_ERR_STATE; /* the previous thread is still ending */
    atomic_store(&pw->pstop, false);
    pw->adopted = false;
    atomic_store(&pw->running, true);
    if (pthread_create(&pw->th, NULL, private_main, pw) != 0) {
        atomic_store(&pw->running, false);
        return MQ_ERR_SYSTEM;
    }
    *th = pw->th;
    atomic_store(&c->move_to_pw, true); /* after c->pw: seen with it */
    mqi_wake(c); /* the owner hands c over when it takes it */
    return MQ_OK;
}

void
mqi_worker_private_stop(mq_client *c)
{
    if (c->pw == NULL || !atomic_load(&c->pw->running))
        return;
    atomic_store(&c->pw->pstop, true);
    mqi_worker_kick(c->pw);
}

bool
mqi_worker_private_busy(mq_client *c)
{
    return c->pw != NULL && atomic_load(&c->pw->running);
}

/* Destroy, before mqi_worker_detach: wait for a thread that is ending
 * (stopped from its own callback: c goes back to its shared worker),
 * then free the private worker; no thread uses it after its hand-over. */
void
mqi_worker_private_free(mq_client *c)
{
    mqi_worker *pw = c->pw;

    if (pw == NULL)
        return;
    while (atomic_load(&pw->running))
        sched_yield(); /* a thread stopped from its callback, ending */
    worker_free(pw);
    c->pw = NULL;
}

bool
mqi_worker_on_io_thread(mq_client *c)
{
    return tl_self != NULL && tl_self->solo == c &&
           __atomic_load_n(&c->w, __ATOMIC_ACQUIRE) == tl_self;
}

bool
mqi_worker_pump(mq_client *c, int max_ms)
{
    if (!mqi_worker_on_io_thread(c))
        return false;
    (void)worker_round(tl_self, max_ms);
    return true;
}

void
mqi_worker_posted(mq_client *c)
{
    mqi_worker *w = __atomic_load_n(&c->w, __ATOMIC_ACQUIRE);

    if (w != NULL && w != c->home && tl_self != w)
        mqi_wake(c);
}
