//! The delivery worker: claims due messages with a lease, sends them, retries failures with
//! backoff, and gives up (logging an error) a day after the message was queued.

use std::time::Duration as StdDuration;

use lettre::message::Mailbox;
use time::Duration;

use super::store;
use super::transport::{self, Transport};
use crate::context::Ctx;

/// How long a claimed message is reserved for the worker that claimed it. A worker claims one
/// message at a time, just before sending it, and a send gives up after `SMTP_TIMEOUT` (at most
/// 45 s): so the lease outlasts the send, and the message of a worker that died goes out about a
/// minute later.
pub const LEASE: Duration = Duration::minutes(1);
/// After this long since it was queued, a message that still fails is marked failed.
pub const GIVE_UP_AFTER: Duration = Duration::days(1);
/// Messages per pass (each claimed on its own).
const BATCH: usize = 20;
const IDLE_POLL: StdDuration = StdDuration::from_millis(500);

/// The wait before retry number `attempts` (1 = after the first failure): 30 s, 1 min, 2 min … 1 h.
pub fn backoff(attempts: i64) -> Duration {
    let exp = attempts.clamp(1, 8) - 1;
    Duration::seconds((30_i64 << exp).min(3600))
}

/// Messages handed to the SMTP server at once. Each send waits on the server's answers (and on the
/// network's delayed acknowledgements), so one lane manages about 20 a second; with four, a launch's
/// 500 emails leave in seconds. The transport keeps a pool of connections for them.
pub const LANES: usize = 4;

pub async fn run(state: Ctx) {
    let transport = match transport_for(&state) {
        Ok(t) => std::sync::Arc::new(t),
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "mail worker cannot start; emails stay queued");
            return;
        }
    };
    tracing::info!("mail worker delivering by {} ({LANES} at a time)", transport.describe());
    let mut lanes = tokio::task::JoinSet::new();
    for _ in 0..LANES {
        lanes.spawn(lane(state.clone(), transport.clone()));
    }
    while lanes.join_next().await.is_some() {}
}

async fn lane(state: Ctx, transport: std::sync::Arc<Transport>) {
    loop {
        state.heartbeats.mail_alive();
        match deliver_due(&state, &transport).await {
            Ok(0) => {
                tokio::select! {
                    _ = state.mail_wakeup.notified() => {}
                    _ = tokio::time::sleep(IDLE_POLL) => {}
                }
            }
            // More may be waiting: wake another lane to share them.
            Ok(_) => state.mail_wakeup.notify_one(),
            Err(e) => {
                tracing::warn!(error = %e, "mail worker could not read the outbox");
                tokio::time::sleep(StdDuration::from_secs(2)).await;
            }
        }
    }
}

/// One delivery pass (what the worker does on each wake-up); returns how many messages it handled.
pub async fn run_once(state: &Ctx) -> anyhow::Result<usize> {
    let transport = transport_for(state)?;
    Ok(deliver_due(state, &transport).await?)
}

fn transport_for(state: &Ctx) -> anyhow::Result<Transport> {
    let c = &state.config;
    Transport::from_config(c.smtp_url.as_deref(), &c.data_dir, c.smtp_timeout)
}

fn sender(state: &Ctx) -> anyhow::Result<Mailbox> {
    if let Some(from) = &state.config.mail_from {
        return Ok(from.parse()?);
    }
    let site = &state.catalog().site;
    Ok(Mailbox::new(Some(site.name.clone()), site.contact_email.parse()?))
}

/// Sends up to a batch of due messages, claiming each just before sending it (so a slow or hung
/// server holds one message, not a batch, and a crash strands one for a lease at most); returns
/// how many it handled.
async fn deliver_due(state: &Ctx, transport: &Transport) -> sqlx::Result<usize> {
    let host = url::Url::parse(&state.config.base_url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| "learnwell.local".to_owned());
    let mut handled = 0;
    while handled < BATCH {
        let Some(msg) = store::claim(&state.db, state.clock.now(), LEASE, 1).await?.pop() else {
            break;
        };
        handled += 1;
        state.heartbeats.mail_alive();
        let result = match sender(state).and_then(|from| transport::build(&from, &msg, &host)) {
            Ok(message) => transport.send(msg.id, message).await,
            Err(e) => Err(e),
        };
        let now = state.clock.now();
        match result {
            Ok(()) => {
                store::mark_sent(&state.db, msg.id, now).await?;
                tracing::info!(outbox_id = msg.id, subject = %msg.subject, "email sent");
            }
            Err(e) => {
                let error = format!("{e:#}");
                if now - msg.created_at >= GIVE_UP_AFTER {
                    store::give_up(&state.db, msg.id, &error).await?;
                    tracing::error!(
                        outbox_id = msg.id,
                        attempts = msg.attempts,
                        error,
                        "email failed for a day: giving up"
                    );
                } else {
                    let at = now + backoff(msg.attempts);
                    store::retry_later(&state.db, msg.id, at, &error).await?;
                    tracing::warn!(
                        outbox_id = msg.id,
                        attempts = msg.attempts,
                        error,
                        "email not sent; will retry"
                    );
                }
            }
        }
    }
    Ok(handled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_caps() {
        assert_eq!(backoff(1), Duration::seconds(30));
        assert_eq!(backoff(2), Duration::seconds(60));
        assert_eq!(backoff(5), Duration::seconds(480));
        assert_eq!(backoff(8), Duration::seconds(3600));
        assert_eq!(backoff(80), Duration::seconds(3600));
    }
}
