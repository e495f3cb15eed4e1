//! The instructor's studio under `/admin`. Every route here is for instructors only: the router
//! guards the whole tree, and each handler takes the `Instructor` extractor as well.

mod announcements;
pub mod csv;
mod orders;
mod preenrollments;
mod programs;
mod store;
mod students;

use axum::Router;
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{MethodRouter, get, post};

use crate::web::AppState;
use crate::web::auth::Instructor;

/// Every studio route, in one table: the router is built from it, and the access test walks it.
/// The flag says whether the route answers GET (pages) or only POST (actions).
fn table() -> Vec<(&'static str, bool, MethodRouter<AppState>)> {
    vec![
        ("/admin", true, get(programs::overview)),
        ("/admin/courses/{slug}/launch", false, post(programs::launch)),
        ("/admin/courses/{slug}/schedule", false, post(programs::schedule)),
        ("/admin/courses/{slug}/unschedule", false, post(programs::unschedule)),
        ("/admin/courses/{slug}/status", false, post(programs::set_status)),
        ("/admin/courses/{slug}/students", true, get(students::students)),
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
            s if s.starts_with('{') => "1",
            s => s,
        })
        .collect::<Vec<_>>()
        .join("/")
}

pub fn routes(state: AppState) -> Router<AppState> {
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
