/*
 * test_loop.c - integration: callbacks with mq_loop, mq_loop_forever,
 * mq_loop_start/mq_loop_stop.
 * Threading: the test thread, plus libmq's loop thread for loop_start
 * tests (shared counters are C11 atomics).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "integ.h"

INTEG_SUITE(loop);

struct counts {
    atomic_int connects, disconnects, messages, subscribed, published;
    atomic_int last_disconnect_error;
    atomic_int wrong_client, wrong_thread;
    mq_client *client;
    pthread_t main_thread;
    int expect_other_thread;
    int stop_after;      /* >0: act after this many messages */
    int stop_with_loop_stop;
    const char *topic;
    int publish_on_subscribe;
};

static void check_cb(mq_client *c, struct counts *k)
{
    if (c != k->client)
        atomic_fetch_add(&k->wrong_client, 1);
    int same = pthread_equal(pthread_self(), k->main_thread);
    if (same == k->expect_other_thread)
        atomic_fetch_add(&k->wrong_thread, 1);
}

static void on_connect(mq_client *c, const mq_event *ev, void *ud)
{
    struct counts *k = ud;
    check_cb(c, k);
    if (mq_event_type(ev) == MQ_EVENT_CONNECT && mq_event_reason(ev) == 0) {
        atomic_fetch_add(&k->connects, 1);
        if (k->publish_on_subscribe)
            mq_subscribe(c, k->topic, 1);
    }
}

static void on_disconnect(mq_client *c, const mq_event *ev, void *ud)
{
    struct counts *k = ud;
    check_cb(c, k);
    atomic_store(&k->last_disconnect_error, mq_event_error(ev));
    atomic_fetch_add(&k->disconnects, 1);
}

static void on_subscribe(mq_client *c, const mq_event *ev, void *ud)
{
    struct counts *k = ud;
    (void)ev;
    check_cb(c, k);
    atomic_fetch_add(&k->subscribed, 1);
    if (k->publish_on_subscribe) {
        for (int i = 0; i < k->publish_on_subscribe; i++)
            mq_publish(c, k->topic, "cb", 2, 1, 0);
    }
}

static void on_publish(mq_client *c, const mq_event *ev, void *ud)
{
    struct counts *k = ud;
    check_cb(c, k);
    if (mq_event_error(ev) == MQ_OK)
        atomic_fetch_add(&k->published, 1);
}

static void on_message(mq_client *c, const mq_event *ev, void *ud)
{
    struct counts *k = ud;
    check_cb(c, k);
    if (k->topic && strcmp(mq_event_topic(ev), k->topic) != 0)
        return;
    int n = atomic_fetch_add(&k->messages, 1) + 1;
    if (k->stop_after > 0 && n == k->stop_after) {
        if (k->stop_with_loop_stop)
            mq_loop_stop(c);
        else
            mq_disconnect(c, 0);
    }
}

static void set_all(mq_client *c, struct counts *k)
{
    k->client = c;
    k->main_thread = pthread_self();
    CHECK_RC(mq_on_connect(c, on_connect, k), MQ_OK);
    CHECK_RC(mq_on_disconnect(c, on_disconnect, k), MQ_OK);
    CHECK_RC(mq_on_subscribe(c, on_subscribe, k), MQ_OK);
    CHECK_RC(mq_on_publish(c, on_publish, k), MQ_OK);
    CHECK_RC(mq_on_message(c, on_message, k), MQ_OK);
}

/* Run mq_loop until *counter >= want, failing after the usual wait. */
static void loop_until(mq_client *c, atomic_int *counter, int want,
                       const char *what)
{
    long long deadline = mqt_now_ms() + INTEG_WAIT_MS;
    while (atomic_load(counter) < want) {
        CHECK(mqt_now_ms() < deadline, "mq_loop: %s is %d, expected %d",
              what, atomic_load(counter), want);
        int n = mq_loop(c, 100);
        CHECK(n >= 0, "mq_loop returned %d (%s)", n, mq_err_name(n));
    }
}

static void loop_dispatch(int proto)
{
    mqt_broker *b = integ_broker(NULL);
    mq_client *c = integ_client(b, "loop", proto);
    struct counts k = {0};

    k.topic = integ_topic("loop");
    set_all(c, &k);
    CHECK_RC(mq_loop(c, 0), 0); /* nothing pending */
    CHECK_RC(mq_connect(c), MQ_OK);
    loop_until(c, &k.connects, 1, "connects");
    CHECK_TOKEN(mq_subscribe(c, k.topic, 1));
    loop_until(c, &k.subscribed, 1, "subscribed");
    for (int i = 0; i < 3; i++)
        CHECK_TOKEN(mq_publish(c, k.topic, "x", 1, 1, 0));
    loop_until(c, &k.messages, 3, "messages");
    loop_until(c, &k.published, 3, "published");
    CHECK_RC(mq_disconnect(c, 0), MQ_OK);
    loop_until(c, &k.disconnects, 1, "disconnects");
    CHECK(atomic_load(&k.last_disconnect_error) == MQ_OK, "disconnect error");
    CHECK(atomic_load(&k.wrong_client) == 0, "callback got another client");
    CHECK(atomic_load(&k.wrong_thread) == 0, "callback on another thread");

    /* a cleared callback drops its events */
    CHECK_RC(mq_on_message(c, NULL, NULL), MQ_OK);
    integ_connect(c);
    integ_subscribe(c, k.topic, 0);
    CHECK_TOKEN(mq_publish(c, k.topic, "y", 1, 0, 0));
    mqt_sleep_ms(200);
    while (mq_loop(c, 50) > 0) {
    }
    CHECK(atomic_load(&k.messages) == 3, "cleared on_message still called");
}

Test(loop, mq_loop_callbacks_v311) { loop_dispatch(MQ_PROTO_V311); }
Test(loop, mq_loop_callbacks_v5) { loop_dispatch(MQ_PROTO_V5); }

Test(loop, loop_forever_until_disconnect)
{
    mqt_broker *b = integ_broker(NULL);
    mq_client *c = integ_client(b, "forever", MQ_PROTO_V5);
    struct counts k = {0};

    k.topic = integ_topic("forever");
    k.publish_on_subscribe = 5;
    k.stop_after = 5;
    set_all(c, &k);
    CHECK_RC(mq_connect(c), MQ_OK);
    int rc = mq_loop_forever(c);
    CHECK(rc == MQ_OK, "mq_loop_forever returned %d (%s)", rc,
          mq_err_name(rc));
    CHECK(atomic_load(&k.messages) == 5, "messages %d",
          atomic_load(&k.messages));
    CHECK(atomic_load(&k.disconnects) == 1, "disconnect callback %d",
          atomic_load(&k.disconnects));
    CHECK(atomic_load(&k.wrong_thread) == 0, "callback on another thread");
}

Test(loop, loop_forever_until_loop_stop)
{
    mqt_broker *b = integ_broker(NULL);
    mq_client *c = integ_client(b, "fstop", MQ_PROTO_V311);
    struct counts k = {0};

    k.topic = integ_topic("fstop");
    k.publish_on_subscribe = 2;
    k.stop_after = 2;
    k.stop_with_loop_stop = 1;
    set_all(c, &k);
    CHECK_RC(mq_connect(c), MQ_OK);
    int rc = mq_loop_forever(c);
    CHECK(rc == MQ_OK, "mq_loop_forever returned %d (%s)", rc,
          mq_err_name(rc));
    CHECK(mq_is_connected(c) == 1, "loop_stop must not disconnect");
    integ_disconnect(c);
}

Test(loop, loop_forever_returns_error_on_lost_connection)
{
    mqt_broker *b = integ_broker(NULL);
    mq_client *c = integ_client(b, "flost", MQ_PROTO_V311);
    struct counts k = {0};

    CHECK_RC(mq_set_int(c, MQ_OPT_RECONNECT, 0), MQ_OK);
    set_all(c, &k);
    integ_connect(c); /* takes the CONNECT event itself */
    CHECK(mqt_broker_kill9(b) == 0, "kill -9");
    int rc = mq_loop_forever(c);
    CHECK(rc != MQ_OK && rc < 0, "mq_loop_forever returned %d (%s)", rc,
          mq_err_name(rc));
    CHECK(atomic_load(&k.disconnects) == 1, "on_disconnect not called");
}

Test(loop, loop_start_stop_thread)
{
    mqt_broker *b = integ_broker(NULL);
    mq_client *c = integ_client(b, "thread", MQ_PROTO_V5);
    mq_client *pub = integ_client(b, "pub", MQ_PROTO_V5);
    struct counts k = {0};

    k.topic = integ_topic("thread");
    k.expect_other_thread = 1;
    set_all(c, &k);
    CHECK_RC(mq_loop_start(c), MQ_OK);
    CHECK_RC(mq_loop_start(c), MQ_ERR_STATE);
    CHECK_RC(mq_loop(c, 0), MQ_ERR_STATE);
    CHECK_RC(mq_connect(c), MQ_OK);
    long long deadline = mqt_now_ms() + INTEG_WAIT_MS;
    while (atomic_load(&k.connects) < 1 && mqt_now_ms() < deadline)
        mqt_sleep_ms(10);
    CHECK(atomic_load(&k.connects) == 1, "on_connect not called");
    CHECK_TOKEN(mq_subscribe(c, k.topic, 1));
    while (atomic_load(&k.subscribed) < 1 && mqt_now_ms() < deadline)
        mqt_sleep_ms(10);
    CHECK(atomic_load(&k.subscribed) == 1, "on_subscribe not called");

    integ_connect(pub);
    for (int i = 0; i < 20; i++)
        CHECK_TOKEN(mq_publish(pub, k.topic, "t", 1, 1, 0));
    deadline = mqt_now_ms() + INTEG_WAIT_MS;
    while (atomic_load(&k.messages) < 20 && mqt_now_ms() < deadline)
        mqt_sleep_ms(10);
    CHECK(atomic_load(&k.messages) == 20, "messages %d",
          atomic_load(&k.messages));
    CHECK_RC(mq_loop_stop(c), MQ_OK);
    CHECK(atomic_load(&k.wrong_thread) == 0,
          "a callback ran on the test thread");
    CHECK(atomic_load(&k.wrong_client) == 0, "callback got another client");

    /* events now wait for the application again */
    CHECK_TOKEN(mq_publish(pub, k.topic, "u", 1, 1, 0));
    mq_event *ev = integ_wait(c, MQ_EVENT_MESSAGE, INTEG_WAIT_MS);
    mq_event_free(ev);
    CHECK(atomic_load(&k.messages) == 20, "callback after loop_stop");
}

Test(loop, destroy_with_loop_thread_running)
{
    mqt_broker *b = integ_broker(NULL);
    mq_client *c = integ_client(b, "dthread", MQ_PROTO_V311);
    struct counts k = {0};

    k.expect_other_thread = 1;
    set_all(c, &k);
    CHECK_RC(mq_loop_start(c), MQ_OK);
    CHECK_RC(mq_connect(c), MQ_OK);
    long long deadline = mqt_now_ms() + INTEG_WAIT_MS;
    while (atomic_load(&k.connects) < 1 && mqt_now_ms() < deadline)
        mqt_sleep_ms(10);
    CHECK(atomic_load(&k.connects) == 1, "on_connect not called");
    integ_client_destroy(c); /* must stop and join the loop thread */
}

/* mq.h: mq_loop_stop gives MQ_ERR_STATE "if none runs". */
Test(loop, loop_stop_without_loop_is_state_error)
{
    mq_client *c = integ_client(NULL, "nostop", MQ_PROTO_V311);
    CHECK_RC(mq_loop_stop(c), MQ_ERR_STATE); /* never started */
    CHECK_RC(mq_loop_start(c), MQ_OK);
    CHECK_RC(mq_loop_stop(c), MQ_OK);
    CHECK_RC(mq_loop_stop(c), MQ_ERR_STATE); /* already stopped */
}

/* After mq_loop_start/mq_loop_stop the pull API waits as before: paho's
 * loop_stop() followed by loop(timeout) calls (or mq_next_event with a
 * timeout) must not become a busy poll returning at once. (The stop flag
 * of the ended loop once made every later wait return immediately; under
 * valgrind the spinning takers starved the worker: stress direct.) */
Test(loop, pull_api_waits_after_loop_stop)
{
    mq_client *c = integ_client(NULL, "pullafter", MQ_PROTO_V311);
    long long t0, dt;
    int i;

    CHECK_RC(mq_loop_start(c), MQ_OK);
    CHECK_RC(mq_loop_stop(c), MQ_OK);
    for (i = 0; i < 2; i++) {
        mq_event *ev;
        t0 = mqt_now_ms();
        ev = mq_next_event(c, 150);
        dt = mqt_now_ms() - t0;
        CHECK(ev == NULL, "no event expected");
        CHECK(dt >= 120, "mq_next_event(150) returned after %lld ms", dt);
        t0 = mqt_now_ms();
        CHECK_RC(mq_loop(c, 150), 0);
        dt = mqt_now_ms() - t0;
        CHECK(dt >= 120, "mq_loop(150) returned after %lld ms", dt);
        /* and again after a second start/stop */
        CHECK_RC(mq_loop_start(c), MQ_OK);
        CHECK_RC(mq_loop_stop(c), MQ_OK);
    }
}

static void
on_unsub_cb(mq_client *c, const mq_event *ev, void *ud)
{
    (void)c;
    if (mq_event_type(ev) == MQ_EVENT_UNSUBSCRIBED)
        atomic_fetch_add((atomic_int *)ud, 1);
}

static void
on_log_cb(mq_client *c, const mq_event *ev, void *ud)
{
    (void)c;
    if (mq_event_type(ev) == MQ_EVENT_LOG && mq_event_message(ev) != NULL &&
        mq_event_log_level(ev) >= MQ_LOG_ERROR)
        atomic_fetch_add((atomic_int *)ud, 1);
}

/* mq_on_unsubscribe and mq_on_log are dispatched by mq_loop; with the log
 * level at NONE no log event is produced at all. */
Test(loop, unsubscribe_and_log_callbacks)
{
    mqt_broker *b = integ_broker(NULL);
    mq_client *c = integ_client(b, "cbunsub", MQ_PROTO_V311);
    const char *topic = integ_topic("cbunsub");
    atomic_int unsubs = 0, logs = 0;
    long long deadline;

    CHECK_RC(mq_on_unsubscribe(c, on_unsub_cb, &unsubs), MQ_OK);
    CHECK_RC(mq_on_log(c, on_log_cb, &logs), MQ_OK);
    CHECK_RC(mq_set_int(c, MQ_OPT_LOG_LEVEL, MQ_LOG_DEBUG), MQ_OK);
    CHECK_RC(mq_connect(c), MQ_OK);
    CHECK_TOKEN(mq_subscribe(c, topic, 0));
    CHECK_TOKEN(mq_unsubscribe(c, topic));
    deadline = mqt_now_ms() + INTEG_WAIT_MS;
    while ((atomic_load(&unsubs) < 1 || atomic_load(&logs) < 2) &&
           mqt_now_ms() < deadline)
        mq_loop(c, 100);
    CHECK(atomic_load(&unsubs) == 1, "on_unsubscribe called %d times",
          atomic_load(&unsubs));
    CHECK(atomic_load(&logs) >= 2, "on_log called %d times",
          atomic_load(&logs));
    CHECK_RC(mq_set_int(c, MQ_OPT_LOG_LEVEL, MQ_LOG_NONE), MQ_OK);
    atomic_store(&logs, 0);
    CHECK_RC(mq_disconnect(c, 0), MQ_OK);
    deadline = mqt_now_ms() + 1000;
    while (mqt_now_ms() < deadline)
        mq_loop(c, 100);
    CHECK(atomic_load(&logs) == 0, "log events with MQ_LOG_NONE");
}

/* Events are taken in batches: a stop in the middle of a batch must leave
 * the rest queued, in order, for the next loop. */
struct order {
    atomic_int n;
    atomic_int out_of_order;
    int stop_at;
};

static void order_on_message(mq_client *c, const mq_event *ev, void *ud)
{
    struct order *o = ud;
    size_t len;
    const char *p = mq_event_payload(ev, &len);
    int n = atomic_load(&o->n);
    if (len != 1 || p[0] != 'a' + n)
        atomic_fetch_add(&o->out_of_order, 1);
    atomic_fetch_add(&o->n, 1);
    if (n + 1 == o->stop_at)
        mq_loop_stop(c);
}

Test(loop, loop_stop_mid_batch_keeps_rest_in_order)
{
    mqt_broker *b = integ_broker(NULL);
    mq_client *c = integ_client(b, "batch", MQ_PROTO_V311);
    const char *topic = integ_topic("batch");
    struct order o = {0};
    long long deadline;

    o.stop_at = 3;
    integ_connect(c);
    integ_subscribe(c, topic, 1);
    CHECK_RC(mq_on_message(c, order_on_message, &o), MQ_OK);
    for (int i = 0; i < 10; i++) {
        char ch = (char)('a' + i);
        CHECK_TOKEN(mq_publish(c, topic, &ch, 1, 1, 0));
    }
    /* let all ten come back before any loop runs, so one take (up to 64
     * events) gets them all */
    deadline = mqt_now_ms() + INTEG_WAIT_MS;
    while (mq_queued_messages(c) > 0 && mqt_now_ms() < deadline)
        mqt_sleep_ms(10);
    CHECK(mq_queued_messages(c) == 0, "publishes not acknowledged");
    mqt_sleep_ms(300);
    CHECK_RC(mq_loop_forever(c), MQ_OK);
    CHECK(atomic_load(&o.n) == 3, "stopped after %d, not 3",
          atomic_load(&o.n));
    deadline = mqt_now_ms() + INTEG_WAIT_MS;
    while (atomic_load(&o.n) < 10 && mqt_now_ms() < deadline)
        CHECK(mq_loop(c, 100) >= 0, "mq_loop");
    CHECK(atomic_load(&o.n) == 10, "messages %d", atomic_load(&o.n));
    CHECK(atomic_load(&o.out_of_order) == 0, "%d out of order",
          atomic_load(&o.out_of_order));
    integ_disconnect(c);
}
