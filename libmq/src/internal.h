/*
 * internal.h - the client structure (struct mq_client), its options
 * (mqi_opts) and events (struct mq_event), shared by the API (client.c),
 * the worker (worker.c, conn.c, connect.c) and the modules they use; the
 * map of who does what is docs/internals/architecture.md.
 *
 * Threading: fields are grouped by owner. "api" fields are guarded by
 * c->lock; "worker" fields are touched only by the worker thread; atomics
 * are shared. Never installed.
 */
#ifndef MQI_INTERNAL_H
#define MQI_INTERNAL_H

#include <pthread.h>
#include <time.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backoff.h"
#include "check.h"
#include "clock.h"
#include "codec.h"
#include "inack.h"
#include "msg.h"
#include "options.h"
#include "mq.h"
#include "pool.h"
#include "props.h"
#include "session.h"
#include "queue.h"
#include "store.h"
#include "theap.h"
#include "transport.h"

/* One mq_wait() call on a token. The waiter allocates it and hands it to
 * the worker in an MQI_CMD_WAIT; from then on the fields below are
 * guarded by the client's lock. Whoever finishes last frees it: the
 * worker if the waiter gave up (abandoned), else the waiter. */
typedef struct mqi_waitreq {
    struct mqi_waitreq *next;       /* worker's watch list */
    int token;
    int state;                      /* MQI_WS_* */
    int err;                        /* the outcome when DONE */
    bool abandoned;                 /* the waiter returned (timeout) */
} mqi_waitreq;

enum {
    MQI_WS_ASKED = 0, /* the worker has not looked yet */
    MQI_WS_PENDING,   /* still queued or in flight */
    MQI_WS_DONE       /* err holds the outcome */
};

/* ---- options --------------------------------------------------------- */

typedef struct mqi_server {
    int scheme;       /* MQI_SCHEME_* */
    char *host;       /* host name, IP literal (no brackets) or unix path */
    char *path;       /* websocket path */
    uint16_t port;
} mqi_server;

enum { MQI_SCHEME_TCP = 1, MQI_SCHEME_TLS, MQI_SCHEME_WS, MQI_SCHEME_WSS,
       MQI_SCHEME_UNIX };

/* Transport options for real deployments (api_transport.c): keys by URI,
 * providers, engines, TLS-PSK, CRLs, an application's SSL_CTX,
 * resumption, proxies, the local bind address. As set in c->opt; the
 * connect snapshot (c->cfg) also holds the proxies in force, from the
 * options or the environment. */
typedef struct mqi_xopts {
    char *tls_key_uri, *tls_cert_uri, *tls_providers, *tls_engine;
    char *tls_psk, *tls_psk_identity, *tls_crl_file, *tls_crl_path;
    int tls_crl_check;          /* 0: default (whole chain) */
    int tls_max_version;        /* 0 none, 12, 13 */
    bool tls_no_resume;
    void *tls_app_ctx;          /* SSL_CTX *, one reference held */
    char *proxy;                /* MQ_SOPT_PROXY */
    char *no_proxy;             /* MQ_SOPT_NO_PROXY */
    char *bind_address;         /* MQ_SOPT_BIND_ADDRESS, numeric */
    bool proxy_from_env;
    /* snapshot only */
    mqi_proxy *px_plain;        /* for mqtt:// and ws://, NULL: direct */
    mqi_proxy *px_tls;          /* for mqtts:// and wss:// */
    char *px_no;                /* hosts that go direct */
    char *px_err_plain;         /* why the environment's proxy for */
    char *px_err_tls;           /* either kind is unusable, or NULL */
} mqi_xopts;

/* The TLS options and the will: a block made by the first setter of one
 * (mqi_topts_mut), so a client with neither carries none (issue 20 item
 * 3). Read through mqi_topts_of, which gives all defaults (zero) when the
 * block was never made. */
typedef struct mqi_topts {
    /* will (mq_set_will) */
    char *will_topic;
    uint8_t *will_payload;
    size_t will_len;
    mq_props *will_props;
    /* tls */
    char *tls_ca_file, *tls_ca_path, *tls_cert_file, *tls_key_file;
    char *tls_verify_name, *tls_alpn, *tls_ciphers;
    char *tls_ca_pem, *tls_cert_pem, *tls_key_pem, *tls_key_password;
    mq_tls_password_cb tls_password_cb;
    void *tls_password_ud;
    int will_qos;
    int will_retain;
    int tls_min_version;
    bool will;                  /* a will is set */
    bool tls_insecure;
    bool tls_no_hostname_check;
} mqi_topts;

/* One per idle client (shared with its connect snapshot), so small: the
 * options whose valid range fits 16 bits are uint16_t (option rows
 * OPT_U16; their setters check the range first), and the fields go by
 * size, 8-byte ones first, with no padding between them (issue 20 item
 * 3). */
typedef struct mqi_opts {
    char *username;
    uint8_t *password;
    mqi_server *servers;
    mq_props *connect_props;
    mqi_topts *t;               /* NULL until a TLS option or a will is
                                   set: all defaults (mqi_topts_of,
                                   mqi_topts_mut) */
    mqi_xopts *x;               /* NULL until one is set: all defaults
                                   (mqi_xopts_of, mqi_xopts_mut) */
    atomic_int refs;            /* mqi_opts_new / mqi_opts_unref */
    uint32_t session_expiry;
    int reconnect_min_ms;
    int reconnect_max_ms;
    int connect_timeout_ms;
    uint32_t max_packet_size;
    uint32_t password_len;      /* mq_set_password: <= 65535 */
    uint32_t nservers;
    uint16_t keepalive;
    uint16_t clean_start;
    uint16_t reconnect;
    uint16_t max_inflight;
    uint16_t tcp_nodelay;
    uint16_t receive_maximum;
    uint16_t topic_alias_maximum;
    uint16_t protocol_fallback; /* v5: retry a 3.1.1-only broker in 3.1.1 */
    uint16_t topic_alias_auto;  /* v5: outbound aliases assigned by libmq */
    bool has_password;
} mqi_opts;

int mqi_opts_copy(mqi_opts *dst, const mqi_opts *src);
/* The TLS options and the will of @p o for reading: all defaults when
 * none was ever set (o->t NULL). */
const mqi_topts *mqi_topts_of(const mqi_opts *o);
/* For changing them (under c->lock, after mqi_opts_writable): made on
 * first use; NULL without memory (o unchanged). */
mqi_topts *mqi_topts_mut(mqi_opts *o);
void mqi_opts_clear(mqi_opts *o);
/* A heap option set with one reference, zeroed (NULL without memory);
 * the last mqi_opts_unref clears and frees it (any thread; NULL is
 * ignored). */
mqi_opts *mqi_opts_new(void);
void mqi_opts_unref(mqi_opts *o);
/* Before a change to *o (c->opt, under c->lock): when a connect snapshot
 * shares it (mq_connect takes a reference instead of a copy when the
 * snapshot would equal the options), replace *o by a private copy.
 * MQ_OK, or MQ_ERR_NOMEM with *o unchanged. */
MQI_MUST_CHECK int mqi_opts_own(mqi_opts **o);
/* The connect snapshot of @p o (under c->lock): @p o itself with one more
 * reference when no proxy is chosen (one option set per idle client),
 * else a copy with the proxies chosen. NULL without memory. */
mqi_opts *mqi_opts_snapshot(mqi_opts *o);
/* Under c->lock, before a change to c->opt: MQ_ERR_STATE while active
 * (between mq_connect() and the end of the connection), else
 * mqi_opts_own(&c->opt). */
struct mq_client;
MQI_MUST_CHECK int mqi_opts_writable(struct mq_client *c);

/* api_transport.c: the mqi_xopts part of the options. set/get return
 * MQ_ERR_INVAL for an option that is not theirs. */
int mqi_xopts_set_int(mqi_xopts *x, int option, int64_t v);
int mqi_xopts_get_int(const mqi_xopts *x, int option, int64_t *out);
int mqi_xopts_set_str(mqi_xopts *x, int option, const char *v);
/* Deep copy for the connect snapshot (on the mq_connect() thread), with
 * the proxies chosen; reads the environment when asked. */
int mqi_xopts_snapshot(mqi_xopts *dst, const mqi_xopts *src);
void mqi_xopts_clear(mqi_xopts *x);
/* The transport options of @p o for reading: all defaults when none was
 * ever set (o->x NULL). */
const mqi_xopts *mqi_xopts_of(const mqi_opts *o);
/* For changing them (under c->lock, after mqi_opts_writable): allocated
 * on first use; NULL without memory. */
mqi_xopts *mqi_xopts_mut(mqi_opts *o);
/* Whether a snapshot of @p x chooses proxies (from the options or the
 * environment): only then does it differ from the options themselves. */
bool mqi_xopts_picks_proxy(const mqi_xopts *x);
/* Free the snapshot-only proxy fields (px_*). */
void mqi_xopts_drop_proxies(mqi_xopts *x);
/* The TLS fields of @p o from a snapshot. */
void mqi_xopts_tls(const mqi_xopts *x, mqi_tls_opts *o);
/* The proxy for a server of a snapshot, or NULL to go direct; NULL with
 * *err set when the environment named an unusable proxy for it. */
const mqi_proxy *mqi_xopts_proxy(const mqi_xopts *x, int scheme,
                                 const char *host, uint16_t port,
                                 const char **err);

/* ---- events ---------------------------------------------------------- */

/* Field order: pointers and 64-bit values, then 32-, 16- and 8-bit ones;
 * the small ranges (event kind, QoS, flags, log level, reason codes, packet
 * id; payloads and reason lists under MQTT's 256 MB packet limit) keep it
 * at 128 bytes, so the common kinds fit pool.c's 128-byte class with their
 * inline storage empty or short (issue 20 item 3). */
struct mq_event {
    struct mq_event *next;
    char *topic;
    uint8_t *payload;
    mq_props *props;
    uint8_t *reasons;
    char *message;
    void *owned;                /* a buffer the payload points into */
    uint64_t tag;               /* PUBLISHED/RECOVERED: application tag */
    struct mqi_store *store;    /* PUBLISHED of a tagged stored message:
                                   its record goes when the event is freed
                                   (a reference on the store) */
    uint64_t store_seq;
    char *tls;                  /* CONNECT: "version\0cipher\0alpn\0resumed\0"
                                   (inline), or NULL */
    struct mqi_inack *inack;    /* MESSAGE of QoS 1/2: freeing the event
                                   lets its PUBACK/PUBREC go (inack.h) */
    uint32_t payload_len;       /* <= a packet's remaining length or a
                                   stored record's body (both < 4 GiB) */
    uint32_t nreasons;
    uint32_t acct;              /* bytes counted against
                                   MQ_OPT_MAX_EVENT_BYTES (topic, payload,
                                   properties of MESSAGE/RECOVERED) */
    int error;
    int token;
    int16_t reason;             /* an MQTT reason code (0..255) */
    uint16_t packet_id;
    uint8_t type;               /* MQ_EVENT_* */
    uint8_t qos, retain, dup;
    uint8_t session_present;
    uint8_t will_reconnect;
    uint8_t log_level;          /* MQ_LOG_* */
    uint8_t blk;                /* small-block class of this allocation */
    /* inline storage may follow */
};
_Static_assert(sizeof(struct mq_event) <= 128,
               "mq_event fits pool.c's 128-byte class");

typedef struct mqi_events {
    pthread_mutex_t lock;
    pthread_cond_t *cond; /* made by the first waiting take (most clients
                             poll or use callbacks; issue 20 item 3);
                             NULL if that failed: waiters then poll */
    mq_event *head, *tail;
    size_t count;
    atomic_size_t bytes; /* sum of ->acct; changed under the lock, read
                            without it */
    int pipe_rd, pipe_wr;
    bool signaled;       /* a byte sits in the pipe */
    unsigned waiters;
} mqi_events;

int mqi_events_init(mqi_events *q);
void mqi_events_destroy(mqi_events *q);
/* Append; returns the new count. */
size_t mqi_events_post(mqi_events *q, mq_event *ev);
/* Append a linked list of @p count events with one lock and one wakeup. */
size_t mqi_events_post_list(mqi_events *q, mq_event *head, mq_event *tail,
                            size_t count);
/* Take one, waiting up to timeout_ms (-1 forever). *out_count: what is
 * left. @p stop: optional flag that ends the wait early when set. */
mq_event *mqi_events_take(mqi_events *q, int timeout_ms, size_t *out_left,
                          atomic_bool *stop);
/* Take up to @p max as a chain linked through ->next (one lock). */
mq_event *mqi_events_take_some(mqi_events *q, int timeout_ms, size_t max,
                               size_t *out_left, atomic_bool *stop);
/* Put a chain back at the front, in order. */
void mqi_events_unshift(mqi_events *q, mq_event *head);
void mqi_events_wake_all(mqi_events *q);
size_t mqi_events_count(mqi_events *q);
/* The pollable descriptor, created on first use; -1 if it cannot be. */
int mqi_events_fd(mqi_events *q);
/* Allocate an event with @p extra zeroed bytes of inline storage. */
mq_event *mqi_event_new(int type, size_t extra);
/* Free an event the application never saw: a stored record it holds
 * stays in the store (and comes back after a restart). */
void mqi_event_forget(mq_event *ev);

/* ---- the client ------------------------------------------------------ */

#define MQI_EVENT_KINDS (MQ_EVENT_RECOVERED + 1) /* callback slots */

typedef struct mqi_worker mqi_worker;
typedef struct mqi_splice mqi_splice;

/* Event-source tags for epoll (data.ptr points at one of these). A
 * socket's tag is c->sock_src: its client is the struct around it
 * (MQI_CONTAINER_OF), so the tag is 4 bytes in every client. */
typedef struct mqi_src {
    int kind; /* MQI_SRC_* */
} mqi_src;
enum { MQI_SRC_SOCK = 1, MQI_SRC_WORKER };

/* Protocol per server with MQ_OPT_PROTOCOL_FALLBACK (worker) */
enum { MQI_FB_V5 = 0, MQI_FB_TRY, MQI_FB_V311 };

/* Connection state (worker) */
enum {
    MQI_CS_IDLE = 0,       /* not connecting; mq_connect() needed */
    MQI_CS_RESOLVING,
    MQI_CS_TCP,            /* non-blocking connect() in progress */
    MQI_CS_HANDSHAKE,      /* transport handshake (TLS) */
    MQI_CS_CONNACK,        /* CONNECT sent */
    MQI_CS_UP,
    MQI_CS_CLOSING,        /* DISCONNECT queued; close when flushed */
    MQI_CS_BACKOFF         /* waiting to reconnect */
};

/* Field order: within each section, 8-byte members first, then 4-byte,
 * then 2- and 1-byte ones, so the compiler adds no padding between them
 * (issue 20 item 3: the struct is per connection; `gcc -Wpadded` on
 * client.c lists what is left). Keep this order when adding a field. */
struct mq_client {
    atomic_int refs;
    int version;

    /* ---- api (c->lock) ---- */
    pthread_mutex_t lock;
    mqi_opts *opt;              /* never NULL */
    char *client_id;            /* as configured (immutable) */
    struct mqi_idnode {         /* broker-assigned ids, newest first */
        struct mqi_idnode *next;
        char id[];
    } *assigned_ids;
    struct mqi_cbslot {         /* callbacks by event kind: NULL until */
        mq_event_cb cb;         /* the first mq_set_callback (most */
        void *ud;               /* clients use the pull API) */
    } *cbs;                     /* [MQI_EVENT_KINDS] */
    pthread_cond_t *state_cond; /* broadcast (mqi_state_broadcast) on the
                                   changes below, on mq_wait outcomes, on a
                                   pause, and when queue space frees up for
                                   a waiting mq_publish (msg.c); made by
                                   the first wait (mqi_cond_lazy_wait:
                                   most clients never wait), NULL before */
    pthread_t loop_thread;
    mqi_opts *connect_snap;     /* the snapshot mq_connect() made, until
                                   the worker takes it with connect_node */
    unsigned connect_seq;       /* bumped by each mq_connect() */
    unsigned attempts_done;     /* connect attempts finished (worker) */
    int attempt_err;            /* the outcome of the latest one */
    uint32_t destroy_lost;      /* undelivered messages freed by destroy
                                   (counts stop at UINT32_MAX) */
    uint32_t destroy_stored;    /* ... of which kept in the store */
    bool active;                /* mq_connect() called, no mq_disconnect() */
    bool closing;               /* mq_disconnect() queued, not finished
                                   (c->closing_flag mirrors it) */
    bool final_pending;         /* its final DISCONNECTED event is queued,
                                   not yet taken or dispatched */
    atomic_bool loop_stop;
    /* (loop_running and forever_running are at the end of the shared
     * section: there they fill its last word instead of padding) */

    /* ---- shared (atomics) ---- */
    mqi_mpsc cmdq;
    mqi_qnode ready_node;       /* on the worker's ready list */
    mqi_qnode destroy_node;     /* the DESTROY command: queued by
                                   mqi_worker_detach, so destroy needs no
                                   memory (not an mqi_msg) */
    mqi_qnode connect_node;     /* the CONNECT command, not an mqi_msg
                                   (issue 20 item 3: no 160-byte block per
                                   connect): at most one is queued, since
                                   c->active stays set until the worker
                                   took it (cfg_seq == connect_seq) */
    atomic_size_t q_msgs;       /* accepted, not completed */
    atomic_size_t q_bytes;
    atomic_size_t max_msgs;
    atomic_size_t max_bytes;
    atomic_size_t max_events;
    atomic_size_t max_event_bytes;
    mqi_events ev;
    mqi_store *store;           /* set once (api), used by api and worker */
    atomic_int wake_pending;    /* on the ready list, not yet taken */
    atomic_int next_token;
    atomic_int connected;
    atomic_int log_level;
    atomic_int publish_events;
    atomic_int offline_qos0;
    atomic_int publish_timeout_ms;
    atomic_uint max_packet;     /* effective limit for outbound packets */
    atomic_int alias_max_out;   /* broker's Topic Alias Maximum, -1 unknown */
    atomic_int proto_in_use;    /* protocol of the last CONNACK, 0 none */
    atomic_int disconnect_timeout_ms;
    atomic_uint state_waiters;  /* threads blocked on state_cond */
    atomic_uint space_waiters;
    int persist_sync;           /* api: policy for the store */
    bool destroy_sent;          /* destroy_node was queued */
    bool released;              /* worker let go (w->lock) */
    atomic_bool tokens_wrapped; /* every positive token was issued once */
    atomic_bool destroyed;
    atomic_bool closing_flag;   /* c->closing, read without the lock */
    atomic_bool paused;         /* worker stopped reading: events full */
    bool loop_running;          /* api (c->lock) */
    bool forever_running;       /* api (c->lock): mq_loop_forever() runs */

    /* ---- worker ---- */
    mqi_worker *w;              /* its owner: c->home, or c->pw while a
                                   mq_loop_start thread does its I/O */
    struct mq_client *wnext, *wprev; /* worker's client list */
    mqi_opts *cfg;              /* snapshot taken at CMD_CONNECT */
    uint8_t *fallback;          /* per server: MQI_FB_* (cfg.nservers) */
    mqi_io io;
    mqi_buf out;                /* bytes to write, from out_off */
    size_t out_off;             /* bytes of out already written */
    struct mqi_splices {        /* large payloads sent from their message:
                                   made by the first one (conn.c), NULL
                                   before (most connections never send a
                                   payload of SPLICE_MIN bytes) */
        size_t first, n, cap;   /* v[first..n) wait, in stream order */
        size_t bytes;           /* payload bytes of splices not written */
        struct mqi_splice {
            size_t at;          /* offset in out where the payload goes */
            struct mqi_msg *m;
            size_t done;        /* payload bytes written */
        } v[];
    } *spl;
    mqi_buf in;                 /* a partial packet, or input kept while paused */
    mq_event *bat_head, *bat_tail; /* events of this round, posted at once */
    size_t bat_n;
    size_t ev_known;            /* queue length seen at the last post */
    size_t evb_known;           /* queued event bytes seen then */
    size_t bat_bytes;           /* event bytes in bat_head */
    mqi_session ses;            /* the MQTT session: queues, flight window,
                                   packet ids, QoS 2 ids, inbound aliases
                                   (session.c) */
    mqi_ackch *ackch;           /* freed events wake us to acknowledge
                                   (inack.h); made on the first QoS 1/2
                                   message */
    struct mqi_subrec *subs;    /* subscription registry for resubscribe */
    int64_t up_since_ms;        /* CONNACK of this connection, 0 none */
    mqi_rng rng;                /* reconnect jitter (backoff.h) */
    void *addrs;                /* struct addrinfo *: this attempt's
                                   addresses not tried yet (connect.c) */
    int64_t deadline_ms;        /* next timer for this client, 0 none */
    int64_t connect_deadline_ms;
    int64_t last_send_ms, last_recv_ms, ping_sent_ms;
    int64_t backoff_until_ms;
    struct mqi_drain {          /* a graceful disconnect (conn.c): made
                                   by mq_disconnect*() with its command
                                   (MQ_ERR_NOMEM there), taken by the
                                   worker; set while draining, else NULL */
        int64_t deadline_ms;
        mq_props *props;        /* for the DISCONNECT packet */
        size_t aborted, kept;   /* for the final event's message */
    } *drain;
    mqi_waitreq *watch;         /* mq_wait() calls waiting for a token */
    mqi_list parked;            /* application SUBSCRIBEs waiting for the
                                   SUBACK of libmq's own resubscribe */
    struct mqi_outcomes {       /* recent failed operations, for mq_wait:
                                   made by the first failure (conn.c) */
        unsigned n, next;       /* a ring of FAILS_MAX */
        struct mqi_outcome {
            int token, err;
        } v[];
    } *fails;
    struct mqi_alias_out *aout; /* outbound topic aliases (v5) */
    void *tls_ctx;
    const mqi_proxy *proxy;     /* this attempt's proxy (in cfg), or NULL */
    /* performance (issue 20) */
    mqi_theap_node tnode;       /* its timer (deadline_ms) in w->timers */
    /* the mq_loop_start() thread as the client's I/O thread (issue 20,
     * worker.c "private workers"): c->w is then the private worker; it
     * changes only on its owner's thread (__atomic, read by mqi_wake) */
    mqi_worker *home;           /* the shared worker it joined at creation */
    mqi_worker *pw;             /* private worker, made by the first
                                   mq_loop_start(); freed by destroy */
    int64_t adopt_deadline;     /* its timer across the hand-over */
    /* 4-byte worker fields */
    mqi_src sock_src;           /* epoll's tag for the socket */
    unsigned cfg_seq;           /* connect_seq of the snapshot */
    unsigned server_idx;
    unsigned attempt;           /* consecutive failed attempts */
    atomic_uint generation;     /* resolve generation (the worker bumps
                                   it; resolver threads read it) */
    unsigned conn_no;           /* connections made (CONNACK 0) */
    uint32_t nsubs, capsubs;    /* of subs (capsubs < 2^31) */
    int fail_horizon;           /* newest token pushed out of fails */
    uint32_t server_max_packet;
    atomic_int loop_io_thread;  /* MQ_OPT_LOOP_IO_THREAD */
    atomic_uint wakers;         /* threads inside mqi_wake (a hand-over
                                   waits until none read the old worker) */
    atomic_int own;             /* the worker works on it, or an API
                                   thread writes directly (worker.h) */
    uint16_t server_keepalive;
    uint16_t epoll_mask;        /* what the socket is registered for
                                   (EPOLLIN, EPOLLOUT) */
    /* 1-byte worker fields */
    int8_t ses_err;             /* a session action could not be carried
                                   out (an MQ_ERR_*, e.g. MQ_ERR_NOMEM):
                                   close after the transition */
    uint8_t cs;                 /* MQI_CS_* */
    uint8_t proto;              /* protocol of this connection: version,
                                   or 3.1.1 after a fallback */
    uint8_t server_max_qos;     /* the CONNACK's Maximum QoS (a byte) */
    uint8_t close_reason;       /* DISCONNECT reason we sent (a byte) */
    bool fallback_try;          /* this attempt is a tentative 3.1.1 one */
    bool v5_drop_logged;        /* "v5 feature dropped" said once */
    bool write_blocked;         /* last write hit EAGAIN; wait for EPOLLOUT */
    bool dead;                  /* destroyed; skip its remaining epoll events */
    bool space_freed;           /* queue space released this round */
    bool in_stolen;             /* on_publish took c->in's buffer */
    bool in_steal_ok;           /* the packet being handled is in c->in */
    bool qos2_in_loaded;        /* the store's inbound QoS 2 ids are in ses */
    bool want_disconnect;       /* CMD_DISCONNECT seen */
    bool draining;              /* graceful disconnect in progress */
    bool fail_evicted;
    bool session_present;
    bool server_retain;
    bool tcp;                   /* io.fd is a TCP socket (not AF_UNIX) */
    bool ack_due;               /* bytes read and nothing written since:
                                   our ACK of them may be delayed */
    bool adopt;                 /* handed over: the new owner registers
                                   its socket and timer (owner thread) */
    bool destroy_deferred;      /* destroyed from a callback on its I/O
                                   thread: that thread finishes it (lock) */
    bool read_since_direct;     /* the socket was read since the last
                                   direct publish (conn.c; c->own) */
    atomic_bool move_to_pw;     /* asked of the owner: hand c over to
                                   c->pw (set after c->pw, read before it) */
};

typedef struct mqi_subrec {
    char *filter;
    uint8_t options;
    mq_props *props;            /* the SUBSCRIBE's v5 properties, or NULL */
    unsigned restored_conn;     /* conn_no libmq renewed it on, 0 none */
    int granted;                /* that renewal's SUBACK code, -1 until
                                   it arrives */
} mqi_subrec;

/* Wake every thread waiting on c's state (c->lock held); none when no
 * wait ever made the condition variable. */
static inline void
mqi_state_broadcast(mq_client *c)
{
    if (c->state_cond != NULL)
        pthread_cond_broadcast(c->state_cond);
}

/* worker.c */
int mqi_worker_attach(mq_client *c);   /* join the shared worker */
void mqi_worker_detach(mq_client *c);  /* leave it (blocks until done) */
void mqi_wake(mq_client *c);           /* wake.c; any thread */
/* worker.c, private workers (the mq_loop_start() thread does the I/O and
 * dispatches; client.c's loop functions call these, under c->lock where
 * noted). */
int mqi_worker_private_start(mq_client *c, pthread_t *th); /* c->lock */
void mqi_worker_private_stop(mq_client *c);  /* ask its thread to end */
bool mqi_worker_private_busy(mq_client *c);  /* its thread still runs */
void mqi_worker_private_free(mq_client *c);  /* destroy: before detach */
/* True on c's private I/O thread while it owns c: a wait there must
 * pump rather than sleep. */
bool mqi_worker_on_io_thread(mq_client *c);
/* On c's I/O thread: run one round of its loop (I/O, commands, timers;
 * no callbacks), waiting up to @p max_ms; false elsewhere. */
bool mqi_worker_pump(mq_client *c, int max_ms);
/* An event was posted from outside the worker (a log line, a recovered
 * message): a private worker's thread is woken to dispatch it. */
void mqi_worker_posted(mq_client *c);
/* conn.c, for mq_publish: write the new publish @p m on the calling
 * thread when the connection is up and idle (conn.c, "direct writes");
 * false leaves m to the caller, which queues it for the worker. */
bool mqi_conn_direct_publish(mq_client *c, mqi_msg *m);
/* inack.c, for a freed QoS 1/2 message event: write the due
 * PUBACK/PUBREC on the calling thread the same way; false: wake the
 * worker for them. */
bool mqi_conn_direct_acks(mq_client *c);
/* client.c, for the private worker's thread */
void mqi_loop_dispatch(mq_client *c);        /* queued events, callbacks */
void mqi_loop_thread_end(mq_client *c);      /* last thing it does */

/* lifetime.c: drop a reference; the last one frees the client. The
 * broker-assigned ids are freed with it (also by each mq_connect). */
void mqi_client_unref(mq_client *c);
void mqi_client_free_ids(mq_client *c);

/* events.c: a log line as an MQ_EVENT_LOG, when c's level allows */
void mqi_log(mq_client *c, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* msg.c: the bounded queue's space. Reserve room for one message of
 * @p bytes on the publishing thread (waiting up to
 * MQ_OPT_PUBLISH_TIMEOUT_MS when asked): MQ_OK, MQ_ERR_QUEUE_FULL,
 * MQ_ERR_DESTROYED. Released: the worker woke waiting publishers' room
 * (called once per round after messages completed). */
MQI_MUST_CHECK int mqi_space_reserve(mq_client *c, size_t bytes);
void mqi_space_released(mq_client *c);

#endif
