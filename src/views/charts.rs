//! Server-rendered SVG charts (no JavaScript). Each chart is drawn from the same numbers as
//! the table printed beside it, so screen readers and printouts lose nothing.

use maud::{html, Markup};

use crate::i18n::Lang;

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

/// The scale of a dot plot: whole-number bounds around every interval, zoomed in so that the
/// differences show (a 0–100 axis squeezes 78 and 86 together), with whole-number ticks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scale {
    pub lo: f64,
    pub hi: f64,
    pub step: f64,
}

impl Scale {
    /// Bounds on multiples of 5 (inside 0–100) with a margin around the lowest interval end
    /// and the highest; at least 10 points wide; ticks every 1, 2, 5 or 10 points.
    pub fn fit(bars: &[Bar]) -> Scale {
        let ends = bars
            .iter()
            .filter(|b| !b.suppressed)
            .flat_map(|b| [b.ci_low.or(b.estimate), b.ci_high.or(b.estimate)])
            .flatten();
        let (min, max) = ends.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
        if !min.is_finite() {
            return Scale {
                lo: 0.0,
                hi: 100.0,
                step: 20.0,
            };
        }
        let mut lo = ((min - 1.0) / 5.0).floor() * 5.0;
        let mut hi = ((max + 1.0) / 5.0).ceil() * 5.0;
        lo = lo.clamp(0.0, 90.0);
        hi = hi.min(100.0);
        if hi - lo < 10.0 {
            if lo + 10.0 <= 100.0 {
                hi = lo + 10.0;
            } else {
                lo = hi - 10.0;
            }
        }
        let span = hi - lo;
        let step = [1.0, 2.0, 5.0, 10.0, 20.0]
            .into_iter()
            .find(|s| span / s <= 8.0)
            .unwrap_or(20.0);
        Scale { lo, hi, step }
    }

    fn ticks(&self) -> Vec<f64> {
        let n = ((self.hi - self.lo) / self.step).round() as usize;
        (0..=n).map(|i| self.lo + self.step * i as f64).collect()
    }

    /// Position of `v` in percent of the plot's width.
    fn pos(&self, v: f64) -> f64 {
        (v.clamp(self.lo, self.hi) - self.lo) / (self.hi - self.lo).max(1e-9) * 100.0
    }
}

fn fmt1(x: f64) -> String {
    format!("{x:.1}")
}

fn pct_style(prop: &str, v: f64) -> String {
    format!("{prop}:{v:.2}%")
}

/// A dot plot of estimates with their intervals on a zoomed axis, drawn with HTML and CSS:
/// each row has its label in real text (readable at any width, wrapping as words), the dot and
/// the interval on a track, and the value. The axis carries whole-number ticks and its title;
/// a zoomed axis says where it starts. Suppressed rows say why instead of a dot.
/// `title` becomes the figure's accessible name.
pub fn dot_plot(lang: Lang, title: &str, bars: &[Bar], suppressed_label: &str) -> Markup {
    let scale = Scale::fit(bars);
    html! {
        figure.chart.dotplot role="img" aria-label=(title) {
            figcaption { (title) }
            div.dp-rows {
                @for b in bars {
                    div.dp-row {
                        span.dp-label { (b.label) }
                        @match (b.suppressed, b.estimate) {
                            (false, Some(e)) => {
                                span.dp-track {
                                    @for t in scale.ticks() { span.dp-grid style=(pct_style("left", scale.pos(t))) {} }
                                    @if let (Some(l), Some(u)) = (b.ci_low, b.ci_high) {
                                        span.dp-ci style={ (pct_style("left", scale.pos(l))) ";" (pct_style("width", scale.pos(u) - scale.pos(l))) } {}
                                    }
                                    span.dp-dot style=(pct_style("left", scale.pos(e))) {}
                                }
                                span.dp-val { (fmt1(e)) }
                            }
                            _ => {
                                span.dp-track.dp-none { span.sup { (suppressed_label) } }
                                span.dp-val { "—" }
                            }
                        }
                    }
                }
                div.dp-row.dp-axis aria-hidden="true" {
                    span.dp-label {}
                    span.dp-track {
                        @for t in scale.ticks() { span.dp-tick style=(pct_style("left", scale.pos(t))) { (format!("{t:.0}")) } }
                    }
                    span.dp-val {}
                }
            }
            p.dp-title {
                (lang.pick("横轴：满意度指数（0–100 分）；圆点为估计值，横线为 95% 置信区间。",
                           "Axis: satisfaction index (0–100 points); dots are estimates, lines their 95% confidence intervals."))
                @if scale.lo > 0.0 || scale.hi < 100.0 {
                    " " strong.dp-zoom {
                        @match lang {
                            Lang::Zh => { "横轴已放大：只显示 " (format!("{:.0}", scale.lo)) "–" (format!("{:.0}", scale.hi)) " 分，不从 0 开始。" }
                            Lang::En => { "Zoomed axis: " (format!("{:.0}", scale.lo)) "–" (format!("{:.0}", scale.hi)) " points only, not from 0." }
                        }
                    }
                }
            }
        }
    }
}

/// The dot plot's CSS: rows of label / track / value; on a phone the label takes its own line
/// above the track, so names never wrap one character per line.
pub const CSS: &str = "\
.dotplot{margin:0 0 1rem;width:100%}\
.dotplot figcaption{font-weight:600;margin:0 0 .4rem}\
.dp-row{display:grid;grid-template-columns:minmax(9rem,20rem) 1fr 3.2rem;align-items:center;gap:.5rem;min-height:28px;font-size:15px}\
.dp-label{overflow-wrap:break-word;min-width:0}\
.dp-track{position:relative;height:22px;border-left:1px solid #888;border-right:1px solid #ddd}\
.dp-grid{position:absolute;top:0;bottom:0;border-left:1px solid #e3e3e3}\
.dp-ci{position:absolute;top:10px;height:2px;background:#5a0f0f}\
.dp-dot{position:absolute;top:5px;width:12px;height:12px;margin-left:-6px;border-radius:50%;background:#8b1a1a}\
.dp-none{border:0;display:flex;align-items:center;font-size:14px}\
.dp-val{text-align:right;font-variant-numeric:tabular-nums}\
.dp-axis{min-height:20px}.dp-axis .dp-track{border:0;height:18px}\
.dp-tick{position:absolute;transform:translateX(-50%);font-size:13px;color:#444;white-space:nowrap}\
.dp-title{font-size:14px;color:#444;margin:.3rem 0 0}\
@media (max-width:560px){.dp-row{grid-template-columns:1fr 3rem;row-gap:0}.dp-label{grid-column:1/3;margin-top:.3rem}.dp-axis .dp-label{display:none}}\
@media print{.dp-row{break-inside:avoid}}";

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

/// A progress bar of `n` against `target`, with the numbers as text; below target it stands
/// out (amber, bold, the shortfall).
pub fn progress(n: i64, target: i64) -> Markup {
    let pct = if target > 0 {
        (n as f64 / target as f64 * 100.0).min(100.0)
    } else {
        100.0
    };
    // below target: an amber bar, bold text and how many are missing, so it stands out
    let below = n < target;
    html! {
        div.progress.below[below] role="progressbar" aria-valuenow=(n) aria-valuemin="0" aria-valuemax=(target) {
            span style={ "width:" (format!("{pct:.0}")) "%" } {}
        }
        @if below { small.below-target { (n) " / " (target) " (−" (target - n) ")" } }
        @else { small { (n) " / " (target) " ✓" } }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(label: &str, e: f64, lo: f64, hi: f64) -> Bar {
        Bar {
            label: label.into(),
            estimate: Some(e),
            ci_low: Some(lo),
            ci_high: Some(hi),
            suppressed: false,
            note: None,
        }
    }

    #[test]
    fn the_axis_zooms_to_whole_numbers_around_the_intervals() {
        let bars = vec![bar("A", 86.5, 84.2, 88.8), bar("B", 78.1, 75.0, 81.3)];
        let s = Scale::fit(&bars);
        assert_eq!((s.lo, s.hi), (70.0, 90.0));
        assert_eq!(s.step, 5.0);
        assert!(s.ticks().iter().all(|t| t.fract() == 0.0));
        assert_eq!(s.ticks(), vec![70.0, 75.0, 80.0, 85.0, 90.0]);
        // near the top the scale stops at 100; a narrow spread still spans 10 points
        let s = Scale::fit(&[bar("A", 98.0, 97.5, 99.6)]);
        assert_eq!((s.lo, s.hi), (90.0, 100.0));
        let s = Scale::fit(&[bar("A", 3.0, 0.0, 6.0)]);
        assert_eq!(s.lo, 0.0);
    }

    #[test]
    fn suppressed_rows_have_no_dot_and_the_zoom_is_stated() {
        let mut bars = vec![bar("市政务服务中心", 86.5, 84.2, 88.8)];
        bars.push(Bar {
            label: "B".into(),
            estimate: None,
            ci_low: None,
            ci_high: None,
            suppressed: true,
            note: None,
        });
        let html = dot_plot(Lang::Zh, "t", &bars, "样本不足").into_string();
        assert!(html.contains(">86.5<"));
        assert!(html.contains(">样本不足<"));
        assert_eq!(html.matches("class=\"dp-dot\"").count(), 1);
        assert!(html.contains("横轴已放大：只显示 80–90 分"), "{html}");
        assert!(html.contains("横轴：满意度指数（0–100 分）"));
        let en = dot_plot(Lang::En, "t", &bars, "suppressed").into_string();
        assert!(en.contains("Zoomed axis: 80–90 points only, not from 0."));
    }

    #[test]
    fn significant_points_are_filled() {
        let pts = vec![("2025".into(), 78.3, false), ("2026".into(), 80.5, true)];
        let svg = sparkline("t", &pts).into_string();
        assert_eq!(svg.matches("fill=\"#8b1a1a\"").count(), 1);
    }
}
