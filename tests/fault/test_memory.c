/*
 * test_memory.c - memory stays bounded (VmRSS from /proc/self/status):
 *  - the broker is down for a while and the application keeps publishing
 *    QoS 1 into a bounded queue: MQ_ERR_QUEUE_FULL, flat RSS, and every
 *    accepted message completes once the broker is back;
 *  - a subscriber that never drains its events while a flood arrives
 *    (mosquitto_pub --repeat in another process): the worker stops
 *    reading, RSS stays flat; draining later gets the flow going again;
 *  - the same with a short keepalive: pausing reads must not cost the
 *    connection (KNOWN BUG, see README.md).
 *
 * Threading: main thread only.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker.h"
#include "ft.h"
#include "mq.h"

static mqt_broker *g_broker;

/* RSS limits are for a plain build; sanitizers add shadow memory. */
#if defined(__SANITIZE_THREAD__)
#define RSS_SCALE 6
#elif defined(__SANITIZE_ADDRESS__)
#define RSS_SCALE 3
#else
#define RSS_SCALE 1
#endif

static void
dump_logs(void)
{
    if (g_broker != NULL)
        mqt_broker_dump_log(g_broker, stderr);
}

static int
drain_count(mq_client *c, int kind, int *disc)
{
    mq_event *ev;
    int n = 0;

    while ((ev = mq_next_event(c, 0)) != NULL) {
        if (mq_event_type(ev) == kind)
            n++;
        if (mq_event_type(ev) == MQ_EVENT_DISCONNECTED && disc != NULL) {
            (*disc)++;
            printf("  disconnected: %s (%s)\n",
                   mq_err_name(mq_event_error(ev)),
                   mq_event_message(ev) ? mq_event_message(ev) : "");
        }
        FT_CHECK(mq_event_type(ev) != MQ_EVENT_PUBLISHED ||
                     mq_event_error(ev) == MQ_OK,
                 "publish failed: %s", mq_err_name(mq_event_error(ev)));
        mq_event_free(ev);
    }
    return n;
}

static void
c_broker_down_bounded(void)
{
    mqt_broker *b = mqt_broker_start(NULL);
    mq_client *c;
    char payload[1024];
    int accepted = 0, full = 0, done = 0;
    long rss0 = 0, rss1;
    long long t0, until;

    FT_CHECK(b != NULL, "broker");
    g_broker = b;
    ft_fail_hook = dump_logs;
    memset(payload, 'p', sizeof payload);
    c = mq_client_new("mem-down", MQ_PROTO_V5);
    mq_set_server(c, mqt_broker_uri(b));
    mq_set_int(c, MQ_OPT_RECONNECT_MIN_MS, 20);
    mq_set_int(c, MQ_OPT_RECONNECT_MAX_MS, 100);
    mq_set_int(c, MQ_OPT_QUEUE_MAX_MSGS, 2000);
    mq_set_int(c, MQ_OPT_QUEUE_MAX_BYTES, 4 << 20);
    FT_CHECK(mq_connect(c) == MQ_OK, "connect");
    mq_event_free(ft_wait(c, MQ_EVENT_CONNECT, 10000));
    FT_CHECK(mqt_broker_stop(b, 5000) == 0, "stop broker");
    t0 = ft_now_ms();
    while (ft_now_ms() - t0 < 6000) {
        int rc = mq_publish(c, "mem/down", payload, sizeof payload, 1, 0);
        if (rc > 0)
            accepted++;
        else if (rc == MQ_ERR_QUEUE_FULL)
            full++;
        else
            FT_CHECK(0, "publish: %s", mq_err_name(rc));
        if (rc == MQ_ERR_QUEUE_FULL)
            ft_sleep_ms(1);
        done += drain_count(c, MQ_EVENT_PUBLISHED, NULL);
        if (rss0 == 0 && ft_now_ms() - t0 > 1500)
            rss0 = ft_vm_kb("VmRSS");
    }
    rss1 = ft_vm_kb("VmRSS");
    printf("  accepted %d, refused (queue full) %d, RSS %ld -> %ld KiB\n",
           accepted, full, rss0, rss1);
    FT_CHECK(full > 0, "the queue never filled");
    FT_CHECK(accepted <= 2000, "queue exceeded its bound: %d", accepted);
    FT_CHECK(mq_queued_messages(c) <= 2000, "queued %zu",
             mq_queued_messages(c));
    FT_CHECK(rss1 - rss0 < RSS_SCALE * 8 * 1024, "RSS grew %ld KiB while the broker was "
             "down", rss1 - rss0);
    FT_CHECK(mqt_broker_restart(b) == 0, "restart");
    until = ft_now_ms() + 30000;
    while (done < accepted && ft_now_ms() < until) {
        struct pollfd pf = {mq_event_fd(c), POLLIN, 0};
        poll(&pf, 1, 50);
        done += drain_count(c, MQ_EVENT_PUBLISHED, NULL);
    }
    FT_CHECK(done == accepted, "%d of %d publishes completed after the "
             "broker came back", done, accepted);
    mq_client_destroy(c);
    mqt_broker_destroy(b);
    g_broker = NULL;
}

/* Flood a never-draining subscriber; keepalive_s 0 keeps the default. */
static void
never_drains(int keepalive_s, int pause_ms)
{
    mqt_broker_opts o = {.extra_conf = "max_queued_messages 0\n"};
    mqt_broker *b = mqt_broker_start(&o);
    mq_client *c;
    mqt_proc *pub;
    char port[16], *file;
    long rss0, rss1, rss2;
    int got = 0, disc = 0;
    FILE *f;
    long long until;

    FT_CHECK(b != NULL, "broker");
    g_broker = b;
    ft_fail_hook = dump_logs;
    c = mq_client_new("mem-sub", MQ_PROTO_V311);
    mq_set_server(c, mqt_broker_uri(b));
    mq_set_int(c, MQ_OPT_MAX_EVENTS, 500);
    if (keepalive_s)
        mq_set_int(c, MQ_OPT_KEEPALIVE_S, keepalive_s);
    FT_CHECK(mq_connect(c) == MQ_OK, "connect");
    mq_event_free(ft_wait(c, MQ_EVENT_CONNECT, 10000));
    FT_CHECK(mq_subscribe(c, "mem/flood", 0) > 0, "sub");
    mq_event_free(ft_wait(c, MQ_EVENT_SUBSCRIBED, 10000));

    /* 8000 x 8 KiB = 64 MiB offered */
    file = strdup("/tmp/mqmem.XXXXXX");
    {
        int fd = mkstemp(file);
        FT_CHECK(fd >= 0, "mkstemp");
        f = fdopen(fd, "w");
        for (int i = 0; i < 8192; i++)
            fputc('f', f);
        fclose(f);
    }
    snprintf(port, sizeof port, "%d", mqt_broker_port(b));
    rss0 = ft_vm_kb("VmRSS");
    {
        char *argv[] = {"mosquitto_pub", "-h", "127.0.0.1", "-p", port, "-t",
                        "mem/flood", "-q", "0", "-f", file, "--repeat",
                        "8000", NULL};
        pub = mqt_spawn(argv);
        FT_CHECK(pub != NULL, "spawn mosquitto_pub");
    }
    ft_sleep_ms(pause_ms / 2);
    rss1 = ft_vm_kb("VmRSS");
    ft_sleep_ms(pause_ms / 2);
    rss2 = ft_vm_kb("VmRSS");
    printf("  RSS %ld -> %ld -> %ld KiB while not draining\n", rss0, rss1,
           rss2);
    FT_CHECK(rss2 - rss0 < RSS_SCALE * 24 * 1024, "RSS grew %ld KiB with events not "
             "drained", rss2 - rss0);
    /* now drain: more messages must keep coming (reads resumed) */
    until = ft_now_ms() + 20000;
    while (ft_now_ms() < until) {
        mq_event *ev = mq_next_event(c, 1000);
        if (ev == NULL)
            break; /* flood over */
        if (mq_event_type(ev) == MQ_EVENT_MESSAGE)
            got++;
        if (mq_event_type(ev) == MQ_EVENT_DISCONNECTED) {
            disc++;
            printf("  disconnected: %s (%s)\n",
                   mq_err_name(mq_event_error(ev)),
                   mq_event_message(ev) ? mq_event_message(ev) : "");
        }
        mq_event_free(ev);
    }
    mqt_proc_finish(pub, 20000, NULL, NULL);
    printf("  %d messages received after draining\n", got);
    FT_CHECK(got > 500, "only %d messages: reading did not resume", got);
    FT_CHECK(disc == 0, "the paused subscriber lost its connection (%d "
             "disconnects)", disc);
    unlink(file);
    free(file);
    mq_client_destroy(c);
    mqt_broker_destroy(b);
    g_broker = NULL;
}

/* Large messages to a subscriber that does not drain: the count bound
 * alone let 4000 x 256 KiB pile up (1 GB). The byte bound
 * (MQ_OPT_MAX_EVENT_BYTES, default 32 MiB, or @p max_bytes) stops reading
 * first. @p n messages of 256 KiB (150 MB for 600). */
static void
never_drains_large(long max_bytes, int n)
{
    mqt_broker_opts o = {.extra_conf = "max_queued_messages 0\n"};
    mqt_broker *b = mqt_broker_start(&o);
    mq_client *c;
    mqt_proc *pub;
    char port[16], count[16], *file;
    long rss0, rss1, bound_kb;
    int got = 0, disc = 0;
    FILE *f;
    long long until;

    FT_CHECK(b != NULL, "broker");
    g_broker = b;
    ft_fail_hook = dump_logs;
    c = mq_client_new("mem-large", MQ_PROTO_V311);
    mq_set_server(c, mqt_broker_uri(b));
    if (max_bytes > 0)
        FT_CHECK(mq_set_int(c, MQ_OPT_MAX_EVENT_BYTES, max_bytes) == MQ_OK,
                 "max event bytes");
    {
        int64_t v = 32L << 20; /* the documented default */
        if (max_bytes > 0)
            FT_CHECK(mq_get_int(c, MQ_OPT_MAX_EVENT_BYTES, &v) == MQ_OK &&
                         v == max_bytes, "get max event bytes");
        bound_kb = (long)(v / 1024);
        printf("  MQ_OPT_MAX_EVENT_BYTES %lld\n", (long long)v);
    }
    FT_CHECK(mq_connect(c) == MQ_OK, "connect");
    mq_event_free(ft_wait(c, MQ_EVENT_CONNECT, 10000));
    FT_CHECK(mq_subscribe(c, "mem/large", 0) > 0, "sub");
    mq_event_free(ft_wait(c, MQ_EVENT_SUBSCRIBED, 10000));

    file = strdup("/tmp/mqmemL.XXXXXX");
    {
        int fd = mkstemp(file);
        FT_CHECK(fd >= 0, "mkstemp");
        f = fdopen(fd, "w");
        for (int i = 0; i < 256 * 1024; i++)
            fputc('L', f);
        fclose(f);
    }
    snprintf(port, sizeof port, "%d", mqt_broker_port(b));
    snprintf(count, sizeof count, "%d", n);
    rss0 = ft_vm_kb("VmRSS");
    {
        char *argv[] = {"mosquitto_pub", "-h", "127.0.0.1", "-p", port, "-t",
                        "mem/large", "-q", "0", "-f", file, "--repeat",
                        count, NULL};
        pub = mqt_spawn(argv);
        FT_CHECK(pub != NULL, "spawn mosquitto_pub");
    }
    /* the publisher is done once the broker holds everything; then give
     * the subscriber's worker time to read what it will */
    FT_CHECK(mqt_proc_finish(pub, 60000, NULL, NULL) == 0, "mosquitto_pub");
    ft_sleep_ms(1500);
    rss1 = ft_vm_kb("VmRSS");
    printf("  RSS %ld -> %ld KiB (+%ld) while not draining %d x 256 KiB\n",
           rss0, rss1, rss1 - rss0, n);
    FT_CHECK(rss1 - rss0 < RSS_SCALE * (bound_kb + 16 * 1024),
             "RSS grew %ld KiB with events not drained (bound %ld KiB)",
             rss1 - rss0, bound_kb);
    /* draining gets everything through */
    until = ft_now_ms() + 60000;
    while (got < n && ft_now_ms() < until) {
        mq_event *ev = mq_next_event(c, 2000);
        if (ev == NULL)
            break;
        if (mq_event_type(ev) == MQ_EVENT_MESSAGE) {
            FT_CHECK(mq_event_payload_len(ev) == 256 * 1024, "payload %zu",
                     mq_event_payload_len(ev));
            got++;
        }
        if (mq_event_type(ev) == MQ_EVENT_DISCONNECTED)
            disc++;
        mq_event_free(ev);
    }
    printf("  %d of %d messages received after draining\n", got, n);
    FT_CHECK(got == n, "%d of %d messages", got, n);
    FT_CHECK(disc == 0, "%d disconnects", disc);
    unlink(file);
    free(file);
    mq_client_destroy(c);
    mqt_broker_destroy(b);
    g_broker = NULL;
}

static void c_subscriber_never_drains(void) { never_drains(0, 4000); }
/* The case with the defaults: 600 x 256 KiB (150 MB) */
static void c_never_drains_large_default(void)
{ never_drains_large(0, 600); }
/* A small bound: 4 MiB */
static void c_never_drains_large_4mib(void)
{ never_drains_large(4L << 20, 300); }
/* KNOWN BUG: with reads paused the PINGRESP is never read, so keepalive
 * (2 s) tears the connection down although the broker is fine. */
static void c_subscriber_never_drains_keepalive(void) { never_drains(2, 7000); }

static const ft_case cases[] = {
    {"broker_down_bounded", c_broker_down_bounded},
    {"subscriber_never_drains", c_subscriber_never_drains},
    {"subscriber_never_drains_keepalive", c_subscriber_never_drains_keepalive},
    {"never_drains_large_default", c_never_drains_large_default},
    {"never_drains_large_4mib", c_never_drains_large_4mib},
};

FT_MAIN(cases)
