-- A deposit asked for by a message (WhatsApp wamid) is recorded before the STK
-- Push goes out, keyed by the message, so a redelivered or reprocessed message
-- never sends a second push or creates a second request.
CREATE TABLE mpesa_deposit_intents (
    idem_key            text PRIMARY KEY CHECK (length(idem_key) BETWEEN 1 AND 200),
    user_id             uuid NOT NULL REFERENCES users (id),
    amount_minor        bigint NOT NULL CHECK (amount_minor > 0),
    checkout_request_id text UNIQUE,
    created_at          timestamptz NOT NULL DEFAULT now()
);
