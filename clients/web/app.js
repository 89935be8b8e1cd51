// Matchpot web app: phone login, live balance, quiz duels, wallet requests.
// Speaks the websocket protocol of docs/protocol.md with JSON text frames.
"use strict";

const $ = (id) => document.getElementById(id);
const store = {
  get access() { return localStorage.getItem("mp.access"); },
  get refresh() { return localStorage.getItem("mp.refresh"); },
  set(tokens) { localStorage.setItem("mp.access", tokens.access_token); localStorage.setItem("mp.refresh", tokens.refresh_token); },
  clear() { localStorage.removeItem("mp.access"); localStorage.removeItem("mp.refresh"); },
};
let config = { currency: "KES", money_mode: "credits", minor_per_unit: 100, quiz_stakes_minor: [] };
let ws = null, rid = 0, pending = new Map(), reconnectDelayMs = 500, duel = null, ticket = null;
let wsUrl = null, pendingSeat = null, myNode = null;  // a room may live on another node: match_found says which

function fmt(minor) {
  const unit = config.money_mode === "credits" ? "credits" : config.currency;
  return `${(minor / config.minor_per_unit).toLocaleString(undefined, { maximumFractionDigits: 2 })} ${unit}`;
}
function say(el, text, cls = "") { el.textContent = text; el.className = "msg " + cls; }

async function api(path, { method = "GET", body, auth = true, key } = {}) {
  const headers = { "content-type": "application/json" };
  if (key) headers["idempotency-key"] = key;
  if (auth && store.access) headers.authorization = "Bearer " + store.access;
  let res = await fetch(path, { method, headers, body: body ? JSON.stringify(body) : undefined });
  if (res.status === 401 && auth && store.refresh) {
    if (await refreshTokens()) return api(path, { method, body, auth, key });
  }
  const data = res.headers.get("content-type")?.includes("json") ? await res.json() : {};
  if (!res.ok) throw Object.assign(new Error(data.msg || res.statusText), { code: data.code, status: res.status });
  return data;
}
async function refreshTokens() {
  try {
    const res = await fetch("/auth/refresh", { method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ refresh_token: store.refresh }) });
    if (!res.ok) { store.clear(); return false; }
    store.set(await res.json()); return true;
  } catch { return false; }
}

// ---- login
let loginPhone = "";
$("phone-form").onsubmit = async (e) => {
  e.preventDefault(); loginPhone = $("phone").value.trim();
  try { await api("/auth/otp/request", { method: "POST", body: { phone: loginPhone }, auth: false });
    $("code-form").hidden = false; say($("login-msg"), "Code sent. In the demo it is printed in the server log.", "ok"); $("code").focus();
  } catch (err) { say($("login-msg"), err.message, "err"); }
};
$("code-form").onsubmit = async (e) => {
  e.preventDefault();
  try { store.set(await api("/auth/otp/verify", { method: "POST", body: { phone: loginPhone, code: $("code").value.trim() }, auth: false }));
    start();
  } catch (err) { say($("login-msg"), err.message, "err"); }
};
$("logout").onclick = async () => { try { await api("/auth/logout", { method: "POST", body: { refresh_token: store.refresh } }); } catch {} store.clear(); location.reload(); };

// ---- websocket
function connect(url) {
  const proto = location.protocol === "https:" ? "wss" : "ws";
  wsUrl = url || wsUrl || `${proto}://${location.host}/ws`;
  const sock = new WebSocket(wsUrl); ws = sock;
  sock.onopen = () => { reconnectDelayMs = 500; send({ t: "hello", token: store.access }).then(onWelcome).catch(() => {}); };
  sock.onmessage = (m) => { if (sock !== ws) return; let f; try { f = JSON.parse(m.data); } catch { return; } onFrame(f); };
  sock.onclose = async (ev) => {
    if (sock !== ws) return;  // a socket we replaced on purpose
    $("conn").textContent = "offline"; $("conn").className = "pill off";
    for (const [, p] of pending) p.reject(new Error("connection closed")); pending.clear();
    if (ev.code === 4001) return;  // replaced by a newer connection of this account
    if (ev.code === 1008) { if (!(await refreshTokens())) { store.clear(); location.reload(); return; } }
    setTimeout(connect, reconnectDelayMs); reconnectDelayMs = Math.min(reconnectDelayMs * 2, 15000);
  };
}
function send(frame) {
  return new Promise((resolve, reject) => {
    if (!ws || ws.readyState !== 1) return reject(new Error("not connected"));
    frame.rid = ++rid; pending.set(frame.rid, { resolve, reject });
    ws.send(JSON.stringify(frame));
    setTimeout(() => { if (pending.delete(frame.rid)) reject(new Error("no answer from the server")); }, 10000);
  });
}
function onFrame(f) {
  if (f.rid !== undefined && pending.has(f.rid)) {
    const p = pending.get(f.rid); pending.delete(f.rid);
    if (f.t === "error") p.reject(Object.assign(new Error(f.msg), { code: f.code })); else p.resolve(f);
    return;
  }
  const handler = handlers[f.t]; if (handler) handler(f);
}
function onWelcome(f) {
  $("conn").textContent = "live"; $("conn").className = "pill on"; myNode = f.node || null;
  renderBalances(f.balances || []);
  if (pendingSeat) { const seat = pendingSeat; pendingSeat = null;
    send({ t: "room_join", room_id: seat.room_id, seat_token: seat.seat_token }).then(() => say($("queue-status"), "")).catch((err) => say($("queue-status"), err.message, "err"));
    return; }
  if (duel) send({ t: "room_join", room_id: duel.room_id, since_seq: duel.seq }).catch(() => {});
}
const handlers = {
  balance: (f) => { renderBalances(f.balances || []); loadWallet(); },
  match_found: async (f) => {
    ticket = null; $("leave-queue").hidden = true;
    say($("queue-status"), `Opponent found: ${f.opponent?.display_name || "a player"}. Joining…`, "ok");
    duel = { room_id: f.room_id, seq: 0, picked: null, index: -1, opponent: f.opponent?.display_name || "an opponent" };
    if (f.ws_url && f.node && myNode && f.node !== myNode) { pendingSeat = f; const old = ws; connect(f.ws_url); old.close(); return; }
    try { await send({ t: "room_join", room_id: f.room_id, seat_token: f.seat_token }); say($("queue-status"), ""); }
    catch (err) { say($("queue-status"), err.message, "err"); }
  },
  queue_timeout: (f) => { ticket = null; $("leave-queue").hidden = true;
    say($("queue-status"), `No opponent came in time: your stake was returned with a bonus of ${fmt(f.bonus_minor || 0)}.`, "ok"); },
  room_state: (f) => {
    if (!f || !duel) return; duel.seq = f.seq || duel.seq; $("duel").hidden = false; $("duel-result").textContent = "";
    const me = localStorage.getItem("mp.user");
    $("duel-vs").textContent = "vs " + (duel.opponent || "an opponent");
    const st = f.state || {};
    if (st.question && !st.question.answer_index && st.question.answer_index !== 0) handlers.quiz_question({ ...st.question, seq: f.seq });
    if (st.scores) $("duel-score").textContent = scoreLine(st.scores, me);
    if (f.phase === "countdown") { $("duel-question").textContent = "Get ready…"; tick(st.starts_at_ms); }
    if (st.result) handlers.quiz_result(st.result);
  },
  quiz_start: (f) => { if (!duel) return; duel.seq = f.seq; $("duel").hidden = false; $("duel-result").textContent = "";
    $("duel-question").textContent = `Get ready: ${f.question_count} questions…`; tick(f.starts_at_ms); },
  quiz_question: (f) => {
    if (!duel) return; duel.seq = f.seq || duel.seq; duel.index = f.index; duel.picked = null;
    $("duel").hidden = false; $("duel-question").textContent = `Q${f.index + 1}/${f.count || 5}. ${f.text}`;
    const box = $("duel-choices"); box.innerHTML = "";
    f.choices.forEach((c, i) => { const b = document.createElement("button"); b.textContent = c;
      b.onclick = () => answer(f.index, i, b); box.appendChild(b); });
    tick(f.deadline_ms);
  },
  quiz_reveal: (f) => {
    if (!duel) return; duel.seq = f.seq || duel.seq;
    [...$("duel-choices").children].forEach((b, i) => { b.disabled = true;
      if (i === f.answer_index) b.classList.add("right"); else if (b.classList.contains("picked")) b.classList.add("wrong"); });
    $("duel-score").textContent = scoreLine(f.scores || {}, localStorage.getItem("mp.user"));
  },
  quiz_result: (f) => {
    stopTick(); const me = localStorage.getItem("mp.user");
    const text = !f.winner ? (f.result === "no_show" ? "Your opponent did not show up: your stake is returned." : "A perfect tie: both stakes are returned.") :
      f.winner === me ? `You won this duel: ${fmt(f.payout_minor)} credited.` : "Your opponent won this one.";
    $("duel-result").textContent = text; $("duel-question").textContent = ""; $("duel-choices").innerHTML = "";
    duel = null; loadDuels();
  },
  room_aborted: (f) => { stopTick(); $("duel-result").textContent = f.refunded ? "The duel was stopped and both stakes were returned." : "The duel was stopped."; duel = null; },
  error: (f) => say($("queue-status"), f.msg, "err"),
};
async function answer(index, choice, button) {
  if (!duel || duel.picked !== null) return; duel.picked = choice; button.classList.add("picked");
  [...$("duel-choices").children].forEach((b) => (b.disabled = true));
  try { await send({ t: "quiz_answer", room_id: duel.room_id, index, choice }); }
  catch (err) { say($("queue-status"), err.message, "err"); }
}
let tickTimer = null;
function tick(deadlineMs) {
  stopTick(); const clock = $("duel-clock");
  const draw = () => { const left = Math.max(0, deadlineMs - Date.now()); clock.textContent = (left / 1000).toFixed(1) + " s"; };
  draw(); tickTimer = setInterval(draw, 100);
}
function stopTick() { if (tickTimer) clearInterval(tickTimer); tickTimer = null; $("duel-clock").textContent = ""; }

// ---- UI
function scoreLine(scores, me) {
  const mine = scores[me] ?? 0; const theirs = Object.entries(scores).filter(([u]) => u !== me).map(([, v]) => v)[0] ?? 0;
  return `You ${mine} – ${theirs} Opponent`;
}
function renderBalances(list) {
  const b = list.find((x) => x.currency === config.currency) || { available_minor: 0, held_minor: 0 };
  $("balances").innerHTML = `${fmt(b.available_minor)}` + (b.held_minor ? ` <span class="held">(${fmt(b.held_minor)} staked)</span>` : "");
}
function renderStakes() {
  const box = $("stakes"); box.innerHTML = "";
  for (const s of config.quiz_stakes_minor) {
    const b = document.createElement("button"); b.textContent = `Stake ${fmt(s)}`;
    b.onclick = async () => {
      try { const r = await send({ t: "queue_join", game: "quiz", stake_minor: s }); ticket = r.ticket_id;
        say($("queue-status"), `Looking for an opponent at ${fmt(s)}… your stake is held until the duel ends.`, "ok");
        $("leave-queue").hidden = false;
      } catch (err) { say($("queue-status"), err.message, "err"); }
    };
    box.appendChild(b);
  }
}
$("leave-queue").onclick = async () => {
  try { await send({ t: "queue_leave" }); ticket = null; $("leave-queue").hidden = true; say($("queue-status"), "You left the queue; your stake is released.", "ok"); }
  catch (err) { say($("queue-status"), err.message, "err"); }
};
$("deposit-form").onsubmit = async (e) => {
  e.preventDefault(); const amount = Math.round(Number($("deposit-amount").value) * config.minor_per_unit);
  try { const r = await api("/wallet/deposits", { method: "POST", body: { amount_minor: amount, reference: "web-" + Date.now() } });
    say($("wallet-msg"), r.message || "Deposit requested: it is credited once approved.", "ok"); loadWallet();
  } catch (err) { say($("wallet-msg"), err.message, "err"); }
};
$("withdraw-form").onsubmit = async (e) => {
  e.preventDefault(); const amount = Math.round(Number($("withdraw-amount").value) * config.minor_per_unit);
  // One key per form submission: a retried request (flaky network) holds the amount once.
  const key = "wd-" + Date.now() + "-" + Math.random().toString(36).slice(2);
  try { await api("/wallet/withdrawals", { method: "POST", body: { amount_minor: amount }, key });
    say($("wallet-msg"), "Withdrawal requested: the amount is held until an admin completes it.", "ok"); loadWallet();
  } catch (err) { say($("wallet-msg"), err.message, "err"); }
};
async function loadWallet() {
  try { const w = await api("/wallet?limit=15"); const ul = $("history"); ul.innerHTML = "";
    for (const t of w.history || []) {
      // A hold shows once: while pending as "held"; once resolved, its post (or nothing, if voided) tells the story.
      if (t.kind === "void" || (t.kind === "pending" && t.resolved)) continue;
      const li = document.createElement("li"); const label = t.kind === "pending" ? `${t.code} (held)` : t.code;
      li.textContent = `${new Date(t.created_at).toLocaleString()} · ${label} · ${t.direction === "out" ? "−" : "+"}${fmt(t.amount_minor)}`; ul.appendChild(li); }
  } catch {}
}
async function loadDuels() {
  try { const d = await api("/duels/history?limit=10"); const ul = $("duels"); ul.innerHTML = "";
    for (const x of d.items || []) { const li = document.createElement("li");
      li.textContent = `${new Date(x.settled_at).toLocaleString()} · ${x.score}–${x.opponent_score} · ${x.result} · stake ${fmt(x.stake_minor)}${x.payout_minor ? " · +" + fmt(x.payout_minor) : ""}`; ul.appendChild(li); }
  } catch {}
}
async function start() {
  try { config = Object.assign(config, await api("/config", { auth: false })); } catch {}
  $("mode-note").textContent = config.money_mode === "credits" ? "Balances are in credits." : "";
  let me; try { me = await api("/me"); } catch { store.clear(); $("login").hidden = false; $("home").hidden = true; return; }
  const user = me.user || me; localStorage.setItem("mp.user", user.id);
  $("who").textContent = user.display_name || user.phone || ""; $("login").hidden = true; $("home").hidden = false;
  renderBalances(me.balances || []); renderStakes(); loadWallet(); loadDuels(); connect();
}
if ("serviceWorker" in navigator) navigator.serviceWorker.register("/sw.js").catch(() => {});
if (store.access) start();
