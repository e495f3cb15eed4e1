//! CSV for spreadsheets: UTF-8 with a byte-order mark (so Excel reads accents right), RFC 4180
//! quoting, and cells that a spreadsheet would run as a formula neutralised.

/// A CSV file as a download: `{name}-{date}.csv`, never cached.
pub fn attachment(name: &str, date: time::Date, body: String) -> axum::response::Response {
    use axum::http::{StatusCode, header};
    use axum::response::IntoResponse;
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}-{date}.csv\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        body,
    )
        .into_response()
}

/// One cell. A value starting with `=`, `+`, `-`, `@`, tab or carriage return is prefixed with `'`
/// so the spreadsheet shows it as text instead of evaluating it (CSV/formula injection); then it
/// is quoted when it holds a comma, quote, line break, or leading or trailing space.
pub fn cell(value: &str) -> String {
    let neutral = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    let needs_quotes = neutral.contains([',', '"', '\n', '\r']) || neutral.starts_with(' ') || neutral.ends_with(' ');
    if needs_quotes {
        format!("\"{}\"", neutral.replace('"', "\"\""))
    } else {
        neutral
    }
}

/// A whole file: header row, then rows, CRLF line ends.
pub fn document<I, R>(header: &[&str], rows: I) -> String
where
    I: IntoIterator<Item = R>,
    R: IntoIterator<Item = String>,
{
    let mut out = String::from("\u{feff}");
    let line = |cells: Vec<String>| cells.join(",") + "\r\n";
    out.push_str(&line(header.iter().map(|h| cell(h)).collect()));
    for row in rows {
        out.push_str(&line(row.into_iter().map(|c| cell(&c)).collect()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_and_neutralises() {
        assert_eq!(cell("plain"), "plain");
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("two\nlines"), "\"two\nlines\"");
        assert_eq!(cell("=HYPERLINK(\"http://x\")"), "\"'=HYPERLINK(\"\"http://x\"\")\"");
        assert_eq!(cell("+1"), "'+1");
        assert_eq!(cell("-2"), "'-2");
        assert_eq!(cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(cell("\t=1"), "'\t=1");
        assert_eq!(cell("Zoë Ångström"), "Zoë Ångström");
        assert_eq!(cell(" padded"), "\" padded\"");
    }

    #[test]
    fn a_document_has_a_bom_and_crlf() {
        let doc = document(&["a", "b"], vec![vec!["1".to_owned(), "x,y".to_owned()]]);
        assert_eq!(doc, "\u{feff}a,b\r\n1,\"x,y\"\r\n");
    }
}
