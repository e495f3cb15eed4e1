//! Connections of their own, outside the pool, for the busiest reads: who a signed-in visitor is
//! and where they stand (every signed-in page asks; the lesson page and the dashboard most).
//!
//! Why not the pool: sqlx runs each SQLite connection on a worker thread of its own, so a query
//! is a hand-off to that thread and back, and a pooled connection is pinged (one more hand-off)
//! each time it goes back to the pool. On a busy page those hand-offs, not the SQL, were most of
//! the time (a profile of the signed-in lesson page: four thread switches per request).
//!
//! - On SQLite, [`Reads::here`] runs the statement on the request's own thread, on a rusqlite
//!   connection to the same file (WAL: a reader never waits for a writer; a short busy timeout,
//!   and any surprise, hand the read back to sqlx). Debug builds (every test) run the sqlx read
//!   too and compare the two.
//! - Otherwise (PostgreSQL, or SQLite declined) [`read_run!`](crate::read_run) runs it on one of
//!   a few sqlx connections held here: one statement at a time under a lock, never pinged; one
//!   that fails is dropped and made again on its next use.
//!
//! Nothing is cached: every read sees the database as it is (what another instance wrote too).

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::Db;

pub struct Reads {
    db: Db,
    slots: Vec<tokio::sync::Mutex<Option<ReadConn>>>,
    next: AtomicUsize,
    here: Option<Here>,
    /// Reads answered on the request's thread so far.
    answered_here: AtomicUsize,
}

pub enum ReadConn {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

/// How many sqlx connections [`Reads`] keeps (a statement holds one for tens of microseconds;
/// each SQLite connection has its own page cache, so few).
pub const READ_SLOTS: usize = 2;

/// How long a read on the request's thread waits for a lock before handing over to sqlx.
const HERE_BUSY: Duration = Duration::from_millis(50);

/// Idle rusqlite connections kept for reads on the request's thread (one per runtime thread that
/// reads at the same moment; more are opened when needed and closed after).
const HERE_IDLE: usize = 4;

/// SQLite's file and the idle connections to it.
struct Here {
    file: PathBuf,
    idle: Mutex<Vec<rusqlite::Connection>>,
}

/// One of [`Reads`]' sqlx connections, held for a statement.
pub struct ReadGuard<'a>(tokio::sync::MutexGuard<'a, Option<ReadConn>>);

impl Reads {
    pub fn new(db: &Db) -> Reads {
        let here = match db {
            Db::Sqlite(pool) => {
                let options = pool.connect_options();
                let file = options.get_filename();
                // An in-memory database is the pool's own: nothing else can open it.
                let in_memory = file.as_os_str().is_empty() || file.to_string_lossy().contains(":memory:");
                (!in_memory).then(|| Here {
                    file: file.to_owned(),
                    idle: Mutex::new(Vec::new()),
                })
            }
            Db::Postgres(_) => None,
        };
        Reads {
            db: db.clone(),
            slots: (0..READ_SLOTS).map(|_| tokio::sync::Mutex::new(None)).collect(),
            next: AtomicUsize::new(0),
            here,
            answered_here: AtomicUsize::new(0),
        }
    }

    /// Runs `read` on SQLite, on this thread. `None` on PostgreSQL, or when SQLite was busy or
    /// something was not as expected (logged): the caller then reads through sqlx.
    pub fn here<T>(&self, read: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T>) -> Option<T> {
        let here = self.here.as_ref()?;
        let conn = match here.idle.lock().ok().and_then(|mut idle| idle.pop()) {
            Some(conn) => conn,
            None => match open(&here.file) {
                Ok(conn) => conn,
                Err(e) => {
                    tracing::warn!(error = %e, "could not open a reading connection; reading through the pool");
                    return None;
                }
            },
        };
        let result = read(&conn);
        if let Ok(mut idle) = here.idle.lock()
            && idle.len() < HERE_IDLE
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

    /// How many reads [`Reads::here`] answered (the rest went through sqlx).
    pub fn answered_here(&self) -> usize {
        self.answered_here.load(Ordering::Relaxed)
    }

    /// A free sqlx connection (the first free one from a rotating start, else the next to free
    /// up), connected on first use with the pool's own settings.
    pub async fn get(&self) -> sqlx::Result<ReadGuard<'_>> {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let n = self.slots.len();
        let free = (0..n).find_map(|i| self.slots[(start + i) % n].try_lock().ok());
        let mut guard = match free {
            Some(g) => g,
            None => self.slots[start % n].lock().await,
        };
        if guard.is_none() {
            use sqlx::ConnectOptions;
            *guard = Some(match &self.db {
                Db::Sqlite(pool) => ReadConn::Sqlite(pool.connect_options().connect().await?),
                Db::Postgres(pool) => ReadConn::Postgres(pool.connect_options().connect().await?),
            });
        }
        Ok(ReadGuard(guard))
    }
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
    conn.pragma_update(None, "cache_size", -1024)?;
    Ok(conn)
}

impl ReadGuard<'_> {
    pub fn conn(&mut self) -> &mut ReadConn {
        self.0.as_mut().expect("connected by Reads::get")
    }

    /// Keeps the connection after `result` unless the error says the connection itself failed
    /// (anything but a row that did not decode or was not found).
    pub fn check<T>(mut self, result: sqlx::Result<T>) -> sqlx::Result<T> {
        if let Err(e) = &result
            && !matches!(
                e,
                sqlx::Error::RowNotFound | sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_)
            )
        {
            *self.0 = None;
        }
        result
    }
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

/// Runs `$body` with `$conn` bound to one of [`Reads`]' sqlx connections (`&mut SqliteConnection`
/// or `&mut PgConnection`): one statement, as [`db_run!`](crate::db_run) runs one on the pool.
#[macro_export]
macro_rules! read_run {
    ($reads:expr, $conn:ident => $body:expr) => {
        async {
            let mut guard = $reads.get().await?;
            let result = match guard.conn() {
                $crate::db::ReadConn::Sqlite($conn) => $body,
                $crate::db::ReadConn::Postgres($conn) => $body,
            };
            guard.check(result)
        }
        .await
    };
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
