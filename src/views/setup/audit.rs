//! The audit log page: a filter, the entries newest first, and the CSV export of the same.

use maud::{html, Markup};

use super::{page, select_field, text_field, Section};
use crate::accounts::AuditQuery;
use crate::auth::CurrentUser;
use crate::evaluations::FieldError;
use crate::i18n::Lang;
use crate::store::AuditRow;
use crate::views::with_lang;

pub fn page_of(
    lang: Lang,
    user: &CurrentUser,
    q: &AuditQuery,
    errors: &[FieldError],
    actions: &[String],
    rows: &[AuditRow],
    limit: i64,
) -> Markup {
    let title = lang.pick("审计日志", "Audit log");
    let mut choices: Vec<(String, String)> =
        vec![(String::new(), lang.pick("（全部）", "(all)").to_owned())];
    choices.extend(actions.iter().map(|a| (a.clone(), a.clone())));
    let query = serde_urlencoded::to_string([
        ("actor", q.actor.as_str()),
        ("action", q.action.as_str()),
        ("target", q.target.as_str()),
        ("from", q.from.as_str()),
        ("to", q.to.as_str()),
    ])
    .unwrap_or_default();
    page(
        lang,
        user,
        Some(Section::Audit),
        title,
        "/admin/audit",
        html! {
            h1 { (title) }
            p.muted { (lang.pick("所有管理操作（单位、计划、状态变更、用户、密钥、指标体系、评分、上传与撤回、公示）的记录：谁、做了什么、何时、原因。日志不含答卷内容，也不含任何能把答卷与答题人关联的信息。",
                                 "Every administrative action (units, plan, status changes, users, keys, framework, scores, uploads and withdrawals, publishing): who, what, when and why. It holds no answers and nothing that links a respondent to a response.")) }
            form.card method="get" action="/admin/audit" {
                input type="hidden" name="lang" value=(lang.code());
                (text_field(lang, errors, "actor", ("操作人", "Who"), &q.actor, "text", false))
                (select_field(lang, errors, "action", ("操作", "Action"), &q.action, &choices))
                (text_field(lang, errors, "target", ("对象（如 evaluation:3）", "Target (e.g. evaluation:3)"), &q.target, "text", false))
                (text_field(lang, errors, "from", ("自（日期）", "From (date)"), &q.from, "date", false))
                (text_field(lang, errors, "to", ("至（日期）", "To (date)"), &q.to, "date", false))
                button type="submit" { (lang.pick("筛选", "Filter")) }
                " " a href={ "/admin/audit.csv?" (query) } { (lang.pick("导出 CSV", "Export CSV")) }
            }
            div.card { div.wide tabindex="0" { table.audit {
                thead { tr {
                    th { (lang.pick("时间", "When")) } th { (lang.pick("操作人", "Who")) } th { (lang.pick("操作", "Action")) }
                    th { (lang.pick("对象", "Target")) } th { (lang.pick("原因", "Reason")) } th { (lang.pick("详情", "Detail")) }
                } }
                tbody { @for r in rows { tr {
                    td { (crate::timefmt::local(&r.at)) } td { (r.actor) } td { code { (r.action) } } td { (r.target) } td { (r.reason) }
                    td { small { (r.detail) } }
                } } }
            } }
            @if rows.len() as i64 >= limit {
                p.muted { (lang.pick("只显示最近的条目；请缩小筛选范围或导出 CSV。", "Only the newest entries are shown; narrow the filter or export the CSV.")) }
            }
            @if rows.is_empty() { p.muted { (lang.pick("没有符合条件的记录。", "No entries match.")) } }
            }
            p { a href=(with_lang("/admin", lang)) { (lang.pick("返回评估列表", "Back to the evaluations")) } }
        },
    )
}
