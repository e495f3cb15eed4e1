//! Pre-enrollment: before a program opens, visitors put their name and email on its list (one or
//! several programs at once, no account needed), confirm by email, and are told when it launches.

pub mod flows;
mod handlers;
pub mod store;

use axum::Router;
use axum::handler::Handler;
use axum::routing::get;

use crate::context::Ctx;

pub fn routes(per_minute: u32) -> Router<Ctx> {
    Router::new()
        .route(
            "/preenroll",
            get(handlers::form_page).post(handlers::submit.layer(crate::web::rate_limit::per_ip(per_minute))),
        )
        .route("/preenroll/confirm", get(handlers::confirm))
}
