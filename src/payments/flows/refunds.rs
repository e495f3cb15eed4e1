//! Refunds: at Stripe with idempotency keys (every instalment of a plan), then access ends.

use super::*;

#[derive(Debug, PartialEq, Eq)]
pub enum Refunded {
    Done,
    NotPaid,
    NotFound,
    /// Stripe refused: nothing changed.
    ProviderFailed(String),
    /// Stripe did not answer: nothing changed here, and whether Stripe made the refund is not
    /// known yet. Trying again sends the same request (the same idempotency key), so Stripe
    /// makes it at most once; its `charge.refunded` webhook settles it too.
    NoAnswer(String),
}

/// Refunds a paid order through Stripe (nothing to call for a test order), then marks it refunded
/// and ends the access it gave.
pub async fn refund(state: &Ctx, order_id: i64) -> Result<Refunded, Error> {
    let Some(order) = store::order(&state.db, order_id).await? else {
        return Ok(Refunded::NotFound);
    };
    if order.status == crate::domain::OrderStatus::Refunded {
        return Ok(Refunded::Done); // a double click, or Stripe's webhook came first
    }
    if order.status != crate::domain::OrderStatus::Paid {
        return Ok(Refunded::NotPaid);
    }
    if order.is_plan() && order.provider == "stripe" {
        return crate::payments::instalments::refund_plan(state, &order).await;
    }
    // Nothing was charged (a 100% promotion code): nothing to refund at Stripe, only access to end.
    let charged = order.amount_paid_cents.unwrap_or(order.total_cents) > 0;
    if order.provider == "stripe" && charged {
        let (Some(gateway), Some(pi)) = (&state.stripe, &order.payment_intent_id) else {
            return Ok(Refunded::ProviderFailed("no Stripe payment to refund".into()));
        };
        let key = stripe_api::refund_key(order.id, order.created_at, order.refund_attempt);
        match gateway.refund(pi, order.id, &key).await {
            Ok(_) => {}
            Err(e) if e.answered() => {
                tracing::error!(order_id, error = %e, "refund refused");
                store::next_refund_attempt(&state.db, order.id, order.refund_attempt).await?;
                return Ok(Refunded::ProviderFailed(e.to_string()));
            }
            Err(e) => {
                tracing::error!(order_id, error = %e, "refund: no answer from Stripe");
                return Ok(Refunded::NoAnswer(e.to_string()));
            }
        }
    }
    let mut tx = state.db.begin().await?;
    let done = mark_refunded(&mut tx, state, &order).await?;
    tx.commit().await?;
    if done && order.failure.is_some() {
        state.mail_wakeup.notify_one();
    }
    Ok(if done { Refunded::Done } else { Refunded::NotPaid })
}

/// paid → refunded, ending the access the order gave. An order that gave none (it was paid for a
/// program the buyer had, or that had closed) gets the buyer an email saying why the money went
/// back, in the same transaction.
pub(in crate::payments) async fn mark_refunded(tx: &mut Tx, state: &Ctx, order: &Order) -> Result<bool, Error> {
    let now = state.clock.now();
    if !store::move_status(tx, order.id, "paid", "refunded", now).await? {
        return Ok(false);
    }
    if order.is_plan() {
        store::move_plan(tx, order.id, &["active", "paused", "complete"], "cancelled", now).await?;
    }
    let revoked = crate::enrollment::store::revoke_by_order(tx, order.id, now).await?;
    tracing::info!(order_id = order.id, revoked, "order refunded: access ended");
    if let (Some(why), Some(email), Some(name)) = (&order.failure, &order.email, &order.name) {
        let items = store::items(tx, order.id).await?;
        mail::enqueue(
            tx,
            state,
            Outgoing {
                to: email,
                to_name: name,
                subject: format!("Your payment was refunded: order {}", order_number(order.id)),
                template: "order_refunded",
                ctx: context! {
                    number => order_number(order.id),
                    items => minijinja::value::Serde(&items),
                    amount => order.amount_paid_cents.unwrap_or(order.total_cents),
                    currency => order.currency.clone(),
                    why => why.clone(),
                    dashboard_url => format!("{}/dashboard", state.config.base_url),
                },
                category: Category::Transactional,
                dedupe_key: Some(format!("unfulfilled-refund:{}", order.id)),
                campaign: None,
            },
        )
        .await?;
    }
    Ok(true)
}
