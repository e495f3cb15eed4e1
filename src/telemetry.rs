//! What an operator watches: Prometheus metrics (served on `METRICS_ADDR` only, never on the
//! public address) and the workers' heartbeats behind `/readyz`.
//!
//! Counters and histograms are recorded where things happen (requests by route and status,
//! sign-ups, log-in failures, rate-limit refusals); the gauges that describe the database
//! (outbox depth and age, orders by state) and the jobs' lag are read when Prometheus scrapes.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::context::Ctx;

pub const HTTP_REQUESTS: &str = "learnwell_http_requests_total";
pub const HTTP_DURATION: &str = "learnwell_http_request_duration_seconds";
pub const SIGNUPS: &str = "learnwell_signups_total";
pub const LOGIN_FAILURES: &str = "learnwell_login_failures_total";
pub const RATE_LIMITED: &str = "learnwell_rate_limit_refusals_total";
pub const OUTBOX_DEPTH: &str = "learnwell_outbox_pending";
pub const OUTBOX_OLDEST: &str = "learnwell_outbox_oldest_pending_age_seconds";
pub const ORDERS: &str = "learnwell_orders";
pub const JOB_LAG: &str = "learnwell_job_lag_seconds";

/// The process's one recorder (installed on first use; every app in a process shares it).
pub fn handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let buckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(HTTP_DURATION.to_owned()), &buckets)
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed; /metrics may be empty");
            }
            describe();
            handle
        })
        .clone()
}

fn describe() {
    metrics::describe_counter!(HTTP_REQUESTS, "HTTP requests answered, by method, route and status");
    metrics::describe_histogram!(
        HTTP_DURATION,
        metrics::Unit::Seconds,
        "Time to answer an HTTP request, by method, route and status"
    );
    metrics::describe_counter!(SIGNUPS, "Accounts signed up");
    metrics::describe_counter!(
        LOGIN_FAILURES,
        "Log-in attempts refused (wrong password, unknown address, backing off)"
    );
    metrics::describe_counter!(RATE_LIMITED, "Requests refused by a rate limit (429), by route");
    metrics::describe_gauge!(OUTBOX_DEPTH, "Emails waiting in the outbox");
    metrics::describe_gauge!(OUTBOX_OLDEST, metrics::Unit::Seconds, "Age of the oldest email waiting");
    metrics::describe_gauge!(ORDERS, "Orders, by state");
    metrics::describe_gauge!(
        JOB_LAG,
        metrics::Unit::Seconds,
        "Seconds since each scheduled job last finished a pass on this instance"
    );
}

/// Counts and times every request by its route pattern (`/courses/{slug}`, never the raw path, so
/// the number of series stays bounded) and status.
pub async fn track(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().as_str().to_owned();
    let route = route_of(&req);
    let res = next.run(req).await;
    let status = res.status().as_u16().to_string();
    let labels = vec![
        metrics::Label::new("method", method),
        metrics::Label::new("route", route.clone()),
        metrics::Label::new("status", status),
    ];
    metrics::counter!(HTTP_REQUESTS, labels.clone()).increment(1);
    metrics::histogram!(HTTP_DURATION, labels).record(started.elapsed().as_secs_f64());
    if res.status() == axum::http::StatusCode::TOO_MANY_REQUESTS {
        metrics::counter!(RATE_LIMITED, "route" => route).increment(1);
    }
    res
}

/// The route pattern that matched, or "unmatched" (a 404 of the fallback).
pub fn route_of<B>(req: &axum::http::Request<B>) -> String {
    req.extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned())
}

pub fn signed_up() {
    metrics::counter!(SIGNUPS).increment(1);
}

pub fn login_failed() {
    metrics::counter!(LOGIN_FAILURES).increment(1);
}

/// `GET /metrics` on the metrics listener: the gauges read now, then everything in the
/// Prometheus text format.
pub async fn scrape(State(state): State<Ctx>) -> Response {
    if let Err(e) = refresh_gauges(&state).await {
        tracing::warn!(error = %e, "metrics: could not read the database gauges");
    }
    let handle = handle();
    handle.run_upkeep();
    (
        [(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        handle.render(),
    )
        .into_response()
}

async fn refresh_gauges(state: &Ctx) -> anyhow::Result<()> {
    for (job, age) in state.heartbeats.job_ages() {
        metrics::gauge!(JOB_LAG, "job" => job).set(age.as_secs_f64());
    }
    let (depth, oldest) = crate::mail::store::pending_summary(&state.db).await?;
    metrics::gauge!(OUTBOX_DEPTH).set(depth as f64);
    let age = oldest.map_or(0.0, |t| (state.clock.now() - t).as_seconds_f64().max(0.0));
    metrics::gauge!(OUTBOX_OLDEST).set(age);
    let counts = crate::payments::store::counts_by_status(&state.db).await?;
    for status in ["pending", "paid", "failed", "refunded", "cancelled", "expired"] {
        let n = counts.iter().find(|(s, _)| s == status).map_or(0, |(_, n)| *n);
        metrics::gauge!(ORDERS, "state" => status).set(n as f64);
    }
    Ok(())
}

/// The metrics listener's whole router: `/metrics` and nothing else.
pub fn router(state: Ctx) -> axum::Router {
    axum::Router::new()
        .route("/metrics", axum::routing::get(scrape))
        .with_state(state)
}

/// When each background worker last showed it is alive (real time, not the injected clock, so
/// tests that move the clock do not make workers look dead).
#[derive(Default)]
pub struct Heartbeats {
    mail: Mutex<Option<Instant>>,
    jobs: Mutex<HashMap<&'static str, Instant>>,
}

/// A mail lane beats at least every poll (half a second) and per message (a send gives up after
/// `SMTP_TIMEOUT`, at most 45 s).
pub const MAIL_STALE: Duration = Duration::from_secs(120);
/// The scheduler's jobs pass every 20 s (the purge hourly, and it is not watched).
pub const JOBS_STALE: Duration = Duration::from_secs(120);

impl Heartbeats {
    pub fn mail_alive(&self) {
        *self.mail.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
    }

    pub fn job_done(&self, job: &'static str) {
        self.jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(job, Instant::now());
    }

    pub fn mail_age(&self) -> Option<Duration> {
        self.mail.lock().unwrap_or_else(|p| p.into_inner()).map(|t| t.elapsed())
    }

    pub fn job_ages(&self) -> Vec<(&'static str, Duration)> {
        let jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
        let mut ages: Vec<_> = jobs.iter().map(|(j, t)| (*j, t.elapsed())).collect();
        ages.sort();
        ages
    }
}
