// Folds the filter panel behind its toggle on phones, so the first results are on the first screen.
// Without this script the panel simply stays open.
(function () {
  "use strict";
  document.querySelectorAll(".facets-toggle").forEach(function (button) {
    var panel = document.getElementById(button.getAttribute("aria-controls"));
    if (!panel) { return; }
    button.hidden = false;
    panel.classList.add("facets-folded");
    button.addEventListener("click", function () {
      var open = button.getAttribute("aria-expanded") !== "true";
      button.setAttribute("aria-expanded", open ? "true" : "false");
      panel.classList.toggle("facets-folded", !open);
    });
  });
}());
