// One STOMP client, driven by tests/stomp_driver.py over stdin/stdout (one JSON object per line).
//
// argv[2]: JSON {lib: "stompjs7" | "stompjs2", transport: "websocket" | "sockjs-websocket" |
//   "xhr-streaming", url, login?, passcode?, connectHeaders? (more CONNECT headers, e.g.
//   Authorization), headers? (HTTP headers of the WebSocket handshake)}
// stdin commands: {op: "subscribe", id, destination, headers?} | {op: "unsubscribe", id}
//   | {op: "send", destination, body, headers?} | {op: "disconnect"}
// stdout events: {event: "connected", headers} | {event: "message", subscription, headers, body}
//   | {event: "receipt", id} | {event: "error", headers, body} | {event: "closed", code}
//
// "stompjs7" is @stomp/stompjs (the maintained client); "stompjs2" is the legacy stompjs 2.3 with
// Stomp.over(new SockJS(url)) and connect(headers, onConnected, onError), as the tutorials write it.
import { createRequire } from "node:module";
import readline from "node:readline";

const require = createRequire(import.meta.url);
const config = JSON.parse(process.argv[2]);
const emit = (event) => process.stdout.write(JSON.stringify(event) + "\n");
const connectHeaders = { ...(config.connectHeaders || {}) };
if (config.login !== undefined) {
  connectHeaders.login = config.login;
  connectHeaders.passcode = config.passcode;
}

function socket() {
  if (config.transport === "websocket") {
    const WebSocket = require("ws");
    return new WebSocket(config.url, ["v12.stomp", "v11.stomp", "v10.stomp"], {
      headers: config.headers || {},
    });
  }
  const SockJS = require("sockjs-client");
  const transports = config.transport === "xhr-streaming" ? ["xhr-streaming"] : ["websocket"];
  return new SockJS(config.url, null, { transports });
}

const subscriptions = {};
let api;

if (config.lib === "stompjs7") {
  const { Client } = require("@stomp/stompjs");
  const client = new Client({
    webSocketFactory: socket,
    connectHeaders,
    reconnectDelay: 0,
    heartbeatIncoming: 10000,
    heartbeatOutgoing: 10000,
    debug: () => {},
  });
  client.onConnect = (frame) => emit({ event: "connected", headers: frame.headers });
  client.onStompError = (frame) => emit({ event: "error", headers: frame.headers, body: frame.body });
  client.onWebSocketClose = (event) => {
    emit({ event: "closed", code: event.code });
    client.deactivate();
  };
  client.activate();
  api = {
    subscribe(command) {
      const headers = { id: command.id, ...(command.headers || {}) };
      if (headers.receipt) {
        client.watchForReceipt(headers.receipt, () => emit({ event: "receipt", id: headers.receipt }));
      }
      subscriptions[command.id] = client.subscribe(
        command.destination,
        (message) =>
          emit({ event: "message", subscription: command.id, headers: message.headers, body: message.body }),
        headers,
      );
    },
    unsubscribe(command) {
      subscriptions[command.id].unsubscribe();
    },
    send(command) {
      const headers = command.headers || {};
      if (headers.receipt) {
        client.watchForReceipt(headers.receipt, () => emit({ event: "receipt", id: headers.receipt }));
      }
      client.publish({ destination: command.destination, body: command.body, headers });
    },
    disconnect() {
      client.deactivate();
    },
  };
} else {
  const Stomp = require("stompjs");
  const ws = socket();
  const client = Stomp.over(ws);
  client.debug = null;
  client.onreceipt = (frame) => emit({ event: "receipt", id: frame.headers["receipt-id"] });
  ws.addEventListener("close", (event) => emit({ event: "closed", code: event.code }));
  client.connect(
    connectHeaders,
    (frame) => emit({ event: "connected", headers: frame.headers }),
    (error) => {
      if (typeof error === "object" && error.command === "ERROR") {
        emit({ event: "error", headers: error.headers, body: error.body });
      }
    },
  );
  api = {
    subscribe(command) {
      subscriptions[command.id] = client.subscribe(
        command.destination,
        (message) =>
          emit({ event: "message", subscription: command.id, headers: message.headers, body: message.body }),
        { id: command.id, ...(command.headers || {}) },
      );
    },
    unsubscribe(command) {
      subscriptions[command.id].unsubscribe();
    },
    send(command) {
      client.send(command.destination, command.headers || {}, command.body);
    },
    disconnect() {
      client.disconnect(() => emit({ event: "disconnected" }));
    },
  };
}

readline.createInterface({ input: process.stdin }).on("line", (line) => {
  const command = JSON.parse(line);
  try {
    api[command.op](command);
  } catch (error) {
    emit({ event: "exception", message: String(error) });
  }
});
process.stdin.on("end", () => process.exit(0));
