//! What accounts do, without HTTP: each multi-row change in one transaction, with the email it causes
//! queued inside it.

use minijinja::context;
use serde_json::json;
use time::Duration;

use super::handlers::{RESET_LINK_LIFETIME, VERIFY_LINK_LIFETIME};
use super::store::{self, User};
use super::{password, tokens};
use crate::db::{Db, is_unique_violation};
use crate::domain::{Email, NewPassword, PersonName};
use crate::mail::{self, Category, Outgoing};
use crate::web::{AppError, AppState};

pub const VERIFY: &str = "verify_email";
pub const RESET: &str = "reset_password";

/// Failed logins allowed before the account backs off.
pub const FREE_ATTEMPTS: i64 = 5;
/// The longest an attacker can keep a real user out by guessing: the backoff stops growing here.
pub const MAX_LOCK: Duration = Duration::minutes(15);

/// The wait after `failed` consecutive failures (none for the first few).
pub fn lock_for(failed: i64) -> Option<Duration> {
    (failed >= FREE_ATTEMPTS).then(|| {
        let exp = (failed - FREE_ATTEMPTS).min(10);
        Duration::seconds(30 << exp).min(MAX_LOCK)
    })
}

fn link(state: &AppState, path: &str, token: &str) -> String {
    format!("{}{path}?token={token}", state.config.base_url)
}

async fn queue_verification(
    state: &AppState,
    tx: &mut crate::db::Tx,
    user_id: i64,
    name: &str,
    email: &str,
    changing: bool,
) -> Result<(), AppError> {
    let now = state.clock.now();
    store::retire_tokens(tx, user_id, VERIFY, now).await?;
    let (token, hash) = tokens::new_token();
    store::insert_token(tx, user_id, VERIFY, &hash, email, now + VERIFY_LINK_LIFETIME, now).await?;
    let subject = if changing {
        "Confirm your new email address".to_owned()
    } else {
        format!("Confirm your email for {}", state.catalog().site.name)
    };
    mail::enqueue(
        tx,
        state,
        Outgoing {
            to: email,
            to_name: name,
            subject,
            template: "verify_email",
            ctx: context! { link => link(state, "/verify-email", &token), changing, days => VERIFY_LINK_LIFETIME.whole_days() },
            category: Category::Transactional,
            dedupe_key: None,
            campaign: None,
        },
    )
    .await?;
    Ok(())
}

/// Creates a student account and queues its confirmation email. `None` when the email is taken.
pub async fn create_account(
    state: &AppState,
    email: &Email,
    name: &PersonName,
    password_hash: &str,
) -> Result<Option<(i64, i64)>, AppError> {
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let user_id = match store::insert_user(
        &mut tx,
        email.as_str(),
        name.as_str(),
        password_hash,
        "student",
        None,
        now,
    )
    .await
    {
        Ok(id) => id,
        Err(e) if is_unique_violation(&e) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    queue_verification(state, &mut tx, user_id, name.as_str(), email.as_str(), false).await?;
    tx.commit().await?;
    state.mail_wakeup.notify_one();
    Ok(Some((user_id, 0)))
}

pub enum Login {
    Ok { user_id: i64, epoch: i64 },
    Wrong,
    Locked { retry_after: Duration },
}

/// Checks a login attempt, with a per-account backoff kept in the database. An unknown email costs
/// the same hashing time as a known one.
pub async fn check_login(state: &AppState, email: Option<&Email>, password: &str) -> Result<Login, AppError> {
    let creds = match email {
        Some(email) => store::credentials(&state.db, email.as_str()).await?,
        None => None,
    };
    let now = state.clock.now();
    if let Some(c) = &creds
        && let Some(until) = c.locked_until
        && until > now
    {
        return Ok(Login::Locked {
            retry_after: until - now,
        });
    }
    let ok = password::verify(password, creds.as_ref().map(|c| c.password_hash.clone())).await?;
    match creds {
        Some(c) if ok => {
            store::record_login(&state.db, c.id).await?;
            Ok(Login::Ok {
                user_id: c.id,
                epoch: c.session_epoch,
            })
        }
        Some(c) => {
            let failed = c.failed_logins + 1;
            let lock = lock_for(failed);
            store::record_failed_login(&state.db, c.id, failed, lock.map(|d| now + d)).await?;
            tracing::info!(user_id = c.id, failed, locked = lock.is_some(), "failed login");
            Ok(Login::Wrong)
        }
        None => Ok(Login::Wrong),
    }
}

pub async fn password_matches(state: &AppState, user_id: i64, password: &str) -> Result<bool, AppError> {
    let stored = store::credentials_by_id(&state.db, user_id)
        .await?
        .map(|c| c.password_hash);
    Ok(password::verify(password, stored).await?)
}

/// Sends a (new) confirmation link for `email`: the account's own, or the one it is changing to.
pub async fn send_verification(state: &AppState, user: &User, email: &str) -> Result<(), AppError> {
    let mut tx = state.db.begin().await?;
    queue_verification(state, &mut tx, user.id, &user.name, email, email != user.email).await?;
    tx.commit().await?;
    state.mail_wakeup.notify_one();
    Ok(())
}

pub enum Verified {
    Ok(String),
    Taken,
    Invalid,
}

pub async fn verify_email(state: &AppState, token: &str) -> Result<Verified, AppError> {
    if token.is_empty() || token.len() > 200 {
        return Ok(Verified::Invalid);
    }
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let Some(used) = store::use_token(&mut tx, VERIFY, &tokens::hash(token), now).await? else {
        return Ok(Verified::Invalid);
    };
    match store::verify_email(&mut tx, used.user_id, &used.email, now).await {
        Ok(()) => {}
        Err(e) if is_unique_violation(&e) => return Ok(Verified::Taken),
        Err(e) => return Err(e.into()),
    }
    tx.commit().await?;
    Ok(Verified::Ok(used.email))
}

/// Queues a reset link if the account exists; does nothing otherwise.
pub async fn send_reset(state: &AppState, email: &Email) -> Result<(), AppError> {
    let Some(user) = store::user_by_email(&state.db, email.as_str()).await? else {
        return Ok(());
    };
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    store::retire_tokens(&mut tx, user.id, RESET, now).await?;
    let (token, hash) = tokens::new_token();
    store::insert_token(
        &mut tx,
        user.id,
        RESET,
        &hash,
        &user.email,
        now + RESET_LINK_LIFETIME,
        now,
    )
    .await?;
    mail::enqueue(
        &mut tx,
        state,
        Outgoing {
            to: &user.email,
            to_name: &user.name,
            subject: format!("Reset your password for {}", state.catalog().site.name),
            template: "reset_password",
            ctx: context! { link => link(state, "/reset-password", &token), minutes => RESET_LINK_LIFETIME.whole_minutes() },
            category: Category::Transactional,
            dedupe_key: None,
            campaign: None,
        },
    )
    .await?;
    tx.commit().await?;
    state.mail_wakeup.notify_one();
    Ok(())
}

/// Uses a reset link: sets the password, ends every session, and confirms the email it was sent to
/// (opening the link proves the person reads it). Returns the user and the new session epoch.
pub async fn reset_password(
    state: &AppState,
    token: &str,
    password_hash: &str,
) -> Result<Option<(i64, i64)>, AppError> {
    if token.is_empty() || token.len() > 200 {
        return Ok(None);
    }
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let Some(used) = store::use_token(&mut tx, RESET, &tokens::hash(token), now).await? else {
        return Ok(None);
    };
    let epoch = store::set_password(&mut tx, used.user_id, password_hash, now).await?;
    if let Err(e) = store::verify_email(&mut tx, used.user_id, &used.email, now).await
        && !is_unique_violation(&e)
    {
        return Err(e.into());
    }
    tx.commit().await?;
    Ok(Some((used.user_id, epoch)))
}

pub async fn change_password(state: &AppState, user_id: i64, password_hash: &str) -> Result<i64, AppError> {
    let mut tx = state.db.begin().await?;
    let epoch = store::set_password(&mut tx, user_id, password_hash, state.clock.now()).await?;
    tx.commit().await?;
    Ok(epoch)
}

/// Everything we hold about a person, as JSON.
pub async fn export(state: &AppState, user: &User) -> Result<serde_json::Value, AppError> {
    let emails = mail::store::for_recipient(&state.db, &user.email).await?;
    let programs = crate::learning::programs_of(state, user).await?;
    let unsubscribed_at = mail::store::unsubscribed_at(&state.db, &user.email).await?;
    let orders = crate::payments::store::for_user(&state.db, user.id).await?;
    let rfc3339 = |t: time::OffsetDateTime| t.format(&time::format_description::well_known::Rfc3339).ok();
    Ok(json!({
        "exported_at": rfc3339(state.clock.now()),
        "account": {
            "name": user.name,
            "email": user.email,
            "email_verified_at": user.email_verified_at.and_then(rfc3339),
            "role": user.role,
            "created_at": rfc3339(user.created_at),
        },
        "programs": programs,
        "orders": orders,
        "marketing_email": if unsubscribed_at.is_some() { "unsubscribed" } else { "subscribed" },
        "emails_sent_to_you": emails,
    }))
}

/// Deletes the account and the personal data tied to it (links, emails, the pre-enrollment entry). Orders, when there are any,
/// stay for the books with the person's details removed.
pub async fn delete_account(state: &AppState, user: &User) -> Result<(), AppError> {
    let mut tx = state.db.begin().await?;
    mail::store::delete_for_recipient(&mut tx, &user.email).await?;
    crate::payments::store::anonymise_for_user(&mut tx, user.id).await?;
    // The pre-enrollment list entry is theirs only if they proved they own the address.
    if user.email_verified_at.is_some() {
        crate::preenroll::store::delete_for_email(&mut tx, &user.email).await?;
        mail::store::forget_address(&mut tx, &user.email).await?;
    }
    store::delete_user(&mut tx, user.id).await?;
    tx.commit().await?;
    tracing::info!(user_id = user.id, "account deleted");
    Ok(())
}

/// `learnwell instructor add`: creates an instructor (email confirmed: the operator vouches for it)
/// or promotes an existing account. Returns whether it created one.
pub async fn add_instructor(
    db: &Db,
    email: &Email,
    name: &PersonName,
    password: Option<&NewPassword>,
    now: time::OffsetDateTime,
) -> anyhow::Result<bool> {
    if let Some(user) = store::user_by_email(db, email.as_str()).await? {
        store::set_role(db, user.id, "instructor", now).await?;
        return Ok(false);
    }
    let password = password.ok_or_else(|| anyhow::anyhow!("a password is needed to create an account"))?;
    let hash = password::hash(password).await?;
    let mut tx = db.begin().await?;
    store::insert_user(
        &mut tx,
        email.as_str(),
        name.as_str(),
        &hash,
        "instructor",
        Some(now),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_bounded() {
        assert_eq!(lock_for(1), None);
        assert_eq!(lock_for(4), None);
        assert_eq!(lock_for(5), Some(Duration::seconds(30)));
        assert_eq!(lock_for(6), Some(Duration::seconds(60)));
        assert_eq!(lock_for(9), Some(Duration::seconds(480)));
        assert_eq!(lock_for(10), Some(MAX_LOCK));
        assert_eq!(lock_for(1000), Some(MAX_LOCK));
    }
}
