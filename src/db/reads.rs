//! The busiest reads: who a signed-in visitor is and where they stand (every signed-in page asks;
//! the lesson page and the dashboard most).
//!
//! Why not sqlx's pool, on SQLite: sqlx runs each SQLite connection on a worker thread of its own,
//! so a query is a hand-off to that thread and back, and a pooled connection is pinged (one more
//! hand-off) each time it goes back to the pool. On a busy page those hand-offs, not the SQL, were
//! most of the time (a profile of the signed-in lesson page: four thread switches per request).
//! [`Reads::here`] runs the statement on the request's own thread instead, on a rusqlite
//! connection to the same file (the same SQLite library as sqlx's; write-ahead log: a reader never
//! waits for a writer). A short busy timeout, and anything unexpected, hand the read back to the
//! pool, as on PostgreSQL, where a read is a round trip to the server either way. Debug builds
//! (every test) read through the pool as well and compare ([`agree`]).
//!
//! Nothing is cached: every read sees the database as it is (what another instance wrote too).

use std::future::Future;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::Db;

pub struct Reads {
    db: Db,
    here: Option<Here>,
    /// Reads answered on the request's thread so far.
    answered_here: AtomicUsize,
}

/// How long a read on the request's thread waits for a lock before handing over to the pool.
const HERE_BUSY: Duration = Duration::from_millis(50);

/// SQLite's file and the idle connections to it.
struct Here {
    file: PathBuf,
    idle: Mutex<Vec<rusqlite::Connection>>,
    /// Idle connections kept: one per runtime thread (more are opened when needed, closed after).
    keep: usize,
    /// Set when the file could not be opened (said once in the log): reads go to the pool.
    refused: AtomicBool,
}

/// Idle reading connections kept: one per runtime thread.
pub fn kept_connections() -> usize {
    std::thread::available_parallelism().map_or(4, |n| n.get()).clamp(2, 16)
}

/// Each reading connection's page cache, in KiB.
pub const CACHE_KIB: i64 = 1024;

impl Reads {
    pub fn new(db: &Db) -> Reads {
        let here = match db {
            Db::Sqlite(pool) => {
                let options = pool.connect_options();
                let file = options.get_filename();
                let name = file.to_string_lossy();
                // An in-memory database is the pool's own: nothing else can open it (sqlx names
                // it `file:sqlx-in-memory-N`).
                let in_memory = name.is_empty() || name.contains(":memory:") || name.starts_with("file:sqlx-in-memory");
                (!in_memory).then(|| Here {
                    file: file.to_owned(),
                    idle: Mutex::new(Vec::new()),
                    keep: kept_connections(),
                    refused: AtomicBool::new(false),
                })
            }
            Db::Postgres(_) => None,
        };
        Reads {
            db: db.clone(),
            here,
            answered_here: AtomicUsize::new(0),
        }
    }

    /// The database, for the reads that go through the pool.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Runs `read` on SQLite, on this thread. `None` on PostgreSQL, or when SQLite was busy or
    /// something was not as expected (logged): the caller then reads through the pool.
    pub fn here<T>(&self, read: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T>) -> Option<T> {
        let here = self.here.as_ref()?;
        if here.refused.load(Ordering::Relaxed) {
            return None;
        }
        let conn = match here.idle.lock().ok().and_then(|mut idle| idle.pop()) {
            Some(conn) => conn,
            None => match open(&here.file) {
                Ok(conn) => conn,
                Err(e) => {
                    here.refused.store(true, Ordering::Relaxed);
                    tracing::warn!(error = %e, "could not open the database for reads on the request's thread; reading through the pool");
                    return None;
                }
            },
        };
        let result = read(&conn);
        if let Ok(mut idle) = here.idle.lock()
            && idle.len() < here.keep
        {
            idle.push(conn);
        }
        match result {
            Ok(value) => {
                self.answered_here.fetch_add(1, Ordering::Relaxed);
                Some(value)
            }
            Err(e) => {
                let busy = matches!(&e, rusqlite::Error::SqliteFailure(f, _)
                    if matches!(f.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked));
                // Only a busy database is expected; anything else is a difference from what sqlx
                // reads (a column's type, a time's format), which the tests must see.
                debug_assert!(busy, "a read on the request's thread failed: {e}");
                if !busy {
                    tracing::warn!(error = %e, "a read on the request's thread failed; reading through the pool");
                }
                None
            }
        }
    }

    /// How many reads [`Reads::here`] answered (the rest went through the pool).
    pub fn answered_here(&self) -> usize {
        self.answered_here.load(Ordering::Relaxed)
    }

    /// The read on this thread if it answers, else through the pool; in debug builds both, which
    /// must agree (see [`agree`]).
    pub async fn read<T, H, P, Fut>(&self, here: H, pool: P) -> sqlx::Result<T>
    where
        T: PartialEq + std::fmt::Debug,
        H: Fn(&rusqlite::Connection) -> rusqlite::Result<T>,
        P: Fn() -> Fut,
        Fut: Future<Output = sqlx::Result<T>>,
    {
        match self.here(&here) {
            Some(value) => {
                if cfg!(debug_assertions) {
                    agree(&value, || self.here(&here), &pool).await?;
                }
                Ok(value)
            }
            None => pool().await,
        }
    }
}

/// Debug builds: the read on the request's thread and the read through sqlx give the same value.
/// Asked twice before calling it a difference, in case a write landed between the two reads.
async fn agree<T, Fut>(first: &T, here: impl Fn() -> Option<T>, pool: impl Fn() -> Fut) -> sqlx::Result<()>
where
    T: PartialEq + std::fmt::Debug,
    Fut: Future<Output = sqlx::Result<T>>,
{
    if *first == pool().await? {
        return Ok(());
    }
    let through_pool = pool().await?;
    assert_eq!(
        here().as_ref(),
        Some(&through_pool),
        "read on the request's thread ≠ read through sqlx"
    );
    Ok(())
}

fn open(file: &std::path::Path) -> rusqlite::Result<rusqlite::Connection> {
    use rusqlite::OpenFlags;
    let conn = rusqlite::Connection::open_with_flags(
        file,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(HERE_BUSY)?;
    // A page cache of 1 MiB each (SQLite's default is 2): these read a few rows per request, and
    // the system keeps the file's pages cached anyway.
    conn.pragma_update(None, "cache_size", -CACHE_KIB)?;
    Ok(conn)
}

/// Column `i` as a time, written by sqlx as RFC 3339 text (any other form is refused, and the
/// read goes through sqlx, which knows more forms).
pub fn time_at(row: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Option<OffsetDateTime>> {
    let text: Option<String> = row.get(i)?;
    text.map(|t| {
        OffsetDateTime::parse(&t, &Rfc3339)
            .map_err(|e| rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e)))
    })
    .transpose()
}

/// [`time_at`], for a column that is never NULL.
pub fn time_of(row: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<OffsetDateTime> {
    time_at(row, i)?.ok_or(rusqlite::Error::InvalidColumnType(
        i,
        "NULL time".into(),
        rusqlite::types::Type::Null,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_as_sqlx_writes_them_and_nothing_else() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let read = |text: &str| conn.query_row("SELECT ?1", [text], |row| time_at(row, 0));
        // What sqlx writes (RFC 3339, with fractions and an offset) and the bench's seed ("Z").
        let t = read("2026-11-27T16:05:09.123456789Z").unwrap().unwrap();
        assert_eq!((t.hour(), t.nanosecond()), (16, 123_456_789));
        let t = read("2026-11-27T10:05:09-06:00").unwrap().unwrap();
        assert_eq!(t.to_offset(time::UtcOffset::UTC).hour(), 16);
        // A form sqlx would also read is refused here, so the read goes through sqlx.
        assert!(read("2026-11-27 16:05:09").is_err());
        let null: Option<OffsetDateTime> = conn.query_row("SELECT NULL", [], |row| time_at(row, 0)).unwrap();
        assert!(null.is_none());
        assert!(conn.query_row("SELECT NULL", [], |row| time_of(row, 0)).is_err());
    }
}
