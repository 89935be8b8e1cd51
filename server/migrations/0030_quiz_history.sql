-- Quiz duels: one row per settled (or refunded) duel, written in the same
-- transaction as its ledger settlement, plus one row per seat for history.

CREATE TABLE duels (
    room_id       text PRIMARY KEY,
    game          text NOT NULL,
    players       text[] NOT NULL CHECK (cardinality(players) = 2),
    stake_minor   bigint NOT NULL CHECK (stake_minor >= 0),
    currency      text NOT NULL,
    scores        jsonb NOT NULL,
    times_ms      jsonb NOT NULL,
    result        text NOT NULL CHECK (result IN ('win', 'tie_refund', 'no_show', 'aborted')),
    winner        text,
    pot_minor     bigint NOT NULL CHECK (pot_minor >= 0),
    payout_minor  bigint NOT NULL CHECK (payout_minor >= 0),
    rake_minor    bigint NOT NULL CHECK (rake_minor >= 0),
    question_ids  text[] NOT NULL DEFAULT '{}',
    settled_at    timestamptz NOT NULL DEFAULT now(),
    CHECK (payout_minor + rake_minor <= pot_minor),
    CHECK ((result = 'win') = (winner IS NOT NULL))
);

CREATE TABLE duel_seats (
    room_id       text NOT NULL REFERENCES duels (room_id),
    user_id       text NOT NULL,
    opponent_id   text NOT NULL,
    stake_minor   bigint NOT NULL,
    score         integer NOT NULL,
    time_ms       bigint NOT NULL,
    outcome       text NOT NULL CHECK (outcome IN ('won', 'lost', 'refunded')),
    payout_minor  bigint NOT NULL CHECK (payout_minor >= 0),
    settled_at    timestamptz NOT NULL,
    PRIMARY KEY (room_id, user_id)
);
CREATE INDEX duel_seats_user_time ON duel_seats (user_id, settled_at DESC, room_id DESC);
