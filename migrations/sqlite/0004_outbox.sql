-- Email outbox: written in the same transaction as the change that causes the email, delivered by
-- a background worker that claims rows with a lease.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    -- Optional: makes "one email per (event, recipient)" a constraint, e.g. one launch email each.
    dedupe_key      TEXT UNIQUE,
    category        TEXT NOT NULL CHECK (category IN ('transactional', 'marketing')),
    to_addr         TEXT NOT NULL,
    to_name         TEXT NOT NULL,
    subject         TEXT NOT NULL,
    body_text       TEXT NOT NULL,
    body_html       TEXT NOT NULL,
    headers         TEXT NOT NULL, -- JSON object of extra headers (List-Unsubscribe, ...)
    status          TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    locked_until    TEXT,
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    sent_at         TEXT
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_by_recipient ON outbox (to_addr);
