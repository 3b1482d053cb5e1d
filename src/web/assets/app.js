// VieAgent Easy Mode: progress while a tool runs. The page works without
// this script; it only shows that something is happening.
"use strict";
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.classList.contains("run")) return;
  var submitter = event.submitter;
  if (submitter && submitter.name === "_add") return; // "Add another …" is not a run
  var button = document.getElementById("run");
  var progress = document.getElementById("progress");
  if (button) { button.disabled = true; button.textContent = "Running…"; }
  if (progress) {
    var started = Date.now();
    progress.hidden = false;
    setInterval(function () {
      progress.textContent = "Running… " + Math.round((Date.now() - started) / 1000) + " s";
    }, 1000);
  }
});
