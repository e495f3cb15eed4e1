//! The public pages, rendered from the in-memory catalogue: no database access per request.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::web::{AppError, AppState};

pub async fn home(State(state): State<AppState>) -> Result<Response, AppError> {
    let catalog = state.catalog();
    Ok(state.render("catalog/home.html", catalog.home.clone())?.into_response())
}

pub async fn courses(State(state): State<AppState>) -> Result<Response, AppError> {
    let catalog = state.catalog();
    Ok(state
        .render("catalog/courses.html", catalog.listing.clone())?
        .into_response())
}

pub async fn course(State(state): State<AppState>, Path(slug): Path<String>) -> Result<Response, AppError> {
    let catalog = state.catalog();
    let program = catalog.program(&slug).ok_or(AppError::NotFound)?;
    Ok(state
        .render("catalog/course.html", program.page.clone())?
        .into_response())
}

pub async fn lesson(
    State(state): State<AppState>,
    Path((slug, lesson_slug)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let catalog = state.catalog();
    let program = catalog.program(&slug).ok_or(AppError::NotFound)?;
    let page = program.lesson(&lesson_slug).ok_or(AppError::NotFound)?;
    if page.lesson.free_preview {
        Ok(state.render("catalog/lesson.html", page.page.clone())?.into_response())
    } else {
        // Not a preview: say what opens it, with 403 (the lesson exists; this visitor may not read it).
        Ok((
            StatusCode::FORBIDDEN,
            state.render("catalog/lesson_locked.html", page.page.clone())?,
        )
            .into_response())
    }
}

/// Until online pre-enrollment exists, this page lists the programs that are coming and how to be
/// told when they open.
pub async fn preenroll(State(state): State<AppState>) -> Result<Response, AppError> {
    let catalog = state.catalog();
    Ok(state
        .render("catalog/preenroll.html", catalog.preenroll.clone())?
        .into_response())
}
