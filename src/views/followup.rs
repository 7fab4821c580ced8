//! The follow-up (回访) section of a finding's page: the form that starts it, or the rate
//! before and after with the difference, its 95% interval and p-value.

use maud::{html, Markup};

use super::with_lang;
use crate::auth::CurrentUser;
use crate::findings::followup::{BeforeAfter, Side, Target};
use crate::i18n::Lang;

fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

fn points(x: f64) -> String {
    format!("{:+.1}", x * 100.0)
}

fn p_text(p: f64) -> String {
    if p < 0.001 {
        "<0.001".into()
    } else {
        format!("{p:.3}")
    }
}

fn side(lang: Lang, s: &Option<Side>) -> Markup {
    html! {
        @match s {
            Some(s) => { td.num { (pct(s.rate)) } td.num { (s.n) } }
            None => { td.num { "—" } td.num { (lang.pick("尚无足够回答", "not enough answers yet")) } }
        }
    }
}

/// `target`: what a survey finding is about (None for other findings: no follow-up).
pub fn section(
    lang: Lang,
    user: &CurrentUser,
    finding_id: i64,
    target: Option<&Target>,
    can_start: bool,
    followup: Option<&BeforeAfter>,
) -> Markup {
    let Some(target) = target else {
        return html! {};
    };
    html! {
        section.card #followup {
            h2 { (lang.pick("回访", "Follow-up survey")) }
            @match followup {
                None => {
                    p { (lang.pick("整改后可对该单位就“", "After rectification, re-survey the unit on “")) (target.name)
                        (lang.pick("”再次调查（只问相关题目），并与整改前比较。", "” (only the affected items) and compare with before.")) }
                    @if can_start {
                        form method="post" action=(with_lang(&format!("/findings/{finding_id}/followup"), lang)) {
                            input type="hidden" name="_csrf" value=(user.csrf);
                            label { (lang.pick("每类调查对象的目标样本量", "Target responses per respondent type"))
                                input type="number" name="target" value="30" min="1" max="100000"; }
                            button type="submit" { (lang.pick("发起回访调查", "Start the follow-up survey")) }
                        }
                    }
                }
                Some(b) => {
                    p { a href=(with_lang(&format!("/admin/evaluations/{}/setup", b.followup_evaluation_id), lang)) { (lang.pick("回访调查（评估设置、链接与进度）", "The follow-up survey (set-up, links and progress)")) } }
                    table {
                        thead { tr {
                            th { } th.num { (lang.pick("满意率", "Satisfaction rate")) } th.num { (lang.pick("样本量", "Responses")) }
                        } }
                        tbody {
                            tr { th scope="row" { (lang.pick("整改前", "Before")) } (side(lang, &b.before)) }
                            tr { th scope="row" { (lang.pick("回访", "Follow-up")) } (side(lang, &b.after)) }
                        }
                    }
                    @match &b.difference {
                        Some(d) => {
                            p {
                                (lang.pick("变化：", "Change: ")) strong { (points(d.estimate)) (lang.pick(" 个百分点", " points")) }
                                (lang.pick("，95% 置信区间 ", ", 95% interval ")) (points(d.ci_low)) " – " (points(d.ci_high))
                                (lang.pick("，p = ", ", p = ")) (p_text(d.p_value))
                                (lang.pick("（独立样本 t 检验，自由度 ", " (independent samples t test, df ")) (format!("{:.0}", d.df)) (lang.pick("）", ")"))
                            }
                            p { strong {
                                @if d.significant && d.estimate > 0.0 { (lang.pick("满意率显著提高。", "The rate rose significantly.")) }
                                @else if d.significant { (lang.pick("满意率显著下降。", "The rate fell significantly.")) }
                                @else { (lang.pick("变化不显著。", "The change is not significant.")) }
                            } }
                        }
                        None => { p.muted { (lang.pick("两次调查都有足够回答后显示比较结果。", "The comparison shows once both surveys have enough answers.")) } }
                    }
                }
            }
        }
    }
}
