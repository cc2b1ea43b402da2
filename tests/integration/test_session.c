/*
 * test_session.c - integration: Last Will, persistent sessions, broker
 * restart with queued QoS 1 messages, broker crash and resubscribe.
 * Threading: single-threaded Criterion tests, one process (and broker) each.
 */
#include <stdlib.h>
#include <string.h>

#include "integ.h"

INTEG_SUITE(session);

static void will_on_destroy(int proto)
{
    mqt_broker *b = integ_broker(NULL);
    mq_client *watch = integ_client(b, "watch", proto);
    mq_client *w = integ_client(b, "will", proto);
    const char *topic = integ_topic("will");

    integ_connect(watch);
    integ_subscribe(watch, topic, 1);
    CHECK_RC(mq_set_will(w, topic, "gone\0!", 6, 1, 0, NULL), MQ_OK);
    integ_connect(w);
    /* abrupt close: no DISCONNECT packet, so the broker sends the Will */
    integ_client_destroy(w);

    mq_event *ev = integ_wait(watch, MQ_EVENT_MESSAGE, INTEG_WAIT_MS);
    size_t n = 0;
    const void *p = mq_event_payload(ev, &n);
    CHECK(strcmp(mq_event_topic(ev), topic) == 0, "topic %s",
          mq_event_topic(ev));
    CHECK(n == 6 && memcmp(p, "gone\0!", 6) == 0, "will payload (len %zu)",
          n);
    CHECK(mq_event_qos(ev) == 1, "will qos %d", mq_event_qos(ev));
    mq_event_free(ev);
}

Test(session, will_fires_on_destroy_v311) { will_on_destroy(MQ_PROTO_V311); }
Test(session, will_fires_on_destroy_v5) { will_on_destroy(MQ_PROTO_V5); }

static void no_will_after_disconnect(int proto)
{
    mqt_broker *b = integ_broker(NULL);
    mq_client *watch = integ_client(b, "watch", proto);
    mq_client *w = integ_client(b, "will", proto);
    const char *topic = integ_topic("will");

    integ_connect(watch);
    integ_subscribe(watch, topic, 1);
    CHECK_RC(mq_set_will(w, topic, "gone", 4, 1, 0, NULL), MQ_OK);
    integ_connect(w);
    integ_disconnect(w);
    integ_client_destroy(w);

    /* give a wrongly sent Will time to arrive, then send a marker: it
     * must be the first message */
    mqt_sleep_ms(300);
    int tok = CHECK_TOKEN(mq_publish(watch, topic, "marker", 6, 1, 0));
    (void)tok;
    mq_event *ev = integ_wait(watch, MQ_EVENT_MESSAGE, INTEG_WAIT_MS);
    size_t n = 0;
    const void *p = mq_event_payload(ev, &n);
    CHECK(n == 6 && memcmp(p, "marker", 6) == 0,
          "first message is not the marker: the Will was sent (len %zu)", n);
    mq_event_free(ev);
}

Test(session, no_will_after_disconnect_v311)
{
    no_will_after_disconnect(MQ_PROTO_V311);
}
Test(session, no_will_after_disconnect_v5)
{
    no_will_after_disconnect(MQ_PROTO_V5);
}

Test(session, will_with_disconnect_reason_0x04_v5)
{
    mqt_broker *b = integ_broker(NULL);
    mq_client *watch = integ_client(b, "watch", MQ_PROTO_V5);
    mq_client *w = integ_client(b, "will", MQ_PROTO_V5);
    const char *topic = integ_topic("will4");

    integ_connect(watch);
    integ_subscribe(watch, topic, 0);
    CHECK_RC(mq_set_will(w, topic, "bye", 3, 0, 0, NULL), MQ_OK);
    integ_connect(w);
    CHECK_RC(mq_disconnect(w, MQ_RC_DISCONNECT_WITH_WILL), MQ_OK);
    mq_event *ev = integ_wait(w, MQ_EVENT_DISCONNECTED, INTEG_WAIT_MS);
    mq_event_free(ev);
    ev = integ_wait(watch, MQ_EVENT_MESSAGE, INTEG_WAIT_MS);
    CHECK(mq_event_payload_len(ev) == 3, "will payload");
    mq_event_free(ev);
}

/* Collect distinct "m<i>" payloads into seen[]; returns the new count. */
static int note_message(mq_event *ev, char *seen, int n_max, int *distinct)
{
    size_t n = 0;
    const char *p = mq_event_payload(ev, &n);
    char buf[32];
    int i;
    CHECK(n > 1 && n < sizeof buf && p[0] == 'm', "unexpected payload");
    snprintf(buf, sizeof buf, "%.*s", (int)n - 1, p + 1);
    i = atoi(buf);
    CHECK(i >= 0 && i < n_max, "index %d out of range", i);
    if (!seen[i]) {
        seen[i] = 1;
        (*distinct)++;
    }
    return *distinct;
}

static void persistent_session(int proto)
{
    enum { N = 5 };
    mqt_broker *b = integ_broker(NULL);
    const char *sid = integ_id("persub");
    const char *topic = integ_topic("persist");
    mq_client *s = integ_client_id(b, sid, proto);
    mq_client *pub = integ_client(b, "pub", proto);
    char seen[N] = {0};
    int distinct = 0;

    CHECK_RC(mq_set_int(s, MQ_OPT_CLEAN_START, 0), MQ_OK);
    if (proto == MQ_PROTO_V5)
        CHECK_RC(mq_set_int(s, MQ_OPT_SESSION_EXPIRY_S, 300), MQ_OK);
    integ_connect(s);
    integ_subscribe(s, topic, 1);
    integ_disconnect(s);

    integ_connect(pub);
    for (int i = 0; i < N; i++) {
        char buf[16];
        int len = snprintf(buf, sizeof buf, "m%d", i);
        int tok = CHECK_TOKEN(mq_publish(pub, topic, buf, (size_t)len, 1, 0));
        integ_wait_published(pub, tok);
    }

    int sp = integ_connect(s);
    CHECK(sp == 1, "session_present is 0: the broker lost the session");
    while (distinct < N) {
        mq_event *ev = integ_wait(s, MQ_EVENT_MESSAGE, INTEG_WAIT_MS);
        CHECK(mq_event_qos(ev) == 1, "qos %d", mq_event_qos(ev));
        note_message(ev, seen, N, &distinct);
        mq_event_free(ev);
    }
    integ_disconnect(s);

    /* clean start again: the session is dropped */
    CHECK_RC(mq_set_int(s, MQ_OPT_CLEAN_START, 1), MQ_OK);
    if (proto == MQ_PROTO_V5)
        CHECK_RC(mq_set_int(s, MQ_OPT_SESSION_EXPIRY_S, 0), MQ_OK);
    sp = integ_connect(s);
    CHECK(sp == 0, "session_present with clean start");
}

Test(session, persistent_session_v311) { persistent_session(MQ_PROTO_V311); }
Test(session, persistent_session_v5) { persistent_session(MQ_PROTO_V5); }

/* A persistent libmq subscriber and a publisher; the broker restarts
 * (SIGTERM, persistence on) in the middle of a stream, and more QoS 1
 * messages are published while it is down (queued in libmq). After both
 * clients reconnect by themselves every message arrives. */
static void broker_restart(int proto)
{
    enum { N = 200 };
    mqt_broker_opts o = {.persistence = 1};
    mqt_broker *b = integ_broker(&o);
    const char *topic = integ_topic("restart");
    mq_client *s = integ_client(b, "sub", proto);
    mq_client *pub = integ_client(b, "pub", proto);
    char seen[N] = {0};
    int distinct = 0;

    CHECK_RC(mq_set_int(s, MQ_OPT_CLEAN_START, 0), MQ_OK);
    if (proto == MQ_PROTO_V5)
        CHECK_RC(mq_set_int(s, MQ_OPT_SESSION_EXPIRY_S, 3600), MQ_OK);
    if (proto == MQ_PROTO_V5)
        CHECK_RC(mq_set_int(pub, MQ_OPT_SESSION_EXPIRY_S, 3600), MQ_OK);
    CHECK_RC(mq_set_int(pub, MQ_OPT_CLEAN_START, 0), MQ_OK);
    for (int i = 0; i < 2; i++) {
        mq_client *c = i ? pub : s;
        CHECK_RC(mq_set_int(c, MQ_OPT_RECONNECT_MIN_MS, 100), MQ_OK);
        CHECK_RC(mq_set_int(c, MQ_OPT_RECONNECT_MAX_MS, 500), MQ_OK);
    }
    integ_connect(s);
    integ_subscribe(s, topic, 1);
    integ_connect(pub);

    /* first half, and stop the broker while it is in flight */
    for (int i = 0; i < N / 2; i++) {
        char buf[16];
        int len = snprintf(buf, sizeof buf, "m%d", i);
        CHECK_TOKEN(mq_publish(pub, topic, buf, (size_t)len, 1, 0));
    }
    CHECK(mqt_broker_stop(b, 5000) == 0, "broker stop");
    /* the publisher notices and will reconnect */
    long long deadline;
    {
        mq_event *ev = integ_wait(pub, MQ_EVENT_DISCONNECTED, INTEG_WAIT_MS);
        int wr = mq_event_will_reconnect(ev);
        mq_event_free(ev);
        CHECK(wr == 1, "publisher will_reconnect=0 after broker stop");
    }
    CHECK(mq_is_connected(pub) == 0, "publisher still connected");
    /* second half, queued in libmq while the broker is down */
    for (int i = N / 2; i < N; i++) {
        char buf[16];
        int len = snprintf(buf, sizeof buf, "m%d", i);
        CHECK_TOKEN(mq_publish(pub, topic, buf, (size_t)len, 1, 0));
    }
    CHECK(mq_queued_messages(pub) >= N / 2, "only %zu queued",
          mq_queued_messages(pub));
    mqt_sleep_ms(300); /* let a reconnect attempt or two fail */
    CHECK(mqt_broker_restart(b) == 0, "broker restart");

    deadline = mqt_now_ms() + 30000;
    while (distinct < N) {
        mq_event *ev;
        CHECK(mqt_now_ms() < deadline, "only %d of %d messages arrived; "
              "publisher has %zu queued", distinct, N,
              mq_queued_messages(pub));
        while ((ev = mq_next_event(pub, 0)) != NULL) {
            if (mq_event_type(ev) == MQ_EVENT_PUBLISHED)
                CHECK(mq_event_error(ev) == MQ_OK, "PUBLISHED error %s",
                      mq_err_name(mq_event_error(ev)));
            mq_event_free(ev);
        }
        ev = mq_next_event(s, 50);
        if (ev && mq_event_type(ev) == MQ_EVENT_MESSAGE)
            note_message(ev, seen, N, &distinct);
        mq_event_free(ev);
    }
    deadline = mqt_now_ms() + INTEG_WAIT_MS;
    while (mq_queued_messages(pub) > 0 && mqt_now_ms() < deadline)
        mq_event_free(mq_next_event(pub, 50));
    CHECK(mq_queued_messages(pub) == 0, "%zu still queued",
          mq_queued_messages(pub));
}

Test(session, broker_restart_keeps_qos1_v311, .timeout = 90)
{
    broker_restart(MQ_PROTO_V311);
}
Test(session, broker_restart_keeps_qos1_v5, .timeout = 90)
{
    broker_restart(MQ_PROTO_V5);
}

/* Same, counted by mosquitto_sub -C N (a client we did not write). */
Test(session, broker_restart_counted_by_mosquitto_sub, .timeout = 90)
{
    enum { N = 50 };
    mqt_broker_opts o = {.persistence = 1};
    mqt_broker *b = integ_broker(&o);
    const char *topic = integ_topic("restart-ms");
    const char *sid = integ_id("msub");
    mq_client *pub = integ_client(b, "pub", MQ_PROTO_V311);
    char count[16], *out = NULL;

    snprintf(count, sizeof count, "%d", N);
    /* persistent session first, so messages are kept across the restart */
    char *s1[] = {"mosquitto_sub", "-p", (char *)integ_port_str(b), "-i",
                  (char *)sid, "-c", "-q", "1", "-t", (char *)topic, "-E",
                  NULL};
    CHECK(mqt_run(s1, 5000, NULL, NULL) == 0, "mosquitto_sub -E");
    CHECK_RC(mq_set_int(pub, MQ_OPT_RECONNECT_MIN_MS, 100), MQ_OK);
    CHECK_RC(mq_set_int(pub, MQ_OPT_RECONNECT_MAX_MS, 500), MQ_OK);
    integ_connect(pub);
    for (int i = 0; i < N / 2; i++) {
        char buf[16];
        int len = snprintf(buf, sizeof buf, "m%d", i);
        CHECK_TOKEN(mq_publish(pub, topic, buf, (size_t)len, 1, 0));
    }
    CHECK(mqt_broker_stop(b, 5000) == 0, "stop");
    mq_event_free(integ_wait(pub, MQ_EVENT_DISCONNECTED, INTEG_WAIT_MS));
    for (int i = N / 2; i < N; i++) {
        char buf[16];
        int len = snprintf(buf, sizeof buf, "m%d", i);
        CHECK_TOKEN(mq_publish(pub, topic, buf, (size_t)len, 1, 0));
    }
    CHECK(mqt_broker_restart(b) == 0, "restart");
    mq_event_free(integ_wait(pub, MQ_EVENT_CONNECT, INTEG_WAIT_MS));
    long long deadline = mqt_now_ms() + 20000;
    while (mq_queued_messages(pub) > 0 && mqt_now_ms() < deadline)
        mq_event_free(mq_next_event(pub, 50));
    CHECK(mq_queued_messages(pub) == 0, "%zu still queued",
          mq_queued_messages(pub));

    char *s2[] = {"mosquitto_sub", "-p", (char *)integ_port_str(b), "-i",
                  (char *)sid, "-c", "-q", "1", "-t", (char *)topic, "-C",
                  count, "-W", "10", NULL};
    CHECK(mqt_run(s2, 15000, &out, NULL) == 0, "mosquitto_sub -C %d", N);
    /* every m<i> exactly... at least once (QoS 1), N lines in total */
    char seen[N] = {0};
    int distinct = 0, lines = 0;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        int i = atoi(line + 1);
        lines++;
        CHECK(line[0] == 'm' && i >= 0 && i < N, "bad line %s", line);
        if (!seen[i]++)
            distinct++;
    }
    CHECK(distinct == N, "%d distinct of %d (%d lines)", distinct, N, lines);
    free(out);
}

/* kill -9 without persistence: the broker forgets the subscription; libmq
 * reconnects and resubscribes by itself. */
static void crash_resubscribe(int proto)
{
    mqt_broker *b = integ_broker(NULL);
    const char *topic = integ_topic("crash");
    mq_client *s = integ_client(b, "sub", proto);
    mq_client *pub = integ_client(b, "pub", proto);

    for (int i = 0; i < 2; i++) {
        mq_client *c = i ? pub : s;
        CHECK_RC(mq_set_int(c, MQ_OPT_RECONNECT_MIN_MS, 100), MQ_OK);
        CHECK_RC(mq_set_int(c, MQ_OPT_RECONNECT_MAX_MS, 500), MQ_OK);
    }
    integ_connect(s);
    integ_subscribe(s, topic, 1);
    integ_connect(pub);
    CHECK(mqt_broker_kill9(b) == 0, "kill -9");
    mq_event *ev = integ_wait(s, MQ_EVENT_DISCONNECTED, INTEG_WAIT_MS);
    CHECK(mq_event_error(ev) != MQ_OK, "DISCONNECTED with MQ_OK on a crash");
    CHECK(mq_event_will_reconnect(ev) == 1, "will_reconnect 0");
    mq_event_free(ev);
    CHECK(mqt_broker_restart(b) == 0, "restart");
    ev = integ_wait(s, MQ_EVENT_CONNECT, INTEG_WAIT_MS);
    CHECK(mq_event_session_present(ev) == 0, "session present after crash");
    mq_event_free(ev);
    mq_event_free(integ_wait(pub, MQ_EVENT_CONNECT, INTEG_WAIT_MS));
    /* the resubscription's SUBACK may or may not be reported; wait for
     * the broker to have it */
    {
        char needle[160];
        long long dl = mqt_now_ms() + 5000;
        snprintf(needle, sizeof needle, "Received SUBSCRIBE from %s",
                 mq_client_id(s));
        while (mqt_broker_log_count(b, needle) < 2 && mqt_now_ms() < dl)
            mqt_sleep_ms(20);
        CHECK(mqt_broker_log_count(b, needle) >= 2,
              "libmq did not resubscribe after the broker lost the session");
    }
    mqt_sleep_ms(100);
    int tok = CHECK_TOKEN(mq_publish(pub, topic, "after", 5, 1, 0));
    integ_wait_published(pub, tok);
    ev = integ_wait(s, MQ_EVENT_MESSAGE, INTEG_WAIT_MS);
    CHECK(mq_event_payload_len(ev) == 5, "payload");
    mq_event_free(ev);
}

Test(session, crash_then_resubscribe_v311) { crash_resubscribe(MQ_PROTO_V311); }
Test(session, crash_then_resubscribe_v5) { crash_resubscribe(MQ_PROTO_V5); }
