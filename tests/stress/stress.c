/*
 * stress.c - threaded stress programs for TSan/ASan/helgrind (plain main,
 * since Criterion cannot start under TSan): many threads publishing on one
 * client, several threads taking events from one client, clients created
 * and destroyed concurrently, loop_start/loop_stop cycles, options and
 * accessors racing the worker, mq_wait from many threads across a graceful
 * disconnect, hand-overs between the shared worker and the mq_loop_start
 * I/O thread under load, direct writes from publishing and event-freeing
 * threads racing the worker's reconnects. Each case: "stress CASE".
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

/* ---- the loop thread as the I/O thread: hand-overs under load ---------
 * Two threads publish QoS 1 on one client subscribed to its own topic
 * while the main thread starts and stops its loop (each start moves the
 * connection to the loop thread, each stop back to the shared worker);
 * every 100th message the callback publishes and mq_waits on its own
 * thread. At the end every message completed and came back exactly once,
 * and a callback destroys the client. */

#define IOT_EACH 2000

static atomic_int g_iot_msgs, g_iot_pubs, g_iot_wait_bad, g_iot_destroyed;
static atomic_int g_iot_destroy_now;

static void
iot_msg(mq_client *c, const mq_event *ev, void *ud)
{
    int n = atomic_fetch_add(&g_iot_msgs, 1) + 1;
    (void)ud;
    if (strcmp(mq_event_topic(ev), "iot/w") == 0)
        return;
    if (atomic_load(&g_iot_destroy_now)) {
        if (atomic_exchange(&g_iot_destroy_now, 0)) {
            mq_client_destroy(c); /* finished by this thread afterwards */
            atomic_store(&g_iot_destroyed, 1);
        }
        return;
    }
    if (n % 100 == 0) {
        int tok = mq_publish(c, "iot/w", "w", 1, 1, 0);
        int rc = tok > 0 ? mq_wait(c, tok, 10000) : tok;
        if (rc != MQ_OK && rc != MQ_ERR_STATE) /* STATE: events full */
            atomic_fetch_add(&g_iot_wait_bad, 1);
    }
}

static void
iot_pub(mq_client *c, const mq_event *ev, void *ud)
{
    (void)c;
    (void)ud;
    if (mq_event_error(ev) == MQ_OK)
        atomic_fetch_add(&g_iot_pubs, 1);
}

static void *
iot_publisher(void *arg)
{
    mq_client *c = arg;
    int i;

    for (i = 0; i < IOT_EACH; i++) {
        FT_CHECK(mq_publish(c, "iot/p", "m", 1, 1, 0) > 0, "publish %d", i);
        if (i % 100 == 0)
            sched_yield();
    }
    return NULL;
}

static void
c_iothread(void)
{
    /* while the loop is stopped nothing is acknowledged (a message is
     * acknowledged after its callback): the broker must queue, not drop
     * (its default keeps 1,000 per client) */
    static const mqt_broker_opts opts = {
        .extra_conf = "max_queued_messages 0\nmax_inflight_messages 100"};
    mq_client *c;
    pthread_t th[2];
    int i, want = 2 * IOT_EACH;
    int64_t waited = 0;

    g_b = mqt_broker_start(&opts);
    FT_CHECK(g_b != NULL, "broker start");
    c = connected("stress-iot", MQ_PROTO_V5);

    FT_CHECK(mq_set_int(c, MQ_OPT_PUBLISH_TIMEOUT_MS, 20000) == MQ_OK, "opt");
    FT_CHECK(mq_on_message(c, iot_msg, NULL) == MQ_OK, "cb");
    FT_CHECK(mq_on_publish(c, iot_pub, NULL) == MQ_OK, "cb");
    FT_CHECK(mq_subscribe(c, "iot/#", 1) > 0, "sub");
    for (i = 0; i < 2; i++)
        FT_CHECK(pthread_create(&th[i], NULL, iot_publisher, c) == 0, "th");
    for (i = 0; i < 100; i++) {
        FT_CHECK(mq_loop_start(c) == MQ_OK, "loop_start %d", i);
        ft_sleep_ms(i % 4);
        FT_CHECK(mq_loop_stop(c) == MQ_OK, "loop_stop %d", i);
    }
    for (i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    FT_CHECK(mq_loop_start(c) == MQ_OK, "last start");
    /* the callback's own publishes (iot/w) complete too */
    while (waited < 60000 &&
           (atomic_load(&g_iot_pubs) < want + atomic_load(&g_iot_msgs) / 100 - 1
            || atomic_load(&g_iot_msgs) < want)) {
        ft_sleep_ms(20);
        waited += 20;
    }
    printf("  %d messages, %d completions, %d bad waits\n",
           atomic_load(&g_iot_msgs), atomic_load(&g_iot_pubs),
           atomic_load(&g_iot_wait_bad));
    FT_CHECK(atomic_load(&g_iot_msgs) >= want, "messages %d < %d",
             atomic_load(&g_iot_msgs), want);
    FT_CHECK(atomic_load(&g_iot_pubs) >= want, "completions %d < %d",
             atomic_load(&g_iot_pubs), want);
    FT_CHECK(atomic_load(&g_iot_wait_bad) == 0, "mq_wait failed in a callback");
    /* destroyed by a callback on its own I/O thread */
    atomic_store(&g_iot_destroy_now, 1);
    {
        mq_client *p = connected("stress-iot-pub", MQ_PROTO_V5);
        FT_CHECK(mq_publish(p, "iot/p", "x", 1, 1, 0) > 0, "last");
        for (waited = 0; waited < 10000 && !atomic_load(&g_iot_destroyed);
             waited += 10)
            ft_sleep_ms(10);
        FT_CHECK(atomic_load(&g_iot_destroyed), "not destroyed");
        ft_sleep_ms(100); /* the thread finishes the destroy */
        mq_client_destroy(p);
    }
}

/* The calls that wait, from callbacks on the I/O thread (under TSan):
 * publishes into a queue of 2 (each waits for room that only this thread
 * makes), mq_loop_stop from the callback (the main thread starts the loop
 * again: the connection goes back and forth), and at the end
 * mq_disconnect + mq_wait_disconnected. */

static atomic_int g_ioc_msgs, g_ioc_stops, g_ioc_bad, g_ioc_last;

static void
ioc_msg(mq_client *c, const mq_event *ev, void *ud)
{
    int n = atomic_load(&g_ioc_msgs) + 1, i, rc;
    (void)ud;
    if (strcmp(mq_event_topic(ev), "ioc/in") != 0)
        return;
    for (i = 0; i < 5; i++) {
        rc = mq_publish(c, "ioc/out", "o", 1, 1, 0);
        if (rc < 0)
            atomic_fetch_add(&g_ioc_bad, 1);
    }
    if (atomic_load(&g_ioc_last)) {
        if (mq_disconnect(c, 0) != MQ_OK ||
            mq_wait_disconnected(c, 10000) != MQ_OK)
            atomic_fetch_add(&g_ioc_bad, 1);
        atomic_fetch_add(&g_ioc_msgs, 1);
        atomic_store(&g_ioc_last, 2);
        return;
    }
    if (n % 3 == 0 && mq_loop_stop(c) == MQ_OK)
        atomic_fetch_add(&g_ioc_stops, 1);
    atomic_fetch_add(&g_ioc_msgs, 1); /* last: the main thread goes on */
}

static void
c_iothread_calls(void)
{
    mq_client *c = connected("stress-ioc", MQ_PROTO_V5);
    mq_client *p = connected("stress-ioc-pub", MQ_PROTO_V5);
    int i, stops = 0;
    int64_t waited;

    FT_CHECK(mq_set_int(c, MQ_OPT_QUEUE_MAX_MSGS, 2) == MQ_OK, "opt");
    FT_CHECK(mq_set_int(c, MQ_OPT_PUBLISH_TIMEOUT_MS, 10000) == MQ_OK, "opt");
    FT_CHECK(mq_on_message(c, ioc_msg, NULL) == MQ_OK, "cb");
    FT_CHECK(mq_subscribe(c, "ioc/in", 1) > 0, "sub");
    ft_sleep_ms(200);
    FT_CHECK(mq_loop_start(c) == MQ_OK, "loop_start");
    for (i = 0; i < 60; i++) {
        FT_CHECK(mq_publish(p, "ioc/in", "i", 1, 1, 0) > 0, "publish");
        for (waited = 0; waited < 10000 && atomic_load(&g_ioc_msgs) <= i;
             waited += 1)
            ft_sleep_ms(1);
        if (atomic_load(&g_ioc_stops) > stops) {
            stops = atomic_load(&g_ioc_stops);
            FT_CHECK(mq_loop_start(c) == MQ_OK, "restart %d", i);
        }
    }
    atomic_store(&g_ioc_last, 1);
    FT_CHECK(mq_publish(p, "ioc/in", "i", 1, 1, 0) > 0, "publish");
    for (waited = 0; waited < 20000 && atomic_load(&g_ioc_last) != 2;
         waited += 5)
        ft_sleep_ms(5);
    printf("  %d messages, %d stops from callbacks, %d bad\n",
           atomic_load(&g_ioc_msgs), atomic_load(&g_ioc_stops),
           atomic_load(&g_ioc_bad));
    FT_CHECK(atomic_load(&g_ioc_last) == 2, "final callback did not run");
    FT_CHECK(atomic_load(&g_ioc_bad) == 0, "a call failed in a callback");
    FT_CHECK(atomic_load(&g_ioc_msgs) == 61, "messages %d",
             atomic_load(&g_ioc_msgs));
    mq_client_destroy(c);
    mq_client_destroy(p);
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

/* ---- direct writes racing the worker (issue 20) ----------------------
 *
 * Publisher threads whose idle moments let mq_publish write itself, taker
 * threads whose mq_event_free writes PUBACK/PUBREC itself, the worker
 * reading, resending and reconnecting (another client takes the id over
 * five times), and a loop thread started and stopped (the client moves
 * between the shared worker and its own I/O thread). Every QoS 1/2
 * publish completes without error. */

#define DIR_THREADS 3
#define DIR_EACH 1500

static atomic_int g_dir_ok, g_dir_bad, g_dir_msgs, g_dir_stop, g_dir_want;

static void *
dir_publisher(void *arg)
{
    mq_client *c = ((pubarg *)arg)->c;
    int idx = ((pubarg *)arg)->idx, i;

    for (i = 0; i < DIR_EACH; i++) {
        char msg[32];
        int qos = (i + idx) % 3, rc;
        snprintf(msg, sizeof msg, "%d-%d", idx, i);
        rc = mq_publish(c, ((pubarg *)arg)->topic, msg, strlen(msg), qos, 0);
        if (qos == 0 && rc == MQ_ERR_NO_CONN)
            continue; /* QoS 0 between connections: refused, as documented */
        FT_CHECK(rc > 0, "publish: %s", mq_err_name(rc));
        if (qos > 0)
            atomic_fetch_add(&g_dir_want, 1);
        if (i % 4 == 0)
            usleep(50); /* an idle moment: the next publish may write */
    }
    return NULL;
}

static void *
dir_taker(void *arg)
{
    mq_client *c = arg;

    while (!atomic_load(&g_dir_stop)) {
        mq_event *ev = mq_next_event(c, 20);
        if (ev == NULL)
            continue;
        if (mq_event_type(ev) == MQ_EVENT_PUBLISHED) {
            if (mq_event_error(ev) == MQ_OK)
                atomic_fetch_add(&g_dir_ok, 1);
            else if (mq_event_qos(ev) > 0)
                atomic_fetch_add(&g_dir_bad, 1);
        } else if (mq_event_type(ev) == MQ_EVENT_MESSAGE) {
            atomic_fetch_add(&g_dir_msgs, 1);
        }
        mq_event_free(ev); /* a QoS 1/2 message: PUBACK/PUBREC now */
    }
    return NULL;
}

/* the same counts while the loop thread dispatches (kick 2) */
static void
dir_on_publish(mq_client *c, const mq_event *ev, void *ud)
{
    (void)c;
    (void)ud;
    if (mq_event_error(ev) == MQ_OK)
        atomic_fetch_add(&g_dir_ok, 1);
    else if (mq_event_qos(ev) > 0)
        atomic_fetch_add(&g_dir_bad, 1);
}

static void
dir_on_message(mq_client *c, const mq_event *ev, void *ud)
{
    (void)c;
    (void)ev;
    (void)ud;
    atomic_fetch_add(&g_dir_msgs, 1);
}

static void
c_direct(void)
{
    mq_client *c = mq_client_new("stress-direct", MQ_PROTO_V5);
    pthread_t th[DIR_THREADS], tk[2];
    pubarg a[DIR_THREADS];
    long long until;
    int i, kicks = 0;
    mq_event *ev;

    FT_CHECK(c != NULL, "client_new");
    FT_CHECK(mq_set_server(c, mqt_broker_uri(broker())) == MQ_OK, "server");
    mq_set_int(c, MQ_OPT_CLEAN_START, 0);
    mq_set_int(c, MQ_OPT_SESSION_EXPIRY_S, 300);
    mq_set_int(c, MQ_OPT_RECONNECT_MIN_MS, 10);
    mq_set_int(c, MQ_OPT_MAX_INFLIGHT, 5);
    mq_set_int(c, MQ_OPT_PUBLISH_EVENTS, 1);
    mq_on_publish(c, dir_on_publish, NULL);
    mq_on_message(c, dir_on_message, NULL);
    FT_CHECK(mq_connect(c) == MQ_OK, "connect");
    ev = ft_wait(c, MQ_EVENT_CONNECT, 10000);
    FT_CHECK(ev != NULL, "connected");
    mq_event_free(ev);
    FT_CHECK(mq_subscribe(c, "stressd/#", 2) > 0, "sub");
    ev = ft_wait(c, MQ_EVENT_SUBSCRIBED, 10000);
    FT_CHECK(ev != NULL, "subscribed");
    mq_event_free(ev);
    for (i = 0; i < 2; i++)
        pthread_create(&tk[i], NULL, dir_taker, c);
    for (i = 0; i < DIR_THREADS; i++) {
        a[i].c = c;
        a[i].idx = i;
        snprintf(a[i].topic, sizeof a[i].topic, "stressd/%d", i);
        pthread_create(&th[i], NULL, dir_publisher, &a[i]);
    }
    for (kicks = 0; kicks < 5; kicks++) {
        mq_client *k = mq_client_new("stress-direct", MQ_PROTO_V5);
        ft_sleep_ms(80);
        FT_CHECK(k != NULL, "kicker");
        mq_set_server(k, mqt_broker_uri(broker()));
        mq_set_int(k, MQ_OPT_CLEAN_START, 0);
        mq_set_int(k, MQ_OPT_SESSION_EXPIRY_S, 300);
        mq_set_int(k, MQ_OPT_RECONNECT, 0);
        FT_CHECK(mq_connect(k) == MQ_OK, "kicker connect");
        ev = ft_wait(k, MQ_EVENT_CONNECT, 10000);
        mq_event_free(ev);
        mq_client_destroy(k); /* c reconnects and takes its session back */
        if (kicks == 2) {
            /* to the loop thread's private worker and back, meanwhile */
            FT_CHECK(mq_loop_start(c) == MQ_OK, "loop_start");
            ft_sleep_ms(30);
            FT_CHECK(mq_loop_stop(c) == MQ_OK, "loop_stop");
        }
    }
    for (i = 0; i < DIR_THREADS; i++)
        pthread_join(th[i], NULL);
    until = ft_now_ms() + 120000;
    while (atomic_load(&g_dir_ok) + atomic_load(&g_dir_bad) <
               atomic_load(&g_dir_want) &&
           ft_now_ms() < until)
        ft_sleep_ms(50);
    atomic_store(&g_dir_stop, 1);
    for (i = 0; i < 2; i++)
        pthread_join(tk[i], NULL);
    printf("  QoS 1/2 completed %d of %d (failed %d), messages back %d\n",
           atomic_load(&g_dir_ok), atomic_load(&g_dir_want),
           atomic_load(&g_dir_bad), atomic_load(&g_dir_msgs));
    FT_CHECK(atomic_load(&g_dir_bad) == 0, "QoS 1/2 publishes failed");
    FT_CHECK(atomic_load(&g_dir_ok) == atomic_load(&g_dir_want),
             "not all QoS 1/2 publishes completed");
    FT_CHECK(atomic_load(&g_dir_msgs) > 0, "no message came back");
    mq_client_destroy(c);
}

static const ft_case cases[] = {
    {"many_publishers", c_many_publishers},
    {"create_destroy", c_create_destroy},
    {"loop_cycles", c_loop_cycles},
    {"broker_restarts", c_broker_restarts},
    {"assigned_id", c_assigned_id},
    {"worker_pool", c_worker_pool},
    {"wait_disconnect", c_wait_disconnect},
    {"iothread", c_iothread},
    {"iothread_calls", c_iothread_calls},
    {"direct", c_direct},
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
