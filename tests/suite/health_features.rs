//! Issue 17: the versioned health acknowledgement, private lesson notes and knowledge checks
//! (quizzes), as students and the instructor meet them, on both backends.

use crate::common;

use common::fixture::{Fixture, QUIZ};
use common::{AppOptions, Backend, TestApp};
use learnwell::db::Db;
use learnwell::db_run;
use reqwest::StatusCode;

const PW: &str = "a calm long passphrase";

both_backends!(
    the_acknowledgement_gates_lessons_until_confirmed,
    a_changed_text_asks_again,
    notes_are_private_escaped_and_bounded,
    quiz_feedback_retry_and_malformed_answers,
    pass_to_complete_holds_the_modules_last_lesson,
    studio_numbers_and_a_changed_quiz_keeps_attempts,
    export_and_deletion_cover_the_new_data,
);

async fn count(db: &Db, sql: &str) -> i64 {
    db_run!(db, pool => sqlx::query_scalar::<_, i64>(sql).fetch_one(pool).await).unwrap()
}

const COURSE: &str = r#"title = "Alpha Program"
promise = "Learn the alpha way."
price_cents = 15000
description = "All about **alpha**."
who_for = ["People who like alpha"]
not_for = ["Anyone with unexplained bleeding: see a doctor first", "Children and teenagers"]
position = 1
"#;

/// The fixture with pages (its first module has the quiz), and alpha's "who this is not for".
fn fixture() -> Fixture {
    let fx = Fixture::with_pages();
    fx.write("alpha/course.toml", COURSE);
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
    assert_eq!(page.header("location"), "/admin?notice=granted", "{}", page.body);
}

/// An instructor, and `email` signed up with a seat in alpha.
async fn student(app: &TestApp, maya: &reqwest::Client, name: &str, email: &str) -> reqwest::Client {
    let client = app.signup(name, email, PW).await;
    grant(app, maya, email, "alpha").await;
    client
}

async fn the_acknowledgement_gates_lessons_until_confirmed(backend: Backend) {
    let fx = fixture();
    let app = app_with(&backend, &fx).await;
    let maya = app.instructor("maya@example.com", PW).await;
    let ada = student(&app, &maya, "Ada", "ada@example.com").await;

    // A lesson sends her to confirm first; the free preview does not.
    let page = app.get_with(&ada, "/courses/alpha/lessons/basics").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(
        page.header("location"),
        "/learn/alpha/acknowledge?next=/courses/alpha/lessons/basics"
    );
    let preview = app.get_with(&ada, "/courses/alpha/lessons/welcome").await;
    assert_eq!(preview.status, StatusCode::OK, "previews are not held back");
    assert!(preview.text(".lesson-body").contains("welcome lesson body"));

    // The page: the list and the notice, a checkbox and a button.
    let gate = app
        .get_with(&ada, "/learn/alpha/acknowledge?next=/courses/alpha/lessons/basics")
        .await;
    assert_eq!(gate.status, StatusCode::OK);
    assert_eq!(
        gate.texts(".not-for-list li"),
        [
            "Anyone with unexplained bleeding: see a doctor first",
            "Children and teenagers"
        ]
    );
    assert!(gate.text(".ack-notice").contains("not medical advice"));
    assert_eq!(gate.attr("input[name=next]", "value"), "/courses/alpha/lessons/basics");
    let version = gate.attr("input[name=version]", "value");
    assert_eq!(version.len(), 16);

    // Without the tick, or for a text that changed meanwhile: asked again, nothing kept.
    let unticked = app
        .post_form(
            &ada,
            "/learn/alpha/acknowledge",
            &[("version", version.as_str()), ("next", "/courses/alpha/lessons/basics")],
        )
        .await;
    assert_eq!(unticked.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(unticked.text(".error").contains("tick the box"));
    let stale = app
        .post_form(
            &ada,
            "/learn/alpha/acknowledge",
            &[("version", "0000000000000000"), ("confirm", "yes")],
        )
        .await;
    assert_eq!(stale.status, StatusCode::CONFLICT);
    assert_eq!(count(&app.db, "SELECT COUNT(*) FROM acknowledgements").await, 0);

    // Someone without a seat cannot confirm (nor see the page).
    let eve = app.signup("Eve", "eve@example.com", PW).await;
    assert_eq!(
        app.get_with(&eve, "/learn/alpha/acknowledge").await.status,
        StatusCode::FORBIDDEN
    );
    let refused = app
        .post_form(
            &eve,
            "/learn/alpha/acknowledge",
            &[("version", version.as_str()), ("confirm", "yes")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.get("/learn/alpha/acknowledge").await.status,
        StatusCode::SEE_OTHER,
        "anonymous: to the login"
    );

    // Confirmed: on to the lesson (a foreign `next` is not followed).
    let done = app
        .post_form(
            &ada,
            "/learn/alpha/acknowledge",
            &[
                ("version", version.as_str()),
                ("confirm", "yes"),
                ("next", "/courses/alpha/lessons/basics"),
            ],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    assert_eq!(done.header("location"), "/courses/alpha/lessons/basics");
    let lesson = app.get_with(&ada, "/courses/alpha/lessons/basics").await;
    assert_eq!(lesson.status, StatusCode::OK);
    assert!(lesson.text(".lesson-body").contains("Secret basics body"));
    let again = app
        .post_form(
            &ada,
            "/learn/alpha/acknowledge",
            &[
                ("version", version.as_str()),
                ("confirm", "yes"),
                ("next", "//evil.example/x"),
            ],
        )
        .await;
    assert_eq!(again.header("location"), "/account", "no open redirect");
    assert_eq!(
        count(&app.db, "SELECT COUNT(*) FROM acknowledgements").await,
        1,
        "once per version"
    );

    // Instructors read without confirming; the studio lists who confirmed which version.
    assert_eq!(
        app.get_with(&maya, "/courses/alpha/lessons/basics").await.status,
        StatusCode::OK
    );
    let studio = app.get_with(&maya, "/admin/courses/alpha/health").await;
    assert_eq!(studio.status, StatusCode::OK);
    let rows = studio.texts(".ack-table tbody tr");
    assert_eq!(rows.len(), 1);
    assert!(rows[0].contains("ada@example.com") && rows[0].contains(&version) && rows[0].contains("current"));
    assert_eq!(
        app.get_with(&ada, "/admin/courses/alpha/health").await.status,
        StatusCode::FORBIDDEN,
        "not for students"
    );
}

async fn a_changed_text_asks_again(backend: Backend) {
    let fx = fixture();
    let app = app_with(&backend, &fx).await;
    let maya = app.instructor("maya@example.com", PW).await;
    let ada = student(&app, &maya, "Ada", "ada@example.com").await;
    app.acknowledge(&ada, "alpha").await;
    assert_eq!(
        app.get_with(&ada, "/courses/alpha/lessons/basics").await.status,
        StatusCode::OK
    );
    let first = app.get_with(&maya, "/admin/courses/alpha/health").await;

    // The instructor adds a line to "who this is not for": a new version, asked again.
    fx.write(
        "alpha/course.toml",
        &COURSE.replace(
            "\"Children and teenagers\"]",
            "\"Children and teenagers\", \"Anyone pregnant\"]",
        ),
    );
    app.import(fx.path()).await.unwrap();
    let page = app.get_with(&ada, "/courses/alpha/lessons/basics").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "asked again after the change");
    let gate = app.get_with(&ada, "/learn/alpha/acknowledge").await;
    assert!(gate.texts(".not-for-list li").contains(&"Anyone pregnant".to_owned()));
    app.acknowledge(&ada, "alpha").await;
    assert_eq!(
        app.get_with(&ada, "/courses/alpha/lessons/basics").await.status,
        StatusCode::OK
    );

    // The site's notice is part of the text too.
    let site = std::fs::read_to_string(fx.file("site.toml")).unwrap();
    fx.write(
        "site.toml",
        &format!("notice = \"Education only, not medical advice.\"\n{site}"),
    );
    app.import(fx.path()).await.unwrap();
    assert_eq!(
        app.get_with(&ada, "/courses/alpha/lessons/basics").await.status,
        StatusCode::SEE_OTHER
    );
    app.acknowledge(&ada, "alpha").await;

    // An edit of the list in the studio: asked again too.
    let fields = [
        ("title", "Alpha Program"),
        ("slug", "alpha"),
        ("promise", "Learn the alpha way."),
        ("description", "All about **alpha**."),
        ("who_for", "People who like alpha"),
        (
            "not_for",
            "Children and teenagers\nAnyone pregnant\nAnyone on blood thinners",
        ),
        ("price", "150"),
        ("status", "preenrollment"),
    ];
    let saved = app.post_form(&maya, "/admin/courses/alpha/edit", &fields).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.text(".error"));
    let page = app.get_with(&ada, "/courses/alpha/lessons/basics").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "asked again after the studio edit");
    let gate = app.get_with(&ada, "/learn/alpha/acknowledge").await;
    assert_eq!(
        gate.texts(".not-for-list li"),
        ["Children and teenagers", "Anyone pregnant", "Anyone on blood thinners"]
    );
    app.acknowledge(&ada, "alpha").await;

    assert_eq!(count(&app.db, "SELECT COUNT(*) FROM acknowledgements").await, 4);
    let studio = app.get_with(&maya, "/admin/courses/alpha/health").await;
    let rows = studio.texts(".ack-table tbody tr");
    assert_eq!(rows.len(), 4, "every version confirmed, with its time");
    assert_eq!(rows.iter().filter(|r| r.contains("(current)")).count(), 1);
    assert_ne!(first.text("code"), studio.text("code"), "the current version changed");
}

async fn notes_are_private_escaped_and_bounded(backend: Backend) {
    let fx = fixture();
    let app = app_with(&backend, &fx).await;
    let maya = app.instructor("maya@example.com", PW).await;
    let ada = student(&app, &maya, "Ada", "ada@example.com").await;
    let bob = student(&app, &maya, "Bob", "bob@example.com").await;
    app.acknowledge(&ada, "alpha").await;
    app.acknowledge(&bob, "alpha").await;

    let evil = "My note <script>alert('x')</script>\nsecond line";
    let shown = "My note <script>alert('x')</script> second line"; // as text, whitespace folded
    let saved = app
        .post_form(&ada, "/learn/alpha/notes/basics", &[("body", evil)])
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER);
    assert_eq!(saved.header("location"), "/courses/alpha/lessons/basics#notes");
    let lesson = app.get_with(&ada, "/courses/alpha/lessons/basics").await;
    assert_eq!(lesson.text("#note-body"), shown, "the note is in its box");
    assert!(!lesson.body.contains("<script>alert"), "escaped");
    let mine = app.get_with(&ada, "/learn/alpha/notes").await;
    assert_eq!(mine.status, StatusCode::OK);
    assert_eq!(mine.texts(".note-item h3"), ["The basics"]);
    assert_eq!(mine.text(".note-body"), shown);
    assert!(mine.body.contains("\nsecond line"), "line breaks kept");
    assert!(mine.body.contains("&lt;script&gt;") && !mine.body.contains("<script>alert"));
    assert_eq!(mine.header("cache-control"), "no-store");

    // Bob sees none of it: not on his lesson page, not in his notes.
    let his = app.get_with(&bob, "/courses/alpha/lessons/basics").await;
    assert_eq!(his.text("#note-body"), "");
    let his_notes = app.get_with(&bob, "/learn/alpha/notes").await;
    assert!(!his_notes.body.contains("alert"));
    assert!(his_notes.texts(".note-item").is_empty());
    // Someone without a seat can neither write nor list; a lesson of no program is 404.
    let eve = app.signup("Eve", "eve@example.com", PW).await;
    assert_eq!(
        app.post_form(&eve, "/learn/alpha/notes/basics", &[("body", "hi")])
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get_with(&eve, "/learn/alpha/notes").await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.post_form(&ada, "/learn/alpha/notes/no-such-lesson", &[("body", "hi")])
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.get("/learn/alpha/notes").await.status, StatusCode::SEE_OTHER);

    // Too long: a clear message, the saved note untouched.
    let long = "a".repeat(20_001);
    let refused = app
        .post_form(&ada, "/learn/alpha/notes/basics", &[("body", &long)])
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(refused.body.contains("at most 20000"), "{}", refused.body);
    let exactly = "b".repeat(20_000);
    assert_eq!(
        app.post_form(&ada, "/learn/alpha/notes/detail", &[("body", &exactly)])
            .await
            .status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(count(&app.db, "SELECT COUNT(*) FROM lesson_notes").await, 2);
    let mine = app.get_with(&ada, "/learn/alpha/notes").await;
    assert_eq!(mine.text(".note-body"), shown);
    // An empty box deletes the note.
    app.post_form(&ada, "/learn/alpha/notes/detail", &[("body", "  ")])
        .await;
    assert_eq!(count(&app.db, "SELECT COUNT(*) FROM lesson_notes").await, 1);
}

/// Answers alpha's first-module quiz.
async fn answer(app: &TestApp, client: &reqwest::Client, fields: &[(&str, &str)]) -> common::Page {
    app.post_form(client, "/learn/alpha/start/quiz", fields).await
}

const ALL_RIGHT: &[(&str, &str)] = &[("q-water", "1"), ("q-plants", "1"), ("q-plants", "2")];

async fn quiz_feedback_retry_and_malformed_answers(backend: Backend) {
    let fx = fixture();
    let app = app_with(&backend, &fx).await;
    let maya = app.instructor("maya@example.com", PW).await;
    let ada = student(&app, &maya, "Ada", "ada@example.com").await;

    // Linked from the module's last lesson.
    app.acknowledge(&ada, "alpha").await;
    let lesson = app.get_with(&ada, "/courses/alpha/lessons/basics").await;
    assert_eq!(lesson.attr(".quiz-link a", "href"), "/learn/alpha/start/quiz");
    let other = app.get_with(&ada, "/courses/alpha/lessons/detail").await;
    assert!(other.texts(".quiz-link").is_empty(), "only on the module's last lesson");

    let form = app.get_with(&ada, "/learn/alpha/start/quiz").await;
    assert_eq!(form.status, StatusCode::OK);
    assert_eq!(form.texts("fieldset legend").len(), 2);
    assert_eq!(form.texts("input[type=radio][name=q-water]").len(), 2);
    assert_eq!(form.texts("input[type=checkbox][name=q-plants]").len(), 3);

    // Wrong answers: per question feedback with the chosen options' explanations.
    let wrong = answer(&app, &ada, &[("q-water", "2"), ("q-plants", "1"), ("q-plants", "3")]).await;
    assert_eq!(wrong.status, StatusCode::OK);
    assert_eq!(wrong.text(".quiz-score"), "You answered 0 of 2 right.");
    assert_eq!(wrong.texts(".quiz-result-wrong").len(), 2);
    assert!(wrong.text("#result-water").contains("Not quite: water does help."));
    let plants = wrong.text("#result-plants");
    assert!(plants.contains("Oats are a grain") && plants.contains("Cheese comes from milk"));
    assert!(
        !plants.contains("Lentils are legumes"),
        "only the chosen options' explanations"
    );
    assert_eq!(wrong.attr("a.button", "href"), "/learn/alpha/start/quiz", "a retry");

    // Retry, half right, then all right.
    let half = answer(&app, &ada, &[("q-water", "1"), ("q-plants", "1")]).await;
    assert_eq!(half.text(".quiz-score"), "You answered 1 of 2 right.");
    assert!(half.text("#result-water").contains("Right"));
    let right = answer(&app, &ada, ALL_RIGHT).await;
    assert_eq!(right.text(".quiz-score"), "You answered 2 of 2 right.");
    assert!(right.text(".quiz-passed").contains("You passed"));
    assert_eq!(count(&app.db, "SELECT COUNT(*) FROM quiz_attempts").await, 6);
    assert_eq!(count(&app.db, "SELECT MAX(attempt) FROM quiz_attempts").await, 3);
    assert_eq!(count(&app.db, "SELECT COUNT(*) FROM quiz_passes").await, 1);

    // Malformed: a clear 422, nothing written.
    for (fields, message) in [
        (&[("q-water", "1")][..], "Please answer question 2"),
        (&[("q-water", "9"), ("q-plants", "1")][..], "has no option '9'"),
        (&[("q-water", "x"), ("q-plants", "1")][..], "has no option 'x'"),
        (
            &[("q-water", "1"), ("q-water", "2"), ("q-plants", "1")][..],
            "takes one answer",
        ),
        (
            &[("q-water", "1"), ("q-plants", "1"), ("q-nope", "1")][..],
            "does not have",
        ),
        (
            &[("q-water", "1"), ("q-plants", "1"), ("other", "1")][..],
            "does not have",
        ),
    ] {
        let page = answer(&app, &ada, fields).await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{fields:?}");
        assert!(
            page.text(".error").contains(message),
            "{fields:?}: {}",
            page.text(".error")
        );
    }
    assert_eq!(count(&app.db, "SELECT COUNT(*) FROM quiz_attempts").await, 6);

    // Not for someone without a seat; no quiz, 404; an instructor may look but not answer.
    let eve = app.signup("Eve", "eve@example.com", PW).await;
    assert_eq!(
        app.get_with(&eve, "/learn/alpha/start/quiz").await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(answer(&app, &eve, ALL_RIGHT).await.status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.get_with(&ada, "/learn/alpha/deeper/quiz").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get_with(&maya, "/learn/alpha/start/quiz").await.status,
        StatusCode::OK
    );
    assert_eq!(answer(&app, &maya, ALL_RIGHT).await.status, StatusCode::FORBIDDEN);
    assert_eq!(count(&app.db, "SELECT COUNT(*) FROM quiz_attempts").await, 6);
}

async fn pass_to_complete_holds_the_modules_last_lesson(backend: Backend) {
    let fx = fixture();
    fx.write(
        "alpha/01-start/module.toml",
        "title = \"Starting out\"\nsummary = \"The first steps.\"\nquiz_required = true\n",
    );
    let app = app_with(&backend, &fx).await;
    let maya = app.instructor("maya@example.com", PW).await;
    let ada = student(&app, &maya, "Ada", "ada@example.com").await;
    app.acknowledge(&ada, "alpha").await;
    let complete = |lesson: &'static str| {
        let (app, ada) = (&app, &ada);
        async move {
            app.post_form(
                ada,
                &format!("/courses/alpha/lessons/{lesson}/complete"),
                &[("done", "true")],
            )
            .await
        }
    };
    assert_eq!(
        complete("welcome").await.status,
        StatusCode::SEE_OTHER,
        "not the last lesson"
    );
    let held = complete("basics").await;
    assert_eq!(held.status, StatusCode::BAD_REQUEST);
    assert!(held.body.contains("Pass the knowledge check"), "{}", held.body);
    assert_eq!(
        count(
            &app.db,
            "SELECT COUNT(*) FROM lesson_progress WHERE completed_at IS NOT NULL"
        )
        .await,
        1
    );
    let lesson = app.get_with(&ada, "/courses/alpha/lessons/basics").await;
    assert!(lesson.text(".quiz-link").contains("to complete the module"));
    // A wrong attempt does not pass; a right one does.
    answer(&app, &ada, &[("q-water", "2"), ("q-plants", "1")]).await;
    assert_eq!(complete("basics").await.status, StatusCode::BAD_REQUEST);
    answer(&app, &ada, ALL_RIGHT).await;
    assert_eq!(complete("basics").await.status, StatusCode::SEE_OTHER);
    assert_eq!(
        count(
            &app.db,
            "SELECT COUNT(*) FROM lesson_progress WHERE completed_at IS NOT NULL"
        )
        .await,
        2
    );
    // A required quiz needs its file.
    std::fs::remove_file(fx.file("alpha/01-start/quiz.toml")).unwrap();
    let err = app.import(fx.path()).await.unwrap_err().to_string();
    assert!(err.contains("quiz_required") && err.contains("no quiz.toml"), "{err}");
}

async fn studio_numbers_and_a_changed_quiz_keeps_attempts(backend: Backend) {
    let fx = fixture();
    let app = app_with(&backend, &fx).await;
    let maya = app.instructor("maya@example.com", PW).await;
    let ada = student(&app, &maya, "Ada", "ada@example.com").await;
    let bob = student(&app, &maya, "Bob", "bob@example.com").await;
    // Ada: water wrong first, then right; plants right first. Bob: both right first.
    answer(&app, &ada, &[("q-water", "2"), ("q-plants", "1"), ("q-plants", "2")]).await;
    answer(&app, &ada, ALL_RIGHT).await;
    answer(&app, &bob, ALL_RIGHT).await;
    let studio = app.get_with(&maya, "/admin/courses/alpha/health").await;
    assert_eq!(studio.text("tr[data-question=water] .answered"), "2");
    assert_eq!(studio.text("tr[data-question=water] .share"), "50% (1)");
    assert_eq!(studio.text("tr[data-question=plants] .share"), "100% (2)");

    // A re-import that drops a question and adds one: every answer kept, the dropped question's
    // shown as archived, the new one unanswered.
    let changed = QUIZ.replace("id = \"plants\"", "id = \"plants-v2\"");
    fx.write("alpha/01-start/quiz.toml", &changed);
    let report = app.import(fx.path()).await.unwrap();
    assert_eq!(report.changed, ["quiz alpha/start"], "{report}");
    assert_eq!(count(&app.db, "SELECT COUNT(*) FROM quiz_attempts").await, 6);
    let studio = app.get_with(&maya, "/admin/courses/alpha/health").await;
    assert!(studio.text("tr[data-question=plants]").contains("archived"));
    assert_eq!(studio.text("tr[data-question=plants] .share"), "100% (2)");
    assert_eq!(studio.text("tr[data-question=plants-v2] .share"), "—");
    // The same files again change nothing.
    assert!(app.import(fx.path()).await.unwrap().is_noop());

    // The file removed: the quiz is archived, its answers stay.
    std::fs::remove_file(fx.file("alpha/01-start/quiz.toml")).unwrap();
    let report = app.import(fx.path()).await.unwrap();
    assert_eq!(report.archived, ["quiz alpha/start (its answers are kept)"], "{report}");
    assert_eq!(count(&app.db, "SELECT COUNT(*) FROM quiz_attempts").await, 6);
    assert_eq!(
        app.get_with(&ada, "/learn/alpha/start/quiz").await.status,
        StatusCode::NOT_FOUND
    );
    // Back again: the same quiz, its numbers intact.
    fx.write("alpha/01-start/quiz.toml", QUIZ);
    app.import(fx.path()).await.unwrap();
    let studio = app.get_with(&maya, "/admin/courses/alpha/health").await;
    assert_eq!(studio.text("tr[data-question=water] .share"), "50% (1)");

    // A broken quiz fails the import and names the question.
    fx.write(
        "alpha/01-start/quiz.toml",
        &QUIZ.replace(
            "correct = true\nexplanation = \"Right",
            "correct = false\nexplanation = \"Right",
        ),
    );
    let err = app.import(fx.path()).await.unwrap_err().to_string();
    assert!(err.contains("quiz.toml") && err.contains("question 'water'"), "{err}");
}

async fn export_and_deletion_cover_the_new_data(backend: Backend) {
    let fx = fixture();
    let app = app_with(&backend, &fx).await;
    let maya = app.instructor("maya@example.com", PW).await;
    let ada = student(&app, &maya, "Ada", "ada@example.com").await;
    let bob = student(&app, &maya, "Bob", "bob@example.com").await;
    for client in [&ada, &bob] {
        app.acknowledge(client, "alpha").await;
        app.post_form(client, "/learn/alpha/notes/basics", &[("body", "remember the water")])
            .await;
        answer(&app, client, ALL_RIGHT).await;
    }

    let data: serde_json::Value = ada
        .get(app.url("/account/data"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(data["health_acknowledgements"][0]["program"], "Alpha Program");
    assert!(
        data["health_acknowledgements"][0]["text_snapshot"]
            .as_str()
            .unwrap()
            .contains("Children and teenagers")
    );
    assert_eq!(data["lesson_notes"][0]["lesson"], "The basics");
    assert_eq!(data["lesson_notes"][0]["body"], "remember the water");
    assert_eq!(data["quiz_answers"].as_array().unwrap().len(), 2);
    assert_eq!(data["quiz_answers"][0]["correct"], true);

    let gone = app.post_form(&ada, "/account/delete", &[("password", PW)]).await;
    assert_eq!(gone.status, StatusCode::OK);
    for table in ["acknowledgements", "lesson_notes", "quiz_passes"] {
        assert_eq!(
            count(&app.db, &format!("SELECT COUNT(*) FROM {table}")).await,
            1,
            "{table}: Bob's only"
        );
    }
    assert_eq!(
        count(&app.db, "SELECT COUNT(*) FROM quiz_attempts").await,
        2,
        "Bob's only"
    );
}
