-- Players, one-time login codes and rotating refresh tokens.

CREATE TABLE users (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    phone_e164     text NOT NULL UNIQUE CHECK (phone_e164 ~ '^\+[1-9][0-9]{6,14}$'),
    display_name   text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 40),
    created_at     timestamptz NOT NULL DEFAULT now(),
    alerts_enabled boolean NOT NULL DEFAULT true
);

-- At most one live code per phone; a new request replaces it.
CREATE TABLE otp_challenges (
    phone_e164   text PRIMARY KEY,
    code_hash    bytea NOT NULL,
    expires_at   timestamptz NOT NULL,
    attempts     integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts integer NOT NULL CHECK (max_attempts > 0),
    created_at   timestamptz NOT NULL
);

-- One row per code sent, for the resend interval and the hourly cap; rows older
-- than an hour are deleted when the phone asks again.
CREATE TABLE otp_sends (
    id         bigserial PRIMARY KEY,
    phone_e164 text NOT NULL,
    sent_at    timestamptz NOT NULL
);
CREATE INDEX otp_sends_phone_sent ON otp_sends (phone_e164, sent_at);

-- Refresh tokens are opaque; only their SHA-256 is stored. Each login starts a
-- family; every refresh spends one token and issues the next in the family.
CREATE TABLE refresh_tokens (
    token_hash bytea PRIMARY KEY,
    family_id  uuid NOT NULL,
    user_id    uuid NOT NULL REFERENCES users (id),
    issued_at  timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    spent_at   timestamptz,
    revoked_at timestamptz
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
