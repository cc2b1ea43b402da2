/*
 * test_v5.c - integration: MQTT 5 properties round trip (user properties,
 * content type, response topic, correlation data), subscription
 * identifiers, SUBACK granted QoS, PUBACK reason codes, subscription options.
 * Threading: single-threaded Criterion tests, one process (and broker) each.
 */
#include <string.h>

#include "integ.h"

INTEG_SUITE(v5);

Test(v5, publish_properties_round_trip)
{
    mqt_broker *b = integ_broker(NULL);
    mq_client *pub = integ_client(b, "pub", MQ_PROTO_V5);
    mq_client *sub = integ_client(b, "sub", MQ_PROTO_V5);
    const char *topic = integ_topic("props");
    const char *rtopic = integ_topic("props/reply");
    static const unsigned char corr[] = {0x01, 0x00, 0xfe, 0x00, 0x42};
    mq_props *p = mq_props_new();

    CHECK(p != NULL, "mq_props_new");
    CHECK_RC(mq_props_add_user(p, "k1", "v1"), MQ_OK);
    CHECK_RC(mq_props_add_user(p, "k2", "v2"), MQ_OK);
    CHECK_RC(mq_props_add_user(p, "k1", "v3"), MQ_OK); /* repeats allowed */
    CHECK_RC(mq_props_add_string(p, MQ_PROP_CONTENT_TYPE,
                                 "application/x-test"), MQ_OK);
    CHECK_RC(mq_props_add_string(p, MQ_PROP_RESPONSE_TOPIC, rtopic), MQ_OK);
    CHECK_RC(mq_props_add_binary(p, MQ_PROP_CORRELATION_DATA, corr,
                                 sizeof corr), MQ_OK);
    CHECK_RC(mq_props_add_int(p, MQ_PROP_PAYLOAD_FORMAT_INDICATOR, 1), MQ_OK);
    CHECK_RC(mq_props_add_int(p, MQ_PROP_MESSAGE_EXPIRY_INTERVAL, 600),
             MQ_OK);

    integ_connect(pub);
    integ_connect(sub);
    integ_subscribe(sub, topic, 1);
    int tok = CHECK_TOKEN(mq_publish_v5(pub, topic, "{}", 2, 1, 0, p));
    mq_props_free(p); /* copied by mq_publish_v5 */
    integ_wait_published(pub, tok);

    mq_event *ev = integ_wait(sub, MQ_EVENT_MESSAGE, INTEG_WAIT_MS);
    const mq_props *r = mq_event_props(ev);
    CHECK(r != NULL, "no properties on the delivered message");
    CHECK(mq_props_user_count(r) == 3, "user properties: %zu",
          mq_props_user_count(r));
    const char *want[3][2] = {{"k1", "v1"}, {"k2", "v2"}, {"k1", "v3"}};
    for (size_t i = 0; i < 3; i++) {
        const char *k = mq_props_user_key(r, i);
        const char *v = mq_props_user_value(r, i);
        CHECK(k && v && strcmp(k, want[i][0]) == 0 &&
                  strcmp(v, want[i][1]) == 0,
              "user property %zu: %s=%s, expected %s=%s", i,
              k ? k : "(null)", v ? v : "(null)", want[i][0], want[i][1]);
    }
    CHECK(mq_props_user_key(r, 3) == NULL, "user key out of range");
    const char *ct = mq_props_get_string(r, MQ_PROP_CONTENT_TYPE);
    CHECK(ct && strcmp(ct, "application/x-test") == 0, "content type %s",
          ct ? ct : "(null)");
    const char *rt = mq_props_get_string(r, MQ_PROP_RESPONSE_TOPIC);
    CHECK(rt && strcmp(rt, rtopic) == 0, "response topic %s",
          rt ? rt : "(null)");
    size_t clen = 0;
    const void *cd = mq_props_get_binary(r, MQ_PROP_CORRELATION_DATA, &clen);
    CHECK(cd && clen == sizeof corr && memcmp(cd, corr, clen) == 0,
          "correlation data (len %zu)", clen);
    uint32_t v = 0;
    CHECK_RC(mq_props_get_int(r, MQ_PROP_PAYLOAD_FORMAT_INDICATOR, 0, &v),
             MQ_OK);
    CHECK(v == 1, "payload format %u", (unsigned)v);
    CHECK_RC(mq_props_get_int(r, MQ_PROP_MESSAGE_EXPIRY_INTERVAL, 0, &v),
             MQ_OK);
    CHECK(v > 0 && v <= 600, "message expiry %u", (unsigned)v);

    /* answer on the response topic with the correlation data */
    integ_subscribe(pub, rtopic, 1);
    mq_props *rp = mq_props_new();
    CHECK_RC(mq_props_add_binary(rp, MQ_PROP_CORRELATION_DATA, cd, clen),
             MQ_OK);
    CHECK_TOKEN(mq_publish_v5(sub, rt, "ok", 2, 1, 0, rp));
    mq_props_free(rp);
    mq_event_free(ev);
    ev = integ_wait(pub, MQ_EVENT_MESSAGE, INTEG_WAIT_MS);
    cd = mq_props_get_binary(mq_event_props(ev), MQ_PROP_CORRELATION_DATA,
                             &clen);
    CHECK(cd && clen == sizeof corr && memcmp(cd, corr, clen) == 0,
          "reply correlation data");
    mq_event_free(ev);
}

Test(v5, subscription_identifier)
{
    mqt_broker *b = integ_broker(NULL);
    mq_client *c = integ_client(b, "subid", MQ_PROTO_V5);
    const char *topic = integ_topic("subid");
    char filter[128];
    mq_props *p = mq_props_new();

    snprintf(filter, sizeof filter, "%s/#", topic);
    CHECK_RC(mq_props_add_int(p, MQ_PROP_SUBSCRIPTION_IDENTIFIER, 4242),
             MQ_OK);
    integ_connect(c);
    int tok = CHECK_TOKEN(mq_subscribe_v5(c, filter, 1, p));
    mq_props_free(p);
    mq_event *ev = integ_wait(c, MQ_EVENT_SUBSCRIBED, INTEG_WAIT_MS);
    CHECK(mq_event_token(ev) == tok, "SUBACK token");
    CHECK(mq_event_reason_at(ev, 0) == 1, "granted %d",
          mq_event_reason_at(ev, 0));
    mq_event_free(ev);

    const char *t = integ_topic("subid/a");
    CHECK_TOKEN(mq_publish(c, t, "x", 1, 1, 0));
    ev = integ_wait(c, MQ_EVENT_MESSAGE, INTEG_WAIT_MS);
    uint32_t id = 0;
    CHECK_RC(mq_props_get_int(mq_event_props(ev),
                              MQ_PROP_SUBSCRIPTION_IDENTIFIER, 0, &id),
             MQ_OK);
    CHECK(id == 4242, "subscription identifier %u", (unsigned)id);
    CHECK_RC(mq_props_get_int(mq_event_props(ev),
                              MQ_PROP_SUBSCRIPTION_IDENTIFIER, 1, &id),
             MQ_ERR_NOT_FOUND);
    mq_event_free(ev);
}

static void suback_granted(int proto)
{
    mqt_broker_opts o = {.extra_conf = "max_qos 1"};
    mqt_broker *b = integ_broker(&o);
    mq_client *c = integ_client(b, "suback", proto);
    const char *f[3];
    int opts[3] = {0, 1, 2};

    f[0] = integ_topic("g0");
    f[1] = integ_topic("g1");
    f[2] = integ_topic("g2");
    integ_connect(c);
    int tok = CHECK_TOKEN(mq_subscribe_many(c, 3, f, opts, NULL));
    mq_event *ev = integ_wait(c, MQ_EVENT_SUBSCRIBED, INTEG_WAIT_MS);
    CHECK(mq_event_token(ev) == tok, "token");
    CHECK(mq_event_reason_count(ev) == 3, "count %zu",
          mq_event_reason_count(ev));
    CHECK(mq_event_reason_at(ev, 0) == 0, "granted[0] %d",
          mq_event_reason_at(ev, 0));
    CHECK(mq_event_reason_at(ev, 1) == 1, "granted[1] %d",
          mq_event_reason_at(ev, 1));
    /* max_qos 1: QoS 2 is downgraded */
    CHECK(mq_event_reason_at(ev, 2) == 1, "granted[2] %d",
          mq_event_reason_at(ev, 2));
    CHECK(mq_event_reason_at(ev, 3) == -1, "out of range");
    mq_event_free(ev);
}

Test(v5, suback_granted_qos_v5) { suback_granted(MQ_PROTO_V5); }
Test(v5, suback_granted_qos_v311) { suback_granted(MQ_PROTO_V311); }

Test(v5, connack_properties)
{
    mqt_broker_opts o = {.extra_conf = "max_qos 1"};
    mqt_broker *b = integ_broker(&o);
    mq_client *c = integ_client(b, "connack", MQ_PROTO_V5);
    CHECK_RC(mq_connect(c), MQ_OK);
    mq_event *ev = integ_wait(c, MQ_EVENT_CONNECT, INTEG_WAIT_MS);
    uint32_t v = 9;
    CHECK_RC(mq_props_get_int(mq_event_props(ev), MQ_PROP_MAXIMUM_QOS, 0, &v),
             MQ_OK);
    CHECK(v == 1, "maximum QoS %u", (unsigned)v);
    mq_event_free(ev);
}

Test(v5, puback_reason_codes)
{
    mqt_broker_opts o = {.acl = "topic readwrite itest/#"};
    mqt_broker *b = integ_broker(&o);
    mq_client *c = integ_client(b, "puback", MQ_PROTO_V5);

    integ_connect(c);
    /* allowed, nobody subscribed: 0x10 is a success code */
    int tok = CHECK_TOKEN(mq_publish(c, integ_topic("nobody"), "x", 1, 1, 0));
    mq_event *ev = integ_wait(c, MQ_EVENT_PUBLISHED, INTEG_WAIT_MS);
    CHECK(mq_event_token(ev) == tok, "token");
    CHECK(mq_event_error(ev) == MQ_OK, "error %s for reason 0x%02x",
          mq_err_name(mq_event_error(ev)), (unsigned)mq_event_reason(ev));
    CHECK(mq_event_reason(ev) == MQ_RC_NO_MATCHING_SUBSCRIBERS,
          "reason 0x%02x", (unsigned)mq_event_reason(ev));
    mq_event_free(ev);
    /* denied by the ACL: PUBACK 0x87 */
    tok = CHECK_TOKEN(mq_publish(c, "denied/topic", "x", 1, 1, 0));
    ev = integ_wait(c, MQ_EVENT_PUBLISHED, INTEG_WAIT_MS);
    CHECK(mq_event_token(ev) == tok, "token");
    CHECK(mq_event_error(ev) == MQ_ERR_REFUSED, "error %s",
          mq_err_name(mq_event_error(ev)));
    CHECK(mq_event_reason(ev) == MQ_RC_NOT_AUTHORIZED, "reason 0x%02x",
          (unsigned)mq_event_reason(ev));
    mq_event_free(ev);
    CHECK(mq_is_connected(c) == 1, "a refused publish must not disconnect");
}

Test(v5, no_local_and_retain_as_published)
{
    mqt_broker *b = integ_broker(NULL);
    mq_client *c = integ_client(b, "nl", MQ_PROTO_V5);
    mq_client *o = integ_client(b, "other", MQ_PROTO_V5);
    const char *t1 = integ_topic("nolocal");
    const char *t2 = integ_topic("rap");

    integ_connect(c);
    integ_connect(o);
    int tok = CHECK_TOKEN(mq_subscribe_v5(c, t1, 1 | MQ_SUB_NO_LOCAL, NULL));
    (void)tok;
    mq_event_free(integ_wait(c, MQ_EVENT_SUBSCRIBED, INTEG_WAIT_MS));
    CHECK_TOKEN(mq_publish(c, t1, "own", 3, 1, 0));
    mqt_sleep_ms(200);
    CHECK_TOKEN(mq_publish(o, t1, "theirs", 6, 1, 0));
    mq_event *ev = integ_wait(c, MQ_EVENT_MESSAGE, INTEG_WAIT_MS);
    CHECK(mq_event_payload_len(ev) == 6, "no-local: got own message back");
    mq_event_free(ev);

    CHECK_TOKEN(mq_subscribe_v5(c, t2, 1 | MQ_SUB_RETAIN_AS_PUBLISHED, NULL));
    mq_event_free(integ_wait(c, MQ_EVENT_SUBSCRIBED, INTEG_WAIT_MS));
    CHECK_TOKEN(mq_publish(o, t2, "r", 1, 1, 1));
    ev = integ_wait(c, MQ_EVENT_MESSAGE, INTEG_WAIT_MS);
    CHECK(mq_event_retain(ev) == 1, "retain-as-published: retain flag 0");
    mq_event_free(ev);
    /* clean up the retained message */
    CHECK_TOKEN(mq_publish(o, t2, NULL, 0, 1, 1));
}

Test(v5, connect_properties_accepted)
{
    mqt_broker *b = integ_broker(NULL);
    mq_client *c = integ_client(b, "cprops", MQ_PROTO_V5);
    mq_props *p = mq_props_new();
    CHECK_RC(mq_props_add_int(p, MQ_PROP_RECEIVE_MAXIMUM, 10), MQ_OK);
    CHECK_RC(mq_set_connect_props(c, p), MQ_OK);
    mq_props_free(p);
    integ_connect(c);
    integ_disconnect(c);
}

/* DISCONNECT properties reach the broker: a session created with expiry
 * 300 s is ended by a DISCONNECT that sets Session Expiry Interval 0, so the
 * next connect finds no session. Without the property it would be kept. */
Test(v5, disconnect_v5_properties_end_the_session)
{
    mqt_broker *b = integ_broker(NULL);
    const char *id = integ_id("dprops");
    mq_client *c = integ_client_id(b, id, MQ_PROTO_V5);
    mq_props *p = mq_props_new();

    CHECK_RC(mq_set_int(c, MQ_OPT_CLEAN_START, 0), MQ_OK);
    CHECK_RC(mq_set_int(c, MQ_OPT_SESSION_EXPIRY_S, 300), MQ_OK);
    integ_connect(c);
    CHECK_RC(mq_props_add_int(p, MQ_PROP_SESSION_EXPIRY_INTERVAL, 0), MQ_OK);
    CHECK_RC(mq_props_add_string(p, MQ_PROP_REASON_STRING, "bye"), MQ_OK);
    CHECK_RC(mq_disconnect_v5(c, 0, p), MQ_OK);
    mq_event_free(integ_wait(c, MQ_EVENT_DISCONNECTED, INTEG_WAIT_MS));
    CHECK(integ_connect(c) == 0, "session still present after expiry 0");
    /* properties a DISCONNECT may not carry are refused up front */
    mq_props_free(p);
    p = mq_props_new();
    CHECK_RC(mq_props_add_int(p, MQ_PROP_RECEIVE_MAXIMUM, 5), MQ_OK);
    CHECK_RC(mq_disconnect_v5(c, 0, p), MQ_ERR_PROPERTY);
    mq_props_free(p);
}

Test(v5, disconnect_v5_without_props_keeps_the_session)
{
    mqt_broker *b = integ_broker(NULL);
    const char *id = integ_id("dkeep");
    mq_client *c = integ_client_id(b, id, MQ_PROTO_V5);

    CHECK_RC(mq_set_int(c, MQ_OPT_CLEAN_START, 0), MQ_OK);
    CHECK_RC(mq_set_int(c, MQ_OPT_SESSION_EXPIRY_S, 300), MQ_OK);
    integ_connect(c);
    CHECK_RC(mq_disconnect_v5(c, 0, NULL), MQ_OK);
    mq_event_free(integ_wait(c, MQ_EVENT_DISCONNECTED, INTEG_WAIT_MS));
    CHECK(integ_connect(c) == 1, "session not kept");
}

/* After a broker restart that lost the session, libmq renews the
 * subscription by itself, with the properties it was made with: messages
 * still carry the Subscription Identifier. */
Test(v5, resubscribe_keeps_subscription_identifier)
{
    mqt_broker *b = integ_broker(NULL); /* no persistence: session lost */
    mq_client *sub = integ_client(b, "resubid", MQ_PROTO_V5);
    mq_client *pub;
    const char *topic = integ_topic("resubid");
    mq_props *p = mq_props_new();
    mq_event *ev;
    uint32_t id = 0;

    CHECK_RC(mq_set_int(sub, MQ_OPT_RECONNECT_MIN_MS, 100), MQ_OK);
    CHECK_RC(mq_set_int(sub, MQ_OPT_RECONNECT_MAX_MS, 300), MQ_OK);
    integ_connect(sub);
    CHECK_RC(mq_props_add_int(p, MQ_PROP_SUBSCRIPTION_IDENTIFIER, 77), MQ_OK);
    CHECK_TOKEN(mq_subscribe_v5(sub, topic, 1, p));
    mq_props_free(p);
    mq_event_free(integ_wait(sub, MQ_EVENT_SUBSCRIBED, INTEG_WAIT_MS));

    CHECK(mqt_broker_restart(b) == 0, "broker restart");
    ev = integ_wait(sub, MQ_EVENT_CONNECT, 15000);
    CHECK(mq_event_session_present(ev) == 0, "session unexpectedly kept");
    mq_event_free(ev);
    integ_wait_broker_sub(b, mq_client_id(sub));

    pub = integ_client(b, "resubpub", MQ_PROTO_V5);
    integ_connect(pub);
    CHECK_TOKEN(mq_publish(pub, topic, "x", 1, 1, 0));
    ev = integ_wait(sub, MQ_EVENT_MESSAGE, INTEG_WAIT_MS);
    CHECK(mq_props_get_int(mq_event_props(ev), MQ_PROP_SUBSCRIPTION_IDENTIFIER,
                           0, &id) == MQ_OK && id == 77,
          "subscription identifier %u after resubscribe", id);
    mq_event_free(ev);
}

/* UNSUBSCRIBE with properties: the UNSUBACK comes back with one reason
 * code per filter (0x11 for a filter that had no subscription), and no
 * message arrives on the filter afterwards. */
Test(v5, unsubscribe_v5_with_properties)
{
    mqt_broker *b = integ_broker(NULL);
    mq_client *c = integ_client(b, "unsub5", MQ_PROTO_V5);
    const char *topic = integ_topic("unsub5");
    mq_props *p = mq_props_new();
    mq_event *ev;

    integ_connect(c);
    integ_subscribe(c, topic, 1);
    CHECK_RC(mq_props_add_user(p, "why", "test"), MQ_OK);
    CHECK_TOKEN(mq_unsubscribe_v5(c, topic, p));
    ev = integ_wait(c, MQ_EVENT_UNSUBSCRIBED, INTEG_WAIT_MS);
    CHECK(mq_event_reason_count(ev) == 1 && mq_event_reason_at(ev, 0) == 0,
          "UNSUBACK reason %d", mq_event_reason_at(ev, 0));
    mq_event_free(ev);
    CHECK_TOKEN(mq_unsubscribe_v5(c, topic, p));
    ev = integ_wait(c, MQ_EVENT_UNSUBSCRIBED, INTEG_WAIT_MS);
    CHECK(mq_event_reason_at(ev, 0) == MQ_RC_NO_SUBSCRIPTION_EXISTED,
          "second UNSUBACK reason 0x%x", mq_event_reason_at(ev, 0));
    mq_event_free(ev);
    CHECK_TOKEN(mq_publish(c, topic, "x", 1, 0, 0));
    CHECK(integ_try_wait(c, MQ_EVENT_MESSAGE, 500) == NULL,
          "message after unsubscribe");
    /* properties an UNSUBSCRIBE may not carry, and v3.1.1 */
    mq_props_free(p);
    p = mq_props_new();
    CHECK_RC(mq_props_add_int(p, MQ_PROP_SUBSCRIPTION_IDENTIFIER, 1), MQ_OK);
    CHECK_RC(mq_unsubscribe_v5(c, topic, p), MQ_ERR_PROPERTY);
    mq_props_free(p);
}

/* Our Receive Maximum goes into CONNECT: the broker keeps at most that
 * many QoS 1 messages unacknowledged towards us, and all still arrive. A
 * v3.1.1 client cannot set it. */
Test(v5, receive_maximum_option)
{
    mqt_broker *b = integ_broker(NULL);
    mq_client *sub = integ_client(b, "rmsub", MQ_PROTO_V5);
    mq_client *pub = integ_client(b, "rmpub", MQ_PROTO_V5);
    mq_client *v3 = integ_client(b, "rmv3", MQ_PROTO_V311);
    const char *topic = integ_topic("rm");
    int i;

    CHECK_RC(mq_set_int(v3, MQ_OPT_RECEIVE_MAXIMUM, 2), MQ_ERR_NOT_SUPPORTED);
    CHECK_RC(mq_set_int(v3, MQ_OPT_TOPIC_ALIAS_MAXIMUM, 2),
             MQ_ERR_NOT_SUPPORTED);
    CHECK_RC(mq_set_int(sub, MQ_OPT_RECEIVE_MAXIMUM, 0), MQ_ERR_INVAL);
    CHECK_RC(mq_set_int(sub, MQ_OPT_RECEIVE_MAXIMUM, 2), MQ_OK);
    integ_connect(sub);
    integ_subscribe(sub, topic, 1);
    integ_connect(pub);
    for (i = 0; i < 50; i++)
        CHECK_TOKEN(mq_publish(pub, topic, "m", 1, 1, 0));
    for (i = 0; i < 50; i++)
        mq_event_free(integ_wait(sub, MQ_EVENT_MESSAGE, INTEG_WAIT_MS));
}

/* mq_auth checks its arguments; AUTH exists only in MQTT 5. */
Test(v5, auth_argument_errors)
{
    mq_client *c5 = integ_client(NULL, "auth5", MQ_PROTO_V5);
    mq_client *c3 = integ_client(NULL, "auth3", MQ_PROTO_V311);
    mq_props *p = mq_props_new();

    CHECK_RC(mq_auth(NULL, 0x18, NULL), MQ_ERR_INVAL);
    CHECK_RC(mq_auth(c5, 256, NULL), MQ_ERR_INVAL);
    CHECK_RC(mq_auth(c3, 0x18, NULL), MQ_ERR_NOT_SUPPORTED);
    CHECK_RC(mq_props_add_int(p, MQ_PROP_RECEIVE_MAXIMUM, 1), MQ_OK);
    CHECK_RC(mq_auth(c5, 0x18, p), MQ_ERR_PROPERTY);
    mq_props_free(p);
    p = mq_props_new();
    CHECK_RC(mq_props_add_string(p, MQ_PROP_AUTHENTICATION_METHOD, "X"),
             MQ_OK);
    CHECK_RC(mq_auth(c5, 0x18, p), MQ_OK); /* queued for the connection */
    mq_props_free(p);
    /* MQ_OPT_AUTO_ACK is reserved: only 1 is accepted */
    CHECK_RC(mq_set_int(c5, MQ_OPT_AUTO_ACK, 1), MQ_OK);
    CHECK_RC(mq_set_int(c5, MQ_OPT_AUTO_ACK, 0), MQ_ERR_NOT_SUPPORTED);
}
