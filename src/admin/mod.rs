//! The instructor's studio under `/admin`. Every route here is for instructors only: the router
//! guards the whole tree, and each handler takes the `Instructor` extractor as well.

mod announcements;
mod audit_page;
use crate::content::studio_store as content_store;
pub mod csv;
mod dashboard;
mod editor;
mod health;
mod import_students;
pub mod lessons;
mod orders;
mod preenrollments;
mod preview;
mod programs;
mod publish;
mod store;
mod students;

pub use content_store::{course_redirect, lesson_redirect};
pub use publish::run_due as publish_due_modules;

use axum::Router;
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{MethodRouter, get, post};

use crate::accounts::Instructor;
use crate::context::Ctx;

/// Every studio route, in one table: the router is built from it, and the access test walks it.
/// The flag says whether the route answers GET (pages) or only POST (actions).
fn table() -> Vec<(&'static str, bool, MethodRouter<Ctx>)> {
    vec![
        ("/admin", true, get(programs::overview)),
        ("/admin/audit", true, get(audit_page::list)),
        (
            "/admin/courses/new",
            true,
            get(editor::new_program).post(editor::create_program),
        ),
        (
            "/admin/courses/{slug}/edit",
            true,
            get(editor::edit_program).post(editor::save_program),
        ),
        ("/admin/courses/{slug}/content", true, get(editor::content_page)),
        ("/admin/courses/{slug}/modules", false, post(editor::add_module)),
        (
            "/admin/courses/{slug}/modules/{id}",
            true,
            get(editor::edit_module).post(editor::save_module),
        ),
        (
            "/admin/courses/{slug}/modules/{id}/move",
            false,
            post(editor::move_module),
        ),
        (
            "/admin/courses/{slug}/modules/{id}/delete",
            false,
            post(editor::delete_module),
        ),
        (
            "/admin/courses/{slug}/modules/{id}/archive",
            false,
            post(editor::archive_module),
        ),
        (
            "/admin/courses/{slug}/modules/{id}/publish",
            false,
            post(publish::publish),
        ),
        ("/admin/courses/{slug}/lessons", false, post(editor::add_lesson)),
        (
            "/admin/courses/{slug}/lessons/{id}",
            true,
            get(lessons::edit).post(lessons::save),
        ),
        (
            "/admin/courses/{slug}/lessons/{id}/move",
            false,
            post(editor::move_lesson),
        ),
        (
            "/admin/courses/{slug}/lessons/{id}/delete",
            false,
            post(editor::delete_lesson),
        ),
        (
            "/admin/courses/{slug}/lessons/{id}/archive",
            false,
            post(editor::archive_lesson),
        ),
        (
            "/admin/courses/{slug}/lessons/{id}/downloads",
            false,
            post(lessons::upload).layer(axum::extract::DefaultBodyLimit::max(
                crate::web::UPLOAD_LIMIT + 64 * 1024,
            )),
        ),
        (
            "/admin/courses/{slug}/lessons/{id}/downloads/remove",
            false,
            post(lessons::remove_download),
        ),
        ("/admin/courses/{slug}/preview", true, get(preview::module)),
        ("/admin/courses/{slug}/preview/{lesson}", true, get(preview::lesson)),
        ("/admin/courses/{slug}/launch", false, post(programs::launch)),
        ("/admin/courses/{slug}/schedule", false, post(programs::schedule)),
        ("/admin/courses/{slug}/unschedule", false, post(programs::unschedule)),
        ("/admin/courses/{slug}/status", false, post(programs::set_status)),
        ("/admin/courses/{slug}/students", true, get(students::students)),
        ("/admin/courses/{slug}/checkins", true, get(crate::checkins::studio)),
        ("/admin/courses/{slug}/health", true, get(health::page)),
        (
            "/admin/courses/{slug}/import",
            true,
            get(import_students::page)
                .post(import_students::upload)
                .layer(axum::extract::DefaultBodyLimit::max(
                    import_students::IMPORT_LIMIT + 64 * 1024,
                )),
        ),
        (
            "/admin/courses/{slug}/import/confirm",
            false,
            post(import_students::confirm),
        ),
        ("/admin/enrollments", false, post(programs::grant)),
        ("/admin/orders", true, get(orders::list)),
        ("/admin/orders.csv", true, get(orders::csv)),
        ("/admin/orders/{id}/refund", false, post(orders::refund)),
        ("/admin/preenrollments", true, get(preenrollments::list)),
        ("/admin/preenrollments.csv", true, get(preenrollments::csv)),
        (
            "/admin/announcements",
            true,
            get(announcements::page).post(announcements::submit),
        ),
    ]
}

/// Every studio route (path parameters filled with `1`) and whether it has a page (GET), for the
/// access tests.
pub fn paths() -> Vec<(String, bool)> {
    table().into_iter().map(|(p, get, _)| (fill_params(p), get)).collect()
}

fn fill_params(path: &str) -> String {
    // A real program for `{slug}`, so the instructor's GET finds a page.
    path.split('/')
        .map(|seg| match seg {
            "{slug}" => "gut-foundations",
            "{lesson}" => "meet-your-microbiome",
            s if s.starts_with('{') => "1",
            s => s,
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// A list filter's program and its second choice (an order status, a pre-enrollment state).
/// Unknown values are refused rather than silently ignored: a wrong filter would show the wrong
/// rows.
fn check_filter(
    state: &Ctx,
    course: &str,
    value: &str,
    allowed: &[&str],
    what: &str,
) -> Result<(), crate::web::AppError> {
    let course_ok = course.is_empty() || state.catalog().courses.iter().any(|c| c.slug == course);
    let value_ok = value.is_empty() || allowed.contains(&value);
    if course_ok && value_ok {
        Ok(())
    } else {
        Err(crate::web::AppError::BadRequest(format!(
            "Unknown program or {what} in the filter."
        )))
    }
}

pub fn routes(state: Ctx) -> Router<Ctx> {
    let mut router = Router::new();
    for (path, _, method_router) in table() {
        router = router.route(path, method_router);
    }
    router.route_layer(middleware::from_fn_with_state(state, guard))
}

/// The guard around the whole studio: whatever a handler forgets, this does not.
async fn guard(_: Instructor, req: Request, next: Next) -> Response {
    next.run(req).await
}
