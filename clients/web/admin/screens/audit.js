// The audit log: every admin action, newest first, paged.
import { api, el, keyedTable, message, when } from "../lib.js";

function detail(d) {
  if (!d) return "";
  const parts = []; if (d.reason) parts.push(`reason: ${d.reason}`);
  if (d.name) parts.push(`signal: ${d.name}`);
  return parts.join("; ");
}

export default {
  id: "audit", title: "Audit log", roles: null,
  async mount(root) {
    const t = keyedTable([
      { title: "when", render: (x) => when(x.at) }, { title: "who", render: (x) => x.admin || "system" },
      { title: "action", render: (x) => x.action }, { title: "on", render: (x) => x.target }, { title: "detail", render: (x) => detail(x.detail) },
    ], { empty: "No admin actions yet." });
    const filter = el("input", { id: "audit-target", placeholder: "e.g. deposit:… or player:…", "aria-label": "Only this target" });
    const more = el("button", { type: "button", class: "link", text: "Older entries", hidden: true });
    let items = [], next = null;
    async function load(reset) {
      try {
        const q = new URLSearchParams({ limit: "50" }); if (!reset && next) q.set("before", next); if (filter.value.trim()) q.set("target", filter.value.trim());
        const r = await api(`/admin/audit?${q}`); items = reset ? r.items : [...items, ...r.items]; next = r.next_before;
        t.update(items); more.hidden = !next;
      } catch (err) { message(root, err.message); }
    }
    more.onclick = () => load(false);
    root.append(el("h2", { text: "Audit log" }), el("div", { class: "card" },
      el("form", { class: "search", onsubmit: (e) => { e.preventDefault(); load(true); } }, filter, el("button", { text: "Filter" })),
      el("div", { class: "scroll" }, t.table), more));
    await load(true);
  },
};
