/*
 * idle_heap.c - where the memory of an idle libmq connection goes (issue
 * 20 item 3). Connects COUNT clients to a broker, waits until all are up,
 * drains their events, and reports the heap they hold: bytes per client
 * (glibc's mallinfo2, so the allocator's chunk overhead counts), live
 * allocations per client by size and call site, and the sizeof of the
 * parts of struct mq_client. The allocation counting is a malloc/calloc/
 * realloc/free interposer over glibc's __libc_* entry points, active only
 * while the clients connect.
 *
 *   idle_heap PORT [COUNT]       (against 127.0.0.1:PORT, COUNT 2000)
 *
 * Call sites are printed by addr2line (binutils) when it is installed.
 * A measuring tool, not a test: single threaded apart from libmq's own
 * threads (the interposer's table has its own lock).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "internal.h"

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);

#define SLOTS (1u << 20) /* open addressing; enough for 100k clients */
#define TOMB ((void *)1)

static struct slot { void *p; size_t n; void *site; } g_tab[SLOTS];
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static int g_on;
static long g_count;

static void
note(void *p, size_t n, void *site)
{
    size_t h;

    if (!g_on || p == NULL)
        return;
    pthread_mutex_lock(&g_lock);
    g_count++;
    for (h = ((uintptr_t)p >> 4) % SLOTS; g_tab[h].p != NULL && g_tab[h].p != TOMB;
         h = (h + 1) % SLOTS)
        ;
    g_tab[h].p = p;
    g_tab[h].n = n;
    g_tab[h].site = site;
    pthread_mutex_unlock(&g_lock);
}

/* Allocations made and freed while the clients connect, by size and call
 * site: the holes they leave between live blocks are why the heap's
 * arena grows by more than the bytes in use (called under g_lock). */
static struct freed { size_t n; void *site; long k; } g_freed[64];
static int g_nfreed;

static void
note_freed(size_t n, void *site)
{
    int j;

    for (j = 0; j < g_nfreed; j++)
        if (g_freed[j].n == n && g_freed[j].site == site) {
            g_freed[j].k++;
            return;
        }
    if (g_nfreed < (int)(sizeof g_freed / sizeof g_freed[0])) {
        g_freed[g_nfreed].n = n;
        g_freed[g_nfreed].site = site;
        g_freed[g_nfreed++].k = 1;
    }
}

static void
forget(void *p)
{
    size_t h, k;

    if (p == NULL)
        return;
    pthread_mutex_lock(&g_lock);
    for (h = ((uintptr_t)p >> 4) % SLOTS, k = 0; g_tab[h].p != NULL && k < SLOTS;
         h = (h + 1) % SLOTS, k++)
        if (g_tab[h].p == p) {
            g_tab[h].p = TOMB;
            if (g_on)
                note_freed(g_tab[h].n, g_tab[h].site);
            break;
        }
    pthread_mutex_unlock(&g_lock);
}

void *malloc(size_t n)
{
    void *p = __libc_malloc(n);
    note(p, n, __builtin_return_address(0));
    return p;
}

void *calloc(size_t a, size_t b)
{
    void *p = __libc_calloc(a, b);
    note(p, a * b, __builtin_return_address(0));
    return p;
}

void *realloc(void *o, size_t n)
{
    void *p;
    forget(o);
    p = __libc_realloc(o, n);
    note(p, n, __builtin_return_address(0));
    return p;
}

void free(void *p)
{
    forget(p);
    __libc_free(p);
}

static void
site_name(void *site, char *out, size_t len)
{
    Dl_info di;
    char cmd[512];
    FILE *f;

    snprintf(out, len, "%p", site);
    if (dladdr(site, &di) == 0 || di.dli_fname == NULL)
        return;
    snprintf(cmd, sizeof cmd, "addr2line -f -s -e '%s' %#lx 2>/dev/null",
             di.dli_fname,
             (unsigned long)((char *)site - (char *)di.dli_fbase - 1));
    if ((f = popen(cmd, "r")) != NULL) {
        char fn[128] = "", line[128] = "";
        if (fgets(fn, sizeof fn, f) != NULL && fgets(line, sizeof line, f) != NULL) {
            fn[strcspn(fn, "\n")] = '\0';
            line[strcspn(line, "\n")] = '\0';
            snprintf(out, len, "%s (%s)", fn, line);
        }
        pclose(f);
    }
}

int
main(int argc, char **argv)
{
    static struct { size_t n; void *site; long k; } agg[512];
    int i, n = argc > 2 ? atoi(argv[2]) : 2000, na = 0, up = 0, t;
    char uri[64];
    mq_client **cs;
    struct mallinfo2 m0, m1;
    struct rlimit rl;
    size_t h;

    if (argc < 2 || n <= 0) {
        fprintf(stderr, "usage: idle_heap PORT [COUNT]\n");
        return 2;
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    snprintf(uri, sizeof uri, "tcp://127.0.0.1:%s", argv[1]);
    printf("sizeof: mq_client %zu, mqi_opts %zu (+ mqi_topts %zu, mqi_xopts %zu "
           "when set), mqi_events %zu, mqi_session %zu, mqi_io %zu, mutex %zu, "
           "cond %zu\n",
           sizeof(struct mq_client), sizeof(mqi_opts), sizeof(mqi_topts),
           sizeof(mqi_xopts),
           sizeof(mqi_events), sizeof(mqi_session), sizeof(mqi_io),
           sizeof(pthread_mutex_t), sizeof(pthread_cond_t));
    mq_client_destroy(mq_client_new("warm", MQ_PROTO_V311)); /* worker up */
    cs = calloc((size_t)n, sizeof *cs);
    if (cs == NULL)
        return 1;
    m0 = mallinfo2();
    g_on = 1;
    for (i = 0; i < n; i++) {
        char id[64];
        snprintf(id, sizeof id, "bench-idle-%ld-%d", (long)getpid(), i);
        cs[i] = mq_client_new(id, MQ_PROTO_V311);
        if (cs[i] == NULL || mq_set_server(cs[i], uri) != MQ_OK ||
            mq_set_int(cs[i], MQ_OPT_RECONNECT, 0) != MQ_OK ||
            mq_connect(cs[i]) != MQ_OK) {
            fprintf(stderr, "client %d failed\n", i);
            return 1;
        }
    }
    for (t = 0; t < 3000 && up < n; t++) {
        for (up = 0, i = 0; i < n; i++)
            up += mq_is_connected(cs[i]);
        usleep(10000);
    }
    for (i = 0; i < n; i++) {
        mq_event *ev;
        while ((ev = mq_next_event(cs[i], 0)) != NULL)
            mq_event_free(ev);
    }
    usleep(300000);
    g_on = 0;
    m1 = mallinfo2();
    printf("%d of %d connected; per client: %.1f bytes in use (mallinfo2 "
           "uordblks), %.1f arena, %.1f allocations made while connecting\n",
           up, n, (double)(m1.uordblks - m0.uordblks) / n,
           (double)(m1.arena - m0.arena) / n, (double)g_count / n);
    pthread_mutex_lock(&g_lock);
    for (h = 0; h < SLOTS; h++) {
        int j;
        if (g_tab[h].p == NULL || g_tab[h].p == TOMB)
            continue;
        for (j = 0; j < na; j++)
            if (agg[j].n == g_tab[h].n && agg[j].site == g_tab[h].site)
                break;
        if (j == na && na < (int)(sizeof agg / sizeof agg[0])) {
            agg[na].n = g_tab[h].n;
            agg[na].site = g_tab[h].site;
            agg[na++].k = 0;
        }
        if (j < na)
            agg[j].k++;
    }
    pthread_mutex_unlock(&g_lock);
    printf("live allocations held by at least one client in 10 (size x per "
           "client, call site):\n");
    for (i = 0; i < na; i++)
        if (agg[i].k * 10 >= n) {
            char name[300];
            site_name(agg[i].site, name, sizeof name);
            printf("  %6zu x %.2f  %s\n", agg[i].n, (double)agg[i].k / n, name);
        }
    printf("made and freed while connecting, at least once per 10 clients "
           "(size x per client, call site):\n");
    /* g_on is 0: no more entries (site_name's own frees take g_lock) */
    for (i = 0; i < g_nfreed; i++)
        if (g_freed[i].k * 10 >= n) {
            char name[300];
            site_name(g_freed[i].site, name, sizeof name);
            printf("  %6zu x %.2f  %s\n", g_freed[i].n,
                   (double)g_freed[i].k / n, name);
        }
    for (i = 0; i < n; i++)
        mq_client_destroy(cs[i]);
    return 0;
}
