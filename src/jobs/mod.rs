//! Scheduled work: firing scheduled launches, publishing scheduled modules, telling students a module opened, settling orders whose Stripe webhook never came, and
//! forgetting pre-enrollments nobody confirmed.
//! Every instance runs this loop; each piece of work is claimed in the database, so it happens
//! once however many instances there are.

use std::time::Duration;

use crate::web::AppState;

/// How often the scheduler looks for due work (it also wakes on `state.jobs_wakeup`).
pub const TICK: Duration = Duration::from_secs(20);
/// How often unconfirmed pre-enrollments are purged.
pub const PURGE_EVERY: Duration = Duration::from_secs(3600);

pub async fn run(state: AppState) {
    let mut last_purge: Option<tokio::time::Instant> = None;
    loop {
        if let Err(e) = crate::launch::run_due(&state).await {
            tracing::warn!(error = %e, "scheduled launches: will retry");
        }
        if let Err(e) = crate::admin::publish_due_modules(&state).await {
            tracing::warn!(error = %e, "scheduled modules: will retry");
        }
        if let Err(e) = crate::learning::notify_unlocked_modules(&state).await {
            tracing::warn!(error = %e, "module-open emails: will retry");
        }
        match crate::payments::flows::reconcile(&state).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(orders = n, "reconciled pending orders with Stripe"),
            Err(e) => tracing::warn!(error = %e, "could not reconcile pending orders"),
        }
        if last_purge.is_none_or(|t| t.elapsed() >= PURGE_EVERY) {
            match crate::preenroll::flows::purge_unconfirmed(&state).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(entries = n, "forgot unconfirmed pre-enrollments"),
                Err(e) => tracing::warn!(error = %e, "could not purge unconfirmed pre-enrollments"),
            }
            last_purge = Some(tokio::time::Instant::now());
        }
        tokio::select! {
            _ = state.jobs_wakeup.notified() => {}
            _ = tokio::time::sleep(TICK) => {}
        }
    }
}
