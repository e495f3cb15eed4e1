//! Unsubscribing from marketing email (launches, announcements): a link in every such email that
//! works without logging in (GET shows a button, POST unsubscribes), and the RFC 8058 one-click
//! POST that mail clients send to the `List-Unsubscribe` address.
//!
//! An unsubscribed address keeps its place on the pre-enrollment list; confirming a new
//! pre-enrollment subscribes it again.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use minijinja::context;
use serde::Deserialize;
use time::{Duration, OffsetDateTime};

use super::store;
use crate::accounts::MaybeUser;
use crate::accounts::tokens;
use crate::context::Ctx;
use crate::db::Tx;
use crate::web::AppError;

/// An unsubscribe link keeps working this long after its email was sent.
pub const LINK_LIFETIME: Duration = Duration::days(365);

pub fn routes() -> Router<Ctx> {
    Router::new().route("/unsubscribe", get(confirm_page).post(unsubscribe))
}

/// A fresh single-use link for one marketing email to `email`.
pub async fn new_link(
    tx: &mut Tx,
    state: &Ctx,
    email: &str,
    now: OffsetDateTime,
) -> Result<String, crate::error::Error> {
    let (token, hash) = tokens::new_token();
    store::insert_unsubscribe_token(tx, email, &hash, now + LINK_LIFETIME, now).await?;
    Ok(format!("{}/unsubscribe?token={token}", state.config.base_url))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct TokenQuery {
    token: String,
}

enum Link {
    /// Valid and unused.
    Ready(store::UnsubscribeToken),
    /// Used before, and the address is still unsubscribed: nothing to do.
    AlreadyDone,
    /// Unknown, expired, or used before the address subscribed again.
    Invalid,
}

async fn check(state: &Ctx, token: &str) -> Result<Link, AppError> {
    if token.is_empty() || token.len() > 100 {
        return Ok(Link::Invalid);
    }
    let Some(row) = store::find_unsubscribe_token(&state.db, &tokens::hash(token)).await? else {
        return Ok(Link::Invalid);
    };
    if row.expires_at <= state.clock.now() {
        return Ok(Link::Invalid);
    }
    if row.used_at.is_some() {
        let still = store::unsubscribed_at(&state.db, &row.email).await?.is_some();
        return Ok(if still { Link::AlreadyDone } else { Link::Invalid });
    }
    Ok(Link::Ready(row))
}

fn page(state: &Ctx, status: StatusCode, ctx: minijinja::Value) -> Result<Response, AppError> {
    Ok((status, state.render("mail/unsubscribe.html", ctx)?).into_response())
}

async fn confirm_page(
    State(state): State<Ctx>,
    MaybeUser(user): MaybeUser,
    Query(q): Query<TokenQuery>,
) -> Result<Response, AppError> {
    let user = minijinja::Value::from(minijinja::value::Serde(&user));
    match check(&state, &q.token).await? {
        Link::Ready(row) => page(
            &state,
            StatusCode::OK,
            context! { user, step => "confirm", token => q.token, email => row.email },
        ),
        Link::AlreadyDone => page(&state, StatusCode::OK, context! { user, step => "done" }),
        Link::Invalid => page(&state, StatusCode::BAD_REQUEST, context! { user, step => "invalid" }),
    }
}

/// The token comes in the URL (one-click: the mail client posts `List-Unsubscribe=One-Click` to
/// the header's URL) or in the form body (our own button).
async fn unsubscribe(
    State(state): State<Ctx>,
    MaybeUser(user): MaybeUser,
    Query(q): Query<TokenQuery>,
    body: Bytes,
) -> Result<Response, AppError> {
    let token = if q.token.is_empty() {
        crate::web::form::lenient::<TokenQuery>(&body).token
    } else {
        q.token
    };
    let user = minijinja::Value::from(minijinja::value::Serde(&user));
    match check(&state, &token).await? {
        Link::Ready(row) => {
            let now = state.clock.now();
            let mut tx = state.db.begin().await?;
            store::use_unsubscribe_token(&mut tx, row.id, now).await?;
            store::unsubscribe(&mut tx, &row.email, now).await?;
            tx.commit().await?;
            tracing::info!("an address unsubscribed from marketing email");
            page(&state, StatusCode::OK, context! { user, step => "done" })
        }
        Link::AlreadyDone => page(&state, StatusCode::OK, context! { user, step => "done" }),
        Link::Invalid => page(&state, StatusCode::BAD_REQUEST, context! { user, step => "invalid" }),
    }
}
