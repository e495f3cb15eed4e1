//! Sessions live in the application's own database (SQLite or PostgreSQL), through the
//! tower-sessions sqlx stores, behind one store type chosen at start-up like `Db`.
//!
//! Loads are cached in memory for [`CACHE_FOR`]: a signed-in page then costs no session query.
//! A change made by this instance (sign-in, sign-out, renewal) updates the cache at once; one made
//! by another instance (a log-out there) is seen here within [`CACHE_FOR`].

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use async_trait::async_trait;
use tower_sessions::cookie::SameSite;
use tower_sessions::cookie::time::Duration as CookieDuration;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, ExpiredDeletion, SessionStore};
use tower_sessions::{Expiry, SessionManagerLayer};
use tower_sessions_sqlx_store::{PostgresStore, SqliteStore};

use crate::db::Db;

/// Sessions end after 14 days without a visit.
pub const SESSION_DAYS: i64 = 14;
pub const COOKIE_NAME: &str = "learnwell_session";
/// On https the cookie carries the `__Host-` prefix: browsers then accept it only with `Secure`,
/// `Path=/` and no `Domain`, so no other host (a subdomain) can set or overwrite it.
pub const SECURE_COOKIE_NAME: &str = "__Host-learnwell_session";

/// The session cookie's name for a site served over https or not.
pub fn cookie_name(secure: bool) -> &'static str {
    if secure { SECURE_COOKIE_NAME } else { COOKIE_NAME }
}

/// How long a loaded session is trusted without asking the database again.
pub const CACHE_FOR: std::time::Duration = std::time::Duration::from_secs(5);
/// Beyond this many cached sessions the cache starts over (memory stays bounded).
const CACHE_MAX: usize = 50_000;

type Cache = Arc<RwLock<HashMap<Id, (Option<Record>, Instant)>>>;

#[derive(Clone, Debug)]
pub struct Store {
    backend: Backend,
    cache: Cache,
}

#[derive(Clone, Debug)]
enum Backend {
    Sqlite(SqliteStore, sqlx::SqlitePool),
    Postgres(PostgresStore, sqlx::PgPool),
}

impl Store {
    pub fn new(db: &Db) -> Store {
        let backend = match db {
            Db::Sqlite(pool) => Backend::Sqlite(SqliteStore::new(pool.clone()), pool.clone()),
            Db::Postgres(pool) => Backend::Postgres(PostgresStore::new(pool.clone()), pool.clone()),
        };
        Store {
            backend,
            cache: Arc::default(),
        }
    }

    fn remember(&self, id: Id, record: Option<Record>) {
        if let Ok(mut cache) = self.cache.write() {
            if cache.len() >= CACHE_MAX {
                cache.clear();
            }
            cache.insert(id, (record, Instant::now()));
        }
    }

    fn forget(&self, id: &Id) {
        if let Ok(mut cache) = self.cache.write() {
            cache.remove(id);
        }
    }

    fn cached(&self, id: &Id) -> Option<Option<Record>> {
        let cache = self.cache.read().ok()?;
        let (record, at) = cache.get(id)?;
        // An expired session is never served from the cache.
        let live = record
            .as_ref()
            .is_none_or(|r| r.expiry_date > tower_sessions::cookie::time::OffsetDateTime::now_utc());
        (at.elapsed() < CACHE_FOR && live).then(|| record.clone())
    }

    /// Creates the store's table if needed (run with the migrations).
    pub async fn migrate(&self) -> sqlx::Result<()> {
        match &self.backend {
            Backend::Sqlite(s, _) => s.migrate().await,
            Backend::Postgres(s, _) => s.migrate().await,
        }
    }

    pub fn layer(&self, secure: bool) -> SessionManagerLayer<Store> {
        SessionManagerLayer::new(self.clone())
            .with_name(cookie_name(secure))
            .with_http_only(true)
            .with_same_site(SameSite::Lax)
            .with_secure(secure)
            .with_path("/")
            .with_expiry(Expiry::OnInactivity(CookieDuration::days(SESSION_DAYS)))
    }
}

#[async_trait]
impl SessionStore for Store {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        match &self.backend {
            Backend::Sqlite(s, _) => s.create(record).await?,
            Backend::Postgres(s, _) => s.create(record).await?,
        }
        self.remember(record.id, Some(record.clone()));
        Ok(())
    }

    /// Saves a change to an existing session (a new session is `create`d). An update only: a
    /// session deleted meanwhile (a log-out, on this instance or another) stays deleted, where the
    /// sqlx stores' own `save` (an upsert) would bring it back to life.
    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let data = rmp_serde::to_vec(record).map_err(|e| session_store::Error::Encode(e.to_string()))?;
        let id = record.id.to_string();
        let updated = match &self.backend {
            Backend::Sqlite(_, pool) => {
                sqlx::query("UPDATE tower_sessions SET data = $1, expiry_date = $2 WHERE id = $3")
                    .bind(data)
                    .bind(record.expiry_date)
                    .bind(id)
                    .execute(pool)
                    .await
                    .map(|r| r.rows_affected())
            }
            Backend::Postgres(_, pool) => {
                sqlx::query(r#"UPDATE "tower_sessions"."session" SET data = $1, expiry_date = $2 WHERE id = $3"#)
                    .bind(data)
                    .bind(record.expiry_date)
                    .bind(id)
                    .execute(pool)
                    .await
                    .map(|r| r.rows_affected())
            }
        }
        .map_err(|e| session_store::Error::Backend(e.to_string()))?;
        if updated == 0 {
            self.remember(record.id, None);
            tracing::debug!("a session ended elsewhere was not saved back");
        } else {
            self.remember(record.id, Some(record.clone()));
        }
        Ok(())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        if let Some(record) = self.cached(id) {
            return Ok(record);
        }
        let record = match &self.backend {
            Backend::Sqlite(s, _) => s.load(id).await?,
            Backend::Postgres(s, _) => s.load(id).await?,
        };
        self.remember(*id, record.clone());
        Ok(record)
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.forget(id);
        match &self.backend {
            Backend::Sqlite(s, _) => s.delete(id).await,
            Backend::Postgres(s, _) => s.delete(id).await,
        }
    }
}

#[async_trait]
impl ExpiredDeletion for Store {
    async fn delete_expired(&self) -> session_store::Result<()> {
        match &self.backend {
            Backend::Sqlite(s, _) => s.delete_expired().await,
            Backend::Postgres(s, _) => s.delete_expired().await,
        }
    }
}
