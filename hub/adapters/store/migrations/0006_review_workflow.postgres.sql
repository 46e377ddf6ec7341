-- PostgreSQL: a review's kind is its key's prefix (hub.domain.reviews.review_kind).
UPDATE reviews SET kind = CASE WHEN strpos(key, ':') > 1 THEN lower(left(split_part(key, ':', 1), 40)) ELSE 'other' END;
-- The policy a review's payload names, for reviews without a payment (an unreadable payload names none).
CREATE FUNCTION pg_temp.payhub_payload_policy(payload text) RETURNS text AS $$
BEGIN
    IF jsonb_typeof(payload::jsonb -> 'policyNumber') = 'string' THEN
        RETURN payload::jsonb ->> 'policyNumber';
    END IF;
    RETURN NULL;
EXCEPTION WHEN others THEN
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
UPDATE reviews SET policy_number = pg_temp.payhub_payload_policy(payload) WHERE policy_number IS NULL;
DROP FUNCTION pg_temp.payhub_payload_policy(text);
-- Payer look-up: a case-insensitive prefix (LIKE 'jo%' on lower(payer)) served by this index.
CREATE INDEX premiums_payer ON premiums (lower(payer) text_pattern_ops);
-- The review history refuses edits and deletes.
CREATE FUNCTION review_events_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'review_events is append-only';
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER review_events_append_only BEFORE UPDATE OR DELETE ON review_events
    FOR EACH ROW EXECUTE FUNCTION review_events_append_only();
CREATE TRIGGER review_events_no_truncate BEFORE TRUNCATE ON review_events
    FOR EACH STATEMENT EXECUTE FUNCTION review_events_append_only();
