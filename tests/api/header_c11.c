/* mq.h compiles alone under -std=c11 -pedantic -Werror and its version
 * macros agree with the run-time values (checked when linked; here only the
 * compile matters, so the program just returns 0). */
#include <mq.h>

#if MQ_VERSION_NUM != ((MQ_VERSION_MAJOR << 16) | (MQ_VERSION_MINOR << 8) | MQ_VERSION_PATCH)
#error "version macros disagree"
#endif

int
main(void)
{
    mq_client *c = 0;
    (void)c;
    return MQ_OK;
}
