//! Start-up and shutdown: connect, migrate, import into an empty database, serve until a signal.

use std::time::Duration;

use tokio::net::TcpListener;

use crate::config::Config;
use crate::content;
use crate::db::Db;
use crate::web::{AppState, router};

/// Connects and migrates; on a database with no programs yet, imports `CONTENT_DIR`.
pub async fn prepare(config: &Config) -> anyhow::Result<Db> {
    let db = Db::connect(&config.database_url, &config.database_kind).await?;
    db.migrate().await?;
    if content::is_empty(&db).await? {
        let report = content::import(&db, &config.content_dir).await?;
        tracing::info!(
            "imported {} into an empty database: {}",
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
    let background = tokio::spawn(refresh_site_settings(state.clone()));
    tracing::info!(
        "Learnwell is serving {} at {} (listening on {})",
        state.site().name,
        state.config.base_url,
        listener.local_addr()?
    );
    axum::serve(listener, router::app(state.clone()))
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    background.abort();
    state.db.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Site settings are cached in memory; an import run by another process is picked up within a minute.
async fn refresh_site_settings(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    tick.tick().await;
    loop {
        tick.tick().await;
        if let Err(e) = state.refresh_site().await {
            tracing::warn!(error = %e, "could not refresh the site settings");
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
