//! Announcements: the instructor writes an update (subject and Markdown) to a program's confirmed
//! pre-enrollees, its students, or both. Each recipient's email is queued in the outbox in the same
//! transaction that records the announcement; the studio shows how many were sent, pending, failed.

pub mod store;

use minijinja::context;

use crate::context::Ctx;
use crate::error::Error;
use crate::mail::{self, Category, Outgoing};

pub const SUBJECT_MAX: usize = 150;
pub const BODY_MAX: usize = 20_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Audience {
    Preenrolled,
    Students,
    Both,
}

impl Audience {
    pub fn parse(s: &str) -> Option<Audience> {
        match s {
            "preenrolled" => Some(Audience::Preenrolled),
            "students" => Some(Audience::Students),
            "both" => Some(Audience::Both),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Audience::Preenrolled => "preenrolled",
            Audience::Students => "students",
            Audience::Both => "both",
        }
    }
}

/// A checked announcement, ready to preview or send.
pub struct Draft {
    pub course_id: i64,
    pub course_title: String,
    pub audience: Audience,
    pub subject: String,
    pub body_md: String,
    pub body_html: String,
    /// From the form: the same form sent twice sends once.
    pub form_key: String,
}

/// Checks a subject: present, one line, not too long.
pub fn parse_subject(s: &str) -> Result<String, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("Write a subject.".into());
    }
    if s.chars().count() > SUBJECT_MAX {
        return Err(format!("Keep the subject under {SUBJECT_MAX} characters."));
    }
    if s.chars().any(char::is_control) {
        return Err("The subject must be a single line.".into());
    }
    Ok(s.to_owned())
}

/// Checks the body and renders it (sanitised) as the email will show it.
pub fn parse_body(s: &str, base_url: &str) -> Result<(String, String), String> {
    let md = s.replace("\r\n", "\n");
    if md.trim().is_empty() {
        return Err("Write the message.".into());
    }
    if md.contains('\0') {
        return Err("The message contains an invisible NUL character; please remove it.".into());
    }
    if md.chars().count() > BODY_MAX {
        return Err(format!("Keep the message under {BODY_MAX} characters."));
    }
    let html = crate::content::markdown::render_email(&md, base_url).map_err(|e| format!("The message: {e}"))?;
    Ok((md, html))
}

#[derive(Debug, PartialEq, Eq)]
pub enum Sent {
    Queued {
        id: i64,
        emails: usize,
    },
    /// This form was sent before: nothing new.
    Duplicate {
        id: i64,
    },
}

pub async fn send(state: &Ctx, draft: &Draft, by: Option<i64>) -> Result<Sent, Error> {
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let Some(id) = store::insert(&mut tx, draft, by, now).await? else {
        let id = store::id_for_form_key(&mut tx, &draft.form_key).await?;
        return Ok(Sent::Duplicate { id });
    };
    let mut people: Vec<(String, String)> = Vec::new();
    if draft.audience != Audience::Students {
        for r in crate::preenroll::store::launch_recipients(&mut tx, draft.course_id).await? {
            people.push((r.email, r.name));
        }
    }
    if draft.audience != Audience::Preenrolled {
        for s in crate::enrollment::store::announcement_recipients(&mut tx, draft.course_id).await? {
            people.push((s.email, s.name));
        }
    }
    // Someone both pre-enrolled and enrolled gets one copy.
    let mut seen = std::collections::HashSet::new();
    people.retain(|(email, _)| seen.insert(email.clone()));
    let mut emails = 0;
    for (email, name) in &people {
        let wrote = mail::enqueue(
            &mut tx,
            state,
            Outgoing {
                to: email,
                to_name: name,
                subject: draft.subject.clone(),
                template: "announcement",
                ctx: context! {
                    body_md => draft.body_md.clone(),
                    body_html => draft.body_html.clone(),
                    course_title => draft.course_title.clone(),
                },
                category: Category::Marketing,
                dedupe_key: Some(format!("announcement:{id}:to:{email}")),
                campaign: Some(format!("announcement:{id}")),
            },
        )
        .await?;
        emails += usize::from(wrote);
    }
    store::set_recipients(&mut tx, id, emails as i64).await?;
    tx.commit().await?;
    state.mail_wakeup.notify_one();
    tracing::info!(announcement_id = id, emails, "announcement queued");
    Ok(Sent::Queued { id, emails })
}
