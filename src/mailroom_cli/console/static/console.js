// mailroom console: the only script. Regions marked data-refresh="URL" are re-fetched every
// data-every ms (while the tab is visible) and replaced by the server's fresh HTML; a region whose
// content carries data-final stops refreshing. No library, nothing remote.
"use strict";
(function () {
  function follow(region) {
    var every = parseInt(region.getAttribute("data-every"), 10) || 1500;
    var url = region.getAttribute("data-refresh");
    function tick() {
      if (region.querySelector("[data-final]")) { return; }
      if (document.hidden) { setTimeout(tick, every); return; }
      fetch(url, { credentials: "same-origin", cache: "no-store" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (html !== null && html !== region.innerHTML) { region.innerHTML = html; }
        })
        .catch(function () { /* the stack may be restarting: try again */ })
        .then(function () { setTimeout(tick, every); });
    }
    setTimeout(tick, every);
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-refresh]").forEach(follow);
  });
})();
