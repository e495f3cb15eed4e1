//! Payment plans (instalments), tax and invoices: Stripe Checkout in subscription mode against the
//! Stripe double (what it was sent, the events it would send, in any order), the built-in test
//! checkout's simulation, refunds of a plan, revenue as money received, automatic tax and the
//! invoice link on the receipt.

use crate::common;

use common::stripe::{StripeDouble, TEST_SECRET_KEY, TEST_WEBHOOK_SECRET, sign_now};
use common::{AppOptions, Backend, TestApp};
use learnwell::db::Db;
use learnwell::db_run;
use reqwest::StatusCode;

const PW: &str = "a calm long passphrase";
const GUT: &str = "gut-foundations";
const SKIN: &str = "skin-from-within";
/// A lesson of Gut Foundations that is not a free preview.
const GUT_LESSON: &str = "/courses/gut-foundations/lessons/what-your-microbes-do";

both_backends!(
    a_plan_with_stripe_from_the_first_payment_to_the_last,
    the_first_instalment_may_arrive_before_the_checkout_event,
    a_failed_instalment_pauses_access_and_paying_resumes_it,
    tampered_plans_and_a_second_plan_are_refused,
    refunding_a_plan_cancels_it_and_refunds_what_was_paid,
    the_test_checkout_simulates_plans,
    automatic_tax_and_the_invoice_on_the_receipt,
    the_studio_edits_a_programs_plans,
);

async fn count(db: &Db, sql: &str) -> i64 {
    db_run!(db, pool => sqlx::query_scalar::<_, i64>(sql).fetch_one(pool).await).unwrap()
}

async fn text(db: &Db, sql: &str) -> Option<String> {
    db_run!(db, pool => sqlx::query_scalar::<_, Option<String>>(sql).fetch_one(pool).await).unwrap()
}

async fn with_stripe(backend: &Backend, extra: &[(&str, &str)]) -> (TestApp, StripeDouble) {
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

async fn deliver(app: &TestApp, payload: &str) -> StatusCode {
    reqwest::Client::new()
        .post(app.url("/webhooks/stripe"))
        .header("Content-Type", "application/json")
        .header("Stripe-Signature", sign_now(payload, TEST_WEBHOOK_SECRET))
        .body(payload.to_owned())
        .send()
        .await
        .unwrap()
        .status()
}

/// Starts a Stripe plan checkout; returns (session id, order id).
async fn plan_checkout(
    app: &TestApp,
    stripe: &StripeDouble,
    client: &reqwest::Client,
    courses: &[&str],
    plan: &str,
) -> (String, i64) {
    let mut fields: Vec<(&str, &str)> = courses.iter().map(|c| ("course", *c)).collect();
    if !plan.is_empty() {
        fields.push(("plan", plan));
    }
    let res = app.post_form(client, "/checkout", &fields).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.text("main"));
    let url = res.header("location").to_owned();
    assert!(url.starts_with(&format!("{}pay/cs_", stripe.base_url())), "{url}");
    let session = url.rsplit('/').next().unwrap().to_owned();
    let order: i64 = stripe.session(&session).unwrap()["client_reference_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    (session, order)
}

async fn payments_of(db: &Db, order: i64) -> i64 {
    db_run!(db, pool => sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM order_payments WHERE order_id = $1")
        .bind(order).fetch_one(pool).await)
    .unwrap()
}

async fn plan_state(db: &Db, order: i64) -> Option<String> {
    db_run!(db, pool => sqlx::query_scalar::<_, Option<String>>("SELECT plan_state FROM orders WHERE id = $1")
        .bind(order).fetch_one(pool).await)
    .unwrap()
}

/// Polls until a message whose subject contains `needle` reached `email`.
async fn wait_mail(app: &TestApp, email: &str, needle: &str) -> common::smtp::Received {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        if let Some(m) = app.smtp.to(email).into_iter().find(|m| m.subject().contains(needle)) {
            return m;
        }
        assert!(std::time::Instant::now() < deadline, "no '{needle}' email to {email}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// The subscription id of a completed plan checkout.
fn sub_of(stripe: &StripeDouble, session: &str) -> String {
    stripe.session(session).unwrap()["subscription"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn a_plan_with_stripe_from_the_first_payment_to_the_last(backend: Backend) {
    let (app, stripe) = with_stripe(&backend, &[]).await;
    let ada = app.signup("Ada", "ada@example.com", PW).await;
    app.acknowledged("ada@example.com", GUT).await;

    // The program page and the enroll page offer the plan besides paying in full.
    let program = app.get_with(&ada, &format!("/courses/{GUT}")).await;
    assert!(program.text(".plan-note").contains("3 monthly payments of $69"));
    let enroll = app.get_with(&ada, &format!("/courses/{GUT}/enroll")).await;
    assert!(
        enroll
            .text("#offer .plan-offer")
            .contains("Pay in 3 monthly payments of $69")
    );
    assert!(
        enroll
            .text(".bundle-offer .plan-offer")
            .contains("4 monthly payments of $99")
    );

    let (session, order) = plan_checkout(&app, &stripe, &ada, &[GUT], "3-monthly").await;
    let sent = &stripe.sessions_created()[0].params;
    assert_eq!(sent.get("mode"), Some("subscription"));
    assert_eq!(sent.array_len("line_items"), 1);
    assert_eq!(sent.get("line_items[0][price_data][unit_amount]"), Some("6900"));
    assert_eq!(
        sent.get("line_items[0][price_data][recurring][interval]"),
        Some("month")
    );
    assert_eq!(
        sent.get("line_items[0][price_data][recurring][interval_count]"),
        Some("1")
    );
    assert_eq!(sent.get("line_items[0][price_data][currency]"), Some("usd"));
    assert_eq!(
        sent.get("subscription_data[metadata][order_id]"),
        Some(order.to_string().as_str())
    );
    assert_eq!(sent.get("client_reference_id"), Some(order.to_string().as_str()));
    assert!(!sent.has("invoice_creation"), "subscriptions make their own invoices");
    assert_eq!(
        count(&app.db, "SELECT total_cents FROM orders").await,
        20_700,
        "the plan's total"
    );
    assert_eq!(app.get_with(&ada, GUT_LESSON).await.status, StatusCode::FORBIDDEN);

    // The first payment opens the program: 1 of 3.
    stripe.complete(&session);
    let sub = sub_of(&stripe, &session);
    assert_eq!(
        deliver(&app, &stripe.event_checkout_session_completed(&session)).await,
        StatusCode::OK
    );
    assert_eq!(app.get_with(&ada, GUT_LESSON).await.status, StatusCode::OK);
    assert_eq!(payments_of(&app.db, order).await, 1);
    assert_eq!(plan_state(&app.db, order).await.as_deref(), Some("active"));
    // The subscription is set to end after the third payment, without proration.
    let update = stripe
        .requests()
        .into_iter()
        .find(|r| r.method == "POST" && r.path == format!("/v1/subscriptions/{sub}"))
        .expect("the subscription's end was set");
    let cancel_at: i64 = update.params.get("cancel_at").unwrap().parse().unwrap();
    let start = stripe.subscription(&sub).unwrap()["start_date"].as_i64().unwrap();
    assert!(
        cancel_at > start + 59 * 86_400 && cancel_at < start + 89 * 86_400,
        "ends within the third month: {}",
        (cancel_at - start) / 86_400
    );
    assert_eq!(update.params.get("proration_behavior"), Some("none"));
    assert_eq!(stripe.subscription(&sub).unwrap()["cancel_at"], cancel_at);

    // The first invoice's own event changes nothing (already counted from the session).
    let first_invoice = stripe.session(&session).unwrap()["invoice"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        deliver(&app, &stripe.event_invoice_paid(&first_invoice)).await,
        StatusCode::OK
    );
    assert_eq!(payments_of(&app.db, order).await, 1);
    let success = app
        .get_with(&ada, &format!("/checkout/success?session_id={session}"))
        .await;
    assert_eq!(success.text("h1"), "You are enrolled");
    assert!(success.text(".plan-note").contains("3 payments of $69"));

    // Second and third payments.
    let second = stripe.pay_next_invoice(&sub);
    let event = stripe.event_invoice_paid(&second);
    assert_eq!(deliver(&app, &event).await, StatusCode::OK);
    assert_eq!(deliver(&app, &event).await, StatusCode::OK, "a replay");
    assert_eq!(payments_of(&app.db, order).await, 2);
    let maya = app.instructor("maya@example.com", PW).await;
    let orders = app.get_with(&maya, "/admin/orders").await;
    assert!(
        orders
            .text(&format!("#order-{order} .plan-progress"))
            .contains("2 of 3 paid")
    );
    assert!(orders.text(".revenue").contains("$138"), "{}", orders.text(".revenue"));
    assert!(orders.text(".revenue").contains("$69"), "still to come");
    let plan = app.get_with(&ada, &format!("/plans/{order}")).await;
    assert!(plan.text(".plan-progress").contains("2 of 3"));

    let third = stripe.pay_next_invoice(&sub);
    assert_eq!(deliver(&app, &stripe.event_invoice_paid(&third)).await, StatusCode::OK);
    assert_eq!(payments_of(&app.db, order).await, 3);
    assert_eq!(plan_state(&app.db, order).await.as_deref(), Some("complete"));
    // The safety net: the subscription is cancelled after the last payment.
    assert!(
        stripe
            .requests()
            .iter()
            .any(|r| r.method == "DELETE" && r.path == format!("/v1/subscriptions/{sub}"))
    );
    assert_eq!(stripe.subscription(&sub).unwrap()["status"], "canceled");
    let orders = app.get_with(&maya, "/admin/orders").await;
    assert!(
        orders
            .text(&format!("#order-{order} .plan-progress"))
            .contains("3 of 3 paid")
    );
    assert!(orders.text(".revenue").contains("$207"));
    // Its deletion event, expected now, changes nothing.
    assert_eq!(
        deliver(&app, &stripe.event_subscription_deleted(&sub)).await,
        StatusCode::OK
    );
    assert_eq!(app.get_with(&ada, GUT_LESSON).await.status, StatusCode::OK);
    assert_eq!(
        count(&app.db, "SELECT COUNT(*) FROM enrollments WHERE status = 'active'").await,
        1
    );
}

async fn the_first_instalment_may_arrive_before_the_checkout_event(backend: Backend) {
    let (app, stripe) = with_stripe(&backend, &[]).await;
    let ada = app.signup("Ada", "ada@example.com", PW).await;
    app.acknowledged("ada@example.com", GUT).await;
    let (session, order) = plan_checkout(&app, &stripe, &ada, &[GUT], "3-monthly").await;
    stripe.complete(&session);
    let first = stripe.session(&session).unwrap()["invoice"]
        .as_str()
        .unwrap()
        .to_owned();
    // invoice.paid first, placed by the order id in its subscription's metadata: access starts.
    assert_eq!(deliver(&app, &stripe.event_invoice_paid(&first)).await, StatusCode::OK);
    assert_eq!(app.get_with(&ada, GUT_LESSON).await.status, StatusCode::OK);
    assert_eq!(payments_of(&app.db, order).await, 1);
    // Then checkout.session.completed: nothing more.
    assert_eq!(
        deliver(&app, &stripe.event_checkout_session_completed(&session)).await,
        StatusCode::OK
    );
    assert_eq!(payments_of(&app.db, order).await, 1);
    assert_eq!(count(&app.db, "SELECT COUNT(*) FROM enrollments").await, 1);
    assert_eq!(
        count(&app.db, "SELECT COUNT(*) FROM outbox WHERE subject LIKE '%receipt%'").await,
        1
    );

    // Another buyer: an instalment whose subscription we cannot place (no order id in it) is kept
    // until checkout.session.completed links the subscription, and counted once.
    let bo = app.signup("Bo", "bo@example.com", PW).await;
    app.acknowledged("bo@example.com", GUT).await;
    let (session, order) = plan_checkout(&app, &stripe, &bo, &[GUT], "3-monthly").await;
    stripe.complete(&session);
    let sub = sub_of(&stripe, &session);
    let second = stripe.pay_next_invoice(&sub);
    let mut event: serde_json::Value = serde_json::from_str(&stripe.event_invoice_paid(&second)).unwrap();
    event["data"]["object"]["parent"]["subscription_details"]["metadata"] = serde_json::json!({});
    assert_eq!(deliver(&app, &event.to_string()).await, StatusCode::OK);
    assert_eq!(count(&app.db, "SELECT COUNT(*) FROM early_invoices").await, 1);
    assert_eq!(app.get_with(&bo, GUT_LESSON).await.status, StatusCode::FORBIDDEN);
    assert_eq!(
        deliver(&app, &stripe.event_checkout_session_completed(&session)).await,
        StatusCode::OK
    );
    assert_eq!(app.get_with(&bo, GUT_LESSON).await.status, StatusCode::OK);
    assert_eq!(payments_of(&app.db, order).await, 2, "the first and the kept second");
    assert_eq!(count(&app.db, "SELECT COUNT(*) FROM early_invoices").await, 0);

    // Events about a subscription that is none of ours: acknowledged, nothing changes.
    let mut stranger: serde_json::Value = serde_json::from_str(&stripe.event_subscription_updated(&sub)).unwrap();
    stranger["data"]["object"]["id"] = serde_json::json!("sub_not_ours");
    stranger["data"]["object"]["metadata"] = serde_json::json!({});
    stranger["data"]["object"]["status"] = serde_json::json!("unpaid");
    assert_eq!(deliver(&app, &stranger.to_string()).await, StatusCode::OK);
    // An order id in the metadata of a subscription that is not that order's: ignored too.
    stranger["data"]["object"]["metadata"] = serde_json::json!({ "order_id": order.to_string() });
    assert_eq!(deliver(&app, &stranger.to_string()).await, StatusCode::OK);
    assert_eq!(plan_state(&app.db, order).await.as_deref(), Some("active"));
    assert_eq!(
        count(&app.db, "SELECT COUNT(*) FROM enrollments WHERE status = 'paused'").await,
        0
    );
    // A forged event (bad signature): 400, nothing written.
    let forged = stripe.event_subscription_deleted(&sub);
    let res = reqwest::Client::new()
        .post(app.url("/webhooks/stripe"))
        .header("Stripe-Signature", sign_now(&forged, "whsec_wrong"))
        .body(forged)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(plan_state(&app.db, order).await.as_deref(), Some("active"));

    // An instalment of a subscription that never becomes an order of ours (another product on the
    // same Stripe account): kept for a month in case its checkout turns up, then forgotten.
    let third = stripe.pay_next_invoice(&sub);
    let mut orphan: serde_json::Value = serde_json::from_str(&stripe.event_invoice_paid(&third)).unwrap();
    let details = &mut orphan["data"]["object"]["parent"]["subscription_details"];
    details["metadata"] = serde_json::json!({});
    details["subscription"] = serde_json::json!("sub_someone_elses");
    orphan["data"]["object"]["customer"] = serde_json::json!("cus_someone_else");
    orphan["data"]["object"]["subscription"] = serde_json::json!("sub_someone_elses");
    orphan["data"]["object"]["metadata"] = serde_json::json!({});
    assert_eq!(deliver(&app, &orphan.to_string()).await, StatusCode::OK);
    assert_eq!(count(&app.db, "SELECT COUNT(*) FROM early_invoices").await, 1);
    app.state
        .clock
        .advance(time::Duration::days(learnwell::jobs::STASH_DAYS - 1));
    learnwell::jobs::Job::Purge.run_once(&app.state).await.unwrap();
    assert_eq!(
        count(&app.db, "SELECT COUNT(*) FROM early_invoices").await,
        1,
        "kept within the month"
    );
    app.state.clock.advance(time::Duration::days(2));
    learnwell::jobs::Job::Purge.run_once(&app.state).await.unwrap();
    assert_eq!(
        count(&app.db, "SELECT COUNT(*) FROM early_invoices").await,
        0,
        "forgotten after it"
    );
    assert_eq!(payments_of(&app.db, order).await, 2, "nothing counted for it");
}

async fn a_failed_instalment_pauses_access_and_paying_resumes_it(backend: Backend) {
    let (app, stripe) = with_stripe(&backend, &[]).await;
    let ada = app.signup("Ada", "ada@example.com", PW).await;
    app.acknowledged("ada@example.com", GUT).await;
    let (session, order) = plan_checkout(&app, &stripe, &ada, &[GUT], "3-monthly").await;
    stripe.complete(&session);
    deliver(&app, &stripe.event_checkout_session_completed(&session)).await;
    let sub = sub_of(&stripe, &session);
    let seat_id = count(&app.db, "SELECT id FROM enrollments").await;

    // A failed attempt: Stripe retries, nothing changes for the student.
    let failed = stripe.fail_next_invoice(&sub);
    assert_eq!(
        deliver(&app, &stripe.event_invoice_payment_failed(&failed)).await,
        StatusCode::OK
    );
    assert_eq!(
        deliver(&app, &stripe.event_subscription_updated(&sub)).await,
        StatusCode::OK,
        "past_due"
    );
    assert_eq!(app.get_with(&ada, GUT_LESSON).await.status, StatusCode::OK);

    // Stripe gives up: access pauses, progress kept.
    stripe.give_up(&sub);
    let gave_up = stripe.event_subscription_updated(&sub);
    assert_eq!(deliver(&app, &gave_up).await, StatusCode::OK);
    assert_eq!(plan_state(&app.db, order).await.as_deref(), Some("paused"));
    let lesson = app.get_with(&ada, GUT_LESSON).await;
    assert_eq!(lesson.status, StatusCode::SEE_OTHER);
    assert_eq!(lesson.header("location"), format!("/plans/{order}"));
    let page = app.get_with(&ada, &format!("/plans/{order}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.text("h1"), "Your plan payment failed");
    assert!(page.text(".plan-progress").contains("1 of 3"));
    assert_eq!(page.header("cache-control"), "no-store");
    let mail = wait_mail(&app, "ada@example.com", "needs a new card").await;
    assert_eq!(mail.link("/plans/"), format!("{}/plans/{order}", app.base));
    let dashboard = app.get_with(&ada, "/dashboard").await;
    assert!(dashboard.text(".plan-paused").contains("Gut Foundations"));
    assert_eq!(dashboard.attr(".plan-paused a", "href"), format!("/plans/{order}"));
    // The studio shows it overdue.
    let maya = app.instructor("maya@example.com", PW).await;
    let orders = app.get_with(&maya, "/admin/orders").await;
    assert!(orders.text(&format!("#order-{order}")).contains("Overdue"));
    // The same event again, or the deletion after it: one email, still paused.
    deliver(&app, &gave_up).await;
    deliver(&app, &stripe.event_subscription_deleted(&sub)).await;
    assert_eq!(
        count(
            &app.db,
            "SELECT COUNT(*) FROM outbox WHERE subject LIKE '%needs a new card%'"
        )
        .await,
        1
    );

    // The button opens Stripe's Billing Portal for this customer.
    let portal = app.post_form(&ada, &format!("/plans/{order}/portal"), &[]).await;
    assert_eq!(portal.status, StatusCode::SEE_OTHER);
    assert!(
        portal
            .header("location")
            .starts_with(&format!("{}portal/bps_", stripe.base_url()))
    );
    let made = &stripe.portal_sessions()[0].params;
    assert_eq!(
        made.get("customer"),
        stripe.session(&session).unwrap()["customer"].as_str()
    );
    assert_eq!(
        made.get("return_url"),
        Some(format!("{}/plans/{order}", app.base).as_str())
    );
    // Nobody else's.
    let eve = app.signup("Eve", "eve@example.com", PW).await;
    assert_eq!(
        app.get_with(&eve, &format!("/plans/{order}")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.post_form(&eve, &format!("/plans/{order}/portal"), &[]).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(stripe.portal_sessions().len(), 1);

    // The new card pays the open invoice: access resumes on the same seat.
    stripe.pay_invoice(&failed);
    assert_eq!(deliver(&app, &stripe.event_invoice_paid(&failed)).await, StatusCode::OK);
    assert_eq!(plan_state(&app.db, order).await.as_deref(), Some("active"));
    assert_eq!(app.get_with(&ada, GUT_LESSON).await.status, StatusCode::OK);
    assert_eq!(
        count(&app.db, "SELECT id FROM enrollments WHERE status = 'active'").await,
        seat_id
    );
    assert_eq!(payments_of(&app.db, order).await, 2);
}

async fn tampered_plans_and_a_second_plan_are_refused(backend: Backend) {
    let (app, stripe) = with_stripe(&backend, &[]).await;
    let ada = app.signup("Ada", "ada@example.com", PW).await;
    app.acknowledged("ada@example.com", GUT).await;
    for (courses, plan) in [
        (vec![GUT], "12-weekly"),
        (vec![GUT], "4-monthly"),       // the bundle's plan, for one program
        (vec![GUT, SKIN], "3-monthly"), // a program's plan, for the bundle
        (vec![GUT], "3-monthly\u{0}"),
    ] {
        let mut fields: Vec<(&str, &str)> = courses.iter().map(|c| ("course", *c)).collect();
        fields.push(("plan", plan));
        let res = app.post_form(&ada, "/checkout", &fields).await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{plan}");
        assert!(res.text("main").contains("payment plan is not offered"));
    }
    assert_eq!(
        count(&app.db, "SELECT COUNT(*) FROM orders").await,
        0,
        "nothing written"
    );
    assert!(stripe.sessions_created().is_empty());

    // The bundle's own plan is accepted, for the bundle: 4 × $99.
    let bo = app.signup("Bo", "bo@example.com", PW).await;
    app.acknowledged("bo@example.com", GUT).await;
    let (_, _) = plan_checkout(&app, &stripe, &bo, &[GUT, SKIN], "4-monthly").await;
    let sent = &stripe.sessions_created()[0].params;
    assert_eq!(sent.get("line_items[0][price_data][unit_amount]"), Some("9900"));
    assert_eq!(
        sent.get("line_items[0][price_data][product_data][name]"),
        Some("Gut Foundations + Skin from Within")
    );

    // A plan running (here paused): no second plan checkout for the same program.
    let (session, order) = plan_checkout(&app, &stripe, &ada, &[GUT], "3-monthly").await;
    stripe.complete(&session);
    deliver(&app, &stripe.event_checkout_session_completed(&session)).await;
    let sub = sub_of(&stripe, &session);
    stripe.give_up(&sub);
    deliver(&app, &stripe.event_subscription_updated(&sub)).await;
    assert_eq!(plan_state(&app.db, order).await.as_deref(), Some("paused"));
    let sessions = stripe.sessions_created().len();
    for plan in ["3-monthly", ""] {
        let mut fields = vec![("course", GUT)];
        if !plan.is_empty() {
            fields.push(("plan", plan));
        }
        let res = app.post_form(&ada, "/checkout", &fields).await;
        assert_eq!(res.status, StatusCode::CONFLICT);
        assert!(res.text("main").contains("payment plan running"));
    }
    assert_eq!(stripe.sessions_created().len(), sessions);
    assert_eq!(
        count(&app.db, "SELECT COUNT(*) FROM orders WHERE user_id IS NOT NULL").await,
        2
    );
}

async fn refunding_a_plan_cancels_it_and_refunds_what_was_paid(backend: Backend) {
    let (app, stripe) = with_stripe(&backend, &[]).await;
    let ada = app.signup("Ada", "ada@example.com", PW).await;
    app.acknowledged("ada@example.com", GUT).await;
    let (session, order) = plan_checkout(&app, &stripe, &ada, &[GUT], "3-monthly").await;
    stripe.complete(&session);
    // Only invoice.paid events here: the first payment's PaymentIntent comes from its invoice.
    let first = stripe.session(&session).unwrap()["invoice"]
        .as_str()
        .unwrap()
        .to_owned();
    deliver(&app, &stripe.event_invoice_paid(&first)).await;
    let sub = sub_of(&stripe, &session);
    let second = stripe.pay_next_invoice(&sub);
    deliver(&app, &stripe.event_invoice_paid(&second)).await;
    assert_eq!(payments_of(&app.db, order).await, 2);

    let maya = app.instructor("maya@example.com", PW).await;
    let done = app
        .post_form(&maya, &format!("/admin/orders/{order}/refund"), &[])
        .await;
    assert_eq!(done.header("location"), "/admin/orders?notice=refunded");
    assert_eq!(
        stripe.subscription(&sub).unwrap()["status"],
        "canceled",
        "no further payments"
    );
    let refunded: Vec<String> = stripe
        .refunds()
        .iter()
        .map(|r| r.params.get("payment_intent").unwrap().to_owned())
        .collect();
    assert_eq!(
        refunded,
        vec![
            stripe.invoice_payment_intent(&first).unwrap(),
            stripe.invoice_payment_intent(&second).unwrap()
        ]
    );
    assert_eq!(plan_state(&app.db, order).await.as_deref(), Some("cancelled"));
    assert_eq!(
        text(&app.db, "SELECT status FROM orders").await.as_deref(),
        Some("refunded")
    );
    assert_eq!(app.get_with(&ada, GUT_LESSON).await.status, StatusCode::FORBIDDEN);
    let orders = app.get_with(&maya, "/admin/orders").await;
    assert!(
        orders.text(".revenue").contains("paid: $0"),
        "{}",
        orders.text(".revenue")
    );
    // A second press and the events that follow: nothing more.
    app.post_form(&maya, &format!("/admin/orders/{order}/refund"), &[])
        .await;
    assert_eq!(
        deliver(&app, &stripe.event_subscription_deleted(&sub)).await,
        StatusCode::OK
    );
    let pi = stripe.invoice_payment_intent(&second).unwrap();
    assert_eq!(deliver(&app, &stripe.event_charge_refunded(&pi)).await, StatusCode::OK);
    assert_eq!(stripe.refunds().len(), 2);
    assert_eq!(
        count(&app.db, "SELECT COUNT(*) FROM enrollments WHERE status = 'revoked'").await,
        1
    );
}

async fn the_test_checkout_simulates_plans(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    open_all(&app).await;
    let ada = app.signup("Ada", "ada@example.com", PW).await;
    app.acknowledged("ada@example.com", GUT).await;
    let enroll = app.get_with(&ada, &format!("/courses/{GUT}/enroll")).await;
    assert!(enroll.text("#offer .plan-offer").contains("3 monthly payments"));
    let res = app
        .post_form(&ada, "/checkout", &[("course", GUT), ("plan", "3-monthly")])
        .await;
    let checkout = res.header("location").to_owned();
    let order: i64 = checkout.rsplit('/').next().unwrap().parse().unwrap();
    let paid = app.post_form(&ada, &format!("{checkout}/pay"), &[]).await;
    assert_eq!(paid.status, StatusCode::SEE_OTHER);
    assert_eq!(app.get_with(&ada, GUT_LESSON).await.status, StatusCode::OK);
    assert_eq!(payments_of(&app.db, order).await, 1);
    assert_eq!(count(&app.db, "SELECT amount_paid_cents FROM orders").await, 6900);
    let plan = app.get_with(&ada, &format!("/plans/{order}")).await;
    assert!(plan.text(".plan-progress").contains("1 of 3"));
    assert!(plan.text(".test-plan-controls").contains("Collect next instalment"));

    // Someone else cannot drive it.
    let eve = app.signup("Eve", "eve@example.com", PW).await;
    for action in ["collect", "fail"] {
        let res = app.post_form(&eve, &format!("/plans/{order}/test/{action}"), &[]).await;
        assert_eq!(res.status, StatusCode::NOT_FOUND);
    }
    assert_eq!(payments_of(&app.db, order).await, 1);

    // The student collects the second; the instructor fails the third from the studio.
    app.post_form(&ada, &format!("/plans/{order}/test/collect"), &[]).await;
    assert_eq!(payments_of(&app.db, order).await, 2);
    let maya = app.instructor("maya@example.com", PW).await;
    let orders = app.get_with(&maya, "/admin/orders").await;
    assert!(
        orders
            .text(&format!("#order-{order}"))
            .contains("Fail next instalment (test)")
    );
    let res = app.post_form(&maya, &format!("/plans/{order}/test/fail"), &[]).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    assert_eq!(plan_state(&app.db, order).await.as_deref(), Some("paused"));
    assert_eq!(app.get_with(&ada, GUT_LESSON).await.status, StatusCode::SEE_OTHER);
    wait_mail(&app, "ada@example.com", "needs a new card").await;
    // Paying resumes and completes it; nothing more to collect after the last.
    app.post_form(&ada, &format!("/plans/{order}/test/collect"), &[]).await;
    assert_eq!(plan_state(&app.db, order).await.as_deref(), Some("complete"));
    assert_eq!(app.get_with(&ada, GUT_LESSON).await.status, StatusCode::OK);
    let more = app.post_form(&ada, &format!("/plans/{order}/test/collect"), &[]).await;
    assert_eq!(more.header("location"), format!("/plans/{order}?notice=nothing"));
    assert_eq!(payments_of(&app.db, order).await, 3);
    let orders = app.get_with(&maya, "/admin/orders").await;
    assert!(orders.text(".revenue").contains("$207"));
}

async fn automatic_tax_and_the_invoice_on_the_receipt(backend: Backend) {
    // Without STRIPE_AUTOMATIC_TAX: no tax parameters, but an invoice for a one-time purchase.
    let (app, stripe) = with_stripe(&backend, &[]).await;
    let ada = app.signup("Ada", "ada@example.com", PW).await;
    app.acknowledged("ada@example.com", GUT).await;
    let (session, order) = plan_checkout(&app, &stripe, &ada, &[GUT], "").await;
    let sent = &stripe.sessions_created()[0].params;
    assert_eq!(sent.get("mode"), Some("payment"));
    assert_eq!(sent.get("invoice_creation[enabled]"), Some("true"));
    assert!(!sent.has("automatic_tax"));
    stripe.complete(&session);
    deliver(&app, &stripe.event_checkout_session_completed(&session)).await;
    let invoice = stripe.session(&session).unwrap()["invoice"]
        .as_str()
        .unwrap()
        .to_owned();
    let success = app.get_with(&ada, &format!("/checkout/success?order={order}")).await;
    assert_eq!(
        success.attr(".invoice-link", "href"),
        format!("{}invoice/{invoice}", stripe.base_url())
    );
    assert!(success.texts(".receipt .tax").is_empty());
    drop(app);

    let (app, stripe) = with_stripe(&backend, &[("STRIPE_AUTOMATIC_TAX", "true")]).await;
    let bo = app.signup("Bo", "bo@example.com", PW).await;
    app.acknowledged("bo@example.com", GUT).await;
    let (session, order) = plan_checkout(&app, &stripe, &bo, &[GUT], "").await;
    let sent = &stripe.sessions_created()[0].params;
    assert_eq!(sent.get("automatic_tax[enabled]"), Some("true"));
    assert_eq!(sent.get("billing_address_collection"), Some("required"));
    assert_eq!(sent.get("tax_id_collection[enabled]"), Some("true"));
    assert_eq!(sent.get("invoice_creation[enabled]"), Some("true"));
    stripe.complete(&session);
    assert_eq!(stripe.session(&session).unwrap()["total_details"]["amount_tax"], 1970);
    deliver(&app, &stripe.event_checkout_session_completed(&session)).await;
    let success = app.get_with(&bo, &format!("/checkout/success?order={order}")).await;
    assert!(success.text(".receipt .tax").contains("$19.70"));
    assert!(success.text(".receipt .total").contains("$216.70"));
    assert!(success.attr(".invoice-link", "href").contains("/invoice/in_"));
    let receipt = wait_mail(&app, "bo@example.com", "receipt").await;
    assert!(receipt.text().contains("Tax (included): $19.70"), "{}", receipt.text());
    assert!(receipt.text().contains(&format!("/checkout/success?order={order}")));

    // A plan with tax: the subscription-mode session asks for it too.
    let cy = app.signup("Cy", "cy@example.com", PW).await;
    plan_checkout(&app, &stripe, &cy, &[SKIN], "3-monthly").await;
    let sent = &stripe.sessions_created()[1].params;
    assert_eq!(sent.get("mode"), Some("subscription"));
    assert_eq!(sent.get("automatic_tax[enabled]"), Some("true"));
    assert!(!sent.has("invoice_creation"));
}

/// Every field of the studio's program form as the page holds it, in order (a select's chosen
/// option, a textarea's text), as a browser would post it.
fn form_fields(page: &common::Page) -> Vec<(String, String)> {
    let html = page.html();
    let fields =
        scraper::Selector::parse(".program-form input[name], .program-form textarea, .program-form select").unwrap();
    let chosen = scraper::Selector::parse("option[selected]").unwrap();
    html.select(&fields)
        .map(|e| {
            let name = e.value().attr("name").unwrap_or_default().to_owned();
            let value = match e.value().name() {
                "textarea" => e.text().collect(),
                "select" => e
                    .select(&chosen)
                    .next()
                    .and_then(|o| o.value().attr("value"))
                    .unwrap_or_default()
                    .to_owned(),
                _ => e.value().attr("value").unwrap_or_default().to_owned(),
            };
            (name, value)
        })
        .collect()
}

/// The `n`-th (from 0) value of `name` in `fields`, set to `value`.
fn set_nth(fields: &mut [(String, String)], name: &str, n: usize, value: &str) {
    let slot = fields
        .iter_mut()
        .filter(|(k, _)| k == name)
        .nth(n)
        .unwrap_or_else(|| panic!("no {name} number {n} in the form"));
    slot.1 = value.to_owned();
}

async fn post_fields(app: &TestApp, client: &reqwest::Client, path: &str, fields: &[(String, String)]) -> common::Page {
    let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    app.post_form(client, path, &pairs).await
}

async fn the_studio_edits_a_programs_plans(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    open_all(&app).await;
    let maya = app.instructor("maya@example.com", PW).await;
    let edit_path = format!("/admin/courses/{GUT}/edit");
    let plans_json = || text(&app.db, "SELECT plans FROM courses WHERE slug = 'gut-foundations'");

    // The plan from course.toml shows, with an empty row for another.
    let edit = app.get_with(&maya, &edit_path).await;
    assert_eq!(edit.attr("#f-plan-n-1", "value"), "3");
    assert_eq!(edit.attr("#f-plan-amount-1", "value"), "69.00");
    assert_eq!(edit.attr("#f-plan-interval-1 option[selected]", "value"), "month");
    assert_eq!(edit.attr("#f-plan-n-2", "value"), "");
    let before = plans_json().await;

    // Bad plans are refused with the reason, and nothing is saved.
    let fields = form_fields(&edit);
    for (count, amount, why) in [
        ("1", "100", "2 to 24"),
        ("25", "10", "2 to 24"),
        ("six", "36", "2 to 24"),
        ("6", "0", "more than 0"),
        ("6", "=1+1", "number"),
        ("6", "", "price"),
    ] {
        let mut bad = fields.clone();
        set_nth(&mut bad, "plan_instalments", 1, count);
        set_nth(&mut bad, "plan_amount", 1, amount);
        let res = post_fields(&app, &maya, &edit_path, &bad).await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{count} × {amount}");
        let error = res.text(".plan-editor .error");
        assert!(
            error.contains("Plan 2") && error.contains(why),
            "{count} × {amount}: {error}"
        );
        assert_eq!(res.attr("#f-plan-n-2", "value"), count, "what was typed is kept");
    }
    let mut interval = fields.clone();
    set_nth(&mut interval, "plan_instalments", 1, "6");
    set_nth(&mut interval, "plan_amount", 1, "36");
    set_nth(&mut interval, "plan_interval", 1, "fortnight");
    let res = post_fields(&app, &maya, &edit_path, &interval).await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text(".plan-editor .error").contains("how often"));
    // A free program offers no plans.
    let mut free = fields.clone();
    set_nth(&mut free, "price", 0, "0");
    let res = post_fields(&app, &maya, &edit_path, &free).await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text(".plan-editor .error").contains("free program"));
    assert_eq!(plans_json().await, before, "nothing saved");

    // A student cannot change them.
    let ada = app.signup("Ada", "ada@example.com", PW).await;
    app.acknowledged("ada@example.com", GUT).await;
    let mut more = fields.clone();
    set_nth(&mut more, "plan_instalments", 1, "6");
    set_nth(&mut more, "plan_amount", 1, "36.00");
    assert_eq!(
        post_fields(&app, &ada, &edit_path, &more).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(plans_json().await, before);

    // A second plan: six monthly payments of $36, offered at once and bought on those terms.
    let saved = post_fields(&app, &maya, &edit_path, &more).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.text(".error"));
    let plans: serde_json::Value = serde_json::from_str(&plans_json().await.unwrap()).unwrap();
    assert_eq!(plans[0]["id"], "3-monthly", "an existing plan keeps its id");
    assert_eq!(plans[1]["id"], "6-monthly");
    assert_eq!(plans[1]["instalments"], 6);
    assert_eq!(plans[1]["amount"], 3600);
    let enroll = app.get_with(&ada, &format!("/courses/{GUT}/enroll")).await;
    assert!(
        enroll.text("#offer").contains("6 monthly payments"),
        "{}",
        enroll.text("#offer")
    );
    let res = app
        .post_form(&ada, "/checkout", &[("course", GUT), ("plan", "6-monthly")])
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.text("main"));
    let order = count(&app.db, "SELECT id FROM orders").await;
    assert_eq!(
        count(&app.db, "SELECT plan_instalments * plan_amount_cents FROM orders").await,
        21600
    );
    let audit = app.get_with(&maya, "/admin/audit").await.visible_text();
    assert!(
        audit.contains("payment plans 3 × 69.00 every month → 3 × 69.00 every month, 6 × 36.00 every month"),
        "{audit}"
    );

    // The first plan removed (its row cleared): no longer offered, no longer accepted; the order
    // already placed keeps its terms.
    let edit = app.get_with(&maya, &edit_path).await;
    let mut fewer = form_fields(&edit);
    set_nth(&mut fewer, "plan_instalments", 0, "");
    set_nth(&mut fewer, "plan_amount", 0, "");
    let saved = post_fields(&app, &maya, &edit_path, &fewer).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.text(".error"));
    let plans: serde_json::Value = serde_json::from_str(&plans_json().await.unwrap()).unwrap();
    assert_eq!(plans.as_array().unwrap().len(), 1);
    assert_eq!(plans[0]["id"], "6-monthly");
    let bo = app.signup("Bo", "bo@example.com", PW).await;
    app.acknowledged("bo@example.com", GUT).await;
    let enroll = app.get_with(&bo, &format!("/courses/{GUT}/enroll")).await;
    assert!(!enroll.text("#offer").contains("3 monthly payments"));
    let res = app
        .post_form(&bo, "/checkout", &[("course", GUT), ("plan", "3-monthly")])
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        count(
            &app.db,
            &format!("SELECT plan_instalments FROM orders WHERE id = {order}")
        )
        .await,
        6
    );

    // A post without any plan rows (a form from before plans were editable) leaves them alone.
    let old_form: Vec<(String, String)> = fewer.into_iter().filter(|(k, _)| !k.starts_with("plan_")).collect();
    let saved = post_fields(&app, &maya, &edit_path, &old_form).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.text(".error"));
    assert!(plans_json().await.unwrap().contains("6-monthly"));

    // The orders CSV carries the plan.
    let csv = maya
        .get(app.url("/admin/orders.csv"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let header = csv.lines().next().unwrap();
    assert!(header.ends_with("Plan,Plan payments made,Plan state,Tax"), "{header}");
    assert!(csv.contains("6 × 36.00 every month"), "{csv}");
}
