//! Content: `course_content/` (site, programs, modules, lessons) read, checked, rendered and
//! upserted into the database in one transaction; and back: the database's content exported in
//! the same format. See `course_content/FORMAT.md`.
//!
//! The studio edits the same rows. Each row's `source_hash` is kept equal to the hash of the
//! sources an import of its export would build ([`rehash`]), and `studio_edited` says the files do
//! not know the row's content yet: an import then names it and overwrites it only when forced.

mod export;
mod from_db;
pub mod markdown;
pub mod source;
mod store;
pub mod studio_store;

pub use store::{COURSE_SELECT, CourseRow};

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::Path;

use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::db::{Db, Tx};
pub use export::{ExportError, ExportReport, check_export_target, export};
pub use markdown::{ProgramLinks, render_lesson_body};
pub(crate) use source::safe_relative;
pub use source::{ContentError, ContentTree, Download, PageKind};

/// What an import did, line by line, for the person who ran it.
#[derive(Debug, Default)]
pub struct ImportReport {
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub archived: Vec<String>,
    pub unchanged: usize,
    /// Studio edits a forced import overwrote: `lesson a/b (edited in the studio on 1 May 2026)`.
    pub overwritten: Vec<String>,
}

impl ImportReport {
    pub fn is_noop(&self) -> bool {
        self.added.is_empty() && self.changed.is_empty() && self.archived.is_empty()
    }
}

impl fmt::Display for ImportReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in &self.overwritten {
            writeln!(f, "forced   {line}")?;
        }
        for line in &self.added {
            writeln!(f, "added    {line}")?;
        }
        for line in &self.changed {
            writeln!(f, "changed  {line}")?;
        }
        for line in &self.archived {
            writeln!(
                f,
                "archived {line} (gone from the files; hidden, kept for students' progress)"
            )?;
        }
        write!(
            f,
            "{} added, {} changed, {} archived, {} unchanged",
            self.added.len(),
            self.changed.len(),
            self.archived.len(),
            self.unchanged
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Content(#[from] ContentError),
    /// The import would overwrite what the studio changed; nothing was written. One line each.
    #[error("the import would overwrite {} change(s) made in the studio:\n  {}", .0.len(), .0.join("\n  "))]
    StudioEdits(Vec<String>),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

/// Which kind of row a studio edit touched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemKind {
    Program,
    Module,
    Lesson,
    /// The glossary or a worksheet (file-only, but a studio change elsewhere, such as a lesson's
    /// new slug, can change what its links render to).
    Page,
}

/// How an import report names a page: `glossary gut-foundations`, `worksheet gut-foundations/diary`.
pub(crate) fn page_label(program: &str, kind: PageKind, name: &str) -> String {
    match kind {
        PageKind::Glossary => format!("glossary {program}"),
        PageKind::Worksheet => format!("worksheet {program}/{name}"),
    }
}

/// What a program's Markdown may link to, as the database holds it now: its live lessons, its
/// glossary's anchors and its worksheets. The studio renders lesson bodies against it.
pub async fn program_links(db: &Db, course_id: i64) -> sqlx::Result<ProgramLinks> {
    let mut tx = db.begin().await?;
    store::read_one_state(&mut tx).await?;
    let links = store::program_links(&mut tx, course_id).await?;
    drop(tx);
    Ok(links)
}

pub(crate) fn hash_of<T: serde::Serialize>(value: &T) -> String {
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    let digest = Sha256::digest(&bytes);
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// Reads `dir` and brings the database in line with it, all or nothing; refuses (writing nothing)
/// when that would overwrite studio edits. See [`import_with`].
pub async fn import(db: &Db, dir: &Path) -> Result<ImportReport, ImportError> {
    import_with(db, dir, false).await
}

/// Reads `dir` and brings the database in line with it, all or nothing. Upserts by slug, so ids
/// (and what students have attached to them) survive; never deletes. When the import would
/// overwrite, archive, bring back or rename back something the studio changed, it returns
/// [`ImportError::StudioEdits`] and writes nothing, unless `force`: then the files win, and each
/// overwritten edit is written to the audit log in the same transaction.
pub async fn import_with(db: &Db, dir: &Path, force: bool) -> Result<ImportReport, ImportError> {
    let content_dir = dir.to_owned();
    // Reading and rendering a whole content tree is file I/O and CPU work: keep it off the runtime.
    let tree = tokio::task::spawn_blocking(move || source::load(&content_dir))
        .await
        .map_err(|e| ContentError {
            path: dir.to_owned(),
            reason: format!("import task failed: {e}"),
        })??;
    apply(db, dir, &tree, force).await
}

/// True when programs were imported before the Markdown sources were kept (descriptions with
/// HTML but no Markdown): the studio needs them before anyone edits.
pub async fn lacks_markdown_sources(db: &Db) -> sqlx::Result<bool> {
    const SQL: &str = "SELECT COUNT(*) FROM courses WHERE archived = FALSE AND studio_edited = FALSE \
        AND description_md = '' AND description_html <> ''";
    let n = crate::db_run!(db, pool => sqlx::query_scalar::<_, i64>(SQL).fetch_one(pool).await)?;
    Ok(n > 0)
}

/// True when the database holds no programs yet (a fresh install).
pub async fn is_empty(db: &Db) -> sqlx::Result<bool> {
    Ok(store::course_count(db).await? == 0)
}

/// The hash of an item that would not export (a broken link, say): it matches no file's.
const UNEXPORTABLE: &str = "unexportable";

/// After a studio write to a program (or its modules or lessons), inside the same transaction:
/// builds the program's live items as an import of their export would, and for each whose hash
/// differs from its row's `source_hash`, stores the new hash and marks the row studio-edited.
/// Archived programs are left alone (see [`mark_studio_edited`]).
pub async fn rehash(tx: &mut Tx, course_id: i64) -> sqlx::Result<()> {
    let Some(course) = store::live_course(tx, course_id).await? else {
        return Ok(());
    };
    let files = from_db::program(tx, course).await?;
    for item in from_db::build(&files).1 {
        let hash = item.hash.unwrap_or_else(|_| UNEXPORTABLE.to_owned());
        if hash != item.stored_hash {
            store::set_studio_hash(tx, item.kind, item.id, &hash).await?;
        }
    }
    Ok(())
}

/// Marks a row studio-edited without rehashing: for changes [`rehash`] cannot see, such as
/// archiving or restoring an item in the studio. An import then names it before bringing it back
/// or archiving it again.
pub async fn mark_studio_edited(tx: &mut Tx, kind: ItemKind, id: i64) -> sqlx::Result<()> {
    store::mark_studio_edited(tx, kind, id).await
}

/// Something the studio changed that an import would undo.
struct Conflict {
    subject: String,
    what: String,
    consequence: String,
}

impl Conflict {
    fn new(subject: &str, what: String, consequence: impl Into<String>) -> Conflict {
        Conflict {
            subject: subject.to_owned(),
            what,
            consequence: consequence.into(),
        }
    }

    fn line(&self) -> String {
        format!(
            "{} was {}; importing would {}",
            self.subject, self.what, self.consequence
        )
    }
}

/// The conflict, if any, in updating (or keeping) a row the files also hold.
fn studio_conflict(
    subject: &str,
    row: &store::Existing,
    differs: bool,
    on: &impl Fn(OffsetDateTime) -> String,
) -> Option<Conflict> {
    if !row.studio_edited {
        None
    } else if row.archived {
        Some(Conflict::new(
            subject,
            format!("archived in the studio on {}", on(row.updated_at)),
            "bring it back",
        ))
    } else if differs {
        Some(Conflict::new(
            subject,
            format!("edited in the studio on {}", on(row.updated_at)),
            "overwrite it",
        ))
    } else {
        None
    }
}

/// The conflict, if any, in archiving a row the files no longer hold.
fn archive_conflict(subject: &str, row: &store::Existing, on: &impl Fn(OffsetDateTime) -> String) -> Option<Conflict> {
    row.studio_edited.then(|| {
        Conflict::new(
            subject,
            format!("edited in the studio on {}", on(row.updated_at)),
            "archive it (it is not in the files)",
        )
    })
}

/// The files a program's lessons and worksheets offer, relative to its folder, each once.
fn program_files(program: &source::ProgramSource) -> Vec<String> {
    let mut files: Vec<String> = program
        .modules
        .iter()
        .flat_map(|m| {
            m.lessons
                .iter()
                .flat_map(|l| l.downloads.iter().map(|d| d.file.clone()))
        })
        .chain(program.pages.iter().filter_map(|p| p.csv.clone()))
        .collect();
    files.sort();
    files.dedup();
    files
}

async fn apply(db: &Db, dir: &Path, tree: &ContentTree, force: bool) -> Result<ImportReport, ImportError> {
    let now = OffsetDateTime::now_utc();
    let tz = crate::local_time::zone(&tree.site.time_zone).unwrap_or(jiff::tz::TimeZone::UTC);
    let on = |t: OffsetDateTime| crate::local_time::format_local_date(t, &tz);
    let mut report = ImportReport::default();
    let mut conflicts: Vec<Conflict> = Vec::new();
    let mut tx = db.begin().await?;
    store::lock_for_import(&mut tx).await?;
    let mut known_courses: HashMap<String, store::Existing> = store::courses(&mut tx)
        .await?
        .into_iter()
        .map(|c| (c.slug.clone(), c))
        .collect();
    let course_redirects: HashMap<String, i64> = store::course_redirects(&mut tx).await?.into_iter().collect();
    let folders: HashSet<&str> = tree.programs.iter().map(|p| p.slug.as_str()).collect();

    let site_hash = hash_of(&tree.site);
    match store::site_hash(&mut tx).await? {
        Some(h) if h == site_hash => report.unchanged += 1,
        existing => {
            store::upsert_site(&mut tx, &tree.site, &site_hash, now).await?;
            let line = format!("site settings ({})", tree.site.name);
            if existing.is_some() {
                report.changed.push(line)
            } else {
                report.added.push(line)
            }
        }
    }

    for program in &tree.programs {
        let hash = hash_of(program);
        let label = format!("program {}", program.slug);
        // A folder named by a slug the studio changed is that program, unless the new slug
        // has a folder of its own.
        let mut studio_slug = None;
        let existing = match known_courses.remove(&program.slug) {
            Some(row) => Some(row),
            None => course_redirects.get(&program.slug).and_then(|id| {
                let current = known_courses.values().find(|c| c.id == *id)?.slug.clone();
                if folders.contains(current.as_str()) {
                    return None;
                }
                studio_slug = Some(current.clone());
                known_courses.remove(&current)
            }),
        };
        let course_id = match existing {
            None => {
                report.added.push(label);
                if course_redirects.contains_key(&program.slug) {
                    store::delete_course_redirect(&mut tx, &program.slug).await?;
                }
                store::insert_course(&mut tx, program, &hash, now).await?
            }
            Some(row) => {
                if let Some(studio_slug) = &studio_slug {
                    conflicts.push(Conflict::new(
                        &label,
                        format!("renamed in the studio to '{studio_slug}' on {}", on(row.updated_at)),
                        format!("rename it back (the address with '{studio_slug}' will redirect)"),
                    ));
                    store::delete_course_redirect(&mut tx, &program.slug).await?;
                    store::add_course_redirect(&mut tx, studio_slug, row.id).await?;
                } else if let Some(conflict) = studio_conflict(&label, &row, row.source_hash != hash, &on) {
                    conflicts.push(conflict);
                }
                if row.source_hash == hash && !row.archived && studio_slug.is_none() {
                    report.unchanged += 1;
                    store::settle_course(&mut tx, row.id, &program.slug).await?;
                } else {
                    report.changed.push(label);
                    store::update_course(&mut tx, row.id, program, &hash, now).await?;
                }
                row.id
            }
        };

        // The program's files (downloads, worksheet CSVs) into the database, where every instance
        // serves them from; unchanged ones are skipped.
        let files_dir = store::files_dir(&mut tx, course_id).await?;
        for file in program_files(program) {
            let path = dir.join(&program.slug).join(&file);
            let data = tokio::fs::read(&path).await.map_err(|e| ContentError {
                path: path.clone(),
                reason: format!("cannot be read: {e}"),
            })?;
            crate::files::put(&mut tx, &crate::files::key(&files_dir, &file), &data, now).await?;
        }

        let mut modules: HashMap<String, store::Existing> = store::modules_of(&mut tx, course_id)
            .await?
            .into_iter()
            .map(|m| (m.slug.clone(), m))
            .collect();
        let mut lessons: HashMap<String, store::Existing> = store::lessons_of(&mut tx, course_id)
            .await?
            .into_iter()
            .map(|l| (l.slug.clone(), l))
            .collect();
        let lesson_redirects: HashMap<String, i64> =
            store::lesson_redirects(&mut tx, course_id).await?.into_iter().collect();
        let lesson_files: HashSet<&str> = program
            .modules
            .iter()
            .flat_map(|m| m.lessons.iter().map(|l| l.slug.as_str()))
            .collect();

        for module in &program.modules {
            let hash = hash_of(module);
            let label = format!("module {}/{}", program.slug, module.slug);
            let module_id = match modules.remove(&module.slug) {
                None => {
                    report.added.push(label);
                    store::insert_module(&mut tx, course_id, module, &hash, now).await?
                }
                Some(row) => {
                    if let Some(conflict) = studio_conflict(&label, &row, row.source_hash != hash, &on) {
                        conflicts.push(conflict);
                    }
                    if row.source_hash == hash && !row.archived {
                        report.unchanged += 1;
                        if row.studio_edited {
                            store::settle_module(&mut tx, row.id).await?;
                        }
                    } else {
                        report.changed.push(label);
                        store::update_module(&mut tx, row.id, module, &hash, now).await?;
                    }
                    row.id
                }
            };
            let label = format!("quiz {}/{}", program.slug, module.slug);
            match crate::quiz::store::sync(&mut tx, course_id, module_id, module.quiz.as_ref(), now).await? {
                crate::quiz::store::Synced::Nothing => {}
                crate::quiz::store::Synced::Unchanged => report.unchanged += 1,
                crate::quiz::store::Synced::Added => report.added.push(label),
                crate::quiz::store::Synced::Changed => report.changed.push(label),
                crate::quiz::store::Synced::Archived => report.archived.push(format!("{label} (its answers are kept)")),
            }
            for lesson in &module.lessons {
                let hash = hash_of(lesson);
                let label = format!("lesson {}/{}", program.slug, lesson.slug);
                let mut studio_slug = None;
                let existing = match lessons.remove(&lesson.slug) {
                    Some(row) => Some(row),
                    None => lesson_redirects.get(&lesson.slug).and_then(|id| {
                        let current = lessons.values().find(|l| l.id == *id)?.slug.clone();
                        if lesson_files.contains(current.as_str()) {
                            return None;
                        }
                        studio_slug = Some(current.clone());
                        lessons.remove(&current)
                    }),
                };
                match existing {
                    None => {
                        report.added.push(label);
                        if lesson_redirects.contains_key(&lesson.slug) {
                            store::delete_lesson_redirect(&mut tx, course_id, &lesson.slug).await?;
                        }
                        store::insert_lesson(&mut tx, course_id, module_id, lesson, &hash, now).await?;
                    }
                    Some(row) => {
                        if let Some(studio_slug) = &studio_slug {
                            conflicts.push(Conflict::new(
                                &label,
                                format!("renamed in the studio to '{studio_slug}' on {}", on(row.updated_at)),
                                format!(
                                    "rename it back and overwrite it (the address with '{studio_slug}' will redirect)"
                                ),
                            ));
                            store::delete_lesson_redirect(&mut tx, course_id, &lesson.slug).await?;
                            store::add_lesson_redirect(&mut tx, course_id, studio_slug, row.id).await?;
                        } else if let Some(conflict) = studio_conflict(&label, &row, row.source_hash != hash, &on) {
                            conflicts.push(conflict);
                        }
                        if row.source_hash == hash && !row.archived && studio_slug.is_none() {
                            report.unchanged += 1;
                            if row.studio_edited {
                                store::settle_lesson(&mut tx, row.id).await?;
                            }
                        } else {
                            report.changed.push(label);
                            store::update_lesson(&mut tx, row.id, module_id, lesson, &hash, now).await?;
                        }
                    }
                }
            }
        }
        let mut pages: HashMap<String, store::Existing> = store::pages_of(&mut tx, course_id)
            .await?
            .into_iter()
            .map(|p| (p.slug.clone(), p))
            .collect();
        for page in &program.pages {
            let hash = hash_of(page);
            let label = page_label(&program.slug, page.kind, &page.name);
            match pages.remove(&format!("{}/{}", page.kind.as_str(), page.name)) {
                None => {
                    report.added.push(label);
                    store::insert_page(&mut tx, course_id, page, &hash, now).await?;
                }
                Some(row) => {
                    if let Some(conflict) = studio_conflict(&label, &row, row.source_hash != hash, &on) {
                        conflicts.push(conflict);
                    }
                    if row.source_hash == hash && !row.archived {
                        report.unchanged += 1;
                        if row.studio_edited {
                            store::settle_page(&mut tx, row.id).await?;
                        }
                    } else {
                        report.changed.push(label);
                        store::update_page(&mut tx, row.id, page, &hash, now).await?;
                    }
                }
            }
        }
        // What is left was in the database but is no longer in the files.
        for gone in pages.into_values().filter(|p| !p.archived) {
            let (kind, name) = gone.slug.split_once('/').unwrap_or(("worksheet", &gone.slug));
            let kind = PageKind::parse(kind).unwrap_or(PageKind::Worksheet);
            let label = page_label(&program.slug, kind, name);
            conflicts.extend(archive_conflict(&label, &gone, &on));
            report.archived.push(label);
            store::archive_page(&mut tx, gone.id, now).await?;
        }
        for gone in lessons.into_values().filter(|l| !l.archived) {
            let label = format!("lesson {}/{}", program.slug, gone.slug);
            conflicts.extend(archive_conflict(&label, &gone, &on));
            report.archived.push(label);
            store::archive_lesson(&mut tx, gone.id, now).await?;
        }
        for gone in modules.into_values().filter(|m| !m.archived) {
            let label = format!("module {}/{}", program.slug, gone.slug);
            conflicts.extend(archive_conflict(&label, &gone, &on));
            report.archived.push(label);
            store::archive_module(&mut tx, gone.id, now).await?;
        }
        // Check-ins: upserted by id, never deleted; entries keep every value (see `checkins`).
        for (slug, synced) in crate::checkins::store::sync(&mut tx, course_id, &program.checkins, now).await? {
            let label = format!("check-in {}/{slug}", program.slug);
            match synced {
                crate::checkins::store::Synced::Added => report.added.push(label),
                crate::checkins::store::Synced::Changed => report.changed.push(label),
                crate::checkins::store::Synced::Unchanged => report.unchanged += 1,
                crate::checkins::store::Synced::Archived => report.archived.push(label),
            }
        }
    }
    for gone in known_courses.into_values().filter(|c| !c.archived) {
        let label = format!("program {}", gone.slug);
        let inside = store::studio_edits_inside(&mut tx, gone.id).await?;
        if gone.studio_edited || inside > 0 {
            conflicts.push(Conflict::new(
                &label,
                format!("edited in the studio (last on {})", on(gone.updated_at)),
                "archive it (its folder is not in the files)",
            ));
        }
        report.archived.push(label);
        store::archive_course(&mut tx, gone.id, now).await?;
    }

    conflicts.sort_by(|a, b| a.subject.cmp(&b.subject));
    if !conflicts.is_empty() {
        if !force {
            // Returning drops the transaction: everything above is rolled back.
            return Err(ImportError::StudioEdits(conflicts.iter().map(Conflict::line).collect()));
        }
        for conflict in &conflicts {
            let actor = crate::audit::Actor {
                user_id: None,
                name: "content import --force",
            };
            crate::audit::record(
                &mut tx,
                actor,
                "content.import.force",
                &conflict.subject,
                &conflict.line(),
                now,
            )
            .await?;
        }
        report.overwritten = conflicts
            .iter()
            .map(|c| format!("{} ({})", c.subject, c.what))
            .collect();
    }
    if !report.is_noop() {
        crate::catalog::store::bump_content_version(&mut tx).await?;
    }
    tx.commit().await?;
    report.added.sort();
    report.changed.sort();
    report.archived.sort();
    Ok(report)
}
