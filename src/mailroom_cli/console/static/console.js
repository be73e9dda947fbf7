// mailroom console: the only script. Regions marked data-refresh="URL" are re-fetched every
// data-every ms (while the tab is visible) and replaced when the server's HTML changed; a region whose
// content carries data-final stops refreshing. A form marked data-once can be sent once (no double
// replay from a double click). No library, nothing remote.
"use strict";
(function () {
  function follow(region) {
    var every = parseInt(region.getAttribute("data-every"), 10) || 1500;
    var url = region.getAttribute("data-refresh");
    var last = null;  // the last HTML fetched (the DOM re-serialises differently: compare with this)
    function tick() {
      if (region.querySelector("[data-final]")) { return; }
      if (document.hidden) { setTimeout(tick, every); return; }
      fetch(url, { credentials: "same-origin", cache: "no-store" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (html !== null && html !== last) {
            last = html;
            region.innerHTML = html;
            wire(region);
          }
        })
        .catch(function () { /* the stack may be restarting: try again */ })
        .then(function () { setTimeout(tick, every); });
    }
    setTimeout(tick, every);
  }
  function wire(root) {
    root.querySelectorAll("form[data-once]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (form.getAttribute("data-sent")) { event.preventDefault(); return; }
        form.setAttribute("data-sent", "1");
        form.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
      });
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    wire(document);
    document.querySelectorAll("[data-refresh]").forEach(follow);
  });
})();
