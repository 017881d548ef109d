"use strict";
(function () {
  const list = document.getElementById("rooms");
  function upsert(room) {
    let item = list.querySelector(`li[data-slug="${CSS.escape(room.slug)}"]`);
    if (!item) { item = document.createElement("li"); item.dataset.slug = room.slug; list.appendChild(item); }
    item.textContent = "";
    const link = document.createElement("a");
    link.href = `/rooms/${encodeURIComponent(room.slug)}/`;
    link.textContent = room.title;
    item.append(link);
    for (const [flag, label] of [[room.private, "private"], [room.archived, "archived"]]) {
      if (flag) { const tag = document.createElement("span"); tag.className = "tag"; tag.textContent = label; item.append(" ", tag); }
    }
    const empty = list.querySelector(".empty");
    if (empty) empty.remove();
  }
  const client = new ChatClient();
  for (const type of ["room.created", "room.updated", "room.archived"]) client.on(type, (e) => upsert(e.room));
  client.on("room.removed", (e) => { const item = list.querySelector(`li[data-slug="${CSS.escape(e.room)}"]`); if (item) item.remove(); });
})();
