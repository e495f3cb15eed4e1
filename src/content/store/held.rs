//! The content as the database holds it, for export and rehashing.

use serde::Serialize;

use super::*;

// ---- the content as the database holds it (export, rehash) -------------------------------------

/// A program as its row holds it: the one declaration of the `courses` table's content, read by
/// the studio, launches, export and rehashing alike ([`COURSE_SELECT`]).
#[derive(sqlx::FromRow, Serialize, Debug, Clone)]
pub struct CourseRow {
    pub id: i64,
    pub slug: String,
    pub title: String,
    pub promise: String,
    pub description_md: String,
    pub description_html: String,
    pub who_for: String,
    pub not_for: String,
    pub faq: String,
    pub price_cents: i64,
    #[sqlx(try_from = "String")]
    pub status: crate::domain::CourseStatus,
    pub position: i64,
    pub files_dir: Option<String>,
    pub source_hash: String,
    /// Its payment plans (`[[plan]]` in `course.toml`).
    #[sqlx(try_from = "String")]
    pub plans: crate::payments::plans::Plans,
}

impl CourseRow {
    /// The folder under CONTENT_DIR holding this program's files.
    pub fn files_dir(&self) -> &str {
        self.files_dir.as_deref().unwrap_or(&self.slug)
    }
}

#[derive(sqlx::FromRow, Debug)]
pub struct ModuleRow {
    pub id: i64,
    pub slug: String,
    pub title: String,
    pub summary: String,
    pub unlock_after_days: Option<i64>,
    pub unlock_on: Option<String>,
    #[sqlx(try_from = "String")]
    pub status: crate::domain::ModuleStatus,
    pub source_hash: String,
}

#[derive(sqlx::FromRow, Debug)]
pub struct LessonRow {
    pub id: i64,
    pub module_id: i64,
    pub slug: String,
    pub title: String,
    pub duration_minutes: i64,
    pub free_preview: bool,
    pub video_url: Option<String>,
    pub downloads: String,
    pub body_md: String,
    pub source_hash: String,
}

#[derive(sqlx::FromRow, Debug)]
pub struct PageRow {
    pub id: i64,
    pub kind: String,
    pub name: String,
    pub title: String,
    pub summary: String,
    pub public: bool,
    pub csv: Option<String>,
    pub body_md: String,
    pub source_hash: String,
}

/// A program's pages that are not archived: the glossary first, then the worksheets by name.
pub async fn live_pages(tx: &mut Tx, course_id: i64) -> sqlx::Result<Vec<PageRow>> {
    const SQL: &str = "SELECT id, kind, name, title, summary, public, csv, body_md, source_hash \
        FROM program_pages WHERE course_id = $1 AND NOT archived ORDER BY kind, name";
    tx_run!(tx, conn => sqlx::query_as::<_, PageRow>(SQL).bind(course_id).fetch_all(conn).await)
}

/// What a program's Markdown may link to: its live lessons, its glossary's anchors (from the
/// glossary's Markdown), its worksheets.
pub async fn program_links(tx: &mut Tx, course_id: i64) -> sqlx::Result<crate::content::ProgramLinks> {
    const SLUG: &str = "SELECT slug FROM courses WHERE id = $1";
    const LESSONS: &str = "SELECT slug FROM lessons WHERE course_id = $1 AND NOT archived";
    let program_slug =
        tx_run!(tx, conn => sqlx::query_scalar::<_, String>(SLUG).bind(course_id).fetch_optional(conn).await)?
            .unwrap_or_default();
    let lessons = tx_run!(tx, conn => sqlx::query_scalar::<_, String>(LESSONS).bind(course_id).fetch_all(conn).await)?;
    let pages = live_pages(tx, course_id).await?;
    Ok(crate::content::ProgramLinks {
        program_slug,
        lessons: lessons.into_iter().collect(),
        glossary: pages
            .iter()
            .find(|p| p.kind == "glossary")
            .map(|g| crate::content::markdown::heading_anchors(&g.body_md)),
        worksheets: pages
            .iter()
            .filter(|p| p.kind == "worksheet")
            .map(|w| w.name.clone())
            .collect(),
    })
}

/// Reads that follow see one state of the database (PostgreSQL's default isolation would let
/// each statement see a newer one; SQLite's transaction already does this).
pub async fn read_one_state(tx: &mut Tx) -> sqlx::Result<()> {
    if let Tx::Postgres(t) = tx {
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            .execute(&mut **t)
            .await?;
    }
    Ok(())
}

/// The site as the database holds it (the same shape an import writes).
pub async fn site_row(tx: &mut Tx) -> sqlx::Result<Option<SiteSource>> {
    const SQL: &str = "SELECT name, tagline, about_md, about_html, instructor_name, instructor_title, \
        instructor_bio_md, instructor_bio_html, contact_email, address, currency, time_zone, bundle_price_cents, \
        early_bird_percent, early_bird_days, notice, bundle_plans FROM site WHERE id = 1";
    tx_run!(tx, conn => sqlx::query_as::<_, SiteSource>(SQL).fetch_optional(conn).await)
}

/// Reads [`CourseRow`]s: append the `WHERE`.
pub const COURSE_SELECT: &str = "SELECT id, slug, title, promise, description_md, description_html, who_for, not_for, \
    faq, price_cents, status, position, files_dir, source_hash, plans FROM courses";

/// Every program that is not archived, in catalogue order.
pub async fn live_courses(tx: &mut Tx) -> sqlx::Result<Vec<CourseRow>> {
    let sql = format!("{COURSE_SELECT} WHERE NOT archived ORDER BY position, slug");
    tx_run!(tx, conn => sqlx::query_as::<_, CourseRow>(&sql).fetch_all(conn).await)
}

pub async fn live_course(tx: &mut Tx, id: i64) -> sqlx::Result<Option<CourseRow>> {
    let sql = format!("{COURSE_SELECT} WHERE id = $1 AND NOT archived");
    tx_run!(tx, conn => sqlx::query_as::<_, CourseRow>(&sql).bind(id).fetch_optional(conn).await)
}

/// A program's modules that are not archived, in order.
pub async fn live_modules(tx: &mut Tx, course_id: i64) -> sqlx::Result<Vec<ModuleRow>> {
    const SQL: &str = "SELECT id, slug, title, summary, unlock_after_days, unlock_on, status, source_hash \
        FROM modules WHERE course_id = $1 AND NOT archived ORDER BY position, id";
    tx_run!(tx, conn => sqlx::query_as::<_, ModuleRow>(SQL).bind(course_id).fetch_all(conn).await)
}

/// A program's lessons that are not archived, each module's in order.
pub async fn live_lessons(tx: &mut Tx, course_id: i64) -> sqlx::Result<Vec<LessonRow>> {
    const SQL: &str = "SELECT id, module_id, slug, title, duration_minutes, free_preview, video_url, downloads, \
        body_md, source_hash FROM lessons WHERE course_id = $1 AND NOT archived ORDER BY module_id, position, id";
    tx_run!(tx, conn => sqlx::query_as::<_, LessonRow>(SQL).bind(course_id).fetch_all(conn).await)
}

/// The item now holds what hashes to `hash`, and the files do not know it: a studio edit.
pub async fn set_studio_hash(tx: &mut Tx, kind: ItemKind, id: i64, hash: &str) -> sqlx::Result<()> {
    let sql = match kind {
        ItemKind::Program => "UPDATE courses SET source_hash = $2, studio_edited = TRUE WHERE id = $1",
        ItemKind::Module => "UPDATE modules SET source_hash = $2, studio_edited = TRUE WHERE id = $1",
        ItemKind::Lesson => "UPDATE lessons SET source_hash = $2, studio_edited = TRUE WHERE id = $1",
        ItemKind::Page => "UPDATE program_pages SET source_hash = $2, studio_edited = TRUE WHERE id = $1",
    };
    tx_run!(tx, conn => sqlx::query(sql).bind(id).bind(hash).execute(conn).await.map(|_| ()))
}

pub async fn mark_studio_edited(tx: &mut Tx, kind: ItemKind, id: i64) -> sqlx::Result<()> {
    let sql = match kind {
        ItemKind::Program => "UPDATE courses SET studio_edited = TRUE WHERE id = $1",
        ItemKind::Module => "UPDATE modules SET studio_edited = TRUE WHERE id = $1",
        ItemKind::Lesson => "UPDATE lessons SET studio_edited = TRUE WHERE id = $1",
        ItemKind::Page => "UPDATE program_pages SET studio_edited = TRUE WHERE id = $1",
    };
    tx_run!(tx, conn => sqlx::query(sql).bind(id).execute(conn).await.map(|_| ()))
}

pub async fn course_count(db: &crate::db::Db) -> sqlx::Result<i64> {
    const SQL: &str = "SELECT COUNT(*) FROM courses";
    crate::db_run!(db, pool => sqlx::query_scalar::<_, i64>(SQL).fetch_one(pool).await)
}
