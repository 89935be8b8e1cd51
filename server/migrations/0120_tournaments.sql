-- Tournaments (docs/tournaments.md): one row per tournament, one per entrant.
-- The format's whole state (bracket, pairings, results) is the JSON `competition`,
-- written by the node that drives the tournament (`node`) in the same transaction as
-- any money it moves.
CREATE TABLE tournaments (
    id               uuid PRIMARY KEY,
    name             text NOT NULL CHECK (length(name) BETWEEN 1 AND 80),
    format           text NOT NULL CHECK (format IN
                         ('single_elimination', 'double_elimination', 'swiss', 'round_robin')),
    match_kind       text NOT NULL DEFAULT 'quiz',
    currency         text NOT NULL,
    entry_fee_minor  bigint NOT NULL CHECK (entry_fee_minor >= 0),
    rake_bps         integer NOT NULL CHECK (rake_bps BETWEEN 0 AND 10000),
    guarantee_minor  bigint NOT NULL DEFAULT 0 CHECK (guarantee_minor >= 0),
    min_players      integer NOT NULL CHECK (min_players >= 2),
    max_players      integer NOT NULL CHECK (max_players >= min_players),
    options          jsonb NOT NULL DEFAULT '{}'::jsonb,
    status           text NOT NULL CHECK (status IN ('draft', 'registration', 'checkin', 'running',
                         'paused', 'finished', 'cancelled')),
    starts_at_ms     bigint,
    checkin_ms       bigint NOT NULL DEFAULT 0 CHECK (checkin_ms >= 0),
    recurrence       text,
    series_id        uuid,
    next_created     boolean NOT NULL DEFAULT false,
    node             text NOT NULL,
    competition      jsonb,
    settlement       jsonb,
    end_reason       text,
    created_by       uuid,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX tournaments_series_start ON tournaments (series_id, starts_at_ms)
    WHERE series_id IS NOT NULL;
CREATE INDEX tournaments_live ON tournaments (node, status)
    WHERE status NOT IN ('finished', 'cancelled');
CREATE INDEX tournaments_recent ON tournaments (created_at DESC);

CREATE TABLE tournament_entries (
    tournament_id    uuid NOT NULL REFERENCES tournaments (id),
    user_id          uuid NOT NULL REFERENCES users (id),
    status           text NOT NULL CHECK (status IN ('registered', 'checked_in', 'left',
                         'dropped', 'playing', 'disqualified', 'refunded')),
    entry_no         integer NOT NULL DEFAULT 1,
    hold_id          uuid,
    fee_minor        bigint NOT NULL DEFAULT 0 CHECK (fee_minor >= 0),
    fee_posted       boolean NOT NULL DEFAULT false,
    rating           integer NOT NULL DEFAULT 0,
    seed             integer,
    registered_at_ms bigint NOT NULL,
    place            integer,
    prize_minor      bigint NOT NULL DEFAULT 0 CHECK (prize_minor >= 0),
    PRIMARY KEY (tournament_id, user_id)
);
CREATE INDEX tournament_entries_user ON tournament_entries (user_id);
