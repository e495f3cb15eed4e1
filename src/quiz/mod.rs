//! Knowledge checks: a module's short quiz (`quiz.toml`, see `course_content/FORMAT.md`), taken by
//! its students with feedback per question and as many retries as they like; optionally required
//! to complete the module; and, for the studio, the share of students answering each question
//! right on their first attempt.
//!
//! Attempts are kept per question id, never per position: a re-import that edits, reorders or
//! removes questions keeps every answer given (a removed question's answers show as archived in
//! the studio's numbers).

mod handlers;
pub mod store;

use std::collections::HashSet;

use axum::Router;
use axum::routing::get;
use serde::{Deserialize, Serialize};

use crate::context::Ctx;

pub use handlers::studio_stats;

pub fn routes() -> Router<Ctx> {
    Router::new().route(
        "/learn/{slug}/{module}/quiz",
        get(handlers::page).post(handlers::submit),
    )
}

/// `quiz.toml`: the module's questions, in order.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct QuizFile {
    #[serde(rename = "question")]
    pub questions: Vec<Question>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Question {
    /// Stable across edits: attempts are kept by it.
    pub id: String,
    pub kind: Kind,
    pub text: String,
    #[serde(rename = "option")]
    pub options: Vec<Choice>,
}

#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// One right option (radio buttons).
    Single,
    /// One or more right options; every right one and no wrong one must be chosen (checkboxes).
    Multiple,
    /// Two options, "True" and "False", one right.
    TrueFalse,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Choice {
    pub text: String,
    pub correct: bool,
    /// Shown when the student chose this option.
    pub explanation: String,
}

/// A module's quiz as the import stores it and the pages read it.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Quiz {
    /// "Pass to complete": the module's last lesson cannot be marked complete until passed.
    pub required: bool,
    pub questions: Vec<Question>,
}

impl Question {
    pub fn is_multiple(&self) -> bool {
        self.kind == Kind::Multiple
    }

    /// The numbers (1-based) of the right options.
    pub fn right(&self) -> Vec<usize> {
        self.options
            .iter()
            .enumerate()
            .filter(|(_, o)| o.correct)
            .map(|(i, _)| i + 1)
            .collect()
    }
}

const MAX_QUESTIONS: usize = 20;
const MAX_OPTIONS: usize = 8;

/// Checks a quiz file's content; the message names the question.
pub fn check(file: &QuizFile) -> Result<(), String> {
    if file.questions.is_empty() {
        return Err("has no [[question]]".into());
    }
    if file.questions.len() > MAX_QUESTIONS {
        return Err(format!("has more than {MAX_QUESTIONS} questions"));
    }
    let mut ids = HashSet::new();
    for q in &file.questions {
        let at = format!("question '{}'", q.id);
        crate::domain::Slug::parse(&q.id).map_err(|r| format!("{at}: its id is lowercase a-z, 0-9 and '-': {r}"))?;
        if !ids.insert(q.id.as_str()) {
            return Err(format!("{at}: the id is used twice"));
        }
        if q.text.trim().is_empty() {
            return Err(format!("{at}: 'text' is empty"));
        }
        if q.options.len() < 2 || q.options.len() > MAX_OPTIONS {
            return Err(format!("{at}: needs 2 to {MAX_OPTIONS} options"));
        }
        if q.options
            .iter()
            .any(|o| o.text.trim().is_empty() || o.explanation.trim().is_empty())
        {
            return Err(format!("{at}: every option needs a 'text' and an 'explanation'"));
        }
        let right = q.right().len();
        match q.kind {
            Kind::Single if right != 1 => {
                return Err(format!("{at}: a single-choice question has exactly one correct option"));
            }
            Kind::TrueFalse if q.options.len() != 2 || right != 1 => {
                return Err(format!("{at}: a true_false question has two options, one correct"));
            }
            Kind::Multiple if right == 0 => {
                return Err(format!("{at}: a multiple-choice question needs a correct option"));
            }
            _ => {}
        }
    }
    Ok(())
}

/// One answered question, as the feedback shows it.
#[derive(Serialize, Debug)]
pub struct Marked {
    pub id: String,
    pub chosen: Vec<usize>,
    pub correct: bool,
}

/// Marks a submission: `answers` holds, per question id, the chosen option numbers (1-based).
/// Refuses, with a message for the student, answers to unknown questions or options, a missing
/// answer, or more than one option for a single-choice question.
pub fn mark(quiz: &Quiz, answers: &[(String, String)]) -> Result<Vec<Marked>, String> {
    for (name, _) in answers {
        let Some(id) = name.strip_prefix("q-") else {
            return Err("The form held a field this quiz does not have. Please reload the quiz and try again.".into());
        };
        if !quiz.questions.iter().any(|q| q.id == id) {
            return Err("The form answered a question this quiz does not have (it may have been updated). Please reload the quiz and try again.".into());
        }
    }
    let mut marked = Vec::new();
    for (n, q) in quiz.questions.iter().enumerate() {
        let key = format!("q-{}", q.id);
        let mut chosen = Vec::new();
        for (_, value) in answers.iter().filter(|(name, _)| *name == key) {
            let number: usize = value
                .parse()
                .ok()
                .filter(|n| (1..=q.options.len()).contains(n))
                .ok_or_else(|| {
                    format!(
                        "Question {} has no option '{value}'. Please reload the quiz and try again.",
                        n + 1
                    )
                })?;
            if !chosen.contains(&number) {
                chosen.push(number);
            }
        }
        if chosen.is_empty() {
            return Err(format!(
                "Please answer question {} before you check your answers.",
                n + 1
            ));
        }
        if !q.is_multiple() && chosen.len() > 1 {
            return Err(format!("Question {} takes one answer.", n + 1));
        }
        chosen.sort_unstable();
        let correct = chosen == q.right();
        marked.push(Marked {
            id: q.id.clone(),
            chosen,
            correct,
        });
    }
    Ok(marked)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quiz() -> Quiz {
        let file: QuizFile = toml::from_str(
            r#"
[[question]]
id = "a"
kind = "single"
text = "A?"
[[question.option]]
text = "yes"
correct = true
explanation = "right"
[[question.option]]
text = "no"
correct = false
explanation = "wrong"

[[question]]
id = "b"
kind = "multiple"
text = "B?"
[[question.option]]
text = "one"
correct = true
explanation = "x"
[[question.option]]
text = "two"
correct = true
explanation = "y"
[[question.option]]
text = "three"
correct = false
explanation = "z"
"#,
        )
        .unwrap();
        check(&file).unwrap();
        Quiz {
            required: false,
            questions: file.questions,
        }
    }

    fn answers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    #[test]
    fn marks_right_and_wrong() {
        let q = quiz();
        let m = mark(&q, &answers(&[("q-a", "1"), ("q-b", "2"), ("q-b", "1")])).unwrap();
        assert!(m[0].correct && m[1].correct);
        let m = mark(&q, &answers(&[("q-a", "2"), ("q-b", "1")])).unwrap();
        assert!(!m[0].correct && !m[1].correct);
    }

    #[test]
    fn refuses_malformed() {
        let q = quiz();
        assert!(mark(&q, &answers(&[("q-a", "1")])).is_err());
        assert!(mark(&q, &answers(&[("q-a", "9"), ("q-b", "1")])).is_err());
        assert!(mark(&q, &answers(&[("q-a", "1"), ("q-a", "2"), ("q-b", "1")])).is_err());
        assert!(mark(&q, &answers(&[("q-a", "1"), ("q-b", "1"), ("q-zz", "1")])).is_err());
    }
}
