// Challenges: the review queue (the proof picture next to the goal and deadline; approve, or
// reject with a reason the player reads), open challenges, and outcomes.
import { api, el, fmt, keyedTable, message, when, auth } from "../lib.js";

const EVERY_MS = 3000;
const STATE = { succeeded: "met: stake returned", failed: "missed: stake kept", cancelled: "cancelled: refunded", expired: "expired: refunded" };
const VERIFIER = { none: "", queued: "waiting for the verifier", unsure: "the verifier was unsure", failed: "the verifier failed", decided: "decided" };
const canAct = (me) => ["operator", "superadmin"].includes(me.role);

/** The proof file needs the admin's token, so it is fetched and shown from a blob URL. */
function proofMedia(p, urls) {
  if (!p.file_url) return el("span", { class: "muted", text: "no file kept" });
  const box = el("div", { class: "proof-box" });
  (async () => {
    try {
      if (!urls.has(p.id)) {
        const res = await fetch(p.file_url, { headers: { authorization: "Bearer " + auth.token } });
        if (!res.ok) throw new Error("not found");
        urls.set(p.id, URL.createObjectURL(await res.blob()));
      }
      const src = urls.get(p.id);
      box.append(p.media === "video" ? el("video", { class: "proof-img", src, controls: true, "aria-label": `Proof for: ${p.goal}` })
        : el("img", { class: "proof-img", src, alt: `Proof sent for the goal: ${p.goal}` }));
    } catch { box.append(el("span", { class: "muted", text: "The file could not be loaded." })); }
  })();
  return box;
}

export default {
  id: "challenges", title: "Challenges", roles: null,
  async mount(root, { me }) {
    const urls = new Map();
    const decide = (p) => {
      if (!canAct(me)) return el("span", { class: "muted small", text: "an operator decides" });
      const reason = el("input", { placeholder: "Reason the player will see", "aria-label": "Reason the player will see", maxlength: 300 });
      const act = async (verb) => {
        if (verb === "reject" && !reason.value.trim()) { reason.focus(); message(root, "Write the reason the player will see before rejecting."); return; }
        try { await api(`/admin/challenges/proofs/${p.id}/${verb}`, { method: "POST", body: reason.value.trim() ? { reason: reason.value.trim() } : {} });
          message(root, verb === "approve" ? `Approved: ${fmt(p.stake_minor)} goes back to the player.` : "Rejected; the player sees the reason.", "ok"); refresh();
        } catch (err) { message(root, err.message); }
      };
      return el("div", { class: "decide" }, el("button", { type: "button", text: "Approve", onclick: () => act("approve") }), reason,
        el("button", { type: "button", class: "danger", text: "Reject", onclick: () => act("reject") }));
    };
    const queue = keyedTable([
      { title: "proof", actions: true, render: (p) => proofMedia(p, urls) },
      { title: "goal", render: (p) => p.goal }, { title: "deadline", render: (p) => when(p.deadline_at) },
      { title: "sent", render: (p) => `${when(p.received_at)}${p.taken_at ? ` (taken ${when(p.taken_at)})` : ""}` },
      { title: "stake", num: true, render: (p) => fmt(p.stake_minor) },
      { title: "checks", render: (p) => [VERIFIER[p.verifier_state], p.verifier_note].filter(Boolean).join(": ") || "passed the file checks" },
      { title: "decision", actions: true, render: decide },
    ], { empty: "No proof waits for a review." });
    const people = (c) => c.phone || "player";
    const open = keyedTable([
      { title: "player", render: people }, { title: "goal", render: (c) => c.goal }, { title: "deadline", render: (c) => when(c.deadline_at) },
      { title: "stake", num: true, render: (c) => fmt(c.stake_minor) }, { title: "via", render: (c) => c.source === "whatsapp" ? "WhatsApp" : "app" },
    ], { empty: "No open challenges." });
    const outcomes = keyedTable([
      { title: "decided", render: (c) => when(c.resolved_at) }, { title: "player", render: people }, { title: "goal", render: (c) => c.goal },
      { title: "stake", num: true, render: (c) => fmt(c.stake_minor) }, { title: "outcome", render: (c) => STATE[c.state] || c.state },
      { title: "reason", render: (c) => c.outcome_reason || "" },
    ], { empty: "No outcomes yet." });
    root.append(el("h2", { text: "Challenges" }),
      el("div", { class: "card" }, el("h2", { text: "Proofs to review" }), el("div", { class: "scroll" }, queue.table)),
      el("div", { class: "card" }, el("h2", { text: "Open challenges" }), el("div", { class: "scroll" }, open.table)),
      el("div", { class: "card" }, el("h2", { text: "Outcomes" }), el("div", { class: "scroll" }, outcomes.table)));
    async function refresh() {
      try {
        const [q, o, d] = await Promise.all([api("/admin/challenges/proofs?state=pending"), api("/admin/challenges?state=open"), api("/admin/challenges/outcomes?limit=30")]);
        queue.update(q.proofs); open.update(o.challenges); outcomes.update(d.outcomes);
      } catch (err) { message(root, err.message); }
    }
    await refresh(); const timer = setInterval(refresh, EVERY_MS);
    return () => { clearInterval(timer); for (const u of urls.values()) URL.revokeObjectURL(u); };
  },
};
