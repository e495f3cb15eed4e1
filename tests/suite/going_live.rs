//! Going live (issue 15): files shared by two instances on one database, backup and restore with
//! files, `/metrics` on its own address, `/readyz`, JSON logs and plain piped logs, `doctor`.

use crate::common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::fixture::Fixture;
use common::{AppOptions, Backend, TestApp};
use learnwell::db::Db;
use learnwell::db_run;
use reqwest::StatusCode;

const PW: &str = "correct horse battery staple";

both_backends!(
    an_upload_on_one_instance_downloads_from_the_other,
    a_completion_on_one_instance_shows_on_the_others_next_page,
    backup_and_restore_bring_back_the_data_and_the_files,
    readyz_says_what_is_not_ready,
    metrics_are_served_on_their_own_address_only,
);

async fn count(db: &Db, sql: &str) -> i64 {
    db_run!(db, pool => sqlx::query_scalar::<_, i64>(sql).fetch_one(pool).await).unwrap()
}

async fn lesson_id(db: &Db, slug: &str) -> i64 {
    count(db, &format!("SELECT id FROM lessons WHERE slug = '{slug}'")).await
}

/// A PDF-looking file of `len` bytes that is different at every offset (so a wrong piece shows).
fn pdf_bytes(len: usize) -> Vec<u8> {
    let mut bytes: Vec<u8> = (0..len).map(|i| ((i * 7 + i / 251) % 256) as u8).collect();
    bytes[..5].copy_from_slice(b"%PDF-");
    bytes
}

async fn upload(app: &TestApp, client: &reqwest::Client, lesson: i64, name: &str, bytes: Vec<u8>) -> common::Page {
    let form = reqwest::multipart::Form::new().text("title", "Workbook").part(
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

async fn download(app: &TestApp, client: &reqwest::Client, file: &str, range: Option<&str>) -> (StatusCode, Vec<u8>) {
    let mut req = client.get(app.url(&format!("/courses/alpha/lessons/basics/downloads/{file}")));
    if let Some(r) = range {
        req = req.header("Range", r);
    }
    let res = req.send().await.unwrap();
    (res.status(), res.bytes().await.unwrap().to_vec())
}

/// Two instances on one database, the first on `fx`'s content; no background jobs.
async fn two_instances(fx: &Fixture, backend: &Backend) -> (TestApp, TestApp, Fixture) {
    let a = TestApp::spawn_with(
        backend,
        AppOptions {
            content_dir: fx.path().to_owned(),
            background: false,
            ..AppOptions::default()
        },
    )
    .await;
    let (b, b_content) = second_instance(&a, backend, false).await;
    (a, b, b_content)
}

/// A second instance on the first one's database (and its own, empty, content folder).
async fn second_instance(a: &TestApp, backend: &Backend, background: bool) -> (TestApp, Fixture) {
    let fx = Fixture::new();
    let b = TestApp::spawn_with(
        backend,
        AppOptions {
            content_dir: fx.path().to_owned(),
            database_url: Some(a.config.database_url.clone()),
            background,
            ..AppOptions::default()
        },
    )
    .await;
    (b, fx)
}

async fn an_upload_on_one_instance_downloads_from_the_other(backend: Backend) {
    let fx = Fixture::new();
    let (a, b, _b_content) = two_instances(&fx, &backend).await;
    let maya_a = a.instructor("maya@example.com", PW).await;
    let basics = lesson_id(&a.db, "basics").await;
    // Larger than one stored piece (256 KiB), so it is read back from several.
    let bytes = pdf_bytes(600_000);
    let up = upload(&a, &maya_a, basics, "Workbook.pdf", bytes.clone()).await;
    assert_eq!(up.status, StatusCode::SEE_OTHER, "{}", up.text(".error"));
    assert!(!fx.file("alpha/downloads/workbook.pdf").exists(), "not on A's disk");

    b.state.refresh_catalog().await.unwrap();
    let maya_b = b.login("maya@example.com", PW).await;
    let (status, got) = download(&b, &maya_b, "workbook.pdf", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got.len(), bytes.len());
    assert!(got == bytes, "byte-identical on the other instance");
    // A range across the boundary of two pieces, and the last bytes.
    let (status, got) = download(&b, &maya_b, "workbook.pdf", Some("bytes=262000-262300")).await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(got, &bytes[262_000..=262_300]);
    let (status, got) = download(&b, &maya_b, "workbook.pdf", Some("bytes=-5")).await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(got, &bytes[bytes.len() - 5..]);
    // Both instances name it the same way (the content's hash), so a resumed download may switch.
    let etag = |app: &TestApp, client: &reqwest::Client| {
        let req = client.get(app.url("/courses/alpha/lessons/basics/downloads/workbook.pdf"));
        async move { req.send().await.unwrap().headers()["etag"].to_str().unwrap().to_owned() }
    };
    assert_eq!(etag(&a, &maya_a).await, etag(&b, &maya_b).await);
    // Someone without a seat gets nothing on either.
    let outsider = b.signup("Out", "out@example.com", PW).await;
    assert_eq!(
        download(&b, &outsider, "workbook.pdf", None).await.0,
        StatusCode::FORBIDDEN
    );
}

/// Issue 14's rule for caches across instances: a student's completion on instance A is on
/// instance B's very next page. Neither instance keeps a student's progress in memory (the lesson
/// page reads seat, progress and acknowledgement in its one query from the shared database; only
/// the session record is cached, and a completion does not change it).
async fn a_completion_on_one_instance_shows_on_the_others_next_page(backend: Backend) {
    let fx = Fixture::new();
    let (a, b, _b_content) = two_instances(&fx, &backend).await;
    let maya = a.instructor("maya@example.com", PW).await;
    let ada_a = a.signup("Ada", "ada@example.com", PW).await;
    let granted = a
        .post_form(
            &maya,
            "/admin/enrollments",
            &[("email", "ada@example.com"), ("course", "alpha")],
        )
        .await;
    assert_eq!(granted.header("location"), "/admin?notice=granted");
    a.acknowledged("ada@example.com", "alpha").await;
    b.state.refresh_catalog().await.unwrap();
    let ada_b = b.login("ada@example.com", PW).await;
    let lesson = "/courses/alpha/lessons/basics";
    let before = b.get_with(&ada_b, lesson).await;
    assert_eq!(before.status, StatusCode::OK);
    assert!(before.text(".complete-box").contains("Mark complete"));
    assert!(before.texts(".lesson-nav li.current.done").is_empty());

    let done = a
        .post_form(&ada_a, &format!("{lesson}/complete"), &[("done", "true")])
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    // B's next page: the lesson marked done, ticked in the syllabus, counted in the progress.
    let after = b.get_with(&ada_b, lesson).await;
    assert!(
        after.text(".complete-box").contains("Done."),
        "{}",
        after.text(".complete-box")
    );
    assert_eq!(after.texts(".lesson-nav li.current.done").len(), 1);
    assert!(after.text(".complete-box .meta").starts_with("1 of "));
    // And back on A, undone there: B's next page again.
    a.post_form(&ada_a, &format!("{lesson}/complete"), &[("done", "false")])
        .await;
    let again = b.get_with(&ada_b, lesson).await;
    assert!(again.text(".complete-box").contains("Mark complete"));
    assert!(again.texts(".lesson-nav li.current.done").is_empty());
}

/// The `learnwell` binary, with the environment of `app` (its database and content).
fn learnwell(app: &TestApp) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_learnwell"));
    cmd.current_dir(app.dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", &app.config.database_url)
        .env("CONTENT_DIR", &app.config.content_dir)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null());
    cmd
}

async fn run(mut cmd: Command) -> std::process::Output {
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

async fn backup_and_restore_bring_back_the_data_and_the_files(backend: Backend) {
    let fx = Fixture::new();
    let a = TestApp::spawn_with(
        &backend,
        AppOptions {
            content_dir: fx.path().to_owned(),
            background: false,
            ..AppOptions::default()
        },
    )
    .await;
    let maya = a.instructor("maya@example.com", PW).await;
    let basics = lesson_id(&a.db, "basics").await;
    let kept = pdf_bytes(300_000);
    let up = upload(&a, &maya, basics, "kept.pdf", kept.clone()).await;
    assert_eq!(up.status, StatusCode::SEE_OTHER, "{}", up.text(".error"));

    let file = a.dir.path().join("nightly.backup");
    let out = run({
        let mut c = learnwell(&a);
        c.arg("backup").arg(&file);
        c
    })
    .await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(file.is_file());

    // After the backup: a new account, a new file, and the first file gone.
    a.signup("Late", "late@example.com", PW).await;
    let up = upload(&a, &maya, basics, "later.pdf", pdf_bytes(1000)).await;
    assert_eq!(up.status, StatusCode::SEE_OTHER);
    db_run!(&a.db, pool => sqlx::query("DELETE FROM stored_files WHERE key = 'alpha/downloads/kept.pdf'")
        .execute(pool).await.map(|_| ()))
    .unwrap();
    assert_eq!(download(&a, &maya, "kept.pdf", None).await.0, StatusCode::NOT_FOUND);

    // Without --yes: nothing happens, and it says to stop the service.
    let out = run({
        let mut c = learnwell(&a);
        c.arg("restore").arg(&file);
        c
    })
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("stop the service first"), "{}", text(&out));
    assert_eq!(
        count(&a.db, "SELECT COUNT(*) FROM users WHERE email = 'late@example.com'").await,
        1
    );

    // The service is stopped (its connections closed), then the backup comes back.
    a.db.close().await;
    let out = run({
        let mut c = learnwell(&a);
        c.arg("restore").arg(&file).arg("--yes");
        c
    })
    .await;
    assert!(out.status.success(), "{}", text(&out));

    let (b, _content) = second_instance(&a, &backend, false).await;
    assert_eq!(
        count(&b.db, "SELECT COUNT(*) FROM users WHERE email = 'late@example.com'").await,
        0
    );
    assert_eq!(
        count(&b.db, "SELECT COUNT(*) FROM users WHERE email = 'maya@example.com'").await,
        1
    );
    assert_eq!(
        count(
            &b.db,
            "SELECT COUNT(*) FROM stored_files WHERE key = 'alpha/downloads/later.pdf'"
        )
        .await,
        0
    );
    let maya_b = b.login("maya@example.com", PW).await;
    let (status, got) = download(&b, &maya_b, "kept.pdf", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(got == kept, "the file is back, byte for byte");
    // A file that is not a backup is refused, changing nothing.
    let junk = a.dir.path().join("junk.backup");
    std::fs::write(&junk, "not a backup").unwrap();
    let out = run({
        let mut c = learnwell(&a);
        c.arg("restore").arg(&junk).arg("--yes");
        c
    })
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(
        count(&b.db, "SELECT COUNT(*) FROM users WHERE email = 'maya@example.com'").await,
        1
    );
}

async fn get_text(url: &str) -> (StatusCode, String) {
    let res = reqwest::get(url).await.unwrap();
    (res.status(), res.text().await.unwrap())
}

async fn readyz_says_what_is_not_ready(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    // The workers beat as soon as they start: ready within moments (polled, with a deadline).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = get_text(&app.url("/readyz")).await;
        if status == StatusCode::OK {
            assert_eq!(body, r#"{"status":"ready"}"#);
            break;
        }
        assert!(Instant::now() < deadline, "never ready: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // /healthz stays as it was.
    let (status, body) = get_text(&app.url("/healthz")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("\"ok\""), "{body}");
    // An instance whose workers do not run is up (healthz) but not ready.
    let (idle, _content) = second_instance(&app, &backend, false).await;
    let (status, body) = get_text(&idle.url("/readyz")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.contains("mail worker: not running"), "{body}");
    assert!(body.contains("scheduler: scheduled launches has not run yet"), "{body}");
    assert_eq!(get_text(&idle.url("/healthz")).await.0, StatusCode::OK);

    // A migration this build has that the database lacks: not ready, and which.
    db_run!(&app.db, pool => sqlx::query("DELETE FROM _sqlx_migrations WHERE version = 14").execute(pool).await.map(|_| ()))
        .unwrap();
    let (status, body) = get_text(&app.url("/readyz")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.contains("migrations not applied: 14"), "{body}");
}

async fn metrics_are_served_on_their_own_address_only(backend: Backend) {
    let app = TestApp::spawn_with(
        &backend,
        AppOptions::env(&[("METRICS_ADDR", "127.0.0.1:0"), ("AUTH_RATE_LIMIT", "3")]),
    )
    .await;
    let metrics = app.metrics_base.clone().expect("a metrics listener");
    assert_eq!(app.get("/").await.status, StatusCode::OK);
    assert_eq!(app.get("/courses/gut-foundations").await.status, StatusCode::OK);
    assert_eq!(app.get("/no/such/page").await.status, StatusCode::NOT_FOUND);
    app.signup("Ada", "ada@example.com", PW).await;
    // Wrong passwords until the rate limit says no.
    let browser = common::new_client();
    let mut limited = false;
    for _ in 0..6 {
        let page = app
            .post_form(
                &browser,
                "/login",
                &[("email", "ada@example.com"), ("password", "wrong wrong wrong")],
            )
            .await;
        if page.status == StatusCode::TOO_MANY_REQUESTS {
            limited = true;
            break;
        }
    }
    assert!(limited, "the log-in form is rate-limited");

    // Never on the public address.
    assert_eq!(app.get("/metrics").await.status, StatusCode::NOT_FOUND);

    let (status, body) = get_text(&format!("{metrics}/metrics")).await;
    assert_eq!(status, StatusCode::OK);
    let has = |name: &str, labels: &[&str]| {
        body.lines()
            .any(|l| l.starts_with(name) && labels.iter().all(|label| l.contains(label)))
    };
    assert!(
        has(
            "learnwell_http_requests_total{",
            &["route=\"/courses/{slug}\"", "status=\"200\"", "method=\"GET\""]
        ),
        "{body}"
    );
    assert!(
        has(
            "learnwell_http_requests_total{",
            &["route=\"unmatched\"", "status=\"404\""]
        ),
        "{body}"
    );
    assert!(
        has(
            "learnwell_http_request_duration_seconds_bucket{",
            &["route=\"/\"", "le=\""]
        ),
        "{body}"
    );
    assert!(
        !body.contains("route=\"/courses/gut-foundations\""),
        "routes, not raw paths"
    );
    assert!(has("learnwell_signups_total", &[]), "{body}");
    assert!(has("learnwell_login_failures_total", &[]), "{body}");
    assert!(
        has("learnwell_rate_limit_refusals_total{", &["route=\"/login\""]),
        "{body}"
    );
    assert!(has("learnwell_outbox_pending", &[]), "{body}");
    assert!(has("learnwell_outbox_oldest_pending_age_seconds", &[]), "{body}");
    assert!(has("learnwell_orders{", &["state=\"paid\""]), "{body}");
    assert!(
        has("learnwell_job_lag_seconds{", &["job=\"scheduled launches\""]) || {
            // The scheduler's first pass may not have finished yet: wait for it, then scrape again.
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                let (_, again) = get_text(&format!("{metrics}/metrics")).await;
                if again.contains("learnwell_job_lag_seconds{job=\"scheduled launches\"}") {
                    break true;
                }
                assert!(Instant::now() < deadline, "no job lag: {again}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    );
}

// ---- the binary: logs and doctor -----------------------------------------------------------

/// Runs `learnwell serve` with `env`, makes a few requests, stops it with SIGTERM, and returns
/// every line it wrote to its (piped) standard error.
fn serve_and_collect_stderr(env: &[(&str, &str)]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_learnwell"));
    cmd.current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", "sqlite://data/learnwell.db")
        .env("CONTENT_DIR", common::repo_path("course_content"))
        .env("LEARNWELL_ADDR", addr.to_string())
        .env("BASE_URL", format!("http://{addr}"))
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let reader = {
        let lines = lines.clone();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        })
    };
    let client = reqwest::blocking::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while client.get(format!("http://{addr}/healthz")).send().is_err() {
        assert!(
            Instant::now() < deadline,
            "the server did not start: {:?}",
            lines.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    for path in ["/courses/gut-foundations", "/no/such/page"] {
        client.get(format!("http://{addr}{path}")).send().unwrap();
    }
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0));
    reader.join().unwrap();
    lines.lock().unwrap().clone()
}

#[test]
fn json_logs_are_one_object_per_line_with_the_request_fields() {
    let lines = serve_and_collect_stderr(&[("LOG_FORMAT", "json")]);
    assert!(lines.len() > 3, "{lines:?}");
    let objects: Vec<serde_json::Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let finished = objects
        .iter()
        .find(|o| o["span"]["route"] == "/courses/{slug}" && o.get("status").is_some())
        .unwrap_or_else(|| panic!("no finished-request line for the program page: {lines:?}"));
    assert!(finished["status"].to_string().contains("200"), "{finished}");
    assert!(
        finished["latency"].as_str().is_some_and(|l| l.ends_with("ms")),
        "{finished}"
    );
    assert_eq!(finished["span"]["client"], "127.0.0.1");
    assert_eq!(finished["span"]["path"], "/courses/gut-foundations");
    assert_eq!(
        finished["span"]["request_id"].as_str().map(str::len),
        Some(36),
        "{finished}"
    );
    let missing = objects
        .iter()
        .find(|o| o["span"]["path"] == "/no/such/page" && o.get("status").is_some())
        .unwrap_or_else(|| panic!("no line for the 404: {lines:?}"));
    assert!(missing["status"].to_string().contains("404"), "{missing}");
    assert_eq!(missing["span"]["route"], "unmatched");
    assert!(
        objects
            .iter()
            .any(|o| o["level"] == "INFO" && o["message"] == "stopped")
    );
}

#[test]
fn piped_logs_have_no_colour_codes() {
    let lines = serve_and_collect_stderr(&[]);
    assert!(lines.iter().any(|l| l.contains("Learnwell is serving")), "{lines:?}");
    assert!(lines.iter().any(|l| l.contains("status=200")), "{lines:?}");
    for line in &lines {
        assert!(!line.contains('\u{1b}'), "an ANSI escape in: {line:?}");
    }
}

/// `learnwell doctor` with a migrated SQLite database, `course_content/`, and `env` on top.
async fn doctor(dir: &std::path::Path, env: &[(&str, String)]) -> (Option<i32>, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_learnwell"));
    cmd.current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", "sqlite://data/learnwell.db")
        .env("DATA_DIR", "data")
        .env("CONTENT_DIR", common::repo_path("course_content"))
        .env("RUST_LOG", "warn")
        .env("SMTP_TIMEOUT", "5")
        .env("STRIPE_TIMEOUT", "5")
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.arg("doctor");
    let out = run(cmd).await;
    (out.status.code(), text(&out))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_passes_a_good_setup_and_names_each_fix() {
    let dir = tempfile::tempdir().unwrap();
    let smtp = common::smtp::SmtpSink::start_with_login("maya", "s3cret-pass").await;
    let stripe = common::stripe::StripeDouble::start().await;
    let smtp_url = |password: &str| format!("smtp://maya:{password}@{}", smtp.addr);

    // No database yet: that is the first thing it says.
    let (code, out) = doctor(dir.path(), &[]).await;
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("✗ database: there is no database at data/learnwell.db"),
        "{out}"
    );
    assert!(
        out.contains("fix: start the service once, or run `learnwell migrate`"),
        "{out}"
    );

    let mut migrate = Command::new(env!("CARGO_BIN_EXE_learnwell"));
    migrate
        .current_dir(dir.path())
        .env_clear()
        .env("DATABASE_URL", "sqlite://data/learnwell.db")
        .arg("migrate");
    assert!(run(migrate).await.status.success());

    let good: Vec<(&str, String)> = vec![
        ("SMTP_URL", smtp_url("s3cret-pass")),
        ("MAIL_FROM", "hello@example.com".into()),
        ("STRIPE_SECRET_KEY", common::stripe::TEST_SECRET_KEY.into()),
        ("STRIPE_WEBHOOK_SECRET", common::stripe::TEST_WEBHOOK_SECRET.into()),
        ("STRIPE_API_BASE", stripe.base_url()),
    ];
    let (code, out) = doctor(dir.path(), &good).await;
    assert_eq!(code, Some(0), "{out}");
    for line in [
        "✔ database: sqlite answers, migrations are current",
        "✔ BASE_URL:",
        "✔ SMTP: 127.0.0.1:",
        "accepts our login",
        "✔ STRIPE_WEBHOOK_SECRET: has the whsec_ form",
        "✔ Stripe: the key works, in test mode",
        "✔ content: ",
        "✔ disk: ",
        "all checks passed",
    ] {
        assert!(out.contains(line), "missing '{line}' in:\n{out}");
    }
    assert!(!out.contains('✗'), "{out}");
    assert!(smtp.all().is_empty(), "no mail was sent");
    // A live key answers in live mode.
    let mut live = good.clone();
    live[2] = ("STRIPE_SECRET_KEY", "sk_live_learnwell_double".into());
    let (code, out) = doctor(dir.path(), &live).await;
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("✔ Stripe: the key works, in live mode"), "{out}");

    // Bad credentials, each named with its fix; exit 1.
    let bad: Vec<(&str, String)> = vec![
        ("SMTP_URL", smtp_url("wrong")),
        ("STRIPE_SECRET_KEY", common::stripe::REVOKED_SECRET_KEY.into()),
        ("STRIPE_WEBHOOK_SECRET", "secret_from_the_wrong_place".into()),
        ("STRIPE_API_BASE", stripe.base_url()),
    ];
    let (code, out) = doctor(dir.path(), &bad).await;
    assert_eq!(code, Some(1), "{out}");
    for line in [
        "✗ SMTP: 127.0.0.1:",
        "refused our login",
        "fix: check the user name and password in SMTP_URL",
        "✗ Stripe: Stripe refused the key",
        "fix: copy the secret key again",
        "✗ STRIPE_WEBHOOK_SECRET: does not start with whsec_",
        "✔ database:",
        "3 check(s) failed",
    ] {
        assert!(out.contains(line), "missing '{line}' in:\n{out}");
    }
    // A public site on http, with mail from another domain and no SMTP or Stripe.
    let public: Vec<(&str, String)> = vec![
        ("BASE_URL", "http://learn.practice.invalid".into()),
        ("MAIL_FROM", "hello@gmail.example".into()),
    ];
    let (code, out) = doctor(dir.path(), &public).await;
    assert_eq!(code, Some(1), "{out}");
    for line in [
        "✗ BASE_URL: http://learn.practice.invalid is not https",
        "✗ DNS: learn.practice.invalid",
        "✗ SMTP: SMTP_URL is not set",
        "✗ Stripe: no keys",
        "⚠ MAIL_FROM: sends from gmail.example, but the site is learn.practice.invalid",
    ] {
        assert!(out.contains(line), "missing '{line}' in:\n{out}");
    }
    // A content folder that does not import.
    let broken = tempfile::tempdir().unwrap();
    std::fs::write(broken.path().join("site.toml"), "name = ").unwrap();
    let (code, out) = doctor(dir.path(), &[("CONTENT_DIR", broken.path().display().to_string())]).await;
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("✗ content: "), "{out}");
}
