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
 *  - C arrays in (mq_subscribe_many, mq_unsubscribe_many) go through a
 *    small list object, mq_filter_list, filled one filter at a time
 *    (mq_subscribe_many_list, mq_unsubscribe_many_list);
 *  - mq_set_tls_ctx is C only (it takes an OpenSSL SSL_CTX *);
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
              uint32_t, uint64_t
    "lua_pushinteger(L, (lua_Integer)$1); SWIG_arg++;"
/* 64-bit tags in without a detour through a double */
%typemap(in, checkfn="lua_isinteger") uint64_t
    "$1 = (uint64_t)lua_tointeger(L, $input);"
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

#if defined(SWIGPYTHON)
/* ---- Python (bindings/python) ----------------------------------------
 * The generated module is libmq._mq_core (shadow module libmq.mq_core);
 * bindings/python/libmq/client.py builds paho-mqtt's Client on it.
 *  - strings in (const char *): str (UTF-8, embedded NUL refused with
 *    ValueError), bytes, or None for NULL; no copy is made;
 *  - payloads in: bytes, bytearray, memoryview (any contiguous buffer),
 *    str (UTF-8) or None (empty); anything else raises TypeError;
 *  - mq_bytes out: bytes, or None;
 *  - the GIL is released in every call that can wait: mq_next_event,
 *    mq_client_destroy (joins threads, waits for a graceful disconnect),
 *    mq_wait, mq_wait_connected, mq_wait_disconnected, mq_set_str (opening
 *    a persistence store reads it), mq_py_publish_nogil (mq_publish_v5
 *    for clients with MQ_OPT_PUBLISH_TIMEOUT_MS set, where publish waits
 *    for queue space; plain mq_publish and mq_py_publish keep the GIL, as
 *    dropping it per message would hand it to the loop thread on every
 *    call) and the taker mq_py_take below, so a loop thread never freezes
 *    the interpreter;
 *  - mq_py_take() takes up to @p max events in one call and returns them as
 *    a list of tuples (see mq_py_event_tuple) with a flag saying whether
 *    any of them changes the Python layer's state, so the Python loop pays
 *    one crossing per batch instead of a dozen accessor calls per event;
 *  - mq_py_publish() is Client.publish()'s fast path: paho's argument
 *    rules checked in C, one crossing per message.
 */
%{
#include <poll.h>
#include <errno.h>
%}

%typemap(in) const char * (Py_ssize_t size_ = 0) {
    if ($input == Py_None) {
        $1 = NULL;
    } else if (PyUnicode_Check($input)) {
        $1 = ($1_ltype)PyUnicode_AsUTF8AndSize($input, &size_);
        if ($1 == NULL)
            SWIG_fail; /* UnicodeEncodeError (lone surrogates) */
        if ((size_t)size_ != strlen($1)) {
            PyErr_SetString(PyExc_ValueError,
                            "string contains a NUL character");
            SWIG_fail;
        }
    } else if (PyBytes_Check($input)) {
        $1 = ($1_ltype)PyBytes_AS_STRING($input);
        if ((size_t)PyBytes_GET_SIZE($input) != strlen($1)) {
            PyErr_SetString(PyExc_ValueError,
                            "string contains a NUL character");
            SWIG_fail;
        }
    } else {
        PyErr_Format(PyExc_TypeError, "expected str, bytes or None, not %s",
                     Py_TYPE($input)->tp_name);
        SWIG_fail;
    }
}
%typemap(freearg) const char * "";
%typemap(typecheck, precedence=SWIG_TYPECHECK_STRING) const char * {
    $1 = ($input == Py_None || PyUnicode_Check($input) ||
          PyBytes_Check($input)) ? 1 : 0;
}

%typemap(in) (const void *payload, size_t len)
        (Py_buffer view_, int have_view_ = 0) {
    if ($input == Py_None) {
        $1 = NULL;
        $2 = 0;
    } else if (PyUnicode_Check($input)) {
        Py_ssize_t n_ = 0;
        $1 = (void *)PyUnicode_AsUTF8AndSize($input, &n_);
        if ($1 == NULL)
            SWIG_fail;
        $2 = (size_t)n_;
    } else if (PyObject_CheckBuffer($input)) {
        if (PyObject_GetBuffer($input, &view_, PyBUF_SIMPLE) != 0)
            SWIG_fail; /* e.g. a non-contiguous memoryview: BufferError */
        have_view_ = 1;
        $1 = view_.buf;
        $2 = (size_t)view_.len;
    } else {
        PyErr_Format(PyExc_TypeError,
                     "payload must be bytes, bytearray, memoryview, str or "
                     "None, not %s", Py_TYPE($input)->tp_name);
        SWIG_fail;
    }
}
%typemap(freearg) (const void *payload, size_t len) {
    if (have_view_$argnum)
        PyBuffer_Release(&view_$argnum);
}
%typemap(out) mq_bytes {
    if ($1.data)
        $result = PyBytes_FromStringAndSize((const char *)$1.data,
                                            (Py_ssize_t)$1.len);
    else
        $result = SWIG_Py_Void();
}

%define MQ_PY_NOGIL(fn)
%exception fn {
    Py_BEGIN_ALLOW_THREADS
    $action
    Py_END_ALLOW_THREADS
}
%enddef
MQ_PY_NOGIL(mq_next_event)
MQ_PY_NOGIL(mq_client_destroy)
MQ_PY_NOGIL(mq_py_publish_nogil)
MQ_PY_NOGIL(mq_wait)
MQ_PY_NOGIL(mq_wait_connected)
MQ_PY_NOGIL(mq_wait_disconnected)
MQ_PY_NOGIL(mq_set_str)

%{
/* Property ids by type, for turning a received list into Python values. */
static const int mq_py_int_props[] = {
    MQ_PROP_PAYLOAD_FORMAT_INDICATOR, MQ_PROP_MESSAGE_EXPIRY_INTERVAL,
    MQ_PROP_SUBSCRIPTION_IDENTIFIER, MQ_PROP_SESSION_EXPIRY_INTERVAL,
    MQ_PROP_SERVER_KEEP_ALIVE, MQ_PROP_REQUEST_PROBLEM_INFORMATION,
    MQ_PROP_WILL_DELAY_INTERVAL, MQ_PROP_REQUEST_RESPONSE_INFORMATION,
    MQ_PROP_RECEIVE_MAXIMUM, MQ_PROP_TOPIC_ALIAS_MAXIMUM, MQ_PROP_TOPIC_ALIAS,
    MQ_PROP_MAXIMUM_QOS, MQ_PROP_RETAIN_AVAILABLE, MQ_PROP_MAXIMUM_PACKET_SIZE,
    MQ_PROP_WILDCARD_SUBSCRIPTION_AVAILABLE,
    MQ_PROP_SUBSCRIPTION_IDENTIFIER_AVAILABLE,
    MQ_PROP_SHARED_SUBSCRIPTION_AVAILABLE
};
static const int mq_py_str_props[] = {
    MQ_PROP_CONTENT_TYPE, MQ_PROP_RESPONSE_TOPIC,
    MQ_PROP_ASSIGNED_CLIENT_IDENTIFIER, MQ_PROP_AUTHENTICATION_METHOD,
    MQ_PROP_RESPONSE_INFORMATION, MQ_PROP_SERVER_REFERENCE,
    MQ_PROP_REASON_STRING
};
static const int mq_py_bin_props[] = {
    MQ_PROP_CORRELATION_DATA, MQ_PROP_AUTHENTICATION_DATA
};

/* Append (id, value) to @p list; steals @p value. 0 or -1 (exception). */
static int mq_py_append_prop(PyObject *list, int id, PyObject *value)
{
    PyObject *t;
    int rc;

    if (value == NULL)
        return -1;
    t = Py_BuildValue("(iN)", id, value);
    if (t == NULL)
        return -1;
    rc = PyList_Append(list, t);
    Py_DECREF(t);
    return rc;
}

/* A received property list as [(id, value), ...] in a fixed order:
 * integers (Subscription Identifier once per occurrence), strings (str),
 * binaries (bytes), then user properties as (0x26, (key, value)) in the
 * order received. None for NULL. New reference, NULL on error. */
static PyObject *mq_py_props_list(const mq_props *p)
{
    PyObject *list;
    size_t i, n;

    if (p == NULL)
        Py_RETURN_NONE;
    list = PyList_New(0);
    if (list == NULL)
        return NULL;
    for (i = 0; i < sizeof mq_py_int_props / sizeof mq_py_int_props[0]; i++) {
        int id = mq_py_int_props[i];
        uint32_t v;
        for (n = 0; mq_props_get_int(p, id, n, &v) == MQ_OK; n++)
            if (mq_py_append_prop(list, id,
                                  PyLong_FromUnsignedLong(v)) != 0)
                goto fail;
    }
    for (i = 0; i < sizeof mq_py_str_props / sizeof mq_py_str_props[0]; i++) {
        const char *s = mq_props_get_string(p, mq_py_str_props[i]);
        if (s != NULL &&
            mq_py_append_prop(list, mq_py_str_props[i],
                              PyUnicode_DecodeUTF8(s, (Py_ssize_t)strlen(s),
                                                   "surrogateescape")) != 0)
            goto fail;
    }
    for (i = 0; i < sizeof mq_py_bin_props / sizeof mq_py_bin_props[0]; i++) {
        size_t len = 0;
        const void *d = mq_props_get_binary(p, mq_py_bin_props[i], &len);
        if (d != NULL &&
            mq_py_append_prop(list, mq_py_bin_props[i],
                              PyBytes_FromStringAndSize((const char *)d,
                                                        (Py_ssize_t)len)) != 0)
            goto fail;
    }
    n = mq_props_user_count(p);
    for (i = 0; i < n; i++) {
        if (mq_py_append_prop(list, MQ_PROP_USER_PROPERTY,
                              Py_BuildValue("(ss)", mq_props_user_key(p, i),
                                            mq_props_user_value(p, i))) != 0)
            goto fail;
    }
    return list;
fail:
    Py_DECREF(list);
    return NULL;
}

/* One event as a tuple (client.py indexes these; keep them in step):
 *   MESSAGE       (kind, topic, payload, qos, retain, dup, packet_id, props,
 *                  keep)
 *   RECOVERED     (kind, topic, payload, qos, retain, tag, token, props)
 *   PUBLISHED     (kind, token, error, reason, tag, None, props, keep)
 *   RESUBSCRIBED  (kind, 0, error, reason, qos, filter, props, 0)
 *   CONNECT       (kind, token, error, reason, session_present, message,
 *                  props, tls) with tls from mq_py_tls_info()
 *   other kinds   (kind, token, error, reason, extra, message, props,
 *                  log_level)
 * where extra is will_reconnect (DISCONNECTED)
 * or the tuple of reason codes (SUBSCRIBED, UNSUBSCRIBED), else 0; topics
 * and filters are str (bytes if not valid UTF-8), payloads bytes. @p keep
 * is None, or a capsule that owns the event, freed with the tuple or
 * earlier by mq_py_event_done(), after its callbacks ran: for a tagged
 * completion with a persistence store (the event holds the message's
 * store record, mq_publish_tagged; docs/guide/persistence.md) and for a
 * received QoS 1/2 message (libmq acknowledges it - PUBACK/PUBREC - when
 * the event is freed, so only after on_message returned, as paho-mqtt).
 * *owned is set to 1 then, and the caller must not free the event. New
 * reference, NULL on error. */
static void mq_py_event_capsule_free(PyObject *cap)
{
    mq_event_free((mq_event *)PyCapsule_GetPointer(cap, "libmq.event"));
}

static PyObject *mq_py_str_or_bytes(const char *s)
{
    PyObject *t = PyUnicode_DecodeUTF8(s, (Py_ssize_t)strlen(s), NULL);
    if (t == NULL) {
        PyErr_Clear();
        t = PyBytes_FromString(s);
    }
    return t;
}

/* A tuple of @p n items from @p items (references stolen); NULL (and the
 * items released) if one is NULL or memory is short. */
static PyObject *mq_py_tuple(PyObject **items, Py_ssize_t n)
{
    PyObject *t = NULL;
    Py_ssize_t i;

    for (i = 0; i < n; i++)
        if (items[i] == NULL)
            goto fail;
    t = PyTuple_New(n);
    if (t == NULL)
        goto fail;
    for (i = 0; i < n; i++)
        PyTuple_SET_ITEM(t, i, items[i]);
    return t;
fail:
    for (i = 0; i < n; i++)
        Py_XDECREF(items[i]);
    return NULL;
}

/* What the TLS handshake of a CONNECT event negotiated, as
 * (version, cipher, alpn or None, resumed), or None without TLS. */
static PyObject *mq_py_tls_info(const mq_event *ev)
{
    const char *version = mq_event_tls(ev, MQ_TLS_VERSION);
    const char *alpn = mq_event_tls(ev, MQ_TLS_ALPN);
    const char *resumed = mq_event_tls(ev, MQ_TLS_RESUMED);
    const char *cipher = mq_event_tls(ev, MQ_TLS_CIPHER);
    PyObject *it[4];

    if (version == NULL)
        return Py_NewRef(Py_None);
    it[0] = mq_py_str_or_bytes(version);
    it[1] = cipher != NULL ? mq_py_str_or_bytes(cipher) : Py_NewRef(Py_None);
    it[2] = alpn != NULL && alpn[0] != '\0' ? mq_py_str_or_bytes(alpn)
                                           : Py_NewRef(Py_None);
    it[3] = PyBool_FromLong(resumed != NULL && resumed[0] == '1');
    return mq_py_tuple(it, 4);
}

static PyObject *mq_py_event_tuple(mq_event *ev, int *owned)
{
    int kind = mq_event_type(ev);
    PyObject *it[8];
    const char *msg;

    *owned = 0;
    it[0] = PyLong_FromLong(kind);
    if (kind == MQ_EVENT_PUBLISHED) {
        /* the hot path: no properties on most (QoS 0 has none) */
        const mq_props *p = mq_event_props(ev);
        uint64_t tag = mq_event_tag(ev);
        it[1] = PyLong_FromLong(mq_event_token(ev));
        it[2] = PyLong_FromLong(mq_event_error(ev));
        it[3] = PyLong_FromLong(mq_event_reason(ev));
        it[4] = PyLong_FromUnsignedLongLong(tag);
        it[5] = Py_NewRef(Py_None);
        it[6] = p != NULL ? mq_py_props_list(p) : Py_NewRef(Py_None);
        if (tag != 0) {
            it[7] = PyCapsule_New(ev, "libmq.event", mq_py_event_capsule_free);
            if (it[7] != NULL)
                *owned = 1;
        } else {
            it[7] = Py_NewRef(Py_None);
        }
        /* if the tuple fails, the capsule frees the event with it */
        return mq_py_tuple(it, 8);
    }
    it[7] = mq_py_props_list(mq_event_props(ev));
    if (kind == MQ_EVENT_MESSAGE || kind == MQ_EVENT_RECOVERED) {
        size_t len = 0;
        const void *pl = mq_event_payload(ev, &len);
        it[1] = mq_py_str_or_bytes(mq_event_topic(ev));
        it[2] = PyBytes_FromStringAndSize(pl ? (const char *)pl : "",
                                          (Py_ssize_t)len);
        it[3] = PyLong_FromLong(mq_event_qos(ev));
        it[4] = PyLong_FromLong(mq_event_retain(ev));
        if (kind == MQ_EVENT_MESSAGE) {
            PyObject *m[9];
            it[5] = PyLong_FromLong(mq_event_dup(ev));
            it[6] = PyLong_FromLong(mq_event_packet_id(ev));
            memcpy(m, it, sizeof it);
            if (mq_event_qos(ev) > 0) {
                m[8] = PyCapsule_New(ev, "libmq.event",
                                     mq_py_event_capsule_free);
                if (m[8] != NULL)
                    *owned = 1;
            } else {
                m[8] = Py_NewRef(Py_None);
            }
            /* if the tuple fails, the capsule frees the event with it */
            return mq_py_tuple(m, 9);
        } else {
            it[5] = PyLong_FromUnsignedLongLong(mq_event_tag(ev));
            it[6] = PyLong_FromLong(mq_event_token(ev));
        }
        return mq_py_tuple(it, 8);
    }
    /* props go to index 6 in the remaining layouts */
    it[6] = it[7];
    it[1] = PyLong_FromLong(mq_event_token(ev));
    it[2] = PyLong_FromLong(mq_event_error(ev));
    it[3] = PyLong_FromLong(mq_event_reason(ev));
    if (kind == MQ_EVENT_RESUBSCRIBED) {
        it[4] = PyLong_FromLong(mq_event_qos(ev));
        it[5] = mq_py_str_or_bytes(mq_event_topic(ev));
        it[7] = PyLong_FromLong(0);
        return mq_py_tuple(it, 8);
    }
    if (kind == MQ_EVENT_SUBSCRIBED || kind == MQ_EVENT_UNSUBSCRIBED) {
        size_t i, n = mq_event_reason_count(ev);
        it[4] = PyTuple_New((Py_ssize_t)n);
        for (i = 0; it[4] != NULL && i < n; i++)
            PyTuple_SET_ITEM(it[4], (Py_ssize_t)i,
                             PyLong_FromLong(mq_event_reason_at(ev, i)));
    } else if (kind == MQ_EVENT_CONNECT) {
        it[4] = PyLong_FromLong(mq_event_session_present(ev));
    } else if (kind == MQ_EVENT_DISCONNECTED) {
        it[4] = PyLong_FromLong(mq_event_will_reconnect(ev));
    } else {
        it[4] = PyLong_FromLong(0);
    }
    msg = mq_event_message(ev);
    it[5] = msg != NULL ? PyUnicode_DecodeUTF8(msg, (Py_ssize_t)strlen(msg),
                                               "replace")
                        : Py_NewRef(Py_None);
    it[7] = kind == MQ_EVENT_CONNECT ? mq_py_tls_info(ev)
                                     : PyLong_FromLong(mq_event_log_level(ev));
    return mq_py_tuple(it, 8);
}
%}

%{
/* The storage of libmq.client.MQTTMessageInfo, which derives from this
 * type and adds paho's methods in Python. mq_py_publish() creates it in
 * C, so a publish costs no Python __init__. Fields: mid (int), rc (paho's
 * MQTTErrorCode; MQTT_ERR_SUCCESS until set, see mq_py_info_setup),
 * _iterpos (int), _done and _client (objects, None until set). */
#include <structmember.h>

typedef struct {
    PyObject_HEAD
    int mid;
    int iterpos;
    PyObject *rc;
    PyObject *done;
    PyObject *client;
} mq_py_info;

static PyObject *mq_py_rc_success; /* MQTTErrorCode.MQTT_ERR_SUCCESS */

static int mq_py_info_traverse(PyObject *o, visitproc visit, void *arg)
{
    mq_py_info *self = (mq_py_info *)o;
    Py_VISIT(self->rc);
    Py_VISIT(self->done);
    Py_VISIT(self->client);
    return 0;
}

static int mq_py_info_clear(PyObject *o)
{
    mq_py_info *self = (mq_py_info *)o;
    Py_CLEAR(self->rc);
    Py_CLEAR(self->done);
    Py_CLEAR(self->client);
    return 0;
}

static void mq_py_info_dealloc(PyObject *o)
{
    /* a static base: the heap subclass's subtype_dealloc drops the type */
    PyObject_GC_UnTrack(o);
    mq_py_info_clear(o);
    Py_TYPE(o)->tp_free(o);
}

static PyObject *mq_py_info_get_rc(PyObject *o, void *closure)
{
    PyObject *rc = ((mq_py_info *)o)->rc;
    (void)closure;
    if (rc == NULL)
        rc = mq_py_rc_success != NULL ? mq_py_rc_success : Py_None;
    return Py_NewRef(rc);
}

static int mq_py_info_set_rc(PyObject *o, PyObject *v, void *closure)
{
    (void)closure;
    if (v == NULL) {
        PyErr_SetString(PyExc_AttributeError, "rc cannot be deleted");
        return -1;
    }
    Py_XSETREF(((mq_py_info *)o)->rc, Py_NewRef(v));
    return 0;
}

static PyMemberDef mq_py_info_members[] = {
    { "mid", T_INT, offsetof(mq_py_info, mid), 0, NULL },
    { "_iterpos", T_INT, offsetof(mq_py_info, iterpos), 0, NULL },
    { "_done", T_OBJECT, offsetof(mq_py_info, done), 0, NULL },
    { "_client", T_OBJECT, offsetof(mq_py_info, client), 0, NULL },
    { NULL, 0, 0, 0, NULL }
};

static PyGetSetDef mq_py_info_getset[] = {
    { "rc", mq_py_info_get_rc, mq_py_info_set_rc, NULL, NULL },
    { NULL, NULL, NULL, NULL, NULL }
};

static PyTypeObject mq_py_info_type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "libmq._mq_core.MessageInfoBase",
    .tp_basicsize = sizeof(mq_py_info),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Storage of libmq.client.MQTTMessageInfo.",
    .tp_traverse = mq_py_info_traverse,
    .tp_clear = mq_py_info_clear,
    .tp_dealloc = mq_py_info_dealloc,
    .tp_members = mq_py_info_members,
    .tp_getset = mq_py_info_getset,
    .tp_alloc = PyType_GenericAlloc,
    .tp_new = PyType_GenericNew,
    .tp_free = PyObject_GC_Del,
};
%}

%init %{
    if (PyType_Ready(&mq_py_info_type) < 0 ||
        PyDict_SetItemString(d, "MessageInfoBase",
                             (PyObject *)&mq_py_info_type) < 0)
        return NULL;
%}

%inline %{
/* mq_publish_v5() without the GIL (see above). */
static int mq_py_publish_nogil(mq_client *c, const char *topic,
                               const void *payload, size_t len, int qos,
                               int retain, const mq_props *props)
{
    return mq_publish_v5(c, topic, payload, len, qos, retain, props);
}

/* What mq_py_publish() returns when an argument needs Python's rules. */
#define MQ_PY_SLOW (-10000)

/* For an event tuple's keep capsule (see mq_py_event_tuple) whose event
 * the application will never see (its client is being closed with the
 * event undispatched): the event is not freed, so the store record of
 * its tagged message stays for the next start, as for events still
 * queued in a destroyed client. The event's memory is given up. */
static PyObject *mq_py_event_keep(PyObject *capsule)
{
    if (!PyCapsule_IsValid(capsule, "libmq.event")) {
        PyErr_SetString(PyExc_TypeError, "not an event capsule");
        return NULL;
    }
    if (PyCapsule_SetDestructor(capsule, NULL) != 0)
        return NULL;
    Py_RETURN_NONE;
}

/* Free the event of a keep capsule now (its callbacks returned): for a
 * received QoS 1/2 message this is what acknowledges it. The capsule
 * stays valid but owns nothing any more; a second call does nothing. */
static PyObject *mq_py_event_done(PyObject *capsule)
{
    PyCapsule_Destructor d;

    if (!PyCapsule_IsValid(capsule, "libmq.event")) {
        PyErr_SetString(PyExc_TypeError, "not an event capsule");
        return NULL;
    }
    d = PyCapsule_GetDestructor(capsule);
    if (d != NULL) {
        if (PyCapsule_SetDestructor(capsule, NULL) != 0)
            return NULL;
        d(capsule);
    }
    Py_RETURN_NONE;
}

/* Tell the C side paho's MQTT_ERR_SUCCESS (the rc of a new info). */
static PyObject *mq_py_info_setup(PyObject *rc_success)
{
    Py_XSETREF(mq_py_rc_success, Py_NewRef(rc_success));
    Py_RETURN_NONE;
}

/* Client.publish()'s fast path: mq_publish() with paho's arguments as
 * they come (topic a str without NUL; payload bytes, str, bytearray,
 * memoryview or None; qos the int 0, 1 or 2; retain any object, by its
 * truth). Returns a new @p info_type (a subtype of MessageInfoBase) with
 * mid = the token and _client = @p client when the message was accepted;
 * otherwise an int: an MQ_ERR_* code of mq_publish(), or MQ_PY_SLOW when
 * an argument is of another kind (bytes topic, int or float payload, bad
 * type, bad QoS ...), which the Python path then converts or refuses as
 * paho does. Keeps the GIL (see above). */
static PyObject *mq_py_publish(mq_client *c, PyObject *topic,
                               PyObject *payload, PyObject *qos,
                               PyObject *retain, PyObject *info_type,
                               PyObject *client)
{
    const char *t, *data = NULL;
    Py_ssize_t tlen = 0, len = 0;
    Py_buffer view;
    mq_py_info *info;
    long q;
    int r, rc, have_view = 0;

    if (!PyType_Check(info_type) ||
        !PyType_IsSubtype((PyTypeObject *)info_type, &mq_py_info_type)) {
        PyErr_SetString(PyExc_TypeError, "info_type must derive from "
                                         "MessageInfoBase");
        return NULL;
    }
    if (c == NULL || !PyUnicode_CheckExact(topic) || !PyLong_CheckExact(qos))
        return PyLong_FromLong(MQ_PY_SLOW);
    q = PyLong_AsLong(qos);
    if (q < 0 || q > 2) {
        PyErr_Clear();
        return PyLong_FromLong(MQ_PY_SLOW);
    }
    t = PyUnicode_AsUTF8AndSize(topic, &tlen);
    if (t == NULL) {
        PyErr_Clear();
        return PyLong_FromLong(MQ_PY_SLOW);
    }
    if ((size_t)tlen != strlen(t))
        return PyLong_FromLong(MQ_PY_SLOW);
    if (retain == Py_False || retain == Py_None) {
        r = 0;
    } else if (retain == Py_True) {
        r = 1;
    } else {
        r = PyObject_IsTrue(retain);
        if (r < 0) {
            PyErr_Clear();
            return PyLong_FromLong(MQ_PY_SLOW);
        }
    }
    if (payload == Py_None) {
        data = NULL;
    } else if (PyBytes_CheckExact(payload)) {
        data = PyBytes_AS_STRING(payload);
        len = PyBytes_GET_SIZE(payload);
    } else if (PyUnicode_CheckExact(payload)) {
        data = PyUnicode_AsUTF8AndSize(payload, &len);
        if (data == NULL) {
            PyErr_Clear();
            return PyLong_FromLong(MQ_PY_SLOW);
        }
    } else if (PyByteArray_CheckExact(payload) ||
               PyMemoryView_Check(payload)) {
        if (PyObject_GetBuffer(payload, &view, PyBUF_SIMPLE) != 0) {
            PyErr_Clear();
            return PyLong_FromLong(MQ_PY_SLOW);
        }
        have_view = 1;
        data = view.buf;
        len = view.len;
    } else {
        return PyLong_FromLong(MQ_PY_SLOW);
    }
    rc = mq_publish(c, t, data, (size_t)len, (int)q, r);
    if (have_view)
        PyBuffer_Release(&view);
    if (rc <= 0)
        return PyLong_FromLong(rc);
    info = (mq_py_info *)((PyTypeObject *)info_type)->tp_alloc(
        (PyTypeObject *)info_type, 0);
    if (info == NULL)
        return NULL; /* accepted, but no memory to say so: MemoryError */
    info->mid = rc;
    info->client = Py_NewRef(client);
    return (PyObject *)info;
}

/* SUBSCRIBE several filters in one packet: @p subs is a sequence of
 * (filter, options) pairs (options: MQ_SUB_* bits with the QoS). Returns
 * the token or an MQ_ERR_* code; TypeError for a malformed sequence. */
static PyObject *mq_py_subscribe_many(mq_client *c, PyObject *subs,
                                      const mq_props *props)
{
    PyObject *seq = PySequence_Fast(subs, "subscriptions must be a sequence");
    Py_ssize_t i, n;
    const char **filters = NULL;
    int *options = NULL;
    int rc;

    if (seq == NULL)
        return NULL;
    n = PySequence_Fast_GET_SIZE(seq);
    if (n < 1) {
        Py_DECREF(seq);
        return PyLong_FromLong(MQ_ERR_INVAL);
    }
    filters = calloc((size_t)n, sizeof *filters);
    options = calloc((size_t)n, sizeof *options);
    if (filters == NULL || options == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    for (i = 0; i < n; i++) {
        PyObject *it = PySequence_Fast_GET_ITEM(seq, i);
        PyObject *f;
        Py_ssize_t len = 0;
        if (!PyTuple_Check(it) || PyTuple_GET_SIZE(it) != 2 ||
            !PyUnicode_Check(f = PyTuple_GET_ITEM(it, 0)) ||
            !PyLong_Check(PyTuple_GET_ITEM(it, 1))) {
            PyErr_SetString(PyExc_TypeError,
                            "each subscription must be (str, int)");
            goto fail;
        }
        filters[i] = PyUnicode_AsUTF8AndSize(f, &len);
        if (filters[i] == NULL)
            goto fail;
        if ((size_t)len != strlen(filters[i])) {
            PyErr_SetString(PyExc_ValueError,
                            "string contains a NUL character");
            goto fail;
        }
        options[i] = (int)PyLong_AsLong(PyTuple_GET_ITEM(it, 1));
        if (options[i] == -1 && PyErr_Occurred())
            goto fail;
    }
    rc = mq_subscribe_many(c, (size_t)n, filters, options, props);
    free(filters);
    free(options);
    Py_DECREF(seq);
    return PyLong_FromLong(rc);
fail:
    free(filters);
    free(options);
    Py_DECREF(seq);
    return NULL;
}

/* UNSUBSCRIBE several filters in one packet (mq_unsubscribe_many):
 * @p filters is a sequence of str. Returns the token or an MQ_ERR_* code;
 * TypeError for a malformed sequence. */
static PyObject *mq_py_unsubscribe_many(mq_client *c, PyObject *filters,
                                        const mq_props *props)
{
    PyObject *seq = PySequence_Fast(filters, "filters must be a sequence");
    Py_ssize_t i, n;
    const char **f = NULL;
    int rc;

    if (seq == NULL)
        return NULL;
    n = PySequence_Fast_GET_SIZE(seq);
    if (n < 1) {
        Py_DECREF(seq);
        return PyLong_FromLong(MQ_ERR_INVAL);
    }
    f = calloc((size_t)n, sizeof *f);
    if (f == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    for (i = 0; i < n; i++) {
        PyObject *it = PySequence_Fast_GET_ITEM(seq, i);
        Py_ssize_t len = 0;
        if (!PyUnicode_Check(it)) {
            PyErr_SetString(PyExc_TypeError, "each filter must be a str");
            goto fail;
        }
        f[i] = PyUnicode_AsUTF8AndSize(it, &len);
        if (f[i] == NULL)
            goto fail;
        if ((size_t)len != strlen(f[i])) {
            PyErr_SetString(PyExc_ValueError,
                            "string contains a NUL character");
            goto fail;
        }
    }
    rc = mq_unsubscribe_many(c, (size_t)n, f, props);
    free(f);
    Py_DECREF(seq);
    return PyLong_FromLong(rc);
fail:
    free(f);
    Py_DECREF(seq);
    return NULL;
}

/* Take up to @p max (1..1024) events, waiting up to @p timeout_ms for the
 * first (-1: forever) with the GIL released. If @p wake_fd >= 0, the wait
 * also ends when wake_fd becomes readable (the caller drains it). Returns
 * (events, state) where events is a list of event tuples (empty when none
 * came in time) and state is 1 if one of them changes what the Python
 * layer tracks (any kind but MESSAGE, LOG and a PUBLISHED that succeeded
 * or was refused by the broker), else 0: the common batch of messages and
 * completions then needs no look at each event. */
static PyObject *mq_py_take(mq_client *c, int timeout_ms, int max,
                            int wake_fd)
{
    mq_event *evs[1024];
    int n = 0, i, state = 0;
    PyObject *list;

    if (c == NULL) {
        PyErr_SetString(PyExc_ValueError, "NULL client");
        return NULL;
    }
    if (max < 1)
        max = 1;
    if (max > 1024)
        max = 1024;
    Py_BEGIN_ALLOW_THREADS
    if (wake_fd < 0) {
        evs[0] = mq_next_event(c, timeout_ms);
        if (evs[0] != NULL)
            n = 1;
    } else {
        evs[0] = mq_next_event(c, 0);
        if (evs[0] != NULL) {
            n = 1;
        } else if (timeout_ms != 0) {
            struct pollfd pf[2];
            pf[0].fd = mq_event_fd(c);
            pf[0].events = POLLIN;
            pf[1].fd = wake_fd;
            pf[1].events = POLLIN;
            if (poll(pf, 2, timeout_ms) > 0 && (pf[0].revents & POLLIN)) {
                evs[0] = mq_next_event(c, 0);
                if (evs[0] != NULL)
                    n = 1;
            }
        }
    }
    while (n > 0 && n < max && (evs[n] = mq_next_event(c, 0)) != NULL)
        n++;
    Py_END_ALLOW_THREADS
    list = PyList_New(n);
    for (i = 0; i < n; i++) {
        int kind = mq_event_type(evs[i]), owned = 0;
        if (kind != MQ_EVENT_MESSAGE && kind != MQ_EVENT_LOG &&
            !(kind == MQ_EVENT_PUBLISHED &&
              (mq_event_error(evs[i]) == MQ_OK ||
               mq_event_error(evs[i]) == MQ_ERR_REFUSED)))
            state = 1;
        if (list != NULL) {
            PyObject *t = mq_py_event_tuple(evs[i], &owned);
            if (t == NULL) {
                Py_CLEAR(list);
            } else {
                PyList_SET_ITEM(list, i, t);
            }
        }
        if (!owned)
            mq_event_free(evs[i]);
    }
    if (list == NULL)
        return NULL;
    return Py_BuildValue("(Ni)", list, state);
}
%}
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
%ignore mq_unsubscribe_many; /* reached through mq_unsubscribe_many_list */
%ignore mq_tls_password_cb;
%ignore mq_set_tls_password_cb;
%ignore mq_set_tls_ctx;
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

/* mq_unsubscribe_many() with the filters of @p l (options ignored). */
static int mq_unsubscribe_many_list(mq_client *c, const mq_filter_list *l,
                                    const mq_props *props)
{
    if (l == NULL)
        return MQ_ERR_INVAL;
    return mq_unsubscribe_many(c, l->n, (const char *const *)l->filters,
                               props);
}
%}

%include "mq.h"
