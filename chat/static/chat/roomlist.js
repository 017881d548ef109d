// The room list's items (app.js keeps the list itself): a room's link, its tags, its slug beside
// the title where two rooms share a title, its unread and mention counts (from reads.js); and the
// create form's warning when the title typed is already taken. All text goes in with textContent.
"use strict";

(function () {
  const gettext = window.gettext || ((s) => s);
  const interpolate = window.interpolate || ((fmt, args) => fmt.replace("%s", args[0]));
  const ngettext = window.ngettext || ((one, many, n) => (n === 1 ? one : many));
  const sameTitle = (title) => (title || "").trim().toLocaleLowerCase();

  // Fill the <li> of one room (its counts: renderCounts).
  function renderItem(item, room) {
    item.textContent = "";
    const link = document.createElement("a");
    link.href = ChatRouter.roomPath(room.slug, room.kind);
    link.title = room.title; // a long title is cut off in the sidebar
    const title = document.createElement("span");
    title.className = "room-title";
    title.textContent = room.title;
    link.append(title);
    for (const [flag, label] of [[room.private, gettext("private")], [room.archived, gettext("archived")]]) {
      if (!flag) continue;
      const tag = document.createElement("span");
      tag.className = "tag";
      tag.textContent = label;
      link.append(" ", tag);
    }
    item.append(link);
  }

  const shortCount = (n) => (n > 99 ? "99+" : String(n));

  // A room's unread messages and mentions ({unread, mentions}, reads.js), as Slack shows them: an
  // unread room's name in bold with its count, and mentions in a red badge of their own ("@2"). In
  // a direct message every message is for you: its count is the red badge. The numbers are read
  // out as words ("3 unread, 1 mention"); the badges themselves are hidden from screen readers.
  function renderCounts(item, counts, { dm = false } = {}) {
    const link = item.querySelector("a");
    if (!link) return;
    for (const old of link.querySelectorAll(".counts")) old.remove();
    const unread = counts.unread || 0;
    const mentions = dm ? unread : counts.mentions || 0;
    item.classList.toggle("unread", unread > 0 || mentions > 0);
    item.dataset.unread = String(unread);
    item.dataset.mentions = String(mentions);
    if (!unread && !mentions) return;
    const box = document.createElement("span");
    box.className = "counts";
    const spoken = [];
    if (unread && !dm) {
      const badge = document.createElement("span");
      badge.className = "badge unread-badge";
      badge.setAttribute("aria-hidden", "true");
      badge.textContent = shortCount(unread);
      box.append(badge);
      spoken.push(interpolate(ngettext("%s unread message", "%s unread messages", unread), [shortCount(unread)]));
    }
    if (mentions) {
      const badge = document.createElement("span");
      badge.className = "badge mention-badge";
      badge.setAttribute("aria-hidden", "true");
      badge.textContent = (dm ? "" : "@") + shortCount(mentions);
      box.append(badge);
      spoken.push(dm
        ? interpolate(ngettext("%s unread message", "%s unread messages", mentions), [shortCount(mentions)])
        : interpolate(ngettext("%s mention", "%s mentions", mentions), [shortCount(mentions)]));
    }
    const words = document.createElement("span");
    words.className = "visually-hidden";
    words.textContent = ", " + spoken.join(", ");
    box.append(words);
    link.append(box);
  }

  // Rooms with the same title show their slug after it, so that they can be told apart.
  function markDuplicates(list, rooms) {
    const count = new Map();
    for (const room of rooms.values()) count.set(sameTitle(room.title), (count.get(sameTitle(room.title)) || 0) + 1);
    for (const item of list.querySelectorAll("li[data-slug]")) {
      const room = rooms.get(item.dataset.slug);
      const title = item.querySelector(".room-title");
      if (!room || !title) continue;
      let slug = item.querySelector(".room-slug");
      if (count.get(sameTitle(room.title)) > 1) {
        if (!slug) {
          slug = document.createElement("span");
          slug.className = "room-slug";
          title.after(slug);
        }
        slug.textContent = room.slug;
      } else if (slug) {
        slug.remove();
      }
    }
  }

  // Below the create form's title: "A room named … already exists" while the title typed is taken
  // (the room can still be created; the list then tells the two apart by slug).
  function warnDuplicateTitle(form, roomsNow) {
    const input = form && form.querySelector("input[name=title]");
    if (!input) return;
    const note = document.createElement("p");
    note.id = "title-duplicate";
    note.className = "field-warning";
    note.setAttribute("role", "status");
    note.hidden = true;
    input.after(note);
    input.setAttribute("aria-describedby", ((input.getAttribute("aria-describedby") || "") + " title-duplicate").trim());
    const check = () => {
      const wanted = sameTitle(input.value);
      const taken = wanted ? [...roomsNow()].filter((room) => sameTitle(room.title) === wanted) : [];
      note.hidden = taken.length === 0;
      note.textContent = taken.length
        ? interpolate(gettext("A room named “%s” already exists (%s). You can still create another one."), [taken[0].title, taken.map((r) => r.slug).join(", ")])
        : "";
    };
    input.addEventListener("input", check);
    check();
  }

  window.ChatRoomList = { renderItem, renderCounts, markDuplicates, warnDuplicateTitle };
})();
