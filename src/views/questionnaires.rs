//! The questionnaire library pages: every version with its origin and responses, the import
//! form, one version's content with its differences from the previous version, the phone
//! preview, and an evaluation's questionnaire bank.

use maud::{html, Markup};

use super::setup::{csrf, flash, page, Section};
use super::with_lang;
use crate::auth::CurrentUser;
use crate::i18n::Lang;
use crate::library::{Bank, Comparison, VersionInfo};
use crate::questionnaire::xlsform::{Change, Problem};
use crate::questionnaire::{Question, QuestionKind, Questionnaire, Text};

fn t(lang: Lang, text: &Text) -> &str {
    lang.pick(&text.zh, &text.en)
}

/// How a question's answer is given, in words.
fn kind_label(lang: Lang, q: &Question) -> &'static str {
    match q.kind {
        QuestionKind::Likert5(_) => lang.pick("五级满意度", "5-point satisfaction"),
        QuestionKind::Single { .. } => lang.pick("单选", "single choice"),
        QuestionKind::Multiple { .. } => lang.pick("多选", "multiple choice"),
        QuestionKind::Rating { .. } => lang.pick("0–10 分", "0–10 rating"),
        QuestionKind::Number { .. } => lang.pick("数字", "number"),
        QuestionKind::Text { .. } => lang.pick("文字", "text"),
    }
}

/// The version's page address.
pub fn version_path(q: &Questionnaire) -> String {
    format!("/admin/questionnaires/{}/{}", q.id, q.version)
}

/// What went wrong with an import, for the list page.
pub enum ImportProblem<'a> {
    /// Problems of the workbook or file, each at its place.
    Problems(&'a [Problem], usize),
    /// Lines of a TOML file's problems.
    Lines(&'a [String]),
    /// The same version is stored with other content.
    Differs {
        name: String,
        answered: Option<i64>,
        changes: &'a [Change],
    },
    /// Anything else, as a sentence.
    Message(String),
}

#[derive(Default)]
pub struct ListPage<'a> {
    pub message: Option<&'a str>,
    pub problem: Option<ImportProblem<'a>>,
}

pub fn list(lang: Lang, user: &CurrentUser, versions: &[VersionInfo], p: &ListPage<'_>) -> Markup {
    let title = lang.pick("问卷库", "Questionnaires");
    page(
        lang,
        user,
        Some(Section::Questionnaires),
        title,
        "/admin/questionnaires",
        html! {
            h1 { (title) }
            (flash(p.message, None))
            @if let Some(problem) = &p.problem { (import_problem(lang, problem)) }
            div.card {
                h2 { (lang.pick("导入问卷（XLSForm 工作簿）", "Import a questionnaire (XLSForm workbook)")) }
                p { (lang.pick(
                    "用 Excel 或 WPS 编辑工作簿（survey、choices、settings 三张表），在 settings 表中填写 form_id、version 和 respondent_type。可先下载下表中任一问卷的工作簿作为模板。",
                    "Edit the workbook in Excel or WPS (sheets survey, choices, settings) and fill in form_id, version and respondent_type on the settings sheet. Download any questionnaire below as a starting template."
                )) }
                form method="post" action=(with_lang("/admin/questionnaires/import", lang)) enctype="multipart/form-data" {
                    (csrf(user))
                    div.field {
                        label for="file" { (lang.pick("工作簿文件（.xlsx）或 TOML 文件", "Workbook (.xlsx) or TOML file")) }
                        input id="file" type="file" name="file" accept=".xlsx,.toml" required;
                    }
                    div.field {
                        label {
                            input type="checkbox" name="replace" value="1";
                            " " (lang.pick("同一版本内容不同时替换（仅限尚无回答的版本）", "Replace the same version if its content differs (only while it has no responses)"))
                        }
                    }
                    button type="submit" { (lang.pick("导入", "Import")) }
                }
            }
            div.wide { table {
                thead { tr {
                    th { (lang.pick("问卷", "Questionnaire")) }
                    th { (lang.pick("版本", "Version")) }
                    th { (lang.pick("调查对象", "Respondents")) }
                    th.num { (lang.pick("题数", "Questions")) }
                    th.num { (lang.pick("已收回答", "Responses")) }
                    th { (lang.pick("来源", "Origin")) }
                    th { (lang.pick("下载", "Download")) }
                } }
                tbody { @for v in versions {
                    @let q = &v.questionnaire;
                    tr {
                        td { a href=(with_lang(&version_path(q), lang)) { (t(lang, &q.title)) } }
                        td.num { (q.version) }
                        td { (t(lang, &q.respondent_type.label())) }
                        td.num { (q.questions.len()) }
                        td.num { (v.responses) }
                        td { @if v.shipped { (lang.pick("系统内置", "shipped")) } @else { (lang.pick("本单位导入", "imported")) } }
                        td {
                            a href=(format!("{}/download?format=xlsx", version_path(q))) { "XLSX" } " · "
                            a href=(format!("{}/download?format=toml", version_path(q))) { "TOML" }
                        }
                    }
                } }
            } }
        },
    )
}

fn import_problem(lang: Lang, problem: &ImportProblem<'_>) -> Markup {
    html! {
        div.card role="alert" {
            @match problem {
                ImportProblem::Problems(list, more) => {
                    h2.error { (lang.pick("未导入：工作簿有以下问题（工作表!单元格：问题）", "Not imported: the workbook has these problems (sheet!cell: what is wrong)")) }
                    ul { @for p in *list { li { code { (p.sheet) @if !p.cell.is_empty() { "!" (p.cell) } } " " (p.message) } } }
                    @if *more > 0 { p.muted { (lang.pick("另有更多问题未列出：", "More problems not listed: ")) (more) } }
                }
                ImportProblem::Lines(lines) => {
                    h2.error { (lang.pick("未导入：文件有以下问题", "Not imported: the file has these problems")) }
                    ul { @for l in *lines { li { (l) } } }
                }
                ImportProblem::Differs { name, answered, changes } => {
                    h2.error { (lang.pick("未导入：该版本已存在且内容不同", "Not imported: this version exists with other content")) }
                    p {
                        (name) " "
                        @if let Some(n) = answered {
                            (lang.pick("已有回答，不能修改：", "has responses and cannot change: ")) (n)
                        } @else {
                            (lang.pick("尚无回答：可勾选“替换”后重新导入。", "has no responses yet: tick “Replace” and import again."))
                        }
                    }
                    p { (lang.pick("如需新版本，请在 settings 表中提高 version 后重新导入。", "To make a new version, raise version on the settings sheet and import again.")) }
                    (changes_table(lang, changes))
                }
                ImportProblem::Message(m) => { p.error { (m) } }
            }
        }
    }
}

/// Differences between two versions, one per row.
pub fn changes_table(lang: Lang, changes: &[Change]) -> Markup {
    html! {
        @if changes.is_empty() {
            p { (lang.pick("内容相同。", "The content is the same.")) }
        } @else {
            div.wide { table {
                thead { tr {
                    th { (lang.pick("变化", "Change")) }
                    th { (lang.pick("题目或设置", "Item")) }
                    th { (lang.pick("原为", "Before")) }
                    th { (lang.pick("现为", "After")) }
                } }
                tbody { @for c in changes { tr {
                    td { (t(lang, &c.kind.label())) }
                    td { (c.item) }
                    td { (c.before) }
                    td { (c.after) }
                } } }
            } }
        }
    }
}

pub struct VersionPage<'a> {
    pub info: &'a VersionInfo,
    pub comparison: Option<&'a Comparison>,
    pub message: Option<&'a str>,
}

pub fn version(lang: Lang, user: &CurrentUser, p: &VersionPage<'_>) -> Markup {
    let q = &p.info.questionnaire;
    let path = version_path(q);
    let title = format!(
        "{}（{} {}）",
        t(lang, &q.title),
        lang.pick("版本", "version"),
        q.version
    );
    page(
        lang,
        user,
        Some(Section::Questionnaires),
        &title,
        &path,
        html! {
            p.noprint { a href=(with_lang("/admin/questionnaires", lang)) { "← " (lang.pick("问卷库", "Questionnaires")) } }
            h1 { (title) }
            (flash(p.message, None))
            p {
                (lang.pick("调查对象：", "Respondents: ")) (t(lang, &q.respondent_type.label()))
                " · " (lang.pick("题数：", "Questions: ")) (q.questions.len())
                " · " (lang.pick("已收回答：", "Responses: ")) (p.info.responses)
                @if p.info.responses > 0 { " · " (lang.pick("已有回答，内容不可修改", "answered: its content cannot change")) }
            }
            p {
                a href=(format!("{path}/download?format=xlsx")) { (lang.pick("下载 XLSForm 工作簿", "Download XLSForm workbook")) } " · "
                a href=(format!("{path}/download?format=toml")) { (lang.pick("下载 TOML", "Download TOML")) }
            }
            h2 { (lang.pick("手机预览", "Phone preview")) }
            p { (lang.pick("与受访者在手机上看到的完全一致；可以作答并提交检查，预览中的回答不会保存。", "Exactly what a respondent sees on a phone; you can answer and submit to check, nothing in the preview is stored.")) }
            p {
                a href=(format!("{path}/preview?lang=zh")) target="_blank" { "中文预览" } " · "
                a href=(format!("{path}/preview?lang=en")) target="_blank" { "English preview" }
            }
            iframe.preview title=(lang.pick("手机预览", "Phone preview")) src=(format!("{path}/preview?lang={}", lang.code())) width="360" height="740" style="border:1px solid #999;border-radius:12px;max-width:100%" {}
            h2 { (lang.pick("维度", "Dimensions")) }
            ul { @for d in &q.dimensions {
                li { (t(lang, &d.name)) " — " (q.questions.iter().filter(|x| x.dimension.as_deref() == Some(d.code.as_str())).count()) " " (lang.pick("题", "questions")) }
            } }
            h2 { (lang.pick("题目", "Questions")) }
            div.wide { table {
                thead { tr {
                    th.num { "#" }
                    th { (lang.pick("题目", "Question")) }
                    th { (lang.pick("题型", "Answer")) }
                    th { (lang.pick("维度", "Dimension")) }
                    th { (lang.pick("必答", "Required")) }
                    th { (lang.pick("显示条件", "Shown when")) }
                } }
                tbody { @for (i, x) in q.questions.iter().enumerate() { tr {
                    td.num { (i + 1) }
                    td { (t(lang, &x.text)) }
                    td { (kind_label(lang, x)) }
                    td { @if let Some(d) = x.dimension.as_deref().and_then(|c| q.dimension(c)) { (t(lang, &d.name)) } @else { "—" } }
                    td { @if x.required { (lang.pick("是", "yes")) } @else { (lang.pick("否", "no")) } }
                    td { @if let Some(s) = &x.show_if {
                        @let n = q.question_index(&s.question).map_or(0, |k| k + 1);
                        (lang.pick("第 ", "if question ")) (n) (lang.pick(" 题选 ", " is ")) (s.values.join(lang.pick("、", ", ")))
                    } @else { "—" } }
                } } }
            } }
            h2 { (lang.pick("与上一版本比较", "Compared with the previous version")) }
            @match p.comparison {
                None => { p { (lang.pick("没有更早的版本。", "There is no earlier version.")) } }
                Some(c) => {
                    p { (lang.pick("比较对象：版本 ", "Against version ")) (c.old.version) " · "
                        (lang.pick("可跨年比较的题目：", "items compared year over year: ")) (c.comparable.len()) }
                    (changes_table(lang, &c.changes))
                }
            }
        },
    )
}

pub fn bank(lang: Lang, user: &CurrentUser, evaluation: (i64, &str), b: &Bank) -> Markup {
    let title = format!(
        "{} · {}",
        evaluation.1,
        lang.pick("问卷组合", "Questionnaire set")
    );
    let path = format!("/admin/evaluations/{}/questionnaires", evaluation.0);
    page(
        lang,
        user,
        Some(Section::Evaluations),
        &title,
        &path,
        html! {
            p.noprint { a href=(with_lang(&format!("/admin/evaluations/{}/setup", evaluation.0), lang)) { "← " (lang.pick("评估设置", "Evaluation set-up")) } }
            h1 { (title) }
            p { (lang.pick("每列是一类调查对象使用的问卷；每行是一个维度，格中数字为该问卷在此维度的题数（— 表示未问）。", "Each column is the questionnaire one respondent type answers; each row a dimension; a cell gives how many questions of that dimension it asks (— = not asked).")) }
            @if !b.missing.is_empty() {
                p.error role="alert" { (lang.pick("计划中有未登记的问卷版本：", "The plan names questionnaire versions that are not registered: ")) (b.missing.join(", ")) }
            }
            @if b.types.is_empty() {
                p { (lang.pick("该评估尚未设置计划。", "The evaluation has no plan yet.")) }
            } @else {
                div.wide { table {
                    thead {
                        tr {
                            th { (lang.pick("维度", "Dimension")) }
                            @for (rtype, qs) in &b.types {
                                th {
                                    (t(lang, &rtype.label()))
                                    @for q in qs { br; small { a href=(with_lang(&version_path(q), lang)) { (t(lang, &q.title)) " v" (q.version) } } }
                                }
                            }
                        }
                    }
                    tbody { @for r in &b.rows { tr {
                        th scope="row" { (t(lang, &r.name)) }
                        @for c in &r.cells { td.num { @if c.questions == 0 { "—" } @else { (c.questions) } } }
                    } } }
                } }
            }
        },
    )
}

/// The preview's answer to a valid submission: checked, nothing stored.
pub fn preview_checked(lang: Lang, switch: &str, back: &str) -> Markup {
    let title = lang.pick("预览：回答有效", "Preview: the answers are valid");
    super::layout(
        lang,
        title,
        switch,
        html! {
            div.card {
                h1 { (title) }
                p { (lang.pick("这是预览，回答没有保存。受访者提交后会看到感谢页面。", "This is a preview: nothing was stored. A respondent would now see the thank-you page.")) }
                p { a href=(back) { (lang.pick("再次预览", "Preview again")) } }
            }
        },
    )
}
