// The room settings dialog, opened from the room header: what the viewer's `role` may do there
// (docs/rooms.md, the action x role table), and nothing else: owners and moderators edit the title,
// description and privacy, archive and unarchive, add members by username and remove members;
// owners also hand out roles (moderator, owner: handing over ownership) and remove anyone; everyone
// leaves. The server enforces the same table; its refusals (`forbidden`, `not_found`,
// `invalid_field`, `last_owner`) are shown inline, in the section that asked, in the page's language.
// Frames: room.update, room.archive, room.member.add, room.member.remove, room.role.set, room.leave,
// room.members (docs/protocol.md). User text goes in with textContent.
"use strict";

(function () {
  const gettext = window.gettext || ((s) => s);
  const interpolate = window.interpolate || ((fmt, args) => fmt.replace("%s", args[0]));
  const pgettext = window.pgettext || ((context, s) => s);

  // What a role may do (docs/rooms.md). DMs have fixed members and settings: leave only.
  const can = {
    run: (room) => room.kind !== "dm" && (room.role === "owner" || room.role === "moderator"),
    setRoles: (room) => room.kind !== "dm" && room.role === "owner",
    remove: (room, member, me) => can.run(room) && member.username !== me && (room.role === "owner" || member.role === "member"),
    leave: (room) => Boolean(room.role),
  };

  function errorText(frame, op) {
    switch (frame.code) {
      case "forbidden": return gettext("Your role in this room does not allow that.");
      case "not_found":
        return op === "room.member.add"
          ? gettext("There is no active user with that username.")
          : gettext("Not found: the room or that member is no longer there.");
      case "invalid_field":
        if (op === "room.update") return gettext("Check the fields: a title is 1 to 120 characters, a description at most 2,000.");
        if (op === "room.member.add") return gettext("Enter a username.");
        return gettext("That value is not valid.");
      case "last_owner":
        return op === "room.leave"
          ? gettext("You are the last owner of this room. Make another member an owner first (Members, above), then leave.")
          : gettext("A room keeps at least one owner: make another member an owner first.");
      case "rate_limited": return gettext("You are doing that too fast; wait a moment.");
      case "read_only": return gettext("This room is archived: read-only.");
      default: return frame.detail || gettext("That did not work.");
    }
  }

  class RoomSettings {
    // dialog: the <dialog>; toggle: the header's button; onLeft(slug): the viewer left the room.
    constructor({ client, people, me, dialog, toggle, onLeft }) {
      Object.assign(this, { client, people, me, dialog, toggle, onLeft });
      this.room = null; // the open room's object
      this.members = [];
      this.ops = new Map(); // ref -> {op, errorEl, onDone, onError}
      this.leaving = null; // the slug being left, until it is gone
      this.seq = 0;
      this.timer = null;
      const q = (selector) => dialog.querySelector(selector);
      this.about = q("#settings-about");
      this.invite = q("#settings-invite");
      this.memberList = q("#settings-members");
      this.archiveButton = q("#settings-archive-button");
      this.leaveButton = q("#settings-leave-button");
      this.leaveConfirm = q("#settings-leave-confirm");

      toggle.addEventListener("click", () => this.open());
      q(".settings-close").addEventListener("click", () => dialog.close());
      dialog.addEventListener("close", () => { this.leaveConfirm.hidden = true; this.leaveButton.hidden = false; if (this.toggle.isConnected && !this.toggle.hidden) this.toggle.focus(); });
      this.about.addEventListener("submit", (event) => {
        event.preventDefault();
        const fields = {};
        const title = this.about.elements.title.value.trim();
        const description = this.about.elements.description.value;
        const isPrivate = this.about.elements.is_private.checked;
        if (title !== this.room.title) fields.title = title;
        if (description !== (this.room.description || "")) fields.description = description;
        if (isPrivate !== Boolean(this.room.private)) fields.is_private = isPrivate;
        const status = q("#settings-about-error");
        if (!Object.keys(fields).length) { this.say(status, gettext("Nothing to save."), false); return; }
        this.send(Object.assign({ type: "room.update" }, fields), status, () => this.say(status, gettext("Saved."), false));
      });
      this.invite.addEventListener("submit", (event) => {
        event.preventDefault();
        const input = this.invite.elements.user;
        const user = input.value.trim().replace(/^@/, "");
        const status = q("#settings-members-error");
        if (!user) { this.say(status, gettext("Enter a username."), true); input.focus(); return; }
        this.send({ type: "room.member.add", user }, status, () => {
          input.value = "";
          this.say(status, interpolate(gettext("%s was added."), [user]), false);
          this.fetchMembers();
        });
      });
      this.archiveButton.addEventListener("click", () => {
        const status = q("#settings-archive-error");
        this.send({ type: "room.archive", archived: !this.room.archived }, status, () => this.say(status, "", false));
      });
      this.leaveButton.addEventListener("click", () => {
        this.leaveButton.hidden = true;
        this.leaveConfirm.hidden = false;
        this.leaveConfirm.querySelector("button.secondary").focus();
      });
      this.leaveConfirm.querySelector("button.secondary").addEventListener("click", () => {
        this.leaveConfirm.hidden = true;
        this.leaveButton.hidden = false;
        this.leaveButton.focus();
      });
      this.leaveConfirm.querySelector("button.danger").addEventListener("click", () => {
        const slug = this.room.slug;
        const status = q("#settings-leave-error");
        this.leaving = slug;
        this.send({ type: "room.leave" }, status, () => {
          dialog.close();
          this.onLeft(slug);
        }, () => {
          this.leaving = null;
          this.leaveConfirm.hidden = true;
          this.leaveButton.hidden = false;
          this.leaveButton.focus();
        });
      });

      client.on("done", (frame) => {
        const op = this.ops.get(frame.ref);
        if (!op) return;
        this.ops.delete(frame.ref);
        this.busy(false);
        if (op.onDone) op.onDone(frame);
      });
      client.on("error", (frame) => {
        const op = this.ops.get(frame.ref);
        if (!op) return;
        this.ops.delete(frame.ref);
        this.busy(false);
        this.say(op.errorEl, errorText(frame, op.op), true);
        if (op.onError) op.onError(frame);
      });
      client.on("room.members", (frame) => {
        if (!this.room || frame.room !== this.room.slug) return;
        this.members = frame.members;
        if (this.dialog.open) this.renderMembers();
      });
      const changed = (slug) => {
        if (!this.dialog.open || !this.room || slug !== this.room.slug || this.timer !== null) return;
        this.timer = setTimeout(() => { this.timer = null; this.fetchMembers(); }, 400);
      };
      client.on("room.updated", (frame) => changed(frame.room && frame.room.slug));
      client.on("message", (frame) => { if (frame.kind === "system") changed(frame.room); });
      people.onChange(() => { if (this.dialog.open) this.renderMembers(); });
    }

    // The open room's object changed (or another room opened; null: the lobby).
    setRoom(room) {
      const other = !room || !this.room || room.slug !== this.room.slug;
      this.room = room ? Object.assign({}, room) : null;
      this.toggle.hidden = !room || !room.role;
      if (!room || (other && this.dialog.open)) { if (this.dialog.open) this.dialog.close(); return; }
      if (this.dialog.open) this.applyRole();
    }

    isLeaving(slug) { return this.leaving === slug; }

    open() {
      if (!this.room) return;
      for (const error of this.dialog.querySelectorAll(".settings-error")) this.say(error, "", false);
      this.dialog.querySelector("#settings-room").textContent = this.room.title;
      this.about.elements.title.value = this.room.title;
      this.about.elements.description.value = this.room.description || "";
      this.about.elements.is_private.checked = Boolean(this.room.private);
      this.invite.elements.user.value = "";
      this.members = [];
      this.memberList.textContent = "";
      this.applyRole();
      this.dialog.showModal();
      this.fetchMembers();
    }

    applyRole() {
      const room = this.room;
      for (const node of this.dialog.querySelectorAll("[data-needs=run]")) node.hidden = !can.run(room);
      this.dialog.querySelector("#settings-members-section").hidden = room.kind === "dm";
      this.invite.hidden = !can.run(room);
      this.dialog.querySelector("#settings-leave").hidden = !can.leave(room);
      this.archiveButton.textContent = room.archived ? gettext("Unarchive the room") : gettext("Archive the room");
      this.dialog.querySelector("#settings-archive-help").textContent = room.archived
        ? gettext("The room is archived: read-only. Unarchiving lets everyone write again.")
        : gettext("Archiving keeps the messages and makes the room read-only.");
      const roleLine = this.dialog.querySelector("#settings-your-role");
      const roleName = { owner: gettext("owner"), moderator: gettext("moderator"), member: gettext("member") }[room.role] || "";
      roleLine.textContent = roleName ? interpolate(gettext("Your role: %s"), [roleName]) : "";
      this.renderMembers();
    }

    fetchMembers() {
      if (this.room) this.client.send({ type: "room.members", room: this.room.slug });
    }

    renderMembers() {
      const room = this.room;
      if (!room) return;
      this.memberList.textContent = "";
      for (const member of this.members) {
        const user = this.people.get(member.username);
        const li = document.createElement("li");
        li.className = "settings-member";
        li.dataset.username = member.username;
        li.append(window.ChatPeople.avatar(member.username, user, "avatar small"));
        const names = document.createElement("span");
        names.className = "member-names";
        const name = document.createElement("span");
        name.className = "member-name";
        name.textContent = (user && user.display_name) || member.display_name || member.username;
        const handle = document.createElement("span");
        handle.className = "member-handle";
        handle.textContent = "@" + member.username;
        names.append(name);
      if (name.textContent !== member.username) names.append(handle); // the username, when it is not the name shown
        li.append(names);
        const shownName = name.textContent;
        if (can.setRoles(room)) {
          const select = document.createElement("select");
          select.className = "role-select";
          select.setAttribute("aria-label", interpolate(gettext("Role of %s"), [shownName]));
          for (const [value, label] of [["member", gettext("member")], ["moderator", gettext("moderator")], ["owner", gettext("owner")]]) {
            const option = document.createElement("option");
            option.value = value;
            option.textContent = label;
            select.append(option);
          }
          select.value = member.role;
          select.addEventListener("change", () => {
            const status = this.dialog.querySelector("#settings-members-error");
            this.send({ type: "room.role.set", user: member.username, role: select.value }, status,
              () => { this.say(status, "", false); this.fetchMembers(); },
              () => { select.value = member.role; });
          });
          li.append(select);
        } else if (member.role !== "member") {
          const tag = document.createElement("span");
          tag.className = "tag role-tag";
          tag.textContent = window.ChatMembers.roleLabel(member.role);
          li.append(tag);
        }
        if (can.remove(room, member, this.me)) {
          const remove = document.createElement("button");
          remove.type = "button";
          remove.className = "secondary remove-member";
          remove.textContent = pgettext("a member from a room", "Remove");
          remove.setAttribute("aria-label", interpolate(gettext("Remove %s from the room"), [shownName]));
          remove.addEventListener("click", () => {
            const status = this.dialog.querySelector("#settings-members-error");
            this.send({ type: "room.member.remove", user: member.username }, status, () => {
              this.say(status, interpolate(gettext("%s was removed."), [shownName]), false);
              this.fetchMembers();
            });
          });
          li.append(remove);
        }
        this.memberList.append(li);
      }
    }

    send(frame, errorEl, onDone, onError) {
      const ref = "room-op-" + (++this.seq);
      const sent = Object.assign({ room: this.room.slug, ref }, frame);
      if (!this.client.send(sent)) { this.say(errorEl, gettext("Not connected: try again in a moment."), true); if (onError) onError(); return; }
      this.ops.set(ref, { op: frame.type, errorEl, onDone, onError });
      this.say(errorEl, "", false);
      this.busy(true);
    }

    busy(on) { this.dialog.setAttribute("aria-busy", on ? "true" : "false"); }

    say(node, text, isError) {
      node.textContent = text;
      node.classList.toggle("is-error", Boolean(isError && text));
    }
  }

  window.ChatRoomSettings = { RoomSettings, can };
})();
