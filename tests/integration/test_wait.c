/*
 * test_wait.c - integration: the blocking helpers mq_wait (outcome of a
 * publish/subscribe/unsubscribe token), mq_wait_connected and
 * mq_wait_disconnected - with the pull API, a loop thread and mq_loop;
 * they never take the application's events; bad input; the deadlock case
 * (MQ_ERR_STATE) inside a callback while the event queue is full.
 * Threading: the test thread, plus libmq's loop thread where a test
 * starts one (shared state is C11 atomics).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "integ.h"

INTEG_SUITE(wait);

/* Publish, wait, and the PUBLISHED event is still there afterwards. */
static void
publish_and_wait(int proto)
{
    mqt_broker *b = integ_broker(NULL);
    mq_client *c = integ_client(b, "w", proto);
    int tok[3];

    CHECK_RC(mq_set_int(c, MQ_OPT_PUBLISH_EVENTS, 2), MQ_OK);
    CHECK_RC(mq_connect(c), MQ_OK);
    CHECK_RC(mq_wait_connected(c, 10000), MQ_OK);
    for (int q = 0; q < 3; q++) {
        tok[q] = CHECK_TOKEN(mq_publish(c, integ_topic("w"), "p", 1, q, 0));
        CHECK_RC(mq_wait(c, tok[q], 10000), MQ_OK);
        CHECK_RC(mq_wait(c, tok[q], 0), MQ_OK); /* remembered */
    }
    /* nothing was taken from the application */
    mq_event_free(integ_wait(c, MQ_EVENT_CONNECT, 1000));
    for (int q = 0; q < 3; q++)
        integ_wait_published(c, tok[q]);
}

Test(wait, publish_qos012_pull_api_v311) { publish_and_wait(MQ_PROTO_V311); }
Test(wait, publish_qos012_pull_api_v5) { publish_and_wait(MQ_PROTO_V5); }

Test(wait, subscribe_and_unsubscribe_tokens)
{
    mqt_broker *b = integ_broker(NULL);
    mq_client *c = integ_client(b, "su", MQ_PROTO_V5);
    int st, ut;

    integ_connect(c);
    st = CHECK_TOKEN(mq_subscribe(c, integ_topic("su/#"), 2));
    CHECK_RC(mq_wait(c, st, 10000), MQ_OK);
    ut = CHECK_TOKEN(mq_unsubscribe(c, integ_topic("su/#")));
    CHECK_RC(mq_wait(c, ut, 10000), MQ_OK);
    {
        mq_event *ev = integ_wait(c, MQ_EVENT_SUBSCRIBED, 1000);
        CHECK(mq_event_token(ev) == st && mq_event_reason_at(ev, 0) == 2,
              "SUBSCRIBED token %d code %d", mq_event_token(ev),
              mq_event_reason_at(ev, 0));
        mq_event_free(ev);
        ev = integ_wait(c, MQ_EVENT_UNSUBSCRIBED, 1000);
        CHECK(mq_event_token(ev) == ut, "UNSUBSCRIBED token");
        mq_event_free(ev);
    }
}

/* A refused publish (v5 PUBACK 0x87 from an ACL) is its outcome. */
Test(wait, refused_publish_outcome)
{
    mqt_broker_opts o = {.acl = "topic readwrite itest/#"};
    mqt_broker *b = integ_broker(&o);
    mq_client *c = integ_client(b, "acl", MQ_PROTO_V5);
    int tok;

    integ_connect(c);
    tok = CHECK_TOKEN(mq_publish(c, "denied/x", "p", 1, 1, 0));
    CHECK_RC(mq_wait(c, tok, 10000), MQ_ERR_REFUSED);
    mq_event *ev = integ_wait(c, MQ_EVENT_PUBLISHED, 1000);
    CHECK(mq_event_reason(ev) == MQ_RC_NOT_AUTHORIZED, "reason 0x%02x",
          (unsigned)mq_event_reason(ev));
    mq_event_free(ev);
}

/* Offline: pending, so a timeout; then the outcome after connecting. */
Test(wait, timeout_then_outcome)
{
    mqt_broker *b = integ_broker(NULL);
    mq_client *c = integ_client(b, "to", MQ_PROTO_V311);
    int tok = CHECK_TOKEN(mq_publish(c, integ_topic("to"), "p", 1, 1, 0));
    long long t0 = mqt_now_ms();

    CHECK_RC(mq_wait(c, tok, 0), MQ_ERR_TIMEOUT);
    CHECK_RC(mq_wait(c, tok, 300), MQ_ERR_TIMEOUT);
    CHECK(mqt_now_ms() - t0 >= 250, "returned after %lld ms",
          mqt_now_ms() - t0);
    CHECK_RC(mq_connect(c), MQ_OK);
    CHECK_RC(mq_wait(c, tok, 10000), MQ_OK);
}

Test(wait, bad_input)
{
    mq_client *c = integ_client(NULL, "bad", MQ_PROTO_V311);
    int tok;

    CHECK_RC(mq_wait(NULL, 1, 0), MQ_ERR_INVAL);
    CHECK_RC(mq_wait(c, 0, 0), MQ_ERR_INVAL);
    CHECK_RC(mq_wait(c, -5, 0), MQ_ERR_INVAL);
    CHECK_RC(mq_wait(c, 1, 0), MQ_ERR_INVAL); /* none issued yet */
    tok = CHECK_TOKEN(mq_publish(c, "t/bad", "p", 1, 1, 0));
    CHECK_RC(mq_wait(c, tok + 1, 0), MQ_ERR_INVAL);
    CHECK_RC(mq_wait(c, tok + 1000, 100), MQ_ERR_INVAL);
    CHECK_RC(mq_wait(c, tok, -2), MQ_ERR_INVAL);
    CHECK_RC(mq_wait(c, tok, 0), MQ_ERR_TIMEOUT);
    CHECK_RC(mq_wait_connected(NULL, 0), MQ_ERR_INVAL);
    CHECK_RC(mq_wait_connected(c, -2), MQ_ERR_INVAL);
    CHECK_RC(mq_wait_connected(c, 1000), MQ_ERR_NO_CONN); /* no connect */
    CHECK_RC(mq_wait_disconnected(NULL, 0), MQ_ERR_INVAL);
    CHECK_RC(mq_wait_disconnected(c, -7), MQ_ERR_INVAL);
    CHECK_RC(mq_wait_disconnected(c, 0), MQ_OK); /* never connected */
}

/* Failures are remembered (the newest 64): an older outcome is then
 * unknown, a newer one still known. */
Test(wait, old_outcomes_not_found)
{
    mqt_broker *b = integ_broker(NULL);
    mq_client *c = integ_client(b, "old", MQ_PROTO_V311);
    int ok_tok, first_fail, last_fail = 0;

    integ_connect(c);
    ok_tok = CHECK_TOKEN(mq_publish(c, "t/old", "p", 1, 1, 0));
    CHECK_RC(mq_wait(c, ok_tok, 10000), MQ_OK);
    CHECK(mqt_broker_stop(b, 5000) == 0, "stop");
    first_fail = CHECK_TOKEN(mq_publish(c, "t/old", "p", 1, 1, 0));
    for (int i = 0; i < 70; i++)
        last_fail = CHECK_TOKEN(mq_publish(c, "t/old", "p", 1, 1, 0));
    CHECK_RC(mq_disconnect_now(c, 0), MQ_OK);
    CHECK_RC(mq_wait_disconnected(c, 10000), MQ_OK);
    CHECK_RC(mq_wait(c, last_fail, 0), MQ_ERR_ABORTED);
    CHECK_RC(mq_wait(c, first_fail, 0), MQ_ERR_NOT_FOUND);
    CHECK_RC(mq_wait(c, ok_tok, 0), MQ_ERR_NOT_FOUND);
}

/* With a loop thread dispatching, mq_wait from another thread works and
 * the callbacks still get every event. */
static atomic_int g_pub_cb, g_sub_cb;
static void
cb_pub(mq_client *c, const mq_event *ev, void *ud)
{
    (void)c;
    (void)ud;
    if (mq_event_error(ev) == MQ_OK)
        atomic_fetch_add(&g_pub_cb, 1);
}
static void
cb_sub(mq_client *c, const mq_event *ev, void *ud)
{
    (void)c;
    (void)ev;
    (void)ud;
    atomic_fetch_add(&g_sub_cb, 1);
}

Test(wait, with_loop_thread)
{
    mqt_broker *b = integ_broker(NULL);
    mq_client *c = integ_client(b, "lt", MQ_PROTO_V311);
    long long deadline;

    mq_on_publish(c, cb_pub, NULL);
    mq_on_subscribe(c, cb_sub, NULL);
    CHECK_RC(mq_loop_start(c), MQ_OK);
    CHECK_RC(mq_connect(c), MQ_OK);
    CHECK_RC(mq_wait_connected(c, 10000), MQ_OK);
    CHECK_RC(mq_wait(c, CHECK_TOKEN(mq_subscribe(c, "t/lt", 1)), 10000),
             MQ_OK);
    for (int i = 0; i < 20; i++)
        CHECK_RC(mq_wait(c, CHECK_TOKEN(mq_publish(c, "t/lt", "p", 1, 1, 0)),
                         10000), MQ_OK);
    deadline = mqt_now_ms() + 5000;
    while ((atomic_load(&g_pub_cb) < 20 || atomic_load(&g_sub_cb) < 1) &&
           mqt_now_ms() < deadline)
        mqt_sleep_ms(10);
    CHECK(atomic_load(&g_pub_cb) == 20 && atomic_load(&g_sub_cb) == 1,
          "callbacks: %d published, %d subscribed", atomic_load(&g_pub_cb),
          atomic_load(&g_sub_cb));
    CHECK_RC(mq_disconnect(c, 0), MQ_OK);
    CHECK_RC(mq_wait_disconnected(c, 10000), MQ_OK);
    CHECK_RC(mq_loop_stop(c), MQ_OK);
}

/* mq_wait before mq_loop dispatches: the callback still gets the event. */
Test(wait, then_mq_loop_dispatches)
{
    mqt_broker *b = integ_broker(NULL);
    mq_client *c = integ_client(b, "ml", MQ_PROTO_V311);
    long long deadline = mqt_now_ms() + 5000;
    int tok;

    atomic_store(&g_pub_cb, 0);
    mq_on_publish(c, cb_pub, NULL);
    CHECK_RC(mq_connect(c), MQ_OK);
    CHECK_RC(mq_wait_connected(c, 10000), MQ_OK);
    tok = CHECK_TOKEN(mq_publish(c, "t/ml", "p", 1, 2, 0));
    CHECK_RC(mq_wait(c, tok, 10000), MQ_OK);
    while (atomic_load(&g_pub_cb) < 1 && mqt_now_ms() < deadline)
        CHECK(mq_loop(c, 100) >= 0, "mq_loop");
    CHECK(atomic_load(&g_pub_cb) == 1, "on_publish %d",
          atomic_load(&g_pub_cb));
}

/* Inside a callback of the loop thread: mq_wait works while the worker
 * reads; once the event queue is full (MQ_OPT_MAX_EVENTS) only this very
 * thread could drain it, so MQ_ERR_STATE instead of a hang. */
struct cbwait {
    const char *out_topic;
    atomic_int first;
    atomic_int rc_connect, rc_full;
    atomic_llong full_ms;
    atomic_int done;
};

static void
cbw_connect(mq_client *c, const mq_event *ev, void *ud)
{
    struct cbwait *k = ud;
    (void)ev;
    atomic_store(&k->rc_connect,
                 mq_wait(c, mq_publish(c, k->out_topic, "c", 1, 1, 0), 10000));
}

static void
cbw_message(mq_client *c, const mq_event *ev, void *ud)
{
    struct cbwait *k = ud;
    long long t0;
    (void)ev;
    if (atomic_exchange(&k->first, 1))
        return;
    mqt_sleep_ms(1000); /* the rest arrive meanwhile: the queue fills */
    t0 = mqt_now_ms();
    atomic_store(&k->rc_full,
                 mq_wait(c, mq_publish(c, k->out_topic, "f", 1, 1, 0), 8000));
    atomic_store(&k->full_ms, mqt_now_ms() - t0);
    atomic_store(&k->done, 1);
}

Test(wait, in_callback_state_when_events_full)
{
    mqt_broker *b = integ_broker(NULL);
    const char *in = integ_topic("flood");
    mq_client *c = integ_client(b, "cbw", MQ_PROTO_V311);
    mq_client *p = integ_client(b, "flooder", MQ_PROTO_V311);
    struct cbwait k = {.out_topic = integ_topic("out")};
    long long deadline;

    atomic_init(&k.rc_connect, 1);
    atomic_init(&k.rc_full, 1);
    CHECK_RC(mq_set_int(c, MQ_OPT_MAX_EVENTS, 3), MQ_OK);
    mq_on_connect(c, cbw_connect, &k);
    mq_on_message(c, cbw_message, &k);
    int st = CHECK_TOKEN(mq_subscribe(c, in, 0));
    CHECK_RC(mq_loop_start(c), MQ_OK);
    CHECK_RC(mq_connect(c), MQ_OK);
    CHECK_RC(mq_wait(c, st, 10000), MQ_OK);
    integ_connect(p);
    for (int i = 0; i < 40; i++)
        CHECK_TOKEN(mq_publish(p, in, "m", 1, 0, 0));
    deadline = mqt_now_ms() + 20000;
    while (!atomic_load(&k.done) && mqt_now_ms() < deadline)
        mqt_sleep_ms(20);
    CHECK(atomic_load(&k.done), "the message callback did not finish");
    CHECK(atomic_load(&k.rc_connect) == MQ_OK, "in on_connect: %s",
          mq_err_name(atomic_load(&k.rc_connect)));
    CHECK(atomic_load(&k.rc_full) == MQ_ERR_STATE, "with the queue full: %s",
          mq_err_name(atomic_load(&k.rc_full)));
    CHECK(atomic_load(&k.full_ms) < 2000, "took %lld ms",
          (long long)atomic_load(&k.full_ms));
    CHECK_RC(mq_loop_stop(c), MQ_OK);
}

/* ---- mq_wait_connected ------------------------------------------------ */

Test(wait, connected_refused_and_reason_kept)
{
    mqt_broker_opts o = {.deny_anonymous = 1};
    mqt_broker *b = integ_broker(&o);
    mq_client *c = integ_client(b, "ref", MQ_PROTO_V5);

    CHECK_RC(mq_set_int(c, MQ_OPT_RECONNECT, 0), MQ_OK);
    CHECK_RC(mq_connect(c), MQ_OK);
    CHECK_RC(mq_wait_connected(c, 10000), MQ_ERR_REFUSED);
    mq_event *ev = integ_wait(c, MQ_EVENT_CONNECT, 1000);
    CHECK(mq_event_reason(ev) >= 0x80, "reason 0x%02x",
          (unsigned)mq_event_reason(ev));
    mq_event_free(ev);
    CHECK_RC(mq_wait_connected(c, 0), MQ_ERR_NO_CONN); /* idle now */
}

/* No broker on the port: the attempt's error, while reconnecting goes on
 * in the background; a broker appearing later is then connected to. */
Test(wait, connected_connrefused_then_ok)
{
    mqt_broker *b = integ_broker(NULL);
    mq_client *c = integ_client(b, "cr", MQ_PROTO_V311);

    CHECK_RC(mq_set_int(c, MQ_OPT_RECONNECT_MIN_MS, 200), MQ_OK);
    CHECK_RC(mq_set_int(c, MQ_OPT_RECONNECT_MAX_MS, 400), MQ_OK);
    CHECK(mqt_broker_stop(b, 5000) == 0, "stop");
    CHECK_RC(mq_connect(c), MQ_OK);
    CHECK_RC(mq_wait_connected(c, 10000), MQ_ERR_CONNREFUSED);
    CHECK(mqt_broker_restart(b) == 0, "restart");
    {
        long long deadline = mqt_now_ms() + 15000;
        int rc;
        while ((rc = mq_wait_connected(c, 2000)) != MQ_OK) {
            CHECK(rc == MQ_ERR_CONNREFUSED, "rc %s", mq_err_name(rc));
            CHECK(mqt_now_ms() < deadline, "never connected");
        }
    }
    CHECK_RC(mq_wait_connected(c, 0), MQ_OK);
}

/* A server that accepts TCP but never answers CONNECT: a timeout. */
Test(wait, connected_timeout)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof a;
    char uri[64];
    mq_client *c = integ_client(NULL, "silent", MQ_PROTO_V311);
    long long t0;

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
          listen(fd, 4) == 0 &&
          getsockname(fd, (struct sockaddr *)&a, &len) == 0, "listener");
    snprintf(uri, sizeof uri, "mqtt://127.0.0.1:%d", ntohs(a.sin_port));
    CHECK_RC(mq_set_server(c, uri), MQ_OK);
    CHECK_RC(mq_connect(c), MQ_OK);
    t0 = mqt_now_ms();
    CHECK_RC(mq_wait_connected(c, 300), MQ_ERR_TIMEOUT);
    CHECK(mqt_now_ms() - t0 >= 250, "after %lld ms", mqt_now_ms() - t0);
    CHECK_RC(mq_wait_connected(c, 0), MQ_ERR_TIMEOUT);
    /* a disconnect ends the wait's reason to wait */
    CHECK_RC(mq_disconnect(c, 0), MQ_OK);
    CHECK_RC(mq_wait_connected(c, 1000), MQ_ERR_NO_CONN);
    CHECK_RC(mq_wait_disconnected(c, 10000), MQ_OK);
    close(fd);
}
