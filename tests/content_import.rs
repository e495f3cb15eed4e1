//! `learnwell content import`: idempotent, keeps ids, never deletes, refuses bad content whole.

mod common;

use common::fixture::{Fixture, lesson};
use common::{Backend, TestApp, files};
use learnwell::content::ImportError;
use learnwell::db::Db;
use learnwell::db_run;
use reqwest::StatusCode;

both_backends!(
    reimport_changes_nothing_and_keeps_ids,
    edits_update_in_place_and_removals_archive,
    status_belongs_to_the_instructor_after_creation,
    a_removed_program_is_archived_not_deleted,
    invalid_content_fails_whole_and_changes_nothing,
    real_content_meets_the_brief,
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
        assert!(
            (5..=6).contains(&p.modules.len()),
            "{}: {} modules",
            p.slug,
            p.modules.len()
        );
        let mut previews = 0;
        for m in &p.modules {
            assert!(
                (3..=4).contains(&m.lessons.len()),
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
        assert!(p.course["faq"].as_array().unwrap().len() >= 5);
    }
    let price = |i: usize| programs[i].course["price_cents"].as_integer().unwrap();
    let bundle = files::site()["bundle_price_cents"].as_integer().unwrap();
    assert!(bundle < price(0) + price(1), "the bundle costs less than both");
    // And it imports cleanly again on top of itself.
    let report = app.import(&common::repo_path("course_content")).await.unwrap();
    assert!(report.is_noop(), "{report}");
}
