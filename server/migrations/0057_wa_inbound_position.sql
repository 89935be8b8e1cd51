-- Several messages of one webhook POST share `received_at` (the transaction's now()),
-- so they are processed in the order of the message's own timestamp, then of its
-- position in the payload. Rows stored before this migration get position 0.
ALTER TABLE wa_inbound ADD COLUMN position integer NOT NULL DEFAULT 0 CHECK (position >= 0);
DROP INDEX wa_inbound_unprocessed;
CREATE INDEX wa_inbound_unprocessed ON wa_inbound (sent_at, received_at, position)
    WHERE processed_at IS NULL;
