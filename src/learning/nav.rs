//! The syllabus beside a lesson, as a student sees it (their ticks, the module that opens later,
//! the progress bar). It is the same markup `catalog/_syllabus_nav.html` writes, built here in
//! one pass over the catalogue's rows: on the busiest page of the site, the template's loop over
//! every lesson was most of the page's work (a profile of the signed-in lesson page under load
//! put three fifths of the handler's time in the template engine). The tests below hold the two
//! to the same bytes; the template still draws the syllabus for visitors, instructors and the
//! studio's preview.

use std::fmt::Write;

use minijinja::HtmlEscape;

use super::view::Progress;
use crate::catalog::snapshot::{Program, ProgramPages};

/// The syllabus for a student reading `current` (a lesson's slug) in `program`.
pub fn for_student(program: &Program, current: &str, progress: &Progress) -> String {
    let mut out = String::with_capacity(256 + 220 * program.rows.len());
    // `write!` into a String cannot fail.
    let _ = write_nav(
        &mut out,
        &program.slug,
        &program.title,
        &program.pages,
        current,
        progress,
    );
    out
}

fn write_nav(
    out: &mut String,
    slug: &str,
    title: &str,
    pages: &ProgramPages,
    current: &str,
    progress: &Progress,
) -> std::fmt::Result {
    let base = HtmlEscape(&format!("/courses/{slug}/lessons")).to_string();
    let slug = HtmlEscape(slug);
    write!(
        out,
        "\n<nav class=\"lesson-nav\" aria-label=\"Syllabus\">\n  <p class=\"lesson-nav-title\"><a href=\"/courses/{slug}\">{}</a></p>\n  ",
        HtmlEscape(title)
    )?;
    let worksheets = !pages.worksheets.is_empty();
    if pages.glossary || worksheets {
        out.push_str("\n  <p class=\"lesson-nav-tools\">");
        if pages.glossary {
            write!(out, "<a href=\"/courses/{slug}/glossary\">Glossary</a>")?;
        }
        if pages.glossary && worksheets {
            out.push_str(" · ");
        }
        if worksheets {
            write!(out, "<a href=\"/courses/{slug}/worksheets\">Worksheets</a>")?;
        }
        out.push_str("</p>\n  ");
    }
    out.push_str("\n  ");
    let max = if progress.available == 0 { 1 } else { progress.available };
    write!(
        out,
        "\n  <progress class=\"progress\" max=\"{max}\" value=\"{}\" aria-label=\"Progress\">{}%</progress>\n  ",
        progress.done.min(progress.available),
        progress.percent
    )?;
    out.push_str("\n  <ol>\n    ");
    for m in &progress.modules {
        out.push_str("\n    <li");
        if !m.open {
            out.push_str(" class=\"locked-module\"");
        }
        write!(
            out,
            ">\n      <p class=\"lesson-nav-module\">Module {}: {}",
            m.number,
            HtmlEscape(&m.title)
        )?;
        if !m.open {
            // As the template shows a missing value (never the case for a locked module).
            let opens = m.opens.as_deref().unwrap_or("none");
            write!(out, " <span class=\"meta opens\">Opens {}</span>", HtmlEscape(opens))?;
        }
        out.push_str("</p>\n      <ol>\n        ");
        for l in &m.lessons {
            let here = l.slug == current;
            out.push_str("\n        <li class=\"");
            if here {
                out.push_str("current");
            }
            if l.done {
                out.push_str(" done");
            }
            write!(out, "\">\n          <a href=\"{base}/{}\"", HtmlEscape(&l.slug))?;
            if here {
                out.push_str(" aria-current=\"page\"");
            }
            out.push_str(">\n            <span class=\"tick\" aria-hidden=\"true\">");
            if l.done {
                out.push('✓');
            }
            write!(out, "</span>{}", HtmlEscape(&l.title))?;
            if l.done {
                out.push_str("<span class=\"visually-hidden\"> (done)</span>");
            }
            out.push_str("</a>\n        </li>\n        ");
        }
        out.push_str("\n      </ol>\n    </li>\n    ");
    }
    out.push_str("\n  </ol>\n</nav>");
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use minijinja::context;
    use minijinja::value::Serde;
    use time::macros::datetime;

    use super::*;
    use crate::catalog::snapshot::WorksheetItem;
    use crate::catalog::store::SyllabusRow;

    fn row(module: (i64, &str), lesson: (i64, &str, &str), days: Option<i64>) -> SyllabusRow {
        SyllabusRow {
            course_id: 1,
            module_id: module.0,
            module_slug: format!("m{}", module.0),
            module_title: module.1.into(),
            module_summary: String::new(),
            lesson_id: lesson.0,
            lesson_slug: lesson.1.into(),
            lesson_title: lesson.2.into(),
            duration_minutes: 6,
            free_preview: lesson.0 == 1,
            unlock_after_days: days,
            unlock_on: None,
        }
    }

    /// What the template writes for the same student, with the same context names the lesson
    /// page gives it.
    fn by_template(slug: &str, title: &str, pages: &ProgramPages, current: &str, progress: &Progress) -> String {
        let templates = crate::web::Templates::new(Arc::new(crate::web::Assets::load()));
        let ctx = context! {
            course => context! { slug, title },
            lesson => context! { slug => current },
            program_pages => Serde(pages),
            learner => context! { progress => Serde(progress) },
        };
        templates.render("catalog/_syllabus_nav.html", ctx).unwrap()
    }

    #[test]
    fn the_same_bytes_as_the_template() {
        let tz = crate::local_time::zone("America/Chicago").unwrap();
        let rows = vec![
            row(
                (1, "Digestion, top & bottom"),
                (1, "mouth", "Mouth <and> stomach"),
                None,
            ),
            row(
                (1, "Digestion, top & bottom"),
                (2, "gut", "The \"small\" intestine / bile"),
                None,
            ),
            row((2, "Fiber's part"), (3, "fiber", "Fiber"), Some(7)),
            row((2, "Fiber's part"), (4, "ferment", "Fermented foods"), Some(7)),
        ];
        let enrolled = datetime!(2026-12-01 12:00 UTC);
        let worksheet = WorksheetItem {
            name: "diary".into(),
            title: "Diary".into(),
            summary: String::new(),
            public: true,
            csv: false,
        };
        let all_pages = ProgramPages {
            glossary: true,
            worksheets: vec![worksheet.clone()],
        };
        let glossary_only = ProgramPages {
            glossary: true,
            worksheets: Vec::new(),
        };
        let worksheets_only = ProgramPages {
            glossary: false,
            worksheets: vec![worksheet],
        };
        let no_pages = ProgramPages::default();
        let cases: Vec<(&[i64], i64, &ProgramPages, &str)> = vec![
            // Day one: nothing done, module 2 locked, no pages.
            (&[], 0, &no_pages, "mouth"),
            // Some done, reading a done lesson; both kinds of page.
            (&[1, 2], 8, &all_pages, "gut"),
            // Everything open and done.
            (&[1, 2, 3, 4], 8, &glossary_only, "ferment"),
            // A lesson of another program's slug: nothing is current.
            (&[2], 8, &worksheets_only, "elsewhere"),
        ];
        for (done, days_on, pages, current) in cases {
            let now = enrolled + time::Duration::days(days_on);
            let progress = super::super::view::progress(&rows, done, None, enrolled, now, &tz);
            let expected = by_template("gut-foundations", "Gut & Co", pages, current, &progress);
            let program_slug = "gut-foundations";
            let mut got = String::new();
            write_nav(&mut got, program_slug, "Gut & Co", pages, current, &progress).unwrap();
            assert_eq!(got, expected, "done {done:?}, day {days_on}, current {current}");
        }
    }
}
