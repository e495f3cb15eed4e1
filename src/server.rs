//! Start-up and shutdown: connect, migrate, import into an empty database, serve until a signal.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use crate::app::AppState;
use crate::config::Config;
use crate::content;
use crate::context::Ctx;
use crate::db::Db;
use crate::web::sessions::Store;

/// Connects and migrates; on a database with no programs yet, imports `CONTENT_DIR`.
pub async fn prepare(config: &Config) -> anyhow::Result<Db> {
    let db = Db::connect(&config.database_url, &config.database_kind).await?;
    db.migrate().await?;
    Store::new(&db).migrate().await?;
    if content::is_empty(&db).await? {
        let report = content::import(&db, &config.content_dir).await?;
        tracing::info!(
            "imported {} into an empty database: {}",
            config.content_dir.display(),
            report.to_string().lines().last().unwrap_or_default()
        );
    } else if content::lacks_markdown_sources(&db).await? {
        // A database from before the studio holds rendered HTML only; the studio edits (and
        // `content export` writes) the Markdown. Nothing could have been edited in the studio
        // yet, so reading the files again fills it in and changes nothing else.
        let report = content::import(&db, &config.content_dir).await?;
        tracing::info!(
            "read the Markdown sources from {} for the studio: {}",
            config.content_dir.display(),
            report.to_string().lines().last().unwrap_or_default()
        );
    }
    // Files a Learnwell that kept uploads on disk left there: into the database, once.
    let adopted = crate::files::adopt_from_disk(&db, &config.content_dir, crate::clock::Clock::default().now()).await?;
    if adopted > 0 {
        tracing::info!(
            "copied {adopted} program files from {} into the database",
            config.content_dir.display()
        );
    }
    Ok(db)
}

/// Runs the web server and its background tasks until Ctrl-C or SIGTERM; in-flight requests finish.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let db = prepare(&config).await?;
    let listener = TcpListener::bind(config.addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {} (LEARNWELL_ADDR): {e}", config.addr))?;
    let metrics_listener = match config.metrics_addr {
        Some(addr) => Some(
            TcpListener::bind(addr)
                .await
                .map_err(|e| anyhow::anyhow!("cannot listen on {addr} (METRICS_ADDR): {e}"))?,
        ),
        None => None,
    };
    let state = AppState::new(config, db).await?;
    let mut background = spawn_background(&state);
    if let Some(listener) = metrics_listener {
        tracing::info!("metrics at http://{}/metrics", listener.local_addr()?);
        background.push(tokio::spawn(serve_metrics(listener, state.ctx().clone())));
    }
    tracing::info!(
        "Learnwell is serving {} at {} (listening on {})",
        state.catalog().site.name,
        state.config.base_url,
        listener.local_addr()?
    );
    let limits = Limits::from_config(&state.config);
    serve_on(listener, crate::app::app(state.clone()), limits, shutdown_signal()).await;
    for task in background {
        task.abort();
    }
    state.db.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Serves `/metrics` (and nothing else) on its own listener, apart from the public site.
pub async fn serve_metrics(listener: TcpListener, state: Ctx) {
    crate::telemetry::handle();
    if let Err(e) = axum::serve(listener, crate::telemetry::router(state)).await {
        tracing::error!(error = %e, "metrics listener stopped");
    }
}

/// How connections are bounded. A slow or silent client costs one slot for a bounded time.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// A connection must send a whole request header within this long, whether it is new or has
    /// been idle since its last response (hyper's header timer also runs while a keep-alive
    /// connection waits for its next request, so this is the idle keep-alive timeout too).
    pub header_read: Duration,
    /// A response whose client stops reading is abandoned after this long without progress.
    pub write_stall: Duration,
    /// Connections served at once; further ones wait in the listen queue.
    pub max_connections: usize,
    /// After the shutdown signal, requests in flight get this long; then the process goes on
    /// without them.
    pub grace: Duration,
}

/// Header read / idle keep-alive timeout. Reverse proxies keeping idle connections to us should
/// close them sooner (the shipped Caddy and nginx examples use 5 s).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// A download to a client that reads nothing for this long is cut off.
pub const WRITE_STALL_TIMEOUT: Duration = Duration::from_secs(60);

impl Limits {
    pub fn from_config(config: &Config) -> Limits {
        Limits {
            header_read: HEADER_READ_TIMEOUT,
            write_stall: WRITE_STALL_TIMEOUT,
            max_connections: config.max_connections,
            grace: config.shutdown_grace,
        }
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then stops accepting, lets requests in
/// flight finish (idle connections close at once), and returns after at most `limits.grace`.
pub async fn serve_on(listener: TcpListener, app: Router, limits: Limits, shutdown: impl Future<Output = ()>) {
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read)
        // What a connection may buffer: hyper's default (~400 KiB) times a hundred slow readers of
        // a download was 40 MiB; 64 KiB still holds any sane request header.
        .max_buf_size(64 * 1024)
        .keep_alive(true);
    tokio::pin!(shutdown);
    let mut full_logged = false;
    loop {
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                if !full_logged {
                    tracing::warn!(
                        limit = limits.max_connections,
                        "connection limit reached: new connections wait"
                    );
                    full_logged = true;
                }
                tokio::select! {
                    slot = slots.clone().acquire_owned() => match slot {
                        Ok(slot) => slot,
                        Err(_) => break,
                    },
                    () = &mut shutdown => break,
                }
            }
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: pause instead of spinning.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        full_logged = false;
        let _ = stream.set_nodelay(true);
        let service = tower::ServiceExt::map_request(app.clone(), move |mut req: axum::extract::Request<_>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            req
        });
        let io = TokioIo::new(StallGuard::new(stream, limits.write_stall));
        let conn = graceful.watch(http.serve_connection(io, TowerToHyperService::new(service)));
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    let open = graceful.count();
    if open > 0 {
        tracing::info!(connections = open, "waiting for requests in flight");
    }
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(limits.grace) => {
            tracing::warn!(grace_s = limits.grace.as_secs(), "requests still in flight after the grace period: stopping anyway");
        }
    }
}

/// A TCP stream whose writes give up after `limit` without progress, so a client that stops
/// reading (or a hundred of them) cannot hold a response, its buffers and its slot forever.
struct StallGuard {
    stream: TcpStream,
    limit: Duration,
    stalled_since: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl StallGuard {
    fn new(stream: TcpStream, limit: Duration) -> StallGuard {
        StallGuard {
            stream,
            limit,
            stalled_since: None,
        }
    }

    /// Called when a write could not progress: arms the timer once, and fails when it has run out.
    fn check_stall(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Error> {
        let limit = self.limit;
        let timer = self
            .stalled_since
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the client stopped reading",
            )),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncRead for StallGuard {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for StallGuard {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        match Pin::new(&mut self.stream).poll_write(cx, buf) {
            Poll::Pending => self.check_stall(cx).map(Err),
            ready => {
                self.stalled_since = None;
                ready
            }
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        match Pin::new(&mut self.stream).poll_write_vectored(cx, bufs) {
            Poll::Pending => self.check_stall(cx).map(Err),
            ready => {
                self.stalled_since = None;
                ready
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match Pin::new(&mut self.stream).poll_flush(cx) {
            Poll::Pending => self.check_stall(cx).map(Err),
            ready => {
                self.stalled_since = None;
                ready
            }
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// The background work of a running app: catalogue refresh, mail delivery, scheduled jobs
/// (launches, purging unconfirmed pre-enrollments), expired-session purge.
/// The tests start the same tasks.
pub fn spawn_background(state: &Ctx) -> Vec<tokio::task::JoinHandle<()>> {
    let sessions = Store::new(&state.db);
    vec![
        tokio::spawn(follow_content_changes(state.clone())),
        tokio::spawn(crate::mail::worker::run(state.clone())),
        tokio::spawn(crate::jobs::run(state.clone())),
        tokio::spawn(async move {
            use tower_sessions::session_store::ExpiredDeletion;
            if let Err(e) = sessions.continuously_delete_expired(Duration::from_secs(3600)).await {
                tracing::error!(error = %e, "expired-session purge stopped");
            }
        }),
    ]
}

/// The catalogue is kept in memory; a change made by an import or another instance is picked up
/// within [`CONTENT_POLL`].
pub const CONTENT_POLL: Duration = Duration::from_secs(2);

async fn follow_content_changes(state: Ctx) {
    let mut tick = tokio::time::interval(CONTENT_POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match state.refresh_catalog().await {
            Ok(true) => tracing::info!(version = state.catalog().version, "content changed: catalogue reloaded"),
            Ok(false) => {}
            Err(e) => tracing::warn!(error = format!("{e:#}"), "could not check for content changes"),
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sig) => {
                sig.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
