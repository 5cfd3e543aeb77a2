// The reset link carries its secret after "#": browsers never send that part to a server, so it is
// in no access log and no Referer. Move it into the form, then drop it from the address bar.
(function () {
  var field = document.getElementById("reset-token");
  if (!field) return;
  var fromLink = window.location.hash.replace(/^#/, "");
  if (fromLink) {
    field.value = fromLink;
    history.replaceState(null, "", window.location.pathname + window.location.search);
  }
  if (!field.value) document.getElementById("link-missing").classList.remove("d-none");
})();
