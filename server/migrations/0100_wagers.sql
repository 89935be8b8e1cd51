-- Call-of-Duty wager matches (docs/wagers.md): gaming profiles, open challenges,
-- the persisted state of each live match (so a restarted node resumes it and a
-- dispute is never lost), evidence, disputes, ratings and per-mode stats.

CREATE TABLE wager_profiles (
    user_id      uuid PRIMARY KEY REFERENCES users (id),
    region       text NOT NULL CHECK (region ~ '^[a-z]{2,8}$'),
    birth_date   date NOT NULL,
    reliability  integer NOT NULL DEFAULT 100 CHECK (reliability BETWEEN 0 AND 100),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- One gamer tag per platform; a tag belongs to one player per platform.
CREATE TABLE wager_gamer_tags (
    user_id   uuid NOT NULL REFERENCES wager_profiles (user_id),
    platform  text NOT NULL CHECK (platform IN ('psn', 'xbox', 'pc')),
    tag       text NOT NULL CHECK (length(tag) BETWEEN 2 AND 40),
    PRIMARY KEY (user_id, platform)
);
CREATE UNIQUE INDEX wager_gamer_tags_unique ON wager_gamer_tags (platform, lower(tag));

CREATE TABLE wager_challenges (
    id           uuid PRIMARY KEY,
    creator_id   uuid NOT NULL REFERENCES users (id),
    opponent_id  uuid REFERENCES users (id),          -- a direct challenge names its opponent
    stake_minor  bigint NOT NULL CHECK (stake_minor > 0),
    currency     text NOT NULL,
    mode         text NOT NULL,
    platform     text NOT NULL,
    rules        text NOT NULL DEFAULT '',
    maps         text[] NOT NULL DEFAULT '{}',
    status       text NOT NULL DEFAULT 'open'
                 CHECK (status IN ('open', 'accepted', 'cancelled', 'expired')),
    accepted_by  uuid REFERENCES users (id),
    room_id      text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    CHECK ((status = 'accepted') = (accepted_by IS NOT NULL AND room_id IS NOT NULL))
);
CREATE INDEX wager_challenges_open ON wager_challenges (created_at) WHERE status = 'open';

-- The durable match: created in the transaction that holds both stakes, updated
-- by the room's journal after every change, closed in the settlement's transaction.
CREATE TABLE wager_matches (
    room_id      text PRIMARY KEY,
    challenge_id uuid REFERENCES wager_challenges (id),
    mode         text NOT NULL,
    platform     text NOT NULL,
    players      uuid[] NOT NULL CHECK (cardinality(players) = 2),
    stake_minor  bigint NOT NULL CHECK (stake_minor > 0),
    currency     text NOT NULL,
    holds        jsonb NOT NULL,                       -- [{user_id, hold_id, stake_minor}]
    terms        jsonb NOT NULL,                       -- rules, maps, gamer tags, windows
    node         text NOT NULL,                        -- the node hosting the live room
    state        jsonb NOT NULL DEFAULT '{}'::jsonb,   -- the room's journal (see the game)
    status       text NOT NULL DEFAULT 'live'
                 CHECK (status IN ('live', 'disputed', 'settled')),
    result       text,
    winner       uuid,
    rated        boolean NOT NULL DEFAULT false,
    flagged      text[] NOT NULL DEFAULT '{}',         -- shared_ip, shared_device
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    settled_at   timestamptz
);
CREATE INDEX wager_matches_unsettled ON wager_matches (node) WHERE status <> 'settled';
CREATE INDEX wager_matches_players ON wager_matches USING gin (players);

CREATE TABLE wager_evidence (
    id           uuid PRIMARY KEY,
    room_id      text NOT NULL REFERENCES wager_matches (room_id),
    user_id      uuid NOT NULL,
    storage_key  text NOT NULL UNIQUE,
    content_type text NOT NULL,
    size_bytes   integer NOT NULL CHECK (size_bytes > 0),
    width        integer NOT NULL,
    height       integer NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX wager_evidence_room ON wager_evidence (room_id, created_at);

CREATE TABLE wager_disputes (
    id          bigserial PRIMARY KEY,
    room_id     text NOT NULL UNIQUE REFERENCES wager_matches (room_id),
    status      text NOT NULL DEFAULT 'open'
                CHECK (status IN ('open', 'under_review', 'resolved', 'dismissed')),
    opened_by   uuid,
    opened_at   timestamptz NOT NULL DEFAULT now(),
    claimed_by  uuid,
    claimed_at  timestamptz,
    ruling      text CHECK (ruling IN ('winner_a', 'winner_b', 'void')),
    reason      text,
    ruled_by    uuid,
    ruled_at    timestamptz,
    CHECK ((status = 'open') = (claimed_by IS NULL)),
    CHECK ((status IN ('resolved', 'dismissed')) = (ruling IS NOT NULL))
);
CREATE INDEX wager_disputes_queue ON wager_disputes (opened_at, id)
    WHERE status IN ('open', 'under_review');

CREATE TABLE wager_dispute_notes (
    id          bigserial PRIMARY KEY,
    dispute_id  bigint NOT NULL REFERENCES wager_disputes (id),
    admin_id    uuid NOT NULL,
    body        text NOT NULL CHECK (length(body) BETWEEN 1 AND 2000),
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- OpenSkill rating and stats per player and mode; written only in a settlement's transaction.
CREATE TABLE wager_ratings (
    user_id        uuid NOT NULL,
    mode           text NOT NULL,
    mu             double precision NOT NULL,
    sigma          double precision NOT NULL,
    rated_matches  integer NOT NULL DEFAULT 0,
    matches        integer NOT NULL DEFAULT 0,
    wins           integer NOT NULL DEFAULT 0,
    losses         integer NOT NULL DEFAULT 0,
    streak         integer NOT NULL DEFAULT 0,   -- +n wins in a row, -n losses in a row
    staked_minor   bigint NOT NULL DEFAULT 0,
    won_minor      bigint NOT NULL DEFAULT 0,
    disputes_lost  integer NOT NULL DEFAULT 0,
    last_played_at timestamptz,
    PRIMARY KEY (user_id, mode)
);
CREATE INDEX wager_ratings_board ON wager_ratings (mode, mu DESC);

-- One row per rated seat: the proof a settlement moved a rating (at most once per room).
CREATE TABLE wager_rating_changes (
    room_id     text NOT NULL,
    user_id     uuid NOT NULL,
    mode        text NOT NULL,
    mu_before   double precision NOT NULL,
    mu_after    double precision NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (room_id, user_id)
);

-- Where a player acted from (challenge post/accept), for shared-device/IP flags.
CREATE TABLE wager_sightings (
    user_id    uuid NOT NULL,
    ip         text NOT NULL DEFAULT '',
    device     text NOT NULL DEFAULT '',
    seen_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, ip, device)
);
