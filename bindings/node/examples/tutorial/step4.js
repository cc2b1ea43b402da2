// Tutorial step 4: connect and close handlers; the client reconnects by
// itself (here across a broker restart) and subscribes again on 'connect',
// as the paho tutorial does in on_connect.
const mqtt = require('../..'); // require('libmq') once installed

const topic = process.env.TUTORIAL_TOPIC || 'tutorial/step4';
const client = mqtt.connect(process.env.MQ_TEST_URI || 'mqtt://localhost:1883',
                            { reconnectPeriod: 200, reconnectMaxPeriod: 1000 });
let connects = 0;
client.on('connect', () => {
    connects++;
    console.log('connected');
    client.subscribe(topic, { qos: 1 }, () => console.log('subscribed'));
});
client.on('offline', () => console.log('connection lost, reconnecting: true'));
client.on('error', () => {}); // each failed attempt while the broker is down
client.on('message', (t, payload) => {
    console.log(`received "${payload}" after ${connects} connections`);
    if (connects >= 2)
        client.end();
});
