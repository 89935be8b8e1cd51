-- WhatsApp channel: inbound messages (deduplicated by wamid), delivery statuses,
-- one row per outbound message we intend to send, and per-user window/pair-rate state.

-- Every inbound message, persisted before the webhook answers 200. The wamid is
-- the primary key, so a redelivered webhook inserts nothing, whichever node gets it.
CREATE TABLE wa_inbound (
    wamid         text PRIMARY KEY CHECK (length(wamid) BETWEEN 1 AND 256),
    phone_e164    text NOT NULL,
    payload       jsonb NOT NULL,            -- the parsed message (type, text, reply id, ...)
    sent_at       timestamptz NOT NULL,      -- the message's own timestamp
    received_at   timestamptz NOT NULL DEFAULT now(),
    claimed_until timestamptz,               -- a worker's lease while it processes the row
    attempts      integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    processed_at  timestamptz,
    error         text
);
CREATE INDEX wa_inbound_unprocessed ON wa_inbound (received_at) WHERE processed_at IS NULL;

-- Every status webhook, once per (wamid, status). Kept so a status that arrives
-- before the send recorded its wamid is applied when it does.
CREATE TABLE wa_status (
    wamid       text NOT NULL,
    status      text NOT NULL CHECK (status IN ('sent', 'delivered', 'read', 'failed')),
    at          timestamptz NOT NULL,
    send_key    text,                        -- biz_opaque_callback_data echoed by Meta
    errors      jsonb NOT NULL DEFAULT '[]',
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (wamid, status)
);

-- One row per outbound message we intend to send. `key` is the per-message
-- idempotency key: the outbox id for alerts, 'reply:<inbound wamid>:<n>' for replies.
-- The row is written with state 'sending' BEFORE the HTTP request, so a crash or
-- an ambiguous timeout is visible afterwards and never blindly resent.
CREATE TABLE wa_sends (
    key            text PRIMARY KEY CHECK (length(key) BETWEEN 1 AND 200),
    user_id        uuid NOT NULL REFERENCES users (id),
    kind           text NOT NULL,            -- reply, or the alert kind
    state          text NOT NULL DEFAULT 'new' CHECK (state IN (
                       'new', 'sending', 'accepted', 'retry', 'unknown', 'failed',
                       'skipped', 'unsendable')),
    wamid          text UNIQUE,              -- set once the API accepted the message
    delivery       text CHECK (delivery IN ('sent', 'delivered', 'read', 'failed')),
    delivery_at    timestamptz,
    delivery_errors jsonb NOT NULL DEFAULT '[]',
    as_template    text,                     -- the template name when sent outside the window
    attempts       integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error     text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX wa_sends_user ON wa_sends (user_id, created_at);

-- Per user: the customer-service window (last inbound) and the pair-rate slot.
CREATE TABLE wa_contacts (
    user_id         uuid PRIMARY KEY REFERENCES users (id),
    phone_e164      text NOT NULL UNIQUE,
    last_inbound_at timestamptz,
    next_send_at    timestamptz              -- the earliest time the next message may go
);
