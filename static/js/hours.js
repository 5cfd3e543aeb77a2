// 我的学时: bar chart of hours earned by category against the rule's minimums (Chart.js, vendored).
(function () {
  "use strict";
  var data = document.getElementById("hours-data");
  var canvas = document.getElementById("hours-chart");
  if (!data || !canvas || typeof Chart === "undefined") { return; }
  var d = JSON.parse(data.textContent);
  var labels = d.labels.concat(["合计"]);
  new Chart(canvas, {
    type: "bar",
    data: {
      labels: labels,
      datasets: [
        { label: "已得学时", data: d.earned.concat([d.total]), backgroundColor: "#1d3b6f" },
        { label: "要求学时", data: d.required.concat([d.annual]), backgroundColor: "#c3cfe2" }
      ]
    },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      scales: { y: { beginAtZero: true, title: { display: true, text: "学时" } } },
      plugins: {
        tooltip: { callbacks: { label: function (c) { return c.dataset.label + "：" + (c.raw === null ? "不限" : c.raw + " 学时"); } } }
      }
    }
  });
})();
