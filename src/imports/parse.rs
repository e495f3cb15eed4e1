//! Reading a student export (Teachable, Kajabi, or any CSV with the same columns) into rows, one
//! record at a time: the file is never held whole, only the small parsed rows.
//!
//! Column names are matched case-insensitively, trimmed, with `_` and `-` read as spaces:
//!
//! | what              | accepted column names                                                           |
//! |-------------------|---------------------------------------------------------------------------------|
//! | email (required)  | `Email`, `Email Address`, `E-mail`                                               |
//! | name              | `Name`, `Full Name`, or `First Name` + `Last Name`                               |
//! | enrolled at       | `Enrolled At`, `Enrollment Date`, `Enrolled On`, `Created At`, `Signed Up At`, `Joined At`, `Purchased At` |
//! | completed lessons | `Completed Lessons`, `Completed Lectures`, `Lessons Completed`                   |
//!
//! Other columns are ignored. Lesson titles in the completed column are separated by `;` or `|`.
//! Every cell is plain text: a cell starting with `=`, `+`, `-` or `@` (a spreadsheet formula) is
//! never evaluated; it is read, checked and stored as the characters it holds.

use std::collections::HashMap;
use std::io::Read;

use jiff::tz::TimeZone;
use time::OffsetDateTime;

use crate::domain::{Email, PersonName};

/// More rows than this is refused (the studio's upload limit holds far fewer anyway).
pub const MAX_ROWS: usize = 100_000;
/// Problems listed at most (the count says how many more there were).
pub const MAX_PROBLEMS: usize = 200;

/// One student, as the file gives them.
#[derive(Debug, Clone)]
pub struct Row {
    /// The line of the file the record starts on (the header is line 1).
    pub line: u64,
    pub email: Email,
    pub name: PersonName,
    /// None: the column is absent or the cell empty (the import's time is used).
    pub enrolled_at: Option<OffsetDateTime>,
    /// Titles from the completed-lessons column, as written (trimmed, without empties).
    pub completed: Vec<String>,
}

/// A line the import cannot take, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    pub line: u64,
    pub message: String,
}

/// The whole file, read.
#[derive(Debug, Default)]
pub struct Parsed {
    pub rows: Vec<Row>,
    pub problems: Vec<Problem>,
    /// Problems beyond [`MAX_PROBLEMS`], counted only.
    pub more_problems: usize,
}

impl Parsed {
    fn problem(&mut self, line: u64, message: String) {
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(Problem { line, message });
        } else {
            self.more_problems += 1;
        }
    }

    pub fn problem_count(&self) -> usize {
        self.problems.len() + self.more_problems
    }
}

/// Why the file as a whole cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("the file has no email column (accepted names: Email, Email Address, E-mail); its columns are: {0}")]
    NoEmailColumn(String),
    #[error("the file is empty: it needs a header row (Name, Email, ...) and a row per student")]
    Empty,
    #[error("the file has no students: only a header row")]
    NoRows,
    #[error("the file has more than {MAX_ROWS} students; split it into smaller files")]
    TooManyRows,
    #[error("line {line}: {message}")]
    Unreadable { line: u64, message: String },
}

#[derive(Default)]
struct Columns {
    email: Option<usize>,
    name: Option<usize>,
    first: Option<usize>,
    last: Option<usize>,
    enrolled: Option<usize>,
    completed: Option<usize>,
}

fn normalise_header(h: &str) -> String {
    h.trim()
        .trim_start_matches('\u{feff}')
        .to_lowercase()
        .replace(['_', '-'], " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

impl Columns {
    fn from_headers(headers: &[String]) -> Columns {
        let mut c = Columns::default();
        // Earlier names in each list win over later ones (`Enrolled At` over `Created At`).
        let find = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| headers.iter().position(|h| normalise_header(h) == *n))
        };
        c.email = find(&["email", "email address", "e mail", "e mail address", "user email"]);
        c.name = find(&["name", "full name", "student name"]);
        c.first = find(&["first name", "firstname", "given name"]);
        c.last = find(&["last name", "lastname", "surname", "family name"]);
        c.enrolled = find(&[
            "enrolled at",
            "enrollment date",
            "enrolled on",
            "enrolled",
            "created at",
            "signed up at",
            "joined at",
            "purchased at",
        ]);
        c.completed = find(&[
            "completed lessons",
            "completed lectures",
            "lessons completed",
            "lectures completed",
        ]);
        c
    }
}

/// Reads a CSV export. File-level failures (no email column, unreadable CSV, too many rows) are an
/// `Err`; problems with single rows are collected in [`Parsed::problems`] with their lines, and
/// the caller imports nothing while there are any.
pub fn read(input: impl Read, tz: &TimeZone, now: OffsetDateTime) -> Result<Parsed, FileError> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(false)
        .from_reader(input);
    let mut record = csv::ByteRecord::new();
    let mut parsed = Parsed::default();
    let unreadable = |e: csv::Error| {
        let line = e.position().map_or(0, |p| p.line());
        FileError::Unreadable {
            line,
            message: format!("not readable as CSV ({e})"),
        }
    };
    if !reader.read_byte_record(&mut record).map_err(unreadable)? {
        return Err(FileError::Empty);
    }
    let header_line = record.position().map_or(1, |p| p.line());
    let mut headers = Vec::new();
    for field in record.iter() {
        match std::str::from_utf8(field) {
            Ok(text) => headers.push(text.to_owned()),
            Err(_) => {
                return Err(FileError::Unreadable {
                    line: header_line,
                    message: "the header row is not UTF-8 text: save the file as \"CSV UTF-8\" and try again"
                        .to_owned(),
                });
            }
        }
    }
    let columns = Columns::from_headers(&headers);
    let Some(email_col) = columns.email else {
        let names: Vec<String> = headers.iter().map(|h| format!("\"{}\"", h.trim())).collect();
        return Err(FileError::NoEmailColumn(names.join(", ")));
    };
    let mut seen: HashMap<String, u64> = HashMap::new();
    let mut count = 0usize;
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(unreadable(e)),
        }
        let line = record.position().map_or(0, |p| p.line());
        // A blank line (a trailing newline, an empty row from a spreadsheet) is no student.
        if record.iter().all(|f| f.iter().all(u8::is_ascii_whitespace)) {
            continue;
        }
        count += 1;
        if count > MAX_ROWS {
            return Err(FileError::TooManyRows);
        }
        let mut cells: Vec<&str> = Vec::with_capacity(record.len());
        let mut bad_utf8 = false;
        for field in record.iter() {
            match std::str::from_utf8(field) {
                Ok(text) => cells.push(text),
                Err(_) => {
                    bad_utf8 = true;
                    break;
                }
            }
        }
        if bad_utf8 {
            parsed.problem(
                line,
                "is not UTF-8 text (a character the file's encoding mangled): save the file as \"CSV UTF-8\" and try again"
                    .to_owned(),
            );
            continue;
        }
        let cell = |i: Option<usize>| i.and_then(|i| cells.get(i)).map_or("", |s| s.trim());
        let email_text = cell(Some(email_col));
        if email_text.is_empty() {
            parsed.problem(line, "has no email address".to_owned());
            continue;
        }
        let email = match Email::parse(email_text) {
            Ok(e) => e,
            Err(why) => {
                parsed.problem(
                    line,
                    format!("\"{}\" is not a usable email address: {why}", shorten(email_text)),
                );
                continue;
            }
        };
        if let Some(first) = seen.get(email.as_str()) {
            parsed.problem(line, format!("{email} is in the file twice (first on line {first})"));
            continue;
        }
        seen.insert(email.as_str().to_owned(), line);
        let name_text = {
            let full = cell(columns.name);
            if full.is_empty() {
                format!("{} {}", cell(columns.first), cell(columns.last))
            } else {
                full.to_owned()
            }
        };
        let name_text = if name_text.trim().is_empty() {
            // No name given: the address's local part, which the student can change.
            email.as_str().split('@').next().unwrap_or("").to_owned()
        } else {
            name_text
        };
        let name = match PersonName::parse(&name_text) {
            Ok(n) => n,
            Err(why) => {
                parsed.problem(line, format!("the name of {email}: {why}"));
                continue;
            }
        };
        let enrolled_text = cell(columns.enrolled);
        let enrolled_at = if enrolled_text.is_empty() {
            None
        } else {
            match parse_date(enrolled_text, tz) {
                Some(at) if at > now => {
                    parsed.problem(
                        line,
                        format!("the enrollment date \"{}\" is in the future", shorten(enrolled_text)),
                    );
                    continue;
                }
                Some(at) => Some(at),
                None => {
                    parsed.problem(
                        line,
                        format!(
                            "\"{}\" is not a date we can read (use 2024-03-31, 2024-03-31 14:05:00 UTC, or 03/31/2024)",
                            shorten(enrolled_text)
                        ),
                    );
                    continue;
                }
            }
        };
        let mut completed: Vec<String> = Vec::new();
        for title in cell(columns.completed).split([';', '|']) {
            let title = title.split_whitespace().collect::<Vec<_>>().join(" ");
            if !title.is_empty() && !completed.contains(&title) {
                completed.push(title);
            }
        }
        parsed.rows.push(Row {
            line,
            email,
            name,
            enrolled_at,
            completed,
        });
    }
    if count == 0 {
        return Err(FileError::NoRows);
    }
    Ok(parsed)
}

/// A cell quoted in a message: at most 60 characters.
fn shorten(text: &str) -> String {
    if text.chars().count() > 60 {
        format!("{}…", text.chars().take(60).collect::<String>())
    } else {
        text.to_owned()
    }
}

/// The dates exports write: an instant with its offset (`2024-03-31T14:05:00Z`,
/// `2024-03-31 14:05:00 UTC`, `2024-03-31 14:05:00 -0600`), a wall-clock time or a date in the
/// site's zone (`2024-03-31 14:05`, `2024-03-31`), or a US date (`03/31/2024`).
pub fn parse_date(text: &str, tz: &TimeZone) -> Option<OffsetDateTime> {
    let mut t = text.trim().to_owned();
    for zone in [" UTC", " GMT", " utc", " gmt", "UTC", "GMT"] {
        if let Some(rest) = t.strip_suffix(zone) {
            t = format!("{}Z", rest.trim_end());
            break;
        }
    }
    // " -0600" / " +01:00" after the time: the offset belongs to it.
    if let Some(pos) = t.rfind([' ']) {
        let tail = &t[pos + 1..];
        if (tail.starts_with('+') || tail.starts_with('-')) && tail[1..].chars().all(|c| c.is_ascii_digit() || c == ':')
        {
            let digits: String = tail[1..].chars().filter(char::is_ascii_digit).collect();
            if digits.len() == 4 {
                t = format!("{}{}{}:{}", &t[..pos], &tail[..1], &digits[..2], &digits[2..]);
            }
        }
    }
    let to_time = |ts: jiff::Timestamp| OffsetDateTime::from_unix_timestamp(ts.as_second()).ok();
    if let Ok(ts) = t.parse::<jiff::Timestamp>() {
        return to_time(ts);
    }
    let civil = t
        .parse::<jiff::civil::DateTime>()
        .ok()
        .or_else(|| {
            t.parse::<jiff::civil::Date>()
                .ok()
                .map(|d| d.to_datetime(jiff::civil::Time::midnight()))
        })
        .or_else(|| us_date(&t).map(|d| d.to_datetime(jiff::civil::Time::midnight())))?;
    let zoned = civil.to_zoned(tz.clone()).ok()?;
    to_time(zoned.timestamp())
}

/// `MM/DD/YYYY` (one-digit months and days too).
fn us_date(text: &str) -> Option<jiff::civil::Date> {
    let mut parts = text.split('/');
    let (m, d, y) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || y.len() != 4 {
        return None;
    }
    jiff::civil::Date::new(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> OffsetDateTime {
        time::macros::datetime!(2026-11-27 12:00 UTC)
    }

    fn utc() -> TimeZone {
        TimeZone::UTC
    }

    #[test]
    fn dates_from_exports() {
        let tz = utc();
        let want = time::macros::datetime!(2024-03-31 14:05 UTC);
        for text in [
            "2024-03-31T14:05:00Z",
            "2024-03-31 14:05:00 UTC",
            "2024-03-31 14:05:00 +0000",
            "2024-03-31T16:05:00+02:00",
            "2024-03-31 08:05:00 -0600",
            "2024-03-31 14:05",
        ] {
            assert_eq!(parse_date(text, &tz), Some(want), "{text}");
        }
        assert_eq!(
            parse_date("03/31/2024", &tz),
            Some(time::macros::datetime!(2024-03-31 0:00 UTC))
        );
        let chicago = TimeZone::get("America/Chicago").unwrap();
        assert_eq!(
            parse_date("2024-01-15", &chicago),
            Some(time::macros::datetime!(2024-01-15 6:00 UTC))
        );
        for bad in ["yesterday", "31/31/2024", "2024-13-01", "=NOW()", "2024-02-30"] {
            assert_eq!(parse_date(bad, &tz), None, "{bad}");
        }
    }

    #[test]
    fn teachable_and_kajabi_headers() {
        let teachable = "Name,Email,Enrolled At,Completed Lessons\nAda Lovelace,ADA@example.com,2024-03-31 14:05:00 UTC,Welcome; The basics\n";
        let p = read(teachable.as_bytes(), &utc(), now()).unwrap();
        assert_eq!(p.problems, vec![]);
        assert_eq!(p.rows.len(), 1);
        assert_eq!(p.rows[0].email.as_str(), "ada@example.com");
        assert_eq!(p.rows[0].name.as_str(), "Ada Lovelace");
        assert_eq!(p.rows[0].completed, vec!["Welcome", "The basics"]);
        assert_eq!(p.rows[0].line, 2);

        let kajabi = "\u{feff}ID, first_name ,Last Name,EMAIL,Created At,Tags\n7,Grace,Hopper,grace@example.com,03/01/2024,a|b\n";
        let p = read(kajabi.as_bytes(), &utc(), now()).unwrap();
        assert_eq!(p.problems, vec![]);
        assert_eq!(p.rows[0].name.as_str(), "Grace Hopper");
        assert_eq!(
            p.rows[0].enrolled_at,
            Some(time::macros::datetime!(2024-03-01 0:00 UTC))
        );
        assert!(p.rows[0].completed.is_empty());
    }

    #[test]
    fn bad_rows_are_reported_by_line() {
        let csv = "Name,Email,Enrolled At\n\
            A,a@example.com,2024-01-01\n\
            B,not-an-email,2024-01-01\n\
            C,,2024-01-01\n\
            D,A@example.com,2024-01-01\n\
            E,e@example.com,soon\n\
            \"F\nstill F\",f@example.com,2030-01-01\n\
            =HYPERLINK(\"http://x\"),g@example.com,\n";
        let p = read(csv.as_bytes(), &utc(), now()).unwrap();
        let lines: Vec<u64> = p.problems.iter().map(|x| x.line).collect();
        assert_eq!(lines, vec![3, 4, 5, 6, 7], "{:?}", p.problems);
        assert!(p.problems[2].message.contains("first on line 2"));
        assert!(p.problems[4].message.contains("future"));
        // A formula is only text.
        assert_eq!(p.rows.last().unwrap().name.as_str(), "=HYPERLINK(\"http://x\")");
    }

    #[test]
    fn broken_encoding_names_its_line() {
        let mut bytes = b"Name,Email\nA,a@example.com\n".to_vec();
        bytes.extend_from_slice(b"Jos\xe9,jose@example.com\n");
        let p = read(&bytes[..], &utc(), now()).unwrap();
        assert_eq!(p.problems.len(), 1);
        assert_eq!(p.problems[0].line, 3);
        assert!(p.problems[0].message.contains("UTF-8"));
    }

    #[test]
    fn file_errors() {
        assert!(matches!(read(&b""[..], &utc(), now()), Err(FileError::Empty)));
        assert!(matches!(
            read(&b"Name,Email\n"[..], &utc(), now()),
            Err(FileError::NoRows)
        ));
        assert!(matches!(
            read(&b"Name,Mail\nA,a@example.com\n"[..], &utc(), now()),
            Err(FileError::NoEmailColumn(_))
        ));
    }
}
