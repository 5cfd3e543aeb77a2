// Certificate verification: hash a chosen PDF in the browser and compare it with the SHA-256 on record.
// Without Web Crypto (plain http on another host) the form uploads the file and the server compares.
(function () {
  "use strict";
  var form = document.getElementById("pdf-form");
  if (!form || !window.crypto || !window.crypto.subtle || !window.FileReader) { return; }
  var out = document.getElementById("pdf-local-result");
  form.addEventListener("submit", function (event) {
    var file = form.querySelector("input[type=file]").files[0];
    if (!file) { return; }
    event.preventDefault();
    file.arrayBuffer().then(function (buffer) {
      return window.crypto.subtle.digest("SHA-256", buffer);
    }).then(function (digest) {
      var hex = Array.prototype.map.call(new Uint8Array(digest), function (b) {
        return b.toString(16).padStart(2, "0");
      }).join("");
      var same = hex === form.dataset.expected;
      out.className = "mt-2 alert " + (same ? "alert-success" : "alert-danger");
      out.textContent = same
        ? "文件一致：与平台签发的证书文件完全相同。"
        : "文件不一致：这个 PDF 的 SHA-256 为 " + hex + "，与平台记录不同，可能被改动过。请以本页显示的信息为准。";
    });
  });
})();
