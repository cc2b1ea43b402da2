// Tutorial step 2: subscribe with a message handler. Node's event loop is
// the background loop: handlers run on it, the program does not block.
const mqtt = require('../..'); // require('libmq') once installed

const client = mqtt.connect(process.env.MQ_TEST_URI || 'mqtt://localhost:1883');
const topic = process.env.TUTORIAL_TOPIC || 'tutorial/step2';
let count = 0;
client.on('error', (err) => { console.error(err.message); process.exit(1); });
client.on('connect', () => {
    client.subscribe(topic, { qos: 1 }, (err) => {
        if (err)
            throw err;
        console.log('subscribed');
    });
});
client.on('message', (t, payload) => {
    console.log(`received "${payload}" on ${t}`);
    if (++count === 3)
        client.end();
});
