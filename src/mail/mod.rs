//! Email: every message is written to the `outbox` table in the same transaction as the change
//! that causes it, and delivered by a background worker (SMTP, or `.eml` files when `SMTP_URL` is
//! unset). A message is rendered when it is queued, from `templates/email/NAME.txt` and `.html`.

pub mod store;
mod transport;
pub mod worker;

use minijinja::Value;

use crate::db::Tx;
use crate::web::{AppError, AppState};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Category {
    /// Sent because of something the person did (verification, reset, receipt).
    Transactional,
    /// Announcements and launches: only to people who asked, always with an unsubscribe link.
    Marketing,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Transactional => "transactional",
            Category::Marketing => "marketing",
        }
    }
}

/// A message to queue.
pub struct Outgoing<'a> {
    pub to: &'a str,
    pub to_name: &'a str,
    pub subject: String,
    /// `templates/email/{template}.txt` and `.html`.
    pub template: &'a str,
    pub ctx: Value,
    pub category: Category,
    /// With a key, the same message is queued at most once (e.g. `launch:12:to:34`).
    pub dedupe_key: Option<String>,
    /// Extra headers, e.g. `List-Unsubscribe`.
    pub headers: Vec<(String, String)>,
}

/// Renders and queues a message inside the caller's transaction. Returns false when a message with
/// the same dedupe key was already queued (nothing is written).
pub async fn enqueue(tx: &mut Tx, state: &AppState, msg: Outgoing<'_>) -> Result<bool, AppError> {
    let ctx = minijinja::context! { subject => msg.subject.clone(), to_name => msg.to_name, ..msg.ctx };
    let text = state.render_string(&format!("email/{}.txt", msg.template), ctx.clone())?;
    let html = state.render_string(&format!("email/{}.html", msg.template), ctx)?;
    let headers = serde_json::to_string(&msg.headers).map_err(|e| AppError::Internal(e.into()))?;
    let row = store::NewMessage {
        dedupe_key: msg.dedupe_key.as_deref(),
        category: msg.category.as_str(),
        to_addr: msg.to,
        to_name: msg.to_name,
        subject: &msg.subject,
        body_text: &text,
        body_html: &html,
        headers: &headers,
    };
    Ok(store::insert(tx, &row, state.clock.now()).await?)
}
