//! Start-up and shutdown: connect, migrate, import into an empty database, serve until a signal.

use std::time::Duration;

use tokio::net::TcpListener;

use crate::config::Config;
use crate::content;
use crate::db::Db;
use crate::web::sessions::Store;
use crate::web::{AppState, router};

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
    Ok(db)
}

/// Runs the web server and its background tasks until Ctrl-C or SIGTERM; in-flight requests finish.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let db = prepare(&config).await?;
    let listener = TcpListener::bind(config.addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {} (LEARNWELL_ADDR): {e}", config.addr))?;
    let state = AppState::new(config, db).await?;
    let background = spawn_background(&state);
    tracing::info!(
        "Learnwell is serving {} at {} (listening on {})",
        state.catalog().site.name,
        state.config.base_url,
        listener.local_addr()?
    );
    axum::serve(
        listener,
        router::app(state.clone()).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await?;
    for task in background {
        task.abort();
    }
    state.db.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// The background work of a running app: catalogue refresh, mail delivery, scheduled jobs
/// (launches, purging unconfirmed pre-enrollments), expired-session purge.
/// The tests start the same tasks.
pub fn spawn_background(state: &AppState) -> Vec<tokio::task::JoinHandle<()>> {
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

async fn follow_content_changes(state: AppState) {
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
