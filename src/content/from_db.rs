//! The content as the database holds it, put in the files' shapes. `content export` writes these;
//! `rehash` builds sources from them with the import's own functions and hashes those. One path
//! from rows to files and sources, so an export imports as a no-op and the hashes say so.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use super::markdown;
use super::source::{
    self, CourseFile, DownloadFile, EarlyBirdFile, FaqEntry, FaqFile, InstructorFile, LessonFrontMatter, LessonPlace,
    ModuleFile, PageFrontMatter, PageKind, ProgramSource, SiteFile, SiteSource,
};
use super::store::{self, CourseRow, LessonRow, ModuleRow, PageRow};
use super::{ItemKind, hash_of, page_label};
use crate::db::Tx;

pub(crate) struct ProgramFiles {
    pub id: i64,
    pub slug: String,
    /// The folder under CONTENT_DIR holding the program's download files.
    pub files_dir: String,
    pub source_hash: String,
    pub course: CourseFile,
    pub modules: Vec<ModuleFiles>,
    /// The glossary (if any), then the worksheets.
    pub pages: Vec<PageFiles>,
    /// Rendered text whose Markdown the database lacks (rows imported by an older version).
    pub missing_md: Vec<String>,
}

pub(crate) struct PageFiles {
    pub id: i64,
    pub kind: PageKind,
    pub name: String,
    pub source_hash: String,
    pub front: PageFrontMatter,
    /// The Markdown, its relative links pointing at the files as numbered now.
    pub body: String,
}

impl PageFiles {
    /// Its file inside the program folder: `glossary.md`, `worksheets/NAME.md`.
    pub fn file(&self) -> String {
        self.kind.file(&self.name)
    }
}

pub(crate) struct ModuleFiles {
    pub id: i64,
    pub slug: String,
    /// `NN-slug`, numbered from its place among the live modules.
    pub dir_name: String,
    pub source_hash: String,
    pub file: ModuleFile,
    pub lessons: Vec<LessonFiles>,
    /// Its knowledge check, written as `quiz.toml`.
    pub quiz: Option<crate::quiz::QuizFile>,
}

pub(crate) struct LessonFiles {
    pub id: i64,
    pub slug: String,
    /// `NN-slug.md`, numbered from its place in its module.
    pub file_name: String,
    pub source_hash: String,
    pub front: LessonFrontMatter,
    /// The Markdown, its relative links pointing at the files as numbered now.
    pub body: String,
    /// The size the database recorded for each download, by its path in the program folder.
    pub bytes: HashMap<String, u64>,
}

/// One program, module or lesson as an import of its export would see it.
pub(crate) struct Item {
    pub kind: ItemKind,
    pub id: i64,
    /// As the import report names it: `lesson gut-foundations/meet-your-microbiome`.
    pub label: String,
    pub stored_hash: String,
    /// The hash an import of the export would store, or why the export would not import.
    pub hash: Result<String, String>,
}

pub(crate) fn site_file(row: &SiteSource) -> (SiteFile, Vec<String>) {
    let mut missing = Vec::new();
    if row.about_md.is_empty() && !row.about_html.is_empty() {
        missing.push("site settings: the about text".to_owned());
    }
    if row.instructor_bio_md.is_empty() && !row.instructor_bio_html.is_empty() {
        missing.push("site settings: the instructor's bio".to_owned());
    }
    let file = SiteFile {
        name: row.name.clone(),
        tagline: row.tagline.clone(),
        about: row.about_md.clone(),
        contact_email: row.contact_email.clone(),
        address: row.address.clone(),
        currency: row.currency.clone(),
        time_zone: row.time_zone.clone(),
        bundle_price_cents: row.bundle_price_cents,
        notice: Some(row.notice.clone()),
        instructor: InstructorFile {
            name: row.instructor_name.clone(),
            title: row.instructor_title.clone(),
            bio: row.instructor_bio_md.clone(),
        },
        early_bird: Some(EarlyBirdFile {
            percent: row.early_bird_percent,
            days: row.early_bird_days,
        }),
        bundle_plan: row.bundle_plans.0.clone(),
    };
    (file, missing)
}

/// A live program with its live modules and lessons, read inside `tx`.
pub(crate) async fn program(tx: &mut Tx, course: CourseRow) -> sqlx::Result<ProgramFiles> {
    let modules = store::live_modules(tx, course.id).await?;
    let lessons = store::live_lessons(tx, course.id).await?;
    let redirects = store::lesson_redirects(tx, course.id).await?;
    let pages = store::live_pages(tx, course.id).await?;
    let quizzes = crate::quiz::store::live_in_course(tx, course.id).await?;
    let mut files = program_files(course, modules, lessons, redirects, pages)?;
    for m in &mut files.modules {
        if let Some((_, quiz)) = quizzes.iter().find(|(id, _)| *id == m.id) {
            m.file.quiz_required = quiz.required;
            m.quiz = Some(crate::quiz::QuizFile {
                questions: quiz.questions.clone(),
            });
        }
    }
    Ok(files)
}

fn program_files(
    course: CourseRow,
    modules: Vec<ModuleRow>,
    lessons: Vec<LessonRow>,
    redirects: Vec<(String, i64)>,
    pages: Vec<PageRow>,
) -> sqlx::Result<ProgramFiles> {
    let mut missing_md = Vec::new();
    if course.description_md.is_empty() && !course.description_html.is_empty() {
        missing_md.push(format!("program {}: the description", course.slug));
    }
    let faq: Vec<FaqEntry> = crate::db::json_column(&course.faq, "courses.faq")?;
    for entry in faq.iter().filter(|e| e.a.is_empty() && !e.a_html.is_empty()) {
        missing_md.push(format!("program {}: the answer to '{}'", course.slug, entry.q));
    }
    let list = |json: &str, column| crate::db::json_column::<Vec<String>>(json, column);
    let course_file = CourseFile {
        title: course.title.clone(),
        promise: course.promise.clone(),
        price_cents: course.price_cents,
        status: Some(course.status.to_string()),
        position: Some(course.position),
        description: course.description_md.clone(),
        who_for: list(&course.who_for, "courses.who_for")?,
        not_for: list(&course.not_for, "courses.not_for")?,
        faq: faq.into_iter().map(|e| FaqFile { q: e.q, a: e.a }).collect(),
        plan: course.plans.0.clone(),
    };

    // The layout first: where each lesson's file goes, so links between lessons can follow.
    let mut lessons_of: HashMap<i64, Vec<LessonRow>> = HashMap::new();
    for lesson in lessons {
        lessons_of.entry(lesson.module_id).or_default().push(lesson);
    }
    // Each module with its folder name, and its lessons with their file names.
    type Placed = (ModuleRow, String, Vec<(LessonRow, String)>);
    let mut placed: Vec<Placed> = Vec::new();
    let mut file_of: HashMap<String, (String, String)> = HashMap::new();
    let mut slug_of: HashMap<i64, String> = HashMap::new();
    for (i, module) in modules.into_iter().enumerate() {
        let dir_name = format!("{:02}-{}", i + 1, module.slug);
        let mut module_lessons = Vec::new();
        // Lessons of archived modules are hidden with them: not part of the program's files.
        for (j, lesson) in lessons_of
            .remove(&module.id)
            .unwrap_or_default()
            .into_iter()
            .enumerate()
        {
            let file_name = format!("{:02}-{}.md", j + 1, lesson.slug);
            file_of.insert(lesson.slug.clone(), (dir_name.clone(), file_name.clone()));
            slug_of.insert(lesson.id, lesson.slug.clone());
            module_lessons.push((lesson, file_name));
        }
        placed.push((module, dir_name, module_lessons));
    }
    // A link may still name a lesson by a slug the studio has since changed.
    let renamed: HashMap<String, String> = redirects
        .into_iter()
        .filter(|(old, _)| !file_of.contains_key(old))
        .filter_map(|(old, id)| Some((old, slug_of.get(&id)?.clone())))
        .collect();

    let modules = placed
        .into_iter()
        .map(|(module, dir_name, module_lessons)| {
            let status = if module.status == crate::domain::ModuleStatus::Published {
                "published"
            } else {
                // A scheduled module is written as a draft: files cannot schedule, and a module
                // created from them must not appear before the instructor publishes it.
                "draft"
            };
            let lessons = module_lessons
                .into_iter()
                .map(|(lesson, file_name)| lesson_files(lesson, file_name, &dir_name, &file_of, &renamed))
                .collect::<sqlx::Result<Vec<_>>>()?;
            Ok(ModuleFiles {
                id: module.id,
                file: ModuleFile {
                    title: module.title,
                    summary: module.summary,
                    unlock_after_days: module.unlock_after_days,
                    unlock_on: module.unlock_on,
                    status: Some(status.to_owned()),
                    quiz_required: false,
                },
                slug: module.slug,
                dir_name,
                source_hash: module.source_hash,
                lessons,
                quiz: None,
            })
        })
        .collect::<sqlx::Result<Vec<_>>>()?;
    let pages = pages
        .into_iter()
        .filter_map(|page| {
            let kind = PageKind::parse(&page.kind)?;
            let from_dir = match kind {
                PageKind::Glossary => "",
                PageKind::Worksheet => source::WORKSHEETS_DIR,
            };
            Some(PageFiles {
                id: page.id,
                kind,
                front: PageFrontMatter {
                    title: page.title,
                    summary: page.summary,
                    // The glossary is always public; its file does not say so.
                    public: kind == PageKind::Worksheet && page.public,
                    csv: page.csv,
                },
                body: relink(&page.body_md, from_dir, &file_of, &renamed),
                name: page.name,
                source_hash: page.source_hash,
            })
        })
        .collect();
    Ok(ProgramFiles {
        id: course.id,
        files_dir: course.files_dir.clone().unwrap_or_else(|| course.slug.clone()),
        slug: course.slug,
        source_hash: course.source_hash,
        course: course_file,
        modules,
        pages,
        missing_md,
    })
}

fn lesson_files(
    lesson: LessonRow,
    file_name: String,
    dir_name: &str,
    file_of: &HashMap<String, (String, String)>,
    renamed: &HashMap<String, String>,
) -> sqlx::Result<LessonFiles> {
    let downloads: Vec<source::Download> = crate::db::json_column(&lesson.downloads, "lessons.downloads")?;
    let bytes = downloads
        .iter()
        .map(|d| {
            (
                source::safe_relative(&d.file).unwrap_or_else(|| d.file.clone()),
                d.bytes,
            )
        })
        .collect();
    Ok(LessonFiles {
        id: lesson.id,
        front: LessonFrontMatter {
            title: lesson.title,
            duration_minutes: Some(lesson.duration_minutes),
            free_preview: lesson.free_preview,
            video_url: lesson.video_url,
            downloads: downloads
                .into_iter()
                .map(|d| DownloadFile {
                    title: d.title,
                    file: d.file,
                })
                .collect(),
        },
        body: relink(&lesson.body_md, dir_name, file_of, renamed),
        bytes,
        slug: lesson.slug,
        file_name,
        source_hash: lesson.source_hash,
    })
}

/// Points each relative link to a lesson, the glossary or a worksheet at its file as placed now,
/// seen from the folder `from_dir` (a module's, `worksheets`, or `""` for the program folder). A
/// link that already does is left byte for byte; one to an unknown lesson is left for the render
/// to refuse.
fn relink(
    md: &str,
    from_dir: &str,
    file_of: &HashMap<String, (String, String)>,
    renamed: &HashMap<String, String>,
) -> String {
    markdown::rewrite_relative_links(md, |dest| {
        let (wanted, fragment) = match markdown::link_target(dest)? {
            markdown::LinkTarget::Lesson { slug, fragment } => {
                let (dir, file) = match file_of.get(slug) {
                    Some(place) => place,
                    None => file_of.get(renamed.get(slug)?)?,
                };
                (format!("{dir}/{file}"), fragment)
            }
            markdown::LinkTarget::Glossary { fragment } => (PageKind::Glossary.file(""), fragment),
            markdown::LinkTarget::Worksheet { name, fragment } => (PageKind::Worksheet.file(name), fragment),
        };
        let file_part = dest.split('#').next().unwrap_or(dest);
        if markdown::place_in_program(from_dir, file_part).as_deref() == Some(wanted.as_str()) {
            return None;
        }
        // Every file sits in the program folder or one folder below it.
        let mut new = if from_dir.is_empty() {
            wanted
        } else if let Some(inside) = wanted.strip_prefix(&format!("{from_dir}/")) {
            inside.to_owned()
        } else {
            format!("../{wanted}")
        };
        if let Some(fragment) = fragment {
            new.push('#');
            new.push_str(fragment);
        }
        Some(new)
    })
}

/// Builds the program as an import of its export would, with the import's own functions: the
/// sources that build (for the export's check) and every item's hash (for rehash).
pub(crate) fn build(p: &ProgramFiles) -> (Option<ProgramSource>, Vec<Item>) {
    let folder = PathBuf::from(&p.slug);
    let mut items = Vec::new();
    let program = source::program_from_file(&folder.join("course.toml"), p.slug.clone(), &p.course);
    items.push(Item {
        kind: ItemKind::Program,
        id: p.id,
        label: format!("program {}", p.slug),
        stored_hash: p.source_hash.clone(),
        hash: program.as_ref().map(hash_of).map_err(|e| e.to_string()),
    });
    let links = markdown::ProgramLinks {
        program_slug: p.slug.clone(),
        lessons: p
            .modules
            .iter()
            .flat_map(|m| m.lessons.iter().map(|l| l.slug.clone()))
            .collect::<HashSet<String>>(),
        glossary: p
            .pages
            .iter()
            .find(|page| page.kind == PageKind::Glossary)
            .map(|g| markdown::heading_anchors(&g.body)),
        worksheets: p
            .pages
            .iter()
            .filter(|page| page.kind == PageKind::Worksheet)
            .map(|w| w.name.clone())
            .collect(),
    };
    let mut pages = Vec::new();
    for page in &p.pages {
        let built = source::page_from_file(
            &folder.join(page.file()),
            page.kind,
            &page.name,
            &page.front,
            &page.body,
            // The file itself is checked when the export copies it.
            |_| Ok(()),
            links.by_name(),
        );
        items.push(Item {
            kind: ItemKind::Page,
            id: page.id,
            label: page_label(&p.slug, page.kind, &page.name),
            stored_hash: page.source_hash.clone(),
            hash: built.as_ref().map(hash_of).map_err(|e| e.to_string()),
        });
        pages.extend(built.ok());
    }
    let mut modules = Vec::new();
    for (i, m) in p.modules.iter().enumerate() {
        let dir = folder.join(&m.dir_name);
        let module = source::module_from_file(&dir.join("module.toml"), m.slug.clone(), i as i64, &m.file);
        items.push(Item {
            kind: ItemKind::Module,
            id: m.id,
            label: format!("module {}/{}", p.slug, m.slug),
            stored_hash: m.source_hash.clone(),
            hash: module.as_ref().map(hash_of).map_err(|e| e.to_string()),
        });
        let mut lessons = Vec::new();
        for (j, l) in m.lessons.iter().enumerate() {
            let place = LessonPlace {
                module_slug: &m.slug,
                slug: &l.slug,
                position: j as i64,
            };
            let lesson = source::lesson_from_file(
                &dir.join(&l.file_name),
                &place,
                &l.front,
                &l.body,
                |file| {
                    l.bytes
                        .get(file)
                        .copied()
                        .ok_or_else(|| "is not among the lesson's downloads".to_owned())
                },
                links.by_name(),
            );
            items.push(Item {
                kind: ItemKind::Lesson,
                id: l.id,
                label: format!("lesson {}/{}", p.slug, l.slug),
                stored_hash: l.source_hash.clone(),
                hash: lesson.as_ref().map(hash_of).map_err(|e| e.to_string()),
            });
            lessons.extend(lesson.ok());
        }
        if let Ok(mut module) = module {
            module.lessons = lessons;
            modules.push(module);
        }
    }
    let program = program.ok().map(|mut program| {
        program.modules = modules;
        program.pages = pages;
        program
    });
    (program, items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_follow_the_new_numbering_and_keep_their_text_otherwise() {
        let file_of: HashMap<String, (String, String)> = [
            ("barrier", ("01-lining", "02-barrier.md")),
            ("intro", ("02-basics", "01-intro.md")),
            ("next", ("02-basics", "02-next.md")),
        ]
        .into_iter()
        .map(|(s, (d, f))| (s.to_owned(), (d.to_owned(), f.to_owned())))
        .collect();
        let renamed: HashMap<String, String> = [("old-intro".to_owned(), "intro".to_owned())].into();
        let md = "[a](../01-lining/02-barrier.md) [b](./02-next.md#x) [c](../03-basics/01-intro.md#y) \
                  [d](01-barrier.md) [e](../09-x/04-old-intro.md) [f](../02-basics/05-gone.md) [g](https://x.org/a.md)";
        assert_eq!(
            relink(md, "02-basics", &file_of, &renamed),
            "[a](../01-lining/02-barrier.md) [b](./02-next.md#x) [c](01-intro.md#y) \
             [d](../01-lining/02-barrier.md) [e](01-intro.md) [f](../02-basics/05-gone.md) [g](https://x.org/a.md)"
        );
        // Glossary and worksheet links are pointed at where those files are, seen from each folder.
        let md = "[g](../glossary.md#a) [w](worksheets/log.md) [l](01-barrier.md)";
        assert_eq!(
            relink(md, "02-basics", &file_of, &renamed),
            "[g](../glossary.md#a) [w](../worksheets/log.md) [l](../01-lining/02-barrier.md)"
        );
        assert_eq!(
            relink(md, "worksheets", &file_of, &renamed),
            "[g](../glossary.md#a) [w](log.md) [l](../01-lining/02-barrier.md)"
        );
        assert_eq!(
            relink(md, "", &file_of, &renamed),
            "[g](glossary.md#a) [w](worksheets/log.md) [l](01-lining/02-barrier.md)"
        );
        assert_eq!(markdown::place_in_program("02-b", "../../x.md"), None);
        assert_eq!(
            markdown::place_in_program("02-b", "../01-a/./c.md").as_deref(),
            Some("01-a/c.md")
        );
    }
}
