"""Fixed-window attempt counters in Redis, for limits that must hold across nodes and under
concurrency.

Reading a count, doing the expensive work, and only then incrementing lets N parallel
requests all see the same old count (60 parallel admin logins all passed a limit of 10).
So `hit()` increments first, atomically, and the caller decides from the new count:
every request in flight has already been counted. The window starts at the first hit and
the key always carries a TTL, set in the same script, so a counter can never outlive it.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from redis.asyncio import Redis
from starlette.requests import HTTPConnection

from server import keys

# KEYS[1] the counter, ARGV[1] the window in seconds. Returns {count, ttl}.
_HIT = """
local n = redis.call('INCR', KEYS[1])
local ttl = redis.call('TTL', KEYS[1])
if ttl < 0 then
  redis.call('EXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {n, ttl}
"""

# Give one attempt back, never below zero and never creating the key.
_GIVE_BACK = """
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n > 0 then redis.call('DECR', KEYS[1]) end
return n
"""

UNKNOWN_CLIENT = "unknown"


@dataclass(frozen=True, slots=True)
class Hit:
    """The count after this attempt and the seconds until the window ends."""

    count: int
    retry_after_s: int

    def over(self, limit: int) -> bool:
        return self.count > limit


def counter_key(prefix: str, name: str, subject: str) -> str:
    """The Redis key of limit `name` for `subject` (an IP, a username)."""
    return keys.rate_counter(prefix, name, subject)


async def hit(redis: Redis, key: str, window_s: int) -> Hit:
    """Count one attempt on `key` (one atomic script, so it is safe on a cluster too)."""
    assert window_s > 0
    count, ttl = await redis.eval(_HIT, 1, key, window_s)
    return Hit(int(count), max(int(ttl), 1))


async def give_back(redis: Redis, key: str) -> None:
    """Undo one attempt (a success that should not count against the limit)."""
    await redis.eval(_GIVE_BACK, 1, key)


def client_ip(conn: HTTPConnection) -> str:
    """The caller's IP as uvicorn resolved it.

    Behind a proxy this is the proxy's address unless uvicorn trusts it
    (FORWARDED_ALLOW_IPS, default 127.0.0.1) and the proxy sets X-Forwarded-For;
    then it is the real client. IPv6 addresses are grouped by /64, since one
    subscriber usually holds a whole /64.
    """
    host = conn.client.host if conn.client else None
    if not host:
        return UNKNOWN_CLIENT
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host[:64]
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False).network_address) + "/64"
    return str(address)


