"""A stand-in for Stripe's API on 127.0.0.1: Checkout Sessions and signed webhook events.

It answers `POST /v1/checkout/sessions` (form-encoded, Bearer secret key) like Stripe does,
remembers each session, and builds `checkout.session.completed` events signed the way
Stripe signs them (`Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "t.payload">`), so a
test can deliver them to the server's webhook any number of times.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

MAX_BODY_BYTES = 64 * 1024


def _nest(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's form encoding (`line_items[0][price_data][currency]=usd`) back into a dict."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        parts = key.replace("]", "").split("[")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return out


@dataclass
class FakeStripe:
    secret_key: str = "sk_test_pools"
    webhook_secret: str = "whsec_test_pools"
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    _seq: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _tag: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeStripe:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def _reply(self, status: int, body: dict[str, Any]) -> None:
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_POST(self) -> None:
                length = min(int(self.headers.get("Content-Length", "0")), MAX_BODY_BYTES)
                raw = self.rfile.read(length).decode()
                if self.headers.get("Authorization") != f"Bearer {fake.secret_key}":
                    self._reply(401, {"error": {"type": "invalid_request_error",
                                                "message": "Invalid API Key provided"}})
                    return
                if self.path != "/v1/checkout/sessions":
                    self._reply(404, {"error": {"type": "invalid_request_error",
                                                "message": "Unrecognized request URL"}})
                    return
                self._reply(200, fake.create_session(_nest(parse_qsl(raw))))

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True,
                         kwargs={"poll_interval": 0.05}).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def create_session(self, params: dict[str, Any]) -> dict[str, Any]:
        item = params["line_items"]["0"]
        amount = int(item["price_data"]["unit_amount"]) * int(item.get("quantity", "1"))
        with self._lock:
            sid = f"cs_test_{self._tag}_{next(self._seq)}"
            session = {
                "id": sid, "object": "checkout.session", "mode": params.get("mode"),
                "url": f"https://checkout.stripe.test/c/pay/{sid}",
                "client_reference_id": params.get("client_reference_id"),
                "metadata": params.get("metadata", {}), "amount_total": amount,
                "currency": item["price_data"]["currency"], "payment_status": "unpaid",
                "status": "open",
            }
            self.sessions[sid] = session
        return session

    def completed(self, session_id: str, *, secret: str | None = None) -> tuple[bytes, str]:
        """(payload, Stripe-Signature) of `checkout.session.completed` for a paid session."""
        session = dict(self.sessions[session_id], payment_status="paid", status="complete")
        event = {"id": f"evt_{session_id}", "object": "event", "api_version": "2024-06-20",
                 "type": "checkout.session.completed", "data": {"object": session}}
        payload = json.dumps(event).encode()
        return payload, self.sign(payload, secret or self.webhook_secret)

    @staticmethod
    def sign(payload: bytes, secret: str) -> str:
        t = int(time.time())
        mac = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
        return f"t={t},v1={mac}"
