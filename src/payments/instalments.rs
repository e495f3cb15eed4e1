//! Payment plans at work: the first instalment opens the programs; each paid instalment is
//! recorded (`invoice.paid`, or the built-in test checkout's controls); when Stripe gives up on one
//! the seats pause (progress kept) and the student is emailed a link to update their card; a later
//! payment resumes them; the plan ends by itself after the last instalment (the subscription's
//! `cancel_at`, and a cancel after the last `invoice.paid` as a safety net). Events may arrive in
//! any order: an instalment for a subscription we cannot place yet is kept until we can.
//!
//! Refunding a plan cancels its subscription (no further payments) and refunds every instalment
//! received.

use minijinja::context;

use super::flows::{self, Fulfilled, Handled, Refunded};
use super::store::{self, Order};
use super::stripe_api::{self, Invoice, Session, Subscription};
use crate::context::Ctx;
use crate::db::Tx;
use crate::domain::{OrderStatus, PlanState};
use crate::error::Error;
use crate::mail::{self, Category, Outgoing};

/// A Stripe call an event leads to, made after its transaction committed.
#[derive(Debug)]
pub enum After {
    /// Set the subscription to end after the last instalment.
    EndAt {
        order_id: i64,
        subscription: String,
        at: i64,
    },
    /// Every instalment is paid: stop the subscription.
    Cancel { subscription: String },
    /// Read a one-time purchase's invoice for its link.
    InvoiceLink { order_id: i64, invoice: String },
}

/// Makes the calls; a failure is logged (the safety nets: the cancel after the last payment, the
/// invoice webhooks).
pub async fn run_after(state: &Ctx, after: Vec<After>) {
    let Some(gateway) = &state.stripe else {
        return;
    };
    for step in after {
        let result = match &step {
            After::EndAt {
                order_id,
                subscription,
                at,
            } => {
                let key = format!("learnwell-plan-end-{order_id}-{subscription}");
                gateway.end_subscription_at(subscription, *at, &key).await
            }
            After::Cancel { subscription } => gateway.cancel_subscription(subscription).await,
            After::InvoiceLink { order_id, invoice } => match gateway.retrieve_invoice(invoice).await {
                Ok(found) => {
                    let saved = async {
                        let mut tx = state.db.begin().await?;
                        store::set_tax_and_invoice(&mut tx, *order_id, None, found.hosted_invoice_url.as_deref())
                            .await?;
                        tx.commit().await?;
                        Ok::<_, Error>(())
                    };
                    if let Err(e) = saved.await {
                        tracing::error!(order_id, error = %e, "could not store the invoice link");
                    }
                    Ok(())
                }
                Err(e) => Err(e),
            },
        };
        if let Err(e) = result {
            tracing::warn!(?step, error = %e, "plan: a Stripe call after the event failed");
        }
    }
}

/// When the subscription should end: in the middle of the last instalment's period, so Stripe
/// bills exactly `instalments` times whatever the length of a month.
pub fn end_at(anchor: i64, order: &Order) -> Option<i64> {
    let n = order.plan_instalments?;
    let interval = order.plan_interval.as_deref()?;
    let start = time::OffsetDateTime::from_unix_timestamp(anchor).ok()?;
    let last = super::plans::after(start, interval, n - 1);
    let next = super::plans::after(start, interval, n);
    let half: time::Duration = (next - last) / 2;
    Some((last + half).unix_timestamp())
}

/// Settles an order from its paid Checkout Session inside `tx`: a plan is linked to its
/// subscription (and its earlier instalments applied), tax is stored, and the order fulfilled.
pub async fn settle_session_in(
    tx: &mut Tx,
    state: &Ctx,
    order_id: i64,
    session: &Session,
) -> Result<(Fulfilled, Vec<After>), Error> {
    let mut after = Vec::new();
    if let Some(sub) = &session.subscription {
        store::set_subscription(tx, order_id, sub, session.customer.as_deref()).await?;
    }
    store::set_tax_and_invoice(tx, order_id, session.amount_tax, None).await?;
    let Some(order) = store::order_in_tx(tx, order_id).await? else {
        return Ok((Fulfilled::NotFound, after));
    };
    // A plan's first instalment may have been recorded already (its invoice.paid came first).
    let first_invoice = if order.is_plan() {
        session.invoice.as_deref()
    } else {
        None
    };
    let outcome = flows::fulfil_in(
        tx,
        state,
        order_id,
        session.payment_intent.as_deref(),
        session.amount_total,
        first_invoice,
    )
    .await?;
    if outcome == Fulfilled::Now {
        if let (true, Some(sub)) = (order.is_plan(), &session.subscription) {
            after.extend(apply_stashed(tx, state, &order, sub).await?);
            if let Some(at) = end_at(session.created, &order) {
                after.push(After::EndAt {
                    order_id,
                    subscription: sub.clone(),
                    at,
                });
            }
        } else if let Some(invoice) = &session.invoice {
            after.push(After::InvoiceLink {
                order_id,
                invoice: invoice.clone(),
            });
        }
    }
    Ok((outcome, after))
}

/// Instalments of `sub` that were paid before we could place them.
async fn apply_stashed(tx: &mut Tx, state: &Ctx, order: &Order, sub: &str) -> Result<Vec<After>, Error> {
    let mut after = Vec::new();
    for (invoice, pi, amount, _) in store::take_stashed(tx, sub).await? {
        after.extend(apply_payment(tx, state, order.id, &invoice, pi.as_deref(), amount).await?);
    }
    Ok(after)
}

/// Records one paid instalment of a running plan: resumes a paused plan, completes it at the last.
pub async fn apply_payment(
    tx: &mut Tx,
    state: &Ctx,
    order_id: i64,
    invoice: &str,
    payment_intent: Option<&str>,
    amount: i64,
) -> Result<Vec<After>, Error> {
    let now = state.clock.now();
    let mut after = Vec::new();
    if !store::record_payment(tx, order_id, invoice, payment_intent, amount, now).await? {
        store::fill_payment_intent(tx, invoice, payment_intent).await?;
        return Ok(after);
    }
    let Some(order) = store::order_in_tx(tx, order_id).await? else {
        return Ok(after);
    };
    if order.plan_state() == Some(PlanState::Paused) {
        store::move_plan(tx, order_id, &["paused"], "active", now).await?;
        let resumed = crate::enrollment::store::move_by_order(tx, order_id, "paused", "active", now).await?;
        tracing::info!(order_id, resumed, "plan paid again: access resumed");
    }
    let paid = store::payment_count(tx, order_id).await?;
    if paid >= order.plan_instalments.unwrap_or(i64::MAX)
        && store::move_plan(tx, order_id, &["active"], "complete", now).await?
    {
        tracing::info!(order_id, paid, "plan paid in full");
        if let Some(sub) = &order.subscription_id {
            after.push(After::Cancel {
                subscription: sub.clone(),
            });
        }
    }
    Ok(after)
}

/// The order a subscription's event is about: by the subscription we linked, else by the
/// `order_id` we put in its metadata (then linked now), if that order is a Stripe plan not yet
/// linked to another subscription.
async fn plan_order(
    tx: &mut Tx,
    subscription: &str,
    order_id: Option<i64>,
    customer: Option<&str>,
) -> Result<Option<Order>, Error> {
    if let Some(order) = store::order_by_subscription(tx, subscription).await? {
        return Ok(Some(order));
    }
    let Some(id) = order_id else {
        return Ok(None);
    };
    match store::order_in_tx(tx, id).await? {
        Some(order) if order.is_plan() && order.provider == "stripe" && order.subscription_id.is_none() => {
            store::set_subscription(tx, id, subscription, customer).await?;
            Ok(store::order_in_tx(tx, id).await?)
        }
        _ => Ok(None),
    }
}

/// `invoice.paid`: an instalment of a plan (or a one-time purchase's invoice: its link is kept).
/// Returns what was done, the Stripe calls to make, and an order whose refund is due.
pub async fn invoice_paid(
    tx: &mut Tx,
    state: &Ctx,
    invoice: &Invoice,
) -> Result<(Handled, Vec<After>, Option<i64>), Error> {
    let Some(sub) = &invoice.subscription else {
        return Ok((invoice_link(tx, invoice).await?, Vec::new(), None));
    };
    let now = state.clock.now();
    let Some(order) = plan_order(tx, sub, invoice.order_id, invoice.customer.as_deref()).await? else {
        // Not ours yet (checkout.session.completed will link it), or not ours at all.
        tracing::info!(invoice = %invoice.id, subscription = %sub, "an instalment for a subscription we cannot place yet: kept");
        store::stash_invoice(
            tx,
            &invoice.id,
            sub,
            invoice.payment_intent.as_deref(),
            invoice.amount_paid,
            now,
        )
        .await?;
        return Ok((Handled::Applied, Vec::new(), None));
    };
    if order.invoice_url.is_none() {
        store::set_tax_and_invoice(tx, order.id, None, invoice.hosted_invoice_url.as_deref()).await?;
    }
    let mut after = Vec::new();
    match order.status {
        // The first instalment came before checkout.session.completed: access starts now.
        OrderStatus::Pending => {
            match flows::fulfil_in(
                tx,
                state,
                order.id,
                invoice.payment_intent.as_deref(),
                Some(invoice.amount_paid),
                Some(&invoice.id),
            )
            .await?
            {
                Fulfilled::Now => {
                    after.extend(apply_stashed(tx, state, &order, sub).await?);
                    if let Some(at) = end_at(invoice.created, &order) {
                        after.push(After::EndAt {
                            order_id: order.id,
                            subscription: sub.clone(),
                            at,
                        });
                    }
                    Ok((Handled::Applied, after, None))
                }
                Fulfilled::Refused { charged: true, .. } => Ok((Handled::Applied, after, Some(order.id))),
                _ => Ok((Handled::Ignored, after, None)),
            }
        }
        OrderStatus::Paid => {
            after.extend(
                apply_payment(
                    tx,
                    state,
                    order.id,
                    &invoice.id,
                    invoice.payment_intent.as_deref(),
                    invoice.amount_paid,
                )
                .await?,
            );
            Ok((Handled::Applied, after, None))
        }
        _ => {
            tracing::warn!(order_id = order.id, invoice = %invoice.id, "an instalment for an order that is over: ignored");
            Ok((Handled::Ignored, after, None))
        }
    }
}

/// `invoice.finalized` / `invoice.paid` of a one-time purchase: keeps the invoice's link for the
/// receipt (found by the payment it was paid with).
pub async fn invoice_link(tx: &mut Tx, invoice: &Invoice) -> Result<Handled, Error> {
    let (Some(pi), Some(url)) = (&invoice.payment_intent, &invoice.hosted_invoice_url) else {
        return Ok(Handled::Ignored);
    };
    match store::order_by_payment_intent(tx, pi).await? {
        Some(order) => {
            store::set_tax_and_invoice(tx, order.id, None, Some(url)).await?;
            Ok(Handled::Applied)
        }
        None => Ok(Handled::Ignored),
    }
}

/// `customer.subscription.updated` / `.deleted`: Stripe gave up on an instalment (`unpaid`, or
/// the subscription ended before the plan was paid in full): the plan's seats pause.
pub async fn subscription_changed(
    tx: &mut Tx,
    state: &Ctx,
    sub: &Subscription,
    deleted: bool,
) -> Result<Handled, Error> {
    let Some(order) = plan_order(tx, &sub.id, sub.order_id, Some(&sub.customer)).await? else {
        tracing::info!(subscription = %sub.id, "a subscription that is none of our plans: ignored");
        return Ok(Handled::Ignored);
    };
    let gave_up = deleted || matches!(sub.status.as_str(), "unpaid" | "canceled" | "incomplete_expired");
    if !gave_up || order.status != OrderStatus::Paid {
        return Ok(Handled::Ignored);
    }
    let paid = store::payment_count(tx, order.id).await?;
    if paid >= order.plan_instalments.unwrap_or(0) {
        return Ok(Handled::Ignored); // paid in full: its end is expected
    }
    Ok(if pause(tx, state, &order, paid).await? {
        Handled::Applied
    } else {
        Handled::Ignored
    })
}

/// active → paused: the seats pause (progress kept) and the student is emailed, once per pause.
pub async fn pause(tx: &mut Tx, state: &Ctx, order: &Order, paid: i64) -> Result<bool, Error> {
    let now = state.clock.now();
    if !store::move_plan(tx, order.id, &["active"], "paused", now).await? {
        return Ok(false);
    }
    let paused = crate::enrollment::store::move_by_order(tx, order.id, "active", "paused", now).await?;
    tracing::warn!(
        order_id = order.id,
        paused,
        "plan payment failed for good: access paused"
    );
    if let (Some(email), Some(name)) = (&order.email, &order.name) {
        let site = &state.catalog().site;
        mail::enqueue(
            tx,
            state,
            Outgoing {
                to: email,
                to_name: name,
                subject: format!("Your payment plan at {} needs a new card", site.name),
                template: "plan_paused",
                ctx: context! {
                    number => flows::order_number(order.id),
                    paid,
                    instalments => order.plan_instalments,
                    plan_url => format!("{}/plans/{}", state.config.base_url, order.id),
                },
                category: Category::Transactional,
                dedupe_key: Some(format!("plan-paused:{}:{paid}", order.id)),
                campaign: None,
            },
        )
        .await?;
    }
    Ok(true)
}

/// Refunds a Stripe plan: cancels its subscription (no further payments), then refunds every
/// instalment received (each under its own idempotency key; one refunded before is skipped), then
/// ends the access. Stopped at the first refusal or silence, to be pressed again.
pub async fn refund_plan(state: &Ctx, order: &Order) -> Result<Refunded, Error> {
    let Some(gateway) = &state.stripe else {
        return Ok(Refunded::ProviderFailed("no Stripe to refund through".into()));
    };
    if let Some(sub) = &order.subscription_id
        && let Err(e) = gateway.cancel_subscription(sub).await
    {
        tracing::error!(order_id = order.id, error = %e, "refund: could not cancel the subscription");
        return Ok(if e.answered() {
            Refunded::ProviderFailed(e.to_string())
        } else {
            Refunded::NoAnswer(e.to_string())
        });
    }
    for payment in store::payments(&state.db, order.id).await? {
        if payment.refunded_at.is_some() || payment.amount_cents == 0 {
            continue;
        }
        let pi = match &payment.payment_intent_id {
            Some(pi) => Some(pi.clone()),
            None => match gateway.retrieve_invoice(&payment.stripe_invoice_id).await {
                Ok(invoice) => invoice.payment_intent,
                Err(e) => return Ok(Refunded::NoAnswer(e.to_string())),
            },
        };
        let Some(pi) = pi else {
            return Ok(Refunded::ProviderFailed(format!(
                "no payment found for invoice {}",
                payment.stripe_invoice_id
            )));
        };
        let key = format!(
            "{}-{}",
            stripe_api::refund_key(order.id, order.created_at, order.refund_attempt),
            payment.stripe_invoice_id
        );
        match gateway.refund(&pi, order.id, &key).await {
            Ok(_) => store::mark_payment_refunded(&state.db, &payment.stripe_invoice_id, state.clock.now()).await?,
            Err(e) if e.answered() => {
                store::next_refund_attempt(&state.db, order.id, order.refund_attempt).await?;
                return Ok(Refunded::ProviderFailed(e.to_string()));
            }
            Err(e) => return Ok(Refunded::NoAnswer(e.to_string())),
        }
    }
    let mut tx = state.db.begin().await?;
    let done = flows::mark_refunded(&mut tx, state, order).await?;
    tx.commit().await?;
    Ok(if done { Refunded::Done } else { Refunded::NotPaid })
}

/// The built-in test checkout's control: the next instalment is paid.
pub async fn test_collect(state: &Ctx, order: &Order) -> Result<bool, Error> {
    if order.provider != "test" || order.status != OrderStatus::Paid || !order.is_plan() {
        return Ok(false);
    }
    let mut tx = state.db.begin().await?;
    let paid = store::payment_count(&mut tx, order.id).await?;
    if paid >= order.plan_instalments.unwrap_or(0) {
        return Ok(false);
    }
    let invoice = format!("test_{}_{}", order.id, paid + 1);
    let amount = order.plan_amount_cents.unwrap_or(0);
    apply_payment(&mut tx, state, order.id, &invoice, None, amount).await?;
    tx.commit().await?;
    Ok(true)
}

/// The built-in test checkout's control: the next instalment fails for good (as when Stripe gives
/// up): access pauses and the student is emailed.
pub async fn test_fail(state: &Ctx, order: &Order) -> Result<bool, Error> {
    if order.provider != "test" || order.status != OrderStatus::Paid || order.plan_state() != Some(PlanState::Active) {
        return Ok(false);
    }
    let mut tx = state.db.begin().await?;
    let paid = store::payment_count(&mut tx, order.id).await?;
    let done = paid < order.plan_instalments.unwrap_or(0) && pause(&mut tx, state, order, paid).await?;
    tx.commit().await?;
    if done {
        state.mail_wakeup.notify_one();
    }
    Ok(done)
}

/// A Billing Portal session for the plan's customer (to update their card); its URL.
pub async fn portal(state: &Ctx, order: &Order) -> Result<Option<String>, Error> {
    let (Some(gateway), Some(customer)) = (&state.stripe, &order.customer_id) else {
        return Ok(None);
    };
    let back = format!("{}/plans/{}", state.config.base_url, order.id);
    match gateway.portal_session(customer, &back).await {
        Ok(url) => Ok(Some(url)),
        Err(e) => {
            tracing::error!(order_id = order.id, error = %e, "could not open the billing portal");
            Ok(None)
        }
    }
}
