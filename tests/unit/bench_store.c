/*
 * bench_store.c - micro-benchmark of the persistence store (store.c):
 * adds per second for each sync policy, single- and multi-threaded, an
 * add+remove steady state (with compaction), and recovery time.
 *
 * Usage: bench_store [seconds_per_case [dir]]   (default 1 s, mkdtemp in /tmp)
 * The directory decides what an fsync costs: run it on the file system the
 * application will use.
 *
 * Threading: the multi-thread cases start adder threads plus a ticker
 * thread that plays the worker (mqi_store_tick every 5 ms).
 */
#include <dirent.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mq.h"
#include "store.h"

static const char *dir;
static double secs = 1.0;
static const char *pname[] = {"ALWAYS", "BATCH", "NONE"};

static double
now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t
now_ms(void)
{
    return (int64_t)(now_s() * 1000.0);
}

static void
clean_dir(void)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char p[512];
    while (d != NULL && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        unlink(p);
    }
    if (d != NULL)
        closedir(d);
}

static mqi_store *
xopen(int policy)
{
    mqi_store *s = NULL;
    char err[256];
    if (mqi_store_open(dir, "bench", policy, &s, err, sizeof err) != MQ_OK) {
        fprintf(stderr, "open: %s\n", err);
        exit(1);
    }
    return s;
}

typedef struct ctx {
    mqi_store *s;
    size_t payload;
    double until;
    long adds;
    bool remove; /* steady state: keep a window of 100 live messages */
} ctx;

static atomic_int ticker_stop;

static void *
ticker(void *arg)
{
    mqi_store *s = arg;
    while (!atomic_load(&ticker_stop)) {
        mqi_store_tick(s, now_ms());
        usleep(5000);
    }
    return NULL;
}

static void *
adder(void *arg)
{
    ctx *c = arg;
    uint8_t *p = calloc(1, c->payload + 1);
    mqi_store_rec r = {0};
    uint64_t win[100];
    long n = 0;

    r.qos = 1;
    r.topic = "bench/topic/0001";
    r.topic_len = strlen(r.topic);
    r.payload = p;
    r.payload_len = c->payload;
    while (now_s() < c->until) {
        for (int k = 0; k < 16; k++) {
            uint64_t seq;
            if (c->remove && n >= 100 &&
                mqi_store_remove(c->s, win[n % 100]) != MQ_OK)
                exit(1);
            if (mqi_store_add(c->s, &r, &seq) != MQ_OK)
                exit(1);
            win[n % 100] = seq;
            n++;
        }
    }
    c->adds = n;
    free(p);
    return NULL;
}

static void
run(int policy, int threads, size_t payload, bool remove)
{
    pthread_t th[16], tk;
    ctx c[16];
    mqi_store *s;
    double t0, t1;
    long total = 0;

    clean_dir();
    s = xopen(policy);
    atomic_store(&ticker_stop, 0);
    pthread_create(&tk, NULL, ticker, s);
    t0 = now_s();
    for (int i = 0; i < threads; i++) {
        c[i] = (ctx){.s = s, .payload = payload, .until = t0 + secs,
                     .remove = remove};
        pthread_create(&th[i], NULL, adder, &c[i]);
    }
    for (int i = 0; i < threads; i++) {
        pthread_join(th[i], NULL);
        total += c[i].adds;
    }
    t1 = now_s();
    atomic_store(&ticker_stop, 1);
    pthread_join(tk, NULL);
    printf("%-7s threads %d payload %6zu %-12s %10.0f adds/s  %8.1f MB/s"
           "  file %7.1f MiB\n",
           pname[policy], threads, payload, remove ? "add+remove" : "add only",
           (double)total / (t1 - t0),
           (double)total * (double)payload / (t1 - t0) / 1e6,
           (double)mqi_store_file_size(s) / 1048576.0);
    fflush(stdout);
    mqi_store_close(s);
}

static int
count_cb(void *ud, const mqi_store_rec *r)
{
    (void)r;
    (*(long *)ud)++;
    return 0;
}

static void
bench_recover(long n, size_t payload)
{
    mqi_store *s;
    mqi_store_rec r = {0};
    uint8_t *p = calloc(1, payload + 1);
    long got = 0;
    size_t bad;
    double t0, t1, t2;

    clean_dir();
    s = xopen(MQI_SYNC_NONE);
    r.qos = 2;
    r.topic = "bench/topic/0001";
    r.topic_len = strlen(r.topic);
    r.payload = p;
    r.payload_len = payload;
    for (long i = 0; i < n; i++)
        mqi_store_add(s, &r, NULL);
    mqi_store_close(s);
    t0 = now_s();
    s = xopen(MQI_SYNC_NONE);
    t1 = now_s();
    mqi_store_recover(s, count_cb, &got, &bad);
    t2 = now_s();
    printf("recover %ld records of %zu B (%.1f MiB): open/scan %.1f ms, "
           "replay %.1f ms\n", got, payload,
           (double)mqi_store_file_size(s) / 1048576.0, (t1 - t0) * 1e3,
           (t2 - t1) * 1e3);
    mqi_store_close(s);
    free(p);
}

int
main(int argc, char **argv)
{
    char tmpl[] = "/tmp/mqstore-bench-XXXXXX";

    if (argc > 1)
        secs = atof(argv[1]);
    dir = argc > 2 ? argv[2] : mkdtemp(tmpl);
    if (dir == NULL) {
        perror("mkdtemp");
        return 1;
    }
    printf("bench_store: %.1f s per case in %s\n", secs, dir);
    for (int pol = 0; pol < 3; pol++) {
        run(pol, 1, 100, false);
        run(pol, 1, 1000, false);
        run(pol, 1, 100, true);
        run(pol, 4, 100, false);
    }
    run(MQI_SYNC_NONE, 1, 65536, true);
    bench_recover(200000, 100);
    bench_recover(2000, 100000);
    clean_dir();
    if (argc <= 2)
        rmdir(dir);
    return 0;
}
