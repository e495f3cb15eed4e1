//! Bundle upgrade credit: a student who bought one program of the bundle buys the rest at the
//! bundle price less what they really paid, priced on the server, with the Stripe double and the
//! built-in test checkout. Refunded, hand-given and imported seats give no credit.

use crate::common;

use common::stripe::{StripeDouble, TEST_SECRET_KEY, TEST_WEBHOOK_SECRET, sign_now};
use common::{AppOptions, Backend, TestApp};
use learnwell::db::Db;
use learnwell::db_run;
use reqwest::StatusCode;

const PW: &str = "a calm long passphrase";
const GUT: &str = "gut-foundations";
const SKIN: &str = "skin-from-within";
/// A lesson of Skin from Within that is not a free preview.
const SKIN_LESSON: &str = "/courses/skin-from-within/lessons/how-gut-and-skin-talk";

both_backends!(
    test_checkout_upgrade_is_the_bundle_less_what_was_paid,
    tampered_upgrade_forms_are_refused_or_ignored,
    refunded_granted_and_imported_seats_give_no_credit,
    stripe_upgrade_counts_what_stripe_says_was_paid,
);

async fn count(db: &Db, sql: &str) -> i64 {
    db_run!(db, pool => sqlx::query_scalar::<_, i64>(sql).fetch_one(pool).await).unwrap()
}

async fn open_all(app: &TestApp) {
    for slug in [GUT, SKIN] {
        learnwell::launch::launch_now(&app.state, slug, None).await.unwrap();
    }
}

/// Buys programs through the built-in test checkout; returns the order id.
async fn buy_test(app: &TestApp, client: &reqwest::Client, fields: &[(&str, &str)]) -> i64 {
    let started = app.post_form(client, "/checkout", fields).await;
    assert_eq!(started.status, StatusCode::SEE_OTHER, "{}", started.visible_text());
    let page = started.header("location").to_owned();
    assert!(page.starts_with("/checkout/test/"), "{page}");
    let order: i64 = page.rsplit('/').next().unwrap().parse().unwrap();
    let paid = app.post_form(client, &format!("{page}/pay"), &[]).await;
    assert_eq!(paid.status, StatusCode::SEE_OTHER, "{}", paid.visible_text());
    order
}

async fn order_total(db: &Db, id: i64) -> (i64, bool) {
    db_run!(db, pool => sqlx::query_as::<_, (i64, bool)>("SELECT total_cents, bundle FROM orders WHERE id = $1")
        .bind(id).fetch_one(pool).await)
    .unwrap()
}

async fn test_checkout_upgrade_is_the_bundle_less_what_was_paid(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    open_all(&app).await;
    let ada = app.signup("Ada", "ada@example.com", PW).await;
    for program in [GUT, SKIN] {
        app.acknowledged("ada@example.com", program).await;
    }
    // Before owning anything: the plain bundle, no upgrade.
    assert!(app.get_with(&ada, "/dashboard").await.texts(".upgrade-note").is_empty());
    let first = buy_test(&app, &ada, &[("course", GUT)]).await;
    assert_eq!(order_total(&app.db, first).await, (19_700, false));

    // $379 − $197 = $182, on the dashboard, the other program's page, and the program page.
    let dashboard = app.get_with(&ada, "/dashboard").await;
    assert!(
        dashboard
            .text(".upgrade-note")
            .contains("Upgrade to the bundle for $182"),
        "{}",
        dashboard.text(".upgrade-note")
    );
    let skin_page = app.get_with(&ada, &format!("/courses/{SKIN}")).await;
    assert!(
        skin_page.text(".upgrade-note").contains("$182"),
        "{}",
        skin_page.text("#enroll")
    );
    assert!(
        skin_page.texts(".bundle-note").is_empty(),
        "the plain bundle is not offered"
    );
    let gut_page = app.get_with(&ada, &format!("/courses/{GUT}")).await;
    assert!(gut_page.text(".upgrade-note").contains("$182"));
    let enroll = app.get_with(&ada, &format!("/courses/{SKIN}/enroll")).await;
    assert_eq!(enroll.text("#offer .total"), "$247", "Skin alone stays at its price");
    assert_eq!(enroll.text(".upgrade-offer .total"), "$182");
    let bundle = app.get_with(&ada, "/enroll/bundle").await;
    assert_eq!(bundle.status, StatusCode::OK);
    assert_eq!(bundle.text("#offer .total"), "$182");
    assert!(bundle.text(".upgrade-credit").contains("$197"));
    assert_eq!(bundle.attr("#offer input[name=upgrade]", "value"), "1");

    // The upgrade, as the page's form sends it.
    let second = buy_test(&app, &ada, &[("course", SKIN), ("upgrade", "1")]).await;
    assert_eq!(order_total(&app.db, second).await, (18_200, true));
    assert_eq!(app.get_with(&ada, SKIN_LESSON).await.status, StatusCode::OK);
    let line: i64 =
        db_run!(&app.db, pool => sqlx::query_scalar("SELECT price_cents FROM order_items WHERE order_id = $1")
        .bind(second).fetch_one(pool).await)
        .unwrap();
    assert_eq!(line, 18_200);
    // Owning everything: no offer anywhere.
    assert!(app.get_with(&ada, "/dashboard").await.texts(".upgrade-note").is_empty());
    assert_eq!(app.get_with(&ada, "/enroll/bundle").await.status, StatusCode::SEE_OTHER);
    let again = app
        .post_form(&ada, "/checkout", &[("course", SKIN), ("upgrade", "1")])
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
}

async fn tampered_upgrade_forms_are_refused_or_ignored(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    open_all(&app).await;
    // Owning nothing: an upgrade is refused, whatever the form says.
    let bo = app.signup("Bo", "bo@example.com", PW).await;
    for program in [GUT, SKIN] {
        app.acknowledged("bo@example.com", program).await;
    }
    let page = app
        .post_form(&bo, "/checkout", &[("course", SKIN), ("upgrade", "1")])
        .await;
    assert_eq!(page.status, StatusCode::CONFLICT);
    buy_test(&app, &bo, &[("course", GUT)]).await;
    // The whole bundle, or the program they own, is not the upgrade.
    for fields in [
        &[("course", SKIN), ("course", GUT), ("upgrade", "1")][..],
        &[("course", GUT), ("upgrade", "1")][..],
    ] {
        let page = app.post_form(&bo, "/checkout", fields).await;
        assert_eq!(page.status, StatusCode::CONFLICT, "{fields:?}");
    }
    assert_eq!(count(&app.db, "SELECT COUNT(*) FROM orders").await, 1);
    // Amounts in the form are never read.
    let order = buy_test(
        &app,
        &bo,
        &[
            ("course", SKIN),
            ("upgrade", "yes"),
            ("total_cents", "1"),
            ("price", "1"),
            ("credit_cents", "37900"),
            ("amount", "0"),
        ],
    )
    .await;
    assert_eq!(order_total(&app.db, order).await, (18_200, true));
}

async fn refunded_granted_and_imported_seats_give_no_credit(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    open_all(&app).await;
    let maya = app.instructor("maya@example.com", PW).await;

    // Bought, then refunded: no credit.
    let cy = app.signup("Cy", "cy@example.com", PW).await;
    for program in [GUT, SKIN] {
        app.acknowledged("cy@example.com", program).await;
    }
    let order = buy_test(&app, &cy, &[("course", GUT)]).await;
    assert!(!app.get_with(&cy, "/dashboard").await.texts(".upgrade-note").is_empty());
    let refund = app
        .post_form(&maya, &format!("/admin/orders/{order}/refund"), &[])
        .await;
    assert_eq!(refund.status, StatusCode::SEE_OTHER);
    // Given by hand: no order, no credit.
    let di = app.signup("Di", "di@example.com", PW).await;
    for program in [GUT, SKIN] {
        app.acknowledged("di@example.com", program).await;
    }
    let grant = app
        .post_form(
            &maya,
            "/admin/enrollments",
            &[("email", "di@example.com"), ("course", GUT)],
        )
        .await;
    assert_eq!(grant.status, StatusCode::SEE_OTHER);
    // Imported: no payment, no credit.
    let ed = app.signup("Ed", "ed@example.com", PW).await;
    for program in [GUT, SKIN] {
        app.acknowledged("ed@example.com", program).await;
    }
    let parsed = learnwell::imports::parse::read(
        &b"Name,Email\nEd,ed@example.com\n"[..],
        &jiff::tz::TimeZone::UTC,
        app.state.clock.now(),
    )
    .unwrap();
    let actor = learnwell::audit::Actor {
        user_id: None,
        name: "test",
    };
    learnwell::imports::import_students(&app.state, GUT, &parsed, false, actor, "ed.csv")
        .await
        .unwrap();

    for (who, client) in [("cy", &cy), ("di", &di), ("ed", &ed)] {
        assert!(
            app.get_with(client, "/dashboard")
                .await
                .texts(".upgrade-note")
                .is_empty(),
            "{who}: no upgrade on the dashboard"
        );
        assert!(
            app.get_with(client, &format!("/courses/{SKIN}"))
                .await
                .texts(".upgrade-note")
                .is_empty()
        );
        let page = app
            .post_form(client, "/checkout", &[("course", SKIN), ("upgrade", "1")])
            .await;
        assert_eq!(page.status, StatusCode::CONFLICT, "{who}");
    }
    // Di and Ed may still buy the other program alone, at its price.
    let order = buy_test(&app, &ed, &[("course", SKIN)]).await;
    assert_eq!(order_total(&app.db, order).await, (24_700, false));
}

async fn stripe_upgrade_counts_what_stripe_says_was_paid(backend: Backend) {
    let stripe = StripeDouble::start().await;
    let base = stripe.base_url();
    let app = TestApp::spawn_with(
        &backend,
        AppOptions::env(&[
            ("STRIPE_SECRET_KEY", TEST_SECRET_KEY),
            ("STRIPE_WEBHOOK_SECRET", TEST_WEBHOOK_SECRET),
            ("STRIPE_API_BASE", base.as_str()),
        ]),
    )
    .await;
    open_all(&app).await;
    let fay = app.signup("Fay", "fay@example.com", PW).await;
    for program in [GUT, SKIN] {
        app.acknowledged("fay@example.com", program).await;
    }
    let deliver = |payload: String| {
        let app = &app;
        async move {
            reqwest::Client::new()
                .post(app.url("/webhooks/stripe"))
                .header("Content-Type", "application/json")
                .header("Stripe-Signature", sign_now(&payload, TEST_WEBHOOK_SECRET))
                .body(payload)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    let start = |fields: Vec<(&'static str, &'static str)>| {
        let (app, fay) = (&app, &fay);
        async move {
            let res = app.post_form(fay, "/checkout", &fields).await;
            assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.visible_text());
            res.header("location").rsplit('/').next().unwrap().to_owned()
        }
    };
    // Gut Foundations, with a $47 promotion code at Stripe: $150 really paid.
    let session = start(vec![("course", GUT)]).await;
    stripe.edit_session(&session, |s| s["amount_total"] = serde_json::json!(15_000));
    stripe.complete(&session);
    assert_eq!(
        deliver(stripe.event_checkout_session_completed(&session)).await,
        StatusCode::OK
    );
    assert_eq!(count(&app.db, "SELECT amount_paid_cents FROM orders").await, 15_000);

    // $379 − $150 = $229.
    let dashboard = app.get_with(&fay, "/dashboard").await;
    assert!(
        dashboard.text(".upgrade-note").contains("$229"),
        "{}",
        dashboard.text(".upgrade-note")
    );
    let session = start(vec![("course", SKIN), ("upgrade", "1"), ("unit_amount", "1")]).await;
    let sent = &stripe.sessions_created()[1].params;
    assert_eq!(sent.array_len("line_items"), 1);
    assert_eq!(sent.get("line_items[0][price_data][unit_amount]"), Some("22900"));
    assert_eq!(
        sent.get("line_items[0][price_data][product_data][name]"),
        Some("Skin from Within")
    );
    stripe.complete(&session);
    assert_eq!(
        deliver(stripe.event_checkout_session_completed(&session)).await,
        StatusCode::OK
    );
    assert_eq!(app.get_with(&fay, SKIN_LESSON).await.status, StatusCode::OK);
    assert_eq!(
        count(&app.db, "SELECT COUNT(*) FROM enrollments WHERE status = 'active'").await,
        2
    );
    assert!(app.get_with(&fay, "/dashboard").await.texts(".upgrade-note").is_empty());
}
