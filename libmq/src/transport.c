/*
 * transport.c - plain stream socket transport (TCP and Unix sockets).
 *
 * Threading: worker thread only.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mq.h"
#include "transport.h"

_Thread_local char mqi_io_err[MQI_IO_ERR_LEN];

static int
plain_handshake(mqi_io *io)
{
    (void)io;
    return MQ_OK;
}

static int
plain_read(mqi_io *io, uint8_t *buf, size_t cap, size_t *out_n)
{
    ssize_t n;

    *out_n = 0;
    for (;;) {
        n = recv(io->fd, buf, cap, 0);
        if (n > 0) {
            *out_n = (size_t)n;
            return MQ_OK;
        }
        if (n == 0)
            return MQ_ERR_CLOSED;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            io->want = EPOLLIN;
            return MQ_ERR_AGAIN;
        }
        snprintf(mqi_io_err, sizeof mqi_io_err, "recv: %s", strerror(errno));
        return MQ_ERR_IO;
    }
}

static int
plain_write(mqi_io *io, const uint8_t *buf, size_t len, size_t *out_n)
{
    ssize_t n;

    *out_n = 0;
    for (;;) {
        n = send(io->fd, buf, len, MSG_NOSIGNAL);
        if (n >= 0) {
            *out_n = (size_t)n;
            if (n == 0) {
                io->want = EPOLLOUT;
                return MQ_ERR_AGAIN;
            }
            return MQ_OK;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            io->want = EPOLLOUT;
            return MQ_ERR_AGAIN;
        }
        snprintf(mqi_io_err, sizeof mqi_io_err, "send: %s", strerror(errno));
        return MQ_ERR_IO;
    }
}

static void
plain_close(mqi_io *io)
{
    (void)io;
}

const mqi_io_ops mqi_io_plain_ops = {
    plain_handshake, plain_read, plain_write, plain_close, NULL,
};
