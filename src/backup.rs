//! `learnwell backup FILE` and `learnwell restore FILE`: the whole database (stored files
//! included) to one file and back.
//!
//! SQLite: a consistent copy of the running database (`VACUUM INTO`); restoring puts a copy in
//! place of the database file (with the service stopped). PostgreSQL: `pg_dump --format=custom`
//! and `pg_restore --clean --if-exists --no-owner`, the PostgreSQL client tools, which must be
//! installed (the same major version as the server, or newer).

use std::path::{Path, PathBuf};

use crate::config::{Config, DatabaseKind};
use crate::db::Db;

/// The SQLite database file named by a `sqlite://PATH[?options]` URL.
pub fn sqlite_path(database_url: &str) -> PathBuf {
    let path = database_url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    PathBuf::from(path.split('?').next().unwrap_or(path))
}

/// Writes a backup of the database to `file`, which must not exist yet.
pub async fn backup(config: &Config, file: &Path) -> anyhow::Result<()> {
    if file.exists() {
        anyhow::bail!("{} already exists; choose a new file name", file.display());
    }
    match config.database_kind {
        DatabaseKind::Sqlite => {
            let path = sqlite_path(&config.database_url);
            if !path.is_file() {
                anyhow::bail!("there is no database at {} (DATABASE_URL) to back up", path.display());
            }
            let db = Db::connect(&config.database_url, &config.database_kind).await?;
            let result = db.backup_to(file).await;
            db.close().await;
            result
        }
        DatabaseKind::Postgres => {
            let (url, password) = without_password(&config.database_url)?;
            let mut args: Vec<String> = vec!["--format=custom".into(), "--file".into()];
            args.push(
                file.to_str()
                    .ok_or_else(|| anyhow::anyhow!("the backup path is not UTF-8"))?
                    .into(),
            );
            args.push("--dbname".into());
            args.push(url);
            run_tool("pg_dump", &args, password).await
        }
    }
}

/// Replaces the database with the backup in `file`. The service must be stopped first.
pub async fn restore(config: &Config, file: &Path) -> anyhow::Result<()> {
    if !file.is_file() {
        anyhow::bail!("{} is not a file", file.display());
    }
    match config.database_kind {
        DatabaseKind::Sqlite => restore_sqlite(config, file).await,
        DatabaseKind::Postgres => {
            let (url, password) = without_password(&config.database_url)?;
            let args: Vec<String> = vec![
                "--clean".into(),
                "--if-exists".into(),
                "--no-owner".into(),
                "--single-transaction".into(),
                "--exit-on-error".into(),
                "--dbname".into(),
                url,
                file.to_str()
                    .ok_or_else(|| anyhow::anyhow!("the backup path is not UTF-8"))?
                    .into(),
            ];
            run_tool("pg_restore", &args, password).await
        }
    }
}

async fn restore_sqlite(config: &Config, file: &Path) -> anyhow::Result<()> {
    let mut head = [0u8; 16];
    {
        use std::io::Read;
        let mut f = std::fs::File::open(file)?;
        if f.read_exact(&mut head).is_err() || &head != b"SQLite format 3\0" {
            anyhow::bail!(
                "{} is not a SQLite database (a backup made by `learnwell backup`)",
                file.display()
            );
        }
    }
    // Check it opens and is whole before it replaces anything.
    let verdict: String = {
        use sqlx::Connection;
        let options = sqlx::sqlite::SqliteConnectOptions::new().filename(file).read_only(true);
        let mut check = sqlx::SqliteConnection::connect_with(&options).await?;
        let verdict = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(&mut check)
            .await?;
        check.close().await?;
        verdict
    };
    if verdict != "ok" {
        anyhow::bail!(
            "{} is damaged (integrity check: {verdict}); nothing was changed",
            file.display()
        );
    }
    let target = sqlite_path(&config.database_url);
    let dir = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir)?;
    // Copied beside the database, then renamed over it: the database is either the old one or the
    // restored one, never half of each.
    let tmp = dir.join(format!(".restore-{}", uuid::Uuid::new_v4().simple()));
    std::fs::copy(file, &tmp)?;
    std::fs::File::open(&tmp)?.sync_all()?;
    // The old database's write-ahead log must not be applied to the restored one.
    for suffix in ["-wal", "-shm"] {
        let mut side = target.clone().into_os_string();
        side.push(suffix);
        match std::fs::remove_file(&side) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(anyhow::anyhow!("cannot remove {}: {e}", PathBuf::from(side).display()));
            }
        }
    }
    if let Err(e) = std::fs::rename(&tmp, &target) {
        let _ = std::fs::remove_file(&tmp);
        return Err(anyhow::anyhow!("cannot replace {}: {e}", target.display()));
    }
    Ok(())
}

/// The URL without its password (which goes to the tool in `PGPASSWORD`, not on its command line
/// where `ps` shows it).
fn without_password(database_url: &str) -> anyhow::Result<(String, Option<String>)> {
    let mut url = url::Url::parse(database_url).map_err(|e| anyhow::anyhow!("DATABASE_URL is not a URL: {e}"))?;
    let password = url.password().map(percent_decode);
    if password.is_some() {
        let _ = url.set_password(None);
    }
    Ok((url.to_string(), password))
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Runs a PostgreSQL client tool; a missing tool is said plainly, with what to install.
async fn run_tool(tool: &'static str, args: &[String], password: Option<String>) -> anyhow::Result<()> {
    let args = args.to_vec();
    let output = tokio::task::spawn_blocking(move || {
        let mut cmd = std::process::Command::new(tool);
        cmd.args(&args);
        if let Some(p) = password {
            cmd.env("PGPASSWORD", p);
        }
        cmd.output()
    })
    .await?;
    let output = match output {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => anyhow::bail!(
            "{tool} was not found: install the PostgreSQL client tools of your server's version \
             (on Debian or Ubuntu: apt-get install postgresql-client) and run this again"
        ),
        Err(e) => anyhow::bail!("cannot run {tool}: {e}"),
    };
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        anyhow::bail!("{tool} failed ({}): {}", output.status, stderr.trim());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_leave_the_url() {
        let (url, pw) = without_password("postgres://app:s%40cret@db.example:5432/learnwell").unwrap();
        assert_eq!(url, "postgres://app@db.example:5432/learnwell");
        assert_eq!(pw.as_deref(), Some("s@cret"));
        let (url, pw) = without_password("postgres://postgres@127.0.0.1/x").unwrap();
        assert_eq!((url.as_str(), pw), ("postgres://postgres@127.0.0.1/x", None));
        assert_eq!(sqlite_path("sqlite://data/x.db?mode=rwc"), PathBuf::from("data/x.db"));
    }
}
