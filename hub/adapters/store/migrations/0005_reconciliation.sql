-- Reconciliation with AMK (issue 9): one run per day, one item per transaction, the statement used.
CREATE TABLE reconciliation_runs (
    id {ID},
    run_date {DATE} NOT NULL UNIQUE, -- the business day reconciled, Asia/Phnom_Penh: a rerun updates this row
    status TEXT NOT NULL CHECK (status IN ('RUNNING', 'COMPLETED', 'FAILED')),
    generation INTEGER NOT NULL, -- grows with each rerun of a completed day
    collected_generation INTEGER NOT NULL,
    triggered_by TEXT NOT NULL,
    lease_owner TEXT, -- the process working the run, until lease_until: one at a time
    lease_until {TS},
    statement_source TEXT,
    statement_sha256 TEXT,
    summary TEXT NOT NULL,
    error TEXT,
    started_at {TS} NOT NULL,
    finished_at {TS},
    updated_at {TS} NOT NULL
);

CREATE TABLE reconciliation_items (
    run_id BIGINT NOT NULL REFERENCES reconciliation_runs (id),
    key TEXT NOT NULL, -- <channel>:<tx_ref>
    channel TEXT NOT NULL,
    tx_ref TEXT NOT NULL,
    payment_id BIGINT,
    outcome TEXT,
    decided_generation INTEGER NOT NULL, -- the run's generation it was decided in (0: never)
    payhub TEXT,
    statement TEXT,
    verify TEXT,
    detail TEXT NOT NULL,
    review_key TEXT,
    decided_at {TS},
    alerted_at {TS}, -- the review's ALERT was logged (a process killed before that logs it on resume)
    PRIMARY KEY (run_id, key)
);
CREATE INDEX reconciliation_items_undecided ON reconciliation_items (run_id, decided_generation);

CREATE TABLE reconciliation_statements (
    statement_date {DATE} PRIMARY KEY,
    source TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    content TEXT NOT NULL,
    stored_at {TS} NOT NULL
);

-- A transaction looked up by AMK's id, whatever the payment's status (the unique index covers CONFIRMED only).
CREATE INDEX reconciliation_payments_transaction ON payments (transaction_id);
-- Receipts (money recorded) and status events of a day.
CREATE INDEX reconciliation_receipts_created ON webhook_receipts (created_at);
CREATE INDEX reconciliation_events_occurred ON payment_events (occurred_at);
