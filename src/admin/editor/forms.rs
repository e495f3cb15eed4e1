//! The checks every studio editor shares: titles, web addresses, prices, one-item-per-line lists.
//! (Bodies decode with `web::form::Form` into each editor's own struct.)

use crate::domain::Slug;

pub const MAX_TITLE: usize = 200;

/// A title: trimmed, required, at most [`MAX_TITLE`] characters, no control characters.
pub fn title(text: &str, what: &str) -> Result<String, String> {
    let t = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if t.is_empty() {
        Err(format!("Give the {what} a title."))
    } else if t.chars().any(char::is_control) {
        Err("Remove the invisible control characters from the title.".to_owned())
    } else if t.chars().count() > MAX_TITLE {
        Err(format!("Keep the title under {MAX_TITLE} characters."))
    } else {
        Ok(t)
    }
}

/// A slug typed by the instructor, or made from the title when left empty.
pub fn slug_from(text: &str, title: &str) -> Result<String, String> {
    let source = if text.trim().is_empty() { title } else { text.trim() };
    let made = if text.trim().is_empty() {
        slugify(source)
    } else {
        source.to_owned()
    };
    Slug::parse(&made)
        .map(Slug::into_inner)
        .map_err(|e| format!("The web address {e}."))
}

pub fn slugify(text: &str) -> String {
    let mut out = String::new();
    for c in text.to_lowercase().chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
        if out.len() >= 60 {
            break;
        }
    }
    out.trim_end_matches('-').to_owned()
}

/// "197", "197.5", "197.50" or "1,197.00" to minor units.
pub fn parse_price(text: &str) -> Result<i64, String> {
    let t: String = text.trim().chars().filter(|c| *c != ',' && *c != ' ').collect();
    let bad = || "Enter the price as a number, like 197 or 197.50.".to_owned();
    if t.is_empty() {
        return Err("Enter a price (0 for free).".to_owned());
    }
    let (whole, frac) = t.split_once('.').unwrap_or((&t, ""));
    if whole.is_empty() || !whole.chars().all(|c| c.is_ascii_digit()) || frac.len() > 2 {
        return Err(bad());
    }
    if !frac.chars().all(|c| c.is_ascii_digit()) {
        return Err(bad());
    }
    let whole: i64 = whole.parse().map_err(|_| bad())?;
    if whole > 100_000 {
        return Err("That price is higher than the studio accepts (100,000).".to_owned());
    }
    let frac: i64 = format!("{frac:0<2}").parse().map_err(|_| bad())?;
    Ok(whole * 100 + frac)
}

pub(super) fn price_input(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

pub(super) fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.trim().trim_start_matches(['-', '*']).trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices() {
        assert_eq!(parse_price("197"), Ok(19700));
        assert_eq!(parse_price(" 197.5 "), Ok(19750));
        assert_eq!(parse_price("1,197.05"), Ok(119705));
        assert_eq!(parse_price("0"), Ok(0));
        assert!(parse_price("").is_err());
        assert!(parse_price("-5").is_err());
        assert!(parse_price("1.234").is_err());
        assert!(parse_price("abc").is_err());
        assert!(parse_price("1e5").is_err());
        assert!(parse_price("100001").is_err());
    }

    #[test]
    fn slugs_from_titles() {
        assert_eq!(slugify("Sleep & Your Gut: Part 2!"), "sleep-your-gut-part-2");
        assert_eq!(slug_from("", "  Hello  ").as_deref(), Ok("hello"));
        assert!(slug_from("Bad Slug", "x").is_err());
        assert!(slug_from("", "¿¿").is_err());
    }
}
