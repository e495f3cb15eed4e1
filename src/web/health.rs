//! `/healthz`: 200 with JSON when the database answers, 503 when it does not.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::context::Ctx;

pub async fn healthz(State(state): State<Ctx>) -> Response {
    let answer = tokio::time::timeout(Duration::from_secs(2), state.db.ping()).await;
    let backend = state.db.backend_name();
    match answer {
        Ok(Ok(())) => Json(json!({"status": "ok", "database": backend})).into_response(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "health check: database error");
            unavailable(backend)
        }
        Err(_) => {
            tracing::warn!("health check: database did not answer within 2 s");
            unavailable(backend)
        }
    }
}

fn unavailable(backend: &str) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({"status": "unavailable", "database": backend, "error": "database not answering"})),
    )
        .into_response()
}
