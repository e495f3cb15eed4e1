//! Every SQL statement of the studio.

use serde::Serialize;

use crate::db::Db;
use crate::db_run;

#[derive(sqlx::FromRow, Serialize, Debug)]
pub struct ProgramRow {
    pub id: i64,
    pub slug: String,
    pub title: String,
    #[sqlx(try_from = "String")]
    pub status: crate::domain::CourseStatus,
    pub price_cents: i64,
    pub modules: i64,
    pub lessons: i64,
}

pub async fn programs(db: &Db) -> sqlx::Result<Vec<ProgramRow>> {
    const SQL: &str = "SELECT c.id, c.slug, c.title, c.status, c.price_cents, \
        (SELECT COUNT(*) FROM modules m WHERE m.course_id = c.id AND m.archived = FALSE) AS modules, \
        (SELECT COUNT(*) FROM lessons l WHERE l.course_id = c.id AND l.archived = FALSE) AS lessons \
        FROM courses c WHERE c.archived = FALSE ORDER BY c.position, c.slug";
    db_run!(db, pool => sqlx::query_as::<_, ProgramRow>(SQL).fetch_all(pool).await)
}

#[derive(sqlx::FromRow, Serialize, Debug)]
pub struct People {
    pub students: i64,
    pub instructors: i64,
    pub unverified: i64,
}

pub async fn people(db: &Db) -> sqlx::Result<People> {
    const SQL: &str = "SELECT \
        COUNT(CASE WHEN role = 'student' THEN 1 END) AS students, \
        COUNT(CASE WHEN role = 'instructor' THEN 1 END) AS instructors, \
        COUNT(CASE WHEN email_verified_at IS NULL THEN 1 END) AS unverified FROM users";
    db_run!(db, pool => sqlx::query_as::<_, People>(SQL).fetch_one(pool).await)
}

#[derive(sqlx::FromRow, Serialize, Debug)]
pub struct MailCounts {
    pub pending: i64,
    pub sent: i64,
    pub failed: i64,
}

pub async fn mail_counts(db: &Db) -> sqlx::Result<MailCounts> {
    const SQL: &str = "SELECT \
        COUNT(CASE WHEN status = 'pending' THEN 1 END) AS pending, \
        COUNT(CASE WHEN status = 'sent' THEN 1 END) AS sent, \
        COUNT(CASE WHEN status = 'failed' THEN 1 END) AS failed FROM outbox";
    db_run!(db, pool => sqlx::query_as::<_, MailCounts>(SQL).fetch_one(pool).await)
}

pub async fn user_id_by_email(db: &Db, email: &str) -> sqlx::Result<Option<i64>> {
    const SQL: &str = "SELECT id FROM users WHERE email = $1";
    db_run!(db, pool => sqlx::query_scalar::<_, i64>(SQL).bind(email).fetch_optional(pool).await)
}

#[derive(sqlx::FromRow)]
struct CampaignRow {
    campaign: String,
    pending: i64,
    sent: i64,
    failed: i64,
}

/// Email counts for every campaign whose name starts with `prefix` (`launch:`), in one query.
pub async fn campaign_counts(
    db: &Db,
    prefix: &str,
) -> sqlx::Result<std::collections::HashMap<String, crate::mail::store::CampaignCounts>> {
    const SQL: &str = "SELECT campaign, \
        COUNT(CASE WHEN status = 'pending' THEN 1 END) AS pending, \
        COUNT(CASE WHEN status = 'sent' THEN 1 END) AS sent, \
        COUNT(CASE WHEN status = 'failed' THEN 1 END) AS failed \
        FROM outbox WHERE campaign LIKE $1 GROUP BY campaign";
    let pattern = format!("{prefix}%");
    let rows = db_run!(db, pool => sqlx::query_as::<_, CampaignRow>(SQL).bind(&pattern).fetch_all(pool).await)?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let counts = crate::mail::store::CampaignCounts {
                pending: r.pending,
                sent: r.sent,
                failed: r.failed,
            };
            (r.campaign, counts)
        })
        .collect())
}
