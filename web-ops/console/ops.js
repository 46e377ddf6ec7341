// PayHub operations console. Plain DOM, no framework, no CDN.
//
// Authentication: the page itself is public static files; every API call carries the admin bearer
// token in the Authorization header. The token is kept in sessionStorage (this tab only, gone when it
// closes) and never put in a URL: the live feed is read with fetch() + a stream reader rather than
// EventSource, which cannot send headers. The server's Content-Security-Policy allows scripts from
// this origin only.
//
// Everything shown comes from hostile sources (payer names, notes, webhook bodies): it is rendered
// with textContent / createElement only, never innerHTML.
"use strict";

(() => {
  const KEY = "payhub.ops.token";
  const $ = (id) => document.getElementById(id);
  const state = { token: sessionStorage.getItem(KEY) || "", lastEventId: null, seen: new Set(), review: null, run: null, live: null };
  window.__ops = state;

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "dataset") Object.assign(node.dataset, v);
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }
  const text = (v) => (v === null || v === undefined || v === "" ? "—" : String(v));
  const when = (iso) => (iso ? new Date(iso).toLocaleString("en-GB", { timeZone: "Asia/Phnom_Penh" }) : "—");
  // As the demo page: the currency's digits (USD 2, KHR 0), since JSON.parse turns 150.00 into 150.
  const money = (a, c) => {
    if (a === null || a === undefined) return "—";
    const digits = c === "KHR" ? 0 : 2;
    const n = new Intl.NumberFormat("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits }).format(Number(a));
    return `${n} ${c || ""}`.trim();
  };

  function notice(message) {
    const n = $("notice");
    n.textContent = message || "";
    n.hidden = !message;
  }

  class ApiError extends Error {
    constructor(status, body) {
      const e = (body && body.error) || {};
      super(`${e.code || status}: ${e.message || "request failed"}`);
      this.status = status;
      this.body = body;
    }
  }

  async function api(path, options = {}) {
    const headers = { Authorization: `Bearer ${state.token}`, Accept: "application/json" };
    if (options.json !== undefined) headers["Content-Type"] = "application/json";
    const r = await fetch(path, {
      method: options.method || "GET",
      headers,
      body: options.json !== undefined ? JSON.stringify(options.json) : undefined,
      cache: "no-store",
      credentials: "omit",
    });
    if (options.raw) {
      if (!r.ok) throw new ApiError(r.status, null);
      return r;
    }
    let body = null;
    try { body = await r.json(); } catch { body = null; }
    if (r.status === 401) signOut("Your token was refused or has expired: sign in again.");
    if (!r.ok) throw new ApiError(r.status, body);
    return body ? body.data : null;
  }

  async function guarded(fn) {
    try {
      notice("");
      await fn();
    } catch (err) {
      notice(err.message || String(err));
    }
  }

  function cells(...values) { return values.map((v) => el("td", {}, v instanceof Node ? v : text(v))); }
  function linkButton(label, onclick, testid) {
    return el("button", { type: "button", class: "linkish", "data-testid": testid, onclick }, label);
  }

  // ---- sign in / out -----------------------------------------------------------------------------
  function signOut(message) {
    sessionStorage.removeItem(KEY);
    state.token = "";
    if (state.live) state.live.abort();
    $("console").hidden = true;
    $("nav").hidden = true;
    $("sign-out").hidden = true;
    $("signin").hidden = false;
    $("who").textContent = "";
    notice(message || "");
  }

  function subject(token) {
    try {
      const claims = JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
      return String(claims.sub || "");
    } catch { return ""; }
  }

  async function signIn(token) {
    state.token = token.trim();
    try {
      await api("/admin/blocklist?limit=1"); // any admin read: proves the token before showing anything
    } catch (err) {
      if (err.status !== 401) signOut(err.message);
      return;
    }
    sessionStorage.setItem(KEY, state.token);
    $("signin").hidden = true;
    $("console").hidden = false;
    $("nav").hidden = false;
    $("sign-out").hidden = false;
    $("who").textContent = `signed in as ${subject(state.token) || "admin"}`;
    $("recon-date").value = yesterday();
    startLive();
    await Promise.all([loadReviews(), loadRuns(), loadBlocklist(), loadRecent()].map((p) => p.catch((e) => notice(e.message))));
  }

  function yesterday() {
    const d = new Date(Date.now() - 86400000);
    return d.toLocaleDateString("en-CA", { timeZone: "Asia/Phnom_Penh" });
  }

  // ---- live payments -----------------------------------------------------------------------------
  function liveState(s) { const p = $("live-state"); p.dataset.state = s; p.textContent = s; }

  function liveRow(id, d) {
    const row = el("tr", { "data-payment": d.paymentId, "data-event": id },
      cells(id, linkButton(String(d.paymentId), () => showPayment(d.paymentId), "live-payment"),
        d.policyNumber, el("span", { class: `status s-${d.status}` }, text(d.status)),
        money(d.amount, d.currency), d.method, d.transactionId, when(d.occurredAt)));
    return row;
  }

  function addLive(id, data) {
    if (id !== null && state.seen.has(id)) return;
    if (id !== null) state.seen.add(id);
    const body = $("live-rows");
    body.prepend(liveRow(id === null ? "—" : id, data));
    while (body.rows.length > 50) body.deleteRow(body.rows.length - 1);
  }

  async function loadRecent() {
    const recent = await api("/admin/payments?limit=20");
    const body = $("live-rows");
    body.replaceChildren();
    for (const p of recent.reverse()) addLive(null, { ...p, occurredAt: p.updatedAt });
  }

  // SSE read with fetch: EventSource cannot send the Authorization header, and the token must not go in the URL.
  async function startLive() {
    if (state.live) state.live.abort();
    const ctl = new AbortController();
    state.live = ctl;
    let delay = 1000;
    while (!ctl.signal.aborted && state.token) {
      liveState("connecting");
      try {
        const headers = { Authorization: `Bearer ${state.token}`, Accept: "text/event-stream" };
        if (state.lastEventId !== null) headers["Last-Event-ID"] = String(state.lastEventId);
        const r = await fetch("/admin/events/stream", { headers, signal: ctl.signal, cache: "no-store", credentials: "omit" });
        if (r.status === 401) { signOut("Your token was refused or has expired: sign in again."); return; }
        if (!r.ok || !r.body) throw new Error(`live feed: HTTP ${r.status}`);
        liveState("live");
        delay = 1000;
        if (state.lastEventId !== null) loadRecent().catch(() => {}); // a resume may miss out-of-order commits
        await readEvents(r.body.getReader(), ctl.signal);
      } catch (err) {
        if (ctl.signal.aborted) return;
      }
      liveState("reconnecting");
      await new Promise((res) => setTimeout(res, delay));
      delay = Math.min(delay * 2, 15000);
    }
  }

  async function readEvents(reader, signal) {
    const decoder = new TextDecoder();
    let buffer = "";
    while (!signal.aborted) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        let id = null; let kind = "message"; const data = [];
        for (const line of block.split("\n")) {
          if (line.startsWith(":")) continue;
          const i = line.indexOf(":");
          const field = i < 0 ? line : line.slice(0, i);
          const val = i < 0 ? "" : line.slice(i + 1).replace(/^ /, "");
          if (field === "id") id = val;
          else if (field === "event") kind = val;
          else if (field === "data") data.push(val);
        }
        if (kind !== "payment.status" || !data.length) continue;
        const eventId = Number(id);
        if (Number.isSafeInteger(eventId)) state.lastEventId = Math.max(state.lastEventId || 0, eventId);
        try { addLive(eventId, JSON.parse(data.join("\n"))); } catch { /* a malformed frame is skipped */ }
      }
    }
  }

  // ---- reviews -----------------------------------------------------------------------------------
  async function loadReviews() {
    const q = new URLSearchParams({ limit: "100" });
    if ($("rf-state").value) q.set("state", $("rf-state").value);
    if ($("rf-kind").value.trim()) q.set("kind", $("rf-kind").value.trim());
    if ($("rf-policy").value.trim()) q.set("policy", $("rf-policy").value.trim());
    if ($("rf-payment").value.trim()) q.set("payment", $("rf-payment").value.trim());
    const reviews = await api(`/admin/reviews?${q}`);
    $("review-rows").replaceChildren(...reviews.map((r) =>
      el("tr", { "data-review": r.id, "data-key": r.key },
        cells(linkButton(String(r.id), () => guarded(() => openReview(r.id)), "open-review"), r.kind,
          el("span", { class: `state st-${r.state}` }, r.state + (r.outcome ? ` (${r.outcome})` : "")),
          r.reason, r.policyNumber, r.paymentId, when(r.createdAt)))));
    if (!reviews.length) $("review-rows").append(el("tr", {}, el("td", { colspan: 7, class: "empty" }, "No review matches.")));
  }

  function facts(target, pairs) {
    target.replaceChildren(...pairs.map(([k, v]) => el("div", {}, el("dt", {}, k), el("dd", {}, v instanceof Node ? v : text(v)))));
  }

  async function openReview(id) {
    const file = await api(`/admin/reviews/${encodeURIComponent(id)}`);
    state.review = file.review;
    const r = file.review;
    $("review-detail").hidden = false;
    $("review-title").textContent = `Review #${r.id} · ${r.kind} · ${r.state}${r.outcome ? ` (${r.outcome})` : ""}`;
    $("review-detail").dataset.state = r.state;
    facts($("review-facts"), [["Key", r.key], ["Reason", r.reason], ["Policy", r.policyNumber],
      ["Payment", r.paymentId], ["Opened", when(r.createdAt)], ["Updated", when(r.updatedAt)]]);
    $("ra-resolve").disabled = r.state === "RESOLVED";
    $("ra-escalate").disabled = r.state !== "OPEN";
    $("ra-reopen").disabled = r.state !== "RESOLVED";
    $("review-history").replaceChildren(...file.history.map((h) =>
      el("li", { "data-action": h.action },
        el("strong", {}, h.action), ` ${text(h.fromState)} → ${h.toState}${h.outcome ? ` (${h.outcome})` : ""} by `,
        el("span", { class: "actor" }, text(h.actor)), ` at ${when(h.at)}: `, el("q", { class: "note" }, text(h.note)))));
    renderCase($("review-case"), file, r.payload);
    $("review-title").focus();
  }

  async function move(action) {
    const r = state.review;
    if (!r) return;
    const note = $("ra-note").value.trim();
    if (!note) { notice("Write a note: what you checked and what you did."); $("ra-note").focus(); return; }
    const json = action === "resolve" ? { outcome: $("ra-outcome").value, note } : { note };
    await api(`/admin/reviews/${encodeURIComponent(r.id)}/${action}`, { method: "POST", json });
    $("ra-note").value = "";
    await openReview(r.id);
    await loadReviews();
  }

  // A case file: the payment, its premium, events, webhook bodies, AMK answers, other reviews, attempts.
  function renderCase(target, file, payload) {
    const parts = [];
    if (file.payment) {
      const p = file.payment;
      const dl = el("dl", { class: "facts" });
      facts(dl, [["Payment", p.paymentId], ["Policy", p.policyNumber], ["Application", p.applicationNumber],
        ["Payer", el("span", { "data-testid": "case-payer" }, text(p.payer))], ["Status", p.status],
        ["Amount", money(p.amount, p.currency)], ["Method", p.method], ["AMK transaction", p.transactionId],
        ["Flag", p.review], ["Opened", when(p.createdAt)]]);
      parts.push(el("h4", {}, "Payment"), dl);
    }
    if (payload && Object.keys(payload).length) parts.push(el("h4", {}, "Review payload"), el("pre", { class: "json" }, JSON.stringify(payload, null, 2)));
    if (file.events && file.events.length) {
      parts.push(el("h4", {}, "Event log"), el("table", { class: "grid" },
        el("thead", {}, el("tr", {}, ["#", "Type", "Status", "At"].map((h) => el("th", {}, h)))),
        el("tbody", {}, file.events.map((e) => el("tr", {}, cells(e.id, e.type, e.status, when(e.occurredAt)))))));
    }
    if (file.receipts && file.receipts.length) {
      parts.push(el("h4", {}, "Webhooks from AMK"));
      for (const rc of file.receipts) {
        parts.push(el("details", { class: "receipt" }, el("summary", {}, `${rc.kind} ${rc.key} · ${text(rc.state)} · answered ${text(rc.answer && rc.answer.status)}`),
          el("pre", { class: "json" }, JSON.stringify(rc.webhook, null, 2)),
          el("pre", { class: "json" }, JSON.stringify(rc.answer, null, 2))));
      }
    }
    if (file.amkAnswers && file.amkAnswers.length) {
      parts.push(el("h4", {}, "AMK payment-verify answers"), el("pre", { class: "json" }, JSON.stringify(file.amkAnswers, null, 2)));
    }
    if (file.reviews && file.reviews.length) {
      parts.push(el("h4", {}, "Reviews of this payment"), el("ul", {}, file.reviews.map((r) =>
        el("li", {}, linkButton(`#${r.id}`, () => guarded(() => openReview(r.id)), "case-review"), ` ${r.kind} · ${r.state} · ${r.reason}`))));
    }
    if (file.attempts && file.attempts.length > 1) {
      parts.push(el("h4", {}, "Every attempt of this premium"), el("ul", {}, file.attempts.map((a) =>
        el("li", {}, `${a.paymentId} · ${a.status} · ${money(a.amount, a.currency)} · ${when(a.createdAt)}`))));
    }
    if (file.notifications) {
      parts.push(el("h4", {}, "Notifications"), file.notifications.length
        ? el("table", { class: "grid", "data-testid": "notifications" },
          el("thead", {}, el("tr", {}, ["#", "Channel", "Occasion", "Recipient", "State", "Attempts", "Last error"].map((h) => el("th", {}, h)))),
          el("tbody", {}, file.notifications.map((n) => el("tr", {}, cells(n.id, n.channel, n.occasion, n.recipient, n.state, n.attempts, n.lastError)))))
        : el("p", { class: "empty" }, "None sent."));
    }
    target.replaceChildren(...parts);
  }

  // ---- payments: search and detail ---------------------------------------------------------------
  async function search() {
    const q = new URLSearchParams({ limit: "100" });
    const pairs = [["transactionId", "s-tx"], ["policy", "s-policy"], ["payer", "s-payer"], ["from", "s-from"], ["to", "s-to"]];
    for (const [name, id] of pairs) if ($(id).value.trim()) q.set(name, $(id).value.trim());
    const found = await api(`/admin/payments?${q}`);
    $("search-rows").replaceChildren(...found.map((p) => el("tr", { "data-payment": p.paymentId },
      cells(linkButton(String(p.paymentId), () => showPayment(p.paymentId), "search-payment"), p.policyNumber,
        p.payer, p.status, money(p.amount, p.currency), p.transactionId, when(p.createdAt)))));
    if (!found.length) $("search-rows").append(el("tr", {}, el("td", { colspan: 7, class: "empty" }, "No payment matches.")));
  }

  function showPayment(id) {
    return guarded(async () => {
      const file = await api(`/admin/payments/${encodeURIComponent(id)}`);
      try {
        file.notifications = (await api(`/admin/payments/${encodeURIComponent(id)}/notifications`)).notifications;
      } catch (err) {
        if (err.status !== 404) throw err; // 404: this process serves no notifier
      }
      $("payment-detail").hidden = false;
      $("payment-title").textContent = `Payment ${id}`;
      renderCase($("payment-case"), file, null);
      $("payment-detail").scrollIntoView({ block: "start" });
      $("payment-title").focus();
    });
  }

  // ---- reconciliation ----------------------------------------------------------------------------
  function countsText(summary) {
    const counts = (summary && summary.counts) || {};
    return Object.entries(counts).map(([k, v]) => `${k} ${v}`).join(", ") || "—";
  }

  async function loadRuns() {
    const runs = await api("/admin/reconciliation/runs?limit=30");
    $("recon-rows").replaceChildren(...runs.map((r) => el("tr", { "data-run": r.id, "data-date": r.date, "data-status": r.status },
      cells(linkButton(String(r.id), () => guarded(() => openRun(r.id)), "open-run"), r.date, r.status,
        countsText(r.summary), r.trigger, when(r.finishedAt)))));
    if (!runs.length) $("recon-rows").append(el("tr", {}, el("td", { colspan: 6, class: "empty" }, "No run yet.")));
    return runs;
  }

  async function trigger() {
    const day = $("recon-date").value;
    const run = await api("/admin/reconciliation/runs", { method: "POST", json: { date: day } });
    for (let i = 0; i < 60; i++) { // follow the run until it ends (it runs in the background)
      const runs = await loadRuns();
      const now = runs.find((r) => r.id === run.id);
      if (now && now.status !== "RUNNING") break;
      await new Promise((res) => setTimeout(res, 500));
    }
    await openRun(run.id);
    await loadReviews();
  }

  async function openRun(id) {
    const run = await api(`/admin/reconciliation/runs/${encodeURIComponent(id)}`);
    state.run = run;
    $("run-detail").hidden = false;
    $("run-detail").dataset.status = run.status;
    $("run-title").textContent = `Run ${run.id} · ${run.date} · ${run.status}`;
    $("run-summary").textContent = `${countsText(run.summary)}${run.error ? ` · error: ${run.error}` : ""}`;
    $("mismatch-rows").replaceChildren(...run.mismatches.map((m) => el("tr", { "data-outcome": m.outcome, "data-key": m.key },
      cells(m.outcome, m.channel, m.txRef, m.paymentId, m.detail,
        m.reviewKey ? linkButton(m.reviewKey, () => guarded(() => openReviewByKey(m.reviewKey, m.paymentId)), "mismatch-review") : null))));
    if (!run.mismatches.length) $("mismatch-rows").append(el("tr", {}, el("td", { colspan: 6, class: "empty" }, "Every transaction matched.")));
  }

  // The review a mismatch opened: reviews of its kind (and payment), newest first, page by page.
  async function openReviewByKey(key, paymentId) {
    const q = new URLSearchParams({ limit: "500", kind: key.split(":")[0] });
    if (paymentId) q.set("payment", String(paymentId));
    for (let page = 0; page < 20; page++) {
      const reviews = await api(`/admin/reviews?${q}`);
      const found = reviews.find((r) => r.key === key);
      if (found) {
        await openReview(found.id);
        $("reviews").scrollIntoView({ block: "start" });
        return;
      }
      if (reviews.length < 500) break;
      q.set("before", String(reviews[reviews.length - 1].id));
    }
    throw new Error(`No review ${key}`);
  }

  async function download(kind) {
    const run = state.run;
    if (!run) return;
    const r = await api(`/admin/reconciliation/runs/${encodeURIComponent(run.id)}/report.${kind}`, { raw: true });
    const url = URL.createObjectURL(await r.blob());
    const a = el("a", { href: url, download: `reconciliation-${run.date}.${kind}` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  // ---- blocklist ---------------------------------------------------------------------------------
  async function loadBlocklist() {
    const entries = await api("/admin/blocklist");
    $("block-rows").replaceChildren(...entries.map((b) => el("tr", { "data-entry": b.id, "data-value": b.value },
      cells(b.id, b.kind, b.value, b.reason, b.addedBy, b.expiresAt ? when(b.expiresAt) : "never",
        el("button", { type: "button", class: "btn btn-small", "data-testid": "remove-entry",
          onclick: () => guarded(async () => { await api(`/admin/blocklist/${encodeURIComponent(b.id)}`, { method: "DELETE" }); await loadBlocklist(); }) }, "Remove")))));
    if (!entries.length) $("block-rows").append(el("tr", {}, el("td", { colspan: 7, class: "empty" }, "The blocklist is empty.")));
  }

  async function addBlock() {
    const json = { kind: $("bl-kind").value, value: $("bl-value").value.trim(), reason: $("bl-reason").value.trim() };
    if ($("bl-expires").value) json.expiresAt = new Date($("bl-expires").value).toISOString();
    await api("/admin/blocklist", { method: "POST", json });
    $("block-form").reset();
    await loadBlocklist();
  }

  // ---- wiring ------------------------------------------------------------------------------------
  const submit = (id, fn) => $(id).addEventListener("submit", (e) => { e.preventDefault(); guarded(fn); });
  submit("signin-form", () => signIn($("token").value).then(() => { $("token").value = ""; }));
  submit("review-filter", loadReviews);
  submit("recon-form", trigger);
  submit("block-form", addBlock);
  submit("search-form", search);
  $("recon-refresh").addEventListener("click", () => guarded(loadRuns));
  $("ra-resolve").addEventListener("click", () => guarded(() => move("resolve")));
  $("ra-escalate").addEventListener("click", () => guarded(() => move("escalate")));
  $("ra-reopen").addEventListener("click", () => guarded(() => move("reopen")));
  $("run-csv").addEventListener("click", () => guarded(() => download("csv")));
  $("run-json").addEventListener("click", () => guarded(() => download("json")));
  $("sign-out").addEventListener("click", () => signOut(""));
  if (state.token) guarded(() => signIn(state.token));
})();
