/*
 * inack.h - acknowledging an inbound QoS 1/2 message only after the
 * application is done with it (docs/decisions.md, "Acknowledge after the
 * application took the message").
 *
 * Each MESSAGE event of QoS 1/2 carries an mqi_inack; the session keeps
 * the same one in its arrival-order queue. Freeing the event
 * (mq_event_free, also after a callback of mq_loop*()/mq_loop_start or a
 * binding's dispatch) marks it done and wakes the worker through the
 * client's ack channel; the worker (session.c, mqi_session_acks) then sends
 * PUBACK/PUBREC for the done ones at the head of the queue, in arrival
 * order. When the connection is idle the freeing thread sends them itself
 * instead (conn.c, "direct writes": mqi_conn_direct_acks). An event freed without being taken (the client destroyed with
 * it still queued) releases its mark without acknowledging: the broker
 * sends the message again to the next connection of the session.
 *
 * The ack channel outlives the client while events hold marks: events
 * may be freed after mq_client_destroy, from any thread.
 *
 * Threading: mqi_inack_release and mqi_inack_unref on any thread; the
 * rest on the client's worker thread (mqi_ackch_new on it too).
 */
#ifndef MQI_INACK_H
#define MQI_INACK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct mq_client;

typedef struct mqi_ackch mqi_ackch;

typedef struct mqi_inack {
    struct mqi_inack *next;     /* the session's queue (worker) */
    mqi_ackch *ch;              /* one reference held */
    atomic_int refs;            /* the session's queue and the event */
    atomic_bool done;           /* the application freed the event */
    uint16_t pid;
    uint8_t qos;
    unsigned epoch;             /* the session it belongs to
                                   (mqi_session.epoch) */
    unsigned conn;              /* the connection it arrived on
                                   (mqi_session.conn) */
} mqi_inack;

/* The channel of client @p c (worker), or NULL without memory. */
mqi_ackch *mqi_ackch_new(struct mq_client *c);
/* The worker lets go of the client (destroy): no more wakeups through
 * the channel; its reference is dropped. NULL is a no-op. */
void mqi_ackch_detach(mqi_ackch *ch);
/* Worker: were marks released since the last call? (clears the flag) */
bool mqi_ackch_due(mqi_ackch *ch);

/* A mark for inbound @p qos / @p pid with two references (the session's
 * queue and the event), or NULL without memory. @p ch may be NULL (unit
 * tests: no wakeup). */
mqi_inack *mqi_inack_new(mqi_ackch *ch, int qos, uint16_t pid,
                         unsigned epoch);
/* The event's side is done: @p taken (the application had the event, so
 * acknowledge) or not (forgotten: no acknowledgement); drops the event's
 * reference and wakes the worker when needed. Any thread. */
void mqi_inack_release(mqi_inack *a, bool taken);
/* Drop one reference (the session's side). Any thread. */
void mqi_inack_unref(mqi_inack *a);

#endif
