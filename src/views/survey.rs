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
    /// Larger text (the 大字 switch).
    pub large: bool,
}

/// Name of the submit button that switches text size: the form comes back with the answers
/// typed so far, nothing is stored.
pub const SIZE_SWITCH: &str = "_size";
/// Hidden field that keeps the large text across submissions.
pub const LARGE_FIELD: &str = "_large";

/// The form's CSS: body text at 17 px (21 px with 大字), a progress line that stays at the
/// bottom of the screen and counts answered questions without JavaScript (CSS counters over
/// `:has()`), the 0–10 scale in one row at 360 px.
const FORM_CSS: &str = "\
body{font-size:17px}\
html{scroll-padding-bottom:6rem}\
fieldset.q legend{float:left;width:100%;padding:0;margin:0 0 .5rem}fieldset.q legend~*{clear:left}\
form.survey{counter-reset:answered}\
form.survey fieldset.q:has(input:checked),form.survey fieldset.q:has(textarea:not(:placeholder-shown)),\
form.survey fieldset.q:has(input[type=number]:not(:placeholder-shown)){counter-increment:answered}\
.stickybar{position:sticky;bottom:0;z-index:2;display:flex;flex-wrap:wrap;gap:.5rem;align-items:center;justify-content:space-between;\
background:#fff;border-top:2px solid #8b1a1a;padding:.5rem .75rem;margin:1rem -0.25rem 0;box-shadow:0 -2px 6px rgba(0,0,0,.12)}\
.stickybar{pointer-events:none}.stickybar button{pointer-events:auto}\
.stickybar .count::before{content:counter(answered)}\
.stickybar button{min-height:44px;padding:.4rem .9rem;font-size:1rem;background:#fff;color:#8b1a1a;border:1px solid #8b1a1a}\
.errsum{border:2px solid #b02a1e;background:#fff}\
.errsum ul{margin:.4rem 0 0;padding-left:1.2rem}.errsum a{color:#b02a1e;font-weight:600}\
.q .when{color:#4a4a4a;background:#f3f3f3;border-left:3px solid #8b1a1a;padding:.3rem .6rem}\
.rating{display:grid;grid-template-columns:repeat(11,minmax(0,1fr));gap:3px}\
.q .rating label.opt{flex-direction:column;gap:.1rem;justify-content:center;min-height:56px;padding:.3rem 0;margin:0;text-align:center}\
.q .rating input[type=radio]{width:20px;height:20px;margin:0}\
.scale-ends{display:flex;justify-content:space-between;font-size:.9em}\
.large{font-size:21px}.large h1{font-size:1.5em}\
.large .q input[type=radio],.large .q input[type=checkbox]{width:26px;height:26px}\
.large .rating{grid-template-columns:repeat(6,minmax(0,1fr))}";

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
            style { (FORM_CSS) }
            div.formpage.large[p.large] {
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
                (error_summary(p))
            }
            form.survey method="post" action=(p.action) accept-charset="utf-8" novalidate {
                input type="hidden" name="_nonce" value=(p.nonce);
                input type="hidden" name="_sig" value=(p.sig);
                input type="hidden" name="lang" value=(lang.code());
                @if p.large { input type="hidden" name=(LARGE_FIELD) value="1"; }
                // Honeypot: hidden from people, filled by naive bots.
                div.hp aria-hidden="true" {
                    label { "Website" input type="text" name="website" tabindex="-1" autocomplete="off"; }
                }
                @for (i, question) in p.q.questions.iter().enumerate() {
                    (question_block(p, i, n, question))
                }
                // the first submit button is the one Enter presses: submitting, not the size switch
                button type="submit" { (lang.pick("提交", "Submit")) }
                div.stickybar {
                    span aria-live="off" {
                        @match lang {
                            Lang::Zh => { "已答 " span.count {} " / " (n) " 题" }
                            Lang::En => { "Answered " span.count {} " of " (n) }
                        }
                    }
                    button type="submit" name=(SIZE_SWITCH) value=(if p.large { "normal" } else { "large" }) formnovalidate {
                        @if p.large { (lang.pick("标准字号", "Normal text")) }
                        @else { (lang.pick("大字", "Larger text")) }
                    }
                }
            }
            }
        },
    )
}

/// The questions to fix, each a link to its question ("第 7 题：…").
fn error_summary(p: &FormPage<'_>) -> Markup {
    let lang = p.lang;
    html! {
        div.card.errsum role="alert" #errors {
            strong {
                @match lang {
                    Lang::Zh => { "有 " (p.errors.len()) " 道题需要修改：" }
                    Lang::En => { (p.errors.len()) " answers need your attention:" }
                }
            }
            ul {
                @for (i, q) in p.q.questions.iter().enumerate().filter(|(_, q)| p.errors.contains_key(&q.code)) {
                    li { a href={ "#q-" (q.code) } {
                        @match lang {
                            Lang::Zh => { "第 " (i + 1) " 题" }
                            Lang::En => { "Question " (i + 1) }
                        }
                        "：" (short(t(lang, &q.text)))
                    } }
                }
            }
        }
    }
}

/// The start of a question's text for the error summary.
fn short(text: &str) -> String {
    let mut out: String = text.chars().take(24).collect();
    if text.chars().count() > 24 {
        out.push('…');
    }
    out
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
    // the page opens at the first question to fix
    let first_error = error.is_some()
        && p.q
            .questions
            .iter()
            .find(|q| p.errors.contains_key(&q.code))
            .is_some_and(|q| q.code == question.code);
    let id = format!("q-{}", question.code);
    let number_of = |code: &str| p.q.question_index(code).map_or(0, |k| k + 1);
    // a hint said on the question before is not repeated
    let hint_repeated = i > 0
        && question.hint.is_some()
        && p.q.questions.get(i - 1).and_then(|q| q.hint.as_ref()) == question.hint.as_ref();
    let first_text =
        p.q.questions
            .iter()
            .position(|q| matches!(q.kind, QuestionKind::Text { .. }))
            == Some(i);
    html! {
        fieldset.q.err[error.is_some()] id=(id) {
            legend {
                span.muted.step {
                    @match lang {
                        Lang::Zh => { "第 " (i + 1) " 题 / 共 " (n) " 题" }
                        Lang::En => { "Question " (i + 1) " of " (n) }
                    }
                }
                br;
                strong { (t(lang, &question.text)) }
                @if !question.required { " " span.muted { (lang.pick("（选答）", "(optional)")) } }
            }
            @if let Some(cond) = &question.show_if {
                @if let Some(dep) = p.q.question(&cond.question) {
                    @let chosen = dep.options().iter().filter(|(c, _)| cond.values.contains(c)).map(|(_, l)| format!("“{}”", t(lang, l))).collect::<Vec<_>>().join(lang.pick("或", " or "));
                    p.when {
                        @match lang {
                            Lang::Zh => { "如第 " (number_of(&dep.code)) " 题选" (chosen) "，请回答本题；否则请跳过。" }
                            Lang::En => { "Answer this only if you chose " (chosen) " in question " (number_of(&dep.code)) "; otherwise skip it." }
                        }
                    }
                }
            }
            @if let Some(hint) = &question.hint {
                @if !hint_repeated { p.muted.hint { (t(lang, hint)) } }
            }
            @if let Some(e) = error {
                p.error role="alert" {
                    @match (e, question.show_if.as_ref()) {
                        (AnswerError::Hidden { .. }, Some(cond)) => {
                            @match lang {
                                Lang::Zh => { "根据您对第 " (number_of(&cond.question)) " 题的回答，本题无需作答，请清除本题的答案。" }
                                Lang::En => { "Given your answer to question " (number_of(&cond.question)) ", leave this question empty." }
                            }
                        }
                        _ => { (lang.pick(&e.zh(), &e.en())) }
                    }
                }
            }
            @match &question.kind {
                QuestionKind::Likert5(_) | QuestionKind::Single { .. } => {
                    @for (k, (code, label)) in question.options().into_iter().enumerate() {
                        label.opt {
                            input type="radio" name=(name) value=(code) checked[given.contains(&code)] autofocus[first_error && k == 0];
                            span { (t(lang, &label)) }
                        }
                    }
                }
                QuestionKind::Multiple { .. } => {
                    @for (k, (code, label)) in question.options().into_iter().enumerate() {
                        label.opt {
                            input type="checkbox" name=(name) value=(code) checked[given.contains(&code)] autofocus[first_error && k == 0];
                            span { (t(lang, &label)) }
                        }
                    }
                }
                QuestionKind::Rating { low, high } => {
                    div.rating {
                        @for v in 0..=10 {
                            label.opt {
                                span { (v) }
                                input type="radio" name=(name) value=(v) checked[given.iter().any(|g| g == &v.to_string())] autofocus[first_error && v == 0];
                            }
                        }
                    }
                    @if let (Some(l), Some(h)) = (low, high) {
                        p.muted.scale-ends { span { "0 = " (t(lang, l)) } span { "10 = " (t(lang, h)) } }
                    }
                }
                QuestionKind::Number { min, max, integer, unit } => {
                    label {
                        input type="number" name=(name) inputmode=(if *integer { "numeric" } else { "decimal" })
                            min=(min) max=(max) step=(if *integer { "1" } else { "any" }) placeholder=" "
                            aria-label=(t(lang, &question.text)) autofocus[first_error]
                            value=(given.first().map(String::as_str).unwrap_or(""));
                        @if let Some(u) = unit { " " (t(lang, u)) }
                    }
                }
                QuestionKind::Text { max_length } => {
                    textarea name=(name) rows="4" maxlength=(max_length) placeholder=" "
                        aria-label=(t(lang, &question.text)) autofocus[first_error] {
                        (given.first().map(String::as_str).unwrap_or(""))
                    }
                    @if first_text {
                        p.muted { (lang.pick("请勿填写手机号、身份证号等个人信息；如填写将被自动隐藏。", "Please do not write phone or ID numbers; they are hidden automatically.")) }
                    }
                }
            }
        }
    }
}

/// The thank-you page; `again`: a link to fill in another form (when the link opens here
/// right after an answer from this browser).
pub fn thanks(lang: Lang, switch: &str, again: Option<&str>) -> Markup {
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
                @if let Some(href) = again {
                    p.muted { (lang.pick("本设备刚刚提交过这份问卷。", "This questionnaire was just submitted from this device."))
                        " " a href=(href) { (lang.pick("为另一位受访者再填一份", "Fill in another one for someone else")) } }
                }
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
