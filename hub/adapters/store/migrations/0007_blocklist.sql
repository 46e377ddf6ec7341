-- Issue 9, fraud controls: the blocklist operators manage (GET/POST/DELETE /admin/blocklist,
-- `payhub blocklist`). Rows are never deleted: removal stamps removed_at/removed_by. An entry
-- applies while removed_at IS NULL and (expires_at IS NULL OR now < expires_at), decided when read.
CREATE TABLE blocklist (
    id {ID},
    kind TEXT NOT NULL CHECK (kind IN ('policy', 'customer', 'ip', 'device')),
    value TEXT NOT NULL,
    reason TEXT NOT NULL,
    added_by TEXT NOT NULL,
    created_at {TS} NOT NULL,
    expires_at {TS},
    removed_at {TS},
    removed_by TEXT
);
CREATE INDEX blocklist_live ON blocklist (id) WHERE removed_at IS NULL;
-- A policy's paid amounts, newest first: the history the amount rule compares a premium with.
CREATE INDEX payments_policy_confirmed ON payments (policy_number, currency, id) WHERE status = 'CONFIRMED';
