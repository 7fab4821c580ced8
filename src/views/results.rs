//! Evaluators' pages, the unit feedback report (反馈报告) and the public results (公示).
//! Every chart has its table beside it; suppressed cells say so instead of showing a number.

use maud::{html, Markup};
use pingyi_analysis::estimate::contrast::Comparison;

use super::charts::{dot_plot, progress, sparkline, Bar};
pub use super::public::{public_results, PublicData};
use super::ranking::{framework_card, ranking, satisfaction_card};
pub use super::report::{unit_report, ReportData};
use super::{layout, with_lang};
use crate::analytics::{ComparedItems, Loaded, NamedItem, SatisfactionRow};
use crate::auth::CurrentUser;
use crate::i18n::Lang;
use crate::scoring::{target, Grades, TrendRow, MIN_CELL};
use crate::store::{
    BatchFlagCount, BatchRow, DrawRecord, Evaluation, InvitationCounts, Link, ResponseCount, Unit,
};

/// Extra CSS of these pages: charts above their tables, tables full width.
pub(super) const CSS: &str = "\
.fig{display:block}\
.fig table{width:100%}\
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}\
.sup{color:#595959;font-style:italic}\
.sig{color:#8b1a1a;font-weight:700}\
nav.crumbs{font-size:.9rem;margin:.5rem 0}\
.suggestion{margin:.2rem 0;padding:.2rem .5rem;border-left:3px solid #e5c0c0}\
.grade{display:inline-block;border-radius:4px;padding:0 .4rem;background:#e3ecf8;color:#1d4b8b;font-weight:600}\
.big{font-size:1.6rem;font-weight:700}\
td.ind1{padding-left:1.4rem}td.ind2{padding-left:2.6rem}td.ind3{padding-left:3.8rem}\
.warn{color:#7a4f00}.wide{overflow-x:auto}\
h1,h2,h3{overflow-wrap:break-word}\
.legend{font-size:.9rem;color:#444}\
table.stack th:first-child{width:8em}\
@media (max-width:560px){table.stack thead{position:absolute;left:-10000px;width:1px;height:1px;overflow:hidden}\
table.stack tr{display:grid;grid-template-columns:auto 1fr;column-gap:.75rem;border-bottom:1px solid #ddd;padding:.35rem 0}\
table.stack td{display:flex;justify-content:space-between;gap:.5rem;border:0;padding:.1rem .2rem;text-align:right;grid-column:1/3}\
table.stack td.name{font-weight:700;text-align:left;grid-column:2/3;grid-row:1}\
table.stack td:first-child{grid-column:1/2;grid-row:1;font-weight:700}table.stack td:first-child::before{content:none}\
table.stack td::before{content:attr(data-label);font-weight:400;color:#444;text-align:left}\
table.stack td.sup{justify-content:flex-start}}";

pub(super) fn page(lang: Lang, title: &str, path: &str, body: Markup) -> Markup {
    layout(
        lang,
        title,
        &with_lang(path, lang.other()),
        html! { style { (CSS) (super::charts::CSS) } (body) },
    )
}

pub(super) fn f1(x: Option<f64>) -> String {
    x.map(|v| format!("{v:.1}")).unwrap_or_else(|| "—".into())
}

pub(super) fn pct(x: Option<f64>) -> String {
    x.map(|v| format!("{:.1}%", v * 100.0))
        .unwrap_or_else(|| "—".into())
}

pub(super) fn sup_label(lang: Lang) -> &'static str {
    lang.pick("样本不足，不予显示", "suppressed (too few answers)")
}

pub(super) fn unit_name(units: &[Unit], code: &str, lang: Lang) -> String {
    units
        .iter()
        .find(|u| u.code == code)
        .map(|u| lang.pick(&u.name_zh, &u.name_en).to_owned())
        .unwrap_or_else(|| code.to_owned())
}

pub(super) fn rtype_name(code: &str, lang: Lang) -> String {
    code.parse::<crate::questionnaire::RespondentType>()
        .map(|r| lang.pick(r.label_zh(), r.label_en()).to_owned())
        .unwrap_or_else(|_| code.to_owned())
}

pub(super) fn dim_name(l: &Loaded, code: &str, lang: Lang) -> String {
    match l.dimension_names.get(code) {
        Some((zh, en)) => lang.pick(zh, en).to_owned(),
        None if code == "other" => lang.pick("其他", "Other").to_owned(),
        None => code.to_owned(),
    }
}

pub(super) fn title_of(ev: &Evaluation, lang: Lang) -> String {
    lang.pick(&ev.title_zh, &ev.title_en).to_owned()
}

pub(super) fn bar(label: String, r: Option<&SatisfactionRow>) -> Bar {
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
pub(super) fn score_table(
    lang: Lang,
    head: &str,
    rows: &[(String, Option<&SatisfactionRow>)],
) -> Markup {
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

pub(super) fn figure(
    lang: Lang,
    title: &str,
    head: &str,
    rows: &[(String, Option<&SatisfactionRow>)],
) -> Markup {
    let bars: Vec<Bar> = rows.iter().map(|(l, r)| bar(l.clone(), *r)).collect();
    html! {
        div.fig {
            (dot_plot(lang, title, &bars, sup_label(lang)))
            (score_table(lang, head, rows))
        }
    }
}

/// A p-value to three decimals; below 0.001 as "<0.001" (never "0.000").
pub(crate) fn fmt_p(p: f64) -> String {
    if p < 0.001 {
        "<0.001".into()
    } else {
        format!("{p:.3}")
    }
}

pub(super) fn change_cell(lang: Lang, c: &Option<Comparison>) -> Markup {
    html! {
        @match c {
            Some(c) => {
                td.num { (format!("{:+.1}", c.difference)) }
                td.num { (fmt_p(c.p_value)) }
                td { @if c.significant { span.sig { (lang.pick("显著 *", "significant *")) } } @else { (lang.pick("不显著", "not significant")) } }
            }
            None => { td.sup colspan="3" { (lang.pick("无可比数据", "no comparable data")) } }
        }
    }
}

pub(super) fn crumbs(lang: Lang, ev: Option<&Evaluation>) -> Markup {
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

pub(super) fn who(lang: Lang, user: &CurrentUser) -> Markup {
    super::signed_in_header(lang, user, None)
}

pub fn admin_home(lang: Lang, user: &CurrentUser, evs: &[Evaluation]) -> Markup {
    page(
        lang,
        lang.pick("评估列表", "Evaluations"),
        "/admin",
        html! {
            (super::signed_in_header(lang, user, Some(super::setup::Section::Evaluations)))
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
    /// a questionnaire's title by (id, version), for the links table
    pub questionnaire_title: &'a dyn Fn(&str, i64, Lang) -> String,
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
            @else { div.wide tabindex="0" { table {
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
                            a href=(with_lang(&format!("/draws/{}/invitations", d.id), lang)) { (d.title) }
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

/// Every tool of an evaluation, one link each (only pages an evaluator may open).
fn tools_card(lang: Lang, ev: &Evaluation, links: &[Link]) -> Markup {
    let base = format!("/admin/evaluations/{}", ev.id);
    let mut questionnaires: Vec<&str> = links.iter().map(|l| l.questionnaire_id.as_str()).collect();
    questionnaires.sort_unstable();
    questionnaires.dedup();
    let tool = |href: String, zh: &str, en: &str| {
        html! { li { a href=(with_lang(&href, lang)) { (lang.pick(zh, en)) } } }
    };
    html! {
        nav.card.tools.noprint aria-label=(lang.pick("本评估的工具", "Tools of this evaluation")) {
            h2 { (lang.pick("工具", "Tools")) }
            ul {
                (tool(format!("{base}/results"), "评议结果", "Results"))
                (tool(format!("{base}/setup"), "设置、计划与状态", "Set-up, plan and status"))
                (tool(format!("{base}/questionnaires"), "本评估的问卷", "Questionnaires of this evaluation"))
                (tool(format!("/evaluations/{}/draws", ev.id), "抽样、邀请与邀请卡", "Draws, invitations and cards"))
                (tool(format!("{base}/scores"), "客观指标评分与指标体系", "Indicator scores and framework"))
                (tool(format!("{base}/scores/history"), "评分修改记录", "Score history"))
                (tool(format!("{base}/findings"), "问题整改", "Findings and rectification"))
                @if ev.status.as_str() == "published" {
                    (tool(format!("/public/evaluations/{}", ev.id), "结果公示（公开页面）", "Published results (public page)"))
                }
                @if !questionnaires.is_empty() {
                    li {
                        (lang.pick("第三方上传模板：", "Upload templates for survey firms: "))
                        @for (i, q) in questionnaires.iter().enumerate() {
                            @if i > 0 { " · " }
                            a href={ "/api/v1/evaluations/" (ev.id) "/upload-template?questionnaire=" (q) "&format=xlsx" } { (rtype_name(q, lang)) " (XLSX)" }
                        }
                    }
                }
            }
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
            (tools_card(lang, ev, d.links))
            p.noprint {
                a href={ "/api/v1/evaluations/" (ev.id) "/responses.csv?bom=1" } { (lang.pick("导出答卷 (CSV)", "Export responses (CSV)")) }
                @for ext in ["xlsx", "parquet", "json"] {
                    " · " a href={ "/api/v1/evaluations/" (ev.id) "/responses." (ext) } { (ext.to_uppercase()) }
                }
                " · " (lang.pick("满意度表", "Satisfaction table"))
                @for ext in ["csv", "xlsx", "parquet", "json"] {
                    " " a href={ "/api/v1/evaluations/" (ev.id) "/satisfaction." (ext) "?by=unit,respondent_type,dimension" @if ext == "csv" { "&bom=1" } } { (ext.to_uppercase()) }
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
                        td { ((d.questionnaire_title)(&l.questionnaire_id, l.questionnaire_version, lang)) }
                        td { @if l.is_open() { (lang.pick("开放中", "open")) } @else { (lang.pick("已关闭", "closed")) } }
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
                        td { (crate::upload::METHODS.iter().find(|m| m.0 == b.method).map_or(b.method.as_str(), |m| lang.pick(m.1, m.2))) }
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
                        td { (crate::timefmt::local(&b.uploaded_at)) }
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
    pub by_unit: &'a [SatisfactionRow],
    pub by_type: &'a [SatisfactionRow],
    pub by_dim: &'a [SatisfactionRow],
    pub by_type_dim: &'a [SatisfactionRow],
    pub trends: &'a [TrendRow],
    /// the items the trends are scored on, named (compared, left out)
    pub trend_items: &'a ComparedItems,
    pub trend_named: &'a (Vec<NamedItem>, Vec<NamedItem>),
}

pub fn results(lang: Lang, user: &CurrentUser, d: &ResultsData) -> Markup {
    let ev = d.ev;
    let path = format!("/admin/evaluations/{}/results", ev.id);
    let ranked = ranking(d.units, d.by_unit);
    let mut types: Vec<&str> = d.by_type.iter().map(|r| r.keys[0].as_str()).collect();
    types.dedup();
    let type_rows: Vec<(String, Option<&SatisfactionRow>)> = types
        .iter()
        .map(|t| {
            (
                rtype_name(t, lang),
                crate::analytics::find(d.by_type, &[t], "overall"),
            )
        })
        .collect();
    let dim_rows: Vec<(String, Option<&SatisfactionRow>)> = d
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
            (framework_card(lang, ev, d.units, d.grades, true))
            (satisfaction_card(lang, &ranked, true))
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
                @if years.len() > 1 { (compared_items_note(lang, d.trend_items, d.trend_named)) }
            }
        },
    )
}

/// Which items a year-over-year comparison was scored on: every item when each year asked
/// the same ones, otherwise the items all years asked (the indices recomputed over them) and
/// the items left out, each by its wording.
pub(super) fn compared_items_note(
    lang: Lang,
    items: &ComparedItems,
    named: &(Vec<NamedItem>, Vec<NamedItem>),
) -> Markup {
    // one line per question, with the respondent types it was compared for
    let list = |v: &[NamedItem]| {
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        for i in v {
            let text = lang.pick(&i.text_zh, &i.text_en).to_owned();
            let t = rtype_name(&i.respondent_type, lang);
            match out.iter_mut().find(|(x, _)| *x == text) {
                Some((_, ts)) => ts.push(t),
                None => out.push((text, vec![t])),
            }
        }
        html! { ul { @for (text, ts) in &out {
            li { (text) " " small.muted { "（" (ts.join(lang.pick("、", ", "))) "）" } }
        } } }
    };
    let n = items.codes().len();
    html! {
        @if items.all_same {
            p.legend { (lang.pick("比较范围：各年度问卷题目相同，全部 ", "Compared on: every year asked the same items; all "))
                (n) (lang.pick(" 个题目参与比较。", " items are compared.")) }
        } @else if items.left_out.is_empty() {
            p.legend { (lang.pick("比较范围：各年度均调查的 ", "Compared on: the "))
                (n) (lang.pick(" 个题目；仅部分年度有答卷的评议对象（", " items every year asked; respondent types with answers in some years only ("))
                (items.types_left_out.iter().map(|t| rtype_name(t, lang)).collect::<Vec<_>>().join(lang.pick("、", ", ")))
                (lang.pick("）不参与比较。", ") are left out of the comparison.")) }
        } @else {
            p.legend { (lang.pick("比较范围：问卷题目有增减，指数仅按各年度均调查的 ", "Compared on: the questionnaires changed, so the indices compared are recomputed over the "))
                (n) (lang.pick(" 个题目重新计算；另有 ", " items every year asked; "))
                (items.left_out_codes().len()) (lang.pick(" 个题目未参与比较。", " items are left out.")) }
            @if !items.types_left_out.is_empty() {
                p.legend { (lang.pick("仅部分年度有答卷的评议对象不参与比较：", "Respondent types with answers in some years only are left out: "))
                    (items.types_left_out.iter().map(|t| rtype_name(t, lang)).collect::<Vec<_>>().join(lang.pick("、", ", "))) }
            }
        }
        details {
            summary { (lang.pick("参与比较的题目", "Items compared")) " (" (named.0.len()) ")" }
            (list(&named.0))
        }
        @if !named.1.is_empty() {
            details {
                summary { (lang.pick("未参与比较的题目（仅部分年度调查）", "Items left out (asked in some years only)")) " (" (named.1.len()) ")" }
                (list(&named.1))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn small_p_values_print_as_below_a_thousandth() {
        assert_eq!(super::fmt_p(0.0), "<0.001");
        assert_eq!(super::fmt_p(0.000_42), "<0.001");
        assert_eq!(super::fmt_p(0.001), "0.001");
        assert_eq!(super::fmt_p(0.0432), "0.043");
    }
}
