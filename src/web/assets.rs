//! Static files, embedded in the release binary, served under content-hashed URLs with long caching.

use std::collections::HashMap;

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "static/"]
struct StaticFiles;

/// Maps each file to its hashed name (`css/site.css` → `css/site.1a2b3c4d5e.css`) and back.
pub struct Assets {
    hashed: HashMap<String, String>,
    original: HashMap<String, String>,
}

impl Assets {
    pub fn load() -> Assets {
        let mut hashed = HashMap::new();
        let mut original = HashMap::new();
        for path in StaticFiles::iter() {
            let Some(file) = StaticFiles::get(&path) else { continue };
            let hash: String = file
                .metadata
                .sha256_hash()
                .iter()
                .take(5)
                .map(|b| format!("{b:02x}"))
                .collect();
            let with_hash = match path.rsplit_once('.') {
                Some((stem, ext)) => format!("{stem}.{hash}.{ext}"),
                None => format!("{path}.{hash}"),
            };
            hashed.insert(path.to_string(), with_hash.clone());
            original.insert(with_hash, path.to_string());
        }
        Assets { hashed, original }
    }

    /// The URL a template links to.
    pub fn url(&self, path: &str) -> String {
        match self.hashed.get(path) {
            Some(h) => format!("/static/{h}"),
            None => {
                tracing::warn!(path, "template links to a static file that does not exist");
                format!("/static/{path}")
            }
        }
    }

    pub fn serve(&self, Path(path): Path<String>) -> Response {
        let (name, immutable) = match self.original.get(&path) {
            Some(name) => (name.as_str(), true),
            None => (path.as_str(), false),
        };
        let Some(file) = StaticFiles::get(name) else {
            return StatusCode::NOT_FOUND.into_response();
        };
        let cache = if immutable && !cfg!(debug_assertions) {
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        };
        let mime = HeaderValue::from_str(file.metadata.mimetype())
            .unwrap_or(HeaderValue::from_static("application/octet-stream"));
        (
            [
                (header::CONTENT_TYPE, mime),
                (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
            ],
            file.data,
        )
            .into_response()
    }
}
