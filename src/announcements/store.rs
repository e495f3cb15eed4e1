//! Every SQL statement of announcements.

use serde::Serialize;
use time::OffsetDateTime;

use super::Draft;
use crate::db::{Db, Tx};
use crate::{db_run, tx_run};

/// Records an announcement; `None` when one with the same form key exists.
pub async fn insert(tx: &mut Tx, d: &Draft, by: Option<i64>, now: OffsetDateTime) -> sqlx::Result<Option<i64>> {
    const SQL: &str = "INSERT INTO announcements (course_id, audience, subject, body_md, form_key, recipients, \
        created_by, created_at) VALUES ($1, $2, $3, $4, $5, 0, $6, $7) ON CONFLICT (form_key) DO NOTHING RETURNING id";
    tx_run!(tx, conn => sqlx::query_scalar::<_, i64>(SQL)
        .bind(d.course_id).bind(d.audience.as_str()).bind(&d.subject).bind(&d.body_md).bind(&d.form_key)
        .bind(by).bind(now).fetch_optional(conn).await)
}

pub async fn id_for_form_key(tx: &mut Tx, key: &str) -> sqlx::Result<i64> {
    const SQL: &str = "SELECT id FROM announcements WHERE form_key = $1";
    tx_run!(tx, conn => sqlx::query_scalar::<_, i64>(SQL).bind(key).fetch_one(conn).await)
}

pub async fn set_recipients(tx: &mut Tx, id: i64, n: i64) -> sqlx::Result<()> {
    const SQL: &str = "UPDATE announcements SET recipients = $2 WHERE id = $1";
    tx_run!(tx, conn => sqlx::query(SQL).bind(id).bind(n).execute(conn).await.map(|_| ()))
}

/// A past announcement with how its emails are doing.
#[derive(sqlx::FromRow, Serialize, Debug, Clone)]
pub struct Past {
    pub id: i64,
    pub course_title: String,
    pub audience: String,
    pub subject: String,
    pub recipients: i64,
    pub sent: i64,
    pub pending: i64,
    pub failed: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

pub async fn past(db: &Db) -> sqlx::Result<Vec<Past>> {
    const SQL: &str = "SELECT a.id, c.title AS course_title, a.audience, a.subject, a.recipients, \
        COUNT(CASE WHEN o.status = 'sent' THEN 1 END) AS sent, \
        COUNT(CASE WHEN o.status = 'pending' THEN 1 END) AS pending, \
        COUNT(CASE WHEN o.status = 'failed' THEN 1 END) AS failed, a.created_at \
        FROM announcements a JOIN courses c ON c.id = a.course_id \
        LEFT JOIN outbox o ON o.campaign = 'announcement:' || CAST(a.id AS TEXT) \
        GROUP BY a.id, c.title, a.audience, a.subject, a.recipients, a.created_at ORDER BY a.id DESC";
    db_run!(db, pool => sqlx::query_as::<_, Past>(SQL).fetch_all(pool).await)
}
