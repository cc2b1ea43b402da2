/* mq.h shares the mq_ prefix with POSIX message queues (<mqueue.h>): the
 * two headers compile together, in either order, under -std=c11 with
 * _POSIX_C_SOURCE, and a program uses both (a POSIX queue is opened, sent
 * to and read back next to libmq calls). No libmq name may ever collide
 * with mq_open, mq_close, mq_unlink, mq_send, mq_receive, mq_notify,
 * mq_getattr, mq_setattr, mq_timedsend, mq_timedreceive, struct mq_attr
 * or mqd_t. */
#define _POSIX_C_SOURCE 200809L
#ifdef MQT_MQ_FIRST
#include <mq.h>
#include <mqueue.h>
#else
#include <mqueue.h>
#include <mq.h>
#endif
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int
main(void)
{
    char name[64], buf[64];
    struct mq_attr attr;
    mqd_t q;
    ssize_t n;
    unsigned prio = 0;

    /* libmq, linked: a client made and destroyed, and a string of ours */
    mq_client *c = mq_client_new("hdr-mqueue", MQ_PROTO_V311);
    if (c == NULL || strcmp(mq_err_name(MQ_ERR_INVAL), "MQ_ERR_INVAL") != 0)
        return 1;
    mq_client_destroy(c);

    /* POSIX, linked: one message through a private queue */
    memset(&attr, 0, sizeof attr);
    attr.mq_maxmsg = 1;
    attr.mq_msgsize = sizeof buf;
    snprintf(name, sizeof name, "/libmq-hdr-%ld", (long)getpid());
    q = mq_open(name, O_CREAT | O_EXCL | O_RDWR, 0600, &attr);
    if (q == (mqd_t)-1) {
        /* no mqueue filesystem in this sandbox: the compile and link are
         * what this test is about */
        puts("mq_open unavailable; compile/link checked");
        return 0;
    }
    mq_unlink(name);
    if (mq_send(q, "hi", 3, 0) != 0)
        return 2;
    n = mq_receive(q, buf, sizeof buf, &prio);
    mq_close(q);
    return (n == 3 && strcmp(buf, "hi") == 0) ? 0 : 3;
}
