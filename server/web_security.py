"""Browser security headers on every HTTP response, and the guard of `/metrics`.

The PWA (`/`) and the admin page (`/admin`) hold access tokens in the browser;
a page that can be framed can be clickjacked, and one that runs injected script
leaks them. The Content-Security-Policy fits what clients/web loads: scripts,
styles, the manifest, the icon and the service worker from this origin only
(pictures also from `blob:`: wager evidence is fetched with the access token and
shown from an object URL, since an `<img src>` cannot send the token);
the WhatsApp simulator page's inline `<style>` block and a few style attributes
(hence `'unsafe-inline'` for styles, never for scripts); fetch/websocket to this
origin, to this node's public URL and to `MATCHPOT_CSP_CONNECT_SRC` (other
nodes' origins when they are not behind one balancer). API responses get the same
headers: they cost nothing and JSON never needs to be framed or sniffed.
"""

from __future__ import annotations

import hmac
import ipaddress
from urllib.parse import urlsplit

from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.config import Settings


def _ws_origin(public_url: str) -> list[str]:
    """The websocket origin (ws:// or wss://) matching an http(s) public URL."""
    parts = urlsplit(public_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return []
    scheme = "wss" if parts.scheme == "https" else "ws"
    return [f"{parts.scheme}://{parts.netloc}", f"{scheme}://{parts.netloc}"]


def content_security_policy(settings: Settings) -> str:
    """The CSP for this node's pages."""
    connect = ["'self'", *_ws_origin(settings.resolved_public_url),
               *settings.csp_connect_src.split()]
    directives = {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:"],  # blob: proofs the console fetches with its token
        "media-src": ["'self'", "blob:"],
        "connect-src": list(dict.fromkeys(connect)),
        "manifest-src": ["'self'"],
        "worker-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
    return "; ".join(f"{name} {' '.join(values)}" for name, values in directives.items())


def security_headers(settings: Settings) -> list[tuple[bytes, bytes]]:
    """The headers added to every HTTP response."""
    return [
        (b"content-security-policy", content_security_policy(settings).encode()),
        (b"x-frame-options", b"DENY"),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
        (b"cross-origin-opener-policy", b"same-origin"),
    ]


class SecurityHeaders:
    """ASGI middleware: add `security_headers()` to HTTP responses that do not set their own."""

    def __init__(self, app: ASGIApp, settings: Settings | None = None) -> None:
        self.app = app
        self._headers: list[tuple[bytes, bytes]] | None = (
            security_headers(settings) if settings is not None else None
        )

    def _for(self, scope: Scope) -> list[tuple[bytes, bytes]]:
        if self._headers is None:  # settings come with the app state at start-up
            self._headers = security_headers(scope["app"].state.mp.settings)
        return self._headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = self._for(scope)

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend((n, v) for n, v in extra if n not in present)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_wrapper)


def metrics_refusal(request: Request) -> JSONResponse | None:
    """None if the caller may read /metrics, else the answer to send.

    With `MATCHPOT_METRICS_TOKEN` set, `Authorization: Bearer <token>` is required
    (compared in constant time). Without one, only loopback clients are answered:
    metrics name internals (error codes, queue sizes) that the public need not see.
    """
    token = request.app.state.mp.settings.metrics_token
    if token:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(),
                                                              token.encode()):
            return None
        return JSONResponse(
            {"code": "token_invalid", "msg": "Send the metrics token as a Bearer token."}, 401,
            headers={"WWW-Authenticate": "Bearer"},
        )
    if is_loopback(request):
        return None
    return JSONResponse(
        {"code": "forbidden",
         "msg": "Metrics answer loopback clients only; set MATCHPOT_METRICS_TOKEN."}, 403,
    )


def is_loopback(conn: HTTPConnection) -> bool:
    """True when the (resolved) client address is a loopback address."""
    host = conn.client.host if conn.client else None
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
