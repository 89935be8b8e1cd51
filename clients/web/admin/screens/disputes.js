// Disputes: the wager dispute queue (oldest first) and a case — both reports, the evidence, the
// lobby chat, both players' history and opponents, notes — claimed by one admin, who rules
// winner A / winner B / void with a reason both players read (docs/wagers.md, "Disputes").
import { ago, api, auth, el, fmt, keyedTable, message, when } from "../lib.js";

const EVERY_MS = 5000;
const MODES = { gunfight: "Gunfight", snd: "Search and Destroy", tdm: "Team Deathmatch" };
const PLATFORMS = { psn: "PlayStation", xbox: "Xbox", pc: "PC" };
const STATUS = { open: "waiting for an admin", under_review: "under review", resolved: "resolved", dismissed: "dismissed (void)" };
const RESULTS = { win: "agreed", confirmed: "report stood", ruled: "ruled", no_show: "no-show", no_report: "no report", cancelled: "cancelled", ruled_void: "voided", aborted: "stopped" };
const mode = (m) => MODES[m] || m;
const platform = (p) => PLATFORMS[p] || p;

/** Player names by id, learnt once per screen (the console never shows a bare id). */
function nameBook() {
  const names = new Map();
  return {
    get: (id) => names.get(id) || "player",
    async learn(ids) {
      const unknown = [...new Set(ids.filter(Boolean))].filter((u) => !names.has(u)).slice(0, 30);
      await Promise.all(unknown.map(async (u) => {
        try { const p = await api(`/admin/players/${u}`); names.set(u, `${p.user.display_name} (${p.user.phone})`); } catch { names.set(u, "player"); }
      }));
    },
  };
}
function admin(me, id) { return !id ? "nobody" : id === me.id ? "you" : "another admin"; }

async function queue(root, me) {
  const names = nameBook();
  const t = keyedTable([
    { title: "opened", render: (d) => `${when(d.opened_at)} (${ago(Date.now() - Date.parse(d.opened_at))} ago)` },
    { title: "how", render: (d) => (d.opened_by ? `opened by ${names.get(d.opened_by)}` : "both claimed the same result") },
    { title: "status", render: (d) => d.status === "under_review" ? `under review by ${admin(me, d.claimed_by)}` : STATUS[d.status] || d.status },
    { title: "", render: (d) => el("a", { href: `#/disputes/${d.id}`, class: "button", text: d.status === "open" ? "Open the case" : "View" }) },
  ], { empty: "No disputes waiting. Nothing to review." });
  const done = keyedTable([
    { title: "ruled", render: (d) => when(d.ruled_at) }, { title: "ruling", render: (d) => ({ winner_a: "winner: challenger", winner_b: "winner: opponent", void: "void" })[d.ruling] || "" },
    { title: "reason", render: (d) => d.reason || "" }, { title: "", render: (d) => el("a", { href: `#/disputes/${d.id}`, text: "View" }) },
  ], { empty: "No rulings yet." });
  root.append(el("h2", { text: "Disputes" }),
    el("p", { class: "muted small", text: "Oldest first. Claim a case to review it; only the admin who claimed it can rule." }),
    el("div", { class: "card" }, el("h2", { text: "Waiting" }), el("div", { class: "scroll" }, t.table)),
    el("div", { class: "card" }, el("h2", { text: "Recently ruled" }), el("div", { class: "scroll" }, done.table)));
  async function refresh() {
    try {
      const [open, ruled] = await Promise.all([api("/admin/wagers/disputes?status=open,under_review&limit=100"), api("/admin/wagers/disputes?status=resolved,dismissed&limit=100")]);
      await names.learn(open.items.map((d) => d.opened_by));
      t.update(open.items);
      done.update(ruled.items.sort((a, b) => (b.ruled_at || "").localeCompare(a.ruled_at || "")).slice(0, 20));
    } catch (err) { message(root, err.message); }
  }
  await refresh(); const timer = setInterval(refresh, EVERY_MS);
  return () => clearInterval(timer);
}

/** A protected picture for an <img> (the evidence route needs the admin's token). */
async function picture(url) {
  const res = await fetch(url, { headers: { authorization: "Bearer " + auth.token } });
  if (!res.ok) throw new Error("The picture could not be loaded.");
  return URL.createObjectURL(await res.blob());
}

async function caseView(root, id, me) {
  const names = nameBook();
  const urls = [];
  const canRule = ["operator", "superadmin"].includes(me.role);
  const c = await api(`/admin/wagers/disputes/${id}`);
  const a = c.player_a, b = c.player_b, m = c.match, tags = m.terms?.tags || {};
  await names.learn([a, b, ...Object.values(c.histories).flat().flatMap((h) => h.players)]);
  const who = (u) => `${names.get(u)} — ${tags[u] || "no tag"}`;
  const d = c.dispute;
  const out = [el("p", {}, el("a", { href: "#/disputes", text: "← All disputes" })),
    el("h2", { text: `Dispute: ${mode(m.mode)} on ${platform(m.platform)}, ${fmt(m.stake_minor, m.currency)} each` })];

  // The case at a glance, and claiming it.
  const opening = c.opening || {};
  const summary = el("div", { class: "card", id: "case-summary" }, el("dl", { class: "kv" },
    el("dt", { text: "Status" }), el("dd", { id: "case-status", text: d.status === "under_review" ? `under review by ${admin(me, d.claimed_by)}` : STATUS[d.status] || d.status }),
    el("dt", { text: "Opened" }), el("dd", { text: when(d.opened_at) }),
    el("dt", { text: "Why" }), el("dd", { text: opening.by ? `${names.get(opening.by)}: “${opening.reason}”` : "Both players claimed the same result." }),
    el("dt", { text: "Challenger (A)" }), el("dd", { text: who(a) }),
    el("dt", { text: "Opponent (B)" }), el("dd", { text: who(b) }),
    el("dt", { text: "Rules" }), el("dd", { text: [m.terms?.rules, (m.terms?.maps || []).join(", ")].filter(Boolean).join(" · ") || "standard" }),
    el("dt", { text: "Flags" }), el("dd", { text: c.flags.length ? c.flags.map((f) => ({ shared_ip: "same IP address", shared_device: "same device" })[f] || f).join(", ") : "none" })));
  if (d.ruling) summary.append(el("p", { class: "msg ok", text: `Ruled ${when(d.ruled_at)}: ${({ winner_a: `${names.get(a)} wins`, winner_b: `${names.get(b)} wins`, void: "void, both stakes returned" })[d.ruling]}. Reason: ${d.reason}` }));
  else if (d.status === "open" && canRule) {
    summary.append(el("button", { type: "button", id: "claim", text: "Claim this case", onclick: async () => {
      try { await api(`/admin/wagers/disputes/${id}/claim`, { method: "POST" }); await redraw(); message(root, "Claimed: the case is yours to rule.", "ok"); }
      catch (err) { message(root, err.message); }
    } }));
  }
  out.push(summary);

  // Both reports.
  const reports = el("div", { class: "card", id: "case-reports" }, el("h2", { text: "Reports" }));
  for (const u of [a, b]) {
    const r = c.reports[u];
    reports.append(el("p", {}, el("b", { text: names.get(u) }), r ? ` says they ${r.result}${r.score ? ` (${r.score})` : ""}.` : " did not report."));
  }
  out.push(reports);

  // Evidence viewer.
  const big = el("img", { id: "evidence-large", alt: "", hidden: true });
  const bigCap = el("p", { class: "small muted", id: "evidence-caption" });
  const thumbs = el("div", { class: "evidence", id: "case-evidence" });
  for (const e of c.evidence) {
    const img = el("img", { alt: `Screenshot from ${names.get(e.user_id)}`, "data-id": e.id });
    const caption = `${names.get(e.user_id)} · ${e.width}×${e.height} · ${Math.ceil(e.size_bytes / 1024)} KB · ${when(e.created_at)}`;
    const btn = el("button", { type: "button", class: "thumb", "aria-label": `Show the screenshot from ${names.get(e.user_id)} large` }, img);
    btn.onclick = () => { big.src = img.src; big.alt = img.alt; big.hidden = false; bigCap.textContent = caption; };
    thumbs.append(el("figure", {}, btn, el("figcaption", { class: "small", text: caption })));
    picture(e.url).then((u) => { urls.push(u); img.src = u; }).catch(() => { img.alt = "This picture could not be loaded."; });
  }
  out.push(el("div", { class: "card" }, el("h2", { text: `Evidence (${c.evidence.length})` }),
    c.evidence.length ? thumbs : el("p", { class: "muted", text: "No screenshots were uploaded." }), big, bigCap));

  // The lobby chat.
  const chat = el("ol", { class: "chat-log", id: "case-chat" }, c.chat.map((l) => el("li", {}, el("b", { text: names.get(l.user_id) }), `: ${l.text}`)));
  out.push(el("div", { class: "card" }, el("h2", { text: "Lobby chat" }), c.chat.length ? chat : el("p", { class: "muted", text: "They did not chat." })));

  // Both players' history and opponents.
  const hist = el("div", { class: "card", id: "case-history" }, el("h2", { text: "Both players' history" }));
  for (const u of [a, b]) {
    const rows = (c.histories[u] || []).filter((h) => h.room_id !== m.room_id);
    const t = keyedTable([
      { title: "when", render: (h) => when(h.created_at) },
      { title: "against", render: (h) => names.get(h.players.find((p) => p !== u)) },
      { title: "mode", render: (h) => mode(h.mode) }, { title: "stake", num: true, render: (h) => fmt(h.stake_minor, h.currency) },
      { title: "result", render: (h) => h.status !== "settled" ? h.status : !h.winner ? `void (${RESULTS[h.result] || h.result})` : h.winner === u ? `won (${RESULTS[h.result] || h.result})` : `lost (${RESULTS[h.result] || h.result})` },
    ], { key: (h) => h.room_id, empty: "No other wager matches." });
    t.update(rows);
    const opp = keyedTable([
      { title: "opponent", render: (o) => names.get(o.opponent_id) }, { title: "matches", num: true, render: (o) => o.matches },
      { title: "won–lost", num: true, render: (o) => `${o.wins}–${o.losses}` }, { title: "void", num: true, render: (o) => o.voided },
      { title: "flagged", num: true, render: (o) => o.flagged },
    ], { key: (o) => o.opponent_id, empty: "No opponents yet." });
    api(`/admin/wagers/players/${u}/opponents`).then(async (r) => { await names.learn(r.items.map((o) => o.opponent_id)); opp.update(r.items); }).catch(() => {});
    hist.append(el("h3", {}, el("a", { href: `#/players/${u}`, text: names.get(u) })), el("div", { class: "scroll" }, t.table),
      el("h3", { class: "small", text: "Opponents" }), el("div", { class: "scroll" }, opp.table));
  }

  // Notes.
  const notes = el("ul", { class: "notes", id: "case-notes" }, c.notes.map((n) => el("li", {}, el("span", { class: "small muted", text: `${when(n.created_at)}, ${admin(me, n.admin_id)}: ` }), n.body)));
  const noteText = el("textarea", { id: "note-text", rows: 2, maxlength: 2000 });
  const noteForm = el("form", { id: "note-form" }, el("label", { for: "note-text", text: "Add a note (admins only)" }), noteText, el("button", { type: "submit", text: "Save note" }));
  noteForm.onsubmit = async (e) => {
    e.preventDefault(); const body = noteText.value.trim(); if (!body) return;
    try { await api(`/admin/wagers/disputes/${id}/notes`, { method: "POST", body: { body } });
      notes.append(el("li", {}, el("span", { class: "small muted", text: "just now, you: " }), body)); noteText.value = ""; }
    catch (err) { message(root, err.message); }
  };
  out.push(el("div", { class: "card" }, el("h2", { text: "Notes" }), notes, canRule && !d.ruling ? noteForm : null));

  // The ruling: only the claimant, once.
  if (!d.ruling && d.status === "under_review" && d.claimed_by === me.id) {
    const options = [["winner_a", `${names.get(a)} wins (A)`], ["winner_b", `${names.get(b)} wins (B)`], ["void", "Void: both stakes go back"]];
    const reason = el("textarea", { id: "ruling-reason", rows: 2, maxlength: 500 });
    const form = el("form", { id: "ruling-form" },
      el("fieldset", { class: "choice" }, el("legend", { text: "Ruling" }),
        options.map(([v, t]) => el("label", { class: "radio" }, el("input", { type: "radio", name: "ruling", value: v }), ` ${t}`))),
      el("label", { for: "ruling-reason", text: "Reason both players will read" }), reason,
      el("button", { type: "submit", text: "Rule" }));
    form.onsubmit = async (e) => {
      e.preventDefault();
      const picked = form.querySelector("input[name=ruling]:checked");
      if (!picked) { message(root, "Choose winner A, winner B or void."); return; }
      if (!reason.value.trim()) { reason.focus(); message(root, "Write the reason both players will read."); return; }
      try {
        const r = await api(`/admin/wagers/disputes/${id}/rule`, { method: "POST", body: { ruling: picked.value, reason: reason.value.trim() } });
        await redraw();
        message(root, r.delivered ? "Ruled and settled: both players see the ruling and its reason." : "Ruling recorded; it settles as soon as the match's room is running again.", "ok");
      } catch (err) { message(root, err.message); }
    };
    out.push(el("div", { class: "card", id: "case-ruling" }, el("h2", { text: "Rule" }), form));
  }
  out.push(hist);  // last: the decision comes first, the background after
  root.append(...out);

  async function redraw() { for (const u of urls) URL.revokeObjectURL(u); root.replaceChildren(); await caseView(root, id, me); }
  return () => { for (const u of urls) URL.revokeObjectURL(u); };
}

export default {
  id: "disputes", title: "Disputes", roles: ["viewer", "operator"],
  async mount(root, { me, params }) { return params[0] ? caseView(root, params[0], me) : queue(root, me); },
};
