/*
 * mqbench_run.c - the engine of mqbench: creates the simulated clients,
 * starts them at the ramp-up pace, subscribes, publishes on a schedule
 * (a min-heap of publishers by due time, or as fast as each publisher's
 * queue allows), takes every client's events, measures, and stops the run
 * (limit, duration, drain, signal). Events are watched through each
 * client's mq_event_fd() in one epoll set; when descriptors are short
 * (--events poll, or auto with a low RLIMIT_NOFILE) clients are swept with
 * mq_next_event(c, 0) instead, which costs no descriptor per client.
 *
 * Threading: everything here runs on the main thread.
 */
#include "mqbench.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define NS_PER_MS 1000000LL
#define NS_PER_S 1000000000LL

static volatile sig_atomic_t g_signals;

static void
on_signal(int sig)
{
    (void)sig;
    g_signals++;
}

int64_t
mqb_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

static uint64_t
real_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * (uint64_t)NS_PER_S + (uint64_t)ts.tv_nsec;
}

long
mqb_rss_kb(void)
{
    /* kept open: at the descriptor limit a new open would fail */
    static int fd = -1;
    char buf[128];
    ssize_t n;
    long size = 0, rss = 0;

    if (fd < 0)
        fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    n = pread(fd, buf, sizeof buf - 1, 0);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    if (sscanf(buf, "%ld %ld", &size, &rss) != 2)
        return 0;
    return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

/* ---- reasons --------------------------------------------------------- */

void
mqb_note_reason(struct mqb_run *r, const char *text)
{
    int k;

    for (k = 0; k < r->nreasons; k++) {
        if (strcmp(r->reasons[k].text, text) == 0) {
            r->reasons[k].count++;
            return;
        }
    }
    if (r->nreasons < MQB_MAX_REASONS) {
        snprintf(r->reasons[r->nreasons].text,
                 sizeof r->reasons[0].text, "%s", text);
        r->reasons[r->nreasons++].count = 1;
    } else {
        r->other_reasons++;
    }
}

/* Running out of descriptors or local ports: stop starting clients and
 * say what to raise. */
static void
check_exhaustion(struct mqb_run *r, const char *msg)
{
    if (msg == NULL)
        return;
    if (strstr(msg, strerror(EMFILE)) != NULL ||
        strstr(msg, strerror(ENFILE)) != NULL) {
        r->saw_emfile = 1;
        if (!r->ramp_stopped)
            snprintf(r->ramp_stop_why, sizeof r->ramp_stop_why,
                     "out of file descriptors (RLIMIT_NOFILE %ld): raise "
                     "it (ulimit -n, prlimit --nofile, LimitNOFILE=)",
                     r->fd_limit);
        r->ramp_stopped = 1;
    } else if (strstr(msg, strerror(EADDRNOTAVAIL)) != NULL) {
        r->saw_eaddrnotavail = 1;
        if (!r->ramp_stopped)
            snprintf(r->ramp_stop_why, sizeof r->ramp_stop_why,
                     "out of local ports: give more broker addresses or "
                     "listeners (-h a,b / --uri a,b) or widen "
                     "net.ipv4.ip_local_port_range");
        r->ramp_stopped = 1;
    }
}

/* ---- publisher heap (min by due time) -------------------------------- */

static void
heap_swap(struct mqb_run *r, size_t a, size_t b)
{
    struct mqb_client *t = r->heap[a];

    r->heap[a] = r->heap[b];
    r->heap[b] = t;
    r->heap[a]->heap_pos = (int)a;
    r->heap[b]->heap_pos = (int)b;
}

static void
heap_up(struct mqb_run *r, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;

        if (r->heap[p]->due <= r->heap[i]->due)
            break;
        heap_swap(r, p, i);
        i = p;
    }
}

static void
heap_down(struct mqb_run *r, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, m = i;

        if (l < r->nheap && r->heap[l]->due < r->heap[m]->due)
            m = l;
        if (l + 1 < r->nheap && r->heap[l + 1]->due < r->heap[m]->due)
            m = l + 1;
        if (m == i)
            break;
        heap_swap(r, i, m);
        i = m;
    }
}

static void
heap_push(struct mqb_run *r, struct mqb_client *k)
{
    if (k->heap_pos >= 0)
        return;
    r->heap[r->nheap] = k;
    k->heap_pos = (int)r->nheap++;
    heap_up(r, r->nheap - 1);
}

static void
heap_remove(struct mqb_run *r, struct mqb_client *k)
{
    size_t i = (size_t)k->heap_pos;

    if (k->heap_pos < 0)
        return;
    k->heap_pos = -1;
    r->nheap--;
    if (i == r->nheap)
        return;
    r->heap[i] = r->heap[r->nheap];
    r->heap[i]->heap_pos = (int)i;
    heap_down(r, i);
    heap_up(r, i);
}

/* A publisher will publish no more (limit, error, or failed client). */
static void
pub_finished(struct mqb_run *r, struct mqb_client *k)
{
    if (k->role == ROLE_PUB && !k->finished) {
        k->finished = 1;
        r->pubs_finished_n++;
    }
}

/* A subscriber's SUBSCRIBE is answered, refused or will never be. */
static void
suback_settled(struct mqb_run *r, struct mqb_client *k, uint8_t how)
{
    if (k->subscribed == 1 && r->pending_subacks > 0)
        r->pending_subacks--;
    k->subscribed = how;
}

/* ---- setup ------------------------------------------------------------- */

static char *
make_id(const struct mqb_opts *o, char role, long n)
{
    size_t len = strlen(o->prefix) + 32;
    char *id = malloc(len);

    if (id != NULL)
        snprintf(id, len, "%s-%c%ld", o->prefix, role, n);
    return id;
}

static struct mqb_receiver *
receiver_new(const char *name, const char *filter)
{
    struct mqb_receiver *rx = calloc(1, sizeof *rx);

    if (rx == NULL)
        return NULL;
    rx->name = strdup(name);
    if (rx->name == NULL) {
        free(rx);
        return NULL;
    }
    rx->filter = filter;
    mqb_streams_init(&rx->streams);
    return rx;
}

/* Build the client table (no libmq objects yet: clients are created when
 * they start). Subscribers come first so that in pubsub they are
 * subscribed before anything is published. */
static int
setup_clients(struct mqb_run *r)
{
    struct mqb_opts *o = r->o;
    size_t npub = 0, nsub = 0, nconn = 0, i, k;

    if (o->mode == MQB_CONN)
        nconn = (size_t)o->clients;
    else if (o->mode == MQB_PUB)
        npub = (size_t)o->clients;
    else if (o->mode == MQB_SUB)
        nsub = (size_t)o->clients;
    else {
        npub = (size_t)o->clients;
        nsub = (size_t)o->subs;
    }
    r->ncl = npub + nsub + nconn;
    r->cl = calloc(r->ncl, sizeof *r->cl);
    r->pubs = calloc(npub + 1, sizeof *r->pubs);
    r->subs = calloc(nsub + 1, sizeof *r->subs);
    r->heap = calloc(npub + 1, sizeof *r->heap);
    r->rx = calloc(nsub + 1, sizeof *r->rx);
    if (r->cl == NULL || r->pubs == NULL || r->subs == NULL ||
        r->heap == NULL || r->rx == NULL)
        return -1;
    for (i = 0; i < r->ncl; i++) {
        struct mqb_client *c = &r->cl[i];
        long n;
        char rc;

        c->fd = -1;
        c->heap_pos = -1;
        if (i < nsub) {
            c->role = ROLE_SUB;
            c->idx = (uint32_t)i;
            rc = 's';
            r->subs[r->nsubs++] = c;
        } else if (npub > 0) {
            c->role = ROLE_PUB;
            c->idx = (uint32_t)(i - nsub);
            rc = 'p';
            r->pubs[r->npubs++] = c;
        } else {
            c->role = ROLE_CONN;
            c->idx = (uint32_t)i;
            rc = 'c';
        }
        n = o->start_number + (long)c->idx;
        c->id = make_id(o, rc, n);
        if (c->id == NULL)
            return -1;
        if (c->role == ROLE_PUB) {
            c->topic = mqb_subst(o->topic, n, c->id);
            if (o->limit > 0) {
                uint64_t per = (uint64_t)o->limit / npub;
                uint64_t extra = (uint64_t)o->limit % npub;

                c->planned = per + (c->idx < extra ? 1 : 0);
                if (c->planned == 0) {
                    c->done = 1;
                    pub_finished(r, c);
                }
            }
        } else if (c->role == ROLE_SUB) {
            c->topic = mqb_subst(o->mode == MQB_SUB ? o->topic : o->sub_topic,
                                 n, c->id);
        }
        if (c->role != ROLE_CONN && c->topic == NULL)
            return -1;
    }
    /* receivers: one per subscriber, or one per shared (group, filter) */
    for (i = 0; i < r->nsubs; i++) {
        struct mqb_client *c = r->subs[i];
        struct mqb_receiver *rx = NULL;

        if (o->shared) {
            for (k = 0; k < r->nrx; k++)
                if (strcmp(r->rx[k]->filter, c->topic) == 0)
                    rx = r->rx[k];
            if (rx == NULL) {
                size_t len = strlen(o->group) + strlen(c->topic) + 16;
                char *name = malloc(len);

                if (name == NULL)
                    return -1;
                snprintf(name, len, "$share/%s/%s", o->group, c->topic);
                rx = receiver_new(name, c->topic);
                free(name);
                if (rx == NULL)
                    return -1;
                r->rx[r->nrx++] = rx;
            }
        } else {
            rx = receiver_new(c->id, c->topic);
            if (rx == NULL)
                return -1;
            r->rx[r->nrx++] = rx;
        }
        rx->members++;
        c->rx = rx;
    }
    r->payload = malloc(o->size);
    if (r->payload == NULL)
        return -1;
    for (i = 0; i < o->size; i++)
        r->payload[i] = (uint8_t)('a' + i % 26);
    return 0;
}

/* Raise the descriptor limit as far as allowed, pick how events are
 * watched, and warn about limits the run will hit. */
static void
setup_limits(struct mqb_run *r)
{
    struct mqb_opts *o = r->o;
    struct rlimit rl;
    unsigned long long need_fd = (unsigned long long)r->ncl * 3 + 64;
    unsigned long long need_poll = (unsigned long long)r->ncl + 64;
    unsigned long long want;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        rl.rlim_cur = rl.rlim_max = 1024;
    }
    want = o->events == EVENTS_POLL ? need_poll : need_fd;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
        struct rlimit nl = rl;

        nl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want
                          ? want : rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &nl) == 0)
            rl = nl;
    }
    r->fd_limit = rl.rlim_cur == RLIM_INFINITY ? -1 : (long)rl.rlim_cur;
    if (o->events == EVENTS_AUTO)
        o->events = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= need_fd
                        ? EVENTS_FD : EVENTS_POLL;
    if (o->quiet)
        return;
    if (o->events == EVENTS_FD && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur < need_fd)
        fprintf(stderr, "Warning: %zu clients with --events fd need about "
                        "%llu descriptors (socket + event pipe) but the "
                        "limit is %ld; use --events poll or raise "
                        "RLIMIT_NOFILE.\n", r->ncl, need_fd, r->fd_limit);
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need_poll)
        fprintf(stderr, "Warning: %zu clients need about %llu descriptors "
                        "but RLIMIT_NOFILE is %ld (hard limit %ld): at most "
                        "about %ld can connect. Raise it (ulimit -n; as "
                        "root prlimit --nofile=N:N, or LimitNOFILE= for a "
                        "service).\n", r->ncl, need_poll, r->fd_limit,
                rl.rlim_max == RLIM_INFINITY ? -1L : (long)rl.rlim_max,
                r->fd_limit - 64);
    /* local ports: one per connection to the same destination */
    if (strncmp(o->uris[0], "unix:", 5) != 0) {
        FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
        long lo = 0, hi = 0;
        size_t per = (r->ncl + (size_t)o->nuris - 1) / (size_t)o->nuris;

        if (f != NULL) {
            if (fscanf(f, "%ld %ld", &lo, &hi) == 2 && hi >= lo &&
                per > (size_t)(hi - lo + 1))
                fprintf(stderr, "Warning: %zu connections per destination "
                                "but only %ld local ports (net.ipv4."
                                "ip_local_port_range %ld %ld): give more "
                                "broker addresses or listeners (-h a,b,c or "
                                "--uri), or widen the range.\n",
                        per, hi - lo + 1, lo, hi);
            fclose(f);
        }
    }
}

/* ---- client start ------------------------------------------------------ */

static void
client_failed(struct mqb_run *r, struct mqb_client *k, const char *why)
{
    mqb_note_reason(r, why);
    check_exhaustion(r, why);
    if (k->state == ST_CONNECTING && r->tot.connecting_now > 0)
        r->tot.connecting_now--;
    k->state = ST_FAILED;
    r->tot.failed++;
    pub_finished(r, k);
    if (k->subscribed == 1)
        suback_settled(r, k, 3);
}

static void
start_client(struct mqb_run *r, struct mqb_client *k, int64_t now)
{
    struct mqb_opts *o = r->o;
    size_t pos = (size_t)(k - r->cl);
    int u = (int)(pos % (size_t)o->nuris);
    char buf[200];
    int rc;

    r->tot.started++;
    k->c = mq_client_new(k->id, o->protocol);
    if (k->c == NULL) {
        client_failed(r, k, "mq_client_new failed (out of memory?)");
        return;
    }
    if (tool_client_setup(&o->tcfg, k->c) != 0 ||
        mq_set_server(k->c, o->uris[u]) != MQ_OK ||
        (o->verify_names[u] != NULL &&
         mq_set_str(k->c, MQ_SOPT_TLS_VERIFY_NAME, o->verify_names[u]) !=
             MQ_OK)) {
        client_failed(r, k, "client setup failed");
        return;
    }
    if (o->events == EVENTS_FD) {
        k->fd = mq_event_fd(k->c);
        if (k->fd >= 0) {
            struct epoll_event ee;

            memset(&ee, 0, sizeof ee);
            ee.events = EPOLLIN;
            ee.data.ptr = k;
            if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, k->fd, &ee) != 0)
                k->fd = -1;
        } else {
            check_exhaustion(r, strerror(errno));
        }
    }
    k->polled = k->fd < 0;
    if (k->polled)
        r->npolled++;
    k->t_start = now;
    rc = mq_connect(k->c);
    if (rc != MQ_OK) {
        snprintf(buf, sizeof buf, "mq_connect: %s", mq_strerror(rc));
        client_failed(r, k, buf);
        return;
    }
    k->state = ST_CONNECTING;
    r->tot.connecting_now++;
}

/* Start the clients that are due. */
static void
ramp_step(struct mqb_run *r, int64_t now, size_t phase_start)
{
    while (r->next_start < r->phase_end && !r->ramp_stopped) {
        int64_t due = r->ramp_t0 +
                      (int64_t)(r->next_start - phase_start) * r->interval_ns;

        if (now < due)
            break;
        if ((long)r->tot.connecting_now >= r->o->max_connecting)
            break;
        start_client(r, &r->cl[r->next_start++], now);
    }
}

/* ---- publishing -------------------------------------------------------- */

static int
may_publish(const struct mqb_run *r, const struct mqb_client *k)
{
    return k->state == ST_CONNECTED && !k->done && r->pub_phase == 1 &&
           (k->planned == 0 || k->sent < k->planned);
}

/* 1 published, 0 queue full (try later), -1 error (publisher stops). */
static int
publish_one(struct mqb_run *r, struct mqb_client *k, int64_t now)
{
    struct mqb_opts *o = r->o;
    struct mqb_hdr h;
    char buf[200];
    int rc;

    h.run_id = r->run_id;
    h.pub_idx = k->idx;
    h.planned = k->planned <= UINT32_MAX ? (uint32_t)k->planned : 0;
    h.seq = k->sent;
    h.sent_ns = real_ns();
    mqb_hdr_put(r->payload, &h);
    rc = mq_publish(k->c, k->topic, r->payload, o->size, o->qos, o->retain);
    if (rc > 0) {
        k->sent++;
        r->tot.published++;
        r->tot.pub_bytes += o->size;
        if (r->pub_t0 == 0)
            r->pub_t0 = now;
        r->pub_t1 = now;
        if (k->planned > 0 && k->sent >= k->planned) {
            k->done = 1;
            pub_finished(r, k);
        }
        return 1;
    }
    if (rc == MQ_ERR_QUEUE_FULL) {
        r->tot.throttled++;
        return 0;
    }
    r->tot.pub_call_errors++;
    snprintf(buf, sizeof buf, "mq_publish: %s", mq_strerror(rc));
    mqb_note_reason(r, buf);
    k->done = 1;
    pub_finished(r, k);
    return -1;
}

/* Publish what is due; returns 1 if a publisher waits for queue space
 * (poll again soon). */
static int
publish_step(struct mqb_run *r, int64_t now)
{
    struct mqb_opts *o = r->o;
    int waiting = 0;
    long budget = 200000; /* per round, so events are taken too */

    if (r->pub_phase != 1)
        return 0;
    if (r->pub_interval_ns == 0) {
        size_t i;

        for (i = 0; i < r->npubs; i++) {
            struct mqb_client *k = r->pubs[i];
            int n;

            for (n = 0; n < 256 && may_publish(r, k); n++) {
                if ((long)mq_queued_messages(k->c) >= o->window) {
                    waiting = 1;
                    break;
                }
                if (publish_one(r, k, now) <= 0) {
                    waiting = 1;
                    break;
                }
            }
        }
        return waiting;
    }
    while (r->nheap > 0 && r->heap[0]->due <= now && budget-- > 0) {
        struct mqb_client *k = r->heap[0];
        int rc;

        if (!may_publish(r, k)) {
            heap_remove(r, k);
            continue;
        }
        if ((long)mq_queued_messages(k->c) >= o->window) {
            r->tot.throttled++;
            k->due = now + (r->pub_interval_ns < NS_PER_MS
                                ? r->pub_interval_ns : NS_PER_MS);
            heap_down(r, 0);
            continue;
        }
        rc = publish_one(r, k, now);
        if (rc < 0) {
            heap_remove(r, k);
            continue;
        }
        if (rc == 0) {
            k->due = now + NS_PER_MS;
        } else {
            k->due += r->pub_interval_ns;
            if (k->due < now - NS_PER_S) /* far behind: do not burst */
                k->due = now;
        }
        if (k->done)
            heap_remove(r, k);
        else
            heap_down(r, 0);
    }
    return waiting;
}

/* A publisher is connected: put it on the schedule, its first message
 * spread over one interval by its index. */
static void
schedule_pub(struct mqb_run *r, struct mqb_client *k, int64_t now)
{
    if (r->pub_interval_ns == 0 || !may_publish(r, k))
        return;
    k->due = now + (int64_t)((double)r->pub_interval_ns * (double)k->idx /
                             (double)(r->npubs ? r->npubs : 1));
    heap_push(r, k);
}

/* ---- events -------------------------------------------------------------- */

static void
on_message(struct mqb_run *r, struct mqb_client *k, const mq_event *ev)
{
    struct mqb_receiver *rx = k->rx;
    struct mqb_hdr h;
    size_t len;
    const uint8_t *p = mq_event_payload(ev, &len);
    int64_t now = mqb_now();

    r->tot.received++;
    r->tot.recv_bytes += len;
    if (r->t_first_recv == 0)
        r->t_first_recv = now;
    r->t_last_recv = now;
    if (rx == NULL)
        return;
    rx->received++;
    if (mq_event_retain(ev)) {
        rx->retained++;
        r->tot.retained++;
        return;
    }
    if (mqb_hdr_get(p, len, &h) != 0) {
        rx->foreign++;
        r->tot.foreign++;
        return;
    }
    {
        uint64_t t = real_ns();
        struct mqb_stream *s;
        int a;

        mqb_hist_add(&r->lat, t > h.sent_ns ? t - h.sent_ns : 0);
        s = mqb_streams_get(&rx->streams, h.run_id, h.pub_idx);
        if (s == NULL)
            return;
        if (h.planned > 0)
            s->planned = h.planned;
        a = mqb_stream_add(s, h.seq);
        if (h.run_id == r->run_id && (a == MQB_NEW || a == MQB_REORDERED))
            r->unique_ours++;
    }
}

static void
on_connect(struct mqb_run *r, struct mqb_client *k, const mq_event *ev,
           int64_t now)
{
    struct mqb_opts *o = r->o;
    char buf[200];

    if (mq_event_reason(ev) != 0) {
        snprintf(buf, sizeof buf, "CONNACK: %s",
                 mq_reason_string(mq_event_reason(ev)));
        mqb_note_reason(r, buf);
        return; /* a DISCONNECTED event follows */
    }
    if (k->state == ST_CLOSING || k->state == ST_CLOSED)
        return; /* connected while disconnecting at the end (to deliver) */
    if (k->state == ST_CONNECTING && r->tot.connecting_now > 0)
        r->tot.connecting_now--;
    k->state = ST_CONNECTED;
    r->tot.connected_now++;
    if (!k->ever_connected) {
        k->ever_connected = 1;
        r->tot.ever_connected++;
        mqb_hist_add(&r->conn_lat, (uint64_t)(now - k->t_start));
        if (r->t_first_connack == 0)
            r->t_first_connack = now;
        r->t_last_connack = now;
    } else {
        r->tot.reconnects++;
    }
    if (k->role == ROLE_SUB && !k->subscribed) {
        int rc;

        k->subscribed = 1; /* sent; libmq restores it after a reconnect */
        r->pending_subacks++;
        if (o->shared) {
            size_t len = strlen(o->group) + strlen(k->topic) + 16;
            char *f = malloc(len);

            if (f == NULL) {
                rc = MQ_ERR_NOMEM;
            } else {
                snprintf(f, len, "$share/%s/%s", o->group, k->topic);
                rc = mq_subscribe(k->c, f, o->qos);
                free(f);
            }
        } else {
            rc = mq_subscribe(k->c, k->topic, o->qos);
        }
        if (rc < 0) {
            snprintf(buf, sizeof buf, "mq_subscribe: %s", mq_strerror(rc));
            mqb_note_reason(r, buf);
            r->tot.sub_failed++;
            suback_settled(r, k, 3);
        }
    }
    if (k->role == ROLE_PUB)
        schedule_pub(r, k, now);
}

static void
on_disconnected(struct mqb_run *r, struct mqb_client *k, const mq_event *ev)
{
    const char *m = mq_event_message(ev);
    char buf[200];
    int retry = mq_event_will_reconnect(ev);

    if (k->state == ST_CLOSING || k->state == ST_CLOSED) {
        if (!retry)
            k->state = ST_CLOSED; /* the end of mq_disconnect() */
        return;
    }
    heap_remove(r, k);
    snprintf(buf, sizeof buf, "%s%s",
             k->state == ST_CONNECTED ? "connection lost: " : "connect: ",
             m != NULL ? m : mq_strerror(mq_event_error(ev)));
    /* "connect: connect: ..." reads badly */
    if (strncmp(buf, "connect: connect: ", 18) == 0)
        memmove(buf, buf + 9, strlen(buf + 9) + 1);
    if (k->state == ST_CONNECTED) {
        if (r->tot.connected_now > 0)
            r->tot.connected_now--;
        r->tot.lost_links++;
        mqb_note_reason(r, buf);
        if (retry) {
            k->state = ST_CONNECTING;
            r->tot.connecting_now++;
        } else {
            k->state = ST_FAILED;
            r->tot.failed++;
            pub_finished(r, k);
            if (k->subscribed == 1)
                suback_settled(r, k, 3);
        }
        return;
    }
    if (retry) {
        mqb_note_reason(r, buf);
        check_exhaustion(r, buf);
        return; /* still connecting */
    }
    client_failed(r, k, buf);
}

static void
handle_event(struct mqb_run *r, struct mqb_client *k, const mq_event *ev,
             int64_t now)
{
    char buf[200];

    switch (mq_event_type(ev)) {
    case MQ_EVENT_MESSAGE:
        on_message(r, k, ev);
        break;
    case MQ_EVENT_PUBLISHED:
        if (mq_event_error(ev) != MQ_OK) {
            k->failed++;
            r->tot.pub_failed++;
            if (mq_event_error(ev) == MQ_ERR_REFUSED)
                snprintf(buf, sizeof buf, "publish refused: %s",
                         mq_reason_string(mq_event_reason(ev)));
            else
                snprintf(buf, sizeof buf, "publish failed: %s",
                         mq_strerror(mq_event_error(ev)));
            mqb_note_reason(r, buf);
        } else {
            r->tot.pub_acked++;
        }
        break;
    case MQ_EVENT_CONNECT:
        on_connect(r, k, ev, now);
        break;
    case MQ_EVENT_DISCONNECTED:
        on_disconnected(r, k, ev);
        break;
    case MQ_EVENT_SUBSCRIBED:
        if (mq_event_reason_count(ev) > 0 && mq_event_reason_at(ev, 0) >= 0x80) {
            snprintf(buf, sizeof buf, "SUBACK: %s",
                     mq_reason_string(mq_event_reason_at(ev, 0)));
            mqb_note_reason(r, buf);
            r->tot.sub_failed++;
            suback_settled(r, k, 3);
        } else if (k->subscribed == 1) {
            suback_settled(r, k, 2);
            r->tot.subscribed++;
        }
        break;
    default:
        break;
    }
}

/* Take up to @p max events of one client; returns how many. */
static int
drain_client(struct mqb_run *r, struct mqb_client *k, int max, int64_t now)
{
    mq_event *ev;
    int n = 0;

    if (k->c == NULL)
        return 0;
    while (n < max && (ev = mq_next_event(k->c, 0)) != NULL) {
        handle_event(r, k, ev, now);
        mq_event_free(ev);
        n++;
    }
    return n;
}

/* Wait up to @p timeout_ms for events and handle them. */
static void
pump_events(struct mqb_run *r, int timeout_ms)
{
    struct epoll_event evs[512];
    int n, i, polled = r->o->events == EVENTS_POLL;
    int64_t now;

    if (!polled && r->npolled > 0) {
        /* a few clients lack a descriptor (pipe2 failed): sweep them */
        polled = 1;
        if (timeout_ms > 20)
            timeout_ms = 20;
    }
    if (polled && r->o->events == EVENTS_POLL) {
        /* sweep every started client; sleep briefly when nothing came */
        size_t j;
        int got = 0;

        now = mqb_now();
        /* a sweep costs O(clients): at most every 2 ms unless the last
         * one found events */
        if (!r->sweep_found && now - r->last_sweep < 2 * NS_PER_MS) {
            struct timespec ts = { 0, 500000 };

            nanosleep(&ts, NULL);
            return;
        }
        r->last_sweep = now;
        for (j = 0; j < r->next_start; j++)
            got += drain_client(r, &r->cl[j], 64, now);
        r->sweep_found = got > 0;
        if (got == 0 && timeout_ms > 0) {
            struct timespec ts = { 0, (long)(timeout_ms > 5 ? 5 : timeout_ms) *
                                          NS_PER_MS };

            nanosleep(&ts, NULL);
        }
        return;
    }
    n = epoll_wait(r->epfd, evs, 512, timeout_ms);
    now = mqb_now();
    for (i = 0; i < n; i++)
        drain_client(r, (struct mqb_client *)evs[i].data.ptr, 256, now);
    if (polled) {
        size_t j;

        for (j = 0; j < r->next_start; j++)
            if (r->cl[j].polled)
                drain_client(r, &r->cl[j], 64, now);
    }
}

/* ---- phases -------------------------------------------------------------- */

/* Every started client connected or failed, every SUBSCRIBE answered. */
static int
all_settled(const struct mqb_run *r)
{
    return r->tot.connecting_now == 0 && r->pending_subacks == 0;
}

static uint64_t
queued_total(const struct mqb_run *r)
{
    uint64_t q = 0;
    size_t i;

    for (i = 0; i < r->npubs; i++)
        if (r->pubs[i]->c != NULL && r->pubs[i]->state == ST_CONNECTED)
            q += mq_queued_messages(r->pubs[i]->c);
    return q;
}

static int
pubs_finished(const struct mqb_run *r)
{
    return r->pubs_finished_n >= r->npubs;
}

static int
any_alive(const struct mqb_run *r)
{
    return (r->next_start < r->ncl && !r->ramp_stopped) ||
           r->tot.connected_now + r->tot.connecting_now > 0;
}

/* Pubsub: what each subscriber should have got, by matching its filter
 * against every publisher's topic (skipped when that is too much work). */
static void
compute_expected(struct mqb_run *r)
{
    size_t i, j;

    r->expected_ready = 1;
    r->expected_total = 0;
    if ((double)r->nrx * (double)r->npubs > 2e7)
        return;
    for (i = 0; i < r->nrx; i++) {
        struct mqb_receiver *rx = r->rx[i];

        rx->expected = 0;
        rx->expected_known = 1;
        for (j = 0; j < r->npubs; j++) {
            const struct mqb_client *p = r->pubs[j];

            if (mq_topic_matches(rx->filter, p->topic))
                rx->expected += p->sent > p->failed ? p->sent - p->failed : 0;
        }
        r->expected_total += rx->expected;
    }
}

/* Per receiver: unique, lost, duplicates, reordered. */
static void
finish_receivers(struct mqb_run *r)
{
    size_t i, j;

    for (i = 0; i < r->nrx; i++) {
        struct mqb_receiver *rx = r->rx[i];
        struct mqb_streams *t = &rx->streams;

        rx->unique = rx->lost = rx->duplicates = rx->reordered = 0;
        for (j = 0; j < t->cap; j++) {
            struct mqb_stream *s = t->slot[j];
            uint64_t exp = 0;

            if (s == NULL)
                continue;
            rx->unique += s->unique;
            rx->duplicates += s->duplicates;
            rx->reordered += s->reordered;
            if (rx->expected_known && s->run_id == r->run_id)
                continue; /* counted against the publishers below */
            exp = s->planned;
            rx->lost += mqb_stream_lost(s, exp);
            if (!rx->expected_known && exp > 0)
                rx->expected += exp;
        }
        if (!rx->expected_known)
            continue;
        for (j = 0; j < r->npubs; j++) {
            const struct mqb_client *p = r->pubs[j];
            uint64_t exp;
            struct mqb_stream *s;

            if (!mq_topic_matches(rx->filter, p->topic))
                continue;
            exp = p->sent > p->failed ? p->sent - p->failed : 0;
            s = mqb_streams_find(t, r->run_id, p->idx);
            if (s != NULL)
                rx->lost += exp > 0 ? mqb_stream_lost(s, exp) : 0;
            else
                rx->lost += exp;
        }
    }
}

/* Cut every client still disconnecting short (mq_disconnect_now: a
 * DISCONNECT if connected, nothing more awaited; what is left is aborted
 * with events), so that mq_client_destroy() never waits for one. */
static void
disconnect_now_all(struct mqb_run *r)
{
    size_t i;

    for (i = 0; i < r->ncl; i++)
        if (r->cl[i].c != NULL && r->cl[i].state == ST_CLOSING &&
            mq_disconnect_now(r->cl[i].c, 0) != MQ_OK)
            r->cl[i].state = ST_CLOSED; /* finished meanwhile */
}

static size_t
count_closing(const struct mqb_run *r)
{
    size_t i, n = 0;

    for (i = 0; i < r->ncl; i++)
        if (r->cl[i].state == ST_CLOSING)
            n++;
    return n;
}

/* The end of the run: every connected client (and one still connecting
 * with messages queued) disconnects gracefully, so what it accepted is
 * delivered and the broker sees a DISCONNECT, within --drain seconds
 * (libmq's MQ_OPT_DISCONNECT_TIMEOUT_MS gets the same bound). A second
 * signal (before or during this) means "exit now": mq_disconnect_now.
 * Then the events that say what was given up are counted, and every
 * client is destroyed. */
static void
shutdown_all(struct mqb_run *r)
{
    int64_t deadline, bound_ms = (int64_t)(r->o->drain_s * 1000.0);
    int fast = r->signals > 1 || bound_ms <= 0;
    size_t i, closing;

    if (bound_ms > 3600000)
        bound_ms = 3600000; /* libmq's maximum */
    for (i = 0; i < r->ncl; i++) {
        struct mqb_client *k = &r->cl[i];

        if (k->c == NULL || !(k->state == ST_CONNECTED ||
                              (k->state == ST_CONNECTING &&
                               mq_queued_messages(k->c) > 0)))
            continue;
        if (!fast)
            mq_set_int(k->c, MQ_OPT_DISCONNECT_TIMEOUT_MS, bound_ms);
        if ((fast ? mq_disconnect_now(k->c, 0) : mq_disconnect(k->c, 0)) !=
            MQ_OK)
            continue;
        if (k->state == ST_CONNECTING && r->tot.connecting_now > 0)
            r->tot.connecting_now--;
        k->state = ST_CLOSING;
    }
    deadline = mqb_now() + bound_ms * NS_PER_MS;
    closing = count_closing(r);
    while (!fast && closing > 0 && mqb_now() < deadline) {
        pump_events(r, 20);
        closing = count_closing(r);
        if (g_signals > r->signals) {
            /* interrupted while disconnecting: stop waiting */
            r->signals = g_signals;
            r->interrupted = 1;
            fast = 1;
        }
    }
    if (closing > 0) {
        /* the bound passed, or a signal: the final events follow at once */
        disconnect_now_all(r);
        deadline = mqb_now() + 2 * NS_PER_S;
        while (count_closing(r) > 0 && mqb_now() < deadline)
            pump_events(r, 20);
    }
    for (i = 0; i < r->ncl; i++) {
        struct mqb_client *k = &r->cl[i];

        if (k->c == NULL)
            continue;
        if (k->fd >= 0)
            epoll_ctl(r->epfd, EPOLL_CTL_DEL, k->fd, NULL);
        mq_client_destroy(k->c);
        k->c = NULL;
        k->fd = -1;
    }
}

/* ---- the run ------------------------------------------------------------- */

int
mqb_run(struct mqb_run *r, struct mqb_opts *o)
{
    struct sigaction sa;
    int64_t now, next_tick, phase_t0 = 0, drain_t0 = 0;
    size_t phase_start = 0;
    int phase = 0; /* pubsub: 0 subscribers, 1 publishers */
    int64_t settle_t = 0;

    memset(r, 0, sizeof *r);
    r->o = o;
    r->epfd = -1;
    mqb_hist_init(&r->lat);
    mqb_hist_init(&r->conn_lat);
    {
        uint64_t seed = real_ns() ^ ((uint64_t)getpid() << 32);

        seed ^= seed >> 29;
        seed *= 0xbf58476d1ce4e5b9ull;
        r->run_id = (uint32_t)(seed ^ (seed >> 32));
    }
    if (setup_clients(r) != 0) {
        fprintf(stderr, "Error: out of memory for %zu clients.\n", r->ncl);
        return 1;
    }
    setup_limits(r);
    r->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (r->epfd < 0) {
        fprintf(stderr, "Error: epoll_create1: %s\n", strerror(errno));
        return 1;
    }
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    r->interval_ns = (int64_t)(o->start_interval_ms * NS_PER_MS);
    r->pub_interval_ns = (int64_t)(o->pub_interval_ms * NS_PER_MS);
    r->rss_base_kb = mqb_rss_kb();
    now = mqb_now();
    r->t0 = now;
    r->ramp_t0 = now;
    r->phase_end = o->mode == MQB_PUBSUB ? r->nsubs : r->ncl;
    if (o->mode == MQB_PUB) {
        r->pub_phase = 1;
        phase_t0 = now;
        if (o->duration_s > 0)
            r->pub_deadline = now + (int64_t)(o->duration_s * NS_PER_S);
    }
    if (o->mode == MQB_PUBSUB && r->nsubs == 0)
        r->phase_end = r->ncl;
    next_tick = now + NS_PER_S;

    for (;;) {
        int64_t wake, soon = INT64_MAX; /* soon: a time limit of the run */
        int waiting, timeout_ms;

        now = mqb_now();
        r->signals = g_signals;
        if (r->signals > 0)
            r->interrupted = 1;
        if (r->signals > 1)
            break;

        if (!r->interrupted)
            ramp_step(r, now, phase_start);

        /* pubsub: subscribers settled -> start the publishers */
        if (o->mode == MQB_PUBSUB && phase == 0 && !r->interrupted &&
            (r->next_start >= r->phase_end || r->ramp_stopped) &&
            all_settled(r)) {
            phase = 1;
            phase_start = r->next_start = r->nsubs;
            r->phase_end = r->ncl;
            r->ramp_t0 = now;
            r->ramp_stopped = 0;
            r->pub_phase = 1;
            phase_t0 = now;
            if (o->duration_s > 0)
                r->pub_deadline = now + (int64_t)(o->duration_s * NS_PER_S);
        }
        /* every client started and settled: note the connect phase end */
        if (r->t_ramp_done == 0 &&
            (r->next_start >= r->ncl || r->ramp_stopped) &&
            all_settled(r)) {
            r->t_ramp_done = now;
            r->rss_conn_kb = mqb_rss_kb();
            r->rss_conns = r->tot.connected_now;
            settle_t = now;
        }

        waiting = publish_step(r, now);

        /* end of publishing */
        if (r->pub_phase == 1 &&
            (r->interrupted || (r->pub_deadline && now >= r->pub_deadline) ||
             (o->limit > 0 && pubs_finished(r)) ||
             (r->next_start >= r->ncl && !any_alive(r)))) {
            r->pub_phase = 2;
            drain_t0 = now;
            while (r->nheap > 0)
                heap_remove(r, r->heap[0]);
        }

        /* the end of the run */
        if (o->mode == MQB_CONN) {
            if (r->interrupted)
                break;
            if (r->t_ramp_done && o->duration_s > 0) {
                soon = settle_t + (int64_t)(o->duration_s * NS_PER_S);
                if (now >= soon)
                    break;
            }
            if (r->t_ramp_done && !any_alive(r))
                break;
        } else if (o->mode == MQB_SUB) {
            if (r->interrupted)
                break;
            if (o->limit > 0 && r->tot.received >= (uint64_t)o->limit)
                break;
            if (o->duration_s > 0) {
                soon = r->t0 + (int64_t)(o->duration_s * NS_PER_S);
                if (now >= soon)
                    break;
            }
            if (o->idle_s > 0 && r->t_last_recv > 0) {
                int64_t idle_end = r->t_last_recv +
                                   (int64_t)(o->idle_s * NS_PER_S);

                if (now >= idle_end)
                    break;
                if (idle_end < soon)
                    soon = idle_end;
            }
            if (r->t_ramp_done && !any_alive(r))
                break;
        } else if (r->pub_phase == 2) {
            int64_t drain_end = drain_t0 + (int64_t)(o->drain_s * NS_PER_S);
            uint64_t q = queued_total(r);

            if (o->mode == MQB_PUB) {
                if (q == 0 || now >= drain_end)
                    break;
            } else {
                if (q == 0 && !r->expected_ready)
                    compute_expected(r);
                if (r->expected_ready && r->expected_total > 0 &&
                    r->unique_ours >= r->expected_total)
                    break;
                if (r->expected_ready && r->expected_total == 0 &&
                    r->npubs > 0 && r->nrx > 0 &&
                    (double)r->nrx * (double)r->npubs <= 2e7)
                    break; /* nothing to wait for */
                /* quiet for a whole drain period after the last arrival */
                if (now >= drain_end &&
                    (r->t_last_recv < drain_t0 ||
                     now >= r->t_last_recv + (int64_t)(o->drain_s *
                                                       NS_PER_S)))
                    break;
                if (now >= drain_end + 60 * NS_PER_S)
                    break; /* still trickling in after a minute: stop */
            }
        } else if (o->mode == MQB_PUBSUB && phase == 0 && r->t_ramp_done &&
                   !any_alive(r)) {
            break; /* no subscriber could connect */
        }

        if (now >= next_tick) {
            mqb_progress(r, now, 0);
            next_tick += NS_PER_S;
            if (next_tick < now)
                next_tick = now + NS_PER_S;
        }

        /* how long to sleep */
        wake = next_tick;
        if (r->next_start < r->phase_end && !r->ramp_stopped &&
            !r->interrupted) {
            int64_t due = r->ramp_t0 + (int64_t)(r->next_start - phase_start) *
                                           r->interval_ns;

            if ((long)r->tot.connecting_now >= o->max_connecting)
                due = now + NS_PER_MS;
            if (due < wake)
                wake = due;
        }
        if (r->nheap > 0 && r->heap[0]->due < wake)
            wake = r->heap[0]->due;
        if (soon < wake)
            wake = soon;
        if (r->pub_phase == 1 && r->pub_deadline && r->pub_deadline < wake)
            wake = r->pub_deadline;
        if (waiting && now + NS_PER_MS < wake)
            wake = now + NS_PER_MS;
        if (r->pub_phase == 2 || (o->mode == MQB_PUBSUB && phase == 0))
            if (now + 10 * NS_PER_MS < wake)
                wake = now + 10 * NS_PER_MS;
        if (wake <= now)
            timeout_ms = 0;
        else
            timeout_ms = (int)((wake - now + NS_PER_MS - 1) / NS_PER_MS);
        if (timeout_ms > 1000)
            timeout_ms = 1000;
        pump_events(r, timeout_ms);
    }
    r->t_end = mqb_now();
    if (r->pub_phase == 1)
        r->pub_phase = 2;
    if (r->t_ramp_done == 0) {
        r->rss_conn_kb = mqb_rss_kb();
        r->rss_conns = r->tot.connected_now;
    }
    (void)phase_t0;
    mqb_progress(r, r->t_end, 1);
    if (o->mode == MQB_PUBSUB)
        compute_expected(r); /* with the final counts */
    finish_receivers(r);
    shutdown_all(r);
    return 0;
}

void
mqb_run_free(struct mqb_run *r)
{
    size_t i;

    for (i = 0; i < r->ncl; i++) {
        if (r->cl[i].c != NULL)
            mq_client_destroy(r->cl[i].c);
        free(r->cl[i].id);
        free(r->cl[i].topic);
    }
    for (i = 0; i < r->nrx; i++) {
        mqb_streams_free(&r->rx[i]->streams);
        free(r->rx[i]->name);
        free(r->rx[i]);
    }
    free(r->cl);
    free(r->pubs);
    free(r->subs);
    free(r->heap);
    free(r->rx);
    free(r->payload);
    if (r->epfd >= 0)
        close(r->epfd);
    memset(r, 0, sizeof *r);
}
