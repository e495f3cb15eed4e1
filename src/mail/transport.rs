//! Where messages go: an SMTP server (`SMTP_URL`), or `.eml` files in `DATA_DIR/outbox/`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::store::Claimed;

pub enum Transport {
    /// Each message on a fresh connection (lettre's pool is off), bounded by `timeout` as a whole:
    /// lettre's own timeout covers connecting only, and a server that accepts and then says
    /// nothing would otherwise hold the worker forever.
    Smtp {
        smtp: AsyncSmtpTransport<Tokio1Executor>,
        timeout: Duration,
    },
    Files(PathBuf),
}

impl Transport {
    pub fn from_config(
        smtp_url: Option<&str>,
        data_dir: &std::path::Path,
        timeout: Duration,
    ) -> anyhow::Result<Transport> {
        match smtp_url {
            Some(url) => Ok(Transport::Smtp {
                smtp: AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|e| anyhow::anyhow!("SMTP_URL: {e}"))?
                    .timeout(Some(timeout))
                    .build(),
                timeout,
            }),
            None => Ok(Transport::Files(data_dir.join("outbox"))),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Transport::Smtp { .. } => "SMTP".to_owned(),
            Transport::Files(dir) => format!(".eml files in {}", dir.display()),
        }
    }

    pub async fn send(&self, id: i64, message: Message) -> anyhow::Result<()> {
        match self {
            Transport::Smtp { smtp, timeout } => {
                tokio::time::timeout(*timeout, smtp.send(message))
                    .await
                    .map_err(|_| anyhow::anyhow!("the SMTP server did not answer within {} s", timeout.as_secs()))??;
            }
            Transport::Files(dir) => {
                write_eml(dir, id, &message.formatted()).await?;
            }
        }
        Ok(())
    }
}

/// Writes `NNNNNNNN.eml` (the outbox id), never over an existing file: a name already taken (by
/// a database restored from an older backup, or another database writing to the same folder)
/// gets `-2`, `-3`, …. Written under a temporary name first and then linked into place, so a
/// reader never sees half a message and the final step cannot replace anything.
async fn write_eml(dir: &Path, id: i64, bytes: &[u8]) -> anyhow::Result<PathBuf> {
    tokio::fs::create_dir_all(dir).await?;
    let tmp = dir.join(format!(".{id}-{}.eml.tmp", uuid::Uuid::new_v4().simple()));
    tokio::fs::write(&tmp, bytes).await?;
    let placed = place_without_replacing(&tmp, dir, id).await;
    // The temporary name goes either way (after a link, the message lives on under its own name).
    let _ = tokio::fs::remove_file(&tmp).await;
    placed
}

async fn place_without_replacing(tmp: &Path, dir: &Path, id: i64) -> anyhow::Result<PathBuf> {
    for n in 1..=1000 {
        let name = if n == 1 {
            format!("{id:08}.eml")
        } else {
            format!("{id:08}-{n}.eml")
        };
        let path = dir.join(name);
        match tokio::fs::hard_link(tmp, &path).await {
            Ok(()) => return Ok(path),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            // A file system without hard links: copy, still refusing to replace a file.
            Err(_) => match tokio::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .await
            {
                Ok(mut file) => {
                    use tokio::io::AsyncWriteExt;
                    file.write_all(&tokio::fs::read(tmp).await?).await?;
                    file.sync_all().await?;
                    return Ok(path);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e.into()),
            },
        }
    }
    anyhow::bail!("no free .eml name for outbox message {id} in {}", dir.display())
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
    let headers: Vec<(String, String)> = crate::db::json_column(&msg.headers, "outbox.headers")?;
    for (name, value) in headers {
        builder = builder.raw_header(HeaderValue::new(HeaderName::new_from_ascii(name)?, value));
    }
    Ok(builder.multipart(MultiPart::alternative_plain_html(
        msg.body_text.clone(),
        msg.body_html.clone(),
    ))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_eml_name_is_never_taken_twice() {
        let dir = tempfile::tempdir().unwrap();
        let a = write_eml(dir.path(), 7, b"first").await.unwrap();
        let b = write_eml(dir.path(), 7, b"second").await.unwrap();
        let c = write_eml(dir.path(), 7, b"third").await.unwrap();
        let names: Vec<_> = [&a, &b, &c]
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["00000007.eml", "00000007-2.eml", "00000007-3.eml"]);
        assert_eq!(std::fs::read(&a).unwrap(), b"first");
        assert_eq!(std::fs::read(&c).unwrap(), b"third");
        // Only the messages remain: no temporary files.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 3);
    }
}
