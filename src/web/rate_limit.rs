//! Per-client-IP rate limits for the forms that attackers like (log in, sign up, password reset,
//! pre-enroll): a burst of `per_minute` requests, refilled over a minute. A refused request gets
//! 429 with `Retry-After`, shown as a friendly page by the error-page layer.

use std::sync::Arc;
use std::time::Duration;

use governor::clock::QuantaInstant;
use governor::middleware::NoOpMiddleware;
use tower_governor::GovernorLayer;
use tower_governor::governor::GovernorConfigBuilder;
use tower_governor::key_extractor::PeerIpKeyExtractor;

pub type RateLimit = GovernorLayer<PeerIpKeyExtractor, NoOpMiddleware<QuantaInstant>, axum::body::Body>;

/// A limiter of its own (each form counts separately).
pub fn per_ip(per_minute: u32) -> RateLimit {
    let per = per_minute.max(1);
    let config = GovernorConfigBuilder::default()
        .period(Duration::from_millis(60_000 / u64::from(per)))
        .burst_size(per)
        .finish()
        .map(Arc::new)
        .expect("rate limit settings are positive");
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
