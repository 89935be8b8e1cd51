"""A stand-in for Safaricom's Daraja API on 127.0.0.1, recording every request.

Answers OAuth, STK Push, STK Query and B2C like the sandbox does, and builds
callback bodies in Daraja's documented shapes so a test can deliver them (in
any order, any number of times) to the server's callback URLs.
"""

from __future__ import annotations

import base64
import itertools
import json
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

MAX_BODY_BYTES = 64 * 1024


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


@dataclass
class FakeDaraja:
    consumer_key: str = "test-key"
    consumer_secret: str = "test-secret"
    token_ttl_s: int = 3599
    requests: list[Recorded] = field(default_factory=list)
    # checkout id -> (ResultCode, ResultDesc) for STK Query; absent => "still processing"
    query_results: dict[str, tuple[int, str]] = field(default_factory=dict)
    b2c_mode: str = "ok"  # ok | reject
    stk_mode: str = "ok"  # ok | reject
    _tokens: set[str] = field(default_factory=set)
    _seq: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    # Ids unique per fake, so fakes of several test modules never reuse one in the shared DB.
    _tag: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeDaraja:
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

            def _record(self, body: Any) -> Recorded:
                parts = urlsplit(self.path)
                rec = Recorded(self.command, parts.path, parse_qs(parts.query),
                               {k.lower(): v for k, v in self.headers.items()}, body)
                with fake._lock:
                    fake.requests.append(rec)
                return rec

            def do_GET(self) -> None:
                rec = self._record(None)
                if rec.path != "/oauth/v1/generate":
                    self._reply(404, {"errorMessage": "not found"})
                    return
                self._reply(*fake.oauth(rec))

            def do_POST(self) -> None:
                length = min(int(self.headers.get("Content-Length", "0")), MAX_BODY_BYTES)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw) if raw else None
                except json.JSONDecodeError:
                    body = None
                rec = self._record(body)
                self._reply(*fake.post(rec))

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        kwargs={"poll_interval": 0.05})
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # --- behaviour -------------------------------------------------------------------------

    def oauth(self, rec: Recorded) -> tuple[int, dict[str, Any]]:
        expected = base64.b64encode(f"{self.consumer_key}:{self.consumer_secret}".encode()).decode()
        if rec.headers.get("authorization") != f"Basic {expected}" or \
                rec.query.get("grant_type") != ["client_credentials"]:
            return 400, {"errorCode": "400.008.01", "errorMessage": "Invalid Authentication"}
        token = f"tok{next(self._seq)}"
        with self._lock:
            self._tokens.add(token)
        return 200, {"access_token": token, "expires_in": str(self.token_ttl_s)}

    def post(self, rec: Recorded) -> tuple[int, dict[str, Any]]:
        auth = rec.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in self._tokens:
            return 401, {"errorCode": "404.001.03", "errorMessage": "Invalid Access Token"}
        body = rec.body if isinstance(rec.body, dict) else {}
        n = next(self._seq)
        if rec.path == "/mpesa/stkpush/v1/processrequest":
            if self.stk_mode == "reject":
                return 400, {"errorCode": "400.002.02", "errorMessage": "Bad Request - Invalid"}
            return 200, {"MerchantRequestID": f"29115-{n}",
                         "CheckoutRequestID": f"ws_CO_{self._tag}{n:06d}",
                         "ResponseCode": "0",
                         "ResponseDescription": "Success. Request accepted for processing",
                         "CustomerMessage": "Success. Request accepted for processing"}
        if rec.path == "/mpesa/stkpushquery/v1/query":
            checkout = body.get("CheckoutRequestID", "")
            if checkout not in self.query_results:
                return 500, {"errorCode": "500.001.1001",
                             "errorMessage": "The transaction is being processed"}
            code, desc = self.query_results[checkout]
            return 200, {"ResponseCode": "0", "ResponseDescription": "The service request has"
                         " been accepted successsfully", "MerchantRequestID": "29115-q",
                         "CheckoutRequestID": checkout, "ResultCode": str(code),
                         "ResultDesc": desc}
        if rec.path == "/mpesa/b2c/v3/paymentrequest":
            if self.b2c_mode == "reject":
                return 400, {"errorCode": "401.002.01", "errorMessage": "Error Occurred -"
                             " Invalid Access Token"}
            return 200, {"ConversationID": f"AG_2024_{self._tag}{n}",
                         "OriginatorConversationID": body.get("OriginatorConversationID"),
                         "ResponseCode": "0",
                         "ResponseDescription": "Accept the service request successfully."}
        return 404, {"errorMessage": "not found"}

    # --- inspection and callbacks -----------------------------------------------------------

    def calls(self, path: str) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def stk_pushes(self) -> list[Recorded]:
        return self.calls("/mpesa/stkpush/v1/processrequest")

    def b2c_requests(self) -> list[Recorded]:
        return self.calls("/mpesa/b2c/v3/paymentrequest")


def stk_callback(
    checkout_id: str, result_code: int, *, amount_kes: int | None = None,
    receipt: str | None = None, phone: int = 254712345678, merchant_id: str = "29115-1",
) -> dict[str, Any]:
    """An STK callback body as Daraja posts it (metadata only on success)."""
    cb: dict[str, Any] = {
        "MerchantRequestID": merchant_id, "CheckoutRequestID": checkout_id,
        "ResultCode": result_code,
        "ResultDesc": "The service request is processed successfully." if result_code == 0
        else ("Request cancelled by user" if result_code == 1032 else "Failed"),
    }
    if result_code == 0:
        items: list[dict[str, Any]] = [
            {"Name": "Amount", "Value": amount_kes},
            {"Name": "MpesaReceiptNumber", "Value": receipt},
            {"Name": "Balance"},
            {"Name": "TransactionDate", "Value": 20241121223600},
            {"Name": "PhoneNumber", "Value": phone},
        ]
        items.reverse()  # order is not guaranteed: the server must look items up by Name
        cb["CallbackMetadata"] = {"Item": items}
    return {"Body": {"stkCallback": cb}}


def b2c_result(
    originator_id: str, result_code: int, *, receipt: str | None = None,
    amount_kes: int | None = None,
) -> dict[str, Any]:
    """A B2C Result body (also the shape of the queue-timeout notice)."""
    result: dict[str, Any] = {
        "ResultType": 0, "ResultCode": result_code,
        "ResultDesc": "The service request is processed successfully." if result_code == 0
        else "The initiator information is invalid.",
        "OriginatorConversationID": originator_id, "ConversationID": "AG_2024_x",
        "TransactionID": receipt or "OAK0000000",
    }
    if result_code == 0:
        result["ResultParameters"] = {"ResultParameter": [
            {"Key": "TransactionAmount", "Value": amount_kes},
            {"Key": "TransactionReceipt", "Value": receipt},
            {"Key": "ReceiverPartyPublicName", "Value": "254712345678 - Test Player"},
        ]}
    return {"Result": result}


async def deliver(url: str, body: Any) -> httpx.Response:
    """POST a callback body to the server, as Daraja would."""
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.post(url, json=body)
