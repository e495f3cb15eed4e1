//! The public face: the home page, the programs and their syllabus, their glossaries and
//! worksheets. (A lesson's page belongs to `learning`.)

mod handlers;
pub mod snapshot;
pub mod store;
pub mod view;

use axum::Router;
use axum::routing::get;

use crate::context::Ctx;
pub use handlers::{moved, moved_lesson, page};
pub use snapshot::Catalog;
pub use store::Site;

pub fn routes() -> Router<Ctx> {
    Router::new()
        .route("/", get(handlers::home))
        .route("/courses", get(handlers::courses))
        .route("/courses/{slug}", get(handlers::course))
        .route("/courses/{slug}/glossary", get(handlers::glossary))
        .route("/courses/{slug}/worksheets", get(handlers::worksheets))
        .route("/courses/{slug}/worksheets/{name}", get(handlers::worksheet))
        .route("/courses/{slug}/worksheets/{name}/csv", get(handlers::worksheet_csv))
}
