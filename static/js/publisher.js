/* Publisher workspace: upload with progress, live transcode progress, drag-to-reorder outline. */
(function () {
  "use strict";

  function setBar(bar, percent) {
    bar.style.width = percent + "%";
    bar.textContent = percent + "%";
    var wrap = bar.parentElement;
    if (wrap) wrap.setAttribute("aria-valuenow", String(percent));
  }

  document.querySelectorAll(".progress-bar[data-width]").forEach(function (bar) {
    setBar(bar, parseInt(bar.dataset.width, 10) || 0);
  });

  // ------------------------------------------------------------ upload
  var form = document.getElementById("upload-form");
  if (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var input = form.querySelector("input[type=file]");
      if (!input.files.length) { input.reportValidity(); return; }
      var wrap = document.getElementById("upload-progress");
      var bar = wrap.querySelector(".progress-bar");
      var status = document.getElementById("upload-status");
      var button = form.querySelector("button[type=submit]");
      wrap.classList.remove("d-none");
      button.disabled = true;
      status.textContent = "正在上传……";
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.addEventListener("progress", function (e) {
        if (e.lengthComputable) setBar(bar, Math.floor((e.loaded / e.total) * 100));
      });
      xhr.addEventListener("load", function () {
        var body = {};
        try { body = JSON.parse(xhr.responseText); } catch (err) { body = {}; }
        if (xhr.status === 201) {
          setBar(bar, 100);
          status.textContent = "上传完成，正在排队转码……";
          window.location.reload();
        } else {
          button.disabled = false;
          wrap.classList.add("d-none");
          status.textContent = (body.error && body.error.message) || (xhr.status === 413
            ? "文件超过大小上限，请压缩后再上传。" : "上传失败（" + xhr.status + "），请重试。");
          status.classList.add("text-danger");
        }
      });
      xhr.addEventListener("error", function () {
        button.disabled = false;
        status.textContent = "网络中断，上传未完成。请检查网络后重新上传。";
        status.classList.add("text-danger");
      });
      xhr.send(new FormData(form));
    });
  }

  // ------------------------------------------------------------ transcode progress
  document.querySelectorAll(".asset-row").forEach(function (row) {
    var bar = row.querySelector(".progress-bar");
    var state = row.querySelector(".asset-state");
    function poll() {
      fetch(row.dataset.statusUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (data) {
          var a = data.asset;
          setBar(bar, a.progress);
          if (a.status === "ready" || a.status === "failed" || a.stalled) {
            window.location.reload();
            return;
          }
          state.textContent = a.status === "processing" ? "正在转码……" : "排队等待转码……";
          window.setTimeout(poll, 1000);
        })
        .catch(function () { window.setTimeout(poll, 3000); });
    }
    var text = state.textContent;
    if (text.indexOf("正在转码") >= 0 || text.indexOf("排队") >= 0) window.setTimeout(poll, 500);
  });

  // ------------------------------------------------------------ outline drag-to-reorder
  var editor = document.getElementById("outline-editor");
  if (editor && editor.dataset.editable && window.Sortable) {
    var statusLine = document.getElementById("outline-status");
    var save = function () {
      var outline = Array.prototype.map.call(editor.querySelectorAll(".outline-chapter"), function (ch) {
        return {
          chapter: ch.dataset.chapterId,
          lessons: Array.prototype.map.call(ch.querySelectorAll(".outline-lesson"), function (li) {
            return li.dataset.lessonId;
          })
        };
      });
      statusLine.textContent = "正在保存顺序……";
      fetch(editor.dataset.saveUrl, {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": editor.dataset.csrf, Accept: "application/json" },
        body: JSON.stringify({ outline: outline })
      }).then(function (r) { return r.json().then(function (b) { return [r.ok, b]; }); })
        .then(function (res) {
          statusLine.textContent = res[0] ? res[1].message : (res[1].error ? res[1].error.message : "保存失败，请刷新后重试。");
          if (res[0]) window.location.reload();
        })
        .catch(function () { statusLine.textContent = "网络中断，顺序未保存，请刷新后重试。"; });
    };
    window.Sortable.create(editor, { handle: ".drag-handle", draggable: ".outline-chapter", onEnd: save });
    editor.querySelectorAll(".outline-lessons").forEach(function (list) {
      window.Sortable.create(list, { group: "lessons", handle: ".drag-handle", onEnd: save });
    });
  }
})();
