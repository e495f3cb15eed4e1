//! Every SQL statement of enrollments.

use serde::Serialize;
use time::OffsetDateTime;

use crate::db::{Db, Tx};
use crate::domain::{CourseId, LessonId, UserId};
use crate::{db_run, tx_run};

/// Grants access (again, if it was revoked). Returns false when it was already active.
pub async fn grant(
    tx: &mut Tx,
    user_id: UserId,
    course_id: CourseId,
    source: &str,
    order_id: Option<i64>,
    now: OffsetDateTime,
) -> sqlx::Result<bool> {
    const SQL: &str = "INSERT INTO enrollments (user_id, course_id, source, order_id, status, created_at, updated_at) \
        VALUES ($1, $2, $3, $4, 'active', $5, $5) ON CONFLICT (user_id, course_id) DO UPDATE SET \
        status = 'active', source = excluded.source, order_id = excluded.order_id, updated_at = excluded.updated_at \
        WHERE enrollments.status = 'revoked'";
    tx_run!(tx, conn => sqlx::query(SQL).bind(user_id).bind(course_id).bind(source).bind(order_id).bind(now)
        .execute(conn).await.map(|r| r.rows_affected() == 1))
}

/// Students with access to a program who still take marketing email (announcement recipients).
#[derive(sqlx::FromRow, Debug, Clone)]
pub struct Student {
    pub email: String,
    pub name: String,
}

pub async fn announcement_recipients(tx: &mut Tx, course_id: i64) -> sqlx::Result<Vec<Student>> {
    const SQL: &str = "SELECT u.email, u.name FROM enrollments e JOIN users u ON u.id = e.user_id \
        WHERE e.course_id = $1 AND e.status = 'active' \
        AND NOT EXISTS (SELECT 1 FROM unsubscribes x WHERE x.email = u.email) ORDER BY u.id";
    tx_run!(tx, conn => sqlx::query_as::<_, Student>(SQL).bind(course_id).fetch_all(conn).await)
}

#[derive(sqlx::FromRow, Serialize, Debug, Clone)]
pub struct Enrolled {
    pub course_id: i64,
    pub slug: String,
    pub title: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// The programs a person may study now.
pub async fn active_for_user(db: &Db, user_id: i64) -> sqlx::Result<Vec<Enrolled>> {
    const SQL: &str = "SELECT c.id AS course_id, c.slug, c.title, e.created_at FROM enrollments e \
        JOIN courses c ON c.id = e.course_id WHERE e.user_id = $1 AND e.status = 'active' AND c.archived = FALSE \
        ORDER BY c.position, c.slug";
    db_run!(db, pool => sqlx::query_as::<_, Enrolled>(SQL).bind(user_id).fetch_all(pool).await)
}

/// How many students each program has (active enrollments).
pub async fn counts(db: &Db) -> sqlx::Result<Vec<(i64, i64)>> {
    const SQL: &str = "SELECT course_id, COUNT(*) FROM enrollments WHERE status = 'active' GROUP BY course_id";
    db_run!(db, pool => sqlx::query_as::<_, (i64, i64)>(SQL).fetch_all(pool).await)
}

/// The programs a person may study now, by id.
pub async fn active_course_ids(db: &Db, user_id: i64) -> sqlx::Result<Vec<i64>> {
    const SQL: &str = "SELECT course_id FROM enrollments WHERE user_id = $1 AND status = 'active'";
    db_run!(db, pool => sqlx::query_scalar::<_, i64>(SQL).bind(user_id).fetch_all(pool).await)
}

/// Serialises changes to one person's seats until `tx` ends, so that two payments for the same
/// program, fulfilled at the same moment, see each other: the second waits, then finds the seat
/// taken. SQLite's write transactions already run one at a time (`BEGIN IMMEDIATE`); PostgreSQL
/// takes a transaction-scoped advisory lock (the two-number key space, apart from the single-number
/// locks of imports and the studio).
pub async fn lock_seats_of(tx: &mut Tx, user_id: i64) -> sqlx::Result<()> {
    const SEATS: i32 = 727_171;
    // Two ids may share a key (ids past 2^31): they then only wait for each other.
    let key = (user_id % i64::from(i32::MAX)) as i32;
    match tx {
        Tx::Sqlite(_) => Ok(()),
        Tx::Postgres(t) => sqlx::query("SELECT pg_advisory_xact_lock($1, $2)")
            .bind(SEATS)
            .bind(key)
            .execute(&mut **t)
            .await
            .map(|_| ()),
    }
}

/// Inside a transaction: does this person have access to this program now?
pub async fn is_active_in(tx: &mut Tx, user_id: UserId, course_id: CourseId) -> sqlx::Result<bool> {
    const SQL: &str = "SELECT COUNT(*) FROM enrollments WHERE user_id = $1 AND course_id = $2 AND status = 'active'";
    tx_run!(tx, conn => sqlx::query_scalar::<_, i64>(SQL).bind(user_id).bind(course_id).fetch_one(conn).await.map(|n| n > 0))
}

/// The order whose payment plan paused this person's seat in this program, if it is paused.
pub async fn paused_order(db: &Db, user_id: UserId, course_id: CourseId) -> sqlx::Result<Option<i64>> {
    const SQL: &str = "SELECT order_id FROM enrollments WHERE user_id = $1 AND course_id = $2 AND status = 'paused' \
        AND order_id IS NOT NULL";
    db_run!(db, pool => sqlx::query_scalar::<_, i64>(SQL).bind(user_id).bind(course_id).fetch_optional(pool).await)
}

/// May this person read this program's lessons?
pub async fn is_active(db: &Db, user_id: UserId, course_id: CourseId) -> sqlx::Result<bool> {
    const SQL: &str = "SELECT COUNT(*) FROM enrollments WHERE user_id = $1 AND course_id = $2 AND status = 'active'";
    db_run!(db, pool => sqlx::query_scalar::<_, i64>(SQL).bind(user_id).bind(course_id).fetch_one(pool).await.map(|n| n > 0))
}

/// The seats these people have in a program: (user id, status), for those who have one.
pub async fn seats_in(
    tx: &mut Tx,
    course_id: i64,
    user_ids: &[i64],
) -> sqlx::Result<Vec<(i64, crate::domain::SeatStatus)>> {
    let mut found = Vec::new();
    for chunk in user_ids.chunks(crate::db::BATCH_ROWS) {
        let sql = format!(
            "SELECT user_id, status FROM enrollments WHERE course_id = $1 AND user_id IN ({})",
            crate::db::values_list(chunk.len(), "{}", 2)
        );
        let rows = tx_run!(&mut *tx, conn => {
            let mut q = sqlx::query_as::<_, (i64, String)>(&sql).bind(course_id);
            for id in chunk {
                q = q.bind(*id);
            }
            q.fetch_all(conn).await
        })?;
        for (user_id, status) in rows {
            let status = crate::domain::SeatStatus::try_from(status).map_err(|e| sqlx::Error::Decode(e.into()))?;
            found.push((user_id, status));
        }
    }
    Ok(found)
}

/// Seats for many people in one program, in batches, each dated (`created_at`: when they
/// enrolled, which drip counts from). A person who has a seat (active or ended) keeps it as it is.
/// Returns how many seats were made.
pub async fn grant_many(
    tx: &mut Tx,
    course_id: i64,
    source: &str,
    seats: &[(i64, OffsetDateTime)],
    now: OffsetDateTime,
) -> sqlx::Result<u64> {
    let mut made = 0;
    for chunk in seats.chunks(crate::db::BATCH_ROWS) {
        let sql = format!(
            "INSERT INTO enrollments (user_id, course_id, source, order_id, status, created_at, updated_at) VALUES {} \
             ON CONFLICT (user_id, course_id) DO NOTHING",
            crate::db::values_list(chunk.len(), "({}, $1, $2, NULL, 'active', {}, $3)", 4)
        );
        made += tx_run!(&mut *tx, conn => {
            let mut q = sqlx::query(&sql).bind(course_id).bind(source).bind(now);
            for (user_id, at) in chunk {
                q = q.bind(*user_id).bind(*at);
            }
            q.execute(conn).await.map(|r| r.rows_affected())
        })?;
    }
    Ok(made)
}

/// Ends the access an order gave (kept as rows, so progress survives a return); a paused seat too.
pub async fn revoke_by_order(tx: &mut Tx, order_id: i64, now: OffsetDateTime) -> sqlx::Result<u64> {
    const SQL: &str = "UPDATE enrollments SET status = 'revoked', updated_at = $2 WHERE order_id = $1 \
        AND status IN ('active', 'paused')";
    tx_run!(tx, conn => sqlx::query(SQL).bind(order_id).bind(now).execute(conn).await.map(|r| r.rows_affected()))
}

/// Pauses (or resumes) the seats a plan order gave: progress is kept.
pub async fn move_by_order(tx: &mut Tx, order_id: i64, from: &str, to: &str, now: OffsetDateTime) -> sqlx::Result<u64> {
    const SQL: &str = "UPDATE enrollments SET status = $3, updated_at = $4 WHERE order_id = $1 AND status = $2";
    tx_run!(tx, conn => sqlx::query(SQL).bind(order_id).bind(from).bind(to).bind(now)
        .execute(conn).await.map(|r| r.rows_affected()))
}

/// Where a student resumes a program: the lesson they opened last.
pub async fn set_reading_position(
    tx: &mut Tx,
    user_id: UserId,
    course_id: CourseId,
    lesson_id: LessonId,
) -> sqlx::Result<()> {
    const SQL: &str = "UPDATE enrollments SET last_lesson_id = $3 WHERE user_id = $1 AND course_id = $2";
    tx_run!(tx, conn => sqlx::query(SQL).bind(user_id).bind(course_id).bind(lesson_id).execute(conn).await.map(|_| ()))
}

/// A lesson (or every lesson of a module) is being deleted: nobody resumes there any more.
pub async fn forget_reading_position(tx: &mut Tx, gone: Gone) -> sqlx::Result<()> {
    let (sql, id) = match gone {
        Gone::Lesson(id) => (
            "UPDATE enrollments SET last_lesson_id = NULL WHERE last_lesson_id = $1",
            id,
        ),
        Gone::Module(id) => (
            "UPDATE enrollments SET last_lesson_id = NULL \
             WHERE last_lesson_id IN (SELECT id FROM lessons WHERE module_id = $1)",
            id,
        ),
    };
    tx_run!(tx, conn => sqlx::query(sql).bind(id).execute(conn).await.map(|_| ()))
}

/// What is being deleted, for [`forget_reading_position`].
#[derive(Clone, Copy, Debug)]
pub enum Gone {
    Lesson(i64),
    Module(i64),
}
