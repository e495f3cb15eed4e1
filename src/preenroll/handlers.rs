//! The pre-enrollment form, its answer, and the confirmation link.

use std::collections::BTreeMap;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use minijinja::context;
use minijinja::value::{Serde, Value};
use serde::Deserialize;

use super::flows::{self, Confirmed, Request, Submitted};
use crate::accounts::MaybeUser;
use crate::catalog::store::CourseSummary;
use crate::context::Ctx;
use crate::domain::{Email, PersonName};
use crate::web::AppError;
use crate::web::form::Form;

/// More program values than this in one form is not a person ticking boxes.
const MAX_COURSE_VALUES: usize = 20;

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct FormQuery {
    course: String,
}

/// The programs taking pre-enrollments now, in catalogue order.
fn open_lists(state: &Ctx) -> Vec<CourseSummary> {
    state
        .catalog()
        .courses
        .iter()
        .filter(|c| c.status == crate::domain::CourseStatus::Preenrollment)
        .cloned()
        .collect()
}

fn form(
    state: &Ctx,
    user: Option<&crate::accounts::store::User>,
    status: StatusCode,
    ticked: &[String],
    values: Value,
    errors: BTreeMap<&'static str, String>,
) -> Result<Response, AppError> {
    let ctx = context! {
        user => user.map(|u| Value::from(Serde(u))),
        courses => Serde(&open_lists(state)),
        ticked => Serde(ticked),
        form => values,
        errors,
        consent => flows::CONSENT,
    };
    Ok((status, state.render("preenroll/form.html", ctx)?).into_response())
}

pub async fn form_page(
    State(state): State<Ctx>,
    MaybeUser(user): MaybeUser,
    Query(q): Query<FormQuery>,
) -> Result<Response, AppError> {
    let values = match &user {
        Some(u) => context! { name => u.name.clone(), email => u.email.clone() },
        None => context! {},
    };
    let ticked = if q.course.is_empty() { vec![] } else { vec![q.course] };
    form(&state, user.as_ref(), StatusCode::OK, &ticked, values, BTreeMap::new())
}

/// The form's fields; `course` repeats, one per ticked box.
#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct Fields {
    name: String,
    email: String,
    #[serde(rename = "course")]
    courses: Vec<String>,
}

pub async fn submit(
    State(state): State<Ctx>,
    MaybeUser(user): MaybeUser,
    Form(fields): Form<Fields>,
) -> Result<Response, AppError> {
    let mut errors = BTreeMap::new();
    let name = PersonName::parse(&fields.name)
        .map_err(|e| errors.insert("name", e.to_owned()))
        .ok();
    let email = Email::parse(&fields.email)
        .map_err(|e| errors.insert("email", e.to_owned()))
        .ok();
    let catalog = state.catalog();
    let mut chosen: Vec<&CourseSummary> = Vec::new();
    if fields.courses.len() > MAX_COURSE_VALUES {
        errors.insert("courses", "Choose from the programs listed.".into());
    } else if fields.courses.is_empty() {
        errors.insert("courses", "Tick at least one program.".into());
    }
    for slug in fields.courses.iter().take(MAX_COURSE_VALUES) {
        match catalog.courses.iter().find(|c| &c.slug == slug) {
            Some(c) if c.status == crate::domain::CourseStatus::Preenrollment => {
                if !chosen.iter().any(|x| x.id == c.id) {
                    chosen.push(c);
                }
            }
            Some(c) if c.status == crate::domain::CourseStatus::Open => {
                errors.insert(
                    "courses",
                    format!("{} is already open: you can enroll now on its page.", c.title),
                );
            }
            Some(c) => {
                errors.insert("courses", format!("{} is not taking pre-enrollments.", c.title));
            }
            None => {
                errors.insert("courses", "That program is not taking pre-enrollments.".into());
            }
        }
    }
    let (Some(name), Some(email), true) = (name, email, errors.is_empty()) else {
        let values = context! { name => fields.name, email => fields.email };
        return form(
            &state,
            user.as_ref(),
            StatusCode::UNPROCESSABLE_ENTITY,
            &fields.courses,
            values,
            errors,
        );
    };
    let titles: Vec<String> = chosen.iter().map(|c| c.title.clone()).collect();
    let outcome = flows::submit(
        &state,
        Request {
            name,
            email: email.clone(),
            courses: chosen,
        },
    )
    .await?;
    let ctx = context! {
        user => user.as_ref().map(|u| Value::from(Serde(u))),
        email => email.as_str(),
        titles,
        recently_sent => outcome == Submitted::RecentlySent,
        minutes => flows::RESEND_AFTER.whole_minutes(),
    };
    Ok((StatusCode::OK, state.render("preenroll/sent.html", ctx)?).into_response())
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct TokenQuery {
    token: String,
}

pub async fn confirm(
    State(state): State<Ctx>,
    MaybeUser(user): MaybeUser,
    Query(q): Query<TokenQuery>,
) -> Result<Response, AppError> {
    let user = user.as_ref().map(|u| Value::from(Serde(u)));
    let (status, ctx) = match flows::confirm(&state, &q.token).await? {
        Confirmed::Now { name, list } => (
            StatusCode::OK,
            context! { user, step => "confirmed", name, list => Serde(&list) },
        ),
        Confirmed::Already { name, list } => (
            StatusCode::OK,
            context! { user, step => "already", name, list => Serde(&list) },
        ),
        Confirmed::Invalid => (StatusCode::BAD_REQUEST, context! { user, step => "invalid" }),
    };
    Ok((status, state.render("preenroll/confirmed.html", ctx)?).into_response())
}
