// The profile page: offer the device's own time zone (from the browser) when the form shows another.
(function () {
  "use strict";
  const select = document.getElementById("id_time_zone");
  const hint = document.getElementById("tz-hint");
  if (!select || !hint) return;
  let zone = "";
  try {
    zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  } catch (error) {
    return;
  }
  const option = Array.from(select.options).find((o) => o.value === zone);
  if (!option || select.value === zone) return;
  hint.querySelector(".tz-name").textContent = option.textContent;
  hint.hidden = false;
  hint.querySelector("button").addEventListener("click", () => {
    select.value = zone;
    hint.hidden = true;
    select.focus();
  });
})();
