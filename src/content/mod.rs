//! Content: `course_content/` (site, programs, modules, lessons) read, checked, rendered and
//! upserted into the database in one transaction. See `course_content/FORMAT.md`.

pub mod markdown;
pub mod source;
mod store;

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::db::Db;
pub use source::{ContentError, ContentTree, Download};

/// What an import did, line by line, for the person who ran it.
#[derive(Debug, Default)]
pub struct ImportReport {
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub archived: Vec<String>,
    pub unchanged: usize,
}

impl ImportReport {
    pub fn is_noop(&self) -> bool {
        self.added.is_empty() && self.changed.is_empty() && self.archived.is_empty()
    }
}

impl fmt::Display for ImportReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
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
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

fn hash_of<T: serde::Serialize>(value: &T) -> String {
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    let digest = Sha256::digest(&bytes);
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// Reads `dir` and brings the database in line with it, all or nothing. Upserts by slug, so ids
/// (and what students have attached to them) survive; never deletes.
pub async fn import(db: &Db, dir: &Path) -> Result<ImportReport, ImportError> {
    let content_dir = dir.to_owned();
    // Reading and rendering a whole content tree is file I/O and CPU work: keep it off the runtime.
    let tree = tokio::task::spawn_blocking(move || source::load(&content_dir))
        .await
        .map_err(|e| ContentError {
            path: dir.to_owned(),
            reason: format!("import task failed: {e}"),
        })??;
    apply(db, &tree).await
}

/// True when the database holds no programs yet (a fresh install).
pub async fn is_empty(db: &Db) -> sqlx::Result<bool> {
    Ok(store::course_count(db).await? == 0)
}

async fn apply(db: &Db, tree: &ContentTree) -> Result<ImportReport, ImportError> {
    let now = OffsetDateTime::now_utc();
    let mut report = ImportReport::default();
    let mut tx = db.begin().await?;
    store::lock_for_import(&mut tx).await?;
    let mut known_courses: HashMap<String, store::Existing> = store::courses(&mut tx)
        .await?
        .into_iter()
        .map(|c| (c.slug.clone(), c))
        .collect();

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
        let course_id = match known_courses.remove(&program.slug) {
            None => {
                report.added.push(format!("program {}", program.slug));
                store::insert_course(&mut tx, program, &hash, now).await?
            }
            Some(existing) => {
                if existing.source_hash == hash && !existing.archived {
                    report.unchanged += 1;
                } else {
                    report.changed.push(format!("program {}", program.slug));
                    store::update_course(&mut tx, existing.id, program, &hash, now).await?;
                }
                existing.id
            }
        };

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

        for module in &program.modules {
            let hash = hash_of(module);
            let label = format!("module {}/{}", program.slug, module.slug);
            let module_id = match modules.remove(&module.slug) {
                None => {
                    report.added.push(label);
                    store::insert_module(&mut tx, course_id, module, &hash, now).await?
                }
                Some(existing) => {
                    if existing.source_hash == hash && !existing.archived {
                        report.unchanged += 1;
                    } else {
                        report.changed.push(label);
                        store::update_module(&mut tx, existing.id, module, &hash, now).await?;
                    }
                    existing.id
                }
            };
            for lesson in &module.lessons {
                let hash = hash_of(lesson);
                let label = format!("lesson {}/{}", program.slug, lesson.slug);
                match lessons.remove(&lesson.slug) {
                    None => {
                        report.added.push(label);
                        store::insert_lesson(&mut tx, course_id, module_id, lesson, &hash, now).await?;
                    }
                    Some(existing) => {
                        if existing.source_hash == hash && !existing.archived {
                            report.unchanged += 1;
                        } else {
                            report.changed.push(label);
                            store::update_lesson(&mut tx, existing.id, module_id, lesson, &hash, now).await?;
                        }
                    }
                }
            }
        }
        // What is left was in the database but is no longer in the files.
        for gone in lessons.into_values().filter(|l| !l.archived) {
            report.archived.push(format!("lesson {}/{}", program.slug, gone.slug));
            store::archive_lesson(&mut tx, gone.id, now).await?;
        }
        for gone in modules.into_values().filter(|m| !m.archived) {
            report.archived.push(format!("module {}/{}", program.slug, gone.slug));
            store::archive_module(&mut tx, gone.id, now).await?;
        }
    }
    for gone in known_courses.into_values().filter(|c| !c.archived) {
        report.archived.push(format!("program {}", gone.slug));
        store::archive_course(&mut tx, gone.id, now).await?;
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
