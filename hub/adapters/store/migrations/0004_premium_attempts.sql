-- Issue 7 §1. Money may reach an attempt that was already closed (a QR paid after it expired or
-- failed) while another attempt of the same premium is waiting for AMK's verdict: both then hold
-- money (PROCESSING) and must both be recorded. What stays unique is the one payable attempt.
DROP INDEX payments_one_open;
CREATE UNIQUE INDEX payments_one_pending ON payments (premium_id) WHERE status = 'PENDING';
-- Every attempt of a premium, read under the premium's lock when one of them receives money.
CREATE INDEX payments_premium_status ON payments (premium_id, status);
