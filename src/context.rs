//! What every handler and every domain function can reach: the configuration, the database, the
//! clock, the catalogue snapshot, the templates, the outside services and the workers' wake-ups.
//! Built once by the composition root (`app.rs`); cheap to clone. Handlers take `State<Ctx>`.

use std::sync::{Arc, RwLock};

use crate::catalog::Catalog;
use crate::clock::Clock;
use crate::config::Config;
use crate::db::Db;
use crate::web::{Assets, Templates};

/// What every handler and domain function can reach. Cheap to clone.
#[derive(Clone)]
pub struct Ctx(Arc<Inner>);

pub struct Inner {
    pub config: Config,
    pub db: Db,
    /// The busiest reads, on SQLite on the request's own thread (see [`crate::db::Reads`]).
    pub reads: crate::db::Reads,
    pub templates: Templates,
    pub clock: Clock,
    /// Wakes the mail worker when a message was queued (it also polls).
    pub mail_wakeup: tokio::sync::Notify,
    /// Wakes the scheduler (scheduled launches) before its next tick.
    pub jobs_wakeup: tokio::sync::Notify,
    /// Stripe, when its keys are set; `None` is test mode (the built-in test checkout).
    pub stripe: Option<crate::payments::stripe_api::Gateway>,
    /// When the background workers last showed they are alive (`/readyz`, job lag).
    pub heartbeats: crate::telemetry::Heartbeats,
    catalog: RwLock<Arc<Catalog>>,
    refreshing: tokio::sync::Mutex<()>,
}

impl std::ops::Deref for Ctx {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl Ctx {
    /// Builds the state on a migrated database that holds the site settings (run an import first).
    pub async fn new(config: Config, db: Db) -> anyhow::Result<Ctx> {
        let catalog = Catalog::load(&db).await?;
        let templates = Templates::new(Arc::new(Assets::load()));
        // rustls arrives through several crates with different crypto backends enabled; with more
        // than one, it cannot choose by itself and the first TLS connection (Stripe) would panic.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let stripe = match &config.stripe {
            Some(keys) => {
                let mut gateway = crate::payments::stripe_api::Gateway::new(
                    &keys.secret_key,
                    &keys.webhook_secret,
                    config.stripe_api_base.as_deref(),
                    config.stripe_timeout,
                )?;
                gateway.automatic_tax = config.stripe_automatic_tax;
                Some(gateway)
            }
            None => None,
        };
        Ok(Ctx(Arc::new(Inner {
            config,
            reads: crate::db::Reads::new(&db),
            db,
            templates,
            clock: Clock::default(),
            mail_wakeup: tokio::sync::Notify::new(),
            jobs_wakeup: tokio::sync::Notify::new(),
            stripe,
            heartbeats: crate::telemetry::Heartbeats::default(),
            catalog: RwLock::new(Arc::new(catalog)),
            refreshing: tokio::sync::Mutex::new(()),
        })))
    }

    /// The catalogue snapshot (see [`Catalog`]): cheap, no database access.
    pub fn catalog(&self) -> Arc<Catalog> {
        match self.catalog.read() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Reloads the catalogue when the content version moved (an import or an edit, possibly by
    /// another process or instance). Returns whether it reloaded.
    pub async fn refresh_catalog(&self) -> anyhow::Result<bool> {
        // One refresh at a time, so an older load never replaces a newer one.
        let _guard = self.refreshing.lock().await;
        let version = crate::catalog::store::content_version(&self.db).await?;
        if version == self.catalog().version {
            return Ok(false);
        }
        // Any difference counts (a restored database may go back in version).
        let fresh = Arc::new(Catalog::load(&self.db).await?);
        let mut slot = match self.catalog.write() {
            Ok(slot) => slot,
            Err(poisoned) => poisoned.into_inner(),
        };
        *slot = fresh;
        Ok(true)
    }

    /// Renders a page with what every page needs (the site, the test-mode flag) merged in.
    pub fn render_string(&self, name: &str, ctx: minijinja::Value) -> Result<String, minijinja::Error> {
        self.render_with(&self.catalog(), name, ctx)
    }

    /// Renders with the site of a given snapshot (a handler that already holds one uses it, so a
    /// page never mixes two versions of the content).
    pub fn render_with(
        &self,
        catalog: &Catalog,
        name: &str,
        ctx: minijinja::Value,
    ) -> Result<String, minijinja::Error> {
        self.render_parts(catalog, name, [ctx])
    }

    /// Renders with several context maps, later ones winning, merged once: a template's every
    /// name lookup walks the merged maps, so one flat merge is cheaper than merges of merges.
    pub fn render_parts(
        &self,
        catalog: &Catalog,
        name: &str,
        parts: impl IntoIterator<Item = minijinja::Value>,
    ) -> Result<String, minijinja::Error> {
        // Later maps win: `user` and `notice` default to none, the page's values, then the site.
        let mut maps = vec![minijinja::context! { user => (), notice => () }];
        maps.extend(parts);
        maps.push(minijinja::context! { site => catalog.site_value.clone(), test_mode => self.config.test_mode() });
        self.templates.render(name, minijinja::value::merge_maps(maps))
    }

    /// A page, as HTML (the handler's `?` turns a template error into the 500 page).
    pub fn render(&self, name: &str, ctx: minijinja::Value) -> Result<axum::response::Html<String>, minijinja::Error> {
        Ok(axum::response::Html(self.render_string(name, ctx)?))
    }
}
