/* Publisher workspace: upload with progress, live transcode progress, drag-to-reorder outline. */
(function () {
  "use strict";
  var source = document.getElementById("publisher-messages");
  var messages = source ? JSON.parse(source.textContent) : {};  // translated by the page
  function t(key, values) {
    return String(messages[key] || key).replace(/\{(\w+)\}/g, function (whole, name) {
      return values && Object.prototype.hasOwnProperty.call(values, name) ? String(values[name]) : whole;
    });
  }

  function setBar(bar, percent) {
    bar.style.width = percent + "%";
    bar.textContent = percent + "%";
    var wrap = bar.parentElement;
    if (wrap) wrap.setAttribute("aria-valuenow", String(percent));
  }

  document.querySelectorAll(".progress-bar[data-width]").forEach(function (bar) {
    setBar(bar, parseInt(bar.dataset.width, 10) || 0);
  });

  // ------------------------------------------------------------ upload in parts (lms/media/uploads.py)
  // Create the upload, send 8 MiB parts at the offset the server holds, retry a failed part with
  // backoff, finish. The upload id is kept in localStorage (file name + size + mtime), so after a
  // reload the same file carries on from the offset the server reports instead of starting again.
  var MB = 1024 * 1024;

  function fmtMB(bytes) { return (bytes / MB).toFixed(1) + " MB"; }
  function storageKey(kind, file) { return "gx-upload:" + kind + ":" + file.name + ":" + file.size + ":" + file.lastModified; }
  function remember(key, value) { try { if (value) localStorage.setItem(key, value); else localStorage.removeItem(key); } catch (e) { /* private mode */ } }
  function recall(key) { try { return localStorage.getItem(key); } catch (e) { return null; } }
  function sleep(ms) { return new Promise(function (resolve) { window.setTimeout(resolve, ms); }); }

  function UploadError(message, retry) { this.message = message; this.retry = retry; }

  function call(url, options, csrf) {
    options.credentials = "same-origin";
    options.headers = Object.assign({ Accept: "application/json", "X-CSRFToken": csrf }, options.headers || {});
    return fetch(url, options).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (body) { return { status: r.status, ok: r.ok, body: body }; });
    }, function () { throw new UploadError(t("networkRetrying"), true); });
  }

  function startUpload(form, kind) {
    var input = form.querySelector("input[type=file]");
    if (!input.files.length) { input.reportValidity(); return; }
    var file = input.files[0];
    var csrf = form.querySelector("input[name=csrf_token]").value;
    var org = form.querySelector("[name=organization_id]");
    var wrap = form.querySelector(".upload-progress");
    var bar = wrap.querySelector(".progress-bar");
    var status = form.querySelector(".upload-status");
    var button = form.querySelector("button[type=submit]");
    var cancel = form.querySelector(".upload-cancel");
    var key = storageKey(kind, file);
    var cancelled = false, url = null;

    function say(text, error) { status.textContent = text; status.classList.toggle("text-danger", !!error); }
    function show(offset) {
      var percent = file.size ? Math.floor((offset / file.size) * 100) : 100;
      setBar(bar, percent);
      say(t("uploaded", { done: fmtMB(offset), total: fmtMB(file.size), percent: percent }));
    }
    function stop(message) {
      button.disabled = false; cancel.classList.add("d-none");
      if (message) say(message, true);
    }

    wrap.classList.remove("d-none"); button.disabled = true; cancel.classList.remove("d-none"); cancel.disabled = false;
    cancel.onclick = function () {
      cancelled = true; cancel.disabled = true;
      remember(key, null);
      if (url) call(url, { method: "DELETE" }, csrf);
      wrap.classList.add("d-none"); stop(t("cancelled"));
    };

    function open() {
      var known = recall(key);
      var resume = known ? call(known, { method: "GET" }, csrf).then(function (res) {
        if (res.ok) { say(t("resuming")); return res.body.upload; }
        remember(key, null); return null;  // expired or finished: start again
      }) : Promise.resolve(null);
      return resume.then(function (upload) {
        if (upload) return upload;
        var body = { kind: kind, filename: file.name, size: file.size };
        if (org) body.organization_id = org.value;
        return call(form.dataset.createUrl, { method: "POST", headers: { "Content-Type": "application/json" },
                                               body: JSON.stringify(body) }, csrf).then(function (res) {
          if (!res.ok) throw new UploadError((res.body.error && res.body.error.message) || t("startFailed", { status: res.status }), false);
          remember(key, res.body.upload.url);
          return res.body.upload;
        });
      });
    }

    function sendPart(upload, offset, attempt) {
      if (cancelled) return Promise.reject(new UploadError("", false));
      var end = Math.min(offset + upload.part_size, file.size);
      return call(upload.url, { method: "PATCH", body: file.slice(offset, end),
                                headers: { "Upload-Offset": String(offset), "Content-Type": "application/offset+octet-stream" } }, csrf)
        .then(function (res) {
          if (res.ok) return res.body.upload.offset;
          if (res.status === 409 && res.body.upload) return res.body.upload.offset;  // carry on where the server is
          var message = (res.body.error && res.body.error.message) || t("uploadFailed", { status: res.status });
          throw new UploadError(message, res.status >= 500 || res.status === 400 && res.body.error && res.body.error.code === "part_incomplete");
        })
        .catch(function (err) {
          if (cancelled || !(err instanceof UploadError) || !err.retry || attempt >= 8) throw err;
          var wait = Math.min(30000, 1000 * Math.pow(2, attempt));
          say(t("retryIn", { seconds: Math.round(wait / 1000), n: attempt + 1 }), true);
          return sleep(wait).then(function () {
            return call(upload.url, { method: "GET" }, csrf).then(function (res) {
              if (!res.ok) throw new UploadError(t("expired"), false);
              return sendPart(upload, res.body.upload.offset, attempt + 1);
            }, function () { return sendPart(upload, offset, attempt + 1); });
          });
        });
    }

    function loop(upload, offset) {
      show(offset);
      if (offset >= file.size) return finish(upload);
      return sendPart(upload, offset, 0).then(function (next) { return loop(upload, next); });
    }

    function finish(upload) {
      say(kind === "media" ? t("checkingVideo") : t("checkingPackage"));
      cancel.classList.add("d-none");
      return call(upload.url + "/finish", { method: "POST" }, csrf).then(function (res) {
        remember(key, res.status === 201 || res.status === 400 ? null : upload.url);
        if (res.status === 201) {
          setBar(bar, 100);
          if (kind === "media") { say(t("queued")); window.location.reload(); }
          else { say(t("imported")); window.location.href = res.body.redirect; }
          return;
        }
        var error = res.body.error || {};
        var problems = error.problems && error.problems.length > 1 ? t("problems", { problems: error.problems.join(t("problemSeparator")) }) : "";
        wrap.classList.add("d-none");
        stop((error.message || t("processingFailed", { status: res.status })) + problems);
      });
    }

    open().then(function (upload) { url = upload.url; return loop(upload, upload.offset); })
      .catch(function (err) {
        if (cancelled) return;
        if (err && err.retry) stop(t("paused"));
        else stop((err && err.message) || t("unfinished"));
      });
  }

  document.querySelectorAll("form[data-upload-kind]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.fetch || !window.Blob || !Blob.prototype.slice) return;  // the plain form still works
      event.preventDefault();
      startUpload(form, form.dataset.uploadKind);
    });
    // Say so when an upload of this kind was left unfinished here (its file must be chosen again).
    var pending = [];
    try {
      for (var i = 0; i < localStorage.length; i++) {
        var k = localStorage.key(i);
        if (k.indexOf("gx-upload:" + form.dataset.uploadKind + ":") === 0) pending.push(k.split(":")[2]);
      }
    } catch (e) { /* storage unavailable */ }
    if (pending.length) {
      form.querySelector(".upload-status").textContent = t("pending", { names: pending.join(t("listSeparator")) });
    }
  });

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
          state.textContent = a.status === "processing" ? t("transcoding") : t("waiting");
          window.setTimeout(poll, 1000);
        })
        .catch(function () { window.setTimeout(poll, 3000); });
    }
    if (state.dataset.waiting === "true") window.setTimeout(poll, 500);
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
      statusLine.textContent = t("savingOrder");
      fetch(editor.dataset.saveUrl, {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": editor.dataset.csrf, Accept: "application/json" },
        body: JSON.stringify({ outline: outline })
      }).then(function (r) { return r.json().then(function (b) { return [r.ok, b]; }); })
        .then(function (res) {
          statusLine.textContent = res[0] ? res[1].message : (res[1].error ? res[1].error.message : t("saveFailed"));
          if (res[0]) window.location.reload();
        })
        .catch(function () { statusLine.textContent = t("orderNotSaved"); });
    };
    window.Sortable.create(editor, { handle: ".drag-handle", draggable: ".outline-chapter", onEnd: save });
    editor.querySelectorAll(".outline-lessons").forEach(function (list) {
      window.Sortable.create(list, { group: "lessons", handle: ".drag-handle", onEnd: save });
    });
  }
})();
