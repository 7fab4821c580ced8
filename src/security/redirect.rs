//! The `next` of a sign-in: only a path on this site, as a browser would read it.

/// `next` when a browser would resolve it to a path on this site, else None.
///
/// Browsers drop tabs and line breaks from URLs and read `\` as `/`, so `/\t/evil.example`
/// and `/\evil.example` both become `//evil.example`, another host. Accepted: printable ASCII
/// starting with one `/`, no `\`, no control character (CR/LF could also split the Location
/// header), at most 2000 characters.
pub fn local_path(next: &str) -> Option<&str> {
    let bytes = next.as_bytes();
    let ok = bytes.first() == Some(&b'/')
        && bytes.get(1) != Some(&b'/')
        && next.len() <= 2000
        && bytes.iter().all(|&b| b.is_ascii_graphic() && b != b'\\');
    ok.then_some(next)
}

/// [`local_path`], or `fallback` when `next` is not a local path.
pub fn local_or<'a>(next: &'a str, fallback: &'a str) -> &'a str {
    local_path(next).unwrap_or(fallback)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_pass() {
        for good in ["/admin", "/evaluations/3/draws?lang=en", "/", "/a/b%2F%2Fc"] {
            assert_eq!(local_path(good), Some(good), "{good:?}");
        }
        for bad in [
            "//evil.example",
            "/\\evil.example",
            "/\t/evil.example",
            "/\t\\evil",
            "\\\\evil",
            "/%09/x\r\nSet-Cookie: a=b",
            "/x\ny",
            "/x\u{7f}",
            "https://evil.example",
            "evil.example",
            "",
            " /admin",
            "/ /x",
            "/写",
            "/a\\b",
        ] {
            assert_eq!(local_path(bad), None, "{bad:?}");
        }
        assert_eq!(local_or("//x", "/admin"), "/admin");
        assert_eq!(local_path(&format!("/{}", "a".repeat(3000))), None);
    }
}
