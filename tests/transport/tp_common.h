/*
 * tp_common.h - helpers shared by the transport integration tests; see
 * tp_common.c. Threading: the test's main thread only.
 */
#ifndef TP_COMMON_H
#define TP_COMMON_H

#include "integ.h"

#include <stddef.h>

#define FAIL_WAIT_MS 15000 /* a failing connect must end well before this */

/* mosquitto 2.0.11's websockets listener sends to a client at about
 * 40 KB/s (4 KiB per 100 ms main-loop turn), so ws tests use a big size
 * that arrives in about a second. */
#define BIG_STREAM 300000
#define BIG_WS 40000

/* Listeners besides the plain one; L_PSK: TLS-PSK with identity
 * TP_PSK_IDENTITY and key TP_PSK_KEY (no certificate); *12: the same
 * limited to TLS 1.2. */
enum { L_WS = 1, L_TLS = 2, L_MTLS = 4, L_WSS = 8, L_UNIX = 16, L_PSK = 32,
       L_PSK12 = 64, L_TLS12 = 128 };
#define TP_PSK_IDENTITY "libmq-dev"
#define TP_PSK_KEY "3f9c1d2e4a5b6c7d8e9f00112233445566778899aabbccddeeff"

typedef struct {
    mqt_broker *b;
    int plain, ws, tls, mtls, wss, psk, psk12, tls12; /* ports, or 0 */
    char sock[300];
} env_t;

/* The directory of the test's certificates (certs.sh), "" until made. */
extern char certdir[256];

void tp_init(void);
void tp_fini(void);
int free_port(void);
/* <certdir>/<name> in a ring of static buffers. */
const char *certfile(const char *name);
void need_certs(void);
/* A broker with its plain listener plus the listeners in @p which; TLS
 * listeners use <certdir>/<server_cert>.crt/.key (NULL: "server"). */
env_t start_env(int which, const char *server_cert);
/* A client for @p tag with the URI made from @p fmt, no reconnect, an
 * 8 s connect timeout. */
mq_client *client(const char *tag, int proto, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void sopt(mq_client *c, int opt, const char *v);
/* Connect if needed, subscribe, QoS 1 round trips of 5 bytes, 1000 bytes
 * and @p big, disconnect. */
void roundtrip_sized(mq_client *c, const char *tag, size_t big);
void roundtrip(mq_client *c, const char *tag);
void roundtrip_ws(mq_client *c, const char *tag);
/* mq_connect must end in MQ_EVENT_DISCONNECTED (and nothing else first)
 * with @p err or @p alt (MQ_OK: any error) and a message containing one of
 * the '|'-separated @p needles. Returns the message (static). */
const char *expect_fail2(mq_client *c, int err, int alt, const char *needles);
const char *expect_fail(mq_client *c, int err, const char *needles);

#endif
