// The page's frame, on every page: the header's menu (a <details>: Escape or a click elsewhere
// closes it), and on a phone the room drawer: the room list slides over the room from the
// hamburger button; while it is open the rest of the page is inert (focus stays in the drawer),
// Escape, the close button or a tap outside close it, and the focus goes back to the hamburger.
"use strict";

(function () {
  const menu = document.getElementById("header-menu");
  if (menu) {
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && menu.open) {
        menu.open = false;
        menu.querySelector("summary").focus();
      }
    });
    document.addEventListener("click", (event) => { if (menu.open && !menu.contains(event.target)) menu.open = false; });
  }

  const app = document.getElementById("app");
  const toggle = document.getElementById("drawer-toggle");
  const drawer = document.getElementById("sidebar");
  if (!app || !toggle || !drawer) return;
  const phone = window.matchMedia("(max-width: 640px)");
  const behind = () => [document.getElementById("main"), document.getElementById("thread"), document.querySelector("header.top"), document.querySelector(".skip")];

  function openDrawer() {
    app.classList.add("drawer-open");
    toggle.setAttribute("aria-expanded", "true");
    for (const node of behind()) if (node) node.inert = true;
    const current = drawer.querySelector("li[aria-current] a") || drawer.querySelector("#rooms a") || document.getElementById("drawer-close");
    current.focus();
  }

  function closeDrawer(returnFocus = true) {
    if (!app.classList.contains("drawer-open")) return;
    app.classList.remove("drawer-open");
    toggle.setAttribute("aria-expanded", "false");
    for (const node of behind()) if (node) node.inert = false;
    if (returnFocus) toggle.focus();
  }

  toggle.addEventListener("click", () => (app.classList.contains("drawer-open") ? closeDrawer() : openDrawer()));
  document.getElementById("drawer-close").addEventListener("click", () => closeDrawer());
  document.getElementById("drawer-backdrop").addEventListener("click", () => closeDrawer());
  // Tab from the drawer's last control goes round to its first (Shift+Tab the other way).
  const FOCUSABLE = "a[href], button:not([disabled]), input:not([disabled]):not([type=hidden]), select, textarea, summary, [tabindex='0']";
  drawer.addEventListener("keydown", (event) => {
    if (!app.classList.contains("drawer-open")) return;
    if (event.key === "Escape") { event.preventDefault(); closeDrawer(); return; }
    if (event.key !== "Tab") return;
    const shown = (node) => (node.checkVisibility ? node.checkVisibility({ visibilityProperty: true }) : node.getClientRects().length > 0);
    const stops = [...drawer.querySelectorAll(FOCUSABLE)].filter(shown); // not in a closed <details>
    if (!stops.length) return;
    const [first, last] = [stops[0], stops[stops.length - 1]];
    if (!event.shiftKey && document.activeElement === last) { event.preventDefault(); first.focus(); }
    else if (event.shiftKey && document.activeElement === first) { event.preventDefault(); last.focus(); }
  });
  phone.addEventListener("change", () => { if (!phone.matches) closeDrawer(false); });

  window.ChatShell = { openDrawer, closeDrawer };
})();
