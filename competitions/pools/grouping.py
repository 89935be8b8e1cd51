"""The draw: an auditable cryptographic shuffle and pools of at most N, sizes within one.

The server draws a fresh 32-byte seed from `secrets` and records it; everything after that
is deterministic, so anyone holding the seed and the sorted list of eligible players can
replay the draw and check every pool.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

MAX_PLAYERS = 10_000_000  # a bound on one draw
SEED_BYTES = 32


def pool_sizes(players: int, max_size: int) -> list[int]:
    """Sizes of the fewest pools of at most `max_size` holding `players`, differing by at most one.

    Larger pools come first: 101 players with max 100 -> [51, 50].
    """
    assert 0 <= players <= MAX_PLAYERS, players
    assert max_size >= 1, max_size
    if players == 0:
        return []
    count = -(-players // max_size)
    base, extra = divmod(players, count)
    sizes = [base + 1] * extra + [base] * (count - extra)
    assert sum(sizes) == players and max(sizes) <= max_size and max(sizes) - min(sizes) <= 1
    return sizes


class _SeededStream:
    """Uniform integers from HMAC-SHA256(seed, counter): a deterministic, unbiased stream."""

    def __init__(self, seed: bytes) -> None:
        assert len(seed) == SEED_BYTES, "the seed is 32 bytes"
        self._seed = seed
        self._counter = 0

    def _word(self) -> int:
        digest = hmac.new(self._seed, self._counter.to_bytes(8, "big"), hashlib.sha256).digest()
        self._counter += 1
        return int.from_bytes(digest[:8], "big")

    def below(self, n: int) -> int:
        """A uniform integer in [0, n), by rejection (no modulo bias)."""
        assert 1 <= n < 2**64
        limit = (2**64 // n) * n
        while True:
            word = self._word()
            if word < limit:
                return word % n


def shuffle(items: Sequence[str], seed: bytes) -> list[str]:
    """Fisher-Yates over `sorted(items)` driven by the seed: the same seed gives the same order."""
    assert len(items) <= MAX_PLAYERS
    out = sorted(items)
    assert len(set(out)) == len(out), "players are drawn once each"
    stream = _SeededStream(seed)
    for i in range(len(out) - 1, 0, -1):
        j = stream.below(i + 1)
        out[i], out[j] = out[j], out[i]
    return out


def draw(players: Sequence[str], seed: bytes, max_size: int) -> list[list[str]]:
    """Shuffle `players` with `seed` and cut the order into pools by `pool_sizes`."""
    order = shuffle(players, seed)
    pools: list[list[str]] = []
    at = 0
    for size in pool_sizes(len(order), max_size):
        pools.append(order[at:at + size])
        at += size
    return pools
