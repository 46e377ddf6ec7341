-- PostgreSQL only: the event log refuses edits and deletes (only the outbox marker may be set).
CREATE FUNCTION payment_events_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'payment_events is append-only';
    END IF;
    IF NEW.id <> OLD.id OR NEW.payment_id <> OLD.payment_id OR NEW.type <> OLD.type
       OR NEW.status <> OLD.status OR NEW.data <> OLD.data OR NEW.occurred_at <> OLD.occurred_at THEN
        RAISE EXCEPTION 'payment_events is append-only';
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER payment_events_append_only BEFORE UPDATE OR DELETE ON payment_events
    FOR EACH ROW EXECUTE FUNCTION payment_events_append_only();
