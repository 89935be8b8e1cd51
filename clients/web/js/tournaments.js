// Tournaments in the player app: the list, a tournament's page (register, leave, check in),
// its live bracket or Swiss table fed by `tournament_watch` (docs/protocol.md, "Tournaments")
// with a resync after a gap or a reconnect, and "your match is ready" into the duel room.
import { el, dateWords, ordinal } from "./dom.js";
import { drawView, formatName } from "./bracket.js";

const STATUS = { registration: "Open for entries", checkin: "Check-in open", running: "Playing", paused: "Paused",
  finished: "Finished", cancelled: "Cancelled" };
const REFRESH_DEBOUNCE_MS = 250;
// Before the start a tournament has no live stream (the bracket feed exists once it runs):
// the page asks every 3 s, at most 1200 times (an hour), and watches once play begins.
const POLL_MS = 3000, POLL_MAX = 1200;

export function tournamentsArea(ctx) {
  const { api, live, fmt, me } = ctx;
  let page = null;   // the open tournament page: { id, root, seq, names, detail, timer }

  async function mountList(root) {
    const list = el("div", { class: "t-list", "aria-live": "polite" });
    root.append(el("div", { class: "card" }, el("h2", { text: "Tournaments" }),
      el("p", { class: "small muted", text: "Pay the entry fee once, play quiz duels round by round; prizes come from the entry fees." }), list));
    const r = await api("/tournaments?status=registration,checkin,running,paused,finished");
    if (!r.items.length) list.append(el("p", { class: "muted", text: "No tournaments right now. Check back soon." }));
    for (const t of r.items) {
      list.append(el("a", { class: "t-item", href: `#/compete/tournaments/${t.id}` },
        el("span", { class: "t-name", text: t.name }),
        el("span", { class: "small muted", text: `${formatName(t.format)} · entry ${fmt(t.entry_fee_minor)} · ${t.entrants}/${t.max_players} players` }),
        el("span", { class: `tag t-${t.status}`, text: STATUS[t.status] || t.status }),
        t.starts_at_ms && ["registration", "checkin"].includes(t.status) ? el("span", { class: "small muted", text: `Starts ${dateWords(t.starts_at_ms)}` }) : null));
    }
  }

  function myEntry(d) { return d.entrants.find((e) => e.user_id === me()); }

  function actions(d) {
    const t = d.tournament, mine = myEntry(d), box = el("div", { class: "row" });
    const active = mine && ["registered", "checked_in", "playing"].includes(mine.status);
    const act = (label, frame, cls, done) => el("button", { type: "button", class: cls || null, text: label, onclick: async (e) => {
      e.target.disabled = true;
      try { const r = await live.request({ ...frame, tournament_id: t.id }); say(done(r), "ok"); await refresh(); }
      catch (err) { say(err.message, "err"); e.target.disabled = false; }
    } });
    if (t.status === "registration" && !active)
      box.append(act(`Enter for ${fmt(t.entry_fee_minor)}`, { t: "tournament_register" }, null,
        () => `You are in. The entry fee of ${fmt(t.entry_fee_minor)} is on hold until the start; leave before then for a full refund.`));
    if (["registration", "checkin"].includes(t.status) && active)
      box.append(act("Leave and get the fee back", { t: "tournament_leave" }, "secondary", (r) => `You left; ${fmt(r.refunded_minor)} is back in your balance.`));
    if (t.status === "checkin" && mine?.status === "registered")
      box.append(act("Check in", { t: "tournament_checkin" }, null, () => "Checked in: you will be in the draw."));
    const ready = d.matches.find((m) => (m.a === me() || m.b === me()));
    if (ready && t.status === "running") {
      if (ready.room_id) box.append(el("button", { type: "button", text: "Play your match now", onclick: () => enterMatch(t.id, ready) }));
      else if (!ready.checked_in.includes(me()))
        box.append(act("Your match is ready: check in", { t: "tournament_checkin" }, null,
          (r) => r.room_id ? "Both in: your duel is starting." : "Checked in; waiting for your opponent."));
      else box.append(el("p", { class: "small muted", text: "You checked in; waiting for your opponent." }));
    }
    return box;
  }

  function say(text, cls = "") { if (!page) return; const m = page.root.querySelector("#t-msg"); if (m) { m.textContent = text; m.className = "msg " + cls; } }

  function render() {
    const d = page.detail, t = d.tournament, mine = myEntry(d);
    page.names = new Map(d.entrants.map((e) => [e.user_id, e.user_id === me() ? "You" : e.display_name || "player"]));
    const name = (u) => page.names.get(u) || "player";
    const head = page.root.querySelector("#t-head"), body = page.root.querySelector("#t-view"), people = page.root.querySelector("#t-people");
    const facts = [`${formatName(t.format)} of quiz duels`, `entry ${fmt(t.entry_fee_minor)}`,
      `${d.entrants.filter((e) => e.status !== "left").length} of ${t.max_players} players (at least ${t.min_players})`];
    if (t.guarantee_minor) facts.push(`prize fund at least ${fmt(t.guarantee_minor)}`);
    head.replaceChildren(...[
      el("h2", { text: t.name }), el("span", { class: `tag t-${t.status}`, text: STATUS[t.status] || t.status }),
      el("p", { class: "small", text: facts.join(" · ") }),
      t.starts_at_ms && ["registration", "checkin"].includes(t.status) ? el("p", { class: "small", text: `Starts ${dateWords(t.starts_at_ms)}.` }) : null,
      mine?.place ? el("p", { class: "ok", text: `You finished ${ordinal(mine.place)}${mine.prize_minor ? `: ${fmt(mine.prize_minor)} prize` : ""}.` }) : null,
      t.status === "cancelled" ? el("p", { class: "small", text: "This tournament was cancelled; every entry fee was returned." }) : null,
      actions(d)].filter(Boolean));
    drawView(body, d.view, { name, me: me() });
    people.replaceChildren(...d.entrants.filter((e) => e.status !== "left").map((e) =>
      el("li", {}, el("span", { class: "what", text: name(e.user_id) }), el("span", { class: "small muted", text: entrantWords(e) }))));
  }
  function entrantWords(e) {
    return { registered: "entered", checked_in: "checked in", playing: "playing", dropped: "did not check in", withdrawn: "out",
      disqualified: "disqualified", refunded: "fee returned" }[e.status] || "";
  }

  async function refresh() {
    if (!page) return;
    const d = await api(`/tournaments/${page.id}`);
    if (!page) return;
    page.detail = d; if (typeof d.seq === "number" && d.seq > page.seq) page.seq = d.seq;
    render();
    if (["running", "paused"].includes(d.tournament.status) && !page.watching && !page.watchTried) { page.watchTried = true; await watch(); }
  }
  function refreshSoon() { clearTimeout(page?.timer); if (page) page.timer = setTimeout(() => refresh().catch(() => {}), REFRESH_DEBOUNCE_MS); }

  async function watch() {
    if (!page) return;
    try { const r = await live.request({ t: "tournament_watch", tournament_id: page.id, ...(page.seq >= 0 ? { since_seq: page.seq } : {}) });
      page.watching = true; if (!r.resumed) page.seq = r.seq; page.root.querySelector("#t-live").textContent = "Live: results appear as they come in."; }
    catch { page.watching = false; }  // not running here (yet): the poll below keeps the page fresh
  }

  async function mountDetail(root, id) {
    page = { id, root, seq: -1, names: new Map(), detail: null, timer: null, watching: false, watchTried: false, polls: 0 };
    root.append(el("p", {}, el("a", { href: "#/compete/tournaments", text: "← All tournaments" })),
      el("div", { class: "card", id: "t-head" }), el("p", { id: "t-msg", class: "msg", "aria-live": "polite" }),
      el("div", { class: "card" }, el("h2", { text: "Bracket" }), el("p", { id: "t-live", class: "small muted", "aria-live": "polite" }), el("div", { id: "t-view", class: "t-view" })),
      el("div", { class: "card" }, el("h2", { text: "Players" }), el("ul", { id: "t-people", class: "list" })));
    await refresh();
    const mine = page;
    mine.poll = setInterval(() => {
      if (page !== mine || mine.polls++ > POLL_MAX) { clearInterval(mine.poll); return; }
      if (!mine.watching) refresh().catch(() => {});
    }, POLL_MS);
  }

  function announce(f) {
    if (!page) return;
    const name = (u) => page.names.get(u) || "a player", line = page.root.querySelector("#t-live");
    const words = {
      match_result: () => f.winner ? `${name(f.winner)} won${f.forfeit ? " by forfeit" : ""} against ${name(f.winner === f.a ? f.b : f.a)}.` : "A match ended in a draw.",
      result_replaced: () => "A result was corrected by the organisers.",
      started: () => "The tournament has started: the draw is made.",
      match_started: () => "A match has started.", registered: () => "A player entered.", left: () => "A player left.",
      finished: () => "The tournament is over.", paused: () => "Paused by the organisers.", running: () => "Play resumed.",
      cancelled: () => "The tournament was cancelled; every entry fee was returned.", disqualified: () => "A player was disqualified.",
    }[f.event];
    if (words && line) line.textContent = words();
  }

  async function enterMatch(tid, m) {
    const opp = m.a === me() ? m.b : m.a;
    await ctx.duel.seatTournament({ tournament_id: tid, room_id: m.room_id, opponent: page?.names.get(opp) || "your opponent" });
  }

  return {
    async mount(root, params) {
      page = null;
      if (params[0]) await mountDetail(root, params[0]); else await mountList(root);
      return () => { if (page?.watching) live.request({ t: "tournament_unwatch", tournament_id: page.id }).catch(() => {}); clearTimeout(page?.timer); clearInterval(page?.poll); page = null; };
    },
    onWelcome() { if (page) { page.watching = false; page.watchTried = false; refreshSoon(); } },
    onFrame(f) {
      if (!f.t?.startsWith("tournament_")) return false;
      const here = page && f.tournament_id === page.id;
      if (f.t === "tournament_state" && here) {
        page.seq = f.seq; if (page.detail) { page.detail.view = f.view; page.detail.matches = f.matches || []; page.detail.tournament.status = f.status; render(); }
      } else if (f.t === "tournament_update" && here) {
        if (page.seq >= 0 && f.seq > page.seq + 1) { watch(); return true; }  // a gap: resync from the last seq we hold
        page.seq = Math.max(page.seq, f.seq); announce(f); refreshSoon();
      } else if (f.t === "tournament_match_ready") {
        ctx.toast(`Your match is ready: check in before ${dateWords(f.checkin_deadline_ms)}.`, { label: "Open", href: `#/compete/tournaments/${f.tournament_id}` });
        if (here) refreshSoon();
      } else if (f.t === "tournament_match_started") {
        ctx.toast("Your match is starting: taking you to the duel.");
        const opp = page?.detail?.matches.find((m) => m.match_id === f.match_id);
        const oppId = opp ? (opp.a === me() ? opp.b : opp.a) : null;
        ctx.duel.seatTournament({ tournament_id: f.tournament_id, room_id: f.room_id, opponent: (oppId && page?.names.get(oppId)) || "your opponent" });
      } else if (f.t === "tournament_match_result") {
        ctx.toast(f.winner === me() ? (f.advanced ? "You won your match and advance!" : "You won your match.") : "Your match is over: you are out of this one.");
        if (here) refreshSoon();
      } else if (f.t === "tournament_finished") {
        ctx.toast(`Tournament over: you finished ${ordinal(f.place)}${f.prize_minor ? ` and won a prize of ${fmt(f.prize_minor)}` : ""}.`);
        if (here) refreshSoon();
      } else if (f.t === "tournament_cancelled") {
        ctx.toast(`A tournament was cancelled${f.reason ? ` (${f.reason})` : ""}: ${fmt(f.refunded_minor)} is back in your balance.`);
        if (here) refreshSoon();
      } else if (f.t === "tournament_dropped") {
        ctx.toast(`You did not check in, so you are not in the draw: ${fmt(f.refunded_minor)} is back in your balance.`);
      } else if (f.t === "tournament_checkin_open") {
        ctx.toast("Check-in is open for your tournament: check in to play.", { label: "Check in", href: `#/compete/tournaments/${f.tournament_id}` });
        if (here) refreshSoon();
      } else return here;
      return true;
    },
  };
}
