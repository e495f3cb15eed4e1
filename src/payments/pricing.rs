//! What a purchase costs, decided on the server from the catalogue and `site.toml` (never from the
//! form): one program at its price, or every open program together at the bundle price, with the
//! early-bird discount on the programs the buyer pre-enrolled in, for the days after each launch.

use serde::Serialize;
use time::{Duration, OffsetDateTime};

use crate::catalog::Catalog;
use crate::catalog::store::CourseSummary;

#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub course_id: i64,
    pub slug: String,
    pub title: String,
    /// The program's own price.
    pub list_cents: i64,
    /// What this purchase charges for it (its share of the bundle, less any early-bird discount).
    pub price_cents: i64,
    pub early_bird: bool,
}

#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct Quote {
    pub lines: Vec<Line>,
    pub bundle: bool,
    pub early_bird: bool,
    /// The last moment of the earliest early-bird window that applies.
    #[serde(with = "time::serde::rfc3339::option")]
    pub early_bird_until: Option<OffsetDateTime>,
    pub list_cents: i64,
    pub total_cents: i64,
    pub currency: String,
}

/// The programs sold together at the bundle price: every open program, when there are at least
/// two and `site.toml` sets a bundle price below their sum.
pub fn bundle_courses(catalog: &Catalog) -> Option<Vec<&CourseSummary>> {
    bundle_of(&catalog.courses, catalog.site.bundle_price_cents)
}

/// [`bundle_courses`] from the parts (the catalogue uses it while it is being built).
pub fn bundle_of(courses: &[CourseSummary], bundle_price_cents: i64) -> Option<Vec<&CourseSummary>> {
    let open: Vec<&CourseSummary> = courses
        .iter()
        .filter(|c| c.status == crate::domain::CourseStatus::Open)
        .collect();
    let sum: i64 = open.iter().map(|c| c.price_cents).sum();
    (open.len() >= 2 && bundle_price_cents > 0 && bundle_price_cents < sum).then_some(open)
}

/// `pct` percent off `cents`, rounded to the nearest minor unit.
pub fn discounted(cents: i64, pct: i64) -> i64 {
    (cents * (100 - pct) + 50) / 100
}

/// The price of `courses` for a buyer whose early-bird windows are `launches`: (course id, launch
/// time) of each program they confirmed a pre-enrollment for.
pub fn quote(
    catalog: &Catalog,
    courses: &[&CourseSummary],
    bundle: bool,
    launches: &[(i64, Option<OffsetDateTime>)],
    now: OffsetDateTime,
) -> Quote {
    let site = &catalog.site;
    let list_cents: i64 = courses.iter().map(|c| c.price_cents).sum();
    // The bundle price is shared out in proportion to the programs' prices; the last line takes the
    // rounding, so the lines add up to the bundle price exactly.
    let mut shares: Vec<i64> = courses.iter().map(|c| c.price_cents).collect();
    if bundle && list_cents > 0 {
        let mut given = 0;
        for (i, c) in courses.iter().enumerate() {
            shares[i] = if i + 1 == courses.len() {
                site.bundle_price_cents - given
            } else {
                site.bundle_price_cents * c.price_cents / list_cents
            };
            given += shares[i];
        }
    }
    let window = Duration::days(site.early_bird_days);
    let mut until: Option<OffsetDateTime> = None;
    let lines: Vec<Line> = courses
        .iter()
        .zip(shares)
        .map(|(c, share)| {
            let launched = launches.iter().find(|(id, _)| *id == c.id).and_then(|(_, at)| *at);
            let early = site.early_bird_percent > 0 && launched.is_some_and(|at| now >= at && now < at + window);
            if early && let Some(at) = launched {
                let end = at + window;
                until = Some(until.map_or(end, |u| u.min(end)));
            }
            Line {
                course_id: c.id,
                slug: c.slug.clone(),
                title: c.title.clone(),
                list_cents: c.price_cents,
                price_cents: if early {
                    discounted(share, site.early_bird_percent)
                } else {
                    share
                },
                early_bird: early,
            }
        })
        .collect();
    Quote {
        bundle,
        early_bird: lines.iter().any(|l| l.early_bird),
        early_bird_until: until,
        list_cents,
        total_cents: lines.iter().map(|l| l.price_cents).sum(),
        currency: site.currency.clone(),
        lines,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discounts_round_to_the_nearest_cent() {
        assert_eq!(discounted(19_700, 20), 15_760);
        assert_eq!(discounted(999, 15), 849);
        assert_eq!(discounted(1, 50), 1);
        assert_eq!(discounted(19_700, 0), 19_700);
    }
}
