//! What every response passes through: security headers and error pages.

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use minijinja::context;

use super::error::ErrorPage;
use crate::context::Ctx;

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    font-src 'self'; connect-src 'self'; frame-src https://www.youtube-nocookie.com https://player.vimeo.com; \
    object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'";
/// With Stripe keys, the checkout form's answer redirects to Stripe Checkout, which browsers check
/// against `form-action`.
const CSP_WITH_STRIPE: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    font-src 'self'; connect-src 'self'; frame-src https://www.youtube-nocookie.com https://player.vimeo.com; \
    object-src 'none'; base-uri 'self'; form-action 'self' https://checkout.stripe.com; frame-ancestors 'none'";

pub async fn security_headers(State(state): State<Ctx>, req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let headers = res.headers_mut();
    let mut set = |name: HeaderName, value: &'static str| {
        headers.entry(name).or_insert(HeaderValue::from_static(value));
    };
    set(
        header::CONTENT_SECURITY_POLICY,
        if state.stripe.is_some() { CSP_WITH_STRIPE } else { CSP },
    );
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(header::REFERRER_POLICY, "strict-origin-when-cross-origin");
    set(header::X_FRAME_OPTIONS, "DENY");
    set(
        HeaderName::from_static("permissions-policy"),
        "camera=(), microphone=(), geolocation=(), payment=()",
    );
    set(HeaderName::from_static("cross-origin-opener-policy"), "same-origin");
    if state.config.is_https() {
        set(header::STRICT_TRANSPORT_SECURITY, "max-age=31536000; includeSubDomains");
    }
    res
}

/// Pages with personal or money data must not be kept by the browser's cache, a shared computer's
/// history or a proxy: `Cache-Control: no-store` on the signed-in areas (account, dashboard,
/// checkout, enroll, the studio), on pages reached by a secret link (the token is in the URL and
/// the form), and on anything answered to someone who is signed in (a student's lessons and
/// progress; on every page their name in the header, on a program page their price). A Cache-Control the handler chose is kept:
/// static assets keep their long cache, downloads and exports their own. Public pages for
/// anonymous visitors keep no header at all, as before.
pub async fn cache_control(req: Request, next: Next) -> Response {
    let personal = is_personal_path(req.uri().path()) || has_session_cookie(req.headers());
    let mut res = next.run(req).await;
    let signs_in = res.headers().contains_key(header::SET_COOKIE);
    if (personal || signs_in) && !res.headers().contains_key(header::CACHE_CONTROL) {
        res.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

/// Paths whose pages are about one person: their account, learning, payments, or the studio.
fn is_personal_path(path: &str) -> bool {
    let mut segments = path.trim_start_matches('/').split('/');
    match (segments.next(), segments.next(), segments.next()) {
        (Some("account" | "dashboard" | "checkout" | "admin" | "enroll" | "plans"), _, _) => true,
        // Token links: the secret is in the URL, and the page carries it on in its form.
        (Some("verify-email" | "reset-password" | "unsubscribe"), _, _) => true,
        (Some("preenroll"), Some("confirm"), _) => true,
        // A program's enroll page (the person's price). Its lessons are personal when a student
        // reads them, and a student is signed in: the cookie rule covers them, and leaves a free
        // preview shown to an anonymous visitor as public as the program page.
        (Some("courses"), Some(_), Some("enroll")) => true,
        // A student's check-ins are health data.
        (Some("courses"), Some(_), Some("checkins")) => true,
        _ => false,
    }
}

/// Whether the request carries our session cookie: an anonymous visitor never gets one.
fn has_session_cookie(headers: &axum::http::HeaderMap) -> bool {
    let prefix = format!("{}=", super::sessions::COOKIE_NAME);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .any(|c| c.trim_start().starts_with(&prefix))
}

/// Turns error responses into the site's styled error page: those carrying an [`ErrorPage`], and
/// any other 4xx/5xx that is not already HTML or JSON (axum's own rejections, timeouts, panics).
pub async fn error_pages(State(state): State<Ctx>, req: Request, next: Next) -> Response {
    let res = next.run(req).await;
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    let page = match res.extensions().get::<ErrorPage>() {
        Some(page) => page.clone(),
        None => {
            let content_type = res
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if content_type.starts_with("text/html") || content_type.starts_with("application/json") {
                return res;
            }
            ErrorPage::for_status(status)
        }
    };
    let (mut parts, _) = res.into_parts();
    let ctx = context! { status => status.as_u16(), title => page.title, message => page.message.clone() };
    match state.render_string("errors/error.html", ctx) {
        Ok(html) => {
            parts.headers.remove(header::CONTENT_LENGTH);
            parts.headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            (parts, Html(html)).into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot render the error page");
            (status, page.message).into_response()
        }
    }
}

pub async fn not_found() -> StatusCode {
    StatusCode::NOT_FOUND
}

/// Request bodies are small everywhere but in the studio: a lesson's Markdown may be up to
/// 512 KiB, and a download upload up to [`UPLOAD_LIMIT`]. Anything larger gets 413 before a handler
/// reads it (by `Content-Length`, or while the body streams in).
pub async fn body_limit(req: Request, next: Next) -> Response {
    let limit = limit_for(req.uri().path());
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > limit) {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    }
    let (parts, body) = req.into_parts();
    let body = axum::body::Body::new(http_body_util::Limited::new(body, limit));
    next.run(Request::from_parts(parts, body)).await
}

/// A request gets 30 s; an upload of a lesson's download five minutes (10 MB over a slow line).
pub async fn timeout(req: Request, next: Next) -> Response {
    let limit = time_limit_for(req.uri().path());
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(res) => res,
        Err(_) => StatusCode::REQUEST_TIMEOUT.into_response(),
    }
}

fn is_upload(path: &str) -> bool {
    // A lesson's download, and a student import (a CSV up to 8 MB, then the import itself).
    path.starts_with("/admin/")
        && (path.ends_with("/downloads") || path.ends_with("/import") || path.ends_with("/import/confirm"))
}

fn time_limit_for(path: &str) -> std::time::Duration {
    std::time::Duration::from_secs(if is_upload(path) { 300 } else { 30 })
}

/// Requests larger than this are refused with 413 (forms are small; the studio and the webhook
/// have their own, see [`body_limit`]).
pub const BODY_LIMIT: usize = 64 * 1024;

/// The largest download a lesson may offer.
pub const UPLOAD_LIMIT: usize = 10 * 1024 * 1024;

/// Stripe's events are small, but one with many line items can pass 64 KiB; a refused event would
/// be retried by Stripe for days and then lost.
pub const WEBHOOK_LIMIT: usize = 1024 * 1024;

fn limit_for(path: &str) -> usize {
    if path == "/webhooks/stripe" {
        WEBHOOK_LIMIT
    } else if is_upload(path) {
        UPLOAD_LIMIT + 64 * 1024
    } else if path.starts_with("/admin/") {
        // A lesson's 512 KiB of Markdown, form-encoded (up to three bytes per byte), and the rest.
        2 * 1024 * 1024
    } else {
        BODY_LIMIT
    }
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::body::Body;
    use axum::http::Request;
    use axum::routing::get;
    use tower::ServiceExt;

    use super::*;
    use crate::web::AppError;

    #[test]
    fn limits_by_path() {
        assert_eq!(limit_for("/preenroll"), 64 * 1024);
        assert_eq!(limit_for("/webhooks/stripe"), 1024 * 1024);
        assert_eq!(limit_for("/admin/courses/x/lessons/1"), 2 * 1024 * 1024);
        assert_eq!(
            limit_for("/admin/courses/x/lessons/1/downloads"),
            UPLOAD_LIMIT + 64 * 1024
        );
        assert_eq!(
            limit_for("/courses/x/lessons/y/downloads"),
            64 * 1024,
            "only the studio uploads"
        );
        assert_eq!(time_limit_for("/admin/courses/x/lessons/1/downloads").as_secs(), 300);
        assert_eq!(time_limit_for("/checkout").as_secs(), 30);
    }

    #[test]
    fn personal_paths() {
        for p in [
            "/account",
            "/account/data",
            "/dashboard",
            "/checkout/success",
            "/checkout/test/3",
            "/admin",
            "/admin/orders",
            "/enroll/bundle",
            "/courses/x/enroll",
            "/reset-password",
            "/verify-email",
            "/preenroll/confirm",
            "/unsubscribe",
        ] {
            assert!(is_personal_path(p), "{p}");
        }
        for p in [
            "/",
            "/courses",
            "/courses/x",
            "/courses/x/glossary",
            "/courses/x/lessons/a-free-preview",
            "/courses/x/worksheets/y",
            "/preenroll",
            "/login",
            "/signup",
            "/static/css/site.css",
            "/certificates/abc",
            "/administrator",
            "/accounts",
        ] {
            assert!(!is_personal_path(p), "{p}");
        }
    }

    #[test]
    fn the_session_cookie_among_others() {
        let mut h = axum::http::HeaderMap::new();
        assert!(!has_session_cookie(&h));
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("theme=dark; xlearnwell_session=1"),
        );
        assert!(!has_session_cookie(&h));
        h.append(header::COOKIE, HeaderValue::from_static("a=b; learnwell_session=abc"));
        assert!(has_session_cookie(&h));
    }

    #[tokio::test]
    async fn internal_errors_become_the_styled_500_page_without_details() {
        let dir = tempfile::tempdir().unwrap();
        let db_url = format!("sqlite://{}", dir.path().join("t.db").display());
        let content = concat!(env!("CARGO_MANIFEST_DIR"), "/course_content");
        let config = crate::config::Config::from_lookup(|k| match k {
            "DATABASE_URL" => Some(db_url.clone()),
            "CONTENT_DIR" => Some(content.to_owned()),
            _ => None,
        })
        .unwrap();
        let db = crate::server::prepare(&config).await.unwrap();
        let state = Ctx::new(config, db).await.unwrap();
        let app = Router::new()
            .route(
                "/boom",
                get(|| async { Err::<(), _>(AppError::Internal(anyhow::anyhow!("secret table detail"))) }),
            )
            .layer(axum::middleware::from_fn_with_state(state.clone(), error_pages))
            .with_state(state);
        let res = app
            .oneshot(Request::get("/boom").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(res.headers()[header::CONTENT_TYPE], "text/html; charset=utf-8");
        let body = axum::body::to_bytes(res.into_body(), 1 << 20).await.unwrap();
        let html = String::from_utf8_lossy(&body);
        assert!(html.contains("<h1>Something went wrong</h1>"), "{html}");
        assert!(html.contains("Rootwell Gut Health"), "styled with the site");
        assert!(!html.contains("secret table detail"));
    }
}
