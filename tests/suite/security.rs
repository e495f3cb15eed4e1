//! The edge: cross-site posts, rate limits, the studio's door, and where passwords never go.

use crate::common;

use common::{AppOptions, Backend, TestApp, new_client};
use learnwell::db_run;
use reqwest::StatusCode;

const PW: &str = "a calm long passphrase";

both_backends!(
    cross_site_posts_are_refused_and_change_nothing,
    auth_forms_are_rate_limited_per_ip,
    every_studio_route_refuses_anonymous_and_students,
    passwords_are_only_stored_as_argon2id,
    nul_characters_in_forms_never_cause_a_server_error,
    personal_pages_are_never_stored_public_ones_keep_their_caching,
);

async fn cross_site_posts_are_refused_and_change_nothing(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    let browser = app.signup("Kai", "kai@example.com", PW).await;
    // A page on another site posts to us with the victim's cookies: refused.
    for (origin, site) in [
        ("https://evil.example", "cross-site"),
        ("http://127.0.0.1:1", "same-site"),
    ] {
        let res = browser
            .post(app.url("/account/delete"))
            .header("Origin", origin)
            .header("Sec-Fetch-Site", site)
            .form(&[("password", PW)])
            .send()
            .await
            .unwrap();
        let page = common::Page::from(res).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{origin}");
        assert!(page.header("content-type").starts_with("text/html"));
        assert_eq!(page.text("h1"), "Not allowed");
    }
    let login = new_client()
        .post(app.url("/login"))
        .header("Sec-Fetch-Site", "cross-site")
        .form(&[("email", "kai@example.com"), ("password", PW)])
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::FORBIDDEN);
    // Still there, still signed in.
    assert_eq!(app.get_with(&browser, "/account").await.status, StatusCode::OK);
    let users: i64 =
        db_run!(&app.db, pool => sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(pool).await).unwrap();
    assert_eq!(users, 1);
}

async fn auth_forms_are_rate_limited_per_ip(backend: Backend) {
    let app = TestApp::spawn_with(&backend, AppOptions::env(&[("AUTH_RATE_LIMIT", "3")])).await;
    for path in ["/login", "/signup", "/forgot-password"] {
        let mut statuses = Vec::new();
        for _ in 0..4 {
            let page = app
                .post_form(
                    &new_client(),
                    path,
                    &[("email", "x@example.com"), ("password", "wrong password")],
                )
                .await;
            statuses.push(page.status);
            if page.status == StatusCode::TOO_MANY_REQUESTS {
                let retry: u64 = page.header("retry-after").parse().expect("Retry-After in seconds");
                assert!((1..=60).contains(&retry), "{retry}");
                assert_eq!(page.text("h1"), "Slow down", "a friendly page");
            }
        }
        assert_eq!(statuses[3], StatusCode::TOO_MANY_REQUESTS, "{path}: {statuses:?}");
        assert!(
            statuses[..3].iter().all(|s| *s != StatusCode::TOO_MANY_REQUESTS),
            "{path}: {statuses:?}"
        );
    }
    // Reading the pages is not limited.
    for _ in 0..5 {
        assert_eq!(app.get("/login").await.status, StatusCode::OK);
    }
}

async fn every_studio_route_refuses_anonymous_and_students(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    let student = app.signup("Lee", "lee@example.com", PW).await;
    let instructor = app.instructor("maya@example.com", PW).await;
    let paths = learnwell::admin::paths();
    assert!(paths.contains(&("/admin".to_string(), true)));
    assert!(paths.iter().any(|(p, get)| p.ends_with("/launch") && !get));
    for (path, has_page) in &paths {
        for method in [reqwest::Method::GET, reqwest::Method::POST] {
            let anon = app
                .request(
                    new_client()
                        .request(method.clone(), app.url(path))
                        .header("Origin", &app.base),
                )
                .await;
            assert_eq!(anon.status, StatusCode::SEE_OTHER, "{method} {path} anonymous");
            assert!(anon.header("location").starts_with("/login?next="), "{method} {path}");
            let denied = app
                .request(
                    student
                        .request(method.clone(), app.url(path))
                        .header("Origin", &app.base),
                )
                .await;
            assert_eq!(denied.status, StatusCode::FORBIDDEN, "{method} {path} student");
            assert_eq!(denied.text("h1"), "Not allowed");
        }
        // The instructor gets in: a page answers 200; an action refuses GET (405) rather than 403.
        let ok = app.get_with(&instructor, path).await;
        let expected = if *has_page {
            StatusCode::OK
        } else {
            StatusCode::METHOD_NOT_ALLOWED
        };
        assert_eq!(ok.status, expected, "GET {path} instructor");
    }
    let studio = app.get_with(&instructor, "/admin").await;
    assert!(studio.texts("td a").contains(&"Gut Foundations".to_string()));
    assert!(
        studio.links().contains(&"/admin".to_string()),
        "the nav shows the studio to instructors"
    );
    assert!(
        !app.get_with(&student, "/")
            .await
            .links()
            .contains(&"/admin".to_string())
    );
}

async fn passwords_are_only_stored_as_argon2id(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    app.signup("Mo", "mo@example.com", "zebra quartz unique seven").await;
    let hash: String =
        db_run!(&app.db, pool => sqlx::query_scalar("SELECT password_hash FROM users").fetch_one(pool).await).unwrap();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(!hash.contains("zebra"));
    let sessions: Vec<Vec<u8>> = match &app.db {
        learnwell::db::Db::Sqlite(pool) => sqlx::query_scalar("SELECT data FROM tower_sessions")
            .fetch_all(pool)
            .await
            .unwrap(),
        learnwell::db::Db::Postgres(pool) => sqlx::query_scalar("SELECT data FROM tower_sessions.session")
            .fetch_all(pool)
            .await
            .unwrap(),
    };
    assert!(!sessions.is_empty());
    assert!(sessions.iter().all(|s| !s.windows(5).any(|w| w == b"zebra")));
    let outbox: Vec<String> =
        db_run!(&app.db, pool => sqlx::query_scalar("SELECT body_text FROM outbox").fetch_all(pool).await).unwrap();
    assert!(outbox.iter().all(|s| !s.contains("zebra")));
}

/// PostgreSQL refuses NUL in text: a form carrying one gets a clear answer, never a 500.
async fn nul_characters_in_forms_never_cause_a_server_error(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    let maya = app.instructor("maya@example.com", PW).await;
    let kai = app.signup("Kai", "kai@example.com", PW).await;
    let nul = "x\u{0}y";
    type Case<'a> = (&'a reqwest::Client, &'a str, Vec<(&'a str, &'a str)>);
    let cases: Vec<Case> = vec![
        (
            &app.client,
            "/signup",
            vec![("name", nul), ("email", "nul@example.com"), ("password", PW)],
        ),
        (
            &app.client,
            "/signup",
            vec![
                ("name", "N"),
                ("email", "nul2@example.com"),
                ("password", "a calm long\u{0}passphrase"),
            ],
        ),
        (&app.client, "/login", vec![("email", nul), ("password", PW)]),
        (&app.client, "/forgot-password", vec![("email", nul)]),
        (
            &app.client,
            "/preenroll",
            vec![
                ("name", nul),
                ("email", "pre@example.com"),
                ("course", "gut-foundations"),
            ],
        ),
        (&kai, "/account/name", vec![("name", nul)]),
        (
            &maya,
            "/admin/announcements",
            vec![
                ("course", "gut-foundations"),
                ("audience", "both"),
                ("subject", nul),
                ("body", nul),
                ("action", "preview"),
            ],
        ),
        (
            &maya,
            "/admin/announcements",
            vec![
                ("course", "gut-foundations"),
                ("audience", "both"),
                ("subject", "Hello"),
                ("body", nul),
                ("action", "send"),
                ("form_key", "nul-form-key-0123456789abcdef"),
            ],
        ),
        (
            &maya,
            "/admin/enrollments",
            vec![("email", nul), ("course", "gut-foundations")],
        ),
        (&maya, "/admin/courses/gut-foundations/schedule", vec![("at", nul)]),
    ];
    for (client, path, fields) in cases {
        let page = app.post_form(client, path, &fields).await;
        assert!(!page.status.is_server_error(), "{path}: {}", page.status);
    }
}

/// Review F11: pages with personal or money data say `Cache-Control: no-store`, so a shared
/// computer's cache or a proxy never keeps them. A header a handler chose is kept (static assets'
/// long cache, the exports' own), and public pages shown to anonymous visitors stay cacheable.
async fn personal_pages_are_never_stored_public_ones_keep_their_caching(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    for slug in ["gut-foundations", "skin-from-within"] {
        learnwell::launch::launch_now(&app.state, slug, None).await.unwrap();
    }
    let no_store = |page: &common::Page, what: &str| {
        assert_eq!(page.header("cache-control"), "no-store", "{what}: {}", page.status);
    };
    let home = app.get("/").await;
    let css = home.attr("link[rel=stylesheet]", "href");
    assert!(css.starts_with("/static/"), "{css}");
    let asset_cache = app.get(&css).await.header("cache-control").to_owned();
    assert!(!asset_cache.is_empty() && asset_cache != "no-store", "{asset_cache}");

    // Anonymous visitors: the public pages carry no no-store (they are the same for everyone).
    for path in [
        "/",
        "/courses",
        "/courses/gut-foundations",
        "/courses/gut-foundations/glossary",
        "/courses/gut-foundations/worksheets",
        "/courses/gut-foundations/lessons/meet-your-microbiome",
        "/preenroll",
        "/login",
        "/signup",
    ] {
        let page = app.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert!(!page.header("cache-control").contains("no-store"), "{path}");
    }
    // Token links are never stored, whoever opens them.
    no_store(&app.get("/reset-password?token=abc").await, "a reset link");

    // A student: account, dashboard, lessons, the checkout's pages, and even public pages (their
    // name is in the header, their price on the program page).
    let sam = app.signup("Sam", "sam@example.com", PW).await;
    let started = app.post_form(&sam, "/checkout", &[("course", "gut-foundations")]).await;
    no_store(&started, "the checkout's redirect");
    let test_page = started.header("location").to_owned();
    assert!(test_page.starts_with("/checkout/test/"), "{test_page}");
    no_store(&app.get_with(&sam, &test_page).await, "the test checkout");
    let paid = app.post_form(&sam, &format!("{test_page}/pay"), &[]).await;
    let success = paid.header("location").to_owned();
    no_store(
        &app.get_with(&sam, "/learn/gut-foundations/acknowledge").await,
        "the acknowledgement",
    );
    app.acknowledge(&sam, "gut-foundations").await;
    assert!(success.starts_with("/checkout/success"), "{success}");
    for path in [
        "/account",
        "/dashboard",
        success.as_str(),
        "/courses/gut-foundations/lessons/what-your-microbes-do",
        "/learn/gut-foundations/notes",
        "/learn/gut-foundations/digestion-top-to-bottom/quiz",
        "/courses/skin-from-within/enroll",
        "/courses/gut-foundations",
        "/",
    ] {
        let page = app.get_with(&sam, path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        no_store(&page, path);
    }
    // A handler's own header is kept: the data export's, and the static assets' long cache.
    assert_eq!(
        app.get_with(&sam, "/account/data").await.header("cache-control"),
        "no-store"
    );
    assert_eq!(app.get_with(&sam, &css).await.header("cache-control"), asset_cache);
    // A locked lesson's 403 page (another program) is personal too.
    let locked = app
        .get_with(&sam, "/courses/skin-from-within/lessons/how-gut-and-skin-talk")
        .await;
    no_store(&locked, "a locked lesson");

    // The studio, every kind of page.
    let maya = app.instructor("maya@example.com", PW).await;
    for path in [
        "/admin",
        "/admin/orders",
        "/admin/courses/gut-foundations/content",
        "/admin/courses/gut-foundations/students",
        "/admin/preenrollments",
        "/admin/audit",
    ] {
        let page = app.get_with(&maya, path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        no_store(&page, path);
    }
    // Anonymous, the studio's door (a redirect to log in) is not stored either.
    no_store(&app.get("/admin/orders").await, "the studio's door");
}
