//! Set-password links by e-mail: when SMTP is configured and the user has an address, the
//! link goes to the user instead of being shown to the admin.

use lettre::message::header::ContentType;
use lettre::message::Mailbox;

use super::users::PasswordLink;
use crate::email::queue::SendOutcome;
use crate::email::{Mailer, SmtpConfig};

/// What became of a link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// E-mailed to this address: it is not shown anywhere.
    Sent(String),
    /// No SMTP or no address: the admin is shown the link once.
    Shown,
    /// Sending failed: the admin is shown the link once, with why.
    Failed(String),
}

/// The message: Chinese first, then English; the link and when it stops working.
pub fn message(
    from: &str,
    to: &str,
    user: &str,
    url: &str,
    expires_at: &str,
) -> Result<lettre::Message, String> {
    let from: Mailbox = from
        .parse()
        .map_err(|e| format!("bad From address {from:?}: {e}"))?;
    let to: Mailbox = to
        .parse()
        .map_err(|e| format!("not an e-mail address ({e})"))?;
    let body = format!(
        "您好，{user}：\n\n评议平台已为您开设账户（用户名 {user}）。请在 {expires_at} 前打开以下链接设置密码，链接仅可使用一次：\n\n{url}\n\n\
         如非本人申请，请忽略本邮件。\n\n----\n\n\
         Hello {user},\n\nAn account was opened for you on pingyi (user name {user}). Open this link to set your password; it works once, until {expires_at}:\n\n{url}\n\n\
         If you did not expect this, ignore this message.\n"
    );
    let id = crate::email::message::message_id(from.email.domain());
    lettre::Message::builder()
        .from(from)
        .to(to)
        .subject("设置您的评议平台密码 / Set your pingyi password")
        .message_id(Some(id))
        .header(lettre::message::header::MIME_VERSION_1_0)
        .header(ContentType::TEXT_PLAIN)
        .body(body)
        .map_err(|e| e.to_string())
}

/// E-mails `link` to `email` when both SMTP and an address are there.
pub async fn deliver(
    smtp: Option<&SmtpConfig>,
    base_url: &str,
    user: &str,
    email: Option<&str>,
    link: &PasswordLink,
) -> Delivery {
    let (Some(cfg), Some(to)) = (smtp, email.filter(|e| !e.is_empty())) else {
        return Delivery::Shown;
    };
    let url = format!("{}{}", base_url.trim_end_matches('/'), link.path);
    let msg = match message(&cfg.from, to, user, &url, &link.expires_at) {
        Ok(m) => m,
        Err(e) => return Delivery::Failed(e),
    };
    let mailer = match Mailer::new(cfg) {
        Ok(m) => m,
        Err(e) => return Delivery::Failed(e.to_string()),
    };
    match mailer.send(msg).await {
        SendOutcome::Accepted => Delivery::Sent(to.to_owned()),
        SendOutcome::Retry(e) | SendOutcome::Final(_, e) | SendOutcome::Unknown(e) => {
            tracing::warn!(error = %e, "set-password e-mail not sent; the link is shown instead");
            Delivery::Failed(e)
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn chinese_first_with_the_link_and_expiry() {
        let m = super::message(
            "评议 <pingyi@example.cn>",
            "li@jyj.gov.cn",
            "li",
            "https://p.example.cn/set-password/abc",
            "2026-12-07T10:00:00Z",
        )
        .unwrap();
        let raw = String::from_utf8_lossy(&m.formatted()).to_string();
        assert!(raw.contains("To: li@jyj.gov.cn"));
        assert!(super::message("pingyi@example.cn", "not an address", "li", "u", "e").is_err());
    }
}
