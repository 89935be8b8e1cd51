// Draws a tournament's view (competitions/*.py `view()`): an elimination tree, a Swiss
// standings table with its rounds, or round-robin groups. Used by the app and the console.
import { el, ordinal } from "./dom.js";

const FORMAT = { single_elimination: "Single elimination", double_elimination: "Double elimination", swiss: "Swiss", round_robin: "Round robin" };
export function formatName(f) { return FORMAT[f] || "Tournament"; }
const BRACKET = { winners: "Winners' bracket", losers: "Losers' bracket", final: "Grand final", grand_final: "Grand final", reset: "Final reset" };

function roundName(bracket, r, rounds) {
  if (bracket !== "winners") return `Round ${r}`;
  const left = rounds - r;
  return left === 0 ? "Final" : left === 1 ? "Semi-finals" : left === 2 ? "Quarter-finals" : `Round ${r}`;
}

/** One match: both names, the winner marked; `mine` highlights the player's own. */
function matchBox(m, name, me, extra) {
  const side = (p) => {
    const won = m.winner && p && m.winner === p;
    const cls = ["side", won ? "won" : "", m.winner && p && !won ? "lost" : "", p && p === me ? "me" : ""].join(" ").trim();
    return el("div", { class: cls }, el("span", { class: "name", text: p ? name(p) : m.bye ? "bye" : "to be decided" }),
      won ? el("span", { class: "mark", text: m.forfeit ? "won (forfeit)" : "won" }) : null);
  };
  const mine = me && (m.a === me || m.b === me);
  return el("li", { class: "match" + (mine ? " mine" : "") + (m.winner ? " done" : ""), "data-match": m.match_id },
    side(m.a), side(m.b), extra ? extra(m) : null);
}

/** The whole view into `root` (replaced). `name(user_id)` gives a display name. */
export function drawView(root, view, { name = (u) => u, me = null, extra = null } = {}) {
  root.replaceChildren();
  if (!view) { root.append(el("p", { class: "muted", text: "The draw is made when the tournament starts." })); return; }
  if (view.format === "swiss") return drawSwiss(root, view, name, me, extra);
  if (view.format === "round_robin") return drawGroups(root, view, name, me, extra);
  const brackets = [...new Set(view.matches.map((m) => m.bracket))];
  if (view.champion) root.append(el("p", { class: "champion", text: `Champion: ${name(view.champion)}` }));
  for (const b of brackets) {
    const ms = view.matches.filter((m) => m.bracket === b);
    const rounds = [...new Set(ms.map((m) => m.round))].sort((x, y) => x - y);
    const maxRound = Math.max(...rounds);
    const tree = el("div", { class: "tree", role: "group", "aria-label": BRACKET[b] || b });
    for (const r of rounds) {
      tree.append(el("section", { class: "round" }, el("h4", { text: roundName(b, r, maxRound) }),
        el("ol", { class: "matches" }, ms.filter((m) => m.round === r).map((m) => matchBox(m, name, me, extra)))));
    }
    if (brackets.length > 1) root.append(el("h3", { text: BRACKET[b] || b }));
    root.append(el("div", { class: "tree-scroll" }, tree));
  }
}

function drawSwiss(root, view, name, me, extra) {
  root.append(el("p", { class: "muted small", text: `Round ${view.round} of ${view.total_rounds}. Ties are broken by Buchholz, then Sonneborn-Berger, then head to head.` }));
  const rows = view.table.map((r) => el("tr", { class: r.player === me ? "me" : null },
    el("td", { class: "num", text: ordinal(r.place) }), el("td", { text: name(r.player) + (r.withdrawn ? " (withdrawn)" : "") }),
    el("td", { class: "num", text: r.points }), el("td", { class: "num", text: r.buchholz }), el("td", { class: "num", text: r.sonneborn_berger })));
  root.append(el("div", { class: "table-scroll" }, el("table", { class: "standings" },
    el("thead", {}, el("tr", {}, el("th", { text: "Place" }), el("th", { text: "Player" }), el("th", { class: "num", text: "Points" }),
      el("th", { class: "num", text: "Buchholz", title: "Sum of the opponents' points" }), el("th", { class: "num", text: "S-B", title: "Sonneborn-Berger" }))),
    el("tbody", {}, rows))));
  for (const rnd of [...view.rounds].reverse()) {
    root.append(el("h4", { text: `Round ${rnd.round}` }), el("ol", { class: "matches flat" },
      rnd.matches.map((m) => matchBox(m, name, me, extra)), rnd.bye ? el("li", { class: "match bye", text: `${name(rnd.bye)} has the bye (a win)` }) : null));
  }
}

function drawGroups(root, view, name, me, extra) {
  root.append(el("p", { class: "muted small", text: `Round ${Math.min(view.round, view.rounds)} of ${view.rounds}.` }));
  for (const g of view.groups) {
    const players = [...g.players].sort((a, b) => b.points - a.points);
    root.append(el("h4", { text: `Group ${g.group.replace(/^G/, "")}` }), el("table", { class: "standings" },
      el("thead", {}, el("tr", {}, el("th", { text: "Player" }), el("th", { class: "num", text: "Points" }))),
      el("tbody", {}, players.map((p) => el("tr", { class: p.player === me ? "me" : null }, el("td", { text: name(p.player) }), el("td", { class: "num", text: p.points }))))));
  }
  const open = view.matches.filter((m) => !m.played);
  if (open.length) root.append(el("h4", { text: "Still to play" }), el("ol", { class: "matches flat" }, open.slice(0, 40).map((m) => matchBox(m, name, me, extra))));
}
