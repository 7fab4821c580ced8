//! Pages of the rectification loop: the evaluators' register of an evaluation (settings,
//! proposals, counts, the findings, merge and add forms), the unit's list, and the small
//! components the feedback report, the overview and the public page reuse.

use maud::{html, Markup};

use super::{layout, with_lang};
use crate::auth::CurrentUser;
use crate::findings::{FindingView, Severity, Source, State, UnitCounts};
use crate::i18n::Lang;
use crate::store::{Evaluation, FindingSettings, Unit};

pub(crate) const CSS: &str = "\
.badge.s-verified{background:#e3f4e3;color:#1d6b1d}.badge.s-overdue{background:#f8e1e1;color:#8b1a1a}\
.badge.s-returned{background:#fff1d6;color:#7a5200}.badge.s-proposed{background:#eef}\
form.f{display:grid;gap:.5rem;max-width:44rem}form.f label{display:grid;gap:.2rem}\
form.f input,form.f select,form.f textarea{font-size:1rem;padding:.45rem;border:1px solid #ccc;border-radius:6px;width:100%}\
form.f textarea{min-height:6rem}.row{display:flex;flex-wrap:wrap;gap:.5rem}\
.errors{border:2px solid #c0392b;background:#fff5f4}.errors li{color:#8b1a1a}\
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}\
button.secondary{background:#fff;color:#8b1a1a;border:1px solid #8b1a1a}";

/// The page shell with this module's styles and the account bar.
pub(crate) fn page(
    lang: Lang,
    user: &CurrentUser,
    title: &str,
    path: &str,
    body: Markup,
) -> Markup {
    layout(
        lang,
        title,
        &with_lang(path, lang.other()),
        html! { style { (CSS) } (super::signed_in_header(lang, user, None)) (body) },
    )
}

/// A finding's state as a badge (overdue findings say so).
pub fn state_badge(lang: Lang, v: &FindingView) -> Markup {
    let s = v.state();
    let class = match s {
        State::Verified => "s-verified",
        State::PlanReturned | State::CompletionReturned => "s-returned",
        State::Proposed => "s-proposed",
        _ => "",
    };
    html! {
        span class={ "badge " (class) } { (s.label(lang)) }
        @if v.overdue { " " span.badge.s-overdue { (lang.pick("已逾期", "Overdue")) } }
    }
}

pub fn severity_label(lang: Lang, s: &str) -> String {
    s.parse::<Severity>()
        .map(|x| x.label(lang).to_owned())
        .unwrap_or_else(|_| s.to_owned())
}

pub fn source_label(lang: Lang, s: &str) -> String {
    s.parse::<Source>()
        .map(|x| x.label(lang).to_owned())
        .unwrap_or_else(|_| s.to_owned())
}

fn unit_name<'a>(lang: Lang, zh: &'a str, en: &'a str) -> &'a str {
    lang.pick(zh, en)
}

/// Errors of a refused form, Chinese first.
pub fn errors_box(lang: Lang, errors: &[String]) -> Markup {
    html! {
        @if !errors.is_empty() {
            div.card.errors role="alert" {
                p { strong { (lang.pick("未保存：请按以下提示修改后重新提交。", "Nothing was saved: correct the following and submit again.")) } }
                ul { @for e in errors { li { (e) } } }
            }
        }
    }
}

/// Counts per unit: findings, per state, overdue, verified (on time).
pub fn counts_table(lang: Lang, counts: &[UnitCounts], show_proposed: bool) -> Markup {
    let states = [
        State::Assigned,
        State::PlanSubmitted,
        State::PlanReturned,
        State::PlanAccepted,
        State::CompletionSubmitted,
        State::CompletionReturned,
        State::Verified,
    ];
    html! {
        div.wide tabindex="0" { table.counts {
            thead { tr {
                th { (lang.pick("单位", "Unit")) }
                @if show_proposed { th.num { (lang.pick("待确认", "Proposed")) } }
                th.num { (lang.pick("整改事项", "Findings")) }
                @for s in states { th.num { (s.label(lang)) } }
                th.num { (lang.pick("逾期", "Overdue")) }
                th.num { (lang.pick("按期销号", "Verified on time")) }
            } }
            tbody {
                @for c in counts {
                    tr {
                        td { (unit_name(lang, &c.unit_name_zh, &c.unit_name_en)) }
                        @if show_proposed { td.num { (c.proposed) } }
                        td.num { (c.total) }
                        @for s in states { td.num { (c.by_state.get(s.as_str()).copied().unwrap_or(0)) } }
                        td.num { (c.overdue) }
                        td.num { (c.verified_on_time) }
                    }
                }
            }
        } }
    }
}

/// Totals over units: (findings, overdue, per state).
pub fn overview_counts(lang: Lang, counts: &[UnitCounts], link: &str) -> Markup {
    let total: u32 = counts.iter().map(|c| c.total).sum();
    let overdue: u32 = counts.iter().map(|c| c.overdue).sum();
    let proposed: u32 = counts.iter().map(|c| c.proposed).sum();
    let mut by_state = std::collections::BTreeMap::<String, u32>::new();
    for c in counts {
        for (k, v) in &c.by_state {
            *by_state.entry(k.clone()).or_default() += v;
        }
    }
    html! {
        section.card.findings-overview {
            h2 { (lang.pick("整改情况", "Rectification")) }
            p {
                (lang.pick("整改事项 ", "Findings: ")) strong { (total) }
                (lang.pick("，其中逾期 ", "; overdue: ")) strong { (overdue) }
                (lang.pick("；待确认建议 ", "; proposals to decide: ")) (proposed)
            }
            @if !by_state.is_empty() {
                ul { @for s in State::ALL { @if let Some(n) = by_state.get(s.as_str()) {
                    li { (s.label(lang)) "：" (n) }
                } } }
            }
            p { a href=(link) { (lang.pick("整改台账", "Rectification register")) } }
        }
    }
}

/// One unit's findings with their state, for its feedback report.
pub fn report_section(lang: Lang, views: &[FindingView]) -> Markup {
    html! {
        section.card.report-findings {
            h2 { (lang.pick("整改事项", "Findings to rectify")) }
            @if views.is_empty() {
                p.muted { (lang.pick("本次评估未向本单位交办整改事项。", "No findings were assigned to this unit in this evaluation.")) }
            } @else {
                table {
                    thead { tr {
                        th { (lang.pick("整改事项", "Finding")) }
                        th { (lang.pick("状态", "State")) }
                        th { (lang.pick("整改期限", "Due")) }
                    } }
                    tbody { @for v in views { tr {
                        td { a href={ "/findings/" (v.row.id) "?lang=" (lang.code()) } { (v.row.title) } }
                        td { (state_badge(lang, v)) }
                        td { (v.row.due_on.as_deref().unwrap_or("—")) }
                    } } }
                }
            }
        }
    }
}

/// The public page's per-unit counts: findings, rectified on time, overdue.
pub fn public_counts(lang: Lang, counts: &[UnitCounts], since: &str) -> Markup {
    html! {
        section.card.public-findings {
            h2 { (lang.pick("整改情况公示", "Rectification status")) }
            p.muted { (lang.pick("自 ", "Published since ")) (since) (lang.pick(" 起公示，数据随整改进展更新。", "; the numbers follow the rectification as it progresses.")) }
            table {
                thead { tr {
                    th { (lang.pick("单位", "Unit")) }
                    th.num { (lang.pick("整改事项", "Findings")) }
                    th.num { (lang.pick("按期整改完成", "Rectified on time")) }
                    th.num { (lang.pick("已逾期", "Overdue")) }
                } }
                tbody { @for c in counts { @if c.total > 0 { tr {
                    td { (unit_name(lang, &c.unit_name_zh, &c.unit_name_en)) }
                    td.num { (c.total) }
                    td.num { (c.verified_on_time) }
                    td.num { (c.overdue) }
                } } } }
            }
        }
    }
}

/// A table of findings with their unit, source, severity, state and due date.
pub fn findings_table(lang: Lang, views: &[FindingView], select: bool) -> Markup {
    html! {
        div.wide tabindex="0" { table.findings {
            thead { tr {
                @if select { th { (lang.pick("合并", "Merge")) } }
                th { "#" }
                th { (lang.pick("单位", "Unit")) }
                th { (lang.pick("整改事项", "Finding")) }
                th { (lang.pick("来源", "Source")) }
                th { (lang.pick("严重程度", "Severity")) }
                th { (lang.pick("状态", "State")) }
                th { (lang.pick("整改期限", "Due")) }
            } }
            tbody { @for v in views { @let r = &v.row; tr {
                @if select { td { @if v.state() == State::Proposed {
                    input type="checkbox" name="sel" value=(r.id) aria-label={ (lang.pick("选择 ", "Select ")) (r.id) };
                } } }
                td { (r.id) }
                td { (unit_name(lang, &r.unit_name_zh, &r.unit_name_en)) }
                td { a href={ "/findings/" (r.id) "?lang=" (lang.code()) } { (r.title) } }
                td { (source_label(lang, &r.source)) }
                td { (severity_label(lang, &r.severity)) }
                td { (state_badge(lang, v)) }
                td { (r.due_on.as_deref().unwrap_or("—"))
                    @if r.due_provisional != 0 { " " span.muted { (lang.pick("（暂定日历）", "(provisional calendar)")) } } }
            } } }
        } }
    }
}

/// What the evaluators' register page shows.
pub struct RegisterPage<'a> {
    pub ev: &'a Evaluation,
    pub settings: Option<&'a FindingSettings>,
    /// (file name, name, English name) of every calendar
    pub calendars: &'a [(String, String, String)],
    pub units: &'a [Unit],
    pub views: &'a [FindingView],
    pub counts: &'a [UnitCounts],
    pub errors: &'a [String],
    pub notice: Option<String>,
}

pub fn register_page(lang: Lang, user: &CurrentUser, d: &RegisterPage<'_>) -> Markup {
    let id = d.ev.id;
    let base = format!("/admin/evaluations/{id}/findings");
    let title = format!(
        "{} · {}",
        lang.pick("整改台账", "Rectification register"),
        lang.pick(&d.ev.title_zh, &d.ev.title_en)
    );
    let csrf = user.csrf.as_str();
    let closed = matches!(
        d.ev.status,
        crate::store::EvaluationStatus::Closed | crate::store::EvaluationStatus::Published
    );
    page(
        lang,
        user,
        &title,
        &base,
        html! {
            nav.crumbs { a href=(with_lang(&format!("/admin/evaluations/{id}"), lang)) { (lang.pick("评估概况", "Overview")) } }
            h1 { (title) }
            (errors_box(lang, d.errors))
            @if let Some(n) = &d.notice { div.card role="status" { p { (n) } } }
            section.card {
                h2 { (lang.pick("整改时限日历", "Working-day calendar")) }
                @match d.settings {
                    Some(s) => p { (lang.pick("当前日历：", "Calendar: "))
                        strong { (d.calendars.iter().find(|c| c.0 == s.calendar).map(|c| lang.pick(&c.1, &c.2)).unwrap_or(&s.calendar)) }
                        @if let Some(p) = &s.public_since { " · " (lang.pick("整改情况已公示（", "status public since ")) (p) (lang.pick("）", "")) } },
                    None => p.muted { (lang.pick("尚未选择日历：交办整改事项前须先选择。", "No calendar chosen yet: choose one before assigning findings.")) },
                }
                form.f.row method="post" action=(with_lang(&format!("{base}/settings"), lang)) {
                    input type="hidden" name="_csrf" value=(csrf);
                    label { (lang.pick("日历", "Calendar"))
                        select name="calendar" { @for (id, zh, en) in d.calendars {
                            option value=(id) selected[d.settings.is_some_and(|s| &s.calendar == id)] { (lang.pick(zh, en)) }
                        } } }
                    button type="submit" { (lang.pick("保存", "Save")) }
                }
                @if user.role == crate::auth::Role::Admin && d.settings.is_some() {
                    form method="post" action=(with_lang(&format!("{base}/publish"), lang)) {
                        input type="hidden" name="_csrf" value=(csrf);
                        @if d.settings.is_some_and(|s| s.public_since.is_some()) {
                            input type="hidden" name="public" value="0";
                            button.secondary type="submit" { (lang.pick("撤回整改情况公示", "Withdraw the public status")) }
                        } @else {
                            input type="hidden" name="public" value="1";
                            button type="submit" { (lang.pick("公示整改情况", "Publish the rectification status")) }
                        }
                    }
                }
            }
            section.card {
                h2 { (lang.pick("各单位整改情况", "Per unit")) }
                (counts_table(lang, d.counts, true))
                p { a href={ "/api/v1/evaluations/" (id) "/findings.xlsx" } { (lang.pick("导出整改台账（XLSX）", "Export the register (XLSX)")) }
                    " · " a href={ "/api/v1/evaluations/" (id) "/findings.csv" } { "CSV" } }
            }
            section.card {
                h2 { (lang.pick("生成整改建议", "Draw proposals")) }
                @if closed {
                    form.f method="post" action=(with_lang(&format!("{base}/propose"), lang)) {
                        input type="hidden" name="_csrf" value=(csrf);
                        label { (lang.pick("满意率阈值（%），低于此值的维度和题目提出整改建议", "Satisfaction-rate threshold (%): dimensions and items below it are proposed"))
                            input type="number" name="threshold" value="80" min="1" max="99" step="0.1"; }
                        label { input type="checkbox" name="decline" value="1" checked; (lang.pick(" 与上一年度相比显著下降（p < 0.05）的也提出", " Also propose significant declines against the previous year (p < 0.05)")) }
                        label { (lang.pick("同一主题意见建议达到条数", "Suggestions of one theme that make a proposal"))
                            input type="number" name="theme_min" value="5" min="2"; }
                        label { (lang.pick("整改时限（工作日）", "Deadline (working days)"))
                            input type="number" name="deadline_days" value="30" min="1" max="365"; }
                        button type="submit" { (lang.pick("生成建议", "Draw proposals")) }
                    }
                } @else {
                    p.muted { (lang.pick("评估结束后才能生成整改建议。", "Proposals are drawn once the evaluation is closed.")) }
                }
            }
            section.card {
                h2 { (lang.pick("整改事项", "Findings")) }
                form method="post" action=(with_lang(&format!("{base}/merge"), lang)) {
                    input type="hidden" name="_csrf" value=(csrf);
                    (findings_table(lang, d.views, true))
                    @if d.views.iter().filter(|v| v.state() == State::Proposed).count() >= 2 {
                        div.f.row {
                            label { (lang.pick("合并后的标题（可选）", "Title after merging (optional)")) input type="text" name="title" maxlength="200"; }
                            button.secondary type="submit" { (lang.pick("合并所选建议（保留编号最小的一条）", "Merge the selected proposals (the lowest number is kept)")) }
                        }
                    }
                }
            }
            section.card {
                h2 { (lang.pick("人工添加整改事项", "Add a finding by hand")) }
                form.f method="post" action=(with_lang(&format!("{base}/add"), lang)) {
                    input type="hidden" name="_csrf" value=(csrf);
                    label { (lang.pick("单位", "Unit")) select name="unit" required { @for u in d.units { option value=(u.code) { (lang.pick(&u.name_zh, &u.name_en)) } } } }
                    label { (lang.pick("责任单位代码（留空即为该单位）", "Responsible unit code (empty: the same unit)")) input type="text" name="responsible_unit"; }
                    label { (lang.pick("整改事项", "Title")) input type="text" name="title" required maxlength="200"; }
                    label { (lang.pick("问题描述", "Description")) textarea name="description" {} }
                    label { (lang.pick("依据（如实地检查记录）", "Evidence (e.g. a site inspection)")) textarea name="evidence" {} }
                    label { (lang.pick("严重程度", "Severity")) select name="severity" { @for s in Severity::ALL { option value=(s.as_str()) selected[s == Severity::Medium] { (s.label(lang)) } } } }
                    label { (lang.pick("整改时限（工作日）", "Deadline (working days)")) input type="number" name="deadline_days" value="30" min="1" max="365"; }
                    button type="submit" { (lang.pick("添加", "Add")) }
                }
            }
        },
    )
}

/// A unit user's home: its feedback reports and its findings in every evaluation.
pub fn unit_page(lang: Lang, user: &CurrentUser, h: &crate::findings::UnitHome) -> Markup {
    let name = lang.pick(&h.unit.name_zh, &h.unit.name_en);
    let title = format!(
        "{name} · {}",
        lang.pick("反馈报告与整改", "Reports and rectification")
    );
    page(
        lang,
        user,
        &title,
        "/findings",
        html! {
            h1 { (title) }
            section.card {
                h2 { (lang.pick("反馈报告", "Feedback reports")) }
                @if h.reports.is_empty() {
                    p.muted { (lang.pick("暂无已结束的评估。", "No evaluation has closed yet.")) }
                } @else {
                    ul { @for e in &h.reports { li {
                        a href=(with_lang(&format!("/admin/evaluations/{}/units/{}/report", e.id, h.unit.code), lang)) {
                            (lang.pick(&e.title_zh, &e.title_en))
                        }
                    } } }
                }
            }
            section.card {
                h2 { (lang.pick("本单位整改事项", "Our findings to rectify")) }
                @if h.findings.is_empty() {
                    p.muted { (lang.pick("目前没有交办给本单位的整改事项。", "No findings are assigned to this unit.")) }
                } @else {
                    (findings_table(lang, &h.findings, false))
                }
            }
        },
    )
}
