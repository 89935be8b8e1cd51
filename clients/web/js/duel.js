// The duel screen: owns the viewport from the pairing to the result, and comes back after a
// reload or a dropped connection from the room's snapshot (room_state) plus the frames missed.
import { store } from "./net.js";
import { fmt } from "./words.js";

const $ = (id) => document.getElementById(id);
const SAVED = "mp.duel";

export class Duel {
  constructor(live, { me, onEnd, playAgain, onError }) {
    this.live = live; this.me = me; this.onEnd = onEnd; this.playAgain = playAgain; this.onError = onError;
    this.d = null; this.offsetMs = 0; this.timer = null; this.lastSaid = null;
    $("duel-again").onclick = () => { const stake = this.d?.stake_minor, game = this.d?.game; this.close(); this.playAgain(game, stake); };
    $("duel-close").onclick = () => this.close();
  }
  get active() { return this.d !== null; }
  get roomId() { return this.d?.room_id; }
  save() { if (this.d) store.setJSON(SAVED, this.d); }
  static saved() { return store.getJSON(SAVED); }

  /** A pairing: remember it (a reload finds it), open the screen, sit down. */
  async begin(found, prizeMinor) {
    this.d = { room_id: found.room_id, seat_token: found.seat_token, ws_url: found.ws_url, node: found.node,
      game: found.game, stake_minor: found.stake_minor, prize_minor: prizeMinor, seq: 0, joined: false,
      opponent: found.opponent?.display_name || "another player", finished: false };
    this.save(); this.open(); this.status(`Paired with ${this.d.opponent}. Taking your seat…`);
    await this.join();
  }
  /** After a reload or reconnect: sit down again and receive what was missed since `seq`. */
  async resume(saved) {
    this.d = { ...saved }; this.open(); this.status("Reconnecting to your duel…");
    await this.join();
  }
  /** A tournament match: no stake of its own (the entry fee paid for it); the tournament
   *  seats the player (`tournament_seat`), then a reload comes back with `room_join`. */
  async seatTournament({ tournament_id, room_id, opponent }) {
    if (this.d && this.d.room_id === room_id) return;
    this.d = { room_id, tournament_id, game: "quiz", stake_minor: 0, prize_minor: 0, seq: 0, joined: false, opponent, finished: false };
    this.save(); this.open(); this.status(`Your tournament match against ${opponent}. Taking your seat…`);
    try { await this.live.request({ t: "tournament_seat", tournament_id }); this.d.joined = true; this.save(); }
    catch (err) { this.status(err.message); }
  }
  async join() {
    const d = this.d; if (!d) return;
    if (d.tournament_id && !d.joined) { const t = { ...d }; this.d = null; await this.seatTournament(t); return; }
    const frame = { t: "room_join", room_id: d.room_id };
    if (!d.joined && d.seat_token) frame.seat_token = d.seat_token;
    if (d.joined && d.seq) frame.since_seq = d.seq;
    try { await this.live.request(frame); d.joined = true; this.save(); }
    catch (err) {
      if (err.code === "room_not_found" || err.code === "not_seated" || err.code === "seat_token_invalid") {
        this.status("That duel is over."); this.finishWithoutResult(); return;
      }
      if (!err.offline) this.status(err.message);
    }
  }
  open() {
    $("duel").hidden = false; document.body.style.overflow = "hidden";
    $("duel-result").hidden = true; $("duel-vs").textContent = `You vs ${this.d.opponent}`;
    $("duel-money").textContent = this.d.tournament_id ? "Tournament match" : this.d.prize_minor ? `Stake ${fmt(this.d.stake_minor)} → prize ${fmt(this.d.prize_minor)}` : `Stake ${fmt(this.d.stake_minor)}`;
    this.drawScores({});
  }
  close() {
    this.stopClock(); $("duel").hidden = true; document.body.style.overflow = "";
    this.d = null; store.setJSON(SAVED, null); this.onEnd();
  }
  finishWithoutResult() { store.setJSON(SAVED, null); this.d && (this.d.finished = true); this.showResult("Duel over", "This duel has already ended; its result is in Past duels.", false); }
  status(text) { $("duel-status").textContent = text; }

  onFrame(f) {
    if (!this.d || (f.room_id && f.room_id !== this.d.room_id)) return false;
    if (typeof f.seq === "number") { this.d.seq = Math.max(this.d.seq, f.seq); this.save(); }
    const h = this["on_" + f.t]; if (h) h.call(this, f); return !!h;
  }
  serverNow() { return Date.now() + this.offsetMs; }

  on_room_state(f) {
    if (typeof f.now_ms === "number") this.offsetMs = f.now_ms - Date.now();
    this.d.joined = true; this.d.seq = f.seq || this.d.seq; this.save();
    const st = f.state || {};
    this.status("");
    this.d.count = st.question_count || this.d.count || 5;
    this.drawScores(st.scores || {});
    if (st.result) { this.on_quiz_result(st.result); return; }
    if (st.phase === "waiting") { this.status(`Waiting for ${this.d.opponent} to sit down…`); this.clock(f.deadline_ms); return; }
    if (st.phase === "countdown") { this.getReady(st.starts_at_ms); return; }
    const q = st.question;
    if (q) {
      this.drawQuestion(q);
      if (q.your_choice !== undefined) this.markPicked(q.your_choice);
      if (q.answer_index !== undefined) this.reveal(q.answer_index, q.your_choice); else this.clock(q.deadline_ms);
    }
    if (st.phase === "settling") this.status("Adding up the scores…");
  }
  on_quiz_start(f) { this.d.count = f.question_count; this.getReady(f.starts_at_ms); }
  getReady(startsAt) {
    $("duel-qnum").textContent = ""; $("duel-choices").innerHTML = "";
    $("duel-question").textContent = `Get ready: ${this.d.count || 5} questions, a few seconds each.`;
    this.status(""); this.clock(startsAt);
  }
  on_quiz_question(f) { this.drawQuestion(f); this.clock(f.deadline_ms); this.status(""); }
  drawQuestion(q) {
    this.d.index = q.index; this.d.picked = null;
    $("duel-qnum").textContent = `Question ${q.index + 1} of ${q.count || this.d.count || 5}`;
    $("duel-question").textContent = q.text;
    const box = $("duel-choices"); box.innerHTML = "";
    q.choices.forEach((c, i) => { const b = document.createElement("button"); b.type = "button"; b.textContent = c;
      b.onclick = () => this.answer(q.index, i); box.appendChild(b); });
  }
  markPicked(i) {
    this.d.picked = i;
    [...$("duel-choices").children].forEach((b, j) => { b.disabled = true; b.setAttribute("aria-disabled", "true"); if (j === i) b.classList.add("picked"); });
  }
  async answer(index, choice) {
    if (!this.d || this.d.picked !== null && this.d.picked !== undefined) return;
    this.markPicked(choice); this.status("Answer sent. Waiting for the clock…");
    try { await this.live.request({ t: "quiz_answer", room_id: this.d.room_id, index, choice }); }
    catch (err) { this.status(err.message); }
  }
  on_quiz_answered(f) { if (f.user_id !== this.me() && this.d.picked == null) this.status(`${this.d.opponent} has answered.`); }
  on_quiz_reveal(f) { this.reveal(f.answer_index, f.choices?.[this.me()]); this.drawScores(f.scores || {}); }
  reveal(right, mine) {
    this.stopClock();
    [...$("duel-choices").children].forEach((b, i) => { b.disabled = true; b.setAttribute("aria-disabled", "true");
      if (i === right) b.classList.add("right"); else if (i === mine) b.classList.add("wrong"); });
    this.status(mine == null ? "Time's up: no answer." : mine === right ? "Right!" : "Not this time.");
  }
  drawScores(scores) {
    const me = this.me(); const mine = scores[me] ?? 0;
    const theirs = Object.entries(scores).filter(([u]) => u !== me).map(([, v]) => v)[0] ?? 0;
    $("duel-score").innerHTML = ""; const a = document.createElement("span"); a.innerHTML = `You <b></b>`; a.querySelector("b").textContent = mine;
    const b = document.createElement("span"); b.innerHTML = `<b></b> ${""}`; b.querySelector("b").textContent = theirs; b.append(" " + this.d?.opponent);
    $("duel-score").append(a, b);
  }
  on_quiz_result(f) {
    this.stopClock(); const me = this.me(); this.d.finished = true; store.setJSON(SAVED, null);
    if (f.scores) this.drawScores(f.scores);
    const score = f.scores ? `${f.scores[me] ?? 0}–${Object.entries(f.scores).filter(([u]) => u !== me).map(([, v]) => v)[0] ?? 0}` : "";
    if (this.d.tournament_id) {  // no stake in play here: the bracket decides what comes next
      const won = f.winner === me, text = f.winner ? `Final score ${score}. The bracket shows what comes next.` : `A tie (${score}): the tournament's rule decides who goes on.`;
      this.showResult(won ? "You won this match!" : f.winner ? "Your opponent won this match" : "A tie", text, false);
      return;
    }
    if (!f.winner) {
      const text = f.result === "no_show" ? `Your opponent did not show up: your stake of ${fmt(this.d.stake_minor)} is back in your balance.`
        : `A perfect tie (${score}, same time): your stake of ${fmt(this.d.stake_minor)} is back in your balance.`;
      this.showResult(f.result === "no_show" ? "No opponent" : "A tie", text, true);
    } else if (f.winner === me) {
      this.showResult("You won!", `Final score ${score}. ${fmt(f.payout_minor)} is now in your balance.`, true);
    } else {
      this.showResult("Your opponent won this one", `Final score ${score}. Your stake of ${fmt(this.d.stake_minor)} went to the prize.`, true);
    }
  }
  on_room_aborted(f) {
    this.stopClock(); this.d.finished = true; store.setJSON(SAVED, null);
    this.showResult("Duel stopped", f.refunded ? `The duel was stopped and your stake of ${fmt(this.d.stake_minor)} was returned.` : "The duel was stopped.", true);
  }
  on_player_left(f) { if (f.user_id !== this.me()) this.status(`${this.d.opponent} lost their connection; they have ${Math.round((f.grace_ms || 0) / 1000)} s to come back.`); }
  on_player_back(f) { if (f.user_id !== this.me()) this.status(`${this.d.opponent} is back.`); }
  showResult(title, text, again) {
    $("duel-result-title").textContent = title; $("duel-result-text").textContent = text;
    $("duel-again").hidden = !again || !this.d?.stake_minor; $("duel-result").hidden = false; this.status("");
  }

  clock(deadlineMs) {
    this.stopClock(); if (!deadlineMs) return;
    const start = this.serverNow(); const total = Math.max(deadlineMs - start, 1);
    const draw = () => {
      const left = Math.max(0, deadlineMs - this.serverNow()); const s = Math.ceil(left / 1000);
      $("duel-clock").textContent = `${(left / 1000).toFixed(1)} s`;
      $("duel-track").style.width = `${Math.min(100, (left / total) * 100)}%`;
      if (s !== this.lastSaid && (s === 3 || left === 0 || this.lastSaid === null)) { $("duel-clock-say").textContent = left === 0 ? "Time's up" : `${s} seconds left`; this.lastSaid = s; }
      if (left === 0) this.stopClock(false);
    };
    this.lastSaid = null; draw(); this.timer = setInterval(draw, 100);
  }
  stopClock(clear = true) { if (this.timer) clearInterval(this.timer); this.timer = null; if (clear) { $("duel-clock").textContent = ""; $("duel-track").style.width = "0"; } }
}
