//! Orders in the studio: filter by program and status, export CSV, refund.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use minijinja::value::Serde;
use serde::Deserialize;

use super::csv;
use crate::accounts::Instructor;
use crate::context::Ctx;
use crate::payments::flows::{self, Refunded};
use crate::payments::store::{self, OrderLine};
use crate::web::AppError;

pub const STATUSES: [&str; 6] = ["pending", "paid", "refunded", "failed", "cancelled", "expired"];

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct Filter {
    course: String,
    status: String,
    notice: String,
}

impl Filter {
    fn check(&self, state: &Ctx) -> Result<(), AppError> {
        super::check_filter(state, &self.course, &self.status, &STATUSES, "status")
    }
}

fn notice_text(key: &str) -> Option<&'static str> {
    Some(match key {
        "refunded" => "Refunded. The student's access to the order's programs has ended; their progress is kept.",
        "not-paid" => "Only a paid order can be refunded.",
        _ => return None,
    })
}

async fn render(
    state: &Ctx,
    user: &crate::accounts::store::User,
    f: &Filter,
    status: StatusCode,
    error: Option<String>,
) -> Result<Response, AppError> {
    let rows = store::list(&state.db, &f.course, &f.status).await?;
    let revenue: i64 = rows
        .iter()
        .filter(|r| r.status == crate::domain::OrderStatus::Paid)
        .map(|r| r.amount_paid_cents.unwrap_or(r.total_cents))
        .sum();
    // Revenue is money received: a plan counts the instalments paid; the rest is only promised.
    let promised: i64 = rows
        .iter()
        .filter(|r| r.status == crate::domain::OrderStatus::Paid && r.plan_state.as_deref() == Some("active"))
        .map(|r| r.total_cents - r.amount_paid_cents.unwrap_or(0))
        .sum();
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("course", &f.course)
        .append_pair("status", &f.status)
        .finish();
    let numbered: Vec<_> = rows
        .iter()
        .map(|r| context! { row => Serde(r), number => flows::order_number(r.id) })
        .collect();
    let ctx = context! {
        user => Serde(user),
        rows => numbered,
        revenue,
        promised,
        courses => Serde(&state.catalog().courses),
        statuses => STATUSES,
        course => f.course.clone(),
        status => f.status.clone(),
        query,
        notice => notice_text(&f.notice),
        error,
    };
    Ok((status, state.render("admin/orders.html", ctx)?).into_response())
}

pub async fn list(
    State(state): State<Ctx>,
    Instructor(user): Instructor,
    Query(f): Query<Filter>,
) -> Result<Response, AppError> {
    f.check(&state)?;
    render(&state, &user, &f, StatusCode::OK, None).await
}

pub async fn csv(
    State(state): State<Ctx>,
    Instructor(_): Instructor,
    Query(f): Query<Filter>,
) -> Result<Response, AppError> {
    f.check(&state)?;
    let rows = store::list(&state.db, &f.course, &f.status).await?;
    let catalog = state.catalog();
    let tz = catalog.tz.clone();
    let date_header = format!("Date ({})", catalog.site.time_zone);
    let money = |cents: i64| format!("{}.{:02}", cents / 100, cents % 100);
    let body = csv::document(
        &[
            "Order",
            &date_header,
            "Name",
            "Email",
            "Programs",
            "Status",
            "Currency",
            "Price",
            "Paid",
            "Note",
            "Plan",
            "Plan payments made",
            "Plan state",
            "Tax",
        ],
        rows.iter().map(|r: &OrderLine| {
            vec![
                flows::order_number(r.id),
                crate::local_time::input_value(r.created_at, &tz).replace('T', " "),
                r.name.clone().unwrap_or_default(),
                r.email.clone().unwrap_or_default(),
                r.programs.clone(),
                r.status.to_string(),
                r.currency.clone(),
                money(r.total_cents),
                r.amount_paid_cents.map(money).unwrap_or_default(),
                r.failure.clone().unwrap_or_default(),
                match (r.plan_instalments, r.plan_amount_cents, &r.plan_interval) {
                    (Some(n), Some(each), Some(every)) => format!("{n} × {} every {every}", money(each)),
                    _ => String::new(),
                },
                r.plan_instalments
                    .map(|n| format!("{} of {n}", r.payments_made))
                    .unwrap_or_default(),
                r.plan_state.clone().unwrap_or_default(),
                r.tax_cents.map(money).unwrap_or_default(),
            ]
        }),
    )
    .map_err(AppError::Internal)?;
    Ok(csv::attachment("orders", state.clock.now().date(), body))
}

pub async fn refund(
    State(state): State<Ctx>,
    Instructor(user): Instructor,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    match flows::refund(&state, id).await? {
        Refunded::Done => {
            tracing::info!(order_id = id, by = user.id, "refund by the instructor");
            crate::audit::record_now(
                &state.db,
                &user,
                "order.refund",
                &format!("order {id}"),
                "",
                state.clock.now(),
            )
            .await?;
            Ok(Redirect::to("/admin/orders?notice=refunded").into_response())
        }
        Refunded::NotPaid => Ok(Redirect::to("/admin/orders?notice=not-paid").into_response()),
        Refunded::NotFound => Err(AppError::NotFound),
        Refunded::NoAnswer(why) => {
            let message = format!(
                "Stripe did not answer ({why}), so nothing changed here yet. Press Refund again: Stripe makes \
                 the refund at most once, and if it was made meanwhile the order will show it."
            );
            render(
                &state,
                &user,
                &Filter::default(),
                StatusCode::BAD_GATEWAY,
                Some(message),
            )
            .await
        }
        Refunded::ProviderFailed(why) => {
            let message = format!("Stripe did not make the refund, so nothing changed: {why}");
            render(
                &state,
                &user,
                &Filter::default(),
                StatusCode::BAD_GATEWAY,
                Some(message),
            )
            .await
        }
    }
}
