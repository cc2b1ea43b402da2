/*
 * fuzz_store.c - libFuzzer target for the persistence store's recovery
 * (store.c): the input becomes a store file in a private temporary
 * directory, which mqi_store_open / mqi_store_recover then read, as after
 * a crash, a disk error or a hostile edit.
 *
 * Input: byte 0 is a set of flags, the rest is file content.
 *   bit 0  prepend a valid header for the client id (else the content is
 *          the whole file, header included)
 *   bit 1  fix up the CRC of every record whose length fits, so the
 *          fuzzer gets past the checksums to the record checks
 *   bit 2  use a long client id (file name with a hash, sections 2 and 3
 *          of store.c's format)
 *   bit 3  write the header for another client id (must be refused and
 *          the file left untouched)
 * The CRC-32C and the header layout are written here from the format
 * comment at the top of store.c (a second implementation, not a copy).
 *
 * Checks: open returns MQ_OK, MQ_ERR_PERSIST (with a message; the file
 * untouched) or MQ_ERR_NOMEM; recovery hands out only well-formed records
 * in increasing seq order, as many as mqi_store_live says; the good part
 * plus the reported bad bytes is the input; after removing one recovered
 * message, updating another and adding a new one, a reopen recovers
 * exactly that set, with nothing bad left.
 *
 * Threading: none (the store's mutex is taken by one thread only). Files
 * live under $TMPDIR (or /dev/shm, else /tmp), removed at exit; the
 * store runs with MQI_SYNC_NONE so iterations stay fast.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "mq.h"
#include "store.h"

#define MAX_RECS 256

static char dir[512];
static char path_short[1100], path_long[1100];
static const char *id_short = "fz";
static char id_long[301];

static uint32_t
crc32c(uint32_t crc, const uint8_t *p, size_t n)
{
    crc = ~crc;
    while (n--) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1)));
    }
    return ~crc;
}

static void
put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t
get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static void
cleanup(void)
{
    unlink(path_short);
    unlink(path_long);
    rmdir(dir);
}

/* Find the one file in dir (the store just created it). */
static void
store_path(const char *id, char *out, size_t cap)
{
    mqi_store *s = NULL;
    char err[256];
    DIR *d;
    struct dirent *e;

    FCHECK(mqi_store_open(dir, id, MQI_SYNC_NONE, &s, err, sizeof err) ==
           MQ_OK);
    mqi_store_close(s);
    d = opendir(dir);
    FCHECK(d != NULL);
    out[0] = '\0';
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            snprintf(out, cap, "%s/%s", dir, e->d_name);
    closedir(d);
    FCHECK(out[0] != '\0');
    FCHECK(unlink(out) == 0);
}

static void
init_once(void)
{
    static bool done;
    const char *base = getenv("TMPDIR");
    struct stat st;

    if (done)
        return;
    done = true;
    if (base == NULL || base[0] == '\0')
        base = stat("/dev/shm", &st) == 0 ? "/dev/shm" : "/tmp";
    snprintf(dir, sizeof dir, "%s/mq-fuzz-store-XXXXXX", base);
    FCHECK(mkdtemp(dir) != NULL);
    memset(id_long, 'L', sizeof id_long - 1);
    id_long[0] = '/';   /* escaped in the name */
    store_path(id_short, path_short, sizeof path_short);
    store_path(id_long, path_long, sizeof path_long);
    atexit(cleanup);
}

/* A header for @p id: magic, version 1, flags 0, id, crc. */
static size_t
header(uint8_t *h, const char *id)
{
    size_t n = strlen(id);

    memcpy(h, "LIBMQST", 8);
    put32(h + 8, 1);
    put32(h + 12, 0);
    put32(h + 16, (uint32_t)n);
    memcpy(h + 20, id, n);
    put32(h + 20 + n, crc32c(0, h, 20 + n));
    return 20 + n + 4;
}

/* Give each record that fits a correct CRC (crc over the body, continued
 * over the 16 header bytes before the crc field). */
static void
fix_crcs(uint8_t *f, size_t hdr, size_t size)
{
    size_t off = hdr;

    while (size - off >= 20) {
        uint32_t len = get32(f + off + 4);

        if (len > size - off - 20)
            break;
        put32(f + off + 16,
              crc32c(crc32c(0, f + off + 20, len), f + off, 16));
        off += 20 + (size_t)len;
    }
}

/* What a recovered record held, to compare after a reopen. */
typedef struct seen {
    uint64_t seq;
    uint8_t qos, retain, state;
    uint16_t pid;
    uint8_t *data; /* topic | payload | props */
    size_t tl, pl, xl;
} seen;

typedef struct recov {
    seen r[MAX_RECS];
    size_t n;
    uint64_t last;
    size_t total;
} recov;

static int
on_rec(void *ud, const mqi_store_rec *r)
{
    recov *v = ud;
    seen *s;

    FCHECK(r->qos == 1 || r->qos == 2);
    FCHECK(r->retain <= 1);
    FCHECK(r->state == MQI_ST_PUBLISH || r->state == MQI_ST_PUBREL);
    FCHECK(r->seq > v->last);
    FCHECK(r->topic_len == 0 || r->topic != NULL);
    v->last = r->seq;
    v->total++;
    if (v->n == MAX_RECS)
        return 0;
    s = &v->r[v->n++];
    s->seq = r->seq;
    s->qos = r->qos;
    s->retain = r->retain;
    s->state = r->state;
    s->pid = r->packet_id;
    s->tl = r->topic_len;
    s->pl = r->payload_len;
    s->xl = r->props_len;
    s->data = malloc(s->tl + s->pl + s->xl + 1);
    FCHECK(s->data != NULL);
    /* reading every byte lets ASan check the lengths */
    memcpy(s->data, r->topic, s->tl);
    memcpy(s->data + s->tl, r->payload, s->pl);
    memcpy(s->data + s->tl + s->pl, r->props, s->xl);
    return 0;
}

static void
recov_free(recov *v)
{
    for (size_t i = 0; i < v->n; i++)
        free(v->r[i].data);
}

static bool
same(const seen *a, const seen *b)
{
    return a->seq == b->seq && a->qos == b->qos && a->retain == b->retain &&
           a->state == b->state && a->pid == b->pid && a->tl == b->tl &&
           a->pl == b->pl && a->xl == b->xl &&
           memcmp(a->data, b->data, a->tl + a->pl + a->xl) == 0;
}

static uint8_t *
read_file(const char *p, size_t *n)
{
    FILE *f = fopen(p, "rb");
    uint8_t *b;
    long k;

    FCHECK(f != NULL);
    fseek(f, 0, SEEK_END);
    k = ftell(f);
    fseek(f, 0, SEEK_SET);
    b = malloc(k > 0 ? (size_t)k : 1);
    FCHECK(b != NULL);
    FCHECK(fread(b, 1, (size_t)k, f) == (size_t)k);
    fclose(f);
    *n = (size_t)k;
    return b;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static recov a, b;
    uint8_t flags, *file;
    const char *id, *path;
    size_t fsize, hdr = 0, bad = 0, bad2 = 0, got;
    mqi_store *s = NULL;
    char err[256];
    int fd, rc;
    bool added;

    if (size < 1 || size > (1u << 20))
        return 0;
    init_once();
    flags = data[0];
    id = (flags & 4) ? id_long : id_short;
    path = (flags & 4) ? path_long : path_short;

    file = malloc(size + 400);
    FCHECK(file != NULL);
    if (flags & 1)
        hdr = header(file, (flags & 8) ? "fz-other" : id);
    memcpy(file + hdr, data + 1, size - 1);
    fsize = hdr + size - 1;
    if (flags & 2)
        fix_crcs(file, hdr, fsize);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    FCHECK(fd >= 0);
    FCHECK(write(fd, file, fsize) == (ssize_t)fsize);
    close(fd);

    err[0] = '\0';
    rc = mqi_store_open(dir, id, MQI_SYNC_NONE, &s, err, sizeof err);
    FCHECK(rc == MQ_OK || rc == MQ_ERR_PERSIST || rc == MQ_ERR_NOMEM);
    if (rc != MQ_OK) {
        uint8_t *now;

        FCHECK(s == NULL);
        if (rc == MQ_ERR_PERSIST) {
            /* refused: a message, and the file exactly as it was */
            FCHECK(err[0] != '\0');
            now = read_file(path, &got);
            FCHECK(got == fsize && memcmp(now, file, fsize) == 0);
            free(now);
        }
        goto out;
    }
    if ((flags & 9) == 9)
        FCHECK(0 && "opened a store whose header names another id");

    memset(&a, 0, sizeof a);
    FCHECK(mqi_store_recover(s, on_rec, &a, &bad) == MQ_OK);
    FCHECK(a.total == mqi_store_live(s));
    FCHECK(bad <= fsize);
    /* Either a sound header and a cut tail, or garbage replaced whole. */
    FCHECK(mqi_store_file_size(s) + bad == fsize ||
           (bad == fsize && mqi_store_file_size(s) == 24 + strlen(id)));

    /* Remove the first, move the second to PUBREL, add one. */
    {
        mqi_store_rec r;
        uint64_t seq = 0;
        static const char topic[] = "fuzz/new";
        static const uint8_t pay[] = "payload";

        if (a.n > 0) {
            FCHECK(mqi_store_remove(s, a.r[0].seq) == MQ_OK);
        }
        if (a.n > 1) {
            FCHECK(mqi_store_update(s, a.r[1].seq, MQI_ST_PUBREL, 7) ==
                   MQ_OK);
            a.r[1].state = MQI_ST_PUBREL;
            a.r[1].pid = 7;
        }
        memset(&r, 0, sizeof r);
        r.qos = 2;
        r.topic = topic;
        r.topic_len = sizeof topic - 1;
        r.payload = pay;
        r.payload_len = sizeof pay - 1;
        rc = mqi_store_add(s, &r, &seq);
        /* PERSIST: the log's seqs are used up (a damaged huge seq) */
        FCHECK(rc == MQ_OK || rc == MQ_ERR_PERSIST);
        FCHECK(rc != MQ_OK || a.total == 0 || seq > a.last);
        added = rc == MQ_OK;
    }
    mqi_store_close(s);
    s = NULL;

    FCHECK(mqi_store_open(dir, id, MQI_SYNC_NONE, &s, err, sizeof err) ==
           MQ_OK);
    memset(&b, 0, sizeof b);
    FCHECK(mqi_store_recover(s, on_rec, &b, &bad2) == MQ_OK);
    FCHECK(bad2 == 0);
    FCHECK(b.total == a.total + added - (a.total > 0 ? 1 : 0));
    if (a.total == a.n) {
        /* all of them were kept: compare one by one */
        for (size_t i = 1; i < a.n; i++)
            FCHECK(same(&a.r[i], &b.r[i - 1]));
        FCHECK(!added || (b.n >= 1 && b.r[b.n - 1].tl == 8 &&
                          memcmp(b.r[b.n - 1].data, "fuzz/new", 8) == 0));
    }
    mqi_store_close(s);
    recov_free(&b);
out:
    recov_free(&a);
    memset(&a, 0, sizeof a);
    unlink(path);
    free(file);
    return 0;
}
