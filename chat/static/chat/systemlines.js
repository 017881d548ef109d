// System lines ("alice added bob"): the text of a message of kind "system" from its `system`
// event (docs/protocol.md, docs/rooms.md), in the page's language. The server's English `body` is
// the fallback for an event this page does not know. Text only: the caller puts it in with
// textContent.
"use strict";

(function () {
  const gettext = window.gettext || ((s) => s);
  const interpolate = window.interpolate || ((fmt, args) => fmt.replace(/%\((\w+)\)s/g, (_, key) => String(args[key])));
  const locale = document.documentElement.lang || undefined;
  const list = typeof Intl.ListFormat === "function" ? new Intl.ListFormat(locale, { type: "conjunction" }) : { format: (items) => items.join(", ") };

  // What a room.updated line names, in this order.
  const FIELDS = {
    title: () => gettext("title"),
    description: () => gettext("description"),
    is_private: () => gettext("privacy"),
    slug: () => gettext("address"),
  };

  // The sentences, by event (and role), with %(actor)s and %(target)s.
  const SENTENCES = {
    "member.added": () => gettext("%(actor)s added %(target)s"),
    "member.removed": () => gettext("%(actor)s removed %(target)s"),
    "member.left": () => gettext("%(target)s left the room"),
    "role.changed:owner": () => gettext("%(actor)s made %(target)s an owner"),
    "role.changed:moderator": () => gettext("%(actor)s made %(target)s a moderator"),
    "role.changed:member": () => gettext("%(actor)s made %(target)s a member"),
    "room.updated": () => gettext("%(actor)s changed the room's %(fields)s"),
    "room.archived": () => gettext("%(actor)s archived the room"),
    "room.unarchived": () => gettext("%(actor)s unarchived the room"),
  };

  // message: a message object with kind "system". Returns the line's text.
  function text(message) {
    const system = message.system || {};
    const key = system.event === "role.changed" ? "role.changed:" + system.role : system.event;
    const sentence = SENTENCES[key];
    const actor = system.actor || gettext("An admin"); // null: a script or an operator without an account
    const target = system.target || actor;
    const order = Object.keys(FIELDS); // title first, whatever order the server lists them in
    const rank = (name) => (order.includes(name) ? order.indexOf(name) : order.length);
    const fields = [...(system.fields || [])].sort((a, b) => rank(a) - rank(b)).map((name) => (FIELDS[name] ? FIELDS[name]() : name));
    if (!sentence || (system.event === "room.updated" && !fields.length)) return message.body || "";
    return interpolate(sentence(), { actor, target, fields: list.format(fields) }, true);
  }

  window.ChatSystemLines = { text };
})();
