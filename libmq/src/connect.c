/*
 * connect.c - connecting a client: resolving the server's name (on the
 * process's resolver pool, resolver.c), TCP, the transport layers (proxy,
 * TLS, WebSocket), the CONNECT packet, and what happens when an attempt
 * fails or a connection is lost: the next address, the next server of the
 * list (failover), the 3.1.1 fallback, or a reconnect after a backoff with
 * jitter from the client's own generator (backoff.c). The CONNACK
 * itself is conn.c's.
 *
 * Threading: the client's worker thread, except resolve_wanted and
 * resolve_done (a thread of the resolver pool, resolver.c; the result
 * comes back through the client's command queue).
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "internal.h"
#include "resolver.h"
#include "worker.h"

/* ---- connecting ------------------------------------------------------- */

static void
clear_active_if_current(mq_client *c)
{
    pthread_mutex_lock(&c->lock);
    if (c->connect_seq == c->cfg_seq) {
        c->active = false;
        c->closing = false;
        atomic_store(&c->closing_flag, false);
    }
    mqi_state_broadcast(c); /* mq_wait_disconnected */
    pthread_mutex_unlock(&c->lock);
}

/* After a failed attempt or a lost connection: reconnect or stop. */
static void
schedule_retry(mq_client *c)
{
    int64_t now = mqi_now_ms();

    if (c->up_since_ms != 0) {
        /* a lost connection: afresh only if it stayed up a while */
        c->attempt = mqi_backoff_after_up(c->attempt, now - c->up_since_ms,
                                          c->server_keepalive);
        c->up_since_ms = 0;
    }
    c->server_idx++;
    if (c->cfg->nservers > 1 && c->server_idx % c->cfg->nservers != 0) {
        c->backoff_until_ms = now; /* next server in the list at once */
    } else {
        c->attempt++;
        c->backoff_until_ms =
            now + mqi_backoff_delay_ms(c->cfg->reconnect_min_ms,
                                       c->cfg->reconnect_max_ms, c->attempt,
                                       &c->rng);
    }
    c->cs = MQI_CS_BACKOFF;
    mqi_conn_deadline(c, c->backoff_until_ms);
}

/* Report a lost connection or failed attempt, then retry or stop. When
 * not retrying, the client is idle (mq_connect allowed) before the event is
 * visible, so an application reacting to it never sees MQ_ERR_STATE. */
void
mqi_connect_lost(mq_client *c, int err, int reason, const char *msg)
{
    bool retry = c->cfg->reconnect != 0;

    if (c->draining && (!retry || mqi_now_ms() >= mqi_conn_drain_deadline(c) ||
                        !mqi_conn_outstanding(c))) {
        /* mq_disconnect() was waiting for this connection: with no retry
         * left to finish it, or nothing left to deliver, it ends here (one
         * final event, error MQ_OK) */
        mqi_log(c, MQ_LOG_INFO, "disconnect: %s", msg);
        mqi_conn_drain_end(c);
        return;
    }
    if (!retry) {
        c->cs = MQI_CS_IDLE;
        clear_active_if_current(c);
    }
    mqi_conn_post_disconnected(c, err, reason, retry, msg);
    if (retry)
        schedule_retry(c);
}

void
mqi_connect_fail(mq_client *c, int err, const char *msg)
{
    mqi_log(c, MQ_LOG_INFO, "connect failed: %s%s%s", mq_strerror(err),
            msg && *msg ? ": " : "", msg ? msg : "");
    mqi_conn_close_socket(c);
    atomic_store(&c->connected, 0);
    mqi_conn_note_attempt(c, err);
    mqi_connect_lost(c, err, 0, msg && *msg ? msg : mq_strerror(err));
    mqi_io_err_clear(); /* reported: the next failure starts afresh */
}

static mq_props *
connect_props(mq_client *c)
{
    mq_props *p = NULL;

    if (c->proto != MQ_PROTO_V5)
        return NULL;
    if (mqi_props_dup(c->cfg->connect_props, &p) != MQ_OK)
        return NULL;
    if (p == NULL && (p = mq_props_new()) == NULL)
        return NULL;
    if (c->cfg->session_expiry != 0 &&
        !mq_props_has(p, MQ_PROP_SESSION_EXPIRY_INTERVAL))
        mq_props_add_int(p, MQ_PROP_SESSION_EXPIRY_INTERVAL,
                         c->cfg->session_expiry);
    if (c->cfg->receive_maximum != 65535 &&
        !mq_props_has(p, MQ_PROP_RECEIVE_MAXIMUM))
        mq_props_add_int(p, MQ_PROP_RECEIVE_MAXIMUM,
                         (uint32_t)c->cfg->receive_maximum);
    if (c->cfg->topic_alias_maximum != 0 &&
        !mq_props_has(p, MQ_PROP_TOPIC_ALIAS_MAXIMUM))
        mq_props_add_int(p, MQ_PROP_TOPIC_ALIAS_MAXIMUM,
                         (uint32_t)c->cfg->topic_alias_maximum);
    if (c->cfg->max_packet_size < 268435460u &&
        !mq_props_has(p, MQ_PROP_MAXIMUM_PACKET_SIZE))
        mq_props_add_int(p, MQ_PROP_MAXIMUM_PACKET_SIZE,
                         c->cfg->max_packet_size);
    return p;
}

static void
send_connect(mq_client *c)
{
    mqi_connect p;
    mq_props *props;
    int rc;

    memset(&p, 0, sizeof p);
    p.version = (uint8_t)c->proto;
    p.clean_start = c->cfg->clean_start != 0;
    p.keepalive = (uint16_t)c->cfg->keepalive;
    pthread_mutex_lock(&c->lock);
    p.client_id.ptr = (const uint8_t *)c->client_id;
    p.client_id.len = strlen(c->client_id);
    if (mqi_topts_of(c->cfg)->will) {
        const mqi_topts *w = mqi_topts_of(c->cfg);

        p.will.present = true;
        p.will.qos = (uint8_t)w->will_qos;
        p.will.retain = w->will_retain != 0;
        p.will.topic.ptr = (const uint8_t *)w->will_topic;
        p.will.topic.len = strlen(w->will_topic);
        p.will.payload.ptr = w->will_payload;
        p.will.payload.len = w->will_len;
        p.will.props = w->will_props;
    }
    if (c->cfg->username != NULL) {
        p.has_username = true;
        p.username.ptr = (const uint8_t *)c->cfg->username;
        p.username.len = strlen(c->cfg->username);
    }
    if (c->cfg->has_password) {
        p.has_password = true;
        p.password.ptr = c->cfg->password;
        p.password.len = c->cfg->password_len;
    }
    props = connect_props(c);
    p.props = props;
    c->out.len = 0;
    c->out_off = 0;
    rc = mqi_encode_connect(&c->out, &p);
    pthread_mutex_unlock(&c->lock);
    mq_props_free(props);
    if (rc != MQ_OK) {
        mqi_connect_fail(c, rc, "cannot encode CONNECT");
        return;
    }
    c->cs = MQI_CS_CONNACK;
    c->last_recv_ms = c->last_send_ms = mqi_now_ms();
    c->ping_sent_ms = 0;
    mqi_conn_flush(c);
}

static void start_transport(mq_client *c);

void
mqi_connect_handshake(mq_client *c)
{
    int rc = c->io.ops->handshake(&c->io);

    if (rc == MQ_OK && mqi_io_is_proxy(&c->io)) {
        /* the tunnel is open: the broker's own transport starts on it */
        mqi_io_proxy_done(&c->io);
        start_transport(c);
    } else if (rc == MQ_OK) {
        c->io.want = 0;
        send_connect(c);
    } else if (rc == MQ_ERR_AGAIN) {
        mqi_conn_update_mask(c);
    } else {
        mqi_connect_fail(c, rc, mqi_io_err);
    }
}

void
mqi_connect_tcp_done(mq_client *c)
{
    mqi_server *s = &c->cfg->servers[c->server_idx % c->cfg->nservers];

    if (c->addrs != NULL) {
        freeaddrinfo(c->addrs);
        c->addrs = NULL;
    }
    c->io.ops = &mqi_io_plain_ops;
    c->io.want = 0;
    mqi_io_err_clear();
    if (c->proxy != NULL) {
        /* first a tunnel to the broker; then start_transport */
        int rc = mqi_io_proxy_start(&c->io, c->proxy, s->host, s->port);
        if (rc != MQ_OK) {
            mqi_connect_fail(c, rc, mqi_io_err);
            return;
        }
        c->cs = MQI_CS_HANDSHAKE;
        mqi_connect_handshake(c);
        return;
    }
    start_transport(c);
}

/* TLS and/or WebSocket on the connected socket (or proxy tunnel). */
static void
start_transport(mq_client *c)
{
    mqi_server *s = &c->cfg->servers[c->server_idx % c->cfg->nservers];

    if (s->scheme == MQI_SCHEME_TLS || s->scheme == MQI_SCHEME_WSS) {
#ifdef MQ_HAVE_TLS
        const mqi_topts *t = mqi_topts_of(c->cfg);
        mqi_tls_opts o;
        int rc;
        memset(&o, 0, sizeof o);
        o.ca_file = t->tls_ca_file;
        o.ca_path = t->tls_ca_path;
        o.cert_file = t->tls_cert_file;
        o.key_file = t->tls_key_file;
        o.verify_name = t->tls_verify_name;
        o.alpn = t->tls_alpn;
        o.ciphers = t->tls_ciphers;
        o.min_version = t->tls_min_version;
        o.insecure = t->tls_insecure;
        o.no_hostname_check = t->tls_no_hostname_check;
        o.ca_pem = t->tls_ca_pem;
        o.cert_pem = t->tls_cert_pem;
        o.key_pem = t->tls_key_pem;
        o.key_password = t->tls_key_password;
        o.key_password_cb = t->tls_password_cb;
        o.key_password_userdata = t->tls_password_ud;
        o.port = s->port;
        mqi_xopts_tls(mqi_xopts_of(c->cfg), &o);
        if (o.insecure)
            mqi_log(c, MQ_LOG_WARNING, "TLS verification is off "
                    "(MQ_OPT_TLS_INSECURE): the broker is not authenticated");
        if (c->tls_ctx == NULL || mqi_tls_ctx_stale(c->tls_ctx)) {
            void *fresh = NULL;
            rc = mqi_tls_ctx_new(&o, &fresh, mqi_io_err, sizeof mqi_io_err);
            mqi_tls_ctx_inherit(fresh, c->tls_ctx);
            mqi_tls_ctx_free(c->tls_ctx);
            c->tls_ctx = fresh;
            if (rc != MQ_OK) {
                mqi_connect_fail(c, rc, mqi_io_err);
                return;
            }
        }
        rc = mqi_io_tls_start(&c->io, c->tls_ctx, s->host, &o);
        if (rc != MQ_OK) {
            mqi_connect_fail(c, rc, mqi_io_err);
            return;
        }
#else
        mqi_connect_fail(c, MQ_ERR_NOT_SUPPORTED, "built without TLS");
        return;
#endif
    }
    if (s->scheme == MQI_SCHEME_WS || s->scheme == MQI_SCHEME_WSS) {
        int rc = mqi_io_ws_start(&c->io, s->host, s->port, s->path);
        if (rc != MQ_OK) {
            mqi_connect_fail(c, rc, mqi_io_err);
            return;
        }
    }
    if (c->io.ops != &mqi_io_plain_ops) {
        c->cs = MQI_CS_HANDSHAKE;
        mqi_connect_handshake(c);
        return;
    }
    send_connect(c);
}

/* The last address refused or failed: say which (the broker or the
 * proxy), then retry or stop. */
void
mqi_connect_addr_failed(mq_client *c, int err)
{
    char msg[160];

    if (c->proxy != NULL)
        snprintf(msg, sizeof msg, "connect to the proxy %.100s port %u: %s",
                 c->proxy->host, (unsigned)c->proxy->port, strerror(err));
    else
        snprintf(msg, sizeof msg, "connect: %s", strerror(err));
    mqi_connect_fail(c, err == ECONNREFUSED ? MQ_ERR_CONNREFUSED : MQ_ERR_IO, msg);
}

/* MQ_SOPT_BIND_ADDRESS: bind @p fd to the source address before
 * connect(). 0, or the errno (EAFNOSUPPORT: the server's address is of
 * the other family, so this one is skipped). The port is left to connect()
 * where the kernel supports it, so connections to different servers or
 * ports can share a source port and one source address is good for more
 * than the ~28,000 ports of the ephemeral range. */
static int
bind_source(int fd, int family, const char *addr)
{
    struct sockaddr_storage ss;
    int fam = mqi_numeric_addr(addr, &ss);

    if (fam != family)
        return EAFNOSUPPORT;
#ifdef IP_BIND_ADDRESS_NO_PORT
    {
        int one = 1;
        if (setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one,
                       sizeof one) != 0) {
            /* an older kernel: bind() then chooses the port */
        }
    }
#endif
    if (bind(fd, (struct sockaddr *)&ss,
             fam == AF_INET ? sizeof(struct sockaddr_in)
                            : sizeof(struct sockaddr_in6)) != 0)
        return errno;
    return 0;
}

/* Start a connection to @p ai (which stays the caller's): true when
 * connect() is under way or done, false with *err set. */
static bool
try_addr(mq_client *c, const struct addrinfo *ai, int *err)
{
    int fd = socket(ai->ai_family,
                    ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    ai->ai_protocol);

    if (fd < 0) {
        *err = errno;
        return false;
    }
    c->tcp = ai->ai_family != AF_UNIX;
    c->ack_due = false;
    if (c->tcp && c->cfg->tcp_nodelay) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    if (c->tcp && mqi_xopts_of(c->cfg)->bind_address != NULL &&
        (*err = bind_source(fd, ai->ai_family,
                            mqi_xopts_of(c->cfg)->bind_address)) != 0) {
        close(fd);
        return false;
    }
    c->io.fd = fd;
    c->epoll_mask = 0;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
        c->cs = MQI_CS_HANDSHAKE;
        mqi_conn_update_mask(c);
        mqi_connect_tcp_done(c);
        return true;
    }
    if (errno == EINPROGRESS || errno == EAGAIN) {
        c->cs = MQI_CS_TCP;
        mqi_conn_update_mask(c);
        return true;
    }
    *err = errno;
    close(fd);
    c->io.fd = -1;
    return false;
}

/* c->addrs holds the addresses not tried yet: each is taken off the list
 * and freed once tried (POSIX lets freeaddrinfo free any sublist), so the
 * client keeps one pointer for the attempt, not a list and a cursor
 * (issue 20 item 3). */
void
mqi_connect_next_addr(mq_client *c)
{
    struct addrinfo *ai;
    int err = ECONNREFUSED;

    while ((ai = c->addrs) != NULL) {
        bool started;

        c->addrs = ai->ai_next;
        ai->ai_next = NULL;
        started = try_addr(c, ai, &err);
        freeaddrinfo(ai);
        if (started)
            return;
    }
    mqi_connect_addr_failed(c, err);
}

void
mqi_connect_resolved(mq_client *c, struct addrinfo *res)
{
    c->addrs = res;
    mqi_connect_next_addr(c);
}

/* Resolver pool jobs (resolver.c) hold a reference on their client. */
static bool
resolve_wanted(const mqi_rjob *j)
{
    mq_client *c = j->ud;

    /* a newer attempt or a destroy made the answer useless */
    return !atomic_load(&c->destroyed) && atomic_load(&c->generation) == j->gen;
}

static void
resolve_done(mqi_rjob *j, int err, struct addrinfo *res)
{
    mq_client *c = j->ud;
    mqi_msg *m = err == MQI_RESOLVE_SKIPPED ? NULL : mqi_msg_new(0);

    /* under the client's lock: mq_client_destroy sets destroyed under it,
     * so no wake can follow the destroy command. Without memory for the
     * message the attempt ends at its connect timeout. */
    pthread_mutex_lock(&c->lock);
    if (m != NULL && !atomic_load(&c->destroyed)) {
        m->kind = MQI_CMD_RESOLVED;
        m->generation = j->gen;
        m->resolve_err = err;
        m->resolved = err == 0 ? res : NULL;
        mqi_mpsc_push(&c->cmdq, &m->qn);
        mqi_wake(c);
        m = NULL;
        res = NULL;
    }
    pthread_mutex_unlock(&c->lock);
    free(m);
    if (res != NULL)
        freeaddrinfo(res);
    mqi_client_unref(c);
    free(j);
}

void
mqi_connect_start(mq_client *c)
{
    mqi_server *s;
    struct addrinfo hints, *res = NULL;
    char port[8];
    int64_t now = mqi_now_ms();

    mqi_conn_close_socket(c);
    c->connect_deadline_ms = now + c->cfg->connect_timeout_ms;
    mqi_conn_deadline(c, c->connect_deadline_ms);
    s = &c->cfg->servers[c->server_idx % c->cfg->nservers];
    /* the protocol of this attempt (MQ_OPT_PROTOCOL_FALLBACK) */
    c->proto = c->version;
    c->fallback_try = false;
    if (c->fallback != NULL &&
        c->fallback[c->server_idx % c->cfg->nservers] != MQI_FB_V5) {
        c->proto = MQ_PROTO_V311;
        if (c->fallback[c->server_idx % c->cfg->nservers] == MQI_FB_TRY) {
            c->fallback_try = true; /* kept only if it succeeds */
            c->fallback[c->server_idx % c->cfg->nservers] = MQI_FB_V5;
        }
    }
    mqi_log(c, MQ_LOG_INFO, "connecting to %s port %u", s->host,
            (unsigned)s->port);
    {
        const char *perr;
        c->proxy = mqi_xopts_proxy(mqi_xopts_of(c->cfg), s->scheme, s->host, s->port,
                                   &perr);
        if (perr != NULL) {
            mqi_connect_fail(c, MQ_ERR_PROXY, perr);
            return;
        }
        if (c->proxy != NULL)
            mqi_log(c, MQ_LOG_INFO, "through the proxy %s port %u",
                    c->proxy->host, (unsigned)c->proxy->port);
    }
    if (s->scheme == MQI_SCHEME_UNIX) {
        struct addrinfo *ai = calloc(1, sizeof *ai + sizeof(struct sockaddr_un));
        struct sockaddr_un *sun;
        if (ai == NULL) {
            mqi_connect_fail(c, MQ_ERR_NOMEM, NULL);
            return;
        }
        /* a hand-made addrinfo, freed with free() below */
        sun = (struct sockaddr_un *)(ai + 1);
        sun->sun_family = AF_UNIX;
        snprintf(sun->sun_path, sizeof sun->sun_path, "%s", s->host);
        ai->ai_family = AF_UNIX;
        ai->ai_socktype = SOCK_STREAM;
        ai->ai_addr = (struct sockaddr *)sun;
        ai->ai_addrlen = sizeof *sun;
        {
            int err = ECONNREFUSED;
            bool started = try_addr(c, ai, &err);

            free(ai);
            if (!started)
                mqi_connect_addr_failed(c, err);
        }
        return;
    }
    snprintf(port, sizeof port, "%u",
             (unsigned)(c->proxy != NULL ? c->proxy->port : s->port));
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    if (getaddrinfo(c->proxy != NULL ? c->proxy->host : s->host, port, &hints,
                    &res) == 0) {
        mqi_connect_resolved(c, res);
        return;
    }
    /* A name: resolve on the shared pool so the worker never blocks. */
    {
        mqi_rjob *j = mqi_rjob_new(c->proxy != NULL ? c->proxy->host
                                                    : s->host, port);
        if (j == NULL) {
            mqi_connect_fail(c, MQ_ERR_NOMEM, NULL);
            return;
        }
        j->ud = c;
        j->gen = ++c->generation;
        j->wanted = resolve_wanted;
        j->done = resolve_done;
        atomic_fetch_add(&c->refs, 1);
        if (mqi_resolve(j) != MQ_OK) {
            atomic_fetch_sub(&c->refs, 1);
            free(j);
            mqi_connect_fail(c, MQ_ERR_SYSTEM, "cannot start resolver");
            return;
        }
        c->cs = MQI_CS_RESOLVING;
    }
}
