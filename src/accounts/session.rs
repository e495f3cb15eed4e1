//! Who is signed in: the session's claim (in the database, via tower-sessions), signing in and out,
//! and the extractors handlers use.
//! `MaybeUser` for pages anyone may see, `SignedIn` for pages that need an account, `Instructor`
//! for the studio. Every check happens here, on the server.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};
use tower_sessions::Session;

use super::store::{self, User};
use crate::context::Ctx;
use crate::web::AppError;
use crate::web::auth::{AuthRejection, here};

const AUTH_KEY: &str = "auth";

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Claim {
    pub user_id: i64,
    /// Must equal the user's `session_epoch`: a password change (or "log out everywhere else")
    /// moves it, ending other sessions.
    epoch: i64,
    /// Unix time of the last renewal of the session's 14-day expiry.
    renewed: i64,
    /// Unix time of the log-in: the session ends `SESSION_MAX_DAYS` after it, however active.
    /// (Sessions from before this field count from their last renewal.)
    #[serde(default)]
    since: Option<i64>,
    /// This session's row in the account's list of signed-in devices.
    #[serde(default)]
    sid: Option<String>,
}

/// Who is signing in from where, for the account's list of devices: the browser (from its
/// User-Agent) and the client address cut to its network prefix, never the full address.
#[derive(Clone, Debug)]
pub struct ClientInfo {
    pub browser: String,
    pub place: String,
    /// The hash of this browser's device cookie, if it has one.
    pub device: Option<String>,
    device_cookie_name: &'static str,
}

pub const DEVICE_COOKIE: &str = "learnwell_device";
pub const SECURE_DEVICE_COOKIE: &str = "__Host-learnwell_device";

impl FromRequestParts<Ctx> for ClientInfo {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &Ctx) -> Result<Self, Self::Rejection> {
        let agent = parts
            .headers
            .get(axum::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let place = parts
            .extensions
            .get::<crate::web::client::ClientAddr>()
            .map(|c| network_of(c.0))
            .unwrap_or_else(|| "unknown".to_owned());
        let device_cookie_name = if state.config.is_https() {
            SECURE_DEVICE_COOKIE
        } else {
            DEVICE_COOKIE
        };
        let device = parts
            .headers
            .get_all(axum::http::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(tower_sessions::cookie::Cookie::split_parse)
            .filter_map(Result::ok)
            .find(|c| c.name() == device_cookie_name)
            .map(|c| c.value().to_owned())
            .filter(|v| !v.is_empty() && v.len() <= 100)
            .map(|v| crate::accounts::tokens::hash(&v));
        Ok(ClientInfo {
            browser: describe_browser(agent),
            place,
            device,
            device_cookie_name,
        })
    }
}

impl ClientInfo {
    /// A device cookie for this browser: the token to remember (hashed) and the `Set-Cookie` value.
    /// Kept for a year; only the browser has the token.
    pub fn new_device_cookie(&self, secure: bool) -> (String, String) {
        let (token, hash) = crate::accounts::tokens::new_token();
        let mut cookie = tower_sessions::cookie::Cookie::new(self.device_cookie_name, token);
        cookie.set_http_only(true);
        cookie.set_secure(secure);
        cookie.set_path("/");
        cookie.set_same_site(tower_sessions::cookie::SameSite::Lax);
        cookie.set_max_age(tower_sessions::cookie::time::Duration::days(365));
        (hash, cookie.to_string())
    }
}

/// `203.0.113.0/24` or `2001:db8:cafe::/48`: roughly where, never who.
pub fn network_of(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => network_of(std::net::IpAddr::V4(v4)),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
            }
        },
    }
}

/// "Firefox on Linux", from a User-Agent; good enough to recognise one's own devices.
pub fn describe_browser(agent: &str) -> String {
    let browser = if agent.contains("Edg/") {
        "Edge"
    } else if agent.contains("OPR/") {
        "Opera"
    } else if agent.contains("Firefox/") {
        "Firefox"
    } else if agent.contains("Chrome/") || agent.contains("CriOS/") {
        "Chrome"
    } else if agent.contains("Safari/") {
        "Safari"
    } else if agent.is_empty() {
        return "Unknown browser".to_owned();
    } else {
        "Another browser"
    };
    let system = if agent.contains("Android") {
        "Android"
    } else if agent.contains("iPhone") || agent.contains("iPad") {
        "iOS"
    } else if agent.contains("Windows") {
        "Windows"
    } else if agent.contains("Mac OS X") || agent.contains("Macintosh") {
        "macOS"
    } else if agent.contains("Linux") {
        "Linux"
    } else {
        return browser.to_owned();
    };
    format!("{browser} on {system}")
}

/// Starts a signed-in session: a new session id (no fixation), then the user, and a row in the
/// account's list of signed-in devices.
pub async fn sign_in(
    session: &Session,
    state: &Ctx,
    user_id: i64,
    epoch: i64,
    client: &ClientInfo,
) -> Result<(), AppError> {
    session.cycle_id().await.map_err(session_error)?;
    let now = state.clock.now();
    let sid = crate::accounts::tokens::new_token().0;
    store::insert_session(&state.db, &sid, user_id, epoch, &client.browser, &client.place, now).await?;
    let auth = Claim {
        user_id,
        epoch,
        renewed: now.unix_timestamp(),
        since: Some(now.unix_timestamp()),
        sid: Some(sid),
    };
    session.insert(AUTH_KEY, auth).await.map_err(session_error)?;
    Ok(())
}

/// Ends the session everywhere: the row is deleted, the cookie cleared.
pub async fn sign_out(session: &Session, state: &Ctx) -> Result<(), AppError> {
    if let Ok(Some(auth)) = claim(session).await
        && let Some(sid) = &auth.sid
    {
        store::delete_session(&state.db, sid).await?;
    }
    session.flush().await.map_err(session_error)
}

/// This session's id in the list of signed-in devices (none for sessions from before the list).
pub async fn current_session_id(session: &Session) -> Result<Option<String>, AppError> {
    Ok(claim(session).await?.and_then(|a| a.sid))
}

/// Ends every other session of the account: they carry the old epoch. This one moves to the new
/// epoch and stays signed in.
pub async fn sign_out_elsewhere(session: &Session, state: &Ctx, user_id: i64) -> Result<(), AppError> {
    let Some(mut auth) = claim(session).await? else {
        return Ok(());
    };
    let keep = auth.sid.clone().unwrap_or_default();
    let mut tx = state.db.begin().await?;
    let epoch = store::end_other_sessions(&mut tx, user_id, &keep).await?;
    tx.commit().await?;
    auth.epoch = epoch;
    session.insert(AUTH_KEY, auth).await.map_err(session_error)?;
    Ok(())
}

fn session_error(e: tower_sessions::session::Error) -> AppError {
    AppError::Internal(anyhow::anyhow!("session: {e}"))
}

/// Re-reads who is signed in, at most once per request.
#[derive(Clone)]
struct Resolved(Option<User>);

async fn resolve(parts: &mut Parts, state: &Ctx) -> Result<Option<User>, AppError> {
    if let Some(Resolved(user)) = parts.extensions.get::<Resolved>() {
        return Ok(user.clone());
    }
    let Some(session) = parts.extensions.get::<Session>().cloned() else {
        return Ok(None);
    };
    let user = match claim(&session).await? {
        None => None,
        Some(auth) => {
            let found = store::signed_in_user(&state.reads, auth.user_id).await?;
            admit(&session, state, auth, found).await?
        }
    };
    parts.extensions.insert(Resolved(user.clone()));
    Ok(user)
}

/// Whom the session says is signed in (no database query: loads are cached).
pub async fn claim(session: &Session) -> Result<Option<Claim>, AppError> {
    session.get::<Claim>(AUTH_KEY).await.map_err(session_error)
}

/// The account a session's claim names, if the claim still holds. Renews the session's expiry once
/// a day; ends the session when the account is gone, its password changed since the session began,
/// or the session is older than `SESSION_MAX_DAYS`.
pub async fn admit(session: &Session, state: &Ctx, auth: Claim, found: Option<User>) -> Result<Option<User>, AppError> {
    let now = state.clock.now();
    let since = auth.since.unwrap_or(auth.renewed);
    let too_old = now.unix_timestamp() - since > state.config.session_max_age.whole_seconds();
    match found {
        Some(user) if user.session_epoch == auth.epoch && !too_old => {
            // Rolling expiry: saving the session renews it, so do it once a day, not every request.
            if now.unix_timestamp() - auth.renewed > 24 * 3600 {
                if let Some(sid) = &auth.sid {
                    store::touch_session(&state.db, sid, now).await?;
                }
                let renewed = Claim {
                    renewed: now.unix_timestamp(),
                    ..auth
                };
                session.insert(AUTH_KEY, renewed).await.map_err(session_error)?;
            }
            Ok(Some(user))
        }
        _ => {
            if let Some(sid) = &auth.sid {
                store::delete_session(&state.db, sid).await?;
            }
            session.flush().await.map_err(session_error)?;
            Ok(None)
        }
    }
}

/// The signed-in user, if any.
pub struct MaybeUser(pub Option<User>);

impl FromRequestParts<Ctx> for MaybeUser {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &Ctx) -> Result<Self, Self::Rejection> {
        Ok(MaybeUser(resolve(parts, state).await?))
    }
}

/// A page that needs an account: anonymous visitors are sent to log in, and come back after.
pub struct SignedIn(pub User);

impl FromRequestParts<Ctx> for SignedIn {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &Ctx) -> Result<Self, Self::Rejection> {
        match resolve(parts, state).await.map_err(AuthRejection::Error)? {
            Some(user) => Ok(SignedIn(user)),
            None => Err(AuthRejection::Login(here(parts))),
        }
    }
}

/// A page that needs an account and reads who is asking together with what it shows (the
/// dashboard): the session's claim, not yet looked up. Without one, the visitor is sent to log in
/// and comes back after; [`Claimed::admit`] does the same when the claim no longer holds.
pub struct Claimed {
    session: Session,
    claim: Claim,
    next: String,
}

impl Claimed {
    /// The account the claim names.
    pub fn user_id(&self) -> i64 {
        self.claim.user_id
    }

    /// The signed-in user, given the claim's account as the page's query found it (see [`admit`]).
    pub async fn admit(self, state: &Ctx, found: Option<User>) -> Result<User, AuthRejection> {
        match admit(&self.session, state, self.claim, found)
            .await
            .map_err(AuthRejection::Error)?
        {
            Some(user) => Ok(user),
            None => Err(AuthRejection::Login(self.next)),
        }
    }
}

impl FromRequestParts<Ctx> for Claimed {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &Ctx) -> Result<Self, Self::Rejection> {
        let next = here(parts);
        let Some(session) = parts.extensions.get::<Session>().cloned() else {
            return Err(AuthRejection::Login(next));
        };
        match claim(&session).await.map_err(AuthRejection::Error)? {
            Some(claim) => Ok(Claimed { session, claim, next }),
            None => Err(AuthRejection::Login(next)),
        }
    }
}

/// The studio: instructors only. Anonymous visitors are sent to log in; students get 403.
pub struct Instructor(pub User);

impl FromRequestParts<Ctx> for Instructor {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &Ctx) -> Result<Self, Self::Rejection> {
        match resolve(parts, state).await.map_err(AuthRejection::Error)? {
            Some(user) if user.is_instructor() => Ok(Instructor(user)),
            Some(_) => Err(AuthRejection::Forbidden),
            None => Err(AuthRejection::Login(here(parts))),
        }
    }
}
