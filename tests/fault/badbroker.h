/*
 * badbroker.h - a scripted fake MQTT broker for fault tests: listens on a
 * free loopback port, and for each accepted connection runs a script (a C
 * function) that reads the client's packets and writes whatever bytes it
 * likes: malformed packets, protocol violations, slow or cut streams. It
 * records what the client sent (packet types, the DISCONNECT reason).
 *
 * Threading: the broker runs on its own thread; scripts run there. The
 * fb_* result getters are safe from any thread.
 */
#ifndef BADBROKER_H
#define BADBROKER_H

#include <stddef.h>
#include <stdint.h>

typedef struct fb fb;

typedef struct fb_pkt {
    uint8_t b0;      /* type << 4 | flags */
    uint8_t *body;   /* malloc'd, len bytes (NULL when 0) */
    size_t len;
} fb_pkt;

/* A script for connection number @p conn (0, 1, ...). Return when done:
 * the connection is then drained (packets recorded) until the client
 * closes it or 5 s pass, and closed. */
typedef void (*fb_script)(fb *b, int conn, int fd, void *ud);

fb *fb_start(fb_script script, void *ud);
/* Stop accepting, close everything, join the thread, free. */
void fb_stop(fb *b);
int fb_port(const fb *b);
const char *fb_uri(const fb *b); /* "mqtt://127.0.0.1:<port>" */

/* Read one packet (up to 16 MiB body). 1: got one, 0: closed or error,
 * -1: timeout. The packet is recorded (see below). Free with fb_pkt_free. */
int fb_recv(fb *b, int fd, fb_pkt *out, int timeout_ms);
void fb_pkt_free(fb_pkt *p);
/* Read the CONNECT; returns its protocol level (4 or 5) or -1. */
int fb_read_connect(fb *b, int fd);
/* Read packets until one of type @p type arrives (1) or not (0). */
int fb_expect(fb *b, int fd, int type, fb_pkt *out, int timeout_ms);
/* Write all bytes (blocking). 0 or -1. */
int fb_send(int fd, const void *data, size_t len);
/* Send a well-formed CONNACK (v5: with an empty property block). */
int fb_send_connack(int fd, int version, int session_present, int rc);

/* ---- results -------------------------------------------------------- */
int fb_connections(fb *b);
/* Reason code of the last DISCONNECT the client sent: -1 none seen;
 * 0x00 for a DISCONNECT without a reason byte (v3.1.1 or short v5). */
int fb_client_disconnect_reason(fb *b);
/* How many packets of @p type the client sent, over all connections. */
int fb_count(fb *b, int type);
/* Wait until the client closed connection @p conn (1) or timeout (0). */
int fb_wait_closed(fb *b, int conn, int timeout_ms);

/* ---- packet building ------------------------------------------------ */
/* Append a fixed header (b0 + varint of len) and the body to out; returns
 * the total size written. out must have len + 5 bytes. */
size_t fb_pack(uint8_t *out, uint8_t b0, const void *body, size_t len);

#endif
