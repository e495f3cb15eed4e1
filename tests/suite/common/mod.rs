//! What every integration test stands on: the real app on a fresh database (SQLite always,
//! PostgreSQL when `TEST_DATABASE_URL` is set), a browser-like client, and content fixtures.
#![allow(dead_code)]

pub mod blackhole;
pub mod files;
pub mod fixture;
pub mod smtp;
pub mod stripe;

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use learnwell::config::Config;
use learnwell::db::Db;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use scraper::{Html, Selector};

/// Runs an `async fn(Backend)` test once per backend: `both_backends!(my_test, other_test);`
/// makes `my_test::sqlite` and `my_test::postgres`. Without `TEST_DATABASE_URL` the PostgreSQL
/// half says on the terminal that it was skipped.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::common::Backend::Sqlite).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                match $crate::common::Backend::postgres() {
                    Some(backend) => super::$name(backend).await,
                    None => $crate::common::skip(concat!(module_path!(), "::postgres"), "TEST_DATABASE_URL is not set"),
                }
            }
        }
    )*};
}

/// Says on the real terminal (not the captured output) that a test was skipped, and why.
pub fn skip(test: &str, why: &str) {
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
}

#[derive(Clone, Debug)]
pub enum Backend {
    Sqlite,
    /// The admin URL (TEST_DATABASE_URL): each test creates and drops its own database there.
    Postgres(String),
}

impl Backend {
    pub fn postgres() -> Option<Backend> {
        std::env::var("TEST_DATABASE_URL")
            .ok()
            .filter(|s| !s.is_empty())
            .map(Backend::Postgres)
    }
}

/// A database that exists for one test.
pub struct TestDb {
    pub url: String,
    pg_drop: Option<(String, String)>,
}

impl TestDb {
    pub async fn create(backend: &Backend, dir: &Path) -> TestDb {
        match backend {
            Backend::Sqlite => TestDb {
                url: format!("sqlite://{}", dir.join("learnwell.db").display()),
                pg_drop: None,
            },
            Backend::Postgres(admin) => {
                let name = format!("learnwell_test_{}", uuid::Uuid::new_v4().simple());
                let pool = sqlx::PgPool::connect(admin)
                    .await
                    .expect("connect to TEST_DATABASE_URL");
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&pool)
                    .await
                    .expect("create test database");
                pool.close().await;
                let mut url = url::Url::parse(admin).expect("TEST_DATABASE_URL is a URL");
                url.set_path(&format!("/{name}"));
                TestDb {
                    url: url.to_string(),
                    pg_drop: Some((admin.clone(), name)),
                }
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((admin, name)) = self.pg_drop.take() else {
            return;
        };
        // Drop runs outside async: use a small runtime of its own on another thread.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                let pool = sqlx::PgPool::connect(&admin).await.ok()?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&pool)
                    .await
                    .ok()?;
                pool.close().await;
                Some(())
            })
        })
        .join();
    }
}

pub fn repo_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

pub struct TestApp {
    pub base: String,
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    pub db: Db,
    pub config: Config,
    /// What handlers and domain functions reach (the clock to move, the database, the catalogue).
    pub state: learnwell::Ctx,
    /// Every email the app sends arrives here, over a real SMTP conversation.
    pub smtp: smtp::SmtpSink,
    /// `http://ADDR` of the metrics listener, when `METRICS_ADDR` was set (`127.0.0.1:0` picks a port).
    pub metrics_base: Option<String>,
    server: tokio::task::JoinHandle<()>,
    background: Vec<tokio::task::JoinHandle<()>>,
    // Dropped last: the database and the temp folder outlive the server.
    _db: TestDb,
    pub dir: tempfile::TempDir,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
        for task in &self.background {
            task.abort();
        }
    }
}

pub struct AppOptions {
    pub content_dir: PathBuf,
    pub env: HashMap<String, String>,
    /// Start the background tasks (mail worker, ...). Off, a test drives them by hand.
    pub background: bool,
    /// Run on this database (another app's `config.database_url`: two instances on one
    /// database) instead of a fresh one; it is left as it is when this app ends.
    pub database_url: Option<String>,
}

impl Default for AppOptions {
    fn default() -> Self {
        AppOptions {
            content_dir: repo_path("course_content"),
            env: HashMap::new(),
            background: true,
            database_url: None,
        }
    }
}

impl AppOptions {
    pub fn env(pairs: &[(&str, &str)]) -> AppOptions {
        AppOptions {
            env: pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            ..AppOptions::default()
        }
    }
}

impl TestApp {
    /// The app with the real `course_content/`.
    pub async fn spawn(backend: &Backend) -> TestApp {
        Self::spawn_with(backend, AppOptions::default()).await
    }

    pub async fn spawn_with_content(backend: &Backend, content_dir: &Path) -> TestApp {
        Self::spawn_with(
            backend,
            AppOptions {
                content_dir: content_dir.to_owned(),
                ..AppOptions::default()
            },
        )
        .await
    }

    pub async fn spawn_with(backend: &Backend, options: AppOptions) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let test_db = match &options.database_url {
            Some(url) => TestDb {
                url: url.clone(),
                pg_drop: None,
            },
            None => TestDb::create(backend, dir.path()).await,
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let base = format!("http://{addr}");
        let smtp = smtp::SmtpSink::start().await;
        let mut vars: HashMap<String, String> = HashMap::from([
            ("DATABASE_URL".into(), test_db.url.clone()),
            ("CONTENT_DIR".into(), options.content_dir.display().to_string()),
            ("DATA_DIR".into(), dir.path().join("data").display().to_string()),
            ("BASE_URL".into(), base.clone()),
            ("LEARNWELL_ADDR".into(), addr.to_string()),
            ("SMTP_URL".into(), smtp.url()),
            // High, so tests that post many forms are not slowed; the rate-limit test sets its own.
            ("AUTH_RATE_LIMIT".into(), "10000".into()),
        ]);
        vars.extend(options.env);
        let config = Config::from_lookup(|k| vars.get(k).cloned()).expect("test config");
        let db = learnwell::server::prepare(&config).await.expect("prepare database");
        let state = learnwell::AppState::new(config.clone(), db.clone())
            .await
            .expect("state");
        let app = learnwell::app(state.clone());
        let limits = learnwell::server::Limits::from_config(&config);
        let server = tokio::spawn(learnwell::server::serve_on(
            listener,
            app,
            limits,
            std::future::pending(),
        ));
        let mut background = if options.background {
            learnwell::server::spawn_background(&state)
        } else {
            Vec::new()
        };
        let metrics_base = match config.metrics_addr {
            Some(addr) => {
                let listener = tokio::net::TcpListener::bind(addr).await.expect("bind metrics");
                let base = format!("http://{}", listener.local_addr().expect("addr"));
                background.push(tokio::spawn(learnwell::server::serve_metrics(
                    listener,
                    state.ctx().clone(),
                )));
                Some(base)
            }
            None => None,
        };
        let client = new_client();
        TestApp {
            base,
            addr,
            client,
            db,
            config,
            state: state.ctx().clone(),
            smtp,
            metrics_base,
            server,
            background,
            _db: test_db,
            dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn get(&self, path: &str) -> Page {
        let res = self.client.get(self.url(path)).send().await.expect("GET");
        Page::from(res).await
    }

    /// Imports `dir` as `learnwell content import` would, then picks the change up the way the
    /// server's poller does (without waiting for its tick).
    pub async fn import(
        &self,
        dir: &Path,
    ) -> Result<learnwell::content::ImportReport, learnwell::content::ImportError> {
        let report = learnwell::content::import(&self.db, dir).await?;
        self.state.refresh_catalog().await.expect("refresh catalogue");
        Ok(report)
    }

    /// A form post as a browser on this site sends it.
    pub async fn post_form(&self, client: &reqwest::Client, path: &str, fields: &[(&str, &str)]) -> Page {
        let req = client
            .post(self.url(path))
            .header("Origin", &self.base)
            .header("Sec-Fetch-Site", "same-origin")
            .form(fields);
        Page::from(req.send().await.expect("POST")).await
    }

    pub async fn get_with(&self, client: &reqwest::Client, path: &str) -> Page {
        Page::from(client.get(self.url(path)).send().await.expect("GET")).await
    }

    /// Signs up a new account in a fresh browser and opens the confirmation link it was emailed, as
    /// a person does; returns that browser, signed in, with the address confirmed.
    pub async fn signup(&self, name: &str, email: &str, password: &str) -> reqwest::Client {
        let client = self.signup_unconfirmed(name, email, password).await;
        let link = self.confirmation_link(email).await;
        let page = self.get_with(&client, &link).await;
        assert_eq!(
            page.status,
            StatusCode::SEE_OTHER,
            "the confirmation link signs in: {}",
            page.body
        );
        client
    }

    /// Sends the sign-up form only: the account exists, its address unconfirmed, nobody signed in.
    pub async fn signup_unconfirmed(&self, name: &str, email: &str, password: &str) -> reqwest::Client {
        let client = new_client();
        let page = self
            .post_form(
                &client,
                "/signup",
                &[("name", name), ("email", email), ("password", password)],
            )
            .await;
        assert_eq!(
            page.status,
            StatusCode::OK,
            "signup failed: {}",
            page.text(".field .error")
        );
        assert!(page.body.contains("Check your email"), "{}", page.body);
        client
    }

    /// The newest confirmation link queued for `email` (path and query), read from the outbox, so
    /// it works whether or not the mail worker runs.
    pub async fn confirmation_link(&self, email: &str) -> String {
        let body: String = learnwell::db_run!(&self.db, pool => sqlx::query_scalar(
            "SELECT body_text FROM outbox WHERE to_addr = $1 AND body_text LIKE '%/verify-email?token=%' ORDER BY id DESC LIMIT 1"
        ).bind(email).fetch_one(pool).await)
        .expect("a confirmation email in the outbox");
        let start = body.find("/verify-email?token=").expect("link");
        body[start..].split_whitespace().next().expect("link").to_owned()
    }

    /// Logs in in a fresh browser.
    pub async fn login(&self, email: &str, password: &str) -> reqwest::Client {
        let client = new_client();
        let page = self
            .post_form(&client, "/login", &[("email", email), ("password", password)])
            .await;
        assert_eq!(
            page.status,
            StatusCode::SEE_OTHER,
            "login failed: {}",
            page.text(".form-error")
        );
        client
    }

    /// An instructor account, as `learnwell instructor add` makes one; returns a signed-in browser.
    pub async fn instructor(&self, email: &str, password: &str) -> reqwest::Client {
        let email_v = learnwell::domain::Email::parse(email).unwrap();
        let name = learnwell::domain::PersonName::parse("Maya Instructor").unwrap();
        let pw = learnwell::domain::NewPassword::parse(password, &[]).unwrap();
        learnwell::accounts::flows::add_instructor(&self.db, &email_v, &name, Some(&pw), self.state.clock.now())
            .await
            .unwrap();
        self.login(email, password).await
    }

    /// Confirms `slug`'s health acknowledgement (who it is not for, "not medical advice") as the
    /// student signed in on `client` does on its page, before their first lesson there.
    pub async fn acknowledge(&self, client: &reqwest::Client, slug: &str) {
        let page = self.get_with(client, &format!("/learn/{slug}/acknowledge")).await;
        assert_eq!(page.status, StatusCode::OK, "the acknowledgement page: {}", page.body);
        let version = page.attr("input[name=version]", "value");
        let done = self
            .post_form(
                client,
                &format!("/learn/{slug}/acknowledge"),
                &[("version", version.as_str()), ("confirm", "yes")],
            )
            .await;
        assert_eq!(done.status, StatusCode::SEE_OTHER, "confirmed: {}", done.body);
    }

    /// Records that `email` confirmed the current version of `slug`'s health acknowledgement, for
    /// tests about other things that give a student a seat and go straight to its lessons (the
    /// gate itself is tested in `health_features.rs`, through its page).
    pub async fn acknowledged(&self, email: &str, slug: &str) {
        let catalog = self.state.catalog();
        let program = catalog.program(slug).expect("a program of the catalogue");
        let text = &program.acknowledgement;
        let user_id: Option<i64> =
            learnwell::db_run!(&self.db, pool => sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
            .bind(email).fetch_optional(pool).await)
            .expect("the student's account");
        let Some(user_id) = user_id else {
            return; // no account yet: they will meet the gate
        };
        learnwell::learning::store::acknowledge(
            &self.db,
            learnwell::domain::UserId(user_id),
            learnwell::domain::CourseId(program.course_id),
            &text.version,
            &text.snapshot(),
            self.state.clock.now(),
        )
        .await
        .expect("acknowledged");
    }

    pub async fn request(&self, req: reqwest::RequestBuilder) -> Page {
        Page::from(req.send().await.expect("request")).await
    }
}

/// A browser: keeps cookies, does not follow redirects (tests look at them).
pub fn new_client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        // The server closes a keep-alive connection that sends nothing for its header-read
        // timeout (10 s); a client that reuses one at that moment gets a dropped request (a
        // browser would retry it). Idle connections are let go well before that.
        .pool_idle_timeout(std::time::Duration::from_secs(4))
        .build()
        .expect("client")
}

/// A response, read whole, with helpers to look at it as a user would.
pub struct Page {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    pub async fn from(res: reqwest::Response) -> Page {
        let status = res.status();
        let headers = res.headers().clone();
        let body = res.text().await.expect("body");
        Page { status, headers, body }
    }

    pub fn html(&self) -> Html {
        Html::parse_document(&self.body)
    }

    /// The visible text of every element matching `selector`, whitespace folded.
    pub fn texts(&self, selector: &str) -> Vec<String> {
        let sel = Selector::parse(selector).expect("selector");
        self.html()
            .select(&sel)
            .map(|e| {
                e.text()
                    .collect::<Vec<_>>()
                    .join(" ")
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    }

    pub fn text(&self, selector: &str) -> String {
        self.texts(selector).into_iter().next().unwrap_or_default()
    }

    /// An attribute of the first element matching `selector` ("" when there is none).
    pub fn attr(&self, selector: &str, name: &str) -> String {
        let sel = Selector::parse(selector).expect("selector");
        self.html()
            .select(&sel)
            .next()
            .and_then(|e| e.value().attr(name).map(str::to_owned))
            .unwrap_or_default()
    }

    /// All the text a reader sees in the page body.
    pub fn visible_text(&self) -> String {
        self.text("body")
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    pub fn links(&self) -> Vec<String> {
        let sel = Selector::parse("a[href]").expect("selector");
        self.html()
            .select(&sel)
            .filter_map(|a| a.value().attr("href").map(str::to_owned))
            .collect()
    }
}

/// Folds whitespace, so text from files compares with text from pages.
pub fn fold(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
