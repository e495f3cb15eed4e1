//! Reads the real `course_content/` with plain TOML and string handling (not the importer under
//! test), so tests can check that what the files say is what users see.

use std::path::{Path, PathBuf};

use super::repo_path;

pub struct ProgramFiles {
    pub slug: String,
    pub course: toml::Table,
    pub modules: Vec<ModuleFiles>,
}

pub struct ModuleFiles {
    pub title: String,
    pub lessons: Vec<LessonFile>,
}

pub struct LessonFile {
    pub path: PathBuf,
    pub slug: String,
    pub title: String,
    pub free_preview: bool,
    pub body: String,
}

pub fn site() -> toml::Table {
    toml::from_str(&std::fs::read_to_string(repo_path("course_content/site.toml")).unwrap()).unwrap()
}

fn sorted_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    v.sort();
    v
}

fn strip_number(name: &str) -> Option<String> {
    let (num, rest) = name.split_once('-')?;
    num.chars().all(|c| c.is_ascii_digit()).then(|| rest.to_owned())
}

pub fn programs() -> Vec<ProgramFiles> {
    let root = repo_path("course_content");
    let mut programs = Vec::new();
    for dir in sorted_dirs(&root)
        .into_iter()
        .filter(|p| p.join("course.toml").is_file())
    {
        let course: toml::Table = toml::from_str(&std::fs::read_to_string(dir.join("course.toml")).unwrap()).unwrap();
        let mut modules = Vec::new();
        for mdir in sorted_dirs(&dir)
            .into_iter()
            .filter(|p| p.join("module.toml").is_file())
        {
            let m: toml::Table = toml::from_str(&std::fs::read_to_string(mdir.join("module.toml")).unwrap()).unwrap();
            let mut lessons = Vec::new();
            for path in sorted_dirs(&mdir)
                .into_iter()
                .filter(|p| p.extension().is_some_and(|e| e == "md"))
            {
                let text = std::fs::read_to_string(&path).unwrap();
                let rest = text.strip_prefix("+++\n").expect("front matter");
                let (front, body) = rest.split_once("\n+++\n").expect("front matter end");
                let fm: toml::Table = toml::from_str(front).unwrap();
                let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
                lessons.push(LessonFile {
                    slug: strip_number(&stem).unwrap(),
                    title: fm["title"].as_str().unwrap().to_owned(),
                    free_preview: fm.get("free_preview").and_then(|v| v.as_bool()).unwrap_or(false),
                    body: body.to_owned(),
                    path,
                });
            }
            modules.push(ModuleFiles {
                title: m["title"].as_str().unwrap().to_owned(),
                lessons,
            });
        }
        programs.push(ProgramFiles {
            slug: dir.file_name().unwrap().to_string_lossy().into_owned(),
            course,
            modules,
        });
    }
    programs
}

impl ProgramFiles {
    pub fn str(&self, key: &str) -> &str {
        self.course[key].as_str().unwrap()
    }

    pub fn lessons(&self) -> impl Iterator<Item = &LessonFile> {
        self.modules.iter().flat_map(|m| m.lessons.iter())
    }
}

/// A sentence from the middle of a lesson's prose: text that must not leak from a locked lesson.
pub fn distinctive_sentence(body: &str) -> String {
    body.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('|'))
        .flat_map(|l| l.split(['.', '?', '!', ':', ';', '(', ')', '"', '*']))
        .map(str::trim)
        .find(|s| s.split_whitespace().count() >= 7 && s.chars().all(|c| c.is_alphanumeric() || c == ' ' || c == ','))
        .unwrap_or_default()
        .to_owned()
}
