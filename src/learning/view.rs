//! A student's view of a program: which modules are open (drip), what is done, where to resume,
//! and the numbers for the progress bar. Plain functions over the catalogue and a few ids.

use jiff::tz::TimeZone;
use serde::Serialize;
use time::{Duration, OffsetDateTime};

use crate::catalog::store::SyllabusRow;

/// When a module opens for a student who enrolled at `enrolled_at`: `None` when it is open from
/// the start. A fixed date that has passed is open to everyone, however late they enrolled.
pub fn opens_at(row: &SyllabusRow, enrolled_at: OffsetDateTime, tz: &TimeZone) -> Option<OffsetDateTime> {
    if let Some(days) = row.unlock_after_days {
        return Some(enrolled_at + Duration::days(days));
    }
    let date: jiff::civil::Date = row.unlock_on.as_deref()?.parse().ok()?;
    let zoned = date.to_zoned(tz.clone()).ok()?;
    OffsetDateTime::from_unix_timestamp(zoned.timestamp().as_second()).ok()
}

#[derive(Serialize, Debug, Clone)]
pub struct LessonState {
    pub slug: String,
    pub title: String,
    pub duration_minutes: i64,
    pub done: bool,
}

#[derive(Serialize, Debug, Clone)]
pub struct ModuleState {
    pub number: usize,
    pub slug: String,
    pub title: String,
    pub open: bool,
    /// For a locked module: when it opens, in the site's time zone.
    pub opens: Option<String>,
    pub lessons: Vec<LessonState>,
}

#[derive(Serialize, Debug, Clone)]
pub struct Progress {
    pub modules: Vec<ModuleState>,
    /// Lessons done, of those available now.
    pub done: usize,
    pub available: usize,
    pub total: usize,
    pub percent: usize,
    /// Where "Continue" goes.
    pub resume: Option<String>,
    pub finished: bool,
}

/// A student's numbers in a program, without the syllabus: what the dashboard shows, and what
/// [`progress`] builds on.
#[derive(Debug)]
pub struct Counts<'a> {
    /// Lessons done, of those available now.
    pub done: usize,
    pub available: usize,
    pub total: usize,
    pub percent: usize,
    /// Where "Continue" goes.
    pub resume: Option<&'a SyllabusRow>,
    pub finished: bool,
    /// Row by row of the syllabus: its module is open now.
    pub open: Vec<bool>,
}

/// The numbers. `rows` is the program's syllabus in order; `completed` the lesson ids done;
/// `last` the lesson opened last.
pub fn counts<'a>(
    rows: &'a [SyllabusRow],
    completed: &[i64],
    last: Option<i64>,
    enrolled_at: OffsetDateTime,
    now: OffsetDateTime,
    tz: &TimeZone,
) -> Counts<'a> {
    let mut open: Vec<bool> = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        let first_of_module = i == 0 || rows[i - 1].module_slug != row.module_slug;
        let is_open = if first_of_module {
            opens_at(row, enrolled_at, tz).is_none_or(|t| now >= t)
        } else {
            open[i - 1]
        };
        open.push(is_open);
    }
    let open_rows: Vec<&SyllabusRow> = rows.iter().zip(&open).filter(|(_, o)| **o).map(|(r, _)| r).collect();
    let done = rows.iter().filter(|r| completed.contains(&r.lesson_id)).count();
    let available = open_rows.len();
    let is_done = |r: &&SyllabusRow| completed.contains(&r.lesson_id);
    // Resume: the lesson opened last if it is not finished; else the next unfinished one after it;
    // else the first unfinished one; else where they were.
    let last_pos = last.and_then(|id| open_rows.iter().position(|r| r.lesson_id == id));
    let resume = match last_pos {
        Some(i) if !is_done(&open_rows[i]) => Some(open_rows[i]),
        Some(i) => open_rows[i..].iter().find(|r| !is_done(r)).copied(),
        None => None,
    }
    .or_else(|| open_rows.iter().find(|r| !is_done(r)).copied())
    .or_else(|| last_pos.map(|i| open_rows[i]))
    .or_else(|| open_rows.first().copied());
    Counts {
        percent: (done.min(available) * 100).checked_div(available).unwrap_or(0),
        finished: !rows.is_empty() && done == rows.len(),
        total: rows.len(),
        done,
        available,
        resume,
        open,
    }
}

/// Builds the view: [`counts`], and the syllabus module by module.
pub fn progress(
    rows: &[SyllabusRow],
    completed: &[i64],
    last: Option<i64>,
    enrolled_at: OffsetDateTime,
    now: OffsetDateTime,
    tz: &TimeZone,
) -> Progress {
    let counts = counts(rows, completed, last, enrolled_at, now, tz);
    let mut modules: Vec<ModuleState> = Vec::new();
    for (row, &open) in rows.iter().zip(&counts.open) {
        if modules.last().map(|m| m.slug.as_str()) != Some(row.module_slug.as_str()) {
            modules.push(ModuleState {
                number: modules.len() + 1,
                slug: row.module_slug.clone(),
                title: row.module_title.clone(),
                open,
                opens: (!open)
                    .then(|| opens_at(row, enrolled_at, tz).map(|t| crate::local_time::format_local(t, tz)))
                    .flatten(),
                lessons: Vec::new(),
            });
        }
        if let Some(m) = modules.last_mut() {
            m.lessons.push(LessonState {
                slug: row.lesson_slug.clone(),
                title: row.lesson_title.clone(),
                duration_minutes: row.duration_minutes,
                done: completed.contains(&row.lesson_id),
            });
        }
    }
    Progress {
        percent: counts.percent,
        finished: counts.finished,
        total: counts.total,
        done: counts.done,
        available: counts.available,
        resume: counts.resume.map(|r| r.lesson_slug.clone()),
        modules,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn row(module: &str, lesson: i64, days: Option<i64>, on: Option<&str>) -> SyllabusRow {
        SyllabusRow {
            course_id: 1,
            module_id: module.len() as i64,
            module_slug: module.into(),
            module_title: module.into(),
            module_summary: String::new(),
            lesson_id: lesson,
            lesson_slug: format!("l{lesson}"),
            lesson_title: format!("Lesson {lesson}"),
            duration_minutes: 5,
            free_preview: false,
            unlock_after_days: days,
            unlock_on: on.map(str::to_owned),
        }
    }

    #[test]
    fn drip_and_resume() {
        let tz = crate::local_time::zone("America/Chicago").unwrap();
        let enrolled = datetime!(2026-12-01 12:00 UTC);
        let rows = vec![
            row("a", 1, None, None),
            row("a", 2, None, None),
            row("bb", 3, Some(7), None),
            row("ccc", 4, None, Some("2026-11-01")),
        ];
        // Day one: module bb locked; the fixed date has passed (enrolled late: no penalty).
        let p = progress(&rows, &[], None, enrolled, enrolled, &tz);
        assert_eq!((p.done, p.available, p.total), (0, 3, 4));
        assert!(!p.modules[1].open);
        assert!(p.modules[1].opens.as_deref().unwrap().contains("8 December 2026"));
        assert!(p.modules[2].open);
        assert_eq!(p.resume.as_deref(), Some("l1"));
        // Lesson 1 done, lesson 2 opened last and unfinished: resume there.
        let p = progress(&rows, &[1], Some(2), enrolled, enrolled, &tz);
        assert_eq!(p.resume.as_deref(), Some("l2"));
        assert_eq!(p.percent, 33);
        // Lesson 2 done too: the next unfinished open one (4; 3 is still locked).
        let p = progress(&rows, &[1, 2], Some(2), enrolled, enrolled, &tz);
        assert_eq!(p.resume.as_deref(), Some("l4"));
        // A week on, module bb opens.
        let later = enrolled + Duration::days(7);
        let p = progress(&rows, &[1, 2, 4], Some(4), enrolled, later, &tz);
        assert_eq!(p.available, 4);
        assert_eq!(p.resume.as_deref(), Some("l3"));
        let p = progress(&rows, &[1, 2, 3, 4], Some(3), enrolled, later, &tz);
        assert!(p.finished);
        assert_eq!(p.percent, 100);
        assert_eq!(p.resume.as_deref(), Some("l3"));
    }

    #[test]
    fn a_fixed_date_opens_at_midnight_in_the_site_zone() {
        let tz = crate::local_time::zone("America/Chicago").unwrap();
        let r = row("x", 1, None, Some("2027-01-15"));
        let at = opens_at(&r, datetime!(2026-12-01 0:00 UTC), &tz).unwrap();
        assert_eq!(at, datetime!(2027-01-15 06:00 UTC));
    }
}
