// The "Compete" section of the app: tournaments, weekly pools and self-challenges, each in
// its own module. app.js calls show(params) on #/compete/<area>/…, forwards live frames to
// onFrame (true: handled) and calls onWelcome after every (re)connect so live views resync.
import { api, store } from "./net.js";
import { fmt, toMinor, unitName } from "./words.js";
import { el } from "./dom.js";
import { tournamentsArea } from "./tournaments.js";
import { poolsArea } from "./pools.js";
import { challengesArea } from "./challenges.js";

const AREAS = [["tournaments", "Tournaments"], ["pools", "Pools"], ["challenges", "Challenges"]];
const TOAST_MS = 8000;

/** The raw file as the body (proof uploads); renews the login once on a 401 like api(). */
async function upload(path, file) {
  for (let attempt = 0; attempt < 2; attempt++) {
    let res;
    try { res = await fetch(path, { method: "POST", headers: { "content-type": file.type || "application/octet-stream", authorization: "Bearer " + store.access }, body: file }); }
    catch { throw new Error("You are offline: nothing was sent. Try again when the network is back."); }
    if (res.status === 401 && attempt === 0) { try { await api("/me"); } catch {} continue; }
    const data = await res.json().catch(() => ({}));
    if (!res.ok) throw Object.assign(new Error(data.msg || "The server could not take that file; try again."), { code: data.code });
    return data;
  }
  throw new Error("Your session ended; log in again.");
}

export class Compete {
  constructor({ live, duel, me }) {
    const ctx = { api, live, duel, me, fmt, toMinor, unitName, upload, toast: (t, link) => this.toast(t, link) };
    this.areas = { tournaments: tournamentsArea(ctx), pools: poolsArea(ctx), challenges: challengesArea(ctx) };
    this.root = document.getElementById("compete-root"); this.cleanup = null; this.current = null; this.token = 0;
    this.toastBox = el("div", { id: "toast", class: "toast", role: "status", "aria-live": "polite", hidden: true });
    document.body.append(this.toastBox);
  }
  /** Open #/compete/<area>/<params…>. */
  async show(path) {
    const [area = "tournaments", ...params] = path; const name = this.areas[area] ? area : "tournaments";
    const key = [name, ...params].join("/"); if (key === this.current) return; this.current = key;
    this.hide(true); const token = ++this.token;
    const nav = el("nav", { class: "subtabs", "aria-label": "Competitions" }, AREAS.map(([id, title]) =>
      el("a", { href: `#/compete/${id}`, text: title, "aria-current": id === name ? "page" : null })));
    const body = el("div", { class: "compete-body" });
    this.root.replaceChildren(nav, body);
    try { const c = await this.areas[name].mount(body, params.map(decodeURIComponent)); if (token === this.token) this.cleanup = c; else c?.(); }
    catch (err) { if (token === this.token) body.append(el("p", { class: "msg err", text: err.message })); }
  }
  /** Leaving the section: stop timers and live watches. */
  hide(keepCurrent = false) { if (!keepCurrent) this.current = null; if (this.cleanup) { try { this.cleanup(); } catch {} this.cleanup = null; } }
  onWelcome() { for (const a of Object.values(this.areas)) a.onWelcome(); }
  onFrame(f) { for (const a of Object.values(this.areas)) if (a.onFrame(f)) return true; return false; }
  toast(text, link) {
    const b = this.toastBox; b.replaceChildren(...[el("span", { text }), link ? el("a", { href: link.href, text: link.label }) : null,
      el("button", { type: "button", class: "link", "aria-label": "Dismiss", text: "×", onclick: () => { b.hidden = true; } })].filter(Boolean));
    b.hidden = false; clearTimeout(this.toastTimer); this.toastTimer = setTimeout(() => { b.hidden = true; }, TOAST_MS);
  }
}
