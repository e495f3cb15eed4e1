//! The email outbox and its worker: leases, retries, giving up, and never sending twice.

mod common;

use common::{AppOptions, Backend, TestApp, new_client};
use learnwell::db::Db;
use learnwell::db_run;
use learnwell::mail::{store, worker};
use time::Duration;

const PW: &str = "a calm long passphrase";

both_backends!(
    a_crashed_worker_neither_loses_nor_doubles,
    failures_retry_with_backoff_then_give_up,
    two_workers_send_each_message_once,
);

fn manual(extra: &[(&str, &str)]) -> AppOptions {
    AppOptions {
        background: false,
        ..AppOptions::env(extra)
    }
}

async fn row(db: &Db) -> (String, i64, Option<String>) {
    db_run!(db, pool => sqlx::query_as("SELECT status, attempts, last_error FROM outbox ORDER BY id LIMIT 1").fetch_one(pool).await).unwrap()
}

async fn a_crashed_worker_neither_loses_nor_doubles(backend: Backend) {
    let app = TestApp::spawn_with(&backend, manual(&[])).await;
    app.signup("Nia", "nia@example.com", PW).await;
    // A worker claims the message, then dies before sending.
    let claimed = store::claim(&app.db, app.state.clock.now(), worker::LEASE, 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    // While its lease lasts, nobody else sends it.
    assert_eq!(worker::run_once(&app.state).await.unwrap(), 0);
    assert!(app.smtp.all().is_empty());
    // The lease runs out: it is sent, once.
    app.state.clock.advance(worker::LEASE + Duration::seconds(1));
    assert_eq!(worker::run_once(&app.state).await.unwrap(), 1);
    assert_eq!(app.smtp.wait_for("nia@example.com", 1).await.len(), 1);
    assert_eq!(row(&app.db).await.0, "sent");
    app.state.clock.advance(Duration::days(2));
    assert_eq!(worker::run_once(&app.state).await.unwrap(), 0);
    assert_eq!(app.smtp.all().len(), 1, "never twice");
    let mail = &app.smtp.all()[0];
    assert!(mail.header("Message-ID").unwrap().starts_with("<outbox-"));
}

async fn failures_retry_with_backoff_then_give_up(backend: Backend) {
    // Nothing listens on port 9 here: every delivery fails.
    let app = TestApp::spawn_with(&backend, manual(&[("SMTP_URL", "smtp://127.0.0.1:9")])).await;
    let page = app
        .post_form(
            &new_client(),
            "/signup",
            &[("name", "Oli"), ("email", "oli@example.com"), ("password", PW)],
        )
        .await;
    assert_eq!(
        page.status,
        reqwest::StatusCode::SEE_OTHER,
        "signing up does not wait for email"
    );
    assert_eq!(worker::run_once(&app.state).await.unwrap(), 1);
    let (status, attempts, error) = row(&app.db).await;
    assert_eq!((status.as_str(), attempts), ("pending", 1));
    assert!(error.is_some());
    // Not again before the backoff has passed.
    assert_eq!(worker::run_once(&app.state).await.unwrap(), 0);
    app.state.clock.advance(worker::backoff(1) + Duration::seconds(1));
    assert_eq!(worker::run_once(&app.state).await.unwrap(), 1);
    assert_eq!(row(&app.db).await.1, 2);
    // A day on, it is marked failed (and the studio counts it).
    app.state.clock.advance(Duration::hours(25));
    assert_eq!(worker::run_once(&app.state).await.unwrap(), 1);
    assert_eq!(row(&app.db).await.0, "failed");
    app.state.clock.advance(Duration::days(3));
    assert_eq!(
        worker::run_once(&app.state).await.unwrap(),
        0,
        "failed messages are left alone"
    );
}

async fn two_workers_send_each_message_once(backend: Backend) {
    let app = TestApp::spawn_with(&backend, manual(&[])).await;
    for i in 0..30 {
        let email = format!("p{i}@example.com");
        let page = app
            .post_form(
                &new_client(),
                "/signup",
                &[("name", "P"), ("email", &email), ("password", PW)],
            )
            .await;
        assert_eq!(page.status, reqwest::StatusCode::SEE_OTHER);
    }
    // Two instances' workers at once, twice over.
    let (a, b) = tokio::join!(worker::run_once(&app.state), worker::run_once(&app.state));
    let (c, d) = tokio::join!(worker::run_once(&app.state), worker::run_once(&app.state));
    let handled = a.unwrap() + b.unwrap() + c.unwrap() + d.unwrap();
    assert_eq!(handled, 30);
    let mut to: Vec<String> = app.smtp.all().into_iter().flat_map(|m| m.to).collect();
    to.sort();
    to.dedup();
    assert_eq!(to.len(), 30);
    assert_eq!(app.smtp.all().len(), 30, "each message exactly once");
}
