//! The lesson editor: Markdown with a one-click preview rendered exactly as students see it,
//! duration, free preview, video, downloads (uploads), and saves that never silently overwrite
//! somebody else's: each save names the revision it started from.

use std::collections::{HashMap, HashSet};

use axum::body::Bytes;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use minijinja::value::Serde;
use serde::{Deserialize, Serialize};

use super::content_store::{self as store, CourseRow, LessonRow, Table};
use super::editor::{FormData, NoticeQuery, finish, lesson_or_404, slug_from, title};
use crate::accounts::store::User;

use crate::accounts::Instructor;
use crate::content::Download;
use crate::context::Ctx;
use crate::web::AppError;

const MAX_BODY: usize = 512 * 1024;

#[derive(Serialize, Default, Clone)]
struct LessonForm {
    title: String,
    slug: String,
    module_id: i64,
    duration_minutes: String,
    free_preview: bool,
    video_url: String,
    body: String,
    revision: i64,
}

impl LessonForm {
    fn from_row(l: &LessonRow) -> LessonForm {
        LessonForm {
            title: l.title.clone(),
            slug: l.slug.clone(),
            module_id: l.module_id,
            duration_minutes: l.duration_minutes.to_string(),
            free_preview: l.free_preview,
            video_url: l.video_url.clone().unwrap_or_default(),
            body: l.body_md.clone(),
            revision: l.revision,
        }
    }
}

struct Page<'a> {
    status: StatusCode,
    form: &'a LessonForm,
    errors: &'a HashMap<&'static str, String>,
    preview_html: Option<String>,
    notice: Option<&'a str>,
    /// The version somebody else saved meanwhile, shown beside the editor's text.
    theirs: Option<&'a LessonRow>,
}

async fn render(
    state: &Ctx,
    user: &User,
    course: &CourseRow,
    lesson: &LessonRow,
    page: Page<'_>,
) -> Result<Response, AppError> {
    let modules: Vec<_> = store::modules(&state.db, course.id)
        .await?
        .into_iter()
        .filter(|m| !m.archived)
        .collect();
    let downloads: Vec<Download> = crate::db::json_column(&lesson.downloads, "lessons.downloads")?;
    let module = modules.iter().find(|m| m.id == lesson.module_id);
    let ctx = context! {
        user => Serde(user),
        course => Serde(course),
        lesson => Serde(lesson),
        module => Serde(&module),
        modules => Serde(&modules),
        form => Serde(page.form),
        errors => Serde(page.errors),
        preview_html => page.preview_html,
        notice => page.notice,
        theirs => Serde(&page.theirs),
        downloads => Serde(&downloads),
        upload_limit_mb => crate::web::UPLOAD_LIMIT / (1024 * 1024),
        allowed => ALLOWED.iter().map(|(ext, _)| *ext).collect::<Vec<_>>().join(", "),
    };
    Ok((page.status, state.render("admin/lesson_form.html", ctx)?).into_response())
}

fn lesson_notice(key: &str) -> Option<&'static str> {
    Some(match key {
        "created" => "Lesson created. Students see it once it has text and its module is published.",
        "saved" => "Saved.",
        "uploaded" => "File added to the lesson.",
        "removed" => "File removed from the lesson.",
        _ => return None,
    })
}

pub async fn edit(
    State(state): State<Ctx>,
    Instructor(user): Instructor,
    Path((slug, id)): Path<(String, i64)>,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, AppError> {
    let (course, lesson) = lesson_or_404(&state, &slug, id).await?;
    let form = LessonForm::from_row(&lesson);
    let page = Page {
        status: StatusCode::OK,
        form: &form,
        errors: &HashMap::new(),
        preview_html: None,
        notice: lesson_notice(&q.notice),
        theirs: None,
    };
    render(&state, &user, &course, &lesson, page).await
}

/// Save, or (with `action=preview`) render the text as students will see it without saving.
pub async fn save(
    State(state): State<Ctx>,
    Instructor(user): Instructor,
    Path((slug, id)): Path<(String, i64)>,
    body: Bytes,
) -> Result<Response, AppError> {
    let (course, lesson) = lesson_or_404(&state, &slug, id).await?;
    let f = FormData::parse(&body);
    if !f.has("revision") || !f.has("body") {
        return Err(AppError::BadRequest(
            "The form is incomplete: reload the page and try again.".into(),
        ));
    }
    let form = LessonForm {
        title: f.get("title"),
        slug: f.get("slug"),
        module_id: f.get("module").parse().unwrap_or(lesson.module_id),
        duration_minutes: f.get("duration_minutes"),
        free_preview: !f.get("free_preview").is_empty(),
        video_url: f.get("video_url").trim().to_owned(),
        body: f.get("body"),
        revision: f.get("revision").parse().unwrap_or(-1),
    };
    let mut errors: HashMap<&'static str, String> = HashMap::new();
    let mut next = lesson.clone();
    match title(&form.title, "lesson") {
        Ok(t) => {
            match slug_from(&form.slug, &t) {
                Ok(s) => next.slug = s,
                Err(e) => {
                    errors.insert("slug", e);
                }
            }
            next.title = t;
        }
        Err(e) => {
            errors.insert("title", e);
        }
    }
    let modules = store::modules(&state.db, course.id).await?;
    if modules.iter().any(|m| m.id == form.module_id && !m.archived) {
        next.module_id = form.module_id;
    } else {
        errors.insert("module", "Choose one of this program's modules.".into());
    }
    next.duration_minutes = match form.duration_minutes.trim() {
        "" => (form.body.split_whitespace().count() as i64 / 200).max(1),
        d => match d.parse::<i64>() {
            Ok(m) if (0..=600).contains(&m) => m,
            _ => {
                errors.insert(
                    "duration_minutes",
                    "Enter the minutes as a number from 0 to 600.".into(),
                );
                lesson.duration_minutes
            }
        },
    };
    next.free_preview = form.free_preview;
    next.video_url = if form.video_url.is_empty() {
        None
    } else {
        let ok = url::Url::parse(&form.video_url)
            .map(|u| matches!(u.scheme(), "https" | "http"))
            .unwrap_or(false);
        if !ok || form.video_url.len() > 500 {
            errors.insert(
                "video_url",
                "Enter the video's web address, starting with https://.".into(),
            );
        }
        Some(form.video_url.clone())
    };
    let body_md = form.body.trim().to_owned();
    let mut preview_html = None;
    if body_md.len() > MAX_BODY {
        errors.insert(
            "body",
            format!("The lesson is longer than {} KiB; split it in two.", MAX_BODY / 1024),
        );
    } else {
        let mut tx = store::begin(&state.db).await?;
        let slugs: HashSet<String> = store::lesson_slugs(&mut tx, course.id)
            .await?
            .into_iter()
            .map(|(_, s)| s)
            .collect();
        drop(tx);
        // Links may also name the program's glossary terms and worksheets.
        let mut links = crate::content::program_links(&state.db, course.id).await?;
        links.program_slug = course.slug.clone();
        links.lessons = slugs;
        match crate::content::markdown::render_lesson_body_off_runtime(links, body_md.clone()).await {
            Ok(html) => {
                next.body_html = html.clone();
                preview_html = Some(html);
            }
            Err(e) => {
                errors.insert("body", e);
            }
        }
    }
    next.body_md = body_md;

    let preview_only = f.get("action") == "preview";
    if preview_only || !errors.is_empty() {
        let status = if errors.is_empty() {
            StatusCode::OK
        } else {
            StatusCode::UNPROCESSABLE_ENTITY
        };
        let page = Page {
            status,
            form: &form,
            errors: &errors,
            preview_html,
            notice: None,
            theirs: None,
        };
        return render(&state, &user, &course, &lesson, page).await;
    }

    let now = state.clock.now();
    let mut tx = store::begin(&state.db).await?;
    let taken = store::lesson_slugs(&mut tx, course.id)
        .await?
        .into_iter()
        .any(|(other, s)| other != id && s == next.slug);
    if taken {
        drop(tx);
        errors.insert(
            "slug",
            format!("Another lesson of this program already uses “{}”.", next.slug),
        );
        let page = Page {
            status: StatusCode::CONFLICT,
            form: &form,
            errors: &errors,
            preview_html,
            notice: None,
            theirs: None,
        };
        return render(&state, &user, &course, &lesson, page).await;
    }
    if !store::save_lesson(&mut tx, &next, form.revision, now).await? {
        // Somebody saved since this editor opened: keep this text in the form, show theirs, and
        // let a second save (now based on their revision) replace it knowingly.
        let current = store::lesson_in_tx(&mut tx, course.id, id)
            .await?
            .ok_or(AppError::NotFound)?;
        drop(tx);
        errors.insert(
            "conflict",
            "This lesson was changed by someone else since you opened it. Nothing was saved. Your text is still in the editor; their version is below. Merge what you need, then save again.".into(),
        );
        let form = LessonForm {
            revision: current.revision,
            ..form
        };
        let page = Page {
            status: StatusCode::CONFLICT,
            form: &form,
            errors: &errors,
            preview_html,
            notice: None,
            theirs: Some(&current),
        };
        return render(&state, &user, &course, &current, page).await;
    }
    if next.slug != lesson.slug {
        store::add_lesson_redirect(&mut tx, course.id, &lesson.slug, &next.slug, id).await?;
    }
    if next.module_id != lesson.module_id {
        // Moved to another module: last there, and the old module's order closes up.
        let mut ids = store::lesson_order(&mut tx, next.module_id).await?;
        ids.retain(|x| *x != id);
        ids.push(id);
        store::renumber(&mut tx, Table::Lessons, &ids).await?;
        let old = store::lesson_order(&mut tx, lesson.module_id).await?;
        store::renumber(&mut tx, Table::Lessons, &old).await?;
    }
    let detail = if next.slug != lesson.slug {
        format!("{} (web address {} → {})", next.title, lesson.slug, next.slug)
    } else {
        next.title.clone()
    };
    finish(
        &state,
        tx,
        course.id,
        &user,
        "lesson.edit",
        &format!("{}/{}", course.slug, next.slug),
        &detail,
    )
    .await?;
    Ok(Redirect::to(&format!("/admin/courses/{}/lessons/{id}?notice=saved", course.slug)).into_response())
}

// ---- downloads -------------------------------------------------------------------------------

/// What may be offered as a download: the extension, and how the file must begin (its "magic"
/// bytes; `None` for text, which must be UTF-8 and not HTML). Nothing a browser would run or
/// render as a page (no HTML, SVG, scripts or programs).
const ALLOWED: &[(&str, Option<&[&[u8]]>)] = &[
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
