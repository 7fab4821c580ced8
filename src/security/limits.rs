//! Limits on what one client can hold of the server: connections per client address (counted
//! from accept to close, so idle and slow connections count too), the size of a whole request
//! body (counted while it streams, over every multipart part together) and how slowly a body
//! may arrive. The total number of connections is actix's `max_connections`.

use std::cell::Cell;
use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::web::Bytes;
use actix_web::HttpResponse;
use futures_util::Stream;

use crate::error::ApiError;
use crate::i18n::Lang;

/// The limits at the edge (`pingyi serve` flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EdgeLimits {
    /// Largest request body of any route, all multipart parts together (set at start to the
    /// upload limit).
    pub max_request_bytes: usize,
    /// A body may take this long before [`Self::body_min_bytes_per_sec`] applies.
    pub body_grace: Duration,
    /// After the grace, a body must have arrived at this average rate or the request ends (408).
    pub body_min_bytes_per_sec: u64,
    /// Open connections in total (across workers).
    pub max_connections: usize,
    /// Open connections from one client address (trusted proxies are not limited).
    pub max_connections_per_client: usize,
}

impl Default for EdgeLimits {
    fn default() -> Self {
        EdgeLimits {
            max_request_bytes: 256 * 1024 * 1024,
            body_grace: Duration::from_secs(10),
            body_min_bytes_per_sec: 1024,
            max_connections: 4096,
            max_connections_per_client: 256,
        }
    }
}

/// Open connections per client address.
#[derive(Debug, Default)]
pub struct ConnectionCounter {
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One counted connection; dropping it (the connection closed) gives the place back.
#[derive(Debug)]
pub struct ConnectionSlot {
    counter: Arc<ConnectionCounter>,
    ip: IpAddr,
}

impl ConnectionCounter {
    /// A slot for a new connection from `ip`, or `None` when `ip` already holds `cap`.
    pub fn acquire(self: &Arc<Self>, ip: IpAddr, cap: usize) -> Option<ConnectionSlot> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(ip).or_insert(0);
        if *n >= cap {
            return None;
        }
        *n += 1;
        Some(ConnectionSlot {
            counter: Arc::clone(self),
            ip,
        })
    }

    /// Connections open from `ip` now.
    pub fn open_from(&self, ip: IpAddr) -> usize {
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.get(&ip).copied().unwrap_or(0)
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut open = self.counter.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// For `HttpServer::on_connect`: counts the connection, or shuts it down at once when its
/// address already holds its share (the client sees the connection closed).
pub fn on_connect(
    counter: &Arc<ConnectionCounter>,
    limits: &EdgeLimits,
    proxies: &super::client::TrustedProxies,
    conn: &dyn std::any::Any,
    ext: &mut actix_web::dev::Extensions,
) {
    let Some(tcp) = conn.downcast_ref::<actix_web::rt::net::TcpStream>() else {
        return;
    };
    let Ok(peer) = tcp.peer_addr() else {
        return;
    };
    if proxies.trusts(peer.ip()) {
        return;
    }
    match counter.acquire(peer.ip(), limits.max_connections_per_client) {
        Some(slot) => {
            ext.insert(Rc::new(slot));
        }
        None => {
            tracing::warn!("connection refused: too many open connections from one address");
            let _ = socket2::SockRef::from(tcp).shutdown(std::net::Shutdown::Both);
        }
    }
}

/// Appends `chunk` to `buf` unless that would pass `limit`; grows the buffer at most to
/// `limit`, so a body never costs more memory than the limit (plain doubling would).
pub fn append_within(buf: &mut Vec<u8>, chunk: &[u8], limit: usize) -> bool {
    let needed = buf.len() + chunk.len();
    if needed > limit {
        return false;
    }
    if needed > buf.capacity() {
        let target = (buf.capacity() * 2).max(needed).min(limit);
        buf.reserve_exact(target - buf.len());
    }
    buf.extend_from_slice(chunk);
    true
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyOutcome {
    Fine,
    TooLarge,
    TooSlow,
}

/// The request body, counted and timed as it streams.
struct GuardedBody {
    inner: Payload,
    read: u64,
    limit: u64,
    started: tokio::time::Instant,
    grace: Duration,
    min_rate: u64,
    timer: Pin<Box<tokio::time::Sleep>>,
    outcome: Rc<Cell<BodyOutcome>>,
}

impl GuardedBody {
    /// When the body falls behind the minimum rate with what has arrived so far.
    fn due(&self) -> tokio::time::Instant {
        let secs = self.read as f64 / self.min_rate.max(1) as f64;
        self.started + self.grace + Duration::from_secs_f64(secs.min(1.0e6))
    }
}

impl Stream for GuardedBody {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                this.read += chunk.len() as u64;
                if this.read > this.limit {
                    this.outcome.set(BodyOutcome::TooLarge);
                    return Poll::Ready(Some(Err(PayloadError::Overflow)));
                }
                let due = this.due();
                this.timer.as_mut().reset(due);
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Pending => {
                if this.timer.as_mut().poll(cx).is_ready() {
                    this.outcome.set(BodyOutcome::TooSlow);
                    return Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "the request body arrived too slowly",
                    )))));
                }
                Poll::Pending
            }
            other => other,
        }
    }
}

fn refusal(api: bool, lang: Lang, outcome: BodyOutcome, limit: usize) -> HttpResponse {
    let mb = limit / (1024 * 1024);
    let (status, zh, en) = match outcome {
        BodyOutcome::TooSlow => (
            StatusCode::REQUEST_TIMEOUT,
            "提交的内容传输太慢，连接已中断，请重新提交。".to_owned(),
            "The request body arrived too slowly and the request was ended; send it again."
                .to_owned(),
        ),
        _ => (
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("提交的内容超过上限 {mb} MB。"),
            format!("The request body is larger than the limit of {mb} MB."),
        ),
    };
    let mut res = if api {
        let e = match outcome {
            BodyOutcome::TooSlow => ApiError::TooSlow(en),
            _ => ApiError::PayloadTooLarge(en),
        };
        actix_web::ResponseError::error_response(&e)
    } else {
        HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .body(crate::views::error_page(lang, status.as_u16(), &zh, &en).into_string())
    };
    // The rest of the body is not read: the connection cannot carry another request.
    res.head_mut()
        .set_connection_type(actix_web::http::ConnectionType::Close);
    res
}

/// Middleware (`middleware::from_fn`): the body of every request counted against
/// [`EdgeLimits::max_request_bytes`] and timed against the minimum rate; a request that
/// crosses either is answered 413 or 408 and its connection closed.
pub async fn guard_body(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let limits = req
        .app_data::<actix_web::web::Data<EdgeLimits>>()
        .map(|d| *d.get_ref())
        .unwrap_or_default();
    if let Some(len) = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        if len > limits.max_request_bytes as u64 {
            let api = req.path().starts_with("/api/");
            let lang = Lang::from_request(req.request());
            let res = refusal(api, lang, BodyOutcome::TooLarge, limits.max_request_bytes);
            return Ok(req.into_response(res));
        }
    }
    let outcome = Rc::new(Cell::new(BodyOutcome::Fine));
    let started = tokio::time::Instant::now();
    let (http, payload) = req.into_parts();
    let body = GuardedBody {
        inner: payload,
        read: 0,
        limit: limits.max_request_bytes as u64,
        started,
        grace: limits.body_grace,
        min_rate: limits.body_min_bytes_per_sec,
        timer: Box::pin(tokio::time::sleep_until(started + limits.body_grace)),
        outcome: Rc::clone(&outcome),
    };
    let req = ServiceRequest::from_parts(
        http,
        Payload::Stream {
            payload: Box::pin(body),
        },
    );
    let api = req.path().starts_with("/api/");
    let lang = Lang::from_request(req.request());
    // (no clone of the request may live across the call: routing needs it unshared)
    let res = next.call(req).await?.map_into_boxed_body();
    match outcome.get() {
        BodyOutcome::Fine => Ok(res),
        bad => {
            let (http, _) = res.into_parts();
            let mut out = refusal(api, lang, bad, limits.max_request_bytes);
            out.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            Ok(ServiceResponse::new(http, out))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_holds_at_most_its_share_until_a_connection_closes() {
        let c = Arc::new(ConnectionCounter::default());
        let ip: IpAddr = "127.0.0.2".parse().unwrap();
        let other: IpAddr = "127.0.0.3".parse().unwrap();
        let a = c.acquire(ip, 2).unwrap();
        let _b = c.acquire(ip, 2).unwrap();
        assert!(c.acquire(ip, 2).is_none());
        assert!(c.acquire(other, 2).is_some());
        drop(a);
        assert_eq!(c.open_from(ip), 1);
        assert!(c.acquire(ip, 2).is_some());
    }

    #[test]
    fn a_buffer_never_grows_past_the_limit() {
        let mut buf = Vec::new();
        let chunk = [7u8; 1000];
        while append_within(&mut buf, &chunk, 10_500) {}
        assert_eq!(buf.len(), 10_000);
        assert!(buf.capacity() <= 10_500, "{}", buf.capacity());
    }
}
