//! The unit register from an empty database: import a tree from CSV and XLSX, update it, the
//! errors of a bad file (duplicate code, unknown parent, cycle, unknown kind) with nothing
//! stored, edit and retire one unit, the page and the `pingyi units import` command.

use pingyi::store::Backend;
use reqwest::Method;

use crate::helpers::{spawn_app, user};
use crate::setup_support::{
    key, pingyi, post_file, post_form, problems, send, send_file, xlsx, REGISTER,
};

async fn register_by_api(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let k = key(&app).await;
    let (st, body) = send_file(
        &app,
        &k,
        Method::POST,
        "/api/v1/units/import",
        REGISTER.as_bytes().to_vec(),
    )
    .await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(
        (body["rows"].as_u64(), body["added"].as_u64()),
        (Some(4), Some(4))
    );
    let (_, list) = send(&app, &k, Method::GET, "/api/v1/units", None).await;
    let parent = |code: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|u| u["code"] == code)
            .unwrap()["parent_code"]
            .clone()
    };
    assert_eq!(parent("jyj-ksy-bgs"), "jyj-ksy");
    assert_eq!(parent("jyj-ksy"), "jyj");
    assert!(parent("gaj").is_null());

    // a bad file: every problem named with its row, column and value; nothing stored
    let bad = "code,name_zh,name_en,kind,parent\n\
        new1,新单位,New,sub_unit,gaj\n\
        gaj,重复,Dup,government_department,\n\
        gaj,再次重复,Dup again,government_department,\n\
        orphan,孤儿,Orphan,sub_unit,nosuch\n\
        cyc-a,甲,A,sub_unit,cyc-b\n\
        cyc-b,乙,B,sub_unit,cyc-a\n\
        odd,怪,Odd,bureau,\n";
    let (st, body) = send_file(
        &app,
        &k,
        Method::POST,
        "/api/v1/units/import",
        bad.as_bytes().to_vec(),
    )
    .await;
    assert_eq!(st, 422, "{body}");
    let p = problems(&body);
    for want in [
        (Some(4), "code", "gaj"),
        (Some(5), "parent", "nosuch"),
        (Some(6), "parent", "cyc-b"),
        (Some(7), "parent", "cyc-a"),
        (Some(8), "kind", "bureau"),
    ] {
        assert!(
            p.contains(&(want.0, want.1.to_owned(), want.2.to_owned())),
            "{want:?} missing from {p:?}"
        );
    }
    assert_eq!(p.len(), 5, "{p:?}");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("nothing was stored"));
    let (_, after) = send(&app, &k, Method::GET, "/api/v1/units", None).await;
    assert_eq!(
        after.as_array().unwrap().len(),
        4,
        "the good row of a bad file is not stored either"
    );
    let gaj = app.store.register_unit("gaj").await.unwrap();
    assert_eq!(gaj.name_zh, "市公安局");

    // a cycle through the stored register: jyj under its own grandchild
    let (st, body) = send_file(
        &app,
        &k,
        Method::POST,
        "/api/v1/units/import",
        "code,name_zh,kind,parent\njyj,市教育局,government_department,jyj-ksy-bgs\n"
            .as_bytes()
            .to_vec(),
    )
    .await;
    assert_eq!(st, 422);
    let msg = body["error"]["details"]["errors"][0]["reason"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(msg.contains("jyj → jyj-ksy-bgs → jyj-ksy → jyj"), "{msg}");

    // the service's own export imports back unchanged; an XLSX update changes one name
    let csv = app
        .client
        .get(app.url("/api/v1/units.csv"))
        .bearer_auth(&k)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let (st, body) = send_file(&app, &k, Method::POST, "/api/v1/units/import", csv.to_vec()).await;
    assert_eq!((st, body["unchanged"].as_u64()), (200, Some(4)), "{body}");
    let book = xlsx(&[
        &["code", "name_zh", "name_en", "kind", "parent"],
        &[
            "gaj",
            "市公安局（改）",
            "Police",
            "government_department",
            "",
        ],
        &["wsj", "市卫生健康委员会", "", "政府工作部门", ""],
    ]);
    let (st, body) = send_file(&app, &k, Method::POST, "/api/v1/units/import", book).await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(
        (body["added"].as_u64(), body["updated"].as_u64()),
        (Some(1), Some(1))
    );
    let wsj = app.store.register_unit("wsj").await.unwrap();
    assert_eq!(
        wsj.name_en, "市卫生健康委员会",
        "an empty English name takes the Chinese one"
    );

    // edit one: an unknown kind is named; then a good edit
    let (st, body) = send(
        &app,
        &k,
        Method::PUT,
        "/api/v1/units/gaj",
        Some(serde_json::json!({"name_zh": "市公安局", "kind": "police"})),
    )
    .await;
    assert_eq!(st, 422);
    assert_eq!(problems(&body)[0].1, "kind");
    let (st, body) = send(&app, &k, Method::PUT, "/api/v1/units/gaj",
        Some(serde_json::json!({"name_zh": "市公安局", "name_en": "Public Security Bureau", "kind": "government_department"}))).await;
    assert_eq!((st, body["name_zh"].as_str()), (200, Some("市公安局")));

    // retire: kept, refused twice, and no longer joins a new evaluation
    let (st, body) = send(
        &app,
        &k,
        Method::POST,
        "/api/v1/units/wsj/retire",
        Some(serde_json::json!({"reason": "机构改革撤并"})),
    )
    .await;
    assert_eq!(st, 200, "{body}");
    assert!(body["retired_on"].is_string());
    let (st, _) = send(&app, &k, Method::POST, "/api/v1/units/wsj/retire", None).await;
    assert_eq!(st, 409);
    let (st, body) = send(
        &app,
        &k,
        Method::POST,
        "/api/v1/evaluations",
        Some(serde_json::json!({
        "series": "city", "year": 2027, "title_zh": "评估", "units": ["gaj", "wsj"]})),
    )
    .await;
    assert_eq!(st, 422);
    assert_eq!(
        problems(&body),
        [(None, "units".to_owned(), "wsj".to_owned())]
    );
    let audit = app
        .store
        .search_audit(&pingyi::store::AuditFilter {
            action: Some("units.retire".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!((audit.len(), audit[0].reason.as_str()), (1, "机构改革撤并"));
}
crate::both_backends!(unit_register_api, register_by_api);

async fn register_page(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let admin = user(&app, "office", "admin", None).await;
    let page = "/admin/units?lang=en";
    let (st, html) = post_file(
        &admin,
        &app,
        page,
        "/admin/units/import?lang=en",
        "units.csv",
        "code,name_zh,kind,parent\na,甲,sub_unit,zzz\na,乙,sub_unit,\n"
            .as_bytes()
            .to_vec(),
    )
    .await;
    assert_eq!(st, 422);
    for s in [
        "Nothing was stored",
        "zzz",
        "unknown parent",
        "duplicate code",
    ] {
        assert!(html.contains(s), "error page lacks {s:?}");
    }
    assert!(app.store.unit_register().await.unwrap().is_empty());
    let (st, html) = post_file(
        &admin,
        &app,
        page,
        "/admin/units/import?lang=en",
        "units.xlsx",
        xlsx(&[
            &["code", "name_zh", "name_en", "kind", "parent"],
            &["gaj", "市公安局", "Police", "government_department", ""],
        ]),
    )
    .await;
    assert_eq!(st, 200);
    assert!(html.contains("Imported") && html.contains("Police"));
    // one unit through the form: the typed values stay, the problem is beside its field
    let (st, html) = post_form(
        &admin,
        &app,
        page,
        "/admin/units?lang=en",
        &[
            ("code", "new unit"),
            ("name_zh", "新单位"),
            ("kind", "sub_unit"),
            ("parent", "gaj"),
        ],
    )
    .await;
    assert_eq!(st, 422);
    assert!(
        html.contains("value=\"new unit\"") && html.contains("value=\"新单位\""),
        "typed values kept"
    );
    assert!(
        html.contains("a unit code is"),
        "the code's problem is shown"
    );
    let (st, _) = post_form(
        &admin,
        &app,
        page,
        "/admin/units?lang=en",
        &[
            ("code", "gaj-x"),
            ("name_zh", "新单位"),
            ("kind", "sub_unit"),
            ("parent", "gaj"),
        ],
    )
    .await;
    assert_eq!(st, 303);
    let (st, _) = post_form(
        &admin,
        &app,
        "/admin/units/gaj-x",
        "/admin/units/gaj-x/retire",
        &[("reason", "撤销")],
    )
    .await;
    assert_eq!(st, 303);
    assert!(app
        .store
        .register_unit("gaj-x")
        .await
        .unwrap()
        .retired_on
        .is_some());
}
crate::both_backends!(unit_register_page, register_page);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn units_import_command_reads_the_exported_register() {
    let Some(app) = spawn_app(Backend::Sqlite).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("register.csv");
    std::fs::write(&file, REGISTER).unwrap();
    let db = app.db.url.clone();
    let (ok, out, err) = pingyi(&["units", "import", file.to_str().unwrap(), "--database", &db]);
    assert!(ok, "{err}");
    assert!(out.contains("4 added"), "{out}");
    // the list command prints the import format; importing it back changes nothing
    let (ok, listed, _) = pingyi(&["units", "list", "--database", &db]);
    assert!(ok);
    std::fs::write(&file, listed).unwrap();
    let (ok, out, err) = pingyi(&["units", "import", file.to_str().unwrap(), "--database", &db]);
    assert!(ok, "{err}");
    assert!(out.contains("0 added, 0 updated, 4 unchanged"), "{out}");
    // a bad file: non-zero exit, the row and column on stderr, nothing stored
    std::fs::write(&file, "code,name_zh,kind,parent\nx,某,sub_unit,nowhere\n").unwrap();
    let (ok, _, err) = pingyi(&["units", "import", file.to_str().unwrap(), "--database", &db]);
    assert!(!ok);
    assert!(err.contains("row 2, parent \"nowhere\""), "{err}");
    assert_eq!(app.store.unit_register().await.unwrap().len(), 4);
}
