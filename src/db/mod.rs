//! `Db`: one handle over SQLite or PostgreSQL, chosen once from `DATABASE_URL`.
//!
//! Every query is written once and run in each arm by [`db_run!`] (on the pool) or [`tx_run!`]
//! (inside a transaction), so the same SQL text is type-checked against both backends.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, Postgres, Sqlite, SqlitePool};

use crate::config::DatabaseKind;

pub mod reads;
pub use reads::Reads;

#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// A transaction on either backend.
pub enum Tx {
    Sqlite(sqlx::Transaction<'static, Sqlite>),
    Postgres(sqlx::Transaction<'static, Postgres>),
}

/// Runs `$body` with `$pool` bound to the backend's pool (`&SqlitePool` or `&PgPool`).
#[macro_export]
macro_rules! db_run {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::db::Db::Sqlite($pool) => $body,
            $crate::db::Db::Postgres($pool) => $body,
        }
    };
}

/// Runs `$body` with `$conn` bound to the transaction's connection (`&mut SqliteConnection` or
/// `&mut PgConnection`).
#[macro_export]
macro_rules! tx_run {
    ($tx:expr, $conn:ident => $body:expr) => {
        match $tx {
            $crate::db::Tx::Sqlite(t) => {
                let $conn = &mut **t;
                $body
            }
            $crate::db::Tx::Postgres(t) => {
                let $conn = &mut **t;
                $body
            }
        }
    };
}

/// The pool's connections, on SQLite and PostgreSQL.
const POOL_CONNECTIONS: u32 = 8;

/// Each pooled SQLite connection's page cache, in KiB.
const POOL_CACHE_KIB: i64 = 512;

/// The bound on SQLite's heap in this process (`PRAGMA soft_heap_limit`), in bytes: the pool's
/// page caches, the reading connections' (`reads`, one per runtime thread), and 4 MiB for
/// statements, schemas and the rest. 10 MiB on two cores.
pub fn sqlite_heap_limit() -> i64 {
    let caches_kib = POOL_CONNECTIONS as i64 * POOL_CACHE_KIB + reads::kept_connections() as i64 * reads::CACHE_KIB;
    (caches_kib << 10) + (4 << 20)
}

impl Db {
    /// Connects, creating the SQLite file (and its folder) when it does not exist yet.
    pub async fn connect(url: &str, kind: &DatabaseKind) -> anyhow::Result<Db> {
        match kind {
            DatabaseKind::Sqlite => {
                let options = SqliteConnectOptions::from_str(url)?
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .foreign_keys(true)
                    .busy_timeout(Duration::from_secs(5))
                    // Half a MiB of pages per connection, not SQLite's 2 MB: each of the pool's
                    // eight connections keeps its cache for its life (on the C heap, outside our
                    // allocator), the hottest reads have connections of their own (`reads`), and
                    // the operating system caches the file anyway.
                    .pragma("cache_size", format!("-{POOL_CACHE_KIB}"))
                    // And all of SQLite's memory in this process (every connection's pages and
                    // statements, these and `reads`') bounded: past the bound, SQLite lets cached
                    // pages go before it asks for more.
                    .pragma("soft_heap_limit", sqlite_heap_limit().to_string());
                if let Some(parent) = options.get_filename().parent()
                    && !parent.as_os_str().is_empty()
                {
                    std::fs::create_dir_all(parent)?;
                }
                // No ping before each use: a SQLite connection is a handle in this process that
                // cannot hang up, and the ping is a hand-off to the connection's worker thread
                // that would double the cost of every query.
                let pool = SqlitePoolOptions::new()
                    .max_connections(POOL_CONNECTIONS)
                    .min_connections(1)
                    .test_before_acquire(false)
                    .acquire_timeout(Duration::from_secs(5))
                    .connect_with(options)
                    .await?;
                Ok(Db::Sqlite(pool))
            }
            DatabaseKind::Postgres => {
                let options = PgConnectOptions::from_str(url)?;
                let pool = PgPoolOptions::new()
                    .max_connections(POOL_CONNECTIONS)
                    .acquire_timeout(Duration::from_secs(5))
                    .connect_with(options)
                    .await?;
                Ok(Db::Postgres(pool))
            }
        }
    }

    pub async fn migrate(&self) -> anyhow::Result<()> {
        match self {
            Db::Sqlite(pool) => sqlx::migrate!("migrations/sqlite").run(pool).await?,
            Db::Postgres(pool) => sqlx::migrate!("migrations/postgres").run(pool).await?,
        }
        Ok(())
    }

    /// Starts a write transaction. On SQLite it takes the write lock up front (`BEGIN IMMEDIATE`),
    /// so two writers queue on the busy timeout instead of failing when a read upgrades to a write.
    pub async fn begin(&self) -> sqlx::Result<Tx> {
        Ok(match self {
            Db::Sqlite(pool) => Tx::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?),
            Db::Postgres(pool) => Tx::Postgres(pool.begin().await?),
        })
    }

    /// `SELECT 1`: does the database answer?
    pub async fn ping(&self) -> sqlx::Result<()> {
        db_run!(self, pool => sqlx::query("SELECT 1").execute(pool).await.map(|_| ()))
    }

    /// The versions of the migrations this build has that the database has not applied
    /// (successfully). An error when the database has no migrations table at all.
    pub async fn pending_migrations(&self) -> sqlx::Result<Vec<i64>> {
        let migrator = match self {
            Db::Sqlite(_) => sqlx::migrate!("migrations/sqlite"),
            Db::Postgres(_) => sqlx::migrate!("migrations/postgres"),
        };
        const SQL: &str = "SELECT version FROM _sqlx_migrations WHERE success = TRUE";
        let applied: Vec<i64> = db_run!(self, pool => sqlx::query_scalar::<_, i64>(SQL).fetch_all(pool).await)?;
        Ok(migrator
            .iter()
            .map(|m| m.version)
            .filter(|v| !applied.contains(v))
            .collect())
    }

    pub async fn close(&self) {
        db_run!(self, pool => pool.close().await)
    }

    pub fn backend_name(&self) -> &'static str {
        match self {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    /// A consistent copy of a (possibly running) SQLite database, via `VACUUM INTO`.
    pub async fn backup_to(&self, file: &std::path::Path) -> anyhow::Result<()> {
        match self {
            Db::Sqlite(pool) => {
                if file.exists() {
                    anyhow::bail!("{} already exists; choose a new file name", file.display());
                }
                let target = file
                    .to_str()
                    .ok_or_else(|| anyhow::anyhow!("the backup path is not UTF-8"))?;
                sqlx::query("VACUUM INTO $1").bind(target).execute(pool).await?;
                Ok(())
            }
            Db::Postgres(_) => {
                anyhow::bail!("backup copies SQLite databases; for PostgreSQL use pg_dump")
            }
        }
    }
}

impl Tx {
    pub async fn commit(self) -> sqlx::Result<()> {
        match self {
            Tx::Sqlite(t) => t.commit().await,
            Tx::Postgres(t) => t.commit().await,
        }
    }
}

/// True when a database error is a unique-constraint violation (on either backend).
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// A JSON column, decoded. Malformed JSON is an error that names the column (a 500 page and a log
/// line), never a silent empty default that would hide corrupt data.
pub fn json_column<T: serde::de::DeserializeOwned>(text: &str, column: &'static str) -> sqlx::Result<T> {
    serde_json::from_str(text).map_err(|e| sqlx::Error::Decode(format!("column {column}: {e}").into()))
}

/// Rows per multi-row statement of a batch write (well under both backends' parameter limits).
pub const BATCH_ROWS: usize = 500;

/// `($k, $k+1, ...), (...)`: the VALUES list of a multi-row insert of `rows` rows of `per_row`
/// parameters each, numbered from `$first`. `shape` places them: `{}` marks a row's next parameter,
/// anything else (constants, shared `$1`) is copied, e.g. `({}, {}, $1, $1)`.
pub fn values_list(rows: usize, shape: &str, first: usize) -> String {
    let mut out = String::with_capacity(rows * (shape.len() + 8));
    let mut n = first;
    for r in 0..rows {
        if r > 0 {
            out.push_str(", ");
        }
        let mut parts = shape.split("{}");
        if let Some(head) = parts.next() {
            out.push_str(head);
        }
        for part in parts {
            out.push('$');
            out.push_str(&n.to_string());
            n += 1;
            out.push_str(part);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn values_lists() {
        assert_eq!(super::values_list(2, "({}, {}, $1)", 2), "($2, $3, $1), ($4, $5, $1)");
        assert_eq!(super::values_list(1, "({})", 1), "($1)");
    }

    /// SQLite's memory is bounded whatever the load: every pooled connection keeps at most half a
    /// MiB of pages (set on each connection sqlx opens, not only the first), and the process's
    /// SQLite heap as a whole is capped.
    #[tokio::test]
    async fn sqlite_memory_is_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("bounded.db").display());
        let db = super::Db::connect(&url, &crate::config::DatabaseKind::Sqlite)
            .await
            .unwrap();
        let super::Db::Sqlite(pool) = &db else { unreachable!() };
        // Two connections at once: the second is a fresh one.
        let mut first = pool.acquire().await.unwrap();
        let mut second = pool.acquire().await.unwrap();
        for conn in [&mut first, &mut second] {
            let pages: i64 = sqlx::query_scalar("PRAGMA cache_size")
                .fetch_one(&mut **conn)
                .await
                .unwrap();
            assert_eq!(pages, -512);
            let limit: i64 = sqlx::query_scalar("PRAGMA soft_heap_limit")
                .fetch_one(&mut **conn)
                .await
                .unwrap();
            assert_eq!(limit, super::sqlite_heap_limit());
        }
    }
}
