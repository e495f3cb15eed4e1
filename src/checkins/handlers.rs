//! The check-in pages: consent, the diary's home, logging and editing entries, patterns, the CSV,
//! sharing; and the studio's read-only view of shared diaries.

use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use minijinja::value::Serde;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::definition::{BRISTOL, Field, FieldKind};
use super::store::{self, Consent, Definition};
use super::values::{self, Problem};
use super::view;
use crate::accounts::store::User;
use crate::accounts::{Instructor, SignedIn};
use crate::catalog::Catalog;
use crate::context::Ctx;
use crate::domain::{CourseId, UserId};
use crate::learning::store::Seat;
use crate::web::AppError;

mod entries;
mod patterns;

pub use entries::*;
pub use patterns::*;

/// A program's check-ins as one student reaches them.
struct Place {
    catalog: Arc<Catalog>,
    course_id: i64,
    slug: String,
    title: String,
    seat: Option<Seat>,
    consent: Option<Consent>,
}

impl Place {
    fn course(&self) -> minijinja::Value {
        context! { slug => self.slug.clone(), title => self.title.clone() }
    }

    fn home(&self) -> String {
        format!("/courses/{}/checkins", self.slug)
    }

    /// The module slugs open to this student now (none without a seat).
    fn open_modules(&self, ctx: &Ctx) -> Vec<String> {
        let (Some(seat), Some(program)) = (&self.seat, self.catalog.program_by_id(self.course_id)) else {
            return Vec::new();
        };
        crate::learning::view::progress(
            &program.rows,
            &[],
            seat.last_lesson_id,
            seat.created_at,
            ctx.clock.now(),
            &self.catalog.tz,
        )
        .modules
        .into_iter()
        .filter(|m| m.open)
        .map(|m| m.slug)
        .collect()
    }

    fn module_title(&self, slug: &str) -> Option<String> {
        self.catalog
            .program_by_id(self.course_id)?
            .rows
            .iter()
            .find(|r| r.module_slug == slug)
            .map(|r| r.module_title.clone())
    }
}

/// The program of the URL for a student who has a seat there or kept a diary there (a student whose
/// access ended still reads, downloads and deletes their entries). 404 for an unknown program, 403
/// for anyone else.
async fn place(ctx: &Ctx, user: &User, slug: &str) -> Result<Place, AppError> {
    let catalog = ctx.catalog();
    let program = catalog.program(slug).ok_or(AppError::NotFound)?;
    let (course_id, slug, title) = (program.course_id, program.slug.clone(), program.title.clone());
    let (seat, consent) = tokio::try_join!(
        crate::learning::store::seat(&ctx.db, UserId(user.id), CourseId(course_id)),
        store::consent(&ctx.db, user.id, course_id),
    )?;
    if seat.is_none() && consent.is_none() {
        return Err(AppError::Forbidden);
    }
    Ok(Place {
        catalog,
        course_id,
        slug,
        title,
        seat,
        consent,
    })
}

fn unprocessable(html: axum::response::Html<String>) -> Response {
    (StatusCode::UNPROCESSABLE_ENTITY, html).into_response()
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct NoticeQuery {
    notice: String,
}

fn notice_text(code: &str) -> Option<&'static str> {
    Some(match code {
        "saved" => "Saved.",
        "deleted" => "Entry deleted.",
        "started" => "Check-ins are on. Log your first entry below.",
        "withdrawn" => "Consent withdrawn: your check-ins for this program are deleted.",
        "sharing-on" => "Your instructor can now see your check-ins for this program (read-only).",
        "sharing-off" => "Sharing is off: your instructor cannot see your check-ins.",
        "counts-hidden" => "Counts and streaks are hidden.",
        "counts-shown" => "Counts and streaks are shown.",
        _ => return None,
    })
}

#[derive(Serialize)]
struct CheckinItem {
    slug: String,
    title: String,
    description: String,
    today_entry: Option<i64>,
}

#[derive(Serialize)]
struct Upcoming {
    title: String,
    module: String,
}

/// The diary's home: the consent page until the student consents; then the check-ins open to
/// them, their recent entries, counts (unless hidden) and their choices.
pub async fn home(
    State(state): State<Ctx>,
    SignedIn(user): SignedIn,
    Path(slug): Path<String>,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, AppError> {
    let place = place(&state, &user, &slug).await?;
    let notice = notice_text(&q.notice);
    let defs = store::definitions(&state.db, place.course_id).await?;
    if defs.is_empty() {
        return Err(AppError::NotFound); // this program keeps no check-ins
    }
    let Some(consent) = &place.consent else {
        let ctx = context! { user => Serde(&user), course => place.course(), notice, agree_error => () };
        return Ok(state.render("checkins/consent.html", ctx)?.into_response());
    };
    let today = super::today(&state, &place.catalog.tz);
    let since = view::window_start(today, 30).to_string();
    let (entries, days) = tokio::try_join!(
        store::entries(&state.db, user.id, place.course_id, Some(&since)),
        store::days_logged(&state.db, user.id, place.course_id),
    )?;
    let open = place.open_modules(&state);
    let today_s = today.to_string();
    let mut available = Vec::new();
    let mut upcoming = Vec::new();
    for def in defs.iter().filter(|d| !d.archived) {
        if open.contains(&def.introduced_in) {
            available.push(CheckinItem {
                slug: def.slug.clone(),
                title: def.title.clone(),
                description: def.description.clone(),
                today_entry: entries
                    .iter()
                    .find(|e| e.checkin_id == def.id && e.entry_date == today_s)
                    .map(|e| e.id),
            });
        } else if place.seat.is_some() {
            upcoming.push(Upcoming {
                title: def.title.clone(),
                module: place
                    .module_title(&def.introduced_in)
                    .unwrap_or_else(|| "a later module".to_owned()),
            });
        }
    }
    let tables = view::tables(&defs, &entries).map_err(|e| AppError::Internal(e.into()))?;
    let counts = (!consent.hide_counts).then(|| view::counts(&days, today));
    let ctx = context! {
        user => Serde(&user),
        course => place.course(),
        notice,
        consent => Serde(consent),
        sharing => consent.shared_since.is_some(),
        available => Serde(&available),
        upcoming => Serde(&upcoming),
        tables => Serde(&tables),
        counts => Serde(&counts),
        has_seat => place.seat.is_some(),
        today => today_s,
    };
    Ok(state.render("checkins/home.html", ctx)?.into_response())
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ConsentForm {
    agree: String,
}

/// Consent: an explicit tick and a button. Only a student with a seat can start.
pub async fn consent(
    State(state): State<Ctx>,
    SignedIn(user): SignedIn,
    Path(slug): Path<String>,
    Form(form): Form<ConsentForm>,
) -> Result<Response, AppError> {
    let place = place(&state, &user, &slug).await?;
    if place.consent.is_some() {
        return Ok(Redirect::to(&place.home()).into_response());
    }
    if place.seat.is_none() {
        return Err(AppError::Forbidden);
    }
    if store::definitions(&state.db, place.course_id).await?.is_empty() {
        return Err(AppError::NotFound);
    }
    if form.agree != "yes" {
        let ctx = context! {
            user => Serde(&user),
            course => place.course(),
            agree_error => "Tick the box to say you agree, or leave check-ins off.",
        };
        return Ok(unprocessable(state.render("checkins/consent.html", ctx)?));
    }
    store::give_consent(&state.db, user.id, place.course_id, state.clock.now()).await?;
    Ok(Redirect::to(&format!("{}?notice=started", place.home())).into_response())
}

/// The confirmation page before withdrawing.
pub async fn withdraw_page(
    State(state): State<Ctx>,
    SignedIn(user): SignedIn,
    Path(slug): Path<String>,
) -> Result<Response, AppError> {
    let place = place(&state, &user, &slug).await?;
    if place.consent.is_none() {
        return Ok(Redirect::to(&place.home()).into_response());
    }
    let entries = store::entries(&state.db, user.id, place.course_id, None).await?;
    let ctx = context! { user => Serde(&user), course => place.course(), count => entries.len() };
    Ok(state.render("checkins/withdraw.html", ctx)?.into_response())
}

/// Withdraws consent: every entry of the program and the consent (with sharing) are deleted.
pub async fn withdraw(
    State(state): State<Ctx>,
    SignedIn(user): SignedIn,
    Path(slug): Path<String>,
) -> Result<Response, AppError> {
    let place = place(&state, &user, &slug).await?;
    let mut tx = state.db.begin().await?;
    store::withdraw(&mut tx, user.id, place.course_id).await?;
    tx.commit().await?;
    if place.seat.is_none() {
        return Ok(Redirect::to("/dashboard").into_response());
    }
    Ok(Redirect::to(&format!("{}?notice=withdrawn", place.home())).into_response())
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct SettingsForm {
    sharing: String,
    hide_counts: String,
}

/// Sharing with the instructor, and hiding counts and streaks: each a small form of its own.
pub async fn settings(
    State(state): State<Ctx>,
    SignedIn(user): SignedIn,
    Path(slug): Path<String>,
    Form(form): Form<SettingsForm>,
) -> Result<Response, AppError> {
    let place = place(&state, &user, &slug).await?;
    if place.consent.is_none() {
        return Ok(Redirect::to(&place.home()).into_response());
    }
    let notice = match (form.sharing.as_str(), form.hide_counts.as_str()) {
        ("on" | "off", "") => {
            let on = form.sharing == "on";
            store::set_sharing(&state.db, user.id, place.course_id, on, state.clock.now()).await?;
            if on { "sharing-on" } else { "sharing-off" }
        }
        ("", "on" | "off") => {
            let hide = form.hide_counts == "on";
            store::set_hide_counts(&state.db, user.id, place.course_id, hide).await?;
            if hide { "counts-hidden" } else { "counts-shown" }
        }
        _ => return Err(AppError::BadRequest("Unknown setting.".to_owned())),
    };
    Ok(Redirect::to(&format!("{}?notice={notice}#settings", place.home())).into_response())
}
