//! The account page: name, email and password changes, signed-in devices, the data download and
//! deleting the account.

use std::collections::BTreeMap;

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use minijinja::value::{Serde, Value};
use serde::Deserialize;
use time::Duration;
use tower_sessions::Session;

use crate::accounts::session::{self as auth, SignedIn};
use crate::accounts::store::{self, User};
use crate::accounts::{flows, password};
use crate::context::Ctx;
use crate::domain::{Email, NewPassword, PersonName};
use crate::web::AppError;

use super::{form_page, throttled_text, user_value};

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

pub(super) async fn account_page(
    state: &Ctx,
    user: &User,
    status: StatusCode,
    extra: Value,
) -> Result<Response, AppError> {
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
