//! The studio's content editor: a program's own fields (or a new program, `programs.rs`), and the
//! page that lists its modules and lessons with their controls (`content.rs`): add and edit
//! modules (`modules.rs`), add lessons (`lessons.rs`), and move, archive or delete either
//! (`items.rs`, one implementation for both). The lesson editor itself is in `admin/lessons.rs`.
//!
//! Every write runs in one transaction that also re-hashes the program for `content import`
//! (see `content::rehash`), bumps the content version and records the audit entry; the handler
//! then reloads the catalogue, so the next page shows the change.

mod content;
mod forms;
mod items;
mod lessons;
mod modules;
mod programs;

use std::collections::HashMap;
use std::hash::Hash;

use axum::response::Response;
use serde::Deserialize;

pub use content::{content_page, render_content};
pub use forms::{slug_from, title};
pub use items::{archive_lesson, archive_module, delete_lesson, delete_module, move_lesson, move_module};
pub use lessons::add_lesson;
pub use modules::{add_module, edit_module, save_module};
pub use programs::{create_program, edit_program, new_program, save_program};

use super::content_store::{self as store, CourseRow};
use crate::accounts::store::User;
use crate::audit;
use crate::content as content_api;
use crate::context::Ctx;
use crate::db::Tx;
use crate::web::AppError;

#[allow(clippy::too_many_arguments)]
pub async fn finish(
    state: &Ctx,
    mut tx: Tx,
    course_id: i64,
    user: &User,
    action: &str,
    subject: &str,
    detail: &str,
) -> Result<(), AppError> {
    content_api::rehash(&mut tx, course_id).await?;
    crate::catalog::store::bump_content_version(&mut tx).await?;
    audit::record(&mut tx, user.into(), action, subject, detail, state.clock.now()).await?;
    tx.commit().await?;
    state.refresh_catalog().await.map_err(AppError::Internal)?;
    Ok(())
}

pub async fn course_or_404(state: &Ctx, slug: &str) -> Result<CourseRow, AppError> {
    store::course_by_slug(&state.db, slug).await?.ok_or(AppError::NotFound)
}

/// A module of the program at `slug`: 404 for an unknown program, and for another program's module
/// (an id in the URL never reaches across programs).
pub async fn module_or_404(state: &Ctx, slug: &str, id: i64) -> Result<(CourseRow, store::ModuleRow), AppError> {
    let course = course_or_404(state, slug).await?;
    let module = store::module(&state.db, course.id, id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok((course, module))
}

/// A lesson of the program at `slug`, on the same terms as [`module_or_404`].
pub async fn lesson_or_404(state: &Ctx, slug: &str, id: i64) -> Result<(CourseRow, store::LessonRow), AppError> {
    let course = course_or_404(state, slug).await?;
    let lesson = store::lesson(&state.db, course.id, id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok((course, lesson))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct NoticeQuery {
    pub notice: String,
}

/// Gives up a write and shows the form again: the transaction is dropped unused (so nothing of it
/// is written), the message joins the form's errors under `key`, and `render` draws the form with
/// them.
pub(super) async fn refuse_in<K, F, Fut>(
    tx: Tx,
    mut errors: HashMap<K, String>,
    key: K,
    message: String,
    render: F,
) -> Result<Response, AppError>
where
    K: Eq + Hash,
    F: FnOnce(HashMap<K, String>) -> Fut,
    Fut: Future<Output = Result<Response, AppError>>,
{
    drop(tx);
    errors.insert(key, message);
    render(errors).await
}
