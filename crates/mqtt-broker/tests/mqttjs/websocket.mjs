// mqtt.js over WebSocket against our broker: subscribe, publish at QoS 1, receive it back.
// Usage: node websocket.mjs <ws-or-wss-url> <protocol version 4|5> [ca.pem]
// Exit status 0 on success; anything else (with a message on stderr) is a failure.
import { readFileSync } from 'node:fs';
import mqtt from 'mqtt';

const [url, version, ca] = process.argv.slice(2);
const options = {
  protocolVersion: Number(version),
  clientId: `mqttjs-${version}-${process.pid}`,
  reconnectPeriod: 0,
  connectTimeout: 10_000,
};
if (ca) options.ca = readFileSync(ca);

const payload = `hello from mqtt.js v${version}`;
const timer = setTimeout(() => {
  console.error('timed out');
  process.exit(2);
}, 15_000);
const client = mqtt.connect(url, options);
client.on('error', (e) => {
  console.error(`error: ${e.message}`);
  process.exit(1);
});
client.on('connect', () => {
  client.subscribe('js/test', { qos: 1 }, (err, granted) => {
    if (err || granted[0].qos !== 1) {
      console.error(`subscribe failed: ${err ?? JSON.stringify(granted)}`);
      process.exit(1);
    }
    client.publish('js/test', payload, { qos: 1 });
  });
});
client.on('message', (topic, message) => {
  if (topic === 'js/test' && message.toString() === payload) {
    clearTimeout(timer);
    client.end(false, () => process.exit(0));
  }
});
