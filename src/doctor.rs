//! `learnwell doctor`: checks the settings a practice gets wrong when it goes live, one line each
//! with ✔ or ✗ (and ⚠ for what works but looks wrong), and the fix under each ✗. Sends no email
//! and changes nothing. All ✔/⚠: exit 0; any ✗: exit 1.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use crate::config::{Config, DatabaseKind};
use crate::db::Db;

/// Below this much free space in the data folder, the check fails.
pub const MIN_FREE_BYTES: u64 = 512 * 1024 * 1024;
/// Below this much, it warns.
pub const LOW_FREE_BYTES: u64 = 2 * 1024 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Warn,
    Fail,
}

#[derive(Debug)]
pub struct Check {
    pub name: &'static str,
    pub verdict: Verdict,
    pub detail: String,
    /// What to do about it (for a ✗ or ⚠).
    pub fix: Option<String>,
}

impl Check {
    fn pass(name: &'static str, detail: impl Into<String>) -> Check {
        Check {
            name,
            verdict: Verdict::Pass,
            detail: detail.into(),
            fix: None,
        }
    }

    fn fail(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            name,
            verdict: Verdict::Fail,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }

    fn warn(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            name,
            verdict: Verdict::Warn,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }

    /// The check as printed: `✔ name: detail`, and `  fix: …` under a ✗ or ⚠.
    pub fn line(&self) -> String {
        let mark = match self.verdict {
            Verdict::Pass => "✔",
            Verdict::Warn => "⚠",
            Verdict::Fail => "✗",
        };
        let mut text = format!("{mark} {}: {}", self.name, self.detail);
        if let Some(fix) = &self.fix {
            let _ = write!(text, "\n    fix: {fix}");
        }
        text
    }
}

/// Runs every check, calling `report` with each as it finishes.
pub async fn run(config: &Config, mut report: impl FnMut(&Check)) -> Vec<Check> {
    // Several crates bring rustls with different crypto backends: choose one, as `serve` does.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut checks = Vec::new();
    let mut note = |c: Check| {
        report(&c);
        checks.push(c);
    };
    note(database(config).await);
    for c in base_url(config).await {
        note(c);
    }
    note(smtp(config).await);
    for c in stripe(config).await {
        note(c);
    }
    if let Some(c) = mail_from(config) {
        note(c);
    }
    note(content(config).await);
    note(disk(&config.data_dir));
    checks
}

/// True when nothing failed (warnings pass).
pub fn all_pass(checks: &[Check]) -> bool {
    checks.iter().all(|c| c.verdict != Verdict::Fail)
}

fn host_of(url: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()?
        .host_str()
        .map(|h| h.trim_matches(['[', ']']).to_ascii_lowercase())
}

fn is_local(host: &str) -> bool {
    host == "localhost"
        || host.ends_with(".localhost")
        || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The site is served to the world (not a developer's own machine).
fn in_production(config: &Config) -> bool {
    host_of(&config.base_url).is_some_and(|h| !is_local(&h))
}

async fn database(config: &Config) -> Check {
    const NAME: &str = "database";
    if config.database_kind == DatabaseKind::Sqlite {
        let path = crate::backup::sqlite_path(&config.database_url);
        if !path.is_file() {
            return Check::fail(
                NAME,
                format!("there is no database at {}", path.display()),
                "start the service once, or run `learnwell migrate`, with this DATABASE_URL",
            );
        }
    }
    let db = match tokio::time::timeout(
        Duration::from_secs(10),
        Db::connect(&config.database_url, &config.database_kind),
    )
    .await
    {
        Ok(Ok(db)) => db,
        Ok(Err(e)) => {
            return Check::fail(
                NAME,
                format!("cannot connect: {e}"),
                "check DATABASE_URL (host, port, user, password, database name) and that the database server runs",
            );
        }
        Err(_) => {
            return Check::fail(
                NAME,
                "no answer within 10 s",
                "check the host and port in DATABASE_URL, and any firewall between",
            );
        }
    };
    let check = match db.pending_migrations().await {
        Ok(pending) if pending.is_empty() => {
            Check::pass(NAME, format!("{} answers, migrations are current", db.backend_name()))
        }
        Ok(pending) => Check::fail(
            NAME,
            format!(
                "{} migration(s) not applied: {}",
                pending.len(),
                pending.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")
            ),
            "run `learnwell migrate` (the service also migrates when it starts)",
        ),
        Err(e) => Check::fail(
            NAME,
            format!("it answers but holds no Learnwell schema ({e})"),
            "run `learnwell migrate`, or check that DATABASE_URL names the right database",
        ),
    };
    db.close().await;
    check
}

async fn base_url(config: &Config) -> Vec<Check> {
    const NAME: &str = "BASE_URL";
    let Some(host) = host_of(&config.base_url) else {
        return vec![Check::fail(
            NAME,
            "has no host",
            "set BASE_URL=https://learn.example.com",
        )];
    };
    if is_local(&host) {
        return vec![Check::pass(
            NAME,
            format!(
                "{} is this machine (development; a public site needs https)",
                config.base_url
            ),
        )];
    }
    let mut checks = Vec::new();
    if config.is_https() {
        checks.push(Check::pass(NAME, format!("{} is https", config.base_url)));
    } else {
        checks.push(Check::fail(
            NAME,
            format!("{} is not https: sign-in cookies and payments need it", config.base_url),
            format!("put Caddy or nginx in front (see docs/going-live.md) and set BASE_URL=https://{host}"),
        ));
    }
    let lookup = tokio::time::timeout(Duration::from_secs(5), tokio::net::lookup_host((host.as_str(), 443))).await;
    checks.push(match lookup {
        Ok(Ok(mut addrs)) => match addrs.next() {
            Some(a) => Check::pass("DNS", format!("{host} resolves (to {})", a.ip())),
            None => Check::fail(
                "DNS",
                format!("{host} has no address"),
                format!("add an A (and AAAA) record for {host} pointing at this server"),
            ),
        },
        Ok(Err(e)) => Check::fail(
            "DNS",
            format!("{host} does not resolve: {e}"),
            format!("add an A (and AAAA) record for {host} pointing at this server, or correct BASE_URL"),
        ),
        Err(_) => Check::fail(
            "DNS",
            format!("looking up {host} took over 5 s"),
            "check this server's DNS resolver (/etc/resolv.conf)",
        ),
    });
    checks
}

async fn smtp(config: &Config) -> Check {
    const NAME: &str = "SMTP";
    let Some(url) = &config.smtp_url else {
        return if in_production(config) {
            Check::fail(
                NAME,
                "SMTP_URL is not set: emails are only written to files in DATA_DIR/outbox",
                "set SMTP_URL=smtp://USER:PASSWORD@smtp.provider.example:587?tls=required (your provider's details)",
            )
        } else {
            Check::pass(
                NAME,
                "not set: emails are written to files in DATA_DIR/outbox (development)",
            )
        };
    };
    use lettre::{AsyncSmtpTransport, Tokio1Executor};
    let transport = match AsyncSmtpTransport::<Tokio1Executor>::from_url(url) {
        Ok(builder) => builder.timeout(Some(config.smtp_timeout)).build::<Tokio1Executor>(),
        Err(e) => return Check::fail(NAME, format!("SMTP_URL cannot be used: {e}"), "check SMTP_URL's form"),
    };
    let server = url::Url::parse(url)
        .ok()
        .map(|u| format!("{}:{}", u.host_str().unwrap_or(""), u.port().unwrap_or(0)))
        .unwrap_or_default();
    let has_login = url::Url::parse(url).is_ok_and(|u| !u.username().is_empty());
    match tokio::time::timeout(config.smtp_timeout, transport.test_connection()).await {
        Ok(Ok(true)) if has_login => Check::pass(NAME, format!("{server} answers and accepts our login")),
        Ok(Ok(true)) => Check::pass(NAME, format!("{server} answers (no login in SMTP_URL)")),
        Ok(Ok(false)) => Check::fail(
            NAME,
            format!("{server} accepted the connection but then did not answer"),
            "check the host and port in SMTP_URL with your mail provider",
        ),
        Ok(Err(e)) if e.is_permanent() && has_login => Check::fail(
            NAME,
            format!("{server} refused our login: {e}"),
            "check the user name and password in SMTP_URL (percent-encode special characters, e.g. @ as %40)",
        ),
        Ok(Err(e)) => Check::fail(
            NAME,
            format!("cannot talk to {server}: {e}"),
            "check the host, port and tls setting in SMTP_URL (port 587 with ?tls=required, or smtps:// on 465)",
        ),
        Err(_) => Check::fail(
            NAME,
            format!("{server} did not answer within {} s", config.smtp_timeout.as_secs()),
            "check the host and port in SMTP_URL, and that this server may connect out on that port",
        ),
    }
}

async fn stripe(config: &Config) -> Vec<Check> {
    const NAME: &str = "Stripe";
    let Some(keys) = &config.stripe else {
        return vec![if in_production(config) {
            Check::fail(
                NAME,
                "no keys: the site runs the built-in test checkout, which takes no money",
                "set STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET (see docs/going-live.md)",
            )
        } else {
            Check::pass(NAME, "no keys: the built-in test checkout (development)")
        }];
    };
    let mut checks = Vec::new();
    if keys.webhook_secret.starts_with("whsec_") {
        checks.push(Check::pass("STRIPE_WEBHOOK_SECRET", "has the whsec_ form"));
    } else {
        checks.push(Check::fail(
            "STRIPE_WEBHOOK_SECRET",
            "does not start with whsec_",
            "copy the endpoint's signing secret (whsec_…) from Stripe's Dashboard → Developers → Webhooks",
        ));
    }
    let key = &keys.secret_key;
    let claims_live = if key.starts_with("sk_live_") || key.starts_with("rk_live_") {
        true
    } else if key.starts_with("sk_test_") || key.starts_with("rk_test_") {
        false
    } else {
        checks.push(Check::fail(
            NAME,
            "STRIPE_SECRET_KEY is not a secret key (sk_live_…, sk_test_…)",
            "copy the secret key from Stripe's Dashboard → Developers → API keys (not the pk_ publishable key)",
        ));
        return checks;
    };
    let mode = if claims_live { "live" } else { "test" };
    let gateway = match crate::payments::stripe_api::Gateway::new(
        key,
        &keys.webhook_secret,
        config.stripe_api_base.as_deref(),
        config.stripe_timeout,
    ) {
        Ok(g) => g,
        Err(e) => {
            checks.push(Check::fail(
                NAME,
                format!("cannot set up the client: {e}"),
                "check STRIPE_API_BASE",
            ));
            return checks;
        }
    };
    checks.push(match gateway.livemode().await {
        Ok(live) if live == claims_live => {
            if !claims_live && in_production(config) {
                Check::warn(
                    NAME,
                    "the key works, in test mode: payments are not real",
                    "when you are ready to take money, set the sk_live_ key and the live endpoint's whsec_ secret",
                )
            } else {
                Check::pass(NAME, format!("the key works, in {mode} mode"))
            }
        }
        Ok(live) => Check::fail(
            NAME,
            format!(
                "the key looks like a {mode} key but Stripe answered in {} mode",
                if live { "live" } else { "test" }
            ),
            "copy the secret key again from Stripe's Dashboard → Developers → API keys",
        ),
        Err(e @ crate::payments::stripe_api::StripeFailure::Refused(_)) => Check::fail(
            NAME,
            format!("Stripe refused the key: {e}"),
            "copy the secret key again from Stripe's Dashboard → Developers → API keys (it may have been rolled)",
        ),
        Err(e) => Check::fail(
            NAME,
            format!("cannot reach Stripe: {e}"),
            "check that this server may connect out to Stripe on port 443 (and STRIPE_API_BASE, if set)",
        ),
    });
    checks
}

/// Mail from another domain than the site's is more often held as spam (SPF/DKIM alignment).
fn mail_from(config: &Config) -> Option<Check> {
    const NAME: &str = "MAIL_FROM";
    let from = config.mail_from.as_deref()?;
    let addr = match (from.rfind('<'), from.ends_with('>')) {
        (Some(open), true) => &from[open + 1..from.len() - 1],
        _ => from,
    };
    let domain = addr.rsplit_once('@')?.1.to_ascii_lowercase();
    let host = host_of(&config.base_url)?;
    if is_local(&host) {
        return Some(Check::pass(NAME, format!("sends from {domain}")));
    }
    let aligned = host == domain || host.ends_with(&format!(".{domain}")) || domain.ends_with(&format!(".{host}"));
    Some(if aligned {
        Check::pass(NAME, format!("sends from {domain}, the site's domain"))
    } else {
        Check::warn(
            NAME,
            format!("sends from {domain}, but the site is {host}"),
            format!("send from an address at {host} (or its parent domain), with SPF, DKIM and DMARC set up for it"),
        )
    })
}

async fn content(config: &Config) -> Check {
    const NAME: &str = "content";
    let dir = config.content_dir.clone();
    let loaded = tokio::task::spawn_blocking(move || crate::content::source::load(&dir)).await;
    match loaded {
        Ok(Ok(tree)) => Check::pass(
            NAME,
            format!(
                "{} is valid ({} programs)",
                config.content_dir.display(),
                tree.programs.len()
            ),
        ),
        Ok(Err(e)) => Check::fail(
            NAME,
            format!("{} does not import: {e}", config.content_dir.display()),
            "correct the file named, or set CONTENT_DIR to your course_content folder",
        ),
        Err(e) => Check::fail(NAME, format!("the check failed: {e}"), "run it again"),
    }
}

fn disk(data_dir: &Path) -> Check {
    const NAME: &str = "disk";
    // The data folder, or the nearest folder above it that exists (it is created at start).
    let mut at = data_dir.to_owned();
    while !at.exists() {
        match at.parent() {
            Some(p) if !p.as_os_str().is_empty() => at = p.to_owned(),
            _ => {
                at = Path::new(".").to_owned();
                break;
            }
        }
    }
    let stat = match rustix::fs::statvfs(&at) {
        Ok(s) => s,
        Err(e) => {
            return Check::fail(
                NAME,
                format!("cannot read the free space of {}: {e}", at.display()),
                "check DATA_DIR",
            );
        }
    };
    let free = stat.f_bavail.saturating_mul(stat.f_frsize);
    let shown = format!(
        "{:.1} GiB free for {}",
        free as f64 / (1u64 << 30) as f64,
        data_dir.display()
    );
    if free < MIN_FREE_BYTES {
        Check::fail(
            NAME,
            shown,
            "free some space (old backups, logs: journalctl --vacuum-size=200M) or give the server a larger disk",
        )
    } else if free < LOW_FREE_BYTES {
        Check::warn(NAME, shown, "plan more space: the database and its backups grow")
    } else {
        Check::pass(NAME, shown)
    }
}
