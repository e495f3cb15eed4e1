//! Who is asking: the session (in the database, via tower-sessions) and the extractors handlers use.
//! `MaybeUser` for pages anyone may see, `SignedIn` for pages that need an account, `Instructor`
//! for the studio. Every check happens here, on the server.

use axum::extract::{FromRequestParts, OriginalUri};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use tower_sessions::Session;

use super::{AppError, AppState};
use crate::accounts::store::{self, User};
use crate::learning::store::{SeatAndDone, user_and_seat};

const AUTH_KEY: &str = "auth";

#[derive(Serialize, Deserialize, Clone, Copy, Debug)]
struct AuthSession {
    user_id: i64,
    /// Must equal the user's `session_epoch`: a password change moves it, ending other sessions.
    epoch: i64,
    /// Unix time of the last renewal of the session's 14-day expiry.
    renewed: i64,
}

/// Starts a signed-in session: a new session id (no fixation), then the user.
pub async fn sign_in(session: &Session, state: &AppState, user_id: i64, epoch: i64) -> Result<(), AppError> {
    session.cycle_id().await.map_err(session_error)?;
    let auth = AuthSession {
        user_id,
        epoch,
        renewed: state.clock.now().unix_timestamp(),
    };
    session.insert(AUTH_KEY, auth).await.map_err(session_error)?;
    Ok(())
}

/// Ends the session everywhere: the row is deleted, the cookie cleared.
pub async fn sign_out(session: &Session) -> Result<(), AppError> {
    session.flush().await.map_err(session_error)
}

fn session_error(e: tower_sessions::session::Error) -> AppError {
    AppError::Internal(anyhow::anyhow!("session: {e}"))
}

/// Re-reads who is signed in, at most once per request.
#[derive(Clone)]
struct Resolved(Option<User>);

async fn resolve(parts: &mut Parts, state: &AppState) -> Result<Option<User>, AppError> {
    if let Some(Resolved(user)) = parts.extensions.get::<Resolved>() {
        return Ok(user.clone());
    }
    let Some(session) = parts.extensions.get::<Session>().cloned() else {
        return Ok(None);
    };
    let user = match claim(&session).await? {
        None => None,
        Some(auth) => {
            let found = store::user_by_id(&state.db, auth.user_id).await?;
            admit(&session, state, auth, found).await?
        }
    };
    parts.extensions.insert(Resolved(user.clone()));
    Ok(user)
}

/// Whom the session says is signed in (no database query: loads are cached).
async fn claim(session: &Session) -> Result<Option<AuthSession>, AppError> {
    session.get::<AuthSession>(AUTH_KEY).await.map_err(session_error)
}

/// The account a session's claim names, if the claim still holds. Renews the session's expiry once
/// a day; ends the session when the account is gone or its password changed since the session began.
async fn admit(
    session: &Session,
    state: &AppState,
    auth: AuthSession,
    found: Option<User>,
) -> Result<Option<User>, AppError> {
    match found {
        Some(user) if user.session_epoch == auth.epoch => {
            // Rolling expiry: saving the session renews it, so do it once a day, not every request.
            let now = state.clock.now().unix_timestamp();
            if now - auth.renewed > 24 * 3600 {
                let renewed = AuthSession { renewed: now, ..auth };
                session.insert(AUTH_KEY, renewed).await.map_err(session_error)?;
            }
            Ok(Some(user))
        }
        _ => {
            session.flush().await.map_err(session_error)?;
            Ok(None)
        }
    }
}

/// Who is asking, not looked up yet: for the lesson page, which reads the user together with
/// their seat in the program in one query ([`Visitor::with_seat`]).
pub struct Visitor(Option<Session>);

impl FromRequestParts<AppState> for Visitor {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(Visitor(parts.extensions.get::<Session>().cloned()))
    }
}

impl Visitor {
    /// The signed-in user, if any, and their active seat in `course_id` with the lessons they
    /// completed there. The same checks as every other page: a stale session is ended.
    pub async fn with_seat(
        &self,
        state: &AppState,
        course_id: i64,
    ) -> Result<(Option<User>, Option<SeatAndDone>), AppError> {
        let Some(session) = &self.0 else {
            return Ok((None, None));
        };
        let Some(auth) = claim(session).await? else {
            return Ok((None, None));
        };
        let (found, seat) = match user_and_seat(&state.db, auth.user_id, course_id).await? {
            Some((user, seat)) => (Some(user), seat),
            None => (None, None),
        };
        let user = admit(session, state, auth, found).await?;
        Ok(match user {
            Some(user) => (Some(user), seat),
            None => (None, None),
        })
    }
}

/// The signed-in user, if any.
pub struct MaybeUser(pub Option<User>);

impl FromRequestParts<AppState> for MaybeUser {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(MaybeUser(resolve(parts, state).await?))
    }
}

/// A page that needs an account: anonymous visitors are sent to log in, and come back after.
pub struct SignedIn(pub User);

pub enum AuthRejection {
    Login(String),
    Forbidden,
    Error(AppError),
}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        match self {
            AuthRejection::Login(next) => {
                let next = url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>();
                Redirect::to(&format!("/login?next={next}")).into_response()
            }
            AuthRejection::Forbidden => AppError::Forbidden.into_response(),
            AuthRejection::Error(e) => e.into_response(),
        }
    }
}

fn here(parts: &Parts) -> String {
    let uri = parts
        .extensions
        .get::<OriginalUri>()
        .map(|u| &u.0)
        .unwrap_or(&parts.uri);
    // Only a GET can be resumed by a redirect; after a form POST, go back to the form's page.
    if parts.method == axum::http::Method::GET {
        uri.path_and_query()
            .map(|pq| pq.as_str().to_owned())
            .unwrap_or_else(|| "/".to_owned())
    } else {
        uri.path().to_owned()
    }
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match resolve(parts, state).await.map_err(AuthRejection::Error)? {
            Some(user) => Ok(SignedIn(user)),
            None => Err(AuthRejection::Login(here(parts))),
        }
    }
}

/// The studio: instructors only. Anonymous visitors are sent to log in; students get 403.
pub struct Instructor(pub User);

impl FromRequestParts<AppState> for Instructor {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match resolve(parts, state).await.map_err(AuthRejection::Error)? {
            Some(user) if user.is_instructor() => Ok(Instructor(user)),
            Some(_) => Err(AuthRejection::Forbidden),
            None => Err(AuthRejection::Login(here(parts))),
        }
    }
}

/// A `next` target is followed only when it is a path on this site (no open redirect).
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.starts_with("/\\")
                && !n.chars().any(|c| c.is_control())
                && !n.starts_with("/logout") =>
        {
            n.to_owned()
        }
        _ => "/account".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn control_characters_never_reach_a_location_header() {
        assert_eq!(safe_next(Some("/a\u{1}b")), "/account");
        assert_eq!(safe_next(Some("/a\tb")), "/account");
    }

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(safe_next(Some("/courses/x?y=1")), "/courses/x?y=1");
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/\\evil.example",
            "javascript:x",
            "",
            "/a\r\nb",
            "/logout",
        ] {
            assert_eq!(safe_next(Some(bad)), "/account", "{bad}");
        }
        assert_eq!(safe_next(None), "/account");
    }
}
