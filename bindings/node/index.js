'use strict';
/*
 * index.js - libmq for Node: an MQTT.js-like client over the SWIG addon
 * mq_native.node (bindings/mq.i).
 *
 * Threading: libmq works on its own thread and never calls into V8. Events
 * are pulled on the main loop: a dup of libmq's event pipe is wrapped in a
 * net.Socket, and each 'data' drains mq_next_event(client, 0).
 */
const { EventEmitter } = require('node:events');
const net = require('node:net');
const path = require('node:path');

function loadAddon() {
    const tried = [];
    const candidates = [
        process.env.MQ_NODE_ADDON,
        path.join(__dirname, 'mq_native.node'),
        path.join(__dirname, 'build', 'Release', 'mq_native.node'),
    ].filter(Boolean);
    for (const file of candidates) {
        try {
            return require(file);
        } catch (e) {
            if (e.code !== 'MODULE_NOT_FOUND')
                throw e;
            tried.push(file);
        }
    }
    throw new Error('libmq: native addon mq_native.node not found (tried ' +
                    tried.join(', ') + '; set MQ_NODE_ADDON)');
}

const native = loadAddon();
const N = native;

/** An error from libmq: message is libmq's text, code its MQ_ERR_* name. */
class MqError extends Error {
    constructor(errno, what, reasonCode) {
        let msg = `${N.mq_strerror(errno)} (${N.mq_err_name(errno)})`;
        if (reasonCode !== undefined && reasonCode !== 0)
            msg += `: ${N.mq_reason_string(reasonCode)} (0x${reasonCode.toString(16)})`;
        super(what ? `${what}: ${msg}` : msg);
        this.name = 'MqError';
        this.errno = errno;
        this.code = N.mq_err_name(errno);
        if (reasonCode !== undefined)
            this.reasonCode = reasonCode;
    }
}

function check(rc, what) {
    if (rc < 0)
        throw new MqError(rc, what);
    return rc;
}

function typeCheck(cond, what) {
    if (!cond)
        throw new TypeError(what);
}

function toBuffer(payload, what) {
    if (payload === undefined || payload === null)
        return Buffer.alloc(0);
    if (typeof payload === 'string')
        return Buffer.from(payload, 'utf8');
    if (payload instanceof Uint8Array)
        return payload;
    if (payload instanceof ArrayBuffer)
        return Buffer.from(payload);
    throw new TypeError(`${what}: payload must be a Buffer, Uint8Array or string`);
}

function propsObject(p) {
    if (!p)
        return undefined;
    const o = {};
    const nUser = N.mq_props_user_count(p);
    if (nUser > 0) {
        o.userProperties = {};
        for (let i = 0; i < nUser; i++) {
            const k = N.mq_props_user_key(p, i);
            const v = N.mq_props_user_value(p, i);
            if (k in o.userProperties) {
                const prev = o.userProperties[k];
                o.userProperties[k] = Array.isArray(prev) ? prev.concat(v) : [prev, v];
            } else {
                o.userProperties[k] = v;
            }
        }
    }
    const strs = { contentType: N.MQ_PROP_CONTENT_TYPE,
                   responseTopic: N.MQ_PROP_RESPONSE_TOPIC,
                   reasonString: N.MQ_PROP_REASON_STRING,
                   assignedClientIdentifier: N.MQ_PROP_ASSIGNED_CLIENT_IDENTIFIER };
    for (const [name, id] of Object.entries(strs)) {
        const s = N.mq_props_get_string(p, id);
        if (s !== null && s !== undefined)
            o[name] = s;
    }
    const cd = N.mq_props_get_binary(p, N.MQ_PROP_CORRELATION_DATA);
    if (cd)
        o.correlationData = cd;
    const ints = { messageExpiryInterval: N.MQ_PROP_MESSAGE_EXPIRY_INTERVAL,
                   payloadFormatIndicator: N.MQ_PROP_PAYLOAD_FORMAT_INDICATOR,
                   sessionExpiryInterval: N.MQ_PROP_SESSION_EXPIRY_INTERVAL,
                   receiveMaximum: N.MQ_PROP_RECEIVE_MAXIMUM,
                   maximumQoS: N.MQ_PROP_MAXIMUM_QOS };
    for (const [name, id] of Object.entries(ints)) {
        const v = N.mq_props_get_int_value(p, id, 0);
        if (v >= 0)
            o[name] = v;
    }
    return o;
}

/* Errors that mean "this will not work by retrying": reported as 'error'. */
const FATAL = new Set([N.MQ_ERR_MALFORMED, N.MQ_ERR_PROTOCOL, N.MQ_ERR_TLS,
                       N.MQ_ERR_REFUSED, N.MQ_ERR_NOT_SUPPORTED]);

const DRAIN_BATCH = 1000;

/**
 * An MQTT client. Events: 'connect' (connack), 'close' (info), 'offline',
 * 'reconnect', 'end', 'error' (err), 'message' (topic, payload, packet),
 * 'log' (level, text).
 *
 * Options: clientId, protocolVersion (4 = MQTT 3.1.1, default; 5),
 * keepalive (s), clean (bool), reconnectPeriod (ms, 0 = no reconnect),
 * reconnectMaxPeriod (ms), connectTimeout (ms), username, password
 * (string or Buffer), will {topic, payload, qos, retain}; TLS (mqtts://,
 * wss://): caFile, certFile, keyFile (paths), servername,
 * rejectUnauthorized (false: no verification, testing only).
 */
class Client extends EventEmitter {
    constructor(opts = {}) {
        super();
        typeCheck(opts && typeof opts === 'object', 'options must be an object');
        const id = opts.clientId ?? '';
        typeCheck(typeof id === 'string', 'clientId must be a string');
        const proto = opts.protocolVersion ?? 4;
        const h = N.mq_client_new(id, proto);
        if (!h)
            throw new MqError(N.MQ_ERR_INVAL, 'new Client (bad clientId or protocolVersion)');
        this._h = h;
        this._pending = new Map();   // token -> {resolve, reject, kind, extra}
        this._connectWaiters = [];
        this._endWaiters = [];
        this._sock = null;
        this._ending = false;
        this.connected = false;
        this.options = { ...opts };
        try {
            const setInt = (opt, v, what) => check(N.mq_set_int(h, opt, v), what);
            if (opts.keepalive !== undefined)
                setInt(N.MQ_OPT_KEEPALIVE_S, opts.keepalive, 'keepalive');
            if (opts.clean !== undefined)
                setInt(N.MQ_OPT_CLEAN_START, opts.clean ? 1 : 0, 'clean');
            if (opts.reconnectPeriod !== undefined) {
                if (opts.reconnectPeriod === 0) {
                    setInt(N.MQ_OPT_RECONNECT, 0, 'reconnectPeriod');
                } else {
                    setInt(N.MQ_OPT_RECONNECT, 1, 'reconnectPeriod');
                    setInt(N.MQ_OPT_RECONNECT_MIN_MS, opts.reconnectPeriod, 'reconnectPeriod');
                }
            }
            if (opts.reconnectMaxPeriod !== undefined)
                setInt(N.MQ_OPT_RECONNECT_MAX_MS, opts.reconnectMaxPeriod, 'reconnectMaxPeriod');
            if (opts.connectTimeout !== undefined)
                setInt(N.MQ_OPT_CONNECT_TIMEOUT_MS, opts.connectTimeout, 'connectTimeout');
            if (opts.sessionExpiryInterval !== undefined)
                setInt(N.MQ_OPT_SESSION_EXPIRY_S, opts.sessionExpiryInterval, 'sessionExpiryInterval');
            if (opts.rejectUnauthorized === false)
                setInt(N.MQ_OPT_TLS_INSECURE, 1, 'rejectUnauthorized');
            const files = { caFile: N.MQ_SOPT_TLS_CA_FILE, certFile: N.MQ_SOPT_TLS_CERT_FILE,
                            keyFile: N.MQ_SOPT_TLS_KEY_FILE, servername: N.MQ_SOPT_TLS_VERIFY_NAME };
            for (const [name, id] of Object.entries(files)) {
                if (opts[name] !== undefined)
                    check(N.mq_set_str(h, id, opts[name]), name);
            }
            if (opts.username !== undefined)
                check(N.mq_set_str(h, N.MQ_SOPT_USERNAME, opts.username), 'username');
            if (opts.password !== undefined)
                check(N.mq_set_password(h, toBuffer(opts.password, 'password')), 'password');
            if (opts.will) {
                const w = opts.will;
                typeCheck(typeof w.topic === 'string', 'will.topic must be a string');
                check(N.mq_set_will(h, w.topic, toBuffer(w.payload, 'will'), w.qos ?? 0,
                                    w.retain ? 1 : 0, null), 'will');
            }
        } catch (e) {
            N.mq_client_destroy(h);
            this._h = null;
            throw e;
        }
    }

    _handle(what) {
        if (!this._h)
            throw new MqError(N.MQ_ERR_DESTROYED, what);
        return this._h;
    }

    /** Set a raw integer option (MQ_OPT_* from require('libmq').native). */
    setOption(option, value) {
        check(N.mq_set_int(this._handle('setOption'), option, value), 'setOption');
    }

    get clientId() {
        return this._h ? N.mq_client_id(this._h) : undefined;
    }

    /**
     * Start connecting to url ("mqtt://host:port", "mqtts://", "ws://",
     * several separated by commas). Resolves with the first successful
     * connack; rejects if the broker refuses or the client ends first.
     * libmq reconnects by itself until end().
     */
    connect(url) {
        const h = this._handle('connect');
        if (url !== undefined) {
            typeCheck(typeof url === 'string', 'url must be a string');
            check(N.mq_set_server(h, url), 'connect');
        }
        check(N.mq_connect(h), 'connect');
        this._watch();
        return new Promise((resolve, reject) => {
            this._connectWaiters.push({ resolve, reject });
        });
    }

    _watch() {
        if (this._sock)
            return;
        const fd = N.mq_event_fd_dup(this._h);
        if (fd < 0)
            throw new MqError(N.MQ_ERR_SYSTEM, 'event fd');
        const sock = new net.Socket({ fd, readable: true, writable: false });
        sock.on('data', () => this._drain());
        sock.on('error', (e) => this.emit('error', e));
        this._sock = sock;
        setImmediate(() => this._drain());
    }

    _drain() {
        for (let i = 0; i < DRAIN_BATCH; i++) {
            if (!this._h)
                return;
            const ev = N.mq_next_event(this._h, 0);
            if (!ev)
                return;
            let e;
            try {
                e = this._convert(ev);
            } finally {
                N.mq_event_free(ev);
            }
            this._dispatch(e);
        }
        setImmediate(() => this._drain()); // more pending: yield to the loop
    }

    _convert(ev) {
        const kind = N.mq_event_type(ev);
        const e = { kind, error: N.mq_event_error(ev), reason: N.mq_event_reason(ev),
                    token: N.mq_event_token(ev) };
        if (kind === N.MQ_EVENT_MESSAGE) {
            e.topic = N.mq_event_topic(ev);
            e.payload = N.mq_event_payload(ev) || Buffer.alloc(0);
            e.qos = N.mq_event_qos(ev);
            e.retain = N.mq_event_retain(ev) !== 0;
            e.dup = N.mq_event_dup(ev) !== 0;
            e.messageId = N.mq_event_packet_id(ev);
            e.properties = propsObject(N.mq_event_props(ev));
        } else if (kind === N.MQ_EVENT_CONNECT) {
            e.sessionPresent = N.mq_event_session_present(ev) !== 0;
            e.properties = propsObject(N.mq_event_props(ev));
        } else if (kind === N.MQ_EVENT_DISCONNECTED) {
            e.willReconnect = N.mq_event_will_reconnect(ev) !== 0;
            e.message = N.mq_event_message(ev);
        } else if (kind === N.MQ_EVENT_SUBSCRIBED || kind === N.MQ_EVENT_UNSUBSCRIBED) {
            e.codes = [];
            const n = N.mq_event_reason_count(ev);
            for (let i = 0; i < n; i++)
                e.codes.push(N.mq_event_reason_at(ev, i));
        } else if (kind === N.MQ_EVENT_LOG) {
            e.level = N.mq_event_log_level(ev);
            e.message = N.mq_event_message(ev);
        }
        return e;
    }

    _settle(token, fn) {
        const p = this._pending.get(token);
        if (!p)
            return;
        this._pending.delete(token);
        fn(p);
    }

    _dispatch(e) {
        switch (e.kind) {
        case N.MQ_EVENT_MESSAGE:
            this.emit('message', e.topic, e.payload, {
                cmd: 'publish', topic: e.topic, payload: e.payload, qos: e.qos,
                retain: e.retain, dup: e.dup, messageId: e.messageId,
                properties: e.properties,
            });
            break;
        case N.MQ_EVENT_CONNECT: {
            if (e.reason === 0) {
                this.connected = true;
                const connack = { cmd: 'connack', sessionPresent: e.sessionPresent,
                                  reasonCode: 0, properties: e.properties };
                const w = this._connectWaiters.splice(0);
                for (const x of w)
                    x.resolve(connack);
                this.emit('connect', connack);
            } else {
                const err = new MqError(N.MQ_ERR_REFUSED, 'connect', e.reason);
                const w = this._connectWaiters.splice(0);
                for (const x of w)
                    x.reject(err);
                if (w.length === 0 || this.listenerCount('error') > 0)
                    this.emit('error', err);
            }
            break;
        }
        case N.MQ_EVENT_DISCONNECTED: {
            const was = this.connected;
            this.connected = false;
            const err = e.error < 0 ? new MqError(e.error, e.message || 'connection', e.reason)
                                    : null;
            const info = { error: err, reasonCode: e.reason, willReconnect: e.willReconnect,
                           message: e.message };
            if (was)
                this.emit('offline');
            this.emit('close', info);
            if (e.willReconnect) {
                this.emit('reconnect');
                break;
            }
            const w = this._connectWaiters.splice(0);
            for (const x of w)
                x.reject(err || new MqError(N.MQ_ERR_NO_CONN, 'connect'));
            if (err && FATAL.has(e.error) && w.length === 0 && !this._ending)
                this.emit('error', err);
            if (this._ending)
                this._finish();
            else
                this._unwatch();
            break;
        }
        case N.MQ_EVENT_PUBLISHED:
            this._settle(e.token, (p) => {
                if (e.error < 0)
                    p.reject(new MqError(e.error, 'publish', e.reason));
                else
                    p.resolve({ messageId: e.token, reasonCode: e.reason });
            });
            break;
        case N.MQ_EVENT_SUBSCRIBED:
            this._settle(e.token, (p) => {
                if (e.error < 0)
                    p.reject(new MqError(e.error, 'subscribe', e.reason));
                else
                    p.resolve(p.filters.map((topic, i) => ({ topic, qos: e.codes[i] ?? e.reason })));
            });
            break;
        case N.MQ_EVENT_UNSUBSCRIBED:
            this._settle(e.token, (p) => {
                if (e.error < 0)
                    p.reject(new MqError(e.error, 'unsubscribe', e.reason));
                else
                    p.resolve({ messageId: e.token, reasonCodes: e.codes });
            });
            break;
        case N.MQ_EVENT_LOG:
            this.emit('log', e.level, e.message);
            break;
        default:
            break;
        }
    }

    _track(token, filters) {
        return new Promise((resolve, reject) => {
            this._pending.set(token, { resolve, reject, filters });
        });
    }

    /**
     * Publish; payload is a Buffer, Uint8Array or string. Bad arguments
     * throw at once (TypeError, or MqError with libmq's message). The
     * Promise resolves when the broker acknowledges (PUBACK for QoS 1,
     * PUBCOMP for QoS 2; QoS 0 once queued) and rejects with an MqError if
     * the broker refuses it or it is abandoned.
     */
    publish(topic, payload, opts = {}) {
        const h = this._handle('publish');
        typeCheck(typeof topic === 'string', 'publish: topic must be a string');
        typeCheck(opts && typeof opts === 'object', 'publish: options must be an object');
        const buf = toBuffer(payload, 'publish');
        const qos = opts.qos ?? 0;
        typeCheck(Number.isInteger(qos), 'publish: qos must be an integer');
        const token = check(N.mq_publish(h, topic, buf, qos, opts.retain ? 1 : 0), 'publish');
        if (qos === 0)
            return Promise.resolve({ messageId: token, reasonCode: 0 });
        this._watch();
        return this._track(token);
    }

    /**
     * Subscribe to a filter (string), several (array) or {filter: qos}.
     * Resolves on SUBACK with [{topic, qos}] where qos is the granted QoS
     * or a failure reason code (>= 0x80), as MQTT.js does.
     */
    subscribe(filters, opts = {}) {
        const h = this._handle('subscribe');
        let list;
        if (typeof filters === 'string')
            list = [[filters, opts.qos ?? 0]];
        else if (Array.isArray(filters))
            list = filters.map((f) => [f, opts.qos ?? 0]);
        else if (filters && typeof filters === 'object')
            list = Object.entries(filters).map(([f, o]) =>
                [f, typeof o === 'object' ? (o.qos ?? 0) : o]);
        else
            throw new TypeError('subscribe: filter must be a string, array or object');
        for (const [f, q] of list) {
            typeCheck(typeof f === 'string', 'subscribe: filter must be a string');
            typeCheck(Number.isInteger(q), 'subscribe: qos must be an integer');
            const rc = N.mq_filter_check(f);
            if (rc < 0)
                throw new MqError(rc, 'subscribe');
            if (q < 0 || q > 2)
                throw new MqError(N.MQ_ERR_QOS, 'subscribe');
        }
        this._watch();
        const all = list.map(([f, q]) => {
            const token = check(N.mq_subscribe(h, f, q), 'subscribe');
            return this._track(token, [f]);
        });
        return Promise.all(all).then((r) => r.flat());
    }

    /** Unsubscribe; resolves on UNSUBACK. */
    unsubscribe(filters) {
        const h = this._handle('unsubscribe');
        const list = Array.isArray(filters) ? filters : [filters];
        for (const f of list)
            typeCheck(typeof f === 'string', 'unsubscribe: filter must be a string');
        this._watch();
        return Promise.all(list.map((f) =>
            this._track(check(N.mq_unsubscribe(h, f), 'unsubscribe'), [f])));
    }

    /** Messages accepted by publish() but not completed yet. */
    get queued() {
        return this._h ? Number(N.mq_queued_messages(this._h)) : 0;
    }

    /**
     * Close the client: gracefully (DISCONNECT after what is queued) or at
     * once with force. Resolves after 'end'; the client is then unusable.
     */
    end(force = false) {
        if (!this._h)
            return Promise.resolve();
        return new Promise((resolve) => {
            this._endWaiters.push(resolve);
            if (this._ending && !force)
                return;
            this._ending = true;
            if (force || N.mq_disconnect(this._h, 0) < 0)
                this._finish();
            else
                this._watch();
        });
    }

    _unwatch() {
        if (this._sock) {
            this._sock.destroy();
            this._sock = null;
        }
    }

    _finish() {
        this._unwatch();
        if (this._h) {
            N.mq_client_destroy(this._h);
            this._h = null;
        }
        this.connected = false;
        const err = new MqError(N.MQ_ERR_DESTROYED, 'end');
        for (const x of this._connectWaiters.splice(0))
            x.reject(err);
        const pend = [...this._pending.values()];
        this._pending.clear();
        for (const p of pend)
            p.reject(err);
        this.emit('end');
        for (const r of this._endWaiters.splice(0))
            r();
    }
}

/** MQTT.js style: create a client and start connecting to url. Connection
 *  failures are reported through the 'error' / 'close' events. */
function connect(url, opts = {}) {
    const c = new Client(opts);
    c.connect(url).catch(() => {});
    return c;
}

module.exports = {
    Client,
    MqError,
    connect,
    version: N.mq_version_string(),
    topicMatches: (filter, topic) => N.mq_topic_matches(filter, topic) === 1,
    native,
};
