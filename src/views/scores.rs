//! The evaluators' scores page (units × indicators, entry form, computed results) and the
//! score history page.

use std::collections::BTreeMap;

use maud::{html, Markup};
use pingyi_analysis::scoring::framework::fmt_num;
use pingyi_analysis::scoring::framework::Framework;
use pingyi_analysis::scoring::IndicatorKind;

use super::{layout, with_lang};
use crate::auth::CurrentUser;
use crate::i18n::Lang;
use crate::scoring::Snapshot;
use crate::store::{Evaluation, ScoreChangeRow, ScoreEventRow, Unit};

const CSS: &str = "\
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}\
.wide{overflow-x:auto}.wide table{font-size:.85rem}\
.missing{color:#8b1a1a}\
nav.crumbs{font-size:.9rem;margin:.5rem 0}\
form.entry{display:grid;gap:.5rem;max-width:40rem}\
form.entry input,form.entry select{font-size:1rem;padding:.4rem}";

fn page_of(lang: Lang, title: &str, path: &str, body: Markup) -> Markup {
    layout(
        lang,
        title,
        &with_lang(path, lang.other()),
        html! { style { (CSS) } (body) },
    )
}

fn unit_name(units: &[Unit], code: &str, lang: Lang) -> String {
    units
        .iter()
        .find(|u| u.code == code)
        .map(|u| lang.pick(&u.name_zh, &u.name_en).to_owned())
        .unwrap_or_else(|| code.to_owned())
}

/// Points and scores on pages: one decimal (the API and exports keep full precision).
fn num(x: f64) -> String {
    format!("{x:.1}")
}

/// A survey binding such as `satisfaction_index:resident+service_user` as people read it:
/// "满意度指数（居民、服务对象）".
fn binding_label(key: &str, lang: Lang) -> String {
    let (measure, types) = key.split_once(':').unwrap_or((key, ""));
    let measure = match measure {
        "satisfaction_index" => lang.pick("满意度指数", "satisfaction index"),
        "satisfaction_rate" => lang.pick("满意率", "satisfaction rate"),
        "composite" => lang.pick("组合满意度", "composite satisfaction"),
        other => other,
    };
    if types.is_empty() {
        return measure.to_owned();
    }
    let names: Vec<String> = types.split('+').map(|t| rtype_label(t, lang)).collect();
    format!(
        "{measure}{}{}{}",
        lang.pick("（", " ("),
        names.join(lang.pick("、", ", ")),
        lang.pick("）", ")")
    )
}

fn rtype_label(code: &str, lang: Lang) -> String {
    code.parse::<crate::questionnaire::RespondentType>()
        .map(|r| lang.pick(r.label_zh(), r.label_en()).to_owned())
        .unwrap_or_else(|_| code.to_owned())
}

/// Survey values the framework uses, from the current responses: per unit and binding the
/// value on 0–100; composites with their standard error and each weighted part.
fn survey_table(lang: Lang, s: &Snapshot) -> Markup {
    let round2 = |x: f64| format!("{x:.1}");
    html! {
        @if !s.survey.is_empty() {
            h2 { (lang.pick("满意度调查结果（来自当前答卷）", "Survey values (from the current responses)")) }
            div.wide tabindex="0" { table {
                thead { tr {
                    th { (lang.pick("单位", "Unit")) }
                    th { (lang.pick("调查指标", "Binding")) }
                    th.num { (lang.pick("得分（0–100）", "Value (0–100)")) }
                    th.num { (lang.pick("标准误", "SE")) }
                    th { (lang.pick("组成（权重 · 得分 · 有效答卷）", "Parts (weight · value · valid answers)")) }
                } }
                tbody {
                    @for ((unit, key), v) in &s.survey {
                        @let c = s.composites.values.get(&(unit.clone(), key.clone()));
                        tr {
                            td { (unit_name(&s.units, unit, lang)) }
                            td title=(key) { (binding_label(key, lang)) }
                            td.num { (round2(*v)) }
                            td.num { @if let Some(c) = c { (round2(c.se)) } }
                            td { @if let Some(c) = c {
                                (c.parts.iter().zip(crate::scoring::shown_parts(&c.parts, crate::scoring::MIN_CELL)).map(|((t, w, e, n), shown)| if shown { format!("{} {}% · {} · {n}", rtype_label(t, lang), fmt_num(*w), round2(*e)) } else { format!("{} {}% · – · {n}", rtype_label(t, lang), fmt_num(*w)) }).collect::<Vec<_>>().join("；"))
                            } }
                        }
                    }
                }
            } }
        }
        @if !s.composites.incomplete.is_empty() {
            p.muted {
                (lang.pick("以下单位缺少组合指标所需的某类答卷：", "These units lack answers of a type a composite weights: "))
                (s.composites.incomplete.iter().map(|((u, k), types)| format!("{} {} ({})", unit_name(&s.units, u, lang), binding_label(k, lang), types.iter().map(|t| rtype_label(t, lang)).collect::<Vec<_>>().join(lang.pick("、", ", ")))).collect::<Vec<_>>().join("；"))
            }
        }
    }
}

fn crumbs(lang: Lang, ev: &Evaluation) -> Markup {
    html! {
        nav.crumbs {
            a href=(with_lang("/admin", lang)) { (lang.pick("评估管理", "Evaluations")) }
            " › "
            a href=(with_lang(&format!("/admin/evaluations/{}", ev.id), lang)) {
                (lang.pick(&ev.title_zh, &ev.title_en))
            }
        }
    }
}

/// An entry column: an objective indicator (and period), or a deduction item (summed).
struct Col {
    indicator: String,
    period: Option<String>,
    label: String,
    deduction: bool,
}

fn columns(s: &Snapshot, lang: Lang) -> Vec<Col> {
    let fw = &s.fw;
    let mut cols = Vec::new();
    for k in fw.leaves() {
        let ind = &fw.indicators[k];
        if !matches!(ind.kind, IndicatorKind::Objective { .. }) {
            continue;
        }
        let name = match lang {
            Lang::Zh => ind.name.clone(),
            Lang::En => ind.name_en.clone().unwrap_or_else(|| ind.name.clone()),
        };
        let labels = ind
            .period_scope
            .and_then(|sc| fw.indicators[sc].periods.as_ref())
            .map(|p| p.labels.clone());
        match labels {
            Some(labels) => {
                for l in labels {
                    cols.push(Col {
                        indicator: ind.id.clone(),
                        label: format!("{name} {l}"),
                        period: Some(l),
                        deduction: false,
                    });
                }
            }
            None => cols.push(Col {
                indicator: ind.id.clone(),
                period: None,
                label: name,
                deduction: false,
            }),
        }
    }
    for d in &fw.deductions {
        cols.push(Col {
            indicator: d.id.clone(),
            period: None,
            label: format!("{} ({})", d.name, lang.pick("扣分", "deducted")),
            deduction: true,
        });
    }
    cols
}

/// The scores page; `snap` None when no framework is attached (then `choices` are offered).
pub fn page(
    lang: Lang,
    user: &CurrentUser,
    ev: &Evaluation,
    snap: Option<&Snapshot>,
    choices: &[(String, String)],
) -> Markup {
    let title = format!(
        "{} · {}",
        lang.pick("客观指标评分", "Objective scores"),
        lang.pick(&ev.title_zh, &ev.title_en)
    );
    let path = format!("/admin/evaluations/{}/scores", ev.id);
    let body = match snap {
        None => html! {
            (crumbs(lang, ev))
            h1 { (title) }
            div.card {
                p { (lang.pick("尚未选择指标体系。请选择本次评估使用的指标体系：",
                               "No indicator framework is attached yet. Choose the framework of this evaluation:")) }
                form method="post" action={ "/admin/evaluations/" (ev.id) "/framework?lang=" (lang.code()) } {
                    input type="hidden" name="_csrf" value=(user.csrf);
                    select name="framework" {
                        @for (id, name) in choices { option value=(id) { (name) " (" (id) ")" } }
                    }
                    " "
                    button type="submit" { (lang.pick("确定", "Attach")) }
                }
            }
        },
        Some(s) => scored(lang, user, ev, s, &title),
    };
    let body = html! { (super::signed_in_header(lang, user, None)) (body) };
    page_of(lang, &title, &path, body)
}

fn scored(lang: Lang, user: &CurrentUser, ev: &Evaluation, s: &Snapshot, title: &str) -> Markup {
    let cols = columns(s, lang);
    // current values: objective (unit, indicator, period) → score; deductions summed
    let mut current: BTreeMap<(String, String, Option<String>), f64> = BTreeMap::new();
    for sc in &s.scores {
        let is_deduction = s.fw.deduction_index(&sc.indicator).is_some();
        let key = (
            sc.unit.clone(),
            sc.indicator.clone(),
            if is_deduction {
                None
            } else {
                sc.period.clone()
            },
        );
        *current.entry(key).or_insert(0.0) += sc.score;
    }
    let history = format!("/admin/evaluations/{}/scores/history", ev.id);
    html! {
        (crumbs(lang, ev))
        h1 { (title) }
        p.muted {
            (lang.pick("指标体系：", "Framework: ")) strong { (s.fw.name) }
            " (" code { (s.record.file) } ", SHA-256 " code { (&s.record.content_hash[..12.min(s.record.content_hash.len())]) } "…) · "
            a href=(with_lang(&history, lang)) { (lang.pick("修改记录", "Change history")) }
            " · "
            a href={ "/api/v1/evaluations/" (ev.id) "/scores" } { "JSON" }
        }
        h2 { (lang.pick("结果", "Results")) }
        @match &s.outcome {
            Ok(o) => {
                div.wide tabindex="0" { table {
                    thead { tr {
                        th.num { (lang.pick("名次", "Rank")) }
                        th { (lang.pick("单位", "Unit")) }
                        @for k in s.fw.roots() {
                            th.num { (s.fw.indicators[k].name) " (" (num(s.fw.indicators[k].max_points)) ")" }
                        }
                        th.num { (lang.pick("扣分", "Deductions")) }
                        th.num { (lang.pick("总分", "Total")) }
                        th { (lang.pick("等次（规则前）", "Grade before rules")) }
                        th { (lang.pick("等次", "Grade")) }
                        th { (lang.pick("先进", "Advanced")) }
                        th { (lang.pick("重点整改", "Rectification")) }
                    } }
                    tbody {
                        @for u in &o.units {
                            tr {
                                td.num { (u.rank) }
                                td { (unit_name(&s.units, &u.unit, lang)) }
                                @for k in s.fw.roots() {
                                    td.num { (num(u.indicators[k].points)) }
                                }
                                td.num { (num(u.deduction_total)) }
                                td.num { strong { (num(u.total)) } }
                                td { (u.grade_before) }
                                td { (u.grade) @if !u.rules_applied.is_empty() { " *" } }
                                td { @if u.advanced { "✓" } }
                                td { @if u.rectification { "✓" } }
                            }
                        }
                    }
                } }
                @if !o.advanced_tied_out.is_empty() {
                    p.muted { (lang.pick("名额线上并列、未能全部入选的单位（由考评办决定）：", "Tied at the advanced cut-off (the office decides): "))
                        (o.advanced_tied_out.join(", ")) }
                }
                p.muted { "* " (lang.pick("已按规则调整等次（违纪违法、重大事故等）。", "grade lowered by a rule (violation, major accident, …).")) }
            }
            Err(e) => {
                div.card.missing {
                    p { strong { (lang.pick("尚不能计算：以下指标缺少分数（不按零分处理）。",
                                            "Cannot compute yet: these inputs are missing (never counted as zero).")) } }
                    @if let Some(p) = &s.survey_problem {
                        p { (lang.pick("满意度调查数据不可用：", "Survey values unavailable: ")) (p) }
                    }
                    ul {
                        @for p in e.problems.iter().take(60) {
                            li { (unit_name(&s.units, &p.unit, lang))
                                @if let Some(i) = &p.indicator { " · " code { (i) } }
                                @if let Some(per) = &p.period { " · " (per) }
                                " — " (p.message) }
                        }
                        @if e.problems.len() > 60 { li { "… " (e.problems.len() - 60) (lang.pick(" 项未列出", " more")) } }
                    }
                }
            }
        }
        (survey_table(lang, s))
        h2 { (lang.pick("当前分数", "Current scores")) }
        div.wide tabindex="0" { table {
            thead { tr {
                th { (lang.pick("单位", "Unit")) }
                @for c in &cols { th.num title=(c.indicator) { (c.label) } }
            } }
            tbody {
                @for u in &s.units {
                    tr {
                        td { (lang.pick(&u.name_zh, &u.name_en)) }
                        @for c in &cols {
                            @let v = current.get(&(u.code.clone(), c.indicator.clone(), c.period.clone()));
                            td.num {
                                @match v {
                                    Some(v) => (num(*v)),
                                    None if c.deduction => "0",
                                    None => span.missing { "—" },
                                }
                            }
                        }
                    }
                }
            }
        } }
        h2 { (lang.pick("修改一项分数", "Change one score")) }
        form.entry.card method="post" action={ "/admin/evaluations/" (ev.id) "/scores?lang=" (lang.code()) } {
            input type="hidden" name="_csrf" value=(user.csrf);
            label { (lang.pick("单位", "Unit")) " "
                select name="unit" required {
                    @for u in &s.units { option value=(u.code) { (lang.pick(&u.name_zh, &u.name_en)) } }
                }
            }
            label { (lang.pick("指标", "Indicator")) " "
                select name="indicator" required {
                    @for c in &cols {
                        @if c.deduction {
                            option value=(c.indicator) { (c.label) }
                        } @else {
                            option value={ (c.indicator) "|" (c.period.clone().unwrap_or_default()) } { (c.label) }
                        }
                    }
                }
            }
            label { (lang.pick("扣分项的案件编号（仅扣分项）", "Case number (deductions only)")) " "
                input type="text" name="period" maxlength="100";
            }
            label { (lang.pick("分数（留空为撤销）", "Score (empty withdraws it)")) " "
                input type="number" name="score" step="any" min="0";
            }
            label { (lang.pick("依据说明", "Evidence note")) " "
                input type="text" name="note" maxlength="500";
            }
            label { (lang.pick("修改原因（必填）", "Reason (required)")) " "
                input type="text" name="reason" required maxlength="500";
            }
            button type="submit" { (lang.pick("保存", "Save")) }
        }
    }
}

fn score_cell(v: Option<f64>) -> String {
    v.map(num).unwrap_or_else(|| "—".into())
}

/// Every change to the evaluation's scores (optionally of one unit), newest first.
pub fn history(
    lang: Lang,
    ev: &Evaluation,
    units: &[Unit],
    unit: Option<&str>,
    changes: &[ScoreChangeRow],
    events: &[ScoreEventRow],
    fw: Option<&Framework>,
) -> Markup {
    // indicator and deduction names, never their ids
    let indicator = |id: &str| -> String {
        let Some(fw) = fw else { return id.to_owned() };
        if let Some(i) = fw.indicator_index(id) {
            let ind = &fw.indicators[i];
            return match lang {
                Lang::Zh => ind.name.clone(),
                Lang::En => ind.name_en.clone().unwrap_or_else(|| ind.name.clone()),
            };
        }
        fw.deduction_index(id)
            .map(|i| {
                format!(
                    "{}{}",
                    lang.pick("扣分：", "Deduction: "),
                    fw.deductions[i].name
                )
            })
            .unwrap_or_else(|| id.to_owned())
    };
    let title = format!(
        "{} · {}",
        lang.pick("评分修改记录", "Score history"),
        lang.pick(&ev.title_zh, &ev.title_en)
    );
    let base = format!("/admin/evaluations/{}/scores/history", ev.id);
    let path = match unit {
        Some(u) => format!("{base}?unit={u}"),
        None => base.clone(),
    };
    let body = html! {
        (crumbs(lang, ev))
        h1 { (title) }
        p {
            a href=(with_lang(&format!("/admin/evaluations/{}/scores", ev.id), lang)) { (lang.pick("返回评分", "Back to scores")) }
        }
        form method="get" action=(base) {
            input type="hidden" name="lang" value=(lang.code());
            select name="unit" {
                option value="" { (lang.pick("全部单位", "All units")) }
                @for u in units {
                    option value=(u.code) selected[unit == Some(u.code.as_str())] { (lang.pick(&u.name_zh, &u.name_en)) }
                }
            }
            " " button type="submit" { (lang.pick("筛选", "Filter")) }
        }
        div.wide tabindex="0" { table {
            thead { tr {
                th { (lang.pick("时间", "When")) }
                th { (lang.pick("单位", "Unit")) }
                th { (lang.pick("指标", "Indicator")) }
                th { (lang.pick("期间/案件", "Period / case")) }
                th.num { (lang.pick("原分数", "Old")) }
                th.num { (lang.pick("新分数", "New")) }
                th { (lang.pick("依据", "Evidence")) }
                th { (lang.pick("修改人", "Who")) }
                th { (lang.pick("原因", "Why")) }
            } }
            tbody {
                @for c in changes.iter().rev() {
                    tr {
                        td { (crate::timefmt::local(&c.at)) }
                        td { (unit_name(units, &c.unit, lang)) }
                        td title=(c.indicator) { (indicator(&c.indicator)) }
                        td { (c.period) }
                        td.num { (score_cell(c.old_score)) }
                        td.num { (score_cell(c.new_score)) }
                        td { (c.note) }
                        td { (c.actor) }
                        td { (c.reason) }
                    }
                }
            }
        } }
        @if !events.is_empty() {
            h2 { (lang.pick("事件（违纪违法、重大事故等）", "Events (violations, major accidents, …)")) }
            table {
                thead { tr {
                    th { (lang.pick("时间", "When")) }
                    th { (lang.pick("单位", "Unit")) }
                    th { (lang.pick("事件", "Event")) }
                    th { (lang.pick("状态", "Status")) }
                    th { (lang.pick("说明", "Note")) }
                    th { (lang.pick("修改人", "Who")) }
                    th { (lang.pick("原因", "Why")) }
                } }
                tbody {
                    @for e in events.iter().rev() {
                        tr {
                            td { (crate::timefmt::local(&e.at)) }
                            td { (unit_name(units, &e.unit, lang)) }
                            td { code { (e.kind) } }
                            td { (if e.present { lang.pick("记录", "recorded") } else { lang.pick("撤销", "withdrawn") }) }
                            td { (e.note) }
                            td { (e.actor) }
                            td { (e.reason) }
                        }
                    }
                }
            }
        }
    };
    page_of(lang, &title, &path, body)
}
