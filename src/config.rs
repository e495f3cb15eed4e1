//! The one `Config`, read from the environment (and an optional `.env`) once at start and validated
//! there, so that nothing later has to wonder whether a setting makes sense.

use std::net::SocketAddr;
use std::path::PathBuf;

use url::Url;

/// A configuration problem: which variable, and what is wrong with it. Shown as one line; exit 2.
#[derive(Debug, thiserror::Error)]
#[error("{var}: {reason}")]
pub struct ConfigError {
    pub var: &'static str,
    pub reason: String,
}

impl ConfigError {
    fn new(var: &'static str, reason: impl Into<String>) -> Self {
        Self {
            var,
            reason: reason.into(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DatabaseKind {
    Sqlite,
    Postgres,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub addr: SocketAddr,
    /// The public URL without a trailing slash, e.g. `https://learn.example.com`.
    pub base_url: String,
    pub database_url: String,
    pub database_kind: DatabaseKind,
    pub content_dir: PathBuf,
    /// Where runtime files live (the SQLite file by default, the mail outbox).
    pub data_dir: PathBuf,
    pub smtp_url: Option<String>,
    pub mail_from: Option<String>,
    pub stripe: Option<StripeKeys>,
    pub stripe_api_base: Option<String>,
    /// `STRIPE_AUTOMATIC_TAX=true`: Stripe Tax in Checkout (billing address and tax IDs collected).
    pub stripe_automatic_tax: bool,
    /// Per client IP and form: how many log-in, sign-up and password-reset posts a minute.
    pub auth_rate_limit: u32,
    /// Reverse proxies whose `X-Forwarded-For` / `Forwarded` headers are believed (empty: none).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// How long requests in flight get after SIGTERM before the process exits anyway.
    pub shutdown_grace: std::time::Duration,
    /// Connections served at once; more wait in the kernel's queue until one closes.
    pub max_connections: usize,
    /// However active, a session ends this long after its log-in (`SESSION_MAX_DAYS`).
    pub session_max_age: time::Duration,
    /// The longest one call to Stripe may take, connecting included (`STRIPE_TIMEOUT`).
    pub stripe_timeout: std::time::Duration,
    /// The longest handing one email to the SMTP server may take, connecting included
    /// (`SMTP_TIMEOUT`).
    pub smtp_timeout: std::time::Duration,
    /// Where `/metrics` is served (`METRICS_ADDR`); unset: nowhere. Never the public address.
    pub metrics_addr: Option<SocketAddr>,
    /// How log lines are written (`LOG_FORMAT`).
    pub log_format: LogFormat,
}

/// `LOG_FORMAT`: `pretty` (the default: one readable line per event, coloured on a terminal) or
/// `json` (one JSON object per line, for log shippers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// Default and largest `STRIPE_TIMEOUT`: a buyer waits for the Checkout Session, and the answer
/// must come well inside the 30 s every request gets.
pub const DEFAULT_STRIPE_TIMEOUT_SECS: u64 = 15;
pub const MAX_STRIPE_TIMEOUT_SECS: u64 = 25;
/// Default and largest `SMTP_TIMEOUT`: a message's delivery lease (one minute) must outlast it.
pub const DEFAULT_SMTP_TIMEOUT_SECS: u64 = 30;
pub const MAX_SMTP_TIMEOUT_SECS: u64 = 45;

#[derive(Clone)]
pub struct StripeKeys {
    pub secret_key: String,
    pub webhook_secret: String,
}

// Keys never reach a log line, even through `{:?}` of the whole config.
impl std::fmt::Debug for StripeKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StripeKeys { .. }")
    }
}

pub const DEFAULT_ADDR: &str = "127.0.0.1:3000";
pub const DEFAULT_BASE_URL: &str = "http://127.0.0.1:3000";
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/learnwell.db";
pub const DEFAULT_CONTENT_DIR: &str = "course_content";

impl Config {
    /// Reads the process environment, after loading `.env` from the working directory if present.
    pub fn from_env() -> Result<Self, ConfigError> {
        // Only the working directory's .env, as documented (not one in a parent folder).
        match dotenvy::from_path(".env") {
            Ok(_) => {}
            Err(e) if e.not_found() => {}
            Err(e) => return Err(ConfigError::new(".env", format!("cannot be read: {e}"))),
        }
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Builds a config from any source of variables (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        // An empty value means "not set": `.env.example` is copied with blanks.
        let get = |name: &str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());

        let addr_text = get("LEARNWELL_ADDR").unwrap_or_else(|| DEFAULT_ADDR.to_owned());
        let addr: SocketAddr = addr_text.parse().map_err(|_| {
            ConfigError::new(
                "LEARNWELL_ADDR",
                format!("'{addr_text}' is not an address to listen on (expected IP:PORT, e.g. {DEFAULT_ADDR})"),
            )
        })?;

        let base_text = get("BASE_URL").unwrap_or_else(|| DEFAULT_BASE_URL.to_owned());
        let base = Url::parse(&base_text).map_err(|e| {
            ConfigError::new(
                "BASE_URL",
                format!("'{base_text}' is not a URL ({e}); expected e.g. https://learn.example.com"),
            )
        })?;
        if !matches!(base.scheme(), "http" | "https") || base.host_str().is_none() {
            return Err(ConfigError::new(
                "BASE_URL",
                format!("'{base_text}' must be an http:// or https:// URL with a host"),
            ));
        }
        if base.query().is_some() || base.fragment().is_some() {
            return Err(ConfigError::new(
                "BASE_URL",
                format!("'{base_text}' must not have a query or fragment"),
            ));
        }
        let base_url = base.as_str().trim_end_matches('/').to_owned();

        let database_url = get("DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned());
        let database_kind = match database_url.split_once(':').map(|(scheme, _)| scheme) {
            Some("sqlite") => DatabaseKind::Sqlite,
            Some("postgres" | "postgresql") => DatabaseKind::Postgres,
            _ => {
                return Err(ConfigError::new(
                    "DATABASE_URL",
                    "unknown database scheme (expected sqlite://PATH or postgres://USER@HOST/DB)",
                ));
            }
        };

        let content_dir = PathBuf::from(get("CONTENT_DIR").unwrap_or_else(|| DEFAULT_CONTENT_DIR.to_owned()));
        let data_dir = PathBuf::from(get("DATA_DIR").unwrap_or_else(|| "data".to_owned()));

        let smtp_url = get("SMTP_URL");
        if let Some(smtp) = &smtp_url {
            let ok = Url::parse(smtp)
                .map(|u| matches!(u.scheme(), "smtp" | "smtps") && u.host_str().is_some())
                .unwrap_or(false);
            if !ok {
                // The URL may hold a password: do not echo it.
                return Err(ConfigError::new(
                    "SMTP_URL",
                    "is not an smtp:// or smtps:// URL with a host (e.g. smtp://user:pass@mail.example.com:587)",
                ));
            }
        }
        let mail_from = get("MAIL_FROM");
        if let Some(from) = &mail_from
            && !looks_like_mailbox(from)
        {
            return Err(ConfigError::new(
                "MAIL_FROM",
                format!("'{from}' is not an email address (e.g. hello@example.com or \"Name <hello@example.com>\")"),
            ));
        }

        let stripe = match (get("STRIPE_SECRET_KEY"), get("STRIPE_WEBHOOK_SECRET")) {
            (None, None) => None,
            (Some(secret_key), Some(webhook_secret)) => Some(StripeKeys {
                secret_key,
                webhook_secret,
            }),
            (Some(_), None) => {
                return Err(ConfigError::new(
                    "STRIPE_WEBHOOK_SECRET",
                    "must be set when STRIPE_SECRET_KEY is (or unset both for test checkout)",
                ));
            }
            (None, Some(_)) => {
                return Err(ConfigError::new(
                    "STRIPE_SECRET_KEY",
                    "must be set when STRIPE_WEBHOOK_SECRET is (or unset both for test checkout)",
                ));
            }
        };
        let stripe_api_base = get("STRIPE_API_BASE");
        if let Some(api) = &stripe_api_base
            && Url::parse(api)
                .map(|u| !matches!(u.scheme(), "http" | "https"))
                .unwrap_or(true)
        {
            return Err(ConfigError::new(
                "STRIPE_API_BASE",
                format!("'{api}' is not an http(s) URL"),
            ));
        }

        let stripe_automatic_tax = match get("STRIPE_AUTOMATIC_TAX").as_deref() {
            None | Some("false") | Some("0") => false,
            Some("true") | Some("1") => true,
            Some(other) => {
                return Err(ConfigError::new(
                    "STRIPE_AUTOMATIC_TAX",
                    format!("'{other}' is not true or false"),
                ));
            }
        };

        let auth_rate_limit = number(&get, "AUTH_RATE_LIMIT", 10, 1..=100_000, "requests per minute")?;
        let trusted_proxies = match get("TRUSTED_PROXIES") {
            None => Vec::new(),
            Some(text) => parse_proxies(&text)?,
        };
        let shutdown_grace = std::time::Duration::from_secs(number(&get, "SHUTDOWN_GRACE", 30, 0..=3600, "seconds")?);
        let max_connections = number(&get, "MAX_CONNECTIONS", 512, 16..=100_000, "connections")?;
        let session_max_age = time::Duration::days(number(&get, "SESSION_MAX_DAYS", 30, 1..=365, "days")?);

        let seconds = |var: &'static str, value: Option<String>, default: u64, max: u64| match value {
            None => Ok(std::time::Duration::from_secs(default)),
            Some(text) => match text.parse::<u64>() {
                Ok(n) if (1..=max).contains(&n) => Ok(std::time::Duration::from_secs(n)),
                _ => Err(ConfigError::new(
                    var,
                    format!("'{text}' is not a number of seconds from 1 to {max}"),
                )),
            },
        };
        let stripe_timeout = seconds(
            "STRIPE_TIMEOUT",
            get("STRIPE_TIMEOUT"),
            DEFAULT_STRIPE_TIMEOUT_SECS,
            MAX_STRIPE_TIMEOUT_SECS,
        )?;
        let smtp_timeout = seconds(
            "SMTP_TIMEOUT",
            get("SMTP_TIMEOUT"),
            DEFAULT_SMTP_TIMEOUT_SECS,
            MAX_SMTP_TIMEOUT_SECS,
        )?;

        let metrics_addr = match get("METRICS_ADDR") {
            None => None,
            Some(text) => {
                let parsed: SocketAddr = text.parse().map_err(|_| {
                    ConfigError::new(
                        "METRICS_ADDR",
                        format!("'{text}' is not an address to listen on (expected IP:PORT, e.g. 127.0.0.1:9187)"),
                    )
                })?;
                if parsed == addr {
                    return Err(ConfigError::new(
                        "METRICS_ADDR",
                        "must differ from LEARNWELL_ADDR: metrics are never served on the public address",
                    ));
                }
                Some(parsed)
            }
        };
        let log_format = match get("LOG_FORMAT").map(|v| v.to_ascii_lowercase()).as_deref() {
            None | Some("pretty") => LogFormat::Pretty,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(ConfigError::new(
                    "LOG_FORMAT",
                    format!("'{other}' is not a log format (expected pretty or json)"),
                ));
            }
        };

        Ok(Config {
            addr,
            base_url,
            database_url,
            database_kind,
            content_dir,
            data_dir,
            smtp_url,
            mail_from,
            stripe,
            stripe_api_base,
            stripe_automatic_tax,
            auth_rate_limit,
            trusted_proxies,
            shutdown_grace,
            max_connections,
            session_max_age,
            stripe_timeout,
            smtp_timeout,
            metrics_addr,
            log_format,
        })
    }

    /// Checks that the content folder can be read; needed by the commands that import.
    pub fn check_content_dir(&self) -> Result<(), ConfigError> {
        let dir = &self.content_dir;
        match std::fs::read_dir(dir) {
            Ok(_) if dir.join("site.toml").is_file() => Ok(()),
            Ok(_) => Err(ConfigError::new(
                "CONTENT_DIR",
                format!("'{}' has no site.toml (is it a course_content folder?)", dir.display()),
            )),
            Err(e) => Err(ConfigError::new(
                "CONTENT_DIR",
                format!("'{}' cannot be read: {e}", dir.display()),
            )),
        }
    }

    pub fn is_https(&self) -> bool {
        self.base_url.starts_with("https://")
    }

    pub fn test_mode(&self) -> bool {
        self.stripe.is_none()
    }
}

/// A whole number setting within `range`, or its default when unset.
fn number<T>(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: T,
    range: std::ops::RangeInclusive<T>,
    unit: &str,
) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
{
    match get(var) {
        None => Ok(default),
        Some(text) => match text.parse::<T>() {
            Ok(n) if range.contains(&n) => Ok(n),
            _ => Err(ConfigError::new(
                var,
                format!(
                    "'{text}' is not a number of {unit} from {} to {}",
                    range.start(),
                    range.end()
                ),
            )),
        },
    }
}

/// `TRUSTED_PROXIES`: addresses or CIDR ranges, separated by commas or spaces.
fn parse_proxies(text: &str) -> Result<Vec<ipnet::IpNet>, ConfigError> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|part| !part.is_empty())
        .map(|part| {
            part.parse::<ipnet::IpNet>()
                .or_else(|_| part.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map(|net| net.trunc())
                .map_err(|_| {
                    ConfigError::new(
                        "TRUSTED_PROXIES",
                        format!("'{part}' is not an IP address or CIDR range (e.g. 127.0.0.1, 10.0.0.0/8, ::1)"),
                    )
                })
        })
        .collect()
}

fn looks_like_mailbox(text: &str) -> bool {
    let addr = match (text.rfind('<'), text.ends_with('>')) {
        (Some(open), true) => &text[open + 1..text.len() - 1],
        _ => text,
    };
    match addr.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty() && domain.contains('.') && !addr.contains(char::is_whitespace) && !domain.contains('@')
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn parse(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let c = parse(&[]).unwrap();
        assert_eq!(c.addr.to_string(), DEFAULT_ADDR);
        assert_eq!(c.base_url, DEFAULT_BASE_URL);
        assert_eq!(c.database_kind, DatabaseKind::Sqlite);
        assert!(c.test_mode());
    }

    #[test]
    fn each_bad_value_names_its_variable() {
        for (var, value) in [
            ("LEARNWELL_ADDR", "localhost"),
            ("BASE_URL", "ftp://x.org"),
            ("BASE_URL", "not a url"),
            ("DATABASE_URL", "mysql://x/y"),
            ("SMTP_URL", "http://mail"),
            ("MAIL_FROM", "nobody"),
            ("STRIPE_API_BASE", "nope"),
            ("AUTH_RATE_LIMIT", "0"),
            ("AUTH_RATE_LIMIT", "lots"),
            ("AUTH_RATE_LIMIT", "100001"),
            ("AUTH_RATE_LIMIT", "-5"),
            ("TRUSTED_PROXIES", "10.0.0.0/33"),
            ("TRUSTED_PROXIES", "127.0.0.1, proxy.example"),
            ("SHUTDOWN_GRACE", "3601"),
            ("SHUTDOWN_GRACE", "soon"),
            ("MAX_CONNECTIONS", "0"),
            ("MAX_CONNECTIONS", "15"),
            ("SESSION_MAX_DAYS", "0"),
            ("SESSION_MAX_DAYS", "366"),
            ("METRICS_ADDR", "9187"),
            ("METRICS_ADDR", "127.0.0.1:3000"),
            ("LOG_FORMAT", "xml"),
        ] {
            let err = parse(&[(var, value)]).unwrap_err();
            assert_eq!(err.var, var, "{value}");
        }
        assert_eq!(
            parse(&[("STRIPE_SECRET_KEY", "sk_test")]).unwrap_err().var,
            "STRIPE_WEBHOOK_SECRET"
        );
    }

    #[test]
    fn every_accepted_number_is_kept_at_the_edges() {
        for n in ["1", "60000", "60001", "100000"] {
            assert_eq!(parse(&[("AUTH_RATE_LIMIT", n)]).unwrap().auth_rate_limit.to_string(), n);
        }
        assert_eq!(parse(&[("SHUTDOWN_GRACE", "0")]).unwrap().shutdown_grace.as_secs(), 0);
        assert_eq!(parse(&[]).unwrap().shutdown_grace.as_secs(), 30);
        assert_eq!(parse(&[]).unwrap().max_connections, 512);
    }

    #[test]
    fn trusted_proxies_are_addresses_and_ranges() {
        let c = parse(&[("TRUSTED_PROXIES", "127.0.0.1, 10.0.0.0/8 ::1,fd00::/8")]).unwrap();
        let shown: Vec<String> = c.trusted_proxies.iter().map(|n| n.to_string()).collect();
        assert_eq!(shown, ["127.0.0.1/32", "10.0.0.0/8", "::1/128", "fd00::/8"]);
        assert!(parse(&[]).unwrap().trusted_proxies.is_empty(), "unset: trust no one");
        // A range written with host bits set means the range.
        let c = parse(&[("TRUSTED_PROXIES", "192.168.1.7/24")]).unwrap();
        assert_eq!(c.trusted_proxies[0].to_string(), "192.168.1.0/24");
    }

    #[test]
    fn smtp_password_is_not_echoed() {
        let err = parse(&[("SMTP_URL", "http://u:hunter2secret@x")]).unwrap_err();
        assert!(!err.to_string().contains("hunter2secret"));
        assert!(
            format!(
                "{:?}",
                parse(&[("STRIPE_SECRET_KEY", "sk_live_x"), ("STRIPE_WEBHOOK_SECRET", "whsec_y")]).unwrap()
            )
            .contains("StripeKeys { .. }")
        );
    }

    #[test]
    fn metrics_and_log_format_settings() {
        let c = parse(&[]).unwrap();
        assert_eq!((c.metrics_addr, c.log_format), (None, LogFormat::Pretty));
        let c = parse(&[("METRICS_ADDR", "127.0.0.1:9187"), ("LOG_FORMAT", "JSON")]).unwrap();
        assert_eq!(c.metrics_addr.unwrap().to_string(), "127.0.0.1:9187");
        assert_eq!(c.log_format, LogFormat::Json);
    }

    #[test]
    fn base_url_loses_its_trailing_slash() {
        assert_eq!(
            parse(&[("BASE_URL", "https://a.example/")]).unwrap().base_url,
            "https://a.example"
        );
        assert!(parse(&[("BASE_URL", "https://a.example")]).unwrap().is_https());
    }

    #[test]
    fn outside_service_timeouts_are_bounded_seconds() {
        let c = parse(&[]).unwrap();
        assert_eq!(c.stripe_timeout.as_secs(), DEFAULT_STRIPE_TIMEOUT_SECS);
        assert_eq!(c.smtp_timeout.as_secs(), DEFAULT_SMTP_TIMEOUT_SECS);
        let c = parse(&[("STRIPE_TIMEOUT", "3"), ("SMTP_TIMEOUT", "45")]).unwrap();
        assert_eq!((c.stripe_timeout.as_secs(), c.smtp_timeout.as_secs()), (3, 45));
        for (var, value) in [
            ("STRIPE_TIMEOUT", "0"),
            ("STRIPE_TIMEOUT", "26"),
            ("STRIPE_TIMEOUT", "1.5"),
            ("SMTP_TIMEOUT", "46"),
            ("SMTP_TIMEOUT", "soon"),
        ] {
            assert_eq!(parse(&[(var, value)]).unwrap_err().var, var, "{value}");
        }
    }
}
