// The host's attendance screen: a new QR code every 20 s and the live count, without reloading the page.
(function () {
  "use strict";
  var screen = document.getElementById("attendance-screen");
  if (!screen) { return; }
  var url = screen.getAttribute("data-code-url");
  var image = document.getElementById("attendance-qr");
  var countdown = document.getElementById("attendance-countdown");
  var count = document.getElementById("attendance-count");
  var expected = document.getElementById("attendance-expected");
  var left = parseInt(countdown.textContent, 10) || 20;

  function refresh() {
    fetch(url, { headers: { "Accept": "application/json" }, credentials: "same-origin", cache: "no-store" })
      .then(function (response) { if (!response.ok) { throw new Error(response.status); } return response.json(); })
      .then(function (state) {
        image.src = state.qr;
        count.textContent = state.count;
        expected.textContent = state.expected;
        left = state.seconds_left;
        countdown.textContent = left;
      })
      .catch(function () { left = 3; });  // try again shortly; the old code expires on its own
  }

  setInterval(function () {
    left -= 1;
    if (left <= 0) { refresh(); left = 20; }
    countdown.textContent = Math.max(left, 0);
  }, 1000);
})();
