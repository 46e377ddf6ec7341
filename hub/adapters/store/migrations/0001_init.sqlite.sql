-- SQLite only: the event log refuses edits and deletes (only the outbox marker may be set).
CREATE TRIGGER payment_events_no_delete BEFORE DELETE ON payment_events
BEGIN
    SELECT RAISE(ABORT, 'payment_events is append-only');
END;
CREATE TRIGGER payment_events_no_update BEFORE UPDATE OF id, payment_id, type, status, data, occurred_at
    ON payment_events
BEGIN
    SELECT RAISE(ABORT, 'payment_events is append-only');
END;
