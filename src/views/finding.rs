//! One finding's page: what it is and why, its deadline, the unit's plan and completion
//! report, the evidence files, the full history, and the forms of the steps the signed-in
//! user may take now.

use maud::{html, Markup};

use super::findings::{errors_box, page, severity_label, source_label, state_badge};
use super::with_lang;
use crate::auth::CurrentUser;
use crate::findings::{evidence, FindingView, Severity, State, Step};
use crate::i18n::Lang;

/// What the page may offer the signed-in user.
pub struct FindingPage<'a> {
    pub v: &'a FindingView,
    pub evaluation_title: &'a str,
    /// the name of the calendar the deadline was counted on
    pub calendar: Option<&'a str>,
    /// an evaluator (admin) looks at it
    pub evaluator: bool,
    /// the user belongs to the responsible unit
    pub responsible: bool,
    pub errors: &'a [String],
    /// what a survey finding is about (follow-up surveys are for these)
    pub target: Option<&'a crate::findings::followup::Target>,
    /// its follow-up survey and the comparison, once started
    pub followup: Option<&'a crate::findings::followup::BeforeAfter>,
}

fn step_button(lang: Lang, step: Step, secondary: bool) -> Markup {
    html! {
        @if secondary {
            button.secondary type="submit" name="step" value=(step.as_str()) { (step.label(lang)) }
        } @else {
            button type="submit" name="step" value=(step.as_str()) { (step.label(lang)) }
        }
    }
}

fn history(lang: Lang, v: &FindingView) -> Markup {
    html! {
        section.card {
            h2 { (lang.pick("处理记录", "History")) }
            table.history {
                thead { tr {
                    th { (lang.pick("时间（UTC）", "When (UTC)")) }
                    th { (lang.pick("操作人", "Who")) }
                    th { (lang.pick("操作", "What")) }
                    th { (lang.pick("状态", "State")) }
                    th { (lang.pick("意见", "Comment")) }
                } }
                tbody { @for e in &v.history { tr {
                    td { (crate::timefmt::local(&e.at)) }
                    td { (e.actor) " " span.muted { "(" (e.actor_role) ")" } }
                    td { (action_label(lang, &e.action)) }
                    td { (e.to_state.parse::<State>().map(|s| s.label(lang)).unwrap_or(&e.to_state)) }
                    td { (e.comment) }
                } } }
            }
        }
    }
}

fn action_label(lang: Lang, a: &str) -> String {
    if let Ok(s) = a.parse::<Step>() {
        return s.label(lang).to_owned();
    }
    match a {
        "created" => lang.pick("人工添加", "added by hand"),
        "proposed" => lang.pick("系统提出建议", "proposed"),
        "edited" => lang.pick("修改", "edited"),
        "merged" => lang.pick("合并其他建议", "merged others in"),
        "merged_into" => lang.pick("并入其他事项", "merged into another"),
        "reminder_due" => lang.pick("发送到期提醒", "reminder sent (due soon)"),
        "reminder_overdue" => lang.pick("发送逾期提醒", "reminder sent (overdue)"),
        other => other,
    }
    .to_owned()
}

fn files(lang: Lang, v: &FindingView) -> Markup {
    html! {
        @if !v.files.is_empty() {
            section.card {
                h2 { (lang.pick("佐证材料", "Evidence files")) }
                ul { @for f in &v.files { li {
                    a href={ "/findings/" (v.row.id) "/files/" (f.id) } download { (f.file_name) }
                    " " span.muted { "(" (f.size_bytes / 1024) " KB · SHA-256 " code { (f.sha256.get(..16).unwrap_or(&f.sha256)) "…" } ")" }
                } }
            } }
        }
    }
}

fn file_input(lang: Lang) -> Markup {
    html! {
        label { (lang.pick("佐证材料（PDF、图片或 Office 文档，每个不超过 ", "Evidence files (PDF, images or Office documents, each at most "))
            (evidence::MAX_FILE_BYTES / 1_048_576) (lang.pick(" MB，最多 ", " MB, at most ")) (evidence::MAX_FILES) (lang.pick(" 个）", ")"))
            input type="file" name="files" multiple accept=".pdf,.png,.jpg,.jpeg,.webp,.doc,.docx,.xls,.xlsx,.ppt,.pptx"; }
    }
}

fn forms(lang: Lang, user: &CurrentUser, d: &FindingPage<'_>) -> Markup {
    let r = &d.v.row;
    let s = d.v.state();
    let action = with_lang(&format!("/findings/{}/step", r.id), lang);
    let hidden = html! {
        input type="hidden" name="_csrf" value=(user.csrf);
        input type="hidden" name="version" value=(r.version);
    };
    html! {
        @if d.evaluator && s == State::Proposed {
            section.card {
                h2 { (lang.pick("交办", "Assign")) }
                form.f method="post" enctype="multipart/form-data" action=(action) {
                    (hidden)
                    label { (lang.pick("整改时限起算日（留空为今天）", "Deadline counts from (empty: today)")) input type="date" name="from"; }
                    label { (lang.pick("联系邮箱（用于到期提醒）", "Contact e-mail (for reminders)")) input type="email" name="contact_email" value=(r.contact_email); }
                    label { (lang.pick("意见", "Comment")) textarea name="comment" {} }
                    div.row { (step_button(lang, Step::Assign, false)) (step_button(lang, Step::Drop, true)) }
                }
            }
        }
        @if d.evaluator && s == State::PlanSubmitted {
            section.card {
                h2 { (lang.pick("审核整改方案", "Review the plan")) }
                form.f method="post" enctype="multipart/form-data" action=(action) {
                    (hidden)
                    label { (lang.pick("意见（退回时必填）", "Comment (required to return)")) textarea name="comment" {} }
                    div.row { (step_button(lang, Step::AcceptPlan, false)) (step_button(lang, Step::ReturnPlan, true)) }
                }
            }
        }
        @if d.evaluator && s == State::CompletionSubmitted {
            section.card {
                h2 { (lang.pick("核实整改报告", "Verify the completion report")) }
                form.f method="post" enctype="multipart/form-data" action=(action) {
                    (hidden)
                    label { (lang.pick("意见（退回时必填）", "Comment (required to return)")) textarea name="comment" {} }
                    div.row { (step_button(lang, Step::Verify, false)) (step_button(lang, Step::ReturnCompletion, true)) }
                }
            }
        }
        @if d.responsible && matches!(s, State::Assigned | State::PlanReturned) {
            section.card {
                h2 { (lang.pick("提交整改方案", "Submit the rectification plan")) }
                form.f method="post" enctype="multipart/form-data" action=(action) {
                    (hidden)
                    label { (lang.pick("整改措施", "Measures")) textarea name="measures" required { (r.plan_measures) } }
                    label { (lang.pick("责任人", "Person responsible")) input type="text" name="person" required value=(r.plan_person); }
                    label { (lang.pick("责任人邮箱（接收提醒，可选）", "Their e-mail (for reminders, optional)")) input type="email" name="email" value=(r.plan_email); }
                    div.row {
                        label { (lang.pick("开始日期", "Start")) input type="date" name="start" required value=(r.plan_start.as_deref().unwrap_or("")); }
                        label { (lang.pick("完成日期", "End")) input type="date" name="end" required value=(r.plan_end.as_deref().unwrap_or("")); }
                    }
                    (file_input(lang))
                    label { (lang.pick("说明", "Note")) textarea name="comment" {} }
                    (step_button(lang, Step::SubmitPlan, false))
                }
            }
        }
        @if d.responsible && matches!(s, State::PlanAccepted | State::CompletionReturned) {
            section.card {
                h2 { (lang.pick("提交整改报告", "Submit the completion report")) }
                form.f method="post" enctype="multipart/form-data" action=(action) {
                    (hidden)
                    label { (lang.pick("整改完成情况", "What was done")) textarea name="report" required { (r.completion_report) } }
                    (file_input(lang))
                    label { (lang.pick("说明", "Note")) textarea name="comment" {} }
                    (step_button(lang, Step::SubmitCompletion, false))
                }
            }
        }
        @if d.evaluator && !matches!(s, State::Verified | State::Dropped | State::CompletionSubmitted) {
            section.card {
                h2 { (lang.pick("修改", "Edit")) }
                form.f method="post" action=(with_lang(&format!("/findings/{}/edit", r.id), lang)) {
                    input type="hidden" name="_csrf" value=(user.csrf);
                    input type="hidden" name="version" value=(r.version);
                    label { (lang.pick("整改事项", "Title")) input type="text" name="title" value=(r.title) maxlength="200"; }
                    label { (lang.pick("问题描述", "Description")) textarea name="description" { (r.description) } }
                    label { (lang.pick("严重程度", "Severity")) select name="severity" { @for x in Severity::ALL { option value=(x.as_str()) selected[x.as_str() == r.severity] { (x.label(lang)) } } } }
                    label { (lang.pick("整改时限（工作日）", "Deadline (working days)")) input type="number" name="deadline_days" value=(r.deadline_days) min="1" max="365"; }
                    label { (lang.pick("责任单位代码", "Responsible unit code")) input type="text" name="responsible_unit" value=(r.responsible_code); }
                    label { (lang.pick("修改说明", "Why")) input type="text" name="comment"; }
                    button.secondary type="submit" { (lang.pick("保存修改", "Save changes")) }
                }
            }
        }
    }
}

pub fn finding_page(lang: Lang, user: &CurrentUser, d: &FindingPage<'_>) -> Markup {
    let v = d.v;
    let r = &v.row;
    let path = format!("/findings/{}", r.id);
    let back = if d.evaluator {
        format!("/admin/evaluations/{}/findings", r.evaluation_id)
    } else {
        "/findings".to_owned()
    };
    page(
        lang,
        user,
        &r.title,
        &path,
        html! {
            nav.crumbs { a href=(with_lang(&back, lang)) { (lang.pick("返回整改事项列表", "Back to the findings")) } }
            h1 { (r.title) " " (state_badge(lang, v)) }
            (errors_box(lang, d.errors))
            section.card {
                dl {
                    dt { (lang.pick("评估", "Evaluation")) } dd { (d.evaluation_title) }
                    dt { (lang.pick("单位", "Unit")) } dd { (lang.pick(&r.unit_name_zh, &r.unit_name_en)) }
                    dt { (lang.pick("责任单位", "Responsible unit")) } dd { (lang.pick(&r.responsible_name_zh, &r.responsible_name_en)) }
                    dt { (lang.pick("来源", "Source")) } dd { (source_label(lang, &r.source)) }
                    dt { (lang.pick("严重程度", "Severity")) } dd { (severity_label(lang, &r.severity)) }
                    dt { (lang.pick("整改时限", "Deadline")) } dd {
                        (r.deadline_days) (lang.pick(" 个工作日", " working days"))
                        @if let (Some(from), Some(due)) = (&r.assigned_on, &r.due_on) {
                            (lang.pick("，自 ", ", from ")) (from) (lang.pick(" 起，至 ", " to ")) strong { (due) }
                            @if let Some(c) = d.calendar { span.muted { (lang.pick("（按", " (")) (c) (lang.pick("工作日历计算）", " working days)")) } }
                            @if r.due_provisional != 0 { " " span.badge.s-returned { (lang.pick("按暂定日历计算，可能调整", "counted on a provisional calendar; may move")) } }
                        }
                    }
                    @if !r.description.is_empty() { dt { (lang.pick("问题描述", "Description")) } dd { (r.description) } }
                    @if !r.evidence.is_empty() { dt { (lang.pick("依据", "Evidence")) } dd { (r.evidence) } }
                }
            }
            @if !r.plan_measures.is_empty() {
                section.card {
                    h2 { (lang.pick("整改方案", "Rectification plan")) }
                    p { (r.plan_measures) }
                    p.muted { (lang.pick("责任人：", "Person responsible: ")) (r.plan_person)
                        " · " (r.plan_start.as_deref().unwrap_or("")) " – " (r.plan_end.as_deref().unwrap_or("")) }
                }
            }
            @if !r.completion_report.is_empty() {
                section.card {
                    h2 { (lang.pick("整改报告", "Completion report")) }
                    p { (r.completion_report) }
                    @if let Some(c) = &r.completion_on { p.muted { (lang.pick("提交日期：", "Submitted: ")) (c) } }
                }
            }
            (files(lang, v))
            (super::followup::section(lang, user, r.id.get(), d.target, d.evaluator && !matches!(r.state.as_str(), "proposed" | "dropped"), d.followup))
            (forms(lang, user, d))
            (history(lang, v))
        },
    )
}
