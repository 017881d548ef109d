// The app's URLs: /rooms/<slug>/ opens a room (/dm/<slug>/ a direct conversation), / is the lobby. A click on a link to a room (the
// room list, a mention's toast) opens it in place and adds a history entry (history.pushState);
// back and forward open the entry's room again. Anything else (a link with ?seq= from search,
// a modified click, a room this page does not know) is an ordinary page load.
"use strict";

(function () {
  const ROOM_PATH = /^\/(?:rooms|dm)\/([^/]+)\/$/;

  function slugOf(pathname) {
    if (pathname === "/") return null;
    const match = ROOM_PATH.exec(pathname);
    return match ? decodeURIComponent(match[1]) : undefined; // undefined: not a page of the app
  }

  const ChatRouter = {
    // kind: the room object's `kind` ("room" or "dm"; docs/protocol.md).
    roomPath: (slug, kind) => (slug === null ? "/" : (kind === "dm" ? "/dm/" : "/rooms/") + encodeURIComponent(slug) + "/"),

    push(slug, kind) {
      const path = ChatRouter.roomPath(slug, kind);
      if (location.pathname !== path || location.search) history.pushState({ room: slug }, "", path);
    },

    // handlers.open(slug): show the room (back/forward); handlers.click(slug): a link was followed.
    // Both return false when they cannot (then the browser loads the page).
    start(handlers) {
      history.replaceState({ room: slugOf(location.pathname) ?? null }, "", location.href);
      document.addEventListener("click", (event) => {
        if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
        const link = event.target.closest("a[href]");
        if (!link || link.target || link.hasAttribute("download") || link.origin !== location.origin) return;
        if (link.search || link.hash) return;
        const slug = slugOf(link.pathname);
        if (slug === undefined) return;
        if (handlers.click(slug)) event.preventDefault();
      });
      window.addEventListener("popstate", (event) => {
        const slug = event.state && "room" in event.state ? event.state.room : slugOf(location.pathname);
        if (slug === undefined || !handlers.open(slug)) location.reload();
      });
    },
  };

  window.ChatRouter = ChatRouter;
})();
