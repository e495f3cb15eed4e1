//! Adding a lesson to a module (a web address made from its title, unique in the program); the
//! lesson editor itself is in `admin/lessons.rs`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use super::content::refuse;
use super::forms::{slug_from, title};
use super::{course_or_404, finish, store};
use crate::accounts::Instructor;
use crate::context::Ctx;
use crate::web::AppError;
use crate::web::form::{Form, text};
use serde::Deserialize;

/// "Add a lesson" under a module: its title, and the module.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct AddLesson {
    module: String,
    #[serde(deserialize_with = "text")]
    title: String,
}

pub async fn add_lesson(
    State(state): State<Ctx>,
    Instructor(user): Instructor,
    Path(slug): Path<String>,
    Form(f): Form<AddLesson>,
) -> Result<Response, AppError> {
    let course = course_or_404(&state, &slug).await?;
    let module_id: i64 = f
        .module
        .parse()
        .map_err(|_| AppError::BadRequest("Choose a module.".into()))?;
    let module = store::module(&state.db, course.id, module_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let key = format!("add-lesson-{module_id}");
    let t = match title(&f.title, "lesson") {
        Ok(t) => t,
        Err(e) => return refuse(&state, &user, &course, StatusCode::UNPROCESSABLE_ENTITY, key, e).await,
    };
    let base = match slug_from("", &t) {
        Ok(s) => s,
        Err(e) => return refuse(&state, &user, &course, StatusCode::UNPROCESSABLE_ENTITY, key, e).await,
    };
    let mut tx = store::begin(&state.db).await?;
    let taken: Vec<String> = store::lesson_slugs(&mut tx, course.id)
        .await?
        .into_iter()
        .map(|(_, s)| s)
        .collect();
    let mut lesson_slug = base.clone();
    let mut n = 2;
    while taken.contains(&lesson_slug) {
        lesson_slug = format!("{base}-{n}");
        n += 1;
    }
    let id = store::insert_lesson(&mut tx, course.id, module.id, &lesson_slug, &t, state.clock.now()).await?;
    finish(
        &state,
        tx,
        course.id,
        &user,
        "lesson.create",
        &format!("{slug}/{lesson_slug}"),
        &t,
    )
    .await?;
    Ok(Redirect::to(&format!("/admin/courses/{slug}/lessons/{id}?notice=created")).into_response())
}
