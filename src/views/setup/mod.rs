//! Pages where an office sets up and runs its evaluations: the unit register, new evaluations,
//! the set-up page (details, units, plan, status), progress, people, keys and the audit log.
//! Forms keep what was typed and show each problem beside its field.

pub mod audit;
pub mod evaluation;
pub mod people;
pub mod plan;
pub mod progress;
pub mod units;

use maud::{html, Markup};

use super::{layout, with_lang};
use crate::auth::{CurrentUser, Role};
use crate::evaluations::FieldError;
use crate::i18n::Lang;

/// Extra CSS of these pages.
const CSS: &str = "\
.field{margin:.6rem 0}.field label{display:block;font-weight:600}\
.field input,.field select,.field textarea{width:100%;max-width:32rem;font-size:1rem;padding:.5rem;border:1px solid #ccc;border-radius:6px}\
.field.err input,.field.err select,.field.err textarea{border:2px solid #c0392b}\
.error{color:#c0392b;font-weight:600;margin:.2rem 0}\
.ok{color:#1d6b1d;font-weight:600}\
.secret{font-family:monospace;word-break:break-all;background:#fff8e1;padding:.5rem;border:1px dashed #8a5a00}\
td input,td select{width:100%;min-width:5rem;font-size:.95rem;padding:.3rem;border:1px solid #ccc;border-radius:4px}\
td.err input,td.err select{border:2px solid #c0392b}\
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}\
.inline{display:inline}.inline button{min-height:36px;padding:.3rem .8rem;font-size:.9rem}\
button.secondary{background:#555}\
.indent1{padding-left:1.5rem}.indent2{padding-left:3rem}.indent3{padding-left:4.5rem}\
.muted small{color:#666}.wide{overflow-x:auto}";

/// Which admin section a page belongs to (for the navigation).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Evaluations,
    Units,
    NewEvaluation,
    Users,
    Keys,
    Audit,
    Account,
    Questionnaires,
}

/// Navigation between the sections the user's role may open.
pub fn admin_nav(lang: Lang, user: &CurrentUser, here: Option<Section>) -> Markup {
    let admin = user.role == Role::Admin;
    let evaluator = user.is_evaluator();
    let item = |s: Section, path: &str, zh: &str, en: &str| {
        let class = if here == Some(s) { "here" } else { "" };
        html! { a class=(class) href=(with_lang(path, lang)) { (lang.pick(zh, en)) } }
    };
    html! {
        style { ".admin-nav{display:flex;flex-wrap:wrap;gap:.25rem 1rem;margin:.25rem 0 1rem;font-size:.95rem}.admin-nav a.here{font-weight:700;text-decoration:none;color:#1a1a1a}" }
        nav.admin-nav.noprint aria-label=(lang.pick("管理导航", "Administration")) {
            @if evaluator {
                (item(Section::Evaluations, "/admin", "评估列表", "Evaluations"))
                (item(Section::NewEvaluation, "/admin/evaluations/new", "新建评估", "New evaluation"))
                (item(Section::Units, "/admin/units", "单位名录", "Units"))
                (item(Section::Questionnaires, "/admin/questionnaires", "问卷库", "Questionnaires"))
                (item(Section::Keys, "/account/keys", "API 密钥", "API keys"))
            }
            @if admin {
                (item(Section::Users, "/admin/users", "用户", "Users"))
                (item(Section::Audit, "/admin/audit", "审计日志", "Audit log"))
            }
            @if user.role == Role::Unit {
                a href=(with_lang("/findings", lang)) { (lang.pick("本单位反馈与整改", "Our reports and findings")) }
            }
            @if user.role == Role::Firm {
                a href=(with_lang("/firm/upload", lang)) { (lang.pick("上传调查数据", "Upload survey data")) }
                a href=(with_lang("/firm/progress", lang)) { (lang.pick("采集进度", "Collection progress")) }
            }
            (item(Section::Account, "/account/password", "修改密码", "Change password"))
        }
    }
}

/// A signed-in page: layout, who is signed in, the navigation, then `body`.
pub fn page(
    lang: Lang,
    user: &CurrentUser,
    here: Option<Section>,
    title: &str,
    path: &str,
    body: Markup,
) -> Markup {
    layout(
        lang,
        title,
        &with_lang(path, lang.other()),
        html! {
            style { (CSS) }
            (super::signed_in_header(lang, user, here))
            (body)
        },
    )
}

/// A page for people who are not signed in (set-password links).
pub fn public_page(lang: Lang, title: &str, path: &str, body: Markup) -> Markup {
    layout(
        lang,
        title,
        &with_lang(path, lang.other()),
        html! { style { (CSS) } (body) },
    )
}

/// The errors of `field` (form fields have no row).
pub fn errors_of<'a>(
    errors: &'a [FieldError],
    field: &'a str,
) -> impl Iterator<Item = &'a FieldError> {
    errors
        .iter()
        .filter(move |e| e.field == field && e.row.is_none())
}

/// The problems of one field, shown beside it.
pub fn field_errors(lang: Lang, errors: &[FieldError], field: &str) -> Markup {
    html! {
        @for e in errors_of(errors, field) {
            p.error role="alert" { (lang.pick(&e.reason_zh, &e.reason)) }
        }
    }
}

/// A labelled text input with the value typed and its problems beside it.
pub fn text_field(
    lang: Lang,
    errors: &[FieldError],
    name: &str,
    label: (&str, &str),
    value: &str,
    input_type: &str,
    required: bool,
) -> Markup {
    let bad = errors_of(errors, name).next().is_some();
    html! {
        div.field.err[bad] {
            label for=(name) { (lang.pick(label.0, label.1)) }
            input id=(name) type=(input_type) name=(name) value=(value) required[required] aria-invalid=[bad.then_some("true")];
            (field_errors(lang, errors, name))
        }
    }
}

/// A select with `options` (value, label), the chosen one kept.
pub fn select_field(
    lang: Lang,
    errors: &[FieldError],
    name: &str,
    label: (&str, &str),
    value: &str,
    options: &[(String, String)],
) -> Markup {
    let bad = errors_of(errors, name).next().is_some();
    html! {
        div.field.err[bad] {
            label for=(name) { (lang.pick(label.0, label.1)) }
            select id=(name) name=(name) aria-invalid=[bad.then_some("true")] {
                @for (v, l) in options { option value=(v) selected[v == value] { (l) } }
            }
            (field_errors(lang, errors, name))
        }
    }
}

/// Problems found in a file or table: row, column, value, reason.
pub fn errors_table(lang: Lang, errors: &[FieldError]) -> Markup {
    html! {
        @if !errors.is_empty() {
            div.card role="alert" {
                h2.error { (lang.pick("未保存：请修正以下问题后重试。", "Nothing was stored: fix these problems and try again.")) }
                div.wide tabindex="0" { table {
                    thead { tr {
                        th { (lang.pick("行", "Row")) } th { (lang.pick("列", "Column")) }
                        th { (lang.pick("值", "Value")) } th { (lang.pick("原因", "Reason")) }
                    } }
                    tbody { @for e in errors.iter().take(500) { tr {
                        td { @if let Some(r) = e.row { (r) } }
                        td { (e.field) }
                        td { (e.value) }
                        td { (lang.pick(&e.reason_zh, &e.reason)) }
                    } } }
                } }
                @if errors.len() > 500 { p.muted { (lang.pick("另有更多问题未列出。", "More problems are not listed.")) } }
            }
        }
    }
}

/// A message after a change went through, or a refusal.
pub fn flash(ok: Option<&str>, refused: Option<&str>) -> Markup {
    html! {
        @if let Some(m) = ok { p.card.ok role="status" { (m) } }
        @if let Some(m) = refused { p.card.error role="alert" { (m) } }
    }
}

/// A hidden CSRF field.
pub fn csrf(user: &CurrentUser) -> Markup {
    html! { input type="hidden" name="_csrf" value=(user.csrf); }
}
