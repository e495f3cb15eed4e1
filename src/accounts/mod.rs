//! Accounts: sign up, log in and out, email confirmation, password reset, roles, and the account
//! page (name, email, password, "download my data", "delete my account").

pub mod flows;
mod handlers;
pub mod password;
pub mod session;
pub mod store;
pub mod tokens;

use axum::Router;
use axum::handler::Handler;
use axum::routing::{get, post};

use crate::context::Ctx;

pub use session::{ClientInfo, Instructor, MaybeUser, SignedIn};

pub fn routes(auth_per_minute: u32) -> Router<Ctx> {
    let limit = || crate::web::rate_limit::per_ip(auth_per_minute);
    Router::new()
        .route(
            "/signup",
            get(handlers::signup_page).post(handlers::signup.layer(limit())),
        )
        .route("/login", get(handlers::login_page).post(handlers::login.layer(limit())))
        .route("/logout", post(handlers::logout))
        .route("/verify-email", get(handlers::verify_email))
        .route(
            "/verify-email/resend",
            post(handlers::resend_verification.layer(limit())),
        )
        .route(
            "/forgot-password",
            get(handlers::forgot_page).post(handlers::forgot.layer(limit())),
        )
        .route(
            "/reset-password",
            get(handlers::reset_page).post(handlers::reset.layer(limit())),
        )
        .route("/account", get(handlers::account))
        .route("/account/name", post(handlers::change_name))
        // Each of these sends mail or checks the password: limited per client address too.
        .route("/account/email", post(handlers::change_email.layer(limit())))
        .route("/account/password", post(handlers::change_password.layer(limit())))
        .route("/account/data", get(handlers::download_data))
        .route("/account/delete", post(handlers::delete_account.layer(limit())))
        .route("/account/sessions/end-others", post(handlers::end_other_sessions))
}
