/* mq.h compiles alone under -std=c11 -pedantic -Werror and its version
 * macros agree with the run-time values (checked when linked; here only the
 * compile matters, so the program just returns 0). */
#include <mq.h>

#if MQ_VERSION_NUM != ((MQ_VERSION_MAJOR << 16) | (MQ_VERSION_MINOR << 8) | MQ_VERSION_PATCH)
#error "version macros disagree"
#endif

/* ABI numbers are never changed or reused: the deployment transports' */
_Static_assert(MQ_ERR_PROXY == -32 && MQ_ERR_PROXY_AUTH == -33, "errors");
_Static_assert(MQ_OPT_TLS_SESSION_RESUME == 40 && MQ_OPT_TLS_CRL_CHECK == 41
               && MQ_OPT_PROXY_FROM_ENV == 42, "int options");
_Static_assert(MQ_SOPT_TLS_KEY_URI == 120 && MQ_SOPT_TLS_CERT_URI == 121
               && MQ_SOPT_TLS_PROVIDERS == 122 && MQ_SOPT_TLS_ENGINE == 123
               && MQ_SOPT_TLS_PSK == 124 && MQ_SOPT_TLS_PSK_IDENTITY == 125
               && MQ_SOPT_TLS_CRL_FILE == 126 && MQ_SOPT_TLS_CRL_PATH == 127
               && MQ_SOPT_PROXY == 128 && MQ_SOPT_NO_PROXY == 129
               && MQ_SOPT_TLS_MAX_VERSION == 130, "string options");
_Static_assert(MQ_TLS_VERSION == 1 && MQ_TLS_CIPHER == 2 && MQ_TLS_ALPN == 3
               && MQ_TLS_RESUMED == 4, "mq_event_tls items");

int
main(void)
{
    mq_client *c = 0;
    (void)c;
    return MQ_OK;
}
