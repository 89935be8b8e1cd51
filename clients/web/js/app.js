// Matchpot player app (PWA): login, games from the server's registry, duels, wallet, limits.
// Plain ES modules, no build step. Speaks docs/protocol.md (JSON text frames) and docs/api.md.
import { api, ApiError, Live, session, store } from "./net.js";
import { cfg, describeTransfer, fmt, requestLine, toMinor, unitName, when } from "./words.js";
import { Duel } from "./duel.js";
import { Wagers } from "./wagers.js";
import { Compete } from "./compete.js";

const $ = (id) => document.getElementById(id);
const say = (el, text, cls = "") => { el.textContent = text; el.className = "msg " + cls; };
const app = { user: store.getJSON("mp.profile"), balances: [], queued: null, historyCursor: null, pollTimer: null };

// ---- config (cached for offline start)
async function loadConfig() {
  Object.assign(cfg, store.getJSON("mp.config") || {});
  try { const c = await api("/config", { auth: false }); Object.assign(cfg, c); store.setJSON("mp.config", c); } catch {}
  document.querySelectorAll("[data-unit]").forEach((el) => { el.textContent = unitName(); });
  $("wa-sim").hidden = !cfg.whatsapp?.simulator;
}

// ---- views
function show(view, params = []) {
  for (const v of ["login", "play", "wallet", "limits", "wagers", "compete"]) $("view-" + v).hidden = v !== view;
  if (view === "compete") compete.show(location.hash.replace(/^#\/compete\/?/, "").split("/").filter(Boolean)); else compete.hide();
  $("tabs").hidden = view === "login";
  const tab = view === "wagers" ? "play" : view;  // the wagers area is reached from the game list
  document.querySelectorAll("#tabs a").forEach((a) => { if (a.dataset.tab === tab) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current"); });
  if (view === "wallet") loadWallet(true);
  if (view === "limits") loadLimits();
  if (view === "wagers") wagers.show(params); else wagers.hide();
}
function route() {
  if (!store.access) { show("login"); return; }
  const [view, ...params] = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  if (view === "wagers" && !wagers.enabled) { location.hash = "#/play"; return; }
  show(["play", "wallet", "limits", "wagers", "compete"].includes(view) ? view : "play", params);
}
window.addEventListener("hashchange", route);

// ---- connection state and the offline banner
function setConn(state) {
  const pill = $("conn"); pill.hidden = !store.access;
  const offline = navigator.onLine === false || state === "offline";
  pill.className = "pill " + (offline ? "offline" : state);
  pill.textContent = offline ? "offline" : state === "live" ? "live" : "connecting…";
  $("offline").hidden = !offline || !store.access;
}
window.addEventListener("offline", () => setConn("offline"));
window.addEventListener("online", () => { setConn("connecting"); if (store.access) { live.reconnect(); loadMe(); } });

// ---- login
let loginPhone = "";
$("phone-form").onsubmit = async (e) => {
  e.preventDefault(); loginPhone = $("phone").value.trim();
  try { await api("/auth/otp/request", { method: "POST", body: { phone: loginPhone }, auth: false });
    $("code-form").hidden = false; say($("login-msg"), cfg.demo ? "Code sent. In the demo it is printed in the server log." : "Code sent by message.", "ok"); $("code").focus();
  } catch (err) { say($("login-msg"), err.message, "err"); }
};
$("code-form").onsubmit = async (e) => {
  e.preventDefault();
  try { const r = await api("/auth/otp/verify", { method: "POST", body: { phone: loginPhone, code: $("code").value.trim() }, auth: false });
    store.set(r); app.user = r.user; store.setJSON("mp.profile", r.user); location.hash = "#/play"; start();
  } catch (err) { say($("login-msg"), err.message, "err"); }
};
$("logout").onclick = async () => {
  try { await api("/auth/logout", { method: "POST", body: { refresh_token: store.refresh } }); } catch {}
  live.stop(); store.clear(); location.hash = ""; location.reload();
};
session.onEnded = () => { live.stop(); app.user = null; setConn("offline"); show("login"); say($("login-msg"), "Your session ended; log in again.", "err"); };

// ---- balances and games
function homeBalance() { return app.balances.find((b) => b.currency === cfg.currency) || { available_minor: 0, held_minor: 0 }; }
function renderBalances(list) {
  if (list) app.balances = list;
  const b = homeBalance();
  for (const id of ["balance", "wallet-balance"]) {
    const el = $(id); el.textContent = fmt(b.available_minor);
    if (b.held_minor) { const s = document.createElement("span"); s.className = "held"; s.textContent = `${fmt(b.held_minor)} on hold (stakes in play and withdrawals waiting)`; el.appendChild(s); }
  }
  $("zero-hint").hidden = b.available_minor > 0;
  renderGames();
}
function prizeOf(game, stake) {
  const g = cfg.games.find((x) => x.name === game); if (!g) return 0;
  const i = (g.stakes_minor || []).indexOf(stake); return i >= 0 && g.prizes_minor ? g.prizes_minor[i] : 0;
}
function renderGames() {
  const box = $("games"); box.innerHTML = "";
  const avail = homeBalance().available_minor;
  for (const g of cfg.games) {
    const card = document.createElement("div"); card.className = "game";
    const h = document.createElement("h3"); h.textContent = g.title; const p = document.createElement("p"); p.className = "small muted"; p.textContent = g.summary;
    if (g.name === "wager") {  // found through its own area (challenges, its own queue), not the duel queue
      const go = document.createElement("a"); go.className = "button"; go.href = "#/wagers"; go.id = "open-wagers"; go.textContent = "Open wagers";
      card.append(h, p, go); box.appendChild(card); continue;
    }
    const stakes = document.createElement("div"); stakes.className = "stakes";
    (g.stakes_minor || []).forEach((s, i) => {
      const b = document.createElement("button"); b.type = "button";
      b.innerHTML = `<span></span><span class="prize"></span>`;
      b.firstChild.textContent = `Stake ${fmt(s)}`;
      b.lastChild.textContent = g.prizes_minor ? `win ${fmt(g.prizes_minor[i])}` : "";
      const busy = app.queued || duel.active;
      b.disabled = busy || avail < s;
      b.title = avail < s ? "Your available balance is below this stake." : busy ? "You are already in a queue or a duel." : "";
      b.setAttribute("aria-label", `Stake ${fmt(s)}${g.prizes_minor ? `, win ${fmt(g.prizes_minor[i])}` : ""}${avail < s ? " (balance too low)" : ""}`);
      b.onclick = () => joinQueue(g.name, s);
      stakes.appendChild(b);
    });
    card.append(h, p, stakes); box.appendChild(card);
  }
  $("leave-queue").hidden = !app.queued;
}
async function joinQueue(game, stake) {
  try {
    const r = await live.request({ t: "queue_join", game, stake_minor: stake });
    app.queued = { game, stake_minor: stake, ticket_id: r.ticket_id };
    say($("queue-status"), `Looking for an opponent at ${fmt(stake)}… your stake is on hold until the duel ends or you leave.`, "ok");
    renderGames();
  } catch (err) { say($("queue-status"), err.message, "err"); location.hash = "#/play"; }
}
$("leave-queue").onclick = async () => {
  try { await live.request({ t: "queue_leave" }); app.queued = null; say($("queue-status"), "You left the queue; your stake is back in your balance.", "ok"); renderGames(); }
  catch (err) { say($("queue-status"), err.message, "err"); }
};

// ---- wallet
$("deposit-form").onsubmit = async (e) => {
  e.preventDefault(); const amount = toMinor($("deposit-amount").value);
  try { await api("/wallet/deposits", { method: "POST", body: { amount_minor: amount, reference: "web-" + Date.now() } });
    say($("wallet-msg"), `Deposit of ${fmt(amount)} requested: it is credited once approved.`, "ok"); $("deposit-amount").value = ""; loadWallet(true);
  } catch (err) { say($("wallet-msg"), err.message, "err"); }
};
$("withdraw-form").onsubmit = async (e) => {
  e.preventDefault(); const amount = toMinor($("withdraw-amount").value);
  const key = "wd-" + Date.now() + "-" + Math.random().toString(36).slice(2);  // one per submission
  try { await api("/wallet/withdrawals", { method: "POST", body: { amount_minor: amount }, key });
    say($("wallet-msg"), `Withdrawal of ${fmt(amount)} requested: the amount is on hold until it is approved.`, "ok"); $("withdraw-amount").value = ""; loadWallet(true);
  } catch (err) { say($("wallet-msg"), err.message, "err"); }
};
function li(what, amount, cls, at) {
  const el = document.createElement("li"); const w = document.createElement("span"); w.className = "what"; w.textContent = what;
  if (at) { const t = document.createElement("span"); t.className = "when"; t.textContent = when(at); w.appendChild(t); }
  el.appendChild(w);
  if (amount) { const a = document.createElement("span"); a.className = "amt " + cls; a.textContent = amount; el.appendChild(a); }
  return el;
}
async function loadRequests() {
  const [d, w] = await Promise.all([api("/wallet/deposits?limit=10"), api("/wallet/withdrawals?limit=10")]);
  const all = [...d.items.map((x) => ["deposit", x]), ...w.items.map((x) => ["withdrawal", x])]
    .sort((a, b) => b[1].created_at.localeCompare(a[1].created_at)).slice(0, 10);
  const ul = $("requests"); ul.innerHTML = "";
  for (const [kind, r] of all) { const el = li(requestLine(kind, r), "", "", r.decided_at || r.created_at); const tag = document.createElement("span"); tag.className = "tag " + r.state; tag.textContent = r.state === "rejected" ? "declined" : r.state; el.appendChild(tag); ul.appendChild(el); }
  if (!all.length) ul.appendChild(li("No deposits or withdrawals yet.", "", ""));
  const waiting = all.some(([, r]) => r.state === "pending");
  clearTimeout(app.pollTimer);
  if (waiting) app.pollTimer = setTimeout(() => loadRequests().catch(() => {}), 3000);  // a decision shows within seconds
}
async function loadWallet(fresh) {
  try {
    if (fresh) { app.historyCursor = null; $("history").innerHTML = ""; }
    const q = app.historyCursor ? `&before=${app.historyCursor}` : "";
    const w = await api("/wallet?limit=20" + q); renderBalances(w.balances);
    const ul = $("history");
    for (const t of w.history || []) { const text = describeTransfer(t); if (!text) continue;
      ul.appendChild(li(text, `${t.direction === "out" ? "−" : "+"}${fmt(t.amount_minor)}`, t.direction, t.created_at)); }
    if (!ul.children.length) ul.appendChild(li("Nothing yet: your deposits, stakes and prizes appear here.", "", ""));
    app.historyCursor = w.next_before; $("history-more").hidden = !w.next_before;
    await loadRequests();
    const s = cfg.limits || {};
    $("deposit-hint").textContent = s.deposit_min_minor ? `from ${fmt(s.deposit_min_minor)} to ${fmt(s.deposit_max_minor)}` : "";
    $("withdraw-hint").textContent = s.withdraw_min_minor ? `from ${fmt(s.withdraw_min_minor)}` : "";
  } catch (err) { if (err.offline) setConn("offline"); else say($("wallet-msg"), err.message, "err"); }
}
$("history-more").onclick = () => loadWallet(false);
async function loadDuels() {
  try { const d = await api("/duels/history?limit=10"); const ul = $("duels"); ul.innerHTML = "";
    for (const x of d.items || []) {
      const res = { won: "Won", lost: "Lost", draw: "Draw", refunded: "Stake returned" }[x.outcome || x.result] || (x.payout_minor ? "Won" : "Lost");
      ul.appendChild(li(`${res} ${x.score}–${x.opponent_score} · stake ${fmt(x.stake_minor)}`, x.payout_minor ? "+" + fmt(x.payout_minor) : "", "in", x.settled_at)); }
    if (!ul.children.length) ul.appendChild(li("No duels yet.", "", ""));
  } catch {}
}

// ---- responsible play
async function loadLimits() {
  try {
    const l = await api("/me/limits"); renderLimits(l);
  } catch (err) { say($("limits-msg"), err.message, "err"); }
}
function renderLimits(l) {
  const line = (x, used) => {
    let t = x.max_minor ? `now ${fmt(x.max_minor)} a day; ${fmt(used)} used in the last 24 hours` : "no limit set";
    if (x.pending) t += `; ${x.pending_max_minor ? fmt(x.pending_max_minor) : "no limit"} from ${when(l.pending_at)}`;
    return t;
  };
  $("limit-deposit-now").textContent = line(l.daily_deposit, l.used_deposit_minor);
  $("limit-stake-now").textContent = line(l.daily_stake, l.used_stake_minor);
  const sel = $("exclude-days"); sel.innerHTML = "";
  for (const d of l.exclusion_days) { const o = document.createElement("option"); o.value = d; o.textContent = d === 1 ? "1 day" : `${d} days`; sel.appendChild(o); }
  say($("exclude-msg"), l.excluded_until ? `You are taking a break until ${when(l.excluded_until)}: deposits and stakes are off until then.` : "", l.excluded_until ? "ok" : "");
  if (l.suspended) say($("limits-msg"), `Your account is suspended: ${l.suspended_reason}`, "err");
}
$("limits-form").onsubmit = async (e) => {
  e.preventDefault(); const body = {};
  const dep = $("limit-deposit").value.trim(), stk = $("limit-stake").value.trim();
  if (dep !== "") body.daily_deposit_max_minor = toMinor(dep);
  if (stk !== "") body.daily_stake_max_minor = toMinor(stk);
  if (!Object.keys(body).length) { say($("limits-msg"), "Enter a limit to set.", "err"); return; }
  try { const l = await api("/me/limits", { method: "PUT", body }); renderLimits(l);
    const waits = l.daily_deposit.pending || l.daily_stake.pending;
    say($("limits-msg"), waits ? `Saved. A higher limit takes effect after the cooling-off period, on ${when(l.pending_at)}.` : "Saved: your limits apply now.", "ok");
    $("limit-deposit").value = ""; $("limit-stake").value = "";
  } catch (err) { say($("limits-msg"), err.message, "err"); }
};
$("exclude-form").onsubmit = async (e) => {
  e.preventDefault(); const days = Number($("exclude-days").value);
  if (!confirm(`Stop deposits and stakes for ${days} day(s)? This cannot be shortened.`)) return;
  try { renderLimits(await api("/me/self-exclusion", { method: "POST", body: { days } })); }
  catch (err) { say($("exclude-msg"), err.message, "err"); }
};

// ---- live play
const live = new Live({
  onState: setConn,
  onWelcome: async (f) => {
    renderBalances(f.balances || []);
    wagers.onWelcome();
    compete.onWelcome();
    const saved = Duel.saved();
    if (saved && !duel.active) { await duel.resume(saved); return; }
    if (duel.active) { await duel.join(); return; }
    try {  // another tab, device or a cleared storage: ask the server for this player's live duel
      const mine = await live.request({ t: "my_rooms" });
      const room = (mine.items || []).filter((r) => r.game !== "wager")[0];
      if (room) {
        if (room.node && f.node && room.node !== f.node && room.ws_url) { live.reconnect(room.ws_url); }
        await duel.resume({ room_id: room.room_id, ws_url: room.ws_url, node: room.node, game: room.game, stake_minor: room.stake_minor,
          prize_minor: prizeOf(room.game, room.stake_minor), opponent: room.opponent?.display_name || "another player", seq: 0, joined: true });
        return;
      }
      app.queued = mine.queued || null;
      if (app.queued) say($("queue-status"), `Still looking for an opponent at ${fmt(app.queued.stake_minor)}…`, "ok");
      renderGames();
    } catch {}
  },
  onFrame: (f) => {
    if (duel.onFrame(f)) return;
    if (wagers.onFrame(f)) return;
    if (compete.onFrame(f)) return;
    if (f.t === "balance") { renderBalances(f.balances || []); if (!$("view-wallet").hidden) loadWallet(true); }
    else if (f.t === "match_found") {
      app.queued = null; say($("queue-status"), "");
      if (f.ws_url && f.node && live.node && f.node !== live.node) { live.reconnect(f.ws_url); }
      duel.begin(f, prizeOf(f.game, f.stake_minor)); renderGames();
    } else if (f.t === "queue_timeout") {
      app.queued = null; renderGames();
      say($("queue-status"), `No opponent came in time: your stake is back${f.bonus_minor ? `, with a bonus of ${fmt(f.bonus_minor)}` : ""}.`, "ok");
    } else if (f.t === "error") say($("queue-status"), f.msg, "err");
  },
});
const wagers = new Wagers({
  live, me: () => app.user?.id,
  refreshBalance: async () => { await loadMe(); return fmt(homeBalance().available_minor); },
});
const duel = new Duel(live, {
  me: () => app.user?.id,
  onEnd: () => { renderGames(); loadDuels(); },
  playAgain: (game, stake) => { location.hash = "#/play"; joinQueue(game || "quiz", stake); },
});

const compete = new Compete({ live, duel, me: () => app.user?.id });

// ---- start
async function loadMe() {
  try {
    const me = await api("/me"); app.user = me.user; store.setJSON("mp.profile", me.user);
    $("who").textContent = me.user.display_name || me.user.phone; renderBalances(me.balances || []);
    return true;
  } catch (err) {
    if (err instanceof ApiError && err.offline) { setConn("offline"); return false; }  // keep the session
    if (err.code === "account_suspended") { session.onEnded(); say($("login-msg"), err.message, "err"); }
    return false;
  }
}
async function start() {
  await loadConfig();
  if (!store.access) { route(); return; }
  if (app.user) $("who").textContent = app.user.display_name || app.user.phone;
  route(); renderBalances(app.balances); setConn(navigator.onLine === false ? "offline" : "connecting");
  await loadMe();
  if (!store.access) return;
  loadDuels(); live.connect();
}
if ("serviceWorker" in navigator) navigator.serviceWorker.register("/sw.js").catch(() => {});
start();
