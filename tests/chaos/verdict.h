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
 * corrupt (a message taken with a payload that does not start with the
 * "NAME|SEQ|" of its topic; the receive log gives its length; the broker
 * logs the length of every PUBLISH it received and sent):
 *   by subscriber the broker sent it to that subscriber, never with the
 *                 length the subscriber's application got: libmq's
 *                 subscriber changed it
 *   by publisher  the broker received it from the publisher with the
 *                 length the subscriber got and sent it so, and that
 *                 PUBLISH was not this message's: no incarnation of the
 *                 publisher makes a payload of that length for it
 *                 (chaos_child.h), or its QoS is not the one of its SEQ,
 *                 or it was a DUP resend with a packet id that the same
 *                 publisher process had sent with another message (a DUP
 *                 PUBLISH re-delivers the same message, MQTT 3.1.1
 *                 3.3.1.1): the publisher's library built it from
 *                 something else (libmq's only for libmq publishers)
 *   by broker     the broker sent it with the length the subscriber got
 *                 but never received it with that length
 *   unexplained   anything else (e.g. the right length with wrong content,
 *                 which the broker log cannot tell apart; or a receive log
 *                 without lengths): counted as libmq's
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

#include "chaos_child.h"

#define CV_MAX_PUBS 8
#define CV_MAX_SUBS 8
#define CV_FIRST 4      /* unexplained seqs and corrupt receptions listed */

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

enum { CV_CORR_PUB, CV_CORR_BROKER, CV_CORR_SUB, CV_CORR_UNEXPL, CV_CORR_KINDS };

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
    int max_size;          /* largest payload of the run (chaos --max-size);
                              0: unknown, no length is implausible */
} cv_config;

/* A corrupt reception, as the receive log shows it. */
typedef struct cv_corrupt {
    long seq;
    int sub;               /* index in cv_config.subs */
    int kind;              /* CV_CORR_* */
    long len;              /* payload bytes, -1 if the log does not say */
    char prefix[4 * CC_LOG_PREFIX + 1]; /* its first bytes, sanitized as
                                           in the receive log */
} cv_corrupt;

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
    long corr[CV_CORR_KINDS];    /* ... whose, per message: the most
                                    libmq's of its corrupt receptions */
    long kills;                  /* publisher processes killed */
    long foreign;                /* PUBLISH packets the broker received from
                                    this publisher's client with a topic
                                    that is not chaos/NAME/SEQ of it */
    long malformed;              /* its connections the broker closed for a
                                    malformed packet */
    long left;                   /* not completed when the last publisher
                                    process stopped ("# drained"), -1 if it
                                    never said */
    long first_unexpl[CV_FIRST]; /* a few seqs behind unexplained counts */
    int nfirst_unexpl;
    cv_corrupt first_corrupt[CV_FIRST]; /* the first corrupt receptions */
    int nfirst_corrupt;
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
 * duplicates, reordering and corrupt payloads on the subscriber side (the
 * subscribers are libmq), unexplained corrupt payloads, and, for the
 * publishers whose lib is "libmq", on the publisher side. */
long cv_libmq_failures(const cv_config *cfg, const cv_result *r);

#endif
