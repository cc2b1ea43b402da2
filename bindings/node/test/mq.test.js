'use strict';
// Tests for the Node binding, against the mosquitto started by
// bindings/tests/with-broker.sh (MQ_TEST_URI, MQ_TEST_BROKER, TLS listeners).
const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync, spawn } = require('node:child_process');
const { once } = require('node:events');
const mq = require('..');

const URI = process.env.MQ_TEST_URI;
const BROKER = process.env.MQ_TEST_BROKER;
let seq = 0;
const uid = (p) => `${p}-${process.pid}-${++seq}`;

function withTimeout(promise, ms, what) {
    let t;
    return Promise.race([
        promise,
        new Promise((_, rej) => { t = setTimeout(() => rej(new Error(`timeout: ${what}`)), ms); }),
    ]).finally(() => clearTimeout(t));
}

/* What a child process prints, kept from its start. A flowing stream does
 * not buffer: a 'data' event that finds no listener is lost. So one
 * listener collects everything and seen() looks at what was collected; a
 * listener added per wait and removed after it loses what arrives between
 * two waits (the QoS 1 ack test lost its child's 'HANDLER' line that way
 * whenever the message came in while the publisher was still closing). */
function childOutput(child) {
    let out = '';
    const waiters = new Set();
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d) => {
        out += d;
        for (const w of waiters)
            w();
    });
    return {
        get text() { return out; },
        seen(what, ms = 10000) {
            let w;
            return withTimeout(new Promise((r) => {
                w = () => out.includes(what) && r();
                waiters.add(w);
                w();
            }), ms, what).finally(() => waiters.delete(w));
        },
    };
}

function connected(opts = {}) {
    return withTimeout(mq.connectAsync(URI, { clientId: uid('node'), ...opts }), 10000, 'connect');
}

test('module basics', () => {
    assert.match(mq.version, /^\d+\.\d+\.\d+$/);
    assert.ok(mq.topicMatches('a/+/c', 'a/b/c'));
    assert.ok(!mq.topicMatches('a/#', 'b'));
    assert.strictEqual(typeof mq.native.MQ_EVENT_MESSAGE, 'number');
    assert.strictEqual(mq.MqttClient, mq.Client);
});

test('bad arguments: TypeError for JavaScript types and unknown options', () => {
    assert.throws(() => mq.connect(URI, { bogusOption: 1, manualConnect: true }), TypeError);
    assert.throws(() => mq.connect(URI, { incomingStore: {}, manualConnect: true }), /not supported/);
    assert.throws(() => mq.connect(URI, { keepalive: 'x', manualConnect: true }), TypeError);
    assert.throws(() => mq.connect(URI, { properties: { bogus: 1 }, protocolVersion: 5, manualConnect: true }), TypeError);
    assert.throws(() => new mq.Client(URI, { protocolVersion: 9 }), mq.MqError);
    assert.throws(() => new mq.Client(URI, { keepalive: -1 }), { code: 'MQ_ERR_INVAL' });
    assert.throws(() => new mq.Client(URI, { will: { topic: 'a/#' } }), { code: 'MQ_ERR_TOPIC' });
    assert.throws(() => new mq.Client(URI, { clientId: 'a\0b' }), { code: 'MQ_ERR_UTF8' });
    const c = new mq.Client(URI, { clientId: uid('bad') });
    assert.throws(() => c.publish(42, 'x'), TypeError);
    assert.throws(() => c.publish('a/b', 42), TypeError);
    assert.throws(() => c.publish('a/b', 'x', { qos: 1, bogus: true }), TypeError);
    assert.throws(() => c.subscribe(5), TypeError);
    assert.throws(() => c.setOption('nope', 1), TypeError);
    // libmq's refusals: to the callback, else to 'error' (which throws
    // when nobody listens, as EventEmitter does)
    assert.throws(() => c.publish('a/+', 'x'), (e) => e instanceof mq.MqError &&
        e.code === 'MQ_ERR_TOPIC' && /invalid topic name or topic filter/.test(e.message));
    assert.throws(() => c.publish('a/b', 'x', { qos: 3 }), { code: 'MQ_ERR_QOS' });
    assert.throws(() => c.subscribe('a/#/b'), { code: 'MQ_ERR_TOPIC' });
    assert.throws(() => c.subscribe('a/b', { qos: 5 }), { code: 'MQ_ERR_QOS' });
    assert.throws(() => c.publish('a\0b', 'x'), { code: 'MQ_ERR_UTF8' });
    c.end(true);
});

test('libmq refusals reach the callback or the promise', async () => {
    const c = new mq.Client(URI, { clientId: uid('bad') });
    const [err] = await new Promise((r) => c.publish('a/+', 'x', (...a) => r(a)));
    assert.strictEqual(err.code, 'MQ_ERR_TOPIC');
    await assert.rejects(c.publishAsync('a/b', 'x', { qos: 7 }), { code: 'MQ_ERR_QOS' });
    await assert.rejects(c.subscribeAsync('a/#/x'), { code: 'MQ_ERR_TOPIC' });
    await assert.rejects(c.publishAsync('a/b', 'x', { properties: { contentType: 'x' } }),
        { code: 'MQ_ERR_NOT_SUPPORTED' });
    await c.endAsync(true);
    await assert.rejects(c.publishAsync('a/b', 'x'), { code: 'MQ_ERR_DESTROYED' });
});

test('fire-and-forget calls then end() with the broker unreachable: no crash', async () => {
    const c = mq.connect('mqtt://127.0.0.1:1', { clientId: uid('ff'), reconnectPeriod: 50 });
    c.on('error', () => {});
    c.publish('a/b', 'x', { qos: 1 });
    c.publish('a/b', 'y');
    c.subscribe('a/#');
    c.unsubscribe('a/#');
    const seen = [];
    c.publish('a/b', 'z', { qos: 1 }, (err) => seen.push(err && err.code));
    await new Promise((r) => c.end(r));
    assert.ok(seen.length === 1 && seen[0], `callback got ${seen}`);
    // give a stray rejection the chance to surface
    await new Promise((r) => setTimeout(r, 100));
});

for (const protocolVersion of [4, 5]) {
    for (const qos of [0, 1, 2]) {
        test(`round trip v${protocolVersion} qos ${qos} with binary payloads`, async () => {
            const sub = await connected({ protocolVersion });
            const pub = await connected({ protocolVersion });
            try {
                const topic = `node/rt/${uid('t')}`;
                const granted = await withTimeout(sub.subscribeAsync(topic, { qos }), 5000, 'suback');
                assert.deepStrictEqual(granted, [{ topic, qos }]);
                const payloads = [Buffer.from([0x61, 0, 0x62, 0, 0xff]), Buffer.alloc(0),
                                  Buffer.from([0]), Buffer.alloc(3000, 0)];
                const got = [];
                const all = new Promise((resolve) => {
                    sub.on('message', (t, p, packet) => {
                        assert.strictEqual(t, topic);
                        assert.ok(Buffer.isBuffer(p));
                        assert.strictEqual(packet.qos, qos);
                        got.push(p);
                        if (got.length === payloads.length)
                            resolve();
                    });
                });
                const acks = payloads.map((p) => pub.publishAsync(topic, p, { qos }));
                const res = await withTimeout(Promise.all(acks), 5000, 'acks');
                for (const r of res)
                    assert.strictEqual(r.reasonCode, 0);
                await withTimeout(all, 5000, 'messages');
                payloads.forEach((p, i) => assert.ok(p.equals(got[i]), `payload ${i}`));
            } finally {
                await sub.endAsync();
                await pub.endAsync();
            }
        });
    }
}

test('MQTT.js call shapes: callbacks, object subscribe, unsubscribe, end(cb)', async () => {
    const c = mq.connect(URI, { clientId: uid('shape') });
    const [connack] = await withTimeout(once(c, 'connect'), 10000, 'connect');
    assert.strictEqual(connack.cmd, 'connack');
    const topic = `node/shape/${uid('t')}`;
    const granted = await new Promise((resolve, reject) =>
        c.subscribe({ [topic]: { qos: 1 }, [`${topic}/2`]: { qos: 2 } }, (err, g) => (err ? reject(err) : resolve(g))));
    assert.deepStrictEqual(granted, [{ topic, qos: 1 }, { topic: `${topic}/2`, qos: 2 }]);
    const msg = once(c, 'message');
    const pubErr = await new Promise((r) => c.publish(topic, 'héllo', (err) => r(err)));
    assert.strictEqual(pubErr, null);
    const [t, p, packet] = await withTimeout(msg, 5000, 'message');
    assert.strictEqual(t, topic);
    assert.strictEqual(p.toString(), 'héllo');
    assert.strictEqual(packet.cmd, 'publish');
    const acked = await new Promise((r) => c.publish(topic, new Uint8Array([1, 0, 2]), { qos: 1 }, (e, pk) => r([e, pk])));
    assert.strictEqual(acked[0], null);
    assert.strictEqual(acked[1].cmd, 'puback');
    const un = await new Promise((r) => c.unsubscribe([topic, `${topic}/2`], (e, pk) => r([e, pk])));
    assert.strictEqual(un[0], null);
    let late = 0;
    c.on('message', () => late++);
    await c.publishAsync(topic, 'late', { qos: 1 });
    await new Promise((r) => setTimeout(r, 200));
    assert.strictEqual(late, 0);
    const events = [];
    c.on('close', () => events.push('close'));
    c.on('end', () => events.push('end'));
    await new Promise((r) => c.end(r));
    assert.deepStrictEqual(events, ['close', 'end']);
    assert.strictEqual(c.connected, false);
});

test('errors reach "error": refused connection, wrong TLS host', async () => {
    const c = mq.connect('mqtt://127.0.0.1:1', { clientId: uid('err'), reconnectPeriod: 50 });
    const [err] = await withTimeout(once(c, 'error'), 5000, 'error');
    assert.strictEqual(err.code, 'MQ_ERR_CONNREFUSED');
    const [err2] = await withTimeout(once(c, 'error'), 5000, 'error again while reconnecting');
    assert.strictEqual(err2.code, 'MQ_ERR_CONNREFUSED');
    await c.endAsync();
    if (!process.env.MQ_TEST_TLS_WRONG_URI)
        return;
    const t = mq.connect(process.env.MQ_TEST_TLS_WRONG_URI, { clientId: uid('tls'),
        ca: fs.readFileSync(process.env.MQ_TEST_CA) });
    const [tlsErr] = await withTimeout(once(t, 'error'), 5000, 'tls error');
    assert.strictEqual(tlsErr.code, 'MQ_ERR_TLS');
    await t.endAsync();
    await assert.rejects(mq.connectAsync(process.env.MQ_TEST_TLS_WRONG_URI, { clientId: uid('tls'),
        ca: fs.readFileSync(process.env.MQ_TEST_CA, 'utf8') }), { code: 'MQ_ERR_TLS' });
});

test('TLS: CA as PEM string or Buffer, servername, noHostnameCheck', { skip: !process.env.MQ_TEST_TLS_URI }, async () => {
    const ca = fs.readFileSync(process.env.MQ_TEST_CA);
    const tries = [
        [process.env.MQ_TEST_TLS_URI, { ca }],
        [process.env.MQ_TEST_TLS_URI, { ca: ca.toString(), minVersion: 'TLSv1.2' }],
        [process.env.MQ_TEST_TLS_URI, { caFile: process.env.MQ_TEST_CA }],
        [process.env.MQ_TEST_TLS_WRONG_URI, { ca, servername: 'wrong.example.invalid' }],
        [process.env.MQ_TEST_TLS_WRONG_URI, { ca, noHostnameCheck: true }],
        [process.env.MQ_TEST_TLS_WRONG_URI, { rejectUnauthorized: false }],
    ];
    for (const [url, o] of tries) {
        const c = await withTimeout(mq.connectAsync(url, { clientId: uid('tls'), ...o }), 10000, JSON.stringify(Object.keys(o)));
        await c.publishAsync('node/tls', 'x', { qos: 1 });
        await c.endAsync();
    }
});

test('MQTT 5 properties both ways', async () => {
    const sub = await connected({ protocolVersion: 5,
        properties: { userProperties: { app: 'test' }, requestProblemInformation: true, receiveMaximum: 100 } });
    const pub = await connected({ protocolVersion: 5 });
    try {
        const topic = `node/props/${uid('t')}`;
        const g = await sub.subscribeAsync(topic, { qos: 1, nl: true, rap: true, rh: 1,
            properties: { subscriptionIdentifier: 42, userProperties: { s: '1' } } });
        assert.deepStrictEqual(g, [{ topic, qos: 1 }]);
        const msg = once(sub, 'message');
        const sent = { payloadFormatIndicator: true, messageExpiryInterval: 300, contentType: 'text/plain',
                       responseTopic: 'node/reply', correlationData: Buffer.from([0, 1, 0xff]),
                       userProperties: { k: ['v1', 'v2'], 'ü': '' } };
        await pub.publishAsync(topic, 'hi', { qos: 1, properties: sent });
        const [, , packet] = await withTimeout(msg, 5000, 'message');
        const p = packet.properties;
        assert.strictEqual(p.payloadFormatIndicator, true);
        assert.ok(p.messageExpiryInterval <= 300);
        assert.strictEqual(p.contentType, 'text/plain');
        assert.strictEqual(p.responseTopic, 'node/reply');
        assert.ok(p.correlationData.equals(sent.correlationData));
        assert.deepStrictEqual(p.userProperties, sent.userProperties);
        assert.strictEqual(p.subscriptionIdentifier, 42);
        const un = await sub.unsubscribeAsync([topic, 'never/subscribed'], { properties: { userProperties: { why: 'done' } } });
        assert.deepStrictEqual(un.reasonCodes, [0, 0x11]);
    } finally {
        await sub.endAsync(false, { reasonCode: 0, properties: { reasonString: 'bye', sessionExpiryInterval: 0 } });
        await pub.endAsync();
    }
});

test('connack properties and setOption with names and strings', async () => {
    const c = new mq.Client(URI, { clientId: uid('opt'), protocolVersion: 5 });
    c.setOption('maxInflight', 5).setOption('tcpNoDelay', true);
    assert.strictEqual(c.getOption('maxInflight'), 5);
    c.setOption('persistDir', fs.mkdtempSync(path.join(os.tmpdir(), 'mq-node-')));
    c.setOption(mq.native.MQ_OPT_KEEPALIVE_S, 30);
    assert.throws(() => c.setOption('persistDir', 5), TypeError);
    c.connect();
    const [connack] = await withTimeout(once(c, 'connect'), 10000, 'connect');
    assert.ok(connack.properties && connack.properties.topicAliasMaximum > 0, JSON.stringify(connack.properties));
    await c.endAsync();
});

test('reconnect after a broker restart: close, offline, reconnect, connect', { skip: !BROKER }, async () => {
    const c = await connected({ reconnectPeriod: 100, reconnectMaxPeriod: 500 });
    c.on('error', () => {});
    try {
        const topic = `node/rc/${uid('t')}`;
        await c.subscribeAsync(topic, { qos: 1 });
        const seen = [];
        for (const ev of ['close', 'offline', 'reconnect'])
            c.on(ev, () => seen.push(ev));
        const offline = once(c, 'offline');
        execFileSync(BROKER, ['stop']);
        await withTimeout(offline, 10000, 'offline');
        // not events.once(): it rejects on the 'error' of each failed retry
        const back = new Promise((r) => c.once('connect', r));
        execFileSync(BROKER, ['start']);
        await withTimeout(back, 15000, 'reconnect');
        assert.deepStrictEqual(seen.slice(0, 3), ['offline', 'close', 'reconnect']);
        const msg = once(c, 'message');
        await withTimeout(c.publishAsync(topic, Buffer.from('after\0'), { qos: 1 }), 5000, 'puback');
        const [, p] = await withTimeout(msg, 5000, 'message after reconnect');
        assert.ok(p.equals(Buffer.from('after\0')));
    } finally {
        await c.endAsync();
    }
});

test('persistence across SIGKILL of the process', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mq-node-persist-'));
    const id = uid('persist');
    const topic = `node/persist/${uid('t')}`;
    const child = spawn(process.execPath, ['-e', `
        const mq = require(${JSON.stringify(path.join(__dirname, '..'))});
        const c = new mq.Client('mqtt://127.0.0.1:1', { clientId: ${JSON.stringify(id)}, clean: false,
                                                       persistDir: ${JSON.stringify(dir)} });
        c.on('error', () => {});
        c.connect();
        for (let i = 0; i < 5; i++) c.publish(${JSON.stringify(topic)}, 'm' + i, { qos: 1, tag: 100 + i });
        console.log('STORED');
        setInterval(() => {}, 1000);`], { stdio: ['ignore', 'pipe', 'inherit'] });
    await childOutput(child).seen('STORED');
    child.kill('SIGKILL');
    await once(child, 'exit');
    const sub = await connected();
    const got = [];
    sub.on('message', (t, p) => got.push(p.toString()));
    await sub.subscribeAsync(topic, { qos: 1 });
    const again = new mq.Client(URI, { clientId: id, clean: false, persistDir: dir });
    const recovered = [];
    again.on('recovered', (pk) => recovered.push(`${pk.payload}/${pk.tag}`));
    const resubscribed = [];
    again.on('resubscribe', (r) => resubscribed.push(r)); // none: nothing was subscribed
    again.connect();
    const t0 = Date.now();
    while (got.length < 5 && Date.now() - t0 < 10000)
        await new Promise((r) => setTimeout(r, 20));
    await again.endAsync();
    await sub.endAsync();
    assert.deepStrictEqual(got, ['m0', 'm1', 'm2', 'm3', 'm4']);
    assert.deepStrictEqual(recovered, ['m0/100', 'm1/101', 'm2/102', 'm3/103', 'm4/104']);
    assert.deepStrictEqual(resubscribed, []);
});

test('childOutput keeps what a child prints between two waits', async () => {
    // deterministic: B has been emitted (the child closed its stdout) before
    // the second wait starts; a per-wait listener would have lost it
    const child = spawn(process.execPath, ['-e', `
        console.log('A');
        process.stdin.once('data', () => console.log('B'));`], { stdio: ['pipe', 'pipe', 'inherit'] });
    const out = childOutput(child);
    await out.seen('A');
    child.stdin.end('go\n');
    await once(child, 'close');
    await out.seen('B', 2000);
    assert.strictEqual(out.text, 'A\nB\n');
});

for (const qos of [1, 2]) {
    test(`a QoS ${qos} message is acknowledged after its 'message' handler returned`, async () => {
        // the child blocks inside its handler and is killed there: the
        // broker must not have the PUBACK/PUBREC, so the session's next
        // connection gets the message again (tests/chaos/test_repro.c in C)
        const id = uid('ackkill');
        const topic = `node/ackkill/${uid('t')}`;
        const child = spawn(process.execPath, ['-e', `
            const mq = require(${JSON.stringify(path.join(__dirname, '..'))});
            const c = mq.connect(${JSON.stringify(URI)}, { clientId: ${JSON.stringify(id)}, clean: false });
            c.on('connect', () => c.subscribe(${JSON.stringify(topic)}, { qos: ${qos} },
                                              () => console.log('SUBSCRIBED')));
            c.on('message', (t, p) => {
                console.log('HANDLER ' + p);
                Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60000);
            });`], { stdio: ['ignore', 'pipe', 'inherit'] });
        const out = childOutput(child);
        try {
            await out.seen('SUBSCRIBED');
            const pub = await connected();
            await withTimeout(pub.publishAsync(topic, 'keep-me', { qos }), 5000, 'published');
            await pub.endAsync(); // the child may have printed HANDLER meanwhile
            await out.seen('HANDLER keep-me');
            await new Promise((r) => setTimeout(r, 300)); // an early ack would be out by now
        } finally {
            child.kill('SIGKILL');
            await once(child, 'exit');
        }
        const again = mq.connect(URI, { clientId: id, clean: false });
        const got = [];
        again.on('message', (t, p, pk) => got.push([t, p.toString(), pk.qos]));
        const t0 = Date.now();
        while (got.length < 1 && Date.now() - t0 < 10000)
            await new Promise((r) => setTimeout(r, 20));
        await again.endAsync();
        assert.deepStrictEqual(got, [[topic, 'keep-me', qos]]);
        // acknowledged this time: the session has nothing more
        const third = mq.connect(URI, { clientId: id, clean: false });
        const more = [];
        third.on('message', (t, p) => more.push(p.toString()));
        await once(third, 'connect');
        await new Promise((r) => setTimeout(r, 700));
        await third.endAsync();
        assert.deepStrictEqual(more, []);
    });
}

test('back-pressure: a paused client keeps memory bounded, then gets everything', async () => {
    const sub = await connected({ maxEvents: 16 });
    const pub = await connected();
    try {
        const topic = `node/bp/${uid('t')}`;
        await sub.subscribeAsync(topic, { qos: 1 });
        let n = 0;
        sub.on('message', () => n++);
        sub.pause();
        global.gc && global.gc();
        const rss0 = process.memoryUsage().rss;
        const payload = Buffer.alloc(64 * 1024, 7);
        const count = 300; // 19 MiB
        for (let i = 0; i < count; i++)
            await pub.publishAsync(topic, payload, { qos: 1 });
        await new Promise((r) => setTimeout(r, 300));
        const grew = process.memoryUsage().rss - rss0;
        assert.ok(n <= 1, `${n} messages while paused`);
        assert.ok(grew < 12 * 1024 * 1024, `RSS grew ${grew} bytes while paused`);
        sub.resume();
        const t0 = Date.now();
        while (n < count && Date.now() - t0 < 20000)
            await new Promise((r) => setTimeout(r, 20));
        assert.strictEqual(n, count);
    } finally {
        await sub.endAsync();
        await pub.endAsync();
    }
});

test('end(true) settles pending publishes at once; end() delivers them (issue 12)', async () => {
    const c = mq.connect('mqtt://127.0.0.1:1', { clientId: uid('now'), reconnectPeriod: 50 });
    c.on('error', () => {});
    const results = [];
    c.publish('a/b', 'x', { qos: 1 }, (err) => results.push(err && err.code));
    await new Promise((r) => c.end(true, r));
    assert.deepStrictEqual(results, ['MQ_ERR_ABORTED']);
    // graceful end right after connect: the message is delivered first
    const sub = await connected();
    const topic = `node/end/${uid('t')}`;
    await sub.subscribeAsync(topic, { qos: 1 });
    const got = once(sub, 'message');
    const p = mq.connect(URI, { clientId: uid('end') });
    p.publish(topic, 'delivered', { qos: 0 });
    await p.endAsync();
    const [, payload] = await withTimeout(got, 5000, 'message published before end()');
    assert.strictEqual(payload.toString(), 'delivered');
    await sub.endAsync();
});
