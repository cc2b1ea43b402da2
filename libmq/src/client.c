/*
 * client.c - the public API veneer: argument checks, options, and turning
 * calls into commands on the client's lock-free queue for the worker. No
 * protocol logic lives here.
 *
 * Threading: any thread. Options are guarded by c->lock; the publish path
 * takes no lock (atomics + the MPSC queue) unless the application asked
 * mq_publish to wait for queue space.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <netdb.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "options.h"
#include "topic.h"


/* ---- lifecycle -------------------------------------------------------- */

static bool
valid_proto(int p)
{
    return p == MQ_PROTO_V311 || p == MQ_PROTO_V5;
}

MQ_API mq_client *
mq_client_new(const char *client_id, int protocol)
{
    mq_client *c;
    size_t idlen = client_id ? strlen(client_id) : 0;

    if (!valid_proto(protocol))
        return NULL;
    if (idlen > 65535 ||
        (idlen > 0 && !mqi_utf8_valid((const uint8_t *)client_id, idlen)))
        return NULL;
    c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    atomic_init(&c->refs, 1);
    c->version = protocol;
    c->io.fd = -1;
    c->client_id = mqi_strdup(client_id ? client_id : "");
    if (c->client_id == NULL)
        goto fail_early;
    c->opt = mqi_opts_new();
    if (c->opt == NULL)
        goto fail_early;
    if (mqi_events_init(&c->ev) != MQ_OK)
        goto fail_early;
    pthread_mutex_init(&c->lock, NULL);
    mqi_mpsc_init(&c->cmdq);
    mqi_opt_defaults(c); /* every option's default, from options.c */
    atomic_init(&c->next_token, 1);
    atomic_init(&c->max_packet, c->opt->max_packet_size);
    atomic_init(&c->alias_max_out, -1); /* unknown until a CONNACK */
    c->proto = protocol;
    if (mqi_worker_attach(c) != MQ_OK)
        goto fail;
    return c;
fail:
    mqi_client_unref(c); /* the only reference: frees what is made */
    return NULL;
fail_early:
    mqi_opts_unref(c->opt);
    free(c->client_id);
    free(c);
    return NULL;
}


static mq_event *take_events(mq_client *c, int timeout_ms, size_t max,
                             atomic_bool *stop);
static bool is_final(const mq_event *ev);
static void final_seen(mq_client *c, const mq_event *ev);

/* Margin over MQ_OPT_DISCONNECT_TIMEOUT_MS for the DISCONNECT packet to be
 * written (the worker allows 3 s) before destroy stops waiting. */
#define DESTROY_GRACE_MS 5000

/* mq_client_destroy() after mq_disconnect(): let the graceful disconnect
 * finish first (the worker bounds it by MQ_OPT_DISCONNECT_TIMEOUT_MS).
 * Unless a loop thread (not this one) dispatches them, events are
 * discarded meanwhile - destroy frees them anyway, and a full event queue
 * would stop the worker from reading the acknowledgements. */
static void
wait_disconnect_done(mq_client *c)
{
    bool others;
    int64_t deadline;

    pthread_mutex_lock(&c->lock);
    if (!c->closing) {
        pthread_mutex_unlock(&c->lock);
        return;
    }
    /* a loop thread of ours dispatches the events up to the final
     * DISCONNECTED before it is stopped */
    others = c->loop_running &&
             !pthread_equal(c->loop_thread, pthread_self());
    deadline = mqi_now_ms() + atomic_load(&c->disconnect_timeout_ms) +
               DESTROY_GRACE_MS;
    atomic_fetch_add(&c->state_waiters, 1);
    while (c->closing || (others && c->final_pending)) {
        int64_t now = mqi_now_ms();
        struct timespec ts;
        if (now >= deadline)
            break;
        if (!others) {
            mq_event *ev;
            pthread_mutex_unlock(&c->lock);
            while ((ev = take_events(c, 0, 64, NULL)) != NULL) {
                while (ev != NULL) {
                    mq_event *next = ev->next;
                    /* a message the application never saw is not
                     * acknowledged: the broker sends it again */
                    mqi_inack_release(ev->inack, false);
                    ev->inack = NULL;
                    mq_event_free(ev);
                    ev = next;
                }
            }
            pthread_mutex_lock(&c->lock);
            if (!c->closing)
                break;
        }
        mqi_deadline_after(&ts, deadline - now < 50 ? (int)(deadline - now)
                                                     : 50);
        (void)mqi_cond_lazy_wait(&c->state_cond, &c->lock, &ts);
    }
    atomic_fetch_sub(&c->state_waiters, 1);
    pthread_mutex_unlock(&c->lock);
}

/* Destroy freed messages that were accepted and never completed: say so
 * where the application can see it - its on_log callback (called here,
 * on this thread; it must not use the client), else stderr - since no
 * event can be taken any more. */
static void
report_destroy_losses(mq_client *c)
{
    char buf[320];
    mq_event_cb cb;
    void *ud;
    int n;

    n = snprintf(buf, sizeof buf, "mq_client_destroy: %lu accepted "
                 "message(s) not delivered were freed",
                 (unsigned long)c->destroy_lost);
    if (c->destroy_stored > 0 && n > 0 && (size_t)n < sizeof buf)
        snprintf(buf + n, sizeof buf - (size_t)n, " (%lu stay in the "
                 "persistence store and are resent by the next client "
                 "opening it)", (unsigned long)c->destroy_stored);
    pthread_mutex_lock(&c->lock);
    cb = c->cbs != NULL ? c->cbs[MQ_EVENT_LOG].cb : NULL;
    ud = c->cbs != NULL ? c->cbs[MQ_EVENT_LOG].ud : NULL;
    pthread_mutex_unlock(&c->lock);
    if (cb != NULL) {
        size_t len = strlen(buf) + 1;
        mq_event *ev = mqi_event_new(MQ_EVENT_LOG, len);
        if (ev != NULL) {
            ev->log_level = MQ_LOG_WARNING;
            ev->message = (char *)(ev + 1);
            memcpy(ev->message, buf, len);
            cb(c, ev, ud);
            mq_event_free(ev);
            return;
        }
    }
    fprintf(stderr, "libmq: client \"%s\": %s\n", c->client_id, buf);
}

MQ_API void
mq_client_destroy(mq_client *c)
{
    bool join = false;
    pthread_t th;

    if (c == NULL)
        return;
    if (mqi_worker_on_io_thread(c)) {
        /* from a callback on its own I/O thread (mq_loop_start): waiting
         * here would wait for this thread, so the thread finishes the
         * destroy after the callback returns (mqi_loop_thread_end) */
        pthread_mutex_lock(&c->lock);
        c->destroy_deferred = true;
        if (c->loop_running)
            pthread_detach(c->loop_thread);
        c->loop_running = false;
        atomic_store(&c->loop_stop, true);
        pthread_mutex_unlock(&c->lock);
        mqi_worker_private_stop(c);
        return;
    }
    /* before "destroyed" is set: the disconnect may still need a resolver
     * thread's answer, which a destroyed client drops */
    wait_disconnect_done(c);
    pthread_mutex_lock(&c->lock);
    atomic_store(&c->destroyed, true); /* under the lock: see resolver */
    if (c->loop_running) {
        th = c->loop_thread;
        if (pthread_equal(th, pthread_self()))
            pthread_detach(th); /* called from a callback on it: the
                                   thread drops its reference on exit */
        else
            join = true;
    }
    c->loop_running = false;
    atomic_store(&c->loop_stop, true);
    pthread_mutex_unlock(&c->lock);
    mqi_worker_private_stop(c); /* it hands c back to the shared worker */
    mqi_events_wake_all(&c->ev);
    if (join)
        pthread_join(th, NULL);
    /* Wake anyone blocked in mq_publish waiting for space. */
    pthread_mutex_lock(&c->lock);
    mqi_state_broadcast(c);
    pthread_mutex_unlock(&c->lock);
    /* a loop thread stopped from its own callback may still be handing
     * c back to the shared worker: that ends first */
    mqi_worker_private_free(c);
    mqi_worker_detach(c); /* blocks until the worker let go of c */
    if (c->destroy_lost > 0)
        report_destroy_losses(c);
    mqi_client_unref(c);
}


MQ_API const char *
mq_client_id(const mq_client *c)
{
    mq_client *m = (mq_client *)c; /* the lock is not part of the value */
    const char *id;

    if (c == NULL)
        return NULL;
    pthread_mutex_lock(&m->lock);
    id = m->assigned_ids != NULL ? m->assigned_ids->id : m->client_id;
    pthread_mutex_unlock(&m->lock);
    return id;
}

/* ---- options ---------------------------------------------------------- */

/* mq_set_int, mq_get_int and mq_set_str follow the option table
 * (options.c): the checks in this order - unknown number, read-only,
 * state (MQ_ERR_STATE for connect-time options while active), TLS build,
 * range, MQTT 5 - then the row's storage. */
MQ_API int
mq_set_int(mq_client *c, int option, int64_t v)
{
    const mqi_optdef *d = mqi_opt_find(option);
    int rc = MQ_OK;

    if (c == NULL || d == NULL || d->type != MQI_OT_INT ||
        d->when == MQI_OW_READ)
        return MQ_ERR_INVAL;
    if (d->store == MQI_OS_CONST) /* reserved: only its fixed value */
        return v == d->def ? MQ_OK : MQ_ERR_NOT_SUPPORTED;
    if (d->when == MQI_OW_ANY) {
        if (v < d->lo || v > d->hi)
            return MQ_ERR_INVAL;
        mqi_opt_store_int(c, d, v);
        if (d->flags & MQI_OF_WAKE)
            mqi_wake(c);
        return MQ_OK;
    }
    pthread_mutex_lock(&c->lock);
    if ((rc = mqi_opts_writable(c)) != MQ_OK)
        goto out;
#ifndef MQ_HAVE_TLS
    if (d->flags & MQI_OF_TLS) {
        rc = MQ_ERR_NOT_SUPPORTED;
        goto out;
    }
#endif
    if (v < d->lo || v > d->hi) {
        rc = MQ_ERR_INVAL;
        goto out;
    }
    if ((d->flags & MQI_OF_V5) && c->version != MQ_PROTO_V5 && v != d->def) {
        rc = MQ_ERR_NOT_SUPPORTED;
        goto out;
    }
    switch (option) {
    case MQ_OPT_PERSIST_SYNC:
        if (c->store != NULL) { /* the store is open with its policy */
            rc = MQ_ERR_STATE;
            goto out;
        }
        break;
    case MQ_OPT_MAX_PACKET_SIZE:
        atomic_store(&c->max_packet, (unsigned)v); /* checked by publish */
        break;
    default:
        break;
    }
    if (d->store == MQI_OS_XOPTS)
        rc = mqi_xopts_mut(c->opt) == NULL
                 ? MQ_ERR_NOMEM
                 : mqi_xopts_set_int(c->opt->x, option, v);
    else if (d->store == MQI_OS_T_BOOL && v != 0 &&
             mqi_topts_mut(c->opt) == NULL)
        rc = MQ_ERR_NOMEM; /* 0 needs no block: it is the default */
    else
        mqi_opt_store_int(c, d, v);
out:
    pthread_mutex_unlock(&c->lock);
    return rc;
}

MQ_API int
mq_get_int(mq_client *c, int option, int64_t *out)
{
    const mqi_optdef *d = mqi_opt_find(option);
    int rc = MQ_OK;

    if (c == NULL || out == NULL)
        return MQ_ERR_INVAL;
    if (d == NULL || d->type != MQI_OT_INT) {
        *out = 0;
        return MQ_ERR_INVAL;
    }
    pthread_mutex_lock(&c->lock);
    if (d->store == MQI_OS_XOPTS)
        rc = mqi_xopts_get_int(mqi_xopts_of(c->opt), option, out);
    else
        *out = mqi_opt_load_int(c, d);
    pthread_mutex_unlock(&c->lock);
    return rc;
}

static int
set_strfield(char **field, const char *v)
{
    char *d = NULL;

    if (v != NULL && (d = mqi_strdup(v)) == NULL)
        return MQ_ERR_NOMEM;
    free(*field);
    *field = d;
    return MQ_OK;
}

static void push_cmd(mq_client *c, mqi_msg *m);
static int new_token(mq_client *c);

/* Tell the application which message came back from the store: one
 * MQ_EVENT_RECOVERED per message, before mq_set_str() returns (so before
 * anything is sent or completed). Without memory for it the message is
 * still resent; a log says one event is missing. */
static void
post_recovered(mq_client *c, const mqi_msg *m, const mqi_store_rec *r)
{
    mq_event *ev = mqi_event_new(MQ_EVENT_RECOVERED,
                                 m->topic_len + 1 + m->payload_len);

    if (ev == NULL ||
        (m->props != NULL && mqi_props_dup(m->props, &ev->props) != MQ_OK)) {
        mq_event_free(ev);
        mqi_log(c, MQ_LOG_ERROR, "persistence: no memory to report "
                "recovered message (token %d)", m->token);
        return;
    }
    ev->token = m->token;
    ev->tag = r->tag;
    ev->qos = m->qos;
    ev->retain = m->retain;
    ev->packet_id = r->packet_id;
    ev->topic = (char *)(ev + 1);
    memcpy(ev->topic, m->topic, m->topic_len + 1);
    ev->payload = (uint8_t *)ev->topic + m->topic_len + 1;
    if (m->payload_len > 0)
        memcpy(ev->payload, m->payload, m->payload_len);
    ev->payload_len = m->payload_len;
    ev->acct = m->topic_len + m->payload_len + r->props_len;
    mqi_events_post(&c->ev, ev);
    mqi_worker_posted(c);
}

/* Replay one stored message as a queued publish (called under c->lock). */
struct recover_ctx {
    mq_client *c;
    int err;
};

static int
recover_one(void *ud, const mqi_store_rec *r)
{
    struct recover_ctx *rx = ud;
    mq_client *c = rx->c;
    mqi_msg *m = mqi_msg_new_publish(r->topic, r->topic_len, r->payload,
                                     r->payload_len, r->qos, r->retain);

    if (m == NULL) {
        rx->err = MQ_ERR_NOMEM; /* stop: the rest stays in the store */
        return 1;
    }
    if (r->props_len > 0 &&
        mqi_props_parse(r->props, r->props_len, &m->props) != MQ_OK) {
        mqi_msg_free(m);
        return 0; /* skip a record whose properties do not parse */
    }
    m->seq = r->seq;
    m->recovered = true;
    m->packet_id = r->packet_id;
    if (r->state == MQI_ST_PUBREL && r->packet_id != 0)
        m->state = MQI_MS_WAIT_COMP;
    else if (r->packet_id != 0)
        m->state = r->qos == 1 ? MQI_MS_WAIT_ACK : MQI_MS_WAIT_REC;
    else
        m->state = MQI_MS_QUEUED;
    m->acct_bytes = sizeof *m + r->topic_len + r->payload_len;
    m->tag = r->tag;
    atomic_fetch_add(&c->q_msgs, 1);
    atomic_fetch_add(&c->q_bytes, m->acct_bytes);
    m->token = new_token(c);
    post_recovered(c, m, r);
    push_cmd(c, m);
    return 0;
}

/* Open the store and queue what it holds (under c->lock, not active). */
static int
open_store(mq_client *c, const char *dir)
{
    char err[200];
    size_t bad = 0;
    struct recover_ctx rx;
    int rc;

    if (dir == NULL || c->store != NULL)
        return dir == NULL ? MQ_ERR_INVAL : MQ_ERR_STATE;
    if (c->client_id[0] == '\0')
        return MQ_ERR_INVAL;
    err[0] = '\0';
    rc = mqi_store_open(dir, c->client_id, c->persist_sync, &c->store, err,
                        sizeof err);
    if (rc != MQ_OK) {
        mqi_log(c, MQ_LOG_ERROR, "persistence: %s", err);
        c->store = NULL;
        return rc;
    }
    rx.c = c;
    rx.err = MQ_OK;
    rc = mqi_store_recover(c->store, recover_one, &rx, &bad);
    if (rc == MQ_OK && rx.err != MQ_OK)
        rc = rx.err;
    if (bad > 0)
        mqi_log(c, MQ_LOG_WARNING,
                "persistence: %zu bytes of a torn or corrupt tail dropped", bad);
    if (rc != MQ_OK) {
        mqi_log(c, MQ_LOG_ERROR, "persistence: recovery failed");
        return rc;
    }
    return MQ_OK; /* the store keeps its directory: nothing else reads it */
}

/* A TLS file option must name a readable regular file (@p dir: a
 * readable directory) when it is set, so a typo is an error at once and
 * not a TLS failure at connect. MQ_OK or MQ_ERR_FILE (and an error log). */
static int
check_path(mq_client *c, const char *what, const char *path, bool dir)
{
    struct stat st;
    int fd, e = 0;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK |
                        (dir ? O_DIRECTORY : 0));
    if (fd < 0)
        e = errno;
    else if (fstat(fd, &st) != 0)
        e = errno;
    else if (dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode))
        e = dir ? ENOTDIR : EINVAL;
    if (fd >= 0)
        close(fd);
    if (e == 0)
        return MQ_OK;
    mqi_log(c, MQ_LOG_ERROR, "%s %s: %s", what, path,
            e == EINVAL ? "not a regular file" : strerror(e));
    return MQ_ERR_FILE;
}

static const char *
path_what(int option)
{
    switch (option) {
    case MQ_SOPT_TLS_CA_FILE: return "TLS CA file";
    case MQ_SOPT_TLS_CERT_FILE: return "TLS certificate file";
    case MQ_SOPT_TLS_KEY_FILE: return "TLS key file";
    default: return "TLS CA directory";
    }
}

/* The string options with code of their own (MQI_OS_SPECIAL rows), under
 * c->lock while not active. */
static int
set_special_str(mq_client *c, int option, const char *v)
{
    switch (option) {
    case MQ_SOPT_PASSWORD:
        free(c->opt->password);
        c->opt->password = NULL;
        c->opt->has_password = false;
        c->opt->password_len = 0;
        if (v != NULL && strlen(v) > UINT32_MAX)
            return MQ_ERR_INVAL; /* MQTT's limit is 65535 anyway */
        if (v != NULL) {
            c->opt->password = mqi_memdup(v, strlen(v));
            if (c->opt->password == NULL)
                return MQ_ERR_NOMEM;
            c->opt->password_len = (uint32_t)strlen(v);
            c->opt->has_password = true;
        }
        return MQ_OK;
    case MQ_SOPT_TLS_MIN_VERSION: {
        int ver;

        if (v == NULL)
            ver = 0;
        else if (strcmp(v, "tlsv1.2") == 0)
            ver = 12;
        else if (strcmp(v, "tlsv1.3") == 0)
            ver = 13;
        else
            return MQ_ERR_INVAL;
        if (ver != 0 && mqi_topts_mut(c->opt) == NULL)
            return MQ_ERR_NOMEM;
        if (c->opt->t != NULL)
            c->opt->t->tls_min_version = ver;
        return MQ_OK;
    }
    case MQ_SOPT_PERSIST_DIR:
        return open_store(c, v);
    default:
        return MQ_ERR_INVAL;
    }
}

MQ_API int
mq_set_str(mq_client *c, int option, const char *v)
{
    const mqi_optdef *d = mqi_opt_find(option);
    int rc = MQ_OK;

    if (c == NULL || d == NULL || d->type != MQI_OT_STR)
        return MQ_ERR_INVAL;
    if (v != NULL && !(d->flags & MQI_OF_BYTES) &&
        !mqi_utf8_valid((const uint8_t *)v, strlen(v)))
        return MQ_ERR_UTF8;
#ifndef MQ_HAVE_TLS
    if (d->flags & MQI_OF_TLS)
        return MQ_ERR_NOT_SUPPORTED;
#endif
    if (v != NULL && (d->flags & (MQI_OF_FILE | MQI_OF_DIR)) &&
        (rc = check_path(c, path_what(option), v,
                         (d->flags & MQI_OF_DIR) != 0)) != MQ_OK)
        return rc;
    if (v != NULL && *v != '\0' && (d->flags & MQI_OF_ADDR) &&
        !mqi_numeric_addr(v, NULL))
        return MQ_ERR_INVAL;
    if (v != NULL && *v == '\0' && (d->flags & MQI_OF_ADDR))
        v = NULL; /* "": the kernel chooses */
    pthread_mutex_lock(&c->lock);
    if ((rc = mqi_opts_writable(c)) != MQ_OK)
        goto out;
    switch (d->store) {
    case MQI_OS_OPT_STR:
        rc = set_strfield(mqi_opt_str_field(c->opt, d), v);
        break;
    case MQI_OS_T_STR: /* the block is made by the first value */
        if (v != NULL && mqi_topts_mut(c->opt) == NULL)
            rc = MQ_ERR_NOMEM;
        else if (c->opt->t != NULL)
            rc = set_strfield(mqi_opt_str_field(c->opt, d), v);
        break;
    case MQI_OS_XOPTS:
        rc = mqi_xopts_mut(c->opt) == NULL
                 ? MQ_ERR_NOMEM
                 : mqi_xopts_set_str(c->opt->x, option, v);
        break;
    default: /* MQI_OS_SPECIAL */
        rc = set_special_str(c, option, v);
        break;
    }
out:
    pthread_mutex_unlock(&c->lock);
    return rc;
}

MQ_API int
mq_set_tls_password_cb(mq_client *c, mq_tls_password_cb cb, void *userdata)
{
    if (c == NULL)
        return MQ_ERR_INVAL;
#ifndef MQ_HAVE_TLS
    (void)cb;
    (void)userdata;
    return MQ_ERR_NOT_SUPPORTED;
#else
    int rc;

    pthread_mutex_lock(&c->lock);
    if ((rc = mqi_opts_writable(c)) != MQ_OK) {
        pthread_mutex_unlock(&c->lock);
        return rc;
    }
    if (cb != NULL && mqi_topts_mut(c->opt) == NULL) {
        pthread_mutex_unlock(&c->lock);
        return MQ_ERR_NOMEM;
    }
    if (c->opt->t != NULL) {
        c->opt->t->tls_password_cb = cb;
        c->opt->t->tls_password_ud = cb ? userdata : NULL;
    }
    pthread_mutex_unlock(&c->lock);
    return MQ_OK;
#endif
}

MQ_API int
mq_set_password(mq_client *c, const void *pw, size_t len)
{
    uint8_t *d = NULL;
    int rc;

    if (c == NULL || (pw == NULL && len > 0) || len > 65535)
        return MQ_ERR_INVAL;
    if (pw != NULL && (d = mqi_memdup(pw, len)) == NULL)
        return MQ_ERR_NOMEM;
    pthread_mutex_lock(&c->lock);
    if ((rc = mqi_opts_writable(c)) != MQ_OK) {
        pthread_mutex_unlock(&c->lock);
        free(d);
        return rc;
    }
    free(c->opt->password);
    c->opt->password = d;
    c->opt->password_len = pw ? (uint32_t)len : 0;
    c->opt->has_password = pw != NULL;
    pthread_mutex_unlock(&c->lock);
    return MQ_OK;
}


MQ_API int
mq_set_server(mq_client *c, const char *uris)
{
    mqi_server *list = NULL, *nl, *packed;
    size_t n = 0, i, len;
    const char *p;
    int rc = MQ_OK;

    if (c == NULL || uris == NULL)
        return MQ_ERR_INVAL;
    for (p = uris; *p != '\0';) {
        while (*p == ' ' || *p == ',' || *p == '\t')
            p++;
        if (*p == '\0')
            break;
        len = strcspn(p, " ,\t");
        if (n == UINT32_MAX) { /* opt->nservers; 100 GB of list first */
            rc = MQ_ERR_NOMEM;
            goto fail;
        }
        nl = realloc(list, (n + 1) * sizeof *list);
        if (nl == NULL) {
            rc = MQ_ERR_NOMEM;
            goto fail;
        }
        list = nl;
        rc = mqi_uri_parse(p, len, &list[n]);
        if (rc != MQ_OK)
            goto fail;
        n++;
        p += len;
    }
    if (n == 0) {
        rc = MQ_ERR_URI;
        goto fail;
    }
    if ((packed = mqi_servers_pack(list, n)) == NULL) {
        rc = MQ_ERR_NOMEM;
        goto fail;
    }
    pthread_mutex_lock(&c->lock);
    if ((rc = mqi_opts_writable(c)) != MQ_OK) {
        pthread_mutex_unlock(&c->lock);
        mqi_servers_free(packed);
        goto fail;
    }
    mqi_servers_free(c->opt->servers);
    c->opt->servers = packed;
    c->opt->nservers = (uint32_t)n;
    pthread_mutex_unlock(&c->lock);
    rc = MQ_OK;
fail: /* the parsed list goes: the option set has its packed copy */
    for (i = 0; i < n; i++) {
        free(list[i].host);
        free(list[i].path);
    }
    free(list);
    return rc;
}

static int
check_qos(int qos)
{
    return (qos < 0 || qos > 2) ? MQ_ERR_QOS : MQ_OK;
}

MQ_API int
mq_set_will(mq_client *c, const char *topic, const void *payload, size_t len,
            int qos, int retain, const mq_props *props)
{
    char *t = NULL;
    uint8_t *pl = NULL;
    mq_props *pp = NULL;
    mqi_topts *w;
    int rc;

    if (c == NULL || (payload == NULL && len > 0) || len > 65535)
        return MQ_ERR_INVAL;
    if (topic != NULL) {
        rc = mqi_topic_check((const uint8_t *)topic, strlen(topic));
        if (rc != MQ_OK)
            return rc;
        if ((rc = check_qos(qos)) != MQ_OK)
            return rc;
        if (props != NULL && mq_props_count(props) > 0) {
            if (c->version != MQ_PROTO_V5)
                return MQ_ERR_NOT_SUPPORTED;
            if (mqi_props_check(props, MQI_WILL_PROPS) != MQ_OK)
                return MQ_ERR_PROPERTY;
        }
        t = mqi_strdup(topic);
        pl = mqi_memdup(payload, len);
        if (t == NULL || pl == NULL || mqi_props_dup(props, &pp) != MQ_OK) {
            free(t);
            free(pl);
            return MQ_ERR_NOMEM;
        }
    }
    pthread_mutex_lock(&c->lock);
    if ((rc = mqi_opts_writable(c)) == MQ_OK && topic != NULL &&
        mqi_topts_mut(c->opt) == NULL)
        rc = MQ_ERR_NOMEM; /* the will's block: made by the first will */
    if (rc != MQ_OK) {
        pthread_mutex_unlock(&c->lock);
        free(t);
        free(pl);
        mq_props_free(pp);
        return rc;
    }
    if ((w = c->opt->t) != NULL) { /* NULL: no will to clear */
        free(w->will_topic);
        free(w->will_payload);
        mq_props_free(w->will_props);
        w->will = topic != NULL;
        w->will_topic = t;
        w->will_payload = pl;
        w->will_len = topic ? len : 0;
        w->will_qos = qos;
        w->will_retain = retain ? 1 : 0;
        w->will_props = pp;
    }
    pthread_mutex_unlock(&c->lock);
    return MQ_OK;
}

MQ_API int
mq_set_connect_props(mq_client *c, const mq_props *props)
{
    mq_props *pp = NULL;
    int rc;

    if (c == NULL)
        return MQ_ERR_INVAL;
    if (props != NULL && mq_props_count(props) > 0) {
        if (c->version != MQ_PROTO_V5)
            return MQ_ERR_NOT_SUPPORTED;
        if (mqi_props_check(props, MQI_CONNECT) != MQ_OK)
            return MQ_ERR_PROPERTY;
    }
    if (mqi_props_dup(props, &pp) != MQ_OK)
        return MQ_ERR_NOMEM;
    pthread_mutex_lock(&c->lock);
    if ((rc = mqi_opts_writable(c)) != MQ_OK) {
        pthread_mutex_unlock(&c->lock);
        mq_props_free(pp);
        return rc;
    }
    mq_props_free(c->opt->connect_props);
    c->opt->connect_props = pp;
    pthread_mutex_unlock(&c->lock);
    return MQ_OK;
}

/* ---- commands --------------------------------------------------------- */

static void
push_cmd(mq_client *c, mqi_msg *m)
{
    mqi_mpsc_push(&c->cmdq, &m->qn);
    mqi_wake(c);
}

static int
new_token(mq_client *c)
{
    int raw, t;

    do {
        raw = atomic_fetch_add_explicit(&c->next_token, 1,
                                        memory_order_relaxed);
        t = raw & 0x7fffffff;
    } while (t == 0);
    if (raw < 0 && !atomic_load_explicit(&c->tokens_wrapped,
                                         memory_order_relaxed))
        atomic_store(&c->tokens_wrapped, true); /* for mq_wait */
    return t;
}

MQ_API int
mq_connect(mq_client *c)
{
    mqi_opts *snap;

    if (c == NULL)
        return MQ_ERR_INVAL;
    if (atomic_load(&c->destroyed))
        return MQ_ERR_DESTROYED;
    pthread_mutex_lock(&c->lock);
    if (c->active) {
        pthread_mutex_unlock(&c->lock);
        return MQ_ERR_STATE;
    }
    if (c->opt->nservers == 0) {
        pthread_mutex_unlock(&c->lock);
        return MQ_ERR_URI;
    }
    if (c->version == MQ_PROTO_V311 && c->client_id[0] == '\0' &&
        !c->opt->clean_start) {
        pthread_mutex_unlock(&c->lock);
        return MQ_ERR_INVAL;
    }
    /* The snapshot is taken here, under the lock, so that later option
     * changes cannot race with the worker. */
    snap = mqi_opts_snapshot(c->opt);
    if (snap == NULL) {
        pthread_mutex_unlock(&c->lock);
        return MQ_ERR_NOMEM;
    }
    c->active = true;
    mqi_client_free_ids(c);
    ++c->connect_seq;
    /* the previous CONNECT was taken (active was clear): its node and
     * snapshot slot are free */
    c->connect_snap = snap;
    pthread_mutex_unlock(&c->lock);
    mqi_mpsc_push(&c->cmdq, &c->connect_node);
    mqi_wake(c);
    return MQ_OK;
}

MQ_API int
mq_disconnect(mq_client *c, int reason)
{
    return mq_disconnect_v5(c, reason, NULL);
}

/* Queue a DISCONNECT; @p forced ends a graceful one in progress too. */
static int
disconnect_cmd(mq_client *c, int reason, const mq_props *props, bool forced)
{
    mqi_msg *m;

    if (c == NULL || reason < 0 || reason > 255)
        return MQ_ERR_INVAL;
    if (props != NULL && mq_props_count(props) > 0) {
        if (c->version != MQ_PROTO_V5)
            return MQ_ERR_NOT_SUPPORTED;
        if (mqi_props_check(props, MQI_DISCONNECT) != MQ_OK)
            return MQ_ERR_PROPERTY;
    }
    m = mqi_msg_new(0);
    if (m == NULL)
        return MQ_ERR_NOMEM;
    m->kind = MQI_CMD_DISCONNECT;
    m->reason = reason;
    m->qos = forced ? 1 : 0;
    /* the worker's state for a graceful disconnect comes with the
     * command, so a client holds none until it disconnects (issue 20
     * item 3) and the worker never lacks it */
    m->resolved = calloc(1, sizeof(struct mqi_drain));
    if (m->resolved == NULL || mqi_props_dup(props, &m->props) != MQ_OK) {
        mqi_msg_free(m);
        return MQ_ERR_NOMEM;
    }
    pthread_mutex_lock(&c->lock);
    if (!c->active || (c->closing && !forced)) {
        /* idle, or a graceful disconnect is already under way */
        int rc = c->active ? MQ_ERR_STATE : MQ_ERR_NO_CONN;
        pthread_mutex_unlock(&c->lock);
        mqi_msg_free(m);
        return rc;
    }
    /* active stays set until the worker is done (mq_connect and the
     * connect-time options wait for that); publishing stops now */
    c->closing = true;
    atomic_store(&c->closing_flag, true);
    pthread_mutex_unlock(&c->lock);
    push_cmd(c, m);
    return MQ_OK;
}

MQ_API int
mq_disconnect_v5(mq_client *c, int reason, const mq_props *props)
{
    return disconnect_cmd(c, reason, props, false);
}

MQ_API int
mq_disconnect_now(mq_client *c, int reason)
{
    return disconnect_cmd(c, reason, NULL, true);
}


/* Write a new QoS 1/2 message to the store before mq_publish succeeds. */
static int
persist_add(mq_client *c, mqi_msg *m, const mq_props *props)
{
    mqi_store_rec r;
    mqi_buf pb;
    int rc;

    memset(&r, 0, sizeof r);
    mqi_buf_init(&pb);
    r.qos = m->qos;
    r.retain = m->retain;
    r.state = MQI_ST_PUBLISH;
    r.topic = m->topic;
    r.topic_len = m->topic_len;
    r.payload = m->payload;
    r.payload_len = m->payload_len;
    r.tag = m->tag;
    if (props != NULL && mq_props_count(props) > 0) {
        size_t plen = mqi_props_len(props);
        if (mqi_props_encode(&pb, props) != MQ_OK) {
            mqi_buf_free(&pb);
            return MQ_ERR_NOMEM;
        }
        r.props = pb.data + mqi_varint_size((uint32_t)plen);
        r.props_len = plen;
    }
    rc = mqi_store_add(c->store, &r, &m->seq);
    mqi_buf_free(&pb);
    return rc == MQ_OK ? MQ_OK : MQ_ERR_PERSIST;
}

/* An explicit Topic Alias in PUBLISH properties: 0 none, or the alias
 * (1..65535), or MQ_ERR_PROPERTY when the broker's Topic Alias Maximum is
 * known and lower, or automatic aliasing is on. */
static int
explicit_alias(mq_client *c, const mq_props *props)
{
    uint32_t a;
    int bmax;
    bool auto_on;

    if (mq_props_get_int(props, MQ_PROP_TOPIC_ALIAS, 0, &a) != MQ_OK)
        return 0;
    bmax = atomic_load_explicit(&c->alias_max_out, memory_order_relaxed);
    pthread_mutex_lock(&c->lock);
    auto_on = c->opt->topic_alias_auto > 0;
    pthread_mutex_unlock(&c->lock);
    if (a == 0 || a > 65535 || (bmax >= 0 && a > (uint32_t)bmax) || auto_on)
        return MQ_ERR_PROPERTY;
    return (int)a;
}

static int
publish_common(mq_client *c, const char *topic, const void *payload,
               size_t len, int qos, int retain, const mq_props *props,
               uint64_t tag)
{
    size_t tlen, plen = 0, wire;
    mqi_msg *m;
    int rc, alias = 0;

    if (c == NULL || topic == NULL || (payload == NULL && len > 0))
        return MQ_ERR_INVAL;
    if ((rc = check_qos(qos)) != MQ_OK)
        return rc;
    tlen = strlen(topic);
    if ((rc = mqi_topic_check((const uint8_t *)topic, tlen)) != MQ_OK)
        return rc;
    if (props != NULL && mq_props_count(props) > 0) {
        if (c->version != MQ_PROTO_V5)
            return MQ_ERR_NOT_SUPPORTED;
        if (mqi_props_check(props, MQI_PUBLISH) != MQ_OK ||
            mq_props_has(props, MQ_PROP_SUBSCRIPTION_IDENTIFIER))
            return MQ_ERR_PROPERTY;
        if ((alias = explicit_alias(c, props)) < 0)
            return alias;
        /* the alias travels beside the properties, which are stored
         * without it: whether the topic can be left out is decided per
         * connection when the message is sent */
        plen = mqi_props_len(props) - (alias ? 3 : 0);
        if (plen == 0)
            props = NULL;
    }
    if (atomic_load_explicit(&c->destroyed, memory_order_relaxed))
        return MQ_ERR_DESTROYED;
    if (atomic_load_explicit(&c->closing_flag, memory_order_relaxed))
        return MQ_ERR_NO_CONN; /* after mq_disconnect(), as paho-mqtt */
    wire = mqi_publish_wire_size(c->version, tlen, len, plen, qos);
    if (wire == 0 ||
        wire > atomic_load_explicit(&c->max_packet, memory_order_relaxed))
        return MQ_ERR_TOO_LARGE;
    if (qos == 0 &&
        !atomic_load_explicit(&c->offline_qos0, memory_order_relaxed) &&
        !atomic_load_explicit(&c->connected, memory_order_relaxed))
        return MQ_ERR_NO_CONN;

    m = mqi_msg_new_publish(topic, tlen, payload, len, qos, retain != 0);
    if (m == NULL)
        return MQ_ERR_NOMEM;
    m->alias = (uint16_t)alias;
    m->tag = tag;
    if (plen > 0 && mqi_props_dup_without(props, alias ? MQ_PROP_TOPIC_ALIAS
                                                       : 0,
                                          &m->props) != MQ_OK) {
        mqi_msg_free(m);
        return MQ_ERR_NOMEM;
    }
    rc = mqi_space_reserve(c, m->acct_bytes);
    if (rc != MQ_OK) {
        mqi_msg_free(m);
        return rc;
    }
    if (qos > 0 && c->store != NULL) {
        rc = persist_add(c, m, m->props);
        if (rc != MQ_OK) {
            atomic_fetch_sub(&c->q_msgs, 1);
            atomic_fetch_sub(&c->q_bytes, m->acct_bytes);
            mqi_msg_free(m);
            return rc;
        }
    }
    m->token = new_token(c);
    rc = m->token;
    if (!mqi_conn_direct_publish(c, m)) /* written now, or by the worker */
        push_cmd(c, m);
    return rc;
}

MQ_API int
mq_publish_v5(mq_client *c, const char *topic, const void *payload,
              size_t len, int qos, int retain, const mq_props *props)
{
    return publish_common(c, topic, payload, len, qos, retain, props, 0);
}

MQ_API int
mq_publish_tagged(mq_client *c, const char *topic, const void *payload,
                  size_t len, int qos, int retain, const mq_props *props,
                  uint64_t tag)
{
    return publish_common(c, topic, payload, len, qos, retain, props, tag);
}

MQ_API int
mq_publish(mq_client *c, const char *topic, const void *payload, size_t len,
           int qos, int retain)
{
    return publish_common(c, topic, payload, len, qos, retain, NULL, 0);
}

static int
sub_common(mq_client *c, int kind, size_t count, const char *const *filters,
           const int *options, const mq_props *props)
{
    mqi_msg *m;
    size_t i, bytes;
    int rc;

    if (c == NULL || filters == NULL || count == 0 || count > 65535)
        return MQ_ERR_INVAL;
    for (i = 0; i < count; i++) {
        if (filters[i] == NULL)
            return MQ_ERR_INVAL;
        rc = mqi_filter_check((const uint8_t *)filters[i], strlen(filters[i]));
        if (rc != MQ_OK)
            return rc;
        if (kind == MQI_CMD_SUBSCRIBE) {
            int o = options ? options[i] : 0;
            if ((rc = check_qos(o & 3)) != MQ_OK)
                return rc;
            if ((o & ~0x3f) != 0 || ((o >> 4) & 3) == 3)
                return MQ_ERR_INVAL;
            if ((o & ~3) != 0 && c->version != MQ_PROTO_V5)
                return MQ_ERR_NOT_SUPPORTED;
        }
    }
    if (props != NULL && mq_props_count(props) > 0) {
        if (c->version != MQ_PROTO_V5)
            return MQ_ERR_NOT_SUPPORTED;
        if (mqi_props_check(props, kind == MQI_CMD_SUBSCRIBE
                                       ? MQI_SUBSCRIBE
                                       : MQI_UNSUBSCRIBE) != MQ_OK)
            return MQ_ERR_PROPERTY;
    }
    /* no packet over the maximum packet size, the broker's included once
     * known ([MQTT-3.2.2-15]); otherwise checked again before sending */
    for (i = 0, bytes = 0; i < count; i++)
        bytes += strlen(filters[i]);
    if (mqi_sub_wire_size(c->version, kind == MQI_CMD_SUBSCRIBE
                                          ? MQI_SUBSCRIBE : MQI_UNSUBSCRIBE,
                          count, bytes, mqi_props_len(props)) >
        atomic_load_explicit(&c->max_packet, memory_order_relaxed))
        return MQ_ERR_TOO_LARGE;
    if (atomic_load(&c->destroyed))
        return MQ_ERR_DESTROYED;
    if (atomic_load(&c->closing_flag))
        return MQ_ERR_NO_CONN;
    m = mqi_msg_new(0);
    if (m == NULL)
        return MQ_ERR_NOMEM;
    m->kind = (uint8_t)kind;
    m->count = count;
    m->filters = calloc(count, sizeof *m->filters);
    m->options = calloc(count, 1);
    if (m->filters == NULL || m->options == NULL)
        goto nomem;
    for (i = 0; i < count; i++) {
        m->filters[i] = mqi_strdup(filters[i]);
        if (m->filters[i] == NULL)
            goto nomem;
        m->options[i] = (uint8_t)(options ? options[i] : 0);
    }
    if (mqi_props_dup(props, &m->props) != MQ_OK)
        goto nomem;
    m->token = new_token(c);
    rc = m->token;
    push_cmd(c, m);
    return rc;
nomem:
    mqi_msg_free(m);
    return MQ_ERR_NOMEM;
}

MQ_API int
mq_subscribe(mq_client *c, const char *filter, int qos)
{
    if (qos < 0 || qos > 2)
        return c == NULL ? MQ_ERR_INVAL : MQ_ERR_QOS;
    return sub_common(c, MQI_CMD_SUBSCRIBE, 1, &filter, &qos, NULL);
}

MQ_API int
mq_subscribe_v5(mq_client *c, const char *filter, int options,
                const mq_props *props)
{
    return sub_common(c, MQI_CMD_SUBSCRIBE, 1, &filter, &options, props);
}

MQ_API int
mq_subscribe_many(mq_client *c, size_t count, const char *const *filters,
                  const int *options, const mq_props *props)
{
    return sub_common(c, MQI_CMD_SUBSCRIBE, count, filters, options, props);
}

MQ_API int
mq_unsubscribe(mq_client *c, const char *filter)
{
    return sub_common(c, MQI_CMD_UNSUBSCRIBE, 1, &filter, NULL, NULL);
}

MQ_API int
mq_unsubscribe_v5(mq_client *c, const char *filter, const mq_props *props)
{
    return sub_common(c, MQI_CMD_UNSUBSCRIBE, 1, &filter, NULL, props);
}

MQ_API int
mq_unsubscribe_many(mq_client *c, size_t count, const char *const *filters,
                    const mq_props *props)
{
    return sub_common(c, MQI_CMD_UNSUBSCRIBE, count, filters, NULL, props);
}

MQ_API int
mq_auth(mq_client *c, int reason, const mq_props *props)
{
    mqi_msg *m;

    if (c == NULL || reason < 0 || reason > 255)
        return MQ_ERR_INVAL;
    if (c->version != MQ_PROTO_V5)
        return MQ_ERR_NOT_SUPPORTED;
    if (mqi_props_check(props, MQI_AUTH) != MQ_OK)
        return MQ_ERR_PROPERTY;
    if (mqi_disconnect_wire_size(MQ_PROTO_V5, (uint8_t)reason,
                                 mqi_props_len(props)) >
        atomic_load_explicit(&c->max_packet, memory_order_relaxed))
        return MQ_ERR_TOO_LARGE;
    m = mqi_msg_new(0);
    if (m == NULL)
        return MQ_ERR_NOMEM;
    m->kind = MQI_CMD_AUTH;
    m->reason = reason;
    if (mqi_props_dup(props, &m->props) != MQ_OK) {
        free(m);
        return MQ_ERR_NOMEM;
    }
    m->token = new_token(c);
    push_cmd(c, m);
    return MQ_OK;
}

MQ_API size_t
mq_queued_messages(mq_client *c)
{
    return c ? atomic_load(&c->q_msgs) : 0;
}

MQ_API int
mq_is_connected(mq_client *c)
{
    return c ? atomic_load(&c->connected) : 0;
}

/* ---- events, callbacks, loops --------------------------------------- */

MQ_API int
mq_event_fd(mq_client *c)
{
    return c ? mqi_events_fd(&c->ev) : -1;
}

/* Take up to @p max events as a chain (one lock for the batch), and let a
 * worker that paused reading on a full event queue resume. A wait ends
 * early when *stop is set: &c->loop_stop for the loops mq_loop_stop()
 * ends (mq_loop_forever, the loop thread), &c->destroyed for the pull
 * API (mq_next_event, mq_loop), which a loop stopped earlier must not
 * turn into a busy poll: loop_stop stays set after mq_loop_stop(). */
static mq_event *
take_events(mq_client *c, int timeout_ms, size_t max, atomic_bool *stop)
{
    mq_event *ev;
    size_t left;

    ev = mqi_events_take_some(&c->ev, timeout_ms, max, &left, stop);
    if (ev != NULL && atomic_load_explicit(&c->paused, memory_order_relaxed) &&
        left <= atomic_load(&c->max_events) / 2 &&
        atomic_load(&c->ev.bytes) <= atomic_load(&c->max_event_bytes) / 2)
        mqi_wake(c); /* let the worker resume reading */
    return ev;
}

MQ_API mq_event *
mq_next_event(mq_client *c, int timeout_ms)
{
    mq_event *ev;

    if (c == NULL)
        return NULL;
    if (timeout_ms != 0 && mqi_worker_on_io_thread(c)) {
        /* in a callback on its I/O thread: the events come from this
         * thread's own rounds */
        int64_t end = timeout_ms < 0 ? INT64_MAX : mqi_now_ms() + timeout_ms;
        while ((ev = take_events(c, 0, 1, NULL)) == NULL) {
            int64_t left = end - mqi_now_ms();
            if (left <= 0)
                break;
            mqi_worker_pump(c, left > 100 ? 100 : (int)left);
        }
    } else {
        ev = take_events(c, timeout_ms, 1, &c->destroyed);
    }
    if (ev != NULL)
        final_seen(c, ev);
    return ev;
}

MQ_API int
mq_set_callback(mq_client *c, int kind, mq_event_cb cb, void *ud)
{
    if (c == NULL || kind < MQ_EVENT_CONNECT || kind >= MQI_EVENT_KINDS)
        return MQ_ERR_INVAL;
    pthread_mutex_lock(&c->lock);
    if (c->cbs == NULL && cb != NULL) {
        c->cbs = calloc(MQI_EVENT_KINDS, sizeof *c->cbs);
        if (c->cbs == NULL) {
            pthread_mutex_unlock(&c->lock);
            return MQ_ERR_NOMEM;
        }
    }
    if (c->cbs != NULL) {
        c->cbs[kind].cb = cb;
        c->cbs[kind].ud = cb != NULL ? ud : NULL;
    }
    pthread_mutex_unlock(&c->lock);
    return MQ_OK;
}

MQ_API int
mq_on_connect(mq_client *c, mq_event_cb cb, void *ud)
{
    return mq_set_callback(c, MQ_EVENT_CONNECT, cb, ud);
}

MQ_API int
mq_on_disconnect(mq_client *c, mq_event_cb cb, void *ud)
{
    return mq_set_callback(c, MQ_EVENT_DISCONNECTED, cb, ud);
}

MQ_API int
mq_on_message(mq_client *c, mq_event_cb cb, void *ud)
{
    return mq_set_callback(c, MQ_EVENT_MESSAGE, cb, ud);
}

MQ_API int
mq_on_publish(mq_client *c, mq_event_cb cb, void *ud)
{
    return mq_set_callback(c, MQ_EVENT_PUBLISHED, cb, ud);
}

MQ_API int
mq_on_subscribe(mq_client *c, mq_event_cb cb, void *ud)
{
    return mq_set_callback(c, MQ_EVENT_SUBSCRIBED, cb, ud);
}

MQ_API int
mq_on_unsubscribe(mq_client *c, mq_event_cb cb, void *ud)
{
    return mq_set_callback(c, MQ_EVENT_UNSUBSCRIBED, cb, ud);
}

MQ_API int
mq_on_log(mq_client *c, mq_event_cb cb, void *ud)
{
    return mq_set_callback(c, MQ_EVENT_LOG, cb, ud);
}


/* The client whose callback this thread is running, if any (for the
 * deadlock check of the blocking helpers). */
static _Thread_local mq_client *tl_dispatching;

static void
dispatch(mq_client *c, mq_event *ev)
{
    mq_event_cb cb;
    void *ud;
    int k = ev->type;

    pthread_mutex_lock(&c->lock);
    cb = (c->cbs != NULL && k >= 0 && k < MQI_EVENT_KINDS) ? c->cbs[k].cb
                                                           : NULL;
    ud = cb != NULL ? c->cbs[k].ud : NULL;
    pthread_mutex_unlock(&c->lock);
    if (cb != NULL) {
        mq_client *outer = tl_dispatching;
        tl_dispatching = c;
        cb(c, ev, ud);
        tl_dispatching = outer;
    }
}

/* Does mq_loop_forever() end after this event? */
static bool
is_final(const mq_event *ev)
{
    /* after mq_disconnect(), or a loss with reconnect off */
    return ev->type == MQ_EVENT_DISCONNECTED && !ev->will_reconnect;
}

/* The application has (or a loop dispatched) @p ev: if it ends a
 * disconnect, a destroy waiting for the loop thread may go on. */
static void
final_seen(mq_client *c, const mq_event *ev)
{
    if (!is_final(ev))
        return;
    pthread_mutex_lock(&c->lock);
    c->final_pending = false;
    mqi_state_broadcast(c);
    pthread_mutex_unlock(&c->lock);
}

#define LOOP_BATCH 64 /* events taken per lock by the loops */

/* Dispatch and free the chain @p ev. Stops early when *stop is set (the
 * loop is asked to stop; NULL: never), or (with @p final) after a final
 * event, whose error goes to *final; what is left goes back to the front
 * of the queue. Returns the number dispatched. */
static int
dispatch_chain(mq_client *c, mq_event *ev, int *final, atomic_bool *stop)
{
    int n = 0;

    while (ev != NULL) {
        mq_event *next = ev->next;
        bool fin;
        ev->next = NULL;
        dispatch(c, ev);
        final_seen(c, ev);
        n++;
        fin = final != NULL && is_final(ev);
        if (fin)
            *final = ev->error;
        mq_event_free(ev);
        ev = next;
        if (ev != NULL && (fin || (stop != NULL && atomic_load(stop)))) {
            mqi_events_unshift(&c->ev, ev);
            break;
        }
    }
    return n;
}

MQ_API int
mq_loop(mq_client *c, int timeout_ms)
{
    mq_event *ev;
    int n = 0;
    bool running;

    if (c == NULL)
        return MQ_ERR_INVAL;
    pthread_mutex_lock(&c->lock);
    running = c->loop_running;
    pthread_mutex_unlock(&c->lock);
    if (running)
        return MQ_ERR_STATE;
    ev = take_events(c, timeout_ms, LOOP_BATCH, &c->destroyed);
    while (ev != NULL) {
        n += dispatch_chain(c, ev, NULL, NULL);
        if (n >= 1000)
            break;
        ev = take_events(c, 0, (size_t)(1000 - n) < LOOP_BATCH
                                   ? (size_t)(1000 - n) : LOOP_BATCH, NULL);
    }
    return n;
}

MQ_API int
mq_loop_forever(mq_client *c)
{
    mq_event *ev;
    int rc = MQ_OK, fin = INT_MIN;

    if (c == NULL)
        return MQ_ERR_INVAL;
    pthread_mutex_lock(&c->lock);
    if (c->loop_running || c->forever_running) {
        pthread_mutex_unlock(&c->lock);
        return MQ_ERR_STATE;
    }
    c->forever_running = true;
    atomic_store(&c->loop_stop, false);
    pthread_mutex_unlock(&c->lock);
    while (!atomic_load(&c->loop_stop)) {
        ev = take_events(c, -1, LOOP_BATCH, &c->loop_stop);
        if (ev == NULL)
            continue;
        dispatch_chain(c, ev, &fin, &c->loop_stop);
        if (fin != INT_MIN) {
            rc = fin;
            break;
        }
    }
    pthread_mutex_lock(&c->lock);
    c->forever_running = false;
    pthread_mutex_unlock(&c->lock);
    return rc;
}

static void *
loop_thread_main(void *arg)
{
    mq_client *c = arg;
    mq_event *ev;

    pthread_setname_np(pthread_self(), "mq-loop");
    while (!atomic_load(&c->loop_stop)) {
        ev = take_events(c, -1, LOOP_BATCH, &c->loop_stop);
        if (ev != NULL)
            dispatch_chain(c, ev, NULL, &c->loop_stop);
    }
    mqi_client_unref(c); /* the reference taken by mq_loop_start() */
    return NULL;
}

/* The private worker's thread (worker.c) after each round: dispatch what
 * is queued, until the queue is empty or the loop is stopped. */
void
mqi_loop_dispatch(mq_client *c)
{
    mq_event *ev;

    while (!atomic_load(&c->loop_stop) &&
           (ev = take_events(c, 0, LOOP_BATCH, NULL)) != NULL)
        dispatch_chain(c, ev, NULL, &c->loop_stop);
}

/* The private worker's thread ends (c is back on its shared worker): a
 * destroy called from one of its callbacks is finished here. */
void
mqi_loop_thread_end(mq_client *c)
{
    bool deferred;

    pthread_mutex_lock(&c->lock);
    deferred = c->destroy_deferred;
    pthread_mutex_unlock(&c->lock);
    if (deferred)
        mq_client_destroy(c);
    mqi_client_unref(c); /* the reference taken by mq_loop_start() */
}

MQ_API int
mq_loop_start(mq_client *c)
{
    int rc = MQ_OK;

    if (c == NULL)
        return MQ_ERR_INVAL;
    pthread_mutex_lock(&c->lock);
    if (c->loop_running || c->forever_running) {
        rc = MQ_ERR_STATE;
    } else {
        atomic_store(&c->loop_stop, false);
        atomic_fetch_add(&c->refs, 1); /* dropped by the thread at exit */
        if (atomic_load(&c->loop_io_thread) &&
            mqi_worker_private_start(c, &c->loop_thread) == MQ_OK) {
            /* the thread is the client's I/O thread (worker.c); a
             * previous one still ending falls back to the plain loop */
            c->loop_running = true;
        } else if (pthread_create(&c->loop_thread, NULL, loop_thread_main,
                                  c) != 0) {
            atomic_fetch_sub(&c->refs, 1);
            rc = MQ_ERR_SYSTEM;
        } else {
            c->loop_running = true;
        }
    }
    pthread_mutex_unlock(&c->lock);
    return rc;
}

MQ_API int
mq_loop_stop(mq_client *c)
{
    pthread_t th;
    bool running, forever, self;

    if (c == NULL)
        return MQ_ERR_INVAL;
    pthread_mutex_lock(&c->lock);
    running = c->loop_running;
    forever = c->forever_running;
    th = c->loop_thread;
    c->loop_running = false;
    if (running || forever)
        atomic_store(&c->loop_stop, true);
    pthread_mutex_unlock(&c->lock);
    if (!running && !forever)
        return MQ_ERR_STATE;
    if (running)
        mqi_worker_private_stop(c); /* hands c back, then ends */
    mqi_events_wake_all(&c->ev);
    if (!running)
        return MQ_OK; /* mq_loop_forever() on some thread ends */
    self = pthread_equal(th, pthread_self());
    if (self)
        pthread_detach(th);
    else
        pthread_join(th, NULL);
    return MQ_OK;
}

/* ---- blocking helpers -------------------------------------------------- */

/* Would blocking here wait for ourselves? On a thread running one of this
 * client's callbacks while the worker has stopped reading because the
 * event queue is full, the answer could only come after this thread
 * drains events. (c->lock held.) */
static bool
would_deadlock(mq_client *c)
{
    return tl_dispatching == c && atomic_load(&c->paused);
}

/* Begin a blocking helper: *until gets the deadline @p timeout_ms from
 * now (the result points at it, or is NULL for none), c->lock is taken
 * and the thread counted among the waiters the worker signals. */
static struct timespec *
wait_enter(mq_client *c, int timeout_ms, struct timespec *until)
{
    struct timespec *up = NULL;

    if (timeout_ms > 0) {
        mqi_deadline_after(until, timeout_ms);
        up = until;
    }
    pthread_mutex_lock(&c->lock);
    atomic_fetch_add(&c->state_waiters, 1);
    return up;
}

static void
wait_leave(mq_client *c)
{
    atomic_fetch_sub(&c->state_waiters, 1);
    pthread_mutex_unlock(&c->lock);
}

/* Wait on state_cond (c->lock held) until @p until (NULL: no limit).
 * False once the time is up. */
static bool
state_wait(mq_client *c, const struct timespec *until)
{
    if (mqi_worker_on_io_thread(c)) {
        /* a callback on the client's own I/O thread: what we wait for
         * is this thread's work, so do a round of it (no callbacks) */
        int64_t left = 100;
        struct timespec now;
        if (until != NULL) {
            clock_gettime(CLOCK_MONOTONIC, &now);
            left = (int64_t)(until->tv_sec - now.tv_sec) * 1000 +
                   (until->tv_nsec - now.tv_nsec) / 1000000;
            if (left <= 0)
                return false;
        }
        pthread_mutex_unlock(&c->lock);
        mqi_worker_pump(c, left > 100 ? 100 : (int)left);
        pthread_mutex_lock(&c->lock);
        return true;
    }
    return mqi_cond_lazy_wait(&c->state_cond, &c->lock, until) != ETIMEDOUT;
}

MQ_API int
mq_wait(mq_client *c, int token, int timeout_ms)
{
    struct timespec until, *up;
    mqi_waitreq *r;
    mqi_msg *m;
    int next, rc;

    if (c == NULL || token <= 0 || timeout_ms < -1)
        return MQ_ERR_INVAL;
    /* tokens count up from 1 (31 bits); before they wrap, one not below
     * the next to be issued was never issued */
    next = atomic_load(&c->next_token);
    if (!atomic_load(&c->tokens_wrapped) && next > 0 && token >= next)
        return MQ_ERR_INVAL;
    if (atomic_load(&c->destroyed))
        return MQ_ERR_DESTROYED;
    r = calloc(1, sizeof *r);
    m = mqi_msg_new(0);
    if (r == NULL || m == NULL) {
        free(r);
        free(m);
        return MQ_ERR_NOMEM;
    }
    r->token = token;
    r->state = MQI_WS_ASKED;
    m->kind = MQI_CMD_WAIT;
    m->resolved = r;
    /* the worker answers after every command queued before this one, so
     * the operation behind a token this thread holds is known to it */
    push_cmd(c, m);
    up = wait_enter(c, timeout_ms, &until);
    for (;;) {
        if (r->state == MQI_WS_DONE) {
            rc = r->err;
            free(r);
            r = NULL;
            break;
        }
        if (r->state == MQI_WS_PENDING) {
            if (timeout_ms == 0) {
                rc = MQ_ERR_TIMEOUT;
                break;
            }
            if (would_deadlock(c)) {
                rc = MQ_ERR_STATE;
                break;
            }
        }
        /* "asked" is answered within microseconds: with timeout 0 the
         * answer is still awaited, so a finished token is reported */
        if (!state_wait(c, r->state == MQI_WS_ASKED && timeout_ms == 0
                               ? NULL : up) &&
            r->state != MQI_WS_DONE) {
            rc = MQ_ERR_TIMEOUT;
            break;
        }
    }
    if (r != NULL)
        r->abandoned = true; /* the worker frees it */
    wait_leave(c);
    return rc;
}

MQ_API int
mq_wait_connected(mq_client *c, int timeout_ms)
{
    struct timespec until, *up;
    unsigned seen;
    int rc;

    if (c == NULL || timeout_ms < -1)
        return MQ_ERR_INVAL;
    up = wait_enter(c, timeout_ms, &until);
    seen = c->attempts_done;
    for (;;) {
        if (atomic_load(&c->connected) && !c->closing) {
            rc = MQ_OK;
            break;
        }
        if (c->attempts_done != seen) {
            /* the attempt we waited for: its error, or MQ_OK if it
             * connected (even if that connection is lost again now) */
            rc = c->attempt_err;
            break;
        }
        if (!c->active || c->closing) {
            rc = MQ_ERR_NO_CONN;
            break;
        }
        if (timeout_ms == 0) {
            rc = MQ_ERR_TIMEOUT;
            break;
        }
        if (would_deadlock(c)) {
            rc = MQ_ERR_STATE;
            break;
        }
        if (!state_wait(c, up) && !atomic_load(&c->connected) &&
            c->attempts_done == seen) {
            rc = MQ_ERR_TIMEOUT;
            break;
        }
    }
    wait_leave(c);
    return rc;
}

MQ_API int
mq_wait_disconnected(mq_client *c, int timeout_ms)
{
    struct timespec until, *up;
    int rc = MQ_OK;

    if (c == NULL || timeout_ms < -1)
        return MQ_ERR_INVAL;
    up = wait_enter(c, timeout_ms, &until);
    while (c->active) {
        if (timeout_ms == 0 || (!state_wait(c, up) && c->active)) {
            rc = MQ_ERR_TIMEOUT;
            break;
        }
    }
    wait_leave(c);
    return rc;
}
