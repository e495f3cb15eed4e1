//! The lesson editor: Markdown with a one-click preview rendered exactly as students see it,
//! duration, free preview, video, downloads (uploads), and saves that never silently overwrite
//! somebody else's: each save names the revision it started from.

use std::collections::{HashMap, HashSet};

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use minijinja::value::Serde;
use serde::{Deserialize, Serialize};

use super::content_store::{self as store, CourseRow, LessonRow, Table};
use super::editor::{NoticeQuery, finish, lesson_or_404, slug_from, title};
use crate::accounts::store::User;

use crate::accounts::Instructor;
use crate::content::Download;
use crate::context::Ctx;
use crate::web::AppError;
use crate::web::form::{Form, text};

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

/// The lesson form as posted. `revision` and `body` are always there when the page sent it.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct LessonPost {
    #[serde(deserialize_with = "text")]
    title: String,
    #[serde(deserialize_with = "text")]
    slug: String,
    module: String,
    #[serde(deserialize_with = "text")]
    duration_minutes: String,
    free_preview: String,
    #[serde(deserialize_with = "text")]
    video_url: String,
    body: Option<String>,
    revision: Option<String>,
    action: String,
}

/// Save, or (with `action=preview`) render the text as students will see it without saving.
pub async fn save(
    State(state): State<Ctx>,
    Instructor(user): Instructor,
    Path((slug, id)): Path<(String, i64)>,
    Form(f): Form<LessonPost>,
) -> Result<Response, AppError> {
    let (course, lesson) = lesson_or_404(&state, &slug, id).await?;
    let (Some(revision), Some(body)) = (&f.revision, &f.body) else {
        return Err(AppError::BadRequest(
            "The form is incomplete: reload the page and try again.".into(),
        ));
    };
    let form = LessonForm {
        title: f.title.clone(),
        slug: f.slug.clone(),
        module_id: f.module.parse().unwrap_or(lesson.module_id),
        duration_minutes: f.duration_minutes.clone(),
        free_preview: !f.free_preview.is_empty(),
        video_url: f.video_url.trim().to_owned(),
        body: crate::web::form::clean(body),
        revision: revision.parse().unwrap_or(-1),
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

    let preview_only = f.action == "preview";
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

mod downloads;
pub use downloads::*;
