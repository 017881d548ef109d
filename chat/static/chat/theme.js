// Light or dark: the system's setting (prefers-color-scheme) unless the user chose with the header's
// toggle; the choice is kept in localStorage. Loaded in <head> (not deferred), so the page is drawn
// in its theme from the start. Sets <html data-theme="light|dark">, which style.css follows.
"use strict";

(function () {
  const KEY = "chat:theme";
  const system = window.matchMedia("(prefers-color-scheme: dark)");
  const stored = () => { try { return localStorage.getItem(KEY); } catch (e) { return null; } };
  const current = () => stored() || (system.matches ? "dark" : "light");

  function apply() {
    const theme = current();
    document.documentElement.dataset.theme = theme;
    const toggle = document.getElementById("theme-toggle");
    if (toggle) toggle.setAttribute("aria-pressed", String(theme === "dark"));
  }

  // A choice equal to the system's is forgotten: the page follows the system again.
  function toggle() {
    const next = current() === "dark" ? "light" : "dark";
    try {
      if (next === (system.matches ? "dark" : "light")) localStorage.removeItem(KEY);
      else localStorage.setItem(KEY, next);
    } catch (e) { /* storage unavailable: this page only */ }
    document.documentElement.dataset.theme = next;
    apply();
  }

  apply();
  system.addEventListener("change", apply);
  window.addEventListener("storage", (event) => { if (event.key === KEY) apply(); }); // other tabs
  document.addEventListener("DOMContentLoaded", () => {
    apply();
    const button = document.getElementById("theme-toggle");
    if (button) button.addEventListener("click", toggle);
  });
})();
