/*
 * tls_reconnect.c - what TLS session resumption saves per reconnect: N
 * cycles of mq_connect -> MQ_EVENT_CONNECT -> mq_disconnect against a
 * TLS broker, with MQ_OPT_TLS_SESSION_RESUME on or off, optionally
 * through an in-process relay that delays every chunk by D ms each way
 * (a slow link on loopback). Prints one RESULT line: the median and mean
 * handshake time (mq_connect to the CONNECT event: TCP, TLS and CONNACK)
 * and the process CPU time per cycle (user + system, libmq's worker
 * included), and how many connects were resumed.
 *
 * Usage: tls_reconnect --port P --cafile F [--host localhost] [--count N]
 *        [--resume 0|1] [--tls12] [--delay-ms D]
 * bench/tls_reconnect.py runs it against mosquitto in every mode.
 *
 * Threading: the main thread drives the client; the relay (when asked)
 * runs an accept thread and two copy threads per connection.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "mq.h"

static int delay_ms;
static int upstream_port;

static double
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static double
cpu_ms(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3
           + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

/* ---- a relay that delays each chunk ---------------------------------------- */

/* One direction of a connection: a reader stamps each chunk when it
 * arrives and queues it; a writer sends it delay_ms after that stamp (a
 * delay line: back-to-back chunks are not delayed one after the other). */
struct chunk {
    struct chunk *next;
    double due;
    ssize_t n;               /* 0: end of stream */
    char data[];
};

struct dir {
    int from, to;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct chunk *head, *tail;
};

static void *
reader_main(void *arg)
{
    struct dir *d = arg;
    char buf[65536];

    for (;;) {
        ssize_t n = recv(d->from, buf, sizeof buf, 0);
        struct chunk *c = malloc(sizeof *c + (n > 0 ? (size_t)n : 0));

        c->next = NULL;
        c->due = now_ms() + delay_ms;
        c->n = n > 0 ? n : 0;
        if (n > 0)
            memcpy(c->data, buf, (size_t)n);
        pthread_mutex_lock(&d->lock);
        if (d->tail != NULL)
            d->tail->next = c;
        else
            d->head = c;
        d->tail = c;
        pthread_cond_signal(&d->cond);
        pthread_mutex_unlock(&d->lock);
        if (n <= 0)
            return NULL;
    }
}

static void *
writer_main(void *arg)
{
    struct dir *d = arg;

    for (;;) {
        struct chunk *c;
        double wait;

        pthread_mutex_lock(&d->lock);
        while (d->head == NULL)
            pthread_cond_wait(&d->cond, &d->lock);
        c = d->head;
        d->head = c->next;
        if (d->head == NULL)
            d->tail = NULL;
        pthread_mutex_unlock(&d->lock);
        wait = c->due - now_ms();
        if (wait > 0) {
            struct timespec ts = { (time_t)(wait / 1000),
                                   (long)((wait - (time_t)(wait / 1000) * 1000)
                                          * 1e6) };
            nanosleep(&ts, NULL);
        }
        if (c->n == 0) {
            shutdown(d->to, SHUT_WR);
            free(c);
            return NULL; /* the connection's memory stays: bounded run */
        }
        if (send(d->to, c->data, (size_t)c->n, MSG_NOSIGNAL) != c->n) {
            free(c);
            return NULL;
        }
        free(c);
    }
}

static void
start_dir(int from, int to)
{
    struct dir *d = calloc(1, sizeof *d);
    pthread_t t;

    d->from = from;
    d->to = to;
    pthread_mutex_init(&d->lock, NULL);
    pthread_cond_init(&d->cond, NULL);
    pthread_create(&t, NULL, reader_main, d);
    pthread_detach(t);
    pthread_create(&t, NULL, writer_main, d);
    pthread_detach(t);
}

static void *
relay_main(void *arg)
{
    int lfd = *(int *)arg, one = 1;

    for (;;) {
        int c = accept(lfd, NULL, NULL), u;
        struct sockaddr_in a;

        if (c < 0)
            continue;
        u = socket(AF_INET, SOCK_STREAM, 0);
        memset(&a, 0, sizeof a);
        a.sin_family = AF_INET;
        a.sin_port = htons((uint16_t)upstream_port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (connect(u, (struct sockaddr *)&a, sizeof a) != 0) {
            close(c);
            close(u);
            continue;
        }
        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        setsockopt(u, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        start_dir(c, u);
        start_dir(u, c);
    }
    return NULL;
}

static int
start_relay(void)
{
    static int lfd;
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    pthread_t t;

    lfd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(lfd, 8) != 0
        || getsockname(lfd, (struct sockaddr *)&a, &len) != 0)
        return -1;
    pthread_create(&t, NULL, relay_main, &lfd);
    pthread_detach(t);
    return ntohs(a.sin_port);
}

/* ---- the client ---------------------------------------------------------- */

static mq_event *
wait_for(mq_client *c, int kind)
{
    for (;;) {
        mq_event *ev = mq_next_event(c, 10000);

        if (ev == NULL) {
            fprintf(stderr, "tls_reconnect: no event in 10 s\n");
            exit(1);
        }
        if (mq_event_type(ev) == kind)
            return ev;
        if (mq_event_type(ev) == MQ_EVENT_DISCONNECTED) {
            fprintf(stderr, "tls_reconnect: %s\n", mq_event_message(ev));
            exit(1);
        }
        mq_event_free(ev);
    }
}

static int
cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
    const char *host = "localhost", *cafile = NULL;
    int port = 0, count = 200, resume = 1, tls12 = 0, i, resumed = 0;
    double *t, sum = 0, cpu0, cpu1;
    char uri[256];
    mq_client *c;

    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";

        if (strcmp(a, "--port") == 0) port = atoi(v), i++;
        else if (strcmp(a, "--host") == 0) host = v, i++;
        else if (strcmp(a, "--cafile") == 0) cafile = v, i++;
        else if (strcmp(a, "--count") == 0) count = atoi(v), i++;
        else if (strcmp(a, "--resume") == 0) resume = atoi(v), i++;
        else if (strcmp(a, "--delay-ms") == 0) delay_ms = atoi(v), i++;
        else if (strcmp(a, "--tls12") == 0) tls12 = 1;
        else {
            fprintf(stderr, "usage: see the head of tls_reconnect.c\n");
            return 2;
        }
    }
    if (port <= 0 || cafile == NULL || count < 1) {
        fprintf(stderr, "tls_reconnect: --port and --cafile are required\n");
        return 2;
    }
    if (delay_ms > 0) {
        upstream_port = port;
        port = start_relay();
        if (port < 0)
            return 1;
    }
    snprintf(uri, sizeof uri, "mqtts://%s:%d", host, port);
    c = mq_client_new("tls-reconnect-bench", MQ_PROTO_V5);
    if (c == NULL || mq_set_server(c, uri) != MQ_OK
        || mq_set_str(c, MQ_SOPT_TLS_CA_FILE, cafile) != MQ_OK
        || mq_set_int(c, MQ_OPT_TLS_SESSION_RESUME, resume) != MQ_OK
        || (tls12 && mq_set_str(c, MQ_SOPT_TLS_MAX_VERSION, "tlsv1.2")
                         != MQ_OK)
        || mq_set_int(c, MQ_OPT_RECONNECT, 0) != MQ_OK) {
        fprintf(stderr, "tls_reconnect: client set-up failed\n");
        return 1;
    }
    t = calloc((size_t)count, sizeof *t);
    /* one connect first: the cycles measured all start with a session */
    mq_connect(c);
    mq_event_free(wait_for(c, MQ_EVENT_CONNECT));
    mq_disconnect(c, 0);
    mq_event_free(wait_for(c, MQ_EVENT_DISCONNECTED));
    cpu0 = cpu_ms();
    for (i = 0; i < count; i++) {
        double t0 = now_ms();
        mq_event *ev;
        const char *r;

        mq_connect(c);
        ev = wait_for(c, MQ_EVENT_CONNECT);
        t[i] = now_ms() - t0;
        r = mq_event_tls(ev, MQ_TLS_RESUMED);
        resumed += r != NULL && strcmp(r, "1") == 0;
        mq_event_free(ev);
        mq_disconnect(c, 0);
        mq_event_free(wait_for(c, MQ_EVENT_DISCONNECTED));
    }
    cpu1 = cpu_ms();
    for (i = 0; i < count; i++)
        sum += t[i];
    qsort(t, (size_t)count, sizeof *t, cmp);
    printf("RESULT tls=%s resume=%d delay_ms=%d count=%d resumed=%d "
           "handshake_median_ms=%.3f handshake_mean_ms=%.3f "
           "cpu_ms_per_reconnect=%.3f\n", tls12 ? "1.2" : "1.3", resume,
           delay_ms, count, resumed, t[count / 2], sum / count,
           (cpu1 - cpu0) / count);
    free(t);
    mq_client_destroy(c);
    return 0;
}
