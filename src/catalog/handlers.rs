//! The public pages, rendered from the in-memory catalogue: no database access per request, and
//! each page rendered once per content version.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use minijinja::Value;

use super::Catalog;
use crate::accounts::store::User;
use crate::web::auth::{MaybeUser, Visitor};
use crate::web::{AppError, AppState};

/// Renders `template` from one catalogue snapshot: for anonymous visitors once per content version
/// (the page is the same for all of them), for a signed-in person every time (their name is in the
/// header). `key` names the page by its decoded slugs, so the cache holds at most one entry per page.
fn page(
    state: &AppState,
    catalog: &Catalog,
    user: &Option<User>,
    key: &str,
    template: &str,
    ctx: &Value,
) -> Result<Bytes, AppError> {
    if let Some(user) = user {
        let user = minijinja::context! { user => minijinja::value::Serde(user) };
        return Ok(Bytes::from(state.render_parts(
            catalog,
            template,
            [ctx.clone(), user],
        )?));
    }
    let key = format!("{} {template} {key}", state.templates.generation());
    Ok(catalog.cached_page(&key, || state.render_with(catalog, template, ctx.clone()))?)
}

fn html(status: StatusCode, body: Bytes) -> Response {
    (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
}

pub async fn home(State(state): State<AppState>, MaybeUser(user): MaybeUser) -> Result<Response, AppError> {
    let catalog = state.catalog();
    Ok(html(
        StatusCode::OK,
        page(&state, &catalog, &user, "", "catalog/home.html", &catalog.home)?,
    ))
}

pub async fn courses(State(state): State<AppState>, MaybeUser(user): MaybeUser) -> Result<Response, AppError> {
    let catalog = state.catalog();
    Ok(html(
        StatusCode::OK,
        page(&state, &catalog, &user, "", "catalog/courses.html", &catalog.listing)?,
    ))
}

pub async fn course(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path(slug): Path<String>,
) -> Result<Response, AppError> {
    let catalog = state.catalog();
    let Some(program) = catalog.program(&slug) else {
        return moved(&state, &slug, None).await;
    };
    // A signed-in visitor of an open program sees their own offer: "Continue" when enrolled, or
    // their price (early bird included).
    let ctx = match (&user, catalog.courses.iter().find(|c| c.slug == slug)) {
        (Some(u), Some(course)) if course.status == "open" => {
            let offer = crate::payments::offer_for(&state, u, course).await?;
            minijinja::value::merge_maps([program.page.clone(), minijinja::context! { offer }])
        }
        _ => program.page.clone(),
    };
    Ok(html(
        StatusCode::OK,
        page(&state, &catalog, &user, &slug, "catalog/course.html", &ctx)?,
    ))
}

pub async fn lesson(
    State(state): State<AppState>,
    visitor: Visitor,
    Path((slug, lesson_slug)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let catalog = state.catalog();
    let Some(program) = catalog.program(&slug) else {
        return moved(&state, &slug, Some(&lesson_slug)).await;
    };
    let Some(lesson) = program.lesson(&lesson_slug) else {
        return moved_lesson(&state, program.course_id, &slug, &lesson_slug).await;
    };
    // One query: who is asking, and their seat in this program.
    let (user, seat) = visitor.with_seat(&state, program.course_id).await?;
    // A student with a seat in the program gets their own page (progress, drip, Mark complete).
    if let Some(u) = &user
        && !u.is_instructor()
        && let Some((seat, done)) = seat
    {
        let (status, template, extra) =
            crate::learning::student_lesson(&state, u, program, lesson, &seat, &done).await?;
        let who = minijinja::context! { user => minijinja::value::Serde(u) };
        let body = state.render_parts(&catalog, template, [lesson.page.clone(), extra, who])?;
        return Ok(html(status, Bytes::from(body)));
    }
    // A preview is for everyone; the rest for instructors (and enrolled students, above). Anyone
    // else gets 403 with a page that says what opens it (the lesson exists; this visitor may not
    // read it).
    let may_read = lesson.lesson.free_preview || user.as_ref().is_some_and(|u| u.is_instructor());
    let (status, template) = if may_read {
        (StatusCode::OK, "catalog/lesson.html")
    } else {
        (StatusCode::FORBIDDEN, "catalog/lesson_locked.html")
    };
    let key = format!("{slug}/{lesson_slug}");
    Ok(html(
        status,
        page(&state, &catalog, &user, &key, template, &lesson.page)?,
    ))
}

/// A program whose slug changed in the studio: its old URLs answer with a permanent redirect.
/// Only reached for a slug the catalogue does not know (a 404 otherwise).
async fn moved(state: &AppState, slug: &str, lesson: Option<&str>) -> Result<Response, AppError> {
    if slug.len() > 64 || lesson.is_some_and(|l| l.len() > 64) {
        return Err(AppError::NotFound);
    }
    let new = crate::admin::course_redirect(&state.db, slug)
        .await?
        .ok_or(AppError::NotFound)?;
    let catalog = state.catalog();
    let program = catalog.program(&new).ok_or(AppError::NotFound)?;
    let to = match lesson {
        None => format!("/courses/{new}"),
        Some(l) if program.lesson(l).is_some() => format!("/courses/{new}/lessons/{l}"),
        Some(l) => match crate::admin::lesson_redirect(&state.db, program.course_id, l).await? {
            Some(now) => format!("/courses/{new}/lessons/{now}"),
            None => return Err(AppError::NotFound),
        },
    };
    Ok(axum::response::Redirect::permanent(&to).into_response())
}

async fn moved_lesson(state: &AppState, course_id: i64, slug: &str, lesson: &str) -> Result<Response, AppError> {
    if lesson.len() > 64 {
        return Err(AppError::NotFound);
    }
    match crate::admin::lesson_redirect(&state.db, course_id, lesson).await? {
        Some(now) => Ok(axum::response::Redirect::permanent(&format!("/courses/{slug}/lessons/{now}")).into_response()),
        None => Err(AppError::NotFound),
    }
}
