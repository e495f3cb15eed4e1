//! Sign up, log in and out, email verification, password reset, and the account page.

use std::collections::BTreeMap;

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use minijinja::value::{Serde, Value};
use serde::Deserialize;
use time::Duration;
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

fn throttled_text(t: &flows::Throttled) -> String {
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

// ---- the account page ---------------------------------------------------------------------------

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct NoticeQuery {
    notice: String,
}

fn notice_text(key: &str) -> Option<&'static str> {
    Some(match key {
        "name-saved" => "Your name is saved.",
        "email-sent" => "We sent a confirmation link to your new address. Your email changes when you open it.",
        "verification-sent" => "We sent you a new confirmation link.",
        "password-changed" => "Your password is changed. Other devices have been logged out.",
        "password-reset" => "Your new password is set, and you are logged in.",
        "others-logged-out" => "Every other device has been logged out.",
        _ => return None,
    })
}

async fn account_page(state: &Ctx, user: &User, status: StatusCode, extra: Value) -> Result<Response, AppError> {
    let programs = crate::learning::programs_of(state, user).await?;
    let since = state.clock.now() - Duration::days(crate::web::sessions::SESSION_DAYS);
    let devices = store::sessions_of(&state.db, user.id, user.session_epoch, since).await?;
    let orders: Vec<Value> = crate::payments::store::for_user(&state.db, user.id)
        .await?
        .iter()
        .map(|o| context! { row => Serde(o), number => crate::payments::flows::order_number(o.id) })
        .collect();
    // Later maps win: defaults, then the caller's values, then the user.
    let ctx = minijinja::value::merge_maps([
        context! { errors => context! {}, form => context! {}, notice => () },
        extra,
        context! { user => user_value(user), programs => Serde(&programs), orders, devices => Serde(&devices) },
    ]);
    form_page(state, "accounts/account.html", status, ctx)
}

pub async fn account(
    State(state): State<Ctx>,
    session: Session,
    SignedIn(user): SignedIn,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, AppError> {
    let this_device = auth::current_session_id(&session).await?;
    account_page(
        &state,
        &user,
        StatusCode::OK,
        context! { notice => notice_text(&q.notice), this_device },
    )
    .await
}

/// "Log out everywhere else": every other session of the account ends (this one stays).
pub async fn end_other_sessions(
    State(state): State<Ctx>,
    session: Session,
    SignedIn(user): SignedIn,
) -> Result<Response, AppError> {
    auth::sign_out_elsewhere(&session, &state, user.id).await?;
    tracing::info!(user_id = user.id, "logged out everywhere else");
    Ok(Redirect::to("/account?notice=others-logged-out").into_response())
}

/// The answer to a wrong current password on the account pages, with the backoff's wait if any.
async fn own_password_refused(
    state: &Ctx,
    user: &User,
    field: &str,
    check: flows::OwnPassword,
    extra_form: Value,
) -> Result<Response, AppError> {
    let (status, message) = match check {
        flows::OwnPassword::BackingOff(wait) => {
            let minutes = (wait.whole_seconds() + 59) / 60;
            (
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "Too many wrong passwords. Please wait {minutes} minute{} and try again, or reset your password.",
                    if minutes == 1 { "" } else { "s" }
                ),
            )
        }
        _ if field == "delete_password" => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "That is not your current password. Your account was not deleted.".to_owned(),
        ),
        _ => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "That is not your current password.".to_owned(),
        ),
    };
    let errors = Serde(BTreeMap::from([(field.to_owned(), message)]));
    account_page(state, user, status, context! { errors, form => extra_form }).await
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct NameForm {
    name: String,
}

pub async fn change_name(
    State(state): State<Ctx>,
    SignedIn(user): SignedIn,
    Form(form): Form<NameForm>,
) -> Result<Response, AppError> {
    match PersonName::parse(&form.name) {
        Ok(name) => {
            store::set_name(&state.db, user.id, name.as_str(), state.clock.now()).await?;
            Ok(Redirect::to("/account?notice=name-saved").into_response())
        }
        Err(e) => {
            account_page(
                &state,
                &user,
                StatusCode::UNPROCESSABLE_ENTITY,
                context! { errors => context! { name => e }, form => context! { name => form.name } },
            )
            .await
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ChangeEmailForm {
    email: String,
    password: String,
}

pub async fn change_email(
    State(state): State<Ctx>,
    SignedIn(user): SignedIn,
    Form(form): Form<ChangeEmailForm>,
) -> Result<Response, AppError> {
    let fail = |field: &str, message: &str, status| {
        let errors = Serde(BTreeMap::from([(field.to_owned(), message.to_owned())]));
        account_page(
            &state,
            &user,
            status,
            context! { errors, form => context! { email => form.email.clone() } },
        )
    };
    let email = match Email::parse(&form.email) {
        Ok(e) => e,
        Err(e) => return fail("email", e, StatusCode::UNPROCESSABLE_ENTITY).await,
    };
    let check = flows::check_own_password(&state, user.id, &form.password).await?;
    if check != flows::OwnPassword::Right {
        return own_password_refused(
            &state,
            &user,
            "email_password",
            check,
            context! { email => form.email.clone() },
        )
        .await;
    }
    if email.as_str() == user.email {
        return fail(
            "email",
            "That is already your email address.",
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    // An address that already has an account gets no mail and the same answer: this form (with a
    // known password) must not tell who else has an account. The switch would fail at the link.
    if store::user_by_email(&state.db, email.as_str()).await?.is_none() {
        match flows::may_send_verification(&state, user.id, email.as_str()).await? {
            Ok(()) => flows::send_verification(&state, &user, email.as_str(), None).await?,
            Err(throttled) => return fail("email", &throttled_text(&throttled), StatusCode::TOO_MANY_REQUESTS).await,
        }
    }
    Ok(Redirect::to("/account?notice=email-sent").into_response())
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ChangePasswordForm {
    current_password: String,
    new_password: String,
}

pub async fn change_password(
    State(state): State<Ctx>,
    session: Session,
    client: auth::ClientInfo,
    SignedIn(user): SignedIn,
    Form(form): Form<ChangePasswordForm>,
) -> Result<Response, AppError> {
    let fail = |field: &str, message: &str| {
        let errors = Serde(BTreeMap::from([(field.to_owned(), message.to_owned())]));
        account_page(&state, &user, StatusCode::UNPROCESSABLE_ENTITY, context! { errors })
    };
    let check = flows::check_own_password(&state, user.id, &form.current_password).await?;
    if check != flows::OwnPassword::Right {
        return own_password_refused(&state, &user, "current_password", check, context! {}).await;
    }
    let password = match NewPassword::parse(&form.new_password, &[&user.name, &user.email]) {
        Ok(p) => p,
        Err(e) => return fail("new_password", &e).await,
    };
    let hash = password::hash(&password).await?;
    let epoch = flows::change_password(&state, user.id, &hash).await?;
    // This device stays signed in (with a new session id); every other session has ended.
    auth::sign_in(&session, &state, user.id, epoch, &client).await?;
    Ok(Redirect::to("/account?notice=password-changed").into_response())
}

pub async fn download_data(State(state): State<Ctx>, SignedIn(user): SignedIn) -> Result<Response, AppError> {
    let data = flows::export(&state, &user).await?;
    let body = serde_json::to_vec_pretty(&data).map_err(|e| AppError::Internal(e.into()))?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/json; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"learnwell-my-data.json\"",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response())
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct DeleteForm {
    password: String,
}

pub async fn delete_account(
    State(state): State<Ctx>,
    session: Session,
    SignedIn(user): SignedIn,
    Form(form): Form<DeleteForm>,
) -> Result<Response, AppError> {
    let check = flows::check_own_password(&state, user.id, &form.password).await?;
    if check != flows::OwnPassword::Right {
        return own_password_refused(&state, &user, "delete_password", check, context! {}).await;
    }
    flows::delete_account(&state, &user).await?;
    auth::sign_out(&session, &state).await?;
    Ok(state.render("accounts/deleted.html", context! {})?.into_response())
}

/// How long reset links live.
pub const RESET_LINK_LIFETIME: Duration = Duration::hours(1);
/// How long email confirmation links live.
pub const VERIFY_LINK_LIFETIME: Duration = Duration::days(7);
