//! Per-client-IP rate limits for the forms that attackers like (log in, sign up, password reset,
//! pre-enroll): a burst of `per_minute` requests, refilled over a minute. A refused request gets
//! 429 with `Retry-After`, shown as a friendly page by the error-page layer.
//!
//! The client is the address [`super::client`] worked out: behind a trusted proxy, the visitor's,
//! not the proxy's.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::Request;
use governor::clock::QuantaInstant;
use governor::middleware::NoOpMiddleware;
use tower_governor::GovernorError;
use tower_governor::GovernorLayer;
use tower_governor::governor::GovernorConfigBuilder;
use tower_governor::key_extractor::KeyExtractor;

use super::client::ClientAddr;

pub type RateLimit = GovernorLayer<ClientKey, NoOpMiddleware<QuantaInstant>, axum::body::Body>;

/// Keys a limit on the client's address.
#[derive(Clone, Copy, Debug)]
pub struct ClientKey;

impl KeyExtractor for ClientKey {
    type Key = IpAddr;

    fn extract<T>(&self, req: &Request<T>) -> Result<IpAddr, GovernorError> {
        req.extensions()
            .get::<ClientAddr>()
            .map(|c| c.0)
            .or_else(|| {
                req.extensions()
                    .get::<ConnectInfo<std::net::SocketAddr>>()
                    .map(|c| c.0.ip())
            })
            .ok_or(GovernorError::UnableToExtractKey)
    }
}

/// One request's worth of a minute's quota (`per_minute` is at least 1 and at most 100,000, so
/// this is at least 600 µs: never zero).
fn replenish_every(per_minute: u32) -> Duration {
    Duration::from_secs(60) / per_minute.max(1)
}

/// A limiter of its own (each form counts separately).
pub fn per_ip(per_minute: u32) -> RateLimit {
    let per = per_minute.max(1);
    let config = Arc::new(
        GovernorConfigBuilder::default()
            .period(replenish_every(per))
            .burst_size(per)
            .key_extractor(ClientKey)
            .finish()
            .unwrap_or_else(|| unreachable!("a positive period and burst")),
    );
    // Forget clients whose quota has refilled, so memory does not grow with every IP ever seen.
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        let limiter = config.limiter().clone();
        runtime.spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                limiter.retain_recent();
            }
        });
    }
    GovernorLayer::new(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_accepted_setting_builds_a_limiter() {
        for per in [1, 10, 60_000, 60_001, 99_999, 100_000] {
            assert!(replenish_every(per) > Duration::ZERO, "{per}");
            let _ = per_ip(per);
        }
        assert_eq!(replenish_every(10), Duration::from_secs(6));
    }
}
