//! The instructor's studio under `/admin`. Every route here is for instructors only: the router
//! guards the whole tree, and each handler takes the `Instructor` extractor as well.

mod store;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};
use minijinja::context;
use minijinja::value::Serde;

use crate::web::auth::Instructor;
use crate::web::{AppError, AppState};

/// Every studio route, in one table: the router is built from it, and the access test walks it.
fn table() -> Vec<(&'static str, MethodRouter<AppState>)> {
    vec![("/admin", get(overview))]
}

/// The paths of every studio route (path parameters filled with `1`), for the access tests.
pub fn paths() -> Vec<String> {
    table().into_iter().map(|(p, _)| fill_params(p)).collect()
}

fn fill_params(path: &str) -> String {
    path.split('/')
        .map(|seg| if seg.starts_with('{') { "1" } else { seg })
        .collect::<Vec<_>>()
        .join("/")
}

pub fn routes(state: AppState) -> Router<AppState> {
    let mut router = Router::new();
    for (path, method_router) in table() {
        router = router.route(path, method_router);
    }
    router.route_layer(middleware::from_fn_with_state(state, guard))
}

/// The guard around the whole studio: whatever a handler forgets, this does not.
async fn guard(_: Instructor, req: Request, next: Next) -> Response {
    next.run(req).await
}

async fn overview(State(state): State<AppState>, Instructor(user): Instructor) -> Result<Response, AppError> {
    let (programs, people, mail) = tokio::try_join!(
        store::programs(&state.db),
        store::people(&state.db),
        store::mail_counts(&state.db)
    )?;
    Ok(state
        .render(
            "admin/overview.html",
            context! { user => Serde(&user), programs => Serde(&programs), people => Serde(&people), mail => Serde(&mail) },
        )?
        .into_response())
}
