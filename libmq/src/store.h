/*
 * store.h - crash-safe persistence of outbound QoS 1/2 messages (and of
 * the ids of inbound QoS 2 messages awaiting PUBREL): an
 * append-only log per client id in a directory, records with a versioned
 * header and a CRC, acknowledged messages removed (tombstones), compaction
 * when the dead part dominates, recovery that keeps every good record and
 * reports a torn or corrupt tail.
 *
 * Threading: an mqi_store has an internal mutex; mqi_store_add is called on
 * application threads (inside mq_publish, before it returns success),
 * mqi_store_remove also there (freeing the MQ_EVENT_PUBLISHED of a tagged
 * message), the other calls on the worker thread.
 */
#ifndef MQI_STORE_H
#define MQI_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "check.h"

typedef struct mqi_store mqi_store;

enum {
    MQI_SYNC_ALWAYS = 0, /* fsync before mqi_store_add returns */
    MQI_SYNC_BATCH = 1,  /* fsync from mqi_store_tick at most every N ms */
    MQI_SYNC_NONE = 2    /* leave it to the OS (survives kill -9, not power
                            loss) */
};

/* Flow state of a stored message. */
enum {
    MQI_ST_PUBLISH = 0, /* PUBLISH not acknowledged (resend with DUP) */
    MQI_ST_PUBREL = 1   /* QoS 2: PUBREC received, PUBREL to (re)send */
};

typedef struct mqi_store_rec {
    uint64_t seq;        /* assigned by mqi_store_add, increasing */
    uint8_t qos;         /* 1 or 2 */
    uint8_t retain;
    uint8_t state;       /* MQI_ST_* */
    uint16_t packet_id;  /* 0 until sent */
    const char *topic;   /* not NUL-terminated in recovery */
    size_t topic_len;
    const uint8_t *payload;
    size_t payload_len;
    const uint8_t *props; /* encoded MQTT 5 properties, may be empty */
    size_t props_len;
    uint64_t tag;        /* application tag (mq_publish_tagged), 0 none */
} mqi_store_rec;

/* Open (creating if needed) the store for @p client_id in @p dir; the file
 * name is derived from the id safely (any bytes). Takes an exclusive lock
 * (flock) so two live processes cannot share it: MQ_ERR_PERSIST then.
 * MQ_OK, MQ_ERR_PERSIST (with err text), MQ_ERR_NOMEM. */
MQI_MUST_CHECK int mqi_store_open(const char *dir, const char *client_id, int sync_policy,
                   mqi_store **out, char *err, size_t errlen);

/* Replay the live records in append order (state updates applied).
 * Records are valid only during the callback. A torn or corrupt tail is
 * cut off (the file truncated to the last good record) and its size
 * reported in *out_bad_bytes; nothing crashes. The callback returning
 * non-zero stops the replay. MQ_OK or MQ_ERR_PERSIST. Call once, right
 * after open, before any add. */
MQI_MUST_CHECK int mqi_store_recover(mqi_store *s,
                      int (*cb)(void *ud, const mqi_store_rec *r), void *ud,
                      size_t *out_bad_bytes);

/* Append a new message; *out_seq receives its sequence number. With
 * MQI_SYNC_ALWAYS the data is fsynced before return. MQ_OK, MQ_ERR_PERSIST. */
MQI_MUST_CHECK int mqi_store_add(mqi_store *s, const mqi_store_rec *r, uint64_t *out_seq);

/* Record a flow change (packet id assigned / PUBREC received). */
MQI_MUST_CHECK int mqi_store_update(mqi_store *s, uint64_t seq, int state,
                     uint16_t packet_id);

/* The message is acknowledged: forget it (may trigger compaction). */
MQI_MUST_CHECK int mqi_store_remove(mqi_store *s, uint64_t seq);

/* Inbound QoS 2 state (MQTT session state): @p on when our PUBREC for
 * @p packet_id goes out, off when our PUBCOMP did; packet id 0 with
 * @p on false forgets every id (a new session). Under MQI_SYNC_ALWAYS an
 * id set is on disk before return. Setting a set id or clearing a clear
 * one writes nothing. Worker thread. MQ_OK, MQ_ERR_INVAL, MQ_ERR_NOMEM,
 * MQ_ERR_PERSIST. */
MQI_MUST_CHECK int mqi_store_qos2_in(mqi_store *s, uint16_t packet_id,
                                     bool on);
/* The inbound QoS 2 ids set (from the file at open, then as updated),
 * ascending: up to @p max written to @p out; returns how many there are. */
size_t mqi_store_qos2_in_list(mqi_store *s, uint16_t *out, size_t max);

/* Periodic work for MQI_SYNC_BATCH (fsync if dirty and due) and deferred
 * compaction. @p now_ms monotonic. Returns ms until it wants to run again
 * (or -1 for never). */
int mqi_store_tick(mqi_store *s, int64_t now_ms);

/* Live messages and file size, for tests and bounds. */
size_t mqi_store_live(mqi_store *s);
uint64_t mqi_store_file_size(mqi_store *s);

/* The owner is done: fsync (if needed), close the file (dropping its
 * lock), and drop the owner's reference; NULL is a no-op. Calls on a
 * closed store do nothing and return MQ_ERR_PERSIST. */
void mqi_store_close(mqi_store *s);

/* More holders (events that remove their message when freed): the memory
 * stays until the last reference is dropped; the file closes with
 * mqi_store_close all the same. */
void mqi_store_ref(mqi_store *s);
void mqi_store_unref(mqi_store *s);

#endif
