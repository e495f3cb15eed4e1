//! Every SQL statement of accounts and their tokens.

use time::OffsetDateTime;

use crate::db::{Db, Tx};
use crate::{db_run, tx_run};

/// The signed-in person, as every request sees them.
#[derive(sqlx::FromRow, serde::Serialize, Clone, Debug, PartialEq)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub name: String,
    #[sqlx(try_from = "String")]
    pub role: crate::domain::Role,
    #[serde(with = "time::serde::rfc3339::option")]
    pub email_verified_at: Option<OffsetDateTime>,
    pub session_epoch: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl User {
    pub fn is_instructor(&self) -> bool {
        self.role == crate::domain::Role::Instructor
    }

    /// The user from a rusqlite row whose columns from `first` on are `USER_COLUMNS` (see
    /// [`crate::db::Reads::here`]).
    pub fn from_here(row: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<User> {
        use crate::db::reads::{time_at, time_of};
        let role: String = row.get(first + 3)?;
        Ok(User {
            id: row.get(first)?,
            email: row.get(first + 1)?,
            name: row.get(first + 2)?,
            role: role.try_into().map_err(|e: String| {
                rusqlite::Error::FromSqlConversionFailure(first + 3, rusqlite::types::Type::Text, e.into())
            })?,
            email_verified_at: time_at(row, first + 4)?,
            session_epoch: row.get(first + 5)?,
            created_at: time_of(row, first + 6)?,
        })
    }

    /// How many slots [`User::stand_in`] takes.
    pub const SLOTS: usize = 6;

    /// This person as a page's shell sees them (`web::shell`): what templates branch on is theirs
    /// (their role, whether their address is confirmed: `shape` names it), every value a template
    /// prints is a stand-in, from slot `first` on. `fill` is what goes in those slots.
    pub fn stand_in(&self, first: usize) -> StandIn {
        use crate::web::shell::{escaped, slot};
        let rfc3339 = |t: &OffsetDateTime| {
            t.format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default()
        };
        let verified = self.email_verified_at.is_some();
        StandIn {
            value: minijinja::context! {
                id => slot(first),
                email => slot(first + 1),
                name => slot(first + 2),
                role => self.role.as_str(),
                email_verified_at => verified.then(|| slot(first + 3)),
                session_epoch => slot(first + 4),
                created_at => slot(first + 5),
            },
            shape: format!("{} verified={verified}", self.role),
            fill: [
                self.id.to_string(),
                escaped(&self.email),
                escaped(&self.name),
                self.email_verified_at
                    .as_ref()
                    .map(|t| escaped(&rfc3339(t)))
                    .unwrap_or_default(),
                self.session_epoch.to_string(),
                escaped(&rfc3339(&self.created_at)),
            ],
        }
    }
}

/// A [`User`] in a page's shell: see [`User::stand_in`].
pub struct StandIn {
    pub value: minijinja::Value,
    pub shape: String,
    pub fill: [String; User::SLOTS],
}

/// What login needs: the hash and the backoff state.
#[derive(sqlx::FromRow, Debug)]
pub struct Credentials {
    pub id: i64,
    pub password_hash: String,
    pub failed_logins: i64,
    pub locked_until: Option<OffsetDateTime>,
    pub session_epoch: i64,
}

const USER_COLUMNS: &str = "id, email, name, role, email_verified_at, session_epoch, created_at";

pub async fn user_by_id(db: &Db, id: i64) -> sqlx::Result<Option<User>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
    db_run!(db, pool => sqlx::query_as::<_, User>(&sql).bind(id).fetch_optional(pool).await)
}

/// [`user_by_id`] for a signed-in visitor's every request: on SQLite on the request's own thread
/// ([`crate::db::Reads`]).
pub async fn signed_in_user(reads: &crate::db::Reads, id: i64) -> sqlx::Result<Option<User>> {
    const SQL: &str =
        "SELECT id, email, name, role, email_verified_at, session_epoch, created_at FROM users WHERE id = $1";
    let here = |conn: &rusqlite::Connection| {
        use rusqlite::OptionalExtension;
        conn.prepare_cached(SQL)?
            .query_row(rusqlite::named_params! { "$1": id }, |row| User::from_here(row, 0))
            .optional()
    };
    let through_pool =
        || async { db_run!(reads.db(), pool => sqlx::query_as::<_, User>(SQL).bind(id).fetch_optional(pool).await) };
    reads.read(here, through_pool).await
}

pub async fn user_by_email(db: &Db, email: &str) -> sqlx::Result<Option<User>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE email = $1");
    db_run!(db, pool => sqlx::query_as::<_, User>(&sql).bind(email).fetch_optional(pool).await)
}

pub async fn credentials(db: &Db, email: &str) -> sqlx::Result<Option<Credentials>> {
    const SQL: &str =
        "SELECT id, password_hash, failed_logins, locked_until, session_epoch FROM users WHERE email = $1";
    db_run!(db, pool => sqlx::query_as::<_, Credentials>(SQL).bind(email).fetch_optional(pool).await)
}

pub async fn credentials_by_id(db: &Db, id: i64) -> sqlx::Result<Option<Credentials>> {
    const SQL: &str = "SELECT id, password_hash, failed_logins, locked_until, session_epoch FROM users WHERE id = $1";
    db_run!(db, pool => sqlx::query_as::<_, Credentials>(SQL).bind(id).fetch_optional(pool).await)
}

/// Inserts a user; a unique violation means the email is taken.
pub async fn insert_user(
    tx: &mut Tx,
    email: &str,
    name: &str,
    password_hash: &str,
    role: &str,
    verified_at: Option<OffsetDateTime>,
    now: OffsetDateTime,
) -> sqlx::Result<i64> {
    const SQL: &str = "INSERT INTO users (email, name, password_hash, role, email_verified_at, created_at, updated_at) \
        VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id";
    tx_run!(tx, conn => sqlx::query_scalar::<_, i64>(SQL)
        .bind(email)
        .bind(name)
        .bind(password_hash)
        .bind(role)
        .bind(verified_at)
        .bind(now)
        .fetch_one(conn)
        .await)
}

pub async fn set_role(db: &Db, id: i64, role: &str, now: OffsetDateTime) -> sqlx::Result<()> {
    const SQL: &str = "UPDATE users SET role = $2, updated_at = $3 WHERE id = $1";
    db_run!(db, pool => sqlx::query(SQL).bind(id).bind(role).bind(now).execute(pool).await.map(|_| ()))
}

pub async fn record_failed_login(
    db: &Db,
    id: i64,
    failed: i64,
    locked_until: Option<OffsetDateTime>,
) -> sqlx::Result<()> {
    const SQL: &str = "UPDATE users SET failed_logins = $2, locked_until = $3 WHERE id = $1";
    db_run!(db, pool => sqlx::query(SQL).bind(id).bind(failed).bind(locked_until).execute(pool).await.map(|_| ()))
}

pub async fn record_login(db: &Db, id: i64) -> sqlx::Result<()> {
    const SQL: &str = "UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = $1";
    db_run!(db, pool => sqlx::query(SQL).bind(id).execute(pool).await.map(|_| ()))
}

pub async fn set_name(db: &Db, id: i64, name: &str, now: OffsetDateTime) -> sqlx::Result<()> {
    const SQL: &str = "UPDATE users SET name = $2, updated_at = $3 WHERE id = $1";
    db_run!(db, pool => sqlx::query(SQL).bind(id).bind(name).bind(now).execute(pool).await.map(|_| ()))
}

/// Sets a new password hash and ends every session (their epoch no longer matches); clears the
/// login backoff. Returns the new epoch.
pub async fn set_password(tx: &mut Tx, id: i64, hash: &str, now: OffsetDateTime) -> sqlx::Result<i64> {
    const SQL: &str = "UPDATE users SET password_hash = $2, session_epoch = session_epoch + 1, failed_logins = 0, \
        locked_until = NULL, updated_at = $3 WHERE id = $1 RETURNING session_epoch";
    tx_run!(tx, conn => sqlx::query_scalar::<_, i64>(SQL).bind(id).bind(hash).bind(now).fetch_one(conn).await)
}

pub async fn epoch_in(tx: &mut Tx, id: i64) -> sqlx::Result<i64> {
    const SQL: &str = "SELECT session_epoch FROM users WHERE id = $1";
    tx_run!(tx, conn => sqlx::query_scalar::<_, i64>(SQL).bind(id).fetch_one(conn).await)
}

/// Marks `email` verified for the user, switching the account to it (an email change).
pub async fn verify_email(tx: &mut Tx, id: i64, email: &str, now: OffsetDateTime) -> sqlx::Result<()> {
    const SQL: &str = "UPDATE users SET email = $2, email_verified_at = $3, updated_at = $3 WHERE id = $1";
    tx_run!(tx, conn => sqlx::query(SQL).bind(id).bind(email).bind(now).execute(conn).await.map(|_| ()))
}

pub async fn delete_user(tx: &mut Tx, id: i64) -> sqlx::Result<()> {
    const SQL: &str = "DELETE FROM users WHERE id = $1";
    tx_run!(tx, conn => sqlx::query(SQL).bind(id).execute(conn).await.map(|_| ()))
}

/// A new single-use link. `next` is where a confirmed sign-up continues (a path on this site).
#[allow(clippy::too_many_arguments)]
pub async fn insert_token(
    tx: &mut Tx,
    user_id: i64,
    purpose: &str,
    token_hash: &str,
    email: &str,
    next: Option<&str>,
    expires_at: OffsetDateTime,
    now: OffsetDateTime,
) -> sqlx::Result<()> {
    const SQL: &str = "INSERT INTO user_tokens (user_id, purpose, token_hash, email, next, expires_at, created_at) \
        VALUES ($1, $2, $3, $4, $5, $6, $7)";
    tx_run!(tx, conn => sqlx::query(SQL)
        .bind(user_id)
        .bind(purpose)
        .bind(token_hash)
        .bind(email)
        .bind(next)
        .bind(expires_at)
        .bind(now)
        .execute(conn)
        .await
        .map(|_| ()))
}

#[derive(sqlx::FromRow, Debug)]
pub struct UsedToken {
    pub user_id: i64,
    pub email: String,
    pub next: Option<String>,
}

/// Uses a token: succeeds once, only before it expires. The update is the check, so two requests
/// racing with the same link cannot both succeed.
pub async fn use_token(
    tx: &mut Tx,
    purpose: &str,
    token_hash: &str,
    now: OffsetDateTime,
) -> sqlx::Result<Option<UsedToken>> {
    const SQL: &str = "UPDATE user_tokens SET used_at = $3 WHERE purpose = $1 AND token_hash = $2 \
        AND used_at IS NULL AND expires_at > $3 RETURNING user_id, email, next";
    tx_run!(tx, conn => sqlx::query_as::<_, UsedToken>(SQL).bind(purpose).bind(token_hash).bind(now).fetch_optional(conn).await)
}

/// Is this token still usable (for showing the reset form before it is submitted)?
pub async fn token_is_live(db: &Db, purpose: &str, token_hash: &str, now: OffsetDateTime) -> sqlx::Result<bool> {
    const SQL: &str = "SELECT COUNT(*) FROM user_tokens WHERE purpose = $1 AND token_hash = $2 \
        AND used_at IS NULL AND expires_at > $3";
    db_run!(db, pool => sqlx::query_scalar::<_, i64>(SQL).bind(purpose).bind(token_hash).bind(now).fetch_one(pool).await.map(|n| n > 0))
}

/// The name and address of the account a live token belongs to (so a new password can be checked
/// against them before the token is used).
pub async fn token_owner(
    db: &Db,
    purpose: &str,
    token_hash: &str,
    now: OffsetDateTime,
) -> sqlx::Result<Option<(String, String)>> {
    const SQL: &str = "SELECT u.name, u.email FROM user_tokens t JOIN users u ON u.id = t.user_id \
        WHERE t.purpose = $1 AND t.token_hash = $2 AND t.used_at IS NULL AND t.expires_at > $3";
    db_run!(db, pool => sqlx::query_as::<_, (String, String)>(SQL).bind(purpose).bind(token_hash).bind(now).fetch_optional(pool).await)
}

// ---- known devices --------------------------------------------------------------------------------

pub async fn device_known(db: &Db, user_id: i64, device_hash: &str) -> sqlx::Result<bool> {
    const SQL: &str = "SELECT COUNT(*) FROM known_devices WHERE user_id = $1 AND device_hash = $2";
    db_run!(db, pool => sqlx::query_scalar::<_, i64>(SQL).bind(user_id).bind(device_hash).fetch_one(pool).await.map(|n| n > 0))
}

/// Remembers (or refreshes) a browser that logged in; keeps the newest [`MAX_DEVICES`] per account.
pub async fn remember_device(db: &Db, user_id: i64, device_hash: &str, now: OffsetDateTime) -> sqlx::Result<()> {
    const UPSERT: &str = "INSERT INTO known_devices (user_id, device_hash, created_at, last_used_at) \
        VALUES ($1, $2, $3, $3) ON CONFLICT (user_id, device_hash) DO UPDATE SET last_used_at = $3";
    const PRUNE: &str = "DELETE FROM known_devices WHERE user_id = $1 AND id NOT IN \
        (SELECT id FROM known_devices WHERE user_id = $1 ORDER BY last_used_at DESC, id DESC LIMIT $2)";
    db_run!(db, pool => {
        sqlx::query(UPSERT).bind(user_id).bind(device_hash).bind(now).execute(pool).await?;
        sqlx::query(PRUNE).bind(user_id).bind(MAX_DEVICES).execute(pool).await.map(|_| ())
    })
}

/// Browsers remembered per account.
pub const MAX_DEVICES: i64 = 20;

// ---- signed-in devices ----------------------------------------------------------------------------

#[derive(sqlx::FromRow, serde::Serialize, Debug, Clone)]
pub struct SessionRow {
    pub id: String,
    pub browser: String,
    pub place: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub last_seen_at: OffsetDateTime,
}

pub async fn insert_session(
    db: &Db,
    id: &str,
    user_id: i64,
    epoch: i64,
    browser: &str,
    place: &str,
    now: OffsetDateTime,
) -> sqlx::Result<()> {
    const SQL: &str = "INSERT INTO account_sessions (id, user_id, epoch, browser, place, created_at, last_seen_at) \
        VALUES ($1, $2, $3, $4, $5, $6, $6)";
    db_run!(db, pool => sqlx::query(SQL).bind(id).bind(user_id).bind(epoch).bind(browser).bind(place).bind(now).execute(pool).await.map(|_| ()))
}

pub async fn touch_session(db: &Db, id: &str, now: OffsetDateTime) -> sqlx::Result<()> {
    const SQL: &str = "UPDATE account_sessions SET last_seen_at = $2 WHERE id = $1";
    db_run!(db, pool => sqlx::query(SQL).bind(id).bind(now).execute(pool).await.map(|_| ()))
}

pub async fn delete_session(db: &Db, id: &str) -> sqlx::Result<()> {
    const SQL: &str = "DELETE FROM account_sessions WHERE id = $1";
    db_run!(db, pool => sqlx::query(SQL).bind(id).execute(pool).await.map(|_| ()))
}

/// The account's live sessions (this epoch, seen since `since`), most recent first.
pub async fn sessions_of(db: &Db, user_id: i64, epoch: i64, since: OffsetDateTime) -> sqlx::Result<Vec<SessionRow>> {
    const SQL: &str = "SELECT id, browser, place, created_at, last_seen_at FROM account_sessions \
        WHERE user_id = $1 AND epoch = $2 AND last_seen_at > $3 ORDER BY last_seen_at DESC, created_at DESC";
    db_run!(db, pool => sqlx::query_as::<_, SessionRow>(SQL).bind(user_id).bind(epoch).bind(since).fetch_all(pool).await)
}

/// Ends every session of the account but `keep`: a new epoch (the others' no longer matches), which
/// `keep` is moved to. Returns the new epoch.
pub async fn end_other_sessions(tx: &mut Tx, user_id: i64, keep: &str) -> sqlx::Result<i64> {
    tx_run!(tx, conn => {
        let epoch = sqlx::query_scalar::<_, i64>(
            "UPDATE users SET session_epoch = session_epoch + 1 WHERE id = $1 RETURNING session_epoch",
        )
        .bind(user_id)
        .fetch_one(&mut *conn)
        .await?;
        sqlx::query("DELETE FROM account_sessions WHERE user_id = $1 AND id <> $2")
            .bind(user_id)
            .bind(keep)
            .execute(&mut *conn)
            .await?;
        sqlx::query("UPDATE account_sessions SET epoch = $2 WHERE id = $1")
            .bind(keep)
            .bind(epoch)
            .execute(&mut *conn)
            .await?;
        Ok(epoch)
    })
}

/// Forgets session rows nobody has used for `idle` (their sessions have expired).
pub async fn purge_sessions(db: &Db, before: OffsetDateTime) -> sqlx::Result<u64> {
    const SQL: &str = "DELETE FROM account_sessions WHERE last_seen_at < $1";
    db_run!(db, pool => sqlx::query(SQL).bind(before).execute(pool).await.map(|r| r.rows_affected()))
}

/// An earlier link of the same purpose stops working when a new one is sent.
pub async fn retire_tokens(tx: &mut Tx, user_id: i64, purpose: &str, now: OffsetDateTime) -> sqlx::Result<()> {
    const SQL: &str = "UPDATE user_tokens SET used_at = $3 WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL";
    tx_run!(tx, conn => sqlx::query(SQL).bind(user_id).bind(purpose).bind(now).execute(conn).await.map(|_| ()))
}

// ---- accounts made in bulk (a student import) -----------------------------------------------------

/// The password hash of an account made without a password: not a PHC string, so no password ever
/// matches it; the owner sets one through an emailed link.
pub const NO_PASSWORD: &str = "!none";

/// The accounts of these addresses (already trimmed and lowercased): (id, email).
pub async fn ids_by_emails(tx: &mut Tx, emails: &[&str]) -> sqlx::Result<Vec<(i64, String)>> {
    let mut found = Vec::new();
    for chunk in emails.chunks(crate::db::BATCH_ROWS) {
        let sql = format!(
            "SELECT id, email FROM users WHERE email IN ({})",
            crate::db::values_list(chunk.len(), "{}", 1)
        );
        let rows = tx_run!(&mut *tx, conn => {
            let mut q = sqlx::query_as::<_, (i64, String)>(&sql);
            for email in chunk {
                q = q.bind(*email);
            }
            q.fetch_all(conn).await
        })?;
        found.extend(rows);
    }
    Ok(found)
}

/// Creates student accounts without a password ([`NO_PASSWORD`]) and unconfirmed addresses, in
/// batches: `people` are (email, name). Returns (id, email) of each.
pub async fn insert_students_without_password(
    tx: &mut Tx,
    people: &[(&str, &str)],
    now: OffsetDateTime,
) -> sqlx::Result<Vec<(i64, String)>> {
    let mut made = Vec::with_capacity(people.len());
    for chunk in people.chunks(crate::db::BATCH_ROWS) {
        let sql = format!(
            "INSERT INTO users (email, name, password_hash, role, created_at, updated_at) VALUES {} RETURNING id, email",
            crate::db::values_list(chunk.len(), "({}, {}, $1, 'student', $2, $2)", 3)
        );
        let rows = tx_run!(&mut *tx, conn => {
            let mut q = sqlx::query_as::<_, (i64, String)>(&sql).bind(NO_PASSWORD).bind(now);
            for (email, name) in chunk {
                q = q.bind(*email).bind(*name);
            }
            q.fetch_all(conn).await
        })?;
        made.extend(rows);
    }
    Ok(made)
}

/// Single-use links of one purpose for many accounts: (user id, token hash, email it goes to).
pub async fn insert_tokens_many(
    tx: &mut Tx,
    purpose: &str,
    tokens: &[(i64, String, String)],
    expires_at: OffsetDateTime,
    now: OffsetDateTime,
) -> sqlx::Result<()> {
    for chunk in tokens.chunks(crate::db::BATCH_ROWS) {
        let sql = format!(
            "INSERT INTO user_tokens (user_id, purpose, token_hash, email, expires_at, created_at) VALUES {}",
            crate::db::values_list(chunk.len(), "({}, $1, {}, {}, $2, $3)", 4)
        );
        tx_run!(&mut *tx, conn => {
            let mut q = sqlx::query(&sql).bind(purpose).bind(expires_at).bind(now);
            for (user_id, hash, email) in chunk {
                q = q.bind(*user_id).bind(hash.as_str()).bind(email.as_str());
            }
            q.execute(conn).await.map(|_| ())
        })?;
    }
    Ok(())
}
