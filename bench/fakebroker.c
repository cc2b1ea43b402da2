/*
 * fakebroker.c - a minimal acknowledging MQTT 3.1.1/5 "broker" for the
 * publisher-alone benchmarks: accepts CONNECT -> CONNACK, swallows PUBLISH
 * (answering PUBACK / PUBREC), PUBREL -> PUBCOMP, SUBSCRIBE -> SUBACK,
 * UNSUBSCRIBE -> UNSUBACK, PINGREQ -> PINGRESP, DISCONNECT -> close. It
 * routes nothing. Written by hand (no libmq code) so that it measures the
 * client, not a shared codec.
 *
 * Threading: single-threaded epoll loop.
 *
 * Usage: fakebroker [--nagle] [PORT [HOST]]   (PORT 0 or absent: pick a
 *        free one). By default each accepted socket gets TCP_NODELAY;
 *        --nagle leaves Nagle's algorithm on, as mosquitto's default
 *        configuration does (set_tcp_nodelay false), so a client's delayed
 *        ACKs hold back the acknowledgements written after the first.
 *        Either way all acknowledgements produced by one read are written
 *        with one send().
 * Prints "READY <port>" on stdout once listening. On SIGTERM/SIGINT prints
 * totals to stderr and exits 0.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define RD_CHUNK (256 * 1024)
#define OUT_HIGH (1024 * 1024) /* stop reading while this much is unsent */

typedef struct conn {
    int fd;
    int version;
    uint8_t *in;
    size_t in_len, in_cap;
    uint8_t *out;
    size_t out_len, out_off, out_cap;
    uint32_t mask;
    unsigned long long pubs;
} conn;

static volatile sig_atomic_t g_stop;
static unsigned long long g_pubs[3], g_conns, g_bytes;

static void
on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static int
buf_reserve(uint8_t **b, size_t *cap, size_t need)
{
    size_t n = *cap ? *cap : 256;
    uint8_t *p;
    if (need <= *cap)
        return 0;
    while (n < need)
        n *= 2;
    p = realloc(*b, n);
    if (p == NULL)
        return -1;
    *b = p;
    *cap = n;
    return 0;
}

static int
out_put(conn *c, const uint8_t *d, size_t n)
{
    if (c->out_off > 0 && c->out_off == c->out_len)
        c->out_off = c->out_len = 0;
    if (buf_reserve(&c->out, &c->out_cap, c->out_len + n) != 0)
        return -1;
    memcpy(c->out + c->out_len, d, n);
    c->out_len += n;
    return 0;
}

static void
set_mask(int ep, conn *c)
{
    uint32_t want = 0;
    struct epoll_event ev;
    if (c->out_len - c->out_off < OUT_HIGH)
        want |= EPOLLIN;
    if (c->out_len > c->out_off)
        want |= EPOLLOUT;
    if (want == c->mask)
        return;
    memset(&ev, 0, sizeof ev);
    ev.events = want;
    ev.data.ptr = c;
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->mask = want;
}

static void
conn_close(int ep, conn *c)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c->in);
    free(c->out);
    free(c);
}

/* Write what is pending. -1 on a fatal error. */
static int
flush_out(conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
                         MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            return -1;
        }
        c->out_off += (size_t)n;
    }
    c->out_off = c->out_len = 0;
    return 0;
}

static void
ack(conn *c, uint8_t type, const uint8_t *pid)
{
    uint8_t b[4] = { type, 2, pid[0], pid[1] };
    out_put(c, b, 4);
}

/* Handle one packet (body points after the fixed header). -1: close. */
static int
handle(conn *c, uint8_t h, const uint8_t *body, size_t len)
{
    switch (h >> 4) {
    case 1: { /* CONNECT */
        size_t nl;
        if (len < 2)
            return -1;
        nl = ((size_t)body[0] << 8) | body[1];
        if (len < 2 + nl + 1)
            return -1;
        c->version = body[2 + nl];
        if (c->version == 5) {
            static const uint8_t ca5[] = { 0x20, 3, 0, 0, 0 };
            out_put(c, ca5, sizeof ca5);
        } else {
            static const uint8_t ca[] = { 0x20, 2, 0, 0 };
            out_put(c, ca, sizeof ca);
        }
        return 0;
    }
    case 3: { /* PUBLISH */
        int qos = (h >> 1) & 3;
        size_t tl;
        if (len < 2)
            return -1;
        tl = ((size_t)body[0] << 8) | body[1];
        if (qos > 2 || len < 2 + tl + (qos ? 2 : 0))
            return -1;
        c->pubs++;
        g_pubs[qos]++;
        if (qos == 1)
            ack(c, 0x40, body + 2 + tl);
        else if (qos == 2)
            ack(c, 0x50, body + 2 + tl);
        return 0;
    }
    case 6: /* PUBREL */
        if (len < 2)
            return -1;
        ack(c, 0x70, body);
        return 0;
    case 4: case 5: case 7: /* acks for our (nonexistent) publishes */
        return 0;
    case 8: { /* SUBSCRIBE: grant what was asked */
        uint8_t hdr[8], codes[256];
        size_t off = 2, n = 0, hl = 0, rl;
        if (len < 2)
            return -1;
        if (c->version == 5) { /* skip properties (1-byte length assumed) */
            if (len < 3)
                return -1;
            off += 1 + body[2];
        }
        while (off + 2 < len && n < sizeof codes) {
            size_t fl = ((size_t)body[off] << 8) | body[off + 1];
            if (off + 2 + fl >= len)
                return -1;
            codes[n++] = body[off + 2 + fl] & 3;
            off += 2 + fl + 1;
        }
        rl = 2 + n + (c->version == 5 ? 1 : 0);
        hdr[hl++] = 0x90;
        hdr[hl++] = (uint8_t)rl; /* < 128 for n < 125 */
        hdr[hl++] = body[0];
        hdr[hl++] = body[1];
        if (c->version == 5)
            hdr[hl++] = 0;
        out_put(c, hdr, hl);
        out_put(c, codes, n);
        return 0;
    }
    case 10: /* UNSUBSCRIBE (v3 form; v5 clients get no reason codes) */
        if (len < 2)
            return -1;
        ack(c, 0xB0, body);
        return 0;
    case 12: { /* PINGREQ */
        static const uint8_t pr[] = { 0xD0, 0 };
        out_put(c, pr, 2);
        return 0;
    }
    case 14: /* DISCONNECT */
        return -1;
    default:
        return -1;
    }
}

/* Parse complete packets from buf; returns bytes consumed, -1: close. */
static long
parse(conn *c, const uint8_t *buf, size_t len)
{
    size_t off = 0;
    while (len - off >= 2) {
        size_t rl = 0, i = 1;
        unsigned shift = 0;
        uint8_t b;
        do {
            if (off + i >= len)
                return (long)off;
            b = buf[off + i];
            rl |= (size_t)(b & 0x7f) << shift;
            shift += 7;
            i++;
            if (shift > 21 && (b & 0x80))
                return -1;
        } while (b & 0x80);
        if (len - off - i < rl)
            break;
        if (handle(c, buf[off], buf + off + i, rl) != 0)
            return -1;
        off += i + rl;
    }
    return (long)off;
}

static uint8_t g_scratch[RD_CHUNK];

/* Read into a shared scratch buffer; only a partial packet is kept per
 * connection, so idle connections cost almost nothing. */
static int
do_read(conn *c)
{
    int rounds;
    for (rounds = 0; rounds < 4; rounds++) {
        ssize_t n = recv(c->fd, g_scratch, sizeof g_scratch, 0);
        const uint8_t *buf;
        size_t len;
        long used;
        if (n == 0)
            return -1;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            return -1;
        }
        g_bytes += (unsigned long long)n;
        if (c->in_len > 0) {
            if (buf_reserve(&c->in, &c->in_cap, c->in_len + (size_t)n) != 0)
                return -1;
            memcpy(c->in + c->in_len, g_scratch, (size_t)n);
            c->in_len += (size_t)n;
            buf = c->in;
            len = c->in_len;
        } else {
            buf = g_scratch;
            len = (size_t)n;
        }
        used = parse(c, buf, len);
        if (used < 0)
            return -1;
        if ((size_t)used < len) {
            size_t left = len - (size_t)used;
            if (buf == c->in) {
                memmove(c->in, c->in + used, left);
            } else {
                if (buf_reserve(&c->in, &c->in_cap, left) != 0)
                    return -1;
                memcpy(c->in, buf + used, left);
            }
            c->in_len = left;
        } else {
            c->in_len = 0;
        }
        if ((size_t)n < sizeof g_scratch)
            break; /* short read: drained */
    }
    return 0;
}

int
main(int argc, char **argv)
{
    int nagle = argc > 1 && strcmp(argv[1], "--nagle") == 0;
    int port, lfd, ep, one = 1;
    const char *host;
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    struct epoll_event ev, evs[256];
    struct sigaction sact;
    struct rlimit rl;

    if (nagle) {
        argc--;
        argv++;
    }
    port = argc > 1 ? atoi(argv[1]) : 0;
    host = argc > 2 ? argv[2] : "127.0.0.1";
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    memset(&sact, 0, sizeof sact);
    sact.sa_handler = on_signal;
    sigaction(SIGTERM, &sact, NULL);
    sigaction(SIGINT, &sact, NULL);
    signal(SIGPIPE, SIG_IGN);

    lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (lfd < 0) {
        perror("socket");
        return 1;
    }
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        fprintf(stderr, "fakebroker: bad IPv4 address %s\n", host);
        return 2;
    }
    if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        listen(lfd, 4096) != 0) {
        perror("fakebroker: bind/listen");
        return 1;
    }
    getsockname(lfd, (struct sockaddr *)&sa, &sl);
    ep = epoll_create1(EPOLL_CLOEXEC);
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN;
    ev.data.ptr = NULL; /* the listener */
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    printf("READY %u\n", (unsigned)ntohs(sa.sin_port));
    fflush(stdout);

    while (!g_stop) {
        int n = epoll_wait(ep, evs, 256, 200), i;
        for (i = 0; i < n; i++) {
            conn *c = evs[i].data.ptr;
            if (c == NULL) {
                for (;;) {
                    int fd = accept4(lfd, NULL, NULL,
                                     SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (fd < 0)
                        break;
                    c = calloc(1, sizeof *c);
                    if (c == NULL) {
                        close(fd);
                        continue;
                    }
                    if (!nagle)
                        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
                                   sizeof one);
                    c->fd = fd;
                    c->mask = EPOLLIN;
                    memset(&ev, 0, sizeof ev);
                    ev.events = EPOLLIN;
                    ev.data.ptr = c;
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
                    g_conns++;
                }
                continue;
            }
            if ((evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) &&
                do_read(c) != 0) {
                flush_out(c); /* best effort, e.g. a last PUBACK */
                conn_close(ep, c);
                continue;
            }
            if (flush_out(c) != 0) {
                conn_close(ep, c);
                continue;
            }
            set_mask(ep, c);
        }
    }
    fprintf(stderr,
            "fakebroker: %llu connections, %llu bytes, publishes qos0=%llu "
            "qos1=%llu qos2=%llu\n",
            g_conns, g_bytes, g_pubs[0], g_pubs[1], g_pubs[2]);
    close(ep);
    close(lfd);
    return 0;
}
