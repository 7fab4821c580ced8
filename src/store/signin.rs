//! Sign-in state beyond the user row: single-use sign-in form nonces and the forced change of a
//! one-time password.

use super::*;

impl Store {
    /// Marks a sign-in form nonce (its SHA-256) used. False when it was used before.
    pub async fn claim_signin_nonce(&self, nonce_hash: &str) -> StoreResult<bool> {
        let today = chrono::Utc::now().date_naive().to_string();
        let n = with_pool!(self, p => sqlx::query(
            "INSERT INTO used_nonces (nonce_hash, used_on) VALUES ($1, $2) ON CONFLICT (nonce_hash) DO NOTHING"
        ).bind(nonce_hash).bind(&today).execute(p).await?.rows_affected());
        Ok(n == 1)
    }

    /// Whether the user still signs in with a one-time password and must set their own first.
    pub async fn password_change_required(&self, user_id: i64) -> StoreResult<bool> {
        let v: Option<i64> = with_pool!(self, p => sqlx::query_scalar(
            "SELECT must_change_password FROM users WHERE id = $1"
        ).bind(user_id).fetch_optional(p).await?);
        Ok(v.unwrap_or(0) != 0)
    }

    /// The user's next sign-in must set a new password (after a one-time password is issued).
    pub async fn require_password_change(&self, user_id: i64) -> StoreResult<()> {
        with_pool!(self, p => {
            sqlx::query("UPDATE users SET must_change_password = 1 WHERE id = $1")
                .bind(user_id).execute(p).await?;
        });
        Ok(())
    }

    /// The user set a password of their own: stored, the requirement cleared, every other
    /// session of the user ended (`keep_session` is the SHA-256 of the one that stays).
    pub async fn change_own_password(
        &self,
        user_id: i64,
        actor: &str,
        password_hash: &str,
        keep_session: &str,
    ) -> StoreResult<()> {
        with_pool!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query(
                "UPDATE users SET password_hash = $2, must_change_password = 0, failed_attempts = 0, \
                 locked_until = NULL WHERE id = $1",
            )
            .bind(user_id).bind(password_hash).execute(&mut *tx).await?;
            sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id_hash <> $2")
                .bind(user_id).bind(keep_session).execute(&mut *tx).await?;
            sqlx::query("INSERT INTO audit_log (at, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5)")
                .bind(queries::now_rfc3339())
                .bind(actor)
                .bind("auth.password_change")
                .bind(format!("user:{user_id}"))
                .bind("{}")
                .execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(())
    }
}
