//! Enrollment and payment: the enroll page, Stripe Checkout (or, without Stripe keys, a built-in
//! test checkout that runs the same order and fulfilment code), the Stripe webhook, receipts,
//! refunds, and the job that reconciles orders whose webhook never came.

pub mod flows;
mod handlers;
pub mod instalments;
pub mod plans;
pub mod pricing;
pub mod store;
pub mod stripe_api;

use axum::Router;
use axum::routing::{get, post};

use crate::context::Ctx;

pub fn routes() -> Router<Ctx> {
    Router::new()
        .route("/courses/{slug}/enroll", get(handlers::enroll_page))
        .route("/enroll/bundle", get(handlers::bundle_page))
        .route("/checkout", post(handlers::checkout))
        .route("/checkout/success", get(handlers::success))
        .route("/checkout/test/{order}", get(handlers::test_checkout))
        .route("/checkout/test/{order}/pay", post(handlers::test_pay))
        .route("/checkout/test/{order}/cancel", post(handlers::test_cancel))
        .route("/webhooks/stripe", post(handlers::webhook))
        .route("/plans/{order}", get(handlers::plan_page))
        .route("/plans/{order}/portal", post(handlers::plan_portal))
        .route("/plans/{order}/test/collect", post(handlers::test_collect))
        .route("/plans/{order}/test/fail", post(handlers::test_fail))
}

/// A signed-in person's offer on an open program's page: enrolled or not, and their price.
pub async fn offer_for(
    state: &Ctx,
    user: &crate::accounts::store::User,
    course: &crate::catalog::store::CourseSummary,
) -> Result<minijinja::Value, crate::web::AppError> {
    use minijinja::value::Serde;
    let enrolled = crate::enrollment::store::active_course_ids(&state.db, user.id).await?;
    // "Upgrade to the bundle for $X": when they bought part of the bundle.
    let upgrade = flows::upgrade_for(state, user).await?;
    if enrolled.contains(&course.id) {
        return Ok(minijinja::context! { enrolled => true, upgrade => Serde(&upgrade) });
    }
    let quote = flows::quote_for(state, user, &[course], false).await?;
    Ok(minijinja::context! { enrolled => false, quote => Serde(&quote), upgrade => Serde(&upgrade) })
}
