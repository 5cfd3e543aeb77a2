/* Export job page: poll the job's status and move the progress bar; show the download link when done. */
(function () {
  "use strict";

  var box = document.getElementById("export-job");
  if (!box) return;
  var bar = box.querySelector(".progress-bar");
  var state = document.getElementById("export-state");
  var link = document.getElementById("export-download");
  var messages = JSON.parse(box.dataset.messages || "{}");  // translated by the page: data-messages
  function t(key, values) {
    return String(messages[key] || key).replace(/\{(\w+)\}/g, function (whole, name) {
      return values && Object.prototype.hasOwnProperty.call(values, name) ? String(values[name]) : whole;
    });
  }

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
      state.textContent = t("done", { n: body.rows_done });
      link.href = body.download_url;
      link.classList.remove("d-none");
      return true;
    }
    if (body.status === "done" || body.status === "expired") {
      state.textContent = t("expired");
      state.classList.add("text-danger");
      return true;
    }
    if (body.status === "failed") {
      bar.classList.add("bg-danger");
      state.textContent = t("failed") + (body.error || t("retry"));
      state.classList.add("text-danger");
      return true;
    }
    state.textContent = body.status === "running"
      ? t("running", { d: body.rows_done, t: body.rows_total === null ? "?" : body.rows_total })
      : t("queued");
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
          state.textContent = t("unreachable");
          return;
        }
        window.setTimeout(poll, 3000);
      });
  }

  var initial = box.dataset.status;
  if (initial === "queued" || initial === "running") poll();
})();
