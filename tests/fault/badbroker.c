/*
 * badbroker.c - the scripted fake MQTT broker of the fault tests (see
 * badbroker.h).
 *
 * Threading: one thread per broker (accept loop + scripts, one connection
 * at a time); results are guarded by a mutex.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "badbroker.h"

#define MAX_CONNS 64

struct fb {
    int lfd;
    int port;
    char uri[64];
    fb_script script;
    void *ud;
    pthread_t th;
    int stop_pipe[2];
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int conns;
    int closed[MAX_CONNS];
    int disc_reason;
    int counts[16];
};

static long long
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
fb_send(int fd, const void *data, size_t len)
{
    const uint8_t *p = data;

    while (len > 0) {
        ssize_t w = send(fd, p, len, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

size_t
fb_pack(uint8_t *out, uint8_t b0, const void *body, size_t len)
{
    size_t n = 0, v = len;

    out[n++] = b0;
    do {
        uint8_t d = v % 128;
        v /= 128;
        out[n++] = (uint8_t)(d | (v ? 0x80 : 0));
    } while (v);
    if (len)
        memcpy(out + n, body, len);
    return n + len;
}

int
fb_send_connack(int fd, int version, int session_present, int rc)
{
    uint8_t p[5] = {0x20, version == 5 ? 3 : 2, (uint8_t)session_present,
                    (uint8_t)rc, 0};

    return fb_send(fd, p, version == 5 ? 5 : 4);
}

/* Read exactly n bytes with a deadline. 1 ok, 0 closed, -1 timeout. */
static int
read_n(fb *b, int fd, uint8_t *p, size_t n, long long until)
{
    while (n > 0) {
        struct pollfd pf[2] = {{fd, POLLIN, 0}, {b->stop_pipe[0], POLLIN, 0}};
        long long left = until - now_ms();
        ssize_t r;
        if (left <= 0)
            return -1;
        if (poll(pf, 2, (int)left) <= 0)
            continue;
        if (pf[1].revents)
            return 0;
        r = recv(fd, p, n, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return 0;
        p += r;
        n -= (size_t)r;
    }
    return 1;
}

void
fb_pkt_free(fb_pkt *p)
{
    free(p->body);
    p->body = NULL;
    p->len = 0;
}

int
fb_recv(fb *b, int fd, fb_pkt *out, int timeout_ms)
{
    long long until = now_ms() + timeout_ms;
    uint8_t c;
    size_t len = 0, mul = 1;
    int i, rc;

    memset(out, 0, sizeof *out);
    rc = read_n(b, fd, &out->b0, 1, until);
    if (rc != 1)
        return rc;
    for (i = 0; i < 4; i++) {
        rc = read_n(b, fd, &c, 1, until);
        if (rc != 1)
            return rc;
        len += (size_t)(c & 0x7F) * mul;
        mul *= 128;
        if (!(c & 0x80))
            break;
    }
    if (i == 4 || len > (16u << 20))
        return 0;
    if (len > 0) {
        out->body = malloc(len);
        if (out->body == NULL)
            return 0;
        rc = read_n(b, fd, out->body, len, until);
        if (rc != 1) {
            fb_pkt_free(out);
            return rc;
        }
    }
    out->len = len;
    pthread_mutex_lock(&b->lock);
    b->counts[out->b0 >> 4]++;
    if ((out->b0 >> 4) == 14)
        b->disc_reason = len > 0 ? out->body[0] : 0;
    pthread_cond_broadcast(&b->cond);
    pthread_mutex_unlock(&b->lock);
    return 1;
}

int
fb_read_connect(fb *b, int fd)
{
    fb_pkt p;
    int v = -1;

    if (fb_recv(b, fd, &p, 5000) != 1)
        return -1;
    if ((p.b0 >> 4) == 1 && p.len >= 7)
        v = p.body[6];
    fb_pkt_free(&p);
    return v;
}

int
fb_expect(fb *b, int fd, int type, fb_pkt *out, int timeout_ms)
{
    long long until = now_ms() + timeout_ms;
    fb_pkt p;

    while (now_ms() < until) {
        if (fb_recv(b, fd, &p, (int)(until - now_ms())) != 1)
            return 0;
        if ((p.b0 >> 4) == type) {
            if (out != NULL)
                *out = p;
            else
                fb_pkt_free(&p);
            return 1;
        }
        fb_pkt_free(&p);
    }
    return 0;
}

static void *
fb_main(void *arg)
{
    fb *b = arg;

    for (;;) {
        struct pollfd pf[2] = {{b->lfd, POLLIN, 0},
                               {b->stop_pipe[0], POLLIN, 0}};
        int fd, conn;
        fb_pkt p;
        long long until;

        if (poll(pf, 2, -1) < 0)
            continue;
        if (pf[1].revents)
            break;
        fd = accept4(b->lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        pthread_mutex_lock(&b->lock);
        conn = b->conns++;
        pthread_mutex_unlock(&b->lock);
        b->script(b, conn, fd, b->ud);
        /* drain until the client closes */
        until = now_ms() + 5000;
        while (now_ms() < until) {
            int rc = fb_recv(b, fd, &p, (int)(until - now_ms()));
            if (rc != 1)
                break;
            fb_pkt_free(&p);
        }
        close(fd);
        pthread_mutex_lock(&b->lock);
        if (conn < MAX_CONNS)
            b->closed[conn] = 1;
        pthread_cond_broadcast(&b->cond);
        pthread_mutex_unlock(&b->lock);
    }
    return NULL;
}

fb *
fb_start(fb_script script, void *ud)
{
    fb *b = calloc(1, sizeof *b);
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    int one = 1;

    if (b == NULL)
        return NULL;
    b->disc_reason = -1;
    b->script = script;
    b->ud = ud;
    b->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    setsockopt(b->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (b->lfd < 0 || bind(b->lfd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        listen(b->lfd, 8) != 0 ||
        getsockname(b->lfd, (struct sockaddr *)&sa, &sl) != 0 ||
        pipe2(b->stop_pipe, O_CLOEXEC) != 0) {
        if (b->lfd >= 0)
            close(b->lfd);
        free(b);
        return NULL;
    }
    b->port = ntohs(sa.sin_port);
    snprintf(b->uri, sizeof b->uri, "mqtt://127.0.0.1:%d", b->port);
    pthread_mutex_init(&b->lock, NULL);
    pthread_cond_init(&b->cond, NULL);
    if (pthread_create(&b->th, NULL, fb_main, b) != 0) {
        close(b->lfd);
        close(b->stop_pipe[0]);
        close(b->stop_pipe[1]);
        free(b);
        return NULL;
    }
    return b;
}

void
fb_stop(fb *b)
{
    if (b == NULL)
        return;
    if (write(b->stop_pipe[1], "x", 1) < 0) {
        /* the thread also ends when the pipe closes */
    }
    pthread_join(b->th, NULL);
    close(b->lfd);
    close(b->stop_pipe[0]);
    close(b->stop_pipe[1]);
    pthread_mutex_destroy(&b->lock);
    pthread_cond_destroy(&b->cond);
    free(b);
}

int fb_port(const fb *b) { return b->port; }
const char *fb_uri(const fb *b) { return b->uri; }

int
fb_connections(fb *b)
{
    int n;

    pthread_mutex_lock(&b->lock);
    n = b->conns;
    pthread_mutex_unlock(&b->lock);
    return n;
}

int
fb_client_disconnect_reason(fb *b)
{
    int n;

    pthread_mutex_lock(&b->lock);
    n = b->disc_reason;
    pthread_mutex_unlock(&b->lock);
    return n;
}

int
fb_count(fb *b, int type)
{
    int n;

    pthread_mutex_lock(&b->lock);
    n = b->counts[type & 15];
    pthread_mutex_unlock(&b->lock);
    return n;
}

int
fb_wait_closed(fb *b, int conn, int timeout_ms)
{
    struct timespec until;
    int done;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&b->lock);
    while (!(done = conn < MAX_CONNS && b->closed[conn]))
        if (pthread_cond_timedwait(&b->cond, &b->lock, &until) != 0)
            break;
    done = conn < MAX_CONNS && b->closed[conn];
    pthread_mutex_unlock(&b->lock);
    return done;
}
