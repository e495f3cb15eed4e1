-- Orders and payments. Money is integer minor units in the site's currency; times are UTC.

CREATE TABLE orders (
    id                  INTEGER PRIMARY KEY,
    -- Kept for the books when the account is deleted (then user_id, email and name are cleared).
    user_id             BIGINT REFERENCES users (id) ON DELETE SET NULL,
    email               TEXT,
    name                TEXT,
    status              TEXT NOT NULL
        CHECK (status IN ('pending', 'paid', 'failed', 'refunded', 'cancelled', 'expired')),
    provider            TEXT NOT NULL CHECK (provider IN ('stripe', 'test')),
    currency            TEXT NOT NULL,
    list_cents          BIGINT NOT NULL CHECK (list_cents >= 0), -- the programs' prices added up
    total_cents         BIGINT NOT NULL CHECK (total_cents >= 0), -- what we asked for
    amount_paid_cents   BIGINT,                                   -- what Stripe says was paid
    bundle              BOOLEAN NOT NULL,
    early_bird          BOOLEAN NOT NULL,
    checkout_session_id TEXT UNIQUE,
    payment_intent_id   TEXT,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    paid_at             TEXT,
    refunded_at         TEXT
);
CREATE INDEX orders_by_user ON orders (user_id, created_at);
CREATE INDEX orders_pending ON orders (status, created_at);
CREATE INDEX orders_by_payment_intent ON orders (payment_intent_id);

CREATE TABLE order_items (
    order_id    BIGINT NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    course_id   BIGINT NOT NULL REFERENCES courses (id),
    price_cents BIGINT NOT NULL CHECK (price_cents >= 0),
    PRIMARY KEY (order_id, course_id)
);

-- Every Stripe event we accepted, by id: a replay or a duplicate delivery is a no-op.
CREATE TABLE stripe_events (
    id          TEXT PRIMARY KEY,
    type        TEXT NOT NULL,
    received_at TEXT NOT NULL
);

-- A full refund reported before the payment it refunds (events can arrive out of order): applied
-- when that payment is fulfilled, so access is never granted for refunded money.
CREATE TABLE early_refunds (
    payment_intent_id TEXT PRIMARY KEY,
    received_at       TEXT NOT NULL
);
