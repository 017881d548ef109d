// The people this page shows, by username: their user objects (display name, picture or initials
// on a colour, status, time zone) from `users.fetch`, kept current by `user.updated`
// (docs/protocol.md). One per page. Who is wanted is batched: at most one `users.fetch` is in
// flight, 100 names each; after a reconnect everyone known is fetched again (the server replays no
// `user.updated`). Listeners (onChange) get the usernames whose objects changed, to redraw them.
"use strict";

(function () {
  const BATCH = 100; // CHAT_USERS_FETCH_MAX

  class People {
    constructor(client) {
      this.client = client;
      this.users = new Map(); // username -> user object, or null: no such active account
      this.wanted = new Set(); // usernames to fetch
      this.inFlight = null; // {ref, names} of the one users.fetch on its way
      this.listeners = [];
      this.timer = null;
      this.seq = 0;
      client.on("users", (frame) => this.received(frame));
      client.on("user.updated", (frame) => this.update([frame.user]));
      client.on("error", (frame) => {
        if (!this.inFlight || frame.ref !== this.inFlight.ref) return;
        for (const name of this.inFlight.names) if (!this.users.has(name)) this.users.set(name, null);
        this.inFlight = null;
        this.schedule();
      });
      client.on("open", () => {
        // Nothing is replayed after a reconnect: fetch everyone shown again.
        if (this.inFlight) for (const name of this.inFlight.names) this.wanted.add(name);
        this.inFlight = null;
        for (const name of this.users.keys()) this.wanted.add(name);
        this.schedule();
      });
    }

    // The user object of `username`, or null while unknown (then it is fetched: draw the username).
    get(username) {
      if (!username) return null;
      const user = this.users.get(username);
      if (user === undefined) this.want([username]);
      return user || null;
    }

    want(usernames) {
      for (const name of usernames) {
        if (name && !this.users.has(name) && !(this.inFlight && this.inFlight.names.includes(name))) this.wanted.add(name);
      }
      if (this.wanted.size) this.schedule();
    }

    onChange(listener) { this.listeners.push(listener); }

    schedule() {
      if (this.timer === null) this.timer = setTimeout(() => { this.timer = null; this.flush(); }, 30);
    }

    flush() {
      if (this.inFlight || !this.wanted.size) return;
      const names = [...this.wanted].slice(0, BATCH);
      const ref = "users-" + (++this.seq);
      if (!this.client.send({ type: "users.fetch", users: names, ref })) return; // sent on "open"
      for (const name of names) this.wanted.delete(name);
      this.inFlight = { ref, names };
    }

    received(frame) {
      if (!this.inFlight || frame.ref !== this.inFlight.ref) { this.update(frame.users); return; }
      const { names } = this.inFlight;
      this.inFlight = null;
      const found = new Set(frame.users.map((user) => user.username));
      const gone = names.filter((name) => !found.has(name) && this.users.get(name) !== null);
      for (const name of gone) this.users.set(name, null); // deleted or deactivated: shown by username
      this.update(frame.users, gone);
      this.schedule();
    }

    update(users, alsoChanged = []) {
      const changed = [...alsoChanged];
      for (const user of users) {
        const before = this.users.get(user.username);
        if (before && JSON.stringify(before) === JSON.stringify(user)) continue;
        this.users.set(user.username, user);
        changed.push(user.username);
      }
      if (changed.length) for (const listener of this.listeners) listener(changed);
    }

    // The name to show: the display name, else the username.
    name(username) {
      const user = this.get(username);
      return (user && user.display_name) || username;
    }
  }

  // An avatar for `username` (its user object, or null): the small picture, or the initials in
  // white on the user's colour (the server's palette has 4.5:1 with white); a fallback colour class
  // until the object arrives.
  function avatar(username, user, className = "avatar") {
    const node = document.createElement("span");
    node.className = className;
    node.setAttribute("aria-hidden", "true");
    if (user && user.avatar_small_url) {
      const img = document.createElement("img");
      img.src = user.avatar_small_url;
      img.alt = "";
      img.loading = "lazy";
      node.append(img);
      node.classList.add("picture");
    } else if (user) {
      node.textContent = user.initials || [...(user.display_name || username)][0].toUpperCase();
      node.style.backgroundColor = user.color; // CSSOM, allowed by the CSP (an inline style attribute is not)
    } else {
      let hash = 0;
      for (const ch of username || "?") hash = (hash * 31 + ch.codePointAt(0)) >>> 0;
      node.classList.add("c" + (hash % 8));
      node.textContent = [...(username || "?")][0].toUpperCase();
    }
    return node;
  }

  window.ChatPeople = { People, avatar };
})();
