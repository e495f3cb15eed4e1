//! The `learnwell` binary as an operator runs it: configuration errors, import, serve, stop, backup.

mod common;

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
