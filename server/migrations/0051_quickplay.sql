-- Quick games: provably fair seeds, bets, and admin-run football yes/no questions.

-- One active (unrevealed) seed per player; a rotation reveals it and starts the next.
CREATE TABLE fair_seeds (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     uuid NOT NULL REFERENCES users (id),
    server_seed bytea NOT NULL CHECK (length(server_seed) = 32),
    seed_hash   text NOT NULL CHECK (length(seed_hash) = 64),
    client_seed text NOT NULL CHECK (length(client_seed) BETWEEN 1 AND 64),
    next_nonce  bigint NOT NULL DEFAULT 0 CHECK (next_nonce >= 0),
    created_at  timestamptz NOT NULL DEFAULT now(),
    revealed_at timestamptz
);
CREATE UNIQUE INDEX fair_seeds_active ON fair_seeds (user_id) WHERE revealed_at IS NULL;

CREATE TABLE football_questions (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    question    text NOT NULL CHECK (length(question) BETWEEN 3 AND 200),
    odds_yes    text NOT NULL,
    odds_no     text NOT NULL,
    closes_at   timestamptz NOT NULL,
    state       text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'settled', 'void')),
    result      text CHECK (result IN ('yes', 'no')),
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    resolved_at timestamptz,
    CHECK ((state = 'settled') = (result IS NOT NULL))
);
CREATE INDEX football_questions_open ON football_questions (closes_at) WHERE state = 'open';

CREATE TABLE quick_bets (
    id           uuid PRIMARY KEY,
    user_id      uuid NOT NULL REFERENCES users (id),
    idem_key     text NOT NULL CHECK (length(idem_key) BETWEEN 1 AND 128),
    game         text NOT NULL CHECK (game IN ('wheel', 'color', 'pick3', 'football')),
    channel      text NOT NULL,
    stake_minor  bigint NOT NULL CHECK (stake_minor > 0),
    currency     text NOT NULL,
    choice       jsonb NOT NULL,
    seed_id      uuid REFERENCES fair_seeds (id),
    nonce        bigint,
    outcome      jsonb,
    outcome_text text NOT NULL,
    payout_minor bigint CHECK (payout_minor >= 0),    -- NULL while a football bet is open
    question_id  uuid REFERENCES football_questions (id),
    state        text NOT NULL CHECK (state IN ('settled', 'open', 'won', 'lost', 'void')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, idem_key),
    CHECK ((game = 'football') = (question_id IS NOT NULL)),
    CHECK ((game = 'football') OR (seed_id IS NOT NULL AND nonce IS NOT NULL))
);
CREATE UNIQUE INDEX quick_bets_seed_nonce ON quick_bets (seed_id, nonce) WHERE seed_id IS NOT NULL;
CREATE INDEX quick_bets_user_day ON quick_bets (user_id, created_at);
CREATE INDEX quick_bets_question ON quick_bets (question_id) WHERE question_id IS NOT NULL;
