// Direct messages in the room list: the "Direct messages" section's items. A DM is shown by the
// other people's names (the room object's `title`, docs/protocol.md) with the other person's
// picture or initials (people.js), or for a group the number of other people. app.js keeps the
// list (and counts); the "New message" dialog is dmpicker.js. All text goes in with textContent.
"use strict";

(function () {
  const gettext = window.gettext || ((s) => s);
  const interpolate = window.interpolate || ((fmt, args) => fmt.replace("%s", args[0]));

  // The other members of a DM, for the signed-in user `me`.
  const others = (room, me) => (room.members || []).filter((name) => name !== me);

  // The face of a DM: the one other person's avatar, or for a group how many others there are.
  function face(room, me, people) {
    const rest = others(room, me);
    if (rest.length === 1) return window.ChatPeople.avatar(rest[0], people ? people.get(rest[0]) : null, "avatar dm-avatar");
    const group = document.createElement("span");
    group.className = "avatar dm-avatar dm-group";
    group.setAttribute("aria-hidden", "true");
    group.textContent = String(Math.max(rest.length, 2));
    return group;
  }

  // Fill the <li> of one DM (its counts: ChatRoomList.renderCounts).
  function renderItem(item, room, { me, people }) {
    item.textContent = "";
    item.dataset.kind = "dm";
    const link = document.createElement("a");
    link.href = ChatRouter.roomPath(room.slug, "dm");
    link.title = room.title;
    const title = document.createElement("span");
    title.className = "room-title";
    title.textContent = room.title;
    link.append(face(room, me, people), title);
    const rest = others(room, me);
    if (rest.length > 1) {
      const size = document.createElement("span");
      size.className = "visually-hidden";
      size.textContent = ", " + interpolate(gettext("group of %s"), [rest.length + 1]);
      link.append(size);
    }
    if (room.archived) {
      const tag = document.createElement("span");
      tag.className = "tag";
      tag.textContent = gettext("archived");
      link.append(" ", tag);
    }
    item.append(link);
  }

  // The DMs (slugs) whose face shows one of these usernames: to draw again when they change.
  function showing(rooms, me, usernames) {
    const changed = new Set(usernames);
    return [...rooms.values()]
      .filter((room) => room.kind === "dm" && others(room, me).length === 1 && changed.has(others(room, me)[0]))
      .map((room) => room.slug);
  }

  window.ChatDMs = { renderItem, others, showing };
})();
