//! The journeys in a real browser: Debian's Chromium driven through chromedriver (WebDriver, with
//! fantoccini). Locally, without Chromium, these tests say so and skip; in CI (`CI=true`) they must
//! run. A failing step saves a screenshot to `target/browser-screenshots/`.

mod common;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Backend, TestApp};
use fantoccini::{Client, ClientBuilder, Locator};

const PW: &str = "a calm long passphrase";
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

both_backends!(pre_enroll_launch_pay_and_learn);

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
        // Every lesson of the program's files, and the one the instructor added.
        let gut = common::files::programs()
            .into_iter()
            .find(|p| p.slug == "gut-foundations")
            .expect("the program's files");
        let lessons = gut.modules.iter().map(|m| m.lessons.len()).sum::<usize>() + 1;
        anyhow::ensure!(
            numbers.starts_with(&format!("1 of {lessons}")),
            "dashboard says {numbers}, expected 1 of {lessons}"
        );
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
