//! Modules: add one (a draft, with a web address made from its title) and edit its title,
//! summary, web address and drip schedule. Publishing is in `admin/publish.rs`.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use minijinja::context;
use minijinja::value::Serde;

use super::content::{back_to_content, refuse};
use super::forms::{slug_from, title};
use super::{course_or_404, finish, module_or_404, refuse_in, store};
use crate::accounts::Instructor;
use crate::accounts::store::User;
use crate::admin::content_store::{CourseRow, ModuleRow};
use crate::context::Ctx;
use crate::web::AppError;
use crate::web::form::{Form, text};
use serde::Deserialize;

/// The module form as posted ("Add a module" posts only its title).
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ModulePost {
    #[serde(deserialize_with = "text")]
    title: String,
    #[serde(deserialize_with = "text")]
    summary: String,
    #[serde(deserialize_with = "text")]
    slug: String,
    drip: String,
    unlock_after_days: String,
    unlock_on: String,
}

pub async fn add_module(
    State(state): State<Ctx>,
    Instructor(user): Instructor,
    Path(slug): Path<String>,
    Form(f): Form<ModulePost>,
) -> Result<Response, AppError> {
    let course = course_or_404(&state, &slug).await?;
    let t = match title(&f.title, "module") {
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
    Form(f): Form<ModulePost>,
) -> Result<Response, AppError> {
    let (course, old) = module_or_404(&state, &slug, id).await?;
    let mut errors: HashMap<&'static str, String> = HashMap::new();
    let mut module = old.clone();
    module.title = f.title.clone();
    module.summary = f.summary.split_whitespace().collect::<Vec<_>>().join(" ");
    module.slug = f.slug.clone();
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
    match f.drip.as_str() {
        "days" => match f.unlock_after_days.trim().parse::<i64>() {
            Ok(d) if (0..=3650).contains(&d) => module.unlock_after_days = Some(d),
            _ => {
                errors.insert("drip", "Enter a number of days from 0 to 3650.".into());
            }
        },
        "date" => match f.unlock_on.trim().parse::<jiff::civil::Date>() {
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
        let message = format!("Another module of this program already uses “{}”.", module.slug);
        return refuse_in(tx, errors, "slug", message, |errors| {
            std::future::ready(render_module_form(
                &state,
                &user,
                &course,
                &module,
                StatusCode::CONFLICT,
                &errors,
            ))
        })
        .await;
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
