//! Reading a program folder: course.toml, module folders, lessons, pages, quizzes, check-ins.

use super::*;

// ---- reading a program folder -----------------------------------------------------------------

pub(super) fn load_program(dir: &Path) -> Result<ProgramSource, ContentError> {
    let slug = match Slug::parse(&file_name(dir)) {
        Ok(slug) => slug.into_inner(),
        Err(reason) => return fail(dir, format!("the folder name is the program's URL slug: {reason}")),
    };
    let course_path = dir.join("course.toml");
    if !course_path.is_file() {
        return fail(&course_path, "is missing (every program folder needs one)");
    }
    let file: CourseFile = parse_toml(&course_path, &read_text(&course_path)?)?;
    let mut program = program_from_file(&course_path, slug, &file)?;

    // First pass: find every module folder and lesson file, so links between lessons can be checked.
    let mut module_dirs = Vec::new();
    let mut seen_module_numbers = HashMap::new();
    let mut seen_module_slugs = HashSet::new();
    for path in sorted_entries(dir)? {
        if !path.is_dir() {
            continue;
        }
        let name = file_name(&path);
        let Some((number, module_slug)) = numbered(&name) else {
            continue; // e.g. downloads/
        };
        let module_slug = Slug::parse(module_slug).or_else(|r| fail(&path, format!("bad module folder name: {r}")))?;
        if let Some(other) = seen_module_numbers.insert(number, name.clone()) {
            return fail(&path, format!("has the same number as module folder '{other}'"));
        }
        if !seen_module_slugs.insert(module_slug.as_str().to_owned()) {
            return fail(&path, format!("duplicate module slug '{module_slug}'"));
        }
        module_dirs.push((number, module_slug.into_inner(), path));
    }
    module_dirs.sort_by_key(|(n, _, _)| *n);

    let mut lesson_files: Vec<(usize, u32, String, PathBuf)> = Vec::new();
    let mut lesson_slugs: HashMap<String, PathBuf> = HashMap::new();
    for (module_index, (_, _, module_dir)) in module_dirs.iter().enumerate() {
        let mut numbers = HashMap::new();
        for path in sorted_entries(module_dir)? {
            let name = file_name(&path);
            if path.is_dir() || !name.ends_with(".md") {
                continue;
            }
            let stem = &name[..name.len() - 3];
            let Some((number, lesson_slug)) = numbered(stem) else {
                return fail(
                    &path,
                    "lesson files are named NN-slug.md (e.g. 01-meet-your-microbiome.md)",
                );
            };
            let lesson_slug =
                Slug::parse(lesson_slug).or_else(|r| fail(&path, format!("bad lesson file name: {r}")))?;
            if let Some(other) = numbers.insert(number, name.clone()) {
                return fail(&path, format!("has the same number as lesson '{other}'"));
            }
            if let Some(other) = lesson_slugs.insert(lesson_slug.as_str().to_owned(), path.clone()) {
                return fail(
                    &path,
                    format!(
                        "duplicate lesson slug '{lesson_slug}' (also used by {})",
                        other.display()
                    ),
                );
            }
            lesson_files.push((module_index, number, lesson_slug.into_inner(), path));
        }
    }
    lesson_files.sort_by_key(|(m, n, _, _)| (*m, *n));
    let canonical_dir = dir
        .canonicalize()
        .or_else(|e| fail(dir, format!("cannot be read: {e}")))?;
    // Where each lesson's file is in the program folder (`01-start/02-basics.md`): relative links
    // are resolved against these, so the import and the export agree on what a link names.
    let lesson_paths: HashMap<String, String> = lesson_files
        .iter()
        .map(|(m, _, slug, path)| {
            (
                format!("{}/{}", file_name(&module_dirs[*m].2), file_name(path)),
                slug.clone(),
            )
        })
        .collect();

    // The glossary and the worksheets: read first, so every file's links to them can be checked.
    let glossary_path = dir.join(GLOSSARY_FILE);
    let glossary = if glossary_path.is_file() {
        let (fm, body) = read_page(&glossary_path)?;
        Some((fm, body))
    } else {
        None
    };
    let mut worksheets = Vec::new();
    let worksheets_dir = dir.join(WORKSHEETS_DIR);
    if worksheets_dir.is_dir() {
        for path in sorted_entries(&worksheets_dir)? {
            let name = file_name(&path);
            let Some(stem) = name.strip_suffix(".md") else {
                continue; // only Markdown files are worksheets
            };
            if path.is_dir() {
                continue;
            }
            let ws_name = Slug::parse(stem).or_else(|r| {
                fail(
                    &path,
                    format!("a worksheet's file name is its web address (lowercase, digits and '-'): {r}"),
                )
            })?;
            let (fm, body) = read_page(&path)?;
            worksheets.push((ws_name.into_inner(), path, fm, body));
        }
    }
    let links = markdown::ProgramLinks {
        program_slug: program.slug.clone(),
        lessons: lesson_paths.values().cloned().collect(),
        glossary: glossary.as_ref().map(|(_, body)| markdown::heading_anchors(body)),
        worksheets: worksheets.iter().map(|(name, ..)| name.clone()).collect(),
    };
    let files = ProgramFolder {
        dir: &canonical_dir,
        lesson_paths: &lesson_paths,
        links: &links,
    };
    if let Some((fm, body)) = &glossary {
        program.pages.push(page_from_file(
            &glossary_path,
            PageKind::Glossary,
            "glossary",
            fm,
            body,
            |_| Ok(()),
            files.resolver(""),
        )?);
    }
    for (name, path, fm, body) in &worksheets {
        program.pages.push(page_from_file(
            path,
            PageKind::Worksheet,
            name,
            fm,
            body,
            |file| files.file_bytes(file).map(|_| ()),
            files.resolver(WORKSHEETS_DIR),
        )?);
    }

    // Second pass: parse and render.
    for (module_index, (_, module_slug, module_dir)) in module_dirs.iter().enumerate() {
        let module_path = module_dir.join("module.toml");
        if !module_path.is_file() {
            return fail(&module_path, "is missing (every module folder needs one, with a title)");
        }
        let mfile: ModuleFile = parse_toml(&module_path, &read_text(&module_path)?)?;
        let mut module = module_from_file(&module_path, module_slug.clone(), program.modules.len() as i64, &mfile)?;
        let dir_name = file_name(module_dir);
        for (_, _, lesson_slug, path) in lesson_files.iter().filter(|(m, ..)| *m == module_index) {
            let place = LessonPlace {
                module_slug,
                slug: lesson_slug,
                position: module.lessons.len() as i64,
            };
            module.lessons.push(load_lesson(path, &place, &files, &dir_name)?);
        }
        module.quiz = load_quiz(&module_dir.join(QUIZ_FILE), mfile.quiz_required)?;
        program.modules.push(module);
    }

    let checkins_path = dir.join(CHECKINS_FILE);
    if checkins_path.is_file() {
        let module_slugs: Vec<&str> = module_dirs.iter().map(|(_, slug, _)| slug.as_str()).collect();
        program.checkins = crate::checkins::definition::parse(&read_text(&checkins_path)?, &module_slugs)
            .or_else(|reason| fail(&checkins_path, reason))?;
    }
    Ok(program)
}

/// A module's `quiz.toml` (none when the file is absent), checked.
pub(super) fn load_quiz(path: &Path, required: bool) -> Result<Option<crate::quiz::Quiz>, ContentError> {
    if !path.is_file() {
        if required {
            let module_toml = path.with_file_name("module.toml");
            return fail(
                &module_toml,
                "sets 'quiz_required = true' but the module has no quiz.toml",
            );
        }
        return Ok(None);
    }
    let file: crate::quiz::QuizFile = parse_toml(path, &read_text(path)?)?;
    crate::quiz::check(&file).or_else(|reason| fail(path, reason))?;
    Ok(Some(crate::quiz::Quiz {
        required,
        questions: file.questions,
    }))
}

/// What a program's files need to know about the folder they are in: where it is (downloads),
/// where its lessons are (relative links), and what links may name.
pub(super) struct ProgramFolder<'a> {
    pub(super) dir: &'a Path,
    pub(super) lesson_paths: &'a HashMap<String, String>,
    pub(super) links: &'a markdown::ProgramLinks,
}

impl ProgramFolder<'_> {
    /// The size of a file of the program (a download, a worksheet's CSV), or why it cannot be offered.
    fn file_bytes(&self, file: &str) -> Result<u64, String> {
        match self.dir.join(file).canonicalize() {
            Ok(canon) if canon.starts_with(self.dir) && canon.is_file() => std::fs::metadata(&canon)
                .map(|m| m.len())
                .map_err(|e| format!("cannot be read: {e}")),
            _ => Err("does not exist in the program folder".to_owned()),
        }
    }

    /// Resolves the relative links of a file in `from_dir` (a module folder, `worksheets`, or `""`
    /// for the program folder) by where their targets are in the program folder.
    fn resolver<'s>(&'s self, from_dir: &'s str) -> impl FnMut(&str) -> Result<String, String> + 's {
        move |dest| {
            let (file_part, fragment) = match dest.split_once('#') {
                Some((f, frag)) => (f, Some(frag)),
                None => (dest, None),
            };
            let place = markdown::place_in_program(from_dir, file_part).unwrap_or_default();
            let target = if place == GLOSSARY_FILE {
                markdown::LinkTarget::Glossary { fragment }
            } else if let Some(name) = place
                .strip_prefix("worksheets/")
                .and_then(|f| f.strip_suffix(".md"))
                .filter(|n| !n.is_empty() && !n.contains('/'))
            {
                markdown::LinkTarget::Worksheet { name, fragment }
            } else {
                match self.lesson_paths.get(&place) {
                    Some(slug) => markdown::LinkTarget::Lesson { slug, fragment },
                    None => {
                        return Err(format!(
                            "broken relative link '{dest}': no lesson file of this program is there"
                        ));
                    }
                }
            };
            self.links.url(dest, target)
        }
    }
}

/// The front matter and body of the glossary or a worksheet.
pub(super) fn read_page(path: &Path) -> Result<(PageFrontMatter, String), ContentError> {
    let text = read_text(path)?;
    let Some((front, body)) = split_front_matter(&text) else {
        return fail(
            path,
            "has no front matter (the file must start with a '+++' line, then TOML with a title, then '+++')",
        );
    };
    Ok((parse_toml(path, front)?, body.to_owned()))
}

/// Splits `+++\nTOML\n+++\nMarkdown` into its two parts.
pub(crate) fn split_front_matter(text: &str) -> Option<(&str, &str)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let rest = text.strip_prefix("+++\n").or_else(|| text.strip_prefix("+++\r\n"))?;
    let mut offset = 0;
    for line in rest.split_inclusive('\n') {
        if line.trim_end() == "+++" {
            return Some((&rest[..offset], &rest[offset + line.len()..]));
        }
        offset += line.len();
    }
    None
}

pub(super) fn load_lesson(
    path: &Path,
    place: &LessonPlace<'_>,
    files: &ProgramFolder<'_>,
    module_dir: &str,
) -> Result<LessonSource, ContentError> {
    let text = read_text(path)?;
    let Some((front, body)) = split_front_matter(&text) else {
        return fail(
            path,
            "has no front matter (the file must start with a '+++' line, then TOML, then '+++')",
        );
    };
    let fm: LessonFrontMatter = parse_toml(path, front)?;
    lesson_from_file(
        path,
        place,
        &fm,
        body,
        |file| files.file_bytes(file),
        files.resolver(module_dir),
    )
}

/// A relative path with no `..`, root or prefix, written with forward slashes.
pub(crate) fn safe_relative(file: &str) -> Option<String> {
    let path = Path::new(file);
    let mut parts = Vec::new();
    for component in path.components() {
        match component {
            Component::Normal(p) => parts.push(p.to_str()?.to_owned()),
            Component::CurDir => {}
            _ => return None,
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}
