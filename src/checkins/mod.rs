//! Check-ins: a private diary tied to a program (issue 17, part 2). Each program declares its
//! check-ins in `checkins.toml` (read at content import, [`definition`]); a student consents first,
//! then logs entries (one per check-in and day), edits and deletes them, sees their patterns
//! (server-drawn charts with tables), downloads a CSV, and may share the diary, read-only, with the
//! instructor of that program; each instructor view is in the audit log. Withdrawing consent
//! deletes the entries.
//!
//! A content import that changes a check-in keeps every entry: a removed field's values stay in the
//! entries' JSON and are shown as an "archived field" in tables and the CSV; each entry records the
//! definition version it was written against.

pub mod chart;
pub mod definition;
mod handlers;
pub mod store;
pub mod values;
pub mod view;

use axum::Router;
use axum::routing::{get, post};
use serde_json::json;

use crate::accounts::store::User;
use crate::context::Ctx;
use crate::db::Tx;
use crate::error::Error;

pub use handlers::studio;

pub fn routes() -> Router<Ctx> {
    Router::new()
        .route("/courses/{slug}/checkins", get(handlers::home))
        .route("/courses/{slug}/checkins/consent", post(handlers::consent))
        .route(
            "/courses/{slug}/checkins/withdraw",
            get(handlers::withdraw_page).post(handlers::withdraw),
        )
        .route("/courses/{slug}/checkins/settings", post(handlers::settings))
        .route("/courses/{slug}/checkins/patterns", get(handlers::patterns))
        .route("/courses/{slug}/checkins/entries.csv", get(handlers::csv))
        .route(
            "/courses/{slug}/checkins/log/{checkin}",
            get(handlers::log_form).post(handlers::log),
        )
        .route(
            "/courses/{slug}/checkins/entries/{id}",
            get(handlers::edit_form).post(handlers::edit),
        )
        .route("/courses/{slug}/checkins/entries/{id}/delete", post(handlers::delete))
}

/// Today in the site's time zone.
pub fn today(ctx: &Ctx, tz: &jiff::tz::TimeZone) -> jiff::civil::Date {
    let now = ctx.clock.now();
    jiff::Timestamp::from_second(now.unix_timestamp())
        .map(|ts| ts.to_zoned(tz.clone()).date())
        .unwrap_or_else(|_| jiff::civil::date(2000, 1, 1))
}

/// A person's check-ins for the account export: per program, the consent with its choices and
/// every entry with its answers (archived fields included).
pub async fn export_for(ctx: &Ctx, user: &User) -> Result<serde_json::Value, Error> {
    let consents = store::consents_of(&ctx.db, user.id).await?;
    let entries = store::all_entries_of(&ctx.db, user.id).await?;
    let rfc3339 = |t: time::OffsetDateTime| t.format(&time::format_description::well_known::Rfc3339).ok();
    let mut courses: Vec<i64> = consents.iter().map(|c| c.course_id).collect();
    courses.extend(entries.iter().map(|e| e.course_id));
    courses.sort_unstable();
    courses.dedup();
    let mut out = Vec::new();
    for course_id in courses {
        let defs = store::definitions(&ctx.db, course_id).await?;
        let program = ctx
            .catalog()
            .program_by_id(course_id)
            .map(|p| p.slug.clone())
            .unwrap_or_else(|| course_id.to_string());
        let consent = consents.iter().find(|c| c.course_id == course_id).map(|c| {
            json!({
                "consented_at": rfc3339(c.consented_at),
                "sharing_with_instructor": c.shared_since.is_some(),
                "sharing_since": c.shared_since.and_then(rfc3339),
                "hide_counts_and_streaks": c.hide_counts,
            })
        });
        let mut list = Vec::new();
        for e in entries.iter().filter(|e| e.course_id == course_id) {
            let def = defs.iter().find(|d| d.id == e.checkin_id);
            let answers = e.answers()?;
            let archived: Vec<&String> = answers
                .keys()
                .filter(|k| def.is_none_or(|d| !d.fields.iter().any(|f| &f.id == *k)))
                .collect();
            list.push(json!({
                "checkin": def.map(|d| d.slug.clone()),
                "date": e.entry_date,
                "answers": answers,
                "archived_fields": archived,
                "definition_version": e.field_version,
                "created_at": rfc3339(e.created_at),
                "updated_at": rfc3339(e.updated_at),
            }));
        }
        out.push(json!({ "program": program, "consent": consent, "entries": list }));
    }
    Ok(json!(out))
}

/// Removes everything check-ins hold about a person (account deletion's transaction).
pub async fn delete_for_user(tx: &mut Tx, user_id: i64) -> Result<(), Error> {
    Ok(store::delete_for_user(tx, user_id).await?)
}
