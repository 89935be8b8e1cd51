// Dashboard: live figures of the whole deployment, refreshed every 2 s in place.
import { ago, api, el, fmt, keyedTable, message } from "../lib.js";

const EVERY_MS = 2000;

function tile(label, id) { return el("div", { class: "tile", "data-tile": id }, el("div", { class: "n", text: "…" }), el("div", { class: "l", text: label })); }

export default {
  id: "dashboard", title: "Dashboard", roles: null,
  async mount(root) {
    const tiles = el("div", { class: "tiles" },
      tile("players connected", "connections"), tile("live rooms", "rooms_live"), tile("pairings / min", "pairings_per_min"),
      tile("outbox backlog", "outbox"), tile("ledger invariants", "ledger"), tile("deposits waiting", "pending_deposits"),
      tile("withdrawals waiting", "pending_withdrawals"));
    const nodes = keyedTable([
      { title: "node", render: (n) => n.node }, { title: "players", num: true, render: (n) => n.connections },
      { title: "rooms", num: true, render: (n) => n.rooms }, { title: "pairings / min", num: true, render: (n) => n.pairings_per_min },
      { title: "state", render: (n) => (n.draining ? "draining" : "serving") },
    ], { key: (n) => n.node, empty: "No node has reported yet." });
    const games = keyedTable([{ title: "game", render: (g) => g.game }, { title: "live rooms", num: true, render: (g) => g.n }], { key: (g) => g.game });
    const queues = keyedTable([
      { title: "game", render: (q) => q.game }, { title: "stake", num: true, render: (q) => fmt(q.stake_minor, q.currency) },
      { title: "waiting", num: true, render: (q) => q.waiting },
    ], { key: (q) => `${q.game}:${q.stake_minor}`, empty: "No queues." });
    root.append(el("h2", { text: "Live dashboard" }), tiles,
      el("div", { class: "card" }, el("h2", { text: "Nodes" }), el("div", { class: "scroll" }, nodes.table)),
      el("div", { class: "card" }, el("h2", { text: "Queues by stake" }), el("div", { class: "scroll" }, queues.table)),
      el("div", { class: "card" }, el("h2", { text: "Live rooms by game" }), el("div", { class: "scroll" }, games.table)));
    const set = (id, text, cls = "") => { const t = tiles.querySelector(`[data-tile="${id}"]`); t.querySelector(".n").textContent = text; t.className = "tile " + cls; };
    async function refresh() {
      try {
        const d = await api("/admin/dashboard");
        set("connections", d.connections); set("rooms_live", d.rooms_live); set("pairings_per_min", d.pairings_per_min);
        set("outbox", d.outbox.pending + (d.outbox.pending ? ` (oldest ${ago(d.outbox.oldest_s * 1000)})` : "") + (d.outbox.failed ? ` · ${d.outbox.failed} failed` : ""), d.outbox.failed ? "bad" : "");
        set("ledger", d.ledger.ok === true ? "balanced" : d.ledger.ok === false ? "BROKEN" : "checking…", d.ledger.ok === false ? "bad" : d.ledger.ok ? "ok" : "");
        if (d.ledger.ok === false) tiles.querySelector('[data-tile="ledger"]').title = d.ledger.findings;
        set("pending_deposits", d.pending_deposits); set("pending_withdrawals", d.pending_withdrawals);
        nodes.update(d.nodes); queues.update(d.queues);
        games.update(Object.entries(d.rooms_by_game).map(([game, n]) => ({ game, n })));
      } catch (err) { message(root, err.message); }
    }
    await refresh(); const timer = setInterval(refresh, EVERY_MS);
    return () => clearInterval(timer);
  },
};
