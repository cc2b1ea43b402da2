/*
 * test_badbroker.c - libmq against a misbehaving fake broker (badbroker.c):
 * malformed and protocol-violating packets, oversized and slow streams,
 * early closes. Every case must end in one MQ_EVENT_DISCONNECTED with a
 * sensible error (and, in MQTT 5, a DISCONNECT with the right reason code
 * sent by the client), no crash, no leak, no reconnect when reconnect is
 * off. Plain main(): "test_badbroker CASE" runs one case.
 *
 * Threading: cases run on the main thread; the fake broker on its own.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "badbroker.h"
#include "ft.h"
#include "mq.h"

#define ANYERR 0 /* not an MQ_ERR_*: "any error" */

/* A data-driven scenario: what the broker sends, what the client must
 * report. */
typedef struct scen {
    int version;
    const char *pre;      /* raw bytes before the CONNACK */
    size_t npre;
    int connack;          /* 1: send CONNACK (accepted) after pre */
    const char *post;     /* raw bytes after the CONNACK */
    size_t npost;
    int byte_delay_ms;    /* >0: write post one byte at a time */
    int close_after;      /* 1: close right after sending */
    /* client options */
    int max_packet;       /* MQ_OPT_MAX_PACKET_SIZE, 0 default */
    int connect_timeout;  /* ms, 0: 4000 */
    int keepalive;        /* s, 0: 60 */
    /* expectations */
    int err1, err2;       /* allowed MQ_EVENT_DISCONNECTED errors */
    int v5_reason;        /* DISCONNECT reason the client sends, -1 none */
    int min_pingreq;      /* PINGREQs the broker must have seen */
} scen;

static void
scen_script(fb *b, int conn, int fd, void *ud)
{
    const scen *s = ud;
    size_t i;

    (void)conn;
    if (s->pre == NULL && !s->connack && s->close_after) {
        shutdown(fd, SHUT_RDWR); /* close right after accept */
        return;
    }
    if (fb_read_connect(b, fd) < 0)
        return;
    if (s->pre != NULL && fb_send(fd, s->pre, s->npre) != 0)
        return;
    if (s->connack && fb_send_connack(fd, s->version, 0, 0) != 0)
        return;
    if (s->post != NULL) {
        if (s->byte_delay_ms > 0) {
            for (i = 0; i < s->npost; i++) {
                if (fb_send(fd, s->post + i, 1) != 0)
                    return;
                usleep((useconds_t)s->byte_delay_ms * 1000);
            }
        } else if (fb_send(fd, s->post, s->npost) != 0) {
            return;
        }
    }
    if (s->close_after)
        shutdown(fd, SHUT_WR);
}

static mq_client *
mkclient(fb *b, int version, const scen *s)
{
    mq_client *c = mq_client_new("badbroker-test", version);

    FT_CHECK(c != NULL, "mq_client_new");
    FT_CHECK(mq_set_server(c, fb_uri(b)) == MQ_OK, "set_server");
    FT_CHECK(mq_set_int(c, MQ_OPT_RECONNECT, 0) == MQ_OK, "reconnect");
    FT_CHECK(mq_set_int(c, MQ_OPT_CONNECT_TIMEOUT_MS,
                        s && s->connect_timeout ? s->connect_timeout : 4000) ==
                 MQ_OK, "timeout");
    if (s && s->max_packet)
        FT_CHECK(mq_set_int(c, MQ_OPT_MAX_PACKET_SIZE, s->max_packet) ==
                     MQ_OK, "max packet");
    if (s && s->keepalive)
        FT_CHECK(mq_set_int(c, MQ_OPT_KEEPALIVE_S, s->keepalive) == MQ_OK,
                 "keepalive");
    return c;
}

/* Wait for DISCONNECTED, check the error, the client's DISCONNECT reason,
 * no reconnect; destroy everything. */
static void
finish(fb *b, mq_client *c, const scen *s, int wait_ms)
{
    mq_event *ev = ft_wait(c, MQ_EVENT_DISCONNECTED, wait_ms);
    int err, r;

    FT_CHECK(ev != NULL, "no DISCONNECTED event within %d ms", wait_ms);
    err = mq_event_error(ev);
    printf("  DISCONNECTED error=%s reason=0x%02x will_reconnect=%d msg=%s\n",
           mq_err_name(err), mq_event_reason(ev),
           mq_event_will_reconnect(ev),
           mq_event_message(ev) ? mq_event_message(ev) : "(null)");
    FT_CHECK(mq_event_message(ev) != NULL && mq_event_message(ev)[0] != '\0',
             "no human-readable cause");
    if (s->err1 != ANYERR)
        FT_CHECK(err == s->err1 || err == s->err2,
                 "error %s, expected %s or %s", mq_err_name(err),
                 mq_err_name(s->err1), mq_err_name(s->err2));
    else
        FT_CHECK(err != MQ_OK, "error MQ_OK for a fault");
    FT_CHECK(mq_event_will_reconnect(ev) == 0, "will_reconnect with "
             "reconnect off");
    mq_event_free(ev);
    FT_CHECK(mq_is_connected(c) == 0, "still connected");
    FT_CHECK(fb_wait_closed(b, 0, 6000), "client did not close the socket");
    r = fb_client_disconnect_reason(b);
    if (s->version == 5 && s->v5_reason >= 0)
        FT_CHECK(r == s->v5_reason, "client DISCONNECT reason 0x%02x, "
                 "expected 0x%02x", r, s->v5_reason);
    if (s->v5_reason < 0 || s->version != 5)
        printf("  client DISCONNECT reason seen by broker: %d\n", r);
    /* no reconnect, no more events of interest */
    ft_sleep_ms(300);
    FT_CHECK(fb_connections(b) == 1, "%d connections with reconnect off",
             fb_connections(b));
    ev = ft_wait(c, MQ_EVENT_DISCONNECTED, 200);
    FT_CHECK(ev == NULL, "a second DISCONNECTED event");
    FT_CHECK(fb_count(b, 12) >= s->min_pingreq, "%d PINGREQ, expected %d",
             fb_count(b, 12), s->min_pingreq);
    mq_client_destroy(c);
    fb_stop(b);
}

static void
run_scen(scen *s)
{
    fb *b = fb_start(scen_script, s);
    mq_client *c;

    FT_CHECK(b != NULL, "fb_start");
    c = mkclient(b, s->version, s);
    FT_CHECK(mq_connect(c) == MQ_OK, "connect");
    finish(b, c, s, 15000);
}

#define B(lit) lit, sizeof(lit) - 1

/* ---- the cases ------------------------------------------------------ */

/* Remaining length with a 5th byte. */
static void c_bad_remlen_v3(void)
{ scen s = {.version = 4, .connack = 1, .post = B("\x30\xff\xff\xff\xff\x01"),
    .err1 = MQ_ERR_MALFORMED, .v5_reason = -1}; run_scen(&s); }
static void c_bad_remlen_v5(void)
{ scen s = {.version = 5, .connack = 1, .post = B("\x30\xff\xff\xff\xff\x01"),
    .err1 = MQ_ERR_MALFORMED, .v5_reason = 0x81}; run_scen(&s); }
/* "300 MB": cannot be encoded in 4 bytes; announced with 5 -> malformed. */
static void c_remlen_300mb_v5(void)
{ scen s = {.version = 5, .connack = 1, .post = B("\x30\x80\x80\x80\x80\x01"),
    .err1 = MQ_ERR_MALFORMED, .v5_reason = 0x81}; run_scen(&s); }
/* Remaining length shorter than the content needs. */
static void c_short_remlen_v5(void)
{ scen s = {.version = 5, .connack = 1, .post = B("\x40\x01\x00"),
    .err1 = MQ_ERR_MALFORMED, .v5_reason = 0x81}; run_scen(&s); }
/* Bad UTF-8 (overlong '/') in a PUBLISH topic. */
static void c_bad_utf8_v3(void)
{ scen s = {.version = 4, .connack = 1,
    .post = B("\x30\x06\x00\x03\x61\xc0\xafx"),
    .err1 = MQ_ERR_MALFORMED, .err2 = MQ_ERR_PROTOCOL, .v5_reason = -1};
  run_scen(&s); }
static void c_bad_utf8_v5(void)
{ scen s = {.version = 5, .connack = 1,
    .post = B("\x30\x07\x00\x03\x61\xc0\xaf\x00x"),
    .err1 = MQ_ERR_MALFORMED, .v5_reason = 0x81}; run_scen(&s); }
/* U+0000 in a topic. */
static void c_nul_in_topic_v5(void)
{ scen s = {.version = 5, .connack = 1,
    .post = B("\x30\x06\x00\x02\x61\x00\x00x"),
    .err1 = MQ_ERR_MALFORMED, .v5_reason = 0x81}; run_scen(&s); }
/* Packet type 0 (reserved). */
static void c_unknown_type_v3(void)
{ scen s = {.version = 4, .connack = 1, .post = B("\x00\x00"),
    .err1 = MQ_ERR_MALFORMED, .v5_reason = -1}; run_scen(&s); }
static void c_unknown_type_v5(void)
{ scen s = {.version = 5, .connack = 1, .post = B("\x00\x00"),
    .err1 = MQ_ERR_MALFORMED, .v5_reason = 0x81}; run_scen(&s); }
/* AUTH does not exist in 3.1.1. */
static void c_auth_on_v3(void)
{ scen s = {.version = 4, .connack = 1, .post = B("\xf0\x00"),
    .err1 = MQ_ERR_MALFORMED, .v5_reason = -1}; run_scen(&s); }
/* Packets a client must never receive. */
static void c_subscribe_to_client_v5(void)
{ scen s = {.version = 5, .connack = 1,
    .post = B("\x82\x07\x00\x01\x00\x00\x01\x61\x00"),
    .err1 = MQ_ERR_PROTOCOL, .v5_reason = 0x82}; run_scen(&s); }
static void c_pingreq_to_client_v3(void)
{ scen s = {.version = 4, .connack = 1, .post = B("\xc0\x00"),
    .err1 = MQ_ERR_PROTOCOL, .v5_reason = -1}; run_scen(&s); }
/* Reserved flags set. */
static void c_bad_flags_v5(void)
{ scen s = {.version = 5, .connack = 1, .post = B("\x41\x02\x00\x01"),
    .err1 = MQ_ERR_MALFORMED, .v5_reason = 0x81}; run_scen(&s); }
/* Duplicate single-valued property in CONNACK (Receive Maximum twice). */
static void c_dup_props_connack_v5(void)
{ scen s = {.version = 5,
    .pre = B("\x20\x09\x00\x00\x06\x21\x00\x05\x21\x00\x06"),
    .err1 = MQ_ERR_PROTOCOL, .v5_reason = 0x82}; run_scen(&s); }
/* Duplicate property in a PUBLISH (Content Type twice). */
static void c_dup_props_publish_v5(void)
{ scen s = {.version = 5, .connack = 1,
    .post = B("\x30\x0d\x00\x01t\x08\x03\x00\x01x\x03\x00\x01yP"),
    .err1 = MQ_ERR_PROTOCOL, .v5_reason = 0x82}; run_scen(&s); }
/* Receive Maximum 0 is a protocol error. */
static void c_recvmax0_v5(void)
{ scen s = {.version = 5, .pre = B("\x20\x06\x00\x00\x03\x21\x00\x00"),
    .err1 = MQ_ERR_PROTOCOL, .v5_reason = 0x82}; run_scen(&s); }
/* Unknown property id. */
static void c_unknown_prop_v5(void)
{ scen s = {.version = 5, .pre = B("\x20\x05\x00\x00\x02\x7f\x00"),
    .err1 = MQ_ERR_MALFORMED, .err2 = MQ_ERR_PROTOCOL, .v5_reason = 0x81};
  run_scen(&s); }
/* Property length past the end of the packet. */
static void c_props_overrun_v5(void)
{ scen s = {.version = 5, .pre = B("\x20\x04\x00\x00\x09\x21"),
    .err1 = MQ_ERR_MALFORMED, .v5_reason = 0x81}; run_scen(&s); }
/* Packet id 0 in a QoS 1 PUBLISH, and in a PUBACK. */
static void c_pid0_publish_v3(void)
{ scen s = {.version = 4, .connack = 1, .post = B("\x32\x06\x00\x01t\x00\x00x"),
    .err1 = MQ_ERR_PROTOCOL, .v5_reason = -1}; run_scen(&s); }
static void c_pid0_publish_v5(void)
{ scen s = {.version = 5, .connack = 1,
    .post = B("\x32\x07\x00\x01t\x00\x00\x00x"),
    .err1 = MQ_ERR_PROTOCOL, .v5_reason = 0x82}; run_scen(&s); }
static void c_pid0_puback_v5(void)
{ scen s = {.version = 5, .connack = 1, .post = B("\x40\x02\x00\x00"),
    .err1 = MQ_ERR_PROTOCOL, .v5_reason = 0x82}; run_scen(&s); }
/* QoS 3. */
static void c_qos3_v3(void)
{ scen s = {.version = 4, .connack = 1, .post = B("\x36\x06\x00\x01t\x00\x01x"),
    .err1 = MQ_ERR_MALFORMED, .v5_reason = -1}; run_scen(&s); }
static void c_qos3_v5(void)
{ scen s = {.version = 5, .connack = 1,
    .post = B("\x36\x07\x00\x01t\x00\x01\x00x"),
    .err1 = MQ_ERR_MALFORMED, .v5_reason = 0x81}; run_scen(&s); }
/* A packet over MQ_OPT_MAX_PACKET_SIZE (1024): 2000-byte PUBLISH header. */
static void c_oversized_v3(void)
{ scen s = {.version = 4, .connack = 1, .post = B("\x30\xd0\x0f\x00\x01t"),
    .max_packet = 1024, .err1 = MQ_ERR_TOO_LARGE, .v5_reason = -1};
  run_scen(&s); }
static void c_oversized_v5(void)
{ scen s = {.version = 5, .connack = 1, .post = B("\x30\xd0\x0f\x00\x01t"),
    .max_packet = 1024, .err1 = MQ_ERR_TOO_LARGE, .v5_reason = 0x95};
  run_scen(&s); }
/* CONNACK twice. */
static void c_connack_twice_v3(void)
{ scen s = {.version = 4, .connack = 1, .post = B("\x20\x02\x00\x00"),
    .err1 = MQ_ERR_PROTOCOL, .v5_reason = -1}; run_scen(&s); }
static void c_connack_twice_v5(void)
{ scen s = {.version = 5, .connack = 1, .post = B("\x20\x03\x00\x00\x00"),
    .err1 = MQ_ERR_PROTOCOL, .v5_reason = 0x82}; run_scen(&s); }
/* CONNACK with a reason code that does not exist. */
static void c_connack_bad_rc_v3(void)
{ scen s = {.version = 4, .pre = B("\x20\x02\x00\x06"),
    .err1 = MQ_ERR_MALFORMED, .err2 = MQ_ERR_PROTOCOL, .v5_reason = -1};
  run_scen(&s); }
static void c_connack_bad_rc_v5(void)
{ scen s = {.version = 5, .pre = B("\x20\x03\x00\x05\x00"),
    .err1 = MQ_ERR_PROTOCOL, .v5_reason = 0x82}; run_scen(&s); }
/* Session Present with a refusal. */
static void c_connack_sp_refused_v5(void)
{ scen s = {.version = 5, .pre = B("\x20\x03\x01\x87\x00"),
    .err1 = MQ_ERR_PROTOCOL, .v5_reason = 0x82}; run_scen(&s); }
/* A proper refusal is not a fault: MQ_ERR_REFUSED with the reason. */
static void c_connack_refused_v3(void)
{ scen s = {.version = 4, .pre = B("\x20\x02\x00\x05"),
    .err1 = MQ_ERR_REFUSED, .v5_reason = -1}; run_scen(&s); }
/* A PUBLISH before the CONNACK. */
static void c_before_connack_v3(void)
{ scen s = {.version = 4, .pre = B("\x30\x04\x00\x01tx"),
    .err1 = MQ_ERR_PROTOCOL, .v5_reason = -1}; run_scen(&s); }
static void c_before_connack_v5(void)
{ scen s = {.version = 5, .pre = B("\x30\x05\x00\x01t\x00x"),
    .err1 = MQ_ERR_PROTOCOL, .v5_reason = 0x82}; run_scen(&s); }
/* CONNACK one byte per second: the connect timeout (1.5 s) fires. */
static void c_slowloris_connack_v5(void)
{ scen s = {.version = 5, .post = B("\x20\x03\x00\x00\x00"),
    .byte_delay_ms = 1000, .connect_timeout = 1500,
    .err1 = MQ_ERR_TIMEOUT, .v5_reason = -1}; run_scen(&s); }
/* Garbage: an HTTP answer instead of MQTT. */
static void c_garbage_v3(void)
{ scen s = {.version = 4, .pre = B("HTTP/1.1 400 Bad Request\r\n\r\n"),
    .err1 = ANYERR, .v5_reason = -1}; run_scen(&s); }
static void c_garbage_after_connack_v5(void)
{ scen s = {.version = 5, .connack = 1,
    .post = B("\xde\xad\xbe\xef\x00\x11\x22\x33\x44\x55\x66\x77"),
    .close_after = 1, .err1 = ANYERR, .v5_reason = -1};
  run_scen(&s); }
/* A PINGRESP (or PUBACK) announcing a body it cannot have: the fixed
 * header alone proves the packet malformed, so the client should not wait
 * for (and buffer) 256 MB first. */
static void c_pingresp_huge_v5(void)
{ scen s = {.version = 5, .connack = 1, .post = B("\xd0\xff\xff\xff\x7f"),
    .err1 = MQ_ERR_MALFORMED, .v5_reason = 0x81, .connect_timeout = 3000};
  run_scen(&s); }
/* Non-minimal remaining length (MQTT 5 1.5.5: minimum number of bytes).
 */
static void c_nonminimal_remlen_v5(void)
{ scen s = {.version = 5, .connack = 1, .post = B("\xd0\x80\x00"),
    .err1 = MQ_ERR_MALFORMED, .v5_reason = 0x81}; run_scen(&s); }
/* Close right after accept (before reading CONNECT). */
static void c_close_after_accept_v3(void)
{ scen s = {.version = 4, .close_after = 1,
    .err1 = MQ_ERR_CLOSED, .err2 = MQ_ERR_IO, .v5_reason = -1};
  run_scen(&s); }
/* Close in the middle of a packet. */
static void c_truncated_then_close_v5(void)
{ scen s = {.version = 5, .connack = 1,
    .post = B("\x30\x20\x00\x05hello"), .close_after = 1,
    .err1 = MQ_ERR_CLOSED, .err2 = MQ_ERR_IO, .v5_reason = -1};
  run_scen(&s); }
/* Topic alias above our maximum (0). */
static void c_bad_topic_alias_v5(void)
{ scen s = {.version = 5, .connack = 1,
    .post = B("\x30\x07\x00\x00\x03\x23\x00\x01x"),
    .err1 = MQ_ERR_PROTOCOL, .v5_reason = 0x94}; run_scen(&s); }
/* A well-behaved broker using topic aliases (MQTT 5 §3.3.2.3.4): the first
 * PUBLISH sets alias 1 = "a/b", the second sends only the alias. With
 * MQ_OPT_TOPIC_ALIAS_MAXIMUM both arrive as messages on "a/b", and the
 * connection stays up. */
static void
c_topic_alias_ok_v5(void)
{
    scen s = {.version = 5, .connack = 1,
              .post = B("\x30\x0a\x00\x03" "a/b" "\x03\x23\x00\x01" "x"
                        "\x30\x07\x00\x00\x03\x23\x00\x01" "y")};
    fb *b = fb_start(scen_script, &s);
    mq_client *c = mkclient(b, 5, &s);
    const char *want = "xy";
    mq_event *ev;
    int i;

    FT_CHECK(mq_set_int(c, MQ_OPT_TOPIC_ALIAS_MAXIMUM, 5) == MQ_OK, "alias max");
    FT_CHECK(mq_connect(c) == MQ_OK, "connect");
    for (i = 0; i < 2; i++) {
        size_t len;
        const char *p;
        ev = ft_wait(c, MQ_EVENT_MESSAGE, 5000);
        FT_CHECK(ev != NULL, "message %d missing", i);
        p = mq_event_payload(ev, &len);
        FT_CHECK(strcmp(mq_event_topic(ev), "a/b") == 0, "topic %s",
                 mq_event_topic(ev));
        FT_CHECK(len == 1 && p[0] == want[i], "payload %d", i);
        mq_event_free(ev);
    }
    FT_CHECK(mq_is_connected(c), "aliases ended the connection");
    mq_client_destroy(c);
    fb_stop(b);
}
/* Broker DISCONNECT with a reason and a reason string. */
static void c_broker_disconnect_v5(void)
{ scen s = {.version = 5, .connack = 1,
    .post = B("\xe0\x09\x8b\x07\x1f\x00\x04" "bye!"),
    .err1 = MQ_ERR_CLOSED, .v5_reason = -1}; run_scen(&s); }

/* ---- scripted cases --------------------------------------------------- */

/* SUBACK with two codes for a one-filter SUBSCRIBE. */
static void
s_suback_mismatch(fb *b, int conn, int fd, void *ud)
{
    scen *s = ud;
    fb_pkt p;
    uint8_t out[16], body[8];
    size_t n = 0;

    (void)conn;
    if (fb_read_connect(b, fd) < 0 || fb_send_connack(fd, s->version, 0, 0))
        return;
    if (!fb_expect(b, fd, 8, &p, 5000))
        return;
    body[n++] = p.body[0];
    body[n++] = p.body[1];
    if (s->version == 5)
        body[n++] = 0;
    body[n++] = 1;
    body[n++] = 1;
    fb_pkt_free(&p);
    fb_send(fd, out, fb_pack(out, 0x90, body, n));
}

static void
suback_mismatch(int version)
{
    scen s = {.version = version, .err1 = MQ_ERR_PROTOCOL, .v5_reason = 0x82};
    fb *b = fb_start(s_suback_mismatch, &s);
    mq_client *c = mkclient(b, version, &s);
    mq_event *ev;

    FT_CHECK(mq_connect(c) == MQ_OK, "connect");
    ev = ft_wait(c, MQ_EVENT_CONNECT, 5000);
    FT_CHECK(ev != NULL, "no CONNECT");
    mq_event_free(ev);
    FT_CHECK(mq_subscribe(c, "a/b", 1) > 0, "subscribe");
    finish(b, c, &s, 10000);
}
static void c_suback_mismatch_v3(void) { suback_mismatch(4); }
static void c_suback_mismatch_v5(void) { suback_mismatch(5); }

/* PUBACK / PUBCOMP / SUBACK for ids never used: ignored (logged), the
 * connection stays up and a real publish still completes. */
static void
s_unknown_ids(fb *b, int conn, int fd, void *ud)
{
    scen *s = ud;
    fb_pkt p;
    uint8_t out[16];

    (void)conn;
    if (fb_read_connect(b, fd) < 0 || fb_send_connack(fd, s->version, 0, 0))
        return;
    fb_send(fd, "\x40\x02\x00\x4d", 4);          /* PUBACK 77 */
    fb_send(fd, "\x70\x02\x01\x00", 4);          /* PUBCOMP 256 */
    fb_send(fd, "\x50\x02\x00\x09", 4);          /* PUBREC 9 -> PUBREL */
    fb_send(fd, "\x62\x02\x00\x0a", 4);          /* PUBREL 10 -> PUBCOMP */
    if (s->version == 5)
        fb_send(fd, "\x90\x04\x00\x63\x00\x00", 6); /* SUBACK 99 */
    else
        fb_send(fd, "\x90\x03\x00\x63\x00", 5);
    if (!fb_expect(b, fd, 3, &p, 5000))
        return;
    /* ack the real publish */
    {
        size_t tl = (size_t)p.body[0] << 8 | p.body[1];
        uint8_t ack[2] = {p.body[2 + tl], p.body[3 + tl]};
        fb_send(fd, out, fb_pack(out, 0x40, ack, 2));
    }
    fb_pkt_free(&p);
    usleep(300 * 1000);
    fb_send(fd, "", 0);
}

static void
unknown_ids(int version)
{
    scen s = {.version = version};
    fb *b = fb_start(s_unknown_ids, &s);
    mq_client *c = mkclient(b, version, &s);
    mq_event *ev;
    int tok;

    FT_CHECK(mq_connect(c) == MQ_OK, "connect");
    ev = ft_wait(c, MQ_EVENT_CONNECT, 5000);
    FT_CHECK(ev != NULL, "no CONNECT");
    mq_event_free(ev);
    tok = mq_publish(c, "t/x", "hi", 2, 1, 0);
    FT_CHECK(tok > 0, "publish %d", tok);
    ev = ft_wait(c, MQ_EVENT_PUBLISHED, 5000);
    FT_CHECK(ev != NULL, "publish did not complete");
    FT_CHECK(mq_event_token(ev) == tok && mq_event_error(ev) == MQ_OK,
             "token %d err %s", mq_event_token(ev),
             mq_err_name(mq_event_error(ev)));
    mq_event_free(ev);
    FT_CHECK(mq_is_connected(c), "disconnected by unknown ids");
    /* the fake broker reads our answers on its own thread: give it time */
    for (int i = 0; i < 200 && (fb_count(b, 6) < 1 || fb_count(b, 7) < 1); i++)
        usleep(10 * 1000);
    FT_CHECK(fb_count(b, 6) >= 1, "no PUBREL answer to an unknown PUBREC");
    FT_CHECK(fb_count(b, 7) >= 1, "no PUBCOMP answer to PUBREL");
    mq_client_destroy(c);
    fb_stop(b);
}
static void c_unknown_ids_v3(void) { unknown_ids(4); }
static void c_unknown_ids_v5(void) { unknown_ids(5); }

/* A broker that downgrades QoS 2 (RabbitMQ 3.10, see tests/brokers)
 * answers a QoS 2 PUBLISH with PUBACK: the publish completes (it used to
 * stay in flight for ever, with no event) and the connection stays up. */
static void
s_qos2_puback(fb *b, int conn, int fd, void *ud)
{
    scen *s = ud;
    fb_pkt p;
    uint8_t out[16];

    (void)conn;
    if (fb_read_connect(b, fd) < 0 || fb_send_connack(fd, s->version, 0, 0))
        return;
    if (!fb_expect(b, fd, 3, &p, 5000))
        return;
    {
        size_t tl = (size_t)p.body[0] << 8 | p.body[1];
        uint8_t ack[2] = {p.body[2 + tl], p.body[3 + tl]};
        fb_send(fd, out, fb_pack(out, 0x40, ack, 2));
    }
    fb_pkt_free(&p);
    usleep(300 * 1000);
}

static void
c_qos2_puback_v3(void)
{
    scen s = {.version = 4};
    fb *b = fb_start(s_qos2_puback, &s);
    mq_client *c = mkclient(b, 4, &s);
    mq_event *ev;
    int tok;

    FT_CHECK(mq_connect(c) == MQ_OK, "connect");
    ev = ft_wait(c, MQ_EVENT_CONNECT, 5000);
    FT_CHECK(ev != NULL, "no CONNECT");
    mq_event_free(ev);
    tok = mq_publish(c, "t/x", "hi", 2, 2, 0);
    FT_CHECK(tok > 0, "publish %d", tok);
    ev = ft_wait(c, MQ_EVENT_PUBLISHED, 5000);
    FT_CHECK(ev != NULL, "QoS 2 publish answered by PUBACK never completed");
    /* Issue 13 item 3: a PUBACK for a QoS 2 message is a protocol error;
     * the message completes with that error (it is not resent, so no
     * reconnect loop) and the connection is closed. */
    FT_CHECK(mq_event_token(ev) == tok &&
                 mq_event_error(ev) == MQ_ERR_PROTOCOL,
             "token %d err %s", mq_event_token(ev),
             mq_err_name(mq_event_error(ev)));
    mq_event_free(ev);
    FT_CHECK(fb_count(b, 6) == 0, "sent a PUBREL after a PUBACK");
    mq_client_destroy(c);
    fb_stop(b);
}

/* Inbound QoS 2: the same packet id resent (DUP) before PUBREL must not
 * deliver twice; after PUBREL/PUBCOMP the id may carry a new message. */
static void
s_qos2_dup(fb *b, int conn, int fd, void *ud)
{
    scen *s = ud;
    fb_pkt p;
    const char *m1 = s->version == 5 ? "\x34\x08\x00\x01q\x00\x05\x00" "A1"
                                     : "\x34\x07\x00\x01q\x00\x05" "A1";
    const char *m1d = s->version == 5 ? "\x3c\x08\x00\x01q\x00\x05\x00" "A1"
                                      : "\x3c\x07\x00\x01q\x00\x05" "A1";
    const char *m2 = s->version == 5 ? "\x34\x08\x00\x01q\x00\x05\x00" "B2"
                                     : "\x34\x07\x00\x01q\x00\x05" "B2";
    size_t n = s->version == 5 ? 10 : 9;

    (void)conn;
    if (fb_read_connect(b, fd) < 0 || fb_send_connack(fd, s->version, 0, 0))
        return;
    fb_send(fd, m1, n);
    if (!fb_expect(b, fd, 5, NULL, 5000))
        return;
    fb_send(fd, m1d, n); /* resend: PUBREC again, no new delivery */
    if (!fb_expect(b, fd, 5, NULL, 5000))
        return;
    fb_send(fd, "\x62\x02\x00\x05", 4);
    if (!fb_expect(b, fd, 7, NULL, 5000))
        return;
    fb_send(fd, m2, n); /* id 5 again, a new message */
    if (!fb_expect(b, fd, 5, NULL, 5000))
        return;
    fb_send(fd, "\x62\x02\x00\x05", 4);
    if (!fb_expect(b, fd, 7, &p, 5000))
        return;
    fb_pkt_free(&p);
}

static void
qos2_dup(int version)
{
    scen s = {.version = version};
    fb *b = fb_start(s_qos2_dup, &s);
    mq_client *c = mkclient(b, version, &s);
    mq_event *ev;
    int got = 0;
    char seen[8] = "";

    FT_CHECK(mq_connect(c) == MQ_OK, "connect");
    while ((ev = ft_wait(c, MQ_EVENT_MESSAGE, 3000)) != NULL) {
        size_t len;
        const char *pl = mq_event_payload(ev, &len);
        if (got < 3 && len == 2)
            memcpy(seen + 2 * got, pl, 2);
        got++;
        mq_event_free(ev);
    }
    FT_CHECK(got == 2 && strcmp(seen, "A1B2") == 0,
             "%d deliveries (%s), expected A1 then B2 once each", got, seen);
    FT_CHECK(fb_count(b, 7) == 2, "%d PUBCOMP", fb_count(b, 7));
    mq_client_destroy(c);
    fb_stop(b);
}
static void c_qos2_dup_v3(void) { qos2_dup(4); }
static void c_qos2_dup_v5(void) { qos2_dup(5); }

/* ---- inbound QoS 2 exactly once across a lost connection ------------ */

/* One QoS 2 message (packet id 5) on connection 0, the connection lost,
 * and the broker's resend (DUP 1) on connection 1 with the session kept,
 * for every order of "the application frees the event" and "the PUBREC
 * reaches the broker" (MQTT 5 §4.3.3, [MQTT-4.3.3-10]): delivered once,
 * PUBREC'd only once the application freed the event. The last mode is
 * the other side of the rule: after PUBREL and PUBCOMP the flow is over,
 * and a PUBLISH with the id is a new message ([MQTT-4.3.3-12]), also when
 * a broker sends it with DUP 1 against [MQTT-4.3.3-6] (mosquitto 2.0.11
 * after back-to-back cuts, tests/fault/README.md): delivered again. */
enum {
    Q2_HELD,        /* the application holds the event over the drop and
                       past the resend */
    Q2_FREED_GAP,   /* freed while there is no connection */
    Q2_PUBREC_LOST, /* freed at once; the PUBREC dies with connection 0 */
    Q2_AFTER_COMP   /* PUBREL/PUBCOMP done on connection 0 */
};

typedef struct q2scen {
    int version, mode;
    atomic_int got;         /* main: the first MESSAGE arrived */
    atomic_int freed;       /* main: its event was freed */
    atomic_int resent;      /* broker: DUP 1 resend written */
    atomic_int rec_early;   /* broker: PUBREC before the event was freed */
    atomic_int done;        /* broker: PUBCOMP for the last flow */
} q2scen;

static int
q2_poll(atomic_int *flag, int timeout_ms)
{
    long long until = ft_now_ms() + timeout_ms;

    while (!atomic_load(flag)) {
        if (ft_now_ms() > until)
            return 0;
        ft_sleep_ms(5);
    }
    return 1;
}

/* PUBLISH QoS 2, packet id 5, topic "q", payload "A1", DUP as given. */
static int
q2_send_publish(int fd, int version, int dup)
{
    uint8_t p[16];
    size_t n = 0;

    p[n++] = (uint8_t)(0x34 | (dup ? 0x08 : 0));
    p[n++] = version == 5 ? 8 : 7;
    memcpy(p + n, "\x00\x01q\x00\x05", 5);
    n += 5;
    if (version == 5)
        p[n++] = 0; /* no properties */
    memcpy(p + n, "A1", 2);
    return fb_send(fd, p, n + 2);
}

/* PUBREL 5, then its PUBCOMP (PUBRECs before it are skipped). */
static int
q2_release(fb *b, int fd)
{
    return fb_send(fd, "\x62\x02\x00\x05", 4) == 0 &&
           fb_expect(b, fd, 7, NULL, 15000) == 1;
}

static void
s_q2_drop(fb *b, int conn, int fd, void *ud)
{
    q2scen *s = ud;

    if (fb_read_connect(b, fd) < 0)
        return;
    if (conn == 0) {
        if (fb_send_connack(fd, s->version, 0, 0) != 0 ||
            q2_send_publish(fd, s->version, 0) != 0)
            return;
        if (s->mode == Q2_HELD || s->mode == Q2_FREED_GAP) {
            q2_poll(&s->got, 15000); /* delivered, not freed: drop */
        } else {
            if (fb_expect(b, fd, 5, NULL, 15000) != 1)
                return;
            if (s->mode == Q2_AFTER_COMP && !q2_release(b, fd))
                return;
        }
        shutdown(fd, SHUT_RDWR);
        return;
    }
    if (conn != 1)
        return;
    if (s->mode == Q2_FREED_GAP)
        q2_poll(&s->freed, 15000); /* freed before the CONNACK */
    if (fb_send_connack(fd, s->version, 1, 0) != 0 ||
        q2_send_publish(fd, s->version, 1) != 0)
        return;
    atomic_store(&s->resent, 1);
    if (fb_expect(b, fd, 5, NULL, 15000) != 1)
        return;
    if (!atomic_load(&s->freed))
        atomic_store(&s->rec_early, 1);
    if (q2_release(b, fd))
        atomic_store(&s->done, 1);
}

/* Events until @p timeout_ms pass: MESSAGE events are kept (not freed:
 * freeing acknowledges) in held[], the others counted and freed. */
static void
q2_pump(mq_client *c, int timeout_ms, mq_event **held, int *nheld,
        int *connects, int *discs)
{
    long long until = ft_now_ms() + timeout_ms;
    mq_event *ev;

    for (;;) {
        long long left = until - ft_now_ms();
        if (left <= 0 || (ev = mq_next_event(c, (int)left)) == NULL)
            return;
        switch (mq_event_type(ev)) {
        case MQ_EVENT_MESSAGE:
            FT_CHECK(*nheld < 4, "more than 4 deliveries");
            held[(*nheld)++] = ev;
            continue;
        case MQ_EVENT_CONNECT:
            (*connects)++;
            break;
        case MQ_EVENT_DISCONNECTED:
            (*discs)++;
            break;
        }
        mq_event_free(ev);
        if (*nheld > 0 && (*connects > 1 || *discs > 0))
            return; /* something for the caller to look at */
    }
}

static void
q2_drop(int version, int mode)
{
    q2scen s = {.version = version, .mode = mode};
    fb *b = fb_start(s_q2_drop, &s);
    mq_client *c;
    mq_event *held[4];
    int nheld = 0, nfreed = 1, connects = 0, discs = 0, dup2 = -1, pid2 = -1;
    int want = mode == Q2_AFTER_COMP ? 2 : 1;
    long long until;

    FT_CHECK(b != NULL, "fb_start");
    c = mq_client_new("badbroker-q2drop", version);
    FT_CHECK(c != NULL, "client");
    FT_CHECK(mq_set_server(c, fb_uri(b)) == MQ_OK, "server");
    FT_CHECK(mq_set_int(c, MQ_OPT_CLEAN_START, 0) == MQ_OK, "clean");
    if (version == 5)
        FT_CHECK(mq_set_int(c, MQ_OPT_SESSION_EXPIRY_S, 600) == MQ_OK, "se");
    FT_CHECK(mq_set_int(c, MQ_OPT_RECONNECT, 1) == MQ_OK &&
             mq_set_int(c, MQ_OPT_RECONNECT_MIN_MS, 50) == MQ_OK &&
             mq_set_int(c, MQ_OPT_RECONNECT_MAX_MS, 200) == MQ_OK,
             "reconnect");
    FT_CHECK(mq_connect(c) == MQ_OK, "connect");
    until = ft_now_ms() + 15000;
    while (nheld == 0 && ft_now_ms() < until)
        q2_pump(c, 50, held, &nheld, &connects, &discs);
    FT_CHECK(nheld == 1, "the message was not delivered");
    atomic_store(&s.got, 1);
    switch (mode) {
    case Q2_HELD:
        /* the resend arrives while the application has the message */
        FT_CHECK(q2_poll(&s.resent, 15000), "no reconnect");
        q2_pump(c, 500, held, &nheld, &connects, &discs);
        FT_CHECK(nheld == 1, "the resend (DUP 1) was delivered again");
        FT_CHECK(fb_count(b, 5) == 0, "PUBREC before the event was freed");
        break;
    case Q2_FREED_GAP:
        until = ft_now_ms() + 15000;
        while (discs == 0 && ft_now_ms() < until)
            q2_pump(c, 50, held, &nheld, &connects, &discs);
        FT_CHECK(discs == 1, "no DISCONNECTED");
        break;
    default:
        break;
    }
    /* freed is set first: freeing may write the PUBREC on this thread
     * before mq_event_free returns (conn.c, "direct writes") */
    atomic_store(&s.freed, 1);
    mq_event_free(held[0]);
    /* from now on the application frees each message at once */
    until = ft_now_ms() + 20000;
    while (!atomic_load(&s.done) && ft_now_ms() < until) {
        q2_pump(c, 20, held, &nheld, &connects, &discs);
        for (; nfreed < nheld; nfreed++) {
            dup2 = mq_event_dup(held[nfreed]);
            pid2 = mq_event_packet_id(held[nfreed]);
            mq_event_free(held[nfreed]);
        }
    }
    FT_CHECK(atomic_load(&s.done), "the flow did not end in PUBCOMP "
             "(%d PUBREC, %d PUBCOMP)", fb_count(b, 5), fb_count(b, 7));
    q2_pump(c, 300, held, &nheld, &connects, &discs);
    printf("  %d deliveries, %d PUBREC, %d PUBCOMP, %d connections\n",
           nheld, fb_count(b, 5), fb_count(b, 7), fb_connections(b));
    FT_CHECK(nheld == want, "%d deliveries, expected %d", nheld, want);
    if (want == 2)
        FT_CHECK(dup2 == 1 && pid2 == 5, "second delivery: DUP %d, packet "
                 "id %d", dup2, pid2);
    FT_CHECK(!atomic_load(&s.rec_early), "PUBREC before the event was "
             "freed");
    FT_CHECK(fb_count(b, 7) == want, "%d PUBCOMP", fb_count(b, 7));
    FT_CHECK(fb_connections(b) == 2, "%d connections", fb_connections(b));
    for (; nfreed < nheld; nfreed++)
        mq_event_free(held[nfreed]);
    mq_client_destroy(c);
    fb_stop(b);
}
static void c_qos2_held_over_drop_v5(void) { q2_drop(5, Q2_HELD); }
static void c_qos2_held_over_drop_v3(void) { q2_drop(4, Q2_HELD); }
static void c_qos2_freed_while_down_v5(void) { q2_drop(5, Q2_FREED_GAP); }
static void c_qos2_pubrec_lost_v5(void) { q2_drop(5, Q2_PUBREC_LOST); }
static void c_qos2_resent_after_pubcomp_is_new_v5(void)
{ q2_drop(5, Q2_AFTER_COMP); }

/* The broker stops answering (no PINGRESP): keepalive 1 s detects it. */
static void
s_stall(fb *b, int conn, int fd, void *ud)
{
    scen *s = ud;

    (void)conn;
    if (fb_read_connect(b, fd) < 0 || fb_send_connack(fd, s->version, 0, 0))
        return;
    /* read and ignore everything (incl. PINGREQ) until the client goes */
    while (fb_expect(b, fd, 14, NULL, 10000) == 1)
        break;
}

static void
stall(int version)
{
    scen s = {.version = version, .keepalive = 1, .err1 = MQ_ERR_KEEPALIVE,
              .v5_reason = -1, .min_pingreq = 1};
    fb *b = fb_start(s_stall, &s);
    mq_client *c = mkclient(b, version, &s);
    long long t0 = ft_now_ms();

    FT_CHECK(mq_connect(c) == MQ_OK, "connect");
    finish(b, c, &s, 8000);
    printf("  detected after %lld ms\n", ft_now_ms() - t0);
}
static void c_stall_keepalive_v3(void) { stall(4); }
static void c_stall_keepalive_v5(void) { stall(5); }

/* Server Keep Alive in CONNACK overrides ours (60 s -> 1 s). */
static void c_server_keepalive_v5(void)
{ scen s = {.version = 5, .pre = B("\x20\x06\x00\x00\x03\x13\x00\x01"),
    .err1 = MQ_ERR_KEEPALIVE, .v5_reason = -1};
  fb *b = fb_start(scen_script, &s);
  mq_client *c = mkclient(b, 5, &s);
  FT_CHECK(mq_connect(c) == MQ_OK, "connect");
  finish(b, c, &s, 8000); }

/* Announces a 256 MB packet (the MQTT maximum, allowed by default), sends
 * a few bytes and closes: CLOSED, and memory should not jump by the
 * announced size. */
static void
c_huge_announced_v3(void)
{
    scen s = {.version = 4, .connack = 1,
              .post = B("\x30\xff\xff\xff\x7f\x00\x01t"), .close_after = 1,
              .err1 = MQ_ERR_CLOSED, .err2 = MQ_ERR_IO, .v5_reason = -1};
    long before = ft_vm_kb("VmData"), peak;
    fb *b = fb_start(scen_script, &s);
    mq_client *c = mkclient(b, 4, &s);
    mq_event *ev;

    FT_CHECK(mq_connect(c) == MQ_OK, "connect");
    ev = ft_wait(c, MQ_EVENT_DISCONNECTED, 10000);
    peak = ft_vm_kb("VmData");
    FT_CHECK(ev != NULL, "no DISCONNECTED");
    printf("  VmData before %ld KiB, after the announcement %ld KiB\n",
           before, peak);
    mq_event_free(ev);
    mq_client_destroy(c);
    fb_stop(b);
    if (getenv("FT_STRICT_MEMORY") != NULL)
        FT_CHECK(peak - before < 64 * 1024, "a 5-byte header made the client "
                 "reserve %ld KiB", peak - before);
}

/* A broker that accepts and then never reads: the client's socket fills.
 * QoS 0 messages complete once encoded, so without a bound on encoding a
 * publisher kept filling an output buffer that the queue limit did not
 * cover (it grew without end). Once the socket and the queue are full,
 * mq_publish must refuse everything: the accepted count stops growing. */
static void
deaf_script(fb *b, int conn, int fd, void *ud)
{
    (void)conn;
    (void)ud;
    if (fb_read_connect(b, fd) < 0 || fb_send_connack(fd, 4, 0, 0) != 0)
        return;
    sleep(6); /* read nothing */
}

static void c_qos0_deaf_broker_bounded(void)
{
    fb *b = fb_start(deaf_script, NULL);
    mq_client *c;
    char payload[1024];
    long accepted = 0, at_half = -1, full = 0;
    long long t0;

    FT_CHECK(b != NULL, "fake broker");
    memset(payload, 'd', sizeof payload);
    c = mq_client_new("deaf-q0", MQ_PROTO_V311);
    mq_set_server(c, fb_uri(b));
    mq_set_int(c, MQ_OPT_RECONNECT, 0);
    mq_set_int(c, MQ_OPT_QUEUE_MAX_MSGS, 1000);
    FT_CHECK(mq_connect(c) == MQ_OK, "connect");
    mq_event_free(ft_wait(c, MQ_EVENT_CONNECT, 5000));
    t0 = ft_now_ms();
    while (ft_now_ms() - t0 < 4000) {
        int rc = mq_publish(c, "deaf/q0", payload, sizeof payload, 0, 0);
        if (rc >= 0)
            accepted++;
        else if (rc == MQ_ERR_QUEUE_FULL)
            full++;
        else
            FT_CHECK(0, "publish: %s", mq_err_name(rc));
        if (rc == MQ_ERR_QUEUE_FULL)
            ft_sleep_ms(1);
        if (at_half < 0 && ft_now_ms() - t0 >= 2000)
            at_half = accepted;
    }
    printf("  accepted %ld (%ld after 2 s), refused %ld\n", accepted,
           at_half, full);
    FT_CHECK(full > 0, "the queue never filled");
    /* the kernel's socket buffers fill within milliseconds; after that
     * only the queue may hold messages */
    FT_CHECK(accepted - at_half <= 20,
             "%ld more messages accepted in the last 2 s with nothing read",
             accepted - at_half);
    mq_client_destroy(c);
    fb_stop(b);
}

/* A broker that accepts the connection (CONNACK 0) and closes it at once,
 * every time (it refuses the session later, or crashes on each connect):
 * the reconnect backoff must keep growing, not start again at the
 * minimum after each CONNACK. With 50 ms minimum and 1600 ms maximum the
 * delays double (25-50, 50-100, ... ms), so about 7 connections fit in
 * 3 s; resetting on every CONNACK gave one every ~50 ms (60 or more). */
static void
storm_script(fb *b, int conn, int fd, void *ud)
{
    (void)conn;
    (void)ud;
    if (fb_read_connect(b, fd) < 0)
        return;
    if (fb_send_connack(fd, 5, 0, 0) != 0)
        return;
    shutdown(fd, SHUT_RDWR);
}

static void c_reconnect_storm_backoff_v5(void)
{
    fb *b = fb_start(storm_script, NULL);
    mq_client *c;
    mq_event *ev;
    int n;

    FT_CHECK(b != NULL, "fb_start");
    c = mq_client_new("badbroker-storm", MQ_PROTO_V5);
    FT_CHECK(c != NULL, "client");
    FT_CHECK(mq_set_server(c, fb_uri(b)) == MQ_OK, "server");
    FT_CHECK(mq_set_int(c, MQ_OPT_RECONNECT_MIN_MS, 50) == MQ_OK &&
             mq_set_int(c, MQ_OPT_RECONNECT_MAX_MS, 1600) == MQ_OK,
             "backoff options");
    FT_CHECK(mq_connect(c) == MQ_OK, "connect");
    ev = ft_wait(c, MQ_EVENT_CONNECT, 5000);
    FT_CHECK(ev != NULL, "first CONNACK");
    mq_event_free(ev);
    ft_sleep_ms(3000);
    n = fb_connections(b);
    printf("  %d connections in 3 s\n", n);
    FT_CHECK(n >= 3, "only %d connections: the client stopped retrying", n);
    FT_CHECK(n <= 15, "%d connections in 3 s: the backoff restarts at the "
             "minimum after every CONNACK", n);
    mq_client_destroy(c);
    fb_stop(b);
}

/* ---- a direct write that the socket takes only in part (issue 20) ----
 *
 * The broker sends a small PUBLISH every millisecond and reads nothing for
 * 2.5 s; the client answers each with a 48 KiB QoS 0 PUBLISH. Each answer
 * follows a read, so mq_publish writes it on the calling thread (conn.c,
 * "direct writes") until the socket buffers are full: one of them is
 * taken in part, the worker writes the rest on EPOLLOUT, and the later
 * ones wait in the queue. mq_publish never blocks, and the broker, reading
 * at last, gets every message whole and in order. */

#define PW_N 300
#define PW_SIZE (48 * 1024)

struct pw {
    atomic_int got, bad, order, done;
};

static void
pw_fill(uint8_t *p, uint32_t seq)
{
    size_t i;
    memcpy(p, &seq, sizeof seq);
    for (i = sizeof seq; i < PW_SIZE; i++)
        p[i] = (uint8_t)(seq * 31 + i);
}

static void
s_partial(fb *b, int conn, int fd, void *ud)
{
    struct pw *w = ud;
    static const uint8_t pub[] = {0x30, 0x04, 0x00, 0x01, 't', 'x'};
    long long until = ft_now_ms() + 2500;
    uint8_t *want = malloc(PW_SIZE);
    uint32_t next = 0;

    (void)conn;
    if (want == NULL || fb_read_connect(b, fd) < 0 ||
        fb_send_connack(fd, 4, 0, 0)) {
        free(want);
        atomic_store(&w->done, 1);
        return;
    }
    while (ft_now_ms() < until) {
        if (fb_send(fd, pub, sizeof pub) != 0)
            break;
        ft_sleep_ms(1);
    }
    while (next < PW_N) {
        fb_pkt p;
        if (fb_recv(b, fd, &p, 10000) != 1)
            break;
        if ((p.b0 >> 4) == 3) {
            /* QoS 0: topic length, topic, payload */
            size_t tl = p.len >= 2 ? (size_t)(p.body[0] << 8 | p.body[1]) : 0;
            uint32_t seq;
            if (p.len != 2 + tl + PW_SIZE) {
                atomic_fetch_add(&w->bad, 1);
            } else {
                memcpy(&seq, p.body + 2 + tl, sizeof seq);
                pw_fill(want, next);
                if (seq != next)
                    atomic_fetch_add(&w->order, 1);
                else if (memcmp(want, p.body + 2 + tl, PW_SIZE) != 0)
                    atomic_fetch_add(&w->bad, 1);
                next++;
                atomic_store(&w->got, (int)next);
            }
        }
        fb_pkt_free(&p);
    }
    free(want);
    atomic_store(&w->done, 1);
}

static void
c_direct_partial_write_v3(void)
{
    struct pw w;
    fb *b;
    mq_client *c;
    uint8_t *msg = malloc(PW_SIZE);
    uint32_t sent = 0;
    long long worst = 0, until;

    memset(&w, 0, sizeof w);
    FT_CHECK(msg != NULL, "memory");
    b = fb_start(s_partial, &w);
    c = mq_client_new("badbroker-partial", MQ_PROTO_V311);
    FT_CHECK(c != NULL, "client");
    mq_set_server(c, fb_uri(b));
    mq_set_int(c, MQ_OPT_RECONNECT, 0);
    FT_CHECK(mq_connect(c) == MQ_OK, "connect");
    until = ft_now_ms() + 20000;
    while (!atomic_load(&w.done) && ft_now_ms() < until) {
        mq_event *ev = mq_next_event(c, 100);
        if (ev == NULL)
            continue;
        FT_CHECK(mq_event_type(ev) != MQ_EVENT_DISCONNECTED,
                 "disconnected: %s", mq_err_name(mq_event_error(ev)));
        if (mq_event_type(ev) == MQ_EVENT_MESSAGE && sent < PW_N) {
            long long t0 = ft_now_ms(), d;
            int rc;
            pw_fill(msg, sent);
            rc = mq_publish(c, "direct/partial", msg, PW_SIZE, 0, 0);
            FT_CHECK(rc > 0, "publish %u: %s", sent, mq_err_name(rc));
            d = ft_now_ms() - t0;
            if (d > worst)
                worst = d;
            sent++;
        }
        mq_event_free(ev);
    }
    printf("  %u sent, %d received whole and in order, slowest "
           "mq_publish %lld ms\n", sent, atomic_load(&w.got), worst);
    FT_CHECK(sent == PW_N, "only %u published", sent);
    FT_CHECK(atomic_load(&w.got) == PW_N, "broker got %d of %d",
             atomic_load(&w.got), PW_N);
    FT_CHECK(atomic_load(&w.bad) == 0 && atomic_load(&w.order) == 0,
             "%d damaged, %d out of order", atomic_load(&w.bad),
             atomic_load(&w.order));
    /* the broker read nothing for 2.5 s: a publish that waited for the
     * socket would have taken about that long */
    FT_CHECK(worst < 1500, "mq_publish blocked %lld ms", worst);
    mq_client_destroy(c);
    fb_stop(b);
    free(msg);
}

static const ft_case cases[] = {
    {"reconnect_storm_backoff_v5", c_reconnect_storm_backoff_v5},
    {"qos0_deaf_broker_bounded", c_qos0_deaf_broker_bounded},
    {"bad_remlen_v3", c_bad_remlen_v3},
    {"bad_remlen_v5", c_bad_remlen_v5},
    {"remlen_300mb_v5", c_remlen_300mb_v5},
    {"short_remlen_v5", c_short_remlen_v5},
    {"bad_utf8_v3", c_bad_utf8_v3},
    {"bad_utf8_v5", c_bad_utf8_v5},
    {"nul_in_topic_v5", c_nul_in_topic_v5},
    {"unknown_type_v3", c_unknown_type_v3},
    {"unknown_type_v5", c_unknown_type_v5},
    {"auth_on_v3", c_auth_on_v3},
    {"subscribe_to_client_v5", c_subscribe_to_client_v5},
    {"pingreq_to_client_v3", c_pingreq_to_client_v3},
    {"bad_flags_v5", c_bad_flags_v5},
    {"dup_props_connack_v5", c_dup_props_connack_v5},
    {"dup_props_publish_v5", c_dup_props_publish_v5},
    {"recvmax0_v5", c_recvmax0_v5},
    {"unknown_prop_v5", c_unknown_prop_v5},
    {"props_overrun_v5", c_props_overrun_v5},
    {"pid0_publish_v3", c_pid0_publish_v3},
    {"pid0_publish_v5", c_pid0_publish_v5},
    {"pid0_puback_v5", c_pid0_puback_v5},
    {"qos3_v3", c_qos3_v3},
    {"qos3_v5", c_qos3_v5},
    {"oversized_v3", c_oversized_v3},
    {"oversized_v5", c_oversized_v5},
    {"connack_twice_v3", c_connack_twice_v3},
    {"connack_twice_v5", c_connack_twice_v5},
    {"connack_bad_rc_v3", c_connack_bad_rc_v3},
    {"connack_bad_rc_v5", c_connack_bad_rc_v5},
    {"connack_sp_refused_v5", c_connack_sp_refused_v5},
    {"connack_refused_v3", c_connack_refused_v3},
    {"before_connack_v3", c_before_connack_v3},
    {"before_connack_v5", c_before_connack_v5},
    {"slowloris_connack_v5", c_slowloris_connack_v5},
    {"garbage_v3", c_garbage_v3},
    {"garbage_after_connack_v5", c_garbage_after_connack_v5},
    {"pingresp_huge_v5", c_pingresp_huge_v5},
    {"nonminimal_remlen_v5", c_nonminimal_remlen_v5},
    {"close_after_accept_v3", c_close_after_accept_v3},
    {"truncated_then_close_v5", c_truncated_then_close_v5},
    {"bad_topic_alias_v5", c_bad_topic_alias_v5},
    {"topic_alias_ok_v5", c_topic_alias_ok_v5},
    {"broker_disconnect_v5", c_broker_disconnect_v5},
    {"suback_mismatch_v3", c_suback_mismatch_v3},
    {"suback_mismatch_v5", c_suback_mismatch_v5},
    {"unknown_ids_v3", c_unknown_ids_v3},
    {"unknown_ids_v5", c_unknown_ids_v5},
    {"qos2_puback_v3", c_qos2_puback_v3},
    {"qos2_dup_v3", c_qos2_dup_v3},
    {"qos2_dup_v5", c_qos2_dup_v5},
    {"qos2_held_over_drop_v5", c_qos2_held_over_drop_v5},
    {"qos2_held_over_drop_v3", c_qos2_held_over_drop_v3},
    {"qos2_freed_while_down_v5", c_qos2_freed_while_down_v5},
    {"qos2_pubrec_lost_v5", c_qos2_pubrec_lost_v5},
    {"qos2_resent_after_pubcomp_is_new_v5",
     c_qos2_resent_after_pubcomp_is_new_v5},
    {"stall_keepalive_v3", c_stall_keepalive_v3},
    {"stall_keepalive_v5", c_stall_keepalive_v5},
    {"server_keepalive_v5", c_server_keepalive_v5},
    {"huge_announced_v3", c_huge_announced_v3},
    {"direct_partial_write_v3", c_direct_partial_write_v3},
};

FT_MAIN(cases)
