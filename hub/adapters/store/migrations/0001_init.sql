-- PayHub schema 1. Written once for both dialects: {ID} is the auto-increment key type,
-- {MONEY} the exact numeric type, {TS} a timestamp with time zone, {DATE} a date.
CREATE TABLE premiums (
    id BIGINT PRIMARY KEY,
    policy_number TEXT NOT NULL,
    application_number TEXT,
    payer TEXT NOT NULL,
    amount {MONEY} NOT NULL,
    currency TEXT NOT NULL CHECK (currency IN ('USD', 'KHR')),
    due_date {DATE} NOT NULL,
    status TEXT NOT NULL DEFAULT 'DUE' CHECK (status IN ('DUE', 'PAID')),
    paid_payment_id BIGINT,
    paid_at {TS},
    updated_at {TS} NOT NULL
);
CREATE INDEX premiums_policy ON premiums (policy_number, status, due_date);
CREATE INDEX premiums_application ON premiums (application_number, status, due_date);

CREATE TABLE payments (
    id {ID},
    premium_id BIGINT NOT NULL, -- owned by the integration service: no foreign key across services
    policy_number TEXT NOT NULL,
    method TEXT CHECK (method IN ('KHQR', 'BILL')),
    status TEXT NOT NULL CHECK (status IN ('PENDING', 'PROCESSING', 'CONFIRMED', 'FAILED', 'EXPIRED')),
    amount {MONEY} NOT NULL,
    currency TEXT NOT NULL,
    transaction_id TEXT,
    review_reason TEXT,
    created_at {TS} NOT NULL,
    updated_at {TS} NOT NULL
);
-- At most one open attempt per premium, enforced by the database, not by memory.
CREATE UNIQUE INDEX payments_one_open ON payments (premium_id) WHERE status IN ('PENDING', 'PROCESSING');
-- A bank transaction confirms at most one payment.
CREATE UNIQUE INDEX payments_transaction ON payments (transaction_id) WHERE status = 'CONFIRMED';

-- Append-only: the audit trail, the Kafka outbox and the history a client resumes from.
CREATE TABLE payment_events (
    id {ID},
    payment_id BIGINT NOT NULL REFERENCES payments (id),
    type TEXT NOT NULL,
    status TEXT NOT NULL,
    data TEXT NOT NULL,
    occurred_at {TS} NOT NULL,
    published_at {TS}
);
CREATE INDEX payment_events_stream ON payment_events (payment_id, id);
CREATE INDEX payment_events_outbox ON payment_events (id) WHERE published_at IS NULL;

CREATE TABLE webhook_receipts (
    key TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    payment_id BIGINT REFERENCES payments (id),
    payload TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('DONE', 'VERIFY_PENDING')),
    response_status INTEGER NOT NULL,
    response_body TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at {TS},
    created_at {TS} NOT NULL,
    updated_at {TS} NOT NULL
);
CREATE INDEX webhook_receipts_pending ON webhook_receipts (next_attempt_at) WHERE state = 'VERIFY_PENDING';

CREATE TABLE reviews (
    id {ID},
    key TEXT NOT NULL UNIQUE,
    reason TEXT NOT NULL,
    payment_id BIGINT,
    payload TEXT NOT NULL,
    created_at {TS} NOT NULL
);

CREATE TABLE inquiries (
    id {ID},
    query TEXT NOT NULL,
    subject TEXT NOT NULL,
    client_ip TEXT NOT NULL,
    outcome TEXT NOT NULL,
    correlation_id TEXT NOT NULL,
    created_at {TS} NOT NULL
);
