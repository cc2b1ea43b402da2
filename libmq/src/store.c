/*
 * store.c - crash-safe persistence of outbound QoS 1/2 messages and of
 * the packet ids of inbound QoS 2 messages awaiting PUBREL: one
 * append-only log file per client id, CRC-checked records, an in-memory
 * index seq -> (offset, state) and a set of inbound ids, recovery that cuts
 * a torn or corrupt tail, and compaction by rewrite + rename when dead
 * records dominate.
 *
 * Threading: one mutex (s->mx) guards everything. mqi_store_add may run on
 * any number of application threads at once; the rest runs on the worker.
 * fdatasync runs with the mutex released (group commit): s->syncing marks
 * a sync in flight, and anything that swaps or closes the fd first waits
 * for it on s->cv.
 *
 * File format (all integers little-endian):
 *   header  "LIBMQST\0" | u32 version (1) | u32 flags | u32 id_len |
 *           id bytes | u32 crc32c of everything before it
 *   record  u8 0xD5 | u8 type | u16 0 | u32 body_len | u64 seq |
 *           u32 crc32c (over the body, then continued over the 16 header
 *           bytes before the crc) | body
 *   ADD     u8 qos | u8 retain | u8 state | u8 aflags | u16 packet_id |
 *           u16 0 | u32 topic_len | u32 payload_len | u32 props_len |
 *           topic | payload | props [| u64 tag]
 *   UPDATE  u8 state | u8 0 | u16 packet_id
 *   REMOVE  (empty)
 *   INQ2    u16 packet_id | u8 on | u8 0   (record seq 0)
 * ADD sequence numbers strictly increase along the file; a file never
 * holds two ADDs for one seq. INQ2 records (type 4) carry the inbound QoS 2
 * state, which MQTT counts as session state: on 1 when our PUBREC for that
 * id goes out, on 0 when our PUBCOMP did (packet id 0 with on 0: forget
 * them all, the broker started a new session); the last record for an id
 * wins, and a compaction writes one on-record per id still set.
 * Header flags: 0, or HDR_F_TAGS (1): ADD records may carry an
 * application tag, marked by aflags bit 0 (ADD_F_TAG). A file gets the
 * flag (by a compaction, which rewrites the header atomically) before its
 * first tagged record, so a library that does not know tags refuses the
 * file ("unknown flags") instead of cutting tagged records as corrupt;
 * files without tags stay readable by it. HDR_F_INQ2 (2) likewise marks a
 * file that may hold INQ2 records (set before the first one); a file
 * without it is read as before, and an INQ2 record in it is corrupt.
 */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mq.h"

#define HDR_MAGIC "LIBMQST"     /* 8 bytes with its NUL */
#define HDR_VERSION 1u
#define HDR_F_TAGS 1u            /* ADD records may carry a tag */
#define HDR_F_INQ2 2u            /* INQ2 records may follow */
#define HDR_FIXED 20u            /* magic, version, flags, id_len */
#define MAX_ID_LEN 65535u

#define REC_MAGIC 0xD5u
#define REC_ADD 1u
#define REC_UPDATE 2u
#define REC_REMOVE 3u
#define REC_INQ2 4u
#define REC_HDR 20u
#define ADD_FIXED 20u
#define ADD_F_TAG 1u             /* aflags: a u64 tag ends the body */
#define UPD_BODY 4u
#define INQ2_BODY 4u
#define INQ2_REC (REC_HDR + INQ2_BODY)
/* Largest body accepted: an MQTT packet is at most 256 MiB; leave room
 * for the topic, properties and our fixed fields. */
#define MAX_BODY ((uint32_t)(256u * 1024u * 1024u + 128u * 1024u))
/* Largest seq an ADD may carry: a real log never gets near it (one per
 * message). Recovery cuts a (damaged) ADD above it, and mqi_store_add
 * refuses to go past it, so a seq never wraps to 0, which recovery would
 * cut as corrupt (found by tests/fuzz/fuzz_store.c). */
#define MAX_SEQ (UINT64_MAX >> 1)

#define COMPACT_MIN_FILE (1024u * 1024u) /* never compact below this */
#define COMPACT_RATIO 4u                 /* live < file / 4 -> compact */
#define COMPACT_RETRY_MS 1000
#define BATCH_MS 50

#define READ_CHUNK (1024u * 1024u)
#define STACK_REC 1024u

/* ---- CRC-32C (Castagnoli, reflected 0x82F63B78) ----------------------- */

static uint32_t crc_tab[8][256];
static bool crc_hw;
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void
crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc_tab[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            crc_tab[t][i] = (crc_tab[t - 1][i] >> 8) ^
                            crc_tab[0][crc_tab[t - 1][i] & 0xff];
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    crc_hw = __builtin_cpu_supports("sse4.2");
#endif
}

static uint32_t
crc_sw(uint32_t crc, const uint8_t *p, size_t n)
{
    while (n >= 8) {
        uint32_t lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 |
                             (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
        crc = crc_tab[7][lo & 0xff] ^ crc_tab[6][(lo >> 8) & 0xff] ^
              crc_tab[5][(lo >> 16) & 0xff] ^ crc_tab[4][lo >> 24] ^
              crc_tab[3][p[4]] ^ crc_tab[2][p[5]] ^ crc_tab[1][p[6]] ^
              crc_tab[0][p[7]];
        p += 8;
        n -= 8;
    }
    while (n--)
        crc = (crc >> 8) ^ crc_tab[0][(crc ^ *p++) & 0xff];
    return crc;
}

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("sse4.2"))) static uint32_t
crc_sse42(uint32_t crc, const uint8_t *p, size_t n)
{
    uint64_t c = crc;

    while (n >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c = __builtin_ia32_crc32di(c, v);
        p += 8;
        n -= 8;
    }
    while (n--)
        c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
    return (uint32_t)c;
}
#endif

/* Continue a CRC-32C: start with crc32c(0, ...) and feed more data. */
static uint32_t
crc32c(uint32_t crc, const void *data, size_t n)
{
    const uint8_t *p = data;

    pthread_once(&crc_once, crc_init);
    crc = ~crc;
#if defined(__x86_64__) && defined(__GNUC__)
    if (crc_hw)
        return ~crc_sse42(crc, p, n);
#endif
    return ~crc_sw(crc, p, n);
}

/* ---- little-endian helpers -------------------------------------------- */

static void
put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void
put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void
put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t
get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t
get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static uint64_t
get64(const uint8_t *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

/* ---- index: open addressing, linear probing, seq 0 = empty slot ------- */

typedef struct ent {
    uint64_t seq;
    uint64_t off;    /* offset of the ADD record */
    uint32_t len;    /* whole ADD record, header included */
    uint8_t state;
    uint8_t orig_state; /* state written in the ADD record */
    uint16_t pid;
    uint16_t orig_pid;
} ent;

typedef struct index_t {
    ent *tab;
    size_t cap; /* power of two, or 0 */
    size_t n;
    unsigned shift; /* 64 - log2(cap) */
} index_t;

/* Fibonacci hashing: the top bits of seq * 2^64/phi spread consecutive
 * seqs evenly over the table. */
static size_t
ix_home(const index_t *ix, uint64_t seq)
{
    return (size_t)((seq * 0x9E3779B97F4A7C15ull) >> ix->shift);
}

static ent *
ix_find(index_t *ix, uint64_t seq)
{
    if (ix->cap == 0 || seq == 0)
        return NULL;
    for (size_t i = ix_home(ix, seq);; i = (i + 1) & (ix->cap - 1)) {
        if (ix->tab[i].seq == seq)
            return &ix->tab[i];
        if (ix->tab[i].seq == 0)
            return NULL;
    }
}

static void
ix_put_raw(index_t *ix, const ent *e)
{
    size_t i = ix_home(ix, e->seq);

    while (ix->tab[i].seq != 0)
        i = (i + 1) & (ix->cap - 1);
    ix->tab[i] = *e;
}

static int
ix_resize(index_t *ix, size_t cap)
{
    ent *old = ix->tab;
    size_t ocap = ix->cap;
    ent *t = calloc(cap, sizeof *t);

    if (t == NULL)
        return MQ_ERR_NOMEM;
    ix->tab = t;
    ix->cap = cap;
    ix->shift = 64u - (unsigned)__builtin_ctzll((unsigned long long)cap);
    for (size_t i = 0; i < ocap; i++)
        if (old[i].seq != 0)
            ix_put_raw(ix, &old[i]);
    free(old);
    return MQ_OK;
}

/* Make room for one more entry before anything is written. */
static int
ix_reserve(index_t *ix)
{
    if (ix->cap == 0)
        return ix_resize(ix, 64);
    if ((ix->n + 1) * 2 > ix->cap)
        return ix_resize(ix, ix->cap * 2);
    return MQ_OK;
}

static void
ix_insert(index_t *ix, const ent *e)
{
    ix_put_raw(ix, e); /* ix_reserve was called */
    ix->n++;
}

/* Delete with backward shift, so no tombstones accumulate. */
static void
ix_delete(index_t *ix, ent *e)
{
    size_t mask = ix->cap - 1;
    size_t i = (size_t)(e - ix->tab);
    size_t j = i;

    for (;;) {
        j = (j + 1) & mask;
        if (ix->tab[j].seq == 0)
            break;
        size_t k = ix_home(ix, ix->tab[j].seq);
        /* The entry at j may move to i unless its home lies cyclically
         * in (i, j]. */
        bool stays = (i <= j) ? (i < k && k <= j) : (i < k || k <= j);
        if (!stays) {
            ix->tab[i] = ix->tab[j];
            i = j;
        }
    }
    ix->tab[i].seq = 0;
    ix->n--;
    /* Shrink after a burst so a long-lived store does not keep a huge
     * table; failure to shrink is harmless. */
    if (ix->cap > 1024 && ix->n * 8 < ix->cap)
        (void)ix_resize(ix, ix->cap / 2);
}

static int
cmp_ent_seq(const void *a, const void *b)
{
    uint64_t x = (*(ent *const *)a)->seq, y = (*(ent *const *)b)->seq;
    return x < y ? -1 : x > y;
}

/* Live entries sorted by seq (= append order); caller frees. */
static ent **
ix_sorted(index_t *ix)
{
    ent **v = malloc((ix->n ? ix->n : 1) * sizeof *v);
    size_t k = 0;

    if (v == NULL)
        return NULL;
    for (size_t i = 0; i < ix->cap; i++)
        if (ix->tab[i].seq != 0)
            v[k++] = &ix->tab[i];
    qsort(v, k, sizeof *v, cmp_ent_seq);
    return v;
}

/* ---- the store ---------------------------------------------------------- */

struct mqi_store {
    pthread_mutex_t mx;
    pthread_cond_t cv;
    int fd;
    int dirfd;
    int policy;
    char *name;      /* file name inside the directory */
    char *tmpname;   /* compaction target */
    size_t hdr_len;
    uint32_t hdr_flags;  /* HDR_F_* of the file */
    int refs;            /* the client and events holding it (mx) */
    bool closed;         /* mqi_store_close ran: file closed */
    uint64_t end;    /* file size = offset of the next record */
    uint64_t synced; /* everything below this offset is on disk */
    uint64_t live_bytes; /* header + live ADD records */
    uint64_t next_seq;
    index_t ix;
    size_t bad_bytes; /* cut off by recovery in open */
    bool syncing;     /* an fdatasync runs without the mutex */
    bool broken;      /* a write or sync failed in an unknown way */
    bool compact_failed;
    int64_t compact_retry_at;
    int64_t last_sync_ms;
    unsigned gen;     /* bumped when compaction swaps the file */
    uint8_t *cbuf;    /* compaction / replay scratch */
    size_t cbuf_cap;
    uint8_t *inq2;    /* inbound QoS 2 ids set (bitmap of 65536), or NULL */
    size_t inq2_n;    /* ids set */
};

static void
set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static int
full_pwrite(int fd, const void *buf, size_t n, uint64_t off)
{
    const uint8_t *p = buf;

    while (n > 0) {
        ssize_t w = pwrite(fd, p, n, (off_t)off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (w == 0) {
            errno = EIO;
            return -1;
        }
        p += w;
        n -= (size_t)w;
        off += (uint64_t)w;
    }
    return 0;
}

/* Read exactly n bytes; 1 on a short file, -1 on error. */
static int
full_pread(int fd, void *buf, size_t n, uint64_t off)
{
    uint8_t *p = buf;

    while (n > 0) {
        ssize_t r = pread(fd, p, n, (off_t)off);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (r == 0)
            return 1;
        p += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

static int
xfsync(int fd, bool data_only)
{
    int rc;

    do
        rc = data_only ? fdatasync(fd) : fsync(fd);
    while (rc != 0 && errno == EINTR);
    return rc;
}

static int
grow_buf(uint8_t **buf, size_t *cap, size_t need)
{
    uint8_t *p;

    if (*cap >= need)
        return MQ_OK;
    p = realloc(*buf, need);
    if (p == NULL)
        return MQ_ERR_NOMEM;
    *buf = p;
    *cap = need;
    return MQ_OK;
}

/* "mq-<escaped id>.mqs": [A-Za-z0-9_-] kept, other bytes as %XX. A long
 * id keeps a prefix and adds a 64-bit FNV-1a hash of the whole id; the
 * header stores the full id, so a hash collision is detected. */
static char *
file_name(const char *id, const char *suffix)
{
    size_t n = strlen(id), cap = 3 + 163 + 17 + 4 + strlen(suffix) + 16;
    char *out = malloc(cap), *o = out;
    uint64_t h = 0xcbf29ce484222325ull;

    if (out == NULL)
        return NULL;
    memcpy(o, "mq-", 3);
    o += 3;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)id[i];
        h = (h ^ c) * 0x100000001b3ull;
        if (o - out > 3 + 157)
            continue; /* keep hashing, stop copying */
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
            (c >= '0' && c <= '9') || c == '_' || c == '-')
            *o++ = (char)c;
        else
            o += sprintf(o, "%%%02X", c);
    }
    if (o - out > 3 + 157)
        o += sprintf(o, "~%016llx", (unsigned long long)h);
    o += sprintf(o, ".mqs%s", suffix);
    return out;
}

/* ---- syncing ------------------------------------------------------------ */

static void
wait_no_sync(mqi_store *s)
{
    while (s->syncing)
        pthread_cond_wait(&s->cv, &s->mx);
}

/* Make everything written so far durable. Called and returns with the
 * mutex held; the fdatasync itself runs without it, so writers keep
 * appending and one sync covers many records (group commit). */
static int
sync_locked(mqi_store *s)
{
    uint64_t target;
    int fd, rc;

    for (;;) {
        if (s->broken)
            return MQ_ERR_PERSIST;
        if (s->synced >= s->end)
            return MQ_OK;
        if (!s->syncing)
            break;
        pthread_cond_wait(&s->cv, &s->mx);
    }
    s->syncing = true;
    target = s->end;
    fd = s->fd;
    pthread_mutex_unlock(&s->mx);
    rc = xfsync(fd, true);
    pthread_mutex_lock(&s->mx);
    s->syncing = false;
    pthread_cond_broadcast(&s->cv);
    if (rc != 0) {
        /* After a failed fsync the page cache can no longer be trusted
         * to reach the disk: stop using this store. */
        s->broken = true;
        return MQ_ERR_PERSIST;
    }
    if (target > s->synced)
        s->synced = target;
    return MQ_OK;
}

/* Append one record at the end; undo a partial write. Mutex held. */
static int
append_locked(mqi_store *s, const uint8_t *rec, size_t n)
{
    if (s->broken || s->closed)
        return MQ_ERR_PERSIST;
    if (full_pwrite(s->fd, rec, n, s->end) != 0) {
        /* Cut the torn part (ENOSPC, EIO); if even that fails the tail
         * is unknown, and recovery will deal with it after a restart. */
        if (ftruncate(s->fd, (off_t)s->end) != 0)
            s->broken = true;
        return MQ_ERR_PERSIST;
    }
    s->end += n;
    return MQ_OK;
}

static void
rec_header(uint8_t *h, unsigned type, uint32_t body_len, uint64_t seq,
           uint32_t body_crc)
{
    h[0] = REC_MAGIC;
    h[1] = (uint8_t)type;
    put16(h + 2, 0);
    put32(h + 4, body_len);
    put64(h + 8, seq);
    put32(h + 16, crc32c(body_crc, h, 16));
}

static void
inq2_record(uint8_t *rec, uint16_t pid, bool on)
{
    put16(rec + REC_HDR, pid);
    rec[REC_HDR + 2] = on ? 1 : 0;
    rec[REC_HDR + 3] = 0;
    rec_header(rec, REC_INQ2, INQ2_BODY, 0,
               crc32c(0, rec + REC_HDR, INQ2_BODY));
}

/* Set or clear one inbound id in memory (pid 0 off: all); live_bytes
 * counts one record per id set. MQ_OK or MQ_ERR_NOMEM. */
static int
inq2_set(mqi_store *s, uint16_t pid, bool on)
{
    uint8_t bit = (uint8_t)(1u << (pid & 7));

    if (pid == 0) {
        s->live_bytes -= (uint64_t)s->inq2_n * INQ2_REC;
        s->inq2_n = 0;
        free(s->inq2);
        s->inq2 = NULL;
        return MQ_OK;
    }
    if (s->inq2 == NULL) {
        if (!on)
            return MQ_OK;
        s->inq2 = calloc(8192, 1);
        if (s->inq2 == NULL)
            return MQ_ERR_NOMEM;
    }
    if (on == ((s->inq2[pid >> 3] & bit) != 0))
        return MQ_OK;
    if (on) {
        s->inq2[pid >> 3] |= bit;
        s->inq2_n++;
        s->live_bytes += INQ2_REC;
    } else {
        s->inq2[pid >> 3] &= (uint8_t)~bit;
        s->inq2_n--;
        s->live_bytes -= INQ2_REC;
    }
    return MQ_OK;
}

/* ---- compaction --------------------------------------------------------- */

static int
fsync_dir(mqi_store *s)
{
    return xfsync(s->dirfd, false);
}

/* Copy the live ADD records (with their current state) into a new file,
 * make it durable, rename it over the old one. A crash at any point
 * leaves either the complete old file or the complete new one. Mutex
 * held; no sync may be in flight. */
static int
compact_locked(mqi_store *s)
{
    int nfd = -1, rc = MQ_ERR_PERSIST;
    ent **v = NULL;
    uint64_t *noff = NULL, woff = 0;
    uint8_t *out = NULL;
    size_t olen = 0, ocap = READ_CHUNK;
    uint8_t *hdr = NULL;

    wait_no_sync(s);
    if (s->broken || s->closed)
        return MQ_ERR_PERSIST;

    v = ix_sorted(&s->ix);
    noff = malloc((s->ix.n ? s->ix.n : 1) * sizeof *noff);
    out = malloc(ocap);
    hdr = malloc(s->hdr_len);
    if (v == NULL || noff == NULL || out == NULL || hdr == NULL) {
        rc = MQ_ERR_NOMEM;
        goto fail;
    }
    if (full_pread(s->fd, hdr, s->hdr_len, 0) != 0)
        goto fail;
    if (get32(hdr + 12) != s->hdr_flags) {
        /* the flags change (tags from now on): the new header takes them */
        put32(hdr + 12, s->hdr_flags);
        put32(hdr + s->hdr_len - 4, crc32c(0, hdr, s->hdr_len - 4));
    }

    nfd = openat(s->dirfd, s->tmpname, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC,
                 0600);
    if (nfd < 0)
        goto fail;
    /* Lock the new file before it gets the real name, so that a process
     * opening the name after the rename finds it locked. */
    if (flock(nfd, LOCK_EX | LOCK_NB) != 0)
        goto fail;

    memcpy(out, hdr, s->hdr_len);
    olen = s->hdr_len;
    woff = 0;
    for (size_t i = 0; i < s->ix.n; i++) {
        ent *e = v[i];
        uint8_t *r;

        if (grow_buf(&s->cbuf, &s->cbuf_cap, e->len) != MQ_OK) {
            rc = MQ_ERR_NOMEM;
            goto fail;
        }
        r = s->cbuf;
        if (full_pread(s->fd, r, e->len, e->off) != 0)
            goto fail;
        /* Never launder a damaged record into a fresh CRC. */
        if (r[0] != REC_MAGIC || r[1] != REC_ADD || get64(r + 8) != e->seq ||
            get32(r + 4) != e->len - REC_HDR ||
            crc32c(crc32c(0, r + REC_HDR, e->len - REC_HDR), r, 16) !=
                get32(r + 16))
            goto fail;
        if (e->state != e->orig_state || e->pid != e->orig_pid) {
            r[REC_HDR + 2] = e->state;
            put16(r + REC_HDR + 4, e->pid);
            rec_header(r, REC_ADD, e->len - REC_HDR, e->seq,
                       crc32c(0, r + REC_HDR, e->len - REC_HDR));
        }
        noff[i] = woff + olen;
        if (olen + e->len > ocap) {
            if (full_pwrite(nfd, out, olen, woff) != 0)
                goto fail;
            woff += olen;
            olen = 0;
        }
        if (e->len > ocap) {
            if (full_pwrite(nfd, r, e->len, woff) != 0)
                goto fail;
            woff += e->len;
        } else {
            memcpy(out + olen, r, e->len);
            olen += e->len;
        }
    }
    for (uint32_t pid = 1; s->inq2 != NULL && pid <= 0xffff; pid++) {
        if (!(s->inq2[pid >> 3] & (1u << (pid & 7))))
            continue;
        if (olen + INQ2_REC > ocap) {
            if (full_pwrite(nfd, out, olen, woff) != 0)
                goto fail;
            woff += olen;
            olen = 0;
        }
        inq2_record(out + olen, (uint16_t)pid, true);
        olen += INQ2_REC;
    }
    if (olen > 0 && full_pwrite(nfd, out, olen, woff) != 0)
        goto fail;
    woff += olen;
    if (xfsync(nfd, false) != 0)
        goto fail;
    if (renameat(s->dirfd, s->tmpname, s->dirfd, s->name) != 0)
        goto fail;
    /* The new file is in place; from here on we use it whatever happens.
     * A failed directory sync only risks the old (still valid) file
     * coming back after a power loss. */
    (void)fsync_dir(s);
    close(s->fd);
    s->fd = nfd;
    nfd = -1;
    s->end = woff;
    s->synced = woff;
    s->gen++;
    for (size_t i = 0; i < s->ix.n; i++) {
        v[i]->off = noff[i];
        v[i]->orig_state = v[i]->state;
        v[i]->orig_pid = v[i]->pid;
    }
    s->compact_failed = false;
    rc = MQ_OK;
fail:
    if (nfd >= 0) {
        close(nfd);
        unlinkat(s->dirfd, s->tmpname, 0);
    }
    if (rc != MQ_OK)
        s->compact_failed = true;
    if (s->cbuf_cap > READ_CHUNK) {
        free(s->cbuf);
        s->cbuf = NULL;
        s->cbuf_cap = 0;
    }
    free(v);
    free(noff);
    free(out);
    free(hdr);
    return rc;
}

static bool
want_compact(const mqi_store *s)
{
    return s->end > COMPACT_MIN_FILE &&
           s->live_bytes < s->end / COMPACT_RATIO;
}

/* After a remove/update: compact when the dead part dominates, unless a
 * failed attempt waits for its retry in mqi_store_tick. */
static void
maybe_compact(mqi_store *s)
{
    if (!s->compact_failed && want_compact(s))
        (void)compact_locked(s);
}

/* ---- open and scan ------------------------------------------------------ */

typedef struct reader {
    int fd;
    uint64_t size;
    uint8_t *buf;
    size_t cap;
    uint64_t boff; /* file offset of buf[0] */
    size_t blen;
} reader;

/* Point *out at file bytes [off, off+n); n <= size - off already checked.
 * MQ_OK, MQ_ERR_NOMEM, MQ_ERR_PERSIST. */
static int
rd_get(reader *r, uint64_t off, size_t n, const uint8_t **out)
{
    size_t want;

    if (off >= r->boff && off + n <= r->boff + r->blen) {
        *out = r->buf + (off - r->boff);
        return MQ_OK;
    }
    want = n > READ_CHUNK ? n : READ_CHUNK;
    if (want > r->size - off)
        want = (size_t)(r->size - off);
    if (want < n)
        return MQ_ERR_PERSIST;
    if (grow_buf(&r->buf, &r->cap, want) != MQ_OK)
        return MQ_ERR_NOMEM;
    if (full_pread(r->fd, r->buf, want, off) != 0)
        return MQ_ERR_PERSIST;
    r->boff = off;
    r->blen = want;
    *out = r->buf;
    return MQ_OK;
}

/* Validate one record's body by type; fills *e for ADD. */
static bool
check_body(unsigned type, const uint8_t *b, uint32_t len, ent *e)
{
    switch (type) {
    case REC_ADD: {
        if (len < ADD_FIXED)
            return false;
        uint64_t sum = (uint64_t)ADD_FIXED + get32(b + 8) + get32(b + 12) +
                       get32(b + 16) + (b[3] & ADD_F_TAG ? 8 : 0);
        if (sum != len || (b[0] != 1 && b[0] != 2) || b[1] > 1 ||
            b[2] > MQI_ST_PUBREL || (b[3] & ~ADD_F_TAG) != 0 ||
            get16(b + 6) != 0)
            return false;
        e->state = e->orig_state = b[2];
        e->pid = e->orig_pid = get16(b + 4);
        return true;
    }
    case REC_UPDATE:
        return len == UPD_BODY && b[0] <= MQI_ST_PUBREL && b[1] == 0;
    case REC_REMOVE:
        return len == 0;
    case REC_INQ2:
        return len == INQ2_BODY && b[2] <= 1 && b[3] == 0 &&
               (get16(b) != 0 || b[2] == 0);
    default:
        return false;
    }
}

/* Replay the log into the index, stop at the first bad record and cut
 * the file there. */
static int
scan_locked(mqi_store *s, uint64_t size, char *err, size_t errlen)
{
    reader r = {.fd = s->fd, .size = size};
    uint64_t off = s->hdr_len, max_seq = 0;
    int rc = MQ_OK;

    while (off < size) {
        const uint8_t *h, *b;
        uint32_t len, crc;
        uint64_t seq;
        unsigned type;
        ent e;

        if (size - off < REC_HDR)
            break; /* torn header */
        rc = rd_get(&r, off, REC_HDR, &h);
        if (rc != MQ_OK)
            goto out;
        type = h[1];
        len = get32(h + 4);
        seq = get64(h + 8);
        crc = get32(h + 16);
        if (h[0] != REC_MAGIC || get16(h + 2) != 0 || type < REC_ADD ||
            type > REC_INQ2 || (seq == 0) != (type == REC_INQ2) ||
            (type == REC_INQ2 && !(s->hdr_flags & HDR_F_INQ2)) ||
            len > MAX_BODY || len > size - off - REC_HDR)
            break;
        /* Copy the header: reading the body may refill the buffer. */
        uint8_t hc[16];
        memcpy(hc, h, 16);
        rc = rd_get(&r, off + REC_HDR, len, &b);
        if (rc != MQ_OK)
            goto out;
        if (crc32c(crc32c(0, b, len), hc, 16) != crc)
            break;
        memset(&e, 0, sizeof e);
        if (!check_body(type, b, len, &e))
            break;
        if (type == REC_ADD) {
            if (seq <= max_seq || seq > MAX_SEQ)
                break;
            rc = ix_reserve(&s->ix);
            if (rc != MQ_OK)
                goto out;
            e.seq = seq;
            e.off = off;
            e.len = REC_HDR + len;
            ix_insert(&s->ix, &e);
            s->live_bytes += e.len;
            max_seq = seq;
        } else if (type == REC_INQ2) {
            rc = inq2_set(s, get16(b), b[2] != 0);
            if (rc != MQ_OK)
                goto out;
        } else {
            /* Written only for live messages; one for an unknown seq
             * (impossible unless edited) is ignored. */
            ent *p = ix_find(&s->ix, seq);
            if (p != NULL && type == REC_UPDATE) {
                p->state = b[0];
                p->pid = get16(b + 2);
            } else if (p != NULL) {
                s->live_bytes -= p->len;
                ix_delete(&s->ix, p);
            }
        }
        off += REC_HDR + (uint64_t)len;
    }
    if (off < size) {
        if (ftruncate(s->fd, (off_t)off) != 0) {
            set_err(err, errlen, "cannot cut corrupt store tail: %s",
                    strerror(errno));
            rc = MQ_ERR_PERSIST;
            goto out;
        }
        s->bad_bytes = (size_t)(size - off);
        (void)xfsync(s->fd, true);
    }
    s->end = off;
    s->synced = off;
    s->next_seq = max_seq + 1;
out:
    if (rc == MQ_ERR_PERSIST && err != NULL && errlen > 0 && err[0] == 0)
        set_err(err, errlen, "cannot read store: %s", strerror(errno));
    free(r.buf);
    return rc;
}

/* Write a fresh header at offset 0 of an empty (or garbage) file. */
static int
write_header(mqi_store *s, const char *id, size_t idlen)
{
    uint8_t *h = malloc(s->hdr_len);
    int rc = MQ_ERR_PERSIST;

    if (h == NULL)
        return MQ_ERR_NOMEM;
    memcpy(h, HDR_MAGIC, 8);
    put32(h + 8, HDR_VERSION);
    put32(h + 12, 0);
    put32(h + 16, (uint32_t)idlen);
    memcpy(h + HDR_FIXED, id, idlen);
    put32(h + HDR_FIXED + idlen, crc32c(0, h, HDR_FIXED + idlen));
    if (ftruncate(s->fd, 0) == 0 &&
        full_pwrite(s->fd, h, s->hdr_len, 0) == 0 && xfsync(s->fd, true) == 0 &&
        fsync_dir(s) == 0)
        rc = MQ_OK;
    free(h);
    return rc;
}

/* Check the header. MQ_OK (valid), 1 (garbage: start over), or
 * MQ_ERR_PERSIST (a valid store we must not touch). */
static int
check_header(mqi_store *s, uint64_t size, const char *id, size_t idlen,
             char *err, size_t errlen)
{
    uint8_t fixed[HDR_FIXED], *h = NULL;
    uint32_t flen;
    size_t hlen;
    int rc = 1;

    if (size < HDR_FIXED || full_pread(s->fd, fixed, HDR_FIXED, 0) != 0 ||
        memcmp(fixed, HDR_MAGIC, 8) != 0)
        return 1;
    if (get32(fixed + 8) != HDR_VERSION) {
        set_err(err, errlen, "store file has format version %u, this "
                "library reads %u", (unsigned)get32(fixed + 8), HDR_VERSION);
        return MQ_ERR_PERSIST;
    }
    flen = get32(fixed + 16);
    if (flen > MAX_ID_LEN)
        return 1;
    hlen = HDR_FIXED + (size_t)flen + 4;
    if (size < hlen)
        return 1; /* torn while being created */
    h = malloc(hlen);
    if (h == NULL)
        return MQ_ERR_NOMEM;
    if (full_pread(s->fd, h, hlen, 0) != 0 ||
        crc32c(0, h, hlen - 4) != get32(h + hlen - 4))
        goto out; /* damaged header */
    if ((get32(h + 12) & ~(HDR_F_TAGS | HDR_F_INQ2)) != 0) {
        set_err(err, errlen, "store file uses unknown flags 0x%x",
                (unsigned)get32(h + 12));
        rc = MQ_ERR_PERSIST;
        goto out;
    }
    /* A sound header for another id (the hashed name of a long id can
     * collide): never destroy it. */
    if (flen != idlen || memcmp(h + HDR_FIXED, id, idlen) != 0) {
        set_err(err, errlen, "store file %s belongs to another client id",
                s->name);
        rc = MQ_ERR_PERSIST;
        goto out;
    }
    s->hdr_flags = get32(h + 12);
    rc = MQ_OK;
out:
    free(h);
    return rc;
}

/* Open the file and lock it; retry if a compaction renamed a new file
 * over the name between our open and our lock. */
static int
open_locked_file(mqi_store *s, char *err, size_t errlen)
{
    for (int tries = 0; tries < 16; tries++) {
        struct stat a, b;
        int fd = openat(s->dirfd, s->name, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

        if (fd < 0) {
            set_err(err, errlen, "cannot open store file %s: %s", s->name,
                    strerror(errno));
            return MQ_ERR_PERSIST;
        }
        if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
            int e = errno;
            close(fd);
            if (e == EWOULDBLOCK)
                set_err(err, errlen, "store %s is in use by another client",
                        s->name);
            else
                set_err(err, errlen, "cannot lock store %s: %s", s->name,
                        strerror(e));
            return MQ_ERR_PERSIST;
        }
        if (fstat(fd, &a) == 0 && fstatat(s->dirfd, s->name, &b, 0) == 0 &&
            a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
            s->fd = fd;
            return MQ_OK;
        }
        close(fd);
    }
    set_err(err, errlen, "store file %s keeps changing", s->name);
    return MQ_ERR_PERSIST;
}

int
mqi_store_open(const char *dir, const char *client_id, int sync_policy,
               mqi_store **out, char *err, size_t errlen)
{
    mqi_store *s = NULL;
    struct stat st;
    size_t idlen;
    int rc;

    if (err != NULL && errlen > 0)
        err[0] = 0;
    if (out != NULL)
        *out = NULL;
    if (out == NULL || dir == NULL || client_id == NULL ||
        sync_policy < MQI_SYNC_ALWAYS || sync_policy > MQI_SYNC_NONE) {
        set_err(err, errlen, "invalid argument");
        return MQ_ERR_INVAL;
    }
    idlen = strlen(client_id);
    if (idlen > MAX_ID_LEN) {
        set_err(err, errlen, "client id longer than %u bytes", MAX_ID_LEN);
        return MQ_ERR_PERSIST;
    }

    s = calloc(1, sizeof *s);
    if (s == NULL)
        return MQ_ERR_NOMEM;
    s->fd = -1;
    s->dirfd = -1;
    s->policy = sync_policy;
    s->hdr_len = HDR_FIXED + idlen + 4;
    s->last_sync_ms = INT64_MIN / 2;
    s->next_seq = 1;
    s->refs = 1;
    pthread_mutex_init(&s->mx, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->name = file_name(client_id, "");
    s->tmpname = file_name(client_id, ".tmp");
    if (s->name == NULL || s->tmpname == NULL) {
        rc = MQ_ERR_NOMEM;
        goto fail;
    }

    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        set_err(err, errlen, "cannot create store directory %s: %s", dir,
                strerror(errno));
        rc = MQ_ERR_PERSIST;
        goto fail;
    }
    s->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->dirfd < 0) {
        set_err(err, errlen, "cannot open store directory %s: %s", dir,
                strerror(errno));
        rc = MQ_ERR_PERSIST;
        goto fail;
    }
    rc = open_locked_file(s, err, errlen);
    if (rc != MQ_OK)
        goto fail;
    /* A compaction that died before its rename left this behind. */
    (void)unlinkat(s->dirfd, s->tmpname, 0);

    if (fstat(s->fd, &st) != 0) {
        set_err(err, errlen, "cannot stat store: %s", strerror(errno));
        rc = MQ_ERR_PERSIST;
        goto fail;
    }
    rc = check_header(s, (uint64_t)st.st_size, client_id, idlen, err,
                      errlen);
    if (rc == 1) {
        /* New, torn at creation, or garbage: nothing good to keep. */
        s->bad_bytes = (size_t)st.st_size;
        rc = write_header(s, client_id, idlen);
        if (rc != MQ_OK) {
            set_err(err, errlen, "cannot write store header: %s",
                    strerror(errno));
            goto fail;
        }
        s->end = s->synced = s->hdr_len;
    } else if (rc == MQ_OK) {
        rc = scan_locked(s, (uint64_t)st.st_size, err, errlen);
        if (rc != MQ_OK)
            goto fail;
    } else {
        goto fail;
    }
    s->live_bytes += s->hdr_len;
    *out = s;
    return MQ_OK;

fail:
    if (rc == MQ_ERR_NOMEM)
        set_err(err, errlen, "out of memory");
    mqi_store_close(s);
    return rc;
}

/* ---- operations --------------------------------------------------------- */

int
mqi_store_recover(mqi_store *s, int (*cb)(void *ud, const mqi_store_rec *r),
                  void *ud, size_t *out_bad_bytes)
{
    uint64_t *seqs = NULL;
    reader rd = {.fd = -1};
    unsigned gen = 0;
    size_t n = 0;
    int rc = MQ_OK;

    if (out_bad_bytes != NULL)
        *out_bad_bytes = 0;
    if (s == NULL)
        return MQ_ERR_INVAL;
    pthread_mutex_lock(&s->mx);
    if (out_bad_bytes != NULL)
        *out_bad_bytes = s->bad_bytes;
    if (cb == NULL || s->ix.n == 0) {
        pthread_mutex_unlock(&s->mx);
        return MQ_OK;
    }
    ent **v = ix_sorted(&s->ix);
    seqs = malloc(s->ix.n * sizeof *seqs);
    if (v == NULL || seqs == NULL) {
        free(v);
        free(seqs);
        pthread_mutex_unlock(&s->mx);
        return MQ_ERR_NOMEM;
    }
    n = s->ix.n;
    for (size_t i = 0; i < n; i++)
        seqs[i] = v[i]->seq;
    free(v);
    gen = s->gen;
    pthread_mutex_unlock(&s->mx);

    /* One record at a time, without the lock during the callback: it may
     * call back into the store (e.g. remove a message it drops). Records
     * lie in seq order in the file, so reads go through a chunked reader;
     * a compaction (new file) invalidates what it holds. */
    for (size_t i = 0; i < n; i++) {
        mqi_store_rec r;
        const uint8_t *h, *b;
        uint32_t blen;

        pthread_mutex_lock(&s->mx);
        ent *e = ix_find(&s->ix, seqs[i]);
        if (e == NULL) {
            pthread_mutex_unlock(&s->mx);
            continue;
        }
        if (s->gen != gen) {
            gen = s->gen;
            rd.blen = 0;
        }
        rd.fd = s->fd;
        rd.size = s->end;
        blen = e->len - REC_HDR;
        if (e->off + e->len > rd.size) {
            rc = MQ_ERR_PERSIST;
        } else {
            rc = rd_get(&rd, e->off, e->len, &h);
            ent tmp;
            if (rc == MQ_OK &&
                (h[0] != REC_MAGIC || h[1] != REC_ADD ||
                 get64(h + 8) != e->seq || get32(h + 4) != blen ||
                 crc32c(crc32c(0, h + REC_HDR, blen), h, 16) !=
                     get32(h + 16) ||
                 !check_body(REC_ADD, h + REC_HDR, blen, &tmp)))
                rc = MQ_ERR_PERSIST;
        }
        if (rc != MQ_OK) {
            pthread_mutex_unlock(&s->mx);
            break;
        }
        b = h + REC_HDR;
        memset(&r, 0, sizeof r);
        r.seq = e->seq;
        r.qos = b[0];
        r.retain = b[1];
        r.state = e->state;
        r.packet_id = e->pid;
        r.topic_len = get32(b + 8);
        r.payload_len = get32(b + 12);
        r.props_len = get32(b + 16);
        r.topic = (const char *)(b + ADD_FIXED);
        r.payload = b + ADD_FIXED + r.topic_len;
        r.props = r.payload + r.payload_len;
        if (b[3] & ADD_F_TAG)
            r.tag = get64(r.props + r.props_len);
        pthread_mutex_unlock(&s->mx);
        if (cb(ud, &r) != 0)
            break;
    }
    free(rd.buf);
    free(seqs);
    return rc;
}

int
mqi_store_add(mqi_store *s, const mqi_store_rec *r, uint64_t *out_seq)
{
    uint8_t stackbuf[STACK_REC], *rec = stackbuf;
    uint64_t body_len, seq;
    uint32_t body_crc;
    uint8_t *b;
    int rc;
    ent e;

    if (out_seq != NULL)
        *out_seq = 0;
    if (s == NULL || r == NULL || (r->qos != 1 && r->qos != 2) ||
        r->state > MQI_ST_PUBREL || r->retain > 1 ||
        (r->topic == NULL && r->topic_len > 0) ||
        (r->payload == NULL && r->payload_len > 0) ||
        (r->props == NULL && r->props_len > 0))
        return MQ_ERR_INVAL;
    body_len = (uint64_t)ADD_FIXED + r->topic_len + r->payload_len +
               r->props_len + (r->tag != 0 ? 8 : 0);
    if (r->topic_len > MAX_BODY || r->payload_len > MAX_BODY ||
        r->props_len > MAX_BODY || body_len > MAX_BODY)
        return MQ_ERR_TOO_LARGE;

    /* Everything but the seq is built and checksummed outside the lock. */
    if (REC_HDR + body_len > sizeof stackbuf) {
        rec = malloc((size_t)(REC_HDR + body_len));
        if (rec == NULL)
            return MQ_ERR_NOMEM;
    }
    b = rec + REC_HDR;
    b[0] = r->qos;
    b[1] = r->retain;
    b[2] = r->state;
    b[3] = r->tag != 0 ? ADD_F_TAG : 0;
    put16(b + 4, r->packet_id);
    put16(b + 6, 0);
    put32(b + 8, (uint32_t)r->topic_len);
    put32(b + 12, (uint32_t)r->payload_len);
    put32(b + 16, (uint32_t)r->props_len);
    b += ADD_FIXED;
    if (r->topic_len > 0)
        memcpy(b, r->topic, r->topic_len);
    b += r->topic_len;
    if (r->payload_len > 0)
        memcpy(b, r->payload, r->payload_len);
    b += r->payload_len;
    if (r->props_len > 0)
        memcpy(b, r->props, r->props_len);
    b += r->props_len;
    if (r->tag != 0)
        put64(b, r->tag);
    body_crc = crc32c(0, rec + REC_HDR, (size_t)body_len);

    pthread_mutex_lock(&s->mx);
    if (s->closed) {
        rc = MQ_ERR_PERSIST;
        goto out;
    }
    if (r->tag != 0 && !(s->hdr_flags & HDR_F_TAGS)) {
        /* first tagged record: mark the file first (see the top) */
        s->hdr_flags |= HDR_F_TAGS;
        rc = compact_locked(s);
        if (rc != MQ_OK) {
            s->hdr_flags &= ~HDR_F_TAGS;
            rc = MQ_ERR_PERSIST;
            goto out;
        }
    }
    rc = ix_reserve(&s->ix);
    if (rc != MQ_OK)
        goto out;
    seq = s->next_seq;
    if (seq > MAX_SEQ) {
        /* only after a damaged log with a huge seq: refuse openly rather
         * than write a record the next recovery would cut off */
        rc = MQ_ERR_PERSIST;
        goto out;
    }
    rec_header(rec, REC_ADD, (uint32_t)body_len, seq, body_crc);
    memset(&e, 0, sizeof e);
    e.seq = seq;
    e.off = s->end;
    e.len = (uint32_t)(REC_HDR + body_len);
    e.state = e.orig_state = r->state;
    e.pid = e.orig_pid = r->packet_id;
    rc = append_locked(s, rec, e.len);
    if (rc != MQ_OK)
        goto out;
    s->next_seq++;
    ix_insert(&s->ix, &e);
    s->live_bytes += e.len;
    if (s->policy == MQI_SYNC_ALWAYS) {
        rc = sync_locked(s);
        if (rc != MQ_OK) {
            /* Not durable: do not report it as stored. The record may
             * still be in the file; forget it here so it is not
             * resent twice by this process. */
            ent *p = ix_find(&s->ix, seq);
            if (p != NULL) {
                s->live_bytes -= p->len;
                ix_delete(&s->ix, p);
            }
            goto out;
        }
    }
    if (out_seq != NULL)
        *out_seq = seq;
out:
    pthread_mutex_unlock(&s->mx);
    if (rec != stackbuf)
        free(rec);
    return rc;
}

int
mqi_store_update(mqi_store *s, uint64_t seq, int state, uint16_t packet_id)
{
    uint8_t rec[REC_HDR + UPD_BODY];
    ent *e;
    int rc;

    if (s == NULL || state < MQI_ST_PUBLISH || state > MQI_ST_PUBREL)
        return MQ_ERR_INVAL;
    pthread_mutex_lock(&s->mx);
    e = ix_find(&s->ix, seq);
    if (e == NULL) {
        rc = MQ_ERR_NOT_FOUND;
        goto out;
    }
    if (e->state == state && e->pid == packet_id) {
        rc = MQ_OK;
        goto out;
    }
    rec[REC_HDR] = (uint8_t)state;
    rec[REC_HDR + 1] = 0;
    put16(rec + REC_HDR + 2, packet_id);
    rec_header(rec, REC_UPDATE, UPD_BODY, seq,
               crc32c(0, rec + REC_HDR, UPD_BODY));
    rc = append_locked(s, rec, sizeof rec);
    if (rc != MQ_OK)
        goto out;
    e->state = (uint8_t)state;
    e->pid = packet_id;
    /* PUBREC -> PUBREL must not be forgotten under ALWAYS either: a
     * forgotten PUBREL state means resending a PUBLISH the broker already
     * took. (The packet id alone is harmless to lose.) */
    if (s->policy == MQI_SYNC_ALWAYS && state == MQI_ST_PUBREL)
        rc = sync_locked(s);
    if (rc == MQ_OK)
        maybe_compact(s);
out:
    pthread_mutex_unlock(&s->mx);
    return rc;
}

int
mqi_store_remove(mqi_store *s, uint64_t seq)
{
    uint8_t rec[REC_HDR];
    ent *e;
    int rc;

    if (s == NULL)
        return MQ_ERR_INVAL;
    pthread_mutex_lock(&s->mx);
    e = ix_find(&s->ix, seq);
    if (e == NULL) {
        rc = MQ_ERR_NOT_FOUND;
        goto out;
    }
    rec_header(rec, REC_REMOVE, 0, seq, 0);
    rc = append_locked(s, rec, sizeof rec);
    if (rc != MQ_OK)
        goto out;
    s->live_bytes -= e->len;
    ix_delete(&s->ix, e);
    /* A lost REMOVE only causes a duplicate resend (allowed for QoS 1 and
     * harmless for QoS 2 PUBREL), so it is synced lazily. */
    maybe_compact(s);
out:
    pthread_mutex_unlock(&s->mx);
    return rc;
}

int
mqi_store_qos2_in(mqi_store *s, uint16_t packet_id, bool on)
{
    uint8_t rec[INQ2_REC];
    int rc = MQ_OK;

    if (s == NULL || (packet_id == 0 && on))
        return MQ_ERR_INVAL;
    pthread_mutex_lock(&s->mx);
    if (s->closed) {
        rc = MQ_ERR_PERSIST;
        goto out;
    }
    if (packet_id == 0 ? s->inq2_n == 0
                       : on == (s->inq2 != NULL &&
                                (s->inq2[packet_id >> 3] &
                                 (1u << (packet_id & 7))) != 0))
        goto out; /* nothing changes */
    if (!(s->hdr_flags & HDR_F_INQ2)) {
        /* first INQ2 record: mark the file first (see the top) */
        s->hdr_flags |= HDR_F_INQ2;
        rc = compact_locked(s);
        if (rc != MQ_OK) {
            s->hdr_flags &= ~HDR_F_INQ2;
            rc = MQ_ERR_PERSIST;
            goto out;
        }
    }
    if (on && s->inq2 == NULL && (s->inq2 = calloc(8192, 1)) == NULL) {
        rc = MQ_ERR_NOMEM;
        goto out;
    }
    inq2_record(rec, packet_id, on);
    rc = append_locked(s, rec, sizeof rec);
    if (rc != MQ_OK)
        goto out;
    (void)inq2_set(s, packet_id, on); /* the bitmap exists when on */
    /* PUBREC goes out after this returns: under ALWAYS the id must be on
     * disk first, or a power loss could deliver the message twice. A lost
     * off-record only answers one PUBREL "not found" later. */
    if (on && s->policy == MQI_SYNC_ALWAYS)
        rc = sync_locked(s);
    if (rc == MQ_OK && !on)
        maybe_compact(s);
out:
    pthread_mutex_unlock(&s->mx);
    return rc;
}

size_t
mqi_store_qos2_in_list(mqi_store *s, uint16_t *out, size_t max)
{
    size_t n = 0;

    if (s == NULL)
        return 0;
    pthread_mutex_lock(&s->mx);
    for (uint32_t pid = 1; s->inq2 != NULL && pid <= 0xffff; pid++)
        if (s->inq2[pid >> 3] & (1u << (pid & 7))) {
            if (n < max)
                out[n] = (uint16_t)pid;
            n++;
        }
    pthread_mutex_unlock(&s->mx);
    return n;
}

int
mqi_store_tick(mqi_store *s, int64_t now_ms)
{
    int64_t wait = -1;

    if (s == NULL)
        return -1;
    pthread_mutex_lock(&s->mx);
    if (s->closed) {
        pthread_mutex_unlock(&s->mx);
        return -1;
    }
    if (s->policy != MQI_SYNC_NONE && s->synced < s->end && !s->broken) {
        int64_t due = s->last_sync_ms + BATCH_MS;
        if (s->policy == MQI_SYNC_ALWAYS || now_ms >= due) {
            s->last_sync_ms = now_ms;
            (void)sync_locked(s);
        } else {
            wait = due - now_ms;
        }
        if (s->synced < s->end && !s->broken &&
            (wait < 0 || wait > BATCH_MS))
            wait = BATCH_MS;
    }
    if (s->compact_failed && !s->broken) {
        if (s->compact_retry_at == 0)
            s->compact_retry_at = now_ms + COMPACT_RETRY_MS;
        if (now_ms >= s->compact_retry_at) {
            s->compact_retry_at = 0;
            if (want_compact(s))
                (void)compact_locked(s);
            else
                s->compact_failed = false;
        }
        if (s->compact_failed) {
            if (s->compact_retry_at == 0)
                s->compact_retry_at = now_ms + COMPACT_RETRY_MS;
            int64_t w = s->compact_retry_at - now_ms;
            if (wait < 0 || w < wait)
                wait = w;
        }
    }
    pthread_mutex_unlock(&s->mx);
    if (wait > INT_MAX)
        wait = INT_MAX;
    return (int)wait;
}

size_t
mqi_store_live(mqi_store *s)
{
    size_t n;

    if (s == NULL)
        return 0;
    pthread_mutex_lock(&s->mx);
    n = s->ix.n;
    pthread_mutex_unlock(&s->mx);
    return n;
}

uint64_t
mqi_store_file_size(mqi_store *s)
{
    uint64_t n;

    if (s == NULL)
        return 0;
    pthread_mutex_lock(&s->mx);
    n = s->end;
    pthread_mutex_unlock(&s->mx);
    return n;
}

void
mqi_store_ref(mqi_store *s)
{
    pthread_mutex_lock(&s->mx);
    s->refs++;
    pthread_mutex_unlock(&s->mx);
}

void
mqi_store_unref(mqi_store *s)
{
    int left;

    if (s == NULL)
        return;
    pthread_mutex_lock(&s->mx);
    left = --s->refs;
    pthread_mutex_unlock(&s->mx);
    if (left > 0)
        return;
    if (s->fd >= 0)
        close(s->fd);
    if (s->dirfd >= 0)
        close(s->dirfd);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mx);
    free(s->ix.tab);
    free(s->inq2);
    free(s->cbuf);
    free(s->name);
    free(s->tmpname);
    free(s);
}

void
mqi_store_close(mqi_store *s)
{
    if (s == NULL)
        return;
    pthread_mutex_lock(&s->mx);
    if (!s->closed) {
        wait_no_sync(s);
        if (s->fd >= 0 && s->policy != MQI_SYNC_NONE)
            (void)sync_locked(s);
        wait_no_sync(s);
        s->closed = true;
        if (s->fd >= 0)
            close(s->fd); /* drops the flock */
        s->fd = -1;
        if (s->dirfd >= 0)
            close(s->dirfd);
        s->dirfd = -1;
    }
    pthread_mutex_unlock(&s->mx);
    mqi_store_unref(s);
}
