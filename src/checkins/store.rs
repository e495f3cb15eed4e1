//! Every SQL statement of check-ins: definitions (written by the content import), consents with
//! their sharing and display choices, and entries.

use serde::Serialize;
use time::OffsetDateTime;

use super::definition::{CheckinSource, Field};
use crate::db::{Db, Tx, json_column};
use crate::{db_run, tx_run};

// ---- definitions -------------------------------------------------------------------------------

#[derive(sqlx::FromRow, Debug, Clone)]
struct DefinitionRow {
    id: i64,
    course_id: i64,
    slug: String,
    title: String,
    description: String,
    introduced_in: String,
    fields: String,
    archived_fields: String,
    version: i64,
    archived: bool,
    source_hash: String,
}

/// A check-in as the database holds it.
#[derive(Debug, Clone, Serialize)]
pub struct Definition {
    pub id: i64,
    pub course_id: i64,
    pub slug: String,
    pub title: String,
    pub description: String,
    pub introduced_in: String,
    pub fields: Vec<Field>,
    /// Fields an import removed: old entries' values for them are kept and shown as archived.
    pub archived_fields: Vec<Field>,
    pub version: i64,
    pub archived: bool,
}

impl Definition {
    fn from_row(r: DefinitionRow) -> sqlx::Result<Definition> {
        Ok(Definition {
            fields: json_column(&r.fields, "checkin_definitions.fields")?,
            archived_fields: json_column(&r.archived_fields, "checkin_definitions.archived_fields")?,
            id: r.id,
            course_id: r.course_id,
            slug: r.slug,
            title: r.title,
            description: r.description,
            introduced_in: r.introduced_in,
            version: r.version,
            archived: r.archived,
        })
    }

    /// The field of an id, current or archived (`true`: archived).
    pub fn field(&self, id: &str) -> Option<(&Field, bool)> {
        self.fields
            .iter()
            .find(|f| f.id == id)
            .map(|f| (f, false))
            .or_else(|| self.archived_fields.iter().find(|f| f.id == id).map(|f| (f, true)))
    }

    /// As the content files declare it (for the content export).
    pub fn source(&self) -> CheckinSource {
        CheckinSource {
            id: self.slug.clone(),
            title: self.title.clone(),
            introduced_in: self.introduced_in.clone(),
            description: self.description.clone(),
            fields: self.fields.clone(),
        }
    }
}

const DEF_COLUMNS: &str = "id, course_id, slug, title, description, introduced_in, fields, archived_fields, \
    version, archived, source_hash";

async fn definition_rows(tx: &mut Tx, course_id: i64) -> sqlx::Result<Vec<DefinitionRow>> {
    let sql = format!("SELECT {DEF_COLUMNS} FROM checkin_definitions WHERE course_id = $1 ORDER BY position, id");
    tx_run!(tx, conn => sqlx::query_as::<_, DefinitionRow>(&sql).bind(course_id).fetch_all(conn).await)
}

/// What an import did to one check-in.
#[derive(Debug, PartialEq, Eq)]
pub enum Synced {
    Added,
    Changed,
    Unchanged,
    Archived,
}

/// Brings a program's check-ins in line with its `checkins.toml` (inside the import's
/// transaction). Upserts by id; a check-in gone from the file is archived, never deleted; a field
/// gone from a check-in moves to its archived fields (entries keep their values). The version goes
/// up whenever the fields change. Returns each check-in's slug with what happened.
pub async fn sync(
    tx: &mut Tx,
    course_id: i64,
    sources: &[CheckinSource],
    now: OffsetDateTime,
) -> sqlx::Result<Vec<(String, Synced)>> {
    let mut existing = definition_rows(tx, course_id).await?;
    let mut out = Vec::new();
    for (position, source) in sources.iter().enumerate() {
        let hash = crate::content::hash_of(&(source, position));
        let fields = serde_json::to_string(&source.fields).map_err(|e| sqlx::Error::Encode(e.into()))?;
        match existing.iter().position(|r| r.slug == source.id) {
            None => {
                const SQL: &str = "INSERT INTO checkin_definitions (course_id, slug, title, description, introduced_in, \
                    position, fields, archived_fields, version, archived, source_hash, created_at, updated_at) \
                    VALUES ($1, $2, $3, $4, $5, $6, $7, '[]', 1, FALSE, $8, $9, $9)";
                tx_run!(tx, conn => sqlx::query(SQL).bind(course_id).bind(&source.id).bind(&source.title)
                    .bind(&source.description).bind(&source.introduced_in).bind(position as i64).bind(&fields)
                    .bind(&hash).bind(now).execute(conn).await.map(|_| ()))?;
                out.push((source.id.clone(), Synced::Added));
            }
            Some(i) => {
                let row = existing.remove(i);
                if row.source_hash == hash && !row.archived {
                    out.push((source.id.clone(), Synced::Unchanged));
                    continue;
                }
                let old = Definition::from_row(row.clone())?;
                let version = if old.fields != source.fields {
                    old.version + 1
                } else {
                    old.version
                };
                // Removed fields join the archived ones; a field that comes back leaves them.
                let mut archived: Vec<Field> = old
                    .archived_fields
                    .into_iter()
                    .filter(|a| !source.fields.iter().any(|f| f.id == a.id))
                    .collect();
                for gone in old
                    .fields
                    .into_iter()
                    .filter(|f| !source.fields.iter().any(|n| n.id == f.id))
                {
                    archived.retain(|a| a.id != gone.id);
                    archived.push(gone);
                }
                let archived = serde_json::to_string(&archived).map_err(|e| sqlx::Error::Encode(e.into()))?;
                const SQL: &str = "UPDATE checkin_definitions SET title = $2, description = $3, introduced_in = $4, \
                    position = $5, fields = $6, archived_fields = $7, version = $8, archived = FALSE, source_hash = $9, \
                    updated_at = $10 WHERE id = $1";
                tx_run!(tx, conn => sqlx::query(SQL).bind(row.id).bind(&source.title).bind(&source.description)
                    .bind(&source.introduced_in).bind(position as i64).bind(&fields).bind(&archived).bind(version)
                    .bind(&hash).bind(now).execute(conn).await.map(|_| ()))?;
                out.push((source.id.clone(), Synced::Changed));
            }
        }
    }
    for gone in existing.into_iter().filter(|r| !r.archived) {
        const SQL: &str = "UPDATE checkin_definitions SET archived = TRUE, updated_at = $2 WHERE id = $1";
        tx_run!(tx, conn => sqlx::query(SQL).bind(gone.id).bind(now).execute(conn).await.map(|_| ()))?;
        out.push((gone.slug, Synced::Archived));
    }
    Ok(out)
}

/// A program's check-ins, archived ones too (their entries are still the student's), in order.
pub async fn definitions(db: &Db, course_id: i64) -> sqlx::Result<Vec<Definition>> {
    let sql = format!("SELECT {DEF_COLUMNS} FROM checkin_definitions WHERE course_id = $1 ORDER BY position, id");
    let rows = db_run!(db, pool => sqlx::query_as::<_, DefinitionRow>(&sql).bind(course_id).fetch_all(pool).await)?;
    rows.into_iter().map(Definition::from_row).collect()
}

/// A program's live check-ins, for the content export.
pub async fn live_definitions_in(tx: &mut Tx, course_id: i64) -> sqlx::Result<Vec<Definition>> {
    let rows = definition_rows(tx, course_id).await?;
    rows.into_iter()
        .filter(|r| !r.archived)
        .map(Definition::from_row)
        .collect()
}

// ---- consent, sharing, display --------------------------------------------------------------------

#[derive(sqlx::FromRow, Serialize, Debug, Clone)]
pub struct Consent {
    #[serde(with = "time::serde::rfc3339")]
    pub consented_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub shared_since: Option<OffsetDateTime>,
    pub hide_counts: bool,
}

pub async fn consent(db: &Db, user_id: i64, course_id: i64) -> sqlx::Result<Option<Consent>> {
    const SQL: &str = "SELECT consented_at, shared_since, hide_counts FROM checkin_consents \
        WHERE user_id = $1 AND course_id = $2";
    db_run!(db, pool => sqlx::query_as::<_, Consent>(SQL).bind(user_id).bind(course_id).fetch_optional(pool).await)
}

/// Records consent (again is a no-op: the first time stays).
pub async fn give_consent(db: &Db, user_id: i64, course_id: i64, now: OffsetDateTime) -> sqlx::Result<()> {
    const SQL: &str = "INSERT INTO checkin_consents (user_id, course_id, consented_at, hide_counts) \
        VALUES ($1, $2, $3, FALSE) ON CONFLICT (user_id, course_id) DO NOTHING";
    db_run!(db, pool => sqlx::query(SQL).bind(user_id).bind(course_id).bind(now).execute(pool).await.map(|_| ()))
}

/// Withdraws consent: deletes every entry of the student's for the program, and the consent (with
/// its sharing). Returns how many entries went.
pub async fn withdraw(tx: &mut Tx, user_id: i64, course_id: i64) -> sqlx::Result<u64> {
    tx_run!(tx, conn => {
        let n = sqlx::query("DELETE FROM checkin_entries WHERE user_id = $1 AND course_id = $2")
            .bind(user_id).bind(course_id).execute(&mut *conn).await?.rows_affected();
        sqlx::query("DELETE FROM checkin_consents WHERE user_id = $1 AND course_id = $2")
            .bind(user_id).bind(course_id).execute(&mut *conn).await?;
        Ok(n)
    })
}

/// Turns sharing with the instructor on (from `now`) or off. False when there is no consent.
pub async fn set_sharing(db: &Db, user_id: i64, course_id: i64, on: bool, now: OffsetDateTime) -> sqlx::Result<bool> {
    const ON: &str = "UPDATE checkin_consents SET shared_since = COALESCE(shared_since, $3) \
        WHERE user_id = $1 AND course_id = $2";
    const OFF: &str = "UPDATE checkin_consents SET shared_since = NULL WHERE user_id = $1 AND course_id = $2";
    db_run!(db, pool => {
        let q = if on {
            sqlx::query(ON).bind(user_id).bind(course_id).bind(now)
        } else {
            sqlx::query(OFF).bind(user_id).bind(course_id)
        };
        q.execute(pool).await.map(|r| r.rows_affected() == 1)
    })
}

pub async fn set_hide_counts(db: &Db, user_id: i64, course_id: i64, hide: bool) -> sqlx::Result<bool> {
    const SQL: &str = "UPDATE checkin_consents SET hide_counts = $3 WHERE user_id = $1 AND course_id = $2";
    db_run!(db, pool => sqlx::query(SQL).bind(user_id).bind(course_id).bind(hide)
        .execute(pool).await.map(|r| r.rows_affected() == 1))
}

#[derive(sqlx::FromRow, Serialize, Debug, Clone)]
pub struct Sharer {
    pub user_id: i64,
    pub name: String,
    pub email: String,
    #[serde(with = "time::serde::rfc3339")]
    pub shared_since: OffsetDateTime,
}

/// The students who share their check-ins of a program with the instructor now.
pub async fn sharers(db: &Db, course_id: i64) -> sqlx::Result<Vec<Sharer>> {
    const SQL: &str = "SELECT u.id AS user_id, u.name, u.email, k.shared_since FROM checkin_consents k \
        JOIN users u ON u.id = k.user_id WHERE k.course_id = $1 AND k.shared_since IS NOT NULL \
        ORDER BY u.name, u.id";
    db_run!(db, pool => sqlx::query_as::<_, Sharer>(SQL).bind(course_id).fetch_all(pool).await)
}

/// One sharing student, if they share this program now.
pub async fn sharer(db: &Db, course_id: i64, user_id: i64) -> sqlx::Result<Option<Sharer>> {
    const SQL: &str = "SELECT u.id AS user_id, u.name, u.email, k.shared_since FROM checkin_consents k \
        JOIN users u ON u.id = k.user_id WHERE k.course_id = $1 AND k.user_id = $2 AND k.shared_since IS NOT NULL";
    db_run!(db, pool => sqlx::query_as::<_, Sharer>(SQL).bind(course_id).bind(user_id).fetch_optional(pool).await)
}

#[derive(sqlx::FromRow, Debug, Clone)]
pub struct ConsentOf {
    pub course_id: i64,
    pub consented_at: OffsetDateTime,
    pub shared_since: Option<OffsetDateTime>,
    pub hide_counts: bool,
}

/// Every consent of a person (the account export).
pub async fn consents_of(db: &Db, user_id: i64) -> sqlx::Result<Vec<ConsentOf>> {
    const SQL: &str = "SELECT course_id, consented_at, shared_since, hide_counts FROM checkin_consents \
        WHERE user_id = $1 ORDER BY course_id";
    db_run!(db, pool => sqlx::query_as::<_, ConsentOf>(SQL).bind(user_id).fetch_all(pool).await)
}

// ---- entries -------------------------------------------------------------------------------------

#[derive(sqlx::FromRow, Debug, Clone)]
pub struct Entry {
    pub id: i64,
    pub checkin_id: i64,
    pub course_id: i64,
    pub entry_date: String,
    pub answers: String,
    pub field_version: i64,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

impl Entry {
    pub fn answers(&self) -> sqlx::Result<serde_json::Map<String, serde_json::Value>> {
        json_column(&self.answers, "checkin_entries.answers")
    }
}

const ENTRY_COLUMNS: &str = "id, checkin_id, course_id, entry_date, answers, field_version, created_at, updated_at";

/// Writes the student's entry for a check-in and day: a new one, or that day's, replaced.
pub async fn save_for_day(
    db: &Db,
    user_id: i64,
    def: &Definition,
    date: &str,
    answers: &str,
    now: OffsetDateTime,
) -> sqlx::Result<i64> {
    const SQL: &str = "INSERT INTO checkin_entries (user_id, checkin_id, course_id, entry_date, answers, field_version, \
        created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) \
        ON CONFLICT (user_id, checkin_id, entry_date) DO UPDATE SET answers = excluded.answers, \
        field_version = excluded.field_version, updated_at = excluded.updated_at RETURNING id";
    db_run!(db, pool => sqlx::query_scalar::<_, i64>(SQL).bind(user_id).bind(def.id).bind(def.course_id)
        .bind(date).bind(answers).bind(def.version).bind(now).fetch_one(pool).await)
}

/// Rewrites one of the student's entries (its day may move). False when it is not theirs, or when
/// another of their entries of the same check-in already holds the new day.
pub async fn update(
    db: &Db,
    user_id: i64,
    entry_id: i64,
    date: &str,
    answers: &str,
    version: i64,
    now: OffsetDateTime,
) -> sqlx::Result<bool> {
    const SQL: &str = "UPDATE checkin_entries SET entry_date = $3, answers = $4, field_version = $5, updated_at = $6 \
        WHERE id = $1 AND user_id = $2 AND NOT EXISTS (SELECT 1 FROM checkin_entries o WHERE o.user_id = $2 \
        AND o.checkin_id = checkin_entries.checkin_id AND o.entry_date = $3 AND o.id <> $1)";
    db_run!(db, pool => sqlx::query(SQL).bind(entry_id).bind(user_id).bind(date).bind(answers).bind(version).bind(now)
        .execute(pool).await.map(|r| r.rows_affected() == 1))
}

/// One of the student's entries (none for anyone else's).
pub async fn entry(db: &Db, user_id: i64, entry_id: i64) -> sqlx::Result<Option<Entry>> {
    let sql = format!("SELECT {ENTRY_COLUMNS} FROM checkin_entries WHERE id = $1 AND user_id = $2");
    db_run!(db, pool => sqlx::query_as::<_, Entry>(&sql).bind(entry_id).bind(user_id).fetch_optional(pool).await)
}

/// The student's entry for a check-in on a day.
pub async fn entry_on(db: &Db, user_id: i64, checkin_id: i64, date: &str) -> sqlx::Result<Option<Entry>> {
    let sql = format!(
        "SELECT {ENTRY_COLUMNS} FROM checkin_entries WHERE user_id = $1 AND checkin_id = $2 AND entry_date = $3"
    );
    db_run!(db, pool => sqlx::query_as::<_, Entry>(&sql).bind(user_id).bind(checkin_id).bind(date).fetch_optional(pool).await)
}

/// Deletes one of the student's entries; false when it is not theirs.
pub async fn delete(db: &Db, user_id: i64, entry_id: i64) -> sqlx::Result<bool> {
    const SQL: &str = "DELETE FROM checkin_entries WHERE id = $1 AND user_id = $2";
    db_run!(db, pool => sqlx::query(SQL).bind(entry_id).bind(user_id).execute(pool).await.map(|r| r.rows_affected() == 1))
}

/// The student's entries of a program from `since` (a date, inclusive; `None`: all), oldest first.
pub async fn entries(db: &Db, user_id: i64, course_id: i64, since: Option<&str>) -> sqlx::Result<Vec<Entry>> {
    let sql = format!(
        "SELECT {ENTRY_COLUMNS} FROM checkin_entries WHERE user_id = $1 AND course_id = $2 AND entry_date >= $3 \
         ORDER BY entry_date, checkin_id"
    );
    db_run!(db, pool => sqlx::query_as::<_, Entry>(&sql).bind(user_id).bind(course_id).bind(since.unwrap_or(""))
        .fetch_all(pool).await)
}

/// Every entry of a person, any program (the account export).
pub async fn all_entries_of(db: &Db, user_id: i64) -> sqlx::Result<Vec<Entry>> {
    let sql = format!(
        "SELECT {ENTRY_COLUMNS} FROM checkin_entries WHERE user_id = $1 ORDER BY course_id, entry_date, checkin_id"
    );
    db_run!(db, pool => sqlx::query_as::<_, Entry>(&sql).bind(user_id).fetch_all(pool).await)
}

/// The days a student logged anything in a program (for counts and streaks), newest first.
pub async fn days_logged(db: &Db, user_id: i64, course_id: i64) -> sqlx::Result<Vec<String>> {
    const SQL: &str = "SELECT DISTINCT entry_date FROM checkin_entries WHERE user_id = $1 AND course_id = $2 \
        ORDER BY entry_date DESC";
    db_run!(db, pool => sqlx::query_scalar::<_, String>(SQL).bind(user_id).bind(course_id).fetch_all(pool).await)
}

/// Deletes everything check-ins hold about a person (account deletion, inside its transaction).
pub async fn delete_for_user(tx: &mut Tx, user_id: i64) -> sqlx::Result<()> {
    tx_run!(tx, conn => {
        sqlx::query("DELETE FROM checkin_entries WHERE user_id = $1").bind(user_id).execute(&mut *conn).await?;
        sqlx::query("DELETE FROM checkin_consents WHERE user_id = $1").bind(user_id).execute(&mut *conn).await.map(|_| ())
    })
}
