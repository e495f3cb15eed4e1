//! The public pages, rendered from the in-memory catalogue: no database access per request, and
//! each page rendered once per content version.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use minijinja::Value;

use super::Catalog;
use super::snapshot::{Program, WorksheetPage};
use crate::accounts::MaybeUser;
use crate::accounts::store::User;
use crate::context::Ctx;
use crate::web::AppError;
use crate::web::auth::{AuthRejection, Visitor};

/// Renders `template` from one catalogue snapshot: for anonymous visitors once per content version
/// (the page is the same for all of them), for a signed-in person every time (their name is in the
/// header). `key` names the page by its decoded slugs, so the cache holds at most one entry per page.
pub fn page(
    state: &Ctx,
    catalog: &Catalog,
    user: &Option<User>,
    key: &str,
    template: &str,
    ctx: &Value,
) -> Result<Bytes, AppError> {
    if let Some(user) = user {
        let user = minijinja::context! { user => minijinja::value::Serde(user) };
        return Ok(Bytes::from(state.render_parts(
            catalog,
            template,
            [ctx.clone(), user],
        )?));
    }
    let key = format!("{} {template} {key}", state.templates.generation());
    Ok(catalog.cached_page(&key, || state.render_with(catalog, template, ctx.clone()))?)
}

fn html(status: StatusCode, body: Bytes) -> Response {
    (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
}

pub async fn home(State(state): State<Ctx>, MaybeUser(user): MaybeUser) -> Result<Response, AppError> {
    let catalog = state.catalog();
    Ok(html(
        StatusCode::OK,
        page(&state, &catalog, &user, "", "catalog/home.html", &catalog.home)?,
    ))
}

pub async fn courses(State(state): State<Ctx>, MaybeUser(user): MaybeUser) -> Result<Response, AppError> {
    let catalog = state.catalog();
    Ok(html(
        StatusCode::OK,
        page(&state, &catalog, &user, "", "catalog/courses.html", &catalog.listing)?,
    ))
}

pub async fn course(
    State(state): State<Ctx>,
    MaybeUser(user): MaybeUser,
    Path(slug): Path<String>,
) -> Result<Response, AppError> {
    let catalog = state.catalog();
    let Some(program) = catalog.program(&slug) else {
        return moved(&state, &slug, None).await;
    };
    // A signed-in visitor of an open program sees their own offer: "Continue" when enrolled, or
    // their price (early bird included).
    let ctx = match (&user, catalog.courses.iter().find(|c| c.slug == slug)) {
        (Some(u), Some(course)) if course.status == crate::domain::CourseStatus::Open => {
            let offer = crate::payments::offer_for(&state, u, course).await?;
            minijinja::value::merge_maps([program.page.clone(), minijinja::context! { offer }])
        }
        _ => program.page.clone(),
    };
    Ok(html(
        StatusCode::OK,
        page(&state, &catalog, &user, &slug, "catalog/course.html", &ctx)?,
    ))
}

/// A program's glossary: public, like its syllabus.
pub async fn glossary(
    State(state): State<Ctx>,
    MaybeUser(user): MaybeUser,
    Path(slug): Path<String>,
) -> Result<Response, AppError> {
    let catalog = state.catalog();
    let Some(program) = catalog.program(&slug) else {
        return moved_page(&state, &slug, "/glossary").await;
    };
    let ctx = program.glossary.as_ref().ok_or(AppError::NotFound)?;
    Ok(html(
        StatusCode::OK,
        page(&state, &catalog, &user, &slug, "catalog/glossary.html", ctx)?,
    ))
}

/// The list of a program's worksheets: public (the titles, like the syllabus); each sheet says
/// whether it is for enrolled students.
pub async fn worksheets(
    State(state): State<Ctx>,
    MaybeUser(user): MaybeUser,
    Path(slug): Path<String>,
) -> Result<Response, AppError> {
    let catalog = state.catalog();
    let Some(program) = catalog.program(&slug) else {
        return moved_page(&state, &slug, "/worksheets").await;
    };
    if program.pages.worksheets.is_empty() {
        return Err(AppError::NotFound);
    }
    Ok(html(
        StatusCode::OK,
        page(
            &state,
            &catalog,
            &user,
            &slug,
            "catalog/worksheets.html",
            &program.worksheet_list,
        )?,
    ))
}

/// Who is asking for a worksheet, and whether they may read it.
enum Reader {
    Allowed(Option<User>),
    /// Not signed in, and the sheet is not public: log in first.
    Anonymous,
    /// Signed in, but not a student of the program (nor an instructor).
    Outsider(User),
}

/// A worksheet is open to everyone when it is public; otherwise to the program's students (an
/// active seat: a refund or a revoked seat ends it) and instructors. Drip does not apply: a
/// sheet is a tool for the whole program.
async fn reader(state: &Ctx, visitor: &Visitor, program: &Program, sheet: &WorksheetPage) -> Result<Reader, AppError> {
    let reader = crate::learning::reader(state, visitor, program.course_id).await?;
    Ok(match reader {
        r if sheet.page.public => Reader::Allowed(r.map(|r| r.user)),
        None => Reader::Anonymous,
        Some(r) if r.user.is_instructor() || r.seat.is_some() => Reader::Allowed(Some(r.user)),
        Some(r) => Reader::Outsider(r.user),
    })
}

fn to_login(slug: &str, path: &str) -> Response {
    AuthRejection::Login(format!("/courses/{slug}{path}")).into_response()
}

/// A worksheet, laid out to print (see `static/css/print.css`).
pub async fn worksheet(
    State(state): State<Ctx>,
    visitor: Visitor,
    Path((slug, name)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let catalog = state.catalog();
    let Some(program) = catalog.program(&slug) else {
        return moved_page(&state, &slug, &format!("/worksheets/{name}")).await;
    };
    let sheet = program.worksheet(&name).ok_or(AppError::NotFound)?;
    match reader(&state, &visitor, program, sheet).await? {
        Reader::Allowed(user) => {
            let key = format!("{slug}/{name}");
            Ok(html(
                StatusCode::OK,
                page(&state, &catalog, &user, &key, "catalog/worksheet.html", &sheet.ctx)?,
            ))
        }
        Reader::Anonymous => Ok(to_login(&slug, &format!("/worksheets/{name}"))),
        Reader::Outsider(user) => {
            let who = minijinja::context! { user => minijinja::value::Serde(&user) };
            let body = state.render_parts(&catalog, "catalog/worksheet_locked.html", [sheet.ctx.clone(), who])?;
            Ok(html(StatusCode::FORBIDDEN, Bytes::from(body)))
        }
    }
}

/// A worksheet's spreadsheet version: whoever may read the sheet may download it (so a public
/// sheet's CSV is public too: it is the same blank sheet). Served from the program's folder like
/// lesson downloads.
pub async fn worksheet_csv(
    State(state): State<Ctx>,
    visitor: Visitor,
    Path((slug, name)): Path<(String, String)>,
    request: axum::http::HeaderMap,
) -> Result<Response, AppError> {
    let catalog = state.catalog();
    let program = catalog.program(&slug).ok_or(AppError::NotFound)?;
    let sheet = program.worksheet(&name).ok_or(AppError::NotFound)?;
    let csv = sheet.page.csv.as_deref().ok_or(AppError::NotFound)?;
    match reader(&state, &visitor, program, sheet).await? {
        Reader::Allowed(_) => crate::learning::send_program_file(&state, &request, program.course_id, csv).await,
        Reader::Anonymous => Ok(to_login(&slug, &format!("/worksheets/{name}/csv"))),
        Reader::Outsider(_) => Err(AppError::Forbidden),
    }
}

/// An old address (a program renamed in the studio) of a program's glossary or worksheets.
async fn moved_page(state: &Ctx, slug: &str, rest: &str) -> Result<Response, AppError> {
    if slug.len() > 64 || rest.len() > 100 {
        return Err(AppError::NotFound);
    }
    let new = crate::admin::course_redirect(&state.db, slug)
        .await?
        .ok_or(AppError::NotFound)?;
    state.catalog().program(&new).ok_or(AppError::NotFound)?;
    Ok(axum::response::Redirect::permanent(&format!("/courses/{new}{rest}")).into_response())
}

/// A program whose slug changed in the studio: its old URLs answer with a permanent redirect.
/// Only reached for a slug the catalogue does not know (a 404 otherwise).
pub async fn moved(state: &Ctx, slug: &str, lesson: Option<&str>) -> Result<Response, AppError> {
    if slug.len() > 64 || lesson.is_some_and(|l| l.len() > 64) {
        return Err(AppError::NotFound);
    }
    let new = crate::admin::course_redirect(&state.db, slug)
        .await?
        .ok_or(AppError::NotFound)?;
    let catalog = state.catalog();
    let program = catalog.program(&new).ok_or(AppError::NotFound)?;
    let to = match lesson {
        None => format!("/courses/{new}"),
        Some(l) if program.lesson(l).is_some() => format!("/courses/{new}/lessons/{l}"),
        Some(l) => match crate::admin::lesson_redirect(&state.db, program.course_id, l).await? {
            Some(now) => format!("/courses/{new}/lessons/{now}"),
            None => return Err(AppError::NotFound),
        },
    };
    Ok(axum::response::Redirect::permanent(&to).into_response())
}

pub async fn moved_lesson(state: &Ctx, course_id: i64, slug: &str, lesson: &str) -> Result<Response, AppError> {
    if lesson.len() > 64 {
        return Err(AppError::NotFound);
    }
    match crate::admin::lesson_redirect(&state.db, course_id, lesson).await? {
        Some(now) => Ok(axum::response::Redirect::permanent(&format!("/courses/{slug}/lessons/{now}")).into_response()),
        None => Err(AppError::NotFound),
    }
}
