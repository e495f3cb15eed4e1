//! A program's glossary and worksheets: their pages, who may open them (the lesson rules, without
//! drip), their CSVs, the links to them from lessons, and how they print.

use crate::common;

use common::fixture::Fixture;
use common::{AppOptions, Backend, TestApp, new_client};
use reqwest::StatusCode;

const PW: &str = "a calm long passphrase";

both_backends!(
    the_glossary_and_worksheets_are_linked_from_the_program_and_its_lessons,
    a_worksheet_prints_as_a_sheet,
    worksheets_open_to_students_instructors_and_when_public_to_all,
    a_worksheet_csv_follows_its_sheet,
);

/// The fixture with pages; alpha is open for enrollment, and its second module drips (30 days).
fn fixture() -> Fixture {
    let fx = Fixture::with_pages();
    fx.write(
        "alpha/course.toml",
        "title = \"Alpha Program\"\npromise = \"Learn the alpha way.\"\nprice_cents = 15000\nposition = 1\nstatus = \"open\"\n",
    );
    fx.write(
        "alpha/02-deeper/module.toml",
        "title = \"Going deeper\"\nunlock_after_days = 30\n",
    );
    fx.write(
        "alpha/02-deeper/01-detail.md",
        &common::fixture::lesson(
            "Detail",
            false,
            "See [the basics](../01-start/02-basics.md) again, and fill in [the diary](../worksheets/diary.md).",
        ),
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
    app.acknowledged(email, course).await;
}

async fn the_glossary_and_worksheets_are_linked_from_the_program_and_its_lessons(backend: Backend) {
    let fx = fixture();
    let app = app_with(&backend, &fx).await;

    // The program page points at both.
    let program = app.get("/courses/alpha").await;
    let links = program.links();
    assert!(links.contains(&"/courses/alpha/glossary".to_owned()), "{links:?}");
    assert!(links.contains(&"/courses/alpha/worksheets".to_owned()), "{links:?}");
    // A program without them does not.
    let beta = app.get("/courses/beta").await;
    assert!(
        !beta
            .links()
            .iter()
            .any(|l| l.contains("/glossary") || l.contains("/worksheets"))
    );
    assert_eq!(app.get("/courses/beta/glossary").await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get("/courses/beta/worksheets").await.status, StatusCode::NOT_FOUND);

    // The glossary: public, each term with its anchor, its links resolved.
    let glossary = app.get("/courses/alpha/glossary").await;
    assert_eq!(glossary.status, StatusCode::OK);
    assert_eq!(glossary.text("h1"), "Glossary");
    assert_eq!(glossary.texts(".glossary h2[id]"), vec!["Alpha wave", "Fibre"]);
    assert_eq!(glossary.attr(".glossary h2:nth-of-type(2)", "id"), "fibre");
    let links = glossary.links();
    assert!(links.contains(&"/courses/alpha/lessons/basics".to_owned()), "{links:?}");
    assert!(
        links.contains(&"/courses/alpha/worksheets/diary".to_owned()),
        "{links:?}"
    );
    assert!(links.contains(&"/courses/alpha/worksheets".to_owned()), "{links:?}");

    // The list: every sheet with its summary; a CSV link where there is one; which are free.
    let list = app.get("/courses/alpha/worksheets").await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.texts(".worksheet-item h2 a"), vec!["Meal diary", "Red flags"]);
    assert!(
        list.text(".worksheet-list")
            .contains("What you ate, and how your gut felt.")
    );
    assert_eq!(
        list.attr(".worksheet-item a[download]", "href"),
        "/courses/alpha/worksheets/diary/csv"
    );
    assert_eq!(list.texts(".worksheet-item a[download]"), vec!["Spreadsheet (CSV)"]);
    assert_eq!(list.texts(".worksheet-item .badge"), vec!["Free"]);
    assert!(list.links().contains(&"/courses/alpha/glossary".to_owned()));

    // A lesson's page: the glossary and the worksheets beside the syllabus; in its downloads,
    // the sheets it links to (a public one linked for everyone).
    let welcome = app.get("/courses/alpha/lessons/welcome").await;
    assert_eq!(welcome.status, StatusCode::OK);
    let nav: Vec<String> = welcome.texts(".lesson-nav-tools a");
    assert_eq!(nav, vec!["Glossary", "Worksheets"]);
    assert_eq!(welcome.texts(".downloads .worksheet-link a"), vec!["Red flags"]);
    assert_eq!(
        welcome.attr(".downloads .worksheet-link a", "href"),
        "/courses/alpha/worksheets/red-flags"
    );
    assert_eq!(
        welcome.attr(".lesson-body a", "href"),
        "/courses/alpha/worksheets/red-flags"
    );
    // A student's lesson: a sheet for students is linked for them, named (not linked) for others.
    let maya = app.instructor("maya@example.com", PW).await;
    let ada = app.signup("Ada", "ada@example.com", PW).await;
    grant(&app, &maya, "ada@example.com", "alpha").await;
    let basics = app.get_with(&ada, "/courses/alpha/lessons/basics").await;
    assert_eq!(basics.status, StatusCode::OK);
    assert_eq!(basics.texts(".downloads .worksheet-link a"), vec!["Meal diary"]);
    let body_links: Vec<String> = basics
        .html()
        .select(&scraper::Selector::parse(".lesson-body a").unwrap())
        .filter_map(|a| a.value().attr("href").map(str::to_owned))
        .collect();
    assert_eq!(
        body_links,
        vec!["/courses/alpha/worksheets/diary", "/courses/alpha/glossary#fibre"]
    );
    let outsider = app.signup("Out", "out@example.com", PW).await;
    let locked = app.get_with(&outsider, "/courses/alpha/lessons/basics").await;
    assert_eq!(locked.status, StatusCode::FORBIDDEN);
    let as_instructor = app.get_with(&maya, "/courses/alpha/lessons/basics").await;
    assert_eq!(as_instructor.texts(".downloads .worksheet-link a"), vec!["Meal diary"]);

    // The worksheet names the lessons that use it.
    let diary = app.get_with(&ada, "/courses/alpha/worksheets/diary").await;
    assert_eq!(diary.texts(".used-in a"), vec!["The basics", "Detail"]);
}

async fn a_worksheet_prints_as_a_sheet(backend: Backend) {
    let fx = fixture();
    let app = app_with(&backend, &fx).await;
    let page = app.get("/courses/alpha/worksheets/red-flags").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.text(".worksheet h1"), "Red flags");
    // The print stylesheet, for print only; the print button's script, external (the CSP allows
    // no inline script); the button hidden until that script shows it.
    let print_css = page.attr("link[rel=stylesheet][media=print]", "href");
    assert!(print_css.starts_with("/static/css/print."), "{print_css}");
    let script = page.attr("script[src]", "src");
    assert!(script.starts_with("/static/js/print."), "{script}");
    assert!(
        page.html()
            .select(&scraper::Selector::parse("script:not([src])").unwrap())
            .next()
            .is_none()
    );
    let button = scraper::Selector::parse("button[data-print]").unwrap();
    let html = page.html();
    let button = html.select(&button).next().expect("a print button");
    assert!(button.value().attr("hidden").is_some(), "hidden without JavaScript");
    assert!(page.text(".sheet-actions").contains("Save as PDF"));
    // The practice's name and the notice, to print with the sheet.
    assert_eq!(
        page.text(".worksheet .print-practice"),
        "Fixture Practice · Alpha Program"
    );
    assert!(
        page.text(".worksheet .sheet-notice")
            .contains("education, not medical advice")
    );
    // A checklist: disabled checkboxes (empty boxes on paper), each labelled by its item's text,
    // and no form to post them.
    let boxes = page
        .html()
        .select(&scraper::Selector::parse(".sheet-body li > label > input[type=checkbox][disabled]").unwrap())
        .count();
    assert_eq!(boxes, 2);
    assert_eq!(
        page.texts(".sheet-body li > label"),
        vec!["Blood in the stool", "Weight loss you cannot explain"]
    );
    assert!(
        page.html()
            .select(&scraper::Selector::parse(".sheet-body form").unwrap())
            .next()
            .is_none()
    );

    // The diary (for students): a ruled table with empty rows to write in.
    let maya = app.instructor("maya@example.com", PW).await;
    let diary = app.get_with(&maya, "/courses/alpha/worksheets/diary").await;
    assert_eq!(diary.status, StatusCode::OK);
    assert_eq!(
        diary.texts(".sheet-body th"),
        vec!["Date", "What I ate and drank", "Bloating (0–10)"]
    );
    let empty_cells = diary
        .html()
        .select(&scraper::Selector::parse(".sheet-body tbody td").unwrap())
        .filter(|td| td.text().all(|t| t.trim().is_empty()))
        .count();
    assert_eq!(empty_cells, 6);

    // The stylesheets: print rules for rows, empty cells, the site's chrome; the script prints.
    let css = app.get(&print_css).await;
    assert_eq!(css.status, StatusCode::OK);
    for rule in [
        "tr { break-inside: avoid;",
        "td:empty { height: 9mm; }",
        ".site-header, .site-footer,",
        "thead { display: table-header-group; }",
        "@page { size: portrait;",
        ".print-only { display: block; }",
    ] {
        assert!(css.body.contains(rule), "print.css lacks {rule}");
    }
    let js = app.get(&script).await;
    assert!(js.body.contains("window.print()"));
    assert!(js.body.contains("hidden = false"));
    // Lessons print with the practice's name too, and the same stylesheet.
    let lesson = app.get("/courses/alpha/lessons/welcome").await;
    assert_eq!(
        lesson.text(".lesson .print-practice"),
        "Fixture Practice · Alpha Program"
    );
    assert_eq!(lesson.attr("link[rel=stylesheet][media=print]", "href"), print_css);
}

async fn worksheets_open_to_students_instructors_and_when_public_to_all(backend: Backend) {
    let fx = fixture();
    let app = app_with(&backend, &fx).await;
    let maya = app.instructor("maya@example.com", PW).await;
    let sheet = "/courses/alpha/worksheets/diary";

    // Anonymous: sent to log in, and back after.
    let anon = app.get(sheet).await;
    assert_eq!(anon.status, StatusCode::SEE_OTHER);
    assert_eq!(
        anon.header("location"),
        "/login?next=%2Fcourses%2Falpha%2Fworksheets%2Fdiary"
    );
    assert!(!anon.body.contains("Bloating"));
    // A public sheet: open to all.
    assert_eq!(
        app.get("/courses/alpha/worksheets/red-flags").await.status,
        StatusCode::OK
    );
    // Unknown sheets, programs and other programs' names: 404.
    for missing in [
        "/courses/alpha/worksheets/nothing",
        "/courses/beta/worksheets/diary",
        "/courses/nowhere/worksheets/diary",
        "/courses/alpha/worksheets/..%2Fglossary",
    ] {
        assert_eq!(app.get(missing).await.status, StatusCode::NOT_FOUND, "{missing}");
    }

    // Signed in without a seat: 403, with what opens it; the sheet's content is not there.
    let out = app.signup("Out", "out@example.com", PW).await;
    let page = app.get_with(&out, sheet).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert_eq!(page.text(".callout h2"), "This worksheet is for enrolled students");
    assert!(page.links().contains(&"/courses/alpha/enroll".to_owned()));
    assert!(!page.body.contains("Bloating"));
    // A seat in another program opens nothing here.
    grant(&app, &maya, "out@example.com", "beta").await;
    assert_eq!(app.get_with(&out, sheet).await.status, StatusCode::FORBIDDEN);

    // The instructor: always.
    assert_eq!(app.get_with(&maya, sheet).await.status, StatusCode::OK);

    // A student who paid: open, also while the module that uses it is still locked by drip.
    let hal = app.signup("Hal", "hal@example.com", PW).await;
    let started = app.post_form(&hal, "/checkout", &[("course", "alpha")]).await;
    let test_page = started.header("location").to_owned();
    app.post_form(&hal, &format!("{test_page}/pay"), &[]).await;
    let order = test_page.rsplit('/').next().unwrap().to_owned();
    assert_eq!(
        app.get_with(&hal, "/courses/alpha/lessons/detail").await.status,
        StatusCode::FORBIDDEN,
        "the lesson waits for its module"
    );
    let page = app.get_with(&hal, sheet).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text(".sheet-body").contains("Fill in a row after each meal."));
    // Refunded: the seat ends, and the sheet closes with it.
    app.post_form(&maya, &format!("/admin/orders/{order}/refund"), &[])
        .await;
    assert_eq!(app.get_with(&hal, sheet).await.status, StatusCode::FORBIDDEN);
    // A fresh browser of a signed-out visitor is anonymous again.
    assert_eq!(app.get_with(&new_client(), sheet).await.status, StatusCode::SEE_OTHER);
}

async fn a_worksheet_csv_follows_its_sheet(backend: Backend) {
    let fx = fixture();
    fx.write(
        "alpha/worksheets/red-flags.md",
        &common::fixture::RED_FLAGS.replace("public = true", "public = true\ncsv = \"downloads/red-flags.csv\""),
    );
    fx.write("alpha/downloads/red-flags.csv", "Sign,Since when\n");
    let app = app_with(&backend, &fx).await;
    let maya = app.instructor("maya@example.com", PW).await;
    let csv = "/courses/alpha/worksheets/diary/csv";

    let anon = app.get(csv).await;
    assert_eq!(anon.status, StatusCode::SEE_OTHER);
    assert_eq!(
        anon.header("location"),
        "/login?next=%2Fcourses%2Falpha%2Fworksheets%2Fdiary%2Fcsv"
    );
    let out = app.signup("Out", "out@example.com", PW).await;
    assert_eq!(app.get_with(&out, csv).await.status, StatusCode::FORBIDDEN);

    let ada = app.signup("Ada", "ada@example.com", PW).await;
    grant(&app, &maya, "ada@example.com", "alpha").await;
    let file = app.get_with(&ada, csv).await;
    assert_eq!(file.status, StatusCode::OK);
    assert_eq!(file.body, "Date,What I ate and drank,Bloating (0–10)\n");
    assert_eq!(file.header("content-disposition"), "attachment; filename=\"diary.csv\"");
    assert_eq!(file.header("content-type"), "text/csv");
    assert_eq!(app.get_with(&maya, csv).await.status, StatusCode::OK);

    // A public sheet's CSV is public too (the same blank sheet); a sheet without one has none.
    let public = app.get("/courses/alpha/worksheets/red-flags/csv").await;
    assert_eq!(public.status, StatusCode::OK);
    assert_eq!(public.body, "Sign,Since when\n");
    fx.write("alpha/worksheets/red-flags.md", common::fixture::RED_FLAGS);
    app.import(fx.path()).await.unwrap();
    assert_eq!(
        app.get("/courses/alpha/worksheets/red-flags/csv").await.status,
        StatusCode::NOT_FOUND
    );
    // The import copied the CSV into the database: removed from the folder, it is still served.
    std::fs::remove_file(fx.file("alpha/downloads/diary.csv")).unwrap();
    assert_eq!(app.get_with(&ada, csv).await.status, StatusCode::OK);
    // One the database does not hold: 404, not an error page.
    learnwell::db_run!(&app.db, pool => sqlx::query("DELETE FROM stored_files").execute(pool).await.map(|_| ()))
        .unwrap();
    assert_eq!(app.get_with(&ada, csv).await.status, StatusCode::NOT_FOUND);
}
