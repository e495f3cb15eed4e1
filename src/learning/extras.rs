//! What a lesson page shows an enrolled student beside the lesson (the `learning/_lesson_extras.html`
//! partial): their private note on it, and on a module's last lesson, the module's knowledge check.

use minijinja::Value;
use minijinja::context;

use crate::catalog::snapshot::{LessonPage, Program};

pub fn for_lesson(program: &Program, lesson: &LessonPage, note: Option<String>) -> Value {
    let slug = &program.slug;
    let row = program.rows.iter().find(|r| r.lesson_id == lesson.lesson.id);
    let last_of_module = row.is_some_and(|row| {
        program
            .rows
            .iter()
            .rfind(|r| r.module_id == row.module_id)
            .is_some_and(|last| last.lesson_id == row.lesson_id)
    });
    let quiz = row
        .filter(|_| last_of_module)
        .and_then(|row| program.quiz(row.module_id).map(|q| (row, q)))
        .map(|(row, q)| {
            context! {
                url => format!("/learn/{slug}/{}/quiz", row.module_slug),
                module => row.module_title.clone(),
                required => q.required,
            }
        });
    context! {
        note,
        note_max => super::notes::MAX_CHARS,
        note_action => format!("/learn/{slug}/notes/{}", lesson.lesson.slug),
        notes_page => format!("/learn/{slug}/notes"),
        quiz,
    }
}
