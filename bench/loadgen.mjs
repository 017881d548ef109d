// Load generator for bench/run.py (driven by bench/loadgen.py). One process, many sockets, one clock:
//   node bench/loadgen.mjs plan.json   -> prints one JSON result line
// The plan names the design ("ours", "tutorial", "socketio"), subscribers and publishers with
// their URLs and rooms, the publish rate, and how long to run. Latency is measured from the
// publisher's send to each subscriber's receipt, in this same process.
// Our clients can also use the SockJS transports (`transport` in the client: "xhr-streaming" or
// "sockjs-websocket", with `url` the SockJS prefix, http://host:port/sockjs), or subscribe over
// STOMP ("stomp", with `url` the STOMP WebSocket, ws://host:port/stomp).
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import http from "node:http";
import { WebSocket } from "ws";

const plan = JSON.parse(readFileSync(process.argv[2], "utf8"));
const now = () => performance.timeOrigin + performance.now();
const processStart = now();
const latencies = [];
// In the mixed run, the same latencies split by what was delivered: new messages and changes
// (edits and reactions), each measured from its publisher's send to the subscriber's receipt.
const byKind = { send: [], change: [] };
const receivedBy = new Map(); // subscriber index -> count
const seenBy = new Map(); // subscriber index -> Set of "publisher:n" received
const sentPerRoom = new Map(); // room -> count
// Not counted as received: a message sent before this process started (an earlier run's, sent
// again by a catch-up or gap fill), or one this subscriber already got (a duplicate).
const extra = { stale: 0, duplicates: 0 };

function onBody(index, body, kind = "send") {
  const [publisher, n, sentAt] = body.split(":");
  if (Number(sentAt) < processStart) { extra.stale += 1; return; }
  let seen = seenBy.get(index);
  if (!seen) seenBy.set(index, (seen = new Set()));
  const id = `${publisher}:${n}`;
  if (seen.has(id)) { extra.duplicates += 1; return; }
  seen.add(id);
  const latency = now() - Number(sentAt);
  latencies.push(latency);
  byKind[kind].push(latency);
  receivedBy.set(index, (receivedBy.get(index) || 0) + 1);
  if (plan.storm && plan.subscribers[index].survivor) {
    if (storm.droppedAt === null) storm.beforeLatencies.push(latency);
    else if (now() - storm.droppedAt <= STORM_WINDOW) storm.survivorLatencies.push(latency);
  }
}

// Reconnect storm (plan.storm): a subscriber whose node dies reconnects to its `fallback` (the
// surviving node, as a load balancer would send it) after client.js's backoff, min(30 s, 500 ms x
// 2^attempt) x (0.5 to 1), and resubscribes with the newest seq it received (ours; a python-socketio
// client rejoins its room, with nothing to catch up with). `current` is, per reconnecting client, the
// time from losing its socket to being subscribed again with its catch-up received; survivors (the
// clients of the node that lives) have their latencies recorded for STORM_WINDOW after the first drop.
const STORM_WINDOW = 10000;
const storm = { droppedAt: null, drops: 0, attempts: 0, current: [], survivorLatencies: [], beforeLatencies: [] };

function stormDropped(state) {
  if (state.dropped === null) {
    state.dropped = now();
    storm.drops += 1;
    storm.droppedAt ??= state.dropped;
  }
  const delay = Math.min(30000, 500 * 2 ** state.attempt) * (0.5 + Math.random() / 2);
  state.attempt += 1;
  storm.attempts += 1;
  return delay;
}

function stormCurrent(state) {
  if (state.dropped !== null) {
    storm.current.push(now() - state.dropped);
    state.dropped = null;
    state.attempt = 0;
  }
}

function connectOursStorm(client, index) {
  const state = { dropped: null, attempt: 0, lastSeq: null, opened: false, closing: false, ws: null };
  return new Promise((resolve, reject) => {
    const open = (url, origin) => {
      const ws = (state.ws = new WebSocket(url, { headers: { Cookie: `sessionid=${client.cookie}`, Origin: origin } }));
      ws.on("open", () => ws.send(JSON.stringify({ type: "subscribe", room: client.room, since: state.lastSeq ?? undefined })));
      ws.on("message", (data) => {
        const frame = JSON.parse(data);
        if (frame.type === "message") state.lastSeq = Math.max(state.lastSeq ?? 0, frame.seq);
        else if (frame.type === "subscribed") state.lastSeq = Math.max(state.lastSeq ?? 0, frame.last_seq);
        onOursFrame(frame, index, () => {
          if (!state.opened) {
            state.opened = true;
            resolve({ close: () => { state.closing = true; state.ws.close(); } });
          } else stormCurrent(state);
        });
      });
      ws.on("error", (error) => { if (!state.opened) reject(error); });
      ws.on("close", () => {
        if (state.closing || !state.opened) return;
        setTimeout(() => open(client.fallback.url, client.fallback.origin), stormDropped(state));
      });
    };
    open(client.url, client.origin);
  });
}

// Changes in the mixed many-rooms run (plan.mix): an edit carries the publisher's stamp in its new
// body, so it is counted like a message; a reaction cannot, so the publisher notes when it sent
// each reaction change of a message, and a subscriber matches the k-th reactions change of that
// message it receives with the k-th sent (changes of a room reach it in order).
const reactionSentAt = new Map(); // message id -> [sent at, ...]
const reactionsSeen = new Map(); // subscriber index -> Map(message id -> count)

function onReactions(index, messageId) {
  let seen = reactionsSeen.get(index);
  if (!seen) reactionsSeen.set(index, (seen = new Map()));
  const k = seen.get(messageId) || 0;
  seen.set(messageId, k + 1);
  const sentAt = (reactionSentAt.get(messageId) || [])[k];
  if (sentAt === undefined) { extra.stale += 1; return; }
  const latency = now() - sentAt;
  latencies.push(latency);
  byKind.change.push(latency);
  receivedBy.set(index, (receivedBy.get(index) || 0) + 1);
}

// Read positions (plan.reads, ours only): each subscriber reports what it has seen as the web UI
// (chat/static/chat/reads.js) does: the highest seq received, in a `read` frame at most once per
// plan.reads seconds (the first at once, later ones at the end of the interval).
const reads = { sent: 0 };

function reader(ws, room) {
  let seen = 0;
  let reported = 0;
  let lastSent = -Infinity;
  let timer = null;
  const flush = () => {
    timer = null;
    if (seen <= reported || ws.readyState !== WebSocket.OPEN) return;
    ws.send(JSON.stringify({ type: "read", room, seq: seen }));
    reported = seen;
    lastSent = now();
    reads.sent += 1;
  };
  return (seq) => {
    if (!(seq > seen)) return;
    seen = seq;
    if (timer === null) timer = setTimeout(flush, Math.max(0, lastSent + plan.reads * 1000 - now()));
  };
}

// One chat frame for a client of ours; `ready` is called once its subscription is in place.
function onOursFrame(frame, index, ready) {
  if (frame.type === "presence") ready();
  else if (frame.type === "message") onBody(index, frame.body);
  else if (frame.type === "message.changed") {
    if (frame.change === "edited") onBody(index, frame.message.body, "change");
    else if (frame.change === "reactions") onReactions(index, frame.message.id);
  }
}

function connectOurs(client, index, isPublisher) {
  if (client.transport === "xhr-streaming") return connectXhrStreaming(client, index);
  if (client.transport === "sockjs-websocket") return connectSockJSWebSocket(client, index);
  if (client.transport === "stomp") return connectStomp(client, index);
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(client.url, { headers: { Cookie: `sessionid=${client.cookie}`, Origin: client.origin }, handshakeTimeout: 30000 });
    ws.on("error", reject);
    // Closed by the server before the subscription was in place (a refusal, an overloaded node):
    // a failed connect, not one that waits forever (after resolve() this does nothing).
    ws.on("close", (code) => reject(new Error(`closed with ${code} before subscribed`)));
    let lastId = null; // the publisher's newest acked message, which its changes apply to
    let reacted = false;
    ws.on("open", () => {
      if (isPublisher) return resolve({
        send: (body, id) => ws.send(JSON.stringify({ type: "message.send", room: client.room, body, client_msg_id: id })),
        // A change instead of a new message: an edit (new body) or a reaction toggle, alternately.
        change: (body, n) => {
          if (lastId === null) return false;
          if (n % 2 === 0) {
            ws.send(JSON.stringify({ type: "message.edit", room: client.room, id: lastId, body }));
          } else {
            if (!reactionSentAt.has(lastId)) reactionSentAt.set(lastId, []);
            reactionSentAt.get(lastId).push(now());
            ws.send(JSON.stringify({ type: reacted ? "reaction.remove" : "reaction.add", room: client.room, id: lastId, emoji: "👍" }));
            reacted = !reacted;
          }
          return true;
        },
        close: () => ws.close(),
      });
      ws.send(JSON.stringify({ type: "subscribe", room: client.room, since: client.since ?? undefined }));
    });
    const seen = plan.reads && !isPublisher ? reader(ws, client.room) : null;
    ws.on("message", (data) => {
      const frame = JSON.parse(data);
      if (seen) seen(frame.type === "subscribed" ? frame.last_seq : frame.type.startsWith("message") ? frame.seq : 0);
      if (!isPublisher) onOursFrame(frame, index, () => resolve({ close: () => ws.close() }));
      else if (frame.type === "message.ack") { lastId = frame.id; reacted = false; }
      else if (frame.type === "error") {
        // Any refusal of a publisher's send or change, by code (a send refused is lost too).
        extra.errors = extra.errors || {};
        extra.errors[frame.code] = (extra.errors[frame.code] || 0) + 1;
      }
    });
  });
}

// SockJS subscribers (ours only). Requests made, and close frames or errors (a subscriber that
// fails after it connected stops receiving: its messages then count as lost):
const sockjs = { streams: 0, reopens: 0, xhr_sends: 0, failures: [] };
const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
const sockjsPath = () => `${String(Math.floor(Math.random() * 1000)).padStart(3, "0")}/${randomBytes(8).toString("hex")}`;
const subscribeFrame = (client) => JSON.stringify({ type: "subscribe", room: client.room, since: client.since ?? undefined });

// One SockJS frame ("o", "h", a[...], c[...]); `open` is called on "o", `ready` on our presence frame.
function onSockJSFrame(text, index, open, ready, closed) {
  const kind = text[0];
  if (kind === "a") for (const message of JSON.parse(text.slice(1))) onOursFrame(JSON.parse(message), index, ready);
  else if (kind === "o") open();
  else if (kind === "c") closed(text);
  // "h": a heartbeat (and the 2,048 h of the xhr-streaming prelude): nothing to do
}

// xhr-streaming as sockjs-client does it: a POST whose response carries one frame per line,
// reopened for the same session whenever the server ends it (after its response limit), and
// the client's messages POSTed to xhr_send. Every request has the Origin and the session cookie.
function connectXhrStreaming(client, index) {
  const base = `${client.url}/${sockjsPath()}`;
  const headers = { Cookie: `sessionid=${client.cookie}`, Origin: client.origin };
  let closed = false;
  let request = null;
  return new Promise((resolve, reject) => {
    const fail = (error) => {
      if (closed) return;
      closed = true;
      sockjs.failures.push(error.message);
      reject(error);
    };
    const xhrSend = (messages) => {
      sockjs.xhr_sends += 1;
      const body = JSON.stringify(messages);
      const req = http.request(`${base}/xhr_send`, {
        method: "POST", agent,
        headers: { ...headers, "Content-Type": "text/plain;charset=UTF-8", "Content-Length": Buffer.byteLength(body) },
      }, (res) => {
        res.resume();
        if (res.statusCode !== 204) fail(new Error(`xhr_send answered ${res.statusCode}`));
      });
      req.on("error", fail);
      req.end(body);
    };
    const onClose = (frame) => fail(new Error(`session closed: ${frame}`));
    const stream = () => {
      sockjs.streams += 1;
      request = http.request(`${base}/xhr_streaming`, { method: "POST", agent, headers: { ...headers, "Content-Length": 0 } }, (res) => {
        if (res.statusCode !== 200) { res.resume(); fail(new Error(`xhr_streaming answered ${res.statusCode}`)); return; }
        res.setEncoding("utf8");
        let partial = "";
        res.on("data", (chunk) => {
          const lines = (partial + chunk).split("\n");
          partial = lines.pop();
          for (const line of lines) {
            onSockJSFrame(line, index, () => xhrSend([subscribeFrame(client)]), () => resolve({ close }), onClose);
          }
        });
        res.on("end", () => {
          if (!closed) { sockjs.reopens += 1; stream(); }
        });
        res.on("error", fail);
      });
      request.on("error", fail);
      request.end();
    };
    const close = () => { closed = true; request.destroy(); };
    stream();
  });
}

// The framed SockJS WebSocket: "o", "h", a[...] and c[...] frames; messages sent as JSON arrays.
function connectSockJSWebSocket(client, index) {
  return new Promise((resolve, reject) => {
    const url = `${client.url.replace(/^http/, "ws")}/${sockjsPath()}/websocket`;
    const ws = new WebSocket(url, { headers: { Cookie: `sessionid=${client.cookie}`, Origin: client.origin } });
    ws.on("error", reject);
    ws.on("message", (data) => onSockJSFrame(
      data.toString(), index,
      () => ws.send(JSON.stringify([subscribeFrame(client)])),
      () => resolve({ close: () => ws.close() }),
      (frame) => { sockjs.failures.push(`session closed: ${frame}`); reject(new Error(`session closed: ${frame}`)); },
    ));
  });
}

// A STOMP 1.2 subscriber over a plain WebSocket (docs/stomp.md), signed in by the session cookie
// as a browser page on the same site is: CONNECT, SUBSCRIBE with a receipt, then MESSAGE frames
// whose JSON body carries the text in `message`. Frames end with NUL; one or more per message.
const stomp = { failures: [] };

function connectStomp(client, index) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(client.url, ["v12.stomp"], { headers: { Cookie: `sessionid=${client.cookie}`, Origin: client.origin } });
    ws.on("error", reject);
    ws.on("open", () => ws.send("CONNECT\naccept-version:1.2\nhost:chat\nheart-beat:0,0\n\n\0"));
    ws.on("message", (data) => {
      for (const frame of data.toString().split("\0")) {
        const text = frame.replace(/^\n+/, ""); // heart-beats (none are negotiated) and EOLs
        if (!text) continue;
        const command = text.slice(0, text.indexOf("\n"));
        if (command === "MESSAGE") {
          const message = JSON.parse(text.slice(text.indexOf("\n\n") + 2));
          if (message.type === "TALK") onBody(index, message.message);
        } else if (command === "CONNECTED") {
          ws.send(`SUBSCRIBE\nid:0\ndestination:/topic/chat/room/${client.room}\nreceipt:subscribed\n\n\0`);
        } else if (command === "RECEIPT") {
          resolve({ close: () => ws.close() });
        } else if (command === "ERROR") {
          stomp.failures.push(text.slice(0, 200));
          reject(new Error(`STOMP ERROR: ${text.slice(0, 200)}`));
        }
      }
    });
  });
}

function connectSocketIOStorm(client, index) {
  const state = { dropped: null, attempt: 0, opened: false, closing: false, ws: null };
  return new Promise((resolve, reject) => {
    const open = (base) => {
      const ws = (state.ws = new WebSocket(`${base.replace(/^http/, "ws")}/socket.io/?EIO=4&transport=websocket&room=${encodeURIComponent(client.room)}`));
      ws.on("message", (data) => {
        const text = data.toString();
        if (text.startsWith("42")) {
          const [event, payload] = JSON.parse(text.slice(2));
          if (event === "chat") onBody(index, payload.body);
        } else if (text === "2") ws.send("3");
        else if (text[0] === "0") ws.send("40");
        else if (text.startsWith("40")) {
          if (!state.opened) {
            state.opened = true;
            resolve({ close: () => { state.closing = true; state.ws.close(); } });
          } else stormCurrent(state);
        }
      });
      ws.on("error", (error) => { if (!state.opened) reject(error); });
      ws.on("close", () => {
        if (state.closing || !state.opened) return;
        setTimeout(() => open(client.fallback.url), stormDropped(state));
      });
    };
    open(client.url);
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

// python-socketio through a lean Socket.IO v5 client on a raw WebSocket (Engine.IO v4 framing, as
// socket.io-client speaks it with transports: ["websocket"]): "0{...}" open, "40" connect to the
// default namespace (the server's connect handler joins ?room= before it answers "40{sid}"),
// "42[event, data]" events, "2"/"3" ping/pong. socket.io-client itself ran at a whole core in
// this process at 50 msg/s (its parser, emitter and timers per packet), which made python-socketio
// look slower than it is; this client does what the others do per message: one JSON.parse.
function connectSocketIO(client, index, isPublisher) {
  return new Promise((resolve, reject) => {
    const url = `${client.url.replace(/^http/, "ws")}/socket.io/?EIO=4&transport=websocket&room=${encodeURIComponent(client.room)}`;
    const ws = new WebSocket(url);
    ws.on("error", reject);
    ws.on("message", (data) => {
      const text = data.toString();
      if (text.startsWith("42")) {
        if (!isPublisher) {
          const [event, payload] = JSON.parse(text.slice(2));
          if (event === "chat") onBody(index, payload.body);
        }
      } else if (text === "2") ws.send("3");
      else if (text[0] === "0") ws.send("40");
      else if (text.startsWith("40")) {
        resolve({
          send: (body) => ws.send(`42${JSON.stringify(["chat", { room: client.room, body }])}`),
          close: () => ws.close(),
        });
      } else if (text.startsWith("44")) reject(new Error(`Socket.IO connect refused: ${text}`));
    });
  });
}

function stormResult() {
  const sorted = (values) => [...values].sort((a, b) => a - b);
  const current = sorted(storm.current);
  const survivors = sorted(storm.survivorLatencies);
  const before = sorted(storm.beforeLatencies);
  const at = (values, q) => (values.length ? values[Math.min(values.length - 1, Math.floor(q * values.length))] : null);
  return {
    drops: storm.drops, attempts: storm.attempts, current: current.length,
    all_current_ms: current.length ? current[current.length - 1] : null, current_p50_ms: at(current, 0.5),
    survivor_p50_ms: at(survivors, 0.5), survivor_p99_ms: at(survivors, 0.99), survivor_deliveries: survivors.length,
    // The same clients before the kill, for comparison.
    before_p50_ms: at(before, 0.5), before_p99_ms: at(before, 0.99),
  };
}

const connect = plan.storm
  ? (client, index, isPublisher) => {
    if (isPublisher) return { ours: connectOurs, socketio: connectSocketIO }[plan.design](client, index, true);
    return { ours: connectOursStorm, socketio: connectSocketIOStorm }[plan.design](client, index);
  }
  : { ours: connectOurs, tutorial: connectTutorial, socketio: connectSocketIO }[plan.design];

async function inBatches(items, size, fn) {
  const out = [];
  for (let i = 0; i < items.length; i += size) out.push(...(await Promise.all(items.slice(i, i + size).map((item, j) => fn(item, i + j)))));
  return out;
}

const cpuStart = process.cpuUsage();
// bench/loadgen.py reads the servers' CPU at every phase line: "connecting" -> "connected" is the
// cost of connecting (and authenticating and subscribing) the subscribers.
console.log(JSON.stringify({ phase: "connecting" }));
const connectStarted = now();
// A holding plan (idle memory) counts a socket that fails to connect instead of failing the run:
// the step reports how many did, and measures per connection that is open.
const subscribers = (
  await inBatches(plan.subscribers, plan.batch || 50, (c, i) => {
    const connecting = connect(c, i, false);
    return plan.hold ? connecting.catch(() => { extra.failed_connects = (extra.failed_connects || 0) + 1; return null; }) : connecting;
  })
).filter((s) => s !== null);
if (plan.hold) {
  // A socket reset by an overloaded server after it was counted is not worth a crash either
  // (counted apart from `errors`, the publishers' refusals by code).
  process.on("uncaughtException", (error) => { extra.hold_errors = (extra.hold_errors || 0) + 1; extra.last_error = String(error); });
}
const connectWall = (now() - connectStarted) / 1000;
const connectCpu = process.cpuUsage(cpuStart);
console.log(JSON.stringify({ phase: "connected" }));
const publishers = await inBatches(plan.publishers, 50, (c, i) => connect(c, i, true));
if (plan.hold) {
  // Idle-memory runs: say that every socket is open, then keep them open while idle_memory() measures,
  // until it closes our stdin (or plan.hold seconds have passed).
  console.log(JSON.stringify({ connected: subscribers.length + publishers.length, failed: extra.failed_connects || 0 }));
  await new Promise((r) => {
    setTimeout(r, plan.hold * 1000);
    process.stdin.on("end", r).on("close", r).resume();
  });
}
if (plan.settle) await new Promise((r) => setTimeout(r, plan.settle * 1000));

console.log(JSON.stringify({ phase: "sending" }));
const sendingCpuStart = process.cpuUsage();
const started = now();
const deadline = started + plan.duration * 1000;
await Promise.all(
  publishers.map((pub, p) => new Promise((resolve) => {
    const rate = plan.publishers[p].rate;
    const room = plan.publishers[p].room;
    let n = 0;
    // Publishers are spread evenly over each period (publisher p starts p/N of a period late),
    // so that N publishers at `rate` offer N x rate messages/s as a steady stream, not N sends at
    // the same instant every 1/rate seconds.
    const phase = (p / publishers.length) * (1000 / rate);
    const tick = () => {
      const elapsed = now() - started - phase;
      const due = elapsed < 0 ? 0 : Math.min(Math.floor((elapsed / 1000) * rate) + 1, Math.floor(plan.duration * rate));
      while (n < due) {
        // plan.mix of the sends are changes to the publisher's last message (ours only).
        const asChange = plan.mix && n % Math.round(1 / plan.mix) === Math.round(1 / plan.mix) - 1;
        if (!(asChange && pub.change(`${p}:${n}:${now()}`, Math.floor(n * plan.mix)))) {
          pub.send(`${p}:${n}:${now()}`, `b${plan.run}-${p}-${n}`);
        }
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
const sendingCpu = process.cpuUsage(sendingCpuStart);
console.log(JSON.stringify({ phase: "drained" }));
for (const s of [...subscribers, ...publishers]) s.close();
latencies.sort((a, b) => a - b);
const pickOf = (list, q) => (list.length ? list[Math.min(list.length - 1, Math.floor(q * list.length))] : null);
const pick = (q) => pickOf(latencies, q);
if (plan.mix) {
  // Deliveries of each kind, and their p50 and p99, measured the same way for both.
  for (const [kind, list] of Object.entries(byKind)) {
    list.sort((a, b) => a - b);
    extra[`${kind}s`] = { received: list.length, p50: pickOf(list, 0.5), p99: pickOf(list, 0.99) };
  }
}
const received = [...receivedBy.values()].reduce((a, b) => a + b, 0);
console.log(JSON.stringify({
  expected, received, lost: Math.max(0, expected - received), sent: [...sentPerRoom.values()].reduce((a, b) => a + b, 0),
  p50: pick(0.5), p99: pick(0.99), max: latencies.length ? latencies[latencies.length - 1] : null,
  wall, loadgen_cpu: (cpu.user + cpu.system) / 1e6, ...extra,
  // This process's CPU while it sent and drained (over `wall`), and while it connected the subscribers.
  loadgen_cpu_sending: (sendingCpu.user + sendingCpu.system) / 1e6,
  connect_wall: connectWall, loadgen_cpu_connecting: (connectCpu.user + connectCpu.system) / 1e6,
  ...(sockjs.streams || sockjs.failures.length ? { sockjs } : {}),
  ...(stomp.failures.length ? { stomp } : {}),
  ...(plan.reads ? { reads_sent: reads.sent } : {}),
  ...(plan.storm ? { storm: stormResult() } : {}),
}));
process.exit(0);
