//! Stripe's webhook events, applied idempotently, and the reconciliation of orders Stripe knows about.

use super::*;

/// What the webhook did with an event.
#[derive(Debug, PartialEq, Eq)]
pub enum Handled {
    Applied,
    /// Seen before (a replay or a second delivery): nothing done.
    Duplicate,
    /// A type we do not act on, or nothing to change.
    Ignored,
}

/// Handles a verified Stripe event, exactly once per event id: the id is recorded in the same
/// transaction as what the event changes.
pub async fn handle_event(state: &Ctx, event: stripe_webhook::Event) -> Result<Handled, Error> {
    use stripe_webhook::EventObject;
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    if !store::record_event(&mut tx, event.id.as_str(), event.type_.as_str(), now).await? {
        return Ok(Handled::Duplicate);
    }
    // A paid order that could not be fulfilled: refunded once the event is recorded.
    let mut refund_due: Option<i64> = None;
    // Stripe calls a plan event leads to, made once the event is recorded.
    let mut after: Vec<crate::payments::instalments::After> = Vec::new();
    let outcome = match event.data.object {
        EventObject::CheckoutSessionCompleted(s) | EventObject::CheckoutSessionAsyncPaymentSucceeded(s) => {
            let session = Session::from(&*s);
            // Only the session we created for the order may settle it.
            let ours = match session.order_id {
                Some(order_id) => store::order_in_tx(&mut tx, order_id)
                    .await?
                    .is_some_and(|o| o.checkout_session_id.as_deref() == Some(session.id.as_str())),
                None => false,
            };
            if !ours {
                tracing::warn!(session = %session.id, "a Checkout Session that is not one of our orders: ignored");
            }
            match session.order_id.filter(|_| ours) {
                Some(order_id) if session.paid => {
                    let (outcome, more) =
                        crate::payments::instalments::settle_session_in(&mut tx, state, order_id, &session).await?;
                    after.extend(more);
                    match outcome {
                        Fulfilled::Now | Fulfilled::RefundedFirst => Handled::Applied,
                        Fulfilled::Refused { charged: true, .. } => {
                            refund_due = Some(order_id);
                            Handled::Applied
                        }
                        _ => Handled::Ignored,
                    }
                }
                // Paid later (bank transfer and the like): remember the payment, wait for the next event.
                Some(order_id) => {
                    if let Some(pi) = &session.payment_intent {
                        store::set_payment_intent(&mut tx, order_id, pi).await?;
                    }
                    Handled::Ignored
                }
                None => Handled::Ignored,
            }
        }
        EventObject::CheckoutSessionAsyncPaymentFailed(s) => match Session::from(&*s).order_id {
            Some(order_id) if store::fail(&mut tx, order_id, "the payment failed", now).await? => Handled::Applied,
            _ => Handled::Ignored,
        },
        EventObject::ChargeRefunded(charge) => {
            let pi = charge.payment_intent.as_ref().map(|p| p.id().as_str().to_owned());
            match (pi, charge.refunded) {
                // A full refund: the order's access ends (or, if we have not seen it paid yet, it
                // never starts).
                (Some(pi), true) => match store::order_by_payment_intent(&mut tx, &pi).await? {
                    Some(order) if mark_refunded(&mut tx, state, &order).await? => Handled::Applied,
                    Some(order) if order.status == crate::domain::OrderStatus::Pending => {
                        store::record_early_refund(&mut tx, &pi, now).await?;
                        Handled::Applied
                    }
                    Some(_) => Handled::Ignored,
                    None => {
                        store::record_early_refund(&mut tx, &pi, now).await?;
                        Handled::Applied
                    }
                },
                (Some(pi), false) => {
                    tracing::info!(payment_intent = %pi, amount_refunded = charge.amount_refunded, "partial refund: access kept");
                    Handled::Ignored
                }
                (None, _) => Handled::Ignored,
            }
        }
        EventObject::InvoicePaid(invoice) => {
            let invoice = stripe_api::Invoice::from(&*invoice);
            let (handled, more, refund) = crate::payments::instalments::invoice_paid(&mut tx, state, &invoice).await?;
            after.extend(more);
            refund_due = refund_due.or(refund);
            handled
        }
        EventObject::InvoiceFinalized(invoice) => {
            crate::payments::instalments::invoice_link(&mut tx, &stripe_api::Invoice::from(&*invoice)).await?
        }
        EventObject::InvoicePaymentFailed(invoice) => {
            // Stripe retries on its schedule; nothing changes for the student until it gives up.
            let invoice = stripe_api::Invoice::from(&*invoice);
            tracing::warn!(invoice = %invoice.id, subscription = ?invoice.subscription, "a plan payment failed; Stripe will retry");
            Handled::Ignored
        }
        EventObject::CustomerSubscriptionUpdated(sub) => {
            crate::payments::instalments::subscription_changed(
                &mut tx,
                state,
                &stripe_api::Subscription::from(&*sub),
                false,
            )
            .await?
        }
        EventObject::CustomerSubscriptionDeleted(sub) => {
            crate::payments::instalments::subscription_changed(
                &mut tx,
                state,
                &stripe_api::Subscription::from(&*sub),
                true,
            )
            .await?
        }
        _ => Handled::Ignored,
    };
    tx.commit().await?;
    if outcome == Handled::Applied {
        state.mail_wakeup.notify_one();
    }
    crate::payments::instalments::run_after(state, after).await;
    if let Some(order_id) = refund_due {
        refund_unfulfilled(state, order_id).await?;
    }
    Ok(outcome)
}

/// The reconciliation job: asks Stripe about pending orders whose webhook never came.
pub async fn reconcile(state: &Ctx) -> Result<usize, Error> {
    let Some(gateway) = &state.stripe else {
        return Ok(0);
    };
    let before = state.clock.now() - RECONCILE_AFTER;
    let mut settled = 0;
    for (order_id, session_id) in store::stale_pending(&state.db, before, 50).await? {
        let session = match gateway.retrieve_session(&session_id).await {
            Ok(s) => {
                store::checked(&state.db, order_id, state.clock.now()).await?;
                s
            }
            // Down or hanging: the other orders would only wait out the timeout one by one.
            Err(e) if e.no_answer() => {
                tracing::warn!(order_id, error = %e, "reconcile: Stripe is not answering; will try again");
                break;
            }
            Err(e) => {
                tracing::warn!(order_id, error = %e, "reconcile: Stripe refused; will try again");
                continue;
            }
        };
        let Some(order) = store::order(&state.db, order_id).await? else {
            continue;
        };
        if session.paid {
            if matches!(
                fulfil_from_session(state, &order, &session).await?,
                Fulfilled::Now | Fulfilled::Refused { .. }
            ) {
                settled += 1;
            }
        } else if session.expired {
            let mut tx = state.db.begin().await?;
            store::move_status(&mut tx, order_id, "pending", "expired", state.clock.now()).await?;
            tx.commit().await?;
            settled += 1;
        }
    }
    // Refunds of paid orders that gave no access, whose first try found Stripe down or refusing.
    for order_id in store::refunds_due(&state.db, 50).await? {
        match refund_unfulfilled(state, order_id).await? {
            Refunded::Done => settled += 1,
            Refunded::NoAnswer(_) => break,
            _ => {}
        }
    }
    Ok(settled)
}
