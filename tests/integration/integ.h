/*
 * integ.h - shared helpers of the libmq integration tests: a per-test
 * broker, client registry, unique names, event waits that fail clearly.
 * Threading: helpers run on the test's main thread (Criterion gives each
 * test its own process), except where a test starts threads itself.
 */
#ifndef INTEG_H
#define INTEG_H

#include <criterion/criterion.h>
#include <stddef.h>

#include "broker.h"
#include "mq.h"

#ifndef INTEG_SRC_DIR
#define INTEG_SRC_DIR "."
#endif

#define INTEG_TIMEOUT_S 60
#define INTEG_WAIT_MS 10000 /* default wait for one event */

void integ_init(void);
void integ_fini(void);

/* Every suite uses these: fini destroys clients, then stops brokers. */
#define INTEG_SUITE(name)                                                 \
    TestSuite(name, .init = integ_init, .fini = integ_fini,              \
              .timeout = INTEG_TIMEOUT_S)

/* Fail the test with a message after dumping the broker logs. */
void integ_fail(const char *file, int line, const char *expr,
                const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define CHECK(cond, ...)                                                  \
    do {                                                                  \
        if (!(cond))                                                      \
            integ_fail(__FILE__, __LINE__, #cond, __VA_ARGS__);           \
    } while (0)

/* An API call that must return exactly @p want (an int, MQ_OK or MQ_ERR_*). */
#define CHECK_RC(expr, want)                                              \
    do {                                                                  \
        int rc_ = (expr);                                                 \
        int want_ = (want);                                               \
        if (rc_ != want_)                                                 \
            integ_fail(__FILE__, __LINE__, #expr, "returned %d (%s), "    \
                       "expected %d (%s)", rc_, mq_err_name(rc_), want_,   \
                       mq_err_name(want_));                               \
    } while (0)

/* A call that returns a positive token. Evaluates to the token. */
int integ_check_token(const char *file, int line, const char *expr, int rc);
#define CHECK_TOKEN(expr) integ_check_token(__FILE__, __LINE__, #expr, (expr))

/* ---- brokers -------------------------------------------------------- */

/* Start a broker for this test (opts may be NULL); fails the test if it
 * cannot start. Stopped by integ_fini. */
mqt_broker *integ_broker(const mqt_broker_opts *opts);

/* ---- names ---------------------------------------------------------- */

/* "it-<pid>-<tag>": unique across the parallel test processes. Static
 * storage in a ring of 16 buffers. */
const char *integ_id(const char *tag);
/* "itest/<pid>/<tag>" */
const char *integ_topic(const char *tag);

/* ---- clients -------------------------------------------------------- */

/* mq_client_new(integ_id(tag), proto), server set to b's URI (when b is
 * not NULL), registered for destruction in integ_fini. */
mq_client *integ_client(mqt_broker *b, const char *tag, int proto);
/* Same with an exact client id. */
mq_client *integ_client_id(mqt_broker *b, const char *id, int proto);
/* Destroy now and unregister (NULL ok). */
void integ_client_destroy(mq_client *c);

/* ---- events --------------------------------------------------------- */

const char *integ_event_name(int kind);

/* Wait up to timeout_ms for an event of @p kind, freeing (and noting)
 * events of other kinds. NULL on timeout. */
mq_event *integ_try_wait(mq_client *c, int kind, int timeout_ms);
/* As integ_try_wait, but fails the test on timeout, listing the events
 * that were skipped. Never returns NULL. */
mq_event *integ_wait_at(const char *file, int line, mq_client *c, int kind,
                        int timeout_ms);
#define integ_wait(c, kind, ms) integ_wait_at(__FILE__, __LINE__, c, kind, ms)

/* mq_connect + wait for MQ_EVENT_CONNECT with reason 0. Returns
 * session_present. */
int integ_connect_at(const char *file, int line, mq_client *c);
#define integ_connect(c) integ_connect_at(__FILE__, __LINE__, c)
/* mq_disconnect(c, 0) + wait for MQ_EVENT_DISCONNECTED with MQ_OK. */
void integ_disconnect_at(const char *file, int line, mq_client *c);
#define integ_disconnect(c) integ_disconnect_at(__FILE__, __LINE__, c)
/* mq_subscribe + wait for the matching SUBACK, check granted == qos. */
void integ_subscribe_at(const char *file, int line, mq_client *c,
                        const char *filter, int qos);
#define integ_subscribe(c, f, q) integ_subscribe_at(__FILE__, __LINE__, c, f, q)
/* Wait for MQ_EVENT_PUBLISHED with this token and error MQ_OK. */
void integ_wait_published_at(const char *file, int line, mq_client *c,
                             int token);
#define integ_wait_published(c, t)                                        \
    integ_wait_published_at(__FILE__, __LINE__, c, t)

/* ---- commands ------------------------------------------------------- */

/* Wait (up to 5 s) until the broker logged "Received SUBSCRIBE from <id>". */
void integ_wait_broker_sub_at(const char *file, int line, mqt_broker *b,
                              const char *client_id);
#define integ_wait_broker_sub(b, id)                                      \
    integ_wait_broker_sub_at(__FILE__, __LINE__, b, id)

/* "<port>" of a broker, static ring buffer. */
const char *integ_port_str(mqt_broker *b);

#endif /* INTEG_H */
