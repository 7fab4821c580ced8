//! Time to queue and send 1,000 invitations to a local aiosmtpd (tests/smtp_sink.py).
//!
//!     cargo run --release --example bench_invitations [-- N]
//!
//! SQLite (synchronous=FULL) in a temp dir always; PostgreSQL too when
//! PINGYI_TEST_POSTGRES_URL is set (a scratch database is created and dropped).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::BufRead;
use std::process::{Command, Stdio};
use std::time::Instant;

use pingyi::draws::{draw_and_record, DrawRequest};
use pingyi::email::{Mailer, QueueOptions, Sender, SmtpConfig};
use pingyi::store::{
    EvaluationStatus, InvitationPlan, NewEvaluation, NewUnit, Store, StoreOptions, UnitKind,
};
use pingyi_analysis::sampling::{Allocation, DrawOptions, SizeSpec};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(1000);
    let dir = tempfile::tempdir()?;
    let mut sink = Command::new("python3")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/smtp_sink.py"))
        .arg(dir.path().join("mail"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut line = String::new();
    std::io::BufReader::new(
        sink.stdout
            .take()
            .ok_or_else(|| anyhow::anyhow!("no stdout"))?,
    )
    .read_line(&mut line)?;
    let port: u16 = line
        .trim()
        .strip_prefix("PORT ")
        .ok_or_else(|| anyhow::anyhow!("SMTP sink did not start: {line:?} (pip install aiosmtpd)"))?
        .parse()?;

    let mut targets = vec![(
        "SQLite".to_owned(),
        format!("sqlite://{}", dir.path().join("bench.db").display()),
    )];
    let mut pg_admin = None;
    if let Ok(admin) = std::env::var("PINGYI_TEST_POSTGRES_URL") {
        let name = format!("pingyi_bench_{}", std::process::id());
        let s = Store::connect(&admin, &StoreOptions::default()).await?;
        s.execute_admin(&format!("CREATE DATABASE {name}")).await?;
        s.close().await;
        let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
        targets.push(("PostgreSQL".to_owned(), format!("{base}/{name}")));
        pg_admin = Some((admin, name));
    }
    for (label, url) in &targets {
        let store = Store::open(url, &StoreOptions::default()).await?;
        pingyi::library::register_questionnaires(&store, std::path::Path::new("surveys")).await?;
        let e = store
            .create_evaluation(&NewEvaluation {
                series: "bench".into(),
                year: 2026,
                wave: String::new(),
                title_zh: "基准".into(),
                title_en: "Bench".into(),
                status: EvaluationStatus::Open,
            })
            .await?;
        let u = store
            .upsert_unit(&NewUnit {
                code: "u1".into(),
                name_zh: "甲局".into(),
                name_en: "Bureau A".into(),
                kind: UnitKind::GovernmentDepartment,
                parent_code: None,
            })
            .await?;
        store.add_unit_to_evaluation(e.id, u.id).await?;
        let mut frame = String::from("id,unit,email\n");
        for i in 0..n {
            frame.push_str(&format!("p{i},u1,person{i}@example.cn\n"));
        }
        let t0 = Instant::now();
        let draw_id = draw_and_record(
            &store,
            &DrawRequest {
                evaluation_id: e.id,
                unit_id: None,
                respondent_type: Some("staff".into()),
                title: String::new(),
                options: DrawOptions {
                    id_column: "id".into(),
                    strata_column: None,
                    size: Some(SizeSpec::Fraction(1.0)),
                    allocation: Allocation::Proportional,
                    sd_column: None,
                    min_per_stratum: 0,
                    pps_size_column: None,
                },
                seed: "bench".into(),
                actor: "bench".into(),
            },
            frame.into_bytes(),
        )
        .await?;
        let version = store
            .list_questionnaires()
            .await?
            .into_iter()
            .filter(|q| q.id == "staff")
            .map(|q| q.version)
            .max()
            .ok_or_else(|| anyhow::anyhow!("no staff questionnaire"))?;
        store
            .create_invitations(&InvitationPlan {
                draw_id,
                questionnaire_id: "staff".into(),
                questionnaire_version: version,
                deadline: chrono::Utc::now().date_naive() + chrono::Duration::days(30),
                actor: "bench".into(),
            })
            .await?;
        let queued = t0.elapsed();
        let mailer = Mailer::new(&SmtpConfig::local(port, "pingyi@example.gov.cn"))?;
        let sender = Sender::new(
            store.clone(),
            mailer,
            QueueOptions {
                rate_per_minute: 0,
                ..QueueOptions::default()
            },
            "http://127.0.0.1:8080",
        );
        let t1 = Instant::now();
        let report = sender.run_once().await?;
        let sent = t1.elapsed();
        println!(
            "{label}: draw + queue {n} invitations {:.2} s; send {} in {:.2} s ({:.0} messages/s)",
            queued.as_secs_f64(),
            report.sent,
            sent.as_secs_f64(),
            report.sent as f64 / sent.as_secs_f64()
        );
        store.close().await;
    }
    if let Some((admin, name)) = pg_admin {
        let s = Store::connect(&admin, &StoreOptions::default()).await?;
        s.execute_admin(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await?;
    }
    let _ = sink.kill();
    let _ = sink.wait();
    Ok(())
}
