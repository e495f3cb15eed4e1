//! Sign up, log in and out, email verification, password reset, and the account page.

use std::collections::BTreeMap;

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use minijinja::value::{Serde, Value};
use serde::Deserialize;
use tower_sessions::Session;

use super::session::{self as auth, MaybeUser, SignedIn};
use super::store::{self, User};
use super::{flows, password};
use crate::context::Ctx;
use crate::domain::{Email, NewPassword, PersonName};
use crate::web::AppError;
use crate::web::auth::safe_next;

/// Messages per form field, shown beside the field.
type FieldErrors = BTreeMap<&'static str, String>;

/// A form shown again: the status, what the person typed (never a password) and what is wrong.
fn form_page(state: &Ctx, template: &str, status: StatusCode, ctx: Value) -> Result<Response, AppError> {
    Ok((status, state.render(template, ctx)?).into_response())
}

fn user_value(user: &User) -> Value {
    Value::from(Serde(user))
}

// ---- sign up ------------------------------------------------------------------------------------

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct SignupForm {
    name: String,
    email: String,
    password: String,
    next: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct NextQuery {
    next: Option<String>,
}

pub async fn signup_page(
    State(state): State<Ctx>,
    MaybeUser(user): MaybeUser,
    Query(q): Query<NextQuery>,
) -> Result<Response, AppError> {
    if user.is_some() {
        return Ok(Redirect::to(&safe_next(q.next.as_deref())).into_response());
    }
    form_page(
        &state,
        "accounts/signup.html",
        StatusCode::OK,
        context! { next => q.next, form => context!{}, errors => context!{} },
    )
}

pub async fn signup(
    State(state): State<Ctx>,
    MaybeUser(current): MaybeUser,
    Form(form): Form<SignupForm>,
) -> Result<Response, AppError> {
    let mut errors = FieldErrors::new();
    let name = PersonName::parse(&form.name)
        .map_err(|e| errors.insert("name", e.into()))
        .ok();
    let email = Email::parse(&form.email)
        .map_err(|e| errors.insert("email", e.into()))
        .ok();
    let password = NewPassword::parse(&form.password, &[&form.name, &form.email])
        .map_err(|e| errors.insert("password", e))
        .ok();
    let next = safe_next(Some(&form.next).filter(|n| !n.is_empty()).map(String::as_str));

    // The same form sent twice from a browser that is signed in to that account: go on.
    if let (Some(user), Some(email)) = (&current, &email)
        && user.email == email.as_str()
    {
        return Ok(Redirect::to(&next).into_response());
    }
    let (Some(name), Some(email), Some(password)) = (name, email, password) else {
        return form_page(
            &state,
            "accounts/signup.html",
            StatusCode::UNPROCESSABLE_ENTITY,
            context! { next => form.next.clone(), form => context! { name => form.name.clone(), email => form.email.clone() }, errors },
        );
    };
    // Hashed whether or not the account exists, so the answer takes as long either way.
    let hash = password::hash(&password).await?;
    let outcome = flows::sign_up(&state, &email, &name, &hash, &next).await?;
    if let flows::SignedUp::Created(id) = outcome {
        tracing::info!(user_id = id, "account created; waiting for its email to be confirmed");
    }
    // The same page whether the address was new or already had an account (whose owner was
    // emailed instead): sign-up does not tell anyone who has an account here.
    form_page(
        &state,
        "accounts/check_email.html",
        StatusCode::OK,
        context! { email => email.as_str(), days => VERIFY_LINK_LIFETIME.whole_days() },
    )
}

// ---- log in / out -------------------------------------------------------------------------------

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct LoginForm {
    email: String,
    password: String,
    next: String,
}

pub async fn login_page(
    State(state): State<Ctx>,
    MaybeUser(user): MaybeUser,
    Query(q): Query<NextQuery>,
) -> Result<Response, AppError> {
    if user.is_some() {
        return Ok(Redirect::to(&safe_next(q.next.as_deref())).into_response());
    }
    form_page(
        &state,
        "accounts/login.html",
        StatusCode::OK,
        context! { next => q.next, form => context!{}, error => () },
    )
}

/// The answer to any failed log-in: the same for an unknown address, a wrong password and a locked
/// account, so it tells nobody which.
const LOGIN_FAILED: &str = "That email and password do not match an account. After several tries we slow \
    down further attempts for a few minutes; if you are sure of your password, wait a little, or reset it.";

pub async fn login(
    State(state): State<Ctx>,
    session: Session,
    client: auth::ClientInfo,
    Form(form): Form<LoginForm>,
) -> Result<Response, AppError> {
    let again = |error: &str, status: StatusCode| {
        form_page(
            &state,
            "accounts/login.html",
            status,
            context! { next => form.next.clone(), form => context! { email => form.email.clone() }, error },
        )
    };
    if form.email.trim().is_empty() || form.password.is_empty() {
        return again(
            "Please enter your email and your password.",
            StatusCode::UNPROCESSABLE_ENTITY,
        );
    }
    let email = Email::parse(&form.email).ok();
    match flows::check_login(&state, email.as_ref(), &form.password, client.device.as_deref()).await? {
        flows::Login::Ok { user_id, epoch } => {
            auth::sign_in(&session, &state, user_id, epoch, &client).await?;
            let next = safe_next(Some(&form.next).filter(|n| !n.is_empty()).map(String::as_str));
            let mut res = Redirect::to(&next).into_response();
            remember_this_browser(&state, &client, user_id, &mut res).await?;
            Ok(res)
        }
        flows::Login::Wrong => again(LOGIN_FAILED, StatusCode::UNAUTHORIZED),
    }
}

/// After a successful log-in: this browser becomes (or stays) one the account knows, so its owner
/// can log in from it even while someone else's guesses keep the account backing off.
async fn remember_this_browser(
    state: &Ctx,
    client: &auth::ClientInfo,
    user_id: i64,
    res: &mut Response,
) -> Result<(), AppError> {
    let now = state.clock.now();
    let hash = match &client.device {
        Some(hash) => hash.clone(),
        None => {
            let (hash, cookie) = client.new_device_cookie(state.config.is_https());
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                res.headers_mut().append(header::SET_COOKIE, value);
            }
            hash
        }
    };
    store::remember_device(&state.db, user_id, &hash, now).await?;
    Ok(())
}

pub async fn logout(State(state): State<Ctx>, session: Session) -> Result<Response, AppError> {
    auth::sign_out(&session, &state).await?;
    Ok(Redirect::to("/").into_response())
}

// ---- email verification -------------------------------------------------------------------------

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct TokenQuery {
    token: String,
}

pub async fn verify_email(
    State(state): State<Ctx>,
    session: Session,
    client: auth::ClientInfo,
    MaybeUser(user): MaybeUser,
    Query(q): Query<TokenQuery>,
) -> Result<Response, AppError> {
    let outcome = flows::verify_email(&state, &q.token).await?;
    let (status, ok, message) = match outcome {
        flows::Verified::Ok {
            user_id,
            epoch,
            next: Some(next),
            ..
        } => {
            // A sign-up's own link: opening it proves the person reads the address, as a reset
            // link does; they continue where they were going, signed in.
            auth::sign_in(&session, &state, user_id, epoch, &client).await?;
            let target = safe_next(Some(&next));
            let sep = if target.contains('?') { '&' } else { '?' };
            let mut res = Redirect::to(&format!("{target}{sep}notice=email-confirmed")).into_response();
            remember_this_browser(&state, &client, user_id, &mut res).await?;
            return Ok(res);
        }
        flows::Verified::Ok { email, .. } => (StatusCode::OK, true, format!("Thank you: {email} is confirmed.")),
        flows::Verified::Taken => (
            StatusCode::CONFLICT,
            false,
            "Another account uses that email address now, so we could not switch yours to it.".to_owned(),
        ),
        flows::Verified::Invalid => (
            StatusCode::BAD_REQUEST,
            false,
            "This link has expired or was already used. Log in and ask for a new one from your account page."
                .to_owned(),
        ),
    };
    let user = match user {
        Some(u) => store::user_by_id(&state.db, u.id).await?.map(|u| user_value(&u)),
        None => None,
    };
    Ok((
        status,
        state.render("accounts/verified.html", context! { ok, message, user })?,
    )
        .into_response())
}

pub async fn resend_verification(State(state): State<Ctx>, SignedIn(user): SignedIn) -> Result<Response, AppError> {
    if user.email_verified_at.is_some() {
        return Ok(Redirect::to("/account").into_response());
    }
    match flows::may_send_verification(&state, user.id, &user.email).await? {
        Ok(()) => {
            flows::send_verification(&state, &user, &user.email, Some("/account")).await?;
            Ok(Redirect::to("/account?notice=verification-sent").into_response())
        }
        Err(throttled) => {
            account_page(
                &state,
                &user,
                StatusCode::TOO_MANY_REQUESTS,
                context! { notice => throttled_text(&throttled) },
            )
            .await
        }
    }
}

pub(super) fn throttled_text(t: &flows::Throttled) -> String {
    match t {
        flows::Throttled::Address(wait) => format!(
            "We sent a link to that address a few minutes ago: please look in your inbox (and spam folder). \
             You can ask for another after {} minutes.",
            wait.whole_minutes()
        ),
        flows::Throttled::Account => {
            "You have asked for several links today. Please use the newest one, or try again tomorrow.".to_owned()
        }
    }
}

// ---- password reset -----------------------------------------------------------------------------

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct EmailForm {
    email: String,
}

pub async fn forgot_page(State(state): State<Ctx>, MaybeUser(user): MaybeUser) -> Result<Response, AppError> {
    let email = user.map(|u| u.email);
    form_page(
        &state,
        "accounts/forgot.html",
        StatusCode::OK,
        context! { form => context! { email }, errors => context!{}, sent => false },
    )
}

pub async fn forgot(State(state): State<Ctx>, Form(form): Form<EmailForm>) -> Result<Response, AppError> {
    let email = match Email::parse(&form.email) {
        Ok(email) => email,
        Err(e) => {
            let mut errors = FieldErrors::new();
            errors.insert("email", e.into());
            return form_page(
                &state,
                "accounts/forgot.html",
                StatusCode::UNPROCESSABLE_ENTITY,
                context! { form => context! { email => form.email }, errors, sent => false },
            );
        }
    };
    // The work happens after the answer, so the answer (and its timing) is the same whether or not
    // the account exists.
    let worker = state.clone();
    let address = email.clone();
    tokio::spawn(async move {
        if let Err(e) = flows::send_reset(&worker, &address).await {
            tracing::error!(error = %e, "could not queue a password reset email");
        }
    });
    form_page(
        &state,
        "accounts/forgot.html",
        StatusCode::OK,
        context! { form => context! { email => email.as_str() }, errors => context!{}, sent => true },
    )
}

pub async fn reset_page(State(state): State<Ctx>, Query(q): Query<TokenQuery>) -> Result<Response, AppError> {
    let live = !q.token.is_empty()
        && store::token_is_live(
            &state.db,
            flows::RESET,
            &super::tokens::hash(&q.token),
            state.clock.now(),
        )
        .await?;
    let status = if live { StatusCode::OK } else { StatusCode::BAD_REQUEST };
    form_page(
        &state,
        "accounts/reset.html",
        status,
        context! { token => q.token, live, errors => context!{} },
    )
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ResetForm {
    token: String,
    password: String,
}

pub async fn reset(
    State(state): State<Ctx>,
    session: Session,
    client: auth::ClientInfo,
    Form(form): Form<ResetForm>,
) -> Result<Response, AppError> {
    let owner = if form.token.is_empty() || form.token.len() > 200 {
        None
    } else {
        store::token_owner(
            &state.db,
            flows::RESET,
            &super::tokens::hash(&form.token),
            state.clock.now(),
        )
        .await?
    };
    let about: Vec<&str> = owner.iter().flat_map(|(n, e)| [n.as_str(), e.as_str()]).collect();
    let password = match NewPassword::parse(&form.password, &about) {
        Ok(p) => p,
        Err(e) => {
            let mut errors = FieldErrors::new();
            errors.insert("password", e);
            return form_page(
                &state,
                "accounts/reset.html",
                StatusCode::UNPROCESSABLE_ENTITY,
                context! { token => form.token, live => true, errors },
            );
        }
    };
    let hash = password::hash(&password).await?;
    match flows::reset_password(&state, &form.token, &hash).await? {
        Some((user_id, epoch)) => {
            auth::sign_in(&session, &state, user_id, epoch, &client).await?;
            let mut res = Redirect::to("/account?notice=password-reset").into_response();
            remember_this_browser(&state, &client, user_id, &mut res).await?;
            Ok(res)
        }
        None => form_page(
            &state,
            "accounts/reset.html",
            StatusCode::BAD_REQUEST,
            context! { token => "", live => false, errors => context!{} },
        ),
    }
}

mod account;
pub use account::*;
