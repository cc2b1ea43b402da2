// offline.js - what an MQTT.js program sees when the broker is not there:
// 'error' and 'close' for each failed attempt, 'offline' and 'reconnect'
// while retrying; end(true) stops it. Unchanged but for the require line.
const mqtt = require('libmq'); // MQTT.js: require('mqtt')

const client = mqtt.connect('mqtt://127.0.0.1:1', { reconnectPeriod: 100, connectTimeout: 2000 });
const seen = [];
for (const ev of ['close', 'offline', 'reconnect'])
    client.on(ev, () => seen.push(ev));
let errors = 0;
client.on('error', (err) => {
    seen.push('error');
    if (++errors === 2) {
        client.end(true, () => {
            console.log('events:', seen.join(' '));
            console.log('ended, connected:', client.connected);
        });
    }
});
