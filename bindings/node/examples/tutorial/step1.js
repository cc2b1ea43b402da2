// Tutorial step 1: connect, publish one message, disconnect, as a
// newcomer writes it after the paho-mqtt / MQTT.js tutorials.
//   node step1.js        (broker: MQ_TEST_URI, default mqtt://localhost:1883)
// connect() returns at once; publish() queues the message; end() sends
// what was published before it, then DISCONNECT, even at QoS 0.
const mqtt = require('../..'); // require('libmq') once installed

const client = mqtt.connect(process.env.MQ_TEST_URI || 'mqtt://localhost:1883');
client.on('error', (err) => { console.error(err.message); process.exitCode = 1; });
client.publish(process.env.TUTORIAL_TOPIC || 'tutorial/step1', 'Hello from libmq',
               { qos: Number(process.env.TUTORIAL_QOS || 0) });
client.end(() => console.log('published and disconnected'));
