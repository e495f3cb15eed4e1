//! The `learnwell` binary as an operator runs it: configuration errors, import, serve, stop, backup.

use crate::common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::fixture::{Fixture, lesson};

fn learnwell(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_learnwell"));
    cmd.current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "info")
        .env(
            "DATABASE_URL",
            format!("sqlite://{}", dir.join("db/learnwell.db").display()),
        )
        .env("CONTENT_DIR", common::repo_path("course_content"))
        .stdin(Stdio::null());
    cmd
}

#[test]
fn bad_configuration_is_one_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    for (var, value, expect) in [
        ("LEARNWELL_ADDR", "localhost:http", "LEARNWELL_ADDR"),
        ("DATABASE_URL", "mysql://root@localhost/db", "DATABASE_URL"),
        ("BASE_URL", "learn.example.com", "BASE_URL"),
        ("CONTENT_DIR", "/no/such/folder", "CONTENT_DIR"),
        ("SMTP_URL", "mail.example.com", "SMTP_URL"),
        ("AUTH_RATE_LIMIT", "100001", "AUTH_RATE_LIMIT"),
        ("AUTH_RATE_LIMIT", "0", "AUTH_RATE_LIMIT"),
        ("TRUSTED_PROXIES", "10.0.0.0/33", "TRUSTED_PROXIES"),
        ("TRUSTED_PROXIES", "caddy", "TRUSTED_PROXIES"),
        ("SHUTDOWN_GRACE", "-1", "SHUTDOWN_GRACE"),
        ("MAX_CONNECTIONS", "0", "MAX_CONNECTIONS"),
    ] {
        let out = learnwell(dir.path()).env(var, value).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{var}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{var}: one line, got: {stderr}");
        assert!(stderr.starts_with(&format!("learnwell: {expect}")), "{stderr}");
        assert!(!stderr.contains("panicked") && !stderr.contains("backtrace"));
    }
    for args in [&["--bogus"][..], &["frobnicate"], &["backup"], &["content", "explode"]] {
        let out = learnwell(dir.path()).args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
    }
    // A broken .env is a configuration error too.
    std::fs::write(dir.path().join(".env"), "BASE_URL=\"unterminated\n").unwrap();
    let out = learnwell(dir.path()).arg("migrate").output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    // Nothing was created by the failed runs.
    assert!(!dir.path().join("db").exists());
}

#[test]
fn content_import_reports_then_refuses_bad_content() {
    let dir = tempfile::tempdir().unwrap();
    let fx = Fixture::new();
    let run = |extra: &[&str]| {
        learnwell(dir.path())
            .env("CONTENT_DIR", fx.path())
            .args(extra)
            .output()
            .unwrap()
    };
    let out = run(&["content", "import"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("added    program alpha"), "{stdout}");
    assert!(
        stdout
            .trim_end()
            .ends_with("11 added, 0 changed, 0 archived, 0 unchanged"),
        "{stdout}"
    );
    let again = String::from_utf8_lossy(&run(&["content", "import"]).stdout).into_owned();
    assert!(
        again
            .trim_end()
            .ends_with("0 added, 0 changed, 0 archived, 11 unchanged"),
        "{again}"
    );

    fx.write(
        "alpha/01-start/02-basics.md",
        &lesson("Broken", false, "[x](nowhere.md)"),
    );
    let out = run(&["content", "import"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("nothing was changed")
            && stderr.contains("02-basics.md")
            && stderr.contains("broken relative link"),
        "{stderr}"
    );
}

/// Reads the server's log until a line matches, with a deadline (no sleeps).
fn wait_for_line(lines: &mut impl Iterator<Item = String>, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    for line in lines.by_ref() {
        if line.contains(needle) {
            return line;
        }
        assert!(Instant::now() < deadline, "timed out waiting for '{needle}'");
    }
    panic!("the server exited before logging '{needle}'");
}

#[test]
fn serve_migrates_imports_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let fx = Fixture::new();
    let mut child = learnwell(dir.path())
        .env("CONTENT_DIR", fx.path())
        .env("LEARNWELL_ADDR", addr.to_string())
        .env("BASE_URL", format!("http://{addr}"))
        .env("DATABASE_URL", "sqlite://data/learnwell.db")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap())
        .lines()
        .map_while(Result::ok);
    let imported = wait_for_line(&mut lines, "imported");
    assert!(imported.contains("into an empty database"), "{imported}");
    let serving = wait_for_line(&mut lines, "Learnwell is serving");
    assert!(serving.contains(&format!("http://{addr}")), "{serving}");
    assert!(
        dir.path().join("data/learnwell.db").is_file(),
        "data/ and the database were created"
    );

    let body = reqwest::blocking::get(format!("http://{addr}/healthz"))
        .unwrap()
        .text()
        .unwrap();
    assert!(body.contains("\"ok\""), "{body}");

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    wait_for_line(&mut lines, "stopped");
    let exit = child.wait().unwrap();
    assert_eq!(exit.code(), Some(0), "exit 0 after SIGTERM");

    // Nothing left to import.
    let out = learnwell(dir.path())
        .env("CONTENT_DIR", fx.path())
        .env("DATABASE_URL", "sqlite://data/learnwell.db")
        .args(["content", "import"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 added, 0 changed, 0 archived,"));

    // backup: a consistent copy that opens and holds the programs.
    let out = learnwell(dir.path())
        .env("DATABASE_URL", "sqlite://data/learnwell.db")
        .args(["backup", "copy.db"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let copy = dir.path().join("copy.db");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let courses: i64 = rt.block_on(async {
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", copy.display()))
            .await
            .unwrap();
        sqlx::query_scalar("SELECT COUNT(*) FROM courses")
            .fetch_one(&pool)
            .await
            .unwrap()
    });
    assert_eq!(courses, 2, "alpha and beta");
    // It refuses to overwrite.
    let out = learnwell(dir.path())
        .env("DATABASE_URL", "sqlite://data/learnwell.db")
        .args(["backup", "copy.db"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn instructor_add_creates_or_promotes() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str], stdin: &str| {
        let mut child = learnwell(dir.path())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    };
    let add = [
        "instructor",
        "add",
        "--email",
        "Maya@Rootwell.example",
        "--name",
        "Maya Lindqvist",
    ];
    let weak = run(&add, "short\n");
    assert_eq!(weak.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&weak.stderr).contains("at least 12 characters"));
    let own_name = run(&add, "MayaLindqvist2026\n");
    assert_eq!(
        own_name.status.code(),
        Some(2),
        "the password policy applies to instructors too"
    );
    let ok = run(&add, "a calm long passphrase\n");
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert_eq!(
        String::from_utf8_lossy(&ok.stdout).trim(),
        "created instructor maya@rootwell.example"
    );
    let again = run(&add, "");
    assert_eq!(
        String::from_utf8_lossy(&again.stdout).trim(),
        "maya@rootwell.example is now an instructor"
    );
    let bad = run(&["instructor", "add", "--email", "nope", "--name", "X"], "");
    assert_eq!(bad.status.code(), Some(2));
    assert_eq!(String::from_utf8_lossy(&bad.stderr).lines().count(), 1);
    let missing = run(&["instructor", "add", "--email", "a@b.example"], "");
    assert_eq!(missing.status.code(), Some(2));
}

#[test]
fn passwords_never_reach_the_logs() {
    let dir = tempfile::tempdir().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let mut child = learnwell(dir.path())
        .env("RUST_LOG", "debug")
        .env("LEARNWELL_ADDR", addr.to_string())
        .env("BASE_URL", format!("http://{addr}"))
        .env("DATA_DIR", dir.path().join("data"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let log = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut BufReader::new(stderr), &mut text).unwrap();
        text
    });
    let base = format!("http://{addr}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while reqwest::blocking::get(format!("{base}/healthz")).is_err() {
        assert!(Instant::now() < deadline, "server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let client = reqwest::blocking::Client::builder().cookie_store(true).build().unwrap();
    let secret = "zebra quartz unique seven";
    for (path, form) in [
        (
            "/signup",
            vec![("name", "Pat"), ("email", "pat@example.com"), ("password", secret)],
        ),
        (
            "/login",
            vec![("email", "pat@example.com"), ("password", "zebra wrong guess")],
        ),
        ("/login", vec![("email", "pat@example.com"), ("password", secret)]),
        (
            "/account/password",
            vec![
                ("current_password", secret),
                ("new_password", "zebra quartz unique eight"),
            ],
        ),
    ] {
        client.post(format!("{base}{path}")).form(&form).send().unwrap();
    }
    // Let the mail worker write the confirmation email, then stop the server.
    let outbox = dir.path().join("data/outbox");
    while std::fs::read_dir(&outbox).map(|d| d.count()).unwrap_or(0) == 0 {
        assert!(Instant::now() < deadline, "no email written to data/outbox/");
        std::thread::sleep(Duration::from_millis(50));
    }
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    child.wait().unwrap();
    let log = log.join().unwrap();
    assert!(log.contains("POST") || log.contains("/login"), "debug logging was on");
    assert!(!log.contains("zebra"), "a password reached the log");
    let eml = std::fs::read_dir(&outbox).unwrap().next().unwrap().unwrap().path();
    assert_eq!(eml.extension().unwrap(), "eml");
    let text = std::fs::read_to_string(eml).unwrap();
    assert!(text.contains("Subject: Confirm your email") && !text.contains("zebra"));
}

#[test]
fn every_setting_is_documented() {
    let config = std::fs::read_to_string(common::repo_path("src/config.rs")).unwrap();
    let example = std::fs::read_to_string(common::repo_path(".env.example")).unwrap();
    let readme = std::fs::read_to_string(common::repo_path("README.md")).unwrap();
    let mut names: Vec<&str> = Vec::new();
    for reader in ["get(\"", "number(&get, \""] {
        names.extend(config.split(reader).skip(1).filter_map(|rest| rest.split('"').next()));
    }
    assert!(names.len() >= 13, "{names:?}");
    for late in [
        "TRUSTED_PROXIES",
        "SHUTDOWN_GRACE",
        "MAX_CONNECTIONS",
        "AUTH_RATE_LIMIT",
    ] {
        assert!(names.contains(&late), "{late} is read as a setting: {names:?}");
    }
    for name in names {
        assert!(
            example.lines().any(|l| l.starts_with(&format!("{name}="))),
            "{name} missing from .env.example"
        );
        assert!(
            readme.contains(&format!("`{name}`")),
            "{name} missing from the README's table"
        );
    }
}

#[test]
fn content_export_and_studio_edits() {
    let dir = tempfile::tempdir().unwrap();
    let fx = Fixture::new();
    let run = |content: &std::path::Path, extra: &[&str]| {
        learnwell(dir.path())
            .env("CONTENT_DIR", content)
            .args(extra)
            .output()
            .unwrap()
    };
    assert!(run(fx.path(), &["content", "import"]).status.success());

    // Bad input: one line, exit 2, nothing written.
    let notes = dir.path().join("notes.txt");
    std::fs::write(&notes, "keep").unwrap();
    for (args, expect) in [
        (vec!["content", "export"], "DIR"),
        (vec!["content", "export", notes.to_str().unwrap()], "is not a folder"),
        (vec!["content", "export", fx.path().to_str().unwrap()], "is not empty"),
    ] {
        let out = run(fx.path(), &args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("learnwell: ") && stderr.contains(expect),
            "{args:?}: {stderr}"
        );
    }
    assert_eq!(std::fs::read_to_string(&notes).unwrap(), "keep");

    let export = dir.path().join("export");
    let out = run(fx.path(), &["content", "export", export.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        stdout.contains("exported 2 programs (3 modules, 5 lessons)"),
        "{stdout}"
    );
    assert!(export.join("alpha/02-deeper/01-detail.md").is_file());
    let again = String::from_utf8_lossy(&run(&export, &["content", "import"]).stdout).into_owned();
    assert!(
        again.contains("0 added, 0 changed, 0 archived, 11 unchanged"),
        "{again}"
    );

    // The studio edits a lesson (its own writes, then the content hash kept up to date).
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = dir.path().join("db/learnwell.db");
    let sql = |q: &'static str| {
        rt.block_on(async {
            let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
                .await
                .unwrap();
            let rows: Vec<(String,)> = sqlx::query_as(q).fetch_all(&pool).await.unwrap();
            pool.close().await;
            rows.into_iter().map(|r| r.0).collect::<Vec<_>>()
        })
    };
    sql(
        "UPDATE lessons SET body_md = 'Studio text.', body_html = '<p>Studio text.</p>', studio_edited = TRUE, \
         source_hash = 'studio', updated_at = '2026-11-24T15:00:00Z' WHERE slug = 'basics' RETURNING slug",
    );

    let out = run(fx.path(), &["content", "import"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("nothing was changed"), "{stderr}");
    assert!(
        stderr
            .contains("lesson alpha/basics was edited in the studio on 24 November 2026; importing would overwrite it"),
        "{stderr}"
    );
    assert!(
        stderr.contains("`learnwell content import --force`") && stderr.contains("`learnwell content export DIR`"),
        "{stderr}"
    );
    assert_eq!(
        sql("SELECT body_md FROM lessons WHERE slug = 'basics'"),
        vec!["Studio text."]
    );

    let out = run(fx.path(), &["content", "import", "--force"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        stdout.contains("forced   lesson alpha/basics (edited in the studio on 24 November 2026)"),
        "{stdout}"
    );
    assert!(stdout.contains("changed  lesson alpha/basics"), "{stdout}");
    assert_eq!(
        sql("SELECT body_md FROM lessons WHERE slug = 'basics'"),
        vec!["Secret basics body text.\n\n## Try this week\nDrink a glass of water."]
    );
    assert_eq!(
        sql("SELECT actor || ' ' || action || ' ' || subject FROM audit_log"),
        vec!["content import --force content.import.force lesson alpha/basics"]
    );
    assert!(sql("SELECT slug FROM lessons WHERE studio_edited").is_empty());
}
