//! The unit register page: the tree of units, the import form with its error table, a form to
//! add or edit one unit, and retiring.

use maud::{html, Markup};

use super::{csrf, errors_table, field_errors, flash, page, select_field, text_field, Section};
use crate::auth::CurrentUser;
use crate::evaluations::units::tree;
use crate::evaluations::{FieldError, ImportSummary, UnitInput};
use crate::i18n::Lang;
use crate::store::{RegisterUnit, UnitKind, UnitUsage};
use crate::views::with_lang;

fn kind_options(lang: Lang) -> Vec<(String, String)> {
    std::iter::once((
        String::new(),
        lang.pick("（请选择）", "(choose)").to_owned(),
    ))
    .chain(UnitKind::ALL.iter().map(|k| {
        (
            k.as_str().to_owned(),
            lang.pick(k.label_zh(), k.label_en()).to_owned(),
        )
    }))
    .collect()
}

/// What the register page shows besides the register.
#[derive(Default)]
pub struct RegisterPage<'a> {
    pub imported: Option<&'a ImportSummary>,
    pub file_errors: &'a [FieldError],
    pub one: Option<&'a UnitInput>,
    pub one_errors: &'a [FieldError],
    pub message: Option<&'a str>,
}

pub fn register(
    lang: Lang,
    user: &CurrentUser,
    units: &[RegisterUnit],
    p: &RegisterPage,
) -> Markup {
    let title = lang.pick("单位名录", "Unit register");
    let empty = UnitInput::default();
    let one = p.one.unwrap_or(&empty);
    let in_use = units.iter().filter(|u| u.retired_on.is_none()).count();
    page(
        lang,
        user,
        Some(Section::Units),
        title,
        "/admin/units",
        html! {
            h1 { (title) }
            (flash(p.message, None))
            @if let Some(s) = p.imported {
                p.card.ok role="status" {
                    (lang.pick("已导入", "Imported")) " " (s.rows) " " (lang.pick("行：新增", "rows: added")) " " (s.added)
                    (lang.pick("，更新", ", updated")) " " (s.updated) (lang.pick("，未变", ", unchanged")) " " (s.unchanged) "."
                }
            }
            (errors_table(lang, p.file_errors))
            div.card {
                h2 { (lang.pick("从文件导入或更新", "Import or update from a file")) }
                p.muted { (lang.pick(
                    "CSV（UTF-8 或 GB18030）或 XLSX，列：code,name_zh,name_en,kind,parent。kind 为 government_department（政府工作部门）、affiliated_institution（直属事业单位）、sub_unit（下属单位）或 internal_division（内设机构）；parent 为上级单位代码。已有代码的单位按文件更新；任何一行有误则全部不保存。",
                    "CSV (UTF-8 or GB18030) or XLSX with the columns code,name_zh,name_en,kind,parent. kind is government_department, affiliated_institution, sub_unit or internal_division (or its Chinese name); parent is the parent unit's code. Units whose code exists are updated; one bad row stores nothing.")) }
                form method="post" action=(with_lang("/admin/units/import", lang)) enctype="multipart/form-data" {
                    (csrf(user))
                    div.field { label for="file" { (lang.pick("单位名录文件", "Register file")) } input id="file" type="file" name="file" required; }
                    button type="submit" { (lang.pick("导入", "Import")) }
                }
                p { a href="/api/v1/units.csv" { (lang.pick("下载当前名录 (CSV)", "Download the register (CSV)")) } }
            }
            div.card {
                h2 { (lang.pick("名录", "Register")) " " small.muted { (in_use) " " (lang.pick("个在用", "in use")) " · " (units.len() - in_use) " " (lang.pick("个已停用", "retired")) } }
                @if units.is_empty() { p.muted { (lang.pick("名录为空：请导入单位。", "The register is empty: import the units.")) } }
                @else { div.wide tabindex="0" { table {
                    thead { tr {
                        th { (lang.pick("单位", "Unit")) } th { (lang.pick("代码", "Code")) }
                        th { (lang.pick("类型", "Kind")) } th { (lang.pick("状态", "Status")) } th {}
                    } }
                    tbody { @for (depth, u) in tree(units) { tr {
                        td class={ "indent" (depth.min(3)) } { (lang.pick(&u.name_zh, &u.name_en)) }
                        td { code { (u.code) } }
                        td { (lang.pick(u.kind.label_zh(), u.kind.label_en())) }
                        td { @match &u.retired_on { Some(d) => { span.muted { (lang.pick("已停用 ", "retired ")) (d) } }, None => { (lang.pick("在用", "in use")) } } }
                        td { a href=(with_lang(&format!("/admin/units/{}", u.code), lang)) { (lang.pick("编辑", "Edit")) } }
                    } } }
                } } }
            }
            div.card #add {
                h2 { (lang.pick("添加单位", "Add a unit")) }
                (unit_form(lang, user, "/admin/units", one, p.one_errors, true))
            }
        },
    )
}

fn unit_form(
    lang: Lang,
    user: &CurrentUser,
    action: &str,
    u: &UnitInput,
    errors: &[FieldError],
    new: bool,
) -> Markup {
    html! {
        form method="post" action=(with_lang(action, lang)) {
            (csrf(user))
            @if new {
                (text_field(lang, errors, "code", ("代码", "Code"), &u.code, "text", true))
            } @else {
                input type="hidden" name="code" value=(u.code);
                (field_errors(lang, errors, "code"))
            }
            (text_field(lang, errors, "name_zh", ("中文名称", "Chinese name"), &u.name_zh, "text", true))
            (text_field(lang, errors, "name_en", ("英文名称（可空）", "English name (optional)"), &u.name_en, "text", false))
            (select_field(lang, errors, "kind", ("类型", "Kind"), &u.kind, &kind_options(lang)))
            (text_field(lang, errors, "parent", ("上级单位代码（可空）", "Parent unit code (optional)"), &u.parent, "text", false))
            button type="submit" { (lang.pick("保存", "Save")) }
        }
    }
}

/// One unit: edit it, see what it was used for, retire it or put it back.
pub fn edit(
    lang: Lang,
    user: &CurrentUser,
    unit: &RegisterUnit,
    usage: UnitUsage,
    input: &UnitInput,
    errors: &[FieldError],
    message: Option<&str>,
) -> Markup {
    let title = format!(
        "{} · {}",
        lang.pick("编辑单位", "Edit unit"),
        lang.pick(&unit.name_zh, &unit.name_en)
    );
    let path = format!("/admin/units/{}", unit.code);
    page(
        lang,
        user,
        Some(Section::Units),
        &title,
        &path,
        html! {
            nav.crumbs { a href=(with_lang("/admin/units", lang)) { (lang.pick("单位名录", "Unit register")) } }
            h1 { (lang.pick(&unit.name_zh, &unit.name_en)) " " small { code { (unit.code) } } }
            (flash(message, None))
            p.muted {
                (lang.pick("参加评估", "Evaluations")) " " (usage.evaluations) " · " (lang.pick("答卷", "Responses")) " " (usage.responses)
                @if let Some(d) = &unit.retired_on { " · " strong { (lang.pick("已于 ", "Retired on ")) (d) (lang.pick(" 停用", "")) } }
            }
            div.card { (unit_form(lang, user, &path, input, errors, false)) }
            div.card {
                @if unit.retired_on.is_none() {
                    h2 { (lang.pick("停用", "Retire")) }
                    p.muted { (lang.pick("停用的单位保留在名录中，历史答卷和结果不变；它不再出现在新评估中。", "A retired unit stays in the register with its responses and results; it no longer joins new evaluations.")) }
                    form method="post" action=(with_lang(&format!("{path}/retire"), lang)) {
                        (csrf(user))
                        div.field { label for="reason" { (lang.pick("原因", "Reason")) } input id="reason" type="text" name="reason"; }
                        button.secondary type="submit" { (lang.pick("停用该单位", "Retire this unit")) }
                    }
                } @else {
                    form method="post" action=(with_lang(&format!("{path}/restore"), lang)) {
                        (csrf(user))
                        input type="hidden" name="reason" value="";
                        button type="submit" { (lang.pick("恢复在用", "Put back in use")) }
                    }
                }
            }
        },
    )
}
