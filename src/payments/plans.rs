//! Payment plans: a program (or the bundle) paid in a fixed number of equal instalments, one per
//! interval, declared in `course.toml` / `site.toml` (`[[plan]]` / `[[bundle_plan]]`). The first
//! instalment is paid at checkout and opens the program; the plan ends by itself after the last.

use serde::{Deserialize, Serialize};
use time::{Date, Duration, Month, OffsetDateTime};

use crate::catalog::Catalog;
use crate::catalog::store::CourseSummary;

/// The longest plan we accept (and a sane bound on what a typo could do).
pub const MAX_INSTALMENTS: i64 = 24;

/// How often a plan's payments may fall.
pub const INTERVALS: [&str; 4] = ["day", "week", "month", "year"];

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// Names the plan in the checkout form: `3-monthly`.
    pub id: String,
    /// How many payments, the first at checkout.
    pub instalments: i64,
    /// Each payment, in minor units.
    pub amount: i64,
    /// `day`, `week`, `month` or `year`.
    pub interval: String,
}

impl Plan {
    /// What the plan costs in all.
    pub fn total_cents(&self) -> i64 {
        self.instalments * self.amount
    }

    /// Whether the plan is well formed; the reason in words otherwise.
    pub fn check(&self) -> Result<(), String> {
        crate::domain::Slug::parse(&self.id).map_err(|e| format!("plan id {e}"))?;
        if !(2..=MAX_INSTALMENTS).contains(&self.instalments) {
            return Err(format!(
                "plan '{}': 'instalments' must be 2 to {MAX_INSTALMENTS}",
                self.id
            ));
        }
        if self.amount <= 0 {
            return Err(format!("plan '{}': 'amount' must be more than 0", self.id));
        }
        if !INTERVALS.contains(&self.interval.as_str()) {
            return Err(format!(
                "plan '{}': 'interval' must be day, week, month or year, not '{}'",
                self.id, self.interval
            ));
        }
        Ok(())
    }
}

/// Checks a list of plans (unique ids, each well formed).
pub fn check_all(plans: &[Plan]) -> Result<(), String> {
    for (i, plan) in plans.iter().enumerate() {
        plan.check()?;
        if plans[..i].iter().any(|p| p.id == plan.id) {
            return Err(format!("plan id '{}' is used twice", plan.id));
        }
    }
    Ok(())
}

/// The plans of a program or of the site's bundle, as a JSON column (`courses.plans`,
/// `site.bundle_plans`), decoded at the row edge; a bad value fails loudly.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
#[serde(transparent)]
pub struct Plans(pub Vec<Plan>);

impl TryFrom<String> for Plans {
    type Error = sqlx::Error;
    fn try_from(text: String) -> Result<Plans, sqlx::Error> {
        crate::db::json_column(&text, "plans").map(Plans)
    }
}

impl Plans {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.0).unwrap_or_else(|_| "[]".into())
    }
}

/// The plans offered for this purchase: the program's own, or the bundle's.
pub fn offered<'a>(catalog: &'a Catalog, courses: &[&'a CourseSummary], bundle: bool) -> &'a [Plan] {
    if bundle {
        &catalog.site.bundle_plans.0
    } else {
        courses.first().map_or(&[], |c| &c.plans.0)
    }
}

/// The quote of a purchase paid by `plan`: the plan's total, shared out over the programs in
/// proportion to their prices (the last takes the rounding); no early-bird discount.
pub fn apply(quote: &mut super::pricing::Quote, plan: &Plan) {
    let total = plan.total_cents();
    let list: i64 = quote.lines.iter().map(|l| l.list_cents).sum();
    let mut given = 0;
    let n = quote.lines.len();
    for (i, line) in quote.lines.iter_mut().enumerate() {
        line.price_cents = if i + 1 == n {
            total - given
        } else if list > 0 {
            total * line.list_cents / list
        } else {
            0
        };
        line.early_bird = false;
        given += line.price_cents;
    }
    quote.early_bird = false;
    quote.early_bird_until = None;
    quote.total_cents = total;
}

/// `n` intervals after `at` (months keep the day of the month, or the month's last day).
pub fn after(at: OffsetDateTime, interval: &str, n: i64) -> OffsetDateTime {
    let months = |months: i64| {
        let total = at.year() as i64 * 12 + (at.month() as i64 - 1) + months;
        let year = total.div_euclid(12) as i32;
        let month = Month::try_from((total.rem_euclid(12) + 1) as u8).unwrap_or(Month::January);
        let last = time::util::days_in_month(month, year);
        let date = Date::from_calendar_date(year, month, at.day().min(last)).unwrap_or(at.date());
        at.replace_date(date)
    };
    match interval {
        "day" => at + Duration::days(n),
        "week" => at + Duration::weeks(n),
        "year" => months(12 * n),
        _ => months(n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn months_keep_the_day_or_take_the_last() {
        assert_eq!(
            after(datetime!(2026-01-31 10:00 UTC), "month", 1),
            datetime!(2026-02-28 10:00 UTC)
        );
        assert_eq!(
            after(datetime!(2026-11-15 10:00 UTC), "month", 3),
            datetime!(2027-02-15 10:00 UTC)
        );
        assert_eq!(
            after(datetime!(2026-11-15 10:00 UTC), "week", 2),
            datetime!(2026-11-29 10:00 UTC)
        );
    }

    #[test]
    fn plans_are_checked() {
        let plan = |id: &str, n, amount, interval: &str| Plan {
            id: id.into(),
            instalments: n,
            amount,
            interval: interval.into(),
        };
        assert!(check_all(&[plan("3-monthly", 3, 6900, "month")]).is_ok());
        assert!(plan("3-monthly", 1, 6900, "month").check().is_err());
        assert!(plan("3-monthly", 3, 0, "month").check().is_err());
        assert!(plan("3-monthly", 3, 6900, "fortnight").check().is_err());
        assert!(plan("Bad Id", 3, 6900, "month").check().is_err());
        assert!(check_all(&[plan("a", 3, 1, "month"), plan("a", 2, 1, "month")]).is_err());
    }
}
