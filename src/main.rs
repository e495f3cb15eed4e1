//! The `learnwell` command: parse arguments, load the configuration, run one command.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use learnwell::config::Config;
use learnwell::domain::{Email, NewPassword, PersonName};
use learnwell::{content, db::Db, server};

/// mimalloc rather than the system allocator: a lesson page makes a few hundred small allocations
/// (the template engine's values, the rows, the page), which it serves faster, and memory freed
/// (a password hash's 19 MiB block, once no log-in is waiting) goes back to the system instead of
/// staying in a thread's arena. The benchmark (benches/run.sh) measured both.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "learnwell", version, about = "A self-hosted online course platform")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Migrate, import course_content/ into an empty database, and serve the site (the default).
    Serve,
    /// Bring the database schema up to date.
    Migrate,
    /// Work with the programs' content files.
    Content {
        #[command(subcommand)]
        command: ContentCommand,
    },
    /// Write a backup of the whole database (stored files included) to FILE, a new file: SQLite
    /// copies the running database; PostgreSQL runs pg_dump (custom format).
    Backup { file: PathBuf },
    /// Replace the database with the backup in FILE. Stop the service first.
    Restore {
        file: PathBuf,
        /// Confirm: everything in DATABASE_URL is replaced by the backup.
        #[arg(long)]
        yes: bool,
    },
    /// Check the configuration (database, BASE_URL, SMTP, Stripe, MAIL_FROM, content, disk):
    /// ✔ or ✗ and the fix for each; exit 1 when anything failed.
    Doctor,
    /// Manage instructor accounts.
    Instructor {
        #[command(subcommand)]
        command: InstructorCommand,
    },
    /// Move students in from another platform.
    Import {
        #[command(subcommand)]
        command: ImportCommand,
    },
}

#[derive(Subcommand)]
enum ImportCommand {
    /// Enroll the students of FILE (a CSV exported by Teachable, Kajabi, ...; see the README for
    /// its columns) in a program: new accounts are made and emailed a link to choose a password.
    /// Safe to run again. Nothing is imported while any row has a problem.
    Students {
        file: PathBuf,
        /// The program's slug (its address: /courses/SLUG).
        #[arg(long)]
        program: String,
        /// Only say what would happen.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Subcommand)]
enum InstructorCommand {
    /// Create an instructor (password from standard input, or a prompt on a terminal), or make an
    /// existing account an instructor.
    Add {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
    },
}

#[derive(Subcommand)]
enum ContentCommand {
    /// Import CONTENT_DIR: add and update programs, modules and lessons (safe to run again).
    /// Refuses to overwrite changes made in the studio unless --force.
    Import {
        /// Overwrite changes made in the studio (each is written to the audit log).
        #[arg(long)]
        force: bool,
    },
    /// Write the programs as the database holds them (studio edits included) to DIR, a new or
    /// empty folder, in the CONTENT_DIR format.
    Export { dir: PathBuf },
}

/// One line on stderr, then exit 2: bad arguments or configuration.
fn usage_error(message: impl std::fmt::Display) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "learnwell: {message}");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            // clap's first paragraph, on one line: "... not provided: <DIR>".
            let text = e.to_string();
            let first: Vec<&str> = text
                .lines()
                .map(str::trim)
                .take_while(|line| !line.is_empty())
                .collect();
            let first = first.join(" ");
            let first = first.trim_start_matches("error: ");
            let first = if first.is_empty() { "bad arguments" } else { first };
            return usage_error(format!("{first} (see learnwell --help)"));
        }
    };
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(e) => return usage_error(e),
    };
    let command = cli.command.unwrap_or(Command::Serve);
    if matches!(command, Command::Serve | Command::Content { .. })
        && let Err(e) = config.check_content_dir()
    {
        return usage_error(e);
    }
    init_tracing(config.log_format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => return usage_error(format!("cannot start the async runtime: {e}")),
    };
    let result = runtime.block_on(run(command, config));
    // Connections still open after the grace period (a client that never finishes its request)
    // must not keep the process alive.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(code) => code,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "learnwell: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, config: Config) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve => server::serve(config).await?,
        Command::Migrate => {
            let db = Db::connect(&config.database_url, &config.database_kind).await?;
            db.migrate().await?;
            println!("migrations are up to date ({})", db.backend_name());
        }
        Command::Content {
            command: ContentCommand::Import { force },
        } => {
            let db = Db::connect(&config.database_url, &config.database_kind).await?;
            db.migrate().await?;
            match content::import_with(&db, &config.content_dir, force).await {
                Ok(report) => println!("{report}"),
                Err(content::ImportError::Content(e)) => {
                    let _ = writeln!(std::io::stderr(), "learnwell: import refused, nothing was changed: {e}");
                    return Ok(ExitCode::FAILURE);
                }
                Err(content::ImportError::StudioEdits(lines)) => {
                    let mut stderr = std::io::stderr().lock();
                    let _ = writeln!(
                        stderr,
                        "learnwell: import refused, nothing was changed: it would undo changes made in the studio:"
                    );
                    for line in lines {
                        let _ = writeln!(stderr, "  {line}");
                    }
                    let _ = writeln!(
                        stderr,
                        "run `learnwell content import --force` to overwrite them, or `learnwell content export DIR` first to keep them"
                    );
                    return Ok(ExitCode::from(2));
                }
                Err(e) => return Err(e.into()),
            }
        }
        Command::Content {
            command: ContentCommand::Export { dir },
        } => {
            if let Err(e) = content::check_export_target(&dir) {
                return Ok(usage_error(e));
            }
            let db = Db::connect(&config.database_url, &config.database_kind).await?;
            db.migrate().await?;
            match content::export(&db, &config.content_dir, &dir).await {
                Ok(report) => println!("{report}"),
                Err(e) if e.is_bad_target() => return Ok(usage_error(e)),
                Err(e) => {
                    let _ = writeln!(std::io::stderr(), "learnwell: export failed: {e}");
                    return Ok(ExitCode::FAILURE);
                }
            }
        }
        Command::Instructor {
            command: InstructorCommand::Add { email, name },
        } => return add_instructor(config, &email, &name).await,
        Command::Import {
            command: ImportCommand::Students { file, program, dry_run },
        } => return import_students(config, &file, &program, dry_run).await,
        Command::Backup { file } => {
            learnwell::backup::backup(&config, &file).await?;
            println!("backed up to {}", file.display());
        }
        Command::Restore { file, yes } => {
            if !yes {
                return Ok(usage_error(format!(
                    "restore replaces everything in the database with {}: stop the service first \
                     (systemctl stop learnwell), then run `learnwell restore {} --yes`",
                    file.display(),
                    file.display()
                )));
            }
            learnwell::backup::restore(&config, &file).await?;
            println!(
                "restored {} into the database; start the service again (it applies any newer migrations)",
                file.display()
            );
        }
        Command::Doctor => {
            let checks = learnwell::doctor::run(&config, |check| println!("{}", check.line())).await;
            let failed = checks
                .iter()
                .filter(|c| c.verdict == learnwell::doctor::Verdict::Fail)
                .count();
            if failed > 0 {
                println!("{failed} check(s) failed");
                return Ok(ExitCode::FAILURE);
            }
            println!("all checks passed");
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn add_instructor(config: Config, email: &str, name: &str) -> anyhow::Result<ExitCode> {
    let email = match Email::parse(email) {
        Ok(e) => e,
        Err(e) => return Ok(usage_error(format!("--email: {e}"))),
    };
    let name = match PersonName::parse(name) {
        Ok(n) => n,
        Err(e) => return Ok(usage_error(format!("--name: {e}"))),
    };
    let db = Db::connect(&config.database_url, &config.database_kind).await?;
    db.migrate().await?;
    let now = learnwell::clock::Clock::default().now();
    let exists = learnwell::accounts::store::user_by_email(&db, email.as_str())
        .await?
        .is_some();
    let password = if exists {
        None
    } else {
        let text = read_password()?;
        match NewPassword::parse(&text, &[name.as_str(), email.as_str()]) {
            Ok(p) => Some(p),
            Err(e) => return Ok(usage_error(format!("password: {e}"))),
        }
    };
    let created = learnwell::accounts::flows::add_instructor(&db, &email, &name, password.as_ref(), now).await?;
    if created {
        println!("created instructor {email}");
    } else {
        println!("{email} is now an instructor");
    }
    Ok(ExitCode::SUCCESS)
}

async fn import_students(
    config: Config,
    file: &std::path::Path,
    program: &str,
    dry_run: bool,
) -> anyhow::Result<ExitCode> {
    use learnwell::imports::{self, ImportError};
    let input = match std::fs::File::open(file) {
        Ok(f) => f,
        Err(e) => return Ok(usage_error(format!("cannot open {}: {e}", file.display()))),
    };
    let db = Db::connect(&config.database_url, &config.database_kind).await?;
    db.migrate().await?;
    let ctx = learnwell::Ctx::new(config, db).await?;
    let tz = ctx.catalog().tz.clone();
    let now = ctx.clock.now();
    let parsed =
        tokio::task::spawn_blocking(move || imports::parse::read(std::io::BufReader::new(input), &tz, now)).await?;
    let actor = learnwell::audit::Actor {
        user_id: None,
        name: "command line",
    };
    let label = file
        .file_name()
        .map_or_else(|| file.display().to_string(), |n| n.to_string_lossy().into_owned());
    let outcome = match parsed {
        Ok(parsed) => imports::import_students(&ctx, program, &parsed, dry_run, actor, &label).await,
        Err(e) => Err(ImportError::File(e)),
    };
    let mut stderr = std::io::stderr().lock();
    match outcome {
        Ok(report) => {
            if dry_run {
                for row in &report.rows {
                    let mut line = format!("line {}: {} <{}>: {}", row.line, row.name, row.email, row.outcome_text);
                    if row.matched > 0 {
                        line.push_str(&format!(", {} completed lessons", row.matched));
                    }
                    if !row.unmatched.is_empty() {
                        line.push_str(&format!(", not found: {}", row.unmatched.join("; ")));
                    }
                    println!("{line}");
                }
                if report.rows_not_listed > 0 {
                    println!("({} more rows not listed)", report.rows_not_listed);
                }
            }
            print!("{report}");
            ctx.db.close().await;
            Ok(ExitCode::SUCCESS)
        }
        Err(ImportError::Rows { problems, more }) => {
            let _ = writeln!(
                stderr,
                "learnwell: nothing was imported: {} row(s) have problems:",
                problems.len() + more
            );
            for p in &problems {
                let _ = writeln!(stderr, "  line {}: {}", p.line, p.message);
            }
            if more > 0 {
                let _ = writeln!(stderr, "  ... and {more} more");
            }
            Ok(ExitCode::FAILURE)
        }
        Err(ImportError::NoProgram(slug)) => Ok(usage_error(format!(
            "--program: there is no program '{slug}' (a draft program cannot take students yet)"
        ))),
        Err(ImportError::File(e)) => {
            let _ = writeln!(stderr, "learnwell: nothing was imported: {}: {e}", file.display());
            Ok(ExitCode::FAILURE)
        }
        Err(ImportError::Failed(e)) => Err(e.into()),
    }
}

/// On a terminal: asked twice, not echoed. Otherwise: the first line of standard input.
fn read_password() -> anyhow::Result<String> {
    use std::io::IsTerminal;
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password (at least 12 characters): ")?;
        let second = rpassword::prompt_password("Same password again: ")?;
        if first != second {
            anyhow::bail!("the two passwords differ");
        }
        Ok(first)
    } else {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        Ok(line.trim_end_matches(['\r', '\n']).to_owned())
    }
}

/// Log lines on stderr: readable (coloured only on a terminal) or, with `LOG_FORMAT=json`, one
/// JSON object per line whose `span` holds the request's id, route and client address.
fn init_tracing(format: learnwell::config::LogFormat) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr);
    match format {
        learnwell::config::LogFormat::Pretty => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        learnwell::config::LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .init(),
    }
}
