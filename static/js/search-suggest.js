// Suggestions under every search box marked data-suggest-url: course titles and dictionary terms
// from the index, fetched as one types (debounced). ARIA combobox: arrows move, Enter picks,
// Escape closes.
(function () {
  "use strict";
  var DELAY = 150;

  function setup(input) {
    var list = document.getElementById(input.getAttribute("aria-controls"));
    var messages = JSON.parse(input.dataset.messages || "{}");
    var timer = null, active = -1, items = [], last = null, seq = 0;

    function close() {
      list.hidden = true;
      list.textContent = "";
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
      items = [];
      active = -1;
    }

    function highlight(index) {
      active = index;
      Array.prototype.forEach.call(list.children, function (li, i) {
        li.setAttribute("aria-selected", i === index ? "true" : "false");
      });
      if (index >= 0) {
        input.setAttribute("aria-activedescendant", list.children[index].id);
        list.children[index].scrollIntoView({block: "nearest"});
      } else {
        input.removeAttribute("aria-activedescendant");
      }
    }

    function choose(index) {
      input.value = items[index].text;
      close();
      if (input.form) { input.form.requestSubmit ? input.form.requestSubmit() : input.form.submit(); }
    }

    function render(found) {
      items = found;
      list.textContent = "";
      if (!found.length) { close(); return; }
      found.forEach(function (item, i) {
        var li = document.createElement("li");
        li.id = input.id + "-option-" + i;
        li.setAttribute("role", "option");
        li.setAttribute("aria-selected", "false");
        li.textContent = item.text;
        var kind = document.createElement("span");
        kind.className = "suggest-kind";
        kind.textContent = messages[item.kind] || "";
        li.appendChild(kind);
        li.addEventListener("mousedown", function (event) { event.preventDefault(); choose(i); });
        list.appendChild(li);
      });
      list.hidden = false;
      input.setAttribute("aria-expanded", "true");
      active = -1;
    }

    function fetchSuggestions() {
      var q = input.value.trim();
      if (!q) { close(); return; }
      if (q === last) { return; }
      last = q;
      var mine = ++seq;
      fetch(input.dataset.suggestUrl + "?q=" + encodeURIComponent(q), {headers: {Accept: "application/json"}})
        .then(function (r) { return r.ok ? r.json() : {suggestions: []}; })
        .then(function (data) { if (mine === seq && document.activeElement === input) { render(data.suggestions || []); } })
        .catch(function () { /* suggestions are a convenience: the search itself still works */ });
    }

    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(fetchSuggestions, DELAY);
    });
    // Once the arrows move through the list, it holds still: a reply still on its way (or a fetch
    // not yet sent) for what was typed would replace the options under the highlight, and Enter
    // would then search the half-typed words instead of the option picked.
    function holdList() {
      clearTimeout(timer);
      seq += 1;
    }

    input.addEventListener("keydown", function (event) {
      if (event.key === "ArrowDown" && items.length) {
        event.preventDefault();
        holdList();
        highlight((active + 1) % items.length);
      } else if (event.key === "ArrowUp" && items.length) {
        event.preventDefault();
        holdList();
        highlight(active <= 0 ? items.length - 1 : active - 1);
      } else if (event.key === "Enter" && active >= 0) {
        event.preventDefault();
        choose(active);
      } else if (event.key === "Escape" && !list.hidden) {
        event.preventDefault();
        close();
        last = null;
      }
    });
    input.addEventListener("blur", function () { setTimeout(close, 100); last = null; });
  }

  document.querySelectorAll("input[data-suggest-url]").forEach(setup);
}());
