/*
 * bench_paho.c - benchmark driver for Paho MQTT C (the asynchronous
 * MQTTAsync API, libpaho-mqtt3a), same interface as bench_libmq.c (see
 * bench_common.h).
 *
 * Threading: the main thread publishes; Paho's own send/receive threads run
 * the network and call onSuccess / messageArrived, which count with
 * atomics. At most window=N messages are open (sent, onSuccess not yet
 * called), also passed to Paho as maxBufferedMessages.
 */
#include "bench_common.h"

#include <MQTTAsync.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

/* Paho C has no TCP_NODELAY option, and without it every QoS 1 round trip
 * waits ~40 ms (Nagle against delayed ACK). libmq and libmosquitto get
 * TCP_NODELAY, so for a fair comparison this driver interposes connect()
 * (Paho calls it through the PLT) and sets it on TCP sockets, unless
 * nodelay=0 (or BENCH_PAHO_NAGLE is set). */
typedef int (*connect_fn)(int, __CONST_SOCKADDR_ARG, socklen_t);
static int g_nodelay = 1;

int
connect(int fd, __CONST_SOCKADDR_ARG addr, socklen_t len)
{
    static connect_fn real;
    const struct sockaddr *sa = addr.__sockaddr__;
    int one = 1;
    if (real == NULL) {
        void *sym = dlsym(RTLD_NEXT, "connect");
        memcpy(&real, &sym, sizeof real);
    }
    if (sa != NULL && (sa->sa_family == AF_INET || sa->sa_family == AF_INET6) &&
        g_nodelay && getenv("BENCH_PAHO_NAGLE") == NULL)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return real(fd, addr, len);
}

typedef struct ctx {
    atomic_int connected;
    atomic_int subscribed;
    atomic_int disconnected;
    atomic_long received;
    _Atomic double t_last;
    bench_window win;
    int rtt;
    bench_echo echo; /* rtt */
} ctx;

static void
ctx_init(ctx *x)
{
    memset(x, 0, sizeof *x);
    bench_window_init(&x->win);
    bench_echo_init(&x->echo);
}

static void
on_conn_ok(void *ud, MQTTAsync_successData *d)
{
    (void)d;
    atomic_store(&((ctx *)ud)->connected, 1);
}

static void
on_conn_fail(void *ud, MQTTAsync_failureData *d)
{
    (void)d;
    atomic_store(&((ctx *)ud)->connected, -1);
}

static void
on_sub_ok(void *ud, MQTTAsync_successData *d)
{
    (void)d;
    atomic_store(&((ctx *)ud)->subscribed, 1);
}

static void
on_sub_fail(void *ud, MQTTAsync_failureData *d)
{
    (void)d;
    atomic_store(&((ctx *)ud)->subscribed, -1);
}

static void
on_disc(void *ud, MQTTAsync_successData *d)
{
    (void)d;
    atomic_store(&((ctx *)ud)->disconnected, 1);
}

static void
on_sent(void *ud, MQTTAsync_successData *d)
{
    (void)d;
    bench_window_done(&((ctx *)ud)->win);
}

static int
on_message(void *ud, char *topic, int tlen, MQTTAsync_message *msg)
{
    ctx *x = ud;
    (void)tlen;
    if (x->rtt) {
        bench_echo_offer(&x->echo, msg->payload,
                         msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0);
    } else {
        atomic_fetch_add_explicit(&x->received, 1, memory_order_relaxed);
        atomic_store_explicit(&x->t_last, bench_now(), memory_order_relaxed);
    }
    MQTTAsync_freeMessage(&msg);
    MQTTAsync_free(topic);
    return 1;
}

static void
on_lost(void *ud, char *cause)
{
    (void)ud;
    (void)cause;
}

static MQTTAsync
make_client(const bench_args *a, const char *role, ctx *x, long idx)
{
    char id[80], uri[128];
    MQTTAsync m;
    MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer;
    MQTTAsync_connectOptions o = MQTTAsync_connectOptions_initializer;

    snprintf(id, sizeof id, "bench-paho-%s-%ld-%ld", role, (long)getpid(),
             idx);
    snprintf(uri, sizeof uri, "tcp://%s:%d", a->host, a->port);
    co.maxBufferedMessages = (int)(a->window + 16);
    co.MQTTVersion = MQTTVERSION_3_1_1;
    if (MQTTAsync_createWithOptions(&m, uri, id, MQTTCLIENT_PERSISTENCE_NONE,
                                    NULL, &co) != MQTTASYNC_SUCCESS)
        return NULL;
    MQTTAsync_setCallbacks(m, x, on_lost, on_message, NULL);
    o.keepAliveInterval = 60;
    o.cleansession = 1;
    o.maxInflight = a->inflight;
    o.MQTTVersion = MQTTVERSION_3_1_1;
    o.onSuccess = on_conn_ok;
    o.onFailure = on_conn_fail;
    o.context = x;
    if (MQTTAsync_connect(m, &o) != MQTTASYNC_SUCCESS) {
        MQTTAsync_destroy(&m);
        return NULL;
    }
    return m;
}

static int
wait_flag(atomic_int *f, double deadline)
{
    while (atomic_load(f) == 0 && bench_now() < deadline)
        bench_sleep_ms(1);
    return atomic_load(f) == 1 ? 0 : -1;
}

static int
send_one(const bench_args *a, MQTTAsync m, ctx *x,
         const unsigned char *payload, double deadline)
{
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    int rc;
    ro.onSuccess = on_sent;
    ro.context = x;
    for (;;) {
        rc = MQTTAsync_send(m, a->topic, (int)a->size, payload, a->qos, 0,
                            &ro);
        if (rc != MQTTASYNC_MAX_BUFFERED_MESSAGES || bench_now() > deadline)
            return rc;
        bench_sleep_ms(1);
    }
}

static const char *
publish_all(bench_args *a, MQTTAsync m, ctx *x,
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
        rc = send_one(a, m, x, payload, deadline);
        if (rc != MQTTASYNC_SUCCESS) {
            fprintf(stderr, "MQTTAsync_send #%ld: %s\n", i,
                    MQTTAsync_strerror(rc));
            return "publish_failed";
        }
    }
    return NULL;
}

static void
finish(MQTTAsync m, ctx *x)
{
    MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer;
    if (m == NULL)
        return;
    d.onSuccess = on_disc;
    d.context = x;
    d.timeout = 5000;
    if (MQTTAsync_disconnect(m, &d) == MQTTASYNC_SUCCESS)
        wait_flag(&x->disconnected, bench_now() + 6);
    MQTTAsync_destroy(&m);
}

static int
subscribe(const bench_args *a, MQTTAsync m, ctx *x, double deadline)
{
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    ro.onSuccess = on_sub_ok;
    ro.onFailure = on_sub_fail;
    ro.context = x;
    if (MQTTAsync_subscribe(m, a->topic, a->qos, &ro) != MQTTASYNC_SUCCESS)
        return -1;
    return wait_flag(&x->subscribed, deadline);
}

static void
run_pub(bench_args *a, bench_result *r)
{
    ctx x;
    MQTTAsync m;
    unsigned char *payload = bench_payload(a->size);
    double deadline = bench_now() + a->timeout_s, t0;

    ctx_init(&x);
    m = make_client(a, "pub", &x, 0);
    if (m == NULL || payload == NULL ||
        wait_flag(&x.connected, deadline) != 0) {
        r->error = "connect_failed";
        goto done;
    }
    t0 = bench_now();
    r->error = publish_all(a, m, &x, payload, deadline, t0);
    /* onSuccess: QoS 0 written to the socket, QoS 1/2 acknowledged */
    r->sent = bench_wait_count(&x.win.completed, a->count, 30, deadline);
    r->elapsed_s = bench_now() - t0;
    if (r->sent < a->count && r->error == NULL)
        r->error = "incomplete";
done:
    finish(m, &x);
    free(payload);
}

static void
run_e2e(bench_args *a, bench_result *r)
{
    ctx xs, xp;
    MQTTAsync s = NULL, p = NULL;
    unsigned char *payload = bench_payload(a->size);
    double deadline = bench_now() + a->timeout_s, t0;

    ctx_init(&xs);
    ctx_init(&xp);
    s = make_client(a, "sub", &xs, 0);
    if (s == NULL || wait_flag(&xs.connected, deadline) != 0 ||
        subscribe(a, s, &xs, deadline) != 0) {
        r->error = "subscribe_failed";
        goto done;
    }
    p = make_client(a, "pub", &xp, 0);
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
    finish(p, &xp);
    finish(s, &xs);
    free(payload);
}

static void
run_rtt(const bench_args *a, bench_result *r)
{
    ctx x;
    MQTTAsync m;
    unsigned char *payload = bench_payload(a->size);
    double *lat = calloc((size_t)a->count, sizeof *lat);
    double deadline = bench_now() + a->timeout_s, t0;
    long i;

    ctx_init(&x);
    x.rtt = 1;
    m = make_client(a, "rtt", &x, 0);
    if (m == NULL || payload == NULL || lat == NULL ||
        wait_flag(&x.connected, deadline) != 0 ||
        subscribe(a, m, &x, deadline) != 0) {
        r->error = "connect_failed";
        goto done;
    }
    t0 = bench_now();
    for (i = 0; i < a->count; i++) {
        uint64_t seq = (uint64_t)i;
        double t;
        memcpy(payload, &seq, sizeof seq);
        bench_echo_arm(&x.echo, seq);
        t = bench_now();
        if (send_one(a, m, &x, payload, deadline) != MQTTASYNC_SUCCESS) {
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
    finish(m, &x);
    free(payload);
    free(lat);
}

static void
run_idle(const bench_args *a, bench_result *r)
{
    MQTTAsync *ms = calloc((size_t)a->count, sizeof *ms);
    ctx x;
    double deadline = bench_now() + a->timeout_s, t0;
    long i, up = 0, rss0;

    bench_raise_nofile();
    ctx_init(&x);
    if (ms == NULL) {
        r->error = "nomem";
        return;
    }
    /* count connects through the window counter */
    rss0 = bench_rss_kb();
    t0 = bench_now();
    for (i = 0; i < a->count; i++) {
        MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer;
        MQTTAsync_connectOptions o = MQTTAsync_connectOptions_initializer;
        char id[80], uri[128];
        snprintf(id, sizeof id, "bench-idle-%ld-%ld", (long)getpid(), i);
        snprintf(uri, sizeof uri, "tcp://%s:%d", a->host, a->port);
        co.MQTTVersion = MQTTVERSION_3_1_1;
        if (MQTTAsync_createWithOptions(&ms[i], uri, id,
                                        MQTTCLIENT_PERSISTENCE_NONE, NULL,
                                        &co) != MQTTASYNC_SUCCESS) {
            ms[i] = NULL;
            r->error = "client_new_failed";
            break;
        }
        o.keepAliveInterval = 60;
        o.cleansession = 1;
        o.MQTTVersion = MQTTVERSION_3_1_1;
        o.onSuccess = on_sent; /* counts into x.win.completed */
        o.context = &x;
        if (MQTTAsync_connect(ms[i], &o) != MQTTASYNC_SUCCESS) {
            r->error = "connect_failed";
            i++;
            break;
        }
    }
    r->conns = i;
    up = bench_wait_count(&x.win.completed, r->conns, 20, deadline);
    r->elapsed_s = bench_now() - t0;
    bench_sleep_ms(300);
    r->received = r->sent = up;
    if (up > 0)
        r->idle_kb_per_conn = (double)(bench_rss_kb() - rss0) / (double)up;
    if (up < a->count && r->error == NULL)
        r->error = "not_all_connected";
    for (i = 0; i < r->conns; i++)
        if (ms[i] != NULL)
            MQTTAsync_destroy(&ms[i]);
    free(ms);
}

int
main(int argc, char **argv)
{
    bench_args a;
    bench_result r;

    if (bench_parse(&a, "paho", argc, argv) != 0)
        return bench_usage(argv[0]);
    g_nodelay = a.nodelay;
    memset(&r, 0, sizeof r);
    switch (a.scenario) {
    case SC_PUB: run_pub(&a, &r); break;
    case SC_E2E: run_e2e(&a, &r); break;
    case SC_RTT: run_rtt(&a, &r); break;
    case SC_IDLE: run_idle(&a, &r); break;
    }
    bench_print(&a, &r);
    return r.error == NULL ? 0 : 1;
}
