//! The HTTP edge: the application state, the URL map, rendering, errors and the layers every
//! request passes through.

mod assets;
mod error;
mod health;
mod layers;
mod render;
pub mod router;

use std::sync::{Arc, RwLock};

pub use assets::Assets;
pub use error::AppError;
pub use render::Templates;

use crate::catalog::Site;
use crate::config::Config;
use crate::db::Db;

/// What every handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub config: Config,
    pub db: Db,
    pub templates: Templates,
    site: RwLock<Arc<Site>>,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// Builds the state on a migrated database that holds the site settings (run an import first).
    pub async fn new(config: Config, db: Db) -> anyhow::Result<AppState> {
        let site = crate::catalog::store::site(&db)
            .await?
            .ok_or_else(|| anyhow::anyhow!("the database holds no site settings yet: import course_content first"))?;
        let templates = Templates::new(Arc::new(Assets::load()));
        Ok(AppState(Arc::new(Inner {
            config,
            db,
            templates,
            site: RwLock::new(Arc::new(site)),
        })))
    }

    /// The practice's settings, cached in memory (see [`AppState::refresh_site`]).
    pub fn site(&self) -> Arc<Site> {
        match self.site.read() {
            Ok(site) => site.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Renders a page with what every page needs (the site, the test-mode flag) merged in.
    pub fn render_string(&self, name: &str, ctx: minijinja::Value) -> Result<String, minijinja::Error> {
        let site = self.site();
        let full = minijinja::context! {
            site => minijinja::value::Serde(&*site),
            test_mode => self.config.test_mode(),
            ..ctx
        };
        self.templates.render(name, full)
    }

    pub fn render(&self, name: &str, ctx: minijinja::Value) -> Result<axum::response::Html<String>, AppError> {
        Ok(axum::response::Html(self.render_string(name, ctx)?))
    }

    /// Reloads the site settings from the database (after an import, possibly by another process).
    pub async fn refresh_site(&self) -> sqlx::Result<()> {
        if let Some(site) = crate::catalog::store::site(&self.db).await? {
            let mut slot = match self.site.write() {
                Ok(slot) => slot,
                Err(poisoned) => poisoned.into_inner(),
            };
            *slot = Arc::new(site);
        }
        Ok(())
    }
}
