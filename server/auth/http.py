"""Player login over HTTP: request a code, verify it, refresh, log out."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from typing import Any

import structlog
from pydantic import Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server import metrics
from server.auth import limits, refresh, sessions
from server.auth.otp import OtpError, OtpService
from server.auth.otp_senders import OtpSender, UnknownSender, build_sender
from server.auth.phones import InvalidPhone, normalise_phone
from server.auth.tokens import issue_access_token
from server.auth.users import User, get_or_create_user_by_phone, get_user
from server.errors import ApiError
from server.logs import mask_phone
from server.state import AppState, Slot
from server.web.bodies import StrictBody, read_body

log = structlog.get_logger(__name__)


class PhoneBody(StrictBody):
    phone: str = Field(min_length=1, max_length=32)


class VerifyBody(StrictBody):
    phone: str = Field(min_length=1, max_length=32)
    code: str = Field(pattern=r"^[0-9]{6}$")


class RefreshBody(StrictBody):
    refresh_token: str = Field(min_length=1, max_length=128)


OTP_SERVICE: Slot[OtpService] = Slot("otp_service", OtpService)
OTP_SENDER: Slot[Any] = Slot("otp_sender", object)  # any OtpSender (a protocol)


def otp_service(state: AppState) -> OtpService:
    return state.need(OTP_SERVICE)


def otp_sender(state: AppState) -> OtpSender:
    """The configured sender, built on first use so a later feature can register it."""
    sender: OtpSender = state.find(OTP_SENDER) or state.provide(
        OTP_SENDER, build_sender(state.settings.otp_sender, state))
    return sender


def _phone(state: AppState, raw: str) -> str:
    try:
        return normalise_phone(raw, state.settings.default_region)
    except InvalidPhone as exc:
        raise ApiError(400, "phone_invalid", "That is not a valid phone number.") from exc


def _otp_error(exc: OtpError) -> JSONResponse:
    metrics.ERRORS.labels(code=exc.code).inc()
    headers = {"Retry-After": str(exc.retry_after_s)} if exc.retry_after_s else None
    return JSONResponse({"code": exc.code, "msg": exc.msg}, exc.status, headers=headers)


async def session_for(state: AppState, user: User) -> dict[str, object]:
    """A new login session: an access token, the first refresh token of a family, the user.

    The family id is the session id (`sid`) of every access token of this login, so
    logging out can revoke them all (server/auth/sessions.py).
    """
    settings = state.settings
    refresh_token, family_id = await refresh.start_family_with_id(
        state.pool, user.id, settings.jwt_refresh_ttl_s
    )
    access = issue_access_token(
        state.jwt_secret, user.id, "player", settings.jwt_access_ttl_s, session_id=family_id
    )
    return {
        "access_token": access, "refresh_token": refresh_token, "token_type": "bearer",
        "expires_in": settings.jwt_access_ttl_s, "user": user.public(),
    }


async def _limit_codes_per_ip(request: Request, state: AppState) -> None:
    """Each code costs a message: one client may not ask for codes for many numbers.

    The per-number limits live in OtpService; this one counts every valid request
    from the client's IP, before anything is sent.
    """
    s = state.settings
    key = limits.counter_key(s.redis_prefix, "otp_ip", limits.client_ip(request))
    hit = await limits.hit(state.redis, key, s.otp_ip_window_s)
    if hit.over(s.otp_ip_max):
        raise OtpError(
            429, "otp_rate_limited",
            f"Too many codes requested from this network; try again in {hit.retry_after_s} s.",
            hit.retry_after_s,
        )


async def request_code(request: Request) -> Response:
    state: AppState = request.app.state.mp
    body = await read_body(request, PhoneBody)
    phone = _phone(state, body.phone)
    try:
        await _limit_codes_per_ip(request, state)
        code = await otp_service(state).issue(phone)
    except OtpError as exc:
        return _otp_error(exc)
    try:
        await otp_sender(state).send(phone, code, state.settings.otp_ttl_s)
        metrics.OTP_SENT.labels(state.settings.otp_sender).inc()
    except Exception as exc:
        log.exception("otp_delivery_failed", phone=mask_phone(phone))
        raise ApiError(
            502, "otp_delivery_failed", "The code could not be sent; try again."
        ) from exc
    return JSONResponse(
        {"phone": phone, "expires_in": state.settings.otp_ttl_s,
         "resend_after": state.settings.otp_resend_interval_s},
        202,
    )


async def verify_code(request: Request) -> Response:
    state: AppState = request.app.state.mp
    body = await read_body(request, VerifyBody)
    phone = _phone(state, body.phone)
    try:
        await otp_service(state).verify(phone, body.code)
    except OtpError as exc:
        metrics.LOGINS.labels("player", "refused").inc()
        return _otp_error(exc)
    metrics.LOGINS.labels("player", "ok").inc()
    user = await get_or_create_user_by_phone(state.pool, phone)
    suspended = await state.pool.fetchval(  # an operator's suspension (features/limits)
        "SELECT reason FROM player_suspensions WHERE user_id = $1", uuid.UUID(user.id))
    if suspended is not None:
        raise ApiError(403, "account_suspended", f"Your account is suspended: {suspended}")
    log.info("player_logged_in", user_id=user.id)
    return JSONResponse(await session_for(state, user))


async def refresh_session(request: Request) -> Response:
    state: AppState = request.app.state.mp
    body = await read_body(request, RefreshBody)
    try:
        rotated = await refresh.rotate(
            state.pool, body.refresh_token, state.settings.jwt_refresh_ttl_s
        )
    except refresh.RefreshError as exc:
        if exc.code == "refresh_reused" and exc.session is not None:
            log.warning("refresh_token_reused_family_revoked")
            # A copied token: the access tokens and sockets of the family end too.
            await sessions.revoke(state, *exc.session)
        raise ApiError(401, exc.code, exc.msg) from exc
    user = await get_user(state.pool, rotated.user_id)
    if user is None:
        raise ApiError(401, "refresh_invalid", "The refresh token is not valid.")
    access = issue_access_token(
        state.jwt_secret, user.id, "player", state.settings.jwt_access_ttl_s,
        session_id=rotated.family_id,
    )
    return JSONResponse({
        "access_token": access, "refresh_token": rotated.refresh_token, "token_type": "bearer",
        "expires_in": state.settings.jwt_access_ttl_s, "user": user.public(),
    })


async def logout(request: Request) -> Response:
    """End the session: its refresh tokens (Postgres), its access tokens and open sockets
    (Redis). Repeating a logout repeats the revocation, so a retry after a failure is safe."""
    state: AppState = request.app.state.mp
    body = await read_body(request, RefreshBody)
    session = await refresh.revoke_family_of(state.pool, body.refresh_token)
    if session is None:
        raise ApiError(401, "refresh_invalid", "The refresh token is not valid.")
    await sessions.revoke(state, *session)
    return Response(status_code=204)


def otp_key(jwt_secret: str) -> bytes:
    """A key for hashing login codes, derived from (and distinct from) the signing secret."""
    return hmac.new(jwt_secret.encode(), b"matchpot-otp-v1", hashlib.sha256).digest()


async def startup(state: AppState) -> None:
    s = state.settings
    state.provide(OTP_SERVICE, OtpService(
        state.pool, otp_key(state.jwt_secret), ttl_s=s.otp_ttl_s,
        max_attempts=s.otp_max_attempts, resend_interval_s=s.otp_resend_interval_s,
        max_per_hour=s.otp_max_per_hour,
    ))
    try:
        otp_sender(state)
    except UnknownSender:
        log.warning("otp_sender_not_registered_yet", sender=s.otp_sender)


routes = [
    Route("/auth/otp/request", request_code, methods=["POST"]),
    Route("/auth/otp/verify", verify_code, methods=["POST"]),
    Route("/auth/refresh", refresh_session, methods=["POST"]),
    Route("/auth/logout", logout, methods=["POST"]),
]
