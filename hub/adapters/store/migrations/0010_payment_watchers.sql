-- Issue 12. The customers a payment was offered to (by the premium inquiry or GET /khqr), by their token's
-- subject: a customer's own bearer token may watch the payments it opened (the spec's SSE example sends the
-- app's JWT), beside the payment's subscribeToken. One row per (payment, subject), written once.
CREATE TABLE payment_watchers (
    payment_id BIGINT NOT NULL REFERENCES payments (id),
    subject TEXT NOT NULL,
    created_at {TS} NOT NULL,
    PRIMARY KEY (payment_id, subject)
);
