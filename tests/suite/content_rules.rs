//! The rules the programs' content follows (course_content/FORMAT.md, "How a lesson is built"):
//! length, the closing sections, the weekly action, sources, duration, links, glossary and
//! worksheets. Checked on the real `course_content/`, and on a small tree made here, once whole
//! (it passes) and once broken in each rule (each is caught), so the check itself can fail.
//!
//! The checks read the files with plain TOML and pulldown-cmark, not with the importer.

use crate::common;

use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};

use pulldown_cmark::{Event, HeadingLevel, Options, Parser, Tag, TagEnd};

const MAIN: &str = "**Main action for this module:**";
const OPTIONAL: &str = "**Optional:**";
const TRY: &str = "Try this week";
const SOURCES: &str = "Sources and further reading";

fn options() -> Options {
    Options::ENABLE_TABLES | Options::ENABLE_HEADING_ATTRIBUTES | Options::ENABLE_TASKLISTS
}

fn sorted(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

fn name(path: &Path) -> String {
    path.file_name().unwrap_or_default().to_string_lossy().into_owned()
}

fn numbered(name: &str) -> bool {
    name.split_once('-')
        .is_some_and(|(n, rest)| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()) && !rest.is_empty())
}

/// `+++ TOML +++ body`: the front matter as a table and the body.
fn front_matter(text: &str) -> Option<(toml::Table, &str)> {
    let rest = text.strip_prefix("+++\n")?;
    let end = rest.find("\n+++\n")?;
    let table = toml::from_str(&rest[..end + 1]).ok()?;
    Some((table, &rest[end + 5..]))
}

/// The `##` sections of a body: (heading text, the Markdown under it).
fn sections(body: &str) -> Vec<(String, String)> {
    let mut heads: Vec<(String, usize, usize)> = Vec::new(); // text, start of heading, end of heading
    let mut current: Option<(String, usize)> = None;
    for (event, range) in Parser::new_ext(body, options()).into_offset_iter() {
        match event {
            Event::Start(Tag::Heading {
                level: HeadingLevel::H2,
                ..
            }) => current = Some((String::new(), range.start)),
            Event::Text(t) | Event::Code(t) => {
                if let Some((text, _)) = current.as_mut() {
                    text.push_str(&t);
                }
            }
            Event::End(TagEnd::Heading(HeadingLevel::H2)) => {
                if let Some((text, start)) = current.take() {
                    heads.push((text.trim().to_owned(), start, range.end));
                }
            }
            _ => {}
        }
    }
    heads
        .iter()
        .enumerate()
        .map(|(i, (text, _, end))| {
            let next = heads.get(i + 1).map_or(body.len(), |h| h.1);
            (text.clone(), body[*end..next].to_owned())
        })
        .collect()
}

/// The top-level list items of a piece of Markdown, as their text.
fn list_items(md: &str) -> Vec<String> {
    let mut items = Vec::new();
    let mut depth = 0;
    for event in Parser::new_ext(md, options()) {
        match event {
            Event::Start(Tag::Item) => {
                depth += 1;
                if depth == 1 {
                    items.push(String::new());
                }
            }
            Event::End(TagEnd::Item) => depth -= 1,
            Event::Text(t) | Event::Code(t) if depth >= 1 => {
                if let Some(last) = items.last_mut() {
                    last.push_str(&t);
                }
            }
            _ => {}
        }
    }
    items
}

/// Every heading anchor `{#x}` of a document, and its `##` headings as (text, anchor).
fn anchors(md: &str) -> (HashSet<String>, Vec<(String, Option<String>)>) {
    let mut all = HashSet::new();
    let mut h2 = Vec::new();
    let mut current: Option<(HeadingLevel, Option<String>, String)> = None;
    for event in Parser::new_ext(md, options()) {
        match event {
            Event::Start(Tag::Heading { level, id, .. }) => {
                current = Some((level, id.map(|i| i.to_string()), String::new()));
            }
            Event::Text(t) | Event::Code(t) => {
                if let Some((_, _, text)) = current.as_mut() {
                    text.push_str(&t);
                }
            }
            Event::End(TagEnd::Heading(_)) => {
                if let Some((level, id, text)) = current.take() {
                    all.extend(id.clone());
                    if level == HeadingLevel::H2 {
                        h2.push((text.trim().to_owned(), id));
                    }
                }
            }
            _ => {}
        }
    }
    (all, h2)
}

/// The header cells of every table in a document, and the first cell of every body row (the row
/// labels of a "question | answer" table).
fn table_cells(md: &str) -> (Vec<Vec<String>>, Vec<String>) {
    let mut headers = Vec::new();
    let mut labels = Vec::new();
    let mut in_head = false;
    let mut first_in_row = false;
    let mut cell: Option<(bool, String)> = None; // (a header cell?, its text)
    for event in Parser::new_ext(md, options()) {
        match event {
            Event::Start(Tag::TableHead) => {
                in_head = true;
                headers.push(Vec::new());
            }
            Event::End(TagEnd::TableHead) => in_head = false,
            Event::Start(Tag::TableRow) => first_in_row = true,
            Event::Start(Tag::TableCell) => {
                if in_head || first_in_row {
                    cell = Some((in_head, String::new()));
                }
                first_in_row = false;
            }
            Event::End(TagEnd::TableCell) => match cell.take() {
                Some((true, text)) => headers
                    .last_mut()
                    .into_iter()
                    .for_each(|h| h.push(text.trim().to_owned())),
                Some((false, text)) => labels.push(text.trim().to_owned()),
                None => {}
            },
            Event::Text(t) | Event::Code(t) => {
                if let Some((_, c)) = cell.as_mut() {
                    c.push_str(&t);
                }
            }
            _ => {}
        }
    }
    (headers, labels)
}

/// The relative link destinations of a document (inline and reference links).
fn relative_links(md: &str) -> Vec<String> {
    Parser::new_ext(md, options())
        .filter_map(|event| match event {
            Event::Start(Tag::Link { dest_url, .. }) | Event::Start(Tag::Image { dest_url, .. }) => {
                let d = dest_url.trim();
                let scheme = d.split_once(':').is_some_and(|(s, _)| {
                    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
                });
                (!(d.is_empty() || d.starts_with('#') || d.starts_with('/') || scheme)).then(|| d.to_owned())
            }
            _ => None,
        })
        .collect()
}

/// `rel` seen from `dir`, with `.` and `..` worked out, without touching the disk.
fn join(dir: &Path, rel: &str) -> PathBuf {
    let mut out = dir.to_path_buf();
    for c in Path::new(rel).components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(p) => out.push(p),
            _ => {}
        }
    }
    out
}

/// First line of a CSV file, split into cells (quotes allowed).
fn csv_header(text: &str) -> Vec<String> {
    let line = text.lines().next().unwrap_or_default().trim_start_matches('\u{feff}');
    let mut cells = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                cells.last_mut().unwrap().push('"');
            }
            '"' => quoted = !quoted,
            ',' if !quoted => cells.push(String::new()),
            c => cells.last_mut().unwrap().push(c),
        }
    }
    cells.into_iter().map(|c| c.trim().to_owned()).collect()
}

struct Program {
    dir: PathBuf,
    lessons: HashSet<PathBuf>,
    glossary_anchors: Option<HashSet<String>>,
}

impl Program {
    /// Problems with the relative links of `file` (in `dir`), each naming the link.
    fn check_links(&self, file: &Path, md: &str, problems: &mut Vec<String>) {
        let dir = file.parent().unwrap_or(&self.dir);
        for dest in relative_links(md) {
            let (file_part, fragment) = match dest.split_once('#') {
                Some((f, frag)) => (f, Some(frag)),
                None => (dest.as_str(), None),
            };
            let target = join(dir, file_part);
            let ok = if !target.starts_with(&self.dir) {
                Err("leaves the program folder")
            } else if target == self.dir.join("glossary.md") {
                match (&self.glossary_anchors, fragment) {
                    (None, _) => Err("the program has no glossary.md"),
                    (Some(a), Some(f)) if !a.contains(f) => Err("the glossary has no such anchor"),
                    _ => Ok(()),
                }
            } else if target.parent() == Some(&self.dir.join("worksheets")) {
                if target.extension().is_some_and(|e| e == "md") && target.is_file() {
                    Ok(())
                } else {
                    Err("no such worksheet")
                }
            } else if self.lessons.contains(&target) {
                Ok(())
            } else {
                Err("no lesson file is there")
            };
            if let Err(why) = ok {
                problems.push(format!("{}: link '{dest}' does not resolve: {why}", file.display()));
            }
        }
    }
}

/// Every problem found in the content tree at `root`, one line each, naming its file.
fn check_tree(root: &Path) -> Vec<String> {
    checked(root).0
}

/// The problems, and how many programs and lessons were looked at.
fn checked(root: &Path) -> (Vec<String>, usize, usize) {
    let mut problems = Vec::new();
    let (mut programs, mut lessons) = (0, 0);
    for dir in sorted(root).into_iter().filter(|d| d.join("course.toml").is_file()) {
        programs += 1;
        lessons += check_program(&dir, &mut problems);
    }
    (problems, programs, lessons)
}

/// Checks one program; returns how many lessons it has.
fn check_program(dir: &Path, problems: &mut Vec<String>) -> usize {
    let modules: Vec<PathBuf> = sorted(dir)
        .into_iter()
        .filter(|p| p.is_dir() && numbered(&name(p)))
        .collect();
    let lessons_of = |m: &Path| -> Vec<PathBuf> {
        sorted(m)
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "md"))
            .collect()
    };
    let glossary_path = dir.join("glossary.md");
    let glossary = std::fs::read_to_string(&glossary_path).ok();
    let program = Program {
        dir: dir.to_path_buf(),
        lessons: modules.iter().flat_map(|m| lessons_of(m)).collect(),
        glossary_anchors: glossary
            .as_deref()
            .and_then(front_matter)
            .map(|(_, body)| anchors(body).0),
    };

    // The glossary: every term a `##` heading with a valid anchor, in alphabetical order.
    match glossary.as_deref().map(front_matter) {
        None => problems.push(format!("{}: the program has no glossary.md", dir.display())),
        Some(None) => problems.push(format!("{}: no front matter", glossary_path.display())),
        Some(Some((_, body))) => {
            let (_, terms) = anchors(body);
            if terms.is_empty() {
                problems.push(format!("{}: no terms (## headings)", glossary_path.display()));
            }
            for (term, anchor) in &terms {
                let valid = anchor.as_deref().is_some_and(|a| {
                    !a.is_empty()
                        && a.chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                });
                if !valid {
                    problems.push(format!(
                        "{}: the term '{term}' needs an anchor of a–z, 0–9 and '-' ({{#term}})",
                        glossary_path.display()
                    ));
                }
            }
            let names: Vec<String> = terms.iter().map(|(t, _)| t.to_lowercase()).collect();
            let mut in_order = names.clone();
            in_order.sort();
            if names != in_order {
                problems.push(format!(
                    "{}: the terms are not in alphabetical order",
                    glossary_path.display()
                ));
            }
            program.check_links(&glossary_path, body, problems);
        }
    }

    // The worksheets: at least one; human column headings; a CSV that matches the sheet.
    let sheets: Vec<PathBuf> = sorted(&dir.join("worksheets"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    if sheets.is_empty() {
        problems.push(format!(
            "{}: the program has no worksheets (worksheets/NAME.md)",
            dir.display()
        ));
    }
    for sheet in &sheets {
        let text = std::fs::read_to_string(sheet).unwrap_or_default();
        let Some((fm, body)) = front_matter(&text) else {
            problems.push(format!("{}: no front matter", sheet.display()));
            continue;
        };
        let (headers, labels) = table_cells(body);
        for cell in headers.iter().flatten().filter(|c| c.contains('_')) {
            problems.push(format!(
                "{}: the column heading '{cell}' is not written for people (no '_')",
                sheet.display()
            ));
        }
        if let Some(csv) = fm.get("csv").and_then(|v| v.as_str()) {
            match std::fs::read_to_string(dir.join(csv)) {
                Err(_) => problems.push(format!("{}: its csv '{csv}' does not exist", sheet.display())),
                Ok(csv_text) => {
                    let header = csv_header(&csv_text);
                    if header.iter().any(|c| c.contains('_')) {
                        problems.push(format!("{}: '{csv}' has a column heading with '_'", sheet.display()));
                    }
                    // The same sheet: most of the spreadsheet's columns are headings (or row
                    // labels) of the printed sheet's tables. Not all: a sheet printed in parts
                    // may be one table in the spreadsheet, with a column saying which part.
                    let on_sheet: HashSet<String> = headers
                        .iter()
                        .flatten()
                        .chain(labels.iter())
                        .map(|c| c.to_lowercase())
                        .collect();
                    let shared = header.iter().filter(|c| on_sheet.contains(&c.to_lowercase())).count();
                    if shared * 2 < header.len() {
                        problems.push(format!(
                            "{}: the columns of '{csv}' ({}) are not the sheet's ({shared} of {} on the sheet)",
                            sheet.display(),
                            header.join(", "),
                            header.len()
                        ));
                    }
                }
            }
        }
        program.check_links(sheet, body, problems);
    }

    // The lessons.
    let mut count = 0;
    for module in &modules {
        let mut mains = Vec::new();
        for path in lessons_of(module) {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let Some((fm, body)) = front_matter(&text) else {
                problems.push(format!("{}: no front matter", path.display()));
                continue;
            };
            count += 1;
            let at = path.display();
            let words = body.split_whitespace().count();
            if !(300..=800).contains(&words) {
                problems.push(format!("{at}: {words} words; a lesson has 300 to 800"));
            }
            let reading = words.div_ceil(230) as i64;
            match fm.get("duration_minutes").and_then(|v| v.as_integer()) {
                Some(d) if (reading..=reading + 5).contains(&d) => {}
                Some(d) => problems.push(format!(
                    "{at}: duration_minutes = {d}, but {words} words read in {reading} minutes; it must be {reading} to {}",
                    reading + 5
                )),
                None => problems.push(format!("{at}: no duration_minutes")),
            }
            let secs = sections(body);
            let names: Vec<&str> = secs.iter().map(|(h, _)| h.as_str()).collect();
            if names.len() < 2 || names[names.len() - 2..] != [TRY, SOURCES] {
                problems.push(format!(
                    "{at}: the last two sections must be '## {TRY}' then '## {SOURCES}' (sections: {names:?})"
                ));
            }
            if let Some((_, action)) = secs.iter().find(|(h, _)| h == TRY) {
                let first = action.trim_start();
                if first.starts_with(MAIN) {
                    mains.push(name(&path));
                } else if !first.starts_with(OPTIONAL) {
                    problems.push(format!("{at}: '## {TRY}' must start with '{MAIN}' or '{OPTIONAL}'"));
                }
            }
            if let Some((_, sources)) = secs.last().filter(|(h, _)| h == SOURCES) {
                let items = list_items(sources);
                if !(2..=4).contains(&items.len()) {
                    problems.push(format!("{at}: {} sources; list 2 to 4", items.len()));
                }
                let lower = sources.to_lowercase();
                if lower.contains("http") || lower.contains("www.") || lower.contains("doi") {
                    problems.push(format!("{at}: sources are named, without URLs or DOIs"));
                }
            }
            if body.lines().any(|l| l.starts_with("# ")) {
                problems.push(format!("{at}: has a '#' heading (the page shows the title)"));
            }
            program.check_links(&path, body, problems);
        }
        if mains.len() != 1 {
            problems.push(format!(
                "{}: {} lessons carry the module's main action ({}); exactly one must",
                module.display(),
                mains.len(),
                mains.join(", ")
            ));
        }
    }
    count
}

// ---- the real content ---------------------------------------------------------------------------

#[test]
fn the_programs_follow_the_content_rules() {
    let (problems, programs, lessons) = checked(&common::repo_path("course_content"));
    assert!(programs == 2 && lessons >= 40, "{programs} programs, {lessons} lessons");
    assert!(
        problems.is_empty(),
        "{} problem(s) in course_content/:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

// ---- the check, on a tree made here --------------------------------------------------------------

/// Words of filler prose, `n` of them.
fn prose(n: usize) -> String {
    let words = [
        "the", "gut", "lining", "renews", "itself", "every", "few", "days", "and", "likes", "fibre",
    ];
    let mut out = String::new();
    for i in 0..n {
        out.push_str(words[i % words.len()]);
        out.push(if i % 12 == 11 { '\n' } else { ' ' });
    }
    out.trim_end().to_owned()
}

const SOURCE: &str = "- World Gastroenterology Organisation. *Global Guidelines: Irritable Bowel Syndrome*, 2015.";

/// A lesson body of about `words` words, with its action and sources, and a duration that fits.
fn lesson(title: &str, words: usize, action: &str, sources: usize, links: &str) -> String {
    let sources: Vec<&str> = std::iter::repeat_n(SOURCE, sources).collect();
    let body = format!(
        "{}\n\n{links}\n\n## {TRY}\n\n{action} write down one meal a day.\n\n## {SOURCES}\n\n{}\n",
        prose(words),
        sources.join("\n")
    );
    let minutes = body.split_whitespace().count().div_ceil(230) + 2;
    format!("+++\ntitle = \"{title}\"\nduration_minutes = {minutes}\n+++\n\n{body}")
}

struct Tree(tempfile::TempDir);

impl Tree {
    /// One program, one module of two lessons (one with the main action), a glossary, a worksheet
    /// with its CSV; everything linked as the format says.
    fn good() -> Tree {
        let t = Tree(tempfile::tempdir().unwrap());
        t.write("p/course.toml", "title = \"P\"\npromise = \"x\"\nprice_cents = 1\n");
        t.write("p/01-start/module.toml", "title = \"Start\"\n");
        t.write(
            "p/01-start/01-a.md",
            &lesson(
                "A",
                400,
                MAIN,
                3,
                "See [fibre](../glossary.md#fibre), [the log](../worksheets/log.md) and [B](02-b.md).",
            ),
        );
        t.write(
            "p/01-start/02-b.md",
            &lesson("B", 350, OPTIONAL, 2, "Back to [A](../01-start/01-a.md#top)."),
        );
        t.write(
            "p/glossary.md",
            "+++\ntitle = \"Glossary\"\n+++\n\nTerms.\n\n## Butyrate {#butyrate}\nA fatty acid. See [A](01-start/01-a.md).\n\n## Fibre {#fibre}\nPlant parts.\n",
        );
        t.write(
            "p/worksheets/log.md",
            "+++\ntitle = \"Log\"\ncsv = \"downloads/log.csv\"\n+++\n\nUse it daily ([fibre](../glossary.md#fibre)).\n\n| Date | Bloating (0–10) |\n|---|---|\n|  |  |\n",
        );
        t.write("p/downloads/log.csv", "Date,Bloating (0–10)\n");
        t
    }

    fn write(&self, rel: &str, text: &str) {
        let path = self.0.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.0.path().join(rel)).unwrap()
    }

    fn edit(&self, rel: &str, from: &str, to: &str) {
        let text = self.read(rel);
        assert!(text.contains(from), "{rel} does not contain {from:?}");
        self.write(rel, &text.replacen(from, to, 1));
    }
}

#[test]
fn a_tree_that_follows_the_rules_passes() {
    let tree = Tree::good();
    assert_eq!(check_tree(tree.0.path()), Vec::<String>::new());
}

#[test]
fn each_rule_catches_its_problem() {
    type Break = Box<dyn Fn(&Tree)>;
    let cases: Vec<(&str, Break, &str)> = vec![
        (
            "too short",
            Box::new(|t| t.write("p/01-start/02-b.md", &lesson("B", 200, OPTIONAL, 2, ""))),
            "02-b.md: 236 words; a lesson has 300 to 800",
        ),
        (
            "too long",
            Box::new(|t| t.write("p/01-start/02-b.md", &lesson("B", 800, OPTIONAL, 2, ""))),
            "words; a lesson has 300 to 800",
        ),
        (
            "duration under the reading time",
            Box::new(|t| {
                let text = t.read("p/01-start/02-b.md");
                let d = text
                    .lines()
                    .find(|l| l.starts_with("duration_minutes"))
                    .unwrap()
                    .to_owned();
                t.edit("p/01-start/02-b.md", &d, "duration_minutes = 1");
            }),
            "duration_minutes = 1, but",
        ),
        (
            "duration more than five minutes over",
            Box::new(|t| {
                let text = t.read("p/01-start/02-b.md");
                let d = text
                    .lines()
                    .find(|l| l.starts_with("duration_minutes"))
                    .unwrap()
                    .to_owned();
                t.edit("p/01-start/02-b.md", &d, "duration_minutes = 10");
            }),
            "duration_minutes = 10, but",
        ),
        (
            "no weekly action",
            Box::new(|t| t.edit("p/01-start/02-b.md", "## Try this week", "## Something to try")),
            "the last two sections must be '## Try this week' then '## Sources and further reading'",
        ),
        (
            "sources not last",
            Box::new(|t| {
                t.write(
                    "p/01-start/02-b.md",
                    &(t.read("p/01-start/02-b.md") + "\n## Notes\nMore.\n"),
                )
            }),
            "the last two sections must be",
        ),
        (
            "one source",
            Box::new(|t| t.write("p/01-start/02-b.md", &lesson("B", 350, OPTIONAL, 1, ""))),
            "02-b.md: 1 sources; list 2 to 4",
        ),
        (
            "five sources",
            Box::new(|t| t.write("p/01-start/02-b.md", &lesson("B", 350, OPTIONAL, 5, ""))),
            "02-b.md: 5 sources; list 2 to 4",
        ),
        (
            "a URL in the sources",
            Box::new(|t| t.edit("p/01-start/02-b.md", "2015.", "2015. https://example.org/ibs")),
            "without URLs or DOIs",
        ),
        (
            "no main action in the module",
            Box::new(|t| t.edit("p/01-start/01-a.md", MAIN, OPTIONAL)),
            "0 lessons carry the module's main action",
        ),
        (
            "two main actions",
            Box::new(|t| t.edit("p/01-start/02-b.md", OPTIONAL, MAIN)),
            "2 lessons carry the module's main action (01-a.md, 02-b.md)",
        ),
        (
            "an action that is neither",
            Box::new(|t| t.edit("p/01-start/02-b.md", OPTIONAL, "**Try:**")),
            "must start with '**Main action for this module:**' or '**Optional:**'",
        ),
        (
            "a link to no lesson",
            Box::new(|t| t.edit("p/01-start/01-a.md", "(02-b.md)", "(03-c.md)")),
            "01-a.md: link '03-c.md' does not resolve: no lesson file is there",
        ),
        (
            "a link to no worksheet",
            Box::new(|t| t.edit("p/01-start/01-a.md", "worksheets/log.md", "worksheets/diary.md")),
            "link '../worksheets/diary.md' does not resolve: no such worksheet",
        ),
        (
            "a link to no glossary term",
            Box::new(|t| t.edit("p/01-start/01-a.md", "glossary.md#fibre", "glossary.md#fiber")),
            "link '../glossary.md#fiber' does not resolve: the glossary has no such anchor",
        ),
        (
            "no glossary",
            Box::new(|t| std::fs::remove_file(t.0.path().join("p/glossary.md")).unwrap()),
            "the program has no glossary.md",
        ),
        (
            "a glossary term without an anchor",
            Box::new(|t| t.edit("p/glossary.md", "## Fibre {#fibre}", "## Fibre")),
            "the term 'Fibre' needs an anchor",
        ),
        (
            "glossary terms out of order",
            Box::new(|t| t.edit("p/glossary.md", "## Butyrate {#butyrate}", "## Zonulin {#butyrate}")),
            "the terms are not in alphabetical order",
        ),
        (
            "no worksheets",
            Box::new(|t| std::fs::remove_dir_all(t.0.path().join("p/worksheets")).unwrap()),
            "the program has no worksheets",
        ),
        (
            "a column heading for machines",
            Box::new(|t| t.edit("p/worksheets/log.md", "| Date |", "| entry_date |")),
            "the column heading 'entry_date' is not written for people",
        ),
        (
            "a CSV whose columns differ from the sheet's",
            Box::new(|t| t.write("p/downloads/log.csv", "Date,Bloating,Notes\n")),
            "are not the sheet's (1 of 3 on the sheet)",
        ),
        (
            "a missing CSV",
            Box::new(|t| std::fs::remove_file(t.0.path().join("p/downloads/log.csv")).unwrap()),
            "its csv 'downloads/log.csv' does not exist",
        ),
    ];
    for (what, break_it, expected) in cases {
        let tree = Tree::good();
        break_it(&tree);
        let problems = check_tree(tree.0.path());
        assert!(
            problems.iter().any(|p| p.contains(expected)),
            "{what}: expected a problem saying '{expected}', got:\n{}",
            problems.join("\n")
        );
    }
}
