'use strict';
/*
 * props.js - MQTT 5 properties as MQTT.js writes them ({contentType,
 * userProperties: {k: v | [v, ...]}, ...}) to and from libmq's mq_props
 * lists. Every property id of mq.h has one entry in TABLE.
 *
 * Threading: Node's main thread; lists are built and freed within a call.
 */
const { N, MqError, check, typeCheck, cString, toBytes } = require('./native');

// [MQTT.js name, property id, kind]; kind: int, bool (0/1 on the wire),
// str, bin. User properties are handled apart.
const TABLE = [
    ['payloadFormatIndicator', N.MQ_PROP_PAYLOAD_FORMAT_INDICATOR, 'bool'],
    ['messageExpiryInterval', N.MQ_PROP_MESSAGE_EXPIRY_INTERVAL, 'int'],
    ['contentType', N.MQ_PROP_CONTENT_TYPE, 'str'],
    ['responseTopic', N.MQ_PROP_RESPONSE_TOPIC, 'str'],
    ['correlationData', N.MQ_PROP_CORRELATION_DATA, 'bin'],
    ['subscriptionIdentifier', N.MQ_PROP_SUBSCRIPTION_IDENTIFIER, 'int'],
    ['sessionExpiryInterval', N.MQ_PROP_SESSION_EXPIRY_INTERVAL, 'int'],
    ['assignedClientIdentifier', N.MQ_PROP_ASSIGNED_CLIENT_IDENTIFIER, 'str'],
    ['serverKeepAlive', N.MQ_PROP_SERVER_KEEP_ALIVE, 'int'],
    ['authenticationMethod', N.MQ_PROP_AUTHENTICATION_METHOD, 'str'],
    ['authenticationData', N.MQ_PROP_AUTHENTICATION_DATA, 'bin'],
    ['requestProblemInformation', N.MQ_PROP_REQUEST_PROBLEM_INFORMATION, 'bool'],
    ['willDelayInterval', N.MQ_PROP_WILL_DELAY_INTERVAL, 'int'],
    ['requestResponseInformation', N.MQ_PROP_REQUEST_RESPONSE_INFORMATION, 'bool'],
    ['responseInformation', N.MQ_PROP_RESPONSE_INFORMATION, 'str'],
    ['serverReference', N.MQ_PROP_SERVER_REFERENCE, 'str'],
    ['reasonString', N.MQ_PROP_REASON_STRING, 'str'],
    ['receiveMaximum', N.MQ_PROP_RECEIVE_MAXIMUM, 'int'],
    ['topicAliasMaximum', N.MQ_PROP_TOPIC_ALIAS_MAXIMUM, 'int'],
    ['topicAlias', N.MQ_PROP_TOPIC_ALIAS, 'int'],
    ['maximumQoS', N.MQ_PROP_MAXIMUM_QOS, 'int'],
    ['retainAvailable', N.MQ_PROP_RETAIN_AVAILABLE, 'bool'],
    ['maximumPacketSize', N.MQ_PROP_MAXIMUM_PACKET_SIZE, 'int'],
    ['wildcardSubscriptionAvailable', N.MQ_PROP_WILDCARD_SUBSCRIPTION_AVAILABLE, 'bool'],
    ['subscriptionIdentifiersAvailable', N.MQ_PROP_SUBSCRIPTION_IDENTIFIER_AVAILABLE, 'bool'],
    ['sharedSubscriptionAvailable', N.MQ_PROP_SHARED_SUBSCRIPTION_AVAILABLE, 'bool'],
];
const USER = 'userProperties'; // N.MQ_PROP_USER_PROPERTY
const BY_NAME = new Map(TABLE.map((e) => [e[0], e]));

/**
 * Build an mq_props list from an MQTT.js properties object (null for
 * undefined/null or an empty object). The caller frees it with free().
 * Unknown names and wrong types throw TypeError; values libmq refuses
 * throw MqError (MQ_ERR_PROPERTY, MQ_ERR_UTF8).
 */
function toNative(props, what) {
    if (props === undefined || props === null)
        return null;
    typeCheck(typeof props === 'object' && !Array.isArray(props),
              `${what}: properties must be an object`);
    const keys = Object.keys(props).filter((k) => props[k] !== undefined);
    if (keys.length === 0)
        return null;
    const p = N.mq_props_new();
    if (!p)
        throw new MqError(N.MQ_ERR_NOMEM, what);
    try {
        for (const k of keys) {
            const v = props[k];
            if (k === USER) {
                typeCheck(v && typeof v === 'object', `${what}: userProperties must be an object`);
                for (const [uk, uv] of Object.entries(v)) {
                    for (const one of Array.isArray(uv) ? uv : [uv])
                        check(N.mq_props_add_user(p, cString(uk, `${what}: user property key`),
                                                  cString(String(one), `${what}: user property`)),
                              `${what}: userProperties.${uk}`);
                }
                continue;
            }
            const e = BY_NAME.get(k);
            if (!e)
                throw new TypeError(`${what}: unknown property '${k}'`);
            const [name, id, kind] = e;
            const where = `${what}: properties.${name}`;
            if (kind === 'int' || kind === 'bool') {
                for (const one of Array.isArray(v) && name === 'subscriptionIdentifier' ? v : [v]) {
                    let n = one;
                    if (kind === 'bool' && typeof one === 'boolean')
                        n = one ? 1 : 0;
                    typeCheck(Number.isInteger(n) && n >= 0 && n <= 0xffffffff,
                              `${where} must be ${kind === 'bool' ? 'a boolean' : 'a non-negative integer'}`);
                    check(N.mq_props_add_int(p, id, n), where);
                }
            } else if (kind === 'str') {
                check(N.mq_props_add_string(p, id, cString(v, where)), where);
            } else {
                check(N.mq_props_add_binary(p, id, toBytes(v, where)), where);
            }
        }
    } catch (err) {
        N.mq_props_free(p);
        throw err;
    }
    return p;
}

function free(p) {
    if (p)
        N.mq_props_free(p);
}

/** Run fn(list) with the list of props, freeing it afterwards. */
function withNative(props, what, fn) {
    const p = toNative(props, what);
    try {
        return fn(p);
    } finally {
        free(p);
    }
}

/** Every property of a received list, MQTT.js style; undefined if none. */
function fromNative(p) {
    if (!p || N.mq_props_count(p) === 0)
        return undefined;
    const o = {};
    for (const [name, id, kind] of TABLE) {
        if (!N.mq_props_has(p, id))
            continue;
        if (kind === 'str') {
            o[name] = N.mq_props_get_string(p, id);
        } else if (kind === 'bin') {
            o[name] = N.mq_props_get_binary(p, id) || Buffer.alloc(0);
        } else {
            const all = [];
            for (let i = 0; ; i++) {
                const v = N.mq_props_get_int_value(p, id, i);
                if (v < 0)
                    break;
                all.push(kind === 'bool' ? v !== 0 : v);
            }
            o[name] = name === 'subscriptionIdentifier' && all.length > 1 ? all : all[0];
        }
    }
    const nUser = N.mq_props_user_count(p);
    if (nUser > 0) {
        const u = {};
        for (let i = 0; i < nUser; i++) {
            const k = N.mq_props_user_key(p, i);
            const v = N.mq_props_user_value(p, i);
            if (Object.prototype.hasOwnProperty.call(u, k))
                u[k] = [].concat(u[k], v);
            else
                u[k] = v;
        }
        o[USER] = u;
    }
    return o;
}

module.exports = { TABLE, toNative, fromNative, free, withNative };
