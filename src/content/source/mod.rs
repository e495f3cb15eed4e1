//! Reading `course_content/` into checked, rendered values. Nothing here touches the database:
//! a content tree either loads whole, or fails with the file and the reason.

use std::collections::{HashMap, HashSet};
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::markdown;

mod folder;
mod shapes;

use crate::domain::{CourseStatus, ModuleStatus, Slug};
pub(crate) use folder::*;
pub use shapes::*;

/// Why the content could not be imported: which file, and what is wrong in it.
#[derive(Debug, thiserror::Error)]
#[error("{}: {reason}", path.display())]
pub struct ContentError {
    pub path: PathBuf,
    pub reason: String,
}

fn fail<T>(path: &Path, reason: impl Into<String>) -> Result<T, ContentError> {
    Err(ContentError {
        path: path.to_owned(),
        reason: reason.into(),
    })
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct SiteSource {
    pub name: String,
    pub tagline: String,
    pub about_md: String,
    pub about_html: String,
    pub instructor_name: String,
    pub instructor_title: String,
    pub instructor_bio_md: String,
    pub instructor_bio_html: String,
    pub contact_email: String,
    pub address: String,
    pub currency: String,
    pub time_zone: String,
    pub bundle_price_cents: i64,
    pub early_bird_percent: i64,
    pub early_bird_days: i64,
    pub notice: String,
    /// The bundle's payment plans (`[[bundle_plan]]`); left out of the hash when there are none.
    #[sqlx(try_from = "String")]
    #[serde(skip_serializing_if = "crate::payments::plans::Plans::is_empty")]
    pub bundle_plans: crate::payments::plans::Plans,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProgramSource {
    pub slug: String,
    pub title: String,
    pub promise: String,
    pub description_md: String,
    pub description_html: String,
    pub who_for: Vec<String>,
    pub not_for: Vec<String>,
    pub faq: Vec<FaqEntry>,
    pub price_cents: i64,
    /// Payment plans (`[[plan]]`); left out of the hash when there are none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub plans: Vec<crate::payments::plans::Plan>,
    /// Only used when the program is first created: afterwards its status is the instructor's
    /// (launching happens in the app, and a re-import must not undo it).
    #[serde(skip)]
    pub status: CourseStatus,
    pub position: i64,
    #[serde(skip)]
    pub modules: Vec<ModuleSource>,
    /// The glossary (if any), then the worksheets in file-name order.
    #[serde(skip)]
    pub pages: Vec<PageSource>,
    /// The check-ins of `checkins.toml` (none without the file).
    #[serde(skip)]
    pub checkins: Vec<crate::checkins::definition::CheckinSource>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FaqEntry {
    pub q: String,
    /// The answer's Markdown (rows imported before it was kept lack it).
    #[serde(default)]
    pub a: String,
    pub a_html: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ModuleSource {
    pub slug: String,
    pub title: String,
    pub summary: String,
    pub position: i64,
    pub unlock_after_days: Option<i64>,
    pub unlock_on: Option<String>,
    /// Only used when the module is first created: afterwards publishing belongs to the studio.
    #[serde(skip)]
    pub status: ModuleStatus,
    #[serde(skip)]
    pub lessons: Vec<LessonSource>,
    /// Its knowledge check (`quiz.toml`), with `quiz_required` from `module.toml`. Kept out of the
    /// module's hash: quizzes have their own (see `quiz::store::sync`).
    #[serde(skip)]
    pub quiz: Option<crate::quiz::Quiz>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LessonSource {
    pub slug: String,
    pub title: String,
    pub module_slug: String,
    pub position: i64,
    pub duration_minutes: i64,
    pub free_preview: bool,
    pub video_url: Option<String>,
    pub downloads: Vec<Download>,
    pub body_md: String,
    pub body_html: String,
}

/// A program's page that is not a lesson: its glossary, or one of its worksheets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PageKind {
    Glossary,
    Worksheet,
}

impl PageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PageKind::Glossary => "glossary",
            PageKind::Worksheet => "worksheet",
        }
    }

    pub fn parse(text: &str) -> Option<PageKind> {
        match text {
            "glossary" => Some(PageKind::Glossary),
            "worksheet" => Some(PageKind::Worksheet),
            _ => None,
        }
    }

    /// Its file, inside the program folder.
    pub fn file(self, name: &str) -> String {
        match self {
            PageKind::Glossary => GLOSSARY_FILE.to_owned(),
            PageKind::Worksheet => format!("{WORKSHEETS_DIR}/{name}.md"),
        }
    }
}

/// The program's glossary file, and the folder of its worksheets.
pub const GLOSSARY_FILE: &str = "glossary.md";
pub const QUIZ_FILE: &str = "quiz.toml";
pub const WORKSHEETS_DIR: &str = "worksheets";
pub const CHECKINS_FILE: &str = "checkins.toml";

/// `glossary.md` or `worksheets/NAME.md`: front matter, then Markdown rendered like a lesson's.
#[derive(Debug, Clone, Serialize)]
pub struct PageSource {
    pub kind: PageKind,
    /// `glossary`, or the worksheet's file name without `.md`.
    pub name: String,
    pub title: String,
    pub summary: String,
    /// Open to everyone (the glossary always is); otherwise to the program's students.
    pub public: bool,
    /// The spreadsheet version of a worksheet, relative to the program folder.
    pub csv: Option<String>,
    pub body_md: String,
    pub body_html: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Download {
    pub title: String,
    /// Relative to the program folder.
    pub file: String,
    pub bytes: u64,
}

#[derive(Debug, Clone)]
pub struct ContentTree {
    pub site: SiteSource,
    pub programs: Vec<ProgramSource>,
}

// ---- loading ----------------------------------------------------------------------------------

fn read_text(path: &Path) -> Result<String, ContentError> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.len() > MAX_LESSON_BYTES => {
            return fail(
                path,
                format!("is {} bytes; the limit is {MAX_LESSON_BYTES}", meta.len()),
            );
        }
        Ok(_) => {}
        Err(e) => return fail(path, format!("cannot be read: {e}")),
    }
    std::fs::read_to_string(path).or_else(|e| fail(path, format!("cannot be read as UTF-8 text: {e}")))
}

fn parse_toml<T: serde::de::DeserializeOwned>(path: &Path, text: &str) -> Result<T, ContentError> {
    toml::from_str(text).or_else(|e| fail(path, format!("invalid TOML: {}", one_line(&e.to_string()))))
}

fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn required(path: &Path, field: &str, value: &str) -> Result<String, ContentError> {
    let value = value.trim();
    if value.is_empty() {
        return fail(path, format!("'{field}' is missing or empty"));
    }
    if field == "title" && value.chars().count() > MAX_TITLE {
        return fail(path, format!("'title' is longer than {MAX_TITLE} characters"));
    }
    Ok(value.to_owned())
}

fn render_md(path: &Path, field: &str, md: &str) -> Result<String, ContentError> {
    markdown::render_plain(md).or_else(|reason| fail(path, format!("in '{field}': {reason}")))
}

/// Splits `NN-slug` (a folder) or `NN-slug.md` (a lesson) into its number and slug.
pub(crate) fn numbered(name: &str) -> Option<(u32, &str)> {
    let (num, rest) = name.split_once('-')?;
    if num.is_empty() || !num.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    Some((num.parse().ok()?, rest))
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>, ContentError> {
    let entries = std::fs::read_dir(dir).or_else(|e| fail(dir, format!("cannot be read: {e}")))?;
    let mut paths = Vec::new();
    for entry in entries {
        let entry = entry.or_else(|e| fail(dir, format!("cannot be read: {e}")))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || name.starts_with('_') {
            continue;
        }
        paths.push(entry.path());
    }
    paths.sort();
    Ok(paths)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

pub fn load(dir: &Path) -> Result<ContentTree, ContentError> {
    if !dir.is_dir() {
        return fail(dir, "is not a folder");
    }
    let site = load_site(&dir.join("site.toml"))?;
    let mut programs = Vec::new();
    for path in sorted_entries(dir)? {
        if path.is_dir() {
            programs.push(load_program(&path)?);
        }
    }
    programs.sort_by(|a, b| (a.position, &a.slug).cmp(&(b.position, &b.slug)));
    Ok(ContentTree { site, programs })
}

fn load_site(path: &Path) -> Result<SiteSource, ContentError> {
    let file: SiteFile = parse_toml(path, &read_text(path)?)?;
    site_from_file(path, &file)
}

// ---- from the files' shapes to sources ----------------------------------------------------------
// The import (files on disk) and the export and rehash (rows in the database, put in the files'
// shapes) both go through these, so the two cannot check, trim or render a field differently.
// `path` only names the file in errors.

pub(crate) fn site_from_file(path: &Path, file: &SiteFile) -> Result<SiteSource, ContentError> {
    let currency = required(path, "currency", &file.currency)?.to_uppercase();
    if currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_alphabetic()) {
        return fail(
            path,
            format!("'currency' must be a three-letter ISO code such as USD, not '{currency}'"),
        );
    }
    if file.bundle_price_cents < 0 {
        return fail(path, "'bundle_price_cents' must not be negative");
    }
    let (early_bird_percent, early_bird_days) = match &file.early_bird {
        Some(eb) if !(0..=100).contains(&eb.percent) => return fail(path, "'early_bird.percent' must be 0 to 100"),
        Some(eb) if eb.days < 0 => return fail(path, "'early_bird.days' must not be negative"),
        Some(eb) => (eb.percent, eb.days),
        None => (0, 0),
    };
    if let Err(e) = crate::payments::plans::check_all(&file.bundle_plan) {
        return fail(path, format!("'bundle_plan': {e}"));
    }
    let contact_email = required(path, "contact_email", &file.contact_email)?;
    if !contact_email.contains('@') {
        return fail(path, "'contact_email' is not an email address");
    }
    let about_md = file.about.trim().to_owned();
    let instructor_bio_md = file.instructor.bio.trim().to_owned();
    Ok(SiteSource {
        name: required(path, "name", &file.name)?,
        tagline: file.tagline.trim().to_owned(),
        about_html: render_md(path, "about", &about_md)?,
        about_md,
        instructor_name: required(path, "instructor.name", &file.instructor.name)?,
        instructor_title: file.instructor.title.trim().to_owned(),
        instructor_bio_html: render_md(path, "instructor.bio", &instructor_bio_md)?,
        instructor_bio_md,
        contact_email,
        address: file.address.trim().to_owned(),
        currency,
        time_zone: {
            let tz = required(path, "time_zone", &file.time_zone)?;
            if let Err(e) = crate::local_time::zone(&tz) {
                return fail(path, format!("'time_zone': {e}"));
            }
            tz
        },
        bundle_price_cents: file.bundle_price_cents,
        early_bird_percent,
        early_bird_days,
        notice: file
            .notice
            .as_ref()
            .map(|n| n.trim().to_owned())
            .unwrap_or_else(|| DEFAULT_NOTICE.to_owned()),
        bundle_plans: crate::payments::plans::Plans(file.bundle_plan.clone()),
    })
}

/// The program without its modules.
pub(crate) fn program_from_file(path: &Path, slug: String, file: &CourseFile) -> Result<ProgramSource, ContentError> {
    let status = match &file.status {
        None => CourseStatus::Preenrollment,
        Some(s) => match CourseStatus::parse(s) {
            Some(status) => status,
            None => {
                return fail(
                    path,
                    format!("'status' must be draft, preenrollment, open or closed, not '{s}'"),
                );
            }
        },
    };
    if file.price_cents < 0 {
        return fail(path, "'price_cents' must not be negative");
    }
    if let Err(e) = crate::payments::plans::check_all(&file.plan) {
        return fail(path, format!("'plan': {e}"));
    }
    let mut faq = Vec::new();
    for entry in &file.faq {
        let a = entry.a.trim().to_owned();
        faq.push(FaqEntry {
            q: required(path, "faq.q", &entry.q)?,
            a_html: render_md(path, "faq.a", &a)?,
            a,
        });
    }
    let lines = |list: &[String]| -> Vec<String> {
        list.iter()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect()
    };
    let description_md = file.description.trim().to_owned();
    Ok(ProgramSource {
        slug,
        title: required(path, "title", &file.title)?,
        promise: required(path, "promise", &file.promise)?,
        description_html: render_md(path, "description", &description_md)?,
        description_md,
        who_for: lines(&file.who_for),
        not_for: lines(&file.not_for),
        faq,
        price_cents: file.price_cents,
        plans: file.plan.clone(),
        status,
        position: file.position.unwrap_or(100),
        modules: Vec::new(),
        pages: Vec::new(),
        checkins: Vec::new(),
    })
}

/// The module without its lessons.
pub(crate) fn module_from_file(
    path: &Path,
    slug: String,
    position: i64,
    file: &ModuleFile,
) -> Result<ModuleSource, ContentError> {
    let (unlock_after_days, unlock_on) = match (file.unlock_after_days, &file.unlock_on) {
        (Some(_), Some(_)) => {
            return fail(path, "set 'unlock_after_days' or 'unlock_on', not both");
        }
        (Some(days), None) if !(0..=3650).contains(&days) => {
            return fail(path, "'unlock_after_days' must be 0 to 3650");
        }
        (_, Some(date)) if date.trim().parse::<jiff::civil::Date>().is_err() => {
            return fail(
                path,
                format!("'unlock_on' must be a date like 2026-12-01, not '{date}'"),
            );
        }
        (days, date) => (days, date.as_ref().map(|d| d.trim().to_owned())),
    };
    let status = match &file.status {
        None => ModuleStatus::Published,
        // The studio can also schedule a module; files cannot.
        Some(s) => match ModuleStatus::parse(s.trim()) {
            Some(status @ (ModuleStatus::Draft | ModuleStatus::Published)) => status,
            _ => return fail(path, format!("'status' must be draft or published, not '{s}'")),
        },
    };
    Ok(ModuleSource {
        slug,
        title: required(path, "title", &file.title)?,
        summary: file.summary.trim().to_owned(),
        position,
        unlock_after_days,
        unlock_on,
        status,
        lessons: Vec::new(),
        quiz: None,
    })
}

/// Where a lesson sits.
pub(crate) struct LessonPlace<'a> {
    pub module_slug: &'a str,
    pub slug: &'a str,
    pub position: i64,
}

/// A lesson from its front matter and Markdown body. `download_bytes` gets each download's
/// normalised path and returns its size (or why it cannot be offered); `resolve` gets each relative
/// link and returns its URL (or why it is broken).
pub(crate) fn lesson_from_file(
    path: &Path,
    place: &LessonPlace<'_>,
    fm: &LessonFrontMatter,
    body: &str,
    mut download_bytes: impl FnMut(&str) -> Result<u64, String>,
    resolve: impl FnMut(&str) -> Result<String, String>,
) -> Result<LessonSource, ContentError> {
    let title = required(path, "title", &fm.title)?;
    if let Some(url) = &fm.video_url {
        let ok = url::Url::parse(url)
            .map(|u| u.scheme() == "https" || u.scheme() == "http")
            .unwrap_or(false);
        if !ok {
            return fail(path, format!("'video_url' is not an http(s) URL: '{url}'"));
        }
    }
    let mut downloads = Vec::new();
    for d in &fm.downloads {
        let Some(file) = safe_relative(&d.file) else {
            return fail(
                path,
                format!("download '{}' must be a path inside the program folder", d.file),
            );
        };
        let bytes = download_bytes(&file).or_else(|reason| fail(path, format!("download '{}' {reason}", d.file)))?;
        downloads.push(Download {
            title: required(path, "downloads.title", &d.title)?,
            file,
            bytes,
        });
    }
    let body_md = body.trim();
    let body_html = markdown::render(body_md, resolve).or_else(|reason| fail(path, reason))?;
    let words = body_md.split_whitespace().count() as i64;
    let duration_minutes = match fm.duration_minutes {
        Some(m) if !(0..=600).contains(&m) => return fail(path, "'duration_minutes' must be 0 to 600"),
        Some(m) => m,
        None => (words / 200).max(1),
    };
    Ok(LessonSource {
        slug: place.slug.to_owned(),
        title,
        module_slug: place.module_slug.to_owned(),
        position: place.position,
        duration_minutes,
        free_preview: fm.free_preview,
        video_url: fm.video_url.clone(),
        downloads,
        body_md: body_md.to_owned(),
        body_html,
    })
}

/// The glossary or a worksheet from its front matter and Markdown body. `csv_bytes` gets a
/// worksheet's CSV path (normalised) and says whether it can be offered; `resolve` gets each
/// relative link and returns its URL (or why it is broken).
pub(crate) fn page_from_file(
    path: &Path,
    kind: PageKind,
    name: &str,
    fm: &PageFrontMatter,
    body: &str,
    csv_check: impl FnOnce(&str) -> Result<(), String>,
    resolve: impl FnMut(&str) -> Result<String, String>,
) -> Result<PageSource, ContentError> {
    let title = required(path, "title", &fm.title)?;
    let body_md = body.trim();
    let csv = match (kind, &fm.csv) {
        (_, None) => None,
        (PageKind::Glossary, Some(_)) => return fail(path, "'csv' is for worksheets, not the glossary"),
        (PageKind::Worksheet, Some(file)) => {
            let Some(file) = safe_relative(file).filter(|f| f.ends_with(".csv")) else {
                return fail(
                    path,
                    format!("'csv' must be a .csv file inside the program folder, not '{file}'"),
                );
            };
            csv_check(&file).or_else(|reason| fail(path, format!("csv '{file}' {reason}")))?;
            Some(file)
        }
    };
    if kind == PageKind::Glossary {
        if fm.public {
            return fail(path, "'public' is for worksheets: the glossary is always public");
        }
        let mut seen = HashSet::new();
        for h in markdown::headings(body_md) {
            match h.anchor {
                Some(anchor) if !seen.insert(anchor.clone()) => {
                    return fail(
                        path,
                        format!("the anchor '{{#{anchor}}}' is used twice (again at '{}')", h.text),
                    );
                }
                None if h.level == 2 => {
                    return fail(
                        path,
                        format!(
                            "the term '{}' has no anchor: write its heading as '## {} {{#some-term}}'",
                            h.text, h.text
                        ),
                    );
                }
                _ => {}
            }
        }
    }
    let body_html = markdown::render(body_md, resolve).or_else(|reason| fail(path, reason))?;
    Ok(PageSource {
        kind,
        name: name.to_owned(),
        title,
        summary: fm.summary.trim().to_owned(),
        public: kind == PageKind::Glossary || fm.public,
        csv,
        body_md: body_md.to_owned(),
        body_html,
    })
}

#[cfg(test)]
mod tests;
