//! Logging, editing and deleting entries: the plain form and its checks.

use super::*;

// ---- the entry form ------------------------------------------------------------------------------

#[derive(Serialize)]
pub(super) struct OptionView {
    pub(super) value: String,
    pub(super) label: String,
    pub(super) checked: bool,
}

#[derive(Serialize)]
pub(super) struct FieldView {
    pub(super) id: String,
    pub(super) label: String,
    pub(super) kind: &'static str,
    pub(super) optional: bool,
    pub(super) options: Vec<OptionView>,
    pub(super) value: String,
    pub(super) low: Option<String>,
    pub(super) mid: Option<String>,
    pub(super) high: Option<String>,
    pub(super) max_length: Option<usize>,
    pub(super) error: Option<String>,
}

#[derive(Serialize)]
pub(super) struct KeptValue {
    pub(super) label: String,
    pub(super) value: String,
}

pub(super) fn field_views(
    fields: &[Field],
    values: &Map<String, Value>,
    raw: Option<&[(String, String)]>,
    problems: &[Problem],
) -> Vec<FieldView> {
    fields
        .iter()
        .map(|f| {
            // What the form shows: what was just sent (when it is re-shown), else what is stored.
            let value = match raw {
                Some(pairs) => pairs
                    .iter()
                    .find(|(k, _)| *k == f.id)
                    .map(|(_, v)| v.trim().to_owned())
                    .unwrap_or_default(),
                None => values.get(&f.id).map(values::input_value).unwrap_or_default(),
            };
            let opts = |list: Vec<(String, String)>| -> Vec<OptionView> {
                list.into_iter()
                    .map(|(v, l)| OptionView {
                        checked: v == value,
                        value: v,
                        label: l,
                    })
                    .collect()
            };
            let (options, low, mid, high, max_length) = match &f.kind {
                FieldKind::Scale { low, mid, high } => (
                    opts((0..=10).map(|n| (n.to_string(), n.to_string())).collect()),
                    Some(low.clone()),
                    mid.clone(),
                    Some(high.clone()),
                    None,
                ),
                FieldKind::Bristol => (
                    opts(
                        BRISTOL
                            .iter()
                            .enumerate()
                            .map(|(i, l)| ((i + 1).to_string(), (*l).to_owned()))
                            .collect(),
                    ),
                    None,
                    None,
                    None,
                    None,
                ),
                FieldKind::YesNo => (
                    opts(vec![
                        ("yes".to_owned(), "Yes".to_owned()),
                        ("no".to_owned(), "No".to_owned()),
                    ]),
                    None,
                    None,
                    None,
                    None,
                ),
                FieldKind::Choice { options } => (
                    opts(options.iter().map(|o| (o.clone(), o.clone())).collect()),
                    None,
                    None,
                    None,
                    None,
                ),
                FieldKind::TimeOfDay => (Vec::new(), None, None, None, None),
                FieldKind::Text { max_length } => (Vec::new(), None, None, None, Some(*max_length)),
            };
            FieldView {
                id: f.id.clone(),
                label: f.label.clone(),
                kind: f.kind.name(),
                optional: f.optional,
                options,
                value,
                low,
                mid,
                high,
                max_length,
                error: problems
                    .iter()
                    .find(|p| p.field.as_deref() == Some(f.id.as_str()))
                    .map(|p| p.message.clone()),
            }
        })
        .collect()
}

/// Values an entry holds for fields the check-in no longer has: kept, and shown on the form.
pub(super) fn kept_values(def: &Definition, answers: &Map<String, Value>) -> Vec<KeptValue> {
    answers
        .iter()
        .filter(|(k, _)| !def.fields.iter().any(|f| &f.id == *k))
        .map(|(k, v)| {
            let field = def.field(k).map(|(f, _)| f);
            KeptValue {
                label: field.map_or_else(|| k.clone(), |f| f.label.clone()),
                value: values::display(field, v),
            }
        })
        .collect()
}

/// The answers to store: the new ones, and the old entry's values of archived fields (never
/// dropped by an edit).
pub(super) fn merged(
    def: &Definition,
    new: Map<String, Value>,
    old: Option<&Map<String, Value>>,
) -> Map<String, Value> {
    let mut out = new;
    if let Some(old) = old {
        for (k, v) in old {
            if !def.fields.iter().any(|f| &f.id == k) {
                out.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
    }
    out
}

pub(super) struct FormPage<'a> {
    pub(super) place: &'a Place,
    pub(super) def: &'a Definition,
    pub(super) action: String,
    pub(super) date: String,
    pub(super) today: String,
    pub(super) entry_id: Option<i64>,
    pub(super) values: Map<String, Value>,
    pub(super) raw: Option<&'a [(String, String)]>,
    pub(super) problems: Vec<Problem>,
}

pub(super) fn render_form(
    state: &Ctx,
    user: &User,
    page: FormPage<'_>,
) -> Result<axum::response::Html<String>, AppError> {
    let fields = field_views(&page.def.fields, &page.values, page.raw, &page.problems);
    let kept = kept_values(page.def, &page.values);
    let general: Vec<String> = page
        .problems
        .iter()
        .filter(|p| p.field.is_none() || p.field.as_deref() == Some("date"))
        .map(|p| p.message.clone())
        .collect();
    let ctx = context! {
        user => Serde(user),
        course => page.place.course(),
        checkin => context! { slug => page.def.slug.clone(), title => page.def.title.clone(), description => page.def.description.clone() },
        fields => Serde(&fields),
        kept => Serde(&kept),
        action => page.action,
        date => page.date,
        today => page.today,
        entry_id => page.entry_id,
        problems => Serde(&general),
        has_problems => !page.problems.is_empty(),
    };
    Ok(state.render("checkins/form.html", ctx)?)
}

/// A check-in the student may log now: declared, not archived, its module open.
pub(super) fn loggable<'a>(
    state: &Ctx,
    place: &Place,
    defs: &'a [Definition],
    slug: &str,
) -> Result<&'a Definition, AppError> {
    let def = defs
        .iter()
        .find(|d| d.slug == slug && !d.archived)
        .ok_or(AppError::NotFound)?;
    if !place.open_modules(state).contains(&def.introduced_in) {
        return Err(AppError::Forbidden);
    }
    Ok(def)
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct DateQuery {
    pub(super) date: String,
}

/// The form for a check-in and a day (today unless `?date=`): that day's entry when there is one.
pub async fn log_form(
    State(state): State<Ctx>,
    SignedIn(user): SignedIn,
    Path((slug, checkin)): Path<(String, String)>,
    Query(q): Query<DateQuery>,
) -> Result<Response, AppError> {
    let place = place(&state, &user, &slug).await?;
    if place.consent.is_none() {
        return Ok(Redirect::to(&place.home()).into_response());
    }
    let defs = store::definitions(&state.db, place.course_id).await?;
    let def = loggable(&state, &place, &defs, &checkin)?;
    let today = crate::checkins::today(&state, &place.catalog.tz);
    let date = match q.date.as_str() {
        "" => today,
        d => d
            .parse::<jiff::civil::Date>()
            .ok()
            .filter(|d| *d <= today)
            .ok_or_else(|| {
                AppError::BadRequest(
                    "That is not a date we can open (use today or an earlier day, as 2026-03-31).".to_owned(),
                )
            })?,
    };
    let existing = store::entry_on(&state.db, user.id, def.id, &date.to_string()).await?;
    let values = match &existing {
        Some(e) => e.answers()?,
        None => Map::new(),
    };
    let html = render_form(
        &state,
        &user,
        FormPage {
            place: &place,
            def,
            action: format!("/courses/{}/checkins/log/{}", place.slug, def.slug),
            date: date.to_string(),
            today: today.to_string(),
            entry_id: existing.map(|e| e.id),
            values,
            raw: None,
            problems: Vec::new(),
        },
    )?;
    Ok(html.into_response())
}

/// Logs a check-in for a day (replacing that day's entry, if any). Bad input: 422, the form again
/// with every problem, nothing written.
pub async fn log(
    State(state): State<Ctx>,
    SignedIn(user): SignedIn,
    Path((slug, checkin)): Path<(String, String)>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let place = place(&state, &user, &slug).await?;
    if place.consent.is_none() {
        return Err(AppError::Forbidden);
    }
    let defs = store::definitions(&state.db, place.course_id).await?;
    let def = loggable(&state, &place, &defs, &checkin)?;
    let today = crate::checkins::today(&state, &place.catalog.tz);
    match values::read(&def.fields, &pairs, today) {
        Ok((date, answers)) => {
            let date = date.to_string();
            let old = store::entry_on(&state.db, user.id, def.id, &date).await?;
            let old = old.map(|e| e.answers()).transpose()?;
            let answers = merged(def, answers, old.as_ref());
            let json = serde_json::to_string(&answers).map_err(|e| AppError::Internal(e.into()))?;
            store::save_for_day(&state.db, user.id, def, &date, &json, state.clock.now()).await?;
            Ok(Redirect::to(&format!("{}?notice=saved", place.home())).into_response())
        }
        Err(problems) => {
            let date = pairs
                .iter()
                .find(|(k, _)| k == "date")
                .map(|(_, v)| v.chars().take(10).collect())
                .unwrap_or_else(|| today.to_string());
            let html = render_form(
                &state,
                &user,
                FormPage {
                    place: &place,
                    def,
                    action: format!("/courses/{}/checkins/log/{}", place.slug, def.slug),
                    date,
                    today: today.to_string(),
                    entry_id: None,
                    values: Map::new(),
                    raw: Some(&pairs),
                    problems,
                },
            )?;
            Ok(unprocessable(html))
        }
    }
}

/// One of the student's own entries in this program, with its check-in; 404 for anyone else's.
pub(super) async fn own_entry(
    state: &Ctx,
    user: &User,
    place: &Place,
    id: &str,
) -> Result<(store::Entry, Vec<Definition>), AppError> {
    let id: i64 = id.parse().map_err(|_| AppError::NotFound)?;
    let entry = store::entry(&state.db, user.id, id)
        .await?
        .filter(|e| e.course_id == place.course_id)
        .ok_or(AppError::NotFound)?;
    let defs = store::definitions(&state.db, place.course_id).await?;
    Ok((entry, defs))
}

pub async fn edit_form(
    State(state): State<Ctx>,
    SignedIn(user): SignedIn,
    Path((slug, id)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let place = place(&state, &user, &slug).await?;
    let (entry, defs) = own_entry(&state, &user, &place, &id).await?;
    let def = defs
        .iter()
        .find(|d| d.id == entry.checkin_id)
        .ok_or(AppError::NotFound)?;
    let today = crate::checkins::today(&state, &place.catalog.tz);
    let html = render_form(
        &state,
        &user,
        FormPage {
            place: &place,
            def,
            action: format!("/courses/{}/checkins/entries/{}", place.slug, entry.id),
            date: entry.entry_date.clone(),
            today: today.to_string(),
            entry_id: Some(entry.id),
            values: entry.answers()?,
            raw: None,
            problems: Vec::new(),
        },
    )?;
    Ok(html.into_response())
}

pub async fn edit(
    State(state): State<Ctx>,
    SignedIn(user): SignedIn,
    Path((slug, id)): Path<(String, String)>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let place = place(&state, &user, &slug).await?;
    let (entry, defs) = own_entry(&state, &user, &place, &id).await?;
    let def = defs
        .iter()
        .find(|d| d.id == entry.checkin_id)
        .ok_or(AppError::NotFound)?;
    let today = crate::checkins::today(&state, &place.catalog.tz);
    let old = entry.answers()?;
    let problems = match values::read(&def.fields, &pairs, today) {
        Ok((date, answers)) => {
            let answers = merged(def, answers, Some(&old));
            let json = serde_json::to_string(&answers).map_err(|e| AppError::Internal(e.into()))?;
            let date = date.to_string();
            if store::update(
                &state.db,
                user.id,
                entry.id,
                &date,
                &json,
                def.version,
                state.clock.now(),
            )
            .await?
            {
                return Ok(Redirect::to(&format!("{}?notice=saved", place.home())).into_response());
            }
            vec![Problem {
                field: Some("date".to_owned()),
                message: format!(
                    "You already have a {} entry for {date}; edit that one, or choose another day.",
                    def.title
                ),
            }]
        }
        Err(problems) => problems,
    };
    let html = render_form(
        &state,
        &user,
        FormPage {
            place: &place,
            def,
            action: format!("/courses/{}/checkins/entries/{}", place.slug, entry.id),
            date: pairs
                .iter()
                .find(|(k, _)| k == "date")
                .map(|(_, v)| v.chars().take(10).collect())
                .unwrap_or(entry.entry_date.clone()),
            today: today.to_string(),
            entry_id: Some(entry.id),
            values: old,
            raw: Some(&pairs),
            problems,
        },
    )?;
    Ok(unprocessable(html))
}

pub async fn delete(
    State(state): State<Ctx>,
    SignedIn(user): SignedIn,
    Path((slug, id)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let place = place(&state, &user, &slug).await?;
    let (entry, _) = own_entry(&state, &user, &place, &id).await?;
    if !store::delete(&state.db, user.id, entry.id).await? {
        return Err(AppError::NotFound);
    }
    Ok(Redirect::to(&format!("{}?notice=deleted", place.home())).into_response())
}
