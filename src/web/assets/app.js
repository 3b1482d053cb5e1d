// VieAgent Easy Mode. The pages work without this script; it moves focus
// to the error summary, shows times in the reader's own time zone and
// language, sends the browser's UTC offset with forms (for date-times),
// and shows that a run is in progress.
"use strict";
(function () {
  var lang = document.documentElement.lang || "vi";

  // The browser's UTC offset at `when`, as +07:00.
  function offsetOf(when) {
    var minutes = -when.getTimezoneOffset();
    var abs = Math.abs(minutes);
    return (minutes < 0 ? "-" : "+") + String(Math.floor(abs / 60)).padStart(2, "0") + ":" + String(abs % 60).padStart(2, "0");
  }

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

    // The UTC offset of this browser today, as +07:00 (the fallback).
    var tz = document.querySelectorAll("input[data-tz]");
    for (var j = 0; j < tz.length; j++) tz[j].value = offsetOf(new Date());
  });

  // A copy button after each text meant to be pasted elsewhere (a new API
  // key, an assistant's setup): `data-copy` is its label, `data-copied`
  // what it says once done. Without this script the text is still there to
  // select and copy by hand.
  function addCopyButton(block) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "secondary small";
    button.textContent = block.getAttribute("data-copy");
    var label = block.getAttribute("data-copy-label");
    if (label) button.setAttribute("aria-label", label);
    var status = document.createElement("span");
    status.className = "visually-hidden";
    status.setAttribute("role", "status");
    function copied() {
      status.textContent = block.getAttribute("data-copied") || "";
      button.textContent = block.getAttribute("data-copied") || button.textContent;
      setTimeout(function () {
        button.textContent = block.getAttribute("data-copy");
        status.textContent = "";
      }, 2000);
    }
    function bySelection() {
      var range = document.createRange();
      range.selectNodeContents(block);
      var selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      try { if (document.execCommand("copy")) copied(); } catch (e) { /* selected: copy by hand */ }
    }
    button.addEventListener("click", function () {
      var text = block.textContent;
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(copied, bySelection);
      } else {
        bySelection();
      }
    });
    var line = document.createElement("p");
    line.appendChild(button);
    line.appendChild(status);
    block.parentNode.insertBefore(line, block.nextSibling);
  }
  document.addEventListener("DOMContentLoaded", function () {
    var blocks = document.querySelectorAll("[data-copy]");
    for (var i = 0; i < blocks.length; i++) addCopyButton(blocks[i]);
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.classList.contains("run")) return;
    // Each date-time and time in the zone the browser has on that date
    // (summer and winter differ), unless it keeps an earlier call's zone.
    var local = form.querySelectorAll("input[type=datetime-local], input[type=time]");
    for (var k = 0; k < local.length; k++) {
      var input = local[k];
      if (!input.value || form.querySelector("input[type=hidden][name='" + input.name + "#tz']")) continue;
      var when = input.type === "time" ? new Date(new Date().toISOString().slice(0, 10) + "T" + input.value) : new Date(input.value);
      if (isNaN(when.getTime())) continue;
      var hidden = document.createElement("input");
      hidden.type = "hidden";
      hidden.name = input.name + "#tz";
      hidden.value = offsetOf(when);
      form.appendChild(hidden);
    }
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
