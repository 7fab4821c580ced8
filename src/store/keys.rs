//! People and keys managed from the web and the CLI: users' API keys (hashed, with expiry and
//! last use), one-time set-password links, disabling users. Each write carries its audit entry.

use serde::Serialize;

use super::audit::{audit_in, AuditRecord};
use super::*;

/// An API key as lists show it: never the key, only its prefix.
#[derive(Debug, Clone, sqlx::FromRow, Serialize, utoipa::ToSchema)]
pub struct KeyRow {
    pub id: i64,
    pub user_id: i64,
    pub user_name: String,
    pub prefix: String,
    pub label: String,
    pub created_on: String,
    pub expires_at: Option<String>,
    pub last_used_at: Option<String>,
    pub revoked: i64,
    pub revoked_at: Option<String>,
    pub revoked_by: Option<String>,
}

impl KeyRow {
    /// Usable now: not revoked and not expired.
    pub fn is_active(&self, now: &str) -> bool {
        self.revoked == 0 && self.expires_at.as_deref().is_none_or(|e| e > now)
    }
}

/// A new key to store (its SHA-256 only).
#[derive(Debug, Clone)]
pub struct NewKey {
    pub user_id: UserId,
    pub key_hash: String,
    pub prefix: String,
    pub label: String,
    pub expires_at: Option<String>,
}

/// A user to create with a one-time set-password link.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub name: String,
    pub role: String,
    /// Hash of a secret nobody knows: the user signs in only after setting a password.
    pub password_hash: String,
    pub unit_id: Option<i64>,
    pub firm_id: Option<i64>,
    /// Where set-password links are e-mailed, if anywhere.
    pub email: Option<String>,
}

/// A one-time set-password link to store (the hash of its secret).
#[derive(Debug, Clone)]
pub struct NewPasswordLink {
    pub token_hash: String,
    pub expires_at: String,
    pub created_by: String,
}

const KEY_SQL: &str =
    "SELECT k.id, k.user_id, u.name AS user_name, k.prefix, k.label, k.created_on, \
     k.expires_at, k.last_used_at, k.revoked, k.revoked_at, k.revoked_by \
     FROM api_keys k JOIN users u ON u.id = k.user_id";

/// A key's last use is written at most this often (a write per API request would cost more
/// than it tells).
const LAST_USE_RESOLUTION_MINUTES: i64 = 5;

impl Store {
    pub async fn create_key(&self, k: &NewKey, audit: &AuditRecord) -> StoreResult<KeyRow> {
        let id: i64 = with_pool!(self, p => {
            let mut tx = p.begin().await?;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO api_keys (user_id, key_hash, prefix, label, created_on, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            )
            .bind(k.user_id.get()).bind(&k.key_hash).bind(&k.prefix).bind(&k.label)
            .bind(chrono::Utc::now().date_naive().to_string()).bind(k.expires_at.as_deref())
            .fetch_one(&mut *tx).await?;
            audit_in!(&mut *tx, audit);
            tx.commit().await?;
            id
        });
        self.key(id).await
    }

    pub async fn key(&self, id: i64) -> StoreResult<KeyRow> {
        let sql = format!("{KEY_SQL} WHERE k.id = $1");
        let row: Option<KeyRow> =
            with_pool!(self, p => sqlx::query_as(&sql).bind(id).fetch_optional(p).await?);
        row.ok_or_else(|| StoreError::NotFound(format!("API key {id}")))
    }

    /// Keys of one user, or of everyone; newest first.
    pub async fn list_keys(&self, user: Option<UserId>) -> StoreResult<Vec<KeyRow>> {
        let sql = format!("{KEY_SQL} WHERE ($1 IS NULL OR k.user_id = $1) ORDER BY k.id DESC");
        Ok(
            with_pool!(self, p => sqlx::query_as(&sql).bind(user.map(UserId::get)).fetch_all(p).await?),
        )
    }

    /// Keys whose prefix starts with `prefix`.
    pub async fn keys_by_prefix(&self, prefix: &str) -> StoreResult<Vec<KeyRow>> {
        let sql = format!("{KEY_SQL} WHERE k.prefix LIKE $1 ESCAPE '\\' ORDER BY k.id");
        let pattern = format!("{}%", super::audit::like_escape(prefix));
        Ok(with_pool!(self, p => sqlx::query_as(&sql).bind(pattern).fetch_all(p).await?))
    }

    /// Revokes one key; a conflict when it is already revoked.
    pub async fn revoke_key(&self, id: i64, audit: &AuditRecord) -> StoreResult<()> {
        with_pool!(self, p => {
            let mut tx = p.begin().await?;
            let n = sqlx::query(
                "UPDATE api_keys SET revoked = 1, revoked_at = $2, revoked_by = $3 WHERE id = $1 AND revoked = 0",
            )
            .bind(id).bind(now_rfc3339()).bind(&audit.actor)
            .execute(&mut *tx).await?.rows_affected();
            if n == 0 {
                return Err(StoreError::Conflict(format!("API key {id} is already revoked or does not exist")));
            }
            audit_in!(&mut *tx, audit);
            tx.commit().await?;
        });
        Ok(())
    }

    /// The user of an unrevoked, unexpired key; notes the key's last use.
    pub async fn key_user(&self, key_hash: &str) -> StoreResult<Option<UserRow>> {
        let now = now_rfc3339();
        let row: Option<(i64, i64, Option<String>)> = with_pool!(self, p => sqlx::query_as(
            "SELECT id, user_id, last_used_at FROM api_keys WHERE key_hash = $1 AND revoked = 0 \
             AND (expires_at IS NULL OR expires_at > $2)"
        ).bind(key_hash).bind(&now).fetch_optional(p).await?);
        let Some((key_id, user_id, last)) = row else {
            return Ok(None);
        };
        let stale = (chrono::Utc::now() - chrono::Duration::minutes(LAST_USE_RESOLUTION_MINUTES))
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        if last.as_deref().is_none_or(|l| l < stale.as_str()) {
            with_pool!(self, p => {
                sqlx::query("UPDATE api_keys SET last_used_at = $2 WHERE id = $1")
                    .bind(key_id).bind(&now).execute(p).await?;
            });
        }
        self.user_by_id(user_id).await
    }

    // ----- users -----

    /// Creates a user and a set-password link for them in one transaction.
    pub async fn create_user_with_link(
        &self,
        u: &NewUser,
        link: &NewPasswordLink,
        audit: &AuditRecord,
    ) -> StoreResult<UserId> {
        let id: i64 = with_pool!(self, p => {
            let mut tx = p.begin().await?;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO users (name, role, password_hash, unit_id, firm_id, created_at, email) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
            )
            .bind(&u.name).bind(&u.role).bind(&u.password_hash).bind(u.unit_id).bind(u.firm_id)
            .bind(now_rfc3339()).bind(u.email.as_deref())
            .fetch_one(&mut *tx).await
            .map_err(|e| queries::unique_to_conflict(e, &format!("a user named {:?} already exists", u.name)))?;
            sqlx::query(
                "INSERT INTO password_links (token_hash, user_id, created_by, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&link.token_hash).bind(id).bind(&link.created_by).bind(now_rfc3339()).bind(&link.expires_at)
            .execute(&mut *tx).await?;
            let audit = AuditRecord { target: format!("user:{id}"), ..audit.clone() };
            audit_in!(&mut *tx, audit);
            tx.commit().await?;
            id
        });
        Ok(UserId(id))
    }

    /// A new set-password link for an existing user (a reset): earlier unused links stop
    /// working, the current password stops working and every session of the user ends.
    pub async fn reset_password_link(
        &self,
        user: UserId,
        unusable_hash: &str,
        link: &NewPasswordLink,
        audit: &AuditRecord,
    ) -> StoreResult<()> {
        with_pool!(self, p => {
            let mut tx = p.begin().await?;
            let n = sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1")
                .bind(user.get()).bind(unusable_hash).execute(&mut *tx).await?.rows_affected();
            if n == 0 {
                return Err(StoreError::NotFound(format!("user {user}")));
            }
            sqlx::query("UPDATE password_links SET used = 1 WHERE user_id = $1")
                .bind(user.get()).execute(&mut *tx).await?;
            sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                .bind(user.get()).execute(&mut *tx).await?;
            sqlx::query(
                "INSERT INTO password_links (token_hash, user_id, created_by, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&link.token_hash).bind(user.get()).bind(&link.created_by).bind(now_rfc3339())
            .bind(&link.expires_at)
            .execute(&mut *tx).await?;
            audit_in!(&mut *tx, audit);
            tx.commit().await?;
        });
        Ok(())
    }

    /// The user a set-password link is for, while it is unused and unexpired.
    pub async fn password_link_user(&self, token_hash: &str) -> StoreResult<Option<UserRow>> {
        let uid: Option<i64> = with_pool!(self, p => sqlx::query_scalar(
            "SELECT user_id FROM password_links WHERE token_hash = $1 AND used = 0 AND expires_at > $2"
        ).bind(token_hash).bind(now_rfc3339()).fetch_optional(p).await?);
        match uid {
            Some(id) => self.user_by_id(id).await,
            None => Ok(None),
        }
    }

    /// Uses a set-password link once: sets the password and clears any lock-out. None when
    /// the link is unknown, used or expired (nothing changes then).
    pub async fn use_password_link(
        &self,
        token_hash: &str,
        password_hash: &str,
        audit: &AuditRecord,
    ) -> StoreResult<Option<UserId>> {
        let uid: Option<i64> = with_pool!(self, p => {
            let mut tx = p.begin().await?;
            let uid: Option<i64> = sqlx::query_scalar(
                "UPDATE password_links SET used = 1 WHERE token_hash = $1 AND used = 0 AND expires_at > $2 \
                 RETURNING user_id",
            )
            .bind(token_hash).bind(now_rfc3339()).fetch_optional(&mut *tx).await?;
            if let Some(id) = uid {
                sqlx::query(
                    "UPDATE users SET password_hash = $2, failed_attempts = 0, locked_until = NULL WHERE id = $1",
                )
                .bind(id).bind(password_hash).execute(&mut *tx).await?;
                sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                    .bind(id).execute(&mut *tx).await?;
                let audit = AuditRecord { target: format!("user:{id}"), ..audit.clone() };
                audit_in!(&mut *tx, audit);
                tx.commit().await?;
            }
            uid
        });
        Ok(uid.map(UserId))
    }

    /// A user's own password change: every other session of the user ends.
    pub async fn change_password(
        &self,
        user: UserId,
        password_hash: &str,
        keep_session_hash: Option<&str>,
        audit: &AuditRecord,
    ) -> StoreResult<()> {
        with_pool!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query("UPDATE users SET password_hash = $2, failed_attempts = 0, locked_until = NULL WHERE id = $1")
                .bind(user.get()).bind(password_hash).execute(&mut *tx).await?;
            sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND ($2 IS NULL OR id_hash <> $2)")
                .bind(user.get()).bind(keep_session_hash).execute(&mut *tx).await?;
            audit_in!(&mut *tx, audit);
            tx.commit().await?;
        });
        Ok(())
    }

    /// Disables (ending every session) or enables a user.
    pub async fn set_user_disabled(
        &self,
        user: UserId,
        disabled: bool,
        audit: &AuditRecord,
    ) -> StoreResult<()> {
        with_pool!(self, p => {
            let mut tx = p.begin().await?;
            let n = sqlx::query("UPDATE users SET disabled = $2 WHERE id = $1")
                .bind(user.get()).bind(i64::from(disabled)).execute(&mut *tx).await?.rows_affected();
            if n == 0 {
                return Err(StoreError::NotFound(format!("user {user}")));
            }
            if disabled {
                sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                    .bind(user.get()).execute(&mut *tx).await?;
            }
            audit_in!(&mut *tx, audit);
            tx.commit().await?;
        });
        Ok(())
    }

    /// The address a user's set-password links are e-mailed to.
    pub async fn user_email(&self, user: UserId) -> StoreResult<Option<String>> {
        let v: Option<Option<String>> = with_pool!(self, p => sqlx::query_scalar(
            "SELECT email FROM users WHERE id = $1"
        ).bind(user.get()).fetch_optional(p).await?);
        Ok(v.flatten())
    }

    /// Admins that are not disabled (the last one may not be disabled).
    pub async fn active_admins(&self) -> StoreResult<i64> {
        Ok(with_pool!(self, p => sqlx::query_scalar(
            "SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled = 0"
        ).fetch_one(p).await?))
    }

    pub async fn list_firms(&self) -> StoreResult<Vec<FirmRow>> {
        Ok(with_pool!(self, p => sqlx::query_as(
            "SELECT id, name, created_on FROM firms ORDER BY name"
        ).fetch_all(p).await?))
    }
}
