//! A program's own fields: the new-program form and the edit form, with the status rules the
//! editor enforces (see `CourseStatus`).

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use minijinja::value::Serde;
use serde::{Deserialize, Serialize};

use super::forms::{lines, parse_price, price_input, slug_from, title};
use super::{NoticeQuery, course_or_404, finish, refuse_in, store};
use crate::accounts::Instructor;
use crate::accounts::store::User;
use crate::admin::content_store::{CourseFields, CourseRow};
use crate::content::source::FaqEntry;
use crate::context::Ctx;
use crate::domain::CourseStatus;
use crate::payments::plans::{INTERVALS, MAX_INSTALMENTS, Plan, Plans};
use crate::web::AppError;
use crate::web::form::{Form, text, texts};

/// The program form as posted: FAQ rows and payment plan rows repeat their fields.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ProgramPost {
    #[serde(deserialize_with = "text")]
    title: String,
    #[serde(deserialize_with = "text")]
    slug: String,
    #[serde(deserialize_with = "text")]
    promise: String,
    #[serde(deserialize_with = "text")]
    description: String,
    #[serde(deserialize_with = "text")]
    who_for: String,
    #[serde(deserialize_with = "text")]
    not_for: String,
    #[serde(deserialize_with = "texts")]
    faq_q: Vec<String>,
    #[serde(deserialize_with = "texts")]
    faq_a: Vec<String>,
    #[serde(deserialize_with = "text")]
    price: String,
    #[serde(deserialize_with = "texts")]
    plan_id: Vec<String>,
    #[serde(deserialize_with = "texts")]
    plan_instalments: Vec<String>,
    #[serde(deserialize_with = "texts")]
    plan_amount: Vec<String>,
    #[serde(deserialize_with = "texts")]
    plan_interval: Vec<String>,
    #[serde(deserialize_with = "text")]
    status: String,
    #[serde(deserialize_with = "text")]
    status_was: String,
}

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
    /// Payment plans, one row each (see [`PlanRow`]).
    plans: Vec<PlanRow>,
    /// Whether the post carried the plan rows at all: a post without them (a form from before
    /// plans were editable) leaves the program's plans as they are.
    #[serde(skip)]
    plans_posted: bool,
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
            plans: c.plans.0.iter().map(PlanRow::from_plan).collect(),
            plans_posted: true,
            status: c.status.to_string(),
            status_was: c.status.to_string(),
        })
    }

    fn from_post(f: &ProgramPost) -> ProgramForm {
        let questions = &f.faq_q;
        let answers = &f.faq_a;
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
            title: f.title.clone(),
            slug: f.slug.clone(),
            promise: f.promise.clone(),
            description: f.description.clone(),
            who_for: f.who_for.clone(),
            not_for: f.not_for.clone(),
            faq,
            price: f.price.clone(),
            plans: PlanRow::from_post(f),
            plans_posted: !f.plan_instalments.is_empty(),
            status: f.status.clone(),
            status_was: f.status_was.clone(),
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
    plans: Plans,
    status: CourseStatus,
}

/// The most payment plans a program offers: a choice, not a menu.
const MAX_PLANS: usize = 4;

/// One payment plan as the form shows it: its id (kept as it was, so a plan keeps its name across
/// edits; made from the terms for a new one), how many payments, each payment, and how often.
#[derive(Serialize, Default, Clone)]
struct PlanRow {
    id: String,
    instalments: String,
    amount: String,
    interval: String,
}

impl PlanRow {
    fn from_plan(p: &Plan) -> PlanRow {
        PlanRow {
            id: p.id.clone(),
            instalments: p.instalments.to_string(),
            amount: price_input(p.amount),
            interval: p.interval.clone(),
        }
    }

    /// The rows posted, in order; rows left empty (no payments, no amount) are dropped.
    fn from_post(f: &ProgramPost) -> Vec<PlanRow> {
        let (ids, counts, amounts, intervals) = (&f.plan_id, &f.plan_instalments, &f.plan_amount, &f.plan_interval);
        let at = |v: &[String], i: usize| v.get(i).map(|s| s.trim().to_owned()).unwrap_or_default();
        (0..counts.len().max(amounts.len()))
            .map(|i| PlanRow {
                id: at(ids, i),
                instalments: at(counts, i),
                amount: at(amounts, i),
                interval: at(intervals, i),
            })
            .filter(|r| !r.instalments.is_empty() || !r.amount.is_empty())
            .collect()
    }
}

/// "3-monthly", "6-weekly": a new plan's id, from its terms (unique among `taken`).
fn plan_id(instalments: i64, interval: &str, taken: &[Plan]) -> String {
    let every = match interval {
        "day" => "daily".to_owned(),
        other => format!("{other}ly"),
    };
    let base = format!("{instalments}-{every}");
    let mut id = base.clone();
    let mut n = 2;
    while taken.iter().any(|p| p.id == id) {
        id = format!("{base}-{n}");
        n += 1;
    }
    id
}

/// The plans as entered, checked as `course.toml`'s `[[plan]]` are (`Plan::check`), or the reason
/// in words. A free program offers none.
fn check_plans(rows: &[PlanRow], price: Option<i64>) -> Result<Plans, String> {
    if rows.len() > MAX_PLANS {
        return Err(format!("Offer at most {MAX_PLANS} payment plans."));
    }
    if !rows.is_empty() && price == Some(0) {
        return Err("A free program has no payment plans: remove them, or set a price.".to_owned());
    }
    let mut plans: Vec<Plan> = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let n = i + 1;
        let instalments = row
            .instalments
            .parse::<i64>()
            .ok()
            .filter(|count| (2..=MAX_INSTALMENTS).contains(count))
            .ok_or_else(|| format!("Plan {n}: enter the number of payments, 2 to {MAX_INSTALMENTS}."))?;
        let amount = parse_price(&row.amount).map_err(|e| format!("Plan {n}: {e}"))?;
        if amount <= 0 {
            return Err(format!("Plan {n}: each payment must be more than 0."));
        }
        if !INTERVALS.contains(&row.interval.as_str()) {
            return Err(format!("Plan {n}: choose how often the payments fall."));
        }
        let kept = crate::domain::Slug::parse(&row.id).is_ok() && !plans.iter().any(|p| p.id == row.id);
        let id = if kept {
            row.id.clone()
        } else {
            plan_id(instalments, &row.interval, &plans)
        };
        plans.push(Plan {
            id,
            instalments,
            amount,
            interval: row.interval.clone(),
        });
    }
    // As course.toml's are checked (and ids kept from the form must not collide with one made for
    // a later row).
    crate::payments::plans::check_all(&plans)?;
    Ok(Plans(plans))
}

/// "3 × 69.00 monthly, 6 × 36.00 monthly": a plan list for the audit trail.
fn describe_plans(plans: &Plans) -> String {
    if plans.is_empty() {
        return "none".to_owned();
    }
    plans
        .0
        .iter()
        .map(|p| format!("{} × {} every {}", p.instalments, price_input(p.amount), p.interval))
        .collect::<Vec<_>>()
        .join(", ")
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
    let plans = check_plans(&form.plans, price)
        .map_err(|e| errors.insert("plans", e))
        .ok();
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
        plans: plans?,
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
    // The plans entered, and one empty row for a new one (up to the most a program offers).
    let mut plans = form.plans.clone();
    if plans.len() < MAX_PLANS {
        plans.push(PlanRow {
            interval: "month".into(),
            ..PlanRow::default()
        });
    }
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
        plans => Serde(&plans),
        intervals => INTERVALS.map(|every| (every, format!("Every {every}"))),
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
    Form(post): Form<ProgramPost>,
) -> Result<Response, AppError> {
    let form = ProgramForm::from_post(&post);
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
        plans: p.plans.to_json(),
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
    Form(post): Form<ProgramPost>,
) -> Result<Response, AppError> {
    let course = course_or_404(&state, &slug).await?;
    let form = ProgramForm::from_post(&post);
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
    if !form.plans_posted {
        p.plans = course.plans.clone();
    }
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
    if p.plans != course.plans {
        detail.push(format!(
            "payment plans {} → {}",
            describe_plans(&course.plans),
            describe_plans(&p.plans)
        ));
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
