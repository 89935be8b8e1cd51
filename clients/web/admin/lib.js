// Shared helpers of the console's screens: the admin token, HTTP, money words and DOM building.

const TOKEN = "mp.admin";
export const auth = {
  get token() { return sessionStorage.getItem(TOKEN); },
  set token(v) { if (v) sessionStorage.setItem(TOKEN, v); else sessionStorage.removeItem(TOKEN); },
  onExpired: () => {},
};
export const cfg = { currency: "KES", money_mode: "credits", minor_per_unit: 100, games: [] };

export async function api(path, { method = "GET", body } = {}) {
  const res = await fetch(path, { method, headers: { "content-type": "application/json", authorization: "Bearer " + auth.token },
    body: body ? JSON.stringify(body) : undefined });
  const data = res.headers.get("content-type")?.includes("json") ? await res.json().catch(() => ({})) : {};
  if (res.status === 401) { auth.token = null; auth.onExpired(); }
  if (!res.ok) throw Object.assign(new Error(data.msg || res.statusText), { code: data.code, status: res.status });
  return data;
}
export function fmt(minor, currency) {
  const n = (minor / cfg.minor_per_unit).toLocaleString("en", { maximumFractionDigits: 2 });
  return cfg.money_mode === "credits" ? `${n} credits` : `${currency || cfg.currency} ${n}`;
}
export function when(iso) { return iso ? new Date(iso).toLocaleString([], { dateStyle: "medium", timeStyle: "short" }) : ""; }
export function ago(ms) { const s = Math.max(0, Math.round(ms / 1000)); return s < 60 ? `${s} s` : s < 3600 ? `${Math.round(s / 60)} min` : `${Math.round(s / 3600)} h`; }

/** el("td", {class: "num", text: "3"}, child…): a node with attributes, text and children. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "text") node.textContent = v; else if (k.startsWith("on")) node[k] = v; else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) node.append(c instanceof Node ? c : String(c));
  return node;
}
/** A table whose rows are keyed: `update(items)` adds, refreshes and removes rows in place,
 *  so a row under the cursor (or with a half-typed reason) is never rebuilt from scratch. */
export function keyedTable(columns, { key = (x) => x.id, empty = "Nothing here." } = {}) {
  const table = el("table", { class: "cards" });
  table.append(el("thead", {}, el("tr", {}, columns.map((c) => el("th", { class: c.num ? "num" : null, text: c.title })))));
  const body = el("tbody"); table.append(body);
  const rows = new Map(); const none = el("tr", {}, el("td", { colspan: columns.length, class: "muted", text: empty }));
  function update(items) {
    const seen = new Set();
    for (const item of items) {
      const k = key(item); seen.add(k); let tr = rows.get(k);
      if (!tr) { tr = el("tr", { "data-key": k }); columns.forEach((c) => tr.append(el("td", { "data-label": c.title, class: [c.num ? "num" : "", c.actions ? "actions" : ""].join(" ").trim() || null }))); rows.set(k, tr); body.append(tr); }
      columns.forEach((c, i) => {
        const td = tr.children[i];
        if (c.actions) { if (!td.firstChild) td.append(c.render(item)); return; }  // built once: keeps typed input
        const v = c.render(item); if (v instanceof Node) { td.replaceChildren(v); } else if (td.textContent !== String(v ?? "")) td.textContent = v ?? "";
      });
    }
    for (const [k, tr] of rows) if (!seen.has(k)) { tr.remove(); rows.delete(k); }
    if (!rows.size) body.append(none); else none.remove();
  }
  return { table, update };
}
export function message(root, text, cls = "err") { let m = root.querySelector(":scope > .msg"); if (!m) { m = el("p", { class: "msg", "aria-live": "polite" }); root.prepend(m); } m.textContent = text; m.className = "msg " + cls; }
