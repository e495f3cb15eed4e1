//! Check-ins (issue 17, part 2): consent first, log/edit/delete, bad input refused whole, privacy
//! (another student's entry, the instructor only when shared, each view audited), patterns with
//! charts and tables, the CSV, export and deletion, and content imports that change a check-in.

use crate::common;

use common::fixture::Fixture;
use common::{AppOptions, Backend, Page, TestApp};
use learnwell::db::Db;
use learnwell::db_run;
use reqwest::StatusCode;
use time::Duration;

const PW: &str = "a calm long passphrase";

both_backends!(
    consent_comes_first_and_withdrawing_deletes_everything,
    log_edit_and_delete_entries,
    bad_values_are_refused_and_nothing_is_written,
    another_students_entry_is_not_found,
    text_is_escaped_everywhere,
    patterns_draw_a_chart_and_a_table_with_the_values,
    counts_and_streaks_can_be_hidden,
    the_csv_holds_the_entries_and_neutralises_formulas,
    the_instructor_sees_a_diary_only_while_it_is_shared_and_each_view_is_audited,
    export_and_account_deletion_include_check_ins,
    an_import_that_changes_a_check_in_keeps_every_value,
    field_kinds_outside_the_format_are_refused,
);

const CHECKINS: &str = r#"
[[checkin]]
id = "daily"
title = "Daily"
introduced_in = "start"
description = "Once a day."

[[checkin.field]]
id = "pain"
kind = "scale"
label = "Pain"
low = "None"
high = "Worst"

[[checkin.field]]
id = "stool"
kind = "bristol"
label = "Stool"
optional = true

[[checkin.field]]
id = "moved"
kind = "choice"
label = "Moved"
options = ["Not at all", "A walk", "A workout"]
optional = true

[[checkin.field]]
id = "slept"
kind = "yes_no"
label = "Slept well"
optional = true

[[checkin.field]]
id = "when"
kind = "time_of_day"
label = "Ate at"
optional = true

[[checkin.field]]
id = "note"
kind = "text"
label = "Note"
optional = true
max_length = 60

[[checkin]]
id = "later"
title = "Later"
introduced_in = "deeper"

[[checkin.field]]
id = "itch"
kind = "scale"
label = "Itch"
low = "None"
high = "Worst"
"#;

fn fixture() -> Fixture {
    let fx = Fixture::new();
    fx.write("alpha/checkins.toml", CHECKINS);
    // The second module opens a week after enrolling: so does its check-in.
    fx.write(
        "alpha/02-deeper/module.toml",
        "title = \"Going deeper\"\nunlock_after_days = 7\n",
    );
    fx
}

async fn app_with(backend: &Backend, fx: &Fixture) -> TestApp {
    TestApp::spawn_with(
        backend,
        AppOptions {
            content_dir: fx.path().to_owned(),
            background: false,
            ..AppOptions::default()
        },
    )
    .await
}

async fn count(db: &Db, sql: &str) -> i64 {
    db_run!(db, pool => sqlx::query_scalar::<_, i64>(sql).fetch_one(pool).await).unwrap()
}

async fn text(db: &Db, sql: &str) -> String {
    db_run!(db, pool => sqlx::query_scalar::<_, String>(sql).fetch_one(pool).await).unwrap()
}

/// The only entry's answers, as JSON.
async fn answers(db: &Db) -> serde_json::Value {
    serde_json::from_str(&text(db, "SELECT answers FROM checkin_entries").await).unwrap()
}

async fn grant(app: &TestApp, maya: &reqwest::Client, email: &str, course: &str) {
    let page = app
        .post_form(maya, "/admin/enrollments", &[("email", email), ("course", course)])
        .await;
    assert_eq!(
        page.header("location"),
        "/admin?notice=granted",
        "{}",
        page.text(".error")
    );
}

fn today(app: &TestApp) -> jiff::civil::Date {
    learnwell::checkins::today(&app.state, &app.state.catalog().tz)
}

fn days_ago(app: &TestApp, n: i64) -> String {
    today(app).checked_sub(jiff::Span::new().days(n)).unwrap().to_string()
}

/// A student with a seat in alpha who consented to check-ins.
async fn student(app: &TestApp, maya: &reqwest::Client, name: &str, email: &str) -> reqwest::Client {
    let client = app.signup(name, email, PW).await;
    grant(app, maya, email, "alpha").await;
    let page = app
        .post_form(&client, "/courses/alpha/checkins/consent", &[("agree", "yes")])
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    client
}

async fn log(app: &TestApp, client: &reqwest::Client, fields: &[(&str, &str)]) -> Page {
    app.post_form(client, "/courses/alpha/checkins/log/daily", fields).await
}

async fn entry_id(db: &Db, email: &str, date: &str) -> i64 {
    let sql = format!(
        "SELECT e.id FROM checkin_entries e JOIN users u ON u.id = e.user_id WHERE u.email = '{email}' AND e.entry_date = '{date}'"
    );
    db_run!(db, pool => sqlx::query_scalar::<_, i64>(&sql).fetch_one(pool).await).unwrap()
}

async fn consent_comes_first_and_withdrawing_deletes_everything(backend: Backend) {
    let fx = fixture();
    let app = app_with(&backend, &fx).await;
    let maya = app.instructor("maya@example.com", PW).await;
    let ada = app.signup("Ada", "ada@example.com", PW).await;
    let eve = app.signup("Eve", "eve@example.com", PW).await;
    grant(&app, &maya, "ada@example.com", "alpha").await;

    // Someone without a seat gets nothing.
    assert_eq!(
        app.get_with(&eve, "/courses/alpha/checkins").await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.post_form(&eve, "/courses/alpha/checkins/consent", &[("agree", "yes")])
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get("/courses/alpha/checkins").await.status,
        StatusCode::SEE_OTHER,
        "anonymous: log in"
    );

    // The consent page says what is stored, who sees it and how to delete it.
    let page = app.get_with(&ada, "/courses/alpha/checkins").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.header("cache-control"), "no-store");
    assert_eq!(page.text("h1"), "Check-ins: before you start");
    let headings = page.texts("h2");
    for h in ["What is stored", "Who sees it", "How to delete it"] {
        assert!(headings.contains(&h.to_string()), "{headings:?}");
    }
    // No entry before consent: the form sends back to the consent page, a post is refused.
    let form = app.get_with(&ada, "/courses/alpha/checkins/log/daily").await;
    assert_eq!(form.header("location"), "/courses/alpha/checkins");
    assert_eq!(log(&app, &ada, &[("pain", "3")]).await.status, StatusCode::FORBIDDEN);
    assert_eq!(count(&app.db, "SELECT COUNT(*) FROM checkin_entries").await, 0);

    // The box must be ticked.
    let refused = app.post_form(&ada, "/courses/alpha/checkins/consent", &[]).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.text(".error").contains("Tick the box"), "{}", refused.body);
    assert_eq!(count(&app.db, "SELECT COUNT(*) FROM checkin_consents").await, 0);
    let ok = app
        .post_form(&ada, "/courses/alpha/checkins/consent", &[("agree", "yes")])
        .await;
    assert_eq!(ok.header("location"), "/courses/alpha/checkins?notice=started");
    assert_eq!(count(&app.db, "SELECT COUNT(*) FROM checkin_consents").await, 1);

    // The check-in of the drip module opens with it.
    let home = app.get_with(&ada, "/courses/alpha/checkins").await;
    assert_eq!(home.text("h1"), "Your check-ins");
    assert!(
        home.text(".upcoming-checkins").contains("Going deeper"),
        "{}",
        home.body
    );
    assert_eq!(
        app.get_with(&ada, "/courses/alpha/checkins/log/later").await.status,
        StatusCode::FORBIDDEN
    );
    app.state.clock.advance(Duration::days(8));
    assert_eq!(
        app.get_with(&ada, "/courses/alpha/checkins/log/later").await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.get_with(&ada, "/courses/alpha/checkins/log/nonesuch").await.status,
        StatusCode::NOT_FOUND
    );

    assert_eq!(log(&app, &ada, &[("pain", "3")]).await.status, StatusCode::SEE_OTHER);
    let yesterday = days_ago(&app, 1);
    assert_eq!(
        log(&app, &ada, &[("pain", "4"), ("date", &yesterday)]).await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(count(&app.db, "SELECT COUNT(*) FROM checkin_entries").await, 2);

    // Withdrawing: a confirmation page, then one click deletes every entry and the consent.
    let confirm = app.get_with(&ada, "/courses/alpha/checkins/withdraw").await;
    assert!(
        confirm.text("main").contains("all 2 of your check-in entries"),
        "{}",
        confirm.body
    );
    assert_eq!(
        count(&app.db, "SELECT COUNT(*) FROM checkin_entries").await,
        2,
        "a page deletes nothing"
    );
    let gone = app.post_form(&ada, "/courses/alpha/checkins/withdraw", &[]).await;
    assert_eq!(gone.header("location"), "/courses/alpha/checkins?notice=withdrawn");
    assert_eq!(count(&app.db, "SELECT COUNT(*) FROM checkin_entries").await, 0);
    assert_eq!(count(&app.db, "SELECT COUNT(*) FROM checkin_consents").await, 0);
    let again = app.get_with(&ada, "/courses/alpha/checkins").await;
    assert_eq!(again.text("h1"), "Check-ins: before you start");
    assert_eq!(log(&app, &ada, &[("pain", "3")]).await.status, StatusCode::FORBIDDEN);
}

async fn log_edit_and_delete_entries(backend: Backend) {
    let fx = fixture();
    let app = app_with(&backend, &fx).await;
    let maya = app.instructor("maya@example.com", PW).await;
    let ada = student(&app, &maya, "Ada", "ada@example.com").await;

    // The form: a date defaulting to today, radio buttons for the scale, Bristol and choices.
    let form = app.get_with(&ada, "/courses/alpha/checkins/log/daily").await;
    assert_eq!(form.status, StatusCode::OK);
    assert_eq!(form.attr("#f-date", "value"), today(&app).to_string());
    let html = form.html();
    let radios = |name: &str| {
        html.select(&scraper::Selector::parse(&format!("input[type=radio][name={name}]")).unwrap())
            .count()
    };
    assert_eq!(radios("pain"), 11);
    assert_eq!(radios("stool"), 8, "seven types and no answer");
    assert_eq!(radios("moved"), 4);
    assert_eq!(radios("slept"), 3);
    assert!(form.text("#q-pain .anchors").contains("0 = None"));

    let saved = log(
        &app,
        &ada,
        &[
            ("pain", "3"),
            ("stool", "4"),
            ("moved", "A walk"),
            ("slept", "yes"),
            ("when", "12:30"),
            ("note", ""),
        ],
    )
    .await;
    assert_eq!(saved.header("location"), "/courses/alpha/checkins?notice=saved");
    assert_eq!(
        answers(&app.db).await,
        serde_json::json!({"pain": 3, "stool": 4, "moved": "A walk", "slept": true, "when": "12:30"})
    );
    assert_eq!(count(&app.db, "SELECT field_version FROM checkin_entries").await, 1);

    // The same day again edits that day's entry; the form shows it.
    let form = app.get_with(&ada, "/courses/alpha/checkins/log/daily").await;
    assert_eq!(form.attr("input[name=pain][checked]", "value"), "3");
    assert_eq!(log(&app, &ada, &[("pain", "5")]).await.status, StatusCode::SEE_OTHER);
    assert_eq!(count(&app.db, "SELECT COUNT(*) FROM checkin_entries").await, 1);
    let answers = text(&app.db, "SELECT answers FROM checkin_entries").await;
    assert_eq!(answers, r#"{"pain":5}"#);
    let home = app.get_with(&ada, "/courses/alpha/checkins").await;
    assert!(home.text("#checkin-daily .log-today").starts_with("Edit today's entry"));

    // Another day, then edit by id (moving onto a day that has an entry is refused).
    let yesterday = days_ago(&app, 1);
    assert_eq!(
        log(&app, &ada, &[("pain", "2"), ("date", &yesterday)]).await.status,
        StatusCode::SEE_OTHER
    );
    let id = entry_id(&app.db, "ada@example.com", &yesterday).await;
    let edit = app
        .get_with(&ada, &format!("/courses/alpha/checkins/entries/{id}"))
        .await;
    assert_eq!(edit.attr("input[name=pain][checked]", "value"), "2");
    assert_eq!(edit.attr("#f-date", "value"), yesterday);
    let page = app
        .post_form(
            &ada,
            &format!("/courses/alpha/checkins/entries/{id}"),
            &[("pain", "7"), ("date", &yesterday)],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(
        text(&app.db, &format!("SELECT answers FROM checkin_entries WHERE id = {id}")).await,
        r#"{"pain":7}"#
    );
    let clash = app
        .post_form(
            &ada,
            &format!("/courses/alpha/checkins/entries/{id}"),
            &[("pain", "1"), ("date", &today(&app).to_string())],
        )
        .await;
    assert_eq!(clash.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        clash.text(".form-errors").contains("already have a Daily entry"),
        "{}",
        clash.body
    );
    assert_eq!(
        text(&app.db, &format!("SELECT answers FROM checkin_entries WHERE id = {id}")).await,
        r#"{"pain":7}"#
    );

    // The home page lists both, newest first, with edit and delete.
    let home = app.get_with(&ada, "/courses/alpha/checkins").await;
    let dates = home.texts("#entries-daily tbody th");
    assert_eq!(dates, vec![today(&app).to_string(), yesterday.clone()]);

    let del = app
        .post_form(&ada, &format!("/courses/alpha/checkins/entries/{id}/delete"), &[])
        .await;
    assert_eq!(del.header("location"), "/courses/alpha/checkins?notice=deleted");
    assert_eq!(count(&app.db, "SELECT COUNT(*) FROM checkin_entries").await, 1);
    let again = app
        .post_form(&ada, &format!("/courses/alpha/checkins/entries/{id}/delete"), &[])
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
}

async fn bad_values_are_refused_and_nothing_is_written(backend: Backend) {
    let fx = fixture();
    let app = app_with(&backend, &fx).await;
    let maya = app.instructor("maya@example.com", PW).await;
    let ada = student(&app, &maya, "Ada", "ada@example.com").await;
    let tomorrow = today(&app).tomorrow().unwrap().to_string();
    let long = "x".repeat(61);
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (vec![("pain", "11")], "whole number from 0 to 10"),
        (vec![("pain", "-1")], "whole number from 0 to 10"),
        (vec![("pain", "three")], "whole number from 0 to 10"),
        (vec![("pain", "2.5")], "whole number from 0 to 10"),
        (vec![("pain", "3"), ("stool", "8")], "whole number from 1 to 7"),
        (vec![("pain", "3"), ("moved", "A marathon")], "one of the options"),
        (vec![("pain", "3"), ("slept", "maybe")], "yes or no"),
        (vec![("pain", "3"), ("when", "25:00")], "like 13:30"),
        (vec![("pain", "3"), ("note", &long)], "longer than 60"),
        (vec![("pain", "3"), ("weight", "80")], "'weight' is not a field"),
        (vec![("pain", "3"), ("calories", "2000")], "'calories' is not a field"),
        (vec![("pain", "3"), ("date", &tomorrow)], "in the future"),
        (vec![("pain", "3"), ("date", "31/12/2026")], "must look like"),
        (vec![("note", "only a note")], "Please answer “Pain”"),
        (vec![("pain", "3"), ("pain", "4")], "sent twice"),
    ];
    for (fields, message) in cases {
        let page = log(&app, &ada, &fields).await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{fields:?}");
        assert!(page.text("main").contains(message), "{fields:?}: {}", page.text("main"));
        assert!(page.text(".form-errors").contains("Nothing was saved"), "{fields:?}");
        assert_eq!(
            count(&app.db, "SELECT COUNT(*) FROM checkin_entries").await,
            0,
            "{fields:?}"
        );
    }
    // What was typed comes back, marked.
    let page = log(&app, &ada, &[("pain", "3"), ("when", "25:00")]).await;
    assert_eq!(page.attr("input[name=pain][checked]", "value"), "3");
    assert_eq!(page.attr("#q-when", "aria-invalid"), "true");
    // An entry's editing refuses the same way, and keeps what was stored.
    assert_eq!(log(&app, &ada, &[("pain", "3")]).await.status, StatusCode::SEE_OTHER);
    let id = entry_id(&app.db, "ada@example.com", &today(&app).to_string()).await;
    let page = app
        .post_form(
            &ada,
            &format!("/courses/alpha/checkins/entries/{id}"),
            &[("pain", "99")],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        text(&app.db, "SELECT answers FROM checkin_entries").await,
        r#"{"pain":3}"#
    );
    // A window that is not offered.
    assert_eq!(
        app.get_with(&ada, "/courses/alpha/checkins/patterns?days=5")
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
}

async fn another_students_entry_is_not_found(backend: Backend) {
    let fx = fixture();
    let app = app_with(&backend, &fx).await;
    let maya = app.instructor("maya@example.com", PW).await;
    let ada = student(&app, &maya, "Ada", "ada@example.com").await;
    let bob = student(&app, &maya, "Bob", "bob@example.com").await;
    assert_eq!(
        log(&app, &ada, &[("pain", "3"), ("note", "Ada's secret")]).await.status,
        StatusCode::SEE_OTHER
    );
    let id = entry_id(&app.db, "ada@example.com", &today(&app).to_string()).await;
    let path = format!("/courses/alpha/checkins/entries/{id}");
    let page = app.get_with(&bob, &path).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(!page.body.contains("Ada's secret"));
    assert_eq!(
        app.post_form(&bob, &path, &[("pain", "9")]).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.post_form(&bob, &format!("{path}/delete"), &[]).await.status,
        StatusCode::NOT_FOUND
    );
    for junk in ["abc", "-1", "99999999999999999999"] {
        assert_eq!(
            app.get_with(&ada, &format!("/courses/alpha/checkins/entries/{junk}"))
                .await
                .status,
            StatusCode::NOT_FOUND
        );
    }
    // Bob's own pages show none of it.
    for p in [
        "/courses/alpha/checkins",
        "/courses/alpha/checkins/patterns",
        "/courses/alpha/checkins/entries.csv",
    ] {
        assert!(!app.get_with(&bob, p).await.body.contains("Ada's secret"), "{p}");
    }
    assert_eq!(
        answers(&app.db).await,
        serde_json::json!({"pain": 3, "note": "Ada's secret"})
    );
}

async fn text_is_escaped_everywhere(backend: Backend) {
    let fx = fixture();
    let app = app_with(&backend, &fx).await;
    let maya = app.instructor("maya@example.com", PW).await;
    let ada = student(&app, &maya, "Ada", "ada@example.com").await;
    let evil = r#"<script>alert(1)</script><img src=x onerror=alert(2)>"#;
    assert_eq!(
        log(&app, &ada, &[("pain", "3"), ("note", evil)]).await.status,
        StatusCode::SEE_OTHER
    );
    app.post_form(&ada, "/courses/alpha/checkins/settings", &[("sharing", "on")])
        .await;
    let uid = count(&app.db, "SELECT id FROM users WHERE email = 'ada@example.com'").await;
    let id = entry_id(&app.db, "ada@example.com", &today(&app).to_string()).await;
    for (client, path) in [
        (&ada, "/courses/alpha/checkins".to_string()),
        (&ada, "/courses/alpha/checkins/patterns?days=7".to_string()),
        (&ada, format!("/courses/alpha/checkins/entries/{id}")),
        (&maya, format!("/admin/courses/alpha/checkins?student={uid}")),
    ] {
        let page = app.get_with(client, &path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert!(!page.body.contains("<script>alert"), "{path}");
        assert!(!page.body.contains("<img src=x"), "{path}");
        assert!(
            page.body.contains("&lt;script&gt;") || page.body.contains("&lt;script>"),
            "{path}"
        );
    }
    // The typed text comes back whole in the form.
    let form = app
        .get_with(&ada, &format!("/courses/alpha/checkins/entries/{id}"))
        .await;
    assert_eq!(
        form.attr("#q-note", "value"),
        "<script>alert(1)</script><img src=x onerror=alert(2)>"
    );
}

async fn patterns_draw_a_chart_and_a_table_with_the_values(backend: Backend) {
    let fx = fixture();
    let app = app_with(&backend, &fx).await;
    let maya = app.instructor("maya@example.com", PW).await;
    let ada = student(&app, &maya, "Ada", "ada@example.com").await;
    let (d3, d2, d0) = (days_ago(&app, 3), days_ago(&app, 2), today(&app).to_string());
    log(&app, &ada, &[("pain", "2"), ("stool", "3"), ("date", &d3)]).await;
    log(&app, &ada, &[("pain", "6"), ("note", "ate garlic"), ("date", &d2)]).await;
    log(&app, &ada, &[("pain", "4"), ("date", &d0)]).await;
    // Outside the 7-day window.
    log(&app, &ada, &[("pain", "9"), ("date", &days_ago(&app, 20))]).await;

    let page = app.get_with(&ada, "/courses/alpha/checkins/patterns?days=7").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.visible_text().contains("Patterns, not proof."),
        "{}",
        page.visible_text()
    );
    assert_eq!(page.text("[aria-current=page]"), "Last 7 days");
    // The pain chart: an accessible SVG, one dot per day with a value, a line only across
    // consecutive days, and the marker of the day a change was noted.
    let html = page.html();
    let sel = |s: &str| scraper::Selector::parse(s).unwrap();
    let svg = html
        .select(&sel("#chart-daily-pain-block svg.chart"))
        .next()
        .expect("pain chart");
    assert_eq!(svg.value().attr("role"), Some("img"));
    assert_eq!(
        svg.value().attr("aria-labelledby"),
        Some("chart-daily-pain-title chart-daily-pain-desc")
    );
    assert_eq!(
        html.select(&sel("#chart-daily-pain-title"))
            .next()
            .unwrap()
            .text()
            .collect::<String>(),
        "Pain: last 7 days"
    );
    let points: Vec<(String, String)> = svg
        .select(&sel("circle.point"))
        .map(|c| {
            (
                c.value().attr("data-date").unwrap().to_owned(),
                c.value().attr("data-value").unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        points,
        vec![
            (d3.clone(), "2".to_owned()),
            (d2.clone(), "6".to_owned()),
            (d0.clone(), "4".to_owned())
        ]
    );
    assert_eq!(
        svg.select(&sel("polyline")).count(),
        1,
        "days 3 and 2 join; today stands alone"
    );
    let marker: String = svg
        .select(&sel("g.marker title"))
        .map(|t| t.text().collect::<String>())
        .collect();
    assert!(marker.contains("Note: ate garlic"), "{marker}");
    // The table beside it says the same.
    let rows: Vec<Vec<String>> = html
        .select(&sel("#chart-daily-pain-block table tbody tr"))
        .map(|r| r.select(&sel("th, td")).map(|c| c.text().collect::<String>()).collect())
        .collect();
    assert_eq!(
        rows,
        vec![
            vec![d3.clone(), "2".into(), "".into()],
            vec![d2.clone(), "6".into(), "Note: ate garlic".into()],
            vec![d0.clone(), "4".into(), "".into()],
        ]
    );
    // Bristol gets its chart; text and choices do not.
    assert!(page.body.contains("chart-daily-stool-block"));
    assert!(!page.body.contains("chart-daily-note"));
    // The 30-day window includes the older value.
    let page = app.get_with(&ada, "/courses/alpha/checkins/patterns?days=30").await;
    assert_eq!(
        page.html().select(&sel("#chart-daily-pain-block circle.point")).count(),
        4
    );
}

async fn counts_and_streaks_can_be_hidden(backend: Backend) {
    let fx = fixture();
    let app = app_with(&backend, &fx).await;
    let maya = app.instructor("maya@example.com", PW).await;
    let ada = student(&app, &maya, "Ada", "ada@example.com").await;
    for n in [0, 1, 2, 5] {
        log(&app, &ada, &[("pain", "3"), ("date", &days_ago(&app, n))]).await;
    }
    let home = app.get_with(&ada, "/courses/alpha/checkins").await;
    assert_eq!(
        home.text(".checkin-counts"),
        "Days logged in the last 30 days: 4. Days in a row: 3."
    );
    let page = app
        .post_form(&ada, "/courses/alpha/checkins/settings", &[("hide_counts", "on")])
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let home = app.get_with(&ada, "/courses/alpha/checkins").await;
    assert!(home.texts(".checkin-counts").is_empty(), "{}", home.body);
    assert!(!home.visible_text().contains("Days in a row"));
    app.post_form(&ada, "/courses/alpha/checkins/settings", &[("hide_counts", "off")])
        .await;
    let home = app.get_with(&ada, "/courses/alpha/checkins").await;
    assert!(home.text(".checkin-counts").contains("Days in a row: 3"));
    assert_eq!(
        app.post_form(&ada, "/courses/alpha/checkins/settings", &[("hide_counts", "maybe")])
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
}

async fn the_csv_holds_the_entries_and_neutralises_formulas(backend: Backend) {
    let fx = fixture();
    let app = app_with(&backend, &fx).await;
    let maya = app.instructor("maya@example.com", PW).await;
    let ada = student(&app, &maya, "Ada", "ada@example.com").await;
    let yesterday = days_ago(&app, 1);
    log(
        &app,
        &ada,
        &[("pain", "3"), ("slept", "no"), ("stool", "4"), ("date", &yesterday)],
    )
    .await;
    log(&app, &ada, &[("pain", "5"), ("note", "=HYPERLINK(\"http://x\",\"y\")")]).await;
    let res = ada
        .get(app.url("/courses/alpha/checkins/entries.csv"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment; filename=\"checkins-alpha-")
    );
    assert_eq!(res.headers()["cache-control"], "no-store");
    let body = res.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(body.trim_start_matches('\u{feff}').as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_owned).collect();
    assert_eq!(
        header[..8].to_vec(),
        vec![
            "Date",
            "Check-in",
            "Daily: Pain",
            "Daily: Stool",
            "Daily: Moved",
            "Daily: Slept well",
            "Daily: Ate at",
            "Daily: Note"
        ]
    );
    let rows: Vec<Vec<String>> = reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(
        rows[0][..8].to_vec(),
        vec![yesterday.as_str(), "Daily", "3", "Type 4", "", "No", "", ""]
    );
    assert_eq!(rows[1][2], "5");
    assert_eq!(
        rows[1][7], "'=HYPERLINK(\"http://x\",\"y\")",
        "a formula is neutralised"
    );
}

async fn the_instructor_sees_a_diary_only_while_it_is_shared_and_each_view_is_audited(backend: Backend) {
    let fx = fixture();
    let app = app_with(&backend, &fx).await;
    let maya = app.instructor("maya@example.com", PW).await;
    let ada = student(&app, &maya, "Ada", "ada@example.com").await;
    let bob = student(&app, &maya, "Bob", "bob@example.com").await;
    log(&app, &ada, &[("pain", "6"), ("note", "Ada's note")]).await;
    let uid = count(&app.db, "SELECT id FROM users WHERE email = 'ada@example.com'").await;
    let view = format!("/admin/courses/alpha/checkins?student={uid}");
    let audits = "SELECT COUNT(*) FROM audit_log WHERE action = 'checkins.view'";

    // Not shared: the list is empty and the diary is not found.
    let list = app.get_with(&maya, "/admin/courses/alpha/checkins").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(!list.body.contains("Ada"), "{}", list.body);
    let page = app.get_with(&maya, &view).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(!page.body.contains("Ada's note"));
    assert_eq!(count(&app.db, audits).await, 0);
    // Students never reach the studio, even for a shared diary.
    assert_eq!(app.get_with(&bob, &view).await.status, StatusCode::FORBIDDEN);

    // Shared: listed, readable (read-only), each view audited.
    let on = app
        .post_form(&ada, "/courses/alpha/checkins/settings", &[("sharing", "on")])
        .await;
    assert_eq!(
        on.header("location"),
        "/courses/alpha/checkins?notice=sharing-on#settings"
    );
    let home = app.get_with(&ada, "/courses/alpha/checkins").await;
    assert!(home.text(".sharing-state").contains("Sharing is on"));
    let list = app.get_with(&maya, "/admin/courses/alpha/checkins").await;
    assert_eq!(list.texts(".sharers tbody a"), vec!["Ada".to_string()]);
    let page = app.get_with(&maya, &view).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.text("h1"), "Check-ins of Ada");
    assert!(
        page.body.contains("Ada&#x27;s note")
            || page.body.contains("Ada&#39;s note")
            || page.body.contains("Ada's note")
    );
    assert!(page.body.contains("chart-daily-pain-block"));
    assert!(!page.body.contains("/delete"), "read-only");
    assert_eq!(count(&app.db, audits).await, 1);
    app.get_with(&maya, &format!("{view}&days=90")).await;
    assert_eq!(count(&app.db, audits).await, 2);
    let (actor, subject): (String, String) = db_run!(&app.db, pool => sqlx::query_as(
        "SELECT actor, subject FROM audit_log WHERE action = 'checkins.view' ORDER BY id LIMIT 1").fetch_one(pool).await).unwrap();
    assert_eq!(actor, "maya@example.com");
    assert_eq!(subject, format!("check-ins of student {uid} in alpha"));
    // Bob does not share: still not found.
    let bob_id = count(&app.db, "SELECT id FROM users WHERE email = 'bob@example.com'").await;
    assert_eq!(
        app.get_with(&maya, &format!("/admin/courses/alpha/checkins?student={bob_id}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    // Revoked: gone again, and nothing more is audited.
    app.post_form(&ada, "/courses/alpha/checkins/settings", &[("sharing", "off")])
        .await;
    assert_eq!(app.get_with(&maya, &view).await.status, StatusCode::NOT_FOUND);
    assert!(
        !app.get_with(&maya, "/admin/courses/alpha/checkins")
            .await
            .body
            .contains("Ada")
    );
    assert_eq!(count(&app.db, audits).await, 2);
    drop(bob);
}

async fn export_and_account_deletion_include_check_ins(backend: Backend) {
    let fx = fixture();
    let app = app_with(&backend, &fx).await;
    let maya = app.instructor("maya@example.com", PW).await;
    let ada = student(&app, &maya, "Ada", "ada@example.com").await;
    let bob = student(&app, &maya, "Bob", "bob@example.com").await;
    log(&app, &ada, &[("pain", "3"), ("note", "hello")]).await;
    log(&app, &ada, &[("pain", "4"), ("date", &days_ago(&app, 1))]).await;
    log(&app, &bob, &[("pain", "1")]).await;
    app.post_form(&ada, "/courses/alpha/checkins/settings", &[("sharing", "on")])
        .await;

    let res = ada.get(app.url("/account/data")).send().await.unwrap();
    let data: serde_json::Value = res.json().await.unwrap();
    let checkins = data["checkins"].as_array().expect("checkins in the export");
    assert_eq!(checkins.len(), 1);
    assert_eq!(checkins[0]["program"], "alpha");
    assert_eq!(checkins[0]["consent"]["sharing_with_instructor"], true);
    assert_eq!(checkins[0]["consent"]["hide_counts_and_streaks"], false);
    let entries = checkins[0]["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[1]["answers"], serde_json::json!({"pain": 3, "note": "hello"}));
    assert_eq!(entries[1]["checkin"], "daily");
    assert_eq!(entries[1]["definition_version"], 1);

    let gone = app.post_form(&ada, "/account/delete", &[("password", PW)]).await;
    assert_eq!(gone.text("h1"), "Your account is deleted", "{}", gone.body);
    assert_eq!(
        count(&app.db, "SELECT COUNT(*) FROM checkin_entries").await,
        1,
        "only Bob's is left"
    );
    assert_eq!(count(&app.db, "SELECT COUNT(*) FROM checkin_consents").await, 1);
    assert_eq!(
        count(
            &app.db,
            "SELECT COUNT(*) FROM checkin_entries e JOIN users u ON u.id = e.user_id WHERE u.email = 'bob@example.com'"
        )
        .await,
        1
    );
}

async fn an_import_that_changes_a_check_in_keeps_every_value(backend: Backend) {
    let fx = fixture();
    let app = app_with(&backend, &fx).await;
    let maya = app.instructor("maya@example.com", PW).await;
    let ada = student(&app, &maya, "Ada", "ada@example.com").await;
    log(&app, &ada, &[("pain", "3"), ("note", "kept note"), ("moved", "A walk")]).await;
    // Importing again changes nothing.
    let report = app.import(fx.path()).await.unwrap();
    assert!(report.is_noop(), "{report}");

    // The note field is removed, a new field added, "moved" renamed in its label.
    let changed = CHECKINS
        .replace(
            "[[checkin.field]]\nid = \"note\"\nkind = \"text\"\nlabel = \"Note\"\noptional = true\nmax_length = 60\n",
            "[[checkin.field]]\nid = \"energy\"\nkind = \"scale\"\nlabel = \"Energy\"\nlow = \"Exhausted\"\nhigh = \"Full\"\noptional = true\n",
        )
        .replace("label = \"Moved\"", "label = \"Movement\"");
    assert_ne!(changed, CHECKINS);
    fx.write("alpha/checkins.toml", &changed);
    let report = app.import(fx.path()).await.unwrap();
    assert_eq!(report.changed, vec!["check-in alpha/daily".to_string()], "{report}");
    assert_eq!(
        count(&app.db, "SELECT version FROM checkin_definitions WHERE slug = 'daily'").await,
        2
    );
    // The entry is untouched.
    assert_eq!(
        answers(&app.db).await,
        serde_json::json!({"pain": 3, "note": "kept note", "moved": "A walk"})
    );
    assert_eq!(count(&app.db, "SELECT field_version FROM checkin_entries").await, 1);
    // The table shows the removed field as archived, with its value.
    let home = app.get_with(&ada, "/courses/alpha/checkins").await;
    let headers = home.texts("#entries-daily thead th");
    assert!(headers.contains(&"Note (archived field)".to_string()), "{headers:?}");
    assert!(headers.contains(&"Movement".to_string()), "{headers:?}");
    assert!(home.texts("#entries-daily tbody td").contains(&"kept note".to_string()));
    // So does the CSV.
    let csv = ada
        .get(app.url("/courses/alpha/checkins/entries.csv"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(csv.contains("Daily: Note (archived field)"), "{csv}");
    assert!(csv.contains("kept note"), "{csv}");
    // Editing the entry keeps the archived value and records the new version.
    let id = entry_id(&app.db, "ada@example.com", &today(&app).to_string()).await;
    let form = app
        .get_with(&ada, &format!("/courses/alpha/checkins/entries/{id}"))
        .await;
    assert!(form.text(".kept-values").contains("Note: kept note"), "{}", form.body);
    app.post_form(
        &ada,
        &format!("/courses/alpha/checkins/entries/{id}"),
        &[("pain", "4"), ("energy", "6")],
    )
    .await;
    assert_eq!(
        answers(&app.db).await,
        serde_json::json!({"pain": 4, "energy": 6, "note": "kept note"})
    );
    assert_eq!(count(&app.db, "SELECT field_version FROM checkin_entries").await, 2);

    // The whole check-in removed from the files: archived, its entries kept and still listed.
    fx.write("alpha/checkins.toml", "[[checkin]]\nid = \"later\"\ntitle = \"Later\"\nintroduced_in = \"deeper\"\n[[checkin.field]]\nid = \"itch\"\nkind = \"scale\"\nlabel = \"Itch\"\nlow = \"None\"\nhigh = \"Worst\"\n");
    let report = app.import(fx.path()).await.unwrap();
    assert_eq!(report.archived, vec!["check-in alpha/daily".to_string()], "{report}");
    assert_eq!(count(&app.db, "SELECT COUNT(*) FROM checkin_entries").await, 1);
    let home = app.get_with(&ada, "/courses/alpha/checkins").await;
    assert!(home.text("#entries-daily caption").contains("no longer offered"));
    assert_eq!(
        app.get_with(&ada, "/courses/alpha/checkins/log/daily").await.status,
        StatusCode::NOT_FOUND
    );
    // And it comes back with its file, entries still attached.
    fx.write("alpha/checkins.toml", &changed);
    let report = app.import(fx.path()).await.unwrap();
    assert!(report.changed.contains(&"check-in alpha/daily".to_string()), "{report}");
    assert!(report.archived.is_empty(), "{report}");
    assert_eq!(count(&app.db, "SELECT COUNT(*) FROM checkin_entries").await, 1);
    assert_eq!(count(&app.db, "SELECT COUNT(*) FROM checkin_definitions").await, 2);
}

async fn field_kinds_outside_the_format_are_refused(backend: Backend) {
    let fx = fixture();
    let app = app_with(&backend, &fx).await;
    let before = text(&app.db, "SELECT fields FROM checkin_definitions WHERE slug = 'daily'").await;
    for kind in ["calories", "weight", "number"] {
        fx.write(
            "alpha/checkins.toml",
            &CHECKINS.replace("kind = \"bristol\"", &format!("kind = \"{kind}\"")),
        );
        let err = app.import(fx.path()).await.unwrap_err().to_string();
        assert!(err.contains("checkins.toml"), "{err}");
        assert!(err.contains(&format!("kind '{kind}'")), "{err}");
        assert!(err.contains("no kind for calories or body weight"), "{err}");
    }
    // Other mistakes are named too.
    for (broken, says) in [
        (
            CHECKINS.replace("introduced_in = \"start\"", "introduced_in = \"nowhere\""),
            "not a module",
        ),
        (
            CHECKINS.replace(
                "low = \"None\"\nhigh = \"Worst\"\n\n[[checkin.field]]\nid = \"stool\"",
                "high = \"Worst\"\n\n[[checkin.field]]\nid = \"stool\"",
            ),
            "low anchor",
        ),
        (CHECKINS.replace("id = \"stool\"", "id = \"pain\""), "declared twice"),
        (
            CHECKINS.replace(
                "options = [\"Not at all\", \"A walk\", \"A workout\"]",
                "options = [\"Only\"]",
            ),
            "2 to 12 options",
        ),
    ] {
        fx.write("alpha/checkins.toml", &broken);
        let err = app.import(fx.path()).await.unwrap_err().to_string();
        assert!(err.contains(says), "{says}: {err}");
    }
    assert_eq!(
        text(&app.db, "SELECT fields FROM checkin_definitions WHERE slug = 'daily'").await,
        before,
        "nothing changed"
    );
}
