//! `learnwell content import`: idempotent, keeps ids, never deletes, refuses bad content whole.

use crate::common;

use std::collections::HashMap;
use std::path::Path;

use common::fixture::{Fixture, lesson};
use common::{Backend, TestApp, files};
use learnwell::content::{self, ExportError, ImportError, ItemKind};
use learnwell::db::Db;
use learnwell::{db_run, tx_run};
use reqwest::StatusCode;
use time::OffsetDateTime;

both_backends!(
    reimport_changes_nothing_and_keeps_ids,
    edits_update_in_place_and_removals_archive,
    status_belongs_to_the_instructor_after_creation,
    a_removed_program_is_archived_not_deleted,
    invalid_content_fails_whole_and_changes_nothing,
    real_content_meets_the_brief,
    markdown_sources_are_stored,
    export_then_import_changes_nothing,
    export_refuses_a_folder_it_would_overwrite,
    rehash_marks_only_what_the_studio_changed,
    studio_edits_export_and_import_back_unchanged,
    import_names_studio_edits_and_overwrites_them_only_when_forced,
    every_kind_of_studio_change_is_named,
    a_module_can_start_as_a_draft,
    the_studio_renders_lessons_as_the_import_does,
    glossary_and_worksheets_are_imported_kept_and_archived,
    links_to_missing_pages_fail_the_import,
    pages_export_and_import_back_unchanged,
);

type LessonRow = (i64, i64, String, String, i64, bool, String, String);

/// Every row the import writes, as text: equal snapshots mean an unchanged database.
async fn snapshot(db: &Db) -> Vec<String> {
    const COURSES: &str = "SELECT id, slug, title, price_cents, status, source_hash FROM courses ORDER BY id";
    const MODULES: &str = "SELECT id, slug, title, position, archived, source_hash FROM modules ORDER BY id";
    const LESSONS: &str =
        "SELECT id, module_id, slug, title, position, archived, source_hash, body_html FROM lessons ORDER BY id";
    let courses: Vec<(i64, String, String, i64, String, String)> =
        db_run!(db, pool => sqlx::query_as(COURSES).fetch_all(pool).await).unwrap();
    let modules: Vec<(i64, String, String, i64, bool, String)> =
        db_run!(db, pool => sqlx::query_as(MODULES).fetch_all(pool).await).unwrap();
    let lessons: Vec<LessonRow> = db_run!(db, pool => sqlx::query_as(LESSONS).fetch_all(pool).await).unwrap();
    let site: Vec<(String, i64)> =
        db_run!(db, pool => sqlx::query_as("SELECT name, bundle_price_cents FROM site").fetch_all(pool).await).unwrap();
    let mut out: Vec<String> = courses.iter().map(|r| format!("{r:?}")).collect();
    out.extend(modules.iter().map(|r| format!("{r:?}")));
    out.extend(lessons.iter().map(|r| format!("{r:?}")));
    out.extend(site.iter().map(|r| format!("{r:?}")));
    out
}

async fn lesson_id(db: &Db, slug: &str) -> i64 {
    db_run!(db, pool => sqlx::query_scalar::<_, i64>("SELECT id FROM lessons WHERE slug = $1").bind(slug).fetch_one(pool).await).unwrap()
}

async fn reimport_changes_nothing_and_keeps_ids(backend: Backend) {
    let fx = Fixture::new();
    let app = TestApp::spawn_with_content(&backend, fx.path()).await;
    let before = snapshot(&app.db).await;
    assert_eq!(before.iter().filter(|r| r.contains("welcome")).count(), 1);
    let report = app.import(fx.path()).await.unwrap();
    assert!(report.is_noop(), "second import changed something:\n{report}");
    assert!(
        report
            .to_string()
            .ends_with("0 added, 0 changed, 0 archived, 11 unchanged"),
        "{report}"
    );
    assert_eq!(snapshot(&app.db).await, before);
}

async fn edits_update_in_place_and_removals_archive(backend: Backend) {
    let fx = Fixture::new();
    let app = TestApp::spawn_with_content(&backend, fx.path()).await;
    let welcome = lesson_id(&app.db, "welcome").await;
    let wrap_up = lesson_id(&app.db, "wrap-up").await;

    fx.write(
        "alpha/01-start/01-welcome.md",
        &lesson("Welcome, revised", true, "A new first paragraph."),
    );
    fx.remove("alpha/02-deeper/02-wrap-up.md");
    fx.write(
        "alpha/02-deeper/03-extra.md",
        &lesson("An extra lesson", false, "Extra."),
    );
    let report = app.import(fx.path()).await.unwrap();
    assert_eq!(report.changed, vec!["lesson alpha/welcome"], "{report}");
    assert_eq!(report.added, vec!["lesson alpha/extra"], "{report}");
    assert_eq!(report.archived, vec!["lesson alpha/wrap-up"], "{report}");

    assert_eq!(lesson_id(&app.db, "welcome").await, welcome, "id kept on edit");
    let page = app.get("/courses/alpha/lessons/welcome").await;
    assert_eq!(page.text("h1"), "Welcome, revised");
    assert!(page.text(".lesson-body").contains("A new first paragraph."));
    // The removed lesson is hidden, not deleted.
    assert_eq!(
        app.get("/courses/alpha/lessons/wrap-up").await.status,
        StatusCode::NOT_FOUND
    );
    assert!(!app.get("/courses/alpha").await.body.contains("Wrapping up"));
    assert_eq!(lesson_id(&app.db, "wrap-up").await, wrap_up);

    // Put back, it returns with the same id.
    fx.write(
        "alpha/02-deeper/02-wrap-up.md",
        &lesson("Wrapping up", false, "The end of alpha."),
    );
    let report = app.import(fx.path()).await.unwrap();
    // It comes back where it was; the extra lesson after it moves down one place.
    assert_eq!(
        report.changed,
        vec!["lesson alpha/extra", "lesson alpha/wrap-up"],
        "{report}"
    );
    assert!(report.added.is_empty(), "{report}");
    assert_eq!(lesson_id(&app.db, "wrap-up").await, wrap_up);
    assert_eq!(
        app.get("/courses/alpha/lessons/wrap-up").await.status,
        StatusCode::FORBIDDEN
    );

    // A whole module removed: archived with its lessons hidden.
    fx.remove("alpha/02-deeper/01-detail.md");
    fx.remove("alpha/02-deeper/02-wrap-up.md");
    fx.remove("alpha/02-deeper/03-extra.md");
    fx.remove("alpha/02-deeper/module.toml");
    std::fs::remove_dir(fx.file("alpha/02-deeper")).unwrap();
    let report = app.import(fx.path()).await.unwrap();
    assert!(report.archived.contains(&"module alpha/deeper".to_string()), "{report}");
    let page = app.get("/courses/alpha").await;
    assert_eq!(page.texts(".syllabus-module").len(), 1);
}

async fn a_removed_program_is_archived_not_deleted(backend: Backend) {
    let fx = Fixture::new();
    let app = TestApp::spawn_with_content(&backend, fx.path()).await;
    let beta_lesson = lesson_id(&app.db, "first").await;
    std::fs::rename(fx.file("beta"), fx.path().join("_beta-away")).unwrap();
    let report = app.import(fx.path()).await.unwrap();
    assert_eq!(report.archived, vec!["program beta"], "{report}");
    assert_eq!(app.get("/courses/beta").await.status, StatusCode::NOT_FOUND);
    assert!(!app.get("/courses").await.body.contains("Beta Program"));
    std::fs::rename(fx.path().join("_beta-away"), fx.file("beta")).unwrap();
    let report = app.import(fx.path()).await.unwrap();
    assert_eq!(report.changed, vec!["program beta"], "{report}");
    assert_eq!(app.get("/courses/beta").await.status, StatusCode::OK);
    assert_eq!(lesson_id(&app.db, "first").await, beta_lesson);
}

async fn status_belongs_to_the_instructor_after_creation(backend: Backend) {
    let fx = Fixture::new();
    let app = TestApp::spawn_with_content(&backend, fx.path()).await;
    assert!(
        app.get("/courses/alpha")
            .await
            .text(".hero .badge")
            .contains("Coming soon")
    );
    db_run!(&app.db, pool => sqlx::query("UPDATE courses SET status = 'open' WHERE slug = 'alpha'").execute(pool).await.map(|_| ())).unwrap();
    fx.write(
        "alpha/course.toml",
        &std::fs::read_to_string(fx.file("alpha/course.toml"))
            .unwrap()
            .replace("Learn the alpha way.", "A new promise."),
    );
    let report = app.import(fx.path()).await.unwrap();
    assert_eq!(report.changed, vec!["program alpha"]);
    let page = app.get("/courses/alpha").await;
    assert_eq!(page.text(".hero .lead"), "A new promise.");
    assert!(
        page.text(".hero .badge").contains("Open"),
        "launch not undone by a re-import"
    );
}

async fn invalid_content_fails_whole_and_changes_nothing(backend: Backend) {
    let fx = Fixture::new();
    let app = TestApp::spawn_with_content(&backend, fx.path()).await;
    let before = snapshot(&app.db).await;
    let good_lesson = lesson("Welcome, edited", true, "Edited.");

    // (file to break, its broken text, what the error must say)
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "alpha/course.toml",
            "title = \"Alpha\"\nprice_cents = [oops".into(),
            "invalid TOML",
        ),
        ("site.toml", "name = \"x\"\n".into(), "invalid TOML"),
        (
            "site.toml",
            common::fixture::SITE.replace("America/Chicago", "Mars/Olympus_Mons"),
            "'time_zone': 'Mars/Olympus_Mons' is not a time zone name",
        ),
        (
            "alpha/01-start/02-basics.md",
            "+++\nduration_minutes = 3\n+++\nNo title.\n".into(),
            "title",
        ),
        (
            "alpha/01-start/02-basics.md",
            "+++\ntitle = \"  \"\n+++\nBlank title.\n".into(),
            "'title' is missing or empty",
        ),
        (
            "alpha/02-deeper/03-welcome.md",
            lesson("Dup", false, "Same slug as 01-welcome."),
            "duplicate lesson slug 'welcome'",
        ),
        (
            "alpha/01-start/02-basics.md",
            "Just markdown, no front matter.\n".into(),
            "has no front matter",
        ),
        (
            "alpha/01-start/02-basics.md",
            lesson("Links", false, "See [gone](../02-deeper/09-nothing.md)."),
            "broken relative link '../02-deeper/09-nothing.md'",
        ),
        (
            "alpha/01-start/02-basics.md",
            lesson("Links", false, "See [beta](../../beta/01-only/01-first.md)."),
            "broken relative link",
        ),
        (
            "alpha/01-start/02-basics.md",
            "+++\ntitle = \"T\"\ncolour = \"red\"\n+++\nx\n".into(),
            "unknown field",
        ),
        (
            "alpha/01-start/02-basics.md",
            "+++\ntitle = \"T\"\n[[downloads]]\ntitle = \"x\"\nfile = \"../../site.toml\"\n+++\nx\n".into(),
            "must be a path inside the program folder",
        ),
        (
            "alpha/01-start/02-basics.md",
            "+++\ntitle = \"T\"\n[[downloads]]\ntitle = \"x\"\nfile = \"downloads/none.pdf\"\n+++\nx\n".into(),
            "does not exist",
        ),
        (
            "alpha/01-start/02-basics.md",
            "+++\ntitle = \"T\"\nvideo_url = \"javascript:alert(1)\"\n+++\nx\n".into(),
            "video_url",
        ),
        (
            "alpha/01-start/02-basics.md",
            lesson("Img", false, "![x](pic.png)"),
            "relative images",
        ),
        (
            "alpha/01-start/Notes.md",
            "notes".into(),
            "lesson files are named NN-slug.md",
        ),
        (
            "Bad Folder/course.toml",
            "title = \"x\"\npromise = \"y\"\nprice_cents = 1\n".into(),
            "slug",
        ),
        ("alpha/01-start/module.toml", "summary = \"no title\"\n".into(), "title"),
        (
            "alpha/course.toml",
            "title = \"Alpha\"\npromise = \"p\"\nprice_cents = -5\n".into(),
            "must not be negative",
        ),
        (
            "alpha/course.toml",
            "title = \"Alpha\"\npromise = \"p\"\nprice_cents = 5\nstatus = \"live\"\n".into(),
            "'status' must be",
        ),
    ];
    for (rel, text, expected) in cases {
        let original = std::fs::read_to_string(fx.file(rel)).ok();
        // A valid edit elsewhere in the same import: it must not land either.
        fx.write("alpha/01-start/01-welcome.md", &good_lesson);
        fx.write(rel, &text);
        let err = match app.import(fx.path()).await {
            Err(ImportError::Content(e)) => e,
            other => panic!("{rel}: expected a content error, got {other:?}"),
        };
        let message = err.to_string();
        assert!(message.contains(expected), "{rel}: '{message}' should say '{expected}'");
        // The error names the offending file (for a bad folder name, the folder).
        let named = if rel.starts_with("Bad Folder") {
            "Bad Folder"
        } else {
            rel
        };
        assert_eq!(err.path, fx.file(named), "{rel}: {message}");
        assert!(message.starts_with(&fx.file(named).display().to_string()), "{message}");
        assert_eq!(snapshot(&app.db).await, before, "{rel}: the database changed");
        match original {
            Some(text) => fx.write(rel, &text),
            None => {
                std::fs::remove_file(fx.file(rel)).unwrap();
                let parent = fx.file(rel).parent().unwrap().to_owned();
                if std::fs::read_dir(&parent).unwrap().next().is_none() {
                    std::fs::remove_dir(parent).unwrap();
                }
            }
        }
    }
    // With everything restored, the valid edit goes through.
    let report = app.import(fx.path()).await.unwrap();
    assert_eq!(report.changed, vec!["lesson alpha/welcome"], "{report}");
}

/// The shipped programs: two, each 5–6 modules of 3–4 lessons of 300–800 words with a weekly
/// action, some free previews, in pre-enrollment, importable.
async fn real_content_meets_the_brief(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    let programs = files::programs();
    assert_eq!(programs.len(), 2);
    for p in &programs {
        assert_eq!(
            p.course.get("status").and_then(|s| s.as_str()),
            Some("preenrollment"),
            "{}",
            p.slug
        );
        // Gut Foundations: first-line care, then bloating/IBS, then elimination, then a closing
        // module with one lesson (issue 16); Skin from Within: six modules.
        assert!(
            (6..=8).contains(&p.modules.len()),
            "{}: {} modules",
            p.slug,
            p.modules.len()
        );
        let mut previews = 0;
        for m in &p.modules {
            assert!(
                (1..=5).contains(&m.lessons.len()),
                "{}/{}: {} lessons",
                p.slug,
                m.title,
                m.lessons.len()
            );
            for l in &m.lessons {
                let words = l.body.split_whitespace().count();
                assert!((300..=800).contains(&words), "{}: {words} words", l.path.display());
                assert!(
                    l.body.contains("## Try this week"),
                    "{}: no weekly action",
                    l.path.display()
                );
                assert!(
                    !l.body.lines().any(|line| line.starts_with("# ")),
                    "{}: has an H1",
                    l.path.display()
                );
                previews += l.free_preview as usize;
            }
        }
        assert!((2..=4).contains(&previews), "{}: {previews} free previews", p.slug);
        let lessons: usize = p.modules.iter().map(|m| m.lessons.len()).sum();
        assert!(lessons >= 22, "{}: {lessons} lessons", p.slug);
        assert!(p.course["faq"].as_array().unwrap().len() >= 5);
    }
    let price = |i: usize| programs[i].course["price_cents"].as_integer().unwrap();
    let bundle = files::site()["bundle_price_cents"].as_integer().unwrap();
    assert!(bundle < price(0) + price(1), "the bundle costs less than both");
    // And it imports cleanly again on top of itself.
    let report = app.import(&common::repo_path("course_content")).await.unwrap();
    assert!(report.is_noop(), "{report}");
}

// ---- the studio and the files ------------------------------------------------------------------

async fn course_id(db: &Db, slug: &str) -> i64 {
    db_run!(db, pool => sqlx::query_scalar::<_, i64>("SELECT id FROM courses WHERE slug = $1").bind(slug).fetch_one(pool).await).unwrap()
}

async fn exec(db: &Db, sql: &str) {
    db_run!(db, pool => sqlx::query(sql).execute(pool).await.map(|_| ())).unwrap()
}

/// Every row the studio has marked as edited: `lesson welcome`, `module start`, `program beta`.
async fn studio_edited(db: &Db) -> Vec<String> {
    const SQL: &str = "SELECT 'program ' || slug FROM courses WHERE studio_edited \
        UNION ALL SELECT 'module ' || slug FROM modules WHERE studio_edited \
        UNION ALL SELECT 'lesson ' || slug FROM lessons WHERE studio_edited";
    let mut rows: Vec<String> = db_run!(db, pool => sqlx::query_scalar(SQL).fetch_all(pool).await).unwrap();
    rows.sort();
    rows
}

async fn audit_rows(db: &Db) -> Vec<(String, String, String, String)> {
    const SQL: &str = "SELECT actor, action, subject, detail FROM audit_log ORDER BY subject";
    db_run!(db, pool => sqlx::query_as(SQL).fetch_all(pool).await).unwrap()
}

/// What the studio does on a save: its own writes, then `rehash`, in one transaction.
async fn studio_write(db: &Db, program: &str, statements: &[&str]) {
    let id = course_id(db, program).await;
    let mut tx = db.begin().await.unwrap();
    for sql in statements {
        tx_run!(&mut tx, conn => sqlx::query(sql).execute(conn).await.map(|_| ())).unwrap();
    }
    content::rehash(&mut tx, id).await.unwrap();
    tx.commit().await.unwrap();
}

/// A lesson body saved in the studio: rendered with `render_lesson_body`, stored, rehashed.
async fn studio_edit_body(db: &Db, program: &str, lesson: &str, md: &str) {
    let id = course_id(db, program).await;
    let links = content::program_links(db, id).await.unwrap();
    let html = content::render_lesson_body(&links, md).unwrap();
    let mut tx = db.begin().await.unwrap();
    tx_run!(&mut tx, conn => sqlx::query(
        "UPDATE lessons SET body_md = $1, body_html = $2, revision = revision + 1 WHERE course_id = $3 AND slug = $4")
        .bind(md).bind(&html).bind(id).bind(lesson).execute(conn).await.map(|_| ()))
    .unwrap();
    content::rehash(&mut tx, id).await.unwrap();
    tx.commit().await.unwrap();
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

async fn markdown_sources_are_stored(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    let (about_md, bio_md): (String, String) = db_run!(&app.db, pool => sqlx::query_as(
        "SELECT about_md, instructor_bio_md FROM site").fetch_one(pool).await)
    .unwrap();
    assert!(about_md.starts_with("Rootwell is a small practice"), "{about_md}");
    assert!(bio_md.starts_with("Maya has spent fifteen years"), "{bio_md}");
    let (description_md, faq, files_dir): (String, String, Option<String>) = db_run!(&app.db, pool => sqlx::query_as(
        "SELECT description_md, faq, files_dir FROM courses WHERE slug = 'gut-foundations'").fetch_one(pool).await)
    .unwrap();
    assert!(
        description_md.starts_with("Gut Foundations is a self-paced"),
        "{description_md}"
    );
    assert_eq!(files_dir.as_deref(), Some("gut-foundations"));
    // The first answer as the file has it (the writers may change its words), and rendered.
    let faq: Vec<serde_json::Value> = serde_json::from_str(&faq).unwrap();
    let in_file = files::programs()[0].course["faq"][0]["a"]
        .as_str()
        .unwrap()
        .trim()
        .to_owned();
    assert_eq!(faq[0]["a"].as_str().unwrap(), in_file, "{faq:?}");
    let first_words: String = in_file.split_whitespace().take(3).collect::<Vec<_>>().join(" ");
    assert!(
        faq[0]["a_html"]
            .as_str()
            .unwrap()
            .starts_with(&format!("<p>{first_words}")),
        "{faq:?}"
    );
    assert!(studio_edited(&app.db).await.is_empty());
}

async fn export_then_import_changes_nothing(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    let out = app.dir.path().join("export");
    let report = content::export(&app.db, &app.config.content_dir, &out).await.unwrap();
    assert!(report.warnings.is_empty(), "{report}");
    assert_eq!((report.programs, report.files), (2, 3), "{report}");

    // The numbering is the files' own, so every lesson's Markdown is written as it was.
    let root = common::repo_path("course_content");
    let programs = files::programs();
    for p in &programs {
        for m in &p.modules {
            for l in &m.lessons {
                let exported = read(&out.join(l.path.strip_prefix(&root).unwrap()));
                assert!(
                    exported.ends_with(&format!("\n+++\n\n{}\n", l.body.trim())),
                    "{}: body not kept",
                    l.path.display()
                );
            }
        }
    }
    // So is every glossary's and worksheet's, and each program has them.
    for p in &programs {
        let mut pages = vec![root.join(&p.slug).join("glossary.md")];
        let mut sheets: Vec<_> = std::fs::read_dir(root.join(&p.slug).join("worksheets"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|f| f.extension().is_some_and(|e| e == "md"))
            .collect();
        assert!(!sheets.is_empty(), "{}: no worksheets", p.slug);
        pages.append(&mut sheets);
        for page in pages {
            let exported = read(&out.join(page.strip_prefix(&root).unwrap()));
            assert!(
                exported.ends_with(&format!("\n+++\n\n{}\n", split_body(&read(&page)))),
                "{}: body not kept",
                page.display()
            );
        }
    }
    assert!(report.pages >= 4, "{report}");
    // Download files are copied next to the lessons that offer them.
    for csv in ["gut-foundations", "skin-from-within"].iter().flat_map(|slug| {
        std::fs::read_dir(root.join(slug).join("downloads"))
            .unwrap()
            .map(|e| e.unwrap().path().strip_prefix(&root).unwrap().to_owned())
            .collect::<Vec<_>>()
    }) {
        assert_eq!(
            std::fs::read(out.join(&csv)).unwrap(),
            std::fs::read(root.join(&csv)).unwrap(),
            "{}",
            csv.display()
        );
    }
    let course: toml::Table = toml::from_str(&read(&out.join("gut-foundations/course.toml"))).unwrap();
    assert_eq!(course["status"].as_str(), Some("preenrollment"));
    assert_eq!(
        course["faq"].as_array().unwrap().len(),
        programs[0].course["faq"].as_array().unwrap().len()
    );

    let before = snapshot(&app.db).await;
    let report = app.import(&out).await.unwrap();
    assert!(report.is_noop(), "importing the export changed something:\n{report}");
    assert!(
        report.to_string().contains("0 added, 0 changed, 0 archived"),
        "{report}"
    );
    assert_eq!(snapshot(&app.db).await, before);
    // And exporting the re-imported database gives the same files.
    let again = app.dir.path().join("again");
    content::export(&app.db, &out, &again).await.unwrap();
    for entry in walk(&out) {
        let rel = entry.strip_prefix(&out).unwrap();
        assert_eq!(
            std::fs::read(&entry).unwrap(),
            std::fs::read(again.join(rel)).unwrap(),
            "{}",
            rel.display()
        );
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

async fn export_refuses_a_folder_it_would_overwrite(backend: Backend) {
    let fx = Fixture::new();
    let app = TestApp::spawn_with_content(&backend, fx.path()).await;
    match content::export(&app.db, fx.path(), fx.path()).await {
        Err(ExportError::NotEmpty(dir)) => assert_eq!(dir, fx.path()),
        other => panic!("expected NotEmpty, got {other:?}"),
    }
    let file = app.dir.path().join("notes.txt");
    std::fs::write(&file, "keep me").unwrap();
    let err = content::export(&app.db, fx.path(), &file).await.unwrap_err();
    assert!(matches!(err, ExportError::NotAFolder(_)), "{err:?}");
    assert!(err.to_string().contains("is not a folder"), "{err}");
    assert_eq!(read(&file), "keep me");
    // An empty folder is fine.
    let empty = app.dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    content::export(&app.db, fx.path(), &empty).await.unwrap();
    assert!(empty.join("alpha/01-start/01-welcome.md").is_file());
    // A download whose file is gone: refused before anything is written.
    fx.write("alpha/downloads/sheet.csv", "a,b\n1,2\n");
    fx.write(
        "alpha/01-start/01-welcome.md",
        "+++\ntitle = \"Welcome to alpha\"\nduration_minutes = 7\nfree_preview = true\n[[downloads]]\ntitle = \"Sheet\"\nfile = \"downloads/sheet.csv\"\n+++\n\nThe welcome lesson body text.\n",
    );
    app.import(fx.path()).await.unwrap();
    let out = app.dir.path().join("with-download");
    content::export(&app.db, fx.path(), &out).await.unwrap();
    assert_eq!(read(&out.join("alpha/downloads/sheet.csv")), "a,b\n1,2\n");
    // The import copied it into the database: gone from the folder, it is still exported.
    fx.remove("alpha/downloads/sheet.csv");
    let out = app.dir.path().join("from-the-database");
    content::export(&app.db, fx.path(), &out).await.unwrap();
    assert_eq!(read(&out.join("alpha/downloads/sheet.csv")), "a,b\n1,2\n");
    // In neither place: refused before anything is written.
    db_run!(&app.db, pool => sqlx::query("DELETE FROM stored_files").execute(pool).await.map(|_| ())).unwrap();
    let out = app.dir.path().join("without-download");
    let err = content::export(&app.db, fx.path(), &out).await.unwrap_err();
    assert!(
        err.to_string().contains("download 'downloads/sheet.csv' is missing"),
        "{err}"
    );
    assert!(!out.exists(), "nothing written");
}

async fn rehash_marks_only_what_the_studio_changed(backend: Backend) {
    let fx = Fixture::new();
    let app = TestApp::spawn_with_content(&backend, fx.path()).await;
    let before = snapshot(&app.db).await;
    studio_write(&app.db, "alpha", &[]).await;
    studio_write(&app.db, "beta", &[]).await;
    assert_eq!(snapshot(&app.db).await, before, "nothing edited, nothing rehashed");
    assert!(studio_edited(&app.db).await.is_empty());

    studio_edit_body(&app.db, "alpha", "basics", "Fresh *studio* text.").await;
    assert_eq!(studio_edited(&app.db).await, vec!["lesson basics"]);
    studio_write(
        &app.db,
        "alpha",
        &["UPDATE modules SET summary = 'Edited summary.' WHERE slug = 'deeper'"],
    )
    .await;
    assert_eq!(studio_edited(&app.db).await, vec!["lesson basics", "module deeper"]);
    studio_write(
        &app.db,
        "beta",
        &["UPDATE courses SET price_cents = 21000 WHERE slug = 'beta'"],
    )
    .await;
    assert_eq!(
        studio_edited(&app.db).await,
        vec!["lesson basics", "module deeper", "program beta"]
    );
    // A new status is no edit of the files' content.
    studio_write(
        &app.db,
        "alpha",
        &["UPDATE courses SET status = 'open' WHERE slug = 'alpha'"],
    )
    .await;
    assert_eq!(studio_edited(&app.db).await.len(), 3);
}

async fn studio_edits_export_and_import_back_unchanged(backend: Backend) {
    let fx = Fixture::new();
    let app = TestApp::spawn_with_content(&backend, fx.path()).await;
    // The studio moves "basics" before "welcome" and rewrites it, with a link to "welcome".
    studio_write(
        &app.db,
        "alpha",
        &[
            "UPDATE lessons SET position = 5 WHERE slug = 'welcome'",
            "UPDATE lessons SET position = 2 WHERE slug = 'basics'",
            // A new module, no lessons yet, not published.
            "INSERT INTO modules (course_id, slug, title, summary, position, archived, source_hash, created_at, \
             updated_at, status) SELECT id, 'later', 'Coming later', '', 9, FALSE, '', '2026-11-24T15:00:00Z', \
             '2026-11-24T15:00:00Z', 'draft' FROM courses WHERE slug = 'alpha'",
        ],
    )
    .await;
    let md = "The basics, *rewritten* in the studio.\n\nThen read [the welcome](02-welcome.md#start).";
    studio_edit_body(&app.db, "alpha", "basics", md).await;
    // "detail" links to "basics", whose file is now 01-basics.md: its export changes too.
    assert_eq!(
        studio_edited(&app.db).await,
        vec!["lesson basics", "lesson detail", "lesson welcome", "module later"]
    );

    let out = app.dir.path().join("export");
    let report = content::export(&app.db, fx.path(), &out).await.unwrap();
    assert!(report.warnings.is_empty(), "{report}");
    let basics = read(&out.join("alpha/01-start/01-basics.md"));
    assert!(basics.ends_with(&format!("+++\n\n{md}\n")), "{basics}");
    assert!(out.join("alpha/01-start/02-welcome.md").is_file());
    let detail = read(&out.join("alpha/02-deeper/01-detail.md"));
    assert!(
        detail.contains("See [the basics](../01-start/01-basics.md) again."),
        "{detail}"
    );
    assert_eq!(
        read(&out.join("alpha/03-later/module.toml")),
        "title = \"Coming later\"\nsummary = \"\"\nstatus = \"draft\"\n"
    );

    let before = snapshot(&app.db).await;
    let report = app.import(&out).await.unwrap();
    assert!(report.is_noop(), "importing the export changed something:\n{report}");
    assert_eq!(snapshot(&app.db).await, before);
    // The files now hold what the database holds: nothing is a studio edit any more.
    assert!(studio_edited(&app.db).await.is_empty());
    let page = app.get("/courses/alpha/lessons/basics").await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "locked, but it exists");
}

async fn import_names_studio_edits_and_overwrites_them_only_when_forced(backend: Backend) {
    let fx = Fixture::new();
    let app = TestApp::spawn_with_content(&backend, fx.path()).await;
    studio_edit_body(&app.db, "alpha", "welcome", "Welcome, from the studio.").await;
    exec(
        &app.db,
        "UPDATE lessons SET updated_at = '2026-11-24T15:00:00Z' WHERE slug = 'welcome'",
    )
    .await;
    let before = snapshot(&app.db).await;

    // A file change elsewhere does not need --force; the studio's edit does.
    fx.write(
        "alpha/01-start/02-basics.md",
        &lesson("The basics", false, "Basics, edited in the files."),
    );
    let lines = match app.import(fx.path()).await {
        Err(ImportError::StudioEdits(lines)) => lines,
        other => panic!("expected StudioEdits, got {other:?}"),
    };
    assert_eq!(
        lines,
        vec!["lesson alpha/welcome was edited in the studio on 24 November 2026; importing would overwrite it"]
    );
    assert_eq!(snapshot(&app.db).await, before, "refused: nothing written");
    assert!(audit_rows(&app.db).await.is_empty());

    let report = content::import_with(&app.db, fx.path(), true).await.unwrap();
    assert_eq!(
        report.changed,
        vec!["lesson alpha/basics", "lesson alpha/welcome"],
        "{report}"
    );
    assert_eq!(
        report.overwritten,
        vec!["lesson alpha/welcome (edited in the studio on 24 November 2026)"]
    );
    assert!(
        report.to_string().starts_with("forced   lesson alpha/welcome"),
        "{report}"
    );
    assert!(studio_edited(&app.db).await.is_empty());
    assert_eq!(
        audit_rows(&app.db).await,
        vec![(
            "content import --force".to_owned(),
            "content.import.force".to_owned(),
            "lesson alpha/welcome".to_owned(),
            lines[0].clone()
        )]
    );
    let body: String = db_run!(&app.db, pool => sqlx::query_scalar("SELECT body_md FROM lessons WHERE slug = 'welcome'").fetch_one(pool).await).unwrap();
    assert!(body.starts_with("The welcome lesson body text."), "{body}");
    // And now it is quiet again.
    assert!(app.import(fx.path()).await.unwrap().is_noop());

    // An edit the files happen to match (the instructor copied it over) needs no force either.
    studio_edit_body(&app.db, "beta", "first", "Beta body, improved.").await;
    let md: String = db_run!(&app.db, pool => sqlx::query_scalar("SELECT body_md FROM lessons WHERE slug = 'first'").fetch_one(pool).await).unwrap();
    fx.write(
        "beta/01-only/01-first.md",
        &format!("+++\ntitle = \"Beta first\"\nduration_minutes = 7\nfree_preview = true\n+++\n\n{md}\n"),
    );
    let report = app.import(fx.path()).await.unwrap();
    assert!(report.is_noop(), "{report}");
    assert!(studio_edited(&app.db).await.is_empty());
}

async fn every_kind_of_studio_change_is_named(backend: Backend) {
    let fx = Fixture::new();
    let app = TestApp::spawn_with_content(&backend, fx.path()).await;
    let alpha = course_id(&app.db, "alpha").await;
    let beta = course_id(&app.db, "beta").await;
    let wrap_up = lesson_id(&app.db, "wrap-up").await;
    // Archived in the studio.
    let mut tx = app.db.begin().await.unwrap();
    tx_run!(&mut tx, conn => sqlx::query("UPDATE lessons SET archived = TRUE WHERE id = $1").bind(wrap_up).execute(conn).await.map(|_| ())).unwrap();
    content::mark_studio_edited(&mut tx, ItemKind::Lesson, wrap_up)
        .await
        .unwrap();
    content::rehash(&mut tx, alpha).await.unwrap();
    tx.commit().await.unwrap();
    // Created in the studio.
    let start: i64 = db_run!(&app.db, pool => sqlx::query_scalar("SELECT id FROM modules WHERE slug = 'start'").fetch_one(pool).await).unwrap();
    let mut tx = app.db.begin().await.unwrap();
    tx_run!(&mut tx, conn => sqlx::query(
        "INSERT INTO lessons (course_id, module_id, slug, title, position, duration_minutes, free_preview, video_url, \
         downloads, body_md, body_html, archived, source_hash, created_at, updated_at) \
         VALUES ($1, $2, 'studio-only', 'Only in the studio', 9, 5, FALSE, NULL, '[]', 'New.', '<p>New.</p>', FALSE, '', $3, $3)")
        .bind(alpha).bind(start).bind(OffsetDateTime::now_utc()).execute(conn).await.map(|_| ())).unwrap();
    content::rehash(&mut tx, alpha).await.unwrap();
    tx.commit().await.unwrap();
    // Renamed in the studio.
    studio_write(
        &app.db,
        "beta",
        &[
            "UPDATE courses SET slug = 'gamma' WHERE slug = 'beta'",
            &format!("INSERT INTO course_redirects (old_slug, course_id) VALUES ('beta', {beta})"),
        ],
    )
    .await;
    assert_eq!(
        studio_edited(&app.db).await,
        vec!["lesson studio-only", "lesson wrap-up", "program gamma"]
    );

    let before = snapshot(&app.db).await;
    let lines = match app.import(fx.path()).await {
        Err(ImportError::StudioEdits(lines)) => lines,
        other => panic!("expected StudioEdits, got {other:?}"),
    };
    assert_eq!(lines.len(), 3, "{lines:#?}");
    assert!(
        lines[0].starts_with("lesson alpha/studio-only was edited in the studio on "),
        "{lines:#?}"
    );
    assert!(
        lines[0].ends_with("; importing would archive it (it is not in the files)"),
        "{lines:#?}"
    );
    assert!(
        lines[1].starts_with("lesson alpha/wrap-up was archived in the studio on "),
        "{lines:#?}"
    );
    assert!(lines[1].ends_with("; importing would bring it back"), "{lines:#?}");
    assert!(
        lines[2].starts_with("program beta was renamed in the studio to 'gamma' on "),
        "{lines:#?}"
    );
    assert_eq!(snapshot(&app.db).await, before, "refused: nothing written");

    let report = content::import_with(&app.db, fx.path(), true).await.unwrap();
    assert_eq!(report.overwritten.len(), 3, "{report}");
    assert_eq!(report.archived, vec!["lesson alpha/studio-only"], "{report}");
    assert_eq!(
        course_id(&app.db, "beta").await,
        beta,
        "the folder's name is back, same program"
    );
    let redirects: Vec<(String, i64)> = db_run!(&app.db, pool => sqlx::query_as("SELECT old_slug, course_id FROM course_redirects").fetch_all(pool).await).unwrap();
    assert_eq!(redirects, vec![("gamma".to_owned(), beta)]);
    let archived: bool = db_run!(&app.db, pool => sqlx::query_scalar("SELECT archived FROM lessons WHERE id = $1").bind(wrap_up).fetch_one(pool).await).unwrap();
    assert!(!archived, "the files bring wrap-up back");
    assert!(studio_edited(&app.db).await.is_empty());
    let subjects: Vec<String> = audit_rows(&app.db).await.into_iter().map(|r| r.2).collect();
    assert_eq!(
        subjects,
        vec!["lesson alpha/studio-only", "lesson alpha/wrap-up", "program beta"]
    );
    app.state.refresh_catalog().await.unwrap();
    assert_eq!(app.get("/courses/beta").await.status, StatusCode::OK);
    assert!(app.import(fx.path()).await.unwrap().is_noop());
}

async fn module_status(db: &Db, slug: &str) -> String {
    db_run!(db, pool => sqlx::query_scalar::<_, String>("SELECT status FROM modules WHERE slug = $1").bind(slug).fetch_one(pool).await).unwrap()
}

async fn a_module_can_start_as_a_draft(backend: Backend) {
    let fx = Fixture::new();
    fx.write("alpha/03-later/module.toml", "title = \"Later\"\nstatus = \"draft\"\n");
    fx.write("alpha/03-later/01-soon.md", &lesson("Soon", false, "Coming."));
    let app = TestApp::spawn_with_content(&backend, fx.path()).await;
    assert_eq!(module_status(&app.db, "later").await, "draft");
    assert_eq!(module_status(&app.db, "start").await, "published");
    // Read only on creation: publishing belongs to the studio afterwards.
    fx.write(
        "alpha/03-later/module.toml",
        "title = \"Later\"\nstatus = \"published\"\n",
    );
    assert!(app.import(fx.path()).await.unwrap().is_noop());
    assert_eq!(module_status(&app.db, "later").await, "draft");
    exec(&app.db, "UPDATE modules SET status = 'published' WHERE slug = 'later'").await;
    fx.write("alpha/03-later/module.toml", "title = \"Later\"\nstatus = \"draft\"\n");
    assert!(app.import(fx.path()).await.unwrap().is_noop());
    assert_eq!(module_status(&app.db, "later").await, "published");
    // The export writes the module's status.
    let out = app.dir.path().join("export");
    content::export(&app.db, fx.path(), &out).await.unwrap();
    let module: toml::Table = toml::from_str(&read(&out.join("alpha/03-later/module.toml"))).unwrap();
    assert_eq!(module["status"].as_str(), Some("published"));
    // Anything else is refused.
    fx.write("alpha/03-later/module.toml", "title = \"Later\"\nstatus = \"live\"\n");
    let err = app.import(fx.path()).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("'status' must be draft or published, not 'live'"),
        "{err}"
    );
}

async fn the_studio_renders_lessons_as_the_import_does(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    const SQL: &str =
        "SELECT c.slug, l.slug, l.body_md, l.body_html FROM lessons l JOIN courses c ON c.id = l.course_id";
    let rows: Vec<(String, String, String, String)> =
        db_run!(&app.db, pool => sqlx::query_as(SQL).fetch_all(pool).await).unwrap();
    let mut links: HashMap<String, content::ProgramLinks> = HashMap::new();
    for (program, _, _, _) in &rows {
        if !links.contains_key(program) {
            let id = course_id(&app.db, program).await;
            links.insert(program.clone(), content::program_links(&app.db, id).await.unwrap());
        }
    }
    let mut linking = 0;
    for (program, lesson, md, html) in &rows {
        let rendered = content::render_lesson_body(&links[program], md).unwrap();
        assert_eq!(&rendered, html, "{program}/{lesson}");
        linking += md.contains(".md)") as usize;
    }
    assert!(
        rows.len() >= 40 && linking >= 5,
        "{} lessons, {linking} with links",
        rows.len()
    );
    let err = content::render_lesson_body(
        &links["gut-foundations"],
        "See [gone](../02-the-gut-lining/09-nowhere.md).",
    )
    .unwrap_err();
    assert_eq!(
        err,
        "broken relative link '../02-the-gut-lining/09-nowhere.md': this program has no lesson 'nowhere'"
    );
}

// ---- glossaries and worksheets ------------------------------------------------------------------

/// Every page row, as text: (kind, name, title, public, csv, archived, source_hash, body_html).
async fn pages(db: &Db) -> Vec<String> {
    const SQL: &str = "SELECT id, kind, name, title, public, csv, archived, studio_edited, source_hash, body_html \
        FROM program_pages ORDER BY id";
    type Row = (
        i64,
        String,
        String,
        String,
        bool,
        Option<String>,
        bool,
        bool,
        String,
        String,
    );
    let rows: Vec<Row> = db_run!(db, pool => sqlx::query_as(SQL).fetch_all(pool).await).unwrap();
    rows.iter().map(|r| format!("{r:?}")).collect()
}

async fn page_id(db: &Db, name: &str) -> i64 {
    db_run!(db, pool => sqlx::query_scalar::<_, i64>("SELECT id FROM program_pages WHERE name = $1").bind(name).fetch_one(pool).await).unwrap()
}

async fn glossary_and_worksheets_are_imported_kept_and_archived(backend: Backend) {
    let fx = Fixture::with_pages();
    let app = TestApp::spawn_with_content(&backend, fx.path()).await;
    let rows = pages(&app.db).await;
    assert_eq!(rows.len(), 3, "{rows:#?}");
    // The glossary: always public; its terms keep their anchors; its links become URLs.
    assert!(
        rows[0].contains("\"glossary\", \"glossary\", \"Glossary\", true, None, false"),
        "{}",
        rows[0]
    );
    assert!(rows[0].contains(r#"<h2 id=\"fibre\">Fibre</h2>"#), "{}", rows[0]);
    assert!(
        rows[0].contains(r#"href=\"/courses/alpha/lessons/basics\""#),
        "{}",
        rows[0]
    );
    assert!(
        rows[0].contains(r#"href=\"/courses/alpha/worksheets/diary\""#),
        "{}",
        rows[0]
    );
    // A worksheet: its table, its checklist as disabled boxes, its CSV, its link to the glossary.
    assert!(
        rows[1].contains("\"worksheet\", \"diary\", \"Meal diary\", false, Some(\"downloads/diary.csv\"), false"),
        "{}",
        rows[1]
    );
    assert!(rows[1].contains("<th>Bloating (0–10)</th>"), "{}", rows[1]);
    assert!(rows[1].contains(r#"<td></td>"#), "{}", rows[1]);
    assert!(
        rows[1].contains(r#"<input type=\"checkbox\" disabled=\"\">"#)
            || rows[1].contains(r#"<input disabled=\"\" type=\"checkbox\">"#),
        "{}",
        rows[1]
    );
    assert!(
        rows[1].contains(r#"href=\"/courses/alpha/glossary#fibre\""#),
        "{}",
        rows[1]
    );
    assert!(
        rows[2].contains("\"worksheet\", \"red-flags\", \"Red flags\", true, None"),
        "{}",
        rows[2]
    );
    assert!(
        rows[2].contains(r#"href=\"/courses/alpha/lessons/welcome\""#),
        "{}",
        rows[2]
    );
    // And lessons link to them.
    let basics: String = db_run!(&app.db, pool => sqlx::query_scalar("SELECT body_html FROM lessons WHERE slug = 'basics'").fetch_one(pool).await).unwrap();
    assert!(
        basics.contains(r#"href="/courses/alpha/worksheets/diary""#)
            && basics.contains(r#"href="/courses/alpha/glossary#fibre""#),
        "{basics}"
    );

    // Again: nothing changes (the quiz and the check-in are unchanged).
    let before = snapshot(&app.db).await;
    let report = app.import(fx.path()).await.unwrap();
    assert!(
        report
            .to_string()
            .ends_with("0 added, 0 changed, 0 archived, 16 unchanged"),
        "{report}"
    );
    assert_eq!(pages(&app.db).await, rows);
    assert_eq!(snapshot(&app.db).await, before);

    // An edited sheet is updated in place.
    let diary = page_id(&app.db, "diary").await;
    fx.write(
        "alpha/worksheets/diary.md",
        &common::fixture::DIARY.replace("Meal diary", "Food diary"),
    );
    let report = app.import(fx.path()).await.unwrap();
    assert_eq!(report.changed, ["worksheet alpha/diary"], "{report}");
    assert_eq!(page_id(&app.db, "diary").await, diary);
    assert_eq!(
        app.get("/courses/alpha/worksheets").await.texts(".worksheet-item h2 a")[0],
        "Food diary"
    );

    // A sheet whose file is gone (and the link to it) is archived, and comes back with its id.
    let red_flags = page_id(&app.db, "red-flags").await;
    fx.remove("alpha/worksheets/red-flags.md");
    fx.write(
        "alpha/01-start/01-welcome.md",
        &lesson("Welcome to alpha", true, "The welcome lesson body text."),
    );
    let report = app.import(fx.path()).await.unwrap();
    assert_eq!(report.archived, ["worksheet alpha/red-flags"], "{report}");
    assert_eq!(
        app.get("/courses/alpha/worksheets/red-flags").await.status,
        StatusCode::NOT_FOUND
    );
    fx.write("alpha/worksheets/red-flags.md", common::fixture::RED_FLAGS);
    let report = app.import(fx.path()).await.unwrap();
    assert_eq!(report.changed, ["worksheet alpha/red-flags"], "{report}");
    assert_eq!(page_id(&app.db, "red-flags").await, red_flags);
    assert_eq!(
        app.get("/courses/alpha/worksheets/red-flags").await.status,
        StatusCode::OK
    );

    // The glossary too; a lesson that still links to it stops the import instead.
    fx.remove("alpha/glossary.md");
    let err = app.import(fx.path()).await.unwrap_err();
    assert!(
        err.to_string()
            .ends_with("broken relative link '../glossary.md#fibre': this program has no glossary.md"),
        "{err}"
    );
}

async fn links_to_missing_pages_fail_the_import(backend: Backend) {
    let fx = Fixture::with_pages();
    let app = TestApp::spawn_with_content(&backend, fx.path()).await;
    let before = (snapshot(&app.db).await, pages(&app.db).await);
    // (file to break, its broken text, what the error must say)
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "alpha/01-start/02-basics.md",
            lesson("Links", false, "Keep [the log](../worksheets/log.md)."),
            "broken relative link '../worksheets/log.md': this program has no worksheet 'log' (worksheets/log.md)",
        ),
        (
            "alpha/01-start/02-basics.md",
            lesson("Links", false, "About [fiber](../glossary.md#fiber)."),
            "broken relative link '../glossary.md#fiber': the glossary has no term with the anchor '{#fiber}'",
        ),
        (
            "alpha/01-start/02-basics.md",
            lesson("Links", false, "A [sheet](worksheets/diary.md) from the wrong folder."),
            "broken relative link 'worksheets/diary.md': no lesson file of this program is there",
        ),
        (
            "beta/01-only/01-first.md",
            lesson("Links", true, "[Words](../glossary.md)."),
            "broken relative link '../glossary.md': this program has no glossary.md",
        ),
        (
            "alpha/worksheets/diary.md",
            common::fixture::DIARY.replace("../glossary.md#fibre", "../glossary.md#nope"),
            "broken relative link '../glossary.md#nope': the glossary has no term",
        ),
        (
            "alpha/glossary.md",
            common::fixture::GLOSSARY.replace("01-start/02-basics.md", "01-start/09-gone.md"),
            "broken relative link '01-start/09-gone.md': no lesson file of this program is there",
        ),
        (
            "alpha/glossary.md",
            common::fixture::GLOSSARY.replace("## Fibre {#fibre}", "## Fibre"),
            "the term 'Fibre' has no anchor",
        ),
        (
            "alpha/glossary.md",
            common::fixture::GLOSSARY.replace("{#alpha-wave}", "{#Alpha_Wave}"),
            "heading anchor '{#Alpha_Wave}': use lowercase letters a–z, digits and '-' only",
        ),
        (
            "alpha/glossary.md",
            common::fixture::GLOSSARY.replace("{#alpha-wave}", "{#fibre}"),
            "the anchor '{#fibre}' is used twice",
        ),
        (
            "alpha/glossary.md",
            "## No front matter {#x}\n".into(),
            "has no front matter",
        ),
        (
            "alpha/worksheets/diary.md",
            common::fixture::DIARY.replace("downloads/diary.csv", "downloads/none.csv"),
            "csv 'downloads/none.csv' does not exist in the program folder",
        ),
        (
            "alpha/worksheets/diary.md",
            common::fixture::DIARY.replace("downloads/diary.csv", "../../site.toml"),
            "'csv' must be a .csv file inside the program folder",
        ),
        (
            "alpha/worksheets/diary.md",
            common::fixture::DIARY.replace("summary =", "colour = \"red\"\nsummary ="),
            "unknown field",
        ),
        (
            "alpha/worksheets/diary.md",
            common::fixture::DIARY.replace("title = \"Meal diary\"", "title = \" \""),
            "'title' is missing or empty",
        ),
        (
            "alpha/worksheets/Bad Name.md",
            common::fixture::DIARY.to_owned(),
            "a worksheet's file name is its web address",
        ),
    ];
    for (rel, text, expected) in cases {
        let original = std::fs::read_to_string(fx.file(rel)).ok();
        fx.write(rel, &text);
        let err = match app.import(fx.path()).await {
            Err(ImportError::Content(e)) => e,
            other => panic!("{rel}: expected a content error, got {other:?}"),
        };
        let message = err.to_string();
        assert!(message.contains(expected), "{rel}: '{message}' should say '{expected}'");
        assert_eq!(err.path, fx.file(rel), "{rel}: {message}");
        assert_eq!(
            (snapshot(&app.db).await, pages(&app.db).await),
            before,
            "{rel}: the database changed"
        );
        match original {
            Some(text) => fx.write(rel, &text),
            None => fx.remove(rel),
        }
    }
    assert!(app.import(fx.path()).await.unwrap().is_noop());
}

async fn pages_export_and_import_back_unchanged(backend: Backend) {
    let fx = Fixture::with_pages();
    let app = TestApp::spawn_with_content(&backend, fx.path()).await;
    let out = app.dir.path().join("export");
    let report = content::export(&app.db, fx.path(), &out).await.unwrap();
    assert!(report.warnings.is_empty(), "{report}");
    assert_eq!((report.pages, report.files), (3, 1), "{report}");
    assert!(report.to_string().contains("3 glossaries and worksheets"), "{report}");
    // Bodies byte for byte; the front matter as the files said it (public only when true).
    assert!(
        read(&out.join("alpha/glossary.md"))
            .ends_with(&format!("\n+++\n\n{}\n", split_body(common::fixture::GLOSSARY)))
    );
    let diary = read(&out.join("alpha/worksheets/diary.md"));
    assert!(
        diary.ends_with(&format!("\n+++\n\n{}\n", split_body(common::fixture::DIARY))),
        "{diary}"
    );
    assert!(diary.starts_with("+++\ntitle = \"Meal diary\"\nsummary = \"What you ate, and how your gut felt.\"\ncsv = \"downloads/diary.csv\"\n+++\n"), "{diary}");
    assert!(read(&out.join("alpha/worksheets/red-flags.md")).contains("\npublic = true\n"));
    assert_eq!(
        read(&out.join("alpha/downloads/diary.csv")),
        read(&fx.file("alpha/downloads/diary.csv"))
    );
    assert!(!out.join("beta/glossary.md").exists());

    let before = (snapshot(&app.db).await, pages(&app.db).await);
    let report = app.import(&out).await.unwrap();
    assert!(report.is_noop(), "importing the export changed something:\n{report}");
    assert_eq!((snapshot(&app.db).await, pages(&app.db).await), before);

    // The studio renames "basics": the glossary's link to it now renders to another URL, so the
    // glossary differs from its file (a studio change the import names), and its export follows.
    studio_write(
        &app.db,
        "alpha",
        &[
            "UPDATE lessons SET slug = 'the-basics' WHERE slug = 'basics'",
            "INSERT INTO lesson_redirects (course_id, old_slug, lesson_id) SELECT course_id, 'basics', id \
             FROM lessons WHERE slug = 'the-basics'",
        ],
    )
    .await;
    assert_eq!(
        studio_edited(&app.db).await,
        vec!["lesson detail", "lesson the-basics"],
        "lessons as before"
    );
    let edited: Vec<String> = db_run!(&app.db, pool => sqlx::query_scalar(
        "SELECT name FROM program_pages WHERE studio_edited ORDER BY name").fetch_all(pool).await)
    .unwrap();
    assert_eq!(edited, ["glossary"]);
    let again = app.dir.path().join("again");
    content::export(&app.db, fx.path(), &again).await.unwrap();
    let glossary = read(&again.join("alpha/glossary.md"));
    assert!(
        glossary.contains("See [the basics](01-start/02-the-basics.md)."),
        "{glossary}"
    );
    let lines = match app.import(fx.path()).await {
        Err(ImportError::StudioEdits(lines)) => lines,
        other => panic!("expected StudioEdits, got {other:?}"),
    };
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("glossary alpha was edited in the studio")),
        "{lines:?}"
    );
    let report = app.import(&again).await.unwrap();
    assert!(report.is_noop(), "{report}");
    assert!(studio_edited(&app.db).await.is_empty());
}

/// The Markdown of a `+++` file, trimmed as the import keeps it.
fn split_body(text: &str) -> &str {
    let rest = text.strip_prefix("+++\n").unwrap();
    rest.split_once("\n+++\n").unwrap().1.trim()
}
