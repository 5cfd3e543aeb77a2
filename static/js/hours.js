// 我的学时: bar chart of hours earned by category against the rule's minimums (Chart.js, vendored).
(function () {
  "use strict";
  var data = document.getElementById("hours-data");
  var canvas = document.getElementById("hours-chart");
  if (!data || !canvas || typeof Chart === "undefined") { return; }
  var d = JSON.parse(data.textContent);
  var messages = JSON.parse(canvas.dataset.messages || "{}");  // translated by the page: data-messages
  function t(key, values) {
    return String(messages[key] || key).replace(/\{(\w+)\}/g, function (whole, name) {
      return values && Object.prototype.hasOwnProperty.call(values, name) ? String(values[name]) : whole;
    });
  }
  var labels = d.labels.concat([t("total")]);
  new Chart(canvas, {
    type: "bar",
    data: {
      labels: labels,
      datasets: [
        { label: t("earned"), data: d.earned.concat([d.total]), backgroundColor: "#1d3b6f" },
        { label: t("required"), data: d.required.concat([d.annual]), backgroundColor: "#c3cfe2" }
      ]
    },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      scales: { y: { beginAtZero: true, title: { display: true, text: t("hours") } } },
      plugins: {
        tooltip: { callbacks: { label: function (c) { return t("tooltip", { label: c.dataset.label, value: c.raw === null ? t("unlimited") : t("value", { n: c.raw }) }); } } }
      }
    }
  });
})();
