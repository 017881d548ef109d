// A client for the chat protocol (docs/protocol.md): one connection for every room, reconnect with
// backoff and jitter, resubscribe with `since`, messages keyed by seq, unacked sends retried with
// the same client_msg_id. The connection is sockjs-client's: WebSocket first, then HTTP
// streaming or polling where WebSocket is blocked. No DOM code here: app.js renders.
"use strict";

(function () {
  function newClientMsgId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return Date.now().toString(36) + "-" + Math.random().toString(36).slice(2);
  }

  const OPEN = 1; // SockJS.OPEN; not WebSocket.OPEN: a browser may have no WebSocket at all

  class ChatClient {
    constructor(url) {
      this.url = url;
      this.rooms = new Map(); // slug -> {lastSeq: number|null}
      this.outbox = new Map(); // client_msg_id -> message.send frame, until acked
      this.changes = new Map(); // ref -> message.edit/delete or reaction.add/remove frame, until done
      this.handlers = new Map();
      this.attempt = 0;
      this.status = "connecting";
      this.ws = null;
      this.connect();
      window.addEventListener("online", () => { if (this.status !== "connected") this.reconnectNow(); });
    }

    on(type, fn) {
      if (!this.handlers.has(type)) this.handlers.set(type, []);
      this.handlers.get(type).push(fn);
    }

    emit(type, data) {
      for (const fn of this.handlers.get(type) || []) fn(data);
      for (const fn of this.handlers.get("*") || []) fn(type, data);
    }

    setStatus(status) {
      this.status = status;
      this.emit("status", status);
    }

    connect() {
      clearTimeout(this.retryTimer);
      // JSONP and the iframe transports are not served (docs/protocol.md, "SockJS").
      const ws = new SockJS(this.url, null, { transports: ["websocket", "xhr-streaming", "eventsource", "xhr-polling"] });
      this.ws = ws;
      ws.onopen = () => {
        this.attempt = 0;
        this.setStatus("connected");
        for (const [slug, room] of this.rooms) this.sendSubscribe(slug, room);
        for (const frame of this.outbox.values()) this.send(frame);
        // Changes are idempotent (docs/protocol.md: the same edit, a reaction already there, a
        // message already deleted answer `done` with seq null), so resending one is safe.
        for (const frame of this.changes.values()) this.send(frame);
        this.emit("open");
      };
      ws.onmessage = (event) => {
        let frame;
        try { frame = JSON.parse(event.data); } catch (e) { return; }
        this.receive(frame);
      };
      ws.onclose = (event) => {
        if (this.ws !== ws) return;
        if (event.code === 4401) {
          this.setStatus("signed-out");
          window.location.assign("/accounts/login/?next=" + encodeURIComponent(location.pathname));
          return;
        }
        this.setStatus(this.attempt === 0 ? "reconnecting" : "offline");
        const base = event.code === 4429 ? 10000 : 500;
        const delay = Math.min(30000, base * 2 ** this.attempt) * (0.5 + Math.random() / 2);
        this.attempt += 1;
        this.retryTimer = setTimeout(() => this.connect(), delay);
      };
    }

    reconnectNow() {
      if (this.ws && this.ws.readyState === OPEN) return;
      this.connect();
    }

    send(frame) {
      if (this.ws && this.ws.readyState === OPEN) {
        this.ws.send(JSON.stringify(frame));
        return true;
      }
      return false;
    }

    // since: null asks for the newest page as one `history` frame; a number asks for what follows it.
    subscribe(slug, since) {
      const room = this.rooms.get(slug) || { lastSeq: null };
      if (since !== undefined && since !== null && (room.lastSeq === null || since > room.lastSeq)) room.lastSeq = since;
      this.rooms.set(slug, room);
      this.sendSubscribe(slug, room);
    }

    sendSubscribe(slug, room) {
      const frame = { type: "subscribe", room: slug };
      if (room.lastSeq !== null) frame.since = room.lastSeq;
      this.send(frame);
    }

    unsubscribe(slug) {
      this.rooms.delete(slug);
      this.send({ type: "unsubscribe", room: slug });
    }

    // replyTo: the id of the message to reply to in its thread (optional).
    sendMessage(slug, body, replyTo) {
      const id = newClientMsgId();
      const frame = { type: "message.send", room: slug, body, client_msg_id: id };
      if (replyTo) frame.reply_to = replyTo;
      this.outbox.set(id, frame);
      this.send(frame);
      return id;
    }

    fetchHistory(slug, beforeSeq, limit) {
      const frame = { type: "history.fetch", room: slug, limit: limit || 50 };
      if (beforeSeq) frame.before_seq = beforeSeq;
      this.send(frame);
    }

    typing(slug) { this.send({ type: "typing", room: slug }); }

    // A change to a message: {type: "message.edit" | "message.delete" | "reaction.add" |
    // "reaction.remove", room, id, ...}. Kept until its `done` or `error` (matched by ref) and
    // resent after a reconnect; returns the ref.
    change(frame) {
      const ref = "c-" + newClientMsgId();
      const sent = Object.assign({}, frame, { ref });
      this.changes.set(ref, sent);
      this.send(sent);
      return ref;
    }

    fetchThread(slug, id) { this.send({ type: "thread.fetch", room: slug, id }); }

    receive(frame) {
      switch (frame.type) {
        case "subscribed": {
          const room = this.rooms.get(frame.room);
          if (room && (room.lastSeq === null || frame.recovered === false)) room.lastSeq = frame.last_seq;
          break;
        }
        case "message":
        case "message.changed": {
          // Both kinds share the room's seq (docs/protocol.md): last_seq counts every change.
          const room = this.rooms.get(frame.room);
          if (room && room.lastSeq !== null) {
            if (frame.seq <= room.lastSeq) return; // a repeat
            if (frame.type === "message" && frame.seq > room.lastSeq + 1) {
              // A gap: fetch what is missing (the UI places messages by seq).
              this.fetchHistory(frame.room, frame.seq, Math.min(100, frame.seq - room.lastSeq - 1));
            }
          }
          if (room) room.lastSeq = Math.max(room.lastSeq || 0, frame.seq);
          break;
        }
        case "message.ack":
          this.outbox.delete(frame.client_msg_id);
          break;
        case "done":
          this.changes.delete(frame.ref);
          break;
        case "error":
          this.changes.delete(frame.ref);
          // A refused message will not succeed by retrying, except a rate limit.
          if (frame.ref && this.outbox.has(frame.ref) && frame.code !== "rate_limited" && frame.code !== "internal_error") {
            this.outbox.delete(frame.ref);
          }
          break;
        case "unsubscribed":
          if (frame.reason) this.rooms.delete(frame.room);
          break;
        default:
          break;
      }
      this.emit(frame.type, frame);
    }
  }

  window.ChatClient = ChatClient;
})();
