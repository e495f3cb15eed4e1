//! Who is asking, as far as the HTTP edge knows: the session (resolved by its layer, not looked
//! up), where a refused visitor is sent, and which `next` targets may be followed. Who the session
//! belongs to is the accounts feature's business (`accounts::session`).

use axum::extract::{FromRequestParts, OriginalUri};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use tower_sessions::Session;

use super::AppError;
use crate::context::Ctx;

/// The visitor's session, not looked up: pages that read who is asking together with what they
/// need (the lesson page: the user, their seat and their progress in one query) start here.
pub struct Visitor(pub Option<Session>);

impl FromRequestParts<Ctx> for Visitor {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _state: &Ctx) -> Result<Self, Self::Rejection> {
        Ok(Visitor(parts.extensions.get::<Session>().cloned()))
    }
}

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

pub fn here(parts: &Parts) -> String {
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
