// The web UI: rooms sidebar with unread counts (reads.js, from the server), direct messages
// (dms.js, dmpicker.js), the open room (its messages are drawn by
// messages.js), the thread panel, composers, notifications. User text goes into the page with
// textContent; the one exception is a message's body, the server's sanitized `html` (messages.js).
//
// One page for every room: opening another room swaps the room's view in place (router.js keeps
// the URL and back/forward), the socket stays, and each room opened keeps its messages, scroll
// position and draft (RoomState below) for the next visit. A deep link (/rooms/<slug>/) loads the
// same page with that room open.
"use strict";

(function () {
  const gettext = window.gettext || ((s) => s);
  const interpolate = window.interpolate || ((fmt, args) => fmt.replace("%s", args[0]));
  const app = document.getElementById("app");
  if (!app) return;
  const me = app.dataset.username;
  const userId = app.dataset.userId; // keys what this browser keeps for this user only
  let active = app.dataset.active || null; // the open room's slug (null: the lobby)
  const client = new ChatClient(location.origin + app.dataset.sockjsPath, { outboxKey: "chat:outbox:" + userId + ":" });
  window.chatClient = client; // for debugging and the browser tests

  const el = (id) => document.getElementById(id);
  const roomsList = el("rooms");
  const dmsList = el("dms");
  const statusEl = el("status");
  const rooms = new Map(); // slug -> room object from the server, plus lastSeq
  const roomStates = new Map(); // slug -> RoomState of the rooms opened on this page, most recent last
  // The open room's member list (members.js) and settings (roomsettings.js); set up below, once
  // the page's people exist.
  const roomPanels = {};
  const people = new ChatPeople.People(client); // user objects (names, pictures) of the people shown

  // --- unread and mention counts: the server's, for every browser of the user (reads.js) -------

  const reads = new ChatReads.ReadTracker(client, { me, onChange: (slug) => renderUnread(slug) });
  const readSeq = (slug) => reads.counts(slug).readSeq || 0;
  const isDm = (slug) => rooms.has(slug) && rooms.get(slug).kind === "dm";
  function renderUnread(slug) {
    const item = slug && roomItem(slug);
    if (item) ChatRoomList.renderCounts(item, reads.counts(slug), { dm: isDm(slug) });
    let total = 0; // a public room never read counts only its mentions (docs/protocol.md, `read`)
    for (const s of rooms.keys()) { const counts = reads.counts(s); total += Math.max(counts.unread, counts.mentions); }
    const base = document.title.replace(/^\(\d+\+?\) /, "");
    document.title = total > 0 ? `(${total > 99 ? "99+" : total}) ${base}` : base;
  }

  // --- sidebar: rooms, then direct messages --------------------------------------------------

  const roomItem = (slug) => app.querySelector(`#rooms li[data-slug="${CSS.escape(slug)}"], #dms li[data-slug="${CSS.escape(slug)}"]`);
  const listedRooms = () => new Map([...rooms].filter(([, room]) => room.kind !== "dm")); // DMs have no duplicate titles

  function upsertRoom(room) {
    const known = rooms.get(room.slug);
    rooms.set(room.slug, Object.assign(known || {}, room));
    const list = room.kind === "dm" ? dmsList : roomsList;
    let item = roomItem(room.slug);
    if (!item) {
      item = document.createElement("li");
      item.dataset.slug = room.slug;
      list.append(item);
      const empty = list.querySelector(".empty");
      if (empty) empty.remove();
    }
    if (room.kind === "dm") ChatDMs.renderItem(item, room, { me, people });
    else ChatRoomList.renderItem(item, room);
    if (room.slug === active) {
      item.setAttribute("aria-current", "page");
      applyRoomHeader(room);
    }
    renderUnread(room.slug);
  }
  const refreshList = () => ChatRoomList.markDuplicates(roomsList, listedRooms());
  // A DM shows the other person's picture: drawn again when it arrives or changes.
  people.onChange((usernames) => {
    for (const slug of ChatDMs.showing(rooms, me, usernames)) upsertRoom(rooms.get(slug));
  });

  // The open room subscribes below (with its history); other rooms are followed for their unread
  // counts, but a connection may hold 200 subscriptions (docs/protocol.md), and anyone may create
  // rooms. So the UI follows at most BACKGROUND_ROOMS others: the busiest (highest last_seq), which a
  // flood of new, empty rooms cannot push out. The rest are listed, with the counts of the last
  // `rooms` list (sent on every connect).
  const BACKGROUND_ROOMS = 100;
  // Rooms opened on this page (their views are kept, see RoomState) stay followed too.
  function followBusiestRooms() {
    const others = [...rooms.values()].filter((room) => room.slug !== active && !roomStates.has(room.slug));
    others.sort((a, b) => (b.last_seq || 0) - (a.last_seq || 0) || (a.slug < b.slug ? -1 : 1));
    const wanted = new Set(others.slice(0, BACKGROUND_ROOMS).map((room) => room.slug));
    for (const slug of [...client.rooms.keys()]) {
      if (slug !== active && !roomStates.has(slug) && !wanted.has(slug)) client.unsubscribe(slug);
    }
    for (const slug of wanted) if (!client.rooms.has(slug)) client.subscribe(slug, rooms.get(slug).last_seq);
  }

  function removeRoom(slug) {
    rooms.delete(slug);
    const item = roomItem(slug);
    if (item) item.remove();
    if (slug === active && roomPanels.settings.isLeaving(slug)) {
      openRoom(null); // left it from the settings: back to the lobby, in place
    } else if (slug === active) {
      showToast(gettext("You no longer have access to this room."));
      setComposerEnabled(false);
    } else {
      roomStates.delete(slug);
      if (client.rooms.has(slug)) client.unsubscribe(slug);
    }
  }

  client.on("open", () => {
    statusEl.dataset.transport = client.ws.transport || ""; // which SockJS transport got through
    client.send({ type: "rooms.list" });
  });
  client.on("rooms", (frame) => {
    const visible = new Set(frame.rooms.map((r) => r.slug));
    for (const slug of [...rooms.keys()]) if (!visible.has(slug)) removeRoom(slug);
    for (const li of app.querySelectorAll("#rooms li[data-slug], #dms li[data-slug]")) if (!visible.has(li.dataset.slug)) li.remove();
    for (const room of frame.rooms) upsertRoom(room);
    people.want(frame.rooms.filter((room) => room.kind === "dm").flatMap((room) => ChatDMs.others(room, me)));
    refreshList();
    followBusiestRooms();
    placeMarker(); // the open room's read position is known now (reads.js took this frame first)
  });
  for (const type of ["room.created", "room.updated", "room.archived"]) {
    client.on(type, (f) => { upsertRoom(f.room); refreshList(); followBusiestRooms(); });
  }
  client.on("room.removed", (f) => { removeRoom(f.room); refreshList(); followBusiestRooms(); });
  ChatRoomList.warnDuplicateTitle(document.querySelector(".create form"), () => listedRooms().values());

  // A new direct message (the "New message" dialog): listed, then opened in place.
  const dmPicker = new ChatDmPicker.DmPicker(el("dm-picker"), {
    client,
    me,
    people,
    max: Number(app.dataset.dmMax) || 8,
    onOpened: (room) => {
      upsertRoom(room);
      followBusiestRooms();
      if (openRoom(room.slug)) focusRoom();
    },
  });
  el("dm-new").addEventListener("click", (event) => dmPicker.open(event.currentTarget));

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
  // A mention, or a message in a direct message (every one notifies its other members).
  client.on("notification", (frame) => {
    if (frame.room === active && document.visibilityState === "visible") return;
    const who = frame.from || "?";
    const title = frame.kind === "dm" ? interpolate(gettext("%s sent you a message"), [who]) : interpolate(gettext("%s mentioned you"), [who]);
    showToast(title + ": " + frame.body, ChatRouter.roomPath(frame.room, frame.kind === "dm" ? "dm" : rooms.has(frame.room) ? rooms.get(frame.room).kind : undefined));
    if ("Notification" in window && Notification.permission === "granted") {
      new Notification(title, { body: frame.body, tag: frame.room + ":" + frame.seq });
    }
  });

  // Messages of other rooms move their unread counts (reads.js).
  client.on("message", (frame) => {
    const room = rooms.get(frame.room);
    if (room) room.last_seq = Math.max(room.last_seq || 0, frame.seq);
  });

  // --- the open room ---------------------------------------------------------------------------

  const ngettext = window.ngettext || ((s, p, n) => (n === 1 ? s : p));
  const { MessageView } = window.ChatMessages;
  const { ReactionPicker, MentionAutocomplete } = window.ChatWidgets; // the editor's suggestions
  const roomPane = el("room-pane");
  const welcome = el("welcome");
  const scroller = el("scroller");
  const body = el("body");
  const composer = el("composer");
  const live = el("live");
  const historyStatus = el("history-status");
  const jump = el("jump");
  const pending = new Map(); // client_msg_id -> <li> of my message until the room's copy arrives (room or thread)
  const changeOps = new Map(); // ref of a message.edit, message.delete or reaction frame -> callbacks
  const authors = new Set(); // who wrote the messages seen, for @mention suggestions
  const presenceByRoom = new Map(); // slug -> usernames online (the last `presence` frame)
  const picker = new ReactionPicker();
  roomPanels.members = new window.ChatMembers.MemberPanel({
    client, people, me, panel: el("members"), toggle: el("members-toggle"),
    onOpen: () => closeThread(false),
    behind: () => [el("main"), app.querySelector(".sidebar"), document.querySelector("header.top")],
  });
  roomPanels.settings = new window.ChatRoomSettings.RoomSettings({
    client, people, me, dialog: el("room-settings"), toggle: el("settings-toggle"),
    onLeft: (slug) => { if (active === slug) openRoom(null); },
  });
  const KEPT_ROOMS = 12; // room views kept for a quick return; older ones are dropped (and refetched)

  // What one room's view holds while another is open: its list (detached from the page), where the
  // history stands, and where it was scrolled (null: at the end).
  class RoomState {
    constructor(slug) {
      this.slug = slug;
      this.list = document.createElement("ol");
      this.list.id = "messages"; // only the open room's list is in the page
      this.list.className = "messages";
      this.view = new MessageView(this.list, { me, people, summaries: true, onAction: (...args) => act(this.view, ...args) });
      this.oldestSeq = null; // of every message received, replies included: history pages by seq
      this.hasMore = true;
      this.loadingHistory = false;
      this.loaded = false; // its first page arrived
      this.markerPlaced = false;
      this.readAtOpen = reads.serverSeq(slug); // null: the server's `rooms` is on its way (or never read)
      this.unseen = 0; // messages that arrived below while the list was scrolled up
      this.scrollTop = null;
      this.status = "";
    }
  }
  let state = null; // the open room's RoomState

  function stateOf(slug) {
    let found = roomStates.get(slug);
    if (found) {
      roomStates.delete(slug); // re-inserted last: most recently opened
    } else {
      found = new RoomState(slug);
    }
    roomStates.set(slug, found);
    for (const old of [...roomStates.keys()].slice(0, Math.max(0, roomStates.size - KEPT_ROOMS))) roomStates.delete(old);
    return found;
  }

  const atBottomOf = (box) => box.scrollHeight - box.scrollTop - box.clientHeight < 40;
  function atBottom() {
    return atBottomOf(scroller);
  }

  function applyRoomHeader(room) {
    el("room-title").textContent = room.title;
    el("room-slug").textContent = room.slug;
    const sameTitle = [...listedRooms().values()].filter((r) => r.title.trim().toLocaleLowerCase() === room.title.trim().toLocaleLowerCase());
    el("room-slug").hidden = room.kind === "dm" || sameTitle.length < 2; // told apart from a room of the same title
    el("room-description").textContent = room.description || "";
    el("thread-room").textContent = room.title;
    document.title = room.title + " · " + gettext("Chat");
    setComposerEnabled(!room.archived);
    el("archived-note").hidden = !room.archived;
    roomPanels.settings.setRoom(room);
    setModerates(room);
  }

  // Owners, moderators and admins see others' messages' "Edit history" and "Delete message"
  // (messages.js puts them in every message; this class shows them). The server checks each.
  function setModerates(room) {
    const role = room && room.role;
    app.classList.toggle("moderates", app.dataset.staff === "1" || role === "owner" || role === "moderator");
  }

  function setComposerEnabled(enabled) {
    for (const form of [composer, el("thread-composer")]) {
      form.querySelector("textarea").disabled = !enabled;
      form.querySelector("button[type=submit]").disabled = !enabled;
    }
    app.classList.toggle("read-only", !enabled); // no actions on messages that cannot change
  }

  function mentionNames() {
    return (presenceByRoom.get(active) || []).concat([...authors].reverse()).filter((name) => name !== me);
  }

  // --- opening a room (from the list, a link, back/forward) without reloading ---------------------

  // slug: the room to show (null: the lobby). push: add a history entry (not for back/forward).
  function openRoom(slug, { push = true } = {}) {
    // A room of the list (the page's, until the socket's `rooms` arrives) or the page's own; any
    // other is a full load.
    if (slug !== null && !rooms.has(slug) && !roomItem(slug) && slug !== app.dataset.active) return false;
    if (slug === active) { closeDrawer(); return true; }
    if (state) {
      state.scrollTop = atBottom() ? null : scroller.scrollTop;
      state.status = historyStatus.textContent;
      closeThread(false);
    }
    for (const [user, timer] of typingUsers) { clearTimeout(timer); typingUsers.delete(user); }
    renderTyping();
    const previous = active;
    active = slug;
    app.dataset.active = slug || "";
    app.classList.toggle("lobby", slug === null); // on a phone the lobby is the room list itself
    if (push) ChatRouter.push(slug, slug && rooms.has(slug) ? rooms.get(slug).kind : undefined);
    for (const li of roomsList.querySelectorAll("li[aria-current]")) li.removeAttribute("aria-current");
    if (previous) renderUnread(previous);
    roomPanels.members.setRoom(slug);
    if (slug === null) {
      roomPanels.settings.setRoom(null);
      state = null;
      reads.watch(null);
      roomPane.hidden = true;
      welcome.hidden = false;
      document.title = gettext("Chat");
      closeDrawer();
      followBusiestRooms();
      renderUnread(null);
      return true;
    }
    roomPane.hidden = false;
    welcome.hidden = true;
    state = stateOf(slug);
    scroller.querySelector(".messages").replaceWith(state.list);
    reads.watch(slug, scroller, state.list); // what is seen of it goes to the server
    historyStatus.textContent = state.status;
    const item = roomItem(slug);
    if (item) item.setAttribute("aria-current", "page");
    const room = rooms.get(slug);
    if (room) applyRoomHeader(room);
    else { roomPanels.settings.setRoom(null); setModerates(null); } // its role comes with `subscribed`
    if (!room && item) { // known from the page's list only: its `subscribed` brings the rest
      el("room-title").textContent = item.querySelector(".room-title").textContent;
      el("room-description").textContent = "";
      el("room-slug").hidden = true;
    }
    renderPresence();
    loadDraft();
    if (!state.loaded) {
      for (const frame of client.unsent(slug)) if (!frame.reply_to && !pending.has(frame.client_msg_id)) showPending(frame.client_msg_id, frame.body);
      const followed = client.rooms.get(slug);
      if (followed && followed.lastSeq !== null) client.fetchHistory(slug, followed.lastSeq + 1, 50); // followed already: its newest page
      else client.subscribe(slug); // subscribed, then its newest page as `history`
    } else {
      // Back to a room seen before: the "New messages" line moves to what arrived meanwhile.
      const marker = state.list.querySelector(".new-marker");
      if (marker) marker.remove();
      state.markerPlaced = false;
      state.readAtOpen = readSeq(slug);
      placeMarker();
      if (state.scrollTop === null) scroller.scrollTop = scroller.scrollHeight;
      else scroller.scrollTop = state.scrollTop;
    }
    closeDrawer();
    followBusiestRooms();
    renderJump();
    return true;
  }

  // The composer keeps the focus on a room switch, as in Slack; on a phone the room's title does
  // (focusing a textarea would open the keyboard over the messages just opened).
  function focusRoom() {
    if (window.matchMedia("(max-width: 640px)").matches) el("room-title").focus();
    else if (!body.disabled) body.focus();
  }

  const closeDrawer = () => { if (window.ChatShell) window.ChatShell.closeDrawer(false); };

  ChatRouter.start({
    open: (slug) => openRoom(slug, { push: false }),
    click: (slug) => { const done = openRoom(slug); if (done) focusRoom(); return done; },
  });

  // --- messages in, by id: a new one, a history item or a change all carry the whole state ---

  function placeMarker() {
    if (!state || state.markerPlaced) return;
    // The server's, once `rooms` came (not this page's reads since: they may already cover the room).
    if (state.readAtOpen === null) state.readAtOpen = reads.serverSeq(state.slug); // stays null until then
    if (!state.readAtOpen) return;
    // The first message someone else wrote after it: my own and system lines are never unread.
    const first = state.view.items().find(({ message }) =>
      message.seq > state.readAtOpen && message.author !== me && message.kind !== "system");
    if (!first) return;
    const marker = document.createElement("li");
    marker.className = "new-marker";
    marker.id = "new-marker";
    const label = document.createElement("span");
    label.textContent = gettext("New messages");
    marker.append(label);
    state.list.insertBefore(marker, first.li);
    state.markerPlaced = true;
  }

  function settlePending(message) {
    const mine = pending.get(message.client_msg_id);
    if (mine && message.author === me) { mine.remove(); pending.delete(message.client_msg_id); }
  }

  // One message object from any frame, for the room `into` (a RoomState; the open room's or one
  // kept in the background). Replies go to the open thread only (as in Slack); their parent's
  // "N replies" comes with the parent's own message.changed.
  function receive(into, message, { fresh = false } = {}) {
    if (message.author) authors.add(message.author);
    settlePending(message);
    const open = into === state;
    if (message.reply_to) {
      if (open && thread && message.reply_to === thread.id) {
        const stick = atBottomOf(threadScroller);
        threadView.upsert(message);
        if (stick) threadScroller.scrollTop = threadScroller.scrollHeight;
      }
      return;
    }
    if (open && thread && message.id === thread.id) {
      threadParent.upsert(message);
      renderThreadCount(message);
    }
    const stick = open && atBottom();
    const added = into.view.upsert(message);
    if (!open) return;
    if (added && fresh) {
      const item = into.view.element(message.id);
      const text = item.querySelector(".body").textContent;
      live.textContent = message.kind === "system" ? text : (message.author ? people.name(message.author) : "") + ": " + text;
      if (!stick && message.author !== me && message.kind !== "system") state.unseen += 1;
    }
    if (stick) scroller.scrollTop = scroller.scrollHeight;
    renderJump();
  }

  client.on("subscribed", (frame) => {
    const into = roomStates.get(frame.room);
    if (frame.room === active) upsertRoom(frame.info);
    if (into && frame.recovered === false) {
      // Too much was missed: start again from the newest page.
      into.view.clear();
      into.oldestSeq = null;
      into.hasMore = true;
      into.markerPlaced = false;
      client.fetchHistory(frame.room, frame.last_seq + 1, 50);
    }
  });
  client.on("history", (frame) => {
    const into = roomStates.get(frame.room);
    if (!into) return;
    const open = into === state;
    const before = scroller.scrollHeight;
    const wasTop = into.loadingHistory;
    for (const message of frame.messages) {
      into.oldestSeq = into.oldestSeq === null ? message.seq : Math.min(into.oldestSeq, message.seq);
      receive(into, message);
    }
    into.hasMore = frame.has_more;
    into.loadingHistory = false;
    into.loaded = true;
    into.status = into.hasMore ? "" : isDm(frame.room) ? gettext("This is the beginning of the conversation.") : gettext("This is the beginning of the room.");
    if (!open) return;
    if (wasTop) scroller.scrollTop += scroller.scrollHeight - before; // keep the view steady
    historyStatus.textContent = into.status;
    placeMarker();
    if (!wasTop && !into.markerPlaced) scroller.scrollTop = scroller.scrollHeight;
    if (into.markerPlaced && !wasTop) el("new-marker").scrollIntoView({ block: "center" });
    loadOlderIfShort();
    renderJump();
  });
  client.on("message", (frame) => {
    const into = roomStates.get(frame.room);
    if (!into) return;
    if (frame.room === active && typingUsers.has(frame.author)) {
      clearTimeout(typingUsers.get(frame.author));
      typingUsers.delete(frame.author);
      renderTyping();
    }
    receive(into, frame, { fresh: true });
  });
  client.on("message.changed", (frame) => {
    const into = roomStates.get(frame.room);
    if (!into) return;
    receive(into, frame.message);
  });
  client.on("message.ack", (frame) => {
    const item = pending.get(frame.client_msg_id);
    if (!item) return;
    // Already shown, or older than the newest shown (an ack of a resend, which is not broadcast again):
    // the room's copy is in place. Else it follows at once, and replaces this one.
    const into = roomStates.get(frame.room);
    const view = into ? into.view : null;
    const newest = Math.max((view && view.lastSeq()) || 0, threadView.lastSeq() || 0);
    if ((view && view.hasSeq(frame.seq)) || threadView.hasSeq(frame.seq) || frame.seq < newest) {
      item.remove();
      pending.delete(frame.client_msg_id);
      return;
    }
    item.classList.replace("pending", "sent");
    item.querySelector(".state").textContent = "";
  });
  client.on("error", (frame) => {
    if (changeOps.has(frame.ref)) return; // a change to a message: answered below
    if (typeof frame.ref === "string" && frame.ref.startsWith("h-")) return; // edits.fetch: the history dialog says it
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

  // --- changing messages: edit, delete, reactions ------------------------------------------------

  function changeError(frame) {
    const texts = {
      edit_window_closed: gettext("This message can no longer be edited."),
      not_allowed: gettext("Only its author can change this message."),
      message_deleted: gettext("This message was deleted."),
      too_many_reactions: gettext("This message has too many different reactions."),
      rate_limited: gettext("You are doing that too fast; wait a moment."),
      read_only: gettext("This room is archived: read-only."),
    };
    return texts[frame.code] || frame.detail;
  }

  function change(frame, { onDone, onError } = {}) {
    const ref = client.change(Object.assign({ room: active }, frame));
    changeOps.set(ref, { onDone, onError });
  }
  client.on("done", (frame) => {
    const op = changeOps.get(frame.ref);
    if (!op) return;
    changeOps.delete(frame.ref);
    if (op.onDone) op.onDone(frame);
  });
  client.on("error", (frame) => {
    const op = changeOps.get(frame.ref);
    if (!op) return;
    changeOps.delete(frame.ref);
    if (op.onError) op.onError(frame); else showToast(changeError(frame));
  });

  function act(view, kind, message, trigger, emoji) {
    if (kind === "reaction") toggleReaction(view, message.id, emoji);
    else if (kind === "react") {
      const reacted = new Set((message.reactions || []).filter((r) => r.users.includes(me)).map((r) => r.emoji));
      picker.open(trigger, reacted, (chosen) => toggleReaction(view, message.id, chosen));
    } else if (kind === "thread") openThread(message.id, trigger);
    else if (kind === "edit") startEdit(view, message.id, trigger);
    else if (kind === "delete") confirmDelete(view, message.id, trigger);
    else if (kind === "history") showEditHistory(view, message, trigger);
  }

  // --- a message's edit history (its author, the room's moderators, admins: docs/protocol.md) ---

  const historyDialog = el("edit-history");
  const historyList = el("edit-history-list");
  let historyShown = null; // {ref, view, message, trigger}
  function showEditHistory(view, message, trigger) {
    historyShown = { ref: client.fetchEdits(active, message.id), view, message, trigger };
    historyList.textContent = "";
    historyList.setAttribute("aria-busy", "true");
    el("edit-history-status").textContent = gettext("Loading…");
    historyDialog.showModal();
  }
  function historyVersion(html, label, when) {
    const item = document.createElement("li");
    const head = document.createElement("div");
    head.className = "version-head";
    head.append(label);
    if (when) {
      const time = document.createElement("time");
      time.dateTime = when;
      time.textContent = ChatMessages.formatWhen(when);
      time.title = ChatMessages.formatFull(when);
      head.append(" · ", time);
    }
    const body = document.createElement("div");
    body.className = "body";
    body.append(ChatMessages.bodyFragment(html));
    item.append(head, body);
    return item;
  }
  client.on("edits", (frame) => {
    if (!historyShown || frame.ref !== historyShown.ref) return;
    const { message } = historyShown;
    // Each earlier body was replaced at its edit's time; the first was posted with the message.
    const current = historyShown.view.get(message.id) || message;
    // (With has_more, the first one shown was itself an edit, by someone at a time of the page before.)
    const versions = frame.edits.map((edit, i) => ({
      html: edit.html,
      label: i > 0 ? interpolate(gettext("Edited by %s"), [frame.edits[i - 1].editor || "?"])
        : frame.has_more ? gettext("Earlier version") : interpolate(gettext("Posted by %s"), [message.author]),
      when: i > 0 ? frame.edits[i - 1].edited_at : frame.has_more ? null : message.created_at,
    }));
    if (frame.edits.length) {
      const last = frame.edits[frame.edits.length - 1];
      versions.push({ html: current.html, label: interpolate(gettext("Edited by %s"), [last.editor || "?"]) + " · " + gettext("current"), when: last.edited_at });
    }
    historyList.removeAttribute("aria-busy");
    el("edit-history-status").textContent = !versions.length
      ? gettext("No earlier versions.")
      : frame.has_more ? interpolate(gettext("Only the latest %s earlier versions are shown."), [frame.edits.length]) : "";
    for (const version of versions.reverse()) historyList.append(historyVersion(version.html, version.label, version.when));
  });
  client.on("error", (frame) => {
    if (!historyShown || frame.ref !== historyShown.ref) return;
    historyList.removeAttribute("aria-busy");
    el("edit-history-status").textContent = frame.code === "not_allowed"
      ? gettext("Only the author and the room's moderators see earlier versions.")
      : changeError(frame);
  });
  historyDialog.addEventListener("close", () => {
    const shown = historyShown;
    historyShown = null;
    if (shown && shown.trigger && shown.trigger.isConnected) shown.trigger.focus();
  });

  function toggleReaction(view, id, emoji) {
    const message = view.get(id);
    if (!message) return;
    const reaction = (message.reactions || []).find((r) => r.emoji === emoji);
    const mine = Boolean(reaction && reaction.users.includes(me));
    change({ type: mine ? "reaction.remove" : "reaction.add", id, emoji });
  }

  // Edit in place: Enter saves, Escape cancels; focus goes back where it came from.
  function startEdit(view, id, returnFocus) {
    const message = view.get(id);
    if (!message || message.deleted || message.author !== me || app.classList.contains("read-only")) return false;
    let editor = null;
    const finish = () => {
      editor.close();
      const li = view.element(id);
      const target = returnFocus && returnFocus.isConnected && !li.contains(returnFocus) ? returnFocus : li;
      if (target) target.focus();
    };
    editor = view.edit(id, {
      setup: (textarea) => new MentionAutocomplete(textarea, mentionNames),
      onCancel: finish,
      onSave: (text) => {
        const current = view.get(id);
        if (!current || current.deleted) { finish(); return; }
        if (!text.trim()) { editor.close(); confirmDelete(view, id, returnFocus); return; } // as in Slack
        if (text === current.body) { finish(); return; }
        editor.setBusy(true);
        change({ type: "message.edit", id, body: text }, {
          onDone: finish,
          onError: (frame) => editor.setError(changeError(frame)),
        });
      },
    });
    return editor !== null;
  }

  // ArrowUp in an empty composer edits your last message there (Slack).
  function editLast(view, textarea) {
    const mine = view.items().filter(({ message }) => message.author === me && !message.deleted);
    return mine.length > 0 && startEdit(view, mine[mine.length - 1].message.id, textarea);
  }

  const confirmDialog = el("confirm-delete");
  let deleting = null;
  function confirmDelete(view, id, trigger) {
    const message = view.get(id);
    if (!message || message.deleted) return;
    el("confirm-delete-preview").textContent = message.body;
    deleting = { view, id, trigger };
    confirmDialog.returnValue = "";
    confirmDialog.showModal();
  }
  confirmDialog.addEventListener("close", () => {
    const request = deleting;
    deleting = null;
    if (!request) return;
    const li = request.view.element(request.id);
    if (confirmDialog.returnValue === "delete") {
      change({ type: "message.delete", id: request.id });
      if (li) li.focus();
    } else {
      const back = request.trigger && request.trigger.isConnected ? request.trigger : li;
      if (back) back.focus();
    }
  });

  // --- the thread panel (a side panel; a full-screen sheet on phones) -----------------------------

  const threadPanel = el("thread");
  const threadScroller = el("thread-scroller");
  const threadComposer = el("thread-composer");
  const threadBody = el("thread-body");
  const threadParent = new MessageView(el("thread-parent"), { me, people, summaries: false, onAction: (...args) => act(threadParent, ...args) });
  const threadView = new MessageView(el("thread-replies"), {
    me,
    people,
    summaries: false,
    onAction: (...args) => act(threadView, ...args),
    dayBefore: () => { const [parent] = threadParent.items(); return parent ? parent.li.dataset.day : null; },
  });
  let thread = null; // {id, returnFocus} of the open thread

  // On a phone the thread is a full-screen sheet: what it covers leaves the tab order meanwhile.
  function setBehindSheet(covered) {
    for (const node of [el("main"), app.querySelector(".sidebar"), document.querySelector("header.top")]) {
      if (node) node.inert = covered;
    }
  }

  function renderThreadCount(parent) {
    const count = (parent && parent.reply_count) || 0;
    const line = el("thread-count");
    line.textContent = count ? interpolate(ngettext("%s reply", "%s replies", count), [count]) : "";
    line.hidden = !count;
  }

  function openThread(id, trigger) {
    if (thread && thread.id === id) { threadBody.focus(); return; }
    closeThread(false);
    roomPanels.members.close(false);
    thread = { id, returnFocus: trigger };
    const parent = state.view.get(id);
    if (parent) threadParent.upsert(parent);
    renderThreadCount(parent);
    const stick = atBottom(); // the room's list narrows: stay at its end if it was there
    threadPanel.hidden = false;
    app.classList.add("thread-open");
    if (stick) scroller.scrollTop = scroller.scrollHeight;
    setBehindSheet(window.matchMedia("(max-width: 640px)").matches);
    for (const li of state.list.querySelectorAll(".message.thread-current")) li.classList.remove("thread-current");
    const item = state.view.element(id);
    if (item) item.classList.add("thread-current");
    client.fetchThread(active, id);
    threadBody.focus();
  }

  function closeThread(restoreFocus) {
    if (!thread) return;
    const closed = thread;
    thread = null;
    const stick = atBottom();
    threadPanel.hidden = true;
    app.classList.remove("thread-open");
    if (stick) scroller.scrollTop = scroller.scrollHeight;
    threadParent.clear();
    threadView.clear();
    // Replies still being sent go on in the background (the client's outbox); their thread is closed.
    for (const item of el("thread-replies").querySelectorAll(".outgoing")) item.remove();
    el("thread-more").hidden = true;
    setBehindSheet(false);
    const item = state ? state.view.element(closed.id) : null;
    if (item) item.classList.remove("thread-current");
    if (!restoreFocus) return;
    let target = closed.returnFocus;
    if (!target || !target.isConnected) target = item && (item.querySelector("[data-key=thread-summary]") || item);
    if (target) target.focus();
  }

  client.on("thread", (frame) => {
    if (frame.room !== active || !thread || frame.parent.id !== thread.id) return;
    threadParent.upsert(frame.parent);
    renderThreadCount(frame.parent);
    for (const reply of frame.replies) receive(state, reply);
    const more = el("thread-more");
    more.hidden = !frame.has_more;
    more.textContent = frame.has_more ? interpolate(gettext("Only the first %s replies are shown."), [frame.replies.length]) : "";
    threadScroller.scrollTop = threadScroller.scrollHeight;
  });
  el("thread-close").addEventListener("click", () => closeThread(true));
  threadPanel.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !event.defaultPrevented) { event.preventDefault(); closeThread(true); }
  });

  // --- reading: jump to latest, scroll-back, read markers, the day's labels ---------------------------

  function renderJump() {
    const away = !atBottom();
    if (!state) return;
    if (!away) state.unseen = 0;
    jump.hidden = !away;
    jump.textContent = state.unseen
      ? interpolate(ngettext("Jump to latest (%s new)", "Jump to latest (%s new)", state.unseen), [state.unseen])
      : gettext("Jump to latest");
  }
  jump.addEventListener("click", () => {
    const hadFocus = document.activeElement === jump;
    scroller.scrollTop = scroller.scrollHeight;
    renderJump();
    if (hadFocus) scroller.focus();
  });

  function loadOlder() {
    if (!state || !state.hasMore || state.loadingHistory || state.oldestSeq === null || state.oldestSeq <= 1) return;
    state.loadingHistory = true;
    historyStatus.textContent = gettext("Loading older messages…");
    client.fetchHistory(active, state.oldestSeq, 50);
  }
  // A page of mostly thread replies may not fill the list: then no scroll ever asks for more.
  function loadOlderIfShort() {
    if (scroller.scrollHeight <= scroller.clientHeight + 80) loadOlder();
  }

  // Infinite scroll-back.
  scroller.addEventListener("scroll", () => {
    if (scroller.scrollTop < 80) loadOlder();
    renderJump();
  });
  scroller.addEventListener("keydown", (event) => {
    // Escape on a message goes back to the list itself, where arrows scroll.
    if (event.key === "Escape" && event.target.matches("li.message")) { event.preventDefault(); scroller.focus(); }
  });

  setInterval(() => { for (const kept of roomStates.values()) kept.view.refreshDays(); threadView.refreshDays(); }, 60000); // Today -> Yesterday

  // Presence and typing.
  client.on("presence", (frame) => {
    presenceByRoom.set(frame.room, frame.users);
    if (frame.room === active) renderPresence();
  });
  function renderPresence() {
    el("presence").textContent = (presenceByRoom.get(active) || []).map((name) => people.name(name)).join(", ");
  }
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

  // --- composers: Enter sends, Shift+Enter starts a new line; a message is pending until acked -----

  // My messages not acked yet, until the room's copy replaces them (kept from an earlier page too).
  function showPending(id, text, into) {
    const item = ChatComposer.pendingItem(me, id, text);
    pending.set(id, item);
    (into || state.list).append(item);
  }

  const drafts = new ChatComposer.Drafts(body, userId);
  const loadDraft = () => drafts.show(active);
  let lastTyping = 0;
  const composing = (viewOf, send) => ({
    mentionNames,
    send,
    onTyping: () => { if (Date.now() - lastTyping > 2000) { client.typing(active); lastTyping = Date.now(); } },
    onArrowUp: (textarea) => { const view = viewOf(); return Boolean(view) && editLast(view, textarea); },
  });
  // names: the files' names, shown on the "sending…" row of a message with files and no text.
  const sendToRoom = (text, attachments, names) => {
    showPending(client.sendMessage(active, text, null, attachments), text || (names || []).join(", "));
    scroller.scrollTop = scroller.scrollHeight;
    renderJump();
  };
  ChatComposer.setUp(composer, body, composing(() => state && state.view, (text) => sendToRoom(text)));
  ChatComposer.setUp(threadComposer, threadBody, composing(() => threadView, (text) => {
    if (!thread) return;
    showPending(client.sendMessage(active, text, thread.id), text, el("thread-replies"));
    threadScroller.scrollTop = threadScroller.scrollHeight;
  }));

  // A profile changed (user.updated, or its user object arrived): its messages show the new name and face.
  people.onChange((names) => {
    for (const kept of roomStates.values()) kept.view.refreshAuthors(names);
    threadParent.refreshAuthors(names);
    threadView.refreshAuthors(names);
    if ((presenceByRoom.get(active) || []).some((name) => names.includes(name))) renderPresence();
  });

  // The page's room (a deep link), if any; replies waiting in the outbox are sent, but shown only
  // once they are in their thread.
  if (active) {
    const first = active;
    active = null;
    openRoom(first, { push: false });
  }

  // For the other scripts of the page (attachments.js): the open room, a send with files (through
  // the outbox, shown "sending…" like any other); the read tracker, for debugging and the browser tests.
  window.chatApp = {
    active: () => active,
    sendWithFiles: (text, attachments, names) => sendToRoom(text, attachments, names),
    reads,
  };
})();
