//! The composition root: the application's state, built once from the configuration and the
//! database, and the whole URL map with the layers around it. It sits above every feature; nothing
//! below imports it: features and their handlers see the shared `Ctx` (the router's state).

use std::ops::Deref;

use axum::Router;
use axum::extract::Path;
use axum::http::{Request, StatusCode};
use axum::middleware;
use axum::response::Response;
use axum::routing::get;
use tower::ServiceBuilder;
use tower_http::LatencyUnit;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::csrf::CsrfLayer;
use tower_http::request_id::PropagateRequestIdLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::config::Config;
use crate::context::Ctx;
use crate::db::Db;
use crate::web::client::{self, ClientAddr, UpstreamRequestId};
use crate::web::sessions::Store;
use crate::web::{health, layers};

/// The router's state: everything handlers reach through `State<Ctx>`.
#[derive(Clone)]
pub struct AppState {
    ctx: Ctx,
}

impl AppState {
    /// Builds the state on a migrated database that holds the site settings (run an import first).
    pub async fn new(config: Config, db: Db) -> anyhow::Result<AppState> {
        Ok(AppState {
            ctx: Ctx::new(config, db).await?,
        })
    }

    pub fn ctx(&self) -> &Ctx {
        &self.ctx
    }
}

impl Deref for AppState {
    type Target = Ctx;
    fn deref(&self) -> &Ctx {
        &self.ctx
    }
}

pub fn app(state: AppState) -> Router {
    let request_id = client::REQUEST_ID;
    let static_assets = state.templates.assets();
    let sessions = Store::new(&state.db).layer(state.config.is_https());
    // Cross-site form posts are refused (Origin / Sec-Fetch-Site); SameSite=Lax cookies add a second
    // wall. The public URL is trusted explicitly, for proxies that rewrite Host.
    // Two exceptions: Stripe's webhook (verified by its signature), and the RFC 8058 one-click unsubscribe is a POST from the recipient's mail
    // provider, not from our pages; the single-use token in its URL is what authorises it.
    let csrf = CsrfLayer::new()
        .add_trusted_origin(origin_of(&state.config.base_url))
        .unwrap_or_else(|_| CsrfLayer::new())
        .with_insecure_bypass(|method, uri| {
            method == axum::http::Method::POST && matches!(uri.path(), "/unsubscribe" | "/webhooks/stripe")
        });
    Router::new()
        .merge(crate::catalog::routes())
        .merge(crate::accounts::routes(state.config.auth_rate_limit))
        .merge(crate::preenroll::routes(state.config.auth_rate_limit))
        .merge(crate::mail::unsubscribe::routes())
        .merge(crate::learning::routes())
        .merge(crate::checkins::routes())
        .merge(crate::quiz::routes())
        .merge(crate::payments::routes())
        .merge(crate::admin::routes(state.ctx.clone()))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route(
            "/static/{*path}",
            get(move |path: Path<String>| {
                let assets = static_assets.clone();
                async move { assets.serve(path) }
            }),
        )
        .fallback(layers::not_found)
        .layer(
            ServiceBuilder::new()
                // First: who the client is, and our own request id in place of theirs.
                .layer(middleware::from_fn_with_state(state.ctx.clone(), client::identify))
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(|req: &Request<_>| {
                            let id = req
                                .headers()
                                .get(client::REQUEST_ID)
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or("-");
                            let client = req
                                .extensions()
                                .get::<ClientAddr>()
                                .map(|c| c.0.to_string())
                                .unwrap_or_default();
                            let upstream = req
                                .extensions()
                                .get::<UpstreamRequestId>()
                                .map(|u| u.0.as_str())
                                .unwrap_or("");
                            tracing::info_span!(
                                "request",
                                method = %req.method(),
                                path = %req.uri().path(),
                                route = %crate::telemetry::route_of(req),
                                request_id = %id,
                                client = %client,
                                upstream_request_id = %upstream,
                            )
                        })
                        .on_request(())
                        // One line per request, inside its span (request id, route, client):
                        // the status and how long it took.
                        .on_response(
                            DefaultOnResponse::new()
                                .level(Level::INFO)
                                .latency_unit(LatencyUnit::Millis),
                        ),
                )
                .layer(middleware::from_fn(crate::telemetry::track))
                .layer(PropagateRequestIdLayer::new(request_id))
                .layer(middleware::from_fn_with_state(
                    state.ctx.clone(),
                    layers::security_headers,
                ))
                .layer(middleware::from_fn(layers::cache_control))
                .layer(CompressionLayer::new())
                .layer(middleware::from_fn_with_state(state.ctx.clone(), layers::error_pages))
                .layer(CatchPanicLayer::custom(|_| panic_response()))
                .layer(middleware::from_fn(layers::timeout))
                .layer(middleware::from_fn(layers::body_limit))
                .layer(csrf)
                .layer(sessions),
        )
        .with_state(state.ctx.clone())
}

/// `scheme://host[:port]` of a URL, as a browser sends it in `Origin`.
fn origin_of(base_url: &str) -> String {
    match url::Url::parse(base_url) {
        Ok(u) => u.origin().ascii_serialization(),
        Err(_) => base_url.to_owned(),
    }
}

fn panic_response() -> Response {
    tracing::error!("a handler panicked");
    let mut res = Response::new(axum::body::Body::empty());
    *res.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    res
}
