// VieAgent Easy Mode. The pages work without this script; it moves focus
// to the error summary, shows times in the reader's own time zone and
// language, sends the browser's UTC offset with forms (for date-times),
// and shows that a run is in progress.
"use strict";
(function () {
  var lang = document.documentElement.lang || "vi";

  document.addEventListener("DOMContentLoaded", function () {
    // A form came back with problems: the summary takes focus first.
    var summary = document.getElementById("error-summary");
    if (summary) {
      summary.focus();
      // Its links take focus to their fields, not only the view.
      summary.addEventListener("click", function (event) {
        var link = event.target.closest("a[href^='#']");
        var field = link && document.getElementById(link.getAttribute("href").slice(1));
        if (field) {
          event.preventDefault();
          field.scrollIntoView({ block: "center" });
          field.focus();
        }
      });
    }

    // <time datetime="…Z">: local date and time, in the page's language.
    var format;
    try {
      format = new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeStyle: "short" });
    } catch (e) { format = null; }
    if (format) {
      var times = document.querySelectorAll("time[datetime]");
      for (var i = 0; i < times.length; i++) {
        var at = new Date(times[i].getAttribute("datetime"));
        if (!isNaN(at.getTime())) {
          times[i].title = times[i].textContent;
          times[i].textContent = format.format(at);
        }
      }
    }

    // The UTC offset of this browser, as +07:00.
    var minutes = -new Date().getTimezoneOffset();
    var sign = minutes < 0 ? "-" : "+";
    var abs = Math.abs(minutes);
    var offset = sign + String(Math.floor(abs / 60)).padStart(2, "0") + ":" + String(abs % 60).padStart(2, "0");
    var tz = document.querySelectorAll("input[data-tz]");
    for (var j = 0; j < tz.length; j++) tz[j].value = offset;
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.classList.contains("run")) return;
    var submitter = event.submitter;
    // Adding or removing a row is not a run.
    if (submitter && (submitter.name === "_add" || submitter.name === "_remove")) return;
    var running = document.body.getAttribute("data-running") || "…";
    var button = document.getElementById("run");
    var progress = document.getElementById("progress");
    if (button) { button.disabled = true; button.textContent = running; }
    if (progress) {
      var started = Date.now();
      progress.hidden = false;
      setInterval(function () {
        progress.textContent = running + " " + Math.round((Date.now() - started) / 1000) + " s";
      }, 1000);
    }
  });
})();
