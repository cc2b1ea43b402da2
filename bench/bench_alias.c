/*
 * bench_alias.c - bytes on the wire with and without outbound topic
 * aliases (MQ_OPT_TOPIC_ALIAS_AUTO, issue 13): a v5 publisher sends COUNT
 * QoS 1 messages round-robin over TOPICS topics of TOPIC_LEN bytes to a
 * broker (mosquitto with its default max_topic_alias 10), once with
 * aliases off and once on, through a byte-counting relay on loopback, and
 * reports the bytes the client sent (every packet, headers included) and
 * the time taken.
 *
 * Usage: bench_alias PORT [COUNT [TOPICS [TOPIC_LEN [PAYLOAD [ALIASES]]]]]
 *   PORT: the broker on 127.0.0.1; defaults: 100000 messages, 8 topics of
 *   100 bytes, 16-byte payload, MQ_OPT_TOPIC_ALIAS_AUTO 10.
 * Prints one "RESULT" line per mode and a "SAVED" line.
 *
 * Threading: the main thread publishes and takes events; one relay thread
 * per run copies bytes both ways and counts them.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "mq.h"

/* ---- the relay: client <-> broker, counting client -> broker bytes ---- */

typedef struct relay {
    int lfd, port, broker_port;
    pthread_t th;
    atomic_llong up; /* bytes from the client */
} relay;

static int
tcp_to(int port)
{
    struct sockaddr_in sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

static int
copy(int from, int to, atomic_llong *count)
{
    char buf[65536];
    ssize_t n = read(from, buf, sizeof buf), off = 0;

    if (n <= 0)
        return -1;
    if (count != NULL)
        atomic_fetch_add(count, n);
    while (off < n) {
        ssize_t w = write(to, buf + off, (size_t)(n - off));
        if (w <= 0)
            return -1;
        off += w;
    }
    return 0;
}

static void *
relay_main(void *arg)
{
    relay *r = arg;
    int c = accept(r->lfd, NULL, NULL), b = c >= 0 ? tcp_to(r->broker_port)
                                                   : -1;

    while (c >= 0 && b >= 0) {
        struct pollfd pf[2] = {{c, POLLIN, 0}, {b, POLLIN, 0}};
        if (poll(pf, 2, -1) < 0)
            break;
        if (pf[0].revents && copy(c, b, &r->up) != 0)
            break;
        if (pf[1].revents && copy(b, c, NULL) != 0)
            break;
    }
    if (c >= 0)
        close(c);
    if (b >= 0)
        close(b);
    return NULL;
}

static int
relay_start(relay *r, int broker_port)
{
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;

    memset(r, 0, sizeof *r);
    r->broker_port = broker_port;
    r->lfd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (r->lfd < 0 || bind(r->lfd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        listen(r->lfd, 1) != 0 ||
        getsockname(r->lfd, (struct sockaddr *)&sa, &sl) != 0)
        return -1;
    r->port = ntohs(sa.sin_port);
    return pthread_create(&r->th, NULL, relay_main, r) == 0 ? 0 : -1;
}

static void
relay_stop(relay *r)
{
    pthread_join(r->th, NULL); /* ends when the client closes */
    close(r->lfd);
}

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static mq_event *
wait_kind(mq_client *c, int kind, int ms)
{
    mq_event *ev;

    while ((ev = mq_next_event(c, ms)) != NULL) {
        if (mq_event_type(ev) == kind)
            return ev;
        mq_event_free(ev);
    }
    return NULL;
}

/* One run; returns the bytes the client sent for the messages (CONNECT
 * and DISCONNECT left out), -1 on failure. */
static long long
run(int port, long count, char **topics, int ntopics, const char *payload,
    size_t plen, int aliases, double *secs)
{
    mq_client *c = mq_client_new("bench-alias", MQ_PROTO_V5);
    long i, done = 0;
    long long w0, w1;
    double t0;
    mq_event *ev;
    relay r;
    char uri[64];

    if (relay_start(&r, port) != 0)
        return -1;
    snprintf(uri, sizeof uri, "mqtt://127.0.0.1:%d", r.port);
    if (c == NULL || mq_set_server(c, uri) != MQ_OK ||
        mq_set_int(c, MQ_OPT_TOPIC_ALIAS_AUTO, aliases) != MQ_OK ||
        mq_set_int(c, MQ_OPT_MAX_INFLIGHT, 1000) != MQ_OK ||
        mq_set_int(c, MQ_OPT_PUBLISH_TIMEOUT_MS, 10000) != MQ_OK ||
        mq_connect(c) != MQ_OK)
        return -1;
    ev = wait_kind(c, MQ_EVENT_CONNECT, 10000);
    if (ev == NULL || mq_event_reason(ev) != 0)
        return -1;
    mq_event_free(ev);
    w0 = atomic_load(&r.up);
    t0 = now_s();
    for (i = 0; i < count; i++) {
        if (mq_publish(c, topics[i % ntopics], payload, plen, 1, 0) < 0)
            return -1;
        while ((ev = mq_next_event(c, 0)) != NULL) {
            done += mq_event_type(ev) == MQ_EVENT_PUBLISHED;
            mq_event_free(ev);
        }
    }
    while (done < count && (ev = mq_next_event(c, 10000)) != NULL) {
        done += mq_event_type(ev) == MQ_EVENT_PUBLISHED;
        mq_event_free(ev);
    }
    *secs = now_s() - t0;
    w1 = atomic_load(&r.up);
    mq_disconnect(c, 0);
    mq_event_free(wait_kind(c, MQ_EVENT_DISCONNECTED, 5000));
    mq_client_destroy(c);
    relay_stop(&r);
    return done == count ? w1 - w0 : -1;
}

int
main(int argc, char **argv)
{
    int port;
    long count = argc > 2 ? atol(argv[2]) : 100000;
    int ntopics = argc > 3 ? atoi(argv[3]) : 8;
    int tlen = argc > 4 ? atoi(argv[4]) : 100;
    size_t plen = argc > 5 ? (size_t)atol(argv[5]) : 16;
    int aliases = argc > 6 ? atoi(argv[6]) : 10;
    char **topics, *payload;
    long long b_off, b_on;
    double s_off = 0, s_on = 0;
    int i;

    if (argc < 2 || count <= 0 || ntopics <= 0 || tlen < 8 || tlen > 65535 ||
        aliases <= 0) {
        fprintf(stderr, "usage: bench_alias PORT [COUNT [TOPICS [TOPIC_LEN "
                        "[PAYLOAD [ALIASES]]]]]\n");
        return 2;
    }
    port = atoi(argv[1]);
    topics = calloc((size_t)ntopics, sizeof *topics);
    payload = calloc(1, plen + 1);
    memset(payload, 'p', plen);
    for (i = 0; i < ntopics; i++) {
        topics[i] = malloc((size_t)tlen + 1);
        memset(topics[i], 'x', (size_t)tlen);
        snprintf(topics[i], (size_t)tlen, "bench/alias/%04d/", i);
        topics[i][strlen(topics[i])] = 'x';
        topics[i][tlen] = '\0';
    }
    b_off = run(port, count, topics, ntopics, payload, plen, 0, &s_off);
    b_on = run(port, count, topics, ntopics, payload, plen, aliases, &s_on);
    if (b_off < 0 || b_on < 0) {
        fprintf(stderr, "bench_alias: a run failed\n");
        return 1;
    }
    printf("RESULT aliases=off count=%ld topics=%d topic_len=%d payload=%zu "
           "bytes=%lld bytes_per_msg=%.1f secs=%.3f\n", count, ntopics, tlen,
           plen, b_off, (double)b_off / (double)count, s_off);
    printf("RESULT aliases=%d count=%ld topics=%d topic_len=%d payload=%zu "
           "bytes=%lld bytes_per_msg=%.1f secs=%.3f\n", aliases, count,
           ntopics, tlen, plen, b_on, (double)b_on / (double)count, s_on);
    printf("SAVED %.1f%% of the bytes written (%lld of %lld)\n",
           100.0 * (double)(b_off - b_on) / (double)b_off, b_off - b_on,
           b_off);
    for (i = 0; i < ntopics; i++)
        free(topics[i]);
    free(topics);
    free(payload);
    return 0;
}
