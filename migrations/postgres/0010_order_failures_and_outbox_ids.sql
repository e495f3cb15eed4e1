-- Why an order failed (Stripe did not answer when its checkout was started, or its payment
-- failed), for the studio; and the refund attempt, which names the refund's idempotency key at
-- Stripe (a new attempt after Stripe answered with an error, which it would otherwise replay).
ALTER TABLE orders ADD COLUMN failure TEXT;
ALTER TABLE orders ADD COLUMN refund_attempt BIGINT NOT NULL DEFAULT 0;

-- Outbox ids: an identity column already never hands out an id twice (the SQLite file of this
-- migration rebuilds its table with AUTOINCREMENT for the same guarantee).
