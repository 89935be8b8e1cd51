// Staked self-challenges in the player app: a goal, a deadline in words and a stake; the
// question back when a date can be read two ways; confirm (the stake goes on hold); cancel
// within the cooling-off window; a photo or video as proof; history and stats.
import { el, dateWords, duration } from "./dom.js";

const STATE = { open: "open", succeeded: "done: stake returned", failed: "missed: stake kept", cancelled: "cancelled: stake returned", expired: "not checked in time: stake returned" };
const PROOF = { pending: "Proof received: waiting for a check", approved: "Proof accepted", rejected: "Proof not accepted" };
const POLL_MS = 4000, POLL_MAX = 150;  // while a proof waits for a check: every 4 s, at most 10 min

export function challengesArea(ctx) {
  const { api, fmt, toMinor, upload } = ctx;
  let v = null;  // { root, draft, poll, polls }
  const q = (sel) => v?.root.querySelector(sel);
  function say(sel, text, cls = "") { const m = q(sel); if (m) { m.textContent = text; m.className = "msg " + cls; } }
  const when = (iso, tz) => dateWords(iso, tz);

  async function create(e) {
    e.preventDefault();
    const goal = q("#c-goal").value.trim(), deadline = q("#c-deadline").value.trim(), stake = q("#c-stake").value;
    try {
      v.draft = await api("/challenges", { method: "POST", body: { idem_key: crypto.randomUUID(), goal, deadline, stake_minor: toMinor(stake) } });
      drawDraft(); say("#c-msg", "");
    } catch (err) { say("#c-msg", err.message, "err"); }
  }

  function drawDraft() {
    const d = v.draft, box = q("#c-draft"); box.hidden = false; box.replaceChildren();
    if (!d.deadline_at) {
      box.append(el("h2", { text: "Which did you mean?" }),
        el("p", { class: "small", text: `"${q("#c-deadline").value.trim()}" can be read more than one way. Pick the deadline:` }),
        el("div", { class: "row choices" }, d.options.map((o, i) => el("button", { type: "button", class: "secondary", text: when(o, d.time_zone), onclick: async () => {
          try { v.draft = await api(`/challenges/${d.id}/pick`, { method: "POST", body: { option: i } }); drawDraft(); }
          catch (err) { say("#c-msg", err.message, "err"); }
        } }))),
        el("button", { type: "button", class: "link", text: "None of these: change the deadline", onclick: () => { box.hidden = true; q("#c-deadline").focus(); } }));
    } else {
      box.append(el("h2", { text: "Check and confirm" }),
        el("dl", { class: "kv" }, el("dt", { text: "Goal" }), el("dd", { text: d.goal }), el("dt", { text: "Deadline" }), el("dd", { id: "c-draft-deadline", text: `${when(d.deadline_at, d.time_zone)} (${d.time_zone.replace("_", " ")} time)` }),
          el("dt", { text: "Stake" }), el("dd", { text: fmt(d.stake_minor) })),
        el("p", { class: "small", text: `Confirming puts ${fmt(d.stake_minor)} on hold. Send a photo or a short video before the deadline: once it is accepted, your stake comes back. Without an accepted proof, the stake is kept. You can cancel for a full refund in the first 10 minutes.` }),
        el("div", { class: "row" }, el("button", { type: "button", id: "c-confirm", text: `Confirm: stake ${fmt(d.stake_minor)}`, onclick: confirm }),
          el("button", { type: "button", class: "secondary", text: "Change", onclick: async () => { try { await api(`/challenges/${d.id}/cancel`, { method: "POST" }); } catch {} v.draft = null; box.hidden = true; } })));
    }
    box.scrollIntoView({ block: "nearest" });
  }

  async function confirm() {
    try {
      const c = await api(`/challenges/${v.draft.id}/confirm`, { method: "POST" });
      v.draft = null; q("#c-draft").hidden = true; q("#c-form").reset();
      say("#c-msg", `Challenge on: ${fmt(c.stake_minor)} is on hold until ${when(c.deadline_at, c.time_zone)}. Good luck!`, "ok");
      await loadMine();
    } catch (err) { say("#c-msg", err.message, "err"); }
  }

  function openCard(c, detail) {
    const left = new Date(c.deadline_at).getTime() - Date.now();
    const last = detail?.proofs?.[detail.proofs.length - 1];
    const card = el("article", { class: "challenge", "data-id": c.id },
      el("h3", { text: c.goal }),
      el("p", { class: "small", text: `By ${when(c.deadline_at, c.time_zone)}${left > 0 ? ` (in ${duration(left)})` : ""} · ${fmt(c.stake_minor)} on hold` }));
    if (last) card.append(el("p", { class: "proof-state " + last.state, text: `${PROOF[last.state]}${last.reason ? `: ${last.reason}` : ""}.` }));
    const pending = last?.state === "pending";
    const fileId = `c-file-${c.id}`;
    if (!pending) card.append(el("label", { for: fileId, class: "file" }, "Send your proof ", el("span", { class: "hint", text: "a photo (JPEG, PNG, WebP up to 5 MB) or a short video (MP4 up to 16 MB)" })),
      el("input", { id: fileId, type: "file", accept: "image/jpeg,image/png,image/webp,video/mp4,video/3gpp", onchange: (e) => sendProof(c, e.target) }));
    const actions = el("div", { class: "row" });
    if (c.cancel_until && new Date(c.cancel_until).getTime() > Date.now())
      actions.append(el("button", { type: "button", class: "secondary", text: `Cancel for a full refund (until ${when(c.cancel_until, c.time_zone).split(", ").pop()})`, onclick: () => cancel(c) }));
    actions.append(el("button", { type: "button", class: "link", text: "Remind me 30 minutes before", onclick: () => remind(c, "30 minutes before") }));
    card.append(actions, el("p", { class: "msg", "aria-live": "polite" }));
    return card;
  }
  function sayIn(c, text, cls) { const m = q(`[data-id="${c.id}"] .msg`) || q("#c-msg"); m.textContent = text; m.className = "msg " + cls; }

  async function sendProof(c, input) {
    const file = input.files?.[0]; if (!file) return;
    sayIn(c, "Sending your proof…", "");
    try { const p = await upload(`/challenges/${c.id}/proofs?idem_key=${encodeURIComponent(crypto.randomUUID())}`, file);
      await loadMine(); sayIn(c, p.state === "rejected" ? `Not accepted: ${p.reason}` : "Proof received: we check it and tell you.", p.state === "rejected" ? "err" : "ok");
    } catch (err) { sayIn(c, err.message, "err"); }
  }
  async function cancel(c) {
    try { await api(`/challenges/${c.id}/cancel`, { method: "POST" }); say("#c-msg", `Cancelled: ${fmt(c.stake_minor)} is back in your balance.`, "ok"); await loadMine(); }
    catch (err) { sayIn(c, err.message, "err"); }
  }
  async function remind(c, when_) {
    try { const r = await api(`/challenges/${c.id}/reminders`, { method: "POST", body: { when: when_ } }); sayIn(c, `We will remind you at ${dateWords(r.due_at, c.time_zone)}.`, "ok"); }
    catch (err) { sayIn(c, err.message, "err"); }
  }

  async function loadMine() {
    if (!v) return;
    const r = await api("/challenges?limit=20");
    const open = r.challenges.filter((c) => c.state === "open");
    const details = await Promise.all(open.map((c) => api(`/challenges/${c.id}`).catch(() => null)));
    if (!v) return;
    const box = q("#c-open"); box.replaceChildren(...open.map((c, i) => openCard(c, details[i])));
    if (!open.length) box.append(el("p", { class: "muted", text: "No open challenge. Set one above." }));
    const s = r.stats;
    q("#c-stats").replaceChildren(
      el("div", { class: "stat" }, el("b", { text: s.success_rate_bps == null ? "–" : `${Math.round(s.success_rate_bps / 100)}%` }), el("span", { text: "success rate" })),
      el("div", { class: "stat" }, el("b", { text: s.streak }), el("span", { text: "in a row now" })),
      el("div", { class: "stat" }, el("b", { text: s.best_streak }), el("span", { text: "best streak" })),
      el("div", { class: "stat" }, el("b", { text: `${s.succeeded}/${s.decided}` }), el("span", { text: "goals met" })));
    const hist = q("#c-history"); hist.replaceChildren();
    for (const c of r.challenges.filter((x) => x.state !== "open")) {
      const back = c.state === "succeeded" ? `+${fmt(c.stake_minor + (c.bonus_minor || 0))}` : "";
      hist.append(el("li", {}, el("span", { class: "what" }, c.goal, el("span", { class: "when", text: `${STATE[c.state] || c.state}${c.outcome_reason ? ` (${c.outcome_reason})` : ""} · ${when(c.resolved_at || c.deadline_at || c.created_at, c.time_zone)}` })),
        el("span", { class: "amt " + (back ? "in" : "out"), text: back || (c.state === "failed" ? `−${fmt(c.stake_minor)}` : "") })));
    }
    if (!hist.children.length) hist.append(el("li", { class: "muted", text: "Finished challenges appear here." }));
    const waiting = details.some((d) => d?.proofs?.some((p) => p.state === "pending"));
    clearTimeout(v.poll);
    if (waiting && v.polls++ < POLL_MAX) v.poll = setTimeout(() => loadMine().catch(() => {}), POLL_MS);
  }

  return {
    async mount(root) {
      v = { root, draft: null, poll: null, polls: 0 };
      root.append(
        el("form", { class: "card", id: "c-form", onsubmit: create }, el("h2", { text: "Bet on yourself" }),
          el("p", { class: "small muted", text: "Set a goal and a deadline, put credits on it, send a photo as proof. Met: your stake comes back. Missed: it is kept." }),
          el("label", { for: "c-goal", text: "Your goal" }), el("input", { id: "c-goal", maxlength: 120, required: true, placeholder: "Go to the gym" }),
          el("label", { for: "c-deadline" }, "Deadline ", el("span", { class: "hint", text: "in words: \u201ctomorrow 7pm\u201d, \u201cin 3 hours\u201d, \u201cby Friday\u201d, \u201cnext Monday 3pm\u201d" })),
          el("input", { id: "c-deadline", maxlength: 100, required: true, placeholder: "tomorrow 7pm" }),
          el("label", { for: "c-stake" }, "Stake ", el("span", { class: "hint", text: "from 10 to 1,000 credits" })),
          el("div", { class: "unit-input" }, el("input", { id: "c-stake", type: "number", min: 1, step: 1, inputmode: "numeric", required: true }), el("span", { class: "unit", text: ctx.unitName() })),
          el("button", { type: "submit", style: "margin-top:.6rem", text: "Next" })),
        el("p", { id: "c-msg", class: "msg", "aria-live": "polite" }),
        el("div", { class: "card", id: "c-draft", hidden: true, "aria-live": "polite" }),
        el("div", { class: "card" }, el("h2", { text: "Open challenges" }), el("div", { id: "c-open", "aria-live": "polite" })),
        el("div", { class: "card" }, el("h2", { text: "History" }), el("div", { id: "c-stats", class: "stats" }), el("ul", { id: "c-history", class: "list" })));
      await loadMine();
      const mine = v;
      return () => { clearTimeout(mine.poll); if (v === mine) v = null; };
    },
    onWelcome() {}, onFrame() { return false; },
  };
}
