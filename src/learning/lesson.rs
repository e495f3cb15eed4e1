//! The lesson page, on one straight path: the session's claim (no query), then one query for who
//! is asking, their seat in the program and what they completed there ([`Reader`]; on SQLite on
//! the request's own thread, see `db::reads`), then a typed view ([`LessonView`]) that the handler
//! renders once, from one catalogue snapshot: a student's page is their values filled into the
//! lesson's shell (see [`StudentPage`] and `web::shell`).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use minijinja::context;
use minijinja::value::{Serde, Value};

use super::store::{self, LessonAsk, SeatAndDone};
use super::view::{self, Progress};
use crate::accounts::session;
use crate::accounts::store::User;
use crate::catalog::Catalog;
use crate::catalog::snapshot::{LessonPage, Program};
use crate::context::Ctx;
use crate::domain::{CourseId, LessonId, UserId};
use crate::web::AppError;
use crate::web::auth::Visitor;
use crate::web::shell;

/// Who is reading a program's pages: the signed-in person, and their active seat there (with the
/// lessons they completed), read in one query.
pub struct Reader {
    pub user: User,
    pub seat: Option<SeatAndDone>,
    /// They confirmed the version of the health acknowledgement the query asked about.
    pub acknowledged: bool,
    /// Their private note on the lesson the query asked about.
    pub note: Option<String>,
}

/// The reader of `course_id`'s pages, from the visitor's session: none for anonymous visitors and
/// for sessions that no longer hold (those are ended, as on every page).
pub async fn reader(ctx: &Ctx, visitor: &Visitor, course_id: i64) -> Result<Option<Reader>, AppError> {
    reader_asking(ctx, visitor, course_id, LessonAsk::default()).await
}

/// [`reader`], with what a lesson page needs to know in the same query (see [`LessonAsk`]).
pub async fn reader_asking(
    ctx: &Ctx,
    visitor: &Visitor,
    course_id: i64,
    ask: LessonAsk<'_>,
) -> Result<Option<Reader>, AppError> {
    let Some(session) = &visitor.0 else {
        return Ok(None);
    };
    let Some(claim) = session::claim(session).await? else {
        return Ok(None);
    };
    let row = store::user_and_seat(&ctx.reads, UserId(claim.user_id), CourseId(course_id), ask).await?;
    let (found, rest) = match row {
        Some(r) => (Some(r.user), Some((r.seat, r.acknowledged, r.note))),
        None => (None, None),
    };
    let (seat, acknowledged, note) = rest.unwrap_or((None, false, None));
    Ok(session::admit(session, ctx, claim, found).await?.map(|user| Reader {
        user,
        seat,
        acknowledged,
        note,
    }))
}

/// What a lesson page shows this reader.
pub enum LessonView {
    /// An enrolled student in an open module: their progress, "Mark complete", their certificate.
    Student {
        user: User,
        progress: Progress,
        done: bool,
        certificate: Option<String>,
        /// Their private note on this lesson.
        note: Option<String>,
    },
    /// An enrolled student who has not confirmed the program's current health acknowledgement:
    /// sent to confirm it first (free previews are never held back).
    Acknowledge,
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
    let (user, seat, acknowledged, note) = match reader {
        Some(Reader {
            user,
            seat,
            acknowledged,
            note,
        }) => (Some(user), seat, acknowledged, note),
        None => (None, None, false, None),
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
    if !acknowledged && !lesson.lesson.free_preview {
        return Ok(LessonView::Acknowledge);
    }
    // Reading position: only a different lesson than last time is a write.
    if seat.last_lesson_id != Some(lesson.lesson.id) {
        store::record_open(
            &ctx.db,
            UserId(user.id),
            CourseId(program.course_id),
            LessonId(lesson.lesson.id),
            now,
        )
        .await?;
    }
    let certificate = if progress.finished {
        store::certificate_for(&ctx.db, UserId(user.id), CourseId(program.course_id)).await?
    } else {
        None
    };
    Ok(LessonView::Student {
        done: completed.contains(&lesson.lesson.id),
        user,
        progress,
        certificate,
        note,
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
    let ask = LessonAsk {
        ack_version: &program.acknowledgement.version,
        lesson_id: lesson.lesson.id,
    };
    let reader = reader_asking(&ctx, &visitor, program.course_id, ask).await?;
    let who = |user: &Option<User>| context! { user => user.as_ref().map(Serde) };
    // A student's syllabus, in place of the template's loop (see `nav`).
    let nav = |progress: &view::Progress| {
        Value::from_safe_string(super::nav::for_student(program, &lesson.lesson.slug, progress))
    };
    let (status, template, parts): (StatusCode, &str, [Value; 2]) =
        match view_for(&ctx, &catalog, program, lesson, reader).await? {
            LessonView::Student {
                user,
                progress,
                done,
                certificate,
                note,
            } => {
                let page = StudentPage {
                    program,
                    lesson,
                    user: &user,
                    done,
                    done_count: progress.done,
                    available: progress.available,
                    certificate: certificate.as_deref(),
                    note: note.as_deref(),
                    nav: &super::nav::for_student(program, &lesson.lesson.slug, &progress),
                };
                return Ok(html(StatusCode::OK, Bytes::from(page.render(&ctx, &catalog)?)));
            }
            LessonView::Acknowledge => {
                let to = super::acknowledge::gate_url(&slug, &lesson_slug);
                return Ok(axum::response::Redirect::to(&to).into_response());
            }
            LessonView::NotYet { user, progress, opens } => (
                StatusCode::FORBIDDEN,
                "catalog/lesson_locked.html",
                [context! { opens, syllabus_nav => nav(&progress) }, who(&Some(user))],
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
                        crate::enrollment::store::paused_order(&ctx.db, UserId(u.id), CourseId(program.course_id))
                            .await?
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

/// A student's lesson page: the same for every student of the lesson but for their name and
/// address, their counts, their note, their certificate and their syllabus. Rendered once per
/// lesson and shape of student as a shell (`web::shell`), then filled in.
struct StudentPage<'a> {
    program: &'a Program,
    lesson: &'a LessonPage,
    user: &'a User,
    done: bool,
    done_count: usize,
    available: usize,
    certificate: Option<&'a str>,
    note: Option<&'a str>,
    /// The syllabus beside the lesson, as markup.
    nav: &'a str,
}

const TEMPLATE: &str = "catalog/lesson.html";
/// The page's own slots, after the user's.
const DONE: usize = User::SLOTS;
const AVAILABLE: usize = DONE + 1;
const CERTIFICATE: usize = DONE + 2;
const NOTE: usize = DONE + 3;
const NAV: usize = DONE + 4;
const SLOTS: usize = DONE + 5;

impl StudentPage<'_> {
    fn render(&self, ctx: &Ctx, catalog: &Catalog) -> Result<String, AppError> {
        let stand_in = self.user.stand_in(0);
        let key = format!(
            "{} lesson {}/{} {} done={} certificate={}",
            ctx.templates.generation(),
            self.program.slug,
            self.lesson.lesson.slug,
            stand_in.shape,
            self.done,
            self.certificate.is_some(),
        );
        let shell = catalog.cached_shell(
            crate::catalog::snapshot::ShellKind::Lesson,
            &key,
            || {
                let learner = self.learner(
                    shell::slot(DONE),
                    shell::slot(AVAILABLE),
                    self.certificate.map(|_| shell::marker(CERTIFICATE)),
                    Some(shell::marker(NOTE)),
                );
                let nav = shell::safe_slot(NAV);
                ctx.render_parts(catalog, TEMPLATE, self.parts(learner, nav, stand_in.value.clone()))
            },
            SLOTS,
        )?;
        let Some(shell) = shell else {
            return self.whole(ctx, catalog);
        };
        let [a, b, c, d, e, f] = &stand_in.fill;
        let (done, available) = (self.done_count.to_string(), self.available.to_string());
        let certificate = self.certificate.map(shell::escaped).unwrap_or_default();
        let note = shell::escaped(self.note.unwrap_or_default());
        let page = shell.fill(&[a, b, c, d, e, f, &done, &available, &certificate, &note, self.nav]);
        // Every test renders the page the slow way too: the shell must give the same bytes.
        debug_assert_eq!(page, self.whole(ctx, catalog)?, "the shell of {key} fills differently");
        Ok(page)
    }

    /// The page through the template engine, with this student's own values.
    fn whole(&self, ctx: &Ctx, catalog: &Catalog) -> Result<String, AppError> {
        let learner = self.learner(
            Value::from(self.done_count),
            Value::from(self.available),
            self.certificate.map(str::to_owned),
            self.note.map(str::to_owned),
        );
        let nav = Value::from_safe_string(self.nav.to_owned());
        let user = Value::from(Serde(self.user));
        Ok(ctx.render_parts(catalog, TEMPLATE, self.parts(learner, nav, user))?)
    }

    fn learner(&self, done: Value, available: Value, certificate: Option<String>, note: Option<String>) -> Value {
        context! {
            progress => context! { done, available },
            done => self.done,
            certificate,
            extras => super::extras::for_lesson(self.program, self.lesson, note),
        }
    }

    fn parts(&self, learner: Value, nav: Value, user: Value) -> [Value; 3] {
        [
            self.lesson.page.clone(),
            context! { learner, syllabus_nav => nav },
            context! { user },
        ]
    }
}
