//! Every SQL statement of pre-enrollment.

use serde::Serialize;
use time::OffsetDateTime;

use crate::db::{Db, Tx};
use crate::{db_run, tx_run};

#[derive(sqlx::FromRow, Debug, Clone)]
pub struct Entry {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub confirmed_at: Option<OffsetDateTime>,
    pub confirm_sent_at: Option<OffsetDateTime>,
}

/// The entry for `email`, created when new. A confirmed entry keeps its name: someone else typing
/// the address must not be able to change it.
pub async fn upsert_entry(
    tx: &mut Tx,
    email: &str,
    name: &str,
    consent: &str,
    now: OffsetDateTime,
) -> sqlx::Result<Entry> {
    const SQL: &str = "INSERT INTO preenrollments (email, name, consent_text, created_at, updated_at) \
        VALUES ($1, $2, $3, $4, $4) ON CONFLICT (email) DO UPDATE SET \
        name = CASE WHEN preenrollments.confirmed_at IS NULL THEN excluded.name ELSE preenrollments.name END, \
        consent_text = excluded.consent_text, updated_at = excluded.updated_at \
        RETURNING id, email, name, confirmed_at, confirm_sent_at";
    tx_run!(tx, conn => sqlx::query_as::<_, Entry>(SQL)
        .bind(email).bind(name).bind(consent).bind(now)
        .fetch_one(conn).await)
}

/// Adds a program to an entry (nothing when it is already there). Returns whether it was new.
pub async fn add_course(tx: &mut Tx, entry_id: i64, course_id: i64, now: OffsetDateTime) -> sqlx::Result<bool> {
    const SQL: &str = "INSERT INTO preenrollment_courses (preenrollment_id, course_id, created_at) \
        VALUES ($1, $2, $3) ON CONFLICT (preenrollment_id, course_id) DO NOTHING";
    tx_run!(tx, conn => sqlx::query(SQL).bind(entry_id).bind(course_id).bind(now)
        .execute(conn).await.map(|r| r.rows_affected() == 1))
}

pub async fn mark_confirm_sent(tx: &mut Tx, entry_id: i64, now: OffsetDateTime) -> sqlx::Result<()> {
    const SQL: &str = "UPDATE preenrollments SET confirm_sent_at = $2 WHERE id = $1";
    tx_run!(tx, conn => sqlx::query(SQL).bind(entry_id).bind(now).execute(conn).await.map(|_| ()))
}

pub async fn insert_token(
    tx: &mut Tx,
    entry_id: i64,
    hash: &str,
    expires_at: OffsetDateTime,
    now: OffsetDateTime,
) -> sqlx::Result<()> {
    const SQL: &str = "INSERT INTO preenrollment_tokens (preenrollment_id, token_hash, expires_at, created_at) \
        VALUES ($1, $2, $3, $4)";
    tx_run!(tx, conn => sqlx::query(SQL).bind(entry_id).bind(hash).bind(expires_at).bind(now)
        .execute(conn).await.map(|_| ()))
}

#[derive(sqlx::FromRow, Debug, Clone)]
pub struct Token {
    pub id: i64,
    pub preenrollment_id: i64,
    pub expires_at: OffsetDateTime,
    pub used_at: Option<OffsetDateTime>,
}

pub async fn find_token(tx: &mut Tx, hash: &str) -> sqlx::Result<Option<Token>> {
    const SQL: &str =
        "SELECT id, preenrollment_id, expires_at, used_at FROM preenrollment_tokens WHERE token_hash = $1";
    tx_run!(tx, conn => sqlx::query_as::<_, Token>(SQL).bind(hash).fetch_optional(conn).await)
}

/// Marks a token used; false when it already was.
pub async fn use_token(tx: &mut Tx, id: i64, now: OffsetDateTime) -> sqlx::Result<bool> {
    const SQL: &str = "UPDATE preenrollment_tokens SET used_at = $2 WHERE id = $1 AND used_at IS NULL";
    tx_run!(tx, conn => sqlx::query(SQL).bind(id).bind(now).execute(conn).await.map(|r| r.rows_affected() == 1))
}

/// Confirms the entry and every program on it that was waiting for confirmation; returns the email.
pub async fn confirm(tx: &mut Tx, entry_id: i64, now: OffsetDateTime) -> sqlx::Result<String> {
    tx_run!(tx, conn => {
        sqlx::query("UPDATE preenrollment_courses SET confirmed_at = $2 \
            WHERE preenrollment_id = $1 AND confirmed_at IS NULL")
            .bind(entry_id).bind(now).execute(&mut *conn).await?;
        sqlx::query_scalar::<_, String>("UPDATE preenrollments SET confirmed_at = COALESCE(confirmed_at, $2), \
            updated_at = $2 WHERE id = $1 RETURNING email")
            .bind(entry_id).bind(now).fetch_one(&mut *conn).await
    })
}

/// An entry's name, and whether it is confirmed.
pub async fn entry_name(tx: &mut Tx, entry_id: i64) -> sqlx::Result<Option<(String, bool)>> {
    const SQL: &str = "SELECT name, confirmed_at IS NOT NULL FROM preenrollments WHERE id = $1";
    tx_run!(tx, conn => sqlx::query_as::<_, (String, bool)>(SQL).bind(entry_id).fetch_optional(conn).await)
}

#[derive(sqlx::FromRow, Serialize, Debug, Clone)]
pub struct OnList {
    pub slug: String,
    pub title: String,
    #[sqlx(try_from = "String")]
    pub status: crate::domain::CourseStatus,
    pub confirmed: bool,
}

const ON_LIST: &str = "SELECT c.slug, c.title, c.status, pc.confirmed_at IS NOT NULL AS confirmed \
    FROM preenrollment_courses pc JOIN courses c ON c.id = pc.course_id ";

/// The programs an entry is on the list for.
pub async fn courses_of(tx: &mut Tx, entry_id: i64) -> sqlx::Result<Vec<OnList>> {
    let sql = format!("{ON_LIST} WHERE pc.preenrollment_id = $1 AND c.archived = FALSE ORDER BY c.position, c.slug");
    tx_run!(tx, conn => sqlx::query_as::<_, OnList>(&sql).bind(entry_id).fetch_all(conn).await)
}

/// The confirmed programs on the list for an address (for its account and dashboard).
pub async fn confirmed_for_email(db: &Db, email: &str) -> sqlx::Result<Vec<OnList>> {
    let sql = format!(
        "{ON_LIST} JOIN preenrollments p ON p.id = pc.preenrollment_id \
         WHERE p.email = $1 AND pc.confirmed_at IS NOT NULL AND c.archived = FALSE ORDER BY c.position, c.slug"
    );
    db_run!(db, pool => sqlx::query_as::<_, OnList>(&sql).bind(email).fetch_all(pool).await)
}

/// Deletes unconfirmed entries, and unconfirmed programs on confirmed entries, untouched since
/// `cutoff`. Returns how many entries went.
pub async fn purge_unconfirmed(db: &Db, cutoff: OffsetDateTime) -> sqlx::Result<u64> {
    let mut tx = db.begin().await?;
    let removed = tx_run!(&mut tx, conn => {
        sqlx::query("DELETE FROM preenrollment_courses WHERE confirmed_at IS NULL AND created_at < $1 \
            AND preenrollment_id IN (SELECT id FROM preenrollments WHERE updated_at < $1)")
            .bind(cutoff).execute(&mut *conn).await?;
        sqlx::query("DELETE FROM preenrollments WHERE confirmed_at IS NULL AND updated_at < $1")
            .bind(cutoff).execute(&mut *conn).await.map(|r| r.rows_affected())
    })?;
    tx.commit().await?;
    Ok(removed)
}

/// Forgets an address's entry (account deletion).
pub async fn delete_for_email(tx: &mut Tx, email: &str) -> sqlx::Result<()> {
    tx_run!(tx, conn => sqlx::query("DELETE FROM preenrollments WHERE email = $1")
        .bind(email).execute(conn).await.map(|_| ()))
}

// ---- for the studio -------------------------------------------------------------------------------

/// Confirmed pre-enrollees of a program who still take marketing email (launch recipients).
#[derive(sqlx::FromRow, Debug, Clone)]
pub struct Recipient {
    pub entry_id: i64,
    pub email: String,
    pub name: String,
}

pub async fn launch_recipients(tx: &mut Tx, course_id: i64) -> sqlx::Result<Vec<Recipient>> {
    const SQL: &str = "SELECT p.id AS entry_id, p.email, p.name FROM preenrollment_courses pc \
        JOIN preenrollments p ON p.id = pc.preenrollment_id \
        WHERE pc.course_id = $1 AND pc.confirmed_at IS NOT NULL \
        AND NOT EXISTS (SELECT 1 FROM unsubscribes u WHERE u.email = p.email) ORDER BY p.id";
    tx_run!(tx, conn => sqlx::query_as::<_, Recipient>(SQL).bind(course_id).fetch_all(conn).await)
}

/// One row of the studio's list: an entry and one program on it, with its state.
#[derive(sqlx::FromRow, Serialize, Debug, Clone)]
pub struct ListRow {
    pub name: String,
    pub email: String,
    pub course_slug: String,
    pub course_title: String,
    pub state: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub confirmed_at: Option<OffsetDateTime>,
}

/// The state of a row, most advanced first: enrolled, unsubscribed, confirmed, unconfirmed.
const STATE: &str = "CASE \
    WHEN EXISTS (SELECT 1 FROM enrollments e JOIN users us ON us.id = e.user_id \
        WHERE us.email = p.email AND e.course_id = pc.course_id AND e.status = 'active') THEN 'enrolled' \
    WHEN EXISTS (SELECT 1 FROM unsubscribes u WHERE u.email = p.email) THEN 'unsubscribed' \
    WHEN pc.confirmed_at IS NOT NULL THEN 'confirmed' \
    ELSE 'unconfirmed' END";

/// The list, filtered by program slug and state (either may be empty for "all").
pub async fn list(db: &Db, course: &str, state: &str) -> sqlx::Result<Vec<ListRow>> {
    let sql = format!(
        "SELECT * FROM (SELECT p.name, p.email, c.slug AS course_slug, c.title AS course_title, {STATE} AS state, \
         pc.created_at, pc.confirmed_at, c.position AS course_position, p.id AS entry_id \
         FROM preenrollment_courses pc JOIN preenrollments p ON p.id = pc.preenrollment_id \
         JOIN courses c ON c.id = pc.course_id WHERE ($1 = '' OR c.slug = $1)) AS rows \
         WHERE ($2 = '' OR state = $2) ORDER BY created_at DESC, entry_id DESC, course_position"
    );
    db_run!(db, pool => sqlx::query_as::<_, ListRow>(&sql).bind(course).bind(state).fetch_all(pool).await)
}

#[derive(sqlx::FromRow, Serialize, Debug, Clone, Default)]
pub struct CourseCounts {
    pub course_id: i64,
    pub confirmed: i64,
    pub unconfirmed: i64,
    pub unsubscribed: i64,
}

/// Per program: confirmed (and still subscribed), unconfirmed, and unsubscribed pre-enrollees.
pub async fn counts(db: &Db) -> sqlx::Result<Vec<CourseCounts>> {
    const SQL: &str = "SELECT pc.course_id, \
        COUNT(CASE WHEN pc.confirmed_at IS NOT NULL AND u.email IS NULL THEN 1 END) AS confirmed, \
        COUNT(CASE WHEN pc.confirmed_at IS NULL THEN 1 END) AS unconfirmed, \
        COUNT(CASE WHEN pc.confirmed_at IS NOT NULL AND u.email IS NOT NULL THEN 1 END) AS unsubscribed \
        FROM preenrollment_courses pc JOIN preenrollments p ON p.id = pc.preenrollment_id \
        LEFT JOIN unsubscribes u ON u.email = p.email GROUP BY pc.course_id";
    db_run!(db, pool => sqlx::query_as::<_, CourseCounts>(SQL).fetch_all(pool).await)
}
