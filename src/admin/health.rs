//! A program's health features in the studio: who confirmed which version of the health
//! acknowledgement and when, and per knowledge-check question, the share of students answering
//! right on their first attempt (where students misunderstand).

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use minijinja::context;
use minijinja::value::Serde;
use serde::Serialize;

use crate::accounts::Instructor;
use crate::context::Ctx;
use crate::web::AppError;

#[derive(Serialize)]
struct Confirmation {
    name: String,
    email: String,
    version: String,
    current: bool,
    at: String,
}

pub async fn page(
    State(state): State<Ctx>,
    Instructor(user): Instructor,
    Path(slug): Path<String>,
) -> Result<Response, AppError> {
    let catalog = state.catalog();
    let program = catalog.program(&slug).ok_or(AppError::NotFound)?;
    let current = &program.acknowledgement.version;
    let confirmations: Vec<Confirmation> =
        crate::learning::store::acknowledgements_of_course(&state.db, program.course_id)
            .await?
            .into_iter()
            .map(|a| Confirmation {
                current: &a.version == current,
                name: a.name,
                email: a.email,
                version: a.version,
                at: crate::local_time::format_local(a.acknowledged_at, &catalog.tz),
            })
            .collect();
    let quizzes = crate::quiz::studio_stats(&state, program).await?;
    let ctx = context! {
        user => Serde(&user),
        title => program.title.clone(),
        slug,
        version => current.clone(),
        text => Serde(&program.acknowledgement),
        confirmations => Serde(&confirmations),
        quizzes => Serde(&quizzes),
    };
    Ok(axum::response::Html(state.render_with(&catalog, "admin/health.html", ctx)?).into_response())
}
