// Attachments in the open room (docs/protocol.md, "Files"): pick, paste or drop files on the
// composer; each uploads at once over HTTP (POST /api/uploads/, with progress); the next send carries
// them (`attachments` in message.send). A click on a message's thumbnail (messages.js draws them)
// opens the image in a lightbox. All text goes in with textContent.
"use strict";

(function () {
  const gettext = window.gettext || ((s) => s);
  const interpolate = window.interpolate || ((fmt, args) => fmt.replace("%s", args[0]));
  const app = document.getElementById("app");
  const composer = document.getElementById("composer");
  const chatApp = window.chatApp; // the open room changes without a reload (app.js)
  if (!composer || !chatApp) return;
  const body = document.getElementById("body");
  const tray = document.createElement("ul");
  tray.className = "upload-tray";
  const picker = document.createElement("input");
  picker.type = "file";
  picker.multiple = true;
  picker.hidden = true;
  const pick = document.createElement("button");
  pick.type = "button";
  pick.className = "attach";
  pick.textContent = gettext("Attach");
  pick.title = gettext("Attach files (or paste or drop them here)");
  composer.prepend(tray);
  composer.append(picker, pick);
  const uploads = []; // {file, item, id|null, done}
  const MAX = 10;
  const MAX_BYTES = Number(app.dataset.uploadMax) || Infinity; // CHAT_UPLOAD_MAX_BYTES
  const humanSize = window.ChatMessages.humanSize;

  // The server's refusals (docs/protocol.md, "Files") in the reader's language; its own `detail`
  // (English, with exact byte counts) only for a code this file does not know.
  function refusal(status, answer) {
    if (answer.code === "too_large") return interpolate(gettext("Too large: files can be at most %s."), [humanSize(MAX_BYTES)]);
    if (answer.code === "quota_exceeded") return gettext("Not stored: your files would pass your storage quota.");
    if (answer.code === "unsupported_type") {
      // A type refused as such, in the reader's language; any other reason (an image too large in
      // pixels, an animation too long, a file that does not decode) in the server's words.
      if (!answer.detail || answer.detail.startsWith("Files of type")) return gettext("This type of file is not accepted.");
      return interpolate(gettext("Not accepted: %s"), [answer.detail]);
    }
    if (status === 401 || status === 403) return gettext("Upload refused: sign in again.");
    return answer.detail || gettext("Upload failed.");
  }
  function fail(entry, progress, text) {
    entry.done = true;
    entry.item.classList.add("failed");
    const note = document.createElement("span");
    note.className = "upload-error";
    note.setAttribute("role", "alert");
    note.textContent = text;
    progress.replaceWith(note);
  }

  function csrfToken() {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function add(file) {
    if (uploads.length >= MAX) return;
    const item = document.createElement("li");
    const name = document.createElement("span");
    name.textContent = file.name + " (" + humanSize(file.size) + ")";
    const progress = document.createElement("progress");
    progress.max = 100;
    progress.value = 0;
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "link";
    remove.textContent = "×";
    remove.setAttribute("aria-label", gettext("Remove"));
    item.append(name, " ", progress, " ", remove);
    tray.append(item);
    const entry = { file, item, id: null, done: false };
    uploads.push(entry);
    remove.addEventListener("click", () => {
      uploads.splice(uploads.indexOf(entry), 1);
      item.remove();
    });
    if (file.size > MAX_BYTES) {
      // Refused here, before sending megabytes the server would refuse with the same words.
      fail(entry, progress, refusal(413, { code: "too_large" }));
      return;
    }
    const form = new FormData();
    form.append("file", file);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/uploads/");
    xhr.setRequestHeader("X-CSRFToken", csrfToken());
    xhr.upload.addEventListener("progress", (e) => { if (e.lengthComputable) progress.value = (100 * e.loaded) / e.total; });
    xhr.addEventListener("load", () => {
      let answer = {};
      try { answer = JSON.parse(xhr.responseText); } catch (e) { /* not JSON */ }
      if (xhr.status === 201) {
        entry.done = true;
        entry.id = answer.id;
        progress.value = 100;
        item.classList.add("ready");
      } else {
        fail(entry, progress, refusal(xhr.status, answer));
      }
    });
    // The connection failed (or the node answered 413 and closed before the body was sent).
    xhr.addEventListener("error", () => fail(entry, progress, gettext("Upload failed.")));
    xhr.send(form);
  }

  pick.addEventListener("click", () => picker.click());
  picker.addEventListener("change", () => { for (const f of picker.files) add(f); picker.value = ""; });
  body.addEventListener("paste", (e) => {
    const files = [...(e.clipboardData ? e.clipboardData.files : [])];
    if (files.length) { e.preventDefault(); files.forEach(add); }
  });
  composer.addEventListener("dragover", (e) => { e.preventDefault(); composer.classList.add("dragging"); });
  composer.addEventListener("dragleave", () => composer.classList.remove("dragging"));
  composer.addEventListener("drop", (e) => {
    e.preventDefault();
    composer.classList.remove("dragging");
    for (const f of e.dataTransfer.files) add(f);
  });

  // A send with files: taken here, before app.js's handler (capture on the document runs first).
  document.addEventListener("submit", (event) => {
    if (event.target !== composer || uploads.length === 0) return;
    const ready = uploads.filter((u) => u.id !== null);
    // Only refused files in the tray: the text goes as usual (the refusals stay until removed).
    if (!ready.length && uploads.every((u) => u.done)) return;
    event.preventDefault();
    event.stopPropagation();
    if (uploads.some((u) => !u.done)) return; // still uploading: Send again when done
    chatApp.sendWithFiles(body.value, ready.map((u) => u.id), ready.map((u) => u.file.name));
    body.value = "";
    body.dispatchEvent(new Event("input")); // the draft goes too
    uploads.length = 0;
    tray.replaceChildren();
  }, true);

  // --- a message's images, full size (messages.js draws the thumbnails and file cards) --------------
  const lightbox = document.createElement("dialog");
  lightbox.className = "lightbox";
  const full = document.createElement("img");
  lightbox.append(full);
  lightbox.addEventListener("click", () => lightbox.close());
  document.body.append(lightbox);
  document.addEventListener("click", (e) => {
    const link = e.target.closest("a.attachment.image");
    if (!link || e.button !== 0 || e.ctrlKey || e.metaKey || e.shiftKey) return; // a new tab: the browser's
    e.preventDefault();
    const img = link.querySelector("img");
    full.src = link.href;
    full.alt = img ? img.alt : "";
    lightbox.showModal();
  });
})();
