//! The files' shapes: what site.toml, course.toml, module.toml and front matter deserialize into.

use super::*;

// ---- the files' shapes ------------------------------------------------------------------------
// Read by the import and written by the export (field order is the order in the written files).

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SiteFile {
    pub name: String,
    pub tagline: String,
    #[serde(default)]
    pub about: String,
    pub contact_email: String,
    #[serde(default)]
    pub address: String,
    pub currency: String,
    pub time_zone: String,
    pub bundle_price_cents: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice: Option<String>,
    pub instructor: InstructorFile,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub early_bird: Option<EarlyBirdFile>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bundle_plan: Vec<crate::payments::plans::Plan>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct InstructorFile {
    pub name: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub bio: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EarlyBirdFile {
    pub percent: i64,
    pub days: i64,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CourseFile {
    pub title: String,
    pub promise: String,
    pub price_cents: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<i64>,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub who_for: Vec<String>,
    #[serde(default)]
    pub not_for: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub faq: Vec<FaqFile>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plan: Vec<crate::payments::plans::Plan>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FaqFile {
    pub q: String,
    pub a: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ModuleFile {
    pub title: String,
    #[serde(default)]
    pub summary: String,
    /// Drip: the module opens this many days after the student enrolled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unlock_after_days: Option<i64>,
    /// Drip: the module opens on this date (YYYY-MM-DD, in the site's time zone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unlock_on: Option<String>,
    /// `draft` or `published` (the default), read only when the module is first created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// "Pass to complete": the module's last lesson cannot be marked complete before its
    /// knowledge check (`quiz.toml`, required then) is passed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub quiz_required: bool,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LessonFrontMatter {
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_minutes: Option<i64>,
    #[serde(default)]
    pub free_preview: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video_url: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub downloads: Vec<DownloadFile>,
}

/// The front matter of `glossary.md` (title only) and of a worksheet.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PageFrontMatter {
    pub title: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub summary: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub public: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csv: Option<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DownloadFile {
    pub title: String,
    pub file: String,
}

pub const DEFAULT_NOTICE: &str = "This program is education, not medical advice. It does not diagnose or treat any condition \
and is no substitute for care from your own doctor. If you have symptoms that worry you, please see a clinician.";

pub(super) const MAX_TITLE: usize = 200;
pub(super) const MAX_LESSON_BYTES: u64 = 512 * 1024;
