// Victim self-service page: hash the selected files here (HaechiHasher), say in plain words
// what is ready, and send only the hashes when she has confirmed she is 18 or older and
// pressed the button. The PIN is shown in groups of four, with copy and save-as-file.
"use strict";
(function () {
  const input = document.getElementById("files");
  const list = document.getElementById("hashes");
  const send = document.getElementById("send");
  const adult = document.getElementById("adult");
  const result = document.getElementById("result");
  const csrf = document.querySelector("meta[name=csrf]").content;
  let hashed = [];
  let issued = null;
  const ready = () => { send.disabled = hashed.length === 0 || !adult.checked; };
  adult.addEventListener("change", ready);
  input.addEventListener("change", async () => {
    hashed = [];
    list.textContent = "";
    send.disabled = true;
    for (const file of input.files) {
      const li = document.createElement("li");
      li.textContent = file.name + ": " + list.dataset.working;
      list.appendChild(li);
      try {
        const h = await HaechiHasher.hashFile(file);
        delete h.name; // the file name stays on her device too
        hashed.push(h);
        li.textContent = file.name + ": " + list.dataset.ready;
        li.dataset.pdq = h.pdq || "";
      } catch (e) {
        li.textContent = file.name + ": " + list.dataset.failed;
      }
    }
    ready();
    document.body.dataset.hashed = String(hashed.length);
  });
  send.addEventListener("click", async () => {
    if (!adult.checked) return;
    send.disabled = true;
    const resp = await fetch("/web/victim/submit", {
      method: "POST", headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify({ files: hashed }), credentials: "same-origin",
    });
    const body = await resp.json();
    if (!resp.ok) { result.textContent = body.message || "error"; send.disabled = false; return; }
    issued = body;
    document.getElementById("case").textContent = body.case;
    const pin = document.getElementById("pin");
    pin.textContent = "";
    for (let i = 0; i < body.pin.length; i += 4) { // grouped on screen; its text stays the 12 digits
      const group = document.createElement("span");
      group.textContent = body.pin.slice(i, i + 4);
      pin.appendChild(group);
    }
    document.getElementById("done").hidden = false;
    input.value = "";
  });
  const grouped = () => issued.pin.replace(/(\d{4})(?=\d)/g, "$1 ");
  document.getElementById("copy-pin").addEventListener("click", async (ev) => {
    if (!issued) return;
    const text = issued.case + "  PIN " + grouped();
    try { await navigator.clipboard.writeText(text); ev.target.textContent = ev.target.dataset.done; }
    catch (e) { window.getSelection().selectAllChildren(document.getElementById("done")); }
  });
  document.getElementById("save-pin").addEventListener("click", (ev) => {
    if (!issued) return;
    const text = ev.target.dataset.label + ": " + issued.case + "\nPIN: " + grouped() + "\n" + location.origin + "/web/victim/login\n";
    const a = document.createElement("a");
    a.href = URL.createObjectURL(new Blob([text], { type: "text/plain;charset=utf-8" }));
    a.download = "haechi-" + issued.case + ".txt";
    document.body.appendChild(a); a.click(); a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  });
})();
