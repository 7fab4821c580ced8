//! Headless Chromium walks the rectification loop as people do: the evaluator chooses the
//! calendar, adds a finding and assigns it; the unit's user (on a phone-sized window) finds
//! it on their home page and submits a plan with a PDF; the evaluator accepts it; the unit
//! submits the completion report with a photo; the evaluator verifies it. Every page is
//! checked for console errors; screenshots go to `target/test-artifacts/`.

use pingyi::store::{Backend, EvaluationId, EvaluationStatus};

use crate::browser::{artifacts_dir, Driver};
use crate::findings::fixture;
use crate::helpers::{spawn_app_with, TestApp, OWN_PASSWORD};

/// Signs in through the form; a first sign-in sets the user's own password on the way.
async fn login(d: &Driver, app: &TestApp, name: &str, password: &str, lands_on: &str) {
    d.goto(&app.url("/login?lang=zh")).await;
    d.type_into("input[name=name]", name).await;
    d.type_into("input[name=password]", password).await;
    d.click("button[type=submit]").await;
    for _ in 0..50 {
        let url = d.current_url().await;
        if url.contains("/account/password") || !url.contains("/login") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    if d.current_url().await.contains("/account/password") {
        d.wait_for("设置新密码").await;
        d.type_into("input[name=current]", password).await;
        d.type_into("input[name=new]", OWN_PASSWORD).await;
        d.type_into("input[name=repeat]", OWN_PASSWORD).await;
        d.click("button[type=submit]").await;
    }
    d.wait_for(lands_on).await;
}

async fn logout(d: &Driver) {
    let before = d.current_url().await;
    d.click("form.signout button").await;
    for _ in 0..50 {
        if d.current_url().await != before {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("signing out left the page at {before}");
}

/// Sets a date input (the test's probe: typing into date inputs depends on the locale).
async fn set_value(d: &Driver, css: &str, value: &str) {
    d.eval(&format!(
        "document.querySelector({css:?}).value = {value:?}; return 1"
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unit_and_evaluator_walk_the_loop() {
    let Some(app) = spawn_app_with(Backend::Sqlite, |_| {}).await else {
        return;
    };
    let Some(d) = Driver::start_desktop(1100, 1000).await else {
        return;
    };
    let ev = fixture(&app.store, EvaluationStatus::Closed).await;
    let eva_pw =
        pingyi::commands::accounts::create_user(&app.store, "eva", "evaluator", None, None)
            .await
            .unwrap();
    let unit_pw =
        pingyi::commands::accounts::create_user(&app.store, "u1user", "unit", Some("u1"), None)
            .await
            .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pdf = dir.path().join("整改方案.pdf");
    std::fs::write(&pdf, b"%PDF-1.4\n%%EOF\n").unwrap();
    let png = dir.path().join("photo.png");
    std::fs::write(&png, b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR").unwrap();
    let register = app.url(&format!("/admin/evaluations/{ev}/findings?lang=zh"));

    // the evaluator: calendar, a finding by hand, assignment from 30 Sep 2026
    login(&d, &app, "eva", &eva_pw, "评估列表").await;
    d.goto(&register).await;
    d.wait_for("尚未选择日历").await;
    d.click("form[action*='/findings/settings'] button").await;
    d.wait_for("当前日历").await;
    d.type_into(
        "form[action*='/findings/add'] input[name=title]",
        "窗口排队时间过长",
    )
    .await;
    d.type_into(
        "form[action*='/findings/add'] input[name=deadline_days]",
        "3",
    )
    .await;
    d.click("form[action*='/findings/add'] button").await;
    d.wait_for("窗口排队时间过长").await;
    d.assert_no_console_errors("register").await;
    d.click("table.findings a[href^='/findings/']").await;
    d.wait_for("交办").await;
    set_value(&d, "input[name=from]", "2026-09-30").await;
    d.type_into("input[name=contact_email]", "office@u1.example.cn")
        .await;
    d.click("button[value=assign]").await;
    d.wait_for("2026-10-10").await;
    d.screenshot("findings-evaluator-assigned").await;
    let finding_url = d.current_url().await;
    logout(&d).await;

    // the unit: its home lists the finding; the plan with a PDF
    login(&d, &app, "u1user", &unit_pw, "本单位整改事项").await;
    assert!(
        d.current_url().await.contains("/findings"),
        "{}",
        d.current_url().await
    );
    d.click("table.findings a[href^='/findings/']").await;
    d.wait_for("提交整改方案").await;
    d.type_into("textarea[name=measures]", "增设两个窗口，推行预约办理")
        .await;
    d.type_into("input[name=person]", "张科长").await;
    set_value(&d, "input[name=start]", "2026-10-12").await;
    set_value(&d, "input[name=end]", "2026-10-30").await;
    d.type_into("input[type=file]", &pdf.display().to_string())
        .await;
    d.screenshot("findings-unit-plan-form").await;
    d.click("button[value=submit_plan]").await;
    d.wait_for("整改方案待审核").await;
    d.wait_for("整改方案.pdf").await;
    d.assert_no_console_errors("unit plan").await;
    logout(&d).await;

    // the evaluator accepts the plan
    login(&d, &app, "eva", OWN_PASSWORD, "评估列表").await;
    d.goto(&finding_url).await;
    d.wait_for("审核整改方案").await;
    d.click("button[value=accept_plan]").await;
    d.wait_for("整改中").await;
    logout(&d).await;

    // the unit: the completion report with a photo
    login(&d, &app, "u1user", OWN_PASSWORD, "本单位整改事项").await;
    d.goto(&finding_url).await;
    d.wait_for("提交整改报告").await;
    d.type_into("textarea[name=report]", "两个窗口已开放，预约系统已上线")
        .await;
    d.type_into("input[type=file]", &png.display().to_string())
        .await;
    d.click("button[value=submit_completion]").await;
    d.wait_for("整改报告待核实").await;
    logout(&d).await;

    // the evaluator verifies; the history shows every step
    login(&d, &app, "eva", OWN_PASSWORD, "评估列表").await;
    d.goto(&finding_url).await;
    d.wait_for("核实整改报告").await;
    d.type_into("textarea[name=comment]", "现场核实无误").await;
    d.click("button[value=verify]").await;
    let html = d.wait_for("已销号").await;
    for s in [
        "提交整改方案",
        "通过整改方案",
        "提交整改报告",
        "核实销号",
        "现场核实无误",
        "photo.png",
    ] {
        assert!(html.contains(s), "the page lacks {s:?}");
    }
    d.assert_no_console_errors("verified").await;
    d.screenshot("findings-verified").await;
    let rows = app
        .store
        .list_findings(EvaluationId(ev), None)
        .await
        .unwrap();
    assert_eq!(rows[0].state, "verified");
    assert_eq!(app.store.finding_files(rows[0].id).await.unwrap().len(), 2);
    assert!(artifacts_dir().join("findings-verified.png").exists());
}
