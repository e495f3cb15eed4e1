//! What pre-enrollment does, without HTTP. Double opt-in: the form queues a confirmation email,
//! and only a confirmed entry is told about a launch.

use minijinja::context;
use time::Duration;

use super::store::{self, OnList};
use crate::accounts::tokens;
use crate::catalog::store::CourseSummary;
use crate::context::Ctx;
use crate::domain::{Email, PersonName};
use crate::error::Error;
use crate::mail::{self, Category, Outgoing};

/// How long a confirmation link works.
pub const CONFIRM_LINK_LIFETIME: Duration = Duration::days(7);
/// An entry gets at most one confirmation email per this long, however often the form is sent.
pub const RESEND_AFTER: Duration = Duration::minutes(10);
/// Unconfirmed entries untouched for this long are deleted.
pub const FORGET_UNCONFIRMED_AFTER: Duration = Duration::days(30);

/// The consent line shown on the form (and kept with the entry).
pub const CONSENT: &str = "We will email you a link to confirm. After that we write when enrollment opens and, now \
    and then, with news about these programs. Every email has an unsubscribe link; we never share your address.";

pub struct Request<'a> {
    pub name: PersonName,
    pub email: Email,
    pub courses: Vec<&'a CourseSummary>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Submitted {
    /// A confirmation email is on its way.
    EmailQueued,
    /// One went out less than [`RESEND_AFTER`] ago: the programs were added, no new email.
    RecentlySent,
}

/// Adds the programs to the entry for this address (creating it) and queues a confirmation email,
/// all in one transaction.
pub async fn submit(state: &Ctx, req: Request<'_>) -> Result<Submitted, Error> {
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let entry = store::upsert_entry(&mut tx, req.email.as_str(), req.name.as_str(), CONSENT, now).await?;
    for course in &req.courses {
        store::add_course(&mut tx, entry.id, course.id, now).await?;
    }
    if entry.confirm_sent_at.is_some_and(|at| now - at < RESEND_AFTER) {
        tx.commit().await?;
        return Ok(Submitted::RecentlySent);
    }
    let (token, hash) = tokens::new_token();
    store::insert_token(&mut tx, entry.id, &hash, now + CONFIRM_LINK_LIFETIME, now).await?;
    store::mark_confirm_sent(&mut tx, entry.id, now).await?;
    let titles: Vec<String> = req.courses.iter().map(|c| c.title.clone()).collect();
    let site_name = state.catalog().site.name.clone();
    mail::enqueue(
        &mut tx,
        state,
        Outgoing {
            to: &entry.email,
            to_name: &entry.name,
            subject: format!("Confirm your pre-enrollment with {site_name}"),
            template: "preenroll_confirm",
            ctx: context! {
                link => format!("{}/preenroll/confirm?token={token}", state.config.base_url),
                titles,
                days => CONFIRM_LINK_LIFETIME.whole_days(),
            },
            category: Category::ListConfirmation,
            dedupe_key: None,
            campaign: None,
        },
    )
    .await?;
    tx.commit().await?;
    state.mail_wakeup.notify_one();
    Ok(Submitted::EmailQueued)
}

#[derive(Debug)]
pub enum Confirmed {
    /// Confirmed now (also subscribes the address again if it had unsubscribed).
    Now { name: String, list: Vec<OnList> },
    /// The link was used before and the entry is confirmed: just show the list.
    Already { name: String, list: Vec<OnList> },
    /// Unknown, expired, or used on an entry that is gone.
    Invalid,
}

pub async fn confirm(state: &Ctx, token: &str) -> Result<Confirmed, Error> {
    if token.is_empty() || token.len() > 100 {
        return Ok(Confirmed::Invalid);
    }
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let Some(row) = store::find_token(&mut tx, &tokens::hash(token)).await? else {
        return Ok(Confirmed::Invalid);
    };
    if row.expires_at <= now {
        return Ok(Confirmed::Invalid);
    }
    if row.used_at.is_some() || !store::use_token(&mut tx, row.id, now).await? {
        let list = store::courses_of(&mut tx, row.preenrollment_id).await?;
        let name = store::entry_name(&mut tx, row.preenrollment_id).await?;
        return Ok(match name {
            Some((name, true)) => Confirmed::Already { name, list },
            _ => Confirmed::Invalid,
        });
    }
    let email = store::confirm(&mut tx, row.preenrollment_id, now).await?;
    mail::store::resubscribe(&mut tx, &email).await?;
    let list = store::courses_of(&mut tx, row.preenrollment_id).await?;
    let name = store::entry_name(&mut tx, row.preenrollment_id)
        .await?
        .map(|(n, _)| n)
        .unwrap_or_default();
    tx.commit().await?;
    Ok(Confirmed::Now { name, list })
}

/// Deletes what was never confirmed (the hourly job).
pub async fn purge_unconfirmed(state: &Ctx) -> Result<u64, Error> {
    let cutoff = state.clock.now() - FORGET_UNCONFIRMED_AFTER;
    Ok(store::purge_unconfirmed(&state.db, cutoff).await?)
}
