//! A student's patterns (charts and tables over 7, 30 or 90 days), the CSV, and the studio's read-only view of shared diaries.

use super::*;

// ---- patterns and the CSV -------------------------------------------------------------------------

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct DaysQuery {
    pub(super) days: Option<i64>,
}

pub(super) fn window(q: &DaysQuery) -> Result<i64, AppError> {
    match q.days {
        None => Ok(30),
        Some(d) if view::WINDOWS.contains(&d) => Ok(d),
        Some(_) => Err(AppError::BadRequest("Choose 7, 30 or 90 days.".to_owned())),
    }
}

pub(super) async fn patterns_of(
    state: &Ctx,
    user_id: i64,
    course_id: i64,
    tz: &jiff::tz::TimeZone,
    days: i64,
) -> Result<view::Patterns, AppError> {
    let today = crate::checkins::today(state, tz);
    let since = view::window_start(today, days).to_string();
    let (defs, entries) = tokio::try_join!(
        store::definitions(&state.db, course_id),
        store::entries(&state.db, user_id, course_id, Some(&since)),
    )?;
    view::patterns(&defs, &entries, today, days).map_err(|e| AppError::Internal(e.into()))
}

pub async fn patterns(
    State(state): State<Ctx>,
    SignedIn(user): SignedIn,
    Path(slug): Path<String>,
    Query(q): Query<DaysQuery>,
) -> Result<Response, AppError> {
    let days = window(&q)?;
    let place = place(&state, &user, &slug).await?;
    if place.consent.is_none() {
        return Ok(Redirect::to(&place.home()).into_response());
    }
    let patterns = patterns_of(&state, user.id, place.course_id, &place.catalog.tz, days).await?;
    let ctx = context! {
        user => Serde(&user),
        course => place.course(),
        patterns => Serde(&patterns),
        windows => Serde(&view::WINDOWS),
        base => format!("/courses/{}/checkins/patterns", place.slug),
    };
    Ok(state.render("checkins/patterns.html", ctx)?.into_response())
}

/// Every entry of the program as CSV (archived fields included, and named so).
pub async fn csv(
    State(state): State<Ctx>,
    SignedIn(user): SignedIn,
    Path(slug): Path<String>,
) -> Result<Response, AppError> {
    let place = place(&state, &user, &slug).await?;
    let (defs, entries) = tokio::try_join!(
        store::definitions(&state.db, place.course_id),
        store::entries(&state.db, user.id, place.course_id, None),
    )?;
    let body = view::csv(&defs, &entries)?;
    Ok(crate::admin::csv::attachment(
        &format!("checkins-{}", place.slug),
        state.clock.now().date(),
        body,
    ))
}

// ---- the studio ---------------------------------------------------------------------------------------

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct StudioQuery {
    pub(super) student: Option<i64>,
    pub(super) days: Option<i64>,
}

/// The studio: the students who share their check-ins of a program; with `?student=`, that
/// student's diary, read-only (404 unless they share it now), each view written to the audit log.
pub async fn studio(
    State(state): State<Ctx>,
    Instructor(instructor): Instructor,
    Path(slug): Path<String>,
    Query(q): Query<StudioQuery>,
) -> Result<Response, AppError> {
    let catalog = state.catalog();
    let program = catalog.program(&slug).ok_or(AppError::NotFound)?;
    let course = context! { slug => program.slug.clone(), title => program.title.clone() };
    let Some(student) = q.student else {
        let sharers = store::sharers(&state.db, program.course_id).await?;
        let ctx =
            context! { user => Serde(&instructor), course, title => program.title.clone(), sharers => Serde(&sharers) };
        return Ok(state.render("admin/checkins.html", ctx)?.into_response());
    };
    let days = window(&DaysQuery { days: q.days })?;
    let sharer = store::sharer(&state.db, program.course_id, student)
        .await?
        .ok_or(AppError::NotFound)?;
    let now = state.clock.now();
    crate::audit::record_now(
        &state.db,
        &instructor,
        "checkins.view",
        &format!("check-ins of student {} in {}", sharer.user_id, program.slug),
        &format!(
            "shared since {}, last {days} days",
            crate::local_time::format_local_date(sharer.shared_since, &catalog.tz)
        ),
        now,
    )
    .await?;
    let patterns = patterns_of(&state, sharer.user_id, program.course_id, &catalog.tz, days).await?;
    let today = crate::checkins::today(&state, &catalog.tz);
    let since = view::window_start(today, days).to_string();
    let (defs, entries) = tokio::try_join!(
        store::definitions(&state.db, program.course_id),
        store::entries(&state.db, sharer.user_id, program.course_id, Some(&since)),
    )?;
    let tables = view::tables(&defs, &entries).map_err(|e| AppError::Internal(e.into()))?;
    let ctx = context! {
        user => Serde(&instructor),
        course,
        title => program.title.clone(),
        student => Serde(&sharer),
        patterns => Serde(&patterns),
        tables => Serde(&tables),
        windows => Serde(&view::WINDOWS),
        base => format!("/admin/courses/{}/checkins?student={}", program.slug, sharer.user_id),
    };
    Ok(state.render("admin/checkins_student.html", ctx)?.into_response())
}
