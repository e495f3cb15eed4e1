//! The health acknowledgement: before a student's first lesson in a program (free previews
//! excepted), they confirm they read the program's "who this is not for" list and the site's
//! "education, not medical advice" notice. The confirmation is kept per student, program and
//! version of that text; when the text changes (a content import or a studio edit of either), the
//! version changes and the next lesson asks again.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use minijinja::context;
use minijinja::value::Serde;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::store;
use crate::accounts::SignedIn;
use crate::accounts::store::User;
use crate::catalog::snapshot::Program;
use crate::context::Ctx;
use crate::domain::{CourseId, UserId};
use crate::web::AppError;
use crate::web::auth::safe_next;

/// The text a student confirms, and its version.
#[derive(Serialize, Clone, Debug)]
pub struct Text {
    /// The program's "who this is not for" lines.
    pub not_for: Vec<String>,
    /// The site's "education, not medical advice" notice.
    pub notice: String,
    /// The first 16 hex digits of the sha256 of [`Text::snapshot`].
    pub version: String,
}

impl Text {
    pub fn new(not_for: Vec<String>, notice: &str) -> Text {
        let mut text = Text {
            not_for,
            notice: notice.to_owned(),
            version: String::new(),
        };
        let digest = Sha256::digest(text.snapshot().as_bytes());
        text.version = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
        text
    }

    /// The exact text confirmed, as kept with each confirmation: JSON of the list and the notice.
    pub fn snapshot(&self) -> String {
        serde_json::json!({ "not_for": self.not_for, "notice": self.notice }).to_string()
    }
}

/// Where a lesson page sends a student who has not confirmed the current version.
pub fn gate_url(program_slug: &str, lesson_slug: &str) -> String {
    format!("/learn/{program_slug}/acknowledge?next=/courses/{program_slug}/lessons/{lesson_slug}")
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct NextQuery {
    next: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ConfirmForm {
    /// The checkbox: present ("yes") when ticked.
    confirm: Option<String>,
    /// The version shown on the page the student read.
    version: String,
    next: Option<String>,
}

fn next_of(program: &Program, next: Option<&str>) -> String {
    match next {
        Some(n) if !n.is_empty() => safe_next(Some(n)),
        _ => format!("/courses/{}", program.slug),
    }
}

fn render(
    ctx: &Ctx,
    status: StatusCode,
    user: &User,
    program: &Program,
    next: &str,
    error: Option<&str>,
) -> Result<Response, AppError> {
    let page = context! {
        user => Serde(user),
        course_title => program.title.clone(),
        slug => program.slug.clone(),
        text => Serde(&program.acknowledgement),
        next,
        error,
    };
    Ok((status, Html(ctx.render_string("learning/acknowledge.html", page)?)).into_response())
}

/// The program of the URL for a student with an active seat there. Instructors (who read every
/// lesson without a seat) are never asked: `None` sends them straight on.
async fn student_program(
    ctx: &Ctx,
    user: &User,
    slug: &str,
) -> Result<Option<std::sync::Arc<crate::catalog::Catalog>>, AppError> {
    let catalog = ctx.catalog();
    let program = catalog.program(slug).ok_or(AppError::NotFound)?;
    if user.is_instructor() {
        return Ok(None);
    }
    if store::seat(&ctx.db, UserId(user.id), CourseId(program.course_id))
        .await?
        .is_none()
    {
        return Err(AppError::Forbidden);
    }
    Ok(Some(catalog))
}

/// `GET /learn/{slug}/acknowledge?next=...`.
pub async fn page(
    State(ctx): State<Ctx>,
    SignedIn(user): SignedIn,
    Path(slug): Path<String>,
    Query(q): Query<NextQuery>,
) -> Result<Response, AppError> {
    let Some(catalog) = student_program(&ctx, &user, &slug).await? else {
        return Ok(Redirect::to(&safe_next(q.next.as_deref())).into_response());
    };
    let program = catalog.program(&slug).ok_or(AppError::NotFound)?;
    let next = next_of(program, q.next.as_deref());
    render(&ctx, StatusCode::OK, &user, program, &next, None)
}

/// `POST /learn/{slug}/acknowledge`: records the confirmation, then on to `next`.
pub async fn confirm(
    State(ctx): State<Ctx>,
    SignedIn(user): SignedIn,
    Path(slug): Path<String>,
    Form(form): Form<ConfirmForm>,
) -> Result<Response, AppError> {
    let Some(catalog) = student_program(&ctx, &user, &slug).await? else {
        return Ok(Redirect::to(&safe_next(form.next.as_deref())).into_response());
    };
    let program = catalog.program(&slug).ok_or(AppError::NotFound)?;
    let next = next_of(program, form.next.as_deref());
    let text = &program.acknowledgement;
    if form.version != text.version {
        // The text changed while they were reading: they confirm only what they were shown.
        let message = "This text was updated while you were reading it. Please read it again and confirm.";
        return render(&ctx, StatusCode::CONFLICT, &user, program, &next, Some(message));
    }
    if form.confirm.as_deref().is_none_or(str::is_empty) {
        let message = "Please tick the box to confirm you have read this before you continue.";
        return render(
            &ctx,
            StatusCode::UNPROCESSABLE_ENTITY,
            &user,
            program,
            &next,
            Some(message),
        );
    }
    store::acknowledge(
        &ctx.db,
        UserId(user.id),
        CourseId(program.course_id),
        &text.version,
        &text.snapshot(),
        ctx.clock.now(),
    )
    .await?;
    Ok(Redirect::to(&next).into_response())
}
