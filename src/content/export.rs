//! `learnwell content export DIR`: the programs as the database holds them (studio edits
//! included), written back out in the `course_content/` format, so they can be kept in git and
//! imported again without changing anything.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use super::from_db::{self, ProgramFiles};
use super::source::{self, SiteFile};
use super::{hash_of, page_label, store};
use crate::db::Db;

/// What an export wrote.
#[derive(Debug)]
pub struct ExportReport {
    pub dir: PathBuf,
    pub programs: usize,
    pub modules: usize,
    pub lessons: usize,
    /// Glossaries and worksheets.
    pub pages: usize,
    pub files: usize,
    /// Where importing the export would still change something (a download file that changed
    /// on disk since it was imported, say).
    pub warnings: Vec<String>,
}

impl fmt::Display for ExportReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in &self.warnings {
            writeln!(f, "note: {line}")?;
        }
        write!(
            f,
            "exported {} programs ({} modules, {} lessons), {} glossaries and worksheets, and {} download files to {}",
            self.programs,
            self.modules,
            self.lessons,
            self.pages,
            self.files,
            self.dir.display()
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{}: is not a folder; give the name of a new or empty folder", .0.display())]
    NotAFolder(PathBuf),
    #[error("{}: is not empty; give the name of a new or empty folder (an export never overwrites files)", .0.display())]
    NotEmpty(PathBuf),
    #[error("the database holds no content yet: run `learnwell content import` first")]
    NoContent,
    #[error(
        "the content cannot be exported as it is, nothing was written:\n  {}",
        .0.join("\n  ")
    )]
    Invalid(Vec<String>),
    #[error("{}: {reason}", path.display())]
    Io { path: PathBuf, reason: String },
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

impl ExportError {
    /// The person gave a folder the export cannot use (as opposed to a failure along the way).
    pub fn is_bad_target(&self) -> bool {
        matches!(self, ExportError::NotAFolder(_) | ExportError::NotEmpty(_))
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ExportError + '_ {
    move |e| ExportError::Io {
        path: path.to_owned(),
        reason: e.to_string(),
    }
}

/// Writes every live program (drafts too) into `out`, which must not exist or be empty. Download
/// files are written from the database's stored files (from `content_dir`, each program's files
/// folder, only for one the database does not hold). Everything is checked
/// before the first file is written; afterwards the written folder is read back as an import
/// would, and anything an import of it would still change is reported.
pub async fn export(db: &Db, content_dir: &Path, out: &Path) -> Result<ExportReport, ExportError> {
    check_export_target(out)?;
    let mut tx = db.begin().await?;
    store::read_one_state(&mut tx).await?;
    let site = store::site_row(&mut tx).await?.ok_or(ExportError::NoContent)?;
    let mut programs = Vec::new();
    // Each program's check-ins, as its `checkins.toml` (none when it has none).
    let mut checkins: HashMap<String, String> = HashMap::new();
    for course in store::live_courses(&mut tx).await? {
        let defs = crate::checkins::store::live_definitions_in(&mut tx, course.id).await?;
        let program = from_db::program(&mut tx, course).await?;
        if !defs.is_empty() {
            let sources: Vec<_> = defs.iter().map(|d| d.source()).collect();
            let text = crate::checkins::definition::to_toml(&sources).map_err(|reason| ExportError::Io {
                path: out.join(&program.slug).join(source::CHECKINS_FILE),
                reason,
            })?;
            checkins.insert(program.slug.clone(), text);
        }
        programs.push(program);
    }
    // Only read: dropping the transaction rolls it back.
    drop(tx);
    // The files the programs offer, from the database (where uploads and imports keep them).
    let mut stored: HashMap<String, Vec<u8>> = HashMap::new();
    for p in &programs {
        let lesson_files = p.modules.iter().flat_map(|m| {
            m.lessons
                .iter()
                .flat_map(|l| l.front.downloads.iter().map(|d| d.file.clone()))
        });
        let page_files = p.pages.iter().filter_map(|page| page.front.csv.clone());
        for file in lesson_files.chain(page_files) {
            let Some(file) = source::safe_relative(&file) else {
                continue;
            };
            let key = crate::files::key(&p.files_dir, &file);
            if !stored.contains_key(&key)
                && let Some(data) = crate::files::read_all(db, &key).await?
            {
                stored.insert(key, data);
            }
        }
    }
    let content_dir = content_dir.to_owned();
    let out_dir = out.to_owned();
    // Rendering and file I/O: off the async runtime.
    tokio::task::spawn_blocking(move || {
        let (site, missing) = from_db::site_file(&site);
        write_export(&content_dir, &stored, &out_dir, &site, missing, &programs, &checkins)
    })
    .await
    .map_err(|e| ExportError::Io {
        path: out.to_owned(),
        reason: format!("export task failed: {e}"),
    })?
}

/// Refuses a folder an export cannot write to: a file, or a folder that is not empty.
pub fn check_export_target(out: &Path) -> Result<(), ExportError> {
    if !out.exists() {
        return Ok(());
    }
    if !out.is_dir() {
        return Err(ExportError::NotAFolder(out.to_owned()));
    }
    if std::fs::read_dir(out).map_err(io(out))?.next().is_some() {
        return Err(ExportError::NotEmpty(out.to_owned()));
    }
    Ok(())
}

/// A lesson, glossary or worksheet file: front matter, a blank line, the Markdown. The front
/// matter is written without multi-line strings, so no line of it can read `+++`.
fn markdown_file_text<T: serde::Serialize>(front: &T, body: &str) -> Result<String, toml::ser::Error> {
    let mut toml = toml::to_string(front)?;
    if !toml.ends_with('\n') {
        toml.push('\n');
    }
    Ok(format!("+++\n{toml}+++\n\n{body}\n"))
}

fn toml_text<T: serde::Serialize>(value: &T, path: &Path) -> Result<String, ExportError> {
    toml::to_string_pretty(value).map_err(|e| ExportError::Io {
        path: path.to_owned(),
        reason: format!("cannot be written as TOML: {e}"),
    })
}

fn write_file(path: &Path, text: &str) -> Result<(), ExportError> {
    std::fs::write(path, text).map_err(io(path))
}

fn mkdir(path: &Path) -> Result<(), ExportError> {
    std::fs::create_dir_all(path).map_err(io(path))
}

struct Copy {
    /// The stored file's key; `from` (on disk) only when the database has no such file.
    key: String,
    from: PathBuf,
    to: PathBuf,
    /// The lesson offering it, and the size the database recorded.
    label: String,
    bytes: u64,
}

fn write_export(
    content_dir: &Path,
    stored: &HashMap<String, Vec<u8>>,
    out: &Path,
    site_file: &SiteFile,
    missing_md: Vec<String>,
    programs: &[ProgramFiles],
    checkins: &HashMap<String, String>,
) -> Result<ExportReport, ExportError> {
    // Check everything first: nothing is written unless all of it can be.
    let mut problems: Vec<String> = missing_md
        .into_iter()
        .map(|what| {
            format!(
                "{what} has no Markdown source in the database (imported by an older Learnwell): \
                 run `learnwell content import` once, then export"
            )
        })
        .collect();
    let mut expected: HashMap<String, String> = HashMap::new();
    match source::site_from_file(Path::new("site.toml"), site_file) {
        Ok(site) => {
            expected.insert("site settings".to_owned(), hash_of(&site));
        }
        Err(e) => problems.push(e.to_string()),
    }
    let mut copies: Vec<Copy> = Vec::new();
    let mut copied: HashSet<PathBuf> = HashSet::new();
    for p in programs {
        problems.extend(p.missing_md.iter().map(|what| {
            format!(
                "{what} has no Markdown source in the database (imported by an older Learnwell): \
                 run `learnwell content import` once, then export"
            )
        }));
        for item in from_db::build(p).1 {
            match item.hash {
                Ok(hash) => {
                    expected.insert(item.label, hash);
                }
                Err(e) => problems.push(e),
            }
        }
        for m in &p.modules {
            for l in &m.lessons {
                for d in &l.front.downloads {
                    let label = format!("lesson {}/{}", p.slug, l.slug);
                    let Some(file) = source::safe_relative(&d.file) else {
                        problems.push(format!(
                            "{label}: download '{}' is not a path inside the program folder",
                            d.file
                        ));
                        continue;
                    };
                    let key = crate::files::key(&p.files_dir, &file);
                    let from = content_dir.join(&p.files_dir).join(&file);
                    if !stored.contains_key(&key) && !from.is_file() {
                        problems.push(format!(
                            "{label}: download '{}' is missing: not in the database, nor at {}",
                            d.file,
                            from.display()
                        ));
                        continue;
                    }
                    let to = out.join(&p.slug).join(&file);
                    if copied.insert(to.clone()) {
                        copies.push(Copy {
                            key,
                            from,
                            to,
                            label,
                            bytes: l.bytes.get(&file).copied().unwrap_or_default(),
                        });
                    }
                }
            }
        }
        for page in &p.pages {
            let Some(csv) = &page.front.csv else { continue };
            let label = page_label(&p.slug, page.kind, &page.name);
            let Some(file) = source::safe_relative(csv) else {
                problems.push(format!("{label}: csv '{csv}' is not a path inside the program folder"));
                continue;
            };
            let key = crate::files::key(&p.files_dir, &file);
            let from = content_dir.join(&p.files_dir).join(&file);
            let bytes = match stored.get(&key) {
                Some(data) => data.len() as u64,
                None if from.is_file() => std::fs::metadata(&from).map(|m| m.len()).unwrap_or_default(),
                None => {
                    problems.push(format!(
                        "{label}: csv '{csv}' is missing: not in the database, nor at {}",
                        from.display()
                    ));
                    continue;
                }
            };
            let to = out.join(&p.slug).join(&file);
            if copied.insert(to.clone()) {
                // Its size is not recorded (an import only checks that it is there).
                copies.push(Copy {
                    key,
                    from,
                    to,
                    label,
                    bytes,
                });
            }
        }
    }
    if !problems.is_empty() {
        return Err(ExportError::Invalid(problems));
    }

    mkdir(out)?;
    let path = out.join("site.toml");
    write_file(&path, &toml_text(site_file, &path)?)?;
    let (mut modules, mut lessons, mut pages) = (0, 0, 0);
    for p in programs {
        let folder = out.join(&p.slug);
        mkdir(&folder)?;
        let path = folder.join("course.toml");
        write_file(&path, &toml_text(&p.course, &path)?)?;
        if let Some(text) = checkins.get(&p.slug) {
            write_file(&folder.join(source::CHECKINS_FILE), text)?;
        }
        for page in &p.pages {
            let path = folder.join(page.file());
            if let Some(parent) = path.parent() {
                mkdir(parent)?;
            }
            let text = markdown_file_text(&page.front, &page.body).map_err(|e| ExportError::Io {
                path: path.clone(),
                reason: format!("cannot be written as TOML: {e}"),
            })?;
            write_file(&path, &text)?;
            pages += 1;
        }
        for m in &p.modules {
            let dir = folder.join(&m.dir_name);
            mkdir(&dir)?;
            let path = dir.join("module.toml");
            write_file(&path, &toml_text(&m.file, &path)?)?;
            if let Some(quiz) = &m.quiz {
                let path = dir.join(source::QUIZ_FILE);
                write_file(&path, &toml_text(quiz, &path)?)?;
            }
            modules += 1;
            for l in &m.lessons {
                let path = dir.join(&l.file_name);
                let text = markdown_file_text(&l.front, &l.body).map_err(|e| ExportError::Io {
                    path: path.clone(),
                    reason: format!("cannot be written as TOML: {e}"),
                })?;
                write_file(&path, &text)?;
                lessons += 1;
            }
        }
    }
    let mut warnings = Vec::new();
    let mut explained = HashSet::new();
    for copy in &copies {
        if let Some(parent) = copy.to.parent() {
            mkdir(parent)?;
        }
        let bytes = match stored.get(&copy.key) {
            Some(data) => {
                std::fs::write(&copy.to, data).map_err(io(&copy.to))?;
                data.len() as u64
            }
            None => std::fs::copy(&copy.from, &copy.to).map_err(io(&copy.from))?,
        };
        if bytes != copy.bytes {
            warnings.push(format!(
                "{}: {} is {bytes} bytes, the database recorded {}; importing this export updates the lesson",
                copy.label,
                copy.from.display(),
                copy.bytes
            ));
            explained.insert(copy.label.clone());
        }
    }

    // Read it back as the import will.
    let tree = source::load(out).map_err(|e| ExportError::Io {
        path: out.to_owned(),
        reason: format!("the written files do not import (this is a bug): {e}"),
    })?;
    let mut found: HashMap<String, String> = HashMap::new();
    found.insert("site settings".to_owned(), hash_of(&tree.site));
    for p in &tree.programs {
        found.insert(format!("program {}", p.slug), hash_of(p));
        for page in &p.pages {
            found.insert(page_label(&p.slug, page.kind, &page.name), hash_of(page));
        }
        for m in &p.modules {
            found.insert(format!("module {}/{}", p.slug, m.slug), hash_of(m));
            for l in &m.lessons {
                found.insert(format!("lesson {}/{}", p.slug, l.slug), hash_of(l));
            }
        }
    }
    let mut differ: Vec<&String> = expected
        .iter()
        .filter(|(label, hash)| found.get(*label) != Some(*hash) && !explained.contains(*label))
        .map(|(label, _)| label)
        .collect();
    differ.sort();
    warnings.extend(
        differ
            .into_iter()
            .map(|label| format!("{label}: importing this export would change it")),
    );
    Ok(ExportReport {
        dir: out.to_owned(),
        programs: programs.len(),
        modules,
        lessons,
        pages,
        files: copies.len(),
        warnings,
    })
}
