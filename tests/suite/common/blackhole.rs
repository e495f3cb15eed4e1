//! A server that accepts connections, reads whatever it is sent, and never answers: what a
//! hung Stripe or SMTP server looks like from our side (the TCP connection opens, then nothing).
//!
//! Point `STRIPE_API_BASE` or `SMTP_URL` at [`BlackHole::start`]'s address, or take over the
//! port of a stopped server with [`BlackHole::on`] (then [`BlackHole::close`] it and bring the
//! server back on the same port: "it answers again"). Closing or dropping the hole closes its
//! port and every connection it holds. What each connection sent is kept, so a test can read the request that got no
//! answer (its `Idempotency-Key`, say).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

pub struct BlackHole {
    pub addr: SocketAddr,
    /// The bytes received, one entry per connection, in the order they were accepted.
    received: Arc<Mutex<Vec<Vec<u8>>>>,
    task: Option<JoinHandle<()>>,
}

impl Drop for BlackHole {
    fn drop(&mut self) {
        // The accept task owns the connections (a JoinSet): aborting it closes them all.
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

impl BlackHole {
    /// On a free port of 127.0.0.1.
    pub async fn start() -> BlackHole {
        Self::on("127.0.0.1:0".parse().expect("an address")).await
    }

    /// On `addr` (e.g. the port of a server a test just stopped).
    pub async fn on(addr: SocketAddr) -> BlackHole {
        let listener = TcpListener::bind(addr).await.expect("bind the black hole");
        let addr = listener.local_addr().expect("the black hole's address");
        let received: Arc<Mutex<Vec<Vec<u8>>>> = Arc::new(Mutex::new(Vec::new()));
        let log = received.clone();
        let task = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            while let Ok((mut socket, _)) = listener.accept().await {
                let index = {
                    let mut log = log.lock().expect("lock");
                    log.push(Vec::new());
                    log.len() - 1
                };
                let log = log.clone();
                connections.spawn(async move {
                    let mut buf = [0u8; 4096];
                    // Read until the other side gives up; never write a byte.
                    while let Ok(n) = socket.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        log.lock().expect("lock")[index].extend_from_slice(&buf[..n]);
                    }
                });
            }
        });
        BlackHole {
            addr,
            received,
            task: Some(task),
        }
    }

    /// Closes the port and every connection, and returns once they are gone, so the port can be
    /// bound again at once (dropping the hole only starts that).
    pub async fn close(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }

    /// `http://ADDR/`, for `STRIPE_API_BASE`.
    pub fn http_url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// `smtp://ADDR`, for `SMTP_URL`.
    pub fn smtp_url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    /// How many connections it has accepted.
    pub fn connections(&self) -> usize {
        self.received.lock().expect("lock").len()
    }

    /// What each connection sent (lossy UTF-8), in the order they were accepted.
    pub fn received(&self) -> Vec<String> {
        self.received
            .lock()
            .expect("lock")
            .iter()
            .map(|bytes| String::from_utf8_lossy(bytes).into_owned())
            .collect()
    }

    /// Waits (polling, with a deadline) until a connection has sent something containing
    /// `needle`; returns what that connection sent.
    pub async fn wait_for(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(sent) = self.received().into_iter().find(|s| s.contains(needle)) {
                return sent;
            }
            assert!(
                Instant::now() < deadline,
                "nothing containing {needle:?} reached the black hole; got {:?}",
                self.received()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits (polling, with a deadline) until `n` connections have been accepted.
    pub async fn wait_for_connections(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while self.connections() < n {
            assert!(
                Instant::now() < deadline,
                "the black hole saw {} connection(s), not {n}",
                self.connections()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The value of `name` among the headers of an HTTP request as sent on the wire (any case).
pub fn http_header(request: &str, name: &str) -> Option<String> {
    let head = request.split("\r\n\r\n").next()?;
    head.lines().skip(1).find_map(|line| {
        let (k, v) = line.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
    })
}
