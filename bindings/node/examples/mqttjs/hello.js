// hello.js - an MQTT.js program, unchanged but for the require line: the
// test suite runs it with MQTT.js and with libmq and compares the output.
//   MQTT_URL=mqtt://127.0.0.1:1883 node hello.js
const mqtt = require('libmq'); // MQTT.js: require('mqtt')

const client = mqtt.connect(process.env.MQTT_URL || 'mqtt://localhost:1883', {
    clientId: `hello-${process.pid}`,
    clean: true,
    connectTimeout: 4000,
    reconnectPeriod: 1000,
});
const topic = `example/hello/${process.pid}`;

client.on('connect', (connack) => {
    console.log('connected, session present:', connack.sessionPresent);
    client.subscribe(topic, { qos: 1 }, (err, granted) => {
        if (err)
            throw err;
        console.log('granted', granted.map((g) => `${g.topic === topic}:${g.qos}`).join(','));
        client.publish(topic, 'Hello mqtt', { qos: 1, retain: false }, (err) => {
            console.log('publish callback, error:', err || null);
        });
    });
});

client.on('message', (t, message, packet) => {
    console.log('message:', t === topic, message.toString(), 'qos', packet.qos);
    client.unsubscribe(topic, () => {
        console.log('unsubscribed');
        client.end(() => console.log('end callback'));
    });
});

client.on('close', () => console.log('close'));
client.on('end', () => console.log('end event'));
client.on('error', (err) => console.log('error', err.message));
