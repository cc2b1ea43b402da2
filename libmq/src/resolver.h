/*
 * resolver.h - host name lookups off the worker thread: one small pool of
 * threads per process (at most MQI_RESOLVER_MAX, started on demand, each
 * ending after MQI_RESOLVER_IDLE_MS without work) takes jobs from one FIFO
 * queue and runs getaddrinfo. Before, every connect attempt to a name
 * started a thread of its own: 10,000 clients reconnecting to "localhost"
 * were 10,000 thread creations (issue 20). Numeric addresses never come
 * here (connect.c tries AI_NUMERICHOST first).
 *
 * The caller owns what a job refers to (connect.c: a client reference and
 * its attempt number); the pool only calls the job's functions:
 * wanted() just before the lookup (a job whose answer nobody waits for any
 * more is skipped), then done() exactly once, which takes the job and the
 * result.
 *
 * Threading: mqi_resolve from any thread; wanted and done run on a pool
 * thread, without any pool lock held.
 */
#ifndef MQI_RESOLVER_H
#define MQI_RESOLVER_H

#include <stdbool.h>
#include <stddef.h>

#include "check.h"

struct addrinfo;

#define MQI_RESOLVER_MAX 4        /* threads per process */
#define MQI_RESOLVER_IDLE_MS 2000 /* a thread without work for this ends */
#define MQI_RESOLVE_SKIPPED 1     /* done()'s err for a job not wanted any
                                     more (getaddrinfo's codes are not 1) */

typedef struct mqi_rjob {
    struct mqi_rjob *next;  /* the pool's queue */
    void *ud;               /* the caller's */
    unsigned gen;           /* the caller's */
    /* NULL, or false when the answer is no longer needed */
    bool (*wanted)(const struct mqi_rjob *j);
    /* Exactly once: err 0 with res (the caller frees it with
     * freeaddrinfo), a getaddrinfo error (EAI_*) with NULL, or
     * MQI_RESOLVE_SKIPPED with NULL. Frees j (free()). */
    void (*done)(struct mqi_rjob *j, int err, struct addrinfo *res);
    char port[8];           /* decimal service */
    char host[];
} mqi_rjob;

/* A zeroed job for @p host and @p port (decimal, < 8 chars), or NULL
 * without memory. */
mqi_rjob *mqi_rjob_new(const char *host, const char *port);

/* Queue @p j (its done and the caller's fields set). MQ_OK: done will be
 * called. MQ_ERR_SYSTEM: no pool thread exists and none could be started;
 * @p j was not queued (the caller still owns it). */
MQI_MUST_CHECK int mqi_resolve(mqi_rjob *j);

/* For tests: threads alive, of which idle, and threads ever started. */
void mqi_resolver_stats(unsigned *alive, unsigned *idle, unsigned long *started);

#endif
