//! Publishing a module: now, on a schedule (a job publishes it when due), or back to draft; and
//! optionally telling the enrolled students that it is open.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use time::OffsetDateTime;

use super::content_store as store;
use super::editor::{finish, module_or_404, render_content};
use crate::accounts::Instructor;
use crate::audit::{self, Actor};
use crate::context::Ctx;
use crate::db::Tx;
use crate::domain::ModuleStatus;
use crate::domain::{ModuleId, UserId};
use crate::learning::{ModuleOpened, OpenedBy};
use crate::web::AppError;
use crate::web::form::Form;

/// Publish now or at a time, with or without telling the students.
#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct PublishPost {
    action: String,
    notify: String,
    at: String,
}

pub async fn publish(
    State(state): State<Ctx>,
    Instructor(user): Instructor,
    Path((slug, id)): Path<(String, i64)>,
    Form(f): Form<PublishPost>,
) -> Result<Response, AppError> {
    let (course, module) = module_or_404(&state, &slug, id).await?;
    if module.archived {
        return Err(AppError::BadRequest(
            "That module is archived: restore it first.".into(),
        ));
    }
    let notify = !f.notify.is_empty();
    let now = state.clock.now();
    let subject = format!("{slug}/{}", module.slug);
    match f.action.as_str() {
        "publish" => {
            let mut tx = store::begin(&state.db).await?;
            store::set_module_publishing(&mut tx, id, ModuleStatus::Published, None, false, now).await?;
            let told = if module.status != ModuleStatus::Published {
                tell_students(&mut tx, &state, course.id, id, notify, now).await?
            } else {
                0
            };
            let detail = if notify {
                format!("{told} students emailed")
            } else {
                String::new()
            };
            finish(&state, tx, course.id, &user, "module.publish", &subject, &detail).await?;
            if told > 0 {
                state.mail_wakeup.notify_one();
            }
            let notice = if told > 0 { "published-notified" } else { "published" };
            Ok(Redirect::to(&format!("/admin/courses/{slug}/content?notice={notice}#module-{id}")).into_response())
        }
        "schedule" => {
            let tz = state.catalog().tz.clone();
            let error = match crate::local_time::parse_local(&f.at, &tz) {
                Err(e) => Some(e.to_owned()),
                Ok(at) if at <= now => Some("Choose a time in the future.".to_owned()),
                Ok(at) => {
                    let mut tx = store::begin(&state.db).await?;
                    store::set_module_publishing(&mut tx, id, ModuleStatus::Scheduled, Some(at), notify, now).await?;
                    let detail = crate::local_time::format_local(at, &tz);
                    finish(&state, tx, course.id, &user, "module.schedule", &subject, &detail).await?;
                    state.jobs_wakeup.notify_one();
                    None
                }
            };
            match error {
                None => Ok(
                    Redirect::to(&format!("/admin/courses/{slug}/content?notice=scheduled#module-{id}"))
                        .into_response(),
                ),
                Some(e) => {
                    let errors = [(format!("module-{id}"), e)].into_iter().collect();
                    render_content(&state, &user, &course, StatusCode::UNPROCESSABLE_ENTITY, None, errors).await
                }
            }
        }
        "draft" => {
            let mut tx = store::begin(&state.db).await?;
            store::set_module_publishing(&mut tx, id, ModuleStatus::Draft, None, false, now).await?;
            finish(&state, tx, course.id, &user, "module.unpublish", &subject, "").await?;
            Ok(Redirect::to(&format!("/admin/courses/{slug}/content?notice=draft#module-{id}")).into_response())
        }
        _ => Err(AppError::BadRequest("Choose publish, schedule or draft.".into())),
    }
}

/// Emails (when `send`) "a new module is open" to each student for whom it is open now (a module on a drip
/// schedule is announced to the others by the drip job when it opens for them). Each student is
/// noted, so neither path tells anyone twice.
async fn tell_students(
    tx: &mut Tx,
    state: &Ctx,
    course_id: i64,
    module_id: i64,
    send: bool,
    now: OffsetDateTime,
) -> Result<usize, crate::error::Error> {
    let Some(info) = store::publish_info(tx, module_id).await? else {
        return Ok(0);
    };
    let Some(first_lesson) = info.first_lesson.clone() else {
        return Ok(0); // nothing to open yet
    };
    let tz = state.catalog().tz.clone();
    let row = crate::catalog::store::SyllabusRow {
        course_id,
        module_id,
        module_slug: String::new(),
        module_title: info.module_title.clone(),
        module_summary: String::new(),
        lesson_id: 0,
        lesson_slug: first_lesson.clone(),
        lesson_title: String::new(),
        duration_minutes: 0,
        free_preview: false,
        unlock_after_days: info.unlock_after_days,
        unlock_on: info.unlock_on.clone(),
    };
    let number = info.before + 1;
    let mut told = 0;
    for seat in store::seats(tx, course_id).await? {
        let open_now = crate::learning::view::opens_at(&row, seat.enrolled_at, &tz).is_none_or(|at| at <= now);
        // Noted either way: the drip job must not announce what the instructor chose not to.
        if !open_now
            || !crate::learning::store::note_unlock(tx, UserId(seat.user_id), ModuleId(module_id), now).await?
            || !send
        {
            continue;
        }
        let opened = ModuleOpened {
            user_id: seat.user_id,
            email: &seat.email,
            name: &seat.name,
            course_title: &info.course_title,
            course_slug: &info.course_slug,
            module_id,
            module_title: &info.module_title,
            number,
            first_lesson: &first_lesson,
            why: OpenedBy::Published,
        };
        crate::learning::tell_module_open(tx, state, &opened).await?;
        told += 1;
    }
    Ok(told)
}

/// The job: publishes each scheduled module whose time has come (claimed, so once however many
/// instances run it), emailing the students when the instructor asked for it.
pub async fn run_due(state: &Ctx) -> Result<usize, crate::error::Error> {
    let now = state.clock.now();
    let mut published = 0;
    for due in store::due_modules(&state.db, now).await? {
        let mut tx = store::begin(&state.db).await?;
        let Some(notify) = store::claim_scheduled(&mut tx, due.id, now).await? else {
            continue;
        };
        let told = tell_students(&mut tx, state, due.course_id, due.id, notify, now).await?;
        crate::catalog::store::bump_content_version(&mut tx).await?;
        let subject = match store::publish_info(&mut tx, due.id).await? {
            Some(info) => format!("{}/{}", info.course_slug, info.module_slug),
            None => format!("module {}", due.id),
        };
        let actor = Actor {
            user_id: None,
            name: "scheduler",
        };
        let detail = if notify {
            format!("{told} students emailed")
        } else {
            String::new()
        };
        audit::record(&mut tx, actor, "module.publish", &subject, &detail, now).await?;
        tx.commit().await?;
        published += 1;
        if told > 0 {
            state.mail_wakeup.notify_one();
        }
    }
    if published > 0 {
        state.refresh_catalog().await?;
    }
    Ok(published)
}
