// Tutorial step 6: TLS. The broker's certificate is checked against the CA
// and the host name of the URL; a certificate for another name is refused.
//   node step6.js mqtts://localhost:8883 ca.crt
const fs = require('node:fs');
const mqtt = require('../..'); // require('libmq') once installed

const [url, caFile] = process.argv.slice(2);
if (!url || !caFile) {
    console.error('usage: node step6.js mqtts://host:port ca.crt');
    process.exit(2);
}
const client = mqtt.connect(url, { ca: fs.readFileSync(caFile), reconnectPeriod: 0 });
client.on('connect', () => {
    console.log('connected securely');
    client.end();
});
client.on('error', (err) => {
    console.log(err.code === 'MQ_ERR_TLS' ? `TLS error: ${err.message}` : `error: ${err.message}`);
    client.end(true);
    process.exitCode = err.code === 'MQ_ERR_TLS' ? 1 : 3;
});
