"""The Lua scripts. Each runs atomically in Redis, so concurrent callers on any
number of processes see each ticket exactly once: whoever removes it owns it.

Keys named in KEYS share the queue's hash tag; per-ticket and per-record keys are
built from `base` (ARGV[1]) inside the script and carry the same tag, so every
script stays within one Redis Cluster slot.
"""

from __future__ import annotations

# Shared helper, prepended to the scripts that remove tickets. A removed ticket's
# hash is kept for `keep_ms` outside the queue: a player's claim pointing at it
# is then known to be over, not a join still in progress.
_TAKE = """
local function take(base, q, since, id, keep_ms)
  local key = base .. ':t:' .. id
  local flat = redis.call('HGETALL', key)
  redis.call('ZREM', q, id)
  redis.call('ZREM', since, id)
  local t = {}
  if #flat > 0 then
    redis.call('PEXPIRE', key, keep_ms)
    for n = 1, #flat, 2 do t[flat[n]] = flat[n + 1] end
  end
  return t
end
"""

# KEYS: queue, since, ticket key. ARGV: id, rating, created_ms, max_len, field, value, ...
# Returns 1 (queued), 0 (queue full), 2 (this ticket was queued by an earlier attempt of the
# same call and has since been paired or expired), -2 (refused: the join was abandoned, see
# RESOLVE). Safe to repeat: a retry after a lost reply never queues a ticket twice.
ENQUEUE = """
local state = redis.call('HMGET', KEYS[3], 'id', 'void')
if state[2] then return -2 end
if state[1] then
  if redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 1 end
  return 2
end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then return 0 end
redis.call('HSET', KEYS[3], unpack(ARGV, 5))
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
return 1
"""

# KEYS: queue, since. ARGV: base, ticket id, keep_ms.
# Returns the ticket's fields (JSON) if this call removed it, or if an earlier LEAVE did (its
# reply may have been lost: the caller voids again, which the ledger's ids make harmless);
# nil if the ticket was paired or expired, or is not known.
LEAVE = _TAKE + """
if redis.call('ZSCORE', KEYS[1], ARGV[2]) == false then
  local key = ARGV[1] .. ':t:' .. ARGV[2]
  if redis.call('HGET', key, 'left') then
    local flat = redis.call('HGETALL', key)
    local t = {}
    for n = 1, #flat, 2 do t[flat[n]] = flat[n + 1] end
    return cjson.encode(t)
  end
  return false
end
local t = take(ARGV[1], KEYS[1], KEYS[2], ARGV[2], tonumber(ARGV[3]))
redis.call('HSET', ARGV[1] .. ':t:' .. ARGV[2], 'left', '1')
return cjson.encode(t)
"""

# KEYS: queue, since, ticket key. ARGV: base, ticket id, keep_ms, tombstone_ms.
# Settles a join whose ENQUEUE failed with an unknown outcome, so its hold can be released:
#   'taken'  the ticket was queued; this call (or an earlier one) took it out again
#   'absent' it never arrived; a tombstone (PX tombstone_ms) makes a late ENQUEUE refuse it
#   'paired' it was queued and already paired or expired: its hold belongs to that outcome
RESOLVE = _TAKE + """
local key = KEYS[3]
if redis.call('ZSCORE', KEYS[1], ARGV[2]) then
  take(ARGV[1], KEYS[1], KEYS[2], ARGV[2], tonumber(ARGV[3]))
  redis.call('HSET', key, 'left', '1')
  return 'taken'
end
local state = redis.call('HMGET', key, 'id', 'left', 'void')
if state[3] then return 'absent' end
if state[2] then return 'taken' end
if state[1] then return 'paired' end
redis.call('HSET', key, 'void', '1')
redis.call('PEXPIRE', key, tonumber(ARGV[4]))
return 'absent'
"""

# KEYS: queue, since, pending. ARGV: base, room id, then the ids of tickets to put back.
# Cancels a pairing that must not be played (a ticket's hold is gone): the listed tickets
# return to the queue with their original wait, the seats and the record are deleted.
# Only the call that finds the record acts, so a redelivery cannot requeue a ticket twice.
# Returns {1, requeued id, ...} if this call cancelled it, {0} if the record was already gone.
UNPAIR = """
local base = ARGV[1]
local record = redis.call('GET', base .. ':p:' .. ARGV[2])
if not record then
  redis.call('ZREM', KEYS[3], ARGV[2])
  return {0}
end
local r = cjson.decode(record)
local out = {1}
for n = 3, #ARGV do
  local key = base .. ':t:' .. ARGV[n]
  local t = redis.call('HMGET', key, 'rating', 'created_ms')
  if t[1] and t[2] then
    redis.call('PERSIST', key)
    redis.call('ZADD', KEYS[1], t[1], ARGV[n])
    redis.call('ZADD', KEYS[2], t[2], ARGV[n])
    out[#out + 1] = ARGV[n]
  end
end
if r.seats then
  for _, secret in ipairs(r.seats) do redis.call('DEL', base .. ':s:' .. secret) end
end
redis.call('DEL', base .. ':p:' .. ARGV[2])
redis.call('ZREM', KEYS[3], ARGV[2])
return out
"""

# KEYS: queue, since, pending.
# ARGV: base, now_ms, window_start, window_max, window_grow_ms, scan_candidates,
#       scan_tickets, position, max_pairs, keep_ms, seat_ttl_ms,
#       then per possible pair: room_id, seat_token_a, seat_token_b.
# Walks waiting tickets oldest first from `position`. For each ticket A it looks
# at up to scan_candidates tickets on each side of A's rating inside A's window,
# closest first, and takes the first B whose own window also accepts the gap,
# that is another user and not a recent opponent of either. Both tickets are
# removed, a pairing record and both one-time seats are written in the same call.
# Returns {next_position, queue_length_after, record_json, ...}.
PAIR = _TAKE + """
local q, since, pending = KEYS[1], KEYS[2], KEYS[3]
local base = ARGV[1]
local now = tonumber(ARGV[2])
local w_start, w_max, w_grow = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local k = tonumber(ARGV[6])
local budget = tonumber(ARGV[7])
local pos = tonumber(ARGV[8])
local max_pairs = tonumber(ARGV[9])
local keep_ms = tonumber(ARGV[10])
local seat_ttl_ms = tonumber(ARGV[11])

local function window(since_ms)
  local waited = now - since_ms
  if waited < 0 then waited = 0 end
  if waited > w_grow then waited = w_grow end
  return w_start + math.floor((w_max - w_start) * waited / w_grow)
end

local function avoids(avoid, other)
  if not avoid or avoid == '' then return false end
  for uid, untl in string.gmatch(avoid, '([^,=]+)=(%d+)') do
    if uid == other and tonumber(untl) > now then return true end
  end
  return false
end

local out = {}
local made = 0
local examined = 0
while made < max_pairs and examined < budget do
  local head = redis.call('ZRANGE', since, pos, pos, 'WITHSCORES')
  if #head == 0 then break end
  examined = examined + 1
  local a = head[1]
  local a_since = tonumber(head[2])
  local a_info = redis.call('HMGET', base .. ':t:' .. a, 'user', 'avoid', 'rating')
  local a_rating = a_info[3]
  if not a_rating or not a_info[1] then
    -- a damaged entry (half written by hand or lost): drop it so it cannot block the queue
    take(base, q, since, a, keep_ms)
  else
    a_rating = tonumber(a_rating)
    local wa = window(a_since)
    local found = nil
    -- Usually the closest candidate fits: look at a few first, the full `k` only if none does.
    local fetch = math.min(4, k)
    while true do
      local up = redis.call('ZRANGEBYSCORE', q, a_rating, a_rating + wa,
                            'WITHSCORES', 'LIMIT', 0, fetch)
      local down = redis.call('ZREVRANGEBYSCORE', q, '(' .. a_rating, a_rating - wa,
                              'WITHSCORES', 'LIMIT', 0, fetch)
      local i, j = 1, 1
      while not found and (i <= #up or j <= #down) do
        local b, b_rating
        if j > #down or (i <= #up and
            (tonumber(up[i + 1]) - a_rating) <= (a_rating - tonumber(down[j + 1]))) then
          b, b_rating = up[i], tonumber(up[i + 1])
          i = i + 2
        else
          b, b_rating = down[j], tonumber(down[j + 1])
          j = j + 2
        end
        if b ~= a then
          local b_since = redis.call('ZSCORE', since, b)
          if b_since and math.abs(b_rating - a_rating) <= window(tonumber(b_since)) then
            local b_info = redis.call('HMGET', base .. ':t:' .. b, 'user', 'avoid')
            if b_info[1] and b_info[1] ~= a_info[1]
                and not avoids(a_info[2], b_info[1]) and not avoids(b_info[2], a_info[1]) then
              found = b
            end
          end
        end
      end
      if found or fetch >= k or (#up < 2 * fetch and #down < 2 * fetch) then break end
      fetch = k
    end
    if found then
      made = made + 1
      local room = ARGV[9 + 3 * made]
      local ta = take(base, q, since, a, keep_ms)
      local tb = take(base, q, since, found, keep_ms)
      local seats = {ARGV[10 + 3 * made], ARGV[11 + 3 * made]}
      local expires_at_ms = now + seat_ttl_ms
      for n, t in ipairs({ta, tb}) do
        redis.call('SET', base .. ':s:' .. seats[n], cjson.encode({
          room_id = room, user_id = t.user, ticket_id = t.id, expires_at_ms = expires_at_ms,
        }), 'PX', seat_ttl_ms)
      end
      local record = cjson.encode({room = room, created_ms = ARGV[2], a = ta, b = tb,
                                   seats = seats, expires_at_ms = expires_at_ms})
      redis.call('SET', base .. ':p:' .. room, record)
      redis.call('ZADD', pending, now, room)
      out[#out + 1] = record
    else
      pos = pos + 1
    end
  end
end
local result = {pos, redis.call('ZCARD', since)}
for n = 1, #out do result[#result + 1] = out[n] end
return result
"""

# KEYS: queue, since, refunding.
# ARGV: base, newest_expired_ms (exclusive), now_ms, limit, keep_ms.
# Removes tickets that waited too long and records each for its refund; only the
# call that removed a ticket returns it, so one refund decision per ticket.
EXPIRE = _TAKE + """
local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[2],
                       'LIMIT', 0, tonumber(ARGV[4]))
local out = {}
for _, id in ipairs(ids) do
  local t = take(ARGV[1], KEYS[1], KEYS[2], id, tonumber(ARGV[5]))
  if t.id then
    local record = cjson.encode(t)
    redis.call('SET', ARGV[1] .. ':r:' .. id, record)
    redis.call('ZADD', KEYS[3], ARGV[3], id)
    out[#out + 1] = record
  end
end
return out
"""

# KEYS: a lease set (pending or refunding). ARGV: base, record letter (p or r),
# oldest_live_ms, now_ms, limit. Claims records whose lease ran out (re-stamps
# them) and returns their JSON; forgets entries whose record is gone.
RECLAIM = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[3],
                       'LIMIT', 0, tonumber(ARGV[5]))
local out = {}
for _, id in ipairs(ids) do
  local record = redis.call('GET', ARGV[1] .. ':' .. ARGV[2] .. ':' .. id)
  if record then
    redis.call('ZADD', KEYS[1], ARGV[4], id)
    out[#out + 1] = record
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return out
"""

# KEYS: a user's claim. ARGV: ticket id. Deletes the claim only if it is for this ticket.
UNCLAIM = """
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local ok, claim = pcall(cjson.decode, raw)
if ok and claim.ticket == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
"""
