/*
 * test_iothread.c - integration: the mq_loop_start() thread as the
 * client's I/O thread (MQ_OPT_LOOP_IO_THREAD, default 1; worker.c
 * "private workers"). Every function that waits for the I/O thread,
 * called from a callback on that thread, returns or errors (no hang):
 * mq_wait, mq_wait_connected, mq_wait_disconnected, a blocking publish,
 * mq_next_event, mq_disconnect, mq_loop_stop, mq_client_destroy; the
 * client moves between the shared worker and its own thread while
 * messages flow (mq_loop_start after mq_connect, as the tutorial does).
 *
 * Threading: the test thread; libmq's loop thread runs the callbacks,
 * which record into C11 atomics that the test thread checks (a failed
 * check must not run on the loop thread).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "integ.h"

INTEG_SUITE(iothread);

/* What a callback did, for the test thread to check. */
struct rec {
    mq_client *c;
    const char *topic;      /* messages of interest */
    const char *out_topic;  /* where the callback publishes */
    atomic_int messages, published, disconnects, done;
    atomic_int rc1, rc2, rc3; /* return codes seen in the callback */
    atomic_llong took_ms;     /* how long the waiting call took */
    int action;               /* what on_message does (ACT_*) */
    int n_publish;
};

enum {
    ACT_NONE,
    ACT_WAIT,          /* publish QoS 1 and mq_wait for it */
    ACT_WAIT_CONNECTED,
    ACT_BLOCKING_PUB,  /* n_publish QoS 1 through a queue of 2 */
    ACT_DISCONNECT,    /* mq_disconnect, then mq_wait_disconnected */
    ACT_LOOP_STOP,
    ACT_DESTROY,       /* publish QoS 1, disconnect, destroy */
    ACT_NEXT_EVENT     /* publish QoS 1, take its PUBLISHED event */
};

static void
on_publish(mq_client *c, const mq_event *ev, void *ud)
{
    struct rec *r = ud;
    (void)c;
    if (mq_event_error(ev) == MQ_OK)
        atomic_fetch_add(&r->published, 1);
}

static void
on_disconnect(mq_client *c, const mq_event *ev, void *ud)
{
    struct rec *r = ud;
    (void)c;
    (void)ev;
    atomic_fetch_add(&r->disconnects, 1);
}

static void
on_message(mq_client *c, const mq_event *ev, void *ud)
{
    struct rec *r = ud;
    long long t0 = mqt_now_ms();
    int tok, i, rc;

    if (strcmp(mq_event_topic(ev), r->topic) != 0)
        return;
    if (atomic_fetch_add(&r->messages, 1) != 0)
        return; /* act on the first message only */
    switch (r->action) {
    case ACT_WAIT:
        tok = mq_publish(c, r->out_topic, "w", 1, 1, 0);
        atomic_store(&r->rc1, tok);
        atomic_store(&r->rc2, tok > 0 ? mq_wait(c, tok, 5000) : tok);
        break;
    case ACT_WAIT_CONNECTED:
        atomic_store(&r->rc1, mq_wait_connected(c, 5000));
        atomic_store(&r->rc2, mq_wait_connected(c, 0));
        break;
    case ACT_BLOCKING_PUB:
        rc = MQ_OK;
        for (i = 0; i < r->n_publish && rc >= 0; i++)
            rc = mq_publish(c, r->out_topic, "b", 1, 1, 0);
        atomic_store(&r->rc1, rc);
        atomic_store(&r->rc2, i);
        break;
    case ACT_DISCONNECT:
        tok = mq_publish(c, r->out_topic, "d", 1, 1, 0);
        atomic_store(&r->rc3, tok);
        atomic_store(&r->rc1, mq_disconnect(c, 0));
        atomic_store(&r->rc2, mq_wait_disconnected(c, 5000));
        break;
    case ACT_LOOP_STOP:
        atomic_store(&r->rc1, mq_loop_stop(c));
        break;
    case ACT_DESTROY:
        atomic_store(&r->rc3, mq_publish(c, r->out_topic, "x", 1, 1, 0));
        atomic_store(&r->rc1, mq_disconnect(c, 0));
        mq_client_destroy(c); /* the thread finishes it after we return */
        break;
    case ACT_NEXT_EVENT: {
        mq_event *e;
        tok = mq_publish(c, r->out_topic, "n", 1, 1, 0);
        atomic_store(&r->rc1, tok);
        e = mq_next_event(c, 5000);
        atomic_store(&r->rc2, e != NULL ? mq_event_type(e) : -1);
        mq_event_free(e);
        break;
    }
    default:
        break;
    }
    atomic_store(&r->took_ms, mqt_now_ms() - t0);
    atomic_store(&r->done, 1);
}

static void
wait_for(atomic_int *v, int want, const char *what)
{
    long long deadline = mqt_now_ms() + INTEG_WAIT_MS;
    while (atomic_load(v) < want && mqt_now_ms() < deadline)
        mqt_sleep_ms(5);
    CHECK(atomic_load(v) >= want, "%s: %d, expected %d", what,
          atomic_load(v), want);
}

/* A subscriber c (loop started after mq_connect, the tutorial's order)
 * whose first message on r->topic runs r->action on its loop thread;
 * @p watch subscribes to r->out_topic first. Returns c. */
static mq_client *
start(mqt_broker *b, struct rec *r, const char *tag, mq_client *watch)
{
    mq_client *c = integ_client(b, tag, MQ_PROTO_V5);
    mq_client *pub = integ_client(b, "pub", MQ_PROTO_V5);

    r->c = c;
    r->topic = integ_topic(tag);
    r->out_topic = integ_topic("out");
    if (watch != NULL) {
        integ_connect(watch);
        integ_subscribe(watch, r->out_topic, 1);
    }
    integ_connect(c);
    integ_subscribe(c, r->topic, 1);
    CHECK_RC(mq_on_message(c, on_message, r), MQ_OK);
    CHECK_RC(mq_on_publish(c, on_publish, r), MQ_OK);
    CHECK_RC(mq_on_disconnect(c, on_disconnect, r), MQ_OK);
    CHECK_RC(mq_loop_start(c), MQ_OK);
    integ_connect(pub);
    CHECK_TOKEN(mq_publish(pub, r->topic, "go", 2, 1, 0));
    wait_for(&r->done, 1, "the callback finished");
    return c;
}

Test(iothread, option_default_and_range)
{
    mq_client *c = integ_client(NULL, "opt", MQ_PROTO_V311);
    int64_t v = -1;

    CHECK_RC(mq_get_int(c, MQ_OPT_LOOP_IO_THREAD, &v), MQ_OK);
    CHECK(v == 1, "default %lld", (long long)v);
    CHECK_RC(mq_set_int(c, MQ_OPT_LOOP_IO_THREAD, 2), MQ_ERR_INVAL);
    CHECK_RC(mq_set_int(c, MQ_OPT_LOOP_IO_THREAD, 0), MQ_OK);
    CHECK_RC(mq_get_int(c, MQ_OPT_LOOP_IO_THREAD, &v), MQ_OK);
    CHECK(v == 0, "after set %lld", (long long)v);
}

Test(iothread, wait_from_callback_completes)
{
    mqt_broker *b = integ_broker(NULL);
    struct rec r = {0};

    r.action = ACT_WAIT;
    start(b, &r, "wait", NULL);
    CHECK(atomic_load(&r.rc1) > 0, "publish %d", atomic_load(&r.rc1));
    CHECK_RC(atomic_load(&r.rc2), MQ_OK);
    CHECK(atomic_load(&r.took_ms) < 5000, "mq_wait took %lld ms",
          (long long)atomic_load(&r.took_ms));
}

Test(iothread, wait_connected_from_callback)
{
    mqt_broker *b = integ_broker(NULL);
    struct rec r = {0};

    r.action = ACT_WAIT_CONNECTED;
    start(b, &r, "wconn", NULL);
    CHECK_RC(atomic_load(&r.rc1), MQ_OK);
    CHECK_RC(atomic_load(&r.rc2), MQ_OK);
}

Test(iothread, blocking_publish_from_callback)
{
    mqt_broker *b = integ_broker(NULL);
    mq_client *watch = integ_client(b, "bwatch", MQ_PROTO_V5);
    struct rec r = {0};

    /* the queue holds 2 messages: the callback's publishes wait for
     * space that only its own thread's writes and PUBACKs make */
    r.action = ACT_BLOCKING_PUB;
    r.n_publish = 50;
    {
        mq_client *s = integ_client(b, "blk", MQ_PROTO_V5);
        mq_client *pub = integ_client(b, "pub", MQ_PROTO_V5);
        r.c = s;
        r.topic = integ_topic("blk");
        r.out_topic = integ_topic("out");
        integ_connect(watch);
        integ_subscribe(watch, r.out_topic, 1);
        CHECK_RC(mq_set_int(s, MQ_OPT_QUEUE_MAX_MSGS, 2), MQ_OK);
        CHECK_RC(mq_set_int(s, MQ_OPT_PUBLISH_TIMEOUT_MS, 5000), MQ_OK);
        integ_connect(s);
        integ_subscribe(s, r.topic, 1);
        CHECK_RC(mq_on_message(s, on_message, &r), MQ_OK);
        CHECK_RC(mq_on_publish(s, on_publish, &r), MQ_OK);
        CHECK_RC(mq_loop_start(s), MQ_OK);
        integ_connect(pub);
        CHECK_TOKEN(mq_publish(pub, r.topic, "go", 2, 1, 0));
        wait_for(&r.done, 1, "the callback finished");
    }
    CHECK(atomic_load(&r.rc1) > 0, "last publish %d (%s)",
          atomic_load(&r.rc1), mq_err_name(atomic_load(&r.rc1)));
    CHECK(atomic_load(&r.rc2) == 50, "%d publishes", atomic_load(&r.rc2));
    wait_for(&r.published, 50, "on_publish");
    for (int i = 0; i < 50; i++)
        mq_event_free(integ_wait(watch, MQ_EVENT_MESSAGE, INTEG_WAIT_MS));
}

Test(iothread, disconnect_and_wait_disconnected_from_callback)
{
    mqt_broker *b = integ_broker(NULL);
    mq_client *watch = integ_client(b, "dwatch", MQ_PROTO_V5);
    struct rec r = {0};

    r.action = ACT_DISCONNECT;
    start(b, &r, "disc", watch);
    CHECK(atomic_load(&r.rc3) > 0, "publish %d", atomic_load(&r.rc3));
    CHECK_RC(atomic_load(&r.rc1), MQ_OK);
    CHECK_RC(atomic_load(&r.rc2), MQ_OK);
    wait_for(&r.disconnects, 1, "on_disconnect");
    wait_for(&r.published, 1, "on_publish");
    /* the message published before the disconnect was delivered */
    mq_event_free(integ_wait(watch, MQ_EVENT_MESSAGE, INTEG_WAIT_MS));
}

Test(iothread, loop_stop_from_callback_hands_back)
{
    mqt_broker *b = integ_broker(NULL);
    struct rec r = {0};
    mq_client *c, *pub;
    mq_event *ev;

    r.action = ACT_LOOP_STOP;
    c = start(b, &r, "lstop", NULL);
    CHECK_RC(atomic_load(&r.rc1), MQ_OK);
    /* the shared worker serves the connection again; events wait for
     * the application */
    pub = integ_client(b, "pub2", MQ_PROTO_V5);
    integ_connect(pub);
    CHECK_TOKEN(mq_publish(pub, r.topic, "more", 4, 1, 0));
    ev = integ_wait(c, MQ_EVENT_MESSAGE, INTEG_WAIT_MS);
    mq_event_free(ev);
    integ_wait_published(c, mq_publish(c, r.out_topic, "p", 1, 1, 0));
    /* and a new loop thread takes over again */
    r.action = ACT_NONE;
    CHECK_RC(mq_loop_start(c), MQ_OK);
    CHECK_TOKEN(mq_publish(pub, r.topic, "again", 5, 1, 0));
    wait_for(&r.messages, 2, "messages after the restart");
    CHECK_RC(mq_loop_stop(c), MQ_OK);
}

Test(iothread, destroy_from_callback)
{
    mqt_broker *b = integ_broker(NULL);
    mq_client *watch = integ_client(b, "xwatch", MQ_PROTO_V5);
    struct rec r = {0};
    /* not the harness's: destroyed by its own callback */
    mq_client *c = mq_client_new(integ_id("destroy"), MQ_PROTO_V5);
    mq_client *pub = integ_client(b, "pub", MQ_PROTO_V5);

    CHECK(c != NULL, "mq_client_new");
    CHECK_RC(mq_set_server(c, mqt_broker_uri(b)), MQ_OK);
    r.action = ACT_DESTROY;
    r.c = c;
    r.topic = integ_topic("destroy");
    r.out_topic = integ_topic("out");
    integ_connect(watch);
    integ_subscribe(watch, r.out_topic, 1);
    integ_connect(c);
    integ_subscribe(c, r.topic, 1);
    CHECK_RC(mq_on_message(c, on_message, &r), MQ_OK);
    CHECK_RC(mq_loop_start(c), MQ_OK);
    integ_connect(pub);
    CHECK_TOKEN(mq_publish(pub, r.topic, "go", 2, 1, 0));
    wait_for(&r.done, 1, "the callback finished");
    CHECK(atomic_load(&r.rc3) > 0, "publish %d", atomic_load(&r.rc3));
    CHECK_RC(atomic_load(&r.rc1), MQ_OK);
    /* connect, publish, disconnect, destroy delivers the message */
    mq_event_free(integ_wait(watch, MQ_EVENT_MESSAGE, INTEG_WAIT_MS));
}

Test(iothread, next_event_from_callback)
{
    mqt_broker *b = integ_broker(NULL);
    struct rec r = {0};

    r.action = ACT_NEXT_EVENT;
    start(b, &r, "next", NULL);
    CHECK(atomic_load(&r.rc1) > 0, "publish %d", atomic_load(&r.rc1));
    CHECK(atomic_load(&r.rc2) == MQ_EVENT_PUBLISHED, "event %d",
          atomic_load(&r.rc2));
}

/* mq_loop_start / mq_loop_stop again and again while a publisher thread
 * and a broker keep the connection busy: every QoS 1 message completes
 * once and comes back once (the client subscribes to its own topic), in
 * order, whichever thread did the I/O at the time. */
struct busy {
    mq_client *c;
    const char *topic;
    int n;
    atomic_int messages, published, out_of_order, stop;
    atomic_int next; /* payload expected next */
};

static void
busy_message(mq_client *c, const mq_event *ev, void *ud)
{
    struct busy *k = ud;
    size_t len;
    const char *p = mq_event_payload(ev, &len);
    int v = 0;
    (void)c;
    for (size_t i = 0; i < len; i++)
        v = v * 10 + (p[i] - '0');
    if (v != atomic_load(&k->next))
        atomic_fetch_add(&k->out_of_order, 1);
    atomic_store(&k->next, v + 1);
    atomic_fetch_add(&k->messages, 1);
}

static void
busy_published(mq_client *c, const mq_event *ev, void *ud)
{
    struct busy *k = ud;
    (void)c;
    if (mq_event_error(ev) == MQ_OK)
        atomic_fetch_add(&k->published, 1);
}

static void *
busy_publisher(void *arg)
{
    struct busy *k = arg;
    char buf[16];
    for (int i = 0; i < k->n; i++) {
        int len = snprintf(buf, sizeof buf, "%d", i);
        if (mq_publish(k->c, k->topic, buf, (size_t)len, 1, 0) < 0)
            break;
        if (i % 50 == 0)
            mqt_sleep_ms(1);
    }
    return NULL;
}

Test(iothread, handover_while_busy)
{
    mqt_broker *b = integ_broker(NULL);
    mq_client *c = integ_client(b, "busy", MQ_PROTO_V5);
    struct busy k;
    pthread_t th;
    long long deadline;

    memset(&k, 0, sizeof k);
    k.c = c;
    k.topic = integ_topic("busy");
    k.n = 3000;
    CHECK_RC(mq_set_int(c, MQ_OPT_PUBLISH_TIMEOUT_MS, 10000), MQ_OK);
    integ_connect(c);
    integ_subscribe(c, k.topic, 1);
    CHECK_RC(mq_on_message(c, busy_message, &k), MQ_OK);
    CHECK_RC(mq_on_publish(c, busy_published, &k), MQ_OK);
    CHECK(pthread_create(&th, NULL, busy_publisher, &k) == 0, "thread");
    for (int i = 0; i < 60; i++) {
        CHECK_RC(mq_loop_start(c), MQ_OK);
        mqt_sleep_ms(i % 3);
        CHECK_RC(mq_loop_stop(c), MQ_OK);
    }
    pthread_join(th, NULL);
    CHECK_RC(mq_loop_start(c), MQ_OK);
    deadline = mqt_now_ms() + 4 * INTEG_WAIT_MS;
    while ((atomic_load(&k.messages) < k.n ||
            atomic_load(&k.published) < k.n) && mqt_now_ms() < deadline)
        mqt_sleep_ms(10);
    CHECK_RC(mq_loop_stop(c), MQ_OK);
    CHECK(atomic_load(&k.published) == k.n, "published %d of %d",
          atomic_load(&k.published), k.n);
    CHECK(atomic_load(&k.messages) == k.n, "received %d of %d",
          atomic_load(&k.messages), k.n);
    CHECK(atomic_load(&k.out_of_order) == 0, "%d out of order",
          atomic_load(&k.out_of_order));
}
