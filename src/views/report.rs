//! The unit feedback report (反馈报告): the unit's composite score and grade, its satisfaction
//! by respondent type and dimension, strengths and weaknesses, the change since last year and
//! the suggestions. A respondent group below the suppression threshold is never named here
//! (not in tables, not beside suggestions); identical suggestions are shown once with a count.
//! Prints on A4 with page numbers, the print date and a confidentiality mark.

use std::collections::{BTreeMap, BTreeSet};

use maud::{html, Markup};
use pingyi_analysis::scoring::framework::fmt_num;

use super::ranking::grades_note;
use super::results::{
    change_cell, crumbs, dim_name, f1, figure, page, pct, rtype_name, sup_label, title_of, who,
};
use crate::analytics::{Loaded, SatisfactionRow, Suggestion};
use crate::auth::CurrentUser;
use crate::i18n::Lang;
use crate::scoring::{Change, Grades, MIN_CELL};
use crate::store::{Evaluation, Unit};

/// Print rules of the report: a confidentiality mark at the top of every page, page numbers
/// and the print date at the bottom (CSS paged media; the date is the day the page was made).
fn print_css(lang: Lang, today: &str) -> String {
    let (mark, page, of) = match lang {
        Lang::Zh => ("内部资料 · 注意保密", "第 ", " 页 / 共 "),
        Lang::En => ("Internal · confidential", "Page ", " of "),
    };
    let tail = lang.pick(" 页", "");
    let printed = lang.pick("打印日期 ", "Printed ");
    format!(
        "@page{{@top-right{{content:\"{mark}\";font-size:9pt;color:#8b1a1a}}\
         @bottom-center{{content:\"{page}\" counter(page) \"{of}\" counter(pages) \"{tail}\";font-size:9pt}}\
         @bottom-right{{content:\"{printed}{today}\";font-size:9pt}}}}\
         .print-only{{display:none}}@media print{{.print-only{{display:block}}\
         .card{{break-inside:auto}}.card h2,.card h3{{break-after:avoid}}.dp-row,tr{{break-inside:avoid}}}}"
    )
}

/// One suggestion as shown: the text, how many gave it, and the groups that may be named.
pub struct Shown<'a> {
    pub text: &'a str,
    pub count: usize,
    /// respondent types to name beside it; empty when any of its groups is below the threshold
    pub groups: Vec<&'a str>,
}

/// Whitespace-insensitive key of a suggestion (identical texts count as one).
fn same_text(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// One suggestion text as first written, how often it was given and by which groups.
type Merged<'a> = (&'a str, usize, BTreeSet<&'a str>);

/// The unit's suggestions by dimension (largest group first), identical texts merged with a
/// count (most frequent first), each named with its groups only when every one of them is in
/// `named` (the groups whose scores are shown).
pub fn suggestion_groups<'a>(
    suggestions: &'a [Suggestion],
    unit: &str,
    named: &BTreeSet<&str>,
) -> Vec<(String, usize, Vec<Shown<'a>>)> {
    let mut by_dim: BTreeMap<&str, BTreeMap<String, Merged<'a>>> = BTreeMap::new();
    for s in suggestions.iter().filter(|s| s.unit == unit) {
        let e = by_dim
            .entry(s.dimension.as_str())
            .or_default()
            .entry(same_text(&s.text))
            .or_insert((s.text.as_str(), 0, BTreeSet::new()));
        e.1 += 1;
        e.2.insert(s.respondent_type.as_str());
    }
    let mut out: Vec<(String, usize, Vec<Shown<'a>>)> = by_dim
        .into_iter()
        .map(|(dim, texts)| {
            let total = texts.values().map(|t| t.1).sum();
            let mut shown: Vec<Shown<'a>> = texts
                .into_values()
                .map(|(text, count, groups)| Shown {
                    text,
                    count,
                    groups: if groups.iter().all(|g| named.contains(g)) {
                        groups.into_iter().collect()
                    } else {
                        Vec::new()
                    },
                })
                .collect();
            shown.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.text.cmp(b.text)));
            (dim.to_owned(), total, shown)
        })
        .collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    out
}

pub struct ReportData<'a> {
    pub ev: &'a Evaluation,
    pub grades: &'a Grades,
    pub unit: &'a Unit,
    pub prev: Option<&'a Evaluation>,
    pub loaded: &'a Loaded,
    pub overall: Option<&'a SatisfactionRow>,
    pub by_type: &'a [SatisfactionRow],
    pub by_dim: &'a [SatisfactionRow],
    pub by_item: &'a [SatisfactionRow],
    /// (respondent type or "" for the unit, last year's index, this year's, comparison)
    pub changes: &'a [Change],
    /// the items the changes are scored on, named (compared, left out)
    pub compared: Option<(
        &'a crate::analytics::ComparedItems,
        &'a (
            Vec<crate::analytics::NamedItem>,
            Vec<crate::analytics::NamedItem>,
        ),
    )>,
    /// the unit's findings (assigned and after) with their state
    pub findings: &'a [crate::findings::FindingView],
}

pub fn unit_report(lang: Lang, user: &CurrentUser, d: &ReportData) -> Markup {
    let ev = d.ev;
    let u = d.unit.code.as_str();
    let l = d.loaded;
    let path = format!("/admin/evaluations/{}/units/{}/report", ev.id, u);
    let name = lang.pick(&d.unit.name_zh, &d.unit.name_en).to_owned();
    // only the groups whose scores are shown are ever named
    let mine: Vec<&SatisfactionRow> = d
        .by_type
        .iter()
        .filter(|r| r.keys[0] == u && !r.suppressed)
        .collect();
    let hidden_groups = d.by_type.iter().any(|r| r.keys[0] == u && r.suppressed);
    let types: Vec<String> = mine.iter().map(|r| r.keys[1].clone()).collect();
    let named: BTreeSet<&str> = types.iter().map(String::as_str).collect();
    let type_rows: Vec<(String, Option<&SatisfactionRow>)> = mine
        .iter()
        .map(|r| (rtype_name(&r.keys[1], lang), Some(*r)))
        .collect();
    // strengths and weaknesses: reportable items ranked by index
    let mut items: Vec<&SatisfactionRow> = d
        .by_item
        .iter()
        .filter(|r| {
            r.keys[0] == u
                && !r.suppressed
                && r.index.estimate.is_some()
                && named.contains(r.keys[1].as_str())
        })
        .collect();
    items.sort_by(|a, b| {
        b.index
            .estimate
            .unwrap_or(0.0)
            .total_cmp(&a.index.estimate.unwrap_or(0.0))
    });
    let k = 5.min(items.len() / 2);
    let strengths = &items[..k];
    let weaknesses: Vec<&SatisfactionRow> = items.iter().rev().take(k).copied().collect();
    let item_label = |r: &SatisfactionRow| -> String {
        match l.item_text.get(&(r.keys[1].clone(), r.item.clone())) {
            Some((zh, en, _)) => lang.pick(zh, en).to_owned(),
            None => r.item.clone(),
        }
    };
    let groups = suggestion_groups(&l.suggestions, u, &named);
    let today = chrono::Utc::now()
        .with_timezone(&crate::timefmt::zone())
        .date_naive()
        .to_string();
    let signed_in_unit = user.role == crate::auth::Role::Unit;
    page(
        lang,
        &format!("{name} · {}", lang.pick("反馈报告", "Feedback report")),
        &path,
        html! {
            style { (print_css(lang, &today)) }
            (who(lang, user))
            @if !signed_in_unit { (crumbs(lang, Some(ev))) }
            p.print-only.confidential { strong { (lang.pick("内部资料 · 注意保密", "Internal · confidential")) } " · " (lang.pick("打印日期 ", "printed ")) (today) }
            h1 { (name) " · " (lang.pick("满意度评价反馈报告", "Satisfaction feedback report")) }
            p.muted { (title_of(ev, lang)) }
            (composite_card(lang, ev, u, d.grades, !signed_in_unit))
            div.card {
                h2 { (lang.pick("总体满意度", "Overall satisfaction")) }
                @match d.overall {
                    Some(r) if !r.suppressed => {
                        p { (lang.pick("满意度指数", "Satisfaction index")) " " strong { (f1(r.index.estimate)) }
                            " (" (lang.pick("95% 置信区间", "95% CI")) " " (f1(r.index.ci_low)) "–" (f1(r.index.ci_high)) ")"
                            " · " (lang.pick("满意率", "satisfaction rate")) " " strong { (pct(r.rate.estimate)) }
                            " · n = " (r.n) }
                    }
                    _ => { p.sup { (sup_label(lang)) } }
                }
            }
            div.card {
                h2 { (lang.pick("各类评议对象的满意度", "Satisfaction by respondent type")) }
                (figure(lang, lang.pick("各类评议对象", "By respondent type"), lang.pick("评议对象", "Respondent type"), &type_rows))
                @if hidden_groups {
                    p.muted { (lang.pick("其他评议对象的答卷少于 ", "Other respondent groups gave fewer than ")) (MIN_CELL)
                        (lang.pick(" 份，不单列、不具名。", " answers each; they are not listed or named.")) }
                }
            }
            div.card {
                h2 { (lang.pick("满意度画像（维度 × 评议对象）", "Satisfaction profile (dimension × respondent type)")) }
                table {
                    thead { tr { th { (lang.pick("维度", "Dimension")) } @for t in &types { th.num { (rtype_name(t, lang)) } } } }
                    tbody { @for c in &l.dimensions { tr {
                        td { (dim_name(l, c, lang)) }
                        @for t in &types {
                            @match crate::analytics::find(d.by_dim, &[u, t], c) {
                                Some(r) if !r.suppressed => td.num { (f1(r.index.estimate)) " " small.muted { (f1(r.index.ci_low)) "–" (f1(r.index.ci_high)) } },
                                Some(_) => td.num.sup { (lang.pick("不予显示", "suppressed")) },
                                None => td.num.muted { "—" },
                            }
                        }
                    } } }
                }
                p.legend { (lang.pick("“—”：该类对象的问卷没有问及这一维度；“不予显示”：答卷少于 ", "“—”: this group's questionnaire does not ask about the dimension; “suppressed”: fewer than "))
                    (MIN_CELL) (lang.pick(" 份。", " answers.")) }
            }
            div.card {
                h2 { (lang.pick("优势与不足", "Strengths and weaknesses")) }
                @if items.is_empty() { p.sup { (sup_label(lang)) } }
                @else {
                    h3 { (lang.pick("评价最高的题目", "Highest-rated items")) }
                    (item_table(lang, strengths, &item_label))
                    h3 { (lang.pick("评价最低的题目（需改进）", "Lowest-rated items (to improve)")) }
                    (item_table(lang, &weaknesses, &item_label))
                }
            }
            div.card {
                h2 { (lang.pick("与上年度比较", "Change since last year")) }
                @match d.prev {
                    None => p.muted { (lang.pick("本系列没有上一年度的评估。", "There is no earlier evaluation in this series.")) },
                    Some(p) => {
                        p.muted { (p.year) " → " (ev.year) (lang.pick("；独立样本比较，α = 0.05。", "; independent samples, α = 0.05.")) }
                        table {
                            thead { tr {
                                th { (lang.pick("评议对象", "Respondent type")) }
                                th.num { (p.year) } th.num { (ev.year) }
                                th.num { (lang.pick("变化", "Change")) } th.num { "p" } th { (lang.pick("显著性", "Significance")) }
                            } }
                            tbody { @for (t, before, now, c) in d.changes.iter().filter(|c| c.0.is_empty() || named.contains(c.0.as_str())) { tr {
                                td { @if t.is_empty() { strong { (lang.pick("总体", "Overall")) } } @else { (rtype_name(t, lang)) } }
                                td.num { (f1(*before)) } td.num { (f1(*now)) }
                                (change_cell(lang, c))
                            } } }
                        }
                        @if let Some((items, named)) = d.compared { (super::results::compared_items_note(lang, items, named)) }
                    }
                }
            }
            div.card {
                h2 { (lang.pick("意见建议", "Suggestions")) }
                p.muted { (lang.pick("已去除电话、身份证号、电子邮箱等个人信息；按维度归类，相同意见合并并注明条数（× 2）；答卷不足的评议对象不具名。",
                    "Phone numbers, ID numbers and e-mail addresses were removed; grouped by dimension, identical suggestions shown once with their count (× 2); groups with too few answers are not named.")) }
                @if groups.is_empty() { p.muted { (lang.pick("暂无意见建议。", "No suggestions.")) } }
                @for (dim, total, list) in &groups {
                    h3 { (dim_name(l, dim, lang)) " (" (total) ")" }
                    @for s in list.iter().take(100) {
                        p.suggestion {
                            (s.text)
                            @if s.count > 1 { " " strong.count { "× " (s.count) } }
                            @if !s.groups.is_empty() {
                                " " small.muted { "— " (s.groups.iter().map(|g| rtype_name(g, lang)).collect::<Vec<_>>().join(lang.pick("、", ", "))) }
                            }
                        }
                    }
                    @if list.len() > 100 {
                        p.muted { (lang.pick("另有 ", "and ")) (list.len() - 100) (lang.pick(" 条未显示。", " more not shown.")) }
                    }
                }
            }
            (crate::views::findings::report_section(lang, d.findings))
        },
    )
}

/// The unit's composite score and grade with the indicator breakdown (points earned of the
/// maximum per indicator, deductions after their caps, rules applied).
fn composite_card(lang: Lang, ev: &Evaluation, unit: &str, g: &Grades, evaluator: bool) -> Markup {
    let name = |zh: &str, en: &Option<String>| match lang {
        Lang::Zh => zh.to_owned(),
        Lang::En => en.clone().unwrap_or_else(|| zh.to_owned()),
    };
    html! {
        div.card #composite {
            h2 { (lang.pick("综合得分与等次", "Composite score and grade")) }
            @match (g, g.unit(unit)) {
                (Grades::Scored { fw, outcome }, Some(r)) => {
                    p {
                        (lang.pick("综合得分", "Composite score")) " "
                        span.big { (format!("{:.1}", r.total)) } " / " (fmt_num(outcome.max_total))
                        " · " (lang.pick("等次", "grade")) " " span.grade.big { (g.grade_name(&r.grade, lang)) }
                        " · " (lang.pick("第 ", "rank ")) (r.rank) (lang.pick(" 名，共 ", " of ")) (outcome.units.len())
                        (lang.pick(" 个单位", " units"))
                    }
                    @if r.grade != r.grade_before {
                        p.warn {
                            (lang.pick("按分数为“", "By points “")) (g.grade_name(&r.grade_before, lang))
                            (lang.pick("”，因", "”, lowered by ")) (r.rules_applied.join("、"))
                            (lang.pick("降为“", " to “")) (g.grade_name(&r.grade, lang)) (lang.pick("”。", "”."))
                        }
                    }
                    @if r.advanced { p { span.badge.published { (lang.pick("入选年度先进", "Selected as advanced")) } } }
                    @if r.rectification { p.warn { (lang.pick("列为重点整改单位。", "On the rectification list.")) } }
                    (grades_note(lang, ev, g, evaluator))
                    div.wide tabindex="0" { table {
                        thead { tr {
                            th { (lang.pick("指标", "Indicator")) }
                            th.num { (lang.pick("分值", "Points")) }
                            th.num { (lang.pick("得分", "Earned")) }
                            th.num { (lang.pick("得分率", "Score %")) }
                        } }
                        tbody {
                            @for (ind, p) in fw.indicators.iter().zip(&r.indicators) {
                                tr {
                                    td class={ "ind" (ind.depth.min(3)) } {
                                        @if ind.depth == 0 { strong { (name(&ind.name, &ind.name_en)) } }
                                        @else { (name(&ind.name, &ind.name_en)) }
                                    }
                                    td.num { (fmt_num(p.max_points)) }
                                    td.num { (format!("{:.1}", p.points)) }
                                    td.num { (format!("{:.1}%", p.score)) }
                                }
                            }
                            tr {
                                td { strong { (lang.pick("小计", "Subtotal")) } }
                                td.num { (fmt_num(fw.total)) }
                                td.num { strong { (format!("{:.1}", r.gross)) } }
                                td {}
                            }
                            @for dp in r.deductions.iter().filter(|d| d.entered > 0.0) {
                                @let dd = fw.deductions.iter().find(|d| d.id == dp.id);
                                tr {
                                    td.ind1 { (lang.pick("扣分：", "Deduction: ")) (dd.map_or(dp.id.as_str(), |d| d.name.as_str())) }
                                    td.num { @if let Some(m) = dd.and_then(|d| d.max) { "≤ " (fmt_num(m)) } }
                                    td.num.warn { "−" (format!("{:.1}", dp.applied)) }
                                    td { @if dp.applied < dp.entered { small.muted { (lang.pick("已按上限", "capped")) } } }
                                }
                            }
                            @for gp in r.deduction_groups.iter().filter(|x| x.applied < x.entered) {
                                tr {
                                    td.ind1 { (lang.pick("扣分合计上限：", "Deduction cap: ")) (fw.deduction_groups.iter().find(|x| x.id == gp.id).map_or(gp.id.as_str(), |x| x.name.as_str())) }
                                    td {} td.num { (format!("{:.1}", gp.entered)) " → " (format!("{:.1}", gp.applied)) } td {}
                                }
                            }
                            tr {
                                td { strong { (lang.pick("综合得分", "Composite score")) } }
                                td.num { (fmt_num(outcome.max_total)) }
                                td.num { strong { (format!("{:.1}", r.total)) } }
                                td {}
                            }
                        }
                    } }
                }
                _ => { p.muted { "—" } (grades_note(lang, ev, g, evaluator)) }
            }
        }
    }
}

fn item_table(
    lang: Lang,
    rows: &[&SatisfactionRow],
    label: &dyn Fn(&SatisfactionRow) -> String,
) -> Markup {
    html! {
        table {
            thead { tr {
                th { (lang.pick("题目", "Item")) } th { (lang.pick("评议对象", "Respondent type")) }
                th.num { (lang.pick("满意度指数", "Index")) } th.num { (lang.pick("满意率", "Rate")) } th.num { "n" }
            } }
            tbody { @for r in rows { tr {
                td { (label(r)) }
                td { (rtype_name(&r.keys[1], lang)) }
                td.num { (f1(r.index.estimate)) }
                td.num { (pct(r.rate.estimate)) }
                td.num { (r.n) }
            } } }
        }
    }
}
