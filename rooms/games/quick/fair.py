"""Provably fair draws: commit to a hashed server seed, derive outcomes with HMAC-SHA256.

A player sees `seed_hash = sha256(server_seed)` before betting. Each bet uses the
next nonce. The draw for an outcome space of size `n` reads the digest
`HMAC-SHA256(key=server_seed, msg=f"{client_seed}:{nonce}")` as eight 32-bit
big-endian words and takes the first word `w` with `w < limit`, where
`limit = 2**32 - (2**32 % n)` (rejection sampling, so every value is equally
likely); the result is `w % n`. If all eight words are rejected (probability
below (n / 2**32) ** 8), the next digest is `HMAC(server_seed,
f"{client_seed}:{nonce}:{round}")` for round = 1, 2, ... up to MAX_ROUNDS.
Once the seed is revealed, anyone can repeat this by hand.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass

SEED_BYTES = 32
WORD_BYTES = 4
WORD_SPACE = 1 << (8 * WORD_BYTES)
MAX_ROUNDS = 16
MAX_OUTCOMES = 1 << 24  # outcome spaces larger than this would reject too often
CLIENT_SEED_MAX_CHARS = 64


class FairnessError(ValueError):
    """A draw was asked for with impossible parameters."""


@dataclass(frozen=True, slots=True)
class DrawInput:
    """Everything that fixes one draw; enough to recompute it once the seed is revealed."""

    server_seed: bytes
    client_seed: str
    nonce: int


def new_server_seed(token_bytes: Callable[[int], bytes] = secrets.token_bytes) -> bytes:
    """A fresh secret seed; the RNG is injectable so tests stay deterministic."""
    seed = token_bytes(SEED_BYTES)
    assert len(seed) == SEED_BYTES
    return seed


def seed_hash(server_seed: bytes) -> str:
    """The public commitment shown before any bet under this seed."""
    return hashlib.sha256(server_seed).hexdigest()


def check_client_seed(client_seed: str) -> str:
    """Client seeds are short printable text without ':' so the message stays unambiguous."""
    if not client_seed or len(client_seed) > CLIENT_SEED_MAX_CHARS:
        raise FairnessError(f"client seed must be 1-{CLIENT_SEED_MAX_CHARS} characters")
    if ":" in client_seed or not client_seed.isprintable():
        raise FairnessError("client seed must be printable text without ':'")
    return client_seed


def digest(server_seed: bytes, client_seed: str, nonce: int, round_no: int = 0) -> bytes:
    """HMAC-SHA256 of the draw message; round 0 is the documented message itself."""
    if nonce < 0:
        raise FairnessError("nonce must be >= 0")
    msg = f"{client_seed}:{nonce}" if round_no == 0 else f"{client_seed}:{nonce}:{round_no}"
    return hmac.digest(server_seed, msg.encode(), "sha256")


def draw_int(draw: DrawInput, n: int) -> int:
    """A uniform integer in [0, n) without modulo bias (rejection sampling on 32-bit words)."""
    if not 1 <= n <= MAX_OUTCOMES:
        raise FairnessError(f"outcome space must be 1..{MAX_OUTCOMES}, got {n}")
    limit = WORD_SPACE - (WORD_SPACE % n)
    for round_no in range(MAX_ROUNDS):
        d = digest(draw.server_seed, draw.client_seed, draw.nonce, round_no)
        for i in range(0, len(d), WORD_BYTES):
            word = int.from_bytes(d[i : i + WORD_BYTES], "big")
            if word < limit:
                return word % n
    raise FairnessError("no acceptable word in the digest stream")  # ~impossible


def verify_seed(server_seed: bytes, committed_hash: str) -> bool:
    """Whether a revealed seed matches the hash that was committed before the bets."""
    return hmac.compare_digest(seed_hash(server_seed), committed_hash)
