//! `/admin/audit`: every instructor change, newest first, a page at a time.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use minijinja::context;
use minijinja::value::Serde;
use serde::Deserialize;

use crate::accounts::Instructor;
use crate::context::Ctx;
use crate::web::AppError;

const PAGE: i64 = 100;

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct AuditQuery {
    before: Option<i64>,
}

pub async fn list(
    State(state): State<Ctx>,
    Instructor(user): Instructor,
    Query(q): Query<AuditQuery>,
) -> Result<Response, AppError> {
    let entries = crate::audit::recent(&state.db, PAGE, q.before).await?;
    let older = (entries.len() as i64 == PAGE)
        .then(|| entries.last().map(|e| e.id))
        .flatten();
    let ctx = context! {
        user => Serde(&user),
        entries => Serde(&entries),
        older,
    };
    Ok(state.render("admin/audit.html", ctx)?.into_response())
}
