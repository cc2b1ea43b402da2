/*
 * alias.h - outbound MQTT 5 topic aliases (§3.3.2.3.4): which alias a
 * PUBLISH carries and whether its topic can be left out, for one network
 * connection. Two ways to use it:
 *  - explicit: the application names the alias; the table remembers which
 *    topic each alias stands for on this connection, so a repeat sends the
 *    alias alone and a new topic re-maps it;
 *  - automatic: the table assigns aliases 1..max to topics; when all are
 *    taken, the least recently used one is re-mapped to a new topic only
 *    if that topic was published more often lately (see alias.c).
 * A table lives for one connection (aliases never carry over, MQTT 5
 * §3.3.2.3.4) and its size is at most the broker's Topic Alias Maximum.
 *
 * Pure: no I/O, no locks. Threading: owned by the worker thread.
 */
#ifndef MQI_ALIAS_H
#define MQI_ALIAS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct mqi_alias_out mqi_alias_out;

/* A table for aliases 1..@p max (max >= 1). NULL when out of memory. */
mqi_alias_out *mqi_alias_out_new(uint16_t max);
void mqi_alias_out_free(mqi_alias_out *t);
uint16_t mqi_alias_out_max(const mqi_alias_out *t);

/* Automatic: the alias to send with @p topic, and in *omit whether the
 * broker already knows it (send an empty topic). With @p may_add false no
 * alias is assigned or re-mapped (e.g. the packet would not fit with one):
 * 0 then unless the topic is known. 0 also when the topic is not admitted
 * (send it without alias) or out of memory. Call once per PUBLISH: it
 * counts how often each topic is published. */
uint16_t mqi_alias_auto(mqi_alias_out *t, const char *topic, size_t len,
                        bool may_add, bool *omit);

/* Explicit: does alias @p n stand for @p topic on this connection (the
 * topic can be left out)? */
bool mqi_alias_stands_for(const mqi_alias_out *t, uint16_t n,
                          const char *topic, size_t len);
/* Explicit: alias @p n (1..max) was sent with @p topic and stands for it
 * from now on. Out of memory: forgotten (the topic is sent again). */
void mqi_alias_map(mqi_alias_out *t, uint16_t n, const char *topic,
                   size_t len);

#endif
