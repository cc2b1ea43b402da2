/*
 * fakeproxy.c - a small HTTP CONNECT / SOCKS5 proxy for the tests; see
 * fakeproxy.h. Blocking sockets with receive timeouts on per-connection
 * threads: simple, and a stuck client cannot hang a test for long.
 *
 * Threading: fp_start/fp_stop on the test's thread; the accept thread and
 * the connection threads share only the counters (under p->lock).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "fakeproxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define FP_MAX_CONN 32

struct fakeproxy {
    fp_opts o;
    char user[256], pass[256];
    int lfd;
    int port;
    int stop_pipe[2];
    pthread_t acceptor;
    pthread_mutex_t lock;
    int accepted, tunnels;
    char target[300];
    struct fp_conn {
        pthread_t th;
        int fd;
        int up;      /* the tunnel's fd to the target, -1 none */
        int used;
        fakeproxy *p;
    } conns[FP_MAX_CONN];
};

static int
read_n(int fd, unsigned char *buf, size_t n)
{
    size_t got = 0;

    while (got < n) {
        ssize_t r = recv(fd, buf + got, n - got, 0);

        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return 0;
}

static void
send_all(int fd, const void *buf, size_t n)
{
    const char *b = buf;

    while (n > 0) {
        ssize_t w = send(fd, b, n, MSG_NOSIGNAL);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        b += w;
        n -= (size_t)w;
    }
}

/* Connect to host:port, which must be a loopback address or "localhost". */
static int
dial(const char *host, int port)
{
    struct addrinfo hints, *res = NULL, *ai;
    char ps[16];
    int fd = -1;

    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    snprintf(ps, sizeof ps, "%d", port);
    if (strcmp(host, "localhost") != 0 && strncmp(host, "127.", 4) != 0
        && strcmp(host, "::1") != 0)
        return -1; /* never anywhere but loopback */
    if (getaddrinfo(host, ps, &hints, &res) != 0)
        return -1;
    for (ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    return fd;
}

static void
relay(int a, int b)
{
    unsigned char buf[16384];
    struct pollfd pf[2];

    pf[0].fd = a;
    pf[1].fd = b;
    pf[0].events = pf[1].events = POLLIN;
    for (;;) {
        int i;

        if (poll(pf, 2, 30000) <= 0)
            return;
        for (i = 0; i < 2; i++) {
            ssize_t n;

            if (!(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            n = recv(pf[i].fd, buf, sizeof buf, 0);
            if (n <= 0)
                return;
            send_all(pf[1 - i].fd, buf, (size_t)n);
        }
    }
}

static void
set_target(fakeproxy *p, const char *host, int port)
{
    pthread_mutex_lock(&p->lock);
    snprintf(p->target, sizeof p->target, "%s:%d", host, port);
    pthread_mutex_unlock(&p->lock);
}

static int
b64val(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* Decode base64 @p in (stops at the first non-base64 byte). */
static void
b64dec(const char *in, char *out, size_t cap)
{
    unsigned v = 0;
    int bits = 0, x;
    size_t o = 0;

    while ((x = b64val((unsigned char)*in++)) >= 0 && o + 1 < cap) {
        v = v << 6 | (unsigned)x;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (char)((v >> bits) & 0xFF);
        }
    }
    out[o] = '\0';
}

/* HTTP CONNECT; returns the upstream fd, or -1 after answering. */
static int
http_handshake(fakeproxy *p, int fd)
{
    char head[4096], host[256], cred[600], want[520];
    const char *auth;
    size_t n = 0;
    int port = 0, up;

    while (n < sizeof head - 1) {
        if (read_n(fd, (unsigned char *)head + n, 1) != 0)
            return -1;
        n++;
        head[n] = '\0';
        if (n >= 4 && memcmp(head + n - 4, "\r\n\r\n", 4) == 0)
            break;
    }
    if (sscanf(head, "CONNECT %255[^: ]:%d HTTP/1.", host, &port) != 2) {
        /* IPv6: CONNECT [::1]:port */
        if (sscanf(head, "CONNECT [%255[^]]]:%d HTTP/1.", host, &port) != 2) {
            const char *bad = "HTTP/1.1 400 Bad Request\r\n\r\n";
            send_all(fd, bad, strlen(bad));
            return -1;
        }
    }
    set_target(p, host, port);
    if (p->o.close_mid_answer) {
        send_all(fd, "HTTP/1.1 2", 10);
        return -1;
    }
    if (p->o.user != NULL) {
        snprintf(want, sizeof want, "%s:%s", p->user, p->pass);
        auth = strcasestr(head, "\r\nProxy-Authorization: Basic ");
        cred[0] = '\0';
        if (auth != NULL)
            b64dec(auth + 29, cred, sizeof cred);
        if (strcmp(cred, want) != 0) {
            const char *r = "HTTP/1.1 407 Proxy Authentication Required\r\n"
                            "Proxy-Authenticate: Basic realm=\"fp\"\r\n"
                            "Content-Length: 0\r\n\r\n";
            send_all(fd, r, strlen(r));
            return -1;
        }
    }
    if (p->o.http_status != 0) {
        char r[128];
        snprintf(r, sizeof r, "HTTP/1.1 %d Refused by the test\r\n"
                 "Content-Length: 0\r\n\r\n", p->o.http_status);
        send_all(fd, r, strlen(r));
        return -1;
    }
    up = dial(host, port);
    if (up < 0) {
        const char *r = "HTTP/1.1 502 Bad Gateway\r\n\r\n";
        send_all(fd, r, strlen(r));
        return -1;
    }
    send_all(fd, "HTTP/1.1 200 Connection established\r\n\r\n", 39);
    return up;
}

/* SOCKS5; returns the upstream fd, or -1 after answering. */
static int
socks_handshake(fakeproxy *p, int fd)
{
    unsigned char b[600], rep[10] = { 5, 0, 0, 1, 127, 0, 0, 1, 0, 0 };
    char host[256];
    int i, method = 0xFF, port, up;

    if (read_n(fd, b, 2) != 0 || b[0] != 5 || read_n(fd, b + 2, b[1]) != 0)
        return -1;
    for (i = 0; i < b[1]; i++) {
        if (p->o.user == NULL && b[2 + i] == 0)
            method = 0;
        if (p->o.user != NULL && b[2 + i] == 2)
            method = 2;
    }
    b[0] = 5;
    b[1] = (unsigned char)method;
    if (p->o.close_mid_answer) {
        send_all(fd, b, 1);
        return -1;
    }
    send_all(fd, b, 2);
    if (method == 0xFF)
        return -1;
    if (method == 2) {
        char u[256], pw[256];
        int ok;

        if (read_n(fd, b, 2) != 0 || read_n(fd, (unsigned char *)u, b[1]) != 0)
            return -1;
        u[b[1]] = '\0';
        if (read_n(fd, b, 1) != 0 || read_n(fd, (unsigned char *)pw, b[0]) != 0)
            return -1;
        pw[b[0]] = '\0';
        ok = strcmp(u, p->user) == 0 && strcmp(pw, p->pass) == 0;
        b[0] = 1;
        b[1] = ok ? 0 : 1;
        send_all(fd, b, 2);
        if (!ok)
            return -1;
    }
    if (read_n(fd, b, 4) != 0 || b[0] != 5 || b[1] != 1)
        return -1;
    if (b[3] == 1) {
        if (read_n(fd, b, 4) != 0)
            return -1;
        inet_ntop(AF_INET, b, host, sizeof host);
    } else if (b[3] == 4) {
        if (read_n(fd, b, 16) != 0)
            return -1;
        inet_ntop(AF_INET6, b, host, sizeof host);
    } else if (b[3] == 3) {
        if (read_n(fd, b, 1) != 0 || read_n(fd, (unsigned char *)host, b[0]))
            return -1;
        host[b[0]] = '\0';
    } else {
        return -1;
    }
    if (read_n(fd, b, 2) != 0)
        return -1;
    port = b[0] << 8 | b[1];
    set_target(p, host, port);
    if (p->o.socks_rep != 0) {
        rep[1] = (unsigned char)p->o.socks_rep;
        send_all(fd, rep, sizeof rep);
        return -1;
    }
    up = dial(host, port);
    if (up < 0) {
        rep[1] = 5; /* connection refused */
        send_all(fd, rep, sizeof rep);
        return -1;
    }
    send_all(fd, rep, sizeof rep);
    return up;
}

static void *
conn_main(void *arg)
{
    struct fp_conn *c = arg;
    fakeproxy *p = c->p;
    struct timeval tv = { 10, 0 };
    int up;

    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (p->o.close_at_once) {
        shutdown(c->fd, SHUT_RDWR);
        return NULL;
    }
    if (p->o.silent) {
        unsigned char sink[256];

        /* until the client gives up (or fp_stop shuts the socket) */
        tv.tv_sec = 0;
        setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        while (recv(c->fd, sink, sizeof sink, 0) > 0)
            ;
        return NULL;
    }
    up = p->o.kind == FP_HTTP ? http_handshake(p, c->fd)
                              : socks_handshake(p, c->fd);
    if (up < 0) {
        shutdown(c->fd, SHUT_RDWR);
        return NULL;
    }
    pthread_mutex_lock(&p->lock);
    p->tunnels++;
    c->up = up;
    pthread_mutex_unlock(&p->lock);
    tv.tv_sec = 0;
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    relay(c->fd, up);
    shutdown(c->fd, SHUT_RDWR);
    shutdown(up, SHUT_RDWR);
    return NULL;
}

static void *
accept_main(void *arg)
{
    fakeproxy *p = arg;
    struct pollfd pf[2];

    pf[0].fd = p->lfd;
    pf[0].events = POLLIN;
    pf[1].fd = p->stop_pipe[0];
    pf[1].events = POLLIN;
    for (;;) {
        int fd, i;

        if (poll(pf, 2, -1) < 0 && errno != EINTR)
            break;
        if (pf[1].revents)
            break;
        if (!(pf[0].revents & POLLIN))
            continue;
        fd = accept4(p->lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        pthread_mutex_lock(&p->lock);
        p->accepted++;
        for (i = 0; i < FP_MAX_CONN && p->conns[i].used; i++)
            ;
        if (i == FP_MAX_CONN) {
            pthread_mutex_unlock(&p->lock);
            close(fd);
            continue;
        }
        p->conns[i].used = 1;
        p->conns[i].fd = fd;
        p->conns[i].up = -1;
        p->conns[i].p = p;
        if (pthread_create(&p->conns[i].th, NULL, conn_main, &p->conns[i])
            != 0) {
            p->conns[i].used = 0;
            close(fd);
        }
        pthread_mutex_unlock(&p->lock);
    }
    return NULL;
}

fakeproxy *
fp_start(const fp_opts *o)
{
    fakeproxy *p = calloc(1, sizeof *p);
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    int one = 1;

    if (p == NULL)
        return NULL;
    p->o = *o;
    if (o->user != NULL) {
        snprintf(p->user, sizeof p->user, "%s", o->user);
        snprintf(p->pass, sizeof p->pass, "%s", o->pass ? o->pass : "");
        p->o.user = p->user;
        p->o.pass = p->pass;
    }
    pthread_mutex_init(&p->lock, NULL);
    p->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    setsockopt(p->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (p->lfd < 0 || bind(p->lfd, (struct sockaddr *)&a, sizeof a) != 0
        || listen(p->lfd, 16) != 0
        || getsockname(p->lfd, (struct sockaddr *)&a, &len) != 0
        || pipe2(p->stop_pipe, O_CLOEXEC) != 0) {
        perror("fakeproxy");
        if (p->lfd >= 0)
            close(p->lfd);
        free(p);
        return NULL;
    }
    p->port = ntohs(a.sin_port);
    if (pthread_create(&p->acceptor, NULL, accept_main, p) != 0) {
        close(p->lfd);
        close(p->stop_pipe[0]);
        close(p->stop_pipe[1]);
        free(p);
        return NULL;
    }
    return p;
}

int
fp_port(const fakeproxy *p)
{
    return p->port;
}

int
fp_accepted(fakeproxy *p)
{
    int n;

    pthread_mutex_lock(&p->lock);
    n = p->accepted;
    pthread_mutex_unlock(&p->lock);
    return n;
}

int
fp_tunnels(fakeproxy *p)
{
    int n;

    pthread_mutex_lock(&p->lock);
    n = p->tunnels;
    pthread_mutex_unlock(&p->lock);
    return n;
}

void
fp_last_target(fakeproxy *p, char *buf, int len)
{
    pthread_mutex_lock(&p->lock);
    snprintf(buf, (size_t)len, "%s", p->target);
    pthread_mutex_unlock(&p->lock);
}

void
fp_stop(fakeproxy *p)
{
    int i;

    if (p == NULL)
        return;
    (void)!write(p->stop_pipe[1], "x", 1);
    pthread_join(p->acceptor, NULL);
    close(p->lfd);
    pthread_mutex_lock(&p->lock);
    for (i = 0; i < FP_MAX_CONN; i++)
        if (p->conns[i].used) {
            shutdown(p->conns[i].fd, SHUT_RDWR);
            if (p->conns[i].up >= 0)
                shutdown(p->conns[i].up, SHUT_RDWR);
        }
    pthread_mutex_unlock(&p->lock);
    for (i = 0; i < FP_MAX_CONN; i++)
        if (p->conns[i].used) {
            pthread_join(p->conns[i].th, NULL);
            close(p->conns[i].fd);
            if (p->conns[i].up >= 0)
                close(p->conns[i].up);
        }
    close(p->stop_pipe[0]);
    close(p->stop_pipe[1]);
    pthread_mutex_destroy(&p->lock);
    free(p);
}
