/*
 * fakeproxy.h - a small HTTP CONNECT / SOCKS5 proxy for the tests, on a
 * free 127.0.0.1 port: it tunnels to the target it is asked for (which
 * must be on loopback: the tests never reach further), or fails in the
 * ways a real proxy cannot be told to (refusal codes, bad credentials,
 * closing at once or mid-answer). The real-proxy tests use tinyproxy and
 * dante; this one covers auth and faults.
 *
 * Threading: fp_start/fp_stop from the test's thread; the proxy runs an
 * accept thread and a thread per connection, all joined by fp_stop.
 */
#ifndef TP_FAKEPROXY_H
#define TP_FAKEPROXY_H

enum { FP_HTTP = 1, FP_SOCKS5 = 2 };

typedef struct fp_opts {
    int kind;                 /* FP_HTTP or FP_SOCKS5 */
    const char *user, *pass;  /* credentials it demands; NULL: none */
    int http_status;          /* HTTP: answer this (e.g. 403) instead */
    int socks_rep;            /* SOCKS5: answer this reply code instead */
    int close_at_once;        /* accept, then close without a byte */
    int close_mid_answer;     /* send half an answer, then close */
    int silent;               /* read the request, never answer */
} fp_opts;

typedef struct fakeproxy fakeproxy;

/* NULL on failure (message on stderr). */
fakeproxy *fp_start(const fp_opts *o);
int fp_port(const fakeproxy *p);
/* Connections accepted and tunnels opened so far. */
int fp_accepted(fakeproxy *p);
int fp_tunnels(fakeproxy *p);
/* The target of the last request, as the proxy saw it ("host:port"; for
 * SOCKS5 a name when the client sent one, else the address). */
void fp_last_target(fakeproxy *p, char *buf, int len);
/* Stop, close every socket, join the threads, free. NULL is a no-op. */
void fp_stop(fakeproxy *p);

#endif
