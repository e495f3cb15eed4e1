//! The quiz page of a module (a plain form: radio buttons and checkboxes, no JavaScript), its
//! feedback, and the studio's numbers.

use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use minijinja::context;
use minijinja::value::Serde;
use serde::Serialize;

use super::{Marked, Quiz, store};
use crate::accounts::SignedIn;
use crate::accounts::store::User;
use crate::catalog::Catalog;
use crate::catalog::snapshot::Program;
use crate::catalog::store::SyllabusRow;
use crate::context::Ctx;
use crate::domain::{CourseId, UserId};
use crate::web::AppError;

/// The module of the URL with its quiz, for a student who may read the module now (an active
/// seat, and drip has opened it) or an instructor (who may look but not submit).
struct Taking {
    catalog: Arc<Catalog>,
    module_id: i64,
    student: bool,
}

async fn taking(ctx: &Ctx, user: &User, slug: &str, module_slug: &str) -> Result<Taking, AppError> {
    let catalog = ctx.catalog();
    let program = catalog.program(slug).ok_or(AppError::NotFound)?;
    let row = program
        .rows
        .iter()
        .find(|r| r.module_slug == module_slug)
        .ok_or(AppError::NotFound)?;
    let module_id = row.module_id;
    program.quiz(module_id).ok_or(AppError::NotFound)?;
    if user.is_instructor() {
        return Ok(Taking {
            catalog,
            module_id,
            student: false,
        });
    }
    let seat = crate::learning::store::seat(&ctx.db, UserId(user.id), CourseId(program.course_id))
        .await?
        .ok_or(AppError::Forbidden)?;
    let progress = crate::learning::view::progress(
        &program.rows,
        &[],
        seat.last_lesson_id,
        seat.created_at,
        ctx.clock.now(),
        &catalog.tz,
    );
    if progress.modules.iter().any(|m| m.slug == module_slug && !m.open) {
        return Err(AppError::Forbidden);
    }
    Ok(Taking {
        catalog,
        module_id,
        student: true,
    })
}

fn module_row(program: &Program, module_id: i64) -> Option<&SyllabusRow> {
    program.rows.iter().find(|r| r.module_id == module_id)
}

/// One question's feedback.
#[derive(Serialize)]
struct Feedback {
    correct: bool,
    /// The chosen options' numbers.
    chosen: Vec<usize>,
}

struct PageArgs<'a> {
    status: StatusCode,
    user: &'a User,
    program: &'a Program,
    module_id: i64,
    quiz: &'a Quiz,
    student: bool,
    passed: bool,
    error: Option<String>,
    /// Per question (in order), after a submission.
    feedback: Option<Vec<Feedback>>,
}

fn render(ctx: &Ctx, catalog: &Catalog, a: PageArgs<'_>) -> Result<Response, AppError> {
    let row = module_row(a.program, a.module_id).ok_or(AppError::NotFound)?;
    let last_lesson = a
        .program
        .rows
        .iter()
        .rfind(|r| r.module_id == a.module_id)
        .map(|r| r.lesson_slug.clone());
    let score = a.feedback.as_ref().map(|f| f.iter().filter(|q| q.correct).count());
    let page = context! {
        user => Serde(a.user),
        course_title => a.program.title.clone(),
        slug => a.program.slug.clone(),
        module_title => row.module_title.clone(),
        action => format!("/learn/{}/{}/quiz", a.program.slug, row.module_slug),
        last_lesson,
        quiz => Serde(a.quiz),
        student => a.student,
        passed => a.passed,
        error => a.error,
        feedback => a.feedback.as_ref().map(Serde),
        score,
    };
    Ok((a.status, Html(ctx.render_parts(catalog, "quiz/quiz.html", [page])?)).into_response())
}

/// `GET /learn/{slug}/{module}/quiz`.
pub async fn page(
    State(ctx): State<Ctx>,
    SignedIn(user): SignedIn,
    Path((slug, module_slug)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let t = taking(&ctx, &user, &slug, &module_slug).await?;
    let program = t.catalog.program(&slug).ok_or(AppError::NotFound)?;
    let quiz = program.quiz(t.module_id).ok_or(AppError::NotFound)?;
    let passed = t.student && store::passed(&ctx.db, user.id, t.module_id).await?;
    render(
        &ctx,
        &t.catalog,
        PageArgs {
            status: StatusCode::OK,
            user: &user,
            program,
            module_id: t.module_id,
            quiz,
            student: t.student,
            passed,
            error: None,
            feedback: None,
        },
    )
}

/// `POST /learn/{slug}/{module}/quiz`: marks the answers (fields `q-<question id>` holding option
/// numbers), stores the attempt and shows the feedback, with a retry.
pub async fn submit(
    State(ctx): State<Ctx>,
    SignedIn(user): SignedIn,
    Path((slug, module_slug)): Path<(String, String)>,
    Form(answers): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let t = taking(&ctx, &user, &slug, &module_slug).await?;
    if !t.student {
        return Err(AppError::Forbidden); // an instructor has no attempts to keep
    }
    let program = t.catalog.program(&slug).ok_or(AppError::NotFound)?;
    let quiz = program.quiz(t.module_id).ok_or(AppError::NotFound)?;
    let marked: Vec<Marked> = match super::mark(quiz, &answers) {
        Ok(marked) => marked,
        Err(message) => {
            let passed = store::passed(&ctx.db, user.id, t.module_id).await?;
            return render(
                &ctx,
                &t.catalog,
                PageArgs {
                    status: StatusCode::UNPROCESSABLE_ENTITY,
                    user: &user,
                    program,
                    module_id: t.module_id,
                    quiz,
                    student: true,
                    passed,
                    error: Some(message),
                    feedback: None,
                },
            );
        }
    };
    let mut tx = ctx.db.begin().await?;
    store::record_attempt(&mut tx, user.id, t.module_id, &marked, ctx.clock.now()).await?;
    tx.commit().await?;
    let passed = store::passed(&ctx.db, user.id, t.module_id).await?;
    let feedback = marked
        .into_iter()
        .map(|m| Feedback {
            correct: m.correct,
            chosen: m.chosen,
        })
        .collect();
    render(
        &ctx,
        &t.catalog,
        PageArgs {
            status: StatusCode::OK,
            user: &user,
            program,
            module_id: t.module_id,
            quiz,
            student: true,
            passed,
            error: None,
            feedback: Some(feedback),
        },
    )
}

/// One question's numbers in the studio.
#[derive(Serialize, Debug)]
pub struct QuestionStats {
    pub id: String,
    /// The question's text (an archived question, no longer in the file, shows its id only).
    pub text: Option<String>,
    pub answered: i64,
    pub right_first: i64,
    /// Share answering right on their first attempt, in whole percent (none before anyone answered).
    pub percent: Option<i64>,
}

#[derive(Serialize, Debug)]
pub struct ModuleStats {
    pub module: String,
    pub required: bool,
    pub questions: Vec<QuestionStats>,
    /// Questions with answers that the current file no longer has.
    pub archived: Vec<QuestionStats>,
}

/// Per module with a quiz, per question: the share of students answering right the first time.
pub async fn studio_stats(ctx: &Ctx, program: &Program) -> Result<Vec<ModuleStats>, AppError> {
    let rows = store::first_time(&ctx.db, program.course_id).await?;
    let mut modules: Vec<ModuleStats> = Vec::new();
    let mut seen: Vec<i64> = Vec::new();
    let stats = |id: &str, text: Option<String>, module_id: i64| {
        let row = rows.iter().find(|r| r.module_id == module_id && r.question_id == id);
        let answered = row.map_or(0, |r| r.answered);
        let right_first = row.map_or(0, |r| r.right_first);
        QuestionStats {
            id: id.to_owned(),
            text,
            answered,
            right_first,
            percent: (answered > 0).then(|| (right_first * 100 + answered / 2) / answered),
        }
    };
    for row in &program.rows {
        if seen.contains(&row.module_id) {
            continue;
        }
        seen.push(row.module_id);
        let Some(quiz) = program.quiz(row.module_id) else {
            continue;
        };
        let questions = quiz
            .questions
            .iter()
            .map(|q| stats(&q.id, Some(q.text.clone()), row.module_id))
            .collect();
        let archived = rows
            .iter()
            .filter(|r| r.module_id == row.module_id && !quiz.questions.iter().any(|q| q.id == r.question_id))
            .map(|r| stats(&r.question_id, None, row.module_id))
            .collect();
        modules.push(ModuleStats {
            module: row.module_title.clone(),
            required: quiz.required,
            questions,
            archived,
        });
    }
    Ok(modules)
}
