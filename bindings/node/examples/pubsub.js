'use strict';
// pubsub.js - libmq from Node: subscribe, publish a binary payload at QoS 1
// to ourselves, print it, end.
//   node pubsub.js [mqtt://host:port]     (default: MQ_TEST_URI or localhost)
const mq = require('..');    // require('libmq') once installed

const url = process.argv[2] || process.env.MQ_TEST_URI || 'mqtt://127.0.0.1:1883';
const topic = 'libmq/example/node';

async function main() {
    const client = mq.connect(url, { clientId: `node-example-${process.pid}`, protocolVersion: 5 });
    client.on('error', (err) => console.error('error:', err.message));
    await new Promise((resolve) => client.once('connect', resolve));
    console.log('connected');

    const granted = await client.subscribeAsync(topic, { qos: 1 });
    console.log('subscribed, granted QoS', granted[0].qos);

    const received = new Promise((resolve) => client.once('message', (t, payload) => resolve([t, payload])));
    await client.publishAsync(topic, Buffer.from('hello\0world'), { qos: 1 });   // resolves on PUBACK
    console.log('publish acknowledged');

    const [t, payload] = await received;
    console.log(`message on ${t}:`, payload, `(${payload.length} bytes)`);
    await client.endAsync();
    console.log('closed');
}

main().catch((err) => { console.error(err); process.exitCode = 1; });
