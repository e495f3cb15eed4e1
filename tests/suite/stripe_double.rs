//! The Stripe test double (`tests/common/stripe.rs`) against the real async-stripe client and
//! webhook verifier: if these pass, what the double says is what async-stripe understands.

use crate::common;

use std::collections::HashMap;

use common::stripe::{Failure, StripeDouble, TEST_SECRET_KEY, TEST_WEBHOOK_SECRET, now, sign, sign_now};
use stripe::{ApiErrorsCode, ApiErrorsType, StripeError};
use stripe_checkout::checkout_session::{
    CreateCheckoutSession, CreateCheckoutSessionLineItems, CreateCheckoutSessionLineItemsPriceData, ProductData,
    RetrieveCheckoutSession,
};
use stripe_checkout::{CheckoutSession, CheckoutSessionMode, CheckoutSessionPaymentStatus, CheckoutSessionStatus};
use stripe_core::refund::CreateRefund;
use stripe_webhook::{EventObject, Webhook, WebhookError};

/// A one-off price for a course, in `currency`'s smallest unit.
fn price_line(name: &str, unit_amount: i64, quantity: u64) -> CreateCheckoutSessionLineItems {
    let price_data = CreateCheckoutSessionLineItemsPriceData {
        // `Currency` lives in async-stripe-types, which the app does not depend on by name:
        // `parse` into the (public) field reaches it anyway.
        currency: "usd".parse().expect("currency"),
        product: None,
        product_data: Some(ProductData {
            description: Some("Self-paced course".into()),
            ..ProductData::new(name)
        }),
        recurring: None,
        tax_behavior: None,
        unit_amount: Some(unit_amount),
        unit_amount_decimal: None,
    };
    CreateCheckoutSessionLineItems {
        price_data: Some(price_data),
        quantity: Some(quantity),
        ..Default::default()
    }
}

/// A checkout for order 12, as the payments code would create it.
fn checkout_request() -> CreateCheckoutSession {
    let metadata = HashMap::from([
        ("order_id".to_owned(), "12".to_owned()),
        ("note".to_owned(), "a & b = c".to_owned()),
    ]);
    CreateCheckoutSession::new()
        .mode(CheckoutSessionMode::Payment)
        .line_items(vec![
            price_line("Gut Foundations", 19_700, 1),
            price_line("Workbook", 2_500, 2),
        ])
        .metadata(metadata)
        .client_reference_id("order-12")
        .customer_email("ada+test@example.com")
        .success_url("http://localhost:3000/orders/12/thanks?session_id={CHECKOUT_SESSION_ID}")
        .cancel_url("http://localhost:3000/courses/gut-foundations")
        .allow_promotion_codes(true)
}

async fn create_session(stripe: &StripeDouble) -> CheckoutSession {
    checkout_request()
        .send(&stripe.client())
        .await
        .expect("create a checkout session")
}

#[tokio::test]
async fn creates_a_checkout_session_and_records_what_was_sent() {
    let stripe = StripeDouble::start().await;
    let client = stripe::ClientBuilder::new("sk_test_from_config")
        .url(stripe.base_url())
        .build()
        .expect("client");

    let session = checkout_request()
        .send(&client)
        .await
        .expect("create a checkout session");

    assert!(session.id.as_str().starts_with("cs_test_"), "{}", session.id);
    assert_eq!(
        session.url.as_deref(),
        Some(format!("{}pay/{}", stripe.base_url(), session.id).as_str())
    );
    assert_eq!(session.status, Some(CheckoutSessionStatus::Open));
    assert_eq!(session.payment_status, CheckoutSessionPaymentStatus::Unpaid);
    assert_eq!(session.mode, CheckoutSessionMode::Payment);
    assert_eq!(session.amount_total, Some(19_700 + 2 * 2_500));
    assert_eq!(
        session.currency.as_ref().map(ToString::to_string).as_deref(),
        Some("usd")
    );
    assert_eq!(session.client_reference_id.as_deref(), Some("order-12"));
    assert_eq!(session.customer_email.as_deref(), Some("ada+test@example.com"));
    assert_eq!(session.allow_promotion_codes, Some(true));
    let metadata = session.metadata.as_ref().expect("metadata");
    assert_eq!(metadata["order_id"], "12");
    assert_eq!(metadata["note"], "a & b = c");
    assert!(session.payment_intent.is_none());
    assert!(session.expires_at > session.created);

    // What the double was sent, decoded.
    let created = stripe.sessions_created();
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].id, session.id.as_str());
    let params = &created[0].params;
    assert_eq!(params.get("mode"), Some("payment"));
    assert_eq!(params.get("line_items[0][price_data][unit_amount]"), Some("19700"));
    assert_eq!(params.get("line_items[0][price_data][currency]"), Some("usd"));
    assert_eq!(
        params.get("line_items[0][price_data][product_data][name]"),
        Some("Gut Foundations")
    );
    assert_eq!(params.get("line_items[0][quantity]"), Some("1"));
    assert_eq!(params.get("line_items[1][quantity]"), Some("2"));
    assert_eq!(params.array_len("line_items"), 2);
    let items = params.array("line_items");
    assert_eq!(items[1].get("price_data[unit_amount]"), Some("2500"));
    assert_eq!(
        items[1].get("price_data[product_data][description]"),
        Some("Self-paced course")
    );
    assert_eq!(params.get("metadata[order_id]"), Some("12"));
    assert_eq!(params.get("metadata[note]"), Some("a & b = c"));
    assert_eq!(params.map("metadata").get("order_id").map(String::as_str), Some("12"));
    assert_eq!(params.get("client_reference_id"), Some("order-12"));
    assert_eq!(params.get("customer_email"), Some("ada+test@example.com"));
    assert_eq!(
        params.get("success_url"),
        Some("http://localhost:3000/orders/12/thanks?session_id={CHECKOUT_SESSION_ID}")
    );
    assert_eq!(
        params.get("cancel_url"),
        Some("http://localhost:3000/courses/gut-foundations")
    );
    assert_eq!(params.get("allow_promotion_codes"), Some("true"));

    let requests = stripe.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(
        (request.method.as_str(), request.path.as_str(), request.status),
        ("POST", "/v1/checkout/sessions", 200)
    );
    assert_eq!(request.header("Authorization"), Some("Bearer sk_test_from_config"));
    assert_eq!(request.header("stripe-version"), Some(common::stripe::API_VERSION));
    assert_eq!(
        request.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );

    // The stored JSON is what the API returns.
    let stored = stripe.session(session.id.as_str()).expect("stored session");
    assert_eq!(stored["amount_total"], 24_700);
    assert_eq!(stored["metadata"]["order_id"], "12");
}

#[tokio::test]
async fn retrieves_sessions_as_the_customer_leaves_them() {
    let stripe = StripeDouble::start().await;
    let client = stripe.client();

    // Paid by card.
    let session = create_session(&stripe).await;
    let pi = stripe.complete(session.id.as_str());
    assert!(pi.starts_with("pi_"), "{pi}");
    let paid = RetrieveCheckoutSession::new(session.id.as_str())
        .send(&client)
        .await
        .expect("retrieve");
    assert_eq!(paid.id, session.id);
    assert_eq!(paid.status, Some(CheckoutSessionStatus::Complete));
    assert_eq!(paid.payment_status, CheckoutSessionPaymentStatus::Paid);
    assert_eq!(paid.payment_intent.as_ref().map(|p| p.id().as_str()), Some(pi.as_str()));
    assert_eq!(paid.amount_total, Some(24_700));
    assert_eq!(
        paid.customer_details.as_ref().and_then(|d| d.email.as_deref()),
        Some("ada+test@example.com")
    );
    assert!(stripe.charge_id(&pi).expect("charge").starts_with("ch_"));

    // A delayed payment method: complete but not paid yet, then paid.
    let slow = create_session(&stripe).await;
    let slow_pi = stripe.complete_async_pending(slow.id.as_str());
    let pending = RetrieveCheckoutSession::new(slow.id.clone())
        .send(&client)
        .await
        .expect("retrieve");
    assert_eq!(pending.status, Some(CheckoutSessionStatus::Complete));
    assert_eq!(pending.payment_status, CheckoutSessionPaymentStatus::Unpaid);
    assert_eq!(
        pending.payment_intent.as_ref().map(|p| p.id().as_str()),
        Some(slow_pi.as_str())
    );
    assert_eq!(stripe.charge_id(&slow_pi), None);
    assert_eq!(stripe.async_payment_succeeded(slow.id.as_str()), slow_pi);
    let settled = RetrieveCheckoutSession::new(slow.id.clone())
        .send(&client)
        .await
        .expect("retrieve");
    assert_eq!(settled.payment_status, CheckoutSessionPaymentStatus::Paid);

    // Abandoned.
    let abandoned = create_session(&stripe).await;
    stripe.expire(abandoned.id.as_str());
    let expired = RetrieveCheckoutSession::new(abandoned.id.clone())
        .send(&client)
        .await
        .expect("retrieve");
    assert_eq!(expired.status, Some(CheckoutSessionStatus::Expired));
    assert_eq!(expired.payment_status, CheckoutSessionPaymentStatus::Unpaid);
    assert_eq!(expired.url, None);

    // Unknown.
    match RetrieveCheckoutSession::new("cs_test_nope").send(&client).await {
        Err(StripeError::Stripe(error, 404)) => {
            assert_eq!(error.type_, ApiErrorsType::InvalidRequestError);
            assert_eq!(error.code, Some(ApiErrorsCode::ResourceMissing));
        }
        other => panic!("expected a 404 Stripe error, got {other:?}"),
    }
    let last = stripe.requests().pop().expect("recorded");
    assert_eq!(
        (last.method.as_str(), last.path.as_str(), last.status),
        ("GET", "/v1/checkout/sessions/cs_test_nope", 404)
    );
}

#[tokio::test]
async fn refunds_a_payment_by_its_payment_intent() {
    let stripe = StripeDouble::start().await;
    let client = stripe.client();
    let session = create_session(&stripe).await;
    let pi = stripe.complete(session.id.as_str());

    let partial = CreateRefund::new()
        .payment_intent(pi.clone())
        .amount(5_000)
        .metadata(HashMap::from([("order_id".to_owned(), "12".to_owned())]))
        .send(&client)
        .await
        .expect("partial refund");
    assert!(partial.id.as_str().starts_with("re_"), "{}", partial.id);
    assert_eq!(partial.amount, 5_000);
    assert_eq!(partial.currency.to_string(), "usd");
    assert_eq!(partial.status.as_deref(), Some("succeeded"));
    assert_eq!(
        partial.payment_intent.as_ref().map(|p| p.id().as_str()),
        Some(pi.as_str())
    );
    let charge = stripe.charge_id(&pi).expect("charge");
    assert_eq!(partial.charge.as_ref().map(|c| c.id().as_str()), Some(charge.as_str()));

    let refunds = stripe.refunds();
    assert_eq!(refunds.len(), 1);
    assert_eq!(refunds[0].id, partial.id.as_str());
    assert_eq!(refunds[0].params.get("payment_intent"), Some(pi.as_str()));
    assert_eq!(refunds[0].params.get("amount"), Some("5000"));
    assert_eq!(refunds[0].params.get("metadata[order_id]"), Some("12"));

    // Without an amount: the rest; by charge id works too.
    let rest = CreateRefund::new()
        .charge(charge.clone())
        .send(&client)
        .await
        .expect("refund the rest");
    assert_eq!(rest.amount, 24_700 - 5_000);
    let charge_json = stripe.charge(&pi).expect("charge json");
    assert_eq!(charge_json["amount_refunded"], 24_700);
    assert_eq!(charge_json["refunded"], true);

    // Nothing left to refund.
    match CreateRefund::new().payment_intent(pi.clone()).send(&client).await {
        Err(StripeError::Stripe(error, 400)) => {
            assert_eq!(error.code, Some(ApiErrorsCode::ChargeAlreadyRefunded));
        }
        other => panic!("expected charge_already_refunded, got {other:?}"),
    }
    // An unknown payment.
    match CreateRefund::new().payment_intent("pi_unknown").send(&client).await {
        Err(StripeError::Stripe(error, 400)) => {
            assert_eq!(error.type_, ApiErrorsType::InvalidRequestError);
            assert_eq!(error.code, Some(ApiErrorsCode::ResourceMissing));
            assert_eq!(error.param.as_deref(), Some("payment_intent"));
        }
        other => panic!("expected resource_missing, got {other:?}"),
    }
    assert_eq!(stripe.refunds().len(), 2);
}

#[tokio::test]
async fn failures_surface_as_the_client_reports_them() {
    let stripe = StripeDouble::start().await;
    let client = stripe.client();

    stripe.fail_next(1, Failure::api_error());
    match checkout_request().send(&client).await {
        Err(StripeError::Stripe(error, 500)) => assert_eq!(error.type_, ApiErrorsType::ApiError),
        other => panic!("expected a 500 Stripe error, got {other:?}"),
    }
    stripe.fail_next(1, Failure::card_declined());
    match checkout_request().send(&client).await {
        Err(StripeError::Stripe(error, 402)) => {
            assert_eq!(error.type_, ApiErrorsType::CardError);
            assert_eq!(error.code, Some(ApiErrorsCode::CardDeclined));
        }
        other => panic!("expected a 402 card error, got {other:?}"),
    }
    stripe.fail_next(1, Failure::html(502));
    assert!(matches!(
        checkout_request().send(&client).await,
        Err(StripeError::JSONDeserialize(_))
    ));
    // Failed calls create nothing, but are recorded; the next call goes through.
    assert!(stripe.sessions_created().is_empty());
    let statuses: Vec<u16> = stripe.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [500, 402, 502]);
    checkout_request().send(&client).await.expect("works again");

    // No key, or not a secret key: 401.
    for key in ["", "pk_test_publishable"] {
        let keyless = stripe::ClientBuilder::new(key)
            .url(stripe.base_url())
            .build()
            .expect("client");
        match checkout_request().send(&keyless).await {
            Err(StripeError::Stripe(error, 401)) => assert_eq!(error.type_, ApiErrorsType::InvalidRequestError),
            other => panic!("expected a 401, got {other:?}"),
        }
    }
    // A refund that names no payment.
    match CreateRefund::new().send(&client).await {
        Err(StripeError::Stripe(error, 400)) => assert_eq!(error.param.as_deref(), Some("payment_intent")),
        other => panic!("expected a 400, got {other:?}"),
    }
}

#[tokio::test]
async fn a_stopped_server_refuses_connections() {
    let stripe = StripeDouble::start().await;
    let client = stripe.client();
    stripe.stop().await;
    assert!(!stripe.is_running());
    match checkout_request().send(&client).await {
        Err(StripeError::ClientError(_)) => {}
        other => panic!("expected a client error, got {other:?}"),
    }
    assert!(stripe.requests().is_empty());

    stripe.resume().await;
    let session = checkout_request().send(&client).await.expect("up again");
    assert!(stripe.session(session.id.as_str()).is_some());
}

#[tokio::test]
async fn signed_events_pass_the_real_webhook_verifier() {
    let stripe = StripeDouble::start().await;
    let secret = TEST_WEBHOOK_SECRET;

    let paid = create_session(&stripe).await;
    let pi = stripe.complete(paid.id.as_str());
    let completed = stripe.event_checkout_session_completed(paid.id.as_str());
    let event = Webhook::construct_event(&completed, &sign_now(&completed, secret), secret).expect("completed");
    assert!(event.id.as_str().starts_with("evt_"));
    assert_eq!(event.type_.as_str(), "checkout.session.completed");
    match event.data.object {
        EventObject::CheckoutSessionCompleted(session) => {
            assert_eq!(session.id, paid.id);
            assert_eq!(session.payment_status, CheckoutSessionPaymentStatus::Paid);
            assert_eq!(
                session.payment_intent.as_ref().map(|p| p.id().as_str()),
                Some(pi.as_str())
            );
            assert_eq!(session.client_reference_id.as_deref(), Some("order-12"));
            assert_eq!(session.metadata.as_ref().map(|m| m["order_id"].as_str()), Some("12"));
        }
        other => panic!("expected CheckoutSessionCompleted, got {other:?}"),
    }

    let slow = create_session(&stripe).await;
    stripe.complete_async_pending(slow.id.as_str());
    stripe.async_payment_succeeded(slow.id.as_str());
    let succeeded = stripe.event_checkout_session_async_payment_succeeded(slow.id.as_str());
    let event = Webhook::construct_event(&succeeded, &sign_now(&succeeded, secret), secret).expect("succeeded");
    match event.data.object {
        EventObject::CheckoutSessionAsyncPaymentSucceeded(session) => {
            assert_eq!(session.id, slow.id);
            assert_eq!(session.payment_status, CheckoutSessionPaymentStatus::Paid);
        }
        other => panic!("expected CheckoutSessionAsyncPaymentSucceeded, got {other:?}"),
    }

    let failed_session = create_session(&stripe).await;
    stripe.complete_async_pending(failed_session.id.as_str());
    stripe.async_payment_failed(failed_session.id.as_str());
    let failed = stripe.event_checkout_session_async_payment_failed(failed_session.id.as_str());
    let event = Webhook::construct_event(&failed, &sign_now(&failed, secret), secret).expect("failed");
    match event.data.object {
        EventObject::CheckoutSessionAsyncPaymentFailed(session) => {
            assert_eq!(session.id, failed_session.id);
            assert_eq!(session.payment_status, CheckoutSessionPaymentStatus::Unpaid);
        }
        other => panic!("expected CheckoutSessionAsyncPaymentFailed, got {other:?}"),
    }

    CreateRefund::new()
        .payment_intent(pi.clone())
        .amount(4_700)
        .send(&stripe.client())
        .await
        .expect("refund");
    let refund = stripe.dashboard_refund(&pi, None);
    assert_eq!(refund["amount"], 20_000);
    let refunded = stripe.event_charge_refunded(&pi);
    let event = Webhook::construct_event(&refunded, &sign_now(&refunded, secret), secret).expect("refunded");
    match event.data.object {
        EventObject::ChargeRefunded(charge) => {
            assert_eq!(
                charge.payment_intent.as_ref().map(|p| p.id().as_str()),
                Some(pi.as_str())
            );
            assert_eq!(charge.amount, 24_700);
            assert_eq!(charge.amount_refunded, 24_700);
            assert!(charge.refunded);
            let refunds = charge.refunds.expect("refunds list");
            assert_eq!(refunds.data.len(), 2);
            assert_eq!(refunds.data[0].amount, 20_000);
        }
        other => panic!("expected ChargeRefunded, got {other:?}"),
    }

    let unknown = stripe.event_unknown();
    let event = Webhook::construct_event(&unknown, &sign_now(&unknown, secret), secret).expect("unknown");
    assert!(
        matches!(event.data.object, EventObject::Unknown(_)),
        "{:?}",
        event.data.object
    );
}

#[tokio::test]
async fn the_webhook_verifier_rejects_bad_signatures_and_stale_events() {
    let stripe = StripeDouble::start().await;
    let session = create_session(&stripe).await;
    stripe.complete(session.id.as_str());
    let payload = stripe.event_checkout_session_completed(session.id.as_str());
    let secret = TEST_WEBHOOK_SECRET;

    // The double signs exactly as async-stripe's own test helper does.
    let ts = now();
    assert_eq!(
        sign(&payload, secret, ts),
        Webhook::generate_test_header(&payload, secret, Some(ts))
    );

    // A replay of the same bytes verifies again (the app must de-duplicate by event id).
    let header = sign(&payload, secret, ts);
    let first = Webhook::construct_event(&payload, &header, secret).expect("first delivery");
    let again = Webhook::construct_event(&payload, &header, secret).expect("second delivery");
    assert_eq!(first.id, again.id);
    // Building the event again gives a new event id.
    let rebuilt = stripe.event_checkout_session_completed(session.id.as_str());
    let rebuilt = Webhook::construct_event(&rebuilt, &sign_now(&rebuilt, secret), secret).expect("rebuilt");
    assert_ne!(first.id, rebuilt.id);

    assert!(matches!(
        Webhook::construct_event(&payload, &sign_now(&payload, "whsec_someone_else"), secret),
        Err(WebhookError::BadSignature)
    ));
    let tampered = payload.replace("order-12", "order-13");
    assert!(matches!(
        Webhook::construct_event(&tampered, &header, secret),
        Err(WebhookError::BadSignature)
    ));
    assert!(matches!(
        Webhook::construct_event(&payload, &sign(&payload, secret, now() - 301), secret),
        Err(WebhookError::BadTimestamp(_))
    ));
    // Just inside the tolerance still passes.
    Webhook::construct_event(&payload, &sign(&payload, secret, now() - 290), secret).expect("290 s old");
    // A secret key is not a webhook secret.
    assert!(Webhook::construct_event(&payload, &header, TEST_SECRET_KEY).is_err());
}

/// A plan: a subscription-mode session with one monthly price; completed, it has a customer, a
/// subscription and a paid first invoice, which async-stripe's own types read, as they read the
/// subscription calls, invoices, Billing Portal sessions and the plan events.
#[tokio::test]
async fn subscriptions_invoices_and_portal_sessions_decode_with_async_stripe() {
    use stripe_billing::billing_portal_session::CreateBillingPortalSession;
    use stripe_billing::invoice::RetrieveInvoice;
    use stripe_billing::subscription::{
        CancelSubscription, RetrieveSubscription, UpdateSubscription, UpdateSubscriptionCancelAt,
    };
    use stripe_checkout::checkout_session::{
        CreateCheckoutSessionLineItemsPriceDataRecurring, CreateCheckoutSessionLineItemsPriceDataRecurringInterval,
        CreateCheckoutSessionSubscriptionData,
    };

    let stripe = StripeDouble::start().await;
    let client = stripe.client();
    let mut line = price_line("Gut Foundations, 3 monthly payments", 6900, 1);
    if let Some(price) = line.price_data.as_mut() {
        price.recurring = Some(CreateCheckoutSessionLineItemsPriceDataRecurring::new(
            CreateCheckoutSessionLineItemsPriceDataRecurringInterval::Month,
        ));
    }
    let mut data = CreateCheckoutSessionSubscriptionData::new();
    data.metadata = Some(HashMap::from([("order_id".to_owned(), "7".to_owned())]));
    let session = CreateCheckoutSession::new()
        .mode(CheckoutSessionMode::Subscription)
        .line_items(vec![line])
        .subscription_data(data)
        .success_url("https://learnwell.example/ok")
        .send(&client)
        .await
        .expect("a subscription-mode session");
    // A one-off price in subscription mode is refused, as Stripe refuses it.
    let refused = CreateCheckoutSession::new()
        .mode(CheckoutSessionMode::Subscription)
        .line_items(vec![price_line("Gut Foundations", 19_700, 1)])
        .success_url("https://learnwell.example/ok")
        .send(&client)
        .await;
    assert!(matches!(refused, Err(StripeError::Stripe(_, 400))), "{refused:?}");

    stripe.complete(session.id.as_str());
    let done = RetrieveCheckoutSession::new(session.id.as_str())
        .send(&client)
        .await
        .expect("session");
    assert_eq!(done.payment_status, CheckoutSessionPaymentStatus::Paid);
    let sub_id = done
        .subscription
        .as_ref()
        .expect("a subscription")
        .id()
        .as_str()
        .to_owned();
    let customer = done.customer.as_ref().expect("a customer").id().as_str().to_owned();
    let first = done
        .invoice
        .as_ref()
        .and_then(|i| i.id().clone())
        .expect("a first invoice");

    let sub = RetrieveSubscription::new(sub_id.as_str())
        .send(&client)
        .await
        .expect("subscription");
    assert_eq!(sub.status.as_str(), "active");
    assert_eq!(sub.metadata["order_id"], "7");
    let at = now() + 75 * 86_400;
    let updated = UpdateSubscription::new(sub_id.as_str())
        .cancel_at(UpdateSubscriptionCancelAt::Timestamp(at))
        .send(&client)
        .await
        .expect("update");
    assert_eq!(updated.cancel_at, Some(at));

    let invoice = RetrieveInvoice::new(first.clone())
        .send(&client)
        .await
        .expect("invoice");
    assert_eq!(invoice.amount_paid, 6900);
    assert_eq!(
        invoice.subscription.as_ref().map(|s| s.id().as_str()),
        Some(sub_id.as_str())
    );
    let pi = invoice
        .payments
        .as_ref()
        .and_then(|p| p.data.first())
        .and_then(|p| p.payment.payment_intent.clone());
    assert!(pi.is_some(), "paid with a PaymentIntent");
    assert!(invoice.hosted_invoice_url.is_some());

    let portal = CreateBillingPortalSession::new()
        .customer(customer.as_str())
        .return_url("https://learnwell.example/plans/7")
        .send(&client)
        .await
        .expect("portal session");
    assert!(portal.url.starts_with(&format!("{}portal/bps_", stripe.base_url())));
    assert_eq!(stripe.portal_sessions().len(), 1);
    let unknown = CreateBillingPortalSession::new()
        .customer("cus_nobody")
        .send(&client)
        .await;
    assert!(matches!(unknown, Err(StripeError::Stripe(_, 400))), "{unknown:?}");

    // The plan's events, through the real verifier, as the typed objects.
    let secret = TEST_WEBHOOK_SECRET;
    let second = stripe.pay_next_invoice(&sub_id);
    let failed = stripe.fail_next_invoice(&sub_id);
    stripe.give_up(&sub_id);
    for (payload, kind) in [
        (stripe.event_invoice_paid(&second), "invoice.paid"),
        (stripe.event_invoice_payment_failed(&failed), "invoice.payment_failed"),
        (stripe.event_invoice_finalized(&failed), "invoice.finalized"),
        (
            stripe.event_subscription_updated(&sub_id),
            "customer.subscription.updated",
        ),
    ] {
        let event = Webhook::construct_event(&payload, &sign_now(&payload, secret), secret).expect(kind);
        match (kind, event.data.object) {
            ("invoice.paid", EventObject::InvoicePaid(i)) => {
                assert_eq!(i.id.as_ref().map(|x| x.as_str()), Some(second.as_str()));
                let parent = i
                    .parent
                    .as_ref()
                    .and_then(|p| p.subscription_details.as_ref())
                    .expect("parent");
                assert_eq!(parent.metadata.as_ref().map(|m| m["order_id"].as_str()), Some("7"));
            }
            ("invoice.payment_failed", EventObject::InvoicePaymentFailed(i)) => assert_eq!(i.amount_paid, 0),
            ("invoice.finalized", EventObject::InvoiceFinalized(_)) => {}
            ("customer.subscription.updated", EventObject::CustomerSubscriptionUpdated(s)) => {
                assert_eq!(s.status.as_str(), "unpaid");
            }
            (kind, other) => panic!("{kind}: got {other:?}"),
        }
    }
    let cancelled = CancelSubscription::new(sub_id.as_str())
        .send(&client)
        .await
        .expect("cancel");
    assert_eq!(cancelled.status.as_str(), "canceled");
    let deleted = stripe.event_subscription_deleted(&sub_id);
    let event = Webhook::construct_event(&deleted, &sign_now(&deleted, secret), secret).expect("deleted");
    assert!(matches!(event.data.object, EventObject::CustomerSubscriptionDeleted(_)));
}
