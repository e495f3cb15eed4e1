//! The catalogue in memory: the site, every visible program with its syllabus and lessons, and the
//! template contexts of their pages, built once per content version. Public pages read only this,
//! so they make no database queries.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use axum::body::Bytes;
use serde::Serialize;

use minijinja::Value;
use minijinja::context;
use minijinja::value::Serde;

use super::store::{self, Course, CourseSummary, Lesson, Page, Site, SyllabusRow};
use super::view;
use crate::content::Download;
use crate::content::source::FaqEntry;
use crate::db::Db;
use crate::web::shell::Shell;

pub struct Catalog {
    /// The `content_version` this snapshot was built from.
    pub version: i64,
    pub site: Site,
    /// The site's time zone (checked at import; UTC if it ever fails to load).
    pub tz: jiff::tz::TimeZone,
    /// The site as a template value, built once.
    pub site_value: Value,
    pub home: Value,
    pub listing: Value,
    /// Every visible program, in catalogue order.
    pub courses: Vec<CourseSummary>,
    programs: HashMap<String, Program>,
    /// Rendered HTML of pages that are the same for every anonymous visitor, by URL path. Filled
    /// on first view; dropped with the snapshot when the content changes.
    rendered: RwLock<HashMap<String, Bytes>>,
    /// Signed-in pages rendered with stand-ins for the reader's own values, by page and shape of
    /// reader (see `web::shell`). Filled on first view, within each kind's budget ([`ShellKind`]).
    shells: RwLock<Shells>,
}

/// The most the shells of one snapshot hold (a program's lessons times the few shapes of reader
/// that read them; past this a page is rendered without its shell).
pub const SHELLS_MAX_BYTES: usize = 8 << 20;

/// The most the dashboards' shells of one snapshot hold (a few hundred shapes; past this a
/// dashboard is rendered without its shell).
pub const DASHBOARD_SHELLS_MAX_BYTES: usize = 2 << 20;

#[derive(Default)]
struct Shells {
    /// `None`: the page's shell did not read back (it is rendered whole).
    by_key: HashMap<String, Option<Arc<Shell>>>,
    /// The bytes held, by kind of page ([`ShellKind`]).
    bytes: [usize; 2],
}

/// Which budget a shell counts against: dashboards have many more shapes than lesson pages (every
/// combination of where a student stands in each program), so they have a budget of their own and
/// never crowd the lesson pages' shells out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShellKind {
    /// A lesson page's: at most [`SHELLS_MAX_BYTES`].
    Lesson = 0,
    /// A dashboard's: at most [`DASHBOARD_SHELLS_MAX_BYTES`].
    Dashboard = 1,
}

impl Shells {
    fn has_room(&self, kind: ShellKind) -> bool {
        self.bytes[kind as usize] < kind.budget()
    }

    /// Keeps `shell` under `key` if its kind's budget has room (and the key is new).
    fn hold(&mut self, kind: ShellKind, key: &str, shell: &Option<Arc<Shell>>) {
        if self.has_room(kind) && !self.by_key.contains_key(key) {
            self.bytes[kind as usize] += shell.as_ref().map_or(0, |s| s.size());
            self.by_key.insert(key.to_owned(), shell.clone());
        }
    }
}

impl ShellKind {
    fn budget(self) -> usize {
        match self {
            ShellKind::Lesson => SHELLS_MAX_BYTES,
            ShellKind::Dashboard => DASHBOARD_SHELLS_MAX_BYTES,
        }
    }
}

/// What a snapshot is built from, as read from the database.
struct Rows {
    courses: Vec<CourseSummary>,
    pages: Vec<Course>,
    syllabus: Vec<SyllabusRow>,
    lessons: Vec<Lesson>,
    program_pages: Vec<Page>,
    /// The knowledge checks that are not archived, by module id.
    quizzes: Vec<(i64, crate::quiz::Quiz)>,
}

pub struct Program {
    pub course_id: i64,
    pub slug: String,
    pub title: String,
    /// The syllabus in order: one row per lesson, with its module and drip settings.
    pub rows: Vec<SyllabusRow>,
    /// The context of the program's page.
    pub page: Value,
    /// Its glossary and worksheets, as the pages that link to them show them.
    pub pages: ProgramPages,
    /// The context of the glossary's page (None: the program has no glossary).
    pub glossary: Option<Value>,
    /// The context of the list of worksheets.
    pub worksheet_list: Value,
    lessons: HashMap<String, LessonPage>,
    worksheets: HashMap<String, WorksheetPage>,
    /// What a student confirms before their first lesson (see `learning::acknowledge`).
    pub acknowledgement: crate::learning::acknowledge::Text,
    /// The knowledge checks of its visible modules, by module id.
    quizzes: HashMap<i64, crate::quiz::Quiz>,
}

pub struct WorksheetPage {
    pub page: Page,
    /// The context of the worksheet's page (or of its "for enrolled students" page).
    pub ctx: Value,
}

/// What lesson pages and the program's page show of its glossary and worksheets.
#[derive(Serialize, Clone, Debug, Default)]
pub struct ProgramPages {
    pub glossary: bool,
    pub worksheets: Vec<WorksheetItem>,
}

#[derive(Serialize, Clone, Debug)]
pub struct WorksheetItem {
    pub name: String,
    pub title: String,
    pub summary: String,
    pub public: bool,
    /// It has a spreadsheet version.
    pub csv: bool,
}

impl ProgramPages {
    /// From the program's rows of `program_pages` (see [`store::visible_pages`]).
    pub fn of(pages: &[Page]) -> ProgramPages {
        ProgramPages {
            glossary: pages.iter().any(|p| p.kind == "glossary"),
            worksheets: pages
                .iter()
                .filter(|p| p.kind == "worksheet")
                .map(|p| WorksheetItem {
                    name: p.name.clone(),
                    title: p.title.clone(),
                    summary: p.summary.clone(),
                    public: p.public,
                    csv: p.csv.is_some(),
                })
                .collect(),
        }
    }

    /// The worksheets a rendered lesson links to, in the order it first links to them.
    pub fn linked_from(&self, body_html: &str) -> Vec<WorksheetItem> {
        crate::content::markdown::worksheet_links(body_html)
            .iter()
            .filter_map(|name| self.worksheets.iter().find(|w| &w.name == name).cloned())
            .collect()
    }
}

pub struct LessonPage {
    pub lesson: Lesson,
    /// The context of the lesson's page (preview or locked).
    pub page: Value,
}

fn parse_json<T: serde::de::DeserializeOwned>(text: &str, column: &'static str) -> sqlx::Result<T> {
    crate::db::json_column(text, column)
}

impl Catalog {
    /// Loads a consistent snapshot: every content write bumps the version in its transaction, so
    /// when the version is the same before and after the reads, no write fell between them.
    pub async fn load(db: &Db) -> anyhow::Result<Catalog> {
        for _ in 0..5 {
            let version = store::content_version(db).await?;
            let catalog = Catalog::load_once(db, version).await?;
            if store::content_version(db).await? == version {
                return Ok(catalog);
            }
        }
        anyhow::bail!("the content kept changing while the catalogue was loading")
    }

    async fn load_once(db: &Db, version: i64) -> anyhow::Result<Catalog> {
        let site = store::site(db)
            .await?
            .ok_or_else(|| anyhow::anyhow!("the database holds no site settings yet: import course_content first"))?;
        let (courses, pages, syllabus, lessons, program_pages, quizzes) = tokio::try_join!(
            store::visible_courses(db),
            store::visible_course_pages(db),
            store::visible_syllabus(db),
            store::visible_lessons(db),
            store::visible_pages(db),
            crate::quiz::store::live(db),
        )?;
        let rows = Rows {
            courses,
            pages,
            syllabus,
            lessons,
            program_pages,
            quizzes,
        };
        Ok(Catalog::build(version, site, rows)?)
    }

    fn build(version: i64, site: Site, rows: Rows) -> sqlx::Result<Catalog> {
        let Rows {
            courses,
            pages,
            syllabus,
            lessons,
            program_pages,
            quizzes,
        } = rows;
        let mut lessons_by_course: HashMap<i64, Vec<Lesson>> = HashMap::new();
        for lesson in lessons {
            lessons_by_course.entry(lesson.course_id).or_default().push(lesson);
        }
        let mut pages_by_course: HashMap<i64, Vec<Page>> = HashMap::new();
        for page in program_pages {
            pages_by_course.entry(page.course_id).or_default().push(page);
        }
        let coming: Vec<&CourseSummary> = courses
            .iter()
            .filter(|c| c.status == crate::domain::CourseStatus::Preenrollment)
            .collect();
        let coming_value = Value::from(Serde(&coming));
        let bundle = crate::payments::pricing::bundle_of(&courses, site.bundle_price_cents).map(|all| {
            let titles: Vec<String> = all.iter().map(|c| c.title.clone()).collect();
            let list: i64 = all.iter().map(|c| c.price_cents).sum();
            context! { titles, list_cents => list, price_cents => site.bundle_price_cents }
        });
        let mut programs = HashMap::new();
        for course in pages {
            let rows: Vec<SyllabusRow> = syllabus.iter().filter(|r| r.course_id == course.id).cloned().collect();
            let modules = view::modules(&rows);
            let total_minutes: i64 = rows.iter().map(|r| r.duration_minutes).sum();
            let who_for: Vec<String> = parse_json(&course.who_for, "courses.who_for")?;
            let not_for: Vec<String> = parse_json(&course.not_for, "courses.not_for")?;
            let not_for_items = not_for.clone();
            let faq: Vec<FaqEntry> = parse_json(&course.faq, "courses.faq")?;
            let first_preview = rows.iter().find(|r| r.free_preview).map(|r| r.lesson_slug.clone());
            let course_value = Value::from(Serde(&course));
            let modules_value = Value::from(Serde(&modules));
            let own_pages = pages_by_course.remove(&course.id).unwrap_or_default();
            let summary = ProgramPages::of(&own_pages);
            let summary_value = Value::from(Serde(&summary));
            let page = context! {
                course => course_value.clone(),
                modules => modules_value.clone(),
                lesson_count => rows.len(),
                total_minutes,
                who_for,
                not_for,
                faq => Serde(&faq),
                first_preview,
                preenroll_courses => coming_value.clone(),
                consent => crate::preenroll::flows::CONSENT,
                first_lesson => rows.first().map(|r| r.lesson_slug.clone()),
                bundle => bundle.clone(),
                program_pages => summary_value.clone(),
                plans => courses.iter().find(|c| c.id == course.id).map(|c| Serde(c.plans.0.clone())),
            };
            let course_lessons = lessons_by_course.remove(&course.id).unwrap_or_default();
            let (glossary, worksheet_list, worksheets) =
                page_contexts(&course_value, &summary_value, own_pages, &rows, &course_lessons);
            let mut lesson_pages = HashMap::new();
            for lesson in course_lessons {
                let page = lesson_context(&course_value, &modules_value, &rows, &lesson, &summary);
                lesson_pages.insert(lesson.slug.clone(), LessonPage { lesson, page: page? });
            }
            let program_quizzes: HashMap<i64, crate::quiz::Quiz> = quizzes
                .iter()
                .filter(|(module_id, _)| rows.iter().any(|r| r.module_id == *module_id))
                .cloned()
                .collect();
            programs.insert(
                course.slug.clone(),
                Program {
                    course_id: course.id,
                    slug: course.slug.clone(),
                    title: course.title.clone(),
                    rows,
                    page,
                    pages: summary,
                    glossary,
                    worksheet_list,
                    lessons: lesson_pages,
                    worksheets,
                    acknowledgement: crate::learning::acknowledge::Text::new(not_for_items, &site.notice),
                    quizzes: program_quizzes,
                },
            );
        }
        let any_preenrollment = courses
            .iter()
            .any(|c| c.status == crate::domain::CourseStatus::Preenrollment);
        let sum_of_prices: i64 = courses.iter().map(|c| c.price_cents).sum();
        Ok(Catalog {
            version,
            tz: crate::local_time::zone(&site.time_zone).unwrap_or(jiff::tz::TimeZone::UTC),
            site_value: Value::from(Serde(&site)),
            home: context! { courses => Serde(&courses), any_preenrollment },
            listing: context! { courses => Serde(&courses), sum_of_prices },
            site,
            courses,
            programs,
            rendered: RwLock::new(HashMap::new()),
            shells: RwLock::default(),
        })
    }

    /// The cached HTML for `path`, or renders it with `render` and keeps it. Only call this for
    /// pages that exist (the cache is bounded by the number of pages) and look the same to every
    /// anonymous visitor.
    pub fn cached_page<E>(&self, path: &str, render: impl FnOnce() -> Result<String, E>) -> Result<Bytes, E> {
        if let Some(html) = self.rendered.read().ok().and_then(|m| m.get(path).cloned()) {
            return Ok(html);
        }
        let html = Bytes::from(render()?);
        if let Ok(mut m) = self.rendered.write() {
            m.insert(path.to_owned(), html.clone());
        }
        Ok(html)
    }

    /// The shell named `key`, built by `build` on first use. `None` when it cannot be built (the
    /// caller renders the page the slow way) or when the snapshot's shells are full.
    pub fn cached_shell<E>(
        &self,
        kind: ShellKind,
        key: &str,
        build: impl FnOnce() -> Result<String, E>,
        slots: usize,
    ) -> Result<Option<Arc<Shell>>, E> {
        if let Ok(m) = self.shells.read() {
            if let Some(known) = m.by_key.get(key) {
                return Ok(known.clone());
            }
            if !m.has_room(kind) {
                return Ok(None);
            }
        }
        // A shell that does not read back is remembered as such: said once, not rebuilt per request.
        let shell = Shell::cut(&build()?, slots).ok().map(Arc::new);
        if shell.is_none() {
            tracing::error!(
                page = key,
                "a page's shell did not read back (a stand-in printed through a filter?); rendering it whole"
            );
        }
        if let Ok(mut m) = self.shells.write() {
            m.hold(kind, key, &shell);
        }
        Ok(shell)
    }

    /// How many shells this snapshot holds.
    pub fn shells_held(&self) -> usize {
        self.shells
            .read()
            .map(|m| m.by_key.values().flatten().count())
            .unwrap_or(0)
    }

    pub fn program(&self, slug: &str) -> Option<&Program> {
        self.programs.get(slug)
    }

    pub fn program_by_id(&self, course_id: i64) -> Option<&Program> {
        self.programs.values().find(|p| p.course_id == course_id)
    }
}

/// The contexts of a program's glossary page, its list of worksheets, and each worksheet's page.
fn page_contexts(
    course: &Value,
    summary: &Value,
    pages: Vec<Page>,
    rows: &[SyllabusRow],
    lessons: &[Lesson],
) -> (Option<Value>, Value, HashMap<String, WorksheetPage>) {
    let mut glossary = None;
    let mut worksheets = HashMap::new();
    for page in pages {
        if page.kind == "glossary" {
            glossary = Some(context! {
                course => course.clone(),
                glossary => Serde(&page),
                program_pages => summary.clone(),
            });
            continue;
        }
        // The lessons that link to it, in syllabus order.
        let used_in: Vec<view::LessonItem> = rows
            .iter()
            .filter(|r| {
                lessons.iter().any(|l| {
                    l.id == r.lesson_id && crate::content::markdown::worksheet_links(&l.body_html).contains(&page.name)
                })
            })
            .map(|r| view::LessonItem {
                slug: r.lesson_slug.clone(),
                title: r.lesson_title.clone(),
                duration_minutes: r.duration_minutes,
                free_preview: r.free_preview,
            })
            .collect();
        let ctx = context! {
            course => course.clone(),
            worksheet => Serde(&page),
            used_in => Serde(&used_in),
            program_pages => summary.clone(),
        };
        worksheets.insert(page.name.clone(), WorksheetPage { page, ctx });
    }
    let list = context! { course => course.clone(), program_pages => summary.clone() };
    (glossary, list, worksheets)
}

/// The context of a lesson's page: shared by the catalogue and the studio's "Preview as a student".
pub fn lesson_context(
    course: &Value,
    modules: &Value,
    rows: &[SyllabusRow],
    lesson: &Lesson,
    pages: &ProgramPages,
) -> sqlx::Result<Value> {
    let module = rows
        .iter()
        .find(|r| r.lesson_id == lesson.id)
        .map(|r| r.module_title.clone());
    let (prev, next) = view::neighbours(rows, &lesson.slug);
    let downloads: Vec<Download> = parse_json(&lesson.downloads, "lessons.downloads")?;
    Ok(context! {
        course => course.clone(),
        lesson => Serde(lesson),
        module,
        modules => modules.clone(),
        prev => Serde(&prev),
        next => Serde(&next),
        downloads => Serde(&downloads),
        worksheets => Serde(&pages.linked_from(&lesson.body_html)),
        program_pages => Serde(pages),
        video_embed => lesson.video_url.as_deref().and_then(view::video_embed),
    })
}

impl Program {
    pub fn lesson(&self, slug: &str) -> Option<&LessonPage> {
        self.lessons.get(slug)
    }

    /// A visible module's knowledge check.
    pub fn quiz(&self, module_id: i64) -> Option<&crate::quiz::Quiz> {
        self.quizzes.get(&module_id)
    }

    pub fn worksheet(&self, name: &str) -> Option<&WorksheetPage> {
        self.worksheets.get(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A full budget of dashboards' shells leaves the lesson pages' budget alone, and the other way.
    #[test]
    fn each_kind_of_shell_has_its_own_budget() {
        let big = |bytes: usize| Some(Arc::new(Shell::cut(&"x".repeat(bytes), 0).unwrap()));
        let mut shells = Shells::default();
        shells.hold(ShellKind::Dashboard, "d1", &big(DASHBOARD_SHELLS_MAX_BYTES));
        assert!(!shells.has_room(ShellKind::Dashboard));
        assert!(shells.has_room(ShellKind::Lesson));
        shells.hold(ShellKind::Dashboard, "d2", &big(10));
        assert!(
            !shells.by_key.contains_key("d2"),
            "past its budget, a dashboard is not kept"
        );
        shells.hold(ShellKind::Lesson, "l1", &big(10));
        assert!(shells.by_key.contains_key("l1"));
        shells.hold(ShellKind::Lesson, "l2", &big(SHELLS_MAX_BYTES));
        assert!(!shells.has_room(ShellKind::Lesson));
        assert_eq!(shells.bytes, [SHELLS_MAX_BYTES + 10, DASHBOARD_SHELLS_MAX_BYTES]);
    }
}
