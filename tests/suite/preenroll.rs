//! Pre-enrollment, launch and announcements: the promise "pre-enroll and we will tell you", kept.
//! Every email is received over a real SMTP conversation.

use crate::common;

use common::{AppOptions, Backend, Page, TestApp, new_client};
use learnwell::db::Db;
use learnwell::db_run;
use learnwell::mail::{store as outbox, worker};
use reqwest::StatusCode;
use time::Duration;

const PW: &str = "a calm long passphrase";
const GUT: &str = "gut-foundations";
const SKIN: &str = "skin-from-within";

both_backends!(
    the_whole_journey_from_form_to_launch_email,
    the_same_email_merges_and_is_not_spammed,
    pressing_launch_twice_sends_one_email_each,
    a_launch_survives_a_worker_killed_halfway,
    a_scheduled_launch_fires_once,
    unsubscribe_by_link_and_by_one_click,
    announcements_reach_who_asked_once,
    the_list_filters_and_exports_safe_csv,
    a_pre_enrollee_who_signs_up_sees_their_programs,
    bad_input_is_refused_and_nothing_is_written,
    the_instructor_moves_programs_between_states,
);

fn manual() -> AppOptions {
    AppOptions {
        background: false,
        ..AppOptions::default()
    }
}

async fn count(db: &Db, sql: &str) -> i64 {
    db_run!(db, pool => sqlx::query_scalar::<_, i64>(sql).fetch_one(pool).await).unwrap()
}

async fn status_of(db: &Db, slug: &str) -> String {
    db_run!(db, pool => sqlx::query_scalar::<_, String>("SELECT status FROM courses WHERE slug = $1").bind(slug).fetch_one(pool).await).unwrap()
}

/// Sends the form as a visitor's browser would.
async fn preenroll(app: &TestApp, name: &str, email: &str, courses: &[&str]) -> Page {
    let mut fields = vec![("name", name), ("email", email)];
    fields.extend(courses.iter().map(|c| ("course", *c)));
    app.post_form(&new_client(), "/preenroll", &fields).await
}

/// Opens the confirmation link of the `nth` (1-based) email to `email`.
async fn confirm(app: &TestApp, email: &str, nth: usize) -> Page {
    let mails = app.smtp.wait_for(email, nth).await;
    let link = mails[nth - 1].link("/preenroll/confirm");
    app.get_with(&new_client(), link.trim_start_matches(&app.base)).await
}

async fn confirmed(app: &TestApp, name: &str, email: &str, courses: &[&str]) {
    let n = app.smtp.to(email).len();
    assert_eq!(preenroll(app, name, email, courses).await.status, StatusCode::OK);
    let page = confirm(app, email, n + 1).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
}

/// Waits (polling, with a deadline) for an email with this subject.
async fn wait_for_subject(app: &TestApp, email: &str, subject: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while !app.smtp.to(email).iter().any(|m| m.subject() == subject) {
        assert!(std::time::Instant::now() < deadline, "no '{subject}' to {email}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

fn launch_mails(app: &TestApp, email: &str) -> Vec<common::smtp::Received> {
    app.smtp
        .to(email)
        .into_iter()
        .filter(|m| m.subject().contains("is open"))
        .collect()
}

async fn the_whole_journey_from_form_to_launch_email(backend: Backend) {
    let app = TestApp::spawn(&backend).await;

    // The program page carries the form, its own program ticked, both offered.
    let page = app.get(&format!("/courses/{GUT}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.texts("form.preenroll-form label")[..2], ["Name", "Email"]);
    assert!(
        page.texts("form.preenroll-form .check label")
            .contains(&"Gut Foundations".to_string())
    );
    assert!(
        page.texts("form.preenroll-form .check label")
            .contains(&"Skin from Within".to_string())
    );
    assert!(
        page.body.contains(&format!(r#"value="{GUT}" checked"#)),
        "own program pre-ticked"
    );
    assert!(!page.body.contains(&format!(r#"value="{SKIN}" checked"#)));
    assert_eq!(page.text("form.preenroll-form button"), "Pre-enroll");
    assert!(page.text("form.preenroll-form .consent").contains("unsubscribe"));
    let standalone = app.get(&format!("/preenroll?course={SKIN}")).await;
    assert!(standalone.body.contains(&format!(r#"value="{SKIN}" checked"#)));

    let sent = preenroll(&app, "Ada Byron", "ada@example.com", &[GUT, SKIN]).await;
    assert_eq!(sent.status, StatusCode::OK);
    assert_eq!(sent.text("h1"), "Check your email");
    assert!(sent.visible_text().contains("ada@example.com"));

    // Double opt-in: listed, not confirmed, and not counted yet.
    assert_eq!(
        count(
            &app.db,
            "SELECT COUNT(*) FROM preenrollment_courses WHERE confirmed_at IS NULL"
        )
        .await,
        2
    );
    let mails = app.smtp.wait_for("ada@example.com", 1).await;
    let mail = &mails[0];
    assert!(mail.subject().contains("Confirm your pre-enrollment"));
    assert!(mail.text().contains("Gut Foundations") && mail.text().contains("Skin from Within"));
    assert!(
        mail.header("List-Unsubscribe")
            .is_some_and(|h| h.contains("/unsubscribe?token="))
    );
    assert_eq!(
        mail.header("List-Unsubscribe-Post").as_deref(),
        Some("List-Unsubscribe=One-Click")
    );
    // Only the hash of the link's token is stored.
    let link = mail.link("/preenroll/confirm");
    let token = link.split("token=").nth(1).unwrap();
    let stored: Vec<String> =
        db_run!(&app.db, pool => sqlx::query_scalar("SELECT token_hash FROM preenrollment_tokens").fetch_all(pool).await)
            .unwrap();
    assert_eq!(stored.len(), 1);
    assert_ne!(stored[0], token);

    let done = confirm(&app, "ada@example.com", 1).await;
    assert_eq!(done.status, StatusCode::OK);
    assert_eq!(done.text("h1"), "You are on the list");
    assert_eq!(done.texts(".on-list li a"), ["Gut Foundations", "Skin from Within"]);
    // The link is single-use: opening it again shows the list but confirms nothing new.
    let again = confirm(&app, "ada@example.com", 1).await;
    assert_eq!(again.text("h1"), "You are already on the list");

    // Someone who never confirmed is not told about the launch.
    preenroll(&app, "Quiet Person", "quiet@example.com", &[GUT]).await;
    app.smtp.wait_for("quiet@example.com", 1).await;

    let maya = app.instructor("maya@example.com", PW).await;
    let studio = app.get_with(&maya, "/admin").await;
    assert_eq!(studio.text(&format!("#program-{GUT} .confirmed a")), "1");
    let launched = app.post_form(&maya, &format!("/admin/courses/{GUT}/launch"), &[]).await;
    assert_eq!(launched.status, StatusCode::SEE_OTHER);
    assert_eq!(status_of(&app.db, GUT).await, "open");
    assert_eq!(status_of(&app.db, SKIN).await, "preenrollment", "only that program");

    let mails = app.smtp.wait_for("ada@example.com", 2).await;
    let launch = &mails[1];
    assert_eq!(launch.subject(), "Gut Foundations is open: you can enroll now");
    let enroll = launch.link("/enroll");
    assert_eq!(enroll, format!("{}/courses/{GUT}/enroll", app.base));
    assert!(launch.text().contains("20% off until"), "{}", launch.text());
    assert!(launch.header("List-Unsubscribe").is_some());
    assert_eq!(
        launch.header("List-Unsubscribe-Post").as_deref(),
        Some("List-Unsubscribe=One-Click")
    );
    assert!(launch.html().contains("Unsubscribe"));
    // The enroll link asks a visitor to log in (or sign up) and then comes back to enrolling.
    let go = app.get(&format!("/courses/{GUT}/enroll")).await;
    assert_eq!(go.status, StatusCode::SEE_OTHER);
    assert!(
        go.header("location").starts_with("/login?next="),
        "{}",
        go.header("location")
    );
    assert!(go.header("location").contains("enroll"));
    let program = app.get(&format!("/courses/{GUT}")).await;
    assert!(program.text(".eyebrow").contains("Open for enrollment"));
    assert!(
        program
            .html()
            .select(&scraper::Selector::parse("form.preenroll-form").unwrap())
            .next()
            .is_none()
    );

    assert!(
        app.smtp.to("quiet@example.com").len() == 1,
        "the unconfirmed got only the confirmation"
    );
    // The studio counts what went out.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let studio = app.get_with(&maya, "/admin").await;
        let row = studio.texts(".launches-table tbody td");
        if row.get(3).map(String::as_str) == Some("1") {
            assert_eq!(row[0], "Gut Foundations");
            assert_eq!(row[2], "1", "one email written");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "launch not counted as sent: {row:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

async fn the_same_email_merges_and_is_not_spammed(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    assert_eq!(
        preenroll(&app, "Bea", "bea@example.com", &[GUT]).await.status,
        StatusCode::OK
    );
    app.smtp.wait_for("bea@example.com", 1).await;
    // Again, another program, the address typed differently: the same entry, no second email yet.
    let again = preenroll(&app, "Bea", "  BEA@Example.com ", &[SKIN]).await;
    assert_eq!(again.status, StatusCode::OK);
    assert!(again.visible_text().contains("a few minutes ago"));
    for _ in 0..5 {
        preenroll(&app, "Bea", "bea@example.com", &[GUT, SKIN]).await;
    }
    assert_eq!(count(&app.db, "SELECT COUNT(*) FROM preenrollments").await, 1);
    assert_eq!(count(&app.db, "SELECT COUNT(*) FROM preenrollment_courses").await, 2);
    assert_eq!(
        count(&app.db, "SELECT COUNT(*) FROM outbox WHERE to_addr = 'bea@example.com'").await,
        1,
        "one confirmation email however often the form is sent"
    );
    // Ten minutes later, a new request gets a new link.
    app.state.clock.advance(Duration::minutes(11));
    preenroll(&app, "Bea", "bea@example.com", &[GUT]).await;
    app.smtp.wait_for("bea@example.com", 2).await;
    // The first link (older, still valid) confirms both programs.
    let page = confirm(&app, "bea@example.com", 1).await;
    assert_eq!(page.texts(".on-list li a"), ["Gut Foundations", "Skin from Within"]);
    assert_eq!(
        count(
            &app.db,
            "SELECT COUNT(*) FROM preenrollment_courses WHERE confirmed_at IS NOT NULL"
        )
        .await,
        2
    );

    // A stranger typing a confirmed address can add a program but cannot rename the entry.
    preenroll(&app, "Mallory", "bea@example.com", &[GUT]).await;
    let name: String =
        db_run!(&app.db, pool => sqlx::query_scalar("SELECT name FROM preenrollments").fetch_one(pool).await).unwrap();
    assert_eq!(name, "Bea");

    // Unconfirmed entries are forgotten after 30 days; confirmed ones stay.
    preenroll(&app, "Never", "never@example.com", &[GUT]).await;
    app.state.clock.advance(Duration::days(29));
    learnwell::preenroll::flows::purge_unconfirmed(&app.state)
        .await
        .unwrap();
    assert_eq!(count(&app.db, "SELECT COUNT(*) FROM preenrollments").await, 2);
    app.state.clock.advance(Duration::days(2));
    learnwell::preenroll::flows::purge_unconfirmed(&app.state)
        .await
        .unwrap();
    assert_eq!(
        count(
            &app.db,
            "SELECT COUNT(*) FROM preenrollments WHERE email = 'never@example.com'"
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &app.db,
            "SELECT COUNT(*) FROM preenrollments WHERE email = 'bea@example.com'"
        )
        .await,
        1
    );
    // An old link no longer works.
    let stale = confirm(&app, "never@example.com", 1).await;
    assert_eq!(stale.status, StatusCode::BAD_REQUEST);
    assert_eq!(stale.text("h1"), "This link does not work");
}

async fn pressing_launch_twice_sends_one_email_each(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    for i in 0..3 {
        confirmed(&app, "Reader", &format!("r{i}@example.com"), &[GUT]).await;
    }
    let maya = app.instructor("maya@example.com", PW).await;
    let path = format!("/admin/courses/{GUT}/launch");
    // Two presses at the same moment (two tabs, two instances), then one more.
    let (a, b) = tokio::join!(app.post_form(&maya, &path, &[]), app.post_form(&maya, &path, &[]));
    let third = app.post_form(&maya, &path, &[]).await;
    let mut notices = vec![a.header("location").to_owned(), b.header("location").to_owned()];
    notices.sort();
    assert_eq!(notices, ["/admin?notice=already-open", "/admin?notice=launched"]);
    assert_eq!(third.header("location"), "/admin?notice=already-open");
    assert_eq!(count(&app.db, "SELECT COUNT(*) FROM launches").await, 1);
    assert_eq!(
        count(&app.db, "SELECT COUNT(*) FROM outbox WHERE campaign LIKE 'launch:%'").await,
        3
    );
    // A launch retried by hand inside the same transaction key space writes nothing new either.
    for i in 0..3 {
        let to = format!("r{i}@example.com");
        app.smtp.wait_for(&to, 2).await;
    }
    // Back to pre-enrollment and launched again (a slip of the hand): nobody is told twice.
    let back = app
        .post_form(
            &maya,
            &format!("/admin/courses/{GUT}/status"),
            &[("to", "preenrollment")],
        )
        .await;
    assert_eq!(back.status, StatusCode::SEE_OTHER);
    let relaunch = app.post_form(&maya, &path, &[]).await;
    assert_eq!(relaunch.header("location"), "/admin?notice=launched");
    assert_eq!(
        count(&app.db, "SELECT COUNT(*) FROM outbox WHERE campaign LIKE 'launch:%'").await,
        3
    );
    // Give the worker every chance to send a duplicate, then look.
    worker::run_once(&app.state).await.unwrap();
    for i in 0..3 {
        assert_eq!(launch_mails(&app, &format!("r{i}@example.com")).len(), 1);
    }
}

async fn a_launch_survives_a_worker_killed_halfway(backend: Backend) {
    let app = TestApp::spawn_with(&backend, manual()).await;
    for i in 0..4 {
        let email = format!("k{i}@example.com");
        preenroll(&app, "Kit", &email, &[GUT]).await;
    }
    // Deliver the confirmations by hand, then confirm.
    worker::run_once(&app.state).await.unwrap();
    for i in 0..4 {
        let page = confirm(&app, &format!("k{i}@example.com"), 1).await;
        assert_eq!(page.status, StatusCode::OK);
    }
    let outcome = learnwell::launch::launch_now(&app.state, GUT, None).await.unwrap();
    assert_eq!(outcome, learnwell::launch::Outcome::Launched { emails: 4 });

    // A worker takes two launch emails and dies before sending them.
    let claimed = outbox::claim(&app.db, app.state.clock.now(), worker::LEASE, 2)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2);
    // The process restarts: a new state on the same database. It sends what is free...
    let restarted = learnwell::AppState::new(app.config.clone(), app.db.clone())
        .await
        .unwrap();
    assert_eq!(worker::run_once(&restarted).await.unwrap(), 2);
    assert_eq!(
        worker::run_once(&restarted).await.unwrap(),
        0,
        "claimed ones wait for their lease"
    );
    // ...and, once the dead worker's lease runs out, the rest. Nobody gets two.
    restarted.clock.advance(worker::LEASE + Duration::seconds(1));
    assert_eq!(worker::run_once(&restarted).await.unwrap(), 2);
    assert_eq!(worker::run_once(&restarted).await.unwrap(), 0);
    for i in 0..4 {
        assert_eq!(launch_mails(&app, &format!("k{i}@example.com")).len(), 1, "k{i}");
    }
    // Launching again after a restart finds the program open and writes nothing.
    let again = learnwell::launch::launch_now(&restarted, GUT, None).await.unwrap();
    assert_eq!(again, learnwell::launch::Outcome::NotInPreenrollment);
    assert_eq!(
        count(&app.db, "SELECT COUNT(*) FROM outbox WHERE status = 'pending'").await,
        0
    );
}

async fn a_scheduled_launch_fires_once(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    confirmed(&app, "Sol", "sol@example.com", &[SKIN]).await;
    let maya = app.instructor("maya@example.com", PW).await;
    let tz = learnwell::local_time::zone("America/Chicago").unwrap();
    let path = format!("/admin/courses/{SKIN}/schedule");

    // In the past, or not a time: refused with a message, nothing scheduled.
    let past = learnwell::local_time::input_value(app.state.clock.now() - Duration::hours(1), &tz);
    let refused = app.post_form(&maya, &path, &[("at", &past)]).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        refused.text(&format!("#at-{SKIN}-error")),
        "Choose a time in the future."
    );
    let nonsense = app.post_form(&maya, &path, &[("at", "next tuesday")]).await;
    assert_eq!(nonsense.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(count(&app.db, "SELECT COUNT(*) FROM launches").await, 0);

    // Two hours from now, in the site's time zone; then moved to one hour from now.
    let at = learnwell::local_time::input_value(app.state.clock.now() + Duration::hours(2), &tz);
    assert_eq!(
        app.post_form(&maya, &path, &[("at", &at)]).await.status,
        StatusCode::SEE_OTHER
    );
    let at = learnwell::local_time::input_value(app.state.clock.now() + Duration::hours(1), &tz);
    assert_eq!(
        app.post_form(&maya, &path, &[("at", &at)]).await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        count(&app.db, "SELECT COUNT(*) FROM launches WHERE status = 'scheduled'").await,
        1
    );
    let studio = app.get_with(&maya, "/admin").await;
    assert!(
        studio.text(&format!("#program-{SKIN} .status")).contains("Launches"),
        "{}",
        studio.text(&format!("#program-{SKIN}"))
    );
    // The stored time is the wall-clock time in Chicago, as UTC.
    let stored: time::OffsetDateTime = db_run!(&app.db, pool => sqlx::query_scalar("SELECT scheduled_for FROM launches WHERE status = 'scheduled'").fetch_one(pool).await).unwrap();
    assert_eq!(learnwell::local_time::input_value(stored, &tz), at);

    // Not yet: the job looks and leaves it.
    app.state.jobs_wakeup.notify_one();
    assert_eq!(learnwell::launch::run_due(&app.state).await.unwrap(), 0);
    assert_eq!(status_of(&app.db, SKIN).await, "preenrollment");

    // Time passes; the background job fires it (we only wake it early).
    app.state.clock.advance(Duration::minutes(61));
    app.state.jobs_wakeup.notify_one();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while status_of(&app.db, SKIN).await != "open" {
        assert!(
            std::time::Instant::now() < deadline,
            "the scheduled launch did not fire"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    app.smtp.wait_for("sol@example.com", 2).await;
    // A second instance's pass (or a second tick) finds nothing to do.
    assert_eq!(learnwell::launch::run_due(&app.state).await.unwrap(), 0);
    assert_eq!(
        count(&app.db, "SELECT COUNT(*) FROM launches WHERE status = 'done'").await,
        1
    );
    assert_eq!(launch_mails(&app, "sol@example.com").len(), 1);
    // The public page shows the change without a restart.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while !app
        .get(&format!("/courses/{SKIN}"))
        .await
        .text(".eyebrow")
        .contains("Open for enrollment")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the program page still says coming soon"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    // A schedule for a program launched by hand meanwhile is skipped, not fired twice.
    confirmed(&app, "Gus", "gus@example.com", &[GUT]).await;
    let at = learnwell::local_time::input_value(app.state.clock.now() + Duration::hours(1), &tz);
    app.post_form(&maya, &format!("/admin/courses/{GUT}/schedule"), &[("at", &at)])
        .await;
    app.post_form(&maya, &format!("/admin/courses/{GUT}/launch"), &[]).await;
    app.state.clock.advance(Duration::hours(2));
    assert_eq!(learnwell::launch::run_due(&app.state).await.unwrap(), 0);
    app.smtp.wait_for("gus@example.com", 2).await;
    assert_eq!(launch_mails(&app, "gus@example.com").len(), 1);
}

async fn unsubscribe_by_link_and_by_one_click(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    confirmed(&app, "Una", "una@example.com", &[GUT]).await;
    confirmed(&app, "Otto", "otto@example.com", &[GUT]).await;
    let una_mail = &app.smtp.to("una@example.com")[0];
    let otto_mail = &app.smtp.to("otto@example.com")[0];

    // By link: GET shows a button and changes nothing; the POST unsubscribes.
    let link = una_mail.link("/unsubscribe?token=");
    let path = link.trim_start_matches(&app.base).to_owned();
    let browser = new_client();
    let page = app.get_with(&browser, &path).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.text("form button"), "Unsubscribe");
    assert_eq!(count(&app.db, "SELECT COUNT(*) FROM unsubscribes").await, 0);
    let token = path.split("token=").nth(1).unwrap();
    let done = app.post_form(&browser, "/unsubscribe", &[("token", token)]).await;
    assert_eq!(done.status, StatusCode::OK);
    assert_eq!(done.text("h1"), "You are unsubscribed");
    // The link again: still fine, still unsubscribed.
    assert_eq!(app.get_with(&browser, &path).await.text("h1"), "You are unsubscribed");

    // One click: the mail provider POSTs to the header's URL, no cookies, no Origin.
    let header = otto_mail.header("List-Unsubscribe").unwrap();
    let url = header.trim_start_matches('<').trim_end_matches('>').to_owned();
    assert!(url.starts_with(&app.base));
    for _ in 0..2 {
        // Providers may retry; each answer is a success.
        let res = reqwest::Client::new()
            .post(&url)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body("List-Unsubscribe=One-Click")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }
    assert_eq!(count(&app.db, "SELECT COUNT(*) FROM unsubscribes").await, 2);
    // A made-up token changes nothing.
    let forged = reqwest::Client::new()
        .post(format!(
            "{}/unsubscribe?token=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            app.base
        ))
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::BAD_REQUEST);

    // They keep their place on the list but get no launch email.
    assert_eq!(
        count(
            &app.db,
            "SELECT COUNT(*) FROM preenrollment_courses WHERE confirmed_at IS NOT NULL"
        )
        .await,
        2
    );
    confirmed(&app, "Ivy", "ivy@example.com", &[GUT]).await;
    let maya = app.instructor("maya@example.com", PW).await;
    app.post_form(&maya, &format!("/admin/courses/{GUT}/launch"), &[]).await;
    app.smtp.wait_for("ivy@example.com", 2).await;
    worker::run_once(&app.state).await.unwrap();
    assert!(launch_mails(&app, "una@example.com").is_empty());
    assert!(launch_mails(&app, "otto@example.com").is_empty());

    // Pre-enrolling again (after the 10-minute pause between confirmation emails) and confirming
    // subscribes again; an old, used link then does nothing.
    app.state.clock.advance(Duration::minutes(11));
    confirmed(&app, "Una", "una@example.com", &[SKIN]).await;
    assert_eq!(
        count(
            &app.db,
            "SELECT COUNT(*) FROM unsubscribes WHERE email = 'una@example.com'"
        )
        .await,
        0
    );
    let old = app.get_with(&new_client(), &path).await;
    assert_eq!(old.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        count(
            &app.db,
            "SELECT COUNT(*) FROM unsubscribes WHERE email = 'una@example.com'"
        )
        .await,
        0
    );
}

async fn announcements_reach_who_asked_once(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    confirmed(&app, "Pia", "pia@example.com", &[GUT]).await;
    confirmed(&app, "Both Ways", "both@example.com", &[GUT]).await;
    preenroll(&app, "Unconfirmed", "unc@example.com", &[GUT]).await;
    confirmed(&app, "Other", "other@example.com", &[SKIN]).await;
    let maya = app.instructor("maya@example.com", PW).await;
    // Two students: one also pre-enrolled (gets one copy), one not.
    app.signup("Stu Dent", "stu@example.com", PW).await;
    app.signup("Both Ways", "both@example.com", PW).await;
    for email in ["stu@example.com", "both@example.com"] {
        let granted = app
            .post_form(&maya, "/admin/enrollments", &[("email", email), ("course", GUT)])
            .await;
        assert_eq!(granted.header("location"), "/admin?notice=granted");
    }
    let unknown = app
        .post_form(
            &maya,
            "/admin/enrollments",
            &[("email", "nobody@example.com"), ("course", GUT)],
        )
        .await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);

    let form = app.get_with(&maya, "/admin/announcements").await;
    let key = form
        .html()
        .select(&scraper::Selector::parse("input[name=form_key]").unwrap())
        .next()
        .and_then(|e| e.value().attr("value").map(str::to_owned))
        .unwrap();
    let body = "We are recording **module 3** this week.\n\n[See the program](/courses/gut-foundations)\n\n<script>alert(1)</script>";
    let fields = |action: &'static str| {
        vec![
            ("course", GUT.to_owned()),
            ("audience", "both".to_owned()),
            ("subject", "A note from Maya".to_owned()),
            ("body", body.to_owned()),
            ("form_key", key.clone()),
            ("action", action.to_owned()),
        ]
    };
    let as_refs = |v: &Vec<(&'static str, String)>| v.iter().map(|(k, v)| (*k, v.clone())).collect::<Vec<_>>();
    let preview_fields = as_refs(&fields("preview"));
    let preview_fields: Vec<(&str, &str)> = preview_fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let preview = app.post_form(&maya, "/admin/announcements", &preview_fields).await;
    assert_eq!(preview.status, StatusCode::OK);
    assert!(preview.body.contains("<strong>module 3</strong>"));
    assert!(!preview.body.contains("<script>alert"), "the preview is sanitised");
    assert_eq!(
        count(&app.db, "SELECT COUNT(*) FROM announcements").await,
        0,
        "a preview sends nothing"
    );

    let send_fields = as_refs(&fields("send"));
    let send_fields: Vec<(&str, &str)> = send_fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let sent = app.post_form(&maya, "/admin/announcements", &send_fields).await;
    assert_eq!(sent.header("location"), "/admin/announcements?sent=3");
    // The same form again (a double click, a reload): nothing new.
    let again = app.post_form(&maya, "/admin/announcements", &send_fields).await;
    assert_eq!(again.header("location"), "/admin/announcements?again=1");
    assert_eq!(count(&app.db, "SELECT COUNT(*) FROM announcements").await, 1);

    for email in ["pia@example.com", "both@example.com", "stu@example.com"] {
        wait_for_subject(&app, email, "A note from Maya").await;
        let mails = app.smtp.to(email);
        let note: Vec<_> = mails.iter().filter(|m| m.subject() == "A note from Maya").collect();
        assert_eq!(note.len(), 1, "{email}");
        assert!(
            note[0]
                .html()
                .contains(&format!(r#"href="{}/courses/gut-foundations""#, app.base))
        );
        assert!(!note[0].html().contains("<script>alert"));
        assert!(note[0].header("List-Unsubscribe").is_some());
    }
    for email in ["unc@example.com", "other@example.com"] {
        assert!(
            app.smtp.to(email).iter().all(|m| m.subject() != "A note from Maya"),
            "{email}"
        );
    }
    // The studio shows it with its counts, once delivered.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let page = app.get_with(&maya, "/admin/announcements").await;
        if page.text(".announcements-table .sent") == "3" {
            assert_eq!(page.text(".announcements-table .pending"), "0");
            assert_eq!(page.text(".announcements-table .failed"), "0");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "not counted as sent");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    // Bad drafts: a message per field, nothing recorded.
    let bad = app
        .post_form(
            &maya,
            "/admin/announcements",
            &[
                ("course", "nope"),
                ("audience", "everyone"),
                ("subject", ""),
                ("body", " "),
                ("form_key", "x"),
                ("action", "send"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.texts(".announce-form .error").len(), 4);
    assert_eq!(count(&app.db, "SELECT COUNT(*) FROM announcements").await, 1);
}

async fn the_list_filters_and_exports_safe_csv(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    confirmed(
        &app,
        "=HYPERLINK(\"http://evil.example\",\"x\")",
        "formula@example.com",
        &[GUT],
    )
    .await;
    confirmed(&app, "Zoë \"Zed\", Ångström", "zoe@example.com", &[GUT, SKIN]).await;
    preenroll(&app, "+1 Plus", "plus@example.com", &[GUT]).await;
    preenroll(&app, "@at -minus", "at@example.com", &[SKIN]).await;
    let maya = app.instructor("maya@example.com", PW).await;

    let all = app.get_with(&maya, "/admin/preenrollments").await;
    assert_eq!(all.status, StatusCode::OK);
    assert_eq!(all.texts(".preenrollments-table tbody tr").len(), 5);
    let gut_confirmed = app
        .get_with(&maya, &format!("/admin/preenrollments?course={GUT}&state=confirmed"))
        .await;
    let mut emails: Vec<String> = gut_confirmed.texts(".preenrollments-table tbody tr td:nth-child(2)");
    emails.sort();
    assert_eq!(emails, ["formula@example.com", "zoe@example.com"]);
    let unconfirmed = app.get_with(&maya, "/admin/preenrollments?state=unconfirmed").await;
    assert_eq!(unconfirmed.texts(".preenrollments-table tbody tr").len(), 2);
    let bad = app.get_with(&maya, "/admin/preenrollments?state=everyone").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);

    let res = maya
        .get(app.url(&format!("/admin/preenrollments.csv?course={GUT}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "text/csv; charset=utf-8");
    assert!(
        res.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment; filename=\"preenrollments-")
    );
    let csv = res.text().await.unwrap();
    assert!(csv.starts_with('\u{feff}'), "a BOM, so spreadsheets read UTF-8");
    let lines: Vec<&str> = csv
        .trim_start_matches('\u{feff}')
        .split("\r\n")
        .filter(|l| !l.is_empty())
        .collect();
    assert!(lines[0].starts_with("Name,Email,Program,State,Signed up (America/Chicago)"));
    assert_eq!(lines.len(), 4, "{csv}");
    assert!(
        csv.contains(
            "\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"x\"\")\",formula@example.com,Gut Foundations,confirmed"
        ),
        "{csv}"
    );
    assert!(
        csv.contains("\"Zoë \"\"Zed\"\", Ångström\",zoe@example.com,Gut Foundations,confirmed"),
        "{csv}"
    );
    assert!(
        csv.contains("'+1 Plus,plus@example.com,Gut Foundations,unconfirmed"),
        "{csv}"
    );
    // No cell begins with a formula character.
    for line in &lines[1..] {
        for cell in line.split(',') {
            let c = cell.trim_start_matches('"');
            assert!(!c.starts_with(['=', '+', '-', '@']), "{cell} in {line}");
        }
    }
    let skin = maya
        .get(app.url(&format!("/admin/preenrollments.csv?course={SKIN}&state=unconfirmed")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        skin.contains("'@at -minus,at@example.com,Skin from Within,unconfirmed"),
        "{skin}"
    );

    // Students and visitors get nothing.
    let student = app.signup("Sneaky", "sneaky@example.com", PW).await;
    assert_eq!(
        app.get_with(&student, "/admin/preenrollments.csv").await.status,
        StatusCode::FORBIDDEN
    );
    let anon = app.get("/admin/preenrollments.csv").await;
    assert_eq!(anon.status, StatusCode::SEE_OTHER);
}

async fn a_pre_enrollee_who_signs_up_sees_their_programs(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    confirmed(&app, "Wes", "wes@example.com", &[GUT, SKIN]).await;
    app.signup_unconfirmed("Wes", "wes@example.com", PW).await;
    let wes = app.login("wes@example.com", PW).await;
    // Until the account's address is confirmed, the list entry is not shown (it may be someone else's).
    let dash = app.get_with(&wes, "/dashboard").await;
    assert_eq!(dash.status, StatusCode::OK);
    assert!(dash.texts(".preenrolled li").is_empty());
    assert!(dash.visible_text().contains("Confirm your email address"));
    // Confirm the account (the second email to this address).
    let mails = app.smtp.wait_for("wes@example.com", 2).await;
    let verify = mails
        .iter()
        .find(|m| m.text().contains("/verify-email"))
        .unwrap()
        .link("/verify-email");
    app.get_with(&wes, verify.trim_start_matches(&app.base)).await;

    for path in ["/dashboard", "/account"] {
        let page = app.get_with(&wes, path).await;
        let items = page.texts(".preenrolled li");
        assert_eq!(items.len(), 2, "{path}: {items:?}");
        assert!(
            items[0].contains("Gut Foundations") && items[0].contains("not open yet"),
            "{items:?}"
        );
    }
    let maya = app.instructor("maya@example.com", PW).await;
    app.post_form(&maya, &format!("/admin/courses/{GUT}/launch"), &[]).await;
    let page = app.get_with(&wes, "/dashboard").await;
    let items = page.texts(".preenrolled li");
    assert!(
        items[0].contains("Open for enrollment") && items[0].contains("enroll now"),
        "{items:?}"
    );
    assert!(items[1].contains("Coming soon"), "{items:?}");
    // Someone else's dashboard shows none of it; the anonymous are sent to log in.
    let other = app.signup("Xena", "xena@example.com", PW).await;
    assert!(
        app.get_with(&other, "/dashboard")
            .await
            .texts(".preenrolled li")
            .is_empty()
    );
    assert_eq!(app.get("/dashboard").await.status, StatusCode::SEE_OTHER);
    // "Download my data" includes the list.
    let data: serde_json::Value = wes
        .get(app.url("/account/data"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(data["programs"]["preenrolled"].as_array().unwrap().len(), 2);
}

/// The fields sent, where the error shows, and what it says.
type Case<'a> = (Vec<(&'a str, &'a str)>, &'a str, &'a str);

async fn bad_input_is_refused_and_nothing_is_written(backend: Backend) {
    let app = TestApp::spawn_with(&backend, AppOptions::env(&[("AUTH_RATE_LIMIT", "8")])).await;
    let cases: Vec<Case> = vec![
        (
            vec![("name", "Al"), ("email", "not-an-email"), ("course", GUT)],
            "#f-pre-email-error",
            "email",
        ),
        (
            vec![("name", "Al"), ("email", "al@example.com")],
            "#f-courses-error",
            "Tick at least one program.",
        ),
        (
            vec![("name", ""), ("email", "al@example.com"), ("course", GUT)],
            "#f-pre-name-error",
            "name",
        ),
        (
            vec![
                ("name", "Al"),
                ("email", "al@example.com"),
                ("course", "no-such-program"),
            ],
            "#f-courses-error",
            "not taking pre-enrollments",
        ),
        (
            vec![("name", "Al"), ("email", "al@example.com"), ("course", "<script>")],
            "#f-courses-error",
            "not taking pre-enrollments",
        ),
    ];
    for (fields, selector, message) in &cases {
        let page = app.post_form(&new_client(), "/preenroll", fields).await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{fields:?}");
        assert!(
            page.text(selector).contains(message),
            "{fields:?}: {}",
            page.text(selector)
        );
        // What they typed is kept.
        assert!(page.body.contains("value=\"Al\"") || fields[0].1.is_empty());
    }
    assert_eq!(count(&app.db, "SELECT COUNT(*) FROM preenrollments").await, 0);
    assert_eq!(count(&app.db, "SELECT COUNT(*) FROM outbox").await, 0);

    // A program that is open (launched) is no longer on offer; the form says so.
    let maya = app.instructor("maya@example.com", PW).await;
    app.post_form(&maya, &format!("/admin/courses/{GUT}/launch"), &[]).await;
    let open = app
        .post_form(
            &new_client(),
            "/preenroll",
            &[
                ("name", "Al"),
                ("email", "al@example.com"),
                ("course", GUT),
                ("course", SKIN),
            ],
        )
        .await;
    assert_eq!(open.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(open.text("#f-courses-error").contains("already open"));
    assert_eq!(
        count(&app.db, "SELECT COUNT(*) FROM preenrollments").await,
        0,
        "nothing half-written"
    );

    // Tampered and expired links.
    for token in ["", "tampered", &"A".repeat(43), &"x".repeat(5000)] {
        let page = app.get(&format!("/preenroll/confirm?token={token}")).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", token.len());
    }
    preenroll(&app, "Late", "late@example.com", &[SKIN]).await;
    app.smtp.wait_for("late@example.com", 1).await;
    app.state.clock.advance(Duration::days(8));
    assert_eq!(
        confirm(&app, "late@example.com", 1).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        count(
            &app.db,
            "SELECT COUNT(*) FROM preenrollment_courses WHERE confirmed_at IS NOT NULL"
        )
        .await,
        0
    );
    assert_eq!(app.get("/unsubscribe?token=nope").await.status, StatusCode::BAD_REQUEST);

    // A huge body is refused before it is read.
    let huge = "x".repeat(100 * 1024);
    let page = app
        .post_form(
            &new_client(),
            "/preenroll",
            &[("name", &huge), ("email", "h@example.com"), ("course", SKIN)],
        )
        .await;
    assert_eq!(page.status, StatusCode::PAYLOAD_TOO_LARGE);
    // Hundreds of program values: refused.
    let mut many = vec![("name", "Al"), ("email", "many@example.com")];
    many.extend(std::iter::repeat_n(("course", SKIN), 50));
    assert_eq!(
        app.post_form(&new_client(), "/preenroll", &many).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    // Another site's form cannot post here.
    let cross = new_client()
        .post(app.url("/preenroll"))
        .header("Origin", "https://evil.example")
        .header("Sec-Fetch-Site", "cross-site")
        .form(&[("name", "Al"), ("email", "x@example.com"), ("course", SKIN)])
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), StatusCode::FORBIDDEN);

    // A flood from one address is slowed down.
    let mut statuses = Vec::new();
    for i in 0..12 {
        let email = format!("flood{i}@example.com");
        statuses.push(preenroll(&app, "Flood", &email, &[SKIN]).await.status);
    }
    assert!(statuses.contains(&StatusCode::TOO_MANY_REQUESTS), "{statuses:?}");
    assert!(count(&app.db, "SELECT COUNT(*) FROM preenrollments WHERE email LIKE 'flood%'").await < 12);
}

async fn the_instructor_moves_programs_between_states(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    let maya = app.instructor("maya@example.com", PW).await;
    let status = |to: &'static str, slug: &'static str| {
        let maya = maya.clone();
        let app = &app;
        async move {
            app.post_form(&maya, &format!("/admin/courses/{slug}/status"), &[("to", to)])
                .await
        }
    };
    // Opening from pre-enrollment is a launch, not a status change.
    let refused = status("open", GUT).await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert!(refused.text(".launch-controls .error").contains("use Launch"));
    assert_eq!(status("draft", GUT).await.status, StatusCode::CONFLICT);
    assert_eq!(status("closed", GUT).await.header("location"), "/admin?notice=status");
    assert_eq!(status_of(&app.db, GUT).await, "closed");
    let page = app.get(&format!("/courses/{GUT}")).await;
    assert!(page.text(".offer").contains("Enrollment is closed"));
    // Closed → open (reopen) sends nothing; back to pre-enrollment offers the form again.
    assert_eq!(status("open", GUT).await.status, StatusCode::SEE_OTHER);
    assert_eq!(status_of(&app.db, GUT).await, "open");
    assert_eq!(status("preenrollment", GUT).await.status, StatusCode::SEE_OTHER);
    assert_eq!(status_of(&app.db, GUT).await, "preenrollment");
    assert!(
        app.get(&format!("/courses/{GUT}"))
            .await
            .body
            .contains("preenroll-form")
    );
    assert_eq!(count(&app.db, "SELECT COUNT(*) FROM outbox").await, 0);
    // Unknown programs are 404; students cannot do any of it.
    assert_eq!(status("closed", "no-such").await.status, StatusCode::NOT_FOUND);
    let student = app.signup("Stu", "stu@example.com", PW).await;
    let denied = app
        .post_form(&student, &format!("/admin/courses/{SKIN}/launch"), &[])
        .await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    assert_eq!(status_of(&app.db, SKIN).await, "preenrollment");
}
