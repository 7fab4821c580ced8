//! The pages people act on, in headless Chromium at a phone's 360 px and a desktop's 1280 px,
//! in both languages: axe-core (injected from `tests/browser-deps`, installed by `npm ci`)
//! finds no serious or critical accessibility violation on the survey form, the thank-you
//! page, the public results and the unit report; no text overflows its box at 360 px on the
//! citizen's and the public pages; Back after a submission that first had errors asks for no
//! resubmission; screenshots of every page go to `target/test-artifacts/`.

use pingyi::store::Backend;
use serde_json::{json, Value};

use crate::browser::{answer_all, sign_in, Driver};
use crate::helpers::spawn_app_with;

/// axe-core's browser bundle; None (or a panic when browsers are required) without it.
fn axe_source() -> Option<String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/browser-deps/node_modules/axe-core/axe.min.js");
    match std::fs::read_to_string(&path) {
        Ok(s) => Some(s),
        Err(e) => {
            if std::env::var_os("PINGYI_REQUIRE_BROWSER").is_some() {
                panic!(
                    "{}: {e}; run `npm ci` in tests/browser-deps (the CI script does)",
                    path.display()
                );
            }
            eprintln!("\n!!!!!!!! SKIPPING accessibility checks: axe-core not installed (npm ci in tests/browser-deps) !!!!!!!!\n");
            None
        }
    }
}

/// Serious and critical violations of WCAG 2.1 A/AA rules on the current page.
async fn axe(d: &Driver, axe: &str) -> Vec<Value> {
    // the pages forbid scripts (CSP script-src 'none'), so axe is not added as a <script>:
    // its source is the body of the WebDriver script itself, which the policy does not govern
    let script = format!(
        "{axe}\n;return window.axe.run(document, {{runOnly: {{type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}}}})\
           .then(r => r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')\
           .map(v => ({{id: v.id, impact: v.impact, help: v.help,\
                        nodes: v.nodes.slice(0, 5).map(n => n.target.join(' ') + ' :: ' + n.failureSummary)}})));"
    );
    let v = d.eval_args(&script, vec![]).await;
    v.as_array()
        .cloned()
        .unwrap_or_else(|| panic!("axe did not run: {v}"))
}

/// Text that runs past its box or the viewport horizontally (text nodes measured with a range
/// against their nearest block box). Text wholly left of the screen is hidden on purpose (the
/// honeypot, table headers read only by screen readers on phones), not overflow.
async fn overflowing_text(d: &Driver) -> Vec<Value> {
    let v = d
        .eval(
            "const bad = []; const vw = document.documentElement.clientWidth;\
             const w = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT); let n;\
             while ((n = w.nextNode())) {\
               if (!n.textContent.trim()) continue; const el = n.parentElement;\
               if (!el || el.closest('.hp, style, script, title')) continue;\
               const cs = getComputedStyle(el); if (cs.display === 'none' || cs.visibility === 'hidden') continue;\
               const r = document.createRange(); r.selectNodeContents(n); const t = r.getBoundingClientRect();\
               if (t.width === 0 || t.right <= 0) continue;\
               let box = el; while (box && getComputedStyle(box).display === 'inline') box = box.parentElement;\
               const b = box.getBoundingClientRect();\
               if (t.right > b.right + 1 || t.right > vw + 1 || t.left < -1)\
                 bad.push({text: n.textContent.trim().slice(0, 40), tag: el.tagName, cls: el.className, right: Math.round(t.right), box: Math.round(b.right), vw});\
             }\
             return bad.slice(0, 20);",
        )
        .await;
    v.as_array().cloned().unwrap_or_default()
}

/// Page-wide checks at one viewport width: axe on the four pages people act on, overflow on
/// the citizen's and public pages at phone width, screenshots of every page.
async fn walk(width: u32) {
    let Some(app) = spawn_app_with(Backend::Sqlite, |_| {}).await else {
        return;
    };
    let d = if width <= 400 {
        Driver::start(width, 740).await
    } else {
        Driver::start_desktop(width, 1000).await
    };
    let Some(d) = d else { return };
    let Some(axe_js) = axe_source() else { return };
    let (_, link) = crate::survey::demo_link(&app).await;
    let evs = app.store.list_evaluations().await.expect("evaluations");
    let published = evs.iter().find(|e| e.year == 2025).expect("2025").id;
    let open = evs.iter().find(|e| e.year == 2026).expect("2026").id;
    let q = pingyi::questionnaire::builtin()
        .expect("qs")
        .into_iter()
        .find(|q| q.id == "service_user")
        .expect("service_user");
    let phone = width <= 400;
    let mut problems: Vec<String> = Vec::new();
    let mut check = |page: String, found: Vec<Value>, what: &str| {
        if !found.is_empty() {
            problems.push(format!(
                "{what} on {page}: {}",
                serde_json::to_string_pretty(&found).unwrap_or_default()
            ));
        }
    };

    for lang in ["zh", "en"] {
        // the citizen's form, then the thank-you page
        // `again=1`: the second language's form, though this browser has just answered
        d.goto(&app.url(&format!("/s/{}?again=1&lang={lang}", link.code)))
            .await;
        d.wait_for("name=\"_nonce\"").await;
        check(
            format!("form {lang} {width}"),
            axe(&d, &axe_js).await,
            "axe",
        );
        if phone {
            check(
                format!("form {lang} {width}"),
                overflowing_text(&d).await,
                "overflow",
            );
        }
        d.screenshot(&format!("pages-form-{lang}-{width}")).await;
        d.eval("const r = document.querySelector('.rating'); if (r) r.scrollIntoView(); return 1")
            .await;
        d.screenshot(&format!("pages-form-scale-{lang}-{width}"))
            .await;
        answer_all(&d, &q).await;
        d.click("form.survey > button[type=submit]").await;
        d.wait_for("/thanks").await;
        d.wait_for(if lang == "zh" { "感谢" } else { "Thank you" })
            .await;
        check(
            format!("thanks {lang} {width}"),
            axe(&d, &axe_js).await,
            "axe",
        );
        if phone {
            check(
                format!("thanks {lang} {width}"),
                overflowing_text(&d).await,
                "overflow",
            );
        }
        d.screenshot(&format!("pages-thanks-{lang}-{width}")).await;

        // the public page
        d.goto(&app.url(&format!("/public/evaluations/{published}?lang={lang}")))
            .await;
        d.wait_for("id=\"satisfaction\"").await;
        check(
            format!("public {lang} {width}"),
            axe(&d, &axe_js).await,
            "axe",
        );
        if phone {
            check(
                format!("public {lang} {width}"),
                overflowing_text(&d).await,
                "overflow",
            );
        }
        d.screenshot(&format!("pages-public-{lang}-{width}")).await;
        d.eval("document.getElementById('satisfaction').scrollIntoView(); return 1")
            .await;
        d.screenshot(&format!("pages-public-ranking-{lang}-{width}"))
            .await;
    }

    // signed in: the unit report (axe) and the other pages (screenshots)
    let password =
        pingyi::commands::accounts::create_user(&app.store, "pages-admin", "admin", None, None)
            .await
            .expect("admin");
    sign_in(&d, &app, "pages-admin", &password).await;
    for lang in ["zh", "en"] {
        d.goto(&app.url(&format!(
            "/admin/evaluations/{open}/units/fgw/report?lang={lang}"
        )))
        .await;
        d.wait_for("id=\"composite\"").await;
        check(
            format!("report {lang} {width}"),
            axe(&d, &axe_js).await,
            "axe",
        );
        d.screenshot(&format!("pages-report-{lang}-{width}")).await;
        for (name, path) in [
            ("overview", format!("/admin/evaluations/{open}")),
            ("results", format!("/admin/evaluations/{open}/results")),
            ("scores", format!("/admin/evaluations/{open}/scores")),
            ("draws", format!("/evaluations/{open}/draws")),
            ("admin", "/admin".to_owned()),
        ] {
            d.goto(&app.url(&format!("{path}?lang={lang}"))).await;
            d.wait_for("class=\"signout\"").await;
            d.screenshot(&format!("pages-{name}-{lang}-{width}")).await;
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_at_phone_width_pass_axe_and_do_not_overflow() {
    walk(360).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_at_desktop_width_pass_axe() {
    walk(1280).await;
}

/// The overflow probe really fails on overflowing text (negative control), and Back after a
/// submission that first had errors shows a page, not a resubmission prompt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overflow_probe_catches_overflow_and_back_needs_no_resubmission() {
    let Some(app) = spawn_app_with(Backend::Sqlite, |_| {}).await else {
        return;
    };
    let Some(d) = Driver::start(360, 740).await else {
        return;
    };
    let (eid, link) = crate::survey::demo_link(&app).await;
    let q = pingyi::questionnaire::builtin()
        .expect("qs")
        .into_iter()
        .find(|q| q.id == "service_user")
        .expect("service_user");
    d.goto(&app.url(&format!("/s/{}?lang=zh", link.code))).await;
    d.wait_for("name=\"_nonce\"").await;
    assert!(overflowing_text(&d).await.is_empty());
    d.eval("const p = document.createElement('p'); p.style.whiteSpace = 'nowrap'; p.textContent = 'x'.repeat(200); document.querySelector('main').prepend(p); return 1")
        .await;
    assert!(
        !overflowing_text(&d).await.is_empty(),
        "the probe must catch a line wider than the screen"
    );

    // the 0–10 scale of the residents' questionnaire fits one row at 360 px
    let resident = app
        .store
        .list_links(Some(eid))
        .await
        .expect("links")
        .into_iter()
        .find(|l| l.questionnaire_id == "resident")
        .expect("a residents' link");
    d.goto(&app.url(&format!("/s/{}?lang=zh", resident.code)))
        .await;
    d.wait_for("class=\"rating\"").await;
    let rows = d
        .eval("const s = document.querySelector('.rating'); s.scrollIntoView(); return new Set([...s.querySelectorAll('label')].map(l => Math.round(l.getBoundingClientRect().top))).size")
        .await;
    assert_eq!(rows, json!(1), "0–10 in one row");
    let labels = d
        .eval("return document.querySelector('.rating').querySelectorAll('label').length")
        .await;
    assert_eq!(labels, json!(11));
    assert!(overflowing_text(&d).await.is_empty());
    d.screenshot("pages-form-scale-360").await;

    // errors first, then a good submission, then Back
    d.goto(&app.url(&format!("/s/{}?lang=zh", link.code))).await;
    d.wait_for("name=\"_nonce\"").await;
    let before = app.store.count_responses(eid).await.expect("count");
    d.click("form.survey > button[type=submit]").await;
    d.wait_for("id=\"errors\"").await;
    // the summary links the questions; following one lands on it
    d.click("#errors a").await;
    assert!(
        d.current_url().await.contains("#q-"),
        "{}",
        d.current_url().await
    );
    answer_all(&d, &q).await;
    d.click("form.survey > button[type=submit]").await;
    d.wait_for("/thanks").await;
    d.eval("history.back(); return 1").await;
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    let url = d.current_url().await;
    let html = d.source().await;
    assert!(
        !url.starts_with("chrome-error") && !html.contains("ERR_CACHE_MISS"),
        "Back shows a page, not a resubmission prompt: {url}"
    );
    assert!(html.contains("第 1 题"), "Back shows the form as it was");
    assert_eq!(
        app.store.count_responses(eid).await.expect("count"),
        before + 1,
        "stored once; Back stores nothing"
    );
    // the link itself now opens at the thank-you page, with a way to answer again
    d.goto(&app.url(&format!("/s/{}?lang=zh", link.code))).await;
    let html = d.wait_for("感谢").await;
    assert!(html.contains("again=1"), "a way to fill in another form");
    assert!(!html.contains("name=\"_nonce\""), "not the form");
}
