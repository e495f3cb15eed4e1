//! Moving, archiving (and restoring) and deleting modules and lessons: one implementation for
//! both kinds. What differs is where an item lives (its table, and the list it is ordered in:
//! the program's modules, or its module's lessons) and what stops it from going (students'
//! progress; for a lesson also other lessons' links, and an archived module on restore).

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use time::OffsetDateTime;

use super::content::{back_to_content, render_content};
use super::{finish, lesson_or_404, module_or_404, refuse_in, store};
use crate::accounts::Instructor;
use crate::accounts::store::User;
use crate::admin::content_store::{CourseRow, Table};
use crate::context::Ctx;
use crate::db::Tx;
use crate::web::AppError;

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct MoveForm {
    direction: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ArchiveForm {
    restore: String,
}

/// The two kinds of item on the content page.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Module,
    Lesson,
}

impl Kind {
    fn noun(self) -> &'static str {
        match self {
            Kind::Module => "module",
            Kind::Lesson => "lesson",
        }
    }

    fn table(self) -> Table {
        match self {
            Kind::Module => Table::Modules,
            Kind::Lesson => Table::Lessons,
        }
    }
}

/// A module or a lesson, as the shared handlers need it.
struct Item {
    kind: Kind,
    id: i64,
    /// The list it is ordered in: its program (a module) or its module (a lesson).
    parent: i64,
    slug: String,
    title: String,
}

impl Item {
    /// The item `id` of the program at `slug`, on the terms of [`module_or_404`]/[`lesson_or_404`].
    async fn find(state: &Ctx, slug: &str, kind: Kind, id: i64) -> Result<(CourseRow, Item), AppError> {
        Ok(match kind {
            Kind::Module => {
                let (course, m) = module_or_404(state, slug, id).await?;
                let parent = course.id;
                let item = Item {
                    kind,
                    id,
                    parent,
                    slug: m.slug,
                    title: m.title,
                };
                (course, item)
            }
            Kind::Lesson => {
                let (course, l) = lesson_or_404(state, slug, id).await?;
                let item = Item {
                    kind,
                    id,
                    parent: l.module_id,
                    slug: l.slug,
                    title: l.title,
                };
                (course, item)
            }
        })
    }

    /// Its name on the content page: the anchor it is shown at, and the key of its errors.
    fn key(&self) -> String {
        format!("{}-{}", self.kind.noun(), self.id)
    }

    fn action(&self, verb: &str) -> String {
        format!("{}.{verb}", self.kind.noun())
    }

    /// The ids of its list, in order.
    async fn order(&self, tx: &mut Tx) -> sqlx::Result<Vec<i64>> {
        match self.kind {
            Kind::Module => store::module_order(tx, self.parent).await,
            Kind::Lesson => store::lesson_order(tx, self.parent).await,
        }
    }

    /// Numbers its list 1, 2, 3… again after an item left or came back.
    async fn renumber(&self, tx: &mut Tx) -> sqlx::Result<()> {
        let ids = self.order(tx).await?;
        store::renumber(tx, self.kind.table(), &ids).await
    }

    /// Why it cannot be deleted because of students' progress, or None.
    async fn progress_refusal(&self, tx: &mut Tx) -> sqlx::Result<Option<String>> {
        let students = match self.kind {
            Kind::Module => store::module_progress(tx, self.id).await?,
            Kind::Lesson => store::lesson_progress(tx, self.id).await?,
        };
        if students == 0 {
            return Ok(None);
        }
        let title = &self.title;
        Ok(Some(match self.kind {
            Kind::Module => format!(
                "“{title}” cannot be deleted: {students} student{} ha{} progress in it, which would be lost. Archive it instead: it disappears for students and their progress is kept.",
                if students == 1 { "" } else { "s" },
                if students == 1 { "s" } else { "ve" },
            ),
            Kind::Lesson => format!(
                "“{title}” cannot be deleted: {students} student{} opened it, and their progress would be lost. Archive it instead: it disappears for students and their progress is kept.",
                if students == 1 { "" } else { "s" },
            ),
        }))
    }

    /// A lesson other lessons link to cannot go: their links would lead nowhere (and the export of
    /// the program would fail). The message names them. Modules have no links.
    async fn linked_refusal(&self, tx: &mut Tx, course: &CourseRow) -> sqlx::Result<Option<String>> {
        if self.kind != Kind::Lesson {
            return Ok(None);
        }
        let linking = store::linking_lessons(tx, course.id, self.id, &self.slug).await?;
        Ok((!linking.is_empty()).then(|| {
            let names: Vec<String> = linking.iter().map(|t| format!("“{t}”")).collect();
            format!(
                "“{}” is linked from {}. Remove those links first, so students do not land on a missing page.",
                self.title,
                names.join(", ")
            )
        }))
    }

    async fn delete(&self, tx: &mut Tx) -> sqlx::Result<()> {
        match self.kind {
            Kind::Module => store::delete_module(tx, self.id).await,
            Kind::Lesson => store::delete_lesson(tx, self.id).await,
        }
    }

    async fn set_archived(&self, tx: &mut Tx, archived: bool, now: OffsetDateTime) -> sqlx::Result<()> {
        match self.kind {
            Kind::Module => store::set_module_archived(tx, self.id, archived, now).await,
            Kind::Lesson => store::set_lesson_archived(tx, self.id, archived, now).await,
        }
    }
}

fn moved(ids: &mut [i64], id: i64, direction: &str) -> bool {
    let Some(i) = ids.iter().position(|x| *x == id) else {
        return false;
    };
    let j = match direction {
        "up" if i > 0 => i - 1,
        "down" if i + 1 < ids.len() => i + 1,
        _ => return false,
    };
    ids.swap(i, j);
    true
}

// ---- the routes: one per kind, so the URLs stay as they are -----------------------------------

pub async fn move_module(
    State(state): State<Ctx>,
    Instructor(user): Instructor,
    Path((slug, id)): Path<(String, i64)>,
    axum::Form(form): axum::Form<MoveForm>,
) -> Result<Response, AppError> {
    move_item(&state, &user, &slug, Kind::Module, id, &form).await
}

pub async fn move_lesson(
    State(state): State<Ctx>,
    Instructor(user): Instructor,
    Path((slug, id)): Path<(String, i64)>,
    axum::Form(form): axum::Form<MoveForm>,
) -> Result<Response, AppError> {
    move_item(&state, &user, &slug, Kind::Lesson, id, &form).await
}

pub async fn delete_module(
    State(state): State<Ctx>,
    Instructor(user): Instructor,
    Path((slug, id)): Path<(String, i64)>,
) -> Result<Response, AppError> {
    delete_item(&state, &user, &slug, Kind::Module, id).await
}

pub async fn delete_lesson(
    State(state): State<Ctx>,
    Instructor(user): Instructor,
    Path((slug, id)): Path<(String, i64)>,
) -> Result<Response, AppError> {
    delete_item(&state, &user, &slug, Kind::Lesson, id).await
}

pub async fn archive_module(
    State(state): State<Ctx>,
    Instructor(user): Instructor,
    Path((slug, id)): Path<(String, i64)>,
    axum::Form(form): axum::Form<ArchiveForm>,
) -> Result<Response, AppError> {
    archive_item(&state, &user, &slug, Kind::Module, id, &form).await
}

pub async fn archive_lesson(
    State(state): State<Ctx>,
    Instructor(user): Instructor,
    Path((slug, id)): Path<(String, i64)>,
    axum::Form(form): axum::Form<ArchiveForm>,
) -> Result<Response, AppError> {
    archive_item(&state, &user, &slug, Kind::Lesson, id, &form).await
}

// ---- the one implementation ------------------------------------------------------------------

async fn move_item(
    state: &Ctx,
    user: &User,
    slug: &str,
    kind: Kind,
    id: i64,
    form: &MoveForm,
) -> Result<Response, AppError> {
    let (course, item) = Item::find(state, slug, kind, id).await?;
    if !matches!(form.direction.as_str(), "up" | "down") {
        return Err(AppError::BadRequest("Move up or down.".into()));
    }
    let anchor = format!("#{}", item.key());
    let mut tx = store::begin(&state.db).await?;
    let mut ids = item.order(&mut tx).await?;
    if !moved(&mut ids, id, &form.direction) {
        return Ok(back_to_content(slug, "moved", &anchor));
    }
    store::renumber(&mut tx, kind.table(), &ids).await?;
    finish(
        state,
        tx,
        course.id,
        user,
        &item.action("move"),
        &format!("{slug}/{}", item.slug),
        &form.direction,
    )
    .await?;
    Ok(back_to_content(slug, "moved", &anchor))
}

async fn delete_item(state: &Ctx, user: &User, slug: &str, kind: Kind, id: i64) -> Result<Response, AppError> {
    let (course, item) = Item::find(state, slug, kind, id).await?;
    let mut tx = store::begin(&state.db).await?;
    let refusal = match item.progress_refusal(&mut tx).await? {
        Some(refusal) => Some(refusal),
        None => item.linked_refusal(&mut tx, &course).await?,
    };
    if let Some(message) = refusal {
        return refuse_in(tx, HashMap::new(), item.key(), message, |errors| {
            render_content(state, user, &course, StatusCode::CONFLICT, None, errors)
        })
        .await;
    }
    item.delete(&mut tx).await?;
    item.renumber(&mut tx).await?;
    finish(
        state,
        tx,
        course.id,
        user,
        &item.action("delete"),
        &format!("{slug}/{}", item.slug),
        &item.title,
    )
    .await?;
    Ok(back_to_content(slug, "deleted", ""))
}

async fn archive_item(
    state: &Ctx,
    user: &User,
    slug: &str,
    kind: Kind,
    id: i64,
    form: &ArchiveForm,
) -> Result<Response, AppError> {
    let (course, item) = Item::find(state, slug, kind, id).await?;
    let restore = !form.restore.is_empty();
    let mut tx = store::begin(&state.db).await?;
    let refusal = if kind != Kind::Lesson {
        None
    } else if restore {
        // A lesson comes back only into a module students can see.
        let module = store::module(&state.db, course.id, item.parent).await?;
        module.is_some_and(|m| m.archived).then(|| {
            (
                "archived".to_owned(),
                format!("“{}” is in an archived module: restore the module first.", item.title),
            )
        })
    } else {
        item.linked_refusal(&mut tx, &course).await?.map(|m| (item.key(), m))
    };
    if let Some((key, message)) = refusal {
        return refuse_in(tx, HashMap::new(), key, message, |errors| {
            render_content(state, user, &course, StatusCode::CONFLICT, None, errors)
        })
        .await;
    }
    item.set_archived(&mut tx, !restore, state.clock.now()).await?;
    item.renumber(&mut tx).await?;
    let action = item.action(if restore { "restore" } else { "archive" });
    finish(
        state,
        tx,
        course.id,
        user,
        &action,
        &format!("{slug}/{}", item.slug),
        &item.title,
    )
    .await?;
    Ok(back_to_content(slug, if restore { "restored" } else { "archived" }, ""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moves() {
        let mut ids = vec![1, 2, 3];
        assert!(moved(&mut ids, 3, "up"));
        assert_eq!(ids, vec![1, 3, 2]);
        assert!(!moved(&mut ids, 1, "up"));
        assert!(!moved(&mut ids, 2, "down"));
        assert!(!moved(&mut ids, 9, "down"));
    }
}
