//! The rectification loop over HTTP, on both backends: a finding added by hand, its calendar,
//! assignment with a deadline across the National Day holiday, the unit's plan and completion
//! report with evidence files, the evaluator's returns and acceptance, the history, the role
//! matrix (a unit never reads another unit's findings or files), bad input that stores
//! nothing, reminders through the outbox, and the register as CSV and XLSX.

use pingyi::store::{
    Backend, EvaluationId, EvaluationStatus, FindingId, NewEvaluation, NewUnit, Store, UnitKind,
};
use reqwest::multipart::{Form, Part};
use serde_json::{json, Value};

use crate::helpers::{spawn_app, uuid_like, TestApp};

const PDF: &[u8] = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n";
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0";

/// A closed evaluation with units u1 and u2 (and u3, not evaluated).
pub async fn fixture(store: &Store, status: EvaluationStatus) -> i64 {
    let e = store
        .create_evaluation(&NewEvaluation {
            series: format!("findings-{}", uuid_like()),
            year: 2026,
            wave: String::new(),
            title_zh: "整改测试评议".into(),
            title_en: "Rectification test".into(),
            status,
        })
        .await
        .unwrap();
    for (code, zh, en) in [
        ("u1", "甲局", "Bureau A"),
        ("u2", "乙局", "Bureau B"),
        ("u3", "丙局", "Bureau C"),
    ] {
        let u = store
            .upsert_unit(&NewUnit {
                code: code.into(),
                name_zh: zh.into(),
                name_en: en.into(),
                kind: UnitKind::GovernmentDepartment,
                parent_code: None,
            })
            .await
            .unwrap();
        if code != "u3" {
            store.add_unit_to_evaluation(e.id, u.id).await.unwrap();
        }
    }
    e.id
}

/// A user of `role` with an API key; returns the key.
pub async fn key(app: &TestApp, name: &str, role: &str, unit: Option<&str>) -> String {
    let firm = if role == "firm" {
        app.store
            .create_firm(&format!("firm-{name}"))
            .await
            .unwrap();
        Some(format!("firm-{name}"))
    } else {
        None
    };
    pingyi::commands::accounts::create_user(&app.store, name, role, unit, firm.as_deref())
        .await
        .unwrap();
    let u = app.store.user_by_name(name).await.unwrap().unwrap();
    let key = format!("pk_{}", uuid_like());
    app.store
        .create_api_key(u.id, &pingyi::collect::sha256_hex(&key), &key[..8], "tests")
        .await
        .unwrap();
    key
}

pub struct Api<'a> {
    pub app: &'a TestApp,
}

impl Api<'_> {
    pub async fn get(&self, key: &str, path: &str) -> (u16, Value) {
        let r = self
            .app
            .client
            .get(self.app.url(path))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        let s = r.status().as_u16();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn send(&self, method: &str, key: &str, path: &str, body: Value) -> (u16, Value) {
        let url = self.app.url(path);
        let req = match method {
            "post" => self.app.client.post(url),
            "put" => self.app.client.put(url),
            _ => self.app.client.patch(url),
        };
        let r = req.bearer_auth(key).json(&body).send().await.unwrap();
        let s = r.status().as_u16();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn step(&self, key: &str, id: i64, body: Value) -> (u16, Value) {
        self.send("post", key, &format!("/api/v1/findings/{id}/steps"), body)
            .await
    }

    pub async fn multipart(
        &self,
        key: &str,
        id: i64,
        fields: &[(&str, &str)],
        files: Vec<(&str, Vec<u8>)>,
    ) -> (u16, Value) {
        let mut form = Form::new();
        for (k, v) in fields {
            form = form.text(k.to_string(), v.to_string());
        }
        for (name, bytes) in files {
            form = form.part("files", Part::bytes(bytes).file_name(name.to_owned()));
        }
        let r = self
            .app
            .client
            .post(self.app.url(&format!("/api/v1/findings/{id}/steps")))
            .bearer_auth(key)
            .multipart(form)
            .send()
            .await
            .unwrap();
        let s = r.status().as_u16();
        (s, r.json().await.unwrap_or(Value::Null))
    }
}

fn msg(v: &Value) -> String {
    v["error"]["message"].as_str().unwrap_or("").to_owned()
}

async fn history_len(store: &Store, id: i64) -> usize {
    store.finding_events(FindingId(id)).await.unwrap().len()
}

async fn the_loop(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let api = Api { app: &app };
    let ev = fixture(&app.store, EvaluationStatus::Closed).await;
    let eva = key(&app, "eva", "evaluator", None).await;
    let u1 = key(&app, "u1user", "unit", Some("u1")).await;
    let u2 = key(&app, "u2user", "unit", Some("u2")).await;
    let firm = key(&app, "firmuser", "firm", None).await;
    let list = format!("/api/v1/evaluations/{ev}/findings");

    // bad input: every field named, nothing stored
    let (s, v) = api
        .send(
            "post",
            &eva,
            &list,
            json!({"unit": "u3", "title": " ", "severity": "huge", "deadline_days": 0}),
        )
        .await;
    assert_eq!(s, 422, "{v}");
    let fields: Vec<&str> = v["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        ["title", "severity", "deadline_days", "unit"],
        "{v}"
    );
    assert!(app
        .store
        .list_findings(EvaluationId(ev), None)
        .await
        .unwrap()
        .is_empty());

    // a finding by hand: a proposal, invisible to the unit
    let (s, v) = api
        .send(
            "post",
            &eva,
            &list,
            json!({"unit": "u1", "title": "窗口排队时间过长", "evidence": "2026年9月实地检查",
                   "severity": "high", "deadline_days": 3}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let id = v["id"].as_i64().unwrap();
    assert_eq!(v["state"], "proposed");
    let (s, v) = api.get(&u1, &list).await;
    assert_eq!(s, 200);
    assert_eq!(v["findings"].as_array().unwrap().len(), 0, "{v}");

    // no calendar yet: assigning is refused with the reason; an unknown calendar is refused
    let (s, v) = api
        .step(&eva, id, json!({"step": "assign", "from": "2026-09-30"}))
        .await;
    assert_eq!(s, 409, "{v}");
    assert!(msg(&v).contains("calendar"), "{v}");
    let settings = format!("/api/v1/evaluations/{ev}/findings/settings");
    let (s, v) = api
        .send("put", &eva, &settings, json!({"calendar": "atlantis"}))
        .await;
    assert_eq!(s, 422, "{v}");
    assert!(msg(&v).contains("unknown calendar \"atlantis\""), "{v}");
    assert!(app
        .store
        .finding_settings(EvaluationId(ev))
        .await
        .unwrap()
        .is_none());
    let (s, _) = api
        .send("put", &eva, &settings, json!({"calendar": "cn"}))
        .await;
    assert_eq!(s, 200);
    // a unit may not choose the calendar, an evaluator may not publish
    let (s, _) = api
        .send("put", &u1, &settings, json!({"calendar": "cn"}))
        .await;
    assert_eq!(s, 403);
    let (s, _) = api
        .send("put", &eva, &settings, json!({"public": true}))
        .await;
    assert_eq!(s, 403);

    // assigned from Wed 30 Sep 2026 with 3 working days: due Sat 10 Oct (make-up working day)
    let (s, v) = api
        .step(
            &eva,
            id,
            json!({"step": "assign", "from": "2026-09-30", "contact_email": "office@u1.example.cn"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["state"], "assigned");
    assert_eq!(v["due_on"], "2026-10-10");
    assert_eq!(v["calendar"], "cn");
    assert_eq!(v["overdue"], true, "today is after 2026-10-10: {v}");
    // one reminder: the first working day after the deadline (Mon 12 Oct, 09:00 in Beijing);
    // three working days before the deadline is the start day itself, so none before
    let notices = app.store.finding_outbox_rows().await.unwrap();
    let mine: Vec<_> = notices
        .iter()
        .filter(|n| n.finding_id.get() == id)
        .collect();
    assert_eq!(mine.len(), 1, "{notices:?}");
    assert_eq!(mine[0].kind, "finding_overdue");
    assert_eq!(mine[0].next_attempt_at, "2026-10-12T01:00:00.000Z");

    // the role matrix
    let one = format!("/api/v1/findings/{id}");
    assert_eq!(api.get(&u1, &one).await.0, 200);
    assert_eq!(api.get(&u2, &one).await.0, 404, "another unit's finding");
    assert_eq!(api.get(&firm, &one).await.0, 403);
    let (_, v) = api.get(&u2, &list).await;
    assert_eq!(v["findings"].as_array().unwrap().len(), 0);
    assert_eq!(api.get(&firm, &list).await.0, 403);
    let anon = app.client.get(app.url(&one)).send().await.unwrap();
    assert_eq!(anon.status().as_u16(), 401);
    let (s, _) = api
        .multipart(&u2, id, &[("step", "submit_plan")], vec![])
        .await;
    assert_eq!(s, 404, "another unit cannot act on it");
    let (s, v) = api
        .step(
            &eva,
            id,
            json!({"step": "submit_plan", "measures": "x", "person": "y",
                                "start": "2026-10-12", "end": "2026-10-30"}),
        )
        .await;
    assert_eq!(s, 403, "the unit submits, not the evaluator: {v}");

    // the plan, with a PDF
    let plan = [
        ("step", "submit_plan"),
        ("measures", "增设两个窗口，推行预约办理"),
        ("person", "张科长"),
        ("email", "zhang@u1.example.cn"),
        ("start", "2026-10-12"),
        ("end", "2026-10-30"),
    ];
    let (s, v) = api
        .multipart(&u1, id, &plan, vec![("整改方案.pdf", PDF.to_vec())])
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["state"], "plan_submitted");
    assert_eq!(v["files"].as_array().unwrap().len(), 1);
    let file_id = v["files"][0]["id"].as_i64().unwrap();

    // returning needs a comment
    let before = history_len(&app.store, id).await;
    let (s, v) = api.step(&eva, id, json!({"step": "return_plan"})).await;
    assert_eq!(s, 422, "{v}");
    assert!(msg(&v).contains("comment"), "{v}");
    assert_eq!(history_len(&app.store, id).await, before);
    let (s, v) = api
        .step(
            &eva,
            id,
            json!({"step": "return_plan", "comment": "请明确每项措施的完成时间"}),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["state"], "plan_returned");
    let (s, v) = api
        .step(
            &u1,
            id,
            json!({"step": "submit_plan", "measures": "10月20日前增设两个窗口；10月30日前上线预约",
                   "person": "张科长", "start": "2026-10-12", "end": "2026-10-30"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (s, _) = api.step(&eva, id, json!({"step": "accept_plan"})).await;
    assert_eq!(s, 200);

    // completion: a wrong file type and a file too large store nothing
    let files_before = app.store.finding_files(FindingId(id)).await.unwrap().len();
    let before = history_len(&app.store, id).await;
    let done = [
        ("step", "submit_completion"),
        ("report", "两个窗口已开放，预约系统已上线"),
    ];
    let (s, v) = api
        .multipart(
            &u1,
            id,
            &done,
            vec![
                ("照片.png", PNG.to_vec()),
                ("报告.pdf", b"<html><script>x</script>".to_vec()),
            ],
        )
        .await;
    assert_eq!(s, 422, "{v}");
    assert!(msg(&v).contains("报告.pdf"), "{v}");
    let mut big = PDF.to_vec();
    big.resize(10 * 1024 * 1024 + 1, b' ');
    let (s, v) = api
        .multipart(&u1, id, &done, vec![("大文件.pdf", big)])
        .await;
    assert_eq!(s, 413, "{v}");
    assert!(msg(&v).contains("10 MB"), "{v}");
    assert_eq!(
        app.store.finding_files(FindingId(id)).await.unwrap().len(),
        files_before
    );
    assert_eq!(history_len(&app.store, id).await, before);
    let (_, v) = api.get(&u1, &one).await;
    assert_eq!(v["state"], "plan_accepted");
    let (s, v) = api
        .multipart(&u1, id, &done, vec![("现场照片.png", PNG.to_vec())])
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["state"], "completion_submitted");
    let version = v["version"].as_i64().unwrap();

    // a stale version is refused; then verified
    let (s, v) = api
        .step(&eva, id, json!({"step": "verify", "version": version - 1}))
        .await;
    assert_eq!(s, 409, "{v}");
    let (s, v) = api
        .step(
            &eva,
            id,
            json!({"step": "verify", "version": version, "comment": "现场核实"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["state"], "verified");
    assert_eq!(v["on_time"], false, "completed after the due date");
    assert_eq!(v["overdue"], false);

    // a plan after verification: refused, nothing stored
    let before = history_len(&app.store, id).await;
    let (s, v) = api
        .step(
            &u1,
            id,
            json!({"step": "submit_plan", "measures": "m", "person": "p",
                               "start": "2026-12-01", "end": "2026-12-02"}),
        )
        .await;
    assert_eq!(s, 409, "{v}");
    assert!(msg(&v).contains("verified"), "{v}");
    assert_eq!(history_len(&app.store, id).await, before);

    // the history: who did what, in order
    let (_, v) = api.get(&eva, &one).await;
    let actions: Vec<&str> = v["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "created",
            "assign",
            "submit_plan",
            "return_plan",
            "submit_plan",
            "accept_plan",
            "submit_completion",
            "verify"
        ]
    );
    assert_eq!(v["history"][3]["actor"], "eva");
    assert_eq!(v["history"][3]["comment"], "请明确每项措施的完成时间");
    assert_eq!(v["history"][2]["actor"], "u1user");
    assert_eq!(v["history"][2]["actor_role"], "unit");
    // the evaluator's steps are in the audit log as well
    let audit: Vec<String> = app
        .store
        .audit_log(1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.target == format!("finding:{id}"))
        .map(|a| a.action)
        .collect();
    assert_eq!(
        audit,
        [
            "finding.verify",
            "finding.accept_plan",
            "finding.return_plan",
            "finding.assign",
            "finding.created"
        ]
    );

    // evidence files: attachments, never sniffed; another unit gets nothing
    let file = format!("/api/v1/findings/{id}/files/{file_id}");
    let r = app
        .client
        .get(app.url(&file))
        .bearer_auth(&u1)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let h = r.headers().clone();
    assert_eq!(h["content-type"], "application/pdf");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert!(h["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment;"));
    assert_eq!(r.bytes().await.unwrap().as_ref(), PDF);
    for k in [&u2, &firm] {
        let r = app
            .client
            .get(app.url(&file))
            .bearer_auth(k)
            .send()
            .await
            .unwrap();
        assert!(matches!(r.status().as_u16(), 403 | 404), "{}", r.status());
    }

    // the register
    let r = app
        .client
        .get(app.url(&format!("/api/v1/evaluations/{ev}/findings.csv")))
        .bearer_auth(&eva)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let text = r.text().await.unwrap();
    let mut rd = csv::Reader::from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let head = rd.headers().unwrap().clone();
    let rows: Vec<csv::StringRecord> = rd.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 1);
    let col = |k: &str| rows[0][head.iter().position(|h| h == k).unwrap()].to_owned();
    assert_eq!(col("title"), "窗口排队时间过长");
    assert_eq!(col("state"), "verified");
    assert_eq!(col("due_on"), "2026-10-10");
    assert_eq!(col("on_time"), "no");
    assert_eq!(col("files"), "2");
    let r = app
        .client
        .get(app.url(&format!("/api/v1/evaluations/{ev}/findings.xlsx")))
        .bearer_auth(&eva)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let bytes = r.bytes().await.unwrap().to_vec();
    use calamine::Reader;
    let mut wb: calamine::Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(bytes)).unwrap();
    let sheet = wb.worksheet_range("整改台账").unwrap();
    assert_eq!(
        sheet.get_value((2, 5)).map(|c| c.to_string()),
        Some("title".into())
    );
    assert_eq!(
        sheet.get_value((3, 5)).map(|c| c.to_string()),
        Some("窗口排队时间过长".into())
    );
    let hist = wb.worksheet_range("处理记录").unwrap();
    assert_eq!(hist.height(), 2 + 8);
}
crate::both_backends!(findings_loop, the_loop);
