/*
 * conn.c - one client's connection on its worker thread: the commands
 * from the API, the socket's reads and writes, the packets received, the
 * session's actions (session.c) turned into bytes and events, graceful
 * disconnects, keepalive and the other per-client timers, and the events
 * of a round. The loop that calls in here is worker.c; connecting
 * (resolve, transports, CONNECT, backoff, failover) is connect.c.
 *
 * Threading: the client's worker thread, holding the client's owner lock
 * (worker.h, mqi_own_lock), except where a function says it takes the
 * client's lock to hand something to an API thread; and the API thread
 * that won the owner lock for a direct write ("direct writes" below).
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "alias.h"
#include "internal.h"
#include "topic.h"
#include "worker.h"

#define FLUSH_AT (256 * 1024) /* write out once this much is encoded */
#define CLOSE_GRACE_MS 3000
#define STEAL_MIN (64 * 1024) /* payloads this large move, not copy */
#define SPLICE_MIN (64 * 1024) /* payloads this large are sent in place */

/* ---- forward declarations ------------------------------------------- */

static void connection_lost(mq_client *c, int err, int reason,
                            const char *msg);
static void pump(mq_client *c);
static void handle_read(mq_client *c);
static void protocol_error(mq_client *c, int err, uint8_t reason,
                           const char *msg);
static void drain_check(mq_client *c);
static void disconnect_done(mq_client *c);

/* True while this thread writes directly from mq_publish or
 * mq_event_free ("direct writes" below): a failed write is then left to
 * the worker. */
static _Thread_local bool tl_direct;

void
mqi_conn_deadline(mq_client *c, int64_t when)
{
    if (when > 0 && (c->deadline_ms == 0 || when < c->deadline_ms)) {
        if (mqi_theap_set(&c->w->timers, &c->tnode, when) != MQ_OK) {
            /* out of memory twice (the slot reserved for this client in
             * phase 2 could not be had either): no timer now; the next
             * mqi_conn_deadline tries again (deadline_ms stays 0) */
            mqi_log(c, MQ_LOG_ERROR, "out of memory: a timer is late");
            return;
        }
        c->deadline_ms = when; /* O(log n) above */
    }
}

/* ---- events ----------------------------------------------------------- */

/* Wake threads blocked in mq_wait*() or a destroy waiting for a graceful
 * disconnect, so they look at the client's state again. */
static void
state_signal(mq_client *c)
{
    if (atomic_load(&c->state_waiters) == 0)
        return;
    pthread_mutex_lock(&c->lock);
    mqi_state_broadcast(c);
    pthread_mutex_unlock(&c->lock);
}

/* A connect attempt ended: MQ_OK (CONNACK 0) or why it failed. What
 * mq_wait_connected() reports. */
void
mqi_conn_note_attempt(mq_client *c, int err)
{
    pthread_mutex_lock(&c->lock);
    c->attempts_done++;
    c->attempt_err = err;
    mqi_state_broadcast(c);
    pthread_mutex_unlock(&c->lock);
}

/* ---- outcomes for mq_wait ------------------------------------------------ */

/* Tokens are 31-bit serial numbers: is a issued after b? */
static bool
token_newer(int a, int b)
{
    uint32_t d = ((uint32_t)a - (uint32_t)b) & 0x7fffffffu;
    return d != 0 && d < 0x40000000u;
}

#define FAILS_MAX 64 /* failed outcomes remembered for mq_wait */

/* Hand an outcome to one waiter (or free the request if it gave up). */
static void
watch_reply(mq_client *c, mqi_waitreq *r, int state, int err)
{
    pthread_mutex_lock(&c->lock);
    if (r->abandoned && state == MQI_WS_DONE) {
        free(r);
    } else {
        r->state = state;
        r->err = err;
        mqi_state_broadcast(c);
    }
    pthread_mutex_unlock(&c->lock);
}

/* An operation with @p token finished. Successes cost nothing unless a
 * thread waits; failures are remembered (the newest FAILS_MAX), so that
 * a token neither pending nor remembered as failed is known to have
 * succeeded (see watch_add). */
static void
outcome(mq_client *c, int token, int err)
{
    mqi_waitreq **pp, *r;

    if (token == 0)
        return;
    if (err != MQ_OK) {
        if (c->fails == NULL)
            c->fails = calloc(1, sizeof *c->fails + FAILS_MAX *
                                                       sizeof c->fails->v[0]);
        if (c->fails != NULL) {
            struct mqi_outcomes *f = c->fails;
            struct mqi_outcome *o = &f->v[f->next];
            if (f->n == FAILS_MAX) {
                if (!c->fail_evicted || token_newer(o->token, c->fail_horizon))
                    c->fail_horizon = o->token;
                c->fail_evicted = true;
            } else {
                f->n++;
            }
            o->token = token;
            o->err = err;
            f->next = (f->next + 1) % FAILS_MAX;
        } else {
            c->fail_evicted = true; /* cannot vouch for anything now */
            c->fail_horizon = token;
        }
    }
    for (pp = &c->watch; (r = *pp) != NULL;) {
        if (r->token == token) {
            *pp = r->next;
            watch_reply(c, r, MQI_WS_DONE, err);
        } else {
            pp = &r->next;
        }
    }
}

/* Events of one worker round are collected and handed over at the end of
 * the round (mqi_conn_post_flush): one lock and one wakeup for, say, a PUBACK and a
 * PUBLISH that arrived in the same read. */
static void
post(mq_client *c, mq_event *ev)
{
    ev->next = NULL;
    if (c->bat_tail != NULL)
        c->bat_tail->next = ev;
    else
        c->bat_head = ev;
    c->bat_tail = ev;
    c->bat_n++;
    c->bat_bytes += ev->acct;
    /* either bound stops reading: the count, or the bytes of what is
     * queued (a flood of large messages) */
    if ((c->ev_known + c->bat_n >=
             atomic_load_explicit(&c->max_events, memory_order_relaxed) ||
         c->evb_known + c->bat_bytes >=
             atomic_load_explicit(&c->max_event_bytes,
                                  memory_order_relaxed)) &&
        !atomic_load(&c->paused)) {
        atomic_store(&c->paused, true);
        mqi_log(c, MQ_LOG_DEBUG, "event queue full: pausing reads");
        state_signal(c); /* a helper blocked in a callback must know */
    }
}

void
mqi_conn_post_flush(mq_client *c)
{
    if (c->bat_head == NULL)
        return;
    c->ev_known = mqi_events_post_list(&c->ev, c->bat_head, c->bat_tail,
                                       c->bat_n);
    c->evb_known = atomic_load_explicit(&c->ev.bytes, memory_order_relaxed);
    c->bat_head = c->bat_tail = NULL;
    c->bat_n = 0;
    c->bat_bytes = 0;
}

/* The properties of a received packet (validated by the decoder), NULL
 * when there are none or no memory for them. Without memory they are left
 * out of the event they were for (they inform; on_publish, where they can
 * carry a Topic Alias, ends the connection instead). */
static mq_props *
parse_props(mqi_span raw)
{
    mq_props *p = NULL;

    if (raw.len > 0 && mqi_props_parse(raw.ptr, raw.len, &p) != MQ_OK)
        return NULL;
    return p;
}

void
mqi_conn_post_disconnected(mq_client *c, int err, int reason, bool will_reconnect,
                  const char *msg)
{
    size_t n = msg ? strlen(msg) + 1 : 0;
    mq_event *ev = mqi_event_new(MQ_EVENT_DISCONNECTED, n);

    if (ev == NULL)
        return;
    ev->error = err;
    ev->reason = reason;
    ev->will_reconnect = will_reconnect;
    if (n > 0) {
        ev->message = (char *)(ev + 1);
        memcpy(ev->message, msg, n);
    }
    post(c, ev);
}

/* A publish (or its failure) is finished: release queue space, report. */
static void
complete(mq_client *c, mqi_msg *m, int err, int reason)
{
    int pe = atomic_load_explicit(&c->publish_events, memory_order_relaxed);
    bool deferred = false;

    outcome(c, m->token, err);
    atomic_fetch_sub_explicit(&c->q_msgs, 1, memory_order_relaxed);
    atomic_fetch_sub_explicit(&c->q_bytes, m->acct_bytes,
                              memory_order_relaxed);
    if (pe == 2 || (pe == 1 && m->qos > 0) || err != MQ_OK) {
        mq_event *ev = mqi_event_new(MQ_EVENT_PUBLISHED, 0);
        if (ev != NULL) {
            ev->token = m->token;
            ev->tag = m->tag;
            ev->error = err;
            ev->reason = reason;
            ev->qos = m->qos;
            ev->packet_id = m->packet_id;
            if (m->tag != 0 && m->seq != 0 && c->store != NULL) {
                /* the record goes when the application frees the event,
                 * after it noted the completion (docs/guide/persistence) */
                mqi_store_ref(c->store);
                ev->store = c->store;
                ev->store_seq = m->seq;
                deferred = true;
            }
            post(c, ev);
        }
    }
    if (!deferred && m->seq != 0 && c->store != NULL &&
        mqi_store_remove(c->store, m->seq) != MQ_OK)
        /* the record stays: after a restart the message is sent again
         * (at least once, never lost) */
        mqi_log(c, MQ_LOG_WARNING, "persistence: could not remove the "
                "record of a completed message");
    mqi_msg_free(m);
    c->space_freed = true; /* waiters are woken once per round */
}

/* A SUBSCRIBE or UNSUBSCRIBE that ends without a usable acknowledgement
 * (not sent, or answered wrongly): its event, with @p reason for every
 * filter. Resubscribes (token 0) have no event: logged. Frees m. */
static void
fail_sub(mq_client *c, mqi_msg *m, int err, uint8_t reason)
{
    if (m->token != 0) {
        mq_event *ev = mqi_event_new(m->kind == MQI_CMD_SUBSCRIBE
                                         ? MQ_EVENT_SUBSCRIBED
                                         : MQ_EVENT_UNSUBSCRIBED,
                                     m->count);
        if (ev != NULL) {
            ev->token = m->token;
            ev->error = err;
            ev->reason = reason;
            ev->packet_id = m->packet_id;
            ev->reasons = (uint8_t *)(ev + 1);
            ev->nreasons = m->count;
            memset(ev->reasons, reason, m->count);
            post(c, ev);
        }
    } else {
        mqi_log(c, MQ_LOG_WARNING, "resubscribe to %s%s failed: %s",
                m->filters[0], m->count > 1 ? " and others" : "",
                mq_strerror(err));
    }
    mqi_msg_free(m);
}

/* The largest packet this connection may carry out: our own
 * MQ_OPT_MAX_PACKET_SIZE and the broker's Maximum Packet Size, which the
 * client must not exceed with any packet (MQTT 5 §3.2.2.3.6,
 * [MQTT-3.2.2-15]). */
static size_t
send_limit(const mq_client *c)
{
    uint32_t lim = c->cfg->max_packet_size;

    if (c->server_max_packet != 0 && c->server_max_packet < lim)
        lim = c->server_max_packet;
    return lim;
}

/* A v5 feature asked for on a connection that fell back to 3.1.1: it is
 * left out, and that is said once per connection. */
static void
v5_dropped(mq_client *c, const char *what)
{
    if (!c->v5_drop_logged) {
        c->v5_drop_logged = true;
        mqi_log(c, MQ_LOG_WARNING, "%s left out: the connection uses MQTT "
                "3.1.1 (MQ_OPT_PROTOCOL_FALLBACK)", what);
    }
}

/* ---- encoding helpers ------------------------------------------------ */

/* Forget every outbound alias of this connection: the next publishes
 * send their topics again (after a PUBLISH with a new mapping could not
 * be encoded, so the table may not match what the broker knows). */
static void
alias_reset(mq_client *c)
{
    mqi_alias_out_free(c->aout);
    c->aout = NULL;
}

/* The Topic Alias of a PUBLISH sent for the first time on this connection
 * (MQTT 5 §3.3.2.3.4), and whether its topic can be left out. Resends
 * carry the full topic and no alias: a mapping never outlives its
 * connection, and a resend may be the first packet of a new one. An alias
 * that would push the packet over the size limit is not used. */
static void
choose_alias(mq_client *c, const mqi_msg *m, mqi_publish *p)
{
    int bmax = atomic_load_explicit(&c->alias_max_out, memory_order_relaxed);
    int auto_n = c->cfg->topic_alias_auto;
    size_t n = auto_n > 0 ? (size_t)(auto_n < bmax ? auto_n : bmax)
                          : (size_t)bmax;
    bool omit = false, fits;
    uint16_t a = 0;

    if ((auto_n <= 0 && m->alias == 0) || bmax <= 0 || n == 0)
        return;
    if (c->aout == NULL && (c->aout = mqi_alias_out_new((uint16_t)n)) == NULL)
        return; /* no memory: the full topic without alias */
    fits = mqi_publish_wire_size(MQ_PROTO_V5, m->topic_len, m->payload_len,
                                 mqi_props_len(m->props) + 3, m->qos) <=
           send_limit(c);
    if (auto_n > 0) {
        a = mqi_alias_auto(c->aout, m->topic, m->topic_len, fits, &omit);
    } else if (mqi_alias_stands_for(c->aout, m->alias, m->topic,
                                    m->topic_len)) {
        a = m->alias;
        omit = true;
    } else if (fits) {
        a = m->alias;
        mqi_alias_map(c->aout, a, m->topic, m->topic_len);
    }
    p->topic_alias = a;
    if (omit)
        p->topic.len = 0;
}

MQI_MUST_CHECK static int
encode_publish(mq_client *c, mqi_msg *m, bool dup)
{
    mqi_publish p;
    int rc;

    memset(&p, 0, sizeof p);
    p.qos = m->qos;
    p.retain = m->retain;
    p.dup = dup;
    p.packet_id = m->packet_id;
    p.topic.ptr = (const uint8_t *)m->topic;
    p.topic.len = m->topic_len;
    p.payload.ptr = m->payload;
    p.payload.len = m->payload_len;
    p.props = m->props;
    if (!dup && c->proto == MQ_PROTO_V5)
        choose_alias(c, m, &p);
    if (m->payload_len >= SPLICE_MIN) {
        /* A large payload is not copied into the output buffer: only the
         * head is encoded, and mqi_conn_flush writes the payload from the
         * message itself at that point of the stream. */
        mqi_splice *sp;
        if (c->spl == NULL || c->spl->n == c->spl->cap) {
            size_t cap = c->spl != NULL ? c->spl->cap * 2 : 8;
            struct mqi_splices *ns =
                realloc(c->spl, sizeof *ns + cap * sizeof ns->v[0]);
            if (ns == NULL)
                goto whole; /* copied into out instead: slower, same bytes */
            if (c->spl == NULL)
                ns->first = ns->n = ns->bytes = 0;
            c->spl = ns;
            c->spl->cap = cap;
        }
        rc = mqi_encode_publish_head(&c->out, c->proto, &p);
        if (rc != MQ_OK)
            goto out;
        sp = &c->spl->v[c->spl->n++];
        sp->at = c->out.len;
        sp->m = m;
        sp->done = 0;
        c->spl->bytes += m->payload_len;
        return MQ_OK;
    }
whole:
    rc = mqi_encode_publish(&c->out, c->proto, &p);
out:
    if (rc != MQ_OK && p.topic_alias != 0)
        alias_reset(c);
    return rc;
}

/* Bytes encoded or spliced and not yet written. */
static size_t
out_pending(const mq_client *c)
{
    return c->out.len - c->out_off + (c->spl != NULL ? c->spl->bytes : 0);
}

/* Is m's payload still waiting in a splice? (QoS 0 then completes later.) */
static bool
spliced(const mq_client *c, const mqi_msg *m)
{
    return c->spl != NULL && c->spl->n > c->spl->first &&
           c->spl->v[c->spl->n - 1].m == m;
}

MQI_MUST_CHECK static int
encode_ack(mq_client *c, uint8_t type, uint16_t pid, uint8_t reason)
{
    mqi_ack a;

    memset(&a, 0, sizeof a);
    a.type = type;
    a.packet_id = pid;
    a.reason = reason;
    return mqi_encode_ack(&c->out, c->proto, &a);
}

MQI_MUST_CHECK static int
encode_sub(mq_client *c, mqi_msg *m)
{
    size_t i;
    int rc;

    if (m->kind == MQI_CMD_SUBSCRIBE) {
        mqi_sub_entry *e = calloc(m->count, sizeof *e);
        mqi_subscribe s;
        if (e == NULL)
            return MQ_ERR_NOMEM;
        for (i = 0; i < m->count; i++) {
            e[i].filter.ptr = (const uint8_t *)m->filters[i];
            e[i].filter.len = strlen(m->filters[i]);
            e[i].options = m->options[i];
            if (c->proto != MQ_PROTO_V5 && (e[i].options & ~3)) {
                v5_dropped(c, "subscription options");
                e[i].options &= 3;
            }
        }
        memset(&s, 0, sizeof s);
        s.packet_id = m->packet_id;
        s.count = m->count;
        s.entries = e;
        s.props = m->props;
        rc = mqi_encode_subscribe(&c->out, c->proto, &s);
        free(e);
        if (c->proto != c->version && mq_props_count(m->props) > 0)
            v5_dropped(c, "SUBSCRIBE properties");
    } else {
        mqi_span *f = calloc(m->count, sizeof *f);
        mqi_unsubscribe u;
        if (f == NULL)
            return MQ_ERR_NOMEM;
        for (i = 0; i < m->count; i++) {
            f[i].ptr = (const uint8_t *)m->filters[i];
            f[i].len = strlen(m->filters[i]);
        }
        memset(&u, 0, sizeof u);
        u.packet_id = m->packet_id;
        u.count = m->count;
        u.filters = f;
        u.props = m->props;
        rc = mqi_encode_unsubscribe(&c->out, c->proto, &u);
        free(f);
    }
    return rc;
}

/* ---- socket registration ------------------------------------------------ */

void
mqi_conn_close_socket(mq_client *c)
{
    if (c->io.fd >= 0) {
        if (c->io.ops != NULL && c->io.ops->close != NULL)
            c->io.ops->close(&c->io);
        epoll_ctl(c->w->epfd, EPOLL_CTL_DEL, c->io.fd, NULL);
        close(c->io.fd);
    }
    c->io.fd = -1;
    c->io.ops = NULL;
    c->io.layer = NULL;
    c->epoll_mask = 0;
    c->out.len = 0;
    c->out_off = 0;
    c->write_blocked = false;
    /* spliced payloads not written: QoS 1/2 stay in flight for a resend;
     * QoS 0 is reported as dropped */
    if (c->spl != NULL) {
        size_t i, first = c->spl->first, last = c->spl->n;
        c->spl->first = c->spl->n = 0;
        c->spl->bytes = 0;
        for (i = first; i < last; i++)
            if (c->spl->v[i].m->qos == 0)
                complete(c, c->spl->v[i].m, MQ_ERR_ABORTED, 0);
    }
    c->in.len = 0;
    if (c->addrs != NULL) {
        freeaddrinfo(c->addrs);
        c->addrs = NULL;
    }
}

void
mqi_conn_update_mask(mq_client *c)
{
    uint32_t want = 0;
    struct epoll_event ee;

    if (c->io.fd < 0)
        return;
    switch (c->cs) {
    case MQI_CS_TCP:
        want = EPOLLOUT;
        break;
    case MQI_CS_HANDSHAKE:
        want = c->io.want ? c->io.want : EPOLLIN;
        break;
    default:
        if (!atomic_load(&c->paused))
            want |= EPOLLIN;
        if (out_pending(c) > 0)
            want |= (c->io.want & EPOLLIN) && c->io.layer ? c->io.want
                                                          : EPOLLOUT;
        break;
    }
    if (want == c->epoll_mask)
        return;
    memset(&ee, 0, sizeof ee);
    ee.events = want;
    ee.data.ptr = &c->sock_src;
    if (c->epoll_mask == 0 && want != 0)
        epoll_ctl(c->w->epfd, EPOLL_CTL_ADD, c->io.fd, &ee);
    else if (want == 0)
        epoll_ctl(c->w->epfd, EPOLL_CTL_DEL, c->io.fd, NULL);
    else
        epoll_ctl(c->w->epfd, EPOLL_CTL_MOD, c->io.fd, &ee);
    c->epoll_mask = want;
}

void
mqi_conn_flush(mq_client *c)
{
    size_t n;
    int rc;

    if (c->io.fd < 0 || c->io.ops == NULL || c->cs < MQI_CS_CONNACK)
        return;
    if (c->write_blocked) {
        mqi_conn_update_mask(c); /* EPOLLOUT will call us back */
        return;
    }
    /* Written bytes are skipped with an offset, not moved: a partial send
     * of a large packet costs no memmove. Spliced payloads are written
     * from their messages at their place in the stream. */
    for (;;) {
        mqi_splice *sp = c->spl != NULL && c->spl->n > c->spl->first
                             ? &c->spl->v[c->spl->first]
                             : NULL;
        size_t lim = sp != NULL ? sp->at : c->out.len;

        if (c->out_off < lim) {
            rc = c->io.ops->write(&c->io, c->out.data + c->out_off,
                                  lim - c->out_off, &n);
            if (rc == MQ_OK)
                c->out_off += n;
        } else if (sp != NULL) {
            mqi_msg *m = sp->m;
            rc = c->io.ops->write(&c->io, m->payload + sp->done,
                                  m->payload_len - sp->done, &n);
            if (rc == MQ_OK) {
                sp->done += n;
                c->spl->bytes -= n;
                if (sp->done == m->payload_len) {
                    if (++c->spl->first == c->spl->n)
                        c->spl->first = c->spl->n = 0;
                    if (m->qos == 0)
                        complete(c, m, MQ_OK, 0);
                }
            }
        } else {
            break; /* everything is written */
        }
        if (rc == MQ_OK) {
            c->last_send_ms = mqi_now_ms();
            c->ack_due = false; /* our ACK went with these bytes */
            continue;
        }
        if (rc == MQ_ERR_AGAIN) {
            c->write_blocked = true;
            break;
        }
        if (tl_direct) {
            /* not on the worker: the bytes stay, and the worker, woken by
             * the socket's error or EPOLLOUT, writes again and sees it
             * (with its own error text: this thread's is dropped) */
            mqi_io_err_clear();
            mqi_conn_update_mask(c);
            return;
        }
        connection_lost(c, rc, 0, mqi_io_err);
        return;
    }
    if (out_pending(c) == 0) {
        c->out.len = 0;
        c->out_off = 0;
        c->io.want = 0;
        /* an idle connection holds no write buffer (issue 20: memory per
         * idle connection): one that never grew past its first size goes
         * back once written; a busy one keeps what it grew to */
        if (c->out.cap <= MQI_BUF_FIRST)
            mqi_buf_free(&c->out);
        if (c->cs == MQI_CS_CLOSING) {
            disconnect_done(c); /* DISCONNECT is out */
            return;
        }
    } else if (c->out_off > 65536 &&
               c->out_off >= 4 * (c->out.len - c->out_off)) {
        /* keep the buffer from creeping: move the unsent rest down when
         * it is small next to what was written (the TLS and WebSocket
         * layers accept a moved retry buffer) */
        size_t i, shift = c->out_off;
        mqi_buf_consume(&c->out, shift);
        c->out_off = 0;
        for (i = c->spl != NULL ? c->spl->first : 0;
             c->spl != NULL && i < c->spl->n; i++)
            c->spl->v[i].at -= shift;
    }
    mqi_conn_update_mask(c);
}

/* ---- direct writes ------------------------------------------------------ *
 *
 * mq_publish on a connection with nothing waiting writes the PUBLISH itself
 * instead of waking the worker to do it (issue 20: the thread hop
 * publish -> worker -> socket, which libmosquitto does not have), and
 * freeing a QoS 1/2 message event writes its PUBACK/PUBREC the same way
 * (mqi_inack_release). Only when it changes nothing but the thread that
 * writes:
 *   - the caller holds the client's owner lock (mqi_own_try: never waits;
 *     the worker holds it whenever it works on the client);
 *   - the connection is up on a plain socket (no TLS/WebSocket layer,
 *     whose state a write may change), not being handed over;
 *   - nothing queued before it: the command queue is empty (earlier calls
 *     of this thread are there; publishes only), nothing is encoded and
 *     unwritten, the socket was not full;
 *   - no persistence (its store tick is the worker's timer) and no
 *     spliced payload;
 *   - for a publish: the client's I/O is on the shared worker, or the
 *     caller is its loop thread (mq_loop_start's I/O thread);
 *   - for a publish: the socket was read since the last direct publish
 *     (read_since_direct), as in a round trip; a loop publishing faster
 *     than answers come leaves its messages to the worker, which writes
 *     them in batches (one write per message would cost it throughput).
 * The message then takes the worker's path through the session (window,
 * receive maximum, packet ids, aliases, QoS 2 state) and pump(). The write
 * is non-blocking: what the socket does not take stays in the output buffer
 * and EPOLLOUT gives the rest to the worker; a write error is left to the
 * worker too (mqi_conn_flush under tl_direct), which sees it on its next
 * write or read and handles the lost connection as always. */

/* Under the owner lock: may this thread write now? */
static bool
direct_ok(const mq_client *c)
{
    return c->cs == MQI_CS_UP && !c->dead && !c->adopt && c->store == NULL &&
           !c->draining && !c->want_disconnect &&
           c->io.fd >= 0 && c->io.ops != NULL && c->io.layer == NULL &&
           !c->write_blocked && out_pending(c) == 0 && c->ses_err == MQ_OK;
}

/* After a direct write: hand over what it produced as the worker's
 * end of round would (events, queue space), and let go of the client.
 * False when the worker must end the connection (an action that could
 * not be carried out here: session_check); it is woken for that. */
static bool
direct_end(mq_client *c)
{
    bool posted = c->bat_head != NULL, freed = c->space_freed;
    bool ok = c->ses_err == MQ_OK;

    mqi_conn_post_flush(c);
    c->space_freed = false;
    mqi_own_unlock(c);
    if (freed)
        mqi_space_released(c);
    if (posted)
        mqi_worker_posted(c); /* a loop thread doing the I/O dispatches */
    if (!ok)
        mqi_wake(c); /* mqi_conn_commands looks at ses_err */
    return ok;
}

bool
mqi_conn_direct_publish(mq_client *c, mqi_msg *m)
{
    if (m->payload_len >= SPLICE_MIN || !mqi_own_try(c))
        return false;
    /* a client whose loop thread does its I/O (mq_loop_start) is left
     * to that thread unless it is the caller: with direct publishes from
     * another thread its paho-style round trip at QoS 0 was slow (~70 us
     * instead of ~18) about twice as often (bench/README.md, item 2
     * continued) */
    if (!direct_ok(c) || !c->read_since_direct ||
        (c->w != c->home && mqi_worker_current() != c->w) ||
        !mqi_mpsc_empty(&c->cmdq)) {
        mqi_own_unlock(c);
        return false;
    }
    c->read_since_direct = false;
    tl_direct = true;
    mqi_session_add(&c->ses, m);
    pump(c);
    if (c->ses_err == MQ_OK)
        mqi_conn_flush(c);
    tl_direct = false;
    (void)direct_end(c); /* m is in the session either way */
    return true;
}

bool
mqi_conn_direct_acks(mq_client *c)
{
    if (!mqi_own_try(c))
        return false;
    if (!direct_ok(c)) {
        mqi_own_unlock(c);
        return false;
    }
    tl_direct = true;
    if (mqi_ackch_due(c->ackch))
        mqi_session_acks(&c->ses, true);
    /* an ack that could not be encoded (no memory) ends the connection:
     * the worker's part (direct_end wakes it) */
    if (c->ses_err == MQ_OK)
        mqi_conn_flush(c);
    tl_direct = false;
    (void)direct_end(c);
    return true;
}

/* ---- session ---------------------------------------------------------- */

static void
subs_add(mq_client *c, const char *filter, uint8_t options,
         const mq_props *props)
{
    size_t i;
    mqi_subrec *n;
    mq_props *pp = NULL;

    /* the SUBSCRIBE's properties (Subscription Identifier, user
     * properties) are kept so a resubscribe asks for the same */
    if (props != NULL && mq_props_count(props) > 0 &&
        mqi_props_dup(props, &pp) != MQ_OK)
        return;
    for (i = 0; i < c->nsubs; i++)
        if (strcmp(c->subs[i].filter, filter) == 0) {
            c->subs[i].options = options;
            mq_props_free(c->subs[i].props);
            c->subs[i].props = pp;
            return;
        }
    if (c->nsubs == c->capsubs) {
        uint32_t cap = c->capsubs ? c->capsubs * 2 : 8;
        n = c->capsubs < UINT32_MAX / 2 ? realloc(c->subs, cap * sizeof *n)
                                        : NULL; /* 2^31 records: never */
        if (n == NULL) {
            mq_props_free(pp);
            return;
        }
        c->subs = n;
        c->capsubs = cap;
    }
    c->subs[c->nsubs].filter = strdup(filter);
    if (c->subs[c->nsubs].filter == NULL) {
        mq_props_free(pp);
        return;
    }
    c->subs[c->nsubs].options = options;
    c->subs[c->nsubs].props = pp;
    c->nsubs++;
}

static void
subrec_free(mqi_subrec *r)
{
    free(r->filter);
    mq_props_free(r->props);
}

static void
subs_remove(mq_client *c, const char *filter)
{
    size_t i;

    for (i = 0; i < c->nsubs; i++)
        if (strcmp(c->subs[i].filter, filter) == 0) {
            subrec_free(&c->subs[i]);
            c->subs[i] = c->subs[--c->nsubs];
            return;
        }
}

/* One SUBSCRIBE (token 0: no event) for registry entries @p idx[0..n). */
static mqi_msg *
resubscribe_msg(mq_client *c, const size_t *idx, size_t n)
{
    mqi_msg *m = mqi_msg_new(0);
    size_t i;

    if (m == NULL)
        return NULL;
    m->kind = MQI_CMD_SUBSCRIBE;
    m->filters = calloc(n, sizeof *m->filters);
    m->options = calloc(n, 1);
    if (m->filters == NULL || m->options == NULL)
        goto fail;
    for (i = 0; i < n; i++) {
        m->filters[i] = strdup(c->subs[idx[i]].filter);
        if (m->filters[i] == NULL)
            goto fail;
        m->options[i] = c->subs[idx[i]].options;
        m->count = i + 1;
    }
    if (mqi_props_dup(c->subs[idx[0]].props, &m->props) != MQ_OK)
        goto fail;
    return m;
fail:
    mqi_msg_free(m);
    return NULL;
}

/* Renew the registry's subscriptions after the broker lost the session:
 * filters without properties in as few SUBSCRIBEs as the broker's Maximum
 * Packet Size allows, each filter with properties in its own (properties
 * apply to a whole packet). */
static void
queue_resubscribe(mq_client *c)
{
    size_t *plain, np = 0, i, first = 0, bytes = 0;
    mqi_msg *m, *firsts = NULL, **tail = &firsts;

    if (c->nsubs == 0)
        return;
    plain = calloc(c->nsubs, sizeof *plain);
    if (plain == NULL)
        return;
    for (i = 0; i < c->nsubs; i++) {
        c->subs[i].restored_conn = c->conn_no; /* see restored_answer */
        c->subs[i].granted = -1;
        if (c->subs[i].props == NULL) {
            plain[np++] = i;
            continue;
        }
        if ((m = resubscribe_msg(c, &i, 1)) != NULL) {
            *tail = m;
            tail = &m->next;
        }
    }
    for (i = 0; i < np; i++) {
        size_t fl = strlen(c->subs[plain[i]].filter);
        if (i > first && mqi_sub_wire_size(c->proto, MQI_SUBSCRIBE,
                                           i - first + 1, bytes + fl, 0) >
                             send_limit(c)) {
            if ((m = resubscribe_msg(c, plain + first, i - first)) != NULL) {
                *tail = m;
                tail = &m->next;
            }
            first = i;
            bytes = 0;
        }
        bytes += fl;
    }
    if (np > first && (m = resubscribe_msg(c, plain + first, np - first)) !=
                          NULL) {
        *tail = m;
        tail = &m->next;
    }
    free(plain);
    /* ahead of what the application queued, in registry order */
    {
        mqi_msg *rev = NULL, *next;
        for (m = firsts; m != NULL; m = next) {
            next = m->next;
            m->next = rev;
            rev = m;
        }
        for (m = rev; m != NULL; m = next) {
            next = m->next;
            mqi_list_push_front(&c->ses.ctrl_pending, m);
        }
    }
}

/* The Authentication Method of our CONNECT, or NULL: no enhanced
 * authentication on this connection (MQTT 5 §4.12). */
static const char *
auth_method(const mq_client *c)
{
    if (c->proto != MQ_PROTO_V5 || c->cfg->connect_props == NULL)
        return NULL;
    return mq_props_get_string(c->cfg->connect_props,
                               MQ_PROP_AUTHENTICATION_METHOD);
}

/* An AUTH from mq_auth(), if this connection may carry it. */
static void
send_auth(mq_client *c, const mqi_msg *m)
{
    size_t before = c->out.len;
    mqi_disconnect d;

    if (c->proto != MQ_PROTO_V5) {
        v5_dropped(c, "AUTH");
        return;
    }
    if (auth_method(c) == NULL) {
        /* [MQTT-4.12.0-7]: no AUTH without an Authentication Method in
         * the CONNECT */
        mqi_log(c, MQ_LOG_ERROR, "AUTH not sent: the CONNECT had no "
                "Authentication Method");
        return;
    }
    memset(&d, 0, sizeof d);
    d.reason = (uint8_t)m->reason;
    d.props = m->props;
    if (mqi_encode_disconnect(&c->out, c->proto, MQI_AUTH, &d) == MQ_OK &&
        c->out.len - before > send_limit(c)) {
        c->out.len = before;
        mqi_log(c, MQ_LOG_ERROR, "AUTH not sent: larger than the broker's "
                "Maximum Packet Size");
    }
}

/* Append our DISCONNECT within the size limit: a Reason String or User
 * Property that would make it too large is left out (MQTT 5 §3.14.2.2.3,
 * §3.14.2.2.4); the Session Expiry Interval stays. */
static void
encode_disconnect_fit(mq_client *c, const mqi_disconnect *d)
{
    size_t before = c->out.len;
    mqi_disconnect small = *d;
    uint32_t v;

    if (mqi_encode_disconnect(&c->out, c->proto, MQI_DISCONNECT, d) !=
            MQ_OK ||
        c->out.len - before <= send_limit(c))
        return;
    c->out.len = before;
    small.props = NULL;
    if (mq_props_get_int(d->props, MQ_PROP_SESSION_EXPIRY_INTERVAL, 0, &v) ==
        MQ_OK) {
        mq_props *p = mq_props_new();
        if (p != NULL)
            mq_props_add_int(p, MQ_PROP_SESSION_EXPIRY_INTERVAL, v);
        small.props = p;
    }
    mqi_log(c, MQ_LOG_WARNING, "DISCONNECT properties left out: larger than "
            "the broker's Maximum Packet Size");
    if (mqi_encode_disconnect(&c->out, c->proto, MQI_DISCONNECT, &small) !=
        MQ_OK) {
        /* decided: no memory for the DISCONNECT: the connection closes
         * without it (as after the first attempt above) */
    }
    mq_props_free((mq_props *)small.props);
}

static mqi_subrec *
subs_find(mq_client *c, const char *filter)
{
    size_t i;

    for (i = 0; i < c->nsubs; i++)
        if (strcmp(c->subs[i].filter, filter) == 0)
            return &c->subs[i];
    return NULL;
}

/* Same MQTT 5 properties (in the same order)? */
static bool
props_equal(const mq_props *a, const mq_props *b)
{
    size_t na = a != NULL ? mq_props_count(a) : 0;
    size_t nb = b != NULL ? mq_props_count(b) : 0;
    mqi_buf ea, eb;
    bool same;

    if (na == 0 || nb == 0)
        return na == nb;
    mqi_buf_init(&ea);
    mqi_buf_init(&eb);
    same = mqi_props_encode(&ea, a) == MQ_OK &&
           mqi_props_encode(&eb, b) == MQ_OK && ea.len == eb.len &&
           memcmp(ea.data, eb.data, ea.len) == 0;
    mqi_buf_free(&ea);
    mqi_buf_free(&eb);
    return same;
}

enum { RESTORED_NO = 0, RESTORED_WAIT, RESTORED_YES };

/* Is the application's SUBSCRIBE @p m one libmq already renewed on this
 * connection - every filter, with the same options and properties? Then
 * sending it again would only make the broker resend the retained
 * messages (the tutorial subscribes in on_connect, and libmq resubscribes
 * by itself): YES, answer it from the renewal's SUBACK; WAIT for that
 * SUBACK; or NO, send it. */
static int
restored_answer(mq_client *c, const mqi_msg *m)
{
    size_t i;
    int res = RESTORED_YES;

    if (m->kind != MQI_CMD_SUBSCRIBE || m->token == 0 || c->conn_no == 0)
        return RESTORED_NO;
    for (i = 0; i < m->count; i++) {
        mqi_subrec *r = subs_find(c, m->filters[i]);
        if (r == NULL || r->restored_conn != c->conn_no ||
            r->options != m->options[i] || !props_equal(r->props, m->props))
            return RESTORED_NO;
        if (r->granted < 0)
            res = RESTORED_WAIT;
    }
    return res;
}

/* Answer an application SUBSCRIBE locally (restored_answer said YES). */
static void
answer_restored(mq_client *c, mqi_msg *m)
{
    mq_event *ev = mqi_event_new(MQ_EVENT_SUBSCRIBED, m->count);
    size_t i;

    mqi_log(c, MQ_LOG_DEBUG, "SUBSCRIBE %s%s not sent again: renewed on "
            "this connection already", m->filters[0],
            m->count > 1 ? " ..." : "");
    outcome(c, m->token, MQ_OK);
    if (ev != NULL) {
        ev->token = m->token;
        ev->reasons = (uint8_t *)(ev + 1);
        ev->nreasons = m->count;
        for (i = 0; i < m->count; i++)
            ev->reasons[i] = (uint8_t)subs_find(c, m->filters[i])->granted;
        ev->reason = ev->reasons[0];
        post(c, ev);
    }
    mqi_msg_free(m);
}

/* An application (UN)SUBSCRIBE for these filters goes out: later ones are
 * no longer covered by libmq's own renewal. */
static void
forget_restored(mq_client *c, const mqi_msg *m)
{
    size_t i;

    for (i = 0; i < m->count; i++) {
        mqi_subrec *r = subs_find(c, m->filters[i]);
        if (r != NULL)
            r->restored_conn = 0;
    }
}

/* Parked SUBSCRIBEs go back to the front of the control queue, in order
 * (pump decides again). */
static void
unpark(mq_client *c)
{
    mqi_msg *m;

    while ((m = c->parked.tail) != NULL) {
        mqi_list_remove(&c->parked, m);
        mqi_list_push_front(&c->ses.ctrl_pending, m);
    }
}

/* Send queued publishes while the window allows, and control packets. */
/* What the connection allows a PUBLISH (for mqi_session_next_publish). */
static void
send_limits(const mq_client *c, mqi_send_limits *lim)
{
    lim->max_packet = send_limit(c);
    lim->max_qos = c->server_max_qos;
    lim->retain = c->server_retain;
    lim->alias_max = atomic_load_explicit(&c->alias_max_out,
                                          memory_order_relaxed);
    lim->alias_auto = c->cfg->topic_alias_auto > 0;
}

/* Send what the session lets out now: control packets first, then
 * publishes within the window, flushing every FLUSH_AT bytes. */
static void
pump(mq_client *c)
{
    mqi_session *s = &c->ses;
    mqi_send_limits lim;
    mqi_msg *m;
    int rc;

    if (c->cs != MQI_CS_UP)
        return;
    while ((m = s->ctrl_pending.head) != NULL) {
        size_t before = c->out.len;
        if (m->kind == MQI_CMD_AUTH) {
            mqi_list_remove(&s->ctrl_pending, m);
            send_auth(c, m);
            mqi_msg_free(m);
            continue;
        }
        switch (restored_answer(c, m)) {
        case RESTORED_YES:
            mqi_list_remove(&s->ctrl_pending, m);
            answer_restored(c, m);
            continue;
        case RESTORED_WAIT:
            mqi_list_remove(&s->ctrl_pending, m);
            mqi_list_push(&c->parked, m);
            continue;
        default:
            break;
        }
        if (!mqi_session_pid_alloc(s, m))
            break;
        mqi_list_remove(&s->ctrl_pending, m);
        if (m->token != 0)
            forget_restored(c, m);
        rc = encode_sub(c, m);
        if (rc == MQ_OK && c->out.len - before > send_limit(c)) {
            /* over the broker's Maximum Packet Size: never sent (the
             * limit was not known when the call returned its token) */
            c->out.len = before;
            rc = MQ_ERR_TOO_LARGE;
        }
        if (rc != MQ_OK) {
            mqi_session_unsent(s, m, rc, rc == MQ_ERR_TOO_LARGE
                                             ? MQ_RC_PACKET_TOO_LARGE
                                             : MQ_RC_UNSPECIFIED_ERROR);
            continue;
        }
        mqi_session_sent(s, m);
    }
    send_limits(c, &lim);
    /* The socket is full and enough is encoded: the rest waits in the
     * queue (where the queue limits hold) until EPOLLOUT. Encoding it
     * anyway would complete QoS 0 messages into an output buffer that
     * nothing bounds. */
    while (!(c->write_blocked && out_pending(c) >= FLUSH_AT) &&
           (m = mqi_session_next_publish(s, &lim)) != NULL) {
        if (c->proto != MQ_PROTO_V5 && c->version == MQ_PROTO_V5 &&
            (m->alias != 0 || mq_props_count(m->props) > 0))
            v5_dropped(c, "PUBLISH properties");
        rc = encode_publish(c, m, false);
        if (rc != MQ_OK) {
            mqi_session_unsent(s, m, rc, 0);
            continue;
        }
        mqi_session_sent(s, m);
        if (m->qos == 0 && !spliced(c, m))
            complete(c, m, MQ_OK, 0); /* else when its payload is out */
        if (out_pending(c) >= FLUSH_AT) {
            mqi_conn_flush(c);
            if (c->cs != MQI_CS_UP)
                return;
            if (c->write_blocked)
                break; /* the socket is full: the rest waits, bounded by
                          the queue limits, until EPOLLOUT */
        }
    }
    drain_check(c);
}

/* ---- the session's actions ------------------------------------------------ */

/* The sink of the session state machine (session.c): carries out one
 * action on this connection. Writes go to the output buffer; one that
 * cannot be encoded (no memory) closes the connection once the transition
 * is over (session_check), so the session is never changed under its own
 * feet; a resend on the next connection repairs it. */
static void
session_act(void *ud, const mqi_act *a)
{
    mq_client *c = ud;
    int rc = MQ_OK;

    switch (a->kind) {
    case MQI_ACT_SEND_PUBLISH:
        rc = encode_publish(c, a->m, a->dup);
        break;
    case MQI_ACT_SEND_ACK:
        rc = encode_ack(c, a->type, a->pid, a->reason);
        break;
    case MQI_ACT_SEND_SUB:
        rc = encode_sub(c, a->m);
        break;
    case MQI_ACT_COMPLETE:
        complete(c, a->m, a->err, a->reason);
        break;
    case MQI_ACT_FAIL_SUB:
        fail_sub(c, a->m, a->err, a->reason);
        break;
    case MQI_ACT_STORE:
        if (c->store != NULL &&
            mqi_store_update(c->store, a->m->seq, a->st, a->pid) != MQ_OK)
            /* the record keeps its older state: after a restart the
             * message is sent again (a QoS 2 PUBLISH instead of PUBREL
             * may be a duplicate); logged, the connection goes on */
            mqi_log(c, MQ_LOG_WARNING, "persistence: could not record the "
                    "state of packet id %u", (unsigned)a->pid);
        break;
    case MQI_ACT_STORE_IN:
        if (c->store != NULL &&
            mqi_store_qos2_in(c->store, a->pid, a->st != 0) != MQ_OK)
            /* after a restart the broker's resend would be delivered
             * again (a PUBREL "not found" for an off-record): logged */
            mqi_log(c, MQ_LOG_WARNING, "persistence: could not record "
                    "inbound QoS 2 packet id %u", (unsigned)a->pid);
        break;
    case MQI_ACT_LOG:
        mqi_log(c, a->level, "%s", a->text);
        break;
    case MQI_ACT_PROTOCOL_ERROR:
    case MQI_ACT_NOMEM:
        if (tl_direct) {
            /* not on the worker: it ends the connection (session_check
             * after the direct write wakes it) */
            rc = MQ_ERR_NOMEM;
            break;
        }
        if (a->kind == MQI_ACT_NOMEM)
            connection_lost(c, MQ_ERR_NOMEM, 0, a->text);
        else
            protocol_error(c, a->err, a->reason, a->text);
        break;
    }
    if (rc != MQ_OK && c->ses_err == MQ_OK)
        c->ses_err = (int8_t)rc; /* MQ_ERR_* > -128 */
}

/* A client joins its worker: its session reports to session_act, and it
 * gets its own generator for reconnect jitter (differs between clients,
 * processes and runs, and leaves rand() to the application). */
void
mqi_conn_init(mq_client *c)
{
    mqi_session_init(&c->ses, session_act, c);
    mqi_rng_seed(&c->rng, (uint64_t)mqi_now_ms() * UINT64_C(0x100000001b3) ^
                              (uint64_t)getpid() << 32 ^ (uint64_t)(uintptr_t)c);
}

/* After a session transition: an action that could not be carried out
 * ends the connection. true if it did. */
static bool
session_check(mq_client *c)
{
    int err = c->ses_err;

    if (err == MQ_OK)
        return false;
    c->ses_err = MQ_OK;
    connection_lost(c, err, 0, "out of memory for an outgoing packet");
    return true;
}

/* After CONNACK: resend or requeue what was in flight (session.c), and
 * renew the subscriptions of a lost session. */
static void
restore_session(mq_client *c)
{
    unpark(c); /* decided again against this connection's renewals */
    if (c->store != NULL && !c->qos2_in_loaded) {
        /* inbound QoS 2 ids an earlier process PUBREC'd: resends of
         * them are not delivered again */
        uint16_t *ids = malloc(65535 * sizeof *ids);
        size_t n = ids != NULL ? mqi_store_qos2_in_list(c->store, ids, 65535)
                               : 0;
        c->qos2_in_loaded = ids != NULL;
        for (size_t i = 0; i < n; i++)
            if (!mqi_session_qos2_in_restore(&c->ses, ids[i])) {
                c->qos2_in_loaded = false; /* again on the next CONNACK */
                break;
            }
        free(ids);
    }
    mqi_session_on_connack(&c->ses, c->session_present);
    /* what the application finished while we were away */
    mqi_session_acks(&c->ses, true);
    if (session_check(c))
        return;
    if (!c->session_present)
        queue_resubscribe(c);
}

/* ---- closing ------------------------------------------------------------ */

static void
connection_lost(mq_client *c, int err, int reason, const char *msg)
{
    if (c->cs == MQI_CS_IDLE)
        return;
    mqi_log(c, MQ_LOG_INFO, "connection lost: %s%s%s", mq_strerror(err),
            msg && *msg ? ": " : "", msg ? msg : "");
    mqi_conn_close_socket(c);
    atomic_store(&c->connected, 0);
    if (c->cs == MQI_CS_CLOSING) {
        disconnect_done(c);
        return;
    }
    if (c->cs != MQI_CS_UP)
        mqi_conn_note_attempt(c, err); /* lost before CONNACK: the attempt failed */
    mqi_connect_lost(c, err, reason, msg && *msg ? msg : mq_strerror(err));
    mqi_io_err_clear(); /* reported: the next failure starts afresh */
}

static void
protocol_error(mq_client *c, int err, uint8_t reason, const char *msg)
{
    /* best effort; skipped when a write is half done (a TLS or WebSocket
     * layer must be retried with the same bytes) */
    if (c->proto == MQ_PROTO_V5 && c->io.fd >= 0 &&
        c->cs >= MQI_CS_CONNACK && out_pending(c) == 0) {
        mqi_disconnect d;
        size_t n;
        memset(&d, 0, sizeof d);
        d.reason = reason;
        c->out.len = c->out_off = 0;
        if (mqi_encode_disconnect(&c->out, c->proto, MQI_DISCONNECT, &d) ==
            MQ_OK)
            c->io.ops->write(&c->io, c->out.data, c->out.len, &n);
    }
    connection_lost(c, err, reason, msg);
}

/* ---- inbound packets -------------------------------------------------- */

static uint8_t
map_v3_connack(uint8_t rc)
{
    switch (rc) {
    case 0: return 0;
    case 1: return MQ_RC_UNSUPPORTED_PROTOCOL_VERSION;
    case 2: return MQ_RC_CLIENT_IDENTIFIER_NOT_VALID;
    case 3: return MQ_RC_SERVER_UNAVAILABLE;
    case 4: return MQ_RC_BAD_USER_NAME_OR_PASSWORD;
    case 5: return MQ_RC_NOT_AUTHORIZED;
    default: return MQ_RC_UNSPECIFIED_ERROR;
    }
}

/* A v5 CONNECT that a 3.1.1-only broker cannot take: with
 * MQ_OPT_PROTOCOL_FALLBACK the same server is tried again at once in
 * 3.1.1 (paho C tries versions in turn), without events for the failed
 * attempt. @p sure: the broker said so (a 3.1.1 CONNACK): 3.1.1 for that
 * server until the next mq_connect(); else (it only closed) the next
 * attempt alone is 3.1.1, and stays so only if it succeeds. */
static void
fallback_to_v311(mq_client *c, bool sure, const char *why)
{
    mqi_log(c, MQ_LOG_INFO, "the broker does not take MQTT 5 (%s): "
            "trying MQTT 3.1.1", why);
    mqi_conn_close_socket(c);
    atomic_store(&c->connected, 0);
    c->fallback[c->server_idx % c->cfg->nservers] =
        sure ? MQI_FB_V311 : MQI_FB_TRY;
    c->cs = MQI_CS_BACKOFF;
    c->backoff_until_ms = mqi_now_ms();
    mqi_conn_deadline(c, c->backoff_until_ms);
}

static void
on_connack(mq_client *c, const mqi_connack *p)
{
    uint8_t reason = c->proto == MQ_PROTO_V5 ? p->reason
                                                : map_v3_connack(p->reason);
    mq_props *props = parse_props(p->props_raw);
    mq_event *ev;
    uint32_t v;
    int alias_max = 0; /* absent: the broker takes no aliases */

    if (c->cs != MQI_CS_CONNACK) {
        mq_props_free(props);
        protocol_error(c, MQ_ERR_PROTOCOL, MQ_RC_PROTOCOL_ERROR,
                       "unexpected CONNACK");
        return;
    }
    if (p->v311_refusal && c->cfg->protocol_fallback && c->fallback != NULL) {
        mq_props_free(props);
        fallback_to_v311(c, true, "it answered with a 3.1.1 CONNACK");
        return;
    }
    if (reason == 0 && auth_method(c) == NULL && props != NULL &&
        mq_props_has(props, MQ_PROP_AUTHENTICATION_METHOD)) {
        mq_props_free(props);
        protocol_error(c, MQ_ERR_PROTOCOL, MQ_RC_PROTOCOL_ERROR,
                       "CONNACK with an Authentication Method the CONNECT "
                       "did not ask for");
        return;
    }
    {
        /* what TLS negotiated, for mq_event_tls() */
        char tls[256];
        size_t tl = c->io.ops != NULL && c->io.ops->describe != NULL
                        ? c->io.ops->describe(&c->io, tls, sizeof tls) : 0;
        ev = mqi_event_new(MQ_EVENT_CONNECT, tl);
        if (ev != NULL && tl > 0) {
            ev->tls = (char *)(ev + 1);
            memcpy(ev->tls, tls, tl);
        }
    }
    if (ev != NULL) {
        ev->reason = reason;
        ev->session_present = reason == 0 && p->session_present;
        ev->props = props;
    } else {
        mq_props_free(props);
    }
    if (reason != 0) {
        if (ev != NULL)
            post(c, ev);
        mqi_conn_close_socket(c);
        mqi_conn_note_attempt(c, MQ_ERR_REFUSED);
        {
            char msg[160];
            if (p->v311_refusal)
                snprintf(msg, sizeof msg, "connection refused: the broker "
                         "does not support MQTT 5; use MQ_PROTO_V311 (or "
                         "MQ_OPT_PROTOCOL_FALLBACK)");
            else
                snprintf(msg, sizeof msg, "connection refused: %s",
                         mq_reason_string(reason));
            mqi_connect_lost(c, MQ_ERR_REFUSED, reason, msg);
        }
        return;
    }
    if (c->fallback_try && c->fallback != NULL)
        c->fallback[c->server_idx % c->cfg->nservers] = MQI_FB_V311;
    atomic_store(&c->proto_in_use, c->proto);
    c->session_present = p->session_present;
    c->ses.window = (size_t)c->cfg->max_inflight;
    c->server_max_packet = 0;
    c->server_max_qos = 2;
    c->server_retain = true;
    c->server_keepalive = (uint16_t)c->cfg->keepalive;
    atomic_store(&c->max_packet, c->cfg->max_packet_size);
    if (props != NULL) {
        const char *id;
        if (mq_props_get_int(props, MQ_PROP_RECEIVE_MAXIMUM, 0, &v) == MQ_OK &&
            v < c->ses.window)
            c->ses.window = v;
        if (mq_props_get_int(props, MQ_PROP_MAXIMUM_PACKET_SIZE, 0, &v) ==
            MQ_OK) {
            c->server_max_packet = v;
            if (v < c->cfg->max_packet_size)
                atomic_store(&c->max_packet, v);
        }
        if (mq_props_get_int(props, MQ_PROP_MAXIMUM_QOS, 0, &v) == MQ_OK)
            c->server_max_qos = (uint8_t)v; /* a byte property */
        if (mq_props_get_int(props, MQ_PROP_RETAIN_AVAILABLE, 0, &v) == MQ_OK)
            c->server_retain = v != 0;
        if (mq_props_get_int(props, MQ_PROP_SERVER_KEEP_ALIVE, 0, &v) == MQ_OK)
            c->server_keepalive = (uint16_t)v;
        if (mq_props_get_int(props, MQ_PROP_TOPIC_ALIAS_MAXIMUM, 0, &v) ==
            MQ_OK)
            alias_max = (int)v;
        id = mq_props_get_string(props, MQ_PROP_ASSIGNED_CLIENT_IDENTIFIER);
        if (id != NULL) {
            /* Earlier assigned ids stay allocated until the next
             * mq_connect(): mq_client_id() promised them that long. */
            struct mqi_idnode *n = malloc(sizeof *n + strlen(id) + 1);
            if (n != NULL) {
                strcpy(n->id, id);
                pthread_mutex_lock(&c->lock);
                n->next = c->assigned_ids;
                c->assigned_ids = n;
                pthread_mutex_unlock(&c->lock);
            }
        }
    }
    if (c->ses.window == 0)
        c->ses.window = 1;
    /* outbound aliases start empty on every connection */
    alias_reset(c);
    c->v5_drop_logged = false;
    atomic_store(&c->alias_max_out, alias_max);
    if (c->server_keepalive > 0)
        mqi_conn_deadline(c, mqi_now_ms() + (int64_t)c->server_keepalive * 1000);
    c->ses.proto = c->proto;
    /* grow the id table for a larger window (else it is made lazily by
     * the first QoS 1/2 message); without memory the old one serves */
    if (c->ses.pid_slots != NULL && mqi_session_pid_table(&c->ses) != MQ_OK) {
        /* decided: the old table serves (ids are found by probing) */
    }
    c->cs = MQI_CS_UP;
    /* c->attempt is reset only once the connection proved stable
     * (mqi_backoff_after_up, when it is lost) */
    c->up_since_ms = mqi_now_ms();
    if (++c->conn_no == 0)
        c->conn_no = 1; /* 0 means "never" in the subscription records */
    atomic_store(&c->connected, 1);
    mqi_log(c, MQ_LOG_INFO, "connected (session present: %d)",
            (int)c->session_present);
    if (ev != NULL)
        post(c, ev);
    mqi_conn_note_attempt(c, MQ_OK);
    restore_session(c);
    pump(c); /* also ends a pending graceful disconnect when all is out */
    mqi_conn_flush(c);
}

static void
on_publish(mq_client *c, const mqi_publish *p)
{
    mq_props *props = NULL;
    const uint8_t *topic = p->topic.ptr;
    size_t tlen = p->topic.len;
    mq_event *ev;
    mqi_inack *mark = NULL;
    uint32_t alias = 0;

    bool has_alias = false;

    if (!mqi_session_on_publish(&c->ses, p->qos, p->packet_id,
                                p->dup)) {
        (void)session_check(c);
        return; /* a QoS 2 resend (PUBREC again), or no memory */
    }
    if (p->props_raw.len > 0) {
        props = parse_props(p->props_raw);
        if (props == NULL) {
            /* not delivered and not acknowledged: the broker sends it
             * again on the next connection */
            connection_lost(c, MQ_ERR_NOMEM, 0, "out of memory");
            return;
        }
        has_alias =
                    mq_props_get_int(props, MQ_PROP_TOPIC_ALIAS, 0,
                                     &alias) == MQ_OK;
    }
    if (!mqi_session_in_topic(&c->ses, has_alias, alias, &topic, &tlen)) {
        mq_props_free(props); /* the protocol error was reported */
        return;
    }
    if (p->qos > 0) {
        /* QoS 1/2 are acknowledged when the application frees the event
         * (inack.h); made first, so a failure leaves nothing to undo */
        if (c->ackch == NULL)
            c->ackch = mqi_ackch_new(c);
        if (c->ackch == NULL ||
            (mark = mqi_inack_new(c->ackch, p->qos, p->packet_id, 0)) ==
                NULL) {
            mq_props_free(props);
            connection_lost(c, MQ_ERR_NOMEM, 0, "out of memory");
            return;
        }
    }
    if (c->in_steal_ok && p->payload.len >= STEAL_MIN) {
        ev = mqi_event_new(MQ_EVENT_MESSAGE, tlen + 1);
        if (ev != NULL) {
            ev->owned = c->in.data;
            c->in_stolen = true;
            c->in_steal_ok = false;
        }
    } else {
        ev = mqi_event_new(MQ_EVENT_MESSAGE, tlen + 1 + p->payload.len);
    }
    if (ev == NULL) {
        /* Without memory we cannot deliver: do not acknowledge either,
         * so the broker redelivers after a reconnect. */
        mq_props_free(props);
        if (mark != NULL) {
            mqi_inack_release(mark, false); /* the event's reference */
            mqi_inack_unref(mark);          /* the session's */
        }
        connection_lost(c, MQ_ERR_NOMEM, 0, "out of memory");
        return;
    }
    ev->topic = (char *)(ev + 1);
    memcpy(ev->topic, topic, tlen);
    ev->topic[tlen] = '\0';
    if (ev->owned != NULL) {
        ev->payload = (uint8_t *)p->payload.ptr; /* inside ev->owned */
    } else {
        ev->payload = (uint8_t *)ev->topic + tlen + 1;
        if (p->payload.len > 0)
            memcpy(ev->payload, p->payload.ptr, p->payload.len);
    }
    ev->payload_len = p->payload.len;
    ev->acct = tlen + p->payload.len + p->props_raw.len;
    ev->qos = p->qos;
    ev->retain = p->retain;
    ev->dup = p->dup;
    ev->packet_id = p->packet_id;
    ev->props = props;
    ev->inack = mark;
    post(c, ev);
    mqi_session_delivered(&c->ses, p->qos, p->packet_id, mark);
    (void)session_check(c);
}

static void
on_ack(mq_client *c, const mqi_ack *a)
{
    bool moved = mqi_session_on_ack(&c->ses, a);

    if (!session_check(c) && moved)
        pump(c);
}

/* The SUBACK of libmq's own resubscribe, for filter @p i of @p m: note
 * the granted QoS (for restored_answer) and tell the application. */
static void
restored(mq_client *c, const mqi_msg *m, size_t i, uint8_t r,
         const mqi_suback *s)
{
    mqi_subrec *rec = subs_find(c, m->filters[i]);
    size_t flen = strlen(m->filters[i]) + 1;
    mq_event *ev;

    if (rec != NULL) {
        rec->granted = r;
        if (r >= 0x80)
            rec->restored_conn = 0; /* refused: the application's own
                                       SUBSCRIBE must go out */
    }
    ev = mqi_event_new(MQ_EVENT_RESUBSCRIBED, flen);
    if (ev == NULL)
        return;
    ev->topic = (char *)(ev + 1);
    memcpy(ev->topic, m->filters[i], flen);
    ev->qos = m->options[i] & 3;
    ev->reason = r;
    ev->error = r >= 0x80 ? MQ_ERR_REFUSED : MQ_OK;
    ev->packet_id = s->packet_id;
    ev->props = parse_props(s->props_raw);
    post(c, ev);
}

static void
on_suback(mq_client *c, uint8_t type, const mqi_suback *s)
{
    size_t i, n = s->reasons.len;
    mqi_msg *m = mqi_session_on_suback(&c->ses, type, s->packet_id, n);
    mq_event *ev;
    int error;

    if (m == NULL)
        return; /* unknown id (logged), or a protocol error */
    for (i = 0; i < m->count; i++) {
        uint8_t r = i < n ? s->reasons.ptr[i] : 0;
        if (type == MQI_SUBACK && r < 0x80)
            subs_add(c, m->filters[i], m->options[i], m->props);
        else if (type == MQI_UNSUBACK)
            subs_remove(c, m->filters[i]);
        if (type == MQI_SUBACK && m->token == 0)
            restored(c, m, i, r, s);
    }
    if (type == MQI_SUBACK && m->token == 0)
        unpark(c); /* SUBSCRIBEs that waited for this: pump decides */
    {
        int err = MQ_OK;
        for (i = 0; i < n; i++)
            if (s->reasons.ptr[i] >= 0x80)
                err = MQ_ERR_REFUSED;
        outcome(c, m->token, err);
        error = err;
    }
    if (m->token != 0) {
        ev = mqi_event_new(type == MQI_SUBACK ? MQ_EVENT_SUBSCRIBED
                                              : MQ_EVENT_UNSUBSCRIBED,
                           m->count);
        if (ev != NULL) {
            ev->token = m->token;
            ev->error = error;
            ev->packet_id = s->packet_id;
            ev->reasons = (uint8_t *)(ev + 1);
            ev->nreasons = m->count;
            for (i = 0; i < m->count; i++)
                ev->reasons[i] = i < n ? s->reasons.ptr[i] : 0;
            ev->reason = ev->nreasons ? ev->reasons[0] : 0;
            ev->props = parse_props(s->props_raw);
            post(c, ev);
        }
    }
    mqi_msg_free(m);
    pump(c);
}

/* An AUTH from the broker: only within the enhanced authentication our
 * CONNECT asked for, with the same Authentication Method (MQTT 5 §4.12,
 * [MQTT-4.12.0-6], §3.15.2.2.2); anything else is a protocol error. */
static void
on_auth(mq_client *c, const mqi_disconnect *a)
{
    const char *ours = auth_method(c), *theirs;
    mq_props *props = parse_props(a->props_raw);
    mq_event *ev;

    theirs = props ? mq_props_get_string(props, MQ_PROP_AUTHENTICATION_METHOD)
                   : NULL;
    if (ours == NULL || theirs == NULL || strcmp(ours, theirs) != 0) {
        mq_props_free(props);
        protocol_error(c, MQ_ERR_PROTOCOL, MQ_RC_PROTOCOL_ERROR,
                       ours == NULL ? "AUTH without enhanced authentication "
                                      "(no Authentication Method in CONNECT)"
                                    : "AUTH with another Authentication "
                                      "Method than the CONNECT's");
        return;
    }
    ev = mqi_event_new(MQ_EVENT_AUTH, 0);
    if (ev == NULL) {
        mq_props_free(props);
        return;
    }
    ev->reason = a->reason;
    ev->props = props;
    post(c, ev);
}

static void
handle_packet(mq_client *c, const mqi_packet *p)
{
    if (c->cs == MQI_CS_CONNACK && p->type != MQI_CONNACK &&
        p->type != MQI_AUTH && p->type != MQI_DISCONNECT) {
        protocol_error(c, MQ_ERR_PROTOCOL, MQ_RC_PROTOCOL_ERROR,
                       "packet before CONNACK");
        return;
    }
    switch (p->type) {
    case MQI_CONNACK:
        on_connack(c, &p->u.connack);
        break;
    case MQI_PUBLISH:
        on_publish(c, &p->u.publish);
        break;
    case MQI_PUBACK:
    case MQI_PUBREC:
    case MQI_PUBREL:
    case MQI_PUBCOMP:
        on_ack(c, &p->u.ack);
        break;
    case MQI_SUBACK:
    case MQI_UNSUBACK:
        on_suback(c, p->type, &p->u.suback);
        break;
    case MQI_PINGRESP:
        c->ping_sent_ms = 0;
        break;
    case MQI_DISCONNECT: {
        char msg[200];
        mq_props *pr = parse_props(p->u.disconnect.props_raw);
        const char *rs = pr ? mq_props_get_string(pr, MQ_PROP_REASON_STRING)
                            : NULL;
        snprintf(msg, sizeof msg, "broker sent DISCONNECT: %s%s%s",
                 mq_reason_string(p->u.disconnect.reason), rs ? ": " : "",
                 rs ? rs : "");
        mq_props_free(pr);
        connection_lost(c, MQ_ERR_CLOSED, p->u.disconnect.reason, msg);
        break;
    }
    case MQI_AUTH:
        on_auth(c, &p->u.disconnect);
        break;
    default:
        protocol_error(c, MQ_ERR_PROTOCOL, MQ_RC_PROTOCOL_ERROR,
                       "packet type a client must not receive");
        break;
    }
}

/* Can a packet of this type and remaining length be valid at all? Checked
 * on the fixed header alone, so a bogus length is refused before we wait
 * for (and buffer) its body. */
static bool
header_plausible(int version, uint8_t b0, uint32_t rem)
{
    switch (b0 >> 4) {
    case MQI_PINGRESP:
        return rem == 0;
    case MQI_CONNACK:
        /* v5: properties make it any size; the Maximum Packet Size alone
         * bounds it (checked next) */
        return version == MQ_PROTO_V5 ? rem >= 2 : rem == 2;
    case MQI_PUBACK:
    case MQI_PUBREC:
    case MQI_PUBREL:
    case MQI_PUBCOMP:
    case MQI_UNSUBACK:
        return version == MQ_PROTO_V5 ? rem >= 2 : rem == 2;
    case MQI_DISCONNECT:
    case MQI_AUTH:
        return version == MQ_PROTO_V5 || rem == 0;
    default:
        return true;
    }
}

/* Parse the complete packets in [data, data + len). Returns the bytes
 * consumed: it stops at a partial packet, when the event queue is full
 * (paused), or when the connection was closed (then *closed is set). */
static size_t
parse_buf(mq_client *c, const uint8_t *data, size_t len, bool *closed,
          bool *swapped)
{
    size_t off = 0;

    *closed = false;
    *swapped = false;
    while (!atomic_load_explicit(&c->paused, memory_order_relaxed)) {
        uint8_t b0, reason = MQ_RC_MALFORMED_PACKET;
        uint32_t rem;
        size_t hl;
        mqi_packet pkt;
        int rc;

        if (c->io.fd < 0 || c->cs < MQI_CS_CONNACK) {
            *closed = true;
            break;
        }
        rc = mqi_decode_header(data + off, len - off, &b0, &rem, &hl);
        if (rc == MQ_ERR_AGAIN)
            break;
        if (rc != MQ_OK) {
            protocol_error(c, MQ_ERR_MALFORMED, MQ_RC_MALFORMED_PACKET,
                           "bad remaining length");
            *closed = true;
            break;
        }
        if (!header_plausible(c->proto, b0, rem)) {
            protocol_error(c, MQ_ERR_MALFORMED, MQ_RC_MALFORMED_PACKET,
                           "impossible remaining length for the packet type");
            *closed = true;
            break;
        }
        if ((uint64_t)rem + hl > c->cfg->max_packet_size) {
            protocol_error(c, MQ_ERR_TOO_LARGE, MQ_RC_PACKET_TOO_LARGE,
                           "packet larger than the maximum packet size");
            *closed = true;
            break;
        }
        if (len - off < hl + rem)
            break;
        rc = mqi_decode(c->proto, b0, data + off + hl, rem, &pkt, &reason);
        if (rc != MQ_OK) {
            char msg[80];
            snprintf(msg, sizeof msg, "%s packet (type %u) from broker",
                     rc == MQ_ERR_MALFORMED ? "malformed" : "invalid",
                     (unsigned)(b0 >> 4));
            protocol_error(c, rc, reason, msg);
            *closed = true;
            break;
        }
        off += hl + rem;
        /* a large payload may be handed to its event without a copy when
         * it sits in the client's own buffer */
        c->in_steal_ok = data == c->in.data;
        handle_packet(c, &pkt);
        c->in_steal_ok = false;
        if (c->in_stolen) {
            /* the event owns the old buffer now; keep the rest */
            mqi_buf nb;
            c->in_stolen = false;
            mqi_buf_init(&nb);
            if (len > off && mqi_buf_reserve(&nb, len - off) == MQ_OK) {
                memcpy(nb.data, data + off, len - off);
                nb.len = len - off;
            }
            c->in = nb;
            *swapped = true;
            if (c->io.fd < 0)
                *closed = true;
            return off;
        }
        if (c->io.fd < 0) {
            *closed = true; /* closed while handling; buffers were reset */
            break;
        }
    }
    return off;
}

/* Parse what is buffered in c->in (a partial packet, or input left while
 * paused) and keep the rest at the front of the buffer. */
static void
parse_input(mq_client *c)
{
    bool closed, swapped;
    size_t used;

    while (c->in.len > 0) {
        used = parse_buf(c, c->in.data, c->in.len, &closed, &swapped);
        if (closed)
            return;
        if (swapped)
            continue; /* c->in now holds only what followed */
        mqi_buf_consume(&c->in, used);
        return;
    }
}

/* One read from the transport into [buf, buf + cap). Returns true with
 * *out_n bytes, or false when there is nothing more now (AGAIN) or the
 * connection ended (then it has been handled). */
static bool
read_some(mq_client *c, uint8_t *buf, size_t cap, size_t *out_n)
{
    int rc = c->io.ops->read(&c->io, buf, cap, out_n);

    if (rc == MQ_OK) {
        c->last_recv_ms = mqi_now_ms(); /* bytes prove the link alive */
        c->ack_due = true;
        return true;
    }
    if (rc == MQ_ERR_CLOSED && c->cs == MQI_CS_CONNACK &&
        c->proto == MQ_PROTO_V5) {
        /* what a broker without MQTT 5 may do with a v5 CONNECT */
        if (c->cfg->protocol_fallback && c->fallback != NULL)
            fallback_to_v311(c, false, "it closed the connection before "
                             "CONNACK");
        else
            connection_lost(c, rc, 0, "connection closed by the broker "
                            "before CONNACK (a broker without MQTT 5 may do "
                            "this: MQ_PROTO_V311 or MQ_OPT_PROTOCOL_FALLBACK)");
    } else if (rc == MQ_ERR_CLOSED)
        connection_lost(c, MQ_ERR_CLOSED, 0, "connection closed by broker");
    else if (rc != MQ_ERR_AGAIN)
        connection_lost(c, rc, 0, mqi_io_err);
    return false;
}

/* How much to read behind a partial packet pending in c->in: up to the
 * rest of the packet when that is large (bounded per read), so a large
 * payload lands in place and nothing behind it has to be copied out again
 * when the payload moves to its event. For such a packet c->in is also
 * given its exact size here. 0: not a large packet (read READ_CHUNK). */
static size_t
pending_packet_want(mq_client *c)
{
    uint8_t b0;
    uint32_t rem;
    size_t hl;

    if (mqi_decode_header(c->in.data, c->in.len, &b0, &rem, &hl) == MQ_OK &&
        hl + rem > c->in.len + READ_CHUNK) {
        size_t need = hl + rem - c->in.len;
        if (c->in.cap < hl + rem) {
            /* exactly the packet, from the pool of large blocks: it
             * becomes the MESSAGE event's payload, and the block comes
             * back here when the event is freed (no fresh pages) */
            uint8_t *nd = mqi_big_alloc(hl + rem);
            if (nd == NULL)
                return 0; /* go on in READ_CHUNK steps; the buffer grows
                             by mqi_buf_reserve, which reports NOMEM */
            memcpy(nd, c->in.data, c->in.len);
            free(c->in.data); /* the small first-chunk buffer */
            c->in.data = nd;
            c->in.cap = hl + rem;
        }
        return need < (4u << 20) ? need : (4u << 20);
    }
    return 0;
}

static void
handle_read(mq_client *c)
{
    uint8_t *rbuf = c->w->rbuf;
    int rounds;

    /* Reads go to the worker's shared buffer and are parsed in place; only
     * a partial packet is kept in the client's own buffer (and what follows
     * it is read straight behind it), so an idle connection holds no read
     * buffer at all. */
    for (rounds = 0; rounds < 16; rounds++) {
        size_t n, used, want;
        bool closed, swapped;

        if (c->io.fd < 0 || atomic_load(&c->paused))
            return;
        if (c->in.len > 0) {
            want = pending_packet_want(c);
            if (mqi_buf_reserve(&c->in, want ? want : READ_CHUNK) != MQ_OK) {
                connection_lost(c, MQ_ERR_NOMEM, 0, "out of memory");
                return;
            }
            if (want == 0)
                want = c->in.cap - c->in.len;
            if (!read_some(c, c->in.data + c->in.len, want, &n))
                return;
            c->in.len += n;
            parse_input(c);
        } else {
            want = READ_CHUNK;
            if (!read_some(c, rbuf, want, &n))
                return;
            used = parse_buf(c, rbuf, n, &closed, &swapped);
            if (closed)
                return;
            if (used < n) {
                if (mqi_buf_reserve(&c->in, n - used) != MQ_OK) {
                    connection_lost(c, MQ_ERR_NOMEM, 0, "out of memory");
                    return;
                }
                memcpy(c->in.data, rbuf + used, n - used);
                c->in.len = n - used;
            }
        }
        /* A short read drained a plain socket; TLS may hold more records. */
        if (n < want && c->io.layer == NULL)
            return;
    }
}

/* Acknowledge at once what was read when nothing we wrote carried the
 * ACK. A broker that leaves Nagle's algorithm on (mosquitto's default,
 * set_tcp_nodelay false) holds every acknowledgement after the first
 * until the first is ACKed; the kernel's delayed ACK (40 ms on Linux)
 * then stalls an application that waits for several completions before
 * it publishes again: one stall per window, ~50x fewer messages.
 * TCP_QUICKACK sends the pending ACK now; Linux clears it again by
 * itself, so it is set after every read that left an ACK owed (one
 * setsockopt per read round, only when this round wrote nothing).
 * Platforms without TCP_QUICKACK keep their delayed ACKs. */
static void
ack_now(mq_client *c)
{
    c->ack_due = false;
#ifdef TCP_QUICKACK
    if (c->tcp && c->io.fd >= 0) {
        int one = 1;
        if (setsockopt(c->io.fd, IPPROTO_TCP, TCP_QUICKACK, &one,
                       sizeof one) != 0) {
            /* not fatal: the ACK is only later */
        }
    }
#endif
}

void
mqi_conn_io(mq_client *c, uint32_t events)
{
    if (c->io.fd < 0)
        return;
    if (c->cs == MQI_CS_TCP) {
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(c->io.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
            err = errno;
        if (err != 0) {
            epoll_ctl(c->w->epfd, EPOLL_CTL_DEL, c->io.fd, NULL);
            close(c->io.fd);
            c->io.fd = -1;
            c->epoll_mask = 0;
            if (c->addrs != NULL) { /* more addresses to try */
                mqi_connect_next_addr(c);
            } else {
                mqi_connect_addr_failed(c, err);
            }
            return;
        }
        c->cs = MQI_CS_HANDSHAKE;
        mqi_connect_tcp_done(c);
        return;
    }
    if (c->cs == MQI_CS_HANDSHAKE) {
        mqi_connect_handshake(c);
        return;
    }
    if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
        c->write_blocked = false;
    if (c->write_blocked && (events & EPOLLIN) && c->io.layer != NULL)
        c->write_blocked = false; /* TLS/WebSocket may write on a read */
    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
        c->read_since_direct = true; /* the next publish may write itself */
        handle_read(c);
        /* hand what was read to the application before writing the acks:
         * on loopback a write runs the peer's receive path inline, and the
         * application need not wait for that */
        mqi_conn_post_flush(c);
    }
    /* acks and queued packets produced while reading go out in one write */
    if (c->io.fd >= 0 && (out_pending(c) > 0 || (events & EPOLLOUT))) {
        if (events & EPOLLOUT)
            pump(c); /* room again: messages held back by a full socket */
        mqi_conn_flush(c);
    }
    if (c->ack_due)
        ack_now(c);
}

/* ---- commands ------------------------------------------------------------ */

/* The graceful disconnect's state goes (its end, or the client's). */
static void
drain_free(mq_client *c)
{
    if (c->drain != NULL) {
        mq_props_free(c->drain->props);
        free(c->drain);
        c->drain = NULL;
    }
}

int64_t
mqi_conn_drain_deadline(const mq_client *c)
{
    return c->drain != NULL ? c->drain->deadline_ms : 0; /* 0: now */
}

/* Could the session the broker holds for us outlive this disconnect?
 * Then publishes in flight belong to it: MQTT-4.4.0-1 has them resent
 * with their ids when the client comes back with that session. */
static bool
session_resumable(const mq_client *c)
{
    uint32_t expiry = c->cfg->session_expiry;

    if (c->cfg->clean_start)
        return false;
    if (c->proto != MQ_PROTO_V5)
        return true;
    if (c->drain != NULL && c->drain->props != NULL)
        mq_props_get_int(c->drain->props, MQ_PROP_SESSION_EXPIRY_INTERVAL, 0,
                         &expiry);
    return expiry > 0;
}

/* A SUBSCRIBE/UNSUBSCRIBE that will not be sent or answered any more. */
static void
ctrl_abort(mq_client *c, mqi_msg *m)
{
    if (m->kind != MQI_CMD_AUTH && m->token != 0) {
        mq_event *ev = mqi_event_new(m->kind == MQI_CMD_SUBSCRIBE
                                         ? MQ_EVENT_SUBSCRIBED
                                         : MQ_EVENT_UNSUBSCRIBED, 0);
        outcome(c, m->token, MQ_ERR_ABORTED);
        if (ev != NULL) {
            ev->token = m->token;
            ev->error = MQ_ERR_ABORTED;
            post(c, ev);
        }
    }
    mqi_msg_free(m);
}

/* The end of a graceful disconnect: what was not delivered either stays
 * queued for the next mq_connect() - QoS 1/2 messages in the persistence
 * store, and those in flight in a session the broker keeps - or completes
 * with MQ_ERR_ABORTED. Never freed without an event. */
static void
settle_undelivered(mq_client *c)
{
    bool resumable = session_resumable(c);
    size_t none[2] = {0, 0}, *aborted = &none[0], *kept = &none[1];
    mqi_msg *m, *next;

    if (c->drain != NULL) { /* always while draining */
        aborted = &c->drain->aborted;
        kept = &c->drain->kept;
    }
    *kept = 0; /* counted afresh: this may run twice */
    for (m = c->ses.pending.head; m != NULL; m = next) {
        next = m->next;
        if (m->qos > 0 && m->seq != 0 && c->store != NULL) {
            ++*kept;
            continue;
        }
        mqi_list_remove(&c->ses.pending, m);
        ++*aborted;
        complete(c, m, MQ_ERR_ABORTED, 0);
    }
    for (m = c->ses.inflight.head; m != NULL; m = next) {
        next = m->next;
        if (m->kind == MQI_CMD_PUBLISH &&
            ((m->seq != 0 && c->store != NULL) || resumable)) {
            ++*kept;
            continue;
        }
        mqi_list_remove(&c->ses.inflight, m);
        mqi_session_pid_release(&c->ses, m);
        if (m->kind == MQI_CMD_PUBLISH) {
            c->ses.inflight_pub--;
            ++*aborted;
            complete(c, m, MQ_ERR_ABORTED, 0);
            continue;
        }
        ctrl_abort(c, m);
    }
    while ((m = mqi_list_pop(&c->ses.ctrl_pending)) != NULL)
        ctrl_abort(c, m);
    while ((m = mqi_list_pop(&c->parked)) != NULL)
        ctrl_abort(c, m);
}

/* Everything of a graceful disconnect is sent: DISCONNECT goes out, and
 * the socket closes once it is written (or CLOSE_GRACE_MS later). */
static void
send_disconnect(mq_client *c)
{
    mqi_disconnect d;

    memset(&d, 0, sizeof d);
    d.reason = (uint8_t)c->close_reason;
    d.props = c->drain != NULL ? c->drain->props : NULL;
    encode_disconnect_fit(c, &d);
    c->cs = MQI_CS_CLOSING;
    mqi_conn_deadline(c, mqi_now_ms() + CLOSE_GRACE_MS);
    mqi_conn_flush(c);
}

/* Anything a graceful disconnect still has to deliver? */
bool
mqi_conn_outstanding(const mq_client *c)
{
    return mqi_session_busy(&c->ses) || c->parked.n != 0;
}

/* Called whenever a graceful disconnect may have finished its work. */
static void
drain_check(mq_client *c)
{
    if (c->draining && c->cs == MQI_CS_UP && !mqi_conn_outstanding(c))
        send_disconnect(c);
}

/* The graceful disconnect stops waiting (deadline, forced, or no way to
 * reach the broker any more). */
void
mqi_conn_drain_end(mq_client *c)
{
    settle_undelivered(c);
    if (c->cs == MQI_CS_UP && c->io.fd >= 0)
        send_disconnect(c); /* the event follows when it is written */
    else
        disconnect_done(c);
}

/* The client is idle after mq_disconnect(): tell the API side first (so
 * mq_connect is allowed when the event is seen), then post the event. */
static void
disconnect_done(mq_client *c)
{
    char msg[160];

    mqi_conn_close_socket(c);
    c->cs = MQI_CS_IDLE;
    atomic_store(&c->connected, 0);
    if (c->draining)
        settle_undelivered(c); /* publishes that raced in behind it */
    c->draining = false;
    if (c->drain != NULL &&
        (c->drain->aborted > 0 || c->drain->kept > 0)) {
        snprintf(msg, sizeof msg, "disconnected; not delivered: %zu aborted "
                 "(MQ_ERR_ABORTED), %zu kept for the next connect",
                 c->drain->aborted, c->drain->kept);
        mqi_log(c, MQ_LOG_WARNING, "%s", msg);
    } else {
        snprintf(msg, sizeof msg, "disconnected");
    }
    drain_free(c);
    pthread_mutex_lock(&c->lock);
    if (c->connect_seq == c->cfg_seq)
        c->active = false;
    c->closing = false;
    c->final_pending = true;
    atomic_store(&c->closing_flag, false);
    mqi_state_broadcast(c);
    pthread_mutex_unlock(&c->lock);
    mqi_conn_post_disconnected(c, MQ_OK, c->close_reason, false, msg);
}

static void
cmd_disconnect(mq_client *c, mqi_msg *m)
{
    bool forced = m->qos != 0;
    int timeout;

    if (c->draining && !forced) {
        mqi_msg_free(m); /* one is running (the API refuses a second) */
        return;
    }
    c->close_reason = (uint8_t)m->reason; /* 0..255: mq_disconnect*() */
    if (!c->draining) {
        /* made by mq_disconnect*() with the command (never NULL there);
         * one left by a disconnect that found DISCONNECT on its way
         * (CLOSING) is reused, with this command's properties */
        if (c->drain == NULL) {
            c->drain = m->resolved;
            m->resolved = NULL;
        }
        if (c->drain != NULL) {
            mq_props_free(c->drain->props);
            c->drain->props = m->props;
            m->props = NULL;
        }
    }
    mqi_msg_free(m);
    if (c->cs == MQI_CS_CLOSING)
        return; /* DISCONNECT is already on its way */
    c->draining = true;
    timeout = forced || c->drain == NULL
                  ? 0
                  : atomic_load(&c->disconnect_timeout_ms);
    if (c->drain != NULL)
        c->drain->deadline_ms = mqi_now_ms() + timeout;
    if (timeout == 0 || c->cs == MQI_CS_IDLE) {
        /* forced, or idle (a failed attempt with reconnect off raced
         * with the call): nothing more can be delivered */
        mqi_conn_drain_end(c);
        return;
    }
    if (c->cs == MQI_CS_UP) {
        pump(c); /* sends DISCONNECT at once when nothing is mqi_conn_outstanding */
        mqi_conn_flush(c);
    } else if (!mqi_conn_outstanding(c) && c->cs != MQI_CS_CONNACK) {
        /* nothing to deliver, and no CONNECT sent that a DISCONNECT
         * should answer (the broker would publish the Will) */
        disconnect_done(c);
        return;
    }
    if (c->draining && c->cs != MQI_CS_CLOSING)
        mqi_conn_deadline(c, mqi_conn_drain_deadline(c));
}

static void
cmd_connect(mq_client *c)
{
    mqi_opts *snap;
    unsigned seq;

    pthread_mutex_lock(&c->lock);
    snap = c->connect_snap; /* made by mq_connect with the node */
    c->connect_snap = NULL;
    seq = c->connect_seq;   /* no newer mq_connect while this one is queued */
    pthread_mutex_unlock(&c->lock);
    if (snap == NULL)
        return; /* never: the node is pushed only with a snapshot */
    if (c->cs != MQI_CS_IDLE) {
        c->close_reason = 0;
        disconnect_done(c);
    }
    mqi_opts_unref(c->cfg);
    c->cfg = snap;
    c->cfg_seq = seq;
#ifdef MQ_HAVE_TLS
    /* rebuilt from the new options at the next TLS connect, keeping the
     * session for resumption if they are the same */
    mqi_tls_ctx_mark_stale(c->tls_ctx);
#endif
    free(c->fallback);
    c->fallback = NULL;
    if (c->version == MQ_PROTO_V5 && c->cfg->protocol_fallback)
        c->fallback = calloc(c->cfg->nservers, 1); /* all MQI_FB_V5 */
    mqi_session_in_alias_max(&c->ses, c->cfg->topic_alias_maximum);
    c->server_idx = 0;
    c->attempt = 0;
    c->up_since_ms = 0;
    c->ses.window = (size_t)c->cfg->max_inflight;
    mqi_connect_start(c);
}

static void drop_client_state(mq_client *c);

static bool
list_has_token(const mqi_list *l, int token)
{
    const mqi_msg *m;

    for (m = l->head; m != NULL; m = m->next)
        if (m->token == token)
            return true;
    return false;
}

/* mq_wait() asks about @p r->token (after every command queued before it
 * was handled). Pending: watch it until it completes. Else it finished
 * earlier: a failure is remembered among the newest FAILS_MAX; any token
 * issued after the newest forgotten failure that is not among them
 * succeeded; older ones are unknown (MQ_ERR_NOT_FOUND). */
static void
watch_add(mq_client *c, mqi_waitreq *r)
{
    mqi_waitreq **pp, *o;
    int t = r->token;
    size_t i;
    bool pending;

    /* drop requests whose waiters gave up (their tokens never ended) */
    pthread_mutex_lock(&c->lock);
    for (pp = &c->watch; (o = *pp) != NULL;) {
        if (o->abandoned) {
            *pp = o->next;
            free(o);
        } else {
            pp = &o->next;
        }
    }
    pthread_mutex_unlock(&c->lock);
    pending = list_has_token(&c->ses.pending, t) ||
              list_has_token(&c->ses.ctrl_pending, t) ||
              list_has_token(&c->ses.inflight, t) ||
              list_has_token(&c->parked, t);
    for (i = c->spl != NULL ? c->spl->first : 0;
         !pending && c->spl != NULL && i < c->spl->n; i++)
        pending = c->spl->v[i].m->token == t && c->spl->v[i].m->qos == 0;
    if (pending) {
        r->next = c->watch;
        c->watch = r;
        watch_reply(c, r, MQI_WS_PENDING, MQ_OK);
        return;
    }
    for (i = 0; c->fails != NULL && i < c->fails->n; i++)
        if (c->fails->v[i].token == t) {
            watch_reply(c, r, MQI_WS_DONE, c->fails->v[i].err);
            return;
        }
    watch_reply(c, r, MQI_WS_DONE,
                !c->fail_evicted || token_newer(t, c->fail_horizon)
                    ? MQ_OK : MQ_ERR_NOT_FOUND);
}

void
mqi_conn_commands(mq_client *c)
{
    mqi_qnode *n;

    if (mqi_ackch_due(c->ackch) || c->ses_err != MQ_OK) {
        /* the application freed messages: their PUBACK/PUBREC (or a
         * direct write of them could not encode one: session_check) */
        mqi_session_acks(&c->ses, c->cs == MQI_CS_UP ||
                                      c->cs == MQI_CS_CLOSING);
        if (!session_check(c))
            mqi_conn_flush(c);
    }

    while ((n = mqi_mpsc_pop(&c->cmdq)) != NULL) {
        mqi_msg *m;
        if (n == &c->destroy_node) { /* mqi_worker_detach */
            drop_client_state(c);
            return;
        }
        if (n == &c->connect_node) { /* mq_connect */
            pump(c);
            mqi_conn_flush(c);
            cmd_connect(c);
            continue;
        }
        m = MQI_CONTAINER_OF(n, mqi_msg, qn);
        switch (m->kind) {
        case MQI_CMD_PUBLISH:
            mqi_session_add(&c->ses, m);
            if (c->cs == MQI_CS_UP && c->ses.pending.n >= 1024)
                pump(c);
            break;
        case MQI_CMD_AUTH:
            if (c->cs == MQI_CS_CONNACK) {
                /* enhanced authentication inside the CONNECT exchange
                 * (MQTT 5 §4.12): the broker's AUTH 0x18 challenge waits
                 * for this answer before its CONNACK */
                send_auth(c, m);
                mqi_msg_free(m);
                mqi_conn_flush(c);
                break;
            }
            mqi_session_add(&c->ses, m);
            break;
        case MQI_CMD_SUBSCRIBE:
        case MQI_CMD_UNSUBSCRIBE:
            mqi_session_add(&c->ses, m);
            break;
        case MQI_CMD_DISCONNECT:
            cmd_disconnect(c, m);
            break;
        case MQI_CMD_RESOLVED:
            if (m->generation != c->generation || c->cs != MQI_CS_RESOLVING) {
                mqi_msg_free(m);
                break;
            }
            if (m->resolve_err != 0 || m->resolved == NULL) {
                char msg[160];
                snprintf(msg, sizeof msg, "%s: %s",
                         c->cfg->servers[c->server_idx % c->cfg->nservers].host,
                         gai_strerror(m->resolve_err));
                mqi_msg_free(m);
                mqi_connect_fail(c, MQ_ERR_DNS, msg);
                break;
            }
            {
                struct addrinfo *res = m->resolved;
                m->resolved = NULL;
                mqi_msg_free(m);
                mqi_connect_resolved(c, res);
            }
            break;
        case MQI_CMD_WAIT:
            watch_add(c, m->resolved);
            m->resolved = NULL;
            mqi_msg_free(m);
            break;
        default:
            mqi_msg_free(m);
        }
    }
    if (c->cs == MQI_CS_UP) {
        pump(c);
        mqi_conn_flush(c);
    }
    if (c->store != NULL) {
        /* batched fsync: the store says when it wants to run next */
        int64_t now = mqi_now_ms();
        int next = mqi_store_tick(c->store, now);
        if (next >= 0)
            mqi_conn_deadline(c, now + (next > 0 ? next : 1));
    }
    /* resume reading when the application drained its events */
    if (atomic_load(&c->paused) &&
        (c->ev_known = mqi_events_count(&c->ev)) + c->bat_n <=
            atomic_load(&c->max_events) / 2 &&
        (c->evb_known = atomic_load(&c->ev.bytes)) + c->bat_bytes <=
            atomic_load(&c->max_event_bytes) / 2) {
        atomic_store(&c->paused, false);
        parse_input(c);
        mqi_conn_update_mask(c);
        if (c->io.fd >= 0 && c->cs >= MQI_CS_CONNACK) {
            handle_read(c);
            mqi_conn_flush(c);
        }
    }
}

/* ---- timers ------------------------------------------------------------- */

void
mqi_conn_timer(mq_client *c, int64_t now)
{
    int64_t ka = (int64_t)c->server_keepalive * 1000;

    c->deadline_ms = 0;
    if (c->store != NULL) {
        int next = mqi_store_tick(c->store, now);
        if (next >= 0)
            mqi_conn_deadline(c, now + (next > 0 ? next : 1));
    }
    if (c->draining && c->cs != MQI_CS_CLOSING) {
        if (now >= mqi_conn_drain_deadline(c)) {
            mqi_log(c, MQ_LOG_INFO, "disconnect: timed out delivering");
            mqi_conn_drain_end(c);
            return;
        }
        mqi_conn_deadline(c, mqi_conn_drain_deadline(c));
    }
    switch (c->cs) {
    case MQI_CS_RESOLVING:
    case MQI_CS_TCP:
    case MQI_CS_HANDSHAKE:
    case MQI_CS_CONNACK:
        if (now >= c->connect_deadline_ms) {
            mqi_connect_fail(c, MQ_ERR_TIMEOUT,
                         c->cs == MQI_CS_CONNACK ? "no CONNACK in time"
                                                 : "connect timed out");
            return;
        }
        mqi_conn_deadline(c, c->connect_deadline_ms);
        break;
    case MQI_CS_BACKOFF:
        if (now >= c->backoff_until_ms) {
            mqi_connect_start(c);
            return;
        }
        mqi_conn_deadline(c, c->backoff_until_ms);
        break;
    case MQI_CS_CLOSING:
        disconnect_done(c); /* DISCONNECT could not be written in time */
        break;
    case MQI_CS_UP:
        if (ka <= 0)
            break;
        if (atomic_load(&c->paused)) {
            /* We stopped reading on purpose (the application is behind):
             * unread bytes would hold the PINGRESP. Keepalive resumes with
             * reading; the broker sees our silence as normal TCP flow
             * control, and PINGREQs still go out so it does not drop us. */
            if (now - c->last_send_ms >= ka) {
                if (mqi_encode_simple(&c->out, MQI_PINGREQ) != MQ_OK) {
                    connection_lost(c, MQ_ERR_NOMEM, 0, "out of memory");
                    return;
                }
                mqi_conn_flush(c);
            }
            c->ping_sent_ms = 0;
            c->last_recv_ms = now;
            /* from the last write, whose clock was read after @p now: timed
             * from now, the next check could come a moment short of a
             * keepalive, skip the PINGREQ and leave 2 keepalives of silence
             * (the broker allows 1.5) */
            mqi_conn_deadline(c, c->last_send_ms + ka > now
                                     ? c->last_send_ms + ka : now + ka);
            break;
        }
        if (c->ping_sent_ms != 0) {
            /* dead only if nothing at all arrived for a keepalive since the
             * PINGREQ: a PINGRESP may queue behind a large slow message */
            int64_t ref = c->last_recv_ms > c->ping_sent_ms ? c->last_recv_ms
                                                            : c->ping_sent_ms;
            if (now - ref >= ka) {
                connection_lost(c, MQ_ERR_KEEPALIVE, MQ_RC_KEEP_ALIVE_TIMEOUT,
                                "no PINGRESP within the keepalive");
                return;
            }
            mqi_conn_deadline(c, ref + ka);
        } else {
            int64_t last = c->last_send_ms < c->last_recv_ms ? c->last_send_ms
                                                              : c->last_recv_ms;
            if (now - last >= ka) {
                if (mqi_encode_simple(&c->out, MQI_PINGREQ) != MQ_OK) {
                    connection_lost(c, MQ_ERR_NOMEM, 0, "out of memory");
                    return;
                }
                c->ping_sent_ms = now;
                mqi_conn_flush(c);
                mqi_conn_deadline(c, now + ka);
            } else {
                mqi_conn_deadline(c, last + ka);
            }
        }
        break;
    default:
        break;
    }
}

/* ---- destroy ---------------------------------------------------------- */

/* A publish accepted and never completed, freed by mq_client_destroy,
 * which says so (the counts stop at UINT32_MAX: 4 G messages). */
static void
count_destroyed(mq_client *c, const mqi_msg *m)
{
    if (c->destroy_lost < UINT32_MAX)
        c->destroy_lost++;
    if (m->seq != 0 && c->store != NULL && c->destroy_stored < UINT32_MAX)
        c->destroy_stored++;
}

static void
free_list(mq_client *c, mqi_list *l)
{
    mqi_msg *m;

    while ((m = mqi_list_pop(l)) != NULL) {
        mqi_session_pid_release(&c->ses, m);
        if (m->kind == MQI_CMD_PUBLISH) {
            /* accepted and never completed: mq_client_destroy says so */
            count_destroyed(c, m);
        }
        mqi_msg_free(m);
    }
}

static void
drop_client_state(mq_client *c)
{
    mqi_qnode *n;
    size_t i;

    /* spliced QoS 0 payloads not written are not counted as lost below:
     * mqi_conn_close_socket completes them (aborted), like any closed connection */
    mqi_conn_close_socket(c);
    while (c->bat_head != NULL) {
        mq_event *e = c->bat_head;
        c->bat_head = e->next;
        mqi_event_forget(e);
    }
    c->bat_tail = NULL;
    c->bat_n = 0;
    c->bat_bytes = 0;
    while ((n = mqi_mpsc_pop(&c->cmdq)) != NULL) {
        mqi_msg *m;
        if (n == &c->destroy_node || n == &c->connect_node)
            continue; /* its snapshot goes with the client (lifetime.c) */
        m = MQI_CONTAINER_OF(n, mqi_msg, qn);
        if (m->kind == MQI_CMD_WAIT) {
            watch_reply(c, m->resolved, MQI_WS_DONE, MQ_ERR_DESTROYED);
            m->resolved = NULL;
        } else if (m->kind == MQI_CMD_PUBLISH) {
            count_destroyed(c, m);
        }
        mqi_msg_free(m);
    }
    while (c->watch != NULL) {
        mqi_waitreq *r = c->watch;
        c->watch = r->next;
        watch_reply(c, r, MQI_WS_DONE, MQ_ERR_DESTROYED);
    }
    free(c->fails);
    c->fails = NULL;
    drain_free(c);
    free_list(c, &c->ses.pending);
    free_list(c, &c->ses.ctrl_pending);
    free_list(c, &c->parked);
    free_list(c, &c->ses.inflight);
    mqi_ackch_detach(c->ackch); /* events freed later wake nobody */
    c->ackch = NULL;
    mqi_session_free(&c->ses);
    for (i = 0; i < c->nsubs; i++)
        subrec_free(&c->subs[i]);
    free(c->subs);
    c->subs = NULL;
    c->nsubs = 0;
    alias_reset(c);
    free(c->fallback);
    c->fallback = NULL;
    mqi_buf_free(&c->out);
    mqi_buf_free(&c->in);
    free(c->spl);
    c->spl = NULL;
    mqi_opts_unref(c->cfg);
    c->cfg = NULL;
#ifdef MQ_HAVE_TLS
    if (c->tls_ctx != NULL)
        mqi_tls_ctx_free(c->tls_ctx);
    c->tls_ctx = NULL;
#endif
    c->cs = MQI_CS_IDLE;
    c->dead = true; /* the loop unlinks it from the worker */
}

