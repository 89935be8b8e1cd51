// Players: search by phone or name; a profile with balances, holds, limits, sessions,
// requests and the paged ledger; suspend (operator) with a reason that is audited.
import { api, el, fmt, keyedTable, message, when } from "../lib.js";

const WORDS = { deposit: "deposit", stake: "stake", payout: "prize", refund: "stake returned", stake_void: "stake returned",
  timeout_bonus: "waiting bonus", withdrawal_hold: "withdrawal hold", withdrawal: "withdrawal", withdrawal_out: "paid out",
  withdrawal_void: "withdrawal released", withdrawal_reversal: "withdrawal reversed", rake: "house share", demo_float: "demo credits" };
const KINDS = { single: "", pending: "hold", post: "hold taken", void: "hold released" };

async function search(root) {
  const q = el("input", { id: "player-q", type: "search", placeholder: "0712 345 678 or a name", "aria-label": "Phone or name" });
  const t = keyedTable([
    { title: "player", render: (p) => el("a", { href: `#/players/${p.id}`, text: p.display_name }) },
    { title: "phone", render: (p) => p.phone }, { title: "since", render: (p) => when(p.created_at) },
    { title: "status", render: (p) => (p.suspended ? "suspended" : "active") },
  ], { empty: "No player matches." });
  async function run() { try { t.update((await api(`/admin/players?q=${encodeURIComponent(q.value.trim())}`)).items); } catch (err) { message(root, err.message); } }
  root.append(el("h2", { text: "Players" }), el("div", { class: "card" },
    el("form", { class: "search", role: "search", onsubmit: (e) => { e.preventDefault(); run(); } }, q, el("button", { text: "Search" })),
    el("div", { class: "scroll" }, t.table)));
  await run();
}

async function profile(root, id, me) {
  const p = await api(`/admin/players/${id}`);
  const u = p.user; const canSuspend = ["operator", "superadmin"].includes(me.role);
  const bal = p.balances.map((b) => `${fmt(b.available_minor, b.currency)} available` + (b.held_minor ? `, ${fmt(b.held_minor, b.currency)} on hold` : ""));
  const lim = p.limits; const limText = (x, used) => (x.max_minor ? `${fmt(x.max_minor)} a day (${fmt(used)} used)` : "none") + (x.pending ? `; raise to ${x.pending_max_minor ? fmt(x.pending_max_minor) : "none"} pending` : "");
  const reason = el("input", { id: "suspend-reason", maxlength: 500, placeholder: "Reason (kept in the audit log; the player sees it)", "aria-label": "Reason" });
  const standing = p.suspension
    ? el("div", {}, el("p", { class: "msg err", text: `Suspended ${when(p.suspension.at)} by ${p.suspension.by || "system"}: ${p.suspension.reason}` }),
      canSuspend ? el("form", { class: "decide", onsubmit: async (e) => { e.preventDefault(); await act("unsuspend"); } }, reason, el("button", { text: "Lift suspension" })) : null)
    : canSuspend ? el("form", { class: "decide", onsubmit: async (e) => { e.preventDefault(); await act("suspend"); } }, reason, el("button", { class: "danger", text: "Suspend" })) : el("p", { class: "muted", text: "Active. An operator can suspend this account." });
  async function act(verb) {
    if (!reason.value.trim()) { message(root, "Give a reason."); return; }
    try { await api(`/admin/players/${id}/${verb}`, { method: "POST", body: { reason: reason.value.trim() } }); root.replaceChildren(); await profile(root, id, me); message(root, verb === "suspend" ? "Suspended: the player's sessions ended." : "Suspension lifted.", "ok"); }
    catch (err) { message(root, err.message); }
  }
  const holds = keyedTable([{ title: "since", render: (h) => when(h.created_at) }, { title: "for", render: (h) => WORDS[h.code] || h.code },
    { title: "amount", num: true, render: (h) => fmt(h.amount_minor, h.currency) }, { title: "expires", render: (h) => when(h.expires_at) }], { empty: "No money on hold." });
  holds.update(p.holds);
  const sessions = keyedTable([{ title: "started", render: (s) => when(s.started) }, { title: "last used", render: (s) => when(s.last_used) },
    { title: "state", render: (s) => (s.active ? "active" : "ended") }], { empty: "No sessions." });
  sessions.update(p.sessions);
  const reqs = keyedTable([{ title: "when", render: (r) => when(r.created_at) }, { title: "what", render: (r) => r.kind },
    { title: "amount", num: true, render: (r) => fmt(r.amount_minor, r.currency) }, { title: "state", render: (r) => r.state }, { title: "reason", render: (r) => r.reason || "" }],
  { key: (r) => r.kind + r.id, empty: "No requests." });
  reqs.update([...p.deposits.map((d) => ({ ...d, kind: "deposit" })), ...p.withdrawals.map((w) => ({ ...w, kind: "withdrawal" }))].sort((a, b) => b.created_at.localeCompare(a.created_at)));
  const ledger = keyedTable([{ title: "when", render: (t) => when(t.created_at) }, { title: "entry", render: (t) => [WORDS[t.code] || t.code, KINDS[t.kind]].filter(Boolean).join(" · ") },
    { title: "amount", num: true, render: (t) => `${t.direction === "in" ? "+" : "−"}${fmt(t.amount_minor, t.currency)}` }], { empty: "No ledger entries." });
  let rows = [], next = null; const more = el("button", { type: "button", class: "link", text: "Older entries", hidden: true });
  async function page() { const r = await api(`/admin/players/${id}/ledger?limit=25${next ? `&before=${next}` : ""}`); rows = [...rows, ...r.items]; next = r.next_before; ledger.update(rows); more.hidden = !next; }
  more.onclick = () => page().catch((err) => message(root, err.message));
  root.append(el("p", {}, el("a", { href: "#/players", text: "← All players" })), el("h2", { text: `${u.display_name}` }),
    el("div", { class: "card" }, el("dl", { class: "kv" }, el("dt", { text: "phone" }), el("dd", { text: u.phone }), el("dt", { text: "since" }), el("dd", { text: when(u.created_at) }),
      el("dt", { text: "balance" }), el("dd", { text: bal.join("; ") }), el("dt", { text: "deposit limit" }), el("dd", { text: limText(lim.daily_deposit, lim.used_deposit_minor) }),
      el("dt", { text: "stake limit" }), el("dd", { text: limText(lim.daily_stake, lim.used_stake_minor) }),
      el("dt", { text: "self-excluded" }), el("dd", { text: lim.excluded_until ? `until ${when(lim.excluded_until)}` : "no" }),
      el("dt", { text: "alerts" }), el("dd", { text: u.alerts_enabled ? "on" : "off" })), el("h3", { text: "Standing" }), standing),
    el("div", { class: "card" }, el("h2", { text: "Holds" }), el("div", { class: "scroll" }, holds.table)),
    el("div", { class: "card" }, el("h2", { text: "Deposits and withdrawals" }), el("div", { class: "scroll" }, reqs.table)),
    el("div", { class: "card" }, el("h2", { text: "Ledger" }), el("div", { class: "scroll" }, ledger.table), more),
    el("div", { class: "card" }, el("h2", { text: "Sessions" }), el("div", { class: "scroll" }, sessions.table)));
  await page();
}

export default {
  id: "players", title: "Players", roles: null,
  async mount(root, { me, params }) { if (params[0]) await profile(root, params[0], me); else await search(root); },
};
