//! A lesson's downloads in the studio: checking an upload (type, size, name), storing it, and
//! removing it.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::accounts::store::User;
use crate::admin::content_store::{self as store, CourseRow, LessonRow};
use crate::admin::editor::{finish, lesson_or_404};

use crate::accounts::Instructor;
use crate::content::Download;
use crate::context::Ctx;
use crate::web::AppError;

use super::*;

// ---- downloads -------------------------------------------------------------------------------

/// What may be offered as a download: the extension, and how the file must begin (its "magic"
/// bytes; `None` for text, which must be UTF-8 and not HTML). Nothing a browser would run or
/// render as a page (no HTML, SVG, scripts or programs).
pub(super) const ALLOWED: &[(&str, Option<&[&[u8]]>)] = &[
    ("pdf", Some(&[b"%PDF-"])),
    ("png", Some(&[b"\x89PNG\r\n\x1a\n"])),
    ("jpg", Some(&[b"\xff\xd8\xff"])),
    ("jpeg", Some(&[b"\xff\xd8\xff"])),
    ("docx", Some(&[b"PK\x03\x04"])),
    ("xlsx", Some(&[b"PK\x03\x04"])),
    ("pptx", Some(&[b"PK\x03\x04"])),
    ("odt", Some(&[b"PK\x03\x04"])),
    ("ods", Some(&[b"PK\x03\x04"])),
    ("epub", Some(&[b"PK\x03\x04"])),
    ("mp3", Some(&[b"ID3", b"\xff\xfb", b"\xff\xf3", b"\xff\xf2"])),
    ("csv", None),
    ("txt", None),
];

/// Checks an upload; returns the cleaned file name or what is wrong, in words.
pub fn check_upload(name: &str, bytes: &[u8]) -> Result<String, String> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let mut clean: String = base
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    clean = clean.trim_matches(['.', '-']).to_owned();
    let Some((stem, ext)) = clean.rsplit_once('.') else {
        return Err("The file needs an extension, such as .pdf.".into());
    };
    if stem.is_empty() || clean.len() > 100 {
        return Err("Give the file a shorter, plain name.".into());
    }
    let Some((_, magic)) = ALLOWED.iter().find(|(e, _)| *e == ext) else {
        return Err(format!(
            "Files ending .{ext} cannot be offered. Allowed: {}.",
            ALLOWED.iter().map(|(e, _)| *e).collect::<Vec<_>>().join(", ")
        ));
    };
    if bytes.is_empty() {
        return Err("That file is empty.".into());
    }
    if bytes.len() > crate::web::UPLOAD_LIMIT {
        return Err(format!(
            "That file is larger than {} MB.",
            crate::web::UPLOAD_LIMIT / (1024 * 1024)
        ));
    }
    match magic {
        Some(prefixes) => {
            if !prefixes.iter().any(|p| bytes.starts_with(p)) {
                return Err(format!("That file is not really a .{ext} file."));
            }
        }
        None => {
            let Ok(text) = std::str::from_utf8(bytes) else {
                return Err(format!("A .{ext} file must be plain text (UTF-8)."));
            };
            let head = text.trim_start_matches('\u{feff}').trim_start().to_lowercase();
            if text.contains('\0')
                || head.starts_with("<!doctype")
                || head.starts_with("<html")
                || head.contains("<script")
            {
                return Err("That file looks like a web page, which cannot be offered as a download.".into());
            }
        }
    }
    Ok(clean)
}

async fn lesson_page_error(
    state: &Ctx,
    user: &User,
    course: &CourseRow,
    lesson: &LessonRow,
    status: StatusCode,
    message: String,
) -> Result<Response, AppError> {
    let form = LessonForm::from_row(lesson);
    let errors = HashMap::from([("upload", message)]);
    let page = Page {
        status,
        form: &form,
        errors: &errors,
        preview_html: None,
        notice: None,
        theirs: None,
    };
    render(state, user, course, lesson, page).await
}

pub async fn upload(
    State(state): State<Ctx>,
    Instructor(user): Instructor,
    Path((slug, id)): Path<(String, i64)>,
    mut multipart: Multipart,
) -> Result<Response, AppError> {
    let (course, lesson) = lesson_or_404(&state, &slug, id).await?;
    let mut file: Option<(String, Bytes)> = None;
    let mut label = String::new();
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) => {
                let (status, message) = upload_failure(&e);
                return lesson_page_error(&state, &user, &course, &lesson, status, message).await;
            }
        };
        match field.name() {
            Some("title") => label = field.text().await.unwrap_or_default().replace('\0', ""),
            Some("file") => {
                let name = field.file_name().unwrap_or("").to_owned();
                match field.bytes().await {
                    Ok(bytes) => file = Some((name, bytes)),
                    Err(e) => {
                        let (status, message) = upload_failure(&e);
                        return lesson_page_error(&state, &user, &course, &lesson, status, message).await;
                    }
                }
            }
            _ => {}
        }
    }
    let Some((name, bytes)) = file.filter(|(n, _)| !n.is_empty()) else {
        let message = "Choose a file to upload.".to_owned();
        return lesson_page_error(
            &state,
            &user,
            &course,
            &lesson,
            StatusCode::UNPROCESSABLE_ENTITY,
            message,
        )
        .await;
    };
    let clean = match check_upload(&name, &bytes) {
        Ok(clean) => clean,
        Err(message) => {
            let status = if bytes.len() > crate::web::UPLOAD_LIMIT {
                StatusCode::PAYLOAD_TOO_LARGE
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            return lesson_page_error(&state, &user, &course, &lesson, status, message).await;
        }
    };
    let label = label.split_whitespace().collect::<Vec<_>>().join(" ");
    let label = if label.is_empty() {
        clean.clone()
    } else {
        label.chars().take(200).collect()
    };

    // Stored in the database (every instance serves it), under the program's files folder and a
    // name no other file has, in the same transaction as the lesson's list of downloads.
    let bytes_len = bytes.len() as u64;
    let mut tx = store::begin(&state.db).await?;
    let mut downloads: Vec<Download> =
        crate::db::json_column(&store::downloads_for_update(&mut tx, id).await?, "lessons.downloads")?;
    let rel = crate::files::put_new(&mut tx, course.files_dir(), &clean, &bytes, state.clock.now()).await?;
    downloads.push(Download {
        title: label.clone(),
        file: rel.clone(),
        bytes: bytes_len,
    });
    let json = serde_json::to_string(&downloads).map_err(|e| AppError::Internal(e.into()))?;
    store::set_downloads(&mut tx, id, &json, state.clock.now()).await?;
    finish(
        &state,
        tx,
        course.id,
        &user,
        "lesson.upload",
        &format!("{slug}/{}", lesson.slug),
        &format!("{label} ({rel})"),
    )
    .await?;
    Ok(Redirect::to(&format!("/admin/courses/{slug}/lessons/{id}?notice=uploaded#downloads")).into_response())
}

/// What to tell the instructor when the upload's body could not be read.
fn upload_failure(e: &axum::extract::multipart::MultipartError) -> (StatusCode, String) {
    let status = e.status();
    let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
        format!(
            "That file is larger than {} MB.",
            crate::web::UPLOAD_LIMIT / (1024 * 1024)
        )
    } else {
        "The upload did not arrive whole. Please try again.".to_owned()
    };
    (status, message)
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct RemoveForm {
    file: String,
}

/// Takes a file off the lesson (the file itself stays: another lesson may offer it).
pub async fn remove_download(
    State(state): State<Ctx>,
    Instructor(user): Instructor,
    Path((slug, id)): Path<(String, i64)>,
    axum::Form(form): axum::Form<RemoveForm>,
) -> Result<Response, AppError> {
    let (course, lesson) = lesson_or_404(&state, &slug, id).await?;
    let mut tx = store::begin(&state.db).await?;
    let mut downloads: Vec<Download> =
        crate::db::json_column(&store::downloads_for_update(&mut tx, id).await?, "lessons.downloads")?;
    let before = downloads.len();
    downloads.retain(|d| d.file != form.file);
    if downloads.len() == before {
        return Err(AppError::NotFound);
    }
    let json = serde_json::to_string(&downloads).map_err(|e| AppError::Internal(e.into()))?;
    store::set_downloads(&mut tx, id, &json, state.clock.now()).await?;
    finish(
        &state,
        tx,
        course.id,
        &user,
        "lesson.remove_download",
        &format!("{slug}/{}", lesson.slug),
        &form.file,
    )
    .await?;
    Ok(Redirect::to(&format!("/admin/courses/{slug}/lessons/{id}?notice=removed#downloads")).into_response())
}

#[cfg(test)]
mod tests {
    use super::check_upload;

    #[test]
    fn uploads_are_checked_by_name_and_content() {
        assert_eq!(
            check_upload("My Diary.PDF", b"%PDF-1.7 ...").as_deref(),
            Ok("my-diary.pdf")
        );
        assert_eq!(
            check_upload("C:\\x\\list.csv", b"a,b\n1,2\n").as_deref(),
            Ok("list.csv")
        );
        assert!(check_upload("page.html", b"<html>").is_err());
        assert!(check_upload("x.svg", b"<svg onload=alert(1)>").is_err());
        assert!(check_upload("run.exe", b"MZ").is_err());
        assert!(check_upload("fake.pdf", b"<html><script>").is_err());
        assert!(check_upload("page.txt", b"<!DOCTYPE html><p>").is_err());
        assert!(check_upload("bin.txt", &[0xff, 0xfe, 0x00]).is_err());
        assert!(check_upload("noext", b"x").is_err());
        assert!(check_upload(".pdf", b"%PDF-").is_err());
        assert!(check_upload("empty.pdf", b"").is_err());
    }
}
