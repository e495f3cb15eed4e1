//! A program's check-ins as `checkins.toml` declares them (see `course_content/FORMAT.md`), checked
//! when the content is read: the field kinds are a closed set, and there is deliberately none for
//! calories or body weight.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::domain::Slug;

/// The longest a short-text field may be allowed to be, and its default bound.
pub const TEXT_MAX: usize = 500;
pub const TEXT_DEFAULT: usize = 200;

/// One check-in: what the student fills in, and the module that introduces it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckinSource {
    pub id: String,
    pub title: String,
    pub introduced_in: String,
    pub description: String,
    pub fields: Vec<Field>,
}

/// A field of a check-in. Values are stored keyed by `id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Field {
    pub id: String,
    pub label: String,
    #[serde(default)]
    pub optional: bool,
    /// Shown as a marker ("what changed") on the charts of the program's check-ins.
    #[serde(default)]
    pub marker: bool,
    #[serde(flatten)]
    pub kind: FieldKind,
}

/// The closed set of field kinds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FieldKind {
    /// A whole number 0–10 with anchor words for its ends (and optionally its middle).
    Scale {
        low: String,
        #[serde(default)]
        mid: Option<String>,
        high: String,
    },
    /// One of a few options, stored as the option's text.
    Choice { options: Vec<String> },
    /// The Bristol stool scale, 1–7.
    Bristol,
    /// Yes or no.
    YesNo,
    /// A time of day, HH:MM (24-hour).
    TimeOfDay,
    /// One line of text, at most `max_length` characters.
    Text { max_length: usize },
}

impl FieldKind {
    pub const NAMES: &'static str = "scale, choice, bristol, yes_no, time_of_day, text";

    pub fn name(&self) -> &'static str {
        match self {
            FieldKind::Scale { .. } => "scale",
            FieldKind::Choice { .. } => "choice",
            FieldKind::Bristol => "bristol",
            FieldKind::YesNo => "yes_no",
            FieldKind::TimeOfDay => "time_of_day",
            FieldKind::Text { .. } => "text",
        }
    }

    /// The range of a field drawn as a chart (numbers), if it is one.
    pub fn numeric_range(&self) -> Option<(i64, i64)> {
        match self {
            FieldKind::Scale { .. } => Some((0, 10)),
            FieldKind::Bristol => Some((1, 7)),
            _ => None,
        }
    }
}

/// The Bristol stool scale's seven types, in words.
pub const BRISTOL: [&str; 7] = [
    "Type 1: separate hard lumps",
    "Type 2: lumpy and sausage-shaped",
    "Type 3: sausage-shaped with cracks",
    "Type 4: smooth and soft, like a sausage or snake",
    "Type 5: soft blobs with clear-cut edges",
    "Type 6: fluffy, mushy pieces with ragged edges",
    "Type 7: watery, no solid pieces",
];

// ---- the file ----------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRoot {
    #[serde(default)]
    checkin: Vec<FileCheckin>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileCheckin {
    id: String,
    title: String,
    introduced_in: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    field: Vec<FileField>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileField {
    id: String,
    kind: String,
    label: String,
    #[serde(default)]
    optional: bool,
    marker: Option<bool>,
    low: Option<String>,
    mid: Option<String>,
    high: Option<String>,
    options: Option<Vec<String>>,
    max_length: Option<usize>,
}

/// The same shape, written back by the content export.
#[derive(Serialize)]
struct OutRoot<'a> {
    checkin: Vec<OutCheckin<'a>>,
}

#[derive(Serialize)]
struct OutCheckin<'a> {
    id: &'a str,
    title: &'a str,
    introduced_in: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    description: &'a str,
    field: Vec<OutField<'a>>,
}

#[derive(Serialize)]
struct OutField<'a> {
    id: &'a str,
    kind: &'static str,
    label: &'a str,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    optional: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    marker: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    low: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    high: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    options: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_length: Option<usize>,
}

/// Reads a `checkins.toml`. `modules` are the program's module slugs (`introduced_in` must name one).
/// The error is one line, for the import to show with the file's path.
pub fn parse(text: &str, modules: &[&str]) -> Result<Vec<CheckinSource>, String> {
    let root: FileRoot = toml::from_str(text).map_err(|e| e.to_string())?;
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for c in root.checkin {
        let id = Slug::parse(&c.id).map_err(|r| format!("check-in id {r}"))?.into_inner();
        if !seen.insert(id.clone()) {
            return Err(format!("check-in '{id}' is declared twice"));
        }
        let title = c.title.trim().to_owned();
        if title.is_empty() {
            return Err(format!("check-in '{id}' needs a title"));
        }
        if !modules.contains(&c.introduced_in.as_str()) {
            return Err(format!(
                "check-in '{id}': introduced_in = '{}' is not a module of this program (use a module folder's name without its number)",
                c.introduced_in
            ));
        }
        if c.field.is_empty() {
            return Err(format!("check-in '{id}' has no fields"));
        }
        let mut field_ids = HashSet::new();
        let mut fields = Vec::new();
        for f in c.field {
            let field = field_from_file(f).map_err(|r| format!("check-in '{id}': {r}"))?;
            if !field_ids.insert(field.id.clone()) {
                return Err(format!("check-in '{id}': field '{}' is declared twice", field.id));
            }
            fields.push(field);
        }
        out.push(CheckinSource {
            id,
            title,
            introduced_in: c.introduced_in,
            description: c.description.trim().to_owned(),
            fields,
        });
    }
    Ok(out)
}

fn field_from_file(f: FileField) -> Result<Field, String> {
    let id = Slug::parse(&f.id).map_err(|r| format!("field id {r}"))?.into_inner();
    if id == "date" {
        return Err("a field may not be called 'date' (the entry's date has its own place)".to_owned());
    }
    let label = f.label.trim().to_owned();
    if label.is_empty() {
        return Err(format!("field '{id}' needs a label"));
    }
    let anchor = |name: &str, v: &Option<String>| -> Result<String, String> {
        match v.as_deref().map(str::trim) {
            Some(t) if !t.is_empty() => Ok(t.to_owned()),
            _ => Err(format!(
                "scale field '{id}' needs a {name} anchor (the words for its end)"
            )),
        }
    };
    let kind = match f.kind.as_str() {
        "scale" => FieldKind::Scale {
            low: anchor("low", &f.low)?,
            mid: f.mid.as_deref().map(|m| m.trim().to_owned()).filter(|m| !m.is_empty()),
            high: anchor("high", &f.high)?,
        },
        "choice" => {
            let options: Vec<String> = f
                .options
                .clone()
                .unwrap_or_default()
                .into_iter()
                .map(|o| o.trim().to_owned())
                .collect();
            if options.len() < 2 || options.len() > 12 {
                return Err(format!("choice field '{id}' needs 2 to 12 options"));
            }
            if options.iter().any(String::is_empty) || options.iter().collect::<HashSet<_>>().len() != options.len() {
                return Err(format!("choice field '{id}' has an empty or repeated option"));
            }
            FieldKind::Choice { options }
        }
        "bristol" => FieldKind::Bristol,
        "yes_no" => FieldKind::YesNo,
        "time_of_day" => FieldKind::TimeOfDay,
        "text" => {
            let max = f.max_length.unwrap_or(TEXT_DEFAULT);
            if !(1..=TEXT_MAX).contains(&max) {
                return Err(format!("text field '{id}': max_length must be 1 to {TEXT_MAX}"));
            }
            FieldKind::Text { max_length: max }
        }
        other => {
            return Err(format!(
                "field '{id}' has kind '{other}', which is not a check-in field kind ({}). There is deliberately no kind for calories or body weight.",
                FieldKind::NAMES
            ));
        }
    };
    let wrong_extra = match &kind {
        FieldKind::Scale { .. } => f.options.is_some() || f.max_length.is_some(),
        FieldKind::Choice { .. } => f.low.is_some() || f.mid.is_some() || f.high.is_some() || f.max_length.is_some(),
        FieldKind::Text { .. } => f.low.is_some() || f.mid.is_some() || f.high.is_some() || f.options.is_some(),
        _ => f.low.is_some() || f.mid.is_some() || f.high.is_some() || f.options.is_some() || f.max_length.is_some(),
    };
    if wrong_extra {
        return Err(format!(
            "field '{id}' ({}) has a setting that belongs to another kind",
            kind.name()
        ));
    }
    // Text is a marker by default ("what I changed today"); other kinds when asked.
    let marker = f.marker.unwrap_or(matches!(kind, FieldKind::Text { .. }));
    Ok(Field {
        id,
        label,
        optional: f.optional,
        marker,
        kind,
    })
}

/// Writes check-ins back as `checkins.toml` (the content export); parsing it gives them back.
pub fn to_toml(checkins: &[CheckinSource]) -> Result<String, String> {
    let root = OutRoot {
        checkin: checkins
            .iter()
            .map(|c| OutCheckin {
                id: &c.id,
                title: &c.title,
                introduced_in: &c.introduced_in,
                description: &c.description,
                field: c
                    .fields
                    .iter()
                    .map(|f| {
                        let default_marker = matches!(f.kind, FieldKind::Text { .. });
                        let mut out = OutField {
                            id: &f.id,
                            kind: f.kind.name(),
                            label: &f.label,
                            optional: f.optional,
                            marker: (f.marker != default_marker).then_some(f.marker),
                            low: None,
                            mid: None,
                            high: None,
                            options: None,
                            max_length: None,
                        };
                        match &f.kind {
                            FieldKind::Scale { low, mid, high } => {
                                out.low = Some(low);
                                out.mid = mid.as_deref();
                                out.high = Some(high);
                            }
                            FieldKind::Choice { options } => out.options = Some(options),
                            FieldKind::Text { max_length } if *max_length != TEXT_DEFAULT => {
                                out.max_length = Some(*max_length)
                            }
                            _ => {}
                        }
                        out
                    })
                    .collect(),
            })
            .collect(),
    };
    toml::to_string(&root).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[[checkin]]
id = "daily"
title = "Daily"
introduced_in = "start"
[[checkin.field]]
id = "bloating"
kind = "scale"
label = "Bloating"
low = "None"
high = "Worst"
[[checkin.field]]
id = "note"
kind = "text"
label = "Note"
optional = true
"#;

    #[test]
    fn reads_and_writes_back() {
        let parsed = parse(GOOD, &["start"]).unwrap();
        assert_eq!(parsed[0].fields.len(), 2);
        assert!(parsed[0].fields[1].marker);
        let again = parse(&to_toml(&parsed).unwrap(), &["start"]).unwrap();
        assert_eq!(parsed, again);
    }

    #[test]
    fn refuses_calories_weight_and_unknown_modules() {
        for kind in ["calories", "weight", "number"] {
            let text = GOOD.replace("kind = \"scale\"", &format!("kind = \"{kind}\""));
            let err = parse(&text, &["start"]).unwrap_err();
            assert!(err.contains(&format!("kind '{kind}'")), "{err}");
        }
        assert!(parse(GOOD, &["other"]).unwrap_err().contains("introduced_in"));
        assert!(parse(&GOOD.replace("high = \"Worst\"\n", ""), &["start"]).is_err());
    }
}
