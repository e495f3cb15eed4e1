//! The email outbox and its worker: leases, retries, giving up, and never sending twice.

use crate::common;

use std::collections::BTreeMap;

use common::blackhole::BlackHole;
use common::{AppOptions, Backend, TestApp, new_client};
use learnwell::db::Db;
use learnwell::db_run;
use learnwell::mail::{store, worker};
use time::Duration;

const PW: &str = "a calm long passphrase";

both_backends!(
    a_crashed_worker_neither_loses_nor_doubles,
    a_worker_stuck_on_a_hung_server_holds_one_message,
    eml_files_are_never_overwritten,
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

async fn signup(app: &TestApp, name: &str, email: &str) {
    let page = app
        .post_form(
            &new_client(),
            "/signup",
            &[("name", name), ("email", email), ("password", PW)],
        )
        .await;
    assert_eq!(page.status, reqwest::StatusCode::OK, "check your email");
}

async fn a_crashed_worker_neither_loses_nor_doubles(backend: Backend) {
    let app = TestApp::spawn_with(&backend, manual(&[])).await;
    for who in ["nia", "noa", "nel"] {
        signup(&app, who, &format!("{who}@example.com")).await;
    }
    // An instance claims the messages (as a batch, the most a worker ever held), then dies
    // before sending them.
    let claimed = store::claim(&app.db, app.state.clock.now(), worker::LEASE, 20)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 3);
    // While its lease lasts, nobody else sends them.
    assert_eq!(worker::run_once(&app.state).await.unwrap(), 0);
    assert!(app.smtp.all().is_empty());
    // About a minute later the lease has run out: each is sent, once.
    app.state.clock.advance(Duration::seconds(61));
    assert_eq!(worker::run_once(&app.state).await.unwrap(), 3);
    for who in ["nia", "noa", "nel"] {
        assert_eq!(app.smtp.wait_for(&format!("{who}@example.com"), 1).await.len(), 1);
    }
    assert_eq!(row(&app.db).await.0, "sent");
    app.state.clock.advance(Duration::days(2));
    assert_eq!(worker::run_once(&app.state).await.unwrap(), 0);
    assert_eq!(app.smtp.all().len(), 3, "never twice");
    let mail = &app.smtp.all()[0];
    assert!(mail.header("Message-ID").unwrap().starts_with("<outbox-"));
}

async fn a_worker_stuck_on_a_hung_server_holds_one_message(backend: Backend) {
    let hole = BlackHole::start().await;
    let app = TestApp::spawn_with(
        &backend,
        manual(&[("SMTP_URL", &hole.smtp_url()), ("SMTP_TIMEOUT", "45")]),
    )
    .await;
    // Two more messages than the worker has lanes.
    let people: Vec<String> = (0..worker::LANES + 2).map(|i| format!("stuck{i}")).collect();
    for who in &people {
        signup(&app, who, &format!("{who}@example.com")).await;
    }
    // This instance's worker finds them due, and each lane waits on the silent server with one.
    let stuck = tokio::spawn(worker::run(app.state.clone()));
    hole.wait_for_connections(worker::LANES).await;
    let leased = || async {
        db_run!(&app.db, pool => sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM outbox WHERE locked_until IS NOT NULL").fetch_one(pool).await).unwrap()
    };
    let lanes = i64::try_from(worker::LANES).unwrap();
    assert_eq!(leased().await, lanes, "one message per stuck lane, no more");
    // Another instance, with a working server, sends the other two meanwhile.
    let mut config = app.config.clone();
    config.smtp_url = Some(app.smtp.url());
    let other = learnwell::AppState::new(config, app.db.clone()).await.unwrap();
    assert_eq!(worker::run_once(&other).await.unwrap(), 2);
    assert_eq!(app.smtp.all().len(), 2);
    assert_eq!(leased().await, lanes, "the stuck ones are left to their worker");
    stuck.abort();
}

/// The `.eml` files in the outbox folder: name → content.
fn eml_files(app: &TestApp) -> BTreeMap<String, String> {
    std::fs::read_dir(app.dir.path().join("data/outbox"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect()
}

async fn eml_files_are_never_overwritten(backend: Backend) {
    // No SMTP_URL: every email is a file in DATA_DIR/outbox/.
    let app = TestApp::spawn_with(&backend, manual(&[("SMTP_URL", "")])).await;
    signup(&app, "Pam", "pam@example.com").await;
    signup(&app, "Pia", "pia@example.com").await;
    assert_eq!(worker::run_once(&app.state).await.unwrap(), 2);
    let first = eml_files(&app);
    assert_eq!(first.len(), 2, "{:?}", first.keys());
    // The rows go (as when an account is deleted), and a file is there from another database
    // (a restored backup) under the name the next message would get.
    db_run!(&app.db, pool => sqlx::query("DELETE FROM outbox").execute(pool).await.map(|_| ())).unwrap();
    let next = format!("{:08}.eml", 3);
    std::fs::write(app.dir.path().join("data/outbox").join(&next), "from another database").unwrap();
    signup(&app, "Pat", "pat@example.com").await;
    signup(&app, "Poe", "poe@example.com").await;
    assert_eq!(worker::run_once(&app.state).await.unwrap(), 2);

    let all = eml_files(&app);
    assert_eq!(all.len(), 5, "{:?}", all.keys());
    for (name, content) in &first {
        assert_eq!(all.get(name), Some(content), "{name} was overwritten");
    }
    assert_eq!(all[&next], "from another database");
    for who in ["pat", "poe"] {
        let copies = all
            .values()
            .filter(|c| c.contains(&format!("{who}@example.com")))
            .count();
        assert_eq!(copies, 1, "{who}: {:?}", all.keys());
    }
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
        reqwest::StatusCode::OK,
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
        assert_eq!(page.status, reqwest::StatusCode::OK);
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
