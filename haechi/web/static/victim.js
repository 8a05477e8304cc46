// Victim self-service page: hash the selected files here (HaechiHasher), show what will be
// sent — hashes only — and send them when she presses the button.
"use strict";
(function () {
  const input = document.getElementById("files");
  const list = document.getElementById("hashes");
  const send = document.getElementById("send");
  const result = document.getElementById("result");
  const csrf = document.querySelector("meta[name=csrf]").content;
  let hashed = [];
  input.addEventListener("change", async () => {
    hashed = [];
    list.textContent = "";
    send.disabled = true;
    for (const file of input.files) {
      const li = document.createElement("li");
      li.textContent = file.name + " …";
      list.appendChild(li);
      try {
        const h = await HaechiHasher.hashFile(file);
        delete h.name; // the file name stays on her device too
        hashed.push(h);
        li.textContent = file.name + ": PDQ " + (h.pdq || (h.frames || []).length + " frames") + " · SHA-256 " + h.sha256.slice(0, 16) + "…";
        li.dataset.pdq = h.pdq || "";
      } catch (e) {
        li.textContent = file.name + ": " + e.message;
      }
    }
    send.disabled = hashed.length === 0;
    document.body.dataset.hashed = String(hashed.length);
  });
  send.addEventListener("click", async () => {
    send.disabled = true;
    const resp = await fetch("/web/victim/submit", {
      method: "POST", headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify({ files: hashed }), credentials: "same-origin",
    });
    const body = await resp.json();
    if (!resp.ok) { result.textContent = body.message || "error"; send.disabled = false; return; }
    document.getElementById("case").textContent = body.case;
    document.getElementById("pin").textContent = body.pin;
    document.getElementById("done").hidden = false;
    input.value = "";
  });
})();
