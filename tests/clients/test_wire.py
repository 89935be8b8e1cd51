"""The transport-free wire module shared by the asyncio client and the gevent transport."""

from __future__ import annotations

import json

import msgpack
import pytest
from matchpot_client import MatchpotError, wire


@pytest.mark.parametrize("codec", ["msgpack", "json"])
def test_encode_decode_round_trip(codec: wire.Codec) -> None:
    frame = wire.frame("quiz_answer", 7, room_id="r", index=0, choice=2)
    data = wire.encode(frame, codec)
    assert isinstance(data, bytes if codec == "msgpack" else str)
    assert wire.decode(data) == {"room_id": "r", "index": 0, "choice": 2,
                                 "t": "quiz_answer", "rid": 7}


def test_frame_without_rid_is_a_push_and_t_wins() -> None:
    assert wire.frame("ping", ts=1) == {"ts": 1, "t": "ping"}
    assert wire.frame("ping", rid=9) == {"rid": 9, "t": "ping"}  # a field, as before


@pytest.mark.parametrize(
    "data", [b"\xc1", b"\x93\x01\x02\x03", "[1]", '{"x": 1}', "{", b"\x81\x91\x01\x02"]
)
def test_decode_refuses_what_is_not_a_map_with_t(data: bytes | str) -> None:
    with pytest.raises(ValueError):
        wire.decode(data)


def test_size_limit_is_opt_in() -> None:
    big = wire.frame("chat", 1, text="x" * 100)
    assert wire.encode(big, "json")
    with pytest.raises(MatchpotError) as err:
        wire.encode(big, "json", max_bytes=50)
    assert err.value.code == "frame_too_large"


def test_error_frames_become_matchpot_errors_with_the_stable_code() -> None:
    error = wire.error_of({"t": "error", "rid": 3, "code": "insufficient_funds", "msg": "No."})
    assert isinstance(error, MatchpotError)
    assert (error.code, error.msg) == ("insufficient_funds", "No.")
    assert wire.error_of({"t": "pong", "rid": 3}) is None
    with pytest.raises(MatchpotError) as err:
        wire.welcome_of({"t": "error", "code": "token_expired", "msg": "Refresh."})
    assert err.value.code == "token_expired"
    with pytest.raises(MatchpotError) as err:
        wire.welcome_of({"t": "pong"})
    assert err.value.code == "bad_welcome"
    assert wire.welcome_of({"t": "welcome", "node": "a"})["node"] == "a"


def test_reply_rid_and_request_ids() -> None:
    assert wire.reply_rid({"t": "pong", "rid": 4}) == 4
    assert wire.reply_rid({"t": "pong", "rid": "4"}) is None
    assert wire.reply_rid({"t": "pong", "rid": True}) is None
    assert wire.reply_rid({"t": "balance"}) is None
    ids = wire.RequestIds()
    assert [ids.next(), ids.next()] == [1, 2]
    ids._last = wire.MAX_RID
    assert ids.next() == 1


def test_hello_is_rid_zero_with_the_client_version() -> None:
    hello = wire.hello("tok")
    assert hello == {"t": "hello", "rid": 0, "token": "tok", "client": wire.CLIENT_VERSION}
    assert msgpack.unpackb(wire.encode(hello, "msgpack")) == hello
    assert json.loads(wire.encode(hello, "json")) == hello
