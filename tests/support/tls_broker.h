/*
 * tls_broker.h - test helpers for TLS: make throwaway certificates with
 * tests/support/certs.sh, and run a private mosquitto with one listener
 * (plain, TLS or mutual TLS) on a free loopback port.
 *
 * Threading: call from the test's thread only; nothing here is shared.
 *
 * The certs.sh script is found through $MQ_TEST_CERTS_SH, then the
 * MQT_CERTS_SH compile-time define, then paths derived from this file's
 * __FILE__ (relative to the cwd and to the test executable's directory).
 * mosquitto is found through $MQ_TEST_MOSQUITTO, /usr/sbin/mosquitto, then
 * PATH.
 */
#ifndef MQT_TLS_BROKER_H
#define MQT_TLS_BROKER_H

#include <stddef.h>
#include <sys/types.h>

typedef enum {
    MQT_TLS_LISTENER_PLAIN = 0, /* no TLS */
    MQT_TLS_LISTENER_TLS = 1,   /* server certificate only */
    MQT_TLS_LISTENER_MTLS = 2,  /* require_certificate true */
} mqt_tls_listener;

typedef struct mqt_tls_broker {
    pid_t pid;       /* 0 when not running */
    int port;
    char dir[256];   /* private temp dir: mosquitto.conf, broker.log */
} mqt_tls_broker;

/* Make a fresh temp dir and run certs.sh into it. The dir name goes to
 * @p dir (size @p len). 0 on success, -1 on failure (reason on stderr). */
int mqt_tls_make_certs(char *dir, size_t len);
/* rm -rf a dir made by mqt_tls_make_certs (or any test temp dir). */
void mqt_tls_rmdir(const char *dir);

/* True if a mosquitto binary can be found. */
int mqt_tls_have_mosquitto(void);

/* Start mosquitto on a free 127.0.0.1 port. For TLS listeners the server
 * certificate is <certdir>/<cert>.crt and .key (e.g. "server", "expired",
 * "wronghost"), the CA for client certificates <certdir>/ca.crt. Waits
 * until the port accepts connections. 0 on success, -1 on failure (the
 * broker log is printed to stderr). */
int mqt_tls_broker_start(mqt_tls_broker *b, const char *certdir,
                         const char *cert, mqt_tls_listener kind);
/* SIGTERM the broker by its PID, reap it (SIGKILL after 3 s) and remove
 * its temp dir. Safe to call twice or on a broker that never started. */
void mqt_tls_broker_stop(mqt_tls_broker *b);

#endif /* MQT_TLS_BROKER_H */
