// Weekly pools in the player app: this week (countdown, pass, buy-back), my pool and its live
// leaderboard (`pool_watch` → `pool_board`, resync on a gap or a reconnect), games and
// markets, the bet slip (potential return in whole credits and the rounding rule), my bets.
// Pool credits are whole credits of the week; prices come from the wallet (fmt).
import { el, credits, dateWords, duration, ordinal } from "./dom.js";

const MARKET = { moneyline: "Winner", spread: "Spread", total: "Total points" };
const GRADE = { win: "won", loss: "lost", push: "push: stake back", void: "void: stake back" };
const SLIP_DEBOUNCE_MS = 200;
const TICK_MS = 1000;

function sideWords(ev, s) {
  const team = s.side === "home" ? ev.home_team : s.side === "away" ? ev.away_team : null;
  if (s.market === "moneyline") return s.side === "draw" ? "Draw" : team;
  if (s.market === "spread") return `${team} ${s.line > 0 ? "+" : ""}${s.line}`;
  return `${s.side === "over" ? "Over" : "Under"} ${s.line}`;
}

export function poolsArea(ctx) {
  const { api, live, fmt, me } = ctx;
  let v = null;  // { root, week, offset, poolId, seq, tick, slip }

  const q = (sel) => v?.root.querySelector(sel);
  function say(sel, text, cls = "") { const m = q(sel); if (m) { m.textContent = text; m.className = "msg " + cls; } }
  const serverNow = () => Date.now() + (v?.offset || 0);

  function drawWeek() {
    const w = v.week, box = q("#p-week"), m = w.member;
    const next = w.next_week;
    box.replaceChildren(el("h2", { text: "This week" }),
      el("p", { class: "countdown" }, "Next draw in ", el("b", { id: "p-countdown", text: duration(w.countdown_ms) })),
      el("p", { class: "small muted", text: `A week runs Monday 00:00 to Monday 00:00 New York time. Each player gets ${credits(1000)} to bet on real games; the leaderboard decides the prizes.` }));
    if (m) {
      box.append(el("div", { class: "p-me" },
        el("p", {}, `You are in pool ${m.pool_number}, seat ${m.seat}. `, el("b", { id: "p-credits", text: credits(m.credits) }), " in hand",
          m.open_stake ? `, ${credits(m.open_stake)} in open bets` : "", ".")));
      if (m.buyback_open && !m.buyback_used) {
        box.append(el("p", { class: "small", text: `Out of credits? Buy back ${credits(1000)} once this week, until ${dateWords(m.buyback_until_ms, "America/New_York")} New York time.` }),
          el("button", { type: "button", class: "secondary", text: "Buy back 1,000 credits", onclick: () => buy("buyback") }));
      } else if (m.buyback_used) box.append(el("p", { class: "small muted", text: "You used this week's buy-back." }));
    } else if (w.this_week?.state === "grouped") {
      box.append(el("p", { class: "small", text: "This week's pools are already drawn. Register now to play next week." }));
    }
    if (w.registered_next_week) box.append(el("p", { class: "ok", id: "p-registered", text: w.registered_text }));
    else if (next) box.append(el("button", { type: "button", id: "p-buy-pass", text: "Register for next week", onclick: () => buy("pass") }));
    box.append(el("p", { id: "p-week-msg", class: "msg", "aria-live": "polite" }));
  }

  async function buy(kind) {
    try {
      const r = await api("/pools/purchases", { method: "POST", body: { kind, provider: "wallet", idem_key: `${kind}-${v.week.next_week?.id}-${crypto.randomUUID()}` } });
      if (r.checkout_url) { location.href = r.checkout_url; return; }
      const done = kind === "pass" ? `Registered for next week${r.amount_minor ? `: ${fmt(r.amount_minor)} paid from your wallet` : ""}.`
        : `Bought back ${credits(1000)}${r.amount_minor ? ` for ${fmt(r.amount_minor)}` : ""}.`;
      await loadWeek(); drawWeek(); say("#p-week-msg", done, "ok");
    } catch (err) { say("#p-week-msg", err.message, "err"); }
  }

  function drawBoard(f) {
    const list = q("#p-board"); if (!list) return;
    const changed = new Set(f.changed || []);
    const mine = f.standings.find((s) => s.user_id === me());
    const rows = f.standings.map((s) => el("tr", { class: [s.user_id === me() ? "me" : "", changed.has(s.user_id) ? "changed" : ""].join(" ").trim() || null, "data-user": s.user_id },
      el("td", { class: "num", text: ordinal(s.rank) }), el("td", { text: s.user_id === me() ? `${s.name} (you)` : s.name }), el("td", { class: "num", text: credits(s.credits) })));
    list.replaceChildren(...rows);
    const said = q("#p-board-say");
    if (mine && said) {
      const prev = v.lastRank; v.lastRank = mine.rank;
      said.textContent = prev && prev !== mine.rank ? `You moved ${mine.rank < prev ? "up" : "down"} to ${ordinal(mine.rank)} with ${credits(mine.credits)}.` : `You are ${ordinal(mine.rank)} of ${f.standings.length} with ${credits(mine.credits)}.`;
    }
    if (changed.has(me())) {  // the board counts open bets too: reload the credits in hand
      loadWeek().then(() => { const c = q("#p-credits"); if (c && v.week.member) c.textContent = credits(v.week.member.credits); }).catch(() => {});
    }
  }

  async function watchBoard() {
    if (!v?.week.member) return;
    try { const f = await live.request({ t: "pool_watch" }); if (!v) return; v.poolId = f.pool_id; v.seq = f.seq; say("#p-board-msg", ""); drawBoard(f); }
    catch (err) { say("#p-board-msg", err.offline ? "Connecting to the live leaderboard…" : err.message, err.offline ? "" : "err"); }
  }

  function drawEvents(items) {
    const box = q("#p-events"); box.replaceChildren();
    if (!items.length) { box.append(el("p", { class: "muted", text: "No games listed for this week yet." })); return; }
    for (const ev of items) {
      const status = ev.status === "final" ? `Final: ${ev.home_team} ${ev.home_score}–${ev.away_score} ${ev.away_team}`
        : ev.status === "postponed" || ev.status === "cancelled" ? `${ev.status === "postponed" ? "Postponed" : "Cancelled"}: bets are void, stakes back`
        : ev.open ? `Starts ${dateWords(ev.commence_ms)} · bets close at the start` : "Started: bets closed";
      const markets = {};
      for (const s of ev.selections) (markets[s.market] ||= []).push(s);
      box.append(el("article", { class: "event" }, el("h3", { text: `${ev.away_team} at ${ev.home_team}` }), el("p", { class: "small muted", text: status }),
        Object.entries(markets).map(([mk, sels]) => el("div", { class: "market" }, el("span", { class: "small muted", text: MARKET[mk] || mk }),
          el("div", { class: "odds" }, sels.map((s) => el("button", { type: "button", class: "odd", disabled: !ev.open || !v.week.member,
            "aria-label": `${MARKET[s.market]}: ${sideWords(ev, s)} at ${s.odds_text}`, onclick: () => openSlip(ev, s) },
            el("span", { text: sideWords(ev, s) }), el("b", { text: s.odds_text }))))))));
    }
  }

  function openSlip(ev, s) {
    v.slip = { ev, s, key: crypto.randomUUID() };
    const box = q("#p-slip"); box.hidden = false;
    q("#p-slip-what").textContent = `${MARKET[s.market]}: ${sideWords(ev, s)} at ${s.odds_text} (${ev.away_team} at ${ev.home_team})`;
    const stake = q("#p-stake"); stake.value = stake.value || "100"; updateSlip(); stake.focus();
    box.scrollIntoView({ block: "nearest" });
  }
  let slipTimer = null;
  function updateSlip() {
    clearTimeout(slipTimer);
    slipTimer = setTimeout(async () => {
      if (!v?.slip) return; const stake = Number(q("#p-stake").value);
      if (!Number.isInteger(stake) || stake <= 0) { q("#p-return").textContent = "Enter a whole number of credits."; return; }
      try { const r = await api("/pools/slip", { method: "POST", body: { stake, odds: v.slip.s.odds } });
        q("#p-return").textContent = `Potential return ${credits(r.potential_return)} (your ${credits(r.stake)} back plus ${credits(r.profit)}).`;
        q("#p-rule").textContent = r.rule;
      } catch (err) { q("#p-return").textContent = err.message; }
    }, SLIP_DEBOUNCE_MS);
  }
  async function placeBet(e) {
    e.preventDefault(); if (!v.slip) return;
    const stake = Number(q("#p-stake").value), btn = q("#p-place"); btn.disabled = true;
    try {
      const b = await api("/pools/bets", { method: "POST", body: { selection_id: v.slip.s.id, stake, client_key: v.slip.key, odds: v.slip.s.odds } });
      say("#p-slip-msg", `Bet placed: ${credits(b.stake)} on ${sideWords(v.slip.ev, v.slip.s)}, potential return ${credits(b.potential_return)}.`, "ok");
      v.slip = null; q("#p-slip").hidden = true; loadBets(); loadWeek().then(drawWeek).catch(() => {});
    } catch (err) { say("#p-slip-msg", err.message, "err"); }
    finally { btn.disabled = false; }
  }

  async function loadBets() {
    const r = await api("/pools/bets"); const ul = q("#p-bets"); if (!ul) return; ul.replaceChildren();
    for (const b of r.items) {
      const line = b.line == null ? "" : b.market === "total" ? ` ${b.line}` : ` ${b.line > 0 ? "+" : ""}${b.line}`;
      const pick = b.market === "moneyline" ? (b.side === "draw" ? "Draw" : b.side === "home" ? b.game.split(" @ ")[1] : b.game.split(" @ ")[0])
        : b.market === "spread" ? `${b.side === "home" ? b.game.split(" @ ")[1] : b.game.split(" @ ")[0]}${line}` : `${b.side === "over" ? "Over" : "Under"}${line}`;
      const state = b.grade ? `${GRADE[b.grade] || b.grade}${b.returned ? `: ${credits(b.returned)} returned` : ""}` : `open: returns ${credits(b.potential_return)} if it wins`;
      ul.append(el("li", {}, el("span", { class: "what" }, `${credits(b.stake)} on ${pick} at ${b.odds > 0 ? "+" : ""}${b.odds}`, el("span", { class: "when", text: `${b.game.replace(" @ ", " at ")} · ${state}` }))));
    }
    if (!r.items.length) ul.append(el("li", { class: "muted", text: "No bets yet this week." }));
  }

  async function loadWeek() { const w = await api("/pools/week"); if (v) { v.week = w; v.offset = w.now_ms - Date.now(); v.drawAt = Date.now() + w.countdown_ms; } return w; }

  return {
    async mount(root) {
      v = { root, week: null, offset: 0, poolId: null, seq: 0, slip: null, lastRank: null };
      root.append(
        el("div", { class: "card", id: "p-week" }),
        el("div", { class: "card", id: "p-pool" }, el("h2", { text: "My pool: live leaderboard" }),
          el("p", { id: "p-board-say", class: "small", "aria-live": "polite" }), el("p", { id: "p-board-msg", class: "msg", "aria-live": "polite" }),
          el("div", { class: "table-scroll" }, el("table", { class: "standings" }, el("thead", {}, el("tr", {}, el("th", { class: "num", text: "Rank" }), el("th", { text: "Player" }), el("th", { class: "num", text: "Credits" }))), el("tbody", { id: "p-board" }))),
          el("p", { class: "small muted", text: "Credits count what you hold plus open bets. Equal credits share a rank; the draw's seat order lists them." })),
        el("div", { class: "card" }, el("h2", { text: "Games and markets" }), el("div", { id: "p-events", class: "events" })),
        el("form", { class: "card slip", id: "p-slip", hidden: true, onsubmit: placeBet, "aria-label": "Bet slip" }, el("h2", { text: "Bet slip" }), el("p", { id: "p-slip-what" }),
          el("label", { for: "p-stake", text: "Stake " }, el("span", { class: "hint", text: "whole credits, from 10 to 1,000" })),
          el("div", { class: "unit-input" }, el("input", { id: "p-stake", type: "number", min: 1, step: 1, inputmode: "numeric", required: true, oninput: () => updateSlip() }), el("span", { class: "unit", text: "credits" })),
          el("p", { id: "p-return", class: "return", "aria-live": "polite" }), el("p", { id: "p-rule", class: "small muted" }),
          el("div", { class: "row" }, el("button", { id: "p-place", type: "submit", text: "Place bet" }),
            el("button", { type: "button", class: "secondary", text: "Close", onclick: () => { v.slip = null; q("#p-slip").hidden = true; } }))),
        el("p", { id: "p-slip-msg", class: "msg", "aria-live": "polite" }),
        el("div", { class: "card" }, el("h2", { text: "My bets" }), el("ul", { id: "p-bets", class: "list" })));
      await loadWeek(); drawWeek();
      q("#p-pool").hidden = !v.week.member;
      const [events] = await Promise.all([api("/pools/events"), v.week.member ? loadBets() : Promise.resolve()]);
      drawEvents(events.items);
      if (!v.week.member) q("#p-bets").closest(".card").hidden = true;
      await watchBoard();
      v.tick = setInterval(() => { const c = q("#p-countdown"); if (c) c.textContent = duration(v.drawAt - Date.now()); }, TICK_MS);
      const mine = v;
      return () => { clearInterval(mine.tick); if (mine.poolId) live.request({ t: "pool_unwatch", pool_id: mine.poolId }).catch(() => {}); if (v === mine) v = null; };
    },
    onWelcome() { if (v?.week?.member) watchBoard(); },  // (re)connected: a fresh snapshot
    onFrame(f) {
      if (f.t !== "pool_board") return false;
      if (!v || f.pool_id !== v.poolId) return true;
      if (f.seq <= v.seq) return true;                       // old news
      if (f.seq > v.seq + 1) { watchBoard(); return true; }  // a gap: take a fresh snapshot
      v.seq = f.seq; drawBoard(f); return true;
    },
  };
}
