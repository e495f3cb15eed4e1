//! Every SQL statement of stored files (`stored_files`, `stored_file_chunks`).

use time::OffsetDateTime;

use crate::db::{Db, Tx};
use crate::{db_run, tx_run};

/// A stored file's description (not its content).
#[derive(sqlx::FromRow, Debug, Clone)]
pub struct StoredFile {
    pub id: i64,
    pub key: String,
    pub content_type: String,
    pub bytes: i64,
    pub sha256: String,
    pub created_at: OffsetDateTime,
}

const COLUMNS: &str = "id, key, content_type, bytes, sha256, created_at";

pub async fn find(db: &Db, key: &str) -> sqlx::Result<Option<StoredFile>> {
    let sql = format!("SELECT {COLUMNS} FROM stored_files WHERE key = $1");
    db_run!(db, pool => sqlx::query_as::<_, StoredFile>(&sql).bind(key).fetch_optional(pool).await)
}

pub async fn find_in(tx: &mut Tx, key: &str) -> sqlx::Result<Option<StoredFile>> {
    let sql = format!("SELECT {COLUMNS} FROM stored_files WHERE key = $1");
    tx_run!(tx, conn => sqlx::query_as::<_, StoredFile>(&sql).bind(key).fetch_optional(conn).await)
}

/// Every stored file's key.
pub async fn keys(db: &Db) -> sqlx::Result<Vec<String>> {
    const SQL: &str = "SELECT key FROM stored_files ORDER BY key";
    db_run!(db, pool => sqlx::query_scalar::<_, String>(SQL).fetch_all(pool).await)
}

/// One piece of a file's content (`None` when the file was replaced or removed meanwhile).
pub async fn chunk(db: &Db, file_id: i64, seq: i64) -> sqlx::Result<Option<Vec<u8>>> {
    const SQL: &str = "SELECT data FROM stored_file_chunks WHERE file_id = $1 AND seq = $2";
    db_run!(db, pool => sqlx::query_scalar::<_, Vec<u8>>(SQL).bind(file_id).bind(seq).fetch_optional(pool).await)
}

/// Adds a file under `key` unless the key is taken; returns its id, or `None` when taken.
pub async fn insert_new(
    tx: &mut Tx,
    key: &str,
    content_type: &str,
    bytes: i64,
    sha256: &str,
    now: OffsetDateTime,
) -> sqlx::Result<Option<i64>> {
    const SQL: &str = "INSERT INTO stored_files (key, content_type, bytes, sha256, created_at) \
        VALUES ($1, $2, $3, $4, $5) ON CONFLICT (key) DO NOTHING RETURNING id";
    tx_run!(tx, conn => sqlx::query_scalar::<_, i64>(SQL).bind(key).bind(content_type).bind(bytes).bind(sha256)
        .bind(now).fetch_optional(conn).await)
}

pub async fn insert_chunk(tx: &mut Tx, file_id: i64, seq: i64, data: &[u8]) -> sqlx::Result<()> {
    const SQL: &str = "INSERT INTO stored_file_chunks (file_id, seq, data) VALUES ($1, $2, $3)";
    tx_run!(tx, conn => sqlx::query(SQL).bind(file_id).bind(seq).bind(data).execute(conn).await.map(|_| ()))
}

/// Removes a file and its content.
pub async fn delete(tx: &mut Tx, id: i64) -> sqlx::Result<()> {
    tx_run!(tx, conn => {
        sqlx::query("DELETE FROM stored_file_chunks WHERE file_id = $1").bind(id).execute(&mut *conn).await?;
        sqlx::query("DELETE FROM stored_files WHERE id = $1").bind(id).execute(conn).await.map(|_| ())
    })
}

/// The files the programs refer to: each live lesson's downloads (a JSON list) and each live
/// worksheet's CSV, with the program's files folder.
pub async fn referenced(db: &Db) -> sqlx::Result<(Vec<(String, String)>, Vec<(String, String)>)> {
    const LESSONS: &str = "SELECT COALESCE(c.files_dir, c.slug), l.downloads FROM lessons l \
        JOIN courses c ON c.id = l.course_id WHERE l.archived = FALSE AND l.downloads <> '[]'";
    const PAGES: &str = "SELECT COALESCE(c.files_dir, c.slug), p.csv FROM program_pages p \
        JOIN courses c ON c.id = p.course_id WHERE p.archived = FALSE AND p.csv IS NOT NULL";
    let lessons = db_run!(db, pool => sqlx::query_as::<_, (String, String)>(LESSONS).fetch_all(pool).await)?;
    let pages = db_run!(db, pool => sqlx::query_as::<_, (String, String)>(PAGES).fetch_all(pool).await)?;
    Ok((lessons, pages))
}
