//! The few Stripe calls we make (async-stripe), turned into our own small types: create and read a
//! Checkout Session, refund a payment, verify a webhook.

use std::collections::HashMap;

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
    pub currency: &'a str,
    pub lines: Vec<Line<'a>>,
    pub email: &'a str,
    pub success_url: String,
    pub cancel_url: String,
}

/// Why a call failed, in words for the log (never shown to the buyer as is).
#[derive(Debug, thiserror::Error)]
#[error("stripe: {0}")]
pub struct StripeFailure(pub String);

fn failure(e: stripe::StripeError) -> StripeFailure {
    StripeFailure(match e {
        stripe::StripeError::Stripe(err, status) => {
            format!("{status} {:?}: {}", err.type_, err.message.as_deref().unwrap_or(""))
        }
        other => other.to_string(),
    })
}

impl Gateway {
    pub fn new(secret_key: &str, webhook_secret: &str, api_base: Option<&str>) -> anyhow::Result<Gateway> {
        let mut builder = stripe::ClientBuilder::new(secret_key);
        if let Some(base) = api_base {
            builder = builder.url(base);
        }
        let client = builder.build().map_err(|e| anyhow::anyhow!("stripe client: {e}"))?;
        Ok(Gateway {
            client,
            webhook_secret: webhook_secret.to_owned(),
        })
    }

    pub async fn create_session(&self, new: &NewSession<'_>) -> Result<Session, StripeFailure> {
        let currency = new.currency.to_lowercase();
        let mut items = Vec::new();
        for line in &new.lines {
            let price_data = CreateCheckoutSessionLineItemsPriceData {
                currency: currency
                    .parse()
                    .map_err(|_| StripeFailure(format!("currency {currency}")))?,
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
            .send(&self.client)
            .await
            .map_err(failure)?;
        Ok(Session::from(&session))
    }

    pub async fn retrieve_session(&self, id: &str) -> Result<Session, StripeFailure> {
        let session = RetrieveCheckoutSession::new(id)
            .send(&self.client)
            .await
            .map_err(failure)?;
        Ok(Session::from(&session))
    }

    /// Refunds the whole payment; returns the refund's id.
    pub async fn refund(&self, payment_intent: &str, order_id: i64) -> Result<String, StripeFailure> {
        let refund = CreateRefund::new()
            .payment_intent(payment_intent)
            .metadata(HashMap::from([("order_id".to_owned(), order_id.to_string())]))
            .send(&self.client)
            .await
            .map_err(failure)?;
        Ok(refund.id.as_str().to_owned())
    }
}
