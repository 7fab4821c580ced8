//! Firm uploads over HTTP: receipts, idempotency, all-or-nothing, keys and scopes, withdrawal.

use pingyi::store::{Backend, EvaluationStatus};

use crate::both_backends;
use crate::helpers::{spawn_app_with, TestApp};
use crate::survey::full_answers;

fn resident() -> pingyi::questionnaire::Questionnaire {
    pingyi::questionnaire::builtin()
        .unwrap()
        .into_iter()
        .find(|q| q.id == "resident")
        .unwrap()
}

/// A valid CSV for the resident questionnaire with `n` rows; `bad_unit_row` (1-based data row)
/// gets an unknown unit code.
pub fn resident_csv(n: usize, bad_unit_row: Option<usize>) -> String {
    let q = resident();
    let cols = pingyi::upload::template_columns(&q);
    let answers: std::collections::BTreeMap<String, String> = full_answers(&q)
        .into_iter()
        .map(|(k, v)| (k.trim_start_matches("a_").to_owned(), v))
        .collect();
    let mut out = cols.join(",") + "\n";
    for i in 1..=n {
        let row: Vec<String> = cols
            .iter()
            .map(|c| match c.as_str() {
                "unit" => {
                    if Some(i) == bad_unit_row {
                        "nosuchunit".into()
                    } else {
                        ["fgw", "jyj", "mzj"][i % 3].into()
                    }
                }
                "respondent_type" => "resident".into(),
                "interview_date" => "2026-11-0".to_owned() + &((i % 9) + 1).to_string(),
                "duration_seconds" => (300 + i).to_string(),
                "weight" => format!("{}", 1.0 + (i % 4) as f64 / 4.0),
                "district" | "gender" | "age_group" if !answers.contains_key(c) => "x".into(),
                // vary one likert answer so rows differ
                code => match answers.get(code) {
                    Some(_)
                        if q.question(code).is_some_and(|x| x.is_likert())
                            && code.ends_with('1') =>
                    {
                        ((i % 5) + 1).to_string()
                    }
                    Some(v) if v.contains(',') || v.contains(' ') => format!("\"{v}\""),
                    Some(v) => v.clone(),
                    None => String::new(),
                },
            })
            .collect();
        out += &row.join(",");
        out += "\n";
    }
    out
}

async fn setup(app: &TestApp) -> (i64, String) {
    pingyi::demo::load(&app.store).await.unwrap();
    let e = app
        .store
        .list_evaluations()
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.status == EvaluationStatus::Open)
        .unwrap();
    let (_, key) =
        pingyi::commands::accounts::create_firm_with_key(&app.store, "示范调查公司", &[e.id], "")
            .await
            .unwrap();
    (e.id, key)
}

async fn post_csv(app: &TestApp, eid: i64, key: &str, body: Vec<u8>) -> reqwest::Response {
    app.client
        .post(app.url(&format!(
            "/api/v1/evaluations/{eid}/uploads?questionnaire=resident&method=door_to_door"
        )))
        .bearer_auth(key)
        .header("Content-Type", "text/csv")
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn upload_receipts_and_idempotency(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |_| {}).await else {
        return;
    };
    let (eid, key) = setup(&app).await;
    let before = app.store.count_responses(eid).await.unwrap();
    let uploads_before = upload_rows(&app, eid).await;

    let template = app
        .client
        .get(app.url(&format!(
            "/api/v1/evaluations/{eid}/upload-template?questionnaire=resident"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(template.status(), 200);
    let header_line = template.text().await.unwrap();
    assert!(header_line
        .trim_start_matches('\u{feff}')
        .starts_with("unit,respondent_type,interview_date,district,gender,age_group"));
    let xlsx = app
        .client
        .get(app.url(&format!(
            "/api/v1/evaluations/{eid}/upload-template?questionnaire=resident&format=xlsx"
        )))
        .send()
        .await
        .unwrap();
    // the workbook template reads back with the CSV template's columns as its first row
    let xlsx = xlsx.bytes().await.unwrap();
    use calamine::Reader;
    let mut wb = calamine::Xlsx::new(std::io::Cursor::new(xlsx.to_vec())).expect("xlsx opens");
    let first = wb.sheet_names()[0].clone();
    let sheet = wb.worksheet_range(&first).unwrap();
    let xlsx_header: Vec<String> = sheet
        .rows()
        .next()
        .expect("a header row")
        .iter()
        .map(|c| c.to_string())
        .collect();
    let csv_header: Vec<String> = header_line
        .trim_start_matches('\u{feff}')
        .lines()
        .next()
        .unwrap()
        .split(',')
        .map(str::to_owned)
        .collect();
    assert_eq!(xlsx_header, csv_header);

    let csv = resident_csv(50, None);
    let res = post_csv(&app, eid, &key, csv.clone().into_bytes()).await;
    assert_eq!(res.status(), 201);
    let receipt: serde_json::Value = res.json().await.unwrap();
    assert_eq!(receipt["rows"], 50);
    assert_eq!(receipt["sha256"].as_str().unwrap().len(), 64);
    assert!(receipt["batch_id"].as_i64().unwrap() > 0);
    assert_eq!(app.store.count_responses(eid).await.unwrap(), before + 50);
    assert_eq!(upload_rows(&app, eid).await, uploads_before + 50);

    // the same file again: 200 with the first receipt, nothing stored
    let again = post_csv(&app, eid, &key, csv.clone().into_bytes()).await;
    assert_eq!(again.status(), 200);
    assert_eq!(again.json::<serde_json::Value>().await.unwrap(), receipt);
    assert_eq!(app.store.count_responses(eid).await.unwrap(), before + 50);

    // the same rows in GB18030 with CRLF: different bytes, stored, flagged as duplicates
    let crlf = csv.replace('\n', "\r\n");
    let (gbk, _, _) = encoding_rs::GB18030.encode(&crlf);
    let res = post_csv(&app, eid, &key, gbk.into_owned()).await;
    assert_eq!(res.status(), 201);
    let r2: serde_json::Value = res.json().await.unwrap();
    assert_eq!(r2["warnings"]["duplicates_of_other_batches"], 50);
    assert_eq!(r2["format"]["encoding"], "GB18030");

    // multipart with metadata fields
    let form = reqwest::multipart::Form::new()
        .text("questionnaire", "resident")
        .text("method", "phone")
        .part(
            "file",
            reqwest::multipart::Part::bytes(
                resident_csv(3, None).replace("fgw", "mzj").into_bytes(),
            )
            .file_name("phone.csv"),
        );
    let res = app
        .client
        .post(app.url(&format!("/api/v1/evaluations/{eid}/uploads")))
        .bearer_auth(&key)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let r3: serde_json::Value = res.json().await.unwrap();
    assert_eq!(r3["method"], "phone");
    assert_eq!(r3["file_name"], "phone.csv");

    // provenance: every stored row of the batch points at it; the batch knows firm, method, hash
    let batch = app
        .store
        .get_batch(receipt["batch_id"].as_i64().unwrap())
        .await
        .unwrap();
    assert_eq!(batch.method, pingyi::store::CollectionMethod::DoorToDoor);
    assert_eq!(batch.file_sha256, receipt["sha256"].as_str().unwrap());
    assert_eq!(app.store.batch_response_count(batch.id).await.unwrap(), 50);
}
both_backends!(upload_receipts, upload_receipts_and_idempotency);

/// Stored responses whose source is an upload (the demo's residents are marked as uploads too).
async fn upload_rows(app: &TestApp, eid: i64) -> i64 {
    app.store
        .responses(eid)
        .await
        .unwrap()
        .iter()
        .filter(|r| r.source == "upload")
        .count() as i64
}

async fn bad_files_store_nothing(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |s| s.max_upload_bytes = 64 * 1024).await else {
        return;
    };
    let (eid, key) = setup(&app).await;
    let snapshot = |dump: Vec<(String, String, String)>| -> Vec<(String, String, String)> {
        dump.into_iter()
            .filter(|(t, _, _)| t == "responses" || t == "upload_batches")
            .collect()
    };
    let before = snapshot(app.store.dump_all_text().await.unwrap());

    // an unknown unit on data row 3 → 422 naming row 4 (header is row 1) and the column
    let res = post_csv(&app, eid, &key, resident_csv(10, Some(3)).into_bytes()).await;
    assert_eq!(res.status(), 422);
    let body: serde_json::Value = res.json().await.unwrap();
    let errors = body["error"]["details"]["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["row"], 4);
    assert_eq!(errors[0]["column"], "unit");
    assert_eq!(errors[0]["value"], "nosuchunit");
    assert!(body["error"]["details"]["error_report"]
        .as_str()
        .unwrap()
        .contains("nosuchunit"));

    for (what, bytes) in [
        ("empty", Vec::new()),
        ("header only", resident_csv(0, None).into_bytes()),
        (
            "garbage",
            (0..2000u32).map(|i| (i * 7919 % 251) as u8).collect(),
        ),
        (
            "ragged",
            (resident_csv(2, None) + "fgw,resident\n").into_bytes(),
        ),
    ] {
        let res = post_csv(&app, eid, &key, bytes).await;
        assert_eq!(res.status(), 422, "{what}");
        let body: serde_json::Value = res.json().await.unwrap();
        assert!(
            !body["error"]["message"].as_str().unwrap().is_empty(),
            "{what}"
        );
    }
    // too large → 413 naming the limit
    let res = post_csv(&app, eid, &key, resident_csv(3000, None).into_bytes()).await;
    assert_eq!(res.status(), 413);
    assert!(
        res.json::<serde_json::Value>().await.unwrap()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("MB")
    );

    assert_eq!(
        snapshot(app.store.dump_all_text().await.unwrap()),
        before,
        "response tables unchanged"
    );
}
both_backends!(bad_uploads, bad_files_store_nothing);

async fn keys_scopes_and_withdrawal(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |_| {}).await else {
        return;
    };
    let (eid, key) = setup(&app).await;
    let csv = resident_csv(5, None).into_bytes();
    // no key, wrong key
    let res = app
        .client
        .post(app.url(&format!(
            "/api/v1/evaluations/{eid}/uploads?questionnaire=resident&method=phone"
        )))
        .body(csv.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(
        post_csv(&app, eid, "pyk_wrong", csv.clone()).await.status(),
        401
    );
    // out of scope: the 2025 evaluation
    let other = app
        .store
        .list_evaluations()
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.id != eid)
        .unwrap();
    assert_eq!(
        post_csv(&app, other.id, &key, csv.clone()).await.status(),
        403
    );
    // revoked
    let firm = app
        .store
        .firm_by_name("示范调查公司")
        .await
        .unwrap()
        .unwrap();
    let res = post_csv(&app, eid, &key, csv.clone()).await;
    assert_eq!(res.status(), 201);
    let receipt: serde_json::Value = res.json().await.unwrap();
    assert_eq!(
        app.store
            .revoke_firm_keys(firm.id, Some(&key[..8]))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        post_csv(&app, eid, &key, resident_csv(6, None).into_bytes())
            .await
            .status(),
        401
    );

    // withdrawal by an evaluator (API key), audited; refused once the wave is closed
    let password =
        pingyi::commands::accounts::create_user(&app.store, "eva", "evaluator", None, None)
            .await
            .unwrap();
    assert!(!password.is_empty());
    let user = app.store.user_by_name("eva").await.unwrap().unwrap();
    let api_key = "pyu_test_key_0123456789";
    app.store
        .create_api_key(
            user.id,
            &pingyi::collect::sha256_hex(api_key),
            &api_key[..8],
            "test",
        )
        .await
        .unwrap();
    let bid = receipt["batch_id"].as_i64().unwrap();
    let url = app.url(&format!("/api/v1/evaluations/{eid}/uploads/{bid}/withdraw"));
    // another firm's key finds no such batch
    let (_, other_key) =
        pingyi::commands::accounts::create_firm_with_key(&app.store, "另一调查公司", &[eid], "")
            .await
            .unwrap();
    let res = app
        .client
        .post(&url)
        .bearer_auth(&other_key)
        .json(&serde_json::json!({"reason": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let version = app.store.get_evaluation(eid).await.unwrap().data_version;
    let res = app
        .client
        .post(&url)
        .bearer_auth(api_key)
        .json(&serde_json::json!({"reason": "interviewer fabricated answers"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let b = app.store.get_batch(bid).await.unwrap();
    assert_eq!(b.status, pingyi::store::BatchStatus::Withdrawn);
    assert_eq!(b.withdrawn_by.as_deref(), Some("eva"));
    assert_eq!(
        app.store.batch_response_count(bid).await.unwrap(),
        5,
        "kept, only marked"
    );
    assert!(app.store.get_evaluation(eid).await.unwrap().data_version > version);
    assert!(app
        .store
        .audit_log(50)
        .await
        .unwrap()
        .iter()
        .any(|a| a.action == "upload.withdraw" && a.actor == "eva"));
    let res = app
        .client
        .post(&url)
        .bearer_auth(api_key)
        .json(&serde_json::json!({"reason": "again"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 409);
    let (_, key2) =
        pingyi::commands::accounts::create_firm_with_key(&app.store, "示范调查公司", &[eid], "")
            .await
            .unwrap();
    let res = post_csv(&app, eid, &key2, resident_csv(7, None).into_bytes()).await;
    let receipt2: serde_json::Value = res.json().await.unwrap();
    // rows 1–5 repeat the withdrawn batch only: not duplicates of an active batch
    assert_eq!(receipt2["warnings"]["duplicates_of_other_batches"], 0);
    let bid2 = receipt2["batch_id"].as_i64().unwrap();
    app.store
        .set_evaluation_status(eid, EvaluationStatus::Closed, "test")
        .await
        .unwrap();
    // closed: no more uploads, no withdrawals
    let res = post_csv(&app, eid, &key2, resident_csv(9, None).into_bytes()).await;
    assert_eq!(res.status(), 409);
    let res = app
        .client
        .post(app.url(&format!(
            "/api/v1/evaluations/{eid}/uploads/{bid2}/withdraw"
        )))
        .bearer_auth(api_key)
        .json(&serde_json::json!({"reason": "late"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 409);
}
both_backends!(upload_access, keys_scopes_and_withdrawal);

/// `pingyi import` killed mid-upload leaves nothing; run again, the whole batch is there.
async fn killed_import_leaves_nothing(backend: Backend) {
    let Some(db) = crate::helpers::TestDb::new(backend).await else {
        return;
    };
    let store = db.store().await;
    pingyi::library::register_questionnaires(&store, std::path::Path::new("surveys"))
        .await
        .unwrap();
    pingyi::demo::load(&store).await.unwrap();
    let e = store
        .list_evaluations()
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.status == EvaluationStatus::Open)
        .unwrap();
    let (_, key) =
        pingyi::commands::accounts::create_firm_with_key(&store, "入户调查公司", &[e.id], "")
            .await
            .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big.csv");
    std::fs::write(&file, resident_csv(20_000, None)).unwrap();
    let before = store.count_responses(e.id).await.unwrap();
    let visible_before = store.export_row_count(e.id).await.unwrap();
    let run = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_pingyi"))
            .args([
                "import",
                "--evaluation",
                &e.id.to_string(),
                "--firm",
                &key,
                "--questionnaire",
                "resident",
                "--method",
                "door_to_door",
            ])
            .arg(&file)
            .args(["--database", &db.url])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut killed = false;
    for delay_ms in [200u64, 600, 1200] {
        let mut child = run();
        tokio::time::sleep(std::time::Duration::from_millis(delay_ms)).await;
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap();
            killed = true;
        }
        let _ = child.wait();
        // Nothing of a half-appended batch is visible (SQLite appends in several
        // transactions; its batch stays invisible until the last one) …
        let visible = store.export_row_count(e.id).await.unwrap();
        let batches = store.list_batches(e.id).await.unwrap();
        assert!(
            (visible == visible_before && batches.is_empty())
                || (visible == visible_before + 20_000 && batches.len() == 1),
            "visible after a kill at {delay_ms} ms: {} rows, {} batches",
            visible - visible_before,
            batches.len()
        );
        // … and the next upload (or start) removes it, its process being gone
        store
            .clean_abandoned_uploads(pingyi::store::ABANDONED_AFTER)
            .await
            .unwrap();
        let now = store.count_responses(e.id).await.unwrap();
        assert!(
            (now == before && batches.is_empty()) || (now == before + 20_000 && batches.len() == 1),
            "after a kill at {delay_ms} ms: {} rows stored, {} batches",
            now - before,
            batches.len()
        );
        if !batches.is_empty() {
            break;
        }
    }
    assert!(
        killed,
        "the import finished before any kill; use a bigger file"
    );
    let status = run().wait().unwrap();
    assert!(status.success());
    assert_eq!(store.count_responses(e.id).await.unwrap(), before + 20_000);
    assert_eq!(store.list_batches(e.id).await.unwrap().len(), 1);
}
both_backends!(killed_import, killed_import_leaves_nothing);

/// A signed-in firm drops a file on the web page: receipt shown; a bad file shows the errors.
async fn firm_web_upload(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |_| {}).await else {
        return;
    };
    pingyi::demo::load(&app.store).await.unwrap();
    let e = app
        .store
        .list_evaluations()
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.status == EvaluationStatus::Open)
        .unwrap();
    let client = crate::helpers::user(&app, "webfirm", "firm", None).await;
    let firm = app
        .store
        .firm_by_name("firm-webfirm")
        .await
        .unwrap()
        .unwrap();
    app.store.add_firm_scope(firm.id, e.id, "").await.unwrap();
    let page = client.get(app.url("/firm/upload")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    let csrf = crate::survey::hidden(&page, "_csrf");
    let before = app.store.count_responses(e.id).await.unwrap();
    let send = |csv: String, csrf: String| {
        let form = reqwest::multipart::Form::new()
            .text("_csrf", csrf)
            .text("evaluation", e.id.to_string())
            .text("questionnaire", "resident")
            .text("method", "intercept")
            .part(
                "file",
                reqwest::multipart::Part::bytes(csv.into_bytes()).file_name("street.csv"),
            );
        client.post(app.url("/firm/upload")).multipart(form).send()
    };
    let ok = send(resident_csv(12, None), csrf.clone()).await.unwrap();
    assert_eq!(ok.status(), 201);
    assert!(ok.text().await.unwrap().contains("上传成功"));
    assert_eq!(app.store.count_responses(e.id).await.unwrap(), before + 12);
    let bad = send(resident_csv(5, Some(2)), csrf.clone()).await.unwrap();
    assert_eq!(bad.status(), 422);
    let body = bad.text().await.unwrap();
    assert!(body.contains("nosuchunit") && body.contains("文件未保存"));
    assert_eq!(app.store.count_responses(e.id).await.unwrap(), before + 12);
    // without the CSRF token: refused
    let forged = send(resident_csv(4, None), "x".into()).await.unwrap();
    assert_eq!(forged.status(), 400);
    // an evaluator is not a firm
    let eva = crate::helpers::user(&app, "eva2", "evaluator", None).await;
    assert_eq!(
        eva.get(app.url("/firm/upload"))
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
}
both_backends!(firm_page, firm_web_upload);

/// A questionnaire is named `id` or `id@version` (as `pingyi links` prints it) by the upload
/// template and upload routes alike.
async fn questionnaire_id_at_version(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |_| {}).await else {
        return;
    };
    let (eid, key) = setup(&app).await;
    let version = pingyi::questionnaire::builtin()
        .unwrap()
        .into_iter()
        .filter(|q| q.id == "resident")
        .map(|q| q.version)
        .max()
        .unwrap();
    let template = |q: String| {
        let url = app.url(&format!(
            "/api/v1/evaluations/{eid}/upload-template?questionnaire={q}"
        ));
        let c = app.client.clone();
        async move { c.get(url).send().await.unwrap() }
    };
    let plain = template("resident".into()).await.text().await.unwrap();
    let r = template(format!("resident@{version}")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), plain);
    assert_eq!(
        template(format!("resident@{}", version + 50))
            .await
            .status(),
        404
    );
    assert_eq!(template("resident@x".into()).await.status(), 400);
    assert_eq!(
        template(format!("resident@{version}&version={}", version + 1))
            .await
            .status(),
        400
    );
    let res = app
        .client
        .post(app.url(&format!(
            "/api/v1/evaluations/{eid}/uploads?questionnaire=resident@{version}&method=phone"
        )))
        .bearer_auth(&key)
        .header("Content-Type", "text/csv")
        .body(resident_csv(7, None))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let receipt: serde_json::Value = res.json().await.unwrap();
    assert_eq!(receipt["rows"], 7);
}
both_backends!(questionnaire_at_version, questionnaire_id_at_version);
