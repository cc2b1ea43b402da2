/*
 * mqbench.h - shared state of mqbench, the broker load generator: options
 * (mqbench.c), the run engine that creates, connects and drives the
 * simulated clients (mqbench_run.c), and the progress line and final report
 * (mqbench_report.c). The measuring parts without I/O are in
 * mqbench_stats.h.
 *
 * Threading: mqbench drives every client from its main thread (events are
 * pulled with mq_next_event(), publishes are queued with mq_publish());
 * libmq's worker threads (--workers) do all network work.
 */
#ifndef MQBENCH_H
#define MQBENCH_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "mqbench_stats.h"

/* Exit codes (besides 0 and EXIT_USAGE = 1). */
#define MQB_EXIT_CONN 2   /* a client failed to connect or lost its link */
#define MQB_EXIT_LOSS 3   /* messages lost (or duplicated at QoS 0 / 2) */
#define MQB_EXIT_PUBERR 4 /* publishes refused or failed */

enum mqb_mode { MQB_CONN = 0, MQB_PUB, MQB_SUB, MQB_PUBSUB };
enum mqb_role { ROLE_CONN = 0, ROLE_PUB, ROLE_SUB };
enum mqb_events { EVENTS_AUTO = 0, EVENTS_FD, EVENTS_POLL };

struct mqb_opts {
    enum mqb_mode mode;
    const char *mode_name;
    long clients;            /* -c (publishers in pubsub) */
    long subs;               /* --subs (pubsub) */
    long start_number;       /* -n */
    double start_interval_ms;/* -i */
    long max_connecting;     /* --max-connecting */
    double pub_interval_ms;  /* -I (per client) */
    double rate;             /* -r (total, msg/s), 0 = unset */
    int qos;
    size_t size;             /* -s */
    const char *topic;       /* -t */
    const char *sub_topic;   /* --sub-topic (pubsub) */
    long long limit;         /* -L, 0 = none */
    double duration_s;       /* --duration, 0 = none */
    double drain_s;          /* --drain */
    double idle_s;           /* --idle (sub), 0 = none */
    int shared;              /* --shared */
    const char *group;       /* --group */
    int retain;
    int protocol;
    char **uris;             /* one per destination; clients round-robin */
    int nuris;
    char **verify_names;     /* TLS verify name per uri (or NULL) */
    int workers;             /* --workers, 0 = library default */
    int keepalive;
    int clean;
    long long session_expiry;/* -1 unset */
    const char *prefix;
    int inflight;            /* --inflight, 0 = library default */
    long window;             /* --max-queued per publisher */
    int reconnect;
    int json;
    int quiet;
    enum mqb_events events;
    int progress_tty;        /* 1 rewrite one line, 0 one line each second */
    int show_subs;           /* receivers listed in the text report */
    struct tool_cfg tcfg;    /* credentials, TLS, setup through common.c */
};

enum mqb_state {
    ST_NEW = 0,      /* not started */
    ST_CONNECTING,   /* mq_connect() called, no CONNACK yet */
    ST_CONNECTED,
    ST_FAILED,       /* gave up (never connected, or lost without retry) */
    ST_CLOSING,      /* mq_disconnect() at the end */
    ST_CLOSED
};

struct mqb_receiver;

struct mqb_client {
    mq_client *c;
    uint32_t idx;            /* index within its role, from 0 */
    uint8_t role, state;
    uint8_t ever_connected, subscribed, polled, done, finished;
    int fd;                  /* event descriptor in our epoll, or -1 */
    int heap_pos;            /* publishers: position in the heap or -1 */
    int64_t t_start;         /* monotonic ns when mq_connect() was called */
    int64_t due;             /* publishers: next publish, monotonic ns */
    char *id;
    char *topic;             /* publish topic or subscription filter */
    /* publishers */
    uint64_t planned;        /* 0 = no limit */
    uint64_t sent;           /* accepted by mq_publish() = next sequence */
    uint64_t failed;         /* PUBLISHED with an error */
    /* subscribers */
    struct mqb_receiver *rx;
};

/* What one subscriber (or one shared group on one filter) received. */
struct mqb_receiver {
    char *name;              /* client id, or "$share/group/filter" */
    const char *filter;      /* filter without the $share/group/ part */
    int members;
    struct mqb_streams streams;
    uint64_t received, foreign, retained;
    /* filled in at the end */
    uint64_t expected;       /* 0 = unknown */
    uint64_t unique, lost, duplicates, reordered;
    int expected_known;
};

/* Distinct reasons for failures, for the report. */
#define MQB_MAX_REASONS 16
struct mqb_reason {
    char text[160];
    uint64_t count;
};

struct mqb_totals {
    uint64_t started, connected_now, connecting_now, failed, lost_links,
        reconnects, ever_connected;
    uint64_t published, pub_call_errors, pub_failed, pub_acked, throttled;
    uint64_t received, foreign, retained, sub_failed, subscribed;
    uint64_t pub_bytes, recv_bytes;
};

struct mqb_run {
    struct mqb_opts *o;
    struct mqb_client *cl;   /* all clients: subscribers first (pubsub) */
    size_t ncl;
    struct mqb_client **pubs;
    size_t npubs;
    struct mqb_client **subs;
    size_t nsubs;
    struct mqb_receiver **rx;
    size_t nrx;
    uint32_t run_id;
    int epfd;
    size_t npolled;          /* clients swept because they have no fd */
    uint64_t pending_subacks;/* SUBSCRIBE sent, no SUBACK yet */
    size_t pubs_finished_n;  /* publishers done (limit, error, failed) */
    int64_t last_sweep;      /* poll mode */
    int sweep_found;
    /* ramp-up */
    size_t next_start;       /* index into cl */
    size_t phase_end;        /* clients [next_start, phase_end) in this phase */
    int64_t ramp_t0;
    int64_t interval_ns;
    int ramp_stopped;        /* resources ran out: no more starts */
    char ramp_stop_why[200];
    /* publishing */
    struct mqb_client **heap;
    size_t nheap;
    int64_t pub_interval_ns; /* per client; 0 = as fast as the window lets */
    int64_t pub_t0, pub_t1;  /* first and last publish */
    int64_t pub_deadline;    /* --duration end, 0 = none */
    int pub_phase;           /* 0 not yet, 1 publishing, 2 stopped */
    uint8_t *payload;
    /* timeline (monotonic ns) */
    int64_t t0, t_ramp_done, t_first_connack, t_last_connack;
    int64_t t_first_recv, t_last_recv, t_end;
    uint64_t expected_total;     /* pubsub: messages the subscribers should get */
    int expected_ready;
    uint64_t unique_ours;        /* pubsub: distinct messages of this run */
    /* memory */
    long rss_base_kb, rss_conn_kb;
    uint64_t rss_conns;
    long fd_limit;
    /* stats */
    struct mqb_totals tot;
    struct mqb_hist lat;         /* publish -> receive, ns */
    struct mqb_hist conn_lat;    /* mq_connect -> CONNACK, ns */
    struct mqb_reason reasons[MQB_MAX_REASONS];
    int nreasons;
    uint64_t other_reasons;
    int saw_emfile, saw_eaddrnotavail;
    int signals;
    int interrupted;
};

/* mqbench.c */
/** Expand %i (index), %c (client id), %% in a topic; NULL on an unknown
 *  sequence or no memory. */
char *mqb_subst(const char *pat, long idx, const char *id);

/* mqbench_run.c */
int mqb_run(struct mqb_run *r, struct mqb_opts *o);
void mqb_run_free(struct mqb_run *r);
int64_t mqb_now(void);
long mqb_rss_kb(void);
/** Count one failure under its reason text (the report lists them). */
void mqb_note_reason(struct mqb_run *r, const char *text);

/* mqbench_report.c */
void mqb_progress(struct mqb_run *r, int64_t now, int final);
void mqb_report_text(struct mqb_run *r);
void mqb_report_json(struct mqb_run *r);
int mqb_exit_code(const struct mqb_run *r);

#endif /* MQBENCH_H */
