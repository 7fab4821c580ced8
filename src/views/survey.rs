//! The phone-first questionnaire form, its thank-you page and polite refusals.
//! No JavaScript: conditional questions say when they apply; the server checks.

use std::collections::BTreeMap;

use maud::{html, Markup};

use super::{layout, with_lang};
use crate::i18n::Lang;
use crate::questionnaire::{AnswerError, Question, QuestionKind, Questionnaire, Text};

/// Field name of a question's answer in the posted form.
pub fn field(code: &str) -> String {
    format!("a_{code}")
}

pub struct FormPage<'a> {
    pub lang: Lang,
    pub q: &'a Questionnaire,
    pub unit_name: &'a Text,
    /// Where the form posts (and where the language switch points).
    pub action: &'a str,
    pub nonce: &'a str,
    pub sig: &'a str,
    /// Values to keep after a failed submission.
    pub values: &'a BTreeMap<String, Vec<String>>,
    pub errors: &'a BTreeMap<String, AnswerError>,
    /// The last submission of this form could not be stored (a storage fault): say so, and
    /// that pressing submit again is safe.
    pub unsaved: bool,
}

fn t(lang: Lang, text: &Text) -> &str {
    lang.pick(&text.zh, &text.en)
}

pub fn form(p: &FormPage<'_>) -> Markup {
    let lang = p.lang;
    let n = p.q.questions.len();
    let title = t(lang, &p.q.title);
    layout(
        lang,
        title,
        &with_lang(p.action, lang.other()),
        html! {
            h1 { (title) }
            p.muted { (t(lang, p.unit_name)) }
            p { (t(lang, &p.q.intro)) }
            p.muted {
                (lang.pick("本问卷匿名填写：不记录您的IP地址、设备信息或提交时间。", "This questionnaire is anonymous: no IP address, device details or time of submission are recorded."))
            }
            @if p.unsaved {
                // in both languages whatever the page's: the respondent must not miss it
                div.card.q.err role="alert" {
                    p { strong { "您的答卷暂时未能保存（服务器存储故障），您填写的内容都保留在下方。请稍等片刻，再次点击“提交”；同一份答卷不会被重复记录。" } }
                    p lang="en" { "Your answers could not be saved just now (a storage fault on our side). Everything you entered is kept below: please wait a moment and press Submit again; the same form is never counted twice." }
                }
            }
            @if !p.errors.is_empty() {
                div.card.q.err role="alert" {
                    strong {
                        @match lang {
                            Lang::Zh => { "有 " (p.errors.len()) " 道题需要修改，请查看标红的题目。" }
                            Lang::En => { (p.errors.len()) " answers need your attention; see the questions marked in red." }
                        }
                    }
                }
            }
            form method="post" action=(p.action) accept-charset="utf-8" novalidate {
                input type="hidden" name="_nonce" value=(p.nonce);
                input type="hidden" name="_sig" value=(p.sig);
                input type="hidden" name="lang" value=(lang.code());
                // Honeypot: hidden from people, filled by naive bots.
                div.hp aria-hidden="true" {
                    label { "Website" input type="text" name="website" tabindex="-1" autocomplete="off"; }
                }
                @for (i, question) in p.q.questions.iter().enumerate() {
                    (question_block(p, i, n, question))
                }
                button type="submit" { (lang.pick("提交", "Submit")) }
            }
        },
    )
}

fn question_block(p: &FormPage<'_>, i: usize, n: usize, question: &Question) -> Markup {
    let lang = p.lang;
    let name = field(&question.code);
    let given: &[String] = p
        .values
        .get(&question.code)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let error = p.errors.get(&question.code);
    let id = format!("q-{}", question.code);
    let pct = ((i + 1) * 100) / n.max(1);
    html! {
        fieldset.q.err[error.is_some()] id=(id) {
            legend {
                span.muted {
                    @match lang {
                        Lang::Zh => { "第 " (i + 1) " 题 / 共 " (n) " 题" }
                        Lang::En => { "Question " (i + 1) " of " (n) }
                    }
                }
                div.progress aria-hidden="true" { span style={ "width:" (pct) "%" } {} }
                strong { (t(lang, &question.text)) }
                @if !question.required { " " span.muted { (lang.pick("（选答）", "(optional)")) } }
            }
            @if let Some(hint) = &question.hint {
                p.muted.hint { (t(lang, hint)) }
            }
            @if let Some(cond) = &question.show_if {
                @if let Some(dep) = p.q.question(&cond.question) {
                    p.muted {
                        (lang.pick("仅在上面第 ", "Only if you answered question "))
                        (p.q.question_index(&dep.code).map(|k| k + 1).unwrap_or(0))
                        (lang.pick(" 题选择以下选项时回答：", " with: "))
                        (dep.options().iter().filter(|(c, _)| cond.values.contains(c)).map(|(_, l)| t(lang, l).to_owned()).collect::<Vec<_>>().join(lang.pick("、", ", ")))
                    }
                }
            }
            @if let Some(e) = error {
                p.error role="alert" { (lang.pick(&e.zh(), &e.en())) }
            }
            @match &question.kind {
                QuestionKind::Likert5(_) | QuestionKind::Single { .. } => {
                    @for (code, label) in question.options() {
                        label.opt {
                            input type="radio" name=(name) value=(code) checked[given.contains(&code)];
                            span { (t(lang, &label)) }
                        }
                    }
                }
                QuestionKind::Multiple { .. } => {
                    @for (code, label) in question.options() {
                        label.opt {
                            input type="checkbox" name=(name) value=(code) checked[given.contains(&code)];
                            span { (t(lang, &label)) }
                        }
                    }
                }
                QuestionKind::Rating { low, high } => {
                    div.rating {
                        @for v in 0..=10 {
                            label.opt style="display:inline-flex;min-width:48px;justify-content:center" {
                                input type="radio" name=(name) value=(v) checked[given.iter().any(|g| g == &v.to_string())];
                                span { (v) }
                            }
                        }
                    }
                    @if let (Some(l), Some(h)) = (low, high) {
                        p.muted { "0 = " (t(lang, l)) " · 10 = " (t(lang, h)) }
                    }
                }
                QuestionKind::Number { min, max, integer, unit } => {
                    label {
                        input type="number" name=(name) inputmode=(if *integer { "numeric" } else { "decimal" })
                            min=(min) max=(max) step=(if *integer { "1" } else { "any" })
                            value=(given.first().map(String::as_str).unwrap_or(""));
                        @if let Some(u) = unit { " " (t(lang, u)) }
                    }
                }
                QuestionKind::Text { max_length } => {
                    textarea name=(name) rows="4" maxlength=(max_length) {
                        (given.first().map(String::as_str).unwrap_or(""))
                    }
                    p.muted { (lang.pick("请勿填写手机号、身份证号等个人信息；如填写将被自动隐藏。", "Please do not write phone or ID numbers; they are hidden automatically.")) }
                }
            }
        }
    }
}

pub fn thanks(lang: Lang, switch: &str) -> Markup {
    let title = lang.pick(
        "提交成功，感谢您的参与！",
        "Thank you: your answers have been recorded.",
    );
    layout(
        lang,
        title,
        switch,
        html! {
            div.card {
                h1 { (title) }
                p { (lang.pick("您的回答已安全保存，且无法与您的身份关联。", "Your answers are saved and cannot be linked to you.")) }
            }
        },
    )
}

/// A polite refusal: a closed link, a used or expired invitation.
pub fn notice(lang: Lang, switch: &str, zh: &str, en: &str) -> Markup {
    let title = lang.pick("无法填写问卷", "This questionnaire is not available");
    layout(
        lang,
        title,
        switch,
        html! {
            div.card {
                h1 { (title) }
                p { (lang.pick(zh, en)) }
            }
        },
    )
}

/// A submission that could not even be looked at (the database did not answer): nothing was
/// stored; the answers are still in the browser's previous page. In both languages.
pub fn not_saved(lang: Lang, switch: &str) -> Markup {
    let title = lang.pick("答卷暂未保存", "Your answers were not saved yet");
    layout(
        lang,
        title,
        switch,
        html! {
            div.card role="alert" {
                h1 { (title) }
                p { strong { "服务器暂时无法保存答卷。请返回上一页（您填写的内容仍在），稍等片刻后再次点击“提交”；同一份答卷不会被重复记录。" } }
                p lang="en" { "The server cannot save answers just now. Go back to the previous page (what you entered is still there) and press Submit again in a moment; the same form is never counted twice." }
            }
        },
    )
}
