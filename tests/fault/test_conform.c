/*
 * test_conform.c - spec conformance and limits against a scripted fake
 * broker (badbroker.c), for what a real broker with its default
 * configuration does not produce (issue 13): the broker's Maximum Packet
 * Size for every packet the client sends, an AUTH nobody asked for,
 * acknowledgements of the wrong kind for a packet id in flight, a CONNACK
 * over 64 KiB, an MQTT 3.1.1-only broker answering a v5 CONNECT (and the
 * opt-in fallback), outbound topic aliases as they appear on the wire.
 *
 * The fake broker here is a small responder: it answers CONNECT with a
 * CONNACK carrying the properties a case asks for, acknowledges the way a
 * case asks (rightly or wrongly), and records what it received (sizes,
 * PUBLISH topics and aliases, the protocol level of each CONNECT).
 *
 * Threading: cases run on the main thread, the fake broker on its own;
 * what it records is guarded by a mutex.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "badbroker.h"
#include "ft.h"
#include "mq.h"

#define MAXREC 256

/* One PUBLISH as the broker saw it. */
typedef struct seen_pub {
    int conn;
    int qos, dup;
    char topic[128];    /* as sent; "" when only an alias was sent */
    char resolved[128]; /* after the broker's alias table */
    int alias;          /* Topic Alias property, 0 none */
    int nprops;         /* properties in the packet (v5) */
    size_t size;        /* whole packet */
} seen_pub;

typedef struct bk {
    /* behaviour */
    int version;             /* CONNACK format for accepted connections */
    const uint8_t *cprops;   /* v5 CONNACK properties (without length) */
    size_t ncprops;
    int ack1, ack2;          /* packet type answering QoS 1 / QoS 2
                                PUBLISH (0: the right one, -1: none) */
    int ack_rel;             /* answer to PUBREL (0: PUBCOMP) */
    int suback_for_pub;      /* answer QoS 1 PUBLISH with a SUBACK */
    int v3_only;             /* answer a level 5 CONNECT the 3.1.1 way */
    int v3_close_only;       /* ... or by closing without a word */
    const uint8_t *after_connack; /* raw bytes sent after the CONNACK */
    size_t nafter;
    int hold_ms;             /* keep serving this long (default 4000) */
    int close_after_pubs;    /* close connection 0 after this many PUBLISH
                                (0: never), without acknowledging them */
    int sp_later;            /* Session Present on connections after 0 */
    /* what was seen */
    pthread_mutex_t mx;
    size_t max_size;
    int levels[8];           /* protocol level of CONNECT n */
    int nconn;
    int count[16];
    seen_pub pubs[MAXREC];
    int npubs;
    int comp_reason;         /* reason of the last PUBCOMP from the client */
    int nsub_filters[8];     /* filters per SUBSCRIBE */
    int nunsub_filters[8];   /* filters per UNSUBSCRIBE */
    int nsub, nunsub;
    int last_sub_opts;       /* options byte of the last subscribe entry */
} bk;

static void
bk_init(bk *k, int version)
{
    memset(k, 0, sizeof *k);
    k->version = version;
    k->comp_reason = -1;
    pthread_mutex_init(&k->mx, NULL);
}

static size_t
pkt_size(const fb_pkt *p)
{
    size_t n = p->len, v = 1;

    while (n >= 128) {
        n /= 128;
        v++;
    }
    return 1 + v + p->len;
}

static int
rd_varint(const uint8_t *p, size_t len, size_t *pos, uint32_t *out)
{
    uint32_t v = 0, mul = 1;
    int i;

    for (i = 0; i < 4 && *pos < len; i++) {
        uint8_t c = p[(*pos)++];
        v += (uint32_t)(c & 0x7f) * mul;
        mul *= 128;
        if (!(c & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return -1;
}

/* Count the properties in [p, p + n) and find the Topic Alias. */
static int
scan_props(const uint8_t *p, size_t n, int *alias)
{
    size_t i = 0;
    int count = 0;

    *alias = 0;
    while (i < n) {
        uint8_t id = p[i++];
        uint32_t v;
        count++;
        switch (id) {
        case 0x01: case 0x17: case 0x19: case 0x24: case 0x25: case 0x28:
        case 0x29: case 0x2a:
            i += 1;
            break;
        case 0x13: case 0x21: case 0x22:
            i += 2;
            break;
        case 0x23:
            *alias = p[i] << 8 | p[i + 1];
            i += 2;
            break;
        case 0x02: case 0x11: case 0x18: case 0x27:
            i += 4;
            break;
        case 0x0b:
            if (rd_varint(p, n, &i, &v) != 0)
                return -1;
            break;
        case 0x26:
            i += 2 + (size_t)(p[i] << 8 | p[i + 1]);
            /* fall through */
        default:
            i += 2 + (size_t)(p[i] << 8 | p[i + 1]);
            break;
        }
    }
    return count;
}

static void
send_connack(bk *k, int fd, int version, int sp)
{
    uint8_t out[256], body[200];
    size_t n = 0;

    body[n++] = (uint8_t)sp;
    body[n++] = 0;
    if (version == 5) {
        FT_CHECK(k->ncprops < 120, "test CONNACK properties too long");
        body[n++] = (uint8_t)k->ncprops;
        if (k->ncprops)
            memcpy(body + n, k->cprops, k->ncprops);
        n += k->ncprops;
    }
    fb_send(fd, out, fb_pack(out, 0x20, body, n));
}

static void
send_ack(int fd, int type, const uint8_t pid[2])
{
    uint8_t out[8];

    fb_send(fd, out, fb_pack(out, (uint8_t)(type << 4 | (type == 6 ? 2 : 0)),
                             pid, 2));
}

/* Record a PUBLISH; *pid_out gets its packet id bytes. */
static void
note_publish(bk *k, int conn, int version, const fb_pkt *p, uint8_t pid[2],
             char alias_tab[][128])
{
    seen_pub sp;
    size_t pos = 0, tl;
    int qos = p->b0 >> 1 & 3;

    memset(&sp, 0, sizeof sp);
    sp.conn = conn;
    sp.qos = qos;
    sp.dup = (p->b0 & 8) != 0;
    sp.size = pkt_size(p);
    tl = (size_t)p->body[0] << 8 | p->body[1];
    pos = 2;
    if (tl < sizeof sp.topic)
        memcpy(sp.topic, p->body + pos, tl);
    pos += tl;
    pid[0] = pid[1] = 0;
    if (qos > 0) {
        pid[0] = p->body[pos];
        pid[1] = p->body[pos + 1];
        pos += 2;
    }
    if (version == 5) {
        uint32_t plen;
        if (rd_varint(p->body, p->len, &pos, &plen) == 0) {
            sp.nprops = scan_props(p->body + pos, plen, &sp.alias);
            pos += plen;
        }
    }
    if (sp.alias > 0 && sp.alias < 16) {
        if (tl > 0)
            snprintf(alias_tab[sp.alias], 128, "%s", sp.topic);
        snprintf(sp.resolved, sizeof sp.resolved, "%s", alias_tab[sp.alias]);
    } else {
        snprintf(sp.resolved, sizeof sp.resolved, "%s", sp.topic);
    }
    pthread_mutex_lock(&k->mx);
    if (k->npubs < MAXREC)
        k->pubs[k->npubs++] = sp;
    pthread_mutex_unlock(&k->mx);
}

static void
responder(fb *b, int conn, int fd, void *ud)
{
    bk *k = ud;
    fb_pkt p;
    int level, npub = 0;
    long long until;
    char aliases[16][128];

    memset(aliases, 0, sizeof aliases);
    if (fb_recv(b, fd, &p, 5000) != 1)
        return;
    level = (p.b0 >> 4) == 1 && p.len >= 7 ? p.body[6] : -1;
    pthread_mutex_lock(&k->mx);
    if (conn < 8)
        k->levels[conn] = level;
    k->nconn++;
    if (pkt_size(&p) > k->max_size)
        k->max_size = pkt_size(&p);
    pthread_mutex_unlock(&k->mx);
    fb_pkt_free(&p);
    if (level == 5 && k->v3_close_only) {
        shutdown(fd, SHUT_RDWR); /* no CONNACK at all */
        return;
    }
    if (level == 5 && k->v3_only) {
        fb_send(fd, "\x20\x02\x00\x01", 4); /* 3.1.1: unacceptable version */
        return;
    }
    send_connack(k, fd, level, conn > 0 && k->sp_later);
    if (k->after_connack != NULL)
        fb_send(fd, k->after_connack, k->nafter);
    until = ft_now_ms() + (k->hold_ms ? k->hold_ms : 4000);
    while (ft_now_ms() < until) {
        int type, rc = fb_recv(b, fd, &p, (int)(until - ft_now_ms()));
        uint8_t pid[2];
        if (rc != 1)
            break;
        type = p.b0 >> 4;
        pthread_mutex_lock(&k->mx);
        k->count[type]++;
        if (pkt_size(&p) > k->max_size)
            k->max_size = pkt_size(&p);
        pthread_mutex_unlock(&k->mx);
        if (type == 14) {
            fb_pkt_free(&p);
            break;
        }
        switch (type) {
        case 3: {
            int qos = p.b0 >> 1 & 3, a, close_after, ack1, ack2;
            /* a case may change these while we run */
            pthread_mutex_lock(&k->mx);
            close_after = k->close_after_pubs;
            ack1 = k->ack1;
            ack2 = k->ack2;
            pthread_mutex_unlock(&k->mx);
            note_publish(k, conn, level, &p, pid, aliases);
            npub++;
            /* only the first connection: the case cannot turn it off
             * before the resends on the next one arrive */
            if (close_after && conn == 0)
                ack1 = ack2 = -1; /* all stay in flight */
            if (close_after && conn == 0 && npub >= close_after) {
                /* the drop: after the script returns, the fake broker
                 * would keep reading until the client closes (5 s) */
                fb_pkt_free(&p);
                shutdown(fd, SHUT_RDWR);
                return;
            }
            if (qos == 1 && k->suback_for_pub) {
                uint8_t out[8], body[4] = {pid[0], pid[1], 0, 0};
                size_t n = level == 5 ? 4 : 3;
                if (level != 5)
                    body[2] = 0;
                fb_send(fd, out, fb_pack(out, 0x90, body, n));
                break;
            }
            a = qos == 1 ? ack1 : qos == 2 ? ack2 : -1;
            if (a == 0)
                a = qos == 1 ? 4 : 5;
            if (qos > 0 && a > 0)
                send_ack(fd, a, pid);
            break;
        }
        case 6:
            pid[0] = p.body[0];
            pid[1] = p.body[1];
            send_ack(fd, k->ack_rel ? k->ack_rel : 7, pid);
            break;
        case 7:
            pthread_mutex_lock(&k->mx);
            k->comp_reason = p.len > 2 ? p.body[2] : 0;
            pthread_mutex_unlock(&k->mx);
            break;
        case 8:
        case 10: {
            uint8_t out[300], body[260];
            size_t pos = 2, n = 0, nf = 0;
            uint32_t plen = 0;
            int opts = 0;
            if (level == 5)
                rd_varint(p.body, p.len, &pos, &plen);
            pos += plen;
            while (pos + 2 <= p.len) {
                size_t fl = (size_t)p.body[pos] << 8 | p.body[pos + 1];
                pos += 2 + fl;
                if (type == 8)
                    opts = p.body[pos++];
                nf++;
            }
            pthread_mutex_lock(&k->mx);
            if (type == 8 && k->nsub < 8)
                k->nsub_filters[k->nsub++] = (int)nf;
            if (type == 10 && k->nunsub < 8)
                k->nunsub_filters[k->nunsub++] = (int)nf;
            if (type == 8)
                k->last_sub_opts = opts;
            pthread_mutex_unlock(&k->mx);
            body[n++] = p.body[0];
            body[n++] = p.body[1];
            if (level == 5)
                body[n++] = 0;
            if (type == 8 || level == 5)
                for (size_t i = 0; i < nf && n < sizeof body; i++)
                    body[n++] = type == 8 ? (uint8_t)(opts & 3) : 0;
            fb_send(fd, out, fb_pack(out, (uint8_t)((type + 1) << 4), body,
                                     n));
            break;
        }
        case 12:
            fb_send(fd, "\xd0\x00", 2);
            break;
        default:
            break;
        }
        fb_pkt_free(&p);
    }
}

static mq_client *
mk(fb *b, const char *id, int version)
{
    mq_client *c = mq_client_new(id, version);

    FT_CHECK(c != NULL, "mq_client_new");
    FT_CHECK(mq_set_server(c, fb_uri(b)) == MQ_OK, "set_server");
    FT_CHECK(mq_set_int(c, MQ_OPT_RECONNECT, 0) == MQ_OK, "reconnect");
    FT_CHECK(mq_set_int(c, MQ_OPT_CONNECT_TIMEOUT_MS, 4000) == MQ_OK,
             "timeout");
    return c;
}

static void
connect_ok(mq_client *c)
{
    mq_event *ev;

    FT_CHECK(mq_connect(c) == MQ_OK, "connect");
    ev = ft_wait(c, MQ_EVENT_CONNECT, 5000);
    FT_CHECK(ev != NULL, "no CONNECT event");
    FT_CHECK(mq_event_reason(ev) == 0, "refused: 0x%02x",
             mq_event_reason(ev));
    mq_event_free(ev);
}

/* Wait for an event of @p kind with token @p tok. */
static mq_event *
wait_token(mq_client *c, int kind, int tok, int ms)
{
    long long until = ft_now_ms() + ms;

    while (ft_now_ms() < until) {
        mq_event *ev = ft_wait(c, kind, (int)(until - ft_now_ms()));
        if (ev == NULL)
            return NULL;
        if (mq_event_token(ev) == tok)
            return ev;
        fprintf(stderr, "  (other %s token %d)\n",
                ft_event_name(mq_event_type(ev)), mq_event_token(ev));
        mq_event_free(ev);
    }
    return NULL;
}

static int
bk_get(bk *k, const int *field)
{
    int v;

    pthread_mutex_lock(&k->mx);
    v = *field;
    pthread_mutex_unlock(&k->mx);
    return v;
}

static size_t
bk_max_size(bk *k)
{
    size_t v;

    pthread_mutex_lock(&k->mx);
    v = k->max_size;
    pthread_mutex_unlock(&k->mx);
    return v;
}

/* Wait until the broker counted @p n packets of @p type. */
static int
bk_wait_count(bk *k, int type, int n, int ms)
{
    long long until = ft_now_ms() + ms;

    while (bk_get(k, &k->count[type]) < n && ft_now_ms() < until)
        ft_sleep_ms(10);
    return bk_get(k, &k->count[type]) >= n;
}

/* Wait for the DISCONNECTED event: error, and the client's v5 reason. */
static void
expect_disconnect(fb *b, bk *k, mq_client *c, int err, int v5_reason)
{
    mq_event *ev = ft_wait(c, MQ_EVENT_DISCONNECTED, 10000);
    int r;

    FT_CHECK(ev != NULL, "no DISCONNECTED event");
    printf("  DISCONNECTED error=%s reason=0x%02x msg=%s\n",
           mq_err_name(mq_event_error(ev)), mq_event_reason(ev),
           mq_event_message(ev) ? mq_event_message(ev) : "(null)");
    FT_CHECK(mq_event_error(ev) == err, "error %s, expected %s",
             mq_err_name(mq_event_error(ev)), mq_err_name(err));
    mq_event_free(ev);
    FT_CHECK(fb_wait_closed(b, 0, 6000), "client did not close");
    r = fb_client_disconnect_reason(b);
    if (v5_reason >= 0)
        FT_CHECK(r == v5_reason, "client DISCONNECT reason %d, expected 0x%02x",
                 r, v5_reason);
    (void)k;
}

/* ---- 1. Maximum Packet Size for every packet ------------------------- */

/* CONNACK property: Maximum Packet Size 30 */
static const uint8_t MAXPKT30[] = {0x27, 0, 0, 0, 30};

#define LONG_FILTER "a/very/long/topic/filter/over/thirty"

/* Known limit: refused at call time, nothing oversized on the wire. */
static void
c_maxpkt_known_v5(void)
{
    bk k;
    fb *b;
    mq_client *c;
    mq_event *ev;
    int tok;
    mq_props *pr;

    bk_init(&k, 5);
    k.cprops = MAXPKT30;
    k.ncprops = sizeof MAXPKT30;
    b = fb_start(responder, &k);
    c = mk(b, "conform-maxpkt", 5);
    connect_ok(c);
    FT_CHECK(mq_subscribe(c, LONG_FILTER, 1) == MQ_ERR_TOO_LARGE,
             "long SUBSCRIBE accepted under a 30-byte limit");
    FT_CHECK(mq_unsubscribe(c, LONG_FILTER) == MQ_ERR_TOO_LARGE,
             "long UNSUBSCRIBE accepted under a 30-byte limit");
    {
        const char *f[2] = {"a/b/c/d/e", "f/g/h/i/j/k"};
        int o[2] = {1, 1};
        FT_CHECK(mq_subscribe_many(c, 2, f, o, NULL) == MQ_ERR_TOO_LARGE,
                 "two filters of 30 bytes accepted");
    }
    FT_CHECK(mq_publish(c, LONG_FILTER, "x", 1, 1, 0) == MQ_ERR_TOO_LARGE,
             "long PUBLISH accepted");
    pr = mq_props_new();
    mq_props_add_string(pr, MQ_PROP_AUTHENTICATION_METHOD,
                        "a-method-name-that-is-far-too-long");
    FT_CHECK(mq_auth(c, 0x19, pr) == MQ_ERR_TOO_LARGE, "long AUTH accepted");
    mq_props_free(pr);
    /* what fits still works */
    tok = mq_subscribe(c, "s/1", 1);
    FT_CHECK(tok > 0, "short subscribe: %d", tok);
    ev = wait_token(c, MQ_EVENT_SUBSCRIBED, tok, 5000);
    FT_CHECK(ev != NULL && mq_event_error(ev) == MQ_OK, "short SUBACK");
    mq_event_free(ev);
    /* DISCONNECT: a Reason String that does not fit is left out */
    pr = mq_props_new();
    mq_props_add_string(pr, MQ_PROP_REASON_STRING,
                        "a reason string far longer than thirty bytes");
    FT_CHECK(mq_disconnect_v5(c, 0, pr) == MQ_OK, "disconnect");
    mq_props_free(pr);
    ev = ft_wait(c, MQ_EVENT_DISCONNECTED, 5000);
    FT_CHECK(ev != NULL, "no DISCONNECTED");
    mq_event_free(ev);
    FT_CHECK(bk_wait_count(&k, 14, 1, 3000), "no DISCONNECT on the wire");
    mq_client_destroy(c);
    fb_stop(b);
    printf("  largest packet from the client: %zu bytes\n", bk_max_size(&k));
    FT_CHECK(bk_max_size(&k) <= 30, "the client sent a %zu-byte packet",
             bk_max_size(&k));
    FT_CHECK(bk_get(&k, &k.count[8]) == 1, "%d SUBSCRIBE",
             bk_get(&k, &k.count[8]));
}

/* Limit not known at call time (queued before the CONNACK): the tokens
 * complete with MQ_ERR_TOO_LARGE, nothing is sent. */
static void
c_maxpkt_unknown_v5(void)
{
    bk k;
    fb *b;
    mq_client *c;
    mq_event *ev;
    int ts, tu, tp, tok;

    bk_init(&k, 5);
    k.cprops = MAXPKT30;
    k.ncprops = sizeof MAXPKT30;
    b = fb_start(responder, &k);
    c = mk(b, "conform-maxpkt2", 5);
    ts = mq_subscribe(c, LONG_FILTER, 1);
    tu = mq_unsubscribe(c, LONG_FILTER "/x");
    tp = mq_publish(c, LONG_FILTER, "x", 1, 1, 0);
    FT_CHECK(ts > 0 && tu > 0 && tp > 0, "queued: %d %d %d", ts, tu, tp);
    connect_ok(c);
    ev = wait_token(c, MQ_EVENT_SUBSCRIBED, ts, 5000);
    FT_CHECK(ev != NULL, "no SUBSCRIBED event for the oversized SUBSCRIBE");
    FT_CHECK(mq_event_error(ev) == MQ_ERR_TOO_LARGE, "error %s",
             mq_err_name(mq_event_error(ev)));
    FT_CHECK(mq_event_reason_count(ev) == 1 &&
                 mq_event_reason_at(ev, 0) == MQ_RC_PACKET_TOO_LARGE,
             "reason codes");
    mq_event_free(ev);
    ev = wait_token(c, MQ_EVENT_UNSUBSCRIBED, tu, 5000);
    FT_CHECK(ev != NULL, "no UNSUBSCRIBED event for the oversized one");
    FT_CHECK(mq_event_error(ev) == MQ_ERR_TOO_LARGE, "error %s",
             mq_err_name(mq_event_error(ev)));
    mq_event_free(ev);
    ev = wait_token(c, MQ_EVENT_PUBLISHED, tp, 5000);
    FT_CHECK(ev != NULL && mq_event_error(ev) == MQ_ERR_TOO_LARGE,
             "oversized publish");
    mq_event_free(ev);
    FT_CHECK(mq_is_connected(c), "disconnected");
    tok = mq_subscribe(c, "s/2", 0);
    ev = wait_token(c, MQ_EVENT_SUBSCRIBED, tok, 5000);
    FT_CHECK(ev != NULL && mq_event_error(ev) == MQ_OK, "short SUBACK");
    mq_event_free(ev);
    mq_client_destroy(c);
    fb_stop(b);
    FT_CHECK(bk_max_size(&k) <= 30, "the client sent a %zu-byte packet",
             bk_max_size(&k));
}

/* ---- 2. AUTH without enhanced authentication ------------------------- */

static void
c_auth_unsolicited_v5(void)
{
    bk k;
    fb *b;
    mq_client *c;
    mq_event *ev;

    bk_init(&k, 5);
    k.after_connack = (const uint8_t *)"\xf0\x01\x00";
    k.nafter = 3;
    b = fb_start(responder, &k);
    c = mk(b, "conform-auth", 5);
    FT_CHECK(mq_connect(c) == MQ_OK, "connect");
    expect_disconnect(b, &k, c, MQ_ERR_PROTOCOL, 0x82);
    while ((ev = mq_next_event(c, 200)) != NULL) {
        FT_CHECK(mq_event_type(ev) != MQ_EVENT_AUTH,
                 "an AUTH nobody asked for reached the application");
        mq_event_free(ev);
    }
    mq_client_destroy(c);
    fb_stop(b);
}

/* With enhanced authentication, an AUTH carrying another method is a
 * protocol error too (MQTT 5 §4.12). */
static void
c_auth_wrong_method_v5(void)
{
    bk k;
    fb *b;
    mq_client *c;
    mq_props *pr = mq_props_new();
    static const uint8_t cp[] = {0x15, 0, 4, 'S', 'C', 'R', 'M'};

    bk_init(&k, 5);
    k.cprops = cp;
    k.ncprops = sizeof cp;
    /* AUTH 0x18 with Authentication Method "XYZ" */
    k.after_connack = (const uint8_t *)"\xf0\x08\x18\x06\x15\x00\x03XYZ";
    k.nafter = 10;
    b = fb_start(responder, &k);
    c = mk(b, "conform-auth2", 5);
    mq_props_add_string(pr, MQ_PROP_AUTHENTICATION_METHOD, "SCRM");
    FT_CHECK(mq_set_connect_props(c, pr) == MQ_OK, "connect props");
    mq_props_free(pr);
    FT_CHECK(mq_connect(c) == MQ_OK, "connect");
    expect_disconnect(b, &k, c, MQ_ERR_PROTOCOL, 0x82);
    mq_client_destroy(c);
    fb_stop(b);
}

/* The right method still reaches the application as MQ_EVENT_AUTH. */
static void
c_auth_right_method_v5(void)
{
    bk k;
    fb *b;
    mq_client *c;
    mq_event *ev;
    mq_props *pr = mq_props_new();
    static const uint8_t cp[] = {0x15, 0, 4, 'S', 'C', 'R', 'M'};

    bk_init(&k, 5);
    k.cprops = cp;
    k.ncprops = sizeof cp;
    k.after_connack = (const uint8_t *)"\xf0\x09\x19\x07\x15\x00\x04SCRM";
    k.nafter = 11;
    b = fb_start(responder, &k);
    c = mk(b, "conform-auth3", 5);
    mq_props_add_string(pr, MQ_PROP_AUTHENTICATION_METHOD, "SCRM");
    FT_CHECK(mq_set_connect_props(c, pr) == MQ_OK, "connect props");
    mq_props_free(pr);
    connect_ok(c);
    ev = ft_wait(c, MQ_EVENT_AUTH, 5000);
    FT_CHECK(ev != NULL, "no AUTH event");
    FT_CHECK(mq_event_reason(ev) == 0x19, "reason 0x%02x",
             mq_event_reason(ev));
    mq_event_free(ev);
    FT_CHECK(mq_is_connected(c), "disconnected");
    mq_client_destroy(c);
    fb_stop(b);
}

/* Enhanced authentication inside the CONNECT exchange (MQTT 5 §4.12): the
 * broker answers the CONNECT with AUTH 0x18 Continue authentication and a
 * challenge; the application gets it as MQ_EVENT_AUTH while connecting,
 * answers with mq_auth(0x18, its response), and only then comes the
 * CONNACK. A wrong response gets CONNACK 0x87 Not authorized. */
/* Does the packet's body contain the 7 bytes @p seq? */
static bool
has_bytes(const fb_pkt *p, const char *seq)
{
    for (size_t i = 0; i + 7 <= p->len; i++)
        if (memcmp(p->body + i, seq, 7) == 0)
            return true;
    return false;
}

static void
challenge_script(fb *b, int conn, int fd, void *ud)
{
    static const uint8_t chal[] = "\xf0\x10\x18\x0e\x15\x00\x04SCRM"
                                  "\x16\x00\x04" "chal";
    static const uint8_t ok[] = "\x20\x0a\x00\x00\x07\x15\x00\x04SCRM";
    static const uint8_t no[] = "\x20\x03\x00\x87\x00";
    fb_pkt pkt;
    bool good;

    (void)conn;
    (void)ud;
    if (fb_read_connect(b, fd) != 5)
        return;
    if (fb_send(fd, chal, sizeof chal - 1) != 0)
        return;
    if (fb_expect(b, fd, 15, &pkt, 5000) != 1)
        return; /* no answer: the client's connect timeout ends it */
    /* reason 0x18, then properties holding the method and "resp" */
    good = pkt.len > 4 && pkt.body[0] == 0x18 &&
           has_bytes(&pkt, "\x16\x00\x04resp") &&
           has_bytes(&pkt, "\x15\x00\x04SCRM");
    fb_pkt_free(&pkt);
    if (good)
        (void)fb_send(fd, ok, sizeof ok - 1);
    else
        (void)fb_send(fd, no, sizeof no - 1);
}

static void
auth_challenge(const char *response, bool accepted)
{
    fb *b = fb_start(challenge_script, NULL);
    mq_client *c;
    mq_event *ev;
    mq_props *pr = mq_props_new();
    const void *data;
    size_t len = 0;

    FT_CHECK(b != NULL && pr != NULL, "start");
    c = mk(b, "conform-challenge", 5);
    FT_CHECK(mq_props_add_string(pr, MQ_PROP_AUTHENTICATION_METHOD, "SCRM")
             == MQ_OK, "method");
    FT_CHECK(mq_set_connect_props(c, pr) == MQ_OK, "connect props");
    FT_CHECK(mq_connect(c) == MQ_OK, "connect");
    ev = ft_wait(c, MQ_EVENT_AUTH, 5000);
    FT_CHECK(ev != NULL, "no AUTH event before the CONNACK");
    FT_CHECK(mq_event_reason(ev) == 0x18, "reason 0x%02x",
             mq_event_reason(ev));
    data = mq_props_get_binary(mq_event_props(ev),
                               MQ_PROP_AUTHENTICATION_DATA, &len);
    FT_CHECK(data != NULL && len == 4 && memcmp(data, "chal", 4) == 0,
             "challenge data");
    FT_CHECK(!mq_is_connected(c), "connected before the CONNACK");
    mq_event_free(ev);
    FT_CHECK(mq_props_add_binary(pr, MQ_PROP_AUTHENTICATION_DATA, response,
                                 strlen(response)) == MQ_OK, "data");
    FT_CHECK(mq_auth(c, 0x18, pr) == MQ_OK, "mq_auth");
    mq_props_free(pr);
    ev = ft_wait(c, MQ_EVENT_CONNECT, 5000);
    FT_CHECK(ev != NULL, "no CONNACK after the response");
    FT_CHECK(mq_event_reason(ev) == (accepted ? 0 : 0x87), "CONNACK 0x%02x",
             mq_event_reason(ev));
    mq_event_free(ev);
    FT_CHECK(mq_is_connected(c) == accepted, "connected %d",
             mq_is_connected(c));
    mq_client_destroy(c);
    fb_stop(b);
}

static void
c_auth_challenge_before_connack_v5(void)
{
    auth_challenge("resp", true);
}

static void
c_auth_challenge_wrong_response_v5(void)
{
    auth_challenge("nope", false);
}

/* ---- 3. Acknowledgements of the wrong kind --------------------------- */

/* Publish at @p qos; the broker answers with what @p k says. The publish
 * completes with MQ_ERR_PROTOCOL, the connection ends with a protocol
 * error (v5: DISCONNECT 0x82), nothing stays queued. */
static void
wrong_ack(bk *k, int version, int qos)
{
    fb *b = fb_start(responder, k);
    mq_client *c = mk(b, "conform-acks", version);
    mq_event *ev;
    int tok;

    connect_ok(c);
    tok = mq_publish(c, "acks/t", "payload", 7, qos, 0);
    FT_CHECK(tok > 0, "publish %d", tok);
    ev = wait_token(c, MQ_EVENT_PUBLISHED, tok, 5000);
    FT_CHECK(ev != NULL, "the publish never completed (hung)");
    printf("  PUBLISHED error=%s reason=0x%02x\n",
           mq_err_name(mq_event_error(ev)), mq_event_reason(ev));
    FT_CHECK(mq_event_error(ev) == MQ_ERR_PROTOCOL, "error %s",
             mq_err_name(mq_event_error(ev)));
    mq_event_free(ev);
    expect_disconnect(b, k, c, MQ_ERR_PROTOCOL, version == 5 ? 0x82 : -1);
    FT_CHECK(mq_queued_messages(c) == 0, "%zu messages still queued",
             mq_queued_messages(c));
    mq_client_destroy(c);
    fb_stop(b);
}

static void c_puback_for_qos2_v5(void)
{ bk k; bk_init(&k, 5); k.ack2 = 4; wrong_ack(&k, 5, 2); }
static void c_puback_for_qos2_v3(void)
{ bk k; bk_init(&k, 4); k.ack2 = 4; wrong_ack(&k, 4, 2); }
static void c_pubrec_for_qos1_v5(void)
{ bk k; bk_init(&k, 5); k.ack1 = 5; wrong_ack(&k, 5, 1); }
static void c_pubcomp_for_qos1_v3(void)
{ bk k; bk_init(&k, 4); k.ack1 = 7; wrong_ack(&k, 4, 1); }
static void c_pubcomp_before_pubrec_v5(void)
{ bk k; bk_init(&k, 5); k.ack2 = 7; wrong_ack(&k, 5, 2); }
/* PUBACK after PUBREC (the answer to our PUBREL is a PUBACK) */
static void c_puback_after_pubrec_v5(void)
{ bk k; bk_init(&k, 5); k.ack_rel = 4; wrong_ack(&k, 5, 2); }
static void c_suback_for_publish_v5(void)
{ bk k; bk_init(&k, 5); k.suback_for_pub = 1; wrong_ack(&k, 5, 1); }

/* A PUBREL for an id we never PUBREC'd: PUBCOMP "Packet Identifier not
 * found" (0x92, MQTT 5 §3.7.2.1), the connection stays. v3.1.1: PUBCOMP. */
static void
pubrel_unknown(int version)
{
    bk k;
    fb *b;
    mq_client *c;

    bk_init(&k, version);
    k.after_connack = (const uint8_t *)"\x62\x02\x00\x2a";
    k.nafter = 4;
    b = fb_start(responder, &k);
    c = mk(b, "conform-pubrel", version);
    connect_ok(c);
    FT_CHECK(bk_wait_count(&k, 7, 1, 5000), "no PUBCOMP");
    FT_CHECK(bk_get(&k, &k.comp_reason) == (version == 5 ? 0x92 : 0),
             "PUBCOMP reason 0x%02x", bk_get(&k, &k.comp_reason));
    FT_CHECK(mq_is_connected(c), "disconnected");
    mq_client_destroy(c);
    fb_stop(b);
}
static void c_pubrel_unknown_v5(void) { pubrel_unknown(5); }
static void c_pubrel_unknown_v3(void) { pubrel_unknown(4); }

/* ---- 4. A CONNACK over 64 KiB ---------------------------------------- */

static void
big_connack_script(fb *b, int conn, int fd, void *ud)
{
    size_t nprops = *(size_t *)ud, i, n = 0, plen = nprops * 9;
    uint8_t *body = malloc(plen + 16), *out = malloc(plen + 32);

    (void)conn;
    if (fb_read_connect(b, fd) < 0)
        goto out;
    body[n++] = 0;
    body[n++] = 0;
    /* property length as a varint */
    {
        size_t v = plen;
        do {
            uint8_t d = v % 128;
            v /= 128;
            body[n++] = (uint8_t)(d | (v ? 0x80 : 0));
        } while (v);
    }
    for (i = 0; i < nprops; i++) {
        /* user property "kNN" = "vN": 1 + 2+3 + 2+1 bytes */
        body[n++] = 0x26;
        body[n++] = 0;
        body[n++] = 3;
        body[n++] = 'k';
        body[n++] = (uint8_t)('a' + i % 26);
        body[n++] = (uint8_t)('a' + i / 26 % 26);
        body[n++] = 0;
        body[n++] = 1;
        body[n++] = (uint8_t)('0' + i % 10);
    }
    fb_send(fd, out, fb_pack(out, 0x20, body, n));
    fb_expect(b, fd, 14, NULL, 4000);
out:
    free(body);
    free(out);
}

static void
c_connack_large_v5(void)
{
    size_t nprops = 9000; /* 81 000 bytes of properties */
    fb *b = fb_start(big_connack_script, &nprops);
    mq_client *c = mq_client_new("conform-bigconnack", MQ_PROTO_V5);
    mq_event *ev;

    mq_set_server(c, fb_uri(b));
    mq_set_int(c, MQ_OPT_RECONNECT, 0);
    FT_CHECK(mq_connect(c) == MQ_OK, "connect");
    ev = ft_wait(c, MQ_EVENT_CONNECT, 5000);
    FT_CHECK(ev != NULL, "no CONNECT event for an 81 KB CONNACK");
    FT_CHECK(mq_event_reason(ev) == 0, "reason 0x%02x", mq_event_reason(ev));
    FT_CHECK(mq_props_user_count(mq_event_props(ev)) == nprops,
             "%zu user properties", mq_props_user_count(mq_event_props(ev)));
    mq_event_free(ev);
    FT_CHECK(mq_is_connected(c), "not connected");
    mq_disconnect(c, 0);
    mq_event_free(ft_wait(c, MQ_EVENT_DISCONNECTED, 5000));
    mq_client_destroy(c);
    fb_stop(b);
}

/* Only our Maximum Packet Size bounds it. */
static void
c_connack_large_over_max_v5(void)
{
    size_t nprops = 9000;
    fb *b = fb_start(big_connack_script, &nprops);
    mq_client *c = mq_client_new("conform-bigconnack2", MQ_PROTO_V5);

    mq_set_server(c, fb_uri(b));
    mq_set_int(c, MQ_OPT_RECONNECT, 0);
    mq_set_int(c, MQ_OPT_MAX_PACKET_SIZE, 65536);
    FT_CHECK(mq_connect(c) == MQ_OK, "connect");
    {
        mq_event *ev = ft_wait(c, MQ_EVENT_DISCONNECTED, 5000);
        FT_CHECK(ev != NULL, "no DISCONNECTED");
        FT_CHECK(mq_event_error(ev) == MQ_ERR_TOO_LARGE, "error %s",
                 mq_err_name(mq_event_error(ev)));
        mq_event_free(ev);
    }
    mq_client_destroy(c);
    fb_stop(b);
}

/* ---- 5. MQTT 5 client, MQTT 3.1.1-only broker ------------------------ */

static void
c_v311_broker_refuses_v5(void)
{
    bk k;
    fb *b;
    mq_client *c;
    mq_event *ev;

    bk_init(&k, 4);
    k.v3_only = 1;
    b = fb_start(responder, &k);
    c = mk(b, "conform-v311", 5);
    FT_CHECK(mq_connect(c) == MQ_OK, "connect");
    ev = ft_wait(c, MQ_EVENT_DISCONNECTED, 5000);
    FT_CHECK(ev != NULL, "no DISCONNECTED");
    printf("  DISCONNECTED error=%s reason=0x%02x msg=%s\n",
           mq_err_name(mq_event_error(ev)), mq_event_reason(ev),
           mq_event_message(ev) ? mq_event_message(ev) : "(null)");
    FT_CHECK(mq_event_error(ev) == MQ_ERR_REFUSED, "error %s",
             mq_err_name(mq_event_error(ev)));
    FT_CHECK(mq_event_reason(ev) == MQ_RC_UNSUPPORTED_PROTOCOL_VERSION,
             "reason 0x%02x", mq_event_reason(ev));
    FT_CHECK(mq_event_message(ev) != NULL &&
                 strstr(mq_event_message(ev), "MQ_PROTO_V311") != NULL,
             "the message does not say what to do");
    mq_event_free(ev);
    mq_client_destroy(c);
    fb_stop(b);
}

static void
c_v311_broker_closes_v5(void)
{
    bk k;
    fb *b;
    mq_client *c;
    mq_event *ev;

    bk_init(&k, 4);
    k.v3_close_only = 1;
    b = fb_start(responder, &k);
    c = mk(b, "conform-v311c", 5);
    FT_CHECK(mq_connect(c) == MQ_OK, "connect");
    ev = ft_wait(c, MQ_EVENT_DISCONNECTED, 5000);
    FT_CHECK(ev != NULL, "no DISCONNECTED");
    printf("  DISCONNECTED error=%s msg=%s\n",
           mq_err_name(mq_event_error(ev)),
           mq_event_message(ev) ? mq_event_message(ev) : "(null)");
    FT_CHECK(mq_event_error(ev) == MQ_ERR_CLOSED ||
                 mq_event_error(ev) == MQ_ERR_IO, "error %s",
             mq_err_name(mq_event_error(ev)));
    FT_CHECK(mq_event_message(ev) != NULL &&
                 strstr(mq_event_message(ev), "MQTT 5") != NULL,
             "the message does not mention MQTT 5");
    mq_event_free(ev);
    mq_client_destroy(c);
    fb_stop(b);
}


/* With MQ_OPT_PROTOCOL_FALLBACK the same server is tried again in 3.1.1
 * right away: connected, v5-only features left out, a WARNING log. */
static void
fallback(int close_only)
{
    bk k;
    fb *b;
    mq_client *c;
    mq_event *ev;
    mq_props *pr = mq_props_new();
    int64_t v = -1;
    int tok, warned = 0;

    bk_init(&k, 4);
    if (close_only)
        k.v3_close_only = 1;
    else
        k.v3_only = 1;
    b = fb_start(responder, &k);
    c = mk(b, "conform-fallback", 5);
    FT_CHECK(mq_get_int(c, MQ_OPT_PROTOCOL_IN_USE, &v) == MQ_OK && v == 0,
             "protocol in use before connecting: %lld", (long long)v);
    FT_CHECK(mq_set_int(c, MQ_OPT_PROTOCOL_FALLBACK, 1) == MQ_OK, "fallback");
    FT_CHECK(mq_set_int(c, MQ_OPT_LOG_LEVEL, MQ_LOG_WARNING) == MQ_OK, "log");
    connect_ok(c);
    FT_CHECK(bk_get(&k, &k.levels[0]) == 5 && bk_get(&k, &k.levels[1]) == 4,
             "CONNECT levels %d then %d", bk_get(&k, &k.levels[0]),
             bk_get(&k, &k.levels[1]));
    FT_CHECK(mq_get_int(c, MQ_OPT_PROTOCOL_IN_USE, &v) == MQ_OK &&
                 v == MQ_PROTO_V311, "protocol in use %lld", (long long)v);
    /* v5 features on later calls: accepted, left out on the wire */
    mq_props_add_user(pr, "k", "v");
    tok = mq_publish_v5(c, "fb/t", "x", 1, 1, 0, pr);
    FT_CHECK(tok > 0, "publish_v5 %d", tok);
    mq_props_free(pr);
    while ((ev = mq_next_event(c, 5000)) != NULL &&
           mq_event_type(ev) != MQ_EVENT_PUBLISHED) {
        if (mq_event_type(ev) == MQ_EVENT_LOG &&
            mq_event_log_level(ev) == MQ_LOG_WARNING &&
            strstr(mq_event_message(ev), "3.1.1") != NULL)
            warned = 1;
        mq_event_free(ev);
    }
    FT_CHECK(ev != NULL && mq_event_error(ev) == MQ_OK &&
                 mq_event_token(ev) == tok, "publish");
    mq_event_free(ev);
    tok = mq_subscribe_v5(c, "fb/s", 1 | MQ_SUB_NO_LOCAL, NULL);
    FT_CHECK(tok > 0, "subscribe_v5 %d", tok);
    ev = wait_token(c, MQ_EVENT_SUBSCRIBED, tok, 5000);
    FT_CHECK(ev != NULL && mq_event_error(ev) == MQ_OK, "subscribe");
    mq_event_free(ev);
    FT_CHECK(bk_get(&k, &k.last_sub_opts) == 1, "options byte 0x%02x on a "
             "3.1.1 connection", bk_get(&k, &k.last_sub_opts));
    FT_CHECK(mq_is_connected(c), "disconnected");
    mq_disconnect(c, 0);
    while ((ev = mq_next_event(c, 3000)) != NULL) {
        int t = mq_event_type(ev);
        if (t == MQ_EVENT_LOG && mq_event_log_level(ev) == MQ_LOG_WARNING &&
            strstr(mq_event_message(ev), "3.1.1") != NULL)
            warned = 1;
        mq_event_free(ev);
        if (t == MQ_EVENT_DISCONNECTED)
            break;
    }
    FT_CHECK(warned, "no warning that v5 features were left out");
    mq_client_destroy(c);
    fb_stop(b);
}
static void c_v311_fallback(void) { fallback(0); }
static void c_v311_fallback_after_close(void) { fallback(1); }

/* ---- 6. Outbound topic aliases ---------------------------------------- */

/* CONNACK property: Topic Alias Maximum 3 */
static const uint8_t ALIASMAX3[] = {0x22, 0, 3};

static int
publish_alias(mq_client *c, const char *topic, int alias, int qos)
{
    mq_props *pr = mq_props_new();
    int tok;

    if (alias)
        mq_props_add_int(pr, MQ_PROP_TOPIC_ALIAS, (uint32_t)alias);
    tok = mq_publish_v5(c, topic, "p", 1, qos, 0, pr);
    mq_props_free(pr);
    return tok;
}

/* Wait until the broker saw @p n PUBLISH packets; copy them. */
static int
bk_pubs(bk *k, seen_pub *out, int n, int ms)
{
    long long until = ft_now_ms() + ms;
    int got;

    for (;;) {
        pthread_mutex_lock(&k->mx);
        got = k->npubs;
        if (got >= n || ft_now_ms() >= until) {
            memcpy(out, k->pubs, sizeof(seen_pub) * (size_t)got);
            pthread_mutex_unlock(&k->mx);
            return got;
        }
        pthread_mutex_unlock(&k->mx);
        ft_sleep_ms(10);
    }
}

static void
c_alias_explicit_v5(void)
{
    static seen_pub pubs[MAXREC];
    static const char *const want_topic[] = {
        "alias/topic/one", "", "", "alias/topic/two", "", "alias/other"};
    static const char *const want_res[] = {
        "alias/topic/one", "alias/topic/one", "alias/topic/one",
        "alias/topic/two", "alias/topic/two", "alias/other"};
    bk k;
    fb *b;
    mq_client *c;
    int i, n, tok = 0;

    bk_init(&k, 5);
    k.cprops = ALIASMAX3;
    k.ncprops = sizeof ALIASMAX3;
    b = fb_start(responder, &k);
    c = mk(b, "conform-alias", 5);
    connect_ok(c);
    FT_CHECK(publish_alias(c, "alias/topic/one", 2, 0) > 0, "1");
    FT_CHECK(publish_alias(c, "alias/topic/one", 2, 1) > 0, "2");
    FT_CHECK(publish_alias(c, "alias/topic/one", 2, 2) > 0, "3");
    FT_CHECK(publish_alias(c, "alias/topic/two", 2, 0) > 0, "4: re-map");
    FT_CHECK(publish_alias(c, "alias/topic/two", 2, 1) > 0, "5");
    FT_CHECK((tok = publish_alias(c, "alias/other", 3, 1)) > 0, "6");
    FT_CHECK(publish_alias(c, "alias/x", 4, 1) == MQ_ERR_PROPERTY,
             "alias 4 over the broker's maximum 3 accepted");
    mq_event_free(wait_token(c, MQ_EVENT_PUBLISHED, tok, 5000));
    n = bk_pubs(&k, pubs, 6, 5000);
    FT_CHECK(n == 6, "%d PUBLISH", n);
    for (i = 0; i < n; i++) {
        printf("  PUBLISH topic '%s' alias %d -> %s (%zu bytes)\n",
               pubs[i].topic, pubs[i].alias, pubs[i].resolved, pubs[i].size);
        FT_CHECK(strcmp(pubs[i].topic, want_topic[i]) == 0,
                 "PUBLISH %d sent topic '%s', expected '%s'", i,
                 pubs[i].topic, want_topic[i]);
        FT_CHECK(strcmp(pubs[i].resolved, want_res[i]) == 0,
                 "PUBLISH %d stands for '%s'", i, pubs[i].resolved);
        FT_CHECK(pubs[i].alias == (i < 5 ? 2 : 3), "alias %d",
                 pubs[i].alias);
    }
    FT_CHECK(mq_is_connected(c), "disconnected");
    mq_client_destroy(c);
    fb_stop(b);
}

/* Queued before the broker's maximum is known, and over it: completes
 * with MQ_ERR_PROPERTY, never sent. No maximum in the CONNACK: 0. */
static void
c_alias_over_max_v5(void)
{
    bk k;
    fb *b;
    mq_client *c;
    mq_event *ev;
    int t1, t2;

    bk_init(&k, 5);
    b = fb_start(responder, &k); /* CONNACK without Topic Alias Maximum */
    c = mk(b, "conform-alias2", 5);
    t1 = publish_alias(c, "alias/q", 1, 1);
    FT_CHECK(t1 > 0, "queued offline: %d", t1);
    connect_ok(c);
    ev = wait_token(c, MQ_EVENT_PUBLISHED, t1, 5000);
    FT_CHECK(ev != NULL, "no PUBLISHED");
    FT_CHECK(mq_event_error(ev) == MQ_ERR_PROPERTY &&
                 mq_event_reason(ev) == MQ_RC_TOPIC_ALIAS_INVALID,
             "error %s reason 0x%02x", mq_err_name(mq_event_error(ev)),
             mq_event_reason(ev));
    mq_event_free(ev);
    FT_CHECK(publish_alias(c, "alias/q", 1, 1) == MQ_ERR_PROPERTY,
             "an alias accepted by a broker that takes none");
    t2 = publish_alias(c, "alias/q", 0, 1);
    mq_event_free(wait_token(c, MQ_EVENT_PUBLISHED, t2, 5000));
    FT_CHECK(bk_get(&k, &k.npubs) == 1, "%d PUBLISH", bk_get(&k, &k.npubs));
    mq_client_destroy(c);
    fb_stop(b);
}

/* Automatic aliases: at most min(option, broker's maximum), the least
 * recently used re-mapped only to a more frequent topic, every PUBLISH
 * stands for the right topic. */
static void
c_alias_auto_v5(void)
{
    static seen_pub pubs[MAXREC];
    static const char *const topics[] = {
        "sensors/building-1/floor-2/room-17/temperature",
        "sensors/building-1/floor-2/room-17/humidity",
        "sensors/building-1/floor-2/room-18/temperature"};
    static const int seq[] = {0, 1, 0, 0, 2, 1, 1, 0, 2, 2, 1, 0};
    bk k;
    fb *b;
    mq_client *c;
    int i, n, tok = 0, omitted = 0;
    size_t bytes = 0;

    bk_init(&k, 5);
    k.cprops = ALIASMAX3;
    k.ncprops = sizeof ALIASMAX3;
    b = fb_start(responder, &k);
    c = mk(b, "conform-alias3", 5);
    FT_CHECK(mq_set_int(c, MQ_OPT_TOPIC_ALIAS_AUTO, 2) == MQ_OK, "auto");
    connect_ok(c);
    FT_CHECK(publish_alias(c, "x/y", 1, 0) == MQ_ERR_PROPERTY,
             "explicit alias with automatic aliases on");
    for (i = 0; i < (int)(sizeof seq / sizeof seq[0]); i++)
        FT_CHECK((tok = publish_alias(c, topics[seq[i]], 0, 1)) > 0, "pub");
    mq_event_free(wait_token(c, MQ_EVENT_PUBLISHED, tok, 5000));
    n = bk_pubs(&k, pubs, (int)(sizeof seq / sizeof seq[0]), 5000);
    FT_CHECK(n == (int)(sizeof seq / sizeof seq[0]), "%d PUBLISH", n);
    for (i = 0; i < n; i++) {
        printf("  '%s' alias %d -> %s\n", pubs[i].topic, pubs[i].alias,
               pubs[i].resolved);
        FT_CHECK(pubs[i].alias >= 0 && pubs[i].alias <= 2, "alias %d",
                 pubs[i].alias);
        FT_CHECK(strcmp(pubs[i].resolved, topics[seq[i]]) == 0,
                 "PUBLISH %d stands for '%s', expected '%s'", i,
                 pubs[i].resolved, topics[seq[i]]);
        omitted += pubs[i].topic[0] == '\0';
        bytes += pubs[i].size;
    }
    /* 2 aliases over 0 1 [0] [0] 2 [1] [1] [0] 2 2 [1] [0]: topic 2 never
     * gets more frequent than the least recently used of 0 and 1 -> 7
     * topics left out (plain LRU: 4) */
    FT_CHECK(omitted == 7, "%d PUBLISH without topic, expected 7", omitted);
    printf("  %d of %d sent without topic, %zu bytes\n", omitted, n, bytes);
    mq_client_destroy(c);
    fb_stop(b);
}

/* A new connection starts with no aliases: the first PUBLISH of a topic
 * carries it again, and resends (DUP) carry the full topic. */
static void
c_alias_auto_reconnect_v5(void)
{
    static seen_pub pubs[MAXREC];
    bk k;
    fb *b;
    mq_client *c;
    int i, n, tok = 0, done = 0;
    long long until;

    bk_init(&k, 5);
    k.cprops = ALIASMAX3;
    k.ncprops = sizeof ALIASMAX3;
    k.close_after_pubs = 3; /* no PUBACK, then the connection drops */
    k.sp_later = 1;         /* and the session is kept: DUP resends */
    b = fb_start(responder, &k);
    c = mk(b, "conform-alias4", 5);
    FT_CHECK(mq_set_int(c, MQ_OPT_TOPIC_ALIAS_AUTO, 3) == MQ_OK, "auto");
    FT_CHECK(mq_set_int(c, MQ_OPT_RECONNECT, 1) == MQ_OK, "reconnect");
    FT_CHECK(mq_set_int(c, MQ_OPT_RECONNECT_MIN_MS, 50) == MQ_OK, "min");
    FT_CHECK(mq_set_int(c, MQ_OPT_CLEAN_START, 0) == MQ_OK, "clean");
    FT_CHECK(mq_set_int(c, MQ_OPT_SESSION_EXPIRY_S, 60) == MQ_OK, "expiry");
    connect_ok(c);
    for (i = 0; i < 3; i++)
        FT_CHECK(publish_alias(c, "re/connect/topic", 0, 1) > 0, "pub");
    n = bk_pubs(&k, pubs, 3, 5000);
    FT_CHECK(n == 3, "%d PUBLISH on the first connection", n);
    /* second connection, session present: the three are resent */
    {
        mq_event *ev = ft_wait(c, MQ_EVENT_CONNECT, 5000);
        FT_CHECK(ev != NULL && mq_event_session_present(ev),
                 "no reconnect with the session present");
        mq_event_free(ev);
    }
    tok = publish_alias(c, "re/connect/topic", 0, 1);
    until = ft_now_ms() + 5000;
    while (done < 4 && ft_now_ms() < until) {
        mq_event *ev = ft_wait(c, MQ_EVENT_PUBLISHED, 1000);
        if (ev != NULL) {
            done++;
            mq_event_free(ev);
        }
    }
    FT_CHECK(done == 4, "%d of 4 completed", done);
    n = bk_pubs(&k, pubs, 7, 5000);
    for (i = 0; i < n; i++)
        printf("  conn %d '%s' alias %d dup %d -> %s\n", pubs[i].conn,
               pubs[i].topic, pubs[i].alias, pubs[i].dup, pubs[i].resolved);
    FT_CHECK(n == 7, "%d PUBLISH", n);
    for (i = 0; i < n; i++)
        FT_CHECK(strcmp(pubs[i].resolved, "re/connect/topic") == 0,
                 "PUBLISH %d stands for '%s'", i, pubs[i].resolved);
    for (i = 3; i < 6; i++)
        FT_CHECK(pubs[i].conn == 1 && pubs[i].dup && pubs[i].alias == 0 &&
                     pubs[i].topic[0] != '\0',
                 "resend %d: conn %d dup %d alias %d topic '%s'", i,
                 pubs[i].conn, pubs[i].dup, pubs[i].alias, pubs[i].topic);
    FT_CHECK(!pubs[6].dup && pubs[6].topic[0] != '\0' && pubs[6].alias != 0,
             "the first new PUBLISH of the connection: topic '%s' alias %d",
             pubs[6].topic, pubs[6].alias);
    (void)tok;
    mq_client_destroy(c);
    fb_stop(b);
}

static const ft_case cases[] = {
    {"maxpkt_known_v5", c_maxpkt_known_v5},
    {"maxpkt_unknown_v5", c_maxpkt_unknown_v5},
    {"auth_unsolicited_v5", c_auth_unsolicited_v5},
    {"auth_challenge_before_connack_v5", c_auth_challenge_before_connack_v5},
    {"auth_challenge_wrong_response_v5", c_auth_challenge_wrong_response_v5},
    {"auth_wrong_method_v5", c_auth_wrong_method_v5},
    {"auth_right_method_v5", c_auth_right_method_v5},
    {"puback_for_qos2_v5", c_puback_for_qos2_v5},
    {"puback_for_qos2_v3", c_puback_for_qos2_v3},
    {"pubrec_for_qos1_v5", c_pubrec_for_qos1_v5},
    {"pubcomp_for_qos1_v3", c_pubcomp_for_qos1_v3},
    {"pubcomp_before_pubrec_v5", c_pubcomp_before_pubrec_v5},
    {"puback_after_pubrec_v5", c_puback_after_pubrec_v5},
    {"suback_for_publish_v5", c_suback_for_publish_v5},
    {"pubrel_unknown_v5", c_pubrel_unknown_v5},
    {"pubrel_unknown_v3", c_pubrel_unknown_v3},
    {"connack_large_v5", c_connack_large_v5},
    {"connack_large_over_max_v5", c_connack_large_over_max_v5},
    {"v311_broker_refuses_v5", c_v311_broker_refuses_v5},
    {"v311_broker_closes_v5", c_v311_broker_closes_v5},
    {"v311_fallback", c_v311_fallback},
    {"v311_fallback_after_close", c_v311_fallback_after_close},
    {"alias_explicit_v5", c_alias_explicit_v5},
    {"alias_over_max_v5", c_alias_over_max_v5},
    {"alias_auto_v5", c_alias_auto_v5},
    {"alias_auto_reconnect_v5", c_alias_auto_reconnect_v5},
};

FT_MAIN(cases)
