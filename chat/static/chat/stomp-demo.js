// The classic tutorial client (docs/stomp.md, "A minimal client, the tutorials' way"): stompjs 2.3
// over sockjs-client, as the Spring chat tutorials write it, signed in by the page's session cookie.
// A static file because the Content-Security-Policy forbids inline script.
(function () {
  "use strict";
  const page = document.getElementById("stomp-demo");
  const room = page.dataset.room; // a room's slug, or "" for the tutorials' /topic/public
  const status = document.getElementById("status");
  const messages = document.getElementById("messages");
  const text = document.getElementById("text");
  const client = Stomp.over(new SockJS(page.dataset.url));
  client.debug = null;

  function show(line) {
    const item = document.createElement("li");
    item.textContent = line; // text, never HTML
    messages.append(item);
  }

  function setStatus(state, label) {
    status.dataset.state = state;
    status.textContent = label;
  }

  function received(frame) {
    const message = JSON.parse(frame.body);
    if (message.type === "TALK" || message.type === "CHAT") {
      show(message.sender + ": " + (room ? message.message : message.content));
    } else if (message.type === "ENTER" || message.type === "JOIN") {
      show(interpolate(gettext("%s joined."), [message.sender]));
    } else if (message.type === "QUIT" || message.type === "LEAVE") {
      show(interpolate(gettext("%s left."), [message.sender]));
    }
  }

  client.connect(
    {},
    function () {
      setStatus("connected", gettext("connected"));
      client.subscribe(room ? "/topic/chat/room/" + room : "/topic/public", received);
    },
    function () {
      setStatus("offline", gettext("disconnected: reload the page"));
    },
  );

  document.getElementById("form").addEventListener("submit", function (event) {
    event.preventDefault();
    if (!text.value) return;
    if (room) {
      client.send("/app/chat/message", {}, JSON.stringify({ roomId: room, message: text.value, type: "TALK" }));
    } else {
      client.send("/app/chat.sendMessage", {}, JSON.stringify({ content: text.value, type: "CHAT" }));
    }
    text.value = "";
  });
})();
