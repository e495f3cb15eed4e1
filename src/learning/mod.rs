//! The student's side: the dashboard, lessons with progress and drip, "Mark complete", downloads,
//! certificates, and the "a new module is open" emails.

pub mod acknowledge;
mod dashboard;
mod extras;
mod handlers;
mod lesson;
mod nav;
mod notes;
pub mod store;
pub mod view;

use axum::Router;
use axum::routing::{get, post};
use minijinja::context;
use serde::Serialize;

use crate::accounts::store::User;
use crate::catalog::snapshot::{LessonPage, Program};
use crate::context::Ctx;
use crate::domain::{ModuleId, UserId};
use crate::error::Error;
use crate::mail::{self, Category, Outgoing};

pub use handlers::send_program_file;
pub use lesson::{LessonView, Reader, reader};

pub fn routes() -> Router<Ctx> {
    Router::new()
        .route("/dashboard", get(dashboard::page))
        .route("/courses/{slug}/lessons/{lesson}", get(lesson::page))
        .route("/courses/{slug}/lessons/{lesson}/complete", post(handlers::complete))
        .route(
            "/courses/{slug}/lessons/{lesson}/downloads/{file}",
            get(handlers::download),
        )
        .route("/certificates/{code}", get(handlers::certificate))
        .route(
            "/learn/{slug}/acknowledge",
            get(acknowledge::page).post(acknowledge::confirm),
        )
        .route("/learn/{slug}/notes", get(notes::list))
        .route("/learn/{slug}/notes/{lesson}", post(notes::save))
}

/// A person's programs: what they may study now, and what they are on the list for.
#[derive(Serialize, Debug)]
pub struct Programs {
    pub enrolled: Vec<crate::enrollment::store::Enrolled>,
    /// Confirmed pre-enrollments for programs they are not enrolled in yet (only once the account's
    /// email is confirmed: the list entry belongs to whoever owns the address).
    pub preenrolled: Vec<crate::preenroll::store::OnList>,
    /// True when the account's email is unconfirmed, so pre-enrollments cannot be shown yet.
    pub preenrolled_hidden: bool,
}

pub async fn programs_of(state: &Ctx, user: &User) -> Result<Programs, Error> {
    let (enrolled, preenrolled) = tokio::try_join!(
        crate::enrollment::store::active_for_user(&state.db, user.id),
        on_the_list(state, user),
    )?;
    let slugs: Vec<&str> = enrolled.iter().map(|e| e.slug.as_str()).collect();
    let preenrolled = not_studied(preenrolled, &slugs);
    Ok(Programs {
        preenrolled_hidden: user.email_verified_at.is_none(),
        enrolled,
        preenrolled,
    })
}

/// The programs a person's confirmed address is on the list for (none while it is unconfirmed).
pub(crate) async fn on_the_list(state: &Ctx, user: &User) -> sqlx::Result<Vec<crate::preenroll::store::OnList>> {
    if user.email_verified_at.is_some() {
        crate::preenroll::store::confirmed_for_email(&state.db, &user.email).await
    } else {
        Ok(Vec::new())
    }
}

/// The list entries of programs the person does not study yet.
pub(crate) fn not_studied(
    mut on_list: Vec<crate::preenroll::store::OnList>,
    studied: &[&str],
) -> Vec<crate::preenroll::store::OnList> {
    on_list.retain(|p| !studied.contains(&p.slug.as_str()));
    on_list
}

/// The module a lesson is in, from the program's syllabus.
fn module_of<'a>(program: &'a Program, lesson: &LessonPage) -> Option<&'a crate::catalog::store::SyllabusRow> {
    program.rows.iter().find(|r| r.lesson_id == lesson.lesson.id)
}

/// The module of `lesson` when drip keeps it closed to this student for now (`None`: open). The
/// lesson page, "Mark complete" and the lesson's downloads all ask this one question.
pub(crate) fn locked_module<'a>(
    progress: &'a view::Progress,
    program: &Program,
    lesson: &LessonPage,
) -> Option<&'a view::ModuleState> {
    let module = module_of(program, lesson)?;
    progress
        .modules
        .iter()
        .find(|s| s.slug == module.module_slug)
        .filter(|m| !m.open)
}

/// A module's number in its program (1-based), as the syllabus shows it.
fn module_number(program: &Program, module_id: i64) -> usize {
    let mut seen: Vec<i64> = Vec::new();
    for r in &program.rows {
        if !seen.contains(&r.module_id) {
            seen.push(r.module_id);
        }
    }
    seen.iter().position(|m| *m == module_id).map_or(1, |i| i + 1)
}

/// Why a module opened for a student: their drip schedule reached it, or the instructor
/// published it for everyone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenedBy {
    Drip,
    Published,
}

/// A module that opened for one student, as the email tells it.
pub struct ModuleOpened<'a> {
    pub user_id: i64,
    pub email: &'a str,
    pub name: &'a str,
    pub course_title: &'a str,
    pub course_slug: &'a str,
    pub module_id: i64,
    pub module_title: &'a str,
    /// The module's number in its program (1-based).
    pub number: i64,
    /// The slug of its first lesson, where the email's link goes.
    pub first_lesson: &'a str,
    pub why: OpenedBy,
}

/// The one "a module is open" email, queued in the caller's transaction; at most once per student
/// and module, whichever of the drip job and a publication tells it first.
pub async fn tell_module_open(tx: &mut crate::db::Tx, state: &Ctx, m: &ModuleOpened<'_>) -> Result<bool, Error> {
    let subject = match m.why {
        OpenedBy::Drip => format!("Module {} of {} is open", m.number, m.course_title),
        OpenedBy::Published => format!("A new module of {} is open", m.course_title),
    };
    mail::enqueue(
        tx,
        state,
        Outgoing {
            to: m.email,
            to_name: m.name,
            subject,
            template: "module_open",
            ctx: context! {
                course_title => m.course_title,
                module_title => m.module_title,
                number => m.number,
                link => format!("{}/courses/{}/lessons/{}", state.config.base_url, m.course_slug, m.first_lesson),
            },
            category: Category::Transactional,
            dedupe_key: Some(format!("module-open:{}:{}", m.user_id, m.module_id)),
            campaign: None,
        },
    )
    .await
}

/// The drip job: tells each student, once, when a module of theirs opens. Modules already open
/// when they enrolled are noted without an email.
pub async fn notify_unlocked_modules(state: &Ctx) -> Result<usize, Error> {
    let now = state.clock.now();
    let catalog = state.catalog();
    let mut sent = 0;
    for c in store::drip_candidates(&state.db).await? {
        let Some(program) = catalog.program_by_id(c.course_id) else {
            continue;
        };
        let Some(row) = program.rows.iter().find(|r| r.module_id == c.module_id) else {
            continue;
        };
        let opens = view::opens_at(row, c.enrolled_at, &catalog.tz);
        let tell = match opens {
            Some(at) if at > now => continue, // not yet
            Some(at) => at > c.enrolled_at,
            None => false,
        };
        let mut tx = state.db.begin().await?;
        if store::note_unlock(&mut tx, UserId(c.user_id), ModuleId(c.module_id), now).await? && tell {
            let opened = ModuleOpened {
                user_id: c.user_id,
                email: &c.email,
                name: &c.name,
                course_title: &program.title,
                course_slug: &program.slug,
                module_id: c.module_id,
                module_title: &row.module_title,
                number: i64::try_from(module_number(program, c.module_id)).unwrap_or(1),
                first_lesson: &row.lesson_slug,
                why: OpenedBy::Drip,
            };
            tell_module_open(&mut tx, state, &opened).await?;
            sent += 1;
        }
        tx.commit().await?;
    }
    if sent > 0 {
        state.mail_wakeup.notify_one();
    }
    Ok(sent)
}
