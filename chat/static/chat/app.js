// The web UI: rooms sidebar with unread counts, the open room, composer, notifications.
// All user text goes into the page with textContent, never as HTML.
"use strict";

(function () {
  const gettext = window.gettext || ((s) => s);
  const interpolate = window.interpolate || ((fmt, args) => fmt.replace("%s", args[0]));
  const app = document.getElementById("app");
  if (!app) return;
  const me = app.dataset.username;
  const userId = app.dataset.userId; // keys what this browser keeps for this user only
  const active = app.dataset.active || null;
  const client = new ChatClient(location.origin + app.dataset.sockjsPath, { outboxKey: "chat:outbox:" + userId + ":" });
  window.chatClient = client; // for debugging and the browser tests

  const el = (id) => document.getElementById(id);
  const roomsList = el("rooms");
  const statusEl = el("status");
  const rooms = new Map(); // slug -> room object from the server, plus lastSeq

  // --- read markers and unread counts (per browser) -------------------------------------

  const readKey = (slug) => "chat:read:" + me + ":" + slug;
  const readSeq = (slug) => Number(localStorage.getItem(readKey(slug)) || 0);
  function markRead(slug, seq) {
    if (seq > readSeq(slug) || localStorage.getItem(readKey(slug)) === null) localStorage.setItem(readKey(slug), String(seq));
    renderUnread(slug);
  }
  function unread(slug) {
    const room = rooms.get(slug);
    return room ? Math.max(0, (room.last_seq || 0) - readSeq(slug)) : 0;
  }
  function renderUnread(slug) {
    const item = roomItem(slug);
    if (item) {
      let badge = item.querySelector(".badge");
      const count = slug === active && document.visibilityState === "visible" && atBottom() ? 0 : unread(slug);
      if (count > 0) {
        if (!badge) {
          badge = document.createElement("span");
          badge.className = "badge";
          item.querySelector("a").append(" ", badge);
        }
        badge.textContent = count > 99 ? "99+" : String(count);
        badge.setAttribute("aria-label", interpolate(gettext("%s unread"), [count]));
      } else if (badge) {
        badge.remove();
      }
    }
    let total = 0;
    for (const s of rooms.keys()) total += s === active && document.visibilityState === "visible" ? 0 : unread(s);
    const base = document.title.replace(/^\(\d+\+?\) /, "");
    document.title = total > 0 ? `(${total > 99 ? "99+" : total}) ${base}` : base;
  }

  // --- sidebar ----------------------------------------------------------------------------

  const roomItem = (slug) => roomsList.querySelector(`li[data-slug="${CSS.escape(slug)}"]`);

  function upsertRoom(room) {
    const known = rooms.get(room.slug);
    // A room seen for the first time starts with nothing unread: its old messages are history.
    if (localStorage.getItem(readKey(room.slug)) === null) markRead(room.slug, room.slug === active ? 0 : room.last_seq || 0);
    rooms.set(room.slug, Object.assign(known || {}, room));
    let item = roomItem(room.slug);
    if (!item) {
      item = document.createElement("li");
      item.dataset.slug = room.slug;
      roomsList.append(item);
      const empty = roomsList.querySelector(".empty");
      if (empty) empty.remove();
    }
    item.textContent = "";
    const link = document.createElement("a");
    link.href = "/rooms/" + encodeURIComponent(room.slug) + "/";
    const title = document.createElement("span");
    title.className = "room-title";
    title.textContent = room.title;
    link.append(title);
    for (const [flag, label] of [[room.private, gettext("private")], [room.archived, gettext("archived")]]) {
      if (!flag) continue;
      const tag = document.createElement("span");
      tag.className = "tag";
      tag.textContent = label;
      link.append(" ", tag);
    }
    item.append(link);
    if (room.slug === active) {
      item.setAttribute("aria-current", "page");
      applyRoomHeader(room);
    }
    renderUnread(room.slug);
  }

  // The open room subscribes below (with its history); other rooms are followed for their unread
  // counts, but a connection may hold 200 subscriptions (docs/protocol.md), and anyone may create
  // rooms. So the UI follows at most BACKGROUND_ROOMS others: the busiest (highest last_seq), which a
  // flood of new, empty rooms cannot push out. The rest are listed, with the counts of the last
  // `rooms` list (sent on every connect).
  const BACKGROUND_ROOMS = 100;
  function followBusiestRooms() {
    const others = [...rooms.values()].filter((room) => room.slug !== active);
    others.sort((a, b) => (b.last_seq || 0) - (a.last_seq || 0) || (a.slug < b.slug ? -1 : 1));
    const wanted = new Set(others.slice(0, BACKGROUND_ROOMS).map((room) => room.slug));
    for (const slug of [...client.rooms.keys()]) if (slug !== active && !wanted.has(slug)) client.unsubscribe(slug);
    for (const slug of wanted) if (!client.rooms.has(slug)) client.subscribe(slug, rooms.get(slug).last_seq);
  }

  function removeRoom(slug) {
    rooms.delete(slug);
    const item = roomItem(slug);
    if (item) item.remove();
    if (slug === active) {
      showToast(gettext("You no longer have access to this room."));
      setComposerEnabled(false);
    } else if (client.rooms.has(slug)) {
      client.unsubscribe(slug);
    }
  }

  client.on("open", () => {
    statusEl.dataset.transport = client.ws.transport || ""; // which SockJS transport got through
    client.send({ type: "rooms.list" });
  });
  client.on("rooms", (frame) => {
    const visible = new Set(frame.rooms.map((r) => r.slug));
    for (const slug of [...rooms.keys()]) if (!visible.has(slug)) removeRoom(slug);
    for (const li of roomsList.querySelectorAll("li[data-slug]")) if (!visible.has(li.dataset.slug)) li.remove();
    for (const room of frame.rooms) upsertRoom(room);
    followBusiestRooms();
  });
  for (const type of ["room.created", "room.updated", "room.archived"]) {
    client.on(type, (f) => { upsertRoom(f.room); followBusiestRooms(); });
  }
  client.on("room.removed", (f) => { removeRoom(f.room); followBusiestRooms(); });

  // --- connection status --------------------------------------------------------------------

  const statusText = {
    connecting: gettext("connecting…"),
    connected: gettext("connected"),
    reconnecting: gettext("reconnecting…"),
    offline: gettext("offline, retrying…"),
    "signed-out": gettext("signed out"),
  };
  client.on("status", (status) => {
    statusEl.dataset.state = status;
    statusEl.textContent = statusText[status] || status;
  });

  // --- notifications ---------------------------------------------------------------------------

  // One toast at a time (a new one replaces it), above the room, never over the composer; only a
  // mention's toast (a link) takes clicks.
  const toasts = el("toasts");
  let toastTimer = null;
  function showToast(text, href) {
    const toast = document.createElement(href ? "a" : "div");
    toast.className = "toast";
    if (href) toast.href = href;
    const line = document.createElement("span"); // clamped to three lines (a mention can be long)
    line.className = "toast-text";
    line.textContent = text;
    toast.append(line);
    toasts.replaceChildren(toast);
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => toast.remove(), 6000);
  }
  const notifyButton = el("enable-notifications");
  if ("Notification" in window && Notification.permission === "default") {
    notifyButton.hidden = false;
    notifyButton.addEventListener("click", () => Notification.requestPermission().then(() => { notifyButton.hidden = true; }));
  }
  client.on("notification", (frame) => {
    if (frame.room === active && document.visibilityState === "visible") return;
    const text = interpolate(gettext("%s mentioned you"), [frame.from || "?"]) + ": " + frame.body;
    showToast(text, "/rooms/" + encodeURIComponent(frame.room) + "/");
    if ("Notification" in window && Notification.permission === "granted") {
      new Notification(interpolate(gettext("%s mentioned you"), [frame.from || "?"]), { body: frame.body, tag: frame.room + ":" + frame.seq });
    }
  });

  // Messages of other rooms only move their unread counts.
  client.on("message", (frame) => {
    const room = rooms.get(frame.room);
    if (room) room.last_seq = Math.max(room.last_seq || 0, frame.seq);
    if (frame.room !== active) renderUnread(frame.room);
  });

  if (!active) return;

  // --- the open room ---------------------------------------------------------------------------

  const scroller = el("scroller");
  const list = el("messages");
  const body = el("body");
  const composer = el("composer");
  const live = el("live");
  const historyStatus = el("history-status");
  const shown = new Map(); // seq -> <li>
  const pending = new Map(); // client_msg_id -> <li> of my message until the room's copy arrives
  let oldestSeq = null;
  let hasMore = true;
  let loadingHistory = false;
  let markerPlaced = false;
  const readAtOpen = readSeq(active);

  function atBottom() {
    return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 40;
  }

  function applyRoomHeader(room) {
    el("room-title").textContent = room.title;
    el("room-description").textContent = room.description || "";
    document.title = room.title + " · " + gettext("Chat");
    setComposerEnabled(!room.archived);
    el("archived-note").hidden = !room.archived;
  }

  function setComposerEnabled(enabled) {
    body.disabled = !enabled;
    composer.querySelector("button").disabled = !enabled;
  }

  function formatTime(iso) {
    const date = new Date(iso);
    return date.toLocaleTimeString(document.documentElement.lang || undefined, { hour: "2-digit", minute: "2-digit" });
  }

  // Body text with @mentions highlighted, built from text nodes only.
  function renderBody(container, text) {
    const pattern = /(^|[^\w@])@([\w.+-]+)/g;
    let last = 0;
    let match;
    while ((match = pattern.exec(text)) !== null) {
      const start = match.index + match[1].length;
      container.append(document.createTextNode(text.slice(last, start)));
      const mention = document.createElement("span");
      mention.className = match[2].replace(/\.$/, "") === me ? "mention mention-me" : "mention";
      mention.textContent = "@" + match[2];
      container.append(mention);
      last = start + 1 + match[2].length;
    }
    container.append(document.createTextNode(text.slice(last)));
  }

  function messageItem(message) {
    const item = document.createElement("li");
    item.className = "message";
    item.dataset.seq = String(message.seq);
    item.dataset.author = message.author || "";
    item.dataset.time = message.created_at;
    const meta = document.createElement("div");
    meta.className = "meta";
    const author = document.createElement("span");
    author.className = "author";
    author.textContent = message.author || gettext("[deleted user]");
    const time = document.createElement("time");
    time.dateTime = message.created_at;
    time.textContent = formatTime(message.created_at);
    meta.append(author, " ", time);
    const text = document.createElement("div");
    text.className = "body";
    renderBody(text, message.body);
    item.append(meta, text);
    return item;
  }

  // Consecutive messages of one author within 5 minutes share one header.
  function regroup(item) {
    for (const node of [item, item.nextElementSibling]) {
      if (!node || !node.classList.contains("message")) continue;
      const prev = node.previousElementSibling;
      const grouped = prev && prev.classList.contains("message") && prev.dataset.author === node.dataset.author &&
        new Date(node.dataset.time) - new Date(prev.dataset.time) < 5 * 60 * 1000;
      node.classList.toggle("grouped", Boolean(grouped));
    }
  }

  function placeMarker() {
    if (markerPlaced) return;
    const first = [...shown.keys()].filter((s) => s > readAtOpen).sort((a, b) => a - b)[0];
    if (first === undefined || readAtOpen === 0) return;
    const marker = document.createElement("li");
    marker.className = "new-marker";
    marker.id = "new-marker";
    marker.textContent = gettext("New messages");
    list.insertBefore(marker, shown.get(first));
    markerPlaced = true;
  }

  function addMessage(message, { announce } = {}) {
    if (message.deleted) { removeMessage(message.seq); return; }
    if (shown.has(message.seq)) return;
    const stick = atBottom();
    const item = messageItem(message);
    if (message.author && message.body.match(new RegExp("(^|[^\\w@])@" + me.replace(/[.*+?^${}()|[\]\\]/g, "\\$&") + "\\b"))) {
      item.classList.add("mentions-me");
    }
    const later = [...shown.keys()].filter((s) => s > message.seq).sort((a, b) => a - b)[0];
    list.insertBefore(item, later === undefined ? (list.querySelector(".outgoing") || null) : shown.get(later));
    shown.set(message.seq, item);
    regroup(item);
    oldestSeq = oldestSeq === null ? message.seq : Math.min(oldestSeq, message.seq);
    const mine = pending.get(message.client_msg_id);
    if (mine && message.author === me) { mine.remove(); pending.delete(message.client_msg_id); }
    if (announce) live.textContent = (message.author || "") + ": " + message.body;
    if (stick) scroller.scrollTop = scroller.scrollHeight;
  }

  function removeMessage(seq) {
    const item = shown.get(seq);
    if (!item) return;
    const next = item.nextElementSibling;
    item.remove();
    shown.delete(seq);
    if (next) regroup(next);
  }

  client.on("subscribed", (frame) => {
    if (frame.room !== active) return;
    upsertRoom(frame.info);
    if (frame.recovered === false) {
      // Too much was missed: start again from the newest page.
      for (const seq of [...shown.keys()]) removeMessage(seq);
      oldestSeq = null;
      hasMore = true;
      client.fetchHistory(active, frame.last_seq + 1, 50);
    }
  });
  client.on("history", (frame) => {
    if (frame.room !== active) return;
    const before = scroller.scrollHeight;
    const wasTop = loadingHistory;
    for (const message of frame.messages) addMessage(message);
    if (wasTop) scroller.scrollTop += scroller.scrollHeight - before; // keep the view steady
    hasMore = frame.has_more;
    loadingHistory = false;
    historyStatus.textContent = hasMore ? "" : gettext("This is the beginning of the room.");
    placeMarker();
    if (!wasTop && !markerPlaced) scroller.scrollTop = scroller.scrollHeight;
    if (markerPlaced && !wasTop) el("new-marker").scrollIntoView({ block: "center" });
    maybeMarkRead();
  });
  client.on("message", (frame) => {
    if (frame.room !== active) return;
    if (typingUsers.has(frame.author)) {
      clearTimeout(typingUsers.get(frame.author));
      typingUsers.delete(frame.author);
      renderTyping();
    }
    addMessage(frame, { announce: true });
    maybeMarkRead();
  });
  client.on("message.changed", (frame) => {
    if (frame.room !== active) return;
    const message = frame.message;
    if (message.deleted) { removeMessage(message.seq); return; }
    const item = shown.get(message.seq);
    if (item) renderBody(item.querySelector(".body"), message.body);
  });
  client.on("message.ack", (frame) => {
    const item = pending.get(frame.client_msg_id);
    if (!item) return;
    // Already shown, or older than the newest shown (an ack of a resend, which is not broadcast again):
    // the room's copy is in place. Else it follows at once, and replaces this one.
    if (shown.has(frame.seq) || frame.seq < Math.max(0, ...shown.keys())) {
      item.remove();
      pending.delete(frame.client_msg_id);
      return;
    }
    item.classList.replace("pending", "sent");
    item.querySelector(".state").textContent = "";
  });
  client.on("error", (frame) => {
    if (frame.code === "rate_limited") {
      const seconds = Math.max(1, Math.ceil(typeof frame.retry_after === "number" ? frame.retry_after : 2));
      showToast(interpolate(gettext("You are sending too fast: your messages go out in %s s, in order."), [seconds]));
      return;
    }
    const item = pending.get(frame.ref);
    if (item && frame.code !== "internal_error") {
      item.classList.replace("pending", "failed");
      item.querySelector(".state").textContent = interpolate(gettext("not sent: %s"), [frame.detail]);
      pending.delete(frame.ref);
    }
  });

  // Infinite scroll-back.
  scroller.addEventListener("scroll", () => {
    if (scroller.scrollTop < 80 && hasMore && !loadingHistory && oldestSeq !== null && oldestSeq > 1) {
      loadingHistory = true;
      historyStatus.textContent = gettext("Loading older messages…");
      client.fetchHistory(active, oldestSeq, 50);
    }
    maybeMarkRead();
  });

  function maybeMarkRead() {
    if (document.visibilityState !== "visible" || !atBottom()) { renderUnread(active); return; }
    const newest = Math.max(0, ...shown.keys());
    markRead(active, newest);
  }
  document.addEventListener("visibilitychange", maybeMarkRead);

  // Presence and typing.
  client.on("presence", (frame) => {
    if (frame.room === active) el("presence").textContent = frame.users.join(", ");
  });
  const typingUsers = new Map();
  function renderTyping() {
    const names = [...typingUsers.keys()];
    el("typing").textContent = names.length ? interpolate(gettext("%s is typing…"), [names.join(", ")]) : "";
  }
  client.on("typing", (frame) => {
    if (frame.room !== active) return;
    clearTimeout(typingUsers.get(frame.user));
    typingUsers.set(frame.user, setTimeout(() => { typingUsers.delete(frame.user); renderTyping(); }, 5000));
    renderTyping();
  });

  // Composer: Enter sends, Shift+Enter starts a new line; a message is pending until acked.
  let lastTyping = 0;
  body.addEventListener("input", () => {
    if (Date.now() - lastTyping > 2000 && body.value.trim()) { client.typing(active); lastTyping = Date.now(); }
  });
  body.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      composer.requestSubmit();
    }
  });
  // The draft of each room is kept (per user) until it is sent: leaving the page loses nothing.
  const draftKey = "chat:draft:" + userId + ":" + active;
  function saveDraft() {
    try {
      if (body.value) localStorage.setItem(draftKey, body.value);
      else localStorage.removeItem(draftKey);
    } catch (e) { /* storage unavailable: the draft lives as long as the page */ }
  }
  body.value = localStorage.getItem(draftKey) || "";
  body.addEventListener("input", saveDraft);
  composer.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = body.value;
    if (!text.trim()) return;
    showPending(client.sendMessage(active, text), text);
    body.value = "";
    saveDraft();
    scroller.scrollTop = scroller.scrollHeight;
  });
  // My messages not acked yet, until the room's copy replaces them (kept from an earlier page too).
  function showPending(id, text) {
    const item = document.createElement("li");
    item.className = "message outgoing pending";
    item.dataset.clientMsgId = id;
    const meta = document.createElement("div");
    meta.className = "meta";
    const author = document.createElement("span");
    author.className = "author";
    author.textContent = me;
    const state = document.createElement("span");
    state.className = "state";
    state.textContent = gettext("sending…");
    meta.append(author, " ", state);
    const bodyEl = document.createElement("div");
    bodyEl.className = "body";
    renderBody(bodyEl, text);
    item.append(meta, bodyEl);
    list.append(item);
    pending.set(id, item);
  }
  for (const frame of client.unsent(active)) showPending(frame.client_msg_id, frame.body);
  client.subscribe(active);
})();
