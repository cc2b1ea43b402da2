/*
 * worker.h - what the loop (worker.c), the connection (conn.c) and
 * connecting (connect.c) share: the worker structure and the functions
 * each calls in the others. Private to those three files.
 *
 * Threading: the worker thread, except where noted.
 */
#ifndef MQI_WORKER_H
#define MQI_WORKER_H

#include <netdb.h>
#include <sched.h>

#include "internal.h"

#define READ_CHUNK 65536

struct mqi_worker {
    pthread_t th;
    int epfd;
    int wake_fd;          /* eventfd: clients are ready, or stop */
    mqi_src wake_src;
    atomic_int wake_pending;
    mqi_mpsc ready;       /* clients with new commands (each holds a ref) */
    atomic_bool stop;
    int refs;
    int slot;             /* index in g_workers */
    pthread_mutex_t lock; /* clients list, detach handshake */
    pthread_cond_t cond;
    mq_client *clients;
    mqi_theap timers;     /* clients' deadlines (c->tnode), earliest first;
                             worker thread only */
    atomic_size_t nattached; /* clients attached: the heap keeps room for
                                one timer each (grown on the worker) */
    mq_client *release;
    uint8_t rbuf[READ_CHUNK]; /* shared read buffer */ /* destroyed this round, signalled after */
    /* a private worker (mq_loop_start): one client, whose callbacks its
     * thread dispatches after each round */
    mq_client *solo;      /* that client; NULL for a shared worker */
    atomic_bool pstop;    /* mq_loop_stop/destroy: hand it back, end */
    bool adopted;         /* it owns solo now (its thread) */
    atomic_bool running;  /* its thread has not finished */
    bool self_woken;      /* mqi_worker_self_wake: run_wakeups due (its
                             thread only) */
};

/* The client's owner lock (issue 20, direct writes): the worker holds it
 * while it works on the client (its commands, socket, timer, hand-over).
 * Another thread only tries it (mqi_conn_direct_publish/_acks, conn.c
 * "direct writes") and holds it for one non-blocking write, so the worker's wait for it is that short; a
 * thread that fails the try leaves the work to the worker as before. Never
 * held while application code runs or while waiting for anything. */
static inline void
mqi_own_lock(mq_client *c)
{
    while (atomic_exchange_explicit(&c->own, 1, memory_order_acquire) != 0)
        sched_yield(); /* a direct write is in progress: it ends soon */
}

static inline bool
mqi_own_try(mq_client *c)
{
    return atomic_load_explicit(&c->own, memory_order_relaxed) == 0 &&
           atomic_exchange_explicit(&c->own, 1, memory_order_acquire) == 0;
}

static inline void
mqi_own_unlock(mq_client *c)
{
    atomic_store_explicit(&c->own, 0, memory_order_release);
}

/* wake.c: write the worker's eventfd (any thread). */
void mqi_worker_kick(mqi_worker *w);
/* The worker this thread runs, or NULL. */
mqi_worker *mqi_worker_current(void);
/* On w's own thread (a callback on a private worker's thread freed an
 * event, or published): its next round looks at the ready list without
 * sleeping, instead of writing its own eventfd. */
void mqi_worker_self_wake(mqi_worker *w);

/* conn.c, called by the loop */
void mqi_conn_init(mq_client *c);                /* joining the worker */
void mqi_conn_commands(mq_client *c);            /* drain the command queue */
void mqi_conn_io(mq_client *c, uint32_t events); /* socket readiness */
void mqi_conn_timer(mq_client *c, int64_t now);  /* its deadline passed */
void mqi_conn_post_flush(mq_client *c);          /* post the round's events */
/* The client wants its timer at @p when (ms, 0 none): the earlier of that
 * and what it had, and the worker's next wakeup. */
void mqi_conn_deadline(mq_client *c, int64_t when);

/* conn.c, for connect.c */
void mqi_conn_close_socket(mq_client *c);  /* close; settle spliced QoS 0 */
void mqi_conn_update_mask(mq_client *c);   /* epoll interest for cs */
void mqi_conn_flush(mq_client *c);         /* write what is encoded */
void mqi_conn_note_attempt(mq_client *c, int err); /* for mq_wait_connected */
void mqi_conn_post_disconnected(mq_client *c, int err, int reason,
                                bool will_reconnect, const char *msg);
bool mqi_conn_outstanding(const mq_client *c); /* anything to deliver? */
void mqi_conn_drain_end(mq_client *c);     /* a graceful disconnect ends */
/* When the graceful disconnect in progress gives up (0: at once). */
int64_t mqi_conn_drain_deadline(const mq_client *c);

/* connect.c */
void mqi_connect_start(mq_client *c);      /* resolve the current server */
void mqi_connect_resolved(mq_client *c, struct addrinfo *res);
void mqi_connect_next_addr(mq_client *c);  /* TCP to the next address */
void mqi_connect_addr_failed(mq_client *c, int err); /* that one failed */
void mqi_connect_tcp_done(mq_client *c);   /* TCP is up: transports */
void mqi_connect_handshake(mq_client *c);  /* step the TLS/WS/proxy layers */
/* An attempt failed before CONNACK: log, close, report and retry or stop. */
void mqi_connect_fail(mq_client *c, int err, const char *msg);
/* Report a lost connection or failed attempt, then retry (backoff, next
 * server) or stop. */
void mqi_connect_lost(mq_client *c, int err, int reason, const char *msg);

#endif
