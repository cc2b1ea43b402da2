/*
 * mq.i - the one SWIG interface for libmq's Lua, Go and Node bindings.
 *
 * It wraps the flat C API of mq.h almost as is. Each language then adds a
 * small hand-written layer (bindings/lua/mq.lua, bindings/go/*.go,
 * bindings/node/index.js) that turns it into an idiomatic client object.
 *
 * What differs from mq.h:
 *  - byte buffers (payload, password, binary properties) are binary-safe
 *    strings / []byte / Buffers: (const void *, size_t) pairs on input and
 *    mq_bytes results on output (mq_event_payload, mq_props_get_binary);
 *  - out-parameters become helpers: mq_get_int_value, mq_props_get_int_value;
 *  - the callback API (mq_event_cb, mq_set_callback, mq_on_*, mq_loop*) is
 *    C only: every binding pulls events with mq_next_event() on the thread
 *    (or event loop) of its language;
 *  - C arrays in (mq_subscribe_many) go through a small list object,
 *    mq_filter_list, filled one filter at a time (mq_subscribe_many_list);
 *  - mq_event_fd_dup() returns a close-on-exec duplicate of the event fd for
 *    event loops that close the fd they watch (libuv, Node's net.Socket).
 *
 * Threading: as mq.h; the bindings call mq_next_event() only from the
 * language's own thread (Lua, Node main loop) or one goroutine (Go).
 */
%module mq

%{
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include "mq.h"

typedef struct { const void *data; size_t len; } mq_bytes;

static mq_bytes mq_event_payload_bytes(const mq_event *ev)
{
    mq_bytes b;
    b.len = 0;
    b.data = mq_event_payload(ev, &b.len);
    return b;
}

static mq_bytes mq_props_get_binary_bytes(const mq_props *p, int id)
{
    mq_bytes b;
    b.len = 0;
    b.data = mq_props_get_binary(p, id, &b.len);
    return b;
}

/* Topic filters with their MQ_SUB_* options, for the *_many calls. */
typedef struct mq_filter_list {
    size_t n, cap;
    char **filters;
    int *options;
} mq_filter_list;
%}

%include <stdint.i>

/* ---- byte buffers in: (const void *, size_t) ------------------------ */

#if defined(SWIGLUA)
%typemap(in, checkfn="lua_isstring") (const void *payload, size_t len) {
    size_t l_ = 0;
    $1 = (void *)luaL_checklstring(L, $input, &l_);
    $2 = l_;
}
%typemap(out) mq_bytes {
    if ($1.data) lua_pushlstring(L, (const char *)$1.data, $1.len);
    else lua_pushnil(L);
    SWIG_arg++;
}
/* SWIG 4.1 pushes C integers as Lua floats; make them Lua integers. */
%typemap(out) int, unsigned int, long, unsigned long, size_t, int64_t,
              uint32_t
    "lua_pushinteger(L, (lua_Integer)$1); SWIG_arg++;"
#endif

#if defined(SWIGGO)
%typemap(gotype) (const void *payload, size_t len) "[]byte"
%typemap(in) (const void *payload, size_t len) {
    $1 = $input.array;
    $2 = (size_t)$input.len;
}
%typemap(gotype) mq_bytes "[]byte"
%typemap(imtype) mq_bytes "uint64"
%typemap(out) mq_bytes %{
    {
        struct mq_swig_bytes { intgo size; const void *data; } *o_ =
            malloc(sizeof *o_);
        if (o_) {
            o_->size = (intgo)$1.len;
            o_->data = $1.data;
        }
        $result = (long long)(uintptr_t)o_;
    }
%}
%typemap(goout) mq_bytes %{
    {
        type mqSwigBytes struct {
            size int
            data uintptr
        }
        p := (*mqSwigBytes)(unsafe.Pointer(uintptr($1)))
        if p == nil || p.data == 0 {
            $result = nil
        } else {
            $result = make([]byte, p.size)
            copy($result, unsafe.Slice((*byte)(unsafe.Pointer(p.data)), p.size))
        }
        if p != nil {
            Swig_free(uintptr(unsafe.Pointer(p)))
        }
    }
%}
#endif

#if defined(SWIGJAVASCRIPT)
%{
#include <node_buffer.h>
%}
%typemap(in) (const void *payload, size_t len) {
    if ($input->IsNull() || $input->IsUndefined()) {
        $1 = NULL;
        $2 = 0;
    } else if (node::Buffer::HasInstance($input)) {
        $1 = node::Buffer::Data($input);
        $2 = node::Buffer::Length($input);
    } else {
        SWIG_exception_fail(SWIG_TypeError,
                            "payload must be a Buffer or Uint8Array");
    }
}
%typemap(out) mq_bytes {
    if ($1.data)
        $result = node::Buffer::Copy(v8::Isolate::GetCurrent(),
                                     (const char *)$1.data,
                                     $1.len).ToLocalChecked();
    else
        $result = SWIGV8_NULL();
}
#endif

%apply (const void *payload, size_t len) {
    (const void *password, size_t len),
    (const void *data, size_t len)
};

/* ---- C-only parts of mq.h ------------------------------------------- */

%ignore mq_event_cb;
%ignore mq_set_callback;
%ignore mq_on_connect;
%ignore mq_on_disconnect;
%ignore mq_on_message;
%ignore mq_on_publish;
%ignore mq_on_subscribe;
%ignore mq_on_unsubscribe;
%ignore mq_on_log;
%ignore mq_loop;
%ignore mq_loop_forever;
%ignore mq_loop_start;
%ignore mq_loop_stop;
%ignore mq_subscribe_many; /* reached through mq_subscribe_many_list */
%ignore mq_tls_password_cb;
%ignore mq_set_tls_password_cb;
%ignore mq_get_int;
%ignore mq_props_get_int;
%ignore mq_event_payload;
%ignore mq_props_get_binary;
%ignore MQ_ERR_LAST_;

/* ---- helpers replacing out-parameters -------------------------------- */

typedef struct { const void *data; size_t len; } mq_bytes;
%rename(mq_event_payload) mq_event_payload_bytes;
mq_bytes mq_event_payload_bytes(const mq_event *ev);
%rename(mq_props_get_binary) mq_props_get_binary_bytes;
mq_bytes mq_props_get_binary_bytes(const mq_props *p, int id);

%inline %{
/* Value of an integer option; @p fallback if the option is unknown. */
static int64_t mq_get_int_value(mq_client *c, int option, int64_t fallback)
{
    int64_t v = fallback;
    if (mq_get_int(c, option, &v) != 0)
        return fallback;
    return v;
}

/* The n-th integer property with @p id, or -1 if absent/not an integer. */
static int64_t mq_props_get_int_value(const mq_props *p, int id, size_t n)
{
    uint32_t v = 0;
    if (mq_props_get_int(p, id, n, &v) != 0)
        return -1;
    return (int64_t)v;
}

/* A close-on-exec duplicate of mq_event_fd(c) that the caller owns (and
 * must close); -1 on error. For event loops that close what they watch. */
static int mq_event_fd_dup(mq_client *c)
{
    int fd = mq_event_fd(c);
    if (fd < 0)
        return -1;
    return fcntl(fd, F_DUPFD_CLOEXEC, 0);
}
%}

/* ---- C arrays in: a list of topic filters ---------------------------- */

typedef struct mq_filter_list mq_filter_list;

%inline %{
/* A new empty filter list (NULL when out of memory); free it with
 * mq_filter_list_free(). Not thread-safe; libmq copies it on use. */
static mq_filter_list *mq_filter_list_new(void)
{
    return (mq_filter_list *)calloc(1, sizeof(mq_filter_list));
}

static void mq_filter_list_free(mq_filter_list *l)
{
    size_t i;

    if (l == NULL)
        return;
    for (i = 0; i < l->n; i++)
        free(l->filters[i]);
    free(l->filters);
    free(l->options);
    free(l);
}

/* Append a filter (copied) with MQ_SUB_* options (QoS in the low bits;
 * ignored by unsubscribe). MQ_ERR_INVAL for NULL, MQ_ERR_NOMEM. */
static int mq_filter_list_add(mq_filter_list *l, const char *filter,
                              int options)
{
    size_t len;
    char *copy;

    if (l == NULL || filter == NULL)
        return MQ_ERR_INVAL;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        char **f = (char **)realloc(l->filters, cap * sizeof *f);
        int *o;

        if (f == NULL)
            return MQ_ERR_NOMEM;
        l->filters = f;
        o = (int *)realloc(l->options, cap * sizeof *o);
        if (o == NULL)
            return MQ_ERR_NOMEM;
        l->options = o;
        l->cap = cap;
    }
    len = strlen(filter) + 1;
    copy = (char *)malloc(len);
    if (copy == NULL)
        return MQ_ERR_NOMEM;
    memcpy(copy, filter, len);
    l->filters[l->n] = copy;
    l->options[l->n] = options;
    l->n++;
    return MQ_OK;
}

static size_t mq_filter_list_count(const mq_filter_list *l)
{
    return l ? l->n : 0;
}

/* mq_subscribe_many() with the filters and options of @p l. */
static int mq_subscribe_many_list(mq_client *c, const mq_filter_list *l,
                                  const mq_props *props)
{
    if (l == NULL)
        return MQ_ERR_INVAL;
    return mq_subscribe_many(c, l->n, (const char *const *)l->filters,
                             l->options, props);
}
%}

%include "mq.h"
