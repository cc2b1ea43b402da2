/*
 * bench_mosquitto.c - benchmark driver for libmosquitto, same interface as
 * bench_libmq.c (see bench_common.h).
 *
 * Threading: the main thread publishes; each client runs its network loop
 * on a libmosquitto thread (mosquitto_loop_start), whose callbacks count
 * completions - or, for pub with loop=inline, on the publishing thread. libmosquitto has no bound on its outbound queue, so the
 * driver keeps at most window=N messages open (published, on_publish not
 * yet called) - the same limit libmq gets through MQ_OPT_QUEUE_MAX_MSGS.
 * The idle scenario drives all sockets from one epoll loop instead of one
 * thread per client.
 */
#include "bench_common.h"

#include <mosquitto.h>
#include <sys/epoll.h>

typedef struct ctx {
    atomic_int connected;
    atomic_int subscribed;
    atomic_long received;
    _Atomic double t_last;
    bench_window win;
    bench_echo echo; /* rtt */
} ctx;

static void
on_connect(struct mosquitto *m, void *ud, int rc)
{
    (void)m;
    atomic_store(&((ctx *)ud)->connected, rc == 0 ? 1 : -1);
}

static void
on_subscribe(struct mosquitto *m, void *ud, int mid, int n, const int *g)
{
    (void)m;
    (void)mid;
    (void)n;
    (void)g;
    atomic_store(&((ctx *)ud)->subscribed, 1);
}

static void
on_publish(struct mosquitto *m, void *ud, int mid)
{
    (void)m;
    (void)mid;
    bench_window_done(&((ctx *)ud)->win);
}

static void
on_message(struct mosquitto *m, void *ud, const struct mosquitto_message *msg)
{
    ctx *x = ud;
    (void)m;
    (void)msg;
    atomic_fetch_add_explicit(&x->received, 1, memory_order_relaxed);
    atomic_store_explicit(&x->t_last, bench_now(), memory_order_relaxed);
}

static void
on_message_rtt(struct mosquitto *m, void *ud,
               const struct mosquitto_message *msg)
{
    ctx *x = ud;
    (void)m;
    bench_echo_offer(&x->echo, msg->payload,
                     msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0);
}

static void
ctx_init(ctx *x)
{
    memset(x, 0, sizeof *x);
    bench_window_init(&x->win);
    bench_echo_init(&x->echo);
}

static struct mosquitto *
make_client(const bench_args *a, const char *role, ctx *x, int loop)
{
    char id[64];
    struct mosquitto *m;

    snprintf(id, sizeof id, "bench-mosq-%s-%ld", role, (long)getpid());
    m = mosquitto_new(id, true, x);
    if (m == NULL)
        return NULL;
    mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    mosquitto_max_inflight_messages_set(m, (unsigned)a->inflight);
    /* libmq sets TCP_NODELAY by default; libmosquitto gets the same
     * unless nodelay=0 */
    mosquitto_int_option(m, MOSQ_OPT_TCP_NODELAY, a->nodelay);
    mosquitto_connect_callback_set(m, on_connect);
    mosquitto_subscribe_callback_set(m, on_subscribe);
    mosquitto_publish_callback_set(m, on_publish);
    mosquitto_message_callback_set(m, on_message);
    if (mosquitto_connect(m, a->host, a->port, 60) != MOSQ_ERR_SUCCESS)
        goto fail;
    if (loop && mosquitto_loop_start(m) != MOSQ_ERR_SUCCESS)
        goto fail;
    return m;
fail:
    mosquitto_destroy(m);
    return NULL;
}

static int
wait_flag(atomic_int *f, double deadline)
{
    while (atomic_load(f) == 0 && bench_now() < deadline)
        bench_sleep_ms(1);
    return atomic_load(f) == 1 ? 0 : -1;
}

static const char *
publish_all(bench_args *a, struct mosquitto *m, ctx *x,
            const unsigned char *payload, double deadline, double t0)
{
    long i;
    for (i = 0; i < a->count; i++) {
        int rc;
        if (bench_over_budget(a, i, t0)) {
            a->count = i; /* measure what was published */
            break;
        }
        if (bench_window_wait(&x->win, i, a->window, a->refill_half,
                              deadline) != 0)
            return "timeout";
        rc = mosquitto_publish(m, NULL, a->topic, (int)a->size, payload,
                               a->qos, false);
        if (rc != MOSQ_ERR_SUCCESS) {
            fprintf(stderr, "mosquitto_publish #%ld: %s\n", i,
                    mosquitto_strerror(rc));
            return "publish_failed";
        }
    }
    return NULL;
}

static void
finish(struct mosquitto *m)
{
    if (m == NULL)
        return;
    mosquitto_disconnect(m);
    mosquitto_loop_stop(m, false);
    mosquitto_destroy(m);
}

static void
run_pub(bench_args *a, bench_result *r)
{
    ctx x;
    struct mosquitto *m;
    unsigned char *payload = bench_payload(a->size);
    double deadline = bench_now() + a->timeout_s, t0;

    ctx_init(&x);
    m = make_client(a, "pub", &x, 1);
    if (m == NULL || payload == NULL ||
        wait_flag(&x.connected, deadline) != 0) {
        r->error = "connect_failed";
        goto done;
    }
    t0 = bench_now();
    r->error = publish_all(a, m, &x, payload, deadline, t0);
    /* on_publish: QoS 0 written to the socket, QoS 1/2 acknowledged */
    r->sent = bench_wait_count(&x.win.completed, a->count, 30, deadline);
    r->elapsed_s = bench_now() - t0;
    if (r->sent < a->count && r->error == NULL)
        r->error = "incomplete";
done:
    finish(m);
    free(payload);
}

/* pub with loop=inline: no network thread. mosquitto_publish writes the
 * packet on this thread at once (libmosquitto does so when no loop thread
 * runs), and mosquitto_loop() here reads the acknowledgements and calls
 * on_publish, whenever the window is full and at the end. */
static void
run_pub_inline(bench_args *a, bench_result *r)
{
    ctx x;
    struct mosquitto *m;
    unsigned char *payload = bench_payload(a->size);
    double deadline = bench_now() + a->timeout_s, t0, last;
    long i, low, done;

    ctx_init(&x);
    m = make_client(a, "pub", &x, 0);
    while (m != NULL && atomic_load(&x.connected) == 0 &&
           bench_now() < deadline)
        mosquitto_loop(m, 100, 1);
    if (m == NULL || payload == NULL || atomic_load(&x.connected) != 1) {
        r->error = "connect_failed";
        goto done;
    }
    /* refill=half: once full, read until half the window is done */
    low = a->refill_half ? a->window / 2 : a->window - 1;
    t0 = bench_now();
    for (i = 0; i < a->count && r->error == NULL; i++) {
        int rc;
        if (bench_over_budget(a, i, t0)) {
            a->count = i;
            break;
        }
        if (i - atomic_load(&x.win.completed) >= a->window) {
            while (i - atomic_load(&x.win.completed) > low &&
                   bench_now() < deadline)
                if (mosquitto_loop(m, 1000, 1) != MOSQ_ERR_SUCCESS) {
                    r->error = "loop_failed";
                    break;
                }
            if (i - atomic_load(&x.win.completed) > low)
                r->error = "timeout";
        }
        rc = mosquitto_publish(m, NULL, a->topic, (int)a->size, payload,
                               a->qos, false);
        if (rc != MOSQ_ERR_SUCCESS) {
            fprintf(stderr, "mosquitto_publish #%ld: %s\n", i,
                    mosquitto_strerror(rc));
            r->error = "publish_failed";
        }
    }
    last = bench_now();
    done = atomic_load(&x.win.completed);
    while (done < a->count && bench_now() < deadline &&
           bench_now() - last < 30) {
        if (mosquitto_loop(m, 100, 1) != MOSQ_ERR_SUCCESS)
            break;
        if (atomic_load(&x.win.completed) != done) {
            done = atomic_load(&x.win.completed);
            last = bench_now();
        }
    }
    r->sent = done;
    r->elapsed_s = bench_now() - t0;
    if (r->sent < a->count && r->error == NULL)
        r->error = "incomplete";
    mosquitto_disconnect(m);
done:
    if (m != NULL)
        mosquitto_destroy(m);
    free(payload);
}

static void
run_e2e(bench_args *a, bench_result *r)
{
    ctx xs, xp;
    struct mosquitto *s = NULL, *p = NULL;
    unsigned char *payload = bench_payload(a->size);
    double deadline = bench_now() + a->timeout_s, t0;

    ctx_init(&xs);
    ctx_init(&xp);
    s = make_client(a, "sub", &xs, 1);
    if (s == NULL || wait_flag(&xs.connected, deadline) != 0 ||
        mosquitto_subscribe(s, NULL, a->topic, a->qos) != MOSQ_ERR_SUCCESS ||
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
    r->sent = atomic_load(&xp.win.completed);
    if (r->received < a->count && r->error == NULL)
        r->error = "lost";
done:
    finish(p);
    finish(s);
    free(payload);
}

static void
run_rtt(const bench_args *a, bench_result *r)
{
    ctx x;
    struct mosquitto *m;
    unsigned char *payload = bench_payload(a->size);
    double *lat = calloc((size_t)a->count, sizeof *lat);
    double deadline = bench_now() + a->timeout_s, t0;
    long i;

    ctx_init(&x);
    m = make_client(a, "rtt", &x, 1);
    if (m == NULL || payload == NULL || lat == NULL ||
        wait_flag(&x.connected, deadline) != 0) {
        r->error = "connect_failed";
        goto done;
    }
    mosquitto_message_callback_set(m, on_message_rtt);
    if (mosquitto_subscribe(m, NULL, a->topic, a->qos) != MOSQ_ERR_SUCCESS ||
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
        if (mosquitto_publish(m, NULL, a->topic, (int)a->size, payload,
                              a->qos, false) != MOSQ_ERR_SUCCESS) {
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
done:
    finish(m);
    free(payload);
    free(lat);
}

static void
on_connect_idle(struct mosquitto *m, void *ud, int rc)
{
    (void)m;
    if (rc == 0)
        (*(long *)ud)++;
}

/* COUNT clients, no threads: one epoll loop calls mosquitto_loop_read. */
static void
run_idle(const bench_args *a, bench_result *r)
{
    struct mosquitto **ms = calloc((size_t)a->count, sizeof *ms);
    double deadline = bench_now() + a->timeout_s, t0;
    long i, up = 0, rss0;
    int ep = epoll_create1(0);
    char id[64];

    bench_raise_nofile();
    if (ms == NULL || ep < 0) {
        r->error = "nomem";
        free(ms);
        return;
    }
    rss0 = bench_rss_kb();
    t0 = bench_now();
    for (i = 0; i < a->count; i++) {
        struct epoll_event ev;
        snprintf(id, sizeof id, "bench-idle-%ld-%ld", (long)getpid(), i);
        ms[i] = mosquitto_new(id, true, &up);
        if (ms[i] == NULL) {
            r->error = "client_new_failed";
            break;
        }
        mosquitto_connect_callback_set(ms[i], on_connect_idle);
        if (mosquitto_connect(ms[i], a->host, a->port, 60) !=
            MOSQ_ERR_SUCCESS) {
            fprintf(stderr, "mosquitto_connect #%ld failed (errno %d)\n", i,
                    errno);
            r->error = "connect_failed";
            i++;
            break;
        }
        memset(&ev, 0, sizeof ev);
        ev.events = EPOLLIN;
        ev.data.ptr = ms[i];
        epoll_ctl(ep, EPOLL_CTL_ADD, mosquitto_socket(ms[i]), &ev);
        /* CONNECT may still sit in the client's queue */
        mosquitto_loop_write(ms[i], 1);
    }
    r->conns = i;
    while (up < r->conns && bench_now() < deadline) {
        struct epoll_event evs[256];
        int n = epoll_wait(ep, evs, 256, 100), k;
        for (k = 0; k < n; k++)
            mosquitto_loop_read(evs[k].data.ptr, 1);
    }
    r->elapsed_s = bench_now() - t0;
    bench_sleep_ms(300);
    r->received = r->sent = up;
    if (up > 0)
        r->idle_kb_per_conn = (double)(bench_rss_kb() - rss0) / (double)up;
    if (up < a->count && r->error == NULL)
        r->error = "not_all_connected";
    for (i = 0; i < r->conns; i++)
        mosquitto_destroy(ms[i]);
    close(ep);
    free(ms);
}

int
main(int argc, char **argv)
{
    bench_args a;
    bench_result r;

    if (bench_parse(&a, "mosquitto", argc, argv) != 0)
        return bench_usage(argv[0]);
    mosquitto_lib_init();
    memset(&r, 0, sizeof r);
    switch (a.scenario) {
    case SC_PUB:
        if (a.loop_inline)
            run_pub_inline(&a, &r);
        else
            run_pub(&a, &r);
        break;
    case SC_E2E: run_e2e(&a, &r); break;
    case SC_RTT: run_rtt(&a, &r); break;
    case SC_IDLE: run_idle(&a, &r); break;
    }
    bench_print(&a, &r);
    mosquitto_lib_cleanup();
    return r.error == NULL ? 0 : 1;
}
