//! Evaluators' pages, the unit feedback report (反馈报告) and the public results (公示).
//! Every chart has its table beside it; suppressed cells say so instead of showing a number.

use std::collections::BTreeMap;

use maud::{html, Markup};
use pingyi_analysis::estimate::contrast::Comparison;
use pingyi_analysis::scoring::framework::fmt_num;

use super::charts::{bar_chart, progress, sparkline, Bar};
use super::{layout, with_lang};
use crate::analytics::{Loaded, ScoreRow};
use crate::auth::CurrentUser;
use crate::i18n::Lang;
use crate::scoring::{target, Change, Grades, TrendRow, MIN_CELL};
use crate::store::{
    BatchFlagCount, BatchRow, DrawRecord, Evaluation, InvitationCounts, Link, ResponseCount, Unit,
};

/// Extra CSS of these pages: chart + table side by side on screen, stacked on paper.
const CSS: &str = "\
.fig{display:flex;flex-wrap:wrap;gap:1rem;align-items:flex-start}\
.fig svg{max-width:100%;height:auto;background:#fff}\
.fig table{flex:1;min-width:260px;font-size:.9rem}\
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}\
.sup{color:#888;font-style:italic}\
.sig{color:#8b1a1a;font-weight:700}\
nav.crumbs{font-size:.9rem;margin:.5rem 0}\
.suggestion{margin:.2rem 0;padding:.2rem .5rem;border-left:3px solid #e5c0c0}\
.grade{display:inline-block;border-radius:4px;padding:0 .4rem;background:#e3ecf8;color:#1d4b8b;font-weight:600}\
.big{font-size:1.6rem;font-weight:700}\
td.ind1{padding-left:1.4rem}td.ind2{padding-left:2.6rem}td.ind3{padding-left:3.8rem}\
.warn{color:#8a5a00}.wide{overflow-x:auto}\
@media print{.fig{display:block}.fig svg{width:100%;height:auto}.fig table{width:100%}}";

fn page(lang: Lang, title: &str, path: &str, body: Markup) -> Markup {
    layout(
        lang,
        title,
        &with_lang(path, lang.other()),
        html! { style { (CSS) } (body) },
    )
}

fn f1(x: Option<f64>) -> String {
    x.map(|v| format!("{v:.1}")).unwrap_or_else(|| "—".into())
}

fn pct(x: Option<f64>) -> String {
    x.map(|v| format!("{:.1}%", v * 100.0))
        .unwrap_or_else(|| "—".into())
}

fn sup_label(lang: Lang) -> &'static str {
    lang.pick("样本不足，不予显示", "suppressed (too few answers)")
}

fn unit_name(units: &[Unit], code: &str, lang: Lang) -> String {
    units
        .iter()
        .find(|u| u.code == code)
        .map(|u| lang.pick(&u.name_zh, &u.name_en).to_owned())
        .unwrap_or_else(|| code.to_owned())
}

fn rtype_name(code: &str, lang: Lang) -> String {
    code.parse::<crate::questionnaire::RespondentType>()
        .map(|r| lang.pick(r.label_zh(), r.label_en()).to_owned())
        .unwrap_or_else(|_| code.to_owned())
}

fn dim_name(l: &Loaded, code: &str, lang: Lang) -> String {
    match l.dimension_names.get(code) {
        Some((zh, en)) => lang.pick(zh, en).to_owned(),
        None if code == "other" => lang.pick("其他", "Other").to_owned(),
        None => code.to_owned(),
    }
}

fn title_of(ev: &Evaluation, lang: Lang) -> String {
    lang.pick(&ev.title_zh, &ev.title_en).to_owned()
}

fn bar(label: String, r: Option<&ScoreRow>) -> Bar {
    match r {
        Some(r) if !r.suppressed => Bar {
            label,
            estimate: r.index.estimate,
            ci_low: r.index.ci_low,
            ci_high: r.index.ci_high,
            suppressed: false,
            note: None,
        },
        _ => Bar {
            label,
            estimate: None,
            ci_low: None,
            ci_high: None,
            suppressed: true,
            note: None,
        },
    }
}

/// Table of index, interval, rate and n; suppressed rows say so and show no numbers.
fn score_table(lang: Lang, head: &str, rows: &[(String, Option<&ScoreRow>)]) -> Markup {
    html! {
        table {
            thead { tr {
                th { (head) }
                th.num { (lang.pick("满意度指数", "Index")) }
                th.num { (lang.pick("95% 置信区间", "95% CI")) }
                th.num { (lang.pick("满意率", "Rate")) }
                th.num { "n" }
            } }
            tbody {
                @for (label, r) in rows {
                    tr {
                        td { (label) }
                        @match r {
                            Some(r) if !r.suppressed => {
                                td.num { (f1(r.index.estimate)) }
                                td.num { (f1(r.index.ci_low)) "–" (f1(r.index.ci_high)) }
                                td.num { (pct(r.rate.estimate)) }
                                td.num { (r.n) }
                            }
                            _ => { td.sup colspan="4" { (sup_label(lang)) } }
                        }
                    }
                }
            }
        }
    }
}

fn figure(lang: Lang, title: &str, head: &str, rows: &[(String, Option<&ScoreRow>)]) -> Markup {
    let bars: Vec<Bar> = rows.iter().map(|(l, r)| bar(l.clone(), *r)).collect();
    html! {
        div.fig {
            (bar_chart(title, &bars, 0.0, 100.0, sup_label(lang)))
            (score_table(lang, head, rows))
        }
    }
}

fn change_cell(lang: Lang, c: &Option<Comparison>) -> Markup {
    html! {
        @match c {
            Some(c) => {
                td.num { (format!("{:+.1}", c.difference)) }
                td.num { (format!("{:.3}", c.p_value)) }
                td { @if c.significant { span.sig { (lang.pick("显著 *", "significant *")) } } @else { (lang.pick("不显著", "not significant")) } }
            }
            None => { td.sup colspan="3" { (lang.pick("无可比数据", "no comparable data")) } }
        }
    }
}

fn crumbs(lang: Lang, ev: Option<&Evaluation>) -> Markup {
    html! {
        nav.crumbs.noprint {
            a href=(with_lang("/admin", lang)) { (lang.pick("评估列表", "Evaluations")) }
            @if let Some(ev) = ev {
                " › "
                a href=(with_lang(&format!("/admin/evaluations/{}", ev.id), lang)) { (title_of(ev, lang)) }
            }
        }
    }
}

fn who(lang: Lang, user: &CurrentUser) -> Markup {
    html! {
        (super::account_bar(lang, user))
    }
}

pub fn admin_home(lang: Lang, user: &CurrentUser, evs: &[Evaluation]) -> Markup {
    page(
        lang,
        lang.pick("评估列表", "Evaluations"),
        "/admin",
        html! {
            (who(lang, user))
            (super::setup::admin_nav(lang, user, Some(super::setup::Section::Evaluations)))
            h1 { (lang.pick("评估列表", "Evaluations")) }
            div.card { table {
                thead { tr {
                    th { (lang.pick("评估", "Evaluation")) }
                    th { (lang.pick("年度", "Year")) }
                    th { (lang.pick("状态", "Status")) }
                    th { (lang.pick("链接", "Links")) }
                } }
                tbody { @for e in evs { tr {
                    td { a href=(with_lang(&format!("/admin/evaluations/{}", e.id), lang)) { (title_of(e, lang)) } }
                    td { (e.year) @if !e.wave.is_empty() { " " (e.wave) } }
                    td { span class={ "badge " (e.status.as_str()) } { (lang.pick(e.status.label_zh(), e.status.label_en())) } }
                    td {
                        a href=(with_lang(&format!("/admin/evaluations/{}/results", e.id), lang)) { (lang.pick("结果", "Results")) }
                        " · " a href=(with_lang(&format!("/admin/evaluations/{}/setup", e.id), lang)) { (lang.pick("设置", "Set-up")) }
                        @if e.status.as_str() == "published" {
                            " · " a href=(with_lang(&format!("/public/evaluations/{}", e.id), lang)) { (lang.pick("公示", "Public")) }
                        }
                    }
                } } }
            } }
        },
    )
}

pub struct OverviewData<'a> {
    pub ev: &'a Evaluation,
    pub units: &'a [Unit],
    pub counts: &'a [ResponseCount],
    pub links: &'a [Link],
    pub batches: &'a [BatchRow],
    pub flags: &'a [BatchFlagCount],
    /// per batch: (warning kind, rows) from its receipt
    pub warnings: &'a [(i64, Vec<(String, u64)>)],
    /// (tokens issued, tokens used)
    pub tokens: (i64, i64),
    /// draws (newest first) with their invitations' totals
    pub invitations: &'a [(DrawRecord, InvitationCounts)],
    /// the rectification loop's counts per unit
    pub findings: &'a [crate::findings::UnitCounts],
    /// progress against the plan's targets (no cells without a plan)
    pub progress: &'a crate::evaluations::Progress,
}

fn warning_label(kind: &str, lang: Lang) -> &'static str {
    match kind {
        "speeders" => lang.pick("答题过快", "speeders"),
        "straight_lining" => lang.pick("连续同一选项", "straight-lining"),
        "duplicates_within_file" => lang.pick("文件内重复", "duplicates in the file"),
        "duplicates_of_other_batches" => lang.pick("与其他批次重复", "duplicates of other batches"),
        "outside_wave" => lang.pick("不在调查期内", "outside the wave"),
        _ => lang.pick("其他", "other"),
    }
}

/// Draws and their invitations: how many were drawn, how the messages stand, and how many
/// answered, as totals only (who answered is never shown, by design).
fn invitations_card(lang: Lang, units: &[Unit], rows: &[(DrawRecord, InvitationCounts)]) -> Markup {
    let mut total = InvitationCounts::default();
    for (_, c) in rows {
        total.email += c.email;
        total.paper += c.paper;
        total.queued += c.queued + c.sending;
        total.sent += c.sent;
        total.failed += c.failed + c.unknown;
        total.bounced += c.bounced;
        total.answered += c.answered;
        total.not_answered += c.not_answered;
    }
    let line = |c: &InvitationCounts| {
        html! {
            td.num { (c.email) } td.num { (c.paper) }
            td.num { (c.queued + c.sending) } td.num { (c.sent) }
            td.num { (c.failed + c.unknown) } td.num { (c.bounced) }
            td.num { (c.answered) } td.num { (c.not_answered) }
        }
    };
    html! {
        div.card #invitations {
            h2 { (lang.pick("抽样与邀请", "Draws and invitations")) }
            p.muted { (lang.pick(
                "邀请码与答卷互不关联：只显示已答/未答的合计，不显示谁已作答。",
                "Tokens are never linked to answers: only totals of answered / not answered are shown, never who answered.")) }
            @if rows.is_empty() { p.muted { (lang.pick("暂无抽样。", "No draws yet.")) } }
            @else { div.wide { table {
                thead { tr {
                    th { (lang.pick("抽样", "Draw")) }
                    th.num { (lang.pick("总体", "Population")) } th.num { (lang.pick("抽中", "Drawn")) }
                    th.num { (lang.pick("邮件", "E-mail")) } th.num { (lang.pick("纸质", "Paper")) }
                    th.num { (lang.pick("待发送", "Queued")) } th.num { (lang.pick("已发送", "Sent")) }
                    th.num { (lang.pick("发送失败", "Failed")) } th.num { (lang.pick("退信", "Bounced")) }
                    th.num { (lang.pick("已作答", "Answered")) } th.num { (lang.pick("未作答", "Not answered")) }
                } }
                tbody {
                    @for (d, c) in rows { tr {
                        td {
                            (d.title)
                            small.muted {
                                " · " (d.drawn_on)
                                @if let Some(t) = &d.respondent_type { " · " (rtype_name(t, lang)) }
                                @if let Some(u) = d.unit_id.and_then(|id| units.iter().find(|u| u.id == id)) {
                                    " · " (lang.pick(&u.name_zh, &u.name_en))
                                }
                            }
                        }
                        td.num { (d.population) } td.num { (d.n_drawn) }
                        (line(c))
                    } }
                    @if rows.len() > 1 { tr {
                        td { strong { (lang.pick("合计", "Total")) } }
                        td.num { (rows.iter().map(|r| r.0.population).sum::<i64>()) }
                        td.num { (rows.iter().map(|r| r.0.n_drawn).sum::<i64>()) }
                        (line(&total))
                    } }
                }
            } } }
        }
    }
}

pub fn overview(lang: Lang, user: &CurrentUser, d: &OverviewData) -> Markup {
    let ev = d.ev;
    let mut types: Vec<&str> = d
        .counts
        .iter()
        .map(|c| c.respondent_type.as_str())
        .collect();
    for l in d.links {
        types.push(l.questionnaire_id.as_str());
    }
    let mut types: Vec<String> = crate::questionnaire::RespondentType::ALL
        .iter()
        .map(|r| r.as_str())
        .filter(|r| types.contains(r))
        .map(str::to_owned)
        .collect();
    if types.is_empty() {
        types = crate::questionnaire::RespondentType::ALL
            .iter()
            .map(|r| r.as_str().to_owned())
            .collect();
    }
    let count = |unit: i64, t: &str| {
        d.counts
            .iter()
            .find(|c| c.unit_id == unit && c.respondent_type == t)
            .map_or(0, |c| c.n)
    };
    let total: i64 = d.counts.iter().map(|c| c.n).sum();
    let path = format!("/admin/evaluations/{}", ev.id);
    page(
        lang,
        &title_of(ev, lang),
        &path,
        html! {
            (who(lang, user))
            (crumbs(lang, None))
            h1 { (title_of(ev, lang)) }
            p {
                span class={ "badge " (ev.status.as_str()) } { (lang.pick(ev.status.label_zh(), ev.status.label_en())) }
                " " (lang.pick("有效答卷", "Responses")) " " strong { (total) }
                " · " (lang.pick("数据版本", "data version")) " " (ev.data_version)
                " · " (lang.pick("邀请码已用/已发", "tokens used/issued")) " " (d.tokens.1) "/" (d.tokens.0)
            }
            p.noprint {
                a.button href=(with_lang(&format!("{path}/results"), lang)) { (lang.pick("查看结果", "Results")) }
                " "
                a.button href=(with_lang(&format!("{path}/setup"), lang)) { (lang.pick("设置、计划与状态", "Set-up, plan and status")) }
                " "
                a href={ "/api/v1/evaluations/" (ev.id) "/responses.csv" } { (lang.pick("导出答卷 (CSV)", "Export responses (CSV)")) }
                @for ext in ["xlsx", "parquet", "json"] {
                    " · " a href={ "/api/v1/evaluations/" (ev.id) "/responses." (ext) } { (ext.to_uppercase()) }
                }
                " · " (lang.pick("满意度表", "Satisfaction table"))
                @for ext in ["csv", "xlsx", "parquet", "json"] {
                    " " a href={ "/api/v1/evaluations/" (ev.id) "/satisfaction." (ext) "?by=unit,respondent_type,dimension" } { (ext.to_uppercase()) }
                }
            }
            @if !d.progress.cells.is_empty() { (super::setup::progress::card(lang, d.progress, true)) }
            @else { div.card {
                h2 { (lang.pick("各单位回收进度", "Responses per unit and respondent type")) }
                p.muted { (lang.pick("目标：每类对象的最低有效样本量。", "Target: the minimum useful responses for each respondent type.")) }
                table {
                    thead { tr {
                        th { (lang.pick("单位", "Unit")) }
                        @for t in &types { th { (rtype_name(t, lang)) } }
                        th.noprint { (lang.pick("报告", "Report")) }
                    } }
                    tbody { @for u in d.units { tr {
                        td { (lang.pick(&u.name_zh, &u.name_en)) }
                        @for t in &types { td { (progress(count(u.id, t), target(t))) } }
                        td.noprint { a href=(with_lang(&format!("{path}/units/{}/report", u.code), lang)) { (lang.pick("反馈报告", "Report")) } }
                    } } }
                }
            } }
            div.card {
                h2 { (lang.pick("公开链接", "Public links")) }
                @if d.links.is_empty() { p.muted { (lang.pick("暂无链接。", "No links yet.")) } }
                @else { table {
                    thead { tr { th { (lang.pick("单位", "Unit")) } th { (lang.pick("问卷", "Questionnaire")) } th { (lang.pick("状态", "Status")) } th { (lang.pick("链接", "Link")) } } }
                    tbody { @for l in d.links { tr {
                        td { (d.units.iter().find(|u| u.id == l.unit_id).map(|u| lang.pick(&u.name_zh, &u.name_en).to_owned()).unwrap_or_default()) }
                        td { (l.questionnaire_id) " v" (l.questionnaire_version) }
                        td { (l.status) }
                        td { a href={ "/s/" (l.code) } { "/s/" (l.code) } " · " a href={ "/s/" (l.code) "/qr.svg" } { (lang.pick("二维码", "QR code")) } }
                    } } }
                } }
            }
            div.card {
                h2 { (lang.pick("上传批次", "Upload batches")) }
                @if d.batches.is_empty() { p.muted { (lang.pick("暂无上传。", "No uploads yet.")) } }
                @else { table {
                    thead { tr {
                        th { (lang.pick("文件", "File")) } th { (lang.pick("方式", "Method")) }
                        th.num { (lang.pick("行数", "Rows")) } th { (lang.pick("质量警告", "Warnings")) }
                        th { (lang.pick("状态", "Status")) } th { (lang.pick("上传时间", "Uploaded")) }
                    } }
                    tbody { @for b in d.batches { tr {
                        td { (b.file_name) }
                        td { (b.method) }
                        td.num { (b.rows) }
                        td {
                            @let flagged = d.flags.iter().find(|f| f.batch_id == b.id).map_or(0, |f| f.flagged);
                            @let kinds = d.warnings.iter().find(|w| w.0 == b.id).map(|w| w.1.as_slice()).unwrap_or(&[]);
                            @if flagged == 0 && kinds.is_empty() { span.muted { (lang.pick("无", "none")) } }
                            @else {
                                span.warn { (flagged) (lang.pick(" 行有警告", " rows flagged")) }
                                @for (k, n) in kinds { br; small { (warning_label(k, lang)) " " (n) } }
                            }
                        }
                        td { @if b.status == "withdrawn" { span.sup { (lang.pick("已撤回", "withdrawn")) } } @else { (lang.pick("有效", "active")) } }
                        td { (b.uploaded_at) }
                    } } }
                } }
            }
            (invitations_card(lang, d.units, d.invitations))
            (crate::views::findings::overview_counts(lang, d.findings, &with_lang(&format!("{path}/findings"), lang)))
        },
    )
}

pub struct ResultsData<'a> {
    pub ev: &'a Evaluation,
    pub grades: &'a Grades,
    pub units: &'a [Unit],
    pub loaded: &'a Loaded,
    pub by_unit: &'a [ScoreRow],
    pub by_type: &'a [ScoreRow],
    pub by_dim: &'a [ScoreRow],
    pub by_type_dim: &'a [ScoreRow],
    pub trends: &'a [TrendRow],
}

/// Units ordered by index (suppressed last), with rank numbers for the reportable ones.
fn ranking<'a>(
    units: &'a [Unit],
    rows: &'a [ScoreRow],
) -> Vec<(Option<usize>, &'a Unit, Option<&'a ScoreRow>)> {
    let mut v: Vec<(&Unit, Option<&ScoreRow>)> = units
        .iter()
        .map(|u| {
            (
                u,
                crate::analytics::find(rows, &[u.code.as_str()], "overall"),
            )
        })
        .collect();
    let key = |r: &Option<&ScoreRow>| {
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
fn grades_note(lang: Lang, ev: &Evaluation, g: &Grades, evaluator: bool) -> Markup {
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

fn grade_cell(lang: Lang, g: &Grades, code: &str) -> Markup {
    html! {
        @match g.grade_of(code, lang) {
            Some(name) => td { span.grade { (name) } },
            None => td.muted { "—" },
        }
    }
}

/// The unit ranking: satisfaction index with 95% whiskers (chart) and, beside it, the table
/// with the composite score, its rank and the grade.
fn ranking_card(
    lang: Lang,
    ev: &Evaluation,
    ranked: &[(Option<usize>, &Unit, Option<&ScoreRow>)],
    g: &Grades,
) -> Markup {
    let bars: Vec<Bar> = ranked
        .iter()
        .map(|(rank, u, r)| Bar {
            note: g.grade_of(&u.code, lang),
            ..bar(
                format!(
                    "{} {}",
                    rank.map(|k| format!("{k}.")).unwrap_or_default(),
                    lang.pick(&u.name_zh, &u.name_en)
                ),
                *r,
            )
        })
        .collect();
    let max = match g {
        Grades::Scored { outcome, .. } => Some(outcome.max_total),
        _ => None,
    };
    html! {
        div.card #ranking {
            h2 { (lang.pick("单位排名与等次", "Unit ranking and grades")) }
            (grades_note(lang, ev, g, true))
            div.fig {
                (bar_chart(lang.pick("单位排名（总体满意度指数）", "Unit ranking (overall satisfaction index)"), &bars, 0.0, 100.0, sup_label(lang)))
                table {
                    thead { tr {
                        th.num { (lang.pick("名次", "Rank")) }
                        th { (lang.pick("单位", "Unit")) }
                        th.num { (lang.pick("满意度指数", "Index")) }
                        th.num { (lang.pick("95% 置信区间", "95% CI")) }
                        th.num { (lang.pick("满意率", "Rate")) }
                        th.num { "n" }
                        th.num { (lang.pick("综合得分", "Composite")) }
                        th.num { (lang.pick("综合名次", "Composite rank")) }
                        th { (lang.pick("等次", "Grade")) }
                    } }
                    tbody { @for (rank, u, r) in ranked { tr {
                        td.num { (rank.map(|k| k.to_string()).unwrap_or_default()) }
                        td { (lang.pick(&u.name_zh, &u.name_en)) }
                        @match r {
                            Some(r) if !r.suppressed => {
                                td.num { (f1(r.index.estimate)) }
                                td.num { (f1(r.index.ci_low)) "–" (f1(r.index.ci_high)) }
                                td.num { (pct(r.rate.estimate)) }
                                td.num { (r.n) }
                            }
                            _ => { td.sup colspan="4" { (sup_label(lang)) } }
                        }
                        @match g.unit(&u.code) {
                            Some(c) => {
                                td.num { (f1(Some(c.total))) @if let Some(m) = max { small.muted { " / " (fmt_num(m)) } } }
                                td.num { (c.rank) }
                            }
                            None => { td.num.muted { "—" } td.num.muted { "—" } }
                        }
                        (grade_cell(lang, g, &u.code))
                    } } }
                }
            }
        }
    }
}

pub fn results(lang: Lang, user: &CurrentUser, d: &ResultsData) -> Markup {
    let ev = d.ev;
    let path = format!("/admin/evaluations/{}/results", ev.id);
    let ranked = ranking(d.units, d.by_unit);
    let mut types: Vec<&str> = d.by_type.iter().map(|r| r.keys[0].as_str()).collect();
    types.dedup();
    let type_rows: Vec<(String, Option<&ScoreRow>)> = types
        .iter()
        .map(|t| {
            (
                rtype_name(t, lang),
                crate::analytics::find(d.by_type, &[t], "overall"),
            )
        })
        .collect();
    let dim_rows: Vec<(String, Option<&ScoreRow>)> = d
        .loaded
        .dimensions
        .iter()
        .map(|c| {
            (
                dim_name(d.loaded, c, lang),
                d.by_dim.iter().find(|r| &r.item == c),
            )
        })
        .collect();
    let years: Vec<i64> = d
        .trends
        .first()
        .map(|t| t.points.iter().map(|p| p.0).collect())
        .unwrap_or_default();
    page(
        lang,
        &format!("{} · {}", title_of(ev, lang), lang.pick("结果", "Results")),
        &path,
        html! {
            (who(lang, user))
            (crumbs(lang, Some(ev)))
            h1 { (title_of(ev, lang)) " · " (lang.pick("评议结果", "Results")) }
            p.muted {
                (lang.pick("有效答卷", "Responses")) " " (d.loaded.rows) " · "
                (lang.pick("满意度指数 0–100（加权），区间为 95% 置信区间；样本少于 ", "Satisfaction index 0–100 (weighted), intervals are 95% confidence intervals; cells with fewer than "))
                (MIN_CELL) (lang.pick(" 份的单元格不予显示。", " answers are suppressed."))
            }
            (ranking_card(lang, ev, &ranked, d.grades))
            div.card {
                h2 { (lang.pick("各类评议对象的满意度", "Satisfaction by respondent type")) }
                (figure(lang, lang.pick("各类评议对象", "By respondent type"), lang.pick("评议对象", "Respondent type"), &type_rows))
            }
            div.card {
                h2 { (lang.pick("各维度满意度", "Satisfaction by dimension")) }
                (figure(lang, lang.pick("各维度", "By dimension"), lang.pick("维度", "Dimension"), &dim_rows))
                h3 { (lang.pick("维度 × 评议对象", "Dimension × respondent type")) }
                table {
                    thead { tr { th { (lang.pick("维度", "Dimension")) } @for t in &types { th.num { (rtype_name(t, lang)) } } } }
                    tbody { @for c in &d.loaded.dimensions { tr {
                        td { (dim_name(d.loaded, c, lang)) }
                        @for t in &types {
                            @match crate::analytics::find(d.by_type_dim, &[t], c) {
                                Some(r) if !r.suppressed => td.num { (f1(r.index.estimate)) },
                                Some(_) => td.num.sup { "—" },
                                None => td.num { "" },
                            }
                        }
                    } } }
                }
            }
            div.card {
                h2 { (lang.pick("历年变化", "Year-over-year trend")) }
                p.muted { (lang.pick("与上一年度比较（独立样本 t 检验，α = 0.05）；* 表示差异显著，实心点表示较上年显著变化。", "Against the year before (independent samples, α = 0.05); * marks a significant change, a filled point a significant change from the year before.")) }
                table {
                    thead { tr {
                        th { (lang.pick("单位", "Unit")) }
                        @for y in &years { th.num { (y) } }
                        th { (lang.pick("趋势", "Trend")) }
                        th.num { (lang.pick("变化", "Change")) }
                        th.num { "p" }
                        th { (lang.pick("显著性", "Significance")) }
                    } }
                    tbody { @for t in d.trends { tr {
                        td { (unit_name(d.units, &t.unit, lang)) }
                        @for (i, p) in t.points.iter().enumerate() {
                            td.num { (f1(p.1)) @if t.significant.get(i).copied().unwrap_or(false) { span.sig { "*" } } }
                        }
                        td { (sparkline(&format!("{} {}", unit_name(d.units, &t.unit, lang), lang.pick("趋势", "trend")),
                            &t.points.iter().enumerate().filter_map(|(i, p)| p.1.map(|v| (p.0.to_string(), v, t.significant.get(i).copied().unwrap_or(false)))).collect::<Vec<_>>())) }
                        (change_cell(lang, &t.change))
                    } } }
                }
            }
        },
    )
}

pub struct ReportData<'a> {
    pub ev: &'a Evaluation,
    pub grades: &'a Grades,
    pub unit: &'a Unit,
    pub prev: Option<&'a Evaluation>,
    pub loaded: &'a Loaded,
    pub overall: Option<&'a ScoreRow>,
    pub by_type: &'a [ScoreRow],
    pub by_dim: &'a [ScoreRow],
    pub by_item: &'a [ScoreRow],
    /// (respondent type or "" for the unit, last year's index, this year's, comparison)
    pub changes: &'a [Change],
    /// the unit's findings (assigned and after) with their state
    pub findings: &'a [crate::findings::FindingView],
}

pub fn unit_report(lang: Lang, user: &CurrentUser, d: &ReportData) -> Markup {
    let ev = d.ev;
    let u = d.unit.code.as_str();
    let l = d.loaded;
    let path = format!("/admin/evaluations/{}/units/{}/report", ev.id, u);
    let name = lang.pick(&d.unit.name_zh, &d.unit.name_en).to_owned();
    let mine: Vec<&ScoreRow> = d.by_type.iter().filter(|r| r.keys[0] == u).collect();
    let types: Vec<String> = mine.iter().map(|r| r.keys[1].clone()).collect();
    let type_rows: Vec<(String, Option<&ScoreRow>)> = mine
        .iter()
        .map(|r| (rtype_name(&r.keys[1], lang), Some(*r)))
        .collect();
    // strengths and weaknesses: reportable items ranked by index
    let mut items: Vec<&ScoreRow> = d
        .by_item
        .iter()
        .filter(|r| r.keys[0] == u && !r.suppressed && r.index.estimate.is_some())
        .collect();
    items.sort_by(|a, b| {
        b.index
            .estimate
            .unwrap_or(0.0)
            .total_cmp(&a.index.estimate.unwrap_or(0.0))
    });
    let k = 5.min(items.len() / 2);
    let strengths = &items[..k];
    let weaknesses: Vec<&ScoreRow> = items.iter().rev().take(k).copied().collect();
    let item_label = |r: &ScoreRow| -> String {
        match l.item_text.get(&(r.keys[1].clone(), r.item.clone())) {
            Some((zh, en, _)) => lang.pick(zh, en).to_owned(),
            None => r.item.clone(),
        }
    };
    // suggestions grouped by dimension
    let mut groups: BTreeMap<String, Vec<&crate::analytics::Suggestion>> = BTreeMap::new();
    for s in l.suggestions.iter().filter(|s| s.unit == u) {
        groups.entry(s.dimension.clone()).or_default().push(s);
    }
    let mut groups: Vec<(String, Vec<&crate::analytics::Suggestion>)> =
        groups.into_iter().collect();
    groups.sort_by_key(|g| std::cmp::Reverse(g.1.len()));
    let signed_in_unit = user.role == crate::auth::Role::Unit;
    page(
        lang,
        &format!("{name} · {}", lang.pick("反馈报告", "Feedback report")),
        &path,
        html! {
            (who(lang, user))
            @if !signed_in_unit { (crumbs(lang, Some(ev))) }
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
                                None => td.num { "" },
                            }
                        }
                    } } }
                }
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
                            tbody { @for (t, before, now, c) in d.changes { tr {
                                td { @if t.is_empty() { strong { (lang.pick("总体", "Overall")) } } @else { (rtype_name(t, lang)) } }
                                td.num { (f1(*before)) } td.num { (f1(*now)) }
                                (change_cell(lang, c))
                            } } }
                        }
                    }
                }
            }
            div.card {
                h2 { (lang.pick("意见建议", "Suggestions")) }
                p.muted { (lang.pick("已去除电话、身份证号、电子邮箱等个人信息；按维度归类。", "Phone numbers, ID numbers and e-mail addresses were removed; grouped by dimension.")) }
                @if groups.is_empty() { p.muted { (lang.pick("暂无意见建议。", "No suggestions.")) } }
                @for (dim, list) in &groups {
                    h3 { (dim_name(l, dim, lang)) " (" (list.len()) ")" }
                    @for s in list.iter().take(100) {
                        p.suggestion { (s.text) " " small.muted { "— " (rtype_name(&s.respondent_type, lang)) } }
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
                    div.wide { table {
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

fn item_table(lang: Lang, rows: &[&ScoreRow], label: &dyn Fn(&ScoreRow) -> String) -> Markup {
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

pub struct PublicData<'a> {
    pub ev: &'a Evaluation,
    pub units: &'a [Unit],
    /// overall index per unit
    pub rows: &'a [ScoreRow],
    /// overall index of the whole evaluation
    pub overall: Option<&'a ScoreRow>,
    pub grades: &'a Grades,
    /// the rectification status per unit, once published: (published since, counts)
    pub findings: Option<(&'a str, &'a [crate::findings::UnitCounts])>,
}

/// 公示: the ranking by satisfaction index with intervals, each unit's grade and the overall
/// satisfaction; no counts, no per-type or per-item cells, nothing below the threshold.
pub fn public_results(lang: Lang, d: &PublicData) -> Markup {
    let (ev, g) = (d.ev, d.grades);
    let ranked = ranking(d.units, d.rows);
    let bars: Vec<Bar> = ranked
        .iter()
        .map(|(_, u, r)| Bar {
            note: g.grade_of(&u.code, lang),
            ..bar(lang.pick(&u.name_zh, &u.name_en).to_owned(), *r)
        })
        .collect();
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
            p.muted { (lang.pick("总体满意度指数（0–100）及 95% 置信区间。样本不足的单位不予公布数值。", "Overall satisfaction index (0–100) with 95% confidence intervals. Units with too few answers are not given a number.")) }
            (grades_note(lang, ev, g, false))
            div.card #ranking { div.fig {
                (bar_chart(lang.pick("单位排名", "Unit ranking"), &bars, 0.0, 100.0, sup_label(lang)))
                table {
                    thead { tr {
                        th.num { (lang.pick("名次", "Rank")) } th { (lang.pick("单位", "Unit")) }
                        th.num { (lang.pick("满意度指数", "Index")) } th.num { (lang.pick("95% 置信区间", "95% CI")) } th.num { (lang.pick("满意率", "Rate")) }
                        th { (lang.pick("等次", "Grade")) }
                    } }
                    tbody { @for (rank, u, r) in &ranked { tr {
                        td.num { (rank.map(|k| k.to_string()).unwrap_or_default()) }
                        td { (lang.pick(&u.name_zh, &u.name_en)) }
                        @match r {
                            Some(r) if !r.suppressed => {
                                td.num { (f1(r.index.estimate)) }
                                td.num { (f1(r.index.ci_low)) "–" (f1(r.index.ci_high)) }
                                td.num { (pct(r.rate.estimate)) }
                            }
                            _ => { td.sup colspan="3" { (sup_label(lang)) } }
                        }
                        (grade_cell(lang, g, &u.code))
                    } } }
                }
            } }
            @if let Some((since, counts)) = d.findings {
                (crate::views::findings::public_counts(lang, counts, since))
            }
        },
    )
}
