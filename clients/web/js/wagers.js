// Wagers: the player's side of wager matches (docs/wagers.md). Reached from the game list when
// the server offers the "wager" kind (GET /games); otherwise hidden. One area, five views:
// find (queue, post, the live lobby), the match room, the gaming profile, history, leaderboard
// (plus a player's public profile). Speaks docs/api.md and docs/protocol.md, "Wagers".
import { api, pictureUrl } from "./net.js";
import { cfg, fmt, when } from "./words.js";

const MODES = { gunfight: "Gunfight", snd: "Search and Destroy", tdm: "Team Deathmatch", hardpoint: "Hardpoint", ctrl: "Control" };
const PLATFORMS = { psn: "PlayStation", xbox: "Xbox", pc: "PC" };
const TAG_NAMES = { psn: "PSN ID", xbox: "Xbox gamertag", pc: "Activision ID" };  // what a "gamer tag" is called there
const REGIONS = { eu: "Europe", na: "North America", af: "Africa", as: "Asia", sa: "South America", oc: "Oceania" };
const PHASES = {
  ready_check: "Ready check", playing: "Playing", reported: "Waiting for confirmation", disputed: "In dispute",
  settling: "Settling", finished: "Finished", suspended: "Paused", created: "Starting",
};
const LOBBY_REWATCH_MS = 4 * 60_000;  // the server keeps a watcher 10 min (lobby_watch_s); renew well before
const LOBBY_MAX = 100;
const CHAT_SHOWN = 100;

export const modeName = (m) => MODES[m] || (m ? m[0].toUpperCase() + m.slice(1) : "");
export const platformName = (p) => PLATFORMS[p] || p;
const regionName = (r) => REGIONS[r] || r.toUpperCase();

/** el("p", {class: "x", text: "…", onclick}, child…): a node; text is always text, never HTML. */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "text") node.textContent = v; else if (k.startsWith("on")) node[k] = v; else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) node.append(c instanceof Node ? c : String(c));
  return node;
}
const say = (node, text, cls = "") => { node.textContent = text; node.className = "msg " + cls; };
function select(id, label, entries, value) {
  const s = el("select", { id, name: id });
  for (const [v, t] of entries) s.append(el("option", { value: v, text: t, selected: String(v) === String(value) }));
  return [el("label", { for: id, text: label }), s];
}
function mmss(ms) { const s = Math.max(0, Math.ceil(ms / 1000)); const h = Math.floor(s / 3600); const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0"); return h ? `${h} h ${String(m).padStart(2, "0")} min` : `${m}:${ss}`; }
function mb(bytes) { return `${(bytes / (1024 * 1024)).toLocaleString("en", { maximumFractionDigits: 1 })} MB`; }

export class Wagers {
  /** `live`: the app's websocket; `me()`: the player's id; `refreshBalance()`: reload /me, returns the available text. */
  constructor({ live, me, refreshBalance }) {
    this.live = live; this.me = me; this.refreshBalance = refreshBalance;
    this.root = document.getElementById("view-wagers");
    this.opts = null; this.profile = undefined; this.view = null; this.lobby = new Map();
    this.lobbyTimer = null; this.queued = null; this.m = null; this.tick = null; this.offsetMs = 0;
  }
  get enabled() { return (cfg.games || []).some((g) => g.name === "wager"); }
  game() { return (cfg.games || []).find((g) => g.name === "wager") || { stakes_minor: [], prizes_minor: [] }; }
  prize(stake) { const g = this.game(); const i = (g.stakes_minor || []).indexOf(stake);
    if (i >= 0 && g.prizes_minor) return g.prizes_minor[i];
    const pot = stake * 2; return pot - Math.ceil((pot * (this.opts?.fee_bps ?? 1000)) / 10000); }

  async options() {
    if (!this.opts) this.opts = await api("/wagers/options");
    return this.opts;
  }
  async myProfile(fresh = false) {
    if (this.profile !== undefined && !fresh) return this.profile;
    try { this.profile = await api("/wagers/profile"); }
    catch (err) { if (err.code === "profile_required") this.profile = null; else throw err; }
    return this.profile;
  }

  // ---------- the area and its views
  async show(params) {
    this.leaveView();
    const [view = "find", arg] = params;
    const tabs = [["find", "Find a match"], ["profile", "Gaming profile"], ["history", "History"], ["leaderboard", "Leaderboard"]];
    const nav = el("nav", { class: "subnav", "aria-label": "Wagers" }, tabs.map(([id, t]) =>
      el("a", { href: `#/wagers/${id}`, text: t, "aria-current": id === view ? "page" : null })));
    this.body = el("div", { class: "wager-body" });
    // In the match room the room owns the screen: the area's heading shrinks to its links.
    const intro = view === "match" ? null : el("p", { class: "small", text: "Stake credits on a Call of Duty match you play against another player. Both stakes are held until the match is decided; the winner receives both less the platform fee." });
    this.root.replaceChildren(
      el("div", { class: "card" + (view === "match" ? " compact" : "") }, view === "match" ? null : el("h2", { text: "Wagers" }), intro, nav),
      this.body);
    this.view = view; window.scrollTo(0, 0);  // a new view starts at its top
    try {
      await this.options();
      if (view === "match" && arg) await this.showMatch(arg);
      else if (view === "profile") await this.showProfile();
      else if (view === "history") await this.showHistory();
      else if (view === "leaderboard") await this.showLeaderboard(arg);
      else if (view === "player" && arg) await this.showPlayer(arg);
      else { this.view = "find"; await this.showFind(); }
    } catch (err) {
      this.body.append(el("p", { class: "msg err", role: "alert", text: err.message }));
    }
  }
  /** Leaving a view: stop its timers; the lobby watch simply lapses on the server. */
  leaveView() {
    clearTimeout(this.lobbyTimer); this.lobbyTimer = null; clearInterval(this.tick); this.tick = null;
    this.m = null; this.view = null;
  }
  hide() { this.leaveView(); }

  // ---------- gaming profile
  profileForm(p, { onSaved } = {}) {
    const o = this.opts;
    const form = el("form", { id: "wg-profile-form", novalidate: true });
    const msg = el("p", { id: "wg-profile-msg", class: "msg", "aria-live": "polite" });
    const tagInputs = o.platforms.map((pf) => {
      const input = el("input", { id: `wg-tag-${pf}`, name: pf, maxlength: 40, autocomplete: "off", value: p?.tags?.[pf] || "" });
      return [el("label", { for: `wg-tag-${pf}`, text: `Gamer tag on ${platformName(pf)}${TAG_NAMES[pf] ? ` (${TAG_NAMES[pf]})` : ""}` }, el("span", { class: "hint", text: "Leave empty if you don't play there." })), input];
    });
    const dob = el("input", { id: "wg-dob", type: "date", required: true, value: p?.birth_date || "", disabled: !!p?.birth_date });
    form.append(
      ...tagInputs.flat(),
      ...select("wg-region", "Region", o.regions.map((r) => [r, regionName(r)]), p?.region),
      el("label", { for: "wg-dob", text: "Date of birth" },
        el("span", { class: "hint", text: p?.birth_date ? "Recorded; contact support to correct it." : `Wagers are for players aged ${o.min_age_years} and over. It cannot be changed once saved.` })),
      dob,
      el("button", { type: "submit", style: "margin-top:.6rem", text: p ? "Save profile" : "Create my gaming profile" }), msg);
    form.onsubmit = async (e) => {
      e.preventDefault();
      const tags = {};
      for (const pf of o.platforms) { const v = form.querySelector(`#wg-tag-${pf}`).value.trim(); if (v) tags[pf] = v; }
      if (!dob.value) { say(msg, "Enter your date of birth.", "err"); dob.focus(); return; }
      if (!Object.keys(tags).length) { say(msg, "Add your gamer tag for at least one platform.", "err"); return; }
      try {
        this.profile = await api("/wagers/profile", { method: "PUT", body: { region: form.querySelector("#wg-region").value, birth_date: dob.value, tags } });
        say(msg, "Saved: you can post and accept wagers.", "ok"); dob.disabled = true;
        if (onSaved) onSaved(this.profile);
      } catch (err) { say(msg, err.message, "err"); }
    };
    return form;
  }
  async showProfile() {
    const p = await this.myProfile(true);
    const card = el("div", { class: "card" }, el("h2", { text: "Your gaming profile" }));
    if (p) card.append(el("p", { class: "small", text: `Reliability ${p.reliability} of 100. No-shows and claims an admin finds false lower it; below ${this.opts.reliability_floor} you cannot wager.` }),
      el("p", { class: "small" }, el("a", { href: `#/wagers/player/${p.user_id}`, text: "See your public profile" })));
    card.append(this.profileForm(p));
    this.body.append(card);
  }

  // ---------- find a match: queue, post, lobby
  stakeEntries() { return (this.opts.stakes_minor || []).map((s) => [s, `${fmt(s)} → win ${fmt(this.prize(s))}`]); }
  async showFind() {
    const p = await this.myProfile();
    if (!p) {
      this.body.append(el("div", { class: "card" }, el("h2", { text: "First, your gaming profile" }),
        el("p", { class: "small", text: "Your opponent needs your gamer tag to find you in the game." }),
        this.profileForm(null, { onSaved: () => this.show(["find"]) })));
      return;
    }
    const o = this.opts; const myPlatforms = o.platforms.filter((pf) => p.tags[pf]);
    const pfEntries = (myPlatforms.length ? myPlatforms : o.platforms).map((pf) => [pf, platformName(pf)]);
    const modeEntries = o.modes.map((m) => [m, modeName(m)]);
    this.myMatches = el("ul", { class: "list", id: "wg-live" });
    const liveCard = el("div", { class: "card", id: "wg-live-card", hidden: true }, el("h2", { text: "Your matches in progress" }), this.myMatches);

    // The queue.
    const qmsg = el("p", { id: "wg-queue-msg", class: "msg", "aria-live": "polite" });
    const leave = el("button", { type: "button", class: "secondary", id: "wg-queue-leave", hidden: !this.queued, text: "Leave the queue" });
    const qform = el("form", { id: "wg-queue-form" }, el("div", { class: "row" },
      el("div", {}, ...select("wg-q-mode", "Mode", modeEntries)), el("div", {}, ...select("wg-q-platform", "Platform", pfEntries)),
      el("div", {}, ...select("wg-q-stake", "Stake", this.stakeEntries()))),
      el("button", { type: "submit", text: "Find an opponent" }));
    qform.onsubmit = async (e) => {
      e.preventDefault();
      const body = { t: "wager_queue_join", mode: qform.querySelector("#wg-q-mode").value, platform: qform.querySelector("#wg-q-platform").value,
        stake_minor: Number(qform.querySelector("#wg-q-stake").value) };
      try { const r = await this.live.request(body); this.queued = r;
        say(qmsg, `Looking for a ${modeName(r.mode)} opponent on ${platformName(r.platform)} at ${fmt(r.stake_minor)}… your stake is on hold until the match ends or you leave.`, "ok");
        leave.hidden = false; this.refreshBalance();
      } catch (err) { say(qmsg, err.message, "err"); }
    };
    leave.onclick = async () => {
      try { await this.live.request({ t: "wager_queue_leave" }); this.queued = null; leave.hidden = true; say(qmsg, "You left the queue; your stake is back in your balance.", "ok"); this.refreshBalance(); }
      catch (err) { say(qmsg, err.message, "err"); }
    };
    if (this.queued) say(qmsg, `Looking for an opponent at ${fmt(this.queued.stake_minor)}…`, "ok");

    // Post a challenge (open, or direct to a gamer tag).
    const pmsg = el("p", { id: "wg-post-msg", class: "msg", "aria-live": "polite" });
    const post = el("form", { id: "wg-post-form" },
      el("div", { class: "row" }, el("div", {}, ...select("wg-p-mode", "Mode", modeEntries)), el("div", {}, ...select("wg-p-platform", "Platform", pfEntries)),
        el("div", {}, ...select("wg-p-stake", "Stake", this.stakeEntries()))),
      el("label", { for: "wg-p-rules", text: "Rules" }, el("span", { class: "hint", text: "What you both agree to play, e.g. “1v1 Gunfight, best of 3”." })),
      el("input", { id: "wg-p-rules", maxlength: 300, placeholder: "1v1 Gunfight, best of 3" }),
      el("label", { for: "wg-p-maps", text: "Maps" }, el("span", { class: "hint", text: "Separated by commas; up to 10." })),
      el("input", { id: "wg-p-maps", maxlength: 420, placeholder: "Shipment, Rust" }),
      el("label", { for: "wg-p-opponent", text: "Challenge a player directly (optional)" }, el("span", { class: "hint", text: "Their gamer tag on the platform above; leave empty for an open challenge anyone may accept." })),
      el("input", { id: "wg-p-opponent", maxlength: 40, autocomplete: "off" }),
      el("button", { type: "submit", style: "margin-top:.6rem", text: "Post the challenge" }), pmsg);
    post.onsubmit = async (e) => {
      e.preventDefault();
      const maps = post.querySelector("#wg-p-maps").value.split(",").map((x) => x.trim()).filter(Boolean);
      if (maps.length > 10) { say(pmsg, "Up to 10 maps.", "err"); return; }
      const body = { mode: post.querySelector("#wg-p-mode").value, platform: post.querySelector("#wg-p-platform").value,
        stake_minor: Number(post.querySelector("#wg-p-stake").value), rules: post.querySelector("#wg-p-rules").value.trim(), maps };
      const tag = post.querySelector("#wg-p-opponent").value.trim(); if (tag) body.opponent_tag = tag;
      try { const c = await api("/wagers/challenges", { method: "POST", body });
        this.lobby.set(c.id, c); this.drawLobby();
        say(pmsg, tag ? `Challenge sent to ${tag}. Nothing is held until they accept.` : "Challenge posted. Nothing is held until someone accepts it.", "ok");
        post.querySelector("#wg-p-opponent").value = "";
      } catch (err) { say(pmsg, err.message, "err"); }
    };

    this.lobbyList = el("ul", { class: "list", id: "wg-lobby", "aria-live": "polite" });
    this.lobbyMsg = el("p", { id: "wg-lobby-msg", class: "msg", "aria-live": "polite" });
    this.body.append(liveCard,
      el("div", { class: "card" }, el("h2", { text: "Open challenges" }), el("p", { class: "small muted", text: "Live: new challenges appear here as they are posted." }), this.lobbyList, this.lobbyMsg),
      el("div", { class: "card" }, el("h2", { text: "Quick match" }), el("p", { class: "small muted", text: "Paired with a player of a similar rating in the same mode, platform and stake." }), qform, leave, qmsg),
      el("div", { class: "card" }, el("h2", { text: "Post a challenge" }), post));
    await Promise.all([this.watchLobby(), this.loadLive()]);
  }
  async loadLive() {
    try {
      const r = await api("/wagers/matches?limit=20");
      const open = (r.items || []).filter((m) => m.status !== "settled");
      if (!this.myMatches) return;
      this.myMatches.replaceChildren(...open.map((m) => el("li", {},
        el("span", { class: "what", text: `${modeName(m.mode)} · ${platformName(m.platform)} against ${this.opponentTag(m)} · stake ${fmt(m.stake_minor)}` }),
        el("a", { class: "button", href: `#/wagers/match/${m.room_id}`, text: "Open" }))));
      this.myMatches.closest(".card").hidden = !open.length;
    } catch { /* the lobby still works */ }
  }
  opponentTag(m) { const me = this.me(); const other = (m.players || []).find((u) => u !== me); return m.terms?.tags?.[other] || "your opponent"; }
  async watchLobby() {
    if (this.view !== "find") return;
    clearTimeout(this.lobbyTimer);
    try {
      const r = await this.live.request({ t: "wager_lobby_watch" });
      this.lobby = new Map(r.items.map((c) => [c.id, c])); say(this.lobbyMsg, "");
      this.lobbyTimer = setTimeout(() => this.watchLobby(), LOBBY_REWATCH_MS);
    } catch (err) {
      // Not connected yet, or the lobby has too many watchers: show it once; onWelcome retries.
      try { const r = await api(`/wagers/challenges?limit=${LOBBY_MAX}`); this.lobby = new Map(r.items.map((c) => [c.id, c])); } catch {}
      if (!err.offline) say(this.lobbyMsg, err.message, "err");
    }
    this.drawLobby();
  }
  drawLobby() {
    if (!this.lobbyList) return;
    const me = this.me(); const items = [...this.lobby.values()].slice(0, LOBBY_MAX);
    this.lobbyList.replaceChildren(...items.map((c) => {
      const mine = c.creator_id === me; const toMe = c.opponent_id === me;
      const what = el("span", { class: "what" },
        el("b", { text: `${modeName(c.mode)} · ${platformName(c.platform)}` }),
        ` by ${mine ? "you" : c.creator_name || "a player"}`,
        toMe ? el("span", { class: "tag pending", text: "challenge to you" }) : null,
        mine && c.opponent_id ? el("span", { class: "tag", text: "direct challenge" }) : null,
        c.rules ? el("span", { class: "when", text: c.rules }) : null,
        c.maps?.length ? el("span", { class: "when", text: `Maps: ${c.maps.join(", ")}` }) : null,
        el("span", { class: "when", text: `Stake ${fmt(c.stake_minor)} each → winner receives ${fmt(this.prize(c.stake_minor))}` }));
      const act = mine
        ? el("button", { type: "button", class: "secondary", text: "Cancel", onclick: () => this.cancelChallenge(c) })
        : el("button", { type: "button", text: "Accept", "aria-label": `Accept the ${modeName(c.mode)} challenge for ${fmt(c.stake_minor)}`, onclick: (e) => this.accept(c, e.target) });
      return el("li", { "data-id": c.id }, what, act);
    }));
    if (!items.length) this.lobbyList.append(el("li", {}, el("span", { class: "what muted", text: "No open challenges right now: post one below." })));
  }
  async accept(c, button) {
    button.disabled = true;
    try {
      const m = await api(`/wagers/challenges/${c.id}/accept`, { method: "POST" });
      this.refreshBalance(); location.hash = `#/wagers/match/${m.room_id}`;
    } catch (err) { button.disabled = false; say(this.lobbyMsg, err.message, "err");
      if (err.code === "challenge_taken") { this.lobby.delete(c.id); this.drawLobby(); } }
  }
  async cancelChallenge(c) {
    try { await api(`/wagers/challenges/${c.id}/cancel`, { method: "POST" }); this.lobby.delete(c.id); this.drawLobby(); say(this.lobbyMsg, "Challenge withdrawn.", "ok"); }
    catch (err) { say(this.lobbyMsg, err.message, "err"); }
  }

  // ---------- the match room
  async showMatch(roomId) {
    const row = await api(`/wagers/matches/${encodeURIComponent(roomId)}`);
    const me = this.me(); const other = row.players.find((u) => u !== me);
    const t = row.terms || {}; const tags = t.tags || {};
    this.m = { room_id: roomId, row, me, other, myTag: tags[me] || "you", theirTag: tags[other] || "your opponent", seq: 0,
      phase: row.status === "settled" ? "finished" : "created", ready: [], cancels: [], reports: {}, dispute: null, deadline_ms: null, result: null, evidence: row.evidence || [] };
    const m = this.m;
    const head = el("div", { class: "card match-head" },
      el("h2", { id: "wg-vs" }, el("span", { text: m.myTag }), el("span", { class: "muted", text: " vs " }), el("span", { text: m.theirTag })),
      el("p", { class: "money", id: "wg-money", text: `Stake ${fmt(row.stake_minor)} each → winner receives ${fmt(this.prize(row.stake_minor))}` }),
      el("dl", { class: "terms" },
        el("dt", { text: "Mode" }), el("dd", { text: `${modeName(row.mode)} on ${platformName(row.platform)}` }),
        el("dt", { text: "Rules" }), el("dd", { text: t.rules || "Standard rules of the mode" }),
        el("dt", { text: "Maps" }), el("dd", { text: (t.maps || []).join(", ") || "Any" }),
        el("dt", { text: "Add them in game" }), el("dd", { text: `${m.theirTag} (${TAG_NAMES[row.platform] || platformName(row.platform)})` })));
    const phase = el("div", { class: "card phase", id: "wg-phase" },
      el("h2", { id: "wg-phase-title", "aria-live": "polite" }),
      el("div", { class: "clock", id: "wg-clock", role: "timer", "aria-live": "off" }),
      el("ul", { class: "list checks", id: "wg-who" }),
      el("div", { class: "row", id: "wg-actions" }),
      el("p", { id: "wg-phase-text", "aria-live": "polite" }),
      el("p", { id: "wg-msg", class: "msg", "aria-live": "assertive" }));
    const result = el("div", { class: "card result", id: "wg-result", hidden: true, "aria-live": "assertive" },
      el("h2", { id: "wg-result-title" }), el("p", { id: "wg-result-text" }), el("p", { id: "wg-result-reason", class: "reason", hidden: true }),
      el("p", { id: "wg-result-balance", class: "small" }),
      el("div", { class: "row" }, el("a", { class: "button", href: "#/wagers/find", text: "Find another match" }), el("a", { class: "button secondary", href: "#/wagers/history", text: "History" })));
    this.body.append(head, result, phase, this.reportCard(), this.disputeCard(), this.chatCard(), this.evidenceCard());
    this.hideBanner();
    this.drawEvidence();
    if (row.status === "settled") { this.finishedFromRow(row); return; }
    await this.enter();
  }
  async enter() {
    const m = this.m; if (!m) return;
    const frame = { t: "wager_enter", room_id: m.room_id }; if (m.seq) frame.since_seq = m.seq;
    try { await this.live.request(frame); }
    catch (err) {
      if (err.code === "room_not_found") {  // settled meanwhile, or not live here: read the row again
        const row = await api(`/wagers/matches/${encodeURIComponent(m.room_id)}`).catch(() => null);
        if (row?.status === "settled") { this.finishedFromRow(row); return; }
        this.flash("This match is not live at the moment; it comes back on its own. Try again in a minute.", "err");
      } else if (!err.offline) this.flash(err.message, "err");
    }
  }
  flash(text, cls = "") { const n = document.getElementById("wg-msg"); if (n) say(n, text, cls); }
  reportCard() {
    const msg = el("p", { id: "wg-report-msg", class: "msg", "aria-live": "polite" });
    const form = el("form", { id: "wg-report-form" },
      el("fieldset", { class: "choice" }, el("legend", { text: "Your result" }),
        el("label", { class: "radio" }, el("input", { type: "radio", name: "wg-result", value: "won", id: "wg-won" }), " I won"),
        el("label", { class: "radio" }, el("input", { type: "radio", name: "wg-result", value: "lost", id: "wg-lost" }), " I lost")),
      el("label", { for: "wg-score", text: "Score (optional)" }, el("span", { class: "hint", text: "Your rounds first, like 3-1." })),
      el("input", { id: "wg-score", inputmode: "numeric", maxlength: 7, pattern: "\\d{1,3}-\\d{1,3}", placeholder: "3-1" }),
      el("button", { type: "submit", style: "margin-top:.6rem", text: "Send my report" }), msg);
    form.onsubmit = async (e) => {
      e.preventDefault();
      const picked = form.querySelector("input[name=wg-result]:checked");
      if (!picked) { say(msg, "Choose whether you won or lost.", "err"); return; }
      const score = form.querySelector("#wg-score").value.trim();
      if (score && !/^\d{1,3}-\d{1,3}$/.test(score)) { say(msg, "A score looks like 3-1.", "err"); return; }
      const body = { t: "wager_report", room_id: this.m.room_id, result: picked.value }; if (score) body.score = score;
      try { await this.live.request(body); say(msg, "Report sent.", "ok"); }
      catch (err) { say(msg, err.message, "err"); }
    };
    return el("div", { class: "card", id: "wg-report", hidden: true }, el("h2", { text: "Report the result" }), form);
  }
  disputeCard() {
    const msg = el("p", { id: "wg-dispute-msg", class: "msg", "aria-live": "polite" });
    const form = el("form", { id: "wg-dispute-form" },
      el("label", { for: "wg-dispute-reason", text: "Why do you dispute the result?" }, el("span", { class: "hint", text: "An admin reads it with both reports, the chat and your screenshots." })),
      el("textarea", { id: "wg-dispute-reason", maxlength: 500, rows: 2 }),
      el("button", { type: "submit", class: "danger", style: "margin-top:.5rem", text: "Open a dispute" }), msg);
    form.onsubmit = async (e) => {
      e.preventDefault(); const reason = form.querySelector("#wg-dispute-reason").value.trim();
      if (!reason) { say(msg, "Say why you dispute the result.", "err"); return; }
      try { await this.live.request({ t: "wager_dispute", room_id: this.m.room_id, reason }); say(msg, "Dispute opened.", "ok"); }
      catch (err) { say(msg, err.message, "err"); }
    };
    return el("div", { class: "card", id: "wg-dispute", hidden: true }, el("h2", { text: "Something wrong?" }), form);
  }
  evidenceCard() {
    const o = this.opts;
    const msg = el("p", { id: "wg-evidence-msg", class: "msg", "aria-live": "polite" });
    const input = el("input", { id: "wg-evidence-file", type: "file", accept: o.evidence_types.join(",") });
    input.onchange = () => { const f = input.files?.[0]; if (f) this.upload(f, msg).finally(() => { input.value = ""; }); };
    return el("div", { class: "card", id: "wg-evidence" }, el("h2", { text: "Evidence" }),
      el("div", { id: "wg-evidence-upload" },
        el("label", { for: "wg-evidence-file", text: "Add a screenshot of the result" },
          el("span", { class: "hint", text: `PNG, JPEG or WebP, up to ${mb(o.evidence_max_bytes)} each and ${o.evidence_per_match} per match. Pictures are checked and stripped of their metadata.` })),
        input, msg),
      el("div", { class: "shots", id: "wg-shots" }));
  }
  async upload(file, msg) {
    const o = this.opts;
    if (!o.evidence_types.includes(file.type)) { say(msg, `“${file.name}” is not a PNG, JPEG or WebP picture.`, "err"); return; }
    if (file.size > o.evidence_max_bytes) { say(msg, `“${file.name}” is ${mb(file.size)}; a picture may be at most ${mb(o.evidence_max_bytes)}.`, "err"); return; }
    say(msg, "Uploading…");
    try {
      const item = await api(`/wagers/matches/${encodeURIComponent(this.m.room_id)}/evidence?name=${encodeURIComponent(file.name)}`, { method: "POST", raw: file });
      this.m.evidence.push({ ...item, user_id: this.me() }); this.drawEvidence(); say(msg, "Screenshot added.", "ok");
    } catch (err) { say(msg, err.message, "err"); }
  }
  drawEvidence() {
    const box = document.getElementById("wg-shots"); if (!box || !this.m) return;
    const have = new Set([...box.querySelectorAll("figure")].map((f) => f.dataset.id));
    for (const e of this.m.evidence) {
      if (have.has(e.id)) continue;
      const img = el("img", { alt: e.user_id === this.me() ? "Your screenshot" : `Screenshot from ${this.m.theirTag}`, loading: "lazy" });
      box.append(el("figure", { "data-id": e.id }, img, el("figcaption", { class: "small muted", text: e.user_id === this.me() ? "yours" : this.m.theirTag })));
      pictureUrl(e.url).then((u) => { img.src = u; }).catch(() => { img.alt = "This picture could not be loaded."; });
    }
  }
  chatCard() {
    const input = el("input", { id: "wg-chat-text", maxlength: this.opts.chat_max_chars, autocomplete: "off" });
    const msg = el("p", { id: "wg-chat-msg", class: "msg", "aria-live": "polite" });
    const form = el("form", { id: "wg-chat-form", class: "chat-form" },
      el("label", { for: "wg-chat-text", class: "sr-only", text: "Message to your opponent" }), input, el("button", { type: "submit", text: "Send" }));
    form.onsubmit = async (e) => {
      e.preventDefault(); const text = input.value.trim(); if (!text) return;
      try { await this.live.request({ t: "wager_chat", room_id: this.m.room_id, text }); input.value = ""; say(msg, ""); }
      catch (err) { say(msg, err.message, "err"); }
    };
    return el("div", { class: "card", id: "wg-chat" }, el("h2", { text: "Lobby chat" }),
      el("p", { class: "small muted", text: "Set up the lobby with your opponent. Admins read it if the result is disputed." }),
      el("ol", { class: "chat", id: "wg-chat-log", "aria-live": "polite" }), form, msg);
  }
  chatLine(line) {
    const log = document.getElementById("wg-chat-log"); if (!log) return;
    const mine = line.user_id === this.me();
    log.append(el("li", { class: mine ? "mine" : "theirs" }, el("b", { text: mine ? "You" : this.m.theirTag }), " ", line.text));
    while (log.children.length > CHAT_SHOWN) log.firstChild.remove();
    log.scrollTop = log.scrollHeight;
  }

  /** Draw the room from the model: phase, clock, who is ready, what each reported, the actions. */
  draw() {
    const m = this.m; if (!m) return;
    const $ = (id) => document.getElementById(id);
    const them = m.theirTag; const mineRep = m.reports[m.me]; const theirRep = m.reports[m.other];
    const live = ["ready_check", "playing", "reported", "disputed"].includes(m.phase);
    $("wg-phase").hidden = m.phase === "finished";
    $("wg-phase-title").textContent = PHASES[m.phase] || m.phase;
    const who = $("wg-who"); who.replaceChildren(); const actions = $("wg-actions"); actions.replaceChildren();
    let text = "";
    const youThey = (u) => (u === m.me ? "You" : them);
    if (m.phase === "ready_check") {
      text = "Both players confirm they are ready within the time left. If someone does not, the match is called off and both stakes come back.";
      for (const u of [m.me, m.other]) who.append(el("li", {}, el("span", { class: "what", text: youThey(u) }), el("span", { class: "tag " + (m.ready.includes(u) ? "approved" : "pending"), text: m.ready.includes(u) ? "ready" : "not ready yet" })));
      const iam = m.ready.includes(m.me);
      actions.append(el("button", { type: "button", id: "wg-ready", disabled: iam, text: iam ? `Ready — waiting for ${them}` : "I'm ready", onclick: () => this.send({ t: "wager_ready" }) }));
    } else if (m.phase === "playing") {
      text = `Play the match now in Call of Duty: add ${them} on ${platformName(m.row.platform)} and play by the rules above. Then report the result here before the time runs out.`;
    } else if (m.phase === "reported") {
      if (mineRep) text = `You reported that you ${mineRep.result}${mineRep.score ? ` (${mineRep.score})` : ""}. Waiting for ${them} to confirm; if they say nothing, your report stands when the time runs out.`;
      else if (theirRep) text = `${them} reported that they ${theirRep.result}${theirRep.score ? ` (${theirRep.score})` : ""}. If that's right, report that you ${theirRep.result === "won" ? "lost" : "won"}; if not, report what happened or open a dispute. If you do nothing, their report stands when the time runs out.`;
    } else if (m.phase === "disputed") {
      const d = m.dispute || {};
      text = `In dispute${d.reason && d.reason !== "conflicting_reports" ? `: “${d.reason}”` : ": both reports claim the same result"}. An admin reviews both reports, the chat and the evidence, then rules. Add screenshots below to support your report.`;
    } else if (m.phase === "settling") text = "Settling the match…";
    else if (m.phase === "suspended") text = "The match is paused while the server restarts; it comes back on its own and nothing is lost.";
    for (const u of [m.me, m.other]) { const r = m.reports[u]; if (r && m.phase !== "ready_check") who.append(el("li", {}, el("span", { class: "what", text: `${youThey(u)} reported` }), el("span", { class: "tag", text: `${r.result === "won" ? "won" : "lost"}${r.score ? " " + r.score : ""}` }))); }
    if (live && m.phase !== "disputed" && !Object.keys(m.reports).length && ["ready_check", "playing"].includes(m.phase)) {
      const asked = m.cancels.includes(m.me); const theyAsked = m.cancels.includes(m.other);
      if (theyAsked && !asked) text += ` ${them} asked to cancel: cancel too and both stakes come back.`;
      actions.append(el("button", { type: "button", class: "secondary", id: "wg-cancel", disabled: asked,
        text: asked ? `Cancel asked — waiting for ${them}` : theyAsked ? "Cancel the match" : "Ask to cancel", onclick: () => this.send({ t: "wager_cancel" }) }));
    }
    $("wg-phase-text").textContent = text;
    $("wg-report").hidden = !(["playing", "reported"].includes(m.phase) && !mineRep);
    $("wg-dispute").hidden = !["playing", "reported"].includes(m.phase);
    $("wg-chat-form").hidden = !live;
    this.clock();
  }
  async send(frame) {
    try { await this.live.request({ ...frame, room_id: this.m.room_id }); this.flash(""); }
    catch (err) { this.flash(err.message, "err"); }
  }
  clock() {
    clearInterval(this.tick); this.tick = null;
    const node = document.getElementById("wg-clock"); if (!node || !this.m) return;
    const m = this.m; const label = { ready_check: "to confirm ready", playing: "to play and report", reported: "to confirm or dispute" }[m.phase];
    if (!m.deadline_ms || !label) { node.textContent = ""; return; }
    const draw = () => { const left = m.deadline_ms - (Date.now() + this.offsetMs); node.textContent = `${mmss(left)} left ${label}`; if (left <= 0) { clearInterval(this.tick); this.tick = null; } };
    draw(); this.tick = setInterval(draw, 1000);
  }
  loadState(st) {
    const m = this.m;
    Object.assign(m, { phase: st.phase, deadline_ms: st.deadline_ms, ready: st.ready || [], cancels: st.cancels || [], reports: st.reports || {}, dispute: st.dispute });
    const log = document.getElementById("wg-chat-log"); if (log) { log.replaceChildren(); for (const line of st.chat || []) this.chatLine(line); }
  }
  async showResult(f) {
    const m = this.m; m.phase = "finished"; m.result = f; this.draw();
    const $ = (id) => document.getElementById(id);
    const stake = m.row.stake_minor; const them = m.theirTag;
    let title, text;
    if (f.winner === m.me) {
      title = "You won!";
      text = `${fmt(f.payouts_minor?.[m.me] ?? this.prize(stake))} were added to your balance: both stakes less the platform fee${f.rake_minor ? ` of ${fmt(f.rake_minor)}` : ""}.`;
    } else if (f.winner) {
      title = `${them} won`; text = `Your stake of ${fmt(stake)} went to the winner.`;
    } else {
      title = "Match called off";
      const why = { no_show: m.ready.length ? `${m.ready.includes(m.me) ? them : "You"} did not confirm ready in time` : "Nobody confirmed ready in time",
        no_report: "Nobody reported a result in time", cancelled: "You both agreed to cancel", ruled_void: "An admin voided the match",
        aborted: "The match could not be played" }[f.result] || "The match could not be decided";
      text = `${why}: your stake of ${fmt(stake)} is back in your balance.`;
    }
    if (f.result === "confirmed") text += " The report stood: nobody disputed it in time.";
    $("wg-result-title").textContent = title; $("wg-result-text").textContent = text;
    const reason = $("wg-result-reason");
    if (f.reason) { reason.hidden = false; reason.textContent = `Admin's ruling: ${f.reason}`; } else reason.hidden = true;
    $("wg-result").hidden = false; window.scrollTo(0, 0);  // the result sits under the players' names
    for (const id of ["wg-report", "wg-dispute"]) $(id).hidden = true;
    const upload = $("wg-evidence-upload"); if (upload) upload.hidden = true;  // evidence closes with the match
    if (!m.evidence.length && $("wg-evidence")) $("wg-evidence").hidden = true;
    if (!$("wg-chat-log")?.children.length && $("wg-chat")) $("wg-chat").hidden = true;
    const bal = await this.refreshBalance();
    if (bal && $("wg-result-balance")) $("wg-result-balance").textContent = `Your balance: ${bal}.`;
  }
  finishedFromRow(row) {
    const m = this.m; const winner = row.winner;
    this.showResult({ result: row.result, winner, payouts_minor: winner ? { [winner]: this.prize(row.stake_minor) } : {}, rake_minor: 0, reason: null });
    this.draw();
    m.phase = "finished";
  }

  /** Frames from the socket; true when one was this area's. */
  onFrame(f) {
    if (f.t === "wager_lobby") {
      if (f.change === "posted" && f.challenge) this.lobby.set(f.challenge.id, f.challenge); else this.lobby.delete(f.challenge_id);
      this.drawLobby(); return true;
    }
    if (f.t === "wager_alert") { this.alert(f); return true; }
    if (f.t === "queue_timeout" && this.queued) {
      this.queued = null; const q = document.getElementById("wg-queue-msg"); if (q) say(q, "No opponent came in time: your stake is back in your balance.", "ok");
      const l = document.getElementById("wg-queue-leave"); if (l) l.hidden = true; return true;
    }
    const m = this.m;
    if (!m || f.room_id !== m.room_id) return false;
    if (typeof f.seq === "number") m.seq = Math.max(m.seq, f.seq);
    switch (f.t) {
      case "room_state":
        if (typeof f.now_ms === "number") this.offsetMs = f.now_ms - Date.now();
        this.loadState(f.state || {}); break;
      case "wager_player_ready": if (!m.ready.includes(f.user_id)) m.ready.push(f.user_id); break;
      case "wager_playing": m.phase = "playing"; m.deadline_ms = f.deadline_ms; break;
      case "wager_reported":
        m.reports[f.user_id] = { result: f.result, score: f.score };
        if (f.confirm_deadline_ms) { m.phase = "reported"; m.deadline_ms = f.confirm_deadline_ms; } break;
      case "wager_disputed": m.phase = "disputed"; m.deadline_ms = null; m.dispute = { reason: f.reason, by: f.by }; break;
      case "wager_cancel_requested": if (!m.cancels.includes(f.user_id)) m.cancels.push(f.user_id); break;
      case "wager_resumed": m.phase = f.phase; m.deadline_ms = f.deadline_ms; break;
      case "wager_chat_line": this.chatLine(f); return true;
      case "wager_result": this.showResult(f); return true;
      case "room_aborted": m.phase = "suspended"; break;
      case "player_left": if (f.user_id !== m.me) this.flash(`${m.theirTag} lost their connection.`); return true;
      case "player_back": if (f.user_id !== m.me) this.flash(`${m.theirTag} is back.`); return true;
      default: return false;
    }
    this.draw(); return true;
  }
  alert(f) {
    const banner = document.getElementById("wager-alert");
    const inRoom = this.m && this.m.room_id === f.room_id;
    if (f.kind === "wager_match_found") {
      this.queued = null;
      if (!inRoom) { location.hash = `#/wagers/match/${f.room_id}`; return; }  // the room says the rest
    } else if (f.kind === "wager_challenged" && this.view === "find") this.watchLobby();
    if (this.view === "find") this.loadLive();
    if (!banner || inRoom) return;  // in the room the room's own frames say it
    const link = f.kind === "wager_challenged"  // not a match yet: the challenge waits in the lobby
      ? el("a", { href: "#/wagers/find", text: "See the challenge" })
      : el("a", { href: `#/wagers/match/${f.room_id}`, text: "Open the match" });
    banner.replaceChildren(el("span", { text: f.text }), " ", link);
    banner.hidden = false; clearTimeout(this.bannerTimer); this.bannerTimer = setTimeout(() => { banner.hidden = true; }, 15000);
  }
  /** In a match room the room speaks for itself: an earlier alert's banner goes. */
  hideBanner() { const banner = document.getElementById("wager-alert"); if (banner) banner.hidden = true; }
  /** The socket (re)connected: sit down again or watch the lobby again. */
  onWelcome() {
    if (this.m && this.m.phase !== "finished") this.enter();
    else if (this.view === "find") this.watchLobby();
  }

  // ---------- history, leaderboard, public profiles
  async showHistory() {
    const r = await api("/wagers/matches?limit=50");
    const me = this.me();
    const ul = el("ul", { class: "list", id: "wg-history" });
    for (const m of r.items || []) {
      let what, amt = "", cls = "";
      if (m.status !== "settled") what = m.status === "disputed" ? "In dispute" : "In progress";
      else if (!m.winner) { what = "Called off, stake returned"; }
      else if (m.winner === me) { what = "Won"; amt = "+" + fmt(this.prize(m.stake_minor)); cls = "in"; }
      else { what = "Lost"; amt = "−" + fmt(m.stake_minor); cls = "out"; }
      ul.append(el("li", {}, el("span", { class: "what" },
        el("a", { href: `#/wagers/match/${m.room_id}`, text: `${what} vs ${this.opponentTag(m)}` }),
        el("span", { class: "when", text: `${modeName(m.mode)} · ${platformName(m.platform)} · stake ${fmt(m.stake_minor)} · ${when(m.settled_at || m.created_at)}` })),
        amt ? el("span", { class: "amt " + cls, text: amt }) : null));
    }
    if (!ul.children.length) ul.append(el("li", {}, el("span", { class: "what muted", text: "No wager matches yet." })));
    this.body.append(el("div", { class: "card" }, el("h2", { text: "Your wager matches" }), ul));
  }
  async showLeaderboard(mode) {
    const o = this.opts; mode = o.modes.includes(mode) ? mode : o.modes[0];
    const [label, sel] = select("wg-lb-mode", "Mode", o.modes.map((x) => [x, modeName(x)]), mode);
    sel.onchange = () => { location.hash = `#/wagers/leaderboard/${sel.value}`; };
    const r = await api(`/wagers/leaderboard?mode=${encodeURIComponent(mode)}&limit=50`);
    const ol = el("ol", { class: "list board", id: "wg-board" });
    for (const x of r.items) ol.append(el("li", {},
      el("span", { class: "rank", text: `${x.rank}.` }),
      el("span", { class: "what" }, el("a", { href: `#/wagers/player/${x.user_id}`, text: x.display_name || "player" }),
        el("span", { class: "when", text: `${x.wins} won · ${x.losses} lost · streak ${x.streak}` })),
      el("span", { class: "amt", text: `${x.rating.toFixed(1)}` })));
    if (!r.items.length) ol.append(el("li", {}, el("span", { class: "what muted", text: "Nobody ranked yet: players appear after 10 rated matches and while they have played in the last week." })));
    this.body.append(el("div", { class: "card" }, el("h2", { text: `Leaderboard: ${modeName(mode)}` }), label, sel,
      el("p", { class: "small muted", text: "Ranked by rating (OpenSkill), counting only players with 10 rated matches who played in the last 7 days." }), ol));
  }
  async showPlayer(userId) {
    const p = await api(`/wagers/players/${encodeURIComponent(userId)}`);
    const card = el("div", { class: "card", id: "wg-player" }, el("h2", { text: p.display_name || "Player" }),
      el("p", { class: "small", text: `${regionName(p.region)} · reliability ${p.reliability} of 100` }),
      el("p", { class: "small", text: Object.entries(p.tags || {}).map(([pf, t]) => `${platformName(pf)}: ${t}`).join(" · ") || "No gamer tags" }));
    const ul = el("ul", { class: "list" });
    for (const s of p.modes || []) ul.append(el("li", {}, el("span", { class: "what" }, el("b", { text: modeName(s.mode) }),
      el("span", { class: "when", text: `${s.matches} matches · ${s.wins} won · ${s.losses} lost · streak ${s.streak} · disputes lost ${s.disputes_lost}` }),
      el("span", { class: "when", text: `Staked ${fmt(s.staked_minor)} · received ${fmt(s.won_minor)}` })),
      el("span", { class: "amt", text: s.provisional ? `${s.rating.toFixed(1)} (provisional)` : s.rating.toFixed(1) })));
    if (!ul.children.length) ul.append(el("li", {}, el("span", { class: "what muted", text: "No wager matches yet." })));
    card.append(el("h3", { text: "Per mode" }), ul);
    this.body.append(card);
  }
}
