'use strict';
/*
 * index.js - libmq for Node: a client that speaks MQTT.js (events, call
 * shapes, option names) over the SWIG addon mq_native.node (bindings/mq.i).
 *
 *   const mqtt = require('libmq');           // was: require('mqtt')
 *   const client = mqtt.connect('mqtt://broker', { clientId: 'x' });
 *   client.on('connect', () => client.subscribe('a/#', { qos: 1 }));
 *   client.on('message', (topic, payload, packet) => ...);
 *   client.publish('a/b', 'hi', { qos: 1 }, (err) => ...);
 *   await client.endAsync();
 *
 * Threading: libmq works on its own thread and never calls into V8. Events
 * are pulled on the main loop: a dup of libmq's event pipe is wrapped in a
 * net.Socket, and each 'data' drains mq_next_event(client, 0) (in batches,
 * yielding to the loop between them). Nothing is queued on the JavaScript
 * side: while the main loop is busy (or the client is paused) libmq's own
 * bound (maxEvents) fills and libmq stops reading the socket.
 */
const { EventEmitter } = require('node:events');
const net = require('node:net');
const { N, MqError, check, typeCheck, cString, toBytes } = require('./lib/native');
const props = require('./lib/props');
const options = require('./lib/options');

const DRAIN_BATCH = 1000;

/* Disconnect errors that are not reported as 'error': a clean close by the
 * broker ('close' / 'disconnect' say it), and the end of the client. */
const QUIET = new Set([N.MQ_OK, N.MQ_ERR_CLOSED, N.MQ_ERR_DESTROYED]);

function nop() {}

/**
 * What the TLS handshake of a CONNECT event negotiated, named after
 * tls.TLSSocket's getters: { protocol: 'TLSv1.3' (getProtocol()), cipher:
 * OpenSSL's name (getCipher().name), alpnProtocol: false when none (as
 * socket.alpnProtocol), sessionReused: boolean (isSessionReused()) };
 * undefined without TLS.
 */
function tlsInfo(ev) {
    const protocol = N.mq_event_tls(ev, N.MQ_TLS_VERSION);
    if (protocol === null || protocol === undefined)
        return undefined;
    return { protocol, cipher: N.mq_event_tls(ev, N.MQ_TLS_CIPHER),
             alpnProtocol: N.mq_event_tls(ev, N.MQ_TLS_ALPN) || false,
             sessionReused: N.mq_event_tls(ev, N.MQ_TLS_RESUMED) === '1' };
}

/** Split MQTT.js's optional (options, callback) arguments. */
function optsAndCallback(what, a, b) {
    if (typeof a === 'function')
        return [{}, a];
    const o = a ?? {};
    typeCheck(typeof o === 'object', `${what}: options must be an object`);
    typeCheck(b === undefined || typeof b === 'function', `${what}: callback must be a function`);
    return [o, b];
}

function onlyKeys(what, o, allowed) {
    for (const k of Object.keys(o)) {
        if (o[k] !== undefined && !allowed.includes(k))
            throw new TypeError(`${what}: unknown option '${k}'`);
    }
}

function promisify(fn) {
    return new Promise((resolve, reject) => {
        fn((err, res) => (err ? reject(err) : resolve(res)));
    });
}

/**
 * An MQTT client, as MQTT.js's MqttClient.
 *
 * Events: 'connect' (connack; connack.tls: what the TLS handshake
 * negotiated, see tlsInfo), 'message' (topic, payload, packet), 'error'
 * (err: an MqError, e.g. code 'MQ_ERR_CONNREFUSED', 'MQ_ERR_TLS',
 * 'MQ_ERR_PROXY', 'MQ_ERR_PROXY_AUTH', or 'MQ_ERR_REFUSED' with
 * reasonCode), 'close', 'offline', 'reconnect', 'disconnect' (packet: the
 * broker's DISCONNECT, MQTT 5), 'end', and libmq's 'log' (level, text),
 * 'auth' (packet), 'recovered' (packet with tag: a message of the
 * persistDir store that libmq resends) and 'resubscribe' ({topic, qos}: a
 * subscription libmq renewed by itself after a session loss).
 */
class Client extends EventEmitter {
    /** new Client(url, options) or new Client(options): does not connect. */
    constructor(url, opts) {
        super();
        if (url !== undefined && url !== null && typeof url === 'object' && opts === undefined) {
            opts = url;
            url = undefined;
        }
        opts = opts ?? {};
        typeCheck(typeof opts === 'object', 'options must be an object');
        const id = options.clientId(opts);
        const proto = options.protocol(opts);
        const h = N.mq_client_new(id, proto);
        if (!h)
            throw new MqError(N.MQ_ERR_INVAL, 'new Client (bad clientId or protocolVersion)');
        try {
            this._cfg = options.apply(h, url, opts);
            // every publish completes with an event (callbacks at QoS 0 too)
            check(N.mq_set_int(h, N.MQ_OPT_PUBLISH_EVENTS, 2), 'publishEvents');
        } catch (e) {
            N.mq_client_destroy(h);
            throw e;
        }
        this._h = h;
        this._pending = new Map(); // token -> {cb, kind, filters, acc}
        this._endCallbacks = [];
        this._sock = null;
        this._paused = false;
        this._forced = false;
        this.options = { ...opts, clientId: id, protocolVersion: proto };
        this.connected = false;
        this.reconnecting = false;
        this.disconnecting = false;
        this.disconnected = false;
    }

    _handle(what) {
        if (!this._h)
            throw new MqError(N.MQ_ERR_DESTROYED, what);
        return this._h;
    }

    /** Start connecting (mq.connect() does it for you). Returns this. */
    connect() {
        check(N.mq_connect(this._handle('connect')), 'connect');
        this.disconnected = false;
        this._watch();
        return this;
    }

    /** Set a libmq option by name ('persistDir', 'maxInflight', ...) or
     *  MQ_OPT_* / MQ_SOPT_* number; string options take strings. */
    setOption(option, value) {
        options.setOption(this._handle('setOption'), option, value);
        return this;
    }

    /** Read an integer option by name or number (undefined if unknown). */
    getOption(option) {
        const id = typeof option === 'string' ? options.INT_OPTIONS[option] : option;
        typeCheck(Number.isInteger(id), `getOption: unknown option '${option}'`);
        const none = -(2 ** 52);
        const v = N.mq_get_int_value(this._handle('getOption'), id, none);
        return v === none ? undefined : v;
    }

    get clientId() {
        return this._h ? N.mq_client_id(this._h) : this.options.clientId;
    }

    /** MQTT version of the last accepted connection (4 or 5; 0 before
     *  the first): with protocolFallback an MQTT 5 client may be on 4. */
    get protocolInUse() {
        return this._h ? N.mq_get_int_value(this._h, N.MQ_OPT_PROTOCOL_IN_USE, 0) : 0;
    }

    /** Messages accepted by publish() but not completed yet. */
    get queued() {
        return this._h ? Number(N.mq_queued_messages(this._h)) : 0;
    }

    /** Stop taking events (libmq then holds the broker back once its
     *  maxEvents bound is reached); resume() takes them again. */
    pause() {
        this._paused = true;
        if (this._sock)
            this._sock.pause();
        return this;
    }

    resume() {
        this._paused = false;
        if (this._sock) {
            this._sock.resume();
            setImmediate(() => this._drain());
        }
        return this;
    }

    _watch() {
        if (this._sock || !this._h)
            return;
        const fd = N.mq_event_fd_dup(this._h);
        if (fd < 0)
            throw new MqError(N.MQ_ERR_SYSTEM, 'event fd');
        const sock = new net.Socket({ fd, readable: true, writable: false });
        sock.on('data', () => this._drain());
        sock.on('error', (e) => this.emit('error', e));
        if (this._paused)
            sock.pause();
        this._sock = sock;
        setImmediate(() => this._drain());
    }

    _unwatch() {
        if (this._sock) {
            this._sock.destroy();
            this._sock = null;
        }
    }

    _drain() {
        for (let i = 0; i < DRAIN_BATCH; i++) {
            if (!this._h || this._paused)
                return;
            const ev = N.mq_next_event(this._h, 0);
            if (!ev)
                return;
            // freed after the handlers ran (they are synchronous), also
            // when one throws: freeing a received QoS 1/2 message is what
            // sends its PUBACK/PUBREC, so a process that dies inside a
            // 'message' handler gets the message again from the broker
            try {
                this._dispatch(this._convert(ev));
            } finally {
                N.mq_event_free(ev);
            }
        }
        setImmediate(() => this._drain()); // more pending: yield to the loop
    }

    _convert(ev) {
        const kind = N.mq_event_type(ev);
        const e = { kind, error: N.mq_event_error(ev), reason: N.mq_event_reason(ev),
                    token: N.mq_event_token(ev), properties: props.fromNative(N.mq_event_props(ev)) };
        if (kind === N.MQ_EVENT_MESSAGE || kind === N.MQ_EVENT_RECOVERED) {
            e.topic = N.mq_event_topic(ev);
            e.payload = N.mq_event_payload(ev) || Buffer.alloc(0);
            e.qos = N.mq_event_qos(ev);
            e.retain = N.mq_event_retain(ev) !== 0;
            e.dup = N.mq_event_dup(ev) !== 0;
            e.messageId = N.mq_event_packet_id(ev);
            e.tag = N.mq_event_tag(ev);
        } else if (kind === N.MQ_EVENT_CONNECT) {
            e.sessionPresent = N.mq_event_session_present(ev) !== 0;
            e.tls = tlsInfo(ev);
        } else if (kind === N.MQ_EVENT_DISCONNECTED) {
            e.willReconnect = N.mq_event_will_reconnect(ev) !== 0;
            e.message = N.mq_event_message(ev);
        } else if (kind === N.MQ_EVENT_SUBSCRIBED || kind === N.MQ_EVENT_UNSUBSCRIBED) {
            e.codes = [];
            const n = N.mq_event_reason_count(ev);
            for (let i = 0; i < n; i++)
                e.codes.push(N.mq_event_reason_at(ev, i));
        } else if (kind === N.MQ_EVENT_RESUBSCRIBED) {
            e.topic = N.mq_event_topic(ev);
        } else if (kind === N.MQ_EVENT_LOG) {
            e.level = N.mq_event_log_level(ev);
            e.message = N.mq_event_message(ev);
        }
        return e;
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
        case N.MQ_EVENT_CONNECT:
            if (e.reason === 0) {
                this.connected = true;
                this.reconnecting = false;
                const connack = { cmd: 'connack', sessionPresent: e.sessionPresent,
                                  returnCode: 0, reasonCode: 0, properties: e.properties };
                if (e.tls)
                    connack.tls = e.tls;
                this.emit('connect', connack);
            }
            // a refusal is reported with the DISCONNECTED that follows
            break;
        case N.MQ_EVENT_DISCONNECTED:
            this._disconnected(e);
            break;
        case N.MQ_EVENT_PUBLISHED:
        case N.MQ_EVENT_SUBSCRIBED:
        case N.MQ_EVENT_UNSUBSCRIBED:
            this._settle(e);
            break;
        case N.MQ_EVENT_LOG:
            this.emit('log', e.level, e.message);
            break;
        case N.MQ_EVENT_RECOVERED:
            // a message of the persistDir store, resent by libmq
            this.emit('recovered', { cmd: 'publish', topic: e.topic, payload: e.payload, qos: e.qos,
                                     retain: e.retain, messageId: e.token, tag: e.tag,
                                     properties: e.properties });
            break;
        case N.MQ_EVENT_RESUBSCRIBED:
            // libmq renewed a subscription after the broker lost the session
            this.emit('resubscribe', { topic: e.topic, qos: e.reason, properties: e.properties });
            break;
        case N.MQ_EVENT_AUTH:
            this.emit('auth', { cmd: 'auth', reasonCode: e.reason, properties: e.properties });
            break;
        default:
            break;
        }
    }

    _disconnected(e) {
        const was = this.connected;
        this.connected = false;
        const err = e.error < 0
            ? new MqError(e.error, e.message || 'connection', e.reason, e.properties) : null;
        if (e.error === N.MQ_ERR_CLOSED && e.reason !== 0)
            this.emit('disconnect', { cmd: 'disconnect', reasonCode: e.reason, properties: e.properties });
        if (err && !QUIET.has(e.error) && !this.disconnecting)
            this.emit('error', err);
        if (this._forced && e.willReconnect)
            return; // end(true) from an 'error' listener: 'end' follows
        // MQTT.js order: 'offline' (once, when retrying starts) before
        // 'close', then 'reconnect' (libmq retries after its backoff)
        const retry = e.willReconnect && !this.disconnecting;
        if (retry && !this.reconnecting) {
            this.reconnecting = true;
            this.emit('offline');
        }
        // end(true) between two attempts has no connection left to close
        if (was || !this._forced)
            this.emit('close', { error: err, reasonCode: e.reason, willReconnect: e.willReconnect,
                                 message: e.message });
        if (retry) {
            this.emit('reconnect');
            return;
        }
        this.reconnecting = false;
        if (this.disconnecting)
            this._finish();
        else
            this._unwatch(); // idle: reconnect is off; connect() again if you like
    }

    _settle(e) {
        const p = this._pending.get(e.token);
        if (!p)
            return;
        this._pending.delete(e.token);
        p.cb(e.error < 0 ? new MqError(e.error, p.kind, e.reason, e.properties) : null, e);
    }

    /* Report a refused call: to its callback (next tick), else as 'error'. */
    _fail(err, cb) {
        if (cb)
            process.nextTick(cb, err);
        else
            this.emit('error', err);
        return this;
    }

    /* Run a libmq call that returns a token; cb(err, event) on completion. */
    _start(what, fn, cb) {
        let token;
        try {
            token = check(fn(this._handle(what)), what);
        } catch (err) {
            if (err instanceof TypeError)
                throw err;
            return err;
        }
        this._pending.set(token, { cb, kind: what });
        this._watch();
        return null;
    }

    /**
     * publish(topic, message, [options], [callback]): options qos, retain,
     * dup (ignored: libmq sets it on resends), properties (MQTT 5). The
     * callback (err, packet) runs once the message is acknowledged (QoS 1:
     * PUBACK, QoS 2: PUBCOMP) or, at QoS 0, written; err is an MqError if
     * the broker refused it or it was abandoned (MQ_ERR_ABORTED,
     * MQ_ERR_DESTROYED). Errors without a callback go to 'error'.
     */
    publish(topic, message, opts, callback) {
        [opts, callback] = optsAndCallback('publish', opts, callback);
        onlyKeys('publish', opts, ['qos', 'retain', 'dup', 'properties', 'cbStorePut', 'tag']);
        const t = cString(topic, 'publish: topic');
        const buf = toBytes(message, 'publish: message');
        const qos = opts.qos ?? 0;
        typeCheck(Number.isInteger(qos), 'publish: qos must be an integer');
        typeCheck(opts.tag === undefined || (Number.isSafeInteger(opts.tag) && opts.tag >= 0),
                  'publish: tag must be a non-negative safe integer');
        let err;
        try {
            err = props.withNative(opts.properties, 'publish', (p) =>
                this._start('publish', (h) => (opts.tag
                    ? N.mq_publish_tagged(h, t, buf, qos, opts.retain ? 1 : 0, p, opts.tag)
                    : p ? N.mq_publish_v5(h, t, buf, qos, opts.retain ? 1 : 0, p)
                        : N.mq_publish(h, t, buf, qos, opts.retain ? 1 : 0)),
                (e, ev) => callback && callback(e, e ? undefined : {
                    cmd: qos === 0 ? 'publish' : (qos === 1 ? 'puback' : 'pubcomp'),
                    messageId: ev.token, reasonCode: ev.reason, properties: ev.properties })));
        } catch (e) {
            if (e instanceof TypeError)
                throw e;
            err = e;
        }
        return err ? this._fail(err, callback) : this;
    }

    publishAsync(topic, message, opts) {
        return promisify((cb) => this.publish(topic, message, opts ?? {}, cb));
    }

    /**
     * subscribe(topic | topic[] | {topic: {qos, nl, rap, rh}}, [options],
     * [callback]): options qos (default 0), nl, rap, rh (MQTT 5
     * subscription options), properties (subscriptionIdentifier,
     * userProperties). One SUBSCRIBE for all filters; callback(err,
     * granted) with granted [{topic, qos}] (qos >= 0x80: refused).
     */
    subscribe(topics, opts, callback) {
        [opts, callback] = optsAndCallback('subscribe', opts, callback);
        onlyKeys('subscribe', opts, ['qos', 'nl', 'rap', 'rh', 'properties']);
        let list;
        if (typeof topics === 'string')
            list = [[topics, opts]];
        else if (Array.isArray(topics))
            list = topics.map((f) => [f, opts]);
        else if (topics && typeof topics === 'object')
            list = Object.entries(topics).map(([f, o]) =>
                [f, typeof o === 'number' ? { ...opts, qos: o } : { ...opts, ...o }]);
        else
            throw new TypeError('subscribe: topic must be a string, an array or an object');
        typeCheck(list.length > 0, 'subscribe: no topic');
        const fl = N.mq_filter_list_new();
        if (!fl)
            return this._fail(new MqError(N.MQ_ERR_NOMEM, 'subscribe'), callback);
        let err;
        try {
            for (const [f, o] of list) {
                onlyKeys('subscribe', o, ['qos', 'nl', 'rap', 'rh', 'properties']);
                const qos = o.qos ?? 0;
                const rh = o.rh ?? 0;
                typeCheck(Number.isInteger(qos) && Number.isInteger(rh), 'subscribe: qos and rh must be integers');
                const rc = N.mq_filter_check(cString(f, 'subscribe: topic'));
                if (rc < 0)
                    throw new MqError(rc, `subscribe ${f}`);
                if (qos < 0 || qos > 2)
                    throw new MqError(N.MQ_ERR_QOS, `subscribe ${f}`);
                const bits = qos | (o.nl ? N.MQ_SUB_NO_LOCAL : 0) |
                    (o.rap ? N.MQ_SUB_RETAIN_AS_PUBLISHED : 0) | (rh << N.MQ_SUB_RETAIN_HANDLING_SHIFT);
                check(N.mq_filter_list_add(fl, f, bits), 'subscribe');
            }
            const filters = list.map(([f]) => f);
            err = props.withNative(opts.properties, 'subscribe', (p) =>
                this._start('subscribe', (h) => N.mq_subscribe_many_list(h, fl, p),
                    (e, ev) => callback && callback(e, e ? undefined :
                        filters.map((topic, i) => ({ topic, qos: ev.codes[i] ?? ev.reason })))));
        } catch (e) {
            if (e instanceof TypeError)
                throw e;
            err = e;
        } finally {
            N.mq_filter_list_free(fl);
        }
        return err ? this._fail(err, callback) : this;
    }

    subscribeAsync(topics, opts) {
        return promisify((cb) => this.subscribe(topics, opts ?? {}, cb));
    }

    /**
     * unsubscribe(topic | topic[], [options], [callback]): options
     * properties (MQTT 5). callback(err, packet) with packet {cmd:
     * 'unsuback', reasonCodes}.
     */
    unsubscribe(topics, opts, callback) {
        [opts, callback] = optsAndCallback('unsubscribe', opts, callback);
        onlyKeys('unsubscribe', opts, ['properties']);
        const list = Array.isArray(topics) ? topics : [topics];
        typeCheck(list.length > 0, 'unsubscribe: no topic');
        for (const f of list)
            cString(f, 'unsubscribe: topic');
        const fl = N.mq_filter_list_new();
        if (!fl)
            return this._fail(new MqError(N.MQ_ERR_NOMEM, 'unsubscribe'), callback);
        let err = null;
        try {
            for (const f of list)
                check(N.mq_filter_list_add(fl, f, 0), 'unsubscribe');
            err = props.withNative(opts.properties, 'unsubscribe', (p) =>
                this._start('unsubscribe', (h) => N.mq_unsubscribe_many_list(h, fl, p), // one UNSUBSCRIBE
                    (e, ev) => callback && callback(e, e ? undefined :
                        { cmd: 'unsuback', messageId: ev.token, reasonCodes: ev.codes })));
        } catch (e) {
            if (e instanceof TypeError)
                throw e;
            err = e;
        } finally {
            N.mq_filter_list_free(fl);
        }
        return err ? this._fail(err, callback) : this;
    }

    unsubscribeAsync(topics, opts) {
        return promisify((cb) => this.unsubscribe(topics, opts ?? {}, cb));
    }

    /** MQTT 5 enhanced authentication: send AUTH with reasonCode and
     *  properties (authenticationMethod, authenticationData). */
    auth(reasonCode, properties) {
        typeCheck(Number.isInteger(reasonCode), 'auth: reasonCode must be an integer');
        props.withNative(properties, 'auth', (p) =>
            check(N.mq_auth(this._handle('auth'), reasonCode, p), 'auth'));
        return this;
    }

    /**
     * end([force], [options], [callback]): close the client. Gracefully by
     * default: what was published is sent first, then DISCONNECT (options:
     * reasonCode, properties, MQTT 5). force: at once, without DISCONNECT
     * (the broker then publishes the Will). Calls not completed by then
     * get an MqError in their callback (none is thrown or emitted). 'end'
     * and the callback follow; the client is then unusable.
     */
    end(force, opts, callback) {
        if (typeof force === 'function') {
            callback = force;
            force = false;
            opts = {};
        } else if (typeof force === 'object' && force !== null) {
            callback = opts;
            opts = force;
            force = false;
        } else if (typeof opts === 'function') {
            callback = opts;
            opts = {};
        }
        opts = opts ?? {};
        typeCheck(typeof opts === 'object', 'end: options must be an object');
        onlyKeys('end', opts, ['reasonCode', 'properties']);
        typeCheck(callback === undefined || typeof callback === 'function', 'end: callback must be a function');
        if (!this._h) {
            if (callback)
                process.nextTick(callback);
            return this;
        }
        if (callback)
            this._endCallbacks.push(callback);
        if (this.disconnecting && !force)
            return this;
        this.disconnecting = true;
        this._forced = !!force;
        const reason = opts.reasonCode ?? 0;
        typeCheck(Number.isInteger(reason), 'end: reasonCode must be an integer');
        // graceful: libmq delivers what was published first (bounded by
        // disconnectTimeout); forced: it settles the rest at once
        const rc = force ? N.mq_disconnect_now(this._h, reason)
            : props.withNative(opts.properties, 'end', (p) => (p
                ? N.mq_disconnect_v5(this._h, reason, p) : N.mq_disconnect(this._h, reason)));
        if (rc < 0)
            process.nextTick(() => this._finish());
        else
            this._watch();
        return this;
    }

    endAsync(force, opts) {
        return new Promise((resolve) => this.end(force ?? false, opts ?? {}, () => resolve()));
    }

    /** Connect again (MQTT.js reconnect()). */
    reconnect() {
        if (this._h && !this.connected && !this.disconnecting) {
            const rc = N.mq_connect(this._h);
            if (rc < 0 && rc !== N.MQ_ERR_STATE)
                check(rc, 'reconnect');
            this._watch();
        }
        return this;
    }

    _finish() {
        if (!this._h)
            return;
        this._unwatch();
        N.mq_client_destroy(this._h);
        this._h = null;
        this.connected = false;
        this.reconnecting = false;
        this.disconnected = true;
        const err = new MqError(N.MQ_ERR_DESTROYED, 'end');
        const pend = [...this._pending.values()];
        this._pending.clear();
        for (const p of pend)
            p.cb(err);
        this.emit('end');
        for (const cb of this._endCallbacks.splice(0))
            cb();
    }
}

/**
 * connect(url, [options]) or connect(options), as mqtt.connect(): a new
 * Client, connecting at once (unless options.manualConnect). Failures
 * reach 'error' and 'close'.
 */
function connect(url, opts) {
    const c = new Client(url, opts);
    if (!c._cfg.manualConnect)
        c.connect();
    return c;
}

/** connectAsync(url, [options]): resolves with the client on its first
 *  CONNACK, rejects with the first error (the client is then ended). */
function connectAsync(url, opts) {
    return new Promise((resolve, reject) => {
        const c = new Client(url, opts);
        const onConnect = () => {
            c.removeListener('error', onError);
            resolve(c);
        };
        const onError = (err) => {
            c.removeListener('connect', onConnect);
            c.end(true, () => reject(err));
        };
        c.once('connect', onConnect);
        c.once('error', onError);
        c.connect();
    });
}

module.exports = {
    Client,
    MqttClient: Client,
    MqError,
    connect,
    connectAsync,
    version: N.mq_version_string(),
    versionNum: N.mq_version(),
    /** How many libmq worker threads serve this process's clients (1..64). */
    setWorkerThreads: (n) => {
        typeCheck(Number.isInteger(n), 'setWorkerThreads: n must be an integer');
        check(N.mq_set_worker_threads(n), 'setWorkerThreads');
    },
    /** Throws an MqError (MQ_ERR_TOPIC, MQ_ERR_UTF8) unless topic is a
     *  valid topic name to publish to. */
    checkTopic: (topic) => {
        check(N.mq_topic_check(cString(topic, 'checkTopic')), 'checkTopic');
        return true;
    },
    /** Throws an MqError unless filter is a valid topic filter. */
    checkFilter: (filter) => {
        check(N.mq_filter_check(cString(filter, 'checkFilter')), 'checkFilter');
        return true;
    },
    topicMatches: (filter, topic) => N.mq_topic_matches(filter, topic) === 1,
    options: { int: options.INT_OPTIONS, string: options.STR_OPTIONS },
    native: N,
};
