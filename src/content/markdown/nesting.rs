//! The bound on nesting: hostile input is refused in one linear pass, before the parser sees it.

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
pub(super) fn container_depth(line: &str) -> usize {
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
pub(super) fn html_depth(markdown: &str) -> usize {
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
