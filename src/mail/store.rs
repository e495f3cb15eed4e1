//! Every SQL statement of the outbox.

use time::{Duration, OffsetDateTime};

use crate::db::{Db, Tx};
use crate::{db_run, tx_run};

pub struct NewMessage<'a> {
    pub dedupe_key: Option<&'a str>,
    pub category: &'a str,
    pub campaign: Option<&'a str>,
    pub to_addr: &'a str,
    pub to_name: &'a str,
    pub subject: &'a str,
    pub body_text: &'a str,
    pub body_html: &'a str,
    pub headers: &'a str,
}

pub async fn insert(tx: &mut Tx, m: &NewMessage<'_>, now: OffsetDateTime) -> sqlx::Result<bool> {
    const SQL: &str = "INSERT INTO outbox (dedupe_key, category, campaign, to_addr, to_name, subject, body_text, \
        body_html, headers, status, attempts, next_attempt_at, created_at) \
        VALUES ($1, $2, $10, $3, $4, $5, $6, $7, $8, 'pending', 0, $9, $9) ON CONFLICT (dedupe_key) DO NOTHING";
    tx_run!(tx, conn => sqlx::query(SQL)
        .bind(m.dedupe_key)
        .bind(m.category)
        .bind(m.to_addr)
        .bind(m.to_name)
        .bind(m.subject)
        .bind(m.body_text)
        .bind(m.body_html)
        .bind(m.headers)
        .bind(now)
        .bind(m.campaign)
        .execute(conn)
        .await
        .map(|r| r.rows_affected() == 1))
}

pub async fn dedupe_key_taken(tx: &mut Tx, key: &str) -> sqlx::Result<bool> {
    const SQL: &str = "SELECT COUNT(*) FROM outbox WHERE dedupe_key = $1";
    tx_run!(tx, conn => sqlx::query_scalar::<_, i64>(SQL).bind(key).fetch_one(conn).await.map(|n| n > 0))
}

#[derive(sqlx::FromRow, Debug, Default, Clone, Copy, serde::Serialize)]
pub struct CampaignCounts {
    pub pending: i64,
    pub sent: i64,
    pub failed: i64,
}

// ---- unsubscribing --------------------------------------------------------------------------------

pub async fn is_unsubscribed(tx: &mut Tx, email: &str) -> sqlx::Result<bool> {
    const SQL: &str = "SELECT COUNT(*) FROM unsubscribes WHERE email = $1";
    tx_run!(tx, conn => sqlx::query_scalar::<_, i64>(SQL).bind(email).fetch_one(conn).await.map(|n| n > 0))
}

pub async fn unsubscribed_at(db: &Db, email: &str) -> sqlx::Result<Option<OffsetDateTime>> {
    const SQL: &str = "SELECT unsubscribed_at FROM unsubscribes WHERE email = $1";
    db_run!(db, pool => sqlx::query_scalar::<_, OffsetDateTime>(SQL).bind(email).fetch_optional(pool).await)
}

pub async fn unsubscribe(tx: &mut Tx, email: &str, now: OffsetDateTime) -> sqlx::Result<()> {
    const SQL: &str =
        "INSERT INTO unsubscribes (email, unsubscribed_at) VALUES ($1, $2) ON CONFLICT (email) DO NOTHING";
    tx_run!(tx, conn => sqlx::query(SQL).bind(email).bind(now).execute(conn).await.map(|_| ()))
}

/// Marketing email may reach this address again (they asked, by confirming a pre-enrollment or in
/// their account).
pub async fn resubscribe(tx: &mut Tx, email: &str) -> sqlx::Result<()> {
    const SQL: &str = "DELETE FROM unsubscribes WHERE email = $1";
    tx_run!(tx, conn => sqlx::query(SQL).bind(email).execute(conn).await.map(|_| ()))
}

pub async fn insert_unsubscribe_token(
    tx: &mut Tx,
    email: &str,
    hash: &str,
    expires_at: OffsetDateTime,
    now: OffsetDateTime,
) -> sqlx::Result<()> {
    const SQL: &str =
        "INSERT INTO unsubscribe_tokens (email, token_hash, expires_at, created_at) VALUES ($1, $2, $3, $4)";
    tx_run!(tx, conn => sqlx::query(SQL).bind(email).bind(hash).bind(expires_at).bind(now).execute(conn).await.map(|_| ()))
}

#[derive(sqlx::FromRow, Debug, Clone)]
pub struct UnsubscribeToken {
    pub id: i64,
    pub email: String,
    pub expires_at: OffsetDateTime,
    pub used_at: Option<OffsetDateTime>,
}

pub async fn find_unsubscribe_token(db: &Db, hash: &str) -> sqlx::Result<Option<UnsubscribeToken>> {
    const SQL: &str = "SELECT id, email, expires_at, used_at FROM unsubscribe_tokens WHERE token_hash = $1";
    db_run!(db, pool => sqlx::query_as::<_, UnsubscribeToken>(SQL).bind(hash).fetch_optional(pool).await)
}

/// Marks a token used; false when it already was (another request won).
pub async fn use_unsubscribe_token(tx: &mut Tx, id: i64, now: OffsetDateTime) -> sqlx::Result<bool> {
    const SQL: &str = "UPDATE unsubscribe_tokens SET used_at = $2 WHERE id = $1 AND used_at IS NULL";
    tx_run!(tx, conn => sqlx::query(SQL).bind(id).bind(now).execute(conn).await.map(|r| r.rows_affected() == 1))
}

/// Forgets an address's unsubscribe links and preference (account deletion).
pub async fn forget_address(tx: &mut Tx, email: &str) -> sqlx::Result<()> {
    tx_run!(tx, conn => {
        sqlx::query("DELETE FROM unsubscribe_tokens WHERE email = $1").bind(email).execute(&mut *conn).await?;
        sqlx::query("DELETE FROM unsubscribes WHERE email = $1").bind(email).execute(&mut *conn).await.map(|_| ())
    })
}

#[derive(sqlx::FromRow, Debug, Clone)]
pub struct Claimed {
    pub id: i64,
    pub to_addr: String,
    pub to_name: String,
    pub subject: String,
    pub body_text: String,
    pub body_html: String,
    pub headers: String,
    pub attempts: i64,
    pub created_at: OffsetDateTime,
}

/// Claims up to `limit` due messages for `lease`, transactional ones (a sign-up's link, a receipt)
/// before marketing ones (a launch's 500 emails), oldest first: nobody else takes them until it runs out, so a
/// worker that dies mid-send leaves them to be retried, and two workers never take the same one.
pub async fn claim(db: &Db, now: OffsetDateTime, lease: Duration, limit: i64) -> sqlx::Result<Vec<Claimed>> {
    const RETURNING: &str =
        " RETURNING id, to_addr, to_name, subject, body_text, body_html, headers, attempts, created_at";
    // The two backends differ only in row locking: SQLite has one writer at a time (BEGIN IMMEDIATE),
    // PostgreSQL skips rows another instance is claiming.
    const SQLITE: &str = "UPDATE outbox SET locked_until = $1, attempts = attempts + 1 WHERE id IN (\
        SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= $2 \
        AND (locked_until IS NULL OR locked_until <= $2) ORDER BY (category <> 'transactional'), id LIMIT $3)";
    const POSTGRES: &str = "UPDATE outbox SET locked_until = $1, attempts = attempts + 1 WHERE id IN (\
        SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= $2 \
        AND (locked_until IS NULL OR locked_until <= $2) ORDER BY (category <> 'transactional'), id LIMIT $3 FOR UPDATE SKIP LOCKED)";
    let until = now + lease;
    let mut tx = db.begin().await?;
    let mut rows = match &mut tx {
        Tx::Sqlite(t) => {
            sqlx::query_as::<_, Claimed>(&format!("{SQLITE}{RETURNING}"))
                .bind(until)
                .bind(now)
                .bind(limit)
                .fetch_all(&mut **t)
                .await?
        }
        Tx::Postgres(t) => {
            sqlx::query_as::<_, Claimed>(&format!("{POSTGRES}{RETURNING}"))
                .bind(until)
                .bind(now)
                .bind(limit)
                .fetch_all(&mut **t)
                .await?
        }
    };
    tx.commit().await?;
    rows.sort_by_key(|r| r.id);
    Ok(rows)
}

pub async fn mark_sent(db: &Db, id: i64, now: OffsetDateTime) -> sqlx::Result<()> {
    const SQL: &str = "UPDATE outbox SET status = 'sent', sent_at = $2, locked_until = NULL, last_error = NULL \
        WHERE id = $1";
    db_run!(db, pool => sqlx::query(SQL).bind(id).bind(now).execute(pool).await.map(|_| ()))
}

pub async fn retry_later(db: &Db, id: i64, at: OffsetDateTime, error: &str) -> sqlx::Result<()> {
    const SQL: &str = "UPDATE outbox SET next_attempt_at = $2, locked_until = NULL, last_error = $3 WHERE id = $1";
    db_run!(db, pool => sqlx::query(SQL).bind(id).bind(at).bind(error).execute(pool).await.map(|_| ()))
}

pub async fn give_up(db: &Db, id: i64, error: &str) -> sqlx::Result<()> {
    const SQL: &str = "UPDATE outbox SET status = 'failed', locked_until = NULL, last_error = $2 WHERE id = $1";
    db_run!(db, pool => sqlx::query(SQL).bind(id).bind(error).execute(pool).await.map(|_| ()))
}

#[derive(sqlx::FromRow, Debug, serde::Serialize)]
pub struct SentToYou {
    pub subject: String,
    #[sqlx(try_from = "String")]
    pub status: crate::domain::MailStatus,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub sent_at: Option<OffsetDateTime>,
}

/// The emails we hold for an address (for "download my data").
pub async fn for_recipient(db: &Db, to_addr: &str) -> sqlx::Result<Vec<SentToYou>> {
    const SQL: &str = "SELECT subject, status, created_at, sent_at FROM outbox WHERE to_addr = $1 ORDER BY id";
    db_run!(db, pool => sqlx::query_as::<_, SentToYou>(SQL).bind(to_addr).fetch_all(pool).await)
}

/// Has someone proved they read this address: an account's confirmed email, or a confirmed
/// pre-enrollment? Until then, nothing a person typed (a name) goes into mail to it.
pub async fn address_confirmed(tx: &mut Tx, email: &str) -> sqlx::Result<bool> {
    const SQL: &str = "SELECT (SELECT COUNT(*) FROM users WHERE email = $1 AND email_verified_at IS NOT NULL) \
        + (SELECT COUNT(*) FROM preenrollments WHERE email = $1 AND confirmed_at IS NOT NULL)";
    tx_run!(tx, conn => sqlx::query_scalar::<_, i64>(SQL).bind(email).fetch_one(conn).await.map(|n| n > 0))
}

/// Messages of a campaign queued to an address since `since` (throttles for account mail).
pub async fn recent_to(db: &Db, to_addr: &str, campaign_prefix: &str, since: OffsetDateTime) -> sqlx::Result<i64> {
    const SQL: &str = "SELECT COUNT(*) FROM outbox WHERE to_addr = $1 AND campaign LIKE $2 AND created_at > $3";
    db_run!(db, pool => sqlx::query_scalar::<_, i64>(SQL)
        .bind(to_addr)
        .bind(format!("{campaign_prefix}%"))
        .bind(since)
        .fetch_one(pool)
        .await)
}

/// Messages of exactly this campaign queued since `since`, to any address.
pub async fn recent_in(db: &Db, campaign: &str, since: OffsetDateTime) -> sqlx::Result<i64> {
    const SQL: &str = "SELECT COUNT(*) FROM outbox WHERE campaign = $1 AND created_at > $2";
    db_run!(db, pool => sqlx::query_scalar::<_, i64>(SQL).bind(campaign).bind(since).fetch_one(pool).await)
}

/// Forgets the emails sent to an address (account deletion).
pub async fn delete_for_recipient(tx: &mut Tx, to_addr: &str) -> sqlx::Result<()> {
    const SQL: &str = "DELETE FROM outbox WHERE to_addr = $1";
    tx_run!(tx, conn => sqlx::query(SQL).bind(to_addr).execute(conn).await.map(|_| ()))
}

/// How many emails wait to be sent, and when the oldest of them was queued (metrics).
pub async fn pending_summary(db: &Db) -> sqlx::Result<(i64, Option<OffsetDateTime>)> {
    const SQL: &str = "SELECT COUNT(*), MIN(created_at) FROM outbox WHERE status = 'pending'";
    db_run!(db, pool => sqlx::query_as::<_, (i64, Option<OffsetDateTime>)>(SQL).fetch_one(pool).await)
}
