"use strict";
(function () {
  const section = document.getElementById("room");
  const slug = section.dataset.slug;
  const list = document.getElementById("messages");
  const status = document.getElementById("status");
  const body = document.getElementById("body");
  const shown = new Map(); // seq -> <li>

  function render(message) {
    let item = shown.get(message.seq);
    if (!item) {
      item = document.createElement("li");
      item.dataset.seq = String(message.seq);
      shown.set(message.seq, item);
      const next = [...shown.keys()].filter((s) => s > message.seq).sort((a, b) => a - b)[0];
      list.insertBefore(item, next === undefined ? null : shown.get(next));
    }
    item.textContent = "";
    const author = document.createElement("span");
    author.className = "author";
    author.textContent = message.author || "[deleted user]";
    const text = document.createElement("span");
    text.className = message.deleted ? "deleted" : "body";
    text.textContent = message.deleted ? "message deleted" : message.body;
    item.append(author, text);
    const pending = document.querySelector(`li.pending[data-client-id="${CSS.escape(message.client_msg_id)}"]`);
    if (pending) pending.remove();
  }

  const client = new ChatClient();
  client.on("status", (s) => { status.textContent = s; });
  client.on("error", (e) => { status.textContent = `${e.code}: ${e.detail}`; });
  client.on("message.deleted", (e) => { if (e.room === slug && shown.has(e.seq)) render({ seq: e.seq, deleted: true, author: shown.get(e.seq).querySelector(".author").textContent, client_msg_id: "" }); });
  client.on("room.archived", (e) => { if (e.room.slug === slug) { body.disabled = true; status.textContent = "archived (read-only)"; } });
  client.subscribe(slug, render);

  document.getElementById("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = body.value;
    if (!text.trim()) return;
    const id = client.sendMessage(slug, text);
    const item = document.createElement("li");
    item.className = "pending";
    item.dataset.clientId = id;
    item.textContent = text;
    list.appendChild(item);
    body.value = "";
  });
  body.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); document.getElementById("composer").requestSubmit(); }
  });
})();
