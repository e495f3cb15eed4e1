//! The few Stripe calls we make (async-stripe), turned into our own small types: create and read a
//! Checkout Session, refund a payment, verify a webhook.

use std::collections::HashMap;
use std::time::Duration;

use stripe::{IdempotencyKey, RequestStrategy, StripeRequest};
use time::OffsetDateTime;

use stripe_checkout::checkout_session::{
    CreateCheckoutSession, CreateCheckoutSessionLineItems, CreateCheckoutSessionLineItemsPriceData, ProductData,
    RetrieveCheckoutSession,
};
use stripe_checkout::{CheckoutSession, CheckoutSessionMode, CheckoutSessionPaymentStatus, CheckoutSessionStatus};
use stripe_core::refund::CreateRefund;

/// Talks to Stripe (or to `STRIPE_API_BASE`).
pub struct Gateway {
    client: stripe::Client,
    pub webhook_secret: String,
    timeout: Duration,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Gateway { .. }") // no keys in logs
    }
}

/// What we need to know about a Checkout Session.
#[derive(Debug, Clone)]
pub struct Session {
    pub id: String,
    pub url: Option<String>,
    pub paid: bool,
    pub expired: bool,
    /// Still waiting for the buyer to pay.
    pub open: bool,
    pub payment_intent: Option<String>,
    pub amount_total: Option<i64>,
    /// Our order id, from `client_reference_id`.
    pub order_id: Option<i64>,
}

impl From<&CheckoutSession> for Session {
    fn from(s: &CheckoutSession) -> Session {
        Session {
            id: s.id.as_str().to_owned(),
            url: s.url.clone(),
            paid: matches!(
                s.payment_status,
                CheckoutSessionPaymentStatus::Paid | CheckoutSessionPaymentStatus::NoPaymentRequired
            ),
            expired: matches!(s.status, Some(CheckoutSessionStatus::Expired)),
            open: matches!(s.status, Some(CheckoutSessionStatus::Open)),
            payment_intent: s.payment_intent.as_ref().map(|p| p.id().as_str().to_owned()),
            amount_total: s.amount_total,
            order_id: s.client_reference_id.as_deref().and_then(|r| r.parse().ok()),
        }
    }
}

/// One line of a checkout: a program at the price we decided.
pub struct Line<'a> {
    pub title: &'a str,
    pub price_cents: i64,
}

pub struct NewSession<'a> {
    pub order_id: i64,
    /// [`checkout_key`] of the order.
    pub idempotency_key: String,
    pub currency: &'a str,
    pub lines: Vec<Line<'a>>,
    pub email: &'a str,
    pub success_url: String,
    pub cancel_url: String,
}

/// Why a call failed. Shown to the buyer only as the kind (no answer, unreachable, refused);
/// the words are for the log and the studio.
#[derive(Debug, thiserror::Error)]
pub enum StripeFailure {
    /// Nothing came back within `STRIPE_TIMEOUT`, connecting included.
    #[error("stripe: no answer within {0} s")]
    TimedOut(u64),
    /// The connection failed (refused, reset, TLS): Stripe may or may not have seen the request.
    #[error("stripe: cannot reach it: {0}")]
    Unreachable(String),
    /// Stripe answered with an error (its status and type).
    #[error("stripe: {0}")]
    Refused(String),
    /// An answer we could not read (an HTML page from a proxy in front of Stripe, say).
    #[error("stripe: unreadable answer: {0}")]
    Unreadable(String),
}

impl StripeFailure {
    /// Stripe did not answer at all (it is down or hanging): asking again now will not help.
    pub fn no_answer(&self) -> bool {
        matches!(self, StripeFailure::TimedOut(_) | StripeFailure::Unreachable(_))
    }

    /// Stripe itself answered, so it has stored that answer under the request's idempotency key
    /// (for 24 hours, errors included): a new attempt needs a new key.
    pub fn answered(&self) -> bool {
        matches!(self, StripeFailure::Refused(_))
    }
}

fn failure(e: stripe::StripeError, timeout: Duration) -> StripeFailure {
    match e {
        stripe::StripeError::Stripe(err, status) => StripeFailure::Refused(format!(
            "{status} {:?}: {}",
            err.type_,
            err.message.as_deref().unwrap_or("")
        )),
        stripe::StripeError::Timeout => StripeFailure::TimedOut(timeout.as_secs()),
        stripe::StripeError::ClientError(e) => StripeFailure::Unreachable(e),
        other => StripeFailure::Unreadable(other.to_string()),
    }
}

/// The idempotency key of an order's Checkout Session: one order, one session, however often the
/// request is sent. The creation time keeps it apart from an order with the same id in another
/// database (a restored backup, a second installation on the same Stripe account).
pub fn checkout_key(order_id: i64, created_at: OffsetDateTime) -> String {
    format!("learnwell-checkout-{order_id}-{}", created_at.unix_timestamp())
}

/// The idempotency key of an order's refund, per attempt: the same until Stripe answers, so a
/// refund whose answer was lost is not made twice; a new one after Stripe answered with an error,
/// which it would otherwise replay for a day.
pub fn refund_key(order_id: i64, created_at: OffsetDateTime, attempt: i64) -> String {
    format!("learnwell-refund-{order_id}-{}-{attempt}", created_at.unix_timestamp())
}

fn idempotent(key: &str) -> Result<RequestStrategy, StripeFailure> {
    IdempotencyKey::new(key)
        .map(RequestStrategy::Idempotent)
        .map_err(|e| StripeFailure::Unreadable(format!("idempotency key: {e}")))
}

impl Gateway {
    /// `timeout` bounds each call as a whole: async-stripe's client applies it per attempt
    /// (connecting, sending and reading the answer; its connector has no connect timeout of its
    /// own to set), and [`Gateway::call`] applies it once more around the call, whatever the
    /// request strategy.
    pub fn new(
        secret_key: &str,
        webhook_secret: &str,
        api_base: Option<&str>,
        timeout: Duration,
    ) -> anyhow::Result<Gateway> {
        let mut builder = stripe::ClientBuilder::new(secret_key).timeout(timeout);
        if let Some(base) = api_base {
            builder = builder.url(base);
        }
        let client = builder.build().map_err(|e| anyhow::anyhow!("stripe client: {e}"))?;
        Ok(Gateway {
            client,
            webhook_secret: webhook_secret.to_owned(),
            timeout,
        })
    }

    /// Runs one call within the timeout.
    async fn call<T>(
        &self,
        call: impl std::future::Future<Output = Result<T, stripe::StripeError>>,
    ) -> Result<T, StripeFailure> {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(result) => result.map_err(|e| failure(e, self.timeout)),
            Err(_) => Err(StripeFailure::TimedOut(self.timeout.as_secs())),
        }
    }

    pub async fn create_session(&self, new: &NewSession<'_>) -> Result<Session, StripeFailure> {
        let currency = new.currency.to_lowercase();
        let mut items = Vec::new();
        for line in &new.lines {
            let price_data = CreateCheckoutSessionLineItemsPriceData {
                currency: currency
                    .parse()
                    .map_err(|_| StripeFailure::Unreadable(format!("currency {currency}")))?,
                product: None,
                product_data: Some(ProductData::new(line.title)),
                recurring: None,
                tax_behavior: None,
                unit_amount: Some(line.price_cents),
                unit_amount_decimal: None,
            };
            items.push(CreateCheckoutSessionLineItems {
                price_data: Some(price_data),
                quantity: Some(1),
                ..Default::default()
            });
        }
        let metadata = HashMap::from([("order_id".to_owned(), new.order_id.to_string())]);
        let session = CreateCheckoutSession::new()
            .mode(CheckoutSessionMode::Payment)
            .line_items(items)
            .metadata(metadata)
            .client_reference_id(new.order_id.to_string())
            .customer_email(new.email)
            .success_url(new.success_url.as_str())
            .cancel_url(new.cancel_url.as_str())
            .allow_promotion_codes(true)
            .customize()
            .request_strategy(idempotent(&new.idempotency_key)?);
        let session = self.call(session.send(&self.client)).await?;
        Ok(Session::from(&session))
    }

    pub async fn retrieve_session(&self, id: &str) -> Result<Session, StripeFailure> {
        let session = self.call(RetrieveCheckoutSession::new(id).send(&self.client)).await?;
        Ok(Session::from(&session))
    }

    /// Refunds the whole payment; returns the refund's id. `idempotency_key`: [`refund_key`].
    pub async fn refund(
        &self,
        payment_intent: &str,
        order_id: i64,
        idempotency_key: &str,
    ) -> Result<String, StripeFailure> {
        let refund = CreateRefund::new()
            .payment_intent(payment_intent)
            .metadata(HashMap::from([("order_id".to_owned(), order_id.to_string())]))
            .customize()
            .request_strategy(idempotent(idempotency_key)?);
        let refund = self.call(refund.send(&self.client)).await?;
        Ok(refund.id.as_str().to_owned())
    }

    /// Reads the account's balance (a call any valid key may make, which changes nothing):
    /// whether the key works, and whether it is a live-mode key (`learnwell doctor`).
    pub async fn livemode(&self) -> Result<bool, StripeFailure> {
        let balance = self
            .call(stripe_core::balance::RetrieveForMyAccountBalance::new().send(&self.client))
            .await?;
        Ok(balance.livemode)
    }
}
