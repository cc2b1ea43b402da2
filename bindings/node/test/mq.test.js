'use strict';
// Tests for the Node binding, against the mosquitto started by
// bindings/tests/with-broker.sh (MQ_TEST_URI, MQ_TEST_BROKER).
const test = require('node:test');
const assert = require('node:assert');
const { execFileSync } = require('node:child_process');
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

async function connected(opts = {}) {
    const c = new mq.Client({ clientId: uid('node'), ...opts });
    await withTimeout(c.connect(URI), 10000, 'connect');
    return c;
}

test('module basics', () => {
    assert.match(mq.version, /^\d+\.\d+\.\d+$/);
    assert.ok(mq.topicMatches('a/+/c', 'a/b/c'));
    assert.ok(!mq.topicMatches('a/#', 'b'));
    assert.strictEqual(typeof mq.native.MQ_EVENT_MESSAGE, 'number');
});

test('bad arguments throw with the libmq message', async () => {
    const c = new mq.Client({ clientId: uid('bad') });
    assert.throws(() => c.publish('a/+', Buffer.from('x')),
        (e) => e instanceof mq.MqError && e.code === 'MQ_ERR_TOPIC' &&
               /invalid topic name or topic filter/.test(e.message));
    assert.throws(() => c.publish('a/b', 'x', { qos: 3 }), { code: 'MQ_ERR_QOS' });
    assert.throws(() => c.subscribe('a/#/b'), { code: 'MQ_ERR_TOPIC' });
    assert.throws(() => c.subscribe('a/b', { qos: 5 }), { code: 'MQ_ERR_QOS' });
    assert.throws(() => c.connect('bogus://x'), { code: 'MQ_ERR_URI' });
    assert.throws(() => c.publish(42, 'x'), TypeError);
    assert.throws(() => c.publish('a/b', 42), TypeError);
    assert.throws(() => new mq.Client({ protocolVersion: 9 }), mq.MqError);
    assert.throws(() => new mq.Client({ keepalive: -1 }), { code: 'MQ_ERR_INVAL' });
    await c.end(true);
    assert.throws(() => c.publish('a/b', 'x'), { code: 'MQ_ERR_DESTROYED' });
});

for (const protocolVersion of [4, 5]) {
    for (const qos of [0, 1, 2]) {
        test(`round trip v${protocolVersion} qos ${qos} with binary payloads`, async () => {
            const sub = await connected({ protocolVersion });
            const pub = await connected({ protocolVersion });
            try {
                const topic = `node/rt/${uid('t')}`;
                const granted = await withTimeout(sub.subscribe(topic, { qos }), 5000, 'suback');
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
                const acks = payloads.map((p) => pub.publish(topic, p, { qos }));
                const res = await withTimeout(Promise.all(acks), 5000, 'acks');
                for (const r of res)
                    assert.strictEqual(r.reasonCode, 0);
                await withTimeout(all, 5000, 'messages');
                payloads.forEach((p, i) => assert.ok(p.equals(got[i]), `payload ${i}`));
            } finally {
                await sub.end();
                await pub.end();
            }
        });
    }
}

test('string and Uint8Array payloads, unsubscribe', async () => {
    const c = await connected();
    try {
        const topic = `node/u/${uid('t')}`;
        await c.subscribe({ [topic]: { qos: 1 } });
        const msg = once(c, 'message');
        await c.publish(topic, 'héllo', { qos: 1 });
        const [, p] = await withTimeout(msg, 5000, 'message');
        assert.strictEqual(p.toString('utf8'), 'héllo');
        const msg2 = once(c, 'message');
        await c.publish(topic, new Uint8Array([1, 0, 2]), { qos: 1 });
        const [, p2] = await withTimeout(msg2, 5000, 'message 2');
        assert.deepStrictEqual([...p2], [1, 0, 2]);
        await c.unsubscribe(topic);
        let late = 0;
        c.on('message', () => late++);
        await c.publish(topic, 'late', { qos: 1 });
        await new Promise((r) => setTimeout(r, 300));
        assert.strictEqual(late, 0);
    } finally {
        await c.end();
    }
});

test('mq.connect emits connect, end emits close and end', async () => {
    const c = mq.connect(URI, { clientId: uid('ev') });
    const [connack] = await withTimeout(once(c, 'connect'), 10000, 'connect');
    assert.strictEqual(connack.reasonCode, 0);
    assert.strictEqual(c.connected, true);
    const closed = once(c, 'close');
    const ended = once(c, 'end');
    await c.end();
    const [info] = await closed;
    assert.strictEqual(info.error, null);
    assert.strictEqual(info.willReconnect, false);
    await ended;
    assert.strictEqual(c.connected, false);
});

test('reconnect after a broker restart keeps the subscription', { skip: !BROKER }, async () => {
    const c = await connected({ reconnectPeriod: 100, reconnectMaxPeriod: 500 });
    try {
        const topic = `node/rc/${uid('t')}`;
        await c.subscribe(topic, { qos: 1 });
        const closed = once(c, 'close');
        execFileSync(BROKER, ['stop']);
        const [info] = await withTimeout(closed, 10000, 'close');
        assert.strictEqual(info.willReconnect, true);
        const back = once(c, 'connect');
        execFileSync(BROKER, ['start']);
        await withTimeout(back, 15000, 'reconnect');
        const msg = once(c, 'message');
        await withTimeout(c.publish(topic, Buffer.from('after\0'), { qos: 1 }), 5000, 'puback');
        const [, p] = await withTimeout(msg, 5000, 'message after reconnect');
        assert.ok(p.equals(Buffer.from('after\0')));
    } finally {
        await c.end();
    }
});
