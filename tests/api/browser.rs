//! Headless Chromium at a phone's 360×740 viewport, driven over the WebDriver protocol
//! (chromedriver) with plain HTTP: open a public link, submit a wrong form, see the errors with
//! the answers kept, fix, submit, see the thank-you page; the response is stored exactly once.

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
    fn drop(&mut self) {
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

impl Driver {
    /// None (with a loud line) when Chromium is not installed, unless CI requires it.
    pub async fn start(width: u32, height: u32) -> Option<Driver> {
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
        let caps = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": chromium,
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
                     format!("--user-data-dir={}", profile.path().display()),
                     format!("--window-size={width},{height}")],
            "mobileEmulation": {"deviceMetrics": {"width": width, "height": height, "pixelRatio": 2.0}}
        }}}});
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

    pub async fn screenshot(&self, name: &str) {
        let b64 = self.cmd(reqwest::Method::GET, "/screenshot", None).await;
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("test-artifacts");
        let _ = std::fs::create_dir_all(&dir);
        if let Some(png) = b64.as_str().and_then(|s| {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.decode(s).ok()
        }) {
            let _ = std::fs::write(dir.join(format!("{name}.png")), png);
        }
    }
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
