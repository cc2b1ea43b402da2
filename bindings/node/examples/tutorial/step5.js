// Tutorial step 5: a persistent session (clean: false, QoS 1) and a
// retained Last Will "home/status offline" that the broker publishes when
// the program dies without disconnecting (e.g. SIGKILL). The program says
// "online" (retained) when connected and obeys commands on home/commands
// until it gets "stop"; commands sent while it was away wait in the session.
const mqtt = require('../..'); // require('libmq') once installed

const client = mqtt.connect(process.env.MQ_TEST_URI || 'mqtt://localhost:1883', {
    clientId: process.env.TUTORIAL_ID || 'tutorial-step5-node',
    clean: false,
    will: { topic: 'home/status', payload: 'offline', qos: 1, retain: true },
});
client.on('error', (err) => { console.error(err.message); process.exit(1); });
client.on('message', (topic, payload) => {
    console.log(`command: ${payload}`);
    if (payload.toString() === 'stop') {
        client.publish('home/status', 'stopped', { qos: 1, retain: true });
        client.end(); // a clean end: the broker drops the Will
    }
});
client.on('connect', () => {
    client.subscribe('home/commands', { qos: 1 }, () => {
        client.publish('home/status', 'online', { qos: 1, retain: true }, () => console.log('ready'));
    });
});
