// One list of messages (the room's, or a thread's) as the web UI shows it: in seq order, keyed by
// id, with date separators, one header per run of an author's messages, the body as the server's
// sanitized HTML, "(edited)", deletions in place, reaction chips, the thread summary, the actions
// (react, reply in thread, edit, delete), an inline editor, and one keyboard stop for the whole
// list (arrow keys move between messages, Tab into the current one). Only the body is HTML
// (docs/protocol.md: `html`, sanitized by the server with an allow-list); everything else goes in
// with textContent. No protocol code here: app.js calls the client.
"use strict";

(function () {
  const gettext = window.gettext || ((s) => s);
  const ngettext = window.ngettext || ((s, p, n) => (n === 1 ? s : p));
  const interpolate = window.interpolate || ((fmt, args, named) => (named
    ? fmt.replace(/%\((\w+)\)s/g, (_, key) => String(args[key]))
    : fmt.replace(/%s/g, () => String(args.shift()))));

  const GROUP_GAP_MS = 5 * 60 * 1000;
  const locale = document.documentElement.lang || undefined;
  const formats = {
    time: new Intl.DateTimeFormat(locale, { hour: "2-digit", minute: "2-digit" }),
    full: new Intl.DateTimeFormat(locale, { dateStyle: "full", timeStyle: "medium" }),
    day: new Intl.DateTimeFormat(locale, { weekday: "long", month: "long", day: "numeric" }),
    dayWithYear: new Intl.DateTimeFormat(locale, { weekday: "long", year: "numeric", month: "long", day: "numeric" }),
    short: new Intl.DateTimeFormat(locale, { month: "short", day: "numeric" }),
  };

  // --- times and days ------------------------------------------------------------------------------

  const dayKey = (date) => `${date.getFullYear()}-${date.getMonth()}-${date.getDate()}`;
  function daysAgo(date) {
    const start = (d) => new Date(d.getFullYear(), d.getMonth(), d.getDate());
    return Math.round((start(new Date()) - start(date)) / 86400000);
  }
  function dayLabel(date) {
    const ago = daysAgo(date);
    if (ago === 0) return gettext("Today");
    if (ago === 1) return gettext("Yesterday");
    return (date.getFullYear() === new Date().getFullYear() ? formats.day : formats.dayWithYear).format(date);
  }
  const formatTime = (iso) => formats.time.format(new Date(iso));
  const formatFull = (iso) => formats.full.format(new Date(iso));
  // "10:45", "yesterday at 10:45", "Nov 3 at 10:45": for the thread summary's last reply.
  function formatWhen(iso) {
    const date = new Date(iso);
    const ago = daysAgo(date);
    if (ago === 0) return formats.time.format(date);
    const day = ago === 1 ? gettext("yesterday") : formats.short.format(date);
    return interpolate(gettext("%(day)s at %(time)s"), { day, time: formats.time.format(date) }, true);
  }

  // A <time> with the short time shown, and the full date and time for hover (title), focus (the
  // CSS tooltip reads data-tip) and screen readers (the hidden text).
  function timeElement(iso, { key, label } = {}) {
    const time = document.createElement("time");
    time.dateTime = iso;
    const full = label ? interpolate(label, [formatFull(iso)]) : formatFull(iso);
    time.title = full;
    time.dataset.tip = full;
    time.dataset.key = key || "time";
    time.dataset.focusable = "";
    const shown = document.createElement("span");
    shown.setAttribute("aria-hidden", "true");
    shown.textContent = formatTime(iso);
    const spoken = document.createElement("span");
    spoken.className = "visually-hidden";
    spoken.textContent = full;
    time.append(shown, spoken);
    return time;
  }

  // --- small pieces --------------------------------------------------------------------------------

  const ICONS = {
    react: ["M12 21a9 9 0 1 1 0-18 9 9 0 0 1 0 18z", "M8.5 14.5c.9 1.1 2.1 1.7 3.5 1.7s2.6-.6 3.5-1.7", "M9 10h.01", "M15 10h.01"],
    reply: ["M4 5.5h16v10.5h-9l-5 4v-4H4z", "M8 9.5h8", "M8 12.5h5"],
    edit: ["M4 20h4L19 9l-4-4L4 16z", "M13.5 6.5l4 4"],
    delete: ["M5 7h14", "M10 7V4.5h4V7", "M7 7l1 13h8l1-13", "M10.5 11v5.5", "M13.5 11v5.5"],
    history: ["M4.5 12a7.5 7.5 0 1 0 2.2-5.3", "M4 4.5v3.5h3.5", "M12 8v4.5l3 2"],
    close: ["M6 6l12 12", "M18 6L6 18"],
  };
  function icon(name) {
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    svg.classList.add("icon");
    for (const d of ICONS[name]) {
      const path = document.createElementNS(ns, "path");
      path.setAttribute("d", d);
      svg.append(path);
    }
    return svg;
  }

  function button(className, label, { key, iconName, text } = {}) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = className;
    if (label) { b.setAttribute("aria-label", label); b.title = label; }
    if (key) b.dataset.key = key;
    if (iconName) b.append(icon(iconName));
    if (text) b.append(text);
    return b;
  }

  // A name's colour class for its avatar: stable, from a small palette with white text.
  function avatarClass(name) {
    let hash = 0;
    for (const ch of name) hash = (hash * 31 + ch.codePointAt(0)) >>> 0;
    return "c" + (hash % 8);
  }

  function isMentionOf(span, me) {
    const user = span.dataset.user || "";
    return user === me || user.replace(/\.+$/, "") === me;
  }

  // What the server's sanitizer lets through (chat/domain/formatting.py). The body is checked
  // against it again here, so a server bug cannot put anything else into the page.
  const ALLOWED = {
    P: [], BR: [], STRONG: [], EM: [], S: [], CODE: ["class"], PRE: [], BLOCKQUOTE: [], UL: [],
    OL: ["start"], LI: [], A: ["href", "target", "rel"], SPAN: ["class", "data-user"],
  };
  const SAFE_URL = /^(?:https?:|mailto:)/i;

  // The server's sanitized HTML, parsed in a detached template (nothing runs or loads there),
  // with any element outside the allow-list replaced by its text and any other attribute dropped.
  function bodyFragment(html) {
    const template = document.createElement("template");
    template.innerHTML = html;
    for (const node of [...template.content.querySelectorAll("*")]) {
      const allowed = ALLOWED[node.tagName];
      if (!allowed) {
        node.replaceWith(document.createTextNode(node.textContent));
        continue;
      }
      for (const { name } of [...node.attributes]) if (!allowed.includes(name)) node.removeAttribute(name);
      if (node.tagName === "A") {
        if (!SAFE_URL.test(node.getAttribute("href") || "")) node.removeAttribute("href");
        node.target = "_blank";
        node.rel = "noopener noreferrer nofollow";
      }
    }
    return template.content;
  }

  // --- a message's files -----------------------------------------------------------------------------

  function humanSize(bytes) {
    if (bytes < 1024) return bytes + " B";
    if (bytes < 1024 * 1024) return (bytes / 1024).toFixed(1) + " KB";
    return (bytes / 1024 / 1024).toFixed(1).replace(/\.0$/, "") + " MB";
  }

  // docs/protocol.md, "Files": a thumbnail for an image (attachments.js opens the full image in a
  // lightbox on a click), a download card for any other file. All text goes in with textContent.
  function attachmentsBox(files) {
    const box = document.createElement("div");
    box.className = "attachments";
    for (const file of files) {
      const link = document.createElement("a");
      link.href = file.url;
      link.dataset.key = "file:" + file.id; // keeps its focus through a redraw
      if (file.thumbnail_url) {
        link.className = "attachment image";
        const img = document.createElement("img");
        img.src = file.thumbnail_url;
        img.alt = file.name;
        img.loading = "lazy";
        link.append(img);
      } else {
        link.className = "attachment file";
        link.download = file.name;
        link.textContent = file.name + " · " + humanSize(file.size);
      }
      box.append(link);
    }
    return box;
  }

  // --- a list of messages --------------------------------------------------------------------------

  class MessageView {
    // list: the <ol>; options: me (the username), summaries (show "N replies" and "Reply in thread"),
    // onAction(kind, message, trigger, extra): "react", "reaction" (extra: the emoji), "thread",
    // "edit", "delete", "history"; dayBefore(): the day shown above the list, if any (a thread's parent's);
    // people: the page's People (people.js), for display names and avatars.
    constructor(list, { me, summaries = true, onAction, dayBefore = null, people = null }) {
      this.list = list;
      this.people = people; // people.js's People: authors' names and faces (null: usernames)
      this.dayBefore = dayBefore;
      this.me = me;
      this.summaries = summaries;
      this.onAction = onAction;
      this.byId = new Map(); // id -> {message, li}
      this.seqs = []; // the shown messages' seqs, ascending
      this.idBySeq = new Map();
      this.current = null; // the message that has the list's one keyboard stop
      this.editing = null; // {id, form, ...} while a message is being edited
      list.addEventListener("click", (event) => this.click(event));
      list.addEventListener("keydown", (event) => this.keydown(event));
      list.addEventListener("focusin", (event) => {
        const li = event.target.closest("li.message[data-id]");
        if (li && li !== this.current) this.setCurrent(li);
      });
    }

    get(id) { const entry = this.byId.get(id); return entry ? entry.message : null; }
    has(id) { return this.byId.has(id); }
    hasSeq(seq) { return this.idBySeq.has(seq); }
    items() { return this.seqs.map((seq) => this.byId.get(this.idBySeq.get(seq))); }
    lastSeq() { return this.seqs.length ? this.seqs[this.seqs.length - 1] : null; }
    element(id) { const entry = this.byId.get(id); return entry ? entry.li : null; }

    // Insert or update a message from its current state (a `message` frame, an item of `history`
    // or `thread`, or a `message.changed`'s message). Returns true if it was new.
    upsert(message) {
      const entry = this.byId.get(message.id);
      if (entry) {
        entry.message = message;
        this.render(entry.li, message);
        return false;
      }
      const li = document.createElement("li");
      li.className = "message";
      li.id = this.list.id + "-" + message.id;
      li.tabIndex = -1;
      li.dataset.id = String(message.id);
      li.dataset.seq = String(message.seq);
      li.dataset.author = message.author || "";
      li.dataset.time = message.created_at;
      li.dataset.day = dayKey(new Date(message.created_at));
      this.byId.set(message.id, { message, li });
      this.render(li, message);
      // Place it by seq: before the next message's separator, or before my messages on their way at the end.
      let index = this.seqs.findIndex((seq) => seq > message.seq);
      if (index === -1) index = this.seqs.length;
      const next = index < this.seqs.length ? this.byId.get(this.idBySeq.get(this.seqs[index])).li : null;
      this.list.insertBefore(li, next ? this.leadStart(next) : this.list.querySelector(":scope > .outgoing"));
      this.seqs.splice(index, 0, message.seq);
      this.idBySeq.set(message.seq, message.id);
      this.relayout(li);
      if (next) this.relayout(next);
      if (!this.current || !this.current.isConnected || (!this.list.contains(document.activeElement) && next === null)) {
        this.setCurrent(li);
      } else {
        this.setTabbable(li, false);
      }
      return true;
    }

    // Draw again the messages of these users (their profile changed: name or face).
    refreshAuthors(usernames) {
      const names = new Set(usernames);
      for (const { message, li } of this.byId.values()) if (names.has(message.author)) this.render(li, message);
    }

    // Forget every message (my messages on their way stay: they are app.js's).
    clear() {
      for (const node of [...this.list.children]) if (!node.classList.contains("outgoing")) node.remove();
      this.byId.clear();
      this.idBySeq.clear();
      this.seqs = [];
      this.current = null;
      this.editing = null;
    }

    // The first of the nodes that belong before a message: its date separator and the new-messages line.
    leadStart(li) {
      let start = li;
      while (start.previousElementSibling && !start.previousElementSibling.classList.contains("message")) {
        start = start.previousElementSibling;
      }
      return start;
    }

    previousMessage(li) {
      let prev = li.previousElementSibling;
      while (prev && !prev.classList.contains("message")) prev = prev.previousElementSibling;
      return prev;
    }

    // A date separator before the first message of each day; a header unless the same author wrote
    // the message before, less than 5 minutes earlier, on the same day. A function of the messages
    // alone, so the list reads the same live as after a reload.
    relayout(li) {
      const prev = this.previousMessage(li);
      let separator = null;
      for (let node = li.previousElementSibling; node && !node.classList.contains("message"); node = node.previousElementSibling) {
        if (node.classList.contains("date-sep")) separator = node;
      }
      const newDay = prev ? prev.dataset.day !== li.dataset.day : !(this.dayBefore && this.dayBefore() === li.dataset.day);
      if (newDay && !separator) {
        separator = document.createElement("li"); // a list item like the messages (a list holds only those)
        separator.className = "date-sep";
        const label = document.createElement("span");
        label.className = "day";
        const full = document.createElement("span");
        full.className = "visually-hidden";
        separator.append(label, full);
        this.list.insertBefore(separator, this.leadStart(li));
      } else if (!newDay && separator) {
        separator.remove();
        separator = null;
      }
      if (separator) {
        const date = new Date(li.dataset.time);
        separator.dataset.day = li.dataset.day;
        separator.firstChild.textContent = dayLabel(date);
        separator.lastChild.textContent = ", " + formats.dayWithYear.format(date);
      }
      const grouped = !newDay && prev !== null && prev.dataset.author !== "" && prev.dataset.author === li.dataset.author &&
        new Date(li.dataset.time) - new Date(prev.dataset.time) < GROUP_GAP_MS;
      li.classList.toggle("grouped", grouped);
    }

    // "Today" becomes "Yesterday" at midnight: app.js calls this now and then.
    refreshDays() {
      for (const separator of this.list.querySelectorAll(":scope > .date-sep")) {
        let next = separator.nextElementSibling;
        while (next && !next.classList.contains("message")) next = next.nextElementSibling;
        if (next) separator.firstChild.textContent = dayLabel(new Date(next.dataset.time));
      }
    }

    // --- one message's content ---

    render(li, message) {
      if (message.kind === "system") { this.renderSystem(li, message); return; }
      const focused = li.contains(document.activeElement) && document.activeElement !== li
        ? document.activeElement.dataset.key || null : null;
      const editor = this.editing && this.editing.id === message.id ? this.editing.form : null;
      if (editor) editor.remove();
      li.textContent = "";
      const mine = Boolean(message.author) && message.author === this.me;
      li.classList.toggle("deleted", Boolean(message.deleted));
      li.classList.toggle("mine", mine);

      const gutter = document.createElement("div");
      gutter.className = "gutter";
      // The author's face and name from the page's people (people.js): the display name, the
      // username on hover; until the user object arrives (or without one), the username.
      const person = message.author && this.people ? this.people.get(message.author) : null;
      let avatar;
      if (this.people && window.ChatPeople) avatar = window.ChatPeople.avatar(message.author || "?", person);
      else {
        avatar = document.createElement("span");
        avatar.className = "avatar " + avatarClass(message.author || "?");
        avatar.setAttribute("aria-hidden", "true");
        avatar.textContent = [...(message.author || "?")][0].toUpperCase();
      }
      gutter.append(avatar);

      const content = document.createElement("div");
      content.className = "content";
      const meta = document.createElement("div");
      meta.className = "meta";
      const author = document.createElement("span");
      author.className = "author";
      author.textContent = (person && person.display_name) || message.author || gettext("[deleted user]");
      meta.append(author);
      if (person && person.display_name !== message.author) {
        author.title = "@" + message.author;
        const handle = document.createElement("span");
        handle.className = "handle";
        handle.textContent = "@" + message.author;
        meta.append(handle);
      }
      meta.append(timeElement(message.created_at));
      content.append(meta);

      const body = document.createElement("div");
      body.className = "body";
      let mentionsMe = false;
      if (message.deleted) {
        body.classList.add("deleted-note");
        body.textContent = gettext("message deleted");
      } else {
        body.append(bodyFragment(message.html !== undefined ? message.html : ""));
        if (message.html === undefined) body.textContent = message.body; // a server without `html`
        for (const span of body.querySelectorAll("span.mention")) {
          if (isMentionOf(span, this.me)) { span.classList.add("mention-me"); mentionsMe = true; }
        }
        if (message.edited_at) {
          const edited = document.createElement("span");
          edited.className = "edited";
          edited.tabIndex = -1;
          edited.dataset.key = "edited";
          edited.dataset.focusable = "";
          const when = interpolate(gettext("Edited %s"), [formatFull(message.edited_at)]);
          edited.title = when;
          edited.dataset.tip = when;
          const shown = document.createElement("span");
          shown.setAttribute("aria-hidden", "true");
          shown.textContent = gettext("(edited)");
          const spoken = document.createElement("span");
          spoken.className = "visually-hidden";
          spoken.textContent = "(" + when + ")";
          edited.append(shown, spoken);
          // After the text, as Slack shows it: inside the last paragraph when there is one.
          const last = body.lastElementChild;
          if (last && last.tagName === "P") last.append(" ", edited); else body.append(edited);
        }
      }
      li.classList.toggle("mentions-me", mentionsMe && !mine);
      content.append(body);
      if (editor) { content.append(editor); body.hidden = true; }

      // Files under the text, reactions under the files (as Slack shows them); part of the message's
      // drawing, so a redraw (a new name or face, a reaction, an edit) keeps them.
      if (!message.deleted && message.attachments && message.attachments.length) {
        content.append(attachmentsBox(message.attachments));
      }
      if (!message.deleted && message.reactions && message.reactions.length) {
        content.append(this.reactionsRow(message));
      }
      if (this.summaries && message.reply_count) content.append(this.threadSummary(message));

      li.append(gutter, content);
      if (!message.deleted) li.append(this.actions(message, mine));
      this.setTabbable(li, li === this.current);
      if (focused) {
        const again = li.querySelector(`[data-key="${CSS.escape(focused)}"]`);
        (again || li).focus({ preventScroll: true });
      }
    }

    // A system line ("alice added bob", chat/static/chat/systemlines.js): one centred, muted line
    // with its time; no author, no actions (it cannot be edited, reacted to or replied to).
    renderSystem(li, message) {
      li.textContent = "";
      li.classList.add("system");
      const line = document.createElement("p");
      line.className = "system-line";
      const text = document.createElement("span");
      text.className = "body";
      text.textContent = window.ChatSystemLines ? window.ChatSystemLines.text(message) : message.body;
      line.append(text, " ", timeElement(message.created_at));
      li.append(line);
      this.setTabbable(li, li === this.current);
    }

    reactionsRow(message) {
      const row = document.createElement("div");
      row.className = "reactions";
      row.setAttribute("role", "group");
      row.setAttribute("aria-label", gettext("Reactions"));
      for (const reaction of message.reactions) {
        const reacted = reaction.users.includes(this.me);
        const names = reaction.users.map((u) => (u === this.me ? gettext("you") : u)).join(", ");
        const chip = button("reaction" + (reacted ? " mine" : ""), null, { key: "reaction:" + reaction.emoji });
        chip.dataset.emoji = reaction.emoji;
        chip.setAttribute("aria-pressed", reacted ? "true" : "false");
        chip.title = interpolate(gettext("%(users)s reacted with %(emoji)s"), { users: names, emoji: reaction.emoji }, true);
        chip.setAttribute("aria-label", interpolate(
          ngettext("%(emoji)s, %(count)s reaction: %(users)s", "%(emoji)s, %(count)s reactions: %(users)s", reaction.count),
          { emoji: reaction.emoji, count: reaction.count, users: names }, true));
        const emoji = document.createElement("span");
        emoji.className = "emoji";
        emoji.textContent = reaction.emoji;
        const count = document.createElement("span");
        count.className = "count";
        count.textContent = String(reaction.count);
        chip.append(emoji, count);
        row.append(chip);
      }
      const add = button("reaction-add", gettext("Add reaction"), { key: "reaction-add", iconName: "react" });
      add.dataset.action = "react";
      add.append(document.createTextNode("+"));
      row.append(add);
      return row;
    }

    threadSummary(message) {
      const summary = button("thread-summary", null, { key: "thread-summary" });
      summary.dataset.action = "thread";
      const count = document.createElement("span");
      count.className = "reply-count";
      count.textContent = interpolate(ngettext("%s reply", "%s replies", message.reply_count), [message.reply_count]);
      summary.append(count);
      if (message.last_reply_at) {
        const last = document.createElement("span");
        last.className = "last-reply";
        last.textContent = interpolate(gettext("last reply %s"), [formatWhen(message.last_reply_at)]);
        last.title = formatFull(message.last_reply_at);
        summary.append(" · ", last);
      }
      return summary;
    }

    actions(message, mine) {
      const bar = document.createElement("div");
      bar.className = "actions";
      bar.setAttribute("role", "toolbar");
      bar.setAttribute("aria-label", gettext("Message actions"));
      const items = [["react", gettext("Add reaction"), "react"]];
      if (this.summaries) items.push(["thread", gettext("Reply in thread"), "reply"]);
      if (mine) items.push(["edit", gettext("Edit message"), "edit"]);
      // Another's message: its earlier versions and deleting it are for the room's owners and
      // moderators (and admins); those buttons are in every message and shown only while the page's
      // `.moderates` class says the viewer is one (app.js), so a role change needs no re-render.
      const moderated = !mine;
      if (message.edited_at) items.push(["history", gettext("Edit history"), "history", moderated]);
      items.push(["delete", gettext("Delete message"), "delete", moderated]);
      for (const [action, label, iconName, moderatorOnly] of items) {
        const b = button("action action-" + action + (moderatorOnly ? " moderator-only" : ""), label, { key: "action:" + action, iconName });
        b.dataset.action = action;
        bar.append(b);
      }
      return bar;
    }

    // --- keyboard: one stop for the list, arrows between messages, Tab into the current one ---

    setCurrent(li) {
      if (this.current && this.current !== li && this.current.isConnected) this.setTabbable(this.current, false);
      this.current = li;
      if (li) this.setTabbable(li, true);
    }

    setTabbable(li, on) {
      li.tabIndex = on ? 0 : -1;
      for (const node of li.querySelectorAll("a[href], button, [data-focusable]")) {
        if (this.editing && this.editing.form.contains(node)) continue;
        node.tabIndex = on ? 0 : -1;
      }
    }

    focusMessage(li) {
      if (!li) return;
      this.setCurrent(li);
      li.focus();
      li.scrollIntoView({ block: "nearest" });
    }

    keydown(event) {
      const li = event.target;
      if (event.key === "Escape" && !li.closest(".editor")) {
        // From inside a message back to the message (from the message itself, app.js decides).
        const item = li.closest("li.message[data-id]");
        if (item && item !== li) { event.preventDefault(); event.stopPropagation(); item.focus(); }
        return;
      }
      if (!li.matches || !li.matches("li.message[data-id]")) return;
      const messages = [...this.list.querySelectorAll(":scope > li.message[data-id]")];
      const index = messages.indexOf(li);
      let target = null;
      if (event.key === "ArrowDown") target = messages[index + 1];
      else if (event.key === "ArrowUp") target = messages[index - 1];
      else if (event.key === "Home") target = messages[0];
      else if (event.key === "End") target = messages[messages.length - 1];
      else if (event.key === "Enter" || event.key === "ArrowRight") {
        // Into the message: its first action (shown while it has focus).
        const first = li.querySelector(".actions button") || li.querySelector("button, a[href]");
        if (first) { event.preventDefault(); first.focus(); }
        return;
      } else return;
      event.preventDefault();
      if (target) this.focusMessage(target);
    }

    click(event) {
      const trigger = event.target.closest("button[data-action], button.reaction");
      if (!trigger || !this.list.contains(trigger)) return;
      const li = trigger.closest("li.message[data-id]");
      const message = li && this.get(Number(li.dataset.id));
      if (!message) return;
      if (trigger.classList.contains("reaction")) this.onAction("reaction", message, trigger, trigger.dataset.emoji);
      else this.onAction(trigger.dataset.action, message, trigger);
    }

    // --- editing in place ---

    // Opens the editor on a message: Enter (or Save) calls onSave(text), Escape (or Cancel)
    // onCancel(). Returns {setBusy, setError, close}.
    edit(id, { onSave, onCancel, setup }) {
      if (this.editing) this.editing.close();
      const entry = this.byId.get(id);
      if (!entry) return null;
      const form = document.createElement("form");
      form.className = "editor";
      const label = document.createElement("label");
      label.className = "visually-hidden";
      label.textContent = gettext("Edit message");
      const textarea = document.createElement("textarea");
      textarea.rows = Math.min(8, entry.message.body.split("\n").length + 1);
      textarea.maxLength = 4000;
      textarea.value = entry.message.body;
      label.htmlFor = textarea.id = this.list.id + "-editor";
      const row = document.createElement("div");
      row.className = "editor-row";
      const hint = document.createElement("span");
      hint.className = "hint";
      hint.textContent = gettext("Escape to cancel · Enter to save");
      const cancel = button("secondary", null, { text: gettext("Cancel") });
      const save = document.createElement("button");
      save.type = "submit";
      save.textContent = gettext("Save");
      const error = document.createElement("p");
      error.className = "editor-error";
      error.setAttribute("role", "alert");
      row.append(hint, cancel, save);
      form.append(label, textarea, row, error);
      const handle = {
        id, form, textarea,
        setBusy(busy) { textarea.readOnly = busy; save.disabled = busy; },
        setError(text) { error.textContent = text; handle.setBusy(false); },
        close: () => {
          if (this.editing !== handle) return;
          this.editing = null;
          form.remove();
          const current = this.byId.get(id);
          if (current) current.li.classList.remove("editing");
          const body = current && current.li.querySelector(".body");
          if (body) body.hidden = false;
        },
      };
      this.editing = handle;
      const body = entry.li.querySelector(".body");
      body.hidden = true;
      body.after(form);
      entry.li.classList.add("editing");
      this.setCurrent(entry.li);
      if (setup) setup(textarea);
      textarea.addEventListener("keydown", (event) => {
        if (event.key === "Escape") { event.preventDefault(); event.stopPropagation(); onCancel(); }
        else if (event.key === "Enter" && !event.shiftKey && !event.isComposing) { event.preventDefault(); form.requestSubmit(); }
      });
      cancel.addEventListener("click", () => onCancel());
      form.addEventListener("submit", (event) => { event.preventDefault(); onSave(textarea.value); });
      textarea.focus();
      textarea.setSelectionRange(textarea.value.length, textarea.value.length);
      entry.li.scrollIntoView({ block: "nearest" });
      return handle;
    }
  }

  window.ChatMessages = { MessageView, humanSize, formatTime, formatFull, formatWhen, dayLabel, icon, isMentionOf, bodyFragment };
})();
