/*
 * test_proxy.c - QoS 1/2 flows through the fault-injection proxy
 * (proxy.c) in front of a real mosquitto (tests/support/broker.c). The
 * connection is cut after N bytes either way, at exact packet boundaries
 * (after PUBLISH before PUBACK/PUBREC, after PUBREC before PUBREL, after
 * PUBREL before PUBCOMP), truncated mid-packet, stalled (keepalive must
 * notice) or slowed down. With MQ_OPT_RECONNECT, MQ_OPT_CLEAN_START 0 and
 * (v5) a session expiry, every publish must complete with MQ_OK, every
 * QoS 1 message arrive at least once and every QoS 2 message exactly once
 * at a subscriber. Faults hit the publisher's connection ("pub") or the
 * subscriber's ("sub": then the publisher goes direct).
 *
 * One exception, checked in the broker's log: a QoS 2 message the broker
 * sends again after it received the subscriber's PUBREC for it breaks
 * [MQTT-4.3.3-6] (the sender never resends the PUBLISH once it sent the
 * PUBREL). mosquitto 2.0.11 does so after back-to-back cuts (its
 * resend_pubrel quirk, tests/fault/README.md); if the subscriber had
 * already answered that PUBREL, the PUBLISH is a new message to it
 * ([MQTT-4.3.3-12]) and is delivered again. Such a second delivery, with
 * DUP 1 and the same packet id, is counted as the broker's and printed;
 * any other second delivery fails the test.
 *
 * Threading: main thread only (the proxy and libmq run their own).
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker.h"
#include "ft.h"
#include "mq.h"
#include "proxy.h"

#define TOPIC_FMT "fault/%d/t"

typedef struct pscen {
    int version, qos, n;
    int sub_side;       /* 1: the subscriber goes through the proxy */
    int dir, type, nth, action, every, times; /* px_fault_at_packet */
    int cut_dir;        /* px_cut_after_bytes when cut_bytes > 0 */
    long cut_bytes;
    int delay_ms;
    int keepalive;      /* publisher/subscriber keepalive (s), 0: 60 */
    int min_reconnects; /* proxy connections expected beyond the first */
} pscen;

static mqt_broker *g_broker;

static void
dump_logs(void)
{
    if (g_broker != NULL)
        mqt_broker_dump_log(g_broker, stderr);
}

static mq_client *
mk(const char *uri, const char *id, const pscen *s)
{
    mq_client *c = mq_client_new(id, s->version);

    FT_CHECK(c != NULL, "client_new");
    FT_CHECK(mq_set_server(c, uri) == MQ_OK, "server");
    FT_CHECK(mq_set_int(c, MQ_OPT_CLEAN_START, 0) == MQ_OK, "clean");
    if (s->version == 5)
        FT_CHECK(mq_set_int(c, MQ_OPT_SESSION_EXPIRY_S, 600) == MQ_OK, "se");
    FT_CHECK(mq_set_int(c, MQ_OPT_RECONNECT, 1) == MQ_OK, "rc");
    FT_CHECK(mq_set_int(c, MQ_OPT_RECONNECT_MIN_MS, 50) == MQ_OK, "min");
    FT_CHECK(mq_set_int(c, MQ_OPT_RECONNECT_MAX_MS, 400) == MQ_OK, "max");
    FT_CHECK(mq_set_int(c, MQ_OPT_CONNECT_TIMEOUT_MS, 3000) == MQ_OK, "cto");
    if (s->keepalive)
        FT_CHECK(mq_set_int(c, MQ_OPT_KEEPALIVE_S, s->keepalive) == MQ_OK,
                 "ka");
    FT_CHECK(mq_connect(c) == MQ_OK, "connect");
    return c;
}

/* Packet ids (1..65535) the broker sent to @p client_id as a QoS 2
 * PUBLISH with DUP 1 after it had received that client's PUBREC for the
 * id (and before a PUBLISH with DUP 0 started a new flow on it): the
 * broker broke [MQTT-4.3.3-6]. bad[] has 65536 entries. */
static void
broker_resends_after_pubrec(mqt_broker *b, const char *client_id,
                            unsigned char *bad)
{
    char *text = NULL, *line, *save = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    unsigned char *rec = calloc(65536, 1);
    char pubrec[96], publish[96];

    FT_CHECK(f != NULL && rec != NULL, "out of memory");
    mqt_broker_dump_log(b, f);
    fclose(f);
    snprintf(pubrec, sizeof pubrec, "Received PUBREC from %s (Mid: ",
             client_id);
    snprintf(publish, sizeof publish, "Sending PUBLISH to %s (d", client_id);
    for (line = strtok_r(text, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        const char *p;
        unsigned mid, d;
        if ((p = strstr(line, pubrec)) != NULL &&
            sscanf(p + strlen(pubrec), "%u", &mid) == 1 && mid < 65536)
            rec[mid] = 1;
        else if ((p = strstr(line, publish)) != NULL &&
                 sscanf(p + strlen(publish), "%u, q2, r%*u, m%u", &d,
                        &mid) == 2 && mid < 65536) {
            if (d == 0)
                rec[mid] = 0; /* a new flow on the id */
            else if (rec[mid])
                bad[mid] = 1;
        }
    }
    free(rec);
    free(text);
}

static void
run(pscen *s)
{
    mqt_broker *b = mqt_broker_start(NULL);
    px *p;
    mq_client *pub, *sub;
    mq_event *ev;
    char topic[64], pid_s[32], sid[64];
    int *seen, *done, published = 0, i, sent = 0, pub_disc = 0, sub_disc = 0;
    int *first_pid, *again_pid, *again_dup;
    long long deadline, quiet_until = 0;

    FT_CHECK(b != NULL, "broker start");
    if (s->n == 0)
        s->n = 200;
    g_broker = b;
    ft_fail_hook = dump_logs;
    p = px_start(mqt_broker_port(b));
    FT_CHECK(p != NULL, "proxy start");
    snprintf(topic, sizeof topic, TOPIC_FMT, (int)getpid());
    snprintf(pid_s, sizeof pid_s, "pub-%d", (int)getpid());
    snprintf(sid, sizeof sid, "sub-%d", (int)getpid());
    seen = calloc((size_t)s->n, sizeof *seen);
    done = calloc((size_t)s->n + 1, sizeof *done);
    /* packet id of the first delivery; id and DUP of a later one */
    first_pid = calloc((size_t)s->n, sizeof *first_pid);
    again_pid = calloc((size_t)s->n, sizeof *again_pid);
    again_dup = calloc((size_t)s->n, sizeof *again_dup);
    FT_CHECK(seen != NULL && done != NULL && first_pid != NULL &&
             again_pid != NULL && again_dup != NULL, "out of memory");

    sub = mk(s->sub_side ? px_uri(p) : mqt_broker_uri(b), sid, s);
    ev = ft_wait(sub, MQ_EVENT_CONNECT, 10000);
    FT_CHECK(ev != NULL && mq_event_reason(ev) == 0, "sub connect");
    mq_event_free(ev);
    FT_CHECK(mq_subscribe(sub, topic, 2) > 0, "subscribe");
    ev = ft_wait(sub, MQ_EVENT_SUBSCRIBED, 10000);
    FT_CHECK(ev != NULL && mq_event_reason_at(ev, 0) == 2, "suback");
    mq_event_free(ev);

    pub = mk(s->sub_side ? mqt_broker_uri(b) : px_uri(p), pid_s, s);
    ev = ft_wait(pub, MQ_EVENT_CONNECT, 10000);
    FT_CHECK(ev != NULL && mq_event_reason(ev) == 0, "pub connect");
    mq_event_free(ev);

    if (s->action)
        px_fault_at_packet(p, s->dir, s->type, s->nth, s->action, s->every,
                           s->times);
    if (s->cut_bytes > 0)
        px_cut_after_bytes(p, s->cut_dir, s->cut_bytes);
    if (s->delay_ms)
        px_set_delay(p, s->delay_ms);

    deadline = ft_now_ms() + 90000;
    for (;;) {
        struct pollfd pf[2] = {{mq_event_fd(pub), POLLIN, 0},
                               {mq_event_fd(sub), POLLIN, 0}};
        int all = 1;

        /* publish in bursts of 10, interleaved with event handling */
        for (i = 0; i < 10 && sent < s->n; i++) {
            char msg[32];
            int tok;
            snprintf(msg, sizeof msg, "m-%05d", sent);
            tok = mq_publish(pub, topic, msg, strlen(msg), s->qos, 0);
            FT_CHECK(tok > 0, "publish %d: %s", sent, mq_err_name(tok));
            FT_CHECK(tok <= s->n, "token %d beyond the count", tok);
            sent++;
        }
        poll(pf, 2, 20);
        while ((ev = mq_next_event(pub, 0)) != NULL) {
            int t = mq_event_type(ev);
            if (t == MQ_EVENT_PUBLISHED) {
                int tok = mq_event_token(ev);
                FT_CHECK(mq_event_error(ev) == MQ_OK,
                         "publish token %d failed: %s reason 0x%02x", tok,
                         mq_err_name(mq_event_error(ev)),
                         mq_event_reason(ev));
                FT_CHECK(tok >= 1 && tok <= s->n && !done[tok],
                         "token %d completed twice or unknown", tok);
                done[tok] = 1;
                published++;
            } else if (t == MQ_EVENT_DISCONNECTED) {
                pub_disc++;
                printf("  pub disconnected: %s (%s)\n",
                       mq_err_name(mq_event_error(ev)),
                       mq_event_message(ev) ? mq_event_message(ev) : "");
            }
            mq_event_free(ev);
        }
        while ((ev = mq_next_event(sub, 0)) != NULL) {
            int t = mq_event_type(ev);
            if (t == MQ_EVENT_MESSAGE) {
                size_t len;
                const char *pl = mq_event_payload(ev, &len);
                int k = -1;
                char buf[8] = "";
                if (len == 7)
                    memcpy(buf, pl, 7); /* payloads are not NUL-terminated */
                if (len == 7 && sscanf(buf, "m-%5d", &k) == 1 && k >= 0 &&
                    k < s->n) {
                    if (seen[k]++ == 0) {
                        first_pid[k] = mq_event_packet_id(ev);
                    } else {
                        again_pid[k] = mq_event_packet_id(ev);
                        again_dup[k] = mq_event_dup(ev);
                    }
                } else
                    FT_CHECK(0, "unexpected payload %.*s", (int)len, pl);
            } else if (t == MQ_EVENT_DISCONNECTED) {
                sub_disc++;
                printf("  sub disconnected: %s (%s)\n",
                       mq_err_name(mq_event_error(ev)),
                       mq_event_message(ev) ? mq_event_message(ev) : "");
            }
            mq_event_free(ev);
        }
        for (i = 0; i < s->n; i++)
            if (seen[i] == 0)
                all = 0;
        if (all && published == s->n && sent == s->n) {
            if (quiet_until == 0)
                quiet_until = ft_now_ms() + 1000; /* catch late dups */
            else if (ft_now_ms() >= quiet_until)
                break;
        }
        if (ft_now_ms() > deadline) {
            int missing = 0, first = -1;
            for (i = 0; i < s->n; i++)
                if (!seen[i]) {
                    missing++;
                    if (first < 0)
                        first = i;
                }
            FT_CHECK(0, "timeout: %d/%d published, %d messages missing "
                     "(first m-%05d), proxy conns %d faults %d", published,
                     s->n, missing, first, px_connections(p),
                     px_faults_fired(p));
        }
    }
    printf("  proxy connections %d, faults fired %d, pub disc %d, sub disc "
           "%d\n", px_connections(p), px_faults_fired(p), pub_disc, sub_disc);
    {
        int dups = 0, brokers = 0;
        unsigned char *bad = NULL;
        for (i = 0; i < s->n; i++)
            if (seen[i] > 1)
                dups++;
        printf("  %d messages delivered more than once\n", dups);
        if (s->qos == 2 && dups > 0) {
            bad = calloc(65536, 1);
            FT_CHECK(bad != NULL, "out of memory");
            broker_resends_after_pubrec(b, sid, bad);
        }
        for (i = 0; s->qos == 2 && i < s->n; i++) {
            if (seen[i] == 2 && again_dup[i] &&
                again_pid[i] == first_pid[i] && bad[again_pid[i]]) {
                if (brokers++ < 5)
                    printf("  m-%05d delivered again: the broker sent "
                           "packet id %d again (DUP 1) after it had our "
                           "PUBREC\n", i, again_pid[i]);
                continue;
            }
            FT_CHECK(seen[i] == 1, "QoS 2 message m-%05d delivered %d "
                     "times (packet ids %d, then %d with DUP %d)", i,
                     seen[i], first_pid[i], again_pid[i], again_dup[i]);
        }
        if (brokers > 0)
            printf("  %d duplicates were the broker's ([MQTT-4.3.3-6]: "
                   "mosquitto's resend_pubrel quirk, tests/fault/README.md), "
                   "0 libmq's\n", brokers);
        free(bad);
    }
    FT_CHECK(px_faults_fired(p) >= 1, "the fault never fired");
    FT_CHECK(px_connections(p) >= 1 + s->min_reconnects,
             "%d proxy connections, expected a reconnect",
             px_connections(p));
    mq_client_destroy(pub);
    mq_client_destroy(sub);
    px_stop(p);
    mqt_broker_destroy(b);
    g_broker = NULL;
    free(seen);
    free(done);
    free(first_pid);
    free(again_pid);
    free(again_dup);
}

/* packet types */
enum { PUBLISH = 3, PUBACK = 4, PUBREC = 5, PUBREL = 6, PUBCOMP = 7 };

#define SC(name, ...)                                                     \
    static void c_##name(void)                                            \
    {                                                                     \
        pscen s = {__VA_ARGS__};                                \
        run(&s);                                                          \
    }

/* byte cuts, both directions */
SC(cut_c2b_bytes_qos1_v5, .version = 5, .qos = 1, .cut_dir = PX_C2B,
   .cut_bytes = 700, .min_reconnects = 1)
SC(cut_c2b_bytes_qos2_v5, .version = 5, .qos = 2, .cut_dir = PX_C2B,
   .cut_bytes = 700, .min_reconnects = 1)
SC(cut_b2c_bytes_qos2_v5, .version = 5, .qos = 2, .cut_dir = PX_B2C,
   .cut_bytes = 301, .min_reconnects = 1)
SC(cut_c2b_bytes_qos2_v3, .version = 4, .qos = 2, .cut_dir = PX_C2B,
   .cut_bytes = 555, .min_reconnects = 1)
/* packet boundaries on the publisher's side */
SC(pub_lost_puback_qos1_v5, .version = 5, .qos = 1, .dir = PX_B2C,
   .type = PUBACK, .nth = 5, .action = PX_DROP_CLOSE, .every = 40,
   .times = 4, .min_reconnects = 4)
SC(pub_lost_puback_qos1_v3, .version = 4, .qos = 1, .dir = PX_B2C,
   .type = PUBACK, .nth = 5, .action = PX_DROP_CLOSE, .every = 40,
   .times = 4, .min_reconnects = 4)
SC(pub_lost_pubrec_qos2_v5, .version = 5, .qos = 2, .dir = PX_B2C,
   .type = PUBREC, .nth = 5, .action = PX_DROP_CLOSE, .every = 40,
   .times = 4, .min_reconnects = 4)
SC(pub_after_pubrec_before_pubrel_qos2_v5, .version = 5, .qos = 2,
   .dir = PX_C2B, .type = PUBREL, .nth = 5, .action = PX_DROP_CLOSE,
   .every = 40, .times = 4, .min_reconnects = 4)
SC(pub_after_pubrec_before_pubrel_qos2_v3, .version = 4, .qos = 2,
   .dir = PX_C2B, .type = PUBREL, .nth = 5, .action = PX_DROP_CLOSE,
   .every = 40, .times = 4, .min_reconnects = 4)
SC(pub_after_pubrel_before_pubcomp_qos2_v5, .version = 5, .qos = 2,
   .dir = PX_B2C, .type = PUBCOMP, .nth = 5, .action = PX_DROP_CLOSE,
   .every = 40, .times = 4, .min_reconnects = 4)
SC(pub_truncate_publish_qos2_v5, .version = 5, .qos = 2, .dir = PX_C2B,
   .type = PUBLISH, .nth = 7, .action = PX_TRUNC_CLOSE, .every = 50,
   .times = 3, .min_reconnects = 3)
SC(pub_fwd_publish_close_qos2_v5, .version = 5, .qos = 2, .dir = PX_C2B,
   .type = PUBLISH, .nth = 7, .action = PX_FWD_CLOSE, .every = 50,
   .times = 3, .min_reconnects = 3)
/* the subscriber's side: inbound QoS 2 must stay exactly once */
SC(sub_lost_pubrec_qos2_v5, .version = 5, .qos = 2, .sub_side = 1,
   .dir = PX_C2B, .type = PUBREC, .nth = 5, .action = PX_DROP_CLOSE,
   .every = 40, .times = 4, .min_reconnects = 4)
SC(sub_lost_pubrec_qos2_v3, .version = 4, .qos = 2, .sub_side = 1,
   .dir = PX_C2B, .type = PUBREC, .nth = 5, .action = PX_DROP_CLOSE,
   .every = 40, .times = 4, .min_reconnects = 4)
/* One cut only: mosquitto 2.0.11 turns an outgoing QoS 2 message whose
 * PUBREL resend is still pending (state resend_pubrel) back into a PUBLISH
 * when the connection drops again before the resend, so back-to-back cuts
 * here make the *broker* deliver twice (seen: m82 PUBREC'd and PUBREL'd,
 * then resent as PUBLISH d1 after a second quick reconnect). */
SC(sub_lost_pubcomp_qos2_v5, .version = 5, .qos = 2, .sub_side = 1,
   .dir = PX_C2B, .type = PUBCOMP, .nth = 5, .action = PX_DROP_CLOSE,
   .min_reconnects = 1)
SC(sub_lost_pubrel_qos2_v5, .version = 5, .qos = 2, .sub_side = 1,
   .dir = PX_B2C, .type = PUBREL, .nth = 5, .action = PX_DROP_CLOSE,
   .min_reconnects = 1)
SC(sub_lost_puback_qos1_v5, .version = 5, .qos = 1, .sub_side = 1,
   .dir = PX_C2B, .type = PUBACK, .nth = 5, .action = PX_DROP_CLOSE,
   .every = 40, .times = 4, .min_reconnects = 4)
SC(sub_truncate_publish_qos2_v5, .version = 5, .qos = 2, .sub_side = 1,
   .dir = PX_B2C, .type = PUBLISH, .nth = 9, .action = PX_TRUNC_CLOSE,
   .every = 50, .times = 3, .min_reconnects = 3)
/* stall: keepalive (1 s) must detect it, then the session resumes */
SC(pub_stall_qos2_v5, .version = 5, .qos = 2, .n = 60, .dir = PX_C2B,
   .type = PUBLISH, .nth = 20, .action = PX_STALL, .keepalive = 1,
   .min_reconnects = 1)
SC(sub_stall_qos2_v3, .version = 4, .qos = 2, .n = 60, .sub_side = 1,
   .dir = PX_B2C, .type = PUBLISH, .nth = 20, .action = PX_STALL,
   .keepalive = 1, .min_reconnects = 1)
/* slow link: every chunk delayed */
SC(delay_qos2_v5, .version = 5, .qos = 2, .n = 60, .delay_ms = 15,
   .cut_dir = PX_C2B, .cut_bytes = 900, .min_reconnects = 1)

static const ft_case cases[] = {
    {"cut_c2b_bytes_qos1_v5", c_cut_c2b_bytes_qos1_v5},
    {"cut_c2b_bytes_qos2_v5", c_cut_c2b_bytes_qos2_v5},
    {"cut_b2c_bytes_qos2_v5", c_cut_b2c_bytes_qos2_v5},
    {"cut_c2b_bytes_qos2_v3", c_cut_c2b_bytes_qos2_v3},
    {"pub_lost_puback_qos1_v5", c_pub_lost_puback_qos1_v5},
    {"pub_lost_puback_qos1_v3", c_pub_lost_puback_qos1_v3},
    {"pub_lost_pubrec_qos2_v5", c_pub_lost_pubrec_qos2_v5},
    {"pub_after_pubrec_before_pubrel_qos2_v5",
     c_pub_after_pubrec_before_pubrel_qos2_v5},
    {"pub_after_pubrec_before_pubrel_qos2_v3",
     c_pub_after_pubrec_before_pubrel_qos2_v3},
    {"pub_after_pubrel_before_pubcomp_qos2_v5",
     c_pub_after_pubrel_before_pubcomp_qos2_v5},
    {"pub_truncate_publish_qos2_v5", c_pub_truncate_publish_qos2_v5},
    {"pub_fwd_publish_close_qos2_v5", c_pub_fwd_publish_close_qos2_v5},
    {"sub_lost_pubrec_qos2_v5", c_sub_lost_pubrec_qos2_v5},
    {"sub_lost_pubrec_qos2_v3", c_sub_lost_pubrec_qos2_v3},
    {"sub_lost_pubcomp_qos2_v5", c_sub_lost_pubcomp_qos2_v5},
    {"sub_lost_pubrel_qos2_v5", c_sub_lost_pubrel_qos2_v5},
    {"sub_lost_puback_qos1_v5", c_sub_lost_puback_qos1_v5},
    {"sub_truncate_publish_qos2_v5", c_sub_truncate_publish_qos2_v5},
    {"pub_stall_qos2_v5", c_pub_stall_qos2_v5},
    {"sub_stall_qos2_v3", c_sub_stall_qos2_v3},
    {"delay_qos2_v5", c_delay_qos2_v5},
};

FT_MAIN(cases)
