-- Staked self-challenges: a goal, a deadline, a held stake, reminders and proofs
-- (docs/challenges.md). Times that decide an outcome come from the server's clock
-- (state.clock), not from now(), so tests can drive them.

CREATE TABLE challenges (
    id             uuid PRIMARY KEY,
    user_id        uuid NOT NULL REFERENCES users (id),
    source         text NOT NULL CHECK (source IN ('whatsapp', 'http')),
    source_ref     text NOT NULL CHECK (length(source_ref) BETWEEN 1 AND 300),
    goal           text NOT NULL CHECK (length(goal) BETWEEN 1 AND 200),
    stake_minor    bigint NOT NULL CHECK (stake_minor > 0),
    currency       text NOT NULL,
    time_zone      text NOT NULL,
    state          text NOT NULL DEFAULT 'draft'
                   CHECK (state IN ('draft', 'open', 'succeeded', 'failed', 'cancelled', 'expired')),
    deadline_at    timestamptz,            -- NULL only for a draft whose date is being asked
    options        jsonb NOT NULL DEFAULT '[]',  -- candidate deadlines of an ambiguous date
    created_at     timestamptz NOT NULL,
    confirmed_at   timestamptz,
    resolved_at    timestamptz,
    hold_id        uuid,
    outcome_reason text,
    bonus_minor    bigint NOT NULL DEFAULT 0 CHECK (bonus_minor >= 0),
    forfeit_to     text,
    UNIQUE (user_id, source_ref),
    CHECK (state = 'draft' OR deadline_at IS NOT NULL),
    CHECK (state IN ('draft', 'cancelled') OR confirmed_at IS NOT NULL),
    CHECK ((state IN ('draft', 'open')) = (resolved_at IS NULL))
);
CREATE INDEX challenges_user ON challenges (user_id, created_at DESC);
CREATE INDEX challenges_open_deadline ON challenges (deadline_at) WHERE state = 'open';

CREATE TABLE challenge_proofs (
    id             uuid PRIMARY KEY,
    challenge_id   uuid NOT NULL REFERENCES challenges (id),
    user_id        uuid NOT NULL REFERENCES users (id),
    source_ref     text NOT NULL UNIQUE CHECK (length(source_ref) BETWEEN 1 AND 300),
    media          text NOT NULL CHECK (media IN ('image', 'video')),
    content_type   text NOT NULL,
    size_bytes     integer NOT NULL CHECK (size_bytes > 0),
    storage_key    text,
    content_sha256 text NOT NULL CHECK (length(content_sha256) = 64),
    phash          bigint,                 -- 64-bit perceptual hash of an image
    taken_at       timestamptz,            -- EXIF time, read in the player's zone
    received_at    timestamptz NOT NULL,   -- arrival: what the deadline is judged by
    state          text NOT NULL DEFAULT 'pending'
                   CHECK (state IN ('pending', 'approved', 'rejected')),
    verifier       text NOT NULL CHECK (verifier IN ('admin', 'http')),
    verifier_state text NOT NULL DEFAULT 'none'
                   CHECK (verifier_state IN ('none', 'queued', 'unsure', 'failed', 'decided')),
    verify_until   timestamptz,            -- lease of a verifier call in progress
    verifier_note  text,
    decided_by     text,                   -- admin:<id>, verifier:http or check:<name>
    decided_at     timestamptz,
    reason         text,
    CHECK ((state = 'pending') = (decided_at IS NULL))
);
CREATE INDEX challenge_proofs_challenge ON challenge_proofs (challenge_id);
CREATE INDEX challenge_proofs_pending ON challenge_proofs (received_at) WHERE state = 'pending';
CREATE INDEX challenge_proofs_sha ON challenge_proofs (content_sha256);
-- At most one proof under review per challenge at a time.
CREATE UNIQUE INDEX challenge_proofs_one_pending ON challenge_proofs (challenge_id)
    WHERE state = 'pending';

CREATE TABLE challenge_reminders (
    id           uuid PRIMARY KEY,
    challenge_id uuid NOT NULL REFERENCES challenges (id),
    user_id      uuid NOT NULL REFERENCES users (id),
    kind         text NOT NULL CHECK (kind IN ('auto', 'requested')),
    due_at       timestamptz NOT NULL,
    state        text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'dropped')),
    created_at   timestamptz NOT NULL,
    sent_at      timestamptz,
    UNIQUE (challenge_id, due_at)
);
CREATE INDEX challenge_reminders_due ON challenge_reminders (due_at) WHERE state = 'pending';
