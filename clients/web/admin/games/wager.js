// How the console draws a live wager match: both players with their gamer tags, the agreed
// rules, who is ready, what each reported, a dispute, the result (never the players' chat).
import { el, fmt } from "../lib.js";

const PHASES = { ready_check: "ready check", playing: "playing", reported: "waiting for confirmation", disputed: "in dispute",
  settling: "settling", finished: "finished", suspended: "paused (server restarting)" };
const MODES = { gunfight: "Gunfight", snd: "Search and Destroy", tdm: "Team Deathmatch" };
const PLATFORMS = { psn: "PlayStation", xbox: "Xbox", pc: "PC" };
const RESULTS = { win: "both agreed", confirmed: "the report stood", ruled: "an admin ruled", no_show: "no-show: stakes returned",
  no_report: "nobody reported: stakes returned", cancelled: "cancelled by both: stakes returned", ruled_void: "voided by an admin: stakes returned" };

export function apply(model, f) {
  const st = model.state; st.ready ||= []; st.cancels ||= []; st.reports ||= {};
  if (f.t === "wager_player_ready" && !st.ready.includes(f.user_id)) st.ready.push(f.user_id);
  if (f.t === "wager_playing") { st.phase = "playing"; model.deadline_ms = f.deadline_ms; }
  if (f.t === "wager_reported") { st.reports[f.user_id] = { result: f.result, score: f.score };
    if (f.confirm_deadline_ms) { st.phase = "reported"; model.deadline_ms = f.confirm_deadline_ms; } }
  if (f.t === "wager_disputed") { st.phase = "disputed"; st.dispute = { reason: f.reason, by: f.by }; model.deadline_ms = null; }
  if (f.t === "wager_cancel_requested" && !st.cancels.includes(f.user_id)) st.cancels.push(f.user_id);
  if (f.t === "wager_resumed") { st.phase = f.phase; model.deadline_ms = f.deadline_ms; }
  if (f.t === "wager_result") { st.phase = "finished"; st.result = f; model.deadline_ms = null; }
}

export function draw(model, names) {
  const st = model.state; const terms = st.terms || {}; const tags = terms.tags || {};
  const ids = (model.players || []).map((p) => p.user_id);
  const players = (model.players || []).map((p) => {
    const r = (st.reports || {})[p.user_id]; const ready = (st.ready || []).includes(p.user_id);
    return el("div", { class: "player" + (p.connected === false ? " off" : "") },
      el("span", { text: (names[p.user_id] || "player") + (p.connected === false ? " (away)" : "") }),
      el("div", { class: "tagline", text: tags[p.user_id] || "" }),
      st.phase === "ready_check" ? el("div", { class: ready ? "ready" : "waiting", text: ready ? "ready" : "not ready" }) : null,
      r ? el("div", { class: "small", text: "reports" }) : null,
      r ? el("b", { text: `${r.result}${r.score ? " " + r.score : ""}` }) : null,
      (st.cancels || []).includes(p.user_id) ? el("div", { class: "small", text: "asked to cancel" }) : null);
  });
  const parts = [el("div", { class: "players" }, players)];
  parts.push(el("div", { class: "small", text: `${MODES[terms.mode] || terms.mode || "wager"} on ${PLATFORMS[terms.platform] || terms.platform || "?"} · stake ${fmt(terms.stake_minor || model.stake_minor || 0)} each · ${PHASES[st.phase] || st.phase}` }));
  if (terms.rules || (terms.maps || []).length) parts.push(el("div", { class: "q", text: [terms.rules, (terms.maps || []).join(", ")].filter(Boolean).join(" · ") }));
  if (st.dispute) parts.push(el("p", { text: st.dispute.by ? `Dispute opened by ${names[st.dispute.by] || "a player"}: “${st.dispute.reason}”` : "Dispute: both claimed the same result." }));
  if (st.result) {
    const w = st.result.winner; const why = RESULTS[st.result.result] || st.result.result;
    parts.push(el("p", { text: w ? `${names[w] || "player"} won ${fmt((st.result.payouts_minor || {})[w] || 0)} (${why}).` : `No winner: ${why}.` }));
    if (st.result.reason) parts.push(el("p", { class: "small", text: `Ruling: ${st.result.reason}` }));
  }
  if (!ids.length) parts.push(el("p", { class: "small", text: "No players seated." }));
  return parts;
}
