//! "Preview as a student": any lesson, or the first lesson of any module, drafts and scheduled
//! modules included, rendered with the student's page and a banner that says it is a preview.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use minijinja::Value;
use minijinja::context;
use minijinja::value::Serde;
use serde::Deserialize;

use super::editor::course_or_404;
use crate::accounts::Instructor;
use crate::accounts::store::User;
use crate::catalog::store as catalog_store;
use crate::context::Ctx;
use crate::web::AppError;

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ModuleQuery {
    module: Option<i64>,
}

/// `/admin/courses/{slug}/preview?module=ID`: the module's first lesson (or the program's).
pub async fn module(
    State(state): State<Ctx>,
    Instructor(user): Instructor,
    Path(slug): Path<String>,
    Query(q): Query<ModuleQuery>,
) -> Result<Response, AppError> {
    let course = course_or_404(&state, &slug).await?;
    let rows = catalog_store::preview_syllabus(&state.db, course.id).await?;
    let first = match q.module {
        Some(m) => rows.iter().find(|r| r.module_id == m),
        None => rows.first(),
    };
    match first {
        Some(r) => render(&state, &user, &slug, &r.lesson_slug.clone()).await,
        None => Err(AppError::BadRequest(
            "There is nothing to preview yet: add a lesson to this module first.".into(),
        )),
    }
}

pub async fn lesson(
    State(state): State<Ctx>,
    Instructor(user): Instructor,
    Path((slug, lesson_slug)): Path<(String, String)>,
) -> Result<Response, AppError> {
    render(&state, &user, &slug, &lesson_slug).await
}

async fn render(state: &Ctx, user: &User, slug: &str, lesson_slug: &str) -> Result<Response, AppError> {
    let course = course_or_404(state, slug).await?;
    let (page, rows, lesson, pages) = tokio::try_join!(
        catalog_store::preview_course(&state.db, course.id),
        catalog_store::preview_syllabus(&state.db, course.id),
        catalog_store::preview_lesson(&state.db, course.id, lesson_slug),
        catalog_store::preview_pages(&state.db, course.id),
    )?;
    let page = page.ok_or(AppError::NotFound)?;
    let lesson = lesson.ok_or(AppError::NotFound)?;
    let modules = crate::catalog::view::modules(&rows);
    let course_value = Value::from(Serde(&page));
    let modules_value = Value::from(Serde(&modules));
    let pages = crate::catalog::snapshot::ProgramPages::of(&pages);
    let base = crate::catalog::snapshot::lesson_context(&course_value, &modules_value, &rows, &lesson, &pages)?;
    // A student who just enrolled: nothing done yet, every module open.
    let now = state.clock.now();
    let tz = state.catalog().tz.clone();
    let progress = crate::learning::view::progress(&rows, &[], None, now, now, &tz);
    let draft_module = super::content_store::module(&state.db, course.id, lesson.module_id)
        .await?
        .filter(|m| m.status != crate::domain::ModuleStatus::Published)
        .map(|m| m.status.as_str());
    let extra = context! {
        user => Serde(user),
        learner => context! { progress => Serde(&progress), done => false },
        preview => context! {
            back => format!("/admin/courses/{slug}/lessons/{}", lesson.id),
            base => format!("/admin/courses/{slug}/preview"),
            module_status => draft_module,
        },
    };
    let ctx = minijinja::value::merge_maps([base, extra]);
    Ok(state.render("catalog/lesson.html", ctx)?.into_response())
}
