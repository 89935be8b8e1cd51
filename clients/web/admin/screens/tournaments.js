// Tournaments: create, open, start, pause/resume, end early (pay by standings or refund),
// cancel, set or replace a result, disqualify — every action audited on the server.
// The bracket is drawn with the app's renderer; open matches get a result control.
import { api, el, fmt, keyedTable, message, when } from "../lib.js";
import { drawView, formatName } from "../../js/bracket.js";

const EVERY_MS = 3000;
const STATUS = { draft: "draft (players cannot see it)", registration: "open for entries", checkin: "check-in", running: "running", paused: "paused", finished: "finished", cancelled: "cancelled" };
const canAct = (me) => ["operator", "superadmin"].includes(me.role);

function field(id, label, input) { return el("div", {}, el("label", { for: id, text: label }), input); }

async function mountList(root, me) {
  const table = keyedTable([
    { title: "tournament", render: (t) => el("a", { href: `#/tournaments/${t.id}`, text: t.name }) },
    { title: "format", render: (t) => formatName(t.format) }, { title: "status", render: (t) => STATUS[t.status] || t.status },
    { title: "players", num: true, render: (t) => `${t.entrants ?? "–"} / ${t.max_players}` },
    { title: "entry fee", num: true, render: (t) => fmt(t.entry_fee_minor) },
    { title: "starts", render: (t) => t.starts_at_ms ? when(new Date(t.starts_at_ms).toISOString()) : "when started" },
  ], { empty: "No tournaments yet." });
  root.append(el("h2", { text: "Tournaments" }));
  if (canAct(me)) {
    const form = el("form", { class: "card", id: "t-create" }, el("h2", { text: "New tournament" }),
      el("div", { class: "row" },
        field("t-name", "Name", el("input", { id: "t-name", required: true, maxlength: 80, placeholder: "Friday cup" })),
        field("t-format", "Format", el("select", { id: "t-format" }, Object.entries({ single_elimination: "Single elimination", double_elimination: "Double elimination", swiss: "Swiss", round_robin: "Round robin (groups of up to 8)" }).map(([v, t]) => el("option", { value: v, text: t }))))),
      el("div", { class: "row" },
        field("t-fee", "Entry fee (credits)", el("input", { id: "t-fee", type: "number", min: 0, step: 1, value: 10, required: true })),
        field("t-rake", "House share (%)", el("input", { id: "t-rake", type: "number", min: 0, max: 50, step: 0.5, value: 10 })),
        field("t-guarantee", "Guaranteed fund (credits)", el("input", { id: "t-guarantee", type: "number", min: 0, step: 1, value: 0 }))),
      el("div", { class: "row" },
        field("t-min", "Minimum players", el("input", { id: "t-min", type: "number", min: 2, step: 1, value: 2 })),
        field("t-max", "Maximum players", el("input", { id: "t-max", type: "number", min: 2, step: 1, value: 16 })),
        field("t-start", "Starts (your time; empty: an admin starts it)", el("input", { id: "t-start", type: "datetime-local" })),
        field("t-checkin", "Check-in before the start (min)", el("input", { id: "t-checkin", type: "number", min: 0, step: 1, value: 0 }))),
      el("label", {}, el("input", { id: "t-open", type: "checkbox", checked: true, style: "width:auto;margin-right:.4rem" }), "Open for entries now"),
      el("button", { type: "submit", text: "Create" }));
    form.onsubmit = async (e) => {
      e.preventDefault(); const v = (id) => form.querySelector("#" + id).value;
      const body = { name: v("t-name"), format: v("t-format"), match_kind: "quiz", entry_fee_minor: Math.round(Number(v("t-fee")) * 100),
        rake_bps: Math.round(Number(v("t-rake")) * 100), guarantee_minor: Math.round(Number(v("t-guarantee")) * 100),
        min_players: Number(v("t-min")), max_players: Number(v("t-max")), checkin_ms: Number(v("t-checkin")) * 60000, open: form.querySelector("#t-open").checked, options: {} };
      if (v("t-start")) body.starts_at_ms = new Date(v("t-start")).getTime();
      try { const r = await api("/admin/tournaments", { method: "POST", body }); location.hash = `#/tournaments/${r.tournament.id}`; }
      catch (err) { message(root, err.message); }
    };
    root.append(form);
  }
  root.append(el("div", { class: "card" }, el("h2", { text: "All tournaments" }), el("div", { class: "scroll" }, table.table)));
  const refresh = async () => { try { table.update((await api("/admin/tournaments")).items); } catch (err) { message(root, err.message); } };
  await refresh(); const timer = setInterval(refresh, EVERY_MS);
  return () => clearInterval(timer);
}

async function mountDetail(root, me, id) {
  const head = el("div", { class: "card" }), bracket = el("div", { class: "card" }, el("h2", { text: "Bracket" }), el("div", { class: "t-view" }));
  const entrants = keyedTable([
    { title: "player", render: (e) => e.display_name || "player" }, { title: "status", render: (e) => e.status.replace("_", " ") },
    { title: "seed", num: true, render: (e) => e.seed ?? "" }, { title: "fee", num: true, render: (e) => fmt(e.fee_minor) },
    { title: "place", num: true, render: (e) => e.place ?? "" }, { title: "prize", num: true, render: (e) => e.prize_minor ? fmt(e.prize_minor) : "" },
    { title: "disqualify", actions: true, render: (e) => canAct(me) ? reasonAction("Disqualify", "danger", (reason) => act("disqualify", { user_id: e.user_id, reason })) : el("span") },
  ], { key: (e) => e.user_id, empty: "Nobody has entered yet." });
  root.append(el("p", {}, el("a", { href: "#/tournaments", text: "← All tournaments" })), head, bracket,
    el("div", { class: "card" }, el("h2", { text: "Players" }), el("div", { class: "scroll" }, entrants.table)));
  let last = "", names = new Map();

  function reasonAction(label, cls, run) {
    const reason = el("input", { placeholder: "Reason (audited)", "aria-label": `Reason to ${label.toLowerCase()}`, maxlength: 300 });
    return el("div", { class: "decide" }, reason, el("button", { type: "button", class: cls, text: label, onclick: () => {
      if (!reason.value.trim()) { reason.focus(); message(root, "Write the reason first: it goes in the audit log."); return; }
      run(reason.value.trim());
    } }));
  }
  async function act(action, body = {}) {
    try { await api(`/admin/tournaments/${id}/${action}`, { method: "POST", body }); message(root, `Done: ${action.replace("_", " ")}.`, "ok"); last = ""; await refresh(); }
    catch (err) { message(root, err.message); }
  }
  function resultControl(m, format) {
    if (!canAct(me) || !m.a || !m.b || m.bye) return null;
    const sel = el("select", { "aria-label": `Winner of ${names.get(m.a)} against ${names.get(m.b)}` },
      el("option", { value: m.a, text: names.get(m.a) }), el("option", { value: m.b, text: names.get(m.b) }),
      ["swiss", "round_robin"].includes(format) ? el("option", { value: "", text: "a draw" }) : null);
    if (m.winner) sel.value = m.winner;
    const reason = el("input", { placeholder: "Reason", "aria-label": "Reason for the result", maxlength: 300 });
    return el("div", { class: "admin-result" }, sel, reason, el("button", { type: "button", text: m.winner ? "Replace result" : "Set result", onclick: () => {
      if (!reason.value.trim()) { reason.focus(); message(root, "Write the reason first: it goes in the audit log."); return; }
      act("result", { match_id: m.match_id, winner: sel.value || null, reason: reason.value.trim() });
    } }));
  }
  function drawHead(d) {
    const t = d.tournament, s = t.settlement, buttons = el("div", { class: "row" });
    const b = (label, action, cls) => el("button", { type: "button", class: cls || null, text: label, onclick: () => act(action) });
    if (canAct(me)) {
      if (t.status === "draft") buttons.append(b("Open for entries", "open"));
      if (["registration", "checkin"].includes(t.status)) buttons.append(b("Start now", "start"));
      if (t.status === "running") buttons.append(b("Pause", "pause", "secondary"));
      if (t.status === "paused") buttons.append(b("Resume", "resume"));
    }
    head.replaceChildren(...[el("h2", { text: t.name }),
      el("dl", { class: "kv" }, el("dt", { text: "status" }), el("dd", { text: STATUS[t.status] || t.status }), el("dt", { text: "format" }), el("dd", { text: formatName(t.format) }),
        el("dt", { text: "entry fee" }), el("dd", { text: `${fmt(t.entry_fee_minor)} (house ${t.rake_bps / 100}%)` }),
        el("dt", { text: "players" }), el("dd", { text: `${d.entrants.filter((e) => !["left", "dropped", "refunded"].includes(e.status)).length} (min ${t.min_players}, max ${t.max_players})` }),
        t.end_reason ? el("dt", { text: "ended" }) : null, t.end_reason ? el("dd", { text: t.end_reason }) : null,
        s ? el("dt", { text: "settled" }) : null, s ? el("dd", { text: `fees ${fmt(s.fees_minor)} · house ${fmt(s.rake_minor)} · house top-up ${fmt(s.overlay_minor)} · prize fund ${fmt(s.fund_minor)} · rounding ${fmt(s.remainder_minor)}` }) : null),
      buttons].filter(Boolean));
    if (canAct(me) && ["registration", "checkin", "running", "paused"].includes(t.status)) {
      const mode = el("select", { "aria-label": "How to end" }, el("option", { value: "pay", text: "pay prizes by the current standings" }), el("option", { value: "refund", text: "refund every entry fee" }));
      const started = ["running", "paused"].includes(t.status);
      head.append(el("h3", { text: started ? "End early" : "Cancel" }),
        started ? el("div", { class: "decide" }, mode, reasonAction("End now", "danger", (reason) => act("end", { mode: mode.value, reason })))
          : reasonAction("Cancel and refund everyone", "danger", (reason) => act("cancel", { reason })));
    }
  }
  async function refresh() {
    try {
      const d = await api(`/admin/tournaments/${id}`);
      names = new Map(d.entrants.map((e) => [e.user_id, e.display_name || "player"]));
      entrants.update(d.entrants);
      const key = JSON.stringify([d.tournament, d.view, d.matches]);
      const typing = root.contains(document.activeElement) && ["INPUT", "SELECT"].includes(document.activeElement.tagName);
      if (key === last || typing) return;  // unchanged, or someone is typing a reason: leave it
      last = key; drawHead(d);
      const open = new Set((d.matches || []).map((m) => m.match_id));
      drawView(bracket.querySelector(".t-view"), d.view, { name: (u) => names.get(u) || "player",
        extra: (m) => (open.has(m.match_id) || m.winner) && ["running", "paused"].includes(d.tournament.status) ? resultControl(m, d.tournament.format) : null });
    } catch (err) { message(root, err.message); }
  }
  await refresh(); const timer = setInterval(refresh, EVERY_MS);
  return () => clearInterval(timer);
}

export default {
  id: "tournaments", title: "Tournaments", roles: null,
  async mount(root, { me, params }) { return params[0] ? mountDetail(root, me, params[0]) : mountList(root, me); },
};
