//! Launching a program (pre-enrollment → open), now or at a scheduled time, and the instructor's
//! other status changes. A launch writes one email per confirmed, subscribed pre-enrollee in the
//! same transaction as the status change, each with a key unique per launch and recipient, so
//! nobody is told twice: not when Launch is pressed twice, not with two instances, not after a
//! restart halfway through sending.

pub mod store;

use minijinja::context;
use time::OffsetDateTime;

use crate::catalog::store::bump_content_version;
use crate::context::Ctx;
use crate::db::Tx;
use crate::domain::CourseStatus;
use crate::error::Error;
use crate::mail::{self, Category, Outgoing};

#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Opened; this many launch emails were queued.
    Launched {
        emails: usize,
    },
    /// The program was not in pre-enrollment (already launched, or moved by someone else).
    NotInPreenrollment,
    NotFound,
}

/// Launches a program now.
pub async fn launch_now(state: &Ctx, slug: &str, by: Option<i64>) -> Result<Outcome, Error> {
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let Some(course) = store::course(&mut tx, slug).await? else {
        return Ok(Outcome::NotFound);
    };
    // The status change comes first: of two launches at once, the second finds the program open
    // and writes nothing.
    if !store::move_status(&mut tx, course.id, "preenrollment", "open", now).await? {
        return Ok(Outcome::NotInPreenrollment);
    }
    store::cancel_scheduled(&mut tx, course.id).await?;
    let launch_id = store::insert_launch(&mut tx, course.id, now, "done", by, now).await?;
    let emails = notify(&mut tx, state, &course, launch_id, now).await?;
    tx.commit().await?;
    after_change(state).await;
    tracing::info!(program = %course.slug, emails, "program launched");
    Ok(Outcome::Launched { emails })
}

/// Opens the program (already moved to open in `tx`) and queues the launch emails.
async fn notify(
    tx: &mut Tx,
    state: &Ctx,
    course: &store::CourseRow,
    launch_id: i64,
    now: OffsetDateTime,
) -> Result<usize, Error> {
    bump_content_version(tx).await?;
    let catalog = state.catalog();
    let site = &catalog.site;
    let tz = catalog.tz.clone();
    let early_bird_until = (site.early_bird_percent > 0 && site.early_bird_days > 0)
        .then(|| crate::local_time::format_local_date(now + time::Duration::days(site.early_bird_days), &tz));
    let price = catalog
        .courses
        .iter()
        .find(|c| c.id == course.id)
        .map(|c| c.price_cents);
    let recipients = crate::preenroll::store::launch_recipients(tx, course.id).await?;
    let mut queued = 0;
    for r in &recipients {
        let wrote = mail::enqueue(
            tx,
            state,
            Outgoing {
                to: &r.email,
                to_name: &r.name,
                subject: format!("{} is open: you can enroll now", course.title),
                template: "launch",
                ctx: context! {
                    title => course.title.clone(),
                    enroll_url => format!("{}/courses/{}/enroll", state.config.base_url, course.slug),
                    program_url => format!("{}/courses/{}", state.config.base_url, course.slug),
                    price,
                    early_bird_percent => site.early_bird_percent,
                    early_bird_until => early_bird_until.clone(),
                },
                category: Category::Marketing,
                // Per program and person: a launch after "back to pre-enrollment" tells nobody twice.
                dedupe_key: Some(format!("launch:{}:to:{}", course.id, r.entry_id)),
                campaign: Some(format!("launch:{launch_id}")),
            },
        )
        .await?;
        queued += usize::from(wrote);
    }
    store::set_recipients(tx, launch_id, queued as i64).await?;
    Ok(queued)
}

async fn after_change(state: &Ctx) {
    if let Err(e) = state.refresh_catalog().await {
        tracing::warn!(error = format!("{e:#}"), "catalogue not reloaded after a status change");
    }
    state.mail_wakeup.notify_one();
}

#[derive(Debug, PartialEq, Eq)]
pub enum Scheduled {
    Done,
    NotInPreenrollment,
    InThePast,
    NotFound,
}

/// Schedules (or moves) a program's launch. The background job fires it at `at`.
pub async fn schedule(state: &Ctx, slug: &str, at: OffsetDateTime, by: Option<i64>) -> Result<Scheduled, Error> {
    let now = state.clock.now();
    if at <= now {
        return Ok(Scheduled::InThePast);
    }
    let mut tx = state.db.begin().await?;
    let Some(course) = store::course(&mut tx, slug).await? else {
        return Ok(Scheduled::NotFound);
    };
    if course.status != crate::domain::CourseStatus::Preenrollment {
        return Ok(Scheduled::NotInPreenrollment);
    }
    store::cancel_scheduled(&mut tx, course.id).await?;
    match store::insert_launch(&mut tx, course.id, at, "scheduled", by, now).await {
        Ok(_) => {}
        // The same form sent twice at once: the other request scheduled it.
        Err(e) if crate::db::is_unique_violation(&e) => return Ok(Scheduled::Done),
        Err(e) => return Err(e.into()),
    }
    tx.commit().await?;
    Ok(Scheduled::Done)
}

/// Cancels a program's scheduled launch. False when there was none.
pub async fn unschedule(state: &Ctx, slug: &str) -> Result<bool, Error> {
    let mut tx = state.db.begin().await?;
    let Some(course) = store::course(&mut tx, slug).await? else {
        return Ok(false);
    };
    let cancelled = store::cancel_scheduled(&mut tx, course.id).await?;
    tx.commit().await?;
    Ok(cancelled)
}

/// Fires every scheduled launch whose time has come. Each is claimed in its own transaction, so
/// with several instances each launch fires once. Returns how many fired.
pub async fn run_due(state: &Ctx) -> Result<usize, Error> {
    let now = state.clock.now();
    let mut fired = 0;
    for (launch_id, course_id) in store::due(&state.db, now).await? {
        let mut tx = state.db.begin().await?;
        let course = store::course_by_id(&mut tx, course_id).await?;
        let opened = match &course {
            Some(c) => store::move_status(&mut tx, c.id, "preenrollment", "open", now).await?,
            None => false,
        };
        // Launched by hand, closed or archived meanwhile: the schedule is skipped, not fired.
        let status = if opened { "done" } else { "skipped" };
        if !store::claim(&mut tx, launch_id, status, now).await? {
            continue; // another instance took it; dropping `tx` rolls our status change back
        }
        let emails = match (&course, opened) {
            (Some(c), true) => notify(&mut tx, state, c, launch_id, now).await?,
            _ => 0,
        };
        if let (Some(c), true) = (&course, opened) {
            let actor = crate::audit::Actor {
                user_id: None,
                name: "scheduler",
            };
            let detail = format!("scheduled launch; {emails} emails");
            crate::audit::record(&mut tx, actor, "program.launch", &c.slug, &detail, now).await?;
        }
        tx.commit().await?;
        if opened {
            fired += 1;
            tracing::info!(launch_id, emails, "scheduled launch fired");
        } else {
            tracing::info!(
                launch_id,
                "scheduled launch skipped: the program was no longer in pre-enrollment"
            );
        }
    }
    if fired > 0 {
        after_change(state).await;
    }
    Ok(fired)
}

#[derive(Debug, PartialEq, Eq)]
pub enum Moved {
    Done,
    /// Not a move the studio offers (e.g. pre-enrollment → open is a launch).
    NotAllowed,
    NotFound,
}

/// The instructor's other status changes: back to pre-enrollment, close, reopen a closed program.
/// None of them sends email.
pub async fn set_status(state: &Ctx, slug: &str, to: CourseStatus) -> Result<Moved, Error> {
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let Some(course) = store::course(&mut tx, slug).await? else {
        return Ok(Moved::NotFound);
    };
    let allowed = course.status.can_become(to);
    if !allowed || !store::move_status(&mut tx, course.id, course.status.as_str(), to.as_str(), now).await? {
        return Ok(Moved::NotAllowed);
    }
    if to != CourseStatus::Preenrollment {
        store::cancel_scheduled(&mut tx, course.id).await?;
    }
    bump_content_version(&mut tx).await?;
    tx.commit().await?;
    after_change(state).await;
    Ok(Moved::Done)
}
