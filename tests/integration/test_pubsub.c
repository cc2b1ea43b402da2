/*
 * test_pubsub.c - integration: QoS 0/1/2 round trips on one client and
 * between two, binary and empty payloads, large payloads, ordering,
 * retained messages.
 * Threading: single-threaded Criterion tests, one process (and broker) each.
 */
#include <stdlib.h>
#include <string.h>

#include "integ.h"

INTEG_SUITE(pubsub);

struct rt_state {
    const char *topic;
    const void *payload;
    size_t len;
    int qos, tok, got_msg, got_pub;
};

static void rt_handle(struct rt_state *s, mq_event *ev, int from_sub,
                      int from_pub)
{
    int kind = mq_event_type(ev);
    if (kind == MQ_EVENT_MESSAGE && from_sub && !s->got_msg) {
        size_t n = 0;
        const void *p = mq_event_payload(ev, &n);
        CHECK(strcmp(mq_event_topic(ev), s->topic) == 0, "topic %s",
              mq_event_topic(ev));
        CHECK(n == s->len, "payload length %zu, expected %zu", n, s->len);
        CHECK(mq_event_payload_len(ev) == s->len, "payload_len %zu",
              mq_event_payload_len(ev));
        CHECK(s->len == 0 || memcmp(p, s->payload, s->len) == 0,
              "payload differs");
        CHECK(mq_event_qos(ev) == s->qos, "qos %d, expected %d",
              mq_event_qos(ev), s->qos);
        CHECK(mq_event_retain(ev) == 0, "retain flag on a live message");
        CHECK(mq_event_dup(ev) == 0, "dup flag set");
        if (s->qos > 0)
            CHECK(mq_event_packet_id(ev) > 0, "packet id %d",
                  mq_event_packet_id(ev));
        s->got_msg = 1;
    } else if (kind == MQ_EVENT_PUBLISHED && from_pub &&
               mq_event_token(ev) == s->tok) {
        CHECK(mq_event_error(ev) == MQ_OK, "PUBLISHED error %s reason 0x%02x",
              mq_err_name(mq_event_error(ev)), (unsigned)mq_event_reason(ev));
        s->got_pub = 1;
    } else if (kind == MQ_EVENT_DISCONNECTED) {
        CHECK(0, "unexpected DISCONNECTED: error %s",
              mq_err_name(mq_event_error(ev)));
    }
    mq_event_free(ev);
}

/* Publish on @p pub, expect it on @p sub (may be the same client): the
 * MESSAGE must match topic/payload/qos, and for QoS > 0 a PUBLISHED event
 * with the token and MQ_OK must come on @p pub. Events may interleave. */
static void roundtrip(mq_client *pub, mq_client *sub, const char *topic,
                      const void *payload, size_t len, int qos, int retain)
{
    struct rt_state s = {topic, payload, len, qos, 0, 0, qos == 0};
    long long deadline = mqt_now_ms() + INTEG_WAIT_MS;

    s.tok = mq_publish(pub, topic, payload, len, qos, retain);
    CHECK(s.tok > 0, "mq_publish returned %d (%s)", s.tok,
          mq_err_name(s.tok));
    while (!s.got_msg || !s.got_pub) {
        long long left = deadline - mqt_now_ms();
        mq_event *ev;
        CHECK(left > 0, "timeout: message %s, PUBLISHED %s (qos %d)",
              s.got_msg ? "seen" : "missing", s.got_pub ? "seen" : "missing",
              qos);
        if (!s.got_msg) {
            ev = mq_next_event(sub, s.got_pub ? (int)left : 10);
            if (ev)
                rt_handle(&s, ev, 1, sub == pub);
        }
        if (!s.got_pub && (pub != sub || s.got_msg)) {
            ev = mq_next_event(pub, s.got_msg ? (int)left : 10);
            if (ev)
                rt_handle(&s, ev, sub == pub, 1);
        }
    }
}

static void one_client(int proto, int qos)
{
    mqt_broker *b = integ_broker(NULL);
    mq_client *c = integ_client(b, "one", proto);
    const char *topic = integ_topic("one");

    integ_connect(c);
    integ_subscribe(c, topic, qos);
    roundtrip(c, c, topic, "hello", 5, qos, 0);
    roundtrip(c, c, topic, "world!", 6, qos, 0);
    integ_disconnect(c);
}

Test(pubsub, one_client_qos0_v311) { one_client(MQ_PROTO_V311, 0); }
Test(pubsub, one_client_qos1_v311) { one_client(MQ_PROTO_V311, 1); }
Test(pubsub, one_client_qos2_v311) { one_client(MQ_PROTO_V311, 2); }
Test(pubsub, one_client_qos0_v5) { one_client(MQ_PROTO_V5, 0); }
Test(pubsub, one_client_qos1_v5) { one_client(MQ_PROTO_V5, 1); }
Test(pubsub, one_client_qos2_v5) { one_client(MQ_PROTO_V5, 2); }

static void two_clients(int proto)
{
    mqt_broker *b = integ_broker(NULL);
    mq_client *pub = integ_client(b, "pub", proto);
    mq_client *sub = integ_client(b, "sub", proto);

    integ_connect(pub);
    integ_connect(sub);
    for (int qos = 0; qos <= 2; qos++) {
        char tag[16];
        snprintf(tag, sizeof tag, "two/%d", qos);
        const char *topic = integ_topic(tag);
        integ_subscribe(sub, topic, qos);
        roundtrip(pub, sub, topic, "between", 7, qos, 0);
    }
    /* subscriber at QoS 0 gets a QoS 2 publish downgraded */
    const char *t = integ_topic("downgrade");
    integ_subscribe(sub, t, 0);
    CHECK_TOKEN(mq_publish(pub, t, "d", 1, 2, 0));
    mq_event *ev = integ_wait(sub, MQ_EVENT_MESSAGE, INTEG_WAIT_MS);
    CHECK(mq_event_qos(ev) == 0, "delivered at qos %d", mq_event_qos(ev));
    mq_event_free(ev);
    integ_disconnect(pub);
    integ_disconnect(sub);
}

Test(pubsub, two_clients_v311) { two_clients(MQ_PROTO_V311); }
Test(pubsub, two_clients_v5) { two_clients(MQ_PROTO_V5); }

static void payloads(int proto)
{
    mqt_broker *b = integ_broker(NULL);
    mq_client *pub = integ_client(b, "pub", proto);
    mq_client *sub = integ_client(b, "sub", proto);
    const char *topic = integ_topic("bin");
    static const unsigned char bin[] = {0x00, 'a', 0x00, 0xff, 0x00, 0x7f,
                                        0x80, 0x00};

    integ_connect(pub);
    integ_connect(sub);
    integ_subscribe(sub, topic, 2); /* so each message keeps its QoS */
    roundtrip(pub, sub, topic, bin, sizeof bin, 1, 0);
    roundtrip(pub, sub, topic, NULL, 0, 1, 0);    /* empty, NULL pointer */
    roundtrip(pub, sub, topic, "", 0, 0, 0);      /* empty, QoS 0 */
    roundtrip(pub, sub, topic, "\0", 1, 2, 0);    /* one NUL byte */
}

Test(pubsub, binary_and_empty_payloads_v311) { payloads(MQ_PROTO_V311); }
Test(pubsub, binary_and_empty_payloads_v5) { payloads(MQ_PROTO_V5); }

Test(pubsub, large_payload_1mib)
{
    mqt_broker *b = integ_broker(NULL);
    mq_client *pub = integ_client(b, "pub", MQ_PROTO_V5);
    mq_client *sub = integ_client(b, "sub", MQ_PROTO_V5);
    const char *topic = integ_topic("large");
    size_t len = 1024 * 1024 + 7;
    unsigned char *p = malloc(len);

    CHECK(p != NULL, "malloc");
    for (size_t i = 0; i < len; i++)
        p[i] = (unsigned char)(i * 31 + (i >> 8));
    integ_connect(pub);
    integ_connect(sub);
    integ_subscribe(sub, topic, 1);
    roundtrip(pub, sub, topic, p, len, 1, 0);
    free(p);
}

static void ordering(int proto, int qos)
{
    enum { N = 500 };
    mqt_broker *b = integ_broker(NULL);
    mq_client *pub = integ_client(b, "pub", proto);
    mq_client *sub = integ_client(b, "sub", proto);
    const char *topic = integ_topic("order");
    int next = 0;

    integ_connect(pub);
    integ_connect(sub);
    integ_subscribe(sub, topic, qos);
    for (int i = 0; i < N; i++) {
        char buf[16];
        int n = snprintf(buf, sizeof buf, "%d", i);
        CHECK_TOKEN(mq_publish(pub, topic, buf, (size_t)n, qos, 0));
    }
    while (next < N) {
        mq_event *ev = integ_wait(sub, MQ_EVENT_MESSAGE, INTEG_WAIT_MS);
        size_t n = 0;
        const char *p = mq_event_payload(ev, &n);
        char buf[16];
        snprintf(buf, sizeof buf, "%.*s", (int)n, p);
        CHECK(atoi(buf) == next, "got message %s, expected %d", buf, next);
        mq_event_free(ev);
        next++;
        /* drain the publisher's PUBLISHED events as we go */
        while ((ev = mq_next_event(pub, 0)) != NULL) {
            if (mq_event_type(ev) == MQ_EVENT_PUBLISHED)
                CHECK(mq_event_error(ev) == MQ_OK, "PUBLISHED error %s",
                      mq_err_name(mq_event_error(ev)));
            mq_event_free(ev);
        }
    }
    /* everything acknowledged eventually */
    long long deadline = mqt_now_ms() + INTEG_WAIT_MS;
    while (mq_queued_messages(pub) > 0 && mqt_now_ms() < deadline) {
        mq_event *ev = mq_next_event(pub, 50);
        mq_event_free(ev);
    }
    CHECK(mq_queued_messages(pub) == 0, "%zu messages still queued",
          mq_queued_messages(pub));
}

Test(pubsub, order_kept_qos1_v311) { ordering(MQ_PROTO_V311, 1); }
Test(pubsub, order_kept_qos2_v5) { ordering(MQ_PROTO_V5, 2); }
Test(pubsub, order_kept_qos0_v5) { ordering(MQ_PROTO_V5, 0); }

static void retained(int proto)
{
    mqt_broker *b = integ_broker(NULL);
    mq_client *pub = integ_client(b, "pub", proto);
    const char *topic = integ_topic("retained");
    int tok;

    integ_connect(pub);
    tok = CHECK_TOKEN(mq_publish(pub, topic, "kept", 4, 1, 1));
    integ_wait_published(pub, tok);

    /* a later subscriber gets it with the retain flag */
    mq_client *s1 = integ_client(b, "s1", proto);
    integ_connect(s1);
    integ_subscribe(s1, topic, 1);
    mq_event *ev = integ_wait(s1, MQ_EVENT_MESSAGE, INTEG_WAIT_MS);
    size_t n = 0;
    const void *p = mq_event_payload(ev, &n);
    CHECK(n == 4 && memcmp(p, "kept", 4) == 0, "retained payload");
    CHECK(mq_event_retain(ev) == 1, "retain flag not set");
    CHECK(strcmp(mq_event_topic(ev), topic) == 0, "topic");
    mq_event_free(ev);
    /* a live publish to a subscriber: retain flag clear (v3.1.1 and v5
     * without retain-as-published) */
    roundtrip(pub, s1, topic, "live", 4, 1, 0);

    /* an empty retained publish clears it */
    tok = CHECK_TOKEN(mq_publish(pub, topic, NULL, 0, 1, 1));
    integ_wait_published(pub, tok);
    ev = integ_wait(s1, MQ_EVENT_MESSAGE, INTEG_WAIT_MS); /* the clear */
    CHECK(mq_event_payload_len(ev) == 0, "clear message has a payload");
    mq_event_free(ev);

    mq_client *s2 = integ_client(b, "s2", proto);
    integ_connect(s2);
    integ_subscribe(s2, topic, 1);
    /* nothing retained: the first message s2 sees is a marker sent now */
    tok = CHECK_TOKEN(mq_publish(pub, topic, "marker", 6, 1, 0));
    ev = integ_wait(s2, MQ_EVENT_MESSAGE, INTEG_WAIT_MS);
    p = mq_event_payload(ev, &n);
    CHECK(n == 6 && memcmp(p, "marker", 6) == 0,
          "first message after clear is not the marker (len %zu, retain %d)",
          n, mq_event_retain(ev));
    CHECK(mq_event_retain(ev) == 0, "marker has retain flag");
    mq_event_free(ev);
}

Test(pubsub, retained_v311) { retained(MQ_PROTO_V311); }
Test(pubsub, retained_v5) { retained(MQ_PROTO_V5); }

Test(pubsub, wildcard_subscription_and_unsubscribe)
{
    mqt_broker *b = integ_broker(NULL);
    mq_client *c = integ_client(b, "wild", MQ_PROTO_V311);
    char filter[128];

    snprintf(filter, sizeof filter, "%s/+/x/#", integ_topic("w"));
    integ_connect(c);
    integ_subscribe(c, filter, 1);
    const char *t1 = integ_topic("w/a/x");
    const char *t2 = integ_topic("w/b/x/y/z");
    roundtrip(c, c, t1, "1", 1, 1, 0);
    roundtrip(c, c, t2, "2", 1, 1, 0);

    int tok = CHECK_TOKEN(mq_unsubscribe(c, filter));
    mq_event *ev = integ_wait(c, MQ_EVENT_UNSUBSCRIBED, INTEG_WAIT_MS);
    CHECK(mq_event_token(ev) == tok, "token %d, expected %d",
          mq_event_token(ev), tok);
    mq_event_free(ev);
    /* after unsubscribing, a publish is acknowledged but not delivered */
    tok = CHECK_TOKEN(mq_publish(c, t1, "3", 1, 1, 0));
    integ_wait_published(c, tok);
    ev = integ_try_wait(c, MQ_EVENT_MESSAGE, 300);
    CHECK(ev == NULL, "message delivered after unsubscribe");
}

/* Payloads of 64 KiB and more are written from the message itself, not
 * copied into the output buffer (and received into their event without a
 * copy). Mixed with small messages, at QoS 0 (completed once written) and
 * QoS 1/2, every byte must arrive intact and in order, and each publish
 * must complete exactly once. */
Test(pubsub, large_payloads_sent_in_place_mixed_with_small)
{
    mqt_broker *b = integ_broker(NULL);
    mq_client *c = integ_client(b, "inplace", MQ_PROTO_V5);
    const char *topic = integ_topic("inplace");
    enum { N = 24 };
    size_t sizes[N];
    int i, got = 0, done = 0;

    CHECK_RC(mq_set_int(c, MQ_OPT_PUBLISH_EVENTS, 2), MQ_OK);
    integ_connect(c);
    integ_subscribe(c, topic, 2);
    for (i = 0; i < N; i++) {
        size_t n = (i % 3 == 0) ? 10 : (size_t)(65536 + 7919 * i);
        uint8_t *p = malloc(n);
        sizes[i] = n;
        for (size_t j = 0; j < n; j++)
            p[j] = (uint8_t)(j * 13 + (size_t)i);
        p[0] = (uint8_t)i;
        CHECK_TOKEN(mq_publish(c, topic, p, n, i % 3, 0));
        free(p);
    }
    while (got < N || done < N) {
        mq_event *ev = mq_next_event(c, INTEG_WAIT_MS);
        CHECK(ev != NULL, "timed out: %d messages, %d completions", got, done);
        if (mq_event_type(ev) == MQ_EVENT_PUBLISHED) {
            CHECK(mq_event_error(ev) == MQ_OK, "publish failed: %s",
                  mq_err_name(mq_event_error(ev)));
            done++;
        } else if (mq_event_type(ev) == MQ_EVENT_MESSAGE) {
            size_t len;
            const uint8_t *p = mq_event_payload(ev, &len);
            int k = p[0];
            CHECK(k >= 0 && k < N && len == sizes[k], "message %d: %zu bytes",
                  k, len);
            for (size_t j = 1; j < len; j++)
                if (p[j] != (uint8_t)(j * 13 + (size_t)k))
                    CHECK(0, "message %d differs at byte %zu", k, j);
            got++;
        }
        mq_event_free(ev);
    }
    CHECK(done == N && got == N, "%d completions, %d messages", done, got);
}

/* With two worker threads, a publisher and a subscriber land on different
 * workers and still exchange every message in order. */
Test(pubsub, two_worker_threads)
{
    mqt_broker *b = integ_broker(NULL);
    mq_client *sub, *pub;
    const char *topic = integ_topic("workers");
    int i;

    CHECK_RC(mq_set_worker_threads(0), MQ_ERR_INVAL);
    CHECK_RC(mq_set_worker_threads(65), MQ_ERR_INVAL);
    CHECK_RC(mq_set_worker_threads(2), MQ_OK);
    sub = integ_client(b, "wsub", MQ_PROTO_V5);
    pub = integ_client(b, "wpub", MQ_PROTO_V5);
    integ_connect(sub);
    integ_subscribe(sub, topic, 1);
    integ_connect(pub);
    for (i = 0; i < 500; i++) {
        char p[16];
        int n = snprintf(p, sizeof p, "%d", i);
        CHECK_TOKEN(mq_publish(pub, topic, p, (size_t)n, 1, 0));
    }
    for (i = 0; i < 500; i++) {
        mq_event *ev = integ_wait(sub, MQ_EVENT_MESSAGE, INTEG_WAIT_MS);
        size_t len;
        const char *p = mq_event_payload(ev, &len);
        char num[16] = "";
        if (len < sizeof num)
            memcpy(num, p, len);
        CHECK(len > 0 && atoi(num) == i, "message %d out of order", i);
        mq_event_free(ev);
    }
    CHECK_RC(mq_set_worker_threads(1), MQ_OK);
}
