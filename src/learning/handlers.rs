//! The dashboard, a student's lesson page, "Mark complete", downloads and certificates.

use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use minijinja::value::Serde;
use serde::{Deserialize, Serialize};

use super::{locked_module, store, view};
use crate::accounts::store::User;

use crate::accounts::SignedIn;
use crate::context::Ctx;
use crate::web::AppError;

#[derive(Serialize)]
struct DashboardProgram {
    slug: String,
    title: String,
    progress: view::Progress,
    certificate: Option<String>,
}

#[derive(Serialize)]
struct EarlierCertificate {
    title: String,
    code: String,
}

pub async fn dashboard(State(state): State<Ctx>, SignedIn(user): SignedIn) -> Result<Response, AppError> {
    let (programs, seats, done, certificates) = tokio::try_join!(
        async { Ok::<_, AppError>(super::programs_of(&state, &user).await?) },
        async { Ok(store::seats(&state.db, user.id).await?) },
        async { Ok::<_, AppError>(store::completed_all(&state.db, user.id).await?) },
        async { Ok::<_, AppError>(store::certificates_of(&state.db, user.id).await?) },
    )?;
    let catalog = state.catalog();
    let now = state.clock.now();
    let mut learning: Vec<DashboardProgram> = Vec::new();
    for seat in &seats {
        let Some(program) = catalog.program_by_id(seat.course_id) else {
            continue;
        };
        let completed: Vec<i64> = done
            .iter()
            .filter(|(c, _)| *c == seat.course_id)
            .map(|(_, l)| *l)
            .collect();
        learning.push(DashboardProgram {
            slug: program.slug.clone(),
            title: program.title.clone(),
            progress: view::progress(
                &program.rows,
                &completed,
                seat.last_lesson_id,
                seat.created_at,
                now,
                &catalog.tz,
            ),
            certificate: certificates
                .iter()
                .find(|(c, _)| *c == seat.course_id)
                .map(|(_, code)| code.clone()),
        });
    }
    learning.sort_by_key(|p| catalog.courses.iter().position(|c| c.slug == p.slug));
    // A certificate outlives the seat (a refund ends access to the lessons, not the fact that the
    // program was finished): those of programs no longer studied are listed on their own.
    let earlier: Vec<EarlierCertificate> = certificates
        .iter()
        .filter(|(course_id, _)| !seats.iter().any(|s| s.course_id == *course_id))
        .filter_map(|(course_id, code)| {
            let program = catalog.program_by_id(*course_id)?;
            Some(EarlierCertificate {
                title: program.title.clone(),
                code: code.clone(),
            })
        })
        .collect();
    // "Upgrade to the bundle for $X", for someone who bought part of it.
    let upgrade = crate::payments::flows::upgrade_for(&state, &user).await?;
    let ctx = context! {
        user => Serde(&user),
        programs => Serde(&programs),
        learning => Serde(&learning),
        certificates => Serde(&earlier),
        upgrade => Serde(&upgrade),
    };
    Ok(state.render("learning/dashboard.html", ctx)?.into_response())
}

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
    let seat = store::seat(&state.db, user.id, program.course_id).await?;
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
    let completed = store::completed_in(&state.db, user.id, program.course_id).await?;
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
    let mut tx = state.db.begin().await?;
    store::set_complete(&mut tx, user.id, program.course_id, lesson.lesson.id, done, now).await?;
    let all: Vec<i64> = program.rows.iter().map(|r| r.lesson_id).collect();
    let finished = done && store::count_completed(&mut tx, user.id, &all).await? == all.len() as i64;
    if finished {
        let code = crate::accounts::tokens::new_token().0[..20].to_owned();
        store::complete_course(&mut tx, user.id, program.course_id, &code, now).await?;
    }
    tx.commit().await?;
    Ok(Redirect::to(&format!("/courses/{slug}/lessons/{lesson_slug}#progress")).into_response())
}

/// A lesson's download, for its program's students and instructors. The name must be one the
/// lesson lists; the file is read from the program's folder inside `CONTENT_DIR`, never elsewhere.
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

/// A file of a program (a lesson's download, a worksheet's CSV) as an attachment, read from the
/// program's folder inside `CONTENT_DIR`, never elsewhere. The caller has checked who may have it.
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
    let root = std::fs::canonicalize(&state.config.content_dir).map_err(|e| AppError::Internal(e.into()))?;
    let path = match std::fs::canonicalize(root.join(&folder).join(file)) {
        Ok(p) if p.starts_with(root.join(&folder)) => p,
        _ => return Err(AppError::NotFound),
    };
    let mime = mime_guess::from_path(&path).first_or_octet_stream();
    let safe_name: String = file
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        .collect();
    let res = crate::web::files::serve(
        request,
        &path,
        crate::web::files::FileHeaders {
            content_type: mime.essence_str(),
            disposition: Some(format!("attachment; filename=\"{safe_name}\"")),
            cache_control: "private, no-store",
        },
    )
    .await;
    if res.status() == StatusCode::NOT_FOUND {
        return Err(AppError::NotFound);
    }
    Ok(res)
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
