// Tutorial step 3: the loop styles of Node: event callbacks ("callbacks")
// or async/await on the promise API ("async").
//   node step3.js callbacks|async
const { on } = require('node:events');
const mqtt = require('../..'); // require('libmq') once installed

const url = process.env.MQ_TEST_URI || 'mqtt://localhost:1883';
const topic = process.env.TUTORIAL_TOPIC || 'tutorial/step3';
const style = process.argv[2] || 'callbacks';

if (style === 'callbacks') {
    const client = mqtt.connect(url);
    let n = 0;
    client.on('connect', () => client.subscribe(topic, { qos: 1 }, () => console.log('subscribed')));
    client.on('message', (t, payload) => {
        console.log('received', payload.toString());
        if (++n === 2)
            client.end();
    });
} else if (style === 'async') {
    (async () => {
        const client = await mqtt.connectAsync(url);
        await client.subscribeAsync(topic, { qos: 1 });
        console.log('subscribed');
        let n = 0;
        for await (const [, payload] of on(client, 'message')) { // buffers, never misses one
            console.log('received', payload.toString());
            if (++n === 2)
                break;
        }
        await client.endAsync();
    })().catch((err) => { console.error(err.message); process.exitCode = 1; });
} else {
    console.error(`unknown style ${style}`);
    process.exitCode = 2;
}
