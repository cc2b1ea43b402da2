/*
 * session.h - the MQTT session as a state machine without I/O: packet ids,
 * the inflight window (Receive Maximum / MQ_OPT_MAX_INFLIGHT), the QoS 1
 * and QoS 2 flows both ways, resend with DUP after a reconnect, requeue
 * after a lost session, the QoS 2 de-duplication of inbound messages and
 * the inbound Topic Aliases.
 *
 * It takes decoded packets and the commands of the application and says
 * what follows as a sequence of actions handed, in order, to a sink the
 * caller gives: write this packet, complete this message with this error
 * (its event), update this store record, report this protocol error. It
 * never touches a socket, a thread, the clock or the event queue: the
 * worker (worker.c) turns the actions into bytes and events, and
 * tests/unit/test_session.c drives every flow with a recording sink.
 *
 * Ownership: messages on the session's lists belong to the session; a
 * message named by MQI_ACT_COMPLETE or MQI_ACT_FAIL_SUB leaves it and
 * belongs to the sink, which must free it (the worker posts its event,
 * drops its store record and frees it). After an MQI_ACT_PROTOCOL_ERROR
 * or MQI_ACT_NOMEM (always the last action of a transition) the caller
 * closes the connection; the session itself stays consistent.
 *
 * Threading: none; a session belongs to one client on its worker thread.
 */
#ifndef MQI_SESSION_H
#define MQI_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "check.h"
#include "codec.h"
#include "inack.h"
#include "msg.h"

/* What a transition asks of its caller. */
enum {
    MQI_ACT_SEND_PUBLISH = 1, /* m, dup: write the PUBLISH of m */
    MQI_ACT_SEND_ACK,         /* type, pid, reason: write PUBACK/PUBREC/
                                 PUBREL/PUBCOMP */
    MQI_ACT_SEND_SUB,         /* m: write its SUBSCRIBE/UNSUBSCRIBE */
    MQI_ACT_COMPLETE,         /* m, err, reason: a PUBLISH is finished */
    MQI_ACT_FAIL_SUB,         /* m, err, reason: a SUBSCRIBE/UNSUBSCRIBE
                                 ends without a usable answer */
    MQI_ACT_STORE,            /* m->seq, st, pid: update its store record
                                 (MQI_ST_*) */
    MQI_ACT_STORE_IN,         /* pid, st: persist inbound QoS 2 state: st 1
                                 the id awaits PUBREL (before its PUBREC
                                 goes out), st 0 it is done (after PUBCOMP);
                                 pid 0 with st 0: forget all of them */
    MQI_ACT_LOG,              /* level, text */
    MQI_ACT_PROTOCOL_ERROR,   /* err, reason, text: close the connection
                                 (DISCONNECT with reason in v5) */
    MQI_ACT_NOMEM             /* out of memory for something the protocol
                                 needs: close the connection with
                                 MQ_ERR_NOMEM (nothing was acknowledged, so
                                 the broker sends it again) */
};

typedef struct mqi_act {
    int kind;          /* MQI_ACT_* */
    mqi_msg *m;
    bool dup;
    uint8_t type;      /* SEND_ACK: MQI_PUBACK ... */
    uint16_t pid;
    uint8_t reason;    /* reason code for the packet or the event */
    int err;           /* MQ_OK or MQ_ERR_* */
    int st;            /* STORE: MQI_ST_* */
    int level;         /* LOG: MQ_LOG_* */
    const char *text;  /* LOG, PROTOCOL_ERROR: valid during the call */
} mqi_act;

typedef void (*mqi_act_sink)(void *ud, const mqi_act *a);

typedef struct mqi_session {
    /* one per client, so its fields go by size with no padding; the
     * counts below are bounded by 65535 packet ids (issue 20 item 3) */
    mqi_list pending;       /* publishes waiting for the window */
    mqi_list ctrl_pending;  /* SUBSCRIBE/UNSUBSCRIBE/AUTH to send */
    mqi_list inflight;      /* sent, waiting for acks (send order) */
    mqi_msg **pid_slots;    /* packet id -> message, size pid_mask+1 */
    uint8_t *qos2_in;       /* inbound QoS 2 ids: two bitmaps of 65536,
                               received (delivered or PUBREC sent), then
                               ack pending (delivered, PUBREC not yet) */
    mqi_inack *ack_head;    /* inbound QoS 1/2 delivered, not yet */
    mqi_inack *ack_tail;    /* acknowledged, in arrival order */
    char **aliases;         /* inbound Topic Aliases (v5), nalias slots */
    mqi_act_sink sink;
    void *sink_ud;
    uint32_t pid_mask;
    uint32_t inflight_pub;  /* publishes in flight (<= 65535 ids) */
    uint32_t window;        /* effective inflight limit for publishes */
    uint32_t quota_cap;     /* lower limit learnt from 0x97 Quota
                               exceeded, 0 none (kept across
                               connections; grows back by one per
                               quota_cap completions) */
    uint32_t quota_ok;      /* completions since quota_cap last grew */
    unsigned epoch;         /* bumped when the broker starts a new
                               session: older marks are void */
    unsigned conn;          /* bumped at every CONNACK */
    int proto;              /* MQ_PROTO_* of this connection */
    int nalias;             /* slots in aliases */
    uint16_t next_pid;
} mqi_session;

/* Limits of the connection that decide whether a PUBLISH may be sent. */
typedef struct mqi_send_limits {
    size_t max_packet;      /* ours and the broker's Maximum Packet Size */
    int max_qos;            /* the broker's Maximum QoS */
    bool retain;            /* the broker's Retain Available */
    int alias_max;          /* the broker's Topic Alias Maximum */
    bool alias_auto;        /* MQ_OPT_TOPIC_ALIAS_AUTO on: no explicit */
} mqi_send_limits;

/* Zero a session and give it its sink. */
void mqi_session_init(mqi_session *s, mqi_act_sink sink, void *ud);
/* Free what the session allocated (id table, QoS 2 set, aliases). The
 * lists must be empty: their messages are the caller's to settle. */
void mqi_session_free(mqi_session *s);

/* ---- packet ids ---- */

/* Size the id table for the current window (grows only). MQ_OK or
 * MQ_ERR_NOMEM (the old table stays usable). */
int mqi_session_pid_table(mqi_session *s)
    MQI_MUST_CHECK;
/* Give m the next free packet id (1..65535, wrapping, skipping ids in
 * use). false: none free, or no memory for the table (m waits). */
bool mqi_session_pid_alloc(mqi_session *s, mqi_msg *m)
    MQI_MUST_CHECK;
/* Enter a message whose id is already known (recovered from the store).
 * false: the id is taken, or no memory. */
bool mqi_session_pid_insert(mqi_session *s, mqi_msg *m)
    MQI_MUST_CHECK;
mqi_msg *mqi_session_pid_find(const mqi_session *s, uint16_t pid);
void mqi_session_pid_release(mqi_session *s, mqi_msg *m);

/* ---- outbound ---- */

/* A command from the application: PUBLISH goes to pending (a recovered
 * one with an id straight into flight), SUBSCRIBE/UNSUBSCRIBE/AUTH to
 * ctrl_pending. */
void mqi_session_add(mqi_session *s, mqi_msg *m);

/* The next PUBLISH that may go out now: NULL when none is waiting, the
 * window is full or no packet id is free. Messages the limits refuse are
 * completed on the way (MQI_ACT_COMPLETE). The one returned has left
 * pending with its id and an MQI_ACT_STORE for it was issued; the caller
 * encodes it and then calls mqi_session_sent() (or, when encoding failed,
 * mqi_session_unsent()). */
mqi_msg *mqi_session_next_publish(mqi_session *s,
                                  const mqi_send_limits *lim);
/* m (taken from next_publish or ctrl_pending with an id) was written:
 * QoS 0 leaves the session (the caller completes it); QoS 1/2 and
 * SUBSCRIBE/UNSUBSCRIBE wait for their acknowledgement in flight. */
void mqi_session_sent(mqi_session *s, mqi_msg *m);
/* Encoding m failed with @p err: its id is released and it completes
 * (MQI_ACT_COMPLETE or MQI_ACT_FAIL_SUB with @p reason). */
void mqi_session_unsent(mqi_session *s, mqi_msg *m, int err, uint8_t reason);

/* ---- inbound ---- */

/* PUBACK, PUBREC, PUBREL or PUBCOMP from the broker (MQTT 5 §4.3,
 * 3.1.1 §4.3): the flow's next step, an answer for a repeated or unknown
 * id, or a protocol error for an ack that does not belong to the flow of
 * its id (the message it names completes with MQ_ERR_PROTOCOL). true when
 * a flow moved on (the caller may send more), false when the ack changed
 * nothing (unknown id, a repeat) or ended the connection. */
bool mqi_session_on_ack(mqi_session *s, const mqi_ack *a);

/* SUBACK or UNSUBACK with @p nreasons reason codes: the SUBSCRIBE or
 * UNSUBSCRIBE it answers, taken out of flight (the caller reports it and
 * frees it); NULL when the id is unknown (logged) or the answer is wrong
 * (the request failed, and a protocol error was issued). */
mqi_msg *mqi_session_on_suback(mqi_session *s, uint8_t type,
                               uint16_t pid, size_t nreasons);

/* An inbound PUBLISH of @p qos with @p pid and the DUP flag @p dup:
 * should it be delivered? A QoS 2 id already received (no PUBREL yet)
 * with DUP 1 is a resend: not delivered again, PUBREC again (or, while
 * the application still has the first copy, when it is done with it);
 * with DUP 0 it is a new message from a sender that lost the flow
 * (delivered, with a warning logged). false with MQI_ACT_NOMEM when there
 * is no memory to remember a QoS 2 id. */
bool mqi_session_on_publish(mqi_session *s, int qos, uint16_t pid,
                            bool dup);
/* It was delivered (its event posted). QoS 2: the id is remembered until
 * PUBREL. With @p mark (QoS 1/2: the event's mqi_inack, the session takes
 * its reference) the acknowledgement waits until the application is done
 * with the event (mqi_session_acks); without, it is sent now: PUBACK, or
 * PUBREC after MQI_ACT_STORE_IN. Not called when delivery failed, so the
 * broker redelivers. */
void mqi_session_delivered(mqi_session *s, int qos, uint16_t pid,
                           mqi_inack *mark);
/* Acknowledge the messages the application is done with, in arrival
 * order: from the head of the queue, each done mark gives its PUBACK, or
 * MQI_ACT_STORE_IN then PUBREC, and leaves; a mark not done yet stops the
 * walk (MQTT 5 [MQTT-4.6.0-2], [MQTT-4.6.0-3]: PUBACK and PUBREC in the
 * order the PUBLISH packets arrived). A PUBACK goes only on the
 * connection the PUBLISH came on: on a later one the broker resends it
 * (QoS 1 may arrive twice), and after a broker restart from an older
 * save the id may name another message, which a stale PUBACK would
 * complete unseen. A QoS 2 id stays ours until PUBREL, so its PUBREC
 * goes on any connection of the same session (@p up false: it waits for
 * the next one); marks of an older session leave without an answer. */
void mqi_session_acks(mqi_session *s, bool up);
/* An inbound QoS 2 id awaiting PUBREL from an earlier process (the
 * store's INQ2 records), before the first CONNACK. false: no memory. */
bool mqi_session_qos2_in_restore(mqi_session *s, uint16_t pid)
    MQI_MUST_CHECK;

/* The topic of an inbound PUBLISH, @p topic and @p tlen (may be empty
 * with an alias), with Topic Alias @p alias when @p has_alias: a new mapping is
 * learnt, an empty topic replaced by its mapping (valid until the next
 * call). false after a protocol error was issued: alias 0 or over our
 * maximum, unknown alias, no topic at all. */
bool mqi_session_in_topic(mqi_session *s, bool has_alias, uint32_t alias,
                          const uint8_t **topic, size_t *tlen);
/* Size the inbound alias table (our MQ_OPT_TOPIC_ALIAS_MAXIMUM) for the
 * next connections; 0 none. */
void mqi_session_in_alias_max(mqi_session *s, int n);

/* ---- connections ---- */

/* A CONNACK 0 arrived (after the caller set window and proto). With
 * @p session_present the broker kept the session: every message in flight
 * is sent again with its id (PUBLISH with DUP, PUBREL, SUBSCRIBE) in
 * order. Without it everything in flight goes back to the front of its
 * queue in order, without id, to be sent again as new (MQTT-4.4.0-1 does
 * not apply to a new session), PUBREL records go back to PUBLISH, and
 * libmq's own resubscribes (token 0) are dropped: the caller queues new
 * ones. Inbound aliases are forgotten either way. */
void mqi_session_on_connack(mqi_session *s, bool session_present);

/* Anything left to deliver (queued or in flight)? */
bool mqi_session_busy(const mqi_session *s);

#endif
