//! The journeys in a real browser: Debian's Chromium driven through chromedriver (WebDriver, with
//! fantoccini). Locally, without Chromium, these tests say so and skip; in CI (`CI=true`) they must
//! run. A failing step saves a screenshot to `target/browser-screenshots/`.

use crate::common;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Backend, TestApp, new_client};
use fantoccini::{Client, ClientBuilder, Locator};
use learnwell::db_run;

const PW: &str = "a calm long passphrase";
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

both_backends!(
    pre_enroll_launch_pay_and_learn,
    every_page_passes_axe_and_the_nu_checker
);

/// chromedriver for one test, stopped when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A browser, or `None` (with the reason printed) when Chromium is not installed outside CI.
async fn browser(test: &str) -> Option<(Driver, Client)> {
    let present = std::path::Path::new(CHROMIUM).exists() && std::path::Path::new(CHROMEDRIVER).exists();
    if !present {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("CI=true but Chromium or chromedriver is missing: .ci/run installs them");
        }
        common::skip(
            test,
            "Chromium is not installed (apt-get install chromium chromium-driver)",
        );
        return None;
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": CHROMIUM,
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1200,1600", "--no-first-run", "--disable-background-networking"],
        }),
    );
    // The app chooses rustls's crypto provider when it starts; the browser session may come first.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = ClientBuilder::rustls()
        .expect("tls")
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a browser session");
    Some((driver, client))
}

/// Runs a journey; on failure saves a screenshot of where it stopped, then fails the test.
async fn run<F>(client: Client, name: &str, journey: F)
where
    F: AsyncFnOnce(&Client) -> anyhow::Result<()>,
{
    let outcome = journey(&client).await;
    if let Err(e) = &outcome {
        let dir = common::repo_path("target/browser-screenshots");
        let _ = std::fs::create_dir_all(&dir);
        let file = dir.join(format!("{name}.png"));
        if let Ok(png) = client.screenshot().await {
            let _ = std::fs::write(&file, png);
        }
        let url = client.current_url().await.map(|u| u.to_string()).unwrap_or_default();
        let _ = client.close().await;
        panic!("{name} failed at {url}: {e:#}\nscreenshot: {}", file.display());
    }
    let _ = client.close().await;
}

async fn fill(c: &Client, css: &str, text: &str) -> anyhow::Result<()> {
    c.wait().for_element(Locator::Css(css)).await?.send_keys(text).await?;
    Ok(())
}

async fn click(c: &Client, locator: Locator<'_>) -> anyhow::Result<()> {
    c.wait().for_element(locator).await?.click().await?;
    Ok(())
}

/// Waits for the page's heading to read `text` (the page after a click has loaded).
async fn heading(c: &Client, text: &str) -> anyhow::Result<()> {
    let xpath = format!("//h1[normalize-space()='{text}']");
    c.wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::XPath(&xpath))
        .await
        .map_err(|e| anyhow::anyhow!("no heading '{text}': {e}"))?;
    Ok(())
}

/// Waits for the page's notice to begin with `text` (the form's answer has loaded, not the page the
/// form was on).
async fn notice(c: &Client, text: &str) -> anyhow::Result<String> {
    let xpath = format!("//p[contains(@class,'form-notice') and starts-with(normalize-space(),'{text}')]");
    let found = c
        .wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::XPath(&xpath))
        .await
        .map_err(|e| anyhow::anyhow!("no notice '{text}…': {e}"))?;
    Ok(found.text().await?)
}

async fn pre_enroll_launch_pay_and_learn(backend: Backend) {
    let test = format!("browser::pre_enroll_launch_pay_and_learn::{}", backend_name(&backend));
    let Some((_driver, client)) = browser(&test).await else {
        return;
    };
    let app = TestApp::spawn(&backend).await;
    app.instructor("maya@example.com", PW).await;
    let name = format!("journey-{}", backend_name(&backend));
    run(client, &name, async |c: &Client| {
        let base = &app.base;
        // A visitor pre-enrolls in both programs and confirms by the emailed link.
        c.goto(&format!("{base}/preenroll")).await?;
        fill(c, "#f-pre-name", "Vera Visitor").await?;
        fill(c, "#f-pre-email", "vera@example.com").await?;
        click(c, Locator::Css("#f-course-gut-foundations")).await?;
        click(c, Locator::Css("#f-course-skin-from-within")).await?;
        click(c, Locator::XPath("//button[normalize-space()='Pre-enroll']")).await?;
        heading(c, "Check your email").await?;
        let mails = app.smtp.wait_for("vera@example.com", 1).await;
        c.goto(&mails[0].link("/preenroll/confirm")).await?;
        heading(c, "You are on the list").await?;

        // The instructor logs in and launches Gut Foundations.
        c.goto(&format!("{base}/login")).await?;
        fill(c, "#f-email", "maya@example.com").await?;
        fill(c, "#f-password", PW).await?;
        click(c, Locator::Css("main form button[type=submit]")).await?;
        // Wait for the log-in to land before going on: a navigation started while the POST is in
        // flight cancels it, and the next page is then asked for without the session.
        heading(c, "Your account").await?;
        c.goto(&format!("{base}/admin")).await?;
        heading(c, "Welcome, Maya Instructor").await?;

        // She writes a new module, previews its lesson, and publishes it.
        click(c, Locator::Css("#program-gut-foundations td a[href$='/content']")).await?;
        heading(c, "Modules and lessons").await?;
        fill(c, "#new-module", "Putting it together").await?;
        click(c, Locator::XPath("//button[normalize-space()='Add module']")).await?;
        notice(c, "Module added").await?;
        fill(
            c,
            "section[data-status='draft'] .add-lesson input[name=title]",
            "Your next steps",
        )
        .await?;
        click(c, Locator::Css("section[data-status='draft'] .add-lesson button")).await?;
        heading(c, "Edit lesson").await?;
        fill(
            c,
            "#f-body",
            "Look back at your **food and symptom diary**.\n\n## Try this week\nPick one habit to keep.",
        )
        .await?;
        click(c, Locator::XPath("//button[normalize-space()='Preview']")).await?;
        let preview = c.wait().for_element(Locator::Css(".preview-pane .lesson-body")).await?;
        let html = preview.html(true).await?;
        anyhow::ensure!(
            html.contains("<strong>food and symptom diary</strong>"),
            "preview shows {html}"
        );
        click(c, Locator::XPath("//button[normalize-space()='Save']")).await?;
        notice(c, "Saved.").await?;
        click(c, Locator::XPath("//a[normalize-space()='Preview as a student']")).await?;
        let banner = c
            .wait()
            .for_element(Locator::Css(".preview-banner"))
            .await?
            .text()
            .await?;
        anyhow::ensure!(banner.contains("not published yet"), "banner: {banner}");
        c.goto(&format!("{base}/admin/courses/gut-foundations/content")).await?;
        click(c, Locator::Css("section[data-status='draft'] button[value=publish]")).await?;
        notice(c, "Published").await?;

        // She drags the second lesson of module 1 above the first (the page presses "Up").
        let first = c
            .find(Locator::Css("#module-1 .studio-lessons li:nth-child(1) > a"))
            .await?
            .text()
            .await?;
        let second = c
            .find(Locator::Css("#module-1 .studio-lessons li:nth-child(2) > a"))
            .await?
            .text()
            .await?;
        c.execute(
            "const items = document.querySelectorAll('#module-1 .studio-lessons > li');
             const dt = new DataTransfer();
             items[1].dispatchEvent(new DragEvent('dragstart', {bubbles: true, dataTransfer: dt}));
             items[0].dispatchEvent(new DragEvent('dragover', {bubbles: true, cancelable: true, dataTransfer: dt}));
             items[0].dispatchEvent(new DragEvent('drop', {bubbles: true, cancelable: true, dataTransfer: dt}));",
            vec![],
        )
        .await?;
        let xpath = format!("//section[@id='module-1']//ol/li[1]/a[normalize-space()=\"{second}\"]");
        c.wait()
            .at_most(Duration::from_secs(15))
            .for_element(Locator::XPath(&xpath))
            .await
            .map_err(|e| anyhow::anyhow!("the dragged lesson did not move to the top: {e}"))?;
        let now_second = c
            .find(Locator::Css("#module-1 .studio-lessons li:nth-child(2) > a"))
            .await?
            .text()
            .await?;
        anyhow::ensure!(now_second == first, "order after the drag: {second}, {now_second}");

        // And launches the program.
        c.goto(&format!("{base}/admin")).await?;
        heading(c, "Welcome, Maya Instructor").await?;
        click(
            c,
            Locator::Css("#controls-gut-foundations form[action$='/launch'] button"),
        )
        .await?;
        notice(c, "Launched.").await?;
        click(c, Locator::XPath("//button[normalize-space()='Log out']")).await?;
        c.wait()
            .for_element(Locator::XPath("//a[normalize-space()='Log in']"))
            .await?;

        // The visitor gets the launch email, signs up, and pays through the test checkout.
        let launch = app.smtp.wait_for("vera@example.com", 2).await;
        let enroll = launch
            .iter()
            .find(|m| m.subject().contains("is open"))
            .expect("a launch email");
        c.goto(&enroll.link("/enroll")).await?;
        heading(c, "Log in").await?;
        click(c, Locator::LinkText("Sign up")).await?;
        fill(c, "#f-name", "Vera Visitor").await?;
        fill(c, "#f-email", "vera@example.com").await?;
        fill(c, "#f-password", PW).await?;
        click(c, Locator::Css("main form button[type=submit]")).await?;
        // The address is confirmed by the emailed link, which signs in and goes back to enroll.
        heading(c, "Check your email").await?;
        let mails = app.smtp.wait_for("vera@example.com", 3).await;
        let confirm = mails
            .iter()
            .find(|m| m.text().contains("/verify-email?token="))
            .expect("a confirmation email")
            .link("/verify-email?token=");
        c.goto(&confirm).await?;
        heading(c, "Gut Foundations").await?;
        click(c, Locator::Css("#offer button")).await?;
        c.wait().for_element(Locator::Css(".test-checkout-banner")).await?;
        click(c, Locator::XPath("//button[normalize-space()='Pay']")).await?;
        heading(c, "You are enrolled").await?;

        // A lesson: mark it complete and watch the progress bar move.
        click(
            c,
            Locator::XPath("//a[contains(normalize-space(), 'Start Gut Foundations')]"),
        )
        .await?;
        click(c, Locator::XPath("//a[normalize-space()='Continue']")).await?;
        // Before the first lesson: who the program is not for, and "not medical advice", confirmed.
        heading(c, "Before you start").await?;
        click(c, Locator::Css("#ack-confirm")).await?;
        click(c, Locator::XPath("//button[normalize-space()='Confirm and continue']")).await?;
        let bar = c.wait().for_element(Locator::Css(".lesson-nav progress")).await?;
        anyhow::ensure!(bar.attr("value").await?.as_deref() == Some("0"), "the bar starts empty");
        click(c, Locator::XPath("//button[normalize-space()='Mark complete']")).await?;
        c.wait().for_element(Locator::Css(".complete-box .done-note")).await?;
        let bar = c.find(Locator::Css(".lesson-nav progress")).await?;
        anyhow::ensure!(bar.attr("value").await?.as_deref() == Some("1"), "the bar moved");
        // The module the instructor published is in the student's syllabus, and opens.
        click(
            c,
            Locator::XPath("//nav[contains(@class,'lesson-nav')]//a[normalize-space()='Your next steps']"),
        )
        .await?;
        heading(c, "Your next steps").await?;
        let body = c.find(Locator::Css(".lesson-body")).await?.text().await?;
        anyhow::ensure!(body.contains("Pick one habit to keep."), "lesson says {body}");
        c.goto(&format!("{base}/dashboard")).await?;
        let numbers = c.find(Locator::Css(".progress-numbers")).await?.text().await?;
        // Every published lesson of the program, the new one included (the content grows).
        let lessons = count(
            &app,
            "SELECT COUNT(*) FROM lessons l JOIN modules m ON m.id = l.module_id JOIN courses c ON c.id = m.course_id \
             WHERE c.slug = 'gut-foundations' AND m.status = 'published' AND l.archived = FALSE AND m.archived = FALSE",
        )
        .await;
        anyhow::ensure!(lessons > 20, "{lessons} lessons");
        anyhow::ensure!(
            numbers.starts_with(&format!("1 of {lessons} ")),
            "dashboard says {numbers}, with {lessons} lessons"
        );

        // A check-in: consent first, then a few taps (no script needed), then the chart.
        click(
            c,
            Locator::XPath("//a[starts-with(normalize-space(), 'Your check-ins')]"),
        )
        .await?;
        heading(c, "Check-ins: before you start").await?;
        click(c, Locator::Css("#f-agree")).await?;
        click(c, Locator::XPath("//button[normalize-space()='Start my check-ins']")).await?;
        heading(c, "Your check-ins").await?;
        click(c, Locator::Css("#checkin-daily-gut a.log-today")).await?;
        heading(c, "Daily gut check-in").await?;
        for (field, value) in [
            ("bloating", "6"),
            ("pain", "2"),
            ("bowel-movements", "1"),
            ("energy", "7"),
            ("sleep-quality", "5"),
            ("stress", "3"),
            ("followed-plan", "yes"),
        ] {
            click(c, Locator::Css(&format!("input[name='{field}'][value='{value}']"))).await?;
        }
        fill(c, "#q-what-changed", "Swapped my lunch for soup").await?;
        click(c, Locator::XPath("//button[normalize-space()='Save']")).await?;
        let saved = notice(c, "Saved.").await?;
        anyhow::ensure!(saved == "Saved.", "{saved}");
        click(c, Locator::XPath("//a[normalize-space()='See your patterns']")).await?;
        heading(c, "Your patterns").await?;
        let chart = c
            .find(Locator::Css("#chart-daily-gut-bloating-block svg.chart circle.point"))
            .await?;
        anyhow::ensure!(
            chart.attr("data-value").await?.as_deref() == Some("6"),
            "the dot is at 6"
        );
        let row = c
            .find(Locator::Css("#chart-daily-gut-bloating-block table tbody tr"))
            .await?
            .text()
            .await?;
        anyhow::ensure!(
            row.contains('6') && row.contains("Swapped my lunch for soup"),
            "table row: {row}"
        );
        c.goto(&format!("{base}/dashboard")).await?;
        // A knowledge check from the dashboard: answer, see the feedback, try again.
        click(c, Locator::Css(".dashboard-quizzes summary")).await?;
        click(
            c,
            Locator::XPath("//details[contains(@class,'dashboard-quizzes')]//a[1]"),
        )
        .await?;
        c.wait().for_element(Locator::Css(".quiz-form")).await?;
        for option in c
            .find_all(Locator::Css(".quiz-question .quiz-option:first-of-type input"))
            .await?
        {
            option.click().await?;
        }
        click(c, Locator::XPath("//button[normalize-space()='Check my answers']")).await?;
        let score = c.wait().for_element(Locator::Css(".quiz-score")).await?.text().await?;
        anyhow::ensure!(score.starts_with("You answered "), "the quiz says {score}");
        let explained = c.find_all(Locator::Css(".quiz-result li")).await?.len();
        anyhow::ensure!(explained >= 3, "every chosen option explained ({explained})");
        click(c, Locator::XPath("//a[normalize-space()='Try again']")).await?;
        c.wait().for_element(Locator::Css(".quiz-form")).await?;
        Ok(())
    })
    .await;
}

fn backend_name(backend: &Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres(_) => "postgres",
    }
}

// ---- accessibility and HTML, checked by outside tools ---------------------------------------------

/// Where `npm ci` (in `.ci/run`) puts axe-core and the Nu HTML checker: see
/// `tests/browser-tools/package.json`.
const BROWSER_TOOLS: &str = "tests/browser-tools/node_modules";

/// axe-core's source, to inject into each page, and the Nu checker's jar with the Java to run it.
struct Checkers {
    axe: String,
    vnu: PathBuf,
    java: PathBuf,
}

/// The checkers, or `None` (with the reason printed) when they are not installed outside CI.
fn checkers(test: &str) -> Option<Checkers> {
    let tools = common::repo_path(BROWSER_TOOLS);
    let axe = tools.join("axe-core/axe.min.js");
    let vnu = tools.join("vnu-jar/build/dist/vnu.jar");
    let java = std::env::var_os("PATH")
        .map(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join("java"))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default()
        .into_iter()
        .find(|p| p.is_file());
    let missing: Vec<&str> = [
        (!axe.is_file()).then_some("axe-core"),
        (!vnu.is_file()).then_some("vnu-jar"),
        java.is_none().then_some("java"),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !missing.is_empty() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("CI=true but {missing:?} missing: .ci/run installs them");
        }
        common::skip(
            test,
            &format!(
                "{missing:?} not installed (apt-get install default-jre-headless; npm ci --prefix tests/browser-tools)"
            ),
        );
        return None;
    }
    Some(Checkers {
        axe: std::fs::read_to_string(&axe).expect("read axe.min.js"),
        vnu,
        java: java.expect("checked above"),
    })
}

/// A walk over pages in one browser: each page is checked by axe-core where it stands (0
/// violations of any impact), and its HTML kept for one run of the Nu checker at the end.
struct Walk<'a> {
    c: &'a Client,
    base: String,
    axe: &'a str,
    /// (page name, its HTML as the server sent it)
    pages: Vec<(String, String)>,
    problems: Vec<String>,
}

impl Walk<'_> {
    /// Opens `path` and checks the page.
    async fn visit(&mut self, name: &str, path: &str) -> anyhow::Result<()> {
        self.c.goto(&format!("{}{path}", self.base)).await?;
        self.check(name).await
    }

    /// Checks the page the browser shows now (a GET: its HTML is asked for again, as the server
    /// sends it, with the browser's cookies).
    async fn check(&mut self, name: &str) -> anyhow::Result<()> {
        let html = self
            .c
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 fetch(location.href, {credentials: 'same-origin'}).then(r => r.text()).then(done, e => done('FETCH FAILED ' + e));",
                vec![],
            )
            .await?;
        let html = html.as_str().unwrap_or_default().to_owned();
        anyhow::ensure!(!html.starts_with("FETCH FAILED"), "{name}: {html}");
        self.pages.push((name.to_owned(), html));
        self.axe(name).await
    }

    /// Checks the page the browser shows now when it is the answer to a form (it cannot be asked
    /// for again): the HTML is the browser's document, serialised.
    async fn check_answer(&mut self, name: &str) -> anyhow::Result<()> {
        let html = self
            .c
            .execute(
                "return '<!DOCTYPE html>\\n' + document.documentElement.outerHTML;",
                vec![],
            )
            .await?;
        self.pages
            .push((name.to_owned(), html.as_str().unwrap_or_default().to_owned()));
        self.axe(name).await
    }

    async fn axe(&mut self, name: &str) -> anyhow::Result<()> {
        // WebDriver scripts are not bound by the page's Content-Security-Policy.
        let loaded = self
            .c
            .execute(&format!("{}\nreturn typeof window.axe;", self.axe), vec![])
            .await?;
        anyhow::ensure!(
            loaded.as_str() == Some("object"),
            "{name}: axe-core did not load ({loaded})"
        );
        let found = self
            .c
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, {resultTypes: ['violations']}).then(r => done(r.violations.map(v =>
                   v.impact + ' ' + v.id + ': ' + v.help + ' [' + v.nodes.slice(0, 4).map(n =>
                     n.target.join(' ') + ' :: ' + (n.failureSummary || '').replace(/\\s+/g, ' ')).join(' | ') + ']')),
                   e => done(['axe failed: ' + e]));",
                vec![],
            )
            .await?;
        for v in found.as_array().into_iter().flatten() {
            self.problems
                .push(format!("axe {name}: {}", v.as_str().unwrap_or_default()));
        }
        Ok(())
    }

    /// Runs the Nu checker once over every page kept (errors only; warnings are advice).
    async fn nu_check(&mut self, checkers: &Checkers) -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let mut files = Vec::new();
        for (i, (name, html)) in self.pages.iter().enumerate() {
            let file = dir.path().join(format!("{i:03}.html"));
            std::fs::write(&file, html)?;
            files.push((file, name.clone()));
        }
        let mut cmd = Command::new(&checkers.java);
        cmd.arg("-Xss8m")
            .arg("-jar")
            .arg(&checkers.vnu)
            .args(["--errors-only", "--format", "json", "--exit-zero-always"])
            .args(files.iter().map(|(f, _)| f));
        let out = tokio::task::spawn_blocking(move || cmd.output()).await??;
        // The checker writes its report to standard error.
        let report: serde_json::Value = serde_json::from_slice(&out.stderr)
            .map_err(|e| anyhow::anyhow!("the Nu checker's report: {e}: {}", String::from_utf8_lossy(&out.stderr)))?;
        for m in report["messages"].as_array().into_iter().flatten() {
            if m["type"] != "error" && m["subType"] != "fatal" {
                continue;
            }
            let url = m["url"].as_str().unwrap_or_default();
            let page = files
                .iter()
                .find(|(f, _)| url.ends_with(&*f.file_name().unwrap_or_default().to_string_lossy()))
                .map_or(url, |(_, n)| n.as_str());
            self.problems.push(format!(
                "vnu {page}: line {}: {} [{}]",
                m["lastLine"],
                m["message"].as_str().unwrap_or_default(),
                m["extract"].as_str().unwrap_or_default().replace('\n', " ")
            ));
        }
        anyhow::ensure!(
            self.pages.len() >= 40,
            "the walk checked only {} pages",
            self.pages.len()
        );
        Ok(())
    }
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    db_run!(&app.db, pool => sqlx::query_scalar::<_, i64>(sql).fetch_one(pool).await).unwrap()
}

/// Every kind of page, as an anonymous visitor, a student and the instructor see it: axe-core
/// finds no violation of any impact, and the Nu HTML checker no error.
async fn every_page_passes_axe_and_the_nu_checker(backend: Backend) {
    let test = format!(
        "browser::every_page_passes_axe_and_the_nu_checker::{}",
        backend_name(&backend)
    );
    let Some(checkers) = checkers(&test) else {
        return;
    };
    let Some((_driver, client)) = browser(&test).await else {
        return;
    };
    let app = TestApp::spawn(&backend).await;
    const GUT: &str = "gut-foundations";
    const SKIN: &str = "skin-from-within";
    learnwell::launch::launch_now(&app.state, GUT, None).await.unwrap();
    let maya = app.instructor("maya@example.com", PW).await;
    // A student who bought Gut Foundations and finished it (a certificate), and a pre-enrollee.
    let sam = app.signup("Sam Student", "sam@example.com", PW).await;
    let started = app.post_form(&sam, "/checkout", &[("course", GUT)]).await;
    let test_page = started.header("location").to_owned();
    app.post_form(&sam, &format!("{test_page}/pay"), &[]).await;
    app.acknowledge(&sam, GUT).await;
    app.post_form(
        &sam,
        &format!("/learn/{GUT}/notes/what-your-microbes-do"),
        &[("body", "Ask about fibre.")],
    )
    .await;
    let lessons: Vec<String> = db_run!(&app.db, pool => sqlx::query_scalar::<_, String>(
        "SELECT l.slug FROM lessons l JOIN modules m ON m.id = l.module_id JOIN courses c ON c.id = m.course_id \
         WHERE c.slug = $1 ORDER BY m.position, l.position")
        .bind(GUT).fetch_all(pool).await)
    .unwrap();
    for l in &lessons {
        let page = app
            .post_form(&sam, &format!("/courses/{GUT}/lessons/{l}/complete"), &[])
            .await;
        assert_eq!(page.status, reqwest::StatusCode::SEE_OTHER, "{l}");
    }
    let cert = app
        .get_with(&sam, "/dashboard")
        .await
        .links()
        .into_iter()
        .find(|l| l.starts_with("/certificates/"))
        .expect("a certificate");
    // Sam confirms his address and pre-enrolls in Skin from Within (his dashboard lists it), and
    // Bo, with an account and nothing else, sees an empty dashboard but for that list.
    let verify = app.smtp.wait_for_link("sam@example.com", "/verify-email").await;
    app.get_with(&sam, verify.trim_start_matches(&app.base)).await;
    let bo = app.signup("Bo Browser", "bo@example.com", PW).await;
    let verify = app.smtp.wait_for_link("bo@example.com", "/verify-email").await;
    app.get_with(&bo, verify.trim_start_matches(&app.base)).await;
    for (name, email) in [("Sam Student", "sam@example.com"), ("Bo Browser", "bo@example.com")] {
        app.post_form(
            &new_client(),
            "/preenroll",
            &[("name", name), ("email", email), ("course", SKIN)],
        )
        .await;
        let deadline = Instant::now() + Duration::from_secs(15);
        let confirm = loop {
            if let Some(m) = app
                .smtp
                .to(email)
                .iter()
                .find(|m| m.text().contains("/preenroll/confirm"))
            {
                break m.link("/preenroll/confirm");
            }
            assert!(Instant::now() < deadline, "no pre-enrollment email to {email}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        app.get(confirm.trim_start_matches(&app.base)).await;
    }
    // The last module of Gut Foundations drips: it opens 30 days after enrolling.
    db_run!(&app.db, pool => sqlx::query(
        "UPDATE modules SET unlock_after_days = 30 WHERE id = (SELECT MAX(m.id) FROM modules m \
         JOIN courses c ON c.id = m.course_id WHERE c.slug = $1)")
        .bind(GUT).execute(pool).await.map(|_| ()))
    .unwrap();
    db_run!(&app.db, pool => sqlx::query("UPDATE content_version SET version = version + 1 WHERE id = 1")
        .execute(pool).await.map(|_| ()))
    .unwrap();
    app.state.refresh_catalog().await.unwrap();
    let dripping: String = db_run!(&app.db, pool => sqlx::query_scalar::<_, String>(
        "SELECT l.slug FROM lessons l JOIN modules m ON m.id = l.module_id JOIN courses c ON c.id = m.course_id \
         WHERE c.slug = $1 AND m.unlock_after_days = 30 ORDER BY l.position LIMIT 1")
        .bind(GUT).fetch_one(pool).await)
    .unwrap();
    // Sam keeps check-ins for Gut Foundations (one entry, a note), and shares them.
    app.post_form(&sam, &format!("/courses/{GUT}/checkins/consent"), &[("agree", "yes")])
        .await;
    let logged = app
        .post_form(
            &sam,
            &format!("/courses/{GUT}/checkins/log/daily-gut"),
            &[
                ("bloating", "4"),
                ("pain", "1"),
                ("bowel-movements", "2"),
                ("energy", "6"),
                ("sleep-quality", "7"),
                ("stress", "2"),
                ("followed-plan", "no"),
                ("what-changed", "More oats"),
            ],
        )
        .await;
    assert_eq!(logged.status, reqwest::StatusCode::SEE_OTHER, "{}", logged.body);
    app.post_form(&sam, &format!("/courses/{GUT}/checkins/settings"), &[("sharing", "on")])
        .await;
    let sam_id = count(&app, "SELECT id FROM users WHERE email = 'sam@example.com'").await;
    let entry_id = count(&app, "SELECT MIN(id) FROM checkin_entries").await;
    let lesson_id = count(&app, "SELECT MIN(id) FROM lessons").await;
    let module_id = count(&app, "SELECT MIN(id) FROM modules").await;
    drop(maya);

    let name = format!("a11y-{}", backend_name(&backend));
    let app = &app;
    run(client, &name, async |c: &Client| {
        let mut walk = Walk {
            c,
            base: app.base.clone(),
            axe: &checkers.axe,
            pages: Vec::new(),
            problems: Vec::new(),
        };
        // Anonymous.
        for (page, path) in [
            ("home", "/".to_owned()),
            ("programs", "/courses".to_owned()),
            ("program, open", format!("/courses/{GUT}")),
            ("program, pre-enrollment", format!("/courses/{SKIN}")),
            ("preview lesson", format!("/courses/{GUT}/lessons/meet-your-microbiome")),
            (
                "locked lesson, anonymous",
                format!("/courses/{GUT}/lessons/what-your-microbes-do"),
            ),
            ("glossary", format!("/courses/{GUT}/glossary")),
            ("worksheets", format!("/courses/{GUT}/worksheets")),
            (
                "public worksheet",
                format!("/courses/{GUT}/worksheets/red-flag-checklist"),
            ),
            ("sign up", "/signup".to_owned()),
            ("log in", "/login".to_owned()),
            ("pre-enroll", "/preenroll".to_owned()),
            ("forgot password", "/forgot-password".to_owned()),
            ("certificate", cert.clone()),
            ("404", "/no-such-page".to_owned()),
            ("reset link, bad", "/reset-password?token=not-a-token".to_owned()),
            (
                "pre-enroll link, bad",
                "/preenroll/confirm?token=not-a-token".to_owned(),
            ),
            ("unsubscribe", "/unsubscribe?token=not-a-token".to_owned()),
        ] {
            walk.visit(page, &path).await?;
        }
        // Forms' answers.
        walk.visit("log in", "/login").await?;
        fill(c, "#f-email", "nobody@example.com").await?;
        fill(c, "#f-password", "not the password").await?;
        click(c, Locator::Css("main form button[type=submit]")).await?;
        c.wait().for_element(Locator::Css(".form-error")).await?;
        walk.check_answer("log in, wrong password").await?;
        walk.visit("pre-enroll", "/preenroll").await?;
        fill(c, "#f-pre-name", "Vera Visitor").await?;
        fill(c, "#f-pre-email", "vera@example.com").await?;
        // The only program in pre-enrollment comes ticked.
        c.execute(
            &format!("document.querySelector('#f-course-{SKIN}').checked = true;"),
            vec![],
        )
        .await?;
        click(c, Locator::XPath("//button[normalize-space()='Pre-enroll']")).await?;
        heading(c, "Check your email").await?;
        walk.check_answer("pre-enroll, sent").await?;

        // Someone with an account who is only on a list.
        c.goto(&format!("{}/login", app.base)).await?;
        fill(c, "#f-email", "bo@example.com").await?;
        fill(c, "#f-password", PW).await?;
        click(c, Locator::Css("main form button[type=submit]")).await?;
        heading(c, "Your account").await?;
        walk.check("account, on a list").await?;
        walk.visit("dashboard, on a list", "/dashboard").await?;
        click(c, Locator::XPath("//button[normalize-space()='Log out']")).await?;
        c.wait()
            .for_element(Locator::XPath("//a[normalize-space()='Log in']"))
            .await?;

        // The student.
        c.goto(&format!("{}/login", app.base)).await?;
        fill(c, "#f-email", "sam@example.com").await?;
        fill(c, "#f-password", PW).await?;
        click(c, Locator::Css("main form button[type=submit]")).await?;
        heading(c, "Your account").await?;
        for (page, path) in [
            ("account", "/account".to_owned()),
            ("dashboard", "/dashboard".to_owned()),
            ("lesson", format!("/courses/{GUT}/lessons/what-your-microbes-do")),
            ("health acknowledgement", format!("/learn/{GUT}/acknowledge")),
            ("my notes", format!("/learn/{GUT}/notes")),
            ("knowledge check", format!("/learn/{GUT}/digestion-top-to-bottom/quiz")),
            (
                "lesson, other program",
                format!("/courses/{SKIN}/lessons/how-gut-and-skin-talk"),
            ),
            (
                "lesson, module not open yet",
                format!("/courses/{GUT}/lessons/{dripping}"),
            ),
            (
                "worksheet, students'",
                format!("/courses/{GUT}/worksheets/meal-and-symptom-diary"),
            ),
            (
                "worksheet, another program's",
                format!("/courses/{SKIN}/worksheets/skin-diary"),
            ),
            ("program, signed in", format!("/courses/{GUT}")),
            ("check-ins", format!("/courses/{GUT}/checkins")),
            ("check-in form", format!("/courses/{GUT}/checkins/log/daily-gut")),
            ("check-in, edit", format!("/courses/{GUT}/checkins/entries/{entry_id}")),
            (
                "check-ins, patterns",
                format!("/courses/{GUT}/checkins/patterns?days=7"),
            ),
            ("check-ins, withdraw", format!("/courses/{GUT}/checkins/withdraw")),
            ("studio, refused", "/admin".to_owned()),
        ] {
            walk.visit(page, &path).await?;
        }
        walk.visit("knowledge check", &format!("/learn/{GUT}/digestion-top-to-bottom/quiz"))
            .await?;
        for option in c
            .find_all(Locator::Css(".quiz-question .quiz-option:first-of-type input"))
            .await?
        {
            option.click().await?;
        }
        click(c, Locator::XPath("//button[normalize-space()='Check my answers']")).await?;
        c.wait().for_element(Locator::Css(".quiz-score")).await?;
        walk.check_answer("knowledge check, feedback").await?;
        // Skin from Within opens: enroll, two checkouts, pay one, then the other is refused.
        learnwell::launch::launch_now(&app.state, SKIN, None).await?;
        walk.visit("enroll", &format!("/courses/{SKIN}/enroll")).await?;
        click(c, Locator::Css("#offer button")).await?;
        c.wait().for_element(Locator::Css(".test-checkout-banner")).await?;
        let first = c.current_url().await?.to_string();
        walk.check("test checkout").await?;
        c.goto(&format!("{}/courses/{SKIN}/enroll", app.base)).await?;
        click(c, Locator::Css("#offer button")).await?;
        c.wait().for_element(Locator::Css(".test-checkout-banner")).await?;
        let second = c.current_url().await?.to_string();
        anyhow::ensure!(first != second, "two orders");
        c.goto(&first).await?;
        click(c, Locator::XPath("//button[normalize-space()='Pay']")).await?;
        heading(c, "You are enrolled").await?;
        walk.check("checkout, paid").await?;
        c.goto(&second).await?;
        click(c, Locator::XPath("//button[normalize-space()='Pay']")).await?;
        heading(c, "We could not start your enrollment").await?;
        walk.check_answer("checkout, refused").await?;
        walk.visit("check-ins, consent", &format!("/courses/{SKIN}/checkins"))
            .await?;
        click(c, Locator::XPath("//button[normalize-space()='Start my check-ins']")).await?;
        c.wait().for_element(Locator::Css(".consent-form .error")).await?;
        walk.check_answer("check-ins, consent missing").await?;
        // A day with no entry yet: the empty form, sent as it is, is refused.
        let yesterday = learnwell::checkins::today(&app.state, &app.state.catalog().tz)
            .yesterday()?
            .to_string();
        walk.visit(
            "check-in form, another day",
            &format!("/courses/{GUT}/checkins/log/daily-gut?date={yesterday}"),
        )
        .await?;
        click(c, Locator::XPath("//button[normalize-space()='Save']")).await?;
        c.wait().for_element(Locator::Css(".form-errors")).await?;
        walk.check_answer("check-in form, refused").await?;
        click(c, Locator::XPath("//button[normalize-space()='Log out']")).await?;
        c.wait()
            .for_element(Locator::XPath("//a[normalize-space()='Log in']"))
            .await?;

        // The studio.
        c.goto(&format!("{}/login", app.base)).await?;
        fill(c, "#f-email", "maya@example.com").await?;
        fill(c, "#f-password", PW).await?;
        click(c, Locator::Css("main form button[type=submit]")).await?;
        heading(c, "Your account").await?;
        for (page, path) in [
            ("studio overview", "/admin".to_owned()),
            ("new program", "/admin/courses/new".to_owned()),
            ("program editor", format!("/admin/courses/{GUT}/edit")),
            ("modules and lessons", format!("/admin/courses/{GUT}/content")),
            ("module editor", format!("/admin/courses/{GUT}/modules/{module_id}")),
            ("students", format!("/admin/courses/{GUT}/students")),
            ("shared check-ins", format!("/admin/courses/{GUT}/checkins")),
            (
                "a shared diary",
                format!("/admin/courses/{GUT}/checkins?student={sam_id}"),
            ),
            (
                "acknowledgement and quiz results",
                format!("/admin/courses/{GUT}/health"),
            ),
            ("orders", "/admin/orders".to_owned()),
            ("pre-enrollments", "/admin/preenrollments".to_owned()),
            ("announcements", "/admin/announcements".to_owned()),
            ("changes", "/admin/audit".to_owned()),
            ("preview a module", format!("/admin/courses/{GUT}/preview")),
            (
                "lesson, as the instructor",
                format!("/courses/{SKIN}/lessons/how-gut-and-skin-talk"),
            ),
            ("lesson editor", format!("/admin/courses/{GUT}/lessons/{lesson_id}")),
        ] {
            walk.visit(page, &path).await?;
        }
        click(c, Locator::XPath("//button[normalize-space()='Preview']")).await?;
        c.wait().for_element(Locator::Css(".preview-pane .lesson-body")).await?;
        walk.check_answer("lesson editor, preview").await?;
        // Moving students in: the upload form, then the dry run of a file.
        walk.visit("import students", &format!("/admin/courses/{GUT}/import")).await?;
        let csv = app.dir.path().join("students.csv");
        std::fs::write(&csv, "Name,Email,Enrolled At,Completed Lessons\nAda,ada.import@example.com,2024-03-31,Mouth and stomach; Old lesson\n")?;
        c.find(Locator::Css("#f-import-file")).await?.send_keys(&csv.display().to_string()).await?;
        click(c, Locator::XPath("//button[normalize-space()='Check the file']")).await?;
        c.wait().for_element(Locator::Css(".import-summary")).await?;
        walk.check_answer("import students, dry run").await?;
        walk.visit("announcements", "/admin/announcements").await?;
        c.find(Locator::Css("#a-course")).await?.select_by_value(GUT).await?;
        click(c, Locator::Css("#a-aud-students")).await?;
        fill(c, "#a-subject", "A note").await?;
        fill(c, "#a-body", "Hello **all**.").await?;
        click(c, Locator::XPath("//button[normalize-space()='Preview']")).await?;
        c.wait().for_element(Locator::Css(".preview")).await?;
        walk.check_answer("announcement preview").await?;

        walk.nu_check(&checkers).await?;
        anyhow::ensure!(
            walk.problems.is_empty(),
            "{} problems on {} pages:\n{}",
            walk.problems.len(),
            walk.pages.len(),
            walk.problems.join("\n")
        );
        Ok(())
    })
    .await;
}
