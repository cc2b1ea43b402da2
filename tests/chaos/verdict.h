/*
 * verdict.h - the chaos test's verdict: reads the publishers' accept logs,
 * the subscribers' receive logs (formats in chaos_child.h) and the broker
 * log (mosquitto with log_type all, plus the harness's "=== ... ===" marker
 * lines), and counts per publisher the accepted messages never received,
 * QoS 2 duplicates and reordering, each attributed to a cause with the
 * evidence the logs give:
 *
 * missing (accepted, never taken by a subscriber application):
 *   reported      the publisher's application got an error event for it
 *   broker_refused the broker acknowledged it with an error reason code
 *                 (e.g. 0x97 quota exceeded) and dropped it; an MQTT 3.1.1
 *                 client cannot see that code
 *   broker_nosub  the broker acknowledged it with 0x10 "no matching
 *                 subscribers": it had lost the subscription (mosquitto
 *                 2.0.11 does not restore shared subscriptions from its
 *                 database after a restart)
 *   broker_kill   the broker acknowledged it (PUBACK, PUBREC or PUBCOMP to
 *                 the publisher) and was killed before its next completed
 *                 save of the in-memory database
 *   broker_reused the broker sent it (DUP 0) with the packet id of an
 *                 earlier QoS 2 message to that subscriber whose PUBREC it
 *                 never logged before a kill: it forgot that flow and
 *                 reused the id, and the subscriber's libmq, still
 *                 waiting for the PUBREL of the first, took the new one
 *                 for a resend (MQTT: a duplicate until PUBREL)
 *   broker_drop   the broker logged that it dropped messages for the
 *                 subscriber (queue limits)
 *   sub_window    the subscriber's library acknowledged it (PUBACK/PUBREC
 *                 received by the broker) and that subscriber process was
 *                 killed before its application took it
 *   no_persist    never reached the broker, and the publisher process that
 *                 accepted it was killed with a library without persistence
 *   unexpl_pub    never reached the broker (or a QoS 2 PUBREL never came):
 *                 the publisher library lost it
 *   unexpl_broker reached the broker, never forwarded, no kill evidence
 *   unexpl_sub    forwarded to a subscriber, never taken by its application
 * QoS 2 duplicates (a QoS 2 message taken more than once):
 *   broker_session  the broker got it twice as a new message with a broker
 *                   kill in between (it lost the publisher's session state)
 *   broker_resend   the broker sent it again after the subscriber's PUBREC
 *                   (after a restart: older state restored; without one:
 *                   mosquitto's resend_pubrel quirk)
 *   sub_restart     taken by two incarnations of a subscriber that was
 *                   killed before its PUBREC reached the broker (inbound
 *                   QoS 2 state lives in the killed process)
 *   unexpl_pub      the broker got it twice as new without a kill between
 *   unexpl_sub      anything else (e.g. taken twice by one process)
 * reordering (a message taken for the first time after a later one of the
 * same publisher and QoS, per subscriber):
 *   publisher     it reached the broker after the later one (QoS 1:
 *                 PUBLISH, QoS 2: PUBREL)
 *   broker        the broker sent it to the subscriber after the later one
 *   subscriber    the subscriber's application took it after the later one
 *                 although the broker sent it first
 *
 * Pure: no I/O beyond reading the given files; no global state.
 * Threading: any thread; one cv_result per call.
 */
#ifndef CHAOS_VERDICT_H
#define CHAOS_VERDICT_H

#include <stdio.h>

#define CV_MAX_PUBS 8
#define CV_MAX_SUBS 8

enum {
    CV_MISS_REPORTED,
    CV_MISS_BROKER_REFUSED,
    CV_MISS_BROKER_NOSUB,
    CV_MISS_BROKER_KILL,
    CV_MISS_BROKER_REUSED,
    CV_MISS_BROKER_DROP,
    CV_MISS_SUB_WINDOW,
    CV_MISS_NO_PERSIST,
    CV_MISS_UNEXPL_PUB,
    CV_MISS_UNEXPL_BROKER,
    CV_MISS_UNEXPL_SUB,
    CV_MISS_KINDS
};

enum { CV_ORD_PUB, CV_ORD_BROKER, CV_ORD_SUB, CV_ORD_KINDS };

enum {
    CV_DUP_BROKER_SESSION,
    CV_DUP_BROKER_RESEND,
    CV_DUP_SUB_RESTART,
    CV_DUP_UNEXPL_PUB,
    CV_DUP_UNEXPL_SUB,
    CV_DUP_KINDS
};

typedef struct cv_pub {
    const char *name;      /* topic level: chaos/NAME/SEQ */
    const char *client_id;
    const char *alog;      /* accept log */
    const char *lib;       /* "libmq", "paho", "libmosquitto" (for the table) */
    int persistent;        /* 1: the library keeps accepted messages across a
                              kill of the process */
} cv_pub;

typedef struct cv_sub {
    const char *client_id;
    const char *rlog;      /* receive log */
} cv_sub;

typedef struct cv_config {
    cv_pub pubs[CV_MAX_PUBS];
    int npubs;
    cv_sub subs[CV_MAX_SUBS];
    int nsubs;             /* every publisher's messages go to exactly one of
                              these (one subscriber, or a shared group) */
    const char *broker_log;
} cv_config;

typedef struct cv_pub_result {
    long accepted, received;     /* received: distinct accepted ones taken */
    long unaccepted_received;    /* taken but not in the accept log */
    long missing;
    long miss[CV_MISS_KINDS];
    long qos2_dups;
    long dup[CV_DUP_KINDS];
    long qos1_dups;              /* allowed (at least once); for the record */
    long reordered;              /* first arrivals after a later seq */
    long reord[CV_ORD_KINDS];
    long corrupt;                /* payload did not match the topic */
    long kills;                  /* publisher processes killed */
    long left;                   /* not completed when the last publisher
                                    process stopped ("# drained"), -1 if it
                                    never said */
    long first_unexpl[4];        /* a few seqs behind unexplained counts */
    int nfirst_unexpl;
} cv_pub_result;

typedef struct cv_result {
    cv_pub_result pub[CV_MAX_PUBS];
    long sub_received[CV_MAX_SUBS]; /* messages taken per subscriber */
    long sub_kills[CV_MAX_SUBS];
    long broker_kills, broker_saves, broker_drops;
    long broker_lines;
} cv_result;

/* Read the logs and fill @p r. 0, or -1 when a file cannot be read (the
 * reason on stderr). */
int cv_analyze(const cv_config *cfg, cv_result *r);

/* The counts as a table (markdown when @p md). */
void cv_print(const cv_config *cfg, const cv_result *r, FILE *out, int md);

/* Counts that break libmq's promise: unexplained losses and QoS 2
 * duplicates and reordering on the subscriber side (the subscribers are
 * libmq) and, for the publishers whose lib is "libmq", on the publisher
 * side; corrupt payloads anywhere. */
long cv_libmq_failures(const cv_config *cfg, const cv_result *r);

#endif
