//! Users of every role, created and disabled by an admin from the web: a new user gets a
//! one-time set-password link (shown once to the admin); an admin reset issues a new link;
//! users change their own password.

use serde::{Deserialize, Serialize};

use crate::auth::{hash_password, random_secret, verify_password, Role};
use crate::collect::sha256_hex;
use crate::evaluations::{FieldError, SetupError, SetupResult};
use crate::store::{AuditRecord, NewPasswordLink, NewUser, Store, UserId, UserRow};

/// How long a set-password link works.
pub const LINK_HOURS: i64 = 72;
pub const MIN_PASSWORD: usize = 10;
/// Path of the set-password page; the secret follows it.
pub const SET_PASSWORD_PATH: &str = "/set-password";

/// A new user as typed in the admin's form or a JSON body.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct UserInput {
    pub name: String,
    pub role: String,
    /// Unit code, for the unit role.
    pub unit: String,
    /// Firm name, for the firm role (created when new).
    pub firm: String,
}

/// A set-password link: the path with its secret, shown once.
#[derive(Debug, Clone, Serialize)]
pub struct PasswordLink {
    pub user_id: UserId,
    pub path: String,
    pub expires_at: String,
}

fn new_link(actor: &str) -> (String, NewPasswordLink, String) {
    let secret = random_secret();
    let expires_at = (chrono::Utc::now() + chrono::Duration::hours(LINK_HOURS))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let link = NewPasswordLink {
        token_hash: sha256_hex(&secret),
        expires_at: expires_at.clone(),
        created_by: actor.to_owned(),
    };
    (format!("{SET_PASSWORD_PATH}/{secret}"), link, expires_at)
}

/// The hash of a password nobody knows: the account cannot sign in until a link is used.
fn unusable_hash() -> SetupResult<String> {
    hash_password(&random_secret())
        .map_err(|e| SetupError::Store(crate::store::StoreError::Internal(e.to_string())))
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.chars().count() <= 64
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'))
}

/// Creates a user of any role and returns the one-time link to set its password.
pub async fn create_user(
    store: &Store,
    input: &UserInput,
    actor: &str,
) -> SetupResult<PasswordLink> {
    let mut errors = Vec::new();
    let name = input.name.trim();
    if !valid_name(name) {
        errors.push(FieldError::new(
            "name",
            name,
            "a user name is 1–64 letters, digits, '-', '_', '.' or '@'",
            "用户名为 1–64 位字母、数字或 - _ . @",
        ));
    } else if store.user_by_name(name).await?.is_some() {
        errors.push(FieldError::new(
            "name",
            name,
            "a user with this name already exists",
            "该用户名已存在",
        ));
    }
    let role: Option<Role> = input.role.trim().parse().ok();
    if role.is_none() {
        errors.push(FieldError::new(
            "role",
            input.role.trim(),
            "choose a role: admin, evaluator, firm or unit",
            "请选择角色：管理员、评估人员、调查机构或被评估单位",
        ));
    }
    let (unit, firm) = (input.unit.trim(), input.firm.trim());
    let mut unit_id = None;
    match (role, unit.is_empty()) {
        (Some(Role::Unit), true) => errors.push(FieldError::new(
            "unit",
            "",
            "a unit user needs its unit",
            "被评估单位用户须指定单位",
        )),
        (Some(Role::Unit), false) => match store.register_unit(unit).await {
            Ok(u) => unit_id = Some(u.id.get()),
            Err(crate::store::StoreError::NotFound(_)) => errors.push(FieldError::new(
                "unit",
                unit,
                "no unit with this code in the register",
                "单位名录中没有该代码",
            )),
            Err(e) => return Err(e.into()),
        },
        (_, false) => errors.push(FieldError::new(
            "unit",
            unit,
            "only unit users belong to a unit",
            "只有被评估单位用户需要指定单位",
        )),
        _ => {}
    }
    match (role, firm.is_empty()) {
        (Some(Role::Firm), true) => errors.push(FieldError::new(
            "firm",
            "",
            "a firm user needs its survey firm's name",
            "调查机构用户须填写机构名称",
        )),
        (Some(Role::Firm), false) if firm.chars().count() > 200 => errors.push(FieldError::new(
            "firm",
            firm,
            "a firm name has at most 200 characters",
            "机构名称最多 200 个字符",
        )),
        (Some(Role::Firm), false) => {}
        (_, false) => errors.push(FieldError::new(
            "firm",
            firm,
            "only firm users belong to a firm",
            "只有调查机构用户需要填写机构",
        )),
        _ => {}
    }
    let Some(role) = role.filter(|_| errors.is_empty()) else {
        return Err(SetupError::Invalid(errors));
    };
    let firm_id = if role == Role::Firm {
        Some(match store.firm_by_name(firm).await? {
            Some(f) => f.id,
            None => store.create_firm(firm).await?.id,
        })
    } else {
        None
    };
    let (path, link, expires_at) = new_link(actor);
    let user = NewUser {
        name: name.to_owned(),
        role: role.as_str().to_owned(),
        password_hash: unusable_hash()?,
        unit_id,
        firm_id,
    };
    let audit = AuditRecord::new(actor, "user.create", "user").detail(serde_json::json!({
        "name": name, "role": role.as_str(), "unit": (!unit.is_empty()).then_some(unit),
        "firm": (!firm.is_empty()).then_some(firm),
    }));
    let user_id = store.create_user_with_link(&user, &link, &audit).await?;
    Ok(PasswordLink {
        user_id,
        path,
        expires_at,
    })
}

async fn user(store: &Store, id: UserId) -> SetupResult<UserRow> {
    store
        .user_by_id(id.get())
        .await?
        .ok_or_else(|| SetupError::NotFound(format!("user {id}")))
}

/// Disables (every session ends) or enables a user. The last active admin stays.
pub async fn set_disabled(
    store: &Store,
    id: UserId,
    disabled: bool,
    reason: &str,
    actor: &str,
) -> SetupResult<UserRow> {
    let u = user(store, id).await?;
    if disabled && u.role == "admin" && u.disabled == 0 && store.active_admins().await? <= 1 {
        return Err(SetupError::conflict(
            "this is the last active admin; create or enable another admin first",
            "这是最后一个可用的管理员账户；请先创建或启用另一个管理员",
        ));
    }
    let action = if disabled {
        "user.disable"
    } else {
        "user.enable"
    };
    let audit = AuditRecord::new(actor, action, format!("user:{id}"))
        .detail(serde_json::json!({ "name": u.name }))
        .reason(reason);
    store.set_user_disabled(id, disabled, &audit).await?;
    user(store, id).await
}

/// An admin's reset: the old password and every session stop working; a new one-time link.
pub async fn reset_password(store: &Store, id: UserId, actor: &str) -> SetupResult<PasswordLink> {
    let u = user(store, id).await?;
    let (path, link, expires_at) = new_link(actor);
    let audit = AuditRecord::new(actor, "user.reset_password", format!("user:{id}"))
        .detail(serde_json::json!({ "name": u.name }));
    store
        .reset_password_link(id, &unusable_hash()?, &link, &audit)
        .await?;
    Ok(PasswordLink {
        user_id: id,
        path,
        expires_at,
    })
}

fn check_new_password(name: &str, password: &str, confirm: &str) -> Result<(), FieldError> {
    if password.chars().count() < MIN_PASSWORD {
        return Err(FieldError::new(
            "password",
            "",
            format!("a password has at least {MIN_PASSWORD} characters"),
            format!("密码至少 {MIN_PASSWORD} 个字符"),
        ));
    }
    if password.chars().count() > 200 {
        return Err(FieldError::new(
            "password",
            "",
            "a password has at most 200 characters",
            "密码最多 200 个字符",
        ));
    }
    if password.eq_ignore_ascii_case(name) {
        return Err(FieldError::new(
            "password",
            "",
            "the password may not be the user name",
            "密码不能与用户名相同",
        ));
    }
    if password != confirm {
        return Err(FieldError::new(
            "confirm",
            "",
            "the two passwords differ",
            "两次输入的密码不一致",
        ));
    }
    Ok(())
}

/// The user a set-password link is for, while it works.
pub async fn link_user(store: &Store, secret: &str) -> SetupResult<Option<UserRow>> {
    if secret.len() != 64 || !secret.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    Ok(store.password_link_user(&sha256_hex(secret)).await?)
}

/// Sets a password through a one-time link. NotFound when the link is unknown, used or expired.
pub async fn set_password_with_link(
    store: &Store,
    secret: &str,
    password: &str,
    confirm: &str,
) -> SetupResult<UserRow> {
    let u = link_user(store, secret)
        .await?
        .ok_or_else(|| SetupError::NotFound("set-password link".into()))?;
    check_new_password(&u.name, password, confirm).map_err(SetupError::invalid)?;
    let hash = hash_password(password)
        .map_err(|e| SetupError::Store(crate::store::StoreError::Internal(e.to_string())))?;
    let audit = AuditRecord::new(&u.name, "user.set_password", "user");
    store
        .use_password_link(&sha256_hex(secret), &hash, &audit)
        .await?
        .ok_or_else(|| SetupError::NotFound("set-password link".into()))?;
    user(store, UserId(u.id)).await
}

/// A signed-in user changes their password; their other sessions end.
pub async fn change_password(
    store: &Store,
    id: UserId,
    current: &str,
    password: &str,
    confirm: &str,
    keep_session_hash: Option<&str>,
) -> SetupResult<()> {
    let u = user(store, id).await?;
    let hash = u.password_hash.clone();
    let current = current.to_owned();
    let ok = tokio::task::spawn_blocking(move || verify_password(&hash, &current))
        .await
        .unwrap_or(false);
    if !ok {
        return Err(SetupError::invalid(FieldError::new(
            "current",
            "",
            "the current password is wrong",
            "当前密码不正确",
        )));
    }
    check_new_password(&u.name, password, confirm).map_err(SetupError::invalid)?;
    let hash = hash_password(password)
        .map_err(|e| SetupError::Store(crate::store::StoreError::Internal(e.to_string())))?;
    let audit = AuditRecord::new(&u.name, "user.change_password", format!("user:{id}"));
    store
        .change_password(id, &hash, keep_session_hash, &audit)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_long_not_the_name_and_confirmed() {
        assert_eq!(
            check_new_password("ann", "short", "short")
                .unwrap_err()
                .field,
            "password"
        );
        assert_eq!(
            check_new_password("annannanna", "AnnAnnAnna", "AnnAnnAnna")
                .unwrap_err()
                .field,
            "password"
        );
        assert_eq!(
            check_new_password("ann", "long enough 1", "long enough 2")
                .unwrap_err()
                .field,
            "confirm"
        );
        assert!(check_new_password("ann", "long enough 1", "long enough 1").is_ok());
        assert!(valid_name("ops.admin@city") && !valid_name("two words") && !valid_name(""));
    }
}
