-- Weekly pools (docs/pools.md): weeks, passes, the draw, members, events, selections, bets,
-- settlement runs, standings, purchases and prizes. Times the server's clock decides are
-- epoch milliseconds (*_ms); pool credits are whole credits of the week's own currency.

CREATE TABLE pool_weeks (
    id          text PRIMARY KEY CHECK (id ~ '^\d{4}-W\d{2}$'),
    currency    text NOT NULL UNIQUE,
    start_ms    bigint NOT NULL,
    end_ms      bigint NOT NULL CHECK (end_ms > start_ms),
    state       text NOT NULL DEFAULT 'open'
                CHECK (state IN ('open', 'drawing', 'grouped', 'finalizing', 'settled')),
    seed        bytea CHECK (seed IS NULL OR length(seed) = 32),
    players     integer,
    pools       integer,
    drawn_ms    bigint,
    settled_ms  bigint
);

CREATE TABLE pool_passes (
    week_id     text NOT NULL REFERENCES pool_weeks (id),
    user_id     uuid NOT NULL REFERENCES users (id),
    source      text NOT NULL CHECK (source IN ('purchase', 'admin')),
    purchase_id uuid,
    created_ms  bigint NOT NULL,
    PRIMARY KEY (week_id, user_id)
);

CREATE TABLE pool_pools (
    id          uuid PRIMARY KEY,
    week_id     text NOT NULL REFERENCES pool_weeks (id),
    number      integer NOT NULL CHECK (number >= 1),
    size        integer NOT NULL CHECK (size >= 1),
    UNIQUE (week_id, number)
);

-- credits and open_stake mirror the member's ledger account in the week's currency; every
-- transaction that moves those credits updates them under this row's lock (docs/pools.md).
CREATE TABLE pool_members (
    id            bigserial PRIMARY KEY,
    week_id       text NOT NULL REFERENCES pool_weeks (id),
    pool_id       uuid NOT NULL REFERENCES pool_pools (id),
    user_id       uuid NOT NULL REFERENCES users (id),
    seat          integer NOT NULL CHECK (seat >= 1),
    credits       bigint NOT NULL DEFAULT 0,
    open_stake    bigint NOT NULL DEFAULT 0 CHECK (open_stake >= 0),
    granted       boolean NOT NULL DEFAULT false,
    buyback_ms    bigint,
    forgiven      bigint NOT NULL DEFAULT 0 CHECK (forgiven >= 0),
    UNIQUE (week_id, user_id),
    UNIQUE (pool_id, seat)
);
CREATE INDEX pool_members_pool ON pool_members (pool_id);

CREATE TABLE pool_events (
    id             uuid PRIMARY KEY,
    ext_id         text UNIQUE,
    sport          text NOT NULL CHECK (length(sport) BETWEEN 1 AND 64),
    home_team      text NOT NULL CHECK (length(home_team) BETWEEN 1 AND 100),
    away_team      text NOT NULL CHECK (length(away_team) BETWEEN 1 AND 100),
    commence_ms    bigint NOT NULL,
    three_way      boolean NOT NULL DEFAULT false,
    status         text NOT NULL DEFAULT 'scheduled'
                   CHECK (status IN ('scheduled', 'final', 'postponed', 'cancelled')),
    home_score     integer CHECK (home_score >= 0),
    away_score     integer CHECK (away_score >= 0),
    result_version integer NOT NULL DEFAULT 0,
    settled_version integer NOT NULL DEFAULT 0,
    CHECK (settled_version <= result_version)
);
CREATE INDEX pool_events_commence ON pool_events (commence_ms);
CREATE INDEX pool_events_unsettled ON pool_events (id) WHERE settled_version < result_version;

CREATE TABLE pool_selections (
    id          uuid PRIMARY KEY,
    event_id    uuid NOT NULL REFERENCES pool_events (id),
    market      text NOT NULL CHECK (market IN ('moneyline', 'spread', 'total')),
    side        text NOT NULL CHECK (side IN ('home', 'away', 'draw', 'over', 'under')),
    line_tenths integer,
    odds        integer NOT NULL CHECK (abs(odds) >= 100),
    active      boolean NOT NULL DEFAULT true,
    UNIQUE (event_id, market, side)
);

-- A bet keeps the odds and line it was placed at; `returned` is its graded return and
-- `paid` what the ledger has paid for it so far (a re-grade pays the difference).
CREATE TABLE pool_bets (
    id               uuid PRIMARY KEY,
    member_id        bigint NOT NULL REFERENCES pool_members (id),
    week_id          text NOT NULL,
    pool_id          uuid NOT NULL,
    user_id          uuid NOT NULL,
    event_id         uuid NOT NULL REFERENCES pool_events (id),
    selection_id     uuid NOT NULL REFERENCES pool_selections (id),
    market           text NOT NULL,
    side             text NOT NULL,
    line_tenths      integer,
    three_way        boolean NOT NULL,
    odds             integer NOT NULL,
    stake            bigint NOT NULL CHECK (stake > 0),
    potential_return bigint NOT NULL CHECK (potential_return >= stake),
    grade            text CHECK (grade IN ('win', 'loss', 'push', 'void')),
    returned         bigint,
    paid             bigint NOT NULL DEFAULT 0,
    graded_version   integer NOT NULL DEFAULT 0,
    client_key       text NOT NULL CHECK (length(client_key) BETWEEN 1 AND 100),
    placed_ms        bigint NOT NULL,
    UNIQUE (user_id, client_key)
);
CREATE INDEX pool_bets_event ON pool_bets (event_id, member_id);
CREATE INDEX pool_bets_member ON pool_bets (member_id);

CREATE TABLE pool_settlements (
    id            bigserial PRIMARY KEY,
    event_id      uuid NOT NULL REFERENCES pool_events (id),
    version       integer NOT NULL,
    state         text NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'done')),
    members_total integer NOT NULL DEFAULT 0,
    members_done  integer NOT NULL DEFAULT 0,
    bets_done     bigint NOT NULL DEFAULT 0,
    started_ms    bigint NOT NULL,
    finished_ms   bigint,
    UNIQUE (event_id, version)
);

CREATE TABLE pool_standings (
    pool_id   uuid NOT NULL REFERENCES pool_pools (id),
    user_id   uuid NOT NULL,
    rank      integer NOT NULL CHECK (rank >= 1),
    bankroll  bigint NOT NULL,
    seat      integer NOT NULL,
    PRIMARY KEY (pool_id, user_id)
);

CREATE TABLE pool_purchases (
    id           uuid PRIMARY KEY,
    user_id      uuid NOT NULL REFERENCES users (id),
    week_id      text NOT NULL REFERENCES pool_weeks (id),
    kind         text NOT NULL CHECK (kind IN ('pass', 'buyback')),
    provider     text NOT NULL CHECK (provider IN ('wallet', 'stripe', 'mpesa')),
    amount_minor bigint NOT NULL CHECK (amount_minor >= 0),
    currency     text NOT NULL,
    state        text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'paid', 'failed')),
    provider_ref text UNIQUE,
    checkout_url text,
    idem_key     text NOT NULL CHECK (length(idem_key) BETWEEN 1 AND 100),
    created_ms   bigint NOT NULL,
    paid_ms      bigint,
    UNIQUE (user_id, idem_key)
);
CREATE UNIQUE INDEX pool_purchases_one_pass ON pool_purchases (week_id, user_id)
    WHERE kind = 'pass' AND state <> 'failed';
CREATE UNIQUE INDEX pool_purchases_one_buyback ON pool_purchases (week_id, user_id)
    WHERE kind = 'buyback' AND state <> 'failed';

CREATE TABLE pool_prizes (
    pool_id      uuid NOT NULL REFERENCES pool_pools (id),
    user_id      uuid NOT NULL,
    week_id      text NOT NULL,
    rank         integer NOT NULL,
    amount_minor bigint NOT NULL CHECK (amount_minor > 0),
    currency     text NOT NULL,
    state        text NOT NULL CHECK (state IN ('paid', 'held')),
    approved_by  text,
    paid_ms      bigint,
    PRIMARY KEY (pool_id, user_id)
);
CREATE INDEX pool_prizes_held ON pool_prizes (week_id) WHERE state = 'held';
