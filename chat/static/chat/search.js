// Search (docs/protocol.md, "Search"): the sidebar's search box and its results panel, over
// GET /api/search; and, on a room page opened from a result (/rooms/<slug>/?seq=N), paging back
// through the room's history until message N is shown, then scrolling to it.
// User text goes into the page with textContent; a result's highlight is rebuilt from its text and
// <mark> elements only, never inserted as HTML.
"use strict";

(function () {
  const gettext = window.gettext || ((s) => s);
  const form = document.getElementById("search");
  const panel = document.getElementById("search-results");
  if (!form || !panel) return;
  const list = panel.querySelector("ol");
  const status = panel.querySelector(".search-status");
  const more = panel.querySelector(".search-more");
  let lastParams = null;

  function highlighted(html) {
    // The server escaped the body and added <mark> tags; keep only text and marks all the same.
    const parsed = new DOMParser().parseFromString("<div>" + html + "</div>", "text/html").body.firstChild;
    const out = document.createDocumentFragment();
    for (const node of parsed ? parsed.childNodes : []) {
      if (node.nodeName === "MARK") {
        const mark = document.createElement("mark");
        mark.textContent = node.textContent;
        out.append(mark);
      } else {
        out.append(document.createTextNode(node.textContent));
      }
    }
    return out;
  }

  function resultItem(result) {
    const item = document.createElement("li");
    item.className = "search-result";
    const link = document.createElement("a");
    link.href = "/rooms/" + encodeURIComponent(result.room) + "/?seq=" + encodeURIComponent(result.seq);
    const meta = document.createElement("span");
    meta.className = "meta muted";
    const when = new Date(result.created_at);
    meta.textContent = (result.room_title || result.room) + " · " + (result.author || "?") + " · " + when.toLocaleString();
    const text = document.createElement("span");
    text.className = "snippet";
    text.append(highlighted(result.highlight));
    link.append(meta, text);
    item.append(link);
    return item;
  }

  // Why a search was refused (docs/protocol.md, "search"), in the page's language where we know it.
  function refusal(answer) {
    if (answer.code === "rate_limited") {
      return interpolate(gettext("Too many searches: try again in %s s."), [Math.ceil(answer.retry_after || 1)]);
    }
    if (answer.code === "search_timeout") return gettext("The search took too long: add a room, a person or dates.");
    return answer.detail || gettext("The search failed.");
  }

  async function run(params, append) {
    status.textContent = gettext("Searching…");
    more.hidden = true;
    panel.hidden = false;
    let answer;
    try {
      const response = await fetch("/api/search?" + params.toString(), { credentials: "same-origin", headers: { Accept: "application/json" } });
      answer = await response.json();
      if (!response.ok) {
        status.textContent = refusal(answer);
        return;
      }
    } catch (e) {
      status.textContent = gettext("The search failed.");
      return;
    }
    if (!append) list.replaceChildren();
    for (const result of answer.results) list.append(resultItem(result));
    status.textContent = list.children.length ? "" : gettext("No messages found.");
    lastParams = params;
    if (answer.next) {
      more.hidden = false;
      more.dataset.cursor = answer.next;
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const params = new URLSearchParams();
    for (const [key, value] of data) if (value !== "") params.set(key, value);
    if (!params.get("q")) return;
    run(params, false);
  });
  more.addEventListener("click", () => {
    if (!lastParams) return;
    const params = new URLSearchParams(lastParams);
    params.set("cursor", more.dataset.cursor);
    run(params, true);
  });
  panel.querySelector(".search-close").addEventListener("click", () => { panel.hidden = true; });

  // --- opening a room at a message ----------------------------------------------------------------
  const app = document.getElementById("app");
  const active = app && app.dataset.active;
  const target = Number(new URLSearchParams(location.search).get("seq"));
  const client = window.chatClient;
  if (!active || !client || !Number.isInteger(target) || target < 1) return;
  let pages = 0;
  function reveal() {
    const item = document.querySelector('#messages li[data-seq="' + target + '"]');
    if (!item) return false;
    item.classList.add("jump-target");
    item.scrollIntoView({ block: "center" });
    return true;
  }
  client.on("history", (frame) => {
    if (frame.room !== active || pages < 0) return;
    // app.js has placed this page (its handler runs first); page back until the target is shown.
    if (reveal()) { pages = -1; return; }
    const oldest = Math.min(...frame.messages.map((m) => m.seq));
    if (frame.has_more && Number.isFinite(oldest) && oldest > target && pages < 50) {
      pages += 1;
      client.fetchHistory(active, oldest, 100);
    } else {
      pages = -1;
    }
  });
})();
