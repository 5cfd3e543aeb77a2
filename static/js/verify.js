// Certificate verification: hash a chosen PDF in the browser and compare it with the SHA-256 on record.
// Without Web Crypto (plain http on another host) the form uploads the file and the server compares.
(function () {
  "use strict";
  var form = document.getElementById("pdf-form");
  if (!form || !window.crypto || !window.crypto.subtle || !window.FileReader) { return; }
  var out = document.getElementById("pdf-local-result");
  var messages = JSON.parse(form.dataset.messages || "{}");  // translated by the page: data-messages
  function t(key, values) {
    return String(messages[key] || key).replace(/\{(\w+)\}/g, function (whole, name) {
      return values && Object.prototype.hasOwnProperty.call(values, name) ? String(values[name]) : whole;
    });
  }
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
        ? t("same")
        : t("different", { hash: hex });
    });
  });
})();
