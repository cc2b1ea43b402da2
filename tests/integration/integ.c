/*
 * integ.c - shared helpers of the libmq integration tests.
 * Threading: the test's main thread only (one process per Criterion test).
 */
#include "integ.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define INTEG_MAX_CLIENTS 32

static mq_client *g_clients[INTEG_MAX_CLIENTS];
static int g_debug;

void integ_init(void)
{
    g_debug = getenv("INTEG_DEBUG") != NULL;
}

void integ_fini(void)
{
    for (int i = 0; i < INTEG_MAX_CLIENTS; i++) {
        if (g_clients[i]) {
            mq_client_destroy(g_clients[i]);
            g_clients[i] = NULL;
        }
    }
    mqt_cleanup_all();
}

void integ_fail(const char *file, int line, const char *expr,
                const char *fmt, ...)
{
    char msg[2048];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "[integ] %s:%d: FAILED: %s: %s\n", file, line, expr, msg);
    mqt_dump_all_logs();
    cr_assert_fail("%s:%d: %s: %s", file, line, expr, msg);
}

int integ_check_token(const char *file, int line, const char *expr, int rc)
{
    if (rc <= 0)
        integ_fail(file, line, expr, "returned %d (%s), expected a token > 0",
                   rc, mq_err_name(rc));
    return rc;
}

mqt_broker *integ_broker(const mqt_broker_opts *opts)
{
    mqt_broker *b = mqt_broker_start(opts);
    if (!b)
        integ_fail(__FILE__, __LINE__, "mqt_broker_start", "no broker");
    return b;
}

const char *integ_id(const char *tag)
{
    static char ring[16][96];
    static int n;
    char *s = ring[n++ % 16];
    snprintf(s, sizeof ring[0], "it-%d-%s", (int)getpid(), tag);
    return s;
}

const char *integ_topic(const char *tag)
{
    static char ring[16][128];
    static int n;
    char *s = ring[n++ % 16];
    snprintf(s, sizeof ring[0], "itest/%d/%s", (int)getpid(), tag);
    return s;
}

const char *integ_port_str(mqt_broker *b)
{
    static char ring[8][16];
    static int n;
    char *s = ring[n++ % 8];
    snprintf(s, sizeof ring[0], "%d", mqt_broker_port(b));
    return s;
}

mq_client *integ_client_id(mqt_broker *b, const char *id, int proto)
{
    mq_client *c = mq_client_new(id, proto);
    int i;

    if (!c)
        integ_fail(__FILE__, __LINE__, "mq_client_new", "NULL for id %s",
                   id ? id : "(null)");
    if (b)
        CHECK_RC(mq_set_server(c, mqt_broker_uri(b)), MQ_OK);
    if (g_debug)
        mq_set_int(c, MQ_OPT_LOG_LEVEL, MQ_LOG_DEBUG);
    for (i = 0; i < INTEG_MAX_CLIENTS; i++) {
        if (!g_clients[i]) {
            g_clients[i] = c;
            break;
        }
    }
    CHECK(i < INTEG_MAX_CLIENTS, "too many clients in one test");
    return c;
}

mq_client *integ_client(mqt_broker *b, const char *tag, int proto)
{
    return integ_client_id(b, integ_id(tag), proto);
}

void integ_client_destroy(mq_client *c)
{
    if (!c)
        return;
    for (int i = 0; i < INTEG_MAX_CLIENTS; i++) {
        if (g_clients[i] == c)
            g_clients[i] = NULL;
    }
    mq_client_destroy(c);
}

const char *integ_event_name(int kind)
{
    switch (kind) {
    case MQ_EVENT_NONE: return "NONE";
    case MQ_EVENT_CONNECT: return "CONNECT";
    case MQ_EVENT_DISCONNECTED: return "DISCONNECTED";
    case MQ_EVENT_MESSAGE: return "MESSAGE";
    case MQ_EVENT_PUBLISHED: return "PUBLISHED";
    case MQ_EVENT_SUBSCRIBED: return "SUBSCRIBED";
    case MQ_EVENT_UNSUBSCRIBED: return "UNSUBSCRIBED";
    case MQ_EVENT_LOG: return "LOG";
    case MQ_EVENT_AUTH: return "AUTH";
    default: return "?";
    }
}

/* Short description of an event, for failure messages. */
static void describe(const mq_event *ev, char *buf, size_t n)
{
    int kind = mq_event_type(ev);
    switch (kind) {
    case MQ_EVENT_MESSAGE:
        snprintf(buf, n, "MESSAGE(topic=%s len=%zu qos=%d retain=%d)",
                 mq_event_topic(ev) ? mq_event_topic(ev) : "?",
                 mq_event_payload_len(ev), mq_event_qos(ev),
                 mq_event_retain(ev));
        break;
    case MQ_EVENT_LOG:
        snprintf(buf, n, "LOG(%s)",
                 mq_event_message(ev) ? mq_event_message(ev) : "");
        break;
    default:
        snprintf(buf, n, "%s(error=%s reason=0x%02x token=%d%s%s)",
                 integ_event_name(kind), mq_err_name(mq_event_error(ev)),
                 (unsigned)mq_event_reason(ev), mq_event_token(ev),
                 mq_event_message(ev) ? " msg=" : "",
                 mq_event_message(ev) ? mq_event_message(ev) : "");
        break;
    }
}

/* Skipped events of the current wait, for the failure message. */
static char g_skipped[4096];

static void note_skipped(const mq_event *ev)
{
    char d[512];
    size_t len = strlen(g_skipped);
    describe(ev, d, sizeof d);
    if (g_debug)
        fprintf(stderr, "[integ] skipped %s\n", d);
    if (len + strlen(d) + 3 < sizeof g_skipped)
        snprintf(g_skipped + len, sizeof g_skipped - len, "%s%s",
                 len ? ", " : "", d);
}

mq_event *integ_try_wait(mq_client *c, int kind, int timeout_ms)
{
    long long deadline = mqt_now_ms() + timeout_ms;
    g_skipped[0] = '\0';
    for (;;) {
        long long left = deadline - mqt_now_ms();
        mq_event *ev;
        if (left < 0)
            left = 0;
        ev = mq_next_event(c, (int)left);
        if (ev) {
            if (mq_event_type(ev) == kind)
                return ev;
            note_skipped(ev);
            mq_event_free(ev);
            continue;
        }
        if (mqt_now_ms() >= deadline)
            return NULL;
    }
}

mq_event *integ_wait_at(const char *file, int line, mq_client *c, int kind,
                        int timeout_ms)
{
    mq_event *ev = integ_try_wait(c, kind, timeout_ms);
    if (!ev)
        integ_fail(file, line, "integ_wait",
                   "no %s event from client %s within %d ms; skipped: [%s]",
                   integ_event_name(kind), c ? mq_client_id(c) : "(null)",
                   timeout_ms, g_skipped);
    return ev;
}

int integ_connect_at(const char *file, int line, mq_client *c)
{
    long long deadline;
    int rc = mq_connect(c);
    if (rc != MQ_OK)
        integ_fail(file, line, "mq_connect", "returned %d (%s)", rc,
                   mq_err_name(rc));
    deadline = mqt_now_ms() + INTEG_WAIT_MS;
    g_skipped[0] = '\0';
    for (;;) {
        long long left = deadline - mqt_now_ms();
        mq_event *ev;
        char d[512];
        if (left <= 0)
            integ_fail(file, line, "integ_connect",
                       "no CONNECT event within %d ms; skipped: [%s]",
                       INTEG_WAIT_MS, g_skipped);
        ev = mq_next_event(c, (int)left);
        if (!ev)
            continue;
        if (mq_event_type(ev) == MQ_EVENT_CONNECT) {
            int reason = mq_event_reason(ev);
            int sp = mq_event_session_present(ev);
            mq_event_free(ev);
            if (reason != 0)
                integ_fail(file, line, "integ_connect",
                           "CONNACK reason 0x%02x (%s)", (unsigned)reason,
                           mq_reason_string(reason));
            CHECK(mq_is_connected(c) == 1,
                  "mq_is_connected is 0 after a CONNECT event");
            return sp;
        }
        if (mq_event_type(ev) == MQ_EVENT_DISCONNECTED &&
            !mq_event_will_reconnect(ev)) {
            describe(ev, d, sizeof d);
            mq_event_free(ev);
            integ_fail(file, line, "integ_connect",
                       "connect failed: %s; skipped: [%s]", d, g_skipped);
        }
        note_skipped(ev);
        mq_event_free(ev);
    }
}

void integ_disconnect_at(const char *file, int line, mq_client *c)
{
    mq_event *ev;
    int rc = mq_disconnect(c, 0);
    if (rc != MQ_OK)
        integ_fail(file, line, "mq_disconnect", "returned %d (%s)", rc,
                   mq_err_name(rc));
    ev = integ_wait_at(file, line, c, MQ_EVENT_DISCONNECTED, INTEG_WAIT_MS);
    rc = mq_event_error(ev);
    int wr = mq_event_will_reconnect(ev);
    mq_event_free(ev);
    if (rc != MQ_OK)
        integ_fail(file, line, "integ_disconnect",
                   "DISCONNECTED error %d (%s), expected MQ_OK", rc,
                   mq_err_name(rc));
    if (wr)
        integ_fail(file, line, "integ_disconnect",
                   "will_reconnect=1 after mq_disconnect");
    if (mq_is_connected(c))
        integ_fail(file, line, "integ_disconnect",
                   "mq_is_connected is 1 after DISCONNECTED");
}

void integ_subscribe_at(const char *file, int line, mq_client *c,
                        const char *filter, int qos)
{
    int tok = mq_subscribe(c, filter, qos);
    long long deadline = mqt_now_ms() + INTEG_WAIT_MS;
    if (tok <= 0)
        integ_fail(file, line, "mq_subscribe", "returned %d (%s)", tok,
                   mq_err_name(tok));
    for (;;) {
        long long left = deadline - mqt_now_ms();
        mq_event *ev;
        if (left <= 0)
            integ_fail(file, line, "integ_subscribe",
                       "no SUBSCRIBED for token %d", tok);
        ev = integ_wait_at(file, line, c, MQ_EVENT_SUBSCRIBED, (int)left);
        if (mq_event_token(ev) != tok) {
            mq_event_free(ev);
            continue;
        }
        size_t n = mq_event_reason_count(ev);
        int granted = mq_event_reason_at(ev, 0);
        mq_event_free(ev);
        if (n != 1 || granted != qos)
            integ_fail(file, line, "integ_subscribe",
                       "SUBACK for %s: count %zu, code 0x%02x, expected "
                       "granted QoS %d", filter, n, (unsigned)granted, qos);
        return;
    }
}

void integ_wait_published_at(const char *file, int line, mq_client *c,
                             int token)
{
    long long deadline = mqt_now_ms() + INTEG_WAIT_MS;
    for (;;) {
        long long left = deadline - mqt_now_ms();
        mq_event *ev;
        if (left <= 0)
            integ_fail(file, line, "integ_wait_published",
                       "no PUBLISHED for token %d", token);
        ev = integ_wait_at(file, line, c, MQ_EVENT_PUBLISHED, (int)left);
        if (mq_event_token(ev) != token) {
            mq_event_free(ev);
            continue;
        }
        int err = mq_event_error(ev);
        int reason = mq_event_reason(ev);
        mq_event_free(ev);
        if (err != MQ_OK)
            integ_fail(file, line, "integ_wait_published",
                       "token %d: error %s reason 0x%02x", token,
                       mq_err_name(err), (unsigned)reason);
        return;
    }
}

void integ_wait_broker_sub_at(const char *file, int line, mqt_broker *b,
                              const char *client_id)
{
    char needle[256];
    snprintf(needle, sizeof needle, "Received SUBSCRIBE from %s", client_id);
    if (!mqt_broker_wait_log(b, needle, 5000))
        integ_fail(file, line, "integ_wait_broker_sub",
                   "broker never logged \"%s\"", needle);
}
