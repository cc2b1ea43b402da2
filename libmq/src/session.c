/*
 * session.c - the MQTT session state machine (see session.h): every
 * transition of an outbound or inbound QoS flow is in this file, and each
 * says what follows through the sink as an ordered list of actions.
 *
 * Outbound message states (mqi_msg.state) and what moves them:
 *
 *   QUEUED --next_publish/sent--> WAIT_ACK  (QoS 1)  --PUBACK--> done
 *   QUEUED --next_publish/sent--> WAIT_REC  (QoS 2)  --PUBREC--> WAIT_COMP
 *                                 (store: PUBREL; write PUBREL)
 *   WAIT_COMP --PUBCOMP--> done
 *   WAIT_REC --PUBREC >= 0x80--> done (refused)
 *   SUBSCRIBE/UNSUBSCRIBE: QUEUED --sent--> WAIT_ACK --SUBACK/UNSUBACK-->
 *                          done (on_suback hands it back)
 *   any in flight --CONNACK, session present--> same state, sent again
 *                 --CONNACK, no session--> QUEUED at the front, no id
 *
 * An acknowledgement of the wrong kind for its id (PUBACK for QoS 2,
 * PUBREC for QoS 1, PUBCOMP before PUBREC, SUBACK for a PUBLISH...) is a
 * protocol error: the message it names completes with MQ_ERR_PROTOCOL.
 * One for an id not in flight is logged and ignored (as libmosquitto and
 * Paho do), except PUBREC, answered by PUBREL "Packet Identifier not
 * found", and PUBREL, always answered by PUBCOMP.
 *
 * Inbound: QoS 1 and 2 are acknowledged after the application is done
 * with the message (mqi_session_acks, in arrival order); QoS 2 is delivered once
 * (method B: the id is remembered from PUBREC to PUBREL, and a PUBLISH
 * with that id and DUP 1 meanwhile is only answered with PUBREC again;
 * one with DUP 0 is a new message, see qos2_resend).
 *
 * Threading: none (the owning client's worker thread). No I/O, no clock.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "props.h"
#include "session.h"
#include "store.h"

/* ---- actions ------------------------------------------------------------ */

static void
emit(mqi_session *s, mqi_act *a)
{
    s->sink(s->sink_ud, a);
}

static void
act_send_ack(mqi_session *s, uint8_t type, uint16_t pid, uint8_t reason)
{
    mqi_act a;

    memset(&a, 0, sizeof a);
    a.kind = MQI_ACT_SEND_ACK;
    a.type = type;
    a.pid = pid;
    a.reason = reason;
    emit(s, &a);
}

static void
act_msg(mqi_session *s, int kind, mqi_msg *m, int err, uint8_t reason)
{
    mqi_act a;

    memset(&a, 0, sizeof a);
    a.kind = kind;
    a.m = m;
    a.err = err;
    a.reason = reason;
    a.pid = m->packet_id;
    emit(s, &a);
}

/* A message leaves the session finished: COMPLETE for a PUBLISH, FAIL_SUB
 * for a SUBSCRIBE/UNSUBSCRIBE. */
static void
act_finish(mqi_session *s, mqi_msg *m, int err, uint8_t reason)
{
    act_msg(s, m->kind == MQI_CMD_PUBLISH ? MQI_ACT_COMPLETE
                                          : MQI_ACT_FAIL_SUB,
            m, err, reason);
}

static void
act_store(mqi_session *s, mqi_msg *m, int st, uint16_t pid)
{
    mqi_act a;

    if (m->seq == 0)
        return; /* not persisted */
    memset(&a, 0, sizeof a);
    a.kind = MQI_ACT_STORE;
    a.m = m;
    a.st = st;
    a.pid = pid;
    emit(s, &a);
}

static void
act_store_in(mqi_session *s, uint16_t pid, bool on)
{
    mqi_act a;

    memset(&a, 0, sizeof a);
    a.kind = MQI_ACT_STORE_IN;
    a.pid = pid;
    a.st = on ? 1 : 0;
    emit(s, &a);
}

static void
act_text(mqi_session *s, int kind, int level, int err, uint8_t reason,
         const char *text)
{
    mqi_act a;

    memset(&a, 0, sizeof a);
    a.kind = kind;
    a.level = level;
    a.err = err;
    a.reason = reason;
    a.text = text;
    emit(s, &a);
}

/* ---- setup -------------------------------------------------------------- */

void
mqi_session_init(mqi_session *s, mqi_act_sink sink, void *ud)
{
    memset(s, 0, sizeof *s);
    s->sink = sink;
    s->sink_ud = ud;
}

static void
aliases_clear(mqi_session *s)
{
    int i;

    if (s->aliases == NULL)
        return;
    for (i = 0; i < s->nalias; i++) {
        free(s->aliases[i]);
        s->aliases[i] = NULL;
    }
}

static void
acks_drop(mqi_session *s)
{
    while (s->ack_head != NULL) {
        mqi_inack *a = s->ack_head;
        s->ack_head = a->next;
        mqi_inack_unref(a);
    }
    s->ack_tail = NULL;
}

void
mqi_session_free(mqi_session *s)
{
    acks_drop(s);
    free(s->pid_slots);
    s->pid_slots = NULL;
    s->pid_mask = 0;
    free(s->qos2_in);
    s->qos2_in = NULL;
    aliases_clear(s);
    free(s->aliases);
    s->aliases = NULL;
    s->nalias = 0;
}

/* ---- packet ids --------------------------------------------------------- */

/* The table maps id & mask to the message holding it: twice the window
 * plus some, so a free slot is near; a collision when allocating just
 * tries the next id. */
int
mqi_session_pid_table(mqi_session *s)
{
    uint32_t want = 64, need = (uint32_t)s->window * 2 + 64;

    while (want < need && want < 65536)
        want <<= 1;
    if (s->pid_slots != NULL && s->pid_mask + 1 >= want)
        return MQ_OK;
    if (s->pid_slots != NULL) {
        /* grow: rehash live entries */
        mqi_msg **ns = calloc(want, sizeof *ns);
        uint32_t i;
        if (ns == NULL)
            return MQ_ERR_NOMEM;
        for (i = 0; i <= s->pid_mask; i++)
            if (s->pid_slots[i] != NULL) {
                mqi_msg *m = s->pid_slots[i];
                if (ns[m->packet_id & (want - 1)] != NULL) {
                    free(ns);
                    return MQ_OK; /* keep the old table */
                }
                ns[m->packet_id & (want - 1)] = m;
            }
        free(s->pid_slots);
        s->pid_slots = ns;
        s->pid_mask = want - 1;
        return MQ_OK;
    }
    s->pid_slots = calloc(want, sizeof *s->pid_slots);
    if (s->pid_slots == NULL)
        return MQ_ERR_NOMEM;
    s->pid_mask = want - 1;
    return MQ_OK;
}

bool
mqi_session_pid_alloc(mqi_session *s, mqi_msg *m)
{
    uint32_t tries;

    if (s->pid_slots == NULL && mqi_session_pid_table(s) != MQ_OK)
        return false;
    for (tries = 0; tries <= s->pid_mask + 1; tries++) {
        uint16_t pid = ++s->next_pid;
        if (pid == 0)
            pid = s->next_pid = 1;
        if (s->pid_slots[pid & s->pid_mask] == NULL) {
            s->pid_slots[pid & s->pid_mask] = m;
            m->packet_id = pid;
            return true;
        }
    }
    return false;
}

/* A collision grows the table to one slot per id. */
bool
mqi_session_pid_insert(mqi_session *s, mqi_msg *m)
{
    uint32_t i;

    if (s->pid_slots == NULL && mqi_session_pid_table(s) != MQ_OK)
        return false;
    if (s->pid_slots[m->packet_id & s->pid_mask] != NULL &&
        s->pid_mask != 0xffff) {
        mqi_msg **ns = calloc(65536, sizeof *ns);
        if (ns == NULL)
            return false;
        for (i = 0; i <= s->pid_mask; i++)
            if (s->pid_slots[i] != NULL)
                ns[s->pid_slots[i]->packet_id] = s->pid_slots[i];
        free(s->pid_slots);
        s->pid_slots = ns;
        s->pid_mask = 0xffff;
    }
    if (s->pid_slots[m->packet_id & s->pid_mask] != NULL)
        return false; /* the same id twice in the store */
    s->pid_slots[m->packet_id & s->pid_mask] = m;
    return true;
}

mqi_msg *
mqi_session_pid_find(const mqi_session *s, uint16_t pid)
{
    mqi_msg *m;

    if (s->pid_slots == NULL || pid == 0)
        return NULL;
    m = s->pid_slots[pid & s->pid_mask];
    return (m != NULL && m->packet_id == pid) ? m : NULL;
}

void
mqi_session_pid_release(mqi_session *s, mqi_msg *m)
{
    if (s->pid_slots != NULL && m->packet_id != 0 &&
        s->pid_slots[m->packet_id & s->pid_mask] == m)
        s->pid_slots[m->packet_id & s->pid_mask] = NULL;
}

/* ---- outbound ----------------------------------------------------------- */

void
mqi_session_add(mqi_session *s, mqi_msg *m)
{
    if (m->kind != MQI_CMD_PUBLISH) {
        mqi_list_push(&s->ctrl_pending, m);
        return;
    }
    if (m->recovered && m->packet_id != 0 && mqi_session_pid_insert(s, m)) {
        /* sent by an earlier process: in flight until acknowledged */
        mqi_list_push(&s->inflight, m);
        s->inflight_pub++;
        return;
    }
    if (m->recovered) {
        m->packet_id = 0;
        m->state = MQI_MS_QUEUED;
    }
    mqi_list_push(&s->pending, m);
}

/* Whether the connection's limits let m go out; else the error and reason
 * it completes with. Only MQTT 5 brokers state limits. */
static int
refusal(const mqi_session *s, const mqi_msg *m, const mqi_send_limits *lim,
        uint8_t *reason)
{
    size_t wire;

    if (s->proto != MQ_PROTO_V5)
        return MQ_OK;
    wire = mqi_publish_wire_size(s->proto, m->topic_len, m->payload_len,
                                 mqi_props_len(m->props), m->qos);
    if (wire > lim->max_packet) {
        *reason = MQ_RC_PACKET_TOO_LARGE;
        return MQ_ERR_TOO_LARGE;
    }
    /* an explicit alias the broker does not allow (its Topic Alias Maximum
     * was not known when mq_publish_v5 accepted it) */
    if (m->alias != 0 && !lim->alias_auto && m->alias > lim->alias_max) {
        *reason = MQ_RC_TOPIC_ALIAS_INVALID;
        return MQ_ERR_PROPERTY;
    }
    if (m->qos > lim->max_qos) {
        *reason = MQ_RC_QOS_NOT_SUPPORTED;
        return MQ_ERR_REFUSED;
    }
    if (m->retain && !lim->retain) {
        *reason = MQ_RC_RETAIN_NOT_SUPPORTED;
        return MQ_ERR_REFUSED;
    }
    return MQ_OK;
}

mqi_msg *
mqi_session_next_publish(mqi_session *s, const mqi_send_limits *lim)
{
    mqi_msg *m;

    while ((m = s->pending.head) != NULL) {
        uint8_t reason = 0;
        int err;

        if (m->qos > 0 && (s->inflight_pub >= s->window ||
                           (s->quota_cap != 0 &&
                            s->inflight_pub >= s->quota_cap)))
            return NULL; /* the window is full: wait for an ack */
        err = refusal(s, m, lim, &reason);
        if (err != MQ_OK) {
            mqi_list_remove(&s->pending, m);
            act_finish(s, m, err, reason);
            continue;
        }
        if (m->qos > 0 && !mqi_session_pid_alloc(s, m))
            return NULL;
        /* the id is stored before the PUBLISH can reach the wire, so a
         * restarted process resends it with the same id (exactly once) */
        act_store(s, m, MQI_ST_PUBLISH, m->packet_id);
        mqi_list_remove(&s->pending, m);
        return m;
    }
    return NULL;
}

void
mqi_session_sent(mqi_session *s, mqi_msg *m)
{
    if (m->kind == MQI_CMD_PUBLISH) {
        if (m->qos == 0)
            return; /* finished: the caller completes it */
        m->state = m->qos == 1 ? MQI_MS_WAIT_ACK : MQI_MS_WAIT_REC;
        s->inflight_pub++;
    } else {
        m->state = MQI_MS_WAIT_ACK;
    }
    mqi_list_push(&s->inflight, m);
}

void
mqi_session_unsent(mqi_session *s, mqi_msg *m, int err, uint8_t reason)
{
    mqi_session_pid_release(s, m);
    act_finish(s, m, err, reason);
}

/* ---- inbound acknowledgements ------------------------------------------ */

/* m leaves the flight window finished. */
static void
finish_inflight(mqi_session *s, mqi_msg *m, int err, uint8_t reason)
{
    mqi_list_remove(&s->inflight, m);
    mqi_session_pid_release(s, m);
    if (m->kind == MQI_CMD_PUBLISH)
        s->inflight_pub--;
    act_finish(s, m, err, reason);
}

/* What a packet id in flight is waiting for, for messages. */
static const char *
flow_name(const mqi_msg *m)
{
    if (m->kind == MQI_CMD_SUBSCRIBE)
        return "SUBSCRIBE";
    if (m->kind == MQI_CMD_UNSUBSCRIBE)
        return "UNSUBSCRIBE";
    return m->qos == 1 ? "QoS 1 PUBLISH"
           : m->state == MQI_MS_WAIT_COMP ? "QoS 2 PUBLISH after PUBREC"
                                          : "QoS 2 PUBLISH";
}

/* The broker answered packet id m->packet_id with a packet that does not
 * belong to the flow the id is in (MQTT 5 §4.3 and §4.13: a protocol
 * error; 3.1.1 §4.3 and §4.8: close the connection). The message it names
 * ends here with MQ_ERR_PROTOCOL and is not resent: the broker may or may
 * not have taken it, and would answer a resend the same way. The rest of
 * the session is kept as after any connection loss. */
static void
ack_mismatch(mqi_session *s, mqi_msg *m, const char *got)
{
    char msg[120];

    snprintf(msg, sizeof msg, "%s for packet id %u, which is a %s", got,
             (unsigned)m->packet_id, flow_name(m));
    finish_inflight(s, m, MQ_ERR_PROTOCOL, MQ_RC_PROTOCOL_ERROR);
    act_text(s, MQI_ACT_PROTOCOL_ERROR, 0, MQ_ERR_PROTOCOL,
             MQ_RC_PROTOCOL_ERROR, msg);
}

/* An acknowledgement for an id not in flight at all: logged and ignored.
 * MQTT 5 gives no reason code for it except in PUBREL/PUBCOMP, and a late
 * duplicate (the answer to a resend the broker had already acknowledged)
 * is harmless. */
static void
ack_unknown(mqi_session *s, const char *what, uint16_t pid)
{
    char msg[80];

    snprintf(msg, sizeof msg, "%s for unknown packet id %u: ignored", what,
             (unsigned)pid);
    act_text(s, MQI_ACT_LOG, MQ_LOG_WARNING, MQ_OK, 0, msg);
}

#define QOS2_SET 8192u /* bytes of one bitmap of 65536 ids */

static bool
qos2_bit(const mqi_session *s, unsigned set, uint16_t pid)
{
    return s->qos2_in != NULL &&
           (s->qos2_in[set * QOS2_SET + (pid >> 3)] & (1u << (pid & 7)));
}

static bool
qos2_seen(const mqi_session *s, uint16_t pid)
{
    return qos2_bit(s, 0, pid);
}

/* Delivered, its PUBREC waits for the application. */
static bool
qos2_pending(const mqi_session *s, uint16_t pid)
{
    return qos2_bit(s, 1, pid);
}

/* The sets are 16 KiB, allocated once per session (by on_publish before
 * the first QoS 2 delivery, so marking never fails). set 0: received,
 * set 1: ack pending. */
static void
qos2_set(mqi_session *s, unsigned set, uint16_t pid, bool on)
{
    uint8_t *b;

    if (s->qos2_in == NULL) {
        if (!on)
            return;
        s->qos2_in = calloc(2 * QOS2_SET, 1);
        if (s->qos2_in == NULL)
            return;
    }
    b = &s->qos2_in[set * QOS2_SET + (pid >> 3)];
    if (on)
        *b |= (uint8_t)(1u << (pid & 7));
    else
        *b &= (uint8_t)~(1u << (pid & 7));
}

static void
qos2_mark(mqi_session *s, uint16_t pid, bool on)
{
    qos2_set(s, 0, pid, on);
    if (!on)
        qos2_set(s, 1, pid, false);
}

/* A PUBACK/PUBREC 0x97 Quota exceeded: the broker takes fewer messages
 * in flight than its Receive Maximum said (mosquitto counts flows it
 * still holds from earlier connections, even ones no client will
 * finish). Sending up to the window again would only be refused again
 * (and mosquitto closes the connection each time), so the window halves,
 * from what was in flight, down to 1, and stays so across reconnects;
 * it grows back by one message per window's worth of completions. The
 * refused message itself completes with MQ_ERR_REFUSED as before. */
static void
quota_exceeded(mqi_session *s)
{
    size_t base = s->quota_cap != 0 && s->quota_cap < s->inflight_pub
                      ? s->quota_cap : s->inflight_pub;
    char msg[100];

    s->quota_cap = base / 2 > 0 ? base / 2 : 1;
    s->quota_ok = 0;
    snprintf(msg, sizeof msg, "broker quota exceeded (0x97): in-flight "
             "window now %u", (unsigned)s->quota_cap);
    act_text(s, MQI_ACT_LOG, MQ_LOG_WARNING, MQ_OK, 0, msg);
}

/* A flow completed with success: the learnt quota may grow again. */
static void
quota_ok(mqi_session *s)
{
    if (s->quota_cap == 0 || ++s->quota_ok < s->quota_cap)
        return;
    s->quota_ok = 0;
    if (++s->quota_cap >= s->window)
        s->quota_cap = 0; /* back to the broker's own limit */
}

bool
mqi_session_on_ack(mqi_session *s, const mqi_ack *a)
{
    mqi_msg *m = mqi_session_pid_find(s, a->packet_id);
    int err = a->reason >= 0x80 ? MQ_ERR_REFUSED : MQ_OK;
    bool pub = m != NULL && m->kind == MQI_CMD_PUBLISH;

    switch (a->type) {
    case MQI_PUBACK:
        if (m == NULL) {
            ack_unknown(s, "PUBACK", a->packet_id);
            return false;
        }
        if (!pub || m->qos != 1) {
            ack_mismatch(s, m, "PUBACK");
            return false;
        }
        if (a->reason == MQ_RC_QUOTA_EXCEEDED)
            quota_exceeded(s);
        else if (err == MQ_OK)
            quota_ok(s);
        finish_inflight(s, m, err, a->reason);
        return true;
    case MQI_PUBREC:
        if (m == NULL) {
            /* MQTT 5 §3.6.2.1: PUBREL "Packet Identifier not found" */
            act_send_ack(s, MQI_PUBREL, a->packet_id,
                         MQ_RC_PACKET_IDENTIFIER_NOT_FOUND);
            return false;
        }
        if (!pub || m->qos != 2) {
            ack_mismatch(s, m, "PUBREC");
            return false;
        }
        if (m->state == MQI_MS_WAIT_COMP) {
            /* a repeated PUBREC: our PUBREL again */
            act_send_ack(s, MQI_PUBREL, a->packet_id, 0);
            return false;
        }
        if (err != MQ_OK) {
            if (a->reason == MQ_RC_QUOTA_EXCEEDED)
                quota_exceeded(s);
            finish_inflight(s, m, err, a->reason);
            return true;
        }
        m->state = MQI_MS_WAIT_COMP;
        act_store(s, m, MQI_ST_PUBREL, m->packet_id);
        act_send_ack(s, MQI_PUBREL, a->packet_id, 0);
        return true;
    case MQI_PUBREL: {
        /* inbound QoS 2: PUBCOMP in any case (MQTT 5 §4.3.3), with
         * "Packet Identifier not found" for an id we never PUBREC'd
         * (§3.7.2.1; a v3.1.1 PUBCOMP has no reason code) */
        bool seen = qos2_seen(s, a->packet_id);
        act_send_ack(s, MQI_PUBCOMP, a->packet_id,
                     seen ? 0 : MQ_RC_PACKET_IDENTIFIER_NOT_FOUND);
        if (seen) {
            qos2_mark(s, a->packet_id, false);
            act_store_in(s, a->packet_id, false);
        }
        return true;
    }
    case MQI_PUBCOMP:
        if (m == NULL) {
            ack_unknown(s, "PUBCOMP", a->packet_id);
            return false;
        }
        if (!pub || m->qos != 2 || m->state != MQI_MS_WAIT_COMP) {
            ack_mismatch(s, m, "PUBCOMP");
            return false;
        }
        if (err == MQ_OK)
            quota_ok(s);
        finish_inflight(s, m, err, a->reason);
        return true;
    default:
        return false;
    }
}

mqi_msg *
mqi_session_on_suback(mqi_session *s, uint8_t type, uint16_t pid,
                      size_t nreasons)
{
    mqi_msg *m = mqi_session_pid_find(s, pid);
    uint8_t want = type == MQI_SUBACK ? MQI_CMD_SUBSCRIBE
                                      : MQI_CMD_UNSUBSCRIBE;
    const char *what = type == MQI_SUBACK ? "SUBACK" : "UNSUBACK";

    if (m == NULL) {
        ack_unknown(s, what, pid);
        return NULL;
    }
    if (m->kind != want) {
        ack_mismatch(s, m, what);
        return NULL;
    }
    /* one reason code per filter (MQTT 5 §3.9.3, §3.11.3; 3.1.1 §3.9.3;
     * a 3.1.1 UNSUBACK has none) */
    if ((type == MQI_SUBACK || s->proto == MQ_PROTO_V5) &&
        nreasons != m->count) {
        finish_inflight(s, m, MQ_ERR_PROTOCOL, MQ_RC_PROTOCOL_ERROR);
        act_text(s, MQI_ACT_PROTOCOL_ERROR, 0, MQ_ERR_PROTOCOL,
                 MQ_RC_PROTOCOL_ERROR,
                 "acknowledgement count does not match the request");
        return NULL;
    }
    mqi_list_remove(&s->inflight, m);
    mqi_session_pid_release(s, m);
    return m;
}

/* ---- inbound PUBLISH ---------------------------------------------------- */

/* A QoS 2 PUBLISH whose id still waits for its PUBREL.
 *
 * MQTT 5 §4.3.3 [MQTT-4.3.3-10] (3.1.1 §4.3.3 says the same): "Until it
 * has received the corresponding PUBREL packet, the receiver MUST
 * acknowledge any subsequent PUBLISH packet with the same Packet
 * Identifier by sending a PUBREC. It MUST NOT cause duplicate messages to
 * be delivered to any onward recipients in this case." And §3.3.1.1
 * [MQTT-3.3.1-1]: "The DUP flag MUST be set to 1 by the Client or Server
 * when it attempts to re-deliver a PUBLISH packet."
 *
 * A resend therefore carries DUP 1. One with DUP 0 is a new message from
 * a sender that lost the flow (a broker restarted from a save older than
 * our PUBREC reuses the id; the chaos soak saw mosquitto do it). Taking
 * it for a resend loses it for certain (the sender completes it on our
 * PUBREC); delivering it can only duplicate a message if the sender
 * resends without DUP, which the rule above forbids. So DUP 0 is
 * delivered as new, with a warning; the id stays remembered (it is
 * PUBREC'd again) and one PUBREL ends both flows. */
static bool
qos2_resend(mqi_session *s, uint16_t pid, bool dup)
{
    char msg[160];

    if (dup)
        return true;
    snprintf(msg, sizeof msg, "QoS 2 PUBLISH with DUP 0 for packet id %u, "
             "which waits for PUBREL: the sender lost that flow; "
             "delivered as a new message", (unsigned)pid);
    act_text(s, MQI_ACT_LOG, MQ_LOG_WARNING, MQ_OK, 0, msg);
    return false;
}

bool
mqi_session_on_publish(mqi_session *s, int qos, uint16_t pid, bool dup)
{
    if (qos == 2 && qos2_seen(s, pid) && qos2_resend(s, pid, dup)) {
        /* a resend of a message we already delivered: PUBREC again, or
         * nothing yet while the application has the first copy (its
         * PUBREC follows when it is done with it) */
        if (!qos2_pending(s, pid))
            act_send_ack(s, MQI_PUBREC, pid, 0);
        return false;
    }
    if (qos == 2 && s->qos2_in == NULL &&
        (s->qos2_in = calloc(2 * QOS2_SET, 1)) == NULL) {
        /* the id could not be remembered: delivering now could deliver a
         * resend twice */
        act_text(s, MQI_ACT_NOMEM, 0, MQ_ERR_NOMEM, 0, "out of memory");
        return false;
    }
    return true;
}

/* The acknowledgement of one inbound message. */
static void
ack_now(mqi_session *s, int qos, uint16_t pid)
{
    if (qos == 1) {
        act_send_ack(s, MQI_PUBACK, pid, 0);
    } else if (qos == 2) {
        qos2_set(s, 1, pid, false);
        act_store_in(s, pid, true);
        act_send_ack(s, MQI_PUBREC, pid, 0);
    }
}

void
mqi_session_delivered(mqi_session *s, int qos, uint16_t pid,
                      mqi_inack *mark)
{
    if (qos == 2)
        qos2_mark(s, pid, true);
    if (qos == 0 || mark == NULL) {
        ack_now(s, qos, pid);
        return;
    }
    if (qos == 2)
        qos2_set(s, 1, pid, true);
    mark->epoch = s->epoch;
    mark->conn = s->conn;
    mark->next = NULL;
    if (s->ack_tail != NULL)
        s->ack_tail->next = mark;
    else
        s->ack_head = mark;
    s->ack_tail = mark;
}

void
mqi_session_acks(mqi_session *s, bool up)
{
    mqi_inack *a;

    while ((a = s->ack_head) != NULL) {
        bool mine = a->qos == 2 ? a->epoch == s->epoch
                                : a->conn == s->conn && up;
        if (!atomic_load(&a->done) || (mine && !up))
            return;
        s->ack_head = a->next;
        if (s->ack_head == NULL)
            s->ack_tail = NULL;
        if (mine)
            ack_now(s, a->qos, a->pid);
        mqi_inack_unref(a);
    }
}

bool
mqi_session_qos2_in_restore(mqi_session *s, uint16_t pid)
{
    qos2_mark(s, pid, true);
    return qos2_seen(s, pid);
}

bool
mqi_session_in_topic(mqi_session *s, bool has_alias, uint32_t alias,
                     const uint8_t **topic, size_t *tlen)
{
    if (has_alias) {
        if (alias == 0 || (int)alias > s->nalias || s->aliases == NULL) {
            act_text(s, MQI_ACT_PROTOCOL_ERROR, 0, MQ_ERR_PROTOCOL,
                     MQ_RC_TOPIC_ALIAS_INVALID, "invalid topic alias");
            return false;
        }
        if (*tlen > 0) {
            /* a new mapping; without memory the old one must not stand
             * for this topic (the next PUBLISH with only the alias would
             * be delivered on the wrong topic) */
            char *d = malloc(*tlen + 1);
            if (d == NULL) {
                act_text(s, MQI_ACT_NOMEM, 0, MQ_ERR_NOMEM, 0,
                         "out of memory");
                return false;
            }
            memcpy(d, *topic, *tlen);
            d[*tlen] = '\0';
            free(s->aliases[alias - 1]);
            s->aliases[alias - 1] = d;
        } else if (s->aliases[alias - 1] == NULL) {
            act_text(s, MQI_ACT_PROTOCOL_ERROR, 0, MQ_ERR_PROTOCOL,
                     MQ_RC_PROTOCOL_ERROR, "unknown topic alias");
            return false;
        } else {
            *topic = (const uint8_t *)s->aliases[alias - 1];
            *tlen = strlen(s->aliases[alias - 1]);
        }
    }
    if (*tlen == 0) {
        act_text(s, MQI_ACT_PROTOCOL_ERROR, 0, MQ_ERR_PROTOCOL,
                 MQ_RC_PROTOCOL_ERROR, "PUBLISH without topic");
        return false;
    }
    return true;
}

void
mqi_session_in_alias_max(mqi_session *s, int n)
{
    aliases_clear(s);
    free(s->aliases);
    s->aliases = NULL;
    s->nalias = 0;
    if (n > 0) {
        s->aliases = calloc((size_t)n, sizeof(char *));
        s->nalias = s->aliases != NULL ? n : 0;
    }
}

/* ---- connections -------------------------------------------------------- */

void
mqi_session_on_connack(mqi_session *s, bool session_present)
{
    mqi_msg *m, *prev;

    aliases_clear(s); /* a mapping never outlives its connection */
    s->conn++;
    if (!session_present) {
        s->epoch++; /* marks of the old session get no answer */
        if (s->qos2_in != NULL)
            act_store_in(s, 0, false); /* the broker has no such flows */
        free(s->qos2_in);
        s->qos2_in = NULL;
        /* libmq's own resubscribes of an earlier connection: the caller
         * queues new ones */
        for (m = s->ctrl_pending.head; m != NULL; m = prev) {
            prev = m->next;
            if (m->kind == MQI_CMD_SUBSCRIBE && m->token == 0) {
                mqi_list_remove(&s->ctrl_pending, m);
                mqi_msg_free(m);
            }
        }
        /* The broker forgot us: everything unacknowledged is sent again
         * as new (no DUP, new ids), in the original order, so nothing is
         * lost. */
        for (m = s->inflight.tail; m != NULL; m = prev) {
            prev = m->prev;
            mqi_list_remove(&s->inflight, m);
            mqi_session_pid_release(s, m);
            if (m->kind == MQI_CMD_SUBSCRIBE && m->token == 0) {
                mqi_msg_free(m);
                continue;
            }
            if (m->state == MQI_MS_WAIT_COMP)
                act_store(s, m, MQI_ST_PUBLISH, 0);
            m->packet_id = 0;
            m->state = MQI_MS_QUEUED;
            if (m->kind == MQI_CMD_PUBLISH)
                mqi_list_push_front(&s->pending, m);
            else
                mqi_list_push_front(&s->ctrl_pending, m);
        }
        s->inflight_pub = 0;
        return;
    }
    /* Session kept: resend with the original ids, DUP set (MQTT 4.4). */
    for (m = s->inflight.head; m != NULL; m = m->next) {
        if (m->kind != MQI_CMD_PUBLISH) {
            act_msg(s, MQI_ACT_SEND_SUB, m, MQ_OK, 0);
        } else if (m->state == MQI_MS_WAIT_COMP) {
            act_send_ack(s, MQI_PUBREL, m->packet_id, 0);
        } else {
            mqi_act a;
            memset(&a, 0, sizeof a);
            a.kind = MQI_ACT_SEND_PUBLISH;
            a.m = m;
            a.dup = true;
            a.pid = m->packet_id;
            emit(s, &a);
        }
    }
}

bool
mqi_session_busy(const mqi_session *s)
{
    return s->pending.n != 0 || s->ctrl_pending.n != 0 || s->inflight.n != 0;
}
