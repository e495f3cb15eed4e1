//! `/healthz`: 200 with JSON when the database answers, 503 when it does not (cheap: for liveness).
//! `/readyz`: for load balancers: the database answers, its migrations are current, and the
//! background workers are running; 200 `{"status": "ready"}`, or 503 with `problems`, what is
//! wrong, one sentence each.

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

/// Whether this instance should get traffic: the database answers, every migration this build
/// has is applied, and the mail worker and the scheduler have shown they are alive lately.
pub async fn readyz(State(state): State<Ctx>) -> Response {
    let mut problems: Vec<String> = Vec::new();
    match tokio::time::timeout(Duration::from_secs(2), state.db.ping()).await {
        Ok(Ok(())) => match state.db.pending_migrations().await {
            Ok(pending) if pending.is_empty() => {}
            Ok(pending) => problems.push(format!(
                "database: migrations not applied: {}",
                pending.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")
            )),
            Err(e) => problems.push(format!("database: cannot read its migrations: {e}")),
        },
        Ok(Err(e)) => problems.push(format!("database: not answering: {e}")),
        Err(_) => problems.push("database: did not answer within 2 s".to_owned()),
    }
    match state.heartbeats.mail_age() {
        Some(age) if age <= crate::telemetry::MAIL_STALE => {}
        Some(age) => problems.push(format!("mail worker: last seen {} s ago", age.as_secs())),
        None => problems.push("mail worker: not running".to_owned()),
    }
    let ages = state.heartbeats.job_ages();
    for job in crate::jobs::Job::ALL.into_iter().filter(|j| j.watched()) {
        match ages.iter().find(|(name, _)| *name == job.name()) {
            Some((_, age)) if *age <= crate::telemetry::JOBS_STALE => {}
            Some((_, age)) => problems.push(format!("scheduler: {} last ran {} s ago", job.name(), age.as_secs())),
            None => problems.push(format!("scheduler: {} has not run yet", job.name())),
        }
    }
    if problems.is_empty() {
        Json(json!({"status": "ready"})).into_response()
    } else {
        tracing::warn!(problems = problems.join("; "), "not ready");
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "not ready", "problems": problems})),
        )
            .into_response()
    }
}
