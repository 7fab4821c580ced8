//! The invitation and reminder e-mails: Chinese first, then English; the unit, the
//! deadline and the link `/t/{token}`.

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::Message;

use crate::questionnaire::Text;

/// What a message says, apart from the token.
#[derive(Debug, Clone)]
pub struct Invitation<'a> {
    pub reminder: bool,
    pub unit: &'a Text,
    pub questionnaire: &'a Text,
    pub evaluation: &'a Text,
    /// YYYY-MM-DD, the last day the link works.
    pub deadline: &'a str,
}

/// The link a token opens.
pub fn token_url(base_url: &str, token: &str) -> String {
    format!("{}/t/{token}", base_url.trim_end_matches('/'))
}

pub fn subject(inv: &Invitation<'_>) -> String {
    if inv.reminder {
        format!(
            "提醒：请参加{}满意度评议 / Reminder: satisfaction survey on {}",
            inv.unit.zh, inv.unit.en
        )
    } else {
        format!(
            "邀请您参加{}满意度评议 / Invitation: satisfaction survey on {}",
            inv.unit.zh, inv.unit.en
        )
    }
}

pub fn body(inv: &Invitation<'_>, link: &str) -> String {
    let (opening_zh, opening_en) = if inv.reminder {
        (
            "我们此前邀请您参加以下评议，目前尚未收到您的回答。如您已经填写，请忽略本邮件。\n",
            "We invited you earlier to the survey below and have not received your answer yet. If you have answered already, please ignore this message.\n",
        )
    } else {
        ("", "")
    };
    format!(
        "您好！\n\n\
         {opening_zh}\
         您被随机抽中参加对“{unit_zh}”的满意度评议（{q_zh}，{eval_zh}）。\n\
         请在 {deadline} 之前（含当日）打开以下链接填写问卷：\n\n\
         {link}\n\n\
         该链接只供您本人使用，只能提交一次。您的回答匿名保存，不记录与本邀请的任何关联。\n\n\
         ----------------------------------------\n\n\
         Hello,\n\n\
         {opening_en}\
         You have been randomly selected to take part in the satisfaction survey on \
         \"{unit_en}\" ({q_en}, {eval_en}).\n\
         Please answer by {deadline} (inclusive) using this link:\n\n\
         {link}\n\n\
         The link is for you only and can be used once. Your answer is stored anonymously; \
         nothing links it to this invitation.\n",
        unit_zh = inv.unit.zh,
        unit_en = inv.unit.en,
        q_zh = inv.questionnaire.zh,
        q_en = inv.questionnaire.en,
        eval_zh = inv.evaluation.zh,
        eval_en = inv.evaluation.en,
        deadline = inv.deadline,
    )
}

/// Why a message could not be built (a bad address in the frame, usually).
#[derive(Debug, thiserror::Error)]
#[error("cannot build the message to {to:?}: {reason}")]
pub struct BuildError {
    pub to: String,
    pub reason: String,
}

/// A fresh `Message-ID` (RFC 5322 §3.6.4) in the sender's domain: 128 random bits.
pub fn message_id(domain: &str) -> String {
    use rand::RngCore;
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    format!("<{}@{}>", hex::encode(b), domain)
}

pub fn build(
    from: &str,
    to: &str,
    inv: &Invitation<'_>,
    link: &str,
) -> Result<Message, BuildError> {
    let err = |reason: String| BuildError {
        to: to.to_owned(),
        reason,
    };
    let from: Mailbox = from
        .parse()
        .map_err(|e| err(format!("bad From address {from:?}: {e}")))?;
    let to_box: Mailbox = to
        .trim()
        .parse()
        .map_err(|e| err(format!("not an e-mail address ({e})")))?;
    let id = message_id(from.email.domain());
    Message::builder()
        .from(from)
        .to(to_box)
        .subject(subject(inv))
        .message_id(Some(id))
        .header(lettre::message::header::MIME_VERSION_1_0)
        .header(ContentType::TEXT_PLAIN)
        .body(body(inv, link))
        .map_err(|e| err(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_first_with_unit_deadline_and_link() {
        let unit = Text::new("市场监管局", "Market Regulation Bureau");
        let q = Text::new("干部职工问卷", "Staff questionnaire");
        let e = Text::new("2026年度评议", "2026 evaluation");
        let inv = Invitation {
            reminder: false,
            unit: &unit,
            questionnaire: &q,
            evaluation: &e,
            deadline: "2026-12-15",
        };
        let link = token_url("https://p.example.cn/", "abc");
        assert_eq!(link, "https://p.example.cn/t/abc");
        let b = body(&inv, &link);
        let zh = b.find("市场监管局").unwrap();
        let en = b.find("Market Regulation Bureau").unwrap();
        assert!(zh < en, "Chinese comes first");
        assert_eq!(b.matches(&link).count(), 2);
        assert_eq!(b.matches("2026-12-15").count(), 2);
        assert!(subject(&inv).starts_with("邀请"));
        let r = Invitation {
            reminder: true,
            ..inv.clone()
        };
        assert!(subject(&r).starts_with("提醒"));
        let m = build("评议 <pingyi@example.cn>", "a@b.cn", &inv, &link).unwrap();
        let raw = String::from_utf8_lossy(&m.formatted()).to_string();
        assert!(raw.contains("To: a@b.cn"), "{raw}");
        assert!(raw.contains("MIME-Version: 1.0\r\n"), "{raw}");
        let id = raw
            .lines()
            .find_map(|l| l.strip_prefix("Message-ID: "))
            .unwrap_or_else(|| panic!("no Message-ID in {raw}"));
        assert!(id.starts_with('<') && id.ends_with("@example.cn>"), "{id}");
        let again = build("评议 <pingyi@example.cn>", "a@b.cn", &inv, &link).unwrap();
        assert!(!String::from_utf8_lossy(&again.formatted()).contains(id));
        assert!(build("pingyi@example.cn", "not an address", &inv, &link).is_err());
    }
}
