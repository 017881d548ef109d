// Load generator for bench/run.py. One process, many sockets, one clock:
//   node bench/loadgen.mjs plan.json   -> prints one JSON result line
// The plan names the design ("ours", "tutorial", "socketio"), subscribers and publishers with
// their URLs and rooms, the publish rate, and how long to run. Latency is measured from the
// publisher's send to each subscriber's receipt, in this same process.
import { readFileSync } from "node:fs";
import { WebSocket } from "ws";
import { io } from "socket.io-client";

const plan = JSON.parse(readFileSync(process.argv[2], "utf8"));
const now = () => performance.timeOrigin + performance.now();
const latencies = [];
const receivedBy = new Map(); // subscriber index -> count
const sentPerRoom = new Map(); // room -> count

function onBody(index, body) {
  const [, , sentAt] = body.split(":");
  latencies.push(now() - Number(sentAt));
  receivedBy.set(index, (receivedBy.get(index) || 0) + 1);
}

function connectOurs(client, index, isPublisher) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(client.url, { headers: { Cookie: `sessionid=${client.cookie}`, Origin: client.origin } });
    ws.on("error", reject);
    ws.on("open", () => {
      if (isPublisher) return resolve({ send: (body, id) => ws.send(JSON.stringify({ type: "message.send", room: client.room, body, client_msg_id: id })), close: () => ws.close() });
      ws.send(JSON.stringify({ type: "subscribe", room: client.room, since: client.since ?? undefined }));
    });
    ws.on("message", (data) => {
      const frame = JSON.parse(data);
      if (frame.type === "presence" && !isPublisher) resolve({ close: () => ws.close() });
      else if (frame.type === "message" && !isPublisher) onBody(index, frame.body);
    });
  });
}

function connectTutorial(client, index, isPublisher) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(client.url);
    ws.on("error", reject);
    ws.on("open", () => resolve({ send: (body) => ws.send(JSON.stringify({ message: body })), close: () => ws.close() }));
    if (!isPublisher) ws.on("message", (data) => onBody(index, JSON.parse(data).message));
  });
}

function connectSocketIO(client, index, isPublisher) {
  return new Promise((resolve, reject) => {
    const socket = io(client.url, { transports: ["websocket"], query: { room: client.room }, reconnection: false, forceNew: true });
    socket.on("connect_error", reject);
    socket.on("connect", () => resolve({ send: (body) => socket.emit("chat", { room: client.room, body }), close: () => socket.close() }));
    if (!isPublisher) socket.on("chat", (data) => onBody(index, data.body));
  });
}

const connect = { ours: connectOurs, tutorial: connectTutorial, socketio: connectSocketIO }[plan.design];

async function inBatches(items, size, fn) {
  const out = [];
  for (let i = 0; i < items.length; i += size) out.push(...(await Promise.all(items.slice(i, i + size).map(fn))));
  return out;
}

const cpuStart = process.cpuUsage();
const subscribers = await inBatches(plan.subscribers, 50, (c, i) => connect(c, i, false));
const publishers = await inBatches(plan.publishers, 50, (c, i) => connect(c, i, true));
if (plan.hold) {
  // Idle-memory runs: say that every socket is open, then keep them open while run.py measures.
  console.log(JSON.stringify({ connected: subscribers.length + publishers.length }));
  await new Promise((r) => setTimeout(r, plan.hold * 1000));
}
if (plan.settle) await new Promise((r) => setTimeout(r, plan.settle * 1000));

const started = now();
const deadline = started + plan.duration * 1000;
await Promise.all(
  publishers.map((pub, p) => new Promise((resolve) => {
    const rate = plan.publishers[p].rate;
    const room = plan.publishers[p].room;
    let n = 0;
    const tick = () => {
      const due = Math.min(Math.floor(((now() - started) / 1000) * rate) + 1, Math.floor(plan.duration * rate));
      while (n < due) {
        pub.send(`${p}:${n}:${now()}`, `b${plan.run}-${p}-${n}`);
        sentPerRoom.set(room, (sentPerRoom.get(room) || 0) + 1);
        n += 1;
      }
      if (now() >= deadline) resolve(); else setTimeout(tick, Math.max(1, Math.min(10, 1000 / rate / 2)));
    };
    tick();
  })),
);
const sentAt = now();
// Wait for the stragglers, but not forever.
const expected = plan.subscribers.reduce((sum, s) => sum + (sentPerRoom.get(s.room) || 0), 0);
while (now() - sentAt < plan.drain * 1000) {
  const received = [...receivedBy.values()].reduce((a, b) => a + b, 0);
  if (received >= expected) break;
  await new Promise((r) => setTimeout(r, 20));
}
const wall = (now() - started) / 1000;
const cpu = process.cpuUsage(cpuStart);
for (const s of [...subscribers, ...publishers]) s.close();
latencies.sort((a, b) => a - b);
const pick = (q) => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] : null);
const received = [...receivedBy.values()].reduce((a, b) => a + b, 0);
console.log(JSON.stringify({
  expected, received, lost: Math.max(0, expected - received), sent: [...sentPerRoom.values()].reduce((a, b) => a + b, 0),
  p50: pick(0.5), p99: pick(0.99), max: latencies.length ? latencies[latencies.length - 1] : null,
  wall, loadgen_cpu: (cpu.user + cpu.system) / 1e6,
}));
process.exit(0);
