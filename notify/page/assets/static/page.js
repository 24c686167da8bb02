// The page's live side: it swaps in the sections the daemon streams,
// keeps the keyboard focus where it was, says when the stream is lost,
// and sends decisions with the bearer token given in this tab (kept in
// memory only, never stored or shown).
"use strict";
(function () {
  let token = "";
  const $ = (id) => document.getElementById(id);
  const sections = ["fleet", "commits", "promotions"];
  const shown = {};

  function swap(id, html) {
    if (shown[id] === html) return;
    shown[id] = html;
    const el = $(id);
    const focused = document.activeElement && el.contains(document.activeElement) ? document.activeElement.id : "";
    el.innerHTML = html;
    if (focused && $(focused)) $(focused).focus();
  }

  function connect() {
    const conn = $("connection");
    const es = new EventSource("/ui/events");
    es.addEventListener("open", () => {
      conn.textContent = "Live";
      conn.classList.remove("lost");
    });
    es.addEventListener("frame", (ev) => {
      const f = JSON.parse(ev.data);
      sections.forEach((s) => swap(s, f[s]));
      if (f.summary && $("live").textContent !== f.summary) $("live").textContent = f.summary;
    });
    es.addEventListener("error", () => {
      conn.textContent = "Connection lost: reconnecting… (what you see may be out of date)";
      conn.classList.add("lost");
      // EventSource reconnects by itself unless the answer was not a
      // stream at all; then try again a little later.
      if (es.readyState === EventSource.CLOSED) setTimeout(connect, 3000);
    });
  }

  async function decide(button) {
    const result = $("decision-result");
    const d = button.dataset;
    const headers = { "Content-Type": "application/json" };
    if (token) headers["Authorization"] = "Bearer " + token;
    button.disabled = true;
    try {
      const resp = await fetch(`/ui/promotions/${encodeURIComponent(d.service)}/${encodeURIComponent(d.decision)}`, {
        method: "POST",
        headers,
        credentials: "omit",
        body: JSON.stringify({ weight: Number(d.weight) || 0, candidate: d.candidate }),
      });
      const body = await resp.json().catch(() => ({ error: resp.statusText }));
      result.textContent = resp.ok ? body.message : body.error;
      result.classList.toggle("refused", !resp.ok);
    } catch (e) {
      result.textContent = "The decision could not be sent: " + e.message;
      result.classList.add("refused");
    } finally {
      button.disabled = false;
      if (!document.body.contains(button)) result.focus();
    }
  }

  document.addEventListener("click", (ev) => {
    const b = ev.target.closest("button.decide");
    if (b) decide(b);
  });

  document.addEventListener("DOMContentLoaded", () => {
    sections.forEach((s) => (shown[s] = $(s).innerHTML));
    const form = $("token-form");
    if (form) {
      form.addEventListener("submit", (ev) => {
        ev.preventDefault();
        token = $("token").value.trim();
        $("token").value = "";
        $("token-state").textContent = token ? "Token set for this tab: decisions are taken as its Kubernetes identity." : "No token: read-only, unless a proxy in front of the page sends one.";
      });
      $("forget-token").addEventListener("click", () => {
        token = "";
        $("token-state").textContent = "Token forgotten: read-only, unless a proxy in front of the page sends one.";
      });
    }
    connect();
  });
})();
