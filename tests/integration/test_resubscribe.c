/*
 * test_resubscribe.c - integration: libmq's automatic resubscribe after a
 * reconnect and an application that subscribes again in on_connect (the
 * paho tutorial's advice): one SUBSCRIBE per filter and connection, so a
 * retained message arrives once; MQ_EVENT_RESUBSCRIBED; what must still go
 * out (other options, other properties, a kept session); broker
 * persistence on and off; paho-mqtt 1.6 counted in the same scenario.
 * Threading: single-threaded Criterion tests (pull API), one process and
 * broker each.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "integ.h"

INTEG_SUITE(resubscribe);

#define PAHO_TUTORIAL INTEG_SRC_DIR "/paho_tutorial.py"

struct seen {
    int messages, retained, resubscribed, resub_code;
    int subscribed, sub_code, sub_error;
    char resub_filter[160];
};

/* Take events for @p ms, counting. SUBSCRIBED is counted for @p token. */
static void
take_for(mq_client *c, int ms, int token, struct seen *s)
{
    long long deadline = mqt_now_ms() + ms;
    for (;;) {
        long long left = deadline - mqt_now_ms();
        mq_event *ev;
        if (left <= 0)
            return;
        ev = mq_next_event(c, (int)left);
        if (ev == NULL)
            continue;
        switch (mq_event_type(ev)) {
        case MQ_EVENT_MESSAGE:
            s->messages++;
            s->retained += mq_event_retain(ev);
            break;
        case MQ_EVENT_RESUBSCRIBED:
            s->resubscribed++;
            s->resub_code = mq_event_reason(ev);
            snprintf(s->resub_filter, sizeof s->resub_filter, "%s",
                     mq_event_topic(ev));
            break;
        case MQ_EVENT_SUBSCRIBED:
            if (mq_event_token(ev) == token) {
                s->subscribed++;
                s->sub_code = mq_event_reason_at(ev, 0);
                s->sub_error = mq_event_error(ev);
            }
            break;
        default:
            break;
        }
        mq_event_free(ev);
    }
}

/* Wait for the CONNECT that follows a broker restart. */
static int
wait_reconnect(mq_client *c)
{
    mq_event *ev = integ_wait(c, MQ_EVENT_CONNECT, 20000);
    int sp = mq_event_session_present(ev);
    CHECK(mq_event_reason(ev) == 0, "CONNACK 0x%02x",
          (unsigned)mq_event_reason(ev));
    mq_event_free(ev);
    return sp;
}

static mq_client *
client(mqt_broker *b, const char *tag, int proto, int clean)
{
    mq_client *c = integ_client(b, tag, proto);
    CHECK_RC(mq_set_int(c, MQ_OPT_RECONNECT_MIN_MS, 100), MQ_OK);
    CHECK_RC(mq_set_int(c, MQ_OPT_RECONNECT_MAX_MS, 300), MQ_OK);
    CHECK_RC(mq_set_int(c, MQ_OPT_CLEAN_START, clean), MQ_OK);
    if (!clean && proto == MQ_PROTO_V5)
        CHECK_RC(mq_set_int(c, MQ_OPT_SESSION_EXPIRY_S, 600), MQ_OK);
    return c;
}

/* SUBSCRIBE packets the broker received from @p c so far. */
static int
subscribes(mqt_broker *b, mq_client *c)
{
    char needle[128];
    snprintf(needle, sizeof needle, "Received SUBSCRIBE from %s",
             mq_client_id(c));
    return mqt_broker_log_count(b, needle);
}

static void
restart(mqt_broker *b)
{
    CHECK(mqt_broker_stop(b, 5000) == 0, "broker stop");
    CHECK(mqt_broker_restart(b) == 0, "broker restart");
}

static void
set_retained(mqt_broker *b, const char *topic, const char *msg)
{
    char *argv[] = {"mosquitto_pub", "-p", (char *)integ_port_str(b), "-t",
                    (char *)topic, "-q", "1", "-r", "-m", (char *)msg, NULL};
    CHECK(mqt_run(argv, 10000, NULL, NULL) == 0, "mosquitto_pub -r");
}

/* The scenario: retained message, subscribe, broker restart
 * (persistence on: the retained message survives, the clean session does
 * not), the application subscribes again when it sees CONNECT. */
static void
on_connect_resubscribe(int proto)
{
    mqt_broker_opts o = {.persistence = 1};
    mqt_broker *b = integ_broker(&o);
    const char *topic = integ_topic("ret");
    mq_client *c = client(b, "rs", proto, 1);
    struct seen s = {0};
    int tok;

    set_retained(b, topic, "r1");
    integ_connect(c);
    integ_subscribe(c, topic, 1);
    take_for(c, 300, 0, &s);
    CHECK(s.retained == 1, "first connection: %d retained", s.retained);
    restart(b);
    CHECK(wait_reconnect(c) == 0, "session present after a clean restart");
    tok = CHECK_TOKEN(mq_subscribe(c, topic, 1)); /* as in on_connect */
    memset(&s, 0, sizeof s);
    take_for(c, 1000, tok, &s);
    CHECK(s.retained == 1 && s.messages == 1, "after the reconnect: %d "
          "retained, %d messages (paho-mqtt: 1)", s.retained, s.messages);
    CHECK(s.resubscribed == 1 && s.resub_code == 1 &&
          strcmp(s.resub_filter, topic) == 0, "RESUBSCRIBED %d code %d %s",
          s.resubscribed, s.resub_code, s.resub_filter);
    CHECK(s.subscribed == 1 && s.sub_code == 1 && s.sub_error == MQ_OK,
          "the application's SUBSCRIBED: %d code %d %s", s.subscribed,
          s.sub_code, mq_err_name(s.sub_error));
    CHECK_RC(mq_wait(c, tok, 0), MQ_OK);
    CHECK(subscribes(b, c) == 2, "%d SUBSCRIBEs for two connections",
          subscribes(b, c));
}

Test(resubscribe, on_connect_once_v311, .timeout = 90)
{
    on_connect_resubscribe(MQ_PROTO_V311);
}
Test(resubscribe, on_connect_once_v5, .timeout = 90)
{
    on_connect_resubscribe(MQ_PROTO_V5);
}

/* Broker persistence off: the retained message is gone with the broker;
 * published again after the reconnect it arrives once, and still one
 * SUBSCRIBE per connection went out. */
Test(resubscribe, broker_without_persistence, .timeout = 90)
{
    mqt_broker *b = integ_broker(NULL);
    const char *topic = integ_topic("ret0");
    mq_client *c = client(b, "rs0", MQ_PROTO_V311, 1);
    struct seen s = {0};
    int tok;

    integ_connect(c);
    integ_subscribe(c, topic, 1);
    restart(b);
    wait_reconnect(c);
    tok = CHECK_TOKEN(mq_subscribe(c, topic, 1));
    take_for(c, 500, tok, &s);
    CHECK(s.resubscribed == 1 && s.subscribed == 1, "resub %d sub %d",
          s.resubscribed, s.subscribed);
    set_retained(b, topic, "r2");
    take_for(c, 500, tok, &s);
    CHECK(s.messages == 1, "%d messages", s.messages);
    CHECK(subscribes(b, c) == 2, "%d SUBSCRIBEs", subscribes(b, c));
}

/* Another QoS (or other v5 properties) is a different subscription: it
 * goes out, and the broker sends the retained message again. */
Test(resubscribe, different_options_go_out, .timeout = 90)
{
    mqt_broker_opts o = {.persistence = 1};
    mqt_broker *b = integ_broker(&o);
    const char *topic = integ_topic("opt");
    mq_client *c = client(b, "opt", MQ_PROTO_V5, 1);
    mq_props *p = mq_props_new();
    struct seen s = {0};
    int tok;

    set_retained(b, topic, "r");
    integ_connect(c);
    integ_subscribe(c, topic, 1);
    restart(b);
    wait_reconnect(c);
    tok = CHECK_TOKEN(mq_subscribe(c, topic, 2));
    take_for(c, 1000, tok, &s);
    CHECK(s.retained == 2, "%d retained (renewal + QoS 2 subscribe)",
          s.retained);
    CHECK(s.subscribed == 1 && s.sub_code == 2, "SUBSCRIBED code %d",
          s.sub_code);
    CHECK(subscribes(b, c) == 3, "%d SUBSCRIBEs", subscribes(b, c));
    /* properties differ: out again */
    CHECK_RC(mq_props_add_int(p, MQ_PROP_SUBSCRIPTION_IDENTIFIER, 7), MQ_OK);
    tok = CHECK_TOKEN(mq_subscribe_v5(c, topic, 2, p));
    memset(&s, 0, sizeof s);
    take_for(c, 1000, tok, &s);
    CHECK(s.subscribed == 1 && s.retained == 1, "sub %d retained %d",
          s.subscribed, s.retained);
    CHECK(subscribes(b, c) == 4, "%d SUBSCRIBEs", subscribes(b, c));
    mq_props_free(p);
}

/* Properties are part of what is renewed: the same Subscription
 * Identifier again is answered locally. */
Test(resubscribe, same_properties_answered_locally, .timeout = 90)
{
    mqt_broker_opts o = {.persistence = 1};
    mqt_broker *b = integ_broker(&o);
    const char *topic = integ_topic("props");
    mq_client *c = client(b, "props", MQ_PROTO_V5, 1);
    mq_props *p = mq_props_new();
    struct seen s = {0};
    int tok;

    CHECK_RC(mq_props_add_int(p, MQ_PROP_SUBSCRIPTION_IDENTIFIER, 9), MQ_OK);
    set_retained(b, topic, "r");
    integ_connect(c);
    CHECK_RC(mq_wait(c, CHECK_TOKEN(mq_subscribe_v5(c, topic, 1, p)), 10000),
             MQ_OK);
    restart(b);
    wait_reconnect(c);
    tok = CHECK_TOKEN(mq_subscribe_v5(c, topic, 1, p));
    take_for(c, 1000, tok, &s);
    CHECK(s.retained == 1 && s.subscribed == 1 && s.resubscribed == 1,
          "retained %d sub %d resub %d", s.retained, s.subscribed,
          s.resubscribed);
    CHECK(subscribes(b, c) == 2, "%d SUBSCRIBEs", subscribes(b, c));
    mq_props_free(p);
}

/* The broker kept the session (clean start 0, persistence on): libmq
 * does not resubscribe at all, the application's SUBSCRIBE goes out, and
 * the broker sends the retained message for it - as with paho-mqtt. */
Test(resubscribe, session_kept_no_renewal, .timeout = 90)
{
    mqt_broker_opts o = {.persistence = 1};
    mqt_broker *b = integ_broker(&o);
    const char *topic = integ_topic("kept");
    mq_client *c = client(b, "kept", MQ_PROTO_V311, 0);
    struct seen s = {0};
    int tok;

    set_retained(b, topic, "r");
    integ_connect(c);
    integ_subscribe(c, topic, 1);
    take_for(c, 300, 0, &s);
    CHECK(s.retained == 1, "first connection: %d retained", s.retained);
    /* acknowledged, or the kept session would rightly resend it */
    {
        char ack[128];
        snprintf(ack, sizeof ack, "Received PUBACK from %s", mq_client_id(c));
        CHECK(mqt_broker_wait_log(b, ack, 5000), "no PUBACK logged");
    }
    memset(&s, 0, sizeof s);
    restart(b);
    CHECK(wait_reconnect(c) == 1, "session not kept");
    tok = CHECK_TOKEN(mq_subscribe(c, topic, 1));
    take_for(c, 1000, tok, &s);
    CHECK(s.resubscribed == 0, "renewed a kept session");
    CHECK(s.subscribed == 1 && s.retained == 1, "sub %d retained %d",
          s.subscribed, s.retained);
    CHECK(subscribes(b, c) == 2, "%d SUBSCRIBEs", subscribes(b, c));
}

/* paho-mqtt 1.6 with clean_session=False in the same scenario: it also
 * gets the retained message once per connection. */
Test(resubscribe, paho_reference_session_kept, .timeout = 90)
{
    mqt_broker_opts o = {.persistence = 1};
    mqt_broker *b = integ_broker(&o);
    const char *topic = integ_topic("pkept");
    char *out = NULL;
    mqt_proc *p;
    long long deadline;

    set_retained(b, topic, "r1");
    {
        char *argv[] = {"/usr/bin/python3", PAHO_TUTORIAL, "step4", "--port",
                        (char *)integ_port_str(b), "--topic", (char *)topic,
                        "--persistent", NULL};
        p = mqt_spawn(argv);
    }
    CHECK(p != NULL, "spawn paho");
    CHECK(mqt_broker_wait_log(b, "Sending PUBLISH to paho-step4", 10000),
          "first delivery");
    CHECK(mqt_broker_wait_log(b, "Received PUBACK from paho-step4", 5000),
          "first delivery acknowledged");
    restart(b);
    deadline = mqt_now_ms() + 20000;
    while (mqt_broker_log_count(b, "Sending PUBLISH to paho-step4") < 2) {
        CHECK(mqt_now_ms() < deadline, "no delivery after the restart");
        mqt_sleep_ms(20);
    }
    mqt_sleep_ms(500);
    {
        char *argv[] = {"mosquitto_pub", "-p", (char *)integ_port_str(b),
                        "-t", (char *)topic, "-q", "1", "-m", "quit", NULL};
        CHECK(mqt_run(argv, 10000, NULL, NULL) == 0, "quit");
    }
    CHECK(mqt_proc_finish(p, 15000, &out, NULL) == 0, "paho: %s",
          out ? out : "");
    CHECK(strstr(out, "session present 1") != NULL, "%s", out);
    {
        int n = 0;
        for (char *q = strstr(out, " r1 (retained)"); q;
             q = strstr(q + 1, " r1 (retained)"))
            n++;
        CHECK(n == 2, "paho: %d retained deliveries: %s", n, out);
    }
    free(out);
}
