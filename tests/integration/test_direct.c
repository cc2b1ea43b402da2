/*
 * test_direct.c - integration: mq_publish and mq_event_free writing to the
 * socket on the calling thread when the connection is idle (issue 20;
 * conn.c "direct writes"), as a user sees it: a publish never overtakes
 * what was queued before it, round trips at QoS 0/1/2 stay in order and
 * exactly once where MQTT says so, a small inflight window mixes direct
 * and queued publishes without reordering, persistence (which always goes
 * through the worker) still works, and publishing threads racing a
 * connection that the broker drops lose nothing.
 *
 * Threading: the test thread, plus the publisher thread of the reconnect
 * test (which only publishes; its results are checked on the test thread).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "integ.h"

INTEG_SUITE(direct);

/* Wait for the MESSAGE on @p topic whose payload starts with @p seq,
 * failing on other MESSAGEs of that topic (order) or a disconnect. */
static void
wait_seq(mq_client *c, const char *topic, uint32_t seq)
{
    long long until = mqt_now_ms() + INTEG_WAIT_MS;

    for (;;) {
        mq_event *ev = mq_next_event(c, 200);
        CHECK(mqt_now_ms() < until, "message %u did not come back", seq);
        if (ev == NULL)
            continue;
        CHECK(mq_event_type(ev) != MQ_EVENT_DISCONNECTED,
              "disconnected: %s", mq_err_name(mq_event_error(ev)));
        if (mq_event_type(ev) == MQ_EVENT_PUBLISHED)
            CHECK(mq_event_error(ev) == MQ_OK, "PUBLISHED error %s",
                  mq_err_name(mq_event_error(ev)));
        if (mq_event_type(ev) == MQ_EVENT_MESSAGE &&
            strcmp(mq_event_topic(ev), topic) == 0) {
            size_t n;
            const void *p = mq_event_payload(ev, &n);
            uint32_t got;
            CHECK(n >= sizeof got, "short payload %zu", n);
            memcpy(&got, p, sizeof got);
            CHECK(got == seq, "message %u came where %u was expected", got,
                  seq);
            mq_event_free(ev);
            return;
        }
        mq_event_free(ev);
    }
}

/* A SUBSCRIBE queued just before a publish to its topic goes out first:
 * the message comes back (a publish written ahead of the queued SUBSCRIBE
 * would reach the broker before the subscription). */
Test(direct, publish_after_queued_subscribe)
{
    mqt_broker *b = integ_broker(NULL);
    mq_client *c = integ_client(b, "subpub", MQ_PROTO_V311);
    int i;

    integ_connect(c);
    for (i = 0; i < 20; i++) {
        char t[64];
        uint32_t seq = (uint32_t)i;
        snprintf(t, sizeof t, "%s/%d", integ_topic("sp"), i);
        CHECK_TOKEN(mq_subscribe(c, t, 1));
        CHECK_TOKEN(mq_publish(c, t, &seq, sizeof seq, i % 2, 0));
        wait_seq(c, t, seq);
    }
}

/* The pull-API round trip (bench/'s rtt): each publish follows a read, so
 * it is the one that goes direct, each freed QoS 1/2 message acknowledges
 * directly; QoS 0/1/2 in turn, every message back once and in order, and
 * nothing left queued. */
static void
rtt_in_order(int proto)
{
    mqt_broker *b = integ_broker(NULL);
    mq_client *c = integ_client(b, "rtt", proto);
    const char *t = integ_topic("rtt");
    uint32_t i;
    long long until;

    CHECK_RC(mq_set_int(c, MQ_OPT_PUBLISH_EVENTS, 1), MQ_OK);
    integ_connect(c);
    integ_subscribe(c, t, 2);
    for (i = 0; i < 600; i++) {
        CHECK_TOKEN(mq_publish(c, t, &i, sizeof i, (int)(i % 3), 0));
        wait_seq(c, t, i);
    }
    until = mqt_now_ms() + INTEG_WAIT_MS;
    while (mq_queued_messages(c) > 0 && mqt_now_ms() < until)
        mq_event_free(mq_next_event(c, 50));
    CHECK(mq_queued_messages(c) == 0, "%zu messages still queued",
          mq_queued_messages(c));
    /* a duplicate would show up now */
    for (;;) {
        mq_event *ev = mq_next_event(c, 300);
        if (ev == NULL)
            break;
        CHECK(mq_event_type(ev) != MQ_EVENT_MESSAGE, "a message came twice");
        mq_event_free(ev);
    }
    integ_disconnect(c);
}
Test(direct, rtt_qos012_in_order_v311) { rtt_in_order(MQ_PROTO_V311); }
Test(direct, rtt_qos012_in_order_v5) { rtt_in_order(MQ_PROTO_V5); }

/* A window of 2 in flight, bursts of QoS 1 between reads: publishes that
 * go direct and publishes that wait in the session interleave; the other
 * client gets all of them, in order, once. */
Test(direct, window_mixes_direct_and_queued_in_order)
{
    mqt_broker *b = integ_broker(NULL);
    mq_client *p = integ_client(b, "wp", MQ_PROTO_V5);
    mq_client *s = integ_client(b, "ws", MQ_PROTO_V5);
    const char *t = integ_topic("win");
    uint32_t i, next = 0, n = 3000;
    long long until;

    CHECK_RC(mq_set_int(p, MQ_OPT_MAX_INFLIGHT, 2), MQ_OK);
    CHECK_RC(mq_set_int(p, MQ_OPT_PUBLISH_EVENTS, 0), MQ_OK);
    integ_connect(s);
    integ_subscribe(s, t, 1);
    integ_connect(p);
    until = mqt_now_ms() + 30000;
    for (i = 0; next < n && mqt_now_ms() < until;) {
        mq_event *ev;
        if (i < n) {
            CHECK_TOKEN(mq_publish(p, t, &i, sizeof i, 1, 0));
            if (++i % 7 == 0) {
                /* let some acknowledgements in: the next publish may
                 * write itself */
                mq_event_free(mq_next_event(p, 1));
            }
        }
        /* the subscriber keeps up (mosquitto queues at most 1,000) */
        ev = mq_next_event(s, i < n ? 0 : 200);
        if (ev == NULL)
            continue;
        if (mq_event_type(ev) == MQ_EVENT_MESSAGE) {
            uint32_t got;
            memcpy(&got, mq_event_payload(ev, NULL), sizeof got);
            CHECK(got == next, "got %u, expected %u", got, next);
            CHECK(mq_event_dup(ev) == 0, "a resend without a reconnect");
            next++;
        }
        mq_event_free(ev);
    }
    CHECK(next == n, "%u of %u messages arrived", next, n);
}

/* With persistence every QoS 1/2 publish is stored before mq_publish
 * returns and sent by the worker (its store tick); round trips at QoS 1
 * and 2 work and leave nothing queued. */
Test(direct, persistence_round_trips)
{
    mqt_broker *b = integ_broker(NULL);
    mq_client *c = integ_client(b, "persist", MQ_PROTO_V311);
    const char *t = integ_topic("pers");
    char dir[512];
    uint32_t i;
    long long until;

    snprintf(dir, sizeof dir, "%s/store", mqt_broker_dir(b));
    CHECK_RC(mq_set_str(c, MQ_SOPT_PERSIST_DIR, dir), MQ_OK);
    integ_connect(c);
    integ_subscribe(c, t, 2);
    for (i = 0; i < 200; i++) {
        CHECK_TOKEN(mq_publish(c, t, &i, sizeof i, 1 + (int)(i % 2), 0));
        wait_seq(c, t, i);
    }
    until = mqt_now_ms() + INTEG_WAIT_MS;
    while (mq_queued_messages(c) > 0 && mqt_now_ms() < until)
        mq_event_free(mq_next_event(c, 50));
    CHECK(mq_queued_messages(c) == 0, "%zu messages still queued",
          mq_queued_messages(c));
    integ_disconnect(c);
}

/* ---- a publisher racing lost connections ------------------------------ */

struct racer {
    mq_client *c;
    const char *topic;
    uint32_t n;
    atomic_int bad; /* a publish call that failed */
    atomic_int done;
};

static void *
race_publisher(void *arg)
{
    struct racer *r = arg;
    uint32_t i;

    for (i = 0; i < r->n; i++) {
        int rc = mq_publish(r->c, r->topic, &i, sizeof i, 1 + (int)(i % 2),
                            0);
        if (rc < 0)
            atomic_store(&r->bad, rc);
        usleep(100); /* idle moments: direct writes; and time for the
                        five lost connections before the end */
    }
    atomic_store(&r->done, 1);
    return NULL;
}

/* A thread publishes QoS 1/2 while the broker drops the connection five
 * times (another client takes over the client id) and libmq reconnects
 * with its session: every message completes without error and reaches the
 * subscriber, QoS 2 once. Direct writes racing the worker's reconnect are
 * the point (TSan runs the same in tests/stress, case "direct"). */
Test(direct, publisher_races_reconnects)
{
    mqt_broker *b = integ_broker(NULL);
    mq_client *p = integ_client_id(b, integ_id("racer"), MQ_PROTO_V5);
    mq_client *s = integ_client(b, "rsub", MQ_PROTO_V5);
    const char *t = integ_topic("race");
    struct racer r;
    pthread_t th;
    unsigned char *seen;
    uint32_t n = 4000, got = 0, completed = 0, i;
    int kicks = 0;
    long long until, next_kick;

    seen = calloc(n, 1);
    CHECK(seen != NULL, "memory");
    CHECK_RC(mq_set_int(p, MQ_OPT_CLEAN_START, 0), MQ_OK);
    CHECK_RC(mq_set_int(p, MQ_OPT_SESSION_EXPIRY_S, 300), MQ_OK);
    CHECK_RC(mq_set_int(p, MQ_OPT_RECONNECT_MIN_MS, 10), MQ_OK);
    CHECK_RC(mq_set_int(p, MQ_OPT_PUBLISH_EVENTS, 1), MQ_OK);
    integ_connect(s);
    integ_subscribe(s, t, 2);
    integ_connect(p);
    memset(&r, 0, sizeof r);
    r.c = p;
    r.topic = t;
    r.n = n;
    CHECK(pthread_create(&th, NULL, race_publisher, &r) == 0, "thread");
    until = mqt_now_ms() + 45000;
    next_kick = mqt_now_ms() + 50;
    while ((got < n || completed < n || kicks < 5) &&
           mqt_now_ms() < until) {
        mq_event *ev;
        if (kicks < 5 && mqt_now_ms() >= next_kick) {
            /* the same client id from elsewhere: mosquitto closes p */
            mq_client *k = integ_client_id(b, mq_client_id(p), MQ_PROTO_V5);
            mq_set_int(k, MQ_OPT_CLEAN_START, 0);
            mq_set_int(k, MQ_OPT_SESSION_EXPIRY_S, 300);
            integ_connect(k);
            integ_client_destroy(k);
            kicks++;
            next_kick = mqt_now_ms() + 60;
        }
        while ((ev = mq_next_event(p, 0)) != NULL) {
            if (mq_event_type(ev) == MQ_EVENT_PUBLISHED) {
                CHECK(mq_event_error(ev) == MQ_OK, "PUBLISHED error %s",
                      mq_err_name(mq_event_error(ev)));
                completed++;
            }
            mq_event_free(ev);
        }
        ev = mq_next_event(s, 20);
        if (ev != NULL && mq_event_type(ev) == MQ_EVENT_MESSAGE) {
            uint32_t v;
            memcpy(&v, mq_event_payload(ev, NULL), sizeof v);
            CHECK(v < n, "payload %u", v);
            if (mq_event_qos(ev) == 2)
                CHECK(seen[v] == 0, "QoS 2 message %u came twice", v);
            if (seen[v]++ == 0)
                got++;
        }
        mq_event_free(ev);
    }
    pthread_join(th, NULL);
    CHECK(atomic_load(&r.bad) == 0, "a publish failed: %s",
          mq_err_name(atomic_load(&r.bad)));
    CHECK(kicks == 5, "kicked %d times", kicks);
    for (i = 0; i < n; i++)
        CHECK(seen[i] > 0, "message %u never arrived (%u of %u)", i, got, n);
    CHECK(completed == n, "%u of %u completed", completed, n);
    free(seen);
}
