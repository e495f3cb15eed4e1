//! The pre-enrollment list: filter by program and state, and export it as CSV.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use minijinja::context;
use minijinja::value::Serde;
use serde::Deserialize;

use super::csv;
use crate::accounts::Instructor;
use crate::context::Ctx;
use crate::preenroll::store::{self, ListRow};
use crate::web::AppError;

pub const STATES: [&str; 4] = ["unconfirmed", "confirmed", "unsubscribed", "enrolled"];

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct Filter {
    course: String,
    state: String,
}

impl Filter {
    fn check(&self, state: &Ctx) -> Result<(), AppError> {
        super::check_filter(state, &self.course, &self.state, &STATES, "state")
    }
}

pub async fn list(
    State(state): State<Ctx>,
    Instructor(user): Instructor,
    Query(f): Query<Filter>,
) -> Result<Response, AppError> {
    f.check(&state)?;
    let rows = store::list(&state.db, &f.course, &f.state).await?;
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("course", &f.course)
        .append_pair("state", &f.state)
        .finish();
    let ctx = context! {
        user => Serde(&user),
        rows => Serde(&rows),
        courses => Serde(&state.catalog().courses),
        states => STATES,
        course => f.course,
        state => f.state,
        query,
    };
    Ok(state.render("admin/preenrollments.html", ctx)?.into_response())
}

pub async fn csv(
    State(state): State<Ctx>,
    Instructor(_): Instructor,
    Query(f): Query<Filter>,
) -> Result<Response, AppError> {
    f.check(&state)?;
    let rows = store::list(&state.db, &f.course, &f.state).await?;
    let catalog = state.catalog();
    let tz = catalog.tz.clone();
    let when = |t: time::OffsetDateTime| crate::local_time::input_value(t, &tz).replace('T', " ");
    let header_signed_up = format!("Signed up ({})", catalog.site.time_zone);
    let header_confirmed = format!("Confirmed ({})", catalog.site.time_zone);
    let body = csv::document(
        &[
            "Name",
            "Email",
            "Program",
            "State",
            &header_signed_up,
            &header_confirmed,
        ],
        rows.iter().map(|r: &ListRow| {
            vec![
                r.name.clone(),
                r.email.clone(),
                r.course_title.clone(),
                r.state.clone(),
                when(r.created_at),
                r.confirmed_at.map(when).unwrap_or_default(),
            ]
        }),
    )
    .map_err(AppError::Internal)?;
    Ok(csv::attachment("preenrollments", state.clock.now().date(), body))
}
