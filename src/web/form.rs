//! Form bodies: decoded by axum-extra's [`Form`] (serde_html_form underneath, so a repeated field
//! such as a FAQ row, a payment plan's row or a ticked program collects into a `Vec`) into the
//! handler's own struct. A body that does not decode, or is not a form, is a 4xx before the handler
//! runs. Text fields that are stored go through [`text`] / [`texts`].

use serde::{Deserialize, Deserializer};

pub use axum_extra::extract::Form;

/// A text field as it is stored: NUL removed (never meaningful in text, and PostgreSQL refuses it)
/// and Windows line ends made plain. `#[serde(deserialize_with = "text")]`.
pub fn text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(clean(&String::deserialize(d)?))
}

/// [`text`] for a repeated field.
pub fn texts<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Vec::<String>::deserialize(d)?.iter().map(|s| clean(s)).collect())
}

/// What [`text`] does, for a field read another way (an `Option`).
pub fn clean(s: &str) -> String {
    s.replace('\0', "").replace("\r\n", "\n")
}

/// Decodes a body that may or may not be a form (a mail client's one-click unsubscribe posts
/// whatever it likes): the fields found, or their defaults.
pub fn lenient<T: serde::de::DeserializeOwned + Default>(body: &[u8]) -> T {
    serde_html_form::from_bytes(body).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize, Default, Debug)]
    #[serde(default)]
    struct Sample {
        #[serde(deserialize_with = "text")]
        title: String,
        #[serde(rename = "row", deserialize_with = "texts")]
        rows: Vec<String>,
    }

    #[test]
    fn repeated_fields_collect_and_text_is_cleaned() {
        let s: Sample = serde_html_form::from_bytes(b"title=a%00b%0D%0Ac&row=1&row=&row=3&other=x").unwrap();
        assert_eq!(s.title, "ab\nc");
        assert_eq!(s.rows, ["1", "", "3"]);
        let one: Sample = serde_html_form::from_bytes(b"row=only").unwrap();
        assert_eq!(one.rows, ["only"]);
        assert!(one.title.is_empty());
    }

    #[test]
    fn a_body_that_is_not_a_form_gives_defaults() {
        let s: Sample = lenient(b"\xff\xfe garbage=%%%");
        assert!(s.title.is_empty());
    }
}
