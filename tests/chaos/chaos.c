/*
 * chaos.c - the chaos test: publishers (libmq with persistence, and for
 * comparison Paho C with file persistence and libmosquitto) and libmq
 * subscribers with persistent sessions at QoS 2, each connected through its
 * own fault-injecting proxy (tests/fault/proxy.c) to a mosquitto with
 * persistence (tests/support/broker.c, log_type all). While they run, the
 * broker, the publishers and the subscribers are killed with SIGKILL and
 * restarted, and the proxies cut, truncate, stall (half-open), trickle
 * (byte by byte) and slow down connections, at random (seeded) times.
 * Then every publisher drains, the subscribers go quiet, and verdict.c
 * counts what was accepted and never received, QoS 2 duplicates and
 * reordering, attributing each with the evidence in the logs.
 *
 * Modes:
 *   chaos   (default) one subscriber (filter chaos/#), publishers from
 *           --pubs; everything killed and faulted
 *   shared  --subs N libmq subscribers in one shared subscription
 *           ($share/g/chaos/#): load spread, counts per subscriber
 *   soak    two libmq clients each publishing to the other (traffic both
 *           ways), network faults and broker kills but no client kills;
 *           RSS and descriptor count of each client sampled and compared
 *           (first against last part of the run)
 *
 * Exit: 0 when libmq kept its promise (verdict.h: cv_libmq_failures() is
 * 0, no libmq child crashed, every libmq publisher drained; soak: no
 * growth), 1 otherwise, 2 on a setup error, 77 when mosquitto is missing.
 * A reference client (libmosquitto, Paho C) that dies of a signal other
 * than our SIGKILL is printed as "PEER CRASH" (and counted in the report)
 * and restarted like a killed child; it does not fail the run: its
 * messages are in its own columns, which are never asserted. The run
 * directory (logs of every process, the broker log, samples) is kept on
 * failure or with --keep.
 *
 * Threading: the main thread runs everything; each proxy has a thread.
 * Children are started with fork+exec only (async-signal-safe calls in the
 * child) and PR_SET_PDEATHSIG, and stopped by PID.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "broker.h"
#include "proxy.h"
#include "verdict.h"

#ifndef CHAOS_CLIENT_LIBMQ
#define CHAOS_CLIENT_LIBMQ ""
#endif
#ifndef CHAOS_PUB_PAHO
#define CHAOS_PUB_PAHO ""
#endif
#ifndef CHAOS_PUB_MOSQUITTO
#define CHAOS_PUB_MOSQUITTO ""
#endif

#define MAX_CHILDREN (CV_MAX_PUBS + CV_MAX_SUBS)
#define DRAIN_WAIT_MS 150000
#define PEER_DRAIN_MS 20000
#define QUIET_MS 4000
#define QUIET_MAX_MS 60000

enum { LIB_MQ, LIB_PAHO, LIB_MOSQ };
static const char *const lib_names[] = {"libmq", "paho", "libmosquitto"};

typedef struct child {
    char id[64], name[32], filter[64];
    int lib, version, resubscribe;
    px *px;
    char dir[300], alog[300], rlog[300], out[300];
    pid_t pid;
    int inc;
    int drained;            /* "# drained" seen for the current inc */
    long long slow_until;   /* trickle/delay fault ends (ms) */
} child;

enum {
    F_BROKER_KILL, F_PUB_KILL, F_SUB_KILL, F_CUT, F_CUT_BYTES, F_PACKET,
    F_STALL, F_TRICKLE, F_DELAY, F_KINDS
};
static const char *const fault_names[F_KINDS] = {
    "broker kill -9", "publisher kill -9", "subscriber kill -9",
    "cut", "cut after N bytes", "packet drop/truncate/close",
    "stall (half-open)", "byte-by-byte", "delay"};

static struct {
    const char *mode;
    int seconds, rate, nsubs, keep, autosave, max_size, sample_ms;
    unsigned seed;
    int no_broker_kill, no_pub_kill, no_sub_kill, no_net, no_resubscribe;
    int verdict_only;
    const char *pubs, *dir, *report;
} opt = {"chaos", 40, 100, 3, 0, 1, 512, 5000, 0, 0, 0, 0, 0, 0, 0,
         "libmq,paho,libmosquitto", NULL, NULL};

static child g_ch[MAX_CHILDREN];
static int g_n;
static mqt_broker *g_broker;
static char g_run[200], g_blog[400], g_go[220];
static long g_faults[F_KINDS];
static int g_failed;
static int g_peer_crashes;   /* reference clients killed by a signal */
static FILE *g_samples;

static long long
now_ms(void)
{
    return mqt_now_ms();
}

static void
failf(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fprintf(stderr, "chaos: FAIL: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    g_failed = 1;
}

static unsigned
rnd(unsigned n)
{
    return n ? (unsigned)rand() % n : 0;
}

/* One line into the broker log (a single O_APPEND write, so it never
 * splits a line of the broker's). */
static void
marker(const char *fmt, ...)
{
    char line[256];
    va_list ap;
    int fd, n;

    va_start(ap, fmt);
    n = vsnprintf(line, sizeof line - 1, fmt, ap);
    va_end(ap);
    if (n < 0 || n >= (int)sizeof line - 1)
        return;
    line[n++] = '\n';
    fd = open(g_blog, O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd >= 0) {
        if (write(fd, line, (size_t)n) != n) {
            /* the verdict will lack a marker; nothing better to do */
        }
        close(fd);
    }
}

static int
is_pub(const child *c)
{
    return c->name[0] != '\0';
}

static int
is_sub(const child *c)
{
    return c->filter[0] != '\0';
}

extern char **environ;

/* The environment for a child: ours, but a peer library (Paho,
 * libmosquitto) runs with LeakSanitizer off under ASan: its leaks are not
 * ours to judge. Built before fork (the child may only exec). */
static char **
child_env(const child *c)
{
    static char *env[512];
    static char asan[600];
    const char *cur = getenv("ASAN_OPTIONS");
    int n = 0;

    for (char **e = environ; *e != NULL && n < 510; e++)
        if (c->lib == LIB_MQ || strncmp(*e, "ASAN_OPTIONS=", 13) != 0)
            env[n++] = *e;
    if (c->lib != LIB_MQ) {
        snprintf(asan, sizeof asan, "ASAN_OPTIONS=%s%sdetect_leaks=0",
                 cur ? cur : "", cur && *cur ? ":" : "");
        env[n++] = asan;
    }
    env[n] = NULL;
    return env;
}

static void
spawn(child *c)
{
    const char *prog = c->lib == LIB_MQ     ? CHAOS_CLIENT_LIBMQ
                       : c->lib == LIB_PAHO ? CHAOS_PUB_PAHO
                                            : CHAOS_PUB_MOSQUITTO;
    char inc[16], rate[16], ver[8], size[16], *argv[32], **env;
    int a = 0, out;
    pid_t parent = getpid(), pid;

    c->inc++;
    c->drained = 0;
    snprintf(inc, sizeof inc, "%d", c->inc);
    snprintf(rate, sizeof rate, "%d", opt.rate);
    snprintf(ver, sizeof ver, "%d", c->version);
    snprintf(size, sizeof size, "%d", opt.max_size);
    argv[a++] = (char *)prog;
    argv[a++] = "-u";
    argv[a++] = (char *)px_uri(c->px);
    argv[a++] = "-i";
    argv[a++] = c->id;
    argv[a++] = "-d";
    argv[a++] = c->dir;
    argv[a++] = "-I";
    argv[a++] = inc;
    argv[a++] = "-R";
    argv[a++] = rate;
    argv[a++] = "-V";
    argv[a++] = ver;
    argv[a++] = "-s";
    argv[a++] = size;
    argv[a++] = "-G";
    argv[a++] = g_go;
    if (is_pub(c)) {
        argv[a++] = "-n";
        argv[a++] = c->name;
        argv[a++] = "-a";
        argv[a++] = c->alog;
    }
    if (is_sub(c)) {
        argv[a++] = "-f";
        argv[a++] = c->filter;
        argv[a++] = "-r";
        argv[a++] = c->rlog;
        if (c->resubscribe)
            argv[a++] = "-S";
    }
    argv[a] = NULL;
    marker("=== [chaos] start %s %d ===", c->id, c->inc);
    env = child_env(c);
    out = open(c->out, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    pid = fork();
    if (pid < 0) {
        failf("fork: %s", strerror(errno));
        exit(2);
    }
    if (pid == 0) {
        int nul = open("/dev/null", O_RDONLY);
        dup2(nul, 0);
        dup2(out, 1);
        dup2(out, 2);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(126);
        {
            /* the end signals wait (pending) until the child installed its
             * handlers (cc_signals unblocks them): a child restarted just
             * before the end is not killed by SIGUSR1's default action */
            sigset_t ss;
            sigemptyset(&ss);
            sigaddset(&ss, SIGUSR1);
            sigaddset(&ss, SIGUSR2);
            sigprocmask(SIG_BLOCK, &ss, NULL);
        }
        execve(prog, argv, env);
        _exit(127);
    }
    close(out);
    c->pid = pid;
}

static void
kill9(child *c)
{
    if (c->pid <= 0)
        return;
    kill(c->pid, SIGKILL);
    waitpid(c->pid, NULL, 0);
    c->pid = 0;
    marker("=== [chaos] kill %s %d ===", c->id, c->inc);
}

/* Child @p c ended with wait status @p st on its own (not by our
 * SIGKILL) @p when: a libmq child, or any child that exited with a
 * status, fails the run; a reference client (libmosquitto, Paho C) that
 * died of a signal is printed, not counted against libmq (SIGSEGV or
 * SIGABRT: its library; SIGUSR1/2: our end signal reached it before its
 * handler, which the blocking in spawn() should prevent). */
static void
child_died(const child *c, int st, const char *when)
{
    if (c->lib != LIB_MQ && WIFSIGNALED(st)) {
        g_peer_crashes++;
        fprintf(stderr, "chaos: PEER CRASH (%s, not libmq's): %s "
                "(incarnation %d) died of signal %d (%s) %s; see %s (the "
                "run directory is kept)\n",
                lib_names[c->lib], c->id, c->inc, WTERMSIG(st),
                strsignal(WTERMSIG(st)), when, c->out);
        return;
    }
    failf("%s (%s, incarnation %d) exited %s: %s %d; see %s", c->id,
          lib_names[c->lib], c->inc, when,
          WIFSIGNALED(st) ? "signal" : "status",
          WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st), c->out);
}

/* A child that exited by itself during the chaos crashed or failed:
 * record it and start it again. */
static void
check_children(void)
{
    for (int i = 0; i < g_n; i++) {
        child *c = &g_ch[i];
        int st;
        if (c->pid <= 0 || waitpid(c->pid, &st, WNOHANG) != c->pid)
            continue;
        child_died(c, st, "during the faults");
        c->pid = 0;
        marker("=== [chaos] kill %s %d ===", c->id, c->inc);
        spawn(c);
    }
}

static void
sleep_checking(int ms)
{
    long long until = now_ms() + ms;

    while (now_ms() < until) {
        long long left = until - now_ms();
        mqt_sleep_ms(left > 100 ? 100 : (int)(left > 0 ? left : 1));
        check_children();
        for (int i = 0; i < g_n; i++) {
            child *c = &g_ch[i];
            if (c->slow_until && now_ms() >= c->slow_until) {
                px_set_trickle_us(c->px, 0);
                px_set_delay(c->px, 0);
                c->slow_until = 0;
            }
        }
    }
}

/* ---- faults -------------------------------------------------------- */

static void
fault_network(child *c)
{
    int pub = is_pub(c);

    switch (rnd(6)) {
    case 0:
        px_cut_now(c->px);
        g_faults[F_CUT]++;
        break;
    case 1:
        px_cut_after_bytes(c->px, (int)rnd(2), 1 + (long)rnd(3000));
        g_faults[F_CUT_BYTES]++;
        break;
    case 2: {
        /* a packet of the QoS flows, in the direction it travels */
        static const int pub_types[][2] = {{PX_C2B, 3}, {PX_B2C, 4},
                                           {PX_B2C, 5}, {PX_C2B, 6},
                                           {PX_B2C, 7}};
        static const int sub_types[][2] = {{PX_B2C, 3}, {PX_C2B, 4},
                                           {PX_C2B, 5}, {PX_B2C, 6},
                                           {PX_C2B, 7}};
        const int *t = pub ? pub_types[rnd(5)] : sub_types[rnd(5)];
        int nth = px_packet_count(c->px, t[0], t[1]) + 1 + (int)rnd(5);
        px_fault_at_packet(c->px, t[0], t[1], nth,
                           PX_DROP_CLOSE + (int)rnd(3), 0, 1);
        g_faults[F_PACKET]++;
        break;
    }
    case 3:
        px_stall_now(c->px);
        g_faults[F_STALL]++;
        break;
    case 4:
        px_set_trickle_us(c->px, 100 + (int)rnd(400));
        c->slow_until = now_ms() + 500 + rnd(1500);
        g_faults[F_TRICKLE]++;
        break;
    default:
        px_set_delay(c->px, 10 + (int)rnd(40));
        c->slow_until = now_ms() + 1000 + rnd(2000);
        g_faults[F_DELAY]++;
        break;
    }
}

static void
restart_broker(void)
{
    mqt_broker_kill9(g_broker);
    g_faults[F_BROKER_KILL]++;
    sleep_checking(100 + (int)rnd(1400));
    if (mqt_broker_restart(g_broker) != 0) {
        failf("the broker did not restart");
        exit(2);
    }
}

static child *
pick(int pubs, int subs)
{
    int idx[MAX_CHILDREN], n = 0;

    for (int i = 0; i < g_n; i++)
        if ((pubs && is_pub(&g_ch[i]) && !is_sub(&g_ch[i])) ||
            (subs && is_sub(&g_ch[i]) && !is_pub(&g_ch[i])) ||
            (pubs && subs))
            idx[n++] = i;
    return n ? &g_ch[idx[rnd((unsigned)n)]] : NULL;
}

static void
one_fault(void)
{
    int w_broker = opt.no_broker_kill ? 0 : 2;
    int w_pub = opt.no_pub_kill ? 0 : 3;
    int w_sub = opt.no_sub_kill ? 0 : 2;
    int w_net = opt.no_net ? 0 : 8;
    int r = (int)rnd((unsigned)(w_broker + w_pub + w_sub + w_net));
    child *c;

    if (r < w_broker) {
        restart_broker();
    } else if ((r -= w_broker) < w_pub) {
        if ((c = pick(1, 0)) != NULL) {
            kill9(c);
            g_faults[F_PUB_KILL]++;
            sleep_checking((int)rnd(500));
            spawn(c);
        }
    } else if ((r -= w_pub) < w_sub) {
        if ((c = pick(0, 1)) != NULL) {
            kill9(c);
            g_faults[F_SUB_KILL]++;
            sleep_checking((int)rnd(500));
            spawn(c);
        }
    } else if (w_net > 0) {
        fault_network(pick(1, 1));
    }
}

static void
calm_network(void)
{
    for (int i = 0; i < g_n; i++) {
        child *c = &g_ch[i];
        px_set_trickle_us(c->px, 0);
        px_set_delay(c->px, 0);
        px_fault_at_packet(c->px, 0, 0, 0, 0, 0, 0);
        px_cut_after_bytes(c->px, PX_C2B, -1);
        px_cut_after_bytes(c->px, PX_B2C, -1);
        px_cut_now(c->px); /* ends a stall; the client reconnects */
        c->slow_until = 0;
    }
}

/* ---- sampling (soak) ----------------------------------------------- */

static long
proc_rss_kb(pid_t pid)
{
    char path[64], line[256];
    FILE *f;
    long kb = -1;

    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    if ((f = fopen(path, "r")) == NULL)
        return -1;
    while (fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "VmRSS: %ld", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

static long
proc_fds(pid_t pid)
{
    char path[64];
    DIR *d;
    struct dirent *e;
    long n = 0;

    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    if ((d = opendir(path)) == NULL)
        return -1;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

/* 1 if @p path is a directory without entries. */
static int
dir_empty(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;
    int empty = d != NULL;

    while (d != NULL && empty && (e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            empty = 0;
    if (d != NULL)
        closedir(d);
    return empty;
}

static void
sample(long long t0)
{
    for (int i = 0; i < g_n; i++) {
        child *c = &g_ch[i];
        long rss, fds;
        if (c->pid <= 0)
            continue;
        rss = proc_rss_kb(c->pid);
        fds = proc_fds(c->pid);
        if (rss < 0 || fds < 0)
            continue;
        fprintf(g_samples, "%.1f,%s,%d,%ld,%ld\n", (now_ms() - t0) / 1000.0,
                c->id, c->inc, rss, fds);
    }
    if (mqt_broker_pid(g_broker) > 0)
        fprintf(g_samples, "%.1f,broker,0,%ld,%ld\n", (now_ms() - t0) / 1000.0,
                proc_rss_kb(mqt_broker_pid(g_broker)),
                proc_fds(mqt_broker_pid(g_broker)));
    fflush(g_samples);
}

/* Soak verdict: per client, the mean RSS and the largest fd count of the
 * first and the last fifth of the run after a warm-up fifth. */
static int
soak_verdict(FILE *out, int md)
{
    char path[400], line[256];
    int bad = 0;

    snprintf(path, sizeof path, "%s/samples.csv", g_run);
    for (int i = 0; i < g_n; i++) {
        child *c = &g_ch[i];
        FILE *f = fopen(path, "r");
        double tmax = 0, t;
        double sum_a = 0, sum_b = 0;
        long n_a = 0, n_b = 0, fd_a = 0, fd_b = 0, rss, fds, rss_max = 0;
        char id[64];
        int inc;
        if (f == NULL)
            return 1;
        while (fgets(line, sizeof line, f) != NULL)
            if (sscanf(line, "%lf,%63[^,],%d,%ld,%ld", &t, id, &inc, &rss,
                       &fds) == 5 && strcmp(id, c->id) == 0 && t > tmax)
                tmax = t;
        rewind(f);
        while (fgets(line, sizeof line, f) != NULL) {
            if (sscanf(line, "%lf,%63[^,],%d,%ld,%ld", &t, id, &inc, &rss,
                       &fds) != 5 || strcmp(id, c->id) != 0)
                continue;
            if (rss > rss_max)
                rss_max = rss;
            if (t >= tmax * 0.2 && t < tmax * 0.4) {
                sum_a += (double)rss;
                n_a++;
                if (fds > fd_a)
                    fd_a = fds;
            } else if (t >= tmax * 0.8) {
                sum_b += (double)rss;
                n_b++;
                if (fds > fd_b)
                    fd_b = fds;
            }
        }
        fclose(f);
        if (n_a == 0 || n_b == 0) {
            fprintf(out, "%s%s: too few samples\n", md ? "- " : "", c->id);
            bad = 1;
            continue;
        }
        {
            double a = sum_a / (double)n_a, b = sum_b / (double)n_b;
            /* flat: within 1 MiB or 5 % (allocator noise); fds equal */
            int grew = (b - a > 1024 && b - a > a * 0.05) || fd_b > fd_a;
            fprintf(out,
                    "%s%s: RSS mean %.0f KiB (20-40%% of the run) -> %.0f KiB "
                    "(last 20%%), max %ld KiB; fds max %ld -> %ld: %s\n",
                    md ? "- " : "", c->id, a, b, rss_max, fd_a, fd_b,
                    grew ? "GROWTH" : "flat");
            bad |= grew;
        }
    }
    return bad;
}

/* About 12 evenly spaced samples per client, as a table. */
static void
soak_series(FILE *out, int md)
{
    char path[400], line[256];

    snprintf(path, sizeof path, "%s/samples.csv", g_run);
    for (int i = 0; i < g_n; i++) {
        FILE *f = fopen(path, "r");
        long n = 0, k = 0, step;
        char id[64];
        double t;
        int inc;
        long rss, fds;
        if (f == NULL)
            return;
        while (fgets(line, sizeof line, f) != NULL)
            if (sscanf(line, "%lf,%63[^,],%d,%ld,%ld", &t, id, &inc, &rss,
                       &fds) == 5 && strcmp(id, g_ch[i].id) == 0)
                n++;
        step = n > 12 ? n / 12 : 1;
        rewind(f);
        fprintf(out, md ? "\n%s: seconds, RSS KiB, fds:" : "%s: s/KiB/fds:",
                g_ch[i].id);
        while (fgets(line, sizeof line, f) != NULL) {
            if (sscanf(line, "%lf,%63[^,],%d,%ld,%ld", &t, id, &inc, &rss,
                       &fds) != 5 || strcmp(id, g_ch[i].id) != 0)
                continue;
            if (k++ % step == 0 || k == n)
                fprintf(out, " %.0f/%ld/%ld", t, rss, fds);
        }
        fprintf(out, "\n");
        fclose(f);
    }
}

/* ---- setup and stop ------------------------------------------------ */

static child *
add_child(const char *id, const char *name, const char *filter, int lib,
          int version)
{
    child *c = &g_ch[g_n++];

    memset(c, 0, sizeof *c);
    snprintf(c->id, sizeof c->id, "%s", id);
    snprintf(c->name, sizeof c->name, "%s", name ? name : "");
    snprintf(c->filter, sizeof c->filter, "%s", filter ? filter : "");
    c->lib = lib;
    c->version = version;
    snprintf(c->dir, sizeof c->dir, "%s/%s.store", g_run, id);
    snprintf(c->alog, sizeof c->alog, "%s/%s.accepted", g_run, id);
    snprintf(c->rlog, sizeof c->rlog, "%s/%s.received", g_run, id);
    snprintf(c->out, sizeof c->out, "%s/%s.out", g_run, id);
    if (opt.verdict_only)
        return c;
    mkdir(c->dir, 0755);
    c->px = px_start(mqt_broker_port(g_broker));
    if (c->px == NULL) {
        fprintf(stderr, "chaos: proxy start failed\n");
        exit(2);
    }
    px_set_half_open(c->px, 1);
    return c;
}

static int
file_has(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    char line[256];
    int found = 0;

    if (f == NULL)
        return 0;
    while (!found && fgets(line, sizeof line, f) != NULL)
        found = strstr(line, needle) != NULL;
    fclose(f);
    return found;
}

static long
file_len(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 ? (long)st.st_size : 0;
}

static void
build_children(void)
{
    char buf[256], *save = NULL, *tok;

    if (strcmp(opt.mode, "soak") == 0) {
        add_child("chaos-a", "a", "chaos/b/#", LIB_MQ, 5);
        add_child("chaos-b", "b", "chaos/a/#", LIB_MQ, 5);
        return;
    }
    if (strcmp(opt.mode, "shared") == 0) {
        for (int i = 0; i < opt.nsubs && i < CV_MAX_SUBS; i++) {
            char id[32];
            snprintf(id, sizeof id, "chaos-sub%d", i + 1);
            /* mosquitto 2.0.11 forgets shared subscriptions when it
             * restarts but still reports the session present */
            add_child(id, NULL, "$share/g/chaos/#", LIB_MQ, 5)->resubscribe =
                !opt.no_resubscribe;
        }
    } else {
        add_child("chaos-sub", NULL, "chaos/#", LIB_MQ, 5);
    }
    snprintf(buf, sizeof buf, "%s", opt.pubs);
    for (tok = strtok_r(buf, ",", &save); tok != NULL;
         tok = strtok_r(NULL, ",", &save)) {
        char id[64];
        int lib = strcmp(tok, "libmq") == 0          ? LIB_MQ
                  : strcmp(tok, "paho") == 0         ? LIB_PAHO
                  : strcmp(tok, "libmosquitto") == 0 ? LIB_MOSQ
                                                     : -1;
        const char *prog = lib == LIB_MQ     ? CHAOS_CLIENT_LIBMQ
                           : lib == LIB_PAHO ? CHAOS_PUB_PAHO
                                             : CHAOS_PUB_MOSQUITTO;
        if (lib < 0) {
            fprintf(stderr, "chaos: unknown publisher %s\n", tok);
            exit(2);
        }
        if (prog[0] == '\0') {
            fprintf(stderr, "chaos: %s publisher not built; skipped\n", tok);
            continue;
        }
        snprintf(id, sizeof id, "chaos-pub-%s", tok);
        /* libmq speaks MQTT 5; the others the 3.1.1 most of their users
         * run */
        add_child(id, tok, NULL, lib, lib == LIB_MQ ? 5 : 4);
    }
}

static void
wait_subscribed(void)
{
    long long until = now_ms() + 20000;

    for (int i = 0; i < g_n; i++) {
        child *c = &g_ch[i];
        char want[32];
        if (!is_sub(c))
            continue;
        snprintf(want, sizeof want, "# subscribed %d", c->inc);
        while (!file_has(c->rlog, want)) {
            if (now_ms() > until) {
                fprintf(stderr, "chaos: %s did not subscribe; see %s\n", c->id,
                        c->out);
                exit(2);
            }
            sleep_checking(50);
        }
    }
}

/* Wait until the broker completed a save after now (so the subscriptions
 * survive the first broker kill). */
static void
wait_saved(void)
{
    int n0 = mqt_broker_log_count(g_broker, "Saving in-memory database");
    long long until = now_ms() + 15000;

    while (mqt_broker_log_count(g_broker, "Saving in-memory database") < n0 + 2 &&
           now_ms() < until)
        sleep_checking(100);
}

static void
stop_all(void)
{
    long long until, peers_until = 0;
    int pending, peers_told = 0;

    calm_network();
    for (int i = 0; i < g_n; i++)
        if (is_pub(&g_ch[i]) && g_ch[i].pid > 0)
            kill(g_ch[i].pid, SIGUSR1);
    /* publishers drain: they write "# drained INC LEFT"; the peers get
     * PEER_DRAIN_MS more than libmq's, then SIGUSR2 (they write it too) */
    until = now_ms() + DRAIN_WAIT_MS;
    for (;;) {
        int libmq_pending = 0;
        pending = 0;
        for (int i = 0; i < g_n; i++) {
            child *c = &g_ch[i];
            char want[32];
            if (!is_pub(c) || c->drained)
                continue;
            snprintf(want, sizeof want, "# drained %d ", c->inc);
            if (file_has(c->alog, want)) {
                c->drained = 1;
                continue;
            }
            pending++;
            libmq_pending += c->lib == LIB_MQ;
        }
        if (pending == 0 || now_ms() >= until)
            break;
        if (libmq_pending == 0 && peers_until == 0)
            peers_until = now_ms() + PEER_DRAIN_MS;
        if (peers_until > 0 && now_ms() >= peers_until && !peers_told) {
            for (int i = 0; i < g_n; i++)
                if (is_pub(&g_ch[i]) && !g_ch[i].drained && g_ch[i].pid > 0)
                    kill(g_ch[i].pid, SIGUSR2);
            peers_told = 1;
            until = now_ms() + 5000;
        }
        mqt_sleep_ms(200);
    }
    for (int i = 0; i < g_n; i++) {
        child *c = &g_ch[i];
        char want[32];
        if (!is_pub(c))
            continue;
        snprintf(want, sizeof want, "# drained %d 0", c->inc);
        if (!c->drained || !file_has(c->alog, want)) {
            if (c->lib == LIB_MQ)
                failf("%s did not complete everything it accepted", c->id);
            else
                fprintf(stderr, "chaos: note: %s (%s) did not drain\n", c->id,
                        lib_names[c->lib]);
        }
    }
    /* subscribers: until nothing new arrives */
    until = now_ms() + QUIET_MAX_MS;
    for (;;) {
        long before = 0, after = 0;
        for (int i = 0; i < g_n; i++)
            before += file_len(g_ch[i].rlog);
        mqt_sleep_ms(QUIET_MS);
        for (int i = 0; i < g_n; i++)
            after += file_len(g_ch[i].rlog);
        if (after == before || now_ms() > until)
            break;
    }
    for (int i = 0; i < g_n; i++)
        if (g_ch[i].pid > 0)
            kill(g_ch[i].pid, SIGUSR2);
    for (int i = 0; i < g_n; i++) {
        child *c = &g_ch[i];
        long long t = now_ms() + 15000;
        int st = 0;
        while (c->pid > 0 && waitpid(c->pid, &st, WNOHANG) == 0 &&
               now_ms() < t)
            mqt_sleep_ms(20);
        if (c->pid > 0 && now_ms() >= t) {
            failf("%s did not exit after SIGUSR2; killed", c->id);
            kill(c->pid, SIGKILL);
            waitpid(c->pid, &st, 0);
        } else if (c->pid > 0 && !(WIFEXITED(st) && (WEXITSTATUS(st) == 0 ||
                                                     WEXITSTATUS(st) == 3))) {
            child_died(c, st, "at the end (after SIGUSR2)");
        }
        c->pid = 0;
    }
}

static void
usage(void)
{
    fprintf(stderr,
            "usage: chaos [--mode chaos|shared|soak] [--seconds N] "
            "[--rate MSG_PER_S] [--pubs libmq,paho,libmosquitto] [--subs N] "
            "[--seed N] [--autosave S] [--max-size BYTES] [--sample-ms MS] "
            "[--no-broker-kill] [--no-pub-kill] [--no-sub-kill] [--no-net] "
            "[--no-resubscribe] [--verdict-only --dir KEPT_RUN_DIR] "
            "[--dir DIR] [--keep] [--report FILE]\n");
    exit(2);
}

static void
parse_args(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
#define VAL() (v ? (i++, v) : (usage(), ""))
        if (strcmp(a, "--mode") == 0)
            opt.mode = VAL();
        else if (strcmp(a, "--seconds") == 0)
            opt.seconds = atoi(VAL());
        else if (strcmp(a, "--rate") == 0)
            opt.rate = atoi(VAL());
        else if (strcmp(a, "--pubs") == 0)
            opt.pubs = VAL();
        else if (strcmp(a, "--subs") == 0)
            opt.nsubs = atoi(VAL());
        else if (strcmp(a, "--seed") == 0)
            opt.seed = (unsigned)strtoul(VAL(), NULL, 10);
        else if (strcmp(a, "--autosave") == 0)
            opt.autosave = atoi(VAL());
        else if (strcmp(a, "--max-size") == 0)
            opt.max_size = atoi(VAL());
        else if (strcmp(a, "--sample-ms") == 0)
            opt.sample_ms = atoi(VAL());
        else if (strcmp(a, "--dir") == 0)
            opt.dir = VAL();
        else if (strcmp(a, "--report") == 0)
            opt.report = VAL();
        else if (strcmp(a, "--keep") == 0)
            opt.keep = 1;
        else if (strcmp(a, "--no-broker-kill") == 0)
            opt.no_broker_kill = 1;
        else if (strcmp(a, "--no-pub-kill") == 0)
            opt.no_pub_kill = 1;
        else if (strcmp(a, "--no-sub-kill") == 0)
            opt.no_sub_kill = 1;
        else if (strcmp(a, "--no-net") == 0)
            opt.no_net = 1;
        else if (strcmp(a, "--no-resubscribe") == 0)
            opt.no_resubscribe = 1;
        else if (strcmp(a, "--verdict-only") == 0)
            opt.verdict_only = 1;
        else
            usage();
#undef VAL
    }
    if (opt.seconds <= 0 || opt.rate <= 0 || opt.nsubs < 1 ||
        opt.nsubs > CV_MAX_SUBS || opt.autosave < 1 || opt.sample_ms < 100 ||
        (strcmp(opt.mode, "chaos") && strcmp(opt.mode, "shared") &&
         strcmp(opt.mode, "soak")))
        usage();
    if (strcmp(opt.mode, "soak") == 0)
        opt.no_pub_kill = opt.no_sub_kill = 1; /* the same processes all along */
}

static void
config_verdict(cv_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->broker_log = g_blog;
    cfg->max_size = opt.max_size;
    for (int i = 0; i < g_n; i++) {
        child *c = &g_ch[i];
        if (is_pub(c) && cfg->npubs < CV_MAX_PUBS)
            cfg->pubs[cfg->npubs++] = (cv_pub){c->name, c->id, c->alog,
                                               lib_names[c->lib],
                                               c->lib != LIB_MOSQ};
        if (is_sub(c) && cfg->nsubs < CV_MAX_SUBS)
            cfg->subs[cfg->nsubs++] = (cv_sub){c->id, c->rlog};
    }
}

static void
print_header(FILE *out, int md, long long secs)
{
    time_t t = time(NULL);
    char when[64];

    strftime(when, sizeof when, "%Y-%m-%d %H:%M", localtime(&t));
    if (md)
        fprintf(out, "\n### chaos --mode %s, %lld s, %s\n\n", opt.mode, secs,
                when);
    fprintf(out, "%smode %s, %lld s of faults, seed %u, %d msg/s per "
                 "publisher, payload <= %d B, broker autosave_interval %d s\n",
            md ? "" : "chaos: ", opt.mode, secs, opt.seed, opt.rate,
            opt.max_size, opt.autosave);
    fprintf(out, "%sfaults:", md ? "\n" : "chaos: ");
    for (int k = 0; k < F_KINDS; k++)
        fprintf(out, " %s %ld%s", fault_names[k], g_faults[k],
                k + 1 < F_KINDS ? "," : "");
    fprintf(out, "\n%s", md ? "\n" : "");
}

int
main(int argc, char **argv)
{
    mqt_broker_opts bo = {0};
    char conf[256];
    long long t0, end;
    cv_config cfg;
    cv_result res;
    long fails;
    int soak;

    setvbuf(stdout, NULL, _IOLBF, 0);
    parse_args(argc, argv);
    soak = strcmp(opt.mode, "soak") == 0;
    if (opt.seed == 0)
        opt.seed = (unsigned)time(NULL) ^ (unsigned)getpid();
    srand(opt.seed);
    if (opt.verdict_only) {
        /* the verdict again on a kept run (same --mode, --pubs, --subs) */
        if (opt.dir == NULL)
            usage();
        snprintf(g_run, sizeof g_run, "%s", opt.dir);
        snprintf(g_blog, sizeof g_blog, "%s/broker.log", g_run);
        build_children();
        config_verdict(&cfg);
        if (cv_analyze(&cfg, &res) != 0)
            return 2;
        cv_print(&cfg, &res, stdout, 0);
        fails = cv_libmq_failures(&cfg, &res);
        printf("chaos: %ld counts that are libmq's\n", fails);
        return fails > 0;
    }
    if (access(CHAOS_CLIENT_LIBMQ, X_OK) != 0) {
        fprintf(stderr, "chaos: %s missing\n", CHAOS_CLIENT_LIBMQ);
        return 2;
    }
    if (opt.dir != NULL) {
        snprintf(g_run, sizeof g_run, "%s", opt.dir);
        if (mkdir(g_run, 0755) != 0 && errno != EEXIST) {
            perror(g_run);
            return 2;
        }
        /* the logs are appended to: an earlier run's would mix with
         * this one's and make the verdict nonsense */
        if (!dir_empty(g_run)) {
            fprintf(stderr, "chaos: --dir %s is not empty; give a new "
                            "directory\n", g_run);
            return 2;
        }
    } else {
        const char *tmp = getenv("TMPDIR");
        snprintf(g_run, sizeof g_run, "%s/mq-chaos-XXXXXX",
                 tmp && *tmp ? tmp : "/tmp");
        if (mkdtemp(g_run) == NULL) {
            perror("mkdtemp");
            return 2;
        }
    }

    snprintf(conf, sizeof conf,
             "autosave_interval %d\nmax_queued_messages 0\n"
             "set_tcp_nodelay true", opt.autosave);
    bo.persistence = 1;
    bo.extra_conf = conf;
    g_broker = mqt_broker_start(&bo);
    if (g_broker == NULL)
        return access("/usr/sbin/mosquitto", X_OK) == 0 ? 2 : 77;
    snprintf(g_blog, sizeof g_blog, "%s/broker.log", mqt_broker_dir(g_broker));
    snprintf(g_go, sizeof g_go, "%s/go", g_run);
    build_children();
    printf("chaos: run dir %s, broker log %s, seed %u\n", g_run, g_blog,
           opt.seed);
    {
        char path[400];
        snprintf(path, sizeof path, "%s/samples.csv", g_run);
        g_samples = fopen(path, "w");
        if (g_samples == NULL)
            return 2;
        fprintf(g_samples, "t_s,client,incarnation,rss_kb,fds\n");
    }

    /* subscribers first, and a saved broker state with their sessions */
    for (int i = 0; i < g_n; i++)
        if (is_sub(&g_ch[i]))
            spawn(&g_ch[i]);
    wait_subscribed();
    wait_saved();
    for (int i = 0; i < g_n; i++)
        if (!is_sub(&g_ch[i]))
            spawn(&g_ch[i]);
    {
        /* publishers (also the ones that subscribe: soak) may start */
        int fd = open(g_go, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0)
            return 2;
        close(fd);
    }
    sleep_checking(1000);

    t0 = now_ms();
    end = t0 + (long long)opt.seconds * 1000;
    {
        long long next_sample = t0;
        while (now_ms() < end) {
            int gap = soak ? 2000 + (int)rnd(8000) : 300 + (int)rnd(1200);
            long long until = now_ms() + gap;
            while (now_ms() < until && now_ms() < end) {
                if (now_ms() >= next_sample) {
                    sample(t0);
                    next_sample += opt.sample_ms;
                }
                sleep_checking(100);
            }
            if (now_ms() < end)
                one_fault();
        }
        sample(t0);
    }
    printf("chaos: %lld s of faults done; draining\n", (now_ms() - t0) / 1000);
    stop_all();
    fclose(g_samples);
    for (int i = 0; i < g_n; i++)
        px_stop(g_ch[i].px);
    mqt_broker_stop(g_broker, 10000);

    config_verdict(&cfg);
    if (cv_analyze(&cfg, &res) != 0) {
        fprintf(stderr, "chaos: could not read the logs\n");
        return 2;
    }
    print_header(stdout, 0, opt.seconds);
    cv_print(&cfg, &res, stdout, 0);
    fails = cv_libmq_failures(&cfg, &res);
    if (fails > 0)
        failf("%ld losses or QoS 2 duplicates that are libmq's (see the "
              "unexplained rows)", fails);
    if (soak) {
        soak_series(stdout, 0);
        if (soak_verdict(stdout, 0) != 0)
            failf("RSS or descriptor count grew");
    }
    if (opt.report != NULL) {
        FILE *f = fopen(opt.report, "a");
        if (f != NULL) {
            print_header(f, 1, opt.seconds);
            cv_print(&cfg, &res, f, 1);
            if (soak) {
                soak_series(f, 1);
                fprintf(f, "\n");
                soak_verdict(f, 1);
            }
            if (g_peer_crashes > 0)
                fprintf(f, "\nreference client crashes (theirs, not "
                        "counted against libmq): %d\n", g_peer_crashes);
            fprintf(f, "\nverdict: %s\n", g_failed ? "FAIL" : "pass");
            fclose(f);
        }
    }
    if (g_failed || opt.keep || g_peer_crashes > 0) {
        char cmd[900];
        snprintf(cmd, sizeof cmd, "cp '%s' '%s/broker.log'", g_blog, g_run);
        if (system(cmd) != 0)
            fprintf(stderr, "chaos: could not copy the broker log\n");
        printf("chaos: logs kept in %s\n", g_run);
    } else {
        char cmd[400];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_run);
        if (system(cmd) != 0)
            fprintf(stderr, "chaos: could not remove %s\n", g_run);
    }
    mqt_broker_destroy(g_broker);
    if (g_peer_crashes > 0)
        printf("chaos: %d reference client crash(es) (libmosquitto / Paho "
               "C died of a signal), not counted against libmq\n",
               g_peer_crashes);
    printf("chaos: %s\n", g_failed ? "FAIL" : "pass");
    return g_failed ? 1 : 0;
}
