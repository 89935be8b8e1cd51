-- Responsible play (server/features/limits, docs/limits.md): a player's own daily
-- deposit and stake limits, raises that wait out a cooling-off period, self-exclusion
-- for a chosen period, and an operator's suspension of an account.

CREATE TABLE play_limits (
    user_id                 uuid PRIMARY KEY REFERENCES users (id),
    daily_deposit_max_minor bigint CHECK (daily_deposit_max_minor > 0),  -- NULL: no own limit
    daily_stake_max_minor   bigint CHECK (daily_stake_max_minor > 0),
    -- A raise (or removal) the player asked for, applied once `pending_at` has passed.
    pending_deposit_max_minor bigint CHECK (pending_deposit_max_minor > 0),
    pending_stake_max_minor   bigint CHECK (pending_stake_max_minor > 0),
    pending_deposit_set     boolean NOT NULL DEFAULT false,
    pending_stake_set       boolean NOT NULL DEFAULT false,
    pending_at              timestamptz,
    excluded_until          timestamptz,
    updated_at              timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE player_suspensions (
    user_id      uuid PRIMARY KEY REFERENCES users (id),
    reason       text NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
    suspended_by uuid REFERENCES admins (id),
    suspended_at timestamptz NOT NULL DEFAULT now()
);

-- Admin player search by name (phone search uses the users.phone_e164 unique index
-- for exact numbers and a scan bounded by LIMIT for partial ones).
CREATE INDEX IF NOT EXISTS users_display_name_lower ON users (lower(display_name));
