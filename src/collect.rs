//! Collection primitives: link codes, invitation tokens, signed one-time form nonces, an
//! in-memory rate limiter and QR codes. Nothing here touches a response.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Lower-case letters and digits without look-alikes (0/o, 1/l/i): 32 symbols, 5 bits each.
const ALPHABET: &[u8; 32] = b"abcdefghjkmnpqrstuvwxyz23456789_";

fn encode(bytes: &[u8], symbols: usize) -> String {
    let mut out = String::with_capacity(symbols);
    let mut acc: u32 = 0;
    let mut bits = 0;
    let mut it = bytes.iter();
    while out.len() < symbols {
        if bits < 5 {
            acc = (acc << 8) | u32::from(it.next().copied().unwrap_or(0));
            bits += 8;
        }
        bits -= 5;
        let idx = ((acc >> bits) & 31) as usize;
        out.push(ALPHABET[idx] as char);
    }
    out
}

/// A public link code: 14 symbols = 70 bits from the OS CSPRNG. Short enough for a poster,
/// far too many to guess.
pub fn new_link_code() -> String {
    let mut b = [0u8; 9];
    OsRng.fill_bytes(&mut b);
    encode(&b, 14).replace('_', "x")
}

/// An invitation token: 128 bits from the OS CSPRNG, 26 symbols.
pub fn new_token() -> String {
    let mut b = [0u8; 17];
    OsRng.fill_bytes(&mut b[..16]);
    encode(&b, 26).replace('_', "x")
}

/// Only this hash of a token (or nonce) is ever stored.
pub fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// Syntactic check before any lookup, so junk never reaches the database.
pub fn looks_like_code(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| ALPHABET.contains(&b) || b == b'x')
}

/// Signs and checks form nonces. A form carries `nonce` and `sig = HMAC(secret, path|nonce)`:
/// the signature is the CSRF check (only forms this server rendered for this path are
/// accepted) and the nonce, stored as a hash once used, makes a double click or a replay
/// store one response.
#[derive(Clone)]
pub struct FormSigner {
    keyed: HmacSha256,
}

impl std::fmt::Debug for FormSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FormSigner(..)")
    }
}

type HmacSha256 = Hmac<Sha256>;

impl FormSigner {
    pub fn new(secret: &[u8]) -> anyhow::Result<Self> {
        let keyed = <HmacSha256 as Mac>::new_from_slice(secret)
            .map_err(|e| anyhow::anyhow!("form secret: {e}"))?;
        Ok(FormSigner { keyed })
    }

    fn mac(&self, path: &str, nonce: &str) -> HmacSha256 {
        let mut m = self.keyed.clone();
        m.update(path.as_bytes());
        m.update(b"|");
        m.update(nonce.as_bytes());
        m
    }

    /// A fresh (nonce, signature) pair for a form posted to `path`.
    pub fn issue(&self, path: &str) -> (String, String) {
        let mut b = [0u8; 16];
        OsRng.fill_bytes(&mut b);
        let nonce = hex::encode(b);
        let sig = hex::encode(self.mac(path, &nonce).finalize().into_bytes());
        (nonce, sig)
    }

    pub fn verify(&self, path: &str, nonce: &str, sig: &str) -> bool {
        let Ok(sig) = hex::decode(sig) else {
            return false;
        };
        nonce.len() == 32 && self.mac(path, nonce).verify_slice(&sig).is_ok()
    }
}

/// Fixed-window per-client limiter, in memory only (client addresses are never stored
/// anywhere else and are forgotten when their window ends).
pub struct RateLimiter {
    per_window: u32,
    window: Duration,
    state: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl RateLimiter {
    pub fn new(per_window: u32, window: Duration) -> Self {
        RateLimiter {
            per_window,
            window,
            state: Mutex::new(HashMap::new()),
        }
    }

    /// True when the client may go ahead. A limit of 0 disables limiting.
    pub fn allow(&self, client: IpAddr) -> bool {
        if self.per_window == 0 {
            return true;
        }
        let now = Instant::now();
        let mut map = match self.state.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        if map.len() > 100_000 {
            let window = self.window;
            map.retain(|_, (start, _)| now.duration_since(*start) < window);
        }
        let entry = map.entry(client).or_insert((now, 0));
        if now.duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        entry.1 += 1;
        entry.1 <= self.per_window
    }
}

/// QR code of `url` as SVG.
pub fn qr_svg(url: &str) -> Result<String, qrcode::types::QrError> {
    let code = qrcode::QrCode::new(url.as_bytes())?;
    Ok(code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(256, 256)
        .quiet_zone(true)
        .build())
}

/// QR code of `url` as a grayscale PNG, `scale` pixels per module, with a 4-module margin.
pub fn qr_png(url: &str, scale: u32) -> anyhow::Result<Vec<u8>> {
    let code = qrcode::QrCode::new(url.as_bytes())?;
    let modules = code.width() as u32;
    let colors = code.to_colors();
    let margin = 4;
    let size = (modules + 2 * margin) * scale;
    let mut pixels = vec![255u8; (size * size) as usize];
    for (i, c) in colors.iter().enumerate() {
        if *c == qrcode::Color::Dark {
            let (mx, my) = (i as u32 % modules, i as u32 / modules);
            for dy in 0..scale {
                let y = (my + margin) * scale + dy;
                let row = (y * size) as usize;
                let x0 = ((mx + margin) * scale) as usize;
                pixels[row + x0..row + x0 + scale as usize].fill(0);
            }
        }
    }
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, size, size);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc.write_header()?;
        w.write_image_data(&pixels)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_tokens_have_their_length_and_alphabet() {
        let c = new_link_code();
        assert!(looks_like_code(&c, 14), "{c}");
        let t = new_token();
        assert!(looks_like_code(&t, 26), "{t}");
        assert_ne!(new_token(), new_token());
        assert!(!looks_like_code("../etc/passwd", 13));
    }

    #[test]
    fn nonce_signature_binds_path() {
        let s = FormSigner::new(b"secret").unwrap();
        let (n, sig) = s.issue("/s/abc");
        assert!(s.verify("/s/abc", &n, &sig));
        assert!(!s.verify("/s/other", &n, &sig));
        assert!(!s.verify("/s/abc", &n, "00"));
        assert!(!FormSigner::new(b"other")
            .unwrap()
            .verify("/s/abc", &n, &sig));
    }

    #[test]
    fn limiter_counts_per_client() {
        let l = RateLimiter::new(2, Duration::from_secs(60));
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        assert!(l.allow(a) && l.allow(a));
        assert!(!l.allow(a));
        assert!(l.allow(b));
    }

    #[test]
    fn qr_renders() {
        let svg = qr_svg("http://127.0.0.1:8080/s/abcdefghjkmnpq").unwrap();
        assert!(svg.starts_with("<?xml") && svg.contains("<svg"));
        let png = qr_png("http://x/s/abc", 4).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    }
}
