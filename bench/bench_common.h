/*
 * bench_common.h - shared command line, timing, rusage and result-line
 * helpers for the three benchmark drivers (bench_libmq.c,
 * bench_mosquitto.c, bench_paho.c), so that they have one interface.
 *
 * Threading: the helpers are plain functions; bench_window is a small
 * producer/consumer counter (one publisher thread, one completion thread).
 *
 * Interface of every driver:
 *   bench_<lib> SCENARIO HOST PORT COUNT SIZE QOS [key=value ...]
 *   SCENARIO  pub   publish COUNT messages, time until all are completed
 *                   (QoS 0: written and the connection closed cleanly,
 *                   QoS 1/2: acknowledged)
 *             e2e   a subscriber and a publisher (two connections, same
 *                   process); time from the first publish to the last
 *                   message received
 *             rtt   one connection subscribed to its own topic publishes
 *                   one message and waits for it, COUNT times; latency
 *                   percentiles
 *             idle  COUNT connections in this process, connected and idle;
 *                   resident memory per connection
 *   keys: inflight=N (max QoS>0 messages on the wire, default 100),
 *         window=N (max messages accepted but not completed; default
 *         10000 for QoS 0 and 2 x inflight for QoS 1/2 - Paho's MQTTAsync
 *         slows down by 10-20x when thousands of QoS 1 commands are
 *         queued, libmosquitto by ~2x, libmq does not care), timeout=S (give up after S seconds, default 120),
 *         budget=S (pub/e2e: stop publishing after S seconds and measure
 *         what was published; keeps slow libraries from running for
 *         minutes - the result line's count is then the number published),
 *         refill=half (pub/e2e: the application itself keeps at most
 *         window messages open, counting every completion in its
 *         callback, and once the window is full waits until half of it is
 *         completed before publishing again - the way an application that
 *         reuses buffers or batches its work drives a client; every
 *         library, libmq included, then runs the same counter),
 *         nodelay=0|1 (TCP_NODELAY on the client's socket, default 1),
 *         loop=thread|inline (pub, libmosquitto only: its network loop on
 *         its own thread, mosquitto_loop_start, the default; or on the
 *         publishing thread, which then writes each packet itself),
 *         completions=all (pub, libmq only: MQ_OPT_PUBLISH_EVENTS 2, an
 *         MQ_EVENT_PUBLISHED counted in on_publish for every QoS 0 message
 *         too, and the clock stops at the last one - what the peers always
 *         do; by default libmq reports none for QoS 0),
 *         api=pull|callbacks (rtt, libmq only: take the echoed message
 *         with mq_next_event on the publishing thread, the default, or in
 *         an on_message callback on the mq_loop_start thread that wakes
 *         the publisher - the paho style, as the peers' drivers do),
 *         iothread=0|1 (libmq: MQ_OPT_LOOP_IO_THREAD, whether the
 *         mq_loop_start thread is the client's I/O thread; default the
 *         library's, 1),
 *         keepalive=S, hold=S (idle, libmq: the keepalive of every
 *         connection, and how long to hold them after the memory reading;
 *         the result then has the CPU used while holding, as a percentage
 *         of one core, and the RSS change per connection over the hold),
 *         sources=N (idle, libmq: spread the connections over the source
 *         addresses 127.0.0.2 ... 127.0.0.(N+1), so that neither the
 *         ephemeral ports of one address nor its TIME_WAITs from an
 *         earlier run limit the count), ramp=S (idle, libmq: start the
 *         connects evenly over S seconds, so that their keepalive timers
 *         are spread as a real fleet's are), stop_pid=PID (idle, libmq:
 *         after the hold, stop the broker with SIGSTOP and report in
 *         p50_us/max_us how long the connections took to notice, by
 *         keepalive; SIGCONT after)
 *
 * Output: one line on stdout starting with "RESULT", then key=value pairs.
 */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

enum { SC_PUB = 1, SC_E2E, SC_RTT, SC_IDLE };

typedef struct bench_args {
    const char *lib;
    int scenario;
    const char *scenario_name;
    const char *host;
    int port;
    long count;
    size_t size;
    int qos;
    int inflight;
    long window;
    int timeout_s;
    double budget_s;     /* >0: stop publishing after this many seconds */
    int refill_half;     /* refill=half: wait for half the window */
    int nodelay;         /* nodelay=0|1: TCP_NODELAY on the client (1) */
    int loop_inline;     /* loop=inline: the publishing thread runs the
                            library's network loop (libmosquitto) */
    int completions_all; /* completions=all: libmq reports and the driver
                            counts a completion for every QoS 0 message */
    int callbacks;       /* api=callbacks: libmq's rtt takes its messages
                            in mq_loop_start callbacks, not mq_next_event */
    int iothread;        /* iothread=0|1 (libmq), -1: the default */
    int keepalive_s;     /* keepalive=S (idle; 0: the library's default) */
    double hold_s;       /* hold=S (idle): stay connected this long after
                            the memory reading, measuring CPU and RSS */
    double ramp_s;       /* ramp=S (idle, libmq): spread the connects over
                            S seconds (their keepalive timers spread too) */
    int stop_pid;        /* stop_pid=PID (idle, libmq): after the hold,
                            SIGSTOP the broker (a dead broker that keeps
                            its sockets), time how long until every
                            connection noticed, then SIGCONT it */
    int sources;         /* sources=N (idle, libmq): connection i leaves
                            from 127.0.0.(2 + i % N), MQ_SOPT_BIND_ADDRESS */
    char topic[96];
} bench_args;

typedef struct bench_result {
    long sent;           /* messages completed by the publisher */
    long received;       /* messages received (e2e, rtt) */
    double elapsed_s;
    double p50_us, p99_us, max_us;
    double idle_kb_per_conn;
    double idle_cpu_pct;     /* hold=S: CPU while holding, % of one core */
    double hold_kb_per_conn; /* hold=S: RSS change over the hold / conns */
    long conns;
    const char *error;   /* NULL on success */
} bench_result;

static inline double
bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline void
bench_sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* Current resident set size in KiB (from /proc/self/statm). */
static inline long
bench_rss_kb(void)
{
    long pages = 0, res = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL)
        return -1;
    if (fscanf(f, "%ld %ld", &pages, &res) != 2)
        res = -1;
    fclose(f);
    return res < 0 ? -1 : res * (sysconf(_SC_PAGESIZE) / 1024);
}

/* Peak resident set size in KiB: VmHWM from /proc/self/status. (getrusage's
 * ru_maxrss survives execve, so a child of a big runner would report the
 * runner's peak.) */
static inline long
bench_peak_rss_kb(void)
{
    char line[256];
    long kb = -1;
    FILE *f = fopen("/proc/self/status", "r");
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, "VmHWM:", 6) == 0) {
            kb = atol(line + 6);
            break;
        }
    fclose(f);
    return kb;
}

static inline void
bench_raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static inline int
bench_usage(const char *prog)
{
    fprintf(stderr,
            "usage: %s pub|e2e|rtt|idle HOST PORT COUNT SIZE QOS "
            "[inflight=N] [window=N] [timeout=S] [budget=S] [refill=half] [nodelay=0|1] [loop=thread|inline]\n"
            "       [completions=all] [api=pull|callbacks] [iothread=0|1] [keepalive=S] [hold=S]\n"
            "       [sources=N] [ramp=S] [stop_pid=PID]\n",
            prog);
    return 2;
}

static inline int
bench_parse(bench_args *a, const char *lib, int argc, char **argv)
{
    int i;

    memset(a, 0, sizeof *a);
    a->lib = lib;
    if (argc < 7)
        return -1;
    a->scenario_name = argv[1];
    if (strcmp(argv[1], "pub") == 0)
        a->scenario = SC_PUB;
    else if (strcmp(argv[1], "e2e") == 0)
        a->scenario = SC_E2E;
    else if (strcmp(argv[1], "rtt") == 0)
        a->scenario = SC_RTT;
    else if (strcmp(argv[1], "idle") == 0)
        a->scenario = SC_IDLE;
    else
        return -1;
    a->host = argv[2];
    a->port = atoi(argv[3]);
    a->count = atol(argv[4]);
    a->size = (size_t)atol(argv[5]);
    a->qos = atoi(argv[6]);
    a->inflight = 100;
    a->window = 0; /* default below */
    a->timeout_s = 120;
    a->nodelay = 1;
    a->iothread = -1;
    for (i = 7; i < argc; i++) {
        if (strncmp(argv[i], "inflight=", 9) == 0)
            a->inflight = atoi(argv[i] + 9);
        else if (strncmp(argv[i], "window=", 7) == 0)
            a->window = atol(argv[i] + 7);
        else if (strncmp(argv[i], "timeout=", 8) == 0)
            a->timeout_s = atoi(argv[i] + 8);
        else if (strncmp(argv[i], "budget=", 7) == 0)
            a->budget_s = atof(argv[i] + 7);
        else if (strcmp(argv[i], "refill=half") == 0)
            a->refill_half = 1;
        else if (strncmp(argv[i], "nodelay=", 8) == 0)
            a->nodelay = atoi(argv[i] + 8) != 0;
        else if (strcmp(argv[i], "loop=inline") == 0)
            a->loop_inline = 1;
        else if (strcmp(argv[i], "loop=thread") == 0)
            a->loop_inline = 0;
        else if (strcmp(argv[i], "completions=all") == 0)
            a->completions_all = 1;
        else if (strcmp(argv[i], "api=callbacks") == 0)
            a->callbacks = 1;
        else if (strcmp(argv[i], "api=pull") == 0)
            a->callbacks = 0;
        else if (strcmp(argv[i], "iothread=0") == 0)
            a->iothread = 0;
        else if (strcmp(argv[i], "iothread=1") == 0)
            a->iothread = 1;
        else if (strncmp(argv[i], "keepalive=", 10) == 0)
            a->keepalive_s = atoi(argv[i] + 10);
        else if (strncmp(argv[i], "hold=", 5) == 0)
            a->hold_s = atof(argv[i] + 5);
        else if (strncmp(argv[i], "sources=", 8) == 0)
            a->sources = atoi(argv[i] + 8);
        else if (strncmp(argv[i], "ramp=", 5) == 0)
            a->ramp_s = atof(argv[i] + 5);
        else if (strncmp(argv[i], "stop_pid=", 9) == 0)
            a->stop_pid = atoi(argv[i] + 9);
        else
            return -1;
    }
    if (a->window == 0)
        a->window = a->qos > 0 ? 2L * a->inflight : 10000;
    if (a->port <= 0 || a->count <= 0 || a->qos < 0 || a->qos > 2 ||
        a->inflight <= 0 || a->window <= 0)
        return -1;
    if (a->scenario == SC_RTT && a->size < 8)
        a->size = 8; /* room for the sequence number */
    snprintf(a->topic, sizeof a->topic, "bench/%s/%ld/t", lib,
             (long)getpid());
    return 0;
}

static int
bench_cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

/* Sort @p v and fill the percentiles of @p r (microseconds). */
static inline void
bench_percentiles(bench_result *r, double *v, long n)
{
    if (n <= 0)
        return;
    qsort(v, (size_t)n, sizeof *v, bench_cmp_double);
    r->p50_us = v[(n - 1) * 50 / 100] * 1e6;
    r->p99_us = v[(n - 1) * 99 / 100] * 1e6;
    r->max_us = v[n - 1] * 1e6;
}

static inline void
bench_print(const bench_args *a, const bench_result *r)
{
    struct rusage ru;
    double cpu, rate;
    long done;

    getrusage(RUSAGE_SELF, &ru);
    cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 +
          (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
    done = a->scenario == SC_PUB ? r->sent : r->received;
    rate = r->elapsed_s > 0 ? (double)done / r->elapsed_s : 0;
    printf("RESULT lib=%s scenario=%s qos=%d count=%ld size=%zu "
           "sent=%ld received=%ld elapsed_s=%.4f msgs_per_s=%.0f "
           "mib_per_s=%.2f cpu_s=%.4f cpu_user_s=%.4f cpu_sys_s=%.4f "
           "cpu_s_per_M=%.3f peak_rss_kb=%ld p50_us=%.1f p99_us=%.1f "
           "max_us=%.1f conns=%ld idle_kb_per_conn=%.2f idle_cpu_pct=%.3f "
           "hold_kb_per_conn=%.3f status=%s\n",
           a->lib, a->scenario_name, a->qos, a->count, a->size, r->sent,
           r->received, r->elapsed_s, rate,
           rate * (double)a->size / 1048576.0, cpu,
           ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6,
           ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6,
           done > 0 ? cpu * 1e6 / (double)done : 0.0, bench_peak_rss_kb(),
           r->p50_us, r->p99_us, r->max_us, r->conns, r->idle_kb_per_conn,
           r->idle_cpu_pct, r->hold_kb_per_conn, r->error ? r->error : "ok");
    fflush(stdout);
}

/* CPU seconds (user + sys) of this process so far. */
static inline double
bench_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 +
           (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
}

/* True when the publish loop should stop early (budget spent). Checked
 * every 256 messages to keep clock reads off the publish path. */
static inline int
bench_over_budget(const bench_args *a, long i, double t0)
{
    return a->budget_s > 0 && (i & 255) == 0 && i > 0 &&
           bench_now() - t0 > a->budget_s;
}

/* Fill a payload; rtt/e2e drivers overwrite the first 8 bytes. */
static inline unsigned char *
bench_payload(size_t size)
{
    unsigned char *p = malloc(size > 0 ? size : 1);
    size_t i;
    if (p == NULL)
        return NULL;
    for (i = 0; i < size; i++)
        p[i] = (unsigned char)('a' + i % 26);
    return p;
}

/* ---- completion window (for libraries without their own back-pressure) */

/* Round trip with callbacks (rtt): the publisher arms the sequence number
 * it is about to send, the library's message callback offers each echo,
 * and the publisher waits for the matching one. Any thread. */
typedef struct bench_echo {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    uint64_t want_seq;
    int got;
} bench_echo;

static inline void
bench_echo_init(bench_echo *e)
{
    pthread_mutex_init(&e->lock, NULL);
    pthread_cond_init(&e->cond, NULL);
    e->want_seq = 0;
    e->got = 0;
}

static inline void
bench_echo_arm(bench_echo *e, uint64_t seq)
{
    pthread_mutex_lock(&e->lock);
    e->want_seq = seq;
    e->got = 0;
    pthread_mutex_unlock(&e->lock);
}

/* From the message callback: is this payload the echo waited for? */
static inline void
bench_echo_offer(bench_echo *e, const void *payload, size_t n)
{
    pthread_mutex_lock(&e->lock);
    if (n >= 8 && memcmp(payload, &e->want_seq, 8) == 0) {
        e->got = 1;
        pthread_cond_signal(&e->cond);
    }
    pthread_mutex_unlock(&e->lock);
}

/* 0 once the armed echo came, -1 if @p deadline (bench_now()) passed. */
static inline int
bench_echo_wait(bench_echo *e, double deadline)
{
    int ok = 1;

    pthread_mutex_lock(&e->lock);
    while (!e->got && ok) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&e->cond, &e->lock, &ts);
        if (bench_now() > deadline)
            ok = 0;
    }
    pthread_mutex_unlock(&e->lock);
    return ok ? 0 : -1;
}

typedef struct bench_window {
    atomic_long completed;
    atomic_long wake_at;   /* the publisher sleeps until completed reaches
                              this (0: nobody waits) */
    pthread_mutex_t lock;
    pthread_cond_t cond;
} bench_window;

static inline void
bench_window_init(bench_window *w)
{
    atomic_init(&w->completed, 0);
    atomic_init(&w->wake_at, 0);
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
}

/* Completion side: one more message done. The publisher is woken once,
 * when the count it waits for is reached, not on every completion (a
 * wakeup per message would cost each library a futex round trip per
 * message whenever its window is full). */
static inline void
bench_window_done(bench_window *w)
{
    long done = atomic_fetch_add(&w->completed, 1) + 1;
    long at = atomic_load(&w->wake_at);
    if (at != 0 && done >= at) {
        pthread_mutex_lock(&w->lock);
        pthread_cond_broadcast(&w->cond);
        pthread_mutex_unlock(&w->lock);
    }
}

/* Publisher side: wait until fewer than @p limit of @p issued are open,
 * or until @p deadline (monotonic seconds). With @p half (refill=half), a
 * full window waits until at most limit / 2 are open. 0 ok, -1 timed out. */
static inline int
bench_window_wait(bench_window *w, long issued, long limit, int half,
                  double deadline)
{
    long need; /* completions needed before publishing again */

    if (issued - atomic_load(&w->completed) < limit)
        return 0;
    need = half ? issued - limit / 2 : issued - limit + 1;
    pthread_mutex_lock(&w->lock);
    atomic_store(&w->wake_at, need);
    while (atomic_load(&w->completed) < need) {
        struct timespec ts;
        if (bench_now() > deadline) {
            atomic_store(&w->wake_at, 0);
            pthread_mutex_unlock(&w->lock);
            return -1;
        }
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 5000000L; /* a safety net only: done() wakes us */
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&w->cond, &w->lock, &ts);
    }
    atomic_store(&w->wake_at, 0);
    pthread_mutex_unlock(&w->lock);
    return 0;
}

/* Wait until the counter reaches @p target, or no progress for
 * @p stall_s seconds, or @p deadline. Returns the count reached. */
static inline long
bench_wait_count(atomic_long *ctr, long target, double stall_s,
                 double deadline)
{
    long last = atomic_load(ctr);
    double last_t = bench_now();
    for (;;) {
        long v = atomic_load(ctr);
        double t = bench_now();
        if (v >= target || t > deadline)
            return v;
        if (v != last) {
            last = v;
            last_t = t;
        } else if (t - last_t > stall_s) {
            return v;
        }
        bench_sleep_ms(1);
    }
}

#endif
