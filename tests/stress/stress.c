/*
 * stress.c - threaded stress programs for TSan/ASan/helgrind (plain main,
 * since Criterion cannot start under TSan): many threads publishing on one
 * client, several threads taking events from one client, clients created
 * and destroyed concurrently, loop_start/loop_stop cycles, options and
 * accessors racing the worker, mq_wait from many threads across a graceful
 * disconnect. Each case: "stress CASE".
 *
 * Threading: the cases start their own threads; ft.h checks exit.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker.h"
#include "ft.h"
#include "mq.h"

static mqt_broker *g_b;

static mqt_broker *
broker(void)
{
    if (g_b == NULL) {
        g_b = mqt_broker_start(NULL);
        FT_CHECK(g_b != NULL, "broker start");
    }
    return g_b;
}

static mq_client *
connected(const char *id, int version)
{
    mq_client *c = mq_client_new(id, version);
    mq_event *ev;

    FT_CHECK(c != NULL, "client_new");
    FT_CHECK(mq_set_server(c, mqt_broker_uri(broker())) == MQ_OK, "server");
    FT_CHECK(mq_connect(c) == MQ_OK, "connect");
    ev = ft_wait(c, MQ_EVENT_CONNECT, 10000);
    FT_CHECK(ev != NULL && mq_event_reason(ev) == 0, "connected");
    mq_event_free(ev);
    return c;
}

/* ---- many publishers on one client, several event takers ------------- */

#define PUB_THREADS 6
#define PUB_EACH 3000

typedef struct {
    mq_client *c;
    int idx;
    char topic[64];
} pubarg;

static atomic_int g_published, g_messages, g_takers_stop;

static void *
publisher(void *arg)
{
    pubarg *a = arg;
    int i;

    for (i = 0; i < PUB_EACH; i++) {
        char msg[32];
        int rc;
        snprintf(msg, sizeof msg, "%d-%d", a->idx, i);
        do {
            rc = mq_publish(a->c, a->topic, msg, strlen(msg), i % 3, 0);
            if (rc == MQ_ERR_QUEUE_FULL)
                usleep(1000);
        } while (rc == MQ_ERR_QUEUE_FULL);
        FT_CHECK(rc > 0, "publish: %s", mq_err_name(rc));
        if (i % 500 == 0) {
            /* accessors racing the worker */
            (void)mq_queued_messages(a->c);
            (void)mq_is_connected(a->c);
            (void)mq_set_int(a->c, MQ_OPT_QUEUE_MAX_MSGS, 100000);
        }
    }
    return NULL;
}

static void *
taker(void *arg)
{
    mq_client *c = arg;

    while (!atomic_load(&g_takers_stop)) {
        mq_event *ev = mq_next_event(c, 50);
        if (ev == NULL)
            continue;
        if (mq_event_type(ev) == MQ_EVENT_PUBLISHED) {
            FT_CHECK(mq_event_error(ev) == MQ_OK, "publish failed %s",
                     mq_err_name(mq_event_error(ev)));
            atomic_fetch_add(&g_published, 1);
        } else if (mq_event_type(ev) == MQ_EVENT_MESSAGE) {
            atomic_fetch_add(&g_messages, 1);
        }
        mq_event_free(ev);
    }
    return NULL;
}

static void
c_many_publishers(void)
{
    mq_client *c = connected("stress-pub", MQ_PROTO_V5);
    pthread_t th[PUB_THREADS], tk[3];
    pubarg a[PUB_THREADS];
    int i, want = PUB_THREADS * PUB_EACH;
    long long until;

    FT_CHECK(mq_set_int(c, MQ_OPT_PUBLISH_EVENTS, 2) == MQ_OK, "pe");
    FT_CHECK(mq_subscribe(c, "stress/#", 2) > 0, "sub");
    for (i = 0; i < 3; i++)
        pthread_create(&tk[i], NULL, taker, c);
    for (i = 0; i < PUB_THREADS; i++) {
        a[i].c = c;
        a[i].idx = i;
        snprintf(a[i].topic, sizeof a[i].topic, "stress/%d", i);
        pthread_create(&th[i], NULL, publisher, &a[i]);
    }
    for (i = 0; i < PUB_THREADS; i++)
        pthread_join(th[i], NULL);
    until = ft_now_ms() + 120000;
    while ((atomic_load(&g_published) < want ||
            atomic_load(&g_messages) < want) && ft_now_ms() < until)
        ft_sleep_ms(50);
    atomic_store(&g_takers_stop, 1);
    for (i = 0; i < 3; i++)
        pthread_join(tk[i], NULL);
    printf("  published %d, messages back %d of %d\n",
           atomic_load(&g_published), atomic_load(&g_messages), want);
    FT_CHECK(atomic_load(&g_published) == want, "not all published");
    FT_CHECK(atomic_load(&g_messages) >= want, "not all messages back");
    mq_client_destroy(c);
}

/* ---- create/destroy concurrently ------------------------------------- */

static void *
churn(void *arg)
{
    int t = (int)(long)arg, i;

    for (i = 0; i < 40; i++) {
        char id[64];
        mq_client *c;
        snprintf(id, sizeof id, "churn-%d-%d", t, i);
        c = mq_client_new(i % 5 == 0 ? "" : id,
                          i % 2 ? MQ_PROTO_V5 : MQ_PROTO_V311);
        FT_CHECK(c != NULL, "client_new");
        mq_set_server(c, i % 3 == 0 ? "mqtt://127.0.0.1:1"
                                    : mqt_broker_uri(g_b));
        mq_set_int(c, MQ_OPT_RECONNECT_MIN_MS, 10);
        if (i % 4 != 3)
            mq_connect(c);
        if (i % 2)
            mq_publish(c, "churn/x", "x", 1, 1, 0);
        if (i % 3 == 1)
            (void)mq_client_id(c);
        if (i % 6 == 2) {
            mq_event *ev = mq_next_event(c, 20);
            mq_event_free(ev);
        }
        if (i % 7 == 4)
            mq_disconnect(c, 0);
        mq_client_destroy(c);
    }
    return NULL;
}

static void
c_create_destroy(void)
{
    pthread_t th[6];
    long i;

    broker();
    for (i = 0; i < 6; i++)
        pthread_create(&th[i], NULL, churn, (void *)i);
    for (i = 0; i < 6; i++)
        pthread_join(th[i], NULL);
}

/* ---- loop_start / loop_stop cycles ----------------------------------- */

static atomic_int g_cb_msgs;

static void
on_msg(mq_client *c, const mq_event *ev, void *ud)
{
    (void)c;
    (void)ev;
    (void)ud;
    atomic_fetch_add(&g_cb_msgs, 1);
}

static void
c_loop_cycles(void)
{
    mq_client *c = connected("stress-loop", MQ_PROTO_V311);
    int i;

    FT_CHECK(mq_on_message(c, on_msg, NULL) == MQ_OK, "cb");
    FT_CHECK(mq_subscribe(c, "loop/#", 1) > 0, "sub");
    for (i = 0; i < 50; i++) {
        int k;
        FT_CHECK(mq_loop_start(c) == MQ_OK, "loop_start %d", i);
        FT_CHECK(mq_loop_start(c) == MQ_ERR_STATE, "double loop_start");
        for (k = 0; k < 20; k++)
            mq_publish(c, "loop/a", "m", 1, 1, 0);
        if (i % 2)
            ft_sleep_ms(5);
        FT_CHECK(mq_loop_stop(c) == MQ_OK, "loop_stop %d", i);
        if (i % 10 == 0)
            FT_CHECK(mq_loop(c, 10) >= 0, "mq_loop");
    }
    FT_CHECK(mq_loop_start(c) == MQ_OK, "last start");
    ft_sleep_ms(500);
    /* destroy with the loop thread still running */
    mq_client_destroy(c);
    printf("  %d messages dispatched\n", atomic_load(&g_cb_msgs));
}

/* ---- reconnect storm while publishing and draining ------------------- */

static void *
drain(void *arg)
{
    mq_client *c = arg;

    while (!atomic_load(&g_takers_stop)) {
        mq_event *ev = mq_next_event(c, 20);
        mq_event_free(ev);
    }
    return NULL;
}

static void
c_broker_restarts(void)
{
    mq_client *c;
    pthread_t th[2];
    int i, k;

    c = mq_client_new("stress-restart", MQ_PROTO_V5);
    FT_CHECK(c != NULL, "new");
    mq_set_server(c, mqt_broker_uri(broker()));
    mq_set_int(c, MQ_OPT_RECONNECT_MIN_MS, 20);
    mq_set_int(c, MQ_OPT_RECONNECT_MAX_MS, 100);
    mq_set_int(c, MQ_OPT_CLEAN_START, 0);
    mq_set_int(c, MQ_OPT_SESSION_EXPIRY_S, 300);
    FT_CHECK(mq_connect(c) == MQ_OK, "connect");
    for (i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, drain, c);
    for (i = 0; i < 4; i++) {
        for (k = 0; k < 300; k++)
            mq_publish(c, "restart/x", "p", 1, k % 3, 0);
        ft_sleep_ms(100);
        FT_CHECK(mqt_broker_kill9(g_b) == 0 || 1, "kill");
        ft_sleep_ms(100);
        FT_CHECK(mqt_broker_restart(g_b) == 0, "restart");
    }
    ft_sleep_ms(300);
    atomic_store(&g_takers_stop, 1);
    for (i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    mq_client_destroy(c);
}

/* ---- an id assigned by the broker while the app reads it ------------- */

static void
c_assigned_id(void)
{
    int i;

    broker();
    for (i = 0; i < 20; i++) {
        mq_client *c = mq_client_new("", MQ_PROTO_V5);
        long long until = ft_now_ms() + 20000; /* slow under valgrind */
        mq_set_server(c, mqt_broker_uri(g_b));
        FT_CHECK(mq_connect(c) == MQ_OK, "connect");
        while (!mq_is_connected(c) && ft_now_ms() < until) {
            const char *id = mq_client_id(c);
            FT_CHECK(id != NULL, "id");
            (void)strlen(id);
            sched_yield(); /* valgrind runs one thread at a time */
        }
        FT_CHECK(mq_is_connected(c), "not connected in time");
        FT_CHECK(mq_client_id(c)[0] != '\0', "no assigned id");
        mq_client_destroy(c);
    }
}

/* The same concurrent create/destroy, spread over a pool of three worker
 * threads that start and stop as clients come and go. */
static void
c_worker_pool(void)
{
    FT_CHECK(mq_set_worker_threads(3) == MQ_OK, "workers");
    c_create_destroy();
    FT_CHECK(mq_set_worker_threads(1) == MQ_OK, "workers");
}

/* ---- blocking helpers and a graceful disconnect, from many threads ---- */

#define WAIT_THREADS 4
#define WAIT_EACH 150

static atomic_int g_wait_ok, g_wait_aborted, g_wait_pending, g_wait_refused;
static atomic_int g_wait_stop; /* the main thread is about to disconnect */

static void *
waiter(void *arg)
{
    mq_client *c = arg;
    int i, rc;

    rc = mq_wait_connected(c, 20000);
    FT_CHECK(rc == MQ_OK || rc == MQ_ERR_NO_CONN, "wait_connected: %s",
             mq_err_name(rc));
    for (i = 0; i < WAIT_EACH && !atomic_load(&g_wait_stop); i++) {
        /* one that slips in after the disconnect finished is queued for
         * a next connect that never comes: its wait times out */
        int tok = mq_publish(c, "wait/x", "p", 1, i % 3, 0);
        if (tok == MQ_ERR_NO_CONN) {
            atomic_fetch_add(&g_wait_refused, 1); /* disconnecting */
            break;
        }
        FT_CHECK(tok > 0, "publish: %s", mq_err_name(tok));
        rc = mq_wait(c, tok, i % 5 == 0 ? 0 : 5000);
        if (rc == MQ_OK)
            atomic_fetch_add(&g_wait_ok, 1);
        else if (rc == MQ_ERR_ABORTED)
            atomic_fetch_add(&g_wait_aborted, 1);
        else if (rc == MQ_ERR_TIMEOUT || rc == MQ_ERR_NOT_FOUND)
            atomic_fetch_add(&g_wait_pending, 1);
        else
            FT_CHECK(0, "mq_wait: %s", mq_err_name(rc));
    }
    return NULL;
}

static void
c_wait_disconnect(void)
{
    int round, i;

    broker();
    for (round = 0; round < 4; round++) {
        char id[32];
        pthread_t th[WAIT_THREADS], dr;
        mq_client *c;

        snprintf(id, sizeof id, "stress-wait-%d", round);
        c = mq_client_new(id, round % 2 ? MQ_PROTO_V5 : MQ_PROTO_V311);
        FT_CHECK(c != NULL, "new");
        mq_set_server(c, mqt_broker_uri(g_b));
        mq_set_int(c, MQ_OPT_DISCONNECT_TIMEOUT_MS, 10000);
        atomic_store(&g_takers_stop, 0);
        atomic_store(&g_wait_stop, 0);
        if (round == 3)
            FT_CHECK(mq_loop_start(c) == MQ_OK, "loop_start");
        else
            pthread_create(&dr, NULL, drain, c);
        FT_CHECK(mq_connect(c) == MQ_OK, "connect");
        for (i = 0; i < WAIT_THREADS; i++)
            pthread_create(&th[i], NULL, waiter, c);
        ft_sleep_ms(20 + 40 * round);
        atomic_store(&g_wait_stop, 1);
        FT_CHECK(mq_disconnect(c, 0) == MQ_OK, "disconnect");
        if (round == 1) {
            int rc = mq_disconnect_now(c, 0); /* NO_CONN: already done */
            FT_CHECK(rc == MQ_OK || rc == MQ_ERR_NO_CONN, "disconnect_now: "
                     "%s", mq_err_name(rc));
        }
        for (i = 0; i < WAIT_THREADS; i++)
            pthread_join(th[i], NULL);
        if (round != 3) {
            FT_CHECK(mq_wait_disconnected(c, 30000) == MQ_OK,
                     "wait_disconnected");
            atomic_store(&g_takers_stop, 1);
            pthread_join(dr, NULL);
        }
        mq_client_destroy(c); /* round 3: waits, the loop thread runs */
    }
    printf("  waits: %d ok, %d aborted, %d pending; %d publishes refused "
           "while disconnecting\n", atomic_load(&g_wait_ok),
           atomic_load(&g_wait_aborted), atomic_load(&g_wait_pending),
           atomic_load(&g_wait_refused));
}

static const ft_case cases[] = {
    {"many_publishers", c_many_publishers},
    {"create_destroy", c_create_destroy},
    {"loop_cycles", c_loop_cycles},
    {"broker_restarts", c_broker_restarts},
    {"assigned_id", c_assigned_id},
    {"worker_pool", c_worker_pool},
    {"wait_disconnect", c_wait_disconnect},
};

static void
cleanup(void)
{
    if (g_b != NULL)
        mqt_broker_destroy(g_b);
    g_b = NULL;
}

#define main ft_main_
FT_MAIN(cases)
#undef main

int
main(int argc, char **argv)
{
    int rc;

    /* on a failed check (exit), the harness's own atexit handler stops the
     * broker; a second handler here would use it after it was freed */
    rc = ft_main_(argc, argv);
    cleanup();
    return rc;
}
