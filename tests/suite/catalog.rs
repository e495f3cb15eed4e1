//! The public pages, as a visitor sees them, on both backends.

use crate::common;

use common::fixture::{Fixture, lesson};
use common::{Backend, TestApp, files, fold};
use reqwest::StatusCode;

both_backends!(
    home_shows_the_practice_and_both_programs,
    courses_page_lists_programs_with_prices_and_bundle,
    each_program_page_shows_its_files,
    preview_lessons_open_and_the_rest_are_locked,
    unknown_pages_are_styled_404s,
    draft_programs_are_invisible,
    content_is_escaped_and_sanitised,
    headers_and_static_assets,
);

async fn home_shows_the_practice_and_both_programs(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    let site = files::site();
    let page = app.get("/").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.header("content-type"), "text/html; charset=utf-8");
    assert_eq!(page.text("h1"), fold(site["tagline"].as_str().unwrap()));
    assert!(page.text(".brand").contains(site["name"].as_str().unwrap()));
    let cards = page.texts(".course-card .card-title");
    let programs = files::programs();
    assert_eq!(programs.len(), 2, "two programs in course_content/");
    for p in &programs {
        assert!(
            cards.contains(&fold(p.str("title"))),
            "{cards:?} lacks {}",
            p.str("title")
        );
    }
    // Both programs start in pre-enrollment: the call to action is there, and a test-mode banner.
    let badges = page.texts(".course-card .badge");
    assert_eq!(badges, vec!["Coming soon"; programs.len()]);
    assert_eq!(page.text(".hero a.button"), "Pre-enroll", "the call to action");
    assert!(page.text(".test-banner").contains("no card is charged"));
    assert!(
        page.text("#about")
            .contains(site["instructor"]["name"].as_str().unwrap())
    );
    // Landmarks and the skip link.
    assert_eq!(page.texts("a.skip-link"), vec!["Skip to content"]);
    for landmark in ["header", "nav", "main#main", "footer"] {
        assert_eq!(page.texts(landmark).len(), 1, "{landmark}");
    }
}

async fn courses_page_lists_programs_with_prices_and_bundle(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    let page = app.get("/courses").await;
    assert_eq!(page.status, StatusCode::OK);
    let prices = page.texts(".course-card .price");
    assert_eq!(prices, vec!["$197", "$247"]);
    assert_eq!(
        page.text(".bundle-note"),
        "Both programs together: $379 (instead of $444)."
    );
}

async fn each_program_page_shows_its_files(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    for program in files::programs() {
        let page = app.get(&format!("/courses/{}", program.slug)).await;
        assert_eq!(page.status, StatusCode::OK, "{}", program.slug);
        assert_eq!(page.text("h1"), fold(program.str("title")));
        assert_eq!(page.text(".hero .lead"), fold(program.str("promise")));
        assert!(page.text(".hero .badge").contains("Coming soon"));
        let modules = page.texts(".syllabus-module h3");
        assert_eq!(modules.len(), program.modules.len());
        for (i, (shown, file)) in modules.iter().zip(&program.modules).enumerate() {
            assert_eq!(shown, &format!("Module {} {}", i + 1, fold(&file.title)));
        }
        let lessons = page.texts(".lesson-list li");
        let expected: Vec<_> = program.lessons().collect();
        assert_eq!(lessons.len(), expected.len());
        for (shown, file) in lessons.iter().zip(&expected) {
            assert!(
                shown.starts_with(&fold(&file.title).replace('\'', "’")) || shown.starts_with(&fold(&file.title)),
                "{shown} vs {}",
                file.title
            );
            assert_eq!(shown.contains("Free preview"), file.free_preview, "{shown}");
        }
        let questions = page.texts(".faq summary");
        let faq = program.course["faq"].as_array().unwrap();
        assert_eq!(questions.len(), faq.len());
        assert_eq!(questions[0], fold(faq[0]["q"].as_str().unwrap()));
        let price = program.course["price_cents"].as_integer().unwrap();
        assert_eq!(page.text(".offer .price"), format!("${}", price / 100));
        assert!(page.visible_text().contains("Dr. Maya Lindqvist"));
    }
}

async fn preview_lessons_open_and_the_rest_are_locked(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    let mut previews = 0;
    for program in files::programs() {
        let mut program_previews = 0;
        for lesson in program.lessons() {
            let page = app
                .get(&format!("/courses/{}/lessons/{}", program.slug, lesson.slug))
                .await;
            let secret = files::distinctive_sentence(&lesson.body);
            assert!(
                secret.len() > 20,
                "no distinctive sentence in {}",
                lesson.path.display()
            );
            if lesson.free_preview {
                program_previews += 1;
                assert_eq!(page.status, StatusCode::OK, "{}", lesson.slug);
                assert!(page.text(".lesson-body").contains(&secret), "{}: {secret}", lesson.slug);
                assert!(page.text(".notice").contains("education, not medical advice"));
                assert_eq!(page.texts(".lesson-nav .current").len(), 1);
            } else {
                assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", lesson.slug);
                assert!(page.text(".callout h2").contains("for enrolled students"));
                assert!(
                    !page.body.contains(&secret),
                    "locked lesson {} leaks its text",
                    lesson.slug
                );
                assert!(page.links().contains(&"/preenroll".to_string()));
            }
        }
        assert!(
            program_previews >= 2,
            "{} has {program_previews} free previews",
            program.slug
        );
        previews += program_previews;
    }
    assert!(previews >= 4);
}

async fn unknown_pages_are_styled_404s(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    let programs = files::programs();
    let other_lesson = programs[1].lessons().next().unwrap().slug.clone();
    for path in [
        "/nope".to_string(),
        "/courses/no-such-program".to_string(),
        format!("/courses/{}/lessons/no-such-lesson", programs[0].slug),
        // A lesson of the other program, under this one's URL.
        format!("/courses/{}/lessons/{other_lesson}", programs[0].slug),
        "/courses/%3Cscript%3E".to_string(),
        "/static/css/missing.css".to_string(),
    ] {
        let page = app.get(&path).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(page.text("h1"), "Page not found", "{path}");
        assert!(page.text(".brand").contains("Rootwell"), "{path}: styled with the site");
        assert!(!page.body.contains("<script>"));
    }
    // Percent-encoded forms of a page are the same page (and the same cache entry).
    let encoded = app.get("/courses/%67ut-foundations").await;
    assert_eq!(encoded.status, StatusCode::OK);
    assert_eq!(encoded.body, app.get("/courses/gut-foundations").await.body);
    let page = app.request(app.client.post(app.url("/"))).await;
    assert_eq!(page.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(page.header("content-type").starts_with("text/html"));
}

async fn draft_programs_are_invisible(backend: Backend) {
    let fx = Fixture::new();
    fx.write(
        "gamma/course.toml",
        "title = \"Gamma Secret\"\npromise = \"Hidden.\"\nprice_cents = 100\nstatus = \"draft\"\n",
    );
    fx.write("gamma/01-m/module.toml", "title = \"M\"\n");
    fx.write("gamma/01-m/01-l.md", &lesson("Hidden lesson", true, "Hidden body."));
    let app = TestApp::spawn_with_content(&backend, fx.path()).await;
    assert!(!app.get("/").await.body.contains("Gamma Secret"));
    assert!(!app.get("/courses").await.body.contains("Gamma Secret"));
    assert_eq!(app.get("/courses/gamma").await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get("/courses/gamma/lessons/l").await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get("/courses/alpha").await.status, StatusCode::OK);
}

async fn content_is_escaped_and_sanitised(backend: Backend) {
    let fx = Fixture::new();
    fx.write(
        "alpha/course.toml",
        r#"title = "Alpha <script>alert('t')</script> & Co"
promise = "Promise <b>bold</b>"
price_cents = 15000
description = "Hello <script>alert('d')</script><img src=x onerror=alert(1)> **world**"
who_for = ["<i>you</i>"]
[[faq]]
q = "<em>Q</em>?"
a = "[click](javascript:alert(2))"
"#,
    );
    fx.write(
        "alpha/01-start/01-welcome.md",
        &lesson("Welcome <script>x</script>", true, "Body <script>alert('b')</script> <iframe src=\"https://evil.example\"></iframe> <a href=\"https://ok.example\" onclick=\"x()\">ok</a>"),
    );
    let app = TestApp::spawn_with_content(&backend, fx.path()).await;
    let page = app.get("/courses/alpha").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.text("h1"), "Alpha <script>alert('t')</script> & Co");
    assert!(page.body.contains("Alpha &lt;script&gt;"), "title is escaped");
    assert!(!page.body.contains("<script"), "no script element anywhere");
    assert!(!page.body.contains("onerror") && !page.body.contains("javascript:"));
    assert!(page.body.contains("<strong>world</strong>"), "Markdown still renders");
    assert_eq!(page.texts(".check-list li"), vec!["<i>you</i>"]);
    assert_eq!(
        page.texts(".check-list i").len(),
        0,
        "markup in who_for is text, not HTML"
    );
    let lesson = app.get("/courses/alpha/lessons/welcome").await;
    assert_eq!(lesson.status, StatusCode::OK);
    assert!(!lesson.body.contains("<script") && !lesson.body.contains("<iframe src=\"https://evil"));
    assert!(!lesson.body.contains("onclick"));
    assert!(
        lesson
            .body
            .contains(r#"href="https://ok.example" rel="noopener noreferrer""#)
    );
    // A relative link between lessons became the lesson's URL.
    fx.write(
        "alpha/02-deeper/01-detail.md",
        &common::fixture::lesson("Detail", true, "See [the basics](../01-start/02-basics.md#why) again."),
    );
    app.import(fx.path()).await.unwrap();
    let detail = app.get("/courses/alpha/lessons/detail").await;
    assert_eq!(detail.status, StatusCode::OK);
    let hrefs: Vec<String> = detail
        .html()
        .select(&scraper::Selector::parse(".lesson-body a").unwrap())
        .filter_map(|a| a.value().attr("href").map(str::to_owned))
        .collect();
    assert_eq!(hrefs, vec!["/courses/alpha/lessons/basics#why"]);
}

async fn headers_and_static_assets(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    for path in ["/", "/nope", "/courses/gut-foundations"] {
        let page = app.get(path).await;
        let csp = page.header("content-security-policy");
        assert!(
            csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"),
            "{path}"
        );
        assert!(!csp.contains("unsafe-inline"));
        assert_eq!(page.header("x-content-type-options"), "nosniff");
        assert_eq!(page.header("referrer-policy"), "strict-origin-when-cross-origin");
        assert!(!page.header("x-request-id").is_empty());
        assert!(page.header("strict-transport-security").is_empty(), "no HSTS on http");
        // Visitors who have not logged in get no cookie at all.
        assert!(page.headers.get("set-cookie").is_none(), "{path} sets a cookie");
        // No inline script at all, so the CSP holds.
        assert!(!page.body.contains("<script"), "{path}");
    }
    let home = app.get("/").await;
    let css = home
        .html()
        .select(&scraper::Selector::parse("link[rel=stylesheet]").unwrap())
        .filter_map(|l| l.value().attr("href").map(str::to_owned))
        .next()
        .expect("stylesheet link");
    assert!(
        css.starts_with("/static/css/site.") && css.ends_with(".css") && css != "/static/css/site.css",
        "{css}"
    );
    let res = app.get(&css).await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.header("content-type"), "text/css");
    assert!(res.body.contains("--paper"));
    let cache = res.header("cache-control");
    if cfg!(debug_assertions) {
        assert_eq!(cache, "no-cache");
    } else {
        assert!(cache.contains("immutable"));
    }
}
