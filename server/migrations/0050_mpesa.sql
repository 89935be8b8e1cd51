-- M-Pesa (Daraja): one row per STK Push request and one per B2C payment, plus a
-- bounded log of raw callbacks. The money itself lives in the ledger.

CREATE TABLE mpesa_requests (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    checkout_request_id text NOT NULL UNIQUE CHECK (length(checkout_request_id) BETWEEN 1 AND 100),
    merchant_request_id text NOT NULL,
    user_id             uuid NOT NULL REFERENCES users (id),
    phone_e164          text NOT NULL,
    amount_minor        bigint NOT NULL CHECK (amount_minor > 0 AND amount_minor % 100 = 0),
    currency            text NOT NULL,
    state               text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'paid', 'failed')),
    result_code         integer,
    result_desc         text,
    receipt             text UNIQUE,
    transfer_id         uuid,
    query_attempts      integer NOT NULL DEFAULT 0 CHECK (query_attempts >= 0),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX mpesa_requests_pending ON mpesa_requests (created_at) WHERE state = 'pending';
CREATE INDEX mpesa_requests_user ON mpesa_requests (user_id, created_at);

CREATE TABLE mpesa_b2c (
    withdrawal_id              uuid PRIMARY KEY,
    originator_conversation_id text NOT NULL UNIQUE,
    conversation_id            text UNIQUE,
    user_id                    uuid NOT NULL REFERENCES users (id),
    phone_e164                 text NOT NULL,
    amount_minor               bigint NOT NULL CHECK (amount_minor > 0 AND amount_minor % 100 = 0),
    state                      text NOT NULL DEFAULT 'sending'
                               CHECK (state IN ('sending', 'pending', 'paid', 'failed')),
    timed_out_at               timestamptz,
    result_code                integer,
    result_desc                text,
    receipt                    text UNIQUE,
    created_at                 timestamptz NOT NULL DEFAULT now(),
    updated_at                 timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE mpesa_callbacks (
    id          bigserial PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('stk', 'b2c_result', 'b2c_timeout')),
    ref         text,
    body        jsonb NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX mpesa_callbacks_ref ON mpesa_callbacks (ref);
