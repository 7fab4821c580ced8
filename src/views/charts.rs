//! Server-rendered SVG charts (no JavaScript). Each chart is drawn from the same numbers as
//! the table printed beside it, so screen readers and printouts lose nothing.

use maud::{html, Markup};

/// One bar: an estimate with its interval; suppressed bars are drawn as a hatched gap.
#[derive(Debug, Clone)]
pub struct Bar {
    pub label: String,
    pub estimate: Option<f64>,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    pub suppressed: bool,
    /// Short text after the value (e.g. the unit's grade); None for none.
    pub note: Option<String>,
}

const ROW_H: f64 = 22.0;
/// Label column width: at least this, wider for long labels (up to `MAX_LABEL_W`).
const LABEL_W: f64 = 170.0;
const MAX_LABEL_W: f64 = 330.0;
const PLOT_W: f64 = 380.0;
/// Room right of the plot for the value, and for notes when any bar has one.
const VALUE_W: f64 = 50.0;
const NOTE_W: f64 = 90.0;

fn fmt1(x: f64) -> String {
    format!("{x:.1}")
}

/// Approximate width of a label at 12 px: CJK and other wide characters about 12 px,
/// Latin letters and digits about 6.6 px (no font metrics on the server).
fn label_width(s: &str) -> f64 {
    s.chars()
        .map(|c| if c.is_ascii() { 6.6 } else { 12.0 })
        .sum()
}

/// Horizontal bars with interval whiskers on the scale `lo..hi` (e.g. 0–100 or 50–100).
/// `title` becomes the SVG's accessible name.
pub fn bar_chart(title: &str, bars: &[Bar], lo: f64, hi: f64, suppressed_label: &str) -> Markup {
    let h = ROW_H * bars.len() as f64 + 30.0;
    let notes = bars.iter().any(|b| b.note.is_some());
    let label_w = bars
        .iter()
        .map(|b| label_width(&b.label) + 12.0)
        .fold(LABEL_W, f64::max)
        .min(MAX_LABEL_W)
        .round();
    let w = label_w + PLOT_W + VALUE_W + if notes { NOTE_W } else { 0.0 };
    let span = (hi - lo).max(1e-9);
    let x = |v: f64| label_w + (v.clamp(lo, hi) - lo) / span * PLOT_W;
    let ticks: Vec<f64> = (0..=4).map(|i| lo + span * f64::from(i) / 4.0).collect();
    html! {
        svg.chart xmlns="http://www.w3.org/2000/svg" role="img" aria-label=(title)
            viewBox={ "0 0 " (w) " " (h) } width=(w) height=(h) {
            title { (title) }
            @for t in &ticks {
                line x1=(x(*t)) x2=(x(*t)) y1="0" y2=(h - 20.0) stroke="#ddd" {}
                text x=(x(*t)) y=(h - 6.0) font-size="11" text-anchor="middle" fill="#555" { (fmt1(*t)) }
            }
            @for (i, b) in bars.iter().enumerate() {
                @let y = ROW_H * i as f64 + 4.0;
                text x=(label_w - 6.0) y=(y + 13.0) font-size="12" text-anchor="end" fill="#1a1a1a" { (b.label) }
                @match (b.suppressed, b.estimate) {
                    (false, Some(e)) => {
                        rect x=(label_w) y=(y + 2.0) width=((x(e) - label_w).max(0.0)) height=(ROW_H - 8.0) fill="#c9a0a0" {}
                        @if let (Some(l), Some(u)) = (b.ci_low, b.ci_high) {
                            line x1=(x(l)) x2=(x(u)) y1=(y + 9.0) y2=(y + 9.0) stroke="#5a0f0f" stroke-width="1.5" {}
                            line x1=(x(l)) x2=(x(l)) y1=(y + 4.0) y2=(y + 14.0) stroke="#5a0f0f" stroke-width="1.5" {}
                            line x1=(x(u)) x2=(x(u)) y1=(y + 4.0) y2=(y + 14.0) stroke="#5a0f0f" stroke-width="1.5" {}
                        }
                        circle cx=(x(e)) cy=(y + 9.0) r="3" fill="#8b1a1a" {}
                        text x=(label_w + PLOT_W + 4.0) y=(y + 13.0) font-size="11" fill="#333" { (fmt1(e)) }
                    }
                    _ => {
                        text x=(label_w + 4.0) y=(y + 13.0) font-size="11" fill="#888" font-style="italic" { (suppressed_label) }
                    }
                }
                @if let Some(n) = &b.note {
                    text.note x=(label_w + PLOT_W + VALUE_W) y=(y + 13.0) font-size="11" font-weight="600" fill="#1d4b8b" { (n) }
                }
            }
        }
    }
}

/// A small line chart of a series (year, estimate), e.g. 78.3 → 79.6 → 80.5; a filled
/// point marks a change that is significant against the year before.
pub fn sparkline(title: &str, points: &[(String, f64, bool)]) -> Markup {
    let (w, h) = (140.0, 36.0);
    let (mut lo, mut hi) = points
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
            (a.min(p.1), b.max(p.1))
        });
    if !lo.is_finite() {
        (lo, hi) = (0.0, 100.0);
    }
    if hi - lo < 2.0 {
        let mid = (hi + lo) / 2.0;
        (lo, hi) = (mid - 1.0, mid + 1.0);
    }
    let n = points.len().max(2) as f64 - 1.0;
    let px = |i: usize| 6.0 + (w - 12.0) * i as f64 / n;
    let py = |v: f64| h - 6.0 - (v - lo) / (hi - lo) * (h - 12.0);
    let path: Vec<String> = points
        .iter()
        .enumerate()
        .map(|(i, p)| format!("{:.1},{:.1}", px(i), py(p.1)))
        .collect();
    html! {
        svg.spark xmlns="http://www.w3.org/2000/svg" role="img" aria-label=(title)
            viewBox={ "0 0 " (w) " " (h) } width=(w) height=(h) {
            title { (title) }
            polyline points=(path.join(" ")) fill="none" stroke="#8b1a1a" stroke-width="1.5" {}
            @for (i, p) in points.iter().enumerate() {
                circle cx=(px(i)) cy=(py(p.1)) r="3"
                    fill=(if p.2 { "#8b1a1a" } else { "#fff" }) stroke="#8b1a1a" {}
            }
        }
    }
}

/// A progress bar of `n` against `target`, with the numbers as text.
pub fn progress(n: i64, target: i64) -> Markup {
    let pct = if target > 0 {
        (n as f64 / target as f64 * 100.0).min(100.0)
    } else {
        100.0
    };
    html! {
        div.progress role="progressbar" aria-valuenow=(n) aria-valuemin="0" aria-valuemax=(target) {
            span style={ "width:" (format!("{pct:.0}")) "%" } {}
        }
        small { (n) " / " (target) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suppressed_bars_have_no_value() {
        let bars = vec![
            Bar {
                label: "A".into(),
                estimate: Some(80.0),
                ci_low: Some(75.0),
                ci_high: Some(85.0),
                suppressed: false,
                note: Some("良好".into()),
            },
            Bar {
                label: "B".into(),
                estimate: None,
                ci_low: None,
                ci_high: None,
                suppressed: true,
                note: None,
            },
        ];
        let svg = bar_chart("t", &bars, 0.0, 100.0, "suppressed").into_string();
        assert!(svg.contains(">80.0<"));
        assert!(svg.contains(">suppressed<"));
        assert!(svg.contains(">良好<"), "grade note drawn");
        assert!(svg.contains("width=\"690\""), "room for notes: {svg}");
        assert_eq!(svg.matches("<circle").count(), 1);
        // long labels widen the label column instead of being cut off at the left edge
        let long = vec![Bar {
            label: "Housing and Urban-Rural Development Bureau".into(),
            ..bars[0].clone()
        }];
        let svg = bar_chart("t", &long, 0.0, 100.0, "suppressed").into_string();
        assert!(svg.contains("width=\"809\""), "{svg}");
    }

    #[test]
    fn significant_points_are_filled() {
        let pts = vec![("2025".into(), 78.3, false), ("2026".into(), 80.5, true)];
        let svg = sparkline("t", &pts).into_string();
        assert_eq!(svg.matches("fill=\"#8b1a1a\"").count(), 1);
    }
}
