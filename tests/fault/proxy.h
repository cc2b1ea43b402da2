/*
 * proxy.h - a fault-injection TCP proxy for tests: listens on a free
 * loopback port and forwards each connection to an upstream port (a real
 * mosquitto), packet by packet (it parses MQTT fixed headers), so faults
 * can be placed exactly: cut after N bytes in one direction, cut before or
 * after the n-th packet of a type, truncate that packet half-way and
 * close, stall (stop forwarding, keep the connection open), or delay every
 * chunk, or deliver byte by byte. A fault fires once (or every n-th
 * packet, if asked) and the next connection passes cleanly unless told
 * otherwise. With half-open on, a stalled connection that a new client
 * connection replaces keeps its broker side open (the broker sees a
 * half-open connection until its keepalive or a session takeover).
 *
 * Threading: the proxy runs on its own thread (one live connection at a
 * time: a new client connection replaces the old one). px_* setters and
 * getters are safe from any thread.
 */
#ifndef PROXY_H
#define PROXY_H

typedef struct px px;

enum { PX_C2B = 0, PX_B2C = 1 };   /* client->broker, broker->client */
enum {
    PX_DROP_CLOSE = 1, /* do not forward the packet; close both sides */
    PX_FWD_CLOSE,      /* forward it, then close both sides */
    PX_TRUNC_CLOSE,    /* forward half of it, then close */
    PX_STALL           /* stop forwarding both ways; keep sockets open */
};

px *px_start(int upstream_port);
void px_stop(px *p);
int px_port(px *p);
const char *px_uri(px *p);

/* Fault at the @p nth (1-based, counted over the proxy's life) packet of
 * MQTT type @p type going in @p dir; with every > 0 it fires again at
 * nth + every, nth + 2*every, ... up to @p times in all. */
void px_fault_at_packet(px *p, int dir, int type, int nth, int action,
                        int every, int times);
/* Cut (close both sides) once @p nbytes more bytes went in @p dir; the
 * packet that crosses the limit is forwarded in part. */
void px_cut_after_bytes(px *p, int dir, long nbytes);
/* Sleep @p ms before forwarding each chunk (0: off). */
void px_set_delay(px *p, int ms);
/* Close the live connection now. */
void px_cut_now(px *p);
/* Stall the live connection now (as PX_STALL: swallow both ways, keep the
 * sockets open); it ends when the client reconnects or px_cut_now(). */
void px_stall_now(px *p);
/* Forward every packet one byte per send(), pausing @p us microseconds
 * between bytes (0: off). */
void px_set_trickle_us(px *p, int us);
/* 1: keep the broker side of a stalled connection open when a new client
 * connection replaces it (closed at px_stop; at most 16 kept). */
void px_set_half_open(px *p, int on);
/* Packets of MQTT type @p type seen in @p dir over the proxy's life (the
 * count px_fault_at_packet's nth refers to). */
int px_packet_count(px *p, int dir, int type);

int px_connections(px *p);   /* accepted so far */
int px_faults_fired(px *p);  /* faults that fired */

#endif
