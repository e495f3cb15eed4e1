//! Every SQL statement of the content import.

use time::OffsetDateTime;

use super::source::{LessonSource, ModuleSource, ProgramSource, SiteSource};
use crate::db::Tx;
use crate::tx_run;

#[derive(sqlx::FromRow, Debug)]
pub struct Existing {
    pub id: i64,
    pub slug: String,
    pub source_hash: String,
    pub archived: bool,
}

pub async fn site_hash(tx: &mut Tx) -> sqlx::Result<Option<String>> {
    const SQL: &str = "SELECT source_hash FROM site WHERE id = 1";
    tx_run!(tx, conn => sqlx::query_scalar::<_, String>(SQL).fetch_optional(conn).await)
}

pub async fn upsert_site(tx: &mut Tx, s: &SiteSource, hash: &str, now: OffsetDateTime) -> sqlx::Result<()> {
    const SQL: &str = "INSERT INTO site (id, name, tagline, about_html, instructor_name, instructor_title, \
        instructor_bio_html, contact_email, address, currency, time_zone, bundle_price_cents, \
        early_bird_percent, early_bird_days, notice, source_hash, updated_at) \
        VALUES (1, $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) \
        ON CONFLICT (id) DO UPDATE SET name = excluded.name, tagline = excluded.tagline, \
        about_html = excluded.about_html, instructor_name = excluded.instructor_name, \
        instructor_title = excluded.instructor_title, instructor_bio_html = excluded.instructor_bio_html, \
        contact_email = excluded.contact_email, address = excluded.address, currency = excluded.currency, \
        time_zone = excluded.time_zone, bundle_price_cents = excluded.bundle_price_cents, \
        early_bird_percent = excluded.early_bird_percent, early_bird_days = excluded.early_bird_days, \
        notice = excluded.notice, source_hash = excluded.source_hash, updated_at = excluded.updated_at";
    tx_run!(tx, conn => sqlx::query(SQL)
        .bind(&s.name)
        .bind(&s.tagline)
        .bind(&s.about_html)
        .bind(&s.instructor_name)
        .bind(&s.instructor_title)
        .bind(&s.instructor_bio_html)
        .bind(&s.contact_email)
        .bind(&s.address)
        .bind(&s.currency)
        .bind(&s.time_zone)
        .bind(s.bundle_price_cents)
        .bind(s.early_bird_percent)
        .bind(s.early_bird_days)
        .bind(&s.notice)
        .bind(hash)
        .bind(now)
        .execute(conn)
        .await
        .map(|_| ()))
}

pub async fn courses(tx: &mut Tx) -> sqlx::Result<Vec<Existing>> {
    const SQL: &str = "SELECT id, slug, source_hash, archived FROM courses";
    tx_run!(tx, conn => sqlx::query_as::<_, Existing>(SQL).fetch_all(conn).await)
}

pub async fn archive_course(tx: &mut Tx, id: i64, now: OffsetDateTime) -> sqlx::Result<()> {
    const SQL: &str = "UPDATE courses SET archived = TRUE, updated_at = $2 WHERE id = $1";
    tx_run!(tx, conn => sqlx::query(SQL).bind(id).bind(now).execute(conn).await.map(|_| ()))
}

/// Imports run one at a time: SQLite's BEGIN IMMEDIATE already serialises writers; on PostgreSQL a
/// transaction-scoped advisory lock does (two instances starting on an empty database, say).
pub async fn lock_for_import(tx: &mut Tx) -> sqlx::Result<()> {
    if let Tx::Postgres(t) = tx {
        sqlx::query("SELECT pg_advisory_xact_lock(727170)")
            .execute(&mut **t)
            .await?;
    }
    Ok(())
}

pub async fn insert_course(tx: &mut Tx, p: &ProgramSource, hash: &str, now: OffsetDateTime) -> sqlx::Result<i64> {
    const SQL: &str = "INSERT INTO courses (slug, title, promise, description_html, who_for, not_for, faq, \
        price_cents, status, position, source_hash, created_at, updated_at) \
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12) RETURNING id";
    let who_for = json(&p.who_for);
    let not_for = json(&p.not_for);
    let faq = json(&p.faq);
    tx_run!(tx, conn => sqlx::query_scalar::<_, i64>(SQL)
        .bind(&p.slug)
        .bind(&p.title)
        .bind(&p.promise)
        .bind(&p.description_html)
        .bind(&who_for)
        .bind(&not_for)
        .bind(&faq)
        .bind(p.price_cents)
        .bind(p.status.as_str())
        .bind(p.position)
        .bind(hash)
        .bind(now)
        .fetch_one(conn)
        .await)
}

/// Updates what the files own. The status is left alone: it belongs to the instructor once the
/// program exists (launching happens in the app).
pub async fn update_course(
    tx: &mut Tx,
    id: i64,
    p: &ProgramSource,
    hash: &str,
    now: OffsetDateTime,
) -> sqlx::Result<()> {
    const SQL: &str = "UPDATE courses SET title = $2, promise = $3, description_html = $4, who_for = $5, \
        not_for = $6, faq = $7, price_cents = $8, position = $9, source_hash = $10, updated_at = $11, \
        archived = FALSE WHERE id = $1";
    let who_for = json(&p.who_for);
    let not_for = json(&p.not_for);
    let faq = json(&p.faq);
    tx_run!(tx, conn => sqlx::query(SQL)
        .bind(id)
        .bind(&p.title)
        .bind(&p.promise)
        .bind(&p.description_html)
        .bind(&who_for)
        .bind(&not_for)
        .bind(&faq)
        .bind(p.price_cents)
        .bind(p.position)
        .bind(hash)
        .bind(now)
        .execute(conn)
        .await
        .map(|_| ()))
}

pub async fn modules_of(tx: &mut Tx, course_id: i64) -> sqlx::Result<Vec<Existing>> {
    const SQL: &str = "SELECT id, slug, source_hash, archived FROM modules WHERE course_id = $1";
    tx_run!(tx, conn => sqlx::query_as::<_, Existing>(SQL).bind(course_id).fetch_all(conn).await)
}

pub async fn insert_module(
    tx: &mut Tx,
    course_id: i64,
    m: &ModuleSource,
    hash: &str,
    now: OffsetDateTime,
) -> sqlx::Result<i64> {
    const SQL: &str = "INSERT INTO modules (course_id, slug, title, summary, position, archived, source_hash, \
        created_at, updated_at, unlock_after_days, unlock_on) VALUES ($1, $2, $3, $4, $5, FALSE, $6, $7, $7, $8, $9) \
        RETURNING id";
    tx_run!(tx, conn => sqlx::query_scalar::<_, i64>(SQL)
        .bind(course_id)
        .bind(&m.slug)
        .bind(&m.title)
        .bind(&m.summary)
        .bind(m.position)
        .bind(hash)
        .bind(now)
        .bind(m.unlock_after_days)
        .bind(&m.unlock_on)
        .fetch_one(conn)
        .await)
}

pub async fn update_module(
    tx: &mut Tx,
    id: i64,
    m: &ModuleSource,
    hash: &str,
    now: OffsetDateTime,
) -> sqlx::Result<()> {
    const SQL: &str = "UPDATE modules SET title = $2, summary = $3, position = $4, archived = FALSE, \
        source_hash = $5, updated_at = $6, unlock_after_days = $7, unlock_on = $8 WHERE id = $1";
    tx_run!(tx, conn => sqlx::query(SQL)
        .bind(id)
        .bind(&m.title)
        .bind(&m.summary)
        .bind(m.position)
        .bind(hash)
        .bind(now)
        .bind(m.unlock_after_days)
        .bind(&m.unlock_on)
        .execute(conn)
        .await
        .map(|_| ()))
}

pub async fn lessons_of(tx: &mut Tx, course_id: i64) -> sqlx::Result<Vec<Existing>> {
    const SQL: &str = "SELECT id, slug, source_hash, archived FROM lessons WHERE course_id = $1";
    tx_run!(tx, conn => sqlx::query_as::<_, Existing>(SQL).bind(course_id).fetch_all(conn).await)
}

pub async fn insert_lesson(
    tx: &mut Tx,
    course_id: i64,
    module_id: i64,
    l: &LessonSource,
    hash: &str,
    now: OffsetDateTime,
) -> sqlx::Result<i64> {
    const SQL: &str = "INSERT INTO lessons (course_id, module_id, slug, title, position, duration_minutes, \
        free_preview, video_url, downloads, body_md, body_html, archived, source_hash, created_at, updated_at) \
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, FALSE, $12, $13, $13) RETURNING id";
    let downloads = json(&l.downloads);
    tx_run!(tx, conn => sqlx::query_scalar::<_, i64>(SQL)
        .bind(course_id)
        .bind(module_id)
        .bind(&l.slug)
        .bind(&l.title)
        .bind(l.position)
        .bind(l.duration_minutes)
        .bind(l.free_preview)
        .bind(&l.video_url)
        .bind(&downloads)
        .bind(&l.body_md)
        .bind(&l.body_html)
        .bind(hash)
        .bind(now)
        .fetch_one(conn)
        .await)
}

pub async fn update_lesson(
    tx: &mut Tx,
    id: i64,
    module_id: i64,
    l: &LessonSource,
    hash: &str,
    now: OffsetDateTime,
) -> sqlx::Result<()> {
    const SQL: &str = "UPDATE lessons SET module_id = $2, title = $3, position = $4, duration_minutes = $5, \
        free_preview = $6, video_url = $7, downloads = $8, body_md = $9, body_html = $10, archived = FALSE, \
        source_hash = $11, updated_at = $12 WHERE id = $1";
    let downloads = json(&l.downloads);
    tx_run!(tx, conn => sqlx::query(SQL)
        .bind(id)
        .bind(module_id)
        .bind(&l.title)
        .bind(l.position)
        .bind(l.duration_minutes)
        .bind(l.free_preview)
        .bind(&l.video_url)
        .bind(&downloads)
        .bind(&l.body_md)
        .bind(&l.body_html)
        .bind(hash)
        .bind(now)
        .execute(conn)
        .await
        .map(|_| ()))
}

/// Hides a module or lesson that is gone from the files. Rows are never deleted: students' progress
/// and links stay attached, and the item comes back if its file does.
pub async fn archive_module(tx: &mut Tx, id: i64, now: OffsetDateTime) -> sqlx::Result<()> {
    const SQL: &str = "UPDATE modules SET archived = TRUE, updated_at = $2 WHERE id = $1";
    tx_run!(tx, conn => sqlx::query(SQL).bind(id).bind(now).execute(conn).await.map(|_| ()))
}

pub async fn archive_lesson(tx: &mut Tx, id: i64, now: OffsetDateTime) -> sqlx::Result<()> {
    const SQL: &str = "UPDATE lessons SET archived = TRUE, updated_at = $2 WHERE id = $1";
    tx_run!(tx, conn => sqlx::query(SQL).bind(id).bind(now).execute(conn).await.map(|_| ()))
}

pub async fn course_count(db: &crate::db::Db) -> sqlx::Result<i64> {
    const SQL: &str = "SELECT COUNT(*) FROM courses";
    crate::db_run!(db, pool => sqlx::query_scalar::<_, i64>(SQL).fetch_one(pool).await)
}

fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "[]".to_owned())
}
