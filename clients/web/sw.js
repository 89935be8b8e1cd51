// Offline shell: the app's own files come from the network when it answers, else from this
// cache, so the app opens offline (with the login kept) and says it is offline.
// API and websocket traffic always go to the network.
const CACHE = "matchpot-shell-v4";
const SHELL = ["/", "/static/app.css", "/static/manifest.webmanifest", "/static/icon.svg",
  "/static/js/app.js", "/static/js/net.js", "/static/js/words.js", "/static/js/duel.js", "/static/js/wagers.js",
  "/static/compete.css", "/static/js/compete.js", "/static/js/dom.js", "/static/js/bracket.js",
  "/static/js/tournaments.js", "/static/js/pools.js", "/static/js/challenges.js",
  "/static/icons/icon-192.png", "/static/icons/icon-512.png", "/static/icons/apple-touch-icon.png"];
self.addEventListener("install", (e) => e.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL)).then(() => self.skipWaiting())));
self.addEventListener("activate", (e) => e.waitUntil(caches.keys().then((ks) =>
  Promise.all(ks.filter((k) => k !== CACHE).map((k) => caches.delete(k)))).then(() => self.clients.claim())));
self.addEventListener("fetch", (e) => {
  const url = new URL(e.request.url);
  if (e.request.method !== "GET" || url.origin !== location.origin) return;
  const shell = SHELL.includes(url.pathname) || (e.request.mode === "navigate" && url.pathname === "/");
  if (!shell) return;
  e.respondWith(fetch(e.request).then((res) => {
    if (res.ok) { const copy = res.clone(); caches.open(CACHE).then((c) => c.put(url.pathname, copy)); }
    return res;
  }).catch(() => caches.match(url.pathname)));
});
