// Quick exit: the red button (or Escape pressed twice) leaves for a neutral page at once and
// replaces this page in the history, so "back" does not bring it up again.
"use strict";
(function () {
  const link = document.getElementById("quick-exit");
  if (!link) return;
  const leave = (ev) => { if (ev) ev.preventDefault(); window.location.replace(link.href); };
  link.addEventListener("click", leave);
  let last = 0;
  document.addEventListener("keydown", (ev) => {
    if (ev.key !== "Escape") return;
    const now = Date.now();
    if (now - last < 800) leave(ev);
    last = now;
  });
})();
