// A client for the chat protocol (docs/protocol.md): one connection for every room, reconnect with
// backoff and jitter, resubscribe with `since`, messages keyed by seq, unacked sends retried with
// the same client_msg_id. The connection is sockjs-client's: WebSocket first, then HTTP
// streaming or polling where WebSocket is blocked. No DOM code here: app.js renders.
//
// The outbox never loses a typed message: a room's unacked sends go out one at a time, in the order
// they were typed (one refused with rate_limited goes again after its retry_after, and the ones typed
// after it wait for it), and they are kept in localStorage under the signed-in user's key, so that a
// reload sends them (the server acks a repeated client_msg_id without storing it twice).
"use strict";

(function () {
  function newClientMsgId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return Date.now().toString(36) + "-" + Math.random().toString(36).slice(2);
  }

  const OPEN = 1; // SockJS.OPEN; not WebSocket.OPEN: a browser may have no WebSocket at all
  // The server's cap on one connection's rooms (docs/protocol.md). Subscribing past it would only be
  // refused, and more than 20 refused frames within 10 s close the connection (4429).
  const MAX_SUBSCRIPTIONS = 200;

  // Unacked message.send frames in the order they were typed, mirrored in localStorage: one entry
  // per message, so that two tabs of the same user never overwrite each other's.
  class Outbox {
    constructor(prefix) {
      this.prefix = prefix || null; // null: kept in memory only
      this.entries = new Map(); // client_msg_id -> {frame, at, n}, oldest first
      this.count = 0;
      for (const entry of this.load()) this.entries.set(entry.frame.client_msg_id, entry);
    }

    load() {
      const found = [];
      if (!this.prefix) return found;
      try {
        for (let i = 0; i < localStorage.length; i += 1) {
          const key = localStorage.key(i);
          if (!key || !key.startsWith(this.prefix)) continue;
          const entry = JSON.parse(localStorage.getItem(key));
          if (entry && entry.frame && entry.frame.type === "message.send") found.push(entry);
        }
      } catch (e) { /* storage unavailable or corrupt: start empty */ }
      found.sort((a, b) => a.at - b.at || a.n - b.n);
      this.count = found.length;
      return found;
    }

    add(frame) {
      const entry = { frame, at: Date.now(), n: (this.count += 1) };
      this.entries.set(frame.client_msg_id, entry);
      this.store(frame.client_msg_id, entry);
    }

    remove(id) {
      this.entries.delete(id);
      this.store(id, null);
    }

    store(id, entry) {
      if (!this.prefix) return;
      try {
        if (entry) localStorage.setItem(this.prefix + id, JSON.stringify(entry));
        else localStorage.removeItem(this.prefix + id);
      } catch (e) { /* full or unavailable: the message is still sent from memory */ }
    }

    get(id) { const entry = this.entries.get(id); return entry && entry.frame; }
    room(slug) { return [...this.entries.values()].map((e) => e.frame).filter((f) => f.room === slug); }
    rooms() { return new Set([...this.entries.values()].map((e) => e.frame.room)); }
  }

  class ChatClient {
    // options.outboxKey: the localStorage key prefix of the signed-in user's unsent messages.
    constructor(url, options) {
      this.url = url;
      this.rooms = new Map(); // slug -> {lastSeq: number|null}
      this.outbox = new Outbox(options && options.outboxKey);
      this.inFlight = new Map(); // slug -> client_msg_id of the room's send awaiting its answer
      this.held = new Map(); // slug -> timer: the room's first unsent message waits out a refusal
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
        this.inFlight.clear(); // unanswered on an earlier connection: sent again, acked once
        for (const slug of this.outbox.rooms()) this.pump(slug);
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
        // Rate limited, or too many connections (other tabs): wait longer before trying again.
        const base = event.code === 4429 || event.code === 4409 ? 10000 : 500;
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
      if (!this.rooms.has(slug) && this.rooms.size >= MAX_SUBSCRIPTIONS) return false;
      const room = this.rooms.get(slug) || { lastSeq: null };
      if (since !== undefined && since !== null && (room.lastSeq === null || since > room.lastSeq)) room.lastSeq = since;
      this.rooms.set(slug, room);
      this.sendSubscribe(slug, room);
      return true;
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

    // replyTo: the id of the message to reply to in its thread (optional); attachments: the ids of
    // the user's uploads it carries (optional). Kept and sent again like any other send until answered.
    sendMessage(slug, body, replyTo, attachments) {
      const id = newClientMsgId();
      const frame = { type: "message.send", room: slug, body, client_msg_id: id };
      if (replyTo) frame.reply_to = replyTo;
      if (attachments && attachments.length) frame.attachments = attachments;
      this.outbox.add(frame);
      this.pump(slug);
      return id;
    }

    // The room's messages not acked yet (typed on this page or kept from an earlier one), oldest first.
    unsent(slug) { return this.outbox.room(slug); }

    // Send the room's oldest unacked message, unless one is on its way or waits out a refusal.
    pump(slug) {
      if (this.inFlight.has(slug) || this.held.has(slug)) return;
      const [frame] = this.outbox.room(slug);
      if (frame && this.send(frame)) this.inFlight.set(slug, frame.client_msg_id);
    }

    // The room's message `id` was answered (acked, or refused for good): the next one may go.
    settle(slug, id) {
      if (this.inFlight.get(slug) === id) this.inFlight.delete(slug);
      this.pump(slug);
    }

    // The room's message `id` was refused for now: it goes again in `seconds`, still first.
    hold(slug, id, seconds) {
      if (this.inFlight.get(slug) === id) this.inFlight.delete(slug);
      clearTimeout(this.held.get(slug));
      this.held.set(slug, setTimeout(() => { this.held.delete(slug); this.pump(slug); }, seconds * 1000));
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

    // A message's earlier versions (`edits`, or an `error` with the returned ref).
    fetchEdits(slug, id) {
      const ref = "h-" + newClientMsgId();
      this.send({ type: "edits.fetch", room: slug, id, ref });
      return ref;
    }

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
        case "message.ack": {
          const sent = this.outbox.get(frame.client_msg_id);
          if (sent) {
            this.outbox.remove(frame.client_msg_id);
            this.settle(sent.room, frame.client_msg_id);
          }
          break;
        }
        case "done":
          this.changes.delete(frame.ref);
          break;
        case "error": {
          this.changes.delete(frame.ref);
          const refused = frame.ref ? this.outbox.get(frame.ref) : undefined;
          if (!refused) break;
          if (frame.code === "rate_limited") {
            // The server takes it after retry_after; 50 ms more for the clocks' sake.
            const wait = typeof frame.retry_after === "number" ? Math.min(frame.retry_after, 3600) : 2;
            this.hold(refused.room, frame.ref, wait + 0.05);
          } else if (frame.code === "internal_error") {
            this.hold(refused.room, frame.ref, 1 + Math.random());
          } else {
            // Refused for good (the room is gone, archived, ...): the room's next message goes.
            this.outbox.remove(frame.ref);
            this.settle(refused.room, frame.ref);
          }
          break;
        }
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
