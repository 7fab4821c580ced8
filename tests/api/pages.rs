//! Pages people act on: the two rankings kept apart on the results and public pages (with the
//! public page's line of facts), the unit report never naming a group below the threshold and
//! merging identical suggestions, CSV downloads for people with a byte order mark, and the
//! citizen's form (error summary with links, the 大字 switch keeping answers, conditional
//! questions in words).

use pingyi::store::{Backend, EvaluationStatus, NewEvaluation, NewResponse, ResponseSource};

use crate::helpers::{evaluator_key, spawn_app, user, TestApp};

async fn page(c: &reqwest::Client, url: &str) -> String {
    let r = c.get(url).send().await.expect("request");
    assert_eq!(r.status(), 200, "GET {url}");
    r.text().await.expect("body")
}

/// The html from `marker` to the end of its card (the next `<div class="card"`).
fn section<'a>(html: &'a str, marker: &str) -> &'a str {
    let from = html.find(marker).unwrap_or_else(|| panic!("no {marker:?}"));
    let rest = &html[from + marker.len()..];
    let end = rest.find("<div class=\"card").unwrap_or(rest.len());
    &html[from..from + marker.len() + end]
}

/// Text of the cells of each body row of the first table in `html`.
fn rows(html: &str) -> Vec<Vec<String>> {
    let body = html.split("<tbody>").nth(1).unwrap_or_default();
    let body = body.split("</tbody>").next().unwrap_or_default();
    body.split("<tr>")
        .skip(1)
        .map(|r| {
            r.split("<td")
                .skip(1)
                .map(|c| {
                    let c = c.split("</td>").next().unwrap_or_default();
                    let mut out = String::new();
                    let mut tag = true; // the rest of the opening tag
                    for ch in c.chars() {
                        match ch {
                            '<' => tag = true,
                            '>' => tag = false,
                            _ if !tag => out.push(ch),
                            _ => {}
                        }
                    }
                    out.trim().to_owned()
                })
                .collect()
        })
        .collect()
}

async fn demo(backend: Backend) -> Option<(TestApp, i64, i64)> {
    let app = spawn_app(backend).await?;
    pingyi::demo::load(&app.store).await.expect("demo");
    let evs = app.store.list_evaluations().await.expect("evaluations");
    let published = evs.iter().find(|e| e.year == 2025).expect("2025").id;
    let open = evs.iter().find(|e| e.year == 2026).expect("2026").id;
    Some((app, published, open))
}

/// (unit code → (total, grade, rank)) from the scores API.
async fn api_scores(
    app: &TestApp,
    key: &str,
    id: i64,
) -> std::collections::HashMap<String, (f64, String, u64)> {
    let v: serde_json::Value = app
        .client
        .get(app.url(&format!("/api/v1/evaluations/{id}/scores")))
        .bearer_auth(key)
        .send()
        .await
        .expect("scores")
        .json()
        .await
        .expect("json");
    v["units"]
        .as_array()
        .unwrap_or_else(|| panic!("scores: {v}"))
        .iter()
        .map(|u| {
            (
                u["unit"].as_str().expect("unit").to_owned(),
                (
                    u["total"].as_f64().expect("total"),
                    u["grade"].as_str().expect("grade").to_owned(),
                    u["rank"].as_u64().expect("rank"),
                ),
            )
        })
        .collect()
}

async fn rankings_apart(backend: Backend) {
    let Some((app, published, open)) = demo(backend).await else {
        return;
    };
    let key = evaluator_key(&app).await;
    let admin = user(&app, "ranks-admin", "admin", None).await;
    let units = app.store.evaluation_units(open).await.expect("units");
    let name = |code: &str| {
        units
            .iter()
            .find(|u| u.code == code)
            .map(|u| u.name_zh.clone())
            .expect("unit")
    };
    for (id, html) in [
        (
            open,
            page(
                &admin,
                &app.url(&format!("/admin/evaluations/{open}/results")),
            )
            .await,
        ),
        (
            published,
            page(
                &app.client,
                &app.url(&format!("/public/evaluations/{published}")),
            )
            .await,
        ),
    ] {
        let scores = api_scores(&app, &key, id).await;
        // the framework ranking: in the order of the composite rank, each row its own rank,
        // score (one decimal) and grade
        let fw = section(&html, "id=\"framework\"");
        assert!(fw.contains("综合评价排名与等次"), "{fw}");
        let fw_rows = rows(fw);
        assert_eq!(fw_rows.len(), scores.len(), "{fw_rows:?}");
        let mut last_rank = 0;
        for r in &fw_rows {
            let code = scores
                .iter()
                .find(|(c, _)| name(c) == r[1])
                .map(|(c, _)| c.clone())
                .unwrap_or_else(|| panic!("row {r:?} names no unit"));
            let (total, grade, rank) = &scores[&code];
            assert_eq!(r[0], rank.to_string(), "{r:?}");
            assert!(r[2].starts_with(&format!("{total:.1} /")), "{r:?} {total}");
            assert!(r[3].starts_with(grade.as_str()), "{r:?} {grade}");
            assert!(*rank >= last_rank, "ordered by composite rank: {fw_rows:?}");
            last_rank = *rank;
        }
        // the satisfaction ranking: index and interval, no grade anywhere in it
        let sat = section(&html, "id=\"satisfaction\"");
        assert!(sat.contains("满意度排名") && sat.contains("不对应等次"));
        assert!(
            !sat.contains("class=\"grade\""),
            "no grade beside the index"
        );
        let sat_rows = rows(sat);
        let indexes: Vec<f64> = sat_rows
            .iter()
            .filter_map(|r| r.get(2).and_then(|x| x.parse::<f64>().ok()))
            .collect();
        assert!(indexes.len() >= 2, "{sat_rows:?}");
        assert!(
            indexes.windows(2).all(|w| w[0] >= w[1]),
            "ordered by index: {indexes:?}"
        );
        for r in sat_rows.iter().filter(|r| r.len() > 3) {
            assert!(r[3].contains('–'), "interval in its row: {r:?}");
        }
        // a zoomed axis with whole ticks says so
        assert!(
            sat.contains("横轴：满意度指数（0–100 分）"),
            "axis title on the chart"
        );
    }

    // the public page: one line of facts
    let html = page(
        &app.client,
        &app.url(&format!("/public/evaluations/{published}")),
    )
    .await;
    let facts = html
        .split("id=\"facts\"")
        .nth(1)
        .and_then(|s| s.split("</p>").next())
        .expect("facts line");
    for word in ["公示日期", "调查期", "有效样本", "方法"] {
        assert!(facts.contains(word), "facts line lacks {word}: {facts}");
    }
    let all: serde_json::Value = app
        .client
        .get(app.url(&format!(
            "/api/v1/evaluations/{published}/satisfaction?by=year"
        )))
        .bearer_auth(&key)
        .send()
        .await
        .expect("api")
        .json()
        .await
        .expect("json");
    let n = all["rows"][0]["n"].as_u64().expect("n");
    let grouped = {
        let s = n.to_string();
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            if i > 0 && (s.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        out
    };
    assert!(
        facts.contains(&format!("<strong>{grouped}</strong>")),
        "sample size {grouped} in {facts}"
    );
    let en = page(
        &app.client,
        &app.url(&format!("/public/evaluations/{published}?lang=en")),
    )
    .await;
    assert!(en.contains("Framework ranking and grades") && en.contains("Satisfaction ranking"));
    assert!(en.contains("survey period") && en.contains("valid responses"));
}
crate::both_backends!(framework_and_satisfaction_rankings_apart, rankings_apart);

fn answers_of(q: &pingyi::questionnaire::Questionnaire, text: Option<&str>) -> String {
    let mut m: serde_json::Map<String, serde_json::Value> = q
        .likert_questions()
        .map(|lq| (lq.code.clone(), serde_json::json!(4)))
        .collect();
    if let Some(t) = text {
        m.insert("suggestions".into(), serde_json::json!(t));
    }
    serde_json::Value::Object(m).to_string()
}

async fn report_privacy(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    pingyi::demo::load(&app.store).await.expect("demo");
    let ev = app
        .store
        .create_evaluation(&NewEvaluation {
            series: "privacy".into(),
            year: 2026,
            wave: String::new(),
            title_zh: "意见建议测试".into(),
            title_en: "Suggestions test".into(),
            status: EvaluationStatus::Open,
        })
        .await
        .expect("evaluation");
    let qs = pingyi::questionnaire::builtin().expect("questionnaires");
    let q = |id: &str| qs.iter().find(|q| q.id == id).expect("questionnaire");
    let fgw = app.store.get_unit_by_code("fgw").await.expect("fgw");
    app.store
        .add_unit_to_evaluation(ev.id, fgw.id)
        .await
        .expect("unit");
    let mut rows = Vec::new();
    let mut push = |qid: &str, text: Option<&str>| {
        let qq = q(qid);
        rows.push(NewResponse {
            evaluation_id: ev.id,
            unit_id: fgw.id,
            respondent_type: qq.respondent_type,
            questionnaire_id: qq.id.clone(),
            questionnaire_version: i64::from(qq.version),
            source: ResponseSource::Link,
            submitted_on: chrono::NaiveDate::from_ymd_opt(2026, 11, 20).expect("date"),
            answers: answers_of(qq, text),
        });
    };
    // residents: 30, three of them with the same suggestion, one with another
    for i in 0..30 {
        let text = match i {
            0..=2 => Some("窗口工作人员态度很好"),
            3 => Some("办事流程太繁琐，希望简化"),
            _ => None,
        };
        push("resident", text);
    }
    // service users: 20 (so that hiding the small group does not also hide the residents)
    for _ in 0..20 {
        push("service_user", None);
    }
    // regulators: 2, below the threshold of 5; one suggests something
    push("regulator", Some("执法检查时请提前告知"));
    push("regulator", None);
    app.store.insert_responses(&rows).await.expect("insert");

    let admin = user(&app, "privacy-admin", "admin", None).await;
    let html = page(
        &admin,
        &app.url(&format!("/admin/evaluations/{}/units/fgw/report", ev.id)),
    )
    .await;
    assert!(
        !html.contains("监管部门"),
        "a group below the threshold is never named in the report"
    );
    let sug = section(&html, "<h2>意见建议</h2>");
    // the identical suggestion once, with its count, under 服务态度; named with its group
    assert_eq!(sug.matches("窗口工作人员态度很好").count(), 1, "{sug}");
    let attitude = sug
        .split("<h3>")
        .find(|h| h.starts_with("服务态度"))
        .unwrap_or_else(|| panic!("a 服务态度 group: {sug}"));
    assert!(
        attitude.contains("窗口工作人员态度很好") && attitude.contains("× 3"),
        "{attitude}"
    );
    assert!(attitude.contains("— 普通居民"), "{attitude}");
    assert!(
        attitude.starts_with("服务态度 (3)"),
        "the group counts every suggestion: {attitude}"
    );
    let efficiency = sug
        .split("<h3>")
        .find(|h| h.starts_with("办事效率"))
        .unwrap_or_else(|| panic!("a 办事效率 group: {sug}"));
    assert!(efficiency.contains("办事流程太繁琐") && !efficiency.contains("态度很好"));
    // the small group's suggestion is shown, unnamed
    let small = sug
        .split("执法检查时请提前告知")
        .nth(1)
        .and_then(|s| s.split("</p>").next())
        .expect("the regulator's suggestion is shown");
    assert!(!small.contains("—"), "shown without its group: {small}");
    let en = page(
        &admin,
        &app.url(&format!(
            "/admin/evaluations/{}/units/fgw/report?lang=en",
            ev.id
        )),
    )
    .await;
    assert!(
        !en.contains("Regulator") && !en.contains("regulator"),
        "not named in English either"
    );
    // print: confidentiality mark and page numbers in the page's print rules
    assert!(html.contains("内部资料 · 注意保密") && html.contains("counter(page)"));
    assert!(html.contains("打印日期"));
}
crate::both_backends!(unit_report_privacy_and_merged_suggestions, report_privacy);

async fn csv_bom(backend: Backend) {
    let Some((app, _published, open)) = demo(backend).await else {
        return;
    };
    let key = evaluator_key(&app).await;
    let get = |path: String| {
        let app = &app;
        let key = key.clone();
        async move {
            let r = app
                .client
                .get(app.url(&path))
                .bearer_auth(key)
                .send()
                .await
                .expect("request");
            assert_eq!(r.status(), 200, "{path}");
            r.bytes().await.expect("body").to_vec()
        }
    };
    const BOM: &[u8] = b"\xEF\xBB\xBF";
    for path in [
        format!("/api/v1/evaluations/{open}/responses.csv"),
        format!("/api/v1/evaluations/{open}/satisfaction.csv?by=unit"),
    ] {
        let plain = get(path.clone()).await;
        assert!(!plain.starts_with(BOM), "{path}: machines get plain UTF-8");
        let sep = if path.contains('?') { '&' } else { '?' };
        let people = get(format!("{path}{sep}bom=1")).await;
        assert!(people.starts_with(BOM), "{path}?bom=1 starts with a BOM");
        assert_eq!(
            &people[3..],
            &plain[..],
            "{path}: the same CSV after the BOM"
        );
    }
    // the import-format files (register, plan) carry one always, as the upload error report
    for path in [
        "/api/v1/units.csv".to_owned(),
        format!("/api/v1/evaluations/{open}/plan.csv"),
    ] {
        assert!(get(path.clone()).await.starts_with(BOM), "{path}");
    }
    // the pages link the people's version
    let admin = user(&app, "bom-admin", "admin", None).await;
    let overview = page(&admin, &app.url(&format!("/admin/evaluations/{open}"))).await;
    assert!(overview.contains("/responses.csv?bom=1"));
    assert!(overview.contains("satisfaction.csv?by=unit,respondent_type,dimension&amp;bom=1"));
}
crate::both_backends!(csv_for_people_has_a_bom, csv_bom);

async fn citizen_form(backend: Backend) {
    let Some(app) = crate::helpers::spawn_app_with(backend, |_| {}).await else {
        return;
    };
    let (eid, link) = crate::survey::demo_link(&app).await;
    let before = app.store.count_responses(eid).await.expect("count");
    let path = format!("/s/{}", link.code);
    let form = page(&app.client, &app.url(&format!("{path}?lang=zh"))).await;
    let q = pingyi::questionnaire::builtin()
        .expect("qs")
        .into_iter()
        .find(|q| q.id == "service_user")
        .expect("service_user");
    // body text at 17 px, the answered count at the bottom of the screen, the 大字 switch
    assert!(form.contains("body{font-size:17px}"));
    assert!(form.contains("class=\"stickybar\"") && form.contains("已答 "));
    assert!(form.contains("name=\"_size\" value=\"large\""));
    // conditional questions in words: "如第 k 题选“…”，请回答本题"
    if let Some((i, cq)) = q
        .questions
        .iter()
        .enumerate()
        .find(|(_, x)| x.show_if.is_some())
    {
        let cond = cq.show_if.as_ref().expect("condition");
        let k = q.question_index(&cond.question).expect("its question") + 1;
        let block = form
            .split(&format!("id=\"q-{}\"", cq.code))
            .nth(1)
            .expect("conditional question");
        assert!(
            block.contains(&format!("如第 {k} 题选“")) && block.contains("请回答本题"),
            "question {} says when it applies: {}",
            i + 1,
            &block[..block.len().min(600)]
        );
    }

    // one answer only: the summary names each question to fix as a link, the first one opens
    let likert: Vec<_> = q.questions.iter().filter(|x| x.is_likert()).collect();
    let body = vec![
        ("_nonce".to_owned(), crate::survey::hidden(&form, "_nonce")),
        ("_sig".to_owned(), crate::survey::hidden(&form, "_sig")),
        ("lang".to_owned(), "zh".to_owned()),
        ("website".to_owned(), String::new()),
        (format!("a_{}", likert[0].code), "4".to_owned()),
    ];
    let r = app
        .client
        .post(app.url(&path))
        .form(&body)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 422);
    let cache = r
        .headers()
        .get("cache-control")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        cache.contains("private") && !cache.contains("no-store"),
        "Back to this page shows it again: {cache}"
    );
    let html = r.text().await.expect("body");
    let summary = html
        .split("id=\"errors\"")
        .nth(1)
        .and_then(|s| s.split("</ul>").next())
        .expect("error summary");
    let required: Vec<(usize, &pingyi::questionnaire::Question)> = q
        .questions
        .iter()
        .enumerate()
        .filter(|(_, x)| x.required && x.show_if.is_none() && x.code != likert[0].code)
        .collect();
    assert!(!required.is_empty());
    for (i, x) in &required {
        assert!(
            summary.contains(&format!("href=\"#q-{}\">第 {} 题：", x.code, i + 1)),
            "summary links question {} ({}): {summary}",
            i + 1,
            x.code
        );
    }
    let first = &required[0].1;
    let block = html
        .split(&format!("id=\"q-{}\"", first.code))
        .nth(1)
        .expect("first question to fix");
    let block = block.split("</fieldset>").next().unwrap_or_default();
    assert!(
        block.contains("autofocus"),
        "the page opens at {}",
        first.code
    );
    assert_eq!(html.matches("autofocus").count(), 1, "one place to open at");

    // 大字: the same form, larger, with the answer kept; nothing stored
    let mut body2 = body.clone();
    body2.push(("_size".to_owned(), "large".to_owned()));
    let r = app
        .client
        .post(app.url(&path))
        .form(&body2)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 200);
    let html = r.text().await.expect("body");
    assert!(html.contains("class=\"formpage large\""), "larger text");
    assert!(
        !html.contains("id=\"errors\""),
        "switching size checks nothing"
    );
    assert!(
        html.contains(&format!(
            "name=\"a_{}\" value=\"4\" checked",
            likert[0].code
        )),
        "the answer typed so far is kept"
    );
    assert!(
        html.contains("name=\"_large\" value=\"1\""),
        "the size stays"
    );
    assert!(html.contains("标准字号"), "and can be switched back");
    assert_eq!(app.store.count_responses(eid).await.expect("count"), before);
    // a stored answer: the link then opens at the thank-you page for this browser (a cookie on
    // the link's path, no identifier), and `again=1` gives a new form
    let form = page(&app.client, &app.url(&format!("{path}?again=1"))).await;
    let mut full = vec![
        ("_nonce".to_owned(), crate::survey::hidden(&form, "_nonce")),
        ("_sig".to_owned(), crate::survey::hidden(&form, "_sig")),
        ("lang".to_owned(), "zh".to_owned()),
        ("website".to_owned(), String::new()),
    ];
    full.extend(crate::survey::full_answers(&q));
    let r = app
        .client
        .post(app.url(&path))
        .form(&full)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 303);
    let cookie = r
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .expect("a thank-you cookie")
        .to_owned();
    assert!(
        cookie.starts_with("pingyi_sent=1") && cookie.contains(&format!("Path={path}")),
        "{cookie}"
    );
    assert_eq!(
        app.store.count_responses(eid).await.expect("count"),
        before + 1
    );
    let again = app
        .client
        .get(app.url(&path))
        .header("cookie", "pingyi_sent=1")
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("body");
    assert!(again.contains("提交成功") && !again.contains("name=\"_nonce\""));
    assert!(again.contains(&format!("{path}?again=1")));
    let form_again = app
        .client
        .get(app.url(&format!("{path}?again=1")))
        .header("cookie", "pingyi_sent=1")
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("body");
    assert!(form_again.contains("name=\"_nonce\""));

    // the icon every page names answers (no 404 in the console)
    assert!(form.contains("<link rel=\"icon\" type=\"image/svg+xml\" href=\"/favicon.ico\">"));
    let icon = app
        .client
        .get(app.url("/favicon.ico"))
        .send()
        .await
        .expect("icon");
    assert_eq!(icon.status(), 200);
    assert_eq!(icon.headers()["content-type"], "image/svg+xml");
    assert!(icon.text().await.expect("svg").contains("<svg"));
    // English too
    let en = page(&app.client, &app.url(&format!("{path}?lang=en"))).await;
    assert!(en.contains("Larger text") && en.contains("Answered "));
}
crate::both_backends!(citizen_form_summary_size_and_wording, citizen_form);

/// Every link an admin can follow from `/admin` (breadth first, GET, this site only) opens:
/// none answers 403 or 404.
async fn admin_links(backend: Backend) {
    let Some((app, _published, _open)) = demo(backend).await else {
        return;
    };
    let admin = user(&app, "crawl-admin", "admin", None).await;
    let mut seen = std::collections::BTreeSet::new();
    let mut queue = std::collections::VecDeque::from(["/admin?lang=zh".to_owned()]);
    let mut broken = Vec::new();
    let mut visited = 0;
    while let Some(path) = queue.pop_front() {
        if visited >= 400 {
            break;
        }
        visited += 1;
        let r = admin.get(app.url(&path)).send().await.expect("request");
        let status = r.status().as_u16();
        if status == 403 || status == 404 {
            broken.push(format!("{status} {path}"));
            continue;
        }
        let html_page = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|c| c.starts_with("text/html"));
        if !html_page {
            continue;
        }
        let body = r.text().await.expect("body");
        for href in body.split("href=\"").skip(1) {
            let href = href
                .split('"')
                .next()
                .unwrap_or_default()
                .replace("&amp;", "&");
            let href = href.split('#').next().unwrap_or_default().to_owned();
            // this site's pages; one language is enough to walk, the same report of every
            // unit once
            if !href.starts_with('/') || href.starts_with("//") || href.contains("lang=en") {
                continue;
            }
            let key = href.split('?').next().unwrap_or_default().to_owned();
            let key = if key.contains("/units/") && key.ends_with("/report") {
                // one unit's report per evaluation
                key.rsplitn(3, '/').nth(2).unwrap_or_default().to_owned()
            } else if key.starts_with("/s/") || key.starts_with("/t/") {
                "survey".to_owned()
            } else {
                format!("{key}?{}", href.split('?').nth(1).unwrap_or_default())
            };
            if seen.insert(key) {
                queue.push_back(href);
            }
        }
    }
    eprintln!("walked {visited} admin pages");
    assert!(visited >= 20, "walked {visited} pages: {seen:?}");
    assert!(
        broken.is_empty(),
        "links an admin follows fail: {broken:#?}"
    );
}
crate::both_backends!(no_admin_link_answers_403_or_404, admin_links);
