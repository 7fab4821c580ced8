//! Defences at the HTTP edge that several routes share: where a sign-in may send the browser
//! ([`redirect`]), who the client is behind trusted proxies ([`client`]), whether a form post
//! comes from this site ([`origin`]) and how sign-in attempts are throttled ([`throttle`]).

pub mod client;
pub mod headers;
pub mod limits;
pub mod origin;
pub mod redirect;
pub mod throttle;

use std::net::IpAddr;

use actix_web::{web, HttpRequest};

/// Edge defences that live as long as the server (app data beside `AppState`).
#[derive(Debug, Default)]
pub struct Guards {
    pub login: throttle::LoginThrottle,
    pub proxies: client::TrustedProxies,
}

impl Guards {
    pub fn new(proxies: client::TrustedProxies) -> Self {
        Guards {
            login: Default::default(),
            proxies,
        }
    }
}

/// The client address of `req` (behind the trusted proxies, see [`client`]); the peer when
/// the server runs without [`Guards`].
pub fn client_addr(req: &HttpRequest) -> Option<IpAddr> {
    match req.app_data::<web::Data<Guards>>() {
        Some(g) => g.proxies.client_of(req),
        None => req.peer_addr().map(|a| a.ip()),
    }
}
