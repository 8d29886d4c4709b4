// The Test tab: a CodeMirror JSON editor mirrored into the form's textarea; templates load into it.
(function () {
  "use strict";
  var area = document.getElementById("event");
  var view = window.LaminaEditor.create(document.getElementById("event-editor"), area.value, "json",
                                        function (text) { area.value = text; });
  view.contentDOM.setAttribute("aria-label", "Event JSON");
  view.contentDOM.id = "event-editor-content";
  var templates = JSON.parse(document.getElementById("templates-data").textContent);
  document.getElementById("template").addEventListener("change", function () {
    if (!this.value) return;
    window.LaminaEditor.set(view, templates[this.value]);
    area.value = templates[this.value];
    var name = document.getElementById("event_name");
    if (!name.value) name.value = this.value;
  });
})();
