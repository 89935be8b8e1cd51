-- The ledger: TigerBeetle's account/transfer model on Postgres (docs/ledger.md).

CREATE TABLE accounts (
    id              bigserial PRIMARY KEY,
    owner           text NOT NULL CHECK (length(owner) BETWEEN 1 AND 200),
    currency        text NOT NULL CHECK (currency ~ '^[A-Z][A-Z0-9_]{1,15}$'),
    kind            text NOT NULL CHECK (kind IN ('user', 'house', 'world', 'clearing', 'escrow')),
    floor_minor     bigint NULL,
    debits_posted   bigint NOT NULL DEFAULT 0 CHECK (debits_posted >= 0),
    credits_posted  bigint NOT NULL DEFAULT 0 CHECK (credits_posted >= 0),
    debits_pending  bigint NOT NULL DEFAULT 0 CHECK (debits_pending >= 0),
    credits_pending bigint NOT NULL DEFAULT 0 CHECK (credits_pending >= 0),
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (owner, currency),
    CONSTRAINT accounts_floor CHECK (
        floor_minor IS NULL OR credits_posted - debits_posted - debits_pending >= floor_minor
    )
);

CREATE TABLE transfers (
    id                uuid PRIMARY KEY,
    seq               bigserial NOT NULL UNIQUE,
    debit_account_id  bigint NOT NULL REFERENCES accounts (id),
    credit_account_id bigint NOT NULL REFERENCES accounts (id),
    amount_minor      bigint NOT NULL CHECK (amount_minor > 0),
    currency          text NOT NULL,
    kind              text NOT NULL CHECK (kind IN ('single', 'pending', 'post', 'void')),
    pending_id        uuid UNIQUE REFERENCES transfers (id),
    expires_at        timestamptz,
    -- Set once, on a pending transfer only, when its post or void commits (cheap sweeping).
    resolved_at       timestamptz,
    ext_ref           text UNIQUE,
    code              text NOT NULL,
    meta              jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at        timestamptz NOT NULL DEFAULT now(),
    CHECK (debit_account_id <> credit_account_id),
    CHECK ((kind IN ('post', 'void')) = (pending_id IS NOT NULL)),
    CHECK ((kind = 'pending') = (expires_at IS NOT NULL)),
    CHECK (kind = 'pending' OR resolved_at IS NULL)
);

CREATE INDEX transfers_debit_seq ON transfers (debit_account_id, seq);
CREATE INDEX transfers_credit_seq ON transfers (credit_account_id, seq);
CREATE INDEX transfers_open_holds ON transfers (expires_at)
    WHERE kind = 'pending' AND resolved_at IS NULL;

CREATE TABLE outbox (
    id           uuid PRIMARY KEY,
    channel      text NOT NULL,
    recipient    text NOT NULL,
    kind         text NOT NULL,
    payload      jsonb NOT NULL DEFAULT '{}'::jsonb,
    state        text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'failed')),
    attempts     integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    available_at timestamptz NOT NULL DEFAULT now(),
    lease_until  timestamptz,
    last_error   text,
    provider_ref text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    sent_at      timestamptz
);

CREATE INDEX outbox_due ON outbox (channel, available_at) WHERE state = 'pending';
