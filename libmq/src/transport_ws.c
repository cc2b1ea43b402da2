/* transport_ws.c - WebSocket client layer; being written (see transport.h). */
#include <stdio.h>
#include "mq.h"
#include "transport.h"

int
mqi_io_ws_start(mqi_io *io, const char *host, uint16_t port, const char *path)
{
    (void)host;
    (void)port;
    (void)path;
    snprintf(io->err, sizeof io->err, "websockets not available yet");
    return MQ_ERR_NOT_SUPPORTED;
}
