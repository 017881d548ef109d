// The open room's member list: a side panel beside the messages (a full-screen sheet on a phone),
// opened from the room header's Members button. It asks `room.members` (docs/protocol.md) and
// groups the answer by presence, online / away / offline, each with a heading and a dot of its own
// shape (never colour alone), with each member's face and display name (people.js) and role label.
// It stays live: a `presence` frame, a `room.updated` or a system line of the room asks again
// (debounced), as does a reconnect; "away" and "offline" (a member connected elsewhere, or not at
// all) change with no event of the room, so an open panel also asks every CHAT_MEMBERS_REFRESH
// seconds while the page is visible, and when it becomes visible. User text goes in with textContent.
"use strict";

(function () {
  const gettext = window.gettext || ((s) => s);
  const interpolate = window.interpolate || ((fmt, args) => fmt.replace("%s", args[0]));
  const REFETCH_MS = 400;
  const REFRESH_MS = Number(document.getElementById("app").dataset.membersRefresh) || 30000;
  const GROUPS = [
    ["online", () => gettext("Online")],
    ["away", () => gettext("Away")],
    ["offline", () => gettext("Offline")],
  ];
  const roleLabel = (role) => ({ owner: gettext("owner"), moderator: gettext("moderator") })[role] || "";

  class MemberPanel {
    // panel: the <aside>; toggle: the header's button; people: People; onOpen(): another side
    // panel closes (the thread); behind(): the nodes a phone's sheet covers.
    constructor({ client, people, me, panel, toggle, onOpen, behind }) {
      Object.assign(this, { client, people, me, panel, toggle, onOpen, behind });
      this.room = null; // the open room's slug
      this.members = null; // the last answer, for the room
      this.timer = null;
      this.list = panel.querySelector(".members-list");
      this.count = panel.querySelector(".members-count");
      toggle.addEventListener("click", () => (this.isOpen() ? this.close(true) : this.open()));
      panel.querySelector(".members-close").addEventListener("click", () => this.close(true));
      panel.addEventListener("keydown", (event) => {
        if (event.key === "Escape" && !event.defaultPrevented) { event.preventDefault(); this.close(true); }
      });
      client.on("room.members", (frame) => {
        if (frame.room !== this.room) return;
        this.members = frame.members;
        this.people.want(frame.members.map((m) => m.username));
        this.render();
      });
      const changed = (slug) => { if (slug === this.room) this.refetchSoon(); };
      client.on("presence", (frame) => changed(frame.room));
      client.on("room.updated", (frame) => changed(frame.room && frame.room.slug));
      client.on("message", (frame) => { if (frame.kind === "system") changed(frame.room); });
      client.on("open", () => { if (this.isOpen()) this.fetch(); });
      setInterval(() => { if (!document.hidden) this.refetchSoon(); }, REFRESH_MS);
      document.addEventListener("visibilitychange", () => { if (!document.hidden) this.refetchSoon(); });
      people.onChange((names) => {
        if (this.members && this.members.some((m) => names.includes(m.username))) this.render();
      });
    }

    isOpen() { return !this.panel.hidden; }

    // The room shown changed (null: the lobby).
    setRoom(slug) {
      if (slug === this.room) return;
      this.room = slug;
      this.members = null;
      this.list.textContent = "";
      this.count.textContent = "";
      if (slug === null) this.close(false);
      else if (this.isOpen()) this.fetch();
    }

    fetch() {
      clearTimeout(this.timer);
      this.timer = null;
      if (this.room) this.client.send({ type: "room.members", room: this.room });
    }

    refetchSoon() {
      if (!this.isOpen() || this.timer !== null) return;
      this.timer = setTimeout(() => this.fetch(), REFETCH_MS);
    }

    open() {
      if (!this.room) return;
      if (this.onOpen) this.onOpen();
      this.panel.hidden = false;
      this.toggle.setAttribute("aria-expanded", "true");
      document.getElementById("app").classList.add("members-open");
      this.setBehind(window.matchMedia("(max-width: 640px)").matches);
      this.fetch();
      this.panel.querySelector(".members-close").focus();
    }

    close(restoreFocus) {
      if (!this.isOpen()) return;
      this.panel.hidden = true;
      this.toggle.setAttribute("aria-expanded", "false");
      document.getElementById("app").classList.remove("members-open");
      this.setBehind(false);
      if (restoreFocus) this.toggle.focus();
    }

    setBehind(covered) {
      for (const node of this.behind()) if (node) node.inert = covered;
    }

    render() {
      const members = this.members || [];
      this.count.textContent = interpolate(gettext("%s members"), [members.length]);
      this.list.textContent = "";
      for (const [presence, label] of GROUPS) {
        const group = members.filter((m) => (m.presence || "offline") === presence);
        if (!group.length) continue;
        const section = document.createElement("section");
        section.className = "members-group " + presence;
        const heading = document.createElement("h3");
        heading.textContent = label() + " — " + group.length;
        const ul = document.createElement("ul");
        for (const member of group) ul.append(this.row(member, label()));
        section.append(heading, ul);
        this.list.append(section);
      }
    }

    row(member, presenceText) {
      const user = this.people.get(member.username);
      const li = document.createElement("li");
      li.className = "member";
      li.dataset.username = member.username;
      li.dataset.presence = member.presence || "offline";
      li.dataset.role = member.role || "member";
      const face = document.createElement("span");
      face.className = "member-face";
      face.append(window.ChatPeople.avatar(member.username, user, "avatar small"));
      const dot = document.createElement("span");
      dot.className = "presence-dot " + li.dataset.presence;
      dot.setAttribute("aria-hidden", "true");
      face.append(dot);
      const names = document.createElement("span");
      names.className = "member-names";
      const name = document.createElement("span");
      name.className = "member-name";
      const shown = (user && user.display_name) || member.display_name || member.username;
      name.textContent = member.username === this.me ? shown + " " + gettext("(you)") : shown;
      const handle = document.createElement("span");
      handle.className = "member-handle";
      handle.textContent = "@" + member.username;
      names.append(name);
      if (shown !== member.username) names.append(handle); // the username, when it is not the name shown
      const spoken = document.createElement("span");
      spoken.className = "visually-hidden";
      spoken.textContent = ", " + presenceText;
      li.append(face, names, spoken);
      const role = roleLabel(member.role);
      if (role) {
        const tag = document.createElement("span");
        tag.className = "tag role-tag";
        tag.textContent = role;
        li.append(tag);
      }
      return li;
    }
  }

  window.ChatMembers = { MemberPanel, roleLabel };
})();
