// Runbook: show how long ago (or how soon) each UTC time on a page is, as the page is read.
// Pages carry <time class="rb-when" datetime="2026-11-29T17:14:42Z">; built pages stay valid.
(function () {
  "use strict";

  function relative(then, now) {
    var seconds = Math.round((now - then) / 1000);
    var future = seconds < 0;
    seconds = Math.abs(seconds);
    var units = [["day", 86400], ["hour", 3600], ["minute", 60]];
    for (var i = 0; i < units.length; i++) {
      var count = Math.floor(seconds / units[i][1]);
      if (count >= 1) {
        var phrase = count + " " + units[i][0] + (count === 1 ? "" : "s");
        return future ? "in " + phrase : phrase + " ago";
      }
    }
    return "just now";
  }

  function annotate() {
    var now = Date.now();
    document.querySelectorAll("time.rb-when[datetime]").forEach(function (element) {
      var then = Date.parse(element.getAttribute("datetime"));
      if (isNaN(then)) return;
      var note = element.nextElementSibling;
      if (!note || !note.classList.contains("rb-ago")) {
        note = document.createElement("span");
        note.className = "rb-ago";
        element.insertAdjacentElement("afterend", note);
      }
      note.textContent = " (" + relative(then, now) + ")";
    });
  }

  // Material's instant navigation swaps pages without a reload: follow its document$.
  if (typeof document$ !== "undefined") {
    document$.subscribe(annotate);
  } else {
    document.addEventListener("DOMContentLoaded", annotate);
  }
})();
