// How the console draws a live quiz duel: names, scores, the question, who answered, the clock.
import { el, fmt } from "../lib.js";

export function apply(model, f) {
  const st = model.state;
  if (f.t === "quiz_start") { st.phase = "countdown"; st.starts_at_ms = f.starts_at_ms; model.deadline_ms = f.starts_at_ms; }
  if (f.t === "quiz_question") { st.phase = "question"; st.question = { ...f, answered: {} }; model.deadline_ms = f.deadline_ms; }
  if (f.t === "quiz_answered" && st.question) st.question.answered = { ...st.question.answered, [f.user_id]: true };
  if (f.t === "quiz_reveal") { st.phase = "reveal"; if (st.question) st.question.answer_index = f.answer_index; st.scores = f.scores; model.deadline_ms = null; }
  if (f.t === "quiz_result") { st.phase = "finished"; st.result = f; st.scores = f.scores || st.scores; model.deadline_ms = null; }
}

export function draw(model, names) {
  const st = model.state; const q = st.question; const scores = st.scores || {};
  const players = (model.players || []).map((p) => el("div", { class: "player" + (p.connected === false ? " off" : "") },
    el("span", { text: (names[p.user_id] || "player") + (p.connected === false ? " (away)" : "") }), el("b", { text: scores[p.user_id] ?? 0 }),
    q && q.answered?.[p.user_id] ? el("span", { class: "small", text: "answered" }) : null));
  const parts = [el("div", { class: "players" }, players)];
  parts.push(el("div", { class: "small", text: `Stake ${fmt(model.stake_minor || 0)} each · ${st.phase}` }));
  if (q) {
    parts.push(el("div", { class: "q", text: `Q${q.index + 1}/${q.count || st.question_count || 5}. ${q.text}` }));
    parts.push(el("div", { class: "opts" }, q.choices.map((c, i) => el("div", { class: i === q.answer_index ? "right" : "", text: c }))));
  }
  if (st.result) {
    const w = st.result.winner;
    parts.push(el("p", { text: w ? `${names[w] || "player"} won ${fmt(st.result.payout_minor)}.` : `No winner (${st.result.result}); stakes returned.` }));
  }
  return parts;
}
