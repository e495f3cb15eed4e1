//! "Mark complete", downloads and certificates (the dashboard: `dashboard`; the lesson page: `lesson`).

use axum::Form;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use serde::Deserialize;

use super::{locked_module, store, view};
use crate::accounts::store::User;
use crate::domain::{CourseId, LessonId, UserId};

use crate::accounts::SignedIn;
use crate::context::Ctx;
use crate::web::AppError;

/// The program and lesson of a URL, for a student with access to it (instructors too); 404 for a
/// lesson of another program, 403 for someone without access.
async fn lesson_for(
    state: &Ctx,
    user: &User,
    slug: &str,
    lesson_slug: &str,
) -> Result<(std::sync::Arc<crate::catalog::Catalog>, Option<store::Seat>), AppError> {
    let catalog = state.catalog();
    let program = catalog.program(slug).ok_or(AppError::NotFound)?;
    program.lesson(lesson_slug).ok_or(AppError::NotFound)?;
    let seat = store::seat(&state.db, UserId(user.id), CourseId(program.course_id)).await?;
    if seat.is_none() && !user.is_instructor() {
        return Err(AppError::Forbidden);
    }
    Ok((catalog, seat))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct CompleteForm {
    /// "false" undoes; anything else (or nothing) marks complete.
    done: String,
}

/// "Mark complete" (and undo): a plain form post; back to the lesson. Finishing the last lesson
/// finishes the program and issues its certificate.
pub async fn complete(
    State(state): State<Ctx>,
    SignedIn(user): SignedIn,
    Path((slug, lesson_slug)): Path<(String, String)>,
    Form(form): Form<CompleteForm>,
) -> Result<Response, AppError> {
    let (catalog, seat) = lesson_for(&state, &user, &slug, &lesson_slug).await?;
    let Some(seat) = seat else {
        return Err(AppError::Forbidden); // an instructor previewing has no progress to keep
    };
    let program = catalog.program(&slug).ok_or(AppError::NotFound)?;
    let lesson = program.lesson(&lesson_slug).ok_or(AppError::NotFound)?;
    let now = state.clock.now();
    let completed = store::completed_in(&state.db, UserId(user.id), CourseId(program.course_id)).await?;
    let progress = view::progress(
        &program.rows,
        &completed,
        seat.last_lesson_id,
        seat.created_at,
        now,
        &catalog.tz,
    );
    if locked_module(&progress, program, lesson).is_some() {
        return Err(AppError::Forbidden);
    }
    let done = form.done != "false";
    if done && let Some(message) = quiz_to_pass(&state, &user, program, lesson).await? {
        return Err(AppError::BadRequest(message));
    }
    let mut tx = state.db.begin().await?;
    store::set_complete(
        &mut tx,
        UserId(user.id),
        CourseId(program.course_id),
        LessonId(lesson.lesson.id),
        done,
        now,
    )
    .await?;
    let all: Vec<i64> = program.rows.iter().map(|r| r.lesson_id).collect();
    let finished = done && store::count_completed(&mut tx, user.id, &all).await? == all.len() as i64;
    if finished {
        let code = crate::accounts::tokens::new_token().0[..20].to_owned();
        store::complete_course(&mut tx, UserId(user.id), CourseId(program.course_id), &code, now).await?;
    }
    tx.commit().await?;
    Ok(Redirect::to(&format!("/courses/{slug}/lessons/{lesson_slug}#progress")).into_response())
}

/// "Pass to complete": the last lesson of a module whose knowledge check is required cannot be
/// marked complete before the student passed it. The reason, when it cannot.
async fn quiz_to_pass(
    state: &Ctx,
    user: &User,
    program: &crate::catalog::snapshot::Program,
    lesson: &crate::catalog::snapshot::LessonPage,
) -> Result<Option<String>, AppError> {
    let Some(row) = program.rows.iter().find(|r| r.lesson_id == lesson.lesson.id) else {
        return Ok(None);
    };
    let last = program.rows.iter().rfind(|r| r.module_id == row.module_id);
    if last.is_none_or(|last| last.lesson_id != row.lesson_id) {
        return Ok(None);
    }
    if !program.quiz(row.module_id).is_some_and(|q| q.required) {
        return Ok(None);
    }
    if crate::quiz::store::passed(&state.db, user.id, row.module_id).await? {
        return Ok(None);
    }
    Ok(Some(format!(
        "Pass the knowledge check for \"{}\" first (every answer right; you can try as often as you like): /learn/{}/{}/quiz",
        row.module_title, program.slug, row.module_slug
    )))
}

/// A lesson's download, for its program's students and instructors. The name must be one the
/// lesson lists; the file is read from the program's stored files.
pub async fn download(
    State(state): State<Ctx>,
    SignedIn(user): SignedIn,
    Path((slug, lesson_slug, file)): Path<(String, String, String)>,
    request: HeaderMap,
) -> Result<Response, AppError> {
    let (catalog, seat) = lesson_for(&state, &user, &slug, &lesson_slug).await?;
    let program = catalog.program(&slug).ok_or(AppError::NotFound)?;
    let lesson = program.lesson(&lesson_slug).ok_or(AppError::NotFound)?;
    // A student gets a lesson's files when they may read the lesson: not before its module opens
    // (instructors, who have no seat or read as staff, see every module, as on the lesson page).
    if let Some(seat) = seat.filter(|_| !user.is_instructor()) {
        let progress = view::progress(
            &program.rows,
            &[],
            seat.last_lesson_id,
            seat.created_at,
            state.clock.now(),
            &catalog.tz,
        );
        if locked_module(&progress, program, lesson).is_some() {
            return Err(AppError::Forbidden);
        }
    }
    let downloads: Vec<crate::content::Download> =
        crate::db::json_column(&lesson.lesson.downloads, "lessons.downloads")?;
    let entry = downloads
        .iter()
        .find(|d| d.file.rsplit('/').next() == Some(file.as_str()))
        .ok_or(AppError::NotFound)?;
    send_program_file(&state, &request, lesson.lesson.course_id, &entry.file).await
}

/// A file of a program (a lesson's download, a worksheet's CSV) as an attachment, from the
/// program's stored files (see [`crate::files`]), never elsewhere. The caller has checked who may
/// have it.
pub async fn send_program_file(
    state: &Ctx,
    request: &HeaderMap,
    course_id: i64,
    file: &str,
) -> Result<Response, AppError> {
    // The program's files stay in their folder when its slug changes in the studio.
    let folder = store::files_dir(&state.db, course_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let Some(file) = crate::content::safe_relative(file) else {
        return Err(AppError::NotFound);
    };
    let key = crate::files::key(&folder, &file);
    let mime = mime_guess::from_path(&file).first_or_octet_stream();
    let safe_name: String = file
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        .collect();
    let headers = crate::web::files::FileHeaders {
        content_type: mime.essence_str(),
        disposition: Some(format!("attachment; filename=\"{safe_name}\"")),
        cache_control: "private, no-store",
    };
    crate::files::serve(&state.db, request, &key, headers)
        .await?
        .ok_or(AppError::NotFound)
}

/// A certificate's public page: only the name, the program and the date.
pub async fn certificate(State(state): State<Ctx>, Path(code): Path<String>) -> Result<Response, AppError> {
    if code.len() > 64 {
        return Err(AppError::NotFound);
    }
    let cert = store::certificate(&state.db, &code).await?.ok_or(AppError::NotFound)?;
    let catalog = state.catalog();
    let ctx = context! {
        name => cert.name,
        course_title => cert.course_title,
        date => crate::local_time::format_local_date(cert.completed_at, &catalog.tz),
        url => format!("{}/certificates/{code}", state.config.base_url),
    };
    Ok(state.render("learning/certificate.html", ctx)?.into_response())
}
