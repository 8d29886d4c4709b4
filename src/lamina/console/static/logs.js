// The Logs tab's live tail: polls the console's rows fragment (FilterLogEvents after the newest seen).
(function () {
  "use strict";
  var live = document.getElementById("live"), body = document.getElementById("log-rows"), timer = null;
  function seen() { return Array.prototype.map.call(body.querySelectorAll("tr[data-event-id]"), function (r) { return r.dataset.eventId; }).slice(-200); }
  function poll() {
    var q = new URLSearchParams({after: live.dataset.after, filter: live.dataset.filter});
    seen().forEach(function (id) { q.append("seen", id); });
    fetch(live.dataset.url + "?" + q).then(function (r) { return r.text(); }).then(function (html) {
      var t = document.createElement("div"); t.innerHTML = html;
      var tpl = t.querySelector("template");
      if (!tpl) return;
      live.dataset.after = tpl.dataset.last;
      var rows = tpl.content.querySelectorAll("tr");
      if (rows.length) { var none = document.getElementById("no-logs"); if (none) none.remove(); }
      rows.forEach(function (r) { body.appendChild(r); });
      window.laminaLocalTimes(body);
    });
  }
  live.addEventListener("change", function () {
    if (live.checked) { poll(); timer = setInterval(poll, 2000); } else { clearInterval(timer); }
  });
})();
