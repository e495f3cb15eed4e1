//! Outside services cannot stall us: Stripe or an SMTP server that accepts a connection and then
//! never answers (a black hole) costs a buyer one clear page and a failed order, never a stuck
//! one, and never holds up launches, module publishing or mail. Also: migration 0010 keeps every
//! order and message.

use crate::common;

use std::borrow::Cow;
use std::time::{Duration as StdDuration, Instant};

use common::blackhole::{BlackHole, http_header};
use common::smtp::SmtpSink;
use common::stripe::{StripeDouble, TEST_SECRET_KEY, TEST_WEBHOOK_SECRET};
use common::{AppOptions, Backend, TestApp, TestDb};
use learnwell::db::Db;
use learnwell::db_run;
use reqwest::StatusCode;
use time::{Duration, OffsetDateTime};

const PW: &str = "a calm long passphrase";
const GUT: &str = "gut-foundations";
const SKIN: &str = "skin-from-within";

both_backends!(
    a_checkout_stripe_never_answers_fails_cleanly_and_can_be_tried_again,
    jobs_and_mail_keep_running_while_stripe_hangs,
    a_hung_smtp_server_holds_up_no_launch_or_publishing,
    mail_stuck_on_a_hung_smtp_server_is_retried_later,
    migration_0010_keeps_every_order_and_message,
);

async fn count(db: &Db, sql: &str) -> i64 {
    db_run!(db, pool => sqlx::query_scalar::<_, i64>(sql).fetch_one(pool).await).unwrap()
}

async fn text(db: &Db, sql: &str) -> String {
    db_run!(db, pool => sqlx::query_scalar::<_, String>(sql).fetch_one(pool).await).unwrap()
}

async fn course_status(db: &Db, slug: &str) -> String {
    db_run!(db, pool => sqlx::query_scalar::<_, String>("SELECT status FROM courses WHERE slug = $1").bind(slug).fetch_one(pool).await).unwrap()
}

/// Polls until `$cond` (an expression that may `.await`) holds, for at most 15 s.
macro_rules! eventually {
    ($what:expr, $cond:expr) => {{
        let deadline = Instant::now() + StdDuration::from_secs(15);
        while !$cond {
            assert!(Instant::now() < deadline, "{}: not within 15 s", $what);
            tokio::time::sleep(StdDuration::from_millis(20)).await;
        }
    }};
}

/// The app wired to a Stripe double, with `extra` settings.
async fn with_stripe(backend: &Backend, extra: &[(&str, &str)]) -> (TestApp, StripeDouble) {
    let stripe = StripeDouble::start().await;
    let base = stripe.base_url();
    let mut env = vec![
        ("STRIPE_SECRET_KEY", TEST_SECRET_KEY),
        ("STRIPE_WEBHOOK_SECRET", TEST_WEBHOOK_SECRET),
        ("STRIPE_API_BASE", base.as_str()),
    ];
    env.extend_from_slice(extra);
    (TestApp::spawn_with(backend, AppOptions::env(&env)).await, stripe)
}

/// A student whose email is confirmed, signed in.
async fn student(app: &TestApp, name: &str, email: &str) -> reqwest::Client {
    let client = app.signup(name, email, PW).await;
    let link = app.smtp.wait_for(email, 1).await[0].link("/verify-email");
    app.get_with(&client, link.trim_start_matches(&app.base)).await;
    client
}

/// A confirmed pre-enrollee of `slug`.
async fn preenrollee(app: &TestApp, email: &str, slug: &str) {
    let page = app
        .post_form(
            &common::new_client(),
            "/preenroll",
            &[("name", "Pre"), ("email", email), ("course", slug)],
        )
        .await;
    assert_eq!(page.status, StatusCode::OK);
    let link = app.smtp.wait_for(email, 1).await[0].link("/preenroll/confirm");
    let page = app
        .get_with(&common::new_client(), link.trim_start_matches(&app.base))
        .await;
    assert_eq!(page.status, StatusCode::OK);
}

/// Posts a checkout for `slug`.
async fn start_checkout(app: &TestApp, client: &reqwest::Client, slug: &str) -> common::Page {
    app.post_form(client, "/checkout", &[("course", slug)]).await
}

/// Schedules a launch of `slug` and the publishing of the last module of `module_of`, both for
/// an hour from now (the studio's forms); returns the module's id.
async fn schedule_launch_and_module(app: &TestApp, maya: &reqwest::Client, slug: &str, module_of: &str) -> i64 {
    let tz = app.state.catalog().tz.clone();
    let at = learnwell::local_time::input_value(app.state.clock.now() + Duration::hours(1), &tz);
    let launch = app
        .post_form(maya, &format!("/admin/courses/{slug}/schedule"), &[("at", &at)])
        .await;
    assert_eq!(launch.status, StatusCode::SEE_OTHER);
    let module: i64 = db_run!(&app.db, pool => sqlx::query_scalar(
        "SELECT m.id FROM modules m JOIN courses c ON c.id = m.course_id WHERE c.slug = $1 ORDER BY m.position DESC LIMIT 1")
        .bind(module_of).fetch_one(pool).await)
    .unwrap();
    let publish = app
        .post_form(
            maya,
            &format!("/admin/courses/{module_of}/modules/{module}/publish"),
            &[("action", "schedule"), ("at", &at)],
        )
        .await;
    assert_eq!(publish.status, StatusCode::SEE_OTHER);
    module
}

async fn module_status(db: &Db, id: i64) -> String {
    db_run!(db, pool => sqlx::query_scalar::<_, String>("SELECT status FROM modules WHERE id = $1").bind(id).fetch_one(pool).await).unwrap()
}

async fn a_checkout_stripe_never_answers_fails_cleanly_and_can_be_tried_again(backend: Backend) {
    let (app, stripe) = with_stripe(&backend, &[("STRIPE_TIMEOUT", "1")]).await;
    for slug in [GUT, SKIN] {
        learnwell::launch::launch_now(&app.state, slug, None).await.unwrap();
    }
    let ana = student(&app, "Ana", "ana@example.com").await;
    // An open checkout for Gut Foundations, before Stripe stops answering.
    let open = start_checkout(&app, &ana, GUT).await;
    assert_eq!(open.status, StatusCode::SEE_OTHER);
    let open_url = open.header("location").to_owned();

    stripe.stop().await;
    let hole = BlackHole::on(stripe.addr()).await;

    // A new purchase: no answer in time. The buyer is told what happened and can try again;
    // the order made for it is failed, with the reason, not left pending.
    let page = start_checkout(&app, &ana, SKIN).await;
    assert_eq!(page.status, StatusCode::SERVICE_UNAVAILABLE);
    let problem = page.text(".problem");
    assert!(
        problem.contains("did not answer in time") && problem.contains("Nothing was charged"),
        "{problem}"
    );
    assert_eq!(
        page.attr("form[action='/checkout'] input[name='course']", "value"),
        SKIN
    );
    assert_eq!(page.text("form[action='/checkout'] button"), "Try again");
    let failed: i64 = db_run!(&app.db, pool => sqlx::query_scalar("SELECT id FROM orders WHERE status = 'failed'").fetch_one(pool).await).unwrap();
    assert!(
        text(&app.db, "SELECT failure FROM orders WHERE status = 'failed'")
            .await
            .contains("no answer within 1 s")
    );
    // What reached Stripe (the black hole) carried the order's idempotency key.
    let sent = hole.wait_for("POST /v1/checkout/sessions").await;
    let key = http_header(&sent, "Idempotency-Key").expect("an idempotency key");
    assert!(key.starts_with(&format!("learnwell-checkout-{failed}-")), "{key}");

    // The same purchase as the open checkout: Stripe cannot say whether that session is still
    // open, so the buyer is told at once, and no order is added.
    let again = start_checkout(&app, &ana, GUT).await;
    assert_eq!(again.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(again.text(".problem").contains("Nothing was charged"));
    assert_eq!(count(&app.db, "SELECT COUNT(*) FROM orders").await, 2);
    assert_eq!(
        count(&app.db, "SELECT COUNT(*) FROM orders WHERE status = 'pending'").await,
        1,
        "only the open checkout"
    );

    // The studio lists the failed order under "failed", with why, on the page and in the CSV.
    let maya = app.instructor("maya@example.com", PW).await;
    let list = app.get_with(&maya, "/admin/orders?status=failed").await;
    let row = list.text(&format!("#order-{failed}"));
    assert!(row.contains("failed") && row.contains("no answer within 1 s"), "{row}");
    assert!(list.texts("#o-status option").iter().any(|o| o == "Failed"));
    let csv = maya
        .get(app.url("/admin/orders.csv?status=failed"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(csv.lines().next().unwrap().contains(",Note,"), "{csv}");
    assert!(
        csv.contains(",failed,") && csv.contains("no answer within 1 s"),
        "{csv}"
    );

    // Reconciliation asks only about pending orders: the failed one stays as it is.
    app.state.clock.advance(Duration::minutes(16));
    hole.close().await;
    stripe.resume().await;
    assert_eq!(learnwell::payments::flows::reconcile(&app.state).await.unwrap(), 0);
    assert_eq!(
        text(&app.db, &format!("SELECT status FROM orders WHERE id = {failed}")).await,
        "failed"
    );

    // Stripe answers again: trying again works, and the open checkout is found again.
    let retried = start_checkout(&app, &ana, SKIN).await;
    assert_eq!(retried.status, StatusCode::SEE_OTHER, "{}", retried.text(".problem"));
    assert!(
        retried
            .header("location")
            .starts_with(&format!("{}pay/cs_", stripe.base_url()))
    );
    let back = start_checkout(&app, &ana, GUT).await;
    assert_eq!(back.header("location"), open_url);
    assert_eq!(
        count(&app.db, "SELECT COUNT(*) FROM orders WHERE status = 'pending'").await,
        2
    );
    assert_eq!(count(&app.db, "SELECT COUNT(*) FROM orders").await, 3);
}

async fn jobs_and_mail_keep_running_while_stripe_hangs(backend: Backend) {
    // Stripe's calls may take up to 25 s here: longer than this test waits for anything.
    let (app, stripe) = with_stripe(&backend, &[("STRIPE_TIMEOUT", "25")]).await;
    learnwell::launch::launch_now(&app.state, GUT, None).await.unwrap();
    let ben = student(&app, "Ben", "ben@example.com").await;
    let pending = start_checkout(&app, &ben, GUT).await;
    assert_eq!(pending.status, StatusCode::SEE_OTHER);
    preenrollee(&app, "pat@example.com", SKIN).await;
    let maya = app.instructor("maya@example.com", PW).await;
    let module = schedule_launch_and_module(&app, &maya, SKIN, GUT).await;
    assert_eq!(module_status(&app.db, module).await, "scheduled");

    // Stripe hangs. Once the order is old enough, the reconciliation job asks about it and waits.
    stripe.stop().await;
    let hole = BlackHole::on(stripe.addr()).await;
    app.state.clock.advance(Duration::minutes(16));
    app.state.jobs_wakeup.notify_one();
    hole.wait_for("GET /v1/checkout/sessions/").await;

    // Meanwhile the launch and the module come due: both happen on time, and the launch email
    // goes out, while the reconciliation is still waiting for Stripe.
    app.state.clock.advance(Duration::minutes(45));
    app.state.jobs_wakeup.notify_one();
    eventually!("the scheduled launch", course_status(&app.db, SKIN).await == "open");
    eventually!(
        "the scheduled module",
        module_status(&app.db, module).await == "published"
    );
    let mails = app.smtp.wait_for("pat@example.com", 2).await;
    assert!(mails.iter().any(|m| m.subject().contains("is open")), "a launch email");
    assert_eq!(hole.connections(), 1, "the reconciliation is still on its one call");
    assert_eq!(
        count(&app.db, "SELECT COUNT(*) FROM orders WHERE status = 'pending'").await,
        1,
        "and its order is untouched"
    );
}

async fn a_hung_smtp_server_holds_up_no_launch_or_publishing(backend: Backend) {
    let hole = BlackHole::start().await;
    let app = TestApp::spawn_with(
        &backend,
        AppOptions::env(&[("SMTP_URL", &hole.smtp_url()), ("SMTP_TIMEOUT", "45")]),
    )
    .await;
    // An email to send, and the worker stuck on it.
    let page = app
        .post_form(
            &common::new_client(),
            "/signup",
            &[("name", "Cy"), ("email", "cy@example.com"), ("password", PW)],
        )
        .await;
    assert_eq!(page.status, StatusCode::OK);
    hole.wait_for_connections(1).await;

    learnwell::launch::launch_now(&app.state, GUT, None).await.unwrap();
    let maya = app.instructor("maya@example.com", PW).await;
    let module = schedule_launch_and_module(&app, &maya, SKIN, GUT).await;
    app.state.clock.advance(Duration::minutes(61));
    app.state.jobs_wakeup.notify_one();
    eventually!("the scheduled launch", course_status(&app.db, SKIN).await == "open");
    eventually!(
        "the scheduled module",
        module_status(&app.db, module).await == "published"
    );
    assert_eq!(
        count(&app.db, "SELECT COUNT(*) FROM outbox WHERE status = 'sent'").await,
        0,
        "the SMTP server is still silent"
    );
}

async fn mail_stuck_on_a_hung_smtp_server_is_retried_later(backend: Backend) {
    let hole = BlackHole::start().await;
    let app = TestApp::spawn_with(
        &backend,
        AppOptions::env(&[("SMTP_URL", &hole.smtp_url()), ("SMTP_TIMEOUT", "1")]),
    )
    .await;
    let page = app
        .post_form(
            &common::new_client(),
            "/signup",
            &[("name", "Di"), ("email", "di@example.com"), ("password", PW)],
        )
        .await;
    assert_eq!(page.status, StatusCode::OK);
    // The send gives up after SMTP_TIMEOUT; the message waits for its retry, lease released.
    eventually!(
        "the timed-out send recorded",
        count(
            &app.db,
            "SELECT COUNT(*) FROM outbox WHERE status = 'pending' AND attempts = 1 AND locked_until IS NULL \
             AND last_error LIKE '%did not answer within 1 s%'",
        )
        .await
            == 1
    );
    // The server comes back (a working one on the same port); at the retry time it goes out.
    let addr = hole.addr;
    hole.close().await;
    let sink = SmtpSink::start_on(addr).await;
    app.state
        .clock
        .advance(learnwell::mail::worker::backoff(1) + Duration::seconds(1));
    app.state.mail_wakeup.notify_one();
    let mails = sink.wait_for("di@example.com", 1).await;
    assert!(mails[0].subject().contains("Confirm"), "{}", mails[0].subject());
    eventually!(
        "marked sent",
        count(
            &app.db,
            "SELECT COUNT(*) FROM outbox WHERE status = 'sent' AND attempts = 2"
        )
        .await
            == 1
    );
}

/// Migrates a fresh database to just before 0010.
async fn migrate_to_0009(db: &Db) {
    let folder = match db {
        Db::Sqlite(_) => "migrations/sqlite",
        Db::Postgres(_) => "migrations/postgres",
    };
    let mut migrator = sqlx::migrate::Migrator::new(common::repo_path(folder)).await.unwrap();
    let before: Vec<_> = migrator.migrations.iter().filter(|m| m.version < 10).cloned().collect();
    assert_eq!(before.len(), 9);
    migrator.migrations = Cow::Owned(before);
    match db {
        Db::Sqlite(pool) => migrator.run(pool).await.unwrap(),
        Db::Postgres(pool) => migrator.run(pool).await.unwrap(),
    }
}

type OrderRow = (i64, String, String, i64, bool, Option<String>, OffsetDateTime);
type OutboxRow = (
    i64,
    Option<String>,
    String,
    String,
    String,
    i64,
    Option<OffsetDateTime>,
    Option<String>,
);

async fn orders(db: &Db) -> Vec<OrderRow> {
    db_run!(db, pool => sqlx::query_as("SELECT id, status, provider, total_cents, bundle, checkout_session_id, created_at FROM orders ORDER BY id").fetch_all(pool).await).unwrap()
}

async fn outbox(db: &Db) -> Vec<OutboxRow> {
    db_run!(db, pool => sqlx::query_as("SELECT id, dedupe_key, to_addr, subject, status, attempts, locked_until, campaign FROM outbox ORDER BY id").fetch_all(pool).await).unwrap()
}

async fn insert_message(db: &Db, n: i64, now: OffsetDateTime) -> i64 {
    const SQL: &str = "INSERT INTO outbox (dedupe_key, category, campaign, to_addr, to_name, subject, body_text, body_html, \
        headers, status, attempts, next_attempt_at, locked_until, created_at) \
        VALUES ($1, 'marketing', $2, $3, 'N', $4, 't', '<p>t</p>', '[]', $5, $6, $7, $8, $7) RETURNING id";
    let status = if n % 2 == 0 { "sent" } else { "pending" };
    let locked = (n == 3).then_some(now + Duration::minutes(5));
    db_run!(db, pool => sqlx::query_scalar::<_, i64>(SQL)
        .bind(format!("launch:1:to:{n}")).bind((n < 3).then_some("launch:1")).bind(format!("p{n}@example.com"))
        .bind(format!("Message {n}")).bind(status).bind(n).bind(now).bind(locked)
        .fetch_one(pool).await)
    .unwrap()
}

async fn migration_0010_keeps_every_order_and_message(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let test_db = TestDb::create(&backend, dir.path()).await;
    let kind = match backend {
        Backend::Sqlite => learnwell::config::DatabaseKind::Sqlite,
        Backend::Postgres(_) => learnwell::config::DatabaseKind::Postgres,
    };
    let db = Db::connect(&test_db.url, &kind).await.unwrap();
    migrate_to_0009(&db).await;
    let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    for (status, session) in [
        ("paid", Some("cs_1")),
        ("pending", Some("cs_2")),
        ("failed", None),
        ("refunded", None),
    ] {
        db_run!(&db, pool => sqlx::query("INSERT INTO orders (user_id, email, name, status, provider, currency, list_cents, \
            total_cents, bundle, early_bird, checkout_session_id, created_at, updated_at) \
            VALUES (NULL, 'b@example.com', 'B', $1, 'stripe', 'USD', 19700, 19700, $2, FALSE, $3, $4, $4)")
            .bind(status).bind(status == "paid").bind(session).bind(now).execute(pool).await.map(|_| ()))
        .unwrap();
    }
    for n in 1..=4 {
        insert_message(&db, n, now).await;
    }
    db_run!(&db, pool => sqlx::query("DELETE FROM outbox WHERE id = 4").execute(pool).await.map(|_| ())).unwrap();
    let (orders_before, outbox_before) = (orders(&db).await, outbox(&db).await);
    assert_eq!((orders_before.len(), outbox_before.len()), (4, 3));

    db.migrate().await.unwrap();

    assert_eq!(orders(&db).await, orders_before);
    assert_eq!(outbox(&db).await, outbox_before);
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM orders WHERE failure IS NULL AND refund_attempt = 0"
        )
        .await,
        4
    );
    // From now on an outbox id is never handed out twice, whatever was deleted.
    let a = insert_message(&db, 5, now).await;
    assert!(a > 3, "{a}");
    db_run!(&db, pool => sqlx::query("DELETE FROM outbox WHERE id = $1").bind(a).execute(pool).await.map(|_| ()))
        .unwrap();
    let b = insert_message(&db, 6, now).await;
    assert!(b > a, "id {a} was deleted and came back as {b}");
    // The rebuilt table keeps its rules.
    let dup = db_run!(&db, pool => sqlx::query("INSERT INTO outbox (dedupe_key, category, to_addr, to_name, subject, \
        body_text, body_html, headers, next_attempt_at, created_at) VALUES ('launch:1:to:1', 'marketing', 'x', 'x', 'x', \
        'x', 'x', '[]', $1, $1)").bind(now).execute(pool).await.map(|_| ()));
    assert!(dup.is_err(), "dedupe keys stay unique");
    db.close().await;
}
