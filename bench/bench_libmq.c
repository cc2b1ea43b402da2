/*
 * bench_libmq.c - benchmark driver for libmq (public API only); see
 * bench_common.h for the command line and the result line.
 *
 * Threading: the main thread publishes; completions and messages arrive on
 * the libmq loop thread (mq_loop_start) and are counted with atomics. The
 * rtt scenario pulls events on the main thread with mq_next_event(), or
 * with api=callbacks takes them in on_message on the loop thread.
 */
#include "bench_common.h"

#include <mq.h>
#include <signal.h>

typedef struct ctx {
    atomic_int connected;
    atomic_int disconnected;
    atomic_int subscribed;
    atomic_long received;
    _Atomic double t_last;
    bench_window win; /* win.completed: MQ_EVENT_PUBLISHED events */
    bench_echo echo; /* rtt */
} ctx;

static void
on_connect(mq_client *c, const mq_event *ev, void *ud)
{
    (void)c;
    atomic_store(&((ctx *)ud)->connected, mq_event_reason(ev) == 0 ? 1 : -1);
}

static void
on_disconnect(mq_client *c, const mq_event *ev, void *ud)
{
    (void)c;
    (void)ev;
    atomic_store(&((ctx *)ud)->disconnected, 1);
}

static void
on_subscribe(mq_client *c, const mq_event *ev, void *ud)
{
    (void)c;
    (void)ev;
    atomic_store(&((ctx *)ud)->subscribed, 1);
}

static void
on_publish(mq_client *c, const mq_event *ev, void *ud)
{
    (void)c;
    (void)ev;
    bench_window_done(&((ctx *)ud)->win);
}

static void
on_message(mq_client *c, const mq_event *ev, void *ud)
{
    ctx *x = ud;
    (void)c;
    (void)ev;
    atomic_fetch_add_explicit(&x->received, 1, memory_order_relaxed);
    atomic_store_explicit(&x->t_last, bench_now(), memory_order_relaxed);
}

/* rtt, api=callbacks: the message that came back wakes the publisher */
static void
on_message_rtt(mq_client *c, const mq_event *ev, void *ud)
{
    ctx *x = ud;
    size_t n;
    const void *pl = mq_event_payload(ev, &n);
    (void)c;
    bench_echo_offer(&x->echo, pl, n);
}

static mq_client *
make_client(const bench_args *a, const char *role, ctx *x, int loop)
{
    char id[64], uri[128];
    mq_client *c;

    snprintf(id, sizeof id, "bench-mq-%s-%ld", role, (long)getpid());
    c = mq_client_new(id, MQ_PROTO_V311);
    if (c == NULL)
        return NULL;
    snprintf(uri, sizeof uri, "tcp://%s:%d", a->host, a->port);
    if (mq_set_server(c, uri) != MQ_OK)
        goto fail;
    mq_set_int(c, MQ_OPT_RECONNECT, 0);
    mq_set_int(c, MQ_OPT_TCP_NODELAY, a->nodelay);
    if (a->iothread >= 0)
        mq_set_int(c, MQ_OPT_LOOP_IO_THREAD, a->iothread);
    mq_set_int(c, MQ_OPT_MAX_INFLIGHT, a->inflight);
    /* the window: libmq's own bounded queue, or with refill=half the
     * application's counter (then the queue only needs room for it) */
    mq_set_int(c, MQ_OPT_QUEUE_MAX_MSGS,
               a->refill_half ? a->window + 1 : a->window);
    mq_set_int(c, MQ_OPT_PUBLISH_TIMEOUT_MS, (int64_t)a->timeout_s * 1000);
    mq_set_int(c, MQ_OPT_PUBLISH_EVENTS,
               a->scenario == SC_RTT ? 0
               : a->refill_half || a->completions_all ? 2
               : a->qos == 0 ? 0 : 1);
    if (x != NULL) {
        mq_on_connect(c, on_connect, x);
        mq_on_disconnect(c, on_disconnect, x);
        mq_on_subscribe(c, on_subscribe, x);
        mq_on_publish(c, on_publish, x);
        mq_on_message(c, a->scenario == SC_RTT ? on_message_rtt : on_message,
                      x);
    }
    if (loop && mq_loop_start(c) != MQ_OK)
        goto fail;
    if (mq_connect(c) != MQ_OK)
        goto fail;
    return c;
fail:
    mq_client_destroy(c);
    return NULL;
}

static int
wait_flag(atomic_int *f, double deadline)
{
    while (atomic_load(f) == 0 && bench_now() < deadline)
        bench_sleep_ms(1);
    return atomic_load(f) == 1 ? 0 : -1;
}

/* Publish a->count messages on @p c. Returns the error text or NULL. */
static const char *
publish_all(bench_args *a, mq_client *c, ctx *x, const unsigned char *payload,
            double deadline, double t0)
{
    long i;
    for (i = 0; i < a->count; i++) {
        int rc;
        if (bench_over_budget(a, i, t0)) {
            a->count = i; /* measure what was published */
            break;
        }
        if (a->refill_half &&
            bench_window_wait(&x->win, i, a->window, 1, deadline) != 0)
            return "timeout";
        rc = mq_publish(c, a->topic, payload, a->size, a->qos, 0);
        if (rc < 0) {
            fprintf(stderr, "mq_publish #%ld: %s\n", i, mq_strerror(rc));
            return "publish_failed";
        }
    }
    return NULL;
}

static void
run_pub(bench_args *a, bench_result *r)
{
    ctx x;
    mq_client *c;
    unsigned char *payload = bench_payload(a->size);
    double deadline = bench_now() + a->timeout_s, t0;

    memset(&x, 0, sizeof x);
    bench_window_init(&x.win);
    c = make_client(a, "pub", &x, 1);
    if (c == NULL || payload == NULL ||
        wait_flag(&x.connected, deadline) != 0) {
        r->error = "connect_failed";
        goto done;
    }
    t0 = bench_now();
    r->error = publish_all(a, c, &x, payload, deadline, t0);
    if (a->qos > 0 || a->refill_half || a->completions_all) {
        r->sent = bench_wait_count(&x.win.completed, a->count, 30, deadline);
        r->elapsed_s = bench_now() - t0;
        mq_disconnect(c, 0);
        wait_flag(&x.disconnected, deadline);
    } else {
        /* QoS 0 has no acknowledgement: done when everything queued was
         * written and the graceful disconnect completed. */
        mq_disconnect(c, 0);
        wait_flag(&x.disconnected, deadline);
        r->elapsed_s = bench_now() - t0;
        r->sent = a->count - (long)mq_queued_messages(c);
    }
    if (r->sent < a->count && r->error == NULL)
        r->error = "incomplete";
done:
    mq_client_destroy(c);
    free(payload);
}

static void
run_e2e(bench_args *a, bench_result *r)
{
    ctx xs, xp;
    mq_client *s = NULL, *p = NULL;
    unsigned char *payload = bench_payload(a->size);
    double deadline = bench_now() + a->timeout_s, t0;

    memset(&xs, 0, sizeof xs);
    memset(&xp, 0, sizeof xp);
    bench_window_init(&xs.win);
    bench_window_init(&xp.win);
    s = make_client(a, "sub", &xs, 1);
    if (s == NULL || wait_flag(&xs.connected, deadline) != 0 ||
        mq_subscribe(s, a->topic, a->qos) < 0 ||
        wait_flag(&xs.subscribed, deadline) != 0) {
        r->error = "subscribe_failed";
        goto done;
    }
    p = make_client(a, "pub", &xp, 1);
    if (p == NULL || payload == NULL ||
        wait_flag(&xp.connected, deadline) != 0) {
        r->error = "connect_failed";
        goto done;
    }
    t0 = bench_now();
    r->error = publish_all(a, p, &xp, payload, deadline, t0);
    r->received = bench_wait_count(&xs.received, a->count, 5, deadline);
    r->elapsed_s = atomic_load(&xs.t_last) - t0;
    r->sent = a->qos > 0 || a->refill_half || a->completions_all
                  ? atomic_load(&xp.win.completed)
                  : a->count;
    if (r->received < a->count && r->error == NULL)
        r->error = "lost";
    mq_disconnect(p, 0);
    mq_disconnect(s, 0);
    wait_flag(&xp.disconnected, deadline);
    wait_flag(&xs.disconnected, deadline);
done:
    mq_client_destroy(p);
    mq_client_destroy(s);
    free(payload);
}

/* Wait for an event of @p kind, freeing others. */
static mq_event *
wait_event(mq_client *c, int kind, double deadline)
{
    while (bench_now() < deadline) {
        mq_event *ev = mq_next_event(c, 1000);
        if (ev == NULL)
            continue;
        if (mq_event_type(ev) == kind)
            return ev;
        if (mq_event_type(ev) == MQ_EVENT_DISCONNECTED) {
            mq_event_free(ev);
            return NULL;
        }
        mq_event_free(ev);
    }
    return NULL;
}

/* rtt in the paho style: callbacks on the mq_loop_start thread, the
 * publisher waits on a condition variable (as bench_mosquitto.c does). */
static void
run_rtt_callbacks(const bench_args *a, bench_result *r)
{
    ctx x;
    mq_client *c;
    unsigned char *payload = bench_payload(a->size);
    double *lat = calloc((size_t)a->count, sizeof *lat);
    double deadline = bench_now() + a->timeout_s, t0;
    long i;

    memset(&x, 0, sizeof x);
    bench_window_init(&x.win);
    bench_echo_init(&x.echo);
    c = make_client(a, "rtt", &x, 1);
    if (c == NULL || payload == NULL || lat == NULL ||
        wait_flag(&x.connected, deadline) != 0) {
        r->error = "connect_failed";
        goto done;
    }
    if (mq_subscribe(c, a->topic, a->qos) < 0 ||
        wait_flag(&x.subscribed, deadline) != 0) {
        r->error = "subscribe_failed";
        goto done;
    }
    t0 = bench_now();
    for (i = 0; i < a->count; i++) {
        uint64_t seq = (uint64_t)i;
        double t;
        memcpy(payload, &seq, sizeof seq);
        bench_echo_arm(&x.echo, seq);
        t = bench_now();
        if (mq_publish(c, a->topic, payload, a->size, a->qos, 0) < 0) {
            r->error = "publish_failed";
            break;
        }
        if (bench_echo_wait(&x.echo, deadline) != 0) {
            r->error = "timeout";
            break;
        }
        lat[i] = bench_now() - t;
        r->received++;
    }
    r->sent = r->received;
    r->elapsed_s = bench_now() - t0;
    bench_percentiles(r, lat, r->received);
    mq_disconnect(c, 0);
    wait_flag(&x.disconnected, bench_now() + 5);
done:
    mq_client_destroy(c);
    free(payload);
    free(lat);
}

static void
run_rtt(const bench_args *a, bench_result *r)
{
    mq_client *c;
    mq_event *ev;
    unsigned char *payload = bench_payload(a->size);
    double *lat = calloc((size_t)a->count, sizeof *lat);
    double deadline = bench_now() + a->timeout_s, t0 = bench_now();
    long i;

    c = make_client(a, "rtt", NULL, 0);
    if (c == NULL || payload == NULL || lat == NULL ||
        (ev = wait_event(c, MQ_EVENT_CONNECT, deadline)) == NULL) {
        r->error = "connect_failed";
        goto done;
    }
    mq_event_free(ev);
    if (mq_subscribe(c, a->topic, a->qos) < 0 ||
        (ev = wait_event(c, MQ_EVENT_SUBSCRIBED, deadline)) == NULL) {
        r->error = "subscribe_failed";
        goto done;
    }
    mq_event_free(ev);
    t0 = bench_now();
    for (i = 0; i < a->count; i++) {
        uint64_t seq = (uint64_t)i;
        double t = bench_now();
        memcpy(payload, &seq, sizeof seq);
        if (mq_publish(c, a->topic, payload, a->size, a->qos, 0) < 0) {
            r->error = "publish_failed";
            break;
        }
        for (;;) {
            size_t n;
            const void *pl;
            ev = wait_event(c, MQ_EVENT_MESSAGE, deadline);
            if (ev == NULL)
                break;
            pl = mq_event_payload(ev, &n);
            if (n >= sizeof seq && memcmp(pl, &seq, sizeof seq) == 0) {
                mq_event_free(ev);
                break;
            }
            mq_event_free(ev);
        }
        if (ev == NULL) {
            r->error = "timeout";
            break;
        }
        lat[i] = bench_now() - t;
        r->received++;
    }
    r->sent = r->received;
    r->elapsed_s = bench_now() - t0;
    bench_percentiles(r, lat, r->received);
    mq_disconnect(c, 0);
    ev = wait_event(c, MQ_EVENT_DISCONNECTED, bench_now() + 5);
    mq_event_free(ev);
done:
    mq_client_destroy(c);
    free(payload);
    free(lat);
}

static void
run_idle(const bench_args *a, bench_result *r)
{
    mq_client **cs = calloc((size_t)a->count, sizeof *cs);
    double deadline = bench_now() + a->timeout_s, t0;
    long i, up = 0, rss0;
    char id[64], uri[128];

    bench_raise_nofile();
    if (cs == NULL) {
        r->error = "nomem";
        return;
    }
    /* Warm the library (worker thread, allocator) before the baseline. */
    {
        mq_client *w = mq_client_new("warm", MQ_PROTO_V311);
        mq_client_destroy(w);
    }
    rss0 = bench_rss_kb();
    t0 = bench_now();
    snprintf(uri, sizeof uri, "tcp://%s:%d", a->host, a->port);
    for (i = 0; i < a->count; i++) {
        if (a->ramp_s > 0) /* connect i at t0 + i * ramp / count */
            while (bench_now() < t0 + a->ramp_s * (double)i / (double)a->count)
                bench_sleep_ms(1);
        snprintf(id, sizeof id, "bench-idle-%ld-%ld", (long)getpid(), i);
        cs[i] = mq_client_new(id, MQ_PROTO_V311);
        if (cs[i] == NULL) {
            fprintf(stderr, "mq_client_new #%ld failed (errno %d: %s)\n", i,
                    errno, strerror(errno));
            r->error = "client_new_failed";
            break;
        }
        mq_set_server(cs[i], uri);
        mq_set_int(cs[i], MQ_OPT_RECONNECT, 0);
        if (a->keepalive_s > 0)
            mq_set_int(cs[i], MQ_OPT_KEEPALIVE_S, a->keepalive_s);
        if (a->sources > 0) {
            char src[32];
            snprintf(src, sizeof src, "127.0.0.%d", 2 + (int)(i % a->sources));
            if (mq_set_str(cs[i], MQ_SOPT_BIND_ADDRESS, src) != MQ_OK) {
                r->error = "bind_address_failed";
                i++;
                break;
            }
        }
        if (mq_connect(cs[i]) != MQ_OK) {
            r->error = "connect_failed";
            i++;
            break;
        }
    }
    r->conns = i;
    while (bench_now() < deadline) {
        long j;
        up = 0;
        for (j = 0; j < r->conns; j++)
            up += cs[j] != NULL && mq_is_connected(cs[j]);
        if (up == r->conns)
            break;
        bench_sleep_ms(10);
    }
    r->elapsed_s = bench_now() - t0;
    for (i = 0; i < r->conns; i++) {
        mq_event *ev;
        while ((ev = mq_next_event(cs[i], 0)) != NULL)
            mq_event_free(ev);
    }
    bench_sleep_ms(300);
    r->received = r->sent = up;
    if (up > 0)
        r->idle_kb_per_conn = (double)(bench_rss_kb() - rss0) / (double)up;
    if (up < a->count && r->error == NULL)
        r->error = "not_all_connected";
    if (a->hold_s > 0 && up > 0) {
        /* held idle: keepalive timers run, nothing else; the worker's
         * CPU over the hold shows what a timer costs at this scale */
        double c0 = bench_cpu_s(), h0 = bench_now();
        long k0 = bench_rss_kb();
        bench_sleep_ms((int)(a->hold_s * 1000));
        r->idle_cpu_pct = (bench_cpu_s() - c0) * 100.0 / (bench_now() - h0);
        r->hold_kb_per_conn = (double)(bench_rss_kb() - k0) / (double)up;
        for (i = 0; i < r->conns; i++)
            if (cs[i] != NULL && !mq_is_connected(cs[i]))
                up--;
        if (up < r->conns && r->error == NULL)
            r->error = "lost_while_idle";
    }
    if (a->stop_pid > 0 && up > 0) {
        /* a broker that stopped answering but keeps its sockets open:
         * only keepalive can tell; when did each connection notice? */
        double s0 = bench_now(), *seen = calloc((size_t)r->conns, sizeof *seen);
        long left = 0, j;
        for (j = 0; j < r->conns; j++)
            left += cs[j] != NULL && mq_is_connected(cs[j]);
        kill(a->stop_pid, SIGSTOP);
        while (left > 0 && seen != NULL && bench_now() < s0 + 4.0 *
               (a->keepalive_s > 0 ? a->keepalive_s : 60) + 10) {
            bench_sleep_ms(20);
            for (j = 0; j < r->conns; j++)
                if (seen[j] == 0 && cs[j] != NULL && !mq_is_connected(cs[j])) {
                    seen[j] = bench_now() - s0;
                    left--;
                }
        }
        kill(a->stop_pid, SIGCONT);
        if (left > 0 && r->error == NULL)
            r->error = "dead_broker_not_noticed";
        if (seen != NULL) {
            bench_percentiles(r, seen, r->conns);
            free(seen);
        }
    }
    for (i = 0; i < r->conns; i++)
        mq_client_destroy(cs[i]);
    free(cs);
}

int
main(int argc, char **argv)
{
    bench_args a;
    bench_result r;

    if (bench_parse(&a, "libmq", argc, argv) != 0)
        return bench_usage(argv[0]);
    memset(&r, 0, sizeof r);
    if (getenv("MQ_BENCH_WORKERS") != NULL &&
        mq_set_worker_threads(atoi(getenv("MQ_BENCH_WORKERS"))) != MQ_OK) {
        fprintf(stderr, "MQ_BENCH_WORKERS: 1 to 64\n");
        return 2;
    }
    switch (a.scenario) {
    case SC_PUB: run_pub(&a, &r); break;
    case SC_E2E: run_e2e(&a, &r); break;
    case SC_RTT:
        if (a.callbacks)
            run_rtt_callbacks(&a, &r);
        else
            run_rtt(&a, &r);
        break;
    case SC_IDLE: run_idle(&a, &r); break;
    }
    bench_print(&a, &r);
    return r.error == NULL ? 0 : 1;
}
