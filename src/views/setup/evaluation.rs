//! The new-evaluation form and the set-up page of one evaluation: status and its changes,
//! details, participating units, the plan (see `plan`), public links and progress.

use maud::{html, Markup};

use super::{csrf, errors_table, field_errors, flash, page, select_field, text_field, Section};
use crate::auth::CurrentUser;
use crate::evaluations::lifecycle::Transition;
use crate::evaluations::{DetailsInput, EvaluationInput, FieldError, PlanInput, Progress};
use crate::i18n::Lang;
use crate::store::{
    Evaluation, EvaluationDetail, FirmRow, Link, RegisterUnit, StatusChange, StoredQuestionnaire,
    Unit,
};
use crate::views::with_lang;

fn title_of(ev: &Evaluation, lang: Lang) -> String {
    lang.pick(&ev.title_zh, &ev.title_en).to_owned()
}

pub fn new_form(
    lang: Lang,
    user: &CurrentUser,
    input: &EvaluationInput,
    errors: &[FieldError],
    evaluations: &[Evaluation],
    frameworks: &[(String, String)],
) -> Markup {
    let title = lang.pick("新建评估", "New evaluation");
    let mut copy: Vec<(String, String)> = vec![(
        String::new(),
        lang.pick("（不复制，从空白开始）", "(none: start empty)")
            .to_owned(),
    )];
    copy.extend(evaluations.iter().map(|e| {
        (
            e.id.to_string(),
            format!("{} · {} {}", title_of(e, lang), e.year, e.wave),
        )
    }));
    let mut fw: Vec<(String, String)> = vec![(
        String::new(),
        lang.pick("（暂不设定）", "(not now)").to_owned(),
    )];
    fw.extend(frameworks.iter().cloned());
    page(
        lang,
        user,
        Some(Section::NewEvaluation),
        title,
        "/admin/evaluations/new",
        html! {
            h1 { (title) }
            @if errors.iter().any(|e| e.row.is_some()) { (errors_table(lang, errors)) }
            form.card method="post" action=(with_lang("/admin/evaluations", lang)) {
                (csrf(user))
                (select_field(lang, errors, "copy_from", ("复制自（下一年度沿用单位、调查计划、目标和指标体系）", "Copy from (next year's round: same units, plan, targets and framework)"), &input.copy_from, &copy))
                (text_field(lang, errors, "series", ("评估系列（复制时可空，沿用原系列）", "Series (empty when copying: the same series)"), &input.series, "text", false))
                (text_field(lang, errors, "year", ("年度", "Year"), &input.year, "number", true))
                (text_field(lang, errors, "wave", ("批次（可空，如 上半年）", "Wave (optional, e.g. H1)"), &input.wave, "text", false))
                (text_field(lang, errors, "title_zh", ("中文标题", "Chinese title"), &input.title_zh, "text", true))
                (text_field(lang, errors, "title_en", ("英文标题（可空）", "English title (optional)"), &input.title_en, "text", false))
                (text_field(lang, errors, "fieldwork_start", ("调查开始日期（可空）", "Fieldwork starts (optional)"), &input.fieldwork_start, "date", false))
                (text_field(lang, errors, "fieldwork_end", ("调查结束日期（可空）", "Fieldwork ends (optional)"), &input.fieldwork_end, "date", false))
                (select_field(lang, errors, "framework", ("指标体系", "Indicator framework"), &input.framework, &fw))
                (field_errors(lang, errors, "units"))
                button type="submit" { (lang.pick("创建评估", "Create the evaluation")) }
            }
        },
    )
}

/// Everything the set-up page shows.
pub struct SetupPage<'a> {
    pub d: &'a EvaluationDetail,
    pub units: &'a [Unit],
    pub register: &'a [RegisterUnit],
    pub plan: &'a [PlanInput],
    /// Problems of the table as posted (rows are table rows).
    pub plan_errors: &'a [FieldError],
    /// Problems of an imported plan file (rows are file rows).
    pub plan_file_errors: &'a [FieldError],
    pub questionnaires: &'a [StoredQuestionnaire],
    pub firms: &'a [FirmRow],
    pub history: &'a [StatusChange],
    pub links: &'a [Link],
    pub details: &'a DetailsInput,
    pub details_errors: &'a [FieldError],
    pub units_errors: &'a [FieldError],
    pub status_errors: &'a [FieldError],
    pub progress: &'a Progress,
    pub message: Option<&'a str>,
    pub refused: Option<&'a str>,
}

/// A status as people read it ("" before creation).
fn status_label(code: &str, lang: Lang) -> String {
    code.parse::<crate::store::EvaluationStatus>()
        .map(|s| lang.pick(s.label_zh(), s.label_en()).to_owned())
        .unwrap_or_else(|_| lang.pick("（创建）", "(created)").to_owned())
}

/// A questionnaire's title and version.
fn questionnaire_title(p: &SetupPage, id: &str, version: i64, lang: Lang) -> String {
    p.questionnaires
        .iter()
        .find(|q| q.id == id && q.version == version)
        .map(|q| format!("{} v{version}", lang.pick(&q.title_zh, &q.title_en)))
        .unwrap_or_else(|| format!("{id} v{version}"))
}

fn status_card(lang: Lang, user: &CurrentUser, p: &SetupPage) -> Markup {
    let ev = &p.d.evaluation;
    let action = format!("/admin/evaluations/{}/status", ev.id);
    html! {
        div.card #status {
            h2 { (lang.pick("状态", "Status")) " "
                span class={ "badge " (ev.status.as_str()) } { (lang.pick(ev.status.label_zh(), ev.status.label_en())) } }
            p.muted { (lang.pick(
                "筹备中 → 进行中 → 已结束 → 已公示。未开始时问卷链接显示“尚未开始”及日期；结束后链接显示“已结束”(410)，上传被拒绝；只有已结束的评估才能公示；重新开放须说明原因。",
                "Draft → open → closed → published. Before opening, links show “not yet open” with the dates; after closing they show “closed” (410) and uploads are refused; only a closed evaluation can be published; re-opening needs a reason.")) }
            (field_errors(lang, p.status_errors, "reason"))
            @for t in Transition::ALL.iter().filter(|t| t.allowed_from(ev.status)) {
                form.inline method="post" action=(with_lang(&action, lang)) {
                    (csrf(user))
                    input type="hidden" name="action" value=(t.as_str());
                    @if t.needs_reason() {
                        label { (lang.pick("原因", "Reason")) " " input type="text" name="reason" required; }
                    }
                    " " button type="submit" { (lang.pick(t.label_zh(), t.label_en())) }
                }
                " "
            }
            @if ev.status == crate::store::EvaluationStatus::Published {
                p { a href=(with_lang(&format!("/public/evaluations/{}", ev.id), lang)) { (lang.pick("查看公示页面", "See the public page")) } }
            }
            @if !p.history.is_empty() {
                details { summary { (lang.pick("状态变更记录", "Status history")) }
                    table { tbody { @for h in p.history { tr {
                        td { (crate::timefmt::local(&h.at)) } td { (status_label(&h.from_status, lang)) " → " (status_label(&h.to_status, lang)) } td { (h.actor) } td { (h.reason) }
                    } } } }
                }
            }
        }
    }
}

fn details_card(lang: Lang, user: &CurrentUser, p: &SetupPage) -> Markup {
    let ev = &p.d.evaluation;
    html! {
        div.card #details {
            h2 { (lang.pick("基本信息", "Details")) }
            p.muted { (lang.pick("系列", "Series")) " " code { (ev.series) } " · " (ev.year) @if !ev.wave.is_empty() { " · " (ev.wave) }
                @if let Some(f) = &p.d.framework { " · " (lang.pick("指标体系", "framework")) " " code { (f) } }
                @if let Some(c) = p.d.copied_from { " · " (lang.pick("复制自评估 ", "copied from evaluation ")) a href=(with_lang(&format!("/admin/evaluations/{c}/setup"), lang)) { (c) } } }
            form method="post" action=(with_lang(&format!("/admin/evaluations/{}/details", ev.id), lang)) {
                (csrf(user))
                (text_field(lang, p.details_errors, "title_zh", ("中文标题", "Chinese title"), &p.details.title_zh, "text", true))
                (text_field(lang, p.details_errors, "title_en", ("英文标题", "English title"), &p.details.title_en, "text", false))
                (text_field(lang, p.details_errors, "fieldwork_start", ("调查开始日期", "Fieldwork starts"), &p.details.fieldwork_start, "date", false))
                (text_field(lang, p.details_errors, "fieldwork_end", ("调查结束日期", "Fieldwork ends"), &p.details.fieldwork_end, "date", false))
                button type="submit" { (lang.pick("保存", "Save")) }
            }
        }
    }
}

fn units_card(lang: Lang, user: &CurrentUser, p: &SetupPage) -> Markup {
    let ev = &p.d.evaluation;
    let chosen = |id: i64| p.units.iter().any(|u| u.id == id);
    html! {
        div.card #units {
            h2 { (lang.pick("参评单位", "Participating units")) " " small.muted { (p.units.len()) } }
            (field_errors(lang, p.units_errors, "units"))
            @if p.register.is_empty() {
                p.muted { (lang.pick("单位名录为空：", "The unit register is empty: ")) a href=(with_lang("/admin/units", lang)) { (lang.pick("先导入单位", "import the units first")) } }
            } @else {
                form method="post" action=(with_lang(&format!("/admin/evaluations/{}/units", ev.id), lang)) {
                    (csrf(user))
                    div.wide tabindex="0" { @for u in p.register.iter().filter(|u| u.retired_on.is_none() || chosen(u.id.get())) {
                        label style="display:block" {
                            input type="checkbox" name="units" value=(u.code) checked[chosen(u.id.get())];
                            " " (lang.pick(&u.name_zh, &u.name_en)) " " small.muted { (u.code) }
                        }
                    } }
                    button type="submit" { (lang.pick("保存参评单位", "Save the units")) }
                }
            }
        }
    }
}

fn links_card(lang: Lang, user: &CurrentUser, p: &SetupPage) -> Markup {
    let ev = &p.d.evaluation;
    let unit_name = |id: i64| {
        p.units
            .iter()
            .find(|u| u.id == id)
            .map(|u| lang.pick(&u.name_zh, &u.name_en).to_owned())
            .unwrap_or_default()
    };
    html! {
        div.card #links {
            h2 { (lang.pick("公开问卷链接", "Public survey links")) " " small.muted { (p.links.len()) } }
            p.muted { (lang.pick("为计划中的管理服务对象和普通居民生成公开链接和二维码；其他对象通过一次性邀请码作答。",
                                 "Makes a public link and QR code for each plan row of service users and residents; the other respondents answer through single-use invitation tokens.")) }
            form method="post" action=(with_lang(&format!("/admin/evaluations/{}/links", ev.id), lang)) {
                (csrf(user))
                button type="submit" { (lang.pick("生成计划中的链接", "Make the plan's links")) }
            }
            @if !p.links.is_empty() { div.wide tabindex="0" { table {
                thead { tr { th { (lang.pick("单位", "Unit")) } th { (lang.pick("问卷", "Questionnaire")) } th { (lang.pick("链接", "Link")) } } }
                tbody { @for l in p.links { tr {
                    td { (unit_name(l.unit_id)) }
                    td { (questionnaire_title(p, &l.questionnaire_id, l.questionnaire_version, lang)) }
                    td { a.survey-link href={ "/s/" (l.code) } { "/s/" (l.code) } " · " a href={ "/s/" (l.code) "/qr.svg" } { (lang.pick("二维码", "QR")) } }
                } } }
            } } }
        }
    }
}

pub fn setup(lang: Lang, user: &CurrentUser, p: &SetupPage) -> Markup {
    let ev = &p.d.evaluation;
    let title = title_of(ev, lang);
    let path = format!("/admin/evaluations/{}/setup", ev.id);
    page(
        lang,
        user,
        Some(Section::Evaluations),
        &title,
        &path,
        html! {
            nav.crumbs {
                a href=(with_lang("/admin", lang)) { (lang.pick("评估列表", "Evaluations")) } " › "
                a href=(with_lang(&format!("/admin/evaluations/{}", ev.id), lang)) { (title) }
            }
            h1 { (title) " " small.muted { (lang.pick("设置", "set-up")) } }
            (flash(p.message, p.refused))
            (status_card(lang, user, p))
            (super::progress::card(lang, p.progress, true))
            (super::plan::card(lang, user, p))
            (units_card(lang, user, p))
            (links_card(lang, user, p))
            (details_card(lang, user, p))
        },
    )
}
