// lamina console: behaviour shared by every page (no framework; htmx does the fragment swaps).
(function () {
  "use strict";
  function localTimes(root) {
    root.querySelectorAll("time[data-ms]").forEach(function (t) {
      var d = new Date(Number(t.dataset.ms));
      if (!isNaN(d)) { t.textContent = d.toLocaleString(); t.setAttribute("datetime", d.toISOString()); }
    });
  }
  document.addEventListener("DOMContentLoaded", function () { localTimes(document); });
  document.addEventListener("htmx:afterSwap", function (e) { localTimes(e.target); });
  window.laminaLocalTimes = localTimes;
  // Bulk delete asks first, naming what goes.
  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (!form.hasAttribute("data-confirm-delete")) return;
    var names = Array.prototype.map.call(form.querySelectorAll("input[name=name]:checked, input[type=hidden][name=name]"), function (i) { return i.value; });
    if (!names.length) { e.preventDefault(); alert("Select the functions to delete first."); return; }
    var logs = form.querySelector("input[name=delete_logs]").checked;
    if (!confirm("Delete " + names.length + " function(s): " + names.join(", ") + (logs ? ", and their log groups" : "") + "? This cannot be undone.")) e.preventDefault();
  });
  // The Create page shows the fields of the chosen mode only.
  function createMode() {
    var chosen = document.querySelector("input[name=mode]:checked");
    if (!chosen) return;
    document.querySelectorAll(".scratch-only").forEach(function (el) { el.hidden = chosen.value !== "scratch"; });
    document.querySelectorAll(".blueprint-only").forEach(function (el) { el.hidden = chosen.value !== "blueprint"; });
  }
  // ... and of the chosen execution role option; the new role's name follows the function's.
  function roleMode() {
    var chosen = document.querySelector("input[name=role_mode]:checked");
    if (!chosen) return;
    document.querySelectorAll(".role-basic-only").forEach(function (el) { el.hidden = chosen.value !== "basic"; });
    document.querySelectorAll(".role-existing-only").forEach(function (el) { el.hidden = chosen.value !== "existing"; });
  }
  document.addEventListener("change", function (e) {
    if (e.target.name === "mode") createMode();
    if (e.target.name === "role_mode") roleMode();
  });
  document.addEventListener("input", function (e) {
    if (e.target.name !== "name" || !e.target.form || !e.target.form.querySelector("[data-role-name]")) return;
    e.target.form.querySelector("[data-role-name]").textContent = e.target.value.slice(0, 50) || "function-name";
  });
  document.addEventListener("DOMContentLoaded", function () { createMode(); roleMode(); });
})();
