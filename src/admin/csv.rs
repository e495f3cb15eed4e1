//! CSV for spreadsheets: UTF-8 with a byte-order mark (so Excel reads accents right), RFC 4180
//! quoting (the `csv` crate writes it), and cells that a spreadsheet would run as a formula
//! neutralised.

use std::borrow::Cow;

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

/// A value starting with `=`, `+`, `-`, `@`, tab or carriage return gets a leading `'`, so the
/// spreadsheet shows it as text instead of evaluating it (CSV/formula injection, OWASP's advice).
pub fn neutralise(value: &str) -> Cow<'_, str> {
    if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        Cow::Owned(format!("'{value}"))
    } else {
        Cow::Borrowed(value)
    }
}

/// A whole file: the BOM, a header row, then rows, every cell neutralised, CRLF line ends, and
/// quotes only where a cell needs them (a comma, a quote or a line break).
pub fn document<I, R>(header: &[&str], rows: I) -> anyhow::Result<String>
where
    I: IntoIterator<Item = R>,
    R: IntoIterator<Item = String>,
{
    let mut out = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .quote_style(csv::QuoteStyle::Necessary)
        .from_writer("\u{feff}".as_bytes().to_vec());
    out.write_record(header.iter().map(|h| neutralise(h).into_owned()))?;
    for row in rows {
        out.write_record(row.into_iter().map(|c| neutralise(&c).into_owned()))?;
    }
    let bytes = out
        .into_inner()
        .map_err(|e| anyhow::anyhow!("finishing the CSV: {e}"))?;
    // Every cell came in as a `String`, and the BOM and the separators are ASCII or UTF-8.
    Ok(String::from_utf8(bytes)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One row of one cell after a header, as the file holds it (BOM and header cut off).
    fn one(cell: &str) -> String {
        let doc = document(&["h", "x"], vec![vec![cell.to_owned(), "end".to_owned()]]).unwrap();
        doc.strip_prefix("\u{feff}h,x\r\n")
            .and_then(|rest| rest.strip_suffix(",end\r\n"))
            .unwrap_or_else(|| panic!("unexpected layout: {doc:?}"))
            .to_owned()
    }

    #[test]
    fn quotes_where_needed() {
        assert_eq!(one("plain"), "plain");
        assert_eq!(one("a,b"), "\"a,b\"");
        assert_eq!(one("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(one("two\nlines"), "\"two\nlines\"");
        assert_eq!(one("two\r\nlines"), "\"two\r\nlines\"");
        assert_eq!(one("Zoë Ångström"), "Zoë Ångström");
        assert_eq!(one(""), "");
        // The hand-written writer quoted leading and trailing spaces; RFC 4180 keeps them without
        // quotes, and spreadsheets read them the same.
        assert_eq!(one(" padded "), " padded ");
    }

    #[test]
    fn formulas_are_neutralised() {
        assert_eq!(one("=HYPERLINK(\"http://x\")"), "\"'=HYPERLINK(\"\"http://x\"\")\"");
        assert_eq!(one("=1+1"), "'=1+1");
        assert_eq!(one("+1"), "'+1");
        assert_eq!(one("-2"), "'-2");
        assert_eq!(one("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(one("\t=1"), "'\t=1");
        assert_eq!(one("\r=1"), "\"'\r=1\"");
        // Only at the start: a formula character inside a value is text already.
        assert_eq!(one("a=b"), "a=b");
        assert_eq!(one("x-y"), "x-y");
        // Headers too (they can hold the site's time zone, which comes from a file).
        let doc = document(&["=cmd", "ok"], Vec::<Vec<String>>::new()).unwrap();
        assert_eq!(doc, "\u{feff}'=cmd,ok\r\n");
    }

    #[test]
    fn a_document_has_a_bom_and_crlf() {
        let doc = document(&["a", "b"], vec![vec!["1".to_owned(), "x,y".to_owned()]]).unwrap();
        assert_eq!(doc, "\u{feff}a,b\r\n1,\"x,y\"\r\n");
    }

    #[test]
    fn a_csv_reader_reads_back_what_was_written() {
        let cells = [
            "Zoë \"Zed\", Ångström",
            "line one\nline two",
            "=2+3",
            "@x",
            "-",
            " spaced ",
            "",
        ];
        let doc = document(
            &["c1", "c2", "c3", "c4", "c5", "c6", "c7"],
            vec![cells.iter().map(|c| c.to_string()).collect::<Vec<_>>()],
        )
        .unwrap();
        let body = doc.strip_prefix('\u{feff}').unwrap();
        let mut reader = csv::Reader::from_reader(body.as_bytes());
        let row = reader.records().next().unwrap().unwrap();
        let read: Vec<&str> = row.iter().collect();
        assert_eq!(
            read,
            vec![
                "Zoë \"Zed\", Ångström",
                "line one\nline two",
                "'=2+3",
                "'@x",
                "'-",
                " spaced ",
                ""
            ]
        );
    }
}
