//! The studio's content editor: a program's own fields (or a new program), and the page that lists
//! its modules and lessons with their controls (add, move, publish, archive, delete). The lesson
//! editor is in `lessons.rs`.
//!
//! Every write runs in one transaction that also re-hashes the program for `content import`
//! (see `content::rehash`), bumps the content version and records the audit entry; the handler
//! then reloads the catalogue, so the next page shows the change.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use minijinja::value::Serde;
use serde::{Deserialize, Serialize};

use super::content_store::{self as store, CourseFields, CourseRow, ModuleRow, Table};
use crate::accounts::Instructor;
use crate::accounts::store::User;
use crate::audit;
use crate::content as content_api;
use crate::content::source::FaqEntry;
use crate::context::Ctx;
use crate::db::Tx;
use crate::domain::{CourseStatus, Slug};
use crate::web::AppError;

pub const MAX_TITLE: usize = 200;

// ---- form helpers ----------------------------------------------------------------------------

/// A urlencoded form body as its pairs, in order (repeated names kept: FAQ rows).
pub struct FormData(Vec<(String, String)>);

impl FormData {
    pub fn parse(body: &Bytes) -> FormData {
        FormData(
            url::form_urlencoded::parse(body)
                // NUL is never meaningful in text and PostgreSQL refuses it: dropped at the edge.
                .map(|(k, v)| (k.into_owned(), v.replace('\0', "")))
                .collect(),
        )
    }

    /// The first value of `name`, with Windows line ends made plain; "" when absent.
    pub fn get(&self, name: &str) -> String {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.replace("\r\n", "\n"))
            .unwrap_or_default()
    }

    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.replace("\r\n", "\n"))
            .collect()
    }

    pub fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k == name)
    }
}

/// A title: trimmed, required, at most [`MAX_TITLE`] characters, no control characters.
pub fn title(text: &str, what: &str) -> Result<String, String> {
    let t = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if t.is_empty() {
        Err(format!("Give the {what} a title."))
    } else if t.chars().any(char::is_control) {
        Err("Remove the invisible control characters from the title.".to_owned())
    } else if t.chars().count() > MAX_TITLE {
        Err(format!("Keep the title under {MAX_TITLE} characters."))
    } else {
        Ok(t)
    }
}

/// A slug typed by the instructor, or made from the title when left empty.
pub fn slug_from(text: &str, title: &str) -> Result<String, String> {
    let source = if text.trim().is_empty() { title } else { text.trim() };
    let made = if text.trim().is_empty() {
        slugify(source)
    } else {
        source.to_owned()
    };
    Slug::parse(&made)
        .map(Slug::into_inner)
        .map_err(|e| format!("The web address {e}."))
}

pub fn slugify(text: &str) -> String {
    let mut out = String::new();
    for c in text.to_lowercase().chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
        if out.len() >= 60 {
            break;
        }
    }
    out.trim_end_matches('-').to_owned()
}

/// "197", "197.5", "197.50" or "1,197.00" to minor units.
pub fn parse_price(text: &str) -> Result<i64, String> {
    let t: String = text.trim().chars().filter(|c| *c != ',' && *c != ' ').collect();
    let bad = || "Enter the price as a number, like 197 or 197.50.".to_owned();
    if t.is_empty() {
        return Err("Enter a price (0 for free).".to_owned());
    }
    let (whole, frac) = t.split_once('.').unwrap_or((&t, ""));
    if whole.is_empty() || !whole.chars().all(|c| c.is_ascii_digit()) || frac.len() > 2 {
        return Err(bad());
    }
    if !frac.chars().all(|c| c.is_ascii_digit()) {
        return Err(bad());
    }
    let whole: i64 = whole.parse().map_err(|_| bad())?;
    if whole > 100_000 {
        return Err("That price is higher than the studio accepts (100,000).".to_owned());
    }
    let frac: i64 = format!("{frac:0<2}").parse().map_err(|_| bad())?;
    Ok(whole * 100 + frac)
}

fn price_input(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.trim().trim_start_matches(['-', '*']).trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect()
}

/// Ends a content write: re-hashes the program for `content import`, bumps the content version,
/// records the audit entry, commits, and reloads the catalogue.
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

// ---- a program's fields ----------------------------------------------------------------------

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
        drop(tx);
        errors.insert(
            "slug",
            format!("Another program already uses “{}”. Choose another web address.", p.slug),
        );
        return render_program_form(&state, &user, StatusCode::CONFLICT, None, &form, &errors, None);
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

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct NoticeQuery {
    pub notice: String,
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
    let from = course.status.as_str();
    let mut p = p;
    let was = if form.status_was.is_empty() {
        from
    } else {
        form.status_was.as_str()
    };
    if form.status == was {
        p.status = CourseStatus::parse(from).unwrap_or(p.status);
    } else if was != from {
        errors.insert(
            "status",
            format!(
                "The status changed while you were editing: it is now “{from}”. Nothing was saved; check it and save again."
            ),
        );
        let mut form = form;
        form.status = from.to_owned();
        form.status_was = from.to_owned();
        return render_program_form(&state, &user, StatusCode::CONFLICT, Some(&course), &form, &errors, None);
    }
    let to = p.status.as_str();
    // Status changes that would surprise people are refused here, with the way to do them.
    if from == "preenrollment" && to == "open" {
        errors.insert(
            "status",
            "To open a program people pre-enrolled in, use Launch on the Programs page: it emails them.".into(),
        );
    } else if to == "draft" && from != "draft" && store::active_enrollments(&state.db, course.id).await? > 0 {
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
        drop(tx);
        errors.insert(
            "slug",
            format!("Another program already uses “{}”. Choose another web address.", p.slug),
        );
        return render_program_form(&state, &user, StatusCode::CONFLICT, Some(&course), &form, &errors, None);
    }
    store::update_course(&mut tx, course.id, &fields_of(&p), now).await?;
    if from == "preenrollment" && to != from {
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

// ---- the modules-and-lessons page ------------------------------------------------------------

#[derive(Serialize)]
struct ModuleView {
    #[serde(flatten)]
    row: ModuleRow,
    publish_at_local: Option<String>,
    publish_at_value: String,
    lessons: Vec<super::content_store::LessonRow>,
}

fn content_notice(key: &str) -> Option<&'static str> {
    Some(match key {
        "created" => "Program created, as a draft. Add its first module below.",
        "module-added" => "Module added, as a draft: students see it once you publish it.",
        "lesson-added" => "Lesson added.",
        "moved" => "Order changed.",
        "deleted" => "Deleted.",
        "archived" => "Archived: hidden from students; their progress is kept.",
        "restored" => "Restored.",
        "published" => "Published: students can see it now.",
        "published-notified" => "Published, and the enrolled students are being emailed.",
        "scheduled" => "Scheduled: it will be published at the time you chose.",
        "draft" => "Back to draft: students no longer see it.",
        "saved" => "Saved.",
        _ => return None,
    })
}

pub async fn content_page(
    State(state): State<Ctx>,
    Instructor(user): Instructor,
    Path(slug): Path<String>,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, AppError> {
    let course = course_or_404(&state, &slug).await?;
    render_content(
        &state,
        &user,
        &course,
        StatusCode::OK,
        content_notice(&q.notice),
        HashMap::new(),
    )
    .await
}

pub async fn render_content(
    state: &Ctx,
    user: &User,
    course: &CourseRow,
    status: StatusCode,
    notice: Option<&str>,
    errors: HashMap<String, String>,
) -> Result<Response, AppError> {
    let (modules, lessons) = tokio::try_join!(
        store::modules(&state.db, course.id),
        store::lessons(&state.db, course.id)
    )?;
    let tz = state.catalog().tz.clone();
    let (active, archived): (Vec<ModuleRow>, Vec<ModuleRow>) = modules.into_iter().partition(|m| !m.archived);
    let active: Vec<ModuleView> = active
        .into_iter()
        .map(|m| ModuleView {
            publish_at_local: m.publish_at.map(|t| crate::local_time::format_local(t, &tz)),
            publish_at_value: m
                .publish_at
                .map(|t| crate::local_time::input_value(t, &tz))
                .unwrap_or_default(),
            lessons: lessons
                .iter()
                .filter(|l| l.module_id == m.id && !l.archived)
                .cloned()
                .collect(),
            row: m,
        })
        .collect();
    let archived_lessons: Vec<_> = lessons.iter().filter(|l| l.archived).cloned().collect();
    let ctx = context! {
        user => Serde(user),
        course => Serde(course),
        modules => Serde(&active),
        archived_modules => Serde(&archived),
        archived_lessons => Serde(&archived_lessons),
        notice,
        errors,
        time_zone => state.catalog().site.time_zone.clone(),
    };
    Ok((status, state.render("admin/content.html", ctx)?).into_response())
}

fn back_to_content(slug: &str, notice: &str, anchor: &str) -> Response {
    Redirect::to(&format!("/admin/courses/{slug}/content?notice={notice}{anchor}")).into_response()
}

async fn refuse(
    state: &Ctx,
    user: &User,
    course: &CourseRow,
    status: StatusCode,
    key: String,
    message: String,
) -> Result<Response, AppError> {
    render_content(state, user, course, status, None, HashMap::from([(key, message)])).await
}

// ---- modules ---------------------------------------------------------------------------------

pub async fn add_module(
    State(state): State<Ctx>,
    Instructor(user): Instructor,
    Path(slug): Path<String>,
    body: Bytes,
) -> Result<Response, AppError> {
    let course = course_or_404(&state, &slug).await?;
    let f = FormData::parse(&body);
    let t = match title(&f.get("title"), "module") {
        Ok(t) => t,
        Err(e) => {
            return refuse(
                &state,
                &user,
                &course,
                StatusCode::UNPROCESSABLE_ENTITY,
                "add-module".into(),
                e,
            )
            .await;
        }
    };
    let base = match slug_from("", &t) {
        Ok(s) => s,
        Err(e) => {
            return refuse(
                &state,
                &user,
                &course,
                StatusCode::UNPROCESSABLE_ENTITY,
                "add-module".into(),
                e,
            )
            .await;
        }
    };
    let mut tx = store::begin(&state.db).await?;
    let mut module_slug = base.clone();
    let mut n = 2;
    while store::module_slug_taken(&mut tx, course.id, &module_slug, 0).await? {
        module_slug = format!("{base}-{n}");
        n += 1;
    }
    let id = store::insert_module(&mut tx, course.id, &module_slug, &t, state.clock.now()).await?;
    finish(
        &state,
        tx,
        course.id,
        &user,
        "module.create",
        &format!("{slug}/{module_slug}"),
        &t,
    )
    .await?;
    Ok(back_to_content(&slug, "module-added", &format!("#module-{id}")))
}

pub async fn edit_module(
    State(state): State<Ctx>,
    Instructor(user): Instructor,
    Path((slug, id)): Path<(String, i64)>,
) -> Result<Response, AppError> {
    let (course, module) = module_or_404(&state, &slug, id).await?;
    render_module_form(&state, &user, &course, &module, StatusCode::OK, &HashMap::new())
}

fn render_module_form(
    state: &Ctx,
    user: &User,
    course: &CourseRow,
    module: &ModuleRow,
    status: StatusCode,
    errors: &HashMap<&'static str, String>,
) -> Result<Response, AppError> {
    let drip = match (module.unlock_after_days, &module.unlock_on) {
        (Some(_), _) => "days",
        (_, Some(_)) => "date",
        _ => "none",
    };
    let ctx = context! {
        user => Serde(user),
        course => Serde(course),
        module => Serde(module),
        drip,
        errors => Serde(errors),
    };
    Ok((status, state.render("admin/module_form.html", ctx)?).into_response())
}

pub async fn save_module(
    State(state): State<Ctx>,
    Instructor(user): Instructor,
    Path((slug, id)): Path<(String, i64)>,
    body: Bytes,
) -> Result<Response, AppError> {
    let (course, old) = module_or_404(&state, &slug, id).await?;
    let f = FormData::parse(&body);
    let mut errors: HashMap<&'static str, String> = HashMap::new();
    let mut module = old.clone();
    module.title = f.get("title");
    module.summary = f.get("summary").split_whitespace().collect::<Vec<_>>().join(" ");
    module.slug = f.get("slug");
    match title(&module.title, "module") {
        Ok(t) => {
            module.title = t;
            match slug_from(&module.slug, &module.title) {
                Ok(s) => module.slug = s,
                Err(e) => {
                    errors.insert("slug", e);
                }
            }
        }
        Err(e) => {
            errors.insert("title", e);
        }
    }
    if module.summary.chars().count() > 500 {
        errors.insert("summary", "Keep the summary under 500 characters.".into());
    }
    module.unlock_after_days = None;
    module.unlock_on = None;
    match f.get("drip").as_str() {
        "days" => match f.get("unlock_after_days").trim().parse::<i64>() {
            Ok(d) if (0..=3650).contains(&d) => module.unlock_after_days = Some(d),
            _ => {
                errors.insert("drip", "Enter a number of days from 0 to 3650.".into());
            }
        },
        "date" => match f.get("unlock_on").trim().parse::<jiff::civil::Date>() {
            Ok(d) => module.unlock_on = Some(d.to_string()),
            Err(_) => {
                errors.insert("drip", "Enter a date like 2027-01-15.".into());
            }
        },
        _ => {}
    }
    if !errors.is_empty() {
        return render_module_form(
            &state,
            &user,
            &course,
            &module,
            StatusCode::UNPROCESSABLE_ENTITY,
            &errors,
        );
    }
    let mut tx = store::begin(&state.db).await?;
    if store::module_slug_taken(&mut tx, course.id, &module.slug, module.id).await? {
        drop(tx);
        errors.insert(
            "slug",
            format!("Another module of this program already uses “{}”.", module.slug),
        );
        return render_module_form(&state, &user, &course, &module, StatusCode::CONFLICT, &errors);
    }
    store::update_module(&mut tx, &module, state.clock.now()).await?;
    finish(
        &state,
        tx,
        course.id,
        &user,
        "module.edit",
        &format!("{slug}/{}", module.slug),
        &module.title,
    )
    .await?;
    Ok(back_to_content(&slug, "saved", &format!("#module-{id}")))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct MoveForm {
    direction: String,
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

pub async fn move_module(
    State(state): State<Ctx>,
    Instructor(user): Instructor,
    Path((slug, id)): Path<(String, i64)>,
    axum::Form(form): axum::Form<MoveForm>,
) -> Result<Response, AppError> {
    let (course, module) = module_or_404(&state, &slug, id).await?;
    if !matches!(form.direction.as_str(), "up" | "down") {
        return Err(AppError::BadRequest("Move up or down.".into()));
    }
    let mut tx = store::begin(&state.db).await?;
    let mut ids = store::module_order(&mut tx, course.id).await?;
    if !moved(&mut ids, id, &form.direction) {
        return Ok(back_to_content(&slug, "moved", &format!("#module-{id}")));
    }
    store::renumber(&mut tx, Table::Modules, &ids).await?;
    finish(
        &state,
        tx,
        course.id,
        &user,
        "module.move",
        &format!("{slug}/{}", module.slug),
        &form.direction,
    )
    .await?;
    Ok(back_to_content(&slug, "moved", &format!("#module-{id}")))
}

pub async fn delete_module(
    State(state): State<Ctx>,
    Instructor(user): Instructor,
    Path((slug, id)): Path<(String, i64)>,
) -> Result<Response, AppError> {
    let (course, module) = module_or_404(&state, &slug, id).await?;
    let mut tx = store::begin(&state.db).await?;
    let students = store::module_progress(&mut tx, id).await?;
    if students > 0 {
        drop(tx);
        let message = format!(
            "“{}” cannot be deleted: {students} student{} ha{} progress in it, which would be lost. Archive it instead: it disappears for students and their progress is kept.",
            module.title,
            if students == 1 { "" } else { "s" },
            if students == 1 { "s" } else { "ve" },
        );
        return refuse(
            &state,
            &user,
            &course,
            StatusCode::CONFLICT,
            format!("module-{id}"),
            message,
        )
        .await;
    }
    store::delete_module(&mut tx, id).await?;
    let ids = store::module_order(&mut tx, course.id).await?;
    store::renumber(&mut tx, Table::Modules, &ids).await?;
    finish(
        &state,
        tx,
        course.id,
        &user,
        "module.delete",
        &format!("{slug}/{}", module.slug),
        &module.title,
    )
    .await?;
    Ok(back_to_content(&slug, "deleted", ""))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ArchiveForm {
    restore: String,
}

pub async fn archive_module(
    State(state): State<Ctx>,
    Instructor(user): Instructor,
    Path((slug, id)): Path<(String, i64)>,
    axum::Form(form): axum::Form<ArchiveForm>,
) -> Result<Response, AppError> {
    let (course, module) = module_or_404(&state, &slug, id).await?;
    let restore = !form.restore.is_empty();
    let mut tx = store::begin(&state.db).await?;
    store::set_module_archived(&mut tx, id, !restore, state.clock.now()).await?;
    let ids = store::module_order(&mut tx, course.id).await?;
    store::renumber(&mut tx, Table::Modules, &ids).await?;
    let action = if restore { "module.restore" } else { "module.archive" };
    finish(
        &state,
        tx,
        course.id,
        &user,
        action,
        &format!("{slug}/{}", module.slug),
        &module.title,
    )
    .await?;
    Ok(back_to_content(
        &slug,
        if restore { "restored" } else { "archived" },
        "",
    ))
}

// ---- lessons (add, move, delete, archive; the editor is in lessons.rs) -----------------------

pub async fn add_lesson(
    State(state): State<Ctx>,
    Instructor(user): Instructor,
    Path(slug): Path<String>,
    body: Bytes,
) -> Result<Response, AppError> {
    let course = course_or_404(&state, &slug).await?;
    let f = FormData::parse(&body);
    let module_id: i64 = f
        .get("module")
        .parse()
        .map_err(|_| AppError::BadRequest("Choose a module.".into()))?;
    let module = store::module(&state.db, course.id, module_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let key = format!("add-lesson-{module_id}");
    let t = match title(&f.get("title"), "lesson") {
        Ok(t) => t,
        Err(e) => return refuse(&state, &user, &course, StatusCode::UNPROCESSABLE_ENTITY, key, e).await,
    };
    let base = match slug_from("", &t) {
        Ok(s) => s,
        Err(e) => return refuse(&state, &user, &course, StatusCode::UNPROCESSABLE_ENTITY, key, e).await,
    };
    let mut tx = store::begin(&state.db).await?;
    let taken: Vec<String> = store::lesson_slugs(&mut tx, course.id)
        .await?
        .into_iter()
        .map(|(_, s)| s)
        .collect();
    let mut lesson_slug = base.clone();
    let mut n = 2;
    while taken.contains(&lesson_slug) {
        lesson_slug = format!("{base}-{n}");
        n += 1;
    }
    let id = store::insert_lesson(&mut tx, course.id, module.id, &lesson_slug, &t, state.clock.now()).await?;
    finish(
        &state,
        tx,
        course.id,
        &user,
        "lesson.create",
        &format!("{slug}/{lesson_slug}"),
        &t,
    )
    .await?;
    Ok(Redirect::to(&format!("/admin/courses/{slug}/lessons/{id}?notice=created")).into_response())
}

pub async fn move_lesson(
    State(state): State<Ctx>,
    Instructor(user): Instructor,
    Path((slug, id)): Path<(String, i64)>,
    axum::Form(form): axum::Form<MoveForm>,
) -> Result<Response, AppError> {
    let (course, lesson) = lesson_or_404(&state, &slug, id).await?;
    if !matches!(form.direction.as_str(), "up" | "down") {
        return Err(AppError::BadRequest("Move up or down.".into()));
    }
    let mut tx = store::begin(&state.db).await?;
    let mut ids = store::lesson_order(&mut tx, lesson.module_id).await?;
    if !moved(&mut ids, id, &form.direction) {
        return Ok(back_to_content(&slug, "moved", &format!("#lesson-{id}")));
    }
    store::renumber(&mut tx, Table::Lessons, &ids).await?;
    finish(
        &state,
        tx,
        course.id,
        &user,
        "lesson.move",
        &format!("{slug}/{}", lesson.slug),
        &form.direction,
    )
    .await?;
    Ok(back_to_content(&slug, "moved", &format!("#lesson-{id}")))
}

pub async fn delete_lesson(
    State(state): State<Ctx>,
    Instructor(user): Instructor,
    Path((slug, id)): Path<(String, i64)>,
) -> Result<Response, AppError> {
    let (course, lesson) = lesson_or_404(&state, &slug, id).await?;
    let mut tx = store::begin(&state.db).await?;
    let students = store::lesson_progress(&mut tx, id).await?;
    if students > 0 {
        drop(tx);
        let message = format!(
            "“{}” cannot be deleted: {students} student{} opened it, and their progress would be lost. Archive it instead: it disappears for students and their progress is kept.",
            lesson.title,
            if students == 1 { "" } else { "s" },
        );
        return refuse(
            &state,
            &user,
            &course,
            StatusCode::CONFLICT,
            format!("lesson-{id}"),
            message,
        )
        .await;
    }
    if let Some(refusal) = linked_refusal(&mut tx, &course, id, &lesson.slug, &lesson.title).await? {
        drop(tx);
        return refuse(
            &state,
            &user,
            &course,
            StatusCode::CONFLICT,
            format!("lesson-{id}"),
            refusal,
        )
        .await;
    }
    store::delete_lesson(&mut tx, id).await?;
    let ids = store::lesson_order(&mut tx, lesson.module_id).await?;
    store::renumber(&mut tx, Table::Lessons, &ids).await?;
    finish(
        &state,
        tx,
        course.id,
        &user,
        "lesson.delete",
        &format!("{slug}/{}", lesson.slug),
        &lesson.title,
    )
    .await?;
    Ok(back_to_content(&slug, "deleted", ""))
}

pub async fn archive_lesson(
    State(state): State<Ctx>,
    Instructor(user): Instructor,
    Path((slug, id)): Path<(String, i64)>,
    axum::Form(form): axum::Form<ArchiveForm>,
) -> Result<Response, AppError> {
    let (course, lesson) = lesson_or_404(&state, &slug, id).await?;
    let restore = !form.restore.is_empty();
    let mut tx = store::begin(&state.db).await?;
    if restore {
        let module = store::module(&state.db, course.id, lesson.module_id).await?;
        if module.is_some_and(|m| m.archived) {
            drop(tx);
            let message = format!("“{}” is in an archived module: restore the module first.", lesson.title);
            return refuse(&state, &user, &course, StatusCode::CONFLICT, "archived".into(), message).await;
        }
    } else if let Some(refusal) = linked_refusal(&mut tx, &course, id, &lesson.slug, &lesson.title).await? {
        drop(tx);
        return refuse(
            &state,
            &user,
            &course,
            StatusCode::CONFLICT,
            format!("lesson-{id}"),
            refusal,
        )
        .await;
    }
    store::set_lesson_archived(&mut tx, id, !restore, state.clock.now()).await?;
    let ids = store::lesson_order(&mut tx, lesson.module_id).await?;
    store::renumber(&mut tx, Table::Lessons, &ids).await?;
    let action = if restore { "lesson.restore" } else { "lesson.archive" };
    finish(
        &state,
        tx,
        course.id,
        &user,
        action,
        &format!("{slug}/{}", lesson.slug),
        &lesson.title,
    )
    .await?;
    Ok(back_to_content(
        &slug,
        if restore { "restored" } else { "archived" },
        "",
    ))
}

/// A lesson other lessons link to cannot go: their links would lead nowhere (and the export of the
/// program would fail). The message names them.
async fn linked_refusal(
    tx: &mut Tx,
    course: &CourseRow,
    id: i64,
    slug: &str,
    title: &str,
) -> Result<Option<String>, AppError> {
    let linking = store::linking_lessons(tx, course.id, id, slug).await?;
    Ok((!linking.is_empty()).then(|| {
        let names: Vec<String> = linking.iter().map(|t| format!("“{t}”")).collect();
        format!(
            "“{title}” is linked from {}. Remove those links first, so students do not land on a missing page.",
            names.join(", ")
        )
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices() {
        assert_eq!(parse_price("197"), Ok(19700));
        assert_eq!(parse_price(" 197.5 "), Ok(19750));
        assert_eq!(parse_price("1,197.05"), Ok(119705));
        assert_eq!(parse_price("0"), Ok(0));
        assert!(parse_price("").is_err());
        assert!(parse_price("-5").is_err());
        assert!(parse_price("1.234").is_err());
        assert!(parse_price("abc").is_err());
        assert!(parse_price("1e5").is_err());
        assert!(parse_price("100001").is_err());
    }

    #[test]
    fn slugs_from_titles() {
        assert_eq!(slugify("Sleep & Your Gut: Part 2!"), "sleep-your-gut-part-2");
        assert_eq!(slug_from("", "  Hello  ").as_deref(), Ok("hello"));
        assert!(slug_from("Bad Slug", "x").is_err());
        assert!(slug_from("", "¿¿").is_err());
    }

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
