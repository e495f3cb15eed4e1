//! What the domain can say went wrong, apart from HTTP: each feature's functions return this, and
//! the web edge (`web::AppError`) turns it into a page and a status.

/// A failure of domain code (flows, jobs, mail). Internal details stay in the log.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// What was asked for does not exist (or is not the caller's to see).
    #[error("not found")]
    NotFound,
    /// A request that will not be acted on, with the reason to show the person.
    #[error("refused: {0}")]
    Refused(String),
    /// Too much to do right now (a burst of log-ins), with the message to show.
    #[error("busy: {0}")]
    Busy(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<minijinja::Error> for Error {
    fn from(e: minijinja::Error) -> Self {
        Error::Internal(anyhow::anyhow!("template: {e:#}"))
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Internal(e.into())
    }
}

impl From<crate::accounts::password::HashError> for Error {
    fn from(e: crate::accounts::password::HashError) -> Self {
        match e {
            crate::accounts::password::HashError::Busy => Error::Busy(
                "Many people are signing in right now, so we could not check your password in time. \
                 Please try again in a minute."
                    .to_owned(),
            ),
            other => Error::Internal(other.into()),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
