//! The few Stripe calls we make (async-stripe), turned into our own small types: create and read a
//! Checkout Session, refund a payment, verify a webhook.

use std::collections::HashMap;
use std::time::Duration;

use stripe::{IdempotencyKey, RequestStrategy, StripeRequest};
use time::OffsetDateTime;

use stripe_billing::billing_portal_session::CreateBillingPortalSession;
use stripe_billing::invoice::RetrieveInvoice;
use stripe_billing::subscription::{
    CancelSubscription, UpdateSubscription, UpdateSubscriptionCancelAt, UpdateSubscriptionProrationBehavior,
};
use stripe_checkout::checkout_session::{
    CreateCheckoutSession, CreateCheckoutSessionAutomaticTax, CreateCheckoutSessionInvoiceCreation,
    CreateCheckoutSessionLineItems, CreateCheckoutSessionLineItemsPriceData,
    CreateCheckoutSessionLineItemsPriceDataRecurring, CreateCheckoutSessionLineItemsPriceDataRecurringInterval,
    CreateCheckoutSessionSubscriptionData, CreateCheckoutSessionTaxIdCollection, ProductData, RetrieveCheckoutSession,
};
use stripe_checkout::{
    CheckoutSession, CheckoutSessionBillingAddressCollection, CheckoutSessionMode, CheckoutSessionPaymentStatus,
    CheckoutSessionStatus,
};
use stripe_core::refund::CreateRefund;

/// Talks to Stripe (or to `STRIPE_API_BASE`).
pub struct Gateway {
    client: stripe::Client,
    pub webhook_secret: String,
    timeout: Duration,
    /// `STRIPE_AUTOMATIC_TAX`: Stripe Tax in Checkout (billing address and tax IDs collected).
    pub automatic_tax: bool,
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
    /// Subscription mode (a payment plan): the subscription that collects it.
    pub subscription: Option<String>,
    pub customer: Option<String>,
    /// The invoice made for the payment (`invoice_creation`, or a subscription's first).
    pub invoice: Option<String>,
    /// Tax Stripe added (automatic tax), from `total_details.amount_tax`.
    pub amount_tax: Option<i64>,
    pub created: i64,
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
            subscription: s.subscription.as_ref().map(|x| x.id().as_str().to_owned()),
            customer: s.customer.as_ref().map(|x| x.id().as_str().to_owned()),
            invoice: s
                .invoice
                .as_ref()
                .and_then(|x| x.id().as_ref().map(|i| i.as_str().to_owned())),
            amount_tax: s.total_details.as_ref().map(|t| t.amount_tax),
            created: s.created,
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
    /// A payment plan: subscription mode, one recurring line of the instalment amount.
    pub plan: Option<PlanLine<'a>>,
}

/// The recurring line of a plan's checkout.
pub struct PlanLine<'a> {
    pub title: &'a str,
    pub amount_cents: i64,
    pub interval: &'a str,
    pub instalments: i64,
}

/// What we need to know about an invoice (a plan's instalment, or a one-time purchase's invoice).
#[derive(Debug, Clone)]
pub struct Invoice {
    pub id: String,
    pub subscription: Option<String>,
    pub customer: Option<String>,
    pub amount_paid: i64,
    pub amount_tax: i64,
    pub hosted_invoice_url: Option<String>,
    pub payment_intent: Option<String>,
    /// `metadata[order_id]` of the subscription (or the invoice itself), when Stripe sent it.
    pub order_id: Option<i64>,
    pub created: i64,
}

impl From<&stripe_billing::Invoice> for Invoice {
    fn from(i: &stripe_billing::Invoice) -> Invoice {
        let parent_sub = i.parent.as_ref().and_then(|p| p.subscription_details.as_ref());
        let order_id = parent_sub
            .and_then(|d| d.metadata.as_ref())
            .and_then(|m| m.get("order_id"))
            .or_else(|| i.metadata.as_ref().and_then(|m| m.get("order_id")))
            .and_then(|v| v.parse().ok());
        let subscription = i
            .subscription
            .as_ref()
            .map(|s| s.id().as_str().to_owned())
            .or_else(|| parent_sub.map(|d| d.subscription.id().as_str().to_owned()));
        let payment_intent = i.payments.as_ref().and_then(|list| {
            list.data
                .iter()
                .find_map(|p| p.payment.payment_intent.as_ref().map(|pi| pi.id().as_str().to_owned()))
        });
        Invoice {
            id: i.id.as_ref().map(|x| x.as_str().to_owned()).unwrap_or_default(),
            subscription,
            customer: i.customer.as_ref().map(|c| c.id().as_str().to_owned()),
            amount_paid: i.amount_paid,
            amount_tax: i
                .total_taxes
                .as_ref()
                .map(|taxes| taxes.iter().map(|t| t.amount).sum())
                .unwrap_or(0),
            hosted_invoice_url: i.hosted_invoice_url.clone(),
            payment_intent,
            order_id,
            created: i.created,
        }
    }
}

/// What we need to know about a subscription (a plan).
#[derive(Debug, Clone)]
pub struct Subscription {
    pub id: String,
    pub status: String,
    pub order_id: Option<i64>,
    pub customer: String,
}

impl From<&stripe_billing::Subscription> for Subscription {
    fn from(s: &stripe_billing::Subscription) -> Subscription {
        Subscription {
            id: s.id.as_str().to_owned(),
            status: s.status.as_str().to_owned(),
            order_id: s.metadata.get("order_id").and_then(|v| v.parse().ok()),
            customer: s.customer.id().as_str().to_owned(),
        }
    }
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
            automatic_tax: false,
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
        let mut session = CreateCheckoutSession::new();
        if let Some(plan) = &new.plan {
            use CreateCheckoutSessionLineItemsPriceDataRecurringInterval as Every;
            let interval = match plan.interval {
                "day" => Every::Day,
                "week" => Every::Week,
                "year" => Every::Year,
                _ => Every::Month,
            };
            let mut recurring = CreateCheckoutSessionLineItemsPriceDataRecurring::new(interval);
            recurring.interval_count = Some(1);
            items = vec![CreateCheckoutSessionLineItems {
                price_data: Some(CreateCheckoutSessionLineItemsPriceData {
                    currency: currency
                        .parse()
                        .map_err(|_| StripeFailure::Unreadable(format!("currency {currency}")))?,
                    product: None,
                    product_data: Some(ProductData::new(plan.title)),
                    recurring: Some(recurring),
                    tax_behavior: None,
                    unit_amount: Some(plan.amount_cents),
                    unit_amount_decimal: None,
                }),
                quantity: Some(1),
                ..Default::default()
            }];
            let mut data = CreateCheckoutSessionSubscriptionData::new();
            data.metadata = Some(metadata.clone());
            data.description = Some(format!("{} payments of {}", plan.instalments, plan.title));
            session = session.mode(CheckoutSessionMode::Subscription).subscription_data(data);
        } else {
            session = session
                .mode(CheckoutSessionMode::Payment)
                .invoice_creation(CreateCheckoutSessionInvoiceCreation::new(true));
        }
        if self.automatic_tax {
            session = session
                .automatic_tax(CreateCheckoutSessionAutomaticTax::new(true))
                .billing_address_collection(CheckoutSessionBillingAddressCollection::Required)
                .tax_id_collection(CreateCheckoutSessionTaxIdCollection::new(true));
        }
        let session = session
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

    /// Ends a plan's subscription after its last instalment: `cancel_at` a day before the end of
    /// the last paid period, without proration, so Stripe bills exactly `instalments` times.
    pub async fn end_subscription_at(&self, id: &str, at: i64, key: &str) -> Result<(), StripeFailure> {
        let update = UpdateSubscription::new(id)
            .cancel_at(UpdateSubscriptionCancelAt::Timestamp(at))
            .proration_behavior(UpdateSubscriptionProrationBehavior::None)
            .customize()
            .request_strategy(idempotent(key)?);
        self.call(update.send(&self.client)).await?;
        Ok(())
    }

    /// Cancels a subscription now: no further invoices (a plan paid in full, or refunded).
    pub async fn cancel_subscription(&self, id: &str) -> Result<(), StripeFailure> {
        let cancel = CancelSubscription::new(id).prorate(false).invoice_now(false);
        match self.call(cancel.send(&self.client)).await {
            Ok(_) => Ok(()),
            // Already cancelled (by Stripe, or a second click): nothing left to stop.
            Err(StripeFailure::Refused(why)) if why.contains("canceled") || why.contains("cancelled") => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// A Billing Portal session for the customer (update their card); its URL.
    pub async fn portal_session(&self, customer: &str, return_url: &str) -> Result<String, StripeFailure> {
        let portal = CreateBillingPortalSession::new()
            .customer(customer)
            .return_url(return_url);
        let session = self.call(portal.send(&self.client)).await?;
        Ok(session.url)
    }

    pub async fn retrieve_invoice(&self, id: &str) -> Result<Invoice, StripeFailure> {
        let invoice = self.call(RetrieveInvoice::new(id).send(&self.client)).await?;
        Ok(Invoice::from(&invoice))
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
