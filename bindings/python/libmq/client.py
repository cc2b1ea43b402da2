"""libmq.client - paho-mqtt's Client on top of libmq.

This module mirrors paho.mqtt.client (1.6 and 2.x): the same names,
constants, call shapes, callback signatures and return codes, so a program
written for paho-mqtt runs with only its import line changed:

    import libmq.client as mqtt        # was: import paho.mqtt.client as mqtt

What happens underneath differs: libmq's worker thread does all network and
protocol work (it keeps running without any loop: QoS 1/2 acknowledgements,
keepalive, automatic reconnect with backoff), and this module only turns
libmq's events into paho's callbacks. Differences that a paho user can see
are listed in bindings/python/README.md ("Differences from paho-mqtt").

Threading: every method may be called from any thread. Events are taken
from libmq by one thread at a time (the "pump": a loop, or a blocking call
such as connect() or wait_for_publish() when no loop runs); callbacks run
only on the thread that runs loop(), loop_forever() or the loop_start()
thread, in the order libmq produced the events. A blocking call that takes
events without a loop keeps them for the next loop call, in order.
"""
import collections
import errno as _errno
import logging
import os
import socket
import ssl
import threading
import time
from time import monotonic as _monotonic

from . import mq_core as _core
# hot paths straight from the extension (the shadow module adds a frame)
from ._mq_core import (mq_publish as _mq_publish, mq_py_take as _mq_take,
                       mq_py_publish as _mq_py_publish,
                       mq_py_event_done as _mq_event_done,
                       MessageInfoBase as _MessageInfoBase)
from .enums import (CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion,
                    LogLevel, ConnackCode, PahoClientMode)
from .matcher import MQTTMatcher
from .packettypes import PacketTypes
from .properties import Properties, MQTTException, _PROPS
from .reasoncodes import ReasonCode, ReasonCodes
from .subscribeoptions import SubscribeOptions

# ---- constants (paho.mqtt.client names) ------------------------------------

MQTTv31 = MQTTProtocolVersion.MQTTv31
MQTTv311 = MQTTProtocolVersion.MQTTv311
MQTTv5 = MQTTProtocolVersion.MQTTv5

CONNECT = 0x10
CONNACK = 0x20
PUBLISH = 0x30
PUBACK = 0x40
PUBREC = 0x50
PUBREL = 0x60
PUBCOMP = 0x70
SUBSCRIBE = 0x80
SUBACK = 0x90
UNSUBSCRIBE = 0xA0
UNSUBACK = 0xB0
PINGREQ = 0xC0
PINGRESP = 0xD0
DISCONNECT = 0xE0
AUTH = 0xF0

MQTT_LOG_INFO = LogLevel.MQTT_LOG_INFO
MQTT_LOG_NOTICE = LogLevel.MQTT_LOG_NOTICE
MQTT_LOG_WARNING = LogLevel.MQTT_LOG_WARNING
MQTT_LOG_ERR = LogLevel.MQTT_LOG_ERR
MQTT_LOG_DEBUG = LogLevel.MQTT_LOG_DEBUG
LOGGING_LEVEL = {
    MQTT_LOG_DEBUG: logging.DEBUG,
    MQTT_LOG_INFO: logging.INFO,
    MQTT_LOG_NOTICE: logging.INFO,
    MQTT_LOG_WARNING: logging.WARNING,
    MQTT_LOG_ERR: logging.ERROR,
}

CONNACK_ACCEPTED = ConnackCode.CONNACK_ACCEPTED
CONNACK_REFUSED_PROTOCOL_VERSION = ConnackCode.CONNACK_REFUSED_PROTOCOL_VERSION
CONNACK_REFUSED_IDENTIFIER_REJECTED = \
    ConnackCode.CONNACK_REFUSED_IDENTIFIER_REJECTED
CONNACK_REFUSED_SERVER_UNAVAILABLE = \
    ConnackCode.CONNACK_REFUSED_SERVER_UNAVAILABLE
CONNACK_REFUSED_BAD_USERNAME_PASSWORD = \
    ConnackCode.CONNACK_REFUSED_BAD_USERNAME_PASSWORD
CONNACK_REFUSED_NOT_AUTHORIZED = ConnackCode.CONNACK_REFUSED_NOT_AUTHORIZED

mqtt_cs_new = 0
mqtt_cs_connected = 1
mqtt_cs_disconnecting = 2
mqtt_cs_connect_async = 3

for _e in MQTTErrorCode:
    globals()[_e.name] = _e
del _e

MQTT_CLIENT = PahoClientMode.MQTT_CLIENT
MQTT_BRIDGE = PahoClientMode.MQTT_BRIDGE
MQTT_CLEAN_START_FIRST_ONLY = 3
sockpair_data = b"0"

__all__ = [
    "Client", "MQTTMessage", "MQTTMessageInfo", "MQTTError", "MQError",
    "CallbackAPIVersion", "MQTTErrorCode", "MQTTProtocolVersion",
    "ConnectFlags", "DisconnectFlags", "Properties", "ReasonCode",
    "ReasonCodes", "PacketTypes", "SubscribeOptions", "MQTTException",
    "WebsocketConnectionError", "error_string", "connack_string",
    "topic_matches_sub", "MQTTv31", "MQTTv311", "MQTTv5",
    "set_worker_threads",
]

# ---- errors ----------------------------------------------------------------


class MQError(Exception):
    """An error reported by libmq: .code is the (negative) MQ_ERR_* number,
    .name its symbolic name ("MQ_ERR_TLS"), .mq_message libmq's text. The
    classes below also derive from the exception paho-mqtt raises in the
    same situation (ConnectionRefusedError, ssl.SSLError, ValueError, ...),
    so `except ConnectionRefusedError:` keeps working."""
    code = 0
    name = ""
    mq_message = ""


MQTTError = MQError


class MQValueError(MQError, ValueError):
    """A bad argument libmq refused (ValueError, as paho raises)."""


class MQStateError(MQError, RuntimeError):
    """A call not allowed in the client's current state."""


class MQConnectionError(MQError, ConnectionError):
    """The connection could not be made or was lost (I/O error)."""


class MQConnectionRefusedError(MQError, ConnectionRefusedError):
    """The broker's host refused the TCP connection."""


class MQTimeoutError(MQError, TimeoutError):
    """Connecting (TCP, TLS and CONNACK) took longer than connect_timeout."""


class MQDNSError(MQError, socket.gaierror):
    """The broker's host name could not be resolved."""


class MQTLSError(MQError, ssl.SSLError):
    """TLS failed (handshake, protocol)."""


class MQCertificateError(MQError, ssl.SSLCertVerificationError):
    """The broker's certificate or host name did not verify."""


class WebsocketConnectionError(ConnectionError):
    """The WebSocket upgrade failed (paho's name; also a ConnectionError)."""


try:        # paho-mqtt proxies through PySocks: keep its exceptions working
    import socks as _socks
    _PROXY_BASES = (_socks.ProxyError,)
except Exception:
    _socks = None
    _PROXY_BASES = ()


class MQProxyError(MQError, ConnectionError, *_PROXY_BASES):
    """The proxy of proxy_set() refused or failed to open the tunnel
    (MQ_ERR_PROXY). Also socks.ProxyError when PySocks is installed, as
    paho-mqtt raises through it."""

    def __init__(self, *args):
        OSError.__init__(self, *args)
        self.msg = str(args[-1]) if args else ""   # PySocks' fields
        self.socket_err = None

    def __str__(self):
        return self.msg


class MQProxyAuthError(MQProxyError, PermissionError):
    """The proxy refused the credentials of proxy_set() (MQ_ERR_PROXY_AUTH)."""


def _file_error(code, path, what):
    """The OSError paho's ssl calls raise for a TLS file libmq cannot read
    (MQ_ERR_FILE): FileNotFoundError, IsADirectoryError or PermissionError,
    each also an MQError."""
    if not os.path.exists(path):
        cls, num = MQFileNotFoundError, _errno.ENOENT
    elif os.path.isdir(path) and what != "CA directory":
        cls, num = MQIsADirectoryError, _errno.EISDIR
    else:
        cls, num = MQPermissionError, _errno.EACCES
    e = cls(num, "%s %s: %s (%s)" % (what, path, _core.mq_strerror(code),
                                     _err_name(code)), path)
    e.code, e.name, e.mq_message = code, _err_name(code), \
        _core.mq_strerror(code)
    return e


class MQFileNotFoundError(MQError, FileNotFoundError):
    """A TLS file or directory does not exist (MQ_ERR_FILE)."""


class MQIsADirectoryError(MQError, IsADirectoryError):
    """A directory was given where a TLS file was expected (MQ_ERR_FILE)."""


class MQPermissionError(MQError, PermissionError):
    """A TLS file cannot be read (MQ_ERR_FILE)."""


_E = _core


def _err_name(code):
    return _core.mq_err_name(code)


def _make_error(cls, code, text=None, os_errno=None):
    msg = text or _core.mq_strerror(code)
    full = "%s (%s)" % (msg, _err_name(code))
    if os_errno is not None:
        e = cls(os_errno, full)
    else:
        e = cls(full)
    e.code = code
    e.name = _err_name(code)
    e.mq_message = msg
    return e


def _raise_for(code, text=None):
    """Raise the exception that matches an MQ_ERR_* code of a call."""
    if code in (_E.MQ_ERR_INVAL, _E.MQ_ERR_TOPIC, _E.MQ_ERR_QOS,
                _E.MQ_ERR_UTF8, _E.MQ_ERR_PROPERTY, _E.MQ_ERR_URI,
                _E.MQ_ERR_TOO_LARGE):
        raise _make_error(MQValueError, code, text)
    if code in (_E.MQ_ERR_STATE, _E.MQ_ERR_DESTROYED):
        raise _make_error(MQStateError, code, text)
    raise _make_error(MQError, code, text)


def _connect_error(code, text):
    """The exception for a failed connection attempt, as paho raises it."""
    if code == _E.MQ_ERR_CONNREFUSED:
        return _make_error(MQConnectionRefusedError, code, text,
                           _errno.ECONNREFUSED)
    if code == _E.MQ_ERR_DNS:
        return _make_error(MQDNSError, code, text, socket.EAI_NONAME)
    if code == _E.MQ_ERR_TIMEOUT:
        return _make_error(MQTimeoutError, code, text, _errno.ETIMEDOUT)
    if code == _E.MQ_ERR_PROXY_AUTH:
        return _make_error(MQProxyAuthError, code, text)
    if code == _E.MQ_ERR_PROXY:
        return _make_error(MQProxyError, code, text)
    if code == _E.MQ_ERR_TLS:
        low = (text or "").lower()
        if "verif" in low or "certificate" in low or "hostname" in low \
                or "host name" in low:
            return _make_error(MQCertificateError, code, text, 1)
        return _make_error(MQTLSError, code, text, 1)
    return _make_error(MQConnectionError, code, text, _errno.ECONNRESET)


# libmq error of a lost connection -> paho's on_disconnect rc (VERSION1)
def _disconnect_rc(err):
    if err == _E.MQ_OK:
        return MQTT_ERR_SUCCESS
    if err == _E.MQ_ERR_KEEPALIVE:
        return MQTT_ERR_KEEPALIVE
    if err == _E.MQ_ERR_REFUSED:
        return MQTT_ERR_CONN_REFUSED
    if err in (_E.MQ_ERR_PROTOCOL, _E.MQ_ERR_MALFORMED):
        return MQTT_ERR_PROTOCOL
    if err == _E.MQ_ERR_TLS:
        return MQTT_ERR_TLS
    if err == _E.MQ_ERR_NOMEM:
        return MQTT_ERR_NOMEM
    if err == _E.MQ_ERR_PROXY_AUTH:
        return MQTT_ERR_AUTH
    if err == _E.MQ_ERR_PROXY:
        return MQTT_ERR_CONN_REFUSED
    return MQTT_ERR_CONN_LOST


# MQTT 5 CONNACK codes as libmq reports them -> MQTT 3.1.1 return codes
_V311_CONNACK = {0x00: 0, 0x84: 1, 0x85: 2, 0x88: 3, 0x86: 4, 0x87: 5}


def set_worker_threads(n):
    """libmq extra: how many worker threads serve the clients of this
    process (mq_set_worker_threads; default 1, at most 64). Clients made
    before the call keep their worker. ValueError out of range."""
    rc = _core.mq_set_worker_threads(int(n))
    if rc < 0:
        _raise_for(rc, "worker threads: 1 to 64")
    return MQTT_ERR_SUCCESS


def error_string(mqtt_errno):
    """Text for an MQTT_ERR_* code (paho's wording)."""
    return _ERROR_TEXT.get(int(mqtt_errno), "Unknown error.")


_ERROR_TEXT = {
    0: "No error.",
    1: "Out of memory.",
    2: "A network protocol error occurred when communicating with the "
       "broker.",
    3: "Invalid function arguments provided.",
    4: "The client is not currently connected.",
    5: "The connection was refused.",
    6: "Message not found (internal error).",
    7: "The connection was lost.",
    8: "A TLS error occurred.",
    9: "Payload too large.",
    10: "This feature is not supported.",
    11: "Authorisation failed.",
    12: "Access denied by ACL.",
    13: "Unknown error.",
    14: "Error defined by errno.",
    15: "Message queue full.",
    16: "Client or broker did not communicate in the keepalive interval.",
}


def connack_string(connack_code):
    """Text for a CONNACK result (3.1.1 code or MQTT 5 ReasonCode)."""
    if isinstance(connack_code, ReasonCode):
        return str(connack_code)
    return {
        0: "Connection Accepted.",
        1: "Connection Refused: unacceptable protocol version.",
        2: "Connection Refused: identifier rejected.",
        3: "Connection Refused: broker unavailable.",
        4: "Connection Refused: bad user name or password.",
        5: "Connection Refused: not authorised.",
    }.get(connack_code, "Connection Refused: unknown reason.")


def topic_matches_sub(sub, topic):
    """True if topic name `topic` matches subscription filter `sub`."""
    return _core.mq_topic_matches(sub, topic) == 1


def base62(num, base="0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNO"
                     "PQRSTUVWXYZ", padding=1):
    """num in base 62 (paho's helper for generated client ids)."""
    digits = []
    while num:
        num, rest = divmod(num, 62)
        digits.append(base[rest])
    digits.extend(base[0] for _ in range(len(digits), padding))
    return "".join(reversed(digits))


class ConnectFlags:
    """paho-mqtt 2.x: flags of a CONNACK (VERSION2 on_connect). libmq adds
    `tls`: what the TLS handshake negotiated (see _tls_info), or None."""
    __slots__ = ("session_present", "tls")

    def __init__(self, session_present, tls=None):
        self.session_present = session_present
        self.tls = tls

    def __repr__(self):
        return "ConnectFlags(session_present=%r, tls=%r)" % (
            self.session_present, self.tls)


def _tls_info(t):
    """The TLS details of a CONNECT event (libmq's mq_event_tls) as a dict
    named after ssl.SSLSocket: version() "TLSv1.3", the cipher name,
    selected_alpn_protocol() (None when none), session_reused. None
    without TLS."""
    if t is None:
        return None
    return {"version": t[0], "cipher": t[1], "alpn_protocol": t[2],
            "session_reused": t[3]}


class DisconnectFlags:
    """paho-mqtt 2.x: flags of a disconnection (VERSION2 on_disconnect)."""
    __slots__ = ("is_disconnect_packet_from_server",)

    def __init__(self, from_server):
        self.is_disconnect_packet_from_server = from_server

    def __repr__(self):
        return ("DisconnectFlags(is_disconnect_packet_from_server=%r)" %
                self.is_disconnect_packet_from_server)


# ---- messages ----------------------------------------------------------------

class MQTTMessageInfo(_MessageInfoBase):
    """What publish() returns: mid, rc, wait_for_publish(), is_published().
    Iterable as (rc, mid) for old code. A message counts as published when
    libmq completed it: QoS 0 handed to the open connection, QoS 1 PUBACK,
    QoS 2 PUBCOMP (a PUBACK/PUBCOMP with a failure reason code too, as in
    paho: VERSION2 on_publish gets that code). Nothing is tracked per
    message until one of the two methods is called: they ask libmq
    (mq_wait), with or without a loop running."""

    # storage in C (bindings/mq.i, MessageInfoBase): mid, rc, _iterpos,
    # _done (True published, a str why not, None unknown), _client; the
    # fast path of publish() creates it there without this __init__
    __slots__ = ()

    def __init__(self, mid, client=None):
        self.mid = mid
        self._client = client

    def __str__(self):
        return str((int(self.rc), self.mid))

    def __repr__(self):
        return "MQTTMessageInfo(mid=%r, rc=%r, published=%r)" % (
            self.mid, self.rc, self._done is True)

    def __iter__(self):
        return iter((self.rc, self.mid))

    def __next__(self):  # paho 1.x kept an iterator position on the object
        self._iterpos += 1
        if self._iterpos == 1:
            return self.rc
        if self._iterpos == 2:
            return self.mid
        raise StopIteration

    next = __next__

    def __getitem__(self, index):
        if index == 0:
            return self.rc
        if index == 1:
            return self.mid
        raise IndexError("index out of range")

    def _check_rc(self):
        if self.rc == MQTT_ERR_QUEUE_SIZE:
            raise ValueError("Message is not queued due to ERR_QUEUE_SIZE")
        if self.rc == MQTT_ERR_AGAIN:
            return
        if self.rc > 0:
            raise RuntimeError("Message publish failed: %s" %
                               error_string(self.rc))

    def _ask(self, timeout):
        if self._done is None and self._client is not None and self.mid:
            self._done = self._client._publish_outcome(self.mid, timeout)
            if self._done is not None:
                self._client = None          # known for good
        if self._done is not None and self._done is not True:
            raise RuntimeError("Message publish failed: %s" % self._done)
        return self._done is True

    def wait_for_publish(self, timeout=None):
        """Block until the message is published or `timeout` seconds pass.
        ValueError if it was refused for a full queue, RuntimeError if it
        was not accepted (e.g. not connected) or libmq could not deliver it
        (it then says why, e.g. abandoned by disconnect()). Works with or
        without a running loop; the GIL is released while waiting."""
        self._check_rc()
        self._ask(timeout)

    def is_published(self):
        """True once the message is published (see the class text);
        RuntimeError if libmq could not deliver it."""
        self._check_rc()
        return self._ask(0)


_core.mq_py_info_setup(MQTT_ERR_SUCCESS)


class MQTTMessage:
    """A received message, passed to on_message: topic (str), payload
    (bytes), qos, retain, dup, mid, properties (MQTT 5, else None),
    timestamp."""

    __slots__ = ("timestamp", "state", "dup", "mid", "_topic_s", "payload",
                 "qos", "retain", "info", "properties")

    def __init__(self, mid=0, topic=b""):
        self.timestamp = 0
        self.state = 0
        self.dup = False
        self.mid = mid
        self._topic_s = topic.decode("utf-8", "surrogateescape") \
            if isinstance(topic, bytes) else topic
        self.payload = b""
        self.qos = 0
        self.retain = False
        self.info = None
        self.properties = None

    def __eq__(self, other):
        return isinstance(other, MQTTMessage) and self.mid == other.mid

    def __ne__(self, other):
        return not self.__eq__(other)

    def __hash__(self):
        return hash(self.mid)

    def __repr__(self):
        return "MQTTMessage(topic=%r, payload=%r, qos=%d, retain=%r)" % (
            self._topic_s, self.payload, self.qos, self.retain)

    @property
    def topic(self):
        return self._topic_s

    @topic.setter
    def topic(self, value):
        self._topic_s = value.decode("utf-8", "surrogateescape") \
            if isinstance(value, bytes) else value

    @property
    def _topic(self):
        return self._topic_s.encode("utf-8", "surrogateescape")


_new_message = MQTTMessage.__new__


class RecoveredMessage(MQTTMessage):
    """A message libmq found in the persistence store when it was opened
    (libmq extra, see Client.persistence_set()): topic, payload, qos,
    retain, properties, mid (the mid its on_publish will carry: libmq
    resends it by itself, do not publish it again) and tag (the tag given
    to publish_tagged(), 0 if none)."""

    __slots__ = ("tag",)

    def __repr__(self):
        return ("RecoveredMessage(mid=%r, tag=%r, topic=%r, payload=%r, "
                "qos=%d)" % (self.mid, self.tag, self._topic_s, self.payload,
                             self.qos))


# ---- helpers -------------------------------------------------------------------

# each property id's kind ("int", "str", "bin", "user"), from properties.py
_PROP_KIND = {ident: spec[1] for ident, spec in _PROPS.items()}


class _Props:
    """A libmq property list built from a Properties object for one call
    (a context manager that frees it)."""

    def __init__(self, props):
        self.p = None
        if props is None:
            return
        if not isinstance(props, Properties):
            raise ValueError("properties must be a Properties instance")
        if props.isEmpty():
            return
        self.p = _core.mq_props_new()
        if self.p is None:
            raise MemoryError("mq_props_new")
        try:
            for ident, name, value in props._items():
                kind = _PROP_KIND[ident]
                if kind == "user":
                    for k, v in value:
                        rc = _core.mq_props_add_user(self.p, k, v)
                        if rc < 0:
                            _raise_for(rc, "property %s: %s" % (
                                name, _core.mq_strerror(rc)))
                    continue
                values = value if isinstance(value, list) else [value]
                for v in values:
                    if kind == "int":
                        rc = _core.mq_props_add_int(self.p, ident, v)
                    elif kind == "str":
                        rc = _core.mq_props_add_string(self.p, ident, v)
                    else:
                        rc = _core.mq_props_add_binary(self.p, ident, v)
                    if rc < 0:
                        _raise_for(rc, "property %s: %s" % (
                            name, _core.mq_strerror(rc)))
        except BaseException:
            self.close()
            raise

    def close(self):
        if self.p is not None:
            _core.mq_props_free(self.p)
            self.p = None

    def __enter__(self):
        return self.p

    def __exit__(self, *exc):
        self.close()


def _reason_int(reasoncode):
    """A reason code given as a ReasonCode, an int or None (0)."""
    if reasoncode is None:
        return 0
    return int(reasoncode.value if isinstance(reasoncode, ReasonCode)
               else reasoncode)


def _sub_result(tok):
    """subscribe()/unsubscribe()'s (rc, mid) for libmq's token or error."""
    if tok < 0:
        if tok in (_E.MQ_ERR_NO_CONN, _E.MQ_ERR_STATE):
            return (MQTT_ERR_NO_CONN, None)
        if tok == _E.MQ_ERR_QUEUE_FULL:
            return (MQTT_ERR_QUEUE_SIZE, None)
        _raise_for(tok)
    return (MQTT_ERR_SUCCESS, tok)


def _proxy_uri(scheme, host, port, user, password):
    """A proxy URI for MQ_SOPT_PROXY (user and password percent-encoded)."""
    from urllib.parse import quote
    if ":" in host and not host.startswith("["):
        host = "[%s]" % host
    auth = ""
    if user:
        auth = quote(str(user), safe="")
        if password:
            if isinstance(password, bytes):
                password = password.decode("utf-8")
            auth += ":" + quote(str(password), safe="")
        auth += "@"
    return "%s://%s%s:%d" % (scheme, auth, host, int(port))


def _set_will(c, topic, payload, qos, retain, properties):
    """mq_set_will with a Properties object (built and freed here, so a
    Will deferred to the next connect holds no C pointer)."""
    with _Props(properties) as p:
        return _core.mq_set_will(c, topic, payload, qos, retain, p)


def _payload(payload):
    """paho's payload rules: str (UTF-8), bytes-like, int/float (as text),
    None (empty); anything else TypeError."""
    if payload is None or isinstance(payload, (bytes, str, bytearray,
                                               memoryview)):
        return payload
    if isinstance(payload, (int, float)):
        return str(payload).encode("ascii")
    raise TypeError("payload must be a string, bytearray, int, float or "
                    "None.")


_MAX_PAYLOAD = 268435455

# event tuple layout (bindings/mq.i, mq_py_event_tuple)
_EV_CONNECT = _core.MQ_EVENT_CONNECT
_EV_DISCONNECTED = _core.MQ_EVENT_DISCONNECTED
_EV_MESSAGE = _core.MQ_EVENT_MESSAGE
_EV_PUBLISHED = _core.MQ_EVENT_PUBLISHED
_EV_SUBSCRIBED = _core.MQ_EVENT_SUBSCRIBED
_EV_UNSUBSCRIBED = _core.MQ_EVENT_UNSUBSCRIBED
_EV_LOG = _core.MQ_EVENT_LOG
_EV_RESUBSCRIBED = _core.MQ_EVENT_RESUBSCRIBED
_EV_RECOVERED = _core.MQ_EVENT_RECOVERED
_EV_AUTH = _core.MQ_EVENT_AUTH
_MQ_PY_SLOW = -10000          # mq_py_publish: use the Python path

# libmq log level -> paho's
_LOG_LEVEL = {1: MQTT_LOG_ERR, 2: MQTT_LOG_WARNING, 3: MQTT_LOG_INFO,
              4: MQTT_LOG_DEBUG}

# Option names for set_option() (libmq extras): mq.h's MQ_OPT_* and
# MQ_SOPT_* names in lower case without the prefix.
INT_OPTIONS = {
    "keepalive_s": _core.MQ_OPT_KEEPALIVE_S,
    "clean_start": _core.MQ_OPT_CLEAN_START,
    "session_expiry_s": _core.MQ_OPT_SESSION_EXPIRY_S,
    "reconnect_min_ms": _core.MQ_OPT_RECONNECT_MIN_MS,
    "reconnect_max_ms": _core.MQ_OPT_RECONNECT_MAX_MS,
    "reconnect": _core.MQ_OPT_RECONNECT,
    "max_inflight": _core.MQ_OPT_MAX_INFLIGHT,
    "queue_max_msgs": _core.MQ_OPT_QUEUE_MAX_MSGS,
    "queue_max_bytes": _core.MQ_OPT_QUEUE_MAX_BYTES,
    "offline_qos0": _core.MQ_OPT_OFFLINE_QOS0,
    "tcp_nodelay": _core.MQ_OPT_TCP_NODELAY,
    "connect_timeout_ms": _core.MQ_OPT_CONNECT_TIMEOUT_MS,
    "max_events": _core.MQ_OPT_MAX_EVENTS,
    "max_event_bytes": _core.MQ_OPT_MAX_EVENT_BYTES,
    "log_level": _core.MQ_OPT_LOG_LEVEL,
    "max_packet_size": _core.MQ_OPT_MAX_PACKET_SIZE,
    "receive_maximum": _core.MQ_OPT_RECEIVE_MAXIMUM,
    "topic_alias_maximum": _core.MQ_OPT_TOPIC_ALIAS_MAXIMUM,
    "topic_alias_auto": _core.MQ_OPT_TOPIC_ALIAS_AUTO,
    "publish_timeout_ms": _core.MQ_OPT_PUBLISH_TIMEOUT_MS,
    "disconnect_timeout_ms": _core.MQ_OPT_DISCONNECT_TIMEOUT_MS,
    "protocol_fallback": _core.MQ_OPT_PROTOCOL_FALLBACK,
    "protocol_in_use": _core.MQ_OPT_PROTOCOL_IN_USE,
    "tls_insecure": _core.MQ_OPT_TLS_INSECURE,
    "tls_no_hostname_check": _core.MQ_OPT_TLS_NO_HOSTNAME_CHECK,
    "tls_session_resume": _core.MQ_OPT_TLS_SESSION_RESUME,
    "tls_crl_check": _core.MQ_OPT_TLS_CRL_CHECK,
    "proxy_from_env": _core.MQ_OPT_PROXY_FROM_ENV,
    "persist_sync": _core.MQ_OPT_PERSIST_SYNC,
}
STR_OPTIONS = {
    "username": _core.MQ_SOPT_USERNAME,
    "password": _core.MQ_SOPT_PASSWORD,
    "tls_ca_file": _core.MQ_SOPT_TLS_CA_FILE,
    "tls_ca_path": _core.MQ_SOPT_TLS_CA_PATH,
    "tls_cert_file": _core.MQ_SOPT_TLS_CERT_FILE,
    "tls_key_file": _core.MQ_SOPT_TLS_KEY_FILE,
    "tls_verify_name": _core.MQ_SOPT_TLS_VERIFY_NAME,
    "tls_alpn": _core.MQ_SOPT_TLS_ALPN,
    "tls_ciphers": _core.MQ_SOPT_TLS_CIPHERS,
    "tls_min_version": _core.MQ_SOPT_TLS_MIN_VERSION,
    "tls_max_version": _core.MQ_SOPT_TLS_MAX_VERSION,
    "tls_ca_pem": _core.MQ_SOPT_TLS_CA_PEM,
    "tls_cert_pem": _core.MQ_SOPT_TLS_CERT_PEM,
    "tls_key_pem": _core.MQ_SOPT_TLS_KEY_PEM,
    "tls_key_password": _core.MQ_SOPT_TLS_KEY_PASSWORD,
    "tls_key_uri": _core.MQ_SOPT_TLS_KEY_URI,
    "tls_cert_uri": _core.MQ_SOPT_TLS_CERT_URI,
    "tls_providers": _core.MQ_SOPT_TLS_PROVIDERS,
    "tls_engine": _core.MQ_SOPT_TLS_ENGINE,
    "tls_psk": _core.MQ_SOPT_TLS_PSK,
    "tls_psk_identity": _core.MQ_SOPT_TLS_PSK_IDENTITY,
    "tls_crl_file": _core.MQ_SOPT_TLS_CRL_FILE,
    "tls_crl_path": _core.MQ_SOPT_TLS_CRL_PATH,
    "proxy": _core.MQ_SOPT_PROXY,
    "no_proxy": _core.MQ_SOPT_NO_PROXY,
    "persist_dir": _core.MQ_SOPT_PERSIST_DIR,
    "bind_address": _core.MQ_SOPT_BIND_ADDRESS,
}
# string options naming a file (MQ_ERR_FILE -> FileNotFoundError ...)
_FILE_OPTIONS = {
    _core.MQ_SOPT_TLS_CA_FILE: "CA file",
    _core.MQ_SOPT_TLS_CA_PATH: "CA directory",
    _core.MQ_SOPT_TLS_CERT_FILE: "certificate file",
    _core.MQ_SOPT_TLS_KEY_FILE: "key file",
    _core.MQ_SOPT_TLS_CRL_FILE: "CRL file",
    _core.MQ_SOPT_TLS_CRL_PATH: "CRL directory",
    _core.MQ_SOPT_PERSIST_DIR: "persistence directory",
}

# PySocks' proxy types (socks.SOCKS4, SOCKS5, HTTP), as paho's proxy_set()
# takes them; libmq needs no PySocks
PROXY_SOCKS4, PROXY_SOCKS5, PROXY_HTTP = 1, 2, 3
_PROXY_DEFAULT_PORT = {PROXY_SOCKS4: 1080, PROXY_SOCKS5: 1080,
                       PROXY_HTTP: 8080}

_BATCH = 256          # events taken per crossing into C
_SLICE = 0.05         # how often a waiter without the pump re-checks


class _EventSocket:
    """What socket() returns: an object whose fileno() is libmq's event
    descriptor (readable while events are pending), for select/asyncio
    integration in paho's external-loop style (on_socket_open + loop_read).
    It is not the network socket: reading or writing it does nothing."""

    def __init__(self, fd):
        self._fd = fd

    def fileno(self):
        return self._fd

    def pending(self):
        return 0

    def __repr__(self):
        return "<libmq event descriptor %d>" % self._fd


# ---- the client ----------------------------------------------------------------

class Client:
    """An MQTT client with paho-mqtt's API (see the module text).

    Client(client_id="", clean_session=None, userdata=None,
           protocol=MQTTv311, transport="tcp", reconnect_on_failure=True)
    is paho-mqtt 1.x's constructor (VERSION1 callbacks);
    Client(CallbackAPIVersion.VERSION2, client_id="", ...) is paho 2.x's
    (VERSION1 may be given there too). transport: "tcp", "websockets" or
    "unix" (then connect()'s host is the socket path). MQTTv31 is not
    supported (ValueError): libmq speaks 3.1.1 and 5.0.
    """

    def __init__(self, *args, **kwargs):
        api = kwargs.pop("callback_api_version", None)
        if api is None and args and isinstance(args[0], CallbackAPIVersion):
            api, args = args[0], args[1:]
        names = ("client_id", "clean_session", "userdata", "protocol",
                 "transport", "reconnect_on_failure", "manual_ack")
        if len(args) > len(names):
            raise TypeError("Client() takes at most %d positional arguments"
                            % (len(names) + 1))
        params = dict(zip(names, args))
        for k, v in kwargs.items():
            if k not in names:
                raise TypeError("Client() got an unexpected keyword argument "
                                "'%s'" % k)
            if k in params:
                raise TypeError("Client() got multiple values for argument "
                                "'%s'" % k)
            params[k] = v
        if api is None:
            api = CallbackAPIVersion.VERSION1
        if not isinstance(api, CallbackAPIVersion):
            raise ValueError("Unsupported callback API version: %r" % (api,))
        client_id = params.get("client_id", "")
        clean_session = params.get("clean_session")
        protocol = params.get("protocol", MQTTv311)
        transport = params.get("transport", "tcp")
        if params.get("manual_ack", False):
            raise ValueError("manual_ack is not supported by libmq: "
                             "messages are acknowledged once taken")
        if not isinstance(transport, str) or \
                transport.lower() not in ("tcp", "websockets", "unix"):
            raise ValueError('transport must be "websockets", "tcp" or '
                             '"unix", not %s' % transport)
        if protocol == MQTTv31:
            raise ValueError("MQTT 3.1 (MQTTv31) is not supported by libmq; "
                             "use MQTTv311 or MQTTv5")
        if protocol not in (MQTTv311, MQTTv5):
            raise ValueError("unknown protocol version %r" % (protocol,))
        if protocol == MQTTv5:
            if clean_session is not None:
                raise ValueError("Clean session is not used for MQTT 5.0")
        else:
            if clean_session is None:
                clean_session = True
            if not clean_session and not client_id:
                raise ValueError("A client id must be provided if clean "
                                 "session is False.")
        if isinstance(client_id, bytes):
            client_id = client_id.decode("utf-8")
        self._api = api
        self._protocol = MQTTProtocolVersion(protocol)
        self._v5 = protocol == MQTTv5
        self._transport = transport.lower()
        self._userdata = params.get("userdata")
        self._clean_session = clean_session
        self._reconnect_on_failure = bool(params.get("reconnect_on_failure",
                                                     True))
        self._c = _core.mq_client_new(client_id or None, int(protocol))
        if self._c is None:
            raise ValueError("invalid client id %r" % (client_id,))
        self._client_id = (client_id or "").encode("utf-8")

        # connection parameters (applied by reconnect())
        self._host = ""
        self._port = 1883
        self._keepalive = 60
        self._bind_address = ""
        self._clean_start = MQTT_CLEAN_START_FIRST_ONLY
        self._connect_properties = None
        self._ws_path = "/mqtt"
        self._ssl = False
        self._ssl_context = None
        self._tls_insecure = False
        self._connect_timeout = None

        # state
        self._state = mqtt_cs_new
        self._active = False            # mq_connect called, not yet final
        self._user_disconnect = False   # disconnect() called
        self._ever_connected = False    # a CONNACK arrived since connect
        self._attempt_acked = False     # this attempt got a CONNACK
        self._connect_result = None     # (err, text) of the last attempt
        self._connect_seq = 0           # attempts finished (CONNECT/DISC.)
        self._final_seq = 0             # final DISCONNECTED events seen
        self._final_rc = MQTT_ERR_SUCCESS

        # events
        self._pending = collections.deque()
        self._pump = threading.Lock()
        self._cv = threading.Condition(threading.Lock())
        self._waiters = 0
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._pub_failures = collections.OrderedDict()  # mid -> why
        self._recovered = []            # RecoveredMessage, persistence_set
        self._dispatching = None        # thread id running callbacks

        # loops
        self._thread = None
        self._thread_terminate = False
        self._loop_forever_running = False

        # callbacks
        self._on_message_filtered = MQTTMatcher()
        self._callback_mutex = threading.RLock()
        self._logger = None
        self._on_log = None
        self.on_connect = None
        self.on_connect_fail = None
        self.on_disconnect = None
        self.on_message = None
        self._on_publish = None
        self._on_publish_v1 = None      # on_publish when VERSION1 (fast)
        self.on_subscribe = None
        self.on_unsubscribe = None
        self.on_auth = None             # libmq extra (MQTT 5 AUTH)
        self.on_socket_open = None
        self.on_socket_close = None
        self.on_socket_register_write = None
        self.on_socket_unregister_write = None
        self.suppress_exceptions = False

        # completion events only while on_publish is set (failures always
        # come: never silent); see the on_publish property
        self._check(_core.mq_set_int(self._c, _core.MQ_OPT_PUBLISH_EVENTS, 0))
        if not self._v5:
            self._check(_core.mq_set_int(self._c, _core.MQ_OPT_CLEAN_START,
                                         1 if clean_session else 0))
        self._check(_core.mq_set_int(self._c, _core.MQ_OPT_RECONNECT,
                                     1 if self._reconnect_on_failure else 0))
        self.reconnect_delay_set(1, 120)
        self._publish_nogil = False
        self._proxy = None              # proxy_set() arguments
        self._env_proxy = None          # the mqtt_proxy URI applied

    @property
    def on_publish(self):
        """on_publish(client, userdata, mid) (VERSION1) or (client,
        userdata, mid, reason_code, properties) (VERSION2): called once per
        message when libmq completed it. While none is set libmq reports
        no completions at all (only failures, to the log), which keeps
        publishing cheap; is_published()/wait_for_publish() work either
        way."""
        return self._on_publish

    @on_publish.setter
    def on_publish(self, func):
        self._on_publish = func
        self._on_publish_v1 = func if self._api is \
            CallbackAPIVersion.VERSION1 else None
        c = getattr(self, "_c", None)
        if c is not None:
            _core.mq_set_int(c, _core.MQ_OPT_PUBLISH_EVENTS,
                             2 if func is not None else 0)

    def publish_callback(self):
        def decorator(func):
            self.on_publish = func
            return func
        return decorator

    # -- small internals -----------------------------------------------------

    def _check(self, rc):
        if rc < 0:
            _raise_for(rc)
        return rc

    def _handle(self):
        c = self._c
        if c is None:
            raise _make_error(MQStateError, _E.MQ_ERR_DESTROYED)
        return c

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def close(self):
        """Destroy the libmq client now (libmq extra; paho has no close()).
        Stops a loop thread first. The object is unusable afterwards."""
        c = getattr(self, "_c", None)
        if c is None:
            return
        if self._thread is not None and \
                self._thread is not threading.current_thread():
            self.loop_stop()
        self._c = None
        # completions of tagged messages nobody dispatched: their store
        # records stay for the next start (docs/guide/persistence.md)
        undispatched = list(self._pending)
        for ev in undispatched:
            if ev[0] == _EV_PUBLISHED and ev[7] is not None:
                _core.mq_py_event_keep(ev[7])
        self._pending.clear()
        _core.mq_client_destroy(c)
        # received QoS 1/2 messages nobody dispatched are freed only now,
        # with the client gone: unacknowledged, so the broker sends them
        # again to the session's next connection instead of losing them
        del undispatched
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _wake(self):
        try:
            os.write(self._wake_w, b"w")
        except (BlockingIOError, OSError):
            pass

    def _drain_wake(self):
        try:
            while os.read(self._wake_r, 512):
                pass
        except (BlockingIOError, OSError):
            pass

    # -- logging -----------------------------------------------------------------

    @property
    def on_log(self):
        return self._on_log

    @on_log.setter
    def on_log(self, func):
        self._on_log = func
        self._update_log_level()

    def log_callback(self):
        def decorator(func):
            self.on_log = func
            return func
        return decorator

    def enable_logger(self, logger=None):
        """Send libmq's log lines and this module's to a logging.Logger
        (default: logging.getLogger("libmq.client"))."""
        if logger is None:
            if self._logger is not None:
                return
            logger = logging.getLogger(__name__)
        self._logger = logger
        self._update_log_level()

    def disable_logger(self):
        self._logger = None
        self._update_log_level()

    @property
    def logger(self):
        return self._logger

    @logger.setter
    def logger(self, value):
        self._logger = value
        self._update_log_level()

    def _update_log_level(self):
        c = getattr(self, "_c", None)
        if c is None:
            return
        level = _core.MQ_LOG_NONE
        if self._on_log is not None:
            level = _core.MQ_LOG_DEBUG
        elif self._logger is not None:
            eff = self._logger.getEffectiveLevel()
            level = (_core.MQ_LOG_DEBUG if eff <= logging.DEBUG else
                     _core.MQ_LOG_INFO if eff <= logging.INFO else
                     _core.MQ_LOG_WARNING if eff <= logging.WARNING else
                     _core.MQ_LOG_ERROR)
        _core.mq_set_int(c, _core.MQ_OPT_LOG_LEVEL, level)

    def _easy_log(self, level, fmt, *args):
        if self._on_log is not None:
            buf = fmt % args
            try:
                self._on_log(self, self._userdata, level, buf)
            except Exception:
                pass
        if self._logger is not None:
            self._logger.log(LOGGING_LEVEL.get(level, logging.DEBUG), fmt,
                             *args)

    # -- configuration -----------------------------------------------------------

    def reinitialise(self, client_id="", clean_session=True, userdata=None):
        """Start over as a new client (paho: reinitialise)."""
        self.close()
        self.__init__(self._api, client_id, clean_session
                      if not self._v5 else None, userdata, self._protocol,
                      self._transport, self._reconnect_on_failure)

    def user_data_set(self, userdata):
        self._userdata = userdata

    def user_data_get(self):
        return self._userdata

    user_data = property(user_data_get, user_data_set)

    @property
    def protocol(self):
        return self._protocol

    @property
    def transport(self):
        return self._transport

    @property
    def host(self):
        return self._host

    @property
    def port(self):
        return self._port

    @property
    def keepalive(self):
        return self._keepalive

    @property
    def client_id(self):
        """The client id (bytes). Made with an empty id, the id the broker
        assigned once it is known (MQTT 5 CONNACK; libmq's mq_client_id)."""
        c = self._c
        if not self._client_id and c is not None:
            return (_core.mq_client_id(c) or "").encode("utf-8")
        return self._client_id

    @property
    def connect_timeout(self):
        if self._connect_timeout is None:
            v = _core.mq_get_int_value(self._handle(),
                                       _core.MQ_OPT_CONNECT_TIMEOUT_MS, 10000)
            return v / 1000.0
        return self._connect_timeout

    @connect_timeout.setter
    def connect_timeout(self, value):
        if value <= 0:
            raise ValueError("connection timeout must be a positive value")
        self._connect_timeout = float(value)
        self._setopt(_core.mq_set_int, _core.MQ_OPT_CONNECT_TIMEOUT_MS,
                     int(value * 1000))

    def _setopt(self, fn, *args):
        """Apply a setting now; if the client is connected (MQ_ERR_STATE)
        keep it for the next reconnect(). Other errors raise."""
        rc = fn(self._handle(), *args)
        if rc == _E.MQ_ERR_STATE:
            self._deferred.append((fn, args))
            return 0
        return self._check(rc)

    @property
    def _deferred(self):
        d = self.__dict__.get("_deferred_list")
        if d is None:
            d = self.__dict__["_deferred_list"] = []
        return d

    def username_pw_set(self, username, password=None):
        """Credentials for the next connect. password: str or bytes."""
        self._setopt(_core.mq_set_str, _core.MQ_SOPT_USERNAME, username)
        if password is None:
            self._setopt(_core.mq_set_str, _core.MQ_SOPT_PASSWORD, None)
        else:
            if isinstance(password, str):
                password = password.encode("utf-8")
            self._setopt(_core.mq_set_password, password)

    def will_set(self, topic, payload=None, qos=0, retain=False,
                 properties=None):
        """Last Will for the next connect (ValueError for a bad topic/QoS,
        TypeError for a bad payload, as paho)."""
        if topic is None or len(topic) == 0:
            raise ValueError("Invalid topic.")
        if qos not in (0, 1, 2):
            raise ValueError("Invalid QoS level.")
        if properties is not None and not isinstance(properties, Properties):
            raise ValueError("The properties argument must be an instance "
                             "of the Properties class.")
        if _core.mq_topic_check(topic) != 0:
            raise ValueError("Invalid topic.")
        payload = _payload(payload)
        _Props(properties).close()       # validate the properties now
        self._setopt(_set_will, topic, payload, qos, 1 if retain else 0,
                     properties)

    def will_clear(self):
        self._setopt(_core.mq_set_will, None, None, 0, 0, None)

    def reconnect_delay_set(self, min_delay=1, max_delay=120):
        """Backoff of libmq's automatic reconnect, in seconds (doubling from
        min_delay up to max_delay, with jitter)."""
        if min_delay <= 0 or max_delay < min_delay:
            raise ValueError("need 0 < min_delay <= max_delay")
        self._setopt(_core.mq_set_int, _core.MQ_OPT_RECONNECT_MIN_MS,
                     int(min_delay * 1000))
        self._setopt(_core.mq_set_int, _core.MQ_OPT_RECONNECT_MAX_MS,
                     int(max_delay * 1000))

    def max_inflight_messages_set(self, inflight):
        """QoS>0 messages in flight at once (default 20; 0 = as many as the
        protocol allows, 65535)."""
        if inflight < 0:
            raise ValueError("Invalid inflight.")
        self._setopt(_core.mq_set_int, _core.MQ_OPT_MAX_INFLIGHT,
                     inflight or 65535)

    def max_queued_messages_set(self, queue_size):
        """Messages accepted by publish() and not yet completed; beyond it
        publish() returns MQTT_ERR_QUEUE_SIZE. 0 keeps libmq's bound
        (100,000 messages / 64 MiB): libmq never queues without a limit."""
        if not isinstance(queue_size, int):
            raise ValueError("Invalid type of queue size.")
        if queue_size < 0:
            raise ValueError("Invalid queue size.")
        _core.mq_set_int(self._handle(), _core.MQ_OPT_QUEUE_MAX_MSGS,
                         queue_size or 100000)
        return self

    def message_retry_set(self, retry):
        """No effect (as in paho-mqtt)."""

    def enable_bridge_mode(self):
        """Not supported: libmq does not send the bridge protocol bit."""
        raise _make_error(MQError, _E.MQ_ERR_NOT_SUPPORTED,
                          "bridge mode is not supported by libmq")

    _PROXY_KEYS = ("proxy_type", "proxy_addr", "proxy_port", "proxy_rdns",
                   "proxy_username", "proxy_password")

    def proxy_set(self, **proxy_args):
        """Connect through a proxy, with paho's arguments (paho passes them
        to PySocks; libmq does the proxying itself, PySocks is not needed):
        proxy_type socks.HTTP (3: HTTP CONNECT, Basic auth) or
        socks.SOCKS5 (2) - PySocks' constants or the ints -, proxy_addr,
        proxy_port (default 8080 for HTTP, 1080 for SOCKS5, as PySocks),
        proxy_username, proxy_password, proxy_rdns (accepted; libmq lets
        the proxy resolve the broker's name either way). SOCKS4 (1) is not
        supported (ValueError). Call before connect(). Failures raise from
        connect() as MQProxyError / MQProxyAuthError (ConnectionError;
        also socks.ProxyError when PySocks is installed)."""
        unknown = set(proxy_args) - set(self._PROXY_KEYS)
        if unknown:
            raise TypeError("proxy_set() got an unexpected keyword argument "
                            "'%s'" % sorted(unknown)[0])
        ptype = proxy_args.get("proxy_type")
        addr = proxy_args.get("proxy_addr")
        if isinstance(ptype, bool) or ptype not in (PROXY_SOCKS4,
                                                    PROXY_SOCKS5,
                                                    PROXY_HTTP) or not addr:
            raise ValueError("proxy_type and/or proxy_addr are invalid.")
        if ptype == PROXY_SOCKS4:
            raise _make_error(MQValueError, _E.MQ_ERR_NOT_SUPPORTED,
                              "SOCKS4 proxies are not supported by libmq "
                              "(use SOCKS5 or HTTP)")
        port = proxy_args.get("proxy_port") or _PROXY_DEFAULT_PORT[ptype]
        user = proxy_args.get("proxy_username")
        password = proxy_args.get("proxy_password")
        uri = _proxy_uri("http" if ptype == PROXY_HTTP else "socks5h",
                         addr, port, user, password)
        self._setopt(_core.mq_set_str, _core.MQ_SOPT_PROXY, uri)
        self._proxy = dict(proxy_args)
        self._env_proxy = None

    def _apply_env_proxy(self):
        """As paho with PySocks: without proxy_set(), a proxy in the
        environment variable mqtt_proxy (http://host:port or
        socks://host:port) is used unless no_proxy names the broker."""
        if self._proxy is not None or self._transport == "unix":
            return
        uri = None
        try:
            import urllib.request as _ur
            env = _ur.getproxies().get("mqtt")
            if env and not _ur.proxy_bypass(self._host):
                import urllib.parse as _up
                parts = _up.urlparse(env)
                scheme = {"http": "http", "socks": "socks5h",
                          "socks5": "socks5h",
                          "socks5h": "socks5h"}.get(parts.scheme)
                if scheme and parts.hostname:
                    uri = _proxy_uri(scheme, parts.hostname, parts.port or
                                     (8080 if scheme == "http" else 1080),
                                     _up.unquote(parts.username or "") or
                                     None,
                                     _up.unquote(parts.password or "") or
                                     None)
        except Exception:
            uri = None
        if uri != self._env_proxy:
            self._check(_core.mq_set_str(self._handle(),
                                         _core.MQ_SOPT_PROXY, uri))
            self._env_proxy = uri

    def ws_set_options(self, path="/mqtt", headers=None):
        """WebSocket path for transport="websockets". Extra headers are not
        supported by libmq (ValueError)."""
        if headers:
            raise ValueError("WebSocket headers are not supported by libmq")
        self._ws_path = path if path.startswith("/") else "/" + path

    def tls_set(self, ca_certs=None, certfile=None, keyfile=None,
                cert_reqs=None, tls_version=None, ciphers=None,
                keyfile_password=None, alpn_protocols=None):
        """TLS for the next connect, with paho's arguments: ca_certs (CA
        file; default the system's CAs), certfile/keyfile (client
        certificate and key, PEM; the key may be in certfile),
        cert_reqs (ssl.CERT_REQUIRED by default; CERT_OPTIONAL means the
        same for a client, as in Python's ssl; CERT_NONE skips all
        verification), tls_version (ssl.PROTOCOL_TLS / PROTOCOL_TLS_CLIENT
        or None: TLS 1.2 or 1.3; ssl.PROTOCOL_TLSv1_2 or
        ssl.TLSVersion.TLSv1_2: TLS 1.2 only; ssl.TLSVersion.TLSv1_3: TLS
        1.3 only; older versions: ValueError), ciphers (OpenSSL cipher list
        for TLS 1.2), keyfile_password (str, bytes or a callable returning
        one), alpn_protocols (paho 2.x). Host name verification is on (see
        tls_insecure_set). A file libmq cannot read raises
        FileNotFoundError / PermissionError as Python's ssl does."""
        if self._ssl:
            raise ValueError("SSL/TLS has already been configured.")
        self._tls_configure(ca_certs, certfile, keyfile, cert_reqs,
                            tls_version, ciphers, keyfile_password,
                            alpn_protocols)

    def _set_tls_file(self, opt, path):
        path = os.fspath(path)
        try:
            self._setopt(_core.mq_set_str, opt, path)
        except MQError as e:
            if e.code == _E.MQ_ERR_FILE:
                raise _file_error(e.code, path, _FILE_OPTIONS[opt]) from None
            raise

    @staticmethod
    def _tls_versions(tls_version):
        """paho's tls_version -> (minimum, maximum) for libmq (None: the
        default)."""
        if tls_version is None:
            return None, None
        exact12 = [ssl.TLSVersion.TLSv1_2]
        p12 = getattr(ssl, "PROTOCOL_TLSv1_2", None)
        if p12 is not None:
            exact12.append(p12)
        default = [ssl.PROTOCOL_TLS_CLIENT, getattr(ssl, "PROTOCOL_TLS", None),
                   ssl.TLSVersion.MINIMUM_SUPPORTED,
                   ssl.TLSVersion.MAXIMUM_SUPPORTED]
        if any(tls_version is v or (type(tls_version) is type(v) and
                                    tls_version == v) for v in exact12):
            return "tlsv1.2", "tlsv1.2"
        if type(tls_version) is type(ssl.TLSVersion.TLSv1_3) and \
                tls_version == ssl.TLSVersion.TLSv1_3:
            return "tlsv1.3", None
        if any(v is not None and type(tls_version) is type(v) and
               tls_version == v for v in default):
            return None, None
        raise _make_error(MQValueError, _E.MQ_ERR_NOT_SUPPORTED,
                          "tls_version %r is not supported by libmq (TLS 1.2 "
                          "or 1.3 only)" % (tls_version,))

    def _tls_configure(self, ca_certs, certfile, keyfile, cert_reqs,
                       tls_version, ciphers, keyfile_password, alpn,
                       ca_pem=None):
        S = _core
        if cert_reqs not in (None, ssl.CERT_NONE, ssl.CERT_OPTIONAL,
                             ssl.CERT_REQUIRED):
            raise ValueError("invalid cert_reqs %r" % (cert_reqs,))
        vmin, vmax = self._tls_versions(tls_version)
        if ca_certs is not None:
            self._set_tls_file(S.MQ_SOPT_TLS_CA_FILE, ca_certs)
        if certfile is not None:
            self._set_tls_file(S.MQ_SOPT_TLS_CERT_FILE, certfile)
            self._set_tls_file(S.MQ_SOPT_TLS_KEY_FILE, keyfile or certfile)
        elif keyfile is not None:
            raise ValueError("keyfile needs a certfile")
        for opt, val in ((S.MQ_SOPT_TLS_CIPHERS, ciphers),
                         (S.MQ_SOPT_TLS_CA_PEM, ca_pem),
                         (S.MQ_SOPT_TLS_MIN_VERSION, vmin),
                         (S.MQ_SOPT_TLS_MAX_VERSION, vmax)):
            if val is not None:
                self._setopt(S.mq_set_str, opt, val)
        if keyfile_password is not None:
            if callable(keyfile_password):
                keyfile_password = keyfile_password()
            if isinstance(keyfile_password, (bytes, bytearray)):
                keyfile_password = bytes(keyfile_password).decode("utf-8")
            self._setopt(S.mq_set_str, S.MQ_SOPT_TLS_KEY_PASSWORD,
                         keyfile_password)
        if alpn:
            self._setopt(S.mq_set_str, S.MQ_SOPT_TLS_ALPN, ",".join(alpn))
        self._ssl = True
        if cert_reqs == ssl.CERT_NONE:
            self._setopt(S.mq_set_int, S.MQ_OPT_TLS_INSECURE, 1)
            self._tls_insecure = True
        else:
            self.tls_insecure_set(False)

    def tls_set_context(self, context=None):
        """TLS from an ssl.SSLContext (default ssl.create_default_context()).
        libmq does its own TLS with OpenSSL (Python's SSL_CTX cannot be
        handed to it), so it takes what the context can tell: the CA
        certificates it loaded from a file or data (get_ca_certs(); none:
        the system's CAs), verify_mode (CERT_NONE: no verification),
        check_hostname, minimum_version/maximum_version and a changed
        cipher list (get_ciphers()). Not readable from a context, so not
        used: a client certificate (load_cert_chain), CAs of a capath
        directory, CRLs, ALPN, PSK callbacks - give those with
        set_option("tls_cert_file", ...), ("tls_key_file", ...),
        ("tls_ca_path", ...), ("tls_crl_file", ...), ("tls_alpn", ...) or
        tls_set_psk() after this call."""
        if self._ssl:
            raise ValueError("SSL/TLS has already been configured.")
        if context is None:
            context = ssl.create_default_context()
        pems = "".join(ssl.DER_cert_to_PEM_cert(der) for der in
                       context.get_ca_certs(binary_form=True))
        vmin = vmax = None
        lo, hi = context.minimum_version, context.maximum_version
        if hi != ssl.TLSVersion.MAXIMUM_SUPPORTED and \
                hi < ssl.TLSVersion.TLSv1_2:
            raise _make_error(MQValueError, _E.MQ_ERR_NOT_SUPPORTED,
                              "the context allows only TLS versions below "
                              "1.2, which libmq does not speak")
        if lo == ssl.TLSVersion.TLSv1_3:
            vmin = "tlsv1.3"
        if hi == ssl.TLSVersion.TLSv1_2:
            vmax = "tlsv1.2"
        ciphers = None
        try:
            names = [c["name"] for c in context.get_ciphers()
                     if c.get("protocol") != "TLSv1.3"]
            base = [c["name"] for c in
                    ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).get_ciphers()
                    if c.get("protocol") != "TLSv1.3"]
            if names and names != base:
                ciphers = ":".join(names)
        except (ssl.SSLError, AttributeError):
            ciphers = None
        check_hostname = context.check_hostname
        self._tls_configure(None, None, None, context.verify_mode, None,
                            ciphers, None, None, ca_pem=pems or None)
        self._ssl_context = context
        for opt, val in ((_core.MQ_SOPT_TLS_MIN_VERSION, vmin),
                         (_core.MQ_SOPT_TLS_MAX_VERSION, vmax)):
            if val is not None:
                self._setopt(_core.mq_set_str, opt, val)
        if context.verify_mode != ssl.CERT_NONE and not check_hostname:
            self.tls_insecure_set(True)

    def tls_set_psk(self, identity, psk, tls_version=None, ciphers=None):
        """TLS with a pre-shared key instead of certificates (libmq extra:
        paho-mqtt has no PSK API; like mosquitto_pub --psk/--psk-identity):
        identity (str), psk (the key: bytes, or a str of hex digits as in
        mosquitto's psk_file), tls_version and ciphers as tls_set() (e.g.
        ssl.PROTOCOL_TLSv1_2 with "PSK-AES128-GCM-SHA256" for a TLS 1.2
        PSK suite; the default offers a TLS 1.3 external PSK)."""
        if self._ssl:
            raise ValueError("SSL/TLS has already been configured.")
        if isinstance(psk, (bytes, bytearray)):
            key = bytes(psk).hex()
        elif isinstance(psk, str):
            key = psk
            try:
                bytes.fromhex(key)
            except ValueError:
                raise ValueError("psk must be bytes or hex digits") from None
        else:
            raise TypeError("psk must be bytes or a str of hex digits")
        if not key or not identity:
            raise ValueError("psk and identity must not be empty")
        vmin, vmax = self._tls_versions(tls_version)
        self._setopt(_core.mq_set_str, _core.MQ_SOPT_TLS_PSK, key)
        self._setopt(_core.mq_set_str, _core.MQ_SOPT_TLS_PSK_IDENTITY,
                     identity)
        for opt, val in ((_core.MQ_SOPT_TLS_CIPHERS, ciphers),
                         (_core.MQ_SOPT_TLS_MIN_VERSION, vmin),
                         (_core.MQ_SOPT_TLS_MAX_VERSION, vmax)):
            if val is not None:
                self._setopt(_core.mq_set_str, opt, val)
        self._ssl = True

    def tls_insecure_set(self, value):
        """True: verify the certificate chain but not the host name (as
        paho). Call after tls_set()/tls_set_context()."""
        if not self._ssl:
            raise ValueError("Must configure SSL context before using "
                             "tls_insecure_set.")
        self._tls_insecure = bool(value)
        self._setopt(_core.mq_set_int, _core.MQ_OPT_TLS_NO_HOSTNAME_CHECK,
                     1 if value else 0)
        if self._ssl_context is not None and \
                self._ssl_context.verify_mode != ssl.CERT_NONE:
            try:
                self._ssl_context.check_hostname = not value
            except ValueError:
                pass

    # -- libmq extras --------------------------------------------------------------

    def set_option(self, name, value):
        """Set a libmq option by name (INT_OPTIONS / STR_OPTIONS keys: mq.h's
        names in lower case without MQ_OPT_/MQ_SOPT_) or number, e.g.
        set_option("queue_max_bytes", 1 << 20),
        set_option("disconnect_timeout_ms", 1000),
        set_option("topic_alias_auto", 10). Raises MQError subclasses with
        libmq's code on refusal (FileNotFoundError/PermissionError for a
        file option libmq cannot read)."""
        ident = INT_OPTIONS.get(name, STR_OPTIONS.get(name, name))
        if not isinstance(ident, int) or isinstance(ident, bool):
            raise ValueError("unknown option %r" % (name,))
        c = self._handle()
        if ident >= 100:
            if ident in _FILE_OPTIONS and value is not None:
                value = os.fspath(value)
            rc = _core.mq_set_str(c, ident, value)
            if rc == _E.MQ_ERR_FILE and ident in _FILE_OPTIONS:
                raise _file_error(rc, value, _FILE_OPTIONS[ident])
            self._check(rc)
            if ident == _core.MQ_SOPT_PROXY:
                self._proxy = {"uri": value} if value else None
                self._env_proxy = None
        else:
            if isinstance(value, bool):
                value = int(value)
            self._check(_core.mq_set_int(c, ident, value))
            if ident == _core.MQ_OPT_PUBLISH_TIMEOUT_MS:
                self._publish_nogil = value > 0

    def get_option(self, name):
        """Read back an integer libmq option (None if unknown), e.g.
        get_option("protocol_in_use") after a connect with
        protocol_fallback."""
        ident = INT_OPTIONS.get(name, name)
        sentinel = -(1 << 62)
        v = _core.mq_get_int_value(self._handle(), ident, sentinel)
        return None if v == sentinel else v

    def persistence_set(self, directory, sync=None):
        """Crash-safe persistence of outbound QoS 1/2 messages in
        `directory` (libmq's MQ_SOPT_PERSIST_DIR): publish() returns once
        the message is on disk, and a client with the same id and directory
        resends what was not acknowledged, after a crash too. sync: 0 fsync
        each message (default), 1 batched, 2 left to the OS. Needs a client
        id; call once, before connect() and before publishing. Returns the
        messages found in the store (RecoveredMessage: topic, payload, qos,
        retain, properties, mid, tag), in their original order: libmq
        resends them by itself, so they must not be published again; their
        on_publish carries that mid."""
        if sync is not None:
            self.set_option("persist_sync", sync)
        self.set_option("persist_dir", directory)
        # libmq posted one MQ_EVENT_RECOVERED per message before mq_set_str
        # returned: take what is queued (kept in order for the loop)
        self._wake()
        with self._pump:
            while self._take(0):
                pass
        rec, self._recovered = self._recovered, []
        return rec

    def queue_limits_set(self, max_messages=None, max_bytes=None):
        """Bound the outbound queue (messages and/or bytes)."""
        if max_messages is not None:
            self.set_option("queue_max_msgs", max_messages)
        if max_bytes is not None:
            self.set_option("queue_max_bytes", max_bytes)

    def queued_messages(self):
        """Messages accepted by publish() and not yet completed."""
        return _core.mq_queued_messages(self._handle())

    def event_fd(self):
        """libmq's event descriptor: readable while events are pending
        (level triggered). Watch it (select, asyncio's loop.add_reader) and
        call loop_read() when it is readable. Never read or close it."""
        return _core.mq_event_fd(self._handle())

    # -- connecting ------------------------------------------------------------------

    def connect(self, host, port=1883, keepalive=60, bind_address="",
                bind_port=0, clean_start=MQTT_CLEAN_START_FIRST_ONLY,
                properties=None):
        """Connect and wait for the broker's answer (CONNACK) or the
        failure. Raises the OSError paho raises when the connection cannot
        be made (ConnectionRefusedError, socket.gaierror, TimeoutError,
        ssl.SSLCertVerificationError, ...; each also an MQError with
        libmq's code), and then does not retry by itself. A broker that
        refuses (CONNACK code) is reported to on_connect, as in paho."""
        if not self._v5:
            if clean_start != MQTT_CLEAN_START_FIRST_ONLY:
                raise ValueError("Clean start only applies to MQTT V5")
            if properties is not None:
                raise ValueError("Properties only apply to MQTT V5")
        self.connect_async(host, port, keepalive, bind_address, bind_port,
                           clean_start, properties)
        return self.reconnect()

    def connect_async(self, host, port=1883, keepalive=60, bind_address="",
                      bind_port=0, clean_start=MQTT_CLEAN_START_FIRST_ONLY,
                      properties=None):
        """Remember the broker; loop_start() or loop_forever() connects
        (or reconnect())."""
        if host is None or len(host) == 0:
            raise ValueError("Invalid host.")
        if port <= 0 and self._transport != "unix":
            raise ValueError("Invalid port number.")
        if keepalive < 0:
            raise ValueError("Keepalive must be >=0.")
        if bind_port:
            raise ValueError("bind_port is not supported by libmq (the "
                             "local port is chosen at connect)")
        if properties is not None and not isinstance(properties, Properties):
            raise ValueError("properties must be a Properties instance")
        self._host = host
        self._port = port
        self._keepalive = keepalive
        self._bind_address = bind_address or ""
        self._clean_start = clean_start
        self._connect_properties = properties
        self._state = mqtt_cs_connect_async
        self._user_disconnect = False

    def connect_srv(self, domain=None, keepalive=60, bind_address="",
                    clean_start=MQTT_CLEAN_START_FIRST_ONLY, properties=None):
        """Not supported: libmq has no DNS SRV lookup."""
        raise ValueError("connect_srv is not supported by libmq")

    def _uri(self):
        host = self._host
        if self._transport == "unix":
            return "unix://" + host
        if ":" in host and not host.startswith("["):
            host = "[%s]" % host
        if self._transport == "websockets":
            return "%s://%s:%d%s" % ("wss" if self._ssl else "ws", host,
                                     self._port, self._ws_path)
        return "%s://%s:%d" % ("mqtts" if self._ssl else "mqtt", host,
                               self._port)

    def _start(self):
        """Apply the connection settings and call mq_connect (the client
        must not be active). Returns the attempt number to wait for."""
        c = self._handle()
        if len(self._host) == 0:
            raise ValueError("Invalid host.")
        self._check(_core.mq_set_server(c, self._uri()))
        self._apply_env_proxy()
        if self._bind_address:  # connect(..., bind_address=): numeric
            self._check(_core.mq_set_str(c, _core.MQ_SOPT_BIND_ADDRESS,
                                         self._bind_address))
        self._check(_core.mq_set_int(c, _core.MQ_OPT_KEEPALIVE_S,
                                     self._keepalive))
        if self._v5:
            cs = self._clean_start
            self._check(_core.mq_set_int(c, _core.MQ_OPT_CLEAN_START,
                                         0 if cs is False else 1))
            with _Props(self._connect_properties) as p:
                self._check(_core.mq_set_connect_props(c, p))
        deferred, self.__dict__["_deferred_list"] = self._deferred, []
        for fn, args in deferred:
            self._check(fn(c, *args))
        with self._cv:
            seq = self._connect_seq
            self._user_disconnect = False
            self._attempt_acked = False
            self._connect_result = None
        rc = _core.mq_connect(c)
        if rc < 0:
            _raise_for(rc)
        self._active = True
        if self._state != mqtt_cs_connected:
            self._state = mqtt_cs_connect_async
        self._call_socket_open()
        return seq

    def reconnect(self):
        """(Re)connect with the settings of connect()/connect_async() and
        wait for the outcome, as connect(). An existing connection is
        closed first."""
        if len(self._host) == 0:
            raise ValueError("Invalid host.")
        if self._active:
            self._stop_connection()
        seq = self._start()
        return self._wait_connect_outcome(seq, raise_error=True)

    def _wait_connect_outcome(self, seq, raise_error):
        """Wait for the first CONNECT/DISCONNECTED after attempt `seq`.
        Returns MQTT_ERR_SUCCESS (connected, or refused by CONNACK: the
        callbacks tell) or raises/returns the connection error."""
        timeout = self.connect_timeout + 5.0
        ok = self._wait_until(lambda: self._connect_seq > seq, timeout)
        if not ok:
            err, text = _E.MQ_ERR_TIMEOUT, "no answer from the broker"
        else:
            err, text = self._connect_result
        if err == _E.MQ_OK or err == _E.MQ_ERR_REFUSED:
            return MQTT_ERR_SUCCESS
        exc = _connect_error(err, text)
        if raise_error:
            # paho does not keep trying after a failed connect(): stop
            # libmq's automatic retries too, and drop what the attempt
            # left, so that the next loop call does not report it again.
            self._stop_connection()
            self._state = mqtt_cs_new
            raise exc
        return exc

    def _stop_connection(self):
        """Stop the connection or the retries at once (mq_disconnect_now:
        nothing more is awaited), and consume the events that say so."""
        c = self._handle()
        with self._cv:
            final = self._final_seq
        rc = _core.mq_disconnect_now(c, 0)
        if rc == 0:
            self._wait_until(lambda: self._final_seq > final, 5.0)
        self._active = False
        self._drop_pending_disconnects()

    def _drop_pending_disconnects(self):
        """Remove connection-failure events of an attempt the caller
        reported by raising (they are not the application's news)."""
        with self._cv:
            keep = [ev for ev in self._pending
                    if ev[0] not in (_EV_DISCONNECTED, _EV_CONNECT)]
            self._pending.clear()
            self._pending.extend(keep)

    def is_connected(self):
        """True while connected (CONNACK received and not lost)."""
        c = self._c
        return c is not None and _core.mq_is_connected(c) == 1

    def disconnect(self, reasoncode=None, properties=None):
        """Graceful disconnect (libmq's mq_disconnect): what publish(),
        subscribe() and unsubscribe() accepted before is delivered first -
        also while still connecting or reconnecting -, QoS 1/2
        acknowledgements are awaited, then DISCONNECT goes out (v5: with
        reasoncode and properties). All of it within the disconnect
        timeout (set_option("disconnect_timeout_ms", ms), default 5000);
        what is not delivered by then is reported, never dropped silently
        (wait_for_publish() raises, VERSION2 on_publish gets a failure
        code, a log line), unless kept for the next connect (QoS 1/2 with
        persistence_set(), or in a session the broker keeps).
        Without a loop thread it returns when the connection is closed (so
        a program may exit right after); with loop_start() it returns at
        once and loop_stop() waits; from a callback it returns at once.
        MQTT_ERR_NO_CONN if not connected."""
        c, reason, final = self._begin_disconnect(reasoncode)
        if c is None:
            return MQTT_ERR_NO_CONN
        with _Props(properties) as p:
            if p is not None:
                rc = _core.mq_disconnect_v5(c, reason, p)
            else:
                rc = _core.mq_disconnect(c, reason)
        if rc == _E.MQ_ERR_NO_CONN:
            self._active = False
            return MQTT_ERR_NO_CONN
        if rc == _E.MQ_ERR_STATE:
            rc = 0                     # a disconnect is already under way
        if rc < 0:
            _raise_for(rc)
        if self._may_block_for_loop():
            ms = _core.mq_get_int_value(c, _core.MQ_OPT_DISCONNECT_TIMEOUT_MS,
                                        5000)
            # libmq ends it within the timeout (plus writing DISCONNECT)
            self._wait_until(lambda: self._final_seq > final,
                             ms / 1000.0 + 10.0)
        return MQTT_ERR_SUCCESS

    def disconnect_now(self, reasoncode=None):
        """libmq extra (MQTT.js end(true)): end the connection or the
        retries at once (mq_disconnect_now), also a graceful disconnect()
        still under way. Nothing more is delivered: DISCONNECT follows
        what was already written; what was not delivered is reported at
        once as disconnect() reports what its timeout cuts off, or kept
        for the next connect (persistence_set(), a session the broker
        keeps). Then on_disconnect, from the loop. Without a loop thread
        it returns once the connection is closed. MQTT_ERR_NO_CONN if not
        connected."""
        c, reason, final = self._begin_disconnect(reasoncode)
        if c is None:
            return MQTT_ERR_NO_CONN
        rc = _core.mq_disconnect_now(c, reason)
        if rc == _E.MQ_ERR_NO_CONN:
            self._active = False
            return MQTT_ERR_NO_CONN
        if rc < 0:
            _raise_for(rc)
        if self._may_block_for_loop():
            self._wait_until(lambda: self._final_seq > final, 10.0)
        return MQTT_ERR_SUCCESS

    def auth(self, reasoncode, properties=None):
        """libmq extra (paho-mqtt has no enhanced authentication API): send
        an MQTT 5 AUTH packet (mq_auth) with reasoncode (0x18 continue,
        0x19 re-authenticate; an int or ReasonCode) and properties
        (PacketTypes.AUTH: AuthenticationMethod, AuthenticationData, ...).
        Only on a connection whose connect(properties=) carried an
        AuthenticationMethod (libmq logs and drops it otherwise). While
        connecting it answers the broker's challenge (AUTH 0x18 before the
        CONNACK) at once, so call it from on_auth with a loop running
        (loop_start() before connect(), or connect_async()); otherwise it
        goes out once connected (re-authentication, 0x19). The broker's AUTH packets reach
        on_auth(client, userdata, reasoncode, properties). ValueError for
        a bad reason code or property, MQError(MQ_ERR_NOT_SUPPORTED) on
        MQTT 3.1.1."""
        reason = _reason_int(reasoncode)
        with _Props(properties) as p:
            rc = _core.mq_auth(self._handle(), reason, p)
        if rc < 0:
            _raise_for(rc)
        return MQTT_ERR_SUCCESS

    def _begin_disconnect(self, reasoncode):
        """The common start of disconnect() and disconnect_now(): (client,
        reason, final_seq before the call), client None when there is no
        connection to end."""
        c = self._c
        if c is None or not self._active:
            self._state = mqtt_cs_disconnecting
            return None, 0, 0
        reason = _reason_int(reasoncode)
        with self._cv:
            final = self._final_seq
            self._user_disconnect = True
        self._state = mqtt_cs_disconnecting
        return c, reason, final

    def _may_block_for_loop(self):
        """True if a blocking call may wait for events here: no loop
        thread runs elsewhere and this thread is not inside a callback."""
        if self._dispatching == threading.get_ident():
            return False
        t = self._thread
        if t is not None and t.is_alive() and \
                t is not threading.current_thread():
            return False
        return not self._loop_forever_running

    # -- publish / subscribe ----------------------------------------------------

    def publish(self, topic, payload=None, qos=0, retain=False,
                properties=None):
        """Queue a message and return an MQTTMessageInfo (mid, rc,
        wait_for_publish(), is_published()). Never waits for the network.
        rc: MQTT_ERR_SUCCESS (accepted: libmq sends it, also if the client
        is still connecting or reconnecting), MQTT_ERR_NO_CONN (after
        disconnect(), or never connected: not queued), MQTT_ERR_QUEUE_SIZE
        (outbound queue full). ValueError for a bad topic, QoS or size,
        TypeError for a bad payload, as paho."""
        c = self._c
        if properties is None and c is not None and \
                not self._user_disconnect and not self._publish_nogil:
            # the common case in one crossing (bindings/mq.i): the info,
            # or an error code
            r = _mq_py_publish(c, topic, payload, qos, retain,
                               MQTTMessageInfo, self)
            if r.__class__ is not int:
                return r
            if r != _MQ_PY_SLOW:
                return self._publish_failed(topic, payload, r)
        return self._publish(topic, payload, qos, retain, properties, 0)

    def publish_tagged(self, tag, topic, payload=None, qos=0, retain=False,
                       properties=None):
        """publish() with an application tag (libmq extra,
        mq_publish_tagged): any int 1..2**64-1 naming the message, e.g. a
        row id of the application's own log. With persistence_set() the
        tag is stored with the message and comes back on the
        RecoveredMessage that persistence_set() returns after a restart,
        and the stored message stays until its on_publish callback has
        returned (so an application that notes completion there never
        loses track of it across a crash; the exactly-once recipe of
        docs/guide/persistence.md). Returns an MQTTMessageInfo."""
        if isinstance(tag, bool) or not isinstance(tag, int) or \
                tag <= 0 or tag >= 1 << 64:
            raise ValueError("tag must be an int from 1 to 2**64-1")
        return self._publish(topic, payload, qos, retain, properties, tag)

    def _publish(self, topic, payload, qos, retain, properties, tag):
        """publish() with every argument checked and converted in Python
        (and properties or a tag)."""
        if qos not in (0, 1, 2):
            raise ValueError("Invalid QoS level.")
        if not isinstance(payload, (bytes, str)) and payload is not None:
            payload = _payload(payload)
        if not isinstance(topic, str):
            if isinstance(topic, bytes):
                topic = topic.decode("utf-8")
            elif topic is None:
                raise ValueError("Invalid topic.")
        c = self._c
        if c is None or self._user_disconnect:
            return self._publish_refused(topic, payload, MQTT_ERR_NO_CONN)
        r = 1 if retain else 0
        if properties is None and not tag:
            if self._publish_nogil:
                tok = _core.mq_py_publish_nogil(c, topic, payload, int(qos),
                                                r, None)
            else:
                tok = _mq_publish(c, topic, payload, int(qos), r)
        else:
            with _Props(properties) as p:
                if tag:
                    tok = _core.mq_publish_tagged(c, topic, payload,
                                                  int(qos), r, p, tag)
                else:
                    tok = _core.mq_py_publish_nogil(c, topic, payload,
                                                    int(qos), r, p)
        if tok > 0:
            return MQTTMessageInfo(tok, self)
        return self._publish_failed(topic, payload, tok)

    def _publish_refused(self, topic, payload, rc):
        # validate as paho does before answering with a code
        if _core.mq_topic_check(topic) != 0:
            raise ValueError("Invalid topic.")
        info = MQTTMessageInfo(0, self)
        info.rc = rc
        return info

    def _publish_failed(self, topic, payload, code):
        if code in (_E.MQ_ERR_TOPIC, _E.MQ_ERR_UTF8):
            if isinstance(topic, bytes):
                topic = topic.decode("utf-8", "replace")
            if topic and ("+" in topic or "#" in topic):
                raise ValueError("Publish topic cannot contain wildcards.")
            raise ValueError("Invalid topic.")
        if code == _E.MQ_ERR_INVAL:
            raise ValueError("Invalid topic.")
        if code == _E.MQ_ERR_QOS:
            raise ValueError("Invalid QoS level.")
        if code == _E.MQ_ERR_TOO_LARGE:
            raise ValueError("Payload too large.")
        info = MQTTMessageInfo(0, self)
        if code in (_E.MQ_ERR_QUEUE_FULL, _E.MQ_ERR_TIMEOUT):
            info.rc = MQTT_ERR_QUEUE_SIZE
        elif code in (_E.MQ_ERR_NO_CONN, _E.MQ_ERR_STATE,
                      _E.MQ_ERR_DESTROYED):
            info.rc = MQTT_ERR_NO_CONN
        elif code == _E.MQ_ERR_NOMEM:
            info.rc = MQTT_ERR_NOMEM
        else:
            _raise_for(code)
        return info

    def _publish_outcome(self, mid, timeout):
        """For MQTTMessageInfo: True if message `mid` is published, a text
        saying why it was not, or None if it is not finished within
        `timeout` seconds (None: no limit). Asks libmq (mq_wait, the GIL
        released): with or without a loop, no event is taken."""
        c = self._c
        if c is None:
            return self._pub_failures.get(
                mid, "the client was closed before the outcome was known")
        if timeout is None:
            ms = -1
        else:
            ms = min(max(0, int(timeout * 1000)), 0x7fffffff)
        err = _core.mq_wait(c, mid, ms)
        if err == _E.MQ_OK or err == _E.MQ_ERR_REFUSED:
            return True                # acknowledged (paho: published)
        if err == _E.MQ_ERR_TIMEOUT:
            return None
        if err == _E.MQ_ERR_STATE:
            # inside a callback of this client while libmq's event queue is
            # full: the answer could only come after the callback returns
            if timeout is None:
                return ("cannot wait inside a callback while libmq's event "
                        "queue is full (MQ_ERR_STATE)")
            self._easy_log(MQTT_LOG_WARNING, "wait_for_publish(mid=%d) in a "
                           "callback while the event queue is full: not "
                           "waiting", mid)
            return None
        if err == _E.MQ_ERR_NOT_FOUND:
            return self._pub_failures.get(
                mid, "outcome no longer known (MQ_ERR_NOT_FOUND: more than "
                "64 later messages failed)")
        return self._pub_failures.get(mid, "%s (%s)" % (
            _core.mq_strerror(err), _err_name(err)))

    @staticmethod
    def _sub_list(topic, qos, options, v5):
        """paho's subscribe() argument forms -> [(filter, options byte)]."""
        subs = []

        def one(t, q):
            if isinstance(t, bytes):
                t = t.decode("utf-8")
            if t is None or not isinstance(t, str) or len(t) == 0:
                raise ValueError("Invalid topic.")
            if isinstance(q, SubscribeOptions):
                if not v5:
                    raise ValueError("Subscribe options are MQTT 5 only")
                subs.append((t, q.value()))
                return
            if isinstance(q, bool) or not isinstance(q, int) or \
                    q < 0 or q > 2:
                raise ValueError("Invalid QoS level.")
            subs.append((t, q))

        if isinstance(topic, tuple):
            if len(topic) != 2:
                raise ValueError("Invalid topic tuple.")
            one(topic[0], topic[1])
        elif isinstance(topic, (str, bytes)):
            if options is not None:
                if not v5:
                    raise ValueError("Subscribe options are MQTT 5 only")
                if qos != 0:
                    raise ValueError("Subscribe options and qos parameters "
                                     "cannot be combined.")
                if not isinstance(options, SubscribeOptions):
                    raise ValueError("Subscribe options must be instance of "
                                     "SubscribeOptions class.")
                one(topic, options)
            else:
                one(topic, qos)
        elif isinstance(topic, list):
            for item in topic:
                if not isinstance(item, tuple) or len(item) != 2:
                    raise ValueError("Invalid topic list item.")
                one(item[0], item[1])
        if not subs:
            raise ValueError("No topic specified, or incorrect topic type.")
        for t, _ in subs:
            if _core.mq_filter_check(t) != 0:
                raise ValueError("Invalid subscription filter.")
        return subs

    def _offline(self):
        return self._c is None or self._user_disconnect

    def subscribe(self, topic, qos=0, options=None, properties=None):
        """Subscribe: subscribe("a/b", 1), subscribe(("a/b", 1)),
        subscribe([("a/b", 1), ("c", 2)]), MQTT 5 SubscribeOptions in place
        of a QoS. Returns (MQTT_ERR_SUCCESS, mid), or (MQTT_ERR_NO_CONN,
        None) when not connected (never connected or after disconnect());
        while connecting or reconnecting the SUBSCRIBE is sent once
        connected. ValueError for a bad filter or QoS."""
        subs = self._sub_list(topic, qos, options, self._v5)
        if properties is not None and not self._v5:
            raise ValueError("Properties only apply to MQTT V5")
        if self._offline():
            return (MQTT_ERR_NO_CONN, None)
        c = self._handle()
        with _Props(properties) as p:
            if len(subs) == 1:
                tok = _core.mq_subscribe_v5(c, subs[0][0], subs[0][1], p)
            else:
                tok = _core.mq_py_subscribe_many(c, subs, p)
        return _sub_result(tok)

    def unsubscribe(self, topic, properties=None):
        """Unsubscribe from a filter or a list of filters (one UNSUBSCRIBE
        packet, one mid, as paho); (rc, mid) as subscribe()."""
        if topic is None:
            raise ValueError("Invalid topic.")
        if isinstance(topic, (str, bytes)):
            topics = [topic]
        elif isinstance(topic, list):
            topics = topic
        else:
            raise ValueError("No topic specified, or incorrect topic type.")
        flts = []
        for t in topics:
            if isinstance(t, bytes):
                t = t.decode("utf-8")
            if not isinstance(t, str) or len(t) == 0 or \
                    _core.mq_filter_check(t) != 0:
                raise ValueError("Invalid topic.")
            flts.append(t)
        if not flts:
            raise ValueError("No topic specified, or incorrect topic type.")
        if properties is not None and not self._v5:
            raise ValueError("Properties only apply to MQTT V5")
        if self._offline():
            return (MQTT_ERR_NO_CONN, None)
        c = self._handle()
        with _Props(properties) as p:
            if len(flts) == 1:
                tok = _core.mq_unsubscribe_v5(c, flts[0], p)
            else:
                # one UNSUBSCRIBE packet, one mid (as paho)
                tok = _core.mq_py_unsubscribe_many(c, flts, p)
        return _sub_result(tok)

    # -- message callbacks by filter ------------------------------------------

    def message_callback_add(self, sub, callback):
        """Call `callback(client, userdata, message)` instead of on_message
        for messages matching filter `sub`."""
        if callback is None or sub is None:
            raise ValueError("sub and callback must both be defined.")
        with self._callback_mutex:
            self._on_message_filtered[sub] = callback

    def topic_callback(self, sub):
        def decorator(func):
            self.message_callback_add(sub, func)
            return func
        return decorator

    def message_callback_remove(self, sub):
        if sub is None:
            raise ValueError("sub must defined.")
        with self._callback_mutex:
            try:
                del self._on_message_filtered[sub]
            except KeyError:
                pass

    # decorators of paho 1.6 (@client.connect_callback() ...)
    def _decorator(name):
        def make(self):
            def decorator(func):
                setattr(self, name, func)
                return func
            return decorator
        return make

    connect_callback = _decorator("on_connect")
    connect_fail_callback = _decorator("on_connect_fail")
    disconnect_callback = _decorator("on_disconnect")
    message_callback = _decorator("on_message")
    subscribe_callback = _decorator("on_subscribe")
    unsubscribe_callback = _decorator("on_unsubscribe")
    auth_callback = _decorator("on_auth")
    socket_open_callback = _decorator("on_socket_open")
    socket_close_callback = _decorator("on_socket_close")
    del _decorator

    # -- events: taking (pump) ------------------------------------------------------

    def _take(self, timeout):
        """Take a batch of events (caller holds the pump), process them
        (state updates that waiters need) and queue them for dispatch."""
        c = self._c
        if c is None:
            return 0
        ms = -1 if timeout is None else max(0, int(timeout * 1000))
        evs, state = _mq_take(c, ms, _BATCH, self._wake_r)
        if not evs:
            self._drain_wake()
            return 0
        notify = False
        if state:                   # else only messages and completions
            for ev in evs:
                if self._process(ev):
                    notify = True
        self._pending.extend(evs)
        if notify or self._waiters:
            with self._cv:
                self._cv.notify_all()
        return len(evs)

    _PUB_FAILURES_KEPT = 100000

    def _process(self, ev):
        """Update state from an event as soon as it is taken (before its
        callbacks run). True if a waiter may care."""
        kind = ev[0]
        if kind == _EV_PUBLISHED:
            err = ev[2]
            if err != _E.MQ_OK and err != _E.MQ_ERR_REFUSED:
                # remembered for is_published() beyond mq_wait's 64
                f = self._pub_failures
                f[ev[1]] = "%s (%s)" % (_core.mq_strerror(err),
                                        _err_name(err))
                if len(f) > self._PUB_FAILURES_KEPT:
                    f.popitem(last=False)
            return False
        if kind == _EV_CONNECT:
            self._attempt_acked = True
            if ev[3] == 0:
                self._ever_connected = True
                self._state = mqtt_cs_connected
            self._connect_result = (_E.MQ_OK if ev[3] == 0
                                    else _E.MQ_ERR_REFUSED, None)
            self._connect_seq += 1
            return True
        if kind == _EV_DISCONNECTED:
            if not self._attempt_acked:
                self._connect_result = (ev[2], ev[5])
                self._connect_seq += 1
            self._attempt_acked = False
            if not ev[4]:                      # will_reconnect == 0
                self._final_seq += 1
                self._active = False
                self._state = mqtt_cs_new if not self._user_disconnect \
                    else mqtt_cs_disconnecting
            elif self._state == mqtt_cs_connected:
                self._state = mqtt_cs_connect_async
            return True
        if kind == _EV_RECOVERED:
            m = RecoveredMessage(ev[6], ev[1])
            m.payload, m.qos, m.retain, m.tag = ev[2], ev[3], ev[4], ev[5]
            if self._v5:
                m.properties = Properties._from_list(PacketTypes.PUBLISH,
                                                     ev[7] or ())
            self._recovered.append(m)
        return False

    def _wait_until(self, pred, timeout):
        """Wait for pred() (set by _process), taking events ourselves when
        no other thread is taking them. True if pred() became true."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if pred():
                return True
            remaining = None if deadline is None else \
                deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return pred()
            if self._pump.acquire(blocking=False):
                try:
                    if pred():
                        return True
                    step = 0.2 if remaining is None else min(remaining, 0.2)
                    self._take(step)
                finally:
                    self._pump.release()
            else:
                with self._cv:
                    self._waiters += 1
                    try:
                        if not pred():
                            step = _SLICE if remaining is None else \
                                min(remaining, _SLICE)
                            self._cv.wait(step)
                    finally:
                        self._waiters -= 1

    # -- events: dispatching ------------------------------------------------------

    def _props(self, ptype, pairs):
        if not self._v5:
            return None
        return Properties._from_list(ptype, pairs or ())

    def _run_callbacks(self):
        """Dispatch the events taken so far, in order. Returns (count,
        final) where final is the rc of a final disconnect seen, or None.
        Messages and successful completions, the bulk, go the short way."""
        n = 0
        final = None
        pending = self._pending
        if not pending:
            return 0, None
        popleft = pending.popleft
        on_message = self._on_message_event
        prev = self._dispatching
        self._dispatching = threading.get_ident()
        try:
            while pending:
                try:
                    ev = popleft()
                except IndexError:
                    break
                n += 1
                kind = ev[0]
                if kind == _EV_MESSAGE:
                    on_message(ev)
                elif kind == _EV_PUBLISHED and ev[2] == 0:
                    cb = self._on_publish_v1
                    if cb is not None:
                        try:
                            cb(self, self._userdata, ev[1])
                        except Exception as err:
                            self._callback_failed("on_publish", err)
                    elif self._on_publish is not None:
                        self._on_published_event(ev)
                else:
                    r = self._dispatch(ev)
                    if r is not None:
                        final = r
        finally:
            self._dispatching = prev
        return n, final

    def _call(self, name, cb, *args):
        try:
            cb(self, self._userdata, *args)
        except Exception as err:
            self._callback_failed(name, err)

    def _callback_failed(self, name, err):
        """A callback raised: log it, and re-raise unless
        suppress_exceptions (as paho)."""
        self._easy_log(MQTT_LOG_ERR, "Caught exception in %s: %s", name, err)
        if not self.suppress_exceptions:
            raise err

    def _dispatch(self, ev):
        kind = ev[0]
        if kind == _EV_MESSAGE:
            self._on_message_event(ev)
            return None
        if kind == _EV_PUBLISHED:
            self._on_published_event(ev)
        elif kind == _EV_CONNECT:
            self._on_connect_event(ev)
        elif kind == _EV_DISCONNECTED:
            return self._on_disconnected_event(ev)
        elif kind == _EV_SUBSCRIBED:
            self._on_subscribed_event(ev)
        elif kind == _EV_UNSUBSCRIBED:
            self._on_unsubscribed_event(ev)
        elif kind == _EV_LOG:
            self._easy_log(_LOG_LEVEL.get(ev[7], MQTT_LOG_DEBUG), "%s",
                           ev[5] or "")
        elif kind == _EV_RESUBSCRIBED:
            self._on_resubscribed_event(ev)
        elif kind == _EV_AUTH:
            cb = self.on_auth
            if cb is not None:
                self._call("on_auth", cb,
                           ReasonCode(PacketTypes.AUTH, identifier=ev[3]),
                           Properties._from_list(PacketTypes.AUTH,
                                                 ev[6] or ()))
        # _EV_RECOVERED: collected when taken (see persistence_set)
        return None

    def _on_resubscribed_event(self, ev):
        """libmq renewed a subscription after a reconnect where the broker
        kept no session. paho has no such event (it never resubscribes by
        itself): a paho user sees a log line only - DEBUG when granted,
        ERR when the broker refused it. The application's own subscribe()
        of that filter from on_connect (the tutorial's way) still gets its
        on_subscribe, answered by libmq from this SUBACK."""
        err, reason, qos, flt = ev[2], ev[3], ev[4], ev[5]
        if err == _E.MQ_OK:
            self._easy_log(MQTT_LOG_DEBUG, "libmq resubscribed to %s "
                           "(QoS %d asked, %d granted)", flt, qos, reason)
        else:
            self._easy_log(MQTT_LOG_ERR, "libmq's resubscribe to %s was "
                           "refused: %s (0x%02x)", flt,
                           _core.mq_reason_string(reason), reason)

    def _on_message_event(self, ev):
        """on_message (or the message_callback_add handlers) for one
        MESSAGE event. A QoS 1/2 message holds its libmq event (ev[8]):
        freeing it is what sends the PUBACK/PUBREC, so it is freed here
        after the callbacks returned or raised, as paho acknowledges after
        on_message - a process killed inside the callback gets the message
        again from the broker."""
        try:
            self._deliver_message(ev)
        finally:
            if ev[8] is not None:
                _mq_event_done(ev[8])

    def _deliver_message(self, ev):
        msg = _new_message(MQTTMessage)
        msg._topic_s = ev[1] if ev[1].__class__ is str else \
            ev[1].decode("utf-8", "surrogateescape")
        msg.payload = ev[2]
        msg.qos = ev[3]
        msg.retain = ev[4]          # 0/1 as paho (an int, not a bool)
        msg.dup = ev[5]
        msg.mid = ev[6]
        msg.timestamp = _monotonic()
        msg.state = 0
        msg.info = None
        msg.properties = Properties._from_list(PacketTypes.PUBLISH,
                                               ev[7] or ()) \
            if self._v5 else None
        if self._on_message_filtered._items:
            with self._callback_mutex:
                cbs = list(self._on_message_filtered.iter_match(msg.topic))
            if cbs:
                for cb in cbs:
                    self._call("user defined callback function %s" %
                               getattr(cb, "__name__", cb), cb, msg)
                return
        cb = self.on_message
        if cb is not None:
            try:
                cb(self, self._userdata, msg)
            except Exception as err:
                self._callback_failed("on_message", err)

    def _on_published_event(self, ev):
        err, reason = ev[2], ev[3]
        cb = self.on_publish
        if err not in (_E.MQ_OK, _E.MQ_ERR_REFUSED):
            # libmq could not deliver it (e.g. aborted by a clean session):
            # never silent. VERSION2 callbacks get a failure reason code.
            self._easy_log(MQTT_LOG_ERR, "message mid=%d was not delivered: "
                           "%s (%s)", ev[1], _core.mq_strerror(err),
                           _err_name(err))
            if cb is not None and self._api is CallbackAPIVersion.VERSION2:
                self._call("on_publish", cb, ev[1],
                           ReasonCode(PacketTypes.PUBACK, identifier=reason
                                      if reason >= 0x80 else 0x80),
                           self._props(PacketTypes.PUBACK, None) or
                           Properties(PacketTypes.PUBACK))
            return
        if cb is None:
            return
        if self._api is CallbackAPIVersion.VERSION2:
            rc = ReasonCode(PacketTypes.PUBACK, identifier=reason
                            if reason in (0, 16) or reason >= 0x80 else 0)
            self._call("on_publish", cb, ev[1], rc,
                       Properties._from_list(PacketTypes.PUBACK, ev[6] or ()))
        else:
            self._call("on_publish", cb, ev[1])

    def _on_connect_event(self, ev):
        reason, sp = ev[3], ev[4]
        self._disp_acked = True
        self._easy_log(MQTT_LOG_DEBUG, "Received CONNACK (%s, %s)", sp,
                       reason)
        cb = self.on_connect
        if cb is None:
            return
        tls = _tls_info(ev[7])
        if self._api is CallbackAPIVersion.VERSION2:
            self._call("on_connect", cb, ConnectFlags(bool(sp), tls),
                       ReasonCode(PacketTypes.CONNACK, identifier=reason),
                       Properties._from_list(PacketTypes.CONNACK,
                                             ev[6] or ()))
            return
        # paho 1.x's flags dict; libmq adds "tls" on a TLS connection
        flags = {"session present": sp}
        if tls is not None:
            flags["tls"] = tls
        if self._v5:
            self._call("on_connect", cb, flags,
                       ReasonCode(PacketTypes.CONNACK, identifier=reason),
                       self._props(PacketTypes.CONNACK, ev[6]))
        else:
            self._call("on_connect", cb, flags,
                       _V311_CONNACK.get(reason, 5))

    def _on_disconnected_event(self, ev):
        err, reason, will_reconnect, text = ev[2], ev[3], ev[4], ev[5]
        final = None
        if not will_reconnect:
            final = _disconnect_rc(err)
            self._final_rc = final
        if err != _E.MQ_OK:
            self._easy_log(MQTT_LOG_DEBUG, "connection lost: %s",
                           text or _core.mq_strerror(err))
        # an attempt that never reached CONNACK is a failed connect in
        # paho's terms (on_connect_fail), not a disconnection
        acked, self._disp_acked = self._disp_acked, False
        if not acked:
            cb = self.on_connect_fail
            if cb is not None:
                try:
                    cb(self, self._userdata)
                except Exception as e:
                    self._easy_log(MQTT_LOG_ERR,
                                   "Caught exception in on_connect_fail: %s",
                                   e)
        else:
            cb = self.on_disconnect
            if cb is not None:
                from_server = err == _E.MQ_ERR_CLOSED and reason != 0
                if self._api is CallbackAPIVersion.VERSION2:
                    if from_server or (reason and err != _E.MQ_OK):
                        rcode = reason
                    elif err == _E.MQ_OK:
                        rcode = 0
                    elif err == _E.MQ_ERR_KEEPALIVE:
                        rcode = 0x8D
                    else:
                        rcode = 0x80
                    self._call("on_disconnect", cb,
                               DisconnectFlags(from_server),
                               ReasonCode(PacketTypes.DISCONNECT,
                                          identifier=rcode),
                               Properties._from_list(PacketTypes.DISCONNECT,
                                                     ev[6] or ()))
                elif self._v5:
                    rc = _disconnect_rc(err)
                    if from_server:
                        rc = ReasonCode(PacketTypes.DISCONNECT,
                                        identifier=reason)
                    self._call("on_disconnect", cb, rc,
                               self._props(PacketTypes.DISCONNECT, ev[6]))
                else:
                    self._call("on_disconnect", cb, _disconnect_rc(err))
        if not will_reconnect:
            self._call_socket_close()
        return final

    # Whether the attempt the next DISCONNECTED ends had a CONNACK, in the
    # order callbacks see events (set by _on_connect_event).
    _disp_acked = False

    def _on_subscribed_event(self, ev):
        tok, codes = ev[1], ev[4]
        if tok == 0:
            return                      # libmq's own resubscribe
        cb = self.on_subscribe
        if cb is None:
            return
        if self._api is CallbackAPIVersion.VERSION2:
            self._call("on_subscribe", cb, tok,
                       [ReasonCode(PacketTypes.SUBACK, identifier=c)
                        for c in codes],
                       Properties._from_list(PacketTypes.SUBACK,
                                             ev[6] or ()))
        elif self._v5:
            self._call("on_subscribe", cb, tok,
                       [ReasonCode(PacketTypes.SUBACK, identifier=c)
                        for c in codes],
                       self._props(PacketTypes.SUBACK, ev[6]))
        else:
            self._call("on_subscribe", cb, tok, tuple(codes))

    def _on_unsubscribed_event(self, ev):
        tok, codes, props = ev[1], list(ev[4]), ev[6]
        cb = self.on_unsubscribe
        if cb is None:
            return
        rcs = [ReasonCode(PacketTypes.UNSUBACK, identifier=c) for c in codes]
        if self._api is CallbackAPIVersion.VERSION2:
            if not self._v5:
                rcs = [ReasonCode(PacketTypes.UNSUBACK, identifier=0)
                       for _ in codes] or \
                    [ReasonCode(PacketTypes.UNSUBACK, identifier=0)]
            self._call("on_unsubscribe", cb, tok, rcs,
                       Properties._from_list(PacketTypes.UNSUBACK,
                                             props or ()))
        elif self._v5:
            self._call("on_unsubscribe", cb, tok,
                       self._props(PacketTypes.UNSUBACK, props),
                       rcs if len(rcs) != 1 else rcs[0])
        else:
            self._call("on_unsubscribe", cb, tok)

    def _call_socket_open(self):
        cb = self.on_socket_open
        if cb is not None:
            self._call("on_socket_open", cb,
                       _EventSocket(_core.mq_event_fd(self._handle())))

    def _call_socket_close(self):
        cb = self.on_socket_close
        if cb is not None and self._c is not None:
            self._call("on_socket_close", cb,
                       _EventSocket(_core.mq_event_fd(self._c)))

    # -- loops ------------------------------------------------------------------

    def _loop_once(self, timeout):
        """Dispatch what is pending, else take events for up to `timeout`
        seconds and dispatch them. Returns (count, final rc or None)."""
        n, final = self._run_callbacks()
        if n:
            return n, final
        if self._pump.acquire(timeout=-1 if timeout is None else
                              max(timeout, 0)):
            try:
                if not self._pending:
                    self._take(timeout)
            finally:
                self._pump.release()
        return self._run_callbacks()

    def loop(self, timeout=1.0, max_packets=1):
        """Dispatch pending events, waiting up to `timeout` seconds for
        some. Returns MQTT_ERR_SUCCESS, MQTT_ERR_CONN_LOST once after the
        connection ended for good, or MQTT_ERR_NO_CONN when not connected
        (libmq's automatic reconnect keeps running without loop() calls)."""
        if timeout < 0.0:
            raise ValueError("Invalid timeout.")
        if self._c is None:
            return MQTT_ERR_NO_CONN
        n, final = self._loop_once(timeout)
        if final is not None:
            return final if final != MQTT_ERR_SUCCESS else MQTT_ERR_CONN_LOST
        if not self._active:
            return MQTT_ERR_NO_CONN
        return MQTT_ERR_SUCCESS

    def loop_read(self, max_packets=1):
        """Dispatch the events pending now (no wait): for select/asyncio
        integration when event_fd()/socket() is readable."""
        if self._c is None:
            return MQTT_ERR_NO_CONN
        self._loop_once(0)
        return MQTT_ERR_SUCCESS

    def loop_write(self, max_packets=1):
        """Nothing to do: libmq's worker writes (kept for paho code)."""
        return MQTT_ERR_SUCCESS if self._c is not None else MQTT_ERR_NO_CONN

    def want_write(self):
        """Always False: libmq's worker does all writing."""
        return False

    def loop_misc(self):
        """Dispatch events pending now (paho calls this every second)."""
        if self._c is None or not self._active:
            return MQTT_ERR_NO_CONN
        self._loop_once(0)
        return MQTT_ERR_SUCCESS

    def socket(self):
        """An object whose fileno() is libmq's event descriptor (see
        event_fd()); None once the client is closed."""
        if self._c is None:
            return None
        return _EventSocket(_core.mq_event_fd(self._c))

    def loop_forever(self, timeout=1.0, max_packets=1,
                     retry_first_connection=False):
        """Dispatch events until disconnect() (or loop_stop()), or until the
        connection is lost for good (reconnect_on_failure=False). libmq
        reconnects by itself meanwhile. If the first connection attempt of
        connect_async() fails, raises as connect() does unless
        retry_first_connection. Returns the final rc."""
        if self._c is None:
            return MQTT_ERR_NO_CONN
        in_thread = self._thread is threading.current_thread()
        if not self._active and self._state == mqtt_cs_connect_async:
            try:
                seq = self._start()
            except OSError:
                raise
            if not retry_first_connection:
                exc = self._wait_connect_outcome(seq, raise_error=False)
                if exc != MQTT_ERR_SUCCESS:
                    self._easy_log(MQTT_LOG_DEBUG, "Connection failed")
                    cb = self.on_connect_fail
                    self._stop_connection()
                    self._state = mqtt_cs_new
                    if cb is not None:
                        cb(self, self._userdata)
                    raise exc
        if not self._active and not in_thread:
            return MQTT_ERR_NO_CONN
        if not in_thread:
            self._thread_terminate = False
        self._loop_forever_running = True
        rc = MQTT_ERR_SUCCESS
        try:
            while True:
                if self._thread_terminate and not self._draining():
                    break
                n, final = self._loop_once(timeout)
                if final is not None:
                    rc = final
                    if not self._active:
                        break
        finally:
            self._loop_forever_running = False
        return rc

    def _draining(self):
        """True while a disconnect() is finishing: loop_stop() lets the
        loop dispatch its outcome first."""
        return self._user_disconnect and self._active

    def loop_start(self):
        """Start a thread that runs the loop (callbacks run there).
        MQTT_ERR_INVAL if one runs already."""
        if self._thread is not None:
            return MQTT_ERR_INVAL
        self._thread_terminate = False
        self._drain_wake()
        t = threading.Thread(target=self._thread_main,
                             name="paho-mqtt-client-" +
                             (self._client_id.decode("utf-8", "replace")
                              or "libmq"))
        t.daemon = True
        self._thread = t
        t.start()
        return MQTT_ERR_SUCCESS

    def _thread_main(self):
        try:
            while not self._thread_terminate:
                if not self._active and \
                        self._state == mqtt_cs_connect_async:
                    self.loop_forever(retry_first_connection=True)
                    continue
                if self._active:
                    self.loop_forever(retry_first_connection=True)
                    if not self._active and self._user_disconnect:
                        break   # as paho: the thread ends after disconnect
                    continue
                # not connected yet: wait for events (connect() may come)
                self._loop_once(1.0)
        finally:
            self._run_callbacks_safely()

    def _run_callbacks_safely(self):
        try:
            self._run_callbacks()
        except Exception:
            pass

    def loop_stop(self, force=False):
        """Stop the loop_start() thread and wait for it (a disconnect() in
        progress is finished first). MQTT_ERR_INVAL if none runs."""
        t = self._thread
        if t is None:
            return MQTT_ERR_INVAL
        self._thread_terminate = True
        self._wake()
        if threading.current_thread() is not t:
            t.join()
            self._thread = None
        return MQTT_ERR_SUCCESS
