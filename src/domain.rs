//! Small value types parsed at the edge, so an invalid value cannot travel inward.

use std::fmt;

/// A URL slug: 1–64 characters of lowercase ASCII letters, digits and single hyphens.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Slug(String);

impl Slug {
    pub fn parse(text: &str) -> Result<Slug, String> {
        let ok_chars = text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if text.is_empty() || text.len() > 64 {
            Err(format!("'{text}' must be 1 to 64 characters"))
        } else if !ok_chars || text.starts_with('-') || text.ends_with('-') || text.contains("--") {
            Err(format!(
                "'{text}' may hold only lowercase letters, digits and single hyphens"
            ))
        } else {
            Ok(Slug(text.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a program is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CourseStatus {
    /// Invisible to visitors.
    Draft,
    /// "Coming soon": visitors can pre-enroll.
    Preenrollment,
    /// Students can enroll and pay.
    Open,
    /// Enrolled students keep access; nobody new can enroll.
    Closed,
}

impl CourseStatus {
    pub fn parse(text: &str) -> Option<CourseStatus> {
        Some(match text {
            "draft" => CourseStatus::Draft,
            "preenrollment" => CourseStatus::Preenrollment,
            "open" => CourseStatus::Open,
            "closed" => CourseStatus::Closed,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CourseStatus::Draft => "draft",
            CourseStatus::Preenrollment => "preenrollment",
            CourseStatus::Open => "open",
            CourseStatus::Closed => "closed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert!(Slug::parse("gut-foundations").is_ok());
        assert!(Slug::parse("a1").is_ok());
        for bad in ["", "Gut", "a--b", "-a", "a-", "a b", "a/b", "ä", &"a".repeat(65)] {
            assert!(Slug::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn statuses_round_trip() {
        for s in ["draft", "preenrollment", "open", "closed"] {
            assert_eq!(CourseStatus::parse(s).unwrap().as_str(), s);
        }
        assert_eq!(CourseStatus::parse("OPEN"), None);
    }
}
