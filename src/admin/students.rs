//! A program's students in the studio: how far each is, when they were last active, which module
//! they are on; and per lesson, how many completed it (where people drop off).

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use minijinja::context;
use minijinja::value::Serde;
use serde::Serialize;

use crate::accounts::Instructor;
use crate::context::Ctx;
use crate::learning::store;
use crate::web::AppError;

#[derive(Serialize)]
struct Student {
    name: String,
    email: String,
    percent: i64,
    done: i64,
    last_activity: Option<String>,
    module: Option<String>,
}

#[derive(Serialize)]
struct LessonCount {
    module: String,
    title: String,
    completed: i64,
}

pub async fn students(
    State(state): State<Ctx>,
    Instructor(user): Instructor,
    Path(slug): Path<String>,
) -> Result<Response, AppError> {
    let catalog = state.catalog();
    let program = catalog.program(&slug).ok_or(AppError::NotFound)?;
    let (rows, per_lesson) = tokio::try_join!(
        store::students(&state.db, program.course_id),
        store::completions_per_lesson(&state.db, program.course_id),
    )?;
    let total = program.rows.len().max(1) as i64;
    let students: Vec<Student> = rows
        .iter()
        .map(|r| Student {
            name: r.name.clone(),
            email: r.email.clone(),
            done: r.done,
            percent: r.done * 100 / total,
            last_activity: r.last_activity.map(|t| crate::local_time::format_local(t, &catalog.tz)),
            module: r
                .last_lesson_id
                .and_then(|id| program.rows.iter().find(|row| row.lesson_id == id))
                .map(|row| row.module_title.clone()),
        })
        .collect();
    let lessons: Vec<LessonCount> = program
        .rows
        .iter()
        .map(|row| LessonCount {
            module: row.module_title.clone(),
            title: row.lesson_title.clone(),
            completed: per_lesson
                .iter()
                .find(|(id, _)| *id == row.lesson_id)
                .map_or(0, |(_, n)| *n),
        })
        .collect();
    let ctx = context! {
        user => Serde(&user),
        title => program.title.clone(),
        slug,
        students => Serde(&students),
        lessons => Serde(&lessons),
        enrolled => students.len(),
    };
    Ok(state.render("admin/students.html", ctx)?.into_response())
}
