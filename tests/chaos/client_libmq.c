/*
 * client_libmq.c - the libmq child of the chaos test: publishes (-n) with
 * persistence (-d), subscribes (-f) with a persistent session, or both,
 * following the protocol of chaos_child.h. MQTT 5 (or 3.1.1 with -V 4),
 * clean start 0, session expiry 1 h, reconnect 50-500 ms, keepalive -k.
 *
 * With -P it stops taking events for a while after the SUBACK (a busy
 * application; the reproducers in test_repro.c use it). With -S it
 * subscribes again after every reconnect, also when the broker
 * said it kept the session (a user's workaround for brokers that lose
 * subscriptions they claim to keep).
 *
 * Completions with an error (MQ_EVENT_PUBLISHED with error != MQ_OK) are
 * written to the accept log as "E INC SEQ TOKEN ERR REASON" (SEQ -1 for a
 * message an earlier incarnation accepted): the application was told, so
 * such a message is not lost silently.
 *
 * Exit (after SIGUSR1 for a publisher, SIGUSR2 for a subscriber): 0, or 3
 * if the drain timed out; 2 on an unexpected error.
 *
 * Threading: main thread only (libmq runs its worker).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chaos_child.h"
#include "mq.h"

#define DRAIN_MS 120000
/* token -> seq for the messages in flight (at most -w + 100); small, so
 * that the soak's RSS is libmq's and not a table touched page by page */
#define TOKENS 4096

static struct {
    int token;
    long seq;
} g_tok[TOKENS];

static void
set(mq_client *c, int opt, long long v, const char *what)
{
    int rc = mq_set_int(c, opt, v);

    if (rc != MQ_OK) {
        fprintf(stderr, "%s: %s\n", what, mq_strerror(rc));
        exit(2);
    }
}

static void
handle(const cc_opts *o, mq_client *c, mq_event *ev, int afd, int rfd)
{
    char line[160];
    int t = mq_event_type(ev);

    /* The user's workaround for a broker that claims the session but lost
     * the subscription (mosquitto 2.0.11 and shared subscriptions). */
    if (t == MQ_EVENT_CONNECT && o->resubscribe && o->filter != NULL &&
        mq_event_reason(ev) == 0 && mq_event_session_present(ev) &&
        mq_subscribe(c, o->filter, 2) <= 0)
        fprintf(stderr, "resubscribe failed\n");

    if (t == MQ_EVENT_MESSAGE && rfd >= 0) {
        size_t len;
        const void *p = mq_event_payload(ev, &len);
        cc_log_receive(rfd, o->inc, mq_event_qos(ev), mq_event_dup(ev),
                       mq_event_topic(ev), p, len);
    } else if (t == MQ_EVENT_SUBSCRIBED && rfd >= 0) {
        snprintf(line, sizeof line, "# subscribed %d %d\n", o->inc,
                 mq_event_reason_at(ev, 0));
        cc_write_line(rfd, line);
        if (o->pause_ms > 0)
            cc_sleep_ms(o->pause_ms); /* libmq's worker goes on meanwhile */
    } else if (t == MQ_EVENT_PUBLISHED && afd >= 0 &&
               mq_event_error(ev) != MQ_OK) {
        int tok = mq_event_token(ev);
        long seq = g_tok[tok % TOKENS].token == tok ? g_tok[tok % TOKENS].seq
                                                    : -1;
        snprintf(line, sizeof line, "E %d %ld %d %d %d\n", o->inc, seq, tok,
                 mq_event_error(ev), mq_event_reason(ev));
        cc_write_line(afd, line);
        fprintf(stderr, "publish %ld (token %d) failed: %s reason %d\n", seq,
                tok, mq_strerror(mq_event_error(ev)), mq_event_reason(ev));
    } else if (t == MQ_EVENT_LOG) {
        fprintf(stderr, "[%lld] %s\n", cc_now_us() / 1000,
                mq_event_message(ev));
    } else if (t == MQ_EVENT_DISCONNECTED) {
        fprintf(stderr, "[%lld] disconnected: %s\n", cc_now_us() / 1000,
                mq_strerror(mq_event_error(ev)));
    }
    mq_event_free(ev);
}

int
main(int argc, char **argv)
{
    cc_opts o;
    mq_client *c;
    int afd = -1, rfd = -1, rc;
    long seq = 0;
    long long next = 0, deadline;
    char topic[160], payload[CC_MAX_PAYLOAD];
    mq_event *ev;

    cc_parse(argc, argv, &o);
    cc_signals();
    setvbuf(stderr, NULL, _IOLBF, 0);
    c = mq_client_new(o.id, o.version == 4 ? MQ_PROTO_V311 : MQ_PROTO_V5);
    if (c == NULL)
        return 2;
    set(c, MQ_OPT_CLEAN_START, 0, "clean start");
    if (o.version == 5)
        set(c, MQ_OPT_SESSION_EXPIRY_S, 3600, "session expiry");
    set(c, MQ_OPT_RECONNECT_MIN_MS, 50, "reconnect min");
    set(c, MQ_OPT_RECONNECT_MAX_MS, 500, "reconnect max");
    set(c, MQ_OPT_CONNECT_TIMEOUT_MS, 3000, "connect timeout");
    set(c, MQ_OPT_KEEPALIVE_S, o.keepalive, "keepalive");
    set(c, MQ_OPT_QUEUE_MAX_MSGS, o.max_inflight + 100, "queue");
    set(c, MQ_OPT_LOG_LEVEL, MQ_LOG_WARNING, "log level");
    if (o.dir != NULL) {
        set(c, MQ_OPT_PERSIST_SYNC, 2, "persist sync"); /* kill -9 only */
        rc = mq_set_str(c, MQ_SOPT_PERSIST_DIR, o.dir);
        if (rc != MQ_OK) {
            fprintf(stderr, "persist dir: %s\n", mq_strerror(rc));
            return 2;
        }
    }
    if (mq_set_server(c, o.uri) != MQ_OK || mq_connect(c) != MQ_OK)
        return 2;
    if (o.filter != NULL) {
        rfd = cc_open_log(o.rlog);
        if (mq_subscribe(c, o.filter, 2) <= 0)
            return 2;
    }
    if (o.name != NULL) {
        afd = cc_open_log(o.alog);
        seq = cc_first_seq(o.alog);
    }
    fprintf(stderr, "[%lld] start inc %d pid %d seq %ld, %zu stored\n",
            cc_now_us() / 1000, o.inc, (int)getpid(), seq,
            mq_queued_messages(c));

    while (!cc_stop) {
        int wait = 100;
        if (o.name != NULL && cc_go(&o)) {
            long long now = cc_now_us();
            if (next == 0 || now - next > 1000000)
                next = now;
            wait = next > now ? (int)((next - now + 999) / 1000) : 0;
        }
        while ((ev = mq_next_event(c, wait)) != NULL) {
            handle(&o, c, ev, afd, rfd);
            wait = 0;
        }
        if (o.name == NULL || cc_now_us() < next || !cc_go(&o))
            continue;
        if (mq_queued_messages(c) >= (size_t)o.max_inflight) {
            next += 1000000 / o.rate; /* window full: skip this slot */
            continue;
        }
        {
            size_t len = cc_message(&o, seq, topic, payload);
            rc = mq_publish(c, topic, payload, len, cc_qos(seq), 0);
        }
        if (rc > 0) {
            cc_log_accept(afd, o.inc, seq);
            g_tok[rc % TOKENS].token = rc;
            g_tok[rc % TOKENS].seq = seq;
            seq++;
            next += 1000000 / o.rate;
        } else if (rc == MQ_ERR_QUEUE_FULL) {
            next += 1000000 / o.rate;
        } else {
            fprintf(stderr, "publish %ld: %s\n", seq, mq_strerror(rc));
            return 2;
        }
    }

    /* SIGUSR1: complete everything accepted (a subscriber keeps taking
     * messages meanwhile), then leave; with -f, only on SIGUSR2 */
    deadline = cc_now_us() / 1000 + DRAIN_MS;
    while (o.name != NULL && !cc_quit && mq_queued_messages(c) > 0 &&
           cc_now_us() / 1000 < deadline) {
        if ((ev = mq_next_event(c, 100)) != NULL)
            handle(&o, c, ev, afd, rfd);
    }
    rc = o.name != NULL && mq_queued_messages(c) > 0 ? 3 : 0;
    if (o.name != NULL)
        cc_log_drained(afd, o.inc, (long)mq_queued_messages(c));
    while (o.filter != NULL && !cc_quit) {
        if ((ev = mq_next_event(c, 100)) != NULL)
            handle(&o, c, ev, afd, rfd);
    }
    fprintf(stderr, "[%lld] stop: %zu not completed\n", cc_now_us() / 1000,
            mq_queued_messages(c));
    if (mq_disconnect(c, 0) == MQ_OK) {
        deadline = cc_now_us() / 1000 + 3000;
        while (cc_now_us() / 1000 < deadline) {
            ev = mq_next_event(c, 100);
            if (ev == NULL)
                continue;
            if (mq_event_type(ev) == MQ_EVENT_DISCONNECTED) {
                mq_event_free(ev);
                break;
            }
            handle(&o, c, ev, afd, rfd);
        }
    }
    while ((ev = mq_next_event(c, 0)) != NULL)
        handle(&o, c, ev, afd, rfd);
    mq_client_destroy(c);
    return rc;
}
