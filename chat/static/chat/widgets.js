// Two small widgets of the web UI: the reaction picker (a popover of frequent emoji; a bottom
// sheet on phones) and the @mention autocomplete of a textarea. Keyboard first: arrows, Enter,
// Tab and Escape work as in Slack. Text only (textContent); no protocol code here.
"use strict";

(function () {
  const gettext = window.gettext || ((s) => s);
  const ngettext = window.ngettext || ((s, p, n) => (n === 1 ? s : p));
  const interpolate = window.interpolate || ((fmt, args) => fmt.replace("%s", args[0]));

  const FREQUENT = [
    ["👍", gettext("thumbs up")],
    ["❤️", gettext("red heart")],
    ["😂", gettext("face with tears of joy")],
    ["🎉", gettext("party popper")],
    ["😮", gettext("face with open mouth")],
    ["😢", gettext("crying face")],
    ["🙏", gettext("folded hands")],
    ["👀", gettext("eyes")],
    ["✅", gettext("check mark")],
    ["🔥", gettext("fire")],
    ["💯", gettext("hundred points")],
    ["🚀", gettext("rocket")],
  ];
  const COLUMNS = 6;

  // --- the reaction picker ----------------------------------------------------------------------

  class ReactionPicker {
    constructor() {
      const panel = document.createElement("div");
      panel.className = "picker";
      panel.id = "reaction-picker";
      panel.hidden = true;
      panel.setAttribute("role", "dialog");
      panel.setAttribute("aria-label", gettext("Add reaction"));
      const title = document.createElement("p");
      title.className = "picker-title";
      title.textContent = gettext("Frequently used");
      const grid = document.createElement("div");
      grid.className = "picker-grid";
      this.buttons = FREQUENT.map(([emoji, name]) => {
        const b = document.createElement("button");
        b.type = "button";
        b.className = "picker-emoji";
        b.dataset.emoji = emoji;
        b.textContent = emoji;
        b.title = name;
        b.setAttribute("aria-label", emoji + " " + name);
        grid.append(b);
        return b;
      });
      panel.append(title, grid);
      document.body.append(panel);
      this.panel = panel;
      this.anchor = null;
      this.onPick = null;
      grid.addEventListener("click", (event) => {
        const b = event.target.closest("button.picker-emoji");
        if (b) this.pick(b.dataset.emoji);
      });
      panel.addEventListener("keydown", (event) => this.keydown(event));
      document.addEventListener("pointerdown", (event) => {
        if (!this.panel.hidden && !this.panel.contains(event.target) && !(this.anchor && this.anchor.contains(event.target))) {
          this.close(false);
        }
      });
      window.addEventListener("resize", () => { if (!this.panel.hidden) this.close(false); });
    }

    isOpen() { return !this.panel.hidden; }

    // Opens beside `anchor`; `reacted` is the set of emoji the user already chose (marked as pressed).
    open(anchor, reacted, onPick) {
      if (this.isOpen() && this.anchor === anchor) { this.close(true); return; }
      this.anchor = anchor;
      this.onPick = onPick;
      for (const b of this.buttons) b.setAttribute("aria-pressed", reacted.has(b.dataset.emoji) ? "true" : "false");
      this.panel.hidden = false;
      const rect = anchor.getBoundingClientRect();
      const width = this.panel.offsetWidth;
      const height = this.panel.offsetHeight;
      const left = Math.max(8, Math.min(rect.right - width, window.innerWidth - width - 8));
      const above = rect.top - height - 6;
      this.panel.style.left = left + "px";
      this.panel.style.top = (above >= 8 ? above : Math.min(rect.bottom + 6, window.innerHeight - height - 8)) + "px";
      this.buttons[0].focus();
    }

    close(restoreFocus) {
      if (this.panel.hidden) return;
      this.panel.hidden = true;
      const anchor = this.anchor;
      this.anchor = null;
      if (restoreFocus && anchor && anchor.isConnected) anchor.focus();
    }

    pick(emoji) {
      const onPick = this.onPick;
      this.close(true);
      if (onPick) onPick(emoji);
    }

    keydown(event) {
      const index = this.buttons.indexOf(document.activeElement);
      const move = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: COLUMNS, ArrowUp: -COLUMNS }[event.key];
      if (event.key === "Escape") {
        event.preventDefault();
        event.stopPropagation();
        this.close(true);
      } else if (move !== undefined && index !== -1) {
        event.preventDefault();
        const next = index + move;
        if (next >= 0 && next < this.buttons.length) this.buttons[next].focus();
      } else if (event.key === "Home" || event.key === "End") {
        event.preventDefault();
        this.buttons[event.key === "Home" ? 0 : this.buttons.length - 1].focus();
      } else if (event.key === "Tab") {
        event.preventDefault(); // a small dialog: focus stays in it until Escape or a choice
        const next = (index + (event.shiftKey ? -1 : 1) + this.buttons.length) % this.buttons.length;
        this.buttons[next].focus();
      }
    }
  }

  // --- @mention autocomplete ----------------------------------------------------------------------

  // The @word being typed just before the caret, if any (the server's rule: not after a word
  // character or another @).
  const QUERY_RE = /(^|[^\w@])@([\w.+-]{0,150})$/u;

  let listCount = 0;

  class MentionAutocomplete {
    // names(): the usernames to offer (the room's online users and recent authors).
    constructor(textarea, names) {
      this.textarea = textarea;
      this.names = names;
      this.options = [];
      this.active = 0;
      this.start = null; // where the "@" is
      this.query = ""; // what follows it
      listCount += 1;
      const list = document.createElement("ul");
      list.className = "mention-list";
      list.id = "mention-list-" + listCount;
      list.hidden = true;
      list.setAttribute("role", "listbox");
      list.setAttribute("aria-label", gettext("People"));
      this.list = list;
      this.status = document.createElement("span");
      this.status.className = "visually-hidden";
      this.status.setAttribute("aria-live", "polite");
      textarea.after(list, this.status);
      textarea.setAttribute("aria-autocomplete", "list");
      textarea.setAttribute("aria-controls", list.id);
      // Listen before the composer's own handlers, which Enter and ArrowUp would otherwise reach.
      textarea.addEventListener("keydown", (event) => this.keydown(event), { capture: true });
      textarea.addEventListener("input", () => this.update());
      textarea.addEventListener("click", () => this.update());
      textarea.addEventListener("blur", () => setTimeout(() => this.close(), 150));
      list.addEventListener("mousedown", (event) => event.preventDefault()); // keep the focus
      list.addEventListener("click", (event) => {
        const option = event.target.closest("li[role=option]");
        if (option) this.choose(Number(option.dataset.index));
      });
    }

    isOpen() { return !this.list.hidden; }

    update() {
      const caret = this.textarea.selectionStart;
      if (caret !== this.textarea.selectionEnd) { this.close(); return; }
      const match = QUERY_RE.exec(this.textarea.value.slice(0, caret));
      if (!match) { this.close(); return; }
      this.query = match[2];
      const query = match[2].toLowerCase();
      this.start = caret - match[2].length - 1;
      const seen = new Set();
      const starts = [];
      const contains = [];
      for (const name of this.names()) {
        if (!name || seen.has(name)) continue;
        seen.add(name);
        const lower = name.toLowerCase();
        if (lower.startsWith(query)) starts.push(name);
        else if (query && lower.includes(query)) contains.push(name);
      }
      const collator = new Intl.Collator(document.documentElement.lang || undefined);
      starts.sort(collator.compare);
      contains.sort(collator.compare);
      this.options = starts.concat(contains).slice(0, 8);
      if (!this.options.length) { this.close(); return; }
      this.active = 0;
      this.render();
    }

    render() {
      this.list.textContent = "";
      this.options.forEach((name, index) => {
        const option = document.createElement("li");
        option.id = this.list.id + "-" + index;
        option.setAttribute("role", "option");
        option.dataset.index = String(index);
        option.setAttribute("aria-selected", index === this.active ? "true" : "false");
        option.textContent = "@" + name;
        this.list.append(option);
      });
      const wasOpen = this.isOpen();
      this.list.hidden = false;
      this.textarea.setAttribute("aria-activedescendant", this.list.id + "-" + this.active);
      if (!wasOpen) {
        this.status.textContent = interpolate(
          ngettext("%s suggestion: up and down arrows to choose, Enter or Tab to insert",
            "%s suggestions: up and down arrows to choose, Enter or Tab to insert", this.options.length),
          [this.options.length]);
      }
    }

    close() {
      if (this.list.hidden) return;
      this.list.hidden = true;
      this.options = [];
      this.textarea.removeAttribute("aria-activedescendant");
    }

    choose(index) {
      const name = this.options[index];
      if (name === undefined) return;
      const value = this.textarea.value;
      const caret = this.textarea.selectionStart;
      const inserted = "@" + name + " ";
      this.textarea.value = value.slice(0, this.start) + inserted + value.slice(caret);
      const at = this.start + inserted.length;
      this.textarea.setSelectionRange(at, at);
      this.close();
      this.textarea.focus();
    }

    keydown(event) {
      if (!this.isOpen() || event.isComposing) return;
      const handled = () => { event.preventDefault(); event.stopImmediatePropagation(); };
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        handled();
        const step = event.key === "ArrowDown" ? 1 : -1;
        this.active = (this.active + step + this.options.length) % this.options.length;
        this.render();
      } else if ((event.key === "Enter" && !event.shiftKey) || event.key === "Tab") {
        if (event.key === "Enter" && this.options[this.active] === this.query) {
          this.close(); // the name is typed out already: nothing to complete, Enter does its own job
          return;
        }
        handled();
        this.choose(this.active);
      } else if (event.key === "Escape") {
        handled();
        this.close();
      }
    }
  }

  window.ChatWidgets = { ReactionPicker, MentionAutocomplete, FREQUENT };
})();
