/* mq.h compiles alone under -std=c11 -pedantic -Werror and its version
 * macros agree with the run-time values (checked when linked; here only the
 * compile matters, so the program just returns 0). */
#include <mq.h>

#if MQ_VERSION_NUM != ((MQ_VERSION_MAJOR << 16) | (MQ_VERSION_MINOR << 8) | MQ_VERSION_PATCH)
#error "version macros disagree"
#endif

/* ABI numbers are never reused or moved (issue 12's allocation). */
_Static_assert(MQ_OPT_DISCONNECT_TIMEOUT_MS == 24, "option number");
_Static_assert(MQ_EVENT_RESUBSCRIBED == 9, "event kind number");
/* ABI numbers are never changed or reused: the deployment transports' */
_Static_assert(MQ_ERR_PROXY == -32 && MQ_ERR_PROXY_AUTH == -33, "errors");
_Static_assert(MQ_OPT_TLS_SESSION_RESUME == 40 && MQ_OPT_TLS_CRL_CHECK == 41
               && MQ_OPT_PROXY_FROM_ENV == 42, "int options");
/* issue 20's loop thread as the I/O thread */
_Static_assert(MQ_OPT_LOOP_IO_THREAD == 80, "int option");
_Static_assert(MQ_SOPT_TLS_KEY_URI == 120 && MQ_SOPT_TLS_CERT_URI == 121
               && MQ_SOPT_TLS_PROVIDERS == 122 && MQ_SOPT_TLS_ENGINE == 123
               && MQ_SOPT_TLS_PSK == 124 && MQ_SOPT_TLS_PSK_IDENTITY == 125
               && MQ_SOPT_TLS_CRL_FILE == 126 && MQ_SOPT_TLS_CRL_PATH == 127
               && MQ_SOPT_PROXY == 128 && MQ_SOPT_NO_PROXY == 129
               && MQ_SOPT_TLS_MAX_VERSION == 130, "string options");
/* issue 20's numbers (never reused or moved) */
_Static_assert(MQ_SOPT_BIND_ADDRESS == 140, "string option number");
_Static_assert(MQ_TLS_VERSION == 1 && MQ_TLS_CIPHER == 2 && MQ_TLS_ALPN == 3
               && MQ_TLS_RESUMED == 4, "mq_event_tls items");

int
main(void)
{
    mq_client *c = 0;
    /* declared with these signatures (not evaluated: nothing to link) */
    (void)sizeof(mq_wait(c, 1, -1) + mq_wait_connected(c, 0) +
                 mq_wait_disconnected(c, 0) + mq_disconnect_now(c, 0));
    return MQ_OK;
}

/* Issue 13's numbers (never reused or moved) and declarations. */
_Static_assert(MQ_OPT_PROTOCOL_FALLBACK == 30, "option number");
_Static_assert(MQ_OPT_PROTOCOL_IN_USE == 31, "option number");
_Static_assert(MQ_OPT_TOPIC_ALIAS_AUTO == 32, "option number");
_Static_assert(MQ_OPT_MAX_EVENT_BYTES == 33, "option number");
_Static_assert(MQ_EVENT_RECOVERED == 10, "event kind number");
_Static_assert(MQ_ERR_FILE == -30, "error number");

int issue13_decls(mq_client *c, const mq_event *ev);
int
issue13_decls(mq_client *c, const mq_event *ev)
{
    const char *f[1] = {"a"};
    /* not evaluated: nothing to link */
    return (int)sizeof(mq_unsubscribe_many(c, 1, f, 0) +
                       mq_publish_tagged(c, "t", "", 0, 1, 0, 0,
                                         (uint64_t)1) +
                       mq_event_tag(ev));
}
