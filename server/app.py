"""The application factory: services, pool, migrations, features, background work.

A feature is a module listed in FEATURES. It may define `routes` (a list of
Starlette routes), `async def startup(state)` and `async def shutdown(state)`.
Startup runs in list order once the pool, Redis and ledger exist; shutdown runs
in reverse.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import io
import time
import uuid
from collections.abc import AsyncIterator
from types import ModuleType
from typing import Any

import structlog
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rooms.clock import Clock, RealClock
from server import loop_lag, metrics
from server.config import Settings
from server.db import DbBounds, create_pool
from server.embedded import Services, start_services
from server.errors import EXCEPTION_HANDLERS
from server.gateway.events import COMMIT_FANOUT, LedgerCommitFanout
from server.logs import outage_log
from server.migrate import migrate
from server.state import AppState
from server.web_security import SecurityHeaders

log = structlog.get_logger(__name__)

TASK_STOP_TIMEOUT_S = 10.0  # background tasks, once cancelled, to finish
CLOSE_TIMEOUT_S = 10.0  # Redis and Postgres pools to close
FEATURE_SHUTDOWN_TIMEOUT_S = 15.0  # a feature's own shutdown, past the rooms' drain
STUCK_STACK_FRAMES = 20

FEATURES: tuple[str, ...] = (
    "server.web.health",
    "server.money.sweeper",
    "server.auth.http",
    "server.admin.http",
    "server.money.wallets.http",
    "server.money.approvals",
    "server.gateway.ws",
    "server.limits.http",
    "server.features.play.feature",
    "server.features.wagers.feature",
    "server.features.tournaments.feature",
    "server.features.console.feature",
    "server.channels.whatsapp.webhook",
    "server.money.payments.http",
    "server.features.quickplay.http",
    "server.features.pools.feature",
    "server.channels.outbox_worker",
    "server.features.challenges.feature",
    "server.features.demo",
    "server.features.wasim.feature",
    "server.web.static",
)


def load_features() -> list[ModuleType]:
    """Import every feature module, in order; a missing one is an error, never skipped."""
    return [importlib.import_module(name) for name in FEATURES]


class RequestContext:
    """Bind a request id to every log line of an HTTP request and count it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = uuid.uuid4().hex[:16]
        started = time.perf_counter()
        status = {"code": 500}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message.setdefault("headers", []).append((b"x-request-id", rid.encode()))
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=rid):
            try:
                await self.app(scope, receive, send_wrapper)
            finally:
                metrics.HTTP_REQUESTS.labels(scope["method"], str(status["code"])).inc()
                metrics.HTTP_LATENCY.observe(time.perf_counter() - started)


def make_redis(settings: Settings, url: str) -> Redis:
    """The process's Redis client, built to ride out a Redis restart.

    A pooled connection idle for `redis_health_check_interval_s` is PINGed before use, so
    connections left from before a restart are replaced instead of failing a request.
    Every command is retried on a lost connection or a timeout, with jittered exponential
    backoff, `redis_retries` times: so every command this project sends must be safe to
    repeat (matchmaking's scripts are written to be; docs/matchmaking.md, "Failure cases").
    Socket timeouts bound each attempt, so the whole wait is bounded too.

    When all `redis_max_connections` are in use (a burst of commands while Redis is slow
    to answer), a command waits for one to come back, at most `redis_socket_timeout_s`,
    instead of failing at once with "Too many connections"; after that wait it fails
    like an unreachable Redis.
    """
    retry = Retry(
        ExponentialWithJitterBackoff(base=settings.redis_retry_base_s,
                                     cap=settings.redis_retry_cap_s),
        settings.redis_retries,
    )
    pool = BlockingConnectionPool.from_url(
        url, decode_responses=False, max_connections=settings.redis_max_connections,
        timeout=settings.redis_socket_timeout_s,
        socket_timeout=settings.redis_socket_timeout_s,
        socket_connect_timeout=settings.redis_connect_timeout_s, socket_keepalive=True,
        health_check_interval=settings.redis_health_check_interval_s, retry=retry,
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
    )
    client = Redis(connection_pool=pool)
    client.auto_close_connection_pool = True  # aclose() closes the pool, as from_url's does
    return client


async def build_state(
    settings: Settings, services: Services | None = None, *, clock: Clock | None = None
) -> AppState:
    """Connect to (or start) Postgres and Redis, migrate, and build the ledger.

    `clock` is the process's one clock (a test passes a ManualClock to drive time).
    """
    from ledger import Ledger

    if services is None:
        services = await asyncio.to_thread(
            start_services, settings.database_url, settings.redis_url, settings.data_dir
        )
    pool = await create_pool(
        services.database_url, min_size=settings.db_pool_min, max_size=settings.db_pool_max,
        bounds=DbBounds.from_settings(settings),
    )
    async with pool.acquire() as conn:
        await migrate(conn)
    redis = make_redis(settings, services.redis_url)
    outage_log(interval_s=settings.outage_log_interval_s)
    await redis.ping()
    commit_fanout = LedgerCommitFanout()  # balance pushes to players' websockets
    ledger = Ledger(pool, on_commit=commit_fanout)
    state = AppState(
        settings=settings, services=services, pool=pool, redis=redis, ledger=ledger,
        jwt_secret=settings.resolved_jwt_secret(), clock=clock or RealClock(),
    )
    commit_fanout.bind(state)
    state.spawn(loop_lag.watch(), name="event-loop-lag")
    return state


async def close_state(state: AppState, *, stop_services: bool) -> list[str]:
    """Stop the background tasks and close Redis and Postgres, each step bounded: a task
    that ignores its cancellation, or a connection never handed back, must not keep the
    process from exiting (its supervisor would have to kill it, mid-write). Returns the names
    of the tasks that did not stop in time; each is logged with where it was stuck."""
    if (fanout := state.find(COMMIT_FANOUT)) is not None:
        fanout.stop()
    for task in state.tasks:
        task.cancel()
    stuck: list[str] = []
    if state.tasks:
        _, pending = await asyncio.wait(state.tasks, timeout=TASK_STOP_TIMEOUT_S)
        for task in pending:
            stuck.append(task.get_name())
            log.error("background_task_did_not_stop", task=task.get_name(),
                      stack=_stack_of(task))
    with contextlib.suppress(Exception):
        async with asyncio.timeout(CLOSE_TIMEOUT_S):
            await state.redis.aclose()
    try:
        async with asyncio.timeout(CLOSE_TIMEOUT_S):
            await state.pool.close()
    except TimeoutError:
        log.error("db_pool_close_timed_out", timeout_s=CLOSE_TIMEOUT_S)
        state.pool.terminate()
    if stop_services:
        await asyncio.to_thread(state.services.stop)
    return stuck


def _stack_of(task: asyncio.Task[Any]) -> str:
    """Where a task is suspended, innermost frame last."""
    out = io.StringIO()
    task.print_stack(limit=STUCK_STACK_FRAMES, file=out)
    return out.getvalue()


def create_app(
    settings: Settings | None = None, services: Services | None = None, *,
    clock: Clock | None = None,
) -> Starlette:
    """Build the ASGI app. Pass `services` to reuse running Postgres/Redis (tests do), and
    `clock` to drive the rooms' and matchmaking's time by hand (tests do)."""
    settings = settings or Settings()
    features = load_features()
    routes: list[Any] = []
    for feature in features:
        routes.extend(getattr(feature, "routes", []))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        state = await build_state(settings, services, clock=clock)
        app.state.mp = state
        started: list[ModuleType] = []
        try:
            for feature in features:
                if hasattr(feature, "startup"):
                    await feature.startup(state)
                started.append(feature)
            log.info("server_ready", node=settings.node_id, url=settings.resolved_public_url)
            yield
        finally:
            state.draining = True
            # Live rooms may take the whole drain timeout to finish; nothing else should.
            shutdown_bound_s = settings.drain_timeout_s + FEATURE_SHUTDOWN_TIMEOUT_S
            for feature in reversed(started):
                if hasattr(feature, "shutdown"):
                    try:
                        async with asyncio.timeout(shutdown_bound_s):
                            await feature.shutdown(state)
                    except Exception:
                        log.exception("feature_shutdown_failed", feature=feature.__name__)
            app.state.stuck_tasks = await close_state(state, stop_services=services is None)

    return Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=[Middleware(RequestContext), Middleware(SecurityHeaders)],
    )
