//! `/healthz` and the migration folders.

use crate::common;

use common::{Backend, TestApp};
use reqwest::StatusCode;

both_backends!(healthz_follows_the_database);

async fn healthz_follows_the_database(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    let up = app.get("/healthz").await;
    assert_eq!(up.status, StatusCode::OK);
    assert_eq!(up.header("content-type"), "application/json");
    let json: serde_json::Value = serde_json::from_str(&up.body).unwrap();
    assert_eq!(json["status"], "ok");
    assert_eq!(json["database"], app.db.backend_name());

    // The database stops answering: 503, still JSON. The public pages are served from the
    // in-memory catalogue, so visitors still see them.
    app.db.close().await;
    let down = app.get("/healthz").await;
    assert_eq!(down.status, StatusCode::SERVICE_UNAVAILABLE);
    let json: serde_json::Value = serde_json::from_str(&down.body).unwrap();
    assert_eq!(json["status"], "unavailable");
    let page = app.get("/courses/gut-foundations").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.text("h1"), "Gut Foundations");
}

#[tokio::test]
async fn sqlite_runs_with_wal_foreign_keys_and_a_busy_timeout() {
    let app = TestApp::spawn(&Backend::Sqlite).await;
    let learnwell::db::Db::Sqlite(pool) = &app.db else {
        unreachable!()
    };
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(pool).await.unwrap();
    let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys").fetch_one(pool).await.unwrap();
    let busy: i64 = sqlx::query_scalar("PRAGMA busy_timeout").fetch_one(pool).await.unwrap();
    let sync: i64 = sqlx::query_scalar("PRAGMA synchronous").fetch_one(pool).await.unwrap();
    assert_eq!((mode.as_str(), fk, sync), ("wal", 1, 1));
    assert!(busy >= 1000, "{busy}");
}

#[test]
fn both_migration_folders_hold_the_same_files() {
    let names = |backend: &str| {
        let mut v: Vec<String> = std::fs::read_dir(common::repo_path(&format!("migrations/{backend}")))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let sqlite = names("sqlite");
    assert!(!sqlite.is_empty());
    assert_eq!(sqlite, names("postgres"));
    for name in &sqlite {
        let (number, rest) = name.split_once('_').unwrap();
        assert!(
            number.len() == 4 && number.chars().all(|c| c.is_ascii_digit()) && rest.ends_with(".sql"),
            "{name}"
        );
    }
}
