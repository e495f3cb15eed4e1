//! One error type for handlers. It becomes a status and a styled page; internal details go to the
//! log (inside the request's span, so with its request id), never to the user.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("not found")]
    NotFound,
    #[error("forbidden")]
    Forbidden,
    /// A request we will not act on, with the message to show.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// Too much to do right now (a burst of log-ins): 503 with `Retry-After`, and the message.
    #[error("busy: {0}")]
    Busy(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<crate::accounts::password::HashError> for AppError {
    fn from(e: crate::accounts::password::HashError) -> Self {
        crate::error::Error::from(e).into()
    }
}

/// The domain's errors, as pages.
impl From<crate::error::Error> for AppError {
    fn from(e: crate::error::Error) -> Self {
        match e {
            crate::error::Error::NotFound => AppError::NotFound,
            crate::error::Error::Refused(message) => AppError::BadRequest(message),
            crate::error::Error::Busy(message) => AppError::Busy(message),
            crate::error::Error::Database(e) => AppError::Internal(e.into()),
            crate::error::Error::Internal(e) => AppError::Internal(e),
        }
    }
}

impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        AppError::Internal(e.into())
    }
}

impl From<minijinja::Error> for AppError {
    fn from(e: minijinja::Error) -> Self {
        AppError::Internal(anyhow::anyhow!("template: {e:#}"))
    }
}

/// Carried on an error response for the error-page layer to render.
#[derive(Clone, Debug)]
pub struct ErrorPage {
    pub title: &'static str,
    pub message: String,
}

impl ErrorPage {
    /// The page for a status nobody described more precisely.
    pub fn for_status(status: StatusCode) -> ErrorPage {
        let (title, message) = match status.as_u16() {
            400 => ("Bad request", "We could not understand that request."),
            403 => ("Not allowed", "You do not have access to this page."),
            404 => (
                "Page not found",
                "We could not find that page. It may have moved, or the link may be mistyped.",
            ),
            405 => ("Not allowed", "That action is not available here."),
            408 => ("Too slow", "The request took too long. Please try again."),
            413 => ("Too large", "What you sent is larger than we accept."),
            415 => ("Unsupported", "That kind of content is not accepted here."),
            422 => ("Check your input", "Some of what you sent could not be used."),
            429 => (
                "Slow down",
                "Too many requests in a short time. Please wait a moment and try again.",
            ),
            503 => (
                "Unavailable",
                "The site is briefly unavailable. Please try again in a minute.",
            ),
            s if s >= 500 => (
                "Something went wrong",
                "Something went wrong on our side. It has been logged; please try again.",
            ),
            _ => ("Something is not right", "That request could not be completed."),
        };
        ErrorPage {
            title,
            message: message.to_owned(),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, page) = match self {
            AppError::NotFound => (StatusCode::NOT_FOUND, ErrorPage::for_status(StatusCode::NOT_FOUND)),
            AppError::Forbidden => (StatusCode::FORBIDDEN, ErrorPage::for_status(StatusCode::FORBIDDEN)),
            AppError::BadRequest(message) => (
                StatusCode::BAD_REQUEST,
                ErrorPage {
                    message,
                    ..ErrorPage::for_status(StatusCode::BAD_REQUEST)
                },
            ),
            AppError::Busy(message) => {
                let page = ErrorPage {
                    title: "Busy right now",
                    message,
                };
                let mut res = (
                    StatusCode::SERVICE_UNAVAILABLE,
                    [
                        (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
                        (header::RETRY_AFTER, "30"),
                    ],
                    page.message.clone(),
                )
                    .into_response();
                res.extensions_mut().insert(page);
                return res;
            }
            AppError::Internal(e) => {
                tracing::error!(error = format!("{e:#}"), "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    ErrorPage::for_status(StatusCode::INTERNAL_SERVER_ERROR),
                )
            }
        };
        let mut res = (
            status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            page.message.clone(),
        )
            .into_response();
        res.extensions_mut().insert(page);
        res
    }
}
