//! Every SQL statement of orders and payments.

use serde::Serialize;
use time::OffsetDateTime;

use crate::db::{Db, Tx};
use crate::{db_run, tx_run};

pub struct NewOrder<'a> {
    pub user_id: i64,
    pub email: &'a str,
    pub name: &'a str,
    pub provider: &'a str,
    pub currency: &'a str,
    pub list_cents: i64,
    pub total_cents: i64,
    pub bundle: bool,
    pub early_bird: bool,
    /// Paid in instalments (`total_cents` is then what the plan costs in all).
    pub plan: Option<&'a super::plans::Plan>,
}

pub async fn insert_order(tx: &mut Tx, o: &NewOrder<'_>, now: OffsetDateTime) -> sqlx::Result<i64> {
    const SQL: &str = "INSERT INTO orders (user_id, email, name, status, provider, currency, list_cents, total_cents, \
        bundle, early_bird, created_at, updated_at, plan_id, plan_instalments, plan_amount_cents, plan_interval) \
        VALUES ($1, $2, $3, 'pending', $4, $5, $6, $7, $8, $9, $10, $10, $11, $12, $13, $14) RETURNING id";
    tx_run!(tx, conn => sqlx::query_scalar::<_, i64>(SQL)
        .bind(o.user_id).bind(o.email).bind(o.name).bind(o.provider).bind(o.currency).bind(o.list_cents)
        .bind(o.total_cents).bind(o.bundle).bind(o.early_bird).bind(now)
        .bind(o.plan.map(|p| p.id.as_str())).bind(o.plan.map(|p| p.instalments))
        .bind(o.plan.map(|p| p.amount)).bind(o.plan.map(|p| p.interval.as_str()))
        .fetch_one(conn).await)
}

pub async fn insert_item(tx: &mut Tx, order_id: i64, course_id: i64, price_cents: i64) -> sqlx::Result<()> {
    const SQL: &str = "INSERT INTO order_items (order_id, course_id, price_cents) VALUES ($1, $2, $3)";
    tx_run!(tx, conn => sqlx::query(SQL).bind(order_id).bind(course_id).bind(price_cents).execute(conn).await.map(|_| ()))
}

pub async fn set_session(db: &Db, order_id: i64, session_id: &str, now: OffsetDateTime) -> sqlx::Result<()> {
    const SQL: &str = "UPDATE orders SET checkout_session_id = $2, updated_at = $3 WHERE id = $1";
    db_run!(db, pool => sqlx::query(SQL).bind(order_id).bind(session_id).bind(now).execute(pool).await.map(|_| ()))
}

#[derive(sqlx::FromRow, Serialize, Debug, Clone)]
pub struct Order {
    pub id: i64,
    pub user_id: Option<i64>,
    pub email: Option<String>,
    pub name: Option<String>,
    #[sqlx(try_from = "String")]
    pub status: crate::domain::OrderStatus,
    pub provider: String,
    pub currency: String,
    pub list_cents: i64,
    pub total_cents: i64,
    pub amount_paid_cents: Option<i64>,
    pub bundle: bool,
    pub early_bird: bool,
    pub checkout_session_id: Option<String>,
    pub payment_intent_id: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub paid_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub refunded_at: Option<OffsetDateTime>,
    /// Why a `failed` order failed, in words for the studio.
    pub failure: Option<String>,
    /// Names the idempotency key of the next refund call (see `stripe_api::refund_key`).
    pub refund_attempt: i64,
    pub plan_id: Option<String>,
    pub plan_instalments: Option<i64>,
    pub plan_amount_cents: Option<i64>,
    pub plan_interval: Option<String>,
    /// `active`, `paused`, `complete` or `cancelled` (see [`Order::plan_state`]).
    pub plan_state: Option<String>,
    pub subscription_id: Option<String>,
    pub customer_id: Option<String>,
    /// Tax Stripe added at checkout (automatic tax).
    pub tax_cents: Option<i64>,
    /// The Stripe invoice the buyer can open.
    pub invoice_url: Option<String>,
}

impl Order {
    pub fn plan_state(&self) -> Option<crate::domain::PlanState> {
        self.plan_state.as_deref().and_then(crate::domain::PlanState::parse)
    }

    pub fn is_plan(&self) -> bool {
        self.plan_id.is_some()
    }
}

const ORDER: &str = "SELECT id, user_id, email, name, status, provider, currency, list_cents, total_cents, \
    amount_paid_cents, bundle, early_bird, checkout_session_id, payment_intent_id, created_at, paid_at, refunded_at, \
    failure, refund_attempt, plan_id, plan_instalments, plan_amount_cents, plan_interval, plan_state, \
    subscription_id, customer_id, tax_cents, invoice_url FROM orders";

pub async fn order(db: &Db, id: i64) -> sqlx::Result<Option<Order>> {
    let sql = format!("{ORDER} WHERE id = $1");
    db_run!(db, pool => sqlx::query_as::<_, Order>(&sql).bind(id).fetch_optional(pool).await)
}

pub async fn order_in_tx(tx: &mut Tx, id: i64) -> sqlx::Result<Option<Order>> {
    let sql = format!("{ORDER} WHERE id = $1");
    tx_run!(tx, conn => sqlx::query_as::<_, Order>(&sql).bind(id).fetch_optional(conn).await)
}

pub async fn order_by_session(db: &Db, session_id: &str) -> sqlx::Result<Option<Order>> {
    let sql = format!("{ORDER} WHERE checkout_session_id = $1");
    db_run!(db, pool => sqlx::query_as::<_, Order>(&sql).bind(session_id).fetch_optional(pool).await)
}

pub async fn order_by_payment_intent(tx: &mut Tx, pi: &str) -> sqlx::Result<Option<Order>> {
    let sql = format!("{ORDER} WHERE payment_intent_id = $1");
    tx_run!(tx, conn => sqlx::query_as::<_, Order>(&sql).bind(pi).fetch_optional(conn).await)
}

/// The programs an order is for.
#[derive(sqlx::FromRow, Serialize, Debug, Clone)]
pub struct Item {
    pub course_id: i64,
    pub slug: String,
    pub title: String,
    pub price_cents: i64,
    /// Open for enrollment now (read in the same transaction as a fulfilment).
    pub open: bool,
}

pub async fn items(tx: &mut Tx, order_id: i64) -> sqlx::Result<Vec<Item>> {
    const SQL: &str = "SELECT i.course_id, c.slug, c.title, i.price_cents, \
        (c.status = 'open' AND c.archived = FALSE) AS open FROM order_items i \
        JOIN courses c ON c.id = i.course_id WHERE i.order_id = $1 ORDER BY c.position, c.slug";
    tx_run!(tx, conn => sqlx::query_as::<_, Item>(SQL).bind(order_id).fetch_all(conn).await)
}

/// pending → paid. False when the order was not pending (the other path got there first).
pub async fn mark_paid(
    tx: &mut Tx,
    id: i64,
    payment_intent: Option<&str>,
    amount: Option<i64>,
    now: OffsetDateTime,
) -> sqlx::Result<bool> {
    const SQL: &str = "UPDATE orders SET status = 'paid', payment_intent_id = COALESCE($2, payment_intent_id), \
        amount_paid_cents = COALESCE($3, total_cents), paid_at = $4, updated_at = $4 \
        WHERE id = $1 AND status = 'pending'";
    tx_run!(tx, conn => sqlx::query(SQL).bind(id).bind(payment_intent).bind(amount).bind(now)
        .execute(conn).await.map(|r| r.rows_affected() == 1))
}

/// pending → paid, for a payment that cannot give what it was for (`why`, in words for the buyer
/// and the studio): the money came in, no access goes out, and a refund is due. False when the
/// order was not pending.
pub async fn mark_paid_unfulfilled(
    tx: &mut Tx,
    id: i64,
    payment_intent: Option<&str>,
    amount: Option<i64>,
    why: &str,
    now: OffsetDateTime,
) -> sqlx::Result<bool> {
    const SQL: &str = "UPDATE orders SET status = 'paid', payment_intent_id = COALESCE($2, payment_intent_id), \
        amount_paid_cents = COALESCE($3, total_cents), paid_at = $4, updated_at = $4, failure = $5 \
        WHERE id = $1 AND status = 'pending'";
    tx_run!(tx, conn => sqlx::query(SQL).bind(id).bind(payment_intent).bind(amount).bind(now).bind(why)
        .execute(conn).await.map(|r| r.rows_affected() == 1))
}

/// Paid Stripe orders that gave no access (see [`mark_paid_unfulfilled`]) and still wait for their
/// refund: the reconciliation job retries them.
pub async fn refunds_due(db: &Db, limit: i64) -> sqlx::Result<Vec<i64>> {
    const SQL: &str = "SELECT id FROM orders WHERE status = 'paid' AND provider = 'stripe' AND failure IS NOT NULL \
        ORDER BY id LIMIT $1";
    db_run!(db, pool => sqlx::query_scalar::<_, i64>(SQL).bind(limit).fetch_all(pool).await)
}

/// Moves an order from one status to another; false when it was not in `from`.
pub async fn move_status(tx: &mut Tx, id: i64, from: &str, to: &str, now: OffsetDateTime) -> sqlx::Result<bool> {
    const SQL: &str = "UPDATE orders SET status = $3, updated_at = $4, \
        refunded_at = CASE WHEN $3 = 'refunded' THEN $4 ELSE refunded_at END WHERE id = $1 AND status = $2";
    tx_run!(tx, conn => sqlx::query(SQL).bind(id).bind(from).bind(to).bind(now)
        .execute(conn).await.map(|r| r.rows_affected() == 1))
}

/// pending → failed, with the reason; false when the order was no longer pending.
pub async fn fail(tx: &mut Tx, id: i64, reason: &str, now: OffsetDateTime) -> sqlx::Result<bool> {
    const SQL: &str =
        "UPDATE orders SET status = 'failed', failure = $2, updated_at = $3 WHERE id = $1 AND status = 'pending'";
    tx_run!(tx, conn => sqlx::query(SQL).bind(id).bind(reason).bind(now)
        .execute(conn).await.map(|r| r.rows_affected() == 1))
}

/// Stripe answered a refund call with an error: the next attempt gets a new idempotency key.
/// Only from the attempt that failed, so two clicks that failed at once move it one step.
pub async fn next_refund_attempt(db: &Db, id: i64, failed_attempt: i64) -> sqlx::Result<()> {
    const SQL: &str = "UPDATE orders SET refund_attempt = refund_attempt + 1 WHERE id = $1 AND refund_attempt = $2";
    db_run!(db, pool => sqlx::query(SQL).bind(id).bind(failed_attempt).execute(pool).await.map(|_| ()))
}

pub async fn set_payment_intent(tx: &mut Tx, id: i64, pi: &str) -> sqlx::Result<()> {
    const SQL: &str = "UPDATE orders SET payment_intent_id = $2 WHERE id = $1 AND payment_intent_id IS NULL";
    tx_run!(tx, conn => sqlx::query(SQL).bind(id).bind(pi).execute(conn).await.map(|_| ()))
}

/// Records a Stripe event id; false when it was seen before.
pub async fn record_event(tx: &mut Tx, id: &str, kind: &str, now: OffsetDateTime) -> sqlx::Result<bool> {
    const SQL: &str =
        "INSERT INTO stripe_events (id, type, received_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING";
    tx_run!(tx, conn => sqlx::query(SQL).bind(id).bind(kind).bind(now).execute(conn).await.map(|r| r.rows_affected() == 1))
}

pub async fn record_early_refund(tx: &mut Tx, pi: &str, now: OffsetDateTime) -> sqlx::Result<()> {
    const SQL: &str = "INSERT INTO early_refunds (payment_intent_id, received_at) VALUES ($1, $2) \
        ON CONFLICT (payment_intent_id) DO NOTHING";
    tx_run!(tx, conn => sqlx::query(SQL).bind(pi).bind(now).execute(conn).await.map(|_| ()))
}

pub async fn has_early_refund(tx: &mut Tx, pi: &str) -> sqlx::Result<bool> {
    const SQL: &str = "SELECT COUNT(*) FROM early_refunds WHERE payment_intent_id = $1";
    tx_run!(tx, conn => sqlx::query_scalar::<_, i64>(SQL).bind(pi).fetch_one(conn).await.map(|n| n > 0))
}

/// Stripe orders still pending after `before`, for the reconciliation job.
/// Each is checked at most once per period (`updated_at` is bumped by [`checked`]), least recently
/// checked first, so abandoned checkouts do not crowd out the rest.
pub async fn stale_pending(db: &Db, before: OffsetDateTime, limit: i64) -> sqlx::Result<Vec<(i64, String)>> {
    const SQL: &str = "SELECT id, checkout_session_id FROM orders WHERE status = 'pending' AND provider = 'stripe' \
        AND checkout_session_id IS NOT NULL AND updated_at < $1 ORDER BY updated_at, id LIMIT $2";
    db_run!(db, pool => sqlx::query_as::<_, (i64, String)>(SQL).bind(before).bind(limit).fetch_all(pool).await)
}

/// Notes that the reconciliation job asked Stripe about an order.
pub async fn checked(db: &Db, id: i64, now: OffsetDateTime) -> sqlx::Result<()> {
    const SQL: &str = "UPDATE orders SET updated_at = $2 WHERE id = $1 AND status = 'pending'";
    db_run!(db, pool => sqlx::query(SQL).bind(id).bind(now).execute(pool).await.map(|_| ()))
}

/// The buyer's newest pending Stripe order for exactly these programs since `after`, with its
/// session: a second tab or a second click goes back to it instead of starting another payment.
pub async fn pending_for(
    db: &Db,
    user_id: i64,
    course_ids: &[i64],
    total_cents: i64,
    plan_id: Option<&str>,
    after: OffsetDateTime,
) -> sqlx::Result<Option<(i64, String)>> {
    const SQL: &str = "SELECT o.id, o.checkout_session_id FROM orders o WHERE o.user_id = $1 AND o.status = 'pending' \
        AND o.provider = 'stripe' AND o.checkout_session_id IS NOT NULL AND o.total_cents = $2 AND o.created_at > $3 \
        AND COALESCE(o.plan_id, '') = $4 ORDER BY o.id DESC";
    let candidates = db_run!(db, pool => sqlx::query_as::<_, (i64, String)>(SQL)
        .bind(user_id).bind(total_cents).bind(after).bind(plan_id.unwrap_or("")).fetch_all(pool).await)?;
    for (id, session) in candidates {
        const ITEMS: &str = "SELECT course_id FROM order_items WHERE order_id = $1 ORDER BY course_id";
        let mut items = db_run!(db, pool => sqlx::query_scalar::<_, i64>(ITEMS).bind(id).fetch_all(pool).await)?;
        let mut wanted = course_ids.to_vec();
        items.sort_unstable();
        wanted.sort_unstable();
        if items == wanted {
            return Ok(Some((id, session)));
        }
    }
    Ok(None)
}

/// A person's orders with their programs, newest first.
#[derive(sqlx::FromRow, Serialize, Debug, Clone)]
pub struct OrderLine {
    pub id: i64,
    #[sqlx(try_from = "String")]
    pub status: crate::domain::OrderStatus,
    pub currency: String,
    pub total_cents: i64,
    pub amount_paid_cents: Option<i64>,
    pub programs: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub email: Option<String>,
    pub name: Option<String>,
    pub failure: Option<String>,
    pub plan_instalments: Option<i64>,
    pub plan_amount_cents: Option<i64>,
    pub plan_interval: Option<String>,
    pub plan_state: Option<String>,
    /// Instalments received (plans).
    pub payments_made: i64,
    pub tax_cents: Option<i64>,
}

const ORDER_LINES: &str = "SELECT o.id, o.status, o.currency, o.total_cents, o.amount_paid_cents, \
    (SELECT STRING_AGG(c.title, ' + ') FROM (SELECT c2.title FROM order_items i JOIN courses c2 ON c2.id = i.course_id \
     WHERE i.order_id = o.id ORDER BY c2.position) AS c) AS programs, o.created_at, o.email, o.name, o.failure, \
     o.plan_instalments, o.plan_amount_cents, o.plan_interval, o.plan_state, \
     (SELECT COUNT(*) FROM order_payments p WHERE p.order_id = o.id) AS payments_made, o.tax_cents \
     FROM orders o";

pub async fn for_user(db: &Db, user_id: i64) -> sqlx::Result<Vec<OrderLine>> {
    let sql = format!("{ORDER_LINES} WHERE o.user_id = $1 AND o.status IN ('paid', 'refunded') ORDER BY o.id DESC");
    db_run!(db, pool => sqlx::query_as::<_, OrderLine>(&sql).bind(user_id).fetch_all(pool).await)
}

/// The studio's list: by program slug and status (empty = all).
pub async fn list(db: &Db, course: &str, status: &str) -> sqlx::Result<Vec<OrderLine>> {
    let sql = format!(
        "{ORDER_LINES} WHERE ($1 = '' OR EXISTS (SELECT 1 FROM order_items i JOIN courses c ON c.id = i.course_id \
         WHERE i.order_id = o.id AND c.slug = $1)) AND ($2 = '' OR o.status = $2) ORDER BY o.id DESC"
    );
    db_run!(db, pool => sqlx::query_as::<_, OrderLine>(&sql).bind(course).bind(status).fetch_all(pool).await)
}

/// Keeps an order for the books but forgets who placed it (account deletion).
pub async fn anonymise_for_user(tx: &mut Tx, user_id: i64) -> sqlx::Result<()> {
    const SQL: &str = "UPDATE orders SET email = NULL, name = NULL WHERE user_id = $1";
    tx_run!(tx, conn => sqlx::query(SQL).bind(user_id).execute(conn).await.map(|_| ()))
}

/// Programs with a confirmed pre-enrollment for this address, and when each launched.
pub async fn early_bird_launches(db: &Db, email: &str) -> sqlx::Result<Vec<(i64, Option<OffsetDateTime>)>> {
    const SQL: &str = "SELECT c.id, c.launched_at FROM preenrollment_courses pc \
        JOIN preenrollments p ON p.id = pc.preenrollment_id JOIN courses c ON c.id = pc.course_id \
        WHERE p.email = $1 AND pc.confirmed_at IS NOT NULL";
    db_run!(db, pool => sqlx::query_as::<_, (i64, Option<OffsetDateTime>)>(SQL).bind(email).fetch_all(pool).await)
}

/// How many orders are in each state (metrics).
pub async fn counts_by_status(db: &Db) -> sqlx::Result<Vec<(String, i64)>> {
    const SQL: &str = "SELECT status, COUNT(*) FROM orders GROUP BY status";
    db_run!(db, pool => sqlx::query_as::<_, (String, i64)>(SQL).fetch_all(pool).await)
}

// --- Payment plans (instalments), tax and invoices -------------------------------------------

/// Links a plan order to the Stripe subscription (and customer) that collects it; never re-links.
pub async fn set_subscription(tx: &mut Tx, id: i64, subscription: &str, customer: Option<&str>) -> sqlx::Result<()> {
    const SQL: &str = "UPDATE orders SET subscription_id = COALESCE(subscription_id, $2), \
        customer_id = COALESCE(customer_id, $3) WHERE id = $1";
    tx_run!(tx, conn => sqlx::query(SQL).bind(id).bind(subscription).bind(customer).execute(conn).await.map(|_| ()))
}

pub async fn order_by_subscription(tx: &mut Tx, subscription: &str) -> sqlx::Result<Option<Order>> {
    let sql = format!("{ORDER} WHERE subscription_id = $1");
    tx_run!(tx, conn => sqlx::query_as::<_, Order>(&sql).bind(subscription).fetch_optional(conn).await)
}

/// Records one paid instalment (by its invoice id); false when it was recorded before.
pub async fn record_payment(
    tx: &mut Tx,
    order_id: i64,
    invoice_id: &str,
    payment_intent: Option<&str>,
    amount: i64,
    now: OffsetDateTime,
) -> sqlx::Result<bool> {
    const SQL: &str = "INSERT INTO order_payments (order_id, stripe_invoice_id, payment_intent_id, amount_cents, \
        paid_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (stripe_invoice_id) DO NOTHING";
    let added = tx_run!(tx, conn => sqlx::query(SQL).bind(order_id).bind(invoice_id).bind(payment_intent)
        .bind(amount).bind(now).execute(conn).await.map(|r| r.rows_affected() == 1))?;
    if added {
        // What was received so far is what the order shows as paid.
        const SUM: &str = "UPDATE orders SET amount_paid_cents = (SELECT CAST(COALESCE(SUM(amount_cents), 0) AS BIGINT) \
            FROM order_payments WHERE order_id = $1), updated_at = $2 WHERE id = $1";
        tx_run!(tx, conn => sqlx::query(SUM).bind(order_id).bind(now).execute(conn).await.map(|_| ()))?;
    }
    Ok(added)
}

/// One instalment received.
#[derive(sqlx::FromRow, Serialize, Debug, Clone)]
pub struct Payment {
    pub stripe_invoice_id: String,
    pub payment_intent_id: Option<String>,
    pub amount_cents: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub paid_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub refunded_at: Option<OffsetDateTime>,
}

pub async fn payments(db: &Db, order_id: i64) -> sqlx::Result<Vec<Payment>> {
    const SQL: &str = "SELECT stripe_invoice_id, payment_intent_id, amount_cents, paid_at, refunded_at \
        FROM order_payments WHERE order_id = $1 ORDER BY paid_at, id";
    db_run!(db, pool => sqlx::query_as::<_, Payment>(SQL).bind(order_id).fetch_all(pool).await)
}

pub async fn payment_count(tx: &mut Tx, order_id: i64) -> sqlx::Result<i64> {
    const SQL: &str = "SELECT COUNT(*) FROM order_payments WHERE order_id = $1";
    tx_run!(tx, conn => sqlx::query_scalar::<_, i64>(SQL).bind(order_id).fetch_one(conn).await)
}

/// A refunded instalment.
pub async fn mark_payment_refunded(db: &Db, invoice_id: &str, now: OffsetDateTime) -> sqlx::Result<()> {
    const SQL: &str = "UPDATE order_payments SET refunded_at = $2 WHERE stripe_invoice_id = $1 AND refunded_at IS NULL";
    db_run!(db, pool => sqlx::query(SQL).bind(invoice_id).bind(now).execute(pool).await.map(|_| ()))
}

/// Moves a plan from one of `from` to `to`; false when it was in none of them.
pub async fn move_plan(tx: &mut Tx, id: i64, from: &[&str], to: &str, now: OffsetDateTime) -> sqlx::Result<bool> {
    let list = from.iter().map(|s| format!("'{s}'")).collect::<Vec<_>>().join(", ");
    let sql = format!(
        "UPDATE orders SET plan_state = $2, updated_at = $3 WHERE id = $1 AND {} ",
        if from.is_empty() {
            "plan_state IS NULL".to_owned()
        } else {
            format!("plan_state IN ({list})")
        }
    );
    tx_run!(tx, conn => sqlx::query(&sql).bind(id).bind(to).bind(now)
        .execute(conn).await.map(|r| r.rows_affected() == 1))
}

/// An instalment paid for a subscription we cannot place yet (events in any order).
pub async fn stash_invoice(
    tx: &mut Tx,
    invoice_id: &str,
    subscription: &str,
    payment_intent: Option<&str>,
    amount: i64,
    now: OffsetDateTime,
) -> sqlx::Result<()> {
    const SQL: &str = "INSERT INTO early_invoices (stripe_invoice_id, subscription_id, payment_intent_id, amount_cents, \
        paid_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (stripe_invoice_id) DO NOTHING";
    tx_run!(tx, conn => sqlx::query(SQL).bind(invoice_id).bind(subscription).bind(payment_intent).bind(amount)
        .bind(now).execute(conn).await.map(|_| ()))
}

/// The stashed instalments of a subscription, removed from the stash.
pub async fn take_stashed(
    tx: &mut Tx,
    subscription: &str,
) -> sqlx::Result<Vec<(String, Option<String>, i64, OffsetDateTime)>> {
    const SQL: &str = "SELECT stripe_invoice_id, payment_intent_id, amount_cents, paid_at FROM early_invoices \
        WHERE subscription_id = $1 ORDER BY paid_at";
    let rows = tx_run!(tx, conn => sqlx::query_as::<_, (String, Option<String>, i64, OffsetDateTime)>(SQL)
        .bind(subscription).fetch_all(conn).await)?;
    const DEL: &str = "DELETE FROM early_invoices WHERE subscription_id = $1";
    tx_run!(tx, conn => sqlx::query(DEL).bind(subscription).execute(conn).await.map(|_| ()))?;
    Ok(rows)
}

/// Forgets instalments kept for subscriptions that never became an order of ours (another product
/// on the same Stripe account, say) once they are older than `before`; how many.
pub async fn purge_stashed(db: &Db, before: OffsetDateTime) -> sqlx::Result<u64> {
    const SQL: &str = "DELETE FROM early_invoices WHERE paid_at < $1";
    db_run!(db, pool => sqlx::query(SQL).bind(before).execute(pool).await.map(|r| r.rows_affected()))
}

/// The buyer's plan that is still running (collecting or paused) for any of these programs.
pub async fn running_plan_for(db: &Db, user_id: i64, course_ids: &[i64]) -> sqlx::Result<Option<i64>> {
    const SQL: &str = "SELECT o.id, i.course_id FROM orders o JOIN order_items i ON i.order_id = o.id \
        WHERE o.user_id = $1 AND o.status = 'paid' AND o.plan_state IN ('active', 'paused') ORDER BY o.id";
    let rows = db_run!(db, pool => sqlx::query_as::<_, (i64, i64)>(SQL).bind(user_id).fetch_all(pool).await)?;
    Ok(rows.into_iter().find(|(_, c)| course_ids.contains(c)).map(|(id, _)| id))
}

/// Tax and the invoice link of an order, when Stripe reports them.
pub async fn set_tax_and_invoice(
    tx: &mut Tx,
    id: i64,
    tax_cents: Option<i64>,
    invoice_url: Option<&str>,
) -> sqlx::Result<()> {
    const SQL: &str = "UPDATE orders SET tax_cents = COALESCE($2, tax_cents), \
        invoice_url = COALESCE($3, invoice_url) WHERE id = $1";
    tx_run!(tx, conn => sqlx::query(SQL).bind(id).bind(tax_cents).bind(invoice_url).execute(conn).await.map(|_| ()))
}

/// Fills in the payment of an instalment recorded without it (from its Checkout Session).
pub async fn fill_payment_intent(tx: &mut Tx, invoice_id: &str, pi: Option<&str>) -> sqlx::Result<()> {
    const SQL: &str = "UPDATE order_payments SET payment_intent_id = $2 \
        WHERE stripe_invoice_id = $1 AND payment_intent_id IS NULL";
    tx_run!(tx, conn => sqlx::query(SQL).bind(invoice_id).bind(pi).execute(conn).await.map(|_| ()))
}

/// Bundle upgrade credit: for each program the person studies by a paid (not refunded) order of
/// theirs, that order line's price, the order's total and what was paid for the whole order
/// (course id, line, total, paid). Seats given by hand or by an import come from no order: none.
pub async fn paid_seats(db: &Db, user_id: i64) -> sqlx::Result<Vec<(i64, i64, i64, i64)>> {
    const SQL: &str = "SELECT i.course_id, i.price_cents, o.total_cents, COALESCE(o.amount_paid_cents, o.total_cents) \
        FROM orders o JOIN order_items i ON i.order_id = o.id \
        JOIN enrollments e ON e.user_id = o.user_id AND e.course_id = i.course_id AND e.order_id = o.id \
        WHERE o.user_id = $1 AND o.status = 'paid' AND e.status = 'active'";
    db_run!(db, pool => sqlx::query_as::<_, (i64, i64, i64, i64)>(SQL).bind(user_id).fetch_all(pool).await)
}
