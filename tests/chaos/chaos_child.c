/*
 * chaos_child.c - the command line, message protocol and logs shared by
 * the chaos test's child programs (see chaos_child.h).
 *
 * Threading: main thread of a child program.
 */
#include "chaos_child.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

volatile sig_atomic_t cc_stop;
volatile sig_atomic_t cc_quit;

static void
on_signal(int sig)
{
    if (sig == SIGUSR1)
        cc_stop = 1;
    else
        cc_stop = cc_quit = 1;
}

void
cc_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGUSR2, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* the harness starts children with both blocked (chaos.c): what came
     * before the handlers were in place is delivered now */
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGUSR1);
    sigaddset(&sa.sa_mask, SIGUSR2);
    sigprocmask(SIG_UNBLOCK, &sa.sa_mask, NULL);
}

static void
usage(const char *prog)
{
    fprintf(stderr,
            "usage: %s -u URI -i ID [-n NAME -a ACCEPT_LOG] [-f FILTER -r "
            "RECEIVE_LOG] [-d PERSIST_DIR] [-I INC] [-R RATE] [-s MAX_SIZE] "
            "[-k KEEPALIVE] [-V 4|5] [-w WINDOW] [-S] [-P PAUSE_MS] [-G FILE]\n",
            prog);
    exit(2);
}

void
cc_parse(int argc, char **argv, cc_opts *o)
{
    int ch;

    memset(o, 0, sizeof *o);
    o->inc = 1;
    o->rate = 100;
    o->max_size = 512;
    o->keepalive = 2;
    o->version = 5;
    o->max_inflight = 500;
    while ((ch = getopt(argc, argv, "u:i:n:f:d:a:r:I:R:s:k:V:w:SP:G:")) != -1) {
        switch (ch) {
        case 'u': o->uri = optarg; break;
        case 'i': o->id = optarg; break;
        case 'n': o->name = optarg; break;
        case 'f': o->filter = optarg; break;
        case 'd': o->dir = optarg; break;
        case 'a': o->alog = optarg; break;
        case 'r': o->rlog = optarg; break;
        case 'I': o->inc = atoi(optarg); break;
        case 'R': o->rate = atoi(optarg); break;
        case 's': o->max_size = atoi(optarg); break;
        case 'k': o->keepalive = atoi(optarg); break;
        case 'V': o->version = atoi(optarg); break;
        case 'w': o->max_inflight = atoi(optarg); break;
        case 'S': o->resubscribe = 1; break;
        case 'P': o->pause_ms = atoi(optarg); break;
        case 'G': o->go = optarg; break;
        default: usage(argv[0]);
        }
    }
    if (o->uri == NULL || o->id == NULL || (o->name && !o->alog) ||
        (o->filter && !o->rlog) || o->rate <= 0 || o->max_size < 32 ||
        o->max_size > CC_MAX_PAYLOAD || o->max_inflight <= 0 ||
        (o->version != 4 && o->version != 5))
        usage(argv[0]);
}

int
cc_go(const cc_opts *o)
{
    return o->go == NULL || access(o->go, F_OK) == 0;
}

long
cc_first_seq(const char *alog)
{
    FILE *f = fopen(alog, "r");
    char line[256];
    long last = -2;

    if (f == NULL)
        return 0;
    while (fgets(line, sizeof line, f) != NULL) {
        int inc;
        long seq;
        if (sscanf(line, "A %d %ld", &inc, &seq) == 2 && seq > last)
            last = seq;
    }
    fclose(f);
    return last + 2;
}

int
cc_open_log(const char *path)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);

    if (fd < 0) {
        fprintf(stderr, "open %s: %s\n", path, strerror(errno));
        exit(2);
    }
    return fd;
}

void
cc_write_line(int fd, const char *line)
{
    size_t n = strlen(line);
    ssize_t w;

    do
        w = write(fd, line, n);
    while (w < 0 && errno == EINTR);
    if (w != (ssize_t)n) {
        fprintf(stderr, "log write: %s\n", strerror(errno));
        exit(2);
    }
}

int
cc_qos(long seq)
{
    return (seq & 1) ? 2 : 1;
}

size_t
cc_payload_len(const char *name, long seq, int inc, int max_size)
{
    /* a length that wanders over [head, max_size] with seq */
    unsigned long h = (unsigned long)seq * 2654435761u;
    char head[200];
    int n = snprintf(head, sizeof head, "%s|%ld|%d|%d|", name, seq,
                     cc_qos(seq), inc);

    if (n < 0 || n > max_size)
        return 0;
    return (size_t)n + (h >> 8) % (unsigned long)(max_size - n + 1);
}

size_t
cc_message(const cc_opts *o, long seq, char *topic, char *payload)
{
    size_t len = cc_payload_len(o->name, seq, o->inc, o->max_size);
    int n;

    snprintf(topic, 160, CC_TOPIC_PREFIX "%s/%ld", o->name, seq);
    n = snprintf(payload, CC_MAX_PAYLOAD, "%s|%ld|%d|%d|", o->name, seq,
                 cc_qos(seq), o->inc);
    if (len < (size_t)n)
        len = (size_t)n; /* a name longer than max_size */
    memset(payload + n, 'x', len - (size_t)n);
    return len;
}

void
cc_log_accept(int fd, int inc, long seq)
{
    char line[96];

    snprintf(line, sizeof line, "A %d %ld %d\n", inc, seq, cc_qos(seq));
    cc_write_line(fd, line);
}

void
cc_log_drained(int fd, int inc, long left)
{
    char line[96];

    snprintf(line, sizeof line, "# drained %d %ld\n", inc, left);
    cc_write_line(fd, line);
}

size_t
cc_sanitize(const void *data, size_t len, char *out, size_t cap)
{
    const unsigned char *p = data;
    size_t o = 0;

    for (size_t i = 0; i < len && o + 5 <= cap; i++) {
        if (p[i] > 0x20 && p[i] < 0x7f && p[i] != '\\')
            out[o++] = (char)p[i];
        else
            o += (size_t)snprintf(out + o, cap - o, "\\x%02x", p[i]);
    }
    if (cap > 0)
        out[o < cap ? o : cap - 1] = '\0';
    return o;
}

void
cc_log_receive(int fd, int inc, int qos, int dup, const char *topic,
               const void *payload, size_t len)
{
    char line[160 + 4 * CC_LOG_PREFIX + 96], want[200], prefix[
        4 * CC_LOG_PREFIX + 1];
    const char *rest = strncmp(topic, CC_TOPIC_PREFIX,
                               strlen(CC_TOPIC_PREFIX)) == 0
                           ? topic + strlen(CC_TOPIC_PREFIX) : NULL;
    const char *slash = rest ? strrchr(rest, '/') : NULL;
    int ok = 0;

    if (slash != NULL) {
        /* "NAME/SEQ" -> the payload starts with "NAME|SEQ|" */
        int n = snprintf(want, sizeof want, "%.*s|%s|", (int)(slash - rest),
                         rest, slash + 1);
        ok = n > 0 && (size_t)n <= len && memcmp(payload, want, (size_t)n) == 0;
    }
    if (ok) {
        snprintf(line, sizeof line, "R %d %d %d %.160s 1 %zu\n", inc, qos, dup,
                 topic, len);
    } else {
        /* what arrived instead, for the report and the verdict */
        cc_sanitize(payload, len < CC_LOG_PREFIX ? len : CC_LOG_PREFIX,
                    prefix, sizeof prefix);
        snprintf(line, sizeof line, "R %d %d %d %.160s 0 %zu %s\n", inc, qos,
                 dup, topic, len, len > 0 ? prefix : "-");
    }
    cc_write_line(fd, line);
}

long long
cc_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void
cc_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

void
cc_pace(const cc_opts *o, long long *next_us)
{
    long long now = cc_now_us();

    if (*next_us == 0 || now - *next_us > 1000000)
        *next_us = now; /* start, or far behind: no burst to catch up */
    if (*next_us > now) {
        long long d = *next_us - now;
        struct timespec ts = {(time_t)(d / 1000000), (long)(d % 1000000) * 1000};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !cc_stop)
            ;
    }
    *next_us += 1000000 / o->rate;
}
