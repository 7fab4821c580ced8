//! People and keys: the admin's users page (create, disable, reset: a one-time link shown
//! once), a user's password change, the set-password page of a link, and API keys.

use maud::{html, Markup};

use super::{
    csrf, errors_of, field_errors, flash, page, public_page, select_field, text_field, Section,
};
use crate::accounts::{Delivery, KeyInput, NewKeyShown, PasswordLink, UserInput};
use crate::auth::{CurrentUser, Role};
use crate::evaluations::FieldError;
use crate::i18n::Lang;
use crate::store::{FirmRow, KeyRow, RegisterUnit, UserRow};
use crate::views::with_lang;

/// A one-time link, shown once (or where it was e-mailed).
fn link_shown(lang: Lang, base: &str, who: &str, l: &PasswordLink, sent: &Delivery) -> Markup {
    if let Delivery::Sent(to) = sent {
        return html! {
            div.card role="status" { p.ok {
                (lang.pick("设置密码的一次性链接已发送至 ", "The one-time set-password link was e-mailed to ")) strong { (to) }
                (lang.pick("（", " (")) (who) (lang.pick("），", "); it works until ")) (crate::timefmt::local(&l.expires_at)) (lang.pick(" 前有效。", "."))
            } }
        };
    }
    html! {
        div.card role="status" {
            @if let Delivery::Failed(e) = sent {
                p.error { (lang.pick("邮件未能发送（", "The e-mail could not be sent (")) (e) (lang.pick("），请把链接直接交给用户。", "); give the link to the user yourself.")) }
            }
            p.ok { (lang.pick("请把以下一次性链接交给 ", "Give this one-time link to ")) strong { (who) }
                (lang.pick("，用于设置密码。链接只显示这一次，", " to set a password. It is shown only now and works once, until "))
                (crate::timefmt::local(&l.expires_at)) (lang.pick(" 前有效，仅可使用一次。", ".")) }
            p.secret.password-link { (base) (l.path) }
        }
    }
}

pub struct UsersPage<'a> {
    pub users: &'a [UserRow],
    pub units: &'a [RegisterUnit],
    pub firms: &'a [FirmRow],
    pub input: &'a UserInput,
    pub errors: &'a [FieldError],
    /// A link just made: (user name, link, whether it was e-mailed).
    pub link: Option<(&'a str, &'a PasswordLink, &'a Delivery)>,
    pub public_url: &'a str,
    pub message: Option<&'a str>,
    pub refused: Option<&'a str>,
}

pub fn users(lang: Lang, user: &CurrentUser, p: &UsersPage) -> Markup {
    let title = lang.pick("用户", "Users");
    let roles: Vec<(String, String)> = std::iter::once((
        String::new(),
        lang.pick("（请选择）", "(choose)").to_owned(),
    ))
    .chain(
        [Role::Admin, Role::Evaluator, Role::Firm, Role::Unit]
            .iter()
            .map(|r| (r.as_str().to_owned(), r.label(lang).to_owned())),
    )
    .collect();
    let units: Vec<(String, String)> = std::iter::once((String::new(), "—".to_owned()))
        .chain(p.units.iter().filter(|u| u.retired_on.is_none()).map(|u| {
            (
                u.code.clone(),
                format!("{} ({})", lang.pick(&u.name_zh, &u.name_en), u.code),
            )
        }))
        .collect();
    let unit_name = |id: Option<i64>| {
        id.and_then(|id| p.units.iter().find(|u| u.id.get() == id))
            .map(|u| lang.pick(&u.name_zh, &u.name_en).to_owned())
    };
    let firm_name = |id: Option<i64>| {
        id.and_then(|id| p.firms.iter().find(|f| f.id == id))
            .map(|f| f.name.clone())
    };
    page(
        lang,
        user,
        Some(Section::Users),
        title,
        "/admin/users",
        html! {
            h1 { (title) }
            (flash(p.message, p.refused))
            @if let Some((who, l, sent)) = p.link { (link_shown(lang, p.public_url, who, l, sent)) }
            div.card { div.wide tabindex="0" { table {
                thead { tr {
                    th { (lang.pick("用户名", "Name")) } th { (lang.pick("角色", "Role")) } th { (lang.pick("单位 / 机构", "Unit / firm")) }
                    th { (lang.pick("状态", "Status")) } th {}
                } }
                tbody { @for u in p.users { tr {
                    td { (u.name) }
                    td { (u.role.parse::<Role>().map(|r| r.label(lang).to_owned()).unwrap_or_else(|_| u.role.clone())) }
                    td { (unit_name(u.unit_id).or_else(|| firm_name(u.firm_id)).unwrap_or_default()) }
                    td { @if u.disabled != 0 { span.muted { (lang.pick("已停用", "disabled")) } } @else { (lang.pick("在用", "active")) } }
                    td {
                        @let base = format!("/admin/users/{}", u.id);
                        form.inline method="post" action=(with_lang(&format!("{base}/reset"), lang)) {
                            (csrf(user)) button.secondary type="submit" { (lang.pick("重置密码", "Reset password")) }
                        }
                        " "
                        @if u.disabled == 0 {
                            form.inline method="post" action=(with_lang(&format!("{base}/disable"), lang)) {
                                (csrf(user)) button.secondary type="submit" { (lang.pick("停用", "Disable")) }
                            }
                        } @else {
                            form.inline method="post" action=(with_lang(&format!("{base}/enable"), lang)) {
                                (csrf(user)) button type="submit" { (lang.pick("启用", "Enable")) }
                            }
                        }
                    }
                } } }
            } } }
            div.card #new-user {
                h2 { (lang.pick("新建用户", "New user")) }
                p.muted { (lang.pick("新用户通过一次性链接自行设置密码。被评估单位用户须选择单位；调查机构用户须填写机构名称（不存在时新建）。",
                                     "A new user sets a password through a one-time link. A unit user needs its unit; a firm user its survey firm's name (created when new).")) }
                form method="post" action=(with_lang("/admin/users", lang)) {
                    (csrf(user))
                    (text_field(lang, p.errors, "name", ("用户名", "User name"), &p.input.name, "text", true))
                    (select_field(lang, p.errors, "role", ("角色", "Role"), &p.input.role, &roles))
                    (select_field(lang, p.errors, "unit", ("单位（仅被评估单位用户）", "Unit (unit users only)"), &p.input.unit, &units))
                    (text_field(lang, p.errors, "firm", ("调查机构名称（仅调查机构用户）", "Survey firm (firm users only)"), &p.input.firm, "text", false))
                (text_field(lang, p.errors, "email", ("电子邮箱（可空；配置了邮件服务时，设置密码链接将发送至此）", "E-mail (optional; with e-mail configured the set-password link is sent there)"), &p.input.email, "email", false))
                    button type="submit" { (lang.pick("创建并生成设置密码链接", "Create and make a set-password link")) }
                }
            }
        },
    )
}

fn password_fields(lang: Lang, errors: &[FieldError]) -> Markup {
    html! {
        (text_field(lang, errors, "password", ("新密码（至少 10 个字符）", "New password (at least 10 characters)"), "", "password", true))
        (text_field(lang, errors, "confirm", ("再次输入新密码", "New password again"), "", "password", true))
    }
}

pub fn set_password(lang: Lang, path: &str, name: Option<&str>, errors: &[FieldError]) -> Markup {
    let title = lang.pick("设置密码", "Set your password");
    public_page(
        lang,
        title,
        path,
        html! {
            h1 { (title) }
            @match name {
                None => p.card.error role="alert" { (lang.pick("该链接无效、已使用或已过期。请联系管理员重新生成。", "This link is not valid, was used or has expired. Ask your administrator for a new one.")) },
                Some(name) => form.card method="post" action=(with_lang(path, lang)) {
                    p { (lang.pick("用户名：", "User name: ")) strong { (name) } }
                    (password_fields(lang, errors))
                    button type="submit" { (lang.pick("设置密码", "Set the password")) }
                },
            }
        },
    )
}

pub fn password_set(lang: Lang, path: &str) -> Markup {
    let title = lang.pick("密码已设置", "Password set");
    public_page(
        lang,
        title,
        path,
        html! {
            h1 { (title) }
            p.card.ok role="status" { (lang.pick("密码已设置，请登录。", "Your password is set; please sign in.")) }
            p { a.button href=(with_lang("/login", lang)) { (lang.pick("登录", "Sign in")) } }
        },
    )
}

pub struct KeysPage<'a> {
    pub keys: &'a [KeyRow],
    pub input: &'a KeyInput,
    pub errors: &'a [FieldError],
    pub created: Option<&'a NewKeyShown>,
    pub message: Option<&'a str>,
    pub refused: Option<&'a str>,
    pub now: &'a str,
}

pub fn keys(lang: Lang, user: &CurrentUser, p: &KeysPage) -> Markup {
    let title = lang.pick("API 密钥", "API keys");
    page(
        lang,
        user,
        Some(Section::Keys),
        title,
        "/account/keys",
        html! {
            h1 { (title) }
            (flash(p.message, p.refused))
            @if let Some(k) = p.created {
                div.card role="status" {
                    p.ok { (lang.pick("新密钥（只显示这一次，请妥善保存；请求时发送 Authorization: Bearer 密钥）：", "Your new key (shown only now; keep it safe; send it as Authorization: Bearer KEY):")) }
                    p.secret.api-key { (k.key) }
                }
            }
            div.card { div.wide tabindex="0" { table {
                thead { tr {
                    th { (lang.pick("前缀", "Prefix")) } th { (lang.pick("名称", "Name")) }
                    @if user.role == Role::Admin { th { (lang.pick("用户", "User")) } }
                    th { (lang.pick("到期", "Expires")) } th { (lang.pick("最近使用", "Last used")) } th { (lang.pick("状态", "Status")) } th {}
                } }
                tbody { @for k in p.keys { tr {
                    td { code { (k.prefix) "…" } } td { (k.label) }
                    @if user.role == Role::Admin { td { (k.user_name) } }
                    td { (k.expires_at.as_deref().map(crate::timefmt::local).unwrap_or_else(|| "—".into())) }
                    td { (k.last_used_at.as_deref().map(crate::timefmt::local).unwrap_or_else(|| lang.pick("从未", "never").into())) }
                    td { @if k.revoked != 0 { span.muted { (lang.pick("已吊销", "revoked")) } } @else if !k.is_active(p.now) { span.muted { (lang.pick("已过期", "expired")) } } @else { (lang.pick("有效", "active")) } }
                    td { @if k.revoked == 0 {
                        form.inline method="post" action=(with_lang(&format!("/account/keys/{}/revoke", k.id), lang)) {
                            (csrf(user)) button.secondary type="submit" { (lang.pick("吊销", "Revoke")) }
                        }
                    } }
                } } }
            } } }
            div.card {
                h2 { (lang.pick("新建密钥", "New key")) }
                form method="post" action=(with_lang("/account/keys", lang)) {
                    (csrf(user))
                    (text_field(lang, p.errors, "label", ("名称（用途）", "Name (what it is for)"), &p.input.label, "text", false))
                    (text_field(lang, p.errors, "expires_days", ("有效天数", "Days until it expires"), if p.input.expires_days.is_empty() { "90" } else { p.input.expires_days.as_str() }, "number", true))
                    @if errors_of(p.errors, "user").next().is_some() { (field_errors(lang, p.errors, "user")) }
                    button type="submit" { (lang.pick("创建密钥", "Create the key")) }
                }
            }
        },
    )
}
