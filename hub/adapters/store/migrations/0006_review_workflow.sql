-- Issue 9: the review workflow (state, outcome, an append-only history of who did what, when and
-- why), AMK's payment-verify answers kept for the case file, and indexes for the look-ups.
ALTER TABLE reviews ADD COLUMN kind TEXT NOT NULL DEFAULT 'other';
ALTER TABLE reviews ADD COLUMN state TEXT NOT NULL DEFAULT 'OPEN' CHECK (state IN ('OPEN', 'ESCALATED', 'RESOLVED'));
-- An outcome exactly while RESOLVED.
ALTER TABLE reviews ADD COLUMN outcome TEXT
    CHECK ((outcome IS NOT NULL AND outcome IN ('accepted', 'refund_required', 'dismissed') AND state = 'RESOLVED')
           OR (outcome IS NULL AND state <> 'RESOLVED'));
ALTER TABLE reviews ADD COLUMN policy_number TEXT;
ALTER TABLE reviews ADD COLUMN updated_at {TS};
UPDATE reviews SET updated_at = created_at;
UPDATE reviews SET policy_number = (SELECT policy_number FROM payments WHERE payments.id = reviews.payment_id)
    WHERE payment_id IS NOT NULL;
CREATE INDEX reviews_state ON reviews (state, id);
CREATE INDEX reviews_kind ON reviews (kind, state, id);
CREATE INDEX reviews_payment ON reviews (payment_id, id);
CREATE INDEX reviews_policy ON reviews (policy_number, id);
CREATE INDEX reviews_created ON reviews (created_at, id);

-- Append-only (triggers in the dialect files): one row per move of a review, its creation included.
CREATE TABLE review_events (
    id {ID},
    review_id BIGINT NOT NULL REFERENCES reviews (id),
    action TEXT NOT NULL CHECK (action IN ('open', 'resolve', 'escalate', 'reopen')),
    from_state TEXT CHECK (from_state IN ('OPEN', 'ESCALATED', 'RESOLVED')),
    to_state TEXT NOT NULL CHECK (to_state IN ('OPEN', 'ESCALATED', 'RESOLVED')),
    outcome TEXT CHECK (outcome IN ('accepted', 'refund_required', 'dismissed')),
    actor TEXT NOT NULL,
    note TEXT NOT NULL,
    occurred_at {TS} NOT NULL
);
CREATE INDEX review_events_review ON review_events (review_id, id);
-- Reviews raised before this migration were opened by PayHub when they were created.
INSERT INTO review_events (review_id, action, from_state, to_state, outcome, actor, note, occurred_at)
    SELECT id, 'open', NULL, 'OPEN', NULL, 'payhub', reason, created_at FROM reviews ORDER BY id;

-- What AMK's payment-verify answered, per transaction reference (hub.domain.reviews.AmkAnswer).
CREATE TABLE amk_answers (
    id {ID},
    payment_id BIGINT REFERENCES payments (id),
    reference TEXT NOT NULL,
    source TEXT NOT NULL,
    status TEXT NOT NULL,
    amount {MONEY},
    currency TEXT,
    detail TEXT NOT NULL,
    asked_at {TS} NOT NULL
);
CREATE INDEX amk_answers_payment ON amk_answers (payment_id, id);
CREATE INDEX amk_answers_reference ON amk_answers (reference, id);

-- Look-ups: a payment by policy number, by date; the receipts (webhook bodies) of a payment. (By AMK
-- transaction id, whatever the status: 0005's reconciliation_payments_transaction.)
CREATE INDEX payments_policy ON payments (policy_number, id);
CREATE INDEX payments_created ON payments (created_at, id);
CREATE INDEX webhook_receipts_payment ON webhook_receipts (payment_id);
