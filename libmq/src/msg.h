/*
 * msg.h - one command from the API to the worker (mqi_msg), the worker's
 * message lists, and the one place messages are made and freed.
 *
 * A PUBLISH carries its topic and payload inline after the struct: one
 * allocation per message, from the block pool (pool.h) because it is made
 * on the publishing thread and freed on the worker. Every PUBLISH, from
 * mq_publish*() or recovered from the store, is made by
 * mqi_msg_new_publish(); every other command by mqi_msg_new().
 *
 * Threading: a message belongs to one thread at a time (the API thread
 * until pushed, then the worker).
 */
#ifndef MQI_MSG_H
#define MQI_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mq.h"
#include "queue.h"

enum {
    MQI_CMD_PUBLISH = 1,
    MQI_CMD_SUBSCRIBE,
    MQI_CMD_UNSUBSCRIBE,
    MQI_CMD_AUTH,
    MQI_CMD_CONNECT,  /* unused: the CONNECT command is c->connect_node */
    MQI_CMD_DISCONNECT,
    MQI_CMD_RESOLVED, /* a resolver thread finished */
    MQI_CMD_DESTROY,  /* unused: the DESTROY command is c->destroy_node */
    MQI_CMD_WAIT      /* mq_wait(): resolved points at an mqi_waitreq */
};

/* State of an outbound message in the worker. */
enum {
    MQI_MS_QUEUED = 0,    /* waiting to be sent */
    MQI_MS_WAIT_ACK,      /* QoS1 PUBLISH / SUBSCRIBE / UNSUBSCRIBE sent */
    MQI_MS_WAIT_REC,      /* QoS2 PUBLISH sent */
    MQI_MS_WAIT_COMP      /* QoS2 PUBREL sent */
};

/* One command from the API to the worker. PUBLISH carries topic and
 * payload inline after the struct: one allocation per message. */
typedef struct mqi_msg {
    mqi_qnode qn;                   /* MPSC link (API -> worker) */
    struct mqi_msg *next, *prev;    /* worker lists */
    uint8_t kind;                   /* MQI_CMD_* */
    uint8_t qos;                    /* DISCONNECT: 1 forced (_now) */
    uint8_t retain;
    uint8_t state;                  /* MQI_MS_* */
    uint8_t blk;                    /* PUBLISH: small-block class, 0 none */
    uint16_t packet_id;
    int token;
    int reason;                     /* DISCONNECT/AUTH reason */
    size_t acct_bytes;              /* bytes counted against the queue */
    mq_props *props;
    char *topic;                    /* PUBLISH */
    size_t topic_len;
    uint8_t *payload;
    size_t payload_len;
    size_t count;                   /* SUBSCRIBE/UNSUBSCRIBE filters */
    char **filters;
    uint8_t *options;
    void *resolved;                 /* RESOLVED: struct addrinfo list;
                                       DISCONNECT: its struct mqi_drain
                                       (internal.h), plain malloc */
    unsigned generation;            /* RESOLVED: which attempt */
    int resolve_err;
    uint64_t seq;                   /* persistence record, 0 if none */
    bool recovered;                 /* replayed from the store */
    uint16_t alias;                 /* PUBLISH: Topic Alias the application
                                       asked for (taken out of props) */
    uint64_t tag;                   /* PUBLISH: application tag */
} mqi_msg;

/* A doubly linked list of messages (worker only). */
typedef struct mqi_list {
    mqi_msg *head, *tail;
    size_t n;
} mqi_list;

void mqi_list_push(mqi_list *l, mqi_msg *m);
void mqi_list_push_front(mqi_list *l, mqi_msg *m);
void mqi_list_remove(mqi_list *l, mqi_msg *m);
mqi_msg *mqi_list_pop(mqi_list *l);

void mqi_msg_free(mqi_msg *m);

/* A zeroed command of @p kind (calloc), or NULL. */
mqi_msg *mqi_msg_new(int kind);
/* A PUBLISH with @p topic (tlen bytes, NUL added) and @p payload copied
 * inline, acct_bytes set; NULL without memory. The rest is zero. */
mqi_msg *mqi_msg_new_publish(const char *topic, size_t tlen,
                             const void *payload, size_t len, int qos,
                             bool retain);

#endif
