-- KHQR sessions: one QR shown to a customer for one payment, valid until expires_at.
CREATE TABLE khqr_sessions (
    id TEXT PRIMARY KEY,
    payment_id BIGINT NOT NULL REFERENCES payments (id),
    premium_id BIGINT NOT NULL,
    policy_number TEXT NOT NULL,
    customer_name TEXT NOT NULL,
    amount {MONEY} NOT NULL,
    currency TEXT NOT NULL,
    qr_string TEXT NOT NULL,
    qr_image TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('PENDING', 'PAID', 'EXPIRED')),
    created_at {TS} NOT NULL,
    expires_at {TS} NOT NULL,
    closed_at {TS}
);
-- No second QR for one premium at once, whatever runs concurrently.
CREATE UNIQUE INDEX khqr_sessions_one_pending ON khqr_sessions (premium_id) WHERE status = 'PENDING';
CREATE INDEX khqr_sessions_due ON khqr_sessions (expires_at) WHERE status = 'PENDING';
CREATE INDEX khqr_sessions_payment ON khqr_sessions (payment_id);
