/*
 * test_store.c - unit tests for the persistence store (store.c): round
 * trips, order, reopen, torn and corrupt files, garbage, compaction,
 * locking, odd client ids, concurrent adds and the three sync policies.
 *
 * Threading: Criterion runs each test in its own process; one test starts
 * its own adder threads. Every test works in its own mkdtemp directory.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mq.h"
#include "store.h"

/* ---- helpers ---------------------------------------------------------- */

static char tdir[64];

static void
mk_dir(void)
{
    strcpy(tdir, "/tmp/mqstore-XXXXXX");
    cr_assert_not_null(mkdtemp(tdir));
}

static void
rm_dir(void)
{
    DIR *d = opendir(tdir);
    struct dirent *de;
    char p[512];

    if (d == NULL)
        return;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof p, "%s/%s", tdir, de->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(tdir);
}

TestSuite(store, .init = mk_dir, .fini = rm_dir);

static int
count_files(void)
{
    DIR *d = opendir(tdir);
    struct dirent *de;
    int n = 0;

    cr_assert_not_null(d);
    while ((de = readdir(d)) != NULL)
        if (de->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

/* Path of the only store file in tdir. */
static void
store_path(char *out, size_t n)
{
    DIR *d = opendir(tdir);
    struct dirent *de;
    int found = 0;

    cr_assert_not_null(d);
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        if (l > 4 && strcmp(de->d_name + l - 4, ".mqs") == 0) {
            snprintf(out, n, "%s/%s", tdir, de->d_name);
            found++;
        }
    }
    closedir(d);
    cr_assert_eq(found, 1, "expected one store file, found %d", found);
}

static off_t
fsize(const char *p)
{
    struct stat st;
    cr_assert_eq(stat(p, &st), 0);
    return st.st_size;
}

static mqi_store *
xopen(const char *id, int policy)
{
    mqi_store *s = NULL;
    char err[256];
    int rc = mqi_store_open(tdir, id, policy, &s, err, sizeof err);

    cr_assert_eq(rc, MQ_OK, "open: %d %s", rc, err);
    cr_assert_not_null(s);
    return s;
}

typedef struct got {
    uint64_t seq;
    uint8_t qos, retain, state;
    uint16_t pid;
    char topic[64];
    size_t topic_len;
    uint8_t *payload;
    size_t payload_len;
    uint8_t props[32];
    size_t props_len;
    uint64_t tag;
} got;

typedef struct gotv {
    got *v;
    size_t n, cap;
    size_t stop_after; /* 0 = never */
} gotv;

static int
collect(void *ud, const mqi_store_rec *r)
{
    gotv *g = ud;
    got *x;

    if (g->n == g->cap) {
        g->cap = g->cap ? g->cap * 2 : 64;
        g->v = realloc(g->v, g->cap * sizeof *g->v);
        cr_assert_not_null(g->v);
    }
    x = &g->v[g->n++];
    memset(x, 0, sizeof *x);
    x->seq = r->seq;
    x->qos = r->qos;
    x->retain = r->retain;
    x->state = r->state;
    x->pid = r->packet_id;
    cr_assert_lt(r->topic_len, sizeof x->topic);
    memcpy(x->topic, r->topic, r->topic_len);
    x->topic_len = r->topic_len;
    x->payload = malloc(r->payload_len + 1);
    memcpy(x->payload, r->payload, r->payload_len);
    x->payload_len = r->payload_len;
    cr_assert_leq(r->props_len, sizeof x->props);
    memcpy(x->props, r->props, r->props_len);
    x->props_len = r->props_len;
    x->tag = r->tag;
    return g->stop_after != 0 && g->n >= g->stop_after;
}

static void
gotv_free(gotv *g)
{
    for (size_t i = 0; i < g->n; i++)
        free(g->v[i].payload);
    free(g->v);
    memset(g, 0, sizeof *g);
}

static size_t
recover_all(mqi_store *s, gotv *g)
{
    size_t bad = 12345;
    cr_assert_eq(mqi_store_recover(s, collect, g, &bad), MQ_OK);
    return bad;
}

/* Payload i: deterministic bytes of length len. */
static void
fill(uint8_t *p, size_t len, unsigned i)
{
    for (size_t k = 0; k < len; k++)
        p[k] = (uint8_t)(i * 31u + k * 7u + (k >> 8));
}

static uint64_t
add_n(mqi_store *s, unsigned i, size_t len)
{
    uint8_t *p = malloc(len + 1);
    char topic[32];
    mqi_store_rec r = {0};
    uint64_t seq = 0;

    fill(p, len, i);
    snprintf(topic, sizeof topic, "t/%u", i);
    r.qos = (uint8_t)(1 + i % 2);
    r.retain = (uint8_t)(i % 3 == 0);
    r.topic = topic;
    r.topic_len = strlen(topic);
    r.payload = p;
    r.payload_len = len;
    cr_assert_eq(mqi_store_add(s, &r, &seq), MQ_OK);
    cr_assert_gt(seq, 0);
    free(p);
    return seq;
}

static void
check_n(const got *x, unsigned i, size_t len)
{
    char topic[32];
    uint8_t *p = malloc(len + 1);

    snprintf(topic, sizeof topic, "t/%u", i);
    cr_assert_eq(x->topic_len, strlen(topic));
    cr_assert_eq(memcmp(x->topic, topic, x->topic_len), 0);
    cr_assert_eq(x->qos, 1 + i % 2);
    cr_assert_eq(x->retain, i % 3 == 0);
    cr_assert_eq(x->payload_len, len);
    fill(p, len, i);
    cr_assert_eq(memcmp(x->payload, p, len), 0, "payload %u differs", i);
    free(p);
}

static void
write_file(const char *p, const void *data, size_t n)
{
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, data, n), (ssize_t)n);
    close(fd);
}

static void
patch_byte(const char *p, off_t off, uint8_t xor)
{
    int fd = open(p, O_RDWR);
    uint8_t b;
    cr_assert_geq(fd, 0);
    cr_assert_eq(pread(fd, &b, 1, off), 1);
    b ^= xor;
    cr_assert_eq(pwrite(fd, &b, 1, off), 1);
    close(fd);
}

/* ---- round trips ------------------------------------------------------- */

Test(store, add_update_remove_recover_round_trip)
{
    mqi_store *s = xopen("client-1", MQI_SYNC_ALWAYS);
    static const uint8_t props[] = {0x01, 0x01, 0x23, 0x00, 0x02, 'a', 'b'};
    mqi_store_rec r = {0};
    uint64_t a, b, c;
    gotv g = {0};

    cr_assert_eq(mqi_store_live(s), 0);
    r.qos = 2;
    r.retain = 1;
    r.topic = "x/y";
    r.topic_len = 3;
    r.payload = (const uint8_t *)"hello\0world";
    r.payload_len = 11;
    r.props = props;
    r.props_len = sizeof props;
    cr_assert_eq(mqi_store_add(s, &r, &a), MQ_OK);
    r.qos = 1;
    r.retain = 0;
    r.payload_len = 0;
    r.payload = NULL;
    r.props = NULL;
    r.props_len = 0;
    cr_assert_eq(mqi_store_add(s, &r, &b), MQ_OK);
    cr_assert_eq(mqi_store_add(s, &r, &c), MQ_OK);
    cr_assert(a < b && b < c);
    cr_assert_eq(mqi_store_live(s), 3);
    cr_assert_eq(mqi_store_update(s, a, MQI_ST_PUBREL, 77), MQ_OK);
    cr_assert_eq(mqi_store_update(s, c, MQI_ST_PUBLISH, 9), MQ_OK);
    cr_assert_eq(mqi_store_remove(s, b), MQ_OK);
    cr_assert_eq(mqi_store_live(s), 2);
    mqi_store_close(s);

    s = xopen("client-1", MQI_SYNC_ALWAYS);
    cr_assert_eq(mqi_store_live(s), 2);
    cr_assert_eq(recover_all(s, &g), 0);
    cr_assert_eq(g.n, 2);
    cr_assert_eq(g.v[0].seq, a);
    cr_assert_eq(g.v[0].qos, 2);
    cr_assert_eq(g.v[0].retain, 1);
    cr_assert_eq(g.v[0].state, MQI_ST_PUBREL);
    cr_assert_eq(g.v[0].pid, 77);
    cr_assert_eq(g.v[0].topic_len, 3);
    cr_assert_eq(memcmp(g.v[0].topic, "x/y", 3), 0);
    cr_assert_eq(g.v[0].payload_len, 11);
    cr_assert_eq(memcmp(g.v[0].payload, "hello\0world", 11), 0);
    cr_assert_eq(g.v[0].props_len, sizeof props);
    cr_assert_eq(memcmp(g.v[0].props, props, sizeof props), 0);
    cr_assert_eq(g.v[1].seq, c);
    cr_assert_eq(g.v[1].qos, 1);
    cr_assert_eq(g.v[1].state, MQI_ST_PUBLISH);
    cr_assert_eq(g.v[1].pid, 9);
    cr_assert_eq(g.v[1].payload_len, 0);
    /* New seqs continue above the recovered ones. */
    uint64_t d = add_n(s, 1, 10);
    cr_assert_gt(d, c);
    gotv_free(&g);
    mqi_store_close(s);
}

Test(store, bad_arguments_and_unknown_seqs)
{
    mqi_store *s = NULL;
    mqi_store_rec r = {0};
    uint64_t seq = 99;
    char err[128];

    cr_assert_eq(mqi_store_open(NULL, "a", 0, &s, err, sizeof err),
                 MQ_ERR_INVAL);
    cr_assert_eq(mqi_store_open(tdir, NULL, 0, &s, err, sizeof err),
                 MQ_ERR_INVAL);
    cr_assert_eq(mqi_store_open(tdir, "a", 7, &s, err, sizeof err),
                 MQ_ERR_INVAL);
    cr_assert_eq(mqi_store_open(tdir, "a", 0, NULL, NULL, 0), MQ_ERR_INVAL);
    s = xopen("a", MQI_SYNC_NONE);
    r.qos = 0;
    cr_assert_eq(mqi_store_add(s, &r, &seq), MQ_ERR_INVAL);
    cr_assert_eq(seq, 0);
    r.qos = 1;
    r.payload_len = 5; /* NULL payload */
    cr_assert_eq(mqi_store_add(s, &r, &seq), MQ_ERR_INVAL);
    cr_assert_eq(mqi_store_add(s, NULL, &seq), MQ_ERR_INVAL);
    r.payload_len = 0;
    cr_assert_eq(mqi_store_add(s, &r, NULL), MQ_OK); /* empty topic ok */
    cr_assert_eq(mqi_store_remove(s, 12345), MQ_ERR_NOT_FOUND);
    cr_assert_eq(mqi_store_update(s, 12345, MQI_ST_PUBREL, 1),
                 MQ_ERR_NOT_FOUND);
    cr_assert_eq(mqi_store_update(s, 1, 5, 1), MQ_ERR_INVAL);
    cr_assert_eq(mqi_store_remove(s, 1), MQ_OK);
    cr_assert_eq(mqi_store_remove(s, 1), MQ_ERR_NOT_FOUND);
    cr_assert_eq(mqi_store_recover(NULL, collect, NULL, NULL), MQ_ERR_INVAL);
    cr_assert_eq(mqi_store_live(NULL), 0);
    cr_assert_eq(mqi_store_file_size(NULL), 0);
    cr_assert_eq(mqi_store_tick(NULL, 0), -1);
    mqi_store_close(NULL);
    mqi_store_close(s);
}

Test(store, order_preserved_across_reopen)
{
    mqi_store *s = xopen("order", MQI_SYNC_NONE);
    uint64_t seq[1000];
    gotv g = {0};
    size_t k = 0;

    for (unsigned i = 0; i < 1000; i++)
        seq[i] = add_n(s, i, i % 50);
    for (unsigned i = 0; i < 1000; i += 3)
        cr_assert_eq(mqi_store_remove(s, seq[i]), MQ_OK);
    mqi_store_close(s);

    s = xopen("order", MQI_SYNC_NONE);
    cr_assert_eq(recover_all(s, &g), 0);
    cr_assert_eq(g.n, 666);
    for (unsigned i = 0; i < 1000; i++) {
        if (i % 3 == 0)
            continue;
        cr_assert_eq(g.v[k].seq, seq[i]);
        check_n(&g.v[k], i, i % 50);
        k++;
    }
    gotv_free(&g);
    mqi_store_close(s);
}

Test(store, reopen_many_times_keeps_growing_set)
{
    uint64_t last = 0;

    for (unsigned round = 0; round < 5; round++) {
        mqi_store *s = xopen("reopen", MQI_SYNC_BATCH);
        gotv g = {0};
        cr_assert_eq(recover_all(s, &g), 0);
        cr_assert_eq(g.n, round * 10);
        for (size_t i = 0; i < g.n; i++) {
            check_n(&g.v[i], (unsigned)i, 100);
            if (i > 0)
                cr_assert_gt(g.v[i].seq, g.v[i - 1].seq);
        }
        for (unsigned i = 0; i < 10; i++) {
            uint64_t q = add_n(s, round * 10 + i, 100);
            cr_assert_gt(q, last);
            last = q;
        }
        gotv_free(&g);
        mqi_store_close(s);
    }
}

Test(store, recover_stop_and_replay_twice)
{
    mqi_store *s = xopen("stop", MQI_SYNC_NONE);
    gotv g = {.stop_after = 3};

    for (unsigned i = 0; i < 10; i++)
        add_n(s, i, 10);
    cr_assert_eq(recover_all(s, &g), 0);
    cr_assert_eq(g.n, 3);
    gotv_free(&g);
    cr_assert_eq(recover_all(s, &g), 0);
    cr_assert_eq(g.n, 10);
    gotv_free(&g);
    cr_assert_eq(mqi_store_recover(s, NULL, NULL, NULL), MQ_OK);
    mqi_store_close(s);
}

/* The callback may call back into the store (drop a message), even when
 * that compacts the file under the replay. */
typedef struct dropper {
    mqi_store *s;
    gotv kept;
    uint64_t size_before;
    bool compacted;
} dropper;

static int
drop_most(void *ud, const mqi_store_rec *r)
{
    dropper *d = ud;
    if (r->seq % 10 != 0) {
        uint64_t before = mqi_store_file_size(d->s);
        cr_assert_eq(mqi_store_remove(d->s, r->seq), MQ_OK);
        if (mqi_store_file_size(d->s) < before)
            d->compacted = true;
        return 0;
    }
    return collect(&d->kept, r);
}

Test(store, callback_may_remove_and_compact)
{
    dropper d = {0};
    size_t bad;

    d.s = xopen("cbrm", MQI_SYNC_NONE);
    for (unsigned i = 0; i < 600; i++)
        cr_assert_eq(add_n(d.s, i, 4000), i + 1);
    cr_assert_eq(mqi_store_recover(d.s, drop_most, &d, &bad), MQ_OK);
    cr_assert(d.compacted);
    cr_assert_eq(mqi_store_live(d.s), 60);
    cr_assert_eq(d.kept.n, 60);
    for (unsigned k = 0; k < 60; k++) {
        cr_assert_eq(d.kept.v[k].seq, 10u * (k + 1));
        check_n(&d.kept.v[k], 10u * (k + 1) - 1, 4000);
    }
    gotv_free(&d.kept);
    mqi_store_close(d.s);
}

/* ---- damaged files ----------------------------------------------------- */

Test(store, torn_last_record_keeps_the_rest)
{
    char p[512];
    mqi_store *s = xopen("torn", MQI_SYNC_ALWAYS);
    off_t before_last, full;
    gotv g = {0};

    for (unsigned i = 0; i < 9; i++)
        add_n(s, i, 300);
    before_last = (off_t)mqi_store_file_size(s);
    add_n(s, 9, 300);
    full = (off_t)mqi_store_file_size(s);
    mqi_store_close(s);
    store_path(p, sizeof p);
    cr_assert_eq(fsize(p), full);
    cr_assert_eq(truncate(p, full - 3), 0);

    s = xopen("torn", MQI_SYNC_ALWAYS);
    cr_assert_eq(recover_all(s, &g), (size_t)(full - 3 - before_last));
    cr_assert_eq(g.n, 9);
    for (unsigned i = 0; i < 9; i++)
        check_n(&g.v[i], i, 300);
    cr_assert_eq(fsize(p), before_last);
    cr_assert_eq(mqi_store_file_size(s), (uint64_t)before_last);
    add_n(s, 100, 5); /* appends after the cut */
    gotv_free(&g);
    mqi_store_close(s);

    s = xopen("torn", MQI_SYNC_ALWAYS);
    cr_assert_eq(recover_all(s, &g), 0);
    cr_assert_eq(g.n, 10);
    check_n(&g.v[9], 100, 5);
    gotv_free(&g);
    mqi_store_close(s);
}

Test(store, torn_inside_record_header)
{
    char p[512];
    mqi_store *s = xopen("torn2", MQI_SYNC_NONE);
    off_t before_last;
    gotv g = {0};

    for (unsigned i = 0; i < 3; i++)
        add_n(s, i, 50);
    before_last = (off_t)mqi_store_file_size(s);
    add_n(s, 3, 50);
    mqi_store_close(s);
    store_path(p, sizeof p);
    cr_assert_eq(truncate(p, before_last + 7), 0);
    s = xopen("torn2", MQI_SYNC_NONE);
    cr_assert_eq(recover_all(s, &g), 7);
    cr_assert_eq(g.n, 3);
    gotv_free(&g);
    mqi_store_close(s);
}

Test(store, flipped_byte_in_the_middle_keeps_records_before)
{
    char p[512];
    mqi_store *s = xopen("flip", MQI_SYNC_NONE);
    uint64_t off[11];
    gotv g = {0};

    for (unsigned i = 0; i < 10; i++) {
        off[i] = mqi_store_file_size(s);
        add_n(s, i, 200);
    }
    off[10] = mqi_store_file_size(s);
    mqi_store_close(s);
    store_path(p, sizeof p);
    /* A payload byte of record 5. */
    patch_byte(p, (off_t)(off[5] + 100), 0x40);

    s = xopen("flip", MQI_SYNC_NONE);
    cr_assert_eq(recover_all(s, &g), off[10] - off[5]);
    cr_assert_eq(g.n, 5);
    for (unsigned i = 0; i < 5; i++)
        check_n(&g.v[i], i, 200);
    cr_assert_eq(fsize(p), (off_t)off[5]);
    gotv_free(&g);
    mqi_store_close(s);
}

Test(store, absurd_length_field_is_rejected)
{
    char p[512];
    mqi_store *s = xopen("len", MQI_SYNC_NONE);
    uint64_t off1, end;
    gotv g = {0};

    add_n(s, 0, 10);
    off1 = mqi_store_file_size(s);
    add_n(s, 1, 10);
    end = mqi_store_file_size(s);
    mqi_store_close(s);
    store_path(p, sizeof p);
    /* Body length lives at record offset 4: make it 0xF0xxxxxx. */
    patch_byte(p, (off_t)(off1 + 7), 0xF0);
    s = xopen("len", MQI_SYNC_NONE);
    cr_assert_eq(recover_all(s, &g), end - off1);
    cr_assert_eq(g.n, 1);
    gotv_free(&g);
    mqi_store_close(s);
}

Test(store, garbage_file_is_replaced)
{
    char p[512];
    uint8_t junk[4096];
    mqi_store *s = xopen("junk", MQI_SYNC_NONE);
    gotv g = {0};

    mqi_store_close(s);
    store_path(p, sizeof p);
    srand(7);
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (uint8_t)rand();
    write_file(p, junk, sizeof junk);

    s = xopen("junk", MQI_SYNC_NONE);
    cr_assert_eq(recover_all(s, &g), sizeof junk);
    cr_assert_eq(g.n, 0);
    add_n(s, 1, 10);
    mqi_store_close(s);
    s = xopen("junk", MQI_SYNC_NONE);
    cr_assert_eq(recover_all(s, &g), 0);
    cr_assert_eq(g.n, 1);
    check_n(&g.v[0], 1, 10);
    gotv_free(&g);
    mqi_store_close(s);
}

Test(store, empty_file_and_header_only)
{
    char p[512];
    mqi_store *s = xopen("hdr", MQI_SYNC_NONE);
    off_t hdr;
    gotv g = {0};

    hdr = (off_t)mqi_store_file_size(s);
    cr_assert_gt(hdr, 0);
    mqi_store_close(s);
    store_path(p, sizeof p);
    cr_assert_eq(fsize(p), hdr);

    /* Header only. */
    s = xopen("hdr", MQI_SYNC_NONE);
    cr_assert_eq(recover_all(s, &g), 0);
    cr_assert_eq(g.n, 0);
    mqi_store_close(s);

    /* Empty file (crash right after creation). */
    cr_assert_eq(truncate(p, 0), 0);
    s = xopen("hdr", MQI_SYNC_NONE);
    cr_assert_eq(recover_all(s, &g), 0);
    cr_assert_eq(mqi_store_file_size(s), (uint64_t)hdr);
    mqi_store_close(s);

    /* Header torn at creation. */
    cr_assert_eq(truncate(p, hdr - 1), 0);
    s = xopen("hdr", MQI_SYNC_NONE);
    cr_assert_eq(recover_all(s, &g), (size_t)(hdr - 1));
    cr_assert_eq(g.n, 0);
    mqi_store_close(s);
    cr_assert_eq(fsize(p), hdr);

    /* Header with a bad checksum. */
    patch_byte(p, hdr - 6, 0x01);
    s = xopen("hdr", MQI_SYNC_NONE);
    cr_assert_eq(recover_all(s, &g), (size_t)hdr);
    mqi_store_close(s);
}

Test(store, future_format_version_is_refused_and_kept)
{
    char p[512], err[256];
    mqi_store *s = xopen("ver", MQI_SYNC_NONE);
    off_t sz;

    add_n(s, 1, 10);
    mqi_store_close(s);
    store_path(p, sizeof p);
    sz = fsize(p);
    patch_byte(p, 8, 0x03); /* version 1 -> 2 */
    s = NULL;
    cr_assert_eq(mqi_store_open(tdir, "ver", MQI_SYNC_NONE, &s, err,
                                sizeof err), MQ_ERR_PERSIST);
    cr_assert_null(s);
    cr_assert_neq(strstr(err, "version"), NULL, "err: %s", err);
    cr_assert_eq(fsize(p), sz);
}

/* Random damage (flips and cuts) to a file of N equal records: recovery
 * never crashes and returns exactly an intact prefix. */
Test(store, random_damage_returns_a_prefix)
{
    char p[512], cp[600];
    uint64_t off[41];
    mqi_store *s = xopen("fuzz", MQI_SYNC_NONE);
    uint8_t *orig;
    off_t sz;
    int fd;

    for (unsigned i = 0; i < 40; i++) {
        off[i] = mqi_store_file_size(s);
        add_n(s, i, 37 + i);
    }
    off[40] = mqi_store_file_size(s);
    mqi_store_close(s);
    store_path(p, sizeof p);
    sz = fsize(p);
    orig = malloc((size_t)sz);
    fd = open(p, O_RDONLY);
    cr_assert_eq(read(fd, orig, (size_t)sz), sz);
    close(fd);
    snprintf(cp, sizeof cp, "%s", p);
    srand(12345);
    for (int it = 0; it < 400; it++) {
        off_t pos = rand() % sz;
        gotv g = {0};
        size_t bad;
        unsigned want = 0;

        write_file(cp, orig, (size_t)sz);
        if (it % 2 == 0)
            patch_byte(cp, pos, (uint8_t)(1u << (rand() % 8)));
        else
            cr_assert_eq(truncate(cp, pos), 0);
        s = xopen("fuzz", MQI_SYNC_NONE);
        bad = recover_all(s, &g);
        while (want < 40 && off[want + 1] <= (uint64_t)pos)
            want++;
        if ((uint64_t)pos < off[0])
            want = 0; /* header hit: starts over */
        cr_assert_eq(g.n, want, "it %d pos %ld", it, (long)pos);
        for (size_t i = 0; i < g.n; i++)
            check_n(&g.v[i], (unsigned)i, 37 + i);
        if ((uint64_t)pos >= off[0])
            cr_assert_eq(bad, (it % 2 ? (uint64_t)pos : (uint64_t)sz) -
                                  off[want]);
        gotv_free(&g);
        mqi_store_close(s);
    }
    free(orig);
}

/* ---- file format (independent CRC and encoder) -------------------------- */

static uint32_t
ref_crc32c(uint32_t crc, const void *data, size_t n)
{
    const uint8_t *p = data;
    crc = ~crc;
    while (n--) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++)
            crc = (crc & 1) ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
    }
    return ~crc;
}

static size_t
le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
    return (size_t)n;
}

static size_t
ref_record(uint8_t *o, unsigned type, uint64_t seq, const uint8_t *body,
           uint32_t blen)
{
    size_t k = 0;
    o[k++] = 0xD5;
    o[k++] = (uint8_t)type;
    k += le(o + k, 0, 2);
    k += le(o + k, blen, 4);
    k += le(o + k, seq, 8);
    k += le(o + k, ref_crc32c(ref_crc32c(0, body, blen), o, 16), 4);
    if (blen > 0)
        memcpy(o + k, body, blen);
    return k + blen;
}

Test(store, reads_the_documented_format)
{
    char p[512];
    uint8_t f[512], body[64];
    size_t k = 0, b;
    mqi_store *s = xopen("fmt", MQI_SYNC_NONE);
    gotv g = {0};

    cr_assert_eq(ref_crc32c(0, "123456789", 9), 0xE3069283u);
    mqi_store_close(s);
    store_path(p, sizeof p);

    memcpy(f, "LIBMQST", 8);
    k = 8;
    k += le(f + k, 1, 4);
    k += le(f + k, 0, 4);
    k += le(f + k, 3, 4);
    memcpy(f + k, "fmt", 3);
    k += 3;
    k += le(f + k, ref_crc32c(0, f, k), 4);
    /* ADD seq 5: qos 2, retain 0, state 0, pid 0, topic "ab", payload
     * "xyz", no props. */
    b = 0;
    body[b++] = 2;
    body[b++] = 0;
    body[b++] = 0;
    body[b++] = 0;
    b += le(body + b, 0, 4);
    b += le(body + b, 2, 4);
    b += le(body + b, 3, 4);
    b += le(body + b, 0, 4);
    memcpy(body + b, "abxyz", 5);
    b += 5;
    k += ref_record(f + k, 1, 5, body, (uint32_t)b);
    body[0] = 1; /* ADD seq 6 with qos 1 */
    k += ref_record(f + k, 1, 6, body, (uint32_t)b);
    /* UPDATE seq 5 -> PUBREL, pid 0x1234; REMOVE seq 6. */
    uint8_t ub[4] = {1, 0, 0x34, 0x12};
    k += ref_record(f + k, 2, 5, ub, 4);
    k += ref_record(f + k, 3, 6, NULL, 0);
    write_file(p, f, k);

    s = xopen("fmt", MQI_SYNC_NONE);
    cr_assert_eq(recover_all(s, &g), 0);
    cr_assert_eq(g.n, 1);
    cr_assert_eq(g.v[0].seq, 5);
    cr_assert_eq(g.v[0].qos, 2);
    cr_assert_eq(g.v[0].state, MQI_ST_PUBREL);
    cr_assert_eq(g.v[0].pid, 0x1234);
    cr_assert_eq(g.v[0].topic_len, 2);
    cr_assert_eq(memcmp(g.v[0].topic, "ab", 2), 0);
    cr_assert_eq(g.v[0].payload_len, 3);
    cr_assert_eq(memcmp(g.v[0].payload, "xyz", 3), 0);
    cr_assert_eq(add_n(s, 1, 1), 7); /* after the highest seq seen */
    gotv_free(&g);
    mqi_store_close(s);
}

/* ---- compaction ---------------------------------------------------------- */

Test(store, compaction_keeps_live_records_and_shrinks)
{
    char p[512];
    mqi_store *s = xopen("compact", MQI_SYNC_NONE);
    uint64_t seq[600], peak = 0;
    gotv g = {0};

    for (unsigned i = 0; i < 600; i++)
        seq[i] = add_n(s, i, 4000);
    cr_assert_gt(mqi_store_file_size(s), 2u * 1024 * 1024);
    cr_assert_eq(mqi_store_update(s, seq[590], MQI_ST_PUBREL, 590), MQ_OK);
    cr_assert_eq(mqi_store_update(s, seq[595], MQI_ST_PUBLISH, 595), MQ_OK);
    for (unsigned i = 0; i < 590; i++) {
        cr_assert_eq(mqi_store_remove(s, seq[i]), MQ_OK);
        if (mqi_store_file_size(s) > peak)
            peak = mqi_store_file_size(s);
    }
    cr_assert_eq(mqi_store_live(s), 10);
    cr_assert_lt(mqi_store_file_size(s), 1024 * 1024,
                 "size %llu", (unsigned long long)mqi_store_file_size(s));
    store_path(p, sizeof p);
    cr_assert_eq(count_files(), 1); /* no temp file left */
    cr_assert_eq(fsize(p), (off_t)mqi_store_file_size(s));
    /* Still appendable after the swap. */
    uint64_t extra = add_n(s, 1000, 10);
    cr_assert_gt(extra, seq[599]);
    cr_assert_eq(mqi_store_remove(s, seq[591]), MQ_OK);
    cr_assert_eq(mqi_store_update(s, seq[592], MQI_ST_PUBREL, 5), MQ_OK);
    mqi_store_close(s);

    s = xopen("compact", MQI_SYNC_NONE);
    cr_assert_eq(recover_all(s, &g), 0);
    cr_assert_eq(g.n, 10);
    size_t k = 0;
    for (unsigned i = 590; i < 600; i++) {
        if (i == 591)
            continue;
        cr_assert_eq(g.v[k].seq, seq[i]);
        check_n(&g.v[k], i, 4000);
        if (i == 590) {
            cr_assert_eq(g.v[k].state, MQI_ST_PUBREL);
            cr_assert_eq(g.v[k].pid, 590);
        } else if (i == 592) {
            cr_assert_eq(g.v[k].state, MQI_ST_PUBREL);
            cr_assert_eq(g.v[k].pid, 5);
        } else if (i == 595) {
            cr_assert_eq(g.v[k].pid, 595);
        }
        k++;
    }
    cr_assert_eq(g.v[9].seq, extra);
    check_n(&g.v[9], 1000, 10);
    gotv_free(&g);
    mqi_store_close(s);
}

Test(store, stays_bounded_under_steady_traffic)
{
    mqi_store *s = xopen("bounded", MQI_SYNC_NONE);
    uint64_t window[20], peak = 0;

    for (unsigned i = 0; i < 20000; i++) {
        if (i >= 20)
            cr_assert_eq(mqi_store_remove(s, window[i % 20]), MQ_OK);
        window[i % 20] = add_n(s, i, 1000);
        cr_assert_eq(mqi_store_update(s, window[i % 20], MQI_ST_PUBLISH,
                                      (uint16_t)i), MQ_OK);
        if (mqi_store_file_size(s) > peak)
            peak = mqi_store_file_size(s);
    }
    cr_assert_lt(peak, 1024 * 1024 + 64 * 1024, "peak %llu",
                 (unsigned long long)peak);
    cr_assert_eq(mqi_store_live(s), 20);
    mqi_store_close(s);
}

Test(store, big_records_survive_compaction)
{
    mqi_store *s = xopen("big", MQI_SYNC_NONE);
    uint64_t a, b;
    gotv g = {0};

    a = add_n(s, 1, 3u * 1024 * 1024);
    b = add_n(s, 2, 10);
    cr_assert_eq(mqi_store_remove(s, a), MQ_OK); /* compacts */
    cr_assert_lt(mqi_store_file_size(s), 4096);
    a = add_n(s, 3, 2u * 1024 * 1024);
    for (unsigned i = 0; i < 3; i++)
        add_n(s, 10 + i, 400u * 1024);
    mqi_store_close(s);
    s = xopen("big", MQI_SYNC_NONE);
    cr_assert_eq(recover_all(s, &g), 0);
    cr_assert_eq(g.n, 5);
    cr_assert_eq(g.v[0].seq, b);
    check_n(&g.v[1], 3, 2u * 1024 * 1024);
    check_n(&g.v[4], 12, 400u * 1024);
    gotv_free(&g);
    mqi_store_close(s);
}

/* ---- locking and names --------------------------------------------------- */

Test(store, second_open_of_same_id_fails)
{
    mqi_store *a = xopen("locked", MQI_SYNC_NONE), *b = NULL, *c;
    char err[256] = "";

    cr_assert_eq(mqi_store_open(tdir, "locked", MQI_SYNC_NONE, &b, err,
                                sizeof err), MQ_ERR_PERSIST);
    cr_assert_null(b);
    cr_assert_neq(err[0], 0);
    c = xopen("other", MQI_SYNC_NONE); /* other ids are independent */
    mqi_store_close(c);
    add_n(a, 1, 10);
    mqi_store_close(a);
    b = xopen("locked", MQI_SYNC_NONE);
    cr_assert_eq(mqi_store_live(b), 1);
    mqi_store_close(b);
}

Test(store, second_open_fails_from_another_process)
{
    mqi_store *a = xopen("locked2", MQI_SYNC_NONE);
    pid_t pid = fork();

    cr_assert_geq(pid, 0);
    if (pid == 0) {
        mqi_store *b = NULL;
        int rc = mqi_store_open(tdir, "locked2", MQI_SYNC_NONE, &b, NULL, 0);
        _exit(rc == MQ_ERR_PERSIST && b == NULL ? 0 : 1);
    }
    int st = 0;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    mqi_store_close(a);
}

Test(store, any_client_id_is_a_safe_file_name)
{
    static char longid[3000], longid2[3000];
    const char *ids[] = {"", "a/b", "../escape", "..", ".", "%41", "A",
                         "a b\t\n", "\xff\xfe\x01", "~x", longid, longid2};
    const size_t n = sizeof ids / sizeof ids[0];

    memset(longid, 'z', sizeof longid - 1);
    memcpy(longid2, longid, sizeof longid2);
    longid2[sizeof longid2 - 2] = 'y'; /* differs only at the end */
    for (size_t i = 0; i < n; i++) {
        mqi_store *s = xopen(ids[i], MQI_SYNC_NONE);
        add_n(s, (unsigned)i, 5);
        mqi_store_close(s);
    }
    cr_assert_eq(count_files(), (int)n);
    for (size_t i = 0; i < n; i++) {
        mqi_store *s = xopen(ids[i], MQI_SYNC_NONE);
        gotv g = {0};
        cr_assert_eq(recover_all(s, &g), 0);
        cr_assert_eq(g.n, 1, "id %zu", i);
        check_n(&g.v[0], (unsigned)i, 5);
        gotv_free(&g);
        mqi_store_close(s);
    }
    /* Nothing escaped the directory. */
    struct stat st;
    char p[512];
    snprintf(p, sizeof p, "%s/../escape", tdir);
    cr_assert_neq(stat(p, &st), 0);
}

Test(store, missing_directory_is_created)
{
    char sub[128];
    mqi_store *s = NULL;

    snprintf(sub, sizeof sub, "%s/sub", tdir);
    cr_assert_eq(mqi_store_open(sub, "x", MQI_SYNC_NONE, &s, NULL, 0),
                 MQ_OK);
    mqi_store_close(s);
    char f[512];
    DIR *d = opendir(sub);
    struct dirent *de;
    cr_assert_not_null(d);
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(f, sizeof f, "%s/%s", sub, de->d_name);
        unlink(f);
    }
    closedir(d);
    rmdir(sub);
}

/* ---- threads and policies ------------------------------------------------ */

#define NTHREADS 8
#define PER_THREAD 1500

typedef struct adder {
    mqi_store *s;
    unsigned t;
    uint64_t seq[PER_THREAD];
} adder;

static void *
adder_main(void *arg)
{
    adder *a = arg;
    for (unsigned i = 0; i < PER_THREAD; i++) {
        uint8_t pl[16];
        char topic[32];
        mqi_store_rec r = {0};
        snprintf(topic, sizeof topic, "%u/%u", a->t, i);
        memset(pl, (int)a->t, sizeof pl);
        r.qos = 1;
        r.topic = topic;
        r.topic_len = strlen(topic);
        r.payload = pl;
        r.payload_len = sizeof pl;
        if (mqi_store_add(a->s, &r, &a->seq[i]) != MQ_OK)
            a->seq[i] = 0;
    }
    return NULL;
}

static void
many_threads(int policy)
{
    static adder ad[NTHREADS];
    pthread_t th[NTHREADS];
    mqi_store *s = xopen("threads", policy);
    gotv g = {0};
    unsigned next[NTHREADS] = {0};

    for (unsigned t = 0; t < NTHREADS; t++) {
        ad[t].s = s;
        ad[t].t = t;
        cr_assert_eq(pthread_create(&th[t], NULL, adder_main, &ad[t]), 0);
    }
    /* The worker side removes while adders run. */
    for (unsigned t = 0; t < NTHREADS; t++)
        pthread_join(th[t], NULL);
    cr_assert_eq(mqi_store_live(s), NTHREADS * PER_THREAD);
    for (unsigned t = 0; t < NTHREADS; t++)
        for (unsigned i = 1; i < PER_THREAD; i++)
            cr_assert_gt(ad[t].seq[i], ad[t].seq[i - 1]);
    mqi_store_close(s);

    s = xopen("threads", policy);
    cr_assert_eq(recover_all(s, &g), 0);
    cr_assert_eq(g.n, NTHREADS * PER_THREAD);
    for (size_t k = 0; k < g.n; k++) {
        unsigned t, i;
        cr_assert_eq(sscanf(g.v[k].topic, "%u/%u", &t, &i), 2);
        cr_assert_lt(t, NTHREADS);
        cr_assert_eq(i, next[t], "thread %u out of order", t);
        cr_assert_eq(g.v[k].seq, ad[t].seq[i]);
        cr_assert_eq(g.v[k].payload[0], t);
        next[t]++;
        if (k > 0)
            cr_assert_gt(g.v[k].seq, g.v[k - 1].seq);
    }
    gotv_free(&g);
    mqi_store_close(s);
}

Test(store, many_threads_adding_batch) { many_threads(MQI_SYNC_BATCH); }
Test(store, many_threads_adding_none) { many_threads(MQI_SYNC_NONE); }
Test(store, many_threads_adding_always, .timeout = 120)
{
    many_threads(MQI_SYNC_ALWAYS);
}

typedef struct churn {
    mqi_store *s;
    volatile int stop;
} churn;

/* Worker-side traffic (remove, update, tick, compaction) concurrent with
 * adders: nothing may be lost or corrupted. */
static void *
remover_main(void *arg)
{
    churn *c = arg;
    int64_t now = 0;
    while (!c->stop) {
        mqi_store_tick(c->s, now += 7);
        usleep(100);
    }
    return NULL;
}

Test(store, adds_race_with_compaction)
{
    static adder ad[NTHREADS];
    pthread_t th[NTHREADS], w;
    mqi_store *s = xopen("race", MQI_SYNC_BATCH);
    churn c = {.s = s};
    uint64_t junk[400];
    gotv g = {0};

    cr_assert_eq(pthread_create(&w, NULL, remover_main, &c), 0);
    for (unsigned t = 0; t < NTHREADS; t++) {
        ad[t].s = s;
        ad[t].t = t;
        cr_assert_eq(pthread_create(&th[t], NULL, adder_main, &ad[t]), 0);
    }
    /* Meanwhile this thread adds big records and removes them, forcing
     * several compactions under the adders' feet. */
    for (int round = 0; round < 4; round++) {
        for (unsigned i = 0; i < 400; i++)
            junk[i] = add_n(s, 100000 + i, 3000);
        for (unsigned i = 0; i < 400; i++)
            cr_assert_eq(mqi_store_remove(s, junk[i]), MQ_OK);
    }
    for (unsigned t = 0; t < NTHREADS; t++)
        pthread_join(th[t], NULL);
    c.stop = 1;
    pthread_join(w, NULL);
    mqi_store_close(s);

    s = xopen("race", MQI_SYNC_BATCH);
    cr_assert_eq(recover_all(s, &g), 0);
    cr_assert_eq(g.n, NTHREADS * PER_THREAD);
    for (size_t k = 1; k < g.n; k++)
        cr_assert_gt(g.v[k].seq, g.v[k - 1].seq);
    gotv_free(&g);
    mqi_store_close(s);
}

Test(store, sync_policies_round_trip_and_tick)
{
    static const int pol[] = {MQI_SYNC_ALWAYS, MQI_SYNC_BATCH,
                              MQI_SYNC_NONE};

    for (int k = 0; k < 3; k++) {
        char id[16];
        mqi_store *s;
        gotv g = {0};
        int w;

        snprintf(id, sizeof id, "pol%d", k);
        s = xopen(id, pol[k]);
        cr_assert_eq(mqi_store_tick(s, 1000), -1); /* clean */
        for (unsigned i = 0; i < 50; i++)
            add_n(s, i, 64);
        w = mqi_store_tick(s, 1000);
        if (pol[k] == MQI_SYNC_NONE) {
            cr_assert_eq(w, -1);
        } else {
            /* ALWAYS: already synced; BATCH: synced now (first tick). */
            cr_assert_eq(w, -1, "policy %d tick %d", pol[k], w);
        }
        if (pol[k] == MQI_SYNC_BATCH) {
            add_n(s, 50, 64);
            w = mqi_store_tick(s, 1010); /* not due: 40 ms left */
            cr_assert_eq(w, 40);
            w = mqi_store_tick(s, 1050); /* due */
            cr_assert_eq(w, -1);
        } else {
            add_n(s, 50, 64);
        }
        mqi_store_close(s);
        s = xopen(id, pol[k]);
        cr_assert_eq(recover_all(s, &g), 0);
        cr_assert_eq(g.n, 51);
        for (unsigned i = 0; i < 51; i++)
            check_n(&g.v[i], i, 64);
        gotv_free(&g);
        mqi_store_close(s);
    }
}

/* ---- leftovers, foreign files, write failures ---------------------------- */

Test(store, stale_compaction_temp_file_is_removed)
{
    char p[512], t[600];
    mqi_store *s = xopen("stale", MQI_SYNC_NONE);
    struct stat st;

    add_n(s, 1, 10);
    mqi_store_close(s);
    store_path(p, sizeof p);
    snprintf(t, sizeof t, "%s.tmp", p);
    write_file(t, "half a compaction", 17);
    s = xopen("stale", MQI_SYNC_NONE);
    cr_assert_neq(stat(t, &st), 0);
    cr_assert_eq(mqi_store_live(s), 1);
    mqi_store_close(s);
}

Test(store, file_of_another_id_is_refused_and_kept)
{
    char pa[512], pb[600], err[256];
    mqi_store *s = xopen("aaa", MQI_SYNC_NONE);
    off_t sz;

    add_n(s, 1, 10);
    mqi_store_close(s);
    store_path(pa, sizeof pa);
    sz = fsize(pa);
    /* Pretend a hashed name collided: put aaa's file under bbb's name. */
    snprintf(pb, sizeof pb, "%s/mq-bbb.mqs", tdir);
    cr_assert_eq(rename(pa, pb), 0);
    s = NULL;
    cr_assert_eq(mqi_store_open(tdir, "bbb", MQI_SYNC_NONE, &s, err,
                                sizeof err), MQ_ERR_PERSIST);
    cr_assert_null(s);
    cr_assert_neq(strstr(err, "another client id"), NULL, "err: %s", err);
    cr_assert_eq(fsize(pb), sz);
    /* Same with an id of another length. */
    snprintf(pa, sizeof pa, "%s/mq-bbbb.mqs", tdir);
    cr_assert_eq(rename(pb, pa), 0);
    cr_assert_eq(mqi_store_open(tdir, "bbbb", MQI_SYNC_NONE, &s, err,
                                sizeof err), MQ_ERR_PERSIST);
    cr_assert_eq(fsize(pa), sz);
}

Test(store, failed_write_is_undone)
{
    struct rlimit rl;
    mqi_store *s = xopen("efbig", MQI_SYNC_ALWAYS);
    uint64_t before;
    gotv g = {0};

    signal(SIGXFSZ, SIG_IGN);
    add_n(s, 1, 100);
    before = mqi_store_file_size(s);
    rl.rlim_cur = rl.rlim_max = (rlim_t)before + 1000;
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
    /* The record would cross the limit: short write, then EFBIG. */
    uint8_t *p = calloc(1, 5000);
    mqi_store_rec r = {.qos = 1, .topic = "x", .topic_len = 1,
                       .payload = p, .payload_len = 5000};
    uint64_t seq = 7;
    cr_assert_eq(mqi_store_add(s, &r, &seq), MQ_ERR_PERSIST);
    cr_assert_eq(seq, 0);
    free(p);
    cr_assert_eq(mqi_store_file_size(s), before);
    char path[512];
    store_path(path, sizeof path);
    cr_assert_eq(fsize(path), (off_t)before, "torn part not cut");
    cr_assert_eq(mqi_store_live(s), 1);
    add_n(s, 2, 100); /* fits */
    mqi_store_close(s);

    s = xopen("efbig", MQI_SYNC_ALWAYS);
    cr_assert_eq(recover_all(s, &g), 0);
    cr_assert_eq(g.n, 2);
    check_n(&g.v[0], 1, 100);
    check_n(&g.v[1], 2, 100);
    gotv_free(&g);
    mqi_store_close(s);
}

/* The index (open addressing with backward-shift deletion) stays exact
 * under removals in random order, shrinking included. */
Test(store, random_remove_order_keeps_index_exact)
{
    enum { N = 6000 };
    static uint64_t seq[N];
    static unsigned perm[N];
    static bool gone[N];
    mqi_store *s = xopen("perm", MQI_SYNC_NONE);
    gotv g = {0};
    size_t k = 0;

    for (unsigned i = 0; i < N; i++) {
        seq[i] = add_n(s, i, 3);
        perm[i] = i;
    }
    srand(99);
    for (unsigned i = N - 1; i > 0; i--) {
        unsigned j = (unsigned)rand() % (i + 1), t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    for (unsigned i = 0; i < N - 50; i++) {
        unsigned x = perm[i];
        cr_assert_eq(mqi_store_remove(s, seq[x]), MQ_OK);
        gone[x] = true;
        if (i % 97 == 0) {
            /* Spot-check every remaining entry is still found. */
            for (unsigned y = 0; y < N; y += 13)
                cr_assert_eq(mqi_store_update(s, seq[y], MQI_ST_PUBLISH,
                                              (uint16_t)(y + 1)),
                             gone[y] ? MQ_ERR_NOT_FOUND : MQ_OK);
        }
    }
    cr_assert_eq(mqi_store_live(s), 50);
    mqi_store_close(s);
    s = xopen("perm", MQI_SYNC_NONE);
    cr_assert_eq(recover_all(s, &g), 0);
    cr_assert_eq(g.n, 50);
    for (unsigned i = 0; i < N; i++) {
        if (gone[i])
            continue;
        cr_assert_eq(g.v[k].seq, seq[i]);
        check_n(&g.v[k], i, 3);
        k++;
    }
    gotv_free(&g);
    mqi_store_close(s);
}

/* ---- application tags ----------------------------------------------------- */

static uint32_t
file_flags(const char *p)
{
    uint8_t b[4];
    int fd = open(p, O_RDONLY);

    cr_assert_geq(fd, 0);
    cr_assert_eq(pread(fd, b, 4, 12), 4);
    close(fd);
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
           (uint32_t)b[3] << 24;
}

static uint64_t
add_tagged(mqi_store *s, unsigned i, size_t len, uint64_t tag)
{
    uint8_t *p = malloc(len + 1);
    char topic[32];
    mqi_store_rec r = {0};
    uint64_t seq = 0;

    fill(p, len, i);
    snprintf(topic, sizeof topic, "t/%u", i);
    r.qos = (uint8_t)(1 + i % 2);
    r.retain = (uint8_t)(i % 3 == 0);
    r.topic = topic;
    r.topic_len = strlen(topic);
    r.payload = p;
    r.payload_len = len;
    r.tag = tag;
    cr_assert_eq(mqi_store_add(s, &r, &seq), MQ_OK);
    free(p);
    return seq;
}

/* Tags come back with their records, through updates, reopens and a
 * compaction; the file is marked (header flag 1) before its first tagged
 * record and not before, so untagged stores stay readable by a library
 * that does not know tags. */
Test(store, tags_round_trip_and_mark_the_file)
{
    char p[512];
    mqi_store *s = xopen("tags", MQI_SYNC_NONE);
    gotv g = {0};
    uint64_t s1, s2, s3, keep[2];
    const uint64_t big = 0xFEEDFACECAFEBEEFull;

    s1 = add_n(s, 1, 10);
    store_path(p, sizeof p);
    cr_assert_eq(file_flags(p), 0, "an untagged store was marked");
    s2 = add_tagged(s, 2, 20, big);
    cr_assert_eq(file_flags(p), 1, "tagged record in an unmarked file");
    s3 = add_tagged(s, 3, 5, 7);
    cr_assert_eq(mqi_store_update(s, s2, MQI_ST_PUBREL, 9), MQ_OK);
    cr_assert_eq(mqi_store_remove(s, s1), MQ_OK);
    mqi_store_close(s);

    s = xopen("tags", MQI_SYNC_NONE);
    cr_assert_eq(recover_all(s, &g), 0);
    cr_assert_eq(g.n, 2);
    cr_assert_eq(g.v[0].seq, s2);
    cr_assert_eq(g.v[0].tag, big);
    cr_assert_eq(g.v[0].state, MQI_ST_PUBREL);
    cr_assert_eq(g.v[0].pid, 9);
    check_n(&g.v[0], 2, 20);
    cr_assert_eq(g.v[1].seq, s3);
    cr_assert_eq(g.v[1].tag, 7);
    check_n(&g.v[1], 3, 5);
    gotv_free(&g);

    /* a compaction (many dead records) keeps tags and the flag */
    keep[0] = s2;
    keep[1] = s3;
    for (unsigned i = 10; i < 400; i++)
        cr_assert_eq(mqi_store_remove(s, add_tagged(s, i, 8192, i)), MQ_OK);
    cr_assert_lt(fsize(p), 1024 * 1024, "no compaction happened");
    mqi_store_close(s);
    s = xopen("tags", MQI_SYNC_NONE);
    cr_assert_eq(file_flags(p), 1);
    cr_assert_eq(recover_all(s, &g), 0);
    cr_assert_eq(g.n, 2);
    cr_assert_eq(g.v[0].seq, keep[0]);
    cr_assert_eq(g.v[0].tag, big);
    cr_assert_eq(g.v[1].seq, keep[1]);
    cr_assert_eq(g.v[1].tag, 7);
    gotv_free(&g);
    mqi_store_close(s);
}

/* The documented tagged format, written by hand: header flag 1, ADD with
 * aflags bit 0 and a little-endian u64 tag after the properties. */
Test(store, reads_the_documented_tagged_format)
{
    char p[512];
    uint8_t f[512], body[64];
    size_t k = 0, b = 0;
    mqi_store *s = xopen("fmt2", MQI_SYNC_NONE);
    gotv g = {0};

    mqi_store_close(s);
    store_path(p, sizeof p);
    memcpy(f, "LIBMQST", 8);
    k = 8;
    k += le(f + k, 1, 4);
    k += le(f + k, 1, 4); /* flags: tags */
    k += le(f + k, 4, 4);
    memcpy(f + k, "fmt2", 4);
    k += 4;
    k += le(f + k, ref_crc32c(0, f, k), 4);
    body[b++] = 1;
    body[b++] = 1;
    body[b++] = 0;
    body[b++] = 1; /* aflags: tag */
    b += le(body + b, 0, 4);
    b += le(body + b, 1, 4);
    b += le(body + b, 2, 4);
    b += le(body + b, 0, 4);
    memcpy(body + b, "tpl", 3);
    b += 3;
    b += le(body + b, 0x0102030405060708ull, 8);
    k += ref_record(f + k, 1, 3, body, (uint32_t)b);
    write_file(p, f, k);

    s = xopen("fmt2", MQI_SYNC_NONE);
    cr_assert_eq(recover_all(s, &g), 0);
    cr_assert_eq(g.n, 1);
    cr_assert_eq(g.v[0].tag, 0x0102030405060708ull);
    cr_assert_eq(g.v[0].qos, 1);
    cr_assert_eq(g.v[0].retain, 1);
    cr_assert_eq(g.v[0].topic_len, 1);
    cr_assert_eq(g.v[0].payload_len, 2);
    cr_assert_eq(memcmp(g.v[0].payload, "pl", 2), 0);
    gotv_free(&g);
    mqi_store_close(s);

    /* flags this library does not know: refused, file kept */
    k = 8 + 4;
    le(f + k, 4 | 1, 4);
    le(f + 20 + 4, ref_crc32c(0, f, 20 + 4), 4);
    write_file(p, f, 28);
    {
        mqi_store *t = NULL;
        char err[256];
        cr_assert_eq(mqi_store_open(tdir, "fmt2", MQI_SYNC_NONE, &t, err,
                                    sizeof err), MQ_ERR_PERSIST);
        cr_assert_not_null(strstr(err, "flags"), "%s", err);
        cr_assert_eq(fsize(p), 28);
    }
}

/* ---- inbound QoS 2 ids ----------------------------------------------------- */

static void
expect_inq2(mqi_store *s, const uint16_t *want, size_t n)
{
    uint16_t got[16];
    size_t k = mqi_store_qos2_in_list(s, got, 16);

    cr_assert_eq(k, n, "%zu ids set, not %zu", k, n);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(got[i], want[i]);
}

/* The ids of inbound QoS 2 messages awaiting PUBREL survive a reopen and
 * a compaction beside the outbound records; the file is marked (header
 * flag 2) before the first one and not before, so stores without them
 * stay readable by an older library. */
Test(store, qos2_in_round_trip_and_mark_the_file)
{
    char p[512];
    mqi_store *s = xopen("inq2", MQI_SYNC_ALWAYS);
    gotv g = {0};
    uint64_t s1;
    static const uint16_t two[] = {5, 65535}, one[] = {9};

    s1 = add_n(s, 1, 10);
    store_path(p, sizeof p);
    cr_assert_eq(file_flags(p), 0, "marked before any inbound id");
    cr_assert_eq(mqi_store_qos2_in(s, 0, true), MQ_ERR_INVAL);
    cr_assert_eq(mqi_store_qos2_in(s, 700, false), MQ_OK); /* not set */
    cr_assert_eq(file_flags(p), 0);
    cr_assert_eq(mqi_store_qos2_in(s, 5, true), MQ_OK);
    cr_assert_eq(file_flags(p), 2);
    cr_assert_eq(mqi_store_qos2_in(s, 700, true), MQ_OK);
    cr_assert_eq(mqi_store_qos2_in(s, 700, true), MQ_OK); /* again */
    cr_assert_eq(mqi_store_qos2_in(s, 65535, true), MQ_OK);
    cr_assert_eq(mqi_store_qos2_in(s, 700, false), MQ_OK);
    expect_inq2(s, two, 2);
    mqi_store_close(s);

    s = xopen("inq2", MQI_SYNC_NONE);
    expect_inq2(s, two, 2);
    cr_assert_eq(recover_all(s, &g), 0);
    cr_assert_eq(g.n, 1);
    cr_assert_eq(g.v[0].seq, s1);
    gotv_free(&g);
    /* a new session: all forgotten */
    cr_assert_eq(mqi_store_qos2_in(s, 0, false), MQ_OK);
    expect_inq2(s, NULL, 0);
    cr_assert_eq(mqi_store_qos2_in(s, 9, true), MQ_OK);
    mqi_store_close(s);
    s = xopen("inq2", MQI_SYNC_NONE);
    expect_inq2(s, one, 1);

    /* a compaction (many dead records) keeps the ids and the flag */
    for (unsigned i = 10; i < 400; i++)
        cr_assert_eq(mqi_store_remove(s, add_n(s, i, 8192)), MQ_OK);
    cr_assert_lt(fsize(p), 1024 * 1024, "no compaction happened");
    expect_inq2(s, one, 1);
    mqi_store_close(s);
    s = xopen("inq2", MQI_SYNC_NONE);
    cr_assert_eq(file_flags(p), 2);
    expect_inq2(s, one, 1);
    cr_assert_eq(recover_all(s, &g), 0);
    cr_assert_eq(g.n, 1);
    cr_assert_eq(g.v[0].seq, s1);
    gotv_free(&g);
    mqi_store_close(s);
}

/* The documented INQ2 record, written by hand: header flag 2, type 4,
 * seq 0, body u16 packet id | u8 on | u8 0. In a file without the flag
 * it is corrupt: cut with what follows. */
Test(store, reads_the_documented_qos2_in_format)
{
    char p[512];
    uint8_t f[512], body[4];
    size_t k, hdr;
    mqi_store *s = xopen("fmt3", MQI_SYNC_NONE);
    static const uint16_t want[] = {0x1234};
    size_t bad = 0;

    mqi_store_close(s);
    store_path(p, sizeof p);
    memcpy(f, "LIBMQST", 8);
    k = 8;
    k += le(f + k, 1, 4);
    k += le(f + k, 2, 4); /* flags: INQ2 records */
    k += le(f + k, 4, 4);
    memcpy(f + k, "fmt3", 4);
    k += 4;
    k += le(f + k, ref_crc32c(0, f, k), 4);
    hdr = k;
    le(body, 0x1234, 2);
    body[2] = 1;
    body[3] = 0;
    k += ref_record(f + k, 4, 0, body, 4);
    le(body, 0x77, 2);
    k += ref_record(f + k, 4, 0, body, 4);
    body[2] = 0; /* 0x77 off again */
    k += ref_record(f + k, 4, 0, body, 4);
    write_file(p, f, k);
    s = xopen("fmt3", MQI_SYNC_NONE);
    expect_inq2(s, want, 1);
    mqi_store_close(s);

    /* the same records under a header without the flag */
    le(f + 12, 0, 4);
    le(f + hdr - 4, ref_crc32c(0, f, hdr - 4), 4);
    write_file(p, f, k);
    s = xopen("fmt3", MQI_SYNC_NONE);
    expect_inq2(s, NULL, 0);
    cr_assert_eq(mqi_store_recover(s, NULL, NULL, &bad), MQ_OK);
    cr_assert_eq(bad, k - hdr);
    mqi_store_close(s);
}

/* After mqi_store_close the file is closed (its lock dropped: the store
 * opens again) while another reference keeps the memory; calls then do
 * nothing. */
Test(store, closed_store_with_references)
{
    mqi_store *s = xopen("refs", MQI_SYNC_NONE), *t;
    uint64_t seq = add_tagged(s, 1, 4, 99);

    mqi_store_ref(s);
    mqi_store_close(s);
    cr_assert_eq(mqi_store_remove(s, seq), MQ_ERR_PERSIST);
    t = xopen("refs", MQI_SYNC_NONE);
    cr_assert_eq(mqi_store_live(t), 1);
    mqi_store_unref(s);
    mqi_store_close(t);
}
