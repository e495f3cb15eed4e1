//! Enrollment and payment: Stripe Checkout against a local Stripe double (form-encoded requests,
//! Stripe's JSON, webhooks signed as Stripe signs them), and the built-in test checkout.

use crate::common;

use common::blackhole::{BlackHole, http_header};
use common::stripe::{Failure, StripeDouble, TEST_SECRET_KEY, TEST_WEBHOOK_SECRET, now, sign, sign_now};
use common::{AppOptions, Backend, TestApp, new_client};
use learnwell::db::Db;
use learnwell::db_run;
use reqwest::StatusCode;
use time::Duration;

const PW: &str = "a calm long passphrase";
const GUT: &str = "gut-foundations";
const SKIN: &str = "skin-from-within";
/// A lesson of Gut Foundations that is not a free preview.
const GUT_LESSON: &str = "/courses/gut-foundations/lessons/what-your-microbes-do";

both_backends!(
    test_mode_checkout_grants_access_once,
    stripe_checkout_then_webhook_grants_access_once,
    the_success_page_fulfils_when_the_webhook_is_late,
    webhook_and_success_page_at_the_same_moment,
    forged_stale_and_unknown_webhooks_change_nothing,
    a_refund_reported_before_the_payment_grants_nothing,
    async_payments_wait_for_their_outcome,
    stripe_down_at_checkout_charges_nothing,
    the_bundle_is_one_purchase_of_both,
    early_bird_prices_for_pre_enrollees_within_the_window,
    refunds_from_the_studio_and_from_stripe_end_access,
    prices_come_from_the_server_not_the_form,
    lessons_open_only_to_who_may_read_them,
    orders_whose_webhook_never_came_are_reconciled,
    a_second_checkout_goes_back_to_the_open_one,
    stripe_sees_one_idempotency_key_per_order_and_per_refund_attempt,
    the_test_checkout_never_grants_twice_nor_into_a_closed_program,
    a_stripe_payment_that_cannot_be_fulfilled_is_refunded_once,
    two_payments_for_one_program_at_the_same_moment_grant_once,
);

async fn count(db: &Db, sql: &str) -> i64 {
    db_run!(db, pool => sqlx::query_scalar::<_, i64>(sql).fetch_one(pool).await).unwrap()
}

async fn order_status(db: &Db, id: i64) -> String {
    db_run!(db, pool => sqlx::query_scalar::<_, String>("SELECT status FROM orders WHERE id = $1").bind(id).fetch_one(pool).await).unwrap()
}

/// The app wired to a Stripe double; every program open.
async fn with_stripe(backend: &Backend) -> (TestApp, StripeDouble) {
    with_stripe_env(backend, &[]).await
}

async fn with_stripe_env(backend: &Backend, extra: &[(&str, &str)]) -> (TestApp, StripeDouble) {
    let stripe = StripeDouble::start().await;
    let base = stripe.base_url();
    let mut env = vec![
        ("STRIPE_SECRET_KEY", TEST_SECRET_KEY),
        ("STRIPE_WEBHOOK_SECRET", TEST_WEBHOOK_SECRET),
        ("STRIPE_API_BASE", base.as_str()),
    ];
    env.extend_from_slice(extra);
    let app = TestApp::spawn_with(backend, AppOptions::env(&env)).await;
    open_all(&app).await;
    (app, stripe)
}

async fn open_all(app: &TestApp) {
    for slug in [GUT, SKIN] {
        learnwell::launch::launch_now(&app.state, slug, None).await.unwrap();
    }
}

/// A student whose email is confirmed, signed in.
async fn student(app: &TestApp, name: &str, email: &str) -> reqwest::Client {
    let client = app.signup(name, email, PW).await;
    for slug in ["gut-foundations", "skin-from-within"] {
        app.acknowledged(email, slug).await;
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let link = loop {
        if let Some(m) = app.smtp.to(email).iter().find(|m| m.text().contains("/verify-email")) {
            break m.link("/verify-email");
        }
        assert!(std::time::Instant::now() < deadline, "no confirmation email to {email}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    app.get_with(&client, link.trim_start_matches(&app.base)).await;
    client
}

/// Starts a Stripe checkout; returns (session id, our order id).
async fn checkout(app: &TestApp, stripe: &StripeDouble, client: &reqwest::Client, courses: &[&str]) -> (String, i64) {
    let fields: Vec<(&str, &str)> = courses.iter().map(|c| ("course", *c)).collect();
    let res = app.post_form(client, "/checkout", &fields).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.text("h1"));
    let url = res.header("location").to_owned();
    assert!(url.starts_with(&format!("{}pay/cs_", stripe.base_url())), "{url}");
    let session_id = url.rsplit('/').next().unwrap().to_owned();
    let order: i64 = stripe.session(&session_id).unwrap()["client_reference_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    (session_id, order)
}

async fn deliver(app: &TestApp, payload: &str, signature: Option<&str>) -> StatusCode {
    let mut req = reqwest::Client::new()
        .post(app.url("/webhooks/stripe"))
        .header("Content-Type", "application/json")
        .body(payload.to_owned());
    if let Some(sig) = signature {
        req = req.header("Stripe-Signature", sig);
    }
    req.send().await.unwrap().status()
}

async fn deliver_signed(app: &TestApp, payload: &str) -> StatusCode {
    deliver(app, payload, Some(&sign_now(payload, TEST_WEBHOOK_SECRET))).await
}

fn receipts(app: &TestApp, email: &str) -> usize {
    app.smtp
        .to(email)
        .iter()
        .filter(|m| m.subject().contains("receipt"))
        .count()
}

async fn wait_receipts(app: &TestApp, email: &str, n: usize) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while receipts(app, email) < n {
        assert!(std::time::Instant::now() < deadline, "no receipt to {email}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

async fn test_mode_checkout_grants_access_once(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    open_all(&app).await;
    let program = app.get(&format!("/courses/{GUT}")).await;
    assert!(
        program.text(".test-banner").contains("Test mode"),
        "every page says test mode"
    );
    assert_eq!(program.text("#enroll .price"), "$197");
    // A visitor who is not logged in signs up and comes back to the same checkout.
    let enroll = app.get(&format!("/courses/{GUT}/enroll")).await;
    let login = enroll.header("location").to_owned();
    assert!(login.starts_with("/login?next="), "{login}");
    let next = login.trim_start_matches("/login?next=");
    let client = new_client();
    let signup = app
        .post_form(
            &client,
            "/signup",
            &[
                ("name", "Tess"),
                ("email", "tess@example.com"),
                ("password", PW),
                ("next", &urlencoding_decode(next)),
            ],
        )
        .await;
    assert_eq!(signup.status, StatusCode::OK, "check your email");
    // The emailed link confirms the address, signs in, and goes back to the enrollment.
    let confirm = app
        .get_with(&client, &app.confirmation_link("tess@example.com").await)
        .await;
    assert_eq!(
        confirm.header("location"),
        format!("/courses/{GUT}/enroll?notice=email-confirmed")
    );
    let offer = app.get_with(&client, &format!("/courses/{GUT}/enroll")).await;
    assert_eq!(offer.status, StatusCode::OK);
    assert_eq!(offer.text("#offer .total"), "$197");
    assert!(offer.visible_text().contains("no card is charged"));

    let started = app.post_form(&client, "/checkout", &[("course", GUT)]).await;
    assert_eq!(started.status, StatusCode::SEE_OTHER);
    let test_page = started.header("location").to_owned();
    assert!(test_page.starts_with("/checkout/test/"), "{test_page}");
    let page = app.get_with(&client, &test_page).await;
    assert!(
        page.text(".test-checkout-banner")
            .contains("Test mode — no card is charged")
    );
    let buttons = page.texts("form button");
    assert!(
        buttons.ends_with(&["Pay".to_string(), "Cancel".to_string()]),
        "{buttons:?}"
    );
    // Someone else cannot see or pay this order.
    let other = app.signup("Other", "other@example.com", PW).await;
    assert_eq!(app.get_with(&other, &test_page).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.post_form(&other, &format!("{test_page}/pay"), &[]).await.status,
        StatusCode::NOT_FOUND
    );

    let paid = app.post_form(&client, &format!("{test_page}/pay"), &[]).await;
    let success = app.get_with(&client, paid.header("location")).await;
    assert_eq!(success.text("h1"), "You are enrolled");
    // Pay pressed twice: nothing new.
    app.post_form(&client, &format!("{test_page}/pay"), &[]).await;
    assert_eq!(
        count(&app.db, "SELECT COUNT(*) FROM enrollments WHERE status = 'active'").await,
        1
    );
    // Her first lesson asks her to confirm the health acknowledgement first.
    let first = app.get_with(&client, GUT_LESSON).await;
    assert_eq!(first.status, StatusCode::SEE_OTHER);
    assert!(
        first
            .header("location")
            .starts_with("/learn/gut-foundations/acknowledge?next=")
    );
    app.acknowledge(&client, "gut-foundations").await;
    assert_eq!(app.get_with(&client, GUT_LESSON).await.status, StatusCode::OK);
    wait_receipts(&app, "tess@example.com", 1).await;
    let receipt = app
        .smtp
        .to("tess@example.com")
        .into_iter()
        .find(|m| m.subject().contains("receipt"))
        .unwrap();
    assert!(receipt.subject().contains("LW-000001"), "{}", receipt.subject());
    assert!(receipt.text().contains("Gut Foundations: $197"), "{}", receipt.text());
    assert!(receipt.text().contains("Total paid: $197"));
    assert!(receipt.text().contains("no card was charged"));
    assert_eq!(receipts(&app, "tess@example.com"), 1);
    // Enrolled: the program page says Continue; the account lists the order.
    let program = app.get_with(&client, &format!("/courses/{GUT}")).await;
    assert!(program.texts("#enroll a").contains(&"Continue".to_string()));
    let account = app.get_with(&client, "/account").await;
    assert!(account.text(".my-orders tbody").contains("LW-000001"));
    assert!(account.text(".my-orders tbody").contains("paid"));

    // Cancel leaves nothing paid.
    let started = app.post_form(&client, "/checkout", &[("course", SKIN)]).await;
    let test_page = started.header("location").to_owned();
    let cancelled = app.post_form(&client, &format!("{test_page}/cancel"), &[]).await;
    assert_eq!(
        cancelled.header("location"),
        format!("/courses/{SKIN}?checkout=cancelled")
    );
    assert_eq!(
        count(&app.db, "SELECT COUNT(*) FROM orders WHERE status = 'cancelled'").await,
        1
    );
    assert_eq!(
        app.post_form(&client, &format!("{test_page}/pay"), &[]).await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        count(&app.db, "SELECT COUNT(*) FROM enrollments").await,
        1,
        "a cancelled order cannot be paid"
    );
}

fn urlencoding_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .unwrap()
        .1
        .into_owned()
}

async fn stripe_checkout_then_webhook_grants_access_once(backend: Backend) {
    let (app, stripe) = with_stripe(&backend).await;
    // With keys, the test checkout does not exist and no banner shows.
    assert!(app.get("/").await.texts(".test-banner").is_empty());
    let ada = student(&app, "Ada", "ada@example.com").await;
    let (session, order) = checkout(&app, &stripe, &ada, &[GUT]).await;
    assert_eq!(
        app.get_with(&ada, &format!("/checkout/test/{order}")).await.status,
        StatusCode::NOT_FOUND
    );

    // What we sent Stripe.
    let sent = &stripe.sessions_created()[0].params;
    assert_eq!(sent.get("mode"), Some("payment"));
    assert_eq!(sent.array_len("line_items"), 1);
    assert_eq!(sent.get("line_items[0][price_data][unit_amount]"), Some("19700"));
    assert_eq!(sent.get("line_items[0][price_data][currency]"), Some("usd"));
    assert_eq!(
        sent.get("line_items[0][price_data][product_data][name]"),
        Some("Gut Foundations")
    );
    assert_eq!(sent.get("line_items[0][quantity]"), Some("1"));
    assert_eq!(sent.get("customer_email"), Some("ada@example.com"));
    assert_eq!(sent.get("client_reference_id"), Some(order.to_string().as_str()));
    assert_eq!(sent.get("metadata[order_id]"), Some(order.to_string().as_str()));
    assert_eq!(sent.get("allow_promotion_codes"), Some("true"));
    assert_eq!(
        sent.get("success_url"),
        Some(format!("{}/checkout/success?session_id={{CHECKOUT_SESSION_ID}}", app.base).as_str())
    );
    assert_eq!(
        sent.get("cancel_url"),
        Some(format!("{}/courses/{GUT}?checkout=cancelled", app.base).as_str())
    );
    assert_eq!(
        stripe.requests()[0].header("authorization"),
        Some(format!("Bearer {TEST_SECRET_KEY}").as_str())
    );
    assert_eq!(order_status(&app.db, order).await, "pending");
    assert_eq!(app.get_with(&ada, GUT_LESSON).await.status, StatusCode::FORBIDDEN);

    stripe.complete(&session);
    let event = stripe.event_checkout_session_completed(&session);
    assert_eq!(deliver_signed(&app, &event).await, StatusCode::OK);
    assert_eq!(order_status(&app.db, order).await, "paid");
    assert_eq!(app.get_with(&ada, GUT_LESSON).await.status, StatusCode::OK);
    // The same event again (Stripe retries), re-signed: a 200 that changes nothing.
    assert_eq!(deliver_signed(&app, &event).await, StatusCode::OK);
    assert_eq!(count(&app.db, "SELECT COUNT(*) FROM stripe_events").await, 1);
    let success = app
        .get_with(&ada, &format!("/checkout/success?session_id={session}"))
        .await;
    assert_eq!(success.text("h1"), "You are enrolled");
    wait_receipts(&app, "ada@example.com", 1).await;
    learnwell::mail::worker::run_once(&app.state).await.unwrap();
    assert_eq!(receipts(&app, "ada@example.com"), 1);
    assert_eq!(count(&app.db, "SELECT COUNT(*) FROM enrollments").await, 1);
    // Someone else cannot open this order's success page.
    let eve = app.signup("Eve", "eve@example.com", PW).await;
    assert_eq!(
        app.get_with(&eve, &format!("/checkout/success?session_id={session}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

async fn the_success_page_fulfils_when_the_webhook_is_late(backend: Backend) {
    let (app, stripe) = with_stripe(&backend).await;
    let bo = student(&app, "Bo", "bo@example.com").await;
    let (session, order) = checkout(&app, &stripe, &bo, &[SKIN]).await;
    // Back from Stripe before paying: still pending, and the page says so.
    let early = app
        .get_with(&bo, &format!("/checkout/success?session_id={session}"))
        .await;
    assert_eq!(early.text("h1"), "Your payment is being processed");
    stripe.complete(&session);
    let page = app
        .get_with(&bo, &format!("/checkout/success?session_id={session}"))
        .await;
    assert_eq!(page.text("h1"), "You are enrolled");
    assert_eq!(order_status(&app.db, order).await, "paid");
    // The webhook arrives afterwards: accepted, nothing more.
    let event = stripe.event_checkout_session_completed(&session);
    assert_eq!(deliver_signed(&app, &event).await, StatusCode::OK);
    assert_eq!(count(&app.db, "SELECT COUNT(*) FROM enrollments").await, 1);
    assert_eq!(
        count(&app.db, "SELECT COUNT(*) FROM outbox WHERE dedupe_key LIKE 'receipt:%'").await,
        1
    );
}

async fn webhook_and_success_page_at_the_same_moment(backend: Backend) {
    let (app, stripe) = with_stripe(&backend).await;
    let cy = student(&app, "Cy", "cy@example.com").await;
    let (session, order) = checkout(&app, &stripe, &cy, &[GUT]).await;
    stripe.complete(&session);
    let event = stripe.event_checkout_session_completed(&session);
    let success_path = format!("/checkout/success?session_id={session}");
    let (page, hook, hook2) = tokio::join!(
        app.get_with(&cy, &success_path),
        deliver_signed(&app, &event),
        deliver_signed(&app, &event)
    );
    assert_eq!(page.text("h1"), "You are enrolled");
    assert_eq!((hook, hook2), (StatusCode::OK, StatusCode::OK));
    assert_eq!(order_status(&app.db, order).await, "paid");
    assert_eq!(count(&app.db, "SELECT COUNT(*) FROM enrollments").await, 1);
    assert_eq!(
        count(&app.db, "SELECT COUNT(*) FROM outbox WHERE dedupe_key LIKE 'receipt:%'").await,
        1
    );
    assert_eq!(count(&app.db, "SELECT COUNT(*) FROM stripe_events").await, 1);
}

async fn forged_stale_and_unknown_webhooks_change_nothing(backend: Backend) {
    let (app, stripe) = with_stripe(&backend).await;
    let di = student(&app, "Di", "di@example.com").await;
    let (session, order) = checkout(&app, &stripe, &di, &[GUT]).await;
    stripe.complete(&session);
    let event = stripe.event_checkout_session_completed(&session);
    let cases = [
        ("missing signature", None),
        ("wrong secret", Some(sign_now(&event, "whsec_not_ours"))),
        ("stale", Some(sign(&event, TEST_WEBHOOK_SECRET, now() - 301))),
        ("from the future", Some(sign(&event, TEST_WEBHOOK_SECRET, now() + 600))),
        ("garbage", Some("t=1,v1=deadbeef".to_owned())),
    ];
    for (what, sig) in &cases {
        assert_eq!(
            deliver(&app, &event, sig.as_deref()).await,
            StatusCode::BAD_REQUEST,
            "{what}"
        );
    }
    // Signed, then changed on the way.
    let signature = sign_now(&event, TEST_WEBHOOK_SECRET);
    let tampered = event.replace("\"paid\"", "\"unpaid\"");
    assert_ne!(tampered, event);
    assert_eq!(
        deliver(&app, &tampered, Some(&signature)).await,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(count(&app.db, "SELECT COUNT(*) FROM stripe_events").await, 0);
    assert_eq!(order_status(&app.db, order).await, "pending");
    assert_eq!(count(&app.db, "SELECT COUNT(*) FROM enrollments").await, 0);
    // Correctly signed, but for a Checkout Session that is not the one we made for this order (say,
    // a payment link with our order number typed in): nothing is granted.
    let foreign = stripe
        .event_checkout_session_completed(&session)
        .replace(&session, "cs_test_someone_elses");
    assert_eq!(deliver_signed(&app, &foreign).await, StatusCode::OK);
    assert_eq!(order_status(&app.db, order).await, "pending");
    assert_eq!(count(&app.db, "SELECT COUNT(*) FROM enrollments").await, 0);
    // An event type we do not handle: 200, nothing changes.
    assert_eq!(deliver_signed(&app, &stripe.event_unknown()).await, StatusCode::OK);
    assert_eq!(order_status(&app.db, order).await, "pending");
    // The real one still works after all that.
    assert_eq!(deliver_signed(&app, &event).await, StatusCode::OK);
    assert_eq!(order_status(&app.db, order).await, "paid");
    // A body over the webhook's 1 MiB is refused before it is verified.
    let huge = "x".repeat(1100 * 1024);
    assert_eq!(deliver_signed(&app, &huge).await, StatusCode::PAYLOAD_TOO_LARGE);
}

async fn a_refund_reported_before_the_payment_grants_nothing(backend: Backend) {
    let (app, stripe) = with_stripe(&backend).await;
    let ed = student(&app, "Ed", "ed@example.com").await;
    let (session, order) = checkout(&app, &stripe, &ed, &[GUT]).await;
    let pi = stripe.complete(&session);
    stripe.dashboard_refund(&pi, None);
    // Out of order: the refund arrives first, then the completion.
    assert_eq!(
        deliver_signed(&app, &stripe.event_charge_refunded(&pi)).await,
        StatusCode::OK
    );
    assert_eq!(order_status(&app.db, order).await, "pending");
    assert_eq!(
        deliver_signed(&app, &stripe.event_checkout_session_completed(&session)).await,
        StatusCode::OK
    );
    assert_eq!(order_status(&app.db, order).await, "refunded");
    assert_eq!(count(&app.db, "SELECT COUNT(*) FROM enrollments").await, 0);
    assert_eq!(app.get_with(&ed, GUT_LESSON).await.status, StatusCode::FORBIDDEN);
}

async fn async_payments_wait_for_their_outcome(backend: Backend) {
    let (app, stripe) = with_stripe(&backend).await;
    let fe = student(&app, "Fe", "fe@example.com").await;
    let (session, order) = checkout(&app, &stripe, &fe, &[GUT]).await;
    stripe.complete_async_pending(&session);
    assert_eq!(
        deliver_signed(&app, &stripe.event_checkout_session_completed(&session)).await,
        StatusCode::OK
    );
    assert_eq!(order_status(&app.db, order).await, "pending", "not paid yet");
    stripe.async_payment_succeeded(&session);
    let ok = stripe.event_checkout_session_async_payment_succeeded(&session);
    assert_eq!(deliver_signed(&app, &ok).await, StatusCode::OK);
    assert_eq!(order_status(&app.db, order).await, "paid");
    assert_eq!(app.get_with(&fe, GUT_LESSON).await.status, StatusCode::OK);

    let (session, order) = checkout(&app, &stripe, &fe, &[SKIN]).await;
    stripe.complete_async_pending(&session);
    stripe.async_payment_failed(&session);
    let failed = stripe.event_checkout_session_async_payment_failed(&session);
    assert_eq!(deliver_signed(&app, &failed).await, StatusCode::OK);
    assert_eq!(order_status(&app.db, order).await, "failed");
    assert_eq!(count(&app.db, "SELECT COUNT(*) FROM enrollments").await, 1);
}

async fn stripe_down_at_checkout_charges_nothing(backend: Backend) {
    let (app, stripe) = with_stripe(&backend).await;
    let gi = student(&app, "Gi", "gi@example.com").await;
    stripe.stop().await;
    let page = app.post_form(&gi, "/checkout", &[("course", GUT)]).await;
    assert_eq!(page.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(page.text(".problem").contains("Nothing was charged"));
    stripe.resume().await;
    stripe.fail_next(1, Failure::api_error());
    let page = app.post_form(&gi, "/checkout", &[("course", GUT)]).await;
    assert_eq!(page.status, StatusCode::SERVICE_UNAVAILABLE);
    stripe.fail_next(1, Failure::html(502));
    assert_eq!(
        app.post_form(&gi, "/checkout", &[("course", GUT)]).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    // Each attempt's order is over (failed, with the reason), none left pending.
    assert_eq!(
        count(&app.db, "SELECT COUNT(*) FROM orders WHERE status = 'pending'").await,
        0
    );
    assert_eq!(
        count(
            &app.db,
            "SELECT COUNT(*) FROM orders WHERE status = 'failed' AND failure LIKE 'checkout could not start%'"
        )
        .await,
        3
    );
    assert_eq!(count(&app.db, "SELECT COUNT(*) FROM enrollments").await, 0);
    // Once Stripe answers again, checkout works.
    checkout(&app, &stripe, &gi, &[GUT]).await;
}

async fn the_bundle_is_one_purchase_of_both(backend: Backend) {
    let (app, stripe) = with_stripe(&backend).await;
    let program = app.get(&format!("/courses/{GUT}")).await;
    assert!(
        program.text(".bundle-note").contains("$379"),
        "{}",
        program.text(".bundle-note")
    );
    let hu = student(&app, "Hu", "hu@example.com").await;
    let offer = app.get_with(&hu, &format!("/courses/{GUT}/enroll")).await;
    assert_eq!(offer.text(".bundle-offer .total"), "$379");
    let bundle = app.get_with(&hu, "/enroll/bundle").await;
    assert_eq!(bundle.text("#offer .total"), "$379");
    let (session, order) = checkout(&app, &stripe, &hu, &[SKIN, GUT]).await;
    let sent = &stripe.sessions_created()[0].params;
    assert_eq!(sent.array_len("line_items"), 2);
    let a: i64 = sent
        .get("line_items[0][price_data][unit_amount]")
        .unwrap()
        .parse()
        .unwrap();
    let b: i64 = sent
        .get("line_items[1][price_data][unit_amount]")
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(a + b, 37_900, "the lines add up to the bundle price");
    assert_eq!(
        sent.get("line_items[0][price_data][product_data][name]"),
        Some("Gut Foundations")
    );
    stripe.complete(&session);
    deliver_signed(&app, &stripe.event_checkout_session_completed(&session)).await;
    assert_eq!(order_status(&app.db, order).await, "paid");
    assert_eq!(
        count(&app.db, "SELECT COUNT(*) FROM enrollments WHERE status = 'active'").await,
        2
    );
    assert_eq!(count(&app.db, "SELECT amount_paid_cents FROM orders").await, 37_900);
    // Enrolled in both: no bundle, no second purchase.
    let again = app
        .post_form(&hu, "/checkout", &[("course", GUT), ("course", SKIN)])
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    // Only one program plus a made-up one is not a bundle.
    let odd = student(&app, "Odd", "odd@example.com").await;
    let page = app
        .post_form(&odd, "/checkout", &[("course", GUT), ("course", "nope")])
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
}

async fn early_bird_prices_for_pre_enrollees_within_the_window(backend: Backend) {
    let stripe = StripeDouble::start().await;
    let base = stripe.base_url();
    let app = TestApp::spawn_with(
        &backend,
        AppOptions::env(&[
            ("STRIPE_SECRET_KEY", TEST_SECRET_KEY),
            ("STRIPE_WEBHOOK_SECRET", TEST_WEBHOOK_SECRET),
            ("STRIPE_API_BASE", &base),
        ]),
    )
    .await;
    // The window's edges are one second wide: the clock stands still unless moved.
    app.state.clock.freeze();
    // Ivy pre-enrolls and confirms before the launch.
    let page = app
        .post_form(
            &new_client(),
            "/preenroll",
            &[("name", "Ivy"), ("email", "ivy@example.com"), ("course", GUT)],
        )
        .await;
    assert_eq!(page.status, StatusCode::OK);
    let link = app.smtp.wait_for("ivy@example.com", 1).await[0].link("/preenroll/confirm");
    app.get(link.trim_start_matches(&app.base)).await;
    learnwell::launch::launch_now(&app.state, GUT, None).await.unwrap();
    app.smtp.wait_for("ivy@example.com", 2).await;

    let ivy = student(&app, "Ivy", "ivy@example.com").await;
    let program = app.get_with(&ivy, &format!("/courses/{GUT}")).await;
    assert!(
        program.text(".early-bird").contains("$157.60"),
        "{}",
        program.text(".early-bird")
    );
    let offer = app.get_with(&ivy, &format!("/courses/{GUT}/enroll")).await;
    assert_eq!(offer.text("#offer .total"), "$157.60");
    // Not a pre-enrollee: full price.
    let jo = student(&app, "Jo", "jo@example.com").await;
    assert_eq!(
        app.get_with(&jo, &format!("/courses/{GUT}/enroll"))
            .await
            .text("#offer .total"),
        "$197"
    );

    // The last second of the window still counts; the next does not.
    app.state.clock.advance(Duration::days(14) - Duration::seconds(2));
    checkout(&app, &stripe, &ivy, &[GUT]).await;
    app.state.clock.advance(Duration::seconds(2));
    checkout(&app, &stripe, &ivy, &[GUT]).await;
    let sent = stripe.sessions_created();
    assert_eq!(
        sent[0].params.get("line_items[0][price_data][unit_amount]"),
        Some("15760")
    );
    assert_eq!(
        sent[1].params.get("line_items[0][price_data][unit_amount]"),
        Some("19700")
    );
    let early: Vec<bool> =
        db_run!(&app.db, pool => sqlx::query_scalar("SELECT early_bird FROM orders ORDER BY id").fetch_all(pool).await)
            .unwrap();
    assert_eq!(early, [true, false]);
}

async fn refunds_from_the_studio_and_from_stripe_end_access(backend: Backend) {
    let (app, stripe) = with_stripe(&backend).await;
    let kai = student(&app, "Kai", "kai@example.com").await;
    let (session, order) = checkout(&app, &stripe, &kai, &[GUT]).await;
    let pi = stripe.complete(&session);
    deliver_signed(&app, &stripe.event_checkout_session_completed(&session)).await;
    assert_eq!(app.get_with(&kai, GUT_LESSON).await.status, StatusCode::OK);

    let maya = app.instructor("maya@example.com", PW).await;
    let orders = app.get_with(&maya, "/admin/orders?status=paid").await;
    assert!(orders.text(&format!("#order-{order}")).contains("Kai"));
    assert!(orders.text(".revenue").contains("$197"));
    // Stripe refuses once: nothing changes, and the instructor is told.
    stripe.fail_next(1, Failure::api_error());
    let refused = app
        .post_form(&maya, &format!("/admin/orders/{order}/refund"), &[])
        .await;
    assert_eq!(refused.status, StatusCode::BAD_GATEWAY);
    assert!(refused.text(".error").contains("nothing changed"));
    assert_eq!(order_status(&app.db, order).await, "paid");
    // Then it works.
    let done = app
        .post_form(&maya, &format!("/admin/orders/{order}/refund"), &[])
        .await;
    assert_eq!(done.header("location"), "/admin/orders?notice=refunded");
    assert_eq!(stripe.refunds().len(), 1);
    assert_eq!(stripe.refunds()[0].params.get("payment_intent"), Some(pi.as_str()));
    assert_eq!(order_status(&app.db, order).await, "refunded");
    assert_eq!(app.get_with(&kai, GUT_LESSON).await.status, StatusCode::FORBIDDEN);
    assert_eq!(
        count(&app.db, "SELECT COUNT(*) FROM enrollments WHERE status = 'revoked'").await,
        1,
        "kept, revoked"
    );
    // Stripe's webhook for that refund: nothing more. A second refund press: nothing.
    assert_eq!(
        deliver_signed(&app, &stripe.event_charge_refunded(&pi)).await,
        StatusCode::OK
    );
    app.post_form(&maya, &format!("/admin/orders/{order}/refund"), &[])
        .await;
    assert_eq!(stripe.refunds().len(), 1);

    // A refund made in Stripe's dashboard does the same through the webhook.
    let (session, order) = checkout(&app, &stripe, &kai, &[SKIN]).await;
    let pi = stripe.complete(&session);
    deliver_signed(&app, &stripe.event_checkout_session_completed(&session)).await;
    assert_eq!(
        app.get_with(&kai, "/courses/skin-from-within/lessons/how-gut-and-skin-talk")
            .await
            .status,
        StatusCode::OK
    );
    stripe.dashboard_refund(&pi, None);
    assert_eq!(
        deliver_signed(&app, &stripe.event_charge_refunded(&pi)).await,
        StatusCode::OK
    );
    assert_eq!(order_status(&app.db, order).await, "refunded");
    assert_eq!(
        app.get_with(&kai, "/courses/skin-from-within/lessons/how-gut-and-skin-talk")
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    // Re-enrolling after a refund gives access again (the same enrollment row comes back).
    let (session, _) = checkout(&app, &stripe, &kai, &[GUT]).await;
    stripe.complete(&session);
    deliver_signed(&app, &stripe.event_checkout_session_completed(&session)).await;
    assert_eq!(app.get_with(&kai, GUT_LESSON).await.status, StatusCode::OK);
    assert_eq!(count(&app.db, "SELECT COUNT(*) FROM enrollments").await, 2);

    // The CSV export lists them; a student cannot refund.
    let csv = maya
        .get(app.url("/admin/orders.csv"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        csv.contains("LW-000001") && csv.contains("refunded") && csv.contains("197.00"),
        "{csv}"
    );
    let refund_path = format!("/admin/orders/{order}/refund");
    assert_eq!(
        app.post_form(&kai, &refund_path, &[]).await.status,
        StatusCode::FORBIDDEN
    );
    // Granted by hand, for free.
    let lu = student(&app, "Lu", "lu@example.com").await;
    app.post_form(
        &maya,
        "/admin/enrollments",
        &[("email", "lu@example.com"), ("course", GUT)],
    )
    .await;
    assert_eq!(app.get_with(&lu, GUT_LESSON).await.status, StatusCode::OK);
}

async fn prices_come_from_the_server_not_the_form(backend: Backend) {
    let (app, stripe) = with_stripe(&backend).await;
    let mo = student(&app, "Mo", "mo@example.com").await;
    let res = app
        .post_form(
            &mo,
            "/checkout",
            &[
                ("course", GUT),
                ("course", GUT),
                ("price", "1"),
                ("unit_amount", "1"),
                ("amount", "1"),
                ("total_cents", "1"),
                ("bundle", "1"),
                ("currency", "jpy"),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    let sent = &stripe.sessions_created()[0].params;
    assert_eq!(sent.array_len("line_items"), 1, "a repeated program is one line");
    assert_eq!(sent.get("line_items[0][price_data][unit_amount]"), Some("19700"));
    assert_eq!(sent.get("line_items[0][price_data][currency]"), Some("usd"));
    // Nothing to buy, or something that is not for sale.
    assert_eq!(
        app.post_form(&mo, "/checkout", &[]).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        app.post_form(&mo, "/checkout", &[("course", "../../etc")]).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let maya = app.instructor("maya@example.com", PW).await;
    app.post_form(&maya, &format!("/admin/courses/{SKIN}/status"), &[("to", "closed")])
        .await;
    assert_eq!(
        app.post_form(&mo, "/checkout", &[("course", SKIN)]).await.status,
        StatusCode::CONFLICT
    );
    // Only people who are logged in can start a checkout, and only from our own pages.
    let anon = app.post_form(&new_client(), "/checkout", &[("course", GUT)]).await;
    assert!(anon.header("location").starts_with("/login"));
    let cross = mo
        .post(app.url("/checkout"))
        .header("Origin", "https://evil.example")
        .header("Sec-Fetch-Site", "cross-site")
        .form(&[("course", GUT)])
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), StatusCode::FORBIDDEN);
    assert_eq!(stripe.sessions_created().len(), 1);
}

async fn lessons_open_only_to_who_may_read_them(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    open_all(&app).await;
    let maya = app.instructor("maya@example.com", PW).await;
    let grant = |email: &'static str, course: &'static str| {
        let maya = maya.clone();
        let app = &app;
        async move {
            app.post_form(&maya, "/admin/enrollments", &[("email", email), ("course", course)])
                .await
        }
    };
    let outsider = app.signup("Out", "out@example.com", PW).await;
    let other = app.signup("Other", "other@example.com", PW).await;
    grant("other@example.com", SKIN).await;
    let enrolled = app.signup("In", "in@example.com", PW).await;
    grant("in@example.com", GUT).await;
    // Refunded: paid in test mode, then refunded in the studio.
    let refunded = app.signup("Ref", "ref@example.com", PW).await;
    app.acknowledged("in@example.com", GUT).await;
    app.acknowledged("ref@example.com", GUT).await;
    let started = app.post_form(&refunded, "/checkout", &[("course", GUT)]).await;
    let test_page = started.header("location").to_owned();
    app.post_form(&refunded, &format!("{test_page}/pay"), &[]).await;
    assert_eq!(app.get_with(&refunded, GUT_LESSON).await.status, StatusCode::OK);
    let order = test_page.rsplit('/').next().unwrap();
    app.post_form(&maya, &format!("/admin/orders/{order}/refund"), &[])
        .await;

    let anonymous = new_client();
    let cases: [(&str, &reqwest::Client, StatusCode); 6] = [
        ("anonymous", &anonymous, StatusCode::FORBIDDEN),
        ("logged in, not enrolled", &outsider, StatusCode::FORBIDDEN),
        ("enrolled in the other program", &other, StatusCode::FORBIDDEN),
        ("enrolled", &enrolled, StatusCode::OK),
        ("refunded", &refunded, StatusCode::FORBIDDEN),
        ("instructor", &maya, StatusCode::OK),
    ];
    for (who, client, expected) in cases {
        let page = app.get_with(client, GUT_LESSON).await;
        assert_eq!(page.status, expected, "{who}");
        let locked = page.visible_text().contains("This lesson is for enrolled students");
        assert_eq!(locked, expected == StatusCode::FORBIDDEN, "{who}");
        // A free preview is for everyone.
        let preview = app
            .get_with(client, "/courses/gut-foundations/lessons/meet-your-microbiome")
            .await;
        assert_eq!(preview.status, StatusCode::OK, "{who} preview");
    }
}

async fn orders_whose_webhook_never_came_are_reconciled(backend: Backend) {
    let (app, stripe) = with_stripe(&backend).await;
    let ned = student(&app, "Ned", "ned@example.com").await;
    let (paid_session, paid) = checkout(&app, &stripe, &ned, &[GUT]).await;
    let (expired_session, expired) = checkout(&app, &stripe, &ned, &[SKIN]).await;
    stripe.complete(&paid_session);
    stripe.expire(&expired_session);
    // Too recent to ask about.
    assert_eq!(learnwell::payments::flows::reconcile(&app.state).await.unwrap(), 0);
    app.state.clock.advance(Duration::minutes(16));
    // Stripe down for a moment: tried again later, nothing lost.
    stripe.fail_next(2, Failure::api_error());
    assert_eq!(learnwell::payments::flows::reconcile(&app.state).await.unwrap(), 0);
    assert_eq!(learnwell::payments::flows::reconcile(&app.state).await.unwrap(), 2);
    assert_eq!(order_status(&app.db, paid).await, "paid");
    assert_eq!(order_status(&app.db, expired).await, "expired");
    assert_eq!(app.get_with(&ned, GUT_LESSON).await.status, StatusCode::OK);
    wait_receipts(&app, "ned@example.com", 1).await;
    // A late webhook for the reconciled order changes nothing.
    assert_eq!(
        deliver_signed(&app, &stripe.event_checkout_session_completed(&paid_session)).await,
        StatusCode::OK
    );
    assert_eq!(count(&app.db, "SELECT COUNT(*) FROM enrollments").await, 1);
    // Deleting the account keeps the orders for the books, without the person.
    let deleted = app.post_form(&ned, "/account/delete", &[("password", PW)]).await;
    assert_eq!(deleted.status, StatusCode::OK);
    assert_eq!(count(&app.db, "SELECT COUNT(*) FROM orders").await, 2);
    assert_eq!(
        count(
            &app.db,
            "SELECT COUNT(*) FROM orders WHERE user_id IS NULL AND email IS NULL AND name IS NULL"
        )
        .await,
        2
    );
}

async fn a_second_checkout_goes_back_to_the_open_one(backend: Backend) {
    let (app, stripe) = with_stripe(&backend).await;
    let oli = student(&app, "Oli", "oli@example.com").await;
    let (session, order) = checkout(&app, &stripe, &oli, &[GUT]).await;
    // Another tab, or Enroll pressed again: the same Stripe page, not a second payment.
    let (again, same_order) = checkout(&app, &stripe, &oli, &[GUT]).await;
    assert_eq!((again.as_str(), same_order), (session.as_str(), order));
    assert_eq!(stripe.sessions_created().len(), 1);
    assert_eq!(count(&app.db, "SELECT COUNT(*) FROM orders").await, 1);
    // A different purchase is its own checkout.
    checkout(&app, &stripe, &oli, &[GUT, SKIN]).await;
    assert_eq!(stripe.sessions_created().len(), 2);
    // Once that session has expired, a new one starts.
    stripe.expire(&session);
    let (fresh, _) = checkout(&app, &stripe, &oli, &[GUT]).await;
    assert_ne!(fresh, session);
    assert_eq!(stripe.sessions_created().len(), 3);
}

/// The `Idempotency-Key` of every call to `path` the double received, in order.
fn keys_sent(stripe: &StripeDouble, method: &str, path: &str) -> Vec<String> {
    stripe
        .requests()
        .iter()
        .filter(|r| r.method == method && r.path == path)
        .map(|r| r.header("Idempotency-Key").unwrap_or_default().to_owned())
        .collect()
}

async fn stripe_sees_one_idempotency_key_per_order_and_per_refund_attempt(backend: Backend) {
    let (app, stripe) = with_stripe_env(&backend, &[("STRIPE_TIMEOUT", "1")]).await;
    let pia = student(&app, "Pia", "pia@example.com").await;
    // Each order's Checkout Session is created under a key of its own, naming the order.
    let (session, order) = checkout(&app, &stripe, &pia, &[GUT]).await;
    checkout(&app, &stripe, &pia, &[SKIN]).await;
    let created = keys_sent(&stripe, "POST", "/v1/checkout/sessions");
    assert_eq!(created.len(), 2);
    assert!(
        created[0].starts_with(&format!("learnwell-checkout-{order}-")),
        "{created:?}"
    );
    assert_ne!(created[0], created[1]);

    let pi = stripe.complete(&session);
    deliver_signed(&app, &stripe.event_checkout_session_completed(&session)).await;
    let maya = app.instructor("maya@example.com", PW).await;
    let refund_path = format!("/admin/orders/{order}/refund");

    // Stripe answers with an error: it would replay that answer for the same key, so the next
    // attempt has a new one.
    stripe.fail_next(1, Failure::api_error());
    assert_eq!(
        app.post_form(&maya, &refund_path, &[]).await.status,
        StatusCode::BAD_GATEWAY
    );

    // Then Stripe hangs: no answer in time, nothing changes here, and the instructor is told.
    stripe.stop().await;
    let hole = BlackHole::on(stripe.addr()).await;
    let hung = app.post_form(&maya, &refund_path, &[]).await;
    assert_eq!(hung.status, StatusCode::BAD_GATEWAY);
    assert!(
        hung.text(".error").contains("did not answer"),
        "{}",
        hung.text(".error")
    );
    assert_eq!(order_status(&app.db, order).await, "paid");
    let lost = hole.wait_for("POST /v1/refunds").await;
    let lost_key = http_header(&lost, "Idempotency-Key").expect("the refund carried a key");

    // Stripe is back: the retry is the same attempt, under the same key; one refund.
    hole.close().await;
    stripe.resume().await;
    let done = app.post_form(&maya, &refund_path, &[]).await;
    assert_eq!(done.header("location"), "/admin/orders?notice=refunded");
    let refunds = keys_sent(&stripe, "POST", "/v1/refunds");
    assert_eq!(refunds.len(), 2, "{refunds:?}");
    assert!(
        refunds[0].starts_with(&format!("learnwell-refund-{order}-")),
        "{refunds:?}"
    );
    assert_ne!(refunds[0], refunds[1], "a new key after Stripe answered with an error");
    assert_eq!(refunds[1], lost_key, "the same key after no answer");
    assert_eq!(stripe.refunds().len(), 1);
    assert_eq!(stripe.refunds()[0].params.get("payment_intent"), Some(pi.as_str()));
    assert_eq!(order_status(&app.db, order).await, "refunded");
}

async fn enrollments_of(db: &Db, email: &str) -> Vec<(String, String, Option<i64>)> {
    db_run!(db, pool => sqlx::query_as::<_, (String, String, Option<i64>)>(
        "SELECT c.slug, e.status, e.order_id FROM enrollments e JOIN courses c ON c.id = e.course_id \
         JOIN users u ON u.id = e.user_id WHERE u.email = $1 ORDER BY c.slug")
        .bind(email).fetch_all(pool).await)
    .unwrap()
}

async fn order_failure(db: &Db, id: i64) -> Option<String> {
    db_run!(db, pool => sqlx::query_scalar::<_, Option<String>>("SELECT failure FROM orders WHERE id = $1")
        .bind(id).fetch_one(pool).await)
    .unwrap()
}

fn refund_notices(app: &TestApp, email: &str) -> usize {
    app.smtp
        .to(email)
        .iter()
        .filter(|m| m.subject().contains("was refunded"))
        .count()
}

/// Review I7, test checkout: two pending orders for one program could both be paid, and a pending
/// order could be paid after the program closed. Now the second is refused with a clear page,
/// nothing is granted twice or into a closed program, and nothing was charged.
async fn the_test_checkout_never_grants_twice_nor_into_a_closed_program(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    open_all(&app).await;
    let tia = app.signup("Tia", "tia@example.com", PW).await;
    let start = async |course: &str| {
        let started = app.post_form(&tia, "/checkout", &[("course", course)]).await;
        let page = started.header("location").to_owned();
        assert!(page.starts_with("/checkout/test/"), "{page}");
        let id: i64 = page.rsplit('/').next().unwrap().parse().unwrap();
        (page, id)
    };
    // Two tabs, two pending orders for the same program.
    let (first, first_id) = start(GUT).await;
    let (second, second_id) = start(GUT).await;
    assert_ne!(first_id, second_id);
    let paid = app.post_form(&tia, &format!("{first}/pay"), &[]).await;
    assert_eq!(paid.header("location"), format!("/checkout/success?order={first_id}"));
    let again = app.post_form(&tia, &format!("{second}/pay"), &[]).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.text("h1"), "We could not start your enrollment");
    assert_eq!(
        again.text(".problem"),
        "You were already enrolled in Gut Foundations when this payment arrived. This order was not paid, and \
         nothing was charged."
    );
    assert_eq!(order_status(&app.db, first_id).await, "paid");
    assert_eq!(order_status(&app.db, second_id).await, "failed");
    assert!(
        order_failure(&app.db, second_id)
            .await
            .unwrap()
            .contains("already enrolled")
    );
    assert_eq!(
        enrollments_of(&app.db, "tia@example.com").await,
        vec![(GUT.to_owned(), "active".to_owned(), Some(first_id))]
    );
    // Pressing Pay on it again changes nothing; its page says it was not completed.
    app.post_form(&tia, &format!("{second}/pay"), &[]).await;
    assert_eq!(order_status(&app.db, second_id).await, "failed");
    let page = app
        .get_with(&tia, &format!("/checkout/success?order={second_id}"))
        .await;
    assert_eq!(page.text("h1"), "This order was not completed");

    // A pending order for a program that closes before it is paid.
    let (skin, skin_id) = start(SKIN).await;
    learnwell::launch::set_status(&app.state, SKIN, learnwell::domain::CourseStatus::Closed)
        .await
        .unwrap();
    let closed = app.post_form(&tia, &format!("{skin}/pay"), &[]).await;
    assert_eq!(closed.status, StatusCode::CONFLICT);
    assert!(
        closed
            .text(".problem")
            .starts_with("Skin from Within had closed for enrollment"),
        "{}",
        closed.text(".problem")
    );
    assert_eq!(order_status(&app.db, skin_id).await, "failed");
    assert_eq!(enrollments_of(&app.db, "tia@example.com").await.len(), 1);
    assert_eq!(
        app.get_with(&tia, "/courses/skin-from-within/lessons/how-gut-and-skin-talk")
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    // One receipt: for the one order that was paid.
    wait_receipts(&app, "tia@example.com", 1).await;
    assert_eq!(receipts(&app, "tia@example.com"), 1);
}

/// Review I7, Stripe: a payment that arrives for a program the buyer already has (a second
/// checkout paid in another tab), or for one that closed meanwhile, was taken, so it is refunded
/// automatically through Stripe under the order's idempotency key, the buyer is told (page and
/// email), and nothing is granted; every path (webhook, its replay, the success page, the
/// reconciliation job, Stripe's own charge.refunded) together refund it exactly once.
async fn a_stripe_payment_that_cannot_be_fulfilled_is_refunded_once(backend: Backend) {
    let (app, stripe) = with_stripe(&backend).await;
    let uma = student(&app, "Uma", "uma@example.com").await;
    let (first, first_id) = checkout(&app, &stripe, &uma, &[GUT]).await;
    // Stripe hiccups when the second tab asks about the first session: a second checkout starts.
    stripe.fail_next(1, Failure::api_error());
    let (second, second_id) = checkout(&app, &stripe, &uma, &[GUT]).await;
    assert_ne!(first_id, second_id);

    stripe.complete(&first);
    assert_eq!(
        deliver_signed(&app, &stripe.event_checkout_session_completed(&first)).await,
        StatusCode::OK
    );
    let second_pi = stripe.complete(&second);
    let event = stripe.event_checkout_session_completed(&second);
    assert_eq!(deliver_signed(&app, &event).await, StatusCode::OK);
    assert_eq!(order_status(&app.db, first_id).await, "paid");
    assert_eq!(order_status(&app.db, second_id).await, "refunded");
    assert!(
        order_failure(&app.db, second_id)
            .await
            .unwrap()
            .contains("already enrolled in Gut Foundations")
    );
    let refunds = stripe.refunds();
    assert_eq!(refunds.len(), 1);
    assert_eq!(refunds[0].params.get("payment_intent"), Some(second_pi.as_str()));
    let keys = keys_sent(&stripe, "POST", "/v1/refunds");
    assert!(
        keys[0].starts_with(&format!("learnwell-refund-{second_id}-")),
        "{keys:?}"
    );
    assert_eq!(
        enrollments_of(&app.db, "uma@example.com").await,
        vec![(GUT.to_owned(), "active".to_owned(), Some(first_id))]
    );
    // Replays, Stripe's own refund event, the success page and the job change nothing more.
    assert_eq!(deliver_signed(&app, &event).await, StatusCode::OK);
    assert_eq!(
        deliver_signed(&app, &stripe.event_charge_refunded(&second_pi)).await,
        StatusCode::OK
    );
    let page = app
        .get_with(&uma, &format!("/checkout/success?session_id={second}"))
        .await;
    assert_eq!(page.text("h1"), "We refunded this payment");
    assert!(
        page.text(".unfulfilled").contains("we refunded $197"),
        "{}",
        page.text(".unfulfilled")
    );
    learnwell::payments::flows::reconcile(&app.state).await.unwrap();
    assert_eq!(stripe.refunds().len(), 1);
    // The buyer gets one receipt (the first order) and one email about the refund.
    wait_receipts(&app, "uma@example.com", 1).await;
    let mails = app.smtp.wait_for("uma@example.com", 3).await;
    let notice = mails.iter().find(|m| m.subject().contains("was refunded")).unwrap();
    assert!(notice.text().contains("You were already enrolled in Gut Foundations"));
    assert!(notice.text().contains("$197"));
    assert_eq!(refund_notices(&app, "uma@example.com"), 1);
    assert_eq!(receipts(&app, "uma@example.com"), 1);

    // A program that closes while its checkout is open, and Stripe refuses the refund when the
    // payment lands: the order waits as paid with a refund due (the buyer and the studio see why),
    // and the reconciliation job refunds it with a new idempotency key.
    let (skin, skin_id) = checkout(&app, &stripe, &uma, &[SKIN]).await;
    learnwell::launch::set_status(&app.state, SKIN, learnwell::domain::CourseStatus::Closed)
        .await
        .unwrap();
    stripe.complete(&skin);
    stripe.fail_next(1, Failure::api_error());
    assert_eq!(
        deliver_signed(&app, &stripe.event_checkout_session_completed(&skin)).await,
        StatusCode::OK
    );
    assert_eq!(order_status(&app.db, skin_id).await, "paid");
    assert_eq!(stripe.refunds().len(), 1, "the refused call made no refund");
    let page = app
        .get_with(&uma, &format!("/checkout/success?session_id={skin}"))
        .await;
    assert_eq!(page.text("h1"), "We are refunding this payment");
    assert!(
        page.text(".unfulfilled")
            .starts_with("Skin from Within had closed for enrollment")
    );
    let maya = app.instructor("maya@example.com", PW).await;
    let orders = app.get_with(&maya, "/admin/orders").await;
    assert!(
        orders
            .text(&format!("#order-{skin_id} .failure"))
            .contains("had closed for enrollment"),
        "the studio sees why"
    );
    assert_eq!(learnwell::payments::flows::reconcile(&app.state).await.unwrap(), 1);
    assert_eq!(order_status(&app.db, skin_id).await, "refunded");
    assert_eq!(stripe.refunds().len(), 2);
    let skin_keys: Vec<String> = keys_sent(&stripe, "POST", "/v1/refunds")
        .into_iter()
        .filter(|k| k.starts_with(&format!("learnwell-refund-{skin_id}-")))
        .collect();
    assert_eq!(skin_keys.len(), 2);
    assert_ne!(skin_keys[0], skin_keys[1], "a new key after Stripe's error");
    learnwell::payments::flows::reconcile(&app.state).await.unwrap();
    assert_eq!(stripe.refunds().len(), 2);
    assert_eq!(
        enrollments_of(&app.db, "uma@example.com").await.len(),
        1,
        "nothing granted into the closed program"
    );
    app.smtp.wait_for("uma@example.com", 4).await;
    assert_eq!(refund_notices(&app, "uma@example.com"), 2);
}

/// Two paid checkouts for one program, their webhooks delivered at the same moment (several
/// buyers, to give the race a chance): one grants, the other waits for it and is refunded; never
/// both granted, and neither delivery fails.
async fn two_payments_for_one_program_at_the_same_moment_grant_once(backend: Backend) {
    let (app, stripe) = with_stripe(&backend).await;
    for n in 0..4 {
        let email = format!("race{n}@example.com");
        let buyer = student(&app, "Racer", &email).await;
        let (a, a_id) = checkout(&app, &stripe, &buyer, &[GUT]).await;
        stripe.fail_next(1, Failure::api_error());
        let (b, b_id) = checkout(&app, &stripe, &buyer, &[GUT]).await;
        stripe.complete(&a);
        stripe.complete(&b);
        let (ea, eb) = (
            stripe.event_checkout_session_completed(&a),
            stripe.event_checkout_session_completed(&b),
        );
        let (sa, sb) = tokio::join!(deliver_signed(&app, &ea), deliver_signed(&app, &eb));
        assert_eq!((sa, sb), (StatusCode::OK, StatusCode::OK), "buyer {n}");
        let mut statuses = vec![order_status(&app.db, a_id).await, order_status(&app.db, b_id).await];
        statuses.sort();
        assert_eq!(statuses, vec!["paid", "refunded"], "buyer {n}");
        let seats = enrollments_of(&app.db, &email).await;
        assert_eq!(seats.len(), 1, "{seats:?}");
        assert_eq!(seats[0].1, "active");
    }
    assert_eq!(stripe.refunds().len(), 4, "one refund per buyer");
}
