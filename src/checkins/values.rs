//! An entry's answers: read from a form against the check-in's fields (all or nothing), and shown
//! back as text.

use jiff::civil::Date;
use serde_json::{Map, Value};

use super::definition::{BRISTOL, Field, FieldKind};

/// What was wrong with a submitted entry, for the form to show beside the field (`field: None`:
/// the date, or something that belongs to no field).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Problem {
    pub field: Option<String>,
    pub message: String,
}

impl Problem {
    fn on(field: &str, message: String) -> Problem {
        Problem {
            field: Some(field.to_owned()),
            message,
        }
    }
}

/// Reads the form's pairs: `date` and one value per field id. Unknown names, repeated names,
/// out-of-range or malformed values and missing required answers are all refused together.
pub fn read(
    fields: &[Field],
    pairs: &[(String, String)],
    today: Date,
) -> Result<(Date, Map<String, Value>), Vec<Problem>> {
    let mut problems = Vec::new();
    let mut date = None;
    let mut answers = Map::new();
    let mut seen: Vec<&str> = Vec::new();
    for (name, raw) in pairs {
        if seen.contains(&name.as_str()) {
            problems.push(Problem {
                field: None,
                message: format!("'{}' was sent twice.", short(name)),
            });
            continue;
        }
        seen.push(name);
        if name == "date" {
            match raw.trim().parse::<Date>() {
                Ok(d) if d > today => problems.push(Problem::on(
                    "date",
                    "The date is in the future; choose today or an earlier day.".to_owned(),
                )),
                Ok(d) if d.year() < 2000 => {
                    problems.push(Problem::on("date", "Choose a date from 2000 onwards.".to_owned()))
                }
                Ok(d) => date = Some(d),
                Err(_) => problems.push(Problem::on(
                    "date",
                    "The date must look like 2026-03-31 (year, month, day).".to_owned(),
                )),
            }
            continue;
        }
        let Some(field) = fields.iter().find(|f| f.id == *name) else {
            problems.push(Problem {
                field: None,
                message: format!("'{}' is not a field of this check-in.", short(name)),
            });
            continue;
        };
        let raw = raw.trim();
        if raw.is_empty() {
            continue;
        }
        match value_of(field, raw) {
            Ok(v) => {
                answers.insert(field.id.clone(), v);
            }
            Err(message) => problems.push(Problem::on(&field.id, message)),
        }
    }
    for field in fields {
        if !field.optional
            && !answers.contains_key(&field.id)
            && !problems.iter().any(|p| p.field.as_deref() == Some(&field.id))
        {
            problems.push(Problem::on(&field.id, format!("Please answer “{}”.", field.label)));
        }
    }
    if answers.is_empty() && problems.is_empty() {
        problems.push(Problem {
            field: None,
            message: "Answer at least one question.".to_owned(),
        });
    }
    match date {
        Some(d) if problems.is_empty() => Ok((d, answers)),
        None if problems.is_empty() => Ok((today, answers)),
        _ => Err(problems),
    }
}

/// A name from the form, cut short for a message.
fn short(name: &str) -> String {
    name.chars().take(40).collect()
}

fn value_of(field: &Field, raw: &str) -> Result<Value, String> {
    let whole = |lo: i64, hi: i64| -> Result<Value, String> {
        match raw.parse::<i64>() {
            Ok(n) if (lo..=hi).contains(&n) => Ok(Value::from(n)),
            _ => Err(format!("“{}” must be a whole number from {lo} to {hi}.", field.label)),
        }
    };
    match &field.kind {
        FieldKind::Scale { .. } => whole(0, 10),
        FieldKind::Bristol => whole(1, 7),
        FieldKind::YesNo => match raw {
            "yes" => Ok(Value::Bool(true)),
            "no" => Ok(Value::Bool(false)),
            _ => Err(format!("“{}” must be yes or no.", field.label)),
        },
        FieldKind::Choice { options } => options
            .iter()
            .find(|o| o.as_str() == raw)
            .map(|o| Value::from(o.as_str()))
            .ok_or_else(|| format!("“{}” must be one of the options shown.", field.label)),
        FieldKind::TimeOfDay => {
            let ok = raw.len() == 5
                && raw.as_bytes()[2] == b':'
                && raw[..2].parse::<u8>().is_ok_and(|h| h < 24)
                && raw[3..].parse::<u8>().is_ok_and(|m| m < 60)
                && raw.bytes().enumerate().all(|(i, b)| i == 2 || b.is_ascii_digit());
            if ok {
                Ok(Value::from(raw))
            } else {
                Err(format!("“{}” must be a time like 13:30 (24-hour).", field.label))
            }
        }
        FieldKind::Text { max_length } => {
            let line: String = raw
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect::<String>()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            if line.chars().count() > *max_length {
                Err(format!("“{}” is longer than {max_length} characters.", field.label))
            } else {
                Ok(Value::from(line))
            }
        }
    }
}

/// A stored value as the form's input value (what a radio button or box is set to).
pub fn input_value(value: &Value) -> String {
    match value {
        Value::Bool(true) => "yes".to_owned(),
        Value::Bool(false) => "no".to_owned(),
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A stored value as a person reads it; `field` is `None` for a value whose field is unknown.
pub fn display(field: Option<&Field>, value: &Value) -> String {
    match (field.map(|f| &f.kind), value) {
        (_, Value::Bool(true)) => "Yes".to_owned(),
        (_, Value::Bool(false)) => "No".to_owned(),
        (Some(FieldKind::Bristol), Value::Number(n)) => n
            .as_i64()
            .and_then(|i| BRISTOL.get((i - 1) as usize).map(|_| format!("Type {i}")))
            .unwrap_or_else(|| n.to_string()),
        _ => input_value(value),
    }
}

/// A stored value as a number to chart, when it is one in the field's range.
pub fn number(field: &Field, value: &Value) -> Option<i64> {
    let (lo, hi) = field.kind.numeric_range()?;
    value.as_i64().filter(|n| (lo..=hi).contains(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> Vec<Field> {
        let text = r#"
[[checkin]]
id = "d"
title = "D"
introduced_in = "m"
[[checkin.field]]
id = "pain"
kind = "scale"
label = "Pain"
low = "None"
high = "Worst"
[[checkin.field]]
id = "when"
kind = "time_of_day"
label = "When"
optional = true
[[checkin.field]]
id = "note"
kind = "text"
label = "Note"
optional = true
max_length = 5
"#;
        super::super::definition::parse(text, &["m"]).unwrap().remove(0).fields
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    #[test]
    fn reads_good_values_and_refuses_bad_ones() {
        let today: Date = "2026-03-10".parse().unwrap();
        let (d, a) = read(
            &fields(),
            &pairs(&[("pain", "3"), ("when", "07:05"), ("note", " a\nb ")]),
            today,
        )
        .unwrap();
        assert_eq!(d, today);
        assert_eq!(a["pain"], 3);
        assert_eq!(a["note"], "a b");
        for bad in [
            vec![("pain", "11")],
            vec![("pain", "2.5")],
            vec![("pain", "-1")],
            vec![("pain", "3"), ("when", "25:00")],
            vec![("pain", "3"), ("note", "toolong")],
            vec![("pain", "3"), ("weight", "80")],
            vec![("pain", "3"), ("date", "2026-03-11")],
            vec![("pain", "3"), ("date", "10/03/2026")],
            vec![("when", "07:00")],
        ] {
            assert!(read(&fields(), &pairs(&bad), today).is_err(), "{bad:?}");
        }
    }
}
