//! An office adapts a questionnaire in headless Chromium: the workbook of a shipped
//! questionnaire (exported with `pingyi questionnaire export`, edited as in Excel: a new version
//! and a reworded question) is uploaded on the library page, its version page shows the
//! difference and a 360 px phone preview that fits without sideways scrolling, the preview is
//! answered without storing anything, and the new version is put into an evaluation's plan.

use pingyi::store::{Backend, EvaluationId};

use crate::browser::{answer_all, sign_in, Driver};
use crate::helpers::spawn_app_with;
use crate::questionnaire_library::{sheets, workbook};
use crate::setup_support::pingyi;

const NEW_TEXT: &str = "新措辞：您对本单位的总体工作是否满意？";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn office_imports_previews_and_plans_its_own_questionnaire() {
    let Some(app) = spawn_app_with(Backend::Sqlite, |s| s.submit_rate_per_minute = 0).await else {
        return;
    };
    let Some(d) = Driver::start_desktop(1280, 1000).await else {
        return;
    };
    let (_key, id) = crate::setup_evaluations::planned(&app).await;
    let db = app.db.url.clone();
    let (ok, out, err) = pingyi(&[
        "user",
        "create",
        "--role",
        "admin",
        "--name",
        "office",
        "--database",
        &db,
    ]);
    assert!(ok, "{err}");
    let password = out.lines().last().unwrap().trim().to_owned();
    sign_in(&d, &app, "office", &password).await;

    // the shipped workbook, edited as an office would in Excel
    let files = tempfile::tempdir().unwrap();
    let exported = files.path().join("service_user.xlsx");
    let (ok, _, err) = pingyi(&[
        "questionnaire",
        "export",
        "service_user@1",
        "--format",
        "xlsx",
        "--output",
        exported.to_str().unwrap(),
        "--database",
        &db,
    ]);
    assert!(ok, "{err}");
    let mut book = sheets(&std::fs::read(&exported).unwrap());
    for (name, rows) in &mut book {
        let col = |rows: &Vec<Vec<String>>, f: &dyn Fn(&str) -> bool| {
            rows[0].iter().position(|h| f(h)).unwrap()
        };
        if name == "settings" {
            let v = col(rows, &|h| h == "version");
            rows[1][v] = "2".into();
        }
        if name == "survey" {
            let label = col(rows, &|h| h.starts_with("label") && h.contains("zh"));
            let kind = col(rows, &|h| h == "type");
            let first = rows
                .iter()
                .position(|r| r[kind].starts_with("select_one"))
                .unwrap();
            rows[first][label] = NEW_TEXT.into();
        }
    }
    let edited = files.path().join("service_user-v2.xlsx");
    std::fs::write(&edited, workbook(&book)).unwrap();

    // upload on the library page
    d.goto(&app.url("/admin/questionnaires?lang=zh")).await;
    d.choose_file("input#file", &edited).await;
    d.click("form[enctype='multipart/form-data'] button[type=submit]")
        .await;
    let page = d.wait_for("已导入新版本").await;
    assert!(page.contains("措辞修改") && page.contains(NEW_TEXT));
    d.assert_no_console_errors("questionnaire-version").await;
    d.screenshot("questionnaire-version").await;

    // the phone preview in its 360 px frame: the new wording, nothing wider than the phone
    let frame = d
        .eval(
            "const f = document.querySelector('iframe.preview'); \
             return [f.getBoundingClientRect().width, 0, \
                     f.contentDocument.documentElement.scrollWidth];",
        )
        .await;
    assert_eq!(frame[0].as_f64(), Some(360.0), "{frame}");
    assert_eq!(frame[2].as_f64().map(|w| w <= 360.0), Some(true), "{frame}");
    let inner = d
        .eval_args(
            "return document.querySelector('iframe.preview').contentDocument.body.innerText.includes(arguments[0]);",
            vec![serde_json::json!(NEW_TEXT)],
        )
        .await;
    assert_eq!(
        inner.as_bool(),
        Some(true),
        "the preview shows the new wording"
    );

    // answering the preview stores nothing
    d.goto(&app.url("/admin/questionnaires/service_user/2/preview?lang=zh"))
        .await;
    let q = pingyi::questionnaire::builtin()
        .unwrap()
        .into_iter()
        .find(|q| q.id == "service_user")
        .unwrap();
    answer_all(&d, &q).await;
    d.click("form button[type=submit]:last-of-type").await;
    d.wait_for("预览：回答有效").await;
    assert_eq!(app.store.count_responses(id).await.unwrap(), 0);

    // the new version in the evaluation's plan
    d.goto(&app.url(&format!("/admin/evaluations/{id}/setup?lang=zh")))
        .await;
    // the first row (市公安局's service users) switches to version 2
    let row = "#plan table.plan tbody tr:first-child";
    assert!(
        d.source().await.contains("service_user@2"),
        "version 2 is offered"
    );
    d.click(&format!(
        "{row} select[name='questionnaire'] option[value='service_user@2']"
    ))
    .await;
    d.click("#plan form > button[type=submit]").await;
    d.wait_for("调查计划已保存").await;
    let plan = app.store.plan_rows(EvaluationId(id)).await.unwrap();
    assert!(
        plan.iter()
            .any(|r| r.questionnaire_id == "service_user" && r.questionnaire_version == 2),
        "a plan row uses the imported version: {plan:?}"
    );

    // the evaluation's questionnaire set, linked from the plan, names it
    d.click("#plan a[href*='/questionnaires']").await;
    let bank = d.source().await;
    assert!(
        bank.contains("管理服务对象满意度调查问卷 v2"),
        "the bank lists version 2"
    );
    d.assert_no_console_errors("questionnaire-bank").await;
    d.screenshot("questionnaire-bank").await;
}
