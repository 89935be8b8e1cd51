"""`matchpot` command line: serve, migrate, admin create, services status/stop."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from server.config import Settings

if TYPE_CHECKING:
    from server.state import AppState

T = TypeVar("T")

HTTP_CONCURRENCY_MARGIN = 1024  # HTTP requests and handshakes on top of the websocket cap


def uvicorn_config(app: Any, settings: Settings, **overrides: Any) -> Any:
    """The uvicorn configuration `matchpot serve` runs with, limits included.

    Headers must arrive within `http_header_timeout_s` and fit `http_max_header_bytes`
    (server/http_limits.py: uvicorn alone never times out a half-sent request or
    handshake); idle keep-alive connections close after `http_keep_alive_s`;
    connections plus in-flight requests are capped (`http_limit_concurrency`, default
    the websocket cap plus a margin, so the gateway's own `server_full` answers first).
    Client addresses come from X-Forwarded-For only when the peer is trusted
    (uvicorn's FORWARDED_ALLOW_IPS, default 127.0.0.1): the per-IP limits rely on it.
    """
    import uvicorn

    from server.http_limits import guarded_http_protocol

    http_protocol = guarded_http_protocol(
        settings.http_header_timeout_s, settings.http_max_header_bytes
    )
    values: dict[str, Any] = dict(
        host=settings.host, port=settings.port, log_level=settings.log_level.lower(),
        http=http_protocol or "auto",
        ws="websockets-sansio", ws_max_size=settings.ws_max_frame_bytes,
        ws_ping_interval=settings.ws_ping_interval_s, ws_ping_timeout=settings.ws_ping_interval_s,
        ws_per_message_deflate=False,  # small frames: compression costs more CPU than it saves
        loop="uvloop" if sys.platform != "win32" else "asyncio", access_log=False,
        timeout_graceful_shutdown=30,
        timeout_keep_alive=settings.http_keep_alive_s,
        h11_max_incomplete_event_size=settings.http_max_header_bytes,
        limit_concurrency=settings.http_limit_concurrency
        or settings.ws_max_connections + HTTP_CONCURRENCY_MARGIN,
        server_header=False,  # do not advertise the server software and version
    )
    values.update(overrides)
    return uvicorn.Config(app, **values)


def _serve(args: argparse.Namespace) -> int:
    from server import logs
    from server.app import create_app

    if args.demo:
        os.environ["MATCHPOT_DEMO"] = "1"
    if args.port is not None:
        os.environ["MATCHPOT_PORT"] = str(args.port)
    if args.host is not None:
        os.environ["MATCHPOT_HOST"] = args.host
    if args.demo:  # WhatsApp against the in-process Graph API stand-in (features/wasim)
        from server.features.wasim.feature import apply_demo_env

        apply_demo_env(os.environ.get("MATCHPOT_HOST", "127.0.0.1"),
                       int(os.environ.get("MATCHPOT_PORT", "8000")))
    settings = Settings()
    logs.configure(settings.log_level, settings.log_format)
    app = create_app(settings)
    config = uvicorn_config(app, settings)
    _tune_gc()
    logs.install_secret_filter()  # again: uvicorn.Config has just (re)configured its loggers
    draining_server(config).run()
    return 0


def _tune_gc() -> None:
    """Fewer, cheaper collections for a process that holds many live objects.

    Everything imported and loaded at start-up (modules, the question bank) is moved
    out of the collector's sight (`gc.freeze`), and the youngest generation is
    collected every 10,000 allocations instead of 700: with thousands of rooms and
    sockets each young collection found little garbage, and the full collections it
    triggered paused the event loop in bursts. Pauses are measured in
    `matchpot_gc_pause_seconds`.
    """
    import gc
    import time

    from server import loop_lag

    gc.collect()
    gc.freeze()
    _gen0, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(10_000, gen1, gen2)
    started: list[float] = [0.0]

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            loop_lag.note_gc_pause(int(info.get("generation", -1)),
                                   time.perf_counter() - started[0])

    gc.callbacks.append(on_gc)


def draining_server(config: Any) -> Any:
    """A uvicorn server that, on the first SIGTERM/SIGINT, drains live rooms before exiting.

    Uvicorn alone would close every websocket at once; draining first lets
    players finish their duels (bounded by MATCHPOT_DRAIN_TIMEOUT_S) while their
    connections stay open. A second signal exits at once.
    """
    import asyncio

    import uvicorn

    class _Server(uvicorn.Server):
        drain_task: asyncio.Task[None] | None = None

        def handle_exit(self, sig, frame):  # type: ignore[no-untyped-def]
            state = getattr(config.app.state, "mp", None)
            if self.drain_task is not None or state is None:
                return super().handle_exit(sig, frame)

            async def drain_then_exit() -> None:
                state.draining = True
                from server.features.play.service import PLAY

                play = state.find(PLAY)
                if play is not None:
                    try:
                        await play.stop()
                    except Exception as exc:  # exit anyway: the sweeper voids what is left
                        print(f"drain failed: {exc!r}", file=sys.stderr)
                self.should_exit = True

            self.drain_task = asyncio.get_running_loop().create_task(drain_then_exit())

    return _Server(config)


async def _with_state(fn: Callable[[AppState], Awaitable[T]]) -> T:
    from server.app import build_state, close_state

    settings = Settings()
    state = await build_state(settings)
    try:
        return await fn(state)
    finally:
        await close_state(state, stop_services=True)


def _migrate(args: argparse.Namespace) -> int:
    async def run(state):  # type: ignore[no-untyped-def]
        # build_state already migrated; report what is recorded.
        rows = await state.pool.fetch("SELECT name FROM schema_migrations ORDER BY name")
        for row in rows:
            print(row["name"])

    asyncio.run(_with_state(run))
    return 0


def _admin_create(args: argparse.Namespace) -> int:
    from server.admin.accounts import ROLES, create_admin

    if args.role not in ROLES:
        print(f"role must be one of {', '.join(ROLES)}", file=sys.stderr)
        return 2
    password = args.password or os.environ.get("MATCHPOT_ADMIN_PASSWORD")
    if not password:
        password = getpass.getpass("password: ")

    async def run(state):  # type: ignore[no-untyped-def]
        admin_id = await create_admin(state.pool, args.username, password, args.role)
        print(f"admin {args.username} ({args.role}) id={admin_id}")

    asyncio.run(_with_state(run))
    return 0


def _services_status(args: argparse.Namespace) -> int:
    import json

    from server.embedded import services_status

    print(json.dumps(services_status(Settings().data_dir), indent=2))
    return 0


def _services_stop(args: argparse.Namespace) -> int:
    """Stop the embedded services, e.g. the orphans of a killed server that is not restarted."""
    from server.embedded import stop_embedded

    data_dir = Settings().data_dir
    users = stop_embedded(data_dir, force=args.force)
    if users and not args.force:
        print(f"not stopped: processes {users} use the embedded services of {data_dir} "
              "(stop them, or pass --force)", file=sys.stderr)
        return 1
    print(f"embedded services of {data_dir} stopped")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `matchpot` console script."""
    parser = argparse.ArgumentParser(prog="matchpot", description="Matchpot server")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the server (embedded Postgres/Redis if unset)")
    serve.add_argument("--demo", action="store_true", help="seed a playable demo")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.set_defaults(fn=_serve)
    mig = sub.add_parser("migrate", help="apply database migrations")
    mig.set_defaults(fn=_migrate)
    admin = sub.add_parser("admin", help="manage admin accounts")
    admin_sub = admin.add_subparsers(dest="admin_command", required=True)
    create = admin_sub.add_parser("create", help="create an admin")
    create.add_argument("username")
    create.add_argument("--role", default="superadmin")
    create.add_argument("--password", help="or MATCHPOT_ADMIN_PASSWORD, or asked for")
    create.set_defaults(fn=_admin_create)
    services = sub.add_parser(
        "services", help="the embedded Postgres/Redis of MATCHPOT_DATA_DIR",
    )
    services_sub = services.add_subparsers(dest="services_command", required=True)
    status = services_sub.add_parser("status", help="what runs, what is recorded, who uses it")
    status.set_defaults(fn=_services_status)
    stop = services_sub.add_parser("stop", help="stop them if no server uses them")
    stop.add_argument("--force", action="store_true", help="stop them even if in use")
    stop.set_defaults(fn=_services_stop)
    args = parser.parse_args(argv)
    return int(args.fn(args))


if __name__ == "__main__":
    raise SystemExit(main())
