// The product's words for amounts and ledger entries: never account keys, codes or minor units.

export const cfg = { currency: "KES", money_mode: "credits", minor_per_unit: 100, games: [] };

export function unitName() { return cfg.money_mode === "credits" ? "credits" : cfg.currency; }
export function units(minor) { return (minor / cfg.minor_per_unit).toLocaleString("en", { maximumFractionDigits: 2 }); }
export function fmt(minor) {
  return cfg.money_mode === "credits" ? `${units(minor)} credits` : `${cfg.currency} ${units(minor)}`;
}
export function toMinor(value) { return Math.round(Number(value) * cfg.minor_per_unit); }
export function when(iso) {
  const d = new Date(iso); const now = new Date();
  const same = d.toDateString() === now.toDateString();
  return same ? d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) : d.toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
}
export function gameTitle(name) { return (cfg.games.find((g) => g.name === name) || {}).title || "game"; }

/** One ledger entry as a sentence, or null when it tells nothing new (a resolved hold). */
export function describeTransfer(t) {
  const held = t.kind === "pending";
  if (t.kind === "void" || (held && t.resolved)) return null;
  const words = {
    deposit: "Deposit credited",
    stake: held ? "Stake on hold for a duel" : "Stake played",
    payout: "Prize received",
    refund: "Stake returned",
    stake_void: "Stake returned",
    timeout_bonus: "Bonus for waiting: no opponent came",
    withdrawal_hold: "Withdrawal requested, on hold until approved",
    withdrawal: "Withdrawal paid out",
    withdrawal_out: "Withdrawal paid out",
    withdrawal_payout_sent: "Withdrawal sent to the provider",
    withdrawal_reversal: "Withdrawal returned to your balance",
    demo_float: "Demo credits",
  };
  return words[t.code] || (t.direction === "in" ? "Credit to your balance" : "Debit from your balance");
}

const STATES = { pending: "waiting for approval", approved: "approved", rejected: "declined", failed: "failed" };
export function requestLine(kind, r) {
  const what = kind === "deposit" ? "Deposit" : "Withdrawal";
  let text = `${what} of ${fmt(r.amount_minor)} — ${STATES[r.state] || r.state}`;
  if (r.state === "rejected" && r.reason) text += `. Reason: ${r.reason}`;
  return text;
}
