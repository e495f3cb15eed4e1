use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use minijinja::context;
use minijinja::value::Serde;

use super::store::{self, Course};
use super::view;
use crate::content::Download;
use crate::content::source::FaqEntry;
use crate::web::{AppError, AppState};

pub async fn home(State(state): State<AppState>) -> Result<Response, AppError> {
    let courses = store::visible_courses(&state.db).await?;
    let any_preenrollment = courses.iter().any(|c| c.status == "preenrollment");
    Ok(state
        .render(
            "catalog/home.html",
            context! { courses => Serde(&courses), any_preenrollment },
        )?
        .into_response())
}

pub async fn courses(State(state): State<AppState>) -> Result<Response, AppError> {
    let courses = store::visible_courses(&state.db).await?;
    let sum_of_prices: i64 = courses.iter().map(|c| c.price_cents).sum();
    Ok(state
        .render(
            "catalog/courses.html",
            context! { courses => Serde(&courses), sum_of_prices },
        )?
        .into_response())
}

async fn find_course(state: &AppState, slug: &str) -> Result<Course, AppError> {
    store::visible_course(&state.db, slug).await?.ok_or(AppError::NotFound)
}

fn parse_json<T: serde::de::DeserializeOwned + Default>(text: &str) -> T {
    serde_json::from_str(text).unwrap_or_default()
}

pub async fn course(State(state): State<AppState>, Path(slug): Path<String>) -> Result<Response, AppError> {
    let course = find_course(&state, &slug).await?;
    let rows = store::syllabus(&state.db, course.id).await?;
    let modules = view::modules(&rows);
    let total_minutes: i64 = rows.iter().map(|r| r.duration_minutes).sum();
    let who_for: Vec<String> = parse_json(&course.who_for);
    let not_for: Vec<String> = parse_json(&course.not_for);
    let faq: Vec<FaqEntry> = parse_json(&course.faq);
    let first_preview = rows.iter().find(|r| r.free_preview).map(|r| r.lesson_slug.clone());
    Ok(state
        .render(
            "catalog/course.html",
            context! {
                course => Serde(&course),
                modules => Serde(&modules),
                lesson_count => rows.len(),
                total_minutes,
                who_for,
                not_for,
                faq => Serde(&faq),
                first_preview,
            },
        )?
        .into_response())
}

pub async fn lesson(
    State(state): State<AppState>,
    Path((slug, lesson_slug)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let course = find_course(&state, &slug).await?;
    let (lesson, rows) = tokio::try_join!(
        store::lesson(&state.db, course.id, &lesson_slug),
        store::syllabus(&state.db, course.id)
    )?;
    let lesson = lesson.ok_or(AppError::NotFound)?;
    let modules = view::modules(&rows);
    let module = rows
        .iter()
        .find(|r| r.lesson_id == lesson.id)
        .map(|r| r.module_title.clone());
    let (prev, next) = view::neighbours(&rows, &lesson.slug);
    let downloads: Vec<Download> = parse_json(&lesson.downloads);
    let ctx = context! {
        course => Serde(&course),
        lesson => Serde(&lesson),
        module,
        modules => Serde(&modules),
        prev => Serde(&prev),
        next => Serde(&next),
        downloads => Serde(&downloads),
        video_embed => lesson.video_url.as_deref().and_then(view::video_embed),
    };
    if lesson.free_preview {
        Ok(state.render("catalog/lesson.html", ctx)?.into_response())
    } else {
        // Not a preview: say what opens it, with 403 (the lesson exists; this visitor may not read it).
        Ok((StatusCode::FORBIDDEN, state.render("catalog/lesson_locked.html", ctx)?).into_response())
    }
}

/// Until online pre-enrollment exists, this page lists the programs that are coming and how to be
/// told when they open.
pub async fn preenroll(State(state): State<AppState>) -> Result<Response, AppError> {
    let courses: Vec<_> = store::visible_courses(&state.db)
        .await?
        .into_iter()
        .filter(|c| c.status == "preenrollment")
        .collect();
    Ok(state
        .render("catalog/preenroll.html", context! { courses => Serde(&courses) })?
        .into_response())
}
