// Read positions on the server (docs/protocol.md, `read` and `read.updated`): what the user has
// seen of the open room goes to the server in `read` frames, at most one per READ_INTERVAL per
// room; each room's unread and mention counts come from the server (the room objects of `rooms`,
// then `read.updated`, sent to every connection of the user on every node) and move with the live
// frames in between. So every browser and device of a user shows the same counts, a new browser
// included. No DOM code besides watching which messages are on screen: the page draws the counts.
//
//   const reads = new ChatReads.ReadTracker(client, { me, onChange: (slug, counts) => ... });
//   reads.watch(activeSlug, scroller, list);   // the open room's messages: li[data-seq]
//   reads.counts(slug) -> {unread, mentions, readSeq};  reads.total() -> {unread, mentions}
"use strict";

(function () {
  // At most one `read` frame per room per interval (the first at once, the latest at its end):
  // the server stores each node's reads together every 0.5 s anyway (CHAT_READ_FLUSH_INTERVAL).
  const READ_INTERVAL = 1000;
  // A message counts as seen when this share of it is on screen.
  const SEEN_RATIO = 0.5;

  class RoomReads {
    constructor() {
      this.readSeq = null; // the read position: the server's, or further if read here since (null: never read)
      this.serverSeq = null; // the server's alone, as it last said (`rooms`, `read.updated`)
      this.private = false; // a private room (or DM) counts unread from its start if never read
      // The server's counts, as of the room's seq `asOf`; `live`: messages after it, counted here.
      this.base = { unread: 0, mentions: 0, asOf: 0 };
      this.live = new Map(); // seq -> {unread: bool, mention: bool}
      this.sent = 0; // the highest seq sent in a `read` frame
      this.pending = 0; // the highest seq seen, not sent yet
      this.lastSentAt = -Infinity;
      this.timer = null;
    }

    fromServer(readSeq, unread, mentions, asOf) {
      if (readSeq !== null && readSeq !== undefined) {
        this.readSeq = Math.max(this.readSeq || 0, readSeq);
        this.serverSeq = Math.max(this.serverSeq || 0, readSeq);
      }
      this.base = { unread, mentions, asOf: asOf || 0 };
      for (const seq of [...this.live.keys()]) if (seq <= this.base.asOf) this.live.delete(seq);
      // Counts made before this page's latest `read` was stored: what was read here stays read.
      const mine = Math.max(this.sent, this.pending);
      if (mine > 0) this.readTo(mine);
    }

    // The user has read up to seq here (sent, or about to be): nothing at or before it is unread.
    readTo(seq) {
      this.readSeq = Math.max(this.readSeq || 0, seq);
      for (const s of [...this.live.keys()]) if (s <= seq) this.live.delete(s);
      if (seq >= this.base.asOf) this.base = { unread: 0, mentions: 0, asOf: seq };
    }

    counts() {
      let unread = this.base.unread;
      let mentions = this.base.mentions;
      for (const item of this.live.values()) {
        if (item.unread) unread += 1;
        if (item.mention) mentions += 1;
      }
      return { unread, mentions, readSeq: this.readSeq };
    }
  }

  class ReadTracker {
    // options.me: the signed-in username (own messages are never unread); options.onChange(slug,
    // counts): called whenever a room's counts may have changed.
    constructor(client, options) {
      this.client = client;
      this.me = options && options.me;
      this.onChange = (options && options.onChange) || (() => {});
      this.rooms = new Map(); // slug -> RoomReads
      this.active = null;
      this.visible = new Set(); // the open room's message elements on screen now
      this.list = null;
      this.observers = []; // of the open room's list (watch)
      client.on("rooms", (frame) => {
        for (const room of frame.rooms) {
          const state = this.room(room.slug);
          state.private = Boolean(room.private);
          if ("unread" in room) state.fromServer(room.read_seq, room.unread, room.mentions, room.last_seq);
          this.changed(room.slug);
        }
      });
      // A room that appears later (a DM opened by someone else, an invitation) counts by its kind.
      for (const type of ["room.created", "room.updated", "room.archived"]) {
        client.on(type, (frame) => { this.room(frame.room.slug).private = Boolean(frame.room.private); });
      }
      client.on("dm.opened", (frame) => { this.room(frame.room).private = true; });
      client.on("read.updated", (frame) => {
        const state = this.room(frame.room);
        if (state.readSeq !== null && frame.seq < state.readSeq) return; // older than what we know
        state.fromServer(frame.seq, frame.unread, frame.mentions, frame.last_seq);
        this.changed(frame.room);
      });
      client.on("message", (frame) => this.onMessage(frame));
      client.on("message.changed", (frame) => {
        if (frame.change !== "deleted") return;
        const state = this.rooms.get(frame.room);
        if (state && state.live.delete(frame.message.seq)) this.changed(frame.room);
      });
      client.on("notification", (frame) => {
        if (frame.kind !== "mention") return;
        const state = this.room(frame.room);
        if (frame.seq <= Math.max(state.readSeq || 0, state.base.asOf)) return;
        const item = state.live.get(frame.seq) || { unread: false, mention: false };
        item.mention = true;
        state.live.set(frame.seq, item);
        this.changed(frame.room);
      });
      client.on("open", () => { for (const slug of this.rooms.keys()) this.flush(slug); });
      document.addEventListener("visibilitychange", () => this.reportVisible());
      window.addEventListener("focus", () => this.reportVisible());
    }

    room(slug) {
      if (!this.rooms.has(slug)) this.rooms.set(slug, new RoomReads());
      return this.rooms.get(slug);
    }

    changed(slug) { this.onChange(slug, this.counts(slug)); }

    // The read position the server last reported for the room, without this page's reads since.
    serverSeq(slug) {
      const state = this.rooms.get(slug);
      return state ? state.serverSeq : null;
    }

    counts(slug) {
      const state = this.rooms.get(slug);
      return state ? state.counts() : { unread: 0, mentions: 0, readSeq: null };
    }

    total() {
      let unread = 0;
      let mentions = 0;
      for (const state of this.rooms.values()) {
        const counts = state.counts();
        unread += counts.unread;
        mentions += counts.mentions;
      }
      return { unread, mentions };
    }

    onMessage(frame) {
      const state = this.room(frame.room);
      if (frame.seq <= Math.max(state.readSeq || 0, state.base.asOf)) return; // counted or read
      // The server's rule (docs/protocol.md): own messages, deleted ones and, in a public room
      // never read, any message are not unread.
      if (frame.author === this.me || frame.deleted || (state.readSeq === null && !state.private)) return;
      if (frame.kind === "system") return; // system lines are never unread
      const item = state.live.get(frame.seq) || { unread: false, mention: false };
      item.unread = true;
      state.live.set(frame.seq, item);
      this.changed(frame.room);
    }

    // The user has seen `slug` up to `seq`: counted as read here at once, sent to the server at
    // most once per READ_INTERVAL.
    seen(slug, seq) {
      const state = this.room(slug);
      if (!(seq > Math.max(state.pending, state.sent, state.readSeq || 0))) return;
      state.pending = seq;
      state.readTo(seq);
      this.changed(slug);
      if (state.timer === null) {
        const wait = Math.max(0, state.lastSentAt + READ_INTERVAL - Date.now());
        state.timer = setTimeout(() => { state.timer = null; this.flush(slug); }, wait);
      }
    }

    flush(slug) {
      const state = this.rooms.get(slug);
      if (!state || state.pending <= state.sent || state.timer !== null) return;
      // Not connected: sent again on "open".
      if (!this.client.send({ type: "read", room: slug, seq: state.pending })) return;
      state.sent = state.pending;
      state.lastSentAt = Date.now();
    }

    // Whether what is on screen is being seen: the page is shown and has the focus.
    attending() {
      return document.visibilityState === "visible" && document.hasFocus();
    }

    // Follow the open room's messages (`li[data-seq]` in `list`, scrolled in `scroller`): those on
    // screen while the page is attended are seen; the newest on screen also covers the room's
    // later changes (edits, reactions), which share its seq.
    // Called again on every room switch (the page's one scroller shows each room's list in turn);
    // watch(null) while no room is open.
    watch(slug, scroller, list) {
      for (const observer of this.observers) observer.disconnect();
      this.observers = [];
      this.visible.clear(); // the previous room's messages say nothing of this one
      this.active = slug;
      this.list = list;
      if (!slug) return;
      const observer = new IntersectionObserver((entries) => {
        for (const entry of entries) {
          if (entry.isIntersecting) this.visible.add(entry.target);
          else this.visible.delete(entry.target);
        }
        this.reportVisible();
      }, { root: scroller, threshold: SEEN_RATIO });
      const observe = (node) => {
        if (node.nodeType !== 1) return;
        if (node.matches("li[data-seq]")) observer.observe(node);
        for (const child of node.querySelectorAll("li[data-seq]")) observer.observe(child);
      };
      observe(list);
      const mutations = new MutationObserver((records) => {
        for (const record of records) {
          for (const node of record.addedNodes) observe(node);
          for (const node of record.removedNodes) {
            if (node.nodeType === 1) { observer.unobserve(node); this.visible.delete(node); }
          }
        }
      });
      mutations.observe(list, { childList: true, subtree: true });
      this.observers = [observer, mutations];
    }

    reportVisible() {
      if (!this.active || !this.attending() || this.visible.size === 0) return;
      let highest = 0;
      for (const node of this.visible) if (this.list.contains(node)) highest = Math.max(highest, Number(node.dataset.seq) || 0);
      const items = this.list.querySelectorAll("li[data-seq]");
      const newest = items.length ? items[items.length - 1] : null;
      const room = this.client.rooms.get(this.active);
      if (newest && this.visible.has(newest) && room && room.lastSeq) highest = Math.max(highest, room.lastSeq);
      if (highest > 0) this.seen(this.active, highest);
    }
  }

  window.ChatReads = { ReadTracker, READ_INTERVAL };
})();
