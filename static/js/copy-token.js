// The copy button beside a token shown once (/api-clients): copies it with the Clipboard API, or
// selects it and tries the older copy command; when neither works the text stays selected and the
// status line asks to copy by hand. A <button>, so Enter and Space work from the keyboard.
(function () {
  "use strict";
  var button = document.getElementById("copy-token");
  if (!button) { return; }
  var field = document.getElementById(button.dataset.copy);
  var status = document.getElementById("copy-token-status");
  var messages = JSON.parse(button.dataset.messages || "{}");  // translated by the page: data-messages
  function say(key) {
    status.textContent = messages[key] || key;
  }
  function selectField() {
    field.focus();
    field.select();
    field.setSelectionRange(0, field.value.length);
  }
  function fallback() {
    selectField();
    var copied = false;
    try { copied = document.execCommand("copy"); } catch (e) { copied = false; }
    say(copied ? "copied" : "manual");
    if (copied) { button.focus(); }
  }
  button.hidden = false;
  button.addEventListener("click", function () {
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(field.value).then(function () { say("copied"); }, fallback);
    } else {
      fallback();
    }
  });
}());
