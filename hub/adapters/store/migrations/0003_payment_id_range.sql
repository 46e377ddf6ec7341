-- Payment ids start at 10^12 (hub.constants.PAYMENT_ID_FLOOR), above every premium (bill) id, so
-- a KHQR invoice_number names a payment or a premium, never both. Dialect files move the sequence.
CREATE INDEX IF NOT EXISTS payments_premium ON payments (premium_id, id);
