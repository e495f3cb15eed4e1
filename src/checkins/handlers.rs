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
use crate::learning::store::Seat;
use crate::web::AppError;

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
        crate::learning::store::seat(&ctx.db, user.id, course_id),
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

// ---- the entry form ------------------------------------------------------------------------------

#[derive(Serialize)]
struct OptionView {
    value: String,
    label: String,
    checked: bool,
}

#[derive(Serialize)]
struct FieldView {
    id: String,
    label: String,
    kind: &'static str,
    optional: bool,
    options: Vec<OptionView>,
    value: String,
    low: Option<String>,
    mid: Option<String>,
    high: Option<String>,
    max_length: Option<usize>,
    error: Option<String>,
}

#[derive(Serialize)]
struct KeptValue {
    label: String,
    value: String,
}

fn field_views(
    fields: &[Field],
    values: &Map<String, Value>,
    raw: Option<&[(String, String)]>,
    problems: &[Problem],
) -> Vec<FieldView> {
    fields
        .iter()
        .map(|f| {
            // What the form shows: what was just sent (when it is re-shown), else what is stored.
            let value = match raw {
                Some(pairs) => pairs
                    .iter()
                    .find(|(k, _)| *k == f.id)
                    .map(|(_, v)| v.trim().to_owned())
                    .unwrap_or_default(),
                None => values.get(&f.id).map(values::input_value).unwrap_or_default(),
            };
            let opts = |list: Vec<(String, String)>| -> Vec<OptionView> {
                list.into_iter()
                    .map(|(v, l)| OptionView {
                        checked: v == value,
                        value: v,
                        label: l,
                    })
                    .collect()
            };
            let (options, low, mid, high, max_length) = match &f.kind {
                FieldKind::Scale { low, mid, high } => (
                    opts((0..=10).map(|n| (n.to_string(), n.to_string())).collect()),
                    Some(low.clone()),
                    mid.clone(),
                    Some(high.clone()),
                    None,
                ),
                FieldKind::Bristol => (
                    opts(
                        BRISTOL
                            .iter()
                            .enumerate()
                            .map(|(i, l)| ((i + 1).to_string(), (*l).to_owned()))
                            .collect(),
                    ),
                    None,
                    None,
                    None,
                    None,
                ),
                FieldKind::YesNo => (
                    opts(vec![
                        ("yes".to_owned(), "Yes".to_owned()),
                        ("no".to_owned(), "No".to_owned()),
                    ]),
                    None,
                    None,
                    None,
                    None,
                ),
                FieldKind::Choice { options } => (
                    opts(options.iter().map(|o| (o.clone(), o.clone())).collect()),
                    None,
                    None,
                    None,
                    None,
                ),
                FieldKind::TimeOfDay => (Vec::new(), None, None, None, None),
                FieldKind::Text { max_length } => (Vec::new(), None, None, None, Some(*max_length)),
            };
            FieldView {
                id: f.id.clone(),
                label: f.label.clone(),
                kind: f.kind.name(),
                optional: f.optional,
                options,
                value,
                low,
                mid,
                high,
                max_length,
                error: problems
                    .iter()
                    .find(|p| p.field.as_deref() == Some(f.id.as_str()))
                    .map(|p| p.message.clone()),
            }
        })
        .collect()
}

/// Values an entry holds for fields the check-in no longer has: kept, and shown on the form.
fn kept_values(def: &Definition, answers: &Map<String, Value>) -> Vec<KeptValue> {
    answers
        .iter()
        .filter(|(k, _)| !def.fields.iter().any(|f| &f.id == *k))
        .map(|(k, v)| {
            let field = def.field(k).map(|(f, _)| f);
            KeptValue {
                label: field.map_or_else(|| k.clone(), |f| f.label.clone()),
                value: values::display(field, v),
            }
        })
        .collect()
}

/// The answers to store: the new ones, and the old entry's values of archived fields (never
/// dropped by an edit).
fn merged(def: &Definition, new: Map<String, Value>, old: Option<&Map<String, Value>>) -> Map<String, Value> {
    let mut out = new;
    if let Some(old) = old {
        for (k, v) in old {
            if !def.fields.iter().any(|f| &f.id == k) {
                out.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
    }
    out
}

struct FormPage<'a> {
    place: &'a Place,
    def: &'a Definition,
    action: String,
    date: String,
    today: String,
    entry_id: Option<i64>,
    values: Map<String, Value>,
    raw: Option<&'a [(String, String)]>,
    problems: Vec<Problem>,
}

fn render_form(state: &Ctx, user: &User, page: FormPage<'_>) -> Result<axum::response::Html<String>, AppError> {
    let fields = field_views(&page.def.fields, &page.values, page.raw, &page.problems);
    let kept = kept_values(page.def, &page.values);
    let general: Vec<String> = page
        .problems
        .iter()
        .filter(|p| p.field.is_none() || p.field.as_deref() == Some("date"))
        .map(|p| p.message.clone())
        .collect();
    let ctx = context! {
        user => Serde(user),
        course => page.place.course(),
        checkin => context! { slug => page.def.slug.clone(), title => page.def.title.clone(), description => page.def.description.clone() },
        fields => Serde(&fields),
        kept => Serde(&kept),
        action => page.action,
        date => page.date,
        today => page.today,
        entry_id => page.entry_id,
        problems => Serde(&general),
        has_problems => !page.problems.is_empty(),
    };
    Ok(state.render("checkins/form.html", ctx)?)
}

/// A check-in the student may log now: declared, not archived, its module open.
fn loggable<'a>(state: &Ctx, place: &Place, defs: &'a [Definition], slug: &str) -> Result<&'a Definition, AppError> {
    let def = defs
        .iter()
        .find(|d| d.slug == slug && !d.archived)
        .ok_or(AppError::NotFound)?;
    if !place.open_modules(state).contains(&def.introduced_in) {
        return Err(AppError::Forbidden);
    }
    Ok(def)
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct DateQuery {
    date: String,
}

/// The form for a check-in and a day (today unless `?date=`): that day's entry when there is one.
pub async fn log_form(
    State(state): State<Ctx>,
    SignedIn(user): SignedIn,
    Path((slug, checkin)): Path<(String, String)>,
    Query(q): Query<DateQuery>,
) -> Result<Response, AppError> {
    let place = place(&state, &user, &slug).await?;
    if place.consent.is_none() {
        return Ok(Redirect::to(&place.home()).into_response());
    }
    let defs = store::definitions(&state.db, place.course_id).await?;
    let def = loggable(&state, &place, &defs, &checkin)?;
    let today = super::today(&state, &place.catalog.tz);
    let date = match q.date.as_str() {
        "" => today,
        d => d
            .parse::<jiff::civil::Date>()
            .ok()
            .filter(|d| *d <= today)
            .ok_or_else(|| {
                AppError::BadRequest(
                    "That is not a date we can open (use today or an earlier day, as 2026-03-31).".to_owned(),
                )
            })?,
    };
    let existing = store::entry_on(&state.db, user.id, def.id, &date.to_string()).await?;
    let values = match &existing {
        Some(e) => e.answers()?,
        None => Map::new(),
    };
    let html = render_form(
        &state,
        &user,
        FormPage {
            place: &place,
            def,
            action: format!("/courses/{}/checkins/log/{}", place.slug, def.slug),
            date: date.to_string(),
            today: today.to_string(),
            entry_id: existing.map(|e| e.id),
            values,
            raw: None,
            problems: Vec::new(),
        },
    )?;
    Ok(html.into_response())
}

/// Logs a check-in for a day (replacing that day's entry, if any). Bad input: 422, the form again
/// with every problem, nothing written.
pub async fn log(
    State(state): State<Ctx>,
    SignedIn(user): SignedIn,
    Path((slug, checkin)): Path<(String, String)>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let place = place(&state, &user, &slug).await?;
    if place.consent.is_none() {
        return Err(AppError::Forbidden);
    }
    let defs = store::definitions(&state.db, place.course_id).await?;
    let def = loggable(&state, &place, &defs, &checkin)?;
    let today = super::today(&state, &place.catalog.tz);
    match values::read(&def.fields, &pairs, today) {
        Ok((date, answers)) => {
            let date = date.to_string();
            let old = store::entry_on(&state.db, user.id, def.id, &date).await?;
            let old = old.map(|e| e.answers()).transpose()?;
            let answers = merged(def, answers, old.as_ref());
            let json = serde_json::to_string(&answers).map_err(|e| AppError::Internal(e.into()))?;
            store::save_for_day(&state.db, user.id, def, &date, &json, state.clock.now()).await?;
            Ok(Redirect::to(&format!("{}?notice=saved", place.home())).into_response())
        }
        Err(problems) => {
            let date = pairs
                .iter()
                .find(|(k, _)| k == "date")
                .map(|(_, v)| v.chars().take(10).collect())
                .unwrap_or_else(|| today.to_string());
            let html = render_form(
                &state,
                &user,
                FormPage {
                    place: &place,
                    def,
                    action: format!("/courses/{}/checkins/log/{}", place.slug, def.slug),
                    date,
                    today: today.to_string(),
                    entry_id: None,
                    values: Map::new(),
                    raw: Some(&pairs),
                    problems,
                },
            )?;
            Ok(unprocessable(html))
        }
    }
}

/// One of the student's own entries in this program, with its check-in; 404 for anyone else's.
async fn own_entry(
    state: &Ctx,
    user: &User,
    place: &Place,
    id: &str,
) -> Result<(store::Entry, Vec<Definition>), AppError> {
    let id: i64 = id.parse().map_err(|_| AppError::NotFound)?;
    let entry = store::entry(&state.db, user.id, id)
        .await?
        .filter(|e| e.course_id == place.course_id)
        .ok_or(AppError::NotFound)?;
    let defs = store::definitions(&state.db, place.course_id).await?;
    Ok((entry, defs))
}

pub async fn edit_form(
    State(state): State<Ctx>,
    SignedIn(user): SignedIn,
    Path((slug, id)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let place = place(&state, &user, &slug).await?;
    let (entry, defs) = own_entry(&state, &user, &place, &id).await?;
    let def = defs
        .iter()
        .find(|d| d.id == entry.checkin_id)
        .ok_or(AppError::NotFound)?;
    let today = super::today(&state, &place.catalog.tz);
    let html = render_form(
        &state,
        &user,
        FormPage {
            place: &place,
            def,
            action: format!("/courses/{}/checkins/entries/{}", place.slug, entry.id),
            date: entry.entry_date.clone(),
            today: today.to_string(),
            entry_id: Some(entry.id),
            values: entry.answers()?,
            raw: None,
            problems: Vec::new(),
        },
    )?;
    Ok(html.into_response())
}

pub async fn edit(
    State(state): State<Ctx>,
    SignedIn(user): SignedIn,
    Path((slug, id)): Path<(String, String)>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let place = place(&state, &user, &slug).await?;
    let (entry, defs) = own_entry(&state, &user, &place, &id).await?;
    let def = defs
        .iter()
        .find(|d| d.id == entry.checkin_id)
        .ok_or(AppError::NotFound)?;
    let today = super::today(&state, &place.catalog.tz);
    let old = entry.answers()?;
    let problems = match values::read(&def.fields, &pairs, today) {
        Ok((date, answers)) => {
            let answers = merged(def, answers, Some(&old));
            let json = serde_json::to_string(&answers).map_err(|e| AppError::Internal(e.into()))?;
            let date = date.to_string();
            if store::update(
                &state.db,
                user.id,
                entry.id,
                &date,
                &json,
                def.version,
                state.clock.now(),
            )
            .await?
            {
                return Ok(Redirect::to(&format!("{}?notice=saved", place.home())).into_response());
            }
            vec![Problem {
                field: Some("date".to_owned()),
                message: format!(
                    "You already have a {} entry for {date}; edit that one, or choose another day.",
                    def.title
                ),
            }]
        }
        Err(problems) => problems,
    };
    let html = render_form(
        &state,
        &user,
        FormPage {
            place: &place,
            def,
            action: format!("/courses/{}/checkins/entries/{}", place.slug, entry.id),
            date: pairs
                .iter()
                .find(|(k, _)| k == "date")
                .map(|(_, v)| v.chars().take(10).collect())
                .unwrap_or(entry.entry_date.clone()),
            today: today.to_string(),
            entry_id: Some(entry.id),
            values: old,
            raw: Some(&pairs),
            problems,
        },
    )?;
    Ok(unprocessable(html))
}

pub async fn delete(
    State(state): State<Ctx>,
    SignedIn(user): SignedIn,
    Path((slug, id)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let place = place(&state, &user, &slug).await?;
    let (entry, _) = own_entry(&state, &user, &place, &id).await?;
    if !store::delete(&state.db, user.id, entry.id).await? {
        return Err(AppError::NotFound);
    }
    Ok(Redirect::to(&format!("{}?notice=deleted", place.home())).into_response())
}

// ---- patterns and the CSV -------------------------------------------------------------------------

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct DaysQuery {
    days: Option<i64>,
}

fn window(q: &DaysQuery) -> Result<i64, AppError> {
    match q.days {
        None => Ok(30),
        Some(d) if view::WINDOWS.contains(&d) => Ok(d),
        Some(_) => Err(AppError::BadRequest("Choose 7, 30 or 90 days.".to_owned())),
    }
}

async fn patterns_of(
    state: &Ctx,
    user_id: i64,
    course_id: i64,
    tz: &jiff::tz::TimeZone,
    days: i64,
) -> Result<view::Patterns, AppError> {
    let today = super::today(state, tz);
    let since = view::window_start(today, days).to_string();
    let (defs, entries) = tokio::try_join!(
        store::definitions(&state.db, course_id),
        store::entries(&state.db, user_id, course_id, Some(&since)),
    )?;
    view::patterns(&defs, &entries, today, days).map_err(|e| AppError::Internal(e.into()))
}

pub async fn patterns(
    State(state): State<Ctx>,
    SignedIn(user): SignedIn,
    Path(slug): Path<String>,
    Query(q): Query<DaysQuery>,
) -> Result<Response, AppError> {
    let days = window(&q)?;
    let place = place(&state, &user, &slug).await?;
    if place.consent.is_none() {
        return Ok(Redirect::to(&place.home()).into_response());
    }
    let patterns = patterns_of(&state, user.id, place.course_id, &place.catalog.tz, days).await?;
    let ctx = context! {
        user => Serde(&user),
        course => place.course(),
        patterns => Serde(&patterns),
        windows => Serde(&view::WINDOWS),
        base => format!("/courses/{}/checkins/patterns", place.slug),
    };
    Ok(state.render("checkins/patterns.html", ctx)?.into_response())
}

/// Every entry of the program as CSV (archived fields included, and named so).
pub async fn csv(
    State(state): State<Ctx>,
    SignedIn(user): SignedIn,
    Path(slug): Path<String>,
) -> Result<Response, AppError> {
    let place = place(&state, &user, &slug).await?;
    let (defs, entries) = tokio::try_join!(
        store::definitions(&state.db, place.course_id),
        store::entries(&state.db, user.id, place.course_id, None),
    )?;
    let body = view::csv(&defs, &entries)?;
    Ok(crate::admin::csv::attachment(
        &format!("checkins-{}", place.slug),
        state.clock.now().date(),
        body,
    ))
}

// ---- the studio ---------------------------------------------------------------------------------------

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct StudioQuery {
    student: Option<i64>,
    days: Option<i64>,
}

/// The studio: the students who share their check-ins of a program; with `?student=`, that
/// student's diary, read-only (404 unless they share it now), each view written to the audit log.
pub async fn studio(
    State(state): State<Ctx>,
    Instructor(instructor): Instructor,
    Path(slug): Path<String>,
    Query(q): Query<StudioQuery>,
) -> Result<Response, AppError> {
    let catalog = state.catalog();
    let program = catalog.program(&slug).ok_or(AppError::NotFound)?;
    let course = context! { slug => program.slug.clone(), title => program.title.clone() };
    let Some(student) = q.student else {
        let sharers = store::sharers(&state.db, program.course_id).await?;
        let ctx =
            context! { user => Serde(&instructor), course, title => program.title.clone(), sharers => Serde(&sharers) };
        return Ok(state.render("admin/checkins.html", ctx)?.into_response());
    };
    let days = window(&DaysQuery { days: q.days })?;
    let sharer = store::sharer(&state.db, program.course_id, student)
        .await?
        .ok_or(AppError::NotFound)?;
    let now = state.clock.now();
    crate::audit::record_now(
        &state.db,
        &instructor,
        "checkins.view",
        &format!("check-ins of student {} in {}", sharer.user_id, program.slug),
        &format!(
            "shared since {}, last {days} days",
            crate::local_time::format_local_date(sharer.shared_since, &catalog.tz)
        ),
        now,
    )
    .await?;
    let patterns = patterns_of(&state, sharer.user_id, program.course_id, &catalog.tz, days).await?;
    let today = super::today(&state, &catalog.tz);
    let since = view::window_start(today, days).to_string();
    let (defs, entries) = tokio::try_join!(
        store::definitions(&state.db, program.course_id),
        store::entries(&state.db, sharer.user_id, program.course_id, Some(&since)),
    )?;
    let tables = view::tables(&defs, &entries).map_err(|e| AppError::Internal(e.into()))?;
    let ctx = context! {
        user => Serde(&instructor),
        course,
        title => program.title.clone(),
        student => Serde(&sharer),
        patterns => Serde(&patterns),
        tables => Serde(&tables),
        windows => Serde(&view::WINDOWS),
        base => format!("/admin/courses/{}/checkins?student={}", program.slug, sharer.user_id),
    };
    Ok(state.render("admin/checkins_student.html", ctx)?.into_response())
}
