//! The landing page: what pingyi is and the evaluations it holds.

use maud::{html, Markup};

use super::{layout, with_lang};
use crate::i18n::Lang;
use crate::store::Evaluation;

pub fn page(lang: Lang, evaluations: &[Evaluation]) -> Markup {
    let title = lang.pick("政府绩效满意度评价", "Government performance evaluations");
    layout(
        lang,
        title,
        &with_lang("/", lang.other()),
        html! {
            h1 { (title) }
            p.muted {
                (lang.pick(
                    "五位一体评议：分管领导点评、编办主评、服务对象助评、职能部门参评、监管部门鉴评。",
                    "Five-in-one evaluation: leaders in charge, the evaluation office, service users, peer departments and regulators.",
                ))
            }
            p {
                a.button href={ "/login?lang=" (lang.code()) } { (lang.pick("评估人员登录", "Evaluator sign-in")) }
            }
            h2 { (lang.pick("评估项目", "Evaluations")) }
            @if evaluations.is_empty() {
                p.card { (lang.pick("暂无评估项目。", "No evaluations yet.")) }
            }
            @for e in evaluations {
                (evaluation_card(lang, e))
            }
        },
    )
}

fn evaluation_card(lang: Lang, e: &Evaluation) -> Markup {
    html! {
        div.card {
            strong { (lang.pick(&e.title_zh, &e.title_en)) }
            " "
            span class={ "badge " (e.status.as_str()) } {
                (lang.pick(e.status.label_zh(), e.status.label_en()))
            }
            div.muted {
                (e.year) (lang.pick("年度", "")) @if !e.wave.is_empty() { " · " (e.wave) }
            }
            @if e.status == crate::store::EvaluationStatus::Published {
                p { a href={ "/public/evaluations/" (e.id) "?lang=" (lang.code()) } { (lang.pick("查看公示结果", "Published results")) } }
            }
        }
    }
}
