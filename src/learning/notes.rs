//! Private lesson notes: a plain-text box on each lesson page, and "My notes" per program. A note
//! is addressed by the signed-in student and the lesson's slug, never by an id, so nobody can
//! reach another student's note; it is shown escaped (plain text, line breaks kept).

use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use minijinja::value::Serde;
use serde::{Deserialize, Serialize};

use super::store;
use crate::accounts::SignedIn;
use crate::context::Ctx;
use crate::domain::{CourseId, LessonId, UserId};
use crate::web::AppError;

/// The longest note, in characters.
pub const MAX_CHARS: usize = 20_000;

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct NoteForm {
    body: String,
}

/// `POST /learn/{slug}/notes/{lesson}`: saves the note (an empty box deletes it), back to the lesson.
pub async fn save(
    State(ctx): State<Ctx>,
    SignedIn(user): SignedIn,
    Path((slug, lesson_slug)): Path<(String, String)>,
    Form(form): Form<NoteForm>,
) -> Result<Response, AppError> {
    let catalog = ctx.catalog();
    let program = catalog.program(&slug).ok_or(AppError::NotFound)?;
    let lesson = program.lesson(&lesson_slug).ok_or(AppError::NotFound)?;
    if store::seat(&ctx.db, UserId(user.id), CourseId(program.course_id))
        .await?
        .is_none()
    {
        return Err(AppError::Forbidden);
    }
    let chars = form.body.chars().count();
    if chars > MAX_CHARS {
        return Err(AppError::BadRequest(format!(
            "Your note is {chars} characters long; a note can hold at most {MAX_CHARS}. \
             Nothing was saved: shorten it and save again."
        )));
    }
    let body = form.body.replace("\r\n", "\n");
    if body.trim().is_empty() {
        store::delete_note(&ctx.db, UserId(user.id), LessonId(lesson.lesson.id)).await?;
    } else {
        store::save_note(
            &ctx.db,
            UserId(user.id),
            CourseId(program.course_id),
            LessonId(lesson.lesson.id),
            &body,
            ctx.clock.now(),
        )
        .await?;
    }
    Ok(Redirect::to(&format!("/courses/{slug}/lessons/{lesson_slug}#notes")).into_response())
}

#[derive(Serialize)]
struct NoteItem {
    module: String,
    lesson: String,
    lesson_slug: String,
    body: String,
    updated: String,
}

/// `GET /learn/{slug}/notes`: the student's notes in the program, in syllabus order.
pub async fn list(
    State(ctx): State<Ctx>,
    SignedIn(user): SignedIn,
    Path(slug): Path<String>,
) -> Result<Response, AppError> {
    let catalog = ctx.catalog();
    let program = catalog.program(&slug).ok_or(AppError::NotFound)?;
    let notes = store::notes_in(&ctx.db, UserId(user.id), CourseId(program.course_id)).await?;
    if notes.is_empty()
        && !user.is_instructor()
        && store::seat(&ctx.db, UserId(user.id), CourseId(program.course_id))
            .await?
            .is_none()
    {
        return Err(AppError::Forbidden);
    }
    let items: Vec<NoteItem> = program
        .rows
        .iter()
        .filter_map(|row| {
            let note = notes.iter().find(|n| n.lesson_id == row.lesson_id)?;
            Some(NoteItem {
                module: row.module_title.clone(),
                lesson: row.lesson_title.clone(),
                lesson_slug: row.lesson_slug.clone(),
                body: note.body.clone(),
                updated: crate::local_time::format_local(note.updated_at, &catalog.tz),
            })
        })
        .collect();
    let page = context! {
        user => Serde(&user),
        course_title => program.title.clone(),
        slug,
        notes => Serde(&items),
    };
    Ok(ctx
        .render_with(&catalog, "learning/notes.html", page)
        .map(axum::response::Html)?
        .into_response())
}
