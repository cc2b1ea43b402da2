/*
 * resolver.c - the process's host name lookup pool (resolver.h): a FIFO of
 * jobs under one mutex, at most MQI_RESOLVER_MAX detached threads that
 * take them, started when a job finds no idle thread and ending after
 * MQI_RESOLVER_IDLE_MS without work. A job waits in the queue when all
 * threads are busy, so a burst of 10,000 lookups costs 4 thread creations.
 *
 * Threading: mqi_resolve from any thread; g_lock guards the queue and the
 * counters; wanted/done/getaddrinfo run without it.
 */
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "mq.h"
#include "clock.h"
#include "resolver.h"

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cond;           /* a job was queued */
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static mqi_rjob *g_head, *g_tail;
static size_t g_queued;                 /* jobs in the queue */
static unsigned g_alive, g_idle;
static unsigned long g_started;

static void
init_cond(void)
{
    mqi_cond_init_mono(&g_cond); /* idle timeouts immune to clock changes */
}

mqi_rjob *
mqi_rjob_new(const char *host, const char *port)
{
    size_t hl = strlen(host) + 1;
    mqi_rjob *j;

    if (strlen(port) >= sizeof j->port)
        return NULL;
    j = calloc(1, sizeof *j + hl);
    if (j == NULL)
        return NULL;
    memcpy(j->host, host, hl);
    memcpy(j->port, port, strlen(port) + 1);
    return j;
}

static void
run_job(mqi_rjob *j)
{
    struct addrinfo hints, *res = NULL;
    int rc;

    if (j->wanted != NULL && !j->wanted(j)) {
        j->done(j, MQI_RESOLVE_SKIPPED, NULL);
        return;
    }
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    rc = getaddrinfo(j->host, j->port, &hints, &res);
    if (rc != 0)
        res = NULL;
    else if (res == NULL)
        rc = EAI_NONAME;
    j->done(j, rc, res);
}

static void *
pool_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&g_lock);
    for (;;) {
        mqi_rjob *j = g_head;
        if (j == NULL) {
            struct timespec ts;
            int rc;
            g_idle++;
            mqi_deadline_after(&ts, MQI_RESOLVER_IDLE_MS);
            do
                rc = pthread_cond_timedwait(&g_cond, &g_lock, &ts);
            while (g_head == NULL && rc != ETIMEDOUT);
            g_idle--;
            if (g_head == NULL)
                break; /* idle for MQI_RESOLVER_IDLE_MS: end */
            continue;
        }
        g_head = j->next;
        g_queued--;
        if (g_head == NULL)
            g_tail = NULL;
        j->next = NULL;
        pthread_mutex_unlock(&g_lock);
        run_job(j);
        pthread_mutex_lock(&g_lock);
    }
    g_alive--;
    pthread_mutex_unlock(&g_lock);
    return NULL;
}

int
mqi_resolve(mqi_rjob *j)
{
    int rc = MQ_OK;

    pthread_once(&g_once, init_cond);
    pthread_mutex_lock(&g_lock);
    j->next = NULL;
    if (g_tail != NULL)
        g_tail->next = j;
    else
        g_head = j;
    g_tail = j;
    g_queued++;
    /* an idle thread takes it; one more thread when the queue holds more
     * jobs than idle threads, up to the cap; at the cap a job waits for a
     * busy thread */
    if (g_idle > 0)
        pthread_cond_signal(&g_cond);
    if (g_queued > g_idle && g_alive < MQI_RESOLVER_MAX) {
        pthread_t th;
        pthread_attr_t attr;
        int e;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        e = pthread_create(&th, &attr, pool_main, NULL);
        pthread_attr_destroy(&attr);
        if (e == 0) {
            g_alive++;
            g_started++;
        } else if (g_alive == 0) {
            /* nobody would ever take it: unqueue (it is the only one) */
            g_head = g_tail = NULL;
            g_queued = 0;
            rc = MQ_ERR_SYSTEM;
        }
    }
    pthread_mutex_unlock(&g_lock);
    return rc;
}

void
mqi_resolver_stats(unsigned *alive, unsigned *idle, unsigned long *started)
{
    pthread_mutex_lock(&g_lock);
    *alive = g_alive;
    *idle = g_idle;
    *started = g_started;
    pthread_mutex_unlock(&g_lock);
}
