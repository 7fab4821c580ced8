//! The store contract: the same assertions on SQLite and PostgreSQL.

use pingyi::store::{
    Backend, EvaluationStatus, NewEvaluation, NewResponse, NewUnit, ResponseSource, StoreError,
    UnitKind,
};

use crate::both_backends;
use crate::helpers::TestDb;

fn new_eval(year: i64) -> NewEvaluation {
    NewEvaluation {
        series: "city".into(),
        year,
        wave: String::new(),
        title_zh: format!("{year}年度评议"),
        title_en: format!("{year} evaluation"),
        status: EvaluationStatus::Open,
    }
}

async fn evaluations_roundtrip(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let s = db.store().await;
    let a = s.create_evaluation(&new_eval(2025)).await.unwrap();
    let b = s.create_evaluation(&new_eval(2026)).await.unwrap();
    assert_ne!(a.id, b.id);
    assert_eq!(a.status, EvaluationStatus::Open);
    assert_eq!(a.data_version, 0);
    let dup = s.create_evaluation(&new_eval(2025)).await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
    let all = s.list_evaluations().await.unwrap();
    assert_eq!(
        all.iter().map(|e| e.year).collect::<Vec<_>>(),
        vec![2026, 2025]
    );
    s.set_evaluation_status(a.id, EvaluationStatus::Published, "tester")
        .await
        .unwrap();
    assert_eq!(
        s.get_evaluation(a.id).await.unwrap().status,
        EvaluationStatus::Published
    );
    assert!(matches!(
        s.get_evaluation(999_999).await,
        Err(StoreError::NotFound(_))
    ));
    let audit = s.audit_log(10).await.unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].actor, "tester");
    assert_eq!(audit[0].action, "evaluation.status");
    assert!(audit[0].detail.contains("published"));
}
both_backends!(evaluations, evaluations_roundtrip);

async fn units_form_a_tree(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let s = db.store().await;
    let parent = s
        .upsert_unit(&NewUnit {
            code: "jyj".into(),
            name_zh: "市教育局".into(),
            name_en: "Education Bureau".into(),
            kind: UnitKind::GovernmentDepartment,
            parent_code: None,
        })
        .await
        .unwrap();
    let child = s
        .upsert_unit(&NewUnit {
            code: "jyj-ksy".into(),
            name_zh: "市教育考试院".into(),
            name_en: "Examinations Authority".into(),
            kind: UnitKind::SubUnit,
            parent_code: Some("jyj".into()),
        })
        .await
        .unwrap();
    assert_eq!(child.parent_id, Some(parent.id));
    // upsert renames, keeps the id
    let renamed = s
        .upsert_unit(&NewUnit {
            code: "jyj".into(),
            name_zh: "市教育局（新）".into(),
            name_en: "Education Bureau (new)".into(),
            kind: UnitKind::GovernmentDepartment,
            parent_code: None,
        })
        .await
        .unwrap();
    assert_eq!(renamed.id, parent.id);
    assert_eq!(
        s.get_unit_by_code("jyj").await.unwrap().name_zh,
        "市教育局（新）"
    );
    let missing_parent = s
        .upsert_unit(&NewUnit {
            code: "x".into(),
            name_zh: "x".into(),
            name_en: "x".into(),
            kind: UnitKind::InternalDivision,
            parent_code: Some("nope".into()),
        })
        .await;
    assert!(matches!(missing_parent, Err(StoreError::NotFound(_))));
    let e = s.create_evaluation(&new_eval(2026)).await.unwrap();
    s.add_unit_to_evaluation(e.id, child.id).await.unwrap();
    s.add_unit_to_evaluation(e.id, child.id).await.unwrap();
    let units = s.evaluation_units(e.id).await.unwrap();
    assert_eq!(units.len(), 1);
    assert_eq!(units[0].kind, UnitKind::SubUnit);
}
both_backends!(units, units_form_a_tree);

async fn responses_all_or_nothing_and_versioned(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let s = db.store().await;
    let all = pingyi::questionnaire::builtin().unwrap();
    let q = &all[0];
    s.upsert_questionnaire(&pingyi::library::to_stored(q).unwrap())
        .await
        .unwrap();
    let e = s.create_evaluation(&new_eval(2026)).await.unwrap();
    let u = s
        .upsert_unit(&NewUnit {
            code: "u1".into(),
            name_zh: "单位一".into(),
            name_en: "Unit one".into(),
            kind: UnitKind::GovernmentDepartment,
            parent_code: None,
        })
        .await
        .unwrap();
    let row = |unit_id| NewResponse {
        evaluation_id: e.id,
        unit_id,
        respondent_type: q.respondent_type,
        questionnaire_id: q.id.clone(),
        questionnaire_version: i64::from(q.version),
        source: ResponseSource::Link,
        submitted_on: chrono::NaiveDate::from_ymd_opt(2026, 5, 1).unwrap(),
        answers: "{}".into(),
    };
    assert_eq!(
        s.insert_responses(&[row(u.id), row(u.id)]).await.unwrap(),
        2
    );
    assert_eq!(s.get_evaluation(e.id).await.unwrap().data_version, 1);
    // one bad row (unknown unit) → nothing of the batch is stored
    let bad = s.insert_responses(&[row(u.id), row(987_654)]).await;
    assert!(bad.is_err());
    assert_eq!(s.count_responses(e.id).await.unwrap(), 2);
    assert_eq!(s.get_evaluation(e.id).await.unwrap().data_version, 1);
    let rows = s.responses(e.id).await.unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows
        .iter()
        .all(|r| r.submitted_on == "2026-05-01" && r.id > 0));

    // a version with responses is immutable
    let mut changed = pingyi::library::to_stored(q).unwrap();
    changed.content_hash = "different".into();
    let refused = s.upsert_questionnaire(&changed).await;
    match refused {
        Err(StoreError::Conflict(m)) => assert!(m.contains("new version"), "{m}"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    // the same content again is fine
    s.upsert_questionnaire(&pingyi::library::to_stored(q).unwrap())
        .await
        .unwrap();
}
both_backends!(responses, responses_all_or_nothing_and_versioned);

async fn meta_claim_is_once(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let s = db.store().await;
    assert!(s.meta_claim("k", "v1").await.unwrap());
    assert!(!s.meta_claim("k", "v2").await.unwrap());
    assert_eq!(s.meta_get("k").await.unwrap().as_deref(), Some("v1"));
    assert_eq!(s.meta_get("absent").await.unwrap(), None);
}
both_backends!(meta, meta_claim_is_once);

/// The parents of a response must exist, and a parent in use cannot be deleted, on both
/// backends (PostgreSQL checks them per statement since migration 0009, SQLite per row).
async fn response_parents_are_enforced(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let s = db.store().await;
    let q = &pingyi::questionnaire::builtin().unwrap()[0];
    s.upsert_questionnaire(&pingyi::library::to_stored(q).unwrap())
        .await
        .unwrap();
    let e = s.create_evaluation(&new_eval(2026)).await.unwrap();
    let unit = |code: &str| NewUnit {
        code: code.into(),
        name_zh: "单位".into(),
        name_en: "Unit".into(),
        kind: UnitKind::GovernmentDepartment,
        parent_code: None,
    };
    let used = s.upsert_unit(&unit("used")).await.unwrap();
    let unused = s.upsert_unit(&unit("unused")).await.unwrap();
    let (rt, qid, qv) = (q.respondent_type.as_str(), q.id.clone(), q.version);
    let insert = |id: i64, unit: i64, rt: &str, qv: u32, batch: &str| {
        format!(
            "INSERT INTO responses (id, evaluation_id, unit_id, respondent_type, questionnaire_id, \
             questionnaire_version, source, submitted_on, answers, batch_id) \
             VALUES ({id}, {}, {unit}, '{rt}', '{qid}', {qv}, 'link', '2026-05-01', '{{}}', {batch})",
            e.id
        )
    };
    s.execute_admin(&insert(1, used.id, rt, qv, "NULL"))
        .await
        .unwrap();
    for (what, sql) in [
        ("unit", insert(2, 987_654, rt, qv, "NULL")),
        ("respondent type", insert(3, used.id, "nobody", qv, "NULL")),
        (
            "questionnaire version",
            insert(4, used.id, rt, qv + 50, "NULL"),
        ),
        ("upload batch", insert(5, used.id, rt, qv, "424242")),
        (
            "evaluation (update)",
            "UPDATE responses SET evaluation_id = 999999".into(),
        ),
    ] {
        let r = s.execute_admin(&sql).await;
        assert!(r.is_err(), "a response with an unknown {what} was accepted");
    }
    assert_eq!(s.count_responses(e.id).await.unwrap(), 1);
    for sql in [
        format!("DELETE FROM units WHERE id = {}", used.id),
        format!("DELETE FROM evaluations WHERE id = {}", e.id),
        format!("DELETE FROM respondent_types WHERE code = '{rt}'"),
        format!("DELETE FROM questionnaires WHERE id = '{qid}'"),
    ] {
        assert!(
            s.execute_admin(&sql).await.is_err(),
            "deleted a parent still in use: {sql}"
        );
    }
    // a parent no response uses can go; a flag update passes the checks
    s.execute_admin(&format!("DELETE FROM units WHERE id = {}", unused.id))
        .await
        .unwrap();
    s.execute_admin("UPDATE responses SET flags = 'speeder'")
        .await
        .unwrap();
    assert_eq!(s.count_responses(e.id).await.unwrap(), 1);
}
both_backends!(response_parents, response_parents_are_enforced);

/// Domain enums stored as text are read back as the enum; a stored value the enum does not
/// know fails the read with an error naming the column and the value, not a panic.
async fn stored_enums_read_back_or_fail_clearly(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let s = db.store().await;
    let q = &pingyi::questionnaire::builtin().unwrap()[0];
    s.upsert_questionnaire(&pingyi::library::to_stored(q).unwrap())
        .await
        .unwrap();
    let listed = s.list_questionnaires().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].respondent_type, q.respondent_type);
    // a respondent type the lookup table knows but the product does not
    s.execute_admin(
        "INSERT INTO respondent_types (code, name_zh, name_en, ord) \
         VALUES ('visitor', '访客', 'Visitor', 99)",
    )
    .await
    .unwrap();
    s.execute_admin(&format!(
        "UPDATE questionnaires SET respondent_type = 'visitor' WHERE id = '{}'",
        q.id
    ))
    .await
    .unwrap();
    let err = s.list_questionnaires().await.unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, StoreError::Database(_)), "{err:?}");
    assert!(
        msg.contains("respondent_type") && msg.contains("\"visitor\""),
        "the error names neither the column nor the value: {msg}"
    );
}
both_backends!(stored_enums, stored_enums_read_back_or_fail_clearly);

/// An in-memory SQLite database is refused with the URL named: bulk uploads and reads open
/// their own connections to the database file.
#[tokio::test]
async fn in_memory_sqlite_is_refused() {
    for url in ["sqlite::memory:", "sqlite://file:x?mode=memory"] {
        let r = pingyi::store::Store::connect(url, &pingyi::store::StoreOptions::default()).await;
        match r {
            Err(StoreError::UnsupportedUrl(u)) => assert_eq!(u, url),
            other => panic!("{url}: expected UnsupportedUrl, got {other:?}"),
        }
    }
}
