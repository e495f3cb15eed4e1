//! The lesson page, on one straight path: the session's claim (no query), then one query for who
//! is asking, their seat in the program and what they completed there ([`Reader`]), then a typed
//! view ([`LessonView`]) that the handler renders once, from one catalogue snapshot.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use minijinja::context;
use minijinja::value::{Serde, Value};

use super::store::{self, SeatAndDone};
use super::view::{self, Progress};
use crate::accounts::session;
use crate::accounts::store::User;
use crate::catalog::Catalog;
use crate::catalog::snapshot::{LessonPage, Program};
use crate::context::Ctx;
use crate::web::AppError;
use crate::web::auth::Visitor;

/// Who is reading a program's pages: the signed-in person, and their active seat there (with the
/// lessons they completed), read in one query.
pub struct Reader {
    pub user: User,
    pub seat: Option<SeatAndDone>,
}

/// The reader of `course_id`'s pages, from the visitor's session: none for anonymous visitors and
/// for sessions that no longer hold (those are ended, as on every page).
pub async fn reader(ctx: &Ctx, visitor: &Visitor, course_id: i64) -> Result<Option<Reader>, AppError> {
    let Some(session) = &visitor.0 else {
        return Ok(None);
    };
    let Some(claim) = session::claim(session).await? else {
        return Ok(None);
    };
    let (found, seat) = match store::user_and_seat(&ctx.db, claim.user_id, course_id).await? {
        Some((user, seat)) => (Some(user), seat),
        None => (None, None),
    };
    Ok(session::admit(session, ctx, claim, found)
        .await?
        .map(|user| Reader { user, seat }))
}

/// What a lesson page shows this reader.
pub enum LessonView {
    /// An enrolled student in an open module: their progress, "Mark complete", their certificate.
    Student {
        user: User,
        progress: Progress,
        done: bool,
        certificate: Option<String>,
    },
    /// An enrolled student whose module opens later (drip): when it opens.
    NotYet {
        user: User,
        progress: Progress,
        opens: Option<String>,
    },
    /// Readable without a seat: a free preview, or an instructor's view.
    Open { user: Option<User> },
    /// Not for this reader: what opens it.
    Locked { user: Option<User> },
}

/// Decides what `reader` sees of `lesson`, recording the reading position of a student.
pub async fn view_for(
    ctx: &Ctx,
    catalog: &Catalog,
    program: &Program,
    lesson: &LessonPage,
    reader: Option<Reader>,
) -> crate::error::Result<LessonView> {
    let (user, seat) = match reader {
        Some(Reader { user, seat }) => (Some(user), seat),
        None => (None, None),
    };
    let (Some(user), Some((seat, completed))) = (user.clone().filter(|u| !u.is_instructor()), seat) else {
        let readable = lesson.lesson.free_preview || user.as_ref().is_some_and(User::is_instructor);
        return Ok(if readable {
            LessonView::Open { user }
        } else {
            LessonView::Locked { user }
        });
    };
    let now = ctx.clock.now();
    let progress = view::progress(
        &program.rows,
        &completed,
        seat.last_lesson_id,
        seat.created_at,
        now,
        &catalog.tz,
    );
    if let Some(m) = super::locked_module(&progress, program, lesson) {
        let opens = m.opens.clone();
        return Ok(LessonView::NotYet { user, progress, opens });
    }
    // Reading position: only a different lesson than last time is a write.
    if seat.last_lesson_id != Some(lesson.lesson.id) {
        store::record_open(&ctx.db, user.id, program.course_id, lesson.lesson.id, now).await?;
    }
    let certificate = if progress.finished {
        store::certificate_for(&ctx.db, user.id, program.course_id).await?
    } else {
        None
    };
    Ok(LessonView::Student {
        done: completed.contains(&lesson.lesson.id),
        user,
        progress,
        certificate,
    })
}

fn html(status: StatusCode, body: Bytes) -> Response {
    (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
}

/// `GET /courses/{slug}/lessons/{lesson}`.
pub async fn page(
    State(ctx): State<Ctx>,
    visitor: Visitor,
    Path((slug, lesson_slug)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let catalog = ctx.catalog();
    let Some(program) = catalog.program(&slug) else {
        return crate::catalog::moved(&ctx, &slug, Some(&lesson_slug)).await;
    };
    let Some(lesson) = program.lesson(&lesson_slug) else {
        return crate::catalog::moved_lesson(&ctx, program.course_id, &slug, &lesson_slug).await;
    };
    let reader = reader(&ctx, &visitor, program.course_id).await?;
    let who = |user: &Option<User>| context! { user => user.as_ref().map(Serde) };
    let (status, template, parts): (StatusCode, &str, [Value; 2]) =
        match view_for(&ctx, &catalog, program, lesson, reader).await? {
            LessonView::Student {
                user,
                progress,
                done,
                certificate,
            } => (
                StatusCode::OK,
                "catalog/lesson.html",
                [
                    context! { learner => context! { progress => Serde(&progress), done, certificate } },
                    who(&Some(user)),
                ],
            ),
            LessonView::NotYet { user, progress, opens } => (
                StatusCode::FORBIDDEN,
                "catalog/lesson_locked.html",
                [
                    context! { learner => context! { progress => Serde(&progress) }, opens },
                    who(&Some(user)),
                ],
            ),
            // Nothing of the reader's own beyond their name: the catalogue's page (rendered once
            // per content version for anonymous visitors).
            LessonView::Open { user } | LessonView::Locked { user: user @ None } if user.is_none() => {
                let (status, template) = if lesson.lesson.free_preview {
                    (StatusCode::OK, "catalog/lesson.html")
                } else {
                    (StatusCode::FORBIDDEN, "catalog/lesson_locked.html")
                };
                let key = format!("{slug}/{lesson_slug}");
                let body = crate::catalog::page(&ctx, &catalog, &None, &key, template, &lesson.page)?;
                return Ok(html(status, body));
            }
            LessonView::Open { user } => (StatusCode::OK, "catalog/lesson.html", [context! {}, who(&user)]),
            LessonView::Locked { user } => {
                // A seat paused by a failed plan payment: the page that says how to resume it.
                if let Some(u) = &user
                    && let Some(order) =
                        crate::enrollment::store::paused_order(&ctx.db, u.id, program.course_id).await?
                {
                    return Ok(axum::response::Redirect::to(&format!("/plans/{order}")).into_response());
                }
                (
                    StatusCode::FORBIDDEN,
                    "catalog/lesson_locked.html",
                    [context! {}, who(&user)],
                )
            }
        };
    let [extra, user] = parts;
    let body = ctx.render_parts(&catalog, template, [lesson.page.clone(), extra, user])?;
    Ok(html(status, Bytes::from(body)))
}
