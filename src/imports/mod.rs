//! Moving students in: a CSV of a program's students, as Teachable or Kajabi export it, read by
//! `learnwell import students FILE --program SLUG` and by the studio's import page, both through
//! [`import_students`].
//!
//! A dry run says per row what would happen. The real run is one transaction for the whole file
//! (a bad row anywhere, and nothing is imported), creates accounts without a password or reuses
//! existing ones, gives each a seat (source `import`, no payment) dated when they enrolled,
//! marks the lessons they completed, and queues each new account one welcome email with a link to
//! choose a password (at most once, ever: `import_welcomes`). Running it again changes nothing and
//! sends nothing.

pub mod parse;
pub mod store;

use std::collections::HashMap;

use minijinja::context;
use serde::Serialize;
use time::{Duration, OffsetDateTime};

use crate::audit::Actor;
use crate::context::Ctx;
use crate::domain::SeatStatus;
use crate::error::Error;
use crate::mail::{self, Category, Outgoing};

pub use parse::{FileError, Parsed, Problem};

/// How long the welcome email's "choose your password" link works.
pub const WELCOME_LINK_LIFETIME: Duration = Duration::days(14);
/// Rows a report lists one by one (the counts cover all of them).
pub const REPORT_ROWS: usize = 1_000;

/// What happens to one student.
#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// No account with the address: one is made (no password), enrolled, and welcomed.
    NewAccount,
    /// An account exists: it is enrolled (no email).
    ExistingAccount,
    /// Already has a seat: nothing changes.
    AlreadyEnrolled,
    /// Had a seat that a refund ended: nothing changes (re-open it by hand if that is meant).
    SeatEnded,
}

impl Outcome {
    pub fn describe(self) -> &'static str {
        match self {
            Outcome::NewAccount => "new account",
            Outcome::ExistingAccount => "existing account, enrolled",
            Outcome::AlreadyEnrolled => "already enrolled: unchanged",
            Outcome::SeatEnded => "seat ended by a refund: unchanged",
        }
    }
}

#[derive(Serialize, Debug, Clone)]
pub struct RowReport {
    pub line: u64,
    pub email: String,
    pub name: String,
    pub outcome: Outcome,
    pub outcome_text: &'static str,
    /// Completed lessons found in the program by title.
    pub matched: usize,
    /// Titles from the file that are not a lesson of the program.
    pub unmatched: Vec<String>,
}

#[derive(Serialize, Debug, Clone, Default)]
pub struct Report {
    pub program: String,
    pub slug: String,
    pub dry_run: bool,
    pub students: usize,
    pub new_accounts: usize,
    pub existing_accounts: usize,
    pub already_enrolled: usize,
    pub seats_ended: usize,
    /// Lessons marked complete (or, in a dry run, to be marked).
    pub lessons_completed: usize,
    /// Every title that matched no lesson, once each, in the order first seen.
    pub unmatched_titles: Vec<String>,
    /// Welcome emails queued (or, in a dry run, to be queued).
    pub welcome_emails: usize,
    /// The first [`REPORT_ROWS`] rows.
    pub rows: Vec<RowReport>,
    /// Rows not listed in `rows`.
    pub rows_not_listed: usize,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let verb = if self.dry_run { "would be" } else { "were" };
        writeln!(
            f,
            "{} students for {} ({}){}:",
            self.students,
            self.program,
            self.slug,
            if self.dry_run {
                ", dry run: nothing was changed"
            } else {
                ""
            }
        )?;
        writeln!(
            f,
            "  {} new accounts {verb} made and sent a welcome email",
            self.new_accounts
        )?;
        writeln!(f, "  {} existing accounts {verb} enrolled", self.existing_accounts)?;
        writeln!(f, "  {} already enrolled (unchanged)", self.already_enrolled)?;
        if self.seats_ended > 0 {
            writeln!(f, "  {} had a seat a refund ended (unchanged)", self.seats_ended)?;
        }
        writeln!(f, "  {} lessons {verb} marked complete", self.lessons_completed)?;
        if !self.unmatched_titles.is_empty() {
            writeln!(f, "  lesson titles not found in the program (ignored):")?;
            for t in &self.unmatched_titles {
                writeln!(f, "    {t}")?;
            }
        }
        Ok(())
    }
}

/// Why an import did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file cannot be read as a whole.
    #[error("{0}")]
    File(#[from] FileError),
    /// Rows the import cannot take: nothing was imported.
    #[error("{} row(s) cannot be imported; nothing was imported", .problems.len() + .more)]
    Rows { problems: Vec<Problem>, more: usize },
    #[error("there is no program '{0}' (a draft program cannot take students yet)")]
    NoProgram(String),
    #[error(transparent)]
    Failed(#[from] Error),
}

impl From<sqlx::Error> for ImportError {
    fn from(e: sqlx::Error) -> Self {
        ImportError::Failed(e.into())
    }
}

/// Title as compared: case and spacing do not matter.
fn title_key(title: &str) -> String {
    title.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

/// Imports (or, with `dry_run`, only reports on) the students of `parsed` into the program `slug`.
/// `file` names the file in the audit log.
pub async fn import_students(
    ctx: &Ctx,
    slug: &str,
    parsed: &Parsed,
    dry_run: bool,
    actor: Actor<'_>,
    file: &str,
) -> Result<Report, ImportError> {
    if !parsed.problems.is_empty() {
        return Err(ImportError::Rows {
            problems: parsed.problems.clone(),
            more: parsed.more_problems,
        });
    }
    let catalog = ctx.catalog();
    let program = catalog
        .program(slug)
        .ok_or_else(|| ImportError::NoProgram(slug.to_owned()))?;
    let course_id = program.course_id;
    let lessons: HashMap<String, i64> = program
        .rows
        .iter()
        .rev() // the first lesson of a title wins
        .map(|r| (title_key(&r.lesson_title), r.lesson_id))
        .collect();
    let now = ctx.clock.now();

    let mut tx = ctx.db.begin().await?;
    store::lock_imports(&mut tx).await?;
    let emails: Vec<&str> = parsed.rows.iter().map(|r| r.email.as_str()).collect();
    let existing: HashMap<String, i64> = crate::accounts::store::ids_by_emails(&mut tx, &emails)
        .await?
        .into_iter()
        .map(|(id, email)| (email, id))
        .collect();
    let existing_ids: Vec<i64> = existing.values().copied().collect();
    let seats: HashMap<i64, SeatStatus> = crate::enrollment::store::seats_in(&mut tx, course_id, &existing_ids)
        .await?
        .into_iter()
        .collect();

    let mut report = Report {
        program: program.title.clone(),
        slug: slug.to_owned(),
        dry_run,
        students: parsed.rows.len(),
        ..Report::default()
    };
    // Per row: its outcome and the lesson ids it completes.
    let mut plan: Vec<(Outcome, Vec<i64>)> = Vec::with_capacity(parsed.rows.len());
    for row in &parsed.rows {
        let outcome = match existing.get(row.email.as_str()) {
            None => Outcome::NewAccount,
            Some(id) => match seats.get(id) {
                None => Outcome::ExistingAccount,
                // A seat paused by an unpaid plan stays as it is: an import never lifts the pause.
                Some(SeatStatus::Active | SeatStatus::Paused) => Outcome::AlreadyEnrolled,
                Some(SeatStatus::Revoked) => Outcome::SeatEnded,
            },
        };
        let mut matched: Vec<i64> = Vec::new();
        let mut unmatched: Vec<String> = Vec::new();
        for title in &row.completed {
            match lessons.get(&title_key(title)) {
                Some(id) if !matched.contains(id) => matched.push(*id),
                Some(_) => {}
                None => {
                    unmatched.push(title.clone());
                    if !report.unmatched_titles.contains(title) {
                        report.unmatched_titles.push(title.clone());
                    }
                }
            }
        }
        let enrolls = matches!(outcome, Outcome::NewAccount | Outcome::ExistingAccount);
        match outcome {
            Outcome::NewAccount => report.new_accounts += 1,
            Outcome::ExistingAccount => report.existing_accounts += 1,
            Outcome::AlreadyEnrolled => report.already_enrolled += 1,
            Outcome::SeatEnded => report.seats_ended += 1,
        }
        if enrolls {
            report.lessons_completed += matched.len();
        }
        if report.rows.len() < REPORT_ROWS {
            report.rows.push(RowReport {
                line: row.line,
                email: row.email.as_str().to_owned(),
                name: row.name.as_str().to_owned(),
                outcome,
                outcome_text: outcome.describe(),
                matched: matched.len(),
                unmatched,
            });
        } else {
            report.rows_not_listed += 1;
        }
        plan.push((outcome, if enrolls { matched } else { Vec::new() }));
    }
    report.welcome_emails = report.new_accounts;
    if dry_run {
        // Nothing was written; the transaction ends unused.
        drop(tx);
        return Ok(report);
    }

    // The accounts.
    let people: Vec<(&str, &str)> = parsed
        .rows
        .iter()
        .zip(&plan)
        .filter(|(_, (o, _))| *o == Outcome::NewAccount)
        .map(|(r, _)| (r.email.as_str(), r.name.as_str()))
        .collect();
    let made: HashMap<String, i64> = crate::accounts::store::insert_students_without_password(&mut tx, &people, now)
        .await?
        .into_iter()
        .map(|(id, email)| (email, id))
        .collect();
    let id_of = |email: &str| existing.get(email).or_else(|| made.get(email)).copied();

    // Seats, dated when they enrolled; lessons; drip notices for what is open already.
    let mut seats_new: Vec<(i64, OffsetDateTime)> = Vec::new();
    let mut done: Vec<(i64, i64)> = Vec::new();
    let mut notes: Vec<(i64, i64)> = Vec::new();
    let modules: Vec<&crate::catalog::store::SyllabusRow> = {
        let mut seen: Vec<i64> = Vec::new();
        program
            .rows
            .iter()
            .filter(|r| {
                let first = !seen.contains(&r.module_id);
                seen.push(r.module_id);
                first
            })
            .collect()
    };
    for (row, (outcome, matched)) in parsed.rows.iter().zip(&plan) {
        if !matches!(outcome, Outcome::NewAccount | Outcome::ExistingAccount) {
            continue;
        }
        let Some(user_id) = id_of(row.email.as_str()) else {
            return Err(Error::Internal(anyhow::anyhow!("import: no account id for line {}", row.line)).into());
        };
        let enrolled_at = row.enrolled_at.unwrap_or(now);
        seats_new.push((user_id, enrolled_at));
        done.extend(matched.iter().map(|lesson| (user_id, *lesson)));
        for m in &modules {
            let open = crate::learning::view::opens_at(m, enrolled_at, &catalog.tz).is_none_or(|at| at <= now);
            if open {
                notes.push((user_id, m.module_id));
            }
        }
    }
    crate::enrollment::store::grant_many(&mut tx, course_id, "import", &seats_new, now).await?;
    crate::learning::store::complete_many(&mut tx, course_id, &done, now).await?;
    crate::learning::store::note_unlocks_many(&mut tx, &notes, now).await?;

    // One welcome email per new account, ever.
    let new_ids: Vec<i64> = made.values().copied().collect();
    let welcome = store::record_welcomes(&mut tx, course_id, &new_ids, now).await?;
    let lessons_of: HashMap<i64, usize> = parsed
        .rows
        .iter()
        .zip(&plan)
        .filter_map(|(r, (_, m))| made.get(r.email.as_str()).map(|id| (*id, m.len())))
        .collect();
    let names: HashMap<&str, &str> = people.iter().copied().collect();
    let mut links: Vec<(i64, String, String)> = Vec::with_capacity(welcome.len());
    let mut mails: Vec<(String, String, i64)> = Vec::with_capacity(welcome.len());
    for (email, id) in &made {
        if !welcome.contains(id) {
            continue;
        }
        let (token, hash) = crate::accounts::tokens::new_token();
        links.push((*id, hash, email.clone()));
        mails.push((email.clone(), token, *id));
    }
    crate::accounts::store::insert_tokens_many(
        &mut tx,
        crate::accounts::flows::RESET,
        &links,
        now + WELCOME_LINK_LIFETIME,
        now,
    )
    .await?;
    let site_name = catalog.site.name.clone();
    for (email, token, id) in &mails {
        mail::enqueue(
            &mut tx,
            ctx,
            Outgoing {
                to: email,
                to_name: names.get(email.as_str()).copied().unwrap_or(""),
                subject: format!("Your place in {} has moved to {site_name}", program.title),
                template: "welcome_import",
                ctx: context! {
                    link => format!("{}/reset-password?token={token}", ctx.config.base_url),
                    login => format!("{}/login", ctx.config.base_url),
                    program => program.title.clone(),
                    lessons => lessons_of.get(id).copied().unwrap_or(0),
                    days => WELCOME_LINK_LIFETIME.whole_days(),
                },
                category: Category::Transactional,
                dedupe_key: Some(format!("import-welcome:{id}")),
                campaign: Some("import-welcome".to_owned()),
            },
        )
        .await?;
    }
    report.welcome_emails = mails.len();
    let detail = format!(
        "{file}: {} rows; {} new accounts, {} existing enrolled, {} already enrolled, {} lessons completed",
        report.students,
        report.new_accounts,
        report.existing_accounts,
        report.already_enrolled,
        report.lessons_completed
    );
    crate::audit::record(&mut tx, actor, "students.import", slug, &detail, now).await?;
    tx.commit().await?;
    if !mails.is_empty() {
        ctx.mail_wakeup.notify_one();
    }
    tracing::info!(
        program = slug,
        students = report.students,
        new = report.new_accounts,
        "students imported"
    );
    Ok(report)
}
