//! 公示: the published results. One line says when and how they were made (publication date,
//! survey period, sample size, method); then the framework ranking (composite score, rank,
//! grade) and, apart from it, the satisfaction ranking (index with interval). No counts per
//! unit, no per-type or per-item cells, nothing below the threshold.

use chrono::NaiveDate;
use maud::{html, Markup};

use super::ranking::{framework_card, ranking, satisfaction_card};
use super::results::{f1, page, pct, sup_label, title_of};
use crate::analytics::SatisfactionRow;
use crate::i18n::Lang;
use crate::scoring::{Grades, MIN_CELL};
use crate::store::{Evaluation, Unit};

pub struct PublicData<'a> {
    pub ev: &'a Evaluation,
    pub units: &'a [Unit],
    /// overall index per unit
    pub rows: &'a [SatisfactionRow],
    /// overall index of the whole evaluation
    pub overall: Option<&'a SatisfactionRow>,
    pub grades: &'a Grades,
    /// the rectification status per unit, once published: (published since, counts)
    pub findings: Option<(&'a str, &'a [crate::findings::UnitCounts])>,
    /// when it was (last) published, an RFC 3339 instant
    pub published_at: Option<&'a str>,
    /// the survey period (fieldwork), when set
    pub fieldwork: Option<(NaiveDate, NaiveDate)>,
}

/// Thousands separated: 12,345.
fn grouped(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The one line: publication date · survey period · sample size · method.
fn facts_line(lang: Lang, d: &PublicData) -> Markup {
    let published = d
        .published_at
        .and_then(crate::timefmt::local_date)
        .map(|x| x.to_string())
        .unwrap_or_else(|| "—".into());
    let period = d
        .fieldwork
        .map(|(a, b)| format!("{a} {} {b}", lang.pick("至", "to")))
        .unwrap_or_else(|| "—".into());
    let n = d.overall.map(|r| r.n).unwrap_or(0);
    let shown = d
        .rows
        .iter()
        .filter(|r| r.item == "overall" && !r.suppressed)
        .count();
    html! {
        p #facts {
            (lang.pick("公示日期 ", "Published ")) strong { (published) }
            " · " (lang.pick("调查期 ", "survey period ")) strong { (period) }
            " · " (lang.pick("有效样本 ", "valid responses ")) strong { (grouped(n)) }
            (lang.pick(" 份，", ", ")) (shown) (lang.pick(" 个单位公布数值（每个单位至少 ", " units shown (each with at least "))
            (MIN_CELL) (lang.pick(" 份）", ")"))
            " · " (lang.pick(
                "方法：五级评价按 100/80/60/40/20 分加权平均得满意度指数（0–100），附 95% 置信区间；综合得分按指标体系计算。",
                "method: weighted mean of the five-point answers scored 100/80/60/40/20 gives the satisfaction index (0–100), with 95% confidence intervals; composite scores follow the indicator framework."))
        }
    }
}

pub fn public_results(lang: Lang, d: &PublicData) -> Markup {
    let (ev, g) = (d.ev, d.grades);
    let ranked = ranking(d.units, d.rows);
    page(
        lang,
        &format!(
            "{} · {}",
            title_of(ev, lang),
            lang.pick("结果公示", "Published results")
        ),
        &format!("/public/evaluations/{}", ev.id),
        html! {
            h1 { (title_of(ev, lang)) " · " (lang.pick("结果公示", "Published results")) }
            (facts_line(lang, d))
            div.card #overall {
                h2 { (lang.pick("总体满意度", "Overall satisfaction")) }
                @match d.overall {
                    Some(r) if !r.suppressed => p {
                        (lang.pick("满意度指数", "Satisfaction index")) " " span.big { (f1(r.index.estimate)) }
                        " (" (lang.pick("95% 置信区间", "95% CI")) " " (f1(r.index.ci_low)) "–" (f1(r.index.ci_high)) ")"
                        " · " (lang.pick("满意率", "satisfaction rate")) " " strong { (pct(r.rate.estimate)) }
                    },
                    _ => p.sup { (sup_label(lang)) },
                }
            }
            (framework_card(lang, ev, d.units, g, false))
            (satisfaction_card(lang, &ranked, false))
            @if let Some((since, counts)) = d.findings {
                (crate::views::findings::public_counts(lang, counts, since))
            }
        },
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn thousands_are_grouped() {
        assert_eq!(super::grouped(7), "7");
        assert_eq!(super::grouped(1234), "1,234");
        assert_eq!(super::grouped(1_234_567), "1,234,567");
    }
}
