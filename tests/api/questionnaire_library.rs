//! The questionnaire library as an office uses it: download a shipped questionnaire, edit it,
//! import it (changed content under the same version refused with the differences; a new
//! version accepted), compare versions, preview on a phone without storing anything, attach
//! the new version to an evaluation's plan and collect an answer with it; the bank page; a bad
//! workbook's `sheet!cell` problems; and the `pingyi questionnaire` commands' round trip of
//! every shipped questionnaire on the files they export.

use calamine::Reader;
use pingyi::store::Backend;
use reqwest::Method;

use crate::helpers::{spawn_app, user};
use crate::setup_support::{csrf, pingyi, send};

/// The exported TOML of service_user@1, edited as an office would: a new version number and
/// the first question reworded.
pub fn edited(toml: &str, version: u32) -> String {
    let mut out = toml.replacen("version = 1\n", &format!("version = {version}\n"), 1);
    let q = out.find("[[questions]]").expect("questions");
    let zh = q + out[q..].find("zh = \"").expect("question text") + 6;
    let end = zh + out[zh..].find('"').expect("end of text");
    out.replace_range(zh..end, "新措辞：您对本单位的总体工作是否满意？");
    out
}

async fn multipart(
    c: &reqwest::Client,
    app: &crate::helpers::TestApp,
    name: &str,
    bytes: Vec<u8>,
    replace: bool,
) -> reqwest::Response {
    let token = csrf(c, app, "/admin/questionnaires").await;
    let mut form = reqwest::multipart::Form::new().text("_csrf", token);
    if replace {
        form = form.text("replace", "1");
    }
    let form = form.part(
        "file",
        reqwest::multipart::Part::bytes(bytes).file_name(name.to_owned()),
    );
    c.post(app.url("/admin/questionnaires/import"))
        .multipart(form)
        .send()
        .await
        .unwrap()
}

/// Every sheet of a workbook as rows of text.
pub fn sheets(bytes: &[u8]) -> Vec<(String, Vec<Vec<String>>)> {
    let mut wb = calamine::Xlsx::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let names = wb.sheet_names().to_vec();
    names
        .into_iter()
        .map(|n| {
            let range = wb.worksheet_range(&n).unwrap();
            let rows = range
                .rows()
                .map(|r| r.iter().map(|c| c.to_string()).collect())
                .collect();
            (n, rows)
        })
        .collect()
}

/// A workbook with these sheets (all cells as text), as Excel or WPS would save it.
pub fn workbook(sheets: &[(String, Vec<Vec<String>>)]) -> Vec<u8> {
    let mut book = rust_xlsxwriter::Workbook::new();
    for (name, rows) in sheets {
        let sheet = book.add_worksheet();
        sheet.set_name(name).unwrap();
        for (r, row) in rows.iter().enumerate() {
            for (c, cell) in row.iter().enumerate() {
                sheet.write_string(r as u32, c as u16, cell).unwrap();
            }
        }
    }
    book.save_to_buffer().unwrap()
}

async fn library_flow(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let c = user(&app, "editor", "evaluator", None).await;
    // a unit register and a draft evaluation with a plan (an API key of an evaluator)
    let (k, id) = crate::setup_evaluations::planned(&app).await;
    let list = c
        .get(app.url("/admin/questionnaires"))
        .send()
        .await
        .unwrap();
    assert_eq!(list.status(), 200);
    let list = list.text().await.unwrap();
    for title in ["管理服务对象满意度调查问卷", "政府部门公众评价居民调查问卷"]
    {
        assert!(list.contains(title), "{title} listed");
    }
    assert_eq!(list.matches("系统内置").count(), 6, "six shipped versions");

    // download, edit, import under the same version: refused with the difference
    let toml = c
        .get(app.url("/admin/questionnaires/service_user/1/download?format=toml"))
        .send()
        .await
        .unwrap();
    assert_eq!(toml.status(), 200);
    assert!(toml.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("service_user-v1.toml"));
    let toml = toml.text().await.unwrap();
    let same_version = edited(&toml, 1);
    let r = multipart(
        &c,
        &app,
        "service_user.toml",
        same_version.into_bytes(),
        false,
    )
    .await;
    assert_eq!(r.status(), 422);
    let page = r.text().await.unwrap();
    assert!(page.contains("该版本已存在且内容不同"), "refusal named");
    assert!(
        page.contains("措辞修改") && page.contains("新措辞：您对本单位的总体工作是否满意？"),
        "the reworded question is listed with its new text"
    );
    assert_eq!(
        app.store.list_questionnaires().await.unwrap().len(),
        6,
        "nothing stored"
    );

    // a new version is accepted and compared with the previous one
    let r = multipart(
        &c,
        &app,
        "service_user.toml",
        edited(&toml, 2).into_bytes(),
        false,
    )
    .await;
    assert_eq!(r.status(), 303);
    let to = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        to.starts_with("/admin/questionnaires/service_user/2?done=imported"),
        "{to}"
    );
    let page = c
        .get(app.url(&to))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("已导入新版本"));
    assert!(page.contains("比较对象：版本 1"));
    assert!(page.contains("措辞修改"));
    let q1 = pingyi::questionnaire::builtin()
        .unwrap()
        .into_iter()
        .find(|q| q.id == "service_user")
        .unwrap();
    let likert = q1.likert_questions().count();
    assert!(
        page.contains(&format!("可跨年比较的题目：{likert}")),
        "every likert item keeps its code, so all stay comparable year over year"
    );
    assert_eq!(app.store.list_questionnaires().await.unwrap().len(), 7);

    // the workbook of the new version imports back to the same content (through the API)
    let xlsx = c
        .get(app.url("/admin/questionnaires/service_user/2/download?format=xlsx"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .to_vec();
    let r = app
        .client
        .post(app.url("/api/v1/questionnaires/import?file_name=service_user-v2.xlsx"))
        .bearer_auth(&k)
        .body(xlsx.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["outcome"], "unchanged");
    let stored = app
        .store
        .get_questionnaire("service_user", 2)
        .await
        .unwrap();
    assert_eq!(body["content_hash"], stored.content_hash.as_str());

    // a workbook edited badly: an unknown choice list is named by its sheet and cell
    let mut book = sheets(&xlsx);
    let survey = &mut book
        .iter_mut()
        .find(|(n, _)| n == "survey")
        .expect("survey sheet")
        .1;
    let type_col = survey[0].iter().position(|h| h == "type").unwrap();
    let row = survey
        .iter()
        .position(|r| r[type_col].starts_with("select_one"))
        .unwrap();
    survey[row][type_col] = "select_one likert7".into();
    let cell = format!("{}{}", (b'A' + type_col as u8) as char, row + 1);
    let r = multipart(&c, &app, "bad.xlsx", workbook(&book), false).await;
    assert_eq!(r.status(), 422);
    let page = r.text().await.unwrap();
    assert!(
        page.contains(&format!("survey!{cell}")) && page.contains("likert7"),
        "the bad cell survey!{cell} is named"
    );
    assert_eq!(app.store.list_questionnaires().await.unwrap().len(), 7);

    // the phone preview shows the new wording and stores nothing
    let form = c
        .get(app.url("/admin/questionnaires/service_user/2/preview"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(form.contains("新措辞：您对本单位的总体工作是否满意？"));
    let hidden = |name: &str| crate::survey::hidden(&form, name);
    let mut answers = vec![
        ("_nonce".to_owned(), hidden("_nonce")),
        ("_sig".to_owned(), hidden("_sig")),
        ("lang".to_owned(), "zh".to_owned()),
    ];
    let empty = c
        .post(app.url("/admin/questionnaires/service_user/2/preview"))
        .form(&answers)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !empty.contains("回答有效") && empty.contains("新措辞"),
        "missing answers: the form again"
    );
    answers.extend(crate::survey::full_answers(&q1));
    let full = c
        .post(app.url("/admin/questionnaires/service_user/2/preview"))
        .form(&answers)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        full.contains("预览：回答有效"),
        "valid answers are confirmed"
    );

    // the new version in an evaluation's plan: its public link shows and stores version 2
    let plan = "unit,respondent_type,questionnaire,target\ngaj,service_user,service_user@2,30\n";
    let (st, body) = crate::setup_support::send_file(
        &app,
        &k,
        Method::PUT,
        &format!("/api/v1/evaluations/{id}/plan"),
        plan.as_bytes().to_vec(),
    )
    .await;
    assert_eq!(st, 200, "{body}");
    let (st, _) = send(
        &app,
        &k,
        Method::POST,
        &format!("/api/v1/evaluations/{id}/open"),
        None,
    )
    .await;
    assert_eq!(st, 200);
    let (st, _) = send(
        &app,
        &k,
        Method::POST,
        &format!("/api/v1/evaluations/{id}/links"),
        None,
    )
    .await;
    assert_eq!(st, 200);
    let link = app.store.list_links(Some(id)).await.unwrap().remove(0);
    assert_eq!(
        (link.questionnaire_id.as_str(), link.questionnaire_version),
        ("service_user", 2)
    );
    assert_eq!(
        app.store.count_responses(id).await.unwrap(),
        0,
        "the preview stored nothing"
    );
    let page = app
        .client
        .get(app.url(&format!("/s/{}", link.code)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("新措辞：您对本单位的总体工作是否满意？"));
    let mut body = vec![
        ("_nonce".to_owned(), crate::survey::hidden(&page, "_nonce")),
        ("_sig".to_owned(), crate::survey::hidden(&page, "_sig")),
        ("lang".to_owned(), "zh".to_owned()),
    ];
    body.extend(crate::survey::full_answers(&q1));
    let r = app
        .client
        .post(app.url(&format!("/s/{}", link.code)))
        .form(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let stored = app.store.responses(id).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].questionnaire_version, 2);

    // a version with responses cannot change, even with "replace"
    let r = multipart(
        &c,
        &app,
        "service_user.toml",
        edited(&toml, 2).replace("新措辞", "再改").into_bytes(),
        true,
    )
    .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("已有回答，不能修改"));

    // the bank: the plan's questionnaire per respondent type with its dimensions
    let bank = c
        .get(app.url(&format!("/admin/evaluations/{id}/questionnaires")))
        .send()
        .await
        .unwrap();
    assert_eq!(bank.status(), 200);
    let bank = bank.text().await.unwrap();
    for d in &q1.dimensions {
        assert!(
            bank.contains(&d.name.zh),
            "dimension {} in the bank",
            d.name.zh
        );
    }
    assert!(bank.contains("管理服务对象满意度调查问卷"));
}
crate::both_backends!(questionnaire_library, library_flow);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn questionnaire_commands_round_trip_every_shipped_questionnaire() {
    let Some(app) = spawn_app(Backend::Sqlite).await else {
        return;
    };
    let db = app.db.url.clone();
    let dir = tempfile::tempdir().unwrap();
    let shipped = pingyi::questionnaire::builtin().unwrap();
    assert_eq!(shipped.len(), 6);
    for q in &shipped {
        for format in ["xlsx", "toml"] {
            let file = dir.path().join(format!("{}.{format}", q.id));
            let spec = format!("{}@{}", q.id, q.version);
            let (ok, _, err) = pingyi(&[
                "questionnaire",
                "export",
                &spec,
                "--format",
                format,
                "--output",
                file.to_str().unwrap(),
                "--database",
                &db,
            ]);
            assert!(ok, "{err}");
            let (ok, out, err) = pingyi(&[
                "questionnaire",
                "import",
                file.to_str().unwrap(),
                "--database",
                &db,
            ]);
            assert!(ok, "{spec} {format}: {err}");
            assert!(
                out.contains("already stored with the same content")
                    && out.contains(&q.content_hash),
                "{spec} {format} reads back to the same content hash: {out}"
            );
        }
    }
    // standard output without --output
    let (ok, out, _) = pingyi(&[
        "questionnaire",
        "export",
        "resident",
        "--format",
        "toml",
        "--database",
        &db,
    ]);
    assert!(ok);
    assert!(out.contains("id = \"resident\""));
    // a new version from an edited file, listed and compared
    let toml = dir.path().join("service_user.toml");
    let edited_file = dir.path().join("service_user-v2.toml");
    std::fs::write(
        &edited_file,
        edited(&std::fs::read_to_string(&toml).unwrap(), 2),
    )
    .unwrap();
    let (ok, out, err) = pingyi(&[
        "questionnaire",
        "import",
        edited_file.to_str().unwrap(),
        "--database",
        &db,
    ]);
    assert!(ok, "{err}");
    assert!(out.starts_with("imported service_user@2"), "{out}");
    let (ok, out, _) = pingyi(&["questionnaire", "list", "--database", &db]);
    assert!(ok);
    assert_eq!(
        out.lines().count(),
        1 + 7,
        "header and seven versions: {out}"
    );
    let (ok, out, _) = pingyi(&["questionnaire", "diff", "service_user@2", "--database", &db]);
    assert!(ok);
    assert!(
        out.contains("service_user@1 → service_user@2: 1 difference(s)"),
        "{out}"
    );
    assert!(out.contains("question reworded"), "{out}");
    // the same version with other content: refused, the difference on stderr, exit non-zero
    std::fs::write(
        &edited_file,
        edited(&std::fs::read_to_string(&toml).unwrap(), 2).replace("新措辞", "再改"),
    )
    .unwrap();
    let (ok, _, err) = pingyi(&[
        "questionnaire",
        "import",
        edited_file.to_str().unwrap(),
        "--database",
        &db,
    ]);
    assert!(!ok);
    assert!(
        err.contains("service_user@2 is already stored with other content"),
        "{err}"
    );
    assert!(err.contains("question reworded"), "{err}");
    // an unknown questionnaire
    let (ok, _, err) = pingyi(&["questionnaire", "export", "nosuch@3", "--database", &db]);
    assert!(!ok);
    assert!(err.contains("no questionnaire nosuch@3"), "{err}");
}
