// Bank page: hash the chosen files in the caseworker's browser (HaechiHasher) and send only the
// hashes to the bank — the same path as the victims' page, so a victim's photos brought to the
// centre never have to be uploaded. File names stay on the device.
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
    let n = 0;
    for (const file of input.files) {
      n += 1;
      const li = document.createElement("li");
      li.textContent = n + ": " + list.dataset.working;
      list.appendChild(li);
      try {
        const h = await HaechiHasher.hashFile(file);
        delete h.name;
        hashed.push(h);
        li.textContent = n + ": " + list.dataset.ready;
      } catch (e) {
        li.textContent = n + ": " + list.dataset.failed;
      }
    }
    send.disabled = hashed.length === 0;
    document.body.dataset.hashed = String(hashed.length);
  });
  send.addEventListener("click", async () => {
    send.disabled = true;
    const resp = await fetch(send.dataset.url, {
      method: "POST", headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify({ files: hashed, label: document.getElementById("label").value }),
      credentials: "same-origin",
    });
    const body = await resp.json();
    if (!resp.ok) { result.textContent = body.message || "error"; send.disabled = false; return; }
    result.textContent = result.dataset.done + " " + body.entries;
    document.body.dataset.added = String(body.entries);
    hashed = [];
    input.value = "";
  });
})();
