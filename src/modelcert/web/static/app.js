// Live audit progress: poll the JSON API for every audit still queued or running.
// No framework and no CDN; the page works without JavaScript, only without live updates.
"use strict";
(function () {
  const ACTIVE = new Set(["queued", "running"]);
  function update(el, a) {
    el.dataset.state = a.state;
    const f = (name) => el.querySelector(`[data-field="${name}"]`);
    f("state").textContent = a.state;
    f("state").className = `state state-${a.state}`;
    f("bar").max = a.progress_total || 1;
    f("bar").value = a.progress_done;
    f("count").textContent = `${a.progress_done}/${a.progress_total}`;
    f("note").textContent = a.progress_note || "";
    f("outcome").textContent = (a.outcome || "").replace(/_/g, " ");
  }
  async function poll() {
    const els = [...document.querySelectorAll(".progress[data-audit-id]")].filter((e) => ACTIVE.has(e.dataset.state));
    if (els.length === 0) return;
    for (const el of els) {
      try {
        const r = await fetch(`/api/v1/audits/${encodeURIComponent(el.dataset.auditId)}`, {
          headers: { Accept: "application/json" }, credentials: "same-origin",
        });
        if (!r.ok) continue;
        const a = await r.json();
        update(el, a);
        if (!ACTIVE.has(a.state) && el.closest("[data-reload-when-done]")) {
          window.location.reload();
          return;
        }
      } catch (e) { /* the server restarts: try again next tick */ }
    }
    setTimeout(poll, 1000);
  }
  document.addEventListener("DOMContentLoaded", () => setTimeout(poll, 500));
})();
