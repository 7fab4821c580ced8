//! The client's address: the connecting peer, or — when the peer is one of the operator's
//! trusted reverse proxies (`--trusted-proxy CIDR`) — the address that proxy reports in
//! `Forwarded` (RFC 7239) or `X-Forwarded-For`. Used in memory only (rate limits); never stored.

use std::net::IpAddr;

use actix_web::HttpRequest;
use ipnet::IpNet;

/// The reverse proxies whose forwarding headers are believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    pub fn new(nets: Vec<IpNet>) -> Self {
        TrustedProxies(nets)
    }

    /// Parses `CIDR` or a bare address (`10.0.0.0/8`, `192.168.1.10`, `::1`).
    pub fn parse_one(s: &str) -> Result<IpNet, String> {
        let s = s.trim();
        s.parse::<IpNet>()
            .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
            .map_err(|_| {
                format!("{s:?} is not an address or CIDR range (e.g. 10.0.0.0/8 or 192.168.1.10)")
            })
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `ip` is one of the trusted proxies.
    pub fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|n| n.contains(&ip))
    }

    /// The client of `req`: the peer unless it is a trusted proxy; then, walking the
    /// forwarding chain from the nearest hop back, the first address that is not a trusted
    /// proxy (what a client sends itself at the far end of the chain is never believed).
    pub fn client_of(&self, req: &HttpRequest) -> Option<IpAddr> {
        let peer = canonical(req.peer_addr()?.ip());
        if !self.trusts(peer) {
            return Some(peer);
        }
        let chain = forwarded_chain(req);
        let mut client = peer;
        for hop in chain.iter().rev() {
            client = *hop;
            if !self.trusts(*hop) {
                break;
            }
        }
        Some(client)
    }
}

/// IPv4-mapped IPv6 addresses as IPv4, so one range covers both spellings.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

/// Addresses of `Forwarded: for=` (preferred when present) or `X-Forwarded-For`, in order
/// from the original client to the nearest proxy. Unparsable entries (obfuscated ids,
/// `unknown`) end the chain there.
fn forwarded_chain(req: &HttpRequest) -> Vec<IpAddr> {
    let headers = req.headers();
    let forwarded: Vec<&str> = headers
        .get_all("forwarded")
        .filter_map(|v| v.to_str().ok())
        .collect();
    let items: Vec<String> = if !forwarded.is_empty() {
        forwarded
            .iter()
            .flat_map(|v| v.split(','))
            .filter_map(|element| {
                element.split(';').find_map(|pair| {
                    let (k, v) = pair.split_once('=')?;
                    k.trim()
                        .eq_ignore_ascii_case("for")
                        .then(|| v.trim().to_owned())
                })
            })
            .collect()
    } else {
        headers
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|s| s.trim().to_owned())
            .collect()
    };
    let parsed: Vec<Option<IpAddr>> = items.iter().map(|s| parse_node(s)).collect();
    // keep the hops after the last unparsable one (nearer the proxy, so more trustworthy)
    let start = parsed
        .iter()
        .rposition(Option::is_none)
        .map_or(0, |i| i + 1);
    parsed[start..].iter().flatten().copied().collect()
}

/// `192.0.2.1`, `"[2001:db8::1]:4711"`, `192.0.2.1:8080`, `[2001:db8::1]`.
fn parse_node(s: &str) -> Option<IpAddr> {
    let s = s.trim().trim_matches('"');
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    if let Some(rest) = s.strip_prefix('[') {
        let inner = rest.split(']').next()?;
        return inner.parse::<IpAddr>().ok().map(canonical);
    }
    let (host, port) = s.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    host.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn req(peer: &str, headers: &[(&str, &str)]) -> HttpRequest {
        let mut r = TestRequest::default().peer_addr(format!("{peer}:5000").parse().unwrap());
        for (k, v) in headers {
            r = r.insert_header((*k, *v));
        }
        r.to_http_request()
    }

    fn trusted(nets: &[&str]) -> TrustedProxies {
        TrustedProxies::new(
            nets.iter()
                .map(|n| TrustedProxies::parse_one(n).unwrap())
                .collect(),
        )
    }

    #[test]
    fn forwarding_headers_count_only_from_trusted_proxies() {
        let none = TrustedProxies::default();
        let xff = [("x-forwarded-for", "203.0.113.7")];
        assert_eq!(
            none.client_of(&req("198.51.100.1", &xff)),
            Some("198.51.100.1".parse().unwrap()),
            "no trusted proxy: the peer, whatever it claims"
        );
        let t = trusted(&["10.0.0.0/8"]);
        assert_eq!(
            t.client_of(&req("10.1.2.3", &xff)),
            Some("203.0.113.7".parse().unwrap())
        );
        assert_eq!(
            t.client_of(&req("198.51.100.1", &xff)),
            Some("198.51.100.1".parse().unwrap()),
            "an untrusted peer cannot choose its address"
        );
        // a client-supplied first entry is skipped: the nearest untrusted hop counts
        let spoofed = [("x-forwarded-for", "1.2.3.4, 203.0.113.7, 10.0.0.2")];
        assert_eq!(
            t.client_of(&req("10.1.2.3", &spoofed)),
            Some("203.0.113.7".parse().unwrap())
        );
        let fwd = [(
            "forwarded",
            "for=\"[2001:db8::7]:4711\";proto=https, for=10.0.0.2",
        )];
        assert_eq!(
            t.client_of(&req("10.1.2.3", &fwd)),
            Some("2001:db8::7".parse().unwrap())
        );
        let unknown = [("forwarded", "for=unknown")];
        assert_eq!(
            t.client_of(&req("10.1.2.3", &unknown)),
            Some("10.1.2.3".parse().unwrap()),
            "nothing usable: the proxy itself"
        );
        assert!(TrustedProxies::parse_one("192.168.1.10").is_ok());
        assert!(TrustedProxies::parse_one("::1").is_ok());
        assert!(TrustedProxies::parse_one("nonsense/8").is_err());
    }

    #[test]
    fn nodes_parse_in_their_spellings() {
        assert_eq!(
            parse_node("192.0.2.1:8080"),
            Some("192.0.2.1".parse().unwrap())
        );
        assert_eq!(
            parse_node("\"[2001:db8::1]\""),
            Some("2001:db8::1".parse().unwrap())
        );
        assert_eq!(parse_node("_hidden"), None);
    }
}
