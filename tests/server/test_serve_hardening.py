"""`matchpot serve` as a real subprocess: tokens never reach its log, and half-sent or
oversized request headers are cut off (uvicorn alone waits forever)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from tests import support
from tests.server.gateway_helpers import new_player
from tests.support import REPO, LiveServer, free_port

pytestmark = pytest.mark.usefixtures("ledger")

START_TIMEOUT_S = 60.0
WAIT_S = 20.0  # a generous bound for anything the server should do within ~1 s
HEADER_TIMEOUT_S = 1


@dataclass
class Served:
    """A server subprocess and the lines of its log so far (read as they come)."""

    port: int
    proc: asyncio.subprocess.Process
    lines: list[str] = field(default_factory=list)
    _new_line: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def pump(self) -> None:
        assert self.proc.stderr is not None
        while line := await self.proc.stderr.readline():
            async with self._new_line:
                self.lines.append(line.decode(errors="replace"))
                self._new_line.notify_all()

    async def wait_for_line(self, needle: str, timeout_s: float = WAIT_S) -> str:
        """The first log line containing `needle`, waiting for it if needed."""
        async with asyncio.timeout(timeout_s), self._new_line:
            seen = 0
            while True:
                for line in self.lines[seen:]:
                    if needle in line:
                        return line
                seen = len(self.lines)
                if self.proc.returncode is not None:
                    raise AssertionError("server exited:\n" + "".join(self.lines[-40:]))
                await self._new_line.wait()


@pytest.fixture(scope="module")
async def served(
    test_services: support.TestServices, tmp_path_factory: pytest.TempPathFactory,
    server: LiveServer,  # migrations done, and a state to mint tokens with
) -> AsyncIterator[Served]:
    data_dir: Path = tmp_path_factory.mktemp("served")
    port = free_port()
    env = test_services.env(
        data_dir, MATCHPOT_LOG_LEVEL="INFO", MATCHPOT_LOG_FORMAT="console",
        MATCHPOT_NODE_ID="served", MATCHPOT_HTTP_HEADER_TIMEOUT_S=str(HEADER_TIMEOUT_S),
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "server", "serve", "--port", str(port), env=env, cwd=REPO,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )
    s = Served(port, proc)
    pump = asyncio.create_task(s.pump())
    try:
        # Logged once the socket listens; "Application startup complete" comes before the
        # bind, and a connect right after it can be refused on a busy machine.
        await s.wait_for_line("Uvicorn running on", START_TIMEOUT_S)
        yield s
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 40)
        except TimeoutError:
            proc.kill()
            await proc.wait()
        await asyncio.wait_for(pump, 10)


async def test_a_token_in_the_url_is_redacted_from_the_log(
    served: Served, server: LiveServer
) -> None:
    _, token = await new_player(server.state)
    url = f"ws://127.0.0.1:{served.port}/ws?token={token}&v=1"
    async with connect(url) as ws:
        await ws.send(json.dumps({"t": "hello", "rid": 1, "token": token}))
        welcome = json.loads(await asyncio.wait_for(ws.recv(), WAIT_S))
        assert welcome["t"] == "welcome"
    line = await served.wait_for_line('"WebSocket /ws')
    assert "token=[redacted]" in line and "&v=1" in line
    signature = token.rsplit(".", 1)[1]
    assert not [seen for seen in served.lines if signature in seen]


async def _cut_off(port: int, payload: bytes) -> bytes:
    """Send `payload` and nothing more; return what the server sent before closing."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(payload)
        await writer.drain()
        async with asyncio.timeout(WAIT_S):
            try:
                return await reader.read()  # until EOF: the server closed the connection
            except ConnectionResetError:  # closed with our bytes unread: a reset, nothing sent
                return b""
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def test_half_sent_handshakes_are_closed(served: Served) -> None:
    handshake = (
        b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    )
    assert await _cut_off(served.port, handshake) == b""
    assert await _cut_off(served.port, b"") == b""  # connected, never said anything
    assert await _cut_off(served.port, b"GET /healthz HTTP/1.1\r\nX-Pad: " + b"a" * 40_000) == b""


async def test_complete_requests_are_unaffected(served: Served) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
    try:
        request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        writer.write(request)
        await writer.drain()
        async with asyncio.timeout(WAIT_S):
            head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200")
        assert b"server: uvicorn" not in head.lower()
        assert b"x-content-type-options: nosniff" in head.lower()
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
