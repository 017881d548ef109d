// Composing: a composer's keys (Enter sends, Shift+Enter starts a new line, ArrowUp in an empty box
// edits your last message), each room's draft (kept per user in localStorage until it is sent, so
// switching rooms or leaving the page loses nothing), and the "sending…" row of a message not acked
// yet. No protocol here: app.js passes what to do.
"use strict";

(function () {
  const gettext = window.gettext || ((s) => s);
  const { MentionAutocomplete } = window.ChatWidgets;

  // options: mentionNames() for suggestions, onTyping() while typing, onArrowUp(textarea) -> true if
  // it started an edit, send(text) for a non-blank message (then the box is emptied).
  function setUp(form, textarea, { mentionNames, onTyping, onArrowUp, send }) {
    new MentionAutocomplete(textarea, mentionNames); // first: it takes Enter and arrows while open
    textarea.addEventListener("input", () => { if (textarea.value.trim()) onTyping(); });
    textarea.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        form.requestSubmit();
      } else if (event.key === "ArrowUp" && textarea.value === "" && !event.shiftKey && !event.altKey && !event.ctrlKey && !event.metaKey) {
        if (onArrowUp(textarea)) event.preventDefault();
      }
    });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const text = textarea.value;
      if (!text.trim()) return;
      send(text);
      textarea.value = "";
      textarea.dispatchEvent(new Event("input")); // the draft goes too
    });
  }

  // The composer's draft of each room: show(slug) puts the room's draft in the box; typing keeps it.
  class Drafts {
    constructor(textarea, userId) {
      this.textarea = textarea;
      this.prefix = "chat:draft:" + userId + ":";
      this.room = null; // the room whose draft the box holds
      textarea.addEventListener("input", () => this.save());
    }

    save() {
      if (!this.room) return;
      try {
        if (this.textarea.value) localStorage.setItem(this.prefix + this.room, this.textarea.value);
        else localStorage.removeItem(this.prefix + this.room);
      } catch (e) { /* storage unavailable: the draft lives as long as the page */ }
    }

    show(slug) {
      this.room = slug;
      let text = "";
      try { text = localStorage.getItem(this.prefix + slug) || ""; } catch (e) { /* storage unavailable */ }
      this.textarea.value = text;
    }
  }

  // The row of my message `text` until the room's copy replaces it.
  function pendingItem(me, id, text) {
    const item = document.createElement("li");
    item.className = "message outgoing pending";
    item.dataset.clientMsgId = id;
    const gutter = document.createElement("div");
    gutter.className = "gutter";
    const content = document.createElement("div");
    content.className = "content";
    const meta = document.createElement("div");
    meta.className = "meta";
    const author = document.createElement("span");
    author.className = "author";
    author.textContent = me;
    const sending = document.createElement("span");
    sending.className = "state";
    sending.textContent = gettext("sending…");
    meta.append(author, " ", sending);
    const body = document.createElement("div");
    body.className = "body plain";
    body.textContent = text;
    content.append(meta, body);
    item.append(gutter, content);
    return item;
  }

  window.ChatComposer = { setUp, Drafts, pendingItem };
})();
