//! Headless Chromium driven over the WebDriver protocol (chromedriver) with plain HTTP.
//! - A phone's 360×740 viewport: open a public link, submit a wrong form, see the errors with
//!   the answers kept, fix, submit, see the thank-you page; the response is stored exactly once.
//! - A desktop evaluator: sign in, open the overview, the results, a unit report and the
//!   public results in Chinese and English with no console errors; the report prints to an A4
//!   PDF with its charts. Screenshots and PDFs go to `target/test-artifacts/` (not committed).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use pingyi::questionnaire::QuestionKind;
use pingyi::store::Backend;
use serde_json::{json, Value};

use crate::helpers::spawn_app_with;
use crate::survey::demo_link;

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Driver {
    base: String,
    session: String,
    http: reqwest::Client,
    child: Child,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    /// Ends the WebDriver session first, so chromedriver closes the Chromium it started (killing
    /// only chromedriver left Chromium processes running after the tests); plain blocking HTTP,
    /// as a destructor cannot await.
    fn drop(&mut self) {
        use std::io::{Read, Write};
        if let Some(addr) = self.base.strip_prefix("http://") {
            if let Ok(mut s) = std::net::TcpStream::connect(addr) {
                let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
                let _ = write!(
                    s,
                    "DELETE /session/{} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    self.session
                );
                let mut reply = Vec::new();
                let _ = s.read_to_end(&mut reply);
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn which(name: &str) -> Option<String> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| format!("{d}/{name}"))
        .find(|p| std::path::Path::new(p).exists())
}

/// Where screenshots and PDFs of the browser tests go (inside the target directory, so
/// they are never committed).
pub fn artifacts_dir() -> std::path::PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join("test-artifacts");
    let _ = std::fs::create_dir_all(&dir);
    dir
}

impl Driver {
    /// A phone (mobile emulation); None (with a loud line) when Chromium is not installed,
    /// unless CI requires it.
    pub async fn start(width: u32, height: u32) -> Option<Driver> {
        Self::start_with(width, height, true).await
    }

    /// A desktop window of `width`×`height`.
    pub async fn start_desktop(width: u32, height: u32) -> Option<Driver> {
        Self::start_with(width, height, false).await
    }

    async fn start_with(width: u32, height: u32, mobile: bool) -> Option<Driver> {
        let (Some(driver), Some(chromium)) = (which("chromedriver"), which("chromium")) else {
            if std::env::var_os("PINGYI_REQUIRE_BROWSER").is_some() {
                panic!("chromium and chromedriver are required (apt-get install chromium chromium-driver)");
            }
            eprintln!("\n!!!!!!!! SKIPPING browser test: chromium/chromedriver not installed. CI installs them. !!!!!!!!\n");
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        for _ in 0..100 {
            if http.get(format!("{base}/status")).send().await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        let mut chrome = json!({
            "binary": chromium,
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
                     format!("--user-data-dir={}", profile.path().display()),
                     format!("--window-size={width},{height}")],
        });
        if mobile {
            chrome["mobileEmulation"] =
                json!({"deviceMetrics": {"width": width, "height": height, "pixelRatio": 2.0}});
        }
        // every console message is kept, so tests can fail on console errors
        let caps = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome",
            "goog:chromeOptions": chrome,
            "goog:loggingPrefs": {"browser": "ALL"}
        }}});
        let res: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session = res["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {res}"))
            .to_owned();
        Some(Driver {
            base,
            session,
            http,
            child,
            _profile: profile,
        })
    }

    async fn cmd(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{}", self.base, self.session, path);
        let mut rb = self.http.request(method, url);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let v: Value = rb.send().await.unwrap().json().await.unwrap();
        if v["value"].get("error").is_some() {
            panic!("webdriver {path}: {v}");
        }
        v["value"].clone()
    }

    pub async fn goto(&self, url: &str) {
        self.cmd(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await;
    }

    pub async fn find(&self, css: &str) -> String {
        let v = self
            .cmd(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        v[ELEMENT]
            .as_str()
            .or_else(|| v["ELEMENT"].as_str())
            .unwrap_or_else(|| panic!("find {css}: {v}"))
            .to_owned()
    }

    pub async fn click(&self, css: &str) {
        let el = self.find(css).await;
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{el}/click"),
            Some(json!({})),
        )
        .await;
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let el = self.find(css).await;
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{el}/clear"),
            Some(json!({})),
        )
        .await;
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{el}/value"),
            Some(json!({"text": text})),
        )
        .await;
    }

    /// Chooses a file for an `input[type=file]` (the path as the element's keys).
    pub async fn choose_file(&self, css: &str, path: &std::path::Path) {
        let el = self.find(css).await;
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{el}/value"),
            Some(json!({"text": path.display().to_string()})),
        )
        .await;
    }

    pub async fn is_selected(&self, css: &str) -> bool {
        let el = self.find(css).await;
        self.cmd(
            reqwest::Method::GET,
            &format!("/element/{el}/selected"),
            None,
        )
        .await
        .as_bool()
        .unwrap()
    }

    pub async fn source(&self) -> String {
        self.cmd(reqwest::Method::GET, "/source", None)
            .await
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Polls the page source until it contains `needle` (a click's navigation may still be
    /// under way when the click returns).
    pub async fn wait_for(&self, needle: &str) -> String {
        for _ in 0..100 {
            let s = self.source().await;
            if s.contains(needle) {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let s = self.source().await;
        panic!(
            "page never showed {needle:?}; it is at {}: {}",
            self.current_url().await,
            &s[..s.len().min(1500)]
        );
    }

    pub async fn current_url(&self) -> String {
        self.cmd(reqwest::Method::GET, "/url", None)
            .await
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Runs a script in the page (the test's probe; the pages themselves have no JavaScript).
    pub async fn eval(&self, script: &str) -> Value {
        self.cmd(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
        .await
    }

    /// Runs a script with arguments (`arguments[0]`, …); a returned promise is awaited.
    pub async fn eval_args(&self, script: &str, args: Vec<Value>) -> Value {
        self.cmd(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
        .await
    }

    /// Saves a PNG of the viewport to the artifacts directory and returns its bytes.
    pub async fn screenshot(&self, name: &str) -> Vec<u8> {
        let b64 = self.cmd(reqwest::Method::GET, "/screenshot", None).await;
        let png = decode(&b64);
        assert!(
            png.starts_with(b"\x89PNG"),
            "screenshot {name} is not a PNG"
        );
        let _ = std::fs::write(artifacts_dir().join(format!("{name}.png")), &png);
        png
    }

    /// Chromium's print-to-PDF of the current page (WebDriver "Print Page"): A4 portrait,
    /// backgrounds on, the page's own print CSS. Saved as an artifact; returns the bytes.
    pub async fn print_pdf(&self, name: &str) -> Vec<u8> {
        let b64 = self
            .cmd(
                reqwest::Method::POST,
                "/print",
                Some(json!({
                    "orientation": "portrait",
                    "background": true,
                    "page": {"width": 21.0, "height": 29.7},
                    "shrinkToFit": true
                })),
            )
            .await;
        let pdf = decode(&b64);
        let _ = std::fs::write(artifacts_dir().join(format!("{name}.pdf")), &pdf);
        pdf
    }

    /// The browser console messages since the last call (chromedriver's log endpoint; the
    /// session asks for them with `goog:loggingPrefs`).
    pub async fn console(&self) -> Vec<Value> {
        self.cmd(
            reqwest::Method::POST,
            "/se/log",
            Some(json!({"type": "browser"})),
        )
        .await
        .as_array()
        .cloned()
        .unwrap_or_default()
    }

    /// Panics when the console has a SEVERE message (errors, failed loads) since the last call.
    pub async fn assert_no_console_errors(&self, page: &str) {
        let errors: Vec<Value> = self
            .console()
            .await
            .into_iter()
            .filter(|m| m["level"] == "SEVERE")
            .collect();
        assert!(errors.is_empty(), "console errors on {page}: {errors:?}");
    }
}

fn decode(b64: &Value) -> Vec<u8> {
    use base64::Engine;
    b64.as_str()
        .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
        .unwrap_or_else(|| {
            panic!(
                "not base64: {}",
                &b64.to_string()[..100.min(b64.to_string().len())]
            )
        })
}

/// Pages of a PDF: Chromium (Skia) writes one uncompressed `/Type /Page` object per page.
pub fn pdf_pages(pdf: &[u8]) -> usize {
    let needle = b"/Type /Page";
    pdf.windows(needle.len() + 1)
        .filter(|w| w.starts_with(needle) && w[needle.len()] != b's')
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phone_user_answers_a_public_link() {
    let Some(app) = spawn_app_with(Backend::Sqlite, |_| {}).await else {
        return;
    };
    let Some(d) = Driver::start(360, 740).await else {
        return;
    };
    let (eid, link) = demo_link(&app).await;
    let before = app.store.count_responses(eid).await.unwrap();
    let q = pingyi::questionnaire::builtin()
        .unwrap()
        .into_iter()
        .find(|q| q.id == "service_user")
        .unwrap();

    // A phone in China asks for Chinese; headless Chromium asks for en-US, so say it.
    d.goto(&app.url(&format!("/s/{}?lang=zh", link.code))).await;
    let first_page = d.source().await;
    assert!(
        first_page.contains("第 1 题"),
        "{}",
        &first_page[..first_page.len().min(2000)]
    );
    let width = d
        .eval("return document.documentElement.scrollWidth")
        .await
        .as_i64()
        .unwrap();
    assert!(width <= 360, "no horizontal scrolling at 360 px: {width}");
    d.screenshot("form-360").await;

    // wrong form: only the first likert question answered
    let first = q.questions.iter().find(|x| x.is_likert()).unwrap();
    let first_css = format!("input[name='a_{}'][value='4']", first.code);
    d.click(&first_css).await;
    d.click("button[type=submit]").await;
    let page = d.wait_for("role=\"alert\"").await;
    assert!(
        page.contains("必答") || page.contains("required"),
        "required errors shown"
    );
    assert!(
        d.is_selected(&first_css).await,
        "answer kept after the failed submission"
    );
    assert_eq!(app.store.count_responses(eid).await.unwrap(), before);
    d.screenshot("form-errors").await;

    // fix: answer everything
    answer_all(&d, &q).await;
    d.click("button[type=submit]").await;
    d.wait_for("感谢").await;
    assert!(d.current_url().await.contains("/thanks"), "thank-you page");
    d.screenshot("thanks").await;
    assert_eq!(
        app.store.count_responses(eid).await.unwrap(),
        before + 1,
        "stored exactly once"
    );
}

/// Answers every question of the open form as a person would (the top likert option, the
/// first choice, 8 of 10, the smallest number, a short suggestion).
pub async fn answer_all(d: &Driver, q: &pingyi::questionnaire::Questionnaire) {
    for question in &q.questions {
        let name = format!("a_{}", question.code);
        match &question.kind {
            QuestionKind::Likert5(_) => d.click(&format!("input[name='{name}'][value='5']")).await,
            QuestionKind::Single { choices } => {
                d.click(&format!(
                    "input[name='{name}'][value='{}']",
                    choices[0].code
                ))
                .await
            }
            QuestionKind::Multiple { choices, .. } => {
                let css = format!("input[name='{name}'][value='{}']", choices[0].code);
                if !d.is_selected(&css).await {
                    d.click(&css).await;
                }
            }
            QuestionKind::Rating { .. } => {
                d.click(&format!("input[name='{name}'][value='8']")).await
            }
            QuestionKind::Number { min, .. } => {
                d.type_into(&format!("input[name='{name}']"), &format!("{}", min.ceil()))
                    .await
            }
            QuestionKind::Text { .. } => {
                d.type_into(&format!("textarea[name='{name}']"), "希望延长周末服务时间")
                    .await
            }
        }
    }
}

/// Signs in through the form with a one-time password, as a person would, and sets a password
/// of one's own when asked (before anything else opens).
pub async fn sign_in(d: &Driver, app: &crate::helpers::TestApp, name: &str, password: &str) {
    d.goto(&app.url("/login?lang=zh")).await;
    d.type_into("input[name=name]", name).await;
    d.type_into("input[name=password]", password).await;
    d.click("button[type=submit]").await;
    d.wait_for("设置新密码").await;
    assert!(
        d.current_url().await.contains("/account/password"),
        "a one-time password leads to the password page first: {}",
        d.current_url().await
    );
    d.type_into("input[name=current]", password).await;
    d.type_into("input[name=new]", crate::helpers::OWN_PASSWORD)
        .await;
    d.type_into("input[name=repeat]", crate::helpers::OWN_PASSWORD)
        .await;
    d.click("button[type=submit]").await;
    d.wait_for("评估列表").await;
    assert!(
        d.current_url().await.ends_with("/admin") || d.current_url().await.contains("/admin?"),
        "signed in lands on /admin: {}",
        d.current_url().await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evaluator_pages_print_and_have_no_console_errors() {
    let Some(app) = spawn_app_with(Backend::Sqlite, |_| {}).await else {
        return;
    };
    let Some(d) = Driver::start_desktop(1280, 1000).await else {
        return;
    };
    pingyi::demo::load(&app.store).await.expect("demo");
    let evs = app.store.list_evaluations().await.unwrap();
    let published = evs.iter().find(|e| e.year == 2025).unwrap().id;
    let open = evs.iter().find(|e| e.year == 2026).unwrap().id;
    let password =
        pingyi::commands::accounts::create_user(&app.store, "demo-admin", "admin", None, None)
            .await
            .expect("admin");

    // The console check really fails on a console error (negative control).
    d.goto(&app.url("/login?lang=zh")).await;
    d.console().await;
    d.eval("console.error('probe: deliberate console error'); return 1")
        .await;
    let caught = d.console().await;
    assert!(
        caught.iter().any(|m| m["level"] == "SEVERE"
            && m["message"].as_str().is_some_and(|t| t.contains("probe"))),
        "the console log must show a deliberate error: {caught:?}"
    );
    d.assert_no_console_errors("the login page after the probe was read")
        .await;

    sign_in(&d, &app, "demo-admin", &password).await;
    d.assert_no_console_errors("/admin").await;

    for (lang, words) in [
        (
            "zh",
            [
                "各单位回收进度",
                "抽样与邀请",
                "综合评价排名与等次",
                "综合得分与等次",
                "结果公示",
                "总体满意度",
            ],
        ),
        (
            "en",
            [
                "Responses per unit",
                "Draws and invitations",
                "Framework ranking and grades",
                "Composite score and grade",
                "Published results",
                "Overall satisfaction",
            ],
        ),
    ] {
        // overview: progress bars per unit × respondent type, links, uploads, invitations
        d.goto(&app.url(&format!("/admin/evaluations/{open}?lang={lang}")))
            .await;
        let html = d.wait_for(words[0]).await;
        assert!(
            html.contains(words[1]),
            "overview {lang} lacks {:?}",
            words[1]
        );
        assert!(html.contains("role=\"progressbar\""), "progress bars");
        d.assert_no_console_errors(&format!("overview ({lang})"))
            .await;
        d.screenshot(&format!("overview-{lang}")).await;

        // results: ranking with whiskers and grades
        d.goto(&app.url(&format!("/admin/evaluations/{open}/results?lang={lang}")))
            .await;
        let html = d.wait_for(words[2]).await;
        assert!(
            html.contains("class=\"grade\""),
            "results {lang} show grades"
        );
        d.assert_no_console_errors(&format!("results ({lang})"))
            .await;
        d.screenshot(&format!("results-{lang}")).await;

        // unit report: composite score and grade, charts; prints to an A4 PDF with them
        d.goto(&app.url(&format!(
            "/admin/evaluations/{open}/units/fgw/report?lang={lang}"
        )))
        .await;
        let html = d.wait_for(words[3]).await;
        assert!(
            html.contains("class=\"chart dotplot\""),
            "report {lang} has charts"
        );
        let charts = d
            .eval("return document.querySelectorAll('.chart').length")
            .await
            .as_i64()
            .unwrap();
        assert!(charts >= 1, "report {lang} draws its charts");
        d.assert_no_console_errors(&format!("unit report ({lang})"))
            .await;
        d.screenshot(&format!("report-{lang}")).await;
        let pdf = d.print_pdf(&format!("report-{lang}")).await;
        assert!(pdf.starts_with(b"%PDF-"), "print gives a PDF");
        let pages = pdf_pages(&pdf);
        assert!(
            pages >= 2,
            "the report prints on {pages} A4 page(s); expected several"
        );
        assert!(
            pdf.len() > 50_000,
            "PDF of {} bytes is too small",
            pdf.len()
        );
        // the charts are in it: the same page printed without its SVG charts is smaller
        d.eval("document.querySelectorAll('svg, .chart').forEach(e => e.remove()); return 1")
            .await;
        let bare = d.print_pdf(&format!("report-{lang}-without-charts")).await;
        assert!(
            pdf.len() > bare.len() + 1_000,
            "charts add to the PDF: {} bytes with, {} without",
            pdf.len(),
            bare.len()
        );
        d.assert_no_console_errors(&format!("unit report print ({lang})"))
            .await;

        // public results (no sign-in needed): ranking, grades, overall satisfaction
        d.goto(&app.url(&format!("/public/evaluations/{published}?lang={lang}")))
            .await;
        let html = d.wait_for(words[4]).await;
        assert!(
            html.contains(words[5]),
            "public {lang} shows overall satisfaction"
        );
        assert!(
            html.contains("class=\"grade\""),
            "public {lang} shows grades"
        );
        d.assert_no_console_errors(&format!("public results ({lang})"))
            .await;
        d.screenshot(&format!("public-{lang}")).await;
        let pdf = d.print_pdf(&format!("public-{lang}")).await;
        assert!(pdf.starts_with(b"%PDF-") && pdf_pages(&pdf) >= 1);
    }
}
