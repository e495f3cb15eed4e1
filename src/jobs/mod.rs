//! Scheduled work: firing scheduled launches, publishing scheduled modules, telling students a
//! module opened, settling orders whose Stripe webhook never came, and forgetting pre-enrollments
//! nobody confirmed.
//!
//! Each job runs in a loop of its own, with its own error handling, so a slow one (Stripe not
//! answering the reconciliation) never holds up the others (a launch due now). Every instance
//! runs them; each piece of work is claimed in the database, so it happens once however many
//! instances there are. `state.jobs_wakeup` wakes every job that runs on the tick.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinSet;

use crate::context::Ctx;
use crate::error::Error;

/// How often the scheduler looks for due work (it also wakes on `state.jobs_wakeup`).
pub const TICK: Duration = Duration::from_secs(20);
/// How often unconfirmed pre-enrollments are purged.
pub const PURGE_EVERY: Duration = Duration::from_secs(3600);
/// How long an instalment of a subscription we cannot place is kept for its order to turn up.
pub const STASH_DAYS: i64 = 30;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Job {
    Launches,
    ModulePublishing,
    ModuleOpenEmails,
    Reconciliation,
    Purge,
}

impl Job {
    pub const ALL: [Job; 5] = [
        Job::Launches,
        Job::ModulePublishing,
        Job::ModuleOpenEmails,
        Job::Reconciliation,
        Job::Purge,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Job::Launches => "scheduled launches",
            Job::ModulePublishing => "scheduled modules",
            Job::ModuleOpenEmails => "module-open emails",
            Job::Reconciliation => "order reconciliation",
            Job::Purge => "purge of unconfirmed pre-enrollments, expired device lists and unplaced instalments",
        }
    }

    fn every(self) -> Duration {
        match self {
            Job::Purge => PURGE_EVERY,
            _ => TICK,
        }
    }

    /// Whether `/readyz` expects a pass of it every few ticks (the hourly purge is not watched).
    pub fn watched(self) -> bool {
        self != Job::Purge
    }

    /// Whether `jobs_wakeup` runs it early (the purge keeps its hourly pace).
    fn wakes(self) -> bool {
        self != Job::Purge
    }

    /// One pass; how many things it did.
    pub async fn run_once(self, state: &Ctx) -> Result<u64, Error> {
        let n = match self {
            Job::Launches => crate::launch::run_due(state).await?,
            Job::ModulePublishing => crate::admin::publish_due_modules(state).await?,
            Job::ModuleOpenEmails => crate::learning::notify_unlocked_modules(state).await?,
            Job::Reconciliation => crate::payments::flows::reconcile(state).await?,
            Job::Purge => {
                let since = state.clock.now() - time::Duration::days(crate::web::sessions::SESSION_DAYS);
                let devices = crate::accounts::store::purge_sessions(&state.db, since).await?;
                // Checkout links a subscription within a day; a month on, it never will.
                let month_ago = state.clock.now() - time::Duration::days(STASH_DAYS);
                let stashed = crate::payments::store::purge_stashed(&state.db, month_ago).await?;
                if stashed > 0 {
                    tracing::warn!(
                        instalments = stashed,
                        "forgot instalments of Stripe subscriptions that never matched an order"
                    );
                }
                return Ok(crate::preenroll::flows::purge_unconfirmed(state).await? + devices + stashed);
            }
        };
        Ok(u64::try_from(n).unwrap_or(u64::MAX))
    }

    async fn run_logged(self, state: &Ctx) {
        match self.run_once(state).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(job = self.name(), done = n, "job pass"),
            Err(e) => tracing::warn!(job = self.name(), error = %e, "job failed; will retry"),
        }
    }
}

/// Runs every job, each in its own task, until this future is dropped (which ends them all).
pub async fn run(state: Ctx) {
    let mut tasks = JoinSet::new();
    let mut running: HashMap<tokio::task::Id, Job> = HashMap::new();
    let wakers: HashMap<Job, Arc<Notify>> = Job::ALL.iter().map(|&j| (j, Arc::new(Notify::new()))).collect();
    for (job, wake) in &wakers {
        let handle = tasks.spawn(job_loop(state.clone(), *job, wake.clone(), false));
        running.insert(handle.id(), *job);
    }
    loop {
        tokio::select! {
            _ = state.jobs_wakeup.notified() => {
                // One wake-up for all: each job keeps it until its current pass is over.
                for (job, wake) in &wakers {
                    if job.wakes() {
                        wake.notify_one();
                    }
                }
            }
            Some(ended) = tasks.join_next_with_id() => {
                // A loop ends only by a panic: log it and start the job again after a pause.
                let (id, why) = match ended {
                    Ok((id, ())) => (id, "ended".to_owned()),
                    Err(e) => (e.id(), e.to_string()),
                };
                if let Some(job) = running.remove(&id) {
                    tracing::error!(job = job.name(), why, "job stopped; starting it again");
                    let wake = wakers.get(&job).cloned().unwrap_or_default();
                    let handle = tasks.spawn(job_loop(state.clone(), job, wake, true));
                    running.insert(handle.id(), job);
                }
            }
        }
    }
}

async fn job_loop(state: Ctx, job: Job, wake: Arc<Notify>, pause_first: bool) {
    if pause_first {
        tokio::time::sleep(job.every()).await;
    }
    loop {
        job.run_logged(&state).await;
        if job.watched() {
            state.heartbeats.job_done(job.name());
        }
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(job.every()) => {}
        }
    }
}
