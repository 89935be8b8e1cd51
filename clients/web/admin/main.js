// The console's shell: login, a hash router and the nav, built from the screen registry
// (screens/index.js). Each screen is one ES module; the server enforces every role again.
import { api, auth, cfg, el } from "./lib.js";
import { screens } from "./screens/index.js";

const $ = (id) => document.getElementById(id);
let me = null, cleanup = null;

function allowed(screen) { return !screen.roles || screen.roles.includes(me.role) || me.role === "superadmin"; }
function drawNav(current) {
  $("nav").replaceChildren(...screens.filter((s) => allowed(s) && !s.hidden).map((s) =>
    el("a", { href: `#/${s.id}`, text: s.title, "aria-current": s.id === current ? "page" : null })));
}
async function route() {
  if (!me) return;
  const [id, ...rest] = (location.hash.replace(/^#\/?/, "") || "dashboard").split("/");
  const screen = screens.find((s) => s.id === id && allowed(s)) || screens[0];
  drawNav(screen.id);
  if (cleanup) { try { cleanup(); } catch {} cleanup = null; }
  const root = $("screen"); root.replaceChildren(); document.title = `${screen.title} · Matchpot console`;
  try { cleanup = (await screen.mount(root, { me, params: rest.map(decodeURIComponent) })) || null; }
  catch (err) { root.append(el("p", { class: "msg err", text: err.message })); }
}
window.addEventListener("hashchange", route);

async function start() {
  try { Object.assign(cfg, await (await fetch("/config")).json()); } catch {}
  if (!auth.token) { showLogin(); return; }
  try { me = await api("/admin/me"); } catch { showLogin(); return; }
  $("login").hidden = true; $("nav").hidden = false; $("logout").hidden = false;
  $("who").textContent = `${me.username} · ${me.role}`;
  route();
}
function showLogin(msg) {
  me = null; if (cleanup) { try { cleanup(); } catch {} cleanup = null; }
  $("screen").replaceChildren(); $("login").hidden = false; $("nav").hidden = true; $("logout").hidden = true; $("who").textContent = "";
  if (msg) { $("login-msg").textContent = msg; $("login-msg").className = "msg err"; }
}
auth.onExpired = () => showLogin("Your session ended; log in again.");
$("login-form").onsubmit = async (e) => {
  e.preventDefault();
  const res = await fetch("/admin/login", { method: "POST", headers: { "content-type": "application/json" },
    body: JSON.stringify({ username: $("username").value, password: $("password").value }) });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) { $("login-msg").textContent = data.msg || "Login failed."; $("login-msg").className = "msg err"; return; }
  auth.token = data.access_token; $("password").value = ""; start();
};
$("logout").onclick = async () => {
  try { await api("/admin/logout", { method: "POST" }); } catch {}
  auth.token = null; location.hash = ""; showLogin();
  $("login-msg").textContent = "Logged out."; $("login-msg").className = "msg ok";
};
start();
