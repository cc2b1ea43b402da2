'use strict';
/*
 * options.js - MQTT.js connect options (and libmq's own extensions) applied
 * to a libmq client handle; unknown options are a TypeError. Also the
 * named options of Client#setOption.
 *
 * Threading: Node's main thread, before the client connects.
 */
const crypto = require('node:crypto');
const { N, MqError, check, typeCheck, cString, toBytes } = require('./native');
const props = require('./props');

// libmq options by the names setOption() takes (camelCase of MQ_OPT_* /
// MQ_SOPT_*). Integers first, then strings.
const INT_OPTIONS = {
    keepalive: N.MQ_OPT_KEEPALIVE_S,
    cleanStart: N.MQ_OPT_CLEAN_START,
    sessionExpiry: N.MQ_OPT_SESSION_EXPIRY_S,
    reconnectMinMs: N.MQ_OPT_RECONNECT_MIN_MS,
    reconnectMaxMs: N.MQ_OPT_RECONNECT_MAX_MS,
    reconnect: N.MQ_OPT_RECONNECT,
    maxInflight: N.MQ_OPT_MAX_INFLIGHT,
    queueMaxMessages: N.MQ_OPT_QUEUE_MAX_MSGS,
    queueMaxBytes: N.MQ_OPT_QUEUE_MAX_BYTES,
    offlineQos0: N.MQ_OPT_OFFLINE_QOS0,
    tcpNoDelay: N.MQ_OPT_TCP_NODELAY,
    connectTimeoutMs: N.MQ_OPT_CONNECT_TIMEOUT_MS,
    maxEvents: N.MQ_OPT_MAX_EVENTS,
    publishEvents: N.MQ_OPT_PUBLISH_EVENTS,
    logLevel: N.MQ_OPT_LOG_LEVEL,
    maxPacketSize: N.MQ_OPT_MAX_PACKET_SIZE,
    receiveMaximum: N.MQ_OPT_RECEIVE_MAXIMUM,
    topicAliasMaximum: N.MQ_OPT_TOPIC_ALIAS_MAXIMUM,
    publishTimeoutMs: N.MQ_OPT_PUBLISH_TIMEOUT_MS,
    autoAck: N.MQ_OPT_AUTO_ACK,
    tlsInsecure: N.MQ_OPT_TLS_INSECURE,
    tlsNoHostnameCheck: N.MQ_OPT_TLS_NO_HOSTNAME_CHECK,
    persistSync: N.MQ_OPT_PERSIST_SYNC,
    protocolFallback: N.MQ_OPT_PROTOCOL_FALLBACK,
    topicAliasAuto: N.MQ_OPT_TOPIC_ALIAS_AUTO,
    maxEventBytes: N.MQ_OPT_MAX_EVENT_BYTES,
    disconnectTimeoutMs: N.MQ_OPT_DISCONNECT_TIMEOUT_MS,
    tlsSessionResume: N.MQ_OPT_TLS_SESSION_RESUME,
    tlsCrlCheck: N.MQ_OPT_TLS_CRL_CHECK,
    proxyFromEnv: N.MQ_OPT_PROXY_FROM_ENV,
};
const STR_OPTIONS = {
    username: N.MQ_SOPT_USERNAME,
    password: N.MQ_SOPT_PASSWORD,
    tlsCaFile: N.MQ_SOPT_TLS_CA_FILE,
    tlsCaPath: N.MQ_SOPT_TLS_CA_PATH,
    tlsCertFile: N.MQ_SOPT_TLS_CERT_FILE,
    tlsKeyFile: N.MQ_SOPT_TLS_KEY_FILE,
    tlsVerifyName: N.MQ_SOPT_TLS_VERIFY_NAME,
    tlsAlpn: N.MQ_SOPT_TLS_ALPN,
    tlsCiphers: N.MQ_SOPT_TLS_CIPHERS,
    tlsMinVersion: N.MQ_SOPT_TLS_MIN_VERSION,
    tlsCaPem: N.MQ_SOPT_TLS_CA_PEM,
    tlsCertPem: N.MQ_SOPT_TLS_CERT_PEM,
    tlsKeyPem: N.MQ_SOPT_TLS_KEY_PEM,
    tlsKeyPassword: N.MQ_SOPT_TLS_KEY_PASSWORD,
    tlsKeyUri: N.MQ_SOPT_TLS_KEY_URI,
    tlsCertUri: N.MQ_SOPT_TLS_CERT_URI,
    tlsProviders: N.MQ_SOPT_TLS_PROVIDERS,
    tlsEngine: N.MQ_SOPT_TLS_ENGINE,
    tlsPsk: N.MQ_SOPT_TLS_PSK,
    tlsPskIdentity: N.MQ_SOPT_TLS_PSK_IDENTITY,
    tlsCrlFile: N.MQ_SOPT_TLS_CRL_FILE,
    tlsCrlPath: N.MQ_SOPT_TLS_CRL_PATH,
    tlsMaxVersion: N.MQ_SOPT_TLS_MAX_VERSION,
    proxy: N.MQ_SOPT_PROXY,
    noProxy: N.MQ_SOPT_NO_PROXY,
    persistDir: N.MQ_SOPT_PERSIST_DIR,
    localAddress: N.MQ_SOPT_BIND_ADDRESS,
};

/** Set a libmq option by name (above) or number; strings for string
 *  options (null clears), integers or booleans otherwise. */
function setOption(h, option, value) {
    let id = option;
    if (typeof option === 'string') {
        id = INT_OPTIONS[option] ?? STR_OPTIONS[option];
        typeCheck(id !== undefined, `setOption: unknown option '${option}'`);
    }
    typeCheck(Number.isInteger(id), 'setOption: option must be a name or an MQ_OPT_*/MQ_SOPT_* number');
    if (Object.values(STR_OPTIONS).includes(id)) {
        typeCheck(value === null || typeof value === 'string', 'setOption: value must be a string or null');
        check(N.mq_set_str(h, id, value === null ? null : cString(value, 'setOption')), `setOption ${option}`);
    } else {
        if (typeof value === 'boolean')
            value = value ? 1 : 0;
        typeCheck(Number.isInteger(value), 'setOption: value must be an integer or a boolean');
        check(N.mq_set_int(h, id, value), `setOption ${option}`);
    }
}

// MQTT.js options that libmq cannot honour: a TypeError says why.
const UNSUPPORTED = {
    incomingStore: 'libmq keeps its own stores; use persistDir',
    outgoingStore: 'libmq keeps its own stores; use persistDir',
    wsOptions: 'not supported by libmq',
    transformWsUrl: 'not supported by libmq',
    customHandleAcks: 'libmq acknowledges by itself',
    messageIdProvider: 'libmq assigns packet ids',
    checkServerIdentity: 'use noHostnameCheck: true or servername',
    createWebsocket: 'not supported by libmq',
    browserBufferSize: 'not supported by libmq',
    objectMode: 'not supported by libmq',
    authPacket: 'use properties.authenticationMethod / authenticationData',
    timerVariant: 'libmq keeps its own timers',
    // Node tls.connect options libmq cannot take as Node does
    crl: 'libmq reads CRLs from files: use crlFile or crlPath',
    pskCallback: 'libmq cannot call JavaScript during the handshake (it runs on ' +
        "libmq's thread): give the key and identity with psk and pskIdentity",
    session: 'libmq resumes TLS sessions by itself (tlsSessionResume)',
    secureContext: "libmq builds its own OpenSSL context (Node's is not one libmq may use): " +
        'give ca, cert, key, ... instead',
    clientCertEngine: 'use certUri (read through privateKeyEngine when one is set)',
    pfx: 'give cert and key as PEM',
};

// Every option name we take; MQTT.js names first, then libmq's own.
const KNOWN = new Set([
    'clientId', 'protocolVersion', 'protocolId', 'keepalive', 'clean',
    'reconnectPeriod', 'connectTimeout', 'username', 'password', 'will',
    'properties', 'ca', 'cert', 'key', 'passphrase', 'rejectUnauthorized',
    'servername', 'ALPNProtocols', 'ciphers', 'minVersion', 'host', 'hostname',
    'port', 'protocol', 'path', 'servers', 'resubscribe', 'queueQoSZero',
    'manualConnect', 'reschedulePings', 'autoUseTopicAlias', 'autoAssignTopicAlias',
    'log', 'unixSocket', 'query', 'defaultProtocol', 'href', 'slashes', 'auth',
    // libmq extensions
    'reconnectMaxPeriod', 'sessionExpiryInterval', 'caFile', 'caPath', 'certFile',
    'keyFile', 'noHostnameCheck', 'persistDir', 'persistSync', 'maxInflight',
    'queueMaxMessages', 'queueMaxBytes', 'maxEvents', 'publishTimeout',
    'tcpNoDelay', 'maxPacketSize', 'logLevel', 'maxEventBytes', 'protocolFallback',
    'topicAliasAuto', 'disconnectTimeout', 'localAddress',
    // TLS: Node tls.connect names, then libmq's
    'maxVersion', 'privateKeyEngine', 'privateKeyIdentifier',
    'psk', 'pskIdentity', 'crlFile', 'crlPath', 'crlCheck', 'certUri', 'tlsProviders',
    'tlsSessionResume',
    // proxies (libmq's)
    'proxy', 'noProxy', 'proxyFromEnv',
]);

// crlCheck: which certificates need a CRL
const CRL_CHECK = { chain: 2, leaf: 1 };

/** A TLS-PSK key for libmq (hex): a Buffer / Uint8Array with the key, as
 *  Node's pskCallback returns it, or hex text as in mosquitto's psk_file. */
function pskHex(v) {
    if (v instanceof Uint8Array)
        return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex');
    typeCheck(typeof v === 'string' && /^(0x)?[0-9a-fA-F]+$/.test(v),
              'psk must be a Buffer with the key or a hex string');
    return v;
}

function pem(v, what) {
    if (v === undefined)
        return undefined;
    const all = Array.isArray(v) ? v : [v];
    return all.map((x) => {
        typeCheck(typeof x === 'string' || x instanceof Uint8Array, `${what} must be a PEM string or Buffer`);
        return Buffer.from(x).toString('utf8');
    }).join('\n');
}

/** The server URI list from url and/or host, port, protocol, servers. */
function serverUris(url, o) {
    if (url !== undefined && url !== null) {
        typeCheck(typeof url === 'string', 'url must be a string');
        return url;
    }
    const one = (s) => {
        let proto = s.protocol || o.protocol || 'mqtt';
        proto = String(proto).replace(/:$/, '');
        const host = s.host || s.hostname || o.hostname || o.host || 'localhost';
        const port = s.port || o.port;
        const p = port ? `:${port}` : '';
        const h = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
        const path = (proto === 'ws' || proto === 'wss') ? (o.path || '/mqtt') : '';
        return `${proto}://${h}${p}${path}`;
    };
    if (Array.isArray(o.servers) && o.servers.length > 0)
        return o.servers.map(one).join(',');
    if (o.unixSocket && o.path)
        return `unix://${o.path}`;
    return one({});
}

/**
 * Apply the options to the handle h. Returns what the client layer needs:
 * { uris, manualConnect }.
 */
function apply(h, url, o) {
    for (const k of Object.keys(o)) {
        if (o[k] === undefined)
            continue;
        if (UNSUPPORTED[k])
            throw new TypeError(`option '${k}' is not supported: ${UNSUPPORTED[k]}`);
        if (!KNOWN.has(k))
            throw new TypeError(`unknown option '${k}'`);
    }
    const setInt = (opt, v, what) => {
        if (typeof v === 'boolean')
            v = v ? 1 : 0;
        typeCheck(Number.isInteger(v), `${what} must be an integer`);
        check(N.mq_set_int(h, opt, v), what);
    };
    const setStr = (opt, v, what) => {
        if (v === undefined)
            return;
        check(N.mq_set_str(h, opt, cString(v, what)), what);
    };
    if (o.protocolId !== undefined && o.protocolId !== 'MQTT')
        throw new TypeError(`protocolId '${o.protocolId}' is not supported (MQTT 3.1.1 and 5 only)`);
    // MQTT.js's automatic topic aliases: libmq assigns and uses them
    if (o.autoAssignTopicAlias || o.autoUseTopicAlias)
        setInt(N.MQ_OPT_TOPIC_ALIAS_AUTO, 65535, 'autoAssignTopicAlias');
    if (o.resubscribe === false)
        throw new TypeError('resubscribe: false is not supported (libmq restores subscriptions when the broker lost the session)');
    if (o.keepalive !== undefined)
        setInt(N.MQ_OPT_KEEPALIVE_S, o.keepalive, 'keepalive');
    if (o.clean !== undefined)
        setInt(N.MQ_OPT_CLEAN_START, !!o.clean, 'clean');
    if (o.reconnectPeriod !== undefined) {
        typeCheck(Number.isInteger(o.reconnectPeriod), 'reconnectPeriod must be an integer');
        if (o.reconnectPeriod === 0) {
            setInt(N.MQ_OPT_RECONNECT, 0, 'reconnectPeriod');
        } else {
            setInt(N.MQ_OPT_RECONNECT, 1, 'reconnectPeriod');
            setInt(N.MQ_OPT_RECONNECT_MIN_MS, o.reconnectPeriod, 'reconnectPeriod');
        }
    }
    if (o.reconnectMaxPeriod !== undefined)
        setInt(N.MQ_OPT_RECONNECT_MAX_MS, o.reconnectMaxPeriod, 'reconnectMaxPeriod');
    if (o.connectTimeout !== undefined)
        setInt(N.MQ_OPT_CONNECT_TIMEOUT_MS, o.connectTimeout, 'connectTimeout');
    if (o.queueQoSZero !== undefined)
        setInt(N.MQ_OPT_OFFLINE_QOS0, !!o.queueQoSZero, 'queueQoSZero');
    const ints = { maxInflight: N.MQ_OPT_MAX_INFLIGHT, queueMaxMessages: N.MQ_OPT_QUEUE_MAX_MSGS,
                   queueMaxBytes: N.MQ_OPT_QUEUE_MAX_BYTES, maxEvents: N.MQ_OPT_MAX_EVENTS,
                   publishTimeout: N.MQ_OPT_PUBLISH_TIMEOUT_MS, tcpNoDelay: N.MQ_OPT_TCP_NODELAY,
                   maxPacketSize: N.MQ_OPT_MAX_PACKET_SIZE, logLevel: N.MQ_OPT_LOG_LEVEL,
                   sessionExpiryInterval: N.MQ_OPT_SESSION_EXPIRY_S,
                   maxEventBytes: N.MQ_OPT_MAX_EVENT_BYTES,
                   protocolFallback: N.MQ_OPT_PROTOCOL_FALLBACK,
                   topicAliasAuto: N.MQ_OPT_TOPIC_ALIAS_AUTO,
                   disconnectTimeout: N.MQ_OPT_DISCONNECT_TIMEOUT_MS };
    for (const [k, id] of Object.entries(ints)) {
        if (o[k] !== undefined)
            setInt(id, o[k], k);
    }
    // Connect properties: those libmq also acts on go through its options.
    if (o.properties !== undefined) {
        typeCheck(o.properties && typeof o.properties === 'object', 'properties must be an object');
        const rest = { ...o.properties };
        const own = { sessionExpiryInterval: N.MQ_OPT_SESSION_EXPIRY_S,
                      receiveMaximum: N.MQ_OPT_RECEIVE_MAXIMUM,
                      maximumPacketSize: N.MQ_OPT_MAX_PACKET_SIZE,
                      topicAliasMaximum: N.MQ_OPT_TOPIC_ALIAS_MAXIMUM };
        for (const [k, id] of Object.entries(own)) {
            if (rest[k] !== undefined) {
                setInt(id, rest[k], `properties.${k}`);
                delete rest[k];
            }
        }
        props.withNative(rest, 'properties', (p) => {
            if (p)
                check(N.mq_set_connect_props(h, p), 'properties');
        });
    }
    // TLS
    if (o.rejectUnauthorized === false)
        setInt(N.MQ_OPT_TLS_INSECURE, 1, 'rejectUnauthorized');
    if (o.noHostnameCheck)
        setInt(N.MQ_OPT_TLS_NO_HOSTNAME_CHECK, 1, 'noHostnameCheck');
    setStr(N.MQ_SOPT_TLS_CA_PEM, pem(o.ca, 'ca'), 'ca');
    setStr(N.MQ_SOPT_TLS_CERT_PEM, pem(o.cert, 'cert'), 'cert');
    setStr(N.MQ_SOPT_TLS_KEY_PEM, pem(o.key, 'key'), 'key');
    setStr(N.MQ_SOPT_TLS_KEY_PASSWORD, o.passphrase, 'passphrase');
    setStr(N.MQ_SOPT_TLS_CA_FILE, o.caFile, 'caFile');
    setStr(N.MQ_SOPT_TLS_CA_PATH, o.caPath, 'caPath');
    setStr(N.MQ_SOPT_TLS_CERT_FILE, o.certFile, 'certFile');
    setStr(N.MQ_SOPT_TLS_KEY_FILE, o.keyFile, 'keyFile');
    setStr(N.MQ_SOPT_TLS_VERIFY_NAME, o.servername, 'servername');
    if (o.ALPNProtocols !== undefined) {
        const list = Array.isArray(o.ALPNProtocols) ? o.ALPNProtocols : [o.ALPNProtocols];
        setStr(N.MQ_SOPT_TLS_ALPN, list.map((x) => Buffer.from(x).toString()).join(','), 'ALPNProtocols');
    }
    setStr(N.MQ_SOPT_TLS_CIPHERS, o.ciphers, 'ciphers');
    if (o.minVersion !== undefined)
        setStr(N.MQ_SOPT_TLS_MIN_VERSION, cString(o.minVersion, 'minVersion').toLowerCase(), 'minVersion');
    if (o.maxVersion !== undefined)
        setStr(N.MQ_SOPT_TLS_MAX_VERSION, cString(o.maxVersion, 'maxVersion').toLowerCase(), 'maxVersion');
    if (o.psk !== undefined)
        setStr(N.MQ_SOPT_TLS_PSK, pskHex(o.psk), 'psk');
    setStr(N.MQ_SOPT_TLS_PSK_IDENTITY, o.pskIdentity, 'pskIdentity');
    setStr(N.MQ_SOPT_TLS_CRL_FILE, o.crlFile, 'crlFile');
    setStr(N.MQ_SOPT_TLS_CRL_PATH, o.crlPath, 'crlPath');
    if (o.crlCheck !== undefined) {
        typeCheck(CRL_CHECK[o.crlCheck] !== undefined, "crlCheck must be 'chain' or 'leaf'");
        setInt(N.MQ_OPT_TLS_CRL_CHECK, CRL_CHECK[o.crlCheck], 'crlCheck');
    }
    // Node's engine key options; without an engine, privateKeyIdentifier
    // is an OpenSSL store URI ("file:...", a provider's "pkcs11:...")
    setStr(N.MQ_SOPT_TLS_PROVIDERS, o.tlsProviders, 'tlsProviders');
    setStr(N.MQ_SOPT_TLS_ENGINE, o.privateKeyEngine, 'privateKeyEngine');
    setStr(N.MQ_SOPT_TLS_KEY_URI, o.privateKeyIdentifier, 'privateKeyIdentifier');
    setStr(N.MQ_SOPT_TLS_CERT_URI, o.certUri, 'certUri');
    if (o.tlsSessionResume !== undefined)
        setInt(N.MQ_OPT_TLS_SESSION_RESUME, !!o.tlsSessionResume, 'tlsSessionResume');
    // Proxy
    setStr(N.MQ_SOPT_PROXY, o.proxy, 'proxy');
    setStr(N.MQ_SOPT_NO_PROXY, o.noProxy, 'noProxy');
    if (o.proxyFromEnv !== undefined)
        setInt(N.MQ_OPT_PROXY_FROM_ENV, !!o.proxyFromEnv, 'proxyFromEnv');
    // Credentials and Will
    setStr(N.MQ_SOPT_USERNAME, o.username, 'username');
    if (o.password !== undefined)
        check(N.mq_set_password(h, toBytes(o.password, 'password')), 'password');
    if (o.will) {
        const w = o.will;
        typeCheck(typeof w === 'object', 'will must be an object');
        props.withNative(w.properties, 'will', (p) => {
            check(N.mq_set_will(h, cString(w.topic, 'will.topic'), toBytes(w.payload ?? w.message, 'will.payload'),
                                w.qos ?? 0, w.retain ? 1 : 0, p), 'will');
        });
    }
    if (o.persistSync !== undefined)
        setInt(N.MQ_OPT_PERSIST_SYNC, o.persistSync, 'persistSync');
    setStr(N.MQ_SOPT_PERSIST_DIR, o.persistDir, 'persistDir');
    setStr(N.MQ_SOPT_BIND_ADDRESS, o.localAddress, 'localAddress');
    const uris = serverUris(url, o);
    check(N.mq_set_server(h, cString(uris, 'url')), 'url');
    return { uris, manualConnect: !!o.manualConnect };
}

/** The client id: as given, or 'mqttjs_' + 8 hex digits like MQTT.js. */
function clientId(o) {
    if (o.clientId === undefined || o.clientId === null)
        return 'mqttjs_' + crypto.randomBytes(4).toString('hex');
    return cString(o.clientId, 'clientId');
}

/** MQTT.js protocolVersion 4 (3.1.1, default) or 5; 3 is MQTT 3.1. */
function protocol(o) {
    const v = o.protocolVersion ?? 4;
    typeCheck(Number.isInteger(v), 'protocolVersion must be an integer');
    if (v === 3)
        throw new MqError(N.MQ_ERR_NOT_SUPPORTED, 'protocolVersion 3 (MQTT 3.1)');
    return v;
}

module.exports = { apply, clientId, protocol, setOption, INT_OPTIONS, STR_OPTIONS };
