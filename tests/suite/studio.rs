//! The instructor's studio: programs, modules and lessons written, reordered, published, archived
//! and deleted from the browser; previews; uploads; concurrent edits; slug redirects; the
//! dashboard and the audit trail. Every test runs on SQLite and (with TEST_DATABASE_URL) PostgreSQL.

use crate::common;

use common::fixture::Fixture;
use common::{AppOptions, Backend, TestApp, new_client};
use learnwell::db::Db;
use learnwell::db_run;
use reqwest::StatusCode;
use time::Duration;

const PW: &str = "a calm long passphrase";

both_backends!(
    programs_are_edited_and_created_and_drafts_stay_hidden,
    slug_changes_keep_old_links_working,
    modules_are_written_published_and_reordered,
    delete_is_refused_when_students_have_progress,
    lesson_preview_sanitises_and_matches_the_student_page,
    concurrent_lesson_edits_lose_nothing,
    uploads_are_checked_and_served_as_attachments,
    scheduled_modules_are_published_by_the_job,
    the_dashboard_counts_revenue_and_completion,
    bad_input_is_refused_and_writes_nothing,
    studio_edits_export_cleanly_and_guard_the_import,
    launches_status_changes_grants_and_refunds_are_audited,
    stale_forms_and_restores_do_not_undo_other_changes,
    half_written_lessons_links_and_new_programs_stay_safe,
    a_database_from_before_the_studio_gets_its_markdown,
    modules_are_edited_and_drip_publishing_tells_nobody_twice,
    list_filters_refuse_unknown_values,
);

async fn count(db: &Db, sql: &str) -> i64 {
    db_run!(db, pool => sqlx::query_scalar::<_, i64>(sql).fetch_one(pool).await).unwrap()
}

async fn scalar(db: &Db, sql: &str) -> String {
    db_run!(db, pool => sqlx::query_scalar::<_, String>(sql).fetch_one(pool).await).unwrap()
}

async fn app_with(backend: &Backend, fx: &Fixture) -> TestApp {
    TestApp::spawn_with(
        backend,
        AppOptions {
            content_dir: fx.path().to_owned(),
            background: false,
            ..AppOptions::default()
        },
    )
    .await
}

async fn open(app: &TestApp, slug: &str) {
    learnwell::launch::launch_now(&app.state, slug, None).await.unwrap();
    app.state.refresh_catalog().await.unwrap();
}

/// A student with a free seat in alpha, signed in.
async fn student(app: &TestApp, maya: &reqwest::Client, name: &str, email: &str) -> reqwest::Client {
    let client = app.signup(name, email, PW).await;
    let page = app
        .post_form(maya, "/admin/enrollments", &[("email", email), ("course", "alpha")])
        .await;
    assert_eq!(
        page.header("location"),
        "/admin?notice=granted",
        "{}",
        page.text(".error")
    );
    app.acknowledged(email, "alpha").await;
    client
}

async fn module_id(app: &TestApp, slug: &str) -> i64 {
    count(&app.db, &format!("SELECT id FROM modules WHERE slug = '{slug}'")).await
}

async fn lesson_id(app: &TestApp, slug: &str) -> i64 {
    count(&app.db, &format!("SELECT id FROM lessons WHERE slug = '{slug}'")).await
}

async fn revision(app: &TestApp, id: i64) -> String {
    count(&app.db, &format!("SELECT revision FROM lessons WHERE id = {id}"))
        .await
        .to_string()
}

fn program_fields<'a>(title: &'a str, slug: &'a str, status: &'a str, price: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("title", title),
        ("slug", slug),
        ("promise", "Sleep better, one habit at a time."),
        ("description", "A calm program about **sleep**."),
        ("who_for", "Light sleepers\n- People who wake at 3 am\n"),
        ("not_for", "Anyone with untreated sleep apnoea"),
        ("faq_q", "How long does it take?"),
        ("faq_a", "About *six* weeks."),
        ("faq_q", ""),
        ("faq_a", ""),
        ("price", price),
        ("status", status),
    ]
}

async fn programs_are_edited_and_created_and_drafts_stay_hidden(backend: Backend) {
    let fx = Fixture::new();
    let app = app_with(&backend, &fx).await;
    let maya = app.instructor("maya@example.com", PW).await;

    // Edit every field of alpha.
    let edit = app.get_with(&maya, "/admin/courses/alpha/edit").await;
    assert_eq!(edit.status, StatusCode::OK);
    assert_eq!(edit.text("#f-title").trim(), "");
    assert!(edit.html().html().contains("value=\"Alpha Program\""));
    let mut fields = program_fields("Alpha, Revised", "alpha", "preenrollment", "149.50");
    fields[3] = ("description", "All about **alpha**, revised.");
    let saved = app.post_form(&maya, "/admin/courses/alpha/edit", &fields).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.text(".error"));
    assert_eq!(saved.header("location"), "/admin/courses/alpha/edit?notice=saved");
    let public = app.get("/courses/alpha").await;
    assert_eq!(public.text("h1"), "Alpha, Revised");
    let text = public.visible_text();
    assert!(text.contains("Sleep better, one habit at a time."), "{text}");
    assert!(public.text(".prose").contains("revised."), "{text}");
    assert!(text.contains("People who wake at 3 am"), "{text}");
    assert!(text.contains("How long does it take?"), "{text}");
    assert!(public.html().html().contains("<em>six</em>"));
    assert!(text.contains("$149.50"), "{text}");
    assert_eq!(
        scalar(&app.db, "SELECT description_md FROM courses WHERE slug = 'alpha'").await,
        "All about **alpha**, revised."
    );

    // A new program starts as a draft: in the studio, invisible to visitors.
    let created = app
        .post_form(
            &maya,
            "/admin/courses/new",
            &program_fields("Sleep Reset", "", "draft", "97"),
        )
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.text(".error"));
    assert_eq!(
        created.header("location"),
        "/admin/courses/sleep-reset/content?notice=created"
    );
    assert_eq!(app.get("/courses/sleep-reset").await.status, StatusCode::NOT_FOUND);
    assert!(!app.get("/courses").await.visible_text().contains("Sleep Reset"));
    assert!(!app.get("/").await.visible_text().contains("Sleep Reset"));
    let studio = app.get_with(&maya, "/admin").await;
    assert!(studio.visible_text().contains("Sleep Reset"));
    // Students do not see drafts either.
    let lee = app.signup("Lee", "lee@example.com", PW).await;
    assert_eq!(
        app.get_with(&lee, "/courses/sleep-reset").await.status,
        StatusCode::NOT_FOUND
    );
    // Out of draft, it appears.
    let shown = app
        .post_form(
            &maya,
            "/admin/courses/sleep-reset/edit",
            &program_fields("Sleep Reset", "sleep-reset", "preenrollment", "97"),
        )
        .await;
    assert_eq!(shown.status, StatusCode::SEE_OTHER, "{}", shown.text(".error"));
    assert_eq!(app.get("/courses/sleep-reset").await.status, StatusCode::OK);

    // Every change is in the audit trail, with who.
    let audit = app.get_with(&maya, "/admin/audit").await;
    let rows = audit.texts(".audit-table tbody tr");
    assert!(
        rows.iter()
            .any(|r| r.contains("program.create") && r.contains("maya@example.com")),
        "{rows:?}"
    );
    assert!(
        rows.iter().any(|r| r.contains("program.edit") && r.contains("alpha")),
        "{rows:?}"
    );
    assert!(rows.iter().any(|r| r.contains("draft → preenrollment")), "{rows:?}");
    // And the studio's front page lists the latest.
    assert!(
        app.get_with(&maya, "/admin")
            .await
            .text(".audit-recent")
            .contains("program.edit")
    );
}

async fn slug_changes_keep_old_links_working(backend: Backend) {
    let fx = Fixture::new();
    let app = app_with(&backend, &fx).await;
    let maya = app.instructor("maya@example.com", PW).await;
    let saved = app
        .post_form(
            &maya,
            "/admin/courses/alpha/edit",
            &program_fields("Alpha Program", "alpha-way", "preenrollment", "150"),
        )
        .await;
    assert_eq!(saved.header("location"), "/admin/courses/alpha-way/edit?notice=saved");
    let old = app.get("/courses/alpha").await;
    assert_eq!(old.status, StatusCode::PERMANENT_REDIRECT);
    assert_eq!(old.header("location"), "/courses/alpha-way");
    let old_lesson = app.get("/courses/alpha/lessons/welcome").await;
    assert_eq!(old_lesson.header("location"), "/courses/alpha-way/lessons/welcome");
    assert_eq!(
        app.get("/courses/alpha-way/lessons/welcome").await.status,
        StatusCode::OK
    );

    // A lesson's slug too.
    let id = lesson_id(&app, "welcome").await;
    let rev = revision(&app, id).await;
    let module = module_id(&app, "start").await.to_string();
    let page = app
        .post_form(
            &maya,
            &format!("/admin/courses/alpha-way/lessons/{id}"),
            &[
                ("title", "Welcome to alpha"),
                ("slug", "hello"),
                ("module", &module),
                ("duration_minutes", "7"),
                ("free_preview", "1"),
                ("video_url", ""),
                ("body", "The welcome lesson body text."),
                ("revision", &rev),
                ("action", "save"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.text(".error"));
    assert_eq!(
        app.get("/courses/alpha-way/lessons/welcome").await.header("location"),
        "/courses/alpha-way/lessons/hello"
    );
    // Both at once: the old program and the old lesson slug.
    assert_eq!(
        app.get("/courses/alpha/lessons/welcome").await.header("location"),
        "/courses/alpha-way/lessons/hello"
    );
    // The studio's own lesson links and the download path follow the new name; unknown stays 404.
    assert_eq!(
        app.get("/courses/alpha/lessons/nope").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.get("/courses/nowhere").await.status, StatusCode::NOT_FOUND);

    // Taking the old slug back for the same program works, and no redirect loops remain.
    let back = app
        .post_form(
            &maya,
            "/admin/courses/alpha-way/edit",
            &program_fields("Alpha Program", "alpha", "preenrollment", "150"),
        )
        .await;
    assert_eq!(back.header("location"), "/admin/courses/alpha/edit?notice=saved");
    assert_eq!(app.get("/courses/alpha").await.status, StatusCode::OK);
    assert_eq!(app.get("/courses/alpha-way").await.header("location"), "/courses/alpha");

    // A new program may take a retired address: it is then that program's, not a redirect.
    let created = app
        .post_form(
            &maya,
            "/admin/courses/new",
            &program_fields("Alpha Way", "alpha-way", "draft", "10"),
        )
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.text(".error"));
    assert_eq!(
        app.get("/courses/alpha-way").await.status,
        StatusCode::NOT_FOUND,
        "a draft, not a redirect"
    );
}

async fn modules_are_written_published_and_reordered(backend: Backend) {
    let fx = Fixture::new();
    let app = app_with(&backend, &fx).await;
    let maya = app.instructor("maya@example.com", PW).await;
    open(&app, "alpha").await;
    let ada = student(&app, &maya, "Ada", "ada@example.com").await;

    // A new module is a draft: the student does not see it.
    let added = app
        .post_form(
            &maya,
            "/admin/courses/alpha/modules",
            &[("title", "Sleep and your gut")],
        )
        .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER);
    let mid = module_id(&app, "sleep-and-your-gut").await;
    let lesson = app
        .post_form(
            &maya,
            "/admin/courses/alpha/lessons",
            &[("module", &mid.to_string()), ("title", "Why sleep matters")],
        )
        .await;
    assert_eq!(lesson.status, StatusCode::SEE_OTHER);
    let lid = lesson_id(&app, "why-sleep-matters").await;
    assert_eq!(
        lesson.header("location"),
        format!("/admin/courses/alpha/lessons/{lid}?notice=created")
    );
    let rev = revision(&app, lid).await;
    let save = app
        .post_form(
            &maya,
            &format!("/admin/courses/alpha/lessons/{lid}"),
            &[
                ("title", "Why sleep matters"),
                ("slug", "why-sleep-matters"),
                ("module", &mid.to_string()),
                ("duration_minutes", ""),
                ("video_url", ""),
                (
                    "body",
                    "Sleep **repairs**. See [the basics](../01-start/02-basics.md).\n\n## Try this week\nSame bedtime.",
                ),
                ("revision", &rev),
                ("action", "save"),
            ],
        )
        .await;
    assert_eq!(save.status, StatusCode::SEE_OTHER, "{}", save.text(".error"));
    let syllabus = app.get_with(&ada, "/courses/alpha").await.visible_text();
    assert!(
        !syllabus.contains("Sleep and your gut"),
        "a draft is hidden: {syllabus}"
    );
    assert_eq!(
        app.get_with(&ada, "/courses/alpha/lessons/why-sleep-matters")
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    // Preview as a student: the draft's lesson, as the student's page, with a banner.
    let preview = app
        .get_with(&maya, "/admin/courses/alpha/preview/why-sleep-matters")
        .await;
    assert_eq!(preview.status, StatusCode::OK);
    assert!(preview.text(".preview-banner").contains("Preview as a student"));
    assert!(preview.text(".preview-banner").contains("not published yet"));
    assert!(preview.html().html().contains("<strong>repairs</strong>"));
    assert!(
        preview.html().html().contains("href=\"/courses/alpha/lessons/basics\""),
        "relative lesson links resolve as at import"
    );
    assert_eq!(preview.text(".complete-box button"), "Mark complete");
    let syllabus: Vec<String> = preview
        .html()
        .select(&scraper::Selector::parse(".lesson-nav ol ol a").unwrap())
        .filter_map(|a| a.value().attr("href").map(str::to_owned))
        .collect();
    assert!(!syllabus.is_empty());
    assert!(
        syllabus.iter().all(|h| h.starts_with("/admin/courses/alpha/preview/")),
        "the preview's syllabus stays in the preview: {syllabus:?}"
    );
    assert_eq!(
        preview.attr(".lesson-nav a[aria-current=page]", "href"),
        "/admin/courses/alpha/preview/why-sleep-matters"
    );
    let module_preview = app
        .get_with(&maya, &format!("/admin/courses/alpha/preview?module={mid}"))
        .await;
    assert_eq!(module_preview.status, StatusCode::OK);
    assert_eq!(
        module_preview.text("h1"),
        "Why sleep matters",
        "a module's preview opens on its first lesson"
    );
    // Students cannot use the preview.
    assert_eq!(
        app.get_with(&ada, "/admin/courses/alpha/preview/why-sleep-matters")
            .await
            .status,
        StatusCode::FORBIDDEN
    );

    // Publish, telling the students.
    let published = app
        .post_form(
            &maya,
            &format!("/admin/courses/alpha/modules/{mid}/publish"),
            &[("action", "publish"), ("notify", "1")],
        )
        .await;
    assert_eq!(published.status, StatusCode::SEE_OTHER);
    assert!(published.header("location").contains("notice=published-notified"));
    let syllabus = app.get_with(&ada, "/courses/alpha").await.visible_text();
    assert!(syllabus.contains("Sleep and your gut"), "{syllabus}");
    assert_eq!(
        app.get_with(&ada, "/courses/alpha/lessons/why-sleep-matters")
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        count(
            &app.db,
            "SELECT COUNT(*) FROM outbox WHERE to_addr = 'ada@example.com' AND subject LIKE 'A new module%'"
        )
        .await,
        1
    );
    // Publishing again tells nobody twice.
    app.post_form(
        &maya,
        &format!("/admin/courses/alpha/modules/{mid}/publish"),
        &[("action", "draft")],
    )
    .await;
    app.post_form(
        &maya,
        &format!("/admin/courses/alpha/modules/{mid}/publish"),
        &[("action", "publish"), ("notify", "1")],
    )
    .await;
    assert_eq!(
        count(
            &app.db,
            "SELECT COUNT(*) FROM outbox WHERE to_addr = 'ada@example.com' AND subject LIKE 'A new module%'"
        )
        .await,
        1
    );
    learnwell::mail::worker::run_once(&app.state).await.unwrap();
    let mail = app.smtp.wait_for("ada@example.com", 2).await;
    let news = mail
        .iter()
        .find(|m| m.subject().starts_with("A new module"))
        .expect("the news");
    assert!(news.text().contains("Sleep and your gut"));
    assert!(news.text().contains("/courses/alpha/lessons/why-sleep-matters"));

    // Reorder: the new module up, then the first lesson of module 1 down.
    let up = app
        .post_form(
            &maya,
            &format!("/admin/courses/alpha/modules/{mid}/move"),
            &[("direction", "up")],
        )
        .await;
    assert_eq!(up.status, StatusCode::SEE_OTHER);
    let titles = app.get("/courses/alpha").await.texts(".syllabus-module h3");
    let order: Vec<&str> = titles.iter().map(|t| t.as_str()).collect();
    assert!(
        order.iter().position(|t| t.contains("Sleep and your gut"))
            < order.iter().position(|t| t.contains("Going deeper")),
        "{order:?}"
    );
    let welcome = lesson_id(&app, "welcome").await;
    app.post_form(
        &maya,
        &format!("/admin/courses/alpha/lessons/{welcome}/move"),
        &[("direction", "down")],
    )
    .await;
    let lessons = app.get("/courses/alpha").await.texts(".syllabus-module li");
    assert!(
        lessons[0].contains("The basics") && lessons[1].contains("Welcome to alpha"),
        "{lessons:?}"
    );
    // Moving past the end changes nothing; a bad direction is a 400.
    let first = module_id(&app, "start").await;
    let page = app
        .post_form(
            &maya,
            &format!("/admin/courses/alpha/modules/{first}/move"),
            &[("direction", "sideways")],
        )
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    // Positions stay gap-free, as an import of the files would have them.
    assert_eq!(
        count(&app.db, "SELECT COUNT(DISTINCT position) FROM modules m WHERE course_id = (SELECT id FROM courses WHERE slug = 'alpha') AND archived = FALSE").await,
        3
    );
    assert_eq!(
        count(&app.db, "SELECT MAX(position) FROM modules WHERE course_id = (SELECT id FROM courses WHERE slug = 'alpha') AND archived = FALSE").await,
        2
    );
    let actions = app
        .get_with(&maya, "/admin/audit")
        .await
        .texts(".audit-table td.action");
    for a in [
        "module.create",
        "lesson.create",
        "lesson.edit",
        "module.publish",
        "module.move",
        "lesson.move",
        "enrollment.grant",
        "program.launch",
    ] {
        if a == "program.launch" {
            continue; // launched from code in this test, not by a person
        }
        assert!(actions.iter().any(|x| x == a), "{a} missing from {actions:?}");
    }
}

async fn delete_is_refused_when_students_have_progress(backend: Backend) {
    let fx = Fixture::new();
    let app = app_with(&backend, &fx).await;
    let maya = app.instructor("maya@example.com", PW).await;
    open(&app, "alpha").await;
    let ada = student(&app, &maya, "Ada", "ada@example.com").await;
    assert_eq!(
        app.get_with(&ada, "/courses/alpha/lessons/detail").await.status,
        StatusCode::OK
    );
    let detail = lesson_id(&app, "detail").await;
    let deeper = module_id(&app, "deeper").await;

    let refused = app
        .post_form(&maya, &format!("/admin/courses/alpha/lessons/{detail}/delete"), &[])
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert!(
        refused.text(".error").contains("Archive it instead"),
        "{}",
        refused.text(".error")
    );
    let refused = app
        .post_form(&maya, &format!("/admin/courses/alpha/modules/{deeper}/delete"), &[])
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert!(
        refused.text(".error").contains("1 student has progress"),
        "{}",
        refused.text(".error")
    );
    assert_eq!(
        count(&app.db, &format!("SELECT COUNT(*) FROM lessons WHERE id = {detail}")).await,
        1
    );

    // Archive instead: hidden from the student, progress kept, and restorable.
    let archived = app
        .post_form(&maya, &format!("/admin/courses/alpha/modules/{deeper}/archive"), &[])
        .await;
    assert_eq!(archived.status, StatusCode::SEE_OTHER);
    assert!(
        !app.get_with(&ada, "/courses/alpha")
            .await
            .visible_text()
            .contains("Going deeper")
    );
    assert_eq!(
        count(
            &app.db,
            &format!("SELECT COUNT(*) FROM lesson_progress WHERE lesson_id = {detail}")
        )
        .await,
        1
    );
    let restored = app
        .post_form(
            &maya,
            &format!("/admin/courses/alpha/modules/{deeper}/archive"),
            &[("restore", "1")],
        )
        .await;
    assert_eq!(restored.status, StatusCode::SEE_OTHER);
    assert!(
        app.get_with(&ada, "/courses/alpha")
            .await
            .visible_text()
            .contains("Going deeper")
    );

    // Nobody opened "wrap-up": it can go, and the order closes up.
    let wrap = lesson_id(&app, "wrap-up").await;
    let gone = app
        .post_form(&maya, &format!("/admin/courses/alpha/lessons/{wrap}/delete"), &[])
        .await;
    assert_eq!(gone.status, StatusCode::SEE_OTHER);
    assert_eq!(
        count(&app.db, &format!("SELECT COUNT(*) FROM lessons WHERE id = {wrap}")).await,
        0
    );
    assert_eq!(
        app.get("/courses/alpha/lessons/wrap-up").await.status,
        StatusCode::NOT_FOUND
    );
    // An empty module with no progress can be deleted too.
    app.post_form(&maya, "/admin/courses/alpha/modules", &[("title", "Extra")])
        .await;
    let extra = module_id(&app, "extra").await;
    let gone = app
        .post_form(&maya, &format!("/admin/courses/alpha/modules/{extra}/delete"), &[])
        .await;
    assert_eq!(gone.status, StatusCode::SEE_OTHER);
    assert_eq!(
        count(&app.db, &format!("SELECT COUNT(*) FROM modules WHERE id = {extra}")).await,
        0
    );
    // A module of another program is not reachable through this one.
    let only = module_id(&app, "only").await;
    assert_eq!(
        app.post_form(&maya, &format!("/admin/courses/alpha/modules/{only}/delete"), &[])
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        count(&app.db, &format!("SELECT COUNT(*) FROM modules WHERE id = {only}")).await,
        1
    );
}

async fn lesson_preview_sanitises_and_matches_the_student_page(backend: Backend) {
    let fx = Fixture::new();
    let app = app_with(&backend, &fx).await;
    let maya = app.instructor("maya@example.com", PW).await;
    let id = lesson_id(&app, "welcome").await;
    let rev = revision(&app, id).await;
    let module = module_id(&app, "start").await.to_string();
    let hostile = "Hello <script>alert('x')</script> <img src=x onerror=alert(1)> [click](javascript:alert(2))\n\n## Try this week\nRest.";
    let fields = |action: &'static str| {
        vec![
            ("title", "Welcome to alpha".to_string()),
            ("slug", "welcome".to_string()),
            ("module", module.clone()),
            ("duration_minutes", "7".to_string()),
            ("free_preview", "1".to_string()),
            ("video_url", String::new()),
            ("body", hostile.to_string()),
            ("revision", rev.clone()),
            ("action", action.to_string()),
        ]
    };
    let as_refs = |v: &Vec<(&'static str, String)>| v.iter().map(|(k, v)| (*k, v.clone())).collect::<Vec<_>>();
    let preview_fields = as_refs(&fields("preview"));
    let refs: Vec<(&str, &str)> = preview_fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let preview = app
        .post_form(&maya, &format!("/admin/courses/alpha/lessons/{id}"), &refs)
        .await;
    assert_eq!(preview.status, StatusCode::OK);
    let pane = preview
        .html()
        .select(&scraper::Selector::parse(".preview-pane .lesson-body").unwrap())
        .next()
        .unwrap()
        .inner_html();
    assert!(!pane.contains("<script"), "{pane}");
    assert!(!pane.contains("onerror"), "{pane}");
    assert!(!pane.contains("javascript:"), "{pane}");
    assert!(pane.contains("Hello"), "{pane}");
    // The textarea keeps what was typed, and nothing was saved.
    assert!(preview.text("#f-body").contains("<script>alert('x')</script>"));
    assert!(
        !scalar(&app.db, &format!("SELECT body_md FROM lessons WHERE id = {id}"))
            .await
            .contains("script")
    );

    // Saved, the student's page shows exactly the preview's HTML.
    let save_fields = as_refs(&fields("save"));
    let refs: Vec<(&str, &str)> = save_fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let saved = app
        .post_form(&maya, &format!("/admin/courses/alpha/lessons/{id}"), &refs)
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.text(".error"));
    let public = app.get("/courses/alpha/lessons/welcome").await;
    let body = public
        .html()
        .select(&scraper::Selector::parse(".lesson-body").unwrap())
        .next()
        .unwrap()
        .inner_html();
    assert_eq!(body, pane);
    // A link to a lesson that does not exist is refused with the reason, and nothing is saved.
    let mut broken = as_refs(&fields("save"));
    broken[6].1 = "See [this](../09-none/01-missing.md).".to_string();
    broken[7].1 = revision(&app, id).await;
    let refs: Vec<(&str, &str)> = broken.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let page = app
        .post_form(&maya, &format!("/admin/courses/alpha/lessons/{id}"), &refs)
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.text("#f-body-error").contains("missing.md"),
        "{}",
        page.text("#f-body-error")
    );
}

async fn save_body(
    app: &TestApp,
    client: &reqwest::Client,
    id: i64,
    module: &str,
    body: &str,
    rev: &str,
) -> common::Page {
    app.post_form(
        client,
        &format!("/admin/courses/alpha/lessons/{id}"),
        &[
            ("title", "The basics"),
            ("slug", "basics"),
            ("module", module),
            ("duration_minutes", "7"),
            ("video_url", ""),
            ("body", body),
            ("revision", rev),
            ("action", "save"),
        ],
    )
    .await
}

async fn concurrent_lesson_edits_lose_nothing(backend: Backend) {
    let fx = Fixture::new();
    let app = app_with(&backend, &fx).await;
    let maya = app.instructor("maya@example.com", PW).await;
    let sam = app.instructor("sam@example.com", PW).await;
    let id = lesson_id(&app, "basics").await;
    let module = module_id(&app, "start").await.to_string();
    // Both open the editor at the same revision.
    let rev = revision(&app, id).await;
    let first = save_body(&app, &maya, id, &module, "Maya's careful rewrite.", &rev).await;
    assert_eq!(first.status, StatusCode::SEE_OTHER);
    let second = save_body(&app, &sam, id, &module, "Sam's quick fix.", &rev).await;
    assert_eq!(second.status, StatusCode::CONFLICT);
    assert!(second.text(".conflict").contains("changed by someone else"));
    // Sam's text is still in the editor, Maya's is shown beside it, and the database has Maya's.
    assert_eq!(second.text("#f-body"), "Sam's quick fix.");
    assert!(second.text(".theirs textarea").contains("Maya's careful rewrite."));
    assert_eq!(
        scalar(&app.db, &format!("SELECT body_md FROM lessons WHERE id = {id}")).await,
        "Maya's careful rewrite."
    );
    // Saving again from the conflict page (which carries the new revision) is a deliberate overwrite.
    let new_rev = second
        .html()
        .select(&scraper::Selector::parse("input[name=revision]").unwrap())
        .next()
        .unwrap()
        .value()
        .attr("value")
        .unwrap()
        .to_string();
    assert_eq!(new_rev, revision(&app, id).await);
    let third = save_body(
        &app,
        &sam,
        id,
        &module,
        "Sam's quick fix, merged with Maya's.",
        &new_rev,
    )
    .await;
    assert_eq!(third.status, StatusCode::SEE_OTHER);
    assert_eq!(
        scalar(&app.db, &format!("SELECT body_md FROM lessons WHERE id = {id}")).await,
        "Sam's quick fix, merged with Maya's."
    );
    // A replayed old form is refused too.
    let replay = save_body(&app, &maya, id, &module, "Stale.", &rev).await;
    assert_eq!(replay.status, StatusCode::CONFLICT);
}

async fn upload(app: &TestApp, client: &reqwest::Client, lesson: i64, name: &str, bytes: Vec<u8>) -> common::Page {
    let form = reqwest::multipart::Form::new().text("title", "Sleep diary").part(
        "file",
        reqwest::multipart::Part::bytes(bytes).file_name(name.to_string()),
    );
    app.request(
        client
            .post(app.url(&format!("/admin/courses/alpha/lessons/{lesson}/downloads")))
            .header("Origin", &app.base)
            .multipart(form),
    )
    .await
}

async fn uploads_are_checked_and_served_as_attachments(backend: Backend) {
    let fx = Fixture::new();
    let app = app_with(&backend, &fx).await;
    let maya = app.instructor("maya@example.com", PW).await;
    open(&app, "alpha").await;
    let ada = student(&app, &maya, "Ada", "ada@example.com").await;
    let id = lesson_id(&app, "basics").await;
    let files_before = count(&app.db, "SELECT COUNT(*) FROM stored_files").await;
    let stored = |key: &'static str| {
        let db = app.db.clone();
        async move { learnwell::files::read_all(&db, key).await.unwrap() }
    };

    let ok = upload(&app, &maya, id, "Sleep Diary.pdf", b"%PDF-1.7 a diary".to_vec()).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.text(".error"));
    // Kept in the database (every instance serves it), not in the content folder.
    assert_eq!(
        stored("alpha/downloads/sleep-diary.pdf").await.as_deref(),
        Some(&b"%PDF-1.7 a diary"[..])
    );
    assert!(!fx.file("alpha/downloads/sleep-diary.pdf").exists());
    // The same name again does not overwrite the first file.
    let again = upload(&app, &maya, id, "sleep-diary.pdf", b"%PDF-1.7 another".to_vec()).await;
    assert_eq!(again.status, StatusCode::SEE_OTHER);
    assert_eq!(
        stored("alpha/downloads/sleep-diary-2.pdf").await.as_deref(),
        Some(&b"%PDF-1.7 another"[..])
    );
    assert_eq!(
        stored("alpha/downloads/sleep-diary.pdf").await.as_deref(),
        Some(&b"%PDF-1.7 a diary"[..])
    );

    let lesson = app.get_with(&ada, "/courses/alpha/lessons/basics").await;
    let link = lesson
        .links()
        .into_iter()
        .find(|l| l.ends_with("/sleep-diary.pdf"))
        .expect("download link");
    let file = app.client.get(app.url(&link)).send().await.unwrap();
    assert_eq!(file.status(), StatusCode::SEE_OTHER, "visitors are sent to log in");
    let file = ada.get(app.url(&link)).send().await.unwrap();
    assert_eq!(file.status(), StatusCode::OK);
    assert_eq!(file.headers()["content-type"], "application/pdf");
    assert!(
        file.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    assert_eq!(file.headers()["x-content-type-options"], "nosniff");

    // Refused: HTML, SVG, a program, a fake PDF, text that is a web page, nothing at all, too big.
    for (name, bytes) in [
        ("page.html", b"<html><script>alert(1)</script>".to_vec()),
        ("logo.svg", b"<svg onload=alert(1)>".to_vec()),
        ("tool.exe", b"MZ\x90\x00".to_vec()),
        ("fake.pdf", b"<html>not a pdf".to_vec()),
        ("notes.txt", b"<!DOCTYPE html><script>".to_vec()),
        ("empty.pdf", Vec::new()),
    ] {
        let page = upload(&app, &maya, id, name, bytes).await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{name}");
        assert!(
            !page.text(".downloads-editor .error").is_empty(),
            "{name} gets a reason"
        );
    }
    // Just over the limit: the upload arrives and is refused with the reason.
    let big = upload(
        &app,
        &maya,
        id,
        "big.pdf",
        [b"%PDF-".to_vec(), vec![b'x'; learnwell::web::UPLOAD_LIMIT]].concat(),
    )
    .await;
    assert_eq!(big.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        big.text(".downloads-editor .error").contains("larger than 10 MB"),
        "{}",
        big.text(".error")
    );
    assert_eq!(
        count(&app.db, "SELECT COUNT(*) FROM stored_files").await,
        files_before + 2,
        "only the two good files were stored"
    );
    // A student cannot upload.
    let page = upload(&app, &ada, id, "x.pdf", b"%PDF-1.7".to_vec()).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);

    // Removing takes it off the lesson.
    let removed = app
        .post_form(
            &maya,
            &format!("/admin/courses/alpha/lessons/{id}/downloads/remove"),
            &[("file", "downloads/sleep-diary-2.pdf")],
        )
        .await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER);
    let links = app.get_with(&ada, "/courses/alpha/lessons/basics").await.links();
    assert!(!links.iter().any(|l| l.ends_with("sleep-diary-2.pdf")), "{links:?}");
    assert!(links.iter().any(|l| l.ends_with("sleep-diary.pdf")), "{links:?}");
}

async fn scheduled_modules_are_published_by_the_job(backend: Backend) {
    let fx = Fixture::new();
    let app = app_with(&backend, &fx).await;
    let maya = app.instructor("maya@example.com", PW).await;
    open(&app, "alpha").await;
    let ada = student(&app, &maya, "Ada", "ada@example.com").await;
    app.post_form(&maya, "/admin/courses/alpha/modules", &[("title", "Week seven")])
        .await;
    let mid = module_id(&app, "week-seven").await;
    app.post_form(
        &maya,
        "/admin/courses/alpha/lessons",
        &[("module", &mid.to_string()), ("title", "Looking back")],
    )
    .await;
    let lid = lesson_id(&app, "looking-back").await;
    let rev = revision(&app, lid).await;
    let page = save_body_of(
        &app,
        &maya,
        lid,
        "looking-back",
        "Looking back",
        &mid.to_string(),
        "What changed for you?",
        &rev,
    )
    .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.text(".error"));
    let tz = app.state.catalog().tz.clone();
    let past = learnwell::local_time::input_value(app.state.clock.now() - Duration::hours(1), &tz);
    let refused = app
        .post_form(
            &maya,
            &format!("/admin/courses/alpha/modules/{mid}/publish"),
            &[("action", "schedule"), ("at", &past)],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.text(".error").contains("future"));
    let garbage = app
        .post_form(
            &maya,
            &format!("/admin/courses/alpha/modules/{mid}/publish"),
            &[("action", "schedule"), ("at", "next tuesday")],
        )
        .await;
    assert_eq!(garbage.status, StatusCode::UNPROCESSABLE_ENTITY);

    let at = learnwell::local_time::input_value(app.state.clock.now() + Duration::hours(2), &tz);
    let scheduled = app
        .post_form(
            &maya,
            &format!("/admin/courses/alpha/modules/{mid}/publish"),
            &[("action", "schedule"), ("at", &at), ("notify", "1")],
        )
        .await;
    assert_eq!(scheduled.status, StatusCode::SEE_OTHER);
    let content = app.get_with(&maya, "/admin/courses/alpha/content").await;
    assert!(content.text(&format!("#module-{mid}")).contains("Publishes"));
    assert_eq!(
        learnwell::admin::publish_due_modules(&app.state).await.unwrap(),
        0,
        "not yet"
    );
    assert!(
        !app.get_with(&ada, "/courses/alpha")
            .await
            .visible_text()
            .contains("Week seven")
    );

    app.state.clock.advance(Duration::hours(3));
    assert_eq!(learnwell::admin::publish_due_modules(&app.state).await.unwrap(), 1);
    assert_eq!(
        learnwell::admin::publish_due_modules(&app.state).await.unwrap(),
        0,
        "once"
    );
    assert!(
        app.get_with(&ada, "/courses/alpha")
            .await
            .visible_text()
            .contains("Week seven")
    );
    assert_eq!(
        count(
            &app.db,
            "SELECT COUNT(*) FROM outbox WHERE to_addr = 'ada@example.com' AND subject LIKE 'A new module%'"
        )
        .await,
        1
    );
    let audit = app.get_with(&maya, "/admin/audit").await.texts(".audit-table tbody tr");
    assert!(
        audit
            .iter()
            .any(|r| r.contains("scheduler") && r.contains("module.publish") && r.contains("alpha/week-seven")),
        "{audit:?}"
    );
}

async fn the_dashboard_counts_revenue_and_completion(backend: Backend) {
    let fx = Fixture::new();
    let app = app_with(&backend, &fx).await;
    let maya = app.instructor("maya@example.com", PW).await;
    open(&app, "alpha").await;
    // Tess buys alpha through the test checkout.
    let tess = app.signup("Tess", "tess@example.com", PW).await;
    let started = app.post_form(&tess, "/checkout", &[("course", "alpha")]).await;
    let test_page = started.header("location").to_owned();
    assert!(test_page.starts_with("/checkout/test/"), "{test_page}");
    let paid = app.post_form(&tess, &format!("{test_page}/pay"), &[]).await;
    assert_eq!(paid.status, StatusCode::SEE_OTHER, "{}", paid.text(".error"));
    // Ada has a free seat and finishes every lesson.
    let ada = student(&app, &maya, "Ada", "ada@example.com").await;
    for lesson in ["welcome", "basics", "detail", "wrap-up"] {
        let page = app
            .post_form(
                &ada,
                &format!("/courses/alpha/lessons/{lesson}/complete"),
                &[("done", "true")],
            )
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER);
    }
    let admin = app.get_with(&maya, "/admin").await;
    assert_eq!(admin.text("#revenue-month"), "$150");
    assert_eq!(admin.text("#revenue-total"), "$150");
    assert_eq!(admin.text("#program-alpha .revenue-total"), "$150");
    assert_eq!(admin.text("#program-alpha .completion"), "50%");
    assert_eq!(admin.text("#program-beta .completion"), "—");
    let html = admin.html().html();
    let bars = admin
        .html()
        .select(&scraper::Selector::parse("svg.chart rect").unwrap())
        .count();
    assert_eq!(bars, 12, "a server-drawn chart, a bar per month");
    let months = admin.texts(".chart-table tbody tr");
    assert_eq!(months.len(), 12);
    assert!(
        months.last().unwrap().contains("2") && months.last().unwrap().contains("$150"),
        "{months:?}"
    );
    assert!(!html.contains("style="), "the CSP forbids inline styles");
}

async fn bad_input_is_refused_and_writes_nothing(backend: Backend) {
    let fx = Fixture::new();
    let app = app_with(&backend, &fx).await;
    let maya = app.instructor("maya@example.com", PW).await;
    let before = count(&app.db, "SELECT version FROM content_version").await;

    // Program: empty title, duplicate slug, bad slug, bad price, unknown status.
    type Case<'a> = (Vec<(&'a str, &'a str)>, StatusCode, &'a str);
    let cases: Vec<Case> = vec![
        (
            program_fields("   ", "", "draft", "10"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "title",
        ),
        (
            program_fields("Beta again", "beta", "draft", "10"),
            StatusCode::CONFLICT,
            "Another program",
        ),
        (
            program_fields("X", "Not A Slug", "draft", "10"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "lowercase",
        ),
        (
            program_fields("X", "", "draft", "-3"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "price",
        ),
        (
            program_fields("X", "", "draft", "12.345"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "price",
        ),
        (
            program_fields("X", "", "live", "10"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "status",
        ),
    ];
    for (fields, status, needle) in cases {
        let page = app.post_form(&maya, "/admin/courses/new", &fields).await;
        assert_eq!(page.status, status, "{fields:?}");
        assert!(
            page.text(".error").contains(needle) || page.text(".error").to_lowercase().contains(needle),
            "{needle}: {}",
            page.text(".error")
        );
    }
    // A long title, and a FAQ question without an answer.
    let long = "x".repeat(201);
    let page = app
        .post_form(&maya, "/admin/courses/new", &program_fields(&long, "", "draft", "1"))
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    let mut fields = program_fields("Y", "", "draft", "1");
    fields[7] = ("faq_a", "");
    let page = app.post_form(&maya, "/admin/courses/new", &fields).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.text(".error").contains("needs an answer"));
    // Renaming alpha to beta's slug is refused; pre-enrollment to open must go through Launch.
    let page = app
        .post_form(
            &maya,
            "/admin/courses/alpha/edit",
            &program_fields("Alpha", "beta", "preenrollment", "1"),
        )
        .await;
    assert_eq!(page.status, StatusCode::CONFLICT);
    let page = app
        .post_form(
            &maya,
            "/admin/courses/alpha/edit",
            &program_fields("Alpha", "alpha", "open", "1"),
        )
        .await;
    assert_eq!(page.status, StatusCode::CONFLICT);
    assert!(page.text("#f-status-error").contains("Launch"));
    // Modules and lessons: empty titles; unknown ids; a lesson form missing its revision.
    let page = app
        .post_form(&maya, "/admin/courses/alpha/modules", &[("title", " ")])
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    let start = module_id(&app, "start").await.to_string();
    let page = app
        .post_form(
            &maya,
            "/admin/courses/alpha/lessons",
            &[("module", &start), ("title", "")],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    let page = app
        .post_form(
            &maya,
            "/admin/courses/alpha/lessons",
            &[("module", "abc"), ("title", "T")],
        )
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        app.get_with(&maya, "/admin/courses/alpha/lessons/999999").await.status,
        StatusCode::NOT_FOUND
    );
    // A lesson of another program is not reachable through this one's URLs.
    let beta_lesson = lesson_id(&app, "first").await;
    assert_eq!(
        app.get_with(&maya, &format!("/admin/courses/alpha/lessons/{beta_lesson}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.post_form(
            &maya,
            &format!("/admin/courses/alpha/lessons/{beta_lesson}/delete"),
            &[]
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        count(
            &app.db,
            &format!("SELECT COUNT(*) FROM lessons WHERE id = {beta_lesson}")
        )
        .await,
        1
    );
    assert_eq!(
        app.get_with(&maya, "/admin/courses/nope/content").await.status,
        StatusCode::NOT_FOUND
    );
    let id = lesson_id(&app, "basics").await;
    let page = app
        .post_form(&maya, &format!("/admin/courses/alpha/lessons/{id}"), &[("title", "T")])
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    // A lesson with an empty title, a taken slug, a bad video, or silly minutes.
    let rev = revision(&app, id).await;
    for (field, value, status) in [
        ("title", "", StatusCode::UNPROCESSABLE_ENTITY),
        ("slug", "welcome", StatusCode::CONFLICT),
        ("video_url", "javascript:alert(1)", StatusCode::UNPROCESSABLE_ENTITY),
        ("duration_minutes", "9999", StatusCode::UNPROCESSABLE_ENTITY),
        ("module", "999999", StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        let mut fields = vec![
            ("title", "The basics"),
            ("slug", "basics"),
            ("module", start.as_str()),
            ("duration_minutes", "7"),
            ("video_url", ""),
            ("body", "Body."),
            ("revision", rev.as_str()),
            ("action", "save"),
        ];
        for f in fields.iter_mut() {
            if f.0 == field {
                f.1 = value;
            }
        }
        let page = app
            .post_form(&maya, &format!("/admin/courses/alpha/lessons/{id}"), &fields)
            .await;
        assert_eq!(page.status, status, "{field}={value}");
    }
    // Cross-site posts are refused.
    let forged = app
        .request(
            maya.post(app.url("/admin/courses/alpha/modules"))
                .header("Origin", "https://evil.example")
                .form(&[("title", "Pwned")]),
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);

    // Nothing of that was written.
    assert_eq!(count(&app.db, "SELECT version FROM content_version").await, before);
    assert_eq!(count(&app.db, "SELECT COUNT(*) FROM courses").await, 2);
    assert_eq!(count(&app.db, "SELECT COUNT(*) FROM audit_log").await, 0);
    assert_eq!(
        scalar(&app.db, &format!("SELECT body_md FROM lessons WHERE id = {id}")).await,
        "Secret basics body text.\n\n## Try this week\nDrink a glass of water."
    );
    // An oversized form is refused before anything reads it.
    let huge = "x".repeat(2 * 1024 * 1024 + 1024);
    let page = app
        .post_form(
            &app.login("maya@example.com", PW).await,
            &format!("/admin/courses/alpha/lessons/{id}"),
            &[("body", huge.as_str())],
        )
        .await;
    assert_eq!(page.status, StatusCode::PAYLOAD_TOO_LARGE);
    // Anonymous visitors and students never reach any of it (the route table is walked in security.rs).
    assert_eq!(
        app.get("/admin/courses/alpha/content").await.status,
        StatusCode::SEE_OTHER
    );
    let _ = new_client();
}

async fn studio_edits_export_cleanly_and_guard_the_import(backend: Backend) {
    let fx = Fixture::new();
    let app = app_with(&backend, &fx).await;
    let maya = app.instructor("maya@example.com", PW).await;
    // Edits in the studio: a lesson's text, the order of modules, a new draft module with a lesson,
    // and a download.
    let basics = lesson_id(&app, "basics").await;
    let start = module_id(&app, "start").await.to_string();
    let rev = revision(&app, basics).await;
    let page = save_body_of(
        &app,
        &maya,
        basics,
        "basics",
        "The basics",
        &start,
        "Studio text for the basics.",
        &rev,
    )
    .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.text(".error"));
    let deeper = module_id(&app, "deeper").await;
    app.post_form(
        &maya,
        &format!("/admin/courses/alpha/modules/{deeper}/move"),
        &[("direction", "up")],
    )
    .await;
    app.post_form(&maya, "/admin/courses/alpha/modules", &[("title", "Bonus")])
        .await;
    let bonus = module_id(&app, "bonus").await.to_string();
    app.post_form(
        &maya,
        "/admin/courses/alpha/lessons",
        &[("module", &bonus), ("title", "Extra reading")],
    )
    .await;
    let up = upload(&app, &maya, basics, "worksheet.pdf", b"%PDF-1.7 worksheet".to_vec()).await;
    assert_eq!(up.status, StatusCode::SEE_OTHER);
    // Flagged for `content import`: what the studio changed (the detail lesson too: its link to the
    // basics now points at the renumbered folder). The untouched welcome lesson is not.
    for (slug, edited) in [
        ("basics", 1),
        ("extra-reading", 1),
        ("detail", 1),
        ("welcome", 0),
        ("wrap-up", 0),
    ] {
        let sql = format!("SELECT COUNT(*) FROM lessons WHERE slug = '{slug}' AND studio_edited = TRUE");
        assert_eq!(count(&app.db, &sql).await, edited, "{slug}");
    }

    // Importing the old files names what it would overwrite, and writes nothing without --force.
    let before = count(&app.db, "SELECT version FROM content_version").await;
    match learnwell::content::import(&app.db, fx.path()).await {
        Err(learnwell::content::ImportError::StudioEdits(lines)) => {
            assert!(lines.iter().any(|l| l.contains("basics")), "{lines:?}");
            assert!(lines.iter().any(|l| l.contains("bonus")), "{lines:?}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(count(&app.db, "SELECT version FROM content_version").await, before);
    assert_eq!(
        scalar(&app.db, &format!("SELECT body_md FROM lessons WHERE id = {basics}")).await,
        "Studio text for the basics."
    );
    // Export, then import the export: nothing changes.
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("export");
    learnwell::content::export(&app.db, fx.path(), &dir).await.unwrap();
    let body = std::fs::read_to_string(dir.join("alpha/02-start/02-basics.md")).unwrap();
    assert!(body.contains("Studio text for the basics."), "{body}");
    assert!(body.contains("downloads/worksheet.pdf"), "{body}");
    assert!(
        dir.join("alpha/01-deeper/module.toml").is_file(),
        "the new order is the numbering"
    );
    assert!(dir.join("alpha/03-bonus/01-extra-reading.md").is_file());
    assert_eq!(
        std::fs::read(dir.join("alpha/downloads/worksheet.pdf")).unwrap(),
        b"%PDF-1.7 worksheet"
    );
    let report = learnwell::content::import_with(&app.db, &dir, false).await.unwrap();
    assert!(report.is_noop(), "{report}");

    // The export holds the studio's work, so importing it cleared the flags. A new studio edit,
    // then the old files with --force: the files win, and the audit trail says so.
    let rev = revision(&app, basics).await;
    let page = save_body_of(
        &app,
        &maya,
        basics,
        "basics",
        "The basics",
        &start,
        "Edited once more.",
        &rev,
    )
    .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert!(matches!(
        learnwell::content::import(&app.db, fx.path()).await,
        Err(learnwell::content::ImportError::StudioEdits(_))
    ));
    learnwell::content::import_with(&app.db, fx.path(), true).await.unwrap();
    app.state.refresh_catalog().await.unwrap();
    assert!(
        scalar(&app.db, &format!("SELECT body_md FROM lessons WHERE id = {basics}"))
            .await
            .starts_with("Secret basics")
    );
    assert_eq!(
        count(&app.db, "SELECT COUNT(*) FROM lessons WHERE studio_edited = TRUE").await,
        0
    );
    assert!(
        app.get_with(&maya, "/admin/audit")
            .await
            .text(".audit-table")
            .contains("content.import.force"),
        "the forced import is in the audit trail"
    );
}

#[allow(clippy::too_many_arguments)]
async fn save_body_of(
    app: &TestApp,
    client: &reqwest::Client,
    id: i64,
    slug: &str,
    title: &str,
    module: &str,
    body: &str,
    rev: &str,
) -> common::Page {
    app.post_form(
        client,
        &format!("/admin/courses/alpha/lessons/{id}"),
        &[
            ("title", title),
            ("slug", slug),
            ("module", module),
            ("duration_minutes", "7"),
            ("video_url", ""),
            ("body", body),
            ("revision", rev),
            ("action", "save"),
        ],
    )
    .await
}

async fn launches_status_changes_grants_and_refunds_are_audited(backend: Backend) {
    let fx = Fixture::new();
    let app = app_with(&backend, &fx).await;
    let maya = app.instructor("maya@example.com", PW).await;
    // Launch alpha by hand; schedule beta's launch, cancel it, schedule it again and let it fire.
    let launched = app.post_form(&maya, "/admin/courses/alpha/launch", &[]).await;
    assert_eq!(launched.header("location"), "/admin?notice=launched");
    let tz = app.state.catalog().tz.clone();
    let at = learnwell::local_time::input_value(app.state.clock.now() + Duration::hours(1), &tz);
    app.post_form(&maya, "/admin/courses/beta/schedule", &[("at", &at)])
        .await;
    app.post_form(&maya, "/admin/courses/beta/unschedule", &[]).await;
    app.post_form(&maya, "/admin/courses/beta/schedule", &[("at", &at)])
        .await;
    app.state.clock.advance(Duration::hours(2));
    assert_eq!(learnwell::launch::run_due(&app.state).await.unwrap(), 1);
    // Close alpha, reopen it; give Ada a seat; Tess buys and is refunded.
    app.post_form(&maya, "/admin/courses/alpha/status", &[("to", "closed")])
        .await;
    app.post_form(&maya, "/admin/courses/alpha/status", &[("to", "open")])
        .await;
    student(&app, &maya, "Ada", "ada@example.com").await;
    let tess = app.signup("Tess", "tess@example.com", PW).await;
    let started = app.post_form(&tess, "/checkout", &[("course", "alpha")]).await;
    let test_page = started.header("location").to_owned();
    app.post_form(&tess, &format!("{test_page}/pay"), &[]).await;
    let order = count(&app.db, "SELECT id FROM orders WHERE status = 'paid'").await;
    let refunded = app
        .post_form(&maya, &format!("/admin/orders/{order}/refund"), &[])
        .await;
    assert_eq!(refunded.header("location"), "/admin/orders?notice=refunded");

    let sent = app
        .post_form(
            &maya,
            "/admin/announcements",
            &[
                ("course", "alpha"),
                ("audience", "both"),
                ("subject", "A note on week two"),
                ("body", "Hello."),
                ("action", "send"),
                ("form_key", "audit-announcement-key-0123456789"),
            ],
        )
        .await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.text(".error"));

    let rows = app.get_with(&maya, "/admin/audit").await.texts(".audit-table tbody tr");
    let has = |action: &str, who: &str, subject: &str| {
        rows.iter()
            .any(|r| r.contains(action) && r.contains(who) && r.contains(subject))
    };
    assert!(has("program.launch", "maya@example.com", "alpha"), "{rows:?}");
    assert!(has("program.launch", "scheduler", "beta"), "{rows:?}");
    assert!(has("program.schedule_launch", "maya@example.com", "beta"), "{rows:?}");
    assert!(has("program.unschedule_launch", "maya@example.com", "beta"), "{rows:?}");
    assert!(has("program.status", "maya@example.com", "to closed"), "{rows:?}");
    assert!(
        has("enrollment.grant", "maya@example.com", "ada@example.com"),
        "{rows:?}"
    );
    assert!(
        has("order.refund", "maya@example.com", &format!("order {order}")),
        "{rows:?}"
    );
    assert!(
        has("announcement.send", "maya@example.com", "A note on week two"),
        "{rows:?}"
    );
    // Newest first.
    assert!(rows[0].contains("announcement.send"), "{rows:?}");
    assert!(rows[1].contains("order.refund"), "{rows:?}");
}

async fn stale_forms_and_restores_do_not_undo_other_changes(backend: Backend) {
    let fx = Fixture::new();
    let app = app_with(&backend, &fx).await;
    let maya = app.instructor("maya@example.com", PW).await;
    // The edit form was opened while beta was in pre-enrollment; then beta launched.
    let form = app.get_with(&maya, "/admin/courses/beta/edit").await;
    let was = form
        .html()
        .select(&scraper::Selector::parse("input[name=status_was]").unwrap())
        .next()
        .map(|e| e.value().attr("value").unwrap_or("").to_string());
    assert_eq!(was.as_deref(), Some("preenrollment"));
    app.post_form(&maya, "/admin/courses/beta/launch", &[]).await;
    let mut fields = program_fields("Beta, typo fixed", "beta", "preenrollment", "200");
    fields.push(("status_was", "preenrollment"));
    let saved = app.post_form(&maya, "/admin/courses/beta/edit", &fields).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.text(".error"));
    assert_eq!(
        scalar(&app.db, "SELECT status FROM courses WHERE slug = 'beta'").await,
        "open",
        "the launch stands"
    );
    assert_eq!(
        scalar(&app.db, "SELECT title FROM courses WHERE slug = 'beta'").await,
        "Beta, typo fixed"
    );
    // A status the instructor did change, from a status that is no longer true, is refused.
    let mut fields = program_fields("Beta", "beta", "closed", "200");
    fields.push(("status_was", "preenrollment"));
    let refused = app.post_form(&maya, "/admin/courses/beta/edit", &fields).await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert!(
        refused
            .text("#f-status-error")
            .contains("changed while you were editing")
    );
    assert_eq!(
        scalar(&app.db, "SELECT status FROM courses WHERE slug = 'beta'").await,
        "open"
    );
    assert_eq!(
        scalar(&app.db, "SELECT title FROM courses WHERE slug = 'beta'").await,
        "Beta, typo fixed"
    );
    // Leaving pre-enrollment cancels a scheduled launch.
    let tz = app.state.catalog().tz.clone();
    let at = learnwell::local_time::input_value(app.state.clock.now() + Duration::hours(1), &tz);
    app.post_form(&maya, "/admin/courses/alpha/schedule", &[("at", &at)])
        .await;
    let mut fields = program_fields("Alpha Program", "alpha", "draft", "150");
    fields.push(("status_was", "preenrollment"));
    let drafted = app.post_form(&maya, "/admin/courses/alpha/edit", &fields).await;
    assert_eq!(drafted.status, StatusCode::SEE_OTHER, "{}", drafted.text(".error"));
    app.state.clock.advance(Duration::hours(2));
    assert_eq!(learnwell::launch::run_due(&app.state).await.unwrap(), 0);
    assert_eq!(
        scalar(&app.db, "SELECT status FROM courses WHERE slug = 'alpha'").await,
        "draft"
    );

    // A lesson archived on its own stays archived when its module is archived and restored.
    let wrap = lesson_id(&app, "wrap-up").await;
    let deeper = module_id(&app, "deeper").await;
    app.post_form(&maya, &format!("/admin/courses/alpha/lessons/{wrap}/archive"), &[])
        .await;
    app.state.clock.advance(Duration::minutes(1));
    app.post_form(&maya, &format!("/admin/courses/alpha/modules/{deeper}/archive"), &[])
        .await;
    // Restoring a lesson of an archived module is refused with the way to do it.
    let detail = lesson_id(&app, "detail").await;
    let refused = app
        .post_form(
            &maya,
            &format!("/admin/courses/alpha/lessons/{detail}/archive"),
            &[("restore", "1")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert!(refused.text(".error").contains("restore the module first"));
    app.state.clock.advance(Duration::minutes(1));
    app.post_form(
        &maya,
        &format!("/admin/courses/alpha/modules/{deeper}/archive"),
        &[("restore", "1")],
    )
    .await;
    let archived = |id: i64| format!("SELECT COUNT(*) FROM lessons WHERE id = {id} AND archived = TRUE");
    assert_eq!(count(&app.db, &archived(detail)).await, 0, "came back with its module");
    assert_eq!(
        count(&app.db, &archived(wrap)).await,
        1,
        "was archived on its own: stays archived"
    );
}

async fn half_written_lessons_links_and_new_programs_stay_safe(backend: Backend) {
    let fx = Fixture::new();
    let app = app_with(&backend, &fx).await;
    let maya = app.instructor("maya@example.com", PW).await;
    // A lesson added to a published module is not shown until it has text.
    let start = module_id(&app, "start").await.to_string();
    app.post_form(
        &maya,
        "/admin/courses/alpha/lessons",
        &[("module", &start), ("title", "Half written")],
    )
    .await;
    assert!(!app.get("/courses/alpha").await.visible_text().contains("Half written"));
    let id = lesson_id(&app, "half-written").await;
    let rev = revision(&app, id).await;
    save_body_of(
        &app,
        &maya,
        id,
        "half-written",
        "Half written",
        &start,
        "Now it has text.",
        &rev,
    )
    .await;
    assert!(app.get("/courses/alpha").await.visible_text().contains("Half written"));

    // A lesson others link to cannot be deleted or archived (their links would lead nowhere).
    let basics = lesson_id(&app, "basics").await;
    for action in ["delete", "archive"] {
        let page = app
            .post_form(&maya, &format!("/admin/courses/alpha/lessons/{basics}/{action}"), &[])
            .await;
        assert_eq!(page.status, StatusCode::CONFLICT, "{action}");
        assert!(
            page.text(".error").contains("linked from “Detail”"),
            "{}",
            page.text(".error")
        );
    }
    assert_eq!(
        count(
            &app.db,
            &format!("SELECT COUNT(*) FROM lessons WHERE id = {basics} AND archived = FALSE")
        )
        .await,
        1
    );

    // NUL characters are dropped, not stored (PostgreSQL would refuse them).
    let mut fields = program_fields("Nul\u{0}Program", "", "draft", "1");
    fields[2] = ("promise", "A promise\u{0}.");
    let created = app.post_form(&maya, "/admin/courses/new", &fields).await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.text(".error"));
    assert_eq!(
        scalar(&app.db, "SELECT title FROM courses WHERE slug = 'nulprogram'").await,
        "NulProgram"
    );

    // A program made in the studio keeps its uploads where the importer does not look, so the
    // next `content import` still works.
    app.post_form(&maya, "/admin/courses/nulprogram/modules", &[("title", "One")])
        .await;
    let one = module_id(&app, "one").await.to_string();
    app.post_form(
        &maya,
        "/admin/courses/nulprogram/lessons",
        &[("module", &one), ("title", "Opening")],
    )
    .await;
    let first = lesson_id(&app, "opening").await;
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(b"%PDF-1.7 x".to_vec()).file_name("guide.pdf"),
    );
    let up = app
        .request(
            maya.post(app.url(&format!("/admin/courses/nulprogram/lessons/{first}/downloads")))
                .header("Origin", &app.base)
                .multipart(form),
        )
        .await;
    assert_eq!(up.status, StatusCode::SEE_OTHER, "{}", up.text(".error"));
    assert_eq!(
        learnwell::files::read_all(&app.db, "_studio/nulprogram/downloads/guide.pdf")
            .await
            .unwrap()
            .as_deref(),
        Some(&b"%PDF-1.7 x"[..])
    );
    assert!(!fx.file("nulprogram").exists());
    let report = learnwell::content::import_with(&app.db, fx.path(), true).await;
    assert!(report.is_ok(), "{report:?}");
}

async fn a_database_from_before_the_studio_gets_its_markdown(backend: Backend) {
    let fx = Fixture::new();
    let app = app_with(&backend, &fx).await;
    // As an older version left it: rendered HTML, no Markdown, and hashes computed without it.
    db_run!(&app.db, pool => sqlx::query("UPDATE courses SET description_md = '', source_hash = 'from-an-older-version'").execute(pool).await.map(|_| ())).unwrap();
    assert!(learnwell::content::lacks_markdown_sources(&app.db).await.unwrap());
    learnwell::server::prepare(&app.config).await.unwrap();
    assert_eq!(
        scalar(&app.db, "SELECT description_md FROM courses WHERE slug = 'alpha'").await,
        "All about **alpha**."
    );
    assert!(!learnwell::content::lacks_markdown_sources(&app.db).await.unwrap());
}

async fn modules_are_edited_and_drip_publishing_tells_nobody_twice(backend: Backend) {
    let fx = Fixture::new();
    let app = app_with(&backend, &fx).await;
    let maya = app.instructor("maya@example.com", PW).await;
    open(&app, "alpha").await;
    let ada = student(&app, &maya, "Ada", "ada@example.com").await;
    app.post_form(&maya, "/admin/courses/alpha/modules", &[("title", "Week two")])
        .await;
    let mid = module_id(&app, "week-two").await;
    let path = format!("/admin/courses/alpha/modules/{mid}");
    let form = app.get_with(&maya, &path).await;
    assert_eq!(form.status, StatusCode::OK);

    // Bad input: empty title, a short name another module has, a drip that is not a number or date.
    for (fields, status) in [
        (
            vec![("title", " "), ("slug", ""), ("summary", ""), ("drip", "none")],
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            vec![
                ("title", "Week two"),
                ("slug", "start"),
                ("summary", ""),
                ("drip", "none"),
            ],
            StatusCode::CONFLICT,
        ),
        (
            vec![
                ("title", "Week two"),
                ("slug", ""),
                ("summary", ""),
                ("drip", "days"),
                ("unlock_after_days", "soon"),
            ],
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            vec![
                ("title", "Week two"),
                ("slug", ""),
                ("summary", ""),
                ("drip", "days"),
                ("unlock_after_days", "-1"),
            ],
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            vec![
                ("title", "Week two"),
                ("slug", ""),
                ("summary", ""),
                ("drip", "date"),
                ("unlock_on", "2027-02-30"),
            ],
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ] {
        let page = app.post_form(&maya, &path, &fields).await;
        assert_eq!(page.status, status, "{fields:?}");
        assert!(!page.text(".error").is_empty(), "{fields:?} says why");
    }
    // A good edit: it opens a day after enrollment.
    let saved = app
        .post_form(
            &maya,
            &path,
            &[
                ("title", "Week two: habits"),
                ("slug", "week-two"),
                ("summary", "Small daily habits."),
                ("drip", "days"),
                ("unlock_after_days", "1"),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.text(".error"));
    assert_eq!(
        count(
            &app.db,
            &format!("SELECT unlock_after_days FROM modules WHERE id = {mid}")
        )
        .await,
        1
    );
    app.post_form(
        &maya,
        "/admin/courses/alpha/lessons",
        &[("module", &mid.to_string()), ("title", "Tiny habits")],
    )
    .await;
    let lid = lesson_id(&app, "tiny-habits").await;
    let rev = revision(&app, lid).await;
    save_body_of(
        &app,
        &maya,
        lid,
        "tiny-habits",
        "Tiny habits",
        &mid.to_string(),
        "Start small.",
        &rev,
    )
    .await;

    // Two days later it is open for Ada. Published without the email, the drip job must not send
    // its own "is open" email either.
    app.state.clock.advance(Duration::days(2));
    let published = app
        .post_form(
            &maya,
            &format!("/admin/courses/alpha/modules/{mid}/publish"),
            &[("action", "publish")],
        )
        .await;
    assert_eq!(
        published.header("location"),
        format!("/admin/courses/alpha/content?notice=published#module-{mid}")
    );
    assert_eq!(
        learnwell::learning::notify_unlocked_modules(&app.state).await.unwrap(),
        0
    );
    assert_eq!(
        count(
            &app.db,
            "SELECT COUNT(*) FROM outbox WHERE to_addr = 'ada@example.com' AND subject LIKE '%is open%'"
        )
        .await,
        0
    );
    let syllabus = app.get_with(&ada, "/courses/alpha").await.visible_text();
    assert!(syllabus.contains("Week two: habits"), "{syllabus}");
    assert_eq!(
        app.get_with(&ada, "/courses/alpha/lessons/tiny-habits").await.status,
        StatusCode::OK
    );
}

async fn list_filters_refuse_unknown_values(backend: Backend) {
    let fx = Fixture::new();
    let app = app_with(&backend, &fx).await;
    let maya = app.instructor("maya@example.com", PW).await;
    for (path, status) in [
        ("/admin/orders?course=alpha&status=paid", StatusCode::OK),
        ("/admin/orders.csv?status=refunded", StatusCode::OK),
        ("/admin/orders?status=bogus", StatusCode::BAD_REQUEST),
        ("/admin/orders.csv?course=nope", StatusCode::BAD_REQUEST),
        ("/admin/preenrollments?course=beta&state=confirmed", StatusCode::OK),
        ("/admin/preenrollments.csv?state=enrolled", StatusCode::OK),
        ("/admin/preenrollments?state=bogus", StatusCode::BAD_REQUEST),
        ("/admin/preenrollments.csv?course=nope", StatusCode::BAD_REQUEST),
    ] {
        let page = app.get_with(&maya, path).await;
        assert_eq!(page.status, status, "{path}");
        if status == StatusCode::BAD_REQUEST {
            assert!(page.visible_text().contains("Unknown program or"), "{path} says why");
        }
    }
}
