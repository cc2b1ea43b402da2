/*
 * test_api.c - integration: bad input on the public API (NULL client, bad
 * topics, QoS, sizes, queue limits, URIs, options in the wrong state).
 * Threading: single-threaded Criterion tests, one process each.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>

#include "integ.h"

INTEG_SUITE(api);

Test(api, null_client)
{
    CHECK_RC(mq_connect(NULL), MQ_ERR_INVAL);
    CHECK_RC(mq_disconnect(NULL, 0), MQ_ERR_INVAL);
    CHECK_RC(mq_publish(NULL, "t", "x", 1, 0, 0), MQ_ERR_INVAL);
    CHECK_RC(mq_publish_v5(NULL, "t", "x", 1, 0, 0, NULL), MQ_ERR_INVAL);
    CHECK_RC(mq_subscribe(NULL, "t", 0), MQ_ERR_INVAL);
    CHECK_RC(mq_subscribe_v5(NULL, "t", 0, NULL), MQ_ERR_INVAL);
    CHECK_RC(mq_unsubscribe(NULL, "t"), MQ_ERR_INVAL);
    CHECK_RC(mq_set_int(NULL, MQ_OPT_KEEPALIVE_S, 10), MQ_ERR_INVAL);
    CHECK_RC(mq_set_str(NULL, MQ_SOPT_USERNAME, "u"), MQ_ERR_INVAL);
    CHECK_RC(mq_set_server(NULL, "mqtt://127.0.0.1:1"), MQ_ERR_INVAL);
    CHECK_RC(mq_set_will(NULL, "t", "x", 1, 0, 0, NULL), MQ_ERR_INVAL);
    CHECK_RC(mq_set_callback(NULL, MQ_EVENT_MESSAGE, NULL, NULL),
             MQ_ERR_INVAL);
    CHECK_RC(mq_loop(NULL, 0), MQ_ERR_INVAL);
    CHECK_RC(mq_loop_start(NULL), MQ_ERR_INVAL);
    CHECK_RC(mq_loop_stop(NULL), MQ_ERR_INVAL);
    CHECK(mq_next_event(NULL, 0) == NULL, "next_event(NULL)");
    CHECK(mq_event_fd(NULL) == -1, "event_fd(NULL)");
    CHECK(mq_is_connected(NULL) == 0, "is_connected(NULL)");
    CHECK(mq_queued_messages(NULL) == 0, "queued(NULL)");
    int64_t v;
    CHECK_RC(mq_get_int(NULL, MQ_OPT_KEEPALIVE_S, &v), MQ_ERR_INVAL);
    mq_client_destroy(NULL);
    mq_event_free(NULL);
    CHECK(mq_event_type(NULL) == 0 && mq_event_topic(NULL) == NULL,
          "event accessors on NULL");
}

Test(api, bad_publish_arguments)
{
    mq_client *c = integ_client(NULL, "bad", MQ_PROTO_V311);

    CHECK_RC(mq_publish(c, "a/+/b", "x", 1, 0, 0), MQ_ERR_TOPIC);
    CHECK_RC(mq_publish(c, "a/#", "x", 1, 1, 0), MQ_ERR_TOPIC);
    CHECK_RC(mq_publish(c, "", "x", 1, 1, 0), MQ_ERR_TOPIC);
    CHECK_RC(mq_publish(c, NULL, "x", 1, 1, 0), MQ_ERR_INVAL);
    CHECK_RC(mq_publish(c, "t", NULL, 5, 1, 0), MQ_ERR_INVAL);
    CHECK_RC(mq_publish(c, "t", "x", 1, 3, 0), MQ_ERR_QOS);
    CHECK_RC(mq_publish(c, "t", "x", 1, -1, 0), MQ_ERR_QOS);
    CHECK_RC(mq_publish(c, "bad\xff", "x", 1, 0, 0), MQ_ERR_UTF8);
    char *longt = malloc(70000);
    memset(longt, 'a', 69999);
    longt[69999] = '\0';
    CHECK_RC(mq_publish(c, longt, "x", 1, 0, 0), MQ_ERR_TOPIC);
    free(longt);
    CHECK_RC(mq_subscribe(c, "a/#/b", 0), MQ_ERR_TOPIC);
    CHECK_RC(mq_subscribe(c, "a", 3), MQ_ERR_QOS);
    CHECK_RC(mq_set_will(c, "w/+", "x", 1, 0, 0, NULL), MQ_ERR_TOPIC);
    CHECK_RC(mq_set_will(c, "w", "x", 1, 5, 0, NULL), MQ_ERR_QOS);
    /* v5 properties on a v3.1.1 client */
    mq_props *p = mq_props_new();
    CHECK_RC(mq_props_add_user(p, "k", "v"), MQ_OK);
    CHECK_RC(mq_publish_v5(c, "t", "x", 1, 0, 0, p), MQ_ERR_NOT_SUPPORTED);
    mq_props_free(p);
    /* nothing was queued by the failed calls */
    CHECK(mq_queued_messages(c) == 0, "%zu queued", mq_queued_messages(c));
    CHECK(mq_next_event(c, 0) == NULL, "an event after failed calls");
}

Test(api, property_not_allowed_in_publish_v5)
{
    mq_client *c = integ_client(NULL, "badprop", MQ_PROTO_V5);
    mq_props *p = mq_props_new();
    CHECK_RC(mq_props_add_int(p, MQ_PROP_SESSION_EXPIRY_INTERVAL, 5), MQ_OK);
    CHECK_RC(mq_publish_v5(c, "t", "x", 1, 0, 0, p), MQ_ERR_PROPERTY);
    mq_props_free(p);
}

Test(api, oversized_payload)
{
    mqt_broker *b = integ_broker(NULL);
    mq_client *c = integ_client(b, "big", MQ_PROTO_V311);
    char buf[2048];

    memset(buf, 'x', sizeof buf);
    CHECK_RC(mq_set_int(c, MQ_OPT_MAX_PACKET_SIZE, 1024), MQ_OK);
    CHECK_RC(mq_publish(c, "t", buf, sizeof buf, 1, 0), MQ_ERR_TOO_LARGE);
    CHECK_TOKEN(mq_publish(c, "t", buf, 500, 1, 0));
    /* connected too */
    integ_connect(c);
    CHECK_RC(mq_publish(c, "t", buf, sizeof buf, 0, 0), MQ_ERR_TOO_LARGE);
    int tok = CHECK_TOKEN(mq_publish(c, "t", buf, 1000, 1, 0));
    integ_wait_published(c, tok);
}

Test(api, queue_full_when_offline)
{
    mq_client *c = integ_client(NULL, "qfull", MQ_PROTO_V311);

    CHECK_RC(mq_set_int(c, MQ_OPT_QUEUE_MAX_MSGS, 10), MQ_OK);
    for (int i = 0; i < 10; i++)
        CHECK_TOKEN(mq_publish(c, "t", "x", 1, 1, 0));
    CHECK(mq_queued_messages(c) == 10, "%zu queued", mq_queued_messages(c));
    CHECK_RC(mq_publish(c, "t", "x", 1, 1, 0), MQ_ERR_QUEUE_FULL);
    CHECK_RC(mq_publish(c, "t", "x", 1, 0, 0), MQ_ERR_QUEUE_FULL);
    /* a publish timeout waits, then fails the same way */
    CHECK_RC(mq_set_int(c, MQ_OPT_PUBLISH_TIMEOUT_MS, 200), MQ_OK);
    long long t0 = mqt_now_ms();
    CHECK_RC(mq_publish(c, "t", "x", 1, 1, 0), MQ_ERR_QUEUE_FULL);
    long long dt = mqt_now_ms() - t0;
    CHECK(dt >= 150 && dt < 5000, "publish timeout took %lld ms", dt);
}

Test(api, queue_bytes_limit)
{
    mq_client *c = integ_client(NULL, "qbytes", MQ_PROTO_V311);
    char buf[600];
    memset(buf, 'y', sizeof buf);
    /* the byte count includes per-message overhead, so only check that
     * two 600-byte payloads do not fit in 1000 bytes */
    CHECK_RC(mq_set_int(c, MQ_OPT_QUEUE_MAX_BYTES, 1000), MQ_OK);
    CHECK_TOKEN(mq_publish(c, "t", buf, sizeof buf, 1, 0));
    CHECK_RC(mq_publish(c, "t", buf, sizeof buf, 1, 0), MQ_ERR_QUEUE_FULL);
    CHECK(mq_queued_messages(c) == 1, "%zu queued", mq_queued_messages(c));
}

Test(api, offline_qos0_refused_by_option)
{
    mq_client *c = integ_client(NULL, "offq0", MQ_PROTO_V311);
    CHECK_TOKEN(mq_publish(c, "t", "x", 1, 0, 0)); /* default: queued */
    CHECK_RC(mq_set_int(c, MQ_OPT_OFFLINE_QOS0, 0), MQ_OK);
    CHECK_RC(mq_publish(c, "t", "x", 1, 0, 0), MQ_ERR_NO_CONN);
    CHECK_TOKEN(mq_publish(c, "t", "x", 1, 1, 0));
}

Test(api, queued_offline_messages_sent_on_connect)
{
    mqt_broker *b = integ_broker(NULL);
    mq_client *pub = integ_client(b, "pub", MQ_PROTO_V311);
    mq_client *sub = integ_client(b, "sub", MQ_PROTO_V311);
    const char *topic = integ_topic("offline");

    integ_connect(sub);
    integ_subscribe(sub, topic, 1);
    CHECK_TOKEN(mq_publish(pub, topic, "q0", 2, 0, 0));
    CHECK_TOKEN(mq_publish(pub, topic, "q1", 2, 1, 0));
    CHECK_TOKEN(mq_publish(pub, topic, "q2", 2, 2, 0));
    integ_connect(pub);
    for (int i = 0; i < 3; i++) {
        mq_event *ev = integ_wait(sub, MQ_EVENT_MESSAGE, INTEG_WAIT_MS);
        mq_event_free(ev);
    }
}

Test(api, invalid_server_uri)
{
    mq_client *c = integ_client(NULL, "uri", MQ_PROTO_V311);
    CHECK_RC(mq_connect(c), MQ_ERR_URI); /* no server set */
    CHECK_RC(mq_set_server(c, "bogus://host:1883"), MQ_ERR_URI);
    CHECK_RC(mq_set_server(c, "mqtt://127.0.0.1:99999"), MQ_ERR_URI);
    CHECK_RC(mq_set_server(c, "mqtt://127.0.0.1:port"), MQ_ERR_URI);
    CHECK_RC(mq_set_server(c, "mqtt://[::1"), MQ_ERR_URI);
    /* brackets inside a host (found by tests/fuzz/fuzz_uri.c) */
    CHECK_RC(mq_set_server(c, "[[]"), MQ_ERR_URI);
    CHECK_RC(mq_set_server(c, "mqtt://[a]]:1"), MQ_ERR_URI);
    CHECK_RC(mq_set_server(c, "mqtt://a]b:1"), MQ_ERR_URI);
    CHECK_RC(mq_set_server(c, ""), MQ_ERR_URI);
    CHECK_RC(mq_set_server(c, NULL), MQ_ERR_INVAL);
    CHECK_RC(mq_set_server(c, "mqtt://127.0.0.1:1883"), MQ_OK);
    CHECK_RC(mq_set_server(c, "127.0.0.1:1883, mqtt://[::1]:1884"), MQ_OK);
}

Test(api, client_new_rejects_bad_arguments)
{
    CHECK(mq_client_new("id", 3) == NULL, "protocol 3 accepted");
    CHECK(mq_client_new("id", 6) == NULL, "protocol 6 accepted");
    CHECK(mq_client_new("bad\xc0\x80", MQ_PROTO_V5) == NULL,
          "invalid UTF-8 id accepted");
    mq_client *c = mq_client_new(NULL, MQ_PROTO_V5);
    CHECK(c != NULL, "NULL id (broker-assigned) refused");
    mq_client_destroy(c);
}

Test(api, options_state_and_range)
{
    mqt_broker *b = integ_broker(NULL);
    mq_client *c = integ_client(b, "opts", MQ_PROTO_V311);
    int64_t v = 0;

    CHECK_RC(mq_set_int(c, 9999, 1), MQ_ERR_INVAL);
    CHECK_RC(mq_set_int(c, MQ_OPT_KEEPALIVE_S, 70000), MQ_ERR_INVAL);
    CHECK_RC(mq_set_int(c, MQ_OPT_KEEPALIVE_S, 30), MQ_OK);
    CHECK_RC(mq_get_int(c, MQ_OPT_KEEPALIVE_S, &v), MQ_OK);
    CHECK(v == 30, "keepalive %lld", (long long)v);
    CHECK_RC(mq_set_int(c, MQ_OPT_SESSION_EXPIRY_S, 60),
             MQ_ERR_NOT_SUPPORTED); /* v5 only */
    integ_connect(c);
    CHECK_RC(mq_set_int(c, MQ_OPT_KEEPALIVE_S, 10), MQ_ERR_STATE);
    CHECK_RC(mq_set_server(c, "mqtt://127.0.0.1:1"), MQ_ERR_STATE);
    CHECK_RC(mq_set_int(c, MQ_OPT_QUEUE_MAX_MSGS, 50), MQ_OK); /* any time */
    integ_disconnect(c);
    CHECK_RC(mq_set_int(c, MQ_OPT_KEEPALIVE_S, 10), MQ_OK);
}

Test(api, event_fd_is_readable_with_events)
{
    mqt_broker *b = integ_broker(NULL);
    mq_client *c = integ_client(b, "fd", MQ_PROTO_V5);
    int fd = mq_event_fd(c);
    CHECK(fd >= 0, "event fd %d", fd);
    CHECK_RC(mq_connect(c), MQ_OK);
    /* wait on the fd, not on the queue */
    long long deadline = mqt_now_ms() + INTEG_WAIT_MS;
    int readable = 0;
    while (!readable && mqt_now_ms() < deadline) {
        fd_set rfds;
        struct timeval tv = {0, 100000};
        FD_ZERO(&rfds);
        FD_SET(fd, &rfds);
        readable = select(fd + 1, &rfds, NULL, NULL, &tv) == 1;
    }
    CHECK(readable, "event fd never became readable");
    mq_event *ev = mq_next_event(c, 0);
    CHECK(ev != NULL && mq_event_type(ev) == MQ_EVENT_CONNECT,
          "first event is not CONNECT");
    mq_event_free(ev);
    /* drained: no longer readable */
    fd_set rfds;
    struct timeval tv = {0, 0};
    FD_ZERO(&rfds);
    FD_SET(fd, &rfds);
    CHECK(select(fd + 1, &rfds, NULL, NULL, &tv) == 0,
          "event fd readable with no events pending");
}

/* Every integer option: its range is enforced, the value reads back, and
 * the state rules hold (connect-time options refused while active). */
Test(api, int_options_ranges_and_read_back)
{
    static const struct { int opt; int64_t lo, hi; } t[] = {
        { MQ_OPT_KEEPALIVE_S, 0, 65535 },
        { MQ_OPT_CLEAN_START, 0, 1 },
        { MQ_OPT_RECONNECT_MIN_MS, 1, 3600000 },
        { MQ_OPT_RECONNECT_MAX_MS, 1, 86400000 },
        { MQ_OPT_RECONNECT, 0, 1 },
        { MQ_OPT_MAX_INFLIGHT, 1, 65535 },
        { MQ_OPT_TCP_NODELAY, 0, 1 },
        { MQ_OPT_CONNECT_TIMEOUT_MS, 1, 3600000 },
        { MQ_OPT_DISCONNECT_TIMEOUT_MS, 0, 3600000 },
        { MQ_OPT_PUBLISH_EVENTS, 0, 2 },
        { MQ_OPT_LOG_LEVEL, 0, 4 },
        { MQ_OPT_OFFLINE_QOS0, 0, 1 },
        { MQ_OPT_PERSIST_SYNC, 0, 2 },
    };
    mq_client *c = integ_client(NULL, "intopts", MQ_PROTO_V5);
    int64_t got;

    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        CHECK_RC(mq_set_int(c, t[i].opt, t[i].lo - 1), MQ_ERR_INVAL);
        CHECK_RC(mq_set_int(c, t[i].opt, t[i].hi + 1), MQ_ERR_INVAL);
        CHECK_RC(mq_set_int(c, t[i].opt, t[i].hi), MQ_OK);
        CHECK_RC(mq_get_int(c, t[i].opt, &got), MQ_OK);
        CHECK(got == t[i].hi, "option %d reads %lld", t[i].opt, (long long)got);
        CHECK_RC(mq_set_int(c, t[i].opt, t[i].lo), MQ_OK);
        CHECK_RC(mq_get_int(c, t[i].opt, &got), MQ_OK);
        CHECK(got == t[i].lo, "option %d reads %lld", t[i].opt, (long long)got);
    }
    CHECK_RC(mq_set_int(c, 9999, 1), MQ_ERR_INVAL);
    CHECK_RC(mq_get_int(c, 9999, &got), MQ_ERR_INVAL);
    /* while a connect is in progress, connect-time options are refused */
    CHECK_RC(mq_set_server(c, "mqtt://127.0.0.1:1"), MQ_OK);
    CHECK_RC(mq_set_int(c, MQ_OPT_RECONNECT, 1), MQ_OK);
    CHECK_RC(mq_connect(c), MQ_OK);
    CHECK_RC(mq_set_int(c, MQ_OPT_KEEPALIVE_S, 5), MQ_ERR_STATE);
    CHECK_RC(mq_set_int(c, MQ_OPT_QUEUE_MAX_MSGS, 5), MQ_OK); /* any time */
    CHECK_RC(mq_disconnect(c, 0), MQ_OK);
    /* connect-time options wait until the disconnect has finished */
    CHECK_RC(mq_wait_disconnected(c, 10000), MQ_OK);
    CHECK_RC(mq_set_int(c, MQ_OPT_KEEPALIVE_S, 5), MQ_OK);
}
