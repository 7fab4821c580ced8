//! Progress against the plan's targets: per unit × respondent type, responses so far by source
//! against the target, cells behind schedule marked. On the overview, the set-up page and the
//! firm's own page.

use maud::{html, Markup};

use crate::auth::CurrentUser;
use crate::evaluations::Progress;
use crate::i18n::Lang;
use crate::questionnaire::RespondentType;
use crate::store::EvaluationDetail;
use crate::views::charts::progress as bar;
use crate::views::{layout, with_lang};

fn rtype_label(code: &str, lang: Lang) -> String {
    code.parse::<RespondentType>()
        .map(|r| lang.pick(r.label_zh(), r.label_en()).to_owned())
        .unwrap_or_else(|_| code.to_owned())
}

/// The progress table (`firms`: show the firm column).
pub fn card(lang: Lang, p: &Progress, firms: bool) -> Markup {
    html! {
        div.card #progress {
            style { "#progress tr.behind td{background:#fdf0e6}#progress .behind-mark{color:#a04000;font-weight:700}#progress td.num,#progress th.num{text-align:right;font-variant-numeric:tabular-nums}" }
            h2 { (lang.pick("各单位回收进度", "Responses per unit and respondent type")) }
            p.muted { (lang.pick("对照调查计划的目标样本量，按来源（公开链接、邀请码、第三方上传）统计。", "Against the plan's targets, by source (public link, invitation token, firm upload).")) }
            p {
                (lang.pick("有效答卷", "Responses")) " " strong.progress-total { (p.total) } " / " (p.target_total)
                @if let Some(s) = p.schedule_share { " · " (lang.pick("调查期已过 ", "fieldwork period gone by ")) (format!("{:.0}%", s * 100.0)) }
                @if p.behind_cells > 0 { " · " span.behind-mark { (p.behind_cells) (lang.pick(" 项落后于进度", " cell(s) behind schedule")) } }
                " · " small.muted { (lang.pick("截至 ", "as of ")) (p.as_of) }
            }
            @if p.schedule_share.is_none() {
                p.muted { (lang.pick("设定调查起止日期后，可标出落后于进度的单元。", "Set the fieldwork dates to see which cells are behind schedule.")) }
            }
            @if p.cells.is_empty() {
                p.muted { (lang.pick("尚无调查计划。", "No plan yet.")) }
            } @else { div.wide tabindex="0" { table.progress-table {
                thead { tr {
                    th { (lang.pick("单位", "Unit")) } th { (lang.pick("调查对象", "Respondent type")) }
                    th.num { (lang.pick("链接", "Link")) } th.num { (lang.pick("邀请码", "Token")) } th.num { (lang.pick("上传", "Upload")) }
                    th { (lang.pick("合计 / 目标", "So far / target")) }
                    @if firms { th { (lang.pick("调查机构", "Firm")) } }
                } }
                tbody { @for c in &p.cells { tr.behind[c.behind] {
                    td { (lang.pick(&c.unit_name_zh, &c.unit_name_en)) }
                    td { (rtype_label(&c.respondent_type, lang)) }
                    td.num { (c.link) } td.num { (c.token) } td.num { (c.upload) }
                    td {
                        (bar(c.total, c.target))
                        @if c.behind {
                            " " span.behind-mark title=(lang.pick("低于按调查期应达到的数量", "below what the fieldwork schedule calls for")) {
                                (lang.pick("落后", "behind"))
                                @if let Some(e) = c.expected { " (" (lang.pick("应达 ", "due ")) (e) ")" }
                            }
                        }
                    }
                    @if firms { td { (c.firm.as_deref().unwrap_or("")) } }
                } } }
            } } }
        }
    }
}

/// A signed-in firm's page: the progress of what it was contracted for.
pub fn firm_page(lang: Lang, user: &CurrentUser, rows: &[(EvaluationDetail, Progress)]) -> Markup {
    let title = lang.pick("采集进度", "Collection progress");
    layout(
        lang,
        title,
        &with_lang("/firm/progress", lang.other()),
        html! {
                p.muted { (user.name) " · " (user.role.label(lang)) " · " a href=(with_lang("/firm/upload", lang)) { (lang.pick("上传调查数据", "Upload survey data")) } }
            h1 { (title) }
            @if rows.is_empty() { p.card { (lang.pick("您的机构目前没有承担的评估。", "Your firm is not contracted for any evaluation.")) } }
            @for (d, p) in rows {
                h2 { (lang.pick(&d.evaluation.title_zh, &d.evaluation.title_en)) " "
                    span class={ "badge " (d.evaluation.status.as_str()) } { (lang.pick(d.evaluation.status.label_zh(), d.evaluation.status.label_en())) } }
                (card(lang, p, false))
            }
        },
    )
}
