/*
 * msg.c - making and freeing commands, and the worker's message lists (see
 * msg.h).
 *
 * Threading: a message belongs to one thread at a time.
 */
#include <netdb.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

mqi_msg *
mqi_msg_new(int kind)
{
    mqi_msg *m = calloc(1, sizeof *m);

    if (m != NULL)
        m->kind = (uint8_t)kind;
    return m;
}

mqi_msg *
mqi_msg_new_publish(const char *topic, size_t tlen, const void *payload,
                    size_t len, int qos, bool retain)
{
    int blk;
    mqi_msg *m = mqi_block_alloc(sizeof *m + tlen + 1 + len, &blk);

    if (m == NULL)
        return NULL;
    memset(m, 0, sizeof *m);
    m->blk = (uint8_t)blk;
    m->kind = MQI_CMD_PUBLISH;
    m->qos = (uint8_t)qos;
    m->retain = retain ? 1 : 0;
    m->topic = (char *)(m + 1);
    memcpy(m->topic, topic, tlen);
    m->topic[tlen] = '\0';
    m->topic_len = tlen;
    m->payload = (uint8_t *)m->topic + tlen + 1;
    if (len > 0)
        memcpy(m->payload, payload, len);
    m->payload_len = len;
    m->acct_bytes = sizeof *m + tlen + len;
    return m;
}

void
mqi_list_push(mqi_list *l, mqi_msg *m)
{
    m->next = NULL;
    m->prev = l->tail;
    if (l->tail != NULL)
        l->tail->next = m;
    else
        l->head = m;
    l->tail = m;
    l->n++;
}

void
mqi_list_push_front(mqi_list *l, mqi_msg *m)
{
    m->prev = NULL;
    m->next = l->head;
    if (l->head != NULL)
        l->head->prev = m;
    else
        l->tail = m;
    l->head = m;
    l->n++;
}

void
mqi_list_remove(mqi_list *l, mqi_msg *m)
{
    if (m->prev != NULL)
        m->prev->next = m->next;
    else
        l->head = m->next;
    if (m->next != NULL)
        m->next->prev = m->prev;
    else
        l->tail = m->prev;
    m->next = m->prev = NULL;
    l->n--;
}

mqi_msg *
mqi_list_pop(mqi_list *l)
{
    mqi_msg *m = l->head;

    if (m != NULL)
        mqi_list_remove(l, m);
    return m;
}

void
mqi_msg_free(mqi_msg *m)
{
    size_t i;

    if (m == NULL)
        return;
    if (m->props != NULL)
        mq_props_free(m->props);
    if (m->kind == MQI_CMD_RESOLVED && m->resolved != NULL)
        freeaddrinfo(m->resolved);
    if (m->kind == MQI_CMD_CONNECT && m->resolved != NULL) {
        mqi_opts_clear(m->resolved);
        free(m->resolved);
    }
    if (m->kind == MQI_CMD_WAIT)
        free(m->resolved); /* never reached the worker */
    if (m->filters != NULL) {
        for (i = 0; i < m->count; i++)
            free(m->filters[i]);
        free(m->filters);
    }
    free(m->options);
    /* plain malloc blocks (blk 0, payload_len 0) end in free() */
    mqi_block_free(m, m->blk, sizeof *m + m->payload_len);
}
