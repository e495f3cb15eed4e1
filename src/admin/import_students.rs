//! Moving students in from the studio: upload a CSV, see the dry run, then confirm. The upload is
//! kept (under `DATA_DIR/imports/`, named for the instructor and a random id) between the dry run
//! and the confirmation, so what is imported is exactly the file that was checked; the real run
//! checks it again, in one transaction (see [`crate::imports`]).

use axum::Form;
use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use minijinja::context;
use minijinja::value::Serde;
use serde::Deserialize;

use crate::accounts::Instructor;
use crate::accounts::store::User;
use crate::context::Ctx;
use crate::imports::{self, ImportError, Problem, Report};
use crate::web::AppError;

/// The largest CSV the page takes (a 10,000-student export is about 1 MB).
pub const IMPORT_LIMIT: usize = 8 * 1024 * 1024;
/// A kept upload not confirmed within this long is deleted.
const KEEP_UPLOAD: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

fn program_title(state: &Ctx, slug: &str) -> Result<String, AppError> {
    state
        .catalog()
        .program(slug)
        .map(|p| p.title.clone())
        .ok_or(AppError::NotFound)
}

#[derive(Default)]
struct View<'a> {
    report: Option<&'a Report>,
    problems: &'a [Problem],
    more: usize,
    error: Option<String>,
    upload: Option<String>,
    done: bool,
}

fn render(state: &Ctx, user: &User, slug: &str, status: StatusCode, v: View<'_>) -> Result<Response, AppError> {
    let title = program_title(state, slug)?;
    let ctx = context! {
        user => Serde(user),
        title,
        slug,
        report => Serde(&v.report),
        problems => Serde(v.problems),
        more => v.more,
        error => v.error,
        upload => v.upload,
        done => v.done,
        limit_mb => IMPORT_LIMIT / (1024 * 1024),
    };
    Ok((status, state.render("admin/import_students.html", ctx)?).into_response())
}

pub async fn page(
    State(state): State<Ctx>,
    Instructor(user): Instructor,
    Path(slug): Path<String>,
) -> Result<Response, AppError> {
    render(&state, &user, &slug, StatusCode::OK, View::default())
}

fn uploads_dir(state: &Ctx) -> std::path::PathBuf {
    state.config.data_dir.join("imports")
}

fn upload_path(state: &Ctx, user: &User, id: &uuid::Uuid) -> std::path::PathBuf {
    uploads_dir(state).join(format!("{}-{}.csv", user.id, id.simple()))
}

/// Keeps an upload for its confirmation; forgets those older than a day.
fn keep_upload(dir: &std::path::Path, path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > KEEP_UPLOAD);
            if old {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    std::fs::write(path, bytes)
}

fn parse(state: &Ctx, bytes: &[u8]) -> Result<imports::Parsed, ImportError> {
    let catalog = state.catalog();
    Ok(imports::parse::read(bytes, &catalog.tz, state.clock.now())?)
}

/// What a failed import shows: the problems with their lines, or the one reason.
fn failure(state: &Ctx, user: &User, slug: &str, e: ImportError) -> Result<Response, AppError> {
    match e {
        ImportError::Rows { problems, more } => render(
            state,
            user,
            slug,
            StatusCode::UNPROCESSABLE_ENTITY,
            View {
                problems: &problems,
                more,
                error: Some(format!(
                    "Nothing was imported: {} row{} of the file cannot be imported. Correct them and upload the file again.",
                    problems.len() + more,
                    if problems.len() + more == 1 { "" } else { "s" }
                )),
                ..View::default()
            },
        ),
        ImportError::File(e) => render(
            state,
            user,
            slug,
            StatusCode::UNPROCESSABLE_ENTITY,
            View {
                error: Some(format!("Nothing was imported: {e}.")),
                ..View::default()
            },
        ),
        ImportError::NoProgram(_) => Err(AppError::NotFound),
        ImportError::Failed(e) => Err(e.into()),
    }
}

/// The upload: read and checked, then the dry run shown with a button to confirm.
pub async fn upload(
    State(state): State<Ctx>,
    Instructor(user): Instructor,
    Path(slug): Path<String>,
    mut multipart: Multipart,
) -> Result<Response, AppError> {
    program_title(&state, &slug)?;
    let mut file: Option<(String, axum::body::Bytes)> = None;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) => return upload_failed(&state, &user, &slug, e.status()),
        };
        if field.name() == Some("file") {
            let name = field.file_name().unwrap_or("").to_owned();
            match field.bytes().await {
                Ok(bytes) => file = Some((name, bytes)),
                Err(e) => return upload_failed(&state, &user, &slug, e.status()),
            }
        }
    }
    let Some((name, bytes)) = file.filter(|(_, b)| !b.is_empty()) else {
        return render(
            &state,
            &user,
            &slug,
            StatusCode::UNPROCESSABLE_ENTITY,
            View {
                error: Some("Choose a CSV file to upload.".to_owned()),
                ..View::default()
            },
        );
    };
    if bytes.len() > IMPORT_LIMIT {
        return upload_failed(&state, &user, &slug, StatusCode::PAYLOAD_TOO_LARGE);
    }
    let parsed = match parse(&state, &bytes) {
        Ok(p) => p,
        Err(e) => return failure(&state, &user, &slug, e),
    };
    let report = match imports::import_students(&state, &slug, &parsed, true, (&user).into(), &name).await {
        Ok(r) => r,
        Err(e) => return failure(&state, &user, &slug, e),
    };
    let id = uuid::Uuid::new_v4();
    let dir = uploads_dir(&state);
    let path = upload_path(&state, &user, &id);
    // The name travels with the bytes, for the audit log.
    let mut kept = name.replace(['\n', '\r'], " ").into_bytes();
    kept.push(b'\n');
    kept.extend_from_slice(&bytes);
    tokio::task::spawn_blocking(move || keep_upload(&dir, &path, &kept))
        .await
        .map_err(|e| AppError::Internal(e.into()))?
        .map_err(|e| AppError::Internal(anyhow::anyhow!("keeping an import upload: {e}")))?;
    render(
        &state,
        &user,
        &slug,
        StatusCode::OK,
        View {
            report: Some(&report),
            upload: Some(id.simple().to_string()),
            ..View::default()
        },
    )
}

fn upload_failed(state: &Ctx, user: &User, slug: &str, status: StatusCode) -> Result<Response, AppError> {
    let (status, message) = if status == StatusCode::PAYLOAD_TOO_LARGE {
        (
            status,
            format!(
                "That file is larger than {} MB: split it into smaller files.",
                IMPORT_LIMIT / (1024 * 1024)
            ),
        )
    } else {
        (
            StatusCode::BAD_REQUEST,
            "The upload did not arrive whole. Please try again.".to_owned(),
        )
    };
    render(
        state,
        user,
        slug,
        status,
        View {
            error: Some(message),
            ..View::default()
        },
    )
}

#[derive(Deserialize)]
pub struct Confirm {
    upload: String,
}

/// The confirmation: the kept upload, imported for real.
pub async fn confirm(
    State(state): State<Ctx>,
    Instructor(user): Instructor,
    Path(slug): Path<String>,
    Form(form): Form<Confirm>,
) -> Result<Response, AppError> {
    program_title(&state, &slug)?;
    // Only an id this page made, and only the instructor's own upload.
    let Ok(id) = uuid::Uuid::try_parse(form.upload.trim()) else {
        return Err(AppError::BadRequest(
            "That upload is unknown. Please upload the file again.".into(),
        ));
    };
    let path = upload_path(&state, &user, &id);
    let read_path = path.clone();
    let Ok(Ok(kept)) = tokio::task::spawn_blocking(move || std::fs::read(read_path)).await else {
        return render(
            &state,
            &user,
            &slug,
            StatusCode::GONE,
            View {
                error: Some(
                    "That upload is no longer here (it was imported already, or is older than a day). Upload the file again."
                        .to_owned(),
                ),
                ..View::default()
            },
        );
    };
    let split = kept.iter().position(|b| *b == b'\n').unwrap_or(0);
    let name = String::from_utf8_lossy(&kept[..split]).into_owned();
    let bytes = kept.get(split + 1..).unwrap_or_default();
    let parsed = match parse(&state, bytes) {
        Ok(p) => p,
        Err(e) => return failure(&state, &user, &slug, e),
    };
    let report = match imports::import_students(&state, &slug, &parsed, false, (&user).into(), &name).await {
        Ok(r) => r,
        Err(e) => return failure(&state, &user, &slug, e),
    };
    let _ = tokio::task::spawn_blocking(move || std::fs::remove_file(path)).await;
    render(
        &state,
        &user,
        &slug,
        StatusCode::OK,
        View {
            report: Some(&report),
            done: true,
            ..View::default()
        },
    )
}
