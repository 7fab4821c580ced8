//! An office runs its own evaluation in headless Chromium, from an empty database without the
//! demo: `pingyi user create --role admin` → sign in → import the units from an XLSX file →
//! create the evaluation → set the plan with targets → open → two citizens answer public links
//! on a 360×740 phone → a firm uploads a file through its page → progress shows 2 + N → close →
//! results, a unit report and scores → publish → the public page → copy to next year. Every
//! page is screenshot and checked for console errors.

use pingyi::store::{Backend, EvaluationId};

use crate::browser::{answer_all, sign_in, Driver};
use crate::helpers::spawn_app_with;
use crate::setup_support::{pingyi, xlsx};

/// Screenshot and console check of the page a step ended on.
async fn checked(d: &Driver, name: &str) {
    d.assert_no_console_errors(name).await;
    d.screenshot(&format!("setup-{name}")).await;
}

/// Chooses `value` in the first select named `name` inside `scope`.
async fn choose(d: &Driver, scope: &str, name: &str, value: &str) {
    d.click(&format!(
        "{scope} select[name='{name}'] option[value='{value}']"
    ))
    .await;
}

/// Clicks the status button of `action` on the set-up page.
async fn status(d: &Driver, action: &str) {
    d.click(&format!(
        "form.inline:has(input[name='action'][value='{action}']) button[type=submit]"
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn office_runs_its_own_evaluation_in_a_browser() {
    let Some(app) = spawn_app_with(Backend::Sqlite, |s| s.submit_rate_per_minute = 0).await else {
        return;
    };
    let Some(d) = Driver::start_desktop(1280, 1000).await else {
        return;
    };
    assert!(
        app.store.list_evaluations().await.unwrap().is_empty()
            && app.store.unit_register().await.unwrap().is_empty(),
        "an empty database"
    );
    let files = tempfile::tempdir().unwrap();

    // the first admin comes from the command line
    let (ok, out, err) = pingyi(&[
        "user",
        "create",
        "--role",
        "admin",
        "--name",
        "office",
        "--database",
        &app.db.url,
    ]);
    assert!(ok, "{err}");
    let password = out.lines().last().unwrap().trim().to_owned();
    sign_in(&d, &app, "office", &password).await;
    checked(&d, "admin-empty").await;

    // units from an XLSX workbook
    let register = files.path().join("units.xlsx");
    std::fs::write(
        &register,
        xlsx(&[
            &["code", "name_zh", "name_en", "kind", "parent"],
            &[
                "fgw",
                "市发展和改革委员会",
                "Development and Reform Commission",
                "政府工作部门",
                "",
            ],
            &[
                "jyj",
                "市教育局",
                "Education Bureau",
                "government_department",
                "",
            ],
            &[
                "jyj-ksy",
                "市教育考试院",
                "Examinations Authority",
                "sub_unit",
                "jyj",
            ],
        ]),
    )
    .unwrap();
    d.goto(&app.url("/admin/units?lang=zh")).await;
    d.choose_file("input[type=file][name=file]", &register)
        .await;
    d.click("form[action^='/admin/units/import'] button[type=submit]")
        .await;
    d.wait_for("已导入").await;
    assert!(d.source().await.contains("市教育考试院"));
    checked(&d, "units-imported").await;

    // a survey firm's account: its one-time link sets its password
    d.goto(&app.url("/admin/users?lang=zh")).await;
    d.type_into("#new-user input[name=name]", "chengdiao").await;
    choose(&d, "#new-user", "role", "firm").await;
    d.type_into("#new-user input[name=firm]", "城调公司").await;
    d.click("#new-user button[type=submit]").await;
    let page = d.wait_for("password-link").await;
    let at = page.find("/set-password/").unwrap();
    let firm_link = page[at..at + "/set-password/".len() + 64].to_owned();
    checked(&d, "firm-user-created").await;

    // the evaluation, with fieldwork dates and a framework
    d.goto(&app.url("/admin/evaluations/new?lang=zh")).await;
    d.type_into("input[name=series]", "city-satisfaction").await;
    d.type_into("input[name=year]", "2026").await;
    d.type_into("input[name=title_zh]", "2026年度部门满意度评价")
        .await;
    d.type_into("input[name=title_en]", "2026 satisfaction evaluation")
        .await;
    d.eval("document.querySelector('input[name=fieldwork_start]').value='2026-11-01';document.querySelector('input[name=fieldwork_end]').value='2026-12-31';return 1").await;
    choose(&d, "form", "framework", "beijing_sanxiao_yichuang").await;
    d.click("form[action^='/admin/evaluations'] button[type=submit]")
        .await;
    d.wait_for("评估已创建").await;
    let id = app.store.list_evaluations().await.unwrap()[0].id;
    checked(&d, "evaluation-created").await;

    // units, then the plan: service users in every unit, residents collected by the firm
    for code in ["fgw", "jyj", "jyj-ksy"] {
        d.click(&format!("#units input[name=units][value='{code}']"))
            .await;
    }
    d.click("#units button[type=submit]").await;
    d.wait_for("参评单位已保存").await;
    choose(&d, "#plan details form", "respondent_type", "service_user").await;
    choose(&d, "#plan details form", "questionnaire", "service_user@1").await;
    d.type_into("#plan details form input[name=target]", "30")
        .await;
    d.click("#plan details form button[type=submit]").await;
    d.wait_for("3 行，目标合计 90").await;
    d.click("#plan details summary").await;
    choose(&d, "#plan details form", "respondent_type", "resident").await;
    choose(&d, "#plan details form", "questionnaire", "resident@1").await;
    d.type_into("#plan details form input[name=target]", "20")
        .await;
    choose(&d, "#plan details form", "firm", "城调公司").await;
    d.click("#plan details form button[type=submit]").await;
    d.wait_for("6 行，目标合计 150").await;
    assert_eq!(
        app.store.plan_rows(EvaluationId(id)).await.unwrap().len(),
        6
    );
    checked(&d, "plan").await;

    // open, and make the plan's public links
    status(&d, "open").await;
    d.wait_for("已开始收集").await;
    d.click("#links button[type=submit]").await;
    d.wait_for("计划中的公开链接已生成").await;
    checked(&d, "opened-with-links").await;
    let links: Vec<String> = app
        .store
        .list_links(Some(id))
        .await
        .unwrap()
        .into_iter()
        .filter(|l| l.questionnaire_id == "service_user")
        .map(|l| l.code)
        .collect();
    assert_eq!(links.len(), 3);

    // two citizens answer on a phone
    let q = pingyi::questionnaire::builtin()
        .unwrap()
        .into_iter()
        .find(|q| q.id == "service_user")
        .unwrap();
    {
        let Some(phone) = Driver::start(360, 740).await else {
            return;
        };
        for (i, code) in links.iter().take(2).enumerate() {
            phone.goto(&app.url(&format!("/s/{code}?lang=zh"))).await;
            phone.wait_for("第 1 题").await;
            let width = phone
                .eval("return document.documentElement.scrollWidth")
                .await
                .as_i64()
                .unwrap();
            assert!(width <= 360, "no horizontal scrolling at 360 px: {width}");
            answer_all(&phone, &q).await;
            phone.click("button[type=submit]").await;
            phone.wait_for("感谢").await;
            checked(&phone, &format!("citizen-{i}")).await;
        }
    }

    // the firm sets its password, signs in and uploads through its page
    let n = 6;
    let upload = files.path().join("入户调查.csv");
    std::fs::write(&upload, crate::setup_lifecycle::resident_file("jyj", n)).unwrap();
    {
        let Some(f) = Driver::start_desktop(1280, 1000).await else {
            return;
        };
        f.goto(&app.url(&format!("{firm_link}?lang=zh"))).await;
        f.type_into("input[name=password]", "firm password 1").await;
        f.type_into("input[name=confirm]", "firm password 1").await;
        f.click("button[type=submit]").await;
        f.wait_for("密码已设置").await;
        checked(&f, "firm-password-set").await;
        f.goto(&app.url("/login?lang=zh&next=/firm/upload")).await;
        f.type_into("input[name=name]", "chengdiao").await;
        f.type_into("input[name=password]", "firm password 1").await;
        f.click("button[type=submit]").await;
        f.wait_for("上传调查数据").await;
        choose(&f, "form", "evaluation", &id.to_string()).await;
        choose(&f, "form", "questionnaire", "resident").await;
        choose(&f, "form", "method", "door_to_door").await;
        f.choose_file("input[type=file][name=file]", &upload).await;
        f.click("form[enctype='multipart/form-data'] button[type=submit]")
            .await;
        f.wait_for("上传成功").await;
        checked(&f, "firm-uploaded").await;
        f.goto(&app.url("/firm/progress?lang=zh")).await;
        let html = f.wait_for("各单位回收进度").await;
        assert!(
            html.contains("普通居民") && !html.contains("管理服务对象"),
            "the firm sees its contracted rows"
        );
        checked(&f, "firm-progress").await;
    }

    // progress on the overview: 2 answers + N uploaded against the targets
    d.goto(&app.url(&format!("/admin/evaluations/{id}?lang=zh")))
        .await;
    d.wait_for("各单位回收进度").await;
    let total = d
        .eval("return document.querySelector('strong.progress-total').textContent")
        .await;
    assert_eq!(
        total.as_str(),
        Some(format!("{}", 2 + n).as_str()),
        "progress shows 2 + {n}"
    );
    assert!(d.source().await.contains("role=\"progressbar\""));
    checked(&d, "overview-progress").await;

    // close; the links now answer "closed"
    d.goto(&app.url(&format!("/admin/evaluations/{id}/setup?lang=zh")))
        .await;
    status(&d, "close").await;
    d.wait_for("已结束收集").await;
    checked(&d, "closed").await;
    d.goto(&app.url(&format!("/s/{}?lang=zh", links[0]))).await;
    d.wait_for("本次评议已结束").await;
    d.screenshot("setup-link-closed").await;
    // the 410 itself is logged as a failed load: the only console message allowed here
    let logged = d.console().await;
    assert!(
        logged
            .iter()
            .all(|m| m["message"].as_str().is_some_and(|t| t.contains("410"))),
        "{logged:?}"
    );

    // results, a unit report and the scores page
    for (page, word, name) in [
        (
            format!("/admin/evaluations/{id}/results?lang=zh"),
            "综合评价排名与等次",
            "results",
        ),
        (
            format!("/admin/evaluations/{id}/units/jyj/report?lang=zh"),
            "满意度评价反馈报告",
            "unit-report",
        ),
        (
            format!("/admin/evaluations/{id}/scores?lang=zh"),
            "客观指标评分",
            "scores",
        ),
    ] {
        d.goto(&app.url(&page)).await;
        let html = d.wait_for(word).await;
        assert!(!html.contains("出错了"), "{page} shows an error");
        checked(&d, name).await;
    }

    // publish: the public page appears
    d.goto(&app.url(&format!("/admin/evaluations/{id}/setup?lang=zh")))
        .await;
    status(&d, "publish").await;
    d.wait_for("结果已公示").await;
    d.goto(&app.url(&format!("/public/evaluations/{id}?lang=zh")))
        .await;
    d.wait_for("结果公示").await;
    checked(&d, "public").await;

    // next year: a copy with the same units, plan and targets
    d.goto(&app.url("/admin/evaluations/new?lang=zh")).await;
    choose(&d, "form", "copy_from", &id.to_string()).await;
    d.type_into("input[name=year]", "2027").await;
    d.type_into("input[name=title_zh]", "2027年度部门满意度评价")
        .await;
    d.click("form[action^='/admin/evaluations'] button[type=submit]")
        .await;
    d.wait_for("沿用所复制的评估").await;
    checked(&d, "next-year").await;
    let next = app
        .store
        .list_evaluations()
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.year == 2027)
        .unwrap();
    assert_eq!(next.series, "city-satisfaction");
    let plan = app.store.plan_rows(EvaluationId(next.id)).await.unwrap();
    assert_eq!(
        (plan.len(), plan.iter().map(|r| r.target).sum::<i64>()),
        (6, 150)
    );
}
