// The WhatsApp simulator (demo mode): builds Meta-shaped webhook deliveries, signs them here
// with the app secret as Meta does (HMAC-SHA256 of the raw body, X-Hub-Signature-256), posts
// them to the real /webhooks/whatsapp, and shows what the Graph API stand-in received.
const $ = (id) => document.getElementById(id);
const COMMANDS = ["help", "balance", "deposit 500", "history", "quiz 100", "wheel 50", "color red 50", "pick3 123 50", "football", "withdraw 200", "stop", "start"];
let cfg = null, after = 0, seq = 0;

async function sign(secret, body) {
  if (!crypto.subtle) throw new Error("Signing needs a secure page: open the simulator on http://127.0.0.1 or localhost.");
  const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(body)));
  return "sha256=" + [...mac].map((b) => b.toString(16).padStart(2, "0")).join("");
}
function phone() { return $("wa-phone").value.replace(/\D/g, ""); }
function delivery(message) {
  return { object: "whatsapp_business_account", entry: [{ id: "demo-waba", changes: [{ field: "messages", value: {
    messaging_product: "whatsapp", metadata: { display_phone_number: "15550000000", phone_number_id: cfg.phone_number_id },
    contacts: [{ profile: { name: $("wa-name").value || "Demo player" }, wa_id: phone() }],
    messages: [{ from: phone(), id: `wamid.SIMIN${Date.now()}${++seq}`, timestamp: String(Math.floor(Date.now() / 1000)), ...message }] } }] }] };
}
async function deliver(message, shown) {
  bubble("me", shown);
  const body = JSON.stringify(delivery(message));
  try {
    const res = await fetch(cfg.webhook, { method: "POST", headers: { "content-type": "application/json", "x-hub-signature-256": await sign(cfg.app_secret, body) }, body });
    if (!res.ok) { const e = await res.json().catch(() => ({})); say(`The webhook refused it: ${e.msg || res.status}`, "err"); }
  } catch (err) { say(err.message, "err"); }
}
function say(text, cls = "") { $("wa-msg").textContent = text; $("wa-msg").className = "msg " + cls; }
function bubble(who, text, buttons = [], meta = "") {
  const b = document.createElement("div"); b.className = "bubble " + who; b.textContent = text;
  if (meta) { const m = document.createElement("span"); m.className = "meta"; m.textContent = meta; b.appendChild(m); }
  if (buttons.length) { const box = document.createElement("div"); box.className = "btns";
    for (const { id, title, kind } of buttons) { const btn = document.createElement("button"); btn.type = "button"; btn.textContent = title;
      btn.onclick = () => deliver({ type: "interactive", interactive: { type: kind, [kind]: { id, title } } }, title); box.appendChild(btn); }
    b.appendChild(box); }
  $("chat").appendChild(b); b.scrollIntoView({ block: "end" });
}
function show(item) {
  const m = item.body; let text = "", buttons = [];
  if (m.type === "text") text = m.text.body;
  else if (m.type === "interactive") {
    const i = m.interactive; text = [i.header?.text, i.body?.text, i.footer?.text].filter(Boolean).join("\n");
    if (i.type === "button") buttons = i.action.buttons.map((b) => ({ id: b.reply.id, title: b.reply.title, kind: "button_reply" }));
    if (i.type === "list") buttons = i.action.sections.flatMap((s) => s.rows.map((r) => ({ id: r.id, title: r.title, kind: "list_reply" })));
  } else if (m.type === "template") text = `[template ${m.template.name}] ` + (m.template.components || []).flatMap((c) => (c.parameters || []).map((p) => p.text)).join(" · ");
  bubble("them", text, buttons, new Date(item.at_ms).toLocaleTimeString());
}
async function poll() {
  try {
    const r = await (await fetch(`/demo/whatsapp/replies?to=${phone()}&after=${after}`)).json();
    for (const item of r.items || []) { after = Math.max(after, item.n); show(item); }
  } catch {}
  setTimeout(poll, 800);
}
async function start() {
  const res = await fetch("/demo/whatsapp/config");
  if (!res.ok) { say("The simulator runs in demo mode only: start the server with `python3 dev.py demo`.", "err"); return; }
  cfg = await res.json();
  for (const c of COMMANDS) { const b = document.createElement("button"); b.type = "button"; b.textContent = c; b.onclick = () => deliver({ type: "text", text: { body: c } }, c); $("chips").appendChild(b); }
  $("send-form").onsubmit = (e) => { e.preventDefault(); const t = $("wa-text").value.trim(); if (!t) return; $("wa-text").value = ""; deliver({ type: "text", text: { body: t } }, t); };
  $("wa-phone").onchange = () => { after = 0; $("chat").innerHTML = ""; };
  say(`Signed with the demo app secret; replies come from the Graph API stand-in for number id ${cfg.phone_number_id}.`, "ok");
  poll();
}
start();
