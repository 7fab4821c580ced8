//! Draws, invitations and the e-mail queue against a real SMTP server on localhost
//! (Python aiosmtpd, started here; `.ci/run` installs it).

use std::collections::BTreeMap;
use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use pingyi::collect::sha256_hex;
use pingyi::draws::{draw_and_record, DrawRequest};
use pingyi::email::{Mailer, QueueOptions, Sender, SmtpConfig};
use pingyi::store::{
    Backend, EvaluationStatus, InvitationPlan, NewEvaluation, NewUnit, Resolution, Store, UnitKind,
};
use pingyi_analysis::sampling::{Allocation, DrawOptions, SizeSpec};

use crate::both_backends;
use crate::helpers::{spawn_app, TestApp};

/// aiosmtpd writing each accepted message to a directory as JSON.
pub(crate) struct SmtpSink {
    child: Child,
    pub(crate) port: u16,
    dir: tempfile::TempDir,
}

#[derive(Debug, Clone, serde::Deserialize)]
pub(crate) struct Received {
    pub(crate) rcpt_tos: Vec<String>,
    pub(crate) subject: String,
    pub(crate) body: String,
    /// The message as it came over the wire, headers included.
    #[serde(default)]
    pub(crate) raw: String,
}

impl SmtpSink {
    pub(crate) fn start() -> SmtpSink {
        let dir = tempfile::tempdir().expect("temp dir");
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/smtp_sink.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg(dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start python3 ({e}). The e-mail tests need python3 with aiosmtpd: \
                     python3 -m pip install aiosmtpd (.ci/run installs it)"
                )
            });
        let stdout = child.stdout.take().expect("sink stdout");
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the sink's first line");
        let port = match line.trim().strip_prefix("PORT ") {
            Some(p) => p.parse().expect("port number"),
            None => {
                let _ = child.kill();
                panic!(
                    "the SMTP sink did not start (it said {line:?}). The e-mail tests need \
                     python3 with aiosmtpd: python3 -m pip install aiosmtpd (.ci/run installs it)"
                );
            }
        };
        SmtpSink { child, port, dir }
    }

    pub(crate) fn messages(&self) -> Vec<Received> {
        let mut names: Vec<_> = std::fs::read_dir(self.dir.path())
            .expect("sink dir")
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        names.sort();
        names
            .iter()
            .map(|p| {
                let mut m: Received =
                    serde_json::from_slice(&std::fs::read(p).expect("message file"))
                        .expect("message json");
                m.body = m.body.replace("\r\n", "\n");
                m
            })
            .collect()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn opts() -> QueueOptions {
    QueueOptions {
        backoff_base: Duration::ZERO,
        rate_per_minute: 0,
        max_attempts: 3,
        ..QueueOptions::default()
    }
}

pub(crate) fn sender(app: &TestApp, port: u16, o: QueueOptions) -> Sender {
    let mailer = Mailer::new(&SmtpConfig::local(
        port,
        "评议办公室 <pingyi@example.gov.cn>",
    ))
    .expect("mailer");
    Sender::new(app.store.clone(), mailer, o, &app.address)
}

/// An open evaluation with two units; returns (evaluation id, questionnaire version of staff).
pub(crate) async fn fixture(store: &Store) -> (i64, i64) {
    let e = store
        .create_evaluation(&NewEvaluation {
            series: "invite-test".into(),
            year: 2026,
            wave: String::new(),
            title_zh: "测试评议".into(),
            title_en: "Test evaluation".into(),
            status: EvaluationStatus::Open,
        })
        .await
        .unwrap();
    for (code, zh, en) in [("u1", "甲局", "Bureau A"), ("u2", "乙局", "Bureau B")] {
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
        store.add_unit_to_evaluation(e.id, u.id).await.unwrap();
    }
    let v = store
        .list_questionnaires()
        .await
        .unwrap()
        .into_iter()
        .filter(|q| q.id == "staff")
        .map(|q| q.version)
        .max()
        .expect("staff questionnaire registered");
    (e.id, v)
}

pub(crate) fn frame(emails: &[&str], paper: usize) -> String {
    let mut s = String::from("id,unit,email,name\n");
    for (i, e) in emails.iter().enumerate() {
        let unit = if i % 2 == 0 { "u1" } else { "u2" };
        s.push_str(&format!("staff-{i},{unit},{e},张{i}\n"));
    }
    for i in 0..paper {
        let unit = if i % 2 == 0 { "u1" } else { "u2" };
        s.push_str(&format!("paper-{i},{unit},,李{i}\n"));
    }
    s
}

fn everyone() -> DrawOptions {
    DrawOptions {
        id_column: "id".into(),
        strata_column: Some("unit".into()),
        size: Some(SizeSpec::Fraction(1.0)),
        allocation: Allocation::Proportional,
        sd_column: None,
        min_per_stratum: 0,
        pps_size_column: None,
    }
}

/// Draws everyone of the frame and invites them to the staff questionnaire.
pub(crate) async fn invite(store: &Store, evaluation: i64, version: i64, frame_text: &str) -> i64 {
    let id = draw_and_record(
        store,
        &DrawRequest {
            evaluation_id: evaluation,
            unit_id: None,
            respondent_type: Some("staff".into()),
            title: String::new(),
            options: everyone(),
            seed: "2026-invite".into(),
            actor: "test".into(),
        },
        frame_text.as_bytes().to_vec(),
    )
    .await
    .expect("draw");
    store
        .create_invitations(&InvitationPlan {
            draw_id: id,
            questionnaire_id: "staff".into(),
            questionnaire_version: version,
            deadline: chrono::Utc::now().date_naive() + chrono::Duration::days(30),
            actor: "test".into(),
        })
        .await
        .expect("invitations");
    id
}

/// The `/t/{token}` link in a message body.
pub(crate) fn link_in(body: &str, base: &str) -> String {
    let start = body.find(&format!("{base}/t/")).expect("link in the body");
    body[start..]
        .split_whitespace()
        .next()
        .expect("link")
        .to_owned()
}

pub(crate) async fn opens_form(app: &TestApp, url: &str) -> bool {
    let res = app.client.get(url).send().await.expect("GET link");
    let ok = res.status() == 200;
    let html = res.text().await.unwrap_or_default();
    ok && html.contains("<form") && html.contains("_nonce")
}

async fn messages_arrive_with_working_links(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let sink = SmtpSink::start();
    let (evaluation, version) = fixture(&app.store).await;
    let emails = ["wang@example.cn", "li@example.cn", "zhao@example.cn"];
    let text = frame(&emails, 2);
    let draw_id = invite(&app.store, evaluation, version, &text).await;

    let report = sender(&app, sink.port, opts()).run_once().await.unwrap();
    assert_eq!(report.sent, 3, "{report}");
    let got = sink.messages();
    assert_eq!(got.len(), 3);
    let mut recipients: Vec<String> = got.iter().flat_map(|m| m.rcpt_tos.clone()).collect();
    recipients.sort();
    let mut want: Vec<String> = emails.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(recipients, want);
    let deadline = (chrono::Utc::now().date_naive() + chrono::Duration::days(30)).to_string();
    let mut links = Vec::new();
    for m in &got {
        // staff-0, staff-2 are in u1 (甲局); e1 in u2 (乙局).
        let unit = if m.rcpt_tos[0] == "li@example.cn" {
            ("乙局", "Bureau B")
        } else {
            ("甲局", "Bureau A")
        };
        assert!(
            m.subject.starts_with("邀请您参加")
                && m.subject.contains(unit.0)
                && m.subject.contains(unit.1),
            "{}",
            m.subject
        );
        assert!(
            m.body.find(unit.0).unwrap() < m.body.find(unit.1).unwrap(),
            "Chinese first"
        );
        assert!(m.body.contains(&deadline), "{}", m.body);
        let link = link_in(&m.body, &app.address);
        assert!(
            opens_form(&app, &link).await,
            "the link {link} must open the form"
        );
        links.push(link);
    }
    links.sort();
    links.dedup();
    assert_eq!(links.len(), 3, "one token per person");

    let c = app.store.invitation_counts(draw_id).await.unwrap();
    assert_eq!(
        (c.email, c.paper, c.sent, c.queued, c.failed),
        (3, 2, 3, 0, 0)
    );
    // not answered: every invitation, the two unprinted cards too
    assert_eq!((c.answered, c.not_answered), (0, 5));
    // Only hashes are stored: no plain token anywhere in the database.
    let dump = app.store.dump_all_text().await.unwrap();
    for l in &links {
        let token = l.rsplit('/').next().unwrap();
        assert!(
            !dump.iter().any(|(_, _, v)| v.contains(token)),
            "plain token stored"
        );
        assert!(dump
            .iter()
            .any(|(t, _, v)| t == "tokens" && *v == sha256_hex(token)));
    }

    // Paper: cards with a QR code and a working link for the two without e-mail.
    let sheet = pingyi::email::cards::sheet(&app.store, draw_id, false, "test", &app.address)
        .await
        .unwrap()
        .into_string();
    assert_eq!(sheet.matches("class=\"card\"").count(), 2);
    assert_eq!(sheet.matches("<svg").count(), 2);
    assert!(sheet.contains("@page") && sheet.contains(&deadline));
    let mut card_links = 0;
    for part in sheet.split(&format!("{}/t/", app.address)).skip(1) {
        let token: String = part
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        if token.len() == 26 {
            assert!(opens_form(&app, &format!("{}/t/{token}", app.address)).await);
            card_links += 1;
        }
    }
    assert_eq!(card_links, 2);
    // Printing again without --reprint is refused (the tokens exist only on the first sheet).
    assert!(
        pingyi::email::cards::sheet(&app.store, draw_id, false, "test", &app.address)
            .await
            .is_err()
    );

    // The public record: hashes, seed and the command; nothing about the people.
    let d = app.store.get_draw(draw_id).await.unwrap();
    let res = app
        .client
        .get(app.url(&format!("/draws/{draw_id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let page = res.text().await.unwrap();
    for needle in [&d.frame_sha256, &d.result_sha256, &d.seed] {
        assert!(page.contains(needle.as_str()), "public page lacks {needle}");
    }
    assert!(page.contains("pingyi sample --frame frame.csv --id id --strata unit --fraction 1"));
    for secret in emails.iter().map(|s| s.to_string()).chain([
        "staff-0".into(),
        "paper-1".into(),
        "张0".into(),
    ]) {
        assert!(!page.contains(&secret), "public page shows {secret}");
    }
    // …and the recorded hashes are what the sampler gives for the same frame, options, seed.
    let again =
        pingyi_analysis::sampling::draw(text.as_bytes(), &everyone(), "2026-invite").unwrap();
    assert_eq!(
        (again.frame_sha256, again.result_sha256),
        (d.frame_sha256.clone(), d.result_sha256.clone())
    );
    let audit = app.store.audit_log(50).await.unwrap();
    assert!(audit
        .iter()
        .any(|a| a.action == "draw.record" && a.detail.contains(&d.result_sha256)));

    // Design for analysis: N_h and n_h per unit.
    let design = app.store.design_strata(evaluation).await.unwrap();
    let per_unit: BTreeMap<String, (i64, i64, Option<i64>)> = design
        .iter()
        .map(|s| (s.stratum.clone(), (s.population, s.sample, s.unit_id)))
        .collect();
    let u1 = app.store.get_unit_by_code("u1").await.unwrap().id;
    assert_eq!(per_unit["u1"], (3, 3, Some(u1)));
    assert_eq!(per_unit["u2"].0, 2);
}
both_backends!(
    messages_arrive_with_working_links,
    messages_arrive_with_working_links
);

async fn server_down_retries_then_fails(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (evaluation, version) = fixture(&app.store).await;
    let draw_id = invite(
        &app.store,
        evaluation,
        version,
        &frame(&["a@example.cn"], 0),
    )
    .await;
    // A port nobody listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let s = sender(&app, port, opts());
    let mut retried = 0;
    for _ in 0..3 {
        let r = s.run_once().await.unwrap();
        retried += r.retried;
        if r.failed == 1 {
            break;
        }
    }
    assert_eq!(retried, 2, "two retries before giving up");
    let rows = app.store.outbox_rows().await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].status.as_str(), rows[0].attempts), ("failed", 3));
    assert!(
        rows[0].last_error.contains("Connection"),
        "{}",
        rows[0].last_error
    );
    assert!(
        rows[0].last_error.contains("3 attempts"),
        "{}",
        rows[0].last_error
    );
    // Nobody received a token, so none is left behind.
    assert_eq!(app.store.token_counts(evaluation).await.unwrap().0, 0);
    let statuses = app.store.invitation_statuses(draw_id).await.unwrap();
    assert_eq!(statuses[0].status, "failed");

    // A real server that refuses: 550 → bounced with its answer; 451 → retried, then failed.
    let sink = SmtpSink::start();
    let draw2 = invite(
        &app.store,
        evaluation,
        version,
        &frame(&["reject@example.cn", "tempfail@example.cn"], 0),
    )
    .await;
    let s = sender(&app, sink.port, opts());
    for _ in 0..3 {
        s.run_once().await.unwrap();
    }
    let st = app.store.invitation_statuses(draw2).await.unwrap();
    let by_mail: BTreeMap<String, (String, i64, String)> = st
        .into_iter()
        .map(|r| (r.email.unwrap(), (r.status, r.attempts, r.last_error)))
        .collect();
    let bounced = &by_mail["reject@example.cn"];
    assert_eq!((bounced.0.as_str(), bounced.1), ("bounced", 1));
    assert!(
        bounced.2.contains("550") && bounced.2.contains("mailbox unavailable"),
        "{}",
        bounced.2
    );
    let temp = &by_mail["tempfail@example.cn"];
    assert_eq!((temp.0.as_str(), temp.1), ("failed", 3));
    assert!(
        temp.2.contains("451") && temp.2.contains("try again later"),
        "{}",
        temp.2
    );
    assert!(sink.messages().is_empty());
    let c = app.store.invitation_counts(draw2).await.unwrap();
    assert_eq!((c.bounced, c.failed, c.sent), (1, 1, 0));
}
both_backends!(
    server_down_retries_then_fails,
    server_down_retries_then_fails
);

async fn restart_mid_queue_sends_nothing_twice(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let sink = SmtpSink::start();
    let (evaluation, version) = fixture(&app.store).await;
    let emails = [
        "a@example.cn",
        "b@example.cn",
        "c@example.cn",
        "d@example.cn",
    ];
    invite(&app.store, evaluation, version, &frame(&emails, 0)).await;

    // The old worker claims a message and dies before it can say what happened.
    let due = pingyi::store::queue_time(chrono::Utc::now());
    let claimed = app
        .store
        .claim_message(&due)
        .await
        .unwrap()
        .expect("a message to claim");

    // A new worker (same lease as in production) sends the rest, not the claimed one.
    let r = sender(&app, sink.port, opts()).run_once().await.unwrap();
    assert_eq!((r.sent, r.recovered_as_unknown), (3, 0), "{r}");
    // Later, with the lease expired, the stale claim becomes "unknown": still not re-sent.
    let mut o = opts();
    o.lease = Duration::ZERO;
    let r = sender(&app, sink.port, o.clone()).run_once().await.unwrap();
    assert_eq!((r.sent, r.recovered_as_unknown), (0, 1), "{r}");
    let r = sender(&app, sink.port, o.clone()).run_once().await.unwrap();
    assert_eq!(r.sent, 0);
    let got = sink.messages();
    assert_eq!(got.len(), 3);
    assert!(got
        .iter()
        .all(|m| m.rcpt_tos != vec![claimed.email.clone()]));
    // The token of the unknown message stays live: it may have arrived.
    let old_link = format!("{}/t/{}", app.address, claimed.token);
    assert!(opens_form(&app, &old_link).await);
    assert_eq!(app.store.messages_in_doubt().await.unwrap(), 1);

    // An operator asks to resend: exactly one more message, to that person only.
    app.store
        .resolve_unknown(claimed.outbox_id, Resolution::Resend, "test")
        .await
        .unwrap();
    let r = sender(&app, sink.port, o).run_once().await.unwrap();
    assert_eq!(r.sent, 1);
    let got = sink.messages();
    assert_eq!(got.len(), 4);
    let mut per: BTreeMap<String, usize> = BTreeMap::new();
    for m in &got {
        for t in &m.rcpt_tos {
            *per.entry(t.clone()).or_default() += 1;
        }
    }
    assert!(
        per.values().all(|&n| n == 1),
        "each person exactly once: {per:?}"
    );
    let new_link = link_in(&got[3].body, &app.address);
    assert_eq!(got[3].rcpt_tos, vec![claimed.email.clone()]);
    assert!(opens_form(&app, &new_link).await);
    assert!(
        opens_form(&app, &old_link).await,
        "the message of unknown fate may have arrived: its link keeps working"
    );
    assert_eq!(app.store.messages_in_doubt().await.unwrap(), 0);
}
both_backends!(
    restart_mid_queue_sends_nothing_twice,
    restart_mid_queue_sends_nothing_twice
);

async fn reminders_reach_only_non_respondents(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let sink = SmtpSink::start();
    let (evaluation, version) = fixture(&app.store).await;
    let emails = ["a@example.cn", "b@example.cn", "c@example.cn"];
    let draw_id = invite(&app.store, evaluation, version, &frame(&emails, 0)).await;
    let s = sender(&app, sink.port, opts());
    assert_eq!(s.run_once().await.unwrap().sent, 3);
    let first = sink.messages();
    // b answers (the submission path marks the token used).
    let b = first
        .iter()
        .find(|m| m.rcpt_tos[0] == "b@example.cn")
        .unwrap();
    let b_token = link_in(&b.body, &app.address)
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    app.store
        .execute_admin(&format!(
            "UPDATE tokens SET used = 1 WHERE token_hash = '{}'",
            sha256_hex(&b_token)
        ))
        .await
        .unwrap();

    app.store.request_reminders(draw_id, "test").await.unwrap();
    let r = s.run_once().await.unwrap();
    assert_eq!((r.reminders_queued, r.sent), (2, 2), "{r}");
    let all = sink.messages();
    let reminders: Vec<&Received> = all.iter().skip(3).collect();
    let mut to: Vec<String> = reminders.iter().map(|m| m.rcpt_tos[0].clone()).collect();
    to.sort();
    assert_eq!(to, vec!["a@example.cn", "c@example.cn"]);
    for m in &reminders {
        assert!(m.subject.starts_with("提醒"), "{}", m.subject);
        let link = link_in(&m.body, &app.address);
        assert!(opens_form(&app, &link).await);
        // The first message's link keeps working (a form opened from it keeps its answers);
        // the invitation still takes one answer, whichever link carries it.
        let before = first.iter().find(|f| f.rcpt_tos == m.rcpt_tos).unwrap();
        assert!(opens_form(&app, &link_in(&before.body, &app.address)).await);
    }
    // Evaluators see totals only; per invitation just the first message's status.
    let c = app.store.invitation_counts(draw_id).await.unwrap();
    assert_eq!(
        (c.answered, c.not_answered, c.reminders_sent, c.sent),
        (1, 2, 2, 3)
    );
    let st = app.store.invitation_statuses(draw_id).await.unwrap();
    assert!(st.iter().all(|r| r.status == "sent"), "{st:?}");
    // A second round while nobody else answered reminds the same two, no one else.
    app.store.request_reminders(draw_id, "test").await.unwrap();
    assert_eq!(s.run_once().await.unwrap().sent, 2);
    assert_eq!(sink.messages().len(), 7);
}
both_backends!(
    reminders_reach_only_non_respondents,
    reminders_reach_only_non_respondents
);

fn hidden(html: &str, name: &str) -> String {
    let pat = format!("name=\"{name}\" value=\"");
    let start = html.find(&pat).expect("hidden field") + pat.len();
    let end = html[start..].find('"').expect("end of value") + start;
    html[start..end].to_owned()
}

/// A signed-in evaluator.
async fn evaluator(app: &TestApp) -> reqwest::Client {
    let password =
        pingyi::commands::accounts::create_user(&app.store, "evie", "evaluator", None, None)
            .await
            .expect("create user");
    crate::helpers::sign_in(app, "evie", &password).await
}

async fn evaluator_pages(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (evaluation, version) = fixture(&app.store).await;
    // Signed out: the pages send to the sign-in page; the public record needs nothing.
    let r = app
        .client
        .get(app.url(&format!("/evaluations/{evaluation}/draws")))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_redirection(), "{}", r.status());

    let c = evaluator(&app).await;
    let form = c
        .get(app.url(&format!("/evaluations/{evaluation}/draws")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = hidden(&form, "_csrf");
    let deadline = (chrono::Utc::now().date_naive() + chrono::Duration::days(20)).to_string();
    let frame_text = frame(&["a@example.cn", "b@example.cn"], 3);
    let (gb, _, _) = encoding_rs::GB18030.encode(&frame_text);
    let post = |csrf: String| {
        reqwest::multipart::Form::new()
            .text("_csrf", csrf)
            .text("id", "id")
            .text("strata", "unit")
            .text("fraction", "1")
            .text("allocation", "proportional")
            .text("seed", "web-seed")
            .text("questionnaire", format!("staff@{version}"))
            .text("deadline", deadline.clone())
            .part(
                "file",
                reqwest::multipart::Part::bytes(gb.to_vec()).file_name("frame.csv"),
            )
    };
    let bad = c
        .post(app.url(&format!("/evaluations/{evaluation}/draws")))
        .multipart(post("wrong".into()))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400, "a wrong CSRF token is refused");
    assert!(app.store.list_draws(evaluation).await.unwrap().is_empty());
    let r = c
        .post(app.url(&format!("/evaluations/{evaluation}/draws")))
        .multipart(post(csrf.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap_or_default());
    let draws = app.store.list_draws(evaluation).await.unwrap();
    assert_eq!(draws.len(), 1);
    let d = &draws[0];
    assert_eq!(d.n_drawn, 5);
    assert!(d.upload_format.contains("GB18030"), "{}", d.upload_format);
    assert_ne!(
        d.upload_sha256, d.frame_sha256,
        "converted frames keep both hashes"
    );

    // Public page: explains the conversion; nothing personal.
    let page = app
        .client
        .get(app.url(&format!("/draws/{}?lang=en", d.id)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("pingyi invite frame-csv") && page.contains(&d.upload_sha256));
    assert!(!page.contains("a@example.cn") && !page.contains("staff-0"));

    let status = c
        .get(app.url(&format!("/draws/{}/invitations", d.id)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(status.contains("a@example.cn") && status.contains("排队中"));
    let r = c
        .post(app.url(&format!("/draws/{}/remind", d.id)))
        .form(&[("_csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let sheet = c
        .post(app.url(&format!("/draws/{}/cards", d.id)))
        .form(&[("_csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(sheet.status(), 200);
    assert_eq!(sheet.headers()["cache-control"], "no-store");
    let sheet = sheet.text().await.unwrap();
    assert_eq!(sheet.matches("class=\"card\"").count(), 3);
    let c2 = app.store.invitation_counts(d.id).await.unwrap();
    assert_eq!((c2.email, c2.paper, c2.paper_printed), (2, 3, 3));
    // The design is there for analysis, behind sign-in.
    let design: serde_json::Value = c
        .get(app.url(&format!("/api/v1/evaluations/{evaluation}/design")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(design["strata"].as_array().map(Vec::len), Some(2));
    let anon = app
        .client
        .get(app.url(&format!("/api/v1/evaluations/{evaluation}/design")))
        .send()
        .await
        .unwrap();
    assert_eq!(anon.status(), 401);
}
both_backends!(evaluator_pages, evaluator_pages);

/// The draw form offers every `pingyi sample` option (Neyman with --sd, equal, the 30%
/// preset, minimum per stratum, PPS); a bad form comes back (422) with each error beside
/// its field and the values kept; a good one records a draw whose public page gives the
/// exact command that re-runs it to the same result hash.
async fn web_draw_options(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (evaluation, _) = fixture(&app.store).await;
    let c = evaluator(&app).await;
    let url = app.url(&format!("/evaluations/{evaluation}/draws"));
    let form = c.get(&url).send().await.unwrap().text().await.unwrap();
    for option in [
        "value=\"neyman\"",
        "value=\"equal\"",
        "value=\"thirty-percent\"",
        "name=\"sd\"",
        "name=\"min_per_stratum\"",
        "name=\"pps_size\"",
        "name=\"fraction\"",
    ] {
        assert!(form.contains(option), "the draw form lacks {option}");
    }
    let csrf = hidden(&form, "_csrf");
    // 12 people in two units; each unit's SD on its rows; a size column for PPS.
    let mut frame_text = String::from("id,unit,sd,size\n");
    for i in 0..12 {
        let (unit, sd) = if i < 8 { ("u1", "2") } else { ("u2", "6") };
        frame_text.push_str(&format!("p{i:02},{unit},{sd},{}\n", 1 + i % 4));
    }
    let post = |fields: &[(&str, &str)]| {
        let mut f = reqwest::multipart::Form::new().text("_csrf", csrf.clone());
        for (k, v) in fields {
            f = f.text(k.to_string(), v.to_string());
        }
        f.part(
            "file",
            reqwest::multipart::Part::bytes(frame_text.clone().into_bytes()).file_name("f.csv"),
        )
    };
    let send = |fields: Vec<(&'static str, &'static str)>| {
        let c = c.clone();
        let url = url.clone();
        let form = post(&fields);
        async move {
            let r = c.post(&url).multipart(form).send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.text().await.unwrap())
        }
    };
    let error_of = |page: &str, field: &str| -> Option<String> {
        let start = page.find(&format!("id=\"err-{field}\""))?;
        let text = &page[start..];
        let open = text.find('>')? + 1;
        let close = text.find("</p>")?;
        Some(text[open..close].to_owned())
    };

    // Neyman without the SD column, and both a size and a fraction.
    let (status, page) = send(vec![
        ("id", "id"),
        ("strata", "unit"),
        ("size", "4"),
        ("fraction", "0.5"),
        ("allocation", "neyman"),
        ("seed", "kept-seed"),
    ])
    .await;
    assert_eq!(status, 422, "{page}");
    assert!(
        error_of(&page, "sd").is_some_and(|e| e.contains("标准差")),
        "{page}"
    );
    assert!(error_of(&page, "size").is_some());
    assert!(error_of(&page, "fraction").is_some());
    assert!(error_of(&page, "seed").is_none());
    assert!(page.contains("value=\"kept-seed\""), "values are kept");
    assert!(
        page.contains("value=\"neyman\" checked"),
        "the allocation is kept"
    );
    // The 30% preset takes no size; the SD column is only for Neyman.
    let (status, page) = send(vec![
        ("id", "id"),
        ("strata", "unit"),
        ("size", "4"),
        ("allocation", "thirty-percent"),
        ("sd", "sd"),
        ("seed", "s"),
    ])
    .await;
    assert_eq!(status, 422);
    assert!(
        error_of(&page, "size").is_some_and(|e| e.contains("30%")),
        "{page}"
    );
    assert!(error_of(&page, "sd").is_some());
    // A column the frame lacks is named beside its field.
    let (status, page) = send(vec![
        ("id", "id"),
        ("strata", "district"),
        ("size", "4"),
        ("seed", "s"),
    ])
    .await;
    assert_eq!(status, 422);
    assert!(
        error_of(&page, "strata").is_some_and(|e| e.contains("district")),
        "{page}"
    );
    // A minimum per stratum that does not fit the size.
    let (status, page) = send(vec![
        ("id", "id"),
        ("strata", "unit"),
        ("size", "3"),
        ("min_per_stratum", "2"),
        ("seed", "s"),
    ])
    .await;
    assert_eq!(status, 422);
    assert!(error_of(&page, "min_per_stratum").is_some(), "{page}");
    assert!(app.store.list_draws(evaluation).await.unwrap().is_empty());

    // Good draws: Neyman with a minimum per stratum, the 30% preset, equal, PPS.
    let mut expected_n = Vec::new();
    for (fields, n) in [
        (
            vec![
                ("id", "id"),
                ("strata", "unit"),
                ("size", "6"),
                ("allocation", "neyman"),
                ("sd", "sd"),
                ("min_per_stratum", "1"),
                ("seed", "neyman-2026"),
            ],
            6,
        ),
        (
            vec![
                ("id", "id"),
                ("strata", "unit"),
                ("allocation", "thirty-percent"),
                ("seed", "thirty-2026"),
            ],
            // ceil(0.3·8) + ceil(0.3·4) = 3 + 2
            5,
        ),
        (
            vec![
                ("id", "id"),
                ("strata", "unit"),
                ("fraction", "50%"),
                ("allocation", "equal"),
                ("seed", "equal-2026"),
            ],
            6,
        ),
        (
            vec![
                ("id", "id"),
                ("size", "4"),
                ("pps_size", "size"),
                ("seed", "pps-2026"),
            ],
            4,
        ),
    ] {
        let (status, page) = send(fields).await;
        assert_eq!(status, 303, "{page}");
        expected_n.push(n);
    }
    let mut draws = app.store.list_draws(evaluation).await.unwrap();
    draws.reverse();
    assert_eq!(
        draws.iter().map(|d| d.n_drawn).collect::<Vec<_>>(),
        expected_n
    );
    // Neyman: n_h ∝ N_h S_h = 16 : 24 → 2.4 : 3.6 → 2 and 4 (largest remainder)
    let neyman: Vec<(String, i64)> = draws[0]
        .strata
        .iter()
        .map(|s| (s.stratum.clone(), s.sample))
        .collect();
    assert_eq!(neyman, vec![("u1".to_string(), 2), ("u2".to_string(), 4)]);
    assert!(
        !draws[3].equal_probability,
        "PPS draws are not equal-probability"
    );

    // Anyone can re-run each draw from its public page: the exact command, the frame,
    // the same result hash.
    let dir = tempfile::tempdir().unwrap();
    let frame_path = dir.path().join("frame.csv");
    std::fs::write(&frame_path, &frame_text).unwrap();
    for d in &draws {
        let page = app
            .client
            .get(app.url(&format!("/draws/{}", d.id)))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        for needle in [&d.frame_sha256, &d.result_sha256, &d.seed] {
            assert!(page.contains(needle.as_str()), "public page lacks {needle}");
        }
        let start = page
            .find("pingyi sample --frame")
            .expect("command on the page");
        let command = &page[start..start + page[start..].find('\n').expect("end of command")];
        assert!(command.contains(&format!("--seed {}", d.seed)), "{command}");
        let argv: Vec<String> = command
            .split_whitespace()
            .map(|w| match w {
                "frame.csv" => frame_path.display().to_string(),
                "sample.csv" => dir.path().join("sample.csv").display().to_string(),
                other => other.to_owned(),
            })
            .collect();
        let cli = <pingyi::cli::Cli as clap::Parser>::try_parse_from(&argv)
            .unwrap_or_else(|e| panic!("{command}: {e}"));
        let pingyi::cli::Command::Sample(args) = cli.command else {
            panic!("not a sample command: {command}");
        };
        let again = args.draw().unwrap();
        assert_eq!(
            (&again.frame_sha256, &again.result_sha256, &again.options),
            (&d.frame_sha256, &d.result_sha256, &d.options),
            "{command}"
        );
    }
}
both_backends!(web_draw_options_and_field_errors, web_draw_options);
