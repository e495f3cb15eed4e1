//! The edge on launch day: the client's address behind trusted proxies (and a real Caddy), request
//! ids, byte-range downloads, hostile Markdown, and the webhook's body limit.

use crate::common;

use std::net::{IpAddr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::fixture::Fixture;
use common::{AppOptions, Backend, TestApp, new_client};
use learnwell::db_run;
use reqwest::StatusCode;

const PW: &str = "correct horse battery staple";

both_backends!(
    trusted_proxies_name_the_client_and_untrusted_peers_cannot,
    the_audit_trail_and_request_ids_use_our_view_of_the_client,
    downloads_answer_byte_ranges,
    hostile_markdown_is_refused_quickly_and_pages_keep_answering,
    the_webhook_takes_events_up_to_a_mebibyte,
    behind_caddy_each_visitor_has_their_own_limit,
);

async fn login_attempt(app: &TestApp, forwarded_for: Option<&str>) -> StatusCode {
    let mut req = new_client()
        .post(app.url("/login"))
        .header("Origin", &app.base)
        .header("Sec-Fetch-Site", "same-origin")
        .form(&[("email", "nobody@example.com"), ("password", "not the password")]);
    if let Some(xff) = forwarded_for {
        req = req.header("X-Forwarded-For", xff);
    }
    req.send().await.unwrap().status()
}

async fn trusted_proxies_name_the_client_and_untrusted_peers_cannot(backend: Backend) {
    // The test client connects from 127.0.0.1: here that address is the proxy.
    let app = TestApp::spawn_with(
        &backend,
        AppOptions::env(&[("TRUSTED_PROXIES", "127.0.0.1, ::1"), ("AUTH_RATE_LIMIT", "3")]),
    )
    .await;
    for _ in 0..3 {
        assert_ne!(
            login_attempt(&app, Some("203.0.113.1")).await,
            StatusCode::TOO_MANY_REQUESTS
        );
    }
    assert_eq!(
        login_attempt(&app, Some("203.0.113.1")).await,
        StatusCode::TOO_MANY_REQUESTS,
        "the fourth from the same visitor"
    );
    // Another visitor behind the same proxy is not affected.
    assert_ne!(
        login_attempt(&app, Some("203.0.113.2")).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Prepending a made-up address changes nothing: the proxy appended the real one.
    assert_eq!(
        login_attempt(&app, Some("198.51.100.77, 203.0.113.1")).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // RFC 7239 Forwarded is read when there is no X-Forwarded-For.
    let forwarded = new_client()
        .post(app.url("/login"))
        .header("Origin", &app.base)
        .header("Forwarded", "for=\"[2001:db8::7]:4711\";proto=https")
        .form(&[("email", "nobody@example.com"), ("password", "x")])
        .send()
        .await
        .unwrap();
    assert_ne!(forwarded.status(), StatusCode::TOO_MANY_REQUESTS);

    // Without TRUSTED_PROXIES the headers are ignored: whatever a client claims, it is itself.
    let plain = TestApp::spawn_with(&backend, AppOptions::env(&[("AUTH_RATE_LIMIT", "3")])).await;
    for n in 0..3 {
        assert_ne!(
            login_attempt(&plain, Some(&format!("203.0.113.{n}"))).await,
            StatusCode::TOO_MANY_REQUESTS
        );
    }
    assert_eq!(
        login_attempt(&plain, Some("203.0.113.99")).await,
        StatusCode::TOO_MANY_REQUESTS,
        "a fresh X-Forwarded-For is no way around the limit"
    );
    // And a peer that is not a listed proxy cannot claim an address either.
    let elsewhere = TestApp::spawn_with(
        &backend,
        AppOptions::env(&[("TRUSTED_PROXIES", "10.0.0.0/8"), ("AUTH_RATE_LIMIT", "2")]),
    )
    .await;
    for n in 0..2 {
        login_attempt(&elsewhere, Some(&format!("203.0.113.{n}"))).await;
    }
    assert_eq!(
        login_attempt(&elsewhere, Some("203.0.113.50")).await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

async fn the_audit_trail_and_request_ids_use_our_view_of_the_client(backend: Backend) {
    let app = TestApp::spawn_with(&backend, AppOptions::env(&[("TRUSTED_PROXIES", "127.0.0.1,::1")])).await;
    let maya = app.instructor("maya@example.com", PW).await;
    app.signup("Dee", "dee@example.com", PW).await;
    // A studio change made through the proxy, for the visitor at 203.0.113.9.
    let res = maya
        .post(app.url("/admin/enrollments"))
        .header("Origin", &app.base)
        .header("X-Forwarded-For", "203.0.113.9")
        .header("X-Request-Id", "made-up-by-the-proxy")
        .form(&[("email", "dee@example.com"), ("course", "gut-foundations")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let ours = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_ne!(ours, "made-up-by-the-proxy", "request ids are always ours");
    assert!(uuid::Uuid::parse_str(&ours).is_ok(), "{ours}");
    let ip: Option<String> = db_run!(&app.db, pool => sqlx::query_scalar(
        "SELECT client_ip FROM audit_log WHERE action = 'enrollment.grant'"
    ).fetch_one(pool).await)
    .unwrap();
    assert_eq!(ip.as_deref(), Some("203.0.113.9"));
    let audit = app.get_with(&maya, "/admin/audit").await;
    assert!(
        audit.body.contains("203.0.113.9"),
        "the studio shows where a change came from"
    );

    // A client that is not a proxy cannot set our request id either.
    let res = app
        .client
        .get(app.url("/"))
        .header("X-Request-Id", "spoofed")
        .send()
        .await
        .unwrap();
    assert_ne!(res.headers()["x-request-id"], "spoofed");
}

async fn downloads_answer_byte_ranges(backend: Backend) {
    let fx = Fixture::new();
    let content: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::create_dir_all(fx.file("alpha/downloads")).unwrap();
    std::fs::write(fx.file("alpha/downloads/workbook.pdf"), &content).unwrap();
    fx.write(
        "alpha/01-start/02-basics.md",
        "+++\ntitle = \"The basics\"\nduration_minutes = 7\n[[downloads]]\ntitle = \"Workbook\"\nfile = \"downloads/workbook.pdf\"\n+++\n\nBasics.\n",
    );
    let app = TestApp::spawn_with_content(&backend, fx.path()).await;
    let maya = app.instructor("maya@example.com", PW).await;
    let url = app.url("/courses/alpha/lessons/basics/downloads/workbook.pdf");
    let get = |range: Option<&str>, if_range: Option<&str>| {
        let mut req = maya.get(&url);
        if let Some(r) = range {
            req = req.header("Range", r);
        }
        if let Some(r) = if_range {
            req = req.header("If-Range", r);
        }
        req.send()
    };

    let whole = get(None, None).await.unwrap();
    assert_eq!(whole.status(), StatusCode::OK);
    assert_eq!(whole.headers()["accept-ranges"], "bytes");
    assert_eq!(whole.headers()["content-length"], "100000");
    assert_eq!(
        whole.headers()["content-disposition"],
        "attachment; filename=\"workbook.pdf\""
    );
    let etag = whole.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(whole.bytes().await.unwrap().as_ref(), &content[..]);

    for (range, start, end) in [
        ("bytes=0-99", 0usize, 99usize),
        ("bytes=50000-50009", 50_000, 50_009),
        ("bytes=-10", 99_990, 99_999),
        ("bytes=99990-", 99_990, 99_999),
        ("bytes=99000-200000", 99_000, 99_999),
    ] {
        let res = get(Some(range), None).await.unwrap();
        assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT, "{range}");
        assert_eq!(
            res.headers()["content-range"],
            format!("bytes {start}-{end}/100000").as_str(),
            "{range}"
        );
        assert_eq!(res.bytes().await.unwrap().as_ref(), &content[start..=end], "{range}");
    }
    for bad in ["bytes=100000-", "bytes=200000-300000", "bytes=5-2", "lines=1-2"] {
        let res = get(Some(bad), None).await.unwrap();
        assert_eq!(res.status(), StatusCode::RANGE_NOT_SATISFIABLE, "{bad}");
        assert_eq!(res.headers()["content-range"], "bytes */100000", "{bad}");
    }
    // If-Range: the range only if the file is still the same; else the whole (new) file.
    let res = get(Some("bytes=0-9"), Some(&etag)).await.unwrap();
    assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT);
    let res = get(Some("bytes=0-9"), Some("\"an-older-version\"")).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.bytes().await.unwrap().len(), 100_000);
    // Several ranges at once: the whole file (allowed), never a wrong body.
    let res = get(Some("bytes=0-1,10-11"), None).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.bytes().await.unwrap().len(), 100_000);

    // Ranges change nothing about who may download.
    let outsider = app.signup("Out", "out@example.com", PW).await;
    let res = outsider.get(&url).header("Range", "bytes=0-9").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}

async fn hostile_markdown_is_refused_quickly_and_pages_keep_answering(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    let maya = app.instructor("maya@example.com", PW).await;
    let lesson_id: i64 = db_run!(&app.db, pool => sqlx::query_scalar(
        "SELECT id FROM lessons WHERE slug = 'meet-your-microbiome'"
    ).fetch_one(pool).await)
    .unwrap();
    let before: String = db_run!(&app.db, pool => sqlx::query_scalar(
        "SELECT body_html FROM lessons WHERE id = $1"
    ).bind(lesson_id).fetch_one(pool).await)
    .unwrap();
    let form_url = format!("/admin/courses/gut-foundations/lessons/{lesson_id}");
    let (revision, module): (i64, i64) = db_run!(&app.db, pool => sqlx::query_as(
        "SELECT revision, module_id FROM lessons WHERE id = $1"
    ).bind(lesson_id).fetch_one(pool).await)
    .unwrap();
    let (revision, module) = (revision.to_string(), module.to_string());
    for (what, body) in [
        ("a 50,000-deep quote", format!("{} x", ">".repeat(50_000))),
        (
            "40,000 nested divs",
            format!("{}x{}", "<div>".repeat(40_000), "</div>".repeat(40_000)),
        ),
    ] {
        // Meanwhile, the site answers.
        let home = tokio::spawn({
            let url = app.url("/healthz");
            async move { reqwest::get(url).await.map(|r| r.status()) }
        });
        for action in ["preview", "save"] {
            let page = app
                .post_form(
                    &maya,
                    &form_url,
                    &[
                        ("title", "Meet your microbiome"),
                        ("slug", "meet-your-microbiome"),
                        ("module", &module),
                        ("duration_minutes", "6"),
                        ("body", &body),
                        ("revision", &revision),
                        ("action", action),
                    ],
                )
                .await;
            assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{what} {action}");
            assert!(
                page.body.contains("nested more than 32 levels"),
                "{what} {action}: {}",
                page.text(".error")
            );
        }
        assert_eq!(home.await.unwrap().unwrap(), StatusCode::OK);
    }
    let after: String = db_run!(&app.db, pool => sqlx::query_scalar(
        "SELECT body_html FROM lessons WHERE id = $1"
    ).bind(lesson_id).fetch_one(pool).await)
    .unwrap();
    assert_eq!(before, after, "nothing was saved");
}

async fn the_webhook_takes_events_up_to_a_mebibyte(backend: Backend) {
    let secret = "whsec_test_edge";
    let app = TestApp::spawn_with(
        &backend,
        AppOptions::env(&[
            ("STRIPE_SECRET_KEY", "sk_test_edge"),
            ("STRIPE_WEBHOOK_SECRET", secret),
            ("STRIPE_API_BASE", "http://127.0.0.1:9"),
        ]),
    )
    .await;
    let event = |padding: usize| {
        serde_json::json!({
            "id": format!("evt_big_{padding}"),
            "object": "event",
            "api_version": "2025-03-31.basil",
            "created": 1_700_000_000,
            "livemode": false,
            "pending_webhooks": 1,
            "request": {"id": null, "idempotency_key": null},
            "type": "learnwell_test.large_event",
            "data": {"object": {"id": "obj_1", "object": "learnwell_test_object", "padding": "x".repeat(padding)}},
        })
        .to_string()
    };
    let post = |payload: String| {
        let sig = common::stripe::sign_now(&payload, secret);
        app.client
            .post(app.url("/webhooks/stripe"))
            .header("Stripe-Signature", sig)
            .header("Content-Type", "application/json")
            .body(payload)
            .send()
    };
    // 200 KiB: larger than the forms' 64 KiB, as a big order's event can be.
    let res = post(event(200 * 1024)).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "{}", res.text().await.unwrap());
    let res = post(event(1000 * 1024)).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let res = post(event(1100 * 1024)).await.unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // Forms keep their 64 KiB limit. (A fresh client: the server closes a connection whose body
    // it refused, and the pooled one may be that connection.)
    let big = "x".repeat(70 * 1024);
    let page = app
        .post_form(
            &common::new_client(),
            "/login",
            &[("email", "a@example.com"), ("password", &big)],
        )
        .await;
    assert_eq!(page.status, StatusCode::PAYLOAD_TOO_LARGE);
}

// ---- behind a real Caddy -------------------------------------------------------------------------

/// Caddy in front of the app, as the README tells a practice to run it. `None` (with a reason on
/// the terminal) where Caddy is not installed, except under CI, where that is a failure.
struct Caddy {
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for Caddy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn caddy_in_front_of(app: &TestApp, test: &str) -> Option<Caddy> {
    if Command::new("caddy").arg("version").output().is_err() {
        assert!(
            std::env::var("CI").is_err(),
            "caddy is not installed (.ci/run installs it)"
        );
        common::skip(test, "caddy is not installed (apt-get install caddy)");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let caddyfile = format!(
        "{{\n  admin off\n  auto_https off\n}}\nhttp://{addr} {{\n  reverse_proxy {upstream} {{\n    transport http {{\n      keepalive 5s\n    }}\n  }}\n}}\n",
        upstream = app.addr
    );
    std::fs::write(dir.path().join("Caddyfile"), caddyfile).unwrap();
    let child = Command::new("caddy")
        .args(["run", "--adapter", "caddyfile", "--config"])
        .arg(dir.path().join("Caddyfile"))
        .env("HOME", dir.path())
        .env("XDG_DATA_HOME", dir.path())
        .env("XDG_CONFIG_HOME", dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "caddy did not start listening on {addr}");
        std::thread::yield_now();
    }
    Some(Caddy { child, addr, _dir: dir })
}

/// A browser on its own loopback address (127.0.0.x), as distinct visitors look to Caddy.
fn visitor(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .local_address(ip.parse::<IpAddr>().unwrap())
        .build()
        .unwrap()
}

async fn behind_caddy_each_visitor_has_their_own_limit(backend: Backend) {
    let app = TestApp::spawn_with(
        &backend,
        AppOptions::env(&[("TRUSTED_PROXIES", "127.0.0.1"), ("AUTH_RATE_LIMIT", "3")]),
    )
    .await;
    let Some(caddy) = caddy_in_front_of(&app, "edge::behind_caddy_each_visitor_has_their_own_limit") else {
        return;
    };
    let base = format!("http://{}", caddy.addr);
    let attempt = |client: reqwest::Client, spoof: Option<&'static str>| {
        let base = base.clone();
        async move {
            let mut req = client
                .post(format!("{base}/login"))
                .header("Origin", &base)
                .form(&[("email", "nobody@example.com"), ("password", "not the password")]);
            if let Some(ip) = spoof {
                req = req.header("X-Forwarded-For", ip);
            }
            req.send().await.unwrap().status()
        }
    };
    let noisy = visitor("127.0.0.2");
    for _ in 0..3 {
        assert_eq!(attempt(noisy.clone(), None).await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(attempt(noisy.clone(), None).await, StatusCode::TOO_MANY_REQUESTS);
    // Claiming another address through Caddy does not help: Caddy overwrites the header.
    assert_eq!(
        attempt(visitor("127.0.0.2"), Some("127.0.0.99")).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Everyone else still gets in, through the same proxy.
    for ip in ["127.0.0.3", "127.0.0.4", "127.0.0.5"] {
        assert_eq!(attempt(visitor(ip), None).await, StatusCode::UNAUTHORIZED, "{ip}");
    }
    // And a real log-in through the proxy works (cookies, CSRF, redirects).
    app.signup("Dee", "dee@example.com", PW).await;
    let dee = visitor("127.0.0.6");
    let res = dee
        .post(format!("{base}/login"))
        .header("Origin", &base)
        .form(&[("email", "dee@example.com"), ("password", PW)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let account = dee.get(format!("{base}/account")).send().await.unwrap();
    assert_eq!(account.status(), StatusCode::OK);
    assert!(account.text().await.unwrap().contains("dee@example.com"));
}
