//! Every SQL statement of learning: progress, resume points, completions, drip notices.

use serde::Serialize;
use time::OffsetDateTime;

use crate::accounts::store::User;
use crate::db::reads::time_at;
use crate::db::{Db, Reads, Tx};
use crate::domain::{CourseId, LessonId, ModuleId, UserId};
use crate::{db_run, tx_run};

/// A student's enrollment in one program, if active: when it started and where they were.
#[derive(sqlx::FromRow, Debug, Clone)]
pub struct Seat {
    pub created_at: OffsetDateTime,
    pub last_lesson_id: Option<i64>,
}

pub async fn seat(db: &Db, user_id: UserId, course_id: CourseId) -> sqlx::Result<Option<Seat>> {
    const SQL: &str = "SELECT created_at, last_lesson_id FROM enrollments \
        WHERE user_id = $1 AND course_id = $2 AND status = 'active'";
    db_run!(db, pool => sqlx::query_as::<_, Seat>(SQL).bind(user_id).bind(course_id).fetch_optional(pool).await)
}

/// A student's seat in a program (if active) and the lessons they completed there.
pub type SeatAndDone = (Seat, Vec<i64>);

/// What the lesson page asks of the reader's row beside their seat: whether they confirmed this
/// version of the program's health acknowledgement, and their note on this lesson.
#[derive(Clone, Copy, Default)]
pub struct LessonAsk<'a> {
    pub ack_version: &'a str,
    pub lesson_id: i64,
}

/// The reader's row: who they are, their seat, and what [`LessonAsk`] asked.
pub struct ReaderRow {
    pub user: User,
    pub seat: Option<SeatAndDone>,
    pub acknowledged: bool,
    pub note: Option<String>,
}

#[derive(sqlx::FromRow, PartialEq, Debug)]
struct UserSeatRow {
    #[sqlx(flatten)]
    user: User,
    seat_created_at: Option<OffsetDateTime>,
    last_lesson_id: Option<i64>,
    /// The completed lessons' ids, comma-separated (`string_agg` exists in both backends).
    done: Option<String>,
    acknowledged: bool,
    note: Option<String>,
}

/// The lesson page's only query for a signed-in visitor, as one row: who they are, their seat in
/// the program, the lessons they completed there, whether they confirmed the acknowledgement's
/// current version and their note on the lesson. `None` when the account is gone.
pub async fn user_and_seat(
    reads: &Reads,
    user_id: UserId,
    course_id: CourseId,
    ask: LessonAsk<'_>,
) -> sqlx::Result<Option<ReaderRow>> {
    const SQL: &str = "SELECT u.id, u.email, u.name, u.role, u.email_verified_at, u.session_epoch, u.created_at, \
            e.created_at AS seat_created_at, e.last_lesson_id, \
            (SELECT string_agg(CAST(p.lesson_id AS TEXT), ',') FROM lesson_progress p \
              WHERE p.user_id = u.id AND p.course_id = $2 AND p.completed_at IS NOT NULL) AS done, \
            EXISTS (SELECT 1 FROM acknowledgements a \
              WHERE a.user_id = u.id AND a.course_id = $2 AND a.version = $3) AS acknowledged, \
            (SELECT n.body FROM lesson_notes n WHERE n.user_id = u.id AND n.lesson_id = $4) AS note \
        FROM users u \
        LEFT JOIN enrollments e ON e.user_id = u.id AND e.course_id = $2 AND e.status = 'active' \
        WHERE u.id = $1";
    let here = |conn: &rusqlite::Connection| {
        use rusqlite::OptionalExtension;
        let params = rusqlite::named_params! {
            "$1": user_id.0, "$2": course_id.0, "$3": ask.ack_version, "$4": ask.lesson_id,
        };
        conn.prepare_cached(SQL)?
            .query_row(params, |r| {
                Ok(UserSeatRow {
                    user: User::from_here(r, 0)?,
                    seat_created_at: time_at(r, 7)?,
                    last_lesson_id: r.get(8)?,
                    done: r.get(9)?,
                    acknowledged: r.get(10)?,
                    note: r.get(11)?,
                })
            })
            .optional()
    };
    let through_pool = || async {
        db_run!(reads.db(), pool => sqlx::query_as::<_, UserSeatRow>(SQL)
            .bind(user_id).bind(course_id).bind(ask.ack_version).bind(ask.lesson_id).fetch_optional(pool).await)
    };
    let row = reads.read(here, through_pool).await?;
    Ok(row.map(|r| {
        let seat = r.seat_created_at.map(|created_at| {
            (
                Seat {
                    created_at,
                    last_lesson_id: r.last_lesson_id,
                },
                ids(r.done.as_deref()),
            )
        });
        ReaderRow {
            user: r.user,
            seat,
            acknowledged: r.acknowledged,
            note: r.note,
        }
    }))
}

/// Ids from a comma-separated `string_agg`.
fn ids(list: Option<&str>) -> Vec<i64> {
    list.unwrap_or_default()
        .split(',')
        .filter_map(|id| id.parse().ok())
        .collect()
}

#[derive(sqlx::FromRow, PartialEq, Debug)]
struct StandingRow {
    #[sqlx(flatten)]
    user: User,
    /// None: the student has no program to show (the one row says who they are).
    course_id: Option<i64>,
    seat_created_at: Option<OffsetDateTime>,
    last_lesson_id: Option<i64>,
    done: Option<String>,
    certificate: Option<String>,
    paused_order: Option<i64>,
    checkins: Option<bool>,
    slug: Option<String>,
    title: Option<String>,
    status: Option<String>,
    position: Option<i64>,
    listed: Option<bool>,
}

/// Where a student stands in a program they study now, finished once, or had paused by a failed
/// plan payment: their active seat (if any), the lessons they completed, their certificate.
pub struct Standing {
    pub course_id: i64,
    pub seat: Option<Seat>,
    pub done: Vec<i64>,
    pub certificate: Option<String>,
    /// Their seat is paused by a failed payment of this plan order.
    pub paused_order: Option<i64>,
    /// The program offers check-ins.
    pub checkins: bool,
    /// Their confirmed address is on the program's pre-enrollment list (the program as listed).
    pub listed: Option<crate::preenroll::store::OnList>,
    /// The program's place in the catalogue.
    pub position: (i64, String),
}

/// The dashboard's one query: who the student is, and a row per program they have an active seat
/// in, a certificate of, a seat paused by a plan payment, or (once their address is confirmed: the
/// list entry belongs to whoever owns the address) a confirmed place on the pre-enrollment list
/// of. `None` when the account is gone. Through [`Reads`]: on SQLite, no hand-off.
pub async fn standings(reads: &Reads, user_id: UserId) -> sqlx::Result<Option<(User, Vec<Standing>)>> {
    const SQL: &str = "SELECT u.id, u.email, u.name, u.role, u.email_verified_at, u.session_epoch, u.created_at, \
            s.course_id, s.seat_created_at, s.last_lesson_id, s.done, s.certificate, s.paused_order, s.checkins, \
            s.slug, s.title, s.status, s.position, s.listed \
        FROM users u LEFT JOIN (SELECT c.id AS course_id, \
            CASE WHEN e.status = 'active' THEN e.created_at END AS seat_created_at, \
            CASE WHEN e.status = 'active' THEN e.last_lesson_id END AS last_lesson_id, \
            (SELECT string_agg(CAST(p.lesson_id AS TEXT), ',') FROM lesson_progress p \
              WHERE p.user_id = $1 AND p.course_id = c.id AND p.completed_at IS NOT NULL) AS done, \
            (SELECT k.code FROM completions k WHERE k.user_id = $1 AND k.course_id = c.id) AS certificate, \
            CASE WHEN e.status = 'paused' THEN e.order_id END AS paused_order, \
            EXISTS (SELECT 1 FROM checkin_definitions d WHERE d.course_id = c.id AND d.archived = FALSE) AS checkins, \
            c.slug, c.title, c.status, c.position, \
            (c.archived = FALSE AND EXISTS (SELECT 1 FROM preenrollment_courses pc \
              JOIN preenrollments l ON l.id = pc.preenrollment_id \
              WHERE pc.course_id = c.id AND l.email = (SELECT x.email FROM users x \
                WHERE x.id = $1 AND x.email_verified_at IS NOT NULL) AND pc.confirmed_at IS NOT NULL)) AS listed \
          FROM courses c \
          LEFT JOIN enrollments e ON e.course_id = c.id AND e.user_id = $1 \
            AND (e.status = 'active' OR (e.status = 'paused' AND e.order_id IS NOT NULL)) \
          WHERE e.user_id IS NOT NULL OR EXISTS (SELECT 1 FROM completions k WHERE k.user_id = $1 AND k.course_id = c.id) \
            OR (c.archived = FALSE AND EXISTS (SELECT 1 FROM preenrollment_courses pc \
              JOIN preenrollments l ON l.id = pc.preenrollment_id \
              WHERE pc.course_id = c.id AND l.email = (SELECT x.email FROM users x \
                WHERE x.id = $1 AND x.email_verified_at IS NOT NULL) AND pc.confirmed_at IS NOT NULL))) s ON TRUE \
        WHERE u.id = $1 \
        ORDER BY s.course_id";
    let here = |conn: &rusqlite::Connection| {
        let mut statement = conn.prepare_cached(SQL)?;
        let rows = statement.query_map(rusqlite::named_params! { "$1": user_id.0 }, |r| {
            Ok(StandingRow {
                user: User::from_here(r, 0)?,
                course_id: r.get(7)?,
                seat_created_at: time_at(r, 8)?,
                last_lesson_id: r.get(9)?,
                done: r.get(10)?,
                certificate: r.get(11)?,
                paused_order: r.get(12)?,
                checkins: r.get(13)?,
                slug: r.get(14)?,
                title: r.get(15)?,
                status: r.get(16)?,
                position: r.get(17)?,
                listed: r.get(18)?,
            })
        })?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
    };
    let through_pool = || async {
        db_run!(reads.db(), pool => sqlx::query_as::<_, StandingRow>(SQL).bind(user_id).fetch_all(pool).await)
    };
    let rows = reads.read(here, through_pool).await?;
    let Some(user) = rows.first().map(|r| r.user.clone()) else {
        return Ok(None);
    };
    let standings = rows
        .into_iter()
        .filter_map(|r| {
            let course_id = r.course_id?;
            let slug = r.slug.unwrap_or_default();
            let listed = match r.listed {
                Some(true) => Some(crate::preenroll::store::OnList {
                    slug: slug.clone(),
                    title: r.title.unwrap_or_default(),
                    status: match r.status.unwrap_or_default().try_into() {
                        Ok(status) => status,
                        Err(e) => return Some(Err(sqlx::Error::Decode(e.into()))),
                    },
                    confirmed: true,
                }),
                _ => None,
            };
            Some(Ok(Standing {
                course_id,
                seat: r.seat_created_at.map(|created_at| Seat {
                    created_at,
                    last_lesson_id: r.last_lesson_id,
                }),
                done: ids(r.done.as_deref()),
                certificate: r.certificate,
                paused_order: r.paused_order,
                checkins: r.checkins.unwrap_or(false),
                listed,
                position: (r.position.unwrap_or_default(), slug),
            }))
        })
        .collect::<sqlx::Result<Vec<_>>>()?;
    Ok(Some((user, standings)))
}

// ---- the health acknowledgement ----------------------------------------------------------------

/// Records a confirmation (again confirming the same version changes nothing).
pub async fn acknowledge(
    db: &Db,
    user_id: UserId,
    course_id: CourseId,
    version: &str,
    text: &str,
    now: OffsetDateTime,
) -> sqlx::Result<()> {
    const SQL: &str = "INSERT INTO acknowledgements (user_id, course_id, version, text_snapshot, acknowledged_at) \
        VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id, course_id, version) DO NOTHING";
    db_run!(db, pool => sqlx::query(SQL).bind(user_id).bind(course_id).bind(version).bind(text).bind(now)
        .execute(pool).await.map(|_| ()))
}

/// One confirmation, as the studio lists them.
#[derive(sqlx::FromRow, Serialize, Debug)]
pub struct Acknowledged {
    pub name: String,
    pub email: String,
    pub version: String,
    #[serde(with = "time::serde::rfc3339")]
    pub acknowledged_at: OffsetDateTime,
}

/// Who confirmed which version of a program's acknowledgement, newest first.
pub async fn acknowledgements_of_course(db: &Db, course_id: i64) -> sqlx::Result<Vec<Acknowledged>> {
    const SQL: &str = "SELECT u.name, u.email, a.version, a.acknowledged_at FROM acknowledgements a \
        JOIN users u ON u.id = a.user_id WHERE a.course_id = $1 ORDER BY a.acknowledged_at DESC, u.name";
    db_run!(db, pool => sqlx::query_as::<_, Acknowledged>(SQL).bind(course_id).fetch_all(pool).await)
}

/// A student's confirmation, for their export.
#[derive(sqlx::FromRow, Serialize, Debug)]
pub struct OwnAcknowledgement {
    pub program: String,
    pub version: String,
    pub text_snapshot: String,
    #[serde(with = "time::serde::rfc3339")]
    pub acknowledged_at: OffsetDateTime,
}

pub async fn acknowledgements_of_user(db: &Db, user_id: i64) -> sqlx::Result<Vec<OwnAcknowledgement>> {
    const SQL: &str = "SELECT c.title AS program, a.version, a.text_snapshot, a.acknowledged_at \
        FROM acknowledgements a JOIN courses c ON c.id = a.course_id WHERE a.user_id = $1 \
        ORDER BY a.acknowledged_at";
    db_run!(db, pool => sqlx::query_as::<_, OwnAcknowledgement>(SQL).bind(user_id).fetch_all(pool).await)
}

/// Account deletion: the student's confirmations and notes.
pub async fn delete_personal(tx: &mut Tx, user_id: i64) -> sqlx::Result<()> {
    tx_run!(tx, conn => {
        sqlx::query("DELETE FROM acknowledgements WHERE user_id = $1").bind(user_id).execute(&mut *conn).await?;
        sqlx::query("DELETE FROM lesson_notes WHERE user_id = $1").bind(user_id).execute(&mut *conn).await.map(|_| ())
    })
}

/// The student's certificate code for a program, if they finished it.
pub async fn certificate_for(db: &Db, user_id: UserId, course_id: CourseId) -> sqlx::Result<Option<String>> {
    const SQL: &str = "SELECT code FROM completions WHERE user_id = $1 AND course_id = $2";
    db_run!(db, pool => sqlx::query_scalar::<_, String>(SQL).bind(user_id).bind(course_id).fetch_optional(pool).await)
}

/// The lessons a student completed in a program (ids).
pub async fn completed_in(db: &Db, user_id: UserId, course_id: CourseId) -> sqlx::Result<Vec<i64>> {
    const SQL: &str = "SELECT lesson_id FROM lesson_progress \
        WHERE user_id = $1 AND course_id = $2 AND completed_at IS NOT NULL";
    db_run!(db, pool => sqlx::query_scalar::<_, i64>(SQL).bind(user_id).bind(course_id).fetch_all(pool).await)
}

/// Opening a lesson: first and last opened times, and the program's resume point.
pub async fn record_open(
    db: &Db,
    user_id: UserId,
    course_id: CourseId,
    lesson_id: LessonId,
    now: OffsetDateTime,
) -> sqlx::Result<()> {
    const SQL: &str = "INSERT INTO lesson_progress (user_id, lesson_id, course_id, first_opened_at, last_opened_at) \
        VALUES ($1, $2, $3, $4, $4) ON CONFLICT (user_id, lesson_id) DO UPDATE SET last_opened_at = excluded.last_opened_at";
    let mut tx = db.begin().await?;
    tx_run!(&mut tx, conn => sqlx::query(SQL)
        .bind(user_id).bind(lesson_id).bind(course_id).bind(now).execute(conn).await.map(|_| ()))?;
    crate::enrollment::store::set_reading_position(&mut tx, user_id, course_id, lesson_id).await?;
    tx.commit().await
}

/// Marks a lesson complete (or not). Returns whether anything changed.
pub async fn set_complete(
    tx: &mut Tx,
    user_id: UserId,
    course_id: CourseId,
    lesson_id: LessonId,
    done: bool,
    now: OffsetDateTime,
) -> sqlx::Result<bool> {
    const DONE: &str = "INSERT INTO lesson_progress (user_id, lesson_id, course_id, first_opened_at, last_opened_at, \
        completed_at) VALUES ($1, $2, $3, $4, $4, $4) ON CONFLICT (user_id, lesson_id) DO UPDATE SET \
        completed_at = excluded.completed_at WHERE lesson_progress.completed_at IS NULL";
    const UNDONE: &str = "UPDATE lesson_progress SET completed_at = NULL \
        WHERE user_id = $1 AND lesson_id = $2 AND course_id = $3 AND completed_at IS NOT NULL";
    tx_run!(tx, conn => {
        let q = if done {
            sqlx::query(DONE).bind(user_id).bind(lesson_id).bind(course_id).bind(now)
        } else {
            sqlx::query(UNDONE).bind(user_id).bind(lesson_id).bind(course_id)
        };
        q.execute(conn).await.map(|r| r.rows_affected() == 1)
    })
}

/// How many of these lessons the student has completed (inside the transaction).
pub async fn count_completed(tx: &mut Tx, user_id: i64, lesson_ids: &[i64]) -> sqlx::Result<i64> {
    // The ids come from the catalogue (integers), never from input.
    let list = lesson_ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    if list.is_empty() {
        return Ok(0);
    }
    let sql = format!(
        "SELECT COUNT(*) FROM lesson_progress WHERE user_id = $1 AND completed_at IS NOT NULL AND lesson_id IN ({list})"
    );
    tx_run!(tx, conn => sqlx::query_scalar::<_, i64>(&sql).bind(user_id).fetch_one(conn).await)
}

/// Records a finished program once; returns the certificate code.
pub async fn complete_course(
    tx: &mut Tx,
    user_id: UserId,
    course_id: CourseId,
    code: &str,
    now: OffsetDateTime,
) -> sqlx::Result<String> {
    tx_run!(tx, conn => {
        sqlx::query("INSERT INTO completions (user_id, course_id, code, completed_at) VALUES ($1, $2, $3, $4) \
            ON CONFLICT (user_id, course_id) DO NOTHING")
            .bind(user_id).bind(course_id).bind(code).bind(now).execute(&mut *conn).await?;
        sqlx::query_scalar::<_, String>("SELECT code FROM completions WHERE user_id = $1 AND course_id = $2")
            .bind(user_id).bind(course_id).fetch_one(&mut *conn).await
    })
}

#[derive(sqlx::FromRow, Serialize, Debug, Clone)]
pub struct Certificate {
    pub name: String,
    pub course_title: String,
    pub course_slug: String,
    #[serde(with = "time::serde::rfc3339")]
    pub completed_at: OffsetDateTime,
    pub user_id: i64,
}

pub async fn certificate(db: &Db, code: &str) -> sqlx::Result<Option<Certificate>> {
    const SQL: &str = "SELECT u.name, c.title AS course_title, c.slug AS course_slug, k.completed_at, k.user_id \
        FROM completions k JOIN users u ON u.id = k.user_id JOIN courses c ON c.id = k.course_id WHERE k.code = $1";
    db_run!(db, pool => sqlx::query_as::<_, Certificate>(SQL).bind(code).fetch_optional(pool).await)
}

// ---- the instructor's view ------------------------------------------------------------------------

#[derive(sqlx::FromRow, Serialize, Debug, Clone)]
pub struct StudentRow {
    pub user_id: i64,
    pub name: String,
    pub email: String,
    #[serde(with = "time::serde::rfc3339")]
    pub enrolled_at: OffsetDateTime,
    pub last_lesson_id: Option<i64>,
    pub done: i64,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_activity: Option<OffsetDateTime>,
}

/// A program's students with how far they are (one query).
pub async fn students(db: &Db, course_id: i64) -> sqlx::Result<Vec<StudentRow>> {
    const SQL: &str = "SELECT u.id AS user_id, u.name, u.email, e.created_at AS enrolled_at, e.last_lesson_id, \
        COUNT(CASE WHEN p.completed_at IS NOT NULL AND l.archived = FALSE THEN 1 END) AS done, \
        MAX(CASE WHEN p.completed_at IS NOT NULL AND p.completed_at > p.last_opened_at THEN p.completed_at \
            ELSE p.last_opened_at END) AS last_activity \
        FROM enrollments e JOIN users u ON u.id = e.user_id \
        LEFT JOIN lesson_progress p ON p.user_id = e.user_id AND p.course_id = e.course_id \
        LEFT JOIN lessons l ON l.id = p.lesson_id \
        WHERE e.course_id = $1 AND e.status = 'active' \
        GROUP BY u.id, u.name, u.email, e.created_at, e.last_lesson_id ORDER BY u.name, u.id";
    db_run!(db, pool => sqlx::query_as::<_, StudentRow>(SQL).bind(course_id).fetch_all(pool).await)
}

/// How many students completed each lesson of a program: (lesson id, count).
pub async fn completions_per_lesson(db: &Db, course_id: i64) -> sqlx::Result<Vec<(i64, i64)>> {
    const SQL: &str = "SELECT p.lesson_id, COUNT(*) FROM lesson_progress p \
        JOIN enrollments e ON e.user_id = p.user_id AND e.course_id = p.course_id AND e.status = 'active' \
        WHERE p.course_id = $1 AND p.completed_at IS NOT NULL GROUP BY p.lesson_id";
    db_run!(db, pool => sqlx::query_as::<_, (i64, i64)>(SQL).bind(course_id).fetch_all(pool).await)
}

// ---- drip notices ---------------------------------------------------------------------------------

#[derive(sqlx::FromRow, Debug, Clone)]
pub struct DripCandidate {
    pub user_id: i64,
    pub email: String,
    pub name: String,
    pub enrolled_at: OffsetDateTime,
    pub module_id: i64,
    pub course_id: i64,
}

/// Active students and the drip modules of their programs they have not been told about yet.
pub async fn drip_candidates(db: &Db) -> sqlx::Result<Vec<DripCandidate>> {
    const SQL: &str = "SELECT e.user_id, u.email, u.name, e.created_at AS enrolled_at, m.id AS module_id, \
        m.course_id FROM enrollments e JOIN users u ON u.id = e.user_id \
        JOIN modules m ON m.course_id = e.course_id AND m.archived = FALSE \
            AND (m.unlock_after_days IS NOT NULL OR m.unlock_on IS NOT NULL) \
        WHERE e.status = 'active' AND NOT EXISTS \
            (SELECT 1 FROM module_unlock_notices n WHERE n.user_id = e.user_id AND n.module_id = m.id)";
    db_run!(db, pool => sqlx::query_as::<_, DripCandidate>(SQL).fetch_all(pool).await)
}

/// Notes that a student was told (or needs no telling) about a module; false if already noted.
pub async fn note_unlock(tx: &mut Tx, user_id: UserId, module_id: ModuleId, now: OffsetDateTime) -> sqlx::Result<bool> {
    const SQL: &str = "INSERT INTO module_unlock_notices (user_id, module_id, sent_at) VALUES ($1, $2, $3) \
        ON CONFLICT (user_id, module_id) DO NOTHING";
    tx_run!(tx, conn => sqlx::query(SQL).bind(user_id).bind(module_id).bind(now)
        .execute(conn).await.map(|r| r.rows_affected() == 1))
}

/// The folder under CONTENT_DIR that holds a program's downloads.
pub async fn files_dir(db: &Db, course_id: i64) -> sqlx::Result<Option<String>> {
    const SQL: &str = "SELECT COALESCE(files_dir, slug) FROM courses WHERE id = $1";
    db_run!(db, pool => sqlx::query_scalar::<_, String>(SQL).bind(course_id).fetch_optional(pool).await)
}

// ---- private lesson notes -----------------------------------------------------------------------

pub async fn save_note(
    db: &Db,
    user_id: UserId,
    course_id: CourseId,
    lesson_id: LessonId,
    body: &str,
    now: OffsetDateTime,
) -> sqlx::Result<()> {
    const SQL: &str = "INSERT INTO lesson_notes (user_id, lesson_id, course_id, body, updated_at) \
        VALUES ($1, $2, $3, $4, $5) \
        ON CONFLICT (user_id, lesson_id) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at";
    db_run!(db, pool => sqlx::query(SQL).bind(user_id).bind(lesson_id).bind(course_id).bind(body).bind(now)
        .execute(pool).await.map(|_| ()))
}

pub async fn delete_note(db: &Db, user_id: UserId, lesson_id: LessonId) -> sqlx::Result<()> {
    const SQL: &str = "DELETE FROM lesson_notes WHERE user_id = $1 AND lesson_id = $2";
    db_run!(db, pool => sqlx::query(SQL).bind(user_id).bind(lesson_id).execute(pool).await.map(|_| ()))
}

#[derive(sqlx::FromRow, Debug)]
pub struct Note {
    pub lesson_id: i64,
    pub body: String,
    pub updated_at: OffsetDateTime,
}

/// A student's notes in one program.
pub async fn notes_in(db: &Db, user_id: UserId, course_id: CourseId) -> sqlx::Result<Vec<Note>> {
    const SQL: &str = "SELECT lesson_id, body, updated_at FROM lesson_notes WHERE user_id = $1 AND course_id = $2";
    db_run!(db, pool => sqlx::query_as::<_, Note>(SQL).bind(user_id).bind(course_id).fetch_all(pool).await)
}

/// A student's note, for their export.
#[derive(sqlx::FromRow, Serialize, Debug)]
pub struct OwnNote {
    pub program: String,
    pub lesson: String,
    pub body: String,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

pub async fn notes_of_user(db: &Db, user_id: i64) -> sqlx::Result<Vec<OwnNote>> {
    const SQL: &str = "SELECT c.title AS program, l.title AS lesson, n.body, n.updated_at FROM lesson_notes n \
        JOIN courses c ON c.id = n.course_id JOIN lessons l ON l.id = n.lesson_id \
        WHERE n.user_id = $1 ORDER BY c.id, l.id";
    db_run!(db, pool => sqlx::query_as::<_, OwnNote>(SQL).bind(user_id).fetch_all(pool).await)
}

/// Marks many (user, lesson) pairs of one program complete, in batches; a lesson already complete
/// keeps its time. Returns how many were marked now.
pub async fn complete_many(tx: &mut Tx, course_id: i64, done: &[(i64, i64)], now: OffsetDateTime) -> sqlx::Result<u64> {
    let mut marked = 0;
    for chunk in done.chunks(crate::db::BATCH_ROWS) {
        let sql = format!(
            "INSERT INTO lesson_progress (user_id, lesson_id, course_id, first_opened_at, last_opened_at, completed_at) \
             VALUES {} ON CONFLICT (user_id, lesson_id) DO UPDATE SET completed_at = excluded.completed_at \
             WHERE lesson_progress.completed_at IS NULL",
            crate::db::values_list(chunk.len(), "({}, {}, $1, $2, $2, $2)", 3)
        );
        marked += tx_run!(&mut *tx, conn => {
            let mut q = sqlx::query(&sql).bind(course_id).bind(now);
            for (user_id, lesson_id) in chunk {
                q = q.bind(*user_id).bind(*lesson_id);
            }
            q.execute(conn).await.map(|r| r.rows_affected())
        })?;
    }
    Ok(marked)
}

/// Notes many (user, module) pairs as told "the module is open" without an email (modules already
/// open when a backdated seat was made: the drip job must not announce them).
pub async fn note_unlocks_many(tx: &mut Tx, notes: &[(i64, i64)], now: OffsetDateTime) -> sqlx::Result<()> {
    for chunk in notes.chunks(crate::db::BATCH_ROWS) {
        let sql = format!(
            "INSERT INTO module_unlock_notices (user_id, module_id, sent_at) VALUES {} \
             ON CONFLICT (user_id, module_id) DO NOTHING",
            crate::db::values_list(chunk.len(), "({}, {}, $1)", 2)
        );
        tx_run!(&mut *tx, conn => {
            let mut q = sqlx::query(&sql).bind(now);
            for (user_id, module_id) in chunk {
                q = q.bind(*user_id).bind(*module_id);
            }
            q.execute(conn).await.map(|_| ())
        })?;
    }
    Ok(())
}

/// A module is being deleted: the notes of whom it was announced to go with it.
pub async fn forget_unlock_notices(tx: &mut Tx, module_id: i64) -> sqlx::Result<()> {
    const SQL: &str = "DELETE FROM module_unlock_notices WHERE module_id = $1";
    tx_run!(tx, conn => sqlx::query(SQL).bind(module_id).execute(conn).await.map(|_| ()))
}
