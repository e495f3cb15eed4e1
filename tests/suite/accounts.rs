//! Accounts as people use them: sign up, confirm, log in and out, reset, change, export, delete;
//! and what must be refused. Both backends; emails over a real SMTP conversation.

use crate::common;

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
    sign_up_never_tells_who_has_an_account,
    password_reset_end_to_end,
    reset_links_expire_and_work_once,
    account_changes_name_email_and_password,
    failed_logins_back_off_but_not_for_long,
    data_export_and_account_deletion,
    cookies_are_httponly_lax_and_rolling,
    an_unconfirmed_account_cannot_read_or_erase_the_addresss_mail,
    confirmation_mail_is_throttled_per_address_and_per_account,
    mail_to_unconfirmed_addresses_carries_nothing_a_stranger_typed,
    account_pages_back_off_like_log_in,
    the_owner_gets_in_from_a_known_browser_while_the_account_backs_off,
    signed_in_devices_and_log_out_everywhere_else,
    sessions_end_thirty_days_after_log_in_however_active,
    a_session_ended_elsewhere_is_not_revived_by_a_renewal,
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
    // Nobody is signed in yet: the address must be confirmed first (so the answer is the same
    // whether or not it already had an account).
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.text("h1"), "Check your email");
    assert!(
        page.text(".lead").contains("ana@example.com"),
        "email trimmed and lowercased"
    );
    assert!(session_cookie(&page).is_none());
    assert_eq!(app.get_with(&browser, "/account").await.status, StatusCode::SEE_OTHER);

    // The confirmation email: plain text and HTML, the practice's name and address in the footer.
    let mail = app.smtp.wait_for("ana@example.com", 1).await.remove(0);
    assert_eq!(mail.subject(), "Confirm your email for Rootwell Gut Health");
    assert!(
        mail.text().starts_with("Hello,"),
        "no typed name to an unconfirmed address"
    );
    assert!(!mail.text().contains("Ana Reyes"));
    assert!(mail.text().contains("214 Linden Avenue") && mail.html().contains("214 Linden Avenue"));
    assert!(mail.html().contains("Confirm my email"));
    let link = mail.link("/verify-email?token=");
    assert!(link.starts_with(&app.base));

    // Before confirming, the password already logs in; the page asks for the confirmation.
    let browser = app.login("ana@example.com", PW).await;
    let account = app.get_with(&browser, "/account").await;
    assert!(
        account
            .text(".verify-banner")
            .contains("Please confirm your email address")
    );
    assert!(account.visible_text().contains("Log out"));
    // "Send it again" a moment later: the link just sent is the one to use.
    let soon = app.post_form(&browser, "/verify-email/resend", &[]).await;
    assert_eq!(soon.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(soon.text(".form-notice").contains("a few minutes ago"));
    // Ten minutes on: a new link arrives and the first one stops working.
    app.state.clock.advance(Duration::minutes(11));
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

    // The link confirms and signs in (a new session id), then goes on to where they were going.
    let path = second.strip_prefix(&app.base).unwrap();
    let elsewhere = new_client();
    let confirmed = app.get_with(&elsewhere, path).await;
    assert_eq!(confirmed.status, StatusCode::SEE_OTHER);
    assert_eq!(confirmed.header("location"), "/account?notice=email-confirmed");
    let cookie = pair(&session_cookie(&confirmed).expect("signed in by the link"));
    assert!(
        app.get_with(&elsewhere, "/account")
            .await
            .texts(".verify-banner")
            .is_empty()
    );
    // The link works once.
    assert_eq!(app.get_with(&new_client(), path).await.status, StatusCode::BAD_REQUEST);

    // Log out: the session is gone from the database, so even the old cookie no longer works.
    let out = app.post_form(&elsewhere, "/logout", &[]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(app.get_with(&elsewhere, "/account").await.status, StatusCode::SEE_OTHER);
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
        assert!(
            page.text(".form-error")
                .starts_with("That email and password do not match an account."),
            "{}",
            page.text(".form-error")
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
            "at least 12 characters",
        ),
        (
            vec![("name", "Cy"), ("email", "cy@example.com"), ("password", "          ")],
            "password",
            "at least 12 characters",
        ),
        (
            vec![
                ("name", "Cy"),
                ("email", "cy@example.com"),
                ("password", "              "),
            ],
            "password",
            "only spaces",
        ),
        (
            vec![
                ("name", "Cy Young"),
                ("email", "cy.young@example.com"),
                ("password", "cy.young@example.com"),
            ],
            "password",
            "name or email",
        ),
        (
            vec![
                ("name", "Cy Young"),
                ("email", "cy@example.com"),
                ("password", "CyYoung19840"),
            ],
            "password",
            "name or email",
        ),
        (
            vec![
                ("name", "Cy"),
                ("email", "cy@example.com"),
                ("password", "Lock Lock Lock"),
            ],
            "password",
            "repeats",
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
            vec![
                ("name", "Cy"),
                ("email", "cy@example.com"),
                ("password", "password1234"),
            ],
            "password",
            "too easy to guess",
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
            let also_the_email = fields.iter().any(|(k2, v2)| *k2 == "email" && v2 == v);
            if *k == "password" && !v.trim().is_empty() && !also_the_email {
                assert!(!page.body.contains(v), "password echoed");
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

async fn sign_up_never_tells_who_has_an_account(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    let browser = new_client();
    let fields = [("name", "Dee"), ("email", "dee@example.com"), ("password", PW)];
    let first = app.post_form(&browser, "/signup", &fields).await;
    assert_eq!(first.status, StatusCode::OK);
    // Pressed twice: one account, the same answer.
    let twice = app.post_form(&browser, "/signup", &fields).await;
    assert_eq!(twice.status, StatusCode::OK);
    assert_eq!(twice.text("main"), first.text("main"));
    // Someone else with the same email, in another case: the very same page as a new account.
    let other = app
        .post_form(
            &new_client(),
            "/signup",
            &[
                ("name", "Mallory Phish"),
                ("email", " DEE@example.COM"),
                ("password", PW),
            ],
        )
        .await;
    assert_eq!(other.status, StatusCode::OK);
    assert_eq!(other.text("main"), first.text("main"));
    assert!(session_cookie(&other).is_none());
    let fresh = app
        .post_form(
            &new_client(),
            "/signup",
            &[("name", "Fresh"), ("email", "fresh@example.com"), ("password", PW)],
        )
        .await;
    assert_eq!(
        fresh.text("main").replace("fresh@example.com", "X"),
        first.text("main").replace("dee@example.com", "X"),
        "a new address and a taken one look alike"
    );
    assert_eq!(count(&app.db, "SELECT COUNT(*) FROM users").await, 2);
    // The owner of the address is told, once per ten minutes, with no words from the form.
    let mails = app.smtp.wait_for("dee@example.com", 2).await;
    let notice = mails
        .iter()
        .find(|m| m.subject() == "You already have an account with Rootwell Gut Health")
        .expect("the owner is told");
    assert!(notice.text().starts_with("Hello,"));
    assert!(!notice.text().contains("Mallory") && !notice.text().contains("Phish"));
    assert!(notice.text().contains("/forgot-password") && notice.text().contains("/login"));
    assert_eq!(
        count(&app.db, "SELECT COUNT(*) FROM outbox WHERE to_addr = 'dee@example.com'").await,
        2,
        "the second press within ten minutes sent nothing more"
    );
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
    // The account's own address is no password either (the policy knows whose link this is).
    let own = app
        .post_form(
            &browser,
            "/reset-password",
            &[("token", token), ("password", "eve@example.com")],
        )
        .await;
    assert_eq!(own.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(own.text("#f-password-error").contains("name or email"));
    // Asking again within ten minutes sends nothing more (and answers the same).
    let again = app
        .post_form(&new_client(), "/forgot-password", &[("email", "eve@example.com")])
        .await;
    assert_eq!(again.text(".form-notice"), known.text(".form-notice"));
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
    // No email went to the unknown address, and one reset email to Eve.
    assert!(app.smtp.to("nobody@example.com").is_empty());
    assert_eq!(
        count(
            &app.db,
            "SELECT COUNT(*) FROM outbox WHERE to_addr = 'eve@example.com' AND subject LIKE 'Reset%'"
        )
        .await,
        1
    );
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
    let before = app.smtp.wait_for("taken@example.com", 1).await.len();
    let taken = app
        .post_form(
            &browser,
            "/account/email",
            &[("email", "taken@example.com"), ("password", PW)],
        )
        .await;
    // The same answer as for a free address (this form must not tell who has an account), and
    // no mail: the other account is not disturbed.
    assert_eq!(taken.header("location"), "/account?notice=email-sent");
    assert_eq!(
        count(
            &app.db,
            "SELECT COUNT(*) FROM outbox WHERE to_addr = 'taken@example.com'"
        )
        .await,
        before as i64
    );
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
    // A second request for the same new address right away sends nothing more.
    let soon = app
        .post_form(
            &browser,
            "/account/email",
            &[("email", "gus2@example.com"), ("password", PW)],
        )
        .await;
    assert_eq!(soon.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(soon.text("#f-email-error").contains("a few minutes ago"));
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
            &[("current_password", PW), ("new_password", "qwertyuiop12")],
        )
        .await;
    assert!(weak.text("#f-new_password-error").contains("too easy to guess"));
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
    let nobody = app
        .post_form(
            &new_client(),
            "/login",
            &[("email", "nobody@example.com"), ("password", "wrong guess!")],
        )
        .await;
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
    // Backing off: even the right password waits (from a browser the account does not know), and
    // the answer is exactly that of a wrong password or an unknown address: nobody learns that the
    // account exists, or that it is locked.
    let locked = app
        .post_form(
            &new_client(),
            "/login",
            &[("email", "hal@example.com"), ("password", PW)],
        )
        .await;
    assert_eq!(locked.status, StatusCode::UNAUTHORIZED);
    assert_eq!(locked.text(".form-error"), nobody.text(".form-error"));
    assert!(locked.headers.get("retry-after").is_none());
    assert!(locked.text(".form-error").contains("wait a little, or reset it"));
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
    assert_eq!(locked.status, StatusCode::UNAUTHORIZED);
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
    app.signup_unconfirmed("Jo", "jo@example.com", PW).await;
    let page = app
        .post_form(&browser, "/login", &[("email", "jo@example.com"), ("password", PW)])
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
    https.signup_unconfirmed("Jo", "jo@example.com", PW).await;
    let page = https
        .request(
            new_client()
                .post(https.url("/login"))
                .header("Origin", "https://learn.example.com")
                .form(&[("email", "jo@example.com"), ("password", PW)]),
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    // The __Host- prefix: only this host, Secure, Path=/, no Domain (ASVS 3.4.4).
    let cookies: Vec<String> = page
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let session = cookies
        .iter()
        .find(|c| c.starts_with("__Host-learnwell_session="))
        .unwrap_or_else(|| panic!("{cookies:?}"))
        .to_lowercase();
    assert!(session.contains("secure") && session.contains("path=/") && !session.contains("domain="));
    let device = cookies
        .iter()
        .find(|c| c.starts_with("__Host-learnwell_device="))
        .unwrap_or_else(|| panic!("{cookies:?}"))
        .to_lowercase();
    assert!(device.contains("secure") && device.contains("httponly") && !device.contains("domain="));
    assert!(page.header("strict-transport-security").contains("max-age="));
}

/// A pre-enrollee's confirmed address, and someone who signs up with it without owning it: the
/// account's page, export and deletion show and touch nothing of the address's mail.
async fn an_unconfirmed_account_cannot_read_or_erase_the_addresss_mail(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    // Victoria pre-enrolls and confirms; the program launches: two emails to her address.
    let form = app.get("/preenroll").await;
    let course = form.attr("input[name=course]", "value");
    let page = app
        .post_form(
            &new_client(),
            "/preenroll",
            &[
                ("name", "Victoria"),
                ("email", "victoria@example.com"),
                ("course", &course),
                ("consent", "yes"),
            ],
        )
        .await;
    assert!(
        page.status.is_success() || page.status.is_redirection(),
        "{}",
        page.status
    );
    let confirm = app
        .smtp
        .wait_for("victoria@example.com", 1)
        .await
        .remove(0)
        .link("/preenroll/confirm");
    app.get(confirm.strip_prefix(&app.base).unwrap()).await;
    let before = count(
        &app.db,
        "SELECT COUNT(*) FROM outbox WHERE to_addr = 'victoria@example.com'",
    )
    .await;
    assert!(before >= 1);

    // Mallory signs up with Victoria's address (never confirmed) and logs in with her password.
    app.signup_unconfirmed("Mallory", "victoria@example.com", PW).await;
    let mallory = app.login("victoria@example.com", PW).await;
    let data: serde_json::Value = mallory
        .get(app.url("/account/data"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let text = data.to_string();
    assert!(
        !text.contains("pre-enrollment"),
        "no subject of mail sent to the address: {text}"
    );
    assert!(data["emails_sent_to_you"].is_string(), "{}", data["emails_sent_to_you"]);
    assert!(!text.contains("\"subscribed\""));
    // Deleting the squatting account leaves the address's mail and list entry alone, pending
    // messages included.
    let gone = app.post_form(&mallory, "/account/delete", &[("password", PW)]).await;
    assert_eq!(gone.status, StatusCode::OK);
    assert_eq!(count(&app.db, "SELECT COUNT(*) FROM users").await, 0);
    let after = count(
        &app.db,
        "SELECT COUNT(*) FROM outbox WHERE to_addr = 'victoria@example.com'",
    )
    .await;
    assert!(after >= before, "{before} → {after}");
    assert_eq!(
        count(
            &app.db,
            "SELECT COUNT(*) FROM preenrollments WHERE email = 'victoria@example.com'"
        )
        .await,
        1
    );
}

async fn confirmation_mail_is_throttled_per_address_and_per_account(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    app.signup_unconfirmed("Kim", "kim@example.com", PW).await;
    let kim = app.login("kim@example.com", PW).await;
    // 25 presses of "Send it again": no more mail within ten minutes.
    for _ in 0..25 {
        let page = app.post_form(&kim, "/verify-email/resend", &[]).await;
        assert_eq!(page.status, StatusCode::TOO_MANY_REQUESTS);
    }
    assert_eq!(
        count(&app.db, "SELECT COUNT(*) FROM outbox WHERE to_addr = 'kim@example.com'").await,
        1
    );
    // Changing the address to a stranger's, over and over: one email to each address per ten
    // minutes, and five confirmation emails per account per day, wherever they go.
    let mut sent = 1; // the sign-up's own
    for i in 0..8 {
        app.state.clock.advance(Duration::minutes(11));
        let target = format!("stranger{i}@example.com");
        let page = app
            .post_form(&kim, "/account/email", &[("email", &target), ("password", PW)])
            .await;
        if sent < 5 {
            assert_eq!(page.header("location"), "/account?notice=email-sent", "{i}");
            sent += 1;
        } else {
            assert_eq!(page.status, StatusCode::TOO_MANY_REQUESTS, "{i}");
            assert!(page.text("#f-email-error").contains("several links today"));
        }
        let again = app
            .post_form(&kim, "/account/email", &[("email", &target), ("password", PW)])
            .await;
        assert_eq!(
            again.status,
            StatusCode::TOO_MANY_REQUESTS,
            "the same address again: {i}"
        );
    }
    assert_eq!(
        count(&app.db, "SELECT COUNT(*) FROM outbox WHERE subject LIKE 'Confirm%'").await,
        5
    );
    // A day later the account may ask again.
    app.state.clock.advance(Duration::days(1));
    let page = app
        .post_form(
            &kim,
            "/account/email",
            &[("email", "kim.new@example.com"), ("password", PW)],
        )
        .await;
    assert_eq!(page.header("location"), "/account?notice=email-sent");
    // The routes are rate-limited per client address too (AUTH_RATE_LIMIT).
    let limited = TestApp::spawn_with(&backend, AppOptions::env(&[("AUTH_RATE_LIMIT", "2")])).await;
    limited.signup_unconfirmed("Lu", "lu@example.com", PW).await;
    let lu = limited.login("lu@example.com", PW).await;
    let statuses: Vec<StatusCode> = {
        let mut v = Vec::new();
        for _ in 0..3 {
            v.push(limited.post_form(&lu, "/verify-email/resend", &[]).await.status);
        }
        v
    };
    assert_eq!(statuses[2], StatusCode::TOO_MANY_REQUESTS, "{statuses:?}");
}

async fn mail_to_unconfirmed_addresses_carries_nothing_a_stranger_typed(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    let phishing = "Your account is locked - verify now at evil.example/login";
    app.signup_unconfirmed(phishing, "target@example.com", PW).await;
    let mail = app.smtp.wait_for("target@example.com", 1).await.remove(0);
    assert!(mail.text().starts_with("Hello,"), "{}", mail.text());
    assert!(!mail.text().contains("evil.example") && !mail.html().contains("evil.example"));
    let to = mail.header("To").unwrap_or_default();
    assert!(!to.contains("locked") && !to.contains("evil"), "no display name: {to}");
    // A pre-enrollment's confirmation email, likewise.
    let form = app.get("/preenroll").await;
    let course = form.attr("input[name=course]", "value");
    app.post_form(
        &new_client(),
        "/preenroll",
        &[
            ("name", phishing),
            ("email", "other@example.com"),
            ("course", &course),
            ("consent", "yes"),
        ],
    )
    .await;
    let mail = app.smtp.wait_for("other@example.com", 1).await.remove(0);
    assert!(!mail.text().contains("evil.example"), "{}", mail.text());
    assert!(!mail.header("To").unwrap_or_default().contains("evil"));
    // Once the owner confirms their address, their own name is used again.
    let owner = app.signup("Olive Owner", "olive@example.com", PW).await;
    app.post_form(&new_client(), "/forgot-password", &[("email", "olive@example.com")])
        .await;
    let reset = app
        .smtp
        .wait_for("olive@example.com", 2)
        .await
        .into_iter()
        .find(|m| m.subject().starts_with("Reset"))
        .unwrap();
    assert!(reset.text().starts_with("Hello Olive Owner,"), "{}", reset.text());
    drop(owner);
}

async fn account_pages_back_off_like_log_in(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    let browser = app.signup("Lea", "lea@example.com", PW).await;
    // Wrong current passwords on three different forms count together.
    let tries: [(&str, Vec<(&str, &str)>); 5] = [
        (
            "/account/password",
            vec![
                ("current_password", "guess one"),
                ("new_password", "a fresh long passphrase"),
            ],
        ),
        (
            "/account/email",
            vec![("email", "lea2@example.com"), ("password", "guess two")],
        ),
        ("/account/delete", vec![("password", "guess three")]),
        (
            "/account/password",
            vec![
                ("current_password", "guess four"),
                ("new_password", "a fresh long passphrase"),
            ],
        ),
        ("/account/delete", vec![("password", "guess five")]),
    ];
    for (path, fields) in &tries {
        let page = app.post_form(&browser, path, fields).await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{path}");
    }
    // Now even the right password waits, here and at log-in from an unknown browser.
    let waiting = app.post_form(&browser, "/account/delete", &[("password", PW)]).await;
    assert_eq!(waiting.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        waiting
            .text("#f-delete-password-error")
            .contains("Too many wrong passwords")
    );
    assert_eq!(count(&app.db, "SELECT COUNT(*) FROM users").await, 1, "not deleted");
    let login = app
        .post_form(
            &new_client(),
            "/login",
            &[("email", "lea@example.com"), ("password", PW)],
        )
        .await;
    assert_eq!(login.status, StatusCode::UNAUTHORIZED);
    app.state.clock.advance(Duration::seconds(31));
    let changed = app
        .post_form(
            &browser,
            "/account/password",
            &[("current_password", PW), ("new_password", "a fresh long passphrase")],
        )
        .await;
    assert_eq!(changed.header("location"), "/account?notice=password-changed");
}

async fn the_owner_gets_in_from_a_known_browser_while_the_account_backs_off(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    app.signup_unconfirmed("Max", "max@example.com", PW).await;
    // Max's own browser logs in once (and is remembered), then logs out.
    let own = app.login("max@example.com", PW).await;
    app.post_form(&own, "/logout", &[]).await;
    // Someone keeps guessing, from elsewhere.
    for _ in 0..8 {
        app.post_form(
            &new_client(),
            "/login",
            &[("email", "max@example.com"), ("password", "guessing")],
        )
        .await;
    }
    let stranger = app
        .post_form(
            &new_client(),
            "/login",
            &[("email", "max@example.com"), ("password", PW)],
        )
        .await;
    assert_eq!(
        stranger.status,
        StatusCode::UNAUTHORIZED,
        "the right password from an unknown browser waits"
    );
    // Max's browser, with the right password, is let in at once.
    let back = app
        .post_form(&own, "/login", &[("email", "max@example.com"), ("password", PW)])
        .await;
    assert_eq!(back.status, StatusCode::SEE_OTHER);
    assert_eq!(app.get_with(&own, "/account").await.status, StatusCode::OK);
    // A wrong password from Max's browser is still wrong.
    let wrong = app
        .post_form(
            &new_client(),
            "/login",
            &[("email", "max@example.com"), ("password", "nope")],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    // A device cookie that belongs to nobody (made up) opens nothing.
    for _ in 0..6 {
        app.post_form(
            &new_client(),
            "/login",
            &[("email", "max@example.com"), ("password", "guessing")],
        )
        .await;
    }
    let forged = app
        .request(
            new_client()
                .post(app.url("/login"))
                .header("Origin", &app.base)
                .header("Cookie", "learnwell_device=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
                .form(&[("email", "max@example.com"), ("password", PW)]),
        )
        .await;
    assert_eq!(forged.status, StatusCode::UNAUTHORIZED);
    // A reset link also lets the owner in (it clears the backoff).
    app.post_form(&new_client(), "/forgot-password", &[("email", "max@example.com")])
        .await;
    let link = app
        .smtp
        .wait_for("max@example.com", 2)
        .await
        .into_iter()
        .find(|m| m.subject().starts_with("Reset"))
        .unwrap()
        .link("/reset-password?token=");
    let token = link.split("token=").nth(1).unwrap().to_owned();
    let reset = app
        .post_form(
            &new_client(),
            "/reset-password",
            &[("token", &token), ("password", "a completely new passphrase")],
        )
        .await;
    assert_eq!(reset.status, StatusCode::SEE_OTHER);
    app.login("max@example.com", "a completely new passphrase").await;
}

async fn signed_in_devices_and_log_out_everywhere_else(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    app.signup_unconfirmed("Nia", "nia@example.com", PW).await;
    let browser = |agent: &str| {
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(agent)
            .build()
            .unwrap()
    };
    let laptop = browser("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0");
    let phone = browser(
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    );
    for b in [&laptop, &phone] {
        let page = app
            .post_form(b, "/login", &[("email", "nia@example.com"), ("password", PW)])
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER);
    }
    let account = app.get_with(&laptop, "/account").await;
    let rows = account.texts(".devices tbody tr");
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(
        rows.iter()
            .any(|r| r.contains("Firefox on Linux") && r.contains("(this device)")),
        "{rows:?}"
    );
    assert!(
        rows.iter()
            .any(|r| r.contains("Safari on iOS") && !r.contains("(this device)")),
        "{rows:?}"
    );
    assert!(
        rows.iter().all(|r| r.contains("127.0.0.0/24")),
        "only the network, never the address: {rows:?}"
    );
    // Someone else's page shows none of it.
    let other = app.signup("Oz", "oz@example.com", PW).await;
    let theirs = app.get_with(&other, "/account").await;
    assert!(!theirs.body.contains("Firefox on Linux"));

    let done = app.post_form(&laptop, "/account/sessions/end-others", &[]).await;
    assert_eq!(done.header("location"), "/account?notice=others-logged-out");
    assert_eq!(app.get_with(&laptop, "/account").await.status, StatusCode::OK);
    assert_eq!(
        app.get_with(&phone, "/account").await.status,
        StatusCode::SEE_OTHER,
        "the phone is logged out"
    );
    let rows = app.get_with(&laptop, "/account").await.texts(".devices tbody tr");
    assert_eq!(rows.len(), 1, "{rows:?}");
    // Logging out removes the device from the list.
    let phone_again = app.login("nia@example.com", PW).await;
    app.post_form(&phone_again, "/logout", &[]).await;
    assert_eq!(
        app.get_with(&laptop, "/account").await.texts(".devices tbody tr").len(),
        1
    );
    // Anonymous visitors cannot end anyone's sessions.
    let anon = app.post_form(&new_client(), "/account/sessions/end-others", &[]).await;
    assert!(anon.header("location").starts_with("/login"));
}

async fn sessions_end_thirty_days_after_log_in_however_active(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    let pia = app.signup("Pia", "pia@example.com", PW).await;
    // Active every few days for four weeks: still signed in (the 14-day idle expiry rolls on).
    for _ in 0..9 {
        app.state.clock.advance(Duration::days(3));
        assert_eq!(app.get_with(&pia, "/account").await.status, StatusCode::OK);
    }
    // Past thirty days since the log-in: out, however active.
    app.state.clock.advance(Duration::days(4));
    assert_eq!(app.get_with(&pia, "/account").await.status, StatusCode::SEE_OTHER);
    // SESSION_MAX_DAYS shortens it.
    let short = TestApp::spawn_with(&backend, AppOptions::env(&[("SESSION_MAX_DAYS", "1")])).await;
    let quin = short.signup("Quin", "quin@example.com", PW).await;
    short.state.clock.advance(Duration::hours(23));
    assert_eq!(short.get_with(&quin, "/account").await.status, StatusCode::OK);
    short.state.clock.advance(Duration::hours(2));
    assert_eq!(short.get_with(&quin, "/account").await.status, StatusCode::SEE_OTHER);
}

/// Two instances: one logs a session out while the other, holding it in its cache, renews it.
/// The renewal is an update of a row that is gone: the session stays ended.
async fn a_session_ended_elsewhere_is_not_revived_by_a_renewal(backend: Backend) {
    use tower_sessions::session::{Id, Record};
    use tower_sessions::session_store::SessionStore;
    let app = TestApp::spawn(&backend).await;
    let instance_a = learnwell::web::sessions::Store::new(&app.db);
    let instance_b = learnwell::web::sessions::Store::new(&app.db);
    let mut record = Record {
        id: Id::default(),
        data: Default::default(),
        expiry_date: tower_sessions::cookie::time::OffsetDateTime::now_utc()
            + tower_sessions::cookie::time::Duration::days(14),
    };
    instance_a.create(&mut record).await.unwrap();
    assert!(
        instance_b.load(&record.id).await.unwrap().is_some(),
        "B has it cached now"
    );
    instance_a.delete(&record.id).await.unwrap();
    // B renews from its cache...
    record.expiry_date += tower_sessions::cookie::time::Duration::days(1);
    instance_b.save(&record).await.unwrap();
    // ...and the session is still gone, for everyone.
    let fresh = learnwell::web::sessions::Store::new(&app.db);
    assert!(fresh.load(&record.id).await.unwrap().is_none());
    assert!(instance_b.load(&record.id).await.unwrap().is_none());
    // A live session's renewal still saves.
    let mut live = Record {
        id: Id::default(),
        data: Default::default(),
        expiry_date: tower_sessions::cookie::time::OffsetDateTime::now_utc()
            + tower_sessions::cookie::time::Duration::days(14),
    };
    instance_a.create(&mut live).await.unwrap();
    live.expiry_date += tower_sessions::cookie::time::Duration::days(1);
    instance_b.save(&live).await.unwrap();
    let loaded = fresh.load(&live.id).await.unwrap().unwrap();
    assert_eq!(loaded.expiry_date.unix_timestamp(), live.expiry_date.unix_timestamp());
}
