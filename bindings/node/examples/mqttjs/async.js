// async.js - MQTT.js's promise API (v5), unchanged but for the require
// line: connectAsync, subscribeAsync, publishAsync, endAsync, MQTT 5
// properties both ways.
//   MQTT_URL=mqtt://127.0.0.1:1883 node async.js
const mqtt = require('libmq'); // MQTT.js: require('mqtt')

async function main() {
    const url = process.env.MQTT_URL || 'mqtt://localhost:1883';
    const client = await mqtt.connectAsync(url, { protocolVersion: 5, clientId: `async-${process.pid}` });
    console.log('connected');
    const topic = `example/async/${process.pid}`;
    const granted = await client.subscribeAsync({ [topic]: { qos: 2, nl: false } },
        { properties: { subscriptionIdentifier: 7 } });
    console.log('granted qos', granted[0].qos);
    const got = new Promise((resolve) => client.once('message', (t, payload, packet) => resolve([payload, packet])));
    await client.publishAsync(topic, Buffer.from([1, 0, 2]), {
        qos: 2,
        properties: { contentType: 'application/octet-stream', userProperties: { a: '1' },
                      responseTopic: 'example/reply', correlationData: Buffer.from('c1') },
    });
    console.log('published');
    const [payload, packet] = await got;
    const p = packet.properties;
    console.log('payload', [...payload].join(','), 'qos', packet.qos);
    console.log('properties', p.contentType, JSON.stringify(p.userProperties), p.responseTopic,
                p.correlationData.toString(), p.subscriptionIdentifier);
    await client.unsubscribeAsync(topic);
    await client.endAsync();
    console.log('ended');
}

main().catch((err) => { console.log('failed', err.message); process.exitCode = 1; });
