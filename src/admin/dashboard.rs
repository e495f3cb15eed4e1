//! The studio's numbers: per program, revenue this month and in total, completion rate, and a
//! chart of enrollments and revenue over the last twelve months, drawn on the server as SVG.

use std::collections::HashMap;
use std::fmt::Write;

use jiff::tz::TimeZone;
use serde::Serialize;
use time::OffsetDateTime;

use crate::db::Db;
use crate::db_run;

#[derive(Serialize, Default, Debug, Clone)]
pub struct ProgramNumbers {
    pub revenue_month_cents: i64,
    pub revenue_total_cents: i64,
    pub enrolled: i64,
    pub completed: i64,
    /// Completed of enrolled, in whole percent; none without students.
    pub completion_percent: Option<i64>,
}

#[derive(Serialize, Debug, Clone)]
pub struct Month {
    pub label: String,
    pub year: i16,
    pub month: i8,
    pub enrollments: i64,
    pub revenue_cents: i64,
}

pub struct Numbers {
    pub programs: HashMap<i64, ProgramNumbers>,
    pub months: Vec<Month>,
    pub revenue_month_cents: i64,
    pub revenue_total_cents: i64,
}

fn month_of(t: OffsetDateTime, tz: &TimeZone) -> (i16, i8) {
    match jiff::Timestamp::from_second(t.unix_timestamp()) {
        Ok(ts) => {
            let z = ts.to_zoned(tz.clone());
            (z.year(), z.month())
        }
        Err(_) => (1970, 1),
    }
}

pub async fn numbers(db: &Db, tz: &TimeZone, now: OffsetDateTime) -> sqlx::Result<Numbers> {
    // What was charged (a promotion code at Stripe's checkout can lower it), shared among the
    // order's programs in proportion to their prices.
    const SALES: &str = "SELECT o.id, oi.course_id, o.paid_at, oi.price_cents, \
        COALESCE(o.amount_paid_cents, o.total_cents) AS paid, o.total_cents FROM order_items oi \
        JOIN orders o ON o.id = oi.order_id WHERE o.status = 'paid' AND o.paid_at IS NOT NULL \
        ORDER BY o.id, oi.course_id";
    const SEATS: &str = "SELECT course_id, created_at FROM enrollments WHERE status = 'active'";
    const DONE: &str = "SELECT c.course_id, COUNT(*) FROM completions c JOIN enrollments e \
        ON e.user_id = c.user_id AND e.course_id = c.course_id AND e.status = 'active' GROUP BY c.course_id";
    let (sales, seats, done) = tokio::try_join!(
        async { db_run!(db, pool => sqlx::query_as::<_, SaleLine>(SALES).fetch_all(pool).await) },
        async { db_run!(db, pool => sqlx::query_as::<_, (i64, OffsetDateTime)>(SEATS).fetch_all(pool).await) },
        async { db_run!(db, pool => sqlx::query_as::<_, (i64, i64)>(DONE).fetch_all(pool).await) },
    )?;
    Ok(tally(&revenue_lines(&sales), &seats, &done, tz, now))
}

type SaleLine = (i64, i64, OffsetDateTime, i64, i64, i64);

/// Each order's line items as (program, paid at, revenue): what was charged for the order, split
/// by the items' prices; the last item takes the rounding, so the lines add up to the charge.
fn revenue_lines(lines: &[SaleLine]) -> Vec<(i64, OffsetDateTime, i64)> {
    let mut out = Vec::with_capacity(lines.len());
    let mut i = 0;
    while i < lines.len() {
        let order = lines[i].0;
        let end = lines[i..]
            .iter()
            .position(|l| l.0 != order)
            .map_or(lines.len(), |n| i + n);
        let items = &lines[i..end];
        let (paid, total) = (items[0].4, items[0].5);
        let mut left = paid;
        for (k, (_, course, at, price, _, _)) in items.iter().enumerate() {
            let share = if k + 1 == items.len() {
                left
            } else if total > 0 {
                price * paid / total
            } else {
                0
            };
            left -= share;
            out.push((*course, *at, share));
        }
        i = end;
    }
    out
}

/// The arithmetic, apart from the database (tested on its own).
pub fn tally(
    sales: &[(i64, OffsetDateTime, i64)],
    seats: &[(i64, OffsetDateTime)],
    done: &[(i64, i64)],
    tz: &TimeZone,
    now: OffsetDateTime,
) -> Numbers {
    let this_month = month_of(now, tz);
    let mut months: Vec<Month> = Vec::with_capacity(12);
    let (mut y, mut m) = this_month;
    for _ in 0..12 {
        let label = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ][(m as usize).saturating_sub(1).min(11)];
        months.push(Month {
            label: label.to_owned(),
            year: y,
            month: m,
            enrollments: 0,
            revenue_cents: 0,
        });
        if m == 1 {
            y -= 1;
            m = 12;
        } else {
            m -= 1;
        }
    }
    months.reverse();
    let mut programs: HashMap<i64, ProgramNumbers> = HashMap::new();
    let (mut month_total, mut total) = (0, 0);
    for (course, at, cents) in sales {
        let p = programs.entry(*course).or_default();
        p.revenue_total_cents += cents;
        total += cents;
        let ym = month_of(*at, tz);
        if ym == this_month {
            p.revenue_month_cents += cents;
            month_total += cents;
        }
        if let Some(bucket) = months.iter_mut().find(|b| (b.year, b.month) == ym) {
            bucket.revenue_cents += cents;
        }
    }
    for (course, at) in seats {
        programs.entry(*course).or_default().enrolled += 1;
        let ym = month_of(*at, tz);
        if let Some(bucket) = months.iter_mut().find(|b| (b.year, b.month) == ym) {
            bucket.enrollments += 1;
        }
    }
    for (course, n) in done {
        programs.entry(*course).or_default().completed = *n;
    }
    for p in programs.values_mut() {
        p.completion_percent = (p.enrolled > 0).then(|| (p.completed * 100 + p.enrolled / 2) / p.enrolled);
    }
    Numbers {
        programs,
        months,
        revenue_month_cents: month_total,
        revenue_total_cents: total,
    }
}

/// Bars for new enrollments, a line for revenue; every value also in a `<title>` for screen
/// readers and hover. Only numbers and month names go in: nothing to escape.
pub fn chart_svg(months: &[Month], currency: &str) -> String {
    const W: f64 = 640.0;
    const H: f64 = 220.0;
    const LEFT: f64 = 36.0;
    const RIGHT: f64 = 56.0;
    const TOP: f64 = 14.0;
    const BOTTOM: f64 = 28.0;
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let n = months.len().max(1) as f64;
    let slot = plot_w / n;
    let top_enrol = months.iter().map(|m| m.enrollments).max().unwrap_or(0);
    let top_rev = months.iter().map(|m| m.revenue_cents).max().unwrap_or(0);
    let max_enrol = top_enrol.max(1) as f64;
    let max_rev = top_rev.max(1) as f64;
    let mut s = String::with_capacity(4096);
    let _ = write!(
        s,
        "<svg class=\"chart\" viewBox=\"0 0 {W} {H}\" role=\"img\" aria-labelledby=\"chart-title\" xmlns=\"http://www.w3.org/2000/svg\">\
         <title id=\"chart-title\">New enrollments (bars) and revenue (line) per month, last 12 months</title>"
    );
    // Axes and the two scales' top values.
    let _ = write!(
        s,
        "<line class=\"axis\" x1=\"{LEFT}\" y1=\"{y}\" x2=\"{x2}\" y2=\"{y}\" stroke=\"#9aa5a0\"/>",
        y = TOP + plot_h,
        x2 = W - RIGHT
    );
    let _ = write!(
        s,
        "<text x=\"{x}\" y=\"{y}\" font-size=\"11\" text-anchor=\"end\" fill=\"#2f6b57\">{max}</text>",
        x = LEFT - 4.0,
        y = TOP + 8.0,
        max = top_enrol
    );
    let _ = write!(
        s,
        "<text x=\"{x}\" y=\"{y}\" font-size=\"11\" fill=\"#b5562b\">{max}</text>",
        x = W - RIGHT + 4.0,
        y = TOP + 8.0,
        max = crate::web::money(top_rev, currency)
    );
    if top_enrol == 0 && top_rev == 0 {
        let _ = write!(
            s,
            "<text x=\"{x}\" y=\"{y}\" font-size=\"14\" text-anchor=\"middle\" fill=\"#4a5752\">No enrollments or sales yet</text>",
            x = LEFT + plot_w / 2.0,
            y = TOP + plot_h / 2.0
        );
    }
    let mut points = Vec::new();
    for (i, m) in months.iter().enumerate() {
        let x = LEFT + slot * i as f64;
        let bar_h = plot_h * m.enrollments as f64 / max_enrol;
        let _ = write!(
            s,
            "<rect class=\"bar\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{bar_h:.1}\" fill=\"#2f6b57\" opacity=\"0.8\">\
             <title>{label} {year}: {n} new enrollment{plural}</title></rect>",
            x = x + slot * 0.2,
            y = TOP + plot_h - bar_h,
            w = slot * 0.6,
            label = m.label,
            year = m.year,
            n = m.enrollments,
            plural = if m.enrollments == 1 { "" } else { "s" },
        );
        let _ = write!(
            s,
            "<text x=\"{cx:.1}\" y=\"{y}\" font-size=\"11\" text-anchor=\"middle\" fill=\"#4a5752\">{label}</text>",
            cx = x + slot / 2.0,
            y = H - 10.0,
            label = m.label
        );
        let py = TOP + plot_h - plot_h * m.revenue_cents as f64 / max_rev;
        points.push((x + slot / 2.0, py, m));
    }
    let path: Vec<String> = points.iter().map(|(x, y, _)| format!("{x:.1},{y:.1}")).collect();
    let _ = write!(
        s,
        "<polyline class=\"line\" points=\"{}\" fill=\"none\" stroke=\"#b5562b\" stroke-width=\"2\"/>",
        path.join(" ")
    );
    for (x, y, m) in points {
        let _ = write!(
            s,
            "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"3\" fill=\"#b5562b\"><title>{label} {year}: {rev} revenue</title></circle>",
            label = m.label,
            year = m.year,
            rev = crate::web::money(m.revenue_cents, currency),
        );
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn revenue_is_what_was_charged_shared_by_price() {
        let at = datetime!(2026-11-20 12:00 UTC);
        // A bundle of 197 + 247 charged 400 after a promotion code; a single order at full price.
        let lines = [
            (1, 1, at, 19_700, 40_000, 44_400),
            (1, 2, at, 24_700, 40_000, 44_400),
            (2, 1, at, 19_700, 19_700, 19_700),
        ];
        let r = revenue_lines(&lines);
        assert_eq!(r.iter().map(|l| l.2).collect::<Vec<_>>(), vec![17_747, 22_253, 19_700]);
        assert_eq!(r[0].2 + r[1].2, 40_000);
    }

    #[test]
    fn tallies_by_local_month() {
        let tz = TimeZone::get("America/New_York").unwrap();
        let now = datetime!(2026-11-24 12:00 UTC);
        // 03:00 UTC on 1 November is still 31 October in New York.
        let sales = [
            (1, datetime!(2026-11-01 03:00 UTC), 10_000),
            (1, datetime!(2026-11-20 12:00 UTC), 5_000),
            (2, datetime!(2025-01-05 12:00 UTC), 7_000),
        ];
        let seats = [
            (1, datetime!(2026-11-20 12:00 UTC)),
            (1, datetime!(2026-10-02 12:00 UTC)),
            (2, datetime!(2026-11-21 12:00 UTC)),
        ];
        let done = [(1, 1)];
        let n = tally(&sales, &seats, &done, &tz, now);
        assert_eq!(n.revenue_month_cents, 5_000);
        assert_eq!(n.revenue_total_cents, 22_000);
        assert_eq!(n.programs[&1].revenue_month_cents, 5_000);
        assert_eq!(n.programs[&1].completion_percent, Some(50));
        assert_eq!(n.programs[&2].completion_percent, Some(0));
        assert_eq!(n.months.len(), 12);
        assert_eq!(
            (
                n.months[11].label.as_str(),
                n.months[11].enrollments,
                n.months[11].revenue_cents
            ),
            ("Nov", 2, 5_000)
        );
        assert_eq!(
            (n.months[10].label.as_str(), n.months[10].revenue_cents),
            ("Oct", 10_000)
        );
        assert_eq!(n.months[0].label, "Dec");
        let svg = chart_svg(&n.months, "USD");
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert_eq!(svg.matches("<rect").count(), 12);
    }
}
