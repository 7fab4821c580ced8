//! The two rankings of an evaluation, kept apart because they measure different things:
//! the framework ranking (composite score of the indicator framework, its rank and its grade)
//! and the satisfaction ranking (overall satisfaction index with its interval). One measure's
//! rank is never printed beside the other's grade. Used by the results page and the public
//! page (公示).

use maud::{html, Markup};
use pingyi_analysis::scoring::framework::fmt_num;

use super::charts::{dot_plot, Bar};
use super::results::{bar, f1, pct, sup_label};
use crate::analytics::SatisfactionRow;
use crate::i18n::Lang;
use crate::scoring::Grades;
use crate::store::{Evaluation, Unit};
use crate::views::with_lang;

/// Units ordered by index (suppressed last), with rank numbers for the reportable ones.
pub(super) fn ranking<'a>(
    units: &'a [Unit],
    rows: &'a [SatisfactionRow],
) -> Vec<(Option<usize>, &'a Unit, Option<&'a SatisfactionRow>)> {
    let mut v: Vec<(&Unit, Option<&SatisfactionRow>)> = units
        .iter()
        .map(|u| {
            (
                u,
                crate::analytics::find(rows, &[u.code.as_str()], "overall"),
            )
        })
        .collect();
    let key = |r: &Option<&SatisfactionRow>| {
        r.filter(|r| !r.suppressed)
            .and_then(|r| r.index.estimate)
            .unwrap_or(f64::NEG_INFINITY)
    };
    v.sort_by(|a, b| key(&b.1).total_cmp(&key(&a.1)));
    let mut rank = 0;
    v.into_iter()
        .map(|(u, r)| {
            let shown = r.is_some_and(|r| !r.suppressed && r.index.estimate.is_some());
            if shown {
                rank += 1;
            }
            (shown.then_some(rank), u, r)
        })
        .collect()
}

/// What the grade column means, or why there is none (see [`Grades`]).
pub(super) fn grades_note(lang: Lang, ev: &Evaluation, g: &Grades, evaluator: bool) -> Markup {
    let scores = with_lang(&format!("/admin/evaluations/{}/scores", ev.id), lang);
    html! {
        @match g {
            Grades::Scored { outcome, .. } => p.muted {
                (lang.pick("等次依据指标体系《", "Grades are bands of the composite score of the framework “"))
                (g.framework_name(lang).unwrap_or_default())
                (lang.pick("》的综合得分（满分 ", "” (out of "))
                (fmt_num(outcome.max_total))
                (lang.pick(" 分，优秀 ≥90、良好 80–<90、达标 70–<80、诫勉 <70，违纪等情形降一等次），满意度是其中一项指标。",
                           "; 优秀 excellent ≥90, 良好 good 80–<90, 达标 pass 70–<80, 诫勉 admonished <70; a violation lowers the grade one band). Satisfaction is one indicator of it."))
                @if evaluator { " " a.noprint href=(scores) { (lang.pick("评分明细", "Score details")) } }
            },
            Grades::Incomplete { problems, message, .. } => {
                p.warn {
                    (lang.pick("指标体系《", "The framework “")) (g.framework_name(lang).unwrap_or_default())
                    (lang.pick("》的评分尚不完整（", "” is not fully scored yet ("))
                    (problems) (lang.pick(" 个问题），暂不评定等次。", " problem(s)); no grades until it is."))
                    @if evaluator { " " a.noprint href=(scores) { (lang.pick("补录评分", "Enter the scores")) } }
                }
                @if evaluator {
                    details.noprint { summary { (lang.pick("缺少的评分", "What is missing")) } pre style="white-space:pre-wrap;font-size:.8rem" { (message) } }
                }
            },
            Grades::NoFramework => p.muted {
                (lang.pick("本评估未关联指标体系，不评定等次（“—”）：等次是综合得分的分档，不能仅凭满意度指数确定。",
                           "This evaluation has no indicator framework, so no grades (“—”): a grade bands the composite score and is not set from the satisfaction index alone."))
                @if evaluator { " " a.noprint href=(scores) { (lang.pick("关联指标体系", "Attach a framework")) } }
            },
        }
    }
}

/// The framework ranking: units in the order of their composite score, with its rank and the
/// grade after the rules (a rule that lowered a grade is named in the row).
pub(super) fn framework_card(
    lang: Lang,
    ev: &Evaluation,
    units: &[Unit],
    g: &Grades,
    evaluator: bool,
) -> Markup {
    let name = |code: &str| {
        units
            .iter()
            .find(|u| u.code == code)
            .map(|u| lang.pick(&u.name_zh, &u.name_en).to_owned())
            .unwrap_or_else(|| code.to_owned())
    };
    let scored = match g {
        Grades::Scored { outcome, .. } => Some(outcome),
        _ => None,
    };
    html! {
        div.card #framework {
            h2 { (lang.pick("综合评价排名与等次", "Framework ranking and grades")) }
            p.muted { (lang.pick(
                "按指标体系综合得分排名；等次由综合得分评定，不由满意度指数评定。",
                "Ranked by the composite score of the indicator framework; grades band the composite score, not the satisfaction index.")) }
            (grades_note(lang, ev, g, evaluator))
            @if let Some(outcome) = scored {
                table.stack {
                    thead { tr {
                        th.num { (lang.pick("综合名次", "Composite rank")) }
                        th { (lang.pick("单位", "Unit")) }
                        th.num { (lang.pick("综合得分", "Composite score")) }
                        th { (lang.pick("等次", "Grade")) }
                    } }
                    tbody { @for r in &outcome.units { tr {
                        td.num data-label=(lang.pick("综合名次", "Composite rank")) { (r.rank) }
                        td.name { (name(&r.unit)) }
                        td.num data-label=(lang.pick("综合得分", "Composite score")) { (f1(Some(r.total))) small.muted { " / " (fmt_num(outcome.max_total)) } }
                        td data-label=(lang.pick("等次", "Grade")) {
                            span.grade { (g.grade_name(&r.grade, lang)) }
                            @if r.grade != r.grade_before {
                                " " small.warn {
                                    (lang.pick("按分数为", "by points ")) (g.grade_name(&r.grade_before, lang))
                                    (lang.pick("，因", "; lowered by ")) (r.rules_applied.join(lang.pick("、", ", ")))
                                    (lang.pick("降一等次", ""))
                                }
                            }
                        }
                    } } }
                }
            }
        }
    }
}

/// The satisfaction ranking: units in the order of their overall satisfaction index, with the
/// dot plot of the intervals above the table. `with_n`: the evaluators' page shows counts; the
/// public page does not.
pub(super) fn satisfaction_card(
    lang: Lang,
    ranked: &[(Option<usize>, &Unit, Option<&SatisfactionRow>)],
    with_n: bool,
) -> Markup {
    let bars: Vec<Bar> = ranked
        .iter()
        .map(|(rank, u, r)| {
            bar(
                format!(
                    "{}{}",
                    rank.map(|k| format!("{k}. ")).unwrap_or_default(),
                    lang.pick(&u.name_zh, &u.name_en)
                ),
                *r,
            )
        })
        .collect();
    html! {
        div.card #satisfaction {
            h2 { (lang.pick("满意度排名", "Satisfaction ranking")) }
            p.muted { (lang.pick(
                "按总体满意度指数（0–100）排序。满意度只是综合评价的一项指标：此名次不是综合名次，不对应等次。",
                "Ordered by the overall satisfaction index (0–100). Satisfaction is one indicator of the framework: this order is not the composite ranking and carries no grade.")) }
            (dot_plot(lang, lang.pick("各单位总体满意度指数及 95% 置信区间", "Overall satisfaction index by unit, with 95% confidence intervals"), &bars, sup_label(lang)))
            table.stack {
                thead { tr {
                    th.num { (lang.pick("满意度名次", "Satisfaction rank")) }
                    th { (lang.pick("单位", "Unit")) }
                    th.num { (lang.pick("满意度指数", "Index")) }
                    th.num { (lang.pick("95% 置信区间", "95% CI")) }
                    th.num { (lang.pick("满意率", "Rate")) }
                    @if with_n { th.num { "n" } }
                } }
                tbody { @for (rank, u, r) in ranked { tr {
                    td.num data-label=(lang.pick("满意度名次", "Satisfaction rank")) { (rank.map(|k| k.to_string()).unwrap_or_else(|| "—".into())) }
                    td.name { (lang.pick(&u.name_zh, &u.name_en)) }
                    @match r {
                        Some(r) if !r.suppressed => {
                            td.num data-label=(lang.pick("满意度指数", "Index")) { (f1(r.index.estimate)) }
                            td.num data-label=(lang.pick("95% 置信区间", "95% CI")) { (f1(r.index.ci_low)) "–" (f1(r.index.ci_high)) }
                            td.num data-label=(lang.pick("满意率", "Rate")) { (pct(r.rate.estimate)) }
                            @if with_n { td.num data-label="n" { (r.n) } }
                        }
                        _ => { td.sup colspan=(if with_n { 4 } else { 3 }) { (sup_label(lang)) } }
                    }
                } } }
            }
        }
    }
}
