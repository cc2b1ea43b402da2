'use strict';
// Tests of issue 19's transports in the Node binding: TLS-PSK against
// mosquitto's psk listener, connack.tls (protocol, cipher, resumption on
// an automatic reconnect), maxVersion, CRLs, and the proxy options through
// tinyproxy (Basic auth) with its refusals as MqError 'MQ_ERR_PROXY' /
// 'MQ_ERR_PROXY_AUTH'. Against the broker and proxy of
// bindings/tests/with-broker.sh.
const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const { once } = require('node:events');
const mq = require('..');

const env = process.env;
const URI = env.MQ_TEST_URI;
let seq = 0;
const uid = (p) => `${p}-${process.pid}-${++seq}`;

function withTimeout(promise, ms, what) {
    let t;
    return Promise.race([
        promise,
        new Promise((_, rej) => { t = setTimeout(() => rej(new Error(`timeout: ${what}`)), ms); }),
    ]).finally(() => clearTimeout(t));
}

/** Connect; resolve with [client, connack], or reject with the first
 *  'error' (the client then ended). */
function connack(url, opts) {
    const c = mq.connect(url, { clientId: uid('nodetp'), reconnectPeriod: 0, ...opts });
    return withTimeout(new Promise((resolve, reject) => {
        const onConnect = (ack) => {
            c.removeListener('error', onError);
            resolve([c, ack]);
        };
        const onError = (e) => {
            c.removeListener('connect', onConnect);
            c.end(true);
            reject(e);
        };
        c.once('connect', onConnect);
        c.once('error', onError);
    }), 12000, url);
}

/** How many tunnels tinyproxy opened to the broker's plain port. */
function proxyTunnels() {
    const log = fs.readFileSync(env.MQ_TEST_PROXY_LOG, 'utf8');
    return log.split(`CONNECT 127.0.0.1:${env.MQ_TEST_PORT} `).length - 1;
}

test('TLS-PSK: psk (Buffer or hex) and pskIdentity; maxVersion', { skip: !env.MQ_TEST_PSK_URI }, async () => {
    const key = env.MQ_TEST_PSK_KEY;
    let [c, ack] = await connack(env.MQ_TEST_PSK_URI, { psk: Buffer.from(key, 'hex'),
                                                        pskIdentity: env.MQ_TEST_PSK_IDENTITY });
    assert.strictEqual(ack.tls.protocol, 'TLSv1.3');
    assert.match(ack.tls.cipher, /^TLS_/);
    await c.publishAsync('node/psk', 'x', { qos: 1 });
    await c.endAsync();

    [c, ack] = await connack(env.MQ_TEST_PSK_URI, { psk: key, pskIdentity: env.MQ_TEST_PSK_IDENTITY,
                                                    maxVersion: 'TLSv1.2' });
    assert.strictEqual(ack.tls.protocol, 'TLSv1.2');
    assert.match(ack.tls.cipher, /PSK/);
    await c.endAsync();

    await assert.rejects(mq.connectAsync(env.MQ_TEST_PSK_URI, { clientId: uid('pskbad'),
        psk: Buffer.from([0x0b, 0xad]), pskIdentity: env.MQ_TEST_PSK_IDENTITY }), { code: 'MQ_ERR_TLS' });
    assert.throws(() => new mq.Client(URI, { psk: 'not hex' }), TypeError);
    assert.throws(() => new mq.Client(URI, { pskCallback: () => ({}) }), /psk and pskIdentity/);
});

test('connack.tls: negotiated details, resumption on an automatic reconnect', { skip: !env.MQ_TEST_TLS_URI }, async () => {
    const ca = fs.readFileSync(env.MQ_TEST_CA);
    for (const resume of [true, false]) {
        const id = uid('resume');
        const [c, ack] = await connack(env.MQ_TEST_TLS_URI, { clientId: id, ca, reconnectPeriod: 100,
                                                              tlsSessionResume: resume });
        assert.match(ack.tls.protocol, /^TLSv1\.[23]$/);
        assert.ok(ack.tls.cipher.length > 0);
        assert.strictEqual(ack.tls.alpnProtocol, false);
        assert.strictEqual(ack.tls.sessionReused, false);
        await c.publishAsync('node/tlsinfo', 'x', { qos: 1 }); // the TLS 1.3 ticket came by now
        // a second client with the same id takes the session over: c is
        // disconnected and reconnects by itself (taking it back)
        const again = once(c, 'connect');
        const [thief] = await connack(URI, { clientId: id });
        thief.on('error', () => {});
        const [ack2] = await withTimeout(again, 12000, 'reconnect');
        assert.strictEqual(ack2.tls.sessionReused, resume);
        await c.endAsync();
        thief.end(true);
    }
    const [c, ack] = await connack(env.MQ_TEST_TLS_URI, { ca, maxVersion: 'TLSv1.2' });
    assert.strictEqual(ack.tls.protocol, 'TLSv1.2');
    await c.endAsync();
    const [p, plain] = await connack(URI, {});
    assert.strictEqual(plain.tls, undefined);
    await p.endAsync();
});

test('CRLs: crlFile, crlPath, crlCheck', { skip: !env.MQ_TEST_TLS_URI }, async () => {
    const ca = fs.readFileSync(env.MQ_TEST_CA);
    const [c] = await connack(env.MQ_TEST_TLS_URI, { ca, crlFile: `${env.MQ_TEST_CERTS}/crl-empty.pem` });
    await c.endAsync();
    for (const o of [{ crlFile: `${env.MQ_TEST_CERTS}/crl-revoked.pem` },
                     { crlPath: `${env.MQ_TEST_CERTS}/crl-dir`, crlCheck: 'leaf' }]) {
        await assert.rejects(connack(env.MQ_TEST_TLS_URI, { ca, ...o }),
                             (e) => e.code === 'MQ_ERR_TLS' && /revoked/.test(e.message));
    }
    assert.throws(() => new mq.Client(URI, { crlCheck: 'all' }), TypeError);
    // Node's crl (PEM text) has no libmq counterpart: said, not ignored
    assert.throws(() => new mq.Client(URI, { crl: 'x' }), /crlFile/);
});

test('proxy, noProxy, proxyFromEnv through tinyproxy', { skip: !env.MQ_TEST_PROXY_URI }, async () => {
    const before = proxyTunnels();
    const [c] = await connack(URI, { proxy: env.MQ_TEST_PROXY_URI });
    await c.publishAsync('node/proxy', 'x', { qos: 1 });
    await c.endAsync();
    assert.strictEqual(proxyTunnels(), before + 1);

    const [d] = await connack(URI, { proxy: env.MQ_TEST_PROXY_URI, noProxy: '127.0.0.1' });
    await d.endAsync();
    assert.strictEqual(proxyTunnels(), before + 1);

    // libmq reads http_proxy at connect (Node's process.env sets the C
    // environment too)
    process.env.http_proxy = env.MQ_TEST_PROXY_URI;
    try {
        const [e] = await connack(URI, { proxyFromEnv: true });
        await e.endAsync();
    } finally {
        delete process.env.http_proxy;
    }
    assert.strictEqual(proxyTunnels(), before + 2);
});

test('proxy refusals: MQ_ERR_PROXY and MQ_ERR_PROXY_AUTH as "error" and rejections', { skip: !env.MQ_TEST_PROXY_URI }, async () => {
    const hostPort = `${env.MQ_TEST_PROXY_HOST}:${env.MQ_TEST_PROXY_PORT}`;
    // nothing listens on port 1: the proxy cannot open the tunnel
    const c = mq.connect('mqtt://127.0.0.1:1', { clientId: uid('proxyerr'), reconnectPeriod: 50,
                                                proxy: env.MQ_TEST_PROXY_URI });
    const [err] = await withTimeout(once(c, 'error'), 10000, 'error');
    assert.ok(err instanceof mq.MqError);
    assert.strictEqual(err.code, 'MQ_ERR_PROXY');
    assert.match(err.message, /refused the tunnel/);
    await c.endAsync();
    await assert.rejects(mq.connectAsync(URI, { clientId: uid('noauth'), proxy: `http://${hostPort}` }),
                         { code: 'MQ_ERR_PROXY_AUTH' });
    await assert.rejects(mq.connectAsync(URI, { clientId: uid('badauth'),
                                                proxy: `http://mq:wrong@${hostPort}` }),
                         { code: 'MQ_ERR_PROXY_AUTH' });
    assert.throws(() => new mq.Client(URI, { proxy: 'https://proxy.example:443' }),
                  { code: 'MQ_ERR_NOT_SUPPORTED' });
    assert.throws(() => new mq.Client(URI, { proxy: 5 }), TypeError);
});
