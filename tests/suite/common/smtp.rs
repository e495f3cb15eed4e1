//! A small SMTP server for tests: speaks enough of the protocol for a real client (lettre) to
//! deliver to it, and keeps every message it accepts. [`SmtpSink::start_with_login`] makes one
//! that offers `AUTH PLAIN` and accepts only the given user and password (535 otherwise; 530 for a
//! message sent without logging in).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

#[derive(Clone, Debug)]
pub struct Received {
    pub from: String,
    pub to: Vec<String>,
    pub raw: String,
}

impl Received {
    fn parsed(&self) -> mailparse::ParsedMail<'_> {
        mailparse::parse_mail(self.raw.as_bytes()).expect("a parsable message")
    }

    pub fn header(&self, name: &str) -> Option<String> {
        use mailparse::MailHeaderMap;
        self.parsed().headers.get_first_value(name)
    }

    pub fn subject(&self) -> String {
        self.header("Subject").unwrap_or_default()
    }

    fn part(&self, mime: &str) -> Option<String> {
        fn find(mail: &mailparse::ParsedMail<'_>, mime: &str) -> Option<String> {
            if mail.subparts.is_empty() {
                return (mail.ctype.mimetype == mime).then(|| mail.get_body().unwrap_or_default());
            }
            mail.subparts.iter().find_map(|p| find(p, mime))
        }
        find(&self.parsed(), mime)
    }

    /// The decoded plain-text part.
    pub fn text(&self) -> String {
        self.part("text/plain").expect("a text/plain part")
    }

    /// The decoded HTML part.
    pub fn html(&self) -> String {
        self.part("text/html").expect("a text/html part")
    }

    /// The first URL in the text part that contains `needle`.
    pub fn link(&self, needle: &str) -> String {
        self.text()
            .split_whitespace()
            .find(|w| w.starts_with("http") && w.contains(needle))
            .unwrap_or_else(|| panic!("no link with '{needle}' in:\n{}", self.text()))
            .to_owned()
    }
}

pub struct SmtpSink {
    pub addr: SocketAddr,
    messages: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SmtpSink {
    pub async fn start() -> SmtpSink {
        Self::start_on("127.0.0.1:0".parse().expect("an address")).await
    }

    /// On `addr`: e.g. the port a hung server (a black hole) held until the test dropped it.
    pub async fn start_on(addr: SocketAddr) -> SmtpSink {
        Self::start_inner(addr, None).await
    }

    /// A sink that wants `AUTH PLAIN` with this user and password before it takes a message.
    pub async fn start_with_login(user: &str, password: &str) -> SmtpSink {
        let login = Some((user.to_owned(), password.to_owned()));
        Self::start_inner("127.0.0.1:0".parse().expect("an address"), login).await
    }

    async fn start_inner(addr: SocketAddr, login: Option<(String, String)>) -> SmtpSink {
        let listener = TcpListener::bind(addr).await.expect("bind smtp sink");
        let addr = listener.local_addr().expect("addr");
        let messages = Arc::new(Mutex::new(Vec::new()));
        let store = messages.clone();
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let store = store.clone();
                let login = login.clone();
                tokio::spawn(async move {
                    let _ = serve(socket, store, login).await;
                });
            }
        });
        SmtpSink { addr, messages, task }
    }

    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    pub fn all(&self) -> Vec<Received> {
        self.messages.lock().expect("lock").clone()
    }

    pub fn to(&self, address: &str) -> Vec<Received> {
        self.all()
            .into_iter()
            .filter(|m| m.to.iter().any(|t| t == address))
            .collect()
    }

    /// Waits (polling, with a deadline) for a message to `address` with a link containing
    /// `needle`, whatever else reached them first (the mail worker's lanes send in parallel, so
    /// two messages queued a moment apart may arrive in either order); the link.
    pub async fn wait_for_link(&self, address: &str, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let found = self.to(address).into_iter().find_map(|m| {
                m.text()
                    .split_whitespace()
                    .find(|w| w.starts_with("http") && w.contains(needle))
                    .map(str::to_owned)
            });
            if let Some(link) = found {
                return link;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for a '{needle}' link to {address}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits (polling, with a deadline) until `count` messages have reached `address`.
    pub async fn wait_for(&self, address: &str, count: usize) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let got = self.to(address);
            if got.len() >= count {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {count} email(s) to {address}; got {}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn serve(
    socket: tokio::net::TcpStream,
    store: Arc<Mutex<Vec<Received>>>,
    login: Option<(String, String)>,
) -> std::io::Result<()> {
    let mut logged_in = login.is_none();
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 sink.test ESMTP ready\r\n").await?;
    let (mut from, mut to) = (String::new(), Vec::new());
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let upper = line.to_ascii_uppercase();
        let reply: &[u8] = if upper.starts_with("EHLO") && login.is_some() {
            b"250-sink.test\r\n250-8BITMIME\r\n250-AUTH PLAIN\r\n250 SMTPUTF8\r\n"
        } else if upper.starts_with("EHLO") {
            b"250-sink.test\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n"
        } else if upper.starts_with("AUTH PLAIN") && login.is_some() {
            let mut answer = line[10..].trim().to_owned();
            if answer.is_empty() {
                write.write_all(b"334 \r\n").await?;
                line.clear();
                if lines.read_line(&mut line).await? == 0 {
                    return Ok(());
                }
                answer = line.trim().to_owned();
            }
            let (user, password) = login.clone().unwrap_or_default();
            if base64_decode(&answer) == format!("\0{user}\0{password}").into_bytes() {
                logged_in = true;
                b"235 2.7.0 Authentication successful\r\n"
            } else {
                b"535 5.7.8 Authentication credentials invalid\r\n"
            }
        } else if upper.starts_with("MAIL FROM:") && !logged_in {
            b"530 5.7.0 Authentication required\r\n"
        } else if upper.starts_with("HELO") {
            b"250 sink.test\r\n"
        } else if upper.starts_with("MAIL FROM:") {
            from = address(&line);
            to.clear();
            b"250 OK\r\n"
        } else if upper.starts_with("RCPT TO:") {
            to.push(address(&line));
            b"250 OK\r\n"
        } else if upper.starts_with("DATA") {
            write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await?;
            let mut raw = String::new();
            loop {
                line.clear();
                if lines.read_line(&mut line).await? == 0 {
                    return Ok(());
                }
                if line == ".\r\n" || line == ".\n" {
                    break;
                }
                raw.push_str(line.strip_prefix('.').unwrap_or(&line));
            }
            store.lock().expect("lock").push(Received {
                from: from.clone(),
                to: std::mem::take(&mut to),
                raw,
            });
            b"250 OK queued\r\n"
        } else if upper.starts_with("QUIT") {
            write.write_all(b"221 bye\r\n").await?;
            return Ok(());
        } else if upper.starts_with("RSET") || upper.starts_with("NOOP") {
            b"250 OK\r\n"
        } else {
            b"502 not implemented\r\n"
        };
        write.write_all(reply).await?;
    }
}

fn address(line: &str) -> String {
    let start = line.find('<').map_or(0, |i| i + 1);
    let end = line[start..].find('>').map_or(line.len(), |i| start + i);
    line[start..end].trim().to_lowercase()
}

/// Standard base64 (with or without padding); characters outside the alphabet are skipped.
fn base64_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes() {
        let Some(v) = ALPHABET.iter().position(|&a| a == c) else {
            continue;
        };
        acc = (acc << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}
