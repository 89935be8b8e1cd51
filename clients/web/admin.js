// Matchpot admin page: approve deposits and withdrawals, watch live rooms.
"use strict";
const $ = (id) => document.getElementById(id);
let token = sessionStorage.getItem("mp.admin"), ws = null;
const money = (m) => (m / 100).toLocaleString(undefined, { maximumFractionDigits: 2 });

async function api(path, { method = "GET", body } = {}) {
  const res = await fetch(path, { method, headers: { "content-type": "application/json", authorization: "Bearer " + token },
    body: body ? JSON.stringify(body) : undefined });
  const data = res.headers.get("content-type")?.includes("json") ? await res.json() : {};
  if (res.status === 401) { sessionStorage.removeItem("mp.admin"); location.reload(); }
  if (!res.ok) throw new Error(data.msg || res.statusText);
  return data;
}
$("login-form").onsubmit = async (e) => {
  e.preventDefault();
  const res = await fetch("/admin/login", { method: "POST", headers: { "content-type": "application/json" },
    body: JSON.stringify({ username: $("username").value, password: $("password").value }) });
  const data = await res.json();
  if (!res.ok) { $("login-msg").textContent = data.msg; $("login-msg").className = "msg err"; return; }
  token = data.access_token; sessionStorage.setItem("mp.admin", token); start();
};
function table(el, head, rows) {
  el.innerHTML = "<tr>" + head.map((h) => `<th>${h}</th>`).join("") + "</tr>";
  for (const cells of rows) { const tr = document.createElement("tr");
    for (const c of cells) { const td = document.createElement("td"); if (c instanceof Node) td.appendChild(c); else td.textContent = c; tr.appendChild(td); }
    el.appendChild(tr); }
  if (!rows.length) el.insertAdjacentHTML("beforeend", `<tr><td colspan="${head.length}" class="muted">none</td></tr>`);
}
function actions(kind, id) {
  const span = document.createElement("span");
  for (const [label, verb] of [["Approve", "approve"], ["Reject", "reject"]]) {
    const b = document.createElement("button"); b.textContent = label;
    b.onclick = async () => {
      const body = verb === "reject" ? { reason: prompt("Reason for rejecting?") || "rejected by admin" } : {};
      try { await api(`/admin/${kind}/${id}/${verb}`, { method: "POST", body }); refresh(); }
      catch (err) { $("panel-msg").textContent = err.message; $("panel-msg").className = "msg err"; }
    };
    span.appendChild(b);
  }
  return span;
}
async function refresh() {
  try {
    const d = await api("/admin/deposits?state=pending");
    table($("deposits"), ["when", "player", "amount", "reference", ""], (d.items || []).map((x) =>
      [new Date(x.created_at).toLocaleString(), x.phone || x.user_id, money(x.amount_minor), x.reference || "", actions("deposits", x.id)]));
    const w = await api("/admin/withdrawals?state=pending");
    table($("withdrawals"), ["when", "player", "amount", "destination", ""], (w.items || []).map((x) =>
      [new Date(x.created_at).toLocaleString(), x.phone || x.user_id, money(x.amount_minor), x.destination || "", actions("withdrawals", x.id)]));
    const r = await api("/admin/rooms");
    table($("rooms"), ["room", "game", "phase", "players", "stake", "node", ""], (r.items || []).map((x) => {
      const b = document.createElement("button"); b.textContent = "Watch"; b.onclick = () => spectate(x.room_id);
      return [x.room_id.slice(0, 8), x.game, x.phase, (x.players || []).length, money(Object.values(x.stakes || {})[0] || 0), x.node, b]; }));
  } catch (err) { $("panel-msg").textContent = err.message; $("panel-msg").className = "msg err"; }
}
function spectate(roomId) {
  if (ws) ws.close();
  const proto = location.protocol === "https:" ? "wss" : "ws";
  ws = new WebSocket(`${proto}://${location.host}/admin/ws`);
  $("stream").textContent = ""; $("spectating").textContent = roomId;
  ws.onopen = () => { ws.send(JSON.stringify({ t: "hello", token })); ws.send(JSON.stringify({ t: "spectate", room_id: roomId })); };
  ws.onmessage = (m) => { const s = $("stream"); s.textContent += m.data + "\n"; s.scrollTop = s.scrollHeight; };
}
function start() { $("login").hidden = true; $("panel").hidden = false; refresh(); setInterval(refresh, 3000); }
if (token) start();
