-- SQLite: a review's kind is its key's prefix (hub.domain.reviews.review_kind).
UPDATE reviews SET kind = CASE WHEN instr(key, ':') > 1 THEN lower(substr(key, 1, min(instr(key, ':') - 1, 40)))
    ELSE 'other' END;
-- The policy a review's payload names, for reviews without a payment. (The JSON path's dollar is
-- char(36): the dialect reads "$" followed by a name as a statement parameter.)
UPDATE reviews SET policy_number = json_extract(payload, char(36) || '.policyNumber')
    WHERE policy_number IS NULL AND json_valid(payload) AND json_type(payload, char(36) || '.policyNumber') = 'text';
-- Payer look-up: a case-insensitive prefix (LIKE 'jo%', ASCII letters folded) served by this index.
CREATE INDEX premiums_payer ON premiums (payer COLLATE NOCASE);
-- The review history refuses edits and deletes.
CREATE TRIGGER review_events_no_delete BEFORE DELETE ON review_events
BEGIN
    SELECT RAISE(ABORT, 'review_events is append-only');
END;
CREATE TRIGGER review_events_no_update BEFORE UPDATE ON review_events
BEGIN
    SELECT RAISE(ABORT, 'review_events is append-only');
END;
