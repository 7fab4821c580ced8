//! `GET /api/v1/openapi.json` describes every route the app registers. The route list comes
//! from the source, not from the document: the test reads `src/startup.rs`, follows every
//! `.configure(…)` (and `web::scope("…").configure(…)`) into the configure functions of
//! `src/`, and collects `.route("path", web::get()…)` and `web::resource("path")
//! .route(web::post()…)` registrations. A registration the scanner does not understand fails
//! the test (each `.to(` must belong to a recognised route), so a new route can neither be
//! left out of the document nor hidden from this test.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use pingyi::store::Backend;

use crate::helpers::spawn_app;

/// Routes that exist only under `Settings::test_routes` (never in a served app).
const TEST_ONLY: [(&str, &str); 1] = [("get", "/_test/slow")];

const METHODS: &str = "get|post|put|delete|patch|head";

/// Source text with string literals and comments blanked (same length), so braces and
/// patterns inside them are not seen; literals stay readable in the original.
fn blank(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = b.to_vec();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                out[i] = b' ';
                i += 1;
            }
        } else if b[i] == b'r'
            && (b.get(i + 1) == Some(&b'"') || b.get(i + 1) == Some(&b'#'))
            && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_'))
        {
            // raw string r"…" / r#"…"#
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&b'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&b'"') {
                i += 1;
                continue;
            }
            let close: Vec<u8> = std::iter::once(b'"')
                .chain(std::iter::repeat_n(b'#', hashes))
                .collect();
            j += 1;
            while j < b.len() && !b[j..].starts_with(&close) {
                if b[j] != b'\n' {
                    out[j] = b' ';
                }
                j += 1;
            }
            i = j + close.len();
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' {
                    out[i] = b' ';
                    i += 1;
                }
                if i < b.len() {
                    if b[i] != b'\n' {
                        out[i] = b' ';
                    }
                    i += 1;
                }
            }
            i += 1;
        } else if b[i] == b'\'' && b.get(i + 2) == Some(&b'\'') {
            // char literal like '{'
            out[i + 1] = b' ';
            i += 3;
        } else {
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Module path of a source file (`src/routes/api.rs` → ["routes", "api"]).
fn module_of(file: &Path) -> Vec<String> {
    let rel = file.strip_prefix("src").expect("under src");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_owned())
        .collect();
    if parts
        .last()
        .is_some_and(|p| p == "mod" || p == "lib" || p == "main")
    {
        parts.pop();
    }
    parts
}

fn file_of(module: &[String]) -> PathBuf {
    let base: PathBuf = std::iter::once("src".to_owned())
        .chain(module.iter().cloned())
        .collect();
    let flat = base.with_extension("rs");
    if flat.exists() {
        flat
    } else {
        base.join("mod.rs")
    }
}

/// The body (between the braces) of `fn name` in `src`, as a byte range.
fn fn_body(blanked: &str, name: &str) -> Option<(usize, usize)> {
    let start = blanked.find(&format!("fn {name}("))?;
    let open = start + blanked[start..].find('{')?;
    let mut depth = 0;
    for (i, c) in blanked[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some((open + 1, open + i));
                }
            }
            _ => {}
        }
    }
    None
}

/// The string literal starting at byte `at` of `src` (which must be a `"`).
fn literal_at(src: &str, at: usize) -> String {
    let rest = &src[at + 1..];
    let end = rest.find('"').expect("closing quote");
    rest[..end].to_owned()
}

#[derive(Default)]
struct Scan {
    routes: BTreeSet<(String, String)>,
    visited: BTreeSet<(PathBuf, String)>,
}

fn skip_ws(s: &[u8], mut i: usize) -> usize {
    while i < s.len() && (s[i] as char).is_whitespace() {
        i += 1;
    }
    i
}

/// Reads an identifier path (`a::b::c`) at `i`.
fn ident_path(s: &str, i: usize) -> (String, usize) {
    let b = s.as_bytes();
    let mut j = i;
    while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_' || b[j] == b':') {
        j += 1;
    }
    (s[i..j].to_owned(), j)
}

/// Method of `web::get()` etc. at `i` (after whitespace), with the end of the match.
fn method_at(s: &str, i: usize) -> Option<(String, usize)> {
    let i = skip_ws(s.as_bytes(), i);
    let rest = s[i..].strip_prefix("web::")?;
    for m in METHODS.split('|') {
        if let Some(r) = rest.strip_prefix(m) {
            if r.starts_with("()") {
                return Some((m.to_owned(), i + 5 + m.len() + 2));
            }
        }
    }
    None
}

impl Scan {
    fn function(&mut self, file: &Path, name: &str, prefix: &str) {
        if !self
            .visited
            .insert((file.to_path_buf(), format!("{prefix}|{name}")))
        {
            return;
        }
        let src = std::fs::read_to_string(file)
            .unwrap_or_else(|e| panic!("read {}: {e}", file.display()));
        let bl = blank(&src);
        let (a, z) =
            fn_body(&bl, name).unwrap_or_else(|| panic!("no fn {name} in {}", file.display()));
        self.body(file, &src, &bl, a, z, prefix);
    }

    /// Scans `src[a..z]`: routes, resources and nested configure calls.
    fn body(&mut self, file: &Path, src: &str, bl: &str, a: usize, z: usize, prefix: &str) {
        let module = module_of(file);
        let b = bl.as_bytes();
        let mut resource: Option<String> = None;
        let mut found = 0usize;
        let mut i = a;
        while i < z {
            let rest = &bl[i..z];
            if let Some(r) = rest.strip_prefix(".route(") {
                let j = skip_ws(b, i + 7);
                if b[j] == b'"' {
                    let path = literal_at(src, j);
                    let k = j + path.len() + 2;
                    let k = skip_ws(b, k);
                    assert_eq!(b[k], b',', "{}: .route(\"{path}\" …", file.display());
                    let (m, _) = method_at(bl, k + 1).unwrap_or_else(|| {
                        panic!("{}: route {path}: unrecognised method", file.display())
                    });
                    self.routes.insert((m, format!("{prefix}{path}")));
                    found += 1;
                } else if let Some((m, _)) = method_at(bl, j) {
                    let res = resource.clone().unwrap_or_else(|| {
                        panic!("{}: .route(web::{m}()) outside a resource", file.display())
                    });
                    self.routes.insert((m, format!("{prefix}{res}")));
                    found += 1;
                } else {
                    panic!(
                        "{}: unrecognised .route( at byte {i}: {}",
                        file.display(),
                        &r[..40.min(r.len())]
                    );
                }
                i += 7;
                continue;
            }
            if rest.starts_with("web::resource(") {
                let j = skip_ws(b, i + 14);
                assert_eq!(
                    b[j],
                    b'"',
                    "{}: web::resource needs a literal",
                    file.display()
                );
                resource = Some(literal_at(src, j));
                i += 14;
                continue;
            }
            if rest.starts_with("web::scope(") {
                let j = skip_ws(b, i + 11);
                assert_eq!(b[j], b'"', "{}: web::scope needs a literal", file.display());
                let scope = literal_at(src, j);
                let k = skip_ws(b, j + scope.len() + 2);
                assert_eq!(b[k], b')', "{}: web::scope(\"{scope}\")", file.display());
                let k = skip_ws(b, k + 1);
                let cont = &bl[k..];
                let c = cont.strip_prefix(".configure(").unwrap_or_else(|| {
                    panic!(
                        "{}: web::scope(\"{scope}\") must be followed by .configure(fn)",
                        file.display()
                    )
                });
                let start = k + (cont.len() - c.len());
                let (path, end) = ident_path(bl, skip_ws(b, start));
                self.configure(&module, &path, &format!("{prefix}{scope}"));
                i = end;
                continue;
            }
            if rest.starts_with(".configure(") {
                let j = skip_ws(b, i + 11);
                let (path, end) = ident_path(bl, j);
                if path.is_empty() {
                    // a closure: scan its body in place with the same prefix
                    i += 11;
                    continue;
                }
                self.configure(&module, &path, prefix);
                i = end;
                continue;
            }
            i += 1;
        }
        // every handler attachment in this body must have been recognised as a route
        let attachments = bl[a..z].matches(".to(").count();
        assert_eq!(
            attachments,
            found,
            "{}: {attachments} `.to(` handler attachments but {found} routes recognised; \
             teach tests/api/openapi.rs the new registration pattern",
            file.display()
        );
    }

    /// Follows `.configure(path::to::fn)` written in `module`.
    fn configure(&mut self, module: &[String], path: &str, prefix: &str) {
        let mut segs: Vec<&str> = path.split("::").collect();
        let name = segs.pop().expect("fn name");
        let mut m: Vec<String> = module.to_vec();
        let mut first = true;
        for s in segs {
            match s {
                "crate" if first => m.clear(),
                "super" => {
                    m.pop();
                }
                "self" => {}
                other => m.push(other.to_owned()),
            }
            first = false;
        }
        let file = file_of(&m);
        self.function(&file, name, prefix);
    }
}

/// Every (method, path) the app registers, from the source.
pub fn registered_routes() -> BTreeSet<(String, String)> {
    let mut scan = Scan::default();
    let file = PathBuf::from("src/startup.rs");
    let src = std::fs::read_to_string(&file).expect("startup.rs");
    let bl = blank(&src);
    // the app factory: from App::new() to the end of the file's HttpServer::new closure
    let a = bl.find("App::new()").expect("App::new() in startup.rs");
    let z = a + bl[a..].find(".default_service(").expect("default_service");
    scan.body(&file, &src, &bl, a, z, "");
    let mut routes = scan.routes;
    for (m, p) in TEST_ONLY {
        assert!(
            routes.remove(&(m.to_owned(), p.to_owned())),
            "test-only route {m} {p} no longer registered: drop it from TEST_ONLY"
        );
    }
    routes
}

/// `{name}` parameters of a path.
fn path_params(p: &str) -> Vec<String> {
    p.split('{')
        .skip(1)
        .filter_map(|s| s.split('}').next())
        .map(|s| s.split(':').next().unwrap_or(s).to_owned())
        .collect()
}

async fn every_route_documented(backend: Backend) {
    let routes = registered_routes();
    assert!(routes.len() > 40, "only {} routes scanned", routes.len());
    for must in [
        ("get", "/api/v1/evaluations/{id}/responses.csv"),
        ("get", "/api/v1/evaluations/{id}/responses.parquet"),
        ("put", "/api/v1/evaluations/{id}/scores"),
        ("post", "/api/v1/evaluations/{id}/uploads"),
        ("get", "/api/v1/questionnaires"),
        ("post", "/login"),
    ] {
        assert!(
            routes.contains(&(must.0.to_owned(), must.1.to_owned())),
            "scanner missed {must:?}"
        );
    }
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let r = app
        .client
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 200);
    let doc: serde_json::Value = r.json().await.expect("json");
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
    let paths = doc["paths"].as_object().expect("paths");
    let mut missing = Vec::new();
    for (m, p) in &routes {
        match paths.get(p).and_then(|item| item.get(m)) {
            None => missing.push(format!("{} {p}", m.to_uppercase())),
            Some(op) => {
                let responses = op["responses"].as_object().expect("responses");
                assert!(
                    responses
                        .keys()
                        .any(|k| k.starts_with('2') || k.starts_with('3')),
                    "{m} {p}: no success response"
                );
                let params: Vec<(String, String)> = op["parameters"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|x| {
                                (
                                    x["name"].as_str().unwrap_or_default().to_owned(),
                                    x["in"].as_str().unwrap_or_default().to_owned(),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                for name in path_params(p) {
                    assert!(
                        params.contains(&(name.clone(), "path".into())),
                        "{m} {p}: path parameter {name} not described"
                    );
                }
                if p.starts_with("/api/") {
                    let ok = &responses
                        .iter()
                        .find(|(k, _)| k.starts_with('2'))
                        .unwrap_or_else(|| panic!("{m} {p}: no 2xx response"))
                        .1;
                    assert!(
                        ok.get("content").is_some() || ok.get("description").is_some(),
                        "{m} {p}: 2xx response undescribed"
                    );
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "routes registered but not in /api/v1/openapi.json (add #[utoipa::path] and list the \
         handler in src/openapi.rs): {missing:#?}"
    );
    // and nothing documented that the app does not serve
    let mut extra = Vec::new();
    for (p, item) in paths {
        for m in item.as_object().expect("path item").keys() {
            if METHODS.split('|').any(|x| x == m) && !routes.contains(&(m.clone(), p.clone())) {
                extra.push(format!("{} {p}", m.to_uppercase()));
            }
        }
    }
    assert!(
        extra.is_empty(),
        "documented but not registered: {extra:#?}"
    );
    // auth: an /api/ route that refuses an anonymous caller with 401 declares its security
    let schemes = doc["components"]["securitySchemes"]
        .as_object()
        .expect("security schemes");
    assert!(schemes.contains_key("bearer") && schemes.contains_key("cookie"));
    let mut undeclared = Vec::new();
    for (m, p) in routes.iter().filter(|(_, p)| p.starts_with("/api/")) {
        let concrete: String = p
            .split('/')
            .map(|s| if s.starts_with('{') { "1" } else { s })
            .collect::<Vec<_>>()
            .join("/");
        let req = match m.as_str() {
            "get" => app.client.get(app.url(&concrete)),
            "post" => app.client.post(app.url(&concrete)),
            "put" => app.client.put(app.url(&concrete)),
            "delete" => app.client.delete(app.url(&concrete)),
            _ => continue,
        };
        let status = req.send().await.expect("request").status().as_u16();
        if status == 401 {
            let sec = &paths[p][m]["security"];
            if sec.as_array().is_none_or(|a| a.is_empty()) {
                undeclared.push(format!("{} {p}", m.to_uppercase()));
            }
        }
    }
    assert!(
        undeclared.is_empty(),
        "routes answering 401 to anonymous callers without `security` in the document: \
         {undeclared:#?}"
    );
}
crate::both_backends!(openapi_lists_every_route, every_route_documented);

#[test]
fn scanner_reads_registrations() {
    let src = r#"fn configure(cfg: &mut web::ServiceConfig) {
        cfg.route("/a/{id}", web::get().to(a)) // ".route(\"/fake\", web::get()"
            .service(web::resource("/b").route(web::post().to(b)).route(web::get().to(c)));
    }"#;
    let bl = blank(src);
    assert_eq!(bl.len(), src.len());
    assert!(!bl.contains("/fake"));
    assert_eq!(path_params("/x/{id}/u/{code}"), vec!["id", "code"]);
}
