//! Moving students in: `learnwell import students` and the studio's import page share one import.
//! Dry run first, then one transaction for the whole file, idempotent, one welcome email per new
//! account ever; bad rows reported by line with nothing imported.

use crate::common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{AppOptions, Backend, TestApp, new_client};
use learnwell::db_run;
use reqwest::StatusCode;

const PW: &str = "correct horse battery staple";
const PROGRAM: &str = "gut-foundations";

both_backends!(
    studio_dry_run_then_import_once,
    bad_rows_are_reported_by_line_and_nothing_is_imported,
    formula_cells_stay_plain_text,
    ten_thousand_rows_in_bounded_time,
    only_instructors_import_and_uploads_are_bounded,
);

async fn count(app: &TestApp, sql: &str) -> i64 {
    db_run!(&app.db, pool => sqlx::query_scalar::<_, i64>(sql).fetch_one(pool).await).unwrap()
}

fn quiet(backend: &Backend) -> AppOptions {
    let _ = backend;
    AppOptions {
        background: false,
        ..AppOptions::default()
    }
}

/// Uploads `bytes` to the import page as a browser on the site does.
async fn upload(app: &TestApp, client: &reqwest::Client, bytes: Vec<u8>) -> common::Page {
    let part = reqwest::multipart::Part::bytes(bytes)
        .file_name("students.csv")
        .mime_str("text/csv")
        .unwrap();
    let form = reqwest::multipart::Form::new().part("file", part);
    app.request(
        client
            .post(app.url(&format!("/admin/courses/{PROGRAM}/import")))
            .header("Origin", &app.base)
            .header("Sec-Fetch-Site", "same-origin")
            .multipart(form),
    )
    .await
}

async fn upload_and_confirm(app: &TestApp, client: &reqwest::Client, csv: &str) -> (common::Page, common::Page) {
    let dry = upload(app, client, csv.as_bytes().to_vec()).await;
    assert_eq!(dry.status, StatusCode::OK, "{}", dry.visible_text());
    let id = dry.attr("input[name=upload]", "value");
    assert!(!id.is_empty(), "the dry run offers to confirm");
    let done = app
        .post_form(
            client,
            &format!("/admin/courses/{PROGRAM}/import/confirm"),
            &[("upload", &id)],
        )
        .await;
    (dry, done)
}

const TEACHABLE: &str = "Name,Email,Enrolled At,Last Sign In,Completed Lessons\n\
    Ada Lovelace,ada@example.com,2024-03-31 14:05:00 UTC,2024-04-01,Mouth and stomach; meet your MICROBIOME | Lesson from the old site\n\
    Existing Person,Old@Example.com,03/01/2024,,Mouth and stomach\n\
    Brand New,new@example.com,,,\n";

async fn studio_dry_run_then_import_once(backend: Backend) {
    let app = TestApp::spawn_with(&backend, quiet(&backend)).await;
    let instructor = app.instructor("maya@example.com", PW).await;
    app.signup("Old Account", "old@example.com", PW).await;
    let users_before = count(&app, "SELECT COUNT(*) FROM users").await;
    let mail_before = count(&app, "SELECT COUNT(*) FROM outbox").await;

    // The page links from the students list, and offers the upload.
    let students = app
        .get_with(&instructor, &format!("/admin/courses/{PROGRAM}/students"))
        .await;
    assert!(students.links().contains(&format!("/admin/courses/{PROGRAM}/import")));
    let page = app
        .get_with(&instructor, &format!("/admin/courses/{PROGRAM}/import"))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.attr("form[enctype]", "enctype"), "multipart/form-data");

    // The dry run: what would happen, per row, and nothing changed.
    let dry = upload(&app, &instructor, TEACHABLE.as_bytes().to_vec()).await;
    assert_eq!(dry.status, StatusCode::OK, "{}", dry.visible_text());
    let summary = dry.text(".import-summary");
    assert!(summary.contains("3 students"), "{summary}");
    assert!(summary.contains("2 new accounts"), "{summary}");
    assert!(summary.contains("1 existing account enrolled"), "{summary}");
    assert!(summary.contains("3 lessons marked complete"), "{summary}");
    assert_eq!(dry.texts(".import-unmatched li"), vec!["Lesson from the old site"]);
    let rows = dry.texts(".import-table tbody tr");
    assert_eq!(rows.len(), 3);
    assert!(
        rows[0].starts_with("2 Ada Lovelace ada@example.com new account 2 found; not found: Lesson from the old site"),
        "{rows:?}"
    );
    assert!(rows[1].contains("existing account, enrolled 1 found"), "{rows:?}");
    assert_eq!(count(&app, "SELECT COUNT(*) FROM users").await, users_before);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM enrollments").await, 0);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM outbox").await, mail_before);
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM audit_log WHERE action = 'students.import'").await,
        0
    );

    // Confirmed: accounts, seats dated when they enrolled, lessons, one welcome each.
    let id = dry.attr("input[name=upload]", "value");
    let done = app
        .post_form(
            &instructor,
            &format!("/admin/courses/{PROGRAM}/import/confirm"),
            &[("upload", &id)],
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.visible_text());
    assert_eq!(done.text("h2"), "Imported");
    assert_eq!(count(&app, "SELECT COUNT(*) FROM users").await, users_before + 2);
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM enrollments WHERE source = 'import' AND status = 'active'"
        )
        .await,
        3
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM lesson_progress WHERE completed_at IS NOT NULL"
        )
        .await,
        3
    );
    let ada_since: time::OffsetDateTime = db_run!(&app.db, pool => sqlx::query_scalar(
        "SELECT e.created_at FROM enrollments e JOIN users u ON u.id = e.user_id WHERE u.email = 'ada@example.com'"
    ).fetch_one(pool).await)
    .unwrap();
    assert_eq!(ada_since, time::macros::datetime!(2024-03-31 14:05 UTC));
    let no_password = count(
        &app,
        "SELECT COUNT(*) FROM users WHERE password_hash = '!none' AND email IN ('ada@example.com', 'new@example.com')",
    )
    .await;
    assert_eq!(no_password, 2, "new accounts have no password");
    let welcomes: Vec<String> = db_run!(&app.db, pool => sqlx::query_scalar(
        "SELECT to_addr FROM outbox WHERE campaign = 'import-welcome' ORDER BY to_addr"
    ).fetch_all(pool).await)
    .unwrap();
    assert_eq!(
        welcomes,
        vec!["ada@example.com", "new@example.com"],
        "only new accounts are welcomed"
    );
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM audit_log WHERE action = 'students.import'").await,
        1
    );
    // Modules already open for a backdated seat are not announced by the drip job later.
    assert_eq!(
        learnwell::learning::notify_unlocked_modules(&app.state).await.unwrap(),
        0
    );

    // The welcome link lets the new student choose a password, and signs them in to their program.
    let body: String = db_run!(&app.db, pool => sqlx::query_scalar(
        "SELECT body_text FROM outbox WHERE to_addr = 'ada@example.com' AND campaign = 'import-welcome'"
    ).fetch_one(pool).await)
    .unwrap();
    assert!(body.contains("Gut Foundations"), "{body}");
    let start = body.find("/reset-password?token=").expect("a link");
    let link = body[start..].split_whitespace().next().unwrap().to_owned();
    let token = link.split("token=").nth(1).unwrap().to_owned();
    let ada = new_client();
    assert_eq!(app.get_with(&ada, &link).await.status, StatusCode::OK);
    let set = app
        .post_form(
            &ada,
            "/reset-password",
            &[("token", &token), ("password", "plum orchard violin sunrise")],
        )
        .await;
    assert_eq!(set.status, StatusCode::SEE_OTHER, "{}", set.visible_text());
    let dashboard = app.get_with(&ada, "/dashboard").await;
    assert!(
        dashboard.visible_text().contains("Gut Foundations"),
        "{}",
        dashboard.visible_text()
    );

    // Again, the same file: nothing changes, nothing is sent.
    let mail_after = count(&app, "SELECT COUNT(*) FROM outbox").await;
    let (dry2, done2) = upload_and_confirm(&app, &instructor, TEACHABLE).await;
    assert!(
        dry2.text(".import-summary").contains("0 new accounts"),
        "{}",
        dry2.text(".import-summary")
    );
    assert!(
        done2.text(".import-summary").contains("3 already enrolled"),
        "{}",
        done2.text(".import-summary")
    );
    assert_eq!(count(&app, "SELECT COUNT(*) FROM users").await, users_before + 2);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM enrollments").await, 3);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM outbox").await, mail_after);
    // A confirmation is used once.
    let replay = app
        .post_form(
            &instructor,
            &format!("/admin/courses/{PROGRAM}/import/confirm"),
            &[("upload", &id)],
        )
        .await;
    assert_eq!(replay.status, StatusCode::GONE);

    // Their data export says where the account came from; deleting it removes the record.
    let export = app.get_with(&ada, "/account/data").await;
    assert!(export.body.contains("welcome_email_queued_at"), "{}", export.body);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM import_welcomes").await, 2);
    let deleted = app
        .post_form(&ada, "/account/delete", &[("password", "plum orchard violin sunrise")])
        .await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.visible_text());
    assert_eq!(count(&app, "SELECT COUNT(*) FROM import_welcomes").await, 1);
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM users WHERE email = 'ada@example.com'").await,
        0
    );
}

async fn bad_rows_are_reported_by_line_and_nothing_is_imported(backend: Backend) {
    let app = TestApp::spawn_with(&backend, quiet(&backend)).await;
    let instructor = app.instructor("maya@example.com", PW).await;
    let users_before = count(&app, "SELECT COUNT(*) FROM users").await;
    let mut bytes = b"Name,Email,Enrolled At\n\
        Good One,good@example.com,2024-01-01\n\
        No Address,,2024-01-01\n\
        Bad Address,not-an-email,2024-01-01\n\
        Bad Date,date@example.com,the 5th of never\n\
        Twice,GOOD@example.com,2024-01-01\n"
        .to_vec();
    bytes.extend_from_slice(b"Jos\xe9 Latin1,jose@example.com,2024-01-01\n");
    let page = upload(&app, &instructor, bytes).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.text(".form-error").contains("Nothing was imported: 5 rows"),
        "{}",
        page.text(".form-error")
    );
    let problems = page.texts(".import-problems li");
    assert_eq!(problems.len(), 5, "{problems:?}");
    for (line, what) in [
        (3, "no email address"),
        (4, "not a usable email address"),
        (5, "not a date we can read"),
        (6, "twice (first on line 2)"),
        (7, "UTF-8"),
    ] {
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with(&format!("Line {line}:")) && p.contains(what)),
            "line {line}: {what} in {problems:?}"
        );
    }
    assert!(
        page.attr("input[name=upload]", "value").is_empty(),
        "nothing to confirm"
    );
    assert_eq!(count(&app, "SELECT COUNT(*) FROM users").await, users_before);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM enrollments").await, 0);

    // The shared import refuses the same way when called directly (the command uses it).
    let parsed = learnwell::imports::parse::read(
        &b"Email\ngood@example.com\nbad\n"[..],
        &jiff::tz::TimeZone::UTC,
        app.state.clock.now(),
    )
    .unwrap();
    let actor = learnwell::audit::Actor {
        user_id: None,
        name: "test",
    };
    let err = learnwell::imports::import_students(&app.state, PROGRAM, &parsed, false, actor, "x.csv")
        .await
        .unwrap_err();
    assert!(matches!(err, learnwell::imports::ImportError::Rows { .. }), "{err}");
    assert_eq!(count(&app, "SELECT COUNT(*) FROM users").await, users_before);

    // A file without an email column, and an empty one.
    let page = upload(&app, &instructor, b"Name,Mail\nA,a@example.com\n".to_vec()).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.text(".form-error").contains("no email column"),
        "{}",
        page.text(".form-error")
    );
    let page = upload(&app, &instructor, Vec::new()).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM users").await, users_before);
}

async fn formula_cells_stay_plain_text(backend: Backend) {
    let app = TestApp::spawn_with(&backend, quiet(&backend)).await;
    let instructor = app.instructor("maya@example.com", PW).await;
    let csv = "First Name,Last Name,Email,Created At\n\
        \"=HYPERLINK(\"\"http://evil.example\"\",\"\"x\"\")\",@SUM(A1),formula@example.com,2024-02-02\n\
        +cmd,-2+3,plus@example.com,\n";
    let (_, done) = upload_and_confirm(&app, &instructor, csv).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.visible_text());
    let names: Vec<String> = db_run!(&app.db, pool => sqlx::query_scalar(
        "SELECT name FROM users WHERE email IN ('formula@example.com', 'plus@example.com') ORDER BY email"
    ).fetch_all(pool).await)
    .unwrap();
    assert_eq!(
        names,
        vec!["=HYPERLINK(\"http://evil.example\",\"x\") @SUM(A1)", "+cmd -2+3"],
        "stored as the characters they are, never evaluated"
    );
    // Shown as text in the studio (escaped, not markup), and neutralised in the studio's CSVs.
    let students = app
        .get_with(&instructor, &format!("/admin/courses/{PROGRAM}/students"))
        .await;
    assert!(
        students
            .visible_text()
            .contains("=HYPERLINK(\"http://evil.example\",\"x\") @SUM(A1)")
    );
    assert!(!students.body.contains("<a href=\"http://evil.example"));
    assert_eq!(
        learnwell::admin::csv::neutralise("=HYPERLINK(\"http://evil.example\",\"x\") @SUM(A1)"),
        "'=HYPERLINK(\"http://evil.example\",\"x\") @SUM(A1)"
    );
}

async fn ten_thousand_rows_in_bounded_time(backend: Backend) {
    let app = TestApp::spawn_with(&backend, quiet(&backend)).await;
    let mut csv = String::from("Name,Email,Enrolled At,Completed Lessons\n");
    for i in 0..10_000 {
        csv.push_str(&format!(
            "Student {i},student{i}@example.com,2024-01-{:02} 09:00:00 UTC,Mouth and stomach|Meet your microbiome\n",
            i % 28 + 1
        ));
    }
    let actor = || learnwell::audit::Actor {
        user_id: None,
        name: "test",
    };
    let tz = jiff::tz::TimeZone::UTC;
    let started = Instant::now();
    let parsed = learnwell::imports::parse::read(csv.as_bytes(), &tz, app.state.clock.now()).unwrap();
    assert_eq!(parsed.rows.len(), 10_000);
    let report = learnwell::imports::import_students(&app.state, PROGRAM, &parsed, false, actor(), "big.csv")
        .await
        .unwrap();
    let took = started.elapsed();
    assert_eq!(report.new_accounts, 10_000);
    assert_eq!(
        report.rows.len(),
        learnwell::imports::REPORT_ROWS,
        "the report lists a bounded number of rows"
    );
    assert_eq!(report.rows_not_listed, 10_000 - learnwell::imports::REPORT_ROWS);
    assert!(took < Duration::from_secs(120), "10,000 rows took {took:?}");
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM enrollments WHERE source = 'import'").await,
        10_000
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM lesson_progress WHERE completed_at IS NOT NULL"
        )
        .await,
        20_000
    );
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM outbox WHERE campaign = 'import-welcome'").await,
        10_000
    );

    // Again: nothing changes, nothing is sent, still quick.
    let started = Instant::now();
    let again = learnwell::imports::import_students(&app.state, PROGRAM, &parsed, false, actor(), "big.csv")
        .await
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(60));
    assert_eq!(again.already_enrolled, 10_000);
    assert_eq!(again.welcome_emails, 0);
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM outbox WHERE campaign = 'import-welcome'").await,
        10_000
    );
    assert_eq!(count(&app, "SELECT COUNT(*) FROM users").await, 10_000);
}

async fn only_instructors_import_and_uploads_are_bounded(backend: Backend) {
    let app = TestApp::spawn_with(&backend, quiet(&backend)).await;
    let instructor = app.instructor("maya@example.com", PW).await;
    let student = app.signup("Lee", "lee@example.com", PW).await;
    let path = format!("/admin/courses/{PROGRAM}/import");
    assert_eq!(app.get_with(&student, &path).await.status, StatusCode::FORBIDDEN);
    let page = upload(&app, &student, TEACHABLE.as_bytes().to_vec()).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    // A student cannot confirm the instructor's upload either, even knowing its id.
    let dry = upload(&app, &instructor, TEACHABLE.as_bytes().to_vec()).await;
    let id = dry.attr("input[name=upload]", "value");
    let denied = app
        .post_form(&student, &format!("{path}/confirm"), &[("upload", &id)])
        .await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    // Another site cannot make the instructor's browser confirm it.
    let cross = app
        .request(
            instructor
                .post(app.url(&format!("{path}/confirm")))
                .header("Origin", "https://evil.example")
                .header("Sec-Fetch-Site", "cross-site")
                .form(&[("upload", id.as_str())]),
        )
        .await;
    assert_eq!(cross.status, StatusCode::FORBIDDEN);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM enrollments").await, 0);
    // An unknown or malformed upload id.
    let unknown = app
        .post_form(
            &instructor,
            &format!("{path}/confirm"),
            &[("upload", "../../etc/passwd")],
        )
        .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    // An unknown program.
    let missing = app.get_with(&instructor, "/admin/courses/no-such-program/import").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    // Larger than the limit: refused before it is read (last, in a browser of its own: the server
    // may close the connection without reading the rest).
    let big = vec![b'a'; 9 * 1024 * 1024];
    let page = upload(&app, &app.login("maya@example.com", PW).await, big).await;
    assert_eq!(page.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM enrollments").await, 0);
}

// ---- the command -------------------------------------------------------------------------------

fn learnwell(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_learnwell"));
    cmd.current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "warn")
        .env(
            "DATABASE_URL",
            format!("sqlite://{}", dir.join("db/learnwell.db").display()),
        )
        .env("CONTENT_DIR", common::repo_path("course_content"))
        .stdin(Stdio::null());
    cmd
}

#[test]
fn the_command_dry_runs_imports_and_refuses_bad_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = learnwell(dir.path()).args(["content", "import"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let file = dir.path().join("students.csv");
    std::fs::write(&file, TEACHABLE.replace("Old@Example.com", "old@example.com")).unwrap();
    let run = |args: &[&str]| {
        let out = learnwell(dir.path())
            .args(["import", "students"])
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let f = file.to_str().unwrap();

    let (code, stdout, stderr) = run(&[f, "--program", PROGRAM, "--dry-run"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("line 2: Ada Lovelace <ada@example.com>: new account, 2 completed lessons, not found: Lesson from the old site"), "{stdout}");
    assert!(stdout.contains("dry run: nothing was changed"), "{stdout}");
    assert!(stdout.contains("3 new accounts would be made"), "{stdout}");

    let (code, stdout, stderr) = run(&[f, "--program", PROGRAM]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("3 new accounts were made"), "{stdout}");
    assert!(stdout.contains("3 lessons were marked complete"), "{stdout}");

    let (code, stdout, _) = run(&[f, "--program", PROGRAM]);
    assert_eq!(code, Some(0));
    assert!(stdout.contains("0 new accounts were made"), "{stdout}");
    assert!(stdout.contains("3 already enrolled"), "{stdout}");

    // A bad row: every problem with its line on stderr, exit 1, nothing imported.
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "Name,Email\nA,a2@example.com\nB,nope\n").unwrap();
    let (code, _, stderr) = run(&[bad.to_str().unwrap(), "--program", PROGRAM]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("nothing was imported"), "{stderr}");
    assert!(
        stderr.contains("line 3: \"nope\" is not a usable email address"),
        "{stderr}"
    );
    let (code, stdout, _) = run(&[bad.to_str().unwrap(), "--program", PROGRAM, "--dry-run"]);
    assert_eq!(code, Some(1), "{stdout}");

    // A program that does not exist, a file that does not: usage errors.
    let (code, _, stderr) = run(&[f, "--program", "nope"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("no program 'nope'"), "{stderr}");
    let (code, _, stderr) = run(&["/no/such/file.csv", "--program", PROGRAM]);
    assert_eq!(code, Some(2), "{stderr}");
    let (code, _, _) = run(&[f]);
    assert_eq!(code, Some(2), "--program is required");
}
