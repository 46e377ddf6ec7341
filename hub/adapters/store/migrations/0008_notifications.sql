-- Issue 10: customer and partner notifications.
-- How the payer of a premium is reached (the integration service's data; all optional).
ALTER TABLE premiums ADD COLUMN payer_phone TEXT;
ALTER TABLE premiums ADD COLUMN payer_email TEXT;
ALTER TABLE premiums ADD COLUMN push_token TEXT;
ALTER TABLE premiums ADD COLUMN language TEXT CHECK (language IN ('km', 'en'));
-- The reminder scheduler reads the premiums that fall due soon.
CREATE INDEX premiums_due_soon ON premiums (due_date, id) WHERE status = 'DUE';

-- One row per notification: written before it is sent, so what is sent once stays sent once.
CREATE TABLE notifications (
    id {ID},
    occasion TEXT NOT NULL, -- event:<eventId> | reminder:<premiumId>:<dueDate>
    channel TEXT NOT NULL CHECK (channel IN ('push', 'sms', 'email', 'webhook')),
    recipient TEXT NOT NULL, -- push token, phone, email address, partner name
    message_id TEXT NOT NULL, -- webhook-id / Message-ID / Idempotency-Key, the same on every attempt
    kind TEXT NOT NULL,
    language TEXT NOT NULL,
    content TEXT NOT NULL, -- JSON: subject, text, html, data
    state TEXT NOT NULL CHECK (state IN ('PENDING', 'SENT', 'FAILED', 'DEAD', 'CANCELLED')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at {TS},
    last_error TEXT,
    payment_id BIGINT,
    premium_id BIGINT,
    created_at {TS} NOT NULL,
    updated_at {TS} NOT NULL,
    sent_at {TS}
);
-- Exactly once per (occasion, channel, recipient), whatever is delivered twice upstream.
CREATE UNIQUE INDEX notifications_once ON notifications (occasion, channel, recipient);
CREATE INDEX notifications_due ON notifications (next_attempt_at, id) WHERE state IN ('PENDING', 'FAILED');
CREATE INDEX notifications_payment ON notifications (payment_id, id);
CREATE INDEX notifications_state ON notifications (state, id);

-- A customer's channels and hours, per policy (absent: every channel, the default hours).
CREATE TABLE notification_preferences (
    policy_number TEXT PRIMARY KEY,
    channels TEXT NOT NULL, -- comma-separated: push,sms,email
    hours_start TEXT, -- HH:MM local, with hours_end; NULL: PAYHUB_NOTIFY_HOURS
    hours_end TEXT,
    updated_at {TS} NOT NULL
);

-- How far a reader of the event log has got (the notifier's catch-up without Kafka).
CREATE TABLE notifier_cursors (
    name TEXT PRIMARY KEY,
    event_id BIGINT NOT NULL,
    updated_at {TS} NOT NULL
);
