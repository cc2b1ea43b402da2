/*
 * proxy.c - the fault-injection proxy of the fault tests (see proxy.h).
 * Store-and-forward by whole MQTT packets per direction: bytes are
 * buffered until a packet is complete, then the fault plan decides.
 *
 * Threading: one thread per proxy; the plan is guarded by a mutex.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proxy.h"

typedef struct dirbuf {
    uint8_t *data;
    size_t len, cap;
} dirbuf;

struct px {
    int lfd, up_port, port;
    char uri[64];
    int stop_pipe[2];
    pthread_t th;
    pthread_mutex_t lock;
    /* plan (lock) */
    int f_dir, f_type, f_nth, f_action, f_every, f_times;
    long cut_bytes[2];     /* -1: none */
    int delay_ms;
    int trickle_us;
    int half_open;
    int cut_now, stall_now;
    /* counters (lock) */
    int conns, fired;
    int type_count[2][16];
    /* live connection (thread only) */
    int cfd, ufd;
    int stalled;
    dirbuf buf[2];
    int zombies[16];       /* broker sides kept open (half-open) */
    int nzombies;
};

static int
send_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Keep the broker side of a stalled connection open (half-open). */
static void
keep_zombie(px *p, int fd)
{
    if (p->nzombies == (int)(sizeof p->zombies / sizeof p->zombies[0])) {
        close(p->zombies[0]);
        memmove(p->zombies, p->zombies + 1,
                sizeof p->zombies - sizeof p->zombies[0]);
        p->nzombies--;
    }
    p->zombies[p->nzombies++] = fd;
}

static void
close_pair(px *p)
{
    if (p->cfd >= 0)
        close(p->cfd);
    if (p->ufd >= 0)
        close(p->ufd);
    p->cfd = p->ufd = -1;
    p->stalled = 0;
    p->buf[0].len = p->buf[1].len = 0;
}

/* Length of the complete packet at the start of b, 0 if incomplete. */
static size_t
packet_len(const dirbuf *b)
{
    size_t rem = 0, mul = 1, i;

    for (i = 1; i < b->len && i <= 4; i++) {
        rem += (size_t)(b->data[i] & 0x7F) * mul;
        mul *= 128;
        if (!(b->data[i] & 0x80))
            return b->len >= i + 1 + rem ? i + 1 + rem : 0;
    }
    if (i > 4) /* invalid varint: forward what we have as is */
        return b->len;
    return 0;
}

/* Decide and forward complete packets in direction d. Returns -1 when the
 * pair must be closed. */
static int
pump_dir(px *p, int d)
{
    dirbuf *b = &p->buf[d];
    int out = d == PX_C2B ? p->ufd : p->cfd;
    size_t n;

    while (!p->stalled && (n = packet_len(b)) > 0) {
        int type = b->data[0] >> 4, action = 0, delay, trickle;
        size_t fwd = n;
        long cut;

        pthread_mutex_lock(&p->lock);
        p->type_count[d][type]++;
        if (p->f_action && p->f_dir == d && p->f_type == type &&
            p->type_count[d][type] == p->f_nth) {
            action = p->f_action;
            p->fired++;
            if (p->f_every > 0 && --p->f_times > 0)
                p->f_nth += p->f_every;
            else
                p->f_action = 0;
        }
        cut = p->cut_bytes[d];
        if (cut >= 0) {
            if ((long)n >= cut) {
                fwd = (size_t)cut;
                action = PX_FWD_CLOSE;
                p->cut_bytes[d] = -1;
                p->fired++;
            } else {
                p->cut_bytes[d] = cut - (long)n;
            }
        }
        delay = p->delay_ms;
        trickle = p->trickle_us;
        pthread_mutex_unlock(&p->lock);

        if (action == PX_DROP_CLOSE)
            return -1;
        if (action == PX_STALL) {
            p->stalled = 1;
            return 0;
        }
        if (action == PX_TRUNC_CLOSE)
            fwd = n / 2;
        if (delay > 0)
            usleep((useconds_t)delay * 1000);
        if (trickle > 0) {
            for (size_t i = 0; i < fwd; i++) {
                if (send_all(out, b->data + i, 1) != 0)
                    return -1;
                usleep((useconds_t)trickle);
            }
        } else if (fwd > 0 && send_all(out, b->data, fwd) != 0) {
            return -1;
        }
        if (action == PX_FWD_CLOSE || action == PX_TRUNC_CLOSE) {
            usleep(20 * 1000); /* let the bytes leave before the RST/FIN */
            return -1;
        }
        memmove(b->data, b->data + n, b->len - n);
        b->len -= n;
    }
    return 0;
}

static int
read_dir(px *p, int d)
{
    dirbuf *b = &p->buf[d];
    int in = d == PX_C2B ? p->cfd : p->ufd;
    ssize_t r;

    if (b->cap - b->len < 65536) {
        size_t nc = b->cap ? b->cap * 2 : 131072;
        uint8_t *nd = realloc(b->data, nc);
        if (nd == NULL)
            return -1;
        b->data = nd;
        b->cap = nc;
    }
    r = recv(in, b->data + b->len, b->cap - b->len, 0);
    if (r < 0 && (errno == EINTR || errno == EAGAIN))
        return 0;
    if (r <= 0)
        return -1;
    if (p->stalled)
        return 0; /* swallowed */
    b->len += (size_t)r;
    return pump_dir(p, d);
}

static int
connect_up(int port)
{
    struct sockaddr_in sa;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

    if (fd < 0)
        return -1;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static void *
px_main(void *arg)
{
    px *p = arg;

    for (;;) {
        struct pollfd pf[4];
        int n = 0, i_c = -1, i_u = -1, cut, stall, half_open;

        pf[n++] = (struct pollfd){p->stop_pipe[0], POLLIN, 0};
        pf[n++] = (struct pollfd){p->lfd, POLLIN, 0};
        if (p->cfd >= 0) {
            i_c = n;
            pf[n++] = (struct pollfd){p->cfd, POLLIN, 0};
            i_u = n;
            pf[n++] = (struct pollfd){p->ufd, POLLIN, 0};
        }
        if (poll(pf, (nfds_t)n, 50) < 0 && errno != EINTR)
            break;
        if (pf[0].revents)
            break;
        pthread_mutex_lock(&p->lock);
        cut = p->cut_now;
        p->cut_now = 0;
        stall = p->stall_now;
        p->stall_now = 0;
        half_open = p->half_open;
        pthread_mutex_unlock(&p->lock);
        if (cut && p->cfd >= 0) {
            close_pair(p);
            continue;
        }
        if (stall && p->cfd >= 0)
            p->stalled = 1;
        if (pf[1].revents & POLLIN) {
            int fd = accept4(p->lfd, NULL, NULL, SOCK_CLOEXEC);
            if (fd >= 0) {
                int one = 1;
                if (half_open && p->stalled && p->ufd >= 0) {
                    keep_zombie(p, p->ufd);
                    p->ufd = -1;
                }
                close_pair(p);
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                p->cfd = fd;
                p->ufd = connect_up(p->up_port);
                pthread_mutex_lock(&p->lock);
                p->conns++;
                pthread_mutex_unlock(&p->lock);
                if (p->ufd < 0)
                    close_pair(p);
            }
            continue;
        }
        if (i_c >= 0 && (pf[i_c].revents & (POLLIN | POLLHUP | POLLERR)) &&
            read_dir(p, PX_C2B) != 0) {
            close_pair(p);
            continue;
        }
        if (i_u >= 0 && p->ufd >= 0 &&
            (pf[i_u].revents & (POLLIN | POLLHUP | POLLERR)) &&
            read_dir(p, PX_B2C) != 0)
            close_pair(p);
    }
    close_pair(p);
    while (p->nzombies > 0)
        close(p->zombies[--p->nzombies]);
    return NULL;
}

px *
px_start(int upstream_port)
{
    px *p = calloc(1, sizeof *p);
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    int one = 1;

    if (p == NULL)
        return NULL;
    p->cfd = p->ufd = -1;
    p->up_port = upstream_port;
    p->cut_bytes[0] = p->cut_bytes[1] = -1;
    p->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    setsockopt(p->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (p->lfd < 0 || bind(p->lfd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        listen(p->lfd, 8) != 0 ||
        getsockname(p->lfd, (struct sockaddr *)&sa, &sl) != 0 ||
        pipe2(p->stop_pipe, O_CLOEXEC) != 0) {
        if (p->lfd >= 0)
            close(p->lfd);
        free(p);
        return NULL;
    }
    p->port = ntohs(sa.sin_port);
    snprintf(p->uri, sizeof p->uri, "mqtt://127.0.0.1:%d", p->port);
    pthread_mutex_init(&p->lock, NULL);
    if (pthread_create(&p->th, NULL, px_main, p) != 0) {
        close(p->lfd);
        close(p->stop_pipe[0]);
        close(p->stop_pipe[1]);
        pthread_mutex_destroy(&p->lock);
        free(p);
        return NULL;
    }
    return p;
}

void
px_stop(px *p)
{
    if (p == NULL)
        return;
    if (write(p->stop_pipe[1], "x", 1) < 0) {
        /* poll also times out every 50 ms */
    }
    pthread_join(p->th, NULL);
    close(p->lfd);
    close(p->stop_pipe[0]);
    close(p->stop_pipe[1]);
    free(p->buf[0].data);
    free(p->buf[1].data);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

int px_port(px *p) { return p->port; }
const char *px_uri(px *p) { return p->uri; }

void
px_fault_at_packet(px *p, int dir, int type, int nth, int action, int every,
                   int times)
{
    pthread_mutex_lock(&p->lock);
    p->f_dir = dir;
    p->f_type = type;
    p->f_nth = nth;
    p->f_action = action;
    p->f_every = every;
    p->f_times = times > 0 ? times : 1;
    pthread_mutex_unlock(&p->lock);
}

void
px_cut_after_bytes(px *p, int dir, long nbytes)
{
    pthread_mutex_lock(&p->lock);
    p->cut_bytes[dir & 1] = nbytes;
    pthread_mutex_unlock(&p->lock);
}

void
px_set_delay(px *p, int ms)
{
    pthread_mutex_lock(&p->lock);
    p->delay_ms = ms;
    pthread_mutex_unlock(&p->lock);
}

void
px_cut_now(px *p)
{
    pthread_mutex_lock(&p->lock);
    p->cut_now = 1;
    pthread_mutex_unlock(&p->lock);
}

void
px_stall_now(px *p)
{
    pthread_mutex_lock(&p->lock);
    p->stall_now = 1;
    pthread_mutex_unlock(&p->lock);
}

void
px_set_trickle_us(px *p, int us)
{
    pthread_mutex_lock(&p->lock);
    p->trickle_us = us > 0 ? us : 0;
    pthread_mutex_unlock(&p->lock);
}

void
px_set_half_open(px *p, int on)
{
    pthread_mutex_lock(&p->lock);
    p->half_open = on != 0;
    pthread_mutex_unlock(&p->lock);
}

int
px_packet_count(px *p, int dir, int type)
{
    int n;

    pthread_mutex_lock(&p->lock);
    n = p->type_count[dir & 1][type & 15];
    pthread_mutex_unlock(&p->lock);
    return n;
}

int
px_connections(px *p)
{
    int n;

    pthread_mutex_lock(&p->lock);
    n = p->conns;
    pthread_mutex_unlock(&p->lock);
    return n;
}

int
px_faults_fired(px *p)
{
    int n;

    pthread_mutex_lock(&p->lock);
    n = p->fired;
    pthread_mutex_unlock(&p->lock);
    return n;
}
