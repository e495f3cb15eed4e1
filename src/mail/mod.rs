//! Email: every message is written to the `outbox` table in the same transaction as the change
//! that causes it, and delivered by a background worker (SMTP, or `.eml` files when `SMTP_URL` is
//! unset). A message is rendered when it is queued, from `templates/email/NAME.txt` and `.html`.

pub mod store;
mod transport;
pub mod unsubscribe;
pub mod worker;

use minijinja::Value;

use crate::context::Ctx;
use crate::db::Tx;
use crate::error::Error;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Category {
    /// Sent because of something the person did (verification, reset, receipt).
    Transactional,
    /// Announcements and launches: only to people who asked, always with an unsubscribe link.
    Marketing,
    /// The confirmation of a list sign-up: it carries an unsubscribe link like marketing email,
    /// but goes out even to an address that unsubscribed before (they are asking to come back).
    ListConfirmation,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Transactional | Category::ListConfirmation => "transactional",
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
    /// The launch or announcement this message belongs to (`launch:3`), for the studio's counts.
    pub campaign: Option<String>,
}

/// Renders and queues a message inside the caller's transaction. Returns false when nothing was
/// written: a message with the same dedupe key was already queued, or the message is marketing and
/// the address has unsubscribed.
///
/// A marketing message gets its own unsubscribe link (`unsubscribe_url` in the template) and the
/// RFC 8058 one-click headers.
pub async fn enqueue(tx: &mut Tx, state: &Ctx, msg: Outgoing<'_>) -> Result<bool, Error> {
    let now = state.clock.now();
    let mut headers: Vec<(String, String)> = Vec::new();
    let mut unsubscribe_url = None;
    if msg.category != Category::Transactional {
        if msg.category == Category::Marketing && store::is_unsubscribed(tx, msg.to).await? {
            return Ok(false);
        }
        if let Some(key) = &msg.dedupe_key
            && store::dedupe_key_taken(tx, key).await?
        {
            return Ok(false);
        }
        let url = unsubscribe::new_link(tx, state, msg.to, now).await?;
        headers.push(("List-Unsubscribe".into(), format!("<{url}>")));
        headers.push(("List-Unsubscribe-Post".into(), "List-Unsubscribe=One-Click".into()));
        unsubscribe_url = Some(url);
    }
    // A name is what someone typed: it goes only to an address somebody proved they read, so the
    // site cannot be made to greet a stranger with an attacker's words.
    let to_name = if msg.to_name.is_empty() || store::address_confirmed(tx, msg.to).await? {
        msg.to_name
    } else {
        ""
    };
    let ctx = minijinja::context! {
        subject => msg.subject.clone(),
        to_name => to_name,
        unsubscribe_url,
        ..msg.ctx
    };
    let text = state.render_string(&format!("email/{}.txt", msg.template), ctx.clone())?;
    let html = state.render_string(&format!("email/{}.html", msg.template), ctx)?;
    let headers = serde_json::to_string(&headers).map_err(|e| Error::Internal(e.into()))?;
    let row = store::NewMessage {
        dedupe_key: msg.dedupe_key.as_deref(),
        category: msg.category.as_str(),
        campaign: msg.campaign.as_deref(),
        to_addr: msg.to,
        to_name,
        subject: &msg.subject,
        body_text: &text,
        body_html: &html,
        headers: &headers,
    };
    Ok(store::insert(tx, &row, now).await?)
}
