//! Accounts as people use them: sign up, confirm, log in and out, reset, change, export, delete;
//! and what must be refused. Both backends; emails over a real SMTP conversation.

mod common;

use common::{AppOptions, Backend, TestApp, new_client};
use learnwell::db::Db;
use learnwell::db_run;
use reqwest::StatusCode;
use time::Duration;

const PW: &str = "a calm long passphrase";

both_backends!(
    signup_confirm_logout_and_the_old_cookie_is_dead,
    login_cycles_the_session_and_returns_to_where_you_were,
    signup_refuses_bad_input_and_writes_nothing,
    duplicate_and_double_signup,
    password_reset_end_to_end,
    reset_links_expire_and_work_once,
    account_changes_name_email_and_password,
    failed_logins_back_off_but_not_for_long,
    data_export_and_account_deletion,
    cookies_are_httponly_lax_and_rolling,
);

async fn count(db: &Db, sql: &str) -> i64 {
    db_run!(db, pool => sqlx::query_scalar::<_, i64>(sql).fetch_one(pool).await).unwrap()
}

fn session_cookie(page: &common::Page) -> Option<String> {
    page.headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("learnwell_session="))
        .map(str::to_owned)
}

/// The cookie pair (`name=value`) from a Set-Cookie header.
fn pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_owned()
}

async fn signup_confirm_logout_and_the_old_cookie_is_dead(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    let browser = new_client();
    let page = app
        .post_form(
            &browser,
            "/signup",
            &[("name", "Ana Reyes"), ("email", "Ana@Example.com "), ("password", PW)],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.header("location"), "/account");
    let cookie = pair(&session_cookie(&page).expect("a session cookie"));

    let account = app.get_with(&browser, "/account").await;
    assert_eq!(account.status, StatusCode::OK);
    assert!(
        account.text(".meta").contains("ana@example.com"),
        "email trimmed and lowercased"
    );
    assert!(
        account
            .text(".verify-banner")
            .contains("Please confirm your email address")
    );
    assert!(account.visible_text().contains("Log out"));

    // The confirmation email: plain text and HTML, the practice's name and address in the footer.
    let mail = app.smtp.wait_for("ana@example.com", 1).await.remove(0);
    assert_eq!(mail.subject(), "Confirm your email for Rootwell Gut Health");
    assert!(mail.text().contains("Hello Ana Reyes"));
    assert!(mail.text().contains("214 Linden Avenue") && mail.html().contains("214 Linden Avenue"));
    assert!(mail.html().contains("Confirm my email"));
    let link = mail.link("/verify-email?token=");
    assert!(link.starts_with(&app.base));

    // "Send it again": a new link arrives and the first one stops working.
    let resent = app.post_form(&browser, "/verify-email/resend", &[]).await;
    assert_eq!(resent.header("location"), "/account?notice=verification-sent");
    let second = app
        .smtp
        .wait_for("ana@example.com", 2)
        .await
        .pop()
        .unwrap()
        .link("/verify-email?token=");
    assert_ne!(second, link);
    let stale = app.get_with(&browser, link.strip_prefix(&app.base).unwrap()).await;
    assert_eq!(stale.status, StatusCode::BAD_REQUEST);
    let link = second;

    let path = link.strip_prefix(&app.base).unwrap();
    let confirmed = app.get_with(&browser, path).await;
    assert_eq!(confirmed.status, StatusCode::OK);
    assert_eq!(confirmed.text("h1"), "Email confirmed");
    assert!(
        app.get_with(&browser, "/account")
            .await
            .texts(".verify-banner")
            .is_empty()
    );
    // The link works once.
    assert_eq!(app.get_with(&browser, path).await.status, StatusCode::BAD_REQUEST);

    // Log out: the session is gone from the database, so even the old cookie no longer works.
    let out = app.post_form(&browser, "/logout", &[]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(app.get_with(&browser, "/account").await.status, StatusCode::SEE_OTHER);
    let replay = app
        .request(new_client().get(app.url("/account")).header("Cookie", &cookie))
        .await;
    assert_eq!(
        replay.status,
        StatusCode::SEE_OTHER,
        "old session cookie still works after logout"
    );
    assert!(replay.header("location").starts_with("/login"));
}

async fn login_cycles_the_session_and_returns_to_where_you_were(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    app.signup("Ben", "ben@example.com", PW).await;
    let browser = new_client();
    let gate = app.get_with(&browser, "/account").await;
    assert_eq!(gate.status, StatusCode::SEE_OTHER);
    assert_eq!(gate.header("location"), "/login?next=%2Faccount");
    let form = app.get_with(&browser, "/login?next=%2Faccount").await;
    assert_eq!(
        form.html()
            .select(&scraper::Selector::parse("input[name=next]").unwrap())
            .next()
            .unwrap()
            .value()
            .attr("value"),
        Some("/account")
    );
    for label in ["Email", "Password"] {
        assert!(form.texts("label").contains(&label.to_string()));
    }
    let first = app
        .post_form(
            &browser,
            "/login",
            &[("email", "BEN@example.com"), ("password", PW), ("next", "/account")],
        )
        .await;
    assert_eq!(first.status, StatusCode::SEE_OTHER);
    assert_eq!(first.header("location"), "/account");
    let c1 = pair(&session_cookie(&first).unwrap());
    // Logging in again gives a new session id; the old one is void (no fixation).
    let second = app
        .post_form(&browser, "/login", &[("email", "ben@example.com"), ("password", PW)])
        .await;
    let c2 = pair(&session_cookie(&second).unwrap());
    assert_ne!(c1, c2);
    let replay = app
        .request(new_client().get(app.url("/account")).header("Cookie", &c1))
        .await;
    assert_eq!(replay.status, StatusCode::SEE_OTHER);
    // No open redirects.
    for next in ["https://evil.example/", "//evil.example", "/\\evil.example"] {
        let page = app
            .post_form(
                &new_client(),
                "/login",
                &[("email", "ben@example.com"), ("password", PW), ("next", next)],
            )
            .await;
        assert_eq!(page.header("location"), "/account", "{next}");
    }
    // Wrong password, unknown account: the same message, 401, the email kept, never the password.
    for (email, pw) in [("ben@example.com", "not the password"), ("nobody@example.com", PW)] {
        let page = app
            .post_form(&new_client(), "/login", &[("email", email), ("password", pw)])
            .await;
        assert_eq!(page.status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            page.text(".form-error"),
            "That email and password do not match an account."
        );
        assert!(page.body.contains(email) && !page.body.contains(pw));
    }
}

async fn signup_refuses_bad_input_and_writes_nothing(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    let long = "x".repeat(129);
    let name101 = "n".repeat(101);
    // (the form's fields, the field that must show an error, what the error says)
    type Case<'a> = (Vec<(&'a str, &'a str)>, &'a str, &'a str);
    let cases: Vec<Case> = vec![
        (vec![], "name", "Please enter your name."),
        (
            vec![("name", "Cy"), ("email", "cy@example.com")],
            "password",
            "at least 10 characters",
        ),
        (
            vec![("name", "Cy"), ("email", "not-an-email"), ("password", PW)],
            "email",
            "needs an @",
        ),
        (
            vec![("name", "Cy"), ("email", "cy@exаmple.com"), ("password", PW)],
            "email",
            "plain letters",
        ),
        (
            vec![("name", "Cy\0"), ("email", "cy@example.com"), ("password", PW)],
            "name",
            "characters we cannot use",
        ),
        (
            vec![("name", &name101), ("email", "cy@example.com"), ("password", PW)],
            "name",
            "under 100",
        ),
        (
            vec![("name", "Cy"), ("email", "cy@example.com"), ("password", "password123")],
            "password",
            "most common",
        ),
        (
            vec![("name", "Cy"), ("email", "cy@example.com"), ("password", &long)],
            "password",
            "at most 128",
        ),
        (
            vec![
                ("name", "Cy"),
                ("email", "cy@example.com"),
                ("password", "pass\0word-long"),
            ],
            "password",
            "cannot accept",
        ),
    ];
    for (fields, field, message) in cases {
        let page = app.post_form(&new_client(), "/signup", &fields).await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{fields:?}");
        let error = page.text(&format!("#f-{field}-error"));
        assert!(error.contains(message), "{fields:?}: '{error}'");
        // What was typed comes back, except the password.
        for (k, v) in &fields {
            if *k == "password" {
                assert!(v.is_empty() || !page.body.contains(v), "password echoed");
            }
        }
        if let Some((_, email)) = fields.iter().find(|(k, _)| *k == "email") {
            assert!(
                page.body.contains(&email.replace('&', "&amp;")),
                "email not kept: {email}"
            );
        }
    }
    // The wrong kind of body, and an oversized one.
    let json = app
        .request(
            new_client()
                .post(app.url("/signup"))
                .json(&serde_json::json!({"name": "Cy", "email": "cy@example.com", "password": PW})),
        )
        .await;
    assert_eq!(json.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(json.header("content-type").starts_with("text/html"));
    let huge = "a".repeat(200_000);
    let big = app
        .post_form(
            &new_client(),
            "/signup",
            &[("name", &huge), ("email", "cy@example.com"), ("password", PW)],
        )
        .await;
    assert_eq!(big.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(count(&app.db, "SELECT COUNT(*) FROM users").await, 0, "nothing written");
    assert_eq!(
        count(&app.db, "SELECT COUNT(*) FROM outbox").await,
        0,
        "no email queued"
    );
}

async fn duplicate_and_double_signup(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    let browser = new_client();
    let fields = [("name", "Dee"), ("email", "dee@example.com"), ("password", PW)];
    // Pressed twice in the same browser: one account, both answers fine.
    assert_eq!(
        app.post_form(&browser, "/signup", &fields).await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        app.post_form(&browser, "/signup", &fields).await.status,
        StatusCode::SEE_OTHER
    );
    // Someone else with the same email, in another case: refused with a way forward.
    let page = app
        .post_form(
            &new_client(),
            "/signup",
            &[("name", "Other"), ("email", " DEE@example.COM"), ("password", PW)],
        )
        .await;
    assert_eq!(page.status, StatusCode::CONFLICT);
    assert!(page.text("#f-email-error").contains("already exists"));
    assert_eq!(count(&app.db, "SELECT COUNT(*) FROM users").await, 1);
    app.smtp.wait_for("dee@example.com", 1).await;
}

async fn password_reset_end_to_end(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    app.signup("Eve", "eve@example.com", PW).await;
    let other_device = app.login("eve@example.com", PW).await;
    app.smtp.wait_for("eve@example.com", 1).await;

    // The same answer for an account that exists and one that does not.
    let known = app
        .post_form(&new_client(), "/forgot-password", &[("email", "eve@example.com")])
        .await;
    let unknown = app
        .post_form(&new_client(), "/forgot-password", &[("email", "nobody@example.com")])
        .await;
    assert_eq!(known.status, StatusCode::OK);
    assert_eq!(
        known.text(".form-notice").replace("eve@example.com", "X"),
        unknown.text(".form-notice").replace("nobody@example.com", "X")
    );

    let mail = app.smtp.wait_for("eve@example.com", 2).await.pop().unwrap();
    assert_eq!(mail.subject(), "Reset your password for Rootwell Gut Health");
    let path = mail
        .link("/reset-password?token=")
        .strip_prefix(&app.base)
        .unwrap()
        .to_owned();
    let browser = new_client();
    let form = app.get_with(&browser, &path).await;
    assert_eq!(form.status, StatusCode::OK);
    let token = path.split("token=").nth(1).unwrap();
    let too_short = app
        .post_form(&browser, "/reset-password", &[("token", token), ("password", "short")])
        .await;
    assert_eq!(too_short.status, StatusCode::UNPROCESSABLE_ENTITY);
    let done = app
        .post_form(
            &browser,
            "/reset-password",
            &[("token", token), ("password", "a brand new passphrase")],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    assert_eq!(done.header("location"), "/account?notice=password-reset");
    let landed = app.get_with(&browser, done.header("location")).await;
    assert!(
        landed.text(".form-notice").contains("new password is set"),
        "{}",
        landed.text("main")
    );
    // Every other session has ended; the old password is gone, the new one works.
    assert_eq!(
        app.get_with(&other_device, "/account").await.status,
        StatusCode::SEE_OTHER
    );
    let old = app
        .post_form(
            &new_client(),
            "/login",
            &[("email", "eve@example.com"), ("password", PW)],
        )
        .await;
    assert_eq!(old.status, StatusCode::UNAUTHORIZED);
    app.login("eve@example.com", "a brand new passphrase").await;
    // Used once: the link is dead.
    let again = app
        .post_form(
            &new_client(),
            "/reset-password",
            &[("token", token), ("password", "yet another passphrase")],
        )
        .await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    // No email went to the unknown address.
    assert!(app.smtp.to("nobody@example.com").is_empty());
}

async fn reset_links_expire_and_work_once(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    app.signup("Fay", "fay@example.com", PW).await;
    app.post_form(&new_client(), "/forgot-password", &[("email", "fay@example.com")])
        .await;
    let mail = app.smtp.wait_for("fay@example.com", 2).await.pop().unwrap();
    let path = mail
        .link("/reset-password?token=")
        .strip_prefix(&app.base)
        .unwrap()
        .to_owned();
    let token = path.split("token=").nth(1).unwrap().to_owned();
    app.state.clock.advance(Duration::minutes(61));
    let page = app.get(&path).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.text(".form-error").contains("expired or was already used"));
    let post = app
        .post_form(
            &new_client(),
            "/reset-password",
            &[("token", &token), ("password", "a brand new passphrase")],
        )
        .await;
    assert_eq!(post.status, StatusCode::BAD_REQUEST);
    // Tampered or missing tokens.
    for bad in [
        "/reset-password?token=",
        "/reset-password?token=AAAA",
        "/reset-password",
    ] {
        assert_eq!(app.get(bad).await.status, StatusCode::BAD_REQUEST, "{bad}");
    }
    app.login("fay@example.com", PW).await;
}

async fn account_changes_name_email_and_password(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    let browser = app.signup("Gus", "gus@example.com", PW).await;
    let other_device = app.login("gus@example.com", PW).await;

    let saved = app
        .post_form(&browser, "/account/name", &[("name", "  Gus   Grant ")])
        .await;
    assert_eq!(saved.header("location"), "/account?notice=name-saved");
    assert!(
        app.get_with(&browser, "/account")
            .await
            .text(".meta")
            .starts_with("Gus Grant")
    );
    let bad = app.post_form(&browser, "/account/name", &[("name", "")]).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.text("#f-name-error").contains("enter your name"));

    // Email: needs the password; changes only once the new address is confirmed.
    let wrong = app
        .post_form(
            &browser,
            "/account/email",
            &[("email", "gus2@example.com"), ("password", "wrong password")],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        wrong
            .text("#f-email-password-error")
            .contains("not your current password"),
        "{}",
        wrong.text("main")
    );
    app.signup("Taken", "taken@example.com", PW).await;
    let taken = app
        .post_form(
            &browser,
            "/account/email",
            &[("email", "taken@example.com"), ("password", PW)],
        )
        .await;
    assert_eq!(taken.status, StatusCode::CONFLICT);
    let ok = app
        .post_form(
            &browser,
            "/account/email",
            &[("email", "Gus2@example.com"), ("password", PW)],
        )
        .await;
    assert_eq!(ok.header("location"), "/account?notice=email-sent");
    assert!(
        app.get_with(&browser, "/account")
            .await
            .text(".meta")
            .contains("gus@example.com")
    );
    let mail = app.smtp.wait_for("gus2@example.com", 1).await.remove(0);
    assert_eq!(mail.subject(), "Confirm your new email address");
    app.get_with(&browser, mail.link("/verify-email").strip_prefix(&app.base).unwrap())
        .await;
    assert!(
        app.get_with(&browser, "/account")
            .await
            .text(".meta")
            .contains("gus2@example.com")
    );

    // Password: needs the current one; this device stays in, the other is logged out.
    let wrong = app
        .post_form(
            &browser,
            "/account/password",
            &[
                ("current_password", "nope nope nope"),
                ("new_password", "another fine passphrase"),
            ],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    let weak = app
        .post_form(
            &browser,
            "/account/password",
            &[("current_password", PW), ("new_password", "qwertyuiop")],
        )
        .await;
    assert!(weak.text("#f-new_password-error").contains("most common"));
    let changed = app
        .post_form(
            &browser,
            "/account/password",
            &[("current_password", PW), ("new_password", "another fine passphrase")],
        )
        .await;
    assert_eq!(changed.header("location"), "/account?notice=password-changed");
    assert_eq!(app.get_with(&browser, "/account").await.status, StatusCode::OK);
    assert_eq!(
        app.get_with(&other_device, "/account").await.status,
        StatusCode::SEE_OTHER
    );
    app.login("gus2@example.com", "another fine passphrase").await;
}

async fn failed_logins_back_off_but_not_for_long(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    app.signup("Hal", "hal@example.com", PW).await;
    for _ in 0..5 {
        let page = app
            .post_form(
                &new_client(),
                "/login",
                &[("email", "hal@example.com"), ("password", "wrong guess!")],
            )
            .await;
        assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    }
    // Locked: even the right password waits, and the page says for how long.
    let locked = app
        .post_form(
            &new_client(),
            "/login",
            &[("email", "hal@example.com"), ("password", PW)],
        )
        .await;
    assert_eq!(locked.status, StatusCode::TOO_MANY_REQUESTS);
    let retry: i64 = locked.header("retry-after").parse().unwrap();
    assert!((1..=30).contains(&retry), "{retry}");
    assert!(locked.text(".form-error").contains("Too many failed attempts"));
    // The lock is kept in the database (so it holds across instances and restarts).
    assert_eq!(
        count(
            &app.db,
            "SELECT failed_logins FROM users WHERE email = 'hal@example.com'"
        )
        .await,
        5
    );
    app.state.clock.advance(Duration::seconds(31));
    app.login("hal@example.com", PW).await;
    // An attacker hammering the account cannot lock its owner out for more than 15 minutes.
    for _ in 0..30 {
        app.post_form(
            &new_client(),
            "/login",
            &[("email", "hal@example.com"), ("password", "wrong guess!")],
        )
        .await;
        app.state.clock.advance(Duration::hours(1));
    }
    app.post_form(
        &new_client(),
        "/login",
        &[("email", "hal@example.com"), ("password", "wrong guess!")],
    )
    .await;
    let locked = app
        .post_form(
            &new_client(),
            "/login",
            &[("email", "hal@example.com"), ("password", PW)],
        )
        .await;
    let retry: i64 = locked.header("retry-after").parse().unwrap();
    assert!(retry <= 15 * 60, "{retry}");
    app.state.clock.advance(Duration::minutes(15));
    app.login("hal@example.com", PW).await;
}

async fn data_export_and_account_deletion(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    let browser = app.signup("Ida", "ida@example.com", PW).await;
    app.smtp.wait_for("ida@example.com", 1).await;
    let res = browser.get(app.url("/account/data")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    let data: serde_json::Value = res.json().await.unwrap();
    assert_eq!(data["account"]["email"], "ida@example.com");
    assert_eq!(data["account"]["name"], "Ida");
    assert_eq!(
        data["emails_sent_to_you"][0]["subject"],
        "Confirm your email for Rootwell Gut Health"
    );
    assert!(!data.to_string().contains("argon2"), "no password hash in the export");
    assert_eq!(
        app.get("/account/data").await.status,
        StatusCode::SEE_OTHER,
        "not without logging in"
    );

    let wrong = app
        .post_form(&browser, "/account/delete", &[("password", "wrong password")])
        .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(wrong.text("#f-delete-password-error").contains("was not deleted"));
    assert_eq!(count(&app.db, "SELECT COUNT(*) FROM users").await, 1);
    let gone = app.post_form(&browser, "/account/delete", &[("password", PW)]).await;
    assert_eq!(gone.status, StatusCode::OK);
    assert_eq!(gone.text("h1"), "Your account is deleted");
    assert_eq!(count(&app.db, "SELECT COUNT(*) FROM users").await, 0);
    assert_eq!(count(&app.db, "SELECT COUNT(*) FROM user_tokens").await, 0);
    assert_eq!(
        count(&app.db, "SELECT COUNT(*) FROM outbox WHERE to_addr = 'ida@example.com'").await,
        0
    );
    assert_eq!(app.get_with(&browser, "/account").await.status, StatusCode::SEE_OTHER);
    let login = app
        .post_form(
            &new_client(),
            "/login",
            &[("email", "ida@example.com"), ("password", PW)],
        )
        .await;
    assert_eq!(login.status, StatusCode::UNAUTHORIZED);
}

async fn cookies_are_httponly_lax_and_rolling(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    let browser = new_client();
    let page = app
        .post_form(
            &browser,
            "/signup",
            &[("name", "Jo"), ("email", "jo@example.com"), ("password", PW)],
        )
        .await;
    let cookie = session_cookie(&page).unwrap().to_lowercase();
    assert!(
        cookie.contains("httponly") && cookie.contains("samesite=lax") && cookie.contains("path=/"),
        "{cookie}"
    );
    assert!(cookie.contains(&format!("max-age={}", 14 * 24 * 3600)), "{cookie}");
    assert!(!cookie.contains("secure"), "no Secure flag on plain http");
    // A page view within a day does not rewrite the session; one after a day renews the 14 days.
    assert!(session_cookie(&app.get_with(&browser, "/account").await).is_none());
    app.state.clock.advance(Duration::days(2));
    let renewed = app.get_with(&browser, "/account").await;
    assert_eq!(renewed.status, StatusCode::OK);
    assert!(session_cookie(&renewed).is_some(), "rolling expiry renewed the session");

    // On https the cookie is Secure and HSTS is sent.
    let https = TestApp::spawn_with(
        &backend,
        AppOptions {
            env: [("BASE_URL".to_string(), "https://learn.example.com".to_string())].into(),
            ..AppOptions::default()
        },
    )
    .await;
    let page = https
        .request(
            new_client()
                .post(https.url("/signup"))
                .header("Origin", "https://learn.example.com")
                .form(&[("name", "Jo"), ("email", "jo@example.com"), ("password", PW)]),
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert!(session_cookie(&page).unwrap().to_lowercase().contains("secure"));
    assert!(page.header("strict-transport-security").contains("max-age="));
}
