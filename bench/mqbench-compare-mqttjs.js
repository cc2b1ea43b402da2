// MQTT.js counterpart of `mqbench pubsub` for the throughput comparison in
// bench/README.md (issue 18): P publishers and S subscribers in one Node
// process, publisher i on topic cmp/i, subscribers on cmp/i (pairs, P == S)
// or cmp/# (fan-in, S == 1). Publishes COUNT messages in all as fast as a
// window of WINDOW unfinished publishes per publisher allows (the publish
// callback: QoS 0 written to the socket, QoS 1 acknowledged), and reports
// the time from the first publish to the last message received.
//
// node mqbench-compare-mqttjs.js MQTTJS_DIR PORT PUBS SUBS COUNT SIZE QOS WINDOW
// Prints one JSON line: {"tool":"mqttjs",...,"msgs_per_s":...}.
'use strict';
const [dir, port, pubs, subs, count, size, qos, win] = process.argv.slice(2);
const mqtt = require(require('path').join(dir, 'node_modules', 'mqtt'));
const P = +pubs, S = +subs, N = +count, Q = +qos, W = +win;
const url = 'mqtt://127.0.0.1:' + port;
const payload = Buffer.alloc(+size, 'x');
const opts = { protocolVersion: 5, reconnectPeriod: 0, clean: true };
let received = 0, t0 = 0;

function connect(id) {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect(url, Object.assign({ clientId: id }, opts));
    c.once('connect', () => resolve(c));
    c.once('error', reject);
  });
}

async function main() {
  const subsC = [];
  for (let i = 0; i < S; i++) {
    const c = await connect('cmps' + i);
    const filter = S === P ? 'cmp/' + i : 'cmp/#';
    await new Promise((res, rej) =>
      c.subscribe(filter, { qos: Q }, (e) => (e ? rej(e) : res())));
    subsC.push(c);
  }
  const expected = S === P ? N : N * S;
  const done = new Promise((resolve) => {
    for (const c of subsC) {
      c.on('message', () => {
        received++;
        if (received === expected) resolve(process.hrtime.bigint());
      });
    }
  });
  const pubsC = [];
  for (let i = 0; i < P; i++) pubsC.push(await connect('cmpp' + i));
  t0 = process.hrtime.bigint();
  const per = Math.floor(N / P);
  pubsC.forEach((c, i) => {
    let sent = 0, open = 0;
    const total = per + (i < N % P ? 1 : 0);
    const topic = 'cmp/' + i;
    const pump = () => {
      while (open < W && sent < total) {
        open++;
        sent++;
        c.publish(topic, payload, { qos: Q }, () => {
          open--;
          if (open < W / 2) setImmediate(pump);
        });
      }
    };
    pump();
  });
  const timer = setTimeout(() => finish(null), 120000);
  const t1 = await done;
  clearTimeout(timer);
  finish(t1);
  function finish(t1) {
    const end = t1 || process.hrtime.bigint();
    const s = Number(end - t0) / 1e9;
    console.log(JSON.stringify({ tool: 'mqttjs', pubs: P, subs: S,
      count: N, size: +size, qos: Q, received, seconds: s,
      msgs_per_s: received / s, complete: !!t1 }));
    for (const c of subsC.concat(pubsC)) c.end(true);
    process.exit(0);
  }
}
main().catch((e) => { console.error(e); process.exit(1); });
