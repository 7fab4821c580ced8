//! Public links and invitation tokens, end to end over HTTP.

use std::collections::BTreeMap;

use pingyi::store::{Backend, EvaluationStatus};

use crate::both_backends;
use crate::helpers::{spawn_app_with, TestApp};

/// Value of the hidden input `name` in a rendered form.
pub fn hidden(html: &str, name: &str) -> String {
    let key = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&key)
        .unwrap_or_else(|| panic!("no {name} in form"))
        + key.len();
    html[start..start + html[start..].find('"').unwrap()].to_owned()
}

/// The open 2026 demo evaluation and one of its service-user links.
pub async fn demo_link(app: &TestApp) -> (i64, pingyi::store::Link) {
    pingyi::demo::load(&app.store).await.unwrap();
    let e = app
        .store
        .list_evaluations()
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.status == EvaluationStatus::Open)
        .unwrap();
    let link = app
        .store
        .list_links(Some(e.id))
        .await
        .unwrap()
        .into_iter()
        .find(|l| l.questionnaire_id == "service_user")
        .unwrap();
    (e.id, link)
}

/// Answers every question of `q` validly (first option; numbers at their minimum).
pub fn full_answers(q: &pingyi::questionnaire::Questionnaire) -> Vec<(String, String)> {
    use pingyi::questionnaire::QuestionKind;
    let mut out = Vec::new();
    for question in &q.questions {
        let v = match &question.kind {
            QuestionKind::Likert5(_) => "5".to_owned(),
            QuestionKind::Single { choices } | QuestionKind::Multiple { choices, .. } => {
                choices[0].code.clone()
            }
            QuestionKind::Rating { .. } => "9".to_owned(),
            QuestionKind::Number { min, .. } => format!("{}", min.ceil()),
            QuestionKind::Text { .. } => "请联系我 13912345678，窗口服务很好".to_owned(),
        };
        out.push((format!("a_{}", question.code), v));
    }
    out
}

pub(crate) fn questionnaire(id: &str) -> pingyi::questionnaire::Questionnaire {
    pingyi::questionnaire::builtin()
        .unwrap()
        .into_iter()
        .find(|q| q.id == id)
        .unwrap()
}

pub(crate) async fn post_form(
    app: &TestApp,
    path: &str,
    form_html: &str,
    answers: &[(String, String)],
) -> reqwest::Response {
    let mut body = vec![
        ("_nonce".to_owned(), hidden(form_html, "_nonce")),
        ("_sig".to_owned(), hidden(form_html, "_sig")),
        ("lang".to_owned(), "zh".to_owned()),
        ("website".to_owned(), String::new()),
    ];
    body.extend_from_slice(answers);
    app.client
        .post(app.url(path))
        .form(&body)
        .send()
        .await
        .unwrap()
}

async fn link_flow(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |_| {}).await else {
        return;
    };
    let (eid, link) = demo_link(&app).await;
    let before = app.store.count_responses(eid).await.unwrap();
    let path = format!("/s/{}", link.code);
    let form = app.client.get(app.url(&path)).send().await.unwrap();
    assert_eq!(form.status(), 200);
    let form = form.text().await.unwrap();
    assert!(form.contains("第 1 题 / 共"), "progress shown");
    assert!(!form.contains("<script"), "no JavaScript");

    // wrong form: only the first answer, and an out-of-range one → errors, answers kept
    let q = questionnaire("service_user");
    let likert1 = q.questions.iter().find(|x| x.is_likert()).unwrap();
    let mut partial = vec![(format!("a_{}", likert1.code), "5".to_owned())];
    let likert2 = q.questions.iter().filter(|x| x.is_likert()).nth(1).unwrap();
    partial.push((format!("a_{}", likert2.code), "9".to_owned()));
    let res = post_form(&app, &path, &form, &partial).await;
    assert_eq!(res.status(), 422);
    let page = res.text().await.unwrap();
    assert!(page.contains("role=\"alert\""));
    assert!(
        page.contains("此题为必答题") || page.contains("必答"),
        "required error shown"
    );
    assert!(
        page.contains(&format!("name=\"a_{}\" value=\"5\" checked", likert1.code)),
        "answer kept"
    );
    assert!(
        page.contains(&format!("name=\"a_{}\" value=\"4\">", likert1.code)),
        "other options unchecked"
    );
    assert_eq!(
        app.store.count_responses(eid).await.unwrap(),
        before,
        "nothing stored"
    );

    // fixed → 303 to thanks, stored once
    let answers = full_answers(&q);
    let res = post_form(&app, &path, &page, &answers).await;
    assert_eq!(res.status(), 303);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(&format!("/s/{}/thanks", link.code)));
    let thanks = app
        .client
        .get(app.url(&location))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(thanks.contains("感谢"));
    assert_eq!(app.store.count_responses(eid).await.unwrap(), before + 1);

    // replay of the same form (double click) → still one
    let res = post_form(&app, &path, &page, &answers).await;
    assert_eq!(res.status(), 303);
    assert_eq!(app.store.count_responses(eid).await.unwrap(), before + 1);

    // the free text was scrubbed before storage
    let all = app.store.responses(eid).await.unwrap();
    assert!(all.iter().all(|r| !r.answers.contains("13912345678")));
    assert!(all.iter().any(|r| r.answers.contains("[已隐藏]")));

    // a forged signature is refused
    let mut forged = answers.clone();
    forged.push(("_nonce".into(), "0".repeat(32)));
    forged.push(("_sig".into(), "00".into()));
    let res = app
        .client
        .post(app.url(&path))
        .form(&forged)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);

    // honeypot filled → thanks, nothing stored
    let fresh = app
        .client
        .get(app.url(&path))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut bot = answers.clone();
    bot.push(("website".into(), "http://spam".into()));
    let res = post_form(&app, &path, &fresh, &bot).await;
    assert_eq!(res.status(), 303);
    assert_eq!(app.store.count_responses(eid).await.unwrap(), before + 1);

    // English switch
    let en = app
        .client
        .get(app.url(&format!("{path}?lang=en")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(en.contains("Question 1 of"));

    // QR codes
    let svg = app
        .client
        .get(app.url(&format!("{path}/qr.svg")))
        .send()
        .await
        .unwrap();
    assert_eq!(svg.headers()["content-type"], "image/svg+xml");
    let svg = svg.bytes().await.unwrap();
    let png = app
        .client
        .get(app.url(&format!("{path}/qr.png")))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(&png[..4], b"\x89PNG");
    // both images decode back to the link's address
    if let Some(url) = crate::helpers::decode_qr(&png, "png") {
        assert_eq!(url, app.url(&path), "the PNG QR code encodes the link");
    }
    if let Some(url) = crate::helpers::decode_qr(&svg, "svg") {
        assert_eq!(url, app.url(&path), "the SVG QR code encodes the link");
    }

    // closing the link
    app.store
        .set_link_status(&link.code, false, "tester")
        .await
        .unwrap();
    let closed = app.client.get(app.url(&path)).send().await.unwrap();
    assert_eq!(closed.status(), 410);
    assert!(closed.text().await.unwrap().contains("已关闭"));
    let res = post_form(&app, &path, &fresh, &answers).await;
    assert_eq!(res.status(), 410);
    assert_eq!(app.store.count_responses(eid).await.unwrap(), before + 1);
}
both_backends!(public_link, link_flow);

async fn token_single_use_and_unlinkable(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |_| {}).await else {
        return;
    };
    let (eid, link) = demo_link(&app).await;
    let q = questionnaire("staff");
    let token = pingyi::collect::new_token();
    let hash = pingyi::collect::sha256_hex(&token);
    let expires = chrono::NaiveDate::from_ymd_opt(2099, 12, 31).unwrap();
    app.store
        .create_tokens(
            std::slice::from_ref(&hash),
            eid,
            link.unit_id,
            &q.id,
            i64::from(q.version),
            expires,
        )
        .await
        .unwrap();
    let audit_before = app.store.audit_log(1000).await.unwrap().len();
    // the demo's draws issued (and used) tokens of their own
    let (issued, used) = app.store.token_counts(eid).await.unwrap();
    let before = count_values(&app.store.dump_all_text().await.unwrap());
    let ids_before: Vec<i64> = app
        .store
        .responses(eid)
        .await
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();

    let path = format!("/t/{token}");
    let form = app
        .client
        .get(app.url(&path))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let res = post_form(&app, &path, &form, &full_answers(&q)).await;
    assert_eq!(res.status(), 303);

    // reuse refused (a fresh form from the same token, and a replay)
    let again = app.client.get(app.url(&path)).send().await.unwrap();
    assert_eq!(again.status(), 410);
    let res = post_form(&app, &path, &form, &full_answers(&q)).await;
    assert_eq!(
        res.status(),
        410,
        "a replay of the same form finds the invitation used"
    );
    assert!(res.text().await.unwrap().contains("已使用"));
    assert_eq!(
        app.store.token_counts(eid).await.unwrap(),
        (issued, used + 1)
    );

    // Unlinkability: inspect every column of every table.
    let dump = app.store.dump_all_text().await.unwrap();
    let new_response = app
        .store
        .responses(eid)
        .await
        .unwrap()
        .into_iter()
        .find(|r| !ids_before.contains(&r.id))
        .unwrap();
    assert_eq!(new_response.source, "token");
    for (table, column, value) in &dump {
        assert!(!value.contains(&token), "{table}.{column} holds the token");
        if value.contains(&hash) {
            assert_eq!(
                (table.as_str(), column.as_str()),
                ("tokens", "token_hash"),
                "token hash only in tokens"
            );
        }
        if table != "responses" {
            assert!(
                !value.contains(&new_response.id.to_string()) || value.len() > 40,
                "{table}.{column} mentions the response id: {value}"
            );
        }
        if table == "responses" || table == "tokens" || table == "used_nonces" {
            assert!(
                !has_time_of_day(value),
                "{table}.{column} holds a time of day: {value}"
            );
        }
    }
    // What changed: one response, one nonce, the token's `used`; nothing else, no audit entry.
    let after = count_values(&dump);
    let mut changed: Vec<(String, String)> = after
        .iter()
        .filter(|(k, n)| before.get(*k) != Some(*n))
        .map(|(k, _)| k.clone())
        .chain(before.keys().filter(|k| !after.contains_key(*k)).cloned())
        .collect();
    changed.sort();
    changed.dedup();
    let tables: std::collections::BTreeSet<&str> =
        changed.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        tables.into_iter().collect::<Vec<_>>(),
        vec!["evaluations", "responses", "tokens", "used_nonces"],
        "changes: {changed:?}"
    );
    assert!(changed.contains(&("tokens".into(), "used".into())));
    assert!(
        !changed.iter().any(|(t, c)| t == "tokens" && c != "used"),
        "{changed:?}"
    );
    assert_eq!(app.store.audit_log(1000).await.unwrap().len(), audit_before);
    // The response columns are only these: none can point at a token or a time of use.
    let allowed = [
        "age_group",
        "answers",
        "batch_id",
        // a drawn invitee's draw and stratum (never the invitation, token or person)
        "design_draw_id",
        "design_stratum",
        "district",
        "duration_seconds",
        "evaluation_id",
        "flags",
        "gender",
        "id",
        "questionnaire_id",
        "questionnaire_version",
        "respondent_type",
        "row_hash",
        "source",
        "submitted_on",
        "unit_id",
        "weight",
    ];
    for (t, c, _) in &dump {
        if t == "responses" {
            assert!(
                allowed.contains(&c.as_str()),
                "unexpected response column {c}"
            );
        }
    }
}
both_backends!(token, token_single_use_and_unlinkable);

/// Column → its values, sorted: a column "changed" when this list differs.
fn count_values(dump: &[(String, String, String)]) -> BTreeMap<(String, String), Vec<String>> {
    let mut m: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for (t, c, v) in dump {
        m.entry((t.clone(), c.clone())).or_default().push(v.clone());
    }
    for v in m.values_mut() {
        v.sort();
    }
    m
}

fn has_time_of_day(v: &str) -> bool {
    let b = v.as_bytes();
    b.windows(5).any(|w| {
        w[0].is_ascii_digit()
            && w[1].is_ascii_digit()
            && w[2] == b':'
            && w[3].is_ascii_digit()
            && w[4].is_ascii_digit()
    })
}

async fn concurrent_submissions_each_stored_once(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |s| s.submit_rate_per_minute = 0).await else {
        return;
    };
    let (eid, link) = demo_link(&app).await;
    let before = app.store.count_responses(eid).await.unwrap();
    let q = questionnaire("service_user");
    let answers = full_answers(&q);
    let path = format!("/s/{}", link.code);
    let mut forms = Vec::new();
    for _ in 0..200 {
        forms.push(
            app.client
                .get(app.url(&path))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap(),
        );
    }
    let mut tasks = Vec::new();
    for form in forms {
        let client = app.client.clone();
        let url = app.url(&path);
        let mut body = vec![
            ("_nonce".to_owned(), hidden(&form, "_nonce")),
            ("_sig".to_owned(), hidden(&form, "_sig")),
        ];
        body.extend(answers.iter().cloned());
        tasks.push(tokio::spawn(async move {
            // each form is sent twice (double click): must still be stored once
            let a = client.post(&url).form(&body).send().await.unwrap().status();
            let b = client.post(&url).form(&body).send().await.unwrap().status();
            (a, b)
        }));
    }
    for t in tasks {
        let (a, b) = t.await.unwrap();
        assert_eq!(a, 303);
        assert_eq!(b, 303);
    }
    assert_eq!(app.store.count_responses(eid).await.unwrap(), before + 200);
}
both_backends!(concurrent, concurrent_submissions_each_stored_once);

async fn rate_limited(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |s| s.submit_rate_per_minute = 2).await else {
        return;
    };
    let (_, link) = demo_link(&app).await;
    let path = format!("/s/{}", link.code);
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let form = app
            .client
            .get(app.url(&path))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        statuses.push(post_form(&app, &path, &form, &[]).await.status().as_u16());
    }
    assert_eq!(statuses, vec![422, 422, 429]);
}
both_backends!(rate_limit, rate_limited);

async fn questionnaires_api(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |_| {}).await else {
        return;
    };
    let list: serde_json::Value = app
        .client
        .get(app.url("/api/v1/questionnaires"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 6, "one per respondent type");
    for rt in [
        "leader",
        "staff",
        "service_user",
        "peer_department",
        "regulator",
        "resident",
    ] {
        assert!(list.iter().any(|q| q["respondent_type"] == rt), "{rt}");
    }
    let href = list[0]["href"].as_str().unwrap();
    let one: serde_json::Value = app
        .client
        .get(app.url(href))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(one["questions"].as_array().unwrap().len() >= 8);
    assert_eq!(one["id"], list[0]["id"]);
    let missing = app
        .client
        .get(app.url("/api/v1/questionnaires/nope/1"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let bad = app
        .client
        .get(app.url("/api/v1/questionnaires/staff/x"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert_eq!(
        bad.json::<serde_json::Value>().await.unwrap()["error"]["code"],
        "bad_request"
    );
}
both_backends!(questionnaire_json, questionnaires_api);
