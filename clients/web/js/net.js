// Network layer of the player app: tokens, HTTP calls and the live websocket.
// A network failure never logs the player out: only the server saying a session is over does.

const ACCESS = "mp.access", REFRESH = "mp.refresh";
export const store = {
  get access() { return localStorage.getItem(ACCESS); },
  get refresh() { return localStorage.getItem(REFRESH); },
  set(tokens) { localStorage.setItem(ACCESS, tokens.access_token); localStorage.setItem(REFRESH, tokens.refresh_token); },
  clear() { for (const k of [ACCESS, REFRESH, "mp.profile", "mp.duel"]) localStorage.removeItem(k); },
  getJSON(key) { try { return JSON.parse(localStorage.getItem(key) || "null"); } catch { return null; } },
  setJSON(key, value) { if (value === null) localStorage.removeItem(key); else localStorage.setItem(key, JSON.stringify(value)); },
};

/** An error the server answered ({code, msg}); `offline` when the request never got an answer. */
export class ApiError extends Error {
  constructor(msg, { code = "", status = 0, offline = false } = {}) { super(msg); this.code = code; this.status = status; this.offline = offline; }
}
const OFFLINE_MSG = "You are offline: nothing was sent. Try again when the network is back.";

/** Called when the server says the login is over (refresh refused). */
export const session = { onEnded: () => {} };

let refreshing = null;
async function refreshTokens() {
  if (!store.refresh) return false;
  refreshing ??= (async () => {
    let res;
    try {
      res = await fetch("/auth/refresh", { method: "POST", headers: { "content-type": "application/json" },
        body: JSON.stringify({ refresh_token: store.refresh }) });
    } catch { throw new ApiError(OFFLINE_MSG, { offline: true }); }  // keep the tokens
    if (res.status === 401) { store.clear(); session.onEnded(); return false; }
    if (!res.ok) throw new ApiError("The server could not renew your login; try again.", { status: res.status });
    store.set(await res.json()); return true;
  })().finally(() => { refreshing = null; });
  return refreshing;
}

/** JSON `body`, or `raw` (a Blob/File sent as it is, with its `type`: an evidence upload). */
export async function api(path, { method = "GET", body, raw, auth = true, key, retried = false } = {}) {
  const headers = { "content-type": raw ? (raw.type || "application/octet-stream") : "application/json" };
  if (key) headers["idempotency-key"] = key;
  if (auth && store.access) headers.authorization = "Bearer " + store.access;
  let res;
  try { res = await fetch(path, { method, headers, body: raw || (body ? JSON.stringify(body) : undefined) }); }
  catch { throw new ApiError(OFFLINE_MSG, { offline: true }); }
  if (res.status === 401 && auth && !retried) {
    if (await refreshTokens()) return api(path, { method, body, raw, auth, key, retried: true });
  }
  const data = res.headers.get("content-type")?.includes("json") ? await res.json().catch(() => ({})) : {};
  if (!res.ok) throw new ApiError(data.msg || "The server could not do that; try again.", { code: data.code, status: res.status });
  return data;
}

/** A protected picture (evidence) as an object URL for an <img>: an <img src> cannot send the token. */
export async function pictureUrl(path, retried = false) {
  let res;
  try { res = await fetch(path, { headers: { authorization: "Bearer " + store.access } }); }
  catch { throw new ApiError(OFFLINE_MSG, { offline: true }); }
  if (res.status === 401 && !retried && await refreshTokens()) return pictureUrl(path, true);
  if (!res.ok) throw new ApiError("That picture could not be loaded.", { status: res.status });
  return URL.createObjectURL(await res.blob());
}

/** The live connection: hello with the token, request/reply by rid, pushes to `on[t]`, reconnects with backoff. */
export class Live {
  constructor({ onFrame, onState, onWelcome }) {
    this.onFrame = onFrame; this.onState = onState; this.onWelcome = onWelcome;
    this.ws = null; this.url = null; this.rid = 0; this.pending = new Map(); this.delayMs = 500; this.timer = null; this.stopped = false;
  }
  defaultUrl() { return `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`; }
  connect(url) {
    this.stopped = false; clearTimeout(this.timer);
    this.url = url || this.url || this.defaultUrl();
    const old = this.ws; const sock = new WebSocket(this.url); this.ws = sock;
    if (old) { old.onclose = null; try { old.close(); } catch {} }
    this.onState("connecting");
    sock.onopen = () => { this.delayMs = 500; this.request({ t: "hello", token: store.access }).then((f) => { this.node = f.node; this.onState("live"); this.onWelcome(f); }).catch(() => {}); };
    sock.onmessage = (m) => { if (sock !== this.ws) return; let f; try { f = JSON.parse(m.data); } catch { return; }
      if (f.rid !== undefined && this.pending.has(f.rid)) { const p = this.pending.get(f.rid); this.pending.delete(f.rid);
        if (f.t === "error") p.reject(new ApiError(f.msg, { code: f.code })); else p.resolve(f); return; }
      this.onFrame(f); };
    sock.onclose = async (ev) => {
      if (sock !== this.ws) return;
      for (const [, p] of this.pending) p.reject(new ApiError("The connection dropped; reconnecting…", { offline: true }));
      this.pending.clear(); this.onState(navigator.onLine === false ? "offline" : "connecting");
      if (this.stopped || ev.code === 4001) return;  // 4001: this account connected elsewhere
      if (ev.code === 1008) { try { if (!(await refreshTokens())) return; } catch { /* offline: retry below */ } }
      this.timer = setTimeout(() => this.connect(), this.delayMs); this.delayMs = Math.min(this.delayMs * 2, 10000);
    };
  }
  /** Reconnect now (the network came back), or to another node (`url`). */
  reconnect(url) { this.delayMs = 500; this.connect(url); }
  stop() { this.stopped = true; clearTimeout(this.timer); if (this.ws) { this.ws.onclose = null; this.ws.close(); } this.ws = null; }
  request(frame) {
    return new Promise((resolve, reject) => {
      if (!this.ws || this.ws.readyState !== 1) return reject(new ApiError("Not connected yet; try again in a moment.", { offline: true }));
      frame.rid = ++this.rid; this.pending.set(frame.rid, { resolve, reject });
      this.ws.send(JSON.stringify(frame));
      setTimeout(() => { if (this.pending.delete(frame.rid)) reject(new ApiError("The server did not answer; try again.")); }, 10000);
    });
  }
}
