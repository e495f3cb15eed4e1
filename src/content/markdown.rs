//! Markdown to safe HTML, done once at import (never per request).

use pulldown_cmark::{CowStr, Event, Options, Parser, Tag};

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

/// Renders Markdown to sanitised HTML. `resolve` is asked about every relative link or image
/// destination and returns the URL to use instead, or an error that fails the render.
pub fn render<F>(markdown: &str, mut resolve: F) -> Result<String, String>
where
    F: FnMut(&str) -> Result<String, String>,
{
    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_SMART_PUNCTUATION;
    let mut failure = None;
    let events = Parser::new_ext(markdown, options).map(|event| match event {
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
    fn what_counts_as_relative() {
        for rel in ["a.md", "../b/c.md", "./x.md", "downloads/sheet.csv"] {
            assert!(is_relative_link(rel), "{rel}");
        }
        for abs in ["#frag", "/courses", "https://x.org", "mailto:a@b.c", "//cdn.x/y"] {
            assert!(!is_relative_link(abs), "{abs}");
        }
    }
}
