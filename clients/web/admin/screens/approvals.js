// Approvals: pending deposits and withdrawals, decided with a reason the player reads;
// processed history below. Rows update in place, so a half-typed reason is never lost.
import { api, el, fmt, keyedTable, message, when } from "../lib.js";

const EVERY_MS = 3000;

function decide(root, kind, item, refresh, canDecide) {
  const box = el("div", { class: "decide" });
  if (!canDecide) { box.append(el("span", { class: "muted small", text: "finance decides" })); return box; }
  const reasonId = `reason-${kind}-${item.id}`;
  const reason = el("input", { id: reasonId, placeholder: "Reason the player will see", maxlength: 500, "aria-label": "Reason the player will see" });
  const act = async (verb) => {
    if (verb === "reject" && !reason.value.trim()) { reason.focus(); message(root, "Write the reason the player will see before rejecting."); return; }
    try { await api(`/admin/${kind}/${item.id}/${verb}`, { method: "POST", body: verb === "reject" ? { reason: reason.value.trim() } : {} });
      message(root, `${kind === "deposits" ? "Deposit" : "Withdrawal"} of ${fmt(item.amount_minor, item.currency)} ${verb === "reject" ? "rejected" : "approved"}.`, "ok"); refresh();
    } catch (err) { message(root, err.message); }
  };
  if (kind === "deposits") box.append(el("button", { type: "button", text: "Approve", onclick: () => act("approve") }));
  box.append(reason, el("button", { type: "button", class: "danger", text: "Reject", onclick: () => act("reject") }));
  return box;
}

export default {
  id: "approvals", title: "Approvals", roles: null,
  async mount(root, { me }) {
    const canDecide = ["finance", "superadmin"].includes(me.role);
    const names = new Map();
    const who = (x) => names.get(x.user_id) || "player";
    const pendingCols = (kind) => [
      { title: "requested", render: (x) => when(x.created_at) }, { title: "player", render: (x) => who(x) },
      { title: "amount", num: true, render: (x) => fmt(x.amount_minor, x.currency) },
      { title: kind === "deposits" ? "reference" : "destination", render: (x) => x.reference || x.destination || "—" },
      { title: "decision", actions: true, render: (x) => decide(root, kind, x, refresh, canDecide) },
    ];
    const deposits = keyedTable(pendingCols("deposits"), { empty: "No deposits waiting." });
    const withdrawals = keyedTable(pendingCols("withdrawals"), { empty: "No withdrawals waiting." });
    const done = keyedTable([
      { title: "decided", render: (x) => when(x.decided_at) }, { title: "what", render: (x) => x.kind },
      { title: "player", render: (x) => who(x) }, { title: "amount", num: true, render: (x) => fmt(x.amount_minor, x.currency) },
      { title: "result", render: (x) => x.state }, { title: "reason", render: (x) => x.reason || "" },
    ], { key: (x) => x.kind + x.id, empty: "Nothing decided yet." });
    root.append(el("h2", { text: "Approvals" }),
      canDecide ? null : el("p", { class: "muted", text: "Your role can see requests; the finance role decides them." }),
      el("div", { class: "card" }, el("h2", { text: "Deposits waiting" }), el("div", { class: "scroll" }, deposits.table)),
      el("div", { class: "card" }, el("h2", { text: "Withdrawals waiting" }), el("div", { class: "scroll" }, withdrawals.table)),
      el("div", { class: "card" }, el("h2", { text: "Processed" }), el("div", { class: "scroll" }, done.table)));
    async function learnNames(items) {
      const unknown = [...new Set(items.map((x) => x.user_id))].filter((u) => !names.has(u));
      await Promise.all(unknown.slice(0, 20).map(async (u) => {
        try { const p = await api(`/admin/players/${u}`); names.set(u, `${p.user.display_name} (${p.user.phone})`); } catch { names.set(u, "player"); }
      }));
    }
    async function refresh() {
      try {
        const [d, w, da, dr, wa, wr] = await Promise.all([
          api("/admin/deposits?state=pending"), api("/admin/withdrawals?state=pending"),
          api("/admin/deposits?state=approved&limit=15"), api("/admin/deposits?state=rejected&limit=15"),
          api("/admin/withdrawals?state=approved&limit=15"), api("/admin/withdrawals?state=rejected&limit=15")]);
        const processed = [...da.items.map((x) => ({ ...x, kind: "deposit" })), ...dr.items.map((x) => ({ ...x, kind: "deposit" })),
          ...wa.items.map((x) => ({ ...x, kind: "withdrawal" })), ...wr.items.map((x) => ({ ...x, kind: "withdrawal" }))]
          .sort((a, b) => (b.decided_at || "").localeCompare(a.decided_at || "")).slice(0, 30);
        await learnNames([...d.items, ...w.items, ...processed]);
        deposits.update(d.items); withdrawals.update(w.items); done.update(processed);
      } catch (err) { message(root, err.message); }
    }
    await refresh(); const timer = setInterval(refresh, EVERY_MS);
    return () => clearInterval(timer);
  },
};
