// The Monitor tab: uPlot charts of /system/metrics (per-minute series), refreshed every 10 s.
(function () {
  "use strict";
  var box = document.getElementById("charts");
  var name = box.dataset.function, minutes = Number(box.dataset.minutes);
  var charts = [];
  var specs = [
    {title: "Invocations", series: [["Invocations", function (m) { return m.invocations; }, "#0b63c4"]]},
    {title: "Duration (ms)", series: [["Average", function (m) { return m.invocations ? m.duration_ms_sum / m.invocations : null; }, "#0b63c4"],
                                      ["p50", function (m) { return m.p50 === undefined ? null : m.p50; }, "#1d8102"],
                                      ["p99", function (m) { return m.p99 === undefined ? null : m.p99; }, "#7d3c98"],
                                      ["Maximum", function (m) { return m.invocations ? m.duration_ms_max : null; }, "#ec7211"]]},
    {title: "Errors and success rate (%)", series: [["Errors", function (m) { return m.errors; }, "#b3261e"],
                                                    ["Success rate %", function (m) { return m.invocations ? 100 * (m.invocations - m.errors) / m.invocations : null; }, "#1d8102"]]},
    {title: "Throttles", series: [["Throttles", function (m) { return m.throttles; }, "#7d3c98"]]},
    {title: "Concurrent executions (max)", series: [["Concurrent executions", function (m) { return m.concurrency_max; }, "#0b63c4"]]},
    {title: "Cold starts and init (ms avg)", series: [["Cold starts", function (m) { return m.cold_starts; }, "#5f6b7a"],
                                                      ["Init ms", function (m) { return m.cold_starts ? m.init_ms_sum / m.cold_starts : null; }, "#ec7211"]]},
    {title: "Async events dropped", series: [["Dropped", function (m) { return m.async_dropped; }, "#b3261e"]]},
    {title: "Async queue depth (events, max)", series: [["Events queued", function (m) { return m.async_depth_max; }, "#0b63c4"]]},
    {title: "Async event age (ms, max)", series: [["Oldest event age", function (m) { return m.async_age_ms_max; }, "#ec7211"]]},
    {title: "Iterator age (ms, max)", series: [["Iterator age", function (m) { return m.iterator_age_ms_max; }, "#7d3c98"]]},
  ];
  function width(holder) { return Math.max(200, holder.clientWidth - 14); }
  function draw(series) {
    var xs = series.map(function (m) { return m.minute; });
    specs.forEach(function (spec, i) {
      var data = [xs].concat(spec.series.map(function (s) { return series.map(s[1]); }));
      if (charts[i]) { charts[i].setData(data); return; }
      var holder = document.createElement("figure"); holder.className = "chart";
      holder.setAttribute("aria-label", spec.title + " chart");
      var h = document.createElement("h3"); h.textContent = spec.title; holder.appendChild(h);
      box.appendChild(holder);
      charts[i] = new uPlot({width: width(holder), height: 180,
        series: [{}].concat(spec.series.map(function (s) { return {label: s[0], stroke: s[2], width: 2, spanGaps: false, points: {show: true, size: 5, fill: s[2]}}; })),
        axes: [{}, {size: 50}], scales: {x: {time: true}}}, data, holder);
    });
  }
  function load() {
    Promise.all([
      fetch("/system/metrics?function=" + encodeURIComponent(name) + "&minutes=" + minutes).then(function (r) { return r.json(); }),
      fetch(location.pathname + "/durations?minutes=" + minutes).then(function (r) { return r.ok ? r.json() : {minutes: {}}; }),
    ]).then(function (both) {
        var d = both[0], percentiles = both[1].minutes;
        d.series.forEach(function (m) { var p = percentiles[m.minute]; if (p) { m.p50 = p.p50; m.p99 = p.p99; } });
        draw(d.series);
        var now = d.series[d.series.length - 1] || {};
        document.getElementById("queue-depth").textContent = (now.async_depth_max || 0) + " events";
        document.getElementById("queue-age").textContent = ((now.async_age_ms_max || 0) / 1000).toFixed(1) + " s";
        document.getElementById("iterator-age").textContent = (now.iterator_age_ms_max || 0).toFixed(0) + " ms";
        box.dataset.invocations = d.series.reduce(function (n, m) { return n + m.invocations; }, 0);
        box.dataset.loaded = "true";
      });
    document.body.dispatchEvent(new Event("refresh-monitor"));
  }
  load();
  var timer = setInterval(function () { if (document.getElementById("auto-refresh").checked) load(); }, 10000);
  document.getElementById("refresh").addEventListener("click", load);
  window.addEventListener("resize", function () { charts.forEach(function (c) { c.setSize({width: width(c.root.parentNode), height: 180}); }); });
  window.addEventListener("pagehide", function () { clearInterval(timer); });
})();
