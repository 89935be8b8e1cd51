// Weekly pools: weeks (draw, finalize), the grouping's audit seed, games with their markets and
// odds (add, change), results (final score, postponed, cancelled), settlement progress, and
// prizes waiting for an identity check. Pool bets are in whole pool credits; prizes in wallet money.
import { api, el, fmt, keyedTable, message, when } from "../lib.js";

const EVERY_MS = 3000;
const WEEK_STATE = { open: "open (passes sold)", drawing: "drawing", grouped: "grouped: pools playing", settled: "settled: prizes paid" };
const canAct = (me) => ["operator", "superadmin"].includes(me.role);
const canPay = (me) => ["finance", "superadmin"].includes(me.role);
const iso = (ms) => when(new Date(ms).toISOString());
function field(id, label, input) { return el("div", {}, el("label", { for: id, text: label }), input); }
const odds = (n) => (n > 0 ? `+${n}` : String(n));

export default {
  id: "pools", title: "Weekly pools", roles: null,
  async mount(root, { me }) {
    let week = null; const names = new Map();
    const weeks = keyedTable([
      { title: "week", render: (w) => w.id }, { title: "state", render: (w) => WEEK_STATE[w.state] || w.state },
      { title: "players", num: true, render: (w) => w.players }, { title: "pools", num: true, render: (w) => w.pools },
      { title: "starts", render: (w) => iso(w.start_ms) },
      { title: "draw seed (audit)", render: (w) => w.seed ? el("code", { class: "seed", text: w.seed.slice(0, 16) + "…", title: w.seed }) : "not drawn" },
      { title: "actions", actions: true, render: (w) => el("div", { class: "decide" },
        el("button", { type: "button", class: "secondary", text: "Games", onclick: () => pick(w.id) }),
        canAct(me) ? el("button", { type: "button", text: "Draw now", onclick: () => run(`/admin/pools/weeks/${w.id}/draw`, {}, (r) => r.drew ? `Drawn: ${r.players} players in ${r.pools} pools.` : "Not drawn: the week has not started, or it is already drawn.") }) : null,
        canAct(me) ? el("button", { type: "button", class: "secondary", text: "Finalize", onclick: () => run(`/admin/pools/weeks/${w.id}/finalize`, { force: false }, (r) => r.finalized ? "Final standings stored and prizes paid." : "Not yet: the week has not ended or bets are still open.") }) : null) },
    ], { empty: "No weeks yet: they appear when the first pass is sold." });
    const settlements = keyedTable([
      { title: "game", render: (s) => s.game || "game" }, { title: "result version", num: true, render: (s) => s.version },
      { title: "progress", render: (s) => el("span", {}, el("progress", { max: s.members_total || 1, value: s.members_done, "aria-label": "members settled" }), ` ${s.members_done}/${s.members_total} members`) },
      { title: "bets", num: true, render: (s) => s.bets_done }, { title: "state", render: (s) => s.state === "done" ? "done" : "running" },
    ], { key: (s) => `${s.event_id}:${s.version}`, empty: "No settlement yet." });
    const prizes = keyedTable([
      { title: "week", render: (p) => p.week_id }, { title: "player", render: (p) => names.get(p.user_id) || "player" },
      { title: "rank", num: true, render: (p) => p.rank }, { title: "prize", num: true, render: (p) => fmt(p.amount_minor, p.currency) },
      { title: "identity check", actions: true, render: (p) => canPay(me) ? el("button", { type: "button", text: "Identity checked: pay", onclick: () => run(`/admin/pools/prizes/${p.pool_id}/${p.user_id}/approve`, {}, () => "Prize paid.") }) : el("span", { class: "muted small", text: "finance pays" }) },
    ], { key: (p) => `${p.pool_id}:${p.user_id}`, empty: "No prize waits for a check." });
    const games = el("div", { class: "events" });
    const gamesTitle = el("h2", { text: "Games, markets and odds" });

    const form = el("form", { class: "card", id: "pool-game-form" }, el("h2", { text: "Add a game" }),
      el("div", { class: "row" }, field("g-home", "Home team", el("input", { id: "g-home", required: true })), field("g-away", "Away team", el("input", { id: "g-away", required: true })),
        field("g-sport", "Sport", el("input", { id: "g-sport", value: "soccer_epl", required: true })), field("g-start", "Starts (your time)", el("input", { id: "g-start", type: "datetime-local", required: true }))),
      el("div", { class: "row" }, field("g-ml-home", "Home win odds (American)", el("input", { id: "g-ml-home", type: "number", step: 1, value: -150 })),
        field("g-ml-away", "Away win odds", el("input", { id: "g-ml-away", type: "number", step: 1, value: 130 })),
        field("g-ml-draw", "Draw odds (empty: two-way)", el("input", { id: "g-ml-draw", type: "number", step: 1 }))),
      el("div", { class: "row" }, field("g-spread", "Home spread line", el("input", { id: "g-spread", type: "number", step: 0.5, value: -1.5 })),
        field("g-spread-odds", "Spread odds (both sides)", el("input", { id: "g-spread-odds", type: "number", step: 1, value: -110 })),
        field("g-total", "Total line", el("input", { id: "g-total", type: "number", step: 0.5, value: 2.5 })),
        field("g-total-odds", "Total odds (both sides)", el("input", { id: "g-total-odds", type: "number", step: 1, value: -110 }))),
      el("button", { type: "submit", text: "Add game" }));
    form.onsubmit = async (e) => {
      e.preventDefault(); const n = (id) => form.querySelector("#" + id).value;
      const sel = [{ market: "moneyline", side: "home", odds: +n("g-ml-home") }, { market: "moneyline", side: "away", odds: +n("g-ml-away") }];
      if (n("g-ml-draw")) sel.push({ market: "moneyline", side: "draw", odds: +n("g-ml-draw") });
      if (n("g-spread") !== "") sel.push({ market: "spread", side: "home", line: +n("g-spread"), odds: +n("g-spread-odds") }, { market: "spread", side: "away", line: -n("g-spread"), odds: +n("g-spread-odds") });
      if (n("g-total") !== "") sel.push({ market: "total", side: "over", line: +n("g-total"), odds: +n("g-total-odds") }, { market: "total", side: "under", line: +n("g-total"), odds: +n("g-total-odds") });
      await run("/admin/pools/events", { sport: n("g-sport"), home_team: n("g-home"), away_team: n("g-away"), commence_ms: new Date(n("g-start")).getTime(), three_way: !!n("g-ml-draw"), selections: sel }, () => "Game added.");
    };

    root.append(el("h2", { text: "Weekly pools" }),
      el("div", { class: "card" }, el("h2", { text: "Weeks and grouping" }), el("p", { class: "small muted", text: "A week is drawn at Monday 00:00 New York time: pass holders are shuffled with a recorded seed into pools of at most 100." }), el("div", { class: "scroll" }, weeks.table)),
      el("div", { class: "card" }, gamesTitle, games), canAct(me) ? form : null,
      el("div", { class: "card" }, el("h2", { text: "Settlement progress" }), el("div", { class: "scroll" }, settlements.table)),
      el("div", { class: "card" }, el("h2", { text: "Prizes waiting for an identity check" }), el("div", { class: "scroll" }, prizes.table)));

    async function run(path, body, words) {
      try { const r = await api(path, { method: "POST", body }); message(root, words(r), "ok"); await refresh(true); }
      catch (err) { message(root, err.message); }
    }
    function pick(id) { week = id; refresh(true); }

    function resultForm(ev) {
      if (!canAct(me)) return null;
      const hs = el("input", { type: "number", min: 0, step: 1, "aria-label": `${ev.home_team} score`, value: ev.home_score ?? "" });
      const as = el("input", { type: "number", min: 0, step: 1, "aria-label": `${ev.away_team} score`, value: ev.away_score ?? "" });
      const post = (status) => run(`/admin/pools/events/${ev.id}/result`, status === "final" ? { status, home_score: +hs.value, away_score: +as.value } : { status },
        () => status === "final" ? "Result saved: settlement started." : `Marked ${status}: its bets are void.`);
      return el("div", { class: "decide result-form" }, el("span", { class: "small", text: ev.home_team }), hs, el("span", { class: "small", text: ev.away_team }), as,
        el("button", { type: "button", text: ev.result_version ? "Correct result" : "Save final score", onclick: () => post("final") }),
        el("button", { type: "button", class: "secondary", text: "Postponed", onclick: () => post("postponed") }),
        el("button", { type: "button", class: "secondary", text: "Cancelled", onclick: () => post("cancelled") }));
    }
    function drawGames(r) {
      gamesTitle.textContent = `Games, markets and odds — ${r.week_id}`;
      const typing = games.contains(document.activeElement);
      if (typing) return;
      games.replaceChildren(...r.items.map((ev) => el("article", { class: "event", "data-event": ev.id },
        el("h3", { text: `${ev.away_team} at ${ev.home_team}` }),
        el("p", { class: "small muted", text: `${iso(ev.commence_ms)} · ${ev.status === "final" ? `final ${ev.home_score}–${ev.away_score}` : ev.status}${ev.open ? " · taking bets" : ""}${ev.result_version ? ` · result v${ev.result_version}, settled v${ev.settled_version ?? 0}` : ""}` }),
        el("p", { class: "small", text: ev.selections.map((s) => `${s.market} ${s.side}${s.line != null ? ` ${s.line}` : ""} ${odds(s.odds)}`).join(" · ") }),
        resultForm(ev))));
      if (!r.items.length) games.append(el("p", { class: "muted", text: "No games this week yet." }));
    }
    async function learnNames(items) {
      await Promise.all([...new Set(items.map((p) => p.user_id))].filter((u) => !names.has(u)).slice(0, 20).map(async (u) => {
        try { const p = await api(`/admin/players/${u}`); names.set(u, `${p.user.display_name} (${p.user.phone})`); } catch { names.set(u, "player"); }
      }));
    }
    async function refresh() {
      try {
        const [w, s, p] = await Promise.all([api("/admin/pools/weeks"), api("/admin/pools/settlements"), api("/admin/pools/prizes?state=held")]);
        weeks.update(w.items); settlements.update(s.items); await learnNames(p.items); prizes.update(p.items);
        if (!week) week = (w.items.find((x) => x.state === "grouped") || w.items[0])?.id;
        if (week) drawGames(await api(`/admin/pools/weeks/${week}/events`));
      } catch (err) { message(root, err.message); }
    }
    await refresh(); const timer = setInterval(refresh, EVERY_MS);
    return () => clearInterval(timer);
  },
};
