//! Every SQL statement of the content import, export and rehash.

use time::OffsetDateTime;

use super::ItemKind;
use super::source::{LessonSource, ModuleSource, PageSource, ProgramSource, SiteSource};
use crate::db::Tx;
use crate::tx_run;

mod held;

pub use held::*;

#[derive(sqlx::FromRow, Debug)]
pub struct Existing {
    pub id: i64,
    pub slug: String,
    pub source_hash: String,
    pub archived: bool,
    pub studio_edited: bool,
    pub updated_at: OffsetDateTime,
}

pub async fn site_hash(tx: &mut Tx) -> sqlx::Result<Option<String>> {
    const SQL: &str = "SELECT source_hash FROM site WHERE id = 1";
    tx_run!(tx, conn => sqlx::query_scalar::<_, String>(SQL).fetch_optional(conn).await)
}

pub async fn upsert_site(tx: &mut Tx, s: &SiteSource, hash: &str, now: OffsetDateTime) -> sqlx::Result<()> {
    const SQL: &str = "INSERT INTO site (id, name, tagline, about_html, instructor_name, instructor_title, \
        instructor_bio_html, contact_email, address, currency, time_zone, bundle_price_cents, \
        early_bird_percent, early_bird_days, notice, source_hash, updated_at, about_md, instructor_bio_md, bundle_plans) \
        VALUES (1, $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19) \
        ON CONFLICT (id) DO UPDATE SET name = excluded.name, tagline = excluded.tagline, \
        about_html = excluded.about_html, instructor_name = excluded.instructor_name, \
        instructor_title = excluded.instructor_title, instructor_bio_html = excluded.instructor_bio_html, \
        about_md = excluded.about_md, instructor_bio_md = excluded.instructor_bio_md, \
        contact_email = excluded.contact_email, address = excluded.address, currency = excluded.currency, \
        time_zone = excluded.time_zone, bundle_price_cents = excluded.bundle_price_cents, \
        early_bird_percent = excluded.early_bird_percent, early_bird_days = excluded.early_bird_days, \
        notice = excluded.notice, source_hash = excluded.source_hash, updated_at = excluded.updated_at, \
        bundle_plans = excluded.bundle_plans";
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
        .bind(&s.about_md)
        .bind(&s.instructor_bio_md)
        .bind(s.bundle_plans.to_json())
        .execute(conn)
        .await
        .map(|_| ()))
}

pub async fn courses(tx: &mut Tx) -> sqlx::Result<Vec<Existing>> {
    const SQL: &str = "SELECT id, slug, source_hash, archived, studio_edited, updated_at FROM courses";
    tx_run!(tx, conn => sqlx::query_as::<_, Existing>(SQL).fetch_all(conn).await)
}

pub async fn archive_course(tx: &mut Tx, id: i64, now: OffsetDateTime) -> sqlx::Result<()> {
    const SQL: &str = "UPDATE courses SET archived = TRUE, studio_edited = FALSE, updated_at = $2 WHERE id = $1";
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
        price_cents, status, position, source_hash, created_at, updated_at, description_md, files_dir, plans) \
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $13, $1, $14) RETURNING id";
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
        .bind(&p.description_md)
        .bind(crate::payments::plans::Plans(p.plans.clone()).to_json())
        .fetch_one(conn)
        .await)
}

/// Updates what the files own, the slug too (a program renamed in the studio gets its folder's
/// name back). The status is left alone: it belongs to the instructor once the program exists
/// (launching happens in the app). The files and the row agree again: not studio-edited.
pub async fn update_course(
    tx: &mut Tx,
    id: i64,
    p: &ProgramSource,
    hash: &str,
    now: OffsetDateTime,
) -> sqlx::Result<()> {
    const SQL: &str = "UPDATE courses SET title = $2, promise = $3, description_html = $4, who_for = $5, \
        not_for = $6, faq = $7, price_cents = $8, position = $9, source_hash = $10, updated_at = $11, \
        archived = FALSE, slug = $12, description_md = $13, files_dir = COALESCE(files_dir, $12), \
        studio_edited = FALSE, plans = $14 WHERE id = $1";
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
        .bind(&p.slug)
        .bind(&p.description_md)
        .bind(crate::payments::plans::Plans(p.plans.clone()).to_json())
        .execute(conn)
        .await
        .map(|_| ()))
}

/// The folder a program's files are kept under (its first slug; a rename in the studio keeps it).
pub async fn files_dir(tx: &mut Tx, id: i64) -> sqlx::Result<String> {
    const SQL: &str = "SELECT COALESCE(files_dir, slug) FROM courses WHERE id = $1";
    tx_run!(tx, conn => sqlx::query_scalar::<_, String>(SQL).bind(id).fetch_one(conn).await)
}

/// A program the import leaves as it is: the files and the row agree, so it is no longer a
/// studio edit; and it learns its files' folder if it did not know it yet.
pub async fn settle_course(tx: &mut Tx, id: i64, folder: &str) -> sqlx::Result<()> {
    const SQL: &str = "UPDATE courses SET studio_edited = FALSE, files_dir = COALESCE(files_dir, $2) \
        WHERE id = $1 AND (studio_edited OR files_dir IS NULL)";
    tx_run!(tx, conn => sqlx::query(SQL).bind(id).bind(folder).execute(conn).await.map(|_| ()))
}

pub async fn settle_module(tx: &mut Tx, id: i64) -> sqlx::Result<()> {
    const SQL: &str = "UPDATE modules SET studio_edited = FALSE WHERE id = $1";
    tx_run!(tx, conn => sqlx::query(SQL).bind(id).execute(conn).await.map(|_| ()))
}

pub async fn settle_lesson(tx: &mut Tx, id: i64) -> sqlx::Result<()> {
    const SQL: &str = "UPDATE lessons SET studio_edited = FALSE WHERE id = $1";
    tx_run!(tx, conn => sqlx::query(SQL).bind(id).execute(conn).await.map(|_| ()))
}

/// The old slugs of programs renamed in the studio, and the program each now names.
pub async fn course_redirects(tx: &mut Tx) -> sqlx::Result<Vec<(String, i64)>> {
    const SQL: &str = "SELECT old_slug, course_id FROM course_redirects";
    tx_run!(tx, conn => sqlx::query_as::<_, (String, i64)>(SQL).fetch_all(conn).await)
}

pub async fn delete_course_redirect(tx: &mut Tx, old_slug: &str) -> sqlx::Result<()> {
    const SQL: &str = "DELETE FROM course_redirects WHERE old_slug = $1";
    tx_run!(tx, conn => sqlx::query(SQL).bind(old_slug).execute(conn).await.map(|_| ()))
}

pub async fn add_course_redirect(tx: &mut Tx, old_slug: &str, course_id: i64) -> sqlx::Result<()> {
    const SQL: &str = "INSERT INTO course_redirects (old_slug, course_id) VALUES ($1, $2) \
        ON CONFLICT (old_slug) DO UPDATE SET course_id = excluded.course_id";
    tx_run!(tx, conn => sqlx::query(SQL).bind(old_slug).bind(course_id).execute(conn).await.map(|_| ()))
}

pub async fn lesson_redirects(tx: &mut Tx, course_id: i64) -> sqlx::Result<Vec<(String, i64)>> {
    const SQL: &str = "SELECT old_slug, lesson_id FROM lesson_redirects WHERE course_id = $1";
    tx_run!(tx, conn => sqlx::query_as::<_, (String, i64)>(SQL).bind(course_id).fetch_all(conn).await)
}

pub async fn delete_lesson_redirect(tx: &mut Tx, course_id: i64, old_slug: &str) -> sqlx::Result<()> {
    const SQL: &str = "DELETE FROM lesson_redirects WHERE course_id = $1 AND old_slug = $2";
    tx_run!(tx, conn => sqlx::query(SQL).bind(course_id).bind(old_slug).execute(conn).await.map(|_| ()))
}

pub async fn add_lesson_redirect(tx: &mut Tx, course_id: i64, old_slug: &str, lesson_id: i64) -> sqlx::Result<()> {
    const SQL: &str = "INSERT INTO lesson_redirects (course_id, old_slug, lesson_id) VALUES ($1, $2, $3) \
        ON CONFLICT (course_id, old_slug) DO UPDATE SET lesson_id = excluded.lesson_id";
    tx_run!(tx, conn => sqlx::query(SQL)
        .bind(course_id)
        .bind(old_slug)
        .bind(lesson_id)
        .execute(conn)
        .await
        .map(|_| ()))
}

/// How many live modules, lessons and pages of a program the studio changed.
pub async fn studio_edits_inside(tx: &mut Tx, course_id: i64) -> sqlx::Result<i64> {
    const SQL: &str = "SELECT (SELECT COUNT(*) FROM modules WHERE course_id = $1 AND studio_edited AND NOT archived) \
        + (SELECT COUNT(*) FROM lessons WHERE course_id = $1 AND studio_edited AND NOT archived) \
        + (SELECT COUNT(*) FROM program_pages WHERE course_id = $1 AND studio_edited AND NOT archived)";
    tx_run!(tx, conn => sqlx::query_scalar::<_, i64>(SQL).bind(course_id).fetch_one(conn).await)
}

pub async fn modules_of(tx: &mut Tx, course_id: i64) -> sqlx::Result<Vec<Existing>> {
    const SQL: &str =
        "SELECT id, slug, source_hash, archived, studio_edited, updated_at FROM modules WHERE course_id = $1";
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
        created_at, updated_at, unlock_after_days, unlock_on, status) \
        VALUES ($1, $2, $3, $4, $5, FALSE, $6, $7, $7, $8, $9, $10) RETURNING id";
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
        .bind(m.status.as_str())
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
        source_hash = $5, updated_at = $6, unlock_after_days = $7, unlock_on = $8, studio_edited = FALSE \
        WHERE id = $1";
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
    const SQL: &str =
        "SELECT id, slug, source_hash, archived, studio_edited, updated_at FROM lessons WHERE course_id = $1";
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
    // A new revision: a studio editor still open on the old text must not save over this.
    const SQL: &str = "UPDATE lessons SET module_id = $2, title = $3, position = $4, duration_minutes = $5, \
        free_preview = $6, video_url = $7, downloads = $8, body_md = $9, body_html = $10, archived = FALSE, \
        source_hash = $11, updated_at = $12, slug = $13, studio_edited = FALSE, revision = revision + 1 \
        WHERE id = $1";
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
        .bind(&l.slug)
        .execute(conn)
        .await
        .map(|_| ()))
}

/// Hides a module or lesson that is gone from the files. Rows are never deleted: students' progress
/// and links stay attached, and the item comes back if its file does.
pub async fn archive_module(tx: &mut Tx, id: i64, now: OffsetDateTime) -> sqlx::Result<()> {
    const SQL: &str = "UPDATE modules SET archived = TRUE, studio_edited = FALSE, updated_at = $2 WHERE id = $1";
    tx_run!(tx, conn => sqlx::query(SQL).bind(id).bind(now).execute(conn).await.map(|_| ()))
}

pub async fn archive_lesson(tx: &mut Tx, id: i64, now: OffsetDateTime) -> sqlx::Result<()> {
    const SQL: &str = "UPDATE lessons SET archived = TRUE, studio_edited = FALSE, updated_at = $2 WHERE id = $1";
    tx_run!(tx, conn => sqlx::query(SQL).bind(id).bind(now).execute(conn).await.map(|_| ()))
}

/// A program's glossary and worksheets, each named `glossary/glossary` or `worksheet/NAME`.
pub async fn pages_of(tx: &mut Tx, course_id: i64) -> sqlx::Result<Vec<Existing>> {
    const SQL: &str = "SELECT id, kind || '/' || name AS slug, source_hash, archived, studio_edited, updated_at \
        FROM program_pages WHERE course_id = $1";
    tx_run!(tx, conn => sqlx::query_as::<_, Existing>(SQL).bind(course_id).fetch_all(conn).await)
}

pub async fn insert_page(
    tx: &mut Tx,
    course_id: i64,
    p: &PageSource,
    hash: &str,
    now: OffsetDateTime,
) -> sqlx::Result<i64> {
    const SQL: &str = "INSERT INTO program_pages (course_id, kind, name, title, summary, public, csv, body_md, \
        body_html, archived, studio_edited, source_hash, created_at, updated_at) \
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, FALSE, FALSE, $10, $11, $11) RETURNING id";
    tx_run!(tx, conn => sqlx::query_scalar::<_, i64>(SQL)
        .bind(course_id)
        .bind(p.kind.as_str())
        .bind(&p.name)
        .bind(&p.title)
        .bind(&p.summary)
        .bind(p.public)
        .bind(&p.csv)
        .bind(&p.body_md)
        .bind(&p.body_html)
        .bind(hash)
        .bind(now)
        .fetch_one(conn)
        .await)
}

pub async fn update_page(tx: &mut Tx, id: i64, p: &PageSource, hash: &str, now: OffsetDateTime) -> sqlx::Result<()> {
    const SQL: &str = "UPDATE program_pages SET title = $2, summary = $3, public = $4, csv = $5, body_md = $6, \
        body_html = $7, archived = FALSE, studio_edited = FALSE, source_hash = $8, updated_at = $9 WHERE id = $1";
    tx_run!(tx, conn => sqlx::query(SQL)
        .bind(id)
        .bind(&p.title)
        .bind(&p.summary)
        .bind(p.public)
        .bind(&p.csv)
        .bind(&p.body_md)
        .bind(&p.body_html)
        .bind(hash)
        .bind(now)
        .execute(conn)
        .await
        .map(|_| ()))
}

pub async fn settle_page(tx: &mut Tx, id: i64) -> sqlx::Result<()> {
    const SQL: &str = "UPDATE program_pages SET studio_edited = FALSE WHERE id = $1";
    tx_run!(tx, conn => sqlx::query(SQL).bind(id).execute(conn).await.map(|_| ()))
}

/// Hides a page whose file is gone; it comes back if the file does.
pub async fn archive_page(tx: &mut Tx, id: i64, now: OffsetDateTime) -> sqlx::Result<()> {
    const SQL: &str = "UPDATE program_pages SET archived = TRUE, studio_edited = FALSE, updated_at = $2 WHERE id = $1";
    tx_run!(tx, conn => sqlx::query(SQL).bind(id).bind(now).execute(conn).await.map(|_| ()))
}

fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "[]".to_owned())
}
