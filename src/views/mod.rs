//! maud views: one `layout()`, one function per page, small components.

pub mod charts;
pub mod finding;
pub mod findings;
pub mod followup;
pub mod home;
pub mod invitations;
pub mod public;
pub mod questionnaires;
pub mod ranking;
pub mod report;
pub mod results;
pub mod scores;
pub mod setup;
pub mod survey;

use maud::{html, Markup, DOCTYPE};

use crate::auth::CurrentUser;
use crate::i18n::Lang;

const CSS: &str = include_str!("style.css");

/// The page shell. `path_zh`/`path_en` are this page's URL in each language for the switch.
pub fn layout(lang: Lang, title: &str, switch_href: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(lang.html_lang()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                link rel="icon" type="image/svg+xml" href="/favicon.ico";
                title { (title) " · " (lang.pick("评议", "pingyi")) }
                style { (maud::PreEscaped(CSS)) }
            }
            body {
                header.top {
                    a.brand href={ "/?lang=" (lang.code()) } { "评议 " span.en { "pingyi" } }
                    a.lang href=(switch_href) lang=(lang.other().html_lang()) {
                        (lang.pick("English", "中文"))
                    }
                }
                main { (body) }
                footer {
                    p { (lang.pick("评议 · 政府绩效满意度评价平台", "pingyi · satisfaction evaluation for government performance")) }
                }
            }
        }
    }
}

/// The signed-in user's bar on every signed-in page: who is signed in, their role, and a sign-out
/// button. Signing out is a POST with the session's CSRF token (a link could be triggered by any
/// page and would not reach the POST-only route).
pub fn account_bar(lang: Lang, user: &CurrentUser) -> Markup {
    html! {
        div.account.noprint {
            span.who { (user.name) " · " (user.role.label(lang)) }
            " "
            form.signout method="post" action=(with_lang("/logout", lang)) {
                input type="hidden" name="_csrf" value=(user.csrf);
                button type="submit" { (lang.pick("退出登录", "Sign out")) }
            }
        }
    }
}

/// The header of every signed-in page: who is signed in with the sign-out button, then the
/// navigation of the sections the role may open (`here` marked).
pub fn signed_in_header(lang: Lang, user: &CurrentUser, here: Option<setup::Section>) -> Markup {
    html! {
        (account_bar(lang, user))
        (setup::admin_nav(lang, user, here))
    }
}

/// Appends `lang=` to a path, keeping other query parameters.
pub fn with_lang(path: &str, lang: Lang) -> String {
    let sep = if path.contains('?') { '&' } else { '?' };
    format!("{path}{sep}lang={}", lang.code())
}

/// An error page for browsers: a message only, details stay in the log.
pub fn error_page(lang: Lang, status: u16, message_zh: &str, message_en: &str) -> Markup {
    let title = match lang {
        Lang::Zh => format!("出错了 ({status})"),
        Lang::En => format!("Something went wrong ({status})"),
    };
    layout(
        lang,
        &title,
        &with_lang("/", lang.other()),
        html! {
            h1 { (title) }
            p { (lang.pick(message_zh, message_en)) }
            p { a href={ "/?lang=" (lang.code()) } { (lang.pick("返回首页", "Back to the home page")) } }
        },
    )
}
