'use strict';
// Interoperability with MQTT.js (installed by test/mqttjs/install.sh, whose
// MQTTJS_DIR this reads): an MQTT.js client on the other side, and the
// MQTT.js-style example programs run once with MQTT.js and once with libmq
// (only the require line differs) with the same output.
const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFile } = require('node:child_process');
const { once } = require('node:events');
const mq = require('..');

const URI = process.env.MQ_TEST_URI;
const DIR = process.env.MQTTJS_DIR;
const skip = !DIR || !URI ? 'MQTT.js not installed (run under test/mqttjs/install.sh)' : false;
const mqttjs = DIR ? require(path.join(DIR, 'mqtt')) : null;
let seq = 0;
const uid = (p) => `${p}-${process.pid}-${++seq}`;

test('MQTT.js publishes v5 properties to libmq and back', { skip }, async () => {
    const ours = await mq.connectAsync(URI, { protocolVersion: 5, clientId: uid('ours') });
    const theirs = await mqttjs.connectAsync(URI, { protocolVersion: 5, clientId: uid('theirs') });
    try {
        const topic = `interop/${uid('t')}`;
        await ours.subscribeAsync(topic, { qos: 1 });
        await theirs.subscribeAsync(`${topic}/back`, { qos: 1 });
        const got = once(ours, 'message');
        await theirs.publishAsync(topic, Buffer.from([0, 1, 2]), { qos: 1,
            properties: { contentType: 'x/y', userProperties: { k: 'v' }, correlationData: Buffer.from('id') } });
        const [, payload, packet] = await got;
        assert.deepStrictEqual([...payload], [0, 1, 2]);
        assert.strictEqual(packet.properties.contentType, 'x/y');
        assert.deepStrictEqual(packet.properties.userProperties, { k: 'v' });
        assert.strictEqual(packet.properties.correlationData.toString(), 'id');
        const back = once(theirs, 'message');
        await ours.publishAsync(`${topic}/back`, 'pong', { qos: 2,
            properties: { responseTopic: 'r/t', userProperties: { a: ['1', '2'] }, messageExpiryInterval: 60 } });
        const [, p2, packet2] = await back;
        assert.strictEqual(p2.toString(), 'pong');
        assert.strictEqual(packet2.properties.responseTopic, 'r/t');
        assert.deepStrictEqual({ ...packet2.properties.userProperties }, { a: ['1', '2'] });
    } finally {
        await ours.endAsync();
        await theirs.endAsync();
    }
});

function run(file, impl) {
    const src = fs.readFileSync(file, 'utf8');
    const line = /^const mqtt = require\('libmq'\);.*$/m;
    assert.match(src, line, `${file} has the require line`);
    const changed = src.replace(line, impl === 'mqtt' ? "const mqtt = require('mqtt');" : "const mqtt = require('libmq');");
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mq-mqttjs-'));
    const copy = path.join(dir, path.basename(file));
    fs.writeFileSync(copy, changed);
    fs.mkdirSync(path.join(dir, 'node_modules'));
    fs.symlinkSync(path.join(__dirname, '..'), path.join(dir, 'node_modules', 'libmq'));
    fs.symlinkSync(path.join(DIR, 'mqtt'), path.join(dir, 'node_modules', 'mqtt'));
    return new Promise((resolve) => {
        execFile(process.execPath, [copy], {
            env: { ...process.env, MQTT_URL: URI, NODE_PATH: DIR }, timeout: 20000,
        }, (err, stdout, stderr) => {
            fs.rmSync(dir, { recursive: true, force: true });
            resolve({ code: err ? (err.code ?? err.signal) : 0, stdout, stderr });
        });
    });
}

const examples = path.join(__dirname, '..', 'examples', 'mqttjs');
for (const name of fs.existsSync(examples) ? fs.readdirSync(examples).filter((f) => f.endsWith('.js')) : []) {
    test(`examples/mqttjs/${name}: same output with MQTT.js and libmq`, { skip }, async () => {
        const file = path.join(examples, name);
        const [theirs, ours] = await Promise.all([run(file, 'mqtt'), run(file, 'libmq')]);
        assert.strictEqual(theirs.code, 0, `MQTT.js run failed: ${theirs.stderr}`);
        assert.strictEqual(ours.code, 0, `libmq run failed: ${ours.stderr}`);
        assert.ok(theirs.stdout.length > 0);
        assert.strictEqual(ours.stdout, theirs.stdout);
    });
}
