// Live rooms: every node's rooms with names, scores and clock; "Watch" spectates one,
// drawn as the game (games/<kind>.js) from the room's snapshot plus its live frames.
import { api, auth, el, fmt, keyedTable, message } from "../lib.js";
import { renderers } from "../games/index.js";

function left(deadline, offset) { if (!deadline) return "—"; const s = Math.max(0, (deadline - (Date.now() + offset)) / 1000); return `${s.toFixed(1)} s`; }

async function list(root) {
  let names = {}, offset = 0;
  const t = keyedTable([
    { title: "game", render: (r) => r.game },
    { title: "players", render: (r) => (r.players || []).map((p) => names[p] || "player").join(" vs ") },
    { title: "score", render: (r) => { const s = r.snapshot?.state?.scores || {}; return (r.players || []).map((p) => s[p] ?? 0).join("–"); } },
    { title: "phase", render: (r) => r.phase }, { title: "clock", num: true, render: (r) => left(r.deadline_ms, offset) },
    { title: "stake", num: true, render: (r) => fmt(Object.values(r.stakes || {})[0] || 0, r.currency) },
    { title: "node", render: (r) => r.node },
    { title: "", render: (r) => el("a", { href: `#/rooms/${r.room_id}`, class: "button", text: "Watch" }) },
  ], { key: (r) => r.room_id, empty: "No live rooms right now." });
  root.append(el("h2", { text: "Live rooms" }), el("div", { class: "card" }, el("div", { class: "scroll" }, t.table)));
  async function refresh() {
    try { const r = await api("/admin/console/rooms"); names = r.names; t.update(r.items); } catch (err) { message(root, err.message); }
  }
  await refresh(); const timer = setInterval(refresh, 2000);
  return () => clearInterval(timer);
}

async function watch(root, roomId) {
  const { names } = await api("/admin/console/rooms");
  const board = el("div", { class: "game-board", "aria-live": "polite" }); const clock = el("div", { class: "clock", role: "timer" });
  const status = el("p", { class: "muted", text: "Connecting…" });
  root.append(el("p", {}, el("a", { href: "#/rooms", text: "← All rooms" })), el("h2", { text: "Watching a room" }), status, clock, board);
  let model = null, offset = 0;
  const proto = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${proto}://${location.host}/admin/ws`);
  const draw = () => {
    if (!model) return; const r = renderers[model.game];
    board.replaceChildren(...(r ? r.draw(model, names) : [el("p", { text: `${model.game}: ${model.state.phase || model.phase}` }),
      el("p", { text: (model.players || []).map((p) => `${names[p.user_id] || "player"}: ${(model.state.scores || {})[p.user_id] ?? "—"}`).join(" · ") })]));
  };
  ws.onopen = () => { ws.send(JSON.stringify({ t: "hello", token: auth.token })); ws.send(JSON.stringify({ t: "spectate", room_id: roomId })); };
  ws.onmessage = (m) => {
    const f = JSON.parse(m.data);
    if (f.t === "welcome") return;
    if (f.t === "error") { status.textContent = f.msg; status.className = "msg err"; return; }
    if (f.t === "room_state") {
      offset = (f.now_ms || Date.now()) - Date.now();
      model = { game: f.game, players: f.players, stake_minor: f.players?.[0]?.stake_minor, currency: f.currency, state: f.state || {}, phase: f.phase, deadline_ms: f.deadline_ms };
      status.textContent = `Live, as spectator (${f.players.map((p) => names[p.user_id] || "player").join(" vs ")}).`; status.className = "muted";
    } else if (model) {
      const r = renderers[model.game]; if (r) r.apply(model, f);
      if (f.t === "player_left" || f.t === "player_back") model.players = model.players.map((p) => p.user_id === f.user_id ? { ...p, connected: f.t === "player_back" } : p);
      if (f.t === "room_aborted") { status.textContent = "The room was stopped; stakes returned."; }
    }
    draw();
  };
  ws.onclose = () => { status.textContent = "The room closed or the connection ended."; };
  const timer = setInterval(() => { clock.textContent = model?.deadline_ms ? left(model.deadline_ms, offset) : ""; }, 200);
  return () => { clearInterval(timer); ws.onclose = null; ws.close(); };
}

export default {
  id: "rooms", title: "Live rooms", roles: null,
  async mount(root, { params }) { return params[0] ? watch(root, params[0]) : list(root); },
};
