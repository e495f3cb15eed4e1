//! Every SQL statement of launches and program status changes.

use serde::Serialize;
use time::OffsetDateTime;

use crate::db::{Db, Tx};
use crate::{db_run, tx_run};

pub use crate::content::{COURSE_SELECT, CourseRow};

pub async fn course(tx: &mut Tx, slug: &str) -> sqlx::Result<Option<CourseRow>> {
    let sql = format!("{COURSE_SELECT} WHERE slug = $1 AND archived = FALSE");
    tx_run!(tx, conn => sqlx::query_as::<_, CourseRow>(&sql).bind(slug).fetch_optional(conn).await)
}

pub async fn course_by_id(tx: &mut Tx, id: i64) -> sqlx::Result<Option<CourseRow>> {
    let sql = format!("{COURSE_SELECT} WHERE id = $1 AND archived = FALSE");
    tx_run!(tx, conn => sqlx::query_as::<_, CourseRow>(&sql).bind(id).fetch_optional(conn).await)
}

pub use crate::content::studio_store::move_course_status as move_status;

pub async fn insert_launch(
    tx: &mut Tx,
    course_id: i64,
    scheduled_for: OffsetDateTime,
    status: &str,
    by: Option<i64>,
    now: OffsetDateTime,
) -> sqlx::Result<i64> {
    const SQL: &str = "INSERT INTO launches (course_id, scheduled_for, status, created_by, launched_at, created_at) \
        VALUES ($1, $2, $3, $4, CASE WHEN $3 = 'done' THEN $5 END, $5) RETURNING id";
    tx_run!(tx, conn => sqlx::query_scalar::<_, i64>(SQL).bind(course_id).bind(scheduled_for).bind(status)
        .bind(by).bind(now).fetch_one(conn).await)
}

pub async fn set_recipients(tx: &mut Tx, launch_id: i64, n: i64) -> sqlx::Result<()> {
    const SQL: &str = "UPDATE launches SET recipients = $2 WHERE id = $1";
    tx_run!(tx, conn => sqlx::query(SQL).bind(launch_id).bind(n).execute(conn).await.map(|_| ()))
}

/// Cancels a program's pending schedule, if any.
pub async fn cancel_scheduled(tx: &mut Tx, course_id: i64) -> sqlx::Result<bool> {
    const SQL: &str = "UPDATE launches SET status = 'cancelled' WHERE course_id = $1 AND status = 'scheduled'";
    tx_run!(tx, conn => sqlx::query(SQL).bind(course_id).execute(conn).await.map(|r| r.rows_affected() > 0))
}

/// Scheduled launches whose time has come.
pub async fn due(db: &Db, now: OffsetDateTime) -> sqlx::Result<Vec<(i64, i64)>> {
    const SQL: &str =
        "SELECT id, course_id FROM launches WHERE status = 'scheduled' AND scheduled_for <= $1 ORDER BY scheduled_for";
    db_run!(db, pool => sqlx::query_as::<_, (i64, i64)>(SQL).bind(now).fetch_all(pool).await)
}

/// Takes a due launch for this process: only one instance gets true.
pub async fn claim(tx: &mut Tx, launch_id: i64, status: &str, now: OffsetDateTime) -> sqlx::Result<bool> {
    const SQL: &str = "UPDATE launches SET status = $2, launched_at = $3 WHERE id = $1 AND status = 'scheduled'";
    tx_run!(tx, conn => sqlx::query(SQL).bind(launch_id).bind(status).bind(now)
        .execute(conn).await.map(|r| r.rows_affected() == 1))
}

#[derive(sqlx::FromRow, Serialize, Debug, Clone)]
pub struct LaunchRow {
    pub id: i64,
    pub course_id: i64,
    pub course_title: String,
    #[serde(with = "time::serde::rfc3339")]
    pub scheduled_for: OffsetDateTime,
    #[sqlx(try_from = "String")]
    pub status: crate::domain::LaunchStatus,
    #[serde(with = "time::serde::rfc3339::option")]
    pub launched_at: Option<OffsetDateTime>,
    pub recipients: i64,
}

/// Every launch, newest first (scheduled ones included).
pub async fn launches(db: &Db) -> sqlx::Result<Vec<LaunchRow>> {
    const SQL: &str = "SELECT l.id, l.course_id, c.title AS course_title, l.scheduled_for, l.status, l.launched_at, \
        l.recipients FROM launches l JOIN courses c ON c.id = l.course_id ORDER BY l.id DESC";
    db_run!(db, pool => sqlx::query_as::<_, LaunchRow>(SQL).fetch_all(pool).await)
}
