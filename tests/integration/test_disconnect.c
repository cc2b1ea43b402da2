/*
 * test_disconnect.c - integration: the graceful disconnect (issue 12):
 * mq_disconnect delivers what was accepted before it - also while the
 * connection is being made, and across a reconnect - within
 * MQ_OPT_DISCONNECT_TIMEOUT_MS; what it cannot deliver is kept (store,
 * resumable session) or completes with MQ_ERR_ABORTED, never silently;
 * mq_disconnect_now; mq_client_destroy after a disconnect, and with
 * undelivered messages; bad calls during the disconnect.
 * Threading: single-threaded Criterion tests, one process (and broker)
 * each.
 */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "integ.h"

INTEG_SUITE(disconnect);

/* What the events up to the final DISCONNECTED said. */
struct tally {
    int published_ok, published_aborted, published_other;
    int subscribed_ok, subscribed_aborted;
    int disconnected_error;    /* of the final DISCONNECTED */
    char disconnected_msg[200];
};

/* Take events until the final DISCONNECTED (will_reconnect 0). */
static void
tally_until_disconnected(mq_client *c, struct tally *t, int ms)
{
    long long deadline = mqt_now_ms() + ms;
    memset(t, 0, sizeof *t);
    for (;;) {
        long long left = deadline - mqt_now_ms();
        mq_event *ev;
        CHECK(left > 0, "no final DISCONNECTED within %d ms (%d ok, %d "
              "aborted so far)", ms, t->published_ok, t->published_aborted);
        ev = mq_next_event(c, (int)left);
        if (ev == NULL)
            continue;
        switch (mq_event_type(ev)) {
        case MQ_EVENT_PUBLISHED:
            if (mq_event_error(ev) == MQ_OK)
                t->published_ok++;
            else if (mq_event_error(ev) == MQ_ERR_ABORTED)
                t->published_aborted++;
            else
                t->published_other++;
            break;
        case MQ_EVENT_SUBSCRIBED:
            if (mq_event_error(ev) == MQ_ERR_ABORTED)
                t->subscribed_aborted++;
            else
                t->subscribed_ok++;
            break;
        case MQ_EVENT_DISCONNECTED:
            if (!mq_event_will_reconnect(ev)) {
                t->disconnected_error = mq_event_error(ev);
                snprintf(t->disconnected_msg, sizeof t->disconnected_msg,
                         "%s", mq_event_message(ev) ? mq_event_message(ev)
                                                    : "");
                mq_event_free(ev);
                return;
            }
            break;
        default:
            break;
        }
        mq_event_free(ev);
    }
}

/* Wait until @p c has seen its connection go (the broker was stopped).
 * Until then a QoS 0 publish may still be written to the dead socket -
 * directly by the calling thread on an idle connection - and complete OK,
 * as it would with any client: QoS 0 is done once written. */
static void
lost(mq_client *c)
{
    mq_event *ev = integ_wait(c, MQ_EVENT_DISCONNECTED, INTEG_WAIT_MS);
    CHECK(mq_event_will_reconnect(ev), "will_reconnect 0");
    mq_event_free(ev);
}

/* A libmq subscriber on @p topic, connected and subscribed. */
static mq_client *
subscriber(mqt_broker *b, const char *topic)
{
    mq_client *s = integ_client(b, "sub", MQ_PROTO_V311);
    integ_connect(s);
    integ_subscribe(s, topic, 1);
    return s;
}

static int
count_messages(mq_client *s, int want, int ms)
{
    long long deadline = mqt_now_ms() + ms;
    int n = 0;
    while (n < want && mqt_now_ms() < deadline) {
        mq_event *ev = mq_next_event(s, 50);
        if (ev != NULL && mq_event_type(ev) == MQ_EVENT_MESSAGE)
            n++;
        mq_event_free(ev);
    }
    /* and nothing more shortly after */
    for (mq_event *ev; (ev = mq_next_event(s, 200)) != NULL;) {
        if (mq_event_type(ev) == MQ_EVENT_MESSAGE)
            n++;
        mq_event_free(ev);
    }
    return n;
}

/* connect, publish, disconnect before the CONNACK can have arrived: every
 * message arrives, each gets its PUBLISHED, the end is DISCONNECTED OK. */
static void
while_connecting(int proto)
{
    enum { N = 50 };
    mqt_broker *b = integ_broker(NULL);
    const char *topic = integ_topic("dwc");
    mq_client *s = subscriber(b, topic);
    mq_client *c = integ_client(b, "pub", proto);
    struct tally t;

    CHECK_RC(mq_connect(c), MQ_OK);
    for (int i = 0; i < N; i++)
        CHECK_TOKEN(mq_publish(c, topic, "x", 1, 1 + (i & 1), 0));
    CHECK_RC(mq_disconnect(c, 0), MQ_OK);
    tally_until_disconnected(c, &t, 15000);
    CHECK(t.published_ok == N && t.published_aborted == 0, "ok %d aborted %d",
          t.published_ok, t.published_aborted);
    CHECK(t.disconnected_error == MQ_OK, "final error %s",
          mq_err_name(t.disconnected_error));
    CHECK(mq_queued_messages(c) == 0, "%zu queued", mq_queued_messages(c));
    CHECK(count_messages(s, N, 10000) == N, "subscriber count");
    /* the broker saw a DISCONNECT: no Will, a clean end */
    CHECK(mqt_broker_wait_log(b, "Received DISCONNECT from", 2000),
          "no DISCONNECT packet");
}

Test(disconnect, while_connecting_delivers_v311) { while_connecting(MQ_PROTO_V311); }
Test(disconnect, while_connecting_delivers_v5) { while_connecting(MQ_PROTO_V5); }

/* QoS 0 too (the tutorial's first program), and a subscribe. */
Test(disconnect, while_connecting_qos0_and_subscribe)
{
    mqt_broker *b = integ_broker(NULL);
    const char *topic = integ_topic("dq0");
    mq_client *s = subscriber(b, topic);
    mq_client *c = integ_client(b, "pub", MQ_PROTO_V311);
    struct tally t;

    CHECK_RC(mq_set_int(c, MQ_OPT_PUBLISH_EVENTS, 2), MQ_OK);
    CHECK_RC(mq_connect(c), MQ_OK);
    CHECK_TOKEN(mq_subscribe(c, integ_topic("other"), 1));
    for (int i = 0; i < 10; i++)
        CHECK_TOKEN(mq_publish(c, topic, "q0", 2, 0, 0));
    CHECK_RC(mq_disconnect(c, 0), MQ_OK);
    tally_until_disconnected(c, &t, 15000);
    CHECK(t.published_ok == 10 && t.subscribed_ok == 1, "ok %d sub %d",
          t.published_ok, t.subscribed_ok);
    CHECK(count_messages(s, 10, 10000) == 10, "subscriber count");
}

/* The broker is gone: the disconnect tries until its timeout, then every
 * message and the subscribe complete with MQ_ERR_ABORTED (counted in the
 * final event's message), nothing stays queued. */
Test(disconnect, broker_gone_times_out_and_aborts)
{
    mqt_broker *b = integ_broker(NULL);
    mq_client *c = integ_client(b, "gone", MQ_PROTO_V311);
    struct tally t;
    long long t0;

    CHECK_RC(mq_set_int(c, MQ_OPT_RECONNECT_MIN_MS, 100), MQ_OK);
    CHECK_RC(mq_set_int(c, MQ_OPT_DISCONNECT_TIMEOUT_MS, 800), MQ_OK);
    CHECK_RC(mq_set_int(c, MQ_OPT_PUBLISH_EVENTS, 2), MQ_OK);
    integ_connect(c);
    CHECK(mqt_broker_stop(b, 5000) == 0, "stop");
    lost(c);
    for (int i = 0; i < 5; i++)
        CHECK_TOKEN(mq_publish(c, "t/gone", "x", 1, i % 3, 0));
    CHECK_TOKEN(mq_subscribe(c, "t/gone/#", 1));
    t0 = mqt_now_ms();
    CHECK_RC(mq_disconnect(c, 0), MQ_OK);
    tally_until_disconnected(c, &t, 10000);
    CHECK(t.published_aborted == 5 && t.published_ok == 0,
          "aborted %d ok %d", t.published_aborted, t.published_ok);
    CHECK(t.subscribed_aborted == 1, "subscribe aborted %d",
          t.subscribed_aborted);
    CHECK(t.disconnected_error == MQ_OK, "final error %s",
          mq_err_name(t.disconnected_error));
    CHECK(strstr(t.disconnected_msg, "5 aborted") != NULL, "message: %s",
          t.disconnected_msg);
    CHECK(mq_queued_messages(c) == 0, "%zu queued", mq_queued_messages(c));
    CHECK(mqt_now_ms() - t0 >= 700, "gave up after %lld ms",
          mqt_now_ms() - t0);
    CHECK_RC(mq_wait_disconnected(c, 0), MQ_OK);
    CHECK_RC(mq_disconnect(c, 0), MQ_ERR_NO_CONN);
}

/* With reconnect off, a connection lost while the disconnect waits for
 * acknowledgements (the broker frozen, then killed) ends it at once. */
Test(disconnect, lost_with_reconnect_off_aborts_at_once)
{
    mqt_broker *b = integ_broker(NULL);
    mq_client *c = integ_client(b, "lost", MQ_PROTO_V311);
    struct tally t;
    long long t0;

    CHECK_RC(mq_set_int(c, MQ_OPT_RECONNECT, 0), MQ_OK);
    CHECK_RC(mq_set_int(c, MQ_OPT_DISCONNECT_TIMEOUT_MS, 20000), MQ_OK);
    integ_connect(c);
    CHECK(kill(mqt_broker_pid(b), SIGSTOP) == 0, "SIGSTOP");
    for (int i = 0; i < 5; i++)
        CHECK_TOKEN(mq_publish(c, "t/lost", "x", 1, 1 + (i & 1), 0));
    CHECK_RC(mq_disconnect(c, 0), MQ_OK);
    mqt_sleep_ms(200);
    t0 = mqt_now_ms();
    CHECK(mqt_broker_kill9(b) == 0, "kill -9");
    tally_until_disconnected(c, &t, 10000);
    CHECK(mqt_now_ms() - t0 < 5000, "took %lld ms", mqt_now_ms() - t0);
    CHECK(t.published_aborted == 5 && t.published_ok == 0,
          "aborted %d ok %d", t.published_aborted, t.published_ok);
    CHECK(t.disconnected_error == MQ_OK, "final error %s",
          mq_err_name(t.disconnected_error));
    CHECK(mq_queued_messages(c) == 0, "%zu queued", mq_queued_messages(c));
}

/* The broker comes back within the timeout: the disconnect reconnects
 * and delivers. */
Test(disconnect, broker_back_within_timeout_delivers, .timeout = 90)
{
    mqt_broker_opts o = {.persistence = 1};
    mqt_broker *b = integ_broker(&o);
    mq_client *c = integ_client(b, "back", MQ_PROTO_V311);
    struct tally t;

    CHECK_RC(mq_set_int(c, MQ_OPT_RECONNECT_MIN_MS, 100), MQ_OK);
    CHECK_RC(mq_set_int(c, MQ_OPT_RECONNECT_MAX_MS, 300), MQ_OK);
    CHECK_RC(mq_set_int(c, MQ_OPT_DISCONNECT_TIMEOUT_MS, 20000), MQ_OK);
    integ_connect(c);
    CHECK(mqt_broker_stop(b, 5000) == 0, "stop");
    for (int i = 0; i < 3; i++) {
        char topic[64];
        snprintf(topic, sizeof topic, "%s/%d", integ_topic("back"), i);
        CHECK_TOKEN(mq_publish(c, topic, "kept", 4, 1, 1));
    }
    CHECK_RC(mq_disconnect(c, 0), MQ_OK);
    mqt_sleep_ms(500);
    CHECK(mqt_broker_restart(b) == 0, "restart");
    tally_until_disconnected(c, &t, 25000);
    CHECK(t.published_ok == 3 && t.published_aborted == 0, "ok %d aborted %d",
          t.published_ok, t.published_aborted);
    for (int i = 0; i < 3; i++) {
        char topic[64], *out = NULL;
        snprintf(topic, sizeof topic, "%s/%d", integ_topic("back"), i);
        char *argv[] = {"mosquitto_sub", "-p", (char *)integ_port_str(b),
                        "-t", topic, "-C", "1", "-W", "5", NULL};
        CHECK(mqt_run(argv, 10000, &out, NULL) == 0, "retained %s", topic);
        CHECK(strcmp(out, "kept\n") == 0, "retained %s: %s", topic, out);
        free(out);
    }
}

/* Bad calls while the disconnect runs, and after it. */
Test(disconnect, calls_during_and_after)
{
    mqt_broker *b = integ_broker(NULL);
    mq_client *c = integ_client(b, "calls", MQ_PROTO_V311);
    struct tally t;

    CHECK_RC(mq_disconnect(c, 0), MQ_ERR_NO_CONN); /* before connect */
    CHECK_RC(mq_disconnect_now(c, 0), MQ_ERR_NO_CONN);
    CHECK_RC(mq_disconnect_now(NULL, 0), MQ_ERR_INVAL);
    CHECK_RC(mq_disconnect_now(c, 256), MQ_ERR_INVAL);
    CHECK_RC(mq_set_int(c, MQ_OPT_DISCONNECT_TIMEOUT_MS, -1), MQ_ERR_INVAL);
    CHECK_RC(mq_set_int(c, MQ_OPT_DISCONNECT_TIMEOUT_MS, 3600001),
             MQ_ERR_INVAL);
    CHECK_RC(mq_set_int(c, MQ_OPT_DISCONNECT_TIMEOUT_MS, 3000), MQ_OK);
    integ_connect(c);
    CHECK(mqt_broker_stop(b, 5000) == 0, "stop");
    CHECK_TOKEN(mq_publish(c, "t/x", "x", 1, 1, 0)); /* keeps it busy */
    CHECK_RC(mq_disconnect(c, 0), MQ_OK);
    CHECK_RC(mq_disconnect(c, 0), MQ_ERR_STATE);       /* twice */
    CHECK_RC(mq_publish(c, "t/x", "y", 1, 1, 0), MQ_ERR_NO_CONN);
    CHECK_RC(mq_publish(c, "t/x", "y", 1, 0, 0), MQ_ERR_NO_CONN);
    CHECK_RC(mq_subscribe(c, "t/#", 1), MQ_ERR_NO_CONN);
    CHECK_RC(mq_unsubscribe(c, "t/#"), MQ_ERR_NO_CONN);
    CHECK_RC(mq_connect(c), MQ_ERR_STATE);
    CHECK_RC(mq_set_int(c, MQ_OPT_KEEPALIVE_S, 5), MQ_ERR_STATE);
    CHECK_RC(mq_wait_connected(c, 0), MQ_ERR_NO_CONN);
    CHECK_RC(mq_wait_disconnected(c, 0), MQ_ERR_TIMEOUT);
    /* cut it short */
    CHECK_RC(mq_disconnect_now(c, 0), MQ_OK);
    tally_until_disconnected(c, &t, 2000);
    CHECK(t.published_aborted == 1, "aborted %d", t.published_aborted);
    CHECK_RC(mq_wait_disconnected(c, 0), MQ_OK);
    /* idle again: publish queues for the next connect, options settable */
    CHECK_RC(mq_disconnect(c, 0), MQ_ERR_NO_CONN);
    CHECK_RC(mq_set_int(c, MQ_OPT_KEEPALIVE_S, 5), MQ_OK);
    CHECK_TOKEN(mq_publish(c, "t/x", "z", 1, 1, 0));
    CHECK(mq_queued_messages(c) == 1, "%zu queued", mq_queued_messages(c));
}

/* Forced disconnect of a connected client with messages waiting for the
 * inflight window: no waiting; every message completes (some sent, the
 * rest aborted), the end is DISCONNECTED OK and no message is left. */
Test(disconnect, disconnect_now_settles_everything)
{
    enum { N = 2000 };
    mqt_broker *b = integ_broker(NULL);
    mq_client *c = integ_client(b, "now", MQ_PROTO_V311);
    struct tally t;

    CHECK_RC(mq_set_int(c, MQ_OPT_MAX_INFLIGHT, 1), MQ_OK);
    integ_connect(c);
    for (int i = 0; i < N; i++)
        CHECK_TOKEN(mq_publish(c, "t/now", "x", 1, 1, 0));
    CHECK_RC(mq_disconnect_now(c, 0), MQ_OK);
    tally_until_disconnected(c, &t, 5000);
    CHECK(t.published_ok + t.published_aborted == N && t.published_other == 0,
          "ok %d + aborted %d != %d", t.published_ok, t.published_aborted,
          N);
    CHECK(t.published_aborted > 0, "nothing aborted (all %d sent?)",
          t.published_ok);
    CHECK(t.disconnected_error == MQ_OK, "final error %s",
          mq_err_name(t.disconnected_error));
    CHECK(mq_queued_messages(c) == 0, "%zu queued", mq_queued_messages(c));
}

/* With a persistence store the undelivered QoS 1/2 messages are kept (in
 * memory for the next mq_connect, and in the store), QoS 0 is aborted. */
Test(disconnect, persistence_keeps_what_was_not_delivered)
{
    mqt_broker *b = integ_broker(NULL);
    char dir[300];
    mq_client *c = integ_client(b, "store", MQ_PROTO_V311);
    struct tally t;

    snprintf(dir, sizeof dir, "%s/store", mqt_broker_dir(b));
    CHECK_RC(mq_set_str(c, MQ_SOPT_PERSIST_DIR, dir), MQ_OK);
    CHECK_RC(mq_set_int(c, MQ_OPT_DISCONNECT_TIMEOUT_MS, 300), MQ_OK);
    CHECK_RC(mq_set_int(c, MQ_OPT_RECONNECT_MIN_MS, 100), MQ_OK);
    integ_connect(c);
    CHECK(mqt_broker_stop(b, 5000) == 0, "stop");
    lost(c);
    for (int i = 0; i < 3; i++)
        CHECK_TOKEN(mq_publish(c, "t/store", "s", 1, 1 + (i & 1), 0));
    CHECK_TOKEN(mq_publish(c, "t/store", "q0", 2, 0, 0));
    CHECK_RC(mq_disconnect(c, 0), MQ_OK);
    tally_until_disconnected(c, &t, 5000);
    CHECK(t.published_aborted == 1 && t.published_ok == 0,
          "aborted %d (QoS 0 only) ok %d", t.published_aborted,
          t.published_ok);
    CHECK(strstr(t.disconnected_msg, "3 kept") != NULL, "message: %s",
          t.disconnected_msg);
    CHECK(mq_queued_messages(c) == 3, "%zu queued", mq_queued_messages(c));
    /* the next connect delivers them */
    CHECK(mqt_broker_restart(b) == 0, "restart");
    integ_connect(c);
    for (int i = 0; i < 3; i++) {
        mq_event *ev = integ_wait(c, MQ_EVENT_PUBLISHED, INTEG_WAIT_MS);
        CHECK(mq_event_error(ev) == MQ_OK, "error %s",
              mq_err_name(mq_event_error(ev)));
        mq_event_free(ev);
    }
}

/* A publish sent and not acknowledged when the timeout strikes (the
 * broker is frozen with SIGSTOP): in a session the broker keeps it stays
 * in flight and is resent when the client comes back (MQTT-4.4.0-1); in a
 * clean session it is aborted. */
static void
in_flight_at_timeout(int clean)
{
    mqt_broker_opts o = {.persistence = 1};
    mqt_broker *b = integ_broker(&o);
    const char *topic = integ_topic("frozen");
    mq_client *c = integ_client(b, "frozen", MQ_PROTO_V311);
    struct tally t;
    char *out = NULL;
    int tok;

    CHECK_RC(mq_set_int(c, MQ_OPT_CLEAN_START, clean), MQ_OK);
    CHECK_RC(mq_set_int(c, MQ_OPT_DISCONNECT_TIMEOUT_MS, 500), MQ_OK);
    integ_connect(c);
    CHECK(kill(mqt_broker_pid(b), SIGSTOP) == 0, "SIGSTOP");
    tok = CHECK_TOKEN(mq_publish(c, topic, "inflight", 8, 1, 1));
    CHECK_RC(mq_disconnect(c, 0), MQ_OK);
    tally_until_disconnected(c, &t, 10000);
    CHECK(kill(mqt_broker_pid(b), SIGCONT) == 0, "SIGCONT");
    if (clean) {
        CHECK(t.published_aborted == 1, "aborted %d", t.published_aborted);
        CHECK_RC(mq_wait(c, tok, 0), MQ_ERR_ABORTED);
        CHECK(mq_queued_messages(c) == 0, "%zu", mq_queued_messages(c));
        return;
    }
    CHECK(t.published_aborted == 0 && t.published_ok == 0,
          "aborted %d ok %d", t.published_aborted, t.published_ok);
    CHECK(strstr(t.disconnected_msg, "1 kept") != NULL, "message: %s",
          t.disconnected_msg);
    CHECK_RC(mq_wait(c, tok, 0), MQ_ERR_TIMEOUT); /* still pending */
    CHECK(integ_connect(c) == 1, "session not present");
    integ_wait_published(c, tok);
    char *argv[] = {"mosquitto_sub", "-p", (char *)integ_port_str(b), "-t",
                    (char *)topic, "-C", "1", "-W", "5", NULL};
    CHECK(mqt_run(argv, 10000, &out, NULL) == 0, "retained");
    CHECK(strcmp(out, "inflight\n") == 0, "retained: %s", out);
    free(out);
}

Test(disconnect, in_flight_kept_in_persistent_session) { in_flight_at_timeout(0); }
Test(disconnect, in_flight_aborted_in_clean_session) { in_flight_at_timeout(1); }

/* connect, publish, disconnect, destroy (the tutorial's step 1) with many
 * QoS 1 messages and nobody taking events: destroy waits, all arrive. */
Test(disconnect, destroy_waits_for_the_disconnect)
{
    enum { N = 300 };
    mqt_broker *b = integ_broker(NULL);
    const char *topic = integ_topic("dwait");
    mq_client *s = subscriber(b, topic);
    mq_client *c = mq_client_new(integ_id("pub"), MQ_PROTO_V5);

    CHECK(c != NULL, "client");
    CHECK_RC(mq_set_server(c, mqt_broker_uri(b)), MQ_OK);
    CHECK_RC(mq_set_int(c, MQ_OPT_MAX_EVENTS, 50), MQ_OK); /* back-pressure */
    CHECK_RC(mq_connect(c), MQ_OK);
    for (int i = 0; i < N; i++)
        CHECK_TOKEN(mq_publish(c, topic, "d", 1, 1, 0));
    CHECK_RC(mq_disconnect(c, 0), MQ_OK);
    mq_client_destroy(c);
    CHECK(count_messages(s, N, 10000) == N, "subscriber count");
}

/* Same with the callbacks on a loop thread: they still see every
 * PUBLISHED and the final DISCONNECTED before destroy returns. */
static atomic_int g_published, g_disconnected;
static void
cb_published(mq_client *c, const mq_event *ev, void *ud)
{
    (void)c;
    (void)ud;
    if (mq_event_error(ev) == MQ_OK)
        atomic_fetch_add(&g_published, 1);
}
static void
cb_disconnected(mq_client *c, const mq_event *ev, void *ud)
{
    (void)c;
    (void)ud;
    if (!mq_event_will_reconnect(ev))
        atomic_fetch_add(&g_disconnected, 1);
}

Test(disconnect, destroy_with_loop_thread_dispatches_to_the_end)
{
    enum { N = 100 };
    mqt_broker *b = integ_broker(NULL);
    mq_client *c = mq_client_new(integ_id("pubcb"), MQ_PROTO_V311);

    CHECK(c != NULL, "client");
    CHECK_RC(mq_set_server(c, mqt_broker_uri(b)), MQ_OK);
    mq_on_publish(c, cb_published, NULL);
    mq_on_disconnect(c, cb_disconnected, NULL);
    CHECK_RC(mq_loop_start(c), MQ_OK);
    CHECK_RC(mq_connect(c), MQ_OK);
    for (int i = 0; i < N; i++)
        CHECK_TOKEN(mq_publish(c, "t/cb", "d", 1, 1, 0));
    CHECK_RC(mq_disconnect(c, 0), MQ_OK);
    mq_client_destroy(c);
    CHECK(atomic_load(&g_published) == N, "on_publish %d of %d",
          atomic_load(&g_published), N);
    CHECK(atomic_load(&g_disconnected) == 1, "on_disconnect %d",
          atomic_load(&g_disconnected));
}

/* Destroy without a disconnect: the messages it frees are reported, to
 * the log callback when set, else on stderr. */
static char g_log[512];
static void
cb_log(mq_client *c, const mq_event *ev, void *ud)
{
    (void)c;
    (void)ud;
    if (mq_event_log_level(ev) == MQ_LOG_WARNING &&
        strstr(mq_event_message(ev), "mq_client_destroy") != NULL)
        snprintf(g_log, sizeof g_log, "%s", mq_event_message(ev));
}

Test(disconnect, destroy_reports_undelivered_to_on_log)
{
    mq_client *c = mq_client_new(integ_id("lost"), MQ_PROTO_V311);

    CHECK(c != NULL, "client");
    CHECK_RC(mq_set_server(c, "mqtt://127.0.0.1:1"), MQ_OK);
    mq_on_log(c, cb_log, NULL);
    for (int i = 0; i < 7; i++)
        CHECK_TOKEN(mq_publish(c, "t/lost", "x", 1, 1, 0));
    CHECK_RC(mq_connect(c), MQ_OK);
    mq_client_destroy(c);
    CHECK(strstr(g_log, "7 accepted message(s) not delivered") != NULL,
          "log: \"%s\"", g_log);
}

Test(disconnect, destroy_reports_undelivered_on_stderr)
{
    char path[] = "/tmp/mq-destroy-XXXXXX", buf[512] = "";
    int fd = mkstemp(path), saved = dup(2);
    mq_client *c = mq_client_new(integ_id("lost2"), MQ_PROTO_V311);
    FILE *f;

    CHECK(fd >= 0 && saved >= 0 && c != NULL, "setup");
    for (int i = 0; i < 4; i++)
        CHECK_TOKEN(mq_publish(c, "t/lost", "x", 1, i & 1, 0));
    fflush(stderr);
    dup2(fd, 2);
    mq_client_destroy(c);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    f = fdopen(fd, "r");
    rewind(f);
    fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    unlink(path);
    CHECK(strstr(buf, "4 accepted message(s) not delivered") != NULL,
          "stderr: \"%s\"", buf);
}
