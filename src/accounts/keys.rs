//! Named API keys of evaluators and admins: created with an expiry, shown once, stored as a
//! SHA-256 only, listed by prefix and last use, revoked by their owner or an admin.

use serde::{Deserialize, Serialize};

use crate::auth::{random_secret, CurrentUser, Role};
use crate::collect::sha256_hex;
use crate::evaluations::{FieldError, SetupError, SetupResult};
use crate::store::{AuditRecord, KeyRow, NewKey, Store, UserId};

/// Characters of a key that identify it in lists (`pyu_` and 8 hex digits).
pub const PREFIX_LEN: usize = 12;
/// Longest expiry a key may have.
pub const MAX_EXPIRY_DAYS: i64 = 3 * 366;
pub const DEFAULT_EXPIRY_DAYS: i64 = 90;

/// A new key as asked for.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct KeyInput {
    pub label: String,
    /// Days until it expires (default 90), as typed.
    #[serde(deserialize_with = "crate::evaluations::evaluation::text_or_number")]
    pub expires_days: String,
}

/// A key just made: the secret is here and nowhere else.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NewKeyShown {
    pub key: String,
    #[serde(flatten)]
    pub row: KeyRow,
}

/// A user's API key: `pyu_` + 64 hex digits.
pub fn new_secret() -> String {
    format!("pyu_{}", random_secret())
}

/// Creates a key for `owner` (an evaluator or admin).
pub async fn create_key(
    store: &Store,
    owner: UserId,
    input: &KeyInput,
    actor: &str,
) -> SetupResult<NewKeyShown> {
    let user = store
        .user_by_id(owner.get())
        .await?
        .ok_or_else(|| SetupError::NotFound(format!("user {owner}")))?;
    let mut errors = Vec::new();
    if !matches!(user.role.parse::<Role>(), Ok(Role::Admin | Role::Evaluator)) {
        errors.push(FieldError::new(
            "user",
            &user.name,
            "only evaluators and admins have API keys (firms use their firm key)",
            "只有评估人员和管理员可以创建 API 密钥（调查机构使用机构密钥）",
        ));
    }
    if user.disabled != 0 {
        errors.push(FieldError::new(
            "user",
            &user.name,
            "this user is disabled",
            "该用户已停用",
        ));
    }
    let label = input.label.trim();
    if label.chars().count() > 100 {
        errors.push(FieldError::new(
            "label",
            label,
            "a key's name has at most 100 characters",
            "密钥名称最多 100 个字符",
        ));
    }
    let days = match input.expires_days.trim() {
        "" => Some(DEFAULT_EXPIRY_DAYS),
        d => d
            .parse::<i64>()
            .ok()
            .filter(|d| (1..=MAX_EXPIRY_DAYS).contains(d)),
    };
    if days.is_none() {
        errors.push(FieldError::new(
            "expires_days",
            input.expires_days.trim(),
            format!("the expiry is a whole number of days from 1 to {MAX_EXPIRY_DAYS}"),
            format!("有效期应为 1 到 {MAX_EXPIRY_DAYS} 之间的天数"),
        ));
    }
    let Some(days) = days.filter(|_| errors.is_empty()) else {
        return Err(SetupError::Invalid(errors));
    };
    let key = new_secret();
    let prefix = key[..PREFIX_LEN].to_owned();
    let expires_at = (chrono::Utc::now() + chrono::Duration::days(days))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let audit = AuditRecord::new(actor, "key.create", format!("user:{owner}")).detail(
        serde_json::json!({ "user": user.name, "prefix": prefix, "label": label, "expires_at": expires_at }),
    );
    let row = store
        .create_key(
            &NewKey {
                user_id: owner,
                key_hash: sha256_hex(&key),
                prefix,
                label: label.to_owned(),
                expires_at: Some(expires_at),
            },
            &audit,
        )
        .await?;
    Ok(NewKeyShown { key, row })
}

/// Keys `viewer` may see: their own; an admin sees everyone's.
pub async fn visible_keys(store: &Store, viewer: &CurrentUser) -> SetupResult<Vec<KeyRow>> {
    let only = (viewer.role != Role::Admin).then_some(UserId(viewer.id));
    Ok(store.list_keys(only).await?)
}

/// Revokes the one key whose prefix starts with `prefix`; `viewer` None is the command line
/// (the machine's operator), otherwise owners revoke their keys and admins anyone's.
pub async fn revoke_by_prefix(
    store: &Store,
    prefix: &str,
    reason: &str,
    viewer: Option<&CurrentUser>,
    actor: &str,
) -> SetupResult<KeyRow> {
    let prefix = prefix.trim();
    if prefix.len() < 6 {
        return Err(SetupError::invalid(FieldError::new(
            "prefix",
            prefix,
            "give at least the first 6 characters of the key (as listed)",
            "请至少给出密钥前 6 位（见列表）",
        )));
    }
    let matches: Vec<KeyRow> = store
        .keys_by_prefix(prefix)
        .await?
        .into_iter()
        .filter(|k| k.revoked == 0)
        .filter(|k| viewer.is_none_or(|v| v.role == Role::Admin || v.id == k.user_id))
        .collect();
    let key = match matches.as_slice() {
        [] => {
            return Err(SetupError::NotFound(format!(
                "active API key with prefix {prefix:?}"
            )))
        }
        [k] => k.clone(),
        _ => {
            return Err(SetupError::invalid(FieldError::new(
                "prefix",
                prefix,
                format!(
                    "{} active keys start with this prefix; give more of it",
                    matches.len()
                ),
                format!("有 {} 个密钥以此开头，请给出更长的前缀", matches.len()),
            )))
        }
    };
    let audit = AuditRecord::new(actor, "key.revoke", format!("user:{}", key.user_id))
        .detail(
            serde_json::json!({ "user": key.user_name, "prefix": key.prefix, "label": key.label }),
        )
        .reason(reason);
    store.revoke_key(key.id, &audit).await?;
    Ok(store.key(key.id).await?)
}

#[cfg(test)]
mod tests {
    #[test]
    fn secrets_have_a_listed_prefix() {
        let k = super::new_secret();
        assert!(k.starts_with("pyu_") && k.len() == 68);
        assert_ne!(
            k[..super::PREFIX_LEN],
            super::new_secret()[..super::PREFIX_LEN]
        );
    }
}
