// Review queue keyboard shortcuts: each control that has a data-key is pressed by that key
// (R reveal, H hide, C confirm, N not a match, E escalate, J next, K previous; arrow keys too).
// Keys typed into a form field are left alone. No shortcut works with Ctrl/Alt/Meta held.
"use strict";
(function () {
  const alias = { ArrowRight: "j", ArrowLeft: "k" };
  document.addEventListener("keydown", (ev) => {
    if (ev.ctrlKey || ev.altKey || ev.metaKey || ev.repeat) return;
    const tag = (ev.target && ev.target.tagName) || "";
    if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT") return;
    const key = alias[ev.key] || ev.key.toLowerCase();
    const el = document.querySelector(`[data-key="${key}"]`);
    if (!el) return;
    ev.preventDefault();
    el.click();
  });
  document.body.dataset.keys = "on"; // the shortcuts are live (tests wait for this)
})();
