//! What the check-in pages show, built from definitions and entries: the tables of entries (with
//! archived fields), the patterns (charts with tables and markers), counts and streaks, the CSV.

use std::collections::BTreeMap;

use jiff::civil::Date;
use serde::Serialize;
use serde_json::{Map, Value};

use super::chart;
use super::definition::FieldKind;
use super::store::{Definition, Entry};
use super::values;

/// A column of an entries table: a field, current or archived.
#[derive(Serialize, Debug, Clone)]
pub struct Column {
    pub id: String,
    pub label: String,
    pub archived: bool,
}

#[derive(Serialize, Debug, Clone)]
pub struct Row {
    pub id: i64,
    pub date: String,
    pub cells: Vec<String>,
}

/// One check-in's entries as a table.
#[derive(Serialize, Debug, Clone)]
pub struct Table {
    pub slug: String,
    pub title: String,
    pub archived: bool,
    pub columns: Vec<Column>,
    pub rows: Vec<Row>,
}

/// The columns for a check-in's entries: its fields, then the archived fields (or unknown keys)
/// any of these entries holds a value for. Nothing stored is left out.
fn columns(def: &Definition, answers: &[Map<String, Value>]) -> Vec<Column> {
    let mut cols: Vec<Column> = def
        .fields
        .iter()
        .map(|f| Column {
            id: f.id.clone(),
            label: f.label.clone(),
            archived: false,
        })
        .collect();
    for a in answers {
        for key in a.keys() {
            if cols.iter().any(|c| &c.id == key) {
                continue;
            }
            let label = def
                .archived_fields
                .iter()
                .find(|f| &f.id == key)
                .map_or_else(|| key.clone(), |f| f.label.clone());
            cols.push(Column {
                id: key.clone(),
                label,
                archived: true,
            });
        }
    }
    cols
}

fn cell(def: &Definition, id: &str, answers: &Map<String, Value>) -> String {
    answers
        .get(id)
        .map(|v| values::display(def.field(id).map(|(f, _)| f), v))
        .unwrap_or_default()
}

/// Tables of a program's entries, one per check-in that has any (archived check-ins too).
pub fn tables(defs: &[Definition], entries: &[Entry]) -> sqlx::Result<Vec<Table>> {
    let mut out = Vec::new();
    for def in defs {
        let mine: Vec<&Entry> = entries.iter().filter(|e| e.checkin_id == def.id).collect();
        if mine.is_empty() {
            continue;
        }
        let answers: Vec<Map<String, Value>> = mine.iter().map(|e| e.answers()).collect::<sqlx::Result<_>>()?;
        let cols = columns(def, &answers);
        let mut rows: Vec<Row> = mine
            .iter()
            .zip(&answers)
            .map(|(e, a)| Row {
                id: e.id,
                date: e.entry_date.clone(),
                cells: cols.iter().map(|c| cell(def, &c.id, a)).collect(),
            })
            .collect();
        rows.reverse(); // newest first
        out.push(Table {
            slug: def.slug.clone(),
            title: def.title.clone(),
            archived: def.archived,
            columns: cols,
            rows,
        });
    }
    Ok(out)
}

/// Days logged, in the last 30 days and in a row up to today (or yesterday, when today is not
/// logged yet). `days` is newest first.
#[derive(Serialize, Debug, Clone)]
pub struct Counts {
    pub last_30: usize,
    pub streak: usize,
}

pub fn counts(days: &[String], today: Date) -> Counts {
    let parsed: Vec<Date> = days.iter().filter_map(|d| d.parse().ok()).collect();
    let since = today.checked_sub(jiff::Span::new().days(29)).unwrap_or(today);
    let last_30 = parsed.iter().filter(|d| **d >= since && **d <= today).count();
    let mut streak = 0;
    let mut expect = if parsed.first() == Some(&today) {
        today
    } else {
        today.yesterday().unwrap_or(today)
    };
    for d in parsed.iter().filter(|d| **d <= today) {
        if *d == expect {
            streak += 1;
            expect = expect.yesterday().unwrap_or(expect);
        } else {
            break;
        }
    }
    Counts { last_30, streak }
}

// ---- patterns --------------------------------------------------------------------------------------

#[derive(Serialize, Debug, Clone)]
pub struct ChartRow {
    pub date: String,
    pub value: String,
    pub changed: String,
}

#[derive(Serialize, Debug, Clone)]
pub struct ChartView {
    pub dom_id: String,
    pub label: String,
    pub scale: String,
    pub svg: String,
    pub rows: Vec<ChartRow>,
}

#[derive(Serialize, Debug, Clone)]
pub struct CheckinPatterns {
    pub slug: String,
    pub title: String,
    pub charts: Vec<ChartView>,
}

#[derive(Serialize, Debug, Clone)]
pub struct Patterns {
    pub days: i64,
    pub start: String,
    pub end: String,
    pub checkins: Vec<CheckinPatterns>,
    /// Every "what changed" note in the window, by day (the markers).
    pub changes: Vec<ChartRow>,
}

/// The windows a patterns page offers.
pub const WINDOWS: [i64; 3] = [7, 30, 90];

pub fn window_start(today: Date, days: i64) -> Date {
    today.checked_sub(jiff::Span::new().days(days - 1)).unwrap_or(today)
}

/// Charts per numeric field (scale, Bristol) of each check-in over `days` days ending `today`,
/// with the markers of the whole program (every field marked as "what changed", such as a note or
/// the food being reintroduced) lined up on each.
pub fn patterns(defs: &[Definition], entries: &[Entry], today: Date, days: i64) -> sqlx::Result<Patterns> {
    let start = window_start(today, days);
    let index = |d: &str| -> Option<i64> {
        let date: Date = d.parse().ok()?;
        let i = (date - start).get_days() as i64;
        (0..days).contains(&i).then_some(i)
    };
    let mut parsed: Vec<(&Entry, i64, Map<String, Value>)> = Vec::new();
    for e in entries {
        if let Some(i) = index(&e.entry_date) {
            parsed.push((e, i, e.answers()?));
        }
    }
    // What changed, per day: "Food tested: garlic".
    let mut by_day: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for (e, i, a) in &parsed {
        let Some(def) = defs.iter().find(|d| d.id == e.checkin_id) else {
            continue;
        };
        for (key, v) in a {
            if let Some((field, _)) = def.field(key).filter(|(f, _)| f.marker) {
                let text = values::display(Some(field), v);
                if !text.is_empty() {
                    by_day.entry(*i).or_default().push(format!("{}: {text}", field.label));
                }
            }
        }
    }
    let markers: Vec<(i64, String)> = by_day.iter().map(|(i, v)| (*i, v.join("; "))).collect();
    let day_of = |i: i64| {
        start
            .checked_add(jiff::Span::new().days(i))
            .map(|d| d.to_string())
            .unwrap_or_default()
    };
    let mut checkins = Vec::new();
    for def in defs.iter().filter(|d| !d.archived) {
        let mut charts = Vec::new();
        for field in &def.fields {
            let Some(range) = field.kind.numeric_range() else {
                continue;
            };
            let mut points: Vec<(i64, i64)> = parsed
                .iter()
                .filter(|(e, ..)| e.checkin_id == def.id)
                .filter_map(|(_, i, a)| a.get(&field.id).and_then(|v| values::number(field, v)).map(|n| (*i, n)))
                .collect();
            points.sort();
            let scale = match &field.kind {
                FieldKind::Scale { low, high, .. } => format!("0 = {low}, 10 = {high}"),
                _ => "Bristol type 1 (hard lumps) to 7 (watery)".to_owned(),
            };
            let dom_id = format!("chart-{}-{}", def.slug, field.id);
            let description = if points.is_empty() {
                format!("No entries in the last {days} days.")
            } else {
                let lo = points.iter().map(|p| p.1).min().unwrap_or(0);
                let hi = points.iter().map(|p| p.1).max().unwrap_or(0);
                format!(
                    "{} entries in the last {days} days, from {lo} to {hi} ({scale}). The table after the chart lists them.",
                    points.len()
                )
            };
            let svg = chart::svg(&chart::Spec {
                dom_id: &dom_id,
                title: &format!("{}: last {days} days", field.label),
                description: &description,
                start,
                days,
                range,
                points: &points,
                markers: &markers,
            });
            let rows = points
                .iter()
                .map(|(i, v)| ChartRow {
                    date: day_of(*i),
                    value: v.to_string(),
                    changed: by_day.get(i).map(|c| c.join("; ")).unwrap_or_default(),
                })
                .collect();
            charts.push(ChartView {
                dom_id,
                label: field.label.clone(),
                scale,
                svg,
                rows,
            });
        }
        if !charts.is_empty() {
            checkins.push(CheckinPatterns {
                slug: def.slug.clone(),
                title: def.title.clone(),
                charts,
            });
        }
    }
    Ok(Patterns {
        days,
        start: start.to_string(),
        end: today.to_string(),
        checkins,
        changes: by_day
            .into_iter()
            .map(|(i, c)| ChartRow {
                date: day_of(i),
                value: String::new(),
                changed: c.join("; "),
            })
            .collect(),
    })
}

// ---- the CSV ----------------------------------------------------------------------------------------

/// Every entry of a program as CSV rows: Date, Check-in, then one column per field of every
/// check-in ("Check-in: label"; archived fields say so). Oldest first.
pub fn csv(defs: &[Definition], entries: &[Entry]) -> anyhow::Result<String> {
    let mut header: Vec<String> = vec!["Date".to_owned(), "Check-in".to_owned()];
    let mut cols: Vec<(i64, String)> = Vec::new();
    let mut all_answers = Vec::new();
    for e in entries {
        all_answers.push(e.answers()?);
    }
    for def in defs {
        let answers: Vec<Map<String, Value>> = entries
            .iter()
            .zip(&all_answers)
            .filter(|(e, _)| e.checkin_id == def.id)
            .map(|(_, a)| a.clone())
            .collect();
        if answers.is_empty() && def.archived {
            continue;
        }
        for c in columns(def, &answers) {
            let suffix = if c.archived { " (archived field)" } else { "" };
            header.push(format!("{}: {}{suffix}", def.title, c.label));
            cols.push((def.id, c.id));
        }
    }
    let rows = entries.iter().zip(&all_answers).map(|(e, a)| {
        let def = defs.iter().find(|d| d.id == e.checkin_id);
        let mut row = vec![e.entry_date.clone(), def.map(|d| d.title.clone()).unwrap_or_default()];
        for (checkin, id) in &cols {
            row.push(match def {
                Some(d) if d.id == *checkin => cell(d, id, a),
                _ => String::new(),
            });
        }
        row
    });
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    crate::admin::csv::document(&header, rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streaks_count_back_from_today_or_yesterday() {
        let today: Date = "2026-03-10".parse().unwrap();
        let days = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let c = counts(&days(&["2026-03-10", "2026-03-09", "2026-03-07"]), today);
        assert_eq!((c.last_30, c.streak), (3, 2));
        let c = counts(&days(&["2026-03-09", "2026-03-08", "2026-01-01"]), today);
        assert_eq!((c.last_30, c.streak), (2, 2));
        assert_eq!(counts(&days(&["2026-03-05"]), today).streak, 0);
    }
}
