//! Templates: compiled once (embedded in the release binary; reloaded from disk when changed in
//! debug builds), with the filters and functions every page uses.

use std::sync::Arc;

use minijinja::value::Value;
use minijinja::{Environment, Error, ErrorKind, TemplateSource};
use rust_embed::RustEmbed;

use super::Assets;

#[derive(RustEmbed)]
#[folder = "templates/"]
struct TemplateFiles;

pub struct Templates {
    env: Environment<'static>,
    assets: Arc<Assets>,
}

impl Templates {
    pub fn new(assets: Arc<Assets>) -> Templates {
        let mut env = Environment::new();
        env.set_loader(load_template);
        env.set_auto_reload(cfg!(debug_assertions));
        // Release builds keep template context (personal data) out of error messages and logs.
        env.set_debug(cfg!(debug_assertions));
        let for_templates = assets.clone();
        env.add_function("static_url", move |path: &str| for_templates.url(path));
        env.add_filter("money", money);
        env.add_filter("minutes", minutes);
        env.add_filter("local_time", |t: &str, tz: &str| {
            local(t, tz, crate::local_time::format_local)
        });
        env.add_filter("local_date", |t: &str, tz: &str| {
            local(t, tz, crate::local_time::format_local_date)
        });
        Templates { env, assets }
    }

    /// Changes when a template changes: the newest template file's modification time in debug
    /// builds (which reload templates from disk), a constant in release builds (embedded).
    pub fn generation(&self) -> u128 {
        if cfg!(debug_assertions) {
            newest_mtime(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates"))
        } else {
            0
        }
    }

    pub fn assets(&self) -> Arc<Assets> {
        self.assets.clone()
    }

    pub fn render(&self, name: &str, ctx: Value) -> Result<String, Error> {
        self.env.get_template(name)?.render(ctx)
    }
}

fn load_template(name: &str) -> Result<Option<TemplateSource>, Error> {
    let Some(file) = TemplateFiles::get(name) else {
        return Ok(None);
    };
    let text = String::from_utf8(file.data.into_owned())
        .map_err(|_| Error::new(ErrorKind::InvalidOperation, "template is not UTF-8"))?;
    let source = TemplateSource::new(text);
    if cfg!(debug_assertions) {
        // Debug builds read templates from disk: reload one when its file changes.
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("templates")
            .join(name);
        let loaded = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
        return Ok(Some(source.with_uptodate_check(move || {
            std::fs::metadata(&path).and_then(|m| m.modified()).ok() == loaded
        })));
    }
    Ok(Some(source))
}

fn newest_mtime(dir: &std::path::Path) -> u128 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .filter_map(Result::ok)
        .map(|e| {
            let path = e.path();
            if path.is_dir() {
                newest_mtime(&path)
            } else {
                e.metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_nanos())
            }
        })
        .max()
        .unwrap_or(0)
}

/// `{{ cents | money(currency) }}`: 19700 → "$197", 19750 → "$197.50".
pub fn money(cents: i64, currency: &str) -> String {
    let symbol = match currency {
        "USD" => "$",
        "EUR" => "€",
        "GBP" => "£",
        "CAD" => "CA$",
        "AUD" => "A$",
        _ => "",
    };
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.unsigned_abs();
    let (whole, frac) = (cents / 100, cents % 100);
    let mut digits = whole.to_string();
    let mut grouped = String::new();
    while digits.len() > 3 {
        let tail = digits.split_off(digits.len() - 3);
        grouped = format!(",{tail}{grouped}");
    }
    let amount = if frac == 0 {
        format!("{digits}{grouped}")
    } else {
        format!("{digits}{grouped}.{frac:02}")
    };
    if symbol.is_empty() {
        format!("{sign}{amount} {currency}")
    } else {
        format!("{sign}{symbol}{amount}")
    }
}

/// `{{ rfc3339 | local_time(site.time_zone) }}`: a UTC time from the database, for people, in the
/// site's time zone. Anything unparseable is shown as it is.
fn local(t: &str, tz: &str, format: fn(time::OffsetDateTime, &jiff::tz::TimeZone) -> String) -> String {
    let parsed = time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339);
    match (parsed, crate::local_time::zone(tz)) {
        (Ok(t), Ok(tz)) => format(t, &tz),
        _ => t.to_owned(),
    }
}

/// `{{ m | minutes }}`: 12 → "12 min", 125 → "2 h 5 min".
pub fn minutes(m: i64) -> String {
    match (m / 60, m % 60) {
        (0, m) => format!("{m} min"),
        (h, 0) => format!("{h} h"),
        (h, m) => format!("{h} h {m} min"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_formats() {
        assert_eq!(money(19700, "USD"), "$197");
        assert_eq!(money(19750, "USD"), "$197.50");
        assert_eq!(money(123456789, "EUR"), "€1,234,567.89");
        assert_eq!(money(500, "CHF"), "5 CHF");
        assert_eq!(money(-5, "USD"), "-$0.05");
    }

    #[test]
    fn minutes_format() {
        assert_eq!(minutes(12), "12 min");
        assert_eq!(minutes(120), "2 h");
        assert_eq!(minutes(125), "2 h 5 min");
    }
}
