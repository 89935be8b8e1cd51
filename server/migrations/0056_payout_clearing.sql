-- A withdrawal whose payout is in flight must not depend on its 7-day hold: when the
-- payout is sent, the hold is posted and the money moves to the provider's clearing
-- account (e.g. clearing:mpesa), where nothing expires. `payout_account` names that
-- account; NULL means the amount is still a hold. Only the provider's confirmed result
-- (or reconciliation) then moves it on: to world when paid, back to the player when not.
ALTER TABLE withdrawal_requests ADD COLUMN payout_account text
    CHECK (payout_account IS NULL OR payout_account LIKE 'clearing:%');

-- Reconciliation asks M-Pesa (Transaction Status) about payouts in flight too long.
ALTER TABLE mpesa_b2c ADD COLUMN query_attempts integer NOT NULL DEFAULT 0
    CHECK (query_attempts >= 0);
ALTER TABLE mpesa_b2c ADD COLUMN queried_at timestamptz;
CREATE INDEX mpesa_b2c_in_flight ON mpesa_b2c (created_at) WHERE state IN ('sending', 'pending');

-- Transaction Status results arrive on their own callback URL.
ALTER TABLE mpesa_callbacks DROP CONSTRAINT mpesa_callbacks_kind_check;
ALTER TABLE mpesa_callbacks ADD CONSTRAINT mpesa_callbacks_kind_check
    CHECK (kind IN ('stk', 'b2c_result', 'b2c_timeout', 'b2c_status'));
