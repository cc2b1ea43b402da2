/*
 * mqsub.c - subscribe to topic filters and print the messages received;
 * a drop-in replacement for mosquitto_sub built on the public libmq API.
 *
 * Threading: one thread; events are pulled with mq_next_event().
 */
#include "common.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

struct sub_state {
    struct tool_cfg cfg;
    mq_client *c;
    int processing;        /* 0 once -C / --retained-only ended the run */
    long received;         /* messages printed, for -C */
    long outstanding;      /* --remove-retained clears not yet acked */
    int done;              /* leave the loop */
    int exit_code;
    int we_disconnected;
    /* --stats */
    unsigned long long n_msgs, n_bytes;
    double t_first, t_last, t_start;
};

static void
finish(struct sub_state *s, int code)
{
    s->done = 1;
    s->exit_code = code;
}

/* Called when the run should end once pending clears are acknowledged. */
static void
stop_processing(struct sub_state *s)
{
    s->processing = 0;
    if (s->outstanding == 0)
        finish(s, 0);
}

static int
filtered_out(const struct sub_state *s, const char *topic)
{
    int i;

    for (i = 0; i < s->cfg.filter_out_count; i++)
        if (mq_topic_matches(s->cfg.filter_outs[i], topic))
            return 1;
    return 0;
}

static void
on_message(struct sub_state *s, const mq_event *ev)
{
    const struct tool_cfg *cfg = &s->cfg;
    const char *topic = mq_event_topic(ev);
    int retain = mq_event_retain(ev);
    int tok;

    if (!s->processing || topic == NULL)
        return;
    if (filtered_out(s, topic))
        return;
    if (cfg->remove_retained && retain) {
        tok = mq_publish(s->c, topic, NULL, 0, 1, 1);
        if (tok > 0)
            s->outstanding++;
        else
            err_printf(cfg, "Error: Unable to clear retained message on "
                            "%s: %s\n", topic, mq_strerror(tok));
    }
    if (cfg->retained_only && !retain) {
        stop_processing(s);
        return;
    }
    if (cfg->no_retain && retain)
        return;
    if (cfg->random_filter < 100.0 &&
        (double)rand() / ((double)RAND_MAX + 1.0) * 100.0 >=
            cfg->random_filter)
        return;
    print_message(cfg, ev);
    if (cfg->stats) {
        double t = now_mono();

        if (s->n_msgs == 0)
            s->t_first = t;
        s->t_last = t;
        s->n_msgs++;
        s->n_bytes += mq_event_payload_len(ev);
    }
    if (cfg->msg_count > 0) {
        s->received++;
        if (s->received >= cfg->msg_count)
            stop_processing(s);
    }
}

static void
on_subscribed(struct sub_state *s, const mq_event *ev)
{
    size_t i, n = mq_event_reason_count(ev);
    int some_ok = 0;

    if (s->cfg.debug && !s->cfg.quiet)
        printf("Subscribed (mid: %d):", mq_event_token(ev));
    for (i = 0; i < n; i++) {
        int rc = mq_event_reason_at(ev, i);

        if (s->cfg.debug && !s->cfg.quiet)
            printf("%s %d", i > 0 ? "," : "", rc);
        if (rc >= 0 && rc < 0x80)
            some_ok = 1;
    }
    if (s->cfg.debug && !s->cfg.quiet) {
        printf("\n");
        fflush(stdout);
    }
    if (!some_ok) {
        err_printf(&s->cfg, "All subscription requests were denied.\n");
        finish(s, 1);
        return;
    }
    if (s->cfg.exit_after_sub)
        finish(s, 0);
}

static void
print_stats(const struct sub_state *s)
{
    double span = s->t_last - s->t_first;
    double total = now_mono() - s->t_start;

    fprintf(stderr,
            "mqsub: %llu messages, %llu payload bytes in %.3f s "
            "(%.1f msg/s, %.1f KiB/s between first and last message)\n",
            s->n_msgs, s->n_bytes, total,
            span > 0 ? (double)(s->n_msgs - 1) / span : 0.0,
            span > 0 ? (double)s->n_bytes / 1024.0 / span : 0.0);
}

static int
subscribe_all(struct sub_state *s)
{
    const struct tool_cfg *cfg = &s->cfg;
    int *opts;
    int i, rc;
    const mq_props *sp =
        cfg->protocol == MQ_PROTO_V5 ? cfg->props[PCMD_SUBSCRIBE] : NULL;
    const mq_props *up =
        cfg->protocol == MQ_PROTO_V5 ? cfg->props[PCMD_UNSUBSCRIBE] : NULL;

    opts = calloc((size_t)cfg->topic_count, sizeof *opts);
    if (opts == NULL)
        return -1;
    for (i = 0; i < cfg->topic_count; i++)
        opts[i] = cfg->qos;
    rc = mq_subscribe_many(s->c, (size_t)cfg->topic_count,
                           (const char *const *)cfg->topics, opts, sp);
    free(opts);
    if (rc < 0) {
        err_printf(cfg, "Error: Unable to subscribe: %s\n", mq_strerror(rc));
        return -1;
    }
    for (i = 0; i < cfg->unsub_count; i++) {
        rc = up != NULL ? mq_unsubscribe_v5(s->c, cfg->unsub_topics[i], up)
                        : mq_unsubscribe(s->c, cfg->unsub_topics[i]);
        if (rc < 0) {
            err_printf(cfg, "Error: Unable to unsubscribe: %s\n",
                       mq_strerror(rc));
            return -1;
        }
    }
    return 0;
}

int
main(int argc, char *argv[])
{
    struct sub_state s;
    double deadline = 0;
    int rc;

    memset(&s, 0, sizeof s);
    rc = cfg_load(&s.cfg, TOOL_SUB, argc, argv);
    if (rc >= 0)
        return rc;
    tool_signals_install();
    srand((unsigned)time(NULL) ^ (unsigned)now_mono());
    s.t_start = now_mono();

    s.c = tool_connect(&s.cfg, &rc);
    if (s.c == NULL) {
        cfg_free(&s.cfg);
        tool_signals_reraise();
        return rc;
    }
    s.processing = 1;
    if (s.cfg.timeout_s > 0)
        deadline = now_mono() + (double)s.cfg.timeout_s;
    if (subscribe_all(&s) != 0)
        finish(&s, 1);

    while (!s.done) {
        mq_event *ev;
        int wait_ms = 200;

        if (tool_signal != 0)
            break;
        if (deadline > 0) {
            double left = deadline - now_mono();

            if (left <= 0) {
                err_printf(&s.cfg, "Timed out\n");
                finish(&s, EXIT_TIMEOUT);
                break;
            }
            if (left * 1000.0 < wait_ms)
                wait_ms = (int)(left * 1000.0) + 1;
        }
        ev = mq_next_event(s.c, wait_ms);
        if (ev == NULL)
            continue;
        switch (mq_event_type(ev)) {
        case MQ_EVENT_MESSAGE:
            on_message(&s, ev);
            break;
        case MQ_EVENT_SUBSCRIBED:
            on_subscribed(&s, ev);
            break;
        case MQ_EVENT_PUBLISHED:
            if (s.outstanding > 0)
                s.outstanding--;
            if (!s.processing && s.outstanding == 0)
                finish(&s, 0);
            break;
        case MQ_EVENT_LOG:
            tool_log_event(&s.cfg, ev);
            break;
        case MQ_EVENT_CONNECT:
            if (mq_event_reason(ev) != 0) {
                err_printf(&s.cfg, "Connection error: %s\n",
                           mq_reason_string(mq_event_reason(ev)));
            }
            break;
        case MQ_EVENT_DISCONNECTED:
            if (mq_event_will_reconnect(ev)) {
                if (s.cfg.debug)
                    tool_log_event(&s.cfg, ev);
                break;
            }
            {
                const char *m = mq_event_message(ev);
                int err = mq_event_error(ev);

                if (mq_event_reason(ev) != 0)
                    err_printf(&s.cfg, "Error: disconnected by the broker: "
                                       "%s\n",
                               mq_reason_string(mq_event_reason(ev)));
                else
                    err_printf(&s.cfg, "Error: %s\n",
                               m != NULL ? m : mq_strerror(err));
            }
            s.we_disconnected = 1; /* nothing left to disconnect */
            finish(&s, 1);
            break;
        default:
            break;
        }
        mq_event_free(ev);
    }

    if (!s.we_disconnected)
        tool_disconnect(&s.cfg, s.c);
    if (s.cfg.stats)
        print_stats(&s);
    mq_client_destroy(s.c);
    cfg_free(&s.cfg);
    tool_signals_reraise();
    return s.exit_code;
}
