//! The enroll pages, checkout, the success page, the built-in test checkout and the Stripe webhook.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use minijinja::value::Serde;
use serde::Deserialize;

use super::flows::{self, Fulfilled, ProviderProblem, Started};
use super::pricing;
use super::store::{self, Order};
use crate::accounts::SignedIn;
use crate::accounts::store::User;
use crate::catalog::store::CourseSummary;
use crate::context::Ctx;
use crate::web::AppError;
use crate::web::form::Form;

fn page(state: &Ctx, status: StatusCode, template: &str, ctx: minijinja::Value) -> Result<Response, AppError> {
    Ok((status, state.render(template, ctx)?).into_response())
}

/// The offer for one program (and the bundle, when it applies) for this person.
pub async fn enroll_page(
    State(state): State<Ctx>,
    SignedIn(user): SignedIn,
    Path(slug): Path<String>,
) -> Result<Response, AppError> {
    let catalog = state.catalog();
    let course = catalog
        .courses
        .iter()
        .find(|c| c.slug == slug)
        .ok_or(AppError::NotFound)?;
    let enrolled = crate::enrollment::store::active_course_ids(&state.db, user.id).await?;
    // Enrolled already ("Continue"), or not open: the program page says what to do.
    if enrolled.contains(&course.id) || course.status != crate::domain::CourseStatus::Open {
        return Ok(Redirect::to(&format!("/courses/{}", course.slug)).into_response());
    }
    let quote = flows::quote_for(&state, &user, &[course], false).await?;
    let bundle = match pricing::bundle_courses(&catalog) {
        Some(all) if all.iter().all(|c| !enrolled.contains(&c.id)) => {
            Some(flows::quote_for(&state, &user, &all, true).await?)
        }
        _ => None,
    };
    // Owning part of the bundle: the rest of it, with credit for what they paid.
    let upgrade = match &bundle {
        Some(_) => None,
        None => flows::upgrade_for(&state, &user).await?,
    };
    page(
        &state,
        StatusCode::OK,
        "payments/enroll.html",
        context! { user => Serde(&user), course => Serde(course), quote => Serde(&quote), bundle => Serde(&bundle),
        verified => user.email_verified_at.is_some(), plans => Serde(&course.plans),
        bundle_plans => Serde(&catalog.site.bundle_plans), upgrade => Serde(&upgrade) },
    )
}

/// Both programs at the bundle price.
pub async fn bundle_page(State(state): State<Ctx>, SignedIn(user): SignedIn) -> Result<Response, AppError> {
    let catalog = state.catalog();
    let Some(all) = pricing::bundle_courses(&catalog) else {
        return Ok(Redirect::to("/courses").into_response());
    };
    let enrolled = crate::enrollment::store::active_course_ids(&state.db, user.id).await?;
    if all.iter().any(|c| enrolled.contains(&c.id)) {
        // The upgrade, when they bought part of it; otherwise there is nothing to offer here.
        let Some(upgrade) = flows::upgrade_for(&state, &user).await? else {
            return Ok(Redirect::to("/dashboard").into_response());
        };
        return page(
            &state,
            StatusCode::OK,
            "payments/enroll.html",
            context! { user => Serde(&user), quote => Serde(&upgrade.quote), bundle => (), only_bundle => true,
            upgrade_only => Serde(&upgrade), verified => user.email_verified_at.is_some() },
        );
    }
    let quote = flows::quote_for(&state, &user, &all, true).await?;
    page(
        &state,
        StatusCode::OK,
        "payments/enroll.html",
        context! { user => Serde(&user), quote => Serde(&quote), bundle => (), only_bundle => true,
        verified => user.email_verified_at.is_some(), plans => Serde(&catalog.site.bundle_plans) },
    )
}

fn refuse(state: &Ctx, user: &User, status: StatusCode, message: String) -> Result<Response, AppError> {
    page(
        state,
        status,
        "payments/problem.html",
        context! { user => Serde(user), message },
    )
}

/// Starts a checkout. Only program slugs (and whether it is a bundle upgrade) are read from the
/// form: every amount comes from the database and `site.toml`.
/// The checkout form: the programs (one `course` per program; the bundle has two), the payment
/// plan chosen, if any, and whether the bundle upgrade credit was asked for. Nothing else is read.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct CheckoutForm {
    #[serde(rename = "course")]
    courses: Vec<String>,
    plan: String,
    upgrade: String,
}

pub async fn checkout(
    State(state): State<Ctx>,
    SignedIn(user): SignedIn,
    Form(form): Form<CheckoutForm>,
) -> Result<Response, AppError> {
    let mut slugs: Vec<String> = Vec::new();
    for slug in form.courses {
        if !slugs.contains(&slug) {
            slugs.push(slug);
        }
    }
    let plan_id = Some(form.plan).filter(|p| !p.is_empty());
    let upgrade_asked = !form.upgrade.is_empty();
    let catalog = state.catalog();
    if slugs.is_empty() || slugs.len() > catalog.courses.len() {
        return refuse(
            &state,
            &user,
            StatusCode::UNPROCESSABLE_ENTITY,
            "Choose a program to enroll in.".into(),
        );
    }
    let mut courses: Vec<&CourseSummary> = Vec::new();
    for slug in &slugs {
        match catalog.courses.iter().find(|c| &c.slug == slug) {
            Some(c) if c.status == crate::domain::CourseStatus::Open => courses.push(c),
            Some(c) => {
                return refuse(
                    &state,
                    &user,
                    StatusCode::CONFLICT,
                    format!("{} is not open for enrollment.", c.title),
                );
            }
            None => {
                return refuse(
                    &state,
                    &user,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "That program does not exist.".into(),
                );
            }
        }
    }
    courses.sort_by_key(|c| catalog.courses.iter().position(|x| x.id == c.id));
    let bundle = courses.len() > 1 || upgrade_asked;
    if upgrade_asked {
        // The rest of the bundle, exactly, for someone who owns the other part by a paid order.
        let asked: Vec<i64> = courses.iter().map(|c| c.id).collect();
        let offered: Option<Vec<i64>> = flows::upgrade_for(&state, &user)
            .await?
            .map(|u| u.quote.lines.iter().map(|l| l.course_id).collect());
        if offered.as_ref() != Some(&asked) {
            return refuse(
                &state,
                &user,
                StatusCode::CONFLICT,
                "The upgrade to the bundle is for the programs of it you do not have yet, after buying one of them."
                    .into(),
            );
        }
    } else if bundle {
        let offered: Vec<i64> = pricing::bundle_courses(&catalog)
            .unwrap_or_default()
            .iter()
            .map(|c| c.id)
            .collect();
        let asked: Vec<i64> = courses.iter().map(|c| c.id).collect();
        if offered != asked {
            return refuse(
                &state,
                &user,
                StatusCode::UNPROCESSABLE_ENTITY,
                "Enroll in one program, or in both together at the bundle price.".into(),
            );
        }
    }
    // A plan is named by its id only; what it costs comes from the catalogue.
    let plan = match &plan_id {
        None => None,
        Some(id) => match super::plans::offered(&catalog, &courses, bundle)
            .iter()
            .find(|p| &p.id == id)
        {
            Some(plan) => Some(plan.clone()),
            None => {
                return refuse(
                    &state,
                    &user,
                    StatusCode::BAD_REQUEST,
                    "That payment plan is not offered for this purchase.".into(),
                );
            }
        },
    };
    if upgrade_asked && plan.is_some() {
        return refuse(
            &state,
            &user,
            StatusCode::UNPROCESSABLE_ENTITY,
            "Payment plans are for the full price; the upgrade to the bundle is paid at once.".into(),
        );
    }
    let enrolled = crate::enrollment::store::active_course_ids(&state.db, user.id).await?;
    if let Some(c) = courses.iter().find(|c| enrolled.contains(&c.id)) {
        return refuse(
            &state,
            &user,
            StatusCode::CONFLICT,
            format!("You are already enrolled in {}.", c.title),
        );
    }
    let ids: Vec<i64> = courses.iter().map(|c| c.id).collect();
    if let Some(running) = store::running_plan_for(&state.db, user.id, &ids).await? {
        return refuse(
            &state,
            &user,
            StatusCode::CONFLICT,
            format!(
                "You already have a payment plan running for this program (order {}). See it at /plans/{running}.",
                flows::order_number(running)
            ),
        );
    }
    match flows::start(&state, &user, &courses, bundle, plan.as_ref()).await? {
        Started::Redirect(url) => Ok(Redirect::to(&url).into_response()),
        Started::ProviderDown { problem, .. } => {
            let what = match problem {
                ProviderProblem::NoAnswerInTime => {
                    "Our payment provider did not answer in time, so your payment was not started."
                }
                ProviderProblem::Unreachable => {
                    "We could not reach our payment provider, so your payment was not started."
                }
                ProviderProblem::Refused => "Our payment provider could not start your payment.",
            };
            let retry: Vec<String> = courses.iter().map(|c| c.slug.clone()).collect();
            page(
                &state,
                StatusCode::SERVICE_UNAVAILABLE,
                "payments/problem.html",
                context! { user => Serde(&user), retry,
                message => format!("{what} Nothing was charged. Please try again; if it happens again, wait a few minutes.") },
            )
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct SuccessQuery {
    session_id: String,
    order: Option<i64>,
}

/// The buyer's own order, or 404 (never someone else's).
fn own_order(user: &User, order: Option<Order>) -> Result<Order, AppError> {
    match order {
        Some(o) if o.user_id == Some(user.id) => Ok(o),
        _ => Err(AppError::NotFound),
    }
}

/// Where Stripe sends the buyer back. The webhook may come later, so this asks Stripe itself and
/// fulfils a paid order; whichever comes first grants access, the other changes nothing.
pub async fn success(
    State(state): State<Ctx>,
    SignedIn(user): SignedIn,
    Query(q): Query<SuccessQuery>,
) -> Result<Response, AppError> {
    let found = match q.order {
        Some(id) => store::order(&state.db, id).await?,
        None if !q.session_id.is_empty() && q.session_id.len() <= 255 => {
            store::order_by_session(&state.db, &q.session_id).await?
        }
        None => None,
    };
    let mut order = own_order(&user, found)?;
    if order.status == crate::domain::OrderStatus::Pending
        && let (Some(gateway), Some(session_id)) = (&state.stripe, &order.checkout_session_id)
    {
        match gateway.retrieve_session(session_id).await {
            Ok(session) => {
                flows::fulfil_from_session(&state, &order, &session).await?;
                order = store::order(&state.db, order.id).await?.ok_or(AppError::NotFound)?;
            }
            Err(e) => tracing::warn!(order_id = order.id, error = %e, "success page: Stripe did not answer"),
        }
    }
    let items = items_of(&state, order.id).await?;
    order_page(&state, &user, "payments/success.html", &order, &items)
}

async fn items_of(state: &Ctx, order_id: i64) -> Result<Vec<store::Item>, AppError> {
    let mut tx = state.db.begin().await?;
    let items = store::items(&mut tx, order_id).await?;
    tx.commit().await?;
    Ok(items)
}

/// A page about one of the buyer's orders.
fn order_page(
    state: &Ctx,
    user: &User,
    template: &str,
    order: &Order,
    items: &[store::Item],
) -> Result<Response, AppError> {
    page(
        state,
        StatusCode::OK,
        template,
        context! { user => Serde(user), order => Serde(order), items => Serde(items),
        number => flows::order_number(order.id) },
    )
}

/// The built-in test checkout: only without Stripe keys, only for the buyer's own pending order.
async fn test_order(state: &Ctx, user: &User, id: i64) -> Result<Order, AppError> {
    if state.stripe.is_some() {
        return Err(AppError::NotFound);
    }
    let order = own_order(user, store::order(&state.db, id).await?)?;
    if order.provider != "test" {
        return Err(AppError::NotFound);
    }
    Ok(order)
}

pub async fn test_checkout(
    State(state): State<Ctx>,
    SignedIn(user): SignedIn,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let order = test_order(&state, &user, id).await?;
    if order.status != crate::domain::OrderStatus::Pending {
        return Ok(Redirect::to(&format!("/checkout/success?order={id}")).into_response());
    }
    let items = items_of(&state, order.id).await?;
    order_page(&state, &user, "payments/test_checkout.html", &order, &items)
}

pub async fn test_pay(
    State(state): State<Ctx>,
    SignedIn(user): SignedIn,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let order = test_order(&state, &user, id).await?;
    let pi = format!("test_{}", order.id);
    // A plan's first instalment is paid now; the test controls on its page pay (or fail) the rest.
    let (amount, first) = match order.plan_amount_cents {
        Some(amount) => (amount, Some(format!("test_{}_1", order.id))),
        None => (order.total_cents, None),
    };
    match flows::fulfil(&state, order.id, Some(&pi), Some(amount), first.as_deref()).await? {
        Fulfilled::NotFound => Err(AppError::NotFound),
        // Another order of theirs for the same program was paid first, or the program closed
        // while this one waited: refused, and nothing was charged.
        Fulfilled::Refused { why, .. } => refuse(
            &state,
            &user,
            StatusCode::CONFLICT,
            format!("{why} This order was not paid, and nothing was charged."),
        ),
        _ => Ok(Redirect::to(&format!("/checkout/success?order={id}")).into_response()),
    }
}

pub async fn test_cancel(
    State(state): State<Ctx>,
    SignedIn(user): SignedIn,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let order = test_order(&state, &user, id).await?;
    flows::cancel(&state, order.id).await?;
    let items = items_of(&state, order.id).await?;
    let back = items.first().map_or("/courses".to_owned(), |i| {
        format!("/courses/{}?checkout=cancelled", i.slug)
    });
    Ok(Redirect::to(&back).into_response())
}

/// `POST /webhooks/stripe`: verified against `STRIPE_WEBHOOK_SECRET` (five minutes' tolerance) on
/// the raw bytes; a bad or missing signature is a 400 that writes nothing.
pub async fn webhook(State(state): State<Ctx>, headers: HeaderMap, body: Bytes) -> Result<Response, AppError> {
    let Some(gateway) = &state.stripe else {
        return Err(AppError::NotFound);
    };
    let bad = |why: &str| {
        tracing::warn!(why, "refused a Stripe webhook");
        Ok((StatusCode::BAD_REQUEST, why.to_owned()).into_response())
    };
    let Some(signature) = headers.get("stripe-signature").and_then(|v| v.to_str().ok()) else {
        return bad("missing Stripe-Signature");
    };
    let Ok(payload) = std::str::from_utf8(&body) else {
        return bad("body is not UTF-8");
    };
    let event = match stripe_webhook::Webhook::construct_event(payload, signature, &gateway.webhook_secret) {
        Ok(event) => event,
        Err(stripe_webhook::WebhookError::BadParse(e)) => {
            // Signed by Stripe but not readable by us: fail, so Stripe keeps retrying while someone
            // looks (a lost refund would otherwise never end access).
            tracing::error!(error = %e, "a signed Stripe event could not be read; Stripe will retry it");
            return Ok((StatusCode::INTERNAL_SERVER_ERROR, "unreadable event").into_response());
        }
        Err(e) => return bad(&format!("signature: {e}")),
    };
    let kind = event.type_.as_str().to_owned();
    let outcome = flows::handle_event(&state, event).await?;
    tracing::info!(event = %kind, ?outcome, "Stripe webhook");
    Ok((StatusCode::OK, "ok").into_response())
}

/// A buyer's payment plan: how many instalments are paid and, when a payment failed for good, what
/// to do about it (update the card in Stripe's Billing Portal). In test mode, controls to pay or
/// fail the next instalment.
pub async fn plan_page(
    State(state): State<Ctx>,
    SignedIn(user): SignedIn,
    Path(id): Path<i64>,
    Query(q): Query<PlanQuery>,
) -> Result<Response, AppError> {
    let order = own_order(&user, store::order(&state.db, id).await?)?;
    if !order.is_plan()
        || order.status != crate::domain::OrderStatus::Paid && order.status != crate::domain::OrderStatus::Refunded
    {
        return Err(AppError::NotFound);
    }
    let items = items_of(&state, order.id).await?;
    let payments = store::payments(&state.db, order.id).await?;
    page(
        &state,
        StatusCode::OK,
        "payments/plan.html",
        context! { user => Serde(&user), order => Serde(&order), items => Serde(&items),
        number => flows::order_number(order.id), paid => payments.len(), payments => Serde(&payments),
        paused => order.plan_state() == Some(crate::domain::PlanState::Paused),
        test => order.provider == "test" && state.stripe.is_none(), notice => q.notice },
    )
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct PlanQuery {
    notice: Option<String>,
}

/// `POST /plans/{order}/portal`: a Stripe Billing Portal session for the plan's customer, to
/// update the card; the browser goes there.
pub async fn plan_portal(
    State(state): State<Ctx>,
    SignedIn(user): SignedIn,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let order = own_order(&user, store::order(&state.db, id).await?)?;
    if !order.is_plan() || order.provider != "stripe" {
        return Err(AppError::NotFound);
    }
    match super::instalments::portal(&state, &order).await? {
        Some(url) => Ok(Redirect::to(&url).into_response()),
        None => refuse(
            &state,
            &user,
            StatusCode::SERVICE_UNAVAILABLE,
            "We could not open the page to update your card just now. Please try again in a few minutes.".into(),
        ),
    }
}

/// Test mode only: the owner of a plan (or the instructor) pays or fails its next instalment.
async fn test_plan_order(state: &Ctx, user: &User, id: i64) -> Result<Order, AppError> {
    if state.stripe.is_some() {
        return Err(AppError::NotFound);
    }
    let order = store::order(&state.db, id).await?.ok_or(AppError::NotFound)?;
    if order.user_id != Some(user.id) && !user.is_instructor() {
        return Err(AppError::NotFound);
    }
    if order.provider != "test" || !order.is_plan() {
        return Err(AppError::NotFound);
    }
    Ok(order)
}

pub async fn test_collect(
    State(state): State<Ctx>,
    SignedIn(user): SignedIn,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let order = test_plan_order(&state, &user, id).await?;
    let done = super::instalments::test_collect(&state, &order).await?;
    Ok(Redirect::to(&back_to_plan(&user, &order, if done { "collected" } else { "nothing" })).into_response())
}

pub async fn test_fail(
    State(state): State<Ctx>,
    SignedIn(user): SignedIn,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    let order = test_plan_order(&state, &user, id).await?;
    let done = super::instalments::test_fail(&state, &order).await?;
    Ok(Redirect::to(&back_to_plan(&user, &order, if done { "failed" } else { "nothing" })).into_response())
}

fn back_to_plan(user: &User, order: &Order, notice: &str) -> String {
    if order.user_id == Some(user.id) {
        format!("/plans/{}?notice={notice}", order.id)
    } else {
        format!("/admin/orders#order-{}", order.id)
    }
}
