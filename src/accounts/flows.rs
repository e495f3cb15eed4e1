//! What accounts do, without HTTP: each multi-row change in one transaction, with the email it causes
//! queued inside it.

use minijinja::context;
use serde_json::json;
use time::Duration;

use super::handlers::{RESET_LINK_LIFETIME, VERIFY_LINK_LIFETIME};
use super::store::{self, User};
use super::{password, tokens};
use crate::context::Ctx;
use crate::db::{Db, is_unique_violation};
use crate::domain::{Email, NewPassword, PersonName};
use crate::error::Error;
use crate::mail::{self, Category, Outgoing};

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

fn link(state: &Ctx, path: &str, token: &str) -> String {
    format!("{}{path}?token={token}", state.config.base_url)
}

/// Account mail to one address: at most one message of a kind per [`PER_ADDRESS_EVERY`].
pub const PER_ADDRESS_EVERY: Duration = Duration::minutes(10);
/// Confirmation links one account may ask for in a day (to any addresses).
pub const PER_ACCOUNT_PER_DAY: i64 = 5;

/// The campaign tag of an account's confirmation emails (the throttles count them).
fn verify_campaign(user_id: i64) -> String {
    format!("account-verify:{user_id}")
}

/// Why a confirmation link was not sent now.
#[derive(Debug, PartialEq, Eq)]
pub enum Throttled {
    /// One went to this address a moment ago; the next may go after this long.
    Address(Duration),
    /// The account asked for too many today.
    Account,
}

/// May the account have another confirmation link sent to `email` now?
pub async fn may_send_verification(state: &Ctx, user_id: i64, email: &str) -> Result<Result<(), Throttled>, Error> {
    let now = state.clock.now();
    let recent = mail::store::recent_to(&state.db, email, "account-verify:", now - PER_ADDRESS_EVERY).await?;
    if recent > 0 {
        return Ok(Err(Throttled::Address(PER_ADDRESS_EVERY)));
    }
    let today = mail::store::recent_in(&state.db, &verify_campaign(user_id), now - Duration::days(1)).await?;
    if today >= PER_ACCOUNT_PER_DAY {
        return Ok(Err(Throttled::Account));
    }
    Ok(Ok(()))
}

async fn queue_verification(
    state: &Ctx,
    tx: &mut crate::db::Tx,
    user_id: i64,
    name: &str,
    email: &str,
    changing: bool,
    next: Option<&str>,
) -> Result<(), Error> {
    let now = state.clock.now();
    store::retire_tokens(tx, user_id, VERIFY, now).await?;
    let (token, hash) = tokens::new_token();
    store::insert_token(tx, user_id, VERIFY, &hash, email, next, now + VERIFY_LINK_LIFETIME, now).await?;
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
            campaign: Some(verify_campaign(user_id)),
        },
    )
    .await?;
    Ok(())
}

pub enum SignedUp {
    /// A new account, waiting for its address to be confirmed by the emailed link.
    Created(i64),
    /// The address already has an account: its owner was told (at most once per ten minutes).
    AlreadyThere,
}

/// Creates a student account and queues its confirmation email (which continues to `next`). When
/// the address already has an account, nothing is created and the owner gets an email saying so:
/// the caller answers the same either way, so sign-up does not reveal who has an account.
pub async fn sign_up(
    state: &Ctx,
    email: &Email,
    name: &PersonName,
    password_hash: &str,
    next: &str,
) -> Result<SignedUp, Error> {
    match create_account(state, email, name, password_hash, next).await? {
        Some(id) => Ok(SignedUp::Created(id)),
        None => {
            let now = state.clock.now();
            let recent =
                mail::store::recent_to(&state.db, email.as_str(), "account-exists", now - PER_ADDRESS_EVERY).await?;
            if recent == 0 {
                let mut tx = state.db.begin().await?;
                mail::enqueue(
                    &mut tx,
                    state,
                    Outgoing {
                        to: email.as_str(),
                        // Never the name typed into the form: it is not the owner's.
                        to_name: "",
                        subject: format!("You already have an account with {}", state.catalog().site.name),
                        template: "account_exists",
                        ctx: context! {
                            login => format!("{}/login", state.config.base_url),
                            reset => format!("{}/forgot-password", state.config.base_url),
                        },
                        category: Category::Transactional,
                        dedupe_key: None,
                        campaign: Some("account-exists".to_owned()),
                    },
                )
                .await?;
                tx.commit().await?;
                state.mail_wakeup.notify_one();
            }
            Ok(SignedUp::AlreadyThere)
        }
    }
}

async fn create_account(
    state: &Ctx,
    email: &Email,
    name: &PersonName,
    password_hash: &str,
    next: &str,
) -> Result<Option<i64>, Error> {
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
    queue_verification(
        state,
        &mut tx,
        user_id,
        name.as_str(),
        email.as_str(),
        false,
        Some(next),
    )
    .await?;
    tx.commit().await?;
    state.mail_wakeup.notify_one();
    crate::telemetry::signed_up();
    Ok(Some(user_id))
}

pub enum Login {
    Ok {
        user_id: i64,
        epoch: i64,
    },
    /// A wrong password, an unknown address, or a locked account without a known device: the
    /// caller cannot tell which, so nobody learns whether an account exists or is locked.
    Wrong,
}

/// Checks a login attempt, with a per-account backoff kept in the database. An unknown email, a
/// wrong password and a locked account cost the same hashing time and get the same answer. The
/// account's owner is let in while it backs off when their password is right and their browser
/// logged in to it before (`device`, the hash of its device cookie).
pub async fn check_login(
    state: &Ctx,
    email: Option<&Email>,
    password: &str,
    device: Option<&str>,
) -> Result<Login, Error> {
    let creds = match email {
        Some(email) => store::credentials(&state.db, email.as_str()).await?,
        None => None,
    };
    let now = state.clock.now();
    let ok = password::verify(password, creds.as_ref().map(|c| c.password_hash.clone())).await?;
    let Some(c) = creds else {
        crate::telemetry::login_failed();
        return Ok(Login::Wrong);
    };
    let locked = c.locked_until.is_some_and(|until| until > now);
    if ok {
        let known = match device {
            Some(d) if locked => store::device_known(&state.db, c.id, d).await?,
            _ => false,
        };
        if locked && !known {
            tracing::info!(
                user_id = c.id,
                "right password while backing off, from an unknown browser: refused"
            );
            crate::telemetry::login_failed();
            return Ok(Login::Wrong);
        }
        store::record_login(&state.db, c.id).await?;
        return Ok(Login::Ok {
            user_id: c.id,
            epoch: c.session_epoch,
        });
    }
    note_wrong_password(state, c.id, c.failed_logins).await?;
    crate::telemetry::login_failed();
    Ok(Login::Wrong)
}

async fn note_wrong_password(state: &Ctx, user_id: i64, failed_before: i64) -> Result<(), Error> {
    let failed = failed_before + 1;
    let lock = lock_for(failed);
    store::record_failed_login(&state.db, user_id, failed, lock.map(|d| state.clock.now() + d)).await?;
    tracing::info!(user_id, failed, locked = lock.is_some(), "wrong password");
    Ok(())
}

/// A signed-in person's own password, asked again before a sensitive change.
#[derive(Debug, PartialEq, Eq)]
pub enum OwnPassword {
    Right,
    Wrong,
    /// Too many wrong answers (here or at log-in): try again after this long.
    BackingOff(Duration),
}

/// Checks the current password on the account pages, with the same backoff as log-in, shared per
/// account: a hijacked session cannot guess the password, nor keep the hashing threads busy.
pub async fn check_own_password(state: &Ctx, user_id: i64, password: &str) -> Result<OwnPassword, Error> {
    let Some(c) = store::credentials_by_id(&state.db, user_id).await? else {
        return Ok(OwnPassword::Wrong);
    };
    let now = state.clock.now();
    if let Some(until) = c.locked_until
        && until > now
    {
        return Ok(OwnPassword::BackingOff(until - now));
    }
    if password::verify(password, Some(c.password_hash)).await? {
        if c.failed_logins > 0 {
            store::record_login(&state.db, c.id).await?;
        }
        Ok(OwnPassword::Right)
    } else {
        note_wrong_password(state, c.id, c.failed_logins).await?;
        Ok(OwnPassword::Wrong)
    }
}

/// Sends a (new) confirmation link for `email`: the account's own (its link signs in and goes on to
/// `next`, like the sign-up's), or the one it is changing to (`next` none: it only switches the
/// address). The caller checks [`may_send_verification`] first.
pub async fn send_verification(state: &Ctx, user: &User, email: &str, next: Option<&str>) -> Result<(), Error> {
    let mut tx = state.db.begin().await?;
    let changing = email != user.email;
    let next = if changing { None } else { next };
    queue_verification(state, &mut tx, user.id, &user.name, email, changing, next).await?;
    tx.commit().await?;
    state.mail_wakeup.notify_one();
    Ok(())
}

pub enum Verified {
    /// Confirmed. `next` is set for a sign-up's own link: where the person continues, signed in.
    Ok {
        email: String,
        user_id: i64,
        epoch: i64,
        next: Option<String>,
    },
    Taken,
    Invalid,
}

pub async fn verify_email(state: &Ctx, token: &str) -> Result<Verified, Error> {
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
    let epoch = store::epoch_in(&mut tx, used.user_id).await?;
    tx.commit().await?;
    Ok(Verified::Ok {
        email: used.email,
        user_id: used.user_id,
        epoch,
        next: used.next,
    })
}

/// Queues a reset link if the account exists and none went to it in the last ten minutes; does
/// nothing otherwise.
pub async fn send_reset(state: &Ctx, email: &Email) -> Result<(), Error> {
    let Some(user) = store::user_by_email(&state.db, email.as_str()).await? else {
        return Ok(());
    };
    let now = state.clock.now();
    let campaign = format!("account-reset:{}", user.id);
    if mail::store::recent_in(&state.db, &campaign, now - PER_ADDRESS_EVERY).await? > 0 {
        tracing::info!(
            user_id = user.id,
            "reset link asked for again within ten minutes: not sent"
        );
        return Ok(());
    }
    let mut tx = state.db.begin().await?;
    store::retire_tokens(&mut tx, user.id, RESET, now).await?;
    let (token, hash) = tokens::new_token();
    store::insert_token(
        &mut tx,
        user.id,
        RESET,
        &hash,
        &user.email,
        None,
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
            campaign: Some(campaign),
        },
    )
    .await?;
    tx.commit().await?;
    state.mail_wakeup.notify_one();
    Ok(())
}

/// Uses a reset link: sets the password, ends every session, and confirms the email it was sent to
/// (opening the link proves the person reads it). Returns the user and the new session epoch.
pub async fn reset_password(state: &Ctx, token: &str, password_hash: &str) -> Result<Option<(i64, i64)>, Error> {
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

pub async fn change_password(state: &Ctx, user_id: i64, password_hash: &str) -> Result<i64, Error> {
    let mut tx = state.db.begin().await?;
    let epoch = store::set_password(&mut tx, user_id, password_hash, state.clock.now()).await?;
    tx.commit().await?;
    Ok(epoch)
}

/// Everything we hold about a person, as JSON.
///
/// What was sent to the account's address (and whether it unsubscribed from marketing) belongs to
/// whoever proved they read it: it is included only once the address is confirmed.
pub async fn export(state: &Ctx, user: &User) -> Result<serde_json::Value, Error> {
    let confirmed = user.email_verified_at.is_some();
    let emails = if confirmed {
        json!(mail::store::for_recipient(&state.db, &user.email).await?)
    } else {
        json!("Confirm your email address to see the emails sent to it.")
    };
    let programs = crate::learning::programs_of(state, user).await?;
    let marketing = if confirmed {
        let unsubscribed_at = mail::store::unsubscribed_at(&state.db, &user.email).await?;
        json!(if unsubscribed_at.is_some() {
            "unsubscribed"
        } else {
            "subscribed"
        })
    } else {
        json!("shown once your email address is confirmed")
    };
    let orders = crate::payments::store::for_user(&state.db, user.id).await?;
    let checkins = crate::checkins::export_for(state, user).await?;
    let acknowledgements = crate::learning::store::acknowledgements_of_user(&state.db, user.id).await?;
    let notes = crate::learning::store::notes_of_user(&state.db, user.id).await?;
    let quiz_answers = crate::quiz::store::answers_of_user(&state.db, user.id).await?;
    let imported = crate::imports::store::welcome_of(&state.db, user.id).await?;
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
        "health_acknowledgements": acknowledgements,
        "lesson_notes": notes,
        "quiz_answers": quiz_answers,
        "orders": orders,
        "checkins": checkins,
        // An account made by a student import: for which program, and when its welcome went out.
        "imported": imported.map(|(program, at)| json!({ "program": program, "welcome_email_queued_at": rfc3339(at) })),
        "marketing_email": marketing,
        "emails_sent_to_you": emails,
    }))
}

/// Deletes the account and the personal data tied to it (links, emails, the pre-enrollment entry,
/// check-ins with their consents). Orders, when there are any,
/// stay for the books with the person's details removed.
pub async fn delete_account(state: &Ctx, user: &User) -> Result<(), Error> {
    let mut tx = state.db.begin().await?;
    crate::payments::store::anonymise_for_user(&mut tx, user.id).await?;
    crate::checkins::delete_for_user(&mut tx, user.id).await?;
    // The mail history, the list entry and the unsubscribe state of the address are theirs only if
    // they proved they own it; otherwise they may be someone else's, mail still waiting included.
    if user.email_verified_at.is_some() {
        mail::store::delete_for_recipient(&mut tx, &user.email).await?;
        crate::preenroll::store::delete_for_email(&mut tx, &user.email).await?;
        mail::store::forget_address(&mut tx, &user.email).await?;
    }
    crate::learning::store::delete_personal(&mut tx, user.id).await?;
    crate::quiz::store::delete_personal(&mut tx, user.id).await?;
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
