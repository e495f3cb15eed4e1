-- Payment plans, tax and invoices (issue 18, parts 1 and 2).
--
-- A program (courses.plans) and the bundle (site.bundle_plans) may offer payment plans: a JSON list
-- of {id, instalments, amount, interval}, from course.toml / site.toml.
ALTER TABLE courses ADD COLUMN plans TEXT NOT NULL DEFAULT '[]';
ALTER TABLE site ADD COLUMN bundle_plans TEXT NOT NULL DEFAULT '[]';

-- An order paid by a plan: which plan (copied, so a later content change does not alter it), the
-- Stripe subscription that collects it, and where the plan is: active (collecting), paused (Stripe
-- gave up on a payment: access paused), complete (every instalment paid) or cancelled (refunded,
-- or ended by Stripe before it was paid in full).
ALTER TABLE orders ADD COLUMN plan_id TEXT;
ALTER TABLE orders ADD COLUMN plan_instalments BIGINT;
ALTER TABLE orders ADD COLUMN plan_amount_cents BIGINT;
ALTER TABLE orders ADD COLUMN plan_interval TEXT;
ALTER TABLE orders ADD COLUMN plan_state TEXT
    CHECK (plan_state IS NULL OR plan_state IN ('active', 'paused', 'complete', 'cancelled'));
ALTER TABLE orders ADD COLUMN subscription_id TEXT;
ALTER TABLE orders ADD COLUMN customer_id TEXT;
-- Tax Stripe added (automatic tax), and the Stripe invoice the buyer can open.
ALTER TABLE orders ADD COLUMN tax_cents BIGINT;
ALTER TABLE orders ADD COLUMN invoice_url TEXT;
CREATE UNIQUE INDEX orders_by_subscription ON orders (subscription_id);

-- Every instalment received: one row per paid Stripe invoice (test-mode instalments get test ids).
-- Revenue is the sum of these for plan orders: money received, not promised.
CREATE TABLE order_payments (
    id                INTEGER PRIMARY KEY,
    order_id          BIGINT NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    stripe_invoice_id TEXT NOT NULL UNIQUE,
    payment_intent_id TEXT,
    amount_cents      BIGINT NOT NULL CHECK (amount_cents >= 0),
    paid_at           TEXT NOT NULL,
    refunded_at       TEXT
);
CREATE INDEX order_payments_by_order ON order_payments (order_id, paid_at);

-- An invoice paid before we knew which order its subscription belongs to (events arrive in any
-- order and the first invoice may carry no order id): applied when the subscription is linked.
CREATE TABLE early_invoices (
    stripe_invoice_id TEXT PRIMARY KEY,
    subscription_id   TEXT NOT NULL,
    payment_intent_id TEXT,
    amount_cents      BIGINT NOT NULL,
    paid_at           TEXT NOT NULL
);
CREATE INDEX early_invoices_by_subscription ON early_invoices (subscription_id);

-- A seat whose plan payment failed for good is paused: no access, progress kept. SQLite cannot
-- change a CHECK, so the table is rebuilt with every row and id (no table refers to enrollments).
CREATE TABLE enrollments_new (
    id             INTEGER PRIMARY KEY,
    user_id        BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    course_id      BIGINT NOT NULL REFERENCES courses (id),
    source         TEXT NOT NULL CHECK (source IN ('order', 'grant')),
    order_id       BIGINT,
    status         TEXT NOT NULL CHECK (status IN ('active', 'revoked', 'paused')),
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    last_lesson_id BIGINT,
    UNIQUE (user_id, course_id)
);
INSERT INTO enrollments_new (id, user_id, course_id, source, order_id, status, created_at, updated_at, last_lesson_id)
SELECT id, user_id, course_id, source, order_id, status, created_at, updated_at, last_lesson_id FROM enrollments;
DROP TABLE enrollments;
ALTER TABLE enrollments_new RENAME TO enrollments;
CREATE INDEX enrollments_by_course ON enrollments (course_id, status);
