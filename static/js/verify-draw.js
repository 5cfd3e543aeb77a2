// "Check this draw" on a random inspection's public page (双随机、一公开): the visitor's own browser
// fetches the published document (draw.json), and recomputes with the Web Crypto API what
// scripts/verify_draw.py recomputes: the SHA-256 of the population and pool against the digest
// published at freeze, the seed's SHA-256 against the commitment, and the draw from the seed
// (lms/programme/draw.py documents the algorithm; 64-bit numbers as BigInt). Nothing is taken from
// the page: only the document and this script, which anyone can read.
(function () {
  "use strict";
  var root = document.getElementById("browser-check");
  if (!root) { return; }
  var button = document.getElementById("check-draw");
  var result = document.getElementById("check-result");
  var messages = JSON.parse(root.dataset.messages || "{}");  // translated by the page
  var encoder = new TextEncoder();
  var TWO64 = BigInt(2) ** BigInt(64);

  function hex(buffer) {
    return Array.prototype.map.call(new Uint8Array(buffer), function (b) {
      return b.toString(16).padStart(2, "0");
    }).join("");
  }
  function sha256(text) {
    return crypto.subtle.digest("SHA-256", encoder.encode(text));
  }
  // JSON as Python's json.dumps(..., ensure_ascii=False, sort_keys=True, separators=(",", ":")).
  function canonical(value) {
    if (Array.isArray(value)) { return "[" + value.map(canonical).join(",") + "]"; }
    if (value !== null && typeof value === "object") {
      return "{" + Object.keys(value).sort().map(function (key) {
        return JSON.stringify(key) + ":" + canonical(value[key]);
      }).join(",") + "}";
    }
    return JSON.stringify(value);
  }
  // The SHA-256 counter-mode stream of seed_hex under label, 8 bytes at a time (big-endian).
  function Stream(seed, label) {
    this.seed = seed; this.label = label; this.counter = 0; this.numbers = [];
  }
  Stream.prototype.next64 = async function () {
    if (!this.numbers.length) {
      var view = new DataView(await sha256(this.seed + ":" + this.label + ":" + this.counter));
      this.counter += 1;
      for (var offset = 0; offset < 32; offset += 8) { this.numbers.push(view.getBigUint64(offset, false)); }
    }
    return this.numbers.shift();
  };
  Stream.prototype.uniform = async function (n) {
    var big = BigInt(n), limit = TWO64 - (TWO64 % big);
    for (;;) {
      var x = await this.next64();
      if (x < limit) { return Number(x % big); }
    }
  };
  async function shuffled(stream, n, k) {
    var a = [], i;
    for (i = 0; i < n; i += 1) { a.push(i); }
    k = Math.min(k, n);
    for (i = 0; i < k; i += 1) {
      var j = i + await stream.uniform(n - i), swap = a[i];
      a[i] = a[j]; a[j] = swap;
    }
    return a.slice(0, k);
  }
  async function recompute(doc) {
    var population = doc.population, pool = doc.pool;
    var drawn = await shuffled(new Stream(doc.seed, "targets"), population.length, doc.targets);
    var order = await shuffled(new Stream(doc.seed, "inspectors"), pool.length, pool.length);
    var rows = [], cursor = 0;
    drawn.forEach(function (position) {
      var barred = population[position].exclude, taken = [];
      for (var step = 0; step < pool.length && taken.length < doc.inspectors_per_target; step += 1) {
        var candidate = order[cursor];
        cursor = (cursor + 1) % pool.length;
        if (barred.indexOf(candidate) < 0 && taken.indexOf(candidate) < 0) { taken.push(candidate); }
      }
      rows.push({target: population[position].id, inspectors: taken.map(function (i) { return pool[i].id; })});
    });
    return rows;
  }
  function say(key, ok) {
    result.className = "alert mt-2 " + (ok ? "alert-success" : "alert-danger");
    result.dataset.ok = ok ? "yes" : "no";
    result.textContent = messages[key] || key;
  }
  async function check() {
    result.className = "mt-2"; result.dataset.ok = ""; result.textContent = messages.working || "";
    var doc;
    try {
      var response = await fetch(root.dataset.document, {credentials: "omit"});
      doc = await response.json();
    } catch (error) {
      say("unreadable", false); return;
    }
    if (doc.population_sha256 &&
        hex(await sha256(canonical({population: doc.population, pool: doc.pool}))) !== doc.population_sha256) {
      say("population", false); return;
    }
    if (!doc.seed) {
      result.className = "alert alert-info mt-2"; result.dataset.ok = "pending";
      result.textContent = messages.pending || ""; return;
    }
    if (hex(await sha256(doc.seed)) !== doc.commitment) { say("commitment", false); return; }
    var rows = await recompute(doc);
    say(JSON.stringify(rows) === JSON.stringify(doc.draw) ? "ok" : "draw", JSON.stringify(rows) === JSON.stringify(doc.draw));
  }
  if (!(window.crypto && crypto.subtle && typeof BigInt === "function")) { return; }  // the server's check stays
  button.hidden = false;
  button.addEventListener("click", function () { check(); });
}());
