'use strict';
/*
 * native.js - loads the SWIG addon mq_native.node and defines MqError, the
 * error type of every libmq failure in the Node binding.
 *
 * Threading: Node's main thread only (the addon never calls into V8 from
 * libmq's threads).
 */
const path = require('node:path');

function loadAddon() {
    const tried = [];
    const candidates = [
        process.env.MQ_NODE_ADDON && path.resolve(process.env.MQ_NODE_ADDON),
        path.join(__dirname, '..', 'mq_native.node'),
        path.join(__dirname, '..', 'build', 'Release', 'mq_native.node'),
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

const N = loadAddon();

/**
 * An error from libmq. message: libmq's text (and the reason code's name
 * when the broker refused); code: the MQ_ERR_* name (like Node's 'ECONNREFUSED'
 * strings); errno: the negative number; reasonCode: the MQTT reason code
 * from the broker, when there is one; properties: the MQTT 5 properties of
 * the broker's packet, when there are any.
 */
class MqError extends Error {
    constructor(errno, what, reasonCode, properties) {
        let msg = `${N.mq_strerror(errno)} (${N.mq_err_name(errno)})`;
        if (reasonCode !== undefined && reasonCode !== 0)
            msg += `: ${N.mq_reason_string(reasonCode)} (0x${reasonCode.toString(16)})`;
        super(what ? `${what}: ${msg}` : msg);
        this.name = 'MqError';
        this.errno = errno;
        this.code = N.mq_err_name(errno);
        if (reasonCode !== undefined)
            this.reasonCode = reasonCode;
        if (properties !== undefined)
            this.properties = properties;
    }
}

/** Throw an MqError for a negative libmq return code. */
function check(rc, what) {
    if (rc < 0)
        throw new MqError(rc, what);
    return rc;
}

/** Throw a TypeError unless cond. */
function typeCheck(cond, what) {
    if (!cond)
        throw new TypeError(what);
}

/** A string that C can take whole (no NUL byte: MQTT strings cannot hold
 *  U+0000 either); else an MqError MQ_ERR_UTF8. */
function cString(s, what) {
    typeCheck(typeof s === 'string', `${what} must be a string`);
    if (s.includes('\0'))
        throw new MqError(N.MQ_ERR_UTF8, what);
    return s;
}

/** Buffer, Uint8Array, ArrayBuffer or string (UTF-8) -> bytes. */
function toBytes(v, what) {
    if (v === undefined || v === null)
        return Buffer.alloc(0);
    if (typeof v === 'string')
        return Buffer.from(v, 'utf8');
    if (v instanceof Uint8Array)
        return v;
    if (v instanceof ArrayBuffer)
        return Buffer.from(v);
    throw new TypeError(`${what} must be a Buffer, Uint8Array or string`);
}

module.exports = { N, MqError, check, typeCheck, cString, toBytes };
