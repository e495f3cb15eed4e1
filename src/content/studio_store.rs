//! Every SQL statement of the studio's content editor (programs, modules, lessons, redirects): the
//! content feature owns these tables, and the studio (`admin`) edits them only through here.

use serde::Serialize;
use time::OffsetDateTime;

use crate::db::{Db, Tx};
use crate::domain::ModuleStatus;
use crate::{db_run, tx_run};

pub use crate::content::CourseRow;

/// A studio write's transaction. On PostgreSQL it shares the lock `content import` takes
/// exclusively, so an import never reads the studio flags while a studio edit is half done (and
/// the other way round). SQLite's BEGIN IMMEDIATE already serialises writers.
pub async fn begin(db: &Db) -> sqlx::Result<Tx> {
    let mut tx = db.begin().await?;
    if let Tx::Postgres(t) = &mut tx {
        sqlx::query("SELECT pg_advisory_xact_lock_shared(727170)")
            .execute(&mut **t)
            .await?;
    }
    Ok(tx)
}

pub async fn course_by_slug(db: &Db, slug: &str) -> sqlx::Result<Option<CourseRow>> {
    let sql = format!("{} WHERE slug = $1 AND archived = FALSE", crate::content::COURSE_SELECT);
    db_run!(db, pool => sqlx::query_as::<_, CourseRow>(&sql).bind(slug).fetch_optional(pool).await)
}

pub async fn slug_owner(tx: &mut Tx, slug: &str) -> sqlx::Result<Option<i64>> {
    const SQL: &str = "SELECT id FROM courses WHERE slug = $1";
    tx_run!(tx, conn => sqlx::query_scalar::<_, i64>(SQL).bind(slug).fetch_optional(conn).await)
}

pub struct CourseFields<'a> {
    pub slug: &'a str,
    pub title: &'a str,
    pub promise: &'a str,
    pub description_md: &'a str,
    pub description_html: &'a str,
    pub who_for: &'a str,
    pub not_for: &'a str,
    pub faq: &'a str,
    pub price_cents: i64,
    /// The payment plans, as their JSON column holds them.
    pub plans: String,
    pub status: &'a str,
}

/// A program made in the studio keeps its files under `CONTENT_DIR/_studio/<slug>/`: a folder the
/// importer skips (a program folder there without a course.toml would stop every import).
pub async fn insert_course(tx: &mut Tx, f: &CourseFields<'_>, now: OffsetDateTime) -> sqlx::Result<i64> {
    const SQL: &str = "INSERT INTO courses (slug, title, promise, description_md, description_html, who_for, \
        not_for, faq, price_cents, status, position, source_hash, created_at, updated_at, studio_edited, files_dir, plans) \
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
        (SELECT COALESCE(MAX(position), 0) + 1 FROM courses), '', $11, $11, TRUE, '_studio/' || $1, $12) RETURNING id";
    tx_run!(tx, conn => sqlx::query_scalar::<_, i64>(SQL)
        .bind(f.slug)
        .bind(f.title)
        .bind(f.promise)
        .bind(f.description_md)
        .bind(f.description_html)
        .bind(f.who_for)
        .bind(f.not_for)
        .bind(f.faq)
        .bind(f.price_cents)
        .bind(f.status)
        .bind(now)
        .bind(&f.plans)
        .fetch_one(conn)
        .await)
}

pub async fn update_course(tx: &mut Tx, id: i64, f: &CourseFields<'_>, now: OffsetDateTime) -> sqlx::Result<()> {
    // The files stay where they are when the slug changes.
    const SQL: &str = "UPDATE courses SET files_dir = COALESCE(files_dir, slug), slug = $2, title = $3, \
        promise = $4, description_md = $5, description_html = $6, who_for = $7, not_for = $8, faq = $9, \
        price_cents = $10, status = $11, updated_at = $12, plans = $13 WHERE id = $1";
    tx_run!(tx, conn => sqlx::query(SQL)
        .bind(id)
        .bind(f.slug)
        .bind(f.title)
        .bind(f.promise)
        .bind(f.description_md)
        .bind(f.description_html)
        .bind(f.who_for)
        .bind(f.not_for)
        .bind(f.faq)
        .bind(f.price_cents)
        .bind(f.status)
        .bind(now)
        .bind(&f.plans)
        .execute(conn)
        .await
        .map(|_| ()))
}

/// A slug taken by a new program is nobody's old address any more.
pub async fn forget_course_redirect(tx: &mut Tx, slug: &str) -> sqlx::Result<()> {
    const SQL: &str = "DELETE FROM course_redirects WHERE old_slug = $1";
    tx_run!(tx, conn => sqlx::query(SQL).bind(slug).execute(conn).await.map(|_| ()))
}

/// Old program URLs keep working: `old` now redirects to the course, and the new slug is no
/// longer anybody's old one.
pub async fn add_course_redirect(tx: &mut Tx, old: &str, new: &str, course_id: i64) -> sqlx::Result<()> {
    const DELETE: &str = "DELETE FROM course_redirects WHERE old_slug = $1 OR old_slug = $2";
    const INSERT: &str = "INSERT INTO course_redirects (old_slug, course_id) VALUES ($1, $2)";
    tx_run!(tx, conn => sqlx::query(DELETE).bind(old).bind(new).execute(&mut *conn).await.map(|_| ()))?;
    tx_run!(tx, conn => sqlx::query(INSERT).bind(old).bind(course_id).execute(conn).await.map(|_| ()))
}

pub async fn add_lesson_redirect(
    tx: &mut Tx,
    course_id: i64,
    old: &str,
    new: &str,
    lesson_id: i64,
) -> sqlx::Result<()> {
    const DELETE: &str = "DELETE FROM lesson_redirects WHERE course_id = $1 AND (old_slug = $2 OR old_slug = $3)";
    const INSERT: &str = "INSERT INTO lesson_redirects (course_id, old_slug, lesson_id) VALUES ($1, $2, $3)";
    tx_run!(tx, conn => sqlx::query(DELETE).bind(course_id).bind(old).bind(new).execute(&mut *conn).await.map(|_| ()))?;
    tx_run!(tx, conn => sqlx::query(INSERT).bind(course_id).bind(old).bind(lesson_id).execute(conn).await.map(|_| ()))
}

/// Where an old program slug points now.
pub async fn course_redirect(db: &Db, old: &str) -> sqlx::Result<Option<String>> {
    const SQL: &str = "SELECT c.slug FROM course_redirects r JOIN courses c ON c.id = r.course_id \
        WHERE r.old_slug = $1 AND c.archived = FALSE";
    db_run!(db, pool => sqlx::query_scalar::<_, String>(SQL).bind(old).fetch_optional(pool).await)
}

/// Where an old lesson slug of a program points now.
pub async fn lesson_redirect(db: &Db, course_id: i64, old: &str) -> sqlx::Result<Option<String>> {
    const SQL: &str = "SELECT l.slug FROM lesson_redirects r JOIN lessons l ON l.id = r.lesson_id \
        WHERE r.course_id = $1 AND r.old_slug = $2 AND l.archived = FALSE";
    db_run!(db, pool => sqlx::query_scalar::<_, String>(SQL).bind(course_id).bind(old).fetch_optional(pool).await)
}

pub async fn active_enrollments(db: &Db, course_id: i64) -> sqlx::Result<i64> {
    const SQL: &str = "SELECT COUNT(*) FROM enrollments WHERE course_id = $1 AND status = 'active'";
    db_run!(db, pool => sqlx::query_scalar::<_, i64>(SQL).bind(course_id).fetch_one(pool).await)
}

// ---- modules ---------------------------------------------------------------------------------

#[derive(sqlx::FromRow, Serialize, Clone, Debug)]
pub struct ModuleRow {
    pub id: i64,
    pub course_id: i64,
    pub slug: String,
    pub title: String,
    pub summary: String,
    pub position: i64,
    pub archived: bool,
    #[sqlx(try_from = "String")]
    pub status: crate::domain::ModuleStatus,
    #[serde(with = "time::serde::rfc3339::option")]
    pub publish_at: Option<OffsetDateTime>,
    pub notify_on_publish: bool,
    pub unlock_after_days: Option<i64>,
    pub unlock_on: Option<String>,
}

const MODULE_COLUMNS: &str = "id, course_id, slug, title, summary, position, archived, status, publish_at, \
    notify_on_publish, unlock_after_days, unlock_on";

pub async fn modules(db: &Db, course_id: i64) -> sqlx::Result<Vec<ModuleRow>> {
    let sql = format!("SELECT {MODULE_COLUMNS} FROM modules WHERE course_id = $1 ORDER BY archived, position, id");
    db_run!(db, pool => sqlx::query_as::<_, ModuleRow>(&sql).bind(course_id).fetch_all(pool).await)
}

pub async fn module(db: &Db, course_id: i64, id: i64) -> sqlx::Result<Option<ModuleRow>> {
    let sql = format!("SELECT {MODULE_COLUMNS} FROM modules WHERE course_id = $1 AND id = $2");
    db_run!(db, pool => sqlx::query_as::<_, ModuleRow>(&sql).bind(course_id).bind(id).fetch_optional(pool).await)
}

pub async fn module_slug_taken(tx: &mut Tx, course_id: i64, slug: &str, except: i64) -> sqlx::Result<bool> {
    const SQL: &str = "SELECT COUNT(*) FROM modules WHERE course_id = $1 AND slug = $2 AND id <> $3";
    let n = tx_run!(tx, conn => sqlx::query_scalar::<_, i64>(SQL).bind(course_id).bind(slug).bind(except).fetch_one(conn).await)?;
    Ok(n > 0)
}

/// A new module goes last, as a draft: students see it once it is published.
pub async fn insert_module(
    tx: &mut Tx,
    course_id: i64,
    slug: &str,
    title: &str,
    now: OffsetDateTime,
) -> sqlx::Result<i64> {
    const SQL: &str = "INSERT INTO modules (course_id, slug, title, summary, position, archived, source_hash, \
        created_at, updated_at, status, studio_edited) VALUES ($1, $2, $3, '', \
        (SELECT COALESCE(MAX(position), -1) + 1 FROM modules WHERE course_id = $1 AND archived = FALSE), \
        FALSE, '', $4, $4, 'draft', TRUE) RETURNING id";
    tx_run!(tx, conn => sqlx::query_scalar::<_, i64>(SQL).bind(course_id).bind(slug).bind(title).bind(now).fetch_one(conn).await)
}

pub async fn update_module(tx: &mut Tx, m: &ModuleRow, now: OffsetDateTime) -> sqlx::Result<()> {
    const SQL: &str = "UPDATE modules SET slug = $2, title = $3, summary = $4, unlock_after_days = $5, \
        unlock_on = $6, updated_at = $7 WHERE id = $1";
    tx_run!(tx, conn => sqlx::query(SQL)
        .bind(m.id)
        .bind(&m.slug)
        .bind(&m.title)
        .bind(&m.summary)
        .bind(m.unlock_after_days)
        .bind(&m.unlock_on)
        .bind(now)
        .execute(conn)
        .await
        .map(|_| ()))
}

pub async fn set_module_publishing(
    tx: &mut Tx,
    id: i64,
    status: ModuleStatus,
    publish_at: Option<OffsetDateTime>,
    notify: bool,
    now: OffsetDateTime,
) -> sqlx::Result<()> {
    const SQL: &str = "UPDATE modules SET status = $2, publish_at = $3, notify_on_publish = $4, updated_at = $5, \
        published_at = CASE WHEN $2 = 'published' THEN $5 ELSE published_at END WHERE id = $1";
    tx_run!(tx, conn => sqlx::query(SQL)
        .bind(id)
        .bind(status.as_str())
        .bind(publish_at)
        .bind(notify)
        .bind(now)
        .execute(conn)
        .await
        .map(|_| ()))
}

/// Claims a scheduled module whose time has come: for exactly one caller, and only if it is still
/// scheduled for then (not moved or archived meanwhile). Returns whether to email the students.
pub async fn claim_scheduled(tx: &mut Tx, id: i64, now: OffsetDateTime) -> sqlx::Result<Option<bool>> {
    const SQL: &str = "UPDATE modules SET status = 'published', published_at = $2, updated_at = $2 \
        WHERE id = $1 AND status = 'scheduled' AND archived = FALSE AND publish_at <= $2 \
        RETURNING notify_on_publish";
    tx_run!(tx, conn => sqlx::query_scalar::<_, bool>(SQL).bind(id).bind(now).fetch_optional(conn).await)
}

#[derive(sqlx::FromRow, Debug)]
pub struct Due {
    pub id: i64,
    pub course_id: i64,
}

pub async fn due_modules(db: &Db, now: OffsetDateTime) -> sqlx::Result<Vec<Due>> {
    const SQL: &str = "SELECT id, course_id FROM modules \
        WHERE status = 'scheduled' AND archived = FALSE AND publish_at <= $1 ORDER BY publish_at";
    db_run!(db, pool => sqlx::query_as::<_, Due>(SQL).bind(now).fetch_all(pool).await)
}

pub async fn set_module_archived(tx: &mut Tx, id: i64, archived: bool, now: OffsetDateTime) -> sqlx::Result<()> {
    // Its lessons go with it (an export and an import then agree on what is live), stamped with the
    // module's time; a restore brings back only those, not lessons archived on their own before.
    if archived {
        const LESSONS: &str = "UPDATE lessons SET archived = TRUE, studio_edited = TRUE, updated_at = $2 \
            WHERE module_id = $1 AND archived = FALSE";
        tx_run!(tx, conn => sqlx::query(LESSONS).bind(id).bind(now).execute(conn).await.map(|_| ()))?;
    } else {
        const LESSONS: &str = "UPDATE lessons SET archived = FALSE, studio_edited = TRUE, updated_at = $2 \
            WHERE module_id = $1 AND archived = TRUE AND updated_at = (SELECT m.updated_at FROM modules m WHERE m.id = $1)";
        tx_run!(tx, conn => sqlx::query(LESSONS).bind(id).bind(now).execute(conn).await.map(|_| ()))?;
    }
    const SQL: &str = "UPDATE modules SET archived = $2, studio_edited = TRUE, updated_at = $3, \
        position = CASE WHEN $2 THEN position ELSE \
            (SELECT COALESCE(MAX(m.position), -1) + 1 FROM modules m WHERE m.course_id = modules.course_id AND m.archived = FALSE) END \
        WHERE id = $1";
    tx_run!(tx, conn => sqlx::query(SQL).bind(id).bind(archived).bind(now).execute(conn).await.map(|_| ()))
}

/// How many students have opened any lesson of the module (or the lesson).
pub async fn module_progress(tx: &mut Tx, module_id: i64) -> sqlx::Result<i64> {
    const SQL: &str = "SELECT COUNT(DISTINCT p.user_id) FROM lesson_progress p JOIN lessons l ON l.id = p.lesson_id \
        WHERE l.module_id = $1";
    tx_run!(tx, conn => sqlx::query_scalar::<_, i64>(SQL).bind(module_id).fetch_one(conn).await)
}

pub async fn lesson_progress(tx: &mut Tx, lesson_id: i64) -> sqlx::Result<i64> {
    const SQL: &str = "SELECT COUNT(*) FROM lesson_progress WHERE lesson_id = $1";
    tx_run!(tx, conn => sqlx::query_scalar::<_, i64>(SQL).bind(lesson_id).fetch_one(conn).await)
}

pub async fn delete_module(tx: &mut Tx, id: i64) -> sqlx::Result<()> {
    crate::enrollment::store::forget_reading_position(tx, crate::enrollment::store::Gone::Module(id)).await?;
    crate::learning::store::forget_unlock_notices(tx, id).await?;
    for sql in [
        "DELETE FROM lessons WHERE module_id = $1",
        "DELETE FROM modules WHERE id = $1",
    ] {
        tx_run!(tx, conn => sqlx::query(sql).bind(id).execute(conn).await.map(|_| ()))?;
    }
    Ok(())
}

pub async fn delete_lesson(tx: &mut Tx, id: i64) -> sqlx::Result<()> {
    crate::enrollment::store::forget_reading_position(tx, crate::enrollment::store::Gone::Lesson(id)).await?;
    const SQL: &str = "DELETE FROM lessons WHERE id = $1";
    tx_run!(tx, conn => sqlx::query(SQL).bind(id).execute(conn).await.map(|_| ()))
}

/// The ids of a program's active modules, in order.
pub async fn module_order(tx: &mut Tx, course_id: i64) -> sqlx::Result<Vec<i64>> {
    const SQL: &str = "SELECT id FROM modules WHERE course_id = $1 AND archived = FALSE ORDER BY position, id";
    tx_run!(tx, conn => sqlx::query_scalar::<_, i64>(SQL).bind(course_id).fetch_all(conn).await)
}

pub async fn lesson_order(tx: &mut Tx, module_id: i64) -> sqlx::Result<Vec<i64>> {
    const SQL: &str = "SELECT id FROM lessons WHERE module_id = $1 AND archived = FALSE ORDER BY position, id";
    tx_run!(tx, conn => sqlx::query_scalar::<_, i64>(SQL).bind(module_id).fetch_all(conn).await)
}

/// Writes positions 0, 1, 2... in the given order (kept gap-free, as an import of the files would).
pub async fn renumber(tx: &mut Tx, table: Table, ids: &[i64]) -> sqlx::Result<()> {
    let sql = match table {
        Table::Modules => "UPDATE modules SET position = $2 WHERE id = $1 AND position <> $2",
        Table::Lessons => "UPDATE lessons SET position = $2 WHERE id = $1 AND position <> $2",
    };
    for (position, id) in ids.iter().enumerate() {
        tx_run!(tx, conn => sqlx::query(sql).bind(*id).bind(position as i64).execute(conn).await.map(|_| ()))?;
    }
    Ok(())
}

#[derive(Clone, Copy)]
pub enum Table {
    Modules,
    Lessons,
}

// ---- lessons ---------------------------------------------------------------------------------

#[derive(sqlx::FromRow, Serialize, Clone, Debug)]
pub struct LessonRow {
    pub id: i64,
    pub course_id: i64,
    pub module_id: i64,
    pub slug: String,
    pub title: String,
    pub position: i64,
    pub duration_minutes: i64,
    pub free_preview: bool,
    pub video_url: Option<String>,
    pub downloads: String,
    pub body_md: String,
    pub body_html: String,
    pub archived: bool,
    pub revision: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

const LESSON_COLUMNS: &str = "id, course_id, module_id, slug, title, position, duration_minutes, free_preview, \
    video_url, downloads, body_md, body_html, archived, revision, updated_at";

pub async fn lessons(db: &Db, course_id: i64) -> sqlx::Result<Vec<LessonRow>> {
    let sql = format!("SELECT {LESSON_COLUMNS} FROM lessons WHERE course_id = $1 ORDER BY archived, position, id");
    db_run!(db, pool => sqlx::query_as::<_, LessonRow>(&sql).bind(course_id).fetch_all(pool).await)
}

pub async fn lesson(db: &Db, course_id: i64, id: i64) -> sqlx::Result<Option<LessonRow>> {
    let sql = format!("SELECT {LESSON_COLUMNS} FROM lessons WHERE course_id = $1 AND id = $2");
    db_run!(db, pool => sqlx::query_as::<_, LessonRow>(&sql).bind(course_id).bind(id).fetch_optional(pool).await)
}

pub async fn lesson_in_tx(tx: &mut Tx, course_id: i64, id: i64) -> sqlx::Result<Option<LessonRow>> {
    let sql = format!("SELECT {LESSON_COLUMNS} FROM lessons WHERE course_id = $1 AND id = $2");
    tx_run!(tx, conn => sqlx::query_as::<_, LessonRow>(&sql).bind(course_id).bind(id).fetch_optional(conn).await)
}

pub async fn lesson_slugs(tx: &mut Tx, course_id: i64) -> sqlx::Result<Vec<(i64, String)>> {
    const SQL: &str = "SELECT id, slug FROM lessons WHERE course_id = $1";
    tx_run!(tx, conn => sqlx::query_as::<_, (i64, String)>(SQL).bind(course_id).fetch_all(conn).await)
}

pub async fn insert_lesson(
    tx: &mut Tx,
    course_id: i64,
    module_id: i64,
    slug: &str,
    title: &str,
    now: OffsetDateTime,
) -> sqlx::Result<i64> {
    const SQL: &str = "INSERT INTO lessons (course_id, module_id, slug, title, position, duration_minutes, \
        free_preview, video_url, downloads, body_md, body_html, archived, source_hash, created_at, updated_at, \
        studio_edited) VALUES ($1, $2, $3, $4, \
        (SELECT COALESCE(MAX(position), -1) + 1 FROM lessons WHERE module_id = $2 AND archived = FALSE), \
        1, FALSE, NULL, '[]', '', '', FALSE, '', $5, $5, TRUE) RETURNING id";
    tx_run!(tx, conn => sqlx::query_scalar::<_, i64>(SQL)
        .bind(course_id)
        .bind(module_id)
        .bind(slug)
        .bind(title)
        .bind(now)
        .fetch_one(conn)
        .await)
}

/// Saves the editor's fields if nobody saved since `revision`; false when somebody did.
pub async fn save_lesson(tx: &mut Tx, l: &LessonRow, revision: i64, now: OffsetDateTime) -> sqlx::Result<bool> {
    const SQL: &str = "UPDATE lessons SET slug = $3, title = $4, module_id = $5, duration_minutes = $6, \
        free_preview = $7, video_url = $8, body_md = $9, body_html = $10, revision = revision + 1, updated_at = $11 \
        WHERE id = $1 AND revision = $2";
    tx_run!(tx, conn => sqlx::query(SQL)
        .bind(l.id)
        .bind(revision)
        .bind(&l.slug)
        .bind(&l.title)
        .bind(l.module_id)
        .bind(l.duration_minutes)
        .bind(l.free_preview)
        .bind(&l.video_url)
        .bind(&l.body_md)
        .bind(&l.body_html)
        .bind(now)
        .execute(conn)
        .await
        .map(|r| r.rows_affected() == 1))
}

/// The lesson's downloads as they are now, locked until the transaction ends (two uploads at once
/// must not lose one another's entry).
pub async fn downloads_for_update(tx: &mut Tx, id: i64) -> sqlx::Result<String> {
    match tx {
        Tx::Postgres(t) => {
            sqlx::query_scalar::<_, String>("SELECT downloads FROM lessons WHERE id = $1 FOR UPDATE")
                .bind(id)
                .fetch_one(&mut **t)
                .await
        }
        Tx::Sqlite(t) => {
            sqlx::query_scalar::<_, String>("SELECT downloads FROM lessons WHERE id = $1")
                .bind(id)
                .fetch_one(&mut **t)
                .await
        }
    }
}

/// Other live lessons of the program whose text links to `slug` (by file name or URL).
pub async fn linking_lessons(tx: &mut Tx, course_id: i64, lesson_id: i64, slug: &str) -> sqlx::Result<Vec<String>> {
    const SQL: &str = "SELECT title, body_md FROM lessons WHERE course_id = $1 AND id <> $2 AND archived = FALSE";
    let rows = tx_run!(tx, conn => sqlx::query_as::<_, (String, String)>(SQL).bind(course_id).bind(lesson_id).fetch_all(conn).await)?;
    let by_file = format!("-{slug}.md");
    let by_url = format!("/lessons/{slug}");
    Ok(rows
        .into_iter()
        .filter(|(_, body)| {
            body.match_indices(&by_file).any(|(i, _)| {
                // "-basics.md" must not match "-the-basics.md": the file stem is NN-slug.
                let before = &body[..i];
                before.chars().rev().take_while(|c| c.is_ascii_digit()).count() > 0
                    && !before.ends_with(|c: char| c.is_ascii_alphabetic())
            }) || body
                .match_indices(&by_url)
                .any(|(i, m)| !body[i + m.len()..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '-'))
        })
        .map(|(title, _)| title)
        .collect())
}

pub async fn set_downloads(tx: &mut Tx, id: i64, downloads: &str, now: OffsetDateTime) -> sqlx::Result<()> {
    const SQL: &str = "UPDATE lessons SET downloads = $2, updated_at = $3 WHERE id = $1";
    tx_run!(tx, conn => sqlx::query(SQL).bind(id).bind(downloads).bind(now).execute(conn).await.map(|_| ()))
}

pub async fn set_lesson_archived(tx: &mut Tx, id: i64, archived: bool, now: OffsetDateTime) -> sqlx::Result<()> {
    const SQL: &str = "UPDATE lessons SET archived = $2, studio_edited = TRUE, updated_at = $3, \
        position = CASE WHEN $2 THEN position ELSE \
            (SELECT COALESCE(MAX(l.position), -1) + 1 FROM lessons l WHERE l.module_id = lessons.module_id AND l.archived = FALSE) END \
        WHERE id = $1";
    tx_run!(tx, conn => sqlx::query(SQL).bind(id).bind(archived).bind(now).execute(conn).await.map(|_| ()))
}

#[derive(sqlx::FromRow, Debug)]
pub struct Seat {
    pub user_id: i64,
    pub email: String,
    pub name: String,
    pub enrolled_at: OffsetDateTime,
}

/// The program's students with access now, for "a new module is open".
pub async fn seats(tx: &mut Tx, course_id: i64) -> sqlx::Result<Vec<Seat>> {
    const SQL: &str = "SELECT e.user_id, u.email, u.name, e.created_at AS enrolled_at FROM enrollments e \
        JOIN users u ON u.id = e.user_id WHERE e.course_id = $1 AND e.status = 'active' ORDER BY e.user_id";
    tx_run!(tx, conn => sqlx::query_as::<_, Seat>(SQL).bind(course_id).fetch_all(conn).await)
}

#[derive(sqlx::FromRow, Debug)]
pub struct PublishInfo {
    pub course_slug: String,
    pub module_slug: String,
    pub course_title: String,
    pub module_title: String,
    pub unlock_after_days: Option<i64>,
    pub unlock_on: Option<String>,
    /// Published, active modules before this one (its number is this + 1).
    pub before: i64,
    pub first_lesson: Option<String>,
}

pub async fn publish_info(tx: &mut Tx, module_id: i64) -> sqlx::Result<Option<PublishInfo>> {
    const SQL: &str = "SELECT c.slug AS course_slug, m.slug AS module_slug, c.title AS course_title, \
        m.title AS module_title, \
        m.unlock_after_days, m.unlock_on, \
        (SELECT COUNT(*) FROM modules o WHERE o.course_id = m.course_id AND o.archived = FALSE \
            AND o.status = 'published' AND o.position < m.position) AS before, \
        (SELECT l.slug FROM lessons l WHERE l.module_id = m.id AND l.archived = FALSE \
            ORDER BY l.position, l.id LIMIT 1) AS first_lesson \
        FROM modules m JOIN courses c ON c.id = m.course_id WHERE m.id = $1";
    tx_run!(tx, conn => sqlx::query_as::<_, PublishInfo>(SQL).bind(module_id).fetch_optional(conn).await)
}

/// Moves a program from one status to another. False when it was not in `from` any more (someone
/// else moved it first): the caller then does nothing else.
pub async fn move_course_status(tx: &mut Tx, id: i64, from: &str, to: &str, now: OffsetDateTime) -> sqlx::Result<bool> {
    const SQL: &str = "UPDATE courses SET status = $3, updated_at = $4, \
        launched_at = CASE WHEN $3 = 'open' AND $2 = 'preenrollment' THEN COALESCE(launched_at, $4) \
            ELSE launched_at END \
        WHERE id = $1 AND status = $2";
    tx_run!(tx, conn => sqlx::query(SQL).bind(id).bind(from).bind(to).bind(now)
        .execute(conn).await.map(|r| r.rows_affected() == 1))
}
