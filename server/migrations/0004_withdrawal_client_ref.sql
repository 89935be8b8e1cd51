-- A client's idempotency key for a withdrawal request (HTTP Idempotency-Key, a WhatsApp
-- message id): the same key from the same player returns the first request.
ALTER TABLE withdrawal_requests ADD COLUMN client_ref text CHECK (length(client_ref) <= 80);
CREATE UNIQUE INDEX withdrawal_requests_client_ref
    ON withdrawal_requests (user_id, client_ref) WHERE client_ref IS NOT NULL;
