//! Every SQL statement of knowledge checks: `quizzes` (written by the content import through
//! [`sync`]), `quiz_attempts` and `quiz_passes`.

use serde::Serialize;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::{Marked, Quiz};
use crate::db::{Db, Tx};
use crate::{db_run, tx_run};

#[derive(sqlx::FromRow)]
struct QuizRow {
    module_id: i64,
    required: bool,
    questions: String,
}

fn quiz_of(row: QuizRow) -> sqlx::Result<(i64, Quiz)> {
    Ok((
        row.module_id,
        Quiz {
            required: row.required,
            questions: crate::db::json_column(&row.questions, "quizzes.questions")?,
        },
    ))
}

/// Every quiz that is not archived, by module id (the catalogue keeps those of visible modules).
pub async fn live(db: &Db) -> sqlx::Result<Vec<(i64, Quiz)>> {
    const SQL: &str = "SELECT module_id, required, questions FROM quizzes WHERE archived_at IS NULL";
    let rows = db_run!(db, pool => sqlx::query_as::<_, QuizRow>(SQL).fetch_all(pool).await)?;
    rows.into_iter().map(quiz_of).collect()
}

/// A program's quizzes that are not archived, for the export.
pub async fn live_in_course(tx: &mut Tx, course_id: i64) -> sqlx::Result<Vec<(i64, Quiz)>> {
    const SQL: &str = "SELECT module_id, required, questions FROM quizzes WHERE course_id = $1 AND archived_at IS NULL";
    let rows = tx_run!(tx, conn => sqlx::query_as::<_, QuizRow>(SQL).bind(course_id).fetch_all(conn).await)?;
    rows.into_iter().map(quiz_of).collect()
}

/// What an import did to a module's quiz.
#[derive(Debug, PartialEq, Eq)]
pub enum Synced {
    /// No quiz before or after.
    Nothing,
    Unchanged,
    Added,
    Changed,
    Archived,
}

fn hash(quiz: &Quiz) -> String {
    let json = serde_json::to_vec(quiz).unwrap_or_default();
    Sha256::digest(&json).iter().map(|b| format!("{b:02x}")).collect()
}

/// The content import, inside its transaction: the module's quiz becomes `quiz` (none: a quiz
/// it had is archived, with its attempts kept). Importing the same files again changes nothing.
pub async fn sync(
    tx: &mut Tx,
    course_id: i64,
    module_id: i64,
    quiz: Option<&Quiz>,
    now: OffsetDateTime,
) -> sqlx::Result<Synced> {
    const EXISTING: &str = "SELECT source_hash, archived_at FROM quizzes WHERE module_id = $1";
    let existing: Option<(String, Option<OffsetDateTime>)> = tx_run!(tx, conn => sqlx::query_as(EXISTING)
        .bind(module_id).fetch_optional(conn).await)?;
    match (quiz, existing) {
        (None, None) => Ok(Synced::Nothing),
        (None, Some((_, Some(_)))) => Ok(Synced::Nothing),
        (None, Some((_, None))) => {
            const SQL: &str = "UPDATE quizzes SET archived_at = $2, updated_at = $2 WHERE module_id = $1";
            tx_run!(tx, conn => sqlx::query(SQL).bind(module_id).bind(now).execute(conn).await.map(|_| ()))?;
            Ok(Synced::Archived)
        }
        (Some(quiz), existing) => {
            let new_hash = hash(quiz);
            if let Some((old_hash, None)) = &existing
                && *old_hash == new_hash
            {
                return Ok(Synced::Unchanged);
            }
            let questions = serde_json::to_string(&quiz.questions).map_err(|e| sqlx::Error::Encode(e.into()))?;
            const SQL: &str = "INSERT INTO quizzes (module_id, course_id, required, questions, source_hash, archived_at, updated_at) \
                VALUES ($1, $2, $3, $4, $5, NULL, $6) \
                ON CONFLICT (module_id) DO UPDATE SET course_id = excluded.course_id, required = excluded.required, \
                questions = excluded.questions, source_hash = excluded.source_hash, archived_at = NULL, \
                updated_at = excluded.updated_at";
            tx_run!(tx, conn => sqlx::query(SQL).bind(module_id).bind(course_id).bind(quiz.required)
                .bind(&questions).bind(&new_hash).bind(now).execute(conn).await.map(|_| ()))?;
            Ok(if existing.is_some() {
                Synced::Changed
            } else {
                Synced::Added
            })
        }
    }
}

/// Records one submitted attempt (its number is the next of this student's for the module), and
/// the pass when every answer is right. Returns the attempt's number.
pub async fn record_attempt(
    tx: &mut Tx,
    user_id: i64,
    module_id: i64,
    marked: &[Marked],
    now: OffsetDateTime,
) -> sqlx::Result<i64> {
    const NEXT: &str = "SELECT COALESCE(MAX(attempt), 0) + 1 FROM quiz_attempts WHERE user_id = $1 AND module_id = $2";
    const INSERT: &str = "INSERT INTO quiz_attempts (user_id, module_id, attempt, question_id, chosen, correct, created_at) \
        VALUES ($1, $2, $3, $4, $5, $6, $7)";
    const PASS: &str = "INSERT INTO quiz_passes (user_id, module_id, attempt, passed_at) VALUES ($1, $2, $3, $4) \
        ON CONFLICT (user_id, module_id) DO NOTHING";
    let attempt: i64 =
        tx_run!(tx, conn => sqlx::query_scalar(NEXT).bind(user_id).bind(module_id).fetch_one(conn).await)?;
    for m in marked {
        let chosen = serde_json::to_string(&m.chosen).unwrap_or_else(|_| "[]".into());
        tx_run!(tx, conn => sqlx::query(INSERT).bind(user_id).bind(module_id).bind(attempt).bind(&m.id)
            .bind(&chosen).bind(m.correct).bind(now).execute(conn).await.map(|_| ()))?;
    }
    if marked.iter().all(|m| m.correct) {
        tx_run!(tx, conn => sqlx::query(PASS).bind(user_id).bind(module_id).bind(attempt).bind(now).execute(conn).await.map(|_| ()))?;
    }
    Ok(attempt)
}

/// Whether the student passed the module's quiz (at any attempt).
pub async fn passed(db: &Db, user_id: i64, module_id: i64) -> sqlx::Result<bool> {
    const SQL: &str = "SELECT COUNT(*) FROM quiz_passes WHERE user_id = $1 AND module_id = $2";
    let n: i64 = db_run!(db, pool => sqlx::query_scalar(SQL).bind(user_id).bind(module_id).fetch_one(pool).await)?;
    Ok(n > 0)
}

/// How many attempts the student made at the module's quiz.
pub async fn attempts(db: &Db, user_id: i64, module_id: i64) -> sqlx::Result<i64> {
    const SQL: &str = "SELECT COALESCE(MAX(attempt), 0) FROM quiz_attempts WHERE user_id = $1 AND module_id = $2";
    db_run!(db, pool => sqlx::query_scalar(SQL).bind(user_id).bind(module_id).fetch_one(pool).await)
}

/// Per module and question id: how many students answered it, and how many of them answered it
/// right the first time they answered it.
#[derive(sqlx::FromRow, Debug)]
pub struct FirstTime {
    pub module_id: i64,
    pub question_id: String,
    pub answered: i64,
    pub right_first: i64,
}

pub async fn first_time(db: &Db, course_id: i64) -> sqlx::Result<Vec<FirstTime>> {
    const SQL: &str = "SELECT a.module_id, a.question_id, COUNT(*) AS answered, \
            SUM(CASE WHEN a.correct THEN 1 ELSE 0 END) AS right_first \
        FROM quiz_attempts a JOIN modules m ON m.id = a.module_id \
        WHERE m.course_id = $1 AND a.attempt = (SELECT MIN(b.attempt) FROM quiz_attempts b \
            WHERE b.user_id = a.user_id AND b.module_id = a.module_id AND b.question_id = a.question_id) \
        GROUP BY a.module_id, a.question_id";
    db_run!(db, pool => sqlx::query_as::<_, FirstTime>(SQL).bind(course_id).fetch_all(pool).await)
}

/// A student's answers, for their export.
#[derive(sqlx::FromRow, Serialize, Debug)]
pub struct OwnAnswer {
    pub program: String,
    pub module: String,
    pub attempt: i64,
    pub question_id: String,
    /// The chosen options' numbers, JSON.
    pub chosen: String,
    pub correct: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

pub async fn answers_of_user(db: &Db, user_id: i64) -> sqlx::Result<Vec<OwnAnswer>> {
    const SQL: &str = "SELECT c.title AS program, m.title AS module, a.attempt, a.question_id, a.chosen, a.correct, \
            a.created_at \
        FROM quiz_attempts a JOIN modules m ON m.id = a.module_id JOIN courses c ON c.id = m.course_id \
        WHERE a.user_id = $1 ORDER BY c.id, m.position, a.attempt, a.question_id";
    db_run!(db, pool => sqlx::query_as::<_, OwnAnswer>(SQL).bind(user_id).fetch_all(pool).await)
}

/// Account deletion: the student's answers and passes.
pub async fn delete_personal(tx: &mut Tx, user_id: i64) -> sqlx::Result<()> {
    tx_run!(tx, conn => {
        sqlx::query("DELETE FROM quiz_attempts WHERE user_id = $1").bind(user_id).execute(&mut *conn).await?;
        sqlx::query("DELETE FROM quiz_passes WHERE user_id = $1").bind(user_id).execute(&mut *conn).await.map(|_| ())
    })
}
