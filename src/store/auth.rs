//! Users, sessions, API keys and firms (accounts and keys) in the store.

use serde::Serialize;

use super::*;

#[derive(Debug, Clone, sqlx::FromRow, Serialize, utoipa::ToSchema)]
pub struct UserRow {
    pub id: i64,
    pub name: String,
    pub role: String,
    #[serde(skip)]
    pub password_hash: String,
    pub unit_id: Option<i64>,
    pub firm_id: Option<i64>,
    pub failed_attempts: i64,
    pub locked_until: Option<String>,
    pub disabled: i64,
}

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct FirmRow {
    pub id: i64,
    pub name: String,
    pub created_on: String,
}

const USER_COLUMNS: &str =
    "id, name, role, password_hash, unit_id, firm_id, failed_attempts, locked_until, disabled";

impl Store {
    pub async fn create_user(
        &self,
        name: &str,
        role: &str,
        password_hash: &str,
        unit_id: Option<i64>,
        firm_id: Option<i64>,
    ) -> StoreResult<UserRow> {
        let sql = format!(
            "INSERT INTO users (name, role, password_hash, unit_id, firm_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING {USER_COLUMNS}"
        );
        let row: Result<UserRow, sqlx::Error> = with_pool!(self, p => sqlx::query_as(&sql)
            .bind(name).bind(role).bind(password_hash).bind(unit_id).bind(firm_id)
            .bind(queries::now_rfc3339())
            .fetch_one(p).await);
        match row {
            Ok(u) => Ok(u),
            Err(sqlx::Error::Database(db)) if db.is_unique_violation() => Err(
                StoreError::Conflict(format!("a user named {name:?} already exists")),
            ),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn set_password(&self, user_id: i64, password_hash: &str) -> StoreResult<()> {
        with_pool!(self, p => {
            sqlx::query("UPDATE users SET password_hash = $2, failed_attempts = 0, locked_until = NULL WHERE id = $1")
                .bind(user_id).bind(password_hash).execute(p).await?;
        });
        Ok(())
    }

    pub async fn user_by_name(&self, name: &str) -> StoreResult<Option<UserRow>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE name = $1");
        Ok(with_pool!(self, p => sqlx::query_as(&sql).bind(name).fetch_optional(p).await?))
    }

    pub async fn user_by_id(&self, id: i64) -> StoreResult<Option<UserRow>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        Ok(with_pool!(self, p => sqlx::query_as(&sql).bind(id).fetch_optional(p).await?))
    }

    pub async fn list_users(&self) -> StoreResult<Vec<UserRow>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY name");
        Ok(with_pool!(self, p => sqlx::query_as(&sql).fetch_all(p).await?))
    }

    /// Records a failed sign-in; locks the account until `lock_until` once `max` is reached.
    pub async fn record_failed_login(
        &self,
        user_id: i64,
        max: i64,
        lock_until: &str,
    ) -> StoreResult<()> {
        with_pool!(self, p => {
            sqlx::query(
                "UPDATE users SET failed_attempts = failed_attempts + 1, \
                 locked_until = CASE WHEN failed_attempts + 1 >= $2 THEN $3 ELSE locked_until END \
                 WHERE id = $1",
            )
            .bind(user_id).bind(max).bind(lock_until)
            .execute(p).await?;
        });
        Ok(())
    }

    pub async fn reset_failed_logins(&self, user_id: i64) -> StoreResult<()> {
        with_pool!(self, p => {
            sqlx::query("UPDATE users SET failed_attempts = 0, locked_until = NULL WHERE id = $1")
                .bind(user_id).execute(p).await?;
        });
        Ok(())
    }

    pub async fn create_session(
        &self,
        id_hash: &str,
        user_id: i64,
        csrf: &str,
        expires_at: &str,
    ) -> StoreResult<()> {
        with_pool!(self, p => {
            sqlx::query("INSERT INTO sessions (id_hash, user_id, csrf, expires_at) VALUES ($1, $2, $3, $4)")
                .bind(id_hash).bind(user_id).bind(csrf).bind(expires_at)
                .execute(p).await?;
        });
        Ok(())
    }

    /// The session's user and CSRF token, when the session exists and has not expired.
    pub async fn session_user(
        &self,
        id_hash: &str,
        now: &str,
    ) -> StoreResult<Option<(UserRow, String)>> {
        let row: Option<(i64, String)> = with_pool!(self, p => sqlx::query_as(
            "SELECT user_id, csrf FROM sessions WHERE id_hash = $1 AND expires_at > $2"
        ).bind(id_hash).bind(now).fetch_optional(p).await?);
        let Some((uid, csrf)) = row else {
            return Ok(None);
        };
        Ok(self.user_by_id(uid).await?.map(|u| (u, csrf)))
    }

    pub async fn delete_session(&self, id_hash: &str) -> StoreResult<()> {
        with_pool!(self, p => {
            sqlx::query("DELETE FROM sessions WHERE id_hash = $1").bind(id_hash).execute(p).await?;
        });
        Ok(())
    }

    pub async fn create_api_key(
        &self,
        user_id: i64,
        key_hash: &str,
        prefix: &str,
        label: &str,
    ) -> StoreResult<()> {
        with_pool!(self, p => {
            sqlx::query("INSERT INTO api_keys (user_id, key_hash, prefix, label, created_on) VALUES ($1, $2, $3, $4, $5)")
                .bind(user_id).bind(key_hash).bind(prefix).bind(label)
                .bind(chrono::Utc::now().date_naive().to_string())
                .execute(p).await?;
        });
        Ok(())
    }

    /// The user of an unrevoked, unexpired key (see [`Store::key_user`]).
    pub async fn api_key_user(&self, key_hash: &str) -> StoreResult<Option<UserRow>> {
        self.key_user(key_hash).await
    }

    // ----- firms -----

    pub async fn create_firm(&self, name: &str) -> StoreResult<FirmRow> {
        let r: Result<FirmRow, sqlx::Error> = with_pool!(self, p => sqlx::query_as(
            "INSERT INTO firms (name, created_on) VALUES ($1, $2) RETURNING id, name, created_on"
        ).bind(name).bind(chrono::Utc::now().date_naive().to_string()).fetch_one(p).await);
        match r {
            Ok(f) => Ok(f),
            Err(sqlx::Error::Database(db)) if db.is_unique_violation() => Err(
                StoreError::Conflict(format!("a firm named {name:?} already exists")),
            ),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn firm_by_name(&self, name: &str) -> StoreResult<Option<FirmRow>> {
        Ok(
            with_pool!(self, p => sqlx::query_as("SELECT id, name, created_on FROM firms WHERE name = $1")
            .bind(name).fetch_optional(p).await?),
        )
    }

    pub async fn get_firm(&self, id: i64) -> StoreResult<FirmRow> {
        let r: Option<FirmRow> = with_pool!(self, p => sqlx::query_as("SELECT id, name, created_on FROM firms WHERE id = $1")
            .bind(id).fetch_optional(p).await?);
        r.ok_or_else(|| StoreError::NotFound(format!("firm {id}")))
    }

    pub async fn add_firm_scope(
        &self,
        firm_id: i64,
        evaluation_id: i64,
        wave: &str,
    ) -> StoreResult<()> {
        with_pool!(self, p => {
            sqlx::query("INSERT INTO firm_scopes (firm_id, evaluation_id, wave) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
                .bind(firm_id).bind(evaluation_id).bind(wave).execute(p).await?;
        });
        Ok(())
    }

    /// Whether the firm may upload to this evaluation and wave.
    pub async fn firm_in_scope(
        &self,
        firm_id: i64,
        evaluation_id: i64,
        wave: &str,
    ) -> StoreResult<bool> {
        let n: i64 = with_pool!(self, p => sqlx::query_scalar(
            "SELECT COUNT(*) FROM firm_scopes WHERE firm_id = $1 AND evaluation_id = $2 AND (wave = '' OR wave = $3)"
        ).bind(firm_id).bind(evaluation_id).bind(wave).fetch_one(p).await?);
        Ok(n > 0)
    }

    pub async fn create_firm_key(
        &self,
        firm_id: i64,
        key_hash: &str,
        prefix: &str,
    ) -> StoreResult<()> {
        with_pool!(self, p => {
            sqlx::query("INSERT INTO firm_keys (firm_id, key_hash, prefix, created_on) VALUES ($1, $2, $3, $4)")
                .bind(firm_id).bind(key_hash).bind(prefix)
                .bind(chrono::Utc::now().date_naive().to_string())
                .execute(p).await?;
        });
        Ok(())
    }

    /// The firm owning an unrevoked key.
    pub async fn firm_by_key(&self, key_hash: &str) -> StoreResult<Option<FirmRow>> {
        Ok(with_pool!(self, p => sqlx::query_as(
            "SELECT f.id, f.name, f.created_on FROM firm_keys k JOIN firms f ON f.id = k.firm_id \
             WHERE k.key_hash = $1 AND k.revoked = 0"
        ).bind(key_hash).fetch_optional(p).await?))
    }

    /// Revokes a firm key by its prefix (as printed at creation) or all keys of a firm.
    pub async fn revoke_firm_keys(&self, firm_id: i64, prefix: Option<&str>) -> StoreResult<u64> {
        let n = with_pool!(self, p => sqlx::query(
            "UPDATE firm_keys SET revoked = 1 WHERE firm_id = $1 AND ($2 IS NULL OR prefix = $2) AND revoked = 0"
        ).bind(firm_id).bind(prefix).execute(p).await?.rows_affected());
        Ok(n)
    }
}
