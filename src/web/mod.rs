//! The HTTP edge: extractors (who is asking), the layers every request passes through (security
//! headers, CSRF, rate limits, the client address, error pages), rendering, and `AppError` -> page.

mod assets;
pub mod auth;
pub mod client;
mod error;
pub mod files;
pub mod form;
pub(crate) mod health;
pub(crate) mod layers;
pub mod rate_limit;
mod render;
pub mod sessions;
pub mod shell;

pub use assets::Assets;
pub use error::AppError;
pub use layers::UPLOAD_LIMIT;
pub use render::{Templates, money};
