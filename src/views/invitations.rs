//! Draw records (public), printable invitation cards, and the evaluators' draw and
//! invitation pages. No page here shows who has answered: only totals.

use maud::{html, Markup, PreEscaped, DOCTYPE};

use crate::auth::CurrentUser;
use crate::i18n::Lang;
use crate::store::{DrawRecord, InvitationCounts, InvitationStatus, StoredQuestionnaire, Unit};
use crate::views::{layout, with_lang};

/// What the public draw page needs besides the record.
pub struct DrawPage<'a> {
    pub draw: &'a DrawRecord,
    pub evaluation_zh: &'a str,
    pub evaluation_en: &'a str,
    pub unit: Option<(&'a str, &'a str)>,
    /// `pingyi sample …` that re-runs the draw.
    pub command: &'a str,
    /// True when the frame was converted before drawing (GB18030, XLSX, other delimiter).
    pub converted: bool,
}

/// `/draws/{id}`: everything needed to re-run the draw and compare hashes; no person ids,
/// no addresses.
pub fn draw_page(lang: Lang, p: &DrawPage<'_>) -> Markup {
    let d = p.draw;
    let title = match lang {
        Lang::Zh => format!("抽样记录 #{}", d.id),
        Lang::En => format!("Sample draw #{}", d.id),
    };
    let path = format!("/draws/{}", d.id);
    layout(
        lang,
        &title,
        &with_lang(&path, lang.other()),
        html! {
            h1 { (title) }
            p { (lang.pick(p.evaluation_zh, p.evaluation_en)) }
            @if let Some((zh, en)) = p.unit {
                p { (lang.pick("被评估单位：", "Unit: ")) (lang.pick(zh, en)) }
            }
            p {
                (lang.pick("抽样日期：", "Drawn on: ")) (d.drawn_on) " · "
                (lang.pick("总体 ", "population ")) (d.population) " · "
                (lang.pick("抽中 ", "drawn ")) (d.n_drawn)
            }
            p {
                (lang.pick(
                    "任何人都可以用公开的种子、抽样选项和抽样框重新抽样，并核对下列哈希值：结果哈希一致，即证明抽样结果未被改动。本页不显示任何被抽中人员的信息。",
                    "Anyone holding the frame can re-run this draw from the published seed and options and compare the hashes below: an equal result hash proves the sample was not altered. This page shows nothing about the people drawn."
                ))
            }
            table.record {
                tr { th { (lang.pick("抽样框 SHA-256", "Frame SHA-256")) } td { code { (d.frame_sha256) } } }
                @if p.converted {
                    tr { th { (lang.pick("上传文件 SHA-256", "Uploaded file SHA-256")) } td { code { (d.upload_sha256) } " (" (d.upload_format) ")" } }
                }
                tr { th { (lang.pick("种子", "Seed")) } td { code { (d.seed) } } }
                tr { th { (lang.pick("结果 SHA-256", "Result SHA-256")) } td { code { (d.result_sha256) } } }
            }
            h2 { (lang.pick("抽样选项", "Options")) }
            pre { (d.options) }
            h2 { (lang.pick("分层", "Strata")) }
            table {
                tr {
                    th { (lang.pick("层", "Stratum")) }
                    th { (lang.pick("总体", "Population")) }
                    th { (lang.pick("样本", "Sample")) }
                }
                @for s in &d.strata {
                    tr { td { (s.stratum) } td { (s.population) } td { (s.sample) } }
                }
            }
            h2 { (lang.pick("复核命令", "Re-run it")) }
            @if p.converted {
                p { (lang.pick(
                    "上传的抽样框不是 UTF-8 逗号分隔 CSV，已先转换；先用下面第一条命令转换原文件（其 SHA-256 应与上表“上传文件”一致），转换结果的 SHA-256 应与“抽样框”一致。",
                    "The uploaded frame was not a UTF-8 comma-separated CSV and was converted first: convert the original file with the first command (its SHA-256 should equal the uploaded file's), and the conversion's SHA-256 should equal the frame's."
                )) }
                pre { "pingyi invite frame-csv UPLOADED-FILE > frame.csv" }
            }
            pre.command { (p.command) "\nsha256sum frame.csv sample.csv" }
            p { (lang.pick(
                "sample.csv 的 SHA-256 即结果哈希。",
                "The SHA-256 of sample.csv is the result hash."
            )) }
        },
    )
}

/// The draw form's fields as the evaluator typed them (shown again beside any errors).
#[derive(Debug, Clone, PartialEq)]
pub struct DrawFormValues {
    pub id: String,
    pub strata: String,
    pub size: String,
    pub fraction: String,
    /// proportional | neyman | equal | thirty-percent
    pub allocation: String,
    pub sd: String,
    pub min_per_stratum: String,
    pub pps_size: String,
    pub seed: String,
    pub unit: String,
    pub questionnaire: String,
    pub deadline: String,
}

impl Default for DrawFormValues {
    fn default() -> Self {
        DrawFormValues {
            id: "id".into(),
            strata: String::new(),
            size: String::new(),
            fraction: String::new(),
            allocation: "proportional".into(),
            sd: String::new(),
            min_per_stratum: "0".into(),
            pps_size: String::new(),
            seed: String::new(),
            unit: String::new(),
            questionnaire: String::new(),
            deadline: String::new(),
        }
    }
}

/// A problem with one field of the draw form: the field's name and the message.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    pub field: &'static str,
    pub zh: String,
    pub en: String,
}

/// What the evaluators' draw page shows.
pub struct DrawFormPage<'a> {
    pub evaluation_id: i64,
    pub evaluation_zh: &'a str,
    pub evaluation_en: &'a str,
    pub draws: &'a [DrawRecord],
    pub units: &'a [Unit],
    pub questionnaires: &'a [StoredQuestionnaire],
    pub values: &'a DrawFormValues,
    pub errors: &'a [FieldError],
    pub user: &'a CurrentUser,
    /// SMTP is configured: e-mail invitations go out
    pub mail_configured: bool,
}

/// Said where invitations are made and followed when e-mail is not configured: the e-mails
/// stay queued until it is.
pub fn mail_warning(lang: Lang) -> Markup {
    html! {
        div.card.mailwarn role="alert" style="border:2px solid #8a5a00;background:#fff8e1" {
            strong { (lang.pick("未配置电子邮件发送：", "E-mail is not configured: ")) }
            (lang.pick(
                "电子邮件邀请会一直排队，不会发出。请管理员设置 PINGYI_SMTP_HOST 等 SMTP 参数后重启服务，或改用纸质邀请卡。",
                "e-mail invitations stay queued and are not sent. Ask the administrator to set PINGYI_SMTP_HOST and the other SMTP settings and restart the service, or use paper invitation cards."))
        }
    }
}

/// The options of the draw form, with the CLI flag each one stands for.
const ALLOCATIONS: [(&str, &str, &str); 4] = [
    ("proportional", "按比例分配", "proportional to stratum size"),
    (
        "neyman",
        "奈曼最优分配（需填写标准差列）",
        "Neyman (needs the standard deviation column)",
    ),
    ("equal", "各层等额", "equal per stratum"),
    (
        "thirty-percent",
        "每层抽取不低于 30%（向上取整，至少 1；不填样本量）",
        "at least 30% of each stratum (rounded up, at least 1; no sample size)",
    ),
];

/// `/evaluations/{id}/draws`: the evaluation's draws and the form for a new one, with the
/// same options as `pingyi sample` and each error beside its field.
pub fn draw_form_page(lang: Lang, p: &DrawFormPage<'_>) -> Markup {
    let title = match lang {
        Lang::Zh => format!("抽样与邀请 · {}", p.evaluation_zh),
        Lang::En => format!("Draws and invitations · {}", p.evaluation_en),
    };
    let path = format!("/evaluations/{}/draws", p.evaluation_id);
    let v = p.values;
    let err = |field: &str| -> Markup {
        html! {
            @for e in p.errors.iter().filter(|e| e.field == field) {
                p.error role="alert" id={ "err-" (field) } { (lang.pick(&e.zh, &e.en)) }
            }
        }
    };
    let bad = |field: &str| p.errors.iter().any(|e| e.field == field);
    let text_field = |field: &'static str,
                      label_zh: &str,
                      label_en: &str,
                      hint: Option<(&str, &str)>,
                      value: &str,
                      numeric: bool|
     -> Markup {
        html! {
            div.q.field.err[bad(field)] {
                label for={ "f-" (field) } { (lang.pick(label_zh, label_en)) }
                @if let Some((zh, en)) = hint { br; span.muted { (lang.pick(zh, en)) } }
                br;
                input type="text" id={ "f-" (field) } name=(field) value=(value)
                    inputmode=[numeric.then_some("decimal")]
                    aria-invalid=[bad(field).then_some("true")]
                    aria-describedby=[bad(field).then(|| format!("err-{field}"))];
                (err(field))
            }
        }
    };
    layout(
        lang,
        &title,
        &with_lang(&path, lang.other()),
        html! {
            (super::signed_in_header(lang, p.user, None))
            h1 { (title) }
            @if !p.mail_configured { (mail_warning(lang)) }
            @if !p.draws.is_empty() {
                table {
                    tr { th { "#" } th { (lang.pick("日期", "Date")) } th { (lang.pick("总体", "Population")) } th { (lang.pick("抽中", "Drawn")) } th {} }
                    @for d in p.draws {
                        tr {
                            td { a href=(with_lang(&format!("/draws/{}", d.id), lang)) { (d.id) } }
                            td { (d.drawn_on) } td { (d.population) } td { (d.n_drawn) }
                            td { a href=(with_lang(&format!("/draws/{}/invitations", d.id), lang)) { (lang.pick("邀请情况", "Invitations")) } }
                        }
                    }
                }
            }
            h2 { (lang.pick("新的抽样", "New draw")) }
            p.muted { (lang.pick(
                "与命令行 pingyi sample 的选项相同；抽样记录（抽样框哈希、选项、种子、结果哈希和复核命令）将公开，任何人都可以重新抽样核对。",
                "The same options as the `pingyi sample` command; the draw's record (frame hash, options, seed, result hash and the command line) is published so anyone can re-run it."
            )) }
            @if !p.errors.is_empty() {
                div.card.q.err role="alert" {
                    strong { (lang.pick("请修改标出的项目后重新提交（需重新选择抽样框文件）。", "Please correct the fields marked below and submit again (choose the frame file again).")) }
                }
            }
            form method="post" enctype="multipart/form-data" action=(with_lang(&path, lang)) novalidate {
                input type="hidden" name="_csrf" value=(p.user.csrf);
                div.q.field.err[bad("file")] {
                    label for="f-file" { (lang.pick("抽样框（CSV 或 XLSX；UTF-8 或 GB18030）", "Frame (CSV or XLSX; UTF-8 or GB18030)")) }
                    br; span.muted { (lang.pick("如有 email 列则发送电子邮件邀请；unit 列为单位代码。", "An `email` column gets e-mail invitations; a `unit` column holds unit codes.")) }
                    br; input id="f-file" type="file" name="file" accept=".csv,.txt,.xlsx" aria-invalid=[bad("file").then_some("true")];
                    (err("file"))
                }
                (text_field("id", "编号列", "Id column (--id)", None, &v.id, false))
                (text_field("strata", "分层列（可选）", "Strata column (--strata, optional)", None, &v.strata, false))
                fieldset.q.err[bad("size") || bad("fraction")] {
                    legend { (lang.pick("样本量（二选一；“每层 30%”时不填）", "Sample size (one of the two; leave both empty for “30% of each stratum”)")) }
                    (text_field("size", "样本量", "Sample size (--size N)", None, &v.size, true))
                    (text_field("fraction", "或抽样比例（0–1，如 0.3）", "or fraction (--fraction F, 0–1, e.g. 0.3)", None, &v.fraction, true))
                }
                fieldset.q.err[bad("allocation")] {
                    legend { (lang.pick("各层分配方法", "Allocation across strata (--allocation)")) }
                    @for (value, zh, en) in ALLOCATIONS {
                        label.opt {
                            input type="radio" name="allocation" value=(value) checked[v.allocation == value];
                            span { (lang.pick(zh, en)) }
                        }
                    }
                    (err("allocation"))
                }
                (text_field("sd", "标准差列（奈曼分配用，每层各行相同）", "Standard deviation column (--sd, Neyman only; the same on every row of a stratum)", None, &v.sd, false))
                (text_field("min_per_stratum", "每层最少抽取", "Minimum per stratum (--min-per-stratum)", Some(("不超过该层总数。", "Never more than the stratum has.")), &v.min_per_stratum, true))
                (text_field("pps_size", "规模列（按规模成比例的系统抽样，可选）", "Size column for systematic PPS (--pps-size, optional)", Some(("填写后按该列数值成比例抽取（值须大于 0）。", "Draws with probability proportional to this column (values above 0).")), &v.pps_size, false))
                (text_field("seed", "种子（公开）", "Seed (--seed, published)", Some(("任意文字，例如公开摇号的号码；抽样后不能更改。", "Any text, e.g. numbers drawn in public; it cannot be changed after the draw.")), &v.seed, false))
                div.q.field.err[bad("unit")] {
                    label for="f-unit" { (lang.pick("单位（整个抽样框属于一个单位时）", "Unit (when the whole frame belongs to one unit)")) }
                    br;
                    select id="f-unit" name="unit" {
                        option value="" { "—" }
                        @for u in p.units { option value=(u.code) selected[v.unit == u.code] { (lang.pick(&u.name_zh, &u.name_en)) } }
                    }
                    (err("unit"))
                }
                div.q.field.err[bad("questionnaire")] {
                    label for="f-questionnaire" { (lang.pick("问卷（发出邀请）", "Questionnaire (to invite)")) }
                    br;
                    select id="f-questionnaire" name="questionnaire" {
                        option value="" { (lang.pick("只抽样，暂不邀请", "draw only, no invitations yet")) }
                        @for q in p.questionnaires {
                            @let key = format!("{}@{}", q.id, q.version);
                            option value=(key) selected[v.questionnaire == key] { (lang.pick(&q.title_zh, &q.title_en)) " (" (key) ")" }
                        }
                    }
                    (err("questionnaire"))
                }
                div.q.field.err[bad("deadline")] {
                    label for="f-deadline" { (lang.pick("截止日期（发出邀请时必填）", "Deadline (needed to invite)")) }
                    br; input id="f-deadline" type="date" name="deadline" value=(v.deadline) aria-invalid=[bad("deadline").then_some("true")];
                    (err("deadline"))
                }
                p { button type="submit" { (lang.pick("抽样", "Draw")) } }
            }
        },
    )
}

/// One printed card.
pub struct CardView {
    pub unit_zh: String,
    pub unit_en: String,
    pub questionnaire_zh: String,
    pub questionnaire_en: String,
    pub url: String,
    /// Inline SVG of the QR code (generated by us from `url`).
    pub qr_svg: String,
    pub deadline: String,
}

const CARD_CSS: &str = r#"
@page { size: A4; margin: 10mm; }
* { box-sizing: border-box; }
body { font-family: "Noto Sans CJK SC", "Source Han Sans SC", "Microsoft YaHei", sans-serif; margin: 0; color: #000; }
.sheet { display: grid; grid-template-columns: 1fr 1fr; gap: 4mm; }
.card { border: 1px dashed #555; padding: 4mm; height: 66mm; display: flex; gap: 3mm; break-inside: avoid; page-break-inside: avoid; }
.card .qr { width: 36mm; flex: none; }
.card .qr svg { width: 36mm; height: 36mm; }
.card h2 { font-size: 13pt; margin: 0 0 1mm 0; }
.card p { font-size: 8.5pt; margin: 0 0 1.2mm 0; line-height: 1.3; }
.card .url { font-family: monospace; font-size: 7.5pt; word-break: break-all; }
.card .en { color: #333; }
.noprint { margin: 4mm 0; font-size: 10pt; }
@media print { .noprint { display: none; } }
"#;

/// A printable A4 sheet (8 cards a page). Standalone HTML: no site header, print CSS.
pub fn cards_page(cards: &[CardView]) -> Markup {
    html! {
        (DOCTYPE)
        html lang="zh-CN" {
            head {
                meta charset="utf-8";
                title { "评议邀请卡 · Invitation cards" }
                style { (PreEscaped(CARD_CSS)) }
            }
            body {
                p.noprint {
                    "共 " (cards.len()) " 张邀请卡；请用 A4 纸打印，沿虚线裁开。每张卡的链接只能使用一次。"
                    br;
                    (cards.len()) " invitation cards; print on A4 and cut along the dashed lines. Each link works once."
                }
                div.sheet {
                    @for c in cards {
                        div.card {
                            div.qr { (PreEscaped(svg_element(&c.qr_svg))) }
                            div {
                                h2 { "评议邀请 " span.en { "Invitation" } }
                                p { "诚邀您对 " strong { (c.unit_zh) } " 进行满意度评议（" (c.questionnaire_zh) "）。请扫描二维码或打开链接填写，截止日期 " strong { (c.deadline) } "。" }
                                p.en { "You are invited to rate " strong { (c.unit_en) } " (" (c.questionnaire_en) "). Scan the code or open the link by " strong { (c.deadline) } "." }
                                p.url { (c.url) }
                                p { "仅限使用一次，回答匿名。" span.en { " Single use; your answer is anonymous." } }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The `<svg>` element of an SVG document (drops the XML declaration so it can be inlined).
fn svg_element(svg: &str) -> &str {
    svg.find("<svg").map(|i| &svg[i..]).unwrap_or("")
}

/// Evaluators: a draw's invitations. Per invitation only the first message's status;
/// answered / not answered and reminders only as totals.
pub fn status_page(
    lang: Lang,
    draw: &DrawRecord,
    counts: &InvitationCounts,
    rows: &[InvitationStatus],
    user: &CurrentUser,
    reminded: Option<i64>,
    mail_configured: bool,
) -> Markup {
    let csrf = user.csrf.as_str();
    let title = match lang {
        Lang::Zh => format!("邀请情况 · 抽样 #{}", draw.id),
        Lang::En => format!("Invitations · draw #{}", draw.id),
    };
    let path = format!("/draws/{}/invitations", draw.id);
    layout(
        lang,
        &title,
        &with_lang(&path, lang.other()),
        html! {
            (super::signed_in_header(lang, user, None))
            h1 { (title) }
            @if let Some(n) = reminded {
                p.notice role="status" {
                    @match lang {
                        Lang::Zh => { "已将 " (n) " 封提醒邮件加入发送队列（只发给尚未回答、邀请已送达的人）。" }
                        Lang::En => { (n) " reminder(s) queued (only to people who have not answered and whose invitation went out)." }
                    }
                }
            }
            @if !mail_configured { (mail_warning(lang)) }
            p {
                a href=(with_lang(&format!("/admin/evaluations/{}", draw.evaluation_id), lang)) { (lang.pick("返回评估概览", "Back to the evaluation")) }
                " · " a href=(with_lang(&format!("/draws/{}", draw.id), lang)) { (lang.pick("公开抽样记录", "Public draw record")) }
            }
            table.counts {
                tr { th { (lang.pick("电子邮件邀请", "E-mail invitations")) } td { (counts.email) } }
                tr { th { (lang.pick("纸质邀请（已打印）", "Paper invitations (printed)")) } td { (counts.paper) " (" (counts.paper_printed) ")" } }
                tr { th { (lang.pick("排队中", "Queued")) } td { (counts.queued + counts.sending) } }
                tr { th { (lang.pick("已发送", "Sent")) } td { (counts.sent) } }
                tr { th { (lang.pick("失败", "Failed")) } td { (counts.failed) } }
                tr { th { (lang.pick("退信", "Bounced")) } td { (counts.bounced) } }
                tr { th { (lang.pick("投递情况不明（需处理）", "Delivery unknown (needs an operator)")) } td { (counts.unknown + counts.reminders_unknown) } }
                tr { th { (lang.pick("提醒：排队 / 已发送 / 失败", "Reminders: queued / sent / failed")) } td { (counts.reminders_queued) " / " (counts.reminders_sent) " / " (counts.reminders_failed) } }
                tr { th { (lang.pick("已回答（合计）", "Answered (total)")) } td { (counts.answered) } }
                tr { th { (lang.pick("未回答（合计）", "Not answered (total)")) } td { (counts.not_answered) } }
            }
            form method="post" action={ "/draws/" (draw.id) "/remind" } {
                input type="hidden" name="_csrf" value=(csrf);
                button type="submit" { (lang.pick("提醒所有未回答者", "Remind everyone who has not answered")) }
            }
            @if counts.paper > 0 {
                form method="post" action={ "/draws/" (draw.id) "/cards" } {
                    input type="hidden" name="_csrf" value=(csrf);
                    @if counts.paper_printed == counts.paper {
                        input type="hidden" name="reprint" value="1";
                        button type="submit" { (lang.pick("重新打印邀请卡（旧卡作废）", "Reprint the cards (old cards stop working)")) }
                    } @else {
                        button type="submit" { (lang.pick("打印邀请卡", "Print the invitation cards")) }
                    }
                }
            }
            h2 { (lang.pick("逐份邀请", "Each invitation")) }
            table {
                tr {
                    th { "#" }
                    th { (lang.pick("方式", "Channel")) }
                    th { (lang.pick("地址", "Address")) }
                    th { (lang.pick("状态", "Status")) }
                    th { (lang.pick("尝试次数", "Attempts")) }
                    th { (lang.pick("服务器答复", "Server answer")) }
                }
                @for r in rows {
                    tr {
                        td { (r.invitation_id) }
                        td { (channel_label(lang, &r.channel)) }
                        td { (r.email.as_deref().unwrap_or("")) }
                        td { (status_label(lang, &r.status)) }
                        td { (r.attempts) }
                        td { (r.last_error) }
                    }
                }
            }
        },
    )
}

fn channel_label(lang: Lang, c: &str) -> &'static str {
    match c {
        "email" => lang.pick("电子邮件", "e-mail"),
        _ => lang.pick("纸质", "paper"),
    }
}

pub fn status_label(lang: Lang, s: &str) -> &'static str {
    match s {
        "queued" => lang.pick("排队中", "queued"),
        "sending" => lang.pick("发送中", "sending"),
        "sent" => lang.pick("已发送", "sent"),
        "failed" => lang.pick("失败", "failed"),
        "bounced" => lang.pick("退信", "bounced"),
        "unknown" => lang.pick("投递情况不明", "delivery unknown"),
        "printed" => lang.pick("已打印", "printed"),
        _ => lang.pick("未打印", "not printed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_svg_drops_the_xml_declaration() {
        let svg = crate::collect::qr_svg("http://x/t/abc").unwrap();
        let el = svg_element(&svg);
        assert!(el.starts_with("<svg"));
        let page = cards_page(&[CardView {
            unit_zh: "甲局".into(),
            unit_en: "Bureau A".into(),
            questionnaire_zh: "问卷".into(),
            questionnaire_en: "Questionnaire".into(),
            url: "http://x/t/abc".into(),
            qr_svg: svg.clone(),
            deadline: "2026-12-31".into(),
        }])
        .into_string();
        assert!(page.contains("@page { size: A4"));
        assert!(!page.contains("<?xml"));
        assert!(
            page.contains("http://x/t/abc") && page.contains("甲局") && page.contains("2026-12-31")
        );
    }
}
