/*
 * interop.c - libmq against brokers other than mosquitto: the same cases
 * (connect 3.1.1 and 5, QoS 0/1/2 round trips, retained messages, the
 * will, a persistent session, unsubscribe) run against one broker whose
 * known limitations are declared in a profile below and asserted, so a
 * limitation that goes away (or a new one) fails the test instead of
 * being skipped silently.
 *
 * Usage: interop PROFILE URI   (PROFILE: mosquitto, rabbitmq, aedes)
 * run-broker.sh starts the broker on free loopback ports, runs this, and
 * stops the broker by PID. Output: TAP (a summary line as a comment).
 *
 * Threading: the main thread only; libmq's workers run the connections.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mq.h"

#define WAIT_MS 15000   /* one expected event */
#define QUIET_MS 1500   /* how long "nothing arrives" is watched */

/* What a broker does where it departs from MQTT 3.1.1/5.0 as mosquitto
 * implements it. Each field is checked by a case. */
typedef struct profile {
    const char *name;
    /* MQTT 5 CONNECT: accepted (v5_kind MQ_EVENT_CONNECT, v5_code 0),
     * refused by a CONNACK (MQ_EVENT_CONNECT, v5_code the reason), or the
     * connection closed (MQ_EVENT_DISCONNECTED, v5_code the error) */
    int v5_kind, v5_code;
    int granted_qos2;        /* granted QoS for a QoS 2 subscription */
    bool retained_wildcard;  /* retained messages for wildcard filters */
    int qos2_publish_err;    /* outcome of a QoS 2 PUBLISH */
} profile;

static const profile profiles[] = {
    /* the reference: everything */
    { "mosquitto", MQ_EVENT_CONNECT, 0, 2, true, MQ_OK },
    /* RabbitMQ 3.10 MQTT plugin: 3.1.1 only (a v5 CONNECT is closed
     * without a CONNACK); QoS 2 subscriptions granted QoS 1 and a QoS 2
     * PUBLISH acknowledged with PUBACK, which MQTT calls a protocol
     * error: libmq completes that publish with MQ_ERR_PROTOCOL and closes
     * the connection (the broker has forwarded the message at QoS 1);
     * retained messages only for exact-topic subscriptions */
    { "rabbitmq", MQ_EVENT_DISCONNECTED, MQ_ERR_CLOSED, 1, false,
      MQ_ERR_PROTOCOL },
    /* aedes (npm): 3.1.1 only (a v5 CONNECT gets a 3.1.1 CONNACK with
     * "unacceptable protocol version", reported as 0x84) */
    { "aedes", MQ_EVENT_CONNECT, MQ_RC_UNSUPPORTED_PROTOCOL_VERSION, 2,
      true, MQ_OK },
};

static const profile *P;
static const char *uri;
static char fail_msg[512];
static int pid;

#define FAIL(...)                                                         \
    do {                                                                  \
        snprintf(fail_msg, sizeof fail_msg, __VA_ARGS__);                 \
        return false;                                                     \
    } while (0)
#define EXPECT(cond)                                                      \
    do {                                                                  \
        if (!(cond))                                                      \
            FAIL("%s:%d: %s", __FILE__, __LINE__, #cond);                 \
    } while (0)

static const char *
name_of(int kind)
{
    static const char *const n[] = { "none", "CONNECT", "DISCONNECTED",
        "MESSAGE", "PUBLISHED", "SUBSCRIBED", "UNSUBSCRIBED", "LOG",
        "AUTH" };

    return kind >= 0 && kind <= 8 ? n[kind] : "?";
}

static const char *
id(const char *tag)
{
    static char buf[8][24];
    static int k;
    char *b = buf[k++ % 8];

    snprintf(b, sizeof buf[0], "lmq%d%s", pid % 100000, tag);
    return b;
}

static const char *
topic(const char *tag)
{
    static char buf[8][64];
    static int k;
    char *b = buf[k++ % 8];

    snprintf(b, sizeof buf[0], "libmq-interop/%d/%s", pid, tag);
    return b;
}

static mq_client *
client(const char *tag, int proto, bool clean)
{
    mq_client *c = mq_client_new(id(tag), proto);

    if (c == NULL)
        return NULL;
    if (mq_set_server(c, uri) != MQ_OK ||
        mq_set_int(c, MQ_OPT_CLEAN_START, clean) != MQ_OK ||
        mq_set_int(c, MQ_OPT_RECONNECT, 0) != MQ_OK) {
        mq_client_destroy(c);
        return NULL;
    }
    return c;
}

/* Next event of @p kind within @p ms; others are dropped (printed). */
static mq_event *
wait_for(mq_client *c, int kind, int ms)
{
    struct timespec t0, t;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        long left;
        mq_event *ev;

        clock_gettime(CLOCK_MONOTONIC, &t);
        left = ms - ((t.tv_sec - t0.tv_sec) * 1000 +
                     (t.tv_nsec - t0.tv_nsec) / 1000000);
        if (left <= 0)
            return NULL;
        ev = mq_next_event(c, (int)left);
        if (ev == NULL)
            continue;
        if (mq_event_type(ev) == kind)
            return ev;
        printf("#   (%s: skipped %s error %s reason %d)\n", mq_client_id(c),
               name_of(mq_event_type(ev)), mq_err_name(mq_event_error(ev)),
               mq_event_reason(ev));
        if (kind == MQ_EVENT_CONNECT &&
            mq_event_type(ev) == MQ_EVENT_DISCONNECTED)
            return ev; /* a refused or failed connect */
        mq_event_free(ev);
    }
}

/* Connect and return the CONNECT event's session_present, or -1 (with
 * fail_msg) when it did not connect. */
static int
connect_c(mq_client *c)
{
    mq_event *ev;
    int sp;

    if (mq_connect(c) != MQ_OK) {
        snprintf(fail_msg, sizeof fail_msg, "mq_connect failed");
        return -1;
    }
    ev = wait_for(c, MQ_EVENT_CONNECT, WAIT_MS);
    if (ev == NULL || mq_event_type(ev) != MQ_EVENT_CONNECT ||
        mq_event_reason(ev) != 0) {
        snprintf(fail_msg, sizeof fail_msg, "%s did not connect (%s %s "
                 "reason %d)", mq_client_id(c),
                 ev ? name_of(mq_event_type(ev)) : "timeout",
                 ev ? mq_err_name(mq_event_error(ev)) : "",
                 ev ? mq_event_reason(ev) : 0);
        mq_event_free(ev);
        return -1;
    }
    sp = mq_event_session_present(ev);
    mq_event_free(ev);
    return sp;
}

static void
disconnect_c(mq_client *c)
{
    if (mq_disconnect(c, 0) == MQ_OK)
        mq_event_free(wait_for(c, MQ_EVENT_DISCONNECTED, WAIT_MS));
}

/* Subscribe and return the granted QoS (or a reason code >= 0x80, -1 on
 * timeout). */
static int
subscribe_c(mq_client *c, const char *filter, int qos)
{
    mq_event *ev;
    int tok = mq_subscribe(c, filter, qos), g;

    if (tok <= 0)
        return -1;
    ev = wait_for(c, MQ_EVENT_SUBSCRIBED, WAIT_MS);
    if (ev == NULL)
        return -1;
    g = mq_event_reason_count(ev) == 1 ? mq_event_reason_at(ev, 0) : -1;
    mq_event_free(ev);
    return g;
}

/* Publish and wait for its PUBLISHED event; returns its error. */
static int
publish_c(mq_client *c, const char *t, const char *payload, int qos,
          int retain)
{
    mq_event *ev;
    int tok = mq_publish(c, t, payload, strlen(payload), qos, retain), err;

    if (tok <= 0)
        return tok;
    if (qos == 0)
        return MQ_OK;
    ev = wait_for(c, MQ_EVENT_PUBLISHED, WAIT_MS);
    if (ev == NULL)
        return MQ_ERR_TIMEOUT;
    err = mq_event_error(ev);
    mq_event_free(ev);
    return err;
}

/* The next message must be @p payload on @p t. Returns its QoS, or -1
 * (fail_msg set). */
static int
expect_msg(mq_client *c, const char *t, const char *payload, int *retain)
{
    mq_event *ev = wait_for(c, MQ_EVENT_MESSAGE, WAIT_MS);
    size_t n = 0;
    const void *p;
    int q;

    if (ev == NULL) {
        snprintf(fail_msg, sizeof fail_msg, "no message \"%s\" on %s",
                 payload, t);
        return -1;
    }
    p = mq_event_payload(ev, &n);
    if (strcmp(mq_event_topic(ev), t) != 0 || n != strlen(payload) ||
        memcmp(p, payload, n) != 0) {
        snprintf(fail_msg, sizeof fail_msg, "expected \"%s\" on %s, got "
                 "\"%.*s\" on %s", payload, t, (int)n, (const char *)p,
                 mq_event_topic(ev));
        mq_event_free(ev);
        return -1;
    }
    q = mq_event_qos(ev);
    if (retain != NULL)
        *retain = mq_event_retain(ev);
    mq_event_free(ev);
    return q;
}

static bool
no_msg(mq_client *c)
{
    mq_event *ev = wait_for(c, MQ_EVENT_MESSAGE, QUIET_MS);

    if (ev == NULL)
        return true;
    snprintf(fail_msg, sizeof fail_msg, "unexpected message on %s",
             mq_event_topic(ev));
    mq_event_free(ev);
    return false;
}

/* ---- cases ------------------------------------------------------------- */

static bool
case_connect_v311(void)
{
    mq_client *c = client("c3", MQ_PROTO_V311, true);
    bool ok = c != NULL && connect_c(c) == 0;

    if (ok)
        disconnect_c(c);
    mq_client_destroy(c);
    return ok;
}

static bool
case_connect_v5(void)
{
    mq_client *c = client("c5", MQ_PROTO_V5, true);
    mq_event *ev;
    bool ok;

    EXPECT(c != NULL);
    EXPECT(mq_connect(c) == MQ_OK);
    ev = wait_for(c, MQ_EVENT_CONNECT, WAIT_MS);
    if (ev == NULL) {
        mq_client_destroy(c);
        FAIL("no answer to an MQTT 5 CONNECT");
    }
    printf("#   MQTT 5 CONNECT: %s, error %s, reason %d\n",
           name_of(mq_event_type(ev)), mq_err_name(mq_event_error(ev)),
           mq_event_reason(ev));
    ok = mq_event_type(ev) == P->v5_kind &&
         (P->v5_kind == MQ_EVENT_CONNECT ? mq_event_reason(ev)
                                         : mq_event_error(ev)) == P->v5_code;
    if (!ok)
        snprintf(fail_msg, sizeof fail_msg, "declared: %s %d",
                 name_of(P->v5_kind), P->v5_code);
    mq_event_free(ev);
    if (ok && P->v5_kind == MQ_EVENT_CONNECT && P->v5_code == 0)
        disconnect_c(c);
    mq_client_destroy(c);
    return ok;
}

/* Subscribe at @p qos, publish at @p qos, receive. */
static bool
roundtrip(int qos)
{
    char tag[8];
    const char *t;
    mq_client *s, *p;
    int g, q, err;
    bool ok = false;

    snprintf(tag, sizeof tag, "q%d", qos);
    t = topic(tag);
    s = client(tag, MQ_PROTO_V311, true);
    snprintf(tag, sizeof tag, "q%dp", qos);
    p = client(tag, MQ_PROTO_V311, true);
    if (s == NULL || p == NULL || connect_c(s) < 0 || connect_c(p) < 0)
        goto out;
    g = subscribe_c(s, t, qos);
    printf("#   subscribe QoS %d: granted %d\n", qos, g);
    if (g != (qos == 2 ? P->granted_qos2 : qos)) {
        snprintf(fail_msg, sizeof fail_msg, "granted QoS %d, declared %d", g,
                 qos == 2 ? P->granted_qos2 : qos);
        goto out;
    }
    err = publish_c(p, t, "hello", qos, 0);
    printf("#   publish QoS %d: %s\n", qos, mq_err_name(err));
    if (err != (qos == 2 ? P->qos2_publish_err : MQ_OK)) {
        snprintf(fail_msg, sizeof fail_msg, "publish QoS %d: %s", qos,
                 mq_err_name(err));
        goto out;
    }
    q = expect_msg(s, t, "hello", NULL);
    if (q < 0)
        goto out;
    printf("#   received at QoS %d\n", q);
    if (q != g) {
        snprintf(fail_msg, sizeof fail_msg, "received at QoS %d, granted "
                 "%d", q, g);
        goto out;
    }
    ok = true;
    disconnect_c(s);
    if (err == MQ_OK)
        disconnect_c(p);
out:
    mq_client_destroy(s);
    mq_client_destroy(p);
    return ok;
}

static bool case_qos0(void) { return roundtrip(0); }
static bool case_qos1(void) { return roundtrip(1); }
static bool case_qos2(void) { return roundtrip(2); }

static bool
case_retained(void)
{
    const char *t = topic("ret/a");
    char wild[80];
    mq_client *p = client("rp", MQ_PROTO_V311, true), *s = NULL, *w = NULL;
    int r = 0, q;
    bool ok = false;

    snprintf(wild, sizeof wild, "libmq-interop/%d/ret/+", pid);
    if (p == NULL || connect_c(p) < 0)
        goto out;
    if (publish_c(p, t, "kept", 1, 1) != MQ_OK) {
        snprintf(fail_msg, sizeof fail_msg, "retained publish failed");
        goto out;
    }
    /* exact-topic subscriber gets it, flagged retained */
    s = client("rs", MQ_PROTO_V311, true);
    if (s == NULL || connect_c(s) < 0 || subscribe_c(s, t, 1) != 1)
        goto out;
    q = expect_msg(s, t, "kept", &r);
    if (q < 0)
        goto out;
    if (!r) {
        snprintf(fail_msg, sizeof fail_msg, "retained message without the "
                 "retain flag");
        goto out;
    }
    /* wildcard subscriber: declared per broker */
    w = client("rw", MQ_PROTO_V311, true);
    if (w == NULL || connect_c(w) < 0 || subscribe_c(w, wild, 1) != 1)
        goto out;
    if (P->retained_wildcard) {
        if (expect_msg(w, t, "kept", &r) < 0)
            goto out;
    } else {
        if (!no_msg(w)) {
            snprintf(fail_msg, sizeof fail_msg, "declared: no retained "
                     "messages for wildcard filters, but one came");
            goto out;
        }
        printf("#   no retained message for %s (declared)\n", wild);
    }
    /* clear it: a later subscriber gets nothing */
    if (publish_c(p, t, "", 1, 1) != MQ_OK)
        goto out;
    disconnect_c(s);
    mq_client_destroy(s);
    /* a new client id: RabbitMQ, under load, once closed a connection
     * that reused the id of the one just disconnected (its take-over of
     * the old session still running); this case is about the retained
     * message, not about client id take-over */
    s = client("rt", MQ_PROTO_V311, true);
    if (s == NULL || connect_c(s) < 0 || subscribe_c(s, t, 1) != 1)
        goto out;
    if (!no_msg(s))
        goto out;
    ok = true;
out:
    mq_client_destroy(p);
    mq_client_destroy(s);
    mq_client_destroy(w);
    return ok;
}

static bool
case_will(void)
{
    const char *t = topic("will");
    mq_client *s = client("ws", MQ_PROTO_V311, true);
    mq_client *d = client("wd", MQ_PROTO_V311, true);
    bool ok = false;

    if (s == NULL || d == NULL)
        goto out;
    if (mq_set_will(d, t, "gone", 4, 1, 0, NULL) != MQ_OK)
        goto out;
    if (connect_c(s) < 0 || subscribe_c(s, t, 1) != 1 || connect_c(d) < 0)
        goto out;
    /* destroying closes the socket without DISCONNECT: the will fires */
    mq_client_destroy(d);
    d = NULL;
    if (expect_msg(s, t, "gone", NULL) < 0)
        goto out;
    ok = true;
    disconnect_c(s);
out:
    mq_client_destroy(s);
    mq_client_destroy(d);
    return ok;
}

static bool
case_persistent_session(void)
{
    const char *t = topic("sess");
    mq_client *s = client("ps", MQ_PROTO_V311, false);
    mq_client *p = client("pp", MQ_PROTO_V311, true);
    int sp;
    bool ok = false;

    if (s == NULL || p == NULL)
        goto out;
    /* start from no session, then keep it */
    if (mq_set_int(s, MQ_OPT_CLEAN_START, 1) != MQ_OK || connect_c(s) < 0)
        goto out;
    disconnect_c(s);
    if (mq_set_int(s, MQ_OPT_CLEAN_START, 0) != MQ_OK)
        goto out;
    sp = connect_c(s);
    if (sp != 0) {
        if (sp > 0)
            snprintf(fail_msg, sizeof fail_msg, "session present after a "
                     "clean connect");
        goto out;
    }
    if (subscribe_c(s, t, 1) != 1)
        goto out;
    disconnect_c(s);
    /* published while the subscriber is away */
    if (connect_c(p) < 0 || publish_c(p, t, "m1", 1, 0) != MQ_OK ||
        publish_c(p, t, "m2", 1, 0) != MQ_OK)
        goto out;
    sp = connect_c(s);
    if (sp != 1) {
        if (sp == 0)
            snprintf(fail_msg, sizeof fail_msg, "session not present");
        goto out;
    }
    if (expect_msg(s, t, "m1", NULL) != 1 || expect_msg(s, t, "m2", NULL) != 1)
        goto out;
    disconnect_c(s);
    /* clean up the broker's session */
    mq_set_int(s, MQ_OPT_CLEAN_START, 1);
    if (connect_c(s) >= 0)
        disconnect_c(s);
    disconnect_c(p);
    ok = true;
out:
    mq_client_destroy(s);
    mq_client_destroy(p);
    return ok;
}

static bool
case_unsubscribe(void)
{
    const char *t = topic("unsub");
    mq_client *s = client("us", MQ_PROTO_V311, true);
    mq_client *p = client("up", MQ_PROTO_V311, true);
    mq_event *ev;
    bool ok = false;

    if (s == NULL || p == NULL || connect_c(s) < 0 || connect_c(p) < 0)
        goto out;
    if (subscribe_c(s, t, 1) != 1)
        goto out;
    if (publish_c(p, t, "before", 1, 0) != MQ_OK ||
        expect_msg(s, t, "before", NULL) < 0)
        goto out;
    if (mq_unsubscribe(s, t) <= 0)
        goto out;
    ev = wait_for(s, MQ_EVENT_UNSUBSCRIBED, WAIT_MS);
    if (ev == NULL) {
        snprintf(fail_msg, sizeof fail_msg, "no UNSUBACK");
        goto out;
    }
    mq_event_free(ev);
    if (publish_c(p, t, "after", 1, 0) != MQ_OK || !no_msg(s))
        goto out;
    ok = true;
    disconnect_c(s);
    disconnect_c(p);
out:
    mq_client_destroy(s);
    mq_client_destroy(p);
    return ok;
}

static const struct {
    const char *name;
    bool (*fn)(void);
} cases[] = {
    { "connect MQTT 3.1.1", case_connect_v311 },
    { "connect MQTT 5 (accepted or refused as declared)", case_connect_v5 },
    { "QoS 0 round trip", case_qos0 },
    { "QoS 1 round trip", case_qos1 },
    { "QoS 2 round trip (granted QoS as declared)", case_qos2 },
    { "retained message (wildcard delivery as declared), then cleared",
      case_retained },
    { "will published when the client drops", case_will },
    { "persistent session keeps QoS 1 messages", case_persistent_session },
    { "unsubscribe stops delivery", case_unsubscribe },
};

int
main(int argc, char **argv)
{
    size_t i, n = sizeof cases / sizeof cases[0];
    int passed = 0, failed = 0;

    if (argc != 3) {
        fprintf(stderr, "usage: %s mosquitto|rabbitmq|aedes URI\n", argv[0]);
        return 2;
    }
    for (i = 0; i < sizeof profiles / sizeof profiles[0]; i++)
        if (strcmp(argv[1], profiles[i].name) == 0)
            P = &profiles[i];
    if (P == NULL) {
        fprintf(stderr, "unknown broker profile %s\n", argv[1]);
        return 2;
    }
    uri = argv[2];
    pid = (int)getpid();
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("1..%zu\n# broker %s at %s\n", n, P->name, uri);
    for (i = 0; i < n; i++) {
        fail_msg[0] = '\0';
        if (cases[i].fn()) {
            printf("ok %zu - %s: %s\n", i + 1, P->name, cases[i].name);
            passed++;
        } else {
            printf("not ok %zu - %s: %s\n#   %s\n", i + 1, P->name,
                   cases[i].name, fail_msg[0] ? fail_msg : "failed");
            failed++;
        }
    }
    printf("# %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
