// The Profile tab: an icicle flame graph of a speedscope document's sampled stacks (root on top).
(function () {
  "use strict";
  function build(doc) {
    var frames = doc.shared.frames, root = {name: "all", children: {}, total: 0, self: 0}, selfCounts = {};
    doc.profiles.forEach(function (p) {
      (p.samples || []).forEach(function (stack, i) {
        var w = 1, node = root;  // samples, not py-spy's per-sample seconds
        root.total += w;
        stack.forEach(function (f) {
          var key = String(f);
          node = node.children[key] || (node.children[key] = {frame: frames[f], children: {}, total: 0, self: 0});
          node.total += w;
        });
        node.self += w;
        if (stack.length) { var top = frames[stack[stack.length - 1]]; var k = top.name + " (" + (top.file || "") + ":" + (top.line || "") + ")"; selfCounts[k] = (selfCounts[k] || 0) + w; }
      });
    });
    return {root: root, selfCounts: selfCounts};
  }
  function label(node) { var f = node.frame; return f ? f.name + " " + (f.file || "").split("/").pop() + ":" + (f.line || "") : "all"; }
  function draw(box, node, total, depth) {
    var row = document.createElement("div"); row.className = "flame-node";
    row.style.width = (100 * node.total / total) + "%";
    var bar = document.createElement("div"); bar.className = "flame-bar";
    bar.style.background = "hsl(" + (20 + (depth * 37) % 40) + ", 85%, " + (62 + (depth % 3) * 6) + "%)";
    bar.textContent = label(node); bar.title = label(node) + " — " + node.total + " samples (" + (100 * node.total / total).toFixed(1) + "%)";
    bar.tabIndex = 0;
    row.appendChild(bar);
    var kids = document.createElement("div"); kids.className = "flame-children";
    Object.keys(node.children).map(function (k) { return node.children[k]; })
      .sort(function (a, b) { return b.total - a.total; })
      .forEach(function (child) { if (child.total / total > 0.002) draw(kids, child, node.total, depth + 1); });
    row.appendChild(kids);
    box.appendChild(row);
  }
  function render() {
    var data = document.getElementById("profile-data");
    if (!data || data.dataset.drawn) return;
    data.dataset.drawn = "1";
    var doc = JSON.parse(data.textContent), built = build(doc), box = document.getElementById("flame");
    if (built.root.total) draw(box, built.root, built.root.total, 0); else box.textContent = "No samples.";
    var top = document.getElementById("flame-top");
    Object.keys(built.selfCounts).sort(function (a, b) { return built.selfCounts[b] - built.selfCounts[a]; }).slice(0, 10)
      .forEach(function (k) { var li = document.createElement("li"); li.textContent = k + ": " + built.selfCounts[k]; top.appendChild(li); });
    document.getElementById("download-profile").addEventListener("click", function () {
      var url = URL.createObjectURL(new Blob([data.textContent], {type: "application/json"}));
      var a = document.createElement("a"); a.href = url; a.download = (doc.name || "profile").replace(/[^A-Za-z0-9._-]/g, "_") + ".speedscope.json";
      document.body.appendChild(a); a.click(); a.remove(); setTimeout(function () { URL.revokeObjectURL(url); }, 1000);
    });
  }
  document.addEventListener("htmx:afterSwap", render);
})();
