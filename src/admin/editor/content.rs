//! The page that lists a program's modules and lessons with their controls, and the refusals
//! shown on it.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use minijinja::value::Serde;
use serde::Serialize;

use super::{NoticeQuery, course_or_404, store};
use crate::accounts::Instructor;
use crate::accounts::store::User;
use crate::admin::content_store::{CourseRow, ModuleRow};
use crate::context::Ctx;
use crate::web::AppError;

#[derive(Serialize)]
struct ModuleView {
    #[serde(flatten)]
    row: ModuleRow,
    publish_at_local: Option<String>,
    publish_at_value: String,
    lessons: Vec<crate::admin::content_store::LessonRow>,
}

fn content_notice(key: &str) -> Option<&'static str> {
    Some(match key {
        "created" => "Program created, as a draft. Add its first module below.",
        "module-added" => "Module added, as a draft: students see it once you publish it.",
        "lesson-added" => "Lesson added.",
        "moved" => "Order changed.",
        "deleted" => "Deleted.",
        "archived" => "Archived: hidden from students; their progress is kept.",
        "restored" => "Restored.",
        "published" => "Published: students can see it now.",
        "published-notified" => "Published, and the enrolled students are being emailed.",
        "scheduled" => "Scheduled: it will be published at the time you chose.",
        "draft" => "Back to draft: students no longer see it.",
        "saved" => "Saved.",
        _ => return None,
    })
}

pub async fn content_page(
    State(state): State<Ctx>,
    Instructor(user): Instructor,
    Path(slug): Path<String>,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, AppError> {
    let course = course_or_404(&state, &slug).await?;
    render_content(
        &state,
        &user,
        &course,
        StatusCode::OK,
        content_notice(&q.notice),
        HashMap::new(),
    )
    .await
}

pub async fn render_content(
    state: &Ctx,
    user: &User,
    course: &CourseRow,
    status: StatusCode,
    notice: Option<&str>,
    errors: HashMap<String, String>,
) -> Result<Response, AppError> {
    let (modules, lessons) = tokio::try_join!(
        store::modules(&state.db, course.id),
        store::lessons(&state.db, course.id)
    )?;
    let tz = state.catalog().tz.clone();
    let (active, archived): (Vec<ModuleRow>, Vec<ModuleRow>) = modules.into_iter().partition(|m| !m.archived);
    let active: Vec<ModuleView> = active
        .into_iter()
        .map(|m| ModuleView {
            publish_at_local: m.publish_at.map(|t| crate::local_time::format_local(t, &tz)),
            publish_at_value: m
                .publish_at
                .map(|t| crate::local_time::input_value(t, &tz))
                .unwrap_or_default(),
            lessons: lessons
                .iter()
                .filter(|l| l.module_id == m.id && !l.archived)
                .cloned()
                .collect(),
            row: m,
        })
        .collect();
    let archived_lessons: Vec<_> = lessons.iter().filter(|l| l.archived).cloned().collect();
    let ctx = context! {
        user => Serde(user),
        course => Serde(course),
        modules => Serde(&active),
        archived_modules => Serde(&archived),
        archived_lessons => Serde(&archived_lessons),
        notice,
        errors,
        time_zone => state.catalog().site.time_zone.clone(),
    };
    Ok((status, state.render("admin/content.html", ctx)?).into_response())
}

pub(super) fn back_to_content(slug: &str, notice: &str, anchor: &str) -> Response {
    Redirect::to(&format!("/admin/courses/{slug}/content?notice={notice}{anchor}")).into_response()
}

pub(super) async fn refuse(
    state: &Ctx,
    user: &User,
    course: &CourseRow,
    status: StatusCode,
    key: String,
    message: String,
) -> Result<Response, AppError> {
    render_content(state, user, course, status, None, HashMap::from([(key, message)])).await
}
