//! A program's own fields: the new-program form and the edit form, with the status rules the
//! editor enforces (see `CourseStatus`).

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use minijinja::value::Serde;
use serde::Serialize;

use super::forms::{FormData, lines, parse_price, price_input, slug_from, title};
use super::{NoticeQuery, course_or_404, finish, refuse_in, store};
use crate::accounts::Instructor;
use crate::accounts::store::User;
use crate::admin::content_store::{CourseFields, CourseRow};
use crate::content::source::FaqEntry;
use crate::context::Ctx;
use crate::domain::CourseStatus;
use crate::web::AppError;

#[derive(Serialize, Default)]
struct ProgramForm {
    title: String,
    slug: String,
    promise: String,
    description: String,
    who_for: String,
    not_for: String,
    faq: Vec<FaqEntry>,
    price: String,
    status: String,
    /// The status the form was shown with: a save changes the status only if the instructor did.
    status_was: String,
}

impl ProgramForm {
    fn from_row(c: &CourseRow) -> sqlx::Result<ProgramForm> {
        let who: Vec<String> = crate::db::json_column(&c.who_for, "courses.who_for")?;
        let not: Vec<String> = crate::db::json_column(&c.not_for, "courses.not_for")?;
        Ok(ProgramForm {
            title: c.title.clone(),
            slug: c.slug.clone(),
            promise: c.promise.clone(),
            description: c.description_md.clone(),
            who_for: who.join("\n"),
            not_for: not.join("\n"),
            faq: crate::db::json_column(&c.faq, "courses.faq")?,
            price: price_input(c.price_cents),
            status: c.status.to_string(),
            status_was: c.status.to_string(),
        })
    }

    fn from_post(f: &FormData) -> ProgramForm {
        let questions = f.all("faq_q");
        let answers = f.all("faq_a");
        let faq = questions
            .iter()
            .zip(answers.iter().chain(std::iter::repeat(&String::new())))
            .filter(|(q, a)| !q.trim().is_empty() || !a.trim().is_empty())
            .map(|(q, a)| FaqEntry {
                q: q.trim().to_owned(),
                a: a.trim().to_owned(),
                a_html: String::new(),
            })
            .collect();
        ProgramForm {
            title: f.get("title"),
            slug: f.get("slug"),
            promise: f.get("promise"),
            description: f.get("description"),
            who_for: f.get("who_for"),
            not_for: f.get("not_for"),
            faq,
            price: f.get("price"),
            status: f.get("status"),
            status_was: f.get("status_was"),
        }
    }
}

struct CheckedProgram {
    title: String,
    slug: String,
    promise: String,
    description_md: String,
    description_html: String,
    who_for: String,
    not_for: String,
    faq: String,
    price_cents: i64,
    status: CourseStatus,
}

fn check_program(form: &ProgramForm, errors: &mut HashMap<&'static str, String>) -> Option<CheckedProgram> {
    let title = title(&form.title, "program")
        .map_err(|e| errors.insert("title", e))
        .ok();
    let slug = match &title {
        Some(t) => slug_from(&form.slug, t).map_err(|e| errors.insert("slug", e)).ok(),
        None => None,
    };
    let promise = form.promise.split_whitespace().collect::<Vec<_>>().join(" ");
    if promise.is_empty() {
        errors.insert("promise", "Say in one line what students will be able to do.".into());
    } else if promise.chars().count() > 300 {
        errors.insert("promise", "Keep the promise under 300 characters.".into());
    }
    let description_html = crate::content::markdown::render_plain(&form.description)
        .map_err(|e| errors.insert("description", e))
        .ok();
    let mut faq = Vec::new();
    for entry in &form.faq {
        if entry.q.is_empty() || entry.a.is_empty() {
            errors.insert(
                "faq",
                "Each question needs an answer (or clear both to remove it).".into(),
            );
            continue;
        }
        match crate::content::markdown::render_plain(&entry.a) {
            Ok(html) => faq.push(FaqEntry {
                q: entry.q.clone(),
                a: entry.a.clone(),
                a_html: html,
            }),
            Err(e) => {
                errors.insert("faq", e);
            }
        }
    }
    let price = parse_price(&form.price).map_err(|e| errors.insert("price", e)).ok();
    let status = CourseStatus::parse(&form.status);
    if status.is_none() {
        errors.insert("status", "Choose a status.".into());
    }
    if !errors.is_empty() {
        return None;
    }
    Some(CheckedProgram {
        title: title?,
        slug: slug?,
        promise,
        description_md: form.description.trim().to_owned(),
        description_html: description_html?,
        who_for: serde_json::to_string(&lines(&form.who_for)).unwrap_or_else(|_| "[]".into()),
        not_for: serde_json::to_string(&lines(&form.not_for)).unwrap_or_else(|_| "[]".into()),
        faq: serde_json::to_string(&faq).unwrap_or_else(|_| "[]".into()),
        price_cents: price?,
        status: status?,
    })
}

fn render_program_form(
    state: &Ctx,
    user: &User,
    status: StatusCode,
    course: Option<&CourseRow>,
    form: &ProgramForm,
    errors: &HashMap<&'static str, String>,
    notice: Option<&str>,
) -> Result<Response, AppError> {
    let mut faq: Vec<&FaqEntry> = form.faq.iter().collect();
    let blank = FaqEntry {
        q: String::new(),
        a: String::new(),
        a_html: String::new(),
    };
    faq.push(&blank);
    faq.push(&blank);
    let ctx = context! {
        user => Serde(user),
        course => Serde(&course),
        form => Serde(form),
        faq => Serde(&faq),
        errors => Serde(errors),
        notice,
        statuses => vec![
            ("draft", "Draft — only you can see it"),
            ("preenrollment", "Pre-enrollment — visitors can join the list"),
            ("open", "Open — students can enroll and pay"),
            ("closed", "Closed — students keep access; nobody new can enroll"),
        ],
    };
    Ok((status, state.render("admin/program_form.html", ctx)?).into_response())
}

pub async fn new_program(State(state): State<Ctx>, Instructor(user): Instructor) -> Result<Response, AppError> {
    let form = ProgramForm {
        status: "draft".into(),
        price: "0.00".into(),
        ..ProgramForm::default()
    };
    render_program_form(&state, &user, StatusCode::OK, None, &form, &HashMap::new(), None)
}

pub async fn create_program(
    State(state): State<Ctx>,
    Instructor(user): Instructor,
    body: Bytes,
) -> Result<Response, AppError> {
    let form = ProgramForm::from_post(&FormData::parse(&body));
    let mut errors = HashMap::new();
    let Some(p) = check_program(&form, &mut errors) else {
        return render_program_form(
            &state,
            &user,
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            &form,
            &errors,
            None,
        );
    };
    let now = state.clock.now();
    let mut tx = store::begin(&state.db).await?;
    if store::slug_owner(&mut tx, &p.slug).await?.is_some() {
        let message = format!("Another program already uses “{}”. Choose another web address.", p.slug);
        return refuse_in(tx, errors, "slug", message, |errors| {
            std::future::ready(render_program_form(
                &state,
                &user,
                StatusCode::CONFLICT,
                None,
                &form,
                &errors,
                None,
            ))
        })
        .await;
    }
    let fields = fields_of(&p);
    store::forget_course_redirect(&mut tx, &p.slug).await?;
    let id = store::insert_course(&mut tx, &fields, now).await?;
    finish(&state, tx, id, &user, "program.create", &p.slug, &p.title).await?;
    Ok(Redirect::to(&format!("/admin/courses/{}/content?notice=created", p.slug)).into_response())
}

fn fields_of(p: &CheckedProgram) -> CourseFields<'_> {
    CourseFields {
        slug: &p.slug,
        title: &p.title,
        promise: &p.promise,
        description_md: &p.description_md,
        description_html: &p.description_html,
        who_for: &p.who_for,
        not_for: &p.not_for,
        faq: &p.faq,
        price_cents: p.price_cents,
        status: p.status.as_str(),
    }
}

pub async fn edit_program(
    State(state): State<Ctx>,
    Instructor(user): Instructor,
    Path(slug): Path<String>,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, AppError> {
    let course = course_or_404(&state, &slug).await?;
    let notice = (q.notice == "saved").then_some("Saved.");
    let form = ProgramForm::from_row(&course)?;
    render_program_form(
        &state,
        &user,
        StatusCode::OK,
        Some(&course),
        &form,
        &HashMap::new(),
        notice,
    )
}

pub async fn save_program(
    State(state): State<Ctx>,
    Instructor(user): Instructor,
    Path(slug): Path<String>,
    body: Bytes,
) -> Result<Response, AppError> {
    let course = course_or_404(&state, &slug).await?;
    let form = ProgramForm::from_post(&FormData::parse(&body));
    let mut errors = HashMap::new();
    let Some(p) = check_program(&form, &mut errors) else {
        return render_program_form(
            &state,
            &user,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(&course),
            &form,
            &errors,
            None,
        );
    };
    // The status the form showed may be stale (a scheduled launch fired while it was open): it
    // changes only when the instructor changed it, and only from what it still is.
    let from = course.status;
    let mut p = p;
    let was = if form.status_was.is_empty() {
        from.as_str()
    } else {
        form.status_was.as_str()
    };
    if form.status == was {
        p.status = from;
    } else if was != from.as_str() {
        errors.insert(
            "status",
            format!(
                "The status changed while you were editing: it is now “{from}”. Nothing was saved; check it and save again."
            ),
        );
        let mut form = form;
        form.status = from.to_string();
        form.status_was = from.to_string();
        return render_program_form(&state, &user, StatusCode::CONFLICT, Some(&course), &form, &errors, None);
    }
    let to = p.status;
    // Status changes that would surprise people are refused here, with the way to do them.
    if from.opens_by_launch_only(to) {
        errors.insert(
            "status",
            "To open a program people pre-enrolled in, use Launch on the Programs page: it emails them.".into(),
        );
    } else if from.hides_from_students(to) && store::active_enrollments(&state.db, course.id).await? > 0 {
        errors.insert(
            "status",
            "Students are enrolled in this program, so it cannot go back to draft (they would lose it). Close it instead."
                .into(),
        );
    }
    if !errors.is_empty() {
        return render_program_form(&state, &user, StatusCode::CONFLICT, Some(&course), &form, &errors, None);
    }
    let now = state.clock.now();
    let mut tx = store::begin(&state.db).await?;
    if p.slug != course.slug && store::slug_owner(&mut tx, &p.slug).await?.is_some() {
        let message = format!("Another program already uses “{}”. Choose another web address.", p.slug);
        return refuse_in(tx, errors, "slug", message, |errors| {
            std::future::ready(render_program_form(
                &state,
                &user,
                StatusCode::CONFLICT,
                Some(&course),
                &form,
                &errors,
                None,
            ))
        })
        .await;
    }
    store::update_course(&mut tx, course.id, &fields_of(&p), now).await?;
    if from.cancels_launch(to) {
        // A launch scheduled for a program that is no longer waiting for it must not fire.
        crate::launch::store::cancel_scheduled(&mut tx, course.id).await?;
    }
    let mut detail = Vec::new();
    if p.slug != course.slug {
        store::add_course_redirect(&mut tx, &course.slug, &p.slug, course.id).await?;
        detail.push(format!("web address {} → {}", course.slug, p.slug));
    }
    if from != to {
        detail.push(format!("status {from} → {to}"));
    }
    if p.price_cents != course.price_cents {
        detail.push(format!("price {} → {}", course.price_cents, p.price_cents));
    }
    finish(
        &state,
        tx,
        course.id,
        &user,
        "program.edit",
        &p.slug,
        &detail.join("; "),
    )
    .await?;
    Ok(Redirect::to(&format!("/admin/courses/{}/edit?notice=saved", p.slug)).into_response())
}
