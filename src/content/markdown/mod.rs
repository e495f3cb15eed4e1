//! Markdown to safe HTML, done once at import or studio save (never per request).

use std::borrow::Cow;
use std::collections::HashSet;
use std::ops::Range;

use pulldown_cmark::{CowStr, Event, HeadingLevel, LinkType, Options, Parser, Tag};

mod nesting;
pub use nesting::{MAX_NESTING, check_nesting};

/// Is this link destination relative to the file it is written in (not a URL, not site-absolute,
/// not a fragment)? Those are the links the importer resolves and checks.
pub fn is_relative_link(dest: &str) -> bool {
    let dest = dest.trim();
    !(dest.is_empty() || dest.starts_with('#') || dest.starts_with('/') || dest.starts_with("//") || has_scheme(dest))
}

fn has_scheme(dest: &str) -> bool {
    match dest.find(':') {
        Some(i) => {
            let scheme = &dest[..i];
            !scheme.is_empty()
                && scheme.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        }
        None => false,
    }
}

fn options() -> Options {
    // Heading attributes give glossary terms their `{#anchor}`; task lists are a worksheet's
    // checklists (`- [ ]`), rendered as disabled checkboxes that print as empty boxes.
    Options::ENABLE_TABLES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_SMART_PUNCTUATION
        | Options::ENABLE_HEADING_ATTRIBUTES
        | Options::ENABLE_TASKLISTS
}

/// Is `anchor` a heading anchor we accept: lowercase a–z, 0–9 and `-`, starting with a letter or
/// digit? (Anything else could clash with the page's own ids or be mistyped in a link.)
pub fn is_valid_anchor(anchor: &str) -> bool {
    !anchor.is_empty()
        && anchor.len() <= 64
        && !anchor.starts_with('-')
        && anchor
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// A heading of a document: its level (1–6), its `{#anchor}` if written, and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heading {
    pub level: u8,
    pub anchor: Option<String>,
    pub text: String,
}

/// Every heading of a document, in order.
pub fn headings(markdown: &str) -> Vec<Heading> {
    let mut out = Vec::new();
    let mut current: Option<Heading> = None;
    for event in Parser::new_ext(markdown, options()) {
        match event {
            Event::Start(Tag::Heading { level, id, .. }) => {
                current = Some(Heading {
                    level: heading_level(level),
                    anchor: id.map(|id| id.to_string()),
                    text: String::new(),
                });
            }
            Event::Text(text) | Event::Code(text) => {
                if let Some(h) = current.as_mut() {
                    h.text.push_str(&text);
                }
            }
            Event::End(pulldown_cmark::TagEnd::Heading(_)) => out.extend(current.take()),
            _ => {}
        }
    }
    out
}

/// The anchors a document's headings define: what `…#anchor` links to it may name.
pub fn heading_anchors(markdown: &str) -> HashSet<String> {
    headings(markdown).into_iter().filter_map(|h| h.anchor).collect()
}

fn heading_level(level: HeadingLevel) -> u8 {
    match level {
        HeadingLevel::H1 => 1,
        HeadingLevel::H2 => 2,
        HeadingLevel::H3 => 3,
        HeadingLevel::H4 => 4,
        HeadingLevel::H5 => 5,
        HeadingLevel::H6 => 6,
    }
}

/// A lesson's URL, as a relative link to it becomes.
pub fn lesson_url(program_slug: &str, lesson_slug: &str, fragment: Option<&str>) -> String {
    with_fragment(format!("/courses/{program_slug}/lessons/{lesson_slug}"), fragment)
}

/// The program's glossary page, as `../glossary.md#term` becomes.
pub fn glossary_url(program_slug: &str, fragment: Option<&str>) -> String {
    with_fragment(format!("/courses/{program_slug}/glossary"), fragment)
}

/// A worksheet's page, as `../worksheets/NAME.md` becomes.
pub fn worksheet_url(program_slug: &str, name: &str, fragment: Option<&str>) -> String {
    with_fragment(format!("/courses/{program_slug}/worksheets/{name}"), fragment)
}

fn with_fragment(mut url: String, fragment: Option<&str>) -> String {
    if let Some(frag) = fragment {
        url.push('#');
        url.push_str(frag);
    }
    url
}

fn split_fragment(dest: &str) -> (&str, Option<&str>) {
    match dest.split_once('#') {
        Some((f, frag)) => (f, Some(frag)),
        None => (dest, None),
    }
}

/// What a relative link in a program's Markdown points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkTarget<'a> {
    Lesson { slug: &'a str, fragment: Option<&'a str> },
    Glossary { fragment: Option<&'a str> },
    Worksheet { name: &'a str, fragment: Option<&'a str> },
}

/// What a relative link names by its file name alone (the studio's and the export's view, where
/// files have no place yet): `…/glossary.md` is the glossary, `…/worksheets/NAME.md` a worksheet,
/// and any other `.md` a lesson by its slug (`NN-` dropped). None when it is not a `.md` link.
pub fn link_target(dest: &str) -> Option<LinkTarget<'_>> {
    let (file_part, fragment) = split_fragment(dest);
    let parts: Vec<&str> = file_part.split('/').filter(|p| !p.is_empty() && *p != ".").collect();
    let (last, before) = parts.split_last()?;
    if *last == "glossary.md" && before.iter().all(|p| *p == "..") {
        return Some(LinkTarget::Glossary { fragment });
    }
    if before.last() == Some(&"worksheets") {
        let name = last.strip_suffix(".md")?;
        return (!name.is_empty()).then_some(LinkTarget::Worksheet { name, fragment });
    }
    lesson_link_target(dest).map(|(slug, fragment)| LinkTarget::Lesson { slug, fragment })
}

/// `rel` written in a file in the folder `from_dir` of a program (`""` for the program folder
/// itself, `02-basics` for a module, `worksheets`), as a path inside the program folder. None when
/// it leaves the program folder.
pub fn place_in_program(from_dir: &str, rel: &str) -> Option<String> {
    let mut parts: Vec<&str> = from_dir.split('/').filter(|p| !p.is_empty()).collect();
    for part in rel.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            part => parts.push(part),
        }
    }
    Some(parts.join("/"))
}

/// The lesson a relative link names by its file: `../02-the-gut-lining/01-your-gut-barrier.md#x`
/// gives `("your-gut-barrier", Some("x"))`. None when it is not a link to a `.md` file.
pub fn lesson_link_target(dest: &str) -> Option<(&str, Option<&str>)> {
    let (file_part, fragment) = split_fragment(dest);
    let name = file_part.rsplit('/').next()?;
    let stem = name.strip_suffix(".md")?;
    let slug = match super::source::numbered(stem) {
        Some((_, slug)) => slug,
        None => stem,
    };
    (!slug.is_empty()).then_some((slug, fragment))
}

/// What a program's Markdown may link to: its lessons, its glossary's terms, its worksheets.
#[derive(Debug, Clone, Default)]
pub struct ProgramLinks {
    pub program_slug: String,
    /// The slugs of the program's lessons.
    pub lessons: HashSet<String>,
    /// The anchors of the glossary's terms; None when the program has no glossary.
    pub glossary: Option<HashSet<String>>,
    /// The worksheets' names (file names without `.md`).
    pub worksheets: HashSet<String>,
}

impl ProgramLinks {
    /// A program with lessons only (no glossary, no worksheets).
    pub fn lessons_only(program_slug: &str, lessons: HashSet<String>) -> ProgramLinks {
        ProgramLinks {
            program_slug: program_slug.to_owned(),
            lessons,
            ..ProgramLinks::default()
        }
    }

    /// The URL `dest` (which points at `target`) becomes, or why the link is broken.
    pub fn url(&self, dest: &str, target: LinkTarget<'_>) -> Result<String, String> {
        let program = &self.program_slug;
        match target {
            LinkTarget::Lesson { slug, fragment } if self.lessons.contains(slug) => {
                Ok(lesson_url(program, slug, fragment))
            }
            LinkTarget::Lesson { slug, .. } => Err(format!(
                "broken relative link '{dest}': this program has no lesson '{slug}'"
            )),
            LinkTarget::Glossary { fragment } => {
                let Some(anchors) = &self.glossary else {
                    return Err(format!(
                        "broken relative link '{dest}': this program has no glossary.md"
                    ));
                };
                match fragment {
                    Some(anchor) if !anchors.contains(anchor) => Err(format!(
                        "broken relative link '{dest}': the glossary has no term with the anchor '{{#{anchor}}}'"
                    )),
                    _ => Ok(glossary_url(program, fragment)),
                }
            }
            LinkTarget::Worksheet { name, fragment } if self.worksheets.contains(name) => {
                Ok(worksheet_url(program, name, fragment))
            }
            LinkTarget::Worksheet { name, .. } => Err(format!(
                "broken relative link '{dest}': this program has no worksheet '{name}' (worksheets/{name}.md)"
            )),
        }
    }

    /// Resolves relative links by file name alone ([`link_target`]): the studio's and the
    /// export's resolver.
    pub fn by_name(&self) -> impl FnMut(&str) -> Result<String, String> + '_ {
        move |dest| match link_target(dest) {
            Some(target) => self.url(dest, target),
            None => Err(format!(
                "broken relative link '{dest}': only links to lessons (NN-slug.md), the glossary \
                 (glossary.md#term) and worksheets (worksheets/NAME.md) may be relative"
            )),
        }
    }
}

/// A lesson body as the studio saves it: the import's renderer and sanitiser, where a relative
/// `.md` link names a lesson of the same program by its file name (`NN-` and `.md` dropped, an
/// optional `#fragment` kept), the glossary (`../glossary.md#term`) or a worksheet
/// (`../worksheets/NAME.md`), and becomes its URL. A link to nothing is an error that names it.
pub fn render_lesson_body(links: &ProgramLinks, md: &str) -> Result<String, String> {
    render(md, links.by_name())
}

/// [`render_lesson_body`] on the blocking pool: rendering and sanitising half a megabyte takes a
/// core for a while, and the runtime's threads must keep answering pages meanwhile.
pub async fn render_lesson_body_off_runtime(links: ProgramLinks, md: String) -> Result<String, String> {
    tokio::task::spawn_blocking(move || render_lesson_body(&links, &md))
        .await
        .unwrap_or_else(|e| Err(format!("the text could not be rendered ({e})")))
}

/// The worksheets a rendered page links to (by name, first link first): the `href`s our own
/// renderer wrote for `../worksheets/NAME.md` links.
pub fn worksheet_links(html: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for (i, _) in html.match_indices("href=\"/courses/") {
        let rest = &html[i + "href=\"".len()..];
        let href = rest.split('"').next().unwrap_or_default();
        let path = href.split('#').next().unwrap_or_default();
        let parts: Vec<&str> = path.split('/').collect();
        if let ["", "courses", _, "worksheets", name] = parts.as_slice()
            && !name.is_empty()
            && !names.iter().any(|n| n == name)
        {
            names.push((*name).to_owned());
        }
    }
    names
}

/// Changes the destinations of relative links and leaves every other byte as it was. `rewrite`
/// is asked about each relative destination (inline, or in a reference definition) and returns
/// the new one, or None to keep it.
pub fn rewrite_relative_links<F>(markdown: &str, mut rewrite: F) -> String
where
    F: FnMut(&str) -> Option<String>,
{
    let parser = Parser::new_ext(markdown, options());
    let mut edits: Vec<(Range<usize>, String)> = Vec::new();
    for (_, def) in parser.reference_definitions().iter() {
        if is_relative_link(&def.dest)
            && let Some(new) = rewrite(&def.dest)
            && let Some(at) = find_destination(markdown, def.span.clone(), &def.dest, "]:")
        {
            edits.push((at, new));
        }
    }
    for (event, range) in parser.into_offset_iter() {
        if let Event::Start(Tag::Link {
            link_type: LinkType::Inline,
            dest_url,
            ..
        }) = event
            && is_relative_link(&dest_url)
            && let Some(new) = rewrite(&dest_url)
            && let Some(at) = find_destination(markdown, range, &dest_url, "](")
        {
            edits.push((at, new));
        }
    }
    edits.sort_by_key(|(range, _)| range.start);
    let mut out = String::with_capacity(markdown.len());
    let mut done = 0;
    for (range, new) in edits {
        if range.start < done {
            continue;
        }
        out.push_str(&markdown[done..range.start]);
        out.push_str(&new);
        done = range.end;
    }
    out.push_str(&markdown[done..]);
    out
}

/// Where `dest` is written inside `span` of `text`: right after the last `opener` (`](` or `]:`)
/// that it follows, allowing spaces and a `<`. None when written differently (escaped, say).
fn find_destination(text: &str, span: Range<usize>, dest: &str, opener: &str) -> Option<Range<usize>> {
    let slice = text.get(span.clone())?;
    let mut search_end = slice.len();
    while let Some(i) = slice[..search_end].rfind(opener) {
        let after = i + opener.len();
        let rest = &slice[after..];
        let trimmed = rest.trim_start_matches([' ', '\t', '\n', '\r']);
        let trimmed = trimmed.strip_prefix('<').unwrap_or(trimmed);
        if trimmed.starts_with(dest) {
            let start = span.start + after + (rest.len() - trimmed.len());
            return Some(start..start + dest.len());
        }
        search_end = i;
    }
    None
}

/// Renders Markdown to sanitised HTML. `resolve` is asked about every relative link or image
/// destination and returns the URL to use instead, or an error that fails the render.
pub fn render<F>(markdown: &str, mut resolve: F) -> Result<String, String>
where
    F: FnMut(&str) -> Result<String, String>,
{
    check_nesting(markdown)?;
    let mut failure = None;
    let events = Parser::new_ext(markdown, options()).map(|event| match event {
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) if is_relative_link(&dest_url) => {
            let dest_url = match resolve(&dest_url) {
                Ok(url) => CowStr::from(url),
                Err(reason) => {
                    failure.get_or_insert(reason);
                    dest_url
                }
            };
            Event::Start(Tag::Link {
                link_type,
                dest_url,
                title,
                id,
            })
        }
        Event::Start(Tag::Heading { ref id, .. }) if id.as_deref().is_some_and(|a| !is_valid_anchor(a)) => {
            let anchor = id.as_deref().unwrap_or_default();
            failure.get_or_insert(format!(
                "heading anchor '{{#{anchor}}}': use lowercase letters a–z, digits and '-' only"
            ));
            event
        }
        Event::Start(Tag::Image {
            link_type,
            dest_url,
            title,
            id,
        }) if is_relative_link(&dest_url) => {
            failure.get_or_insert(format!("image '{dest_url}': relative images are not supported"));
            Event::Start(Tag::Image {
                link_type,
                dest_url,
                title,
                id,
            })
        }
        other => other,
    });
    let mut html = String::with_capacity(markdown.len() * 3 / 2);
    pulldown_cmark::html::push_html(&mut html, label_task_items(events));
    match failure {
        Some(reason) => Err(reason),
        None => Ok(sanitize(&html)),
    }
}

/// Markdown written by the practice outside lessons (descriptions, FAQ answers, bio): rendered and
/// sanitised the same way; relative links are not expected there and are refused.
pub fn render_plain(markdown: &str) -> Result<String, String> {
    render(markdown, |dest| {
        Err(format!("link '{dest}': only lessons may link to other files"))
    })
}

/// Markdown for an email (announcements): links relative to the site (`/courses/x`, `courses/x`)
/// become absolute on `base_url`, since a mail client has no site to resolve them against.
pub fn render_email(markdown: &str, base_url: &str) -> Result<String, String> {
    let base = url::Url::parse(&format!("{}/", base_url.trim_end_matches('/'))).map_err(|e| e.to_string())?;
    let html = render(markdown, |dest| Ok(dest.to_owned()))?;
    Ok(ammonia::Builder::default()
        .link_rel(Some("noopener noreferrer"))
        .url_relative(ammonia::UrlRelative::RewriteWithBase(base))
        .clean(&html)
        .to_string())
}

/// A task-list item's box gets its item's text as its label: `<label><input …> text</label>`, so
/// a screen reader names the box (and accessibility checkers find no unlabelled control). The
/// label holds the item's first run of inline content (text, emphasis, links), and closes before
/// anything that is not phrasing content (a nested list, a second paragraph) or at the item's end.
fn label_task_items<'a>(events: impl Iterator<Item = Event<'a>>) -> impl Iterator<Item = Event<'a>> {
    use pulldown_cmark::TagEnd;
    // Some(depth of inline elements opened since the box) while a label is open.
    let mut open: Option<usize> = None;
    events.flat_map(move |event| {
        let mut out: Vec<Event<'a>> = Vec::with_capacity(2);
        match (&event, open) {
            (Event::TaskListMarker(_), None) => {
                out.push(Event::InlineHtml(CowStr::Borrowed("<label>")));
                open = Some(0);
            }
            (
                Event::Start(
                    Tag::Emphasis
                    | Tag::Strong
                    | Tag::Strikethrough
                    | Tag::Link { .. }
                    | Tag::Superscript
                    | Tag::Subscript,
                ),
                Some(depth),
            ) => open = Some(depth + 1),
            (
                Event::End(
                    TagEnd::Emphasis
                    | TagEnd::Strong
                    | TagEnd::Strikethrough
                    | TagEnd::Link
                    | TagEnd::Superscript
                    | TagEnd::Subscript,
                ),
                Some(depth),
            ) if depth > 0 => open = Some(depth - 1),
            (
                Event::Text(_)
                | Event::Code(_)
                | Event::InlineHtml(_)
                | Event::SoftBreak
                | Event::HardBreak
                | Event::FootnoteReference(_)
                | Event::InlineMath(_)
                | Event::TaskListMarker(_),
                Some(_),
            ) => {}
            // An image inside the label is phrasing content too; its alt text comes as Text events.
            (Event::Start(Tag::Image { .. }) | Event::End(TagEnd::Image), Some(_)) => {}
            // Anything else ends the item's first line of text: close the label before it.
            (_, Some(_)) => {
                out.push(Event::InlineHtml(CowStr::Borrowed("</label>")));
                open = None;
            }
            (_, None) => {}
        }
        out.push(event);
        out
    })
}

/// Ids only in the checked form (headings' `{#anchor}`s); an input's type only `checkbox`.
fn filter_attributes<'u>(element: &str, attribute: &str, value: &'u str) -> Option<Cow<'u, str>> {
    match (element, attribute) {
        (_, "id") => is_valid_anchor(value).then_some(Cow::Borrowed(value)),
        ("input", "type") => Some(Cow::Borrowed("checkbox")),
        _ => Some(Cow::Borrowed(value)),
    }
}

fn sanitize(html: &str) -> String {
    ammonia::Builder::default()
        .link_rel(Some("noopener noreferrer"))
        // Task-list items: a disabled checkbox (an empty box to tick on paper) in a label with the
        // item's text (see `label_task_items`; a label keeps no attributes). An input is only
        // ever a checkbox, and there is no form for it to belong to. (Not `set_tag_attribute_value`:
        // it adds missing attributes in hash order, and the stored HTML must be the same each time.)
        .add_tags(["input", "label"])
        .add_tag_attributes("input", ["type", "checked", "disabled"])
        // Headings keep their `{#anchor}` (glossary terms are linked to), only in the checked form.
        .add_tag_attributes("h1", ["id"])
        .add_tag_attributes("h2", ["id"])
        .add_tag_attributes("h3", ["id"])
        .add_tag_attributes("h4", ["id"])
        .add_tag_attributes("h5", ["id"])
        .add_tag_attributes("h6", ["id"])
        .attribute_filter(filter_attributes)
        .clean(html)
        .to_string()
}

#[cfg(test)]
mod tests;
