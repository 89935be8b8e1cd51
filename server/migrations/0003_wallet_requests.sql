-- Manual deposits and withdrawals: a player's request and its decision. The
-- money itself lives in the ledger; these rows say why it moved.

CREATE TABLE deposit_requests (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id      uuid NOT NULL REFERENCES users (id),
    amount_minor bigint NOT NULL CHECK (amount_minor > 0),
    currency     text NOT NULL,
    reference    text NOT NULL CHECK (length(reference) BETWEEN 1 AND 64),
    state        text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'approved', 'rejected')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    decided_at   timestamptz,
    decided_by   uuid REFERENCES admins (id),
    reason       text,
    provider_ref text UNIQUE,
    transfer_id  uuid,
    UNIQUE (user_id, reference)
);
CREATE INDEX deposit_requests_state ON deposit_requests (state, created_at);
CREATE INDEX deposit_requests_user ON deposit_requests (user_id, created_at);

CREATE TABLE withdrawal_requests (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id      uuid NOT NULL REFERENCES users (id),
    amount_minor bigint NOT NULL CHECK (amount_minor > 0),
    currency     text NOT NULL,
    destination  text CHECK (length(destination) <= 64),
    state        text NOT NULL DEFAULT 'pending'
                 CHECK (state IN ('pending', 'approved', 'rejected', 'failed')),
    hold_id      uuid NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    decided_at   timestamptz,
    decided_by   uuid REFERENCES admins (id),
    reason       text,
    provider_ref text UNIQUE
);
CREATE INDEX withdrawal_requests_state ON withdrawal_requests (state, created_at);
CREATE INDEX withdrawal_requests_user ON withdrawal_requests (user_id, created_at);
