//! What payments do, without HTTP: start a checkout, fulfil a paid order exactly once (whichever of
//! the webhook, the success page or the reconciliation job gets there first), refund, and the
//! webhook events.

use minijinja::context;
use time::Duration;

use super::pricing::{self, Quote};
use super::store::{self, NewOrder, Order};
use super::stripe_api::{self, NewSession, Session, StripeFailure};
use crate::accounts::store::User;
use crate::catalog::store::CourseSummary;
use crate::context::Ctx;
use crate::db::Tx;
use crate::domain::{CourseId, UserId};
use crate::error::Error;
use crate::mail::{self, Category, Outgoing};

mod events;
mod refunds;

pub use events::*;
pub(in crate::payments) use refunds::mark_refunded;
pub use refunds::*;

/// Pending Stripe orders older than this are checked with Stripe by the reconciliation job.
pub const RECONCILE_AFTER: Duration = Duration::minutes(15);

/// The early-bird windows that apply to this buyer: only an address they proved they own counts.
pub async fn launches_for(state: &Ctx, user: &User) -> Result<Vec<(i64, Option<time::OffsetDateTime>)>, Error> {
    if user.email_verified_at.is_none() {
        return Ok(Vec::new());
    }
    Ok(store::early_bird_launches(&state.db, &user.email).await?)
}

/// What this buyer would pay for `courses` now.
pub async fn quote_for(state: &Ctx, user: &User, courses: &[&CourseSummary], bundle: bool) -> Result<Quote, Error> {
    let launches = launches_for(state, user).await?;
    Ok(pricing::quote(
        &state.catalog(),
        courses,
        bundle,
        &launches,
        state.clock.now(),
    ))
}

/// The bundle upgrade this buyer may make now (see [`pricing::upgrade_quote`]): credit for what
/// they paid for the programs of the bundle they own, read from their paid orders.
pub async fn upgrade_for(state: &Ctx, user: &User) -> Result<Option<pricing::Upgrade>, Error> {
    let catalog = state.catalog();
    let Some(bundle) = pricing::bundle_courses(&catalog) else {
        return Ok(None);
    };
    let owned: Vec<(i64, i64)> = store::paid_seats(&state.db, user.id)
        .await?
        .into_iter()
        .map(|(course_id, line, total, paid)| (course_id, pricing::paid_share(line, total, paid)))
        .collect();
    Ok(pricing::upgrade_quote(&catalog, &bundle, &owned))
}

#[derive(Debug)]
pub enum Started {
    /// Go here to pay (Stripe Checkout, or the built-in test checkout).
    Redirect(String),
    /// Stripe did not answer, or refused: nothing was charged, and the order made for this
    /// attempt (if any) is `failed`, so the buyer can simply try again.
    ProviderDown {
        order_id: Option<i64>,
        problem: ProviderProblem,
    },
}

/// What went wrong at Stripe, as the buyer is told it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderProblem {
    /// No answer within `STRIPE_TIMEOUT`.
    NoAnswerInTime,
    /// The connection failed.
    Unreachable,
    /// It answered, but not with a checkout.
    Refused,
}

impl From<&StripeFailure> for ProviderProblem {
    fn from(f: &StripeFailure) -> ProviderProblem {
        match f {
            StripeFailure::TimedOut(_) => ProviderProblem::NoAnswerInTime,
            StripeFailure::Unreachable(_) => ProviderProblem::Unreachable,
            StripeFailure::Refused(_) | StripeFailure::Unreadable(_) => ProviderProblem::Refused,
        }
    }
}

/// Creates a pending order at the server's prices and a Checkout Session for it. With a `plan`
/// (one the catalogue offers for these programs; the caller checked), the order is for the plan's
/// total, paid in instalments: a subscription-mode session whose first payment opens the programs.
/// An upgrade to the bundle (part of it owned by a paid order) is priced with credit, paid at once.
pub async fn start(
    state: &Ctx,
    user: &User,
    courses: &[&CourseSummary],
    bundle: bool,
    plan: Option<&super::plans::Plan>,
) -> Result<Started, Error> {
    // The rest of the bundle, for someone who owns part of it: the upgrade price.
    let upgrade = match bundle {
        true => upgrade_for(state, user).await?.filter(|u| {
            u.quote
                .lines
                .iter()
                .map(|l| l.course_id)
                .eq(courses.iter().map(|c| c.id))
        }),
        false => None,
    };
    let free_upgrade = upgrade.as_ref().is_some_and(|u| u.quote.total_cents == 0);
    let whole_bundle = pricing::bundle_courses(&state.catalog())
        .is_some_and(|all| all.iter().map(|c| c.id).eq(courses.iter().map(|c| c.id)));
    let mut quote = match upgrade {
        Some(u) => u.quote,
        // Part of the bundle at the bundle price: only as an upgrade, which no longer applies
        // (a refund came in between the page and the click).
        None if bundle && !whole_bundle => {
            return Err(Error::Refused(
                "The upgrade to the bundle is no longer available for your account. Please reload the page.".into(),
            ));
        }
        None => quote_for(state, user, courses, bundle).await?,
    };
    if let Some(plan) = plan {
        super::plans::apply(&mut quote, plan);
    }
    let now = state.clock.now();
    // The same purchase already waiting at Stripe (another tab, a second click): go back to it,
    // so nobody pays twice. Sessions last a day; a price change (early bird ended) starts afresh.
    if let Some(gateway) = &state.stripe {
        let ids: Vec<i64> = quote.lines.iter().map(|l| l.course_id).collect();
        if let Some((order_id, session_id)) = store::pending_for(
            &state.db,
            user.id,
            &ids,
            quote.total_cents,
            plan.map(|p| p.id.as_str()),
            now - Duration::hours(23),
        )
        .await?
        {
            match gateway.retrieve_session(&session_id).await {
                Ok(Session {
                    open: true,
                    url: Some(url),
                    ..
                }) => {
                    tracing::info!(order_id, "checkout: back to the buyer's open session");
                    return Ok(Started::Redirect(url));
                }
                Ok(_) => {}
                // Stripe is not answering: a new session would not be created either, and the
                // buyer would wait out the timeout twice. Their open order stays as it is.
                Err(e) if e.no_answer() => {
                    tracing::warn!(order_id, error = %e, "checkout: Stripe is not answering");
                    return Ok(Started::ProviderDown {
                        order_id: None,
                        problem: ProviderProblem::from(&e),
                    });
                }
                Err(e) => tracing::warn!(order_id, error = %e, "checkout: could not check the open session"),
            }
        }
    }
    let provider = if state.stripe.is_some() { "stripe" } else { "test" };
    let mut tx = state.db.begin().await?;
    let created_at = now;
    let order_id = store::insert_order(
        &mut tx,
        &NewOrder {
            user_id: user.id,
            email: &user.email,
            name: &user.name,
            provider,
            currency: &quote.currency,
            list_cents: quote.list_cents,
            total_cents: quote.total_cents,
            bundle: quote.bundle,
            early_bird: quote.early_bird,
            plan,
        },
        now,
    )
    .await?;
    for line in &quote.lines {
        store::insert_item(&mut tx, order_id, line.course_id, line.price_cents).await?;
    }
    tx.commit().await?;

    // Nothing to pay (an upgrade whose credit covers the bundle): no checkout, access now.
    if free_upgrade {
        fulfil(state, order_id, None, Some(0), None).await?;
        return Ok(Started::Redirect(format!("/checkout/success?order={order_id}")));
    }
    let Some(gateway) = &state.stripe else {
        return Ok(Started::Redirect(format!("/checkout/test/{order_id}")));
    };
    let base = &state.config.base_url;
    let plan_title = quote
        .lines
        .iter()
        .map(|l| l.title.as_str())
        .collect::<Vec<_>>()
        .join(" + ");
    let new = NewSession {
        order_id,
        idempotency_key: stripe_api::checkout_key(order_id, created_at),
        currency: &quote.currency,
        lines: quote
            .lines
            .iter()
            .map(|l| stripe_api::Line {
                title: &l.title,
                price_cents: l.price_cents,
            })
            .collect(),
        email: &user.email,
        success_url: format!("{base}/checkout/success?session_id={{CHECKOUT_SESSION_ID}}"),
        cancel_url: format!("{base}/courses/{}?checkout=cancelled", courses[0].slug),
        plan: plan.map(|p| stripe_api::PlanLine {
            title: plan_title.as_str(),
            amount_cents: p.amount,
            interval: &p.interval,
            instalments: p.instalments,
        }),
    };
    let (problem, reason) = match gateway.create_session(&new).await {
        Ok(Session { id, url: Some(url), .. }) => {
            store::set_session(&state.db, order_id, &id, state.clock.now()).await?;
            return Ok(Started::Redirect(url));
        }
        Ok(session) => {
            tracing::error!(order_id, session = %session.id, "Stripe returned a session without a URL");
            (
                ProviderProblem::Refused,
                "checkout: Stripe sent a session without a payment page".to_owned(),
            )
        }
        Err(e) => {
            tracing::error!(order_id, error = %e, "could not create a Stripe Checkout Session");
            (ProviderProblem::from(&e), format!("checkout could not start: {e}"))
        }
    };
    // Nothing was charged and the buyer has no payment page: the order is over. Should Stripe
    // have made the session after all (an answer lost on the way), nobody has its address, and
    // its webhook would not match this order (no session id is stored).
    let mut tx = state.db.begin().await?;
    store::fail(&mut tx, order_id, &reason, state.clock.now()).await?;
    tx.commit().await?;
    Ok(Started::ProviderDown {
        order_id: Some(order_id),
        problem,
    })
}

#[derive(Debug, PartialEq, Eq)]
pub enum Fulfilled {
    /// Paid now: access granted, receipt queued.
    Now,
    /// Already paid (the other path came first), or no longer pending.
    AlreadyDone,
    /// The payment had been refunded before we heard it was paid: no access.
    RefundedFirst,
    /// The order cannot give what it was for (the buyer already has a program in it, or it is no
    /// longer open for enrollment): no access granted, and `why` says so in words for the buyer.
    /// A test order is refused (nothing was charged: it is `failed`); a Stripe order was charged,
    /// so it is `paid` with the reason, and a refund is due ([`refund`] makes it and tells them).
    Refused {
        why: String,
        charged: bool,
    },
    NotFound,
}

/// Why an order cannot be fulfilled now, in words for the buyer (and the studio): a program in it
/// that the buyer can already study (another order paid first, or a free seat), or that is no
/// longer open (closed, or back to pre-enrollment, since the checkout started).
async fn unfulfillable(tx: &mut Tx, order: &Order, items: &[store::Item]) -> Result<Option<String>, Error> {
    for item in items {
        if let Some(user_id) = order.user_id
            && crate::enrollment::store::is_active_in(tx, UserId(user_id), CourseId(item.course_id)).await?
        {
            return Ok(Some(format!(
                "You were already enrolled in {} when this payment arrived.",
                item.title
            )));
        }
        if !item.open {
            return Ok(Some(format!(
                "{} had closed for enrollment when this payment arrived.",
                item.title
            )));
        }
    }
    Ok(None)
}

/// Marks an order paid and grants access, inside `tx`. Exactly once: only the first caller finds
/// the order pending; and never twice into one program, nor into a program that is not open.
/// For a plan, `amount` is the first instalment and `first_invoice` names it (its Stripe invoice,
/// or a test id): it is recorded as the plan's first payment in the same transaction.
pub(super) async fn fulfil_in(
    tx: &mut Tx,
    state: &Ctx,
    order_id: i64,
    payment_intent: Option<&str>,
    amount: Option<i64>,
    first_invoice: Option<&str>,
) -> Result<Fulfilled, Error> {
    let now = state.clock.now();
    let Some(order) = store::order_in_tx(tx, order_id).await? else {
        return Ok(Fulfilled::NotFound);
    };
    // A plan's payments are recorded one by one (order_payments), each with its own payment; the
    // order itself names none (a refund of one instalment must not end the whole order).
    let instalment_pi = payment_intent;
    let payment_intent = if order.is_plan() { None } else { payment_intent };
    if order.status != crate::domain::OrderStatus::Pending {
        return Ok(Fulfilled::AlreadyDone);
    }
    if let Some(user_id) = order.user_id {
        crate::enrollment::store::lock_seats_of(tx, user_id).await?;
    }
    let items = store::items(tx, order.id).await?;
    let refused = unfulfillable(tx, &order, &items).await?;
    // The built-in test checkout charges nothing: an order that cannot be fulfilled is refused
    // before it is paid.
    if order.provider == "test"
        && let Some(why) = refused
    {
        if !store::fail(tx, order.id, &why, now).await? {
            return Ok(Fulfilled::AlreadyDone);
        }
        tracing::info!(order_id, why, "test checkout refused: nothing granted");
        return Ok(Fulfilled::Refused { why, charged: false });
    }
    let paid = match &refused {
        None => store::mark_paid(tx, order.id, payment_intent, amount, now).await?,
        Some(why) => store::mark_paid_unfulfilled(tx, order.id, payment_intent, amount, why, now).await?,
    };
    if !paid {
        return Ok(Fulfilled::AlreadyDone);
    }
    // A plan's first instalment is recorded with the payment (a refund due refunds it too).
    if order.is_plan() {
        store::move_plan(tx, order.id, &[], "active", now).await?;
        if let Some(invoice) = first_invoice {
            let first = amount.or(order.plan_amount_cents).unwrap_or(0);
            store::record_payment(tx, order.id, invoice, instalment_pi, first, now).await?;
        }
    }
    if let Some(pi) = payment_intent
        && store::has_early_refund(tx, pi).await?
    {
        store::move_status(tx, order.id, "paid", "refunded", now).await?;
        tracing::warn!(
            order_id,
            "payment was refunded before it was fulfilled: no access granted"
        );
        return Ok(Fulfilled::RefundedFirst);
    }
    if let Some(why) = refused {
        tracing::warn!(order_id, why, "paid order gives no access: a refund is due");
        return Ok(Fulfilled::Refused { why, charged: true });
    }
    if let Some(user_id) = order.user_id {
        for item in &items {
            // Checked above under the buyer's seat lock, so this cannot find the seat taken; should
            // it anyway, fail the whole transaction (nothing is written) rather than grant twice:
            // Stripe retries a webhook that failed, and the success page and the job ask again.
            if !crate::enrollment::store::grant(
                tx,
                UserId(user_id),
                CourseId(item.course_id),
                "order",
                Some(order.id),
                now,
            )
            .await?
            {
                return Err(Error::Internal(anyhow::anyhow!(
                    "order {order_id}: program {} was granted by another order meanwhile; rolled back",
                    item.course_id
                )));
            }
        }
    }
    if let (Some(email), Some(name)) = (&order.email, &order.name) {
        let site = &state.catalog().site;
        let tz = state.catalog().tz.clone();
        let paid = amount.unwrap_or(order.total_cents);
        mail::enqueue(
            tx,
            state,
            Outgoing {
                to: email,
                to_name: name,
                subject: format!("Your receipt from {}: order {}", site.name, order_number(order.id)),
                template: "receipt",
                ctx: context! {
                    number => order_number(order.id),
                    items => minijinja::value::Serde(&items),
                    amount => paid,
                    currency => order.currency.clone(),
                    date => crate::local_time::format_local_date(now, &tz),
                    test => order.provider == "test",
                    dashboard_url => format!("{}/dashboard", state.config.base_url),
                    plan_instalments => order.plan_instalments,
                    plan_interval => order.plan_interval.clone(),
                    plan_total => order.is_plan().then_some(order.total_cents),
                    tax => order.tax_cents.filter(|t| *t > 0),
                    invoice_url => order.invoice_url.clone(),
                    order_url => format!("{}/checkout/success?order={}", state.config.base_url, order.id),
                },
                category: Category::Transactional,
                dedupe_key: Some(format!("receipt:{}", order.id)),
                campaign: None,
            },
        )
        .await?;
    }
    tracing::info!(order_id, "order paid: access granted");
    Ok(Fulfilled::Now)
}

/// The number on receipts and in the studio.
pub fn order_number(id: i64) -> String {
    format!("LW-{id:06}")
}

/// Fulfils an order in its own transaction (success page, test checkout, reconciliation).
pub async fn fulfil(
    state: &Ctx,
    order_id: i64,
    payment_intent: Option<&str>,
    amount: Option<i64>,
    first_invoice: Option<&str>,
) -> Result<Fulfilled, Error> {
    let mut tx = state.db.begin().await?;
    let outcome = fulfil_in(&mut tx, state, order_id, payment_intent, amount, first_invoice).await?;
    tx.commit().await?;
    if outcome == Fulfilled::Now {
        state.mail_wakeup.notify_one();
    }
    if matches!(outcome, Fulfilled::Refused { charged: true, .. }) {
        refund_unfulfilled(state, order_id).await?;
    }
    Ok(outcome)
}

/// Gives back the money of a paid order that gave no access ([`Fulfilled::Refused`]): refunds it
/// through Stripe under the order's refund idempotency key (a retry never refunds twice), ends
/// nothing (nothing was granted) and emails the buyer, in the transaction that marks it refunded.
/// When Stripe refuses or does not answer, the order stays `paid` with its reason, shown in the
/// studio; the reconciliation job tries again.
pub async fn refund_unfulfilled(state: &Ctx, order_id: i64) -> Result<Refunded, Error> {
    let outcome = refund(state, order_id).await?;
    match &outcome {
        Refunded::Done => tracing::info!(order_id, "order that gave no access refunded"),
        other => tracing::warn!(order_id, ?other, "refund of an order that gave no access: will retry"),
    }
    Ok(outcome)
}

/// Fulfils a Stripe order from a session we read back from Stripe, if it is paid and is this order's.
pub async fn fulfil_from_session(state: &Ctx, order: &Order, session: &Session) -> Result<Fulfilled, Error> {
    if session.order_id != Some(order.id) || order.checkout_session_id.as_deref() != Some(session.id.as_str()) {
        tracing::error!(order_id = order.id, session = %session.id, "session does not belong to the order");
        return Ok(Fulfilled::NotFound);
    }
    if !session.paid {
        return Ok(Fulfilled::AlreadyDone);
    }
    let mut tx = state.db.begin().await?;
    let (outcome, after) = super::instalments::settle_session_in(&mut tx, state, order.id, session).await?;
    tx.commit().await?;
    if outcome == Fulfilled::Now {
        state.mail_wakeup.notify_one();
    }
    super::instalments::run_after(state, after).await;
    if matches!(outcome, Fulfilled::Refused { charged: true, .. }) {
        refund_unfulfilled(state, order.id).await?;
    }
    Ok(outcome)
}

/// Cancels a pending order (the buyer left the test checkout).
pub async fn cancel(state: &Ctx, order_id: i64) -> Result<bool, Error> {
    let mut tx = state.db.begin().await?;
    let done = store::move_status(&mut tx, order_id, "pending", "cancelled", state.clock.now()).await?;
    tx.commit().await?;
    Ok(done)
}
