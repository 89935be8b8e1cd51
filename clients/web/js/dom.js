// Small DOM helpers shared by the competition screens of the app and the console.

/** el("td", {class: "num", text: "3"}, child…): a node with attributes, text and children. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "text") node.textContent = v; else if (k.startsWith("on")) node[k] = v; else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) node.append(c instanceof Node ? c : String(c));
  return node;
}
/** "3 d 4 h", "5 h 12 min", "4 min 10 s": a duration for countdowns. */
export function duration(ms) {
  const s = Math.max(0, Math.floor(ms / 1000)); const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
  if (d) return `${d} d ${h} h`; if (h) return `${h} h ${m} min`; if (m) return `${m} min ${s % 60} s`; return `${s % 60} s`;
}
/** A date in words in a time zone ("Sat 5 Dec, 19:00"). */
export function dateWords(msOrIso, timeZone) {
  const d = new Date(msOrIso);
  try { return d.toLocaleString("en-GB", { weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit", timeZone }); }
  catch { return d.toLocaleString("en-GB", { weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" }); }
}
/** 1st, 2nd, 3rd, 4th… */
export function ordinal(n) { const s = ["th", "st", "nd", "rd"], v = n % 100; return n + (s[(v - 20) % 10] || s[v] || s[0]); }
/** Whole pool credits (pool credits have no minor units). */
export function credits(n) { return `${Number(n).toLocaleString("en")} credits`; }
