//! Markdown to safe HTML, done once at import or studio save (never per request).

use std::collections::HashSet;
use std::ops::Range;

use pulldown_cmark::{CowStr, Event, LinkType, Options, Parser, Tag};

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
    Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_SMART_PUNCTUATION
}

/// A lesson's URL, as a relative link to it becomes.
pub fn lesson_url(program_slug: &str, lesson_slug: &str, fragment: Option<&str>) -> String {
    match fragment {
        Some(frag) => format!("/courses/{program_slug}/lessons/{lesson_slug}#{frag}"),
        None => format!("/courses/{program_slug}/lessons/{lesson_slug}"),
    }
}

/// The lesson a relative link names by its file: `../02-the-gut-lining/01-your-gut-barrier.md#x`
/// gives `("your-gut-barrier", Some("x"))`. None when it is not a link to a `.md` file.
pub fn lesson_link_target(dest: &str) -> Option<(&str, Option<&str>)> {
    let (file_part, fragment) = match dest.split_once('#') {
        Some((f, frag)) => (f, Some(frag)),
        None => (dest, None),
    };
    let name = file_part.rsplit('/').next()?;
    let stem = name.strip_suffix(".md")?;
    let slug = match super::source::numbered(stem) {
        Some((_, slug)) => slug,
        None => stem,
    };
    (!slug.is_empty()).then_some((slug, fragment))
}

/// A lesson body as the studio saves it: the import's renderer and sanitiser, where a relative
/// `.md` link names a lesson of the same program by its file name (`NN-` and `.md` dropped, an
/// optional `#fragment` kept) and becomes that lesson's URL. A link to no lesson is an error that
/// names it.
pub fn render_lesson_body(program_slug: &str, lesson_slugs: &HashSet<String>, md: &str) -> Result<String, String> {
    render(md, lesson_link_resolver(program_slug, lesson_slugs))
}

/// [`render_lesson_body`] on the blocking pool: rendering and sanitising half a megabyte takes a
/// core for a while, and the runtime's threads must keep answering pages meanwhile.
pub async fn render_lesson_body_off_runtime(
    program_slug: String,
    lesson_slugs: HashSet<String>,
    md: String,
) -> Result<String, String> {
    off_runtime(move || render_lesson_body(&program_slug, &lesson_slugs, &md)).await
}

async fn off_runtime(work: impl FnOnce() -> Result<String, String> + Send + 'static) -> Result<String, String> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|e| Err(format!("the text could not be rendered ({e})")))
}

/// How [`render_lesson_body`] turns a relative link into a lesson's URL.
pub(crate) fn lesson_link_resolver<'a>(
    program_slug: &'a str,
    lesson_slugs: &'a HashSet<String>,
) -> impl FnMut(&str) -> Result<String, String> + 'a {
    move |dest| match lesson_link_target(dest) {
        Some((slug, fragment)) if lesson_slugs.contains(slug) => Ok(lesson_url(program_slug, slug, fragment)),
        Some((slug, _)) => Err(format!(
            "broken relative link '{dest}': this program has no lesson '{slug}'"
        )),
        None => Err(format!(
            "broken relative link '{dest}': only links to other lessons (NN-slug.md) may be relative"
        )),
    }
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

/// How deeply quotes, lists and HTML elements may nest. Real lessons use three or four levels; the
/// parser and the sanitiser take time that grows faster than the input with depth (a 50,000-deep
/// quote took 37 s), so deeper input is refused before either sees it.
pub const MAX_NESTING: usize = 32;

/// Refuses Markdown nested deeper than [`MAX_NESTING`], in one linear pass: block containers at the
/// start of each line (`>` quotes, list markers, indentation) and raw HTML elements.
pub fn check_nesting(markdown: &str) -> Result<(), String> {
    let too_deep = |what: &str| {
        Err(format!(
            "{what} are nested more than {MAX_NESTING} levels deep; please flatten the text"
        ))
    };
    for line in markdown.lines() {
        if container_depth(line) > MAX_NESTING {
            return too_deep("quotes or lists");
        }
    }
    if html_depth(markdown) > MAX_NESTING {
        return too_deep("HTML elements");
    }
    Ok(())
}

/// The containers a line opens: each `>` and list marker, and every two columns of indentation
/// before the first of them (how nested lists are written).
fn container_depth(line: &str) -> usize {
    let bytes = line.as_bytes();
    let (mut markers, mut indent, mut i) = (0, 0, 0);
    while i < bytes.len() {
        match bytes[i] {
            b' ' if markers == 0 => indent += 1,
            b'\t' if markers == 0 => indent += 4,
            b' ' | b'\t' => {}
            b'>' => markers += 1,
            b'-' | b'*' | b'+' if bytes.get(i + 1).is_none_or(|b| b.is_ascii_whitespace()) => markers += 1,
            b'0'..=b'9' => {
                let digits = bytes[i..].iter().take_while(|b| b.is_ascii_digit()).count();
                match bytes.get(i + digits) {
                    Some(b'.' | b')') if bytes.get(i + digits + 1).is_none_or(|b| b.is_ascii_whitespace()) => {
                        markers += 1;
                        i += digits;
                    }
                    _ => break,
                }
            }
            _ => break,
        }
        i += 1;
    }
    markers + indent / 2
}

/// The deepest nesting of raw HTML elements (void and self-closing elements do not nest).
fn html_depth(markdown: &str) -> usize {
    const VOID: &[&str] = &[
        "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr",
    ];
    let (mut depth, mut deepest) = (0usize, 0usize);
    let mut rest = markdown;
    while let Some(open) = rest.find('<') {
        rest = &rest[open + 1..];
        let closing = rest.starts_with('/');
        let name: String = rest
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        if name.is_empty() || !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
            continue;
        }
        let end = rest.find('>').unwrap_or(rest.len());
        if closing {
            depth = depth.saturating_sub(1);
        } else if !VOID.contains(&name.as_str()) && !rest[..end].ends_with('/') {
            depth += 1;
            deepest = deepest.max(depth);
        }
    }
    deepest
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
    pulldown_cmark::html::push_html(&mut html, events);
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

fn sanitize(html: &str) -> String {
    ammonia::Builder::default()
        .link_rel(Some("noopener noreferrer"))
        .clean(html)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_nesting_is_refused_before_rendering() {
        let quote = format!("{} x", ">".repeat(50_000));
        let err = render_plain(&quote).unwrap_err();
        assert!(err.contains("nested more than 32 levels"), "{err}");
        let spaced = format!("{} x", "> ".repeat(40));
        assert!(render_plain(&spaced).is_err());
        let divs = format!("{}x{}", "<div>".repeat(60_000), "</div>".repeat(60_000));
        assert!(render_plain(&divs).unwrap_err().contains("HTML elements"));
        let lists: String = (0..40).map(|i| format!("{}- item\n", "  ".repeat(i * 2))).collect();
        assert!(render_plain(&lists).is_err());
        let numbered = format!("{} x", "1. ".repeat(40));
        assert!(render_plain(&numbered).is_err());
    }

    #[test]
    fn ordinary_nesting_and_html_still_render() {
        let md =
            "> quote\n> > inner\n\n- a\n  - b\n    - c\n\n1. one\n2. two\n\n<div><p>x<br>y</p></div>\n\n    code\n";
        let html = render_plain(md).unwrap();
        assert!(html.contains("<blockquote>") && html.contains("<li>c</li>"), "{html}");
        // Long lines of ordinary text, arrows and dates are not containers.
        assert!(render_plain(&"a -> b, 2024. ".repeat(5000)).is_ok());
        assert!(render_plain(&format!("{}x", "<br>".repeat(1000))).is_ok());
        assert!(render_plain("3 < 4 and 5 > 2, <3").is_ok());
        assert_eq!(container_depth("> > - 1. x"), 4);
        assert_eq!(container_depth("        code"), 4);
        assert_eq!(container_depth("    - c"), 3);
        assert_eq!(container_depth("2024. was a year"), 1);
        assert_eq!(html_depth("<a><b></b><c/><img src=x></a>"), 2);
    }

    #[test]
    fn email_links_become_absolute_and_scripts_go() {
        let html = render_email(
            "[a](/courses/x) [b](courses/y) [c](https://example.org/z) <script>alert(1)</script><img src=x onerror=alert(1)>",
            "https://school.example",
        )
        .unwrap();
        assert!(html.contains(r#"href="https://school.example/courses/x""#), "{html}");
        assert!(html.contains(r#"href="https://school.example/courses/y""#), "{html}");
        assert!(html.contains(r#"href="https://example.org/z""#), "{html}");
        assert!(!html.contains("<script") && !html.contains("onerror"), "{html}");
    }

    #[test]
    fn scripts_and_handlers_are_removed() {
        let html =
            render_plain("Hi <script>alert(1)</script> <img src=x onerror=alert(2)> [x](javascript:alert(3))").unwrap();
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("onerror"), "{html}");
        assert!(!html.contains("javascript:"), "{html}");
    }

    #[test]
    fn relative_links_are_resolved_or_refused() {
        let html = render("[next](02-next.md#top) and [web](https://example.org)", |d| {
            assert_eq!(d, "02-next.md#top");
            Ok("/courses/c/lessons/next#top".into())
        })
        .unwrap();
        assert!(html.contains(r#"href="/courses/c/lessons/next#top""#), "{html}");
        assert!(html.contains(r#"href="https://example.org""#), "{html}");
        assert!(render("[gone](missing.md)", |_| Err("missing".into())).is_err());
        assert!(render("![pic](pic.png)", |_| Ok(String::new())).is_err());
    }

    #[test]
    fn lesson_links_resolve_by_file_name() {
        let slugs: HashSet<String> = ["basics".to_owned(), "gut-barrier".to_owned()].into();
        let html = render_lesson_body(
            "alpha",
            &slugs,
            "[a](../01-start/02-basics.md) [b](03-gut-barrier.md#why) [c](basics.md) [d](https://x.org/e.md)",
        )
        .unwrap();
        assert!(html.contains(r#"href="/courses/alpha/lessons/basics""#), "{html}");
        assert!(
            html.contains(r#"href="/courses/alpha/lessons/gut-barrier#why""#),
            "{html}"
        );
        assert!(html.contains(r#"href="https://x.org/e.md""#), "{html}");
        let err = render_lesson_body("alpha", &slugs, "See [gone](../02-deeper/09-nothing.md).").unwrap_err();
        assert!(
            err.contains("'../02-deeper/09-nothing.md'") && err.contains("'nothing'"),
            "{err}"
        );
        assert!(render_lesson_body("alpha", &slugs, "[csv](downloads/sheet.csv)").is_err());
    }

    #[test]
    fn rewriting_links_keeps_every_other_byte() {
        let md = "Intro *x*  \n[one](../01-a/02-b.md \"t\") and [two][r] and [web](https://e.org/02-b.md)\n\n[r]: <02-b.md#f>\n";
        let out = rewrite_relative_links(md, |dest| Some(format!("NEW({dest})")));
        assert_eq!(
            out,
            "Intro *x*  \n[one](NEW(../01-a/02-b.md) \"t\") and [two][r] and [web](https://e.org/02-b.md)\n\n[r]: <NEW(02-b.md#f)>\n"
        );
        assert_eq!(rewrite_relative_links(md, |_| None), md);
        // The link text may repeat the destination; the destination is what changes.
        assert_eq!(
            rewrite_relative_links("[02-b.md](02-b.md)", |_| Some("x.md".into())),
            "[02-b.md](x.md)"
        );
    }

    #[test]
    fn what_counts_as_relative() {
        for rel in ["a.md", "../b/c.md", "./x.md", "downloads/sheet.csv"] {
            assert!(is_relative_link(rel), "{rel}");
        }
        for abs in ["#frag", "/courses", "https://x.org", "mailto:a@b.c", "//cdn.x/y"] {
            assert!(!is_relative_link(abs), "{abs}");
        }
    }
}
