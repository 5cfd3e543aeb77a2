/* Gongxu player: reports playback to the server, which decides what is credited.
 * Heartbeats every few seconds and on pause / end / page hide (navigator.sendBeacon); forward
 * seeks past the furthest watched point are undone; a hidden page pauses; attention checks. */
(function () {
  "use strict";
  var root = document.getElementById("player");
  if (!root) { return; }
  var cfg = root.dataset;
  var kind = cfg.kind;
  var video = document.getElementById("lesson-video");
  var beatSeconds = Math.max(1, parseFloat(cfg.heartbeat) || 12);
  var rates = (cfg.rates || "1").split(",").map(parseFloat);
  var furthest = parseFloat(cfg.furthest) || 0;
  var sessionId = null, seq = 0, starting = null, stopped = false;
  var segments = [], segStart = null, lastTime = null, segRate = 1;  // segRate: the rate the open segment is played at
  var pauseReason = null, checkShown = false, checkTimer = null, nextTimer = null;
  var msg = document.getElementById("player-message");
  var messages = JSON.parse(cfg.messages || "{}");  // translated by the page
  function t(key, values) {
    return String(messages[key] || key).replace(/\{(\w+)\}/g, function (whole, name) {
      return values && Object.prototype.hasOwnProperty.call(values, name) ? String(values[name]) : whole;
    });
  }

  function fmt(sec) {
    sec = Math.round(sec || 0);
    var m = Math.floor(sec / 60), s = sec % 60;
    return m ? t("minutesSeconds", { m: m, s: (s < 10 ? "0" : "") + s }) : t("seconds", { s: s });
  }
  function say(text, level) {
    msg.textContent = text;
    msg.className = "alert mt-3 alert-" + (level || "info");
  }
  function visible() { return document.visibilityState === "visible"; }

  function post(url, body, timeoutMs) {
    body.csrf_token = cfg.csrf;
    var ctrl = window.AbortController ? new AbortController() : null;
    var timer = ctrl && timeoutMs ? setTimeout(function () { ctrl.abort(); }, timeoutMs) : null;
    return fetch(url, {method: "POST", credentials: "same-origin", body: JSON.stringify(body), signal: ctrl ? ctrl.signal : undefined,
      headers: {"Content-Type": "application/json", "X-CSRFToken": cfg.csrf, "Accept": "application/json"}})
      .then(function (r) { return r.json().then(function (j) { clearTimeout(timer); return {status: r.status, body: j}; }); },
            function (e) { clearTimeout(timer); throw e; });
  }

  // ---- segments played since the last beat
  function closeSegment() {
    if (segStart !== null && lastTime !== null && lastTime > segStart) { segments.push([segStart, lastTime, segRate]); }
    segStart = null; lastTime = null;
  }
  function takeSegments() {
    var open = segStart !== null && lastTime !== null && lastTime > segStart;
    if (open) { segments.push([segStart, lastTime, segRate]); segStart = lastTime; }
    var out = segments; segments = [];
    return out;
  }

  function startSession() {
    if (sessionId) { return Promise.resolve(); }
    if (starting) { return starting; }
    starting = post(cfg.sessionUrl, {lesson_id: parseInt(cfg.lessonId, 10)}).then(function (r) {
      starting = null;
      if (r.status !== 200) { say((r.body.error && r.body.error.message) || t("startFailed"), "danger"); stopped = true; return; }
      sessionId = r.body.session_id; seq = 0; stopped = false; unacked = [];
      furthest = Math.max(furthest, r.body.furthest_point || 0);
      beatSeconds = r.body.heartbeat_seconds || beatSeconds;
      render(r.body);
      if (r.body.attention_missed !== undefined) {
        say(t("attentionMissed", { time: fmt(r.body.attention_missed) }), "warning");
      }
      if (r.body.attention_check && !checkShown) { showCheck(r.body.attention_check.remaining_seconds); }
    });
    return starting;
  }

  // ---- heartbeats: one in flight at a time; segments the server has not acknowledged are kept and
  // resent with the next beat (the server takes each batch once, by its seq), so a lost request or a
  // lost response costs nothing and credits nothing twice.
  var unacked = [];  // [{seq, segments}] of beats sent but not acknowledged
  var inFlight = null, retryTimer = null, failures = 0, offline = false;
  var MAX_BATCHES = 48, MAX_SEGMENTS_HELD = 200, BEAT_TIMEOUT_MS = 10000;

  function payload(event) {
    seq += 1;
    var own = kind === "video" ? takeSegments() : [];
    var body = {session_id: sessionId, seq: seq, position: video ? video.currentTime : 0, segments: own,
      resend: unacked.slice(), rate: video ? video.playbackRate : 1, visible: visible(), event: event};
    unacked.push({seq: seq, segments: own});
    while (unacked.length > MAX_BATCHES) {  // a long outage: fold the two oldest batches (under the older seq)
      var a = unacked.shift(), b = unacked.shift();
      unacked.unshift({seq: a.seq, segments: joinTouching(a.segments.concat(b.segments))});
    }
    while (countSegments() > MAX_SEGMENTS_HELD && unacked.length > 1) { unacked.shift(); }  // hours offline
    return body;
  }

  function joinTouching(list) {  // segments played back to back at one rate become one
    var out = [];
    list.forEach(function (seg) {
      var last = out[out.length - 1];
      if (last && Math.abs(last[1] - seg[0]) < 0.3 && last[2] === seg[2]) { last[1] = Math.max(last[1], seg[1]); }
      else { out.push(seg.slice()); }
    });
    return out;
  }
  function countSegments() {
    return unacked.reduce(function (n, batch) { return n + batch.segments.length; }, 0);
  }

  function acknowledge(ackedSeq) {
    if (typeof ackedSeq !== "number") { return; }
    unacked = unacked.filter(function (batch) { return batch.seq > ackedSeq; });
  }

  function beat(event) {
    if (!sessionId || stopped) { return Promise.resolve(); }
    if (inFlight) { return inFlight; }
    clearTimeout(retryTimer);
    inFlight = post(cfg.beatUrl, payload(event), BEAT_TIMEOUT_MS).then(function (r) {
      inFlight = null;
      if (r.status >= 500) { throw new Error("server " + r.status); }
      failures = 0;
      if (offline) {
        offline = false;
        say(t("reconnected"), "success");
      }
      handle(r);
    }).catch(function () {
      inFlight = null;
      failures += 1; offline = true;
      say(t("offline", { n: failures }), "warning");
      var delay = Math.min(30000, 1000 * Math.pow(2, Math.min(failures, 5))) * (0.75 + Math.random() * 0.5);
      retryTimer = setTimeout(function () { beat("retry"); }, delay);
    });
    return inFlight;
  }

  function beacon(event) {
    if (!sessionId || stopped || !navigator.sendBeacon) { return; }
    var body = payload(event); body.csrf_token = cfg.csrf;
    navigator.sendBeacon(cfg.beatUrl, new Blob([JSON.stringify(body)], {type: "text/plain"}));
  }

  function handle(r) {
    var b = r.body;
    acknowledge(b.acked_seq);
    if (r.status === 409 || b.status === "superseded") { supersede(b.message); return; }
    if (r.status !== 200) {
      unacked = [];  // refused as a whole (a 4xx): resending it would be refused again
      say((b.error && b.error.message) || t("beatFailed"), "danger"); return;
    }
    render(b);
    if (b.attention_missed !== undefined) {
      hideCheck();
      say(t("attentionMissedPlay", { time: fmt(b.attention_missed) }), "warning");
    }
    if (b.attention_check && !checkShown) { showCheck(b.attention_check.remaining_seconds); }
    maybeNext();
  }

  // ---- the next lesson: after the lesson ended, once every beat has landed and no check is open
  var endedPending = false;
  function maybeNext() {
    if (!endedPending || stopped || checkShown || inFlight || unacked.length || segments.length) { return; }
    endedPending = false;
    if (cfg.nextUrl) { autoplayNext(); }
  }
  function settle() {  // send what is left until all of it is acknowledged (retries take over when offline)
    beat("ended").then(function () {
      if (!offline && !stopped && sessionId && (unacked.length || segments.length)) { settle(); return; }
      maybeNext();
    });
  }

  function supersede(message) {
    stopped = true; sessionId = null;
    pauseReason = "superseded";
    if (video && !video.paused) { video.pause(); }
    say(message || t("superseded"), "warning");
    var again = document.createElement("button");
    again.type = "button"; again.className = "btn btn-sm btn-primary ms-2"; again.textContent = t("continueHere");
    again.addEventListener("click", function () { msg.className = "alert mt-3 d-none"; startSession().then(function () { if (video) { video.play(); } }); });
    msg.appendChild(again);
  }

  function render(b) {
    if (b.furthest_point !== undefined) { furthest = Math.max(furthest, b.furthest_point); }
    var w = document.getElementById("st-watched"); if (w) { w.textContent = b.watched_percent; }
    document.getElementById("st-credited").textContent = fmt(b.credited_seconds);
    document.getElementById("st-pending").textContent = b.pending_seconds >= 0.5 ? t("pending", { time: fmt(b.pending_seconds) }) : "";
    document.getElementById("st-state").textContent = b.completed ? t("completed") : t("studying");
    var list = document.getElementById("st-not-counted");
    list.textContent = "";
    (b.not_counted && b.not_counted.length ? b.not_counted : [{label: t("none")}]).forEach(function (n) {
      var li = document.createElement("li");
      li.textContent = n.seconds !== undefined ? t("notCountedItem", { label: n.label, time: fmt(n.seconds) }) : n.label;
      list.appendChild(li);
    });
    var item = document.getElementById("outline-" + cfg.lessonId);
    if (item) {
      var st = item.querySelector("[data-role=state]");
      st.textContent = b.completed ? t("completed") : t("studying");
      if (b.completed) { st.className = "badge text-bg-success"; }
      var ow = item.querySelector("[data-role=watched]"); if (ow) { ow.textContent = b.watched_percent; }
      item.querySelector("[data-role=credited]").textContent = fmt(b.credited_seconds);
    }
    if (b.course) { renderCourse(b.course); }
    var beatNc = b.beat_not_counted || {};
    if (beatNc.seek) { say(t("seekSkipped"), "warning"); }
    else if (beatNc.hidden) { say(t("hiddenNotCounted"), "warning"); }
    else if (beatNc.rate) { say(t("rateNotCounted"), "warning"); }
  }

  // A lesson just completed: the outline's count and the exam's state change without a reload, and
  // once every lesson is done the page says what comes next (the exam, or the hours recorded).
  function renderCourse(c) {
    var progress = document.getElementById("outline-progress");
    if (progress && c.progress_text) { progress.textContent = c.progress_text; }
    var exam = document.getElementById("exam-status");
    if (exam && c.exam_status) { exam.textContent = c.exam_status; }
    var ready = document.getElementById("course-ready");
    if (ready && c.lessons_done && !c.exam_passed && (c.has_exam || c.completed)) { ready.classList.remove("d-none"); }
  }

  // ---- attention checks
  function showCheck(remaining) {
    checkShown = true;
    pauseReason = "check";
    if (video && !video.paused) { video.pause(); }
    var box = document.getElementById("attention-prompt");
    var count = document.getElementById("attention-countdown");
    var left = Math.max(0, remaining);
    box.hidden = false; count.textContent = left;
    document.getElementById("attention-button").focus();
    clearInterval(checkTimer);
    checkTimer = setInterval(function () {
      left -= 1; count.textContent = Math.max(0, left);
      if (left <= -4) {  // window plus the server's grace: ask the server to settle the missed check
        clearInterval(checkTimer);
        beat("tick");
      }
    }, 1000);
  }
  function hideCheck() {
    checkShown = false; clearInterval(checkTimer);
    var box = document.getElementById("attention-prompt"); if (box) { box.hidden = true; }
  }
  var checkButton = document.getElementById("attention-button");
  if (checkButton) {
    checkButton.addEventListener("click", function () {
      post(cfg.attentionUrl, {session_id: sessionId}).then(function (r) {
        hideCheck();
        if (r.status === 409) { supersede(r.body.message); return; }
        render(r.body);
        if (r.body.attention_missed !== undefined) {
          say(t("attentionLate", { time: fmt(r.body.attention_missed) }), "warning");
        } else {
          say(t("attentionOk"), "success");
          pauseReason = null;
          if (video && video.ended) { endedPending = true; maybeNext(); }
          else if (video) { video.play(); }
        }
      });
    });
  }

  // ---- video
  if (video) {
    if (cfg.hlsUrl && window.Hls && window.Hls.isSupported()) {
      var hls = new window.Hls({enableWorker: false});  // CSP: no blob: workers
      hls.loadSource(cfg.hlsUrl); hls.attachMedia(video);
    } else if (cfg.hlsUrl && video.canPlayType("application/vnd.apple.mpegurl")) {
      video.src = cfg.hlsUrl;
    } else if (cfg.mp4Url) {
      video.src = cfg.mp4Url;
    }
    var resumeAt = parseFloat(cfg.resume) || 0;
    video.addEventListener("loadedmetadata", function () {
      if (resumeAt > 0 && resumeAt < video.duration - 1) { video.currentTime = resumeAt; lastTime = null; segStart = null; }
    }, {once: true});

    video.addEventListener("timeupdate", function () {
      if (video.paused || video.seeking) { return; }
      var t = video.currentTime;
      if (segStart === null) { segStart = t; lastTime = t; segRate = video.playbackRate; return; }
      if (t >= lastTime && t - lastTime < 3) { lastTime = t; } else { closeSegment(); segStart = t; lastTime = t; segRate = video.playbackRate; }
      if (t > furthest && t - furthest < 3) { furthest = t; }
    });
    video.addEventListener("seeking", function () {
      closeSegment();
      var limit = Math.max(furthest, resumeAt) + 1;
      if (video.currentTime > limit) {
        video.currentTime = Math.max(furthest, resumeAt);
        say(t("seekBack"), "warning");
      }
    });
    video.addEventListener("play", function () {
      if (checkShown) { video.pause(); return; }
      pauseReason = null; endedPending = false;
      if (stopped) { video.pause(); return; }
      startSession();
    });
    video.addEventListener("pause", function () {
      if (video.ended) { return; }
      closeSegment();
      var reason = pauseReason || "pause";
      pauseReason = null;
      if (reason === "superseded") { return; }
      beat(reason === "hidden" ? "hidden" : reason === "check" ? "tick" : "pause");
    });
    video.addEventListener("ended", function () {
      closeSegment();
      // The last beats land first, then a check asked at the end of the lesson; the next lesson
      // follows the answer.
      endedPending = true;
      settle();
    });
    // Buttons beside the video's own controls: named, in the tab order, Enter and Space work as on
    // any button. The captions toggle shows or hides the lesson's captions track.
    var playToggle = document.getElementById("play-toggle");
    function showPlayState() { playToggle.textContent = video.paused ? t("play") : t("pause"); }
    playToggle.addEventListener("click", function () {
      if (video.paused) { video.play(); } else { video.pause(); }
    });
    ["play", "pause", "ended"].forEach(function (name) { video.addEventListener(name, showPlayState); });
    var captionsToggle = document.getElementById("captions-toggle");
    var track = video.textTracks && video.textTracks[0];
    if (captionsToggle && track) {
      var showCaptionsState = function () { captionsToggle.setAttribute("aria-pressed", String(track.mode === "showing")); };
      captionsToggle.addEventListener("click", function () {
        var shown = captionsToggle.getAttribute("aria-pressed") === "true";  // the track may not have loaded yet
        track.mode = shown ? "hidden" : "showing";
        showCaptionsState();
      });
      video.textTracks.addEventListener("change", showCaptionsState);  // the video's own menu
    }

    var rateSelect = document.getElementById("rate-select");
    rateSelect.addEventListener("change", function () { video.playbackRate = parseFloat(rateSelect.value) || 1; });
    video.addEventListener("ratechange", function () {
      closeSegment();  // what was played so far was played at the previous rate
      var ok = rates.some(function (r) { return Math.abs(r - video.playbackRate) < 0.01; });
      if (!ok) { video.playbackRate = 1; rateSelect.value = "1.0"; say(t("rateReset"), "warning"); }
    });
  }

  function autoplayNext() {
    var notice = document.getElementById("next-notice");
    var text = document.getElementById("next-text");
    var go = document.getElementById("next-go");
    var left = 5;
    go.href = cfg.nextUrl;
    notice.classList.remove("d-none");
    text.textContent = t("nextIn", { n: left, title: cfg.nextTitle });
    nextTimer = setInterval(function () {
      left -= 1;
      text.textContent = t("nextIn", { n: left, title: cfg.nextTitle });
      if (left <= 0) { clearInterval(nextTimer); window.location.href = cfg.nextUrl; }
    }, 1000);
    document.getElementById("next-cancel").addEventListener("click", function () {
      clearInterval(nextTimer); text.textContent = t("nextCancelled");
    });
  }

  // ---- page visibility, periodic beats, leaving the page
  document.addEventListener("visibilitychange", function () {
    if (!visible()) {
      if (video && !video.paused) { pauseReason = "hidden"; video.pause(); say(t("hiddenPaused"), "info"); }
      else if (kind !== "video") { beat("hidden"); }
    } else if (kind !== "video" && !stopped) {
      startSession();
    }
  });
  setInterval(function () {
    if (!sessionId || stopped || checkShown) { return; }
    if (offline) { return; }  // the retry timer is on it
    if (kind === "video" && video.paused && !segments.length && segStart === null && !unacked.length) { return; }
    beat("tick");
  }, beatSeconds * 1000);
  window.addEventListener("pagehide", function () { closeSegment(); beacon("unload"); });

  if (kind !== "video" && visible()) { startSession(); }
})();
