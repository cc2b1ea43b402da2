/*
 * fuzz_uri.c - libFuzzer target for server URI parsing, through the public
 * mq_set_server() of a client that never connects (client.c parse_uri and
 * the list splitting).
 *
 * Input: the URI list as a C string (cut at the first NUL).
 * Checks: only MQ_OK, MQ_ERR_URI, MQ_ERR_NOMEM or MQ_ERR_NOT_SUPPORTED; a
 * refused list leaves the previous one in place; each parsed server is
 * sane (known scheme, non-empty host without '@', '/', blanks or control
 * bytes, a port, an absolute unix path under 108 bytes, a path only for
 * WebSockets and without blanks); printing the parsed list back in
 * canonical form (scheme://host:port/path) parses to the same list.
 *
 * Threading: none (the client's lock is free: nothing else runs).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "internal.h"
#include "mq.h"

static mq_client *cl;

static bool
same_list(const mqi_server *a, size_t na, const mqi_server *b, size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++) {
        if (a[i].scheme != b[i].scheme || a[i].port != b[i].port ||
            strcmp(a[i].host, b[i].host) != 0 ||
            (a[i].path == NULL) != (b[i].path == NULL) ||
            (a[i].path != NULL && strcmp(a[i].path, b[i].path) != 0))
            return false;
    }
    return true;
}

static void
check_server(const mqi_server *s)
{
    const char *p;

    FCHECK(s->host != NULL);
    FCHECK(s->scheme >= MQI_SCHEME_TCP && s->scheme <= MQI_SCHEME_UNIX);
    if (s->scheme == MQI_SCHEME_UNIX) {
        FCHECK(s->host[0] == '/' && strlen(s->host) < 108);
        FCHECK(s->path == NULL);
        return;
    }
    FCHECK(s->host[0] != '\0');
    for (p = s->host; *p; p++)
        FCHECK(*p != '@' && *p != '/' && *p != ' ' && *p != ',' &&
               (unsigned char)*p >= 0x20);
    FCHECK(s->port != 0);
    if (s->scheme == MQI_SCHEME_WS || s->scheme == MQI_SCHEME_WSS) {
        FCHECK(s->path != NULL && s->path[0] == '/');
        for (p = s->path; *p; p++)
            FCHECK((unsigned char)*p > 0x20 && *p != 0x7f);
    } else {
        FCHECK(s->path == NULL);
    }
}

/* scheme://host:port[/path], brackets around a host with ':'. */
static size_t
canonical(const mqi_server *s, char *out, size_t cap)
{
    static const char *const names[] = {
        "", "mqtt", "mqtts", "ws", "wss", "unix",
    };
    int n;

    if (s->scheme == MQI_SCHEME_UNIX)
        n = snprintf(out, cap, "unix://%s", s->host);
    else
        n = snprintf(out, cap, "%s://%s%s%s:%u%s", names[s->scheme],
                     strchr(s->host, ':') ? "[" : "", s->host,
                     strchr(s->host, ':') ? "]" : "", (unsigned)s->port,
                     s->path ? s->path : "");
    FCHECK(n >= 0);
    return (size_t)n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mqi_server *before;
    size_t nbefore, i, len = 0, cap;
    char *s, *canon;
    bool fits = true;
    int rc;

    if (cl == NULL) {
        cl = mq_client_new("fuzz-uri", MQ_PROTO_V5);
        FCHECK(cl != NULL);
        FCHECK(mq_set_server(cl, "mqtt://127.0.0.1:1") == MQ_OK);
    }
    if (size > 8192)
        return 0;
    s = malloc(size + 1);
    FCHECK(s != NULL);
    memcpy(s, data, size);
    s[size] = '\0';

    before = cl->opt->servers;
    nbefore = cl->opt->nservers;
    rc = mq_set_server(cl, s);
    free(s);
    FCHECK(rc == MQ_OK || rc == MQ_ERR_URI || rc == MQ_ERR_NOMEM ||
           rc == MQ_ERR_NOT_SUPPORTED);
    if (rc != MQ_OK) {
        FCHECK(cl->opt->servers == before && cl->opt->nservers == nbefore);
        return 0;
    }
    FCHECK(cl->opt->nservers >= 1);
    for (i = 0; i < cl->opt->nservers; i++)
        check_server(&cl->opt->servers[i]);

    /* round trip through the canonical form */
    cap = 64;
    for (i = 0; i < cl->opt->nservers; i++) {
        const mqi_server *v = &cl->opt->servers[i];

        cap += strlen(v->host) + (v->path ? strlen(v->path) : 0) + 32;
    }
    canon = malloc(cap);
    FCHECK(canon != NULL);
    for (i = 0; i < cl->opt->nservers; i++) {
        size_t n = canonical(&cl->opt->servers[i], canon + len, cap - len);

        if (n >= 1024)
            fits = false; /* one URI is at most 1023 bytes */
        len += n;
        canon[len++] = ' ';
    }
    canon[len - 1] = '\0';
    if (fits) {
        mqi_server *first = cl->opt->servers;
        size_t nfirst = cl->opt->nservers;
        mqi_server *copy = calloc(nfirst, sizeof *copy);

        FCHECK(copy != NULL);
        for (i = 0; i < nfirst; i++) {
            copy[i] = first[i];
            copy[i].host = strdup(first[i].host);
            copy[i].path = first[i].path ? strdup(first[i].path) : NULL;
            FCHECK(copy[i].host != NULL);
        }
        rc = mq_set_server(cl, canon);
        if (rc != MQ_OK)
            fprintf(stderr, "canonical form refused (%d): %s\n", rc, canon);
        FCHECK(rc == MQ_OK);
        FCHECK(same_list(copy, nfirst, cl->opt->servers, cl->opt->nservers));
        for (i = 0; i < nfirst; i++) {
            free(copy[i].host);
            free(copy[i].path);
        }
        free(copy);
    }
    free(canon);
    return 0;
}
