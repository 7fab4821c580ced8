//! SMTP settings from the environment (`PINGYI_SMTP_*`).

use std::time::Duration;

use anyhow::{anyhow, bail, Context};

/// How the connection to the SMTP server is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// Plain connection upgraded with STARTTLS (required, not opportunistic). Port 587.
    StartTls,
    /// TLS from the first byte ("SMTPS"). Port 465.
    Tls,
    /// No encryption: only for a relay on localhost or a trusted network. Port 25.
    None,
}

impl Security {
    pub fn parse(s: &str) -> anyhow::Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "starttls" => Ok(Security::StartTls),
            "tls" | "smtps" | "ssl" => Ok(Security::Tls),
            "none" | "plain" => Ok(Security::None),
            other => {
                bail!("PINGYI_SMTP_SECURITY={other:?} is not understood; use starttls, tls or none")
            }
        }
    }

    pub fn default_port(self) -> u16 {
        match self {
            Security::StartTls => 587,
            Security::Tls => 465,
            Security::None => 25,
        }
    }
}

#[derive(Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub user: Option<String>,
    pub password: Option<String>,
    /// The From address, e.g. `评议办公室 <pingyi@example.gov.cn>`.
    pub from: String,
    /// Messages per minute (0 = no limit).
    pub rate_per_minute: u32,
    /// Time allowed for each SMTP command.
    pub timeout: Duration,
}

impl std::fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("from", &self.from)
            .field("rate_per_minute", &self.rate_per_minute)
            .finish()
    }
}

impl SmtpConfig {
    /// A plain connection to a local server (tests, a relay on the same host).
    pub fn local(port: u16, from: &str) -> Self {
        SmtpConfig {
            host: "127.0.0.1".into(),
            port,
            security: Security::None,
            user: None,
            password: None,
            from: from.into(),
            rate_per_minute: 0,
            timeout: Duration::from_secs(30),
        }
    }

    /// Reads `PINGYI_SMTP_*`. `Ok(None)` when `PINGYI_SMTP_HOST` is unset or empty (e-mail
    /// is off); an error when it is set but the rest is incomplete or malformed.
    pub fn from_env() -> anyhow::Result<Option<Self>> {
        Self::from_vars(|k| std::env::var(k).ok())
    }

    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> anyhow::Result<Option<Self>> {
        let var = |k: &str| {
            get(k)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let Some(host) = var("PINGYI_SMTP_HOST") else {
            return Ok(None);
        };
        let security = match var("PINGYI_SMTP_SECURITY") {
            Some(s) => Security::parse(&s)?,
            None => Security::StartTls,
        };
        let port = match var("PINGYI_SMTP_PORT") {
            Some(p) => p
                .parse::<u16>()
                .with_context(|| format!("PINGYI_SMTP_PORT={p:?} is not a port number"))?,
            None => security.default_port(),
        };
        let from = var("PINGYI_SMTP_FROM").ok_or_else(|| {
            anyhow!("PINGYI_SMTP_HOST is set but PINGYI_SMTP_FROM is not; set the sender address, e.g. pingyi@example.gov.cn")
        })?;
        from.parse::<lettre::message::Mailbox>()
            .with_context(|| format!("PINGYI_SMTP_FROM={from:?} is not an e-mail address"))?;
        let user = var("PINGYI_SMTP_USER");
        let password = get("PINGYI_SMTP_PASSWORD").filter(|p| !p.is_empty());
        if user.is_some() != password.is_some() {
            bail!("set both PINGYI_SMTP_USER and PINGYI_SMTP_PASSWORD, or neither");
        }
        let rate_per_minute = match var("PINGYI_SMTP_RATE_PER_MINUTE") {
            Some(r) => r.parse::<u32>().with_context(|| {
                format!("PINGYI_SMTP_RATE_PER_MINUTE={r:?} is not a whole number (0 = no limit)")
            })?,
            None => 60,
        };
        Ok(Some(SmtpConfig {
            host,
            port,
            security,
            user,
            password,
            from,
            rate_per_minute,
            timeout: Duration::from_secs(30),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(pairs: &[(&str, &str)]) -> anyhow::Result<Option<SmtpConfig>> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        SmtpConfig::from_vars(|k| m.get(k).cloned())
    }

    #[test]
    fn off_without_host() {
        assert!(cfg(&[]).unwrap().is_none());
        assert!(cfg(&[("PINGYI_SMTP_HOST", " ")]).unwrap().is_none());
    }

    #[test]
    fn defaults_and_ports_follow_security() {
        let c = cfg(&[("PINGYI_SMTP_HOST", "mx"), ("PINGYI_SMTP_FROM", "a@b.cn")])
            .unwrap()
            .unwrap();
        assert_eq!(
            (c.security, c.port, c.rate_per_minute),
            (Security::StartTls, 587, 60)
        );
        let c = cfg(&[
            ("PINGYI_SMTP_HOST", "mx"),
            ("PINGYI_SMTP_FROM", "评议 <a@b.cn>"),
            ("PINGYI_SMTP_SECURITY", "TLS"),
            ("PINGYI_SMTP_USER", "u"),
            ("PINGYI_SMTP_PASSWORD", "p"),
            ("PINGYI_SMTP_RATE_PER_MINUTE", "0"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            (c.security, c.port, c.rate_per_minute),
            (Security::Tls, 465, 0)
        );
        assert!(
            !format!("{c:?}").contains("\"p\""),
            "password must not be printed"
        );
    }

    #[test]
    fn clear_errors() {
        let e = cfg(&[("PINGYI_SMTP_HOST", "mx")]).unwrap_err().to_string();
        assert!(e.contains("PINGYI_SMTP_FROM"), "{e}");
        let e = cfg(&[
            ("PINGYI_SMTP_HOST", "mx"),
            ("PINGYI_SMTP_FROM", "a@b.cn"),
            ("PINGYI_SMTP_SECURITY", "maybe"),
        ])
        .unwrap_err()
        .to_string();
        assert!(e.contains("starttls, tls or none"), "{e}");
        let e = cfg(&[
            ("PINGYI_SMTP_HOST", "mx"),
            ("PINGYI_SMTP_FROM", "a@b.cn"),
            ("PINGYI_SMTP_USER", "u"),
        ])
        .unwrap_err()
        .to_string();
        assert!(e.contains("both"), "{e}");
    }
}
