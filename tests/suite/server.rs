//! The `learnwell` binary under launch-day pressure, measured from outside: memory across many
//! password hashes and slow downloads, the connection cap, the header timeout, and a shutdown that
//! no slow client can hold up. Bounds, not timings: resident memory from /proc, and deadlines on
//! things that must happen.

use crate::common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::fixture::Fixture;

const PW: &str = "correct horse battery staple";

/// A running server on a temp SQLite database (or `TEST_DATABASE_URL`'s PostgreSQL).
struct Server {
    child: Child,
    addr: SocketAddr,
    dir: tempfile::TempDir,
    _db: Option<common::TestDb>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

fn base_command(dir: &Path, database_url: &str, content: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_learnwell"));
    cmd.current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "info")
        .env("DATABASE_URL", database_url)
        .env("CONTENT_DIR", content)
        .env("DATA_DIR", dir.join("data"))
        // As deploy/learnwell.service runs it: the allocator hands freed memory back at once.
        .env("MIMALLOC_PURGE_DELAY", "0")
        .env("MIMALLOC_ARENA_EAGER_COMMIT", "0")
        .stdin(Stdio::null());
    cmd
}

impl Server {
    async fn start(backend: &common::Backend, content: &Path, env: &[(&str, &str)]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let db = common::TestDb::create(backend, dir.path()).await;
        let addr = free_addr();
        let mut cmd = base_command(dir.path(), &db.url, content);
        cmd.env("LEARNWELL_ADDR", addr.to_string())
            .env("BASE_URL", format!("http://{addr}"))
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        // Keep draining the log so the server never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("Learnwell is serving") {
                    let _ = ready_tx.send(());
                }
            }
        });
        ready_rx
            .recv_timeout(Duration::from_secs(120))
            .expect("the server did not start");
        Server {
            child,
            addr,
            dir,
            _db: Some(db),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Resident memory, from /proc (KiB).
    fn rss_kib(&self) -> u64 {
        rss_kib(self.child.id()).expect("the server's /proc status")
    }

    fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit, up to `deadline`; its exit code.
    fn wait_exit(&mut self, deadline: Duration) -> Option<i32> {
        let until = Instant::now() + deadline;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            assert!(Instant::now() < until, "the server did not exit within {deadline:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A process's resident memory, from /proc (KiB).
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn post(server: &Server, client: &reqwest::Client, path: &str, form: &[(&str, &str)]) -> reqwest::StatusCode {
    client
        .post(server.url(path))
        .header("Origin", format!("http://{}", server.addr))
        .form(form)
        .send()
        .await
        .unwrap()
        .status()
}

both_backends!(memory_stays_flat_across_hundreds_of_password_hashes);

/// 50 sign-ups and log-ins, then 450 more, 16 at a time: resident memory once settled after both
/// differs by less than 10% and stays under 96 MiB (each argon2 hash needs 19 MiB; they used to
/// pile up), and once nobody is logging in, the hashing block is given back.
async fn memory_stays_flat_across_hundreds_of_password_hashes(backend: common::Backend) {
    let fx = Fixture::new();
    let server = Server::start(&backend, fx.path(), &[("AUTH_RATE_LIMIT", "100000")]).await;
    let run = |from: usize, to: usize| {
        let server = &server;
        async move {
            let ids: Vec<usize> = (from..to).collect();
            for chunk in ids.chunks(16) {
                let mut tasks = Vec::new();
                for &i in chunk {
                    let url = server.url("");
                    let origin = format!("http://{}", server.addr);
                    tasks.push(tokio::spawn(async move {
                        let c = client();
                        let email = format!("student{i}@example.com");
                        // The first sixteen sign up; then even numbers sign up and odd numbers log
                        // in to an account made in the round before.
                        let (path, form) = if i < 16 || i % 2 == 0 {
                            (
                                "/signup",
                                vec![("name", "A Student"), ("email", email.as_str()), ("password", PW)],
                            )
                        } else {
                            let before = format!("student{}@example.com", i - 17);
                            let res = c
                                .post(format!("{url}/login"))
                                .header("Origin", &origin)
                                .form(&[("email", before.as_str()), ("password", PW)])
                                .send()
                                .await
                                .unwrap();
                            return res.status();
                        };
                        c.post(format!("{url}{path}"))
                            .header("Origin", &origin)
                            .form(&form)
                            .send()
                            .await
                            .unwrap()
                            .status()
                    }));
                }
                for task in tasks {
                    // A sign-up answers "check your email" (200); a log-in redirects (303).
                    let status = task.await.unwrap();
                    assert!(
                        matches!(status, reqwest::StatusCode::OK | reqwest::StatusCode::SEE_OTHER),
                        "{status}"
                    );
                }
            }
        }
    };
    // Resident memory once it has settled (no log-in waiting: the hashing block given back).
    let settled = || async {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        let mut last = server.rss_kib();
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            let now = server.rss_kib();
            if now.abs_diff(last) <= last / 200 || std::time::Instant::now() > deadline {
                return now;
            }
            last = now;
        }
    };
    run(0, 50).await;
    let after_50 = settled().await;
    // The most memory held while the 450 are hashed, sampled as they run.
    let busy = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let sampler = {
        let (busy, pid) = (busy.clone(), server.child.id());
        tokio::spawn(async move {
            loop {
                busy.fetch_max(rss_kib(pid).unwrap_or(0), std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        })
    };
    run(50, 500).await;
    sampler.abort();
    let during = busy.load(std::sync::atomic::Ordering::Relaxed);
    let after_500 = settled().await;
    eprintln!("RSS after 50 hashes: {after_50} KiB; during 450 more: up to {during} KiB; after: {after_500} KiB");
    let diff = after_500.abs_diff(after_50) as f64 / after_50 as f64;
    assert!(
        diff < 0.10,
        "RSS moved {:.1}% ({after_50} → {after_500} KiB)",
        diff * 100.0
    );
    assert!(after_500 <= 96 * 1024, "RSS {after_500} KiB is over 96 MiB");
    // Nobody is logging in now: the 19 MiB block went back to the system.
    assert!(
        after_500 + 12 * 1024 <= during,
        "the hashing block was not given back: {after_500} KiB idle, {during} KiB while hashing"
    );
}

/// Every accepted value works: the rate limit's whole range used to include values (60001 and up)
/// that passed validation and then panicked at start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_edges_of_every_accepted_setting_start_and_serve() {
    let fx = Fixture::new();
    for env in [
        [
            ("AUTH_RATE_LIMIT", "1"),
            ("SHUTDOWN_GRACE", "0"),
            ("MAX_CONNECTIONS", "16"),
        ],
        [
            ("AUTH_RATE_LIMIT", "60001"),
            ("SHUTDOWN_GRACE", "3600"),
            ("MAX_CONNECTIONS", "100000"),
        ],
        [
            ("AUTH_RATE_LIMIT", "100000"),
            ("TRUSTED_PROXIES", "127.0.0.1, ::1, 10.0.0.0/8"),
            ("MAX_CONNECTIONS", "512"),
        ],
    ] {
        let mut server = Server::start(&common::Backend::Sqlite, fx.path(), &env).await;
        let res = reqwest::get(server.url("/healthz")).await.unwrap();
        assert!(res.status().is_success(), "{env:?}");
        let res = client()
            .post(server.url("/login"))
            .header("Origin", format!("http://{}", server.addr))
            .form(&[("email", "a@example.com"), ("password", "x")])
            .send()
            .await
            .unwrap();
        assert_eq!(
            res.status(),
            reqwest::StatusCode::UNAUTHORIZED,
            "{env:?}: the rate-limited form works"
        );
        server.terminate();
        assert_eq!(server.wait_exit(Duration::from_secs(30)), Some(0), "{env:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_sent_request_cannot_hold_up_shutdown() {
    let fx = Fixture::new();
    let mut server = Server::start(&common::Backend::Sqlite, fx.path(), &[("SHUTDOWN_GRACE", "2")]).await;
    // A client that starts a request header and never finishes it.
    let mut stalled = TcpStream::connect(server.addr).unwrap();
    stalled.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
    // A form post whose body is still arriving when the signal comes: it must still be answered.
    let body = "email=a%40example.com&password=nothing+at+all";
    let mut slow = TcpStream::connect(server.addr).unwrap();
    write!(
        slow,
        "POST /login HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
        server.addr,
        body.len(),
        &body[..10]
    )
    .unwrap();
    // The request is in flight once the server has read its head: a health check on a fresh
    // connection after it makes sure the server is running and accepting.
    assert!(
        reqwest::get(server.url("/healthz"))
            .await
            .unwrap()
            .status()
            .is_success()
    );
    server.terminate();
    slow.write_all(&body.as_bytes()[10..]).unwrap();
    let mut answer = String::new();
    slow.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    slow.read_to_string(&mut answer).unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 401"),
        "the request in flight was answered: {answer:.80}"
    );
    // Exit 0 within the 2 s grace (well before the 10 s header timeout would have closed it).
    assert_eq!(server.wait_exit(Duration::from_secs(8)), Some(0));
    // And the stalled client was let go.
    stalled.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 64];
    assert!(matches!(stalled.read(&mut buf), Ok(0) | Err(_)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_capped_and_silent_ones_are_closed() {
    let fx = Fixture::new();
    let server = Server::start(&common::Backend::Sqlite, fx.path(), &[("MAX_CONNECTIONS", "16")]).await;
    // Sixteen connections that never send a byte take every slot...
    let silent: Vec<TcpStream> = (0..16).map(|_| TcpStream::connect(server.addr).unwrap()).collect();
    for s in &silent {
        s.set_nonblocking(true).unwrap();
    }
    // ...so a seventeenth visitor waits until the header timeout frees one.
    let answered = reqwest::get(server.url("/healthz")).await.unwrap();
    assert!(answered.status().is_success());
    let closed = silent
        .iter()
        .filter(|s| {
            let mut buf = [0u8; 8];
            matches!((&**s).read(&mut buf), Ok(0))
        })
        .count();
    assert!(
        closed >= 1,
        "the 17th request was only served once the server closed a silent connection"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_slow_readers_of_a_10_mb_download_cost_little_memory() {
    let fx = Fixture::new();
    let server = Server::start(&common::Backend::Sqlite, fx.path(), &[("AUTH_RATE_LIMIT", "100000")]).await;
    // An instructor, as an operator makes one.
    let mut add = base_command(server.dir.path(), &server._db.as_ref().unwrap().url, fx.path())
        .args(["instructor", "add", "--email", "maya@example.com", "--name", "Maya"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    add.stdin
        .take()
        .unwrap()
        .write_all(format!("{PW}\n").as_bytes())
        .unwrap();
    assert!(add.wait().unwrap().success());
    let maya = client();
    assert_eq!(
        post(
            &server,
            &maya,
            "/login",
            &[("email", "maya@example.com"), ("password", PW)]
        )
        .await,
        reqwest::StatusCode::SEE_OTHER
    );
    let db_url = server._db.as_ref().unwrap().url.clone();
    let pool = sqlx::SqlitePool::connect(&db_url).await.unwrap();
    let lesson: i64 = sqlx::query_scalar("SELECT id FROM lessons WHERE slug = 'basics'")
        .fetch_one(&pool)
        .await
        .unwrap();
    let mut big = b"%PDF-1.7\n".to_vec();
    big.resize(10 * 1024 * 1024, b'x');
    let form = reqwest::multipart::Form::new()
        .text("title", "The big workbook")
        .part("file", reqwest::multipart::Part::bytes(big).file_name("big.pdf"));
    let res = maya
        .post(server.url(&format!("/admin/courses/alpha/lessons/{lesson}/downloads")))
        .header("Origin", format!("http://{}", server.addr))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), reqwest::StatusCode::SEE_OTHER);
    let session = {
        // The session cookie, to send by hand on raw connections.
        let res = client()
            .post(server.url("/login"))
            .header("Origin", format!("http://{}", server.addr))
            .form(&[("email", "maya@example.com"), ("password", PW)])
            .send()
            .await
            .unwrap();
        res.headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with("learnwell_session="))
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned()
    };
    let before = server.rss_kib();
    let path = "/courses/alpha/lessons/basics/downloads/big.pdf";
    let mut readers = Vec::new();
    for _ in 0..100 {
        let mut s = TcpStream::connect(server.addr).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: {}\r\nCookie: {session}\r\n\r\n",
            server.addr
        )
        .unwrap();
        // Read only the status line: the server has started answering, then the reader stalls.
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let mut line = [0u8; 12];
        s.read_exact(&mut line).unwrap();
        assert_eq!(&line, b"HTTP/1.1 200");
        readers.push(s);
    }
    let during = server.rss_kib();
    eprintln!("RSS before: {before} KiB; with 100 stalled readers of 10 MB: {during} KiB");
    assert!(
        during < before + 32 * 1024,
        "100 stalled downloads of a 10 MB file grew memory from {before} to {during} KiB"
    );
}
