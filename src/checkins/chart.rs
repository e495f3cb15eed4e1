//! Server-drawn SVG charts: one numeric field over a window of days, as dots joined on consecutive
//! days, with "what changed" markers. No script; the page puts a table beside each chart.

use std::fmt::Write;

use jiff::civil::Date;

const W: f64 = 640.0;
const H: f64 = 220.0;
const LEFT: f64 = 36.0;
const RIGHT: f64 = 14.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 34.0;

/// What a chart shows.
pub struct Spec<'a> {
    /// Unique on the page: the SVG's title and description ids derive from it.
    pub dom_id: &'a str,
    pub title: &'a str,
    pub description: &'a str,
    /// The first day of the window and how many days it spans (the last is today).
    pub start: Date,
    pub days: i64,
    /// The field's range (0–10, 1–7).
    pub range: (i64, i64),
    /// (day index in the window, value)
    pub points: &'a [(i64, i64)],
    /// (day index, what changed that day)
    pub markers: &'a [(i64, String)],
}

/// Escapes text for SVG (XML) content and attributes.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// "3 Mar" for a day.
pub fn short_date(d: Date) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!("{} {}", d.day(), MONTHS[(d.month() - 1) as usize])
}

pub fn svg(spec: &Spec<'_>) -> String {
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let (lo, hi) = spec.range;
    let span = (hi - lo).max(1) as f64;
    let steps = (spec.days - 1).max(1) as f64;
    let x = |i: i64| LEFT + plot_w * (i as f64) / steps;
    let y = |v: i64| TOP + plot_h * (1.0 - (v - lo) as f64 / span);
    let title_id = format!("{}-title", spec.dom_id);
    let desc_id = format!("{}-desc", spec.dom_id);
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-labelledby="{title_id} {desc_id}" xmlns="http://www.w3.org/2000/svg"><title id="{title_id}">{}</title><desc id="{desc_id}">{}</desc>"#,
        esc(spec.title),
        esc(spec.description)
    );
    // Grid: the bottom, middle and top of the range, labelled.
    let mid = lo + (hi - lo) / 2;
    for v in [lo, mid, hi] {
        let yy = y(v);
        let _ = write!(
            s,
            r#"<line class="grid" x1="{LEFT}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}"/><text class="axis" x="{:.1}" y="{:.1}" text-anchor="end">{v}</text>"#,
            W - RIGHT,
            LEFT - 6.0,
            yy + 4.0
        );
    }
    let end = spec
        .start
        .checked_add(jiff::Span::new().days(spec.days - 1))
        .unwrap_or(spec.start);
    let _ = write!(
        s,
        r#"<text class="axis" x="{LEFT}" y="{:.1}">{}</text><text class="axis" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
        H - 10.0,
        esc(&short_date(spec.start)),
        W - RIGHT,
        H - 10.0,
        esc(&short_date(end))
    );
    // Markers first, so the dots sit on top.
    for (i, what) in spec.markers {
        let xx = x(*i);
        let day = spec
            .start
            .checked_add(jiff::Span::new().days(*i))
            .map(short_date)
            .unwrap_or_default();
        let _ = write!(
            s,
            r#"<g class="marker"><title>{}: {}</title><line x1="{xx:.1}" y1="{TOP}" x2="{xx:.1}" y2="{:.1}"/><path d="M{:.1} {:.1} l5 -7 h-10 z"/></g>"#,
            esc(&day),
            esc(what),
            TOP + plot_h,
            xx,
            TOP + plot_h + 9.0,
        );
    }
    // Lines join values of consecutive days only: a gap is a gap, not a trend.
    let mut run: Vec<(i64, i64)> = Vec::new();
    let flush = |run: &mut Vec<(i64, i64)>, s: &mut String| {
        if run.len() > 1 {
            let pts: Vec<String> = run.iter().map(|(i, v)| format!("{:.1},{:.1}", x(*i), y(*v))).collect();
            let _ = write!(s, r#"<polyline class="line" points="{}"/>"#, pts.join(" "));
        }
        run.clear();
    };
    for &(i, v) in spec.points {
        if run.last().is_some_and(|(j, _)| i != j + 1) {
            flush(&mut run, &mut s);
        }
        run.push((i, v));
    }
    flush(&mut run, &mut s);
    for &(i, v) in spec.points {
        let day = spec.start.checked_add(jiff::Span::new().days(i)).unwrap_or(spec.start);
        let _ = write!(
            s,
            r#"<circle class="point" cx="{:.1}" cy="{:.1}" r="4" data-date="{day}" data-value="{v}"><title>{}: {v}</title></circle>"#,
            x(i),
            y(v),
            esc(&short_date(day))
        );
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_points_lines_markers_and_escapes() {
        let start: Date = "2026-03-01".parse().unwrap();
        let svg = svg(&Spec {
            dom_id: "c1",
            title: "Pain <today>",
            description: "d",
            start,
            days: 7,
            range: (0, 10),
            points: &[(0, 2), (1, 5), (3, 9)],
            markers: &[(1, "ate <b>garlic</b>".to_owned())],
        });
        assert_eq!(svg.matches("<circle").count(), 3);
        assert_eq!(svg.matches("<polyline").count(), 1, "the gap on day 2 breaks the line");
        assert!(svg.contains("Pain &lt;today&gt;"));
        assert!(svg.contains("ate &lt;b&gt;garlic&lt;/b&gt;"));
        assert!(svg.contains(r#"data-date="2026-03-04" data-value="9""#));
    }
}
