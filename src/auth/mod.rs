//! Sign-in and roles. Passwords are hashed with argon2id; sessions are random ids kept in an
//! HttpOnly, SameSite=Strict cookie and stored only as a SHA-256; every form of a signed-in
//! user carries the session's CSRF token; API keys (hashed) give machines the same identity.

pub mod password;
pub mod routes;

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use argon2::password_hash::rand_core::OsRng as PhOsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::RngCore;

use crate::collect::sha256_hex;
use crate::error::{ApiError, WebError};
use crate::i18n::Lang;
use crate::startup::AppState;
use crate::store::{StoreError, UserRow};

pub const SESSION_COOKIE: &str = "pingyi_session";
/// Failed sign-ins before the account locks, and for how long.
pub const MAX_FAILED_LOGINS: i64 = 5;
pub const LOCK_MINUTES: i64 = 15;
pub const SESSION_HOURS: i64 = 12;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Evaluator,
    Firm,
    Unit,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Evaluator => "evaluator",
            Role::Firm => "firm",
            Role::Unit => "unit",
        }
    }
    pub fn label(self, lang: Lang) -> &'static str {
        match self {
            Role::Admin => lang.pick("管理员", "Administrator"),
            Role::Evaluator => lang.pick("评估人员", "Evaluator"),
            Role::Firm => lang.pick("第三方调查机构", "Survey firm"),
            Role::Unit => lang.pick("被评估单位", "Evaluated unit"),
        }
    }
}

/// The text is none of the four roles.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?}: use admin, evaluator, firm or unit")]
pub struct UnknownRole(pub String);

impl std::str::FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, UnknownRole> {
        match s {
            "admin" => Ok(Role::Admin),
            "evaluator" => Ok(Role::Evaluator),
            "firm" => Ok(Role::Firm),
            "unit" => Ok(Role::Unit),
            _ => Err(UnknownRole(s.to_owned())),
        }
    }
}

/// The signed-in user of a request.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub unit_id: Option<i64>,
    pub firm_id: Option<i64>,
    /// CSRF token of the session ("" for API-key requests, which carry no cookies).
    pub csrf: String,
    /// Signed in with a one-time password: only the password page (and sign-out) opens until
    /// the user sets their own. API keys are separate credentials and never carry this.
    pub must_change_password: bool,
}

impl CurrentUser {
    pub fn is_evaluator(&self) -> bool {
        matches!(self.role, Role::Admin | Role::Evaluator)
    }
}

fn from_row(u: UserRow, csrf: String) -> Option<CurrentUser> {
    if u.disabled != 0 {
        return None;
    }
    Some(CurrentUser {
        id: u.id,
        name: u.name,
        role: u.role.parse().ok()?,
        unit_id: u.unit_id,
        firm_id: u.firm_id,
        csrf,
        must_change_password: false,
    })
}

pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut PhOsRng);
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("hashing password: {e}"))?
        .to_string())
}

/// A real Argon2 hash (of a random password nobody knows) with the parameters of
/// [`hash_password`]: checking a password against it costs what checking a user's costs, so
/// unknown names take as long as known ones.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        hash_password(&random_secret()).unwrap_or_else(|_| {
            // hashing with fresh salt does not fail; should it, a fixed valid hash of the
            // same parameters still does the full work
            "$argon2id$v=19$m=19456,t=2,p=1$cGluZ3lpLWR1bW15LXNhbHQ$Yx0U6dXW3Hc7xHsT8mTqQ6o1Ue3X9q5c0yB5ZB0m3pY".to_owned()
        })
    })
}

pub fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A random secret (session id, CSRF token, API key, one-time password): 256 bits, hex.
pub fn random_secret() -> String {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

/// A one-time password people can type: 16 symbols from an unambiguous alphabet (80 bits).
pub fn random_password() -> String {
    const A: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghjkmnpqrstuvwxyz23456789";
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b.iter()
        .map(|x| A[(*x as usize) % A.len()] as char)
        .collect()
}

pub fn check_csrf(user: &CurrentUser, token: &str) -> Result<(), WebError> {
    use subtle_eq::eq;
    if !user.csrf.is_empty() && eq(user.csrf.as_bytes(), token.as_bytes()) {
        Ok(())
    } else {
        Err(WebError::BadRequest {
            lang: Lang::Zh,
            zh: "表单已失效，请刷新页面后重试。".into(),
            en: "This form has expired; reload the page and try again.".into(),
        })
    }
}

mod subtle_eq {
    /// Constant-time comparison of equal-length byte strings.
    pub fn eq(a: &[u8], b: &[u8]) -> bool {
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

/// Resolves the user of a request from its session cookie or `Authorization: Bearer` key.
pub async fn resolve(req: &HttpRequest) -> Result<Option<CurrentUser>, StoreError> {
    let Some(state) = req.app_data::<web::Data<AppState>>() else {
        return Ok(None);
    };
    if let Some(key) = bearer(req) {
        return Ok(state
            .store
            .api_key_user(&sha256_hex(&key))
            .await?
            .and_then(|u| from_row(u, String::new())));
    }
    let Some(cookie) = req.cookie(SESSION_COOKIE) else {
        return Ok(None);
    };
    let now = crate::store::now_rfc3339();
    let Some(mut user) = state
        .store
        .session_user(&sha256_hex(cookie.value()), &now)
        .await?
        .and_then(|(u, csrf)| from_row(u, csrf))
    else {
        return Ok(None);
    };
    user.must_change_password = state.store.password_change_required(user.id).await?;
    Ok(Some(user))
}

pub fn bearer(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(actix_web::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(|s| s.trim().to_owned())
}

fn is_api(req: &HttpRequest) -> bool {
    req.path().starts_with("/api/")
}

/// Rejection for a missing or insufficient identity, in the request's format.
fn reject(req: &HttpRequest, signed_in: bool) -> actix_web::Error {
    let lang = Lang::from_request(req);
    match (is_api(req), signed_in) {
        (true, false) => {
            ApiError::Unauthorized("sign in or send Authorization: Bearer <API key>".into()).into()
        }
        (true, true) => ApiError::Forbidden("your role may not use this route".into()).into(),
        (false, false) => WebError::SignIn(lang, req.uri().to_string()).into(),
        (false, true) => WebError::Forbidden(lang).into(),
    }
}

type Fut<T> = Pin<Box<dyn Future<Output = Result<T, actix_web::Error>>>>;

fn extract(req: &HttpRequest, allowed: fn(Role) -> bool) -> Fut<CurrentUser> {
    let req = req.clone();
    Box::pin(async move {
        let user = resolve(&req).await.map_err(|e| {
            if is_api(&req) {
                actix_web::Error::from(ApiError::from(e))
            } else {
                WebError::from_store(Lang::from_request(&req), e).into()
            }
        })?;
        match user {
            Some(u) if u.must_change_password => Err(password_first(&req)),
            Some(u) if allowed(u.role) => Ok(u),
            Some(_) => Err(reject(&req, true)),
            None => Err(reject(&req, false)),
        }
    })
}

/// A user still on a one-time password is sent to set their own first.
fn password_first(req: &HttpRequest) -> actix_web::Error {
    if is_api(req) {
        return ApiError::Forbidden(
            "set a password of your own first: open /account/password in the browser".into(),
        )
        .into();
    }
    let lang = Lang::from_request(req);
    WebError::PasswordFirst(lang, req.uri().to_string()).into()
}

/// Any signed-in user.
pub struct AnyUser(pub CurrentUser);
/// Admin or evaluator.
pub struct Evaluator(pub CurrentUser);
/// Admin only.
pub struct Admin(pub CurrentUser);
/// A survey firm's user.
pub struct FirmUser(pub CurrentUser);
/// The user when signed in, without rejecting anonymous requests.
pub struct MaybeUser(pub Option<CurrentUser>);

macro_rules! extractor {
    ($t:ident, $allowed:expr) => {
        impl FromRequest for $t {
            type Error = actix_web::Error;
            type Future = Fut<Self>;
            fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
                let f = extract(req, $allowed);
                Box::pin(async move { f.await.map($t) })
            }
        }
    };
}
extractor!(AnyUser, |_| true);
extractor!(Evaluator, |r| matches!(r, Role::Admin | Role::Evaluator));
extractor!(Admin, |r| r == Role::Admin);
extractor!(FirmUser, |r| r == Role::Firm);

impl FromRequest for MaybeUser {
    type Error = actix_web::Error;
    type Future = Fut<Self>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            match resolve(&req).await.ok().flatten() {
                Some(u) if u.must_change_password => Err(password_first(&req)),
                user => Ok(MaybeUser(user)),
            }
        })
    }
}

/// A signed-in user, also one who must still replace a one-time password (only for the
/// password page and sign-out).
pub struct PendingUser(pub CurrentUser);

impl FromRequest for PendingUser {
    type Error = actix_web::Error;
    type Future = Fut<Self>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            match resolve(&req).await {
                Ok(Some(u)) => Ok(PendingUser(u)),
                Ok(None) => Err(reject(&req, false)),
                Err(e) => Err(WebError::from_store(Lang::from_request(&req), e).into()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dummy_hash_costs_what_a_real_one_costs() {
        let real = hash_password("correct horse battery staple").unwrap();
        let (real, dummy) = (
            PasswordHash::new(&real).unwrap(),
            PasswordHash::new(dummy_hash()).unwrap(),
        );
        assert_eq!(dummy.algorithm, real.algorithm);
        assert_eq!(dummy.version, real.version);
        assert_eq!(
            dummy.params.iter().collect::<Vec<_>>(),
            real.params.iter().collect::<Vec<_>>(),
            "same memory, time and parallelism"
        );
        assert!(dummy.hash.is_some() && dummy.salt.is_some());
        assert!(!verify_password(dummy_hash(), "x"));
    }
}
