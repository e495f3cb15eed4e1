//! The student's side: the dashboard of their programs (enrolled, and pre-enrolled ones waiting to
//! open).

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use minijinja::context;
use minijinja::value::Serde;
use serde::Serialize;

use crate::accounts::store::User;
use crate::web::auth::SignedIn;
use crate::web::{AppError, AppState};

pub fn routes() -> Router<AppState> {
    Router::new().route("/dashboard", get(dashboard))
}

/// A person's programs: what they may study now, and what they are on the list for.
#[derive(Serialize, Debug)]
pub struct Programs {
    pub enrolled: Vec<crate::enrollment::store::Enrolled>,
    /// Confirmed pre-enrollments for programs they are not enrolled in yet (only once the account's
    /// email is confirmed: the list entry belongs to whoever owns the address).
    pub preenrolled: Vec<crate::preenroll::store::OnList>,
    /// True when the account's email is unconfirmed, so pre-enrollments cannot be shown yet.
    pub preenrolled_hidden: bool,
}

pub async fn programs_of(state: &AppState, user: &User) -> Result<Programs, AppError> {
    let enrolled = crate::enrollment::store::active_for_user(&state.db, user.id).await?;
    let verified = user.email_verified_at.is_some();
    let mut preenrolled = if verified {
        crate::preenroll::store::confirmed_for_email(&state.db, &user.email).await?
    } else {
        Vec::new()
    };
    preenrolled.retain(|p| !enrolled.iter().any(|e| e.slug == p.slug));
    Ok(Programs {
        enrolled,
        preenrolled,
        preenrolled_hidden: !verified,
    })
}

async fn dashboard(State(state): State<AppState>, SignedIn(user): SignedIn) -> Result<Response, AppError> {
    let programs = programs_of(&state, &user).await?;
    let ctx = context! { user => Serde(&user), programs => Serde(&programs) };
    Ok(state.render("learning/dashboard.html", ctx)?.into_response())
}
