//! Learning: the dashboard, lessons with progress, resume, drip, downloads, certificates and the
//! instructor's view. Time is moved with the injected clock, never slept through.

use crate::common;

use common::fixture::{Fixture, lesson};
use common::{AppOptions, Backend, TestApp, new_client};
use learnwell::db::Db;
use learnwell::db_run;
use reqwest::StatusCode;
use time::Duration;

const PW: &str = "a calm long passphrase";

both_backends!(
    the_journey_from_enrollment_to_certificate,
    drip_by_days_and_by_date,
    downloads_only_for_students_and_only_their_files,
    a_locked_modules_downloads_wait_for_it_and_worksheets_do_not,
    bad_requests_write_nothing,
    the_instructor_sees_who_is_where,
    progress_survives_a_refund_and_a_reimport,
    a_certificate_stays_valid_after_a_refund,
    the_lesson_page_reads_the_student_and_their_seat_together,
    progress_survives_a_reorder_of_modules_and_lessons,
    students_sharing_a_lesson_page_see_only_their_own,
    students_sharing_a_dashboard_see_only_their_own,
);

async fn count(db: &Db, sql: &str) -> i64 {
    db_run!(db, pool => sqlx::query_scalar::<_, i64>(sql).fetch_one(pool).await).unwrap()
}

/// The fixture, with a downloadable checklist on alpha's "basics" lesson.
fn fixture() -> Fixture {
    let fx = Fixture::new();
    fx.write("alpha/downloads/checklist.pdf", "%PDF-1.4 a tiny checklist");
    fx.write(
        "alpha/01-start/02-basics.md",
        "+++\ntitle = \"The basics\"\nduration_minutes = 7\n[[downloads]]\ntitle = \"Checklist\"\nfile = \"downloads/checklist.pdf\"\n+++\n\nSecret basics body text.\n",
    );
    fx
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

/// Gives `email` a free seat in `course` from the studio.
async fn grant(app: &TestApp, maya: &reqwest::Client, email: &str, course: &str) {
    let page = app
        .post_form(maya, "/admin/enrollments", &[("email", email), ("course", course)])
        .await;
    assert_eq!(
        page.header("location"),
        "/admin?notice=granted",
        "{}",
        page.text(".error")
    );
    app.acknowledged(email, course).await;
}

async fn complete(app: &TestApp, client: &reqwest::Client, lesson: &str, done: bool) -> StatusCode {
    let done = if done { "true" } else { "false" };
    app.post_form(
        client,
        &format!("/courses/alpha/lessons/{lesson}/complete"),
        &[("done", done)],
    )
    .await
    .status
}

async fn the_journey_from_enrollment_to_certificate(backend: Backend) {
    let fx = fixture();
    let app = app_with(&backend, &fx).await;
    let maya = app.instructor("maya@example.com", PW).await;
    let ada = app.signup("Ada Lovelace", "ada@example.com", PW).await;
    grant(&app, &maya, "ada@example.com", "alpha").await;

    let dash = app.get_with(&ada, "/dashboard").await;
    assert_eq!(dash.text("#program-alpha .progress-numbers"), "0 of 4 lessons done");
    assert_eq!(dash.text("#program-alpha .next-lesson"), "Next: Welcome to alpha");
    let cont = dash
        .html()
        .select(&scraper::Selector::parse("#program-alpha a.continue").unwrap())
        .next()
        .unwrap()
        .value()
        .attr("href")
        .unwrap()
        .to_owned();
    assert_eq!(cont, "/courses/alpha/lessons/welcome");

    // A student's lesson page: the body, Mark complete, the syllabus with ticks.
    let page = app.get_with(&ada, "/courses/alpha/lessons/detail").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.text(".complete-box button"), "Mark complete");
    assert!(page.text(".lesson-body").contains("See"));
    // Resume: the lesson opened last, not yet done.
    let dash = app.get_with(&ada, "/dashboard").await;
    assert_eq!(dash.text("#program-alpha .next-lesson"), "Next: Detail");

    assert_eq!(complete(&app, &ada, "detail", true).await, StatusCode::SEE_OTHER);
    assert_eq!(
        complete(&app, &ada, "detail", true).await,
        StatusCode::SEE_OTHER,
        "twice is fine"
    );
    assert_eq!(
        count(
            &app.db,
            "SELECT COUNT(*) FROM lesson_progress WHERE completed_at IS NOT NULL"
        )
        .await,
        1
    );
    let page = app.get_with(&ada, "/courses/alpha/lessons/detail").await;
    assert!(page.text(".complete-box .done-note").starts_with("Done."));
    assert_eq!(page.text(".complete-box button"), "Mark as not done");
    assert!(page.texts(".lesson-nav li.done a").iter().any(|t| t.contains("Detail")));
    assert_eq!(page.text(".complete-box .meta"), "1 of 4 lessons done");
    // Undo.
    assert_eq!(complete(&app, &ada, "detail", false).await, StatusCode::SEE_OTHER);
    assert_eq!(
        count(
            &app.db,
            "SELECT COUNT(*) FROM lesson_progress WHERE completed_at IS NOT NULL"
        )
        .await,
        0
    );
    // Resume moves on once the last opened lesson is done: the next unfinished one after it.
    complete(&app, &ada, "detail", true).await;
    let dash = app.get_with(&ada, "/dashboard").await;
    assert_eq!(dash.text("#program-alpha .next-lesson"), "Next: Wrapping up");
    assert_eq!(dash.text("#program-alpha .progress-numbers"), "1 of 4 lessons done");
    assert_eq!(
        dash.html()
            .select(&scraper::Selector::parse("#program-alpha .progress").unwrap())
            .next()
            .unwrap()
            .value()
            .attr("value"),
        Some("1")
    );

    for l in ["welcome", "basics", "wrap-up"] {
        assert!(dash.certificate_link().is_none());
        complete(&app, &ada, l, true).await;
    }
    let page = app.get_with(&ada, "/courses/alpha/lessons/wrap-up").await;
    assert!(page.text(".finished").contains("You finished Alpha Program"));
    let dash = app.get_with(&ada, "/dashboard").await;
    assert_eq!(dash.text("#program-alpha .progress-numbers"), "4 of 4 lessons done");
    let cert = dash.certificate_link().expect("a certificate link");
    assert_eq!(count(&app.db, "SELECT COUNT(*) FROM completions").await, 1);

    // Anyone can verify it: name, program, date, and nothing else.
    let public = app.get(&cert).await;
    assert_eq!(public.status, StatusCode::OK);
    assert_eq!(public.text(".cert-name"), "Ada Lovelace");
    assert_eq!(public.text(".cert-course"), "Alpha Program");
    assert!(public.text(".cert-date").starts_with("on "));
    assert!(!public.body.contains("ada@example.com"));
    assert!(public.text(".cert-verify").contains(&format!("{}{cert}", app.base)));
    assert_eq!(
        app.get("/certificates/not-a-real-code").await.status,
        StatusCode::NOT_FOUND
    );
    // Undoing a lesson afterwards does not take the certificate away.
    complete(&app, &ada, "basics", false).await;
    assert_eq!(app.get(&cert).await.status, StatusCode::OK);
}

trait CertificateLink {
    fn certificate_link(&self) -> Option<String>;
}

impl CertificateLink for common::Page {
    fn certificate_link(&self) -> Option<String> {
        self.links().into_iter().find(|l| l.starts_with("/certificates/"))
    }
}

async fn drip_by_days_and_by_date(backend: Backend) {
    let fx = fixture();
    fx.write(
        "alpha/02-deeper/module.toml",
        "title = \"Going deeper\"\nunlock_after_days = 7\n",
    );
    let app = app_with(&backend, &fx).await;
    // Beta gets a second module that opens on a date ten days from now (in the site's zone).
    let tz = learnwell::local_time::zone("America/Chicago").unwrap();
    let date = learnwell::local_time::input_value(app.state.clock.now() + Duration::days(10), &tz)[..10].to_owned();
    fx.write(
        "beta/02-later/module.toml",
        &format!("title = \"Later\"\nunlock_on = \"{date}\"\n"),
    );
    fx.write(
        "beta/02-later/01-later-lesson.md",
        &lesson("A later lesson", false, "Later body."),
    );
    app.import(fx.path()).await.unwrap();

    let maya = app.instructor("maya@example.com", PW).await;
    let bea = app.signup("Bea", "bea@example.com", PW).await;
    grant(&app, &maya, "bea@example.com", "alpha").await;
    grant(&app, &maya, "bea@example.com", "beta").await;

    let locked = app.get_with(&bea, "/courses/alpha/lessons/detail").await;
    assert_eq!(locked.status, StatusCode::FORBIDDEN);
    assert!(
        locked.text(".callout h2").starts_with("This module opens"),
        "{}",
        locked.text(".callout")
    );
    assert!(locked.text(".lesson-nav .opens").starts_with("Opens"));
    assert_eq!(complete(&app, &bea, "detail", true).await, StatusCode::FORBIDDEN);
    assert_eq!(
        count(&app.db, "SELECT COUNT(*) FROM lesson_progress").await,
        0,
        "nothing written"
    );
    let dash = app.get_with(&bea, "/dashboard").await;
    assert_eq!(
        dash.text("#program-alpha .progress-numbers"),
        "0 of 2 lessons done (2 more open later)"
    );
    // The instructor sees every module.
    assert_eq!(
        app.get_with(&maya, "/courses/alpha/lessons/detail").await.status,
        StatusCode::OK
    );
    // Nothing to tell yet.
    assert_eq!(
        learnwell::learning::notify_unlocked_modules(&app.state).await.unwrap(),
        0
    );

    // A day short: still locked. Seven days: open, and she is told once.
    app.state.clock.advance(Duration::days(6));
    assert_eq!(
        app.get_with(&bea, "/courses/alpha/lessons/detail").await.status,
        StatusCode::FORBIDDEN
    );
    app.state.clock.advance(Duration::days(1));
    assert_eq!(
        app.get_with(&bea, "/courses/alpha/lessons/detail").await.status,
        StatusCode::OK
    );
    assert_eq!(
        learnwell::learning::notify_unlocked_modules(&app.state).await.unwrap(),
        1
    );
    assert_eq!(
        learnwell::learning::notify_unlocked_modules(&app.state).await.unwrap(),
        0
    );
    learnwell::mail::worker::run_once(&app.state).await.unwrap();
    let mails = app.smtp.wait_for("bea@example.com", 2).await;
    let open = mails.iter().find(|m| m.subject().contains("is open")).unwrap();
    assert_eq!(open.subject(), "Module 2 of Alpha Program is open");
    assert!(open.text().contains("/courses/alpha/lessons/detail"));

    // The fixed date: locked until midnight of that day in Chicago.
    assert_eq!(
        app.get_with(&bea, "/courses/beta/lessons/later-lesson").await.status,
        StatusCode::FORBIDDEN
    );
    app.state.clock.advance(Duration::days(3));
    assert_eq!(
        app.get_with(&bea, "/courses/beta/lessons/later-lesson").await.status,
        StatusCode::OK
    );
    assert_eq!(
        learnwell::learning::notify_unlocked_modules(&app.state).await.unwrap(),
        1
    );

    // Someone who enrolls after the date is not made to wait, and gets no "now open" email for it.
    let cy = app.signup("Cy", "cy@example.com", PW).await;
    grant(&app, &maya, "cy@example.com", "beta").await;
    assert_eq!(
        app.get_with(&cy, "/courses/beta/lessons/later-lesson").await.status,
        StatusCode::OK
    );
    assert_eq!(
        learnwell::learning::notify_unlocked_modules(&app.state).await.unwrap(),
        0
    );
}

async fn downloads_only_for_students_and_only_their_files(backend: Backend) {
    let fx = fixture();
    let app = app_with(&backend, &fx).await;
    let maya = app.instructor("maya@example.com", PW).await;
    let dee = app.signup("Dee", "dee@example.com", PW).await;
    let outsider = app.signup("Out", "out@example.com", PW).await;
    grant(&app, &maya, "dee@example.com", "alpha").await;

    let page = app.get_with(&dee, "/courses/alpha/lessons/basics").await;
    let url = "/courses/alpha/lessons/basics/downloads/checklist.pdf";
    assert!(page.links().contains(&url.to_string()), "{:?}", page.links());
    let res = dee.get(app.url(url)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "application/pdf");
    assert_eq!(
        res.headers()["content-disposition"],
        "attachment; filename=\"checklist.pdf\""
    );
    assert_eq!(res.text().await.unwrap(), "%PDF-1.4 a tiny checklist");
    assert_eq!(app.get_with(&maya, url).await.status, StatusCode::OK, "instructors too");

    assert_eq!(app.get_with(&outsider, url).await.status, StatusCode::FORBIDDEN);
    assert!(app.get(url).await.header("location").starts_with("/login"));
    // Names that are not the lesson's files, whatever they point at.
    for tricky in [
        "..%2F..%2Fsite.toml",
        "..%2Fcourse.toml",
        "%2e%2e%2f%2e%2e%2fsite.toml",
        "site.toml",
        "downloads%2Fchecklist.pdf",
        "checklist.pdf%00.txt",
    ] {
        let page = app
            .get_with(&dee, &format!("/courses/alpha/lessons/basics/downloads/{tricky}"))
            .await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{tricky}");
        assert!(!page.body.contains("Fixture Practice\"\n"), "{tricky}");
    }
    // The right name on another lesson is not a file of that lesson.
    let other = app
        .get_with(&dee, "/courses/alpha/lessons/detail/downloads/checklist.pdf")
        .await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);
    // The import copied the file into the database: removed from disk, it is still served.
    fx.remove("alpha/downloads/checklist.pdf");
    let page = app.get_with(&dee, url).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.body, "%PDF-1.4 a tiny checklist");
    // A file the database does not hold: 404, not 500.
    db_run!(&app.db, pool => sqlx::query("DELETE FROM stored_files").execute(pool).await.map(|_| ())).unwrap();
    assert_eq!(app.get_with(&dee, url).await.status, StatusCode::NOT_FOUND);
}

/// Drip applies to a lesson's files as to the lesson: a student asking for a download of a module
/// that has not opened yet gets 403, like the lesson and "Mark complete". Worksheets (and their
/// CSVs) are tools for the whole program and keep their own rule: no drip.
async fn a_locked_modules_downloads_wait_for_it_and_worksheets_do_not(backend: Backend) {
    let fx = common::fixture::Fixture::with_pages();
    fx.write("alpha/downloads/detail-notes.pdf", "%PDF-1.4 detail notes");
    fx.write(
        "alpha/02-deeper/01-detail.md",
        "+++\ntitle = \"Detail\"\nduration_minutes = 7\n[[downloads]]\ntitle = \"Notes\"\nfile = \"downloads/detail-notes.pdf\"\n+++\n\nDetail body.\n\n## Try this week\nRest.\n",
    );
    fx.write(
        "alpha/02-deeper/module.toml",
        "title = \"Going deeper\"\nunlock_after_days = 7\n",
    );
    let app = app_with(&backend, &fx).await;
    let maya = app.instructor("maya@example.com", PW).await;
    let gina = app.signup("Gina", "gina@example.com", PW).await;
    grant(&app, &maya, "gina@example.com", "alpha").await;

    let file = "/courses/alpha/lessons/detail/downloads/detail-notes.pdf";
    assert_eq!(
        app.get_with(&gina, "/courses/alpha/lessons/detail").await.status,
        StatusCode::FORBIDDEN
    );
    let locked = app.get_with(&gina, file).await;
    assert_eq!(locked.status, StatusCode::FORBIDDEN, "a locked module's file");
    assert!(!locked.body.contains("detail notes"));
    assert!(locked.header("content-disposition").is_empty());
    // The instructor reads every module, files included.
    assert_eq!(app.get_with(&maya, file).await.status, StatusCode::OK);
    // The worksheet's CSV follows the worksheet's rule (students of the program), not drip.
    let csv = app.get_with(&gina, "/courses/alpha/worksheets/diary/csv").await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(csv.body.starts_with("Date,"));

    // The day the module opens, its file opens with it.
    app.state.clock.advance(Duration::days(6));
    assert_eq!(app.get_with(&gina, file).await.status, StatusCode::FORBIDDEN);
    app.state.clock.advance(Duration::days(1));
    let open = app.get_with(&gina, file).await;
    assert_eq!(open.status, StatusCode::OK);
    assert_eq!(open.body, "%PDF-1.4 detail notes");
}

async fn bad_requests_write_nothing(backend: Backend) {
    let fx = fixture();
    let app = app_with(&backend, &fx).await;
    let maya = app.instructor("maya@example.com", PW).await;
    let eve = app.signup("Eve", "eve@example.com", PW).await;
    grant(&app, &maya, "eve@example.com", "beta").await;
    // A lesson slug of another program.
    assert_eq!(
        app.get_with(&eve, "/courses/alpha/lessons/first").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.post_form(&eve, "/courses/alpha/lessons/first/complete", &[])
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    // A program she is not enrolled in.
    assert_eq!(complete(&app, &eve, "basics", true).await, StatusCode::FORBIDDEN);
    assert_eq!(
        complete(&app, &eve, "no-such-lesson", true).await,
        StatusCode::NOT_FOUND
    );
    // Anonymous, and from another site.
    let anon = app
        .post_form(&new_client(), "/courses/beta/lessons/first/complete", &[])
        .await;
    assert!(anon.header("location").starts_with("/login"));
    let cross = eve
        .post(app.url("/courses/beta/lessons/first/complete"))
        .header("Origin", "https://evil.example")
        .header("Sec-Fetch-Site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), StatusCode::FORBIDDEN);
    // An instructor previewing has no progress to record.
    assert_eq!(complete(&app, &maya, "basics", true).await, StatusCode::FORBIDDEN);
    assert_eq!(count(&app.db, "SELECT COUNT(*) FROM lesson_progress").await, 0);
    // Completing twice, and the GET of a POST route.
    let ok = app.post_form(&eve, "/courses/beta/lessons/first/complete", &[]).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER);
    app.post_form(&eve, "/courses/beta/lessons/first/complete", &[]).await;
    assert_eq!(count(&app.db, "SELECT COUNT(*) FROM lesson_progress").await, 1);
    assert_eq!(
        app.get_with(&eve, "/courses/beta/lessons/first/complete").await.status,
        StatusCode::METHOD_NOT_ALLOWED
    );
}

async fn the_instructor_sees_who_is_where(backend: Backend) {
    let fx = fixture();
    let app = app_with(&backend, &fx).await;
    let maya = app.instructor("maya@example.com", PW).await;
    let fay = app.signup("Fay", "fay@example.com", PW).await;
    let gus = app.signup("Gus", "gus@example.com", PW).await;
    grant(&app, &maya, "fay@example.com", "alpha").await;
    grant(&app, &maya, "gus@example.com", "alpha").await;
    for l in ["welcome", "basics", "detail"] {
        app.get_with(&fay, &format!("/courses/alpha/lessons/{l}")).await;
        complete(&app, &fay, l, true).await;
    }
    app.get_with(&gus, "/courses/alpha/lessons/welcome").await;
    complete(&app, &gus, "welcome", true).await;

    let page = app.get_with(&maya, "/admin/courses/alpha/students").await;
    assert_eq!(page.status, StatusCode::OK);
    let rows = page.texts(".students-table tbody tr");
    assert_eq!(rows.len(), 2);
    assert!(
        rows[0].starts_with("Fay") && rows[0].contains("75%") && rows[0].contains("Going deeper"),
        "{rows:?}"
    );
    assert!(
        rows[1].starts_with("Gus") && rows[1].contains("25%") && rows[1].contains("Starting out"),
        "{rows:?}"
    );
    assert_eq!(page.texts(".lessons-table .completed"), ["2", "1", "1", "0"]);
    // Students cannot see it.
    assert_eq!(
        app.get_with(&fay, "/admin/courses/alpha/students").await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get_with(&maya, "/admin/courses/nope/students").await.status,
        StatusCode::NOT_FOUND
    );
}

async fn progress_survives_a_refund_and_a_reimport(backend: Backend) {
    let fx = fixture();
    fx.write(
        "alpha/course.toml",
        "title = \"Alpha Program\"\npromise = \"Learn the alpha way.\"\nprice_cents = 15000\nposition = 1\nstatus = \"open\"\n",
    );
    let app = app_with(&backend, &fx).await;
    let maya = app.instructor("maya@example.com", PW).await;
    let hal = app.signup("Hal", "hal@example.com", PW).await;
    let buy = |client: reqwest::Client| {
        let app = &app;
        async move {
            let started = app.post_form(&client, "/checkout", &[("course", "alpha")]).await;
            let test_page = started.header("location").to_owned();
            app.post_form(&client, &format!("{test_page}/pay"), &[]).await;
            test_page.rsplit('/').next().unwrap().to_owned()
        }
    };
    let order = buy(hal.clone()).await;
    for l in ["welcome", "basics"] {
        complete(&app, &hal, l, true).await;
    }
    app.post_form(&maya, &format!("/admin/orders/{order}/refund"), &[])
        .await;
    assert_eq!(
        app.get_with(&hal, "/courses/alpha/lessons/basics").await.status,
        StatusCode::FORBIDDEN
    );
    assert!(
        app.get_with(&hal, "/dashboard")
            .await
            .texts("#program-alpha")
            .is_empty()
    );
    // Back again: the progress is where it was.
    buy(hal.clone()).await;
    let dash = app.get_with(&hal, "/dashboard").await;
    assert_eq!(dash.text("#program-alpha .progress-numbers"), "2 of 4 lessons done");
    // A re-import that edits a lesson keeps it too.
    fx.write(
        "alpha/01-start/01-welcome.md",
        &lesson("Welcome to alpha, revised", true, "New words."),
    );
    app.import(fx.path()).await.unwrap();
    let dash = app.get_with(&hal, "/dashboard").await;
    assert_eq!(dash.text("#program-alpha .progress-numbers"), "2 of 4 lessons done");
    let page = app.get_with(&hal, "/courses/alpha/lessons/welcome").await;
    assert_eq!(page.text("h1"), "Welcome to alpha, revised");
    assert_eq!(page.text(".complete-box button"), "Mark as not done");
}

/// Review I10, decided: a certificate records that a person completed a program, so it stays
/// valid after the order is refunded. The refund ends access to the lessons, not the fact; the
/// student still finds the certificate on their dashboard.
async fn a_certificate_stays_valid_after_a_refund(backend: Backend) {
    let fx = fixture();
    fx.write(
        "alpha/course.toml",
        "title = \"Alpha Program\"\npromise = \"Learn the alpha way.\"\nprice_cents = 15000\nposition = 1\nstatus = \"open\"\n",
    );
    let app = app_with(&backend, &fx).await;
    let maya = app.instructor("maya@example.com", PW).await;
    let ivy = app.signup("Ivy Finisher", "ivy@example.com", PW).await;
    let started = app.post_form(&ivy, "/checkout", &[("course", "alpha")]).await;
    let test_page = started.header("location").to_owned();
    app.post_form(&ivy, &format!("{test_page}/pay"), &[]).await;
    let order = test_page.rsplit('/').next().unwrap().to_owned();
    for l in ["welcome", "basics", "detail", "wrap-up"] {
        assert_eq!(complete(&app, &ivy, l, true).await, StatusCode::SEE_OTHER);
    }
    let cert = app
        .get_with(&ivy, "/dashboard")
        .await
        .certificate_link()
        .expect("a certificate");

    let refund = app
        .post_form(&maya, &format!("/admin/orders/{order}/refund"), &[])
        .await;
    assert_eq!(refund.status, StatusCode::SEE_OTHER, "{}", refund.text(".error"));
    assert_eq!(
        count(&app.db, "SELECT COUNT(*) FROM orders WHERE status = 'refunded'").await,
        1
    );
    // Access ends...
    assert_eq!(
        app.get_with(&ivy, "/courses/alpha/lessons/basics").await.status,
        StatusCode::FORBIDDEN
    );
    // ...the certificate does not: anyone can still verify it, and it says what it means.
    let public = app.get(&cert).await;
    assert_eq!(public.status, StatusCode::OK);
    assert_eq!(public.text(".cert-name"), "Ivy Finisher");
    assert_eq!(public.text(".cert-course"), "Alpha Program");
    assert!(
        public
            .text(".cert-validity")
            .contains("a later refund ends access to the lessons")
    );
    // The program is gone from her dashboard's programs, and its certificate is still there.
    let dash = app.get_with(&ivy, "/dashboard").await;
    assert!(dash.texts("#program-alpha").is_empty());
    assert_eq!(dash.texts(".earlier-certificates li"), vec!["Alpha Program"]);
    assert_eq!(dash.certificate_link().as_deref(), Some(cert.as_str()));
}

/// The lesson page reads who is asking and their seat in one query: it must count only this
/// program's completions, and keep every check the other pages make (a session from before a
/// password change is ended, a revoked seat opens nothing, an instructor is not a student).
async fn the_lesson_page_reads_the_student_and_their_seat_together(backend: Backend) {
    let fx = fixture();
    let app = app_with(&backend, &fx).await;
    let maya = app.instructor("maya@example.com", PW).await;
    let ada = app.signup("Ada Lovelace", "ada@example.com", PW).await;
    let other_device = app.login("ada@example.com", PW).await;
    grant(&app, &maya, "ada@example.com", "alpha").await;
    grant(&app, &maya, "ada@example.com", "beta").await;
    for l in ["welcome", "detail"] {
        assert_eq!(complete(&app, &ada, l, true).await, StatusCode::SEE_OTHER);
    }
    let beta_done = app
        .post_form(&ada, "/courses/beta/lessons/first/complete", &[("done", "true")])
        .await;
    assert_eq!(beta_done.status, StatusCode::SEE_OTHER);

    // Two of alpha's four lessons: beta's completion is not counted here, and the ticks are right.
    let page = app.get_with(&ada, "/courses/alpha/lessons/basics").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.attr(".lesson-nav progress", "value"), "2");
    assert_eq!(page.text(".complete-box .meta"), "2 of 4 lessons done");
    assert_eq!(page.text(".complete-box button"), "Mark complete");
    // The syllabus beside it: ticks for what is done, the current lesson marked, no locks.
    assert_eq!(page.texts(".lesson-nav .tick").len(), 4);
    let done: Vec<String> = page.texts(".lesson-nav li.done a");
    assert_eq!(done.len(), 2, "{done:?}");
    assert!(
        done[0].contains("Welcome to alpha") && done[1].contains("Detail"),
        "{done:?}"
    );
    assert_eq!(
        page.attr(".lesson-nav a[aria-current=page]", "href"),
        "/courses/alpha/lessons/basics"
    );
    assert!(page.texts(".lesson-nav img.lock").is_empty());
    let page = app.get_with(&ada, "/courses/alpha/lessons/detail").await;
    assert_eq!(page.text(".complete-box button"), "Mark as not done");
    let page = app.get_with(&ada, "/courses/beta/lessons/first").await;
    assert_eq!(page.text(".complete-box .meta"), "1 of 1 lessons done");

    // A seat with no completions yet.
    let bo = app.signup("Bo", "bo@example.com", PW).await;
    grant(&app, &maya, "bo@example.com", "alpha").await;
    let page = app.get_with(&bo, "/courses/alpha/lessons/basics").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.attr(".lesson-nav progress", "value"), "0");

    // No seat in the program: a lesson that is not a preview stays locked.
    let cy = app.signup("Cy", "cy@example.com", PW).await;
    let locked = app.get_with(&cy, "/courses/alpha/lessons/basics").await;
    assert_eq!(locked.status, StatusCode::FORBIDDEN);
    assert!(locked.texts(".complete-box").is_empty());

    // A visitor on a free preview: the syllabus shows which lessons need a seat, and no ticks.
    let preview = app.get_with(&new_client(), "/courses/alpha/lessons/welcome").await;
    assert_eq!(preview.status, StatusCode::OK);
    assert_eq!(
        preview
            .html()
            .select(&scraper::Selector::parse(".lesson-nav img.lock").unwrap())
            .count(),
        3
    );
    assert!(preview.texts(".lesson-nav .tick").is_empty());
    assert_eq!(
        preview.attr(".lesson-nav a[aria-current=page]", "href"),
        "/courses/alpha/lessons/welcome"
    );
    // The instructor reads every lesson, without a student's progress box or locks.
    let page = app.get_with(&maya, "/courses/alpha/lessons/basics").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.texts(".complete-box").is_empty());
    assert_eq!(
        page.html()
            .select(&scraper::Selector::parse(".lesson-nav img.lock").unwrap())
            .count(),
        0
    );
    assert_eq!(
        page.html()
            .select(&scraper::Selector::parse(".lesson-nav ol ol a").unwrap())
            .count(),
        4
    );

    // A password changed on one device ends the other device's session on the lesson page too.
    let changed = app
        .post_form(
            &ada,
            "/account/password",
            &[("current_password", PW), ("new_password", "another fine passphrase")],
        )
        .await;
    assert_eq!(changed.header("location"), "/account?notice=password-changed");
    let stale = app.get_with(&other_device, "/courses/alpha/lessons/basics").await;
    assert_eq!(stale.status, StatusCode::FORBIDDEN, "the old session is no student now");
    assert!(stale.texts(".complete-box").is_empty());
    assert_eq!(stale.text("header a[href='/login']"), "Log in");
    assert_eq!(
        app.get_with(&other_device, "/account").await.status,
        StatusCode::SEE_OTHER,
        "and it stays ended"
    );
    assert_eq!(
        app.get_with(&ada, "/courses/alpha/lessons/basics").await.status,
        StatusCode::OK
    );

    // A revoked seat opens nothing, though the progress is kept.
    const REVOKE: &str = "UPDATE enrollments SET status = 'revoked' \
        WHERE course_id = (SELECT id FROM courses WHERE slug = 'alpha') \
        AND user_id = (SELECT id FROM users WHERE email = 'ada@example.com')";
    db_run!(&app.db, pool => sqlx::query(REVOKE).execute(pool).await.map(|r| r.rows_affected())).unwrap();
    let page = app.get_with(&ada, "/courses/alpha/lessons/basics").await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(page.texts(".complete-box").is_empty());
    let page = app.get_with(&ada, "/courses/beta/lessons/first").await;
    assert_eq!(page.status, StatusCode::OK, "the other seat still opens");
}

async fn lesson_ids(db: &Db) -> Vec<(String, i64)> {
    db_run!(db, pool => sqlx::query_as::<_, (String, i64)>(
        "SELECT slug, id FROM lessons WHERE slug IN ('welcome', 'basics', 'detail', 'wrap-up') ORDER BY slug")
        .fetch_all(pool).await)
    .unwrap()
}

/// The files reorganised: module folders renamed and renumbered, lessons moved between modules, a
/// new module in front. Lessons keep their slugs, so they keep their ids, and students their
/// progress and their place; the old modules are archived.
async fn progress_survives_a_reorder_of_modules_and_lessons(backend: Backend) {
    let fx = fixture();
    let app = app_with(&backend, &fx).await;
    let maya = app.instructor("maya@example.com", PW).await;
    let ada = app.signup("Ada Lovelace", "ada@example.com", PW).await;
    grant(&app, &maya, "ada@example.com", "alpha").await;
    for l in ["welcome", "detail"] {
        app.get_with(&ada, &format!("/courses/alpha/lessons/{l}")).await;
        assert_eq!(complete(&app, &ada, l, true).await, StatusCode::SEE_OTHER);
    }
    // Where she is now: wrap-up, opened, not done.
    assert_eq!(
        app.get_with(&ada, "/courses/alpha/lessons/wrap-up").await.status,
        StatusCode::OK
    );
    let dash = app.get_with(&ada, "/dashboard").await;
    assert_eq!(dash.text("#program-alpha .progress-numbers"), "2 of 4 lessons done");
    assert_eq!(dash.text("#program-alpha .next-lesson"), "Next: Wrapping up");
    let ids = lesson_ids(&app.db).await;

    // 01-start and 02-deeper become 02-foundations (welcome, detail) and 03-closing (basics,
    // wrap-up), after a new 01-intro.
    let move_file = |from: &str, to: &str| {
        std::fs::create_dir_all(fx.file(to).parent().unwrap()).unwrap();
        std::fs::rename(fx.file(from), fx.file(to)).unwrap();
    };
    fx.write("alpha/01-intro/module.toml", "title = \"Before you begin\"\n");
    fx.write(
        "alpha/01-intro/01-hello.md",
        &lesson("Hello", false, "A new first lesson."),
    );
    fx.write("alpha/02-foundations/module.toml", "title = \"Foundations\"\n");
    move_file("alpha/01-start/01-welcome.md", "alpha/02-foundations/01-welcome.md");
    fx.write(
        "alpha/02-foundations/02-detail.md",
        &lesson("Detail", false, "See [the basics](../03-closing/01-basics.md) again."),
    );
    fx.remove("alpha/02-deeper/01-detail.md");
    fx.write("alpha/03-closing/module.toml", "title = \"Closing\"\n");
    move_file("alpha/01-start/02-basics.md", "alpha/03-closing/01-basics.md");
    move_file("alpha/02-deeper/02-wrap-up.md", "alpha/03-closing/02-wrap-up.md");
    for old in ["alpha/01-start", "alpha/02-deeper"] {
        std::fs::remove_file(fx.file(&format!("{old}/module.toml"))).unwrap();
        std::fs::remove_dir(fx.file(old)).unwrap();
    }
    let report = app.import(fx.path()).await.unwrap();
    assert_eq!(
        report.added,
        [
            "lesson alpha/hello",
            "module alpha/closing",
            "module alpha/foundations",
            "module alpha/intro"
        ],
        "{report}"
    );
    assert_eq!(
        report.archived,
        ["module alpha/deeper", "module alpha/start"],
        "{report}"
    );
    assert_eq!(
        report.changed,
        [
            "lesson alpha/basics",
            "lesson alpha/detail",
            "lesson alpha/welcome",
            "lesson alpha/wrap-up"
        ],
        "{report}"
    );

    // The same lessons, in their new modules; the old modules archived, not deleted.
    assert_eq!(lesson_ids(&app.db).await, ids);
    let modules: Vec<(String, bool)> = db_run!(&app.db, pool => sqlx::query_as(
        "SELECT slug, archived FROM modules WHERE slug IN ('start', 'deeper', 'intro', 'foundations', 'closing') ORDER BY id")
        .fetch_all(pool).await)
    .unwrap();
    assert_eq!(
        modules,
        [
            ("start".to_owned(), true),
            ("deeper".to_owned(), true),
            ("intro".to_owned(), false),
            ("foundations".to_owned(), false),
            ("closing".to_owned(), false)
        ]
    );
    let placed: Vec<(String, String, i64)> = db_run!(&app.db, pool => sqlx::query_as(
        "SELECT l.slug, m.slug, l.position FROM lessons l JOIN modules m ON m.id = l.module_id \
         WHERE l.course_id = (SELECT id FROM courses WHERE slug = 'alpha') ORDER BY m.position, l.position")
        .fetch_all(pool).await)
    .unwrap();
    let placed: Vec<String> = placed.into_iter().map(|(l, m, p)| format!("{m}/{p}/{l}")).collect();
    assert_eq!(
        placed,
        [
            "intro/0/hello",
            "foundations/0/welcome",
            "foundations/1/detail",
            "closing/0/basics",
            "closing/1/wrap-up"
        ]
    );

    // The syllabus in the new order.
    let page = app.get("/courses/alpha").await;
    let syllabus: Vec<String> = page.texts(".syllabus-module h3");
    assert_eq!(
        syllabus,
        ["Module 1 Before you begin", "Module 2 Foundations", "Module 3 Closing"]
    );
    let lessons: Vec<String> = page.texts(".syllabus .lesson-list li");
    assert!(
        lessons[0].starts_with("Hello") && lessons[4].starts_with("Wrapping up"),
        "{lessons:?}"
    );
    assert!(
        lessons[1].starts_with("Welcome to alpha") && lessons[3].starts_with("The basics"),
        "{lessons:?}"
    );

    // Her progress, counted in the new program, and her place.
    assert_eq!(
        count(
            &app.db,
            "SELECT COUNT(*) FROM lesson_progress WHERE completed_at IS NOT NULL"
        )
        .await,
        2
    );
    let dash = app.get_with(&ada, "/dashboard").await;
    assert_eq!(dash.text("#program-alpha .progress-numbers"), "2 of 5 lessons done");
    assert_eq!(dash.text("#program-alpha .next-lesson"), "Next: Wrapping up");
    let cont = dash.attr("#program-alpha a.continue", "href");
    assert_eq!(cont, "/courses/alpha/lessons/wrap-up");
    let lesson_page = app.get_with(&ada, &cont).await;
    assert_eq!(lesson_page.status, StatusCode::OK);
    assert_eq!(lesson_page.texts(".lesson-nav li.done a").len(), 2);
    assert_eq!(lesson_page.text(".complete-box .meta"), "2 of 5 lessons done");
    // The instructor's counts per lesson follow the lessons.
    let students = app.get_with(&maya, "/admin/courses/alpha/students").await;
    assert_eq!(students.texts(".lessons-table .completed"), ["0", "1", "1", "0", "0"]);
    assert!(students.texts(".students-table tbody tr")[0].contains("40%"));
}

/// Completes the rest of alpha for a student who has done "basics".
async fn finish_after_basics(app: &TestApp, client: &reqwest::Client) {
    for l in ["welcome", "detail", "wrap-up"] {
        assert_eq!(complete(app, client, l, true).await, StatusCode::SEE_OTHER);
    }
}

/// The link to a certificate under `selector`, which must name one.
fn certificate_link(page: &common::Page, selector: &str) -> String {
    let cert = page.attr(selector, "href");
    assert!(
        cert.starts_with("/certificates/") && cert.len() > "/certificates/".len(),
        "{cert}"
    );
    cert
}

/// The signed-in lesson page is rendered once per lesson and shape of student, then filled in with
/// each student's own values (`web::shell`). Two students on the same lesson, one after the other:
/// each sees their own name, address, note, counts and certificate, never the other's. (Debug
/// builds also render every such page through the template and compare the bytes.)
async fn students_sharing_a_lesson_page_see_only_their_own(backend: Backend) {
    let fx = Fixture::with_pages();
    let app = app_with(&backend, &fx).await;
    let maya = app.instructor("maya@example.com", PW).await;
    let ada = app
        .signup("Ada <b>\"Lovelace\"</b> & 'co'", "ada@example.com", PW)
        .await;
    app.signup_unconfirmed("Bo", "bo+notes@example.com", PW).await;
    let bo = app.login("bo+notes@example.com", PW).await;
    grant(&app, &maya, "ada@example.com", "alpha").await;
    grant(&app, &maya, "bo+notes@example.com", "alpha").await;
    let note = "</textarea><script>alert('ada')</script> & \"more\"\nline two";
    let saved = app
        .post_form(&ada, "/learn/alpha/notes/basics", &[("body", note)])
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.text(".error"));
    assert_eq!(complete(&app, &ada, "basics", true).await, StatusCode::SEE_OTHER);

    for _ in 0..2 {
        // Ada: her note in the box as she wrote it, "done", 1 of 4, no banner (address confirmed).
        let page = app.get_with(&ada, "/courses/alpha/lessons/basics").await;
        assert_eq!(page.status, StatusCode::OK);
        // (`text` folds whitespace: the line break is checked in the markup.)
        assert_eq!(page.text("textarea#note-body"), note.replace('\n', " "));
        assert!(
            page.body.contains("&quot;more&quot;\nline two"),
            "the note's lines kept"
        );
        assert!(!page.body.contains("<script>alert"), "the note is escaped");
        assert_eq!(page.text(".complete-box button"), "Mark as not done");
        assert_eq!(page.text(".complete-box .meta"), "1 of 4 lessons done");
        assert!(page.texts(".verify-banner").is_empty());
        assert!(page.texts(".quiz-link").len() == 1, "the module's knowledge check");
        // Bo, on the same lesson: none of Ada's, all of his.
        let page = app.get_with(&bo, "/courses/alpha/lessons/basics").await;
        assert_eq!(page.status, StatusCode::OK);
        for hers in ["alert(", "Lovelace", "ada@example.com", "line two"] {
            assert!(!page.body.contains(hers), "Bo's page holds Ada's {hers:?}");
        }
        assert_eq!(page.text("textarea#note-body"), "");
        assert_eq!(page.text(".complete-box button"), "Mark complete");
        assert_eq!(page.text(".complete-box .meta"), "0 of 4 lessons done");
        assert_eq!(page.text(".verify-banner strong"), "bo+notes@example.com");
    }
    assert!(
        app.state.catalog().shells_held() >= 2,
        "the pages came from shells (one per shape of student)"
    );
    if matches!(backend, Backend::Sqlite) {
        // Who they are and where they stand was read on the request's own thread (and, this
        // being a debug build, read through sqlx as well and found the same).
        assert!(app.state.reads.answered_here() > 0);
    }

    // Ada finishes: her certificate on the page; Bo has none.
    finish_after_basics(&app, &ada).await;
    let page = app.get_with(&ada, "/courses/alpha/lessons/basics").await;
    let cert = certificate_link(&page, ".complete-box .finished a");
    assert_eq!(page.text(".complete-box .meta"), "4 of 4 lessons done");
    let page = app.get_with(&bo, "/courses/alpha/lessons/basics").await;
    assert!(page.texts(".complete-box .finished").is_empty());
    assert!(!page.body.contains(&cert));
}

/// The dashboard too is filled into a shell per shape of dashboard (`learning::dashboard`): two
/// students of the same program, one after the other, each see their own counts, next lesson,
/// address and certificate, never the other's; a visitor whose session no longer holds is sent to
/// log in. (Debug builds also render every dashboard through the template and compare the bytes.)
async fn students_sharing_a_dashboard_see_only_their_own(backend: Backend) {
    let fx = Fixture::with_pages();
    let app = app_with(&backend, &fx).await;
    let maya = app.instructor("maya@example.com", PW).await;
    let ada = app
        .signup("Ada <b>\"Lovelace\"</b> & 'co'", "ada@example.com", PW)
        .await;
    app.signup_unconfirmed("Bo", "bo+dash@example.com", PW).await;
    let bo = app.login("bo+dash@example.com", PW).await;
    grant(&app, &maya, "ada@example.com", "alpha").await;
    grant(&app, &maya, "bo+dash@example.com", "alpha").await;
    assert_eq!(complete(&app, &ada, "basics", true).await, StatusCode::SEE_OTHER);
    // Ada reads "Detail": that is where she resumes.
    let read = app.get_with(&ada, "/courses/alpha/lessons/detail").await;
    assert_eq!(read.status, StatusCode::OK);
    let before = app.state.catalog().shells_held();

    for _ in 0..2 {
        let page = app.get_with(&ada, "/dashboard").await;
        assert_eq!(page.status, StatusCode::OK);
        assert_eq!(page.text(".dashboard-program .progress-numbers"), "1 of 4 lessons done");
        assert_eq!(page.attr(".dashboard-program progress", "value"), "1");
        assert_eq!(page.attr(".dashboard-program progress", "max"), "4");
        assert_eq!(page.text(".dashboard-program progress"), "25%");
        assert_eq!(page.text(".next-lesson"), "Next: Detail");
        assert_eq!(page.attr("a.continue", "href"), "/courses/alpha/lessons/detail");
        assert_eq!(
            page.texts(".dashboard-quizzes li").len(),
            1,
            "the open module's knowledge check"
        );
        assert!(page.texts(".verify-banner").is_empty());
        assert!(page.texts(".finished").is_empty());
        assert!(!page.body.contains("bo+dash@example.com"));
        assert!(!page.body.contains("Confirm your email address and your programs"));

        let page = app.get_with(&bo, "/dashboard").await;
        assert_eq!(page.status, StatusCode::OK);
        for hers in ["Lovelace", "ada@example.com"] {
            assert!(!page.body.contains(hers), "Bo's dashboard holds Ada's {hers:?}");
        }
        assert_eq!(page.text(".dashboard-program .progress-numbers"), "0 of 4 lessons done");
        assert_eq!(page.attr(".dashboard-program progress", "value"), "0");
        assert_eq!(page.text(".next-lesson"), "Next: Welcome to alpha");
        assert_eq!(page.attr("a.continue", "href"), "/courses/alpha/lessons/welcome");
        assert_eq!(page.text(".verify-banner strong"), "bo+dash@example.com");
        assert!(
            page.body
                .contains("Confirm your email address and your programs will show here.")
        );
    }
    assert!(
        app.state.catalog().shells_held() >= before + 2,
        "the dashboards came from shells (one per shape)"
    );
    if matches!(backend, Backend::Sqlite) {
        assert!(app.state.reads.answered_here() > 0);
    }

    // Ada finishes: her certificate on her dashboard, not on Bo's.
    finish_after_basics(&app, &ada).await;
    let page = app.get_with(&ada, "/dashboard").await;
    let cert = certificate_link(&page, ".dashboard-program .finished a");
    assert_eq!(page.text(".dashboard-program .progress-numbers"), "4 of 4 lessons done");
    let page = app.get_with(&bo, "/dashboard").await;
    assert!(page.texts(".finished").is_empty());
    assert!(!page.body.contains(&cert));

    // Bo's password changes elsewhere (the session epoch moves): his session no longer holds, and
    // the dashboard sends him to log in, coming back after.
    const MOVE: &str = "UPDATE users SET session_epoch = session_epoch + 1 WHERE email = 'bo+dash@example.com'";
    db_run!(&app.db, pool => sqlx::query(MOVE).execute(pool).await.map(|_| ())).unwrap();
    let gone = app.get_with(&bo, "/dashboard").await;
    assert_eq!(gone.status, StatusCode::SEE_OTHER);
    assert_eq!(gone.header("location"), "/login?next=%2Fdashboard");
    let anonymous = app.get_with(&new_client(), "/dashboard").await;
    assert_eq!(anonymous.header("location"), "/login?next=%2Fdashboard");
}
