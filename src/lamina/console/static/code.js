// The Code tab: CodeMirror over the package's files, Deploy sends the edited files (UpdateFunctionCode).
(function () {
  "use strict";
  var data = document.getElementById("files-data");
  var status = document.getElementById("deploy-status");
  var upload = document.getElementById("upload-form");
  upload.addEventListener("submit", function (e) {
    e.preventDefault();
    var file = document.getElementById("zip").files[0];
    var out = document.getElementById("upload-status");
    if (!file) { out.textContent = "Choose a .zip file first."; return; }
    out.textContent = "Uploading…";
    fetch(upload.dataset.uploadUrl, {method: "POST", body: file, headers: {"Content-Type": "application/zip"}})
      .then(function (r) { return r.json(); })
      .then(function (a) { if (a.error) { out.textContent = a.error; } else { out.textContent = "Deployed " + a.CodeSha256 + "."; setTimeout(function () { location.reload(); }, 600); } });
  });
  if (!data) return;
  var parsed = JSON.parse(data.textContent);
  var files = parsed.files, languages = parsed.languages;
  var saved = Object.assign({}, files), deleted = [];
  var current = null, view = null;
  var dirtyMark = document.getElementById("dirty");
  function dirtyFiles() {
    var out = {};
    Object.keys(files).forEach(function (p) { if (files[p] !== saved[p]) out[p] = files[p]; });
    return out;
  }
  function refreshDirty() {
    var dirty = Object.keys(dirtyFiles()).length > 0 || deleted.length > 0;
    dirtyMark.hidden = !dirty;
    return dirty;
  }
  function open(path) {
    current = path;
    document.getElementById("current-file").textContent = path;
    document.querySelectorAll("button.file").forEach(function (b) { b.setAttribute("aria-current", b.dataset.path === path ? "true" : "false"); });
    var parent = document.getElementById("editor");
    parent.innerHTML = "";
    var lang = languages[path] || (path.endsWith(".py") ? "python" : /\.(m|c)?js$/.test(path) ? "javascript" : "");
    view = window.LaminaEditor.create(parent, files[path], lang, function (text) { files[current] = text; refreshDirty(); });
    view.contentDOM.setAttribute("aria-label", "Code of " + path + " (Escape, then Tab, leaves the editor)");
  }
  document.getElementById("file-list").addEventListener("click", function (e) {
    var b = e.target.closest("button.file"); if (b) open(b.dataset.path);
  });
  document.getElementById("add-file").addEventListener("click", function () {
    var input = document.getElementById("new-file"), path = input.value.trim();
    if (!path || files[path] !== undefined) return;
    files[path] = ""; saved[path] = null;
    var li = document.createElement("li"), b = document.createElement("button");
    b.type = "button"; b.className = "file"; b.dataset.path = path; b.textContent = path;
    li.appendChild(b); document.getElementById("file-list").appendChild(li);
    input.value = ""; open(path); refreshDirty();
  });
  document.getElementById("deploy").addEventListener("click", function () {
    var changed = dirtyFiles();
    status.textContent = "Deploying…";
    fetch(location.pathname, {method: "POST", headers: {"Content-Type": "application/json"},
                              body: JSON.stringify({files: changed, deleted: deleted})})
      .then(function (r) { return r.json(); })
      .then(function (a) {
        if (a.error) { status.textContent = "Deploy failed: " + a.error; return; }
        Object.keys(changed).forEach(function (p) { saved[p] = changed[p]; }); deleted = [];
        refreshDirty();
        status.textContent = "Deployed. CodeSha256 " + a.CodeSha256 + " (" + a.LastUpdateStatus + ").";
      })
      .catch(function (err) { status.textContent = "Deploy failed: " + err; });
  });
  window.addEventListener("beforeunload", function (e) { if (refreshDirty()) { e.preventDefault(); e.returnValue = ""; } });
  var first = Object.keys(files).find(function (p) { return !p.endsWith("/"); });
  if (first) open(first);
})();
