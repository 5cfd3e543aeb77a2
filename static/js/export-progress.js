/* Export job page: poll the job's status and move the progress bar; show the download link when done. */
(function () {
  "use strict";

  var box = document.getElementById("export-job");
  if (!box) return;
  var bar = box.querySelector(".progress-bar");
  var state = document.getElementById("export-state");
  var link = document.getElementById("export-download");

  function setBar(percent) {
    bar.style.width = percent + "%";
    bar.textContent = percent + "%";
    bar.parentElement.setAttribute("aria-valuenow", String(percent));
  }

  setBar(parseInt(bar.dataset.width, 10) || 0);

  function show(body) {
    setBar(body.percent);
    if (body.status === "done" && body.download_url) {
      bar.classList.add("bg-success");
      state.textContent = "已完成，共 " + body.rows_done + " 条记录。";
      link.href = body.download_url;
      link.classList.remove("d-none");
      return true;
    }
    if (body.status === "done" || body.status === "expired") {
      state.textContent = "下载链接已过期，文件已删除。请重新导出。";
      state.classList.add("text-danger");
      return true;
    }
    if (body.status === "failed") {
      bar.classList.add("bg-danger");
      state.textContent = "导出失败：" + (body.error || "请稍后重试。");
      state.classList.add("text-danger");
      return true;
    }
    state.textContent = body.status === "running"
      ? "正在导出：已写入 " + body.rows_done + " / " + (body.rows_total === null ? "?" : body.rows_total) + " 条……"
      : "排队等待导出……";
    return false;
  }

  var failures = 0;
  function poll() {
    fetch(box.dataset.statusUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error(String(response.status));
        return response.json();
      })
      .then(function (body) {
        failures = 0;
        if (!show(body)) window.setTimeout(poll, 1000);
      })
      .catch(function () {
        failures += 1;
        if (failures >= 5) {
          state.textContent = "暂时无法获取导出进度，请稍后刷新页面。";
          return;
        }
        window.setTimeout(poll, 3000);
      });
  }

  var initial = box.dataset.status;
  if (initial === "queued" || initial === "running") poll();
})();
