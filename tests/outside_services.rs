//! Migration 0010 keeps every order and message.

mod common;

use std::borrow::Cow;

use common::{Backend, TestDb};
use learnwell::db::Db;
use learnwell::db_run;
use time::{Duration, OffsetDateTime};

both_backends!(
    migration_0010_keeps_every_order_and_message,
);

async fn count(db: &Db, sql: &str) -> i64 {
    db_run!(db, pool => sqlx::query_scalar::<_, i64>(sql).fetch_one(pool).await).unwrap()
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
