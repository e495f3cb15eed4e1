//! Every SQL statement of the public catalogue.

use serde::Serialize;

use crate::db::{Db, Tx};
use crate::{db_run, tx_run};

/// The practice, as imported from `site.toml`.
#[derive(sqlx::FromRow, Serialize, Clone, Debug)]
pub struct Site {
    pub name: String,
    pub tagline: String,
    pub about_html: String,
    pub instructor_name: String,
    pub instructor_title: String,
    pub instructor_bio_html: String,
    pub contact_email: String,
    pub address: String,
    pub currency: String,
    pub time_zone: String,
    pub bundle_price_cents: i64,
    pub early_bird_percent: i64,
    pub early_bird_days: i64,
    pub notice: String,
    /// The bundle's payment plans (`[[bundle_plan]]` in `site.toml`).
    #[sqlx(try_from = "String")]
    pub bundle_plans: crate::payments::plans::Plans,
}

/// A program as listed: enough for a card.
#[derive(sqlx::FromRow, Serialize, Clone, Debug)]
pub struct CourseSummary {
    pub id: i64,
    pub slug: String,
    pub title: String,
    pub promise: String,
    pub price_cents: i64,
    #[sqlx(try_from = "String")]
    pub status: crate::domain::CourseStatus,
    pub module_count: i64,
    pub lesson_count: i64,
    pub total_minutes: i64,
    /// Payment plans offered besides paying in full (`[[plan]]` in `course.toml`).
    #[sqlx(try_from = "String")]
    pub plans: crate::payments::plans::Plans,
}

/// A program's own page.
#[derive(sqlx::FromRow, Serialize, Clone, Debug)]
pub struct Course {
    pub id: i64,
    pub slug: String,
    pub title: String,
    pub promise: String,
    pub description_html: String,
    pub who_for: String,
    pub not_for: String,
    pub faq: String,
    pub price_cents: i64,
    #[sqlx(try_from = "String")]
    pub status: crate::domain::CourseStatus,
}

/// One row per lesson, with its module: the syllabus in one query.
#[derive(sqlx::FromRow, Serialize, Clone, Debug)]
pub struct SyllabusRow {
    pub course_id: i64,
    pub module_id: i64,
    pub module_slug: String,
    pub module_title: String,
    pub module_summary: String,
    pub lesson_id: i64,
    pub lesson_slug: String,
    pub lesson_title: String,
    pub duration_minutes: i64,
    pub free_preview: bool,
    pub unlock_after_days: Option<i64>,
    pub unlock_on: Option<String>,
}

#[derive(sqlx::FromRow, Serialize, Clone, Debug)]
pub struct Lesson {
    pub id: i64,
    pub course_id: i64,
    pub module_id: i64,
    pub slug: String,
    pub title: String,
    pub duration_minutes: i64,
    pub free_preview: bool,
    pub video_url: Option<String>,
    pub downloads: String,
    pub body_html: String,
}

/// A program's glossary or worksheet, rendered at import.
#[derive(sqlx::FromRow, Serialize, Clone, Debug)]
pub struct Page {
    pub course_id: i64,
    /// `glossary` or `worksheet`.
    pub kind: String,
    pub name: String,
    pub title: String,
    pub summary: String,
    pub public: bool,
    /// The worksheet's spreadsheet, relative to the program's folder.
    pub csv: Option<String>,
    pub body_html: String,
}

pub async fn site(db: &Db) -> sqlx::Result<Option<Site>> {
    const SQL: &str = "SELECT name, tagline, about_html, instructor_name, instructor_title, instructor_bio_html, \
        contact_email, address, currency, time_zone, bundle_price_cents, early_bird_percent, early_bird_days, \
        notice, bundle_plans FROM site WHERE id = 1";
    db_run!(db, pool => sqlx::query_as::<_, Site>(SQL).fetch_optional(pool).await)
}

/// Every program a visitor may see (all but drafts), in their order. Visitors and students see
/// only published modules, and only lessons with text (a lesson just added in the studio is not
/// shown until it is written).
pub async fn visible_courses(db: &Db) -> sqlx::Result<Vec<CourseSummary>> {
    const SQL: &str = "SELECT c.id, c.slug, c.title, c.promise, c.price_cents, c.status, \
        (SELECT COUNT(*) FROM modules m WHERE m.course_id = c.id AND m.archived = FALSE \
            AND m.status = 'published') AS module_count, \
        (SELECT COUNT(*) FROM lessons l JOIN modules m ON m.id = l.module_id WHERE l.course_id = c.id \
            AND l.archived = FALSE AND l.body_md <> '' AND m.archived = FALSE AND m.status = 'published') AS lesson_count, \
        (SELECT CAST(COALESCE(SUM(l.duration_minutes), 0) AS BIGINT) FROM lessons l JOIN modules m ON m.id = l.module_id \
            WHERE l.course_id = c.id AND l.archived = FALSE AND l.body_md <> '' AND m.archived = FALSE \
            AND m.status = 'published') AS total_minutes, c.plans \
        FROM courses c WHERE c.status <> 'draft' AND c.archived = FALSE ORDER BY c.position, c.slug";
    db_run!(db, pool => sqlx::query_as::<_, CourseSummary>(SQL).fetch_all(pool).await)
}

/// The syllabus of every visible program, in order: one row per lesson with its module.
pub async fn visible_syllabus(db: &Db) -> sqlx::Result<Vec<SyllabusRow>> {
    const SQL: &str = "SELECT m.course_id, m.id AS module_id, m.slug AS module_slug, m.title AS module_title, \
        m.summary AS module_summary, l.id AS lesson_id, l.slug AS lesson_slug, l.title AS lesson_title, \
        l.duration_minutes, l.free_preview, m.unlock_after_days, m.unlock_on \
        FROM modules m JOIN lessons l ON l.module_id = m.id JOIN courses c ON c.id = m.course_id \
        WHERE c.status <> 'draft' AND c.archived = FALSE AND m.archived = FALSE AND l.archived = FALSE \
            AND m.status = 'published' AND l.body_md <> '' \
        ORDER BY m.course_id, m.position, l.position";
    db_run!(db, pool => sqlx::query_as::<_, SyllabusRow>(SQL).fetch_all(pool).await)
}

pub async fn visible_course_pages(db: &Db) -> sqlx::Result<Vec<Course>> {
    const SQL: &str = "SELECT id, slug, title, promise, description_html, who_for, not_for, faq, price_cents, \
        status FROM courses WHERE status <> 'draft' AND archived = FALSE ORDER BY position, slug";
    db_run!(db, pool => sqlx::query_as::<_, Course>(SQL).fetch_all(pool).await)
}

/// Every lesson students could open, with its rendered body.
pub async fn visible_lessons(db: &Db) -> sqlx::Result<Vec<Lesson>> {
    const SQL: &str = "SELECT l.id, l.course_id, l.module_id, l.slug, l.title, l.duration_minutes, \
        l.free_preview, l.video_url, l.downloads, l.body_html \
        FROM lessons l JOIN modules m ON m.id = l.module_id JOIN courses c ON c.id = l.course_id \
        WHERE c.status <> 'draft' AND c.archived = FALSE AND l.archived = FALSE AND m.archived = FALSE \
            AND m.status = 'published' AND l.body_md <> ''";
    db_run!(db, pool => sqlx::query_as::<_, Lesson>(SQL).fetch_all(pool).await)
}

/// The glossaries and worksheets of every visible program: by program, the glossary first, then
/// the worksheets by name.
pub async fn visible_pages(db: &Db) -> sqlx::Result<Vec<Page>> {
    const SQL: &str = "SELECT p.course_id, p.kind, p.name, p.title, p.summary, p.public, p.csv, p.body_html \
        FROM program_pages p JOIN courses c ON c.id = p.course_id \
        WHERE c.status <> 'draft' AND c.archived = FALSE AND p.archived = FALSE \
        ORDER BY p.course_id, p.kind, p.name";
    db_run!(db, pool => sqlx::query_as::<_, Page>(SQL).fetch_all(pool).await)
}

/// One program's glossary and worksheets, whatever its status (the studio's preview).
pub async fn preview_pages(db: &Db, course_id: i64) -> sqlx::Result<Vec<Page>> {
    const SQL: &str = "SELECT course_id, kind, name, title, summary, public, csv, body_html \
        FROM program_pages WHERE course_id = $1 AND archived = FALSE ORDER BY kind, name";
    db_run!(db, pool => sqlx::query_as::<_, Page>(SQL).bind(course_id).fetch_all(pool).await)
}

/// One program's syllabus as the studio previews it: every module that is not archived, drafts and
/// scheduled ones included.
pub async fn preview_syllabus(db: &Db, course_id: i64) -> sqlx::Result<Vec<SyllabusRow>> {
    const SQL: &str = "SELECT m.course_id, m.id AS module_id, m.slug AS module_slug, m.title AS module_title, \
        m.summary AS module_summary, l.id AS lesson_id, l.slug AS lesson_slug, l.title AS lesson_title, \
        l.duration_minutes, l.free_preview, m.unlock_after_days, m.unlock_on \
        FROM modules m JOIN lessons l ON l.module_id = m.id \
        WHERE m.course_id = $1 AND m.archived = FALSE AND l.archived = FALSE ORDER BY m.position, l.position";
    db_run!(db, pool => sqlx::query_as::<_, SyllabusRow>(SQL).bind(course_id).fetch_all(pool).await)
}

pub async fn preview_course(db: &Db, course_id: i64) -> sqlx::Result<Option<Course>> {
    const SQL: &str = "SELECT id, slug, title, promise, description_html, who_for, not_for, faq, price_cents, \
        status FROM courses WHERE id = $1";
    db_run!(db, pool => sqlx::query_as::<_, Course>(SQL).bind(course_id).fetch_optional(pool).await)
}

pub async fn preview_lesson(db: &Db, course_id: i64, slug: &str) -> sqlx::Result<Option<Lesson>> {
    const SQL: &str = "SELECT l.id, l.course_id, l.module_id, l.slug, l.title, l.duration_minutes, \
        l.free_preview, l.video_url, l.downloads, l.body_html FROM lessons l \
        WHERE l.course_id = $1 AND l.slug = $2 AND l.archived = FALSE";
    db_run!(db, pool => sqlx::query_as::<_, Lesson>(SQL).bind(course_id).bind(slug).fetch_optional(pool).await)
}

pub async fn content_version(db: &Db) -> sqlx::Result<i64> {
    const SQL: &str = "SELECT version FROM content_version WHERE id = 1";
    db_run!(db, pool => sqlx::query_scalar::<_, i64>(SQL).fetch_one(pool).await)
}

/// Call in the same transaction as any write that changes what the catalogue shows.
pub async fn bump_content_version(tx: &mut Tx) -> sqlx::Result<()> {
    const SQL: &str = "UPDATE content_version SET version = version + 1 WHERE id = 1";
    tx_run!(tx, conn => sqlx::query(SQL).execute(conn).await.map(|_| ()))
}
