//! Shapes the catalogue's rows into what templates show: plain functions, tested without HTTP.

use serde::Serialize;

use super::store::SyllabusRow;

#[derive(Serialize, Debug)]
pub struct ModuleView {
    pub number: usize,
    pub slug: String,
    pub title: String,
    pub summary: String,
    pub minutes: i64,
    pub lessons: Vec<LessonItem>,
}

#[derive(Serialize, Debug, Clone)]
pub struct LessonItem {
    pub slug: String,
    pub title: String,
    pub duration_minutes: i64,
    pub free_preview: bool,
}

/// Groups the syllabus rows (ordered by module, then lesson) into modules.
pub fn modules(rows: &[SyllabusRow]) -> Vec<ModuleView> {
    let mut modules: Vec<ModuleView> = Vec::new();
    for row in rows {
        if modules.last().map(|m| m.slug.as_str()) != Some(row.module_slug.as_str()) {
            modules.push(ModuleView {
                number: modules.len() + 1,
                slug: row.module_slug.clone(),
                title: row.module_title.clone(),
                summary: row.module_summary.clone(),
                minutes: 0,
                lessons: Vec::new(),
            });
        }
        if let Some(module) = modules.last_mut() {
            module.minutes += row.duration_minutes;
            module.lessons.push(LessonItem {
                slug: row.lesson_slug.clone(),
                title: row.lesson_title.clone(),
                duration_minutes: row.duration_minutes,
                free_preview: row.free_preview,
            });
        }
    }
    modules
}

/// The lessons before and after `slug` in syllabus order.
pub fn neighbours(rows: &[SyllabusRow], slug: &str) -> (Option<LessonItem>, Option<LessonItem>) {
    let item = |r: &SyllabusRow| LessonItem {
        slug: r.lesson_slug.clone(),
        title: r.lesson_title.clone(),
        duration_minutes: r.duration_minutes,
        free_preview: r.free_preview,
    };
    match rows.iter().position(|r| r.lesson_slug == slug) {
        Some(i) => (i.checked_sub(1).map(|p| item(&rows[p])), rows.get(i + 1).map(item)),
        None => (None, None),
    }
}

/// An embeddable player URL for the video hosts we know; others get a plain link.
pub fn video_embed(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    let host = parsed.host_str()?.trim_start_matches("www.").trim_start_matches("m.");
    let id_ok = |id: &str| {
        !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    };
    match host {
        "youtube.com" | "youtube-nocookie.com" => {
            let id = if parsed.path() == "/watch" {
                parsed
                    .query_pairs()
                    .find(|(k, _)| k == "v")
                    .map(|(_, v)| v.into_owned())?
            } else {
                parsed.path().strip_prefix("/embed/")?.to_owned()
            };
            id_ok(&id).then(|| format!("https://www.youtube-nocookie.com/embed/{id}"))
        }
        "youtu.be" => {
            let id = parsed.path().trim_start_matches('/');
            id_ok(id).then(|| format!("https://www.youtube-nocookie.com/embed/{id}"))
        }
        "vimeo.com" | "player.vimeo.com" => {
            let id = parsed.path().rsplit('/').next()?;
            (!id.is_empty() && id.chars().all(|c| c.is_ascii_digit()))
                .then(|| format!("https://player.vimeo.com/video/{id}"))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(module: &str, lesson: &str) -> SyllabusRow {
        SyllabusRow {
            course_id: 1,
            module_id: 1,
            module_slug: module.into(),
            module_title: module.to_uppercase(),
            module_summary: String::new(),
            lesson_id: 1,
            lesson_slug: lesson.into(),
            lesson_title: lesson.into(),
            duration_minutes: 5,
            free_preview: false,
            unlock_after_days: None,
            unlock_on: None,
        }
    }

    #[test]
    fn groups_and_neighbours() {
        let rows = vec![row("a", "a1"), row("a", "a2"), row("b", "b1")];
        let m = modules(&rows);
        assert_eq!(m.len(), 2);
        assert_eq!((m[0].lessons.len(), m[0].minutes, m[1].number), (2, 10, 2));
        let (prev, next) = neighbours(&rows, "a2");
        assert_eq!(
            (prev.unwrap().slug, next.unwrap().slug),
            ("a1".to_string(), "b1".to_string())
        );
        assert!(neighbours(&rows, "a1").0.is_none());
        assert!(neighbours(&rows, "b1").1.is_none());
    }

    #[test]
    fn video_hosts() {
        assert_eq!(
            video_embed("https://www.youtube.com/watch?v=abc_12-3").as_deref(),
            Some("https://www.youtube-nocookie.com/embed/abc_12-3")
        );
        assert_eq!(
            video_embed("https://youtu.be/xyz").as_deref(),
            Some("https://www.youtube-nocookie.com/embed/xyz")
        );
        assert_eq!(
            video_embed("https://vimeo.com/12345").as_deref(),
            Some("https://player.vimeo.com/video/12345")
        );
        assert_eq!(video_embed("https://youtu.be/x\"onload=1"), None);
        assert_eq!(video_embed("https://example.com/v.mp4"), None);
    }
}
