-- Why an order failed (Stripe did not answer when its checkout was started, or its payment
-- failed), for the studio; and the refund attempt, which names the refund's idempotency key at
-- Stripe (a new attempt after Stripe answered with an error, which it would otherwise replay).
ALTER TABLE orders ADD COLUMN failure TEXT;
ALTER TABLE orders ADD COLUMN refund_attempt BIGINT NOT NULL DEFAULT 0;

-- Outbox ids are never reused (AUTOINCREMENT): a deleted message's id, and with it the name of its
-- .eml file, never comes back. SQLite cannot add AUTOINCREMENT to a table, so the table is rebuilt,
-- keeping every row and id. No table refers to outbox and outbox refers to none, so foreign keys
-- are not involved; sqlx runs this file in one transaction.
CREATE TABLE outbox_new (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
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
    sent_at         TEXT,
    -- The launch or announcement a message belongs to (`launch:3`), for the studio's counts.
    campaign        TEXT
);
INSERT INTO outbox_new (id, dedupe_key, category, to_addr, to_name, subject, body_text, body_html, headers,
    status, attempts, next_attempt_at, locked_until, last_error, created_at, sent_at, campaign)
SELECT id, dedupe_key, category, to_addr, to_name, subject, body_text, body_html, headers,
    status, attempts, next_attempt_at, locked_until, last_error, created_at, sent_at, campaign
FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_new RENAME TO outbox;
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_by_recipient ON outbox (to_addr);
CREATE INDEX outbox_by_campaign ON outbox (campaign, status);
