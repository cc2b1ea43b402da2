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
 *         minutes - the result line's count is then the number published)
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
    char topic[96];
} bench_args;

typedef struct bench_result {
    long sent;           /* messages completed by the publisher */
    long received;       /* messages received (e2e, rtt) */
    double elapsed_s;
    double p50_us, p99_us, max_us;
    double idle_kb_per_conn;
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
            "[inflight=N] [window=N] [timeout=S] [budget=S]\n",
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
    for (i = 7; i < argc; i++) {
        if (strncmp(argv[i], "inflight=", 9) == 0)
            a->inflight = atoi(argv[i] + 9);
        else if (strncmp(argv[i], "window=", 7) == 0)
            a->window = atol(argv[i] + 7);
        else if (strncmp(argv[i], "timeout=", 8) == 0)
            a->timeout_s = atoi(argv[i] + 8);
        else if (strncmp(argv[i], "budget=", 7) == 0)
            a->budget_s = atof(argv[i] + 7);
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
           "max_us=%.1f conns=%ld idle_kb_per_conn=%.2f status=%s\n",
           a->lib, a->scenario_name, a->qos, a->count, a->size, r->sent,
           r->received, r->elapsed_s, rate,
           rate * (double)a->size / 1048576.0, cpu,
           ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6,
           ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6,
           done > 0 ? cpu * 1e6 / (double)done : 0.0, bench_peak_rss_kb(),
           r->p50_us, r->p99_us, r->max_us, r->conns, r->idle_kb_per_conn,
           r->error ? r->error : "ok");
    fflush(stdout);
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

typedef struct bench_window {
    atomic_long completed;
    atomic_int waiting;
    pthread_mutex_t lock;
    pthread_cond_t cond;
} bench_window;

static inline void
bench_window_init(bench_window *w)
{
    atomic_init(&w->completed, 0);
    atomic_init(&w->waiting, 0);
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
}

/* Completion side: one more message done. */
static inline void
bench_window_done(bench_window *w)
{
    atomic_fetch_add(&w->completed, 1);
    if (atomic_load(&w->waiting)) {
        pthread_mutex_lock(&w->lock);
        pthread_cond_broadcast(&w->cond);
        pthread_mutex_unlock(&w->lock);
    }
}

/* Publisher side: wait until fewer than @p limit of @p issued are open,
 * or until @p deadline (monotonic seconds). 0 ok, -1 timed out. */
static inline int
bench_window_wait(bench_window *w, long issued, long limit, double deadline)
{
    while (issued - atomic_load(&w->completed) >= limit) {
        struct timespec ts;
        if (bench_now() > deadline)
            return -1;
        pthread_mutex_lock(&w->lock);
        atomic_store(&w->waiting, 1);
        if (issued - atomic_load(&w->completed) >= limit) {
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 5000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&w->cond, &w->lock, &ts);
        }
        atomic_store(&w->waiting, 0);
        pthread_mutex_unlock(&w->lock);
    }
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
