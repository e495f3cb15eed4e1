//! The audit trail: every instructor change (content, status, launch, refund, manual enrollment,
//! announcement) with who and when. Written in the same transaction as the change it records.

use serde::Serialize;
use time::OffsetDateTime;

use crate::accounts::store::User;
use crate::db::{Db, Tx};
use crate::{db_run, tx_run};

/// Who made a change, as the log names them.
pub struct Actor<'a> {
    pub user_id: Option<i64>,
    pub name: &'a str,
}

impl<'a> From<&'a User> for Actor<'a> {
    fn from(user: &'a User) -> Self {
        Actor {
            user_id: Some(user.id),
            name: &user.email,
        }
    }
}

pub async fn record(
    tx: &mut Tx,
    actor: Actor<'_>,
    action: &str,
    subject: &str,
    detail: &str,
    at: OffsetDateTime,
) -> sqlx::Result<()> {
    const SQL: &str = "INSERT INTO audit_log (at, user_id, actor, action, subject, detail, client_ip) \
        VALUES ($1, $2, $3, $4, $5, $6, $7)";
    let detail: String = detail.chars().take(500).collect();
    // The visitor's address behind a trusted proxy; none for jobs and commands.
    let client_ip = crate::request::client().map(|ip| ip.to_string());
    tx_run!(tx, conn => sqlx::query(SQL)
        .bind(at)
        .bind(actor.user_id)
        .bind(actor.name)
        .bind(action)
        .bind(subject)
        .bind(&detail)
        .bind(client_ip)
        .execute(conn)
        .await
        .map(|_| ()))
}

/// Records a change that was committed by code with its own transaction (launch, refund, ...).
pub async fn record_now(
    db: &Db,
    user: &User,
    action: &str,
    subject: &str,
    detail: &str,
    at: OffsetDateTime,
) -> sqlx::Result<()> {
    let mut tx = db.begin().await?;
    record(&mut tx, user.into(), action, subject, detail, at).await?;
    tx.commit().await
}

#[derive(sqlx::FromRow, Serialize, Debug)]
pub struct Entry {
    pub id: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub detail: String,
    pub client_ip: Option<String>,
}

/// The newest entries first; `before` pages back (an id from the last page).
pub async fn recent(db: &Db, limit: i64, before: Option<i64>) -> sqlx::Result<Vec<Entry>> {
    const SQL: &str = "SELECT id, at, actor, action, subject, detail, client_ip FROM audit_log \
        WHERE id < $1 ORDER BY id DESC LIMIT $2";
    let before = before.unwrap_or(i64::MAX);
    db_run!(db, pool => sqlx::query_as::<_, Entry>(SQL).bind(before).bind(limit).fetch_all(pool).await)
}
