//! Where messages go: an SMTP server (`SMTP_URL`), or `.eml` files in `DATA_DIR/outbox/`.

use std::path::PathBuf;

use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::store::Claimed;

pub enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Files(PathBuf),
}

impl Transport {
    pub fn from_config(smtp_url: Option<&str>, data_dir: &std::path::Path) -> anyhow::Result<Transport> {
        match smtp_url {
            Some(url) => Ok(Transport::Smtp(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|e| anyhow::anyhow!("SMTP_URL: {e}"))?
                    .build(),
            )),
            None => Ok(Transport::Files(data_dir.join("outbox"))),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Transport::Smtp(_) => "SMTP".to_owned(),
            Transport::Files(dir) => format!(".eml files in {}", dir.display()),
        }
    }

    pub async fn send(&self, id: i64, message: Message) -> anyhow::Result<()> {
        match self {
            Transport::Smtp(smtp) => {
                smtp.send(message).await?;
            }
            Transport::Files(dir) => {
                tokio::fs::create_dir_all(dir).await?;
                // Written under a temporary name, then renamed: a reader never sees half a message.
                let tmp = dir.join(format!(".{id}.eml.tmp"));
                tokio::fs::write(&tmp, message.formatted()).await?;
                tokio::fs::rename(&tmp, dir.join(format!("{id:08}.eml"))).await?;
            }
        }
        Ok(())
    }
}

/// Builds the MIME message: plain text and HTML alternatives, a Message-ID derived from the outbox
/// row (so a rare resend after a crash is recognisably the same message), and any extra headers.
pub fn build(from: &Mailbox, msg: &Claimed, host: &str) -> anyhow::Result<Message> {
    let to = Mailbox::new(
        (!msg.to_name.is_empty()).then(|| msg.to_name.clone()),
        msg.to_addr
            .parse()
            .map_err(|e| anyhow::anyhow!("recipient address: {e}"))?,
    );
    let mut builder = Message::builder()
        .from(from.clone())
        .to(to)
        .subject(msg.subject.clone())
        .message_id(Some(format!(
            "<outbox-{}-{}@{host}>",
            msg.id,
            msg.created_at.unix_timestamp()
        )));
    let headers: Vec<(String, String)> = serde_json::from_str(&msg.headers).unwrap_or_default();
    for (name, value) in headers {
        builder = builder.raw_header(HeaderValue::new(HeaderName::new_from_ascii(name)?, value));
    }
    Ok(builder.multipart(MultiPart::alternative_plain_html(
        msg.body_text.clone(),
        msg.body_html.clone(),
    ))?)
}
