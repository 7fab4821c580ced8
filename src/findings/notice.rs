//! Reminder e-mails of findings: before the deadline and after it. Chinese first, then
//! English; the unit, the finding, the due date and the link to the finding's page.

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::Message;

use crate::store::FindingRow;

/// The link to a finding's page.
pub fn finding_url(base_url: &str, f: &FindingRow) -> String {
    format!("{}/findings/{}", base_url.trim_end_matches('/'), f.id)
}

pub fn subject(kind: &str, f: &FindingRow) -> String {
    if kind == "finding_overdue" {
        format!(
            "整改已逾期：{} / Rectification overdue: {}",
            f.title, f.responsible_name_en
        )
    } else {
        format!(
            "整改即将到期：{} / Rectification due soon: {}",
            f.title, f.responsible_name_en
        )
    }
}

pub fn body(kind: &str, f: &FindingRow, link: &str) -> String {
    let due = f.due_on.as_deref().unwrap_or("—");
    let (zh, en) = if kind == "finding_overdue" {
        (
            format!("整改时限（{due}）已过，尚未收到整改报告。请尽快提交整改报告及佐证材料。"),
            format!(
                "The deadline ({due}) has passed and no completion report has been received. \
                 Please submit the report and its evidence as soon as possible."
            ),
        )
    } else {
        (
            format!("整改时限为 {due}（按工作日计算），请按期完成整改并提交整改报告。"),
            format!(
                "The deadline is {due} (counted in working days). Please complete the \
                 rectification and submit the completion report in time."
            ),
        )
    };
    format!(
        "{unit_zh}：\n\n\
         整改事项：{title}\n\
         {zh}\n\n\
         {link}\n\n\
         ----------------------------------------\n\n\
         To {unit_en}:\n\n\
         Finding: {title}\n\
         {en}\n\n\
         {link}\n",
        unit_zh = f.responsible_name_zh,
        unit_en = f.responsible_name_en,
        title = f.title,
    )
}

/// Why a reminder cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum NoticeError {
    #[error("bad From address {address:?}: {source}")]
    From {
        address: String,
        source: lettre::address::AddressError,
    },
    #[error("cannot send to {address:?}: not an e-mail address ({source})")]
    To {
        address: String,
        source: lettre::address::AddressError,
    },
    #[error(transparent)]
    Message(#[from] lettre::error::Error),
}

/// The message, or why it cannot be built (a bad address, usually).
pub fn build(
    from: &str,
    to: &str,
    kind: &str,
    f: &FindingRow,
    link: &str,
) -> Result<Message, NoticeError> {
    let from: Mailbox = from.parse().map_err(|source| NoticeError::From {
        address: from.to_owned(),
        source,
    })?;
    let to_box: Mailbox = to.trim().parse().map_err(|source| NoticeError::To {
        address: to.to_owned(),
        source,
    })?;
    let id = crate::email::message::message_id(from.email.domain());
    Message::builder()
        .from(from)
        .to(to_box)
        .subject(subject(kind, f))
        .message_id(Some(id))
        .header(lettre::message::header::MIME_VERSION_1_0)
        .header(ContentType::TEXT_PLAIN)
        .body(body(kind, f, link))
        .map_err(NoticeError::from)
}
