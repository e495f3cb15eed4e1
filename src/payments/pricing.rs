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

/// Bundle upgrade credit: a buyer who owns part of the bundle (by paid orders) buys the rest of it
/// at the bundle price less what they paid for the part they own, never below zero.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct Upgrade {
    /// The programs still to buy, at their share of the upgrade price (`quote.total_cents`).
    pub quote: Quote,
    /// What they paid for the programs of the bundle they own.
    pub credit_cents: i64,
    pub bundle_price_cents: i64,
    /// The titles of the programs they own.
    pub owned: Vec<String>,
}

/// The upgrade offer for a buyer who owns `owned` (course id, what they paid for it, from paid and
/// not refunded orders) of the bundle `bundle`. None when they own none of it (the plain bundle
/// applies) or all of it, or when the upgrade would not cost less than the rest at its own prices.
pub fn upgrade_quote(catalog: &Catalog, bundle: &[&CourseSummary], owned: &[(i64, i64)]) -> Option<Upgrade> {
    let site = &catalog.site;
    let is_owned = |course_id: i64| owned.iter().any(|(id, _)| *id == course_id);
    let rest: Vec<&CourseSummary> = bundle.iter().copied().filter(|c| !is_owned(c.id)).collect();
    if rest.is_empty() || rest.len() == bundle.len() {
        return None;
    }
    let credit_cents: i64 = owned
        .iter()
        .filter(|(id, _)| bundle.iter().any(|c| c.id == *id))
        .map(|(_, paid)| (*paid).max(0))
        .sum();
    let total = (site.bundle_price_cents - credit_cents).max(0);
    let list_cents: i64 = rest.iter().map(|c| c.price_cents).sum();
    if total >= list_cents {
        return None;
    }
    // Shared out like the bundle price: in proportion to the programs' prices, the last line
    // taking the rounding, so the lines add up to the total exactly.
    let mut given = 0;
    let lines: Vec<Line> = rest
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let share = if i + 1 == rest.len() {
                total - given
            } else if list_cents > 0 {
                total * c.price_cents / list_cents
            } else {
                0
            };
            given += share;
            Line {
                course_id: c.id,
                slug: c.slug.clone(),
                title: c.title.clone(),
                list_cents: c.price_cents,
                price_cents: share,
                early_bird: false,
            }
        })
        .collect();
    Some(Upgrade {
        quote: Quote {
            lines,
            bundle: true,
            early_bird: false,
            early_bird_until: None,
            list_cents,
            total_cents: total,
            currency: site.currency.clone(),
        },
        credit_cents,
        bundle_price_cents: site.bundle_price_cents,
        owned: bundle
            .iter()
            .filter(|c| is_owned(c.id))
            .map(|c| c.title.clone())
            .collect(),
    })
}

/// What a paid order line really brought in: its share of what was paid for the whole order
/// (a promotion code at Stripe may have taken the order below what we asked).
pub fn paid_share(line_cents: i64, order_total_cents: i64, order_paid_cents: i64) -> i64 {
    if order_total_cents <= 0 {
        return 0;
    }
    let paid = order_paid_cents.clamp(0, order_total_cents);
    line_cents * paid / order_total_cents
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paid_shares() {
        assert_eq!(paid_share(19_700, 19_700, 19_700), 19_700);
        assert_eq!(paid_share(15_760, 37_900, 0), 0);
        assert_eq!(paid_share(10_000, 20_000, 10_000), 5_000);
        assert_eq!(paid_share(10_000, 0, 0), 0);
        // Never more than the line asked for.
        assert_eq!(paid_share(10_000, 20_000, 90_000), 10_000);
    }

    #[test]
    fn discounts_round_to_the_nearest_cent() {
        assert_eq!(discounted(19_700, 20), 15_760);
        assert_eq!(discounted(999, 15), 849);
        assert_eq!(discounted(1, 50), 1);
        assert_eq!(discounted(19_700, 0), 19_700);
    }
}
