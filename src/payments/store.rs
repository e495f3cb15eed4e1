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
}

pub async fn insert_order(tx: &mut Tx, o: &NewOrder<'_>, now: OffsetDateTime) -> sqlx::Result<i64> {
    const SQL: &str = "INSERT INTO orders (user_id, email, name, status, provider, currency, list_cents, total_cents, \
        bundle, early_bird, created_at, updated_at) VALUES ($1, $2, $3, 'pending', $4, $5, $6, $7, $8, $9, $10, $10) \
        RETURNING id";
    tx_run!(tx, conn => sqlx::query_scalar::<_, i64>(SQL)
        .bind(o.user_id).bind(o.email).bind(o.name).bind(o.provider).bind(o.currency).bind(o.list_cents)
        .bind(o.total_cents).bind(o.bundle).bind(o.early_bird).bind(now).fetch_one(conn).await)
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
}

const ORDER: &str = "SELECT id, user_id, email, name, status, provider, currency, list_cents, total_cents, \
    amount_paid_cents, bundle, early_bird, checkout_session_id, payment_intent_id, created_at, paid_at, refunded_at, \
    failure, refund_attempt FROM orders";

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

/// Ends the access an order gave (kept as rows, so progress survives a return).
pub async fn revoke_enrollments(tx: &mut Tx, order_id: i64, now: OffsetDateTime) -> sqlx::Result<u64> {
    const SQL: &str =
        "UPDATE enrollments SET status = 'revoked', updated_at = $2 WHERE order_id = $1 AND status = 'active'";
    tx_run!(tx, conn => sqlx::query(SQL).bind(order_id).bind(now).execute(conn).await.map(|r| r.rows_affected()))
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
    after: OffsetDateTime,
) -> sqlx::Result<Option<(i64, String)>> {
    const SQL: &str = "SELECT o.id, o.checkout_session_id FROM orders o WHERE o.user_id = $1 AND o.status = 'pending' \
        AND o.provider = 'stripe' AND o.checkout_session_id IS NOT NULL AND o.total_cents = $2 AND o.created_at > $3 \
        ORDER BY o.id DESC";
    let candidates = db_run!(db, pool => sqlx::query_as::<_, (i64, String)>(SQL)
        .bind(user_id).bind(total_cents).bind(after).fetch_all(pool).await)?;
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
}

const ORDER_LINES: &str = "SELECT o.id, o.status, o.currency, o.total_cents, o.amount_paid_cents, \
    (SELECT STRING_AGG(c.title, ' + ') FROM (SELECT c2.title FROM order_items i JOIN courses c2 ON c2.id = i.course_id \
     WHERE i.order_id = o.id ORDER BY c2.position) AS c) AS programs, o.created_at, o.email, o.name, o.failure \
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
