//! The studio's front page: each program with its status, pre-enrollees and students, and the
//! launch controls (launch now, schedule, back to pre-enrollment, close, reopen).

use std::collections::HashMap;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use minijinja::value::Serde;
use serde::{Deserialize, Serialize};

use super::store;
use crate::accounts::Instructor;
use crate::audit;
use crate::context::Ctx;
use crate::domain::{CourseId, UserId};
use crate::domain::{CourseStatus, Email};
use crate::launch::{self, Moved, Outcome, Scheduled};
use crate::web::AppError;

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct NoticeQuery {
    notice: String,
}

fn notice_text(key: &str) -> Option<&'static str> {
    Some(match key {
        "launched" => "Launched. The launch emails are on their way.",
        "already-open" => "That program was not in pre-enrollment (already launched?): nothing was sent.",
        "scheduled" => "Launch scheduled.",
        "unscheduled" => "Scheduled launch cancelled.",
        "no-schedule" => "There was no scheduled launch to cancel.",
        "status" => "Status changed.",
        "granted" => "Enrollment granted.",
        "already-enrolled" => "That person already has access to this program.",
        _ => return None,
    })
}

#[derive(Serialize)]
struct ProgramView {
    #[serde(flatten)]
    row: store::ProgramRow,
    confirmed: i64,
    unconfirmed: i64,
    unsubscribed: i64,
    students: i64,
    scheduled_for: Option<String>,
    schedule_value: String,
    numbers: super::dashboard::ProgramNumbers,
}

async fn render_overview(
    state: &Ctx,
    user: &crate::accounts::store::User,
    status: StatusCode,
    notice: Option<&str>,
    errors: HashMap<String, String>,
    grant_form: minijinja::Value,
) -> Result<Response, AppError> {
    let (programs, people, mail, counts, students, launches) = tokio::try_join!(
        store::programs(&state.db),
        store::people(&state.db),
        store::mail_counts(&state.db),
        crate::preenroll::store::counts(&state.db),
        crate::enrollment::store::counts(&state.db),
        crate::launch::store::launches(&state.db),
    )?;
    let campaigns = store::campaign_counts(&state.db, "launch:").await?;
    let tz = state.catalog().tz.clone();
    let (numbers, audit) = tokio::try_join!(
        super::dashboard::numbers(&state.db, &tz, state.clock.now()),
        crate::audit::recent(&state.db, 10, None),
    )?;
    let currency = state.catalog().site.currency.clone();
    let chart = super::dashboard::chart_svg(&numbers.months, &currency);
    let programs: Vec<ProgramView> = programs
        .into_iter()
        .map(|row| {
            let c = counts
                .iter()
                .find(|c| c.course_id == row.id)
                .cloned()
                .unwrap_or_default();
            let scheduled = launches
                .iter()
                .find(|l| l.course_id == row.id && l.status == crate::domain::LaunchStatus::Scheduled);
            ProgramView {
                confirmed: c.confirmed,
                unconfirmed: c.unconfirmed,
                unsubscribed: c.unsubscribed,
                students: students.iter().find(|(id, _)| *id == row.id).map_or(0, |(_, n)| *n),
                scheduled_for: scheduled.map(|l| crate::local_time::format_local(l.scheduled_for, &tz)),
                schedule_value: scheduled
                    .map(|l| crate::local_time::input_value(l.scheduled_for, &tz))
                    .unwrap_or_default(),
                numbers: numbers.programs.get(&row.id).cloned().unwrap_or_default(),
                row,
            }
        })
        .collect();
    let launches: Vec<_> = launches
        .iter()
        .filter(|l| l.status == crate::domain::LaunchStatus::Done)
        .take(10)
        .map(|l| {
            let counts = campaigns.get(&format!("launch:{}", l.id)).copied().unwrap_or_default();
            context! { launch => Serde(l), counts => Serde(&counts) }
        })
        .collect();
    let ctx = context! {
        user => Serde(user),
        notice,
        programs => Serde(&programs),
        people => Serde(&people),
        mail => Serde(&mail),
        launches,
        errors,
        grant => grant_form,
        time_zone => state.catalog().site.time_zone.clone(),
        chart,
        months => Serde(&numbers.months),
        revenue_month_cents => numbers.revenue_month_cents,
        revenue_total_cents => numbers.revenue_total_cents,
        audit => Serde(&audit),
    };
    Ok((status, state.render("admin/overview.html", ctx)?).into_response())
}

pub async fn overview(
    State(state): State<Ctx>,
    Instructor(user): Instructor,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, AppError> {
    render_overview(
        &state,
        &user,
        StatusCode::OK,
        notice_text(&q.notice),
        HashMap::new(),
        context! {},
    )
    .await
}

fn back(notice: &str) -> Response {
    Redirect::to(&format!("/admin?notice={notice}")).into_response()
}

pub async fn launch(
    State(state): State<Ctx>,
    Instructor(user): Instructor,
    Path(slug): Path<String>,
) -> Result<Response, AppError> {
    match launch::launch_now(&state, &slug, Some(user.id)).await? {
        Outcome::Launched { emails } => {
            let detail = format!("{emails} emails");
            audit::record_now(&state.db, &user, "program.launch", &slug, &detail, state.clock.now()).await?;
            Ok(back("launched"))
        }
        Outcome::NotInPreenrollment => Ok(back("already-open")),
        Outcome::NotFound => Err(AppError::NotFound),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ScheduleForm {
    at: String,
}

pub async fn schedule(
    State(state): State<Ctx>,
    Instructor(user): Instructor,
    Path(slug): Path<String>,
    Form(form): Form<ScheduleForm>,
) -> Result<Response, AppError> {
    let tz = state.catalog().tz.clone();
    let error = match crate::local_time::parse_local(&form.at, &tz) {
        Err(e) => e.to_owned(),
        Ok(at) => match launch::schedule(&state, &slug, at, Some(user.id)).await? {
            Scheduled::Done => {
                let when = crate::local_time::format_local(at, &tz);
                audit::record_now(
                    &state.db,
                    &user,
                    "program.schedule_launch",
                    &slug,
                    &when,
                    state.clock.now(),
                )
                .await?;
                return Ok(back("scheduled"));
            }
            Scheduled::NotFound => return Err(AppError::NotFound),
            Scheduled::InThePast => "Choose a time in the future.".to_owned(),
            Scheduled::NotInPreenrollment => "Only a program in pre-enrollment can be scheduled to launch.".to_owned(),
        },
    };
    let errors = HashMap::from([(format!("schedule-{slug}"), error)]);
    render_overview(
        &state,
        &user,
        StatusCode::UNPROCESSABLE_ENTITY,
        None,
        errors,
        context! {},
    )
    .await
}

pub async fn unschedule(
    State(state): State<Ctx>,
    Instructor(user): Instructor,
    Path(slug): Path<String>,
) -> Result<Response, AppError> {
    if launch::unschedule(&state, &slug).await? {
        audit::record_now(
            &state.db,
            &user,
            "program.unschedule_launch",
            &slug,
            "",
            state.clock.now(),
        )
        .await?;
        Ok(back("unscheduled"))
    } else {
        Ok(back("no-schedule"))
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct StatusForm {
    to: String,
}

pub async fn set_status(
    State(state): State<Ctx>,
    Instructor(user): Instructor,
    Path(slug): Path<String>,
    Form(form): Form<StatusForm>,
) -> Result<Response, AppError> {
    let to = CourseStatus::parse(&form.to).filter(|s| *s != CourseStatus::Draft);
    let outcome = match to {
        Some(to) => launch::set_status(&state, &slug, to).await?,
        None => Moved::NotAllowed,
    };
    match outcome {
        Moved::Done => {
            let to = form.to.as_str();
            audit::record_now(
                &state.db,
                &user,
                "program.status",
                &slug,
                &format!("to {to}"),
                state.clock.now(),
            )
            .await?;
            Ok(back("status"))
        }
        Moved::NotFound => Err(AppError::NotFound),
        Moved::NotAllowed => {
            let errors = HashMap::from([(
                format!("status-{slug}"),
                "That change is not possible from the program's current status. To open a program in pre-enrollment, use Launch."
                    .to_owned(),
            )]);
            render_overview(&state, &user, StatusCode::CONFLICT, None, errors, context! {}).await
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct GrantForm {
    email: String,
    course: String,
}

/// A free enrollment, by hand: the person needs an account with this email.
pub async fn grant(
    State(state): State<Ctx>,
    Instructor(user): Instructor,
    Form(form): Form<GrantForm>,
) -> Result<Response, AppError> {
    let program = state.catalog().courses.iter().find(|c| c.slug == form.course).cloned();
    let error = match (Email::parse(&form.email), program) {
        (Err(e), _) => e.to_owned(),
        (_, None) => "Choose a program.".to_owned(),
        (Ok(email), Some(course)) => match store::user_id_by_email(&state.db, email.as_str()).await? {
            None => "There is no account with this email. Ask them to sign up first.".to_owned(),
            Some(student) => {
                let now = state.clock.now();
                let mut tx = state.db.begin().await?;
                let new =
                    crate::enrollment::store::grant(&mut tx, UserId(student), CourseId(course.id), "grant", None, now)
                        .await?;
                if new {
                    audit::record(
                        &mut tx,
                        (&user).into(),
                        "enrollment.grant",
                        &course.slug,
                        email.as_str(),
                        now,
                    )
                    .await?;
                }
                tx.commit().await?;
                tracing::info!(program = %course.slug, by = user.id, "enrollment granted by hand");
                return Ok(back(if new { "granted" } else { "already-enrolled" }));
            }
        },
    };
    let errors = HashMap::from([("grant".to_owned(), error)]);
    let values = context! { email => form.email, course => form.course };
    render_overview(&state, &user, StatusCode::UNPROCESSABLE_ENTITY, None, errors, values).await
}
