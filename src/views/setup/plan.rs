//! The plan on the set-up page: an editable table (unit × respondent type × questionnaire ×
//! target × firm) with the problems of each row beside it, a file upload of the same table as
//! CSV/XLSX, and a quick fill for every participating unit.

use maud::{html, Markup};

use super::evaluation::SetupPage;
use super::{csrf, errors_table};
use crate::auth::CurrentUser;
use crate::evaluations::plan::suggested_target;
use crate::evaluations::{FieldError, PlanInput};
use crate::i18n::Lang;
use crate::questionnaire::RespondentType;
use crate::views::with_lang;

/// Blank rows under the plan for adding more.
const BLANK_ROWS: usize = 3;

fn rtype_label(code: &str, lang: Lang) -> String {
    code.parse::<RespondentType>()
        .map(|r| lang.pick(r.label_zh(), r.label_en()).to_owned())
        .unwrap_or_else(|_| code.to_owned())
}

fn select(name: &str, value: &str, options: &[(String, String)], bad: bool, label: &str) -> Markup {
    let known = value.is_empty() || options.iter().any(|(v, _)| v == value);
    html! {
        td.err[bad] {
            select name=(name) aria-label=(label) {
                option value="" { "—" }
                @if !known { option value=(value) selected { (value) } }
                @for (v, l) in options { option value=(v) selected[v == value] { (l) } }
            }
        }
    }
}

fn row_errors(errors: &[FieldError], row: u64) -> Vec<&FieldError> {
    errors.iter().filter(|e| e.row == Some(row)).collect()
}

pub fn card(lang: Lang, user: &CurrentUser, p: &SetupPage) -> Markup {
    let id = p.d.evaluation.id;
    let editable = matches!(
        p.d.evaluation.status,
        crate::store::EvaluationStatus::Draft | crate::store::EvaluationStatus::Open
    );
    let units: Vec<(String, String)> = p
        .register
        .iter()
        .filter(|u| u.retired_on.is_none() || p.units.iter().any(|x| x.id == u.id.get()))
        .map(|u| {
            (
                u.code.clone(),
                format!("{} ({})", lang.pick(&u.name_zh, &u.name_en), u.code),
            )
        })
        .collect();
    let types: Vec<(String, String)> = RespondentType::ALL
        .iter()
        .map(|r| {
            (
                r.as_str().to_owned(),
                lang.pick(r.label_zh(), r.label_en()).to_owned(),
            )
        })
        .collect();
    let qs: Vec<(String, String)> = p
        .questionnaires
        .iter()
        .map(|q| {
            (
                format!("{}@{}", q.id, q.version),
                format!(
                    "{} v{} · {}",
                    lang.pick(&q.title_zh, &q.title_en),
                    q.version,
                    rtype_label(q.respondent_type.as_str(), lang)
                ),
            )
        })
        .collect();
    let firms: Vec<(String, String)> = p
        .firms
        .iter()
        .map(|f| (f.name.clone(), f.name.clone()))
        .collect();
    let blank = PlanInput::default();
    let rows: Vec<&PlanInput> = p
        .plan
        .iter()
        .chain(std::iter::repeat_n(&blank, BLANK_ROWS))
        .collect();
    // problems of the table without a row (e.g. no units yet) go above it with the file's
    let general: Vec<FieldError> = p
        .plan_errors
        .iter()
        .filter(|e| e.row.is_none())
        .cloned()
        .collect();
    html! {
        div.card #plan {
            h2 { (lang.pick("调查计划与目标样本量", "Plan and targets")) " "
                small.muted { (p.progress.cells.len()) (lang.pick(" 行，目标合计 ", " rows, target total ")) (p.progress.target_total) } }
            p { a href=(with_lang(&format!("/admin/evaluations/{id}/questionnaires"), lang)) { (lang.pick("查看问卷组合（各类调查对象的问卷与维度对照）", "The questionnaire set: each respondent type's questionnaire and dimensions side by side")) } }
            p.muted { (lang.pick(
                "每行：一个单位的一类调查对象，使用哪份问卷（版本）以及目标有效样本量；可选填负责采集的第三方调查机构。保存时整张表一并检查，任何一行有误则不保存。",
                "Each row: one unit's respondent type, the questionnaire (version) they answer and the target number of responses; optionally the survey firm that collects them. The whole table is checked on saving; one bad row stores nothing.")) }
            (errors_table(lang, p.plan_file_errors))
            (errors_table(lang, &general))
            @if editable {
                form method="post" action=(with_lang(&format!("/admin/evaluations/{id}/plan"), lang)) {
                    (csrf(user))
                    div.wide tabindex="0" { table.plan {
                        thead { tr {
                            th { "#" } th { (lang.pick("单位", "Unit")) } th { (lang.pick("调查对象", "Respondent type")) }
                            th { (lang.pick("问卷", "Questionnaire")) } th.num { (lang.pick("目标", "Target")) } th { (lang.pick("调查机构", "Firm")) }
                        } }
                        tbody { @for (i, r) in rows.iter().enumerate() {
                            @let n = i as u64 + 1;
                            @let errs = row_errors(p.plan_errors, n);
                            @let bad = |f: &str| errs.iter().any(|e| e.field == f);
                            tr {
                                td { (n) }
                                (select("unit", &r.unit, &units, bad("unit"), lang.pick("单位", "Unit")))
                                (select("respondent_type", &r.respondent_type, &types, bad("respondent_type"), lang.pick("调查对象", "Respondent type")))
                                (select("questionnaire", &r.questionnaire, &qs, bad("questionnaire"), lang.pick("问卷", "Questionnaire")))
                                td.num.err[bad("target")] { input type="text" inputmode="numeric" name="target" value=(r.target) aria-label=(lang.pick("目标", "Target")) size="6"; }
                                (select("firm", &r.firm, &firms, bad("firm"), lang.pick("调查机构", "Firm")))
                            }
                            @if !errs.is_empty() { tr { td {} td colspan="5" { @for e in &errs {
                                p.error role="alert" { (e.field) " “" (e.value) "”: " (lang.pick(&e.reason_zh, &e.reason)) }
                            } } } }
                        } }
                    } }
                    button type="submit" { (lang.pick("保存调查计划", "Save the plan")) }
                }
                details open[p.plan.is_empty()] {
                    summary { (lang.pick("为所有参评单位添加一类调查对象", "Add one respondent type for every participating unit")) }
                    form method="post" action=(with_lang(&format!("/admin/evaluations/{id}/plan/fill"), lang)) {
                        (csrf(user))
                        table { tbody { tr {
                            (select("respondent_type", "", &types, false, lang.pick("调查对象", "Respondent type")))
                            (select("questionnaire", "", &qs, false, lang.pick("问卷", "Questionnaire")))
                            td { input type="text" inputmode="numeric" name="target" placeholder=(suggested_target(RespondentType::ServiceUser)) aria-label=(lang.pick("目标", "Target")) size="6"; }
                            (select("firm", "", &firms, false, lang.pick("调查机构", "Firm")))
                        } } }
                        button type="submit" { (lang.pick("添加到计划", "Add to the plan")) }
                    }
                }
                details {
                    summary { (lang.pick("从 CSV/XLSX 文件导入计划（替换全部）", "Import the plan from a CSV/XLSX file (replaces it)")) }
                    p.muted { "unit,respondent_type,questionnaire,target[,firm] — questionnaire " code { "id" } (lang.pick(" 或 ", " or ")) code { "id@version" } }
                    form method="post" action=(with_lang(&format!("/admin/evaluations/{id}/plan/file"), lang)) enctype="multipart/form-data" {
                        (csrf(user))
                        input type="file" name="file" required aria-label=(lang.pick("计划文件", "Plan file"));
                        " " button type="submit" { (lang.pick("导入", "Import")) }
                    }
                }
            } @else {
                p.muted { (lang.pick("收集已结束，计划不再修改（重新开放后可修改）。", "Collection has ended; the plan no longer changes (re-open to change it).")) }
            }
            p { a href={ "/api/v1/evaluations/" (id) "/plan.csv" } { (lang.pick("下载计划 (CSV)", "Download the plan (CSV)")) } }
        }
    }
}
