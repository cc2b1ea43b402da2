/*
 * mqbench_report.c - what mqbench prints: the progress line each second
 * (rewritten in place on a terminal, one line per second otherwise, on
 * stderr), the final report as text or JSON (stdout), and the exit code.
 *
 * Threading: main thread only.
 */
#include "mqbench.h"

#include <stdio.h>
#include <string.h>

#define NS_PER_S 1000000000.0

static uint64_t last_pub, last_recv;
static int64_t last_t;

static uint64_t
errors_total(const struct mqb_run *r)
{
    return r->tot.failed + r->tot.lost_links + r->tot.pub_call_errors +
           r->tot.pub_failed + r->tot.sub_failed;
}

static uint64_t
inflight(const struct mqb_run *r)
{
    uint64_t q = 0;
    size_t i;

    for (i = 0; i < r->npubs; i++)
        if (r->pubs[i]->c != NULL)
            q += mq_queued_messages(r->pubs[i]->c);
    return q;
}

void
mqb_progress(struct mqb_run *r, int64_t now, int final)
{
    const struct mqb_opts *o = r->o;
    double dt = last_t ? (double)(now - last_t) / NS_PER_S
                       : (double)(now - r->t0) / NS_PER_S;
    char line[300];

    if (o->quiet || o->progress_tty < 0) {
        return;
    }
    if (final) {
        if (o->progress_tty)
            fputc('\n', stderr);
        return;
    }
    if (dt <= 0)
        dt = 1;
    snprintf(line, sizeof line,
             "[%4.0fs] conn %llu/%zu connecting %llu failed %llu | "
             "pub %.0f/s recv %.0f/s | inflight %llu | err %llu",
             (double)(now - r->t0) / NS_PER_S,
             (unsigned long long)r->tot.connected_now, r->ncl,
             (unsigned long long)r->tot.connecting_now,
             (unsigned long long)r->tot.failed,
             (double)(r->tot.published - last_pub) / dt,
             (double)(r->tot.received - last_recv) / dt,
             (unsigned long long)inflight(r),
             (unsigned long long)errors_total(r));
    last_pub = r->tot.published;
    last_recv = r->tot.received;
    last_t = now;
    if (o->progress_tty)
        fprintf(stderr, "\r%s\033[K", line);
    else
        fprintf(stderr, "%s\n", line);
    fflush(stderr);
}

/* ---- totals --------------------------------------------------------------- */

struct loss_totals {
    uint64_t expected, unique, lost, duplicates, reordered;
    size_t bad_receivers;
    int expected_known;
};

static void
loss_totals(const struct mqb_run *r, struct loss_totals *t)
{
    size_t i;

    memset(t, 0, sizeof *t);
    t->expected_known = r->nrx > 0;
    for (i = 0; i < r->nrx; i++) {
        const struct mqb_receiver *rx = r->rx[i];

        t->expected += rx->expected;
        t->unique += rx->unique;
        t->lost += rx->lost;
        t->duplicates += rx->duplicates;
        t->reordered += rx->reordered;
        if (!rx->expected_known)
            t->expected_known = 0;
        if (rx->lost || rx->duplicates || rx->reordered)
            t->bad_receivers++;
    }
}

int
mqb_exit_code(const struct mqb_run *r)
{
    struct loss_totals t;

    if (r->tot.failed > 0 || r->tot.lost_links > 0 || r->tot.sub_failed > 0)
        return MQB_EXIT_CONN;
    loss_totals(r, &t);
    if (t.lost > 0 || (t.duplicates > 0 && r->o->qos != 1))
        return MQB_EXIT_LOSS;
    if (r->tot.pub_call_errors > 0 || r->tot.pub_failed > 0)
        return MQB_EXIT_PUBERR;
    return 0;
}

static double
rate(uint64_t n, int64_t t0, int64_t t1)
{
    double s = (double)(t1 - t0) / NS_PER_S;

    return s > 0 && t0 > 0 ? (double)n / s : 0;
}

static double
ms(uint64_t ns)
{
    return (double)ns / 1e6;
}

static double
kb_per_conn(const struct mqb_run *r)
{
    if (r->rss_conns == 0 || r->rss_conn_kb < r->rss_base_kb)
        return 0;
    return (double)(r->rss_conn_kb - r->rss_base_kb) / (double)r->rss_conns;
}

static const char *
proto_name(int p)
{
    return p == MQ_PROTO_V5 ? "MQTT 5" : "MQTT 3.1.1";
}

/* ---- text ------------------------------------------------------------------ */

void
mqb_report_text(struct mqb_run *r)
{
    const struct mqb_opts *o = r->o;
    struct loss_totals t;
    const struct mqb_hist *h = &r->lat;
    int64_t ramp_end = r->t_ramp_done ? r->t_ramp_done : r->t_end;
    int k;

    loss_totals(r, &t);
    printf("mqbench %s: ", o->mode_name);
    if (o->mode == MQB_PUBSUB)
        printf("%zu publishers, %zu subscribers", r->npubs, r->nsubs);
    else
        printf("%zu clients", r->ncl);
    if (o->mode != MQB_CONN)
        printf(", QoS %d, %zu-byte payloads", o->qos, o->size);
    printf(", %s, %s%s", proto_name(o->protocol), o->uris[0],
           o->nuris > 1 ? " (+ more destinations)" : "");
    printf("%s\n", r->interrupted ? " (interrupted)" : "");
    printf("  run time      %.2f s (connect phase %.2f s)\n",
           (double)(r->t_end - r->t0) / NS_PER_S,
           (double)(ramp_end - r->t0) / NS_PER_S);
    printf("  connections   %llu of %zu connected, %llu failed, %llu lost, "
           "%llu reconnects\n",
           (unsigned long long)r->tot.ever_connected, r->ncl,
           (unsigned long long)r->tot.failed,
           (unsigned long long)r->tot.lost_links,
           (unsigned long long)r->tot.reconnects);
    if (r->conn_lat.count > 0)
        printf("  connect       %.0f/s; CONNACK after p50 %.2f ms, p99 %.2f "
               "ms, max %.2f ms\n",
               rate(r->tot.ever_connected, r->t0,
                    r->t_last_connack > r->t0 ? r->t_last_connack : r->t0 + 1),
               ms(mqb_hist_percentile(&r->conn_lat, 50)),
               ms(mqb_hist_percentile(&r->conn_lat, 99)),
               ms(r->conn_lat.max));
    printf("  memory        RSS %.1f MiB", (double)mqb_rss_kb() / 1024.0);
    if (r->rss_conns > 0 && o->mode == MQB_CONN)
        printf("; %.2f KiB per connection (RSS growth over %llu connections,"
               " mqbench's own state included)", kb_per_conn(r),
               (unsigned long long)r->rss_conns);
    printf("\n");
    if (o->mode == MQB_PUB || o->mode == MQB_PUBSUB) {
        printf("  published     %llu in %.2f s: %.0f msg/s, %.2f MiB/s",
               (unsigned long long)r->tot.published,
               (double)(r->pub_t1 - r->pub_t0) / NS_PER_S,
               rate(r->tot.published, r->pub_t0, r->pub_t1),
               rate(r->tot.pub_bytes, r->pub_t0, r->pub_t1) / 1048576.0);
        if (o->qos > 0)
            printf("; %llu acknowledged", (unsigned long long)r->tot.pub_acked);
        printf("; %llu failed\n", (unsigned long long)(r->tot.pub_failed +
                                                      r->tot.pub_call_errors));
    }
    if (o->mode == MQB_SUB || o->mode == MQB_PUBSUB) {
        printf("  received      %llu in %.2f s: %.0f msg/s, %.2f MiB/s",
               (unsigned long long)r->tot.received,
               (double)(r->t_last_recv - r->t_first_recv) / NS_PER_S,
               rate(r->tot.received, r->t_first_recv, r->t_last_recv),
               rate(r->tot.recv_bytes, r->t_first_recv, r->t_last_recv) /
                   1048576.0);
        if (r->tot.foreign || r->tot.retained)
            printf(" (%llu without an mqbench header, %llu retained: not "
                   "measured)", (unsigned long long)r->tot.foreign,
                   (unsigned long long)r->tot.retained);
        printf("\n");
        if (h->count > 0)
            printf("  latency       p50 %.3f ms  p90 %.3f ms  p99 %.3f ms  "
                   "p99.9 %.3f ms  max %.3f ms  (%llu samples)\n",
                   ms(mqb_hist_percentile(h, 50)),
                   ms(mqb_hist_percentile(h, 90)),
                   ms(mqb_hist_percentile(h, 99)),
                   ms(mqb_hist_percentile(h, 99.9)), ms(h->max),
                   (unsigned long long)h->count);
        printf("  loss          %llu lost", (unsigned long long)t.lost);
        if (t.expected_known)
            printf(" of %llu expected", (unsigned long long)t.expected);
        else if (t.expected > 0)
            printf(" (%llu announced by limited publishers)",
                   (unsigned long long)t.expected);
        printf(", %llu duplicates, %llu reordered over %zu %s\n",
               (unsigned long long)t.duplicates,
               (unsigned long long)t.reordered, r->nrx,
               o->shared ? "share groups" : "subscribers");
        if (t.bad_receivers > 0) {
            size_t i;
            int shown = 0;

            for (i = 0; i < r->nrx && shown < o->show_subs; i++) {
                const struct mqb_receiver *rx = r->rx[i];

                if (!rx->lost && !rx->duplicates && !rx->reordered)
                    continue;
                shown++;
                printf("    %s: received %llu", rx->name,
                       (unsigned long long)rx->unique);
                if (rx->expected_known)
                    printf(" of %llu", (unsigned long long)rx->expected);
                printf(", lost %llu, duplicates %llu, reordered %llu\n",
                       (unsigned long long)rx->lost,
                       (unsigned long long)rx->duplicates,
                       (unsigned long long)rx->reordered);
            }
            if (t.bad_receivers > (size_t)shown)
                printf("    (%zu more; --show-subs N or --json lists them)\n",
                       t.bad_receivers - (size_t)shown);
        }
    }
    if (r->nreasons > 0) {
        printf("  failures:\n");
        for (k = 0; k < r->nreasons; k++)
            printf("    %6llu x %s\n", (unsigned long long)r->reasons[k].count,
                   r->reasons[k].text);
        if (r->other_reasons)
            printf("    %6llu x (other reasons)\n",
                   (unsigned long long)r->other_reasons);
    }
    if (r->ramp_stopped && r->ramp_stop_why[0] != '\0')
        printf("  stopped starting clients at %llu connected: %s\n",
               (unsigned long long)r->tot.ever_connected, r->ramp_stop_why);
    fflush(stdout);
}

/* ---- JSON ------------------------------------------------------------------- */

static void
json_str(const char *s)
{
    putchar('"');
    for (; s != NULL && *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;

        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static void
json_hist(const struct mqb_hist *h)
{
    printf("{\"count\":%llu,\"min\":%.6f,\"mean\":%.6f,\"p50\":%.6f,"
           "\"p90\":%.6f,\"p99\":%.6f,\"p99_9\":%.6f,\"max\":%.6f}",
           (unsigned long long)h->count, ms(h->min),
           h->count ? h->sum / (double)h->count / 1e6 : 0.0,
           ms(mqb_hist_percentile(h, 50)), ms(mqb_hist_percentile(h, 90)),
           ms(mqb_hist_percentile(h, 99)), ms(mqb_hist_percentile(h, 99.9)),
           ms(h->max));
}

void
mqb_report_json(struct mqb_run *r)
{
    const struct mqb_opts *o = r->o;
    struct loss_totals t;
    size_t i;
    int k;

    loss_totals(r, &t);
    printf("{\"mode\":");
    json_str(o->mode_name);
    printf(",\"clients\":%zu,\"publishers\":%zu,\"subscribers\":%zu,"
           "\"qos\":%d,\"size\":%zu,\"protocol\":%d,\"shared\":%s,"
           "\"uris\":[",
           r->ncl, r->npubs, r->nsubs, o->qos, o->size,
           o->protocol == MQ_PROTO_V5 ? 5 : 4, o->shared ? "true" : "false");
    for (k = 0; k < o->nuris; k++) {
        if (k)
            putchar(',');
        json_str(o->uris[k]);
    }
    printf("],\"run_s\":%.6f,\"connect_phase_s\":%.6f,\"interrupted\":%s,",
           (double)(r->t_end - r->t0) / NS_PER_S,
           (double)((r->t_ramp_done ? r->t_ramp_done : r->t_end) - r->t0) /
               NS_PER_S,
           r->interrupted ? "true" : "false");
    printf("\"connect\":{\"started\":%llu,\"connected\":%llu,\"failed\":%llu,"
           "\"lost\":%llu,\"reconnects\":%llu,\"rate_per_s\":%.3f,"
           "\"connack_ms\":",
           (unsigned long long)r->tot.started,
           (unsigned long long)r->tot.ever_connected,
           (unsigned long long)r->tot.failed,
           (unsigned long long)r->tot.lost_links,
           (unsigned long long)r->tot.reconnects,
           rate(r->tot.ever_connected, r->t0,
                r->t_last_connack > r->t0 ? r->t_last_connack : r->t0 + 1));
    json_hist(&r->conn_lat);
    printf("},\"memory\":{\"rss_kb\":%ld,\"baseline_kb\":%ld,"
           "\"connected_kb\":%ld,\"connections\":%llu,"
           "\"per_connection_kb\":%.3f},",
           mqb_rss_kb(), r->rss_base_kb, r->rss_conn_kb,
           (unsigned long long)r->rss_conns, kb_per_conn(r));
    printf("\"publish\":{\"count\":%llu,\"bytes\":%llu,\"seconds\":%.6f,"
           "\"rate_per_s\":%.3f,\"acked\":%llu,\"failed\":%llu,"
           "\"call_errors\":%llu,\"throttled\":%llu},",
           (unsigned long long)r->tot.published,
           (unsigned long long)r->tot.pub_bytes,
           (double)(r->pub_t1 - r->pub_t0) / NS_PER_S,
           rate(r->tot.published, r->pub_t0, r->pub_t1),
           (unsigned long long)r->tot.pub_acked,
           (unsigned long long)r->tot.pub_failed,
           (unsigned long long)r->tot.pub_call_errors,
           (unsigned long long)r->tot.throttled);
    printf("\"receive\":{\"count\":%llu,\"bytes\":%llu,\"seconds\":%.6f,"
           "\"rate_per_s\":%.3f,\"foreign\":%llu,\"retained\":%llu},",
           (unsigned long long)r->tot.received,
           (unsigned long long)r->tot.recv_bytes,
           (double)(r->t_last_recv - r->t_first_recv) / NS_PER_S,
           rate(r->tot.received, r->t_first_recv, r->t_last_recv),
           (unsigned long long)r->tot.foreign,
           (unsigned long long)r->tot.retained);
    printf("\"end_to_end\":{\"seconds\":%.6f,\"rate_per_s\":%.3f},",
           r->pub_t0 && r->t_last_recv > r->pub_t0
               ? (double)(r->t_last_recv - r->pub_t0) / NS_PER_S : 0.0,
           rate(r->tot.received, r->pub_t0, r->t_last_recv));
    printf("\"latency_ms\":");
    json_hist(&r->lat);
    printf(",\"loss\":{\"expected\":");
    if (t.expected_known || t.expected > 0)
        printf("%llu", (unsigned long long)t.expected);
    else
        printf("null");
    printf(",\"expected_known\":%s,\"unique\":%llu,\"lost\":%llu,"
           "\"duplicates\":%llu,\"reordered\":%llu},\"subscribers\":[",
           t.expected_known ? "true" : "false",
           (unsigned long long)t.unique, (unsigned long long)t.lost,
           (unsigned long long)t.duplicates,
           (unsigned long long)t.reordered);
    for (i = 0; i < r->nrx; i++) {
        const struct mqb_receiver *rx = r->rx[i];

        if (i)
            putchar(',');
        printf("{\"name\":");
        json_str(rx->name);
        printf(",\"filter\":");
        json_str(rx->filter);
        printf(",\"members\":%d,\"received\":%llu,\"unique\":%llu,"
               "\"expected\":",
               rx->members, (unsigned long long)rx->received,
               (unsigned long long)rx->unique);
        if (rx->expected_known || rx->expected > 0)
            printf("%llu", (unsigned long long)rx->expected);
        else
            printf("null");
        printf(",\"lost\":%llu,\"duplicates\":%llu,\"reordered\":%llu,"
               "\"foreign\":%llu}",
               (unsigned long long)rx->lost,
               (unsigned long long)rx->duplicates,
               (unsigned long long)rx->reordered,
               (unsigned long long)rx->foreign);
    }
    printf("],\"failures\":[");
    for (k = 0; k < r->nreasons; k++) {
        if (k)
            putchar(',');
        printf("{\"reason\":");
        json_str(r->reasons[k].text);
        printf(",\"count\":%llu}", (unsigned long long)r->reasons[k].count);
    }
    printf("],\"limits\":{\"nofile\":%ld,\"events\":\"%s\",\"stopped\":",
           r->fd_limit, o->events == EVENTS_POLL ? "poll" : "fd");
    if (r->ramp_stopped && r->ramp_stop_why[0] != '\0') {
        char buf[300];

        snprintf(buf, sizeof buf, "at %llu connected: %s",
                 (unsigned long long)r->tot.ever_connected,
                 r->ramp_stop_why);
        json_str(buf);
    } else {
        printf("null");
    }
    printf("},\"exit_code\":%d}\n", mqb_exit_code(r));
    fflush(stdout);
}
