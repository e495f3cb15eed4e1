//! Announcements in the studio: write (subject and Markdown), preview, send; and the past ones
//! with how many emails were sent, are waiting, or failed.

use std::collections::BTreeMap;

use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use minijinja::value::Serde;
use serde::Deserialize;

use crate::accounts::Instructor;
use crate::announcements::{self, Audience, Draft, Sent};
use crate::context::Ctx;
use crate::web::AppError;

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct AnnounceForm {
    course: String,
    audience: String,
    subject: String,
    body: String,
    form_key: String,
    action: String,
}

async fn render(
    state: &Ctx,
    user: &crate::accounts::store::User,
    status: StatusCode,
    form: &AnnounceForm,
    errors: BTreeMap<&'static str, String>,
    preview: Option<String>,
    notice: Option<String>,
) -> Result<Response, AppError> {
    let past = announcements::store::past(&state.db).await?;
    // A fresh key for a fresh form; the same key while previewing, so Send after Preview is one send.
    let form_key = if form.form_key.is_empty() {
        crate::accounts::tokens::new_token().0
    } else {
        form.form_key.clone()
    };
    let ctx = context! {
        user => Serde(user),
        courses => Serde(&state.catalog().courses),
        form => context! {
            course => form.course.clone(),
            audience => if form.audience.is_empty() { "both".to_owned() } else { form.audience.clone() },
            subject => form.subject.clone(),
            body => form.body.clone(),
            form_key,
        },
        errors,
        preview,
        notice,
        past => Serde(&past),
    };
    Ok((status, state.render("admin/announcements.html", ctx)?).into_response())
}

pub async fn page(
    State(state): State<Ctx>,
    Instructor(user): Instructor,
    axum::extract::Query(q): axum::extract::Query<BTreeMap<String, String>>,
) -> Result<Response, AppError> {
    let notice = q.get("sent").map(|n| format!("Announcement queued: {n} emails."));
    let notice = notice.or_else(|| {
        q.contains_key("again")
            .then(|| "That announcement was already sent.".to_owned())
    });
    render(
        &state,
        &user,
        StatusCode::OK,
        &AnnounceForm::default(),
        BTreeMap::new(),
        None,
        notice,
    )
    .await
}

fn check(state: &Ctx, form: &AnnounceForm) -> Result<Draft, BTreeMap<&'static str, String>> {
    let mut errors = BTreeMap::new();
    let course = state.catalog().courses.iter().find(|c| c.slug == form.course).cloned();
    if course.is_none() {
        errors.insert("course", "Choose a program.".to_owned());
    }
    let audience = Audience::parse(&form.audience);
    if audience.is_none() {
        errors.insert("audience", "Choose who receives it.".to_owned());
    }
    let subject = announcements::parse_subject(&form.subject)
        .map_err(|e| errors.insert("subject", e))
        .ok();
    let body = announcements::parse_body(&form.body, &state.config.base_url)
        .map_err(|e| errors.insert("body", e))
        .ok();
    if form.form_key.len() < 20 || form.form_key.len() > 100 {
        errors.insert("form", "The form is out of date: please reload the page.".to_owned());
    }
    match (course, audience, subject, body) {
        (Some(course), Some(audience), Some(subject), Some((body_md, body_html))) if errors.is_empty() => Ok(Draft {
            course_id: course.id,
            course_title: course.title,
            audience,
            subject,
            body_md,
            body_html,
            form_key: form.form_key.clone(),
        }),
        _ => Err(errors),
    }
}

pub async fn submit(
    State(state): State<Ctx>,
    Instructor(user): Instructor,
    Form(form): Form<AnnounceForm>,
) -> Result<Response, AppError> {
    let draft = match check(&state, &form) {
        Ok(d) => d,
        Err(errors) => {
            return render(
                &state,
                &user,
                StatusCode::UNPROCESSABLE_ENTITY,
                &form,
                errors,
                None,
                None,
            )
            .await;
        }
    };
    if form.action != "send" {
        let preview = Some(draft.body_html.clone());
        return render(&state, &user, StatusCode::OK, &form, BTreeMap::new(), preview, None).await;
    }
    match announcements::send(&state, &draft, Some(user.id)).await? {
        Sent::Queued { emails, .. } => {
            let detail = format!("{emails} emails");
            crate::audit::record_now(
                &state.db,
                &user,
                "announcement.send",
                &draft.subject,
                &detail,
                state.clock.now(),
            )
            .await?;
            Ok(Redirect::to(&format!("/admin/announcements?sent={emails}")).into_response())
        }
        Sent::Duplicate { .. } => Ok(Redirect::to("/admin/announcements?again=1").into_response()),
    }
}
