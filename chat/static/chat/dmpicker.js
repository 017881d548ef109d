// The "New message" dialog: find people by name (`users.search`, docs/protocol.md), pick 1 to
// `max` of them, and open the conversation (`dm.open`): the existing one of that set of people, or
// a new one. A modal <dialog> with a combobox: typing searches; Up/Down move in the suggestions,
// Enter picks one (or, with nothing typed, starts the conversation); Backspace in the empty field
// removes the last person picked; Escape closes. All text goes in with textContent.
"use strict";

(function () {
  const gettext = window.gettext || ((s) => s);
  const interpolate = window.interpolate || ((fmt, args) => fmt.replace("%s", args[0]));
  const ngettext = window.ngettext || ((one, many, n) => (n === 1 ? one : many));
  const SEARCH_DELAY = 150; // ms after the last key before asking the server

  class DmPicker {
    // dialog: the <dialog id="dm-picker">; options: client (ChatClient), me (username), people
    // (ChatPeople.People), max (people besides me), onOpened(room object) once the DM is open.
    constructor(dialog, { client, me, people, max, onOpened }) {
      this.dialog = dialog;
      this.client = client;
      this.me = me;
      this.people = people;
      this.max = max;
      this.onOpened = onOpened;
      this.input = dialog.querySelector("#dm-picker-input");
      this.results = dialog.querySelector("#dm-picker-results");
      this.picked = dialog.querySelector("#dm-picked");
      this.status = dialog.querySelector("#dm-picker-status");
      this.error = dialog.querySelector("#dm-picker-error");
      this.go = dialog.querySelector("#dm-picker-go");
      this.chosen = []; // user objects, in the order picked
      this.found = []; // the suggestions shown
      this.activeIndex = -1;
      this.searchRef = null; // the users.search whose answer is awaited
      this.openRef = null; // the dm.open whose answer is awaited
      this.timer = null;
      this.seq = 0;
      this.returnFocus = null;

      this.input.addEventListener("input", () => this.queueSearch());
      this.input.addEventListener("keydown", (event) => this.keydown(event));
      this.results.addEventListener("mousedown", (event) => event.preventDefault()); // keep the focus in the field
      this.results.addEventListener("click", (event) => {
        const option = event.target.closest("[role=option]");
        if (option) this.pick(Number(option.dataset.index));
      });
      this.picked.addEventListener("click", (event) => {
        const remove = event.target.closest("button[data-username]");
        if (remove) this.unpick(remove.dataset.username);
      });
      this.go.addEventListener("click", () => this.start());
      dialog.querySelector("#dm-picker-cancel").addEventListener("click", () => dialog.close());
      dialog.addEventListener("close", () => this.closed());
      client.on("users", (frame) => { if (frame.ref && frame.ref === this.searchRef) this.showFound(frame.users); });
      client.on("dm.opened", (frame) => {
        if (!frame.ref || frame.ref !== this.openRef) return;
        this.openRef = null;
        this.returnFocus = null; // the conversation takes the focus
        this.dialog.close();
        this.onOpened(frame.info);
      });
      client.on("error", (frame) => {
        if (!frame.ref) return;
        if (frame.ref === this.searchRef) {
          this.searchRef = null;
          this.showFound([]);
          if (frame.code === "rate_limited") this.error.textContent = this.errorText(frame);
        }
        if (frame.ref === this.openRef) { this.openRef = null; this.setBusy(false); this.error.textContent = this.errorText(frame); }
      });
    }

    open(trigger) {
      this.returnFocus = trigger || document.activeElement;
      this.chosen = [];
      this.input.value = "";
      this.error.textContent = "";
      this.renderPicked();
      this.showFound([]);
      this.setBusy(false);
      this.dialog.showModal();
      this.input.focus();
    }

    closed() {
      clearTimeout(this.timer);
      this.searchRef = null;
      this.openRef = null;
      const back = this.returnFocus;
      this.returnFocus = null;
      if (back && back.isConnected) back.focus();
    }

    errorText(frame) {
      const texts = {
        not_found: gettext("One of these people has no active account."),
        too_many_rooms: gettext("You have started too many conversations recently; try again later."),
        rate_limited: gettext("You are doing that too fast; wait a moment."),
      };
      return texts[frame.code] || frame.detail || gettext("The conversation could not be opened.");
    }

    // --- searching ---

    queueSearch() {
      clearTimeout(this.timer);
      this.error.textContent = "";
      const query = this.input.value.trim();
      if (!query) { this.searchRef = null; this.showFound([]); return; }
      this.timer = setTimeout(() => this.search(query), SEARCH_DELAY);
    }

    search(query) {
      const ref = "dm-search-" + (++this.seq);
      if (!this.client.send({ type: "users.search", query: query.slice(0, 150), ref })) {
        this.status.textContent = gettext("Not connected: the search waits for the connection.");
        return;
      }
      this.searchRef = ref;
    }

    showFound(users) {
      const taken = new Set(this.chosen.map((user) => user.username));
      this.found = users.filter((user) => user.username !== this.me && !taken.has(user.username));
      this.results.textContent = "";
      this.found.forEach((user, index) => {
        const option = document.createElement("li");
        option.id = "dm-picker-option-" + index;
        option.setAttribute("role", "option");
        option.setAttribute("aria-selected", "false");
        option.dataset.index = String(index);
        option.dataset.username = user.username;
        const names = document.createElement("span");
        names.className = "dm-option-names";
        const name = document.createElement("span");
        name.className = "dm-option-name";
        name.textContent = user.display_name || user.username;
        const handle = document.createElement("span");
        handle.className = "dm-option-handle";
        handle.textContent = "@" + user.username;
        names.append(name, handle);
        option.append(window.ChatPeople.avatar(user.username, user, "avatar dm-avatar"), names);
        this.results.append(option);
      });
      const query = this.input.value.trim();
      const open = this.found.length > 0;
      this.results.hidden = !open;
      this.input.setAttribute("aria-expanded", open ? "true" : "false");
      this.setActive(open ? 0 : -1);
      if (query && this.searchRef && !open) this.status.textContent = interpolate(gettext("No one found for “%s”."), [query]);
      else if (open) this.status.textContent = interpolate(ngettext("%s person found", "%s people found", this.found.length), [this.found.length]);
      else this.status.textContent = "";
    }

    setActive(index) {
      this.activeIndex = index;
      for (const option of this.results.children) {
        const on = Number(option.dataset.index) === index;
        option.setAttribute("aria-selected", on ? "true" : "false");
        if (on) option.scrollIntoView({ block: "nearest" });
      }
      if (index >= 0) this.input.setAttribute("aria-activedescendant", "dm-picker-option-" + index);
      else this.input.removeAttribute("aria-activedescendant");
    }

    keydown(event) {
      if (event.isComposing) return; // a Korean syllable being typed
      const count = this.found.length;
      if (event.key === "ArrowDown" && count) { event.preventDefault(); this.setActive((this.activeIndex + 1) % count); }
      else if (event.key === "ArrowUp" && count) { event.preventDefault(); this.setActive((this.activeIndex - 1 + count) % count); }
      else if (event.key === "Enter") {
        event.preventDefault();
        if (count && this.activeIndex >= 0 && this.input.value.trim()) this.pick(this.activeIndex);
        else if (!this.input.value.trim()) this.start();
      } else if (event.key === "Backspace" && !this.input.value && this.chosen.length) {
        this.unpick(this.chosen[this.chosen.length - 1].username);
      }
    }

    // --- the people picked ---

    pick(index) {
      const user = this.found[index];
      if (!user) return;
      if (this.chosen.length >= this.max) {
        this.error.textContent = interpolate(gettext("A conversation has at most %s other people."), [this.max]);
        return;
      }
      this.chosen.push(user);
      this.input.value = "";
      this.searchRef = null;
      this.renderPicked();
      this.showFound([]);
      this.status.textContent = interpolate(gettext("%s added."), [user.display_name || user.username]);
      this.input.focus();
    }

    unpick(username) {
      const user = this.chosen.find((u) => u.username === username);
      this.chosen = this.chosen.filter((u) => u.username !== username);
      this.renderPicked();
      if (user) this.status.textContent = interpolate(gettext("%s removed."), [user.display_name || user.username]);
      this.input.focus();
    }

    renderPicked() {
      this.picked.textContent = "";
      for (const user of this.chosen) {
        const chip = document.createElement("li");
        chip.className = "dm-chip";
        const name = document.createElement("span");
        name.textContent = user.display_name || user.username;
        const remove = document.createElement("button");
        remove.type = "button";
        remove.className = "dm-chip-remove";
        remove.dataset.username = user.username;
        const label = interpolate(gettext("Remove %s"), [user.display_name || user.username]);
        remove.setAttribute("aria-label", label);
        remove.title = label;
        remove.textContent = "×";
        chip.append(window.ChatPeople.avatar(user.username, user, "avatar dm-avatar"), name, remove);
        this.picked.append(chip);
      }
      this.picked.hidden = this.chosen.length === 0;
      this.go.disabled = this.chosen.length === 0 || this.openRef !== null;
      this.input.placeholder = this.chosen.length ? gettext("Add another person…") : gettext("Type a name…");
    }

    // --- opening the conversation ---

    setBusy(busy) {
      this.go.disabled = busy || this.chosen.length === 0;
      this.go.setAttribute("aria-busy", busy ? "true" : "false");
    }

    start() {
      if (!this.chosen.length || this.openRef) return;
      const ref = "dm-open-" + (++this.seq);
      this.error.textContent = "";
      if (!this.client.send({ type: "dm.open", users: this.chosen.map((user) => user.username), ref })) {
        this.error.textContent = gettext("Not connected: try again in a moment.");
        return;
      }
      this.openRef = ref;
      this.setBusy(true);
    }
  }

  window.ChatDmPicker = { DmPicker };
})();
