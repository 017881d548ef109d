// A small client for the /ws/ protocol (docs/protocol.md): one socket, many rooms,
// reconnect with backoff and jitter, resubscribe with `since`, messages keyed by seq.
"use strict";

class ChatClient {
  constructor(url) {
    this.url = url || ((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws/");
    this.rooms = new Map();      // slug -> {lastSeq, onMessage}
    this.outbox = new Map();     // client_msg_id -> send frame, until acked
    this.handlers = {};
    this.attempt = 0;
    this.connect();
  }

  on(type, fn) { (this.handlers[type] = this.handlers[type] || []).push(fn); }
  emit(type, data) { (this.handlers[type] || []).forEach((fn) => fn(data)); }

  connect() {
    this.emit("status", this.attempt ? "reconnecting" : "connecting");
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.onopen = () => {
      this.attempt = 0;
      this.emit("status", "connected");
      for (const [slug, room] of this.rooms) this.subscribeFrame(slug, room);
      for (const frame of this.outbox.values()) ws.send(JSON.stringify(frame));
    };
    ws.onmessage = (event) => this.receive(JSON.parse(event.data));
    ws.onclose = (event) => {
      if (event.code === 4401) { this.emit("status", "signed out"); location.href = "/accounts/login/"; return; }
      this.emit("status", "offline");
      const delay = Math.min(30000, 500 * 2 ** this.attempt) * (0.5 + Math.random() / 2);
      this.attempt += 1;
      setTimeout(() => this.connect(), delay);
    };
  }

  send(frame) { if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(frame)); }

  subscribe(slug, onMessage) {
    const room = { lastSeq: null, onMessage };
    this.rooms.set(slug, room);
    this.subscribeFrame(slug, room);
  }

  subscribeFrame(slug, room) {
    const frame = { type: "subscribe", room: slug };
    if (room.lastSeq !== null) frame.since = room.lastSeq;
    this.send(frame);
  }

  sendMessage(slug, body) {
    const id = (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random()).replace(/[^A-Za-z0-9._:-]/g, "");
    const frame = { type: "message.send", room: slug, body, client_msg_id: id };
    this.outbox.set(id, frame);
    this.send(frame);
    return id;
  }

  deliver(slug, message) {
    const room = this.rooms.get(slug);
    if (!room) return;
    if (room.lastSeq !== null && message.seq <= room.lastSeq) return;  // already shown
    if (room.lastSeq !== null && message.seq > room.lastSeq + 1) {
      // A gap: fetch what is missing, then show this one.
      this.send({ type: "history.fetch", room: slug, before_seq: message.seq, limit: Math.min(100, message.seq - room.lastSeq - 1) });
    }
    room.lastSeq = Math.max(room.lastSeq || 0, message.seq);
    room.onMessage(message);
  }

  receive(frame) {
    switch (frame.type) {
      case "subscribed": {
        const room = this.rooms.get(frame.room);
        if (room && frame.recovered === false) room.lastSeq = frame.last_seq;
        if (room && room.lastSeq === null) room.lastSeq = frame.last_seq;
        break;
      }
      case "history": {
        const room = this.rooms.get(frame.room);
        if (room) frame.messages.forEach((m) => room.onMessage(m));
        break;
      }
      case "message": this.deliver(frame.room, frame); break;
      case "message.ack": this.outbox.delete(frame.client_msg_id); break;
      case "error":
        if (frame.ref && this.outbox.has(frame.ref) && frame.code !== "rate_limited") this.outbox.delete(frame.ref);
        break;
      default: break;
    }
    this.emit(frame.type, frame);
  }
}
window.ChatClient = ChatClient;
