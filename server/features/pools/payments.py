"""Paying for a weekly pass or a buy-back: a provider interface, the wallet and Stripe Checkout.

- `wallet`: the price in the wallet currency moves `user:<id> -> house` at once (a wallet
  funded by M-Pesa STK or any deposit; a price of 0 makes the pass free).
- `stripe`: a Checkout Session is created (client_reference_id = the purchase id); Stripe
  then calls `POST /pools/stripe/webhook` with `checkout.session.completed`, verified with
  the `Stripe-Signature` header and the endpoint secret. The payment is booked
  `clearing:stripe -> house` in the Stripe currency (ext_ref `stripe:<session id>`, unique).
Either way `confirm()` grants what was bought in the same transaction as the money, exactly
once: the purchase row is locked and moves pending -> paid once; replays change nothing.
"""

from __future__ import annotations

import uuid
from typing import Any, Protocol

import stripe
import structlog

from competitions.pools import weeks
from ledger import HOUSE, Conn, TransferRequest, clearing_account, transfer_id, user_account
from server.features.pools.errors import PoolError
from server.features.pools.service import REGISTERED_TEXT, PoolsService, ident

log = structlog.get_logger(__name__)

STRIPE_CLEARING = clearing_account("stripe")
KINDS = ("pass", "buyback")


class CheckoutProvider(Protocol):
    """A provider that takes the payment elsewhere and confirms it later (a webhook)."""

    name: str

    async def start(self, purchase_id: uuid.UUID, kind: str, user_id: str) -> tuple[str, str]:
        """(provider reference, URL the player opens to pay)."""
        ...


class StripeCheckout:
    """Stripe Checkout Sessions through the `stripe` package (async over httpx)."""

    name = "stripe"

    def __init__(self, svc: PoolsService) -> None:
        cfg = svc.cfg
        self.cfg = cfg
        base = {"api": cfg.stripe_api_base} if cfg.stripe_api_base else None
        self.client = stripe.StripeClient(
            cfg.stripe_secret_key or "sk_unset", base_addresses=base,  # type: ignore[arg-type]
            http_client=stripe.HTTPXClient(), max_network_retries=1)

    def amount(self, kind: str) -> int:
        return self.cfg.stripe_pass_amount if kind == "pass" else self.cfg.stripe_buyback_amount

    async def start(self, purchase_id: uuid.UUID, kind: str, user_id: str) -> tuple[str, str]:
        title = "Weekly pool pass" if kind == "pass" else "Pool buy-back (1000 credits)"
        try:
            session = await self.client.v1.checkout.sessions.create_async(params={
                "mode": "payment", "client_reference_id": str(purchase_id),
                "success_url": self.cfg.stripe_success_url,
                "cancel_url": self.cfg.stripe_cancel_url,
                "metadata": {"purchase_id": str(purchase_id), "kind": kind, "user_id": user_id},
                "line_items": [{"quantity": 1, "price_data": {
                    "currency": self.cfg.stripe_currency, "unit_amount": self.amount(kind),
                    "product_data": {"name": title}}}],
            })
        except stripe.StripeError as exc:
            log.warning("stripe_checkout_failed", error=str(exc))
            raise PoolError("provider_unavailable",
                            "Card payments are not available right now; try again later.",
                            502) from exc
        return str(session.id), str(session.url)

    def verify(self, payload: bytes, signature: str) -> dict[str, Any]:
        """The webhook's event if `Stripe-Signature` is valid for the endpoint secret."""
        if not self.cfg.stripe_webhook_secret:
            raise PoolError("not_found", "Not found.", 404)
        try:
            event = stripe.Webhook.construct_event(payload, signature,
                                                   self.cfg.stripe_webhook_secret)
        except (ValueError, stripe.SignatureVerificationError) as exc:
            raise PoolError("bad_signature", "The webhook signature is not valid.", 400) from exc
        out: dict[str, Any] = event.to_dict()
        return out


async def start_purchase(svc: PoolsService, user_id: str, kind: str, provider: str,
                         idem_key: str) -> dict[str, Any]:
    """Begin buying next week's pass or this week's buy-back; replays return the first."""
    if kind not in KINDS:
        raise PoolError("invalid_request", "Buy a pass or a buy-back.")
    if provider not in svc.cfg.providers:
        raise PoolError("provider_unavailable", "That way of paying is not offered.", 400)
    if not 1 <= len(idem_key) <= 100:
        raise PoolError("invalid_request", "The request needs a key of 1..100 characters.")
    uid = uuid.UUID(user_id)
    pid = ident("purchase", uid, idem_key)
    first = await svc.pool.fetchrow("SELECT * FROM pool_purchases WHERE id = $1", pid)
    if first is not None:
        if first["kind"] != kind or first["provider"] != provider:
            raise PoolError("idempotency_conflict", "That key was used for another purchase.",
                            409)
        return purchase_json(first)
    now = svc.now()
    week = weeks.week_of(now).next() if kind == "pass" else weeks.week_of(now)
    await svc.ensure_week(week)
    if kind == "pass":
        if await svc.pool.fetchval("SELECT 1 FROM pool_passes WHERE week_id = $1 AND"
                                   " user_id = $2", week.id, uid):
            raise PoolError("already_registered", REGISTERED_TEXT, 409)
    else:
        await svc.check_buyback(week, uid)
    if provider == "wallet":
        price = svc.cfg.pass_price_minor if kind == "pass" else svc.cfg.buyback_price_minor
        currency = svc.wallet_currency()
    else:
        price = StripeCheckout(svc).amount(kind)
        currency = svc.cfg.stripe_currency.upper()
    try:
        await svc.pool.execute(
            "INSERT INTO pool_purchases (id, user_id, week_id, kind, provider, amount_minor,"
            " currency, idem_key, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            pid, uid, week.id, kind, provider, price, currency, idem_key, now)
    except Exception as exc:
        if "pool_purchases_one_" in str(exc):
            raise PoolError("purchase_pending",
                            "You already have this purchase under way.", 409) from exc
        raise
    if provider == "wallet":
        await confirm(svc, pid, None, price, currency)
    else:
        try:
            ref, url = await StripeCheckout(svc).start(pid, kind, user_id)
        except PoolError:
            await svc.pool.execute("UPDATE pool_purchases SET state = 'failed' WHERE id = $1",
                                   pid)
            raise
        await svc.pool.execute("UPDATE pool_purchases SET provider_ref = $2, checkout_url = $3"
                               " WHERE id = $1", pid, ref, url)
    row = await svc.pool.fetchrow("SELECT * FROM pool_purchases WHERE id = $1", pid)
    assert row is not None
    return purchase_json(row)


async def confirm(svc: PoolsService, purchase_id: uuid.UUID, provider_ref: str | None,
                  amount: int, currency: str) -> bool:
    """Book a confirmed payment and grant what it bought, once; True the first time."""
    pool_to_refresh: str | None = None
    async with svc.pool.acquire() as conn, conn.transaction():
        p = await conn.fetchrow("SELECT * FROM pool_purchases WHERE id = $1 FOR UPDATE",
                                purchase_id)
        if p is None:
            log.warning("pool_purchase_unknown", purchase=str(purchase_id))
            return False
        if p["state"] == "paid":
            return False
        if amount != p["amount_minor"] or currency.upper() != p["currency"]:
            log.error("pool_purchase_amount_mismatch", purchase=str(purchase_id),
                      amount=amount, currency=currency)
            return False
        if p["provider"] == "stripe" and provider_ref != p["provider_ref"]:
            log.error("pool_purchase_ref_mismatch", purchase=str(purchase_id))
            return False
        if amount > 0:
            debit = STRIPE_CLEARING if p["provider"] == "stripe" else user_account(p["user_id"])
            await svc.state.ledger.apply(conn, [TransferRequest(
                id=transfer_id("pool-purchase", purchase_id), debit=debit, credit=HOUSE,
                amount_minor=amount, currency=p["currency"], code=f"pool_{p['kind']}",
                ext_ref=f"stripe:{provider_ref}" if p["provider"] == "stripe" else None,
                meta={"week": p["week_id"]})])
        await conn.execute("UPDATE pool_purchases SET state = 'paid', paid_ms = $2 WHERE id = $1",
                           purchase_id, svc.now())
        pool_to_refresh = await _fulfil(svc, conn, p)
    if pool_to_refresh:
        await svc.boards.refresh([pool_to_refresh], [str(p["user_id"])])
    return True


async def _fulfil(svc: PoolsService, conn: Conn, p: Any) -> str | None:
    if p["kind"] == "pass":
        await svc.grant_pass(conn, p["week_id"], p["user_id"], "purchase", p["id"])
        return None
    return await svc.grant_buyback(conn, p["week_id"], p["user_id"])


async def stripe_webhook(svc: PoolsService, payload: bytes, signature: str) -> dict[str, Any]:
    """Handle one verified Stripe event; unknown types are acknowledged and ignored."""
    event = StripeCheckout(svc).verify(payload, signature)
    kind = event.get("type")
    obj = (event.get("data") or {}).get("object") or {}
    if kind == "checkout.session.completed" and obj.get("payment_status") == "paid":
        try:
            pid = uuid.UUID(str(obj.get("client_reference_id")))
        except ValueError:
            return {"received": True}
        first = await confirm(svc, pid, str(obj.get("id")), int(obj.get("amount_total") or 0),
                              str(obj.get("currency") or ""))
        return {"received": True, "credited": first}
    if kind in ("checkout.session.expired", "checkout.session.async_payment_failed"):
        await svc.pool.execute(
            "UPDATE pool_purchases SET state = 'failed' WHERE provider_ref = $1"
            " AND state = 'pending'", str(obj.get("id")))
    return {"received": True}


def purchase_json(r: Any) -> dict[str, Any]:
    out = {"id": str(r["id"]), "kind": r["kind"], "provider": r["provider"],
           "week_id": r["week_id"], "amount_minor": r["amount_minor"], "currency": r["currency"],
           "state": r["state"], "checkout_url": r["checkout_url"]}
    if r["kind"] == "pass" and r["state"] == "paid":
        out["text"] = REGISTERED_TEXT
    return out
