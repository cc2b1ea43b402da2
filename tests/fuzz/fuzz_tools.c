/*
 * fuzz_tools.c - libFuzzer target for the command-line tools' parsers
 * (tools/common.c, tools/output.c): the option parser with everything it
 * calls (-L URLs, -D properties, numbers, -F format checking), and the
 * message printer (-F format strings with %, @ and \ sequences, %j/%J
 * JSON output and re-printing of JSON payloads, -v) on hostile messages.
 *
 * Input: byte 0 even = options, odd = printing.
 *   options:  byte 1 picks the tool (mqpub, mqsub, mqrr); the rest is
 *             argv[1..], arguments separated by NUL bytes.
 *   printing: byte 1 flags (bit 0 -v, bit 1 -N, bit 2 --pretty, bits 3-4
 *             QoS, bit 5 retain, bit 6 with properties), then three
 *             length-prefixed fields (one length byte each): format,
 *             topic, raw MQTT 5 property block; the rest is the payload.
 * Checks: cfg_parse returns CFG_OK / CFG_ERR / CFG_HELP and never exits
 * (except for out of memory) and cfg_free releases everything (LeakSanitizer
 * is on in libFuzzer runs); an accepted command line has what the tool
 * needs (a topic, QoS 0-2, a checked format); printing never crashes or
 * reads out of bounds.
 *
 * The target never lets the parser read files: arguments "-f"/"--file"
 * are dropped, stdin is /dev/null (for -s), and the per-user options file
 * is looked up in an empty $XDG_CONFIG_HOME. stdout goes to /dev/null.
 *
 * Threading: none.
 */
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "fuzz_common.h"
#include "internal.h"
#include "mq.h"
#include "props.h"

#define MAX_ARGS 48

static void
init_once(void)
{
    static bool done;
    int fd;

    if (done)
        return;
    done = true;
    setenv("XDG_CONFIG_HOME", "/nonexistent/mq-fuzz-tools", 1);
    fd = open("/dev/null", O_RDWR);
    FCHECK(fd >= 0);
    dup2(fd, 0);
    dup2(fd, 1);
    close(fd);
}

static void
fuzz_options(const uint8_t *data, size_t size)
{
    char *buf, *argv[MAX_ARGS + 2];
    int argc = 1, rc;
    size_t i, start = 0;
    struct tool_cfg cfg;
    enum tool_kind kind;
    static const char *const names[] = { "mqpub", "mqsub", "mqrr" };

    if (size < 1)
        return;
    kind = (enum tool_kind)(data[0] % 3);
    data++;
    size--;
    buf = malloc(size + 1);
    FCHECK(buf != NULL);
    memcpy(buf, data, size);
    buf[size] = '\0';
    argv[0] = (char *)names[kind];
    for (i = 0; i <= size && argc <= MAX_ARGS; i++) {
        if (i == size || buf[i] == '\0') {
            char *a = buf + start;

            start = i + 1;
            if (strcmp(a, "-f") == 0 || strcmp(a, "--file") == 0)
                continue; /* would read a file named by the input */
            argv[argc++] = a;
        }
    }
    argv[argc] = NULL;

    rc = cfg_parse(&cfg, kind, argc, argv);
    FCHECK(rc == CFG_OK || rc == CFG_ERR || rc == CFG_HELP);
    if (rc == CFG_OK) {
        FCHECK(cfg.topic_count >= 1 && cfg.topics != NULL);
        for (i = 0; i < (size_t)cfg.topic_count; i++)
            FCHECK(cfg.topics[i] != NULL);
        FCHECK(cfg.qos >= 0 && cfg.qos <= 2);
        FCHECK(cfg.will_qos >= 0 && cfg.will_qos <= 2);
        FCHECK(cfg.protocol == MQ_PROTO_V311 || cfg.protocol == MQ_PROTO_V5 ||
               cfg.protocol == 3);
        FCHECK(cfg.port >= 0 && cfg.port <= 65535);
        FCHECK(cfg.format == NULL || format_check(&cfg, cfg.format) == 0);
        FCHECK(cfg.kind != TOOL_PUB || cfg.pub_mode != MODE_NONE);
    }
    cfg_free(&cfg);
    free(buf);
}

/* Take a field with a one-byte length (clipped to what is left). */
static const uint8_t *
field(const uint8_t **p, size_t *left, size_t *len)
{
    const uint8_t *f;

    if (*left == 0) {
        *len = 0;
        return *p;
    }
    *len = **p;
    (*p)++;
    (*left)--;
    if (*len > *left)
        *len = *left;
    f = *p;
    *p += *len;
    *left -= *len;
    return f;
}

static void
fuzz_print(const uint8_t *data, size_t size)
{
    struct tool_cfg cfg;
    const uint8_t *fmt, *topic, *props, *p;
    size_t flen, tlen, xlen, plen, left;
    uint8_t flags;
    mq_event *ev;
    char *format;

    if (size < 1)
        return;
    flags = data[0];
    p = data + 1;
    left = size - 1;
    fmt = field(&p, &left, &flen);
    topic = field(&p, &left, &tlen);
    props = field(&p, &left, &xlen);
    plen = left;

    memset(&cfg, 0, sizeof cfg);
    cfg.kind = TOOL_SUB;
    cfg.prog = "mqsub";
    cfg.quiet = 1;
    cfg.verbose = flags & 1;
    cfg.eol = !(flags & 2);
    cfg.pretty = (flags & 4) != 0;
    format = NULL;
    if (flen > 0) {
        format = malloc(flen + 1);
        FCHECK(format != NULL);
        memcpy(format, fmt, flen);
        format[flen] = '\0';
        if (format_check(&cfg, format) != 0) {
            free(format);
            return; /* the tool refuses it at startup */
        }
        cfg.format = format;
    }

    /* a message event as the worker builds it: topic and payload inline */
    ev = mqi_event_new(MQ_EVENT_MESSAGE, tlen + 1 + plen);
    FCHECK(ev != NULL);
    ev->topic = (char *)(ev + 1);
    memcpy(ev->topic, topic, tlen);
    ev->topic[tlen] = '\0';
    ev->payload = (uint8_t *)ev->topic + tlen + 1;
    memcpy(ev->payload, p, plen);
    ev->payload_len = plen;
    ev->qos = (flags >> 3) & 3;
    if (ev->qos == 3)
        ev->qos = 2;
    ev->retain = (flags >> 5) & 1;
    ev->packet_id = ev->qos ? 1 + (int)(plen % 65535) : 0;
    if ((flags & 64) && xlen > 0) {
        uint8_t *raw = malloc(xlen);

        FCHECK(raw != NULL);
        memcpy(raw, props, xlen);
        if (mqi_props_validate(raw, xlen, MQI_PUBLISH) == MQ_OK &&
            mqi_props_parse(raw, xlen, &ev->props) != MQ_OK)
            ev->props = NULL;
        free(raw);
    }
    print_message(&cfg, ev);
    mq_event_free(ev);
    free(format);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 16384)
        return 0;
    init_once();
    if (data[0] % 2 == 0)
        fuzz_options(data + 1, size - 1);
    else
        fuzz_print(data + 1, size - 1);
    return 0;
}
